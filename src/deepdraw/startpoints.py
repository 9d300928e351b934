"""Reachable start points for writing characters: load or recompute.

What the original computed (authors' ``dataset/generate_startpoints.py``, read for reference):

* **Start point = the character's centre.**  Characters are scaled into a 10 x 10 cm box centred
  on the origin (``uci_trajectorydata.upscale``), augmented about the origin, and the start
  point is added to every pen position (``generate_data.py``).  So the start point is where the
  centre of the un-augmented character's bounding box lands, not its first pen position.
* **Planes.**  Horizontal characters lie at constant world z (pen x -> world y = -x, pen y ->
  world x); vertical ones at constant world x (pen x -> world -y, pen y -> world z).
* **Workspace.**  A 3 cm grid over world x in [0, 60], y in [-60, 30], z in [-60, 30] cm; a point
  is in the workspace when single-point IK (closest to the default posture) reaches it with an
  error below 1e-2 cm.
* **Coarse search.**  Within each grid plane (constant z, resp. x) a workspace point is a
  candidate when the four corners at +-12 cm along both in-plane axes are also workspace points
  (12 = spacing * ceil(20 / (2 spacing)): a 20 cm box, rounded up to the grid).
* **Fine search.**  A candidate is kept when all 225 points of the 15 x 15 grid with 1 cm spacing
  and in-plane offsets -7..+7 cm around it are reachable with an IK error below 1e-2 cm.

The shipped ``pcr_startingpoints.hdf5`` holds ``horizontal`` (539 x 3) and ``vertical``
(1442 x 3), world cm, on that 3 cm grid.  We recompute the same way, vectorised: every distinct
point is solved once by :func:`deepdraw.arm.inverse_kinematics` (a global search over the
postures that put the hand on the point, so reachability does not depend on an initial guess).

CLI: ``python -m deepdraw.startpoints recompute --output PATH [--spacing CM] [--plane ...]``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from numpy.typing import ArrayLike

from deepdraw import arm, cliutil
from deepdraw.contract import IN_PLANE_AXES, PLANES
from deepdraw.io import atomic_path

WORKSPACE_BOUNDS_CM = ((0.0, 60.0), (-60.0, 30.0), (-60.0, 30.0))  # world x, y, z
MAX_ERROR_CM = 1e-2
FINE_OFFSETS_CM = np.arange(-7.0, 8.0)  # 15 points, 1 cm apart
COARSE_BOX_CM = 20.0
CHUNK = 4096  # points per IK call: bounds the memory of the vectorised search


def _check_plane(plane: str) -> str:
    if plane not in PLANES:
        raise ValueError(f"plane: expected one of {PLANES}, got {plane!r}")
    return plane


def point_errors(points: ArrayLike) -> np.ndarray:
    """Single-point IK error (closest posture to :data:`deepdraw.arm.Q0`), chunked.

    Parameters
    ----------
    points : (m, 3) world cm.

    Returns
    -------
    (m,) |point - FK(IK(point))|, cm (0 up to rounding when reachable).
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    errors = np.empty(len(points))
    for start in range(0, len(points), CHUNK):
        chunk = points[start:start + CHUNK, None, :]
        errors[start:start + CHUNK] = arm.inverse_kinematics(chunk, return_error=True)[1][:, 0]
    return errors


