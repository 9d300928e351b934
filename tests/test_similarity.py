"""Linear CKA and RDMs: closed forms and invariances; the similarity table on tiny stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import xarray as xr

from deepdraw import activations as act
from deepdraw import report, tuning
from deepdraw import similarity as sim
from deepdraw.config import resolve
from synthetic import make_synthetic_dataset


def test_linear_cka_invariances_and_feature_space_formula():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert sim.linear_cka(X, 3.0 * X @ Q + 5.0) == pytest.approx(1.0)
    Y = rng.normal(size=(40, 9))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    # ||Y'X||^2 / (||X'X|| ||Y'Y||) (Kornblith et al. 2019, eq. 5)
    expected = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    assert sim.linear_cka(X, Y) == pytest.approx(expected)
    assert sim.linear_cka(X, Y) < 0.5
    assert np.isnan(sim.linear_cka(X, np.ones((40, 3))))


def test_rdm_is_correlation_distance_and_rdm_correlation_is_spearman():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 20))
    D = sim.rdm(X)
    np.testing.assert_allclose(D, 1 - np.corrcoef(X), atol=1e-12)
    assert sim.rdm_correlation(D, D) == pytest.approx(1.0)
    E = sim.rdm(rng.normal(size=(12, 20)))
    iu = np.triu_indices(12, 1)
    assert sim.rdm_correlation(D, E) == pytest.approx(scipy.stats.spearmanr(D[iu], E[iu]).statistic)


def test_compare_tables_on_tiny_stores(tmp_path):
    dataset = make_synthetic_dataset(tmp_path / "dataset.zarr", n_samples=80, n_classes=4, seed=2)
    samples = act.select_test_samples(xr.open_zarr(dataset)["split"].values, 10, seed=0)
    rng = np.random.default_rng(0)
    paths = []
    base = rng.normal(size=(len(samples), 3, 2, 8)).astype("float32")
    for instance, layer1 in (("seed0", base), ("untrained0", rng.normal(size=base.shape).astype("float32"))):
        layers = {"spatial1": layer1, "temporal1": np.maximum(layer1, 0)}
        tree = act.activation_tree(layers, {"spatial1": (1, 0.0), "temporal1": (40, 19.5)}, samples, {})
        path = tmp_path / "recognition" / "toy" / f"{instance}.zarr"
        act.write_tree(tree, path)
        paths.append(str(path))
    cka, targets = sim.compare(paths, str(dataset))
    self_cka = cka[(cka["instance_a"] == "seed0") & (cka["instance_b"] == "seed0") & (cka["layer_a"] == cka["layer_b"])]
    np.testing.assert_allclose(self_cka["cka"], 1.0)
    # symmetric: every off-diagonal pair appears both ways with the same value
    pivot = cka.pivot_table(index=["instance_a", "layer_a"], columns=["instance_b", "layer_b"], values="cka")
    np.testing.assert_allclose(pivot.values, pivot.values.T)
    assert set(targets["target"]) == {"input", "hand_position", "hand_velocity", "label"}
    assert targets["cka"].between(0, 1).all()
    assert set(targets["trained"]) == {True, False}


def test_report_embeds_every_figure_and_the_study_table(tmp_path):
    dataset = make_synthetic_dataset(tmp_path / "dataset.zarr", n_samples=80, n_classes=4, seed=3)
    ds = xr.open_zarr(dataset)
    samples = act.select_test_samples(ds["split"].values, 8, seed=0)
    settings = {**resolve()["analysis"], "n_test_samples": 8, "r2_threshold": 0.2, "exclude_below": -0.1, "train_fraction": 0.75,
                "max_rows": 2000, "statsmodels_units": 2, "min_speed": 0.5, "ci_level": 0.95, "direction_bins": 18}
    rng = np.random.default_rng(0)
    stores, tables = [], []
    for instance in ("seed0", "untrained0"):
        layer = rng.normal(size=(len(samples), 4, 3, 107)).astype("float32")
        tree = act.activation_tree({"temporal1": layer, "temporal2": layer[..., ::3]},
                                   {"temporal1": (3, 1.0), "temporal2": (9, 4.0)}, samples, {})
        store = tmp_path / "activations" / "recognition" / "toy" / f"{instance}.zarr"
        act.write_tree(tree, store)
        identity = sim.identity_from_path(store)
        table = tuning.tune_model(store, dataset, settings, 0, identity)
        tables.append(tmp_path / f"{instance}.parquet")
        tuning.write_table(table, tables[-1])
        stores.append(str(store))
    for name, frame in tuning.summarize(pd.concat([pd.read_parquet(t) for t in tables]), settings).items():
        tuning.write_table(frame, tmp_path / "summary" / f"{name}.csv")
    cka, targets = sim.compare(stores, str(dataset))
    tuning.write_table(cka, tmp_path / "cka.csv")
    tuning.write_table(targets, tmp_path / "targets.csv")
    report.build_report(str(tmp_path / "summary"), [str(t) for t in tables], str(tmp_path / "cka.csv"),
                        str(tmp_path / "targets.csv"), settings, str(tmp_path / "fig"), str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    # without the training summary and histories there are no performance figures; a figure
    # without enough tuned units is replaced by a statement
    drawn = [name for name in report.FIGURES if name not in ("performance", "learning_curves")]
    assert all((tmp_path / "fig" / f"{name}.png").exists() for name in drawn)
    assert page.count("data:image/png;base64,") + page.count("No figure: too few") == len(drawn)
    assert "beside the study" in page and "Rayleigh" in page
    assert (tmp_path / "study_comparison.csv").exists()


def test_cross_task_cka_compares_the_same_layer_of_trained_models_across_tasks(tmp_path):
    dataset = make_synthetic_dataset(tmp_path / "dataset.zarr", n_samples=80, n_classes=4, seed=4)
    samples = act.select_test_samples(xr.open_zarr(dataset)["split"].values, 12, seed=0)
    rng = np.random.default_rng(1)
    shared = rng.normal(size=(len(samples), 3, 2, 8)).astype("float32")
    Q, _ = np.linalg.qr(rng.normal(size=(48, 48)))
    paths = []
    stores = {("recognition", "seed0"): shared,
              # same geometry, rotated features: CKA 1
              ("position", "seed0"): (shared.reshape(len(samples), -1) @ Q).reshape(shared.shape).astype("float32"),
              ("position", "untrained0"): rng.normal(size=shared.shape).astype("float32")}
    for (task, instance), values in stores.items():
        tree = act.activation_tree({"temporal1": values}, {"temporal1": (40, 19.5)}, samples, {})
        path = tmp_path / task / "toy" / f"{instance}.zarr"
        act.write_tree(tree, path)
        paths.append(str(path))
    tasks = sim.cross_task(paths, str(dataset))
    # trained pairs only, one per layer; the spindle input (layer 0) is identical across tasks
    assert set(zip(tasks["instance_a"], tasks["instance_b"])) == {("seed0", "seed0")}
    assert list(tasks["layer"]) == ["spindles", "temporal1"] and list(tasks["layer_index"]) == [0, 1]
    assert set(tasks["task_a"]) == {"position"} and set(tasks["task_b"]) == {"recognition"}
    assert tasks["same_seed"].all()
    np.testing.assert_allclose(tasks["cka"], 1.0, atol=1e-9)
    # the command line: recognition analysed, position stores only for the cross-task table
    sim.main(["--activations", paths[0], "--cross-task-activations", *paths[1:], "--dataset", str(dataset),
              "--cka", str(tmp_path / "cka.csv"), "--targets", str(tmp_path / "targets.csv"),
              "--cka-tasks", str(tmp_path / "cka_tasks.csv")])
    assert set(pd.read_csv(tmp_path / "cka.csv")["task"]) == {"recognition"}
    assert len(pd.read_csv(tmp_path / "cka_tasks.csv")) == 2
