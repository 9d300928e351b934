"""The report's tables: one readable DataFrame per table, code names replaced by labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from deepdraw.contract import PLANES
from deepdraw.report.labels import REPRESENTATION_LABELS, TARGET_LABELS, _readable, encoding_label


def models_table(models: pd.DataFrame, arch_labels: dict) -> pd.DataFrame:
    """One row per trained network / untrained control of one task with its performance."""
    columns = {"task": "task", "name": "network", "trained": "weights", "seed": "seed",
               "n_layers": "layers", "n_parameters": "parameters", "epochs": "epochs",
               "train_accuracy": "training accuracy", "validation_accuracy": "validation accuracy",
               "test_accuracy": "test accuracy", "train_position_error_cm": "training error (cm)",
               "validation_position_error_cm": "validation error (cm)",
               "test_position_error_cm": "test error (cm)"}
    frame = models[[c for c in columns if c in models and c != "task"]].copy()
    frame = frame.dropna(axis=1, how="all")  # the other tasks' metrics
    frame["name"] = frame["name"].map(lambda a: arch_labels.get(a, a))
    frame["trained"] = frame["trained"].map({True: "trained", False: "untrained"})
    return frame.rename(columns=columns)


def svm_table(svm: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({
        "representation": svm["representation"].map(lambda r: REPRESENTATION_LABELS.get(r, r)),
        "features": svm["n_features"], "training samples": svm["n_train"], "test samples": svm["n_test"],
        "pairwise accuracy (mean ± SD)": [f"{m:.3f} ± {s:.3f}" for m, s in zip(svm["pairwise_mean"],
                                                                          svm["pairwise_sd"])],
        "multiclass accuracy": svm["multiclass"], "chance (multiclass)": svm["chance_multiclass"]})
    return frame


def comparison_table(comparison: pd.DataFrame, arch_labels: dict) -> tuple[pd.DataFrame, bool]:
    """Trained vs untrained tuned fractions, one row per network and layer, one column per model.

    Returns the table and whether any layer has a test (cells then carry its Bonferroni p).
    """
    shown = ["direction", "velocity", "position_cartesian", "label"]
    focus = comparison[comparison["encoding_model"].isin(shown)]
    tested = bool(focus["test"].map(lambda t: isinstance(t, str) and bool(t)).any())

    def cell(row) -> str:
        text = f"{row['trained_mean']:.2f} vs {row['untrained_mean']:.2f}"
        if isinstance(row["test"], str) and row["test"]:
            p = row["p_bonferroni"]
            # a test with no spread to refer to (constant groups) has no p: say so, never "p=nan"
            text += f" (p={p:.2g})" if np.isfinite(p) else " (no test: no variance)"
        return text

    focus = focus.assign(cell=focus.apply(cell, axis=1) if len(focus) else [])
    table = focus.pivot_table(index=["task", "architecture", "layer", "layer_index"], columns="encoding_model",
                              values="cell", aggfunc="first").reset_index()
    table.columns.name = None
    table = table.sort_values(["task", "architecture", "layer_index"])
    table = _readable(table, arch_labels).drop(columns="layer_index")
    order = ["task", "architecture", "layer"] + [m for m in shown if m in table]
    return table[order].rename(columns={"architecture": "network",
                                        **{m: f"{encoding_label(m)}: trained vs untrained" for m in shown}}), tested


def directions_table(directions: pd.DataFrame, arch_labels: dict) -> pd.DataFrame:
    """Per model kind and layer, over instances: tuned units, deviation from uniform, Rayleigh p."""
    keys = ["task", "architecture", "trained", "layer", "layer_index"]
    agg = directions.groupby(keys, as_index=False).agg(
        instances=("instance", "nunique"), n_tuned=("n_tuned", "mean"),
        deviation=("deviation_from_uniform", "mean"), rayleigh_p=("rayleigh_p", "median"))
    agg = _readable(agg.sort_values(["task", "architecture", "trained", "layer_index"],
                                    ascending=[True, True, False, True]), arch_labels)
    return agg.drop(columns="layer_index").rename(columns={
        "task": "task", "architecture": "network", "trained": "weights", "instances": "instances",
        "n_tuned": "direction-tuned units (mean)", "deviation": "deviation from uniform D (mean)",
        "rayleigh_p": "Rayleigh p (median)"})


def invariance_table(invariance: pd.DataFrame, arch_labels: dict) -> pd.DataFrame:
    keys = ["task", "architecture", "trained", "layer", "layer_index"]
    agg = invariance.groupby(keys, as_index=False).agg(
        n_both=("n_tuned_both_planes", "mean"), r=("plane_circular_correlation", "mean"),
        diff=("plane_median_difference_deg", "mean"), h2v=("r2_horizontal_to_vertical", "mean"),
        v2h=("r2_vertical_to_horizontal", "mean"))
    agg = _readable(agg.sort_values(["task", "architecture", "trained", "layer_index"],
                                    ascending=[True, True, False, True]), arch_labels)
    return agg.drop(columns="layer_index").rename(columns={
        "architecture": "network", "trained": "weights", "n_both": "units tuned in both planes (mean)",
        "r": "circular correlation r", "diff": "median |ΔPD| (deg)",
        "h2v": "R² horizontal → vertical (median unit)", "v2h": "R² vertical → horizontal (median unit)"})


def targets_table(targets: pd.DataFrame, arch_labels: dict) -> pd.DataFrame:
    """Layer x reference CKA (mean over instances), references as columns."""
    pivot = targets.pivot_table(index=["task", "architecture", "trained", "layer", "layer_index"],
                                columns="target", values="cka", aggfunc="mean").reset_index()
    pivot.columns.name = None
    pivot = pivot.sort_values(["task", "architecture", "trained", "layer_index"], ascending=[True, True, False, True])
    pivot = _readable(pivot, arch_labels).drop(columns="layer_index")
    return pivot.rename(columns={"architecture": "network", "trained": "weights",
                                 **{t: f"CKA with {label}" for t, label in TARGET_LABELS.items()}})


def dataset_facts(dataset_path: str | Path) -> pd.DataFrame:
    """Sample counts per plane and split, letters, and provenance of ``dataset.zarr``."""
    from deepdraw.io import open_zarr

    ds = open_zarr(dataset_path)
    plane, split = ds["plane"].values, ds["split"].values
    split_names = str(ds["split"].attrs.get("flag_meanings", "train validation test")).split()
    rows = [("samples", f"{ds.sizes['sample']}")]
    rows += [(f"samples, {name} plane", f"{int(np.sum(plane == code))}")
             for code, name in enumerate(PLANES)]
    rows += [(f"samples, {name} split", f"{int(np.sum(split == code))}") for code, name in enumerate(split_names)]
    rows.append(("letters", " ".join(str(ds["label"].attrs.get("letters", "")))))
    split_by = ds.attrs.get("split_by")
    if split_by:
        rows.append(("train/test split", "by source character (no character on both sides)"
                     if split_by == "character" else "by augmented sample"))
    if ds.attrs.get("muscle_backend"):
        rows.append(("muscle lengths from", str(ds.attrs["muscle_backend"])))
    if ds.attrs.get("n_rejected"):
        rejected = ds.attrs["n_rejected"]
        rejected = json.loads(rejected) if isinstance(rejected, str) else rejected
        if isinstance(rejected, dict):
            reasons = {k: v for k, v in rejected.items() if v}
            text = (f"{sum(reasons.values())} (" + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in reasons.items())
                    + ")") if reasons else "none"
        else:
            text = str(rejected)
        rows.append(("rejected candidates, redrawn", text))
    rows.append(("time window", f"{ds.sizes['time']} steps of {float(ds['time'][1] - ds['time'][0]) * 1e3:.0f} ms"))
    return pd.DataFrame(rows, columns=["quantity", "value"])



def invariance_heights_table(comparison: pd.DataFrame, arch_labels: dict) -> pd.DataFrame:
    """Per network, orientation and layer: mean |deviation| from the central plane, trained vs untrained.

    ``comparison``: ``invariance/comparison.csv`` (deepdraw.invariance). The last column is the
    paired t-test over the instances (Bonferroni over layers), or why there is none.
    """
    def test(row) -> str:
        if isinstance(row["test"], str) and row["test"] and np.isfinite(row["p_bonferroni"]):
            return f"{row['test']}: t = {row['statistic']:.2f}, p = {row['p_bonferroni']:.2g}"
        note = row.get("note")
        return note if isinstance(note, str) and note else "no test"

    frame = comparison.sort_values(["task", "architecture", "orientation", "layer_index"])
    out = _readable(frame[["task", "architecture", "orientation", "layer", "layer_index"]], arch_labels)
    out["orientation"] = out["orientation"].map(lambda o: f"{o} planes")
    out["trained: mean |ΔPD| (deg)"] = frame["trained_mean_deg"].to_numpy()
    out["untrained: mean |ΔPD| (deg)"] = frame["untrained_mean_deg"].to_numpy()
    out["instances (trained, untrained)"] = [f"{a}, {b}" for a, b in zip(frame["n_trained"], frame["n_untrained"])]
    out["trained vs untrained"] = [test(r) for _, r in frame.iterrows()]
    return out.drop(columns="layer_index").rename(columns={"architecture": "network"})
