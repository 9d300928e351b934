"""Acceptance tests of a solved movement: hand tracing error and joint jerk (the original's)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from deepdraw.arm.ik import _check_targets
from deepdraw.arm.model import _check_joints, forward_kinematics


def tracing_error(targets: ArrayLike, q: ArrayLike) -> np.ndarray:
    """Sum over time of the hand error, per sample (the original's IK acceptance criterion).

    Parameters
    ----------
    targets : (n_samples, n_time, 3) world cm, NaN padding.
    q : (n_samples, n_time, 4) deg, NaN padding.

    Returns
    -------
    (n_samples,) sum_t |target_t - FK(q_t)|, cm; padding rows are ignored.
    """
    x = _check_targets(targets)
    q = _check_joints(q)
    if q.shape[:2] != x.shape[:2]:
        raise ValueError(f"q: shape {q.shape} does not match targets {x.shape} (n_samples, n_time)")
    pad = np.isnan(x).any(axis=-1)
    err = np.linalg.norm(x - forward_kinematics(q), axis=-1)
    # a NaN posture on a real target is a failure, not padding
    err = np.where(pad, 0.0, np.where(np.isnan(err), np.inf, err))
    return err.sum(axis=1)


def _gradient_padded(f: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``np.gradient`` along axis 1 (unit spacing, first-order edges) for each sample's prefix.

    Parameters
    ----------
    f : (n, T, k); rows ``>= length[i]`` are ignored and come back NaN.
    length : (n,) number of valid steps (>= 2).
    """
    n, n_time = f.shape[:2]
    g = np.full_like(f, np.nan)
    g[:, 1:-1] = 0.5 * (f[:, 2:] - f[:, :-2])
    rows = np.arange(n)
    g[:, 0] = f[:, 1] - f[:, 0]
    last = length - 1
    g[rows, last] = f[rows, last] - f[rows, last - 1]
    g[np.arange(n_time)[None, :] >= length[:, None]] = np.nan
    return g


def joint_jerk_series(q: ArrayLike) -> np.ndarray:
    """Third derivative of the joint angles per time step, as the original computed it.

    Three successive ``np.gradient`` along time (central differences inside, one-sided
    first-order differences at each sample's first and last valid step), unit step:
    deg/step^3.

    Parameters
    ----------
    q : (n_samples, n_time, 4) deg, NaN padding after each sample's end.

    Returns
    -------
    (n_samples, n_time, 4) deg/step^3, NaN on padding.
    """
    q = _check_joints(q)
    if q.ndim != 3:
        raise ValueError(f"q: expected (n_samples, n_time, 4) deg, got shape {q.shape}")
    valid = ~np.isnan(q).any(axis=-1)
    if (valid[:, 1:] & ~valid[:, :-1]).any():
        raise ValueError("q: NaN rows are allowed only as padding after each sample's end")
    length = valid.sum(axis=1)
    if (length < 2).any():
        raise ValueError("q: every sample needs at least 2 valid time steps for the jerk")
    g = q
    for _ in range(3):
        g = _gradient_padded(g, length)
    return g


def joint_jerk(q: ArrayLike) -> np.ndarray:
    """Joint jerk per sample: the original's ``compute_jerk``.

    The Frobenius norm over joints and valid time steps of :func:`joint_jerk_series`
    (deg/step^3; not normalised by duration, so it grows with trajectory length as in the
    original, whose threshold was 1).

    Parameters
    ----------
    q : (n_samples, n_time, 4) deg, NaN padding.

    Returns
    -------
    (n_samples,) deg/step^3.
    """
    jerk = joint_jerk_series(q)
    return np.sqrt(np.nansum(jerk ** 2, axis=(1, 2)))
