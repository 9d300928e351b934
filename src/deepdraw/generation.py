"""One shard of the proprioceptive dataset: augment → inverse kinematics → muscles → spindles.

A shard is identified by ``(plane, shard)``; its random stream derives from the master seed
and that identity only (:func:`deepdraw.io.rng_for`), so a shard's bytes do not depend on
``--cores``, the scheduler or which shards ran before it.

Every candidate sample goes through the same rejection tests, vectorised over all pending
candidates of the shard: the movement must fit in the window, the inverse kinematics must
trace it (summed hand error) with small joint jerk, and every muscle length must be valid
(finite, in range, no frame-to-frame jumps, inside the surrogate's validated domain). The
tests run every :data:`CHECK_EVERY` IK steps (:class:`CandidateChecks`), so a failing
candidate is stopped there instead of being solved to its end. A rejected candidate keeps its
source character and draws new latents and a new start point. Every candidate tried is logged
in the shard's ``candidates`` group (:func:`candidate_table`, :func:`read_candidates`), the
input of the rejection-bias report (:mod:`deepdraw.bias`).
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
from deepdraw.io import atomic_path, rng_for, sample_chunk_encoding, to_zarr, verify_store

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


def draw_candidates(characters: StoredCharacters, sources: np.ndarray, plane: str,
                    start_points: np.ndarray, rng: np.random.Generator
                    ) -> tuple[dict[str, np.ndarray], np.ndarray, list[np.ndarray]]:
    """Draw latents and start points for ``sources`` and augment the source characters.

    Returns
    -------
    latents : dict of (n,) float arrays (:data:`LATENT_NAMES`)
    start_index : (n,) int, row of each drawn start point in ``start_points``
    paths : list of n (T_i, 3) arrays, hand targets in world cm
    """
    latents = augmentation.draw_latents(rng, len(sources))
    start_index = rng.integers(len(start_points), size=len(sources))
    paths = []
    for i, src in enumerate(sources):
        path2d = augmentation.transform(
            characters.trajectories[src],
            size=latents["size"][i], rotation=latents["rotation"][i],
            shear_x=latents["shear_x"][i], shear_y=latents["shear_y"][i],
            speed=latents["speed"][i],
        )
        paths.append(augmentation.embed(path2d, plane, start_points[start_index[i]]))
    return latents, start_index, paths


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
    latents, start_index, paths = draw_candidates(characters, sources, plane, start_points, rng)
    durations = np.array([len(p) for p in paths])
    return latents, start_points[start_index], pad_trajectories(paths), durations


def kinematic_rejections(targets, joints, durations, settings) -> dict[str, np.ndarray]:
    """Boolean (n,) masks of the kinematic rejection reasons (True = rejected)."""
    return {
        "too_long": durations > settings["window_steps"],
        "tracing_error": ~(arm.tracing_error(targets, joints) < settings["max_tracing_error_cm"]),
        "joint_jerk": ~(arm.joint_jerk(joints) < settings["max_joint_jerk"]),
    }


class CandidateChecks:
    """The rejection tests of one round of candidates, run block by block during the IK.

    Called by :func:`deepdraw.arm.inverse_kinematics` as its ``monitor`` after each block of
    steps ``t0 .. t1 - 1``; returns the candidates that failed, whose solve then stops.

    * A candidate whose movement ended inside the block gets the exact kinematic tests
      (:func:`deepdraw.arm.tracing_error`, :func:`deepdraw.arm.joint_jerk`) on its whole
      movement. A candidate still moving is stopped when the hand error summed so far, or
      the joint jerk of its frames that no later step can change, already exceeds the
      threshold: both sums only grow with more steps (a relative margin of 1e-9 keeps
      rounding from ever rejecting a movement the whole-movement test accepts).
    * The muscle lengths of the block's frames of the candidates that pass are computed by
      ``length_model`` and tested with :func:`deepdraw.muscles.valid_trajectories` on the
      block plus its previous frame (the tests are per frame and frame to frame, so the
      blocks together test exactly the whole movement).

    Attributes
    ----------
    reasons : dict str -> (n,) bool, rejection reasons found (a candidate stops at the first
        block that fails, so later failures are not looked for)
    lengths : (n_slots, T, 25) mm, the muscle lengths, written at ``slot[i]`` for candidate i
    """

    def __init__(self, targets: np.ndarray, durations: np.ndarray, settings: dict,
                 length_model, lengths: np.ndarray, slot: np.ndarray,
                 nan_reason: str = "muscle_nan"):
        self.targets, self.durations, self.settings = targets, durations, settings
        self.length_model, self.lengths, self.slot = length_model, lengths, slot
        self.nan_reason = nan_reason
        n = len(durations)
        # in the order of the tests (the candidate table's first reason follows it); the muscle
        # reasons follow in the order muscles.valid_trajectories returns them
        self.reasons: dict[str, np.ndarray] = {k: np.zeros(n, dtype=bool)
                                               for k in ("tracing_error", "joint_jerk")}
        self.error_sum = np.zeros(n)  # hand error summed over the checked steps, cm
        self.jerk_sq = np.zeros(n)  # squared jerk summed over the settled steps
        self.settled = 0  # steps whose jerk is summed in jerk_sq (same for every moving one)
        self.done = np.zeros(n, dtype=bool)  # finished or stopped
        self.failed = np.zeros(n, dtype=bool)

    def _flag(self, reason: str, rows: np.ndarray, mask: np.ndarray) -> None:
        if reason == "muscle_nan":
            reason = self.nan_reason
        if reason not in self.reasons:
            self.reasons[reason] = np.zeros(len(self.durations), dtype=bool)
        self.reasons[reason][rows[mask]] = True
        self.failed[rows[mask]] = True

    def __call__(self, t0: int, t1: int, q: np.ndarray) -> np.ndarray:
        before = self.failed.copy()
        in_block = ~self.done & (self.durations > t0)
        finished = np.flatnonzero(in_block & (self.durations <= t1))
        moving = np.flatnonzero(in_block & (self.durations > t1))
        max_error = self.settings["max_tracing_error_cm"]
        max_jerk = self.settings["max_joint_jerk"]
        if finished.size:
            d = int(self.durations[finished].max())
            error = arm.tracing_error(self.targets[finished, :d], q[finished, :d])
            self._flag("tracing_error", finished, ~(error < max_error))
            self._flag("joint_jerk", finished, ~(arm.joint_jerk(q[finished, :d]) < max_jerk))
        if moving.size:
            qb = q[moving, t0:t1]
            error = np.linalg.norm(self.targets[moving, t0:t1] - arm.forward_kinematics(qb), axis=-1)
            self.error_sum[moving] += np.where(np.isnan(error), np.inf, error).sum(axis=1)
            # jerk of step k is final once steps k + 3 are solved and none is the movement's end
            new_settled = t1 - 3
            if new_settled > self.settled:
                first = max(0, self.settled - 3)  # 3 steps of context before the first new one
                jerk = arm.joint_jerk_series(q[moving, first:t1])
                self.jerk_sq[moving] += np.sum(
                    jerk[:, self.settled - first:new_settled - first] ** 2, axis=(1, 2))
                self.settled = new_settled
            self._flag("tracing_error", moving, self.error_sum[moving] > max_error * _MARGIN)
            self._flag("joint_jerk", moving, self.jerk_sq[moving] > (max_jerk * _MARGIN) ** 2)
        rows = np.concatenate([finished, moving])
        rows = rows[~self.failed[rows]]
        if rows.size:
            self._check_muscles(rows, t0, t1, q)
        self.done[finished] = True
        self.done |= self.failed
        return self.failed & ~before

    def _check_muscles(self, rows: np.ndarray, t0: int, t1: int, q: np.ndarray) -> None:
        frames = np.arange(t0, t1)[None, :] < self.durations[rows, None]
        block = np.full(frames.shape + (len(muscles.MUSCLE_NAMES),), np.nan)
        block[frames] = self.length_model(q[rows, t0:t1][frames])
        slots = self.slot[rows]
        self.lengths[slots, t0:t1] = block
        first = max(t0 - 1, 0)  # the previous frame, for the jump test across blocks
        segment = self.lengths[slots, first:t1] if first < t0 else block
        steps = np.minimum(self.durations[rows], t1) - first
        _, reasons = muscles.valid_trajectories(np.swapaxes(segment, 1, 2), steps)
        for reason, mask in reasons.items():
            self._flag(reason, rows, mask)


_MARGIN = 1.0 + 1e-9
# Steps between two rejection checks during the IK: fewer checks cost less overhead, more checks
# stop failing candidates sooner (measured best between 16 and 64 on a 2,000-sample shard).
CHECK_EVERY = 32


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
    latents = {k: np.zeros(n) for k in LATENT_NAMES}
    start_index = np.zeros(n, dtype=np.int64)
    accepted = np.zeros(n, dtype=bool)
    table = []
    pending = np.arange(n)
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
        for k in LATENT_NAMES:
            latents[k][keep] = lat[k][ok]
        accepted[keep] = True
        table.append({"sample": pending, "attempt": np.full(len(pending), attempt),
                      "start_index": idx, "latents": lat, "accepted": ok, "reasons": reasons,
                      "q_range": q_range, "steps": steps, "solved": solved})
        pending = pending[~ok]
    if pending.size:
        log.warning("%s/%d: %d of %d samples found no valid augmentation in %d attempts",
                    plane, shard, pending.size, n, settings["max_attempts"])
    candidates = candidate_table(table, characters, sources, plane)
    candidates.attrs.update({"plane": plane, "shard": shard, "n_start_points": len(start_points)})
    rejected = Counter({name[len("reason_"):]: int(candidates[name].values.sum())
                        for name in candidates.data_vars if name.startswith("reason_")})
    rejected["gave_up"] = int(pending.size)
    order = np.flatnonzero(accepted)
    shard_ds = _assemble(characters, sources[order], lengths, hand, joints, order,
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
        "plane": ("candidate", np.full(len(sample), PLANES.index(plane), dtype=np.int8),
                  {"flag_values": [0, 1], "flag_meanings": " ".join(PLANES)}),
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
    for name in LATENT_NAMES:
        values = np.concatenate([r["latents"][name] for r in rounds]) if rounds else np.zeros(0)
        data_vars[f"latent_{name}"] = ("candidate", values.astype(np.float32),
                                       {"units": LATENT_UNITS[name]})
    for name in names:
        data_vars[f"reason_{name}"] = ("candidate", reasons[name],
                                       {"long_name": f"rejected for {name}"})
    return xr.Dataset(data_vars, coords={"joint": list(arm.JOINT_NAMES)},
                      attrs={"reasons": json.dumps(names)})


# Samples per block of the assembly: bounds the float64 temporaries of noise, window placement
# and velocity to a few MB while keeping numpy's per-call overhead negligible.
ASSEMBLY_CHUNK = 256


def _assemble(characters: StoredCharacters, sources: np.ndarray, lengths: np.ndarray,
              hand: np.ndarray, joints: np.ndarray, rows: np.ndarray, durations: np.ndarray,
              latents: dict[str, np.ndarray], start_points: np.ndarray, start_index: np.ndarray,
              plane: str, window: int, rng: np.random.Generator) -> xr.Dataset:
    """Noise, window placement and spindle channels for the accepted samples of a shard.

    Parameters
    ----------
    lengths : (n_slots, T, 25) mm, hand : (n_slots, T, 3) cm, joints : (n_slots, T, 4) deg
        Per-sample buffers; the accepted sample k is in slot ``rows[k]``, valid on its first
        ``durations[k]`` steps (later steps hold anything).

    The random stream gives first the onsets of all samples, then the noise of all samples,
    muscles and steps up to the longest movement in C order, so the work can run in blocks of
    :data:`ASSEMBLY_CHUNK` samples (no shard-sized float64 temporaries) with the same result
    as one whole-shard computation.
    """
    n = len(rows)
    n_muscles = len(muscles.MUSCLE_NAMES)
    durations = np.asarray(durations, dtype=int)
    longest = int(durations.max()) if n else 1
    onsets = spindles.draw_onsets(durations, window, rng)
    inputs = np.empty((n, n_muscles, window, 2), dtype=np.float32)
    placed_lengths = np.empty((n, n_muscles, window), dtype=np.float32)
    placed_hand = np.empty((n, window, 3), dtype=np.float32)
    placed_joints = np.empty((n, window, 4), dtype=np.float32)
    after_end = np.arange(longest)[None, None, :] >= durations[:, None, None]
    for a in range(0, n, ASSEMBLY_CHUNK):
        b = min(a + ASSEMBLY_CHUNK, n)
        block = np.ascontiguousarray(np.swapaxes(lengths[rows[a:b], :longest], 1, 2))
        block[np.broadcast_to(after_end[a:b], block.shape)] = np.nan
        noisy = spindles.add_length_noise(block, latents["noise"][a:b], rng)
        d, o = durations[a:b], onsets[a:b]
        spindles.spindle_inputs(spindles.place_in_window(noisy, d, o, window), spindles.DT,
                                out=inputs[a:b])
        placed_lengths[a:b] = spindles.place_in_window(block, d, o, window)
        for source, target in ((hand, placed_hand), (joints, placed_joints)):
            moved = np.swapaxes(source[rows[a:b], :longest], 1, 2)
            target[a:b] = np.swapaxes(spindles.place_in_window(moved, d, o, window), 1, 2)
    start = start_points[start_index].reshape(n, 3)
    data_vars = {
        "spindles": (("sample", "muscle", "time", "channel"), inputs,
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
        "start_index": ("sample", np.asarray(start_index, dtype=np.int32),
                        {"long_name": "row of the start point in the plane's start-point array"}),
        "onset": ("sample", onsets.astype(np.int16), {"units": "step"}),
        "duration": ("sample", durations.astype(np.int16), {"units": "step"}),
        "hand": (("sample", "time", "xyz"), placed_hand,
                 {"units": "cm", "long_name": "hand position, world frame"}),
        "joints": (("sample", "time", "joint"), placed_joints,
                   {"units": "deg", "long_name": "joint angles"}),
        "muscle_length": (("sample", "muscle", "time"), placed_lengths,
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
    shard.add_argument("--surrogate", default=None,
                       help="muscle surrogate (.npz) built from --model (backend surrogate)")
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


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30,
                      top_pad: int = 64 << 20) -> bool:
    """Let glibc's malloc reuse freed blocks instead of returning them to the kernel.

    The generator allocates and frees temporaries of a few MB per IK round and per assembly
    block; by default glibc maps each one afresh (``mmap`` above 128 kB) and the kernel zeroes
    every page on first touch, which measured ~20% of a shard job's CPU time. Serving blocks
    up to ``mmap_threshold`` bytes from the heap, keeping up to ``trim_threshold`` bytes of
    free heap and growing it ``top_pad`` bytes at a time removes most of that for ~100 MB more
    peak memory. Returns False (and changes nothing) where ``mallopt`` is unavailable.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    # glibc's parameter numbers: M_TRIM_THRESHOLD -1, M_TOP_PAD -2, M_MMAP_THRESHOLD -3
    return all(mallopt(param, value) == 1 for param, value in
               ((-3, mmap_threshold), (-1, trim_threshold), (-2, top_pad)))


