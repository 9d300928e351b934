"""Keras callbacks of a training run: per-epoch randomness, resumable callback state, clock."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from deepdraw.io import rng_for

log = logging.getLogger(__name__)


def _keras():
    import keras

    return keras


def make_epoch_setter(seed: int, *sources):
    """Callback making each epoch's randomness a function of ``(seed, epoch)`` only.

    Sets the epoch of the data sources (shuffle order) and reseeds every layer's random
    stream (dropout masks): a run resumed at epoch ``e`` then draws what an uninterrupted
    run draws, so both end with the same weights.
    """
    keras = _keras()

    class EpochSetter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            for source in sources:
                source.epoch = epoch
            for i, layer in enumerate(self.model.layers):
                generator = getattr(layer, "seed_generator", None)
                if generator is not None:
                    word = rng_for(seed, "layer", i, "epoch", epoch).integers(0, 2**31)
                    generator.state.assign(np.array([word, 0], dtype=generator.state.dtype))

    return EpochSetter()


def make_state_keeper(path: Path, callbacks: dict, stop_flag: Path):
    """Callback saving and restoring the counters of stateful callbacks with each backup.

    ``BackupAndRestore`` restores weights, optimiser (incl. learning rate) and epoch, but not
    the patience counters of ``EarlyStopping`` / ``ReduceLROnPlateau`` nor the best value of
    ``ModelCheckpoint``; without them a resumed run would train differently.
    """
    keras = _keras()
    fields = {"early_stopping": ("wait", "best", "best_epoch", "stopped_epoch"),
              "plateau": ("wait", "best", "cooldown_counter"),
              "checkpoint": ("best",), "clock": ("elapsed",)}

    class StateKeeper(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._restored = False

        def on_epoch_begin(self, epoch, logs=None):
            # first epoch of this process: the callbacks' on_train_begin has reset them and
            # BackupAndRestore has chosen the epoch to resume from
            if self._restored:
                return
            self._restored = True
            saved = json.loads(path.read_text()) if path.exists() else {}
            if str(epoch) in saved:
                for key, values in saved[str(epoch)].items():
                    for field, value in values.items():
                        setattr(callbacks[key], field, value)
                log.info("resuming at epoch %d with the callback state saved then", epoch)

        def on_epoch_end(self, epoch, logs=None):
            saved = json.loads(path.read_text()) if path.exists() else {}
            # keep the previous epoch's state too: a kill before the backup of this epoch is
            # written resumes from the previous one
            saved = {k: v for k, v in saved.items() if int(k) == epoch}
            saved[str(epoch + 1)] = {
                key: {f: _jsonable(getattr(callbacks[key], f)) for f in fields[key]
                      if hasattr(callbacks[key], f)} for key in callbacks}
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(saved))
            os.replace(tmp, path)

        def on_train_end(self, logs=None):
            stop_flag.write_text("finished\n")

    return StateKeeper()


def make_clock():
    """Callback accumulating training wall time across resumed runs (attribute ``elapsed``)."""
    keras = _keras()

    class Clock(keras.callbacks.Callback):
        elapsed = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.elapsed += time.perf_counter() - self._start

    return Clock()


def _jsonable(value):
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    return value


def make_lr_recorder():
    """Callback recording the optimiser's learning rate in each epoch's logs (``learning_rate``),
    so that the history of every schedule shows the rate each epoch ended with."""
    keras = _keras()

    class LearningRateRecorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(
                    keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return LearningRateRecorder()
