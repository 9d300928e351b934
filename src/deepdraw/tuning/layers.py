"""Tuning of every unit of every layer of one model: the per-unit table.

For each layer (the spindle input as layer 0, then every hidden block) the rows are chosen
(:mod:`deepdraw.tuning.rows`), split into a fitting and a scoring part, and every encoding
model of the registry (:mod:`deepdraw.tuning.models`) is fitted to all units at once
(:mod:`deepdraw.tuning.fitting`) in each row group: the headline group (mode ``study``: the
``headline_plane``; mode ``ours``: both planes pooled) and each plane on its own, each plane's
fit also scored on the other plane (invariance). Label tuning is scored by one-vs-rest
classification (:mod:`deepdraw.tuning.labels`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from deepdraw import contract
from deepdraw.activations import layer_indices, read_layers
from deepdraw.contract import PLANES
from deepdraw.io import atomic_path, open_zarr, rng_for
from deepdraw.kinematics import load_kinematics
from deepdraw.tuning.fitting import Responses, fit_units, preferred_direction, score_units
from deepdraw.tuning.labels import label_scores, svm_label_scores
from deepdraw.tuning.models import Rows, TuningModel, get, models_for
from deepdraw.tuning.rows import layer_rows, row_features, split_rows
from deepdraw.tuning.statistics import unit_statistics

log = logging.getLogger(__name__)


def headline_group(settings: dict) -> str:
    """Rows of the headline fit: a plane name (mode ``study``) or ``both`` (mode ``ours``)."""
    if settings["mode"] == "study":
        return settings["headline_plane"]
    return "both"


def _group_mask(rows: Rows, group: str) -> np.ndarray:
    if group == "both":
        return np.ones(len(rows["sample"]), bool)
    return rows["plane"] == PLANES.index(group)


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def tune_layer(Y: np.ndarray, rows: Rows, train: np.ndarray, settings: dict,
               rng: np.random.Generator | None = None) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Fit every encoding model to every unit of one layer.

    Parameters
    ----------
    Y : (rows, units) unit responses; rows : :class:`Rows` of :func:`layer_rows`
    train : (rows,) bool, the fitting part (:func:`split_rows`)
    settings : the config's analysis section (``mode``, ``r2_threshold``, ``exclude_below``, ...)
    rng : draws the label classifier's rows when there are more than ``label_max_rows``

    Returns
    -------
    (table with one row per unit and encoding model, {model: design and fitting rows for statsmodels}).
    ``score`` is the tuning criterion (test R^2, or the label score of mode study) and ``tuned``
    is ``score > r2_threshold`` for a non-constant unit.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    n_units = Y.shape[1]
    headline = headline_group(settings)
    groups = [headline] + [plane for plane in PLANES if plane != headline]
    centre = Y[train].mean(axis=0, dtype=float) if train.any() else np.zeros(n_units)
    models = models_for(settings)
    frames, designs, cache = [], {}, {}
    # models sharing a row filter share their prepared responses; one filter at a time in memory
    for model in sorted(models, key=lambda m: id(m.row_filter)):
        if cache.get("filter") is not model.row_filter:
            defined = np.asarray(model.row_filter(rows), bool)
            cache = {"filter": model.row_filter, "defined": defined}
            for group in groups:
                in_group = _group_mask(rows, group) & defined
                tr, te = train & in_group, ~train & in_group
                cache[group] = (tr, te, Responses(Y[tr], centre), Responses(Y[te], centre))
        X = model.design(rows)
        fits = {}
        for group in groups:
            tr, te, part_train, part_test = cache[group]
            fits[group] = (fit_units(X[tr], part_train, X[te], part_test)
                           if tr.sum() > X.shape[1] and te.sum() > 0 else None)
        frames.append(_model_frame(model, fits, cache, groups, headline, X, Y, rows, settings, rng, n_units))
        designs[model.name] = {"X": X, "train": cache[headline][0], "directional": model.directional}
    order = {m.name: k for k, m in enumerate(models)}
    table = pd.concat(sorted(frames, key=lambda f: order[f["encoding_model"].iat[0]]), ignore_index=True)
    table["excluded"] = table["score"] < settings["exclude_below"]
    table["tuned"] = (table["score"] > settings["r2_threshold"]) & ~table["constant"]
    return table, designs


def _model_frame(model: TuningModel, fits: dict, cache: dict, groups: list[str], headline: str,
                 X: np.ndarray, Y: np.ndarray, rows: Rows, settings: dict,
                 rng: np.random.Generator, n_units: int) -> pd.DataFrame:
    """One encoding model's rows of the unit table."""
    main = fits[headline]
    tr, te = cache[headline][0], cache[headline][1]
    constant = main["constant"] if main is not None else np.ones(n_units, bool)
    frame = pd.DataFrame({
        "unit": np.arange(n_units), "encoding_model": model.name, "fit_rows": headline,
        "r2_train": main["r2_train"] if main else _nan(n_units),
        "r2_test": main["r2_test"] if main else _nan(n_units),
        "constant": constant, "n_train": int(tr.sum()), "n_test": int(te.sum()),
    })
    if model.directional:
        frame["pd_deg"] = (np.where(constant, np.nan, preferred_direction(main["coef"][1], main["coef"][2]))
                           if main else _nan(n_units))
    for plane in PLANES:
        fit = fits.get(plane)
        frame[f"r2_{plane}"] = fit["r2_test"] if fit else _nan(n_units)
        if model.directional:
            frame[f"pd_{plane}_deg"] = (np.where(fit["constant"], np.nan,
                                                 preferred_direction(fit["coef"][1], fit["coef"][2]))
                                        if fit else _nan(n_units))
    for source, target in (("horizontal", "vertical"), ("vertical", "horizontal")):
        fit, (_, te_target, _, part_target) = fits.get(source), cache[target][:4]
        if fit is None or te_target.sum() == 0:
            frame[f"r2_{source}_to_{target}"] = _nan(n_units)
        else:
            r2 = score_units(fit["coef"], X[te_target], part_target)
            frame[f"r2_{source}_to_{target}"] = np.where(fit["constant"], np.nan, r2)
    frame["score"] = frame["r2_test"]
    if model.classification:
        frame["label_score"] = _label_score(Y, rows, tr, te, settings, rng)
        if settings["mode"] == "study":
            frame["score"] = frame["label_score"]
    return frame


