"""Kinematic tuning of hidden units: batched least squares, statsmodels inference, summaries.

For every unit (channel x spatial position of a layer) and every encoding model of the study
(Sandbrink et al. 2023), the unit's activation at the time steps where the layer's receptive field is
centred (``input_step`` of the activations store) is regressed on the hand kinematics there:

=====================  ===============================================
encoding model         regressors (plus an intercept)
=====================  ===============================================
``direction``          cos(theta), sin(theta)   (theta: movement direction)
``speed``              |v|
``velocity``           |v| cos(theta), |v| sin(theta)  (= vx, vy)
``position_cartesian`` x, y
``position_polar``     r, cos(phi), sin(phi)
``acceleration``       ax, ay
``label``              one-hot character label (first class dropped)
=====================  ===============================================

Samples are split 80/20 (``train_fraction``) into a fitting and a scoring part, by sample so
that the strongly autocorrelated time steps of one sample never fall on both sides. A unit is
tuned when its test R^2 exceeds ``r2_threshold`` (0.2 in the study). Constant units (dead
ReLUs) have no R^2; scores below ``exclude_below`` are excluded as in the study.
The ``label`` rows also carry the study's own label score (``label_score``, see
:func:`label_scores`): one-vs-rest classification of the character from the unit, 2 (AUC - 0.5).

All units of a layer are fitted at once: the design matrix is factorised once (pivoted QR)
and every unit is a column of the right-hand side, which is exact least squares. statsmodels
OLS (cluster-robust by sample) gives the per-unit inference (coefficients, confidence
intervals, p-values, preferred direction with a delta-method interval) on the tuned units.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.stats

from deepdraw import cliutil
from deepdraw.activations import read_layers
from deepdraw.contract import PLANES
from deepdraw.io import atomic_path, open_zarr, rng_for
from deepdraw.kinematics import load_kinematics, sample_at
from deepdraw.stats import bonferroni, compare_groups

log = logging.getLogger(__name__)

ENCODING_MODELS = ("direction", "speed", "velocity", "position_cartesian", "position_polar",
                   "acceleration", "label")
#: Encoding models whose first two regressors define a preferred direction, angle of (a, b).
DIRECTIONAL = ("direction", "velocity", "acceleration")
REGRESSORS = {
    "direction": ("cos_theta", "sin_theta"),
    "speed": ("speed",),
    "velocity": ("vx", "vy"),
    "position_cartesian": ("x", "y"),
    "position_polar": ("r", "cos_phi", "sin_phi"),
    "acceleration": ("ax", "ay"),
}
#: Features needed at every row (time steps are read at each layer's receptive-field centres).
ROW_FEATURES = ("x", "y", "r", "phi", "vx", "vy", "speed", "direction", "ax", "ay")


# ---------------------------------------------------------------- design matrices

def design_matrix(model: str, rows: dict[str, np.ndarray], n_classes: int) -> np.ndarray:
    """Regressors of one encoding model with a leading intercept column, (n_rows, p)."""
    if model == "direction":
        cols = [np.cos(rows["direction"]), np.sin(rows["direction"])]
    elif model == "speed":
        cols = [rows["speed"]]
    elif model == "velocity":
        cols = [rows["vx"], rows["vy"]]
    elif model == "position_cartesian":
        cols = [rows["x"], rows["y"]]
    elif model == "position_polar":
        cols = [rows["r"], np.cos(rows["phi"]), np.sin(rows["phi"])]
    elif model == "acceleration":
        cols = [rows["ax"], rows["ay"]]
    elif model == "label":
        onehot = np.asarray(rows["label"])[:, None] == np.arange(1, n_classes)[None, :]
        cols = list(onehot.T.astype(float))
    else:
        raise ValueError(f"unknown encoding model {model!r}; choose from {ENCODING_MODELS}")
    return np.column_stack([np.ones(len(rows["speed"]))] + cols)


def regressor_names(model: str, n_classes: int) -> list[str]:
    """Column names of :func:`design_matrix` (``const`` first)."""
    if model == "label":
        return ["const"] + [f"label_{k}" for k in range(1, n_classes)]
    return ["const", *REGRESSORS[model]]


# ---------------------------------------------------------------- batched least squares

class BatchedOLS:
    """Exact least squares of many responses on one design: a single pivoted QR.

    Parameters
    ----------
    X : (n, p) design matrix (with intercept). Columns that are linearly dependent on
        earlier ones (e.g. a label absent from the fitting part) get coefficient 0.

    Attributes
    ----------
    coef_ : (p, units) coefficients after :meth:`fit`
    """

    def __init__(self, X: np.ndarray, rtol: float = 1e-10):
        X = np.asarray(X, dtype=float)
        q, r, perm = scipy.linalg.qr(X, mode="economic", pivoting=True)
        diag = np.abs(np.diag(r))
        rank = int(np.sum(diag > rtol * diag[0])) if len(diag) else 0
        self.X, self.q, self.r, self.perm, self.rank = X, q[:, :rank], r[:rank, :rank], perm[:rank], rank

    def fit(self, Y: np.ndarray, chunk: int = 2048) -> "BatchedOLS":
        """Coefficients for every column of ``Y`` (n, units); the factorisation is reused."""
        Y = np.asarray(Y)
        coef = np.zeros((self.X.shape[1], Y.shape[1]))
        for begin in range(0, Y.shape[1], chunk):
            block = np.asarray(Y[:, begin:begin + chunk], dtype=float)
            # R b = Q' y: the triangular solve is all that remains per unit
            coef[self.perm, begin:begin + chunk] = scipy.linalg.solve_triangular(self.r, _xty(self.q, block))
        self.coef_ = coef
        return self


def r2_score_columns(Y: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """R^2 of each column, ``1 - SS_res / SS_tot`` around the column's own mean (NaN if constant)."""
    Y = np.asarray(Y, dtype=float)
    ss_res = np.sum((Y - prediction) ** 2, axis=0)
    ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


