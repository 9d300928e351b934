"""Plane invariance the study's way: plane test sets, per-plane fits, deviations, the paired test."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from deepdraw import augmentation, invariance, muscles
from deepdraw.activations import activation_tree, write_tree
from deepdraw.characters import StoredCharacters, preprocess, read_characters
from deepdraw.invariance.fits import fit_plane, fit_planes
from deepdraw.invariance.summary import compare_trained_untrained, layer_deviations
from deepdraw.io import open_zarr, write_zarr
from deepdraw.kinematics import load_kinematics
from deepdraw.config import resolve
from synthetic import make_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]
CONFIG = resolve([ROOT / "config/test.yaml"], ROOT)
SETTINGS = {"heights": {"horizontal": [0, 15], "vertical": [30, 42]}, "central": {"horizontal": 0, "vertical": 30},
            "samples_per_height": 6, "min_units": 3}


@pytest.fixture(scope="module")
def characters():
    charset = read_characters(ROOT / CONFIG["characters"]["file"])
    n = len(charset.labels)
    split = (np.arange(n) % 5 == 0).astype(np.int8)  # every fifth character held out
    return StoredCharacters(preprocess(charset.velocities), np.asarray(charset.labels), np.arange(n), split,
                            charset.letters, {})


@pytest.mark.parametrize("orientation,height", [("horizontal", 15.0), ("vertical", 42.0)])
def test_every_sample_of_a_plane_set_stays_on_its_plane(characters, orientation, height):
    surrogate = muscles.MuscleSurrogate.load(ROOT / "resources/muscle_surrogate_corrected.npz")
    points = augmentation.load_start_points(ROOT / "resources/pcr_startingpoints.hdf5", orientation)
    data = invariance.generate_plane_set(characters, points, orientation, height, 6, CONFIG["generation"],
                                         seed=3, length_model=surrogate.predict)
    assert data.sizes["sample"] == 6
    axis = invariance.planes.HEIGHT_AXIS[orientation]
    hand = data["hand"].values
    assert np.all(hand[..., axis] == height)  # the whole path, before, during and after the movement
    assert np.all(invariance.hand_off_plane(data) == 0)
    assert np.all(data["start_point"].values[:, axis] == height)
    assert np.all(data["plane"].values == invariance.ORIENTATIONS.index(orientation))
    assert np.all(data["split"].values == 2) and np.all(data["height"].values == height)
    # only held-out characters, named by their row in the characters store
    assert np.all(characters.split[data["source_index"].values] == 1)
    assert np.array_equal(characters.labels[data["source_index"].values], data["label"].values)
    # the hand moves in the plane (the set is not degenerate)
    assert np.ptp(hand[..., (axis + 1) % 3]) > 1 and np.ptp(hand[..., (axis + 2) % 3]) > 1


def test_start_points_on_a_grid_level_or_projected_from_the_nearest(caplog):
    points = np.array([[10.0, 0.0, 0.0], [12.0, 3.0, 0.0], [11.0, 1.0, 3.0], [0.0, 0.0, 9.0]])
    on = invariance.plane_start_points(points, "horizontal", 0.0)
    assert np.array_equal(on, points[:2])
    with caplog.at_level(logging.WARNING):
        projected = invariance.plane_start_points(points, "horizontal", 4.0)
    assert "nearest level 3" in caplog.text
    assert np.array_equal(projected, [[11.0, 1.0, 4.0]])
    vertical = invariance.plane_start_points(points, "vertical", 12.0)  # x is the vertical planes' depth
    assert np.array_equal(vertical, [[12.0, 3.0, 0.0]])


def test_the_central_plane_must_be_one_of_the_heights():
    invariance.check_settings(SETTINGS)
    bad = {**SETTINGS, "central": {"horizontal": 3, "vertical": 30}}
    with pytest.raises(ValueError, match=r"analysis.invariance.central.horizontal"):
        invariance.check_settings(bad)


def test_the_paper_heights_are_the_studys():
    paper = resolve([ROOT / "config/paper.yaml"], ROOT)["analysis"]["invariance"]
    assert tuple(paper["heights"]["horizontal"]) == invariance.STUDY_HEIGHTS["horizontal"] == tuple(range(-45, 31, 3))
    assert tuple(paper["heights"]["vertical"]) == invariance.STUDY_HEIGHTS["vertical"] == tuple(range(6, 55, 3))
    assert paper["central"] == invariance.STUDY_CENTRAL == {"horizontal": 0, "vertical": 30}


def test_signed_deviation_wraps_to_half_a_turn():
    pd_deg = np.array([10.0, 350.0, 190.0, 0.0, np.nan])
    central = np.array([350.0, 10.0, 10.0, 180.0, 5.0])
    assert np.allclose(invariance.signed_deviation(pd_deg, central)[:4], [20.0, -20.0, 180.0, 180.0])
    assert np.isnan(invariance.signed_deviation(pd_deg, central)[4])


def _units(instance, trained, seed, shifts, n_units=4, tuned=None):
    """Unit table of one instance: unit u's PD on plane h is (40 u + shift[h]) deg."""
    rows = []
    for h, shift in shifts.items():
        for u in range(n_units):
            rows.append({"task": "recognition", "architecture": "net", "instance": instance, "trained": trained,
                         "seed": seed, "layer": "spatial1", "layer_index": 1, "unit": u, "orientation": "horizontal",
                         "height_cm": h, "central": h == 0, "r2_test": 0.5,
                         "tuned": True if tuned is None else tuned(h, u), "constant": False,
                         "pd_deg": (40.0 * u + shift) % 360, "n_train_rows": 10, "n_test_rows": 10})
    return pd.DataFrame(rows)


