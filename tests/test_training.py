"""Training: zarr streaming, learning a toy problem, determinism, resume after a kill, outputs."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from deepdraw.io import open_zarr
from deepdraw.training import ZarrBatches, main, summarize, train, untrained
from synthetic import make_synthetic_dataset

TINY = {"name": "tiny", "family": "spatial_temporal", "spatial_filters": [4], "spatial_kernel": 5,
        "spatial_stride": 2, "temporal_filters": [8], "temporal_kernel": 5, "temporal_stride": 4}
SETTINGS = {"batch_size": 64, "learning_rate": 1e-3, "max_epochs": 3, "patience": 3,
            "plateau_patience": 1, "shuffle_chunks": 2}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A learnable 5-class store of 1000 samples (chunks of 128 samples)."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("toy") / "dataset.zarr", 1000, 5, 1)


def weights(path):
    return keras.models.load_model(path).get_weights()


def test_batches_stream_every_sample_once_per_epoch(toy):
    source = ZarrBatches(toy, "train", "recognition", batch_size=50, shuffle=True, seed=0,
                         shuffle_chunks=2)
    ds = open_zarr(toy)
    train_labels = np.sort(ds["label"].values[ds["split"].values == 0])
    assert len(source.chunks) == 8  # 1000 samples in chunks of 128: read chunk by chunk
    orders = []
    for epoch in (0, 1, 0):
        source.epoch = epoch
        batches = list(source)
        assert len(batches) == len(source) and max(len(b[0]) for b in batches) == 50
        labels = np.concatenate([b[1] for b in batches])
        assert np.array_equal(np.sort(labels), train_labels)
        orders.append(labels)
    # the order is a function of (seed, epoch) only
    assert np.array_equal(orders[0], orders[2]) and not np.array_equal(orders[0], orders[1])
    # unshuffled splits come in store order, with targets aligned to inputs
    val = ZarrBatches(toy, "validation", "position_velocity", batch_size=16)
    x, y = next(iter(val))
    first = np.flatnonzero(ds["split"].values == 1)[0]
    np.testing.assert_array_equal(x[0], ds["spindles"].values[first])
    np.testing.assert_allclose(y[0, :, :3], ds["hand"].values[first])
    assert y.shape[1:] == (320, 6)
    stats = source.statistics()
    assert stats["input_mean"].shape == (25, 2) and np.all(stats["input_std"] > 0)


def test_tiny_network_learns_separable_toy_problem(toy, tmp_path):
    settings = {**SETTINGS, "batch_size": 32, "max_epochs": 8, "learning_rate": 2e-3,
                "plateau_patience": 3}
    metrics = train(toy, "recognition", TINY, settings, 0, tmp_path / "run", threads=2)
    assert metrics["test"]["accuracy"] >= 0.8  # chance is 0.2
    for name in ("model.keras", "history.csv", "metrics.json"):
        assert (tmp_path / "run" / name).exists()
    assert any((tmp_path / "run" / "tensorboard").rglob("*tfevents*"))
    assert not (tmp_path / "run" / "checkpoint").exists()  # removed once outputs are written
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert len(history) == metrics["epochs"] and list(history["epoch"]) == list(range(len(history)))
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert np.array(saved["test"]["confusion"]).shape == (5, 5)
    assert saved["family"] == "spatial_temporal" and saved["n_layers"] == 2


def test_determinism_and_resume_after_interruption(toy, tmp_path):
    class Preempt(keras.callbacks.Callback):
        """Simulates a kill right after epoch 1 has been checkpointed."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("preempted")

    settings = {**SETTINGS, "max_epochs": 3}
    a = train(toy, "recognition", TINY, settings, 5, tmp_path / "a")
    b = train(toy, "recognition", TINY, settings, 5, tmp_path / "b")
    wa, wb = weights(tmp_path / "a/model.keras"), weights(tmp_path / "b/model.keras")
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert a["test"] == b["test"]

    with pytest.raises(KeyboardInterrupt):
        train(toy, "recognition", TINY, settings, 5, tmp_path / "c", extra_callbacks=[Preempt()])
    assert not (tmp_path / "c/model.keras").exists()
    assert (tmp_path / "c/checkpoint/backup").exists()
    c = train(toy, "recognition", TINY, settings, 5, tmp_path / "c")
    wc = weights(tmp_path / "c/model.keras")
    # resumed from epoch 2 with the same optimiser state, data order and dropout masks
    assert all(np.array_equal(x, y) for x, y in zip(wa, wc))
    assert c["test"] == a["test"] and c["epochs"] == 3
    assert list(pd.read_csv(tmp_path / "c/history.csv")["epoch"]) == [0, 1, 2]


