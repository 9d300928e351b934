"""One shard: draw candidates, solve, test, redraw the rejected, assemble; visited postures."""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
import xarray as xr

from deepdraw import arm, augmentation, muscles
from deepdraw.characters import StoredCharacters
from deepdraw.cliutil import progress
from deepdraw.contract import PLANE_FLAGS, plane_code
from deepdraw.generation.assembly import assemble
from deepdraw.generation.checks import CHECK_EVERY, CandidateChecks, kinematic_rejections
from deepdraw.generation.draw import (candidate_movements, draw_candidates, pad_trajectories,
                                      source_characters)
from deepdraw.io import rng_for

log = logging.getLogger(__name__)


def generate_shard(characters: StoredCharacters, start_points: np.ndarray, plane: str, shard: int,
                   settings: dict, seed: int, length_model, nan_reason: str = "muscle_nan",
                   check_every: int | None = None) -> tuple[xr.Dataset, Counter, xr.Dataset]:
    """Make the accepted samples of one shard, and the table of every candidate tried.

    Parameters
    ----------
    length_model : callable
        Maps joint angles (..., 4) deg to muscle lengths (..., 25) mm, NaN where invalid.
    nan_reason : name under which NaN muscle lengths are counted (the surrogate's NaN means
        "outside its validated domain").
    check_every : IK steps between two rejection checks (default :data:`CHECK_EVERY`); each
        check calls ``length_model`` once, so a model with a large cost per call (OpenSim loads
        its model file) is better checked once per movement (``window_steps``).

    Returns
    -------
    shard : xarray.Dataset following the dataset contract, without ``split``
    rejected : Counter of rejection reasons over all candidates, plus ``gave_up``
    candidates : xarray.Dataset along ``candidate`` (:func:`candidate_table`)
    """
    n = settings["samples_per_shard"]
    window = settings["window_steps"]
    rng = rng_for(seed, "shard", plane, shard)
    sources = source_characters(len(characters.labels), plane, shard, n, seed)
    # Per-sample buffers, written in place by the round that accepts the sample (a sample has
    # one candidate per round, so its slot is free until then). np.empty: untouched pages of
    # the samples that never need them cost no memory.
    lengths = np.empty((n, window, len(muscles.MUSCLE_NAMES)))
    hand = np.empty((n, window, 3))
    joints = np.empty((n, window, 4))
    durations = np.zeros(n, dtype=int)
    latents = {k: np.zeros(n) for k in augmentation.LATENTS}
    start_index = np.zeros(n, dtype=np.int64)
    accepted = np.zeros(n, dtype=bool)
    table = []
    pending = np.arange(n)
    bar = progress(total=n, desc=f"{plane} shard {shard}", unit="sample")
    for attempt in range(settings["max_attempts"]):
        if pending.size == 0:
            break
        lat, idx, paths = draw_candidates(characters, sources[pending], plane, start_points, rng)
        steps = np.array([len(p) for p in paths])
        reasons = {"too_long": steps > window}
        fit = np.flatnonzero(~reasons["too_long"])
        q_range = np.full((len(pending), 2, 4), np.nan)
        solved = np.zeros(len(pending), dtype=int)
        ok = np.zeros(len(pending), dtype=bool)
        if fit.size:
            targets = pad_trajectories([paths[i] for i in fit], int(steps[fit].max()))
            checks = CandidateChecks(targets, steps[fit], settings, length_model, lengths,
                                     pending[fit], nan_reason)
            q = arm.inverse_kinematics(targets, monitor=checks,
                                       check_every=check_every or CHECK_EVERY)
            for reason, mask in checks.reasons.items():
                reasons.setdefault(reason, np.zeros(len(pending), dtype=bool))[fit] = mask
            ok[fit] = ~checks.failed
            q_range[fit, 0] = np.fmin.reduce(q, axis=1)
            q_range[fit, 1] = np.fmax.reduce(q, axis=1)
            solved[fit] = np.sum(~np.isnan(q[..., 0]), axis=1)
            for j in np.flatnonzero(ok[fit]):
                i, d = pending[fit[j]], steps[fit[j]]
                hand[i, :d], joints[i, :d] = targets[j, :d], q[j, :d]
        keep = pending[ok]
        durations[keep] = steps[ok]
        start_index[keep] = idx[ok]
        for k in augmentation.LATENTS:
            latents[k][keep] = lat[k][ok]
        accepted[keep] = True
        table.append({"sample": pending, "attempt": np.full(len(pending), attempt),
                      "start_index": idx, "latents": lat, "accepted": ok, "reasons": reasons,
                      "q_range": q_range, "steps": steps, "solved": solved})
        pending = pending[~ok]
        bar.update(len(keep))
    bar.close()
    if pending.size:
        log.warning("%s/%d: %d of %d samples found no valid augmentation in %d attempts",
                    plane, shard, pending.size, n, settings["max_attempts"])
    candidates = candidate_table(table, characters, sources, plane)
    candidates.attrs.update({"plane": plane, "shard": shard, "n_start_points": len(start_points)})
    rejected = Counter({name[len("reason_"):]: int(candidates[name].values.sum())
                        for name in candidates.data_vars if name.startswith("reason_")})
    rejected["gave_up"] = int(pending.size)
    order = np.flatnonzero(accepted)
    shard_ds = assemble(characters, sources[order], lengths, hand, joints, order,
                         durations[order], {k: v[order] for k, v in latents.items()},
                         start_points, start_index[order], plane, window, rng)
    return shard_ds, rejected, candidates


