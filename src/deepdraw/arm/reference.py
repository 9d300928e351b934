"""Reference inverse kinematics: per-point scipy SLSQP like the original (slow; tests, benchmarks)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from deepdraw.arm.model import (JOINT_MAX, JOINT_MIN, ORIGINAL_SLSQP_GUESS, Q0, _check_joints,
                                forward_kinematics, jacobian)


def _reference_point(target: np.ndarray, q_prev: np.ndarray, guesses: list[np.ndarray],
                     ftol: float) -> np.ndarray:
    """Per-point SLSQP: argmin |q - q_prev|^2 s.t. FK(q) = target, limits; best over guesses."""
    # imported here: scipy.optimize costs ~0.4 s of CPU at import and only the reference uses it
    import scipy.optimize

    cons = {"type": "eq", "fun": lambda q: forward_kinematics(q) - target,
            "jac": lambda q: jacobian(q)}
    bounds = list(zip(JOINT_MIN, JOINT_MAX))
    best, best_key = None, None
    for guess in guesses:
        res = scipy.optimize.minimize(
            lambda q: 0.5 * np.sum((q - q_prev) ** 2), guess, jac=lambda q: q - q_prev,
            method="SLSQP", bounds=bounds, constraints=[cons],
            options={"ftol": ftol, "maxiter": 500})
        q = np.clip(res.x, JOINT_MIN, JOINT_MAX)
        err = np.linalg.norm(forward_kinematics(q) - target)
        # prefer solutions on the target (1e-6 cm), then the closest to q_prev
        key = (err > 1e-6, np.linalg.norm(q - q_prev) if err <= 1e-6 else err)
        if best_key is None or key < best_key:
            best, best_key = q, key
    return best


def _spread_postures() -> list[np.ndarray]:
    """Initial guesses spread over the joint box: its centre and the 16 points at 1/4, 3/4."""
    lo, hi = JOINT_MIN, JOINT_MAX
    corners = np.stack(np.meshgrid(*[[0.25, 0.75]] * 4, indexing="ij"), axis=-1).reshape(-1, 4)
    return [0.5 * (lo + hi)] + list(lo + corners * (hi - lo))


def inverse_kinematics_reference(targets: ArrayLike, q_start: ArrayLike = Q0,
                                 ftol: float = 1e-14) -> np.ndarray:
    """Exact per-point IK with scipy SLSQP, like the original (slow; for tests and benchmarks).

    Same objective and constraints as :func:`inverse_kinematics`, written smoothly (squared
    distance, vector equality ``FK(q) = target``, bounds) with tight tolerances.  The original
    started every solve from (10, 10, 10, 10); we try that and the previous solution and keep
    the feasible one closest to the previous solution.

    Parameters
    ----------
    targets : (n_time, 3) world cm; NaN rows after the end give NaN.
    q_start : (4,) deg.

    Returns
    -------
    (n_time, 4) joint angles, deg.
    """
    x = np.asarray(targets, dtype=float)
    if x.ndim != 2 or x.shape[-1] != 3:
        raise ValueError(f"targets: expected (n_time, 3) world cm, got shape {x.shape}")
    q_prev = _check_joints(q_start, "q_start").astype(float)
    out = np.full((len(x), 4), np.nan)
    for t, target in enumerate(x):
        if np.isnan(target).any():
            break
        # the first target may be far from q_start: restart from a spread of postures
        guesses = [q_prev, ORIGINAL_SLSQP_GUESS] + (_spread_postures() if t == 0 else [])
        q_prev = _reference_point(target, q_prev, guesses, ftol)
        out[t] = q_prev
    return out