def _xty(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``X' Y`` for a thin ``X`` (n, p) and a wide ``Y`` (n, units).

    OpenBLAS is slow on this skinny shape with few columns (measured 2-8x slower than
    einsum's loop for p <= 3); from a handful of columns on, ``(Y' X)'`` is faster.
    """
    if X.shape[1] <= 3:
        return np.einsum("ij,ik->jk", X, Y)
    return (Y.T @ X).T


class Responses:
    """Unit responses of one part of the rows, prepared once for many fits.

    Holds ``Y - centre`` in float64 (centring keeps the sums of squares below free of
    cancellation) with its column sums and sums of squares, so that every encoding model
    needs just one matrix product per part (see :func:`fit_units`).

    Parameters
    ----------
    Y : (n, units) responses
    centre : (units,) subtracted from every row (e.g. the fitting part's mean); R^2 of a
        model with an intercept does not depend on it
    """

    def __init__(self, Y: np.ndarray, centre: np.ndarray | None = None):
        Y = np.asarray(Y)
        if centre is None:
            centre = Y.mean(axis=0, dtype=float) if len(Y) else np.zeros(Y.shape[1])
        self.centre = np.asarray(centre, dtype=float)
        self.Y = np.asarray(Y, dtype=float) - self.centre
        self.n = len(Y)
        self.sum = self.Y.sum(axis=0)
        self.sumsq = np.einsum("ij,ij->j", self.Y, self.Y)
        self.ss_tot = self.sumsq - self.sum ** 2 / max(self.n, 1)
        # a constant float32 column minus its float64 mean is exactly 0 (the sum is exact)
        self.constant = ~(self.ss_tot > 0)


def score_units(coef: np.ndarray, X: np.ndarray, part: Responses) -> np.ndarray:
    """Out-of-sample R^2 of every unit: ``1 - SS_res / SS_tot`` on ``part`` (around its own mean).

    ``SS_res = y'y - 2 b'c + b'G b`` with ``c = X' y``, ``G = X' X`` (responses and intercept
    shifted by ``part.centre``): one matrix product for all units.
    """
    if part.n == 0:
        return np.full(coef.shape[1], np.nan)
    b = coef.copy()
    b[0] -= part.centre
    cross = _xty(X, part.Y)
    ss_res = part.sumsq - 2 * np.einsum("ij,ij->j", b, cross) + np.einsum("ij,ij->j", b, (X.T @ X) @ b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(part.ss_tot > 0, 1.0 - ss_res / part.ss_tot, np.nan)


def fit_units(X_train: np.ndarray, Y_train, X_test: np.ndarray, Y_test) -> dict[str, np.ndarray]:
    """Fit all units (columns of ``Y_train``) at once and score them on the test part.

    The design is factorised once (pivoted QR, ``X = Q R``); per unit only sums remain:
    ``SS_res(train) = y'y - |Q'y|^2`` (the intercept is in the column space) and, with
    ``c = X_test' y`` and ``G = X_test' X_test``, ``SS_res(test) = y'y - 2 b'c + b'G b``.
    Both are exact least-squares quantities, not approximations.

    Parameters
    ----------
    X_train, X_test : (n, p) designs with an intercept column
    Y_train, Y_test : (n, units) arrays or :class:`Responses` (reused across models)

    Returns
    -------
    dict with ``coef`` (p, units), ``r2_train`` (in-sample, as statsmodels' ``rsquared``),
    ``r2_test`` (units,) and ``constant`` (units,) bool: no variation in the fitting part.
    """
    train = Y_train if isinstance(Y_train, Responses) else Responses(Y_train)
    test = Y_test if isinstance(Y_test, Responses) else Responses(Y_test, train.centre)
    if not np.array_equal(test.centre, train.centre):
        raise ValueError("Y_train and Y_test must be centred by the same vector")
    ols = BatchedOLS(X_train)
    qty = _xty(ols.q, train.Y)
    coef = np.zeros((X_train.shape[1], train.Y.shape[1]))
    coef[ols.perm] = scipy.linalg.solve_triangular(ols.r, qty)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2_train = 1.0 - (train.sumsq - np.einsum("ij,ij->j", qty, qty)) / train.ss_tot
    # the centring only moved the intercept; report coefficients of the raw responses
    coef[0] += train.centre
    r2_test = score_units(coef, X_test, test)
    constant = train.constant
    r2_train[constant] = np.nan
    r2_test[constant] = np.nan
    return {"coef": coef, "r2_train": r2_train, "r2_test": r2_test, "constant": constant}


def preferred_direction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Preferred direction, degrees in [0, 360): the angle of the vector (a, b)."""
    return np.mod(np.degrees(np.arctan2(b, a)), 360.0)


# ---------------------------------------------------------------- statsmodels inference

def unit_statistics(X: np.ndarray, y: np.ndarray, groups: np.ndarray, names: list[str],
                    directional: bool, ci_level: float = 0.95) -> dict[str, float]:
    """statsmodels OLS of one unit with sample-clustered standard errors.

    Time steps of one sample are not independent, so the covariance is cluster-robust by
    sample. For directional models the preferred direction ``atan2(b, a)`` gets a
    delta-method interval: ``var = g' C g`` with ``g = (-b, a) / (a^2 + b^2)``.

    Returns
    -------
    dict: ``sm_r2_train``, ``p_value`` (joint Wald test that all non-intercept
    coefficients are 0), ``coef_<name>``, ``coef_<name>_low``/``_high``, ``pvalue_<name>``,
    and for directional models ``pd_deg``, ``pd_ci_low_deg``, ``pd_ci_high_deg``.
    """
    import statsmodels.api as sm

    fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups})
    alpha = 1.0 - ci_level
    ci = np.asarray(fit.conf_int(alpha=alpha))
    out = {"sm_r2_train": float(fit.rsquared)}
    restriction = np.eye(len(names))[1:]
    out["p_value"] = float(np.squeeze(fit.wald_test(restriction, scalar=True).pvalue))
    for k, name in enumerate(names):
        out[f"coef_{name}"] = float(fit.params[k])
        out[f"coef_{name}_low"], out[f"coef_{name}_high"] = float(ci[k, 0]), float(ci[k, 1])
        out[f"pvalue_{name}"] = float(fit.pvalues[k])
    if directional:
        a, b = fit.params[1], fit.params[2]
        cov = np.asarray(fit.cov_params())[1:3, 1:3]
        grad = np.array([-b, a]) / (a * a + b * b)
        se = float(np.sqrt(grad @ cov @ grad))
        z = scipy.stats.norm.ppf(1 - alpha / 2)
        pd_deg = float(preferred_direction(a, b))
        out.update(pd_deg=pd_deg, pd_se_deg=float(np.degrees(se)),
                   pd_ci_low_deg=pd_deg - float(np.degrees(z * se)),
                   pd_ci_high_deg=pd_deg + float(np.degrees(z * se)))
    return out


