"""Task-driven network models of the proprioceptive pathway (Keras 3).

Three families, built from a config dictionary (one entry of ``training.architectures``):

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

Tasks: ``recognition`` (20-way softmax over characters), ``position`` (hand position x, y, z in cm
at each of the 320 input steps) and ``position_velocity`` (position in cm and velocity in cm/s).
Decoders keep the time axis: a linear read-out per output time step predicts the ``time_stride``
input steps that step covers; a final inverted normalisation returns physical units.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers

from deepdraw import cliutil
from deepdraw.contract import BLOCK_PATTERN, INPUT_SHAPE, LETTERS

FAMILIES = ("spatial_temporal", "spatiotemporal", "recurrent")
TASKS = ("recognition", "position", "position_velocity")

_KEYS = {
    "spatial_temporal": {"spatial_filters", "spatial_kernel", "spatial_stride", "temporal_filters",
                         "temporal_kernel", "temporal_stride"},
    "spatiotemporal": {"filters", "kernel", "stride"},
    "recurrent": {"spatial_filters", "spatial_kernel", "spatial_stride", "lstm_units"},
}
_OPTIONAL = {"name", "family", "dropout"}


def task_outputs(task: str) -> int:
    """Number of regression outputs per time step for a decoding task (0 for recognition)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return {"recognition": 0, "position": 3, "position_velocity": 6}[task]


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


def _check_kernel(arch: dict, block: str, axis: str, kernel: int, extent: int) -> None:
    # With 'same' padding a kernel may exceed its input a little (the paper's best net has a
    # 7-tap kernel on 4 muscles); beyond 2*extent-1 some taps could only ever see padding.
    if kernel > 2 * extent - 1:
        raise ValueError(
            f"architecture {arch.get('name')!r}: {block} kernel {kernel} is larger than its input "
            f"({extent} {axis}; at most {2 * extent - 1} with 'same' padding); use a smaller "
            f"kernel, a smaller stride or fewer layers")


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
    family = arch.get("family")
    if family not in FAMILIES:
        raise ValueError(f"architecture {arch.get('name')!r}: unknown family {family!r}; expected"
                         f" one of {', '.join(FAMILIES)}")
    required = _KEYS[family]
    missing = required - set(arch)
    unknown = set(arch) - required - _OPTIONAL
    if missing or unknown:
        raise ValueError(f"architecture {arch.get('name')!r} ({family}): missing keys "
                         f"{sorted(missing)}, unknown keys {sorted(unknown)}")
    space, time, channels = input_shape
    time_stride = 1
    plan: list[dict] = []

    def conv(block, filters, kernel, strides):
        nonlocal space, time, channels, time_stride
        if kernel[0] > 1:
            _check_kernel(arch, block, "muscle rows", kernel[0], space)
        if kernel[1] > 1:
            _check_kernel(arch, block, "time steps", kernel[1], time)
        space, time = _same_out(space, strides[0]), _same_out(time, strides[1])
        channels = filters
        time_stride *= strides[1]
        plan.append({"name": block, "kind": "conv", "filters": filters, "kernel": kernel,
                     "strides": strides, "space": space, "time_steps": time,
                     "channels": channels, "time_stride": time_stride})

    if family in ("spatial_temporal", "recurrent"):
        (k,) = _positive_ints(arch, "spatial_kernel")
        (s,) = _positive_ints(arch, "spatial_stride")
        for i, f in enumerate(_positive_ints(arch, "spatial_filters"), 1):
            conv(f"spatial{i}", f, (k, 1), (s, 1))
    if family == "spatial_temporal":
        (k,) = _positive_ints(arch, "temporal_kernel")
        (s,) = _positive_ints(arch, "temporal_stride")
        for i, f in enumerate(_positive_ints(arch, "temporal_filters"), 1):
            conv(f"temporal{i}", f, (1, k), (1, s))
    elif family == "spatiotemporal":
        (k,) = _positive_ints(arch, "kernel")
        (s,) = _positive_ints(arch, "stride")
        for i, f in enumerate(_positive_ints(arch, "filters"), 1):
            conv(f"spatiotemporal{i}", f, (k, k), (s, s))
    elif family == "recurrent":
        for i, units in enumerate(_positive_ints(arch, "lstm_units"), 1):
            # the LSTM reads the flattened (muscle x channel) vector at every time step
            space, channels = 1, units
            plan.append({"name": f"recurrent{i}", "kind": "lstm", "units": units, "space": 1,
                         "time_steps": time, "channels": units, "time_stride": time_stride})
    dropout = arch.get("dropout", 0.3)
    if not 0 <= dropout < 1:
        raise ValueError(f"architecture {arch.get('name')!r}: dropout={dropout} not in [0, 1)")
    return plan


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


def _draw_architecture(family: str, rng: np.random.Generator) -> dict:
    space = SEARCH_SPACE
    if family == "recurrent":
        return {"family": family,
                "spatial_filters": _rising(rng, space["lstm_filters"],
                                           int(rng.choice(space["lstm_pre_layers"]))),
                "spatial_kernel": int(rng.choice(space["kernel"])),
                "spatial_stride": int(rng.choice(space["spatial_stride"])),
                "lstm_units": [int(rng.choice(space["lstm_units"]))]}
    n = int(rng.choice(space["layers"]))
    if family == "spatiotemporal":
        return {"family": family, "filters": _rising(rng, space["filters"], n),
                "kernel": int(rng.choice(space["kernel"])),
                "stride": int(rng.choice(space["spatial_stride"]))}
    filters = _rising(rng, space["filters"], 2 * n)
    return {"family": family, "spatial_filters": filters[:n],
            "spatial_kernel": int(rng.choice(space["kernel"])),
            "spatial_stride": int(rng.choice(space["spatial_stride"])),
            "temporal_filters": filters[n:],
            "temporal_kernel": int(rng.choice(space["kernel"])),
            "temporal_stride": int(rng.choice(space["temporal_stride"]))}


