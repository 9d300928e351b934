"""Command line of :mod:`deepdraw.training` (``python -m deepdraw.training --help``)."""

from __future__ import annotations

import json

from deepdraw import cliutil


def main(argv=None) -> None:
    import deepdraw.training as package
    from deepdraw.training.device import DEVICES
    from deepdraw.training.fit import train, untrained
    from deepdraw.training.summary import summarize

    parser = cliutil.parser("python -m deepdraw.training", package.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "untrained"):
        p = sub.add_parser(name)
        p.add_argument("--dataset", required=True)
        p.add_argument("--task", required=True)
        p.add_argument("--arch", required=True, help="architecture, JSON")
        p.add_argument("--settings", default="{}", help="the config's training section, JSON")
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--output-dir", required=True)
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--device", choices=DEVICES, default=None,
                       help="overrides the settings' device; the workflow passes 'gpu' for jobs"
                            " that hold a GPU")
    p = sub.add_parser("summarize")
    p.add_argument("--metrics", nargs="+", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--figure", required=True)
    p.add_argument("--times", help="CSV of training times (wall clock)")
    args = cliutil.parse_args(parser, argv)
    if args.command == "summarize":
        summarize(args.metrics, args.table, args.figure, args.times)
        return
    func = train if args.command == "train" else untrained
    func(args.dataset, args.task, json.loads(args.arch), json.loads(args.settings), args.seed,
         args.output_dir, threads=args.threads, device=args.device)