def test_deviation_per_height_is_the_mean_absolute_change_from_the_central_plane():
    units = _units("seed0", True, 0, {-15: -10.0, 0: 0.0, 15: 30.0})
    heights = invariance.height_deviations(units, min_units=3)
    by_height = heights.set_index("height_cm")
    assert by_height.loc[-15, "mean_abs_deviation_deg"] == pytest.approx(10.0)
    assert by_height.loc[-15, "mean_deviation_deg"] == pytest.approx(-10.0)
    assert by_height.loc[15, "mean_abs_deviation_deg"] == pytest.approx(30.0)
    assert by_height.loc[0, "mean_abs_deviation_deg"] == 0.0 and bool(by_height.loc[0, "central"])
    assert layer_deviations(heights)["mean_abs_deviation_deg"].iloc[0] == pytest.approx(20.0)  # central left out


def test_only_units_tuned_on_both_planes_count_and_too_few_give_no_value():
    # unit 3 is untuned on the central plane, unit 2 untuned at 15 cm
    units = _units("seed0", True, 0, {0: 0.0, 15: 90.0, 30: 45.0}, tuned=lambda h, u: not (
        (u == 3 and h == 0) or (u == 2 and h == 15)))
    heights = invariance.height_deviations(units, min_units=3).set_index("height_cm")
    assert heights.loc[30, "n_units"] == 3  # units 0, 1, 2
    assert heights.loc[30, "mean_abs_deviation_deg"] == pytest.approx(45.0)
    assert heights.loc[15, "n_units"] == 2 and np.isnan(heights.loc[15, "mean_abs_deviation_deg"])


def test_trained_and_untrained_are_compared_by_a_paired_t_test_over_seeds():
    trained_shift, untrained_shift = [10.0, 14.0, 12.0], [40.0, 70.0, 50.0]
    frames = []
    for seed in range(3):
        frames.append(_units(f"seed{seed}", True, seed, {0: 0.0, 15: trained_shift[seed]}))
        frames.append(_units(f"untrained{seed}", False, seed, {0: 0.0, 15: untrained_shift[seed]}))
        # a second layer makes the Bonferroni factor 2
        for frame in frames[-2:]:
            frames.append(frame.assign(layer="spatial2", layer_index=2))
    tables = invariance.summarize(pd.concat(frames, ignore_index=True), min_units=3)
    row = tables["comparison"].set_index("layer").loc["spatial1"]
    expected = scipy.stats.ttest_rel(trained_shift, untrained_shift)
    assert row["test"] == "paired t" and row["n_pairs"] == 3
    assert row["statistic"] == pytest.approx(expected.statistic)
    assert row["p_bonferroni"] == pytest.approx(min(2 * expected.pvalue, 1.0))
    assert row["trained_mean_deg"] == pytest.approx(12.0) and row["untrained_mean_deg"] == pytest.approx(160 / 3)


