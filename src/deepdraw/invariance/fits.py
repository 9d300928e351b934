"""Direction tuning of every unit fitted separately on each parallel plane.

For one network instance and each (orientation, height) test set, every unit's activation at
the time steps its receptive field is centred on is regressed on the hand's movement
direction in the writing plane (``y ~ a cos(theta) + b sin(theta) + c``, the study's
direction model, :func:`deepdraw.tuning.design_matrix`), fitted on 80% of the plane's samples
and scored by R^2 on the rest (split by sample). The preferred direction is the angle of
``(a, b)``. Only time steps inside the movement with a speed above ``min_speed`` enter, as in
the tuning analysis. All units of a layer are fitted at once (:func:`deepdraw.tuning.fit_units`).

As in the tuning analysis, the spindle input of the same samples (read from the plane store)
is fitted as layer 0 when ``analysis.input_layer`` is set: its 25 muscles x 2 channels are
the reference the network layers are compared with. ``layer_index`` is the figures' layer
axis (:func:`deepdraw.activations.layer_indices`): 0 for the spindles, k for the k-th hidden
layer.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from deepdraw.activations import INPUT_LAYER, layer_indices, read_layers
from deepdraw.invariance.planes import ORIENTATIONS
from deepdraw.io import open_zarr, rng_for
from deepdraw.kinematics import load_kinematics, sample_at
from deepdraw.tuning import design_matrix, fit_units

log = logging.getLogger(__name__)

#: Columns of the per-unit table of :func:`fit_planes`.
UNIT_COLUMNS = ("layer", "layer_index", "unit", "orientation", "height_cm", "central", "r2_test",
                "tuned", "constant", "pd_deg", "n_train_rows", "n_test_rows")


def direction_rows(activation: np.ndarray, input_step: np.ndarray, kin, samples: np.ndarray,
                   min_speed: float, max_rows: int, rng: np.random.Generator):
    """Unit responses and movement direction at a layer's time steps, for some samples.

    Parameters
    ----------
    activation : (n, channel, space, time) one layer, rows aligned with ``kin``'s samples
    input_step : (time,) input step at the centre of each layer step's receptive field
    kin : kinematics of :func:`deepdraw.kinematics.load_kinematics` (same samples)
    samples : indices (into the activation rows) of the samples to use
    min_speed : cm/s; slower steps have no direction and are left out
    max_rows : keep at most this many (sample, time) rows, drawn at random

    Returns
    -------
    Y (rows, channel * space) float32 (unit ``c * space + s``); rows: dict of (rows,) arrays
    ``direction`` (rad), ``speed`` (cm/s), ``sample`` (activation row).
    """
    n, n_ch, n_sp, n_t = activation.shape
    centre = np.rint(np.clip(input_step, 0, kin.sizes["time"] - 1)).astype(int)
    vx = sample_at(kin["vx"].values[samples], input_step)
    vy = sample_at(kin["vy"].values[samples], input_step)
    speed = np.hypot(vx, vy)
    keep = kin["movement"].values[samples][:, centre] & (speed > min_speed)
    local, steps = np.nonzero(keep)
    if len(local) > max_rows:
        chosen = np.sort(rng.choice(len(local), size=max_rows, replace=False))
        local, steps = local[chosen], steps[chosen]
    rows = {"direction": np.arctan2(vy[local, steps], vx[local, steps]), "speed": speed[local, steps],
            "sample": np.asarray(samples)[local]}
    Y = activation[rows["sample"], :, :, steps].reshape(len(local), n_ch * n_sp)
    return Y, rows


def fit_plane(Y: np.ndarray, rows: dict, train_fraction: float, threshold: float,
              rng: np.random.Generator) -> pd.DataFrame:
    """Direction fit of every unit on one plane's rows: R^2 on held-out samples and PD.

    Returns one row per unit: ``unit``, ``r2_test``, ``constant``, ``tuned`` (R^2 above
    ``threshold`` and not constant), ``pd_deg`` in [0, 360) (NaN for constant units),
    ``n_train_rows``, ``n_test_rows``. With too few rows to fit (fewer than 4 in either
    part) every unit is untuned with NaN scores.
    """
    n_units = Y.shape[1]
    samples = np.unique(rows["sample"])
    train_samples = rng.permutation(samples)[: int(round(train_fraction * len(samples)))]
    train = np.isin(rows["sample"], train_samples)
    frame = pd.DataFrame({"unit": np.arange(n_units), "r2_test": np.nan, "constant": False,
                          "tuned": False, "pd_deg": np.nan, "n_train_rows": int(train.sum()),
                          "n_test_rows": int((~train).sum())})
    if train.sum() < 4 or (~train).sum() < 4:
        return frame
    X = design_matrix("direction", rows, n_classes=1)
    result = fit_units(X[train], Y[train], X[~train], Y[~train])
    pd_deg = np.mod(np.degrees(np.arctan2(result["coef"][2], result["coef"][1])), 360.0)
    frame["r2_test"] = result["r2_test"]
    frame["constant"] = result["constant"]
    frame["pd_deg"] = np.where(result["constant"], np.nan, pd_deg)
    frame["tuned"] = (frame["r2_test"] > threshold) & ~frame["constant"]
    return frame


def fit_planes(activations_path: str, planes_path: str, settings: dict, invariance: dict,
               seed: int, identity: dict) -> pd.DataFrame:
    """Per-unit direction tuning on every plane of the test store, for one network instance.

    Parameters
    ----------
    activations_path : activations of the network on the plane store (deepdraw.activations)
    planes_path : the gathered plane sets (``height`` and ``plane`` per sample)
    settings : the config's ``analysis`` section (``r2_threshold``, ``train_fraction``,
        ``min_speed``, ``max_rows``, ``input_layer``: fit the spindle input as layer 0)
    invariance : ``analysis.invariance`` (``central`` height per orientation)
    identity : task, architecture, instance, trained, seed: added to every row

    Returns
    -------
    One row per layer, unit and plane (columns :data:`UNIT_COLUMNS` after the identity);
    ``layer_index`` 0 is the spindle input (same values for every instance: it does not depend
    on the network), 1, 2, ... the hidden layers.
    """
    planes = open_zarr(planes_path)
    if "height" not in planes:
        raise ValueError(f"{planes_path}: no 'height' variable; it must be the store of the invariance_planes "
                         "rule (python -m deepdraw.invariance gather)")
    include_input = bool(settings["input_layer"])
    if include_input and "spindles" not in planes:
        raise ValueError(f"{planes_path}: no 'spindles' (sample, muscle, time, channel) variable to fit as layer "
                         f"{INPUT_LAYER!r}; remake the plane store (rules invariance_set, invariance_planes) or set "
                         "analysis.input_layer to false")
    # the activations store names its samples by their rows in the plane store it was read out on
    layers, groups, root = read_layers(activations_path, planes if include_input else None)
    indices = layer_indices(layers)
    rows_in_store = root["sample_index"].values
    kin = load_kinematics(planes, rows_in_store)
    plane = planes["plane"].values[rows_in_store].astype(int)
    height = planes["height"].values[rows_in_store].astype(float)
    frames = []
    for name in layers:
        group = groups[name]
        activation = group["activation"].values
        for code, orientation in enumerate(ORIENTATIONS):
            central = float(invariance["central"][orientation])
            for h in np.unique(height[plane == code]):
                samples = np.flatnonzero((plane == code) & (height == h))
                rng = rng_for(seed, "invariance-fit", name, orientation, f"{h:g}")
                Y, rows = direction_rows(activation, group["input_step"].values, kin, samples,
                                         settings["min_speed"], settings["max_rows"], rng)
                frame = fit_plane(Y, rows, settings["train_fraction"], settings["r2_threshold"], rng)
                frame.insert(0, "layer", name)
                frame.insert(1, "layer_index", indices[name])
                frame.insert(3, "orientation", orientation)
                frame.insert(4, "height_cm", float(h))
                frame.insert(5, "central", bool(np.isclose(h, central)))
                frames.append(frame)
        log.info("%s: %d units fitted on %d planes", name, activation.shape[1] * activation.shape[2],
                 len(set(zip(plane, height))))
    table = pd.concat(frames, ignore_index=True)[list(UNIT_COLUMNS)]
    for key, value in reversed(identity.items()):
        table.insert(0, key, value)
    return table
