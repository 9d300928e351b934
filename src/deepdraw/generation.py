"""One shard of the proprioceptive dataset: augment → inverse kinematics → muscles → spindles.

A shard is identified by ``(plane, shard)``; its random stream derives from the master seed
and that identity only (:func:`deepdraw.io.rng_for`), so a shard's bytes do not depend on
``--cores``, the scheduler or which shards ran before it.

Every candidate sample goes through the same rejection tests, vectorised over all pending
candidates of the shard: the movement must fit in the window, the inverse kinematics must
trace it (summed hand error) with small joint jerk, and every muscle length must be valid
(finite, in range, no frame-to-frame jumps, inside the surrogate's validated domain). A
rejected candidate keeps its source character and draws new latents and a new start point.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import xarray as xr

from deepdraw import __version__, arm, augmentation, muscles, spindles
from deepdraw.characters import StoredCharacters, load_characters
from deepdraw.io import atomic_path, rng_for, write_zarr

log = logging.getLogger(__name__)

PLANES = ("horizontal", "vertical")
LATENT_NAMES = ("size", "rotation", "shear_x", "shear_y", "speed", "noise")
LATENT_UNITS = {"size": "1", "rotation": "deg", "shear_x": "deg", "shear_y": "deg", "speed": "1",
                "noise": "fraction of the muscle's std over time"}


def source_characters(n_characters: int, plane: str, shard: int, samples_per_shard: int,
                      seed: int) -> np.ndarray:
    """Source character of each sample of a shard, cycling through a seeded permutation.

    Cycling keeps the letters balanced; the permutation depends on the seed and the plane
    only, so shards partition one sequence.
    """
    order = rng_for(seed, "sources", plane).permutation(n_characters)
    index = shard * samples_per_shard + np.arange(samples_per_shard)
    return order[index % n_characters]


def pad_trajectories(trajectories: list[np.ndarray], length: int | None = None) -> np.ndarray:
    """Stack (T_i, d) arrays into (n, T_max, d), NaN after each one's end."""
    length = length or max(len(t) for t in trajectories)
    out = np.full((len(trajectories), length, trajectories[0].shape[1]), np.nan)
    for i, t in enumerate(trajectories):
        out[i, : len(t)] = t[:length]
    return out


def candidate_movements(characters: StoredCharacters, sources: np.ndarray, plane: str,
                        start_points: np.ndarray, rng: np.random.Generator):
    """Draw latents and start points for ``sources`` and return their hand targets.

    Returns
    -------
    latents : dict of (n,) arrays
    start : (n, 3) cm, the drawn start points
    targets : (n, T_max, 3) world cm, NaN after each movement's end
    durations : (n,) int, number of steps of each movement
    """
    latents = augmentation.draw_latents(rng, len(sources))
    start = start_points[rng.integers(len(start_points), size=len(sources))]
    paths = []
    for i, src in enumerate(sources):
        path2d = augmentation.transform(
            characters.trajectories[src],
            size=latents["size"][i], rotation=latents["rotation"][i],
            shear_x=latents["shear_x"][i], shear_y=latents["shear_y"][i],
            speed=latents["speed"][i],
        )
        paths.append(augmentation.embed(path2d, plane, start[i]))
    durations = np.array([len(p) for p in paths])
    return latents, start, pad_trajectories(paths), durations


def kinematic_rejections(targets, joints, durations, settings) -> dict[str, np.ndarray]:
    """Boolean (n,) masks of the kinematic rejection reasons (True = rejected)."""
    return {
        "too_long": durations > settings["window_steps"],
        "tracing_error": ~(arm.tracing_error(targets, joints) < settings["max_tracing_error_cm"]),
        "joint_jerk": ~(arm.joint_jerk(joints) < settings["max_joint_jerk"]),
    }


def generate_shard(characters: StoredCharacters, start_points: np.ndarray, plane: str, shard: int,
                   settings: dict, seed: int, length_model) -> tuple[xr.Dataset, Counter]:
    """Make the accepted samples of one shard.

    Parameters
    ----------
    length_model : callable
        Maps joint angles (..., 4) deg to muscle lengths (..., 25) mm, NaN where invalid.

    Returns
    -------
    shard : xarray.Dataset following the dataset contract, without ``split``
    rejected : Counter of rejection reasons over all attempts
    """
    n = settings["samples_per_shard"]
    rng = rng_for(seed, "shard", plane, shard)
    sources = source_characters(len(characters.labels), plane, shard, n, seed)
    accepted: dict[int, dict] = {}
    rejected: Counter = Counter()
    pending = np.arange(n)
    for _ in range(settings["max_attempts"]):
        if pending.size == 0:
            break
        latents, start, targets, durations = candidate_movements(
            characters, sources[pending], plane, start_points, rng)
        joints = arm.inverse_kinematics(targets)
        reasons = kinematic_rejections(targets, joints, durations, settings)
        kinematic_ok = ~np.any(list(reasons.values()), axis=0)
        lengths = muscle_lengths_of_movements(joints, durations, kinematic_ok, length_model)
        muscle_ok, muscle_reasons = muscles.valid_trajectories(
            lengths[kinematic_ok], durations[kinematic_ok])
        reasons.update(_expand(muscle_reasons, kinematic_ok))
        ok = kinematic_ok.copy()
        ok[kinematic_ok] = muscle_ok
        for reason, mask in reasons.items():
            rejected[reason] += int(mask.sum())
        for j in np.flatnonzero(ok):
            d = durations[j]
            accepted[int(pending[j])] = {
                "latents": {k: v[j] for k, v in latents.items()},
                "start": start[j], "hand": targets[j, :d], "joints": joints[j, :d],
                "lengths": lengths[j, :, :d],
            }
        pending = pending[~ok]
    if pending.size:
        log.warning("%s/%d: %d of %d samples found no valid augmentation in %d attempts",
                    plane, shard, pending.size, n, settings["max_attempts"])
    rejected["gave_up"] = int(pending.size)
    order = sorted(accepted)
    return _assemble(characters, sources[order], [accepted[i] for i in order], plane,
                     settings["window_steps"], rng), rejected


