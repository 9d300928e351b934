"""Train one architecture under each training schedule on the same dataset; print JSON.

For each schedule (``ours``, ``study``) and seed: test scores, epochs run, the epoch whose
weights were kept, the learning rates used and the wall-clock time. Example (the default
run's recognition network on a 20,000-sample store)::

    python benchmarks/compare_schedules.py --dataset results/default/dataset.zarr \
        --config config.yaml --arch sto_best --task recognition --max-epochs 50 \
        --output-dir /tmp/schedules
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def main(argv=None) -> None:
    from deepdraw.config import resolve
    from deepdraw.training import train

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--config", nargs="*", default=[], help="config files over config.yaml")
    parser.add_argument("--arch", required=True, help="name in training.architectures")
    parser.add_argument("--task", default="recognition")
    parser.add_argument("--schedules", nargs="+", default=["ours", "study"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs of both schedules (default: the config's max_epochs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    config = resolve(args.config)
    training = config["training"]
    arch = next(a for a in training["architectures"] if a["name"] == args.arch)
    sweep = ("architectures", "tasks", "seeds", "untrained_seeds")
    base = {k: v for k, v in training.items() if k not in sweep}
    if args.max_epochs:
        base["max_epochs"] = args.max_epochs
    results = []
    for schedule in args.schedules:
        for seed in args.seeds:
            out = Path(args.output_dir) / f"{schedule}_seed{seed}"
            start = time.perf_counter()
            metrics = train(args.dataset, args.task, arch, {**base, "schedule": schedule}, seed,
                            out, threads=args.threads)
            history = pd.read_csv(out / "history.csv")
            results.append({
                "schedule": schedule, "seed": seed, "arch": args.arch, "task": args.task,
                "epochs": metrics["epochs"], "best_epoch": metrics["best_epoch"],
                "learning_rates": sorted(set(history["learning_rate"].round(10)))
                if "learning_rate" in history else None,
                "batch_size": metrics["settings"]["batch_size"],
                "test": {k: v for k, v in metrics["test"].items() if k != "confusion"},
                "validation": {k: v for k, v in metrics["validation"].items()
                               if k != "confusion"},
                "wall_s": round(time.perf_counter() - start, 1)})
            print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"dataset": str(args.dataset), "results": results}, indent=1))


if __name__ == "__main__":
    main()
