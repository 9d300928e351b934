"""Muscle fibre lengths: OpenSim backend, validity tests, the shipped surrogate and the fit CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepdraw import muscles
from deepdraw.muscles import (MUSCLE_JOINTS, MUSCLE_NAMES, MuscleSurrogate, muscle_lengths,
                              muscle_velocity, opensim_fiber_lengths, valid_trajectories)

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "resources/MoBL_ARMS_module5_scaleIK.osim"
SHIPPED = ROOT / "resources/muscle_surrogate.npz"
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
# Muscles whose OpenSim path length jumps between wrapping branches (docs/muscles.md).
BRANCHING = {"LAT1", "LAT2", "LAT3", "TMAJ", "TMIN"}


@pytest.fixture(scope="module")
def shipped():
    return MuscleSurrogate.load(SHIPPED)


@pytest.fixture(scope="module")
def held_out_trajectories():
    """Two short movements the shipped surrogate never saw, evaluated by OpenSim.

    Drawn like the dataset (augmented characters of the test CSV, inverse kinematics) with a
    seed other than the fit's, and cut to 40 frames each so OpenSim costs < 1 s.
    """
    from deepdraw import arm, augmentation, generation
    from deepdraw.characters import StoredCharacters, preprocess, read_characters

    charset = read_characters(ROOT / "tests/data/uci_characters_subset100.csv")
    n = len(charset.labels)
    table = StoredCharacters(preprocess(charset.velocities), np.asarray(charset.labels),
                             np.arange(n), np.zeros(n, np.int8), charset.letters, {})
    settings = dict(CONFIG["generation"], planes=["horizontal", "vertical"])
    points = {p: augmentation.load_start_points(ROOT / settings["start_points"], p)
              for p in settings["planes"]}
    q, trajectory = generation.sample_postures(table, points, 1, settings, seed=11)
    keep = np.concatenate([np.flatnonzero(trajectory == t)[:40] for t in np.unique(trajectory)])
    q, trajectory = q[keep], trajectory[keep]
    assert q.shape[1] == len(arm.JOINT_NAMES)
    return q, trajectory, opensim_fiber_lengths(q, MODEL)


def test_muscle_names_follow_the_study_order():
    assert len(MUSCLE_NAMES) == 25 and len(set(MUSCLE_NAMES)) == 25
    assert MUSCLE_NAMES[:3] == ("CORB", "DELT1", "DELT2") and MUSCLE_NAMES[-1] == "TRImed"


def test_opensim_gives_plausible_lengths_in_name_order():
    q = np.array([[20.0, 50.0, -30.0, 40.0], [20.0, 50.0, -30.0, 110.0], [0.0, 80.0, 0.0, 90.0]])
    lengths = opensim_fiber_lengths(q, MODEL)
    assert lengths.shape == (3, 25)
    assert np.all(np.isfinite(lengths)) and np.all((lengths > 5) & (lengths < 400))
    flexion = lengths[1] - lengths[0]  # elbow 40 -> 110 deg
    index = {name: i for i, name in enumerate(MUSCLE_NAMES)}
    for flexor in ("BIClong", "BICshort", "BRA", "BRD"):
        assert flexion[index[flexor]] < -5  # flexors shorten
    for extensor in ("TRIlong", "TRIlat", "TRImed", "ANC"):
        assert flexion[index[extensor]] > 3  # extensors lengthen
    for shoulder_only in ("DELT1", "LAT1", "PECM1", "SUPSP"):
        assert flexion[index[shoulder_only]] == pytest.approx(0.0, abs=1e-6)
    # the generic entry point gives the same numbers, for any leading shape
    again = muscle_lengths(q.reshape(3, 1, 4), backend="opensim", model_path=MODEL)
    np.testing.assert_allclose(again[:, 0], lengths)


def test_muscle_joints_match_opensim():
    """MUSCLE_JOINTS (which joints each muscle's fit uses) is what OpenSim does."""
    q0 = np.array([15.0, 45.0, -40.0, 70.0])
    q = np.vstack([q0] + [q0 + 12.0 * np.eye(4)[k] for k in range(4)])
    lengths = opensim_fiber_lengths(q, MODEL)
    depends = np.abs(lengths[1:] - lengths[0]).T > 1e-6  # (25, 4)
    np.testing.assert_array_equal(depends, MUSCLE_JOINTS)


def test_unloadable_model_names_the_file(tmp_path):
    broken = tmp_path / "broken.osim"
    broken.write_text("<OpenSimDocument><Model name='x'><not-closed></OpenSimDocument>")
    with pytest.raises(muscles.OpenSimModelError, match="broken.osim"):
        opensim_fiber_lengths(np.zeros((1, 4)), broken)
    with pytest.raises(muscles.OpenSimModelError, match="missing.osim"):
        opensim_fiber_lengths(np.zeros((1, 4)), tmp_path / "missing.osim")


def _within_tolerance(info) -> dict[str, bool]:
    fit = CONFIG["muscles"]["fit"]
    return {m: info["rms_mm"][m] <= fit["max_rms_mm"] and info["max_mm"][m] <= fit["max_abs_mm"]
            for m in MUSCLE_NAMES}


def _usable_everywhere_posture(surrogate) -> np.ndarray:
    """Centre of a grid cell inside the domain of every grid muscle (and of the box)."""
    grid = surrogate.grid_
    cells = np.argwhere(np.all(surrogate.usable_, axis=-1))
    centres = grid.start + (cells + 0.5) * grid.step
    q = np.column_stack([centres, np.full(len(centres), grid.elbow)])
    return q[surrogate.in_domain(q)][0]


def test_shipped_surrogate_matches_opensim_on_held_out_frames(shipped, held_out_trajectories):
    """Muscles validated within the config tolerance stay within it on unseen movements.

    Scored where OpenSim accepts the trajectory and the posture is inside the surrogate's
    domain (grid muscles are NaN in cells straddling a wrapping-branch switch).
    """
    q, trajectory, exact = held_out_trajectories
    predicted = shipped.predict(q)
    inside = np.isfinite(predicted)
    assert shipped.in_domain(q).mean() > 0.9
    assert np.all(inside[shipped.in_domain(q)][:, ~np.isin(shipped.form_, ["grid"])])
    # Compare where OpenSim itself is valid: trajectories without NaN/range/jump flags.
    ok = np.ones_like(exact, dtype=bool)
    for t in np.unique(trajectory):
        rows = trajectory == t
        flags = muscles.trajectory_flags(exact[rows], trajectory[rows])
        ok[rows] &= ~np.any([f.any(axis=0) for f in flags.values()], axis=0)
    ok &= inside
    assert ok.sum() > 0.7 * ok.size
    fit = CONFIG["muscles"]["fit"]
    within = _within_tolerance(shipped.info)
    branching = {name for name, form in zip(MUSCLE_NAMES, shipped.form_) if form == "grid"}
    assert branching <= BRANCHING
    for m, name in enumerate(MUSCLE_NAMES):
        error = np.abs(predicted[:, m] - exact[:, m])[ok[:, m]]
        assert error.size > 0, name
        if within[name]:
            assert np.sqrt(np.mean(error ** 2)) <= fit["max_rms_mm"], name
            assert error.max() <= fit["max_abs_mm"], name
        else:
            assert np.median(error) <= fit["max_rms_mm"], name


def test_grid_muscles_are_nan_in_cells_straddling_a_wrapping_switch(shipped):
    """Where OpenSim's length steps across a grid edge, the surrogate declines to predict.

    The shipped grid's steepest edge of a grid muscle is re-evaluated in OpenSim (a real
    switch: far more than any smooth muscle changes over 4 deg); inside the cells on that
    edge the muscle is NaN, in a cell usable for every grid muscle all 25 are finite.
    """
    grid = shipped.grid_
    k = int(np.flatnonzero(grid.muscles == MUSCLE_NAMES.index("TMAJ"))[0])
    values = grid.values[..., k].astype(float)
    step = np.abs(np.diff(values, axis=2))
    a, b, c = np.unravel_index(np.nanargmax(step), step.shape)
    nodes = grid.start + np.array([[a, b, c], [a, b, c + 1]]) * grid.step
    exact = opensim_fiber_lengths(np.column_stack([nodes, [grid.elbow] * 2]), MODEL)
    m = grid.muscles[k]
    assert abs(exact[1, m] - exact[0, m]) > 3 * muscles.GRID_MAX_STEP_MM
    assert not shipped.usable_[..., k][max(a - 1, 0):a + 1, max(b - 1, 0):b + 1, c].any()
    cell = np.minimum([a, b, c], np.array(grid.values.shape[:3]) - 2)  # a cell on that edge
    q = np.append(grid.start + (cell + 0.5) * grid.step, 90.0)
    if shipped.in_domain(q):
        assert np.isnan(shipped.predict(q[None])[0, m])
        # the shoulder muscles without switches are still predicted there
        assert np.isfinite(shipped.predict(q[None])[0, MUSCLE_NAMES.index("SUPSP")])
    good = shipped.predict(_usable_everywhere_posture(shipped)[None])
    assert np.all(np.isfinite(good))


def test_usable_cells_flags_steps_and_isolated_branch_nodes():
    """A 20-mm step and a 5-mm single-node excursion are found; smooth cells stay usable."""
    start, step = np.zeros(3), np.full(3, 4.0)
    axes = [start[i] + step[i] * np.arange(8) for i in range(3)]
    a, b, c = np.meshgrid(*axes, indexing="ij")
    smooth = 100 + 0.5 * a - 0.3 * b + 0.002 * a * c + 0.01 * b ** 2  # <= ~2 mm per edge
    values = np.stack([smooth, smooth, smooth], axis=-1)
    values[:, :, 4:, 0] += 20.0  # switch between nodes c=3 and c=4
    values[3, 4, 3, 1] += 5.0  # one node on another branch, below the step threshold
    values[6, 6, 6, 2] = np.nan  # not evaluated
    grid = muscles.ShoulderGrid(start, step, values, np.array([5, 6, 13]), elbow=90.0)
    usable = grid.usable_cells()
    assert not usable[:, :, 3, 0].any() and usable[:, :, np.r_[0:3, 4:7], 0].all()
    around = np.zeros((7, 7, 7), dtype=bool)
    around[2:4, 3:5, 2:4] = True  # the 8 cells sharing the odd node
    np.testing.assert_array_equal(usable[..., 1], ~around)
    assert not usable[5:7, 5:7, 5:7, 2].any() and usable[..., 2].sum() == 7 ** 3 - 8
    # interpolation honours the mask: NaN in broken cells, exact elsewhere
    q = np.array([[10.0, 10.0, 14.0, 90.0], [10.0, 10.0, 6.0, 90.0]])
    out = grid.interpolate(q, usable)
    assert np.isnan(out[0, 0]) and np.isfinite(out[1, 0])


def test_surrogate_is_nan_outside_its_domain(shipped):
    centre = _usable_everywhere_posture(shipped)
    q = np.tile(centre, (4, 1))
    q[1, 0] = shipped.upper_[0] + 5.0
    q[2, 3] = shipped.lower_[3] - 5.0
    q[3, 2] = np.nan
    out = shipped.predict(q)
    assert np.all(np.isfinite(out[0]))
    assert np.all(np.isnan(out[1:]))


def test_shipped_surrogate_is_small(shipped):
    # its speed is measured by benchmarks/bench_generation.py (surrogate_frames_per_s)
    assert SHIPPED.stat().st_size < 1_000_000


def test_save_load_round_trip(tmp_path, shipped):
    path = tmp_path / "s.npz"
    shipped.save(path)
    again = MuscleSurrogate.load(path)
    q = np.random.default_rng(1).uniform(shipped.lower_, shipped.upper_, (50, 4))
    np.testing.assert_array_equal(again.predict(q), shipped.predict(q))
    np.testing.assert_array_equal(again.lower_, shipped.lower_)
    assert again.info == shipped.info
    via_path = muscle_lengths(q, backend="surrogate", surrogate=path)
    np.testing.assert_array_equal(via_path, shipped.predict(q))


def test_fit_recovers_a_polynomial_and_drops_artefacts():
    """On a synthetic smooth map with a few 40-mm artefacts, the fit ignores the artefacts."""
    rng = np.random.default_rng(3)
    q = rng.uniform([-50, 10, -80, 50], [100, 100, 20, 120], (3000, 4))
    x = q / 100.0
    truth = np.empty((len(q), 25))
    for m in range(25):
        a = MUSCLE_JOINTS[m]
        truth[:, m] = 100 + 10 * m * x[:, 0] * a[0] + 5 * (x[:, 1] * a[1]) ** 2 \
            + 3 * x[:, 2] * x[:, 1] * a[2] + 20 * np.sin(x[:, 3]) * a[3]
    noisy = truth.copy()
    noisy[::97, :] += 40.0  # artefacts
    groups = np.arange(len(q)) // 30
    surrogate = MuscleSurrogate(degrees={1: (3, 5, 7), 3: (2, 3, 4), 4: (3, 5)}).fit(q, noisy, groups)
    error = np.abs(surrogate.predict(q) - truth)
    assert error.max() < 0.01
    assert np.all(surrogate.n_outliers_ >= len(q[::97]))


def test_shoulder_grid_interpolates_trilinear_maps_exactly_and_falls_back_to_the_polynomial():
    rng = np.random.default_rng(5)
    start, step = np.array([-10.0, 0.0, -50.0]), np.array([4.0, 4.0, 4.0])
    axes = [s + d * np.arange(n) for s, d, n in zip(start, step, (6, 5, 7))]
    a, b, c = np.meshgrid(*axes, indexing="ij")
    values = np.stack([1 + 2 * a + 3 * b - c + 0.01 * a * b * c, 50 + a * c], axis=-1)
    values[0, 0, 0, :] = np.nan  # a node that was not evaluated
    grid = muscles.ShoulderGrid(start, step, values, np.array([0, 5]), elbow=90.0)
    q = np.column_stack([rng.uniform(-6, 10, 200), rng.uniform(4, 16, 200),
                         rng.uniform(-46, -26, 200), np.full(200, 90.0)])
    out = grid.interpolate(q)
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    np.testing.assert_allclose(out[:, 0], 1 + 2 * x + 3 * y - z + 0.01 * x * y * z, atol=1e-9)
    np.testing.assert_allclose(out[:, 1], 50 + x * z, atol=1e-9)
    # outside the grid, or in a cell touching the missing node: NaN
    assert np.all(np.isnan(grid.interpolate(np.array([[-12.0, 5, -40, 90], [-9.0, 1, -49, 90]]))))
    nodes, lengths = grid.evaluated()
    assert len(nodes) == 6 * 5 * 7 - 1 and np.isnan(lengths[:, 1]).all()


def test_valid_trajectories_flags_nan_range_and_jumps_within_duration():
    n, steps = 5, 30
    t = np.arange(steps)
    lengths = np.broadcast_to(100 + 2 * np.sin(t / 5.0), (n, 25, steps)).copy()
    durations = np.array([30, 20, 20, 20, 20])
    lengths[1, 3, 10] = np.nan
    lengths[2, 7, :] = muscles.MAX_FIBER_MM + 1  # out of range, but smooth (no jump)
    lengths[3, 16, 12:] += 3 * muscles.MAX_JUMP_MM
    # sample 4: garbage only after its end, which must be ignored
    lengths[4, :, 20:] = np.nan
    lengths[4, 2, 25] = 1e4
    ok, reasons = valid_trajectories(lengths, durations)
    np.testing.assert_array_equal(ok, [True, False, False, False, True])
    np.testing.assert_array_equal(reasons["muscle_nan"], [False, True, False, False, False])
    np.testing.assert_array_equal(reasons["muscle_range"], [False, False, True, False, False])
    np.testing.assert_array_equal(reasons["muscle_jump"], [False, False, False, True, False])
    # a smooth step just under the threshold is not a jump
    lengths = np.broadcast_to(100 + (muscles.MAX_JUMP_MM - 0.5) * t, (1, 25, steps))
    assert valid_trajectories(np.minimum(lengths, 390), [steps])[0].all()


def test_muscle_velocity_is_the_gradient():
    lengths = np.broadcast_to(100 + 3.0 * np.arange(10) * 0.015, (2, 25, 10))
    np.testing.assert_allclose(muscle_velocity(lengths, 0.015), 3.0)


def test_fit_cli_fails_naming_muscles_when_tolerance_is_impossible(tmp_path):
    """A tiny fit on OpenSim: tolerance 1e-9 mm cannot hold; report written, no surrogate."""
    line = np.linspace(0, 1, 12)[:, None]
    q = np.concatenate([np.array([10, 40, -30, 60]) + line * np.array([20, 10, 15, 30]) + k
                        for k in range(3)])
    postures = tmp_path / "postures.npz"
    np.savez(postures, postures=q, trajectory=np.repeat(np.arange(3), 12),
             joint_names=np.array(muscles.JOINT_NAMES))
    out, table, figure = tmp_path / "s.npz", tmp_path / "r.csv", tmp_path / "r.png"
    result = subprocess.run(
        [sys.executable, "-m", "deepdraw.muscles", "fit", "--postures", str(postures),
         "--model", str(MODEL), "--out", str(out), "--report-csv", str(table),
         "--report-figure", str(figure), "--max-rms", "1e-9", "--max-abs", "1e-9",
         "--processes", "1", "--test-fraction", "0.34"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode != 0
    assert "CORB" in result.stderr and "surrogate not written" in result.stderr
    assert not out.exists() and figure.stat().st_size > 0
    with open(table) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["muscle"] for r in rows] == list(MUSCLE_NAMES)
    assert {"rms_mm", "max_mm", "n_train", "n_test", "n_rejected_frames", "degree"} <= set(rows[0])


def test_shipped_surrogate_records_its_validation(shipped):
    info = shipped.info
    assert info["opensim_version"].startswith("4.")
    assert set(info["rms_mm"]) == set(MUSCLE_NAMES)
    # Fitted at the config tolerance: every muscle within it on the held-out movements both
    # backends keep; the domain's price (held-out movements it rejects) is recorded.
    assert all(_within_tolerance(info).values())
    assert info["max_abs_mm"] <= CONFIG["muscles"]["fit"]["max_abs_mm"]
    assert 0 < info["n_trajectories_outside_domain_any"] < info["n_test_trajectories"] / 2
    assert info["n_test_trajectories_kept"] >= info["n_test_trajectories"] / 2
    json.dumps(info)
