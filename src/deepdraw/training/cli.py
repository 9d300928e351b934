"""Command line of :mod:`deepdraw.training` (``python -m deepdraw.training --help``)."""

from __future__ import annotations

import argparse
import json
import logging


def main(argv=None) -> None:
    import deepdraw.training as package
    from deepdraw.training.device import DEVICES
    from deepdraw.training.fit import train, untrained
    from deepdraw.training.summary import summarise

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m deepdraw.training",
                                     description=package.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p = sub.add_parser("summarise")
    p.add_argument("--metrics", nargs="+", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--figure", required=True)
    p.add_argument("--times", help="CSV of training times (wall clock)")
    args = parser.parse_args(argv)
    if args.command == "summarise":
        summarise(args.metrics, args.table, args.figure, args.times)
        return
    func = train if args.command == "train" else untrained
    func(args.dataset, args.task, json.loads(args.arch), json.loads(args.settings), args.seed,
         args.output_dir, threads=args.threads, device=args.device)
