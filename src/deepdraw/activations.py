"""Hidden-layer activations of a trained or untrained network on held-out test samples.

Every hidden block of a model (Keras layers named ``spatial1``, ``temporal1``,
``spatiotemporal1``, ``recurrent1``, ...; docs/architecture.md) is read out on the same
deterministic subset of the test split, so that activations of different models can be
compared sample by sample (tuning, CKA). The store is one zarr group per layer, each with
the variable ``activation (sample, channel, space, time)`` and, per layer step, the input
step its receptive field is centred on (``input_step``, see :func:`layer_alignment`): that
is where the kinematics are read for the tuning analysis.

Open a layer with ``xarray.open_zarr(path, group="temporal2")`` or the whole store with
``xarray.open_datatree(path, engine="zarr")``.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from deepdraw import cliutil
from deepdraw.contract import BLOCK_PATTERN, DT, SPLIT_CODES
from deepdraw.contract import WINDOW_STEPS as N_INPUT_TIME
from deepdraw.io import atomic_path, open_zarr, rng_for

log = logging.getLogger(__name__)


def hidden_layers(model) -> list[str]:
    """Hidden block names of ``model`` in forward order.

    The model's layers whose names match :data:`deepdraw.contract.BLOCK_PATTERN`.

    Raises
    ------
    ValueError if the model has no such layer (not a deepdraw network).
    """
    names = [layer.name for layer in model.layers if BLOCK_PATTERN.match(layer.name)]
    if not names:
        raise ValueError(
            f"model {model.name!r} has no hidden layers named spatialN/temporalN/spatiotemporalN/"
            f"recurrentN (has: {', '.join(layer.name for layer in model.layers)})")
    return names


def layer_alignment(model, names: list[str], n_input_time: int = N_INPUT_TIME) -> dict[str, tuple[int, float]]:
    """Input step at the centre of each layer step's receptive field, as ``(stride, offset)``.

    Layer step ``j`` of a block is centred on input step ``offset + j * stride``. The affine
    map is composed exactly through every ``Conv2D`` on the way (time kernel ``k``, stride
    ``s``, dilation ``d``; TensorFlow's ``same`` padding puts ``pad // 2`` steps in front, with
    ``pad = max((n_out - 1) s + d (k - 1) + 1 - n_in, 0)``), so output ``j`` of one convolution
    is centred on its input step ``j s - pad_front + d (k - 1) / 2``. LSTMs keep the time
    axis. If the model's graph cannot be followed (a block's time length differs from the
    tracked one), the stride is derived from the output length and the block of ``stride``
    input steps that step ``j`` summarises is used: ``offset = (stride - 1) / 2``.
    """
    import keras

    alignment, scale, shift, n_time = {}, 1, 0.0, n_input_time
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            k, s, d = int(layer.kernel_size[1]), int(layer.strides[1]), int(layer.dilation_rate[1])
            span = d * (k - 1) + 1
            if layer.padding == "same":
                n_out = math.ceil(n_time / s)
                front = max((n_out - 1) * s + span - n_time, 0) // 2
            else:
                n_out, front = (n_time - span) // s + 1, 0
            # compose: input = scale * (layer-input step) + shift
            shift += scale * (d * (k - 1) / 2.0 - front)
            scale *= s
            n_time = n_out
        if layer.name in names:
            n_out = _time_length(layer.output.shape)
            if n_out == n_time:
                alignment[layer.name] = (scale, shift)
            else:
                stride = stride_from_length(n_out, n_input_time)
                alignment[layer.name] = (stride, (stride - 1) / 2.0)
    missing = [name for name in names if name not in alignment]
    if missing:
        raise ValueError(f"layers {missing} not found in model {model.name!r}")
    return alignment


def _time_length(shape) -> int:
    """Time steps of a block output: conv (batch, space, time, ch); recurrent (batch, time, units)."""
    if len(shape) == 4:
        return int(shape[2])
    if len(shape) == 3:
        return int(shape[1])
    if len(shape) == 2:  # recurrent read-out of the last step only
        return 1
    raise ValueError(f"unexpected hidden layer output shape {tuple(shape)}")


def stride_from_length(n_out: int, n_input_time: int = N_INPUT_TIME) -> int:
    """Integer stride ``S`` with ``ceil(n_input_time / S) == n_out`` (``same`` padding)."""
    if n_out == 1:
        return n_input_time
    stride = round(n_input_time / n_out)
    for candidate in (stride, stride - 1, stride + 1):
        if candidate >= 1 and math.ceil(n_input_time / candidate) == n_out:
            return candidate
    raise ValueError(f"no integer temporal stride maps {n_input_time} input steps to {n_out}")


def input_steps(n_out: int, stride: int, offset: float, n_input_time: int = N_INPUT_TIME) -> np.ndarray:
    """(n_out,) input step at the centre of each layer step, clipped to the input window."""
    if n_out == 1 and stride >= n_input_time:
        # a last-step-only recurrent output summarises the whole input; it is read at its end
        return np.array([n_input_time - 1.0])
    return np.clip(offset + stride * np.arange(n_out, dtype=float), 0, n_input_time - 1)


def select_test_samples(split: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` test samples (split code 2), the same for every model."""
    test = np.flatnonzero(np.asarray(split) == SPLIT_CODES["test"])
    if len(test) == 0:
        raise ValueError("dataset has no test samples (split == 2)")
    if n >= len(test):
        return test
    return np.sort(rng_for(seed, "activations").choice(test, size=n, replace=False))


