"""What every ``python -m deepdraw.<module>`` command line shares: its parser and its logging.

Each module's ``main`` builds its parser with :func:`parser` (which adds ``--log-level``) and
reads its arguments with :func:`parse_args` (which configures logging from them), so that every
job log has the same line format and every command takes the same logging flag.

Flag names follow one scheme across modules: ``--output`` for the single file or store a
command writes, ``--output-dir`` for a folder, ``--dataset`` for ``dataset.zarr``, ``--seed``
for the master seed, ``--settings`` for a config section as JSON.
"""

from __future__ import annotations

import argparse
import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parser(prog: str, description: str | None = None, **kwargs) -> argparse.ArgumentParser:
    """An argument parser with ``--log-level``; ``description`` is shown as written.

    Parameters
    ----------
    prog : the command as typed, e.g. ``"python -m deepdraw.bias"``
    description : help text (a module docstring keeps its line breaks)
    kwargs : further :class:`argparse.ArgumentParser` arguments
    """
    kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
    result = argparse.ArgumentParser(prog=prog, description=description, **kwargs)
    result.add_argument("--log-level", default="INFO", choices=LOG_LEVELS,
                        help="messages of this level and above go to the log (default: INFO)")
    return result


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with :data:`LOG_FORMAT` at ``level`` (the root logger's level is set even
    when logging was configured before, e.g. by a test runner)."""
    if level not in LOG_LEVELS:
        raise ValueError(f"--log-level must be one of {LOG_LEVELS}; got {level!r}")
    logging.basicConfig(level=level, format=LOG_FORMAT)
    logging.getLogger().setLevel(level)


def progress(iterable=None, **kwargs):
    """A tqdm progress bar for a job's log: written to stderr (the rules send it to the log)
    at most every 30 s, and also when stderr is not a terminal (``disable=False``)."""
    from tqdm import tqdm

    kwargs.setdefault("mininterval", 30.0)
    kwargs.setdefault("disable", False)
    return tqdm(iterable, **kwargs)


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and configure logging from ``--log-level``."""
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    return args


def add_model_fit(parser: argparse.ArgumentParser, data: str = "--dataset",
                  data_help: str | None = None) -> argparse.ArgumentParser:
    """Add the flags of a per-model analysis job: ``--activations``, the data store ``data``
    (``--dataset``, or e.g. ``--planes``), ``--analysis``, ``--seed`` and the model's identity
    ``--task``, ``--architecture``, ``--instance`` (read back with :func:`model_identity`)."""
    parser.add_argument("--activations", required=True)
    parser.add_argument(data, required=True, help=data_help)
    parser.add_argument("--analysis", required=True, help="the config's analysis section, JSON")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--architecture", required=True)
    parser.add_argument("--instance", required=True, help="seedN or untrainedN")
    return parser


def model_identity(args: argparse.Namespace) -> dict:
    """The columns naming one model in a per-model table, from the flags of :func:`add_model_fit`:
    ``task``, ``architecture``, ``instance``, and from the instance ``trained`` and ``seed``."""
    from deepdraw.contract import parse_instance

    instance = parse_instance(args.instance)
    return {"task": args.task, "architecture": args.architecture, "instance": args.instance,
            "trained": instance.trained, "seed": instance.seed}
