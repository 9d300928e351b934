"""Training tasks: the registry :data:`TASKS` and the four tasks (see :mod:`deepdraw.models`).

A :class:`Task` says what the network outputs: the read-out layers, outputs per time step,
loss, Keras metrics, how the targets are computed from ``dataset.zarr`` and how the test split
is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from keras import layers

from deepdraw.models.losses import (StandardizedMSE, StudyMSE, position_error_cm,
                                    study_position_error, study_position_error_cm)


@dataclass(frozen=True)
class Task:
    """A training task: targets, read-out, loss, metrics and test scores.

    Attributes
    ----------
    name : str
        Value in ``training.tasks``.
    n_outputs : int
        Targets per input time step (0: one class label per sample).
    variables : tuple of str
        ``dataset.zarr`` variables the targets are computed from.
    targets : callable ``(values, dt) -> array``
        Targets of a block of samples from ``{variable: array}`` (``dt``: s per step):
        ``(n,)`` int32 labels, or ``(n, time, n_outputs)`` float32.
    head : callable ``(x, plan, context) -> tensor``
        Read-out layers on the last block output ``x``; ``context`` holds ``n_classes``,
        ``steps`` (input steps), ``dropout``, ``target_mean``, ``target_std`` and ``dtype``
        (the dtype of the read-out: float32 under mixed precision, else None).
    loss : callable ``(target_std) -> keras loss``
    metrics : callable ``() -> list``
        Keras metrics, logged per epoch.
    score : callable ``(y, p, n_classes) -> dict``
        Scores of the predictions ``p`` against the targets ``y`` of a whole split.
    score_names : tuple of str
        Keys of ``score`` (NaN for an empty split).
    standardise_targets : bool
        The model predicts targets standardised by their training statistics.
    """

    name: str
    n_outputs: int
    variables: tuple
    targets: Callable[[dict, float], np.ndarray]
    head: Callable[[Any, list, dict], Any]
    loss: Callable[[Any], Any]
    metrics: Callable[[], list]
    score: Callable[[np.ndarray, np.ndarray, int], dict]
    score_names: tuple
    standardise_targets: bool = False


#: Registered tasks, by name.
TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` (an existing name is an error)."""
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def get_task(task: str) -> Task:
    """The registered task ``task``, or a ValueError listing the known ones."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return TASKS[task]


def task_outputs(task: str) -> int:
    """Number of regression outputs per time step for a decoding task (0 for recognition)."""
    return get_task(task).n_outputs


def _as_sequence(x):
    """(batch, space, time, ch) -> (batch, time, space * ch); sequences pass unchanged."""
    if len(x.shape) == 4:
        x = layers.Permute((2, 1, 3), name="to_sequence")(x)
        x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]), name="flatten_space")(x)
    return x


def _classifier_head(x, plan, ctx):
    if plan[-1]["kind"] == "lstm":
        # read-out from the last time step
        x = layers.Cropping1D((x.shape[1] - 1, 0), name="last_step")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(ctx["dropout"], name="dropout")(x)
    return layers.Dense(ctx["n_classes"], activation="softmax", name="readout",
                        dtype=ctx["dtype"])(x)


def _trajectory_head(n_out: int):
    def head(x, plan, ctx):
        stride, steps_out, steps = plan[-1]["time_stride"], plan[-1]["time_steps"], ctx["steps"]
        x = layers.Dropout(ctx["dropout"], name="dropout")(_as_sequence(x))
        # one linear read-out per output step, predicting the `stride` input steps it covers
        x = layers.Dense(stride * n_out, name="readout", dtype=ctx["dtype"])(x)
        x = layers.Reshape((steps_out * stride, n_out), name="unfold_time", dtype=ctx["dtype"])(x)
        if steps_out * stride > steps:
            x = layers.Cropping1D((0, steps_out * stride - steps), name="crop_time",
                                  dtype=ctx["dtype"])(x)
        mean = np.zeros(n_out) if ctx["target_mean"] is None else np.asarray(ctx["target_mean"])
        std = np.ones(n_out) if ctx["target_std"] is None else np.asarray(ctx["target_std"])
        return layers.Normalization(axis=-1, mean=mean.astype("float32"),
                                    variance=np.square(std).astype("float32"), invert=True,
                                    name="output", dtype=ctx["dtype"])(x)
    return head


def _study_decoder_head(x, plan, ctx):
    # the study's decoder: one linear map from each output step's features to x, y, z
    return layers.Dense(3, name="readout", dtype=ctx["dtype"])(_as_sequence(x))


def _labels(values, dt):
    return np.asarray(values["label"]).astype("int32")


def _hand(values, dt):
    return np.asarray(values["hand"], dtype="float32")


def _hand_and_velocity(values, dt):
    hand = np.asarray(values["hand"], dtype="float64")
    return np.concatenate([hand, np.gradient(hand, dt, axis=1)], axis=-1).astype("float32")


def _score_recognition(y, p, n_classes):
    from sklearn.metrics import confusion_matrix

    predicted = p.argmax(axis=1)
    loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))
    return {"accuracy": float(np.mean(predicted == y)), "loss": loss,
            "confusion": confusion_matrix(y, predicted, labels=range(n_classes)).tolist()}


def _score_position(y, p, n_classes):
    err = np.linalg.norm(p[..., :3] - y[..., :3], axis=-1)
    out = {"position_error_cm": float(err.mean()),
           "position_rmse_cm": float(np.sqrt(np.mean(err ** 2)))}
    if p.shape[-1] == 6:
        out["velocity_error_cm_s"] = float(np.linalg.norm(p[..., 3:] - y[..., 3:], axis=-1).mean())
    return out



def _score_study(y, p, n_classes):
    err = study_position_error(y, p)
    return {"position_error_cm": float(err.mean()),
            "position_rmse_cm": float(np.sqrt(np.mean(err ** 2)))}


def _regression_loss(target_std, n_out):
    return StandardizedMSE(np.ones(n_out) if target_std is None else target_std)


_POSITION_SCORES = ("position_error_cm", "position_rmse_cm")
register_task(Task("recognition", 0, ("label",), _labels, _classifier_head,
                   lambda target_std: "sparse_categorical_crossentropy", lambda: ["accuracy"],
                   _score_recognition, ("accuracy", "loss")))
register_task(Task("position", 3, ("hand",), _hand, _trajectory_head(3),
                   lambda target_std: _regression_loss(target_std, 3),
                   lambda: [position_error_cm], _score_position, _POSITION_SCORES,
                   standardise_targets=True))
register_task(Task("position_velocity", 6, ("hand",), _hand_and_velocity, _trajectory_head(6),
                   lambda target_std: _regression_loss(target_std, 6),
                   lambda: [position_error_cm], _score_position,
                   _POSITION_SCORES + ("velocity_error_cm_s",), standardise_targets=True))
register_task(Task("position_study", 3, ("hand",), _hand, _study_decoder_head,
                   lambda target_std: StudyMSE(), lambda: [study_position_error_cm],
                   _score_study, _POSITION_SCORES))
