"""Muscle fibre lengths of the 25 arm muscles: exact OpenSim evaluation and a fast surrogate.

The study sets the four arm coordinates of the MoBL-ARMS OpenSim model at every time step,
equilibrates the muscles and reads each fibre length (Sandbrink et al. 2023, Methods). Two
backends give that map ``q (..., 4) deg -> fibre length (..., 25) mm``:

* ``"opensim"`` (:func:`opensim_fiber_lengths`): exact, per frame. The model couples the
  clavicle and scapula coordinates to ``shoulder_elv`` (CoordinateCouplerConstraints), so the
  state is *assembled* after setting the four coordinates (as ``Coordinate.setValue`` with its
  default ``enforceConstraints=True`` does); without assembly the shoulder girdle stays at its
  default pose and shoulder-muscle lengths are off by tens of mm.
* ``"surrogate"`` (:class:`MuscleSurrogate`): per-muscle Chebyshev polynomials of only the
  joints each muscle crosses, degree chosen by held-out error, fitted robustly on OpenSim output
  over the postures the dataset visits; for the shoulder muscles whose OpenSim path wraps
  discontinuously, trilinear interpolation of an OpenSim grid of the shoulder angles
  (:class:`ShoulderGrid`). NaN outside the fitted box and, for the grid muscles, in grid
  cells that straddle a wrapping-branch switch or lie off the grid (the generator rejects
  such movements).

OpenSim's muscle equilibrium sometimes fails (NaN, absurd lengths, frame-to-frame jumps along
smooth movements); :func:`valid_trajectories` gives the per-sample rejection reasons the
generator counts, and the surrogate fit drops such frames. See ``docs/muscles.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from deepdraw.arm import JOINT_NAMES
from deepdraw.io import atomic_path

log = logging.getLogger(__name__)

MUSCLE_NAMES = (
    "CORB", "DELT1", "DELT2", "DELT3", "INFSP", "LAT1", "LAT2", "LAT3", "PECM1", "PECM2",
    "PECM3", "SUBSC", "SUPSP", "TMAJ", "TMIN",  # shoulder
    "ANC", "BIClong", "BICshort", "BRA", "BRD", "ECRL", "PT", "TRIlat", "TRIlong", "TRImed",  # elbow
)

# Physiological range of a fibre length (mm): the shortest optimal fibre length among the 25
# muscles is 27 mm (ANC) and the longest 279 mm (LAT3); 5-400 mm brackets every length OpenSim
# returns at a converged equilibrium inside the visited joint box, while failed equilibria give
# near-zero or metre-scale values.
MIN_FIBER_MM = 5.0
MAX_FIBER_MM = 400.0
# Largest credible change of one fibre length between consecutive 15-ms frames (mm). Measured on
# the 17,584 frames of 160 OpenSim-evaluated trajectories of the default dataset (docs/muscles.md):
# smooth steps reach 5.3 mm (BRD, elbow moving 4 deg per step; BICshort 3.0 mm, others < 2 mm),
# while OpenSim's path-wrapping/equilibrium artefacts jump by 6-1300 mm (LAT3 41 mm, BIClong
# 100 mm, TMIN 150 mm, TRIlong 1300 mm). 8 mm is 1.5x the largest smooth step.
MAX_JUMP_MM = 8.0
STEP_S = 0.015  # s between consecutive frames (the study's 15-ms time step)
# A shoulder muscle uses the OpenSim grid instead of its polynomial only if the polynomial's
# held-out RMS exceeds this (the accuracy target) and the grid does better.
GRID_WHEN_RMS_ABOVE_MM = 0.1
# Domain of the grid muscles: a 4-deg grid cell is usable only if none of its 12 edges shows
# a wrapping-branch switch (ShoulderGrid.usable_cells). Measured on the 4-deg shoulder grid near
# the visited postures (docs/muscles.md): the seven shoulder muscles without branch switches
# (DELT2, DELT3, INFSP, PECM2, PECM3, SUBSC, SUPSP) change by at most 4.7 mm along an edge and
# their second differences (change of that change to the next edge) stay <= 0.7 mm, while a
# switch changes a length by 5-300 mm and gives second differences of the size of the jump.
# 6 mm is 1.3x the largest smooth edge. A bend of 2 mm bounds the trilinear interpolation error
# of a smooth length to ~0.25 mm (h^2 f''/8) and catches single nodes on another branch that
# the step test misses; 1 mm (1.4x the smooth maximum) would reject twice as many held-out
# movements (15 instead of 8 of 32).
GRID_MAX_STEP_MM = 6.0
GRID_MAX_BEND_MM = 2.0


class OpenSimModelError(RuntimeError):
    """The OpenSim model file could not be loaded or lacks a required coordinate/muscle."""


# --------------------------------------------------------------------------------------------
# OpenSim backend
# --------------------------------------------------------------------------------------------

class _OpenSimArm:
    """A loaded model with handles on the four coordinates and the 25 muscles."""

    def __init__(self, model_path: str | os.PathLike):
        try:
            import opensim
        except ImportError as exc:  # pragma: no cover - opensim is a declared dependency
            raise OpenSimModelError("the opensim package is required for the opensim backend") from exc
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

    def fiber_lengths(self, q_deg: np.ndarray) -> np.ndarray:
        """(n, 25) mm equilibrium fibre lengths; NaN rows where OpenSim raises."""
        out = np.full((len(q_deg), len(MUSCLE_NAMES)), np.nan)
        radians = np.radians(q_deg)
        for i, q in enumerate(radians):
            if not np.all(np.isfinite(q)):
                continue
            try:
                for coordinate, value in zip(self.coordinates, q):
                    coordinate.setValue(self.state, float(value), False)
                # One assembly for the four values: satisfies the shoulder-girdle couplers,
                # identical (to 1e-7 mm) to setValue's per-call assembly and ~2x cheaper.
                self.model.assemble(self.state)
                self.model.realizePosition(self.state)
                self.model.equilibrateMuscles(self.state)
                out[i] = [m.getFiberLength(self.state) * 1000.0 for m in self.muscles]
            except RuntimeError:
                continue  # equilibrium/assembly failure: the row stays NaN
        out[~np.isfinite(out) | (out <= 0)] = np.nan  # garbage from the solver
        return out


_WORKER_ARM: _OpenSimArm | None = None


def _init_worker(model_path: str) -> None:
    global _WORKER_ARM
    _WORKER_ARM = _OpenSimArm(model_path)


def _worker_chunk(q: np.ndarray) -> np.ndarray:
    return _WORKER_ARM.fiber_lengths(q)


def opensim_fiber_lengths(q, model_path: str | os.PathLike, processes: int = 1,
                          chunk: int = 500) -> np.ndarray:
    """Exact equilibrium fibre lengths from OpenSim, one frame at a time.

    Parameters
    ----------
    q : array-like of shape (n, 4)
        Joint angles in degrees, in the order of :data:`deepdraw.arm.JOINT_NAMES`; the model's
        other coordinates keep their defaults (the coupled shoulder girdle follows by assembly).
    model_path : path-like
        The ``.osim`` file.
    processes : int, default 1
        Worker processes (each loads its own model); frames are split in chunks.
    chunk : int, default 500
        Frames per task when ``processes > 1``.

    Returns
    -------
    lengths : ndarray of shape (n, 25)
        Fibre lengths in mm, in the order of :data:`MUSCLE_NAMES`; NaN where OpenSim failed or
        returned a non-finite/non-positive value. Out-of-range values are kept (they are
        counted by :func:`valid_trajectories`).

    Raises
    ------
    OpenSimModelError
        If the model file does not load (the message names the file).
    """
    q = np.asarray(q, dtype=float)
    if q.ndim != 2 or q.shape[1] != len(JOINT_NAMES):
        raise ValueError(f"q must have shape (n, {len(JOINT_NAMES)}), got {q.shape}")
    if processes <= 1 or len(q) <= chunk:
        return _OpenSimArm(model_path).fiber_lengths(q)
    _OpenSimArm(model_path)  # fail early, in this process, with a clear message
    pieces = [q[i:i + chunk] for i in range(0, len(q), chunk)]
    with ProcessPoolExecutor(processes, initializer=_init_worker,
                             initargs=(str(model_path),)) as pool:
        return np.concatenate(list(pool.map(_worker_chunk, pieces)))


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


def muscle_velocity(lengths, dt: float = STEP_S, axis: int = -1) -> np.ndarray:
    """Muscle velocity (mm/s): central differences of lengths along time (``np.gradient``).

    The same derivative as the velocity channel of :func:`deepdraw.spindles.spindle_inputs`.
    """
    return np.gradient(np.asarray(lengths, dtype=float), dt, axis=axis)


# --------------------------------------------------------------------------------------------
# Polynomial surrogate
# --------------------------------------------------------------------------------------------

_SHOULDER, _ELBOW = (True, True, True, False), (False, False, False, True)
# Joints each muscle's length depends on, measured by perturbing each coordinate by 10 deg in
# OpenSim (tests/test_muscles.py re-checks it): shoulder muscles ignore the elbow, elbow
# muscles ignore the shoulder (their length is an exact 1-D function of elbow flexion), and
# the biarticular BIClong, BICshort and TRIlong depend on all four. Fitting each muscle only
# on its own joints turns a hard 4-D fit into a 3-D or 1-D one.
MUSCLE_JOINTS = np.array(
    [_SHOULDER] * 15
    + [_ELBOW, (True,) * 4, (True,) * 4, _ELBOW, _ELBOW, _ELBOW, _ELBOW, _ELBOW, (True,) * 4, _ELBOW],
    dtype=bool,
)
SHOULDER_ONLY = np.all(MUSCLE_JOINTS == np.array(_SHOULDER), axis=1)
# Candidate total degrees by number of joints: 1-D fits are cheap and exact at high degree;
# 3-D shoulder fits need high degree for the wrapping surfaces; 4-D fits are limited by data.
DEFAULT_DEGREES = {1: tuple(range(2, 15)), 3: tuple(range(4, 13)), 4: tuple(range(3, 8))}


def graded_exponents(degree: int, active=(True, True, True, True)) -> np.ndarray:
    """Exponents (p, 4) of all monomials of total degree <= ``degree`` in the ``active`` joints.

    Sorted by total degree, so the terms of every lower degree are a leading block of rows
    (one basis and one Gram matrix serve all candidate degrees).
    """
    active = np.asarray(active, dtype=bool)
    grids = np.meshgrid(*[np.arange(degree + 1) if a else np.zeros(1, int) for a in active],
                        indexing="ij")
    exps = np.stack([g.ravel() for g in grids], axis=1)
    exps = exps[exps.sum(axis=1) <= degree]
    order = np.lexsort(tuple(exps[:, k] for k in range(3, -1, -1)) + (exps.sum(axis=1),))
    return exps[order]


def n_terms(degree: int, n_active: int = 4) -> int:
    """Number of monomials of total degree <= ``degree`` in ``n_active`` variables."""
    from math import comb
    return comb(degree + n_active, n_active)


def chebyshev_basis_t(x_t: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """Tensor Chebyshev basis, transposed: (p, n) rows ``prod_k T_{e_k}(x_k)``.

    ``x_t`` (4, n) holds points scaled to [-1, 1]. Products of joint pairs are tabulated
    first and then whole rows are gathered (contiguous copies): ~10x faster than gathering
    columns of an (n, p) array, which matters for the generator's throughput.
    """
    top = int(exponents.max()) + 1
    cheb = np.empty((4, top, x_t.shape[1]), dtype=x_t.dtype)
    cheb[:, 0] = 1.0
    if top > 1:
        cheb[:, 1] = x_t
    for k in range(2, top):
        cheb[:, k] = 2.0 * x_t * cheb[:, k - 1] - cheb[:, k - 2]
    first = (cheb[0, :, None] * cheb[1, None, :]).reshape(top * top, -1)
    second = (cheb[2, :, None] * cheb[3, None, :]).reshape(top * top, -1)
    return first[exponents[:, 0] * top + exponents[:, 1]] * second[exponents[:, 2] * top + exponents[:, 3]]


class MuscleSurrogate:
    """Per-muscle Chebyshev polynomials of the joints each muscle crosses, fitted to OpenSim.

    Muscle m is a polynomial of total degree ``degree_[m]`` in the joints of
    ``MUSCLE_JOINTS[m]`` (3 shoulder angles, elbow flexion only, or all four), the degree
    chosen by the error on held-out trajectories. Joint angles are scaled to [-1, 1] on the
    box of the training postures; outside that box predictions are NaN. Prediction evaluates
    one Chebyshev basis per joint group (float32) and one matrix product.

    Shoulder muscles whose OpenSim length is better followed by trilinear interpolation of a
    4-deg grid of OpenSim evaluations (:class:`ShoulderGrid`; chosen per muscle on held-out
    trajectories when ``fit`` gets a grid) are predicted from the grid only, in the cells
    that lie on one smooth wrapping branch (:meth:`ShoulderGrid.usable_cells`), and are NaN
    elsewhere: in cells straddling one of OpenSim's wrapping discontinuities (interpolation
    across it invents lengths on neither branch) and away from the grid's coverage (their
    polynomials cannot follow the branches). The generator rejects such movements.

    Parameters
    ----------
    degrees : dict {n_joints: sequence of int}, default :data:`DEFAULT_DEGREES`
        Candidate total degrees for muscles of 1, 3 or 4 joints.
    margin_deg : float, default 1.0
        The domain is the box of the training postures widened by this many degrees per side.
    ridge : float, default 1e-10
        Tikhonov weight relative to the mean diagonal of the Gram matrix (keeps sparsely
        visited corners of the box from producing huge coefficients).
    outlier_mm : float, default 2.0
        Residual floor above which a training frame is treated as an OpenSim artefact and
        dropped (the threshold is max(outlier_mm, 6 robust sigmas)).
    validation_fraction : float, default 0.2
        Fraction of training trajectories held out to choose each muscle's degree.
    random_state : int, default 0
        Seed of that split.
    grid_max_step_mm, grid_max_bend_mm : float
        Branch-switch thresholds of the grid muscles' domain
        (:data:`GRID_MAX_STEP_MM`, :data:`GRID_MAX_BEND_MM`).

    Attributes
    ----------
    lower_, upper_ : ndarray (4,)
        Domain box in degrees.
    exponents_ : ndarray (p, 4) int
        Union of the terms of all muscles.
    coef_ : ndarray (p, 25)
        Chebyshev coefficients (mm); zero for terms a muscle does not use.
    degree_, n_train_, n_outliers_ : ndarray (25,) int
        Chosen degree, frames used, frames dropped as artefacts, per muscle.
    validation_rms_ : dict {muscle: {degree: rms mm}}
        Held-out RMS (artefacts excluded) of each candidate degree.
    form_ : ndarray (25,) str
        "poly" or "grid" per muscle.
    grid_ : ShoulderGrid or None
        The grid values of the "grid" muscles (float32).
    usable_ : ndarray (n0 - 1, n1 - 1, n2 - 1, k) bool or None
        Grid cells inside the domain of each grid muscle.
    """

    def __init__(self, degrees=None, margin_deg: float = 1.0, ridge: float = 1e-10,
                 outlier_mm: float = 2.0, validation_fraction: float = 0.2, random_state: int = 0,
                 grid_max_step_mm: float = GRID_MAX_STEP_MM,
                 grid_max_bend_mm: float = GRID_MAX_BEND_MM):
        self.grid_max_step_mm = grid_max_step_mm
        self.grid_max_bend_mm = grid_max_bend_mm
        self.degrees = dict(DEFAULT_DEGREES if degrees is None else degrees)
        self.margin_deg = margin_deg
        self.ridge = ridge
        self.outlier_mm = outlier_mm
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.info: dict = {}

    # -- geometry ---------------------------------------------------------------------------
    def _scaled_t(self, q: np.ndarray, dtype=np.float64) -> np.ndarray:
        """(4, n) joint angles mapped to [-1, 1] on the domain box."""
        x = 2.0 * (q - self.lower_) / (self.upper_ - self.lower_) - 1.0
        return np.ascontiguousarray(x.T, dtype=dtype)

    def in_domain(self, q) -> np.ndarray:
        """(...,) bool: the posture is finite and inside the fitted box."""
        q = np.asarray(q, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.all((q >= self.lower_) & (q <= self.upper_), axis=-1)

    # -- fitting ----------------------------------------------------------------------------
    def _solve(self, gram: np.ndarray, rhs: np.ndarray, p: int) -> np.ndarray:
        g = gram[:p, :p]
        lam = self.ridge * np.trace(g) / p
        return np.linalg.solve(g + lam * np.eye(p), rhs[:p])

    def _robust_fit(self, basis: np.ndarray, y: np.ndarray, use: np.ndarray, p: int,
                    rounds: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """Fit on ``use`` frames, then drop artefact frames (large residuals) and refit.

        ``basis`` is (p_max, n) (transposed); returns coefficients and the kept frames.
        """
        keep = use.copy()
        for _ in range(rounds):
            b = basis[:p, keep]
            coef = self._solve(b @ b.T, b @ y[keep], p)
            resid = np.abs(coef @ basis[:p, use] - y[use])
            sigma = 1.4826 * np.median(resid)
            new = use.copy()
            new[use] = resid <= max(self.outlier_mm, 6.0 * sigma)
            if np.array_equal(new, keep):
                break
            keep = new
        return coef, keep

    def fit(self, q, lengths, groups=None, grid: "ShoulderGrid | None" = None) -> "MuscleSurrogate":
        """Fit to OpenSim fibre lengths.

        Parameters
        ----------
        q : array-like (n, 4)
            Joint angles (deg).
        lengths : array-like (n, 25)
            OpenSim fibre lengths (mm); NaN marks frames already known to be invalid
            (failed equilibrium, out of range, jumps), ignored for that muscle.
        groups : array-like (n,), optional
            Trajectory of each frame; the degree-selection split is by trajectory (frames of
            one movement are strongly correlated). Each frame is its own group if omitted.
        grid : ShoulderGrid, optional
            OpenSim on a regular grid of the shoulder angles (:func:`shoulder_grid`). Its
            evaluated nodes are extra training frames for the shoulder-only muscles, and a
            shoulder muscle whose polynomial misses :data:`GRID_WHEN_RMS_ABOVE_MM` on the
            held-out trajectories and whose grid interpolation does better (on the frames
            inside the grid's domain) is predicted from the grid (``form_``).

        Returns
        -------
        self
        """
        q = np.asarray(q, dtype=float)
        y_all = np.asarray(lengths, dtype=float)
        if q.ndim != 2 or q.shape[1] != 4 or y_all.shape != (len(q), len(MUSCLE_NAMES)):
            raise ValueError(f"need q (n, 4) and lengths (n, {len(MUSCLE_NAMES)}); "
                             f"got {q.shape} and {y_all.shape}")
        groups = np.arange(len(q)) if groups is None else np.asarray(groups)
        usable = np.all(np.isfinite(q), axis=1) & np.any(np.isfinite(y_all), axis=1)
        if not usable.any():
            raise ValueError("no finite frames to fit")
        self.lower_ = q[usable].min(axis=0) - self.margin_deg
        self.upper_ = q[usable].max(axis=0) + self.margin_deg

        ids = np.unique(groups[usable])
        rng = np.random.default_rng(self.random_state)
        n_val = int(round(self.validation_fraction * len(ids)))
        val_ids = rng.choice(ids, size=n_val, replace=False) if 0 < n_val < len(ids) else ids[:0]
        is_val = np.isin(groups, val_ids)
        q_val, y_val = q[is_val & usable], y_all[is_val & usable]
        if grid is not None:
            # Grid nodes: training frames for the shoulder-only muscles, never validation.
            nodes, values = grid.evaluated()
            inside = np.all((nodes >= self.lower_) & (nodes <= self.upper_), axis=1)
            values = np.where(SHOULDER_ONLY, values, np.nan)[inside]
            q = np.concatenate([q, nodes[inside]])
            y_all = np.concatenate([y_all, values])
            usable = np.concatenate([usable, np.any(np.isfinite(values), axis=1)])
            is_val = np.concatenate([is_val, np.zeros(len(values), dtype=bool)])
        x_t = self._scaled_t(np.where(usable[:, None], q, self.lower_))

        n_muscles = len(MUSCLE_NAMES)
        coefs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.degree_ = np.zeros(n_muscles, dtype=int)
        self.n_train_ = np.zeros(n_muscles, dtype=int)
        self.n_outliers_ = np.zeros(n_muscles, dtype=int)
        self.validation_rms_: dict[str, dict[int, float]] = {}
        bases: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        for m, name in enumerate(MUSCLE_NAMES):
            active = tuple(MUSCLE_JOINTS[m])
            n_active = sum(active)
            candidates = sorted(self.degrees[n_active])
            if active not in bases:  # one basis per joint group, at its highest degree
                exps = graded_exponents(max(candidates), active)
                bases[active] = (exps, chebyshev_basis_t(x_t, exps))
            exps, basis = bases[active]
            y = np.where(np.isfinite(y_all[:, m]), y_all[:, m], 0.0)
            use = usable & np.isfinite(y_all[:, m])
            # Artefact frames are found once with a mid-degree fit (artefacts are tens of mm,
            # far above any candidate's fitting error), so all degrees compete on equal data.
            mid = candidates[len(candidates) // 2]
            _, clean = self._robust_fit(basis, y, use, n_terms(mid, n_active))
            train, val = clean & ~is_val, clean & is_val
            scores = {}
            if val.any() and train.any():
                b = basis[:, train]
                gram, rhs = b @ b.T, b @ y[train]
                for d in candidates:
                    p = n_terms(d, n_active)
                    if p > train.sum():
                        continue  # not enough frames for this degree
                    c = self._solve(gram, rhs, p)
                    scores[d] = float(np.sqrt(np.mean((c @ basis[:p, val] - y[val]) ** 2)))
            best = min(scores, key=scores.get) if scores else candidates[0]
            p = n_terms(best, n_active)
            coef, kept = self._robust_fit(basis, y, use, p)
            coefs[m] = (exps[:p], coef)
            self.validation_rms_[name] = scores
            self.degree_[m] = best
            self.n_train_[m] = int(kept.sum())
            self.n_outliers_[m] = int(use.sum() - kept.sum())
        # Union of all muscles' terms, one coefficient column per muscle.
        union = np.unique(np.concatenate([e for e, _ in coefs.values()]), axis=0)
        index = {tuple(e): i for i, e in enumerate(union)}
        self.exponents_ = union
        self.coef_ = np.zeros((len(union), n_muscles))
        for m, (exps, coef) in coefs.items():
            self.coef_[[index[tuple(e)] for e in exps], m] = coef
        self.form_ = np.array(["poly"] * n_muscles, dtype="<U4")
        self.grid_ = self.usable_ = None
        self._prepare()
        if grid is not None and len(q_val):
            # Trilinear on the grid reproduces OpenSim's discontinuous wrapping branches that
            # no polynomial can follow; keep it where it is better on held-out trajectories.
            poly_err = self.predict(q_val) - y_val
            stored = grid.subset(grid.muscles)  # float32, as shipped: same domain as predict
            on_grid = stored.interpolate(q_val, self._usable_cells(stored))
            on_grid[~self.in_domain(q_val)] = np.nan
            for k, m in enumerate(grid.muscles):
                ok = np.isfinite(y_val[:, m]) & np.isfinite(poly_err[:, m])
                if not ok.any():
                    continue
                poly_rms = np.sqrt(np.mean(poly_err[ok, m] ** 2))
                # Compared where the grid is defined: outside it the muscle is NaN (the
                # generator rejects the movement), which is the price of its accuracy.
                both = ok & np.isfinite(on_grid[:, k])
                if not both.any():
                    continue
                grid_rms = np.sqrt(np.mean((on_grid[both, k] - y_val[both, m]) ** 2))
                poly_both = np.sqrt(np.mean(poly_err[both, m] ** 2))
                # Only where the polynomial misses the 0.1-mm target: each grid muscle adds
                # ~100 kB to the shipped file.
                if poly_rms > GRID_WHEN_RMS_ABOVE_MM and grid_rms < poly_both:
                    self.form_[m] = "grid"
            if np.any(self.form_ == "grid"):
                self.grid_ = grid.subset(np.flatnonzero(self.form_ == "grid"))
                self.usable_ = self._usable_cells(self.grid_)
        return self

    def _usable_cells(self, grid: "ShoulderGrid") -> np.ndarray:
        return grid.usable_cells(self.grid_max_step_mm, self.grid_max_bend_mm)

    def _prepare(self) -> None:
        """Split terms and coefficients by joint group for :meth:`predict`."""
        self._groups = []
        for active in np.unique(MUSCLE_JOINTS, axis=0):
            cols = np.flatnonzero(np.all(MUSCLE_JOINTS == active, axis=1))
            rows = np.flatnonzero(np.any(self.coef_[:, cols] != 0, axis=1))
            self._groups.append((cols, self.exponents_[rows],
                                 np.ascontiguousarray(self.coef_[np.ix_(rows, cols)].T, np.float32)))

    # -- prediction -------------------------------------------------------------------------
    def predict(self, q, chunk: int = 2048) -> np.ndarray:
        """Fibre lengths (mm) of postures ``q`` (..., 4) deg -> (..., 25); NaN outside the domain.

        Evaluated in float32 (rounding < 1e-3 mm, far below the fit error) and in chunks that
        keep the basis in cache: several hundred thousand frames per second on one core.
        """
        q = np.asarray(q, dtype=float)
        if q.shape[-1] != 4:
            raise ValueError(f"q must end with the 4 joint angles, got shape {q.shape}")
        flat = q.reshape(-1, 4)
        out = np.full((len(flat), len(MUSCLE_NAMES)), np.nan)
        inside = np.flatnonzero(self.in_domain(flat))
        for start in range(0, len(inside), chunk):
            rows = inside[start:start + chunk]
            x_t = self._scaled_t(flat[rows], np.float32)
            for cols, exps, coef in self._groups:
                out[np.ix_(rows, cols)] = (coef @ chebyshev_basis_t(x_t, exps)).T
        if getattr(self, "grid_", None) is not None:
            # Grid muscles: only cells on one smooth branch; NaN elsewhere (no polynomial
            # fallback: it cannot follow the branches, e.g. LAT1 stepped 25 mm off the grid).
            on_grid = self.grid_.interpolate(flat, self.usable_)
            on_grid[~self.in_domain(flat)] = np.nan
            out[:, self.grid_.muscles] = on_grid
        return out.reshape(q.shape[:-1] + (len(MUSCLE_NAMES),))

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted surrogate (domain, terms, coefficients, grid, fit info) to ``path``.

        An ``.npz`` file, written atomically.
        """
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh, lower=self.lower_, upper=self.upper_, exponents=self.exponents_.astype(np.int8),
                    coef=self.coef_, degree=self.degree_, n_train=self.n_train_,
                    n_outliers=self.n_outliers_, muscle_joints=MUSCLE_JOINTS,
                    muscle_names=np.array(MUSCLE_NAMES), joint_names=np.array(JOINT_NAMES),
                    info=np.array(json.dumps(self.info)), form=self.form_,
                    grid_max_step_mm=np.array(self.grid_max_step_mm),
                    grid_max_bend_mm=np.array(self.grid_max_bend_mm),
                    **(self.grid_.to_arrays() if self.grid_ is not None else {}),
                )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MuscleSurrogate":
        """Read a surrogate written by :meth:`save`; checks the muscle and joint order."""
        with np.load(path, allow_pickle=False) as data:
            if (tuple(data["muscle_names"]) != MUSCLE_NAMES or tuple(data["joint_names"]) != JOINT_NAMES
                    or not np.array_equal(data["muscle_joints"], MUSCLE_JOINTS)):
                raise ValueError(f"{path}: muscle/joint layout differs from deepdraw.muscles")
            self = cls()
            self.lower_, self.upper_ = data["lower"], data["upper"]
            self.exponents_ = data["exponents"].astype(np.intp)
            self.coef_, self.degree_ = data["coef"], data["degree"]
            self.n_train_, self.n_outliers_ = data["n_train"], data["n_outliers"]
            self.info = json.loads(str(data["info"]))
            self.form_ = data["form"]
            if "grid_max_step_mm" in data:
                self.grid_max_step_mm = float(data["grid_max_step_mm"])
                self.grid_max_bend_mm = float(data["grid_max_bend_mm"])
            self.grid_ = ShoulderGrid.from_arrays(data) if "grid_values" in data else None
        # The domain is recomputed from the stored grid values (one source of truth).
        self.usable_ = self._usable_cells(self.grid_) if self.grid_ is not None else None
        self._prepare()
        return self


