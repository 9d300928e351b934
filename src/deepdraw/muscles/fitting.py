"""Build the muscle surrogate from OpenSim and score it against OpenSim on held-out movements."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from deepdraw.arm import JOINT_MAX, JOINT_MIN, Q0
from deepdraw.muscles.anatomy import CROSSES_ELBOW, CROSSES_SHOULDER, MUSCLE_NAMES
from deepdraw.muscles.model_edits import apply_edits, sha256_of
from deepdraw.muscles.opensim_backend import opensim_lengths, opensim_point_depths
from deepdraw.muscles.surrogate import CubicGrid, MuscleSurrogate
from deepdraw.muscles.validation import JUMP_TOL_MM, step_anomalies

log = logging.getLogger(__name__)


def shoulder_grid_nodes(postures: np.ndarray, step_deg: float, reach_deg: float):
    """Grid over the visited shoulder angles and the nodes near them.

    Parameters
    ----------
    postures : (n, 4) deg
        Visited postures (only the three shoulder angles are used).
    step_deg : float
        Grid spacing.
    reach_deg : float
        Nodes farther than this from every visited posture are not evaluated.

    Returns
    -------
    grid : CubicGrid with NaN values (k = number of shoulder-crossing muscles)
    near : (n_nodes,) bool, the nodes to evaluate (C order)
    """
    from scipy.spatial import cKDTree

    shoulder = postures[:, :3]
    margin = 2 * step_deg
    lower = np.maximum(shoulder.min(axis=0), JOINT_MIN[:3]) - margin
    upper = np.minimum(shoulder.max(axis=0), JOINT_MAX[:3]) + margin
    lower = np.floor(lower / step_deg) * step_deg  # nodes on multiples of the step
    count = np.ceil((upper - lower) / step_deg).astype(int) + 1
    grid = CubicGrid(lower, np.full(3, step_deg),
                     np.full(tuple(count) + (int(CROSSES_SHOULDER.sum()),), np.nan))
    distance, _ = cKDTree(shoulder).query(grid.nodes(), distance_upper_bound=reach_deg)
    return grid, np.isfinite(distance)


def fill_failed_nodes(values: np.ndarray, rounds: int = 3) -> tuple[np.ndarray, int]:
    """Fill a muscle's NaN at nodes where OpenSim gave the other muscles' lengths.

    OpenSim occasionally fails to wrap one path at a posture (PECM1 on the thorax ellipsoid at
    shoulder_elv 120-145 deg: NaN at 12 nodes); left NaN, the node would take the 4^3-node
    neighbourhood of every posture around it out of the domain. Such a value is replaced by the
    mean of its evaluated face neighbours (up to ``rounds`` times, for adjacent failures).

    Returns the filled values and the number of values filled.
    """
    values = np.array(values, dtype=float)
    evaluated = np.any(np.isfinite(values), axis=-1, keepdims=True)
    filled = 0
    for _ in range(rounds):
        holes = evaluated & np.isnan(values)
        if not holes.any():
            break
        total = np.zeros_like(values)
        count = np.zeros_like(values)
        for axis in range(3):
            for shift in (1, -1):
                moved = np.roll(values, shift, axis=axis)
                edge = [slice(None)] * 4
                edge[axis] = 0 if shift == 1 else -1
                moved[tuple(edge)] = np.nan  # no wrap-around at the grid's edges
                ok = np.isfinite(moved)
                total[ok] += moved[ok]
                count[ok] += 1
        fill = holes & (count > 0)
        values[fill] = total[fill] / count[fill]
        filled += int(fill.sum())
    return values, filled


def continue_linearly(values: np.ndarray, known: np.ndarray, target: np.ndarray,
                      rounds: int = 4) -> np.ndarray:
    """Continue a 3-D table into ``target`` nodes by linear extrapolation from ``known`` ones.

    Each round fills the target nodes next to known ones with the mean, over the axis
    directions that have two known neighbours (at 1 and 2 steps), of ``2 v1 - v2``; only a
    round in which no node has such a direction fills with the mean of the known neighbours.
    ``rounds`` layers are filled: enough for the 4 x 4 x 4 stencils of postures on the known
    side of the boundary.

    Parameters
    ----------
    values : (n0, n1, n2) array; known : (n0, n1, n2) bool; target : (n0, n1, n2) bool

    Returns
    -------
    (n0, n1, n2) array: ``values`` with the reached target nodes filled, the others NaN.
    """
    values = np.where(known, values, np.nan)
    known = known.copy()

    def shifted(array, axis, distance, fill):
        out = np.roll(array, distance, axis=axis)
        edge = [slice(None)] * 3
        edge[axis] = slice(0, distance) if distance > 0 else slice(distance, None)
        out[tuple(edge)] = fill  # no wrap-around at the grid's edges
        return out

    for _ in range(rounds):
        # [linear, constant] sums and counts over the axis directions
        total, count = np.zeros((2,) + values.shape), np.zeros((2,) + values.shape)
        for axis in range(3):
            for direction in (1, -1):
                near_known = shifted(known, axis, direction, False) & ~known
                far_known = shifted(known, axis, 2 * direction, False) & near_known
                near, far = shifted(values, axis, direction, np.nan), shifted(values, axis, 2 * direction, np.nan)
                total[0][far_known] += (2 * near - far)[far_known]
                count[0][far_known] += 1
                total[1][near_known] += near[near_known]
                count[1][near_known] += 1
        fill = target & ~known & (count[0] > 0)
        estimate = total[0] / np.maximum(count[0], 1)
        if not fill.any():  # no node can be extrapolated linearly: take the nearest values
            fill = target & ~known & (count[1] > 0)
            estimate = total[1] / np.maximum(count[1], 1)
        values[fill] = estimate[fill]
        known |= fill
    return values


def _switch_tables(model_path, at_nodes: np.ndarray, wrapped: np.ndarray, switches,
                   grid_shape, near: np.ndarray, processes: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Depth, unwrapped-branch and continued wrapped-branch node values of the wrap switches.

    Returns ``(extra, wrapped, n_continued)``: ``extra`` (n_near, 2 * n_switches) depth and
    unwrapped columns, ``wrapped`` the switch muscles' columns (n_near, n_switches) with the
    nodes just inside the object replaced by the wrapped branch continued across the surface,
    and the number of such nodes.
    """
    probes = [(w["muscle"], w["point"], w["object"]) for w in switches]
    depth = opensim_point_depths(at_nodes, model_path, probes, processes)
    extra = np.empty((len(at_nodes), 2 * len(switches)))
    continued = np.array(wrapped, dtype=float)
    n_continued = 0
    original = Path(model_path).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        for j, switch in enumerate(switches):
            unwrapped_model = Path(folder) / f"without_{switch['object']}.osim"
            unwrapped_model.write_text(apply_edits(original, [{
                "name": "unwrapped branch", "kind": "deactivate", "object": switch["object"],
                "reason": "the length of the path segment when its end point is inside"}]), encoding="utf-8")
            unwrapped = opensim_lengths(at_nodes, unwrapped_model, "mtu", processes)[
                :, MUSCLE_NAMES.index(switch["muscle"])]
            extra[:, 2 * j], extra[:, 2 * j + 1] = depth[:, j], unwrapped
            inside = depth[:, j] < 0
            excess = np.full(grid_shape, np.nan)
            excess.reshape(-1)[near] = continued[:, j] - unwrapped
            known = np.zeros(grid_shape, dtype=bool)
            known.reshape(-1)[near] = ~inside & np.isfinite(continued[:, j] - unwrapped)
            target = np.zeros(grid_shape, dtype=bool)
            target.reshape(-1)[near] = inside
            excess = continue_linearly(excess, known, target).reshape(-1)[near]
            # nodes deeper inside than the stencils reach keep OpenSim's (unwrapped) value
            reached = inside & np.isfinite(excess)
            continued[reached, j] = unwrapped[reached] + excess[reached]
            n_continued += int(reached.sum())
    return extra, continued, n_continued


