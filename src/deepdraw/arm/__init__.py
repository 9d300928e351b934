"""Four-degree-of-freedom arm: forward kinematics, Jacobian, vectorised inverse kinematics.

Modules: :mod:`~deepdraw.arm.model` (joints, segments, frames, forward kinematics, Jacobian),
:mod:`~deepdraw.arm.ik` (vectorised inverse kinematics), :mod:`~deepdraw.arm.reference`
(per-point SLSQP reference), :mod:`~deepdraw.arm.checks` (tracing error, joint jerk); their
public names are importable from ``deepdraw.arm``.


The arm follows the original study (Sandbrink et al. 2023, Methods; authors' ``pcr_data_utils.Arm``): upper arm
33 cm and forearm 26 cm; joints in degrees, in the order of :data:`JOINT_NAMES`.  In the shoulder
frame {S} the shoulder rotation is ``Ry(elv) Rz(shoulder_elv) Ry(-elv) Ry(shoulder_rot)`` and the
elbow rotation ``Rx(elbow_flexion)``; with the arm hanging along -y,

    elbow = R (0, -L1, 0),   hand = R (Rx(flex) (0, -L2, 0) + (0, -L1, 0)).

World coordinates {W} (cm, origin at the shoulder) are ``w = SHOULDER_TO_WORLD @ s``.

Inverse kinematics solves, for every time step and in order (as the original's per-point SLSQP):
the hand exactly on the target (equality), joints inside ``[JOINT_MIN, JOINT_MAX]``, and the
posture closest (Euclidean norm in degrees) to the previous step's solution; the first step is
closest to ``q_start``.  :func:`inverse_kinematics` does this for all samples at once with a
damped Gauss-Newton/SQP iteration on the KKT system plus an active set for the joint limits;
:func:`inverse_kinematics_reference` is the per-point SLSQP solver it is tested against.
"""

from deepdraw.arm.checks import joint_jerk, joint_jerk_series, tracing_error
from deepdraw.arm.ik import inverse_kinematics
from deepdraw.arm.model import (FOREARM_CM, JOINT_MAX, JOINT_MIN, JOINT_NAMES, ORIGINAL_SLSQP_GUESS,
                                Q0, SHOULDER_TO_WORLD, UPPER_ARM_CM, elbow_position,
                                forward_kinematics, jacobian)
from deepdraw.arm.reference import inverse_kinematics_reference

__all__ = ["FOREARM_CM", "JOINT_MAX", "JOINT_MIN", "JOINT_NAMES", "ORIGINAL_SLSQP_GUESS", "Q0",
           "SHOULDER_TO_WORLD", "UPPER_ARM_CM", "elbow_position", "forward_kinematics",
           "inverse_kinematics", "inverse_kinematics_reference", "jacobian", "joint_jerk",
           "joint_jerk_series", "tracing_error"]
