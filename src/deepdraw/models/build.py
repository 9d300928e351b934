"""Building and compiling the Keras network of an architecture for a task."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from deepdraw.contract import INPUT_SHAPE, LETTERS
from deepdraw.models.families import block_pattern
from deepdraw.models.planning import layer_plan
from deepdraw.models.tasks import _as_sequence, get_task


def build_model(arch: dict, task: str = "recognition", *, n_classes: int = len(LETTERS),
                input_shape: tuple[int, int, int] = INPUT_SHAPE,
                input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None,
                target_mean: np.ndarray | None = None, target_std: np.ndarray | None = None,
                seed: int | None = None) -> keras.Model:
    """Build (uncompiled) a network of one family for one task.

    Parameters
    ----------
    arch : dict
        Architecture (see :mod:`deepdraw.models`); validated by :func:`layer_plan`.
    task : str
        A registered task (:data:`TASKS`).
    n_classes : int
        Classes of the recognition read-out.
    input_shape : tuple
        ``(muscles, time steps, channels)``.
    input_mean, input_std : array of shape (muscles, channels), optional
        Training-set statistics of the inputs, stored in the model's ``input_normalization``
        layer (default: 0 and 1, i.e. raw inputs).
    target_mean, target_std : array of shape (outputs,), optional
        Training-set statistics of the decoding targets, for tasks that standardise them: the
        read-out predicts standardised targets and the final ``output`` layer maps them back to
        cm (cm/s).
    seed : int, optional
        Seed of the weight initialisers (``keras.utils.set_random_seed``).

    Returns
    -------
    keras.Model
        Input ``(batch, *input_shape)``; output ``(batch, n_classes)`` class probabilities, or
        ``(batch, time steps, outputs)`` decoded hand position (cm) [and velocity (cm/s)].
    """
    plan = layer_plan(arch, input_shape)
    spec = get_task(task)
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    muscles, steps, channels = input_shape
    mean = np.zeros((muscles, channels)) if input_mean is None else np.asarray(input_mean)
    std = np.ones((muscles, channels)) if input_std is None else np.asarray(input_std)
    if mean.shape != (muscles, channels) or std.shape != (muscles, channels):
        raise ValueError(f"input statistics must have shape {(muscles, channels)}")

    # Under a mixed-precision policy the input standardisation and everything from the read-out
    # on stay float32 (16-bit floats would round raw lengths of ~100 mm to 0.06 mm and the
    # outputs); in float32 the layers take the global policy as before.
    keep32 = "float32" if keras.config.dtype_policy().name.startswith("mixed") else None
    inputs = keras.Input(shape=input_shape, name="spindles")
    # per (muscle, channel) standardisation; the statistics are saved with the model
    x = layers.Normalization(axis=(1, 3), mean=mean.astype("float32"),
                             variance=np.square(std).astype("float32"),
                             name="input_normalization", dtype=keep32)(inputs)
    for block in plan:
        x = BLOCK_LAYERS[block["kind"]](x, block)
    context = {"n_classes": n_classes, "steps": steps, "dropout": arch.get("dropout", 0.3),
               "target_mean": target_mean, "target_std": target_std, "dtype": keep32}
    outputs = spec.head(x, plan, context)
    return keras.Model(inputs, outputs, name=f"{arch.get('name', arch['family'])}_{task}")


def _conv_block(x, block):
    name = block["name"]
    x = layers.Conv2D(block["filters"], block["kernel"], strides=block["strides"],
                      padding="same", name=f"{name}_conv")(x)
    x = layers.GroupNormalization(groups=1, name=f"{name}_norm")(x)
    return layers.ReLU(name=name)(x)


def _lstm_block(x, block):
    return layers.LSTM(block["units"], return_sequences=True, name=block["name"])(_as_sequence(x))


#: Keras layers of each block kind a :class:`Planner` can lay out.
BLOCK_LAYERS = {"conv": _conv_block, "lstm": _lstm_block}


def compile_model(model: keras.Model, task: str, learning_rate: float = 5e-4,
                  target_std: np.ndarray | None = None, jit_compile: bool = False) -> keras.Model:
    """Compile with Adam and the task's loss and metrics (accuracy, or position error in cm).

    ``jit_compile`` turns on XLA compilation of the train step (off by default: Keras' ``auto``
    would turn it on wherever a GPU is visible, and on CPU it measured 3-5x slower here). Models
    built under ``mixed_float16`` get loss scaling from Keras.
    """
    spec = get_task(task)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=spec.loss(target_std), metrics=spec.metrics(),
                  jit_compile=bool(jit_compile))
    return model


def hidden_layers(model: keras.Model) -> list[str]:
    """Names of the block outputs (``spatial1``, ..., ``recurrent1``) in network order."""
    pattern = block_pattern()
    return [layer.name for layer in model.layers if pattern.match(layer.name)]
