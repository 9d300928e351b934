"""A fast, exact-by-construction muscle-length surrogate built from OpenSim tables.

Every musculotendon (MTU) length of the arm model is a sum ``f_m(shoulder) + g_m(elbow)``: the
shoulder muscles depend on the three shoulder angles only, the elbow muscles on elbow flexion
only, and the biarticular BIClong, BICshort and TRIlong pass points fixed on the humerus, so
their length splits exactly into a shoulder part and an elbow part. The equilibrium fibre
length is a one-dimensional function ``h_m`` of the MTU length (the tendon and the fibre share
one force at a fixed activation). The surrogate therefore stores three OpenSim tables and
interpolates them:

* ``f``: MTU lengths on a regular grid of the shoulder angles at a reference elbow angle,
  interpolated with Catmull-Rom cubics (4 x 4 x 4 nodes per posture); nodes far from every
  visited posture are not evaluated (NaN), and a posture whose stencil touches one is outside
  the domain;
* ``g``: MTU lengths along an elbow sweep at a reference shoulder posture, minus the value at
  the reference elbow angle for the biarticular muscles, interpolated linearly on a fine step;
* ``h``: fibre length against MTU length per muscle, from OpenSim equilibria at postures that
  span each muscle's MTU range, interpolated linearly.

Predictions are NaN outside the joint limits of :mod:`deepdraw.arm`, outside the evaluated
part of the shoulder grid, or outside a muscle's tabulated MTU range.

*Wrap switches.* OpenSim drops a wrap object from a path segment whenever one of the segment's
end points lies inside the object, so the length steps where that point crosses the surface.
For each such switch the grid holds two more columns: the point's depth (a smooth function of
the shoulder angles, negative inside; :meth:`OpenSimArm.point_depths
<deepdraw.muscles.opensim_backend.OpenSimArm.point_depths>`) and the muscle's length without the
wrap; the muscle's own column holds the wrapped branch, continued smoothly across the surface.
A posture takes the branch its interpolated depth selects, so the step is where OpenSim has it.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from deepdraw.arm import JOINT_MAX, JOINT_MIN, JOINT_NAMES
from deepdraw.io import atomic_path
from deepdraw.muscles.anatomy import CROSSES_ELBOW, CROSSES_SHOULDER, MUSCLE_NAMES

_FORMAT = 3  # version of the saved arrays


def catmull_rom_weights(t: np.ndarray) -> np.ndarray:
    """(n, 4) weights of nodes i-1, i, i+1, i+2 at fractions ``t`` (n,) in [0, 1]."""
    t2, t3 = t * t, t * t * t
    return np.stack([0.5 * (-t3 + 2 * t2 - t), 0.5 * (3 * t3 - 5 * t2 + 2),
                     0.5 * (-3 * t3 + 4 * t2 + t), 0.5 * (t3 - t2)], axis=-1)


class CubicGrid:
    """Values (n0, n1, n2, k) on a regular 3-D grid, Catmull-Rom interpolation.

    Parameters
    ----------
    start, step : array-like (3,)
        Coordinates of node (0, 0, 0) and the spacing (deg).
    values : ndarray (n0, n1, n2, k)
        NaN at nodes that were not evaluated.
    """

    def __init__(self, start, step, values):
        self.start = np.asarray(start, dtype=float)
        self.step = np.asarray(step, dtype=float)
        self.values = np.ascontiguousarray(values, dtype=np.float32)
        shape = np.array(self.values.shape[:3])
        self._flat = self.values.reshape(-1, self.values.shape[3])
        stride = np.array([shape[1] * shape[2], shape[2], 1])
        offsets = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)
        self._offsets = offsets @ stride
        self._stride = stride
        self._shape = shape

    def nodes(self) -> np.ndarray:
        """(n0 * n1 * n2, 3) coordinates of all nodes, C order."""
        axes = [self.start[a] + self.step[a] * np.arange(n) for a, n in enumerate(self._shape)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)

    def __call__(self, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """(n, k) interpolated values at ``x`` (n, 3); NaN where the stencil leaves the data."""
        x = np.asarray(x, dtype=float)
        out = np.full((len(x), self.values.shape[3]), np.nan, dtype=np.float64)
        for lo in range(0, len(x), chunk):
            u = (x[lo:lo + chunk] - self.start) / self.step
            with np.errstate(invalid="ignore"):
                cell = np.floor(u)
            base = cell - 1
            inside = np.all((base >= 0) & (base + 3 <= self._shape - 1), axis=1)
            rows = np.flatnonzero(inside)
            if rows.size == 0:
                continue
            frac = u[rows] - cell[rows]
            w = [catmull_rom_weights(frac[:, a]) for a in range(3)]
            weights = (w[0][:, :, None, None] * w[1][:, None, :, None]
                       * w[2][:, None, None, :]).reshape(len(rows), 64).astype(np.float32)
            index = base[rows].astype(np.int64) @ self._stride
            gathered = self._flat[index[:, None] + self._offsets[None, :]]  # (r, 64, k)
            out[lo + rows] = np.einsum("rj,rjk->rk", weights, gathered)
        return out


class MuscleSurrogate:
    """Fibre lengths (mm) of the 25 muscles from OpenSim tables (module docstring).

    Built by :func:`deepdraw.muscles.fitting.build_surrogate`; read with :meth:`load`.

    Attributes
    ----------
    shoulder : CubicGrid
        MTU length tables ``f`` of the muscles crossing the shoulder (columns in the order of
        ``MUSCLE_NAMES[CROSSES_SHOULDER]``), at elbow flexion ``reference_elbow``; then, per
        wrap switch, the depth column and the unwrapped-branch column.
    elbow_start, elbow_step : float
        Elbow sweep (deg).
    elbow_values : ndarray (n_elbow, n_crossing_elbow)
        ``g``: MTU length change along the sweep (mm).
    mtu_knots, fiber_knots : ndarray (25, n_knots)
        ``h``: sorted MTU lengths and the equilibrium fibre lengths there (mm).
    model_sha256 : str
        sha256 of the OpenSim model the tables come from.
    info : dict
        Fit provenance and validation figures.
    switches : list of dict
        Wrap switches ``{"muscle", "point", "object"}`` (module docstring), in column order.
    """

    def __init__(self, shoulder: CubicGrid, elbow_start: float, elbow_step: float,
                 elbow_values, mtu_knots, fiber_knots, model_sha256: str, info: dict | None = None,
                 switches=()):
        self.shoulder = shoulder
        self.elbow_start, self.elbow_step = float(elbow_start), float(elbow_step)
        self.elbow_values = np.asarray(elbow_values, dtype=float)
        self.mtu_knots = np.asarray(mtu_knots, dtype=float)
        self.fiber_knots = np.asarray(fiber_knots, dtype=float)
        self.model_sha256 = str(model_sha256)
        self.info = dict(info or {})
        self._elbow_axis = self.elbow_start + self.elbow_step * np.arange(len(self.elbow_values))
        self.switches = [dict(switch) for switch in switches]
        shoulder_names = list(np.array(MUSCLE_NAMES)[CROSSES_SHOULDER])
        unknown = [w["muscle"] for w in self.switches if w["muscle"] not in shoulder_names]
        if unknown:
            raise ValueError(f"wrap switches of muscles that do not cross the shoulder: {unknown}")
        self._switch_columns = [shoulder_names.index(w["muscle"]) for w in self.switches]
        expected = len(shoulder_names) + 2 * len(self.switches)
        if self.shoulder.values.shape[3] != expected:
            raise ValueError(f"shoulder table has {self.shoulder.values.shape[3]} columns; "
                             f"{expected} expected for {len(self.switches)} wrap switch(es)")

    def in_limits(self, q) -> np.ndarray:
        """(...,) bool: finite and inside the joint limits of :mod:`deepdraw.arm`."""
        q = np.asarray(q, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.all((q >= JOINT_MIN) & (q <= JOINT_MAX), axis=-1)

    def predict_mtu(self, q) -> np.ndarray:
        """Musculotendon lengths (..., 25) mm of postures ``q`` (..., 4) deg."""
        q = np.asarray(q, dtype=float)
        if q.shape[-1] != len(JOINT_NAMES):
            raise ValueError(f"q must end with the {len(JOINT_NAMES)} joint angles, got shape {q.shape}")
        flat = q.reshape(-1, 4)
        out = np.zeros((len(flat), len(MUSCLE_NAMES)))
        shoulder = self.shoulder(flat[:, :3])
        n_muscles = int(CROSSES_SHOULDER.sum())
        for j, column in enumerate(self._switch_columns):
            depth, unwrapped = shoulder[:, n_muscles + 2 * j], shoulder[:, n_muscles + 2 * j + 1]
            inside = depth < 0  # NaN depth (outside the grid) keeps the NaN length
            shoulder[inside, column] = unwrapped[inside]
        out[:, CROSSES_SHOULDER] = shoulder[:, :n_muscles]
        elbow = flat[:, 3]
        for col, m in enumerate(np.flatnonzero(CROSSES_ELBOW)):
            out[:, m] += np.interp(elbow, self._elbow_axis, self.elbow_values[:, col],
                                   left=np.nan, right=np.nan)
        out[~self.in_limits(flat)] = np.nan
        return out.reshape(q.shape[:-1] + (len(MUSCLE_NAMES),))

    def predict(self, q) -> np.ndarray:
        """Equilibrium fibre lengths (..., 25) mm of postures ``q`` (..., 4) deg; NaN outside the domain."""
        mtu = self.predict_mtu(q)
        flat = mtu.reshape(-1, len(MUSCLE_NAMES))
        out = np.empty_like(flat)
        for m in range(len(MUSCLE_NAMES)):
            out[:, m] = np.interp(flat[:, m], self.mtu_knots[m], self.fiber_knots[m],
                                  left=np.nan, right=np.nan)
        return out.reshape(mtu.shape)

    def save(self, path: str | os.PathLike) -> None:
        """Write the tables and the fit information to an ``.npz`` file, atomically."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh, format=np.array(_FORMAT), muscle_names=np.array(MUSCLE_NAMES),
                    joint_names=np.array(JOINT_NAMES),
                    shoulder_start=self.shoulder.start, shoulder_step=self.shoulder.step,
                    shoulder_values=self.shoulder.values, elbow_start=np.array(self.elbow_start),
                    elbow_step=np.array(self.elbow_step), elbow_values=self.elbow_values,
                    mtu_knots=self.mtu_knots, fiber_knots=self.fiber_knots,
                    model_sha256=np.array(self.model_sha256), info=np.array(json.dumps(self.info)),
                    switches=np.array(json.dumps(self.switches)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MuscleSurrogate":
        """Read a surrogate written by :meth:`save`; checks the muscle and joint order."""
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(f"{path}: not a muscle surrogate file ({exc}); rebuild it with "
                             "`snakemake fit_muscle_surrogate`") from exc
        with data:
            if "format" not in data or int(data["format"]) != _FORMAT:
                raise ValueError(f"{path}: muscle surrogate in an older format; rebuild it with "
                                 "`snakemake fit_muscle_surrogate`")
            if tuple(data["muscle_names"]) != MUSCLE_NAMES or tuple(data["joint_names"]) != JOINT_NAMES:
                raise ValueError(f"{path}: muscle/joint order differs from deepdraw.muscles")
            return cls(CubicGrid(data["shoulder_start"], data["shoulder_step"], data["shoulder_values"]),
                       float(data["elbow_start"]), float(data["elbow_step"]), data["elbow_values"],
                       data["mtu_knots"], data["fiber_knots"], str(data["model_sha256"]),
                       json.loads(str(data["info"])), json.loads(str(data["switches"])))
