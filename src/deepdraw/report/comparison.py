"""Our numbers beside the study's: one row per headline result of the article.

The study's numbers come from :mod:`deepdraw.study` (each with its source); ours from the
run's tables. Columns of ``study_comparison.csv``:

============== ==================================================================
result         the headline result, in words
study_value    the study's number (with its spread), "–" when only plotted
study_source   where the study prints it
study_note     the model variant and the study's conclusion (for a result the study only plots,
               where its number was looked for)
ours_value     this run's number(s) (per layer: first → last layer)
ours_statistic this run's test, where the study tests (test, statistic, p)
ours_n         instances / networks / pairs behind our number
note           how to read the comparison (differences of scale or method)
============== ==================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepdraw.activations import INPUT_LAYER
from deepdraw.invariance.summary import layer_deviations
from deepdraw.report.labels import FAMILY_LABELS, MIN_UNITS, N_CLASSES, task_label
from deepdraw.study import result

COLUMNS = ["result", "study_value", "study_source", "study_note", "ours_value", "ours_statistic", "ours_n",
           "note"]
SCALE_NOTE = "the study trained on about 10^6 samples split by sample; this run's size and split are in the Dataset section"


def _row(key: str, ours_value: str, ours_statistic: str = "", ours_n: str = "", note: str = "") -> dict:
    study = result(key)
    study_note = f"{study.variant}: {study.finding}" + (f" ({study.spread})" if study.spread else "")
    if study.unstated:  # why the study's cell is empty, and where its plot is
        study_note += f"; {study.unstated}"
    return {"result": study.result, "study_value": study.formatted(), "study_source": study.source,
            "study_note": study_note, "ours_value": ours_value, "ours_statistic": ours_statistic,
            "ours_n": ours_n, "note": note}


def headline_network(fractions: pd.DataFrame, models: pd.DataFrame | None) -> tuple[str, str] | None:
    """The network whose tuning the comparison reports: the best trained recognition network of
    the tuning analysis (highest test accuracy), as the study reports its best models; without a
    models table, the first recognition network (else the first network) in name order."""
    if fractions is None or fractions.empty:
        return None
    pairs = sorted(set(zip(fractions["task"], fractions["architecture"])))
    recognition = [p for p in pairs if p[0] == "recognition"] or pairs
    if models is not None and "test_accuracy" in models:
        scored = models[models["trained"] & (models["task"] == recognition[0][0])].dropna(subset=["test_accuracy"])
        scored = scored[scored["name"].isin([a for _, a in recognition])]
        if len(scored):
            return recognition[0][0], scored.loc[scored["test_accuracy"].idxmax(), "name"]
    return recognition[0]


def _of(frame: pd.DataFrame | None, network: tuple[str, str] | None) -> pd.DataFrame:
    """Rows of ``network`` (task, architecture); an empty frame when there are none."""
    if frame is None or frame.empty or network is None:
        return pd.DataFrame()
    return frame[(frame["task"] == network[0]) & (frame["architecture"] == network[1])]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _per_layer(values) -> str:
    return " → ".join("–" if not np.isfinite(v) else f"{v:.2f}" for v in values)


def _tests(frame: pd.DataFrame) -> str:
    """Per layer "p = ..." (Bonferroni) of a trained-vs-untrained table, or why there is none."""
    if frame.empty or not frame["test"].map(lambda t: isinstance(t, str) and bool(t)).any():
        return "no test (needs two or more trained and untrained instances)"
    kind = frame["test"].dropna().iloc[0]
    ps = ["–" if not np.isfinite(p) else f"{p:.2g}" for p in frame.sort_values("layer_index")["p_bonferroni"]]
    return f"{kind} per layer, Bonferroni p = " + ", ".join(ps)


def _instances(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    return f"{int(frame['n_trained'].max())} trained, {int(frame['n_untrained'].max())} untrained instances"


def _performance_rows(models: pd.DataFrame | None, arch_labels: dict) -> list[dict]:
    rows = []
    keys = {"spatial_temporal": "accuracy_spatial_temporal", "spatiotemporal": "accuracy_spatiotemporal",
            "recurrent": "accuracy_lstm"}
    recognition = (models[(models["task"] == "recognition")].dropna(subset=["test_accuracy"])
                   if models is not None and "test_accuracy" in models else pd.DataFrame())
    for family, key in keys.items():
        fam = recognition[(recognition["family"] == family) & recognition["trained"]] if len(recognition) else recognition
        if len(fam):
            best = fam.loc[fam["test_accuracy"].idxmax()]
            rows.append(_row(key, f"{best['test_accuracy']:.3f}", ours_n=_plural(len(fam), "trained network"),
                             note=f"{arch_labels.get(best['name'], best['name'])}, seed {best['seed']}; {SCALE_NOTE}"))
        else:
            rows.append(_row(key, "–", note=f"this run trains no {FAMILY_LABELS[family]} network on recognition"))
    control = recognition[~recognition["trained"]] if len(recognition) else recognition
    if len(control):
        rows.append(_row("accuracy_untrained", f"{control['test_accuracy'].mean():.3f} "
                         f"({control['test_accuracy'].min():.3f}–{control['test_accuracy'].max():.3f})",
                         ours_n=_plural(len(control), "untrained network"), note=f"chance {1 / N_CLASSES:.2f}"))
    else:
        rows.append(_row("accuracy_untrained", "–", note="this run has no untrained recognition control"))
    return rows


def _svm_rows(svm: pd.DataFrame | None) -> list[dict]:
    if svm is None or "spindles" not in set(svm["representation"]):
        return [_row("svm_pairwise", "–", note="no SVM baseline in this run (config section svm)"),
                _row("svm_multiclass", "–", note="no SVM baseline in this run (config section svm)")]
    s = svm[svm["representation"] == "spindles"].iloc[0]
    pairs = f"{int(s['n_pairs'])} pairs" if "n_pairs" in s and np.isfinite(s["n_pairs"]) else ""
    return [_row("svm_pairwise", f"{s['pairwise_mean']:.3f} ± {s['pairwise_sd']:.3f}", ours_n=pairs,
                 note="mean ± SD over character pairs"),
            _row("svm_multiclass", f"{s['multiclass']:.3f}", ours_n=f"{int(s['n_test'])} test samples"
                 if "n_test" in s else "")]


def _decoding_row(models: pd.DataFrame | None) -> dict:
    column = "test_position_error_cm"
    if models is None or column not in models or models[column].notna().sum() == 0:
        return _row("decoding_error_cm", "–", note="this run trains no position-decoding network")
    position = models.dropna(subset=[column])
    trained, control = position[position["trained"]], position[~position["trained"]]
    value = f"{trained[column].min():.2f}" if len(trained) else "–"
    if len(control):
        value += f" (untrained {control[column].min():.1f}–{control[column].max():.1f})"
    return _row("decoding_error_cm", value, ours_n=f"{len(trained)} trained, {len(control)} untrained networks",
                note="mean distance between decoded and true hand position on the test samples")


def _fraction_rows(fractions: pd.DataFrame, comparison: pd.DataFrame) -> list[dict]:
    rows = []
    for key, model in (("fraction_direction", "direction"), ("fraction_velocity", "velocity"),
                       ("fraction_position", "position_cartesian"), ("fraction_label", "label")):
        if fractions.empty:
            rows.append(_row(key, "–", note="no network was analysed"))
            continue
        frac = fractions[(fractions["encoding_model"] == model) & fractions["trained"]]
        untrained = fractions[(fractions["encoding_model"] == model) & ~fractions["trained"]]
        if frac.empty:
            rows.append(_row(key, "–", note=f"the tuning analysis fitted no {model.replace('_', ' ')} model"))
            continue
        first = comparison[comparison["encoding_model"] == model] if len(comparison) else comparison
        ours = (f"trained {_per_layer(frac.groupby('layer_index')['fraction_tuned'].mean())}; untrained "
                f"{_per_layer(untrained.groupby('layer_index')['fraction_tuned'].mean())}")
        note = "first → last hidden layer, mean over instances"
        if model == "label" and "median_label_score" in frac:
            note += "; tuned: label regression R² above the threshold (the label score is in the tuning tables)"
        rows.append(_row(key, ours, _tests(first), _instances(first), note))
    return rows


def _direction_row(directions: pd.DataFrame, direction_comparison: pd.DataFrame | None,
                   min_units: int) -> dict:
    if directions.empty:
        return _row("pd_uniformity", "–", note="no network was analysed")
    enough = directions[directions["n_tuned"] >= min_units]
    parts = []
    for trained in (True, False):
        kind = enough[enough["trained"] == trained]
        if len(kind):
            parts.append(f"{'trained' if trained else 'untrained'} D = {kind['deviation_from_uniform'].mean():.2f} "
                         f"(Rayleigh p median {kind['rayleigh_p'].median():.2g}, {kind['layer'].nunique()} layers)")
    ours = "; ".join(parts) if parts else f"no layer with {min_units} or more direction-tuned units"
    first = direction_comparison if direction_comparison is not None else pd.DataFrame()
    return _row("pd_uniformity", ours, _tests(first) if len(first) else "no test", _instances(first),
                f"D: the study's deviation from uniform (0 = uniform), layers with ≥ {min_units} tuned units")


def _invariance_row(heights: pd.DataFrame | None, inv_comparison: pd.DataFrame | None) -> dict:
    if heights is None or heights.empty:
        return _row("invariance_heights", "–", note="the plane-invariance analysis did not run")
    layers = layer_deviations(heights)
    parts = []
    for orientation in sorted(layers["orientation"].unique()):
        sub = layers[layers["orientation"] == orientation]
        t = sub[sub["trained"]].groupby("layer_index")["mean_abs_deviation_deg"].mean()
        u = sub[~sub["trained"]].groupby("layer_index")["mean_abs_deviation_deg"].mean()
        parts.append(f"{orientation}: trained {_per_layer(t)}; untrained {_per_layer(u)}")
    first = inv_comparison if inv_comparison is not None else pd.DataFrame()
    tests = [f"{o}: {_tests(g)}" for o, g in first.groupby("orientation")] if len(first) else []
    n = _instances(first)
    planes = {o: sorted(heights.loc[heights["orientation"] == o, "height_cm"].unique())
              for o in heights["orientation"].unique()}
    order = ("L0 spindle input (the same for trained and untrained, not tested), then first → last hidden layer"
             if (layers["layer"] == INPUT_LAYER).any() else "first → last hidden layer")
    note = (f"mean |ΔPD| (deg) from the central plane, per layer ({order}), mean over non-central "
            "heights and instances; planes: " + "; ".join(f"{o} {', '.join(f'{h:g}' for h in hs)} cm"
                                                            for o, hs in sorted(planes.items())))
    if layers["mean_abs_deviation_deg"].isna().all():
        note = ("no layer and height has enough units tuned both there and on the central plane "
                "(analysis.invariance.min_units); " + note)
    return _row("invariance_heights", " | ".join(parts), " | ".join(tests), n, note)


def study_comparison(settings: dict, fractions: pd.DataFrame, directions: pd.DataFrame,
                     comparison: pd.DataFrame | None = None, models: pd.DataFrame | None = None,
                     svm: pd.DataFrame | None = None, arch_labels: dict | None = None,
                     direction_comparison: pd.DataFrame | None = None,
                     invariance_heights: pd.DataFrame | None = None,
                     invariance_comparison: pd.DataFrame | None = None,
                     min_units: int = MIN_UNITS) -> pd.DataFrame:
    """The comparison table (:data:`COLUMNS`), in the order of the article.

    Direction statistics use only layers with at least ``min_units`` tuned units (a histogram
    of fewer directions says nothing about uniformity).
    """
    arch_labels = arch_labels or {}
    comparison = comparison if comparison is not None else pd.DataFrame()
    rows = _performance_rows(models, arch_labels) + _svm_rows(svm) + [_decoding_row(models)]
    # the article's tuning results are those of its best recognition-trained networks
    network = headline_network(fractions, models)
    tuning_rows = _fraction_rows(_of(fractions, network), _of(comparison, network))
    tuning_rows.append(_direction_row(_of(directions, network), _of(direction_comparison, network), min_units))
    tuning_rows.append(_invariance_row(_of(invariance_heights, network), _of(invariance_comparison, network)))
    if network is not None:
        for row in tuning_rows:
            row["note"] = (f"{arch_labels.get(network[1], network[1])}, {task_label(network[0])}"
                           + (f"; {row['note']}" if row["note"] else ""))
    return pd.DataFrame(rows + tuning_rows, columns=COLUMNS)