def sample_architectures(family: str, n: int, seed: int) -> list[dict]:
    """``n`` distinct valid architectures of ``family`` drawn from the study's search space.

    Draws are uniform per hyper-parameter (filters sorted so that they never decrease with
    depth); draws that :func:`layer_plan` rejects (e.g. a kernel far larger than the muscle rows
    left after striding) or repeat an earlier one are redrawn. Names are ``<family>_<k>``.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    found: list[dict] = []
    for _ in range(1000 * n):
        if len(found) == n:
            break
        arch = _draw_architecture(family, rng)
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
    task : {"recognition", "position", "position_velocity"}
    n_classes : int
        Classes of the recognition read-out.
    input_shape : tuple
        ``(muscles, time steps, channels)``.
    input_mean, input_std : array of shape (muscles, channels), optional
        Training-set statistics of the inputs, stored in the model's ``input_normalization``
        layer (default: 0 and 1, i.e. no normalisation).
    target_mean, target_std : array of shape (outputs,), optional
        Training-set statistics of the decoding targets; the read-out predicts standardised
        targets and the final ``output`` layer maps them back to cm (cm/s).
    seed : int, optional
        Seed of the weight initialisers (``keras.utils.set_random_seed``).

    Returns
    -------
    keras.Model
        Input ``(batch, *input_shape)``; output ``(batch, n_classes)`` class probabilities, or
        ``(batch, time steps, 3 | 6)`` decoded hand position (cm) [and velocity (cm/s)].
    """
    plan = layer_plan(arch, input_shape)
    n_out = task_outputs(task)
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
        name = block["name"]
        if block["kind"] == "conv":
            x = layers.Conv2D(block["filters"], block["kernel"], strides=block["strides"],
                              padding="same", name=f"{name}_conv")(x)
            x = layers.GroupNormalization(groups=1, name=f"{name}_norm")(x)
            x = layers.ReLU(name=name)(x)
        else:
            if len(x.shape) == 4:
                # (batch, space, time, ch) -> (batch, time, space * ch): one vector per step
                x = layers.Permute((2, 1, 3), name="to_sequence")(x)
                x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]),
                                   name="flatten_space")(x)
            x = layers.LSTM(block["units"], return_sequences=True, name=name)(x)

    dropout = arch.get("dropout", 0.3)
    if n_out == 0:
        if plan[-1]["kind"] == "lstm":
            # read-out from the last time step
            x = layers.Cropping1D((x.shape[1] - 1, 0), name="last_step")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        outputs = layers.Dense(n_classes, activation="softmax", name="readout", dtype=keep32)(x)
    else:
        stride, steps_out = plan[-1]["time_stride"], plan[-1]["time_steps"]
        if len(x.shape) == 4:
            x = layers.Permute((2, 1, 3), name="to_sequence")(x)
            x = layers.Reshape((steps_out, x.shape[2] * x.shape[3]), name="flatten_space")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        # one linear read-out per output step, predicting the `stride` input steps it covers
        x = layers.Dense(stride * n_out, name="readout", dtype=keep32)(x)
        x = layers.Reshape((steps_out * stride, n_out), name="unfold_time", dtype=keep32)(x)
        if steps_out * stride > steps:
            x = layers.Cropping1D((0, steps_out * stride - steps), name="crop_time",
                                  dtype=keep32)(x)
        t_mean = np.zeros(n_out) if target_mean is None else np.asarray(target_mean, float)
        t_std = np.ones(n_out) if target_std is None else np.asarray(target_std, float)
        outputs = layers.Normalization(axis=-1, mean=t_mean.astype("float32"),
                                       variance=np.square(t_std).astype("float32"),
                                       invert=True, name="output", dtype=keep32)(x)
    model = keras.Model(inputs, outputs, name=f"{arch.get('name', arch['family'])}_{task}")
    return model


def compile_model(model: keras.Model, task: str, learning_rate: float = 5e-4,
                  target_std: np.ndarray | None = None, jit_compile: bool = False) -> keras.Model:
    """Compile with Adam and the task's loss and metrics (accuracy, or position error in cm).

    ``jit_compile`` turns on XLA compilation of the train step (off by default: Keras' ``auto``
    would turn it on wherever a GPU is visible, and on CPU it measured 3-5x slower here). Models
    built under ``mixed_float16`` get loss scaling from Keras.
    """
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    if task_outputs(task) == 0:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=bool(jit_compile))
    else:
        scale = np.ones(task_outputs(task)) if target_std is None else target_std
        model.compile(optimizer=optimizer, loss=StandardizedMSE(scale),
                      metrics=[position_error_cm], jit_compile=bool(jit_compile))
    return model


def hidden_layers(model: keras.Model) -> list[str]:
    """Names of the block outputs (``spatial1``, ..., ``recurrent1``) in network order."""
    return [layer.name for layer in model.layers if BLOCK_PATTERN.match(layer.name)]


def main(argv: list[str] | None = None) -> None:
    """CLI: print a sweep of architectures as a YAML list for ``training.architectures``."""
    import yaml

    parser = cliutil.parser("python -m deepdraw.models", "Draw architectures from the study's search space")
    parser.add_argument("--per-family", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    args = cliutil.parse_args(parser, argv)
    sweep = [arch for family in args.families
             for arch in sample_architectures(family, args.per_family, args.seed)]
    print(yaml.safe_dump(sweep, sort_keys=False, default_flow_style=None), end="")


if __name__ == "__main__":
    main()