def test_decoding_untrained_control_and_summary(toy, tmp_path):
    lstm = {"name": "lstm", "family": "recurrent", "spatial_filters": [4], "spatial_kernel": 5,
            "spatial_stride": 4, "lstm_units": [8]}
    settings = {**SETTINGS, "max_epochs": 2}
    trained = train(toy, "position_velocity", lstm, settings, 0, tmp_path / "trained")
    assert trained["test"]["position_error_cm"] > 0 and "velocity_error_cm_s" in trained["test"]
    # decoded positions are in cm: on the same scale as the hand trajectories
    model = keras.models.load_model(tmp_path / "trained/model.keras")
    x, y = next(iter(ZarrBatches(toy, "test", "position_velocity", 8)))
    assert model.predict(x, verbose=0).shape == y.shape
    main(["untrained", "--dataset", str(toy), "--task", "recognition", "--arch", json.dumps(TINY),
          "--settings", json.dumps(settings), "--seed", "1", "--output-dir",
          str(tmp_path / "untrained")])
    control = json.loads((tmp_path / "untrained/metrics.json").read_text())
    assert control["trained"] is False and 0 <= control["test"]["accuracy"] <= 0.5
    assert (tmp_path / "untrained/model.keras").exists()
    table = summarize([tmp_path / "trained/metrics.json", tmp_path / "untrained/metrics.json"],
                      tmp_path / "summary.csv", tmp_path / "summary.png", tmp_path / "times.csv")
    assert len(table) == 2 and set(table["family"]) == {"recurrent", "spatial_temporal"}
    assert {"n_parameters", "epochs", "test_accuracy",
            "test_position_error_cm"} <= set(table.columns)
    assert (tmp_path / "summary.png").stat().st_size > 0
    times = pd.read_csv(tmp_path / "times.csv")  # trained models only
    assert list(times["name"]) == ["lstm"] and (times["training_time_s"] > 0).all()


