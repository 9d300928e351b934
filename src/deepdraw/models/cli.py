"""Command line: ``python -m deepdraw.models`` prints a sweep of architectures."""

from __future__ import annotations

from deepdraw import cliutil
from deepdraw.models.families import FAMILIES
from deepdraw.models.planning import sample_architectures


def main(argv: list[str] | None = None) -> None:
    """CLI: print a sweep of architectures as a YAML list for ``training.architectures``."""
    import yaml

    parser = cliutil.parser("python -m deepdraw.models", "Draw architectures from the study's search space")
    parser.add_argument("--per-family", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    args = cliutil.parse_args(parser, argv)
    sweep = [arch for family in args.families
             for arch in sample_architectures(family, args.per_family, args.seed)]
    print(yaml.safe_dump(sweep, sort_keys=False, default_flow_style=None), end="")
