"""Validity of muscle-length trajectories: NaN, physiological range, frame-to-frame jumps."""

from __future__ import annotations

import numpy as np

# Physiological range of a fibre length (mm): the shortest optimal fibre length among the 25
# muscles is 27 mm (ANC) and the longest 279 mm (LAT3); 5-400 mm brackets every length OpenSim
# returns at a converged equilibrium inside the visited joint box, while failed equilibria give
# near-zero or metre-scale values.
MIN_FIBER_MM = 5.0
MAX_FIBER_MM = 400.0
# Largest credible change of one fibre length between consecutive 15-ms frames (mm): smooth
# steps reach 5.3 mm (BRD, elbow moving 4 deg per step), while OpenSim's path-wrapping
# artefacts jump by 6-1300 mm (docs/muscles.md). 8 mm is 1.5x the largest smooth step.
MAX_JUMP_MM = 8.0

# --------------------------------------------------------------------------------------------
# Validity of muscle-length trajectories
# --------------------------------------------------------------------------------------------

def frame_flags(lengths: np.ndarray, *, min_mm: float = MIN_FIBER_MM,
                max_mm: float = MAX_FIBER_MM, max_jump_mm: float = MAX_JUMP_MM,
                same_trajectory: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-frame, per-muscle invalidity masks of consecutive frames along time.

    Parameters
    ----------
    lengths : ndarray of shape (..., T, 25)
        Fibre lengths (mm), time on the second-to-last axis.
    same_trajectory : ndarray of shape (..., T - 1) bool, optional
        Whether frames t and t+1 belong to the same movement (jumps across movements are
        ignored); all True if omitted.

    Returns
    -------
    dict with "muscle_nan", "muscle_range", "muscle_jump" of shape (..., T, 25) bool; a jump
    flags both frames around it (which side failed is unknown).
    """
    lengths = np.asarray(lengths, dtype=float)
    nan = np.isnan(lengths)
    with np.errstate(invalid="ignore"):
        out_range = ~nan & ((lengths < min_mm) | (lengths > max_mm))
        jump_step = np.abs(np.diff(lengths, axis=-2)) > max_jump_mm
    if same_trajectory is not None:
        jump_step &= np.asarray(same_trajectory, dtype=bool)[..., None]
    jump = np.zeros_like(nan)
    jump[..., 1:, :] |= jump_step
    jump[..., :-1, :] |= jump_step
    return {"muscle_nan": nan, "muscle_range": out_range, "muscle_jump": jump}


def valid_trajectories(lengths, durations, *, min_mm: float = MIN_FIBER_MM,
                       max_mm: float = MAX_FIBER_MM, max_jump_mm: float = MAX_JUMP_MM
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Which muscle-length trajectories are valid, and why the others are not.

    Parameters
    ----------
    lengths : array-like of shape (n, 25, T)
        Fibre lengths (mm); only the first ``durations[i]`` frames of sample i are tested
        (the rest is padding and may hold anything).
    durations : array-like of shape (n,) int
    min_mm, max_mm : float
        Physiological range (:data:`MIN_FIBER_MM`, :data:`MAX_FIBER_MM`).
    max_jump_mm : float
        Largest allowed |change| between consecutive 15-ms frames (:data:`MAX_JUMP_MM`).

    Returns
    -------
    ok : ndarray of shape (n,) bool
        True where no reason applies.
    reasons : dict of str -> ndarray of shape (n,) bool
        ``"muscle_nan"`` (some length is NaN, e.g. failed equilibrium or outside the
        surrogate's domain), ``"muscle_range"`` (outside ``[min_mm, max_mm]``) and
        ``"muscle_jump"`` (a frame-to-frame jump above ``max_jump_mm``); not exclusive.
    """
    lengths = np.asarray(lengths, dtype=float)
    durations = np.asarray(durations, dtype=int)
    if lengths.ndim != 3 or len(lengths) != len(durations):
        raise ValueError(f"lengths must be (n, muscles, T) with n = len(durations), got {lengths.shape}")
    steps = lengths.shape[2]
    inside = np.arange(steps)[None, :] < durations[:, None]  # (n, T)
    flags = frame_flags(np.swapaxes(lengths, 1, 2), min_mm=min_mm, max_mm=max_mm,
                        max_jump_mm=max_jump_mm, same_trajectory=inside[:, 1:])
    reasons = {name: np.any(mask & inside[:, :, None], axis=(1, 2)) for name, mask in flags.items()}
    ok = ~np.any(list(reasons.values()), axis=0)
    return ok, reasons


def trajectory_flags(lengths: np.ndarray, trajectory: np.ndarray) -> dict[str, np.ndarray]:
    """Frame flags (n, 25) of concatenated trajectories, jumps only within one trajectory."""
    return frame_flags(lengths, same_trajectory=trajectory[1:] == trajectory[:-1])
