"""Train one network (task, architecture, seed) on ``dataset.zarr``; untrained controls; summary.

Data are read from the zarr store by :class:`ZarrBatches` (``data``): each epoch visits the
storage chunks of the sample axis in a random order and shuffles samples within windows of a few
chunks; reader threads decompress chunks in parallel and ahead of the model, and the float32
inputs are cached in memory when they fit (``training.cache_inputs``, ``cache_max_mb``). The
order depends only on the seed and the epoch, so a run resumed after a kill sees the same
batches as an uninterrupted one, cached or not.

Device and speed (``device``): ``training.device`` (``auto``/``gpu``/``cpu``; a job that holds a
GPU must find one unless ``allow_cpu_fallback``), ``training.precision`` (float32 or Keras mixed
float16/bfloat16 with float32 outputs) and ``training.jit_compile`` (XLA). ``metrics.json``
records the device, the TensorFlow build (CUDA or not), the precision and ``jit_compile``.

Training (``fit``), resumable callbacks (``callbacks``), sweep summary (``summary``).

Command line::

    python -m deepdraw.training train --dataset D --task T --arch JSON --settings JSON \
        --seed S --output-dir DIR [--threads N] [--device auto|gpu|cpu]
    python -m deepdraw.training untrained --dataset D --task T --arch JSON --settings JSON \
        --seed S --output-dir DIR [--threads N] [--device auto|gpu|cpu]
    python -m deepdraw.training summarize --metrics m1.json m2.json ... --table T.csv --figure F.png
"""

from deepdraw.training.callbacks import make_clock, make_epoch_setter, make_state_keeper
from deepdraw.training.cli import main
from deepdraw.training.data import SPLITS, ZarrBatches
from deepdraw.training.device import (DEVICES, PRECISIONS, configure_tensorflow, cuda_build,
                                      precision_policy, runtime_info, select_device)
from deepdraw.training.fit import DEFAULTS, evaluate, save_model, train, untrained
from deepdraw.training.summary import summarize

__all__ = ["DEFAULTS", "DEVICES", "PRECISIONS", "SPLITS", "ZarrBatches", "configure_tensorflow",
           "cuda_build", "evaluate", "main", "make_clock", "make_epoch_setter",
           "make_state_keeper", "precision_policy", "runtime_info", "save_model",
           "select_device", "summarize", "train", "untrained"]