def muscle_lengths_of_movements(joints: np.ndarray, durations: np.ndarray, which: np.ndarray,
                                length_model) -> np.ndarray:
    """Muscle lengths (n, 25, T) mm of the movements selected by ``which``, NaN elsewhere.

    Only the frames inside each selected movement are evaluated (padding and already
    rejected candidates cost nothing, which matters for the OpenSim backend).
    """
    n, steps = joints.shape[:2]
    frames = which[:, None] & (np.arange(steps)[None, :] < durations[:, None])
    lengths = np.full((n, steps, len(muscles.MUSCLE_NAMES)), np.nan)
    if frames.any():
        lengths[frames] = length_model(joints[frames])
    return np.moveaxis(lengths, 1, 2)


def _expand(reasons: dict[str, np.ndarray], where: np.ndarray) -> dict[str, np.ndarray]:
    """Scatter per-candidate masks computed on ``where`` back to all candidates."""
    out = {}
    for reason, mask in reasons.items():
        full = np.zeros(where.shape, dtype=bool)
        full[where] = mask
        out[reason] = full
    return out


def _assemble(characters: StoredCharacters, sources: np.ndarray, samples: list[dict], plane: str,
              window: int, rng: np.random.Generator) -> xr.Dataset:
    """Noise, window placement and spindle channels for the accepted samples of a shard."""
    n = len(samples)
    durations = np.array([len(s["hand"]) for s in samples], dtype=int)
    longest = int(durations.max()) if n else 1
    lengths = np.full((n, len(muscles.MUSCLE_NAMES), longest), np.nan)
    hand = np.full((n, longest, 3), np.nan)
    joints = np.full((n, longest, 4), np.nan)
    for i, s in enumerate(samples):
        lengths[i, :, : durations[i]] = s["lengths"]
        hand[i, : durations[i]] = s["hand"]
        joints[i, : durations[i]] = s["joints"]
    latents = {k: np.array([s["latents"][k] for s in samples], dtype=float) for k in LATENT_NAMES}
    noisy = spindles.add_length_noise(lengths, latents["noise"], rng)
    onsets = spindles.draw_onsets(durations, window, rng)
    inputs = spindles.spindle_inputs(spindles.place_in_window(noisy, durations, onsets, window),
                                     spindles.DT)
    placed_lengths = spindles.place_in_window(lengths, durations, onsets, window)
    placed_hand = spindles.place_in_window(np.moveaxis(hand, 1, 2), durations, onsets, window)
    placed_joints = spindles.place_in_window(np.moveaxis(joints, 1, 2), durations, onsets, window)
    start = np.array([s["start"] for s in samples], dtype=float).reshape(n, 3)
    data_vars = {
        "spindles": (("sample", "muscle", "time", "channel"), inputs.astype(np.float32),
                     {"long_name": "spindle inputs: noisy muscle length and velocity",
                      "units": "mm (length), mm/s (velocity)"}),
        "label": ("sample", characters.labels[sources].astype(np.int16),
                  {"long_name": "character class", "letters": characters.letters}),
        "plane": ("sample", np.full(n, PLANES.index(plane), dtype=np.int8),
                  {"flag_values": [0, 1], "flag_meanings": " ".join(PLANES)}),
        "source_index": ("sample", sources.astype(np.int32),
                         {"long_name": "index of the source character in characters.zarr"}),
        "start_point": (("sample", "xyz"), start.astype(np.float32),
                        {"units": "cm", "long_name": "start point, world frame"}),
        "onset": ("sample", onsets.astype(np.int16), {"units": "step"}),
        "duration": ("sample", durations.astype(np.int16), {"units": "step"}),
        "hand": (("sample", "time", "xyz"), np.moveaxis(placed_hand, 1, 2).astype(np.float32),
                 {"units": "cm", "long_name": "hand position, world frame"}),
        "joints": (("sample", "time", "joint"), np.moveaxis(placed_joints, 1, 2).astype(np.float32),
                   {"units": "deg", "long_name": "joint angles"}),
        "muscle_length": (("sample", "muscle", "time"), placed_lengths.astype(np.float32),
                          {"units": "mm", "long_name": "noise-free muscle fibre length"}),
    }
    for name in LATENT_NAMES:
        data_vars[f"latent_{name}"] = ("sample", latents[name].astype(np.float32),
                                       {"units": LATENT_UNITS[name]})
    coords = {
        "muscle": list(muscles.MUSCLE_NAMES),
        "time": ("time", np.arange(window) * spindles.DT, {"units": "s"}),
        "channel": ["length", "velocity"],
        "joint": list(arm.JOINT_NAMES),
        "xyz": ["x", "y", "z"],
    }
    return xr.Dataset(data_vars, coords=coords)


