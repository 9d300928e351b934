"""Keras losses and metrics of the decoding tasks, and the study decoder's target steps.

The Keras objects are registered with ``package="deepdraw"`` (registered names
``deepdraw>StandardizedMSE``, ``deepdraw>position_error_cm``, ``deepdraw>StudyMSE``,
``deepdraw>study_position_error_cm``) so that saved models load.
"""

from __future__ import annotations

import keras
import numpy as np

from deepdraw.contract import INPUT_SHAPE


@keras.saving.register_keras_serializable(package="deepdraw")
class StandardizedMSE(keras.losses.Loss):
    """Mean squared error with each output dimension divided by its training-set variance.

    Decoders output physical units (cm, cm/s); weighting by ``1 / scale**2`` keeps position
    and the much larger velocity values on an equal footing.
    """

    def __init__(self, scale, name="standardized_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = [float(s) for s in np.ravel(scale)]

    def call(self, y_true, y_pred):
        scale = keras.ops.convert_to_tensor(self.scale, dtype=y_pred.dtype)
        return keras.ops.mean(keras.ops.square((y_pred - y_true) / scale), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="deepdraw")
def position_error_cm(y_true, y_pred):
    """Euclidean distance (cm) between true and decoded hand position (outputs 0..2)."""
    diff = y_pred[..., :3] - y_true[..., :3]
    return keras.ops.sqrt(keras.ops.sum(keras.ops.square(diff), axis=-1))


def study_output_steps(n_out: int, n_in: int = INPUT_SHAPE[1]) -> np.ndarray:
    """Input steps whose hand position the study's decoder predicts at its ``n_out`` steps.

    Every ``n_in // (n_out - 1)``-th step from step 0, as the study's target sub-sampling
    (``n_out == n_in`` keeps every step). For the strides of the study's search space the count
    is exactly ``n_out`` (e.g. 320 -> 107 -> 36 -> 12 -> 4 steps with stride 3: every 3rd,
    9th, 29th, 106th step).

    Raises
    ------
    ValueError
        Fewer than 2 output steps, or a stride for which the sub-sampling does not give
        ``n_out`` steps.
    """
    if n_out < 2 or n_out > n_in:
        raise ValueError(f"the study's decoder needs 2..{n_in} output time steps; the network "
                         f"has {n_out}: use smaller temporal strides or fewer layers")
    steps = np.arange(0, n_in, n_in // (n_out - 1))
    if len(steps) != n_out:
        raise ValueError(f"sub-sampling {n_in} steps every {n_in // (n_out - 1)} gives "
                         f"{len(steps)} targets, not the network's {n_out} output steps")
    return steps


def _subsample(y_true, y_pred):
    """``y_true`` (batch, n_in, 3) at the study's steps of ``y_pred`` (batch, n_out, 3)."""
    steps = study_output_steps(int(y_pred.shape[1]), int(y_true.shape[1]))
    return keras.ops.take(y_true, steps, axis=1)


@keras.saving.register_keras_serializable(package="deepdraw")
class StudyMSE(keras.losses.Loss):
    """The study decoder's loss: mean squared error (cm^2) at its output steps."""

    def __init__(self, name="study_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        target = _subsample(y_true, y_pred)
        return keras.ops.mean(keras.ops.square(y_pred - target[..., :3]), axis=(-2, -1))


@keras.saving.register_keras_serializable(package="deepdraw")
def study_position_error_cm(y_true, y_pred):
    """Euclidean distance (cm) at the study decoder's output steps, per sample and step."""
    diff = y_pred - _subsample(y_true, y_pred)[..., :3]
    return keras.ops.sqrt(keras.ops.sum(keras.ops.square(diff), axis=-1))


def study_position_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The study's decoding error: Euclidean distance (cm) per sample and output step.

    Parameters
    ----------
    y : (n, n_in, 3 or more) hand position (cm) at every input step
    p : (n, n_out, 3) decoded position (cm) at the decoder's output steps

    Returns
    -------
    (n, n_out) cm; its mean is the error the study reports.
    """
    steps = study_output_steps(p.shape[1], y.shape[1])
    return np.linalg.norm(p[..., :3] - y[:, steps, :3], axis=-1)
