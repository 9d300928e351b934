"""Arm model: forward kinematics closed forms, Jacobian, vectorised IK vs SLSQP, jerk."""

import numpy as np
import pytest

from deepdraw import arm
from deepdraw.augmentation import load_start_points

START_POINTS = "resources/pcr_startingpoints.hdf5"


def _rot(axis: str, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def _hand_by_matrices(q):
    """The study's arm model written literally with rotation matrices (independent of arm.py)."""
    e, s, r, f = q
    shoulder = _rot("y", e) @ _rot("z", s) @ _rot("y", -e) @ _rot("y", r)
    hand = shoulder @ (_rot("x", f) @ [0, -26.0, 0] + np.array([0, -33.0, 0]))
    return np.array([[0, 0, -1], [-1, 0, 0], [0, 1, 0]]) @ hand


def character_like(rng, n, n_time, plane, start_points):
    """Smooth random pen paths in a 10 x 10 cm box centred on a start point (world cm)."""
    t = np.linspace(0, 1, n_time)
    k = np.arange(1, 4)
    amp = rng.normal(size=(n, 2, 3)) / k
    phase = rng.uniform(0, 2 * np.pi, size=(n, 2, 3))
    pen = np.sum(amp[..., None] * np.sin(2 * np.pi * k[None, None, :, None] * t + phase[..., None]),
                 axis=2)  # (n, 2, T)
    lo, hi = pen.min(axis=2, keepdims=True), pen.max(axis=2, keepdims=True)
    pen = ((pen - lo) / (hi - lo) - 0.5) * 10.0
    px, py = pen[:, 0], pen[:, 1]
    zero = np.zeros_like(px)
    # the original's plane_to_world maps (generate_data.py)
    local = np.stack([py, -px, zero] if plane == "horizontal" else [zero, -px, py], axis=-1)
    start = start_points[rng.integers(len(start_points), size=n)]
    return local + start[:, None, :]


@pytest.fixture(scope="module")
def horizontal_points():
    return load_start_points(START_POINTS, "horizontal")


@pytest.fixture(scope="module")
def vertical_points():
    return load_start_points(START_POINTS, "vertical")


def test_constants():
    assert arm.JOINT_NAMES == ("elv_angle", "shoulder_elv", "shoulder_rot", "elbow_flexion")
    np.testing.assert_array_equal(arm.JOINT_MIN, [-90, 0, -90, 0])
    np.testing.assert_array_equal(arm.JOINT_MAX, [130, 180, 20, 130])
    np.testing.assert_array_equal(arm.Q0, [50, 40, 20, 75])


@pytest.mark.parametrize("q, hand", [
    ((0, 0, 0, 0), (0, 0, -59)),      # hanging straight down
    ((0, 0, 0, 90), (26, 0, -33)),    # forearm forward
    ((0, 90, 0, 0), (0, -59, 0)),     # abducted to the side
    ((90, 90, 0, 0), (59, 0, 0)),     # flexed straight forward
    ((0, 180, 0, 0), (0, 0, 59)),     # straight up
])
def test_forward_kinematics_known_postures(q, hand):
    np.testing.assert_allclose(arm.forward_kinematics(np.array(q, float)), hand, atol=1e-12)


def test_forward_kinematics_matches_rotation_matrices_and_link_lengths():
    rng = np.random.default_rng(0)
    q = rng.uniform(arm.JOINT_MIN, arm.JOINT_MAX, size=(200, 4))
    hand = arm.forward_kinematics(q)
    np.testing.assert_allclose(hand, [_hand_by_matrices(x) for x in q], atol=1e-12)
    elbow = arm.elbow_position(q)
    np.testing.assert_allclose(np.linalg.norm(elbow, axis=-1), 33.0, rtol=1e-13)
    np.testing.assert_allclose(np.linalg.norm(hand - elbow, axis=-1), 26.0, rtol=1e-13)
    # broadcasting over leading axes
    assert arm.forward_kinematics(q.reshape(10, 20, 4)).shape == (10, 20, 3)


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(1)
    q = rng.uniform(arm.JOINT_MIN, arm.JOINT_MAX, size=(100, 4))
    h = 1e-5
    numeric = np.stack([(arm.forward_kinematics(q + h * e) - arm.forward_kinematics(q - h * e))
                        / (2 * h) for e in np.eye(4)], axis=-1)
    jac = arm.jacobian(q)
    assert jac.shape == (100, 3, 4)
    np.testing.assert_allclose(jac, numeric, atol=1e-8)


def test_ik_round_trip_on_reachable_trajectories():
    rng = np.random.default_rng(2)
    n, n_time = 40, 120
    t = np.linspace(0, 1, n_time)[None, :, None]
    centre = rng.uniform(arm.JOINT_MIN + 25, arm.JOINT_MAX - 25, size=(n, 1, 4))
    q_true = centre + rng.uniform(-20, 20, size=(n, 1, 4)) * np.sin(2 * np.pi * t + centre)
    targets = arm.forward_kinematics(q_true)
    q, err = arm.inverse_kinematics(targets, return_error=True)
    assert q.shape == (n, n_time, 4) and err.shape == (n, n_time)
    np.testing.assert_allclose(arm.forward_kinematics(q), targets, atol=1e-3)
    assert err.max() < 1e-5
    assert (q >= arm.JOINT_MIN).all() and (q <= arm.JOINT_MAX).all()
    np.testing.assert_allclose(arm.tracing_error(targets, q), err.sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("plane", ["horizontal", "vertical"])
def test_ik_matches_slsqp_reference(plane, horizontal_points, vertical_points):
    rng = np.random.default_rng(3)
    points = horizontal_points if plane == "horizontal" else vertical_points
    targets = character_like(rng, 3, 25, plane, points)
    q = arm.inverse_kinematics(targets)
    for i in range(len(targets)):
        ref = arm.inverse_kinematics_reference(targets[i])
        np.testing.assert_allclose(arm.forward_kinematics(ref), targets[i], atol=1e-6)
        assert np.abs(q[i] - ref).mean() < 1e-3  # degrees
        assert np.abs(q[i] - ref).max() < 1e-2


def test_ik_follows_joint_limits_like_the_reference():
    # a path along the upper limit of shoulder rotation (20 deg): the limit stays active
    n_time = 30
    t = np.linspace(0, 1, n_time)
    q_path = np.stack([40 + 0 * t, 60 + 30 * t, 20 + 0 * t, 80 - 30 * t], axis=-1)
    targets = arm.forward_kinematics(q_path)[None]
    q, err = arm.inverse_kinematics(targets, q_start=q_path[0], return_error=True)
    ref = arm.inverse_kinematics_reference(targets[0], q_start=q_path[0])
    assert err.max() < 1e-5
    assert (q >= arm.JOINT_MIN).all() and (q <= arm.JOINT_MAX).all()
    assert np.isclose(q[0, :, 2], arm.JOINT_MAX[2]).any()  # the limit is active somewhere
    assert np.abs(q[0] - ref).max() < 1e-2


def test_first_step_is_closest_to_q_start():
    # the shoulder-hand distance fixes the elbow; among the postures reaching the target the
    # first step must pick the one nearest Q0 (compare against a dense sampling of postures)
    rng = np.random.default_rng(4)
    target = arm.forward_kinematics(np.array([10.0, 100.0, -40.0, 60.0]))
    q = arm.inverse_kinematics(target[None, None])[0, 0]
    ref = arm.inverse_kinematics_reference(target[None])[0]
    np.testing.assert_allclose(q, ref, atol=1e-3)
    samples = rng.uniform(arm.JOINT_MIN, arm.JOINT_MAX, size=(200_000, 4))
    samples[:, 3] = q[3]
    close = np.linalg.norm(arm.forward_kinematics(samples) - target, axis=-1) < 0.5
    assert close.any()
    assert np.linalg.norm(q - arm.Q0) <= np.linalg.norm(samples[close] - arm.Q0, axis=1).min() + 1


def test_nan_padding(horizontal_points):
    rng = np.random.default_rng(5)
    targets = character_like(rng, 3, 40, "horizontal", horizontal_points)
    lengths = [40, 25, 12]
    padded = targets.copy()
    for i, length in enumerate(lengths):
        padded[i, length:] = np.nan
    q, err = arm.inverse_kinematics(padded, return_error=True)
    for i, length in enumerate(lengths):
        assert np.isnan(q[i, length:]).all() and np.isnan(err[i, length:]).all()
        alone = arm.inverse_kinematics(targets[i:i + 1, :length])
        np.testing.assert_allclose(q[i, :length], alone[0], atol=1e-9)
    assert np.isfinite(arm.tracing_error(padded, q)).all()


def test_unreachable_targets_are_reported():
    targets = np.array([[[0.0, 0.0, -50.0], [70.0, 0.0, 0.0], [0.0, 0.0, -50.0]]])
    q, err = arm.inverse_kinematics(targets, return_error=True)
    assert err[0, 0] < 1e-6 and err[0, 2] < 1e-6
    assert err[0, 1] > 10.0  # 70 cm is beyond the 59 cm arm
    assert arm.tracing_error(targets, q)[0] > 10.0
    assert (q >= arm.JOINT_MIN).all() and (q <= arm.JOINT_MAX).all()


def test_tracing_error_sums_hand_distances():
    rng = np.random.default_rng(6)
    q = rng.uniform(arm.JOINT_MIN, arm.JOINT_MAX, size=(4, 10, 4))
    offsets = rng.normal(size=(4, 10, 3))
    targets = arm.forward_kinematics(q) + offsets
    targets[1, 7:] = np.nan
    expected = np.linalg.norm(offsets, axis=-1)
    expected[1, 7:] = 0.0
    np.testing.assert_allclose(arm.tracing_error(targets, q), expected.sum(axis=1))


def test_joint_jerk_closed_forms():
    n_time = 50
    t = np.arange(n_time, dtype=float)
    a = np.array([0.5, -1.0, 2.0, 0.25])
    # cubic: inside (3 steps away from the ends) the central differences are exact, jerk = 6a
    series = arm.joint_jerk_series((a * t[:, None] ** 3)[None])
    np.testing.assert_allclose(series[0, 3:-3], np.broadcast_to(6 * a, (n_time - 6, 4)))
    # linear: exactly zero everywhere (also the one-sided ends)
    assert np.allclose(arm.joint_jerk((a * t[:, None] + 3)[None]), 0.0)
    # quadratic: zero inside, end effects (0.5, 0.5, 0.25) a at each end -> sqrt(1.125) |a|
    jerk = arm.joint_jerk((a * t[:, None] ** 2)[None])
    np.testing.assert_allclose(jerk, [np.sqrt(1.125 * np.sum(a ** 2))], rtol=1e-12)


def test_joint_jerk_equals_original_definition_with_padding():
    rng = np.random.default_rng(7)
    q = np.cumsum(rng.normal(size=(3, 30, 4)), axis=1)
    lengths = [30, 17, 6]
    padded = q.copy()
    for i, length in enumerate(lengths):
        padded[i, length:] = np.nan
    jerk = arm.joint_jerk(padded)
    for i, length in enumerate(lengths):
        g = q[i, :length].T  # the original's (4, T) layout and np.gradient thrice
        expected = np.linalg.norm(np.gradient(np.gradient(np.gradient(g, axis=1), axis=1), axis=1))
        assert jerk[i] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((5, 3)), "targets"),
    (np.zeros((2, 5, 2)), "targets"),
    (np.array([[[0, 0, -50], [np.nan] * 3, [0, 0, -50]]], dtype=float), "padding"),
])
def test_ik_rejects_bad_targets(bad, match):
    with pytest.raises(ValueError, match=match):
        arm.inverse_kinematics(bad)


def test_bad_joint_inputs():
    with pytest.raises(ValueError, match="q"):
        arm.forward_kinematics(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="q_start"):
        arm.inverse_kinematics(np.zeros((1, 2, 3)) - 40, q_start=[0, 0, 0, 200])
    with pytest.raises(ValueError, match="q"):
        arm.joint_jerk(np.zeros((2, 10, 3)))
    with pytest.raises(ValueError, match="does not match"):
        arm.tracing_error(np.zeros((2, 10, 3)), np.zeros((2, 9, 4)))
