"""Plan a paper-scale run: jobs (grouped and not), DAG build time, CPU- and GPU-hours, storage.

Builds the dry-run DAG of ``snakemake --profile profiles/slurm --configfile <config> -n`` (timed)
and counts the jobs per rule and the SLURM submissions once the profile's groups batch the short
jobs. Costs come from measurements committed under ``benchmarks/results/`` (so the plan runs on
a fresh clone); ``--measure`` redoes the generation measurement first:

* ``generation_shard.json`` (this script, ``--measure``): CPU seconds of one shard job of the
  config's ``samples_per_shard`` samples on one core (``python -m deepdraw.generation shard``,
  the job the workflow runs, child-process CPU time from ``getrusage``), per sample;
* ``training.json`` (``bench_training.py --json``): training samples/s per family on this CPU,
  and the input pipeline's samples/s (cached and streamed from zarr);
* ``training_gpu.json`` (``bench_training.py --json`` run on a GPU node), when present: GPU
  samples/s per family. Without it, GPU-hours are the original study's reported training cost
  of 2-4 GPU-hours per network, labelled as such.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# bytes per sample in dataset.zarr before compression: spindles (25x320x2 float32), muscle
# lengths (25x320), hand (320x3) and joints (320x4) float32
BYTES_PER_SAMPLE = 4 * (25 * 320 * 2 + 25 * 320 + 320 * 3 + 320 * 4)
# float32 inputs of one sample held by the training input cache (25 x 320 x 2)
CACHE_BYTES_PER_SAMPLE = 4 * 25 * 320 * 2
STUDY_GPU_HOURS_PER_NETWORK = (2.0, 4.0)
CLUSTER_VARIABLES = {"DEEPDRAW_PARTITION": "debug", "DEEPDRAW_GPU_PARTITION": "gpu",
                     "DEEPDRAW_ACCOUNT": "deepdraw"}
ONE_CORE = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def merged_config(configfile: Path) -> dict:
    """The default config updated by ``configfile``, with the schema's defaults, as Snakemake resolves it."""
    from deepdraw.config import resolve

    return resolve([configfile], ROOT)


def count_jobs(dry_run_output: str) -> tuple[dict[str, int], int]:
    """Jobs per rule (the job-stats table) and SLURM submissions (groups count once).

    The dry run lists each job as ``rule <name>:``; members of a group job are indented under a
    ``Group job <group>`` line. ``all`` only collects targets and is never submitted.
    """
    jobs: dict[str, int] = {}
    table = dry_run_output[dry_run_output.index("Job stats:"):]
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+(\d+)\s*", line)
        if not match or match.group(1) == "total":
            break
        jobs[match.group(1)] = int(match.group(2))
    jobs.pop("all", None)
    ungrouped = [m for m in re.findall(r"^rule (\w+):", dry_run_output, re.MULTILINE)
                 if m != "all"]
    groups = re.findall(r"\] Group job (\S+)", dry_run_output)
    return jobs, len(ungrouped) + len(groups)


