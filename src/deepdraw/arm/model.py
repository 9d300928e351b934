"""The arm's kinematic model: joints, segment lengths, frames, forward kinematics, Jacobian.

Upper arm 33 cm and forearm 26 cm (Sandbrink et al. 2023, Methods; authors'
``pcr_data_utils.Arm``); joints in degrees, in the order of :data:`JOINT_NAMES`. In the
shoulder frame {S} the shoulder rotation is ``Ry(elv) Rz(shoulder_elv) Ry(-elv) Ry(shoulder_rot)``
and the elbow rotation ``Rx(elbow_flexion)``; with the arm hanging along -y,

    elbow = R (0, -L1, 0),   hand = R (Rx(flex) (0, -L2, 0) + (0, -L1, 0)).

World coordinates {W} (cm, origin at the shoulder) are ``w = SHOULDER_TO_WORLD @ s``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

JOINT_NAMES = ("elv_angle", "shoulder_elv", "shoulder_rot", "elbow_flexion")
JOINT_MIN = np.array([-90.0, 0.0, -90.0, 0.0])  # deg
JOINT_MAX = np.array([130.0, 180.0, 20.0, 130.0])  # deg
Q0 = np.array([50.0, 40.0, 20.0, 75.0])  # deg, default posture (first IK step starts there)
UPPER_ARM_CM = 33.0
FOREARM_CM = 26.0
# world = SHOULDER_TO_WORLD @ shoulder (x forward, y left, z up in the world frame)
SHOULDER_TO_WORLD = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
# initial guess of every SLSQP call in the original code (pcr_data_utils.Arm.q)
ORIGINAL_SLSQP_GUESS = np.array([10.0, 10.0, 10.0, 10.0])

_DEG = np.pi / 180.0

for _a in (JOINT_MIN, JOINT_MAX, Q0, SHOULDER_TO_WORLD, ORIGINAL_SLSQP_GUESS):
    _a.flags.writeable = False  # module constants must not be mutated by callers


def _check_joints(q: ArrayLike, name: str = "q") -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if q.ndim < 1 or q.shape[-1] != 4:
        raise ValueError(f"{name}: expected joint angles of shape (..., 4) in degrees "
                         f"({', '.join(JOINT_NAMES)}), got shape {q.shape}")
    return q


def _kinematics(qt: np.ndarray, with_jacobian: bool = True
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Hand position and Jacobian, joints along the first axis (fast path for the IK).

    Parameters
    ----------
    qt : (4, ...) joint angles, deg.

    Returns
    -------
    hand : (3, ...) world cm.
    jac : (3, 4, ...) d(hand cm)/d(joint deg), or None.
    """
    c, s = np.cos(qt * _DEG), np.sin(qt * _DEG)
    ce, cs, cr, cf = c
    se, ss, sr, sf = s
    cp, sp = cr * ce + sr * se, sr * ce - cr * se  # phi = rot - elv
    a = -UPPER_ARM_CM - FOREARM_CM * cf  # forearm + upper arm vector (0, a, b) before rotation
    b = -FOREARM_CM * sf
    bsp = b * sp
    X, Y, Z = bsp * cs - a * ss, bsp * ss + a * cs, b * cp  # after Rz(sel) Ry(phi)
    px, pz = X * ce + Z * se, Z * ce - X * se  # after the outer Ry(elv), shoulder frame
    hand = np.stack([-pz, -px, Y])  # world = (-z, -x, y) of the shoulder frame
    if not with_jacobian:
        return hand, None

    def outer(dx, dy, dz):  # outer Ry(elv), then shoulder -> world
        return -(dz * ce - dx * se), -(dx * ce + dz * se), dy

    jac = np.empty((3, 4) + qt.shape[1:])
    bcp = b * cp
    d_rot = outer(bcp * cs, bcp * ss, -bsp)
    jac[:, 2] = d_rot
    # elv enters through phi = rot - elv and through the outer Ry(elv): d/de Ry p = (pz, 0, -px)
    jac[0, 0], jac[1, 0], jac[2, 0] = -d_rot[0] + px, -d_rot[1] - pz, -d_rot[2]
    jac[:, 1] = outer(-Y, X, 0.0)
    da, db = FOREARM_CM * sf, -FOREARM_CM * cf
    dbsp = db * sp
    jac[:, 3] = outer(dbsp * cs - da * ss, dbsp * ss + da * cs, db * cp)
    jac *= _DEG
    return hand, jac


def forward_kinematics(q: ArrayLike) -> np.ndarray:
    """Hand (pen-tip) position for joint angles.

    Parameters
    ----------
    q : (..., 4) joint angles, deg, order :data:`JOINT_NAMES`.

    Returns
    -------
    (..., 3) hand position in the world frame, cm (origin at the shoulder).
    """
    q = _check_joints(q)
    return np.moveaxis(_kinematics(np.moveaxis(q, -1, 0), with_jacobian=False)[0], 0, -1)


def elbow_position(q: ArrayLike) -> np.ndarray:
    """Elbow position: (..., 4) deg -> (..., 3) world cm."""
    q = _check_joints(q) * _DEG
    e, s = q[..., 0], q[..., 1]
    # R (0, -L1, 0): the Ry(rot - elv) factor leaves the y axis unchanged
    x, y = UPPER_ARM_CM * np.sin(s), -UPPER_ARM_CM * np.cos(s)
    px, pz = x * np.cos(e), -x * np.sin(e)
    return np.stack([-pz, -px, y], axis=-1)


def jacobian(q: ArrayLike) -> np.ndarray:
    """Analytic Jacobian of :func:`forward_kinematics`.

    Parameters
    ----------
    q : (..., 4) joint angles, deg.

    Returns
    -------
    (..., 3, 4) d(hand world cm)/d(joint deg).
    """
    q = _check_joints(q)
    jac = _kinematics(np.moveaxis(q, -1, 0))[1]
    return np.moveaxis(jac, (0, 1), (-2, -1))