def main(argv=None) -> None:
    from threadpoolctl import threadpool_limits

    keep_freed_memory()
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
        # the surrogate is NaN exactly where it is not validated against OpenSim
        nan_reason = "muscle_outside_surrogate" if args.backend == "surrogate" else "muscle_nan"
        # OpenSim loads the model at every call: one check per movement instead of per block
        check_every = CHECK_EVERY if args.backend == "surrogate" else settings["window_steps"]
        shard, rejected, candidates = generate_shard(characters, points, args.plane, args.shard,
                                                     settings, args.seed, length_model, nan_reason,
                                                     check_every)
    shard.attrs.update({
        "plane": args.plane, "shard": args.shard, "seed": args.seed,
        "muscle_backend": args.backend, "deepdraw_version": __version__,
        "n_rejected": json.dumps(dict(sorted(rejected.items()))),
        "n_candidates": int(candidates.sizes["candidate"]),
    })
    write_shard(shard, candidates, args.output)
    log.info("%s shard %d: %d samples from %d candidates; rejections %s", args.plane, args.shard,
             shard.sizes["sample"], candidates.sizes["candidate"], dict(rejected))


CANDIDATES_GROUP = "candidates"


def write_shard(shard: xr.Dataset, candidates: xr.Dataset, path: str | Path) -> None:
    """Write a shard store atomically: samples at the root, the candidate table in a group.

    One directory per shard; read the table back with :func:`read_candidates`.
    """
    from zarr.codecs import ZstdCodec

    encoding = sample_chunk_encoding(shard, 256)
    for name in encoding:
        # zstd level 1: the same size as the default level 3 on these float32 arrays (measured
        # 64 MB for 2,000 samples either way) at 40% of its CPU time; shards are intermediates
        encoding[name]["compressors"] = [ZstdCodec(level=1)]
    with atomic_path(path) as tmp:
        # write_empty_chunks: skips zarr's per-chunk scan for chunks equal to the fill value
        # (none are: every sample is finite), ~20% of the write's CPU time
        to_zarr(shard, tmp, mode="w", encoding=encoding, write_empty_chunks=True)
        to_zarr(candidates, tmp, mode="a", group=CANDIDATES_GROUP)


def read_candidates(path: str | Path) -> xr.Dataset:
    """The candidate table of a shard store written by :func:`write_shard`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: shard store not found; run generate_shard first")
    verify_store(path)
    try:
        return xr.open_zarr(path, group=CANDIDATES_GROUP, consolidated=True, chunks=None)
    except (FileNotFoundError, KeyError) as exc:
        raise ValueError(f"{path}: no '{CANDIDATES_GROUP}' group; the shard was made by an older "
                         "deepdraw, rerun generate_shard") from exc


if __name__ == "__main__":
    main()