def _label_score(Y, rows, tr, te, settings, rng) -> np.ndarray:
    """Label score of every unit on the headline rows (SVM in mode study, class means in mode ours)."""
    limit = int(settings["label_max_rows"])
    tr_idx, te_idx = np.flatnonzero(tr), np.flatnonzero(te)
    if len(tr_idx) > limit:  # the test part shrinks in proportion
        te_idx = np.sort(rng.choice(te_idx, size=max(1, len(te_idx) * limit // len(tr_idx)), replace=False))
        tr_idx = np.sort(rng.choice(tr_idx, size=limit, replace=False))
    if len(tr_idx) == 0 or len(te_idx) == 0:
        return _nan(Y.shape[1])
    label = rows["label"]
    args = (Y[tr_idx], label[tr_idx], Y[te_idx], label[te_idx], rows.n_classes)
    if settings["mode"] == "study":
        return svm_label_scores(*args, C=settings["label_svm_c"])
    return label_scores(*args)


def add_unit_statistics(table: pd.DataFrame, Y: np.ndarray, rows: Rows, designs: dict,
                        settings: dict) -> pd.DataFrame:
    """statsmodels inference for the best tuned units of the directional velocity models.

    At most ``statsmodels_units`` units per encoding model (highest score first), since the
    batched fit already gives R^2 and preferred direction for all of them.
    """
    limit = int(settings["statsmodels_units"])
    records = []
    for model in ("direction", "velocity"):
        if model not in designs:
            continue
        mask = (table["encoding_model"] == model) & table["tuned"]
        chosen = table[mask].nlargest(limit, "score")
        tr = designs[model]["train"]
        X = designs[model]["X"][tr]
        names = get(model).names(rows)
        for index, unit in zip(chosen.index, chosen["unit"]):
            stats = unit_statistics(X, Y[tr, unit], rows["sample"][tr], names, True,
                                    settings["ci_level"])
            stats.pop("pd_deg")  # identical to the batched estimate (tested); keep one column
            records.append(pd.Series({**stats, "statsmodels": True}, name=index))
    if not records:
        table["statsmodels"] = False
        return table
    table = table.join(pd.DataFrame(records))
    table["statsmodels"] = table["statsmodels"].astype("boolean").fillna(False).astype(bool)
    return table


def tune_model(activations_path: str, dataset_path: str, settings: dict, seed: int,
               identity: dict) -> pd.DataFrame:
    """Per-unit tuning table of one model (the spindle input and all hidden layers, all encoding models).

    ``identity`` (task, architecture, instance, trained, seed) is added to every row.
    ``layer_index`` is the figures' layer axis: 0 for the spindle input, k for the k-th
    hidden layer.
    """
    dataset = open_zarr(dataset_path)
    include_input = settings["input_layer"]
    layers, groups, root = read_layers(activations_path, dataset if include_input else None)
    samples = root["sample_index"].values
    kin = load_kinematics(dataset, samples)
    features = row_features(kin)
    n_classes = int(dataset["label"].values.max()) + 1
    rng = rng_for(seed, "tuning")
    # one split of the samples for every layer and model (same seed): comparable scores
    order = rng.permutation(len(samples))
    train_samples = np.sort(order[: int(round(settings["train_fraction"] * len(samples)))])
    indices = layer_indices(layers)
    frames = []
    for name in layers:
        group = groups[name]
        activation = group["activation"].values
        Y, rows = layer_rows(activation, group["input_step"].values, kin, settings,
                             rng_for(seed, "tuning-rows", name), n_classes, features)
        if len(Y) == 0:
            raise ValueError(f"layer {name}: no rows to fit; check analysis.margin_steps and the movements' "
                             "onset/duration")
        train = split_rows(rows, settings, rng_for(seed, "tuning-split", name), train_samples)
        table, designs = tune_layer(Y, rows, train, settings, rng_for(seed, "tuning-labels", name))
        table = add_unit_statistics(table, Y, rows, designs, settings)
        n_space = activation.shape[2]
        table.insert(0, "layer", name)
        table.insert(1, "layer_index", indices[name])
        table.insert(3, "channel", table["unit"] // n_space)
        table.insert(4, "space", table["unit"] % n_space)
        frames.append(table)
        log.info("%s: %d units, %d rows, tuned fractions %s", name, Y.shape[1], len(Y),
                 table.groupby("encoding_model")["tuned"].mean().round(3).to_dict())
    table = pd.concat(frames, ignore_index=True)
    for key, value in reversed(identity.items()):
        table.insert(0, key, value)
    table["statsmodels"] = table["statsmodels"].fillna(False).astype(bool)
    return table


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write a table atomically as parquet (``.parquet``) or CSV (anything else)."""
    with atomic_path(path) as tmp:
        if str(path).endswith(".parquet"):
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)


def parse_instance(instance: str) -> tuple[bool, int]:
    """``seed3`` -> (True, 3); ``untrained2`` -> (False, 2) (:func:`deepdraw.contract.parse_instance`)."""
    return tuple(contract.parse_instance(instance))