def muscle_lengths(q, backend: str = "surrogate", surrogate=None, model_path=None,
                   processes: int = 1) -> np.ndarray:
    """Fibre lengths (mm) of postures ``q`` (..., 4) deg -> (..., 25).

    Parameters
    ----------
    backend : {"surrogate", "opensim"}
    surrogate : MuscleSurrogate or path-like
        Required for ``backend="surrogate"``; NaN outside its domain.
    model_path : path-like
        The ``.osim`` file, required for ``backend="opensim"`` (exact, slow).
    processes : int
        Worker processes for the OpenSim backend.
    """
    q = np.asarray(q, dtype=float)
    if backend == "surrogate":
        if surrogate is None:
            raise ValueError("backend='surrogate' needs a surrogate (MuscleSurrogate or .npz path)")
        if not isinstance(surrogate, MuscleSurrogate):
            surrogate = MuscleSurrogate.load(surrogate)
        return surrogate.predict(q)
    if backend == "opensim":
        if model_path is None:
            raise ValueError("backend='opensim' needs model_path")
        flat = q.reshape(-1, 4)
        return opensim_fiber_lengths(flat, model_path, processes=processes).reshape(
            q.shape[:-1] + (len(MUSCLE_NAMES),))
    raise ValueError(f"unknown muscle backend {backend!r} (surrogate or opensim)")