def test_identical_instances_give_no_test_instead_of_an_infinite_t():
    frames = []
    for seed in range(3):
        frames.append(_units(f"seed{seed}", True, seed, {0: 0.0, 15: 10.0}))
        frames.append(_units(f"untrained{seed}", False, seed, {0: 0.0, 15: 50.0}))
    comparison = compare_trained_untrained(layer_deviations(invariance.height_deviations(pd.concat(frames), 3)))
    row = comparison.iloc[0]
    assert np.isnan(row["statistic"]) and np.isnan(row["p_value"]) and np.isnan(row["p_bonferroni"])
    assert "no variance" in row["note"]


def test_a_plane_fit_recovers_each_units_preferred_direction():
    rng = np.random.default_rng(1)
    n_samples, steps = 60, 40
    theta = rng.uniform(-np.pi, np.pi, n_samples * steps)
    rows = {"direction": theta, "speed": np.ones_like(theta), "sample": np.repeat(np.arange(n_samples), steps)}
    pds = np.radians([0.0, 100.0, 250.0])
    Y = np.column_stack([2 + np.cos(theta - p) + 0.1 * rng.standard_normal(len(theta)) for p in pds]
                        + [rng.standard_normal(len(theta)), np.ones_like(theta)])
    frame = fit_plane(Y, rows, 0.8, 0.2, np.random.default_rng(0))
    assert np.allclose(frame["pd_deg"][:3], [0.0, 100.0, 250.0], atol=2.0)
    assert list(frame["tuned"]) == [True, True, True, False, False]
    assert bool(frame["constant"][4]) and np.isnan(frame["pd_deg"][4])
    assert frame["n_train_rows"][0] + frame["n_test_rows"][0] == len(theta)


def _plane_store(tmp_path, spindle_turn_deg=0.0):
    """Synthetic plane store of 160 samples: horizontal planes at z = 0 (central) and 15 cm, vertical
    ones at x = 30 (central) and 42 cm. With ``spindle_turn_deg`` its spindle input is replaced by
    direction-tuned channels: muscle m, channel c (unit c * 25 + m) ~ cos(direction - 7 (c 25 + m) deg),
    turned by ``spindle_turn_deg`` off the central planes. Returns (path, height, direction)."""
    path = make_synthetic_dataset(tmp_path / "planes.zarr", n_samples=160, seed=2)
    data = open_zarr(path).load()
    plane = data["plane"].values
    height = np.where(plane == 0, np.tile([0.0, 15.0], 80), np.tile([30.0, 42.0], 80))
    data["height"] = ("sample", height.astype(np.float32))
    data["split"][:] = 2
    write_zarr(data, tmp_path / "planes2.zarr")
    kin = load_kinematics(open_zarr(tmp_path / "planes2.zarr"), np.arange(160))
    direction = kin["direction"].values  # (sample, time) rad, every step (stride 1, offset 0)
    if spindle_turn_deg:
        turn = np.radians(np.where(np.isin(height, [15.0, 42.0]), spindle_turn_deg, 0.0))
        pds = np.radians(7.0 * np.arange(50)).reshape(2, 25)  # (channel, muscle)
        tuned = np.cos(direction[:, None, None, :] - pds[None, :, :, None] - turn[:, None, None, None])
        data["spindles"] = (("sample", "muscle", "time", "channel"),
                            np.transpose(tuned, (0, 2, 3, 1)).astype(np.float32), data["spindles"].attrs)
        write_zarr(data, tmp_path / "planes3.zarr")
        return tmp_path / "planes3.zarr", height, direction
    return tmp_path / "planes2.zarr", height, direction