# ---------------------------------------------------------------- one layer

def layer_rows(activation: np.ndarray, input_step: np.ndarray, kin, max_rows: int,
               rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Unit responses and kinematics at the layer's time steps inside the movement.

    Parameters
    ----------
    activation : (n, channel, space, time) one layer
    input_step : (time,) input step at the centre of each layer step's receptive field
    kin : kinematics Dataset of :func:`deepdraw.kinematics.load_kinematics` (same samples)
    max_rows : keep at most this many (sample, time) rows, drawn at random

    Returns
    -------
    Y (rows, channel * space) float32 with unit ``c * space + s``; rows: dict of (rows,)
    kinematic arrays plus ``sample`` (row of the activation store), ``label``, ``plane``.
    """
    n, n_ch, n_sp, n_t = activation.shape
    centre = np.rint(np.clip(input_step, 0, kin.sizes["time"] - 1)).astype(int)
    inside = kin["movement"].values[:, centre]
    sample_idx, time_idx = np.nonzero(inside)
    if len(sample_idx) > max_rows:
        keep = np.sort(rng.choice(len(sample_idx), size=max_rows, replace=False))
        sample_idx, time_idx = sample_idx[keep], time_idx[keep]
    rows = {name: sample_at(kin[name].values, input_step)[sample_idx, time_idx] for name in ROW_FEATURES}
    # angles are interpolated through their vector components, never across the +-pi cut
    rows["direction"] = np.arctan2(rows["vy"], rows["vx"])
    rows["phi"] = np.arctan2(rows["y"], rows["x"])
    rows["sample"] = sample_idx
    rows["label"] = kin["label"].values[sample_idx]
    rows["plane"] = kin["plane"].values[sample_idx]
    Y = activation[sample_idx, :, :, time_idx].reshape(len(sample_idx), n_ch * n_sp)
    return Y, rows


def tune_layer(Y: np.ndarray, rows: dict[str, np.ndarray], train_samples: np.ndarray,
               settings: dict, n_classes: int) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Fit every encoding model to every unit of one layer.

    Parameters
    ----------
    Y : (rows, units) unit responses; rows : kinematics per row (:func:`layer_rows`)
    train_samples : sample indices (``rows["sample"]`` values) of the fitting part
    settings : the config's analysis section (``r2_threshold``, ``exclude_below``, ...)

    Returns
    -------
    (table with one row per unit and encoding model, {model: design info for statsmodels})
    """
    n_units = Y.shape[1]
    train = np.isin(rows["sample"], train_samples)
    moving = rows["speed"] > settings.get("min_speed", 0.0)
    centre = Y[train].mean(axis=0, dtype=float) if train.any() else np.zeros(n_units)
    # the fitting and scoring parts shared by most encoding models are prepared once
    shared = {"train": Responses(Y[train], centre), "test": Responses(Y[~train], centre)}
    frames, designs = [], {}
    for model in settings.get("encoding_models", ENCODING_MODELS):
        X = design_matrix(model, rows, n_classes)
        if model == "direction" and not moving.all():
            # direction is undefined while the hand is still
            tr, te = train & moving, ~train & moving
            parts = Responses(Y[tr], centre), Responses(Y[te], centre)
        else:
            tr, te = train, ~train
            parts = shared["train"], shared["test"]
        result = fit_units(X[tr], parts[0], X[te], parts[1])
        frame = pd.DataFrame({
            "unit": np.arange(n_units), "encoding_model": model,
            "r2_train": result["r2_train"], "r2_test": result["r2_test"],
            "constant": result["constant"], "n_train": int(tr.sum()), "n_test": int(te.sum()),
        })
        if model in DIRECTIONAL:
            frame["pd_deg"] = preferred_direction(result["coef"][1], result["coef"][2])
            frame.loc[frame["constant"], "pd_deg"] = np.nan
        if model == "direction":
            frame = frame.join(_plane_fits(X, Y, rows, tr, te, centre))
        if model == "label":
            frame["label_score"] = label_scores(Y[tr], rows["label"][tr], Y[te],
                                                rows["label"][te], n_classes)
        frames.append(frame)
        designs[model] = {"X": X, "train": tr}
    table = pd.concat(frames, ignore_index=True)
    table["excluded"] = table["r2_test"] < settings["exclude_below"]
    table["tuned"] = (table["r2_test"] > settings["r2_threshold"]) & ~table["constant"]
    return table, designs


def label_scores(Y_train: np.ndarray, label_train: np.ndarray, Y_test: np.ndarray,
                 label_test: np.ndarray, n_classes: int) -> np.ndarray:
    """The study's label tuning score of every unit: mean over one-vs-rest classifiers of 2 (AUC - 0.5).

    The study trained a linear SVM per character on the unit's activation and scored it by its
    test AUC. On one input the decision function ``w x + b`` is monotone in ``x``, so its AUC
    is the AUC of ``x`` itself, or ``1 - AUC`` when ``w < 0``: the classifier reduces to the
    orientation fitted on the training part (the sign of the difference of class means), which
    this computes exactly for all units and classes at once from ranks (Mann-Whitney U).

    Parameters
    ----------
    Y_train, Y_test : (rows, units) activations; label_train, label_test : (rows,) int

    Returns
    -------
    (units,) score in [-1, 1]; 0 at chance; NaN for a unit that is constant on the test part.
    Classes absent from either part are left out of the mean.
    """
    onehot_train = label_train[:, None] == np.arange(n_classes)[None, :]
    onehot_test = label_test[:, None] == np.arange(n_classes)[None, :]
    n_pos_train, n_pos = onehot_train.sum(axis=0), onehot_test.sum(axis=0)
    n_neg = len(label_test) - n_pos
    usable = (n_pos_train > 0) & (n_pos_train < len(label_train)) & (n_pos > 0) & (n_neg > 0)
    mean_pos = onehot_train.T @ Y_train / np.maximum(n_pos_train, 1)[:, None]
    mean_neg = (~onehot_train).T @ Y_train / np.maximum(len(label_train) - n_pos_train, 1)[:, None]
    orientation = np.where(mean_pos >= mean_neg, 1.0, -1.0)  # (classes, units)
    ranks = scipy.stats.rankdata(Y_test, axis=0)  # average ranks for ties
    u = onehot_test.T.astype(float) @ ranks - (n_pos * (n_pos + 1) / 2)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = u / (n_pos * n_neg)[:, None]
    auc = np.where(orientation > 0, auc, 1.0 - auc)
    score = 2.0 * (auc[usable] - 0.5)
    constant = np.ptp(Y_test, axis=0) == 0 if len(Y_test) else np.ones(Y_test.shape[1], bool)
    return np.where(constant, np.nan, score.mean(axis=0) if usable.any() else np.nan)


def _plane_fits(X, Y, rows, train, test, centre) -> pd.DataFrame:
    """Direction tuning fitted separately per plane, and each fit scored in the other plane."""
    out, fits, tests = {}, {}, {}
    for code, name in enumerate(PLANES):
        tr, te = train & (rows["plane"] == code), test & (rows["plane"] == code)
        tests[name] = (X[te], Responses(Y[te], centre))
        if tr.sum() <= X.shape[1] or te.sum() == 0:
            out[f"r2_{name}"] = out[f"pd_{name}_deg"] = np.full(Y.shape[1], np.nan)
            fits[name] = None
            continue
        result = fit_units(X[tr], Responses(Y[tr], centre), *tests[name])
        out[f"r2_{name}"] = result["r2_test"]
        pd_deg = preferred_direction(result["coef"][1], result["coef"][2])
        out[f"pd_{name}_deg"] = np.where(result["constant"], np.nan, pd_deg)
        fits[name] = result
    for source, target in (("horizontal", "vertical"), ("vertical", "horizontal")):
        if fits[source] is None:
            out[f"r2_{source}_to_{target}"] = np.full(Y.shape[1], np.nan)
        else:
            r2 = score_units(fits[source]["coef"], *tests[target])
            out[f"r2_{source}_to_{target}"] = np.where(fits[source]["constant"], np.nan, r2)
    return pd.DataFrame(out)


def add_unit_statistics(table: pd.DataFrame, Y: np.ndarray, rows: dict, designs: dict,
                        settings: dict, n_classes: int) -> pd.DataFrame:
    """statsmodels inference for the best tuned units of the directional encoding models.

    At most ``statsmodels_units`` units per encoding model (highest test R^2 first), since
    the batched fit already gives R^2 and preferred direction for all of them.
    """
    limit = int(settings.get("statsmodels_units", 50))
    records = []
    for model in ("direction", "velocity"):
        if model not in designs:
            continue
        mask = (table["encoding_model"] == model) & table["tuned"]
        chosen = table[mask].nlargest(limit, "r2_test")
        X, tr = designs[model]["X"][designs[model]["train"]], designs[model]["train"]
        names = regressor_names(model, n_classes)
        for index, unit in zip(chosen.index, chosen["unit"]):
            stats = unit_statistics(X, Y[tr, unit], rows["sample"][tr], names, True,
                                    settings.get("ci_level", 0.95))
            stats.pop("pd_deg")  # identical to the batched estimate (tested); keep one column
            records.append(pd.Series({**stats, "statsmodels": True}, name=index))
    if not records:
        table["statsmodels"] = False
        return table
    stats = pd.DataFrame(records)
    table = table.join(stats)
    table["statsmodels"] = table["statsmodels"].astype("boolean").fillna(False).astype(bool)
    return table


def tune_model(activations_path: str, dataset_path: str, settings: dict, seed: int,
               identity: dict) -> pd.DataFrame:
    """Per-unit tuning table of one model (all layers, all encoding models).

    ``identity`` (task, architecture, instance, trained, seed) is added to every row.
    """
    layers, groups, root = read_layers(activations_path)
    dataset = open_zarr(dataset_path)
    samples = root["sample_index"].values
    kin = load_kinematics(dataset, samples)
    n_classes = int(dataset["label"].values.max()) + 1
    rng = rng_for(seed, "tuning")
    # one split of the samples for every layer and model (same seed): comparable scores
    order = rng.permutation(len(samples))
    train_samples = np.sort(order[: int(round(settings["train_fraction"] * len(samples)))])
    frames = []
    for index, name in enumerate(layers):
        group = groups[name]
        activation = group["activation"].values
        Y, rows = layer_rows(activation, group["input_step"].values, kin, settings["max_rows"],
                             rng_for(seed, "tuning-rows", name))
        if len(Y) == 0:
            raise ValueError(f"layer {name}: no time steps inside the movement; check onset/duration")
        table, designs = tune_layer(Y, rows, train_samples, settings, n_classes)
        table = add_unit_statistics(table, Y, rows, designs, settings, n_classes)
        n_space = activation.shape[2]
        table.insert(0, "layer", name)
        table.insert(1, "layer_index", index)
        table.insert(3, "channel", table["unit"] // n_space)
        table.insert(4, "space", table["unit"] % n_space)
        frames.append(table)
        log.info("%s: %d units, tuned fractions %s", name, Y.shape[1],
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


# ---------------------------------------------------------------- circular statistics

def rayleigh_test(angles_deg: np.ndarray) -> tuple[float, float]:
    """Rayleigh test of uniformity of directions: (Z = n R^2, p-value).

    p from Zar (Biostatistical Analysis, eq. 27.4):
    ``exp(sqrt(1 + 4n + 4(n^2 - R_n^2)) - (1 + 2n))`` with ``R_n = n R``.
    """
    theta = np.radians(np.asarray(angles_deg, dtype=float))
    theta = theta[np.isfinite(theta)]
    n = len(theta)
    if n == 0:
        return np.nan, np.nan
    rn = np.hypot(np.cos(theta).sum(), np.sin(theta).sum())
    z = rn * rn / n
    p = np.exp(np.sqrt(1 + 4 * n + 4 * (n * n - rn * rn)) - (1 + 2 * n))
    return float(z), float(min(max(p, 0.0), 1.0))


def deviation_from_uniform(angles_deg: np.ndarray, bins: int = 18) -> float:
    """The study's measure: sum |bin count - mean count| / number of directions (0 = uniform)."""
    angles = np.asarray(angles_deg, dtype=float)
    angles = angles[np.isfinite(angles)]
    if len(angles) == 0:
        return np.nan
    counts, _ = np.histogram(np.mod(angles, 360), bins=bins, range=(0, 360))
    return float(np.abs(counts - counts.mean()).sum() / len(angles))


def circular_correlation(a_deg: np.ndarray, b_deg: np.ndarray) -> float:
    """Circular correlation coefficient (Jammalamadaka & SenGupta 2001) of paired angles."""
    a, b = np.radians(a_deg), np.radians(b_deg)
    if len(a) < 3:
        return np.nan
    abar = np.angle(np.mean(np.exp(1j * a)))
    bbar = np.angle(np.mean(np.exp(1j * b)))
    sa, sb = np.sin(a - abar), np.sin(b - bbar)
    denom = np.sqrt(np.sum(sa ** 2) * np.sum(sb ** 2))
    return float(np.sum(sa * sb) / denom) if denom > 0 else np.nan


def angular_difference(a_deg, b_deg) -> np.ndarray:
    """Absolute angular difference in degrees, in [0, 180]."""
    return np.abs((np.asarray(a_deg) - np.asarray(b_deg) + 180.0) % 360.0 - 180.0)


# ---------------------------------------------------------------- summaries over models

def summarize(table: pd.DataFrame, settings: dict) -> dict[str, pd.DataFrame]:
    """Per-layer summaries of the unit tables of all models.

    Returns
    -------
    dict of tables:
    ``fractions``: tuned fraction per model instance, layer and encoding model (over the
    non-constant units); ``comparison``: trained vs untrained per layer and encoding model
    (mean, SD over instances; paired t-test when seeds pair up, else Welch; Bonferroni over
    layers); ``directions``: preferred directions (direction model) of tuned units per
    instance and layer: 18-bin counts, deviation from uniform, Rayleigh test;
    ``invariance``: per instance and layer, horizontal vs vertical preferred directions of
    units tuned in both planes (circular correlation, median difference) and cross-plane R^2.
    """
    ident = ["task", "architecture", "instance", "trained", "seed"]
    live = table[~table["constant"]]
    scores = {"n_units": ("unit", "size"), "n_tuned": ("tuned", "sum"),
              "median_r2": ("r2_test", "median")}
    if "label_score" in live:
        scores["median_label_score"] = ("label_score", "median")  # label rows only
    fractions = (live.groupby(ident + ["layer", "layer_index", "encoding_model"], as_index=False)
                 .agg(**scores))
    fractions["fraction_tuned"] = fractions["n_tuned"] / fractions["n_units"]
    comparison = _compare(fractions, "fraction_tuned", ["encoding_model"])

    bins = int(settings.get("direction_bins", 18))
    threshold = settings["r2_threshold"]
    records = []
    for key, group in table[table["encoding_model"] == "direction"].groupby(ident + ["layer", "layer_index"]):
        angles = group.loc[group["tuned"], "pd_deg"].to_numpy()
        z, p = rayleigh_test(angles)
        counts, _ = np.histogram(angles, bins=bins, range=(0, 360))
        both = group[(group["r2_horizontal"] > threshold) & (group["r2_vertical"] > threshold)]
        records.append({
            **dict(zip(ident + ["layer", "layer_index"], key)),
            "n_tuned": len(angles), "deviation_from_uniform": deviation_from_uniform(angles, bins),
            "uniformity_test": "Rayleigh", "rayleigh_z": z, "rayleigh_p": p,
            "bin_counts": json.dumps(counts.tolist()),
            "n_tuned_both_planes": len(both),
            "plane_circular_correlation": circular_correlation(both["pd_horizontal_deg"].to_numpy(),
                                                               both["pd_vertical_deg"].to_numpy()),
            "plane_median_difference_deg": float(np.median(angular_difference(
                both["pd_horizontal_deg"], both["pd_vertical_deg"]))) if len(both) else np.nan,
            "r2_horizontal_to_vertical": float(group["r2_horizontal_to_vertical"].median()),
            "r2_vertical_to_horizontal": float(group["r2_vertical_to_horizontal"].median()),
        })
    directions = pd.DataFrame(records)
    invariance_cols = ident + ["layer", "layer_index", "n_tuned_both_planes", "plane_circular_correlation",
                               "plane_median_difference_deg", "r2_horizontal_to_vertical",
                               "r2_vertical_to_horizontal"]
    invariance = directions[invariance_cols] if len(directions) else pd.DataFrame(columns=invariance_cols)
    dir_comparison = _compare(directions, "deviation_from_uniform", []) if len(directions) else pd.DataFrame()
    return {"fractions": fractions, "comparison": comparison, "directions": directions,
            "direction_comparison": dir_comparison,
            "invariance": invariance, "tasks": _compare_tasks(fractions)}


def _quiet(test, *args, **kwargs):
    """Run a scipy test without its precision warning for near-identical values (2-5 instances)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        return test(*args, **kwargs)


def _compare(frame: pd.DataFrame, value: str, extra: list[str]) -> pd.DataFrame:
    """Trained vs untrained ``value`` per task, architecture, layer (+ ``extra``)."""
    records = []
    keys = ["task", "architecture"] + extra
    for key, group in frame.groupby(keys):
        n_layers = group["layer"].nunique()
        for (layer, layer_index), sub in group.groupby(["layer", "layer_index"]):
            trained = sub[sub["trained"]].set_index("seed")[value]
            control = sub[~sub["trained"]].set_index("seed")[value]
            record = {**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                      "layer": layer, "layer_index": layer_index,
                      "trained_mean": trained.mean(), "trained_sd": trained.std(),
                      "untrained_mean": control.mean(), "untrained_sd": control.std(),
                      "n_trained": len(trained), "n_untrained": len(control),
                      **compare_groups(trained, control)}
            record["p_bonferroni"] = bonferroni(record["p_value"], n_layers)
            records.append(record)
    return pd.DataFrame(records)


def _compare_tasks(fractions: pd.DataFrame) -> pd.DataFrame:
    """Tuned fractions of trained models per task (recognition vs decoding), mean over seeds."""
    trained = fractions[fractions["trained"]]
    return (trained.groupby(["architecture", "layer", "layer_index", "encoding_model", "task"], as_index=False)
            ["fraction_tuned"].agg(["mean", "std", "count"]))


def parse_instance(instance: str) -> tuple[bool, int]:
    """``seed3`` -> (True, 3); ``untrained2`` -> (False, 2)."""
    for prefix, trained in (("untrained", False), ("seed", True)):
        if instance.startswith(prefix) and instance[len(prefix):].isdigit():
            return trained, int(instance[len(prefix):])
    raise ValueError(f"instance must be seedN or untrainedN; got {instance!r}")


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.tuning", __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="tuning table of one model")
    fit.add_argument("--activations", required=True)
    fit.add_argument("--dataset", required=True)
    fit.add_argument("--analysis", required=True, help="the config's analysis section, JSON")
    fit.add_argument("--seed", type=int, required=True)
    fit.add_argument("--task", required=True)
    fit.add_argument("--architecture", required=True)
    fit.add_argument("--instance", required=True, help="seedN or untrainedN")
    fit.add_argument("--output", required=True, help="units table (.parquet)")
    summary = sub.add_parser("summarize", help="per-layer summaries of all unit tables")
    summary.add_argument("--tables", nargs="+", required=True)
    summary.add_argument("--analysis", required=True)
    summary.add_argument("--output-dir", required=True)
    args = cliutil.parse_args(parser, argv)
    settings = json.loads(args.analysis)
    if args.command == "fit":
        trained, instance_seed = parse_instance(args.instance)
        identity = {"task": args.task, "architecture": args.architecture, "instance": args.instance,
                    "trained": trained, "seed": instance_seed}
        table = tune_model(args.activations, args.dataset, settings, args.seed, identity)
        write_table(table, args.output)
    else:
        table = pd.concat([pd.read_parquet(path) for path in args.tables], ignore_index=True)
        out = Path(args.output_dir)
        for name, frame in summarize(table, settings).items():
            write_table(frame, out / f"{name}.csv")


if __name__ == "__main__":
    main()
