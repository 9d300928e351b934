"""Latent transforms, embedding and start points of the augmentation."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from deepdraw.augmentation import (LATENT_SETS, affine_matrix, draw_latents, embed,
                                   load_start_points, resize, speed_up, transform)

ROOT = Path(__file__).resolve().parents[1]
START_POINTS = ROOT / "resources" / "pcr_startingpoints.hdf5"
IDENTITY = dict(size=1.0, rotation=0.0, shear_x=0.0, shear_y=0.0, speed=1.0)


def _smooth_character(n: int = 120) -> np.ndarray:
    """A loop with a bell-shaped speed profile, (n, 2) cm."""
    s = np.linspace(0, 1, n)
    phase = 2 * np.pi * (s - np.sin(2 * np.pi * s) / (2 * np.pi))
    return np.column_stack([5 * np.sin(phase), 5 * np.cos(phase) - 5 * s])


def test_draw_latents_uses_the_sets_and_the_rng():
    latents = draw_latents(np.random.default_rng(0), 3000)
    assert set(latents) == set(LATENT_SETS)
    for name, values in LATENT_SETS.items():
        drawn = latents[name]
        assert drawn.shape == (3000,)
        assert set(np.unique(drawn)) == set(values)
        counts = np.array([(drawn == v).sum() for v in values])
        assert np.all(np.abs(counts / 3000 - 1 / len(values)) < 0.04)  # uniform
    again = draw_latents(np.random.default_rng(0), 3000)
    assert all(np.array_equal(latents[k], again[k]) for k in latents)
    assert not np.array_equal(latents["size"], draw_latents(np.random.default_rng(1), 3000)["size"])
    assert not np.array_equal(latents["shear_x"], latents["shear_y"])  # drawn independently


def test_identity_latents_give_the_identity():
    traj = _smooth_character()
    np.testing.assert_allclose(transform(traj, **IDENTITY), traj, atol=1e-12)


def test_rotation_by_90_degrees():
    square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    # rotation set has no 90, but the map is defined for any angle; (x, y) -> (-y, x)
    got = transform(square, **{**IDENTITY, "rotation": 90.0})
    np.testing.assert_allclose(got, np.column_stack([-square[:, 1], square[:, 0]]), atol=1e-12)


def test_affine_is_shear_times_rotation():
    sx, sy, rot = 15.0, -30.0, 30.0
    a = affine_matrix(rot, sx, sy)
    shear = np.array([[1, np.tan(np.pi / 12)], [np.tan(-np.pi / 6), 1]])
    r = np.array([[np.cos(np.pi / 6), -np.sin(np.pi / 6)], [np.sin(np.pi / 6), np.cos(np.pi / 6)]])
    np.testing.assert_allclose(a, shear @ r)
    traj = _smooth_character()
    got = transform(traj, **{**IDENTITY, "rotation": rot, "shear_x": sx, "shear_y": sy})
    np.testing.assert_allclose(got, traj @ (shear @ r).T, atol=1e-12)
    # a pure x-shear moves x by tan(sx) * y and leaves y alone
    sheared = transform(traj, **{**IDENTITY, "shear_x": 15.0})
    np.testing.assert_allclose(sheared[:, 0], traj[:, 0] + np.tan(np.pi / 12) * traj[:, 1],
                               atol=1e-12)
    np.testing.assert_allclose(sheared[:, 1], traj[:, 1], atol=1e-12)


@pytest.mark.parametrize("size", [0.7, 1.3])
def test_size_keeps_the_velocity_profile_and_scales_the_drawing(size):
    traj = _smooth_character(100)
    out = resize(traj, size)
    assert len(out) == int(np.floor(100 * size + 1e-9))
    np.testing.assert_allclose(out[0], traj[0])
    # per-step displacement at the new steps = the old profile at the same fraction of time
    step = np.linalg.norm(np.diff(out, axis=0), axis=1)
    old = np.linalg.norm(np.diff(traj, axis=0), axis=1)
    frac_new = (np.arange(1, len(out)) + 0.5) / len(out)
    frac_old = (np.arange(1, len(traj)) + 0.5) / len(traj)
    np.testing.assert_allclose(step, np.interp(frac_new, frac_old, old), atol=0.03 * old.max())
    np.testing.assert_allclose(step.max(), old.max(), rtol=0.02)  # same peak speed per step
    # path length grows by the size factor
    np.testing.assert_allclose(step.sum() / old.sum(), size, rtol=0.03)


def test_size_of_a_constant_velocity_line_is_exact():
    line = np.column_stack([np.arange(50.0) * 0.2, np.zeros(50)])
    out = resize(line, 1.3)
    assert len(out) == 65
    # interior steps keep the displacement 0.2 exactly
    np.testing.assert_allclose(np.diff(out[:, 0])[2:], 0.2)


@pytest.mark.parametrize("speed", [0.8, 1.2, 1.4])
def test_speed_resamples_the_same_path(speed):
    traj = _smooth_character(140)
    out = speed_up(traj, speed)
    assert len(out) == int(np.floor(140 / speed + 1e-9))
    np.testing.assert_allclose(out[[0, -1]], traj[[0, -1]])
    # the points lie on the original path at evenly spaced times
    times = np.linspace(0, 139, len(out))
    np.testing.assert_allclose(out[:, 0], np.interp(times, np.arange(140), traj[:, 0]))
    length_old = np.linalg.norm(np.diff(traj, axis=0), axis=1).sum()
    length_new = np.linalg.norm(np.diff(out, axis=0), axis=1).sum()
    np.testing.assert_allclose(length_new, length_old, rtol=0.01)


def test_transform_length_composes_size_then_speed():
    traj = _smooth_character(182)
    out = transform(traj, size=1.3, rotation=15, shear_x=-30, shear_y=30, speed=0.8)
    assert len(out) == 295  # the longest movement of the original dataset


def test_embedding_axes():
    traj = np.array([[1.0, 2.0], [3.0, -4.0]])
    start = np.array([10.0, 20.0, 30.0])
    np.testing.assert_allclose(embed(traj, "horizontal", start),
                               [[12.0, 19.0, 30.0], [6.0, 17.0, 30.0]])
    np.testing.assert_allclose(embed(traj, "vertical", start),
                               [[10.0, 19.0, 32.0], [10.0, 17.0, 26.0]])
    with pytest.raises(ValueError, match="sagittal"):
        embed(traj, "sagittal", start)


def test_bad_trajectories_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        transform(np.array([[0.0, 0.0], [np.nan, 1.0]]), **IDENTITY)
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        transform(np.zeros((5, 3)), **IDENTITY)


def test_start_points_load():
    horizontal = load_start_points(START_POINTS, "horizontal")
    vertical = load_start_points(START_POINTS, "vertical")
    assert horizontal.shape == (539, 3) and vertical.shape == (1442, 3)


def test_start_point_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.hdf5"):
        load_start_points(tmp_path / "none.hdf5", "horizontal")
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="junk.hdf5"):
        load_start_points(junk, "horizontal")
    partial = tmp_path / "partial.hdf5"
    with h5py.File(partial, "w") as handle:
        handle["horizontal"] = np.zeros((4, 2))
    with pytest.raises(ValueError, match="partial.hdf5.*'vertical'"):
        load_start_points(partial, "vertical")
    with pytest.raises(ValueError, match=r"partial.hdf5.*\(m, 3\)"):
        load_start_points(partial, "horizontal")