FIT = {"r2_threshold": 0.2, "train_fraction": 0.8, "min_speed": 0.5, "max_rows": 20000, "input_layer": True}


def test_fits_on_plane_stores_give_the_rotation_built_into_the_activations(tmp_path):
    """Units whose preferred direction turns by a known angle with the plane height: the whole
    chain (store, kinematics at the receptive-field centres, fits, deviations) returns it."""
    planes, height, direction = _plane_store(tmp_path)
    rotation = np.radians(np.where(np.isin(height, [15.0, 42.0]), 25.0, 0.0))  # 25 deg off the central plane
    pds = np.radians([0.0, 60.0, 120.0, 180.0, 240.0, 300.0])
    activation = np.stack([np.cos(direction - p - rotation[:, None]) for p in pds], axis=1)[:, :, None, :]
    tree = activation_tree({"spatial1": activation.astype(np.float32)}, {"spatial1": (1, 0.0)}, np.arange(160), {})
    write_tree(tree, tmp_path / "acts.zarr")
    units = fit_planes(str(tmp_path / "acts.zarr"), str(planes), {**FIT, "input_layer": False}, SETTINGS, 0,
                       {"task": "recognition", "architecture": "net", "instance": "seed0", "trained": True, "seed": 0})
    assert units["tuned"].all()
    assert set(units["layer"]) == {"spatial1"} and set(units["layer_index"]) == {1}  # first hidden layer
    heights = invariance.height_deviations(units, 3).set_index(["orientation", "height_cm"])
    assert heights.loc[("horizontal", 15.0), "mean_deviation_deg"] == pytest.approx(25.0, abs=1.0)
    assert heights.loc[("vertical", 42.0), "mean_abs_deviation_deg"] == pytest.approx(25.0, abs=1.0)
    assert heights.loc[("horizontal", 0.0), "mean_abs_deviation_deg"] == 0.0


def test_the_spindle_input_is_layer_0_and_the_same_for_trained_and_untrained(tmp_path):
    """The spindle input of the activations' samples is read from the plane store as layer 0: its
    fits recover the directions and the turn built into it, and do not depend on the network."""
    planes, height, direction = _plane_store(tmp_path, spindle_turn_deg=40.0)
    rows = np.sort(np.random.default_rng(5).choice(160, size=120, replace=False))  # a subset, as read out
    rng = np.random.default_rng(6)
    tables = []
    for instance, trained in (("seed0", True), ("untrained0", False)):
        # different networks: a tuned one and one of noise
        activation = (np.cos(direction[rows] - 1.0)[:, None, None, :] if trained
                      else rng.standard_normal((len(rows), 1, 1, direction.shape[1])))
        tree = activation_tree({"spatial1": activation.astype(np.float32)}, {"spatial1": (1, 0.0)}, rows, {})
        write_tree(tree, tmp_path / f"{instance}.zarr")
        tables.append(fit_planes(str(tmp_path / f"{instance}.zarr"), str(planes), FIT, SETTINGS, 0,
                                 {"task": "recognition", "architecture": "net", "instance": instance,
                                  "trained": trained, "seed": 0}))
    trained, untrained = tables
    assert list(trained["layer"].unique()) == ["spindles", "spatial1"]
    assert dict(zip(trained["layer"], trained["layer_index"])) == {"spindles": 0, "spatial1": 1}
    spindles = [t[t["layer"] == "spindles"].drop(columns=["instance", "trained"]).reset_index(drop=True)
                for t in tables]
    assert len(spindles[0]) == 50 * 4  # 25 muscles x 2 channels on each of the 4 planes
    pd.testing.assert_frame_equal(spindles[0], spindles[1])
    r2 = [t.loc[t["layer"] == "spatial1", "r2_test"].to_numpy() for t in tables]
    assert r2[0].min() > 0.9 and r2[1].max() < 0.2  # the networks themselves do differ
    central = spindles[0][spindles[0]["central"]]
    assert central["tuned"].all()
    expected = np.mod(7.0 * central["unit"].to_numpy(), 360.0)
    assert np.allclose(invariance.signed_deviation(central["pd_deg"], expected), 0.0, atol=1.0)
    heights = invariance.height_deviations(pd.concat(tables, ignore_index=True), 3)
    layer0 = heights[(heights["layer"] == "spindles") & ~heights["central"]]
    assert np.allclose(layer0["mean_deviation_deg"], 40.0, atol=1.0) and (layer0["n_units"] == 50).all()


