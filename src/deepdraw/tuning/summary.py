"""Per-layer summaries of the unit tables of all models: tuned fractions, directions, invariance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from deepdraw.tuning.statistics import (angular_difference, circular_correlation, compare_groups,
                                        deviation_from_uniform, rayleigh_test)


def summarize(table: pd.DataFrame, settings: dict) -> dict[str, pd.DataFrame]:
    """Per-layer summaries of the unit tables of all models.

    Returns
    -------
    dict of tables:
    ``fractions``: tuned fraction per model instance, layer and encoding model (over the
    non-constant units; ``median_score`` is the criterion's median: test R^2, or the label
    score of mode study); ``comparison``: trained vs untrained per layer and encoding model
    (mean, SD over instances; paired t-test when seeds pair up, else Welch; Bonferroni over
    layers); ``directions``: preferred directions (direction model) of tuned units per
    instance and layer: 18-bin counts, deviation from uniform, Rayleigh test;
    ``invariance``: per instance and layer, horizontal vs vertical preferred directions of
    units tuned in both planes (circular correlation, median difference) and cross-plane R^2.
    """
    ident = ["task", "architecture", "instance", "trained", "seed"]
    layer_keys = ["layer", "layer_index"]
    live = table[~table["constant"]]
    scores = {"n_units": ("unit", "size"), "n_tuned": ("tuned", "sum"),
              "median_r2": ("r2_test", "median")}
    if "score" in live:
        scores["median_score"] = ("score", "median")
    if "label_score" in live:
        scores["median_label_score"] = ("label_score", "median")  # label rows only
    fractions = (live.groupby(ident + layer_keys + ["encoding_model"], as_index=False)
                 .agg(**scores))
    fractions["fraction_tuned"] = fractions["n_tuned"] / fractions["n_units"]
    comparison = compare_groups(fractions, "fraction_tuned", ["encoding_model"])

    bins = int(settings["direction_bins"])
    threshold = settings["r2_threshold"]
    records = []
    for key, group in table[table["encoding_model"] == "direction"].groupby(ident + layer_keys):
        angles = group.loc[group["tuned"], "pd_deg"].to_numpy()
        z, p = rayleigh_test(angles)
        counts, _ = np.histogram(angles, bins=bins, range=(0, 360))
        both = group[(group["r2_horizontal"] > threshold) & (group["r2_vertical"] > threshold)]
        records.append({
            **dict(zip(ident + layer_keys, key)),
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
    invariance_cols = ident + layer_keys + ["n_tuned_both_planes", "plane_circular_correlation",
                               "plane_median_difference_deg", "r2_horizontal_to_vertical",
                               "r2_vertical_to_horizontal"]
    invariance = directions[invariance_cols] if len(directions) else pd.DataFrame(columns=invariance_cols)
    dir_comparison = compare_groups(directions, "deviation_from_uniform", []) if len(directions) else pd.DataFrame()
    return {"fractions": fractions, "comparison": comparison, "directions": directions,
            "direction_comparison": dir_comparison,
            "invariance": invariance, "tasks": _compare_tasks(fractions)}


def _compare_tasks(fractions: pd.DataFrame) -> pd.DataFrame:
    """Tuned fractions of trained models per task (recognition vs decoding), mean over seeds."""
    trained = fractions[fractions["trained"]]
    return (trained.groupby(["architecture", "layer", "layer_index", "encoding_model", "task"], as_index=False)
            ["fraction_tuned"].agg(["mean", "std", "count"]))