def build_surrogate(model_path, postures: np.ndarray, *, step_deg: float = 4.0,
                    reach_deg: float = 16.0, elbow_step_deg: float = 0.25,
                    n_fiber_postures: int = 2000, n_range_postures: int = 40, seed: int = 0, processes: int = 1,
                    extrapolate_mm: float = 5.0, switches=()) -> MuscleSurrogate:
    """Tabulate OpenSim into a :class:`MuscleSurrogate` covering the visited ``postures``.

    Parameters
    ----------
    model_path : path-like
        The OpenSim model.
    postures : (n, 4) deg
        Postures the generator visits (candidates drawn uniformly, before muscle-based
        rejection); the shoulder grid is evaluated within ``reach_deg`` of them.
    step_deg, reach_deg : float
        Shoulder grid spacing and reach (deg).
    elbow_step_deg : float
        Spacing of the elbow sweep over the joint limits (deg).
    n_fiber_postures : int
        Random postures (evaluated grid nodes x sweep angles) whose equilibria give the
        fibre-vs-MTU tables.
    n_range_postures : int
        Postures per muscle spread evenly from its shortest to its longest MTU.
    extrapolate_mm : float
        The fibre tables extend this far beyond the sampled MTU range along their end
        slopes, for the few mm by which cubic interpolation can overshoot the nodes.
    switches : sequence of dict
        Wrap switches ``{"muscle", "point", "object"}`` tabulated on both branches
        (:mod:`deepdraw.muscles.surrogate`).
    """
    rng = np.random.default_rng(seed)
    grid, near = shoulder_grid_nodes(np.asarray(postures, dtype=float), step_deg, reach_deg)
    nodes = grid.nodes()
    reference_elbow = float(Q0[3])
    log.info("shoulder grid %s, %d of %d nodes near the visited postures",
             grid.values.shape[:3], int(near.sum()), len(nodes))
    at_nodes = np.column_stack([nodes[near], np.full(int(near.sum()), reference_elbow)])
    mtu_nodes = opensim_lengths(at_nodes, model_path, "mtu", processes)
    switches = [dict(w) for w in switches]
    shoulder_names = list(np.array(MUSCLE_NAMES)[CROSSES_SHOULDER])
    values = np.full(grid.values.shape[:3] + (len(shoulder_names) + 2 * len(switches),), np.nan)
    flat = values.reshape(-1, values.shape[3])
    flat[near, :len(shoulder_names)] = mtu_nodes[:, CROSSES_SHOULDER]
    n_continued = 0
    if switches:
        columns = [shoulder_names.index(w["muscle"]) for w in switches]
        extra, continued, n_continued = _switch_tables(model_path, at_nodes, mtu_nodes[:, [
            MUSCLE_NAMES.index(w["muscle"]) for w in switches]], switches, values.shape[:3], near, processes)
        flat[np.ix_(near, columns)] = continued
        flat[near, len(shoulder_names):] = extra
        log.info("%d node values inside wrap objects continued from the wrapped branch", n_continued)
    raw_node_mtu = mtu_nodes[:, CROSSES_SHOULDER]  # OpenSim's own values pick the fibre postures
    grid = CubicGrid(grid.start, grid.step, values)
    grid.values[...], n_filled = fill_failed_nodes(grid.values)
    log.info("%d node values where OpenSim failed filled from their neighbours", n_filled)

    elbow = np.arange(JOINT_MIN[3] - 1.0, JOINT_MAX[3] + 1.0 + elbow_step_deg / 2, elbow_step_deg)
    sweep_q = np.column_stack([np.tile(Q0[:3], (len(elbow), 1)), elbow])
    sweep = opensim_lengths(sweep_q, model_path, "mtu", processes)[:, CROSSES_ELBOW]
    at_reference = opensim_lengths(np.array([[*Q0[:3], reference_elbow]]), model_path, "mtu")[0]
    both = CROSSES_SHOULDER[CROSSES_ELBOW]  # biarticular columns of the sweep
    sweep[:, both] -= at_reference[CROSSES_ELBOW][both]  # f already holds their reference part

    surrogate = MuscleSurrogate(CubicGrid(grid.start, grid.step, grid.values), elbow[0],
                                elbow_step_deg, sweep, np.zeros((len(MUSCLE_NAMES), 2)), np.zeros((len(MUSCLE_NAMES), 2)),
                                sha256_of(model_path), switches=switches)
    # Fibre tables: equilibria at evaluated grid nodes x sweep angles.
    evaluated = np.flatnonzero(near)
    picks = [np.column_stack([nodes[rng.choice(evaluated, n_fiber_postures)],
                              rng.choice(elbow[1:-1], n_fiber_postures)])]
    # Postures evenly spread over each muscle's MTU range (shortest to longest), so that the
    # tables span it even where equilibria are rare in a random draw.
    node_mtu = grid.values.reshape(-1, grid.values.shape[3])[evaluated, :len(shoulder_names)].astype(float)
    for w in switches:  # both branches' lengths, as OpenSim gives them
        column = shoulder_names.index(w["muscle"])
        node_mtu[:, column] = np.where(np.isfinite(raw_node_mtu[:, column]), raw_node_mtu[:, column],
                                       node_mtu[:, column])
    elbow_columns = {m: c for c, m in enumerate(np.flatnonzero(CROSSES_ELBOW))}
    shoulder_columns = {m: c for c, m in enumerate(np.flatnonzero(CROSSES_SHOULDER))}
    inner = sweep[1:-1]
    levels = np.linspace(0.0, 1.0, n_range_postures)
    for m in range(len(MUSCLE_NAMES)):
        shoulder = np.tile(Q0[:3], (n_range_postures, 1))
        angle = np.full(n_range_postures, reference_elbow)
        if CROSSES_SHOULDER[m]:
            column = node_mtu[:, shoulder_columns[m]]
            order = np.argsort(column)
            shoulder = nodes[evaluated[order[np.round(levels * (len(order) - 1)).astype(int)]]]
        if CROSSES_ELBOW[m]:
            order = np.argsort(inner[:, elbow_columns[m]])
            angle = elbow[1:-1][order[np.round(levels * (len(order) - 1)).astype(int)]]
        picks.append(np.column_stack([shoulder, angle]))
    fiber_q = np.concatenate(picks)
    fiber, mtu = np.moveaxis(opensim_lengths(fiber_q, model_path, "both", processes), 1, 0)
    size = len(fiber_q) + 2
    mtu_knots, fiber_knots = np.empty((len(MUSCLE_NAMES), size)), np.empty((len(MUSCLE_NAMES), size))
    for m in range(len(MUSCLE_NAMES)):
        ok = np.isfinite(mtu[:, m]) & np.isfinite(fiber[:, m])
        if ok.sum() < 2:
            raise ValueError(f"{model_path}: OpenSim gave fewer than 2 equilibria of {MUSCLE_NAMES[m]} "
                             "to tabulate its fibre length; visit more postures")
        x, y = mtu[ok, m], fiber[ok, m]
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        keep = np.concatenate([[True], np.diff(x) > 1e-9])
        x, y = x[keep], y[keep]
        lo_slope = (y[min(5, len(x) - 1)] - y[0]) / max(x[min(5, len(x) - 1)] - x[0], 1e-9)
        hi_slope = (y[-1] - y[max(-6, -len(x))]) / max(x[-1] - x[max(-6, -len(x))], 1e-9)
        x = np.concatenate([[x[0] - extrapolate_mm], x, [x[-1] + extrapolate_mm]])
        y = np.concatenate([[y[0] - lo_slope * extrapolate_mm], y, [y[-1] + hi_slope * extrapolate_mm]])
        # All muscles share one knot count: pad by repeating the last knot (np.interp accepts it).
        mtu_knots[m] = np.pad(x, (0, size - len(x)), mode="edge")
        fiber_knots[m] = np.pad(y, (0, size - len(y)), mode="edge")
    surrogate.mtu_knots, surrogate.fiber_knots = mtu_knots, fiber_knots
    surrogate.info = {"model_sha256": surrogate.model_sha256, "step_deg": step_deg,
                      "reach_deg": reach_deg, "elbow_step_deg": elbow_step_deg,
                      "reference_elbow_deg": reference_elbow,
                      "n_grid_nodes": int(near.sum()), "n_filled_node_values": n_filled,
                      "switches": switches, "n_switch_nodes_continued": n_continued,
                      "n_fiber_postures": int(len(fiber_q)),
                      "n_visited_postures": int(len(postures)), "seed": seed}
    return surrogate


