"""Tuning regressions: planted tuning is recovered, batched == statsmodels, circular statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr

from deepdraw import activations as act
from deepdraw import kinematics, tuning
from deepdraw.augmentation import embed
from deepdraw.config import resolve
from synthetic import make_synthetic_dataset

# the schema defaults, with what these small cases need
SETTINGS = {**resolve()["analysis"], "r2_threshold": 0.2, "exclude_below": -0.1, "train_fraction": 0.8, "max_rows": 20000,
            "statsmodels_units": 5, "min_speed": 0.0, "ci_level": 0.95, "direction_bins": 18,
            "mode": "ours"}
STUDY = {**SETTINGS, "mode": "study", "margin_steps": 32, "headline_plane": "horizontal",
         "label_max_rows": 5000}


def planted_rows(n_samples=200, steps=30, seed=0):
    """Kinematic rows with random directions and speeds; planes alternate across samples."""
    rng = np.random.default_rng(seed)
    n = n_samples * steps
    theta = rng.uniform(-np.pi, np.pi, n)
    speed = rng.uniform(1, 10, n)
    x, y = rng.normal(0, 5, n), rng.normal(0, 5, n)
    sample = np.repeat(np.arange(n_samples), steps)
    ax, ay = rng.normal(size=n), rng.normal(size=n)
    rows = tuning.Rows({"direction": theta, "speed": speed, "vx": speed * np.cos(theta),
                        "vy": speed * np.sin(theta), "x": x, "y": y, "r": np.hypot(x, y),
                        "phi": np.arctan2(y, x), "rel_r": np.hypot(x - 1, y + 2),
                        "rel_phi": np.arctan2(y + 2, x - 1), "ax": ax, "ay": ay,
                        "acceleration": np.hypot(ax, ay), "sample": sample, "step": np.zeros(n, int),
                        "label": sample % 4, "plane": sample % 2}, n_classes=4)
    return rows, rng


def test_planted_direction_tuning_is_recovered_and_noise_units_are_not_tuned():
    rows, rng = planted_rows()
    n = len(rows["sample"])
    pds = np.array([0.0, 90.0, 200.0, 315.0])
    # y = cos(theta - pd) + noise of variance 0.5: var(signal) = 1/2, so R^2 = 0.5
    tuned = np.cos(rows["direction"][:, None] - np.radians(pds)[None, :]) + rng.normal(0, np.sqrt(0.5), (n, 4))
    noise = rng.normal(size=(n, 3))
    constant = np.zeros((n, 1))
    Y = np.hstack([tuned, noise, constant])
    train = np.isin(rows["sample"], np.arange(160))
    table, _ = tuning.tune_layer(Y, rows, train, SETTINGS)
    direction = table[table["encoding_model"] == "direction"].set_index("unit")
    np.testing.assert_allclose(direction.loc[:3, "r2_test"], 0.5, atol=0.04)
    error = tuning.angular_difference(direction.loc[:3, "pd_deg"], pds)
    assert error.max() < 3.0
    assert direction.loc[:3, "tuned"].all() and not direction.loc[4:6, "tuned"].any()
    assert (direction.loc[4:6, "r2_test"].abs() < 0.02).all()
    assert direction.loc[7, "constant"] and not direction.loc[7, "tuned"] and np.isnan(direction.loc[7, "r2_test"])
    # same preferred direction in both planes (planted the same); plane fits transfer
    assert tuning.angular_difference(direction.loc[:3, "pd_horizontal_deg"],
                                     direction.loc[:3, "pd_vertical_deg"]).max() < 5
    np.testing.assert_allclose(direction.loc[:3, "r2_horizontal_to_vertical"], 0.5, atol=0.06)
    # the noise units are tuned to nothing
    assert not table[table["unit"].between(4, 6)]["tuned"].any()


def test_batched_fit_equals_statsmodels_for_every_encoding_model():
    rows, rng = planted_rows(n_samples=40, steps=10, seed=1)
    n = len(rows["sample"])
    Y = rng.normal(size=(n, 6)) + 0.5 * rows["vx"][:, None] * rng.normal(size=6) + rows["label"][:, None]
    train = np.isin(rows["sample"], np.arange(30))
    for model in tuning.ENCODING_MODELS:
        X = tuning.design_matrix(model, rows, n_classes=4)
        batched = tuning.fit_units(X[train], Y[train], X[~train], Y[~train])
        for unit in range(Y.shape[1]):
            fit = sm.OLS(Y[train, unit], X[train]).fit()
            assert abs(fit.rsquared - batched["r2_train"][unit]) < 1e-8, model
            np.testing.assert_allclose(batched["coef"][:, unit], fit.params, rtol=1e-8, atol=1e-10)
            pred = fit.predict(X[~train])
            y = Y[~train, unit]
            r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
            assert abs(r2 - batched["r2_test"][unit]) < 1e-8, model
        # out-of-sample scoring by sums (any centre) == explicit residuals
        part = tuning.Responses(Y[~train], centre=Y[train].mean(axis=0) + 3.0)
        np.testing.assert_allclose(tuning.score_units(batched["coef"], X[~train], part),
                                   tuning.r2_score_columns(Y[~train], X[~train] @ batched["coef"]), atol=1e-10)


def test_rank_deficient_label_design_matches_lstsq():
    rows, rng = planted_rows(n_samples=40, steps=5, seed=2)
    rows["label"] = np.where(rows["label"] == 3, 0, rows["label"])  # class 3 never occurs
    X = tuning.design_matrix("label", rows, n_classes=4)
    Y = rng.normal(size=(len(X), 3)) + rows["label"][:, None]
    ols = tuning.BatchedOLS(X).fit(Y)
    reference = np.linalg.lstsq(X, Y, rcond=None)[0]
    np.testing.assert_allclose(X @ ols.coef_, X @ reference, atol=1e-10)


def test_statsmodels_unit_statistics_give_preferred_direction_and_interval():
    rows, rng = planted_rows(n_samples=100, steps=20, seed=3)
    X = tuning.design_matrix("direction", rows, n_classes=4)
    y = 2.0 + np.cos(rows["direction"] - np.radians(120)) + rng.normal(0, 0.5, len(X))
    stats = tuning.unit_statistics(X, y, rows["sample"], tuning.regressor_names("direction", 4), True)
    assert stats["pd_ci_low_deg"] < 120 < stats["pd_ci_high_deg"]
    assert stats["pd_ci_high_deg"] - stats["pd_ci_low_deg"] < 10
    assert stats["p_value"] < 1e-10 and abs(stats["coef_const"] - 2) < 0.05
    batched = tuning.BatchedOLS(X).fit(y[:, None]).coef_[:, 0]
    assert abs(tuning.preferred_direction(batched[1], batched[2]) - stats["pd_deg"]) < 1e-9


def test_circular_statistics_closed_forms():
    even = np.arange(18) * 20.0 + 10
    z, p = tuning.rayleigh_test(even)
    assert z < 1e-12 and p > 0.99
    assert tuning.deviation_from_uniform(even) == 0
    clustered = np.full(30, 45.0)
    z, p = tuning.rayleigh_test(clustered)
    assert z == pytest.approx(30) and p < 1e-10
    assert tuning.deviation_from_uniform(clustered) == pytest.approx(2 * (1 - 1 / 18))
    a = np.random.default_rng(0).uniform(0, 360, 50)
    assert tuning.circular_correlation(a, a + 30) == pytest.approx(1.0)
    np.testing.assert_allclose(tuning.angular_difference([350, 10], [10, 350]), [20, 20])


def test_in_plane_coordinates_invert_the_embedding():
    t = np.linspace(0, 2 * np.pi, 50)
    traj = np.column_stack([3 * np.cos(t), 2 * np.sin(t)])
    start = np.array([10.0, -5.0, 20.0])
    for code, plane in enumerate(("horizontal", "vertical")):
        world = embed(traj, plane, start)[None]
        back = kinematics.in_plane(world, np.array([code]))[0]
        np.testing.assert_allclose(back - back[0], traj - traj[0], atol=1e-9)
    # speed of a circle of radius R at angular rate w is R w
    hand = np.stack([5 * np.cos(t), 5 * np.sin(t), 0 * t], -1)[None] @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    features = kinematics.kinematic_features(hand, np.array([0]), dt=t[1] - t[0])
    np.testing.assert_allclose(features["speed"][0, 2:-2], 5.0, rtol=1e-2)


def test_tune_model_reads_kinematics_at_the_strided_layer_centres(tmp_path):
    path = make_synthetic_dataset(tmp_path / "dataset.zarr", n_samples=120, n_classes=4, seed=0)
    ds = xr.open_zarr(path)
    samples = act.select_test_samples(ds["split"].values, 100, seed=0)
    kin = kinematics.load_kinematics(ds, samples)
    stride, offset = 3, 1.0
    steps = act.input_steps(107, stride, offset)
    vx = kinematics.sample_at(kin["vx"].values, steps)
    vy = kinematics.sample_at(kin["vy"].values, steps)
    # unit 0: velocity tuning with PD 60 deg; unit 1: pure noise
    rng = np.random.default_rng(0)
    planted = np.stack([np.cos(np.radians(60)) * vx + np.sin(np.radians(60)) * vy,
                        rng.normal(size=vx.shape)], axis=1)[:, :, None, :]
    tree = act.activation_tree({"temporal1": planted.astype("float32")}, {"temporal1": (stride, offset)},
                               samples, {"model": "planted"})
    act.write_tree(tree, tmp_path / "a.zarr")
    identity = {"task": "recognition", "architecture": "toy", "instance": "seed0", "trained": True, "seed": 0}
    table = tuning.tune_model(tmp_path / "a.zarr", path, SETTINGS, 0, identity)
    assert set(table["layer"]) == {"spindles", "temporal1"}
    spindles = table[table["layer"] == "spindles"]
    assert spindles["unit"].nunique() == 50 and set(spindles["layer_index"]) == {0}
    assert set(table.loc[table["layer"] == "temporal1", "layer_index"]) == {1}
    table = table[table["layer"] == "temporal1"]
    velocity = table[table["encoding_model"] == "velocity"].set_index("unit")
    assert velocity.loc[0, "r2_test"] > 0.999 and abs(velocity.loc[0, "pd_deg"] - 60) < 0.5
    assert not velocity.loc[1, "tuned"]
    assert velocity.loc[0, "statsmodels"] and velocity.loc[0, "pd_ci_low_deg"] < 60 < velocity.loc[0, "pd_ci_high_deg"]
    summary = tuning.summarize(pd.concat([table, table.assign(trained=False, instance="untrained0")]), SETTINGS)
    fractions = summary["fractions"].set_index(["trained", "encoding_model"])["fraction_tuned"]
    assert fractions.loc[(True, "velocity")] == 0.5
    assert set(summary["directions"]["uniformity_test"]) == {"Rayleigh"}


def test_dataset_without_kinematics_is_rejected(tmp_path):
    path = make_synthetic_dataset(tmp_path / "dataset.zarr", n_samples=20, n_classes=4, seed=0)
    ds = xr.open_zarr(path).drop_vars(["hand"])
    with pytest.raises(ValueError, match="no kinematics.*hand"):
        kinematics.load_kinematics(ds, np.arange(3))


def test_label_score_equals_the_auc_of_a_one_dimensional_linear_svm():
    from sklearn.metrics import roc_auc_score
    from sklearn.svm import LinearSVC

    from deepdraw.tuning.labels import label_scores

    rng = np.random.default_rng(5)
    n_classes, n = 4, 400
    label = rng.integers(0, n_classes, n)
    # unit 0 prefers class 1, unit 1 avoids class 2, unit 2 is noise, unit 3 is constant
    Y = np.stack([1.0 * (label == 1) + 0.8 * rng.standard_normal(n),
                  -1.0 * (label == 2) + 0.8 * rng.standard_normal(n),
                  rng.standard_normal(n), np.ones(n)], axis=1)
    train = np.arange(n) < 300
    scores = label_scores(Y[train], label[train], Y[~train], label[~train], n_classes)
    for unit in range(3):
        expected = []
        for c in range(n_classes):
            svm = LinearSVC(C=1.0).fit(Y[train, unit:unit + 1], label[train] == c)
            decision = svm.decision_function(Y[~train, unit:unit + 1])
            expected.append(2 * (roc_auc_score(label[~train] == c, decision) - 0.5))
        np.testing.assert_allclose(scores[unit], np.mean(expected), atol=1e-12)
    assert scores[0] > 0.2 and scores[1] > 0.2 and abs(scores[2]) < 0.15
    assert np.isnan(scores[3])


def test_a_model_registered_through_the_registry_alone_is_fitted():
    from deepdraw.tuning import models

    toy = models.TuningModel("x_only", ("x",), lambda rows: [rows["x"]], description="x alone")
    models.register(toy)
    try:
        with pytest.raises(ValueError, match="already registered"):
            models.register(toy)
        rows, rng = planted_rows(n_samples=100, steps=10, seed=4)
        n = len(rows["sample"])
        Y = np.column_stack([2 * rows["x"] + rng.normal(0, 5, n), rng.normal(size=n)])
        train = np.isin(rows["sample"], np.arange(80))
        table, _ = tuning.tune_layer(Y, rows, train, {**SETTINGS, "encoding_models": ["x_only"]})
        assert list(table["encoding_model"].unique()) == ["x_only"]
        # var(2x) = 100, noise 25: R^2 = 0.8
        assert table.loc[0, "r2_test"] == pytest.approx(0.8, abs=0.05) and table.loc[0, "tuned"]
        assert not table.loc[1, "tuned"]
        np.testing.assert_array_equal(tuning.design_matrix("x_only", rows)[:, 1], rows["x"])
    finally:
        models.REGISTRY.pop("x_only")
    with pytest.raises(ValueError, match="unknown encoding model 'x_only'"):
        tuning.tune_layer(Y, rows, train, {**SETTINGS, "encoding_models": ["x_only"]})


def still_and_moving_kinematics(n_samples=6, n_time=320, onset=100, duration=120):
    """Kinematics Dataset: still at a start point, a straight movement at 10 cm/s, still again."""
    t = np.arange(n_time)
    travelled = np.clip(t - onset, 0, duration) * 0.15  # cm: 10 cm/s at 15 ms steps
    start = np.arange(n_samples)[:, None] * 1.0
    x, y = start + travelled[None, :] * np.cos(0.3), start + travelled[None, :] * np.sin(0.3)
    vx, vy = np.gradient(x, 0.015, axis=1), np.gradient(y, 0.015, axis=1)
    ax, ay = np.gradient(vx, 0.015, axis=1), np.gradient(vy, 0.015, axis=1)
    data = {"x": x, "y": y, "vx": vx, "vy": vy, "speed": np.hypot(vx, vy), "ax": ax, "ay": ay,
            "acceleration": np.hypot(ax, ay)}
    kin = xr.Dataset({k: (("sample", "time"), v) for k, v in data.items()})
    kin["movement"] = (("sample", "time"), np.broadcast_to((t >= onset) & (t < onset + duration),
                                                           (n_samples, n_time)).copy())
    kin["label"] = ("sample", np.arange(n_samples) % 3)
    kin["plane"] = ("sample", np.arange(n_samples) % 2)
    return kin


def test_study_rows_keep_still_periods_and_drop_the_window_margins():
    kin = still_and_moving_kinematics()
    n_time = 320
    activation = np.random.default_rng(0).normal(size=(6, 1, 1, n_time)).astype("float32")
    steps = np.arange(n_time, dtype=float)
    _, rows = tuning.layer_rows(activation, steps, kin, STUDY, np.random.default_rng(0), 3)
    assert rows["step"].min() == 33 and rows["step"].max() == 286  # 32 steps cut at each end
    assert len(rows["sample"]) == 6 * (286 - 33 + 1)
    still = rows["speed"] == 0
    assert still.sum() > 0.3 * len(still)  # before and after the movement
    # direction and polar position need an angle: the still rows leave them, speed keeps them
    assert tuning.get("direction").row_filter(rows).sum() == (~still).sum()
    assert tuning.get("speed").row_filter(rows).all()
    at_start = rows["step"] <= 100  # the hand rests on the movement's first point
    np.testing.assert_array_equal(tuning.get("position_polar").row_filter(rows), ~at_start)
    # strided layer (stride 4): the same rule on the receptive-field centres
    centres = 1.5 + 4 * np.arange(80)
    _, rows = tuning.layer_rows(activation[..., :80], centres, kin, STUDY, np.random.default_rng(0), 3)
    assert set(centres[np.unique(rows["step"])]) == {c for c in centres if 32 < c < 287}
    # mode ours: only steps inside the movement
    _, ours = tuning.layer_rows(activation, steps, kin, SETTINGS, np.random.default_rng(0), 3)
    assert ours["step"].min() == 100 and ours["step"].max() == 219


def test_study_mode_fits_each_plane_with_the_horizontal_plane_as_headline():
    rows, rng = planted_rows(n_samples=200, steps=30, seed=6)
    n = len(rows["sample"])
    # unit 0: direction tuned in the horizontal plane only; unit 1: in both planes
    horizontal = rows["plane"] == 0
    y0 = np.where(horizontal, np.cos(rows["direction"]), 0) + rng.normal(0, 0.3, n)
    y1 = np.cos(rows["direction"] - 1.0) + rng.normal(0, 0.3, n)
    Y = np.column_stack([y0, y1])
    train = tuning.split_rows(rows, STUDY, np.random.default_rng(1))
    assert train.mean() == pytest.approx(0.8, abs=1e-3)
    table, _ = tuning.tune_layer(Y, rows, train, {**STUDY, "encoding_models": ["direction"]})
    assert set(table["fit_rows"]) == {"horizontal"}
    assert table.loc[0, "n_train"] + table.loc[0, "n_test"] == horizontal.sum()
    np.testing.assert_allclose(table["r2_test"], table["r2_horizontal"])
    assert table.loc[0, "tuned"] and table.loc[0, "r2_vertical"] < 0.05
    assert table.loc[1, "r2_horizontal_to_vertical"] > 0.7
    vertical_first = tuning.tune_layer(Y, rows, train, {**STUDY, "encoding_models": ["direction"],
                                                        "headline_plane": "vertical"})[0]
    assert not vertical_first.loc[0, "tuned"] and vertical_first.loc[1, "tuned"]


def test_svm_label_score_equals_sklearn_one_vs_rest_linear_svc_auc():
    from sklearn.metrics import roc_auc_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import label_binarize
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(8)
    n_classes, n = 5, 600
    label = rng.integers(0, n_classes, n)
    Y = np.stack([1.0 * (label == 1) + 0.7 * rng.standard_normal(n),
                  np.abs(label - 2.0) + rng.standard_normal(n),  # not monotone in the label
                  rng.standard_normal(n), np.zeros(n)], axis=1)
    train = rng.permutation(n) < 480
    scores = tuning.svm_label_scores(Y[train], label[train], Y[~train], label[~train], n_classes)
    classes = np.arange(n_classes)
    for unit in range(3):
        svm = OneVsRestClassifier(LinearSVC(random_state=0)).fit(
            Y[train, unit:unit + 1], label_binarize(label[train], classes=classes))
        auc = roc_auc_score(label_binarize(label[~train], classes=classes),
                            svm.decision_function(Y[~train, unit:unit + 1]))
        assert scores[unit] == pytest.approx(2 * (auc - 0.5), abs=1e-12)
    assert scores[0] > 0.2 and abs(scores[2]) < 0.1 and np.isnan(scores[3])
    # in mode study the label rows are tuned by this score, not by a one-hot R^2
    rows = tuning.Rows({"label": label, "sample": np.arange(n), "plane": np.zeros(n, int)}, n_classes=n_classes)
    table, _ = tuning.tune_layer(Y, rows, train, {**STUDY, "encoding_models": ["label"]})
    np.testing.assert_allclose(table["score"], scores)
    np.testing.assert_array_equal(table["tuned"], np.nan_to_num(scores) > 0.2)


def test_acceleration_magnitude_and_relative_polar_position_closed_forms():
    from deepdraw.tuning.rows import polar, relative_position

    dt, R, w = 0.015, 4.0, 2.0
    t = np.arange(400) * dt
    # uniform circular motion in the horizontal plane: |a| = R w^2, about the centre (2, 1)
    hand = np.stack([2 + R * np.cos(w * t), 1 + R * np.sin(w * t), np.zeros_like(t)], -1)[None]
    f = kinematics.kinematic_features(hand, np.array([0]), dt)
    pos = hand[0, :, :2]  # in-plane coordinates of the same path (|a| is rotation invariant)
    np.testing.assert_allclose(f["acceleration"][0, 2:-2], R * w * w, rtol=1e-3)
    # from the first point (angle 0), the chord: rho = 2 R sin(w t / 2), psi = w t / 2 + pi / 2
    dx, dy = relative_position(pos[None, :, 0], pos[None, :, 1], np.array([0]))
    rho, psi = polar(dx[0], dy[0])
    half = w * t[1:100] / 2  # psi stays below pi
    np.testing.assert_allclose(rho[1:100], 2 * R * np.sin(half), atol=1e-9)
    np.testing.assert_allclose(psi[1:100], half + np.pi / 2, atol=1e-9)
    # a straight line from rest with constant acceleration 3 cm/s^2 along 30 deg
    s = 0.5 * 3.0 * t ** 2
    line = np.stack([5 + s * np.cos(np.pi / 6), -2 + s * np.sin(np.pi / 6), np.zeros_like(t)], -1)[None]
    f = kinematics.kinematic_features(line, np.array([0]), dt)
    np.testing.assert_allclose(f["acceleration"][0, 2:-2], 3.0, rtol=1e-6)
    pos = line[0, :, :2]
    dx, dy = relative_position(pos[None, :, 0], pos[None, :, 1], np.array([0]))
    rho, psi = polar(dx[0], dy[0])
    np.testing.assert_allclose(rho, s, atol=1e-9)
    np.testing.assert_allclose(psi[1:], np.pi / 6, atol=1e-9)
    # the polar model is relative to the first point: moving the start point changes nothing
    moved = relative_position(pos[None, :, 0] + 7, pos[None, :, 1] - 3, np.array([0]))
    np.testing.assert_allclose(moved[0], dx, atol=1e-12)


def test_svm_label_score_on_real_spindle_inputs_equals_sklearn():
    """Real case: 12 spindle channels of 300 default-run samples, all 20 characters."""
    from pathlib import Path

    from sklearn.metrics import roc_auc_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import label_binarize
    from sklearn.svm import LinearSVC

    case = np.load(Path(__file__).parent / "data" / "label_svm_real_case.npz")
    Y, label = case["activation"].astype(float), case["label"].astype(int)
    train = np.random.default_rng(0).permutation(len(label)) < 0.8 * len(label)
    scores = tuning.svm_label_scores(Y[train], label[train], Y[~train], label[~train], 20)
    classes = np.arange(20)
    for unit in range(Y.shape[1]):
        svm = OneVsRestClassifier(LinearSVC(random_state=0)).fit(
            Y[train, unit:unit + 1], label_binarize(label[train], classes=classes))
        auc = roc_auc_score(label_binarize(label[~train], classes=classes),
                            svm.decision_function(Y[~train, unit:unit + 1]))
        assert scores[unit] == pytest.approx(2 * (auc - 0.5), abs=1e-12), unit
    assert np.all(np.isfinite(scores)) and scores.max() > 0.1