# --------------------------------------------------------------------------------------------
# Fit command
# --------------------------------------------------------------------------------------------

def split_by_trajectory(trajectory: np.ndarray, test_fraction: float,
                        rng: np.random.Generator) -> np.ndarray:
    """(n,) bool: frames of a random ``test_fraction`` of the trajectories (held out whole)."""
    ids = np.unique(trajectory)
    n_test = max(1, int(round(test_fraction * len(ids)))) if len(ids) > 1 else 0
    return np.isin(trajectory, rng.choice(ids, size=n_test, replace=False))


class ShoulderGrid:
    """OpenSim fibre lengths on a regular grid of the three shoulder angles.

    Only nodes near the visited postures are evaluated (the rest hold NaN); the elbow is set
    to a fixed value (irrelevant for the shoulder-only muscles the grid serves).

    Parameters
    ----------
    start, step : ndarray (3,)
        First node and spacing (deg) per shoulder angle.
    values : ndarray (n0, n1, n2, k)
        Fibre lengths (mm) of ``muscles`` at the nodes, NaN where not evaluated or invalid.
    muscles : ndarray (k,) int
        Columns (indices into :data:`MUSCLE_NAMES`) held by ``values``.
    elbow : float
        Elbow flexion (deg) used at the nodes.
    """

    def __init__(self, start, step, values, muscles, elbow: float):
        self.start = np.asarray(start, dtype=float)
        self.step = np.asarray(step, dtype=float)
        self.values = np.asarray(values)
        self.muscles = np.asarray(muscles, dtype=int)
        self.elbow = float(elbow)

    def nodes(self) -> np.ndarray:
        """(n0*n1*n2, 4) deg, all nodes in C order, elbow at ``elbow``."""
        axes = [s + d * np.arange(n) for s, d, n in zip(self.start, self.step, self.values.shape[:3])]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        return np.column_stack([grid, np.full(len(grid), self.elbow)])

    def evaluated(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes with any finite value and their (m, 25) lengths (NaN for other muscles)."""
        flat = self.values.reshape(-1, self.values.shape[-1])
        keep = np.any(np.isfinite(flat), axis=1)
        full = np.full((int(keep.sum()), len(MUSCLE_NAMES)), np.nan)
        full[:, self.muscles] = flat[keep]
        return self.nodes()[keep], full

    def usable_cells(self, max_step_mm: float = GRID_MAX_STEP_MM,
                     max_bend_mm: float = GRID_MAX_BEND_MM) -> np.ndarray:
        """Which grid cells lie on one smooth wrapping branch, per muscle.

        An edge (two neighbouring nodes along one angle) is broken when a node is missing,
        when the length changes by more than ``max_step_mm`` along it, or when its change
        differs by more than ``max_bend_mm`` from the change along *both* neighbouring
        edges on the same line (those that exist): a branch switch is a step, which
        bends the line on both sides of its edge, while a smooth length bends gently.
        Thresholds are for 4-deg edges and scale with the spacing (linearly for the step,
        quadratically for the bend). A cell is usable if none of its 12 edges is broken.

        Parameters
        ----------
        max_step_mm, max_bend_mm : float
            See :data:`GRID_MAX_STEP_MM`, :data:`GRID_MAX_BEND_MM`.

        Returns
        -------
        usable : ndarray of shape (n0 - 1, n1 - 1, n2 - 1, k) bool
        """
        values = np.asarray(self.values, dtype=float)
        scale = self.step / 4.0
        usable = np.ones(tuple(np.array(values.shape[:3]) - 1) + values.shape[3:], dtype=bool)
        for axis in range(3):
            step = np.diff(values, axis=axis)
            bend = np.abs(np.diff(step, axis=axis))
            pad = [(0, 0)] * step.ndim
            pad[axis] = (1, 0)
            before = np.pad(bend, pad, constant_values=np.nan)
            pad[axis] = (0, 1)
            after = np.pad(bend, pad, constant_values=np.nan)
            with np.errstate(invalid="ignore"):
                # fmin ignores a missing neighbour; both missing -> NaN -> not a bend.
                bent = np.fmin(before, after) > max_bend_mm * scale[axis] ** 2
                broken = ~np.isfinite(step) | (np.abs(step) > max_step_mm * scale[axis]) | bent
            # A cell holds 4 edges along this axis: the 2x2 node pairs of the other two axes.
            others = [a for a in range(3) if a != axis]
            for shift in np.ndindex(2, 2):
                index = [slice(None)] * 3
                for a, s in zip(others, shift):
                    index[a] = slice(s, values.shape[a] - 1 + s)
                usable &= ~broken[tuple(index)]
        return usable

    def interpolate(self, q, usable: np.ndarray | None = None) -> np.ndarray:
        """Trilinear interpolation at postures ``q`` (n, 4) -> (n, k).

        NaN off the grid, in cells with a corner not evaluated, and (if given) in cells that
        are not ``usable`` (n0 - 1, n1 - 1, n2 - 1, k) for that muscle.
        """
        q = np.asarray(q, dtype=float)
        shape = np.array(self.values.shape[:3])
        pos = (q[:, :3] - self.start) / self.step
        with np.errstate(invalid="ignore"):
            inside = np.all((pos >= 0) & (pos <= shape - 1), axis=1)
        pos = np.where(inside[:, None], pos, 0.0)
        base = np.minimum(np.floor(pos).astype(int), shape - 2)
        frac = pos - base
        out = np.zeros((len(q), self.values.shape[-1]))
        for corner in np.ndindex(2, 2, 2):  # the 8 corners of each point's cell
            c = np.array(corner)
            weight = np.prod(np.where(c, frac, 1.0 - frac), axis=1)
            idx = base + c
            out += weight[:, None] * self.values[idx[:, 0], idx[:, 1], idx[:, 2]]
        if usable is not None:
            out[~usable[base[:, 0], base[:, 1], base[:, 2]]] = np.nan
        out[~inside] = np.nan
        return out

    def subset(self, muscles) -> "ShoulderGrid":
        """The grid restricted to ``muscles`` (indices into MUSCLE_NAMES), stored as float32."""
        cols = [int(np.flatnonzero(self.muscles == m)[0]) for m in muscles]
        return ShoulderGrid(self.start, self.step, self.values[..., cols].astype(np.float32),
                            muscles, self.elbow)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"grid_start": self.start, "grid_step": self.step, "grid_values": self.values,
                "grid_muscles": self.muscles, "grid_elbow": np.array(self.elbow)}

    @classmethod
    def from_arrays(cls, data) -> "ShoulderGrid":
        return cls(data["grid_start"], data["grid_step"], data["grid_values"],
                   data["grid_muscles"], float(data["grid_elbow"]))


def shoulder_grid(q: np.ndarray, model_path, spacing_deg: float = 4.0,
                  max_distance_deg: float = 14.0, margin_deg: float = 1.0,
                  processes: int = 1) -> ShoulderGrid:
    """OpenSim on a shoulder-angle grid near the visited postures ``q`` (n, 4) deg.

    The 15 shoulder muscles depend on the three shoulder angles only, so a regular grid in
    those angles (spanning the visited box widened by ``margin_deg``; nodes farther than
    ``max_distance_deg`` from every visited posture are not evaluated) fills the gaps between
    trajectories. Measured (docs/muscles.md): adding these nodes as training frames lowers
    held-out errors of the smooth shoulder muscles 5-30x (e.g. SUPSP RMS 0.09 -> 0.005 mm), and
    trilinear interpolation of the grid follows the discontinuous wrapping of LAT1-3, TMAJ and
    TMIN far better than any polynomial (LAT3 RMS 2.0 -> 0.06 mm). 14 deg keeps ~97% of
    held-out frames in fully evaluated cells. Invalid values (outside 5-400 mm) are stored as NaN.
    """
    from scipy.spatial import cKDTree

    lower, upper = q.min(axis=0) - margin_deg, q.max(axis=0) + margin_deg
    count = np.floor((upper[:3] - lower[:3]) / spacing_deg).astype(int) + 2  # covers the box
    empty = ShoulderGrid(lower[:3], np.full(3, spacing_deg),
                         np.full(tuple(count) + (int(SHOULDER_ONLY.sum()),), np.nan),
                         np.flatnonzero(SHOULDER_ONLY), float(np.median(q[:, 3])))
    nodes = empty.nodes()
    distance, _ = cKDTree(q[:, :3]).query(nodes[:, :3])
    near = distance <= max_distance_deg
    lengths = opensim_fiber_lengths(nodes[near], model_path, processes=processes)[:, SHOULDER_ONLY]
    with np.errstate(invalid="ignore"):
        lengths[~((lengths >= MIN_FIBER_MM) & (lengths <= MAX_FIBER_MM))] = np.nan
    flat = empty.values.reshape(-1, empty.values.shape[-1])
    flat[near] = lengths
    return empty


def trajectory_flags(lengths: np.ndarray, trajectory: np.ndarray) -> dict[str, np.ndarray]:
    """Frame flags (n, 25) of concatenated trajectories, jumps only within one trajectory."""
    return frame_flags(lengths, same_trajectory=trajectory[1:] == trajectory[:-1])


def evaluate(surrogate: "MuscleSurrogate", q: np.ndarray, lengths: np.ndarray,
             trajectory: np.ndarray) -> dict[str, np.ndarray]:
    """Per-muscle held-out errors of ``surrogate`` against OpenSim ``lengths`` (n, 25).

    Two scores per muscle:

    * ``rms_mm``, ``max_mm`` (the tolerance): frames of the trajectories the generator keeps
      with either backend, i.e. :func:`valid_trajectories` accepts both OpenSim's lengths
      and the surrogate's (no NaN -- the surrogate's domain --, range or jump flag in any
      muscle). These are the frames the dataset can contain.
    * ``rms_mm_frames``, ``max_mm_frames``: every frame inside the surrogate's domain of a
      trajectory that OpenSim gets right for that muscle, even if the surrogate marks other
      frames of the movement as outside its domain (the generator would reject it).

    Frames and trajectories outside the domain (the price of the domain) are counted.
    """
    flags = trajectory_flags(lengths, trajectory)
    bad = np.any(list(flags.values()), axis=0)
    ids, inverse = np.unique(trajectory, return_inverse=True)
    bad_traj = np.zeros((len(ids), lengths.shape[1]), dtype=bool)
    np.logical_or.at(bad_traj, inverse, bad)
    pred = surrogate.predict(q)
    counted_frames = ~bad_traj[inverse] & np.isfinite(pred)
    # The price of the domain: movements with a frame outside it, which the generator rejects.
    outside_traj = np.zeros((len(ids), lengths.shape[1]), dtype=bool)
    np.logical_or.at(outside_traj, inverse, ~np.isfinite(pred))
    surrogate_flags = trajectory_flags(pred, trajectory)
    surrogate_bad = np.zeros(len(ids), dtype=bool)
    np.logical_or.at(surrogate_bad, inverse, np.any(list(surrogate_flags.values()), axis=(0, 2)))
    kept = ~np.any(bad_traj, axis=1) & ~surrogate_bad  # accepted by both backends
    counted = np.broadcast_to(kept[inverse, None], pred.shape)
    diff = np.abs(pred - lengths)
    err = np.where(counted, diff, np.nan)
    err_frames = np.where(counted_frames, diff, np.nan)
    with np.errstate(invalid="ignore"):
        return {
            "rms_mm": np.sqrt(np.nanmean(err ** 2, axis=0)),
            "max_mm": np.nanmax(np.where(counted, err, -np.inf), axis=0),
            "rms_mm_frames": np.sqrt(np.nanmean(err_frames ** 2, axis=0)),
            "max_mm_frames": np.nanmax(np.where(counted_frames, err_frames, -np.inf), axis=0),
            "n_test": counted.sum(axis=0),
            "n_test_frames_scored": counted_frames.sum(axis=0),
            "n_test_rejected_trajectories": bad_traj.sum(axis=0),
            "n_test_outside_domain": (~np.isfinite(pred)).sum(axis=0),
            "n_test_outside_domain_trajectories": outside_traj.sum(axis=0),
            "n_test_frames": len(q), "n_test_trajectories": len(ids),
            "n_test_trajectories_kept": int(kept.sum()),
            "n_test_trajectories_rejected_by_opensim": int(np.any(bad_traj, axis=1).sum()),
            "n_test_trajectories_rejected_by_surrogate": int(surrogate_bad.sum()),
            "n_frames_outside_domain_any": int((~np.all(np.isfinite(pred), axis=1)).sum()),
            "n_trajectories_outside_domain_any": int(np.any(outside_traj, axis=1).sum()),
            "error": err,
            "prediction": pred,
        }


def _write_csv(path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def _write_figure(path, result: dict, q, lengths, trajectory, max_rms, max_abs) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    ax.set_title("Muscle surrogate vs OpenSim: held-out movements kept by both backends")
    ax.legend(fontsize=8, ncol=2)
    # An example held-out trajectory: the muscle with the largest error, surrogate vs OpenSim.
    ax = axes[1]
    worst = int(np.nanargmax(result["max_mm"])) if np.isfinite(result["max_mm"]).any() else 0
    err = result["error"][:, worst]
    if np.isfinite(err).any():
        t = trajectory[int(np.nanargmax(err))]
        rows = trajectory == t
        steps = np.arange(rows.sum()) * STEP_S
        ax.plot(steps, lengths[rows, worst], "k-", lw=2, label="OpenSim")
        ax.plot(steps, result["prediction"][rows, worst], "C3--", lw=1.5, label="surrogate")
        ax.set_title(f"{MUSCLE_NAMES[worst]}: held-out trajectory with its largest error")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("fibre length (mm)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def fit_command(args: argparse.Namespace) -> int:
    """``fit``: OpenSim on the postures, fit, held-out report; non-zero if tolerances fail."""
    import opensim

    with np.load(args.postures) as data:
        q = np.asarray(data["postures"], dtype=float)
        trajectory = np.asarray(data["trajectory"])
        if "joint_names" in data and tuple(data["joint_names"]) != JOINT_NAMES:
            raise SystemExit(f"{args.postures}: joint order {tuple(data['joint_names'])} != {JOINT_NAMES}")
    started = time.time()
    lengths = opensim_fiber_lengths(q, args.model, processes=args.processes)
    opensim_s = time.time() - started
    log.info("OpenSim: %d frames in %.0f s (%d processes)", len(q), opensim_s, args.processes)
    flags = trajectory_flags(lengths, trajectory)
    bad = np.any(list(flags.values()), axis=0)
    test = split_by_trajectory(trajectory, args.test_fraction, np.random.default_rng(args.seed))
    train_lengths = np.where(bad, np.nan, lengths)[~test]
    # Grid near the training trajectories only: held-out trajectories stay unseen.
    grid = shoulder_grid(q[~test], args.model, processes=args.processes)
    log.info("OpenSim: %d shoulder grid nodes", int(np.isfinite(grid.values[..., 0]).sum()))
    surrogate = MuscleSurrogate(random_state=args.seed).fit(
        q[~test], train_lengths, trajectory[~test], grid=grid)
    result = evaluate(surrogate, q[test], lengths[test], trajectory[test])
    rows = []
    for m, name in enumerate(MUSCLE_NAMES):
        rows.append({
            "muscle": name, "joints": " ".join(j for j, a in zip(JOINT_NAMES, MUSCLE_JOINTS[m]) if a),
            "form": str(surrogate.form_[m]), "degree": int(surrogate.degree_[m]),
            "rms_mm": f"{result['rms_mm'][m]:.4f}",
            "max_mm": f"{result['max_mm'][m]:.4f}",
            "rms_mm_frames": f"{result['rms_mm_frames'][m]:.4f}",
            "max_mm_frames": f"{result['max_mm_frames'][m]:.4f}", "n_train": int(surrogate.n_train_[m]),
            "n_train_artefacts": int(surrogate.n_outliers_[m]), "n_test": int(result["n_test"][m]),
            "n_test_frames_scored": int(result["n_test_frames_scored"][m]),
            "n_test_rejected_trajectories": int(result["n_test_rejected_trajectories"][m]),
            "n_test_outside_domain": int(result["n_test_outside_domain"][m]),
            "n_test_outside_domain_trajectories": int(result["n_test_outside_domain_trajectories"][m]),
            "n_rejected_frames": int(bad[:, m].sum()),
            **{f"n_{k}_frames": int(v[:, m].sum()) for k, v in flags.items()},
        })
    _write_csv(args.report_csv, rows)
    _write_figure(args.report_figure, result, q[test], lengths[test], trajectory[test],
                  args.max_rms, args.max_abs)
    failing = [f"{n} (rms {r:.3f} mm, max {a:.3f} mm)"
               for n, r, a in zip(MUSCLE_NAMES, result["rms_mm"], result["max_mm"])
               if not (r <= args.max_rms and a <= args.max_abs)]
    if failing:
        print(f"muscle surrogate exceeds --max-rms {args.max_rms} / --max-abs {args.max_abs} mm "
              f"for {len(failing)} muscle(s): " + "; ".join(failing)
              + f"; report in {args.report_csv}; surrogate not written", file=sys.stderr)
        return 1
    surrogate.info = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "opensim_version": opensim.__version__, "model": Path(args.model).name,
        "postures": Path(args.postures).name, "n_frames": int(len(q)),
        "n_trajectories": int(len(np.unique(trajectory))),
        "n_grid_nodes": int(np.any(np.isfinite(grid.values), axis=-1).sum()),
        "seed": args.seed, "test_fraction": args.test_fraction,
        "worst_rms_mm": float(np.nanmax(result["rms_mm"])),
        "worst_max_mm": float(np.nanmax(result["max_mm"])),
        "max_rms_mm": args.max_rms, "max_abs_mm": args.max_abs,
        "rms_mm": dict(zip(MUSCLE_NAMES, np.round(result["rms_mm"], 4).tolist())),
        "max_mm": dict(zip(MUSCLE_NAMES, np.round(result["max_mm"], 4).tolist())),
        "grid_max_step_mm": surrogate.grid_max_step_mm,
        "grid_max_bend_mm": surrogate.grid_max_bend_mm,
        "max_mm_frames": dict(zip(MUSCLE_NAMES, np.round(result["max_mm_frames"], 4).tolist())),
        **{k: int(result[k]) for k in ("n_test_frames", "n_test_trajectories",
                                       "n_test_trajectories_kept",
                                       "n_test_trajectories_rejected_by_opensim",
                                       "n_test_trajectories_rejected_by_surrogate",
                                       "n_frames_outside_domain_any",
                                       "n_trajectories_outside_domain_any")},
    }
    surrogate.save(args.out)
    log.info("surrogate written to %s; worst held-out RMS %.3f mm, max %.3f mm", args.out,
             surrogate.info["worst_rms_mm"], surrogate.info["worst_max_mm"])
    return 0


def _parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deepdraw.muscles", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit the muscle surrogate to OpenSim on visited postures")
    fit.add_argument("--postures", required=True, help=".npz from `deepdraw.generation postures`")
    fit.add_argument("--model", required=True, help="OpenSim model (.osim)")
    fit.add_argument("--out", required=True, help="surrogate .npz (written only if within tolerance)")
    fit.add_argument("--report-csv", required=True)
    fit.add_argument("--report-figure", required=True)
    fit.add_argument("--max-rms", type=float, required=True, help="per-muscle held-out RMS limit (mm)")
    fit.add_argument("--max-abs", type=float, required=True, help="per-muscle held-out max limit (mm)")
    fit.add_argument("--processes", type=int, default=1, help="OpenSim worker processes")
    fit.add_argument("--test-fraction", type=float, default=0.2, help="held-out trajectories")
    fit.add_argument("--seed", type=int, default=2020, help="seed of the held-out split")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from threadpoolctl import threadpool_limits

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = _parse(argv)
    with threadpool_limits(1):  # the OpenSim workers already use the granted cores
        return fit_command(args)


if __name__ == "__main__":
    sys.exit(main())