def score(surrogate: MuscleSurrogate, q: np.ndarray, exact: np.ndarray,
          trajectory: np.ndarray, jump_tol_mm: float = JUMP_TOL_MM) -> dict:
    """Per-muscle errors of ``surrogate`` against OpenSim ``exact`` (n, 25) on EVERY frame.

    Frames where OpenSim itself failed (NaN) cannot be scored and are counted; frames outside
    the surrogate's domain are counted (and their movements) -- the generator rejects those.
    The same errors are also given without the movements in which OpenSim's own length of
    that muscle jumps (:func:`deepdraw.muscles.validation.step_anomalies`): no smooth
    surrogate follows a wrapping switch, so those frames measure OpenSim's residual
    discontinuities rather than the surrogate.

    Returns
    -------
    dict of per-muscle arrays ``rms_mm``, ``max_mm`` (every frame), ``rms_mm_continuous``,
    ``max_mm_continuous``, ``n_frames``, ``n_outside_domain``, ``n_opensim_nan``,
    ``opensim_jump_movements``; totals ``n_frames_total``, ``n_movements``,
    ``n_movements_outside_domain``; ``prediction`` and ``error`` (n, 25).
    """
    pred = surrogate.predict(q)
    error = pred - exact
    scored = np.isfinite(error)
    _, anomaly = step_anomalies(exact, trajectory)
    ids, inverse = np.unique(trajectory, return_inverse=True)
    jumps = np.zeros((len(ids), exact.shape[1]), dtype=bool)
    np.logical_or.at(jumps, inverse, np.nan_to_num(anomaly) > jump_tol_mm)
    continuous = scored & ~jumps[inverse]
    outside = ~np.isfinite(pred)
    moved_out = np.zeros(len(ids), dtype=bool)
    np.logical_or.at(moved_out, inverse, outside.any(axis=1))

    def rms_max(mask):
        with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
            sup.filter(RuntimeWarning)
            return (np.sqrt(np.nanmean(np.where(mask, error, np.nan) ** 2, axis=0)),
                    np.nanmax(np.where(mask, np.abs(error), -np.inf), axis=0))

    rms, worst = rms_max(scored)
    rms_c, worst_c = rms_max(continuous)
    return {"rms_mm": rms, "max_mm": worst, "rms_mm_continuous": rms_c,
            "max_mm_continuous": worst_c, "n_frames": scored.sum(axis=0),
            "n_outside_domain": outside.sum(axis=0), "n_opensim_nan": np.isnan(exact).sum(axis=0),
            "opensim_jump_movements": jumps.sum(axis=0),
            "n_frames_total": len(q), "n_movements": len(ids),
            "n_movements_outside_domain": int(moved_out.sum()),
            "prediction": pred, "error": error}
