"""The ``deepdraw`` command: common look-ups on a run without reading the code.

    deepdraw info results/<run>/dataset.zarr     sizes, planes, splits, letters, provenance
    deepdraw models results/<run>                every model with its test metrics
    deepdraw config [my.yaml ...]                the resolved config, validated against the schema
    deepdraw summary results/<run>               where the report is, headline numbers
    deepdraw unlock [snakemake args]             remove a killed run's lock (none running here)

Subcommands live in :data:`COMMANDS`, a registry of ``name -> Command``; a command's function
takes the argument list and returns an exit code. A module adds its own command with one
entry, e.g. ``"plot-sample": Command("plot one sample of a dataset", "deepdraw.figures:main")``:
the module is imported only when its command runs, so ``deepdraw --help`` stays fast even when
a command needs TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deepdraw import __version__, cliutil


@dataclass(frozen=True)
class Command:
    """One subcommand of ``deepdraw``.

    Attributes
    ----------
    help : one line shown by ``deepdraw --help``
    target : ``"module:function"``; the function takes ``argv`` (list of str, the arguments
        after the subcommand) and returns an exit code (None means 0)
    """

    help: str
    target: str

    def load(self) -> Callable[[list[str]], int | None]:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    return cliutil.parser(f"deepdraw {name}", description)


# ----------------------------------------------------------------------------- info
def _flag_counts(variable) -> dict[str, int]:
    """Counts per flag meaning of an int flag variable (``flag_values`` / ``flag_meanings``)."""
    import numpy as np

    values = np.asarray(variable.values)
    meanings = str(variable.attrs.get("flag_meanings", "")).split()
    flags = list(variable.attrs.get("flag_values", range(len(meanings))))
    counts = {}
    for flag, meaning in zip(flags, meanings):
        counts[meaning] = int((values == flag).sum())
    other = int((~np.isin(values, flags)).sum())
    if other:
        counts["other"] = other
    return counts


def dataset_info(path: str | Path, fingerprint: bool = False) -> dict:
    """What ``deepdraw info`` shows about a dataset store, as a dict.

    Returns
    -------
    dict with ``path``, ``sizes`` (dimension lengths), ``variables`` (name -> dims, dtype,
    units), ``planes``, ``splits`` (sample counts), ``letters`` (samples per letter),
    ``n_rejected`` (redrawn candidates per reason), ``config`` (the settings it was made
    from), ``attrs`` (the other provenance attributes) and, with ``fingerprint``, ``sha256``
    (:func:`deepdraw.provenance.dataset_fingerprint`).
    """
    import numpy as np

    from deepdraw.io import open_zarr

    ds = open_zarr(path)
    missing = [v for v in ("label", "plane", "split") if v not in ds]
    if missing:
        raise ValueError(f"{path}: not a deepdraw dataset (missing {', '.join(missing)}); "
                         "give results/<run>/dataset.zarr")
    attrs = dict(ds.attrs)
    letters = str(ds["label"].attrs.get("letters") or attrs.get("letters", ""))
    labels = np.asarray(ds["label"].values)
    counts = np.bincount(labels, minlength=len(letters)) if len(labels) else np.zeros(0, int)
    info = {
        "path": str(path),
        "sizes": {k: int(v) for k, v in ds.sizes.items()},
        "variables": {name: {"dims": list(var.dims), "dtype": str(var.dtype),
                             "units": str(var.attrs.get("units", ""))}
                      for name, var in ds.data_vars.items()},
        "planes": _flag_counts(ds["plane"]),
        "splits": _flag_counts(ds["split"]),
        "letters": {(letters[i] if i < len(letters) else str(i)): int(c)
                    for i, c in enumerate(counts)},
        "n_rejected": json.loads(attrs.pop("n_rejected", "{}") or "{}"),
        "config": json.loads(attrs.pop("config", "{}") or "{}"),
        "attrs": attrs,
    }
    if fingerprint:
        from deepdraw.provenance import dataset_fingerprint

        info["sha256"] = dataset_fingerprint(path)
    return info


def _print_info(info: dict) -> None:
    print(f"dataset   {info['path']}")
    print("sizes     " + ", ".join(f"{k} {v}" for k, v in info["sizes"].items()))
    print("planes    " + ", ".join(f"{k} {v}" for k, v in info["planes"].items()))
    print("splits    " + ", ".join(f"{k} {v}" for k, v in info["splits"].items()))
    letters = info["letters"]
    if letters:
        print(f"letters   {len(letters)}: " + " ".join(f"{k}:{v}" for k, v in letters.items()))
    rejected = info["n_rejected"]
    print("rejected  " + (", ".join(f"{k} {v}" for k, v in rejected.items()) or "none")
          + "  (candidates redrawn, by reason)")
    print("variables")
    for name, var in info["variables"].items():
        units = f"  [{var['units']}]" if var["units"] else ""
        print(f"  {name:<16} ({', '.join(var['dims'])}) {var['dtype']}{units}")
    print("provenance")
    for key, value in info["attrs"].items():
        print(f"  {key:<16} {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    if "sha256" in info:
        print(f"  {'sha256':<16} {info['sha256']}")
    if info["config"]:
        print("made from the settings (deepdraw info --json for all of them)")
        for section, value in info["config"].items():
            print(f"  {section:<16} {json.dumps(value, sort_keys=True)[:100]}")


def info_main(argv: list[str]) -> int:
    parser = _parser("info", "Sizes, planes, splits, letters and provenance of a dataset.zarr.")
    parser.add_argument("dataset", help="results/<run>/dataset.zarr")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.add_argument("--fingerprint", action="store_true",
                        help="also compute the store's sha256 fingerprint (the one models record)")
    args = cliutil.parse_args(parser, argv)
    info = dataset_info(args.dataset, args.fingerprint)
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        _print_info(info)
    return 0


# ----------------------------------------------------------------------------- models
def model_table(run_dir: str | Path):
    """Every model under ``<run_dir>/models`` with its test (and train) metrics.

    Reads each ``models/<task>/<arch>/<instance>/metrics.json``, so it also works while a run
    is still training. Returns a ``pandas.DataFrame`` with ``task``, ``model``, ``family``,
    ``instance`` (``seedN`` or ``untrainedN``), ``layers``, ``parameters``, ``epochs`` and the
    metrics (``test_accuracy``, ``train_accuracy``; ``test_position_error_cm``, ...) and, when
    the model recorded it, ``dataset_sha256`` (first 12 hex digits of the fingerprint of the
    dataset it was trained on), sorted by task and model; empty when no model has finished.
    """
    import pandas as pd

    models = Path(run_dir) / "models"
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"{run_dir}: run directory not found (give results/<run>)")
    rows = []
    for path in sorted(models.glob("*/*/*/metrics.json")):
        metrics = json.loads(path.read_text())
        row = {"task": metrics.get("task", path.parts[-4]),
               "model": metrics.get("name", path.parts[-3]),
               "family": metrics.get("family", ""), "instance": path.parts[-2],
               "layers": metrics.get("n_layers"), "parameters": metrics.get("n_parameters"),
               "epochs": metrics.get("epochs")}
        for split in ("test", "train"):
            for key, value in (metrics.get(split) or {}).items():
                if key not in ("confusion", "n", "loss") and not isinstance(value, (dict, list)):
                    row[f"{split}_{key}"] = value
        dataset = metrics.get("dataset")
        if isinstance(dataset, dict) and dataset.get("sha256"):
            # the start of the fingerprint, to compare with `deepdraw info --fingerprint`
            row["dataset_sha256"] = str(dataset["sha256"])[:12]
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        # counts stay integers although untrained controls have no epochs
        for column in ("layers", "parameters", "epochs"):
            table[column] = pd.to_numeric(table[column]).astype("Int64")
        table = table.sort_values(["task", "model", "instance"], kind="stable")
    return table.reset_index(drop=True)


def models_main(argv: list[str]) -> int:
    parser = _parser("models", "Every trained model and untrained control of a run, with its "
                               "test metrics (accuracy, or position error in cm).")
    parser.add_argument("run", help="results/<run>")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    args = cliutil.parse_args(parser, argv)
    import pandas as pd

    table = model_table(args.run)
    if table.empty:
        print(f"{args.run}: no finished model yet (no models/*/*/*/metrics.json)")
        return 0
    if args.csv:
        print(table.to_csv(index=False), end="")
        return 0
    # one table per task, with the metrics of that task only
    for i, (task, part) in enumerate(table.groupby("task", sort=False)):
        part = part.drop(columns="task").dropna(axis=1, how="all")
        for column in part.columns.intersection(["layers", "parameters", "epochs"]):
            part[column] = [("-" if value is pd.NA else str(value)) for value in part[column]]
        print(("\n" if i else "") + f"{task} ({len(part)} models)")
        print(part.to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="-"))
    return 0


# ----------------------------------------------------------------------------- config
def config_main(argv: list[str]) -> int:
    from deepdraw import config as cfg

    parser = _parser("config", "Print the config a run would use: config.yaml overlaid with the "
                               "given files (as snakemake --configfile), validated against "
                               "schemas/config.schema.yaml. Exit status 1 names every bad field.")
    parser.add_argument("files", nargs="*", help="config files given after config.yaml")
    parser.add_argument("--workflow", help="workflow directory (default: the current one)")
    parser.add_argument("--describe", action="store_true",
                        help="list every setting with its description and unit instead")
    args = cliutil.parse_args(parser, argv)
    root = cfg.workflow_root(args.workflow)
    if args.describe:
        for path, prop in cfg.iter_properties(cfg.load_schema(root)):
            default = f" (default {json.dumps(prop['default'])})" if "default" in prop else ""
            print(f"{path}: {prop.get('description', '(no description)')}{default}")
        return 0
    try:
        resolved = cfg.resolve(args.files, root)
    except cfg.ConfigError as exc:
        print(f"deepdraw config: {exc}", file=sys.stderr)
        return 1
    import yaml

    print(yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None, width=100), end="")
    return 0


# ----------------------------------------------------------------------------- registry
COMMANDS: dict[str, Command] = {
    "info": Command("sizes, planes, splits, letters and provenance of a dataset.zarr",
                    "deepdraw.cli:info_main"),
    "models": Command("every model of a run with its test metrics", "deepdraw.cli:models_main"),
    "config": Command("print or check the resolved config (config.yaml + your files)",
                      "deepdraw.cli:config_main"),
    "summary": Command("where a run's report is and its headline numbers",
                       "deepdraw.summary:main"),
    "unlock": Command("remove a killed Snakemake's lock unless a Snakemake runs here",
                      "deepdraw.recovery:unlock_main"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``deepdraw`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    listing = "\n".join(f"  {name:<12} {command.help}" for name, command in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="deepdraw", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Look-ups on deepdraw runs. 'deepdraw <command> --help' shows a command's "
                    "options.", epilog=f"commands:\n{listing}")
    parser.add_argument("--version", action="version", version=f"deepdraw {__version__}")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command",
                        help="one of: " + ", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    if not argv:
        parser.print_help()
        return 2
    args = parser.parse_args(argv[:1])
    try:
        return COMMANDS[args.command].load()(argv[1:]) or 0
    except (FileNotFoundError, ValueError) as exc:
        print(f"deepdraw {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
