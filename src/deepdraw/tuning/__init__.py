"""Kinematic tuning of hidden units (Sandbrink et al. 2023): encoding models fitted to every unit.

For every unit (channel x spatial position of a layer; the 25 x 2 spindle channels are layer
0) and every encoding model of the registry (:mod:`deepdraw.tuning.models`), the unit's
activation at the time steps where the layer's receptive field is centred is regressed on the
hand kinematics there, and scored on held-out rows. A unit is tuned when its score exceeds
``r2_threshold`` (0.2 in the study): the test R^2, or for the character label the one-vs-rest
classification score 2 (AUC - 0.5).

``analysis.mode: study`` (default) follows the study's analysis: every layer step away from
the window's first and last ``margin_steps`` input steps, still periods included, fitted one
plane at a time with the ``headline_plane`` as headline, rows split 80/20 at random, label
tuning from linear SVMs, acceleration as |a|, polar position relative to the movement's first
point. ``mode: ours`` keeps the earlier analysis: only in-movement steps, both planes pooled,
split by sample, rows slower than ``min_speed`` left out of the direction model.

Modules: ``models`` (registry), ``rows`` (which rows), ``fitting`` (batched least squares),
``labels`` (label classification scores), ``statistics`` (inference, circular statistics,
group tests), ``layers`` (the per-unit table of one model), ``summary`` (per-layer summaries),
``cli`` (``python -m deepdraw.tuning fit|summarize``).
"""

from deepdraw.tuning.fitting import (BatchedOLS, Responses, fit_units, preferred_direction,
                                     r2_score_columns, score_units)
from deepdraw.tuning.labels import label_scores, svm_label_scores
from deepdraw.tuning.layers import (add_unit_statistics, headline_group, parse_instance, tune_layer,
                                    tune_model, write_table)
from deepdraw.tuning.models import (ENCODING_MODELS, MODE_MODELS, REGISTRY, Rows, TuningModel, get,
                                    register)
from deepdraw.tuning.rows import layer_rows, split_rows
from deepdraw.tuning.statistics import (angular_difference, circular_correlation, deviation_from_uniform,
                                        rayleigh_test, unit_statistics)
from deepdraw.tuning.summary import summarize

#: Models with a preferred direction (angle of their first two regressors).
DIRECTIONAL = tuple(name for name, model in REGISTRY.items() if model.directional)


def design_matrix(model: str, rows, n_classes: int | None = None):
    """Regressors of the registered encoding model ``model`` with a leading intercept, (rows, p).

    ``rows`` is a :class:`Rows` or a plain dict of (rows,) arrays (then ``n_classes`` gives the
    number of character classes for the label model).
    """
    if not isinstance(rows, Rows):
        rows = Rows(rows, n_classes=n_classes or 20)
    elif n_classes is not None:
        rows = Rows(rows, n_classes=n_classes, min_speed=rows.min_speed)
    return get(model).design(rows)


def regressor_names(model: str, n_classes: int) -> list[str]:
    """Column names of :func:`design_matrix` (``const`` first)."""
    return get(model).names(n_classes)


__all__ = [
    "BatchedOLS", "DIRECTIONAL", "ENCODING_MODELS", "MODE_MODELS", "REGISTRY", "Responses", "Rows",
    "TuningModel", "add_unit_statistics", "angular_difference", "circular_correlation", "design_matrix",
    "deviation_from_uniform", "fit_units", "get", "headline_group", "label_scores", "layer_rows",
    "parse_instance", "preferred_direction", "r2_score_columns", "rayleigh_test", "register",
    "regressor_names", "score_units", "split_rows", "summarize", "svm_label_scores", "tune_layer",
    "tune_model", "unit_statistics", "write_table",
]
