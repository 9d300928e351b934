"""Rows of the tuning regressions: which (sample, layer time step) pairs enter the fits.

A layer step is read where its receptive field is centred (``input_step`` of the activations
store); the kinematics are interpolated there. Two row rules (``analysis.mode``):

``study``
    every layer step of every sample whose centre lies more than ``margin_steps`` input steps
    from both ends of the 320-step window, *including* the still periods before and after
    the movement. Only models whose regressors need an angle drop rows (the model registry's
    row filters: no direction at zero velocity, no polar angle at the first point). The fits
    are made per plane (orientation); the headline plane's fit is the headline score.
``ours``
    only the layer steps inside the movement (``onset <= centre < onset + duration``); the
    two planes pooled for the headline score, each plane also fitted on its own.

At most ``max_rows`` rows per layer are kept, drawn at random.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from deepdraw.kinematics import sample_at
from deepdraw.tuning.models import Rows

#: (n, T) kinematic features read at every row; angles are rebuilt from their components.
INTERPOLATED = ("x", "y", "vx", "vy", "speed", "ax", "ay", "acceleration", "rel_x", "rel_y")


def first_movement_step(movement: np.ndarray) -> np.ndarray:
    """(n,) index of the first True step of each row of ``movement`` (n, T); 0 if none."""
    movement = np.asarray(movement, bool)
    return np.where(movement.any(axis=1), np.argmax(movement, axis=1), 0)


def relative_position(x: np.ndarray, y: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hand position relative to the movement's first point, (n, T) each, cm.

    Parameters
    ----------
    x, y : (n, T) in-plane hand position, cm
    first : (n,) time step of the movement's first point (the hand rests there before it)
    """
    index = np.arange(len(x))
    return x - x[index, first][:, None], y - y[index, first][:, None]


def polar(dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radius (same unit) and angle (rad, in (-pi, pi]) of the vectors (dx, dy)."""
    return np.hypot(dx, dy), np.arctan2(dy, dx)


def row_features(kin: xr.Dataset) -> dict[str, np.ndarray]:
    """(n, T) features of :data:`INTERPOLATED` from a kinematics Dataset (``load_kinematics``)."""
    features = {name: kin[name].values for name in ("x", "y", "vx", "vy", "speed", "ax", "ay", "acceleration")}
    first = first_movement_step(kin["movement"].values)
    features["rel_x"], features["rel_y"] = relative_position(features["x"], features["y"], first)
    return features


def candidate_steps(input_step: np.ndarray, kin: xr.Dataset, mode: str, margin: float) -> np.ndarray:
    """(n, layer time) bool: the (sample, layer step) pairs that may enter the fits.

    ``study``: centre in ``(margin, n_time - 1 - margin)`` for every sample; ``ours``: the
    centre's nearest input step lies inside the movement.
    """
    n_time = kin.sizes["time"]
    n = kin.sizes["sample"]
    if mode == "study":
        keep = (input_step > margin) & (input_step < n_time - 1 - margin)
        return np.broadcast_to(keep[None, :], (n, len(input_step))).copy()
    if mode == "ours":
        centre = np.rint(np.clip(input_step, 0, n_time - 1)).astype(int)
        return kin["movement"].values[:, centre]
    raise ValueError(f"analysis.mode must be 'study' or 'ours'; got {mode!r}")


def layer_rows(activation: np.ndarray, input_step: np.ndarray, kin: xr.Dataset, settings: dict,
               rng: np.random.Generator, n_classes: int,
               features: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, Rows]:
    """Unit responses and kinematics of one layer's regression rows.

    Parameters
    ----------
    activation : (n, channel, space, time) one layer
    input_step : (time,) input step at the centre of each layer step's receptive field
    kin : kinematics Dataset of :func:`deepdraw.kinematics.load_kinematics` (same samples)
    settings : the config's analysis section (``mode``, ``margin_steps``, ``max_rows``, ``min_speed``)
    features : :func:`row_features` of ``kin`` (computed if not given)

    Returns
    -------
    Y (rows, channel * space) float32 with unit ``c * space + s``; :class:`Rows` with the
    kinematics, ``sample`` (row of the activation store), ``step`` (layer step), ``label``, ``plane``.
    """
    mode = settings["mode"]
    n, n_ch, n_sp, n_t = activation.shape
    if len(input_step) != n_t:
        raise ValueError(f"input_step has {len(input_step)} steps, the layer {n_t}")
    features = features if features is not None else row_features(kin)
    inside = candidate_steps(np.asarray(input_step, float), kin, mode, settings["margin_steps"])
    sample_idx, time_idx = np.nonzero(inside)
    if len(sample_idx) > settings["max_rows"]:
        keep = np.sort(rng.choice(len(sample_idx), size=settings["max_rows"], replace=False))
        sample_idx, time_idx = sample_idx[keep], time_idx[keep]
    values = {name: sample_at(features[name], input_step)[sample_idx, time_idx] for name in INTERPOLATED}
    rows = Rows(n_classes=n_classes, min_speed=settings["min_speed"] if mode == "ours" else 0.0)
    rows.update({name: values[name] for name in ("x", "y", "vx", "vy", "speed", "ax", "ay", "acceleration")})
    # angles from interpolated components: never interpolated across the +-pi cut
    rows["direction"] = np.arctan2(values["vy"], values["vx"])
    rows["r"], rows["phi"] = polar(values["x"], values["y"])
    rows["rel_r"], rows["rel_phi"] = polar(values["rel_x"], values["rel_y"])
    rows["sample"] = sample_idx
    rows["step"] = time_idx
    rows["label"] = kin["label"].values[sample_idx]
    rows["plane"] = kin["plane"].values[sample_idx]
    Y = activation[sample_idx, :, :, time_idx].reshape(len(sample_idx), n_ch * n_sp)
    return Y, rows


def split_rows(rows: Rows, settings: dict, rng: np.random.Generator,
               train_samples: np.ndarray | None = None) -> np.ndarray:
    """(rows,) bool, True for the fitting part.

    ``study``: a random ``train_fraction`` of the rows (the study's 80/20 split of the
    regression rows); ``ours``: the rows of ``train_samples`` (by sample, so that the
    autocorrelated steps of one sample never fall on both sides).
    """
    if settings["mode"] == "study":
        n = len(rows["sample"])
        train = np.zeros(n, bool)
        train[rng.permutation(n)[: int(round(settings["train_fraction"] * n))]] = True
        return train
    if train_samples is None:
        raise ValueError("mode ours splits by sample: give train_samples")
    return np.isin(rows["sample"], train_samples)
