"""Learning curve: test accuracy of one network against the number of training samples.

Trains the run's first architecture on character recognition on nested subsets of the training
split of one dataset (``training.train_samples``), with the same seed, the same validation and
test samples (held-out characters) and the run's training settings; fits the test error against
the number of samples with a power law and extrapolates it.

    snakemake --cores 2 --configfile config/learning_curve.yaml results/learning_curve/dataset.zarr
    python -m deepdraw.training.learning_curve --configfile config/learning_curve.yaml --json

Runs that finished keep their ``metrics.json`` and are not retrained; a killed run resumes from
its last finished epoch. Prints the table and the fits as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

# More samples per epoch need fewer epochs; the budget is what two CPU cores allow, and each
# run's best epoch is recorded so that an under-trained size shows in the table.
DEFAULT_EPOCHS = {5_000: 40, 10_000: 30, 20_000: 24, 50_000: 16, 100_000: 12, 200_000: 12}


def power_law_fits(samples: np.ndarray, error: np.ndarray, at: float) -> dict:
    """Fits of test error vs training samples and their values at ``at`` samples.

    Both are least-squares fits of ``log(error)``, so every size weighs alike whatever its
    error: ``power_law``: error = a * n^-b (a line in log-log); ``with_floor``: error =
    c + a * n^-b (scipy ``least_squares``; absent when it does not converge).
    """
    from scipy.optimize import least_squares

    samples, error = np.asarray(samples, float), np.asarray(error, float)
    slope, intercept = np.polyfit(np.log(samples), np.log(error), 1)
    fits = {"power_law": {"a": float(np.exp(intercept)), "exponent": float(-slope),
                          "error_at": float(np.exp(intercept) * at ** slope)}}
    if len(samples) > 3:
        def residual(p):
            log_a, b, c = p
            return np.log(c + np.exp(log_a) * samples ** -b) - np.log(error)

        fit = least_squares(residual, x0=(intercept, -slope, 0.1 * error.min()),
                            bounds=([-np.inf, 0.0, 0.0], [np.inf, 5.0, error.min()]))
        if fit.success:
            log_a, b, c = fit.x
            fits["with_floor"] = {"a": float(np.exp(log_a)), "exponent": float(b),
                                  "floor": float(c),
                                  "error_at": float(c + np.exp(log_a) * at ** -b)}
    for fit in fits.values():
        fit["accuracy_at"] = 1.0 - fit["error_at"]
    return fits


def plot(table: pd.DataFrame, fits: dict, at: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    n = table["train_samples"].to_numpy(float)
    ax.loglog(n, table["test_error"], "o", color="k", label="test error (held-out characters)")
    styles = iter([("tab:blue", "tab:cyan"), ("tab:orange", "tab:red")])
    for subset, subset_fits in fits.items():
        lo = float(subset.split("_")[1]) if subset.startswith("from_") else n.min()
        grid = np.geomspace(lo, at, 100)
        colour, floor_colour = next(styles)
        law = subset_fits["power_law"]
        ax.loglog(grid, law["a"] * grid ** -law["exponent"], "-", color=colour,
                  label=f"{subset.replace('_', ' ')}: power law, exponent {law['exponent']:.2f}")
        if "with_floor" in subset_fits:
            f = subset_fits["with_floor"]
            ax.loglog(grid, f["floor"] + f["a"] * grid ** -f["exponent"], "--",
                      color=floor_colour, label=f"{subset.replace('_', ' ')}: with floor"
                                                f" {f['floor']:.3f}")
    ax.axvline(at, color="0.6", lw=0.8)
    ax.set_xlabel("training samples")
    ax.set_ylabel("test error (1 - accuracy)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=150)
    plt.close(fig)
    os.replace(tmp, path)


def run_size(dataset: Path, arch: dict, settings: dict, seed: int, n: int, epochs: int,
             out: Path, threads: int) -> dict:
    """Train (or read the finished run of) one size; returns its row of the table."""
    from deepdraw.training.fit import train

    metrics_file = out / "metrics.json"
    if metrics_file.exists():
        metrics = json.loads(metrics_file.read_text())
        cpu_s = json.loads((out / "cpu.json").read_text())["cpu_s"]
    else:
        start = time.process_time()
        metrics = train(dataset, "recognition", arch,
                        {**settings, "train_samples": n, "max_epochs": epochs}, seed, out,
                        threads=threads)
        cpu_s = time.process_time() - start
        (out / "cpu.json").write_text(json.dumps({"cpu_s": cpu_s}))
    return {"train_samples": metrics["train"]["n"], "max_epochs": epochs,
            "epochs": metrics["epochs"], "best_epoch": metrics["best_epoch"],
            "train_accuracy": metrics["train"]["accuracy"],
            "validation_accuracy": metrics["validation"]["accuracy"],
            "test_accuracy": metrics["test"]["accuracy"],
            "test_error": 1.0 - metrics["test"]["accuracy"], "test_samples": metrics["test"]["n"],
            "cpu_s": round(cpu_s, 1)}


def main(argv=None) -> None:
    from deepdraw.config import resolve, workflow_root

    root = workflow_root()

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default=str(root / "config" / "learning_curve.yaml"))
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(DEFAULT_EPOCHS),
                        help="training samples of each run")
    parser.add_argument("--epochs", type=int, nargs="+",
                        help="max epochs of each size (default: the built-in budget)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--extrapolate-to", type=float, default=1e6)
    parser.add_argument("--fit-from", type=int, default=20_000,
                        help="the second fit uses only sizes of at least this many samples, past"
                             " the regime where the network memorises its few training samples")
    parser.add_argument("--output",
                        default=str(root / "benchmarks" / "results" / "learning_curve"),
                        help="table and figure path without suffix (.csv, .json, .png)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    config = resolve([args.configfile], root)
    run_dir = root / "results" / config["run"]
    dataset = run_dir / "dataset.zarr"
    if not dataset.exists():
        raise SystemExit(f"{dataset} does not exist: build it first with\n  snakemake --cores 2 "
                         f"--configfile {args.configfile} -- {dataset.relative_to(root)}")
    epochs = args.epochs or [DEFAULT_EPOCHS.get(n, 10) for n in args.sizes]
    if len(epochs) != len(args.sizes):
        raise SystemExit("--epochs needs one value per --sizes value")
    arch = config["training"]["architectures"][0]
    rows = []
    for n, e in zip(args.sizes, epochs):
        out = run_dir / "learning_curve" / f"{arch['name']}_n{n}_seed{args.seed}"
        rows.append(run_size(dataset, arch, config["training"], args.seed, n, e, out,
                             args.threads))
        logging.info("%d samples: test accuracy %.4f", n, rows[-1]["test_accuracy"])
    table = pd.DataFrame(rows).sort_values("train_samples").reset_index(drop=True)
    n, err = table["train_samples"].to_numpy(float), table["test_error"].to_numpy(float)
    large = n >= args.fit_from
    fits = {"all_sizes": power_law_fits(n, err, args.extrapolate_to),
            f"from_{args.fit_from}": power_law_fits(n[large], err[large], args.extrapolate_to)}
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output.with_suffix(".tmp.csv"), index=False)
    os.replace(output.with_suffix(".tmp.csv"), output.with_suffix(".csv"))
    result = {"architecture": arch["name"], "dataset": str(dataset.relative_to(root)),
              "config": args.configfile, "seed": args.seed, "cpu_count": os.cpu_count(),
              "extrapolate_to": args.extrapolate_to, "fits": fits,
              "rows": table.to_dict(orient="records")}
    output.with_suffix(".tmp.json").write_text(json.dumps(result, indent=1))
    os.replace(output.with_suffix(".tmp.json"), output.with_suffix(".json"))
    plot(table, fits, args.extrapolate_to, output.with_suffix(".png"))
    if args.json:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
