"""Network construction: shapes, stable layer names, geometry, normalisation, config errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from deepdraw import models
from deepdraw.contract import INPUT_SHAPE
from deepdraw.models import (TASKS, build_model, compile_model, hidden_layers,
                             layer_plan, n_layers)

INPUT = INPUT_SHAPE
ARCHS = {
    "spatial_temporal": {"name": "st", "family": "spatial_temporal", "spatial_filters": [4, 8],
                         "spatial_kernel": 7, "spatial_stride": 2, "temporal_filters": [8, 8],
                         "temporal_kernel": 9, "temporal_stride": 3},
    "spatiotemporal": {"name": "sto", "family": "spatiotemporal", "filters": [4, 8],
                       "kernel": 5, "stride": 2},
    "recurrent": {"name": "lstm", "family": "recurrent", "spatial_filters": [4],
                  "spatial_kernel": 5, "spatial_stride": 2, "lstm_units": [6, 5]},
}
BLOCKS = {"spatial_temporal": ["spatial1", "spatial2", "temporal1", "temporal2"],
          "spatiotemporal": ["spatiotemporal1", "spatiotemporal2"],
          "recurrent": ["spatial1", "recurrent1", "recurrent2"]}


@pytest.mark.parametrize("family", sorted(ARCHS))
@pytest.mark.parametrize("task", TASKS)
def test_output_shapes_and_layer_names(family, task):
    model = build_model(ARCHS[family], task, seed=0)
    x = np.random.default_rng(0).normal(size=(3, *INPUT)).astype("float32")
    y = model.predict(x, verbose=0)
    expected = {"recognition": (3, 20), "position": (3, 320, 3), "position_velocity": (3, 320, 6)}
    assert y.shape == expected[task]
    if task == "recognition":
        np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-5)
    assert hidden_layers(model) == BLOCKS[family]
    for block in BLOCKS[family]:
        layer = model.get_layer(block)
        if block.startswith("recurrent"):
            assert isinstance(layer, keras.layers.LSTM)
        else:
            # the block output is the ReLU after the block's convolution and layer norm
            assert isinstance(layer, keras.layers.ReLU)
            assert isinstance(model.get_layer(f"{block}_conv"), keras.layers.Conv2D)
            assert isinstance(model.get_layer(f"{block}_norm"), keras.layers.GroupNormalization)
    assert n_layers(ARCHS[family]) == len(BLOCKS[family])


def _geometry(arch):
    keys = ("time_stride", "time_steps", "space", "channels")
    return {p["name"]: {k: p[k] for k in keys} for p in layer_plan(arch)}


def test_layer_plan_follows_strides():
    model = build_model(ARCHS["spatial_temporal"], seed=0)
    geometry = _geometry(ARCHS["spatial_temporal"])
    assert geometry["spatial1"] == {"time_stride": 1, "time_steps": 320, "space": 13, "channels": 4}
    assert geometry["spatial2"]["space"] == 7
    assert geometry["temporal1"] == {"time_stride": 3, "time_steps": 107, "space": 7, "channels": 8}
    assert geometry["temporal2"] == {"time_stride": 9, "time_steps": 36, "space": 7, "channels": 8}
    # the plan agrees with the real activations
    assert list(geometry) == hidden_layers(model)
    x = np.zeros((1, *INPUT), "float32")
    for name, g in geometry.items():
        act = keras.Model(model.input, model.get_layer(name).output)(x)
        assert tuple(act.shape[1:]) == (g["space"], g["time_steps"], g["channels"])
    sto = _geometry(ARCHS["spatiotemporal"])
    assert [g["time_stride"] for g in sto.values()] == [2, 4]
    rec = _geometry(ARCHS["recurrent"])
    assert rec["recurrent2"] == {"time_stride": 1, "time_steps": 320, "space": 1, "channels": 5}


def test_normalisation_statistics_are_stored_and_survive_saving(tmp_path):
    rng = np.random.default_rng(1)
    mean, std = rng.normal(100, 5, (25, 2)), rng.uniform(1, 50, (25, 2))
    model = build_model(ARCHS["spatiotemporal"], "position", input_mean=mean, input_std=std,
                        target_mean=np.array([1.0, 2.0, 3.0]),
                        target_std=np.array([2.0, 2.0, 2.0]), seed=0)
    compile_model(model, "position", target_std=np.array([2.0, 2.0, 2.0]))
    x = (mean[None, :, None, :] + std[None, :, None, :]
         * rng.normal(size=(4, 25, 320, 2))).astype("float32")
    normalised = keras.Model(model.input, model.get_layer("input_normalization").output)(x)
    z = np.asarray(normalised)
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=0.1)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=0.1)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    assert hidden_layers(loaded) == hidden_layers(model)


def test_same_seed_same_initial_weights():
    a = build_model(ARCHS["recurrent"], seed=3).get_weights()
    b = build_model(ARCHS["recurrent"], seed=3).get_weights()
    c = build_model(ARCHS["recurrent"], seed=4).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("change, message", [
    ({"family": "transformer"}, "unknown family"),
    ({"spatial_kernel": 60}, "larger than its input"),
    ({"temporal_kernel": 1000}, "larger than its input"),
    ({"temporal_stride": 0}, "stride"),
    ({"spatial_filters": []}, "must not be empty"),
    ({"spatial_kernal": 3}, "unknown keys"),
])
def test_bad_architecture_is_a_clear_error(change, message):
    arch = {**ARCHS["spatial_temporal"], **change}
    with pytest.raises(ValueError, match=message):
        build_model(arch)


def test_kernel_larger_than_a_deep_layer_input():
    # 25 muscles -> 13 -> 7 -> 4 -> 2 with stride 2: a 9-tap kernel on 4 rows sees mostly padding
    arch = {**ARCHS["spatial_temporal"], "spatial_filters": [4, 4, 4, 4], "spatial_kernel": 9}
    with pytest.raises(ValueError, match="spatial4 kernel 9 is larger than its input"):
        layer_plan(arch)
    # the study's best network (kernel 7 down to 4 rows, 'same' padding) is accepted
    best = {"name": "best", "family": "spatial_temporal", "spatial_filters": [8, 16, 16, 32],
            "spatial_kernel": 7, "spatial_stride": 2, "temporal_filters": [32, 32, 64, 64],
            "temporal_kernel": 9, "temporal_stride": 3}
    assert n_layers(best) == 8


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task"):
        build_model(ARCHS["spatiotemporal"], "handwriting")


@pytest.mark.parametrize("family", models.FAMILIES)
def test_sweep_draws_distinct_valid_architectures_from_the_search_space(family):
    sweep = models.sample_architectures(family, 12, seed=3)
    assert sweep == models.sample_architectures(family, 12, seed=3)
    assert len({str(sorted(a.items())) for a in sweep}) == 12
    space = models.SEARCH_SPACE
    for arch in sweep:
        models.layer_plan(arch)
        filters = arch.get("filters", []) + arch.get("spatial_filters", []) + \
            arch.get("temporal_filters", [])
        assert filters == sorted(filters) or family == "recurrent"
        assert set(filters) <= set(space["filters"]) | set(space["lstm_filters"])
        for key in ("kernel", "spatial_kernel", "temporal_kernel"):
            assert arch.get(key, 3) in space["kernel"]
        if family == "spatial_temporal":
            assert len(arch["spatial_filters"]) == len(arch["temporal_filters"])
            assert arch["temporal_stride"] in space["temporal_stride"]
        if family == "recurrent":
            assert len(arch["spatial_filters"]) in space["lstm_pre_layers"]
            assert arch["lstm_units"][0] in space["lstm_units"]


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("task", ["recognition", "position_velocity"])
def test_mixed_precision_keeps_normalisation_and_readout_float32(precision, task):
    """16-bit compute in the hidden blocks; input standardisation, read-out and outputs float32."""
    from deepdraw.training import precision_policy

    with precision_policy(precision):
        model = compile_model(build_model(ARCHS["recurrent"], task, seed=0), task)
    assert keras.config.dtype_policy().name == "float32"  # restored after the block
    half = precision.removeprefix("mixed_")
    assert model.get_layer("spatial1_conv").compute_dtype == half
    assert model.get_layer("recurrent1").compute_dtype == half
    for name in ("input_normalization", "readout"):
        assert model.get_layer(name).compute_dtype == "float32"
    x = np.random.default_rng(0).normal(size=(2, *INPUT)).astype("float32")
    out = model.predict_on_batch(x)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    if task == "recognition":
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
    # float16 needs loss scaling against underflowing gradients; bfloat16 has float32's range
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")


def test_float32_models_unchanged_by_the_precision_option():
    """Under the default policy no layer gets an explicit dtype: configs equal a plain build."""
    from deepdraw.training import precision_policy

    plain = build_model(ARCHS["spatial_temporal"], "position", seed=0).get_config()
    with precision_policy("float32"):
        scoped = build_model(ARCHS["spatial_temporal"], "position", seed=0).get_config()
    assert plain == scoped
    assert {layer["config"]["dtype"]["config"]["name"] for layer in plain["layers"]
            if isinstance(layer["config"].get("dtype"), dict)} == {"float32"}


def test_jit_compile_is_off_unless_asked():
    """Keras' default ('auto') would compile with XLA wherever a GPU is visible."""
    import tensorflow as tf
    from tensorflow.python.framework.config import (disable_op_determinism,
                                                    is_op_determinism_enabled)

    model = compile_model(build_model(ARCHS["spatiotemporal"], "recognition", seed=0),
                          "recognition")
    assert model.jit_compile is False
    deterministic = is_op_determinism_enabled()
    # Keras refuses XLA while TensorFlow's op determinism is on (training turns it off for XLA)
    disable_op_determinism()
    try:
        model = compile_model(build_model(ARCHS["spatiotemporal"], "recognition", seed=0),
                              "recognition", jit_compile=True)
        assert model.jit_compile is True
    finally:
        if deterministic:
            tf.config.experimental.enable_op_determinism()