def test_saved_model_bytes_depend_only_on_the_model(tmp_path):
    """Two builds with the same seed save to identical bytes and load back to the same model."""
    from deepdraw.models import build_model
    from deepdraw.training import configure_tensorflow, save_model

    paths = []
    for k in range(2):
        configure_tensorflow(3)
        model = build_model(TINY, "recognition", seed=3)
        paths.append(tmp_path / f"m{k}.keras")
        save_model(model, paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    loaded = keras.models.load_model(paths[0])
    x = np.random.default_rng(0).normal(size=(2, 25, 320, 2)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m0.keras", "m1.keras"]  # no leftovers


def test_cli_run_killed_with_sigkill_resumes(toy, tmp_path):
    """A training process killed by SIGKILL (preemption) resumes from its checkpoint when rerun."""
    import os
    import signal
    import subprocess
    import sys
    import time

    settings = {**SETTINGS, "max_epochs": 6}
    command = [sys.executable, "-m", "deepdraw.training", "train", "--dataset", str(toy),
               "--task", "recognition", "--arch", json.dumps(TINY), "--settings",
               json.dumps(settings), "--seed", "2", "--output-dir", str(tmp_path / "run")]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "run/checkpoint/backup/training_metadata.json"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "training finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 6 and not (tmp_path / "run/model.keras").exists()
    subprocess.run(command, env=env, check=True, capture_output=True)
    history = pd.read_csv(tmp_path / "run/history.csv")
    assert list(history["epoch"]) == list(range(6))
    reference = train(toy, "recognition", TINY, settings, 2, tmp_path / "reference")
    resumed = json.loads((tmp_path / "run/metrics.json").read_text())
    assert resumed["epochs"] == 6
    assert resumed["test"]["accuracy"] == pytest.approx(reference["test"]["accuracy"], abs=0.02)


def test_store_without_validation_samples_trains_on_training_loss(toy, tmp_path):
    """Tiny stores (the test config's 48 samples) can have an empty validation split."""
    from deepdraw.io import write_zarr

    ds = open_zarr(toy).load()
    ds["split"] = ds["split"].where(ds["split"] != 1, 0)
    store = tmp_path / "novalidation.zarr"
    write_zarr(ds, store, sample_chunk=128)
    metrics = train(store, "position", TINY, {**SETTINGS, "max_epochs": 2}, 0, tmp_path / "run")
    assert metrics["validation"]["n"] == 0 and np.isnan(metrics["validation"]["position_error_cm"])
    assert metrics["test"]["n"] > 0 and np.isfinite(metrics["test"]["position_error_cm"])
    assert metrics["epochs"] == 2


def test_cache_changes_speed_not_batches(toy):
    """Cached and streamed sources give the same batches, epoch by epoch, through tf.data too."""
    kwargs = {"batch_size": 48, "shuffle": True, "seed": 3, "shuffle_chunks": 2}
    streamed = ZarrBatches(toy, "train", "position_velocity", cache="false", **kwargs)
    cached = ZarrBatches(toy, "train", "position_velocity", cache="true", **kwargs)
    assert cached.cached and not streamed.cached
    for epoch in (0, 1):
        streamed.epoch = cached.epoch = epoch
        a, b = list(streamed), list(cached)
        assert len(a) == len(b) == len(streamed)
        for (xa, ya), (xb, yb) in zip(a, b):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
        via_tf = [(x.numpy(), y.numpy()) for x, y in cached.dataset()]
        assert all(np.array_equal(x, xb) and np.array_equal(y, yb)
                   for (x, y), (xb, yb) in zip(via_tf, b))
    for key, value in streamed.statistics().items():
        np.testing.assert_array_equal(value, cached.statistics()[key])


def test_epoch_order_mixes_chunks_and_depends_on_seed_and_epoch(toy):
    source = ZarrBatches(toy, "train", "recognition", batch_size=32, shuffle=True, seed=0,
                         shuffle_chunks=2)
    order = source.epoch_order(0)
    assert np.array_equal(np.sort(order), np.arange(source.n_samples))
    np.testing.assert_array_equal(order, source.epoch_order(0))
    assert not np.array_equal(order, source.epoch_order(1))
    other = ZarrBatches(toy, "train", "recognition", batch_size=32, shuffle=True, seed=1,
                        shuffle_chunks=2)
    assert not np.array_equal(order, other.epoch_order(0))
    # a batch holds samples of several chunks (storage chunks hold shards' samples in order)
    chunk_of = np.searchsorted(source.offsets, order, side="right") - 1
    assert all(len(set(chunk_of[b:b + 32])) > 1 for b in range(0, len(order) - 32, 32))
    # labels follow the order: the batches are the samples the order names
    labels = np.concatenate([y for _, y in source])
    ds = open_zarr(toy)
    train_labels = ds["label"].values[ds["split"].values == 0]
    np.testing.assert_array_equal(labels, train_labels[order])


def test_cache_auto_follows_the_memory_bound(toy):
    needed = ZarrBatches(toy, "train", "recognition", 32).cache_mb()
    assert needed == pytest.approx(800 * (25 * 320 * 2 + 1) * 4 / 1e6, rel=0.01)
    assert ZarrBatches(toy, "train", "recognition", 32, cache="auto",
                       cache_max_mb=2 * needed).cached
    assert not ZarrBatches(toy, "train", "recognition", 32, cache="auto",
                           cache_max_mb=needed / 2).cached
    with pytest.raises(ValueError, match="cache_inputs"):
        ZarrBatches(toy, "train", "recognition", 32, cache="sometimes")


def test_metrics_record_device_build_and_precision(toy, tmp_path):
    """A mixed-precision run on the CPU trains, records what it ran on and outputs float32."""
    import tensorflow as tf

    settings = {**SETTINGS, "max_epochs": 1, "precision": "mixed_bfloat16"}
    metrics = train(toy, "position", TINY, settings, 0, tmp_path / "run")
    runtime = json.loads((tmp_path / "run/metrics.json").read_text())["runtime"]
    assert runtime == metrics["runtime"]
    assert runtime["precision"] == "mixed_bfloat16" and runtime["jit_compile"] is False
    assert runtime["deterministic_ops"] is True
    gpus = tf.config.list_physical_devices("GPU")
    assert runtime["device"] == ("GPU" if gpus else "CPU")
    assert "/physical_device:CPU:0" in runtime["physical_devices"]
    assert runtime["cuda_build"] == tf.sysconfig.get_build_info().get("is_cuda_build", False)
    assert keras.config.dtype_policy().name == "float32"  # the run's policy does not leak
    model = keras.models.load_model(tmp_path / "run/model.keras")
    assert model.get_layer("spatial1_conv").compute_dtype == "bfloat16"
    x, _ = next(iter(ZarrBatches(toy, "test", "position", 8)))
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32 and np.isfinite(metrics["test"]["position_error_cm"])


def test_gpu_job_without_gpu_fails_unless_fallback_allowed(toy, tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible: a GPU job finds it")
    settings = {**SETTINGS, "max_epochs": 1}
    with pytest.raises(RuntimeError, match="sees none.*allow_cpu_fallback"):
        train(toy, "recognition", TINY, settings, 0, tmp_path / "strict", device="gpu")
    assert not (tmp_path / "strict").exists()  # failed before writing anything
    with pytest.raises(RuntimeError, match="allow_cpu_fallback"):
        untrained(toy, "recognition", TINY, {**settings, "device": "gpu"}, 0, tmp_path / "u")
    metrics = train(toy, "recognition", TINY, {**settings, "allow_cpu_fallback": True}, 0,
                    tmp_path / "fallback", device="gpu")
    assert metrics["runtime"]["device"] == "CPU" and (tmp_path / "fallback/model.keras").exists()


def test_jit_compile_runs_with_xla_and_says_it_is_not_deterministic(toy, tmp_path):
    """Keras compiles nothing with XLA under TensorFlow's op determinism: a jit_compile run
    turns determinism off and records that it did."""
    settings = {**SETTINGS, "max_epochs": 1, "jit_compile": True}
    metrics = train(toy, "recognition", TINY, settings, 0, tmp_path / "run")
    assert metrics["runtime"]["jit_compile"] is True
    assert metrics["runtime"]["deterministic_ops"] is False
    assert np.isfinite(metrics["test"]["loss"])
