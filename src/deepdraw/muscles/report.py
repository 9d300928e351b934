"""Tables and figures of the muscle stage: model validation and surrogate accuracy."""

from __future__ import annotations

import csv

import numpy as np

from deepdraw.io import atomic_path
from deepdraw.muscles.anatomy import MUSCLE_NAMES
from deepdraw.contract import DT as STEP_S  # s between frames of a movement


def write_table(path, rows: list[dict]) -> None:
    """CSV of ``rows`` (one dict per muscle), floats to 4 decimals, written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})


def _save(fig, path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def model_figure(path, rows, q, original, derived, trajectory) -> None:
    """Largest steps per muscle in both models, and the movement with the largest original jump."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5))
    x = np.arange(len(MUSCLE_NAMES))
    ax = axes[0]
    ax.bar(x - 0.2, [r["max_step_original_mm"] for r in rows], 0.4, label="original model")
    ax.bar(x + 0.2, [r["max_step_derived_mm"] for r in rows], 0.4, label="derived model")
    ax.set_yscale("log")
    ax.set_xticks(x, MUSCLE_NAMES, rotation=60)
    ax.set_ylabel("largest step between 15-ms frames (mm)")
    ax.set_title("Frame-to-frame steps of the fibre lengths on candidate movements")
    ax.legend(fontsize=8)
    ax = axes[1]
    steps = np.abs(np.diff(original, axis=0))
    steps[trajectory[1:] != trajectory[:-1]] = 0
    frame, m = np.unravel_index(np.nanargmax(np.nan_to_num(steps)), steps.shape)
    rows_t = trajectory == trajectory[frame]
    t = np.arange(rows_t.sum()) * STEP_S
    ax.plot(t, original[rows_t, m], "k-", lw=2, label="original model")
    ax.plot(t, derived[rows_t, m], "C3--", lw=1.5, label="derived model")
    ax.set_title(f"{MUSCLE_NAMES[m]}: the movement with the largest step in the original model")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("fibre length (mm)")
    ax.legend(fontsize=8)
    _save(fig, path)


def surrogate_rows(result: dict) -> list[dict]:
    """One row per muscle: held-out errors on every frame and the frames it could not score."""
    return [{"muscle": name, "rms_mm": float(result["rms_mm"][m]), "max_mm": float(result["max_mm"][m]),
             "rms_mm_continuous": float(result["rms_mm_continuous"][m]),
             "max_mm_continuous": float(result["max_mm_continuous"][m]),
             "frames_scored": int(result["n_frames"][m]),
             "frames_outside_domain": int(result["n_outside_domain"][m]),
             "frames_opensim_nan": int(result["n_opensim_nan"][m]),
             "opensim_jump_movements": int(result["opensim_jump_movements"][m])}
            for m, name in enumerate(MUSCLE_NAMES)]


def surrogate_summary(result: dict, args) -> dict:
    """Validation figures stored in the surrogate's ``info``."""
    return {"heldout_frames": int(result["n_frames_total"]),
            "heldout_movements": int(result["n_movements"]),
            "heldout_movements_outside_domain": int(result["n_movements_outside_domain"]),
            "worst_rms_mm": float(np.nanmax(result["rms_mm"])),
            "worst_max_mm": float(np.nanmax(result["max_mm"])),
            "worst_rms_mm_continuous": float(np.nanmax(result["rms_mm_continuous"])),
            "worst_max_mm_continuous": float(np.nanmax(result["max_mm_continuous"])),
            "opensim_jump_movements": dict(zip(MUSCLE_NAMES, result["opensim_jump_movements"].tolist())),
            "rms_mm": dict(zip(MUSCLE_NAMES, np.round(result["rms_mm"], 5).tolist())),
            "max_mm": dict(zip(MUSCLE_NAMES, np.round(result["max_mm"], 5).tolist())),
            "max_mm_continuous": dict(zip(MUSCLE_NAMES, np.round(result["max_mm_continuous"], 5).tolist())),
            "max_rms_mm": args.max_rms, "max_abs_mm": args.max_abs}


def surrogate_figure(path, result, q, exact, trajectory, max_rms, max_abs) -> None:
    """Held-out RMS and max error per muscle, and the worst muscle's worst movement."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5))
    x = np.arange(len(MUSCLE_NAMES))
    ax = axes[0]
    ax.bar(x - 0.2, result["rms_mm"], 0.4, label="RMS")
    ax.bar(x + 0.2, result["max_mm"], 0.4, label="max |error|")
    ax.axhline(max_rms, color="C0", ls="--", lw=1, label=f"RMS limit {max_rms} mm")
    ax.axhline(max_abs, color="C1", ls="--", lw=1, label=f"max limit {max_abs} mm")
    ax.set_yscale("log")
    ax.set_xticks(x, MUSCLE_NAMES, rotation=60)
    ax.set_ylabel("held-out error (mm)")
    ax.set_title(f"Muscle surrogate vs OpenSim: every frame of {result['n_movements']} "
                 "held-out movements")
    ax.legend(fontsize=8, ncol=2)
    ax = axes[1]
    worst = int(np.nanargmax(result["max_mm"]))
    err = np.abs(result["error"][:, worst])
    t_id = trajectory[int(np.nanargmax(np.nan_to_num(err, nan=-1)))]
    rows = trajectory == t_id
    t = np.arange(rows.sum()) * STEP_S
    ax.plot(t, exact[rows, worst], "k-", lw=2, label="OpenSim")
    ax.plot(t, result["prediction"][rows, worst], "C3--", lw=1.5, label="surrogate")
    ax.set_title(f"{MUSCLE_NAMES[worst]}: held-out movement with its largest error")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("fibre length (mm)")
    ax.legend(fontsize=8)
    _save(fig, path)
