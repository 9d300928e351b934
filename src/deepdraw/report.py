"""Figures and a self-contained HTML report of the tuning and similarity analyses.

One figure per result: tuned fractions per layer (trained vs untrained side by side),
polar histograms of preferred directions per layer, plane invariance of preferred
directions, and CKA matrices with layer-vs-kinematics similarity. The HTML page embeds the
figures as base64 PNG and sets our numbers beside the study's (spec section 7).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from deepdraw.io import atomic_path  # noqa: E402
from deepdraw.tuning import ENCODING_MODELS  # noqa: E402

log = logging.getLogger(__name__)

TRAINED_STYLE = {True: {"color": "tab:blue", "ls": "-", "label": "trained"},
                 False: {"color": "tab:gray", "ls": "--", "label": "untrained"}}
FIGURES = ("fractions", "directions", "invariance", "cka")
CAPTIONS = {
    "fractions": "Fraction of units tuned (test R² above the threshold) per layer and encoding model; "
                 "trained (blue) vs untrained (grey) networks, mean ± SD over instances.",
    "directions": "Preferred movement directions (direction model) of the tuned units per layer, "
                  "18 bins, pooled over instances; D = deviation from uniform (0 = uniform), "
                  "p = Rayleigh test of uniformity.",
    "invariance": "Preferred directions fitted separately on horizontal and vertical samples, for units "
                  "tuned in both planes; r = circular correlation (on the diagonal = plane-invariant).",
    "cka": "Linear CKA between layers of a trained model and of an untrained one (rows: trained layers), "
           "and of every layer with the input, hand kinematics and the label.",
}


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _panel_keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(set(zip(frame["task"], frame["architecture"])))


def plot_fractions(fractions: pd.DataFrame, path: Path) -> None:
    """Tuned fraction vs layer for each encoding model; rows are (task, architecture)."""
    panels = _panel_keys(fractions)
    models = [m for m in ENCODING_MODELS if m in set(fractions["encoding_model"])]
    fig, axes = plt.subplots(len(panels), len(models), figsize=(2.6 * len(models), 3.2 * len(panels)),
                             squeeze=False, sharey=True)
    for row, (task, arch) in enumerate(panels):
        sub = fractions[(fractions["task"] == task) & (fractions["architecture"] == arch)]
        layer_names = sub.drop_duplicates("layer_index").sort_values("layer_index")["layer"].tolist()
        for col, model in enumerate(models):
            ax = axes[row, col]
            for trained, style in TRAINED_STYLE.items():
                data = sub[(sub["encoding_model"] == model) & (sub["trained"] == trained)]
                if data.empty:
                    continue
                stats = data.groupby("layer_index")["fraction_tuned"].agg(["mean", "std"]).fillna(0)
                ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", ms=3, capsize=2,
                            color=style["color"], ls=style["ls"], label=style["label"])
            ax.set_xticks(range(len(layer_names)), layer_names, rotation=60, fontsize=7)
            ax.set_ylim(0, 1)
            if row == 0:
                ax.set_title(model.replace("_", " "), fontsize=9)
            if col == 0:
                ax.set_ylabel(f"{arch} ({task})\nfraction tuned", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def plot_directions(units: pd.DataFrame, directions: pd.DataFrame, path: Path, bins: int = 18) -> None:
    """Polar histograms of preferred directions of tuned units: rows (task, arch, trained), columns layers."""
    tuned = units[(units["encoding_model"] == "direction") & units["tuned"]]
    rows = sorted(set(zip(units["task"], units["architecture"], units["trained"])), key=lambda r: (r[0], r[1], not r[2]))
    n_layers = int(units["layer_index"].max()) + 1 if len(units) else 1
    fig, axes = plt.subplots(max(len(rows), 1), n_layers, figsize=(2.1 * n_layers, 2.3 * max(len(rows), 1)),
                             subplot_kw={"projection": "polar"}, squeeze=False)
    edges = np.linspace(0, 2 * np.pi, bins + 1)
    for r, (task, arch, trained) in enumerate(rows):
        model_units = units[(units["task"] == task) & (units["architecture"] == arch)]
        names = model_units.drop_duplicates("layer_index").set_index("layer_index")["layer"]
        for index in range(n_layers):
            ax = axes[r, index]
            ax.set_xticks([]), ax.set_yticks([])
            if index not in names.index:
                ax.axis("off")
                continue
            sel = tuned[(tuned["task"] == task) & (tuned["architecture"] == arch) & (tuned["trained"] == trained)
                        & (tuned["layer_index"] == index)]
            counts, _ = np.histogram(np.radians(sel["pd_deg"]), bins=edges)
            ax.bar(edges[:-1], counts, width=edges[1] - edges[0], align="edge",
                   color=TRAINED_STYLE[trained]["color"], alpha=0.8)
            stats = directions[(directions["task"] == task) & (directions["architecture"] == arch)
                               & (directions["trained"] == trained) & (directions["layer_index"] == index)]
            dev = stats["deviation_from_uniform"].mean()
            p = stats["rayleigh_p"].median()
            ax.set_title(f"{names[index]}\nn={len(sel)} D={dev:.2f} p={p:.2g}", fontsize=7)
        axes[r, 0].text(-0.35, 0.5, f"{arch}\n{task}\n{TRAINED_STYLE[trained]['label']}",
                        transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_invariance(units: pd.DataFrame, threshold: float, path: Path) -> None:
    """Horizontal vs vertical preferred directions of units tuned in both planes, per layer."""
    from deepdraw.tuning import circular_correlation

    direction = units[units["encoding_model"] == "direction"]
    both = direction[(direction["r2_horizontal"] > threshold) & (direction["r2_vertical"] > threshold)]
    rows = sorted(set(zip(units["task"], units["architecture"], units["trained"])), key=lambda r: (r[0], r[1], not r[2]))
    n_layers = int(units["layer_index"].max()) + 1 if len(units) else 1
    fig, axes = plt.subplots(max(len(rows), 1), n_layers, figsize=(2.1 * n_layers, 2.2 * max(len(rows), 1)),
                             squeeze=False)
    for r, (task, arch, trained) in enumerate(rows):
        names = units[(units["task"] == task) & (units["architecture"] == arch)].drop_duplicates(
            "layer_index").set_index("layer_index")["layer"]
        for index in range(n_layers):
            ax = axes[r, index]
            if index not in names.index:
                ax.axis("off")
                continue
            sel = both[(both["task"] == task) & (both["architecture"] == arch) & (both["trained"] == trained)
                       & (both["layer_index"] == index)]
            ax.scatter(sel["pd_horizontal_deg"], sel["pd_vertical_deg"], s=4,
                       color=TRAINED_STYLE[trained]["color"], alpha=0.6)
            ax.plot([0, 360], [0, 360], color="k", lw=0.5)
            ax.set(xlim=(0, 360), ylim=(0, 360), xticks=[0, 180, 360], yticks=[0, 180, 360])
            ax.tick_params(labelsize=6)
            rho = circular_correlation(sel["pd_horizontal_deg"].to_numpy(), sel["pd_vertical_deg"].to_numpy())
            ax.set_title(f"{names[index]} n={len(sel)} r={rho:.2f}", fontsize=7)
        axes[r, 0].set_ylabel(f"{arch} {task}\n{TRAINED_STYLE[trained]['label']}\nvertical PD (deg)", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("horizontal PD (deg)", fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def plot_cka(cka: pd.DataFrame, targets: pd.DataFrame, path: Path) -> None:
    """Per (task, arch): trained x trained and trained x untrained CKA, and CKA with the references."""
    panels = _panel_keys(targets)
    fig, axes = plt.subplots(len(panels), 3, figsize=(12, 3.6 * len(panels)), squeeze=False)
    for row, (task, arch) in enumerate(panels):
        tg = targets[(targets["task"] == task) & (targets["architecture"] == arch)]
        names = tg.drop_duplicates("layer_index").sort_values("layer_index")["layer"].tolist()
        trained = sorted(tg.loc[tg["trained"], "instance"].unique())
        control = sorted(tg.loc[~tg["trained"], "instance"].unique())
        sub = cka[(cka["task"] == task) & (cka["architecture"] == arch)]
        for col, (label, first, second) in enumerate((("trained vs trained", trained, trained),
                                                     ("trained vs untrained", trained, control))):
            ax = axes[row, col]
            if not first or not second:
                ax.axis("off")
                continue
            pairs = sub[sub["instance_a"].isin(first) & sub["instance_b"].isin(second)]
            if label == "trained vs trained" and len(first) > 1:
                pairs = pairs[pairs["instance_a"] != pairs["instance_b"]]  # across seeds
            matrix = pairs.pivot_table(index="layer_a", columns="layer_b", values="cka", aggfunc="mean")
            matrix = matrix.reindex(index=names, columns=names)
            image = ax.imshow(matrix.values, vmin=0, vmax=1, cmap="viridis")
            ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            ax.set_title(f"{arch} ({task}): {label}", fontsize=9)
            fig.colorbar(image, ax=ax, fraction=0.046)
        ax = axes[row, 2]
        for target, color in zip(sorted(tg["target"].unique()), plt.cm.tab10.colors):
            for is_trained, style in TRAINED_STYLE.items():
                data = tg[(tg["target"] == target) & (tg["trained"] == is_trained)]
                if data.empty:
                    continue
                stats = data.groupby("layer_index")["cka"].mean()
                ax.plot(stats.index, stats.values, color=color, ls=style["ls"], marker="o", ms=3,
                        label=f"{target} ({style['label']})")
        ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
        ax.set(ylim=(0, 1), ylabel="linear CKA")
        ax.set_title("layer vs input / kinematics / label", fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    _save(fig, path)


def study_comparison(settings: dict, fractions: pd.DataFrame, directions: pd.DataFrame,
                     invariance: pd.DataFrame, min_units: int = 5) -> pd.DataFrame:
    """Our numbers beside the study's claims (spec section 7), averaged over layers.

    Direction statistics use only layers with at least ``min_units`` tuned units (a
    histogram of fewer directions says nothing about uniformity).
    """
    rows = [{"quantity": "tuned unit", "study": "test R² > 0.2 (80/20 split)",
             "ours": f"test R² > {settings['r2_threshold']} ({settings['train_fraction']:.0%} of samples for fitting)"}]
    for trained in (True, False):
        kind = "trained" if trained else "untrained"
        dirs = directions[(directions["trained"] == trained) & (directions["n_tuned"] >= min_units)]
        rows.append({"quantity": f"deviation of preferred directions from uniform, {kind} (mean over layers)",
                     "study": "uniform spread only in recognition-trained models (lower deviation than untrained)",
                     "ours": f"{dirs['deviation_from_uniform'].mean():.2f} over {dirs['layer'].nunique()} layers "
                             f"(Rayleigh p median {dirs['rayleigh_p'].median():.2g})" if len(dirs) else
                             f"no layer with {min_units}+ direction-tuned units"})
        frac = fractions[fractions["trained"] == trained]
        for model in ("direction", "velocity", "position_cartesian"):
            per_layer = frac[frac["encoding_model"] == model].groupby("layer_index")["fraction_tuned"].mean()
            if len(per_layer):
                rows.append({"quantity": f"fraction tuned to {model.replace('_', ' ')}, {kind}: first → last layer",
                             "study": "per-layer fractions in the study's figures (not transcribed in the spec)",
                             "ours": " → ".join(f"{v:.2f}" for v in per_layer.values)})
        inv = invariance[(invariance["trained"] == trained) & (invariance["n_tuned_both_planes"] >= min_units)]
        rows.append({"quantity": f"plane invariance of preferred directions, {kind} (mean over layers)",
                     "study": "deviation of preferred directions across planes, trained vs untrained",
                     "ours": f"circular r {inv['plane_circular_correlation'].mean():.2f}, median |ΔPD| "
                             f"{inv['plane_median_difference_deg'].mean():.0f}°" if len(inv) else
                             f"no layer with {min_units}+ units tuned in both planes"})
    label = fractions[fractions["encoding_model"] == "label"]
    ours = "R² of a one-hot label regression"
    if "median_label_score" in label:
        by_kind = label.groupby("trained")["median_label_score"].mean()
        ours = ("one-vs-rest score 2 (AUC − 0.5) per unit (exact for a linear SVM on one unit); "
                "median over units, mean over layers: " +
                ", ".join(f"{'trained' if k else 'untrained'} {v:.2f}" for k, v in by_kind.items()) +
                "; also " + ours)
    rows.append({"quantity": "label tuning", "study": "one-vs-rest linear SVM, score 2 (AUC − 0.5)",
                 "ours": ours})
    return pd.DataFrame(rows)


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def write_html(path: Path, figures: dict[str, Path], tables: dict[str, pd.DataFrame], meta: dict) -> None:
    """One self-contained page: figures (base64 PNG) with captions, then tables."""
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>deepdraw tuning analysis</title>",
             "<style>body{font-family:sans-serif;max-width:1300px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:12px;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             "figcaption{font-size:13px;color:#333;margin-bottom:2em}</style></head><body>",
             "<h1>Kinematic tuning and representational similarity</h1>",
             f"<p>{html.escape(json.dumps(meta))}</p>"]
    for name, fig in figures.items():
        parts.append(f"<h2>{name}</h2><figure>{_img(fig)}<figcaption>{html.escape(CAPTIONS[name])}"
                     "</figcaption></figure>")
    for name, table in tables.items():
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="–"))
    parts.append("</body></html>")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")


def build_report(summary_dir: str, unit_tables: list[str], cka_path: str, targets_path: str,
                 settings: dict, figure_dir: str, html_path: str) -> None:
    """Make the four figures and ``study_comparison.csv`` in ``figure_dir``, and the HTML page."""
    summary = Path(summary_dir)
    fractions = pd.read_csv(summary / "fractions.csv")
    directions = pd.read_csv(summary / "directions.csv")
    invariance = pd.read_csv(summary / "invariance.csv")
    comparison = pd.read_csv(summary / "comparison.csv")
    columns = ["task", "architecture", "instance", "trained", "layer", "layer_index", "unit",
               "encoding_model", "tuned", "pd_deg", "r2_horizontal", "r2_vertical",
               "pd_horizontal_deg", "pd_vertical_deg"]
    units = pd.concat([pd.read_parquet(p, columns=columns, filters=[("encoding_model", "==", "direction")])
                       for p in unit_tables], ignore_index=True)
    cka, targets = pd.read_csv(cka_path), pd.read_csv(targets_path)
    out = Path(figure_dir)
    figures = {name: out / f"{name}.png" for name in FIGURES}
    plot_fractions(fractions, figures["fractions"])
    plot_directions(units, directions, figures["directions"], settings.get("direction_bins", 18))
    plot_invariance(units, settings["r2_threshold"], figures["invariance"])
    plot_cka(cka, targets, figures["cka"])
    focus = comparison[comparison["encoding_model"].isin(["direction", "velocity", "position_cartesian", "label"])]
    study = study_comparison(settings, fractions, directions, invariance)
    with atomic_path(out / "study_comparison.csv") as tmp:
        study.to_csv(tmp, index=False)
    tables = {
        "Our numbers beside the study's": study,
        "Tuned fractions: trained vs untrained (paired t-test over seeds, Bonferroni over layers)": focus,
        "Preferred directions per layer (Rayleigh test of uniformity)": directions.drop(columns=["bin_counts"]),
        "Plane invariance per layer": invariance,
        "Similarity with input, kinematics and label": targets.drop(columns=["seed"]),
    }
    meta = {"models": int(fractions[["task", "architecture", "instance"]].drop_duplicates().shape[0]),
            "r2_threshold": settings["r2_threshold"], "n_test_samples": settings["n_test_samples"]}
    write_html(Path(html_path), figures, tables, meta)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m deepdraw.report", description=__doc__)
    parser.add_argument("--summary-dir", required=True)
    parser.add_argument("--units", nargs="+", required=True, help="per-model unit tables (.parquet)")
    parser.add_argument("--cka", required=True)
    parser.add_argument("--targets", required=True)
    parser.add_argument("--analysis", required=True, help="the config's analysis section, JSON")
    parser.add_argument("--figure-dir", required=True)
    parser.add_argument("--html", required=True)
    args = parser.parse_args(argv)
    build_report(args.summary_dir, args.units, args.cka, args.targets, json.loads(args.analysis),
                 args.figure_dir, args.html)


if __name__ == "__main__":
    main()