def sample_postures(characters: StoredCharacters, start_points: dict[str, np.ndarray],
                    per_plane: int, settings: dict, seed: int,
                    key: str = "postures") -> tuple[np.ndarray, np.ndarray]:
    """Joint angles the dataset visits, for fitting the muscle surrogate.

    Draws ``per_plane`` source characters per plane and augments them exactly as the shards
    do (same latents, start points and kinematic rejection tests), without muscles. ``key``
    names the random stream, so that sets drawn for different purposes are independent.

    Returns
    -------
    postures : (n_frames, 4) deg
    trajectory : (n_frames,) int, the movement each frame belongs to (for splits by trajectory)
    """
    postures, trajectory = [], []
    for plane in settings["planes"]:
        rng = rng_for(seed, key, plane)
        sources = rng.choice(len(characters.labels), size=per_plane,
                             replace=per_plane > len(characters.labels))
        pending = np.arange(per_plane)
        for _ in range(settings["max_attempts"]):
            if pending.size == 0:
                break
            _, _, targets, durations = candidate_movements(
                characters, sources[pending], plane, start_points[plane], rng)
            joints = arm.inverse_kinematics(targets)
            reasons = kinematic_rejections(targets, joints, durations, settings)
            ok = ~np.any(list(reasons.values()), axis=0)
            for j in np.flatnonzero(ok):
                postures.append(joints[j, : durations[j]])
                trajectory.append(np.full(durations[j], len(trajectory)))
            pending = pending[~ok]
    return np.concatenate(postures), np.concatenate(trajectory)


def _parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deepdraw.generation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    shard = sub.add_parser("shard", help="generate one shard of the dataset")
    shard.add_argument("--plane", choices=PLANES, required=True)
    shard.add_argument("--shard", type=int, required=True)
    shard.add_argument("--surrogate", required=True, help="fitted muscle surrogate (.npz)")
    shard.add_argument("--model", required=True, help="OpenSim model (.osim)")
    shard.add_argument("--backend", choices=("surrogate", "opensim"), default="surrogate")
    postures = sub.add_parser("postures", help="visited postures for the muscle surrogate fit")
    postures.add_argument("--per-plane", type=int, required=True)
    postures.add_argument("--key", default="postures", help="name of the random stream")
    for p in (shard, postures):
        p.add_argument("--characters", required=True)
        p.add_argument("--start-points", required=True)
        p.add_argument("--settings", required=True, help="the config's generation section, JSON")
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--output", required=True)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    from threadpoolctl import threadpool_limits

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = _parse(argv)
    settings = json.loads(args.settings)
    characters = load_characters(args.characters)
    # One BLAS thread: the shard is the unit of parallelism, and results must not depend on it.
    with threadpool_limits(1):
        if args.command == "postures":
            points = {p: augmentation.load_start_points(args.start_points, p) for p in settings["planes"]}
            postures, trajectory = sample_postures(characters, points, args.per_plane, settings, args.seed,
                                                  args.key)
            with atomic_path(args.output) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, postures=postures, trajectory=trajectory,
                             joint_names=np.array(arm.JOINT_NAMES))
            log.info("%d postures from %d trajectories", len(postures), trajectory.max() + 1)
            return
        length_model = muscles.length_model(args.backend, args.model, args.surrogate)
        points = augmentation.load_start_points(args.start_points, args.plane)
        shard, rejected = generate_shard(characters, points, args.plane, args.shard, settings,
                                         args.seed, length_model)
    if args.backend == "surrogate":
        # the surrogate is NaN exactly where it is not validated against OpenSim
        rejected["muscle_outside_surrogate"] = rejected.pop("muscle_nan")
    shard.attrs.update({
        "plane": args.plane, "shard": args.shard, "seed": args.seed,
        "muscle_backend": args.backend, "deepdraw_version": __version__,
        "n_rejected": json.dumps(dict(sorted(rejected.items()))),
    })
    write_zarr(shard, args.output, sample_chunk=256)
    log.info("%s shard %d: %d samples; rejections %s", args.plane, args.shard,
             shard.sizes["sample"], dict(rejected))


if __name__ == "__main__":
    main()
