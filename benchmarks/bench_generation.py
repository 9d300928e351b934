"""Generator speed and accuracy: a whole shard job, and the fast vs the reference path.

Prints one JSON object (stdout only; progress goes to stderr):

* ``samples_per_cpu_s``, ``peak_rss_mb``: a whole shard job of ``--shard-samples`` samples
  (``python -m deepdraw.generation shard`` in a subprocess: imports, IK, muscles, checks,
  noise, window, spindles, write), CPU time (user + system) and peak resident memory of the
  child from ``os.wait4``; CPU time because the machine may be shared, the least of
  ``--repeats`` identical runs because other processes still inflate it (cache, memory
  bandwidth, page zeroing), every run's CPU time in ``shard_cpu_s_all_runs``.
  ``candidates_per_sample`` and ``muscle_rejection_fraction`` (candidates rejected for a
  ``muscle_*`` reason / candidates) come from the shard's candidate table.
* On the same ``--samples`` candidate movements (drawn like the generator's, half per plane,
  before any rejection, at most one window long): the fast path (vectorised IK of all of them
  at once and the muscle surrogate on every frame) and the reference path (per-point SLSQP IK,
  :func:`deepdraw.arm.inverse_kinematics_reference`, and OpenSim on every frame of the
  reference postures), one core each: ``fast_samples_per_s``, ``reference_samples_per_s`` and
  ``speedup``.
* Accuracy on those candidates: ``ik_max_error_mm`` (hand error of the fast IK, every frame),
  ``ik_mean_joint_diff_deg`` (fast vs reference joints), and ``muscle_rms_error_mm`` /
  ``muscle_max_error_mm`` of the worst muscle, surrogate vs OpenSim on the reference postures,
  over every frame where both give a length (frames where either is NaN are counted, not
  scored: the surrogate is NaN outside its domain, OpenSim where its equilibrium fails).
* ``model`` / ``model_sha256`` and ``surrogate`` / ``surrogate_sha256``: the files used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from deepdraw import arm, augmentation, bias, generation, muscles
from deepdraw.characters import load_characters, read_characters, split_characters, write_characters
from deepdraw.contract import PLANES
from deepdraw.io import rng_for
from deepdraw.muscles.model_edits import sha256_of

ROOT = Path(__file__).resolve().parents[1]
START_POINTS = ROOT / "resources/pcr_startingpoints.hdf5"
SETTINGS = {"planes": ["horizontal", "vertical"], "shards_per_plane": 1,
            "start_points": str(START_POINTS), "window_steps": 320, "max_attempts": 30,
            "max_tracing_error_cm": 0.01, "max_joint_jerk": 1.0}


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def shard_job(characters: Path, n_samples: int, plane: str, model: Path, surrogate: Path,
              seed: int, workdir: Path, repeats: int = 3) -> dict:
    """Run one shard job ``repeats`` times in a subprocess; CPU time, memory, candidates.

    The same job (same seed) each time: the least CPU time is the job's cost with the least
    interference from other processes on a shared machine; every run's time is reported.
    """
    output = workdir / "shard.zarr"
    command = [sys.executable, "-m", "deepdraw.generation", "shard",
               "--characters", str(characters), "--start-points", str(START_POINTS),
               "--surrogate", str(surrogate), "--model", str(model),
               "--settings", json.dumps(dict(SETTINGS, samples_per_shard=n_samples)),
               "--plane", plane, "--shard", "0", "--seed", str(seed), "--output", str(output)]
    runs = []
    for _ in range(repeats):
        if output.exists():
            shutil.rmtree(output)
        with open(workdir / "shard.log", "w") as log:
            start = time.perf_counter()
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - start
        if status != 0:
            raise RuntimeError(f"shard job failed ({status}); see {workdir / 'shard.log'}:\n"
                               + (workdir / "shard.log").read_text()[-2000:])
        runs.append((usage.ru_utime + usage.ru_stime, usage, wall))
    cpu, usage, wall = min(runs, key=lambda run: run[0])
    table = generation.read_candidates(output)
    frame = bias.candidate_frame(table, plane)
    accepted = int(frame["accepted"].sum())
    return {
        "shard_samples": accepted,
        "shard_plane": plane,
        "samples_per_cpu_s": accepted / cpu,
        # the one-core rate of a whole shard job, read by plan_paper_scale.py
        "shard_samples_per_s": accepted / cpu,
        "shard_cpu_s": cpu,
        "shard_cpu_s_all_runs": [round(run[0], 3) for run in runs],
        "shard_user_s": usage.ru_utime,
        "shard_system_s": usage.ru_stime,
        "shard_wall_s": wall,
        "peak_rss_mb": max(run[1].ru_maxrss for run in runs) / 1024.0,  # Linux reports kB
        "candidates_per_sample": len(frame) / max(accepted, 1),
        "muscle_rejection_fraction": float(frame["muscle_rejected"].mean()),
        "first_reasons": {str(k): int(v) for k, v in
                          frame.loc[~frame["accepted"], "first_reason"].value_counts().items()},
    }


def same_candidates(characters, n: int, seed: int) -> list[np.ndarray]:
    """Hand targets (T_i, 3) of ``n`` candidate movements, half per plane, before rejection."""
    out = []
    for k, plane in enumerate(SETTINGS["planes"]):
        count = n // 2 + (n % 2) * (k == 0)
        rng = rng_for(seed, "bench", plane)
        points = augmentation.load_start_points(START_POINTS, plane)
        while count > 0:
            sources = rng.choice(len(characters.labels), size=count)
            _, _, paths = generation.draw_candidates(characters, sources, plane, points, rng)
            fits = [p for p in paths if len(p) <= SETTINGS["window_steps"]]
            out += fits
            count -= len(fits)
    return out


def compare_paths(paths: list[np.ndarray], model: Path, surrogate_path: Path) -> dict:
    """Fast vs reference path on the same candidates: speed and accuracy."""
    surrogate = muscles.MuscleSurrogate.load(surrogate_path)
    targets = generation.pad_trajectories(paths)
    durations = np.array([len(p) for p in paths])
    frames = np.arange(targets.shape[1])[None, :] < durations[:, None]
    with threadpool_limits(1):
        start = time.process_time()
        q_fast, error = arm.inverse_kinematics(targets, return_error=True)
        surrogate.predict(q_fast[frames])
        fast_s = time.process_time() - start
        ik_s = opensim_s = 0.0
        q_ref, exact = [], []
        for i, path in enumerate(paths):
            start = time.process_time()
            q = arm.inverse_kinematics_reference(path)
            middle = time.process_time()
            exact.append(muscles.opensim_fiber_lengths(q, model))
            ik_s += middle - start
            opensim_s += time.process_time() - middle
            q_ref.append(q)
            progress(f"reference {i + 1}/{len(paths)}: {len(path)} frames")
    q_ref, exact = np.concatenate(q_ref), np.concatenate(exact)
    predicted = surrogate.predict(q_ref)
    both = np.isfinite(predicted) & np.isfinite(exact)
    diff = np.where(both, predicted - exact, 0.0)
    scored = both.sum(axis=0)
    rms = np.sqrt((diff ** 2).sum(axis=0) / np.maximum(scored, 1))
    worst = np.abs(diff).max(axis=0)
    n = len(paths)
    fast_rate, ref_rate = n / fast_s, n / (ik_s + opensim_s)
    return {
        "samples": n,
        "frames": int(durations.sum()),
        "fast_samples_per_s": fast_rate,
        "reference_samples_per_s": ref_rate,
        "speedup": fast_rate / ref_rate,
        "reference_ik_s_per_sample": ik_s / n,
        "reference_opensim_ms_per_frame": 1000 * opensim_s / len(q_ref),
        "ik_max_error_mm": float(10 * np.nanmax(error[frames])),
        "ik_mean_joint_diff_deg": float(np.mean(np.abs(q_fast[frames] - q_ref))),
        "ik_max_joint_diff_deg": float(np.max(np.abs(q_fast[frames] - q_ref))),
        "muscle_rms_error_mm": float(rms.max()),
        "muscle_worst_rms": muscles.MUSCLE_NAMES[int(np.argmax(rms))],
        "muscle_max_error_mm": float(worst.max()),
        "muscle_worst_max": muscles.MUSCLE_NAMES[int(np.argmax(worst))],
        "muscle_rms_error_mm_by_muscle": dict(zip(muscles.MUSCLE_NAMES, np.round(rms, 4).tolist())),
        "muscle_max_error_mm_by_muscle": dict(zip(muscles.MUSCLE_NAMES, np.round(worst, 4).tolist())),
        "muscle_frames_scored": int(both.all(axis=1).sum()),
        "muscle_frames_surrogate_nan": int((~np.isfinite(predicted)).any(axis=1).sum()),
        "muscle_frames_opensim_nan": int((~np.isfinite(exact)).any(axis=1).sum()),
    }


def default_model(variant: str, folder: Path) -> Path:
    """The workflow's model: the original, or the corrected one derived with the schema's edits."""
    import yaml

    from deepdraw.muscles.model_edits import derive_model

    schema = yaml.safe_load((ROOT / "schemas/config.schema.yaml").read_text())
    muscles_schema = schema["properties"]["muscles"]["properties"]
    original = ROOT / muscles_schema["original_model"]["default"]
    if variant == "original":
        return original
    derive_model(original, muscles_schema["edits"]["default"], folder / "model_corrected.osim",
                 folder / "model_corrected.json")
    return folder / "model_corrected.osim"


def run(n_samples: int, shard_samples: int, plane: str, model: Path | None, surrogate: Path,
        seed: int, repeats: int = 3, variant: str = "corrected") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        variant = variant if model is None else "given file"
        model = model or default_model(variant, tmp)
        charset = read_characters(ROOT / "resources/uci_characters_full2858.mat")
        split = split_characters(charset.labels, 0.2, rng_for(seed, "characters", "split"))
        write_characters(charset, tmp / "characters.zarr", split)
        characters = load_characters(tmp / "characters.zarr")
        result = {"model_variant": variant,
                  "model": model.name if model.is_relative_to(tmp) else str(model),
                  "model_sha256": sha256_of(model),
                  "surrogate": str(surrogate), "surrogate_sha256": sha256_of(surrogate)}
        if shard_samples > 0:
            progress(f"shard job: {shard_samples} {plane} samples")
            result.update(shard_job(tmp / "characters.zarr", shard_samples, plane, model,
                                    surrogate, seed, tmp, repeats))
        if n_samples > 0:
            progress(f"fast vs reference on {n_samples} candidates")
            result.update(compare_paths(same_candidates(characters, n_samples, seed), model,
                                        surrogate))
    result["load_average_1min"] = os.getloadavg()[0]
    result["cpus"] = os.cpu_count()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20,
                        help="candidates timed on both paths (reference ~3 s each)")
    parser.add_argument("--shard-samples", type=int, default=2000,
                        help="samples of the timed shard job (0: skip it)")
    parser.add_argument("--plane", choices=PLANES, default="horizontal",
                        help="plane of the shard job")
    parser.add_argument("--model-variant", choices=("corrected", "original"), default="corrected",
                        help="the workflow's muscles.model: which model and shipped surrogate")
    parser.add_argument("--model", type=Path, default=None,
                        help="OpenSim model (.osim) instead of the variant's")
    parser.add_argument("--surrogate", type=Path, default=None,
                        help="muscle surrogate (.npz) instead of the variant's shipped one")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of the shard job; the least CPU time is reported")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--json", action="store_true", help="print compact JSON")
    args = parser.parse_args()
    surrogate = args.surrogate or ROOT / f"resources/muscle_surrogate_{args.model_variant}.npz"
    result = run(args.samples, args.shard_samples, args.plane,
                 args.model.resolve() if args.model else None, surrogate.resolve(), args.seed,
                 args.repeats, args.model_variant)
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
