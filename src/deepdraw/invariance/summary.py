"""Deviation of preferred directions from the central plane, per layer and height; the test.

The study's measure (amathislab/DeepDraw, ``single_cell/generalization.py`` and
``control_comparisons.py``): for a unit tuned to direction both on the plane at height ``h``
and on the central plane (z = 0 for horizontal planes, x = 30 cm for vertical ones), its
deviation is the signed angle from its central preferred direction to its direction at ``h``,
wrapped to (-180, 180] deg. Per layer and height the deviation is summarised by the mean
|deviation| over those units (none when fewer than ``min_units`` units qualify, 3 in the
study), per layer by the mean over the non-central heights, and trained networks are compared
with their untrained controls by a paired t-test over the instances, Bonferroni-corrected over
the network's layers. Smaller deviations mean preferred directions that stay put across the
workspace (invariance).

The spindle input (layer 0, ``spindles``) is the same for a trained network and its untrained
control: its deviations are listed and drawn as the reference the network layers start from,
but it is not tested and does not count in the Bonferroni correction (as in
:func:`deepdraw.tuning.statistics.compare_groups`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepdraw.activations import INPUT_LAYER
from deepdraw.stats import bonferroni, compare_groups

IDENTITY = ["task", "architecture", "instance", "trained", "seed"]


def signed_deviation(pd_deg, central_deg) -> np.ndarray:
    """``pd - central`` wrapped to (-180, 180] deg (NaN where either is NaN)."""
    diff = np.mod(np.asarray(pd_deg, dtype=float) - np.asarray(central_deg, dtype=float) + 180.0, 360.0) - 180.0
    return np.where(diff == -180.0, 180.0, diff)


def unit_deviations(units: pd.DataFrame) -> pd.DataFrame:
    """Per unit and non-central plane: deviation of its PD from its central-plane PD (deg).

    Only units tuned on both planes get a value (``deviation_deg``); the others are dropped.
    """
    keys = IDENTITY + ["layer", "layer_index", "unit", "orientation"]
    central = units[units["central"] & units["tuned"]][keys + ["pd_deg"]].rename(columns={"pd_deg": "central_pd_deg"})
    other = units[~units["central"] & units["tuned"]]
    both = other.merge(central, on=keys, how="inner")
    both["deviation_deg"] = signed_deviation(both["pd_deg"], both["central_pd_deg"])
    return both


def height_deviations(units: pd.DataFrame, min_units: int = 3) -> pd.DataFrame:
    """Mean |deviation| per instance, orientation, layer and height (the study's CSV).

    Returns columns ``IDENTITY``, ``orientation``, ``layer``, ``layer_index``, ``height_cm``,
    ``central``, ``n_tuned`` (units tuned on this plane), ``n_units`` (tuned here and on the
    central plane), ``mean_abs_deviation_deg`` (NaN when ``n_units < min_units``; 0 on the
    central plane by definition), ``mean_deviation_deg`` (signed: a systematic rotation).
    """
    keys = IDENTITY + ["orientation", "layer", "layer_index", "height_cm", "central"]
    tuned = units.groupby(keys, as_index=False).agg(n_tuned=("tuned", "sum"))
    dev = unit_deviations(units)
    dev["abs_deviation_deg"] = dev["deviation_deg"].abs()
    stats = dev.groupby(keys, as_index=False).agg(
        n_units=("unit", "size"), mean_abs_deviation_deg=("abs_deviation_deg", "mean"),
        mean_deviation_deg=("deviation_deg", "mean"))
    out = tuned.merge(stats, on=keys, how="left")
    out["n_units"] = out["n_units"].fillna(0).astype(int)
    out.loc[out["central"], "n_units"] = out.loc[out["central"], "n_tuned"]
    too_few = out["n_units"] < min_units
    out.loc[too_few, ["mean_abs_deviation_deg", "mean_deviation_deg"]] = np.nan
    out.loc[out["central"] & ~too_few, ["mean_abs_deviation_deg", "mean_deviation_deg"]] = 0.0
    return out.sort_values(keys).reset_index(drop=True)


def layer_deviations(heights: pd.DataFrame) -> pd.DataFrame:
    """Per instance, orientation and layer: mean over the non-central heights with a value."""
    keys = IDENTITY + ["orientation", "layer", "layer_index"]
    other = heights[~heights["central"]]
    out = other.groupby(keys, as_index=False).agg(
        mean_abs_deviation_deg=("mean_abs_deviation_deg", "mean"),
        n_heights=("mean_abs_deviation_deg", "count"), n_heights_total=("height_cm", "size"))
    return out


def compare_trained_untrained(layers: pd.DataFrame) -> pd.DataFrame:
    """Trained vs untrained mean |deviation| per network, orientation and layer.

    Paired t-test over the seeds (:func:`deepdraw.stats.compare_groups`), Bonferroni over the
    network's layers. The spindle input (:data:`~deepdraw.activations.INPUT_LAYER`) is the
    same for trained and untrained networks: its row has the means but no test (a note says
    why), and it is not counted in ``n_layers_tested``. Returns one row per (task,
    architecture, orientation, layer).
    """
    records = []
    for (task, arch, orientation), group in layers.groupby(["task", "architecture", "orientation"]):
        n_layers = group.loc[group["layer"] != INPUT_LAYER, "layer"].nunique()
        for (layer, index), sub in group.groupby(["layer", "layer_index"]):
            trained = sub[sub["trained"]].set_index("seed")["mean_abs_deviation_deg"]
            control = sub[~sub["trained"]].set_index("seed")["mean_abs_deviation_deg"]
            if layer == INPUT_LAYER:
                test = {"test": "", "statistic": np.nan, "p_value": np.nan,
                        "n_pairs": int(len(trained.dropna().index.intersection(control.dropna().index))),
                        "note": "spindle input: the same for trained and untrained networks (reference, not tested)"}
            else:
                test = compare_groups(trained, control)
            records.append({"task": task, "architecture": arch, "orientation": orientation, "layer": layer,
                             "layer_index": index, "trained_mean_deg": trained.mean(),
                             "trained_sd_deg": trained.std(), "untrained_mean_deg": control.mean(),
                             "untrained_sd_deg": control.std(), "n_trained": int(trained.notna().sum()),
                             "n_untrained": int(control.notna().sum()), **test,
                             "p_bonferroni": bonferroni(test["p_value"], n_layers),
                             "n_layers_tested": n_layers})
    columns = ["task", "architecture", "orientation", "layer", "layer_index", "trained_mean_deg",
               "trained_sd_deg", "untrained_mean_deg", "untrained_sd_deg", "n_trained", "n_untrained",
               "test", "statistic", "p_value", "n_pairs", "note", "p_bonferroni", "n_layers_tested"]
    frame = pd.DataFrame(records, columns=columns)
    # depth order (spindle input first), not the layers' names
    return frame.sort_values(["task", "architecture", "orientation", "layer_index"], kind="stable",
                             ignore_index=True)


def summarize(units: pd.DataFrame, min_units: int = 3) -> dict[str, pd.DataFrame]:
    """The three tables of the analysis: ``heights``, ``layers``, ``comparison``."""
    heights = height_deviations(units, min_units)
    layers = layer_deviations(heights)
    return {"heights": heights, "layers": layers, "comparison": compare_trained_untrained(layers)}


def plot_deviation_curves(heights: pd.DataFrame, comparison: pd.DataFrame, path, labels=None,
                          networks=None) -> None:
    """Mean |deviation| against plane height, one panel per layer; rows: network x orientation.

    Thin lines: instances; thick: mean over instances (trained blue, untrained grey, dashed).
    The spindle input (layer 0, the same for every instance) is one black curve, the reference
    of the network layers. The central plane is marked; a panel title gives the layer's paired
    test. ``labels``: readable name per (task, architecture); ``networks``: the (task,
    architecture) pairs to draw (default all).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepdraw.io import atomic_path
    from deepdraw.report.labels import layer_label

    labels = labels or {}
    pairs = sorted(set(zip(heights["task"], heights["architecture"])))
    if networks is not None:
        pairs = [p for p in pairs if p in set(networks)]
    rows = [(t, a, o) for t, a in pairs for o in sorted(heights["orientation"].unique())
            if ((heights["task"] == t) & (heights["architecture"] == a) & (heights["orientation"] == o)).any()]
    if not rows:
        fig, ax = plt.subplots(figsize=(7, 1.2))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No plane sets were analysed.", ha="center", va="center")
    else:
        # one column per layer depth present (0 = spindle input, when analysed)
        columns = sorted(int(i) for i in heights["layer_index"].unique())
        n_cols = len(columns)
        fig, axes = plt.subplots(len(rows), n_cols, figsize=(2.6 * n_cols + 0.6, 2.7 * len(rows)),
                                 squeeze=False, sharey=True)
        styles = {True: ("tab:blue", "-", "trained"), False: ("tab:gray", "--", "untrained")}
        for r, (task, arch, orientation) in enumerate(rows):
            sub = heights[(heights["task"] == task) & (heights["architecture"] == arch)
                          & (heights["orientation"] == orientation)]
            axis_name = "z" if orientation == "horizontal" else "x"
            low, high = float(sub["height_cm"].min()), float(sub["height_cm"].max())
            pad = max(1.0, 0.05 * (high - low))
            legends = set()
            for col, index in enumerate(columns):
                ax = axes[r, col]
                layer = sub[sub["layer_index"] == index]
                if layer.empty:
                    ax.set_axis_off()
                    continue
                name = str(layer["layer"].iloc[0])
                if name == INPUT_LAYER:
                    # identical for every instance: one curve, not a trained/untrained pair
                    mean = layer.groupby("height_cm")["mean_abs_deviation_deg"].mean()
                    ax.plot(mean.index, mean.values, color="k", lw=2, marker="o", ms=3, label="spindle input")
                else:
                    for trained, (color, ls, label) in styles.items():
                        kind = layer[layer["trained"] == trained]
                        for _, inst in kind.groupby("instance"):
                            ax.plot(inst["height_cm"], inst["mean_abs_deviation_deg"], color=color, ls=ls,
                                    lw=0.6, alpha=0.35)
                        mean = kind.groupby("height_cm")["mean_abs_deviation_deg"].mean()
                        if len(mean):
                            ax.plot(mean.index, mean.values, color=color, ls=ls, lw=2, marker="o", ms=3,
                                    label=label)
                if not layer.loc[~layer["central"], "mean_abs_deviation_deg"].notna().any():
                    ax.text(0.5, 0.5, "too few units tuned\non both planes", ha="center", va="center",
                            fontsize=7, color="0.4", transform=ax.transAxes)
                central = layer.loc[layer["central"], "height_cm"]
                if len(central):
                    ax.axvline(float(central.iloc[0]), color="k", lw=0.6, ls=":")
                test = comparison[(comparison["task"] == task) & (comparison["architecture"] == arch)
                                  & (comparison["orientation"] == orientation) & (comparison["layer_index"] == index)]
                title = layer_label(name, index)
                if name == INPUT_LAYER:
                    title += "\nreference (not tested)"
                elif len(test) and np.isfinite(test["p_bonferroni"].iloc[0]):
                    title += f"\np = {test['p_bonferroni'].iloc[0]:.2g} (paired t, Bonferroni)"
                elif len(test):
                    title += "\nno test"
                ax.set_title(title, fontsize=7)
                ax.set(xlim=(low - pad, high + pad), ylim=(0, 180))
                ax.set_xlabel(f"{orientation} plane at {axis_name} (cm)", fontsize=7)
                ax.tick_params(labelsize=6)
                kind = "input" if name == INPUT_LAYER else "network"
                if kind not in legends:  # one legend per kind of panel and row
                    legends.add(kind)
                    ax.legend(fontsize=6, loc="upper left")
            axes[r, 0].set_ylabel("mean |ΔPD| (deg)", fontsize=7)
            axes[r, 0].annotate(f"{labels.get((task, arch), arch)}: {orientation} planes", xy=(0, 1.32),
                                xycoords="axes fraction", fontsize=8, fontweight="bold", ha="left")
        # fixed spacing: the row titles sit above the axes, where tight_layout cannot see them
        fig.subplots_adjust(hspace=0.95, wspace=0.12)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
