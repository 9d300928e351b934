"""Plan a paper-scale run: jobs, DAG build time, CPU- and GPU-hours, storage.

Builds the dry-run DAG of ``snakemake --profile profiles/slurm --configfile <config> -n`` (timed,
jobs counted per rule) and combines the job counts with costs measured by the other benchmarks
on this machine, saved as JSON under ``benchmarks/results/``:

* ``generation.json`` (``bench_generation.py --json``): ``shard_samples_per_s``, the end-to-end
  rate of one single-core shard job (rejections, IK, muscles, spindles);
* ``training.json`` (``bench_training.py --json``): training samples/s per family on CPU.

GPU throughput cannot be measured here (no GPU): GPU-hours are given from the study's reported
cost of 2-4 GPU-hours per network next to the CPU-hours measured here.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# bytes per sample in dataset.zarr before compression: spindles (25x320x2 float32), muscle
# lengths (25x320), hand (320x3) and joints (320x4) float32
BYTES_PER_SAMPLE = 4 * (25 * 320 * 2 + 25 * 320 + 320 * 3 + 320 * 4)
STUDY_GPU_HOURS_PER_NETWORK = (2.0, 4.0)
CLUSTER_VARIABLES = {"DEEPDRAW_PARTITION": "debug", "DEEPDRAW_GPU_PARTITION": "gpu",
                     "DEEPDRAW_ACCOUNT": "deepdraw"}


def merged_config(configfile: Path) -> dict:
    """The default config updated by ``configfile``, top-level sections replaced as Snakemake does
    for nested keys (a shallow-per-section merge)."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for key, value in yaml.safe_load(configfile.read_text()).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def dry_run(configfile: Path) -> tuple[float, dict[str, int]]:
    """Seconds to build the dry-run DAG through the SLURM profile, and jobs per rule."""
    env = {**CLUSTER_VARIABLES, **os.environ}
    command = ["snakemake", "--profile", "profiles/slurm", "--configfile", str(configfile), "-n",
               "--quiet", "rules"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    jobs = {}
    for line in (result.stdout + result.stderr).splitlines():
        match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+(\d+)\s*", line)
        if match and match.group(1) == "total":
            break  # the job table may be printed twice: read the first
        if match:
            jobs[match.group(1)] = int(match.group(2))
    return seconds, jobs


def load(name: str) -> dict:
    path = RESULTS / name
    if not path.is_file():
        raise SystemExit(f"{path}: missing; run the benchmark that writes it first "
                         f"(see this script's docstring)")
    return json.loads(path.read_text())


def plan(configfile: Path) -> dict:
    config = merged_config(configfile)
    generation = config["generation"]
    training = config["training"]
    n_samples = len(generation["planes"]) * generation["shards_per_plane"] * generation["samples_per_shard"]
    seconds, jobs = dry_run(configfile)
    gen = load("generation.json")
    train = load("training.json")

    shard_minutes = generation["samples_per_shard"] / gen["shard_samples_per_s"] / 60
    split = config["split"]
    train_fraction = (1 - split["test_fraction"]) * (1 - split["validation_fraction"])
    n_train = n_samples * train_fraction
    seeds = training["seeds"] if isinstance(training["seeds"], list) else range(training["seeds"])
    training_cpu_hours = 0.0
    for arch in training["architectures"]:
        rate = train["families"][arch["family"]]["train_samples_per_s"]
        epochs_hours = training["max_epochs"] * n_train / rate / 3600
        training_cpu_hours += epochs_hours * len(training["tasks"]) * len(seeds)
    n_networks = len(training["architectures"]) * len(training["tasks"]) * len(seeds)
    return {
        "config": str(configfile),
        "samples": n_samples,
        "dag_build_seconds": round(seconds, 1),
        "jobs_total": sum(jobs.values()),
        "jobs_per_rule": jobs,
        "generation_shard_minutes": round(shard_minutes, 2),
        "generation_cpu_hours": round(n_samples / gen["shard_samples_per_s"] / 3600, 2),
        "dataset_gb_uncompressed": round(n_samples * BYTES_PER_SAMPLE / 1e9, 1),
        "trained_networks": n_networks,
        "training_cpu_hours_at_max_epochs_measured_here": round(training_cpu_hours, 1),
        "training_gpu_hours_from_study_report": [h * n_networks for h in STUDY_GPU_HOURS_PER_NETWORK],
        "measured_with": {"generation": gen.get("shard_samples_per_s"),
                          "training_samples_per_s": {k: v["train_samples_per_s"]
                                                     for k, v in train["families"].items()}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, default=Path("config/paper.yaml"))
    parser.add_argument("--json", action="store_true", help="compact JSON on one line")
    args = parser.parse_args()
    print(json.dumps(plan(args.configfile), indent=None if args.json else 2))


if __name__ == "__main__":
    main()
