"""Command line of the tuning analysis: ``python -m deepdraw.tuning fit|summarize``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from deepdraw import cliutil
from deepdraw.tuning.layers import tune_model, write_table
from deepdraw.tuning.summary import summarize


def main(argv=None) -> None:
    import deepdraw.tuning as package

    parser = cliutil.parser("python -m deepdraw.tuning", package.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="tuning table of one model")
    cliutil.add_model_fit(fit)
    fit.add_argument("--output", required=True, help="units table (.parquet)")
    summary = sub.add_parser("summarize", help="per-layer summaries of all unit tables")
    summary.add_argument("--tables", nargs="+", required=True)
    summary.add_argument("--analysis", required=True)
    summary.add_argument("--output-dir", required=True)
    args = cliutil.parse_args(parser, argv)
    settings = json.loads(args.analysis)
    if args.command == "fit":
        identity = cliutil.model_identity(args)
        table = tune_model(args.activations, args.dataset, settings, args.seed, identity)
        write_table(table, args.output)
    else:
        table = pd.concat([pd.read_parquet(path) for path in args.tables], ignore_index=True)
        out = Path(args.output_dir)
        for name, frame in summarize(table, settings).items():
            write_table(frame, out / f"{name}.csv")
