"""Fast generator (vectorised IK + muscle surrogate) against the reference (SLSQP + OpenSim).

Draws ``--samples`` augmented movements from the shipped characters (half per plane, the
generator's own sampling), then on the same movements:

* fast path: :func:`deepdraw.arm.inverse_kinematics` for all samples at once and the
  surrogate on every frame, one core (timed over all samples);
* reference path: per-point SLSQP (:func:`deepdraw.arm.inverse_kinematics_reference`) and
  OpenSim per frame, timed on ``--reference-samples`` of them and scaled per sample;
* accuracy: hand error of the fast IK (all samples), joint difference fast vs reference,
  surrogate vs OpenSim on the frames of the reference samples that OpenSim gets right
  (trajectories that :func:`deepdraw.muscles.valid_trajectories` flags are counted, not scored).

Also times a whole shard (:func:`deepdraw.generation.generate_shard`: rejection loop, noise,
window placement, spindle channels) of ``--samples`` samples. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from deepdraw import arm, augmentation, generation, muscles
from deepdraw.characters import load_characters, read_characters, split_characters, write_characters
from deepdraw.io import rng_for

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"planes": ["horizontal", "vertical"], "window_steps": 320, "max_attempts": 30,
            "max_tracing_error_cm": 0.01, "max_joint_jerk": 1.0}


def movements(characters, n: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(plane, targets (n, T, 3), durations) of ``n`` accepted-length movements, half per plane."""
    out = []
    for k, plane in enumerate(SETTINGS["planes"]):
        count = n // 2 + (n % 2) * (k == 0)
        rng = rng_for(seed, "bench", plane)
        points = augmentation.load_start_points(ROOT / "resources/pcr_startingpoints.hdf5", plane)
        sources = rng.choice(len(characters.labels), size=count)
        _, _, targets, durations = generation.candidate_movements(
            characters, sources, plane, points, rng)
        fits = durations <= SETTINGS["window_steps"]
        out.append((plane, targets[fits], durations[fits]))
    return out


def run(n_samples: int, n_reference: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        charset = read_characters(ROOT / "resources/uci_characters_full2858.mat")
        split = split_characters(charset.labels, 0.2, rng_for(seed, "characters", "split"))
        write_characters(charset, Path(tmp) / "characters.zarr", split)
        characters = load_characters(Path(tmp) / "characters.zarr")
    surrogate = muscles.MuscleSurrogate.load(ROOT / "resources/muscle_surrogate.npz")
    model = ROOT / "resources/MoBL_ARMS_module5_scaleIK.osim"
    batches = movements(characters, n_samples, seed)
    n_total = sum(len(d) for _, _, d in batches)

    with threadpool_limits(1):
        start = time.perf_counter()
        fast = []
        for _, targets, durations in batches:
            q, err = arm.inverse_kinematics(targets, return_error=True)
            frames = np.arange(q.shape[1])[None, :] < durations[:, None]
            lengths = surrogate.predict(q[frames])
            fast.append((q, err, frames, lengths))
        fast_seconds = time.perf_counter() - start
        postures = np.concatenate([q[f] for q, _, f, _ in fast])
        start = time.perf_counter()
        surrogate.predict(postures)
        surrogate_rate = len(postures) / (time.perf_counter() - start)

        shard_settings = dict(SETTINGS, samples_per_shard=n_samples)
        points = augmentation.load_start_points(ROOT / "resources/pcr_startingpoints.hdf5",
                                                "horizontal")
        start = time.perf_counter()
        shard, _ = generation.generate_shard(characters, points, "horizontal", 0,
                                             shard_settings, seed, surrogate.predict)
        shard_seconds = time.perf_counter() - start

    hand_error_mm = 10 * np.concatenate([np.nan_to_num(err[frames]) for _, err, frames, _ in fast])

    # reference on the first movements of each plane
    ik_seconds, opensim_seconds = 0.0, 0.0
    joint_diff, errors, flagged, outside, n_ref, n_frames = [], [], 0, 0, 0, 0
    per_plane = max(1, n_reference // len(batches))
    for (_, targets, durations), (q_fast, _, _, _) in zip(batches, fast):
        for i in range(min(per_plane, len(durations))):
            d = durations[i]
            start = time.perf_counter()
            q_ref = arm.inverse_kinematics_reference(targets[i, :d])
            middle = time.perf_counter()
            exact = muscles.opensim_fiber_lengths(q_ref, model)
            ik_seconds += middle - start
            opensim_seconds += time.perf_counter() - middle
            n_ref += 1
            n_frames += d
            joint_diff.append(np.abs(q_fast[i, :d] - q_ref).mean())
            ok, _ = muscles.valid_trajectories(exact.T[None], np.array([d]))
            if not ok[0]:
                flagged += 1
                continue
            error = surrogate.predict(q_ref) - exact
            # frames outside the surrogate's domain are rejected by the generator, not scored
            inside = np.isfinite(error).all(axis=1)
            outside += int((~inside).sum())
            errors.append(error[inside])
    errors = np.concatenate(errors) if errors else np.full((0, len(muscles.MUSCLE_NAMES)), np.nan)
    ref_seconds = ik_seconds + opensim_seconds
    rms = np.sqrt(np.mean(errors ** 2, axis=0))
    fast_rate = n_total / fast_seconds
    ref_rate = n_ref / ref_seconds
    return {
        "samples": int(n_total),
        "fast_samples_per_s": fast_rate,
        "reference_samples_per_s": ref_rate,
        "speedup": fast_rate / ref_rate,
        "shard_samples_per_s": shard.sizes["sample"] / shard_seconds,
        "surrogate_frames_per_s": surrogate_rate,
        "reference_samples": n_ref,
        "reference_frames": int(n_frames),
        "reference_ik_s_per_sample": ik_seconds / n_ref,
        "reference_opensim_ms_per_frame": 1000 * opensim_seconds / n_frames,
        "reference_trajectories_flagged_by_opensim_checks": flagged,
        "muscle_frames_outside_surrogate_domain": outside,
        "ik_max_error_mm": float(hand_error_mm.max()),
        "ik_mean_joint_diff_deg": float(np.mean(joint_diff)),
        "ik_max_mean_joint_diff_deg": float(np.max(joint_diff)),
        "muscle_rms_error_mm": float(rms.max()),
        "muscle_rms_error_median_mm": float(np.median(rms)),
        "muscle_worst_rms": muscles.MUSCLE_NAMES[int(np.argmax(rms))],
        "muscle_max_error_mm": float(np.abs(errors).max()),
        "muscle_frames_scored": int(len(errors)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--reference-samples", type=int, default=6,
                        help="samples run through SLSQP + OpenSim (about 5 s each)")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args()
    result = run(args.samples, args.reference_samples, args.seed)
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
