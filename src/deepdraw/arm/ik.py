"""Vectorised inverse kinematics: every sample of a batch solved at once, step by step.

For every time step and in order (as the original's per-point SLSQP): the hand exactly on the
target (equality), joints inside ``[JOINT_MIN, JOINT_MAX]``, and the posture closest
(Euclidean norm in degrees) to the previous step's solution; the first step is closest to
``q_start``. A damped Gauss-Newton/SQP iteration on the KKT system with an active set for the
joint limits, and a global search over the circle of postures that reach a target where that
iteration does not converge. :mod:`deepdraw.arm.reference` is the per-point solver it is
tested against.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from deepdraw.arm.model import (_DEG, FOREARM_CM, JOINT_MAX, JOINT_MIN, Q0, SHOULDER_TO_WORLD,
                                UPPER_ARM_CM, _check_joints, _kinematics, forward_kinematics)


def _check_targets(targets: ArrayLike) -> np.ndarray:
    x = np.asarray(targets, dtype=float)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"targets: expected hand targets of shape (n_samples, n_time, 3) in world "
                         f"cm (NaN rows after each sample's end), got shape {x.shape}")
    row_nan = np.isnan(x).any(axis=-1)
    if np.isinf(x).any():
        raise ValueError("targets: contains inf; use NaN rows only as padding after a sample's end")
    # padding must be a suffix: once a row is NaN every later row is NaN
    if (row_nan[:, :-1] & ~row_nan[:, 1:]).any():
        raise ValueError("targets: NaN rows are allowed only as padding after each sample's end "
                         "(found a finite row after a NaN row)")
    return x


def _kkt_step(qt: np.ndarray, prev: np.ndarray, target: np.ndarray, fixed: np.ndarray,
              bound: np.ndarray, damping: float) -> tuple[np.ndarray, np.ndarray]:
    """One Gauss-Newton step of min |q - q_prev|^2 s.t. FK(q) = target, with fixed joints.

    Linearising FK at ``q`` gives ``J d = r`` with ``d = q_new - q_prev`` and
    ``r = target - FK(q) + J (q - q_prev)``; the fixed joints (active limits) are held at
    ``bound`` and the free ones take the minimum-norm solution ``J_f^T (J_f J_f^T)^-1 r``.
    The damping grows with the hand error so that unreachable or singular targets give a
    bounded least-squares step, while a converged solve stays exactly on the target.
    Joints along the first axis (samples last) keep every operation a flat vector op.

    Parameters
    ----------
    qt, prev : (4, n) deg.  target : (3, n) cm.  fixed : (4, n) bool.  bound : (4, n) deg.

    Returns
    -------
    q_new (4, n) deg and the bound multipliers (4, n), positive when the limit is needed.
    """
    hand, jac = _kinematics(qt)
    err = target - hand
    if not fixed.any():
        # no active limit (the common case): the same arithmetic without the masking
        return _free_step(qt, prev, err, jac, damping)
    d_fixed = np.where(fixed, bound - prev, 0.0)
    rhs = err + np.einsum("ijn,jn->in", jac, qt - prev - d_fixed)
    jf = np.where(fixed, 0.0, jac)
    jty = np.einsum("ijn,in->jn", jac, _gram_solve(jf, err, rhs, damping))
    d = np.where(fixed, d_fixed, jty)
    # stationarity on a fixed joint: d_i - (J^T y)_i is its bound's multiplier
    mult = np.where(bound <= JOINT_MIN[:, None] + 1e-12, d - jty, jty - d)
    return prev + d, mult


def _gram_solve(jf: np.ndarray, err: np.ndarray, rhs: np.ndarray, damping: float) -> np.ndarray:
    """y (3, n) solving (J_f J_f^T + damping') y = rhs, damping' growing with the hand error."""
    g = np.einsum("ijn,kjn->ikn", jf, jf)
    g[[0, 1, 2], [0, 1, 2]] += damping + 1e-3 * np.sqrt(np.einsum("in,in->n", err, err))
    # symmetric 3x3 solve by the adjugate (batched np.linalg.solve is slower for tiny systems)
    c00 = g[1, 1] * g[2, 2] - g[1, 2] ** 2
    c01 = g[0, 2] * g[1, 2] - g[0, 1] * g[2, 2]
    c02 = g[0, 1] * g[1, 2] - g[0, 2] * g[1, 1]
    c11 = g[0, 0] * g[2, 2] - g[0, 2] ** 2
    c12 = g[0, 1] * g[0, 2] - g[0, 0] * g[1, 2]
    c22 = g[0, 0] * g[1, 1] - g[0, 1] ** 2
    det = g[0, 0] * c00 + g[0, 1] * c01 + g[0, 2] * c02
    return np.stack([c00 * rhs[0] + c01 * rhs[1] + c02 * rhs[2],
                     c01 * rhs[0] + c11 * rhs[1] + c12 * rhs[2],
                     c02 * rhs[0] + c12 * rhs[1] + c22 * rhs[2]]) / det


def _free_step(qt: np.ndarray, prev: np.ndarray, err: np.ndarray, jac: np.ndarray,
               damping: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_kkt_step` without fixed joints; multipliers are zero (no bound is held)."""
    rhs = err + np.einsum("ijn,jn->in", jac, qt - prev)
    jty = np.einsum("ijn,in->jn", jac, _gram_solve(jac, err, rhs, damping))
    return prev + jty, np.zeros_like(jty)


def _shoulder_rotation(q: np.ndarray) -> np.ndarray:
    """Shoulder rotation Ry(elv) Rz(shoulder_elv) Ry(rot - elv), (n, 4) deg -> (n, 3, 3)."""
    e, s, r = (np.moveaxis(q[..., :3] * _DEG, -1, 0))
    rot = np.zeros(q.shape[:-1] + (3, 3))
    ca, sa, cs, ss, cb, sb = np.cos(e), np.sin(e), np.cos(s), np.sin(s), np.cos(r - e), np.sin(r - e)
    # Rz(s) Ry(b) = [[cs cb, -ss, cs sb], [ss cb, cs, ss sb], [-sb, 0, cb]], then Ry(a) on the left
    m0 = np.stack([cs * cb, -ss, cs * sb], axis=-1)
    m2 = np.stack([-sb, np.zeros_like(sb), cb], axis=-1)
    rot[..., 0, :] = ca[..., None] * m0 + sa[..., None] * m2
    rot[..., 1, :] = np.stack([ss * cb, cs, ss * sb], axis=-1)
    rot[..., 2, :] = -sa[..., None] * m0 + ca[..., None] * m2
    return rot


def _skew(u: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrix."""
    k = np.zeros(u.shape + (3,))
    k[..., 0, 1], k[..., 0, 2] = -u[..., 2], u[..., 1]
    k[..., 1, 0], k[..., 1, 2] = u[..., 2], -u[..., 0]
    k[..., 2, 0], k[..., 2, 1] = -u[..., 1], u[..., 0]
    return k


def _align(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vectors u to v, (n, 3) each -> (n, 3, 3)."""
    axis = np.cross(u, v)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.einsum("ni,ni->n", u, v)
    # antiparallel: rotate by 180 deg about any axis perpendicular to u
    other = np.where(np.abs(u[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    perp = np.cross(u, other)
    axis = np.where((sin < 1e-12)[:, None], perp / np.linalg.norm(perp, axis=-1, keepdims=True),
                    axis / np.maximum(sin, 1e-300)[:, None])
    k = _skew(axis)
    return np.eye(3) + sin[:, None, None] * k + (1.0 - cos)[:, None, None] * (k @ k)


def _manifold(q_prev: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parametrise all postures whose hand is on the target by one angle theta.

    The elbow flexion is fixed by the shoulder-hand distance; the shoulder rotations taking the
    forearm-plus-upper-arm vector to the target direction form a circle ``Rot(p, theta) R1``.
    ``R1`` is chosen closest to ``q_prev``'s rotation, so theta = 0 starts near the previous
    posture.

    Returns
    -------
    coef : (n, 3, 5) coefficients of the five rotation entries used by the Euler decomposition
        (R11, R10, R12, R01, R21) in the basis (1, sin theta, 1 - cos theta).
    flex : (n,) elbow flexion, deg (clipped to the limits when the target is out of reach).
    """
    p = target @ SHOULDER_TO_WORLD  # world -> shoulder frame: S^T w
    dist = np.linalg.norm(p, axis=-1)
    cos_f = (dist ** 2 - UPPER_ARM_CM ** 2 - FOREARM_CM ** 2) / (2 * UPPER_ARM_CM * FOREARM_CM)
    flex = np.clip(np.degrees(np.arccos(np.clip(cos_f, -1.0, 1.0))), JOINT_MIN[3], JOINT_MAX[3])
    f = flex * _DEG
    v = np.stack([np.zeros_like(f), -UPPER_ARM_CM - FOREARM_CM * np.cos(f),
                  -FOREARM_CM * np.sin(f)], axis=-1)
    u = v / np.linalg.norm(v, axis=-1, keepdims=True)
    p_hat = p / np.maximum(dist, 1e-12)[:, None]
    rot_prev = _shoulder_rotation(q_prev)
    r1 = _align(np.einsum("nij,nj->ni", rot_prev, u), p_hat) @ rot_prev
    k = _skew(p_hat)
    mats = np.stack([r1, k @ r1, k @ k @ r1], axis=1)  # (n, 3, 3, 3)
    idx = ([1, 1, 1, 0, 2], [1, 0, 2, 1, 1])
    return mats[:, :, idx[0], idx[1]], flex


def _manifold_postures(coef: np.ndarray, flex: np.ndarray, theta: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Postures on the target circle at angles theta (n, m) deg -> q (n, m, 4), feasible (n, m)."""
    th = theta * _DEG
    basis = np.stack([np.ones_like(th), np.sin(th), 1.0 - np.cos(th)], axis=-1)  # (n, m, 3)
    r11, r10, r12, r01, r21 = np.moveaxis(np.einsum("nmk,nke->nme", basis, coef), -1, 0)
    s = np.degrees(np.arccos(np.clip(r11, -1.0, 1.0)))
    a = np.degrees(np.arctan2(r21, -r01))
    b = np.degrees(np.arctan2(r12, r10))
    # each of elv and rot has a range < 360 deg, so at most one 360-deg representative fits
    e = np.mod(a - JOINT_MIN[0], 360.0) + JOINT_MIN[0]
    r = np.mod(a + b - JOINT_MIN[2], 360.0) + JOINT_MIN[2]
    feasible = (e <= JOINT_MAX[0]) & (r <= JOINT_MAX[2])
    q = np.stack([e, s, r, np.broadcast_to(flex[:, None], e.shape)], axis=-1)
    return q, feasible


def _search_step(q_prev: np.ndarray, target: np.ndarray, n_grid: int = 256,
                 n_zoom: int = 17, rounds: int = 10) -> np.ndarray:
    """Global solve of one step by a search over the circle of postures on the target.

    A grid over theta picks the feasible posture closest to ``q_prev``; repeated zooms around
    it refine theta (by ~5x per round) to ~1e-7 deg.  Exact on the target by construction (when reachable) and
    immune to the poor convergence of Gauss-Newton far from ``q_prev``.

    Parameters
    ----------
    q_prev : (n, 4) deg.  target : (n, 3) world cm.

    Returns
    -------
    (n, 4) deg; samples with no feasible posture on the circle keep their best infeasible
    candidate clipped to the limits (their hand error flags them).
    """
    coef, flex = _manifold(q_prev, target)
    n = len(q_prev)
    theta = np.broadcast_to(np.linspace(-180.0, 180.0, n_grid, endpoint=False), (n, n_grid))
    half = 180.0
    spacing = 360.0 / n_grid
    best = np.zeros(n)
    for _ in range(rounds + 1):
        q, feasible = _manifold_postures(coef, flex, theta)
        cost = np.sum((q - q_prev[:, None, :]) ** 2, axis=-1)
        # infeasible candidates rank after all feasible ones, by their limit violation
        viol = np.sum(np.maximum(q - JOINT_MAX, 0.0) + np.maximum(JOINT_MIN - q, 0.0), axis=-1)
        cost = np.where(feasible, cost, 1e12 + viol)
        best = theta[np.arange(n), np.argmin(cost, axis=1)]
        half = 1.5 * spacing
        spacing = 2 * half / (n_zoom - 1)
        theta = best[:, None] + np.linspace(-half, half, n_zoom)[None, :]
    q, _ = _manifold_postures(coef, flex, best[:, None])
    return np.clip(q[:, 0], JOINT_MIN, JOINT_MAX)


def _solve_step(q_prev: np.ndarray, target: np.ndarray, guess: np.ndarray, max_iter: int,
                tol: float, damping: float, max_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve one time step for n samples by the active-set Gauss-Newton iteration.

    Parameters
    ----------
    q_prev : (n, 4) deg, previous solution (the objective's reference).
    target : (n, 3) world cm, finite.
    guess : (n, 4) deg, initial iterate.

    Returns
    -------
    q (n, 4) deg inside the limits, converged (n,) bool (estimated remaining step below ``tol``).
    """
    lo, hi = JOINT_MIN[:, None], JOINT_MAX[:, None]
    q, prev, tgt = guess.T.copy(), q_prev.T.copy(), target.T.copy()
    # warm start of the active set: a joint held at a limit by the previous step most often
    # stays there (a wrong guess is released by its multiplier's sign at the next iteration)
    fixed = (prev == lo) | (prev == hi)
    bound = np.where(prev == lo, lo, np.where(prev == hi, hi, 0.0))
    converged = np.zeros(q.shape[1], dtype=bool)
    active = np.arange(q.shape[1])
    last_norm = np.zeros(q.shape[1])  # no contraction estimate before the second iteration
    for _ in range(max_iter):
        # views while every sample is active (the first iteration), copies of the rest after
        sel = slice(None) if active.size == q.shape[1] else active
        qa, pa, ta, fa, ba = q[:, sel], prev[:, sel], tgt[:, sel], fixed[:, sel], bound[:, sel]
        q_new, mult = _kkt_step(qa, pa, ta, fa, ba, damping)
        # release limits whose multiplier has the wrong sign (the optimum lies inside)
        fa = fa & (mult >= 0.0)
        # hold newly violated limits and re-solve those samples (at most one pass per joint)
        for _inner in range(4):
            low, high = (q_new < lo) & ~fa, (q_new > hi) & ~fa
            hit = np.flatnonzero((low | high).any(axis=0))
            if hit.size == 0:
                break
            fa[:, hit] |= low[:, hit] | high[:, hit]
            ba[:, hit] = np.where(low[:, hit], lo, np.where(high[:, hit], hi, ba[:, hit]))
            q_new[:, hit], _ = _kkt_step(qa[:, hit], pa[:, hit], ta[:, hit], fa[:, hit],
                                         ba[:, hit], damping)
        step = np.clip(q_new, lo, hi) - qa
        norm = np.sqrt(np.einsum("jn,jn->n", step, step))
        scale = np.minimum(1.0, max_step / np.maximum(norm, 1e-300))  # trust region, deg
        q[:, sel] = qa + step * scale
        fixed[:, sel], bound[:, sel] = fa, ba
        # the iteration contracts linearly: the distance left is about norm * (norm / last norm)
        done = (norm < tol) | (norm * norm < tol * last_norm[sel])
        last_norm[sel] = norm
        converged[active[done]] = True
        if done.all():
            break
        active = active[~done]
    return q.T, converged


def inverse_kinematics(targets: ArrayLike, q_start: ArrayLike = Q0, *, return_error: bool = False,
                       max_iter: int = 12, tol: float = 1e-6, damping: float = 1e-12,
                       max_step: float = 20.0, rescue_error: float = 1e-5,
                       monitor: Callable[[int, int, np.ndarray], np.ndarray] | None = None,
                       check_every: int = 32
                       ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Joint trajectories that trace hand targets, all samples at once.

    At each step the solution is the posture closest (Euclidean, deg) to the previous step's
    solution (``q_start`` for the first step) with the hand on the target and the joints inside
    the limits.  Steps after the first use a damped Gauss-Newton iteration on the KKT system,
    ``q <- q_prev + J^+ (target - FK(q) + J (q - q_prev))``, with an active set for the joint
    limits, started from a linear extrapolation of the last two solutions.  The first step (far
    from ``q_start``, where Gauss-Newton converges poorly) and any step that did not converge
    are solved by a global search over the one-parameter circle of postures that put the hand
    on the target.

    Parameters
    ----------
    targets : (n_samples, n_time, 3) hand targets, world cm; NaN rows after a sample's end.
    q_start : (4,) or (n_samples, 4) deg, posture the first step is closest to (default
        :data:`Q0`, as in the original).
    return_error : also return the per-step hand error, to detect unreachable targets.
    max_iter : Gauss-Newton iteration cap per step.
    tol : convergence threshold on the (estimated remaining) Gauss-Newton step, deg.
    damping : floor of the Levenberg-Marquardt damping, cm^2/deg^2 (bias ~ damping cm).
    max_step : trust-region radius per iteration, deg.
    rescue_error : hand error (cm) above which a converged step is re-solved by the search.
    monitor : optional ``monitor(t0, t1, q)`` called after steps ``t0 .. t1 - 1`` were solved
        (every ``check_every`` steps and after the last step), with ``q`` the (n_samples,
        n_time, 4) solution so far; it returns an (n_samples,) bool mask of samples to stop.
        A stopped sample is solved no further (its later rows stay NaN): the generator stops a
        candidate movement as soon as it fails a rejection test, saving the rest of its solve.
        Every other sample's solution is unchanged (samples are solved independently), up to
        floating-point rounding (~1e-13 deg: numpy's vectorised kernels may round an
        element differently depending on the batch size).
    check_every : steps between two calls of ``monitor``.

    Returns
    -------
    q : (n_samples, n_time, 4) joint angles, deg; NaN on padding rows and after a stop.
    error : (n_samples, n_time) |target - FK(q)| in cm (NaN on padding), if ``return_error``.
    """
    x = _check_targets(targets)
    n, n_time, _ = x.shape
    q_prev = np.broadcast_to(_check_joints(q_start, "q_start"), (n, 4)).astype(float)
    if ((q_prev < JOINT_MIN) | (q_prev > JOINT_MAX)).any():
        raise ValueError(f"q_start: must lie inside the joint limits {JOINT_MIN}..{JOINT_MAX} deg")
    q_out = np.full((n, n_time, 4), np.nan)
    valid = ~np.isnan(x).any(axis=-1)
    alive = np.ones(n, dtype=bool)
    checked = solved = 0  # steps already passed to the monitor / solved
    for t in range(n_time):
        rows = np.flatnonzero(valid[:, t] & alive)
        if rows.size == 0:
            break  # padding is a suffix (and stops are final): every later step is empty too
        ref, target = q_prev[rows], x[rows, t]
        if t == 0:
            q_t = _search_step(ref, target)
        else:
            before = q_out[rows, t - 2] if t >= 2 else ref
            guess = np.clip(2.0 * ref - before, JOINT_MIN, JOINT_MAX)
            q_t, ok = _solve_step(ref, target, guess, max_iter, tol, damping, max_step)
            e_t = np.linalg.norm(target - _kinematics(q_t.T, with_jacobian=False)[0].T, axis=-1)
            redo = ~ok | (e_t > rescue_error)
            if redo.any():
                q_t[redo] = _search_step(ref[redo], target[redo])
        q_prev[rows] = q_t
        q_out[rows, t] = q_t
        if monitor is not None and (t + 1 - checked >= check_every or t + 1 == n_time):
            alive &= ~np.asarray(monitor(checked, t + 1, q_out), dtype=bool)
            checked = t + 1
        solved = t + 1
    if monitor is not None and checked < solved:
        # the loop ended on padding before the next check: the monitor sees the last steps
        monitor(checked, solved, q_out)
    if not return_error:
        return q_out
    return q_out, np.linalg.norm(x - forward_kinematics(q_out), axis=-1)
