"""Task-driven network models of the proprioceptive pathway (Keras 3).

A network is one entry of each of two registries:

:data:`FAMILIES` (name -> :class:`Family`)
    how the hidden blocks of an architecture (one entry of ``training.architectures``) are laid
    out, which keys the entry needs, how the study's search space draws one, and the study's
    learning rate and batch size for the family;
:data:`TASKS` (name -> :class:`Task`)
    what the network outputs: the read-out layers, outputs per time step, loss, Keras metrics,
    how the targets are computed from ``dataset.zarr`` and how the test split is scored.

Adding a family or a task is one :func:`register_family` / :func:`register_task` call
(docs/architecture.md, "How to add a network family" and "How to add a task").

Families
--------
``spatial_temporal``
    ``n`` convolutions over the muscle axis (kernel ``(k_s, 1)``, stride ``(s_s, 1)``), then
    ``m`` convolutions over time (kernel ``(1, k_t)``, stride ``(1, s_t)``)::

        {"name": "st", "family": "spatial_temporal", "spatial_filters": [8, 16],
         "spatial_kernel": 7, "spatial_stride": 2, "temporal_filters": [16, 32],
         "temporal_kernel": 9, "temporal_stride": 3}

``spatiotemporal``
    ``n`` joint convolutions (kernel ``(k, k)``, stride ``(s, s)``)::

        {"name": "sto", "family": "spatiotemporal", "filters": [8, 16], "kernel": 7, "stride": 2}

``recurrent``
    spatial convolutions as above, then LSTM layer(s) over the 320 time steps::

        {"name": "lstm", "family": "recurrent", "spatial_filters": [8], "spatial_kernel": 5,
         "spatial_stride": 2, "lstm_units": [64]}

Every convolution is followed by layer normalisation (``GroupNormalization(groups=1)``: statistics
over space, time and channels per sample, one scale and offset per channel, as
``tf.contrib.layers.layer_norm`` in the original code) and a ReLU.

Stable layer names (the tuning and similarity analyses rely on them): blocks ``spatial1..n``,
``temporal1..n``, ``spatiotemporal1..n``, ``recurrent1..n``; inside a block the convolution is
``<block>_conv`` and the normalisation ``<block>_norm``; the block output (after the ReLU, or the
LSTM output sequence) is the layer named ``<block>`` itself. The input layer is ``spindles``, the
input normalisation ``input_normalization`` and the linear read-out ``readout``.

Tasks
-----
``recognition``
    20-way softmax over characters, cross-entropy, accuracy.
``position``, ``position_velocity``
    hand position x, y, z (cm) [and velocity, cm/s] at each of the 320 input steps. A linear
    read-out per output time step (after dropout) predicts standardised targets for the
    ``time_stride`` input steps that step covers; a final inverted normalisation returns
    physical units; loss: mean squared error with each output divided by its training std.
``position_study``
    the study's trajectory decoder: a linear read-out of 3 hand coordinates (cm) at each output
    time step of the last block, without dropout or target standardisation; loss: mean
    squared error (cm^2) against the hand position sampled at those steps (every
    ``320 // (n_out - 1)``-th input step from step 0, :func:`study_output_steps`); score: the
    mean Euclidean distance (cm) over samples and output steps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np
from keras import layers

from deepdraw import cliutil
from deepdraw.contract import INPUT_SHAPE, LETTERS

# besides the family's keys: the name, the dropout and the instances to train (the workflow's)
_OPTIONAL = {"name", "family", "dropout", "seeds", "untrained_seeds"}


# ---------------------------------------------------------------------------- families
@dataclass(frozen=True)
class Family:
    """A network family: its architecture keys, block layout and search space.

    Attributes
    ----------
    name : str
        Value of an architecture's ``family`` key.
    keys : frozenset of str
        Keys an architecture of this family must have (besides ``name``, ``family`` and the
        optional ``dropout``).
    blocks : callable ``(arch, planner) -> None``
        Lays out the hidden blocks with ``planner.conv(...)`` / ``planner.lstm(...)``
        (:class:`Planner`), validating the keys it reads.
    draw : callable ``(rng) -> dict``
        One architecture (without ``name``) drawn from the study's search space.
    prefixes : tuple of str
        Names of its blocks without the 1-based index (``spatial`` for ``spatial1``, ...).
    study_learning_rate : float
        Adam learning rate the study trained this family with (no unit).
    study_batch_size : int
        Batch size the study trained this family with (samples).
    """

    name: str
    keys: frozenset
    blocks: Callable[[dict, "Planner"], None]
    draw: Callable[[np.random.Generator], dict]
    prefixes: tuple
    study_learning_rate: float
    study_batch_size: int


#: Registered network families, by name (insertion order fixes the sweep seeds).
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES` (an existing name is an error)."""
    if family.name in FAMILIES:
        raise ValueError(f"network family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def block_pattern() -> re.Pattern:
    """Regular expression of the hidden-block names of every registered family."""
    prefixes = sorted({p for f in FAMILIES.values() for p in f.prefixes}, key=len, reverse=True)
    return re.compile(rf"^({'|'.join(map(re.escape, prefixes))})(\d+)$")


def _positive_ints(arch: dict, key: str, minimum: int = 1) -> list[int]:
    value = arch[key]
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ValueError(f"architecture {arch.get('name')!r}: {key} must not be empty")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            what = "stride" if "stride" in key else key
            raise ValueError(f"architecture {arch.get('name')!r}: {key}={value!r}; every {what}"
                             f" must be an integer >= {minimum}")
    return [int(v) for v in values]


def _same_out(extent: int, stride: int) -> int:
    """Output extent of a 'same'-padded convolution."""
    return math.ceil(extent / stride)


class Planner:
    """Running geometry of a network while a family lays out its blocks.

    Attributes ``space`` (muscle rows), ``time`` (steps), ``channels`` and ``time_stride``
    (input steps per step) describe the current block output; ``plan`` lists the blocks.
    """

    def __init__(self, arch: dict, input_shape: tuple[int, int, int]):
        self.arch = arch
        self.space, self.time, self.channels = input_shape
        self.time_stride = 1
        self.plan: list[dict] = []

    def ints(self, key: str) -> list[int]:
        """The architecture's ``key`` as a list of positive integers (validated)."""
        return _positive_ints(self.arch, key)

    def int(self, key: str) -> int:
        """The architecture's ``key`` as one positive integer (validated)."""
        (value,) = _positive_ints(self.arch, key)
        return value

    def _check_kernel(self, block: str, axis: str, kernel: int, extent: int) -> None:
        # With 'same' padding a kernel may exceed its input a little (the paper's best net has
        # a 7-tap kernel on 4 muscles); beyond 2*extent-1 some taps could only see padding.
        if kernel > 2 * extent - 1:
            raise ValueError(
                f"architecture {self.arch.get('name')!r}: {block} kernel {kernel} is larger than"
                f" its input ({extent} {axis}; at most {2 * extent - 1} with 'same' padding); "
                f"use a smaller kernel, a smaller stride or fewer layers")

    def conv(self, block: str, filters: int, kernel: tuple[int, int],
             strides: tuple[int, int]) -> None:
        """Append a convolution block (kernel and strides over (muscles, time))."""
        if kernel[0] > 1:
            self._check_kernel(block, "muscle rows", kernel[0], self.space)
        if kernel[1] > 1:
            self._check_kernel(block, "time steps", kernel[1], self.time)
        self.space, self.time = _same_out(self.space, strides[0]), _same_out(self.time, strides[1])
        self.channels = filters
        self.time_stride *= strides[1]
        self.plan.append({"name": block, "kind": "conv", "filters": filters, "kernel": kernel,
                          "strides": strides, "space": self.space, "time_steps": self.time,
                          "channels": self.channels, "time_stride": self.time_stride})

    def lstm(self, block: str, units: int) -> None:
        """Append an LSTM layer reading the flattened (muscle x channel) vector of every step."""
        self.space, self.channels = 1, units
        self.plan.append({"name": block, "kind": "lstm", "units": units, "space": 1,
                          "time_steps": self.time, "channels": units,
                          "time_stride": self.time_stride})


def layer_plan(arch: dict, input_shape: tuple[int, int, int] = INPUT_SHAPE) -> list[dict]:
    """Validate an architecture and list its hidden blocks with their geometry.

    Parameters
    ----------
    arch : dict
        One architecture (see the module docstring).
    input_shape : tuple
        ``(muscles, time steps, channels)`` of the network input.

    Returns
    -------
    list of dict
        One entry per block in order: ``name``, ``kind`` ("conv" or "lstm"), ``filters``,
        ``kernel`` and ``strides`` (``(space, time)``) for convolutions, ``units`` for LSTMs, and
        the block output geometry ``space``, ``time_steps``, ``channels``, ``time_stride``.

    Raises
    ------
    ValueError
        Unknown family, missing or unknown keys, non-positive strides or kernels, a kernel larger
        than its layer's input.
    """
    family = FAMILIES.get(arch.get("family"))
    if family is None:
        raise ValueError(f"architecture {arch.get('name')!r}: unknown family "
                         f"{arch.get('family')!r}; expected one of {', '.join(FAMILIES)}")
    missing = family.keys - set(arch)
    unknown = set(arch) - family.keys - _OPTIONAL
    if missing or unknown:
        raise ValueError(f"architecture {arch.get('name')!r} ({family.name}): missing keys "
                         f"{sorted(missing)}, unknown keys {sorted(unknown)}")
    planner = Planner(arch, input_shape)
    family.blocks(arch, planner)
    if not planner.plan:
        raise ValueError(f"architecture {arch.get('name')!r}: no hidden blocks")
    dropout = arch.get("dropout", 0.3)
    if not 0 <= dropout < 1:
        raise ValueError(f"architecture {arch.get('name')!r}: dropout={dropout} not in [0, 1)")
    return planner.plan


# The study's architecture search space (Sandbrink et al. 2023, Methods).
SEARCH_SPACE = {
    "layers": (1, 2, 3, 4),
    "filters": (8, 16, 32, 64),
    "kernel": (3, 5, 7, 9),
    "spatial_stride": (1, 2),
    "temporal_stride": (1, 2, 3),
    "lstm_pre_layers": (1, 2, 3),
    "lstm_filters": (8, 16, 32),
    "lstm_units": (32, 64, 128),
}


def _rising(rng: np.random.Generator, choices: tuple[int, ...], n: int) -> list[int]:
    """``n`` values drawn from ``choices``, sorted: kernels per layer never decrease."""
    return sorted(int(v) for v in rng.choice(choices, size=n))


def _spatial_blocks(arch: dict, planner: Planner) -> None:
    k, s = planner.int("spatial_kernel"), planner.int("spatial_stride")
    for i, f in enumerate(planner.ints("spatial_filters"), 1):
        planner.conv(f"spatial{i}", f, (k, 1), (s, 1))


def _spatial_temporal_blocks(arch: dict, planner: Planner) -> None:
    _spatial_blocks(arch, planner)
    k, s = planner.int("temporal_kernel"), planner.int("temporal_stride")
    for i, f in enumerate(planner.ints("temporal_filters"), 1):
        planner.conv(f"temporal{i}", f, (1, k), (1, s))


def _spatiotemporal_blocks(arch: dict, planner: Planner) -> None:
    k, s = planner.int("kernel"), planner.int("stride")
    for i, f in enumerate(planner.ints("filters"), 1):
        planner.conv(f"spatiotemporal{i}", f, (k, k), (s, s))


def _recurrent_blocks(arch: dict, planner: Planner) -> None:
    _spatial_blocks(arch, planner)
    for i, units in enumerate(planner.ints("lstm_units"), 1):
        planner.lstm(f"recurrent{i}", units)


def _draw_spatial_temporal(rng: np.random.Generator) -> dict:
    space = SEARCH_SPACE
    n = int(rng.choice(space["layers"]))
    filters = _rising(rng, space["filters"], 2 * n)
    return {"family": "spatial_temporal", "spatial_filters": filters[:n],
            "spatial_kernel": int(rng.choice(space["kernel"])),
            "spatial_stride": int(rng.choice(space["spatial_stride"])),
            "temporal_filters": filters[n:],
            "temporal_kernel": int(rng.choice(space["kernel"])),
            "temporal_stride": int(rng.choice(space["temporal_stride"]))}


def _draw_spatiotemporal(rng: np.random.Generator) -> dict:
    space = SEARCH_SPACE
    n = int(rng.choice(space["layers"]))
    return {"family": "spatiotemporal", "filters": _rising(rng, space["filters"], n),
            "kernel": int(rng.choice(space["kernel"])),
            "stride": int(rng.choice(space["spatial_stride"]))}


def _draw_recurrent(rng: np.random.Generator) -> dict:
    space = SEARCH_SPACE
    return {"family": "recurrent",
            "spatial_filters": _rising(rng, space["lstm_filters"],
                                       int(rng.choice(space["lstm_pre_layers"]))),
            "spatial_kernel": int(rng.choice(space["kernel"])),
            "spatial_stride": int(rng.choice(space["spatial_stride"])),
            "lstm_units": [int(rng.choice(space["lstm_units"]))]}


_SPATIAL = frozenset({"spatial_filters", "spatial_kernel", "spatial_stride"})
# the study trained convolutional networks at lr 5e-4 in batches of 256 and LSTMs at 1e-3 in
# batches of 128 (its training scripts)
register_family(Family(
    "spatial_temporal",
    _SPATIAL | {"temporal_filters", "temporal_kernel", "temporal_stride"},
    _spatial_temporal_blocks, _draw_spatial_temporal, ("spatial", "temporal"), 5e-4, 256))
register_family(Family(
    "spatiotemporal", frozenset({"filters", "kernel", "stride"}), _spatiotemporal_blocks,
    _draw_spatiotemporal, ("spatiotemporal",), 5e-4, 256))
register_family(Family(
    "recurrent", _SPATIAL | {"lstm_units"}, _recurrent_blocks, _draw_recurrent,
    ("spatial", "recurrent"), 1e-3, 128))


def sample_architectures(family: str, n: int, seed: int) -> list[dict]:
    """``n`` distinct valid architectures of ``family`` drawn from the study's search space.

    Draws are uniform per hyper-parameter (filters sorted so that they never decrease with
    depth); draws that :func:`layer_plan` rejects (e.g. a kernel far larger than the muscle rows
    left after striding) or repeat an earlier one are redrawn. Names are ``<family>_<k>``.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    rng = np.random.default_rng([seed, list(FAMILIES).index(family)])
    found: list[dict] = []
    for _ in range(1000 * n):
        if len(found) == n:
            break
        arch = FAMILIES[family].draw(rng)
        try:
            layer_plan(arch)
        except ValueError:
            continue
        if arch not in found:
            found.append(arch)
    else:
        raise ValueError(f"{family}: could not draw {n} distinct valid architectures")
    return [{"name": f"{family}_{k}", **arch} for k, arch in enumerate(found)]


def n_layers(arch: dict) -> int:
    """Number of hidden blocks (convolutions and LSTM layers) of an architecture."""
    return len(layer_plan(arch))


# ---------------------------------------------------------------------------- losses, metrics
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


# ---------------------------------------------------------------------------- tasks
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


# ---------------------------------------------------------------------------- building
def build_model(arch: dict, task: str = "recognition", *, n_classes: int = len(LETTERS),
                input_shape: tuple[int, int, int] = INPUT_SHAPE,
                input_mean: np.ndarray | None = None, input_std: np.ndarray | None = None,
                target_mean: np.ndarray | None = None, target_std: np.ndarray | None = None,
                seed: int | None = None) -> keras.Model:
    """Build (uncompiled) a network of one family for one task.

    Parameters
    ----------
    arch : dict
        Architecture (see the module docstring); validated by :func:`layer_plan`.
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


def main(argv: list[str] | None = None) -> None:
    """CLI: print a sweep of architectures as a YAML list for ``training.architectures``."""
    import yaml

    parser = cliutil.parser("python -m deepdraw.models", "Draw architectures from the study's search space")
    parser.add_argument("--per-family", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    args = cliutil.parse_args(parser, argv)
    sweep = [arch for family in args.families
             for arch in sample_architectures(family, args.per_family, args.seed)]
    print(yaml.safe_dump(sweep, sort_keys=False, default_flow_style=None), end="")


if __name__ == "__main__":
    main()
