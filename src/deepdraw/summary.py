"""What a finished run produced: where to look and its headline numbers.

Printed by the workflow when a run succeeds (``onsuccess`` in the Snakefile) and by
``deepdraw summary results/<run>``. Everything is read from the run's existing outputs; a
missing output (a config without training or analysis, a run stopped early) leaves its line
out, and an unreadable one is named instead of failing.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from deepdraw import cliutil
from deepdraw.contract import LETTERS, is_trained

CHANCE_RECOGNITION = 1 / len(LETTERS)


def _read_csv(path: Path):
    import pandas as pd

    return pd.read_csv(path) if path.is_file() else None


def _trained_mask(table):
    """Boolean Series: trained models (``trained`` column, or the ``seedN`` instance name)."""
    if "trained" in table:
        return table["trained"].astype(str).str.lower().isin(["true", "1"])
    return table["instance"].map(is_trained).astype(bool)


def _model_lines(run: Path) -> list[str]:
    table = _read_csv(run / "models" / "summary.csv")
    if table is None:
        from deepdraw.cli import model_table

        table = model_table(run) if (run / "models").is_dir() else None
        if table is None or table.empty:
            return []
        table = table.rename(columns={"model": "name"})
    name = "name" if "name" in table else "model"
    trained = _trained_mask(table)
    lines = []
    if "test_accuracy" in table:
        rec = table[table["task"] == "recognition"] if "task" in table else table
        rec_trained = rec[trained.loc[rec.index]].dropna(subset=["test_accuracy"])
        if len(rec_trained):
            best = rec_trained.loc[rec_trained["test_accuracy"].idxmax()]
            train = (f", train {best['train_accuracy']:.2f}"
                     if "train_accuracy" in best and not _isnan(best["train_accuracy"]) else "")
            lines.append(f"best recognition network   {best[name]}: test accuracy "
                         f"{best['test_accuracy']:.3f}{train} (chance {CHANCE_RECOGNITION:.2f}; "
                         f"{len(rec_trained)} trained)")
        rec_control = rec[~trained.loc[rec.index]].dropna(subset=["test_accuracy"])
        if len(rec_control):
            lines.append(f"untrained controls         test accuracy "
                         f"{rec_control['test_accuracy'].min():.3f}-"
                         f"{rec_control['test_accuracy'].max():.3f} ({len(rec_control)} models)")
    if "test_position_error_cm" in table:
        for task, group in table[trained].dropna(subset=["test_position_error_cm"]).groupby("task"):
            best = group.loc[group["test_position_error_cm"].idxmin()]
            lines.append(f"{'best ' + task + ' decoder':<26} {best[name]}: "
                         f"hand position error {best['test_position_error_cm']:.2f} cm")
    return lines


def _isnan(value) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def _svm_lines(run: Path) -> list[str]:
    table = _read_csv(run / "svm" / "summary.csv")
    if table is None or "multiclass" not in table:
        return []
    parts = []
    for _, row in table.iterrows():
        pair = (f", pairwise {row['pairwise_mean']:.3f}" if "pairwise_mean" in row
                and not _isnan(row["pairwise_mean"]) else "")
        parts.append(f"{row['representation']} {row['multiclass']:.3f}{pair}")
    return ["SVM baseline (multiclass)  " + "; ".join(parts)]


def _tuning_lines(run: Path) -> list[str]:
    table = _read_csv(run / "analysis" / "summary" / "fractions.csv")
    needed = {"encoding_model", "trained", "fraction_tuned", "layer"}
    if table is None or not needed <= set(table.columns):
        return []
    direction = table[table["encoding_model"] == "direction"]
    if direction.empty:
        return []
    trained = _trained_mask(direction)
    keys = [k for k in ("task", "architecture", "layer") if k in direction]
    lines = []
    for label, part in (("trained", direction[trained]), ("untrained", direction[~trained])):
        if part.empty:
            continue
        groups = part.groupby(keys)["fraction_tuned"]
        mean = groups.mean()
        best = mean.idxmax()
        n = int(groups.size()[best])
        where = " / ".join(map(str, best if isinstance(best, tuple) else (best,)))
        lines.append(f"direction-tuned units      {label}: up to {mean.max():.2f} of a layer "
                     f"({where}; mean over {n} instance{'s' if n != 1 else ''})")
    comparison = _read_csv(run / "analysis" / "summary" / "comparison.csv")
    if comparison is not None and {"encoding_model", "p_bonferroni"} <= set(comparison.columns):
        rows = comparison[comparison["encoding_model"] == "direction"]
        tested = rows.dropna(subset=["p_bonferroni"])
        if len(rows):
            higher = tested[(tested["p_bonferroni"] < 0.05)
                            & (tested["trained_mean"] > tested["untrained_mean"])]
            lines.append(f"trained vs untrained       {len(higher)} of {len(rows)} layers with "
                         f"more direction-tuned units (p < 0.05, Bonferroni); "
                         f"{len(rows) - len(tested)} layers untested (fewer than 2 instances)")
    return lines


def _dataset_lines(run: Path) -> list[str]:
    store = run / "dataset.zarr"
    if not store.is_dir():
        return []
    from deepdraw.io import open_zarr

    ds = open_zarr(store)
    parts = [f"{ds.sizes.get('sample', 0)} samples"]
    counts = ds.attrs.get("n_samples")
    if isinstance(counts, dict) and counts:
        parts.append(", ".join(f"{k} {v}" for k, v in counts.items()))
    rejected = json.loads(ds.attrs.get("n_rejected", "") or "{}")
    if rejected:
        parts.append(f"{sum(rejected.values())} candidates redrawn")
    return [f"dataset                    {store} ({'; '.join(parts)}); deepdraw info {store}"]


def run_summary(run_dir: str | Path) -> list[str]:
    """The lines of the summary of ``run_dir`` (results/<run>)."""
    run = Path(run_dir)
    lines = [f"deepdraw run {run}"]
    report = run / "analysis" / "report.html"
    if report.is_file():
        lines.append(f"report                     {report.resolve()}")
    if (run / "config.yaml").is_file():
        lines.append(f"config                     {run / 'config.yaml'} (all resolved settings)")
    for section in (_dataset_lines, _model_lines, _svm_lines, _tuning_lines):
        try:
            lines += section(run)
        except Exception as exc:  # a summary line must never fail a finished run
            lines.append(f"({section.__name__.strip('_').replace('_lines', '')}: could not be "
                         f"read: {type(exc).__name__}: {exc})")
    lines.append(f"logs                       {run / 'logs'}/ (one per job); "
                 f"all models: deepdraw models {run}")
    return lines


def print_run_summary(run_dir: str | Path, file=None) -> str:
    """Print the summary of ``run_dir`` (see :func:`run_summary`) and return it."""
    text = "\n".join(run_summary(run_dir))
    print(text, file=file or sys.stdout, flush=True)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = cliutil.parser("deepdraw summary", __doc__.splitlines()[0])
    parser.add_argument("run", help="results/<run>")
    args = cliutil.parse_args(parser, argv)
    if not Path(args.run).is_dir():
        raise FileNotFoundError(f"{args.run}: run directory not found (give results/<run>)")
    print_run_summary(args.run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
