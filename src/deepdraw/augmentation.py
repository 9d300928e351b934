"""Augmentation of source characters: latent transforms, embedding in 3-D, start points.

Follows the authors' ``dataset/generate_data.py``: ``resize`` (size), then the affine map
shear x rotation, then ``speedify`` (speed). Both resamplings keep the end points and the
first point fixed, rotation and shear act about the origin of the character frame (the centre
of the source character's 10 x 10 cm box), and the start point is added to that origin: the
start point is where the source character's box centre lands, not the first pen position.

One step of a source character is one 200 Hz UCI sample; the original never resamples in
time, it only declares the step to be 15 ms afterwards (see :data:`deepdraw.contract.DT`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from deepdraw.contract import PLANE_TO_WORLD, PLANES

ANGLES_DEG = (-30.0, -15.0, 0.0, 15.0, 30.0)


@dataclass(frozen=True)
class Latent:
    """One augmentation latent: the values it is drawn from and what it does.

    Attributes
    ----------
    name : str
        Key in the latent dicts; stored as the dataset variable ``latent_<name>``.
    values : tuple of float
        The set each sample's value is drawn from, uniformly.
    unit : str
        Units attribute of ``latent_<name>`` ("1" for a factor, "deg", ...).
    label : str
        Readable name for figures and reports.
    apply : callable or None
        ``apply(path (T, 2) cm, latents: Mapping[str, float]) -> (T', 2) cm``, the character
        transform this latent parameterises; several latents may share one function (rotation
        and the two shears form one affine map), which is then applied once. None for a latent
        used after the path is made (``noise`` scales the muscle-length noise of
        :func:`deepdraw.spindles.add_length_noise`).
    order : int
        Position of ``apply`` in the transform, lowest first (size 0, affine 1, speed 2).
    """

    name: str
    values: tuple[float, ...]
    unit: str
    label: str
    apply: Callable[[np.ndarray, Mapping[str, float]], np.ndarray] | None = None
    order: int = 0

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"latent name {self.name!r} must be an identifier (latent_<name> variables)")
        values = tuple(float(v) for v in self.values)
        if not values or len(set(values)) != len(values) or not np.isfinite(values).all():
            raise ValueError(f"latent {self.name!r}: values must be distinct finite numbers; got {self.values}")
        object.__setattr__(self, "values", values)


#: name -> :class:`Latent`, in drawing order (the order fixes which draws the rng makes).
LATENTS: dict[str, Latent] = {}


def register(latent: Latent) -> Latent:
    """Add ``latent`` to :data:`LATENTS`; drawing, transform, shard tables, bias report and
    data figures then handle it. ValueError when the name is taken."""
    if latent.name in LATENTS:
        raise ValueError(f"latent {latent.name!r} is already registered")
    LATENTS[latent.name] = latent
    return latent


def unregister(name: str) -> Latent:
    """Remove a latent from :data:`LATENTS` (tests register toy latents and remove them)."""
    return LATENTS.pop(name)


class _LatentSets(Mapping):
    """Read-only view name -> values of the registered latents."""

    def __getitem__(self, name):
        return LATENTS[name].values

    def __iter__(self):
        return iter(LATENTS)

    def __len__(self):
        return len(LATENTS)


#: name -> tuple of values of every registered latent (a live view of :data:`LATENTS`).
LATENT_SETS = _LatentSets()


def describe_latents() -> str:
    """The registered latents as JSON (name -> values, unit, order, transform), in drawing order.

    Stored in each shard's and the dataset's attributes and given to the shard rule as a
    parameter, so that registering or changing a latent makes Snakemake regenerate the shards.
    """
    return json.dumps({name: {"values": list(lat.values), "unit": lat.unit, "order": lat.order,
                              "transform": lat.apply.__name__ if lat.apply else None}
                       for name, lat in LATENTS.items()})


def draw_latents(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` sets of latents, each uniformly from its registered values.

    Returns
    -------
    dict name -> (n,) float array, for every latent of :data:`LATENTS` (study: size
    (factor), rotation, shear_x, shear_y (deg), speed (factor), noise (fraction of each
    muscle's std over time))
    """
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    return {name: rng.choice(np.asarray(latent.values, dtype=float), size=n)
            for name, latent in LATENTS.items()}


def _n_points(n: int, factor: float) -> int:
    """``floor(n * factor)`` as the original's ``int(n * factor)``, immune to 0.7 * 100 = 69.99.."""
    return int(np.floor(n * factor + 1e-9))


def _check_path(traj2d: np.ndarray) -> np.ndarray:
    traj2d = np.asarray(traj2d, dtype=float)
    if traj2d.ndim != 2 or traj2d.shape[1] != 2 or len(traj2d) < 2:
        raise ValueError(f"trajectory must be a (T, 2) array with T >= 2; got {traj2d.shape}")
    if not np.isfinite(traj2d).all():
        raise ValueError("trajectory has NaN or inf; strip the padding (use its length) first")
    return traj2d


def _resample(values: np.ndarray, n_new: int) -> np.ndarray:
    """(T, 2) values linearly interpolated at ``n_new`` evenly spaced times over steps 0..T-1."""
    steps = np.arange(len(values))
    times = np.linspace(0, steps[-1], n_new)
    return np.column_stack([np.interp(times, steps, values[:, k]) for k in range(values.shape[1])])


def resize(traj2d: np.ndarray, size: float) -> np.ndarray:
    """Scale a character by resampling its per-step displacement to ``floor(size * T)`` steps.

    The displacement profile (velocity per step) is interpolated at ``floor(size * T)``
    evenly spaced times over the original duration and integrated from the first point, so
    the pen keeps its speed profile and the drawing grows by about ``size`` around its first
    point (the original's ``resize``).

    Parameters
    ----------
    traj2d : (T, 2) cm
    size : float > 0

    Returns
    -------
    (floor(size * T), 2) cm, starting at ``traj2d[0]``
    """
    traj2d = _check_path(traj2d)
    n_new = _n_points(len(traj2d), size)
    if size <= 0 or n_new < 2:
        raise ValueError(f"size {size} leaves fewer than 2 points of {len(traj2d)}")
    displacement = np.vstack([np.zeros((1, 2)), np.diff(traj2d, axis=0)])
    return np.cumsum(_resample(displacement, n_new), axis=0) + traj2d[0]


def speed_up(traj2d: np.ndarray, speed: float) -> np.ndarray:
    """Resample a trajectory to ``floor(T / speed)`` evenly spaced points (faster = fewer).

    Parameters
    ----------
    traj2d : (T, 2) cm
    speed : float > 0

    Returns
    -------
    (floor(T / speed), 2) cm, same first and last point, linear interpolation in between
    """
    traj2d = _check_path(traj2d)
    n_new = _n_points(len(traj2d), 1.0 / speed) if speed > 0 else 0
    if n_new < 2:
        raise ValueError(f"speed {speed} leaves fewer than 2 points of {len(traj2d)}")
    return _resample(traj2d, n_new)


def affine_matrix(rotation: float, shear_x: float, shear_y: float) -> np.ndarray:
    """(2, 2) map ``[[1, tan sx], [tan sy, 1]] @ R(rotation)``, angles in degrees."""
    rot, sx, sy = np.deg2rad([rotation, shear_x, shear_y])
    shear = np.array([[1.0, np.tan(sx)], [np.tan(sy), 1.0]])
    turn = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    return shear @ turn


def transform(traj2d: np.ndarray, latents: Mapping[str, float] | None = None,
              **values: float) -> np.ndarray:
    """Apply the transforms of the registered latents to one character, in their order.

    Study latents: resize (size), then shear x rotation, then speed.

    Parameters
    ----------
    traj2d : (T, 2) cm, one character without padding
    latents : mapping name -> value of one sample (keys beyond the transforms' are ignored);
        keyword arguments add to or override it, e.g. ``transform(traj, size=1.3, ...)``

    Returns
    -------
    (T', 2) cm, e.g. (floor(floor(size * T) / speed), 2) for the study's latents
    """
    values = {**(latents or {}), **values}
    path = _check_path(traj2d)
    for apply in transform_steps():
        needed = [lat.name for lat in LATENTS.values() if lat.apply is apply]
        missing = [name for name in needed if name not in values]
        if missing:
            raise ValueError(f"transform: no value for latent(s) {missing}; give every one of "
                             f"{[lat.name for lat in LATENTS.values() if lat.apply]}")
        path = apply(path, values)
    return path


def transform_steps() -> list[Callable[[np.ndarray, Mapping[str, float]], np.ndarray]]:
    """The distinct ``apply`` functions of the registered latents, in their ``order``."""
    steps = {}
    for latent in sorted(LATENTS.values(), key=lambda lat: lat.order):
        if latent.apply is not None:
            steps.setdefault(latent.apply, None)
    return list(steps)


# The study's latents (generate_data.sample_latent_vars of the authors), in their drawing order.
def _size(path, latents):
    return resize(path, latents["size"])


def _affine(path, latents):
    return path @ affine_matrix(latents["rotation"], latents["shear_x"], latents["shear_y"]).T


def _speed(path, latents):
    return speed_up(path, latents["speed"])


for _latent in (
    Latent("size", (0.7, 1.0, 1.3), "1", "size", _size, order=0),
    Latent("rotation", ANGLES_DEG, "deg", "rotation", _affine, order=1),
    Latent("shear_x", ANGLES_DEG, "deg", "shear x", _affine, order=1),
    Latent("shear_y", ANGLES_DEG, "deg", "shear y", _affine, order=1),
    Latent("speed", (0.8, 1.0, 1.2, 1.4), "1", "speed", _speed, order=2),
    Latent("noise", (0.0, 0.1, 0.3), "fraction of the muscle's std over time", "noise"),
):
    register(_latent)


def embed(traj2d: np.ndarray, plane: str, start_point: np.ndarray) -> np.ndarray:
    """Place a 2-D character in the world frame.

    Parameters
    ----------
    traj2d : (T, 2) cm
    plane : "horizontal" (world = (y, -x, 0)) or "vertical" (world = (0, -x, y))
    start_point : (3,) cm, world position of the character frame's origin

    Returns
    -------
    (T, 3) world cm
    """
    if plane not in PLANE_TO_WORLD:
        raise ValueError(f"plane must be one of {PLANES}; got {plane!r}")
    start_point = np.asarray(start_point, dtype=float)
    if start_point.shape != (3,):
        raise ValueError(f"start_point must have shape (3,); got {start_point.shape}")
    return _check_path(traj2d) @ PLANE_TO_WORLD[plane].T + start_point


def load_start_points(path: str | Path, plane: str) -> np.ndarray:
    """Candidate start points of one plane from ``pcr_startingpoints.hdf5``.

    Returns
    -------
    (m, 3) float, world cm
    """
    path = Path(path)
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {PLANES}; got {plane!r}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: start-point file not found; set generation.start_points"
                                " (shipped: resources/pcr_startingpoints.hdf5)")
    try:
        with h5py.File(path, "r") as handle:
            if plane not in handle:
                raise ValueError(f"{path}: no dataset '{plane}' (has: {', '.join(handle)}); "
                                 "expected datasets 'horizontal' and 'vertical' of shape (m, 3)")
            points = np.asarray(handle[plane][()], dtype=float)
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({exc}); restore it from "
                         "resources/ or rerun the startpoints rule") from exc
    well_formed = points.ndim == 2 and points.shape[1] == 3 and len(points) > 0
    if not well_formed or not np.isfinite(points).all():
        raise ValueError(f"{path}: '{plane}' must be a finite (m, 3) array of cm with m >= 1; got "
                         f"shape {points.shape}")
    return points