def fine_grid(points: ArrayLike, plane: str) -> np.ndarray:
    """The 15 x 15 grid (1 cm, offsets -7..+7 cm in the plane) around each point.

    Parameters
    ----------
    points : (m, 3) world cm.  plane : "horizontal" or "vertical".

    Returns
    -------
    (m, 225, 3) world cm.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points: expected (m, 3) world cm, got shape {points.shape}")
    u, v = IN_PLANE_AXES[_check_plane(plane)]
    du, dv = np.meshgrid(FINE_OFFSETS_CM, FINE_OFFSETS_CM, indexing="ij")
    offsets = np.zeros((du.size, 3))
    offsets[:, u], offsets[:, v] = du.ravel(), dv.ravel()
    return points[:, None, :] + offsets[None, :, :]


def _unique_errors(points: np.ndarray) -> np.ndarray:
    """IK errors of (..., 3) points, solving each distinct point once."""
    flat = points.reshape(-1, 3)
    unique, inverse = np.unique(np.round(flat, 9), axis=0, return_inverse=True)
    return point_errors(unique)[inverse.ravel()].reshape(points.shape[:-1])


def is_reachable(points: ArrayLike, plane: str, max_error: float = MAX_ERROR_CM) -> np.ndarray:
    """Whether characters can be written around each start point (the original's fine test).

    Parameters
    ----------
    points : (m, 3) candidate start points, world cm.
    plane : "horizontal" or "vertical".
    max_error : IK error threshold per grid point, cm.

    Returns
    -------
    (m,) bool: every point of the 15 x 15 cm grid around the start point is reachable.
    """
    return (_unique_errors(fine_grid(points, plane)) < max_error).all(axis=1)


def workspace_grid(spacing: float) -> np.ndarray:
    """The original's search lattice: (k, 3) world cm over :data:`WORKSPACE_BOUNDS_CM`."""
    if not spacing > 0:
        raise ValueError(f"--spacing: must be a positive number of cm, got {spacing}")
    axes = [np.linspace(lo, hi, int(round((hi - lo) / spacing)) + 1)
            for lo, hi in WORKSPACE_BOUNDS_CM]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def coarse_candidates(workspace: np.ndarray, spacing: float, plane: str) -> np.ndarray:
    """Workspace points whose four in-plane corners at +-n cm are also in the workspace.

    ``n = spacing * ceil(COARSE_BOX_CM / (2 spacing))`` (12 cm for the 3 cm grid).

    Parameters
    ----------
    workspace : (k, 3) reachable lattice points, world cm.

    Returns
    -------
    (c, 3) world cm.
    """
    u, v = IN_PLANE_AXES[_check_plane(plane)]
    n = spacing * math.ceil(COARSE_BOX_CM / (2 * spacing))
    # lattice indices make membership tests exact
    keys = {tuple(k) for k in np.rint(workspace / spacing).astype(np.int64)}
    steps = int(round(n / spacing))
    index = np.rint(workspace / spacing).astype(np.int64)
    keep = np.ones(len(workspace), dtype=bool)
    for su in (-steps, steps):
        for sv in (-steps, steps):
            corner = index.copy()
            corner[:, u] += su
            corner[:, v] += sv
            keep &= np.array([tuple(c) in keys for c in corner], dtype=bool)
    return workspace[keep]


def recompute(spacing: float = 3.0, planes: tuple[str, ...] = PLANES,
              log=sys.stderr) -> dict[str, np.ndarray]:
    """Recompute the start points as the original did (see the module docstring).

    Returns
    -------
    dict plane -> (m, 3) world cm, sorted lexicographically.
    """
    t0 = time.perf_counter()
    lattice = workspace_grid(spacing)
    workspace = lattice[point_errors(lattice) < MAX_ERROR_CM]
    print(f"workspace: {len(workspace)} of {len(lattice)} lattice points reachable "
          f"({time.perf_counter() - t0:.1f} s)", file=log)
    result = {}
    for plane in planes:
        candidates = coarse_candidates(workspace, spacing, plane)
        kept = candidates[is_reachable(candidates, plane)]
        result[plane] = kept[np.lexsort(kept.T[::-1])]
        print(f"{plane}: {len(candidates)} coarse candidates, {len(kept)} start points "
              f"({time.perf_counter() - t0:.1f} s)", file=log)
    return result


def write_start_points(points: dict[str, np.ndarray], path: str | Path, attrs: dict) -> None:
    """Write {plane: (m, 3)} to hdf5 atomically, datasets named by plane, cm."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for plane, values in points.items():
                ds = f.create_dataset(plane, data=np.asarray(values, dtype=float))
                ds.attrs["units"] = "cm"
                ds.attrs["frame"] = "world (x forward, y left, z up; origin at the shoulder)"
            for key, value in attrs.items():
                f.attrs[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = cliutil.parser("python -m deepdraw.startpoints", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("recompute", help="grid search for reachable start points")
    rec.add_argument("--output", required=True, help="output hdf5 path")
    rec.add_argument("--spacing", type=float, default=3.0, help="workspace grid spacing, cm")
    rec.add_argument("--plane", choices=PLANES, action="append",
                     help="plane(s) to compute (default: both)")
    args = cliutil.parse_args(parser, argv)
    planes = tuple(args.plane) if args.plane else PLANES
    t0 = time.perf_counter()
    points = recompute(args.spacing, planes)
    write_start_points(points, args.output, {"spacing_cm": args.spacing,
                                          "max_error_cm": MAX_ERROR_CM,
                                          "created_by": "deepdraw.startpoints recompute"})
    print(json.dumps({"output": str(args.output), "seconds": round(time.perf_counter() - t0, 1),
                      **{p: len(v) for p, v in points.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
