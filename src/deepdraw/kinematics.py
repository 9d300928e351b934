"""Kinematic features of the hand per sample and time step, in the writing plane.

The dataset stores the hand (pen-tip) trajectory in the world frame (cm). Each character is
drawn in one plane (:data:`deepdraw.augmentation.PLANE_TO_WORLD`): horizontal samples move in
world (x, y), vertical ones in world (y, z). Projecting back with the same matrix gives
in-plane coordinates in the character's own frame for both planes, so preferred directions
from horizontal and vertical samples are directly comparable (plane invariance).

Only the movement itself counts: before ``onset`` and after ``onset + duration`` the hand is
held still and :func:`movement_mask` is False there.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepdraw.contract import DT, PLANE_TO_WORLD, PLANES

#: Variables the dataset must provide for the tuning analysis.
REQUIRED = ("hand", "plane", "onset", "duration", "label")

#: Feature name -> (long name, units) of :func:`kinematic_features`.
FEATURES = {
    "x": ("in-plane hand position, first axis", "cm"),
    "y": ("in-plane hand position, second axis", "cm"),
    "r": ("polar radius of the in-plane hand position", "cm"),
    "phi": ("polar angle of the in-plane hand position", "rad"),
    "vx": ("in-plane hand velocity, first axis", "cm/s"),
    "vy": ("in-plane hand velocity, second axis", "cm/s"),
    "speed": ("hand speed", "cm/s"),
    "direction": ("movement direction", "rad"),
    "ax": ("in-plane hand acceleration, first axis", "cm/s^2"),
    "ay": ("in-plane hand acceleration, second axis", "cm/s^2"),
    "acceleration": ("magnitude of the hand acceleration", "cm/s^2"),
}


def check_kinematics(dataset: xr.Dataset) -> None:
    """Raise ``ValueError`` naming what is missing if ``dataset`` lacks the kinematics."""
    missing = [name for name in REQUIRED if name not in dataset.variables]
    if missing:
        raise ValueError(
            f"dataset has no kinematics for the tuning analysis: missing {', '.join(missing)} "
            f"(needs {', '.join(REQUIRED)}; see docs/architecture.md)")
    if dataset["hand"].dims != ("sample", "time", "xyz"):
        raise ValueError(f"dataset 'hand' must have dims (sample, time, xyz); got {dataset['hand'].dims}")


def in_plane(hand: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Hand positions in the writing plane's character frame.

    Parameters
    ----------
    hand : (n, T, 3) world positions, cm
    plane : (n,) int, 0 horizontal, 1 vertical

    Returns
    -------
    (n, T, 2) in-plane coordinates, cm (origin = projection of the world origin, the shoulder)
    """
    hand = np.asarray(hand, dtype=float)
    plane = np.asarray(plane)
    if set(np.unique(plane)) - {0, 1}:
        raise ValueError(f"plane codes must be 0 (horizontal) or 1 (vertical); got {np.unique(plane)}")
    out = np.empty(hand.shape[:-1] + (2,))
    for code, name in enumerate(PLANES):
        # PLANE_TO_WORLD has orthonormal columns, so its transpose is the exact inverse on the plane
        out[plane == code] = hand[plane == code] @ PLANE_TO_WORLD[name]
    return out


def movement_mask(onset: np.ndarray, duration: np.ndarray, n_time: int) -> np.ndarray:
    """(n, n_time) bool: True for the steps ``onset <= t < onset + duration``."""
    t = np.arange(n_time)[None, :]
    onset = np.asarray(onset, dtype=int)[:, None]
    return (t >= onset) & (t < onset + np.asarray(duration, dtype=int)[:, None])


def kinematic_features(hand: np.ndarray, plane: np.ndarray, dt: float) -> dict[str, np.ndarray]:
    """Position, velocity, speed, direction and acceleration in the writing plane.

    Parameters
    ----------
    hand : (n, T, 3) world hand positions, cm
    plane : (n,) int plane codes
    dt : time step, s

    Returns
    -------
    dict of (n, T) float arrays, keys :data:`FEATURES`. Derivatives are central differences
    (``numpy.gradient``); direction is ``atan2(vy, vx)`` and is meaningless where speed is 0.
    """
    pos = in_plane(hand, plane)
    vel = np.gradient(pos, dt, axis=1)
    acc = np.gradient(vel, dt, axis=1)
    return {
        "x": pos[..., 0], "y": pos[..., 1],
        "r": np.hypot(pos[..., 0], pos[..., 1]), "phi": np.arctan2(pos[..., 1], pos[..., 0]),
        "vx": vel[..., 0], "vy": vel[..., 1],
        "speed": np.hypot(vel[..., 0], vel[..., 1]), "direction": np.arctan2(vel[..., 1], vel[..., 0]),
        "ax": acc[..., 0], "ay": acc[..., 1],
        "acceleration": np.hypot(acc[..., 0], acc[..., 1]),
    }


def sample_at(values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Linearly interpolate (n, T) ``values`` at fractional time ``steps`` (k,) -> (n, k)."""
    steps = np.clip(np.asarray(steps, dtype=float), 0, values.shape[1] - 1)
    lo = np.floor(steps).astype(int)
    hi = np.minimum(lo + 1, values.shape[1] - 1)
    w = steps - lo
    return values[:, lo] * (1 - w) + values[:, hi] * w


def load_kinematics(dataset: xr.Dataset, samples: np.ndarray) -> xr.Dataset:
    """Features of :func:`kinematic_features` for the dataset rows ``samples``.

    Returns
    -------
    xarray.Dataset with (sample, time) feature variables (units attrs), ``movement``
    (sample, time) bool, and per-sample ``label`` and ``plane``.
    """
    check_kinematics(dataset)
    samples = np.asarray(samples)
    sub = dataset.isel(sample=samples)
    time = dataset["time"].values
    dt = float(time[1] - time[0]) if len(time) > 1 else DT
    hand = sub["hand"].values
    plane = sub["plane"].values.astype(int)
    features = kinematic_features(hand, plane, dt)
    n_time = hand.shape[1]
    data = {name: (("sample", "time"), value, {"long_name": FEATURES[name][0], "units": FEATURES[name][1]})
            for name, value in features.items()}
    data["movement"] = (("sample", "time"),
                        movement_mask(sub["onset"].values, sub["duration"].values, n_time),
                        {"long_name": "inside the movement (onset <= t < onset + duration)"})
    data["label"] = ("sample", sub["label"].values.astype(int))
    data["plane"] = ("sample", plane)
    return xr.Dataset(data, coords={"sample": samples, "time": np.arange(n_time)},
                      attrs={"dt": dt})
