"""Training on a GPU: runs only where TensorFlow sees one (skipped with the reason elsewhere).

Needs the CUDA build of TensorFlow (``pip install -e ".[gpu]"`` or ``envs/training.yaml``) and a
visible NVIDIA GPU; ``pytest -ra tests/test_gpu.py`` prints why it was skipped otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from deepdraw.models import build_model, compile_model
from deepdraw.training import cuda_build, precision_policy, train
from synthetic import make_synthetic_dataset


def _no_gpu_reason() -> str | None:
    if tf.config.list_physical_devices("GPU"):
        return None
    build = "a CUDA" if cuda_build() else "a CPU-only (tensorflow-cpu)"
    return (f"no GPU visible to TensorFlow {tf.__version__} ({build} build): "
            "tf.config.list_physical_devices('GPU') is empty")


REASON = _no_gpu_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

SMALL = {"name": "small", "family": "spatial_temporal", "spatial_filters": [8],
         "spatial_kernel": 5, "spatial_stride": 2, "temporal_filters": [16], "temporal_kernel": 5,
         "temporal_stride": 4}


@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])
def test_small_net_trains_on_the_gpu(precision):
    """A few steps on one fixed batch: the loss falls and the weights and ops live on the GPU."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 25, 320, 2)).astype("float32")
    y = rng.integers(0, 5, 64).astype("int32")
    x[np.arange(64), y, :, 0] += 3.0  # the label is visible in the input: learnable
    with tf.device("/GPU:0"), precision_policy(precision):
        model = compile_model(build_model(SMALL, "recognition", n_classes=5, seed=0),
                              "recognition", learning_rate=3e-3)
        losses = [float(model.train_on_batch(x, y)[0]) for _ in range(15)]
        out = model.predict_on_batch(x[:4])
    assert losses[-1] < 0.7 * losses[0], losses
    assert "GPU" in model.get_layer("spatial1_conv").kernel.value.device
    assert out.dtype == np.float32


def test_training_job_records_the_gpu(tmp_path):
    """A workflow training job asking for the GPU finds it and records it in metrics.json."""
    store = make_synthetic_dataset(tmp_path / "dataset.zarr", 600, 5, 0)
    settings = {"batch_size": 32, "max_epochs": 3, "learning_rate": 2e-3, "patience": 3,
                "plateau_patience": 2, "shuffle_chunks": 2, "precision": "mixed_float16"}
    metrics = train(store, "recognition", SMALL, settings, 0, tmp_path / "run", device="gpu")
    runtime = metrics["runtime"]
    assert runtime["device"] == "GPU" and runtime["cuda_build"] is True
    assert any("GPU" in name for name in runtime["physical_devices"])
    assert metrics["test"]["accuracy"] > 0.4  # chance is 0.2
