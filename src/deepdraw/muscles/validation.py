"""Validate a derived model against the original on candidate movements.

Two questions per muscle, on movements drawn before any muscle-based rejection:

* **Continuity.** A *jump* is a frame-to-frame step that departs from its neighbours' steps
  by more than ``jump_tol_mm`` (a smooth movement changes its step slowly; a wrapping switch
  changes the length by millimetres within one 15-ms frame whatever the speed). The largest
  step of each muscle on frames without a jump is its smooth baseline.
* **Agreement.** Where the original is continuous for the muscle (no jump in the whole
  movement) and physiological (inside the fibre range), how far the derived model's lengths
  are from the original's (median, 99th percentile, max).
"""

from __future__ import annotations

import numpy as np

from deepdraw.muscles.anatomy import MUSCLE_NAMES
from deepdraw.muscles.validity import MAX_FIBER_MM, MIN_FIBER_MM

JUMP_TOL_MM = 1.0


def step_anomalies(lengths: np.ndarray, trajectory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps and their departure from the neighbouring steps, per frame and muscle.

    Parameters
    ----------
    lengths : (n, 25) mm, frames of concatenated movements
    trajectory : (n,) movement of each frame

    Returns
    -------
    step : (n, 25) |L[t] - L[t-1]| (NaN at each movement's first frame)
    anomaly : (n, 25) |step_t - median of the up to four neighbouring steps of the movement|
        (signed steps; NaN where no neighbour exists)
    """
    n = len(lengths)
    signed = np.full(lengths.shape, np.nan)
    same = trajectory[1:] == trajectory[:-1]
    signed[1:][same] = np.diff(lengths, axis=0)[same]
    neighbours = []
    for shift in (-2, -1, 1, 2):
        moved = np.full(lengths.shape, np.nan)
        src = np.arange(n) + shift
        ok = (src >= 0) & (src < n)
        ok[ok] &= trajectory[src[ok]] == trajectory[ok]
        moved[ok] = signed[src[ok]]
        neighbours.append(moved)
    with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
        sup.filter(RuntimeWarning)
        reference = np.nanmedian(np.stack(neighbours), axis=0)
    return np.abs(signed), np.abs(signed - reference)


def compare_models(original: np.ndarray, derived: np.ndarray, trajectory: np.ndarray,
                   jump_tol_mm: float = JUMP_TOL_MM) -> list[dict]:
    """One row per muscle: continuity of both models and their agreement (module docstring).

    Parameters
    ----------
    original, derived : (n, 25) mm
        OpenSim fibre lengths of the same frames under the two models.
    trajectory : (n,) movement of each frame
    """
    ids, inverse = np.unique(trajectory, return_inverse=True)
    rows = []
    summaries = {}
    for label, lengths in (("original", original), ("derived", derived)):
        step, anomaly = step_anomalies(lengths, trajectory)
        jump = np.nan_to_num(anomaly) > jump_tol_mm
        moved = np.zeros((len(ids), lengths.shape[1]), dtype=bool)
        np.logical_or.at(moved, inverse, jump)
        summaries[label] = (step, anomaly, jump, moved)
    step_o, anomaly_o, _, moved_o = summaries["original"]
    step_d, anomaly_d, jump_d, moved_d = summaries["derived"]
    with np.errstate(invalid="ignore"):
        physiological = (original >= MIN_FIBER_MM) & (original <= MAX_FIBER_MM)
    for m, name in enumerate(MUSCLE_NAMES):
        continuous = ~moved_o[inverse, m] & physiological[:, m] & np.isfinite(derived[:, m])
        diff = np.abs(derived[continuous, m] - original[continuous, m])
        smooth = np.where(jump_d[:, m], np.nan, step_d[:, m])
        rows.append({
            "muscle": name,
            "max_step_original_mm": float(np.nanmax(step_o[:, m])),
            "max_step_derived_mm": float(np.nanmax(step_d[:, m])),
            "smooth_baseline_mm": float(np.nanmax(smooth)),
            "max_anomaly_original_mm": float(np.nanmax(anomaly_o[:, m])),
            "max_anomaly_derived_mm": float(np.nanmax(anomaly_d[:, m])),
            "movements_with_jump_original": int(moved_o[:, m].sum()),
            "movements_with_jump_derived": int(moved_d[:, m].sum()),
            "frames_compared": int(continuous.sum()),
            "agreement_median_mm": float(np.median(diff)) if diff.size else float("nan"),
            "agreement_p99_mm": float(np.percentile(diff, 99)) if diff.size else float("nan"),
            "agreement_max_mm": float(diff.max()) if diff.size else float("nan"),
            "opensim_nan_original": int(np.isnan(original[:, m]).sum()),
            "opensim_nan_derived": int(np.isnan(derived[:, m]).sum()),
        })
    return rows
