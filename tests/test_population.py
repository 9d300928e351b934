"""Population decoding and t-SNE of layer representations on planted layers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from deepdraw import activations as act
from deepdraw import decoding, kinematics, tsne
from deepdraw.config import resolve
from synthetic import make_synthetic_dataset

SETTINGS = {**resolve()["analysis"], "mode": "study", "margin_steps": 32, "headline_plane": "horizontal", "train_fraction": 0.8,
            "max_rows": 20000, "decoding_max_rows": 6000, "min_speed": 0.5, "input_layer": True,
            "decoding_alphas": [1e-3, 1e-2, 1e-1, 1.0, 10.0], "tsne_samples": 60, "tsne_pca": 10,
            "tsne_perplexity": 40}
IDENTITY = {"task": "recognition", "architecture": "toy", "instance": "seed0", "trained": True, "seed": 0}


def test_ridge_read_out_recovers_linearly_encoded_variables():
    rng = np.random.default_rng(0)
    n = 3000
    targets = rng.normal(size=(n, 2))
    mixing = rng.normal(size=(2, 30))
    Y = targets @ mixing + 0.05 * rng.normal(size=(n, 30))
    noise = rng.normal(size=(n, 30))
    train = rng.permutation(n) < 2400
    encoded = decoding.decode_layer(Y, targets, train, [1e-3, 1e-1, 10.0])
    assert (encoded["r2_test"] > 0.99).all()
    unrelated = decoding.decode_layer(noise, targets, train, [1e-3, 1e-1, 10.0, 1e3, 1e5])
    assert (np.abs(unrelated["r2_test"]) < 0.05).all()
    assert set(unrelated["alpha"]) <= {1e-3, 1e-1, 10.0, 1e3, 1e5}


@pytest.fixture(scope="module")
def planted_store(tmp_path_factory):
    """A layer linear in the hand velocity, a noise layer, and the synthetic dataset."""
    tmp = tmp_path_factory.mktemp("population")
    path = make_synthetic_dataset(tmp / "dataset.zarr", n_samples=600, n_classes=4, seed=5)
    ds = xr.open_zarr(path)
    samples = act.select_test_samples(ds["split"].values, 60, seed=0)
    kin = kinematics.load_kinematics(ds, samples)
    rng = np.random.default_rng(2)
    velocity = np.stack([kin["vx"].values, kin["vy"].values], axis=1)  # (n, 2, 320)
    layer = np.einsum("nkt,kc->nct", velocity, rng.normal(size=(2, 6)))[:, :, None, :]
    labels = ds["label"].values[samples]
    # a label layer: a constant pattern per letter over the whole window
    pattern = rng.normal(size=(4, 8))[labels][:, :, None, None] + 0.01 * rng.normal(size=(len(samples), 8, 1, 20))
    tree = act.activation_tree({"temporal1": layer.astype("float32"),
                                "temporal2": rng.normal(size=layer.shape).astype("float32"),
                                "temporal3": pattern.astype("float32")},
                               {"temporal1": (1, 0.0), "temporal2": (1, 0.0), "temporal3": (16, 7.5)},
                               samples, {})
    act.write_tree(tree, tmp / "a.zarr")
    return tmp / "a.zarr", path


def test_decode_model_reads_velocity_from_the_planted_layer_only(planted_store):
    store, dataset = planted_store
    table = decoding.decode_model(store, dataset, SETTINGS, 0, IDENTITY)
    r2 = table.pivot_table(index="variable", columns="layer", values="r2_test")
    assert list(table.drop_duplicates("layer")["layer_index"]) == [0, 1, 2, 3]
    assert r2.loc["vx", "temporal1"] > 0.999 and r2.loc["vy", "temporal1"] > 0.999
    assert r2.loc["vx", "temporal2"] < 0.05
    assert set(table["variable"]) == set(decoding.VARIABLES)
    assert (table["n_train"] > table["n_test"]).all()


def test_tsne_separates_letters_of_a_label_layer_and_draws_a_figure(planted_store, tmp_path):
    store, dataset = planted_store
    table = tsne.tsne_model(store, dataset, {**SETTINGS, "mode": "ours"}, 0, IDENTITY)
    accuracy = table.groupby("layer")["knn_accuracy"].first()
    assert accuracy["temporal3"] > 0.9 and accuracy["temporal2"] < 0.6
    assert table.groupby("layer").size().nunique() == 1
    tsne.plot(table, tmp_path / "tsne.png", "planted")
    assert (tmp_path / "tsne.png").read_bytes()[:4] == b"\x89PNG"
    # mode study embeds the headline plane's samples only
    study = tsne.tsne_model(store, dataset, SETTINGS, 0, IDENTITY)
    planes = xr.open_zarr(dataset)["plane"].values[study["sample_index"]]
    assert set(planes) == {0}
    assert pd.api.types.is_float_dtype(study["tsne_1"])