def test_the_spindle_input_is_shown_but_not_tested_nor_counted_in_bonferroni():
    trained_shift, untrained_shift = [10.0, 14.0, 12.0], [40.0, 70.0, 50.0]
    frames = []
    for seed in range(3):
        for instance, trained, shift in ((f"seed{seed}", True, trained_shift[seed]),
                                         (f"untrained{seed}", False, untrained_shift[seed])):
            frames.append(_units(instance, trained, seed, {0: 0.0, 15: shift}))
            # the input turns by the same 30 deg whatever the network
            frames.append(_units(instance, trained, seed, {0: 0.0, 15: 30.0}).assign(layer="spindles",
                                                                                    layer_index=0))
    tables = invariance.summarize(pd.concat(frames, ignore_index=True), min_units=3)
    comparison = tables["comparison"].set_index("layer")
    layer0 = comparison.loc["spindles"]
    assert layer0["layer_index"] == 0 and layer0["test"] == "" and "spindle input" in layer0["note"]
    assert np.isnan(layer0["p_value"]) and np.isnan(layer0["p_bonferroni"])
    assert layer0["trained_mean_deg"] == pytest.approx(30.0) and layer0["untrained_mean_deg"] == pytest.approx(30.0)
    row = comparison.loc["spatial1"]
    expected = scipy.stats.ttest_rel(trained_shift, untrained_shift)
    # one network layer: no Bonferroni factor from the input
    assert row["n_layers_tested"] == 1 and row["p_bonferroni"] == pytest.approx(expected.pvalue)


def test_a_plane_store_without_spindles_is_refused_naming_the_fix(tmp_path):
    planes, _, direction = _plane_store(tmp_path)
    data = open_zarr(planes).load().drop_vars("spindles")
    write_zarr(data, tmp_path / "nospindles.zarr")
    activation = np.cos(direction)[:, None, None, :].astype(np.float32)
    write_tree(activation_tree({"spatial1": activation}, {"spatial1": (1, 0.0)}, np.arange(160), {}),
               tmp_path / "acts.zarr")
    identity = {"task": "recognition", "architecture": "net", "instance": "seed0", "trained": True, "seed": 0}
    with pytest.raises(ValueError, match="nospindles.zarr: no 'spindles'.*analysis.input_layer"):
        fit_planes(str(tmp_path / "acts.zarr"), str(tmp_path / "nospindles.zarr"), FIT, SETTINGS, 0, identity)
    units = fit_planes(str(tmp_path / "acts.zarr"), str(tmp_path / "nospindles.zarr"), {**FIT, "input_layer": False},
                       SETTINGS, 0, identity)
    assert set(units["layer_index"]) == {1}


def test_plane_sets_are_gathered_in_order_with_their_heights(tmp_path):
    base = open_zarr(make_synthetic_dataset(tmp_path / "d.zarr", n_samples=10, seed=4)).load()
    sets = []
    for h, (a, b) in ((0.0, (0, 4)), (15.0, (4, 10))):
        part = base.isel(sample=slice(a, b)).copy()
        part["height"] = ("sample", np.full(b - a, h, np.float32))
        part.attrs = {"orientation": "horizontal", "height_cm": h}
        sets.append(part)
    empty = sets[0].isel(sample=slice(0, 0))
    gathered = invariance.gather_sets([sets[0], empty, sets[1]])
    assert np.array_equal(gathered["height"].values, [0.0] * 4 + [15.0] * 6)
    assert np.array_equal(gathered["spindles"].values, base["spindles"].values)
    assert [p["n_samples"] for p in gathered.attrs["planes"]] == [4, 6]
    with pytest.raises(ValueError, match="every plane set is empty"):
        invariance.gather_sets([empty])