def dry_run(configfile: Path) -> tuple[float, dict[str, int], int]:
    """Seconds to build the dry-run DAG through the SLURM profile, jobs per rule, submissions."""
    env = {**CLUSTER_VARIABLES, **os.environ}
    command = ["snakemake", "--profile", "profiles/slurm", "--configfile", str(configfile), "-n"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    jobs, submissions = count_jobs(result.stdout + result.stderr)
    return seconds, jobs, submissions


def measure_generation(config: dict, samples: int | None = None) -> dict:
    """CPU time of one shard job (one core), as the workflow runs it, and its rate per sample."""
    generation = dict(config["generation"])
    if samples:
        generation["samples_per_shard"] = samples
    env = {**os.environ, **ONE_CORE, "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        characters = Path(tmp) / "characters.zarr"
        subprocess.run([sys.executable, "-m", "deepdraw.characters", "--input",
                        config["characters"]["file"], "--output", str(characters),
                        "--test-fraction", str(config["characters"]["test_fraction"]),
                        "--seed", str(config["seed"])],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        from deepdraw.muscles.model_edits import model_and_surrogate

        model, surrogate = model_and_surrogate(config["muscles"], ROOT, tmp)
        command = [sys.executable, "-m", "deepdraw.generation", "shard", "--characters",
                   str(characters), "--start-points", generation["start_points"], "--surrogate",
                   str(surrogate), "--model", str(model), "--backend",
                   config["muscles"]["backend"], "--settings", json.dumps(generation),
                   "--plane", "horizontal", "--shard", "0", "--seed", str(config["seed"]),
                   "--output", str(Path(tmp) / "shard.zarr")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    n = generation["samples_per_shard"]
    return {"samples": n, "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1),
            "cpu_seconds_per_sample": round(cpu / n, 6), "backend": config["muscles"]["backend"],
            "threads": 1, "load_average": [round(v, 2) for v in os.getloadavg()],
            "measured_by": "benchmarks/plan_paper_scale.py --measure"}


def load(name: str, required: bool = True) -> dict | None:
    path = RESULTS / name
    if not path.is_file():
        if not required:
            return None
        raise SystemExit(f"{path}: missing; it is committed with the repository, or rerun the "
                         f"benchmark that writes it (see this script's docstring)")
    return json.loads(path.read_text())


def plan(configfile: Path, config: dict) -> dict:
    generation = config["generation"]
    training = config["training"]
    n_samples = (len(generation["planes"]) * generation["shards_per_plane"]
                 * generation["samples_per_shard"])
    seconds, jobs, submissions = dry_run(configfile)
    gen = load("generation_shard.json")
    cpu_train = load("training.json")
    gpu_train = load("training_gpu.json", required=False)

    split = config["split"]
    n_train = n_samples * (1 - split["test_fraction"]) * (1 - split["validation_fraction"])
    seeds = training["seeds"] if isinstance(training["seeds"], list) else range(training["seeds"])
    n_networks = len(training["architectures"]) * len(training["tasks"]) * len(seeds)
    epochs = training["max_epochs"]

    def hours(rates: dict) -> float:
        total = 0.0
        for arch in training["architectures"]:
            rate = rates[arch["family"]]["train_samples_per_s"]
            total += epochs * n_train / rate / 3600 * len(training["tasks"]) * len(seeds)
        return round(total, 1)

    if gpu_train:
        gpu_hours = {"gpu_hours": hours(gpu_train["families"]),
                     "source": f"measured on {gpu_train.get('physical_devices')} "
                               "(benchmarks/results/training_gpu.json)"}
    else:
        gpu_hours = {"gpu_hours": [h * n_networks for h in STUDY_GPU_HOURS_PER_NETWORK],
                     "source": "the original study's reported cost of 2-4 GPU-hours per network"
                               " (no GPU measurement committed: run bench_training.py --json on a"
                               " GPU node into benchmarks/results/training_gpu.json)"}
    pipeline = cpu_train.get("input_pipeline", {})
    cache_gb = n_train * CACHE_BYTES_PER_SAMPLE / 1e9
    input_bound = {}
    for mode in ("cached", "streamed"):
        if mode in pipeline:
            rate = pipeline[mode]["epoch_samples_per_s"][-1]
            input_bound[f"{mode}_samples_per_s_here"] = rate
            input_bound[f"{mode}_hours_per_network_at_max_epochs"] = round(
                epochs * n_train / rate / 3600, 2)
    shard_cpu_s = generation["samples_per_shard"] * gen["cpu_seconds_per_sample"]
    return {
        "config": str(configfile),
        "samples": n_samples,
        "dag_build_seconds": round(seconds, 1),
        "jobs_total": sum(jobs.values()),
        "slurm_submissions_with_groups": submissions,
        "jobs_per_rule": jobs,
        "generation_cpu_seconds_per_shard": round(shard_cpu_s, 1),
        "generation_cpu_hours": round(n_samples * gen["cpu_seconds_per_sample"] / 3600, 2),
        "generation_measured_with": {k: gen[k] for k in ("samples", "cpu_seconds",
                                                         "cpu_seconds_per_sample", "backend")},
        "dataset_gb_uncompressed": round(n_samples * BYTES_PER_SAMPLE / 1e9, 1),
        "trained_networks": n_networks,
        "training_cpu_hours_at_max_epochs_measured_here": hours(cpu_train["families"]),
        "training_gpu_hours": gpu_hours,
        "training_input_cache_gb_needed": round(cache_gb, 1),
        "training_input_pipeline": input_bound,
        "measured_with": {"training_samples_per_s": {k: v["train_samples_per_s"]
                                                     for k, v in cpu_train["families"].items()},
                          "training_device": cpu_train.get("device", "CPU")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, default=Path("config/paper.yaml"))
    parser.add_argument("--json", action="store_true", help="compact JSON on one line")
    parser.add_argument("--measure", action="store_true",
                        help="time one shard job first and write generation_shard.json")
    parser.add_argument("--shard-samples", type=int, default=None,
                        help="samples of the timed shard (default: the config's)")
    args = parser.parse_args()
    config = merged_config(ROOT / args.configfile)
    if args.measure:
        RESULTS.mkdir(parents=True, exist_ok=True)
        measured = measure_generation(config, args.shard_samples)
        (RESULTS / "generation_shard.json").write_text(json.dumps(measured, indent=1) + "\n")
    print(json.dumps(plan(args.configfile, config), indent=None if args.json else 2))


if __name__ == "__main__":
    main()