def to_sample_channel_space_time(values: np.ndarray) -> np.ndarray:
    """Block output -> (sample, channel, space, time).

    conv (batch, space, time, channel); recurrent (batch, time, units) or (batch, units).
    """
    if values.ndim == 4:
        return np.transpose(values, (0, 3, 1, 2))
    if values.ndim == 3:
        return np.transpose(values, (0, 2, 1))[:, :, None, :]
    if values.ndim == 2:
        return values[:, :, None, None]
    raise ValueError(f"unexpected hidden layer output of shape {values.shape}")


def compute_activations(model, inputs: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Activations of every hidden layer, each (sample, channel, space, time) float32."""
    import keras

    names = hidden_layers(model)
    reader = keras.Model(inputs=model.inputs, outputs=[model.get_layer(n).output for n in names])
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for begin in range(0, len(inputs), batch_size):
        # a list matches the functional model's input structure (one named input)
        outputs = reader([inputs[begin:begin + batch_size]], training=False)
        if len(names) == 1:
            outputs = [outputs]
        for name, out in zip(names, outputs):
            chunks[name].append(to_sample_channel_space_time(
                keras.ops.convert_to_numpy(out).astype(np.float32)))
    return {n: np.concatenate(chunks[n]) for n in names}


def activation_tree(activations: dict[str, np.ndarray], alignment: dict[str, tuple[int, float]],
                    samples: np.ndarray, attrs: dict) -> xr.DataTree:
    """Store layout: root (``sample_index``, attrs incl. ordered ``layers``) + one group per layer."""
    groups = {"/": xr.Dataset({"sample_index": ("sample", samples.astype("int64"),
                                                {"long_name": "row of the sample in dataset.zarr"})},
                              attrs={**attrs, "layers": json.dumps(list(activations))})}
    for index, (name, values) in enumerate(activations.items()):
        stride, offset = alignment[name]
        coords = {"input_step": ("time", input_steps(values.shape[-1], stride, offset),
                                 {"units": "input steps", "long_name": "input step at the centre "
                                  f"of the receptive field (dt = {DT} s)"}),
                  "sample_index": ("sample", samples.astype("int64"))}
        groups[name] = xr.Dataset(
            {"activation": (("sample", "channel", "space", "time"), values,
                            {"long_name": f"activation of layer {name}", "units": "a.u."})},
            coords=coords,
            attrs={"layer_index": index, "time_stride": int(stride), "time_offset": float(offset),
                   "dt_input": DT},
        )
    return xr.DataTree.from_dict(groups)


def write_tree(tree: xr.DataTree, path: str | Path) -> None:
    """Write a DataTree atomically as zarr v3 (consolidated), chunked along ``sample``."""
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part.*")
        tree.to_zarr(tmp, zarr_format=3, consolidated=True, mode="w")


def read_layers(path: str | Path) -> tuple[list[str], dict[str, xr.Dataset], xr.Dataset]:
    """(ordered layer names, {layer: Dataset}, root Dataset) of an activations store."""
    path = Path(path)
    root = open_zarr(path)
    layers = json.loads(root.attrs["layers"])
    groups = {name: xr.open_zarr(path, group=name, consolidated=True, chunks=None) for name in layers}
    return layers, groups, root


def run(model_path: str, dataset_path: str, output: str, n_samples: int, seed: int,
        batch_size: int = 64) -> None:
    """Load the model and the dataset, read out every hidden layer and write the store."""
    import keras

    import deepdraw.models  # noqa: F401 (registers the custom layers before deserialising)
    dataset = open_zarr(dataset_path)
    samples = select_test_samples(dataset["split"].values, n_samples, seed)
    inputs = dataset["spindles"].isel(sample=samples).values.astype(np.float32)
    model = keras.models.load_model(model_path, compile=False)
    names = hidden_layers(model)
    alignment = layer_alignment(model, names, inputs.shape[2])
    activations = compute_activations(model, inputs, batch_size)
    log.info("%s: %d samples, layers %s", model_path, len(samples),
             {n: a.shape for n, a in activations.items()})
    attrs = {"model": str(model_path), "dataset": str(dataset_path), "seed": seed}
    write_tree(activation_tree(activations, alignment, samples, attrs), output)


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.activations", __doc__)
    parser.add_argument("--model", required=True, help="model.keras")
    parser.add_argument("--dataset", required=True, help="dataset.zarr")
    parser.add_argument("--analysis", required=True, help="the config's analysis section, JSON")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--output", required=True, help="activations .zarr store")
    args = cliutil.parse_args(parser, argv)
    settings = json.loads(args.analysis)
    run(args.model, args.dataset, args.output, settings["n_test_samples"], args.seed,
        settings.get("batch_size", 64))


if __name__ == "__main__":
    main()
