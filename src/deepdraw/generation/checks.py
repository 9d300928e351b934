"""Rejection tests of candidate movements, run on blocks of IK steps to stop failures early."""

from __future__ import annotations

import numpy as np

from deepdraw import arm, muscles

# relative slack on the thresholds: the block-wise running sums may round differently from
# the whole-movement sums of kinematic_rejections, which must accept the same candidates
_MARGIN = 1.0 + 1e-9
# Steps between two rejection checks during the IK: fewer checks cost less overhead, more checks
# stop failing candidates sooner (measured best between 16 and 64 on a 2,000-sample shard).
CHECK_EVERY = 32


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
