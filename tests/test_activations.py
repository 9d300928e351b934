"""Activations: time alignment of strided layers, store layout, bad models."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import xarray as xr

from deepdraw import activations as act
from synthetic import make_synthetic_dataset


def averaging_model(kernels=(5, 3), strides=(2, 3)) -> keras.Model:
    """Input (25, 320, 2) -> spatial1 (1x1 copy) -> temporal1..n: moving averages over time.

    An averaging kernel applied to a ramp returns the centre of the window it covers, so
    on a ramp input each layer's activation *is* the input step it is centred on.
    """
    inputs = keras.Input((25, 320, 2), name="spindles")
    x = keras.layers.Conv2D(1, (1, 1), use_bias=False, name="spatial1_conv")(inputs)
    x = keras.layers.Activation("linear", name="spatial1")(x)
    for i, (k, s) in enumerate(zip(kernels, strides), start=1):
        x = keras.layers.Conv2D(1, (1, k), strides=(1, s), padding="same", use_bias=False,
                                name=f"temporal{i}_conv")(x)
        x = keras.layers.Activation("linear", name=f"temporal{i}")(x)
    seq = keras.layers.Reshape((x.shape[2], x.shape[1] * x.shape[3]))(x)
    seq = keras.layers.LSTM(3, return_sequences=True, name="recurrent1")(seq)
    out = keras.layers.Dense(20, name="readout")(keras.layers.Flatten()(seq))
    model = keras.Model(inputs, out)
    model.get_layer("spatial1_conv").set_weights([np.array([1.0, 0.0]).reshape(1, 1, 2, 1)])
    for i, k in enumerate(kernels, start=1):
        model.get_layer(f"temporal{i}_conv").set_weights([np.full((1, k, 1, 1), 1.0 / k)])
    return model


def test_strided_layers_are_aligned_to_their_receptive_field_centres():
    model = averaging_model(kernels=(5, 3), strides=(2, 3))
    names = act.hidden_layers(model)
    assert names == ["spatial1", "temporal1", "temporal2", "recurrent1"]
    alignment = act.layer_alignment(model, names)
    ramp = np.broadcast_to(np.arange(320.0)[None, None, :, None], (2, 25, 320, 2)).astype("float32")
    values = act.compute_activations(model, ramp, batch_size=2)
    assert values["temporal1"].shape == (2, 1, 25, 160)
    assert values["temporal2"].shape == (2, 1, 25, 54)
    assert values["recurrent1"].shape == (2, 3, 1, 54)
    for name in ("spatial1", "temporal1", "temporal2"):
        stride, offset = alignment[name]
        steps = act.input_steps(values[name].shape[-1], stride, offset)
        interior = slice(2, -2)  # away from the zero padding at both ends
        np.testing.assert_allclose(values[name][0, 0, 0, interior], steps[interior], atol=1e-3)
    assert alignment["temporal2"][0] == 6 and alignment["recurrent1"] == alignment["temporal2"]


def test_stride_derived_from_output_length():
    assert act.stride_from_length(107) == 3
    assert act.stride_from_length(36) == 9
    assert act.stride_from_length(320) == 1
    np.testing.assert_array_equal(act.input_steps(107, 3, 1.0)[:3], [1.0, 4.0, 7.0])


def test_store_has_named_dims_and_the_same_samples_for_every_model(tmp_path):
    dataset = make_synthetic_dataset(tmp_path / "dataset.zarr", n_samples=60, n_classes=4, seed=1)
    model = averaging_model()
    model.save(tmp_path / "model.keras")
    act.run(str(tmp_path / "model.keras"), str(dataset), str(tmp_path / "a.zarr"), n_samples=5, seed=3)
    layers, groups, root = act.read_layers(tmp_path / "a.zarr")
    assert layers == ["spatial1", "temporal1", "temporal2", "recurrent1"]
    test = np.flatnonzero(xr.open_zarr(dataset)["split"].values == 2)
    assert set(root["sample_index"].values) <= set(test) and root.sizes["sample"] == 5
    layer = xr.open_zarr(tmp_path / "a.zarr", group="temporal2")
    assert layer["activation"].dims == ("sample", "channel", "space", "time")
    assert layer["input_step"].attrs["units"] == "input steps"
    assert layer.attrs["time_stride"] == 6
    np.testing.assert_array_equal(act.select_test_samples(xr.open_zarr(dataset)["split"].values, 5, 3),
                                  root["sample_index"].values)
    assert json.loads(root.attrs["layers"]) == layers


def test_model_without_hidden_blocks_is_rejected():
    inputs = keras.Input((25, 320, 2))
    model = keras.Model(inputs, keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="no hidden layers named"):
        act.hidden_layers(model)


def test_spindle_input_is_layer_zero_with_one_unit_per_muscle_and_channel(tmp_path):
    path = make_synthetic_dataset(tmp_path / "dataset.zarr", n_samples=40, n_classes=4, seed=1)
    ds = xr.open_zarr(path)
    samples = np.array([3, 7, 11])
    layer = act.input_layer(ds, samples)
    values = layer["activation"].values
    assert values.shape == (3, 2, 25, 320) and layer.attrs["layer_index"] == 0
    spindles = ds["spindles"].values
    # unit c * 25 + m of the tuning tables is channel c of muscle m
    np.testing.assert_array_equal(values[1, 1, 4], spindles[7, 4, :, 1])
    np.testing.assert_array_equal(layer["input_step"].values, np.arange(320))
    tree = act.activation_tree({"spatial1": np.zeros((3, 2, 5, 320), "float32"),
                                "temporal1": np.zeros((3, 2, 5, 80), "float32")},
                               {"spatial1": (1, 0.0), "temporal1": (4, 1.5)}, samples, {})
    act.write_tree(tree, tmp_path / "a.zarr")
    names, groups, _ = act.read_layers(tmp_path / "a.zarr", ds)
    assert names == ["spindles", "spatial1", "temporal1"]
    assert act.layer_indices(names) == {"spindles": 0, "spatial1": 1, "temporal1": 2}
    assert act.layer_indices(names[1:]) == {"spatial1": 1, "temporal1": 2}
    assert act.read_layers(tmp_path / "a.zarr")[0] == ["spatial1", "temporal1"]
    with pytest.raises(ValueError, match="no 'spindles'"):
        act.input_layer(ds.drop_vars("spindles"), samples)