def candidate_table(rounds: list[dict], characters: StoredCharacters, sources: np.ndarray,
                    plane: str) -> xr.Dataset:
    """Every candidate a shard tried, in the order drawn, as an xarray.Dataset.

    Variables along ``candidate``: ``sample`` (index of the shard sample it was drawn for),
    ``attempt`` (0 for the first candidate of a sample), ``plane``, ``source_index``,
    ``label``, ``start_index`` (row in the plane's start-point array), ``latent_<name>``,
    ``accepted``, ``first_reason`` (the first rejection reason in the order of the tests, ""
    if accepted), one bool ``reason_<name>`` per reason found, ``steps`` (movement length),
    ``solved_steps`` (steps of the IK solved before the candidate was stopped) and
    ``joint_min`` / ``joint_max`` (candidate, joint) in deg over the solved steps (NaN when
    the IK did not run).
    """
    sample = np.concatenate([r["sample"] for r in rounds]) if rounds else np.zeros(0, int)
    names: list[str] = []
    for r in rounds:
        names += [k for k in r["reasons"] if k not in names]
    reasons = {k: np.concatenate([r["reasons"].get(k, np.zeros(len(r["sample"]), dtype=bool))
                                  for r in rounds]) if rounds else np.zeros(0, bool)
               for k in names}
    first = np.full(len(sample), "", dtype=object)
    for k in reversed(names):  # the earliest test wins
        first[reasons[k]] = k
    width = max([len(k) for k in names] + [1])

    def cat(key, dtype):
        return np.concatenate([r[key] for r in rounds]).astype(dtype) if rounds else \
            np.zeros(0, dtype)

    q_range = np.concatenate([r["q_range"] for r in rounds]) if rounds else np.zeros((0, 2, 4))
    source = sources[sample]
    data_vars = {
        "sample": ("candidate", sample.astype(np.int32),
                   {"long_name": "index of the shard sample the candidate was drawn for"}),
        "attempt": ("candidate", cat("attempt", np.int16),
                    {"long_name": "attempt number of that sample, from 0"}),
        "plane": ("candidate", np.full(len(sample), plane_code(plane), dtype=np.int8), PLANE_FLAGS),
        "source_index": ("candidate", source.astype(np.int32),
                         {"long_name": "index of the source character in characters.zarr"}),
        "label": ("candidate", characters.labels[source].astype(np.int16),
                  {"long_name": "character class", "letters": characters.letters}),
        "start_index": ("candidate", cat("start_index", np.int32),
                        {"long_name": "row of the start point in the plane's start-point array"}),
        "accepted": ("candidate", cat("accepted", bool), {"long_name": "candidate accepted"}),
        "first_reason": ("candidate", first.astype(f"<U{width}"),
                         {"long_name": "first rejection reason, empty if accepted"}),
        "steps": ("candidate", cat("steps", np.int16), {"units": "step"}),
        "solved_steps": ("candidate", cat("solved", np.int16),
                         {"units": "step", "long_name": "IK steps solved before the stop"}),
        "joint_min": (("candidate", "joint"), q_range[:, 0].astype(np.float32),
                      {"units": "deg", "long_name": "smallest joint angle over the solved steps"}),
        "joint_max": (("candidate", "joint"), q_range[:, 1].astype(np.float32),
                      {"units": "deg", "long_name": "largest joint angle over the solved steps"}),
    }
    for name, latent in augmentation.LATENTS.items():
        values = np.concatenate([r["latents"][name] for r in rounds]) if rounds else np.zeros(0)
        data_vars[f"latent_{name}"] = ("candidate", values.astype(np.float32),
                                       {"units": latent.unit})
    for name in names:
        data_vars[f"reason_{name}"] = ("candidate", reasons[name],
                                       {"long_name": f"rejected for {name}"})
    return xr.Dataset(data_vars, coords={"joint": list(arm.JOINT_NAMES)},
                      attrs={"reasons": json.dumps(names)})


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
