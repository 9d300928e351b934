"""Exact muscle lengths from OpenSim, one frame at a time.

The model couples the clavicle and scapula coordinates to ``shoulder_elv``
(CoordinateCouplerConstraints), so the state is *assembled* after setting the four arm
coordinates; without assembly the shoulder girdle stays at its default pose and
shoulder-muscle lengths are off by tens of mm.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from deepdraw.arm import JOINT_NAMES
from deepdraw.cliutil import progress
from deepdraw.muscles.anatomy import MUSCLE_NAMES


class OpenSimModelError(RuntimeError):
    """The OpenSim model file could not be loaded or lacks a required coordinate/muscle."""


class OpenSimArm:
    """A loaded model with handles on the four arm coordinates and the 25 muscles."""

    def __init__(self, model_path: str | os.PathLike):
        import opensim  # imported here: only this backend needs it, and it takes ~1 s to import
        path = Path(model_path)
        if not path.is_file():
            raise OpenSimModelError(f"OpenSim model file not found: {path}")
        opensim.Logger.setLevelString("error")  # per-frame solver chatter would flood the logs
        try:
            self.model = opensim.Model(str(path))
            self.state = self.model.initSystem()
        except Exception as exc:  # OpenSim raises RuntimeError subclasses with XML details
            raise OpenSimModelError(f"could not load OpenSim model {path}: {exc}") from exc
        try:
            coords = self.model.getCoordinateSet()
            self.coordinates = [coords.get(name) for name in JOINT_NAMES]
            muscles = self.model.getMuscles()
            self.muscles = [muscles.get(name) for name in MUSCLE_NAMES]
        except Exception as exc:
            raise OpenSimModelError(
                f"OpenSim model {path} lacks a required coordinate {JOINT_NAMES} or muscle: {exc}"
            ) from exc

    def _pose(self, q_rad) -> None:
        for coordinate, value in zip(self.coordinates, q_rad):
            coordinate.setValue(self.state, float(value), False)
        # One assembly for the four values: satisfies the shoulder-girdle couplers,
        # identical (to 1e-7 mm) to setValue's per-call assembly and ~2x cheaper.
        self.model.assemble(self.state)
        self.model.realizePosition(self.state)

    def lengths(self, q_deg: np.ndarray, kind: str = "fiber") -> np.ndarray:
        """Muscle lengths (mm) of postures ``q_deg`` (n, 4).

        ``kind``: ``"fiber"`` equilibrium fibre lengths (n, 25), ``"mtu"`` musculotendon lengths
        (n, 25), or ``"both"`` (n, 2, 25) [fibre, musculotendon] from one posing per frame.
        NaN where OpenSim raises or returns a non-finite or non-positive value.
        """
        out = np.full((len(q_deg), 2, len(MUSCLE_NAMES)), np.nan)
        frames = np.radians(q_deg)
        # a progress bar only for long calls (the whole-movement checks of a shard, the fit)
        for i, q in enumerate(progress(frames, desc="OpenSim frames", unit="frame",
                                       disable=len(frames) < 1000)):
            if not np.all(np.isfinite(q)):
                continue
            try:
                self._pose(q)
                out[i, 1] = [m.getLength(self.state) * 1000.0 for m in self.muscles]
                if kind != "mtu":  # the path length needs no equilibrium
                    self.model.equilibrateMuscles(self.state)
                    out[i, 0] = [m.getFiberLength(self.state) * 1000.0 for m in self.muscles]
            except RuntimeError:
                continue  # equilibrium/assembly failure: the row stays NaN
        out[~np.isfinite(out) | (out <= 0)] = np.nan
        return {"fiber": out[:, 0], "mtu": out[:, 1], "both": out}[kind]

    def point_depths(self, q_deg: np.ndarray, probes) -> np.ndarray:
        """How far path points are outside wrap objects, (n, len(probes)).

        ``probes``: ``(muscle, path_point, wrap_object)`` names. The depth is
        ``sum((p / r)**2) - 1`` for the point ``p`` in the object's frame and its semi-axes
        ``r`` (ellipsoid; a sphere's radius three times; a cylinder's radius twice, its axis
        ignored): negative exactly where OpenSim finds the point inside the object and drops
        the wrap of that path segment. A smooth function of the posture. NaN where assembly fails.
        """
        import opensim

        handles = []
        for muscle, point, wrap in probes:
            path = self.model.getMuscles().get(muscle).getGeometryPath()
            location = path.getPathPointSet().get(point)
            obj = self._wrap_object(wrap)
            for kind in ("WrapEllipsoid", "WrapSphere", "WrapCylinder"):
                typed = getattr(opensim, kind).safeDownCast(obj)
                if typed is not None:
                    break
            else:
                raise OpenSimModelError(f"wrap object {wrap}: depth needs an ellipsoid, sphere or cylinder")
            if kind == "WrapEllipsoid":
                radii = np.array([typed.get_dimensions().get(i) for i in range(3)])
            elif kind == "WrapSphere":
                radii = np.full(3, typed.get_radius())
            else:
                radii = np.array([typed.get_radius(), typed.get_radius(), np.inf])
            handles.append((location, obj, radii))
        out = np.full((len(q_deg), len(handles)), np.nan)
        for i, q in enumerate(np.radians(q_deg)):
            try:
                self._pose(q)
            except RuntimeError:
                continue
            for j, (location, obj, radii) in enumerate(handles):
                in_body = obj.getFrame().getTransformInGround(self.state).shiftBaseStationToFrame(
                    location.getLocationInGround(self.state))
                local = obj.getTransform().shiftBaseStationToFrame(in_body)
                out[i, j] = np.sum((np.array([local.get(k) for k in range(3)]) / radii) ** 2) - 1.0
        return out

    def _wrap_object(self, name: str):
        bodies = self.model.getBodySet()
        for b in range(bodies.getSize()):
            wraps = bodies.get(b).getWrapObjectSet()
            if wraps.contains(name):
                return wraps.get(name)
        raise OpenSimModelError(f"the model has no wrap object {name!r}")


_WORKER_ARM: OpenSimArm | None = None


def _init_worker(model_path: str) -> None:
    global _WORKER_ARM
    _WORKER_ARM = OpenSimArm(model_path)


def _worker_chunk(task: tuple) -> np.ndarray:
    q, kind = task
    return _worker_result(_WORKER_ARM, q, kind)


def _chunked(q: np.ndarray, kind, model_path, processes: int, chunk: int) -> np.ndarray:
    if processes <= 1 or len(q) <= chunk:
        return _worker_result(OpenSimArm(model_path), q, kind)
    OpenSimArm(model_path)  # fail early, in this process, with a clear message
    tasks = [(q[i:i + chunk], kind) for i in range(0, len(q), chunk)]
    with ProcessPoolExecutor(processes, initializer=_init_worker,
                             initargs=(str(model_path),)) as pool:
        return np.concatenate(list(progress(pool.map(_worker_chunk, tasks), total=len(tasks),
                                            desc="OpenSim frames", unit="chunk")))


def _worker_result(arm: OpenSimArm, q: np.ndarray, kind) -> np.ndarray:
    return arm.point_depths(q, kind[1]) if isinstance(kind, tuple) else arm.lengths(q, kind)


def opensim_point_depths(q, model_path: str | os.PathLike, probes, processes: int = 1,
                         chunk: int = 500) -> np.ndarray:
    """:meth:`OpenSimArm.point_depths` of postures ``q`` (n, 4) deg, in ``processes`` workers."""
    q = np.asarray(q, dtype=float)
    return _chunked(q, ("depths", [tuple(p) for p in probes]), model_path, processes, chunk)


def opensim_lengths(q, model_path: str | os.PathLike, kind: str = "fiber", processes: int = 1,
                    chunk: int = 500) -> np.ndarray:
    """Exact muscle lengths from OpenSim, one frame at a time.

    Parameters
    ----------
    q : array-like of shape (n, 4)
        Joint angles in degrees, in the order of :data:`deepdraw.arm.JOINT_NAMES`; the model's
        other coordinates keep their defaults (the coupled shoulder girdle follows by assembly).
    model_path : path-like
        The ``.osim`` file.
    kind : {"fiber", "mtu", "both"}
        Equilibrium fibre length, musculotendon (path) length (needs no equilibrium), or both
        as (n, 2, 25).
    processes : int, default 1
        Worker processes (each loads its own model); frames are split in chunks.
    chunk : int, default 500
        Frames per task when ``processes > 1``.

    Returns
    -------
    lengths : ndarray of shape (n, 25), or (n, 2, 25) for ``kind="both"``
        mm, in the order of :data:`MUSCLE_NAMES`; NaN where OpenSim failed.

    Raises
    ------
    OpenSimModelError
        If the model file does not load (the message names the file).
    """
    q = np.asarray(q, dtype=float)
    if q.ndim != 2 or q.shape[1] != len(JOINT_NAMES):
        raise ValueError(f"q must have shape (n, {len(JOINT_NAMES)}), got {q.shape}")
    if kind not in ("fiber", "mtu", "both"):
        raise ValueError(f"kind must be 'fiber', 'mtu' or 'both', got {kind!r}")
    return _chunked(q, kind, model_path, processes, chunk)


def opensim_fiber_lengths(q, model_path: str | os.PathLike, processes: int = 1) -> np.ndarray:
    """Equilibrium fibre lengths (n, 25) mm: :func:`opensim_lengths` with ``kind="fiber"``."""
    return opensim_lengths(q, model_path, "fiber", processes)
