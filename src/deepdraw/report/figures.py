"""The report's figures: performance, learning curves, tuned fractions, preferred directions,
horizontal-vs-vertical invariance and CKA. Each function writes one PNG atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from deepdraw.contract import parse_instance  # noqa: E402
from deepdraw.io import atomic_path  # noqa: E402
from deepdraw.report.labels import (FAMILY_LABELS, MIN_UNITS, N_CLASSES, TARGET_LABELS,  # noqa: E402
                                    TRAINED_STYLE, _ordered_tasks, encoding_label, layer_label,
                                    task_label)
from deepdraw.tuning import ENCODING_MODELS, circular_correlation  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def _note(ax, text: str) -> None:
    """Replace a panel's content by a short note (instead of an empty panel)."""
    ax.set_xticks([]), ax.set_yticks([])
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, color="0.3", wrap=True,
            transform=ax.transAxes)


def _layer_ticks(frame: pd.DataFrame) -> tuple[list[int], list[str]]:
    layers = frame.drop_duplicates("layer_index").sort_values("layer_index")
    return layers["layer_index"].tolist(), [layer_label(n, i) for n, i in zip(layers["layer"], layers["layer_index"])]


def plot_performance(models: pd.DataFrame, svm: pd.DataFrame | None, arch_labels: dict, path: Path) -> None:
    """Test performance vs number of layers per task; SVM baseline and chance on recognition."""
    tasks = _ordered_tasks(models["task"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.0 * len(tasks), 4.0), squeeze=False)
    families = sorted(models["family"].unique())
    colors = dict(zip(families, plt.cm.tab10.colors))
    for ax, task in zip(axes[0], tasks):
        sub = models[models["task"] == task]
        recognition = task == "recognition"
        column = "test_accuracy" if recognition else "test_position_error_cm"
        for f, family in enumerate(families):
            for trained, marker in ((True, "o"), (False, "x")):
                g = sub[(sub["family"] == family) & (sub["trained"] == trained)]
                if g.empty or column not in g:
                    continue
                offset = (f - (len(families) - 1) / 2) * 0.08  # keep families apart at equal depth
                ax.scatter(g["n_layers"] + offset, g[column], marker=marker, s=45, color=colors[family],
                           label=f"{FAMILY_LABELS.get(family, family)}, {'trained' if trained else 'untrained'}")
        if recognition:
            ax.axhline(1 / N_CLASSES, color="k", ls=":", lw=1, label=f"chance (1/{N_CLASSES})")
            if svm is not None and "spindles" in set(svm["representation"]):
                value = float(svm.loc[svm["representation"] == "spindles", "multiclass"].iloc[0])
                ax.axhline(value, color="tab:red", ls="--", lw=1.2,
                           label=f"linear SVM on spindle inputs ({value:.2f})")
            ax.set(ylim=(0, 1), ylabel="test accuracy (fraction of characters)")
        else:
            ax.set(ylabel="test hand position error (cm)")
            ax.set_ylim(bottom=0)
        depths = sorted(sub["n_layers"].unique())
        ax.set_xticks(depths)
        ax.set_xlim(depths[0] - 0.5, depths[-1] + 0.5)
        ax.set(xlabel="number of layers")
        ax.set_title(task_label(task), fontsize=10)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    _save(fig, path)


def _history_identity(path: Path) -> tuple[str, str, str]:
    """``.../<task>/<arch>/seed<N>/history.csv`` -> (task, arch, instance)."""
    parts = Path(path).parts
    return parts[-4], parts[-3], parts[-2]


def plot_learning_curves(histories: list[str], arch_labels: dict, path: Path) -> None:
    """Training (solid) and validation (dashed) metric per epoch, one panel per task."""
    if not histories:
        fig, ax = plt.subplots(figsize=(7, 1.2))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "No trained network in this run (only untrained controls): no learning curves.",
                ha="center", va="center", fontsize=10)
        _save(fig, path)
        return
    curves = []
    for file in histories:
        task, arch, instance = _history_identity(file)
        curves.append((task, arch, instance, pd.read_csv(file)))
    tasks = _ordered_tasks(c[0] for c in curves)
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        metric = "accuracy" if task == "recognition" else "position_error_cm"
        for k, (_, arch, instance, history) in enumerate(c for c in curves if c[0] == task):
            color = plt.cm.tab10.colors[k % 10]
            epochs = history["epoch"] + 1
            name = f"{arch_labels.get(arch, arch)}, seed {parse_instance(instance).seed}"
            if metric in history:
                ax.plot(epochs, history[metric], color=color, marker="o", ms=3, label=f"{name}: training")
            if f"val_{metric}" in history and history[f"val_{metric}"].notna().any():
                ax.plot(epochs, history[f"val_{metric}"], color=color, ls="--", marker="o", ms=3,
                        label=f"{name}: validation")
        ax.set(xlabel="epoch", ylabel="accuracy (fraction of characters)" if metric == "accuracy"
               else "hand position error (cm)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_title(task_label(task), fontsize=10)
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    _save(fig, path)


def plot_fractions(fractions: pd.DataFrame, arch_labels: dict, path: Path) -> None:
    """Tuned fraction vs layer for each encoding model; one row (with its title) per network."""
    panels = sorted(set(zip(fractions["task"], fractions["architecture"])))
    models = [m for m in ENCODING_MODELS if m in set(fractions["encoding_model"])]
    fig = plt.figure(figsize=(2.2 * len(models), 2.9 * len(panels)), layout="constrained")
    subfigures = np.atleast_1d(fig.subfigures(len(panels), 1))
    for subfig, (task, arch) in zip(subfigures, panels):
        subfig.suptitle(f"{arch_labels.get(arch, arch)}, {task_label(task)}", x=0.01, ha="left",
                        fontsize=10, fontweight="bold")
        axes = np.atleast_1d(subfig.subplots(1, len(models), sharey=True))
        sub = fractions[(fractions["task"] == task) & (fractions["architecture"] == arch)]
        ticks, names = _layer_ticks(sub)
        for ax, model in zip(axes, models):
            for trained, style in TRAINED_STYLE.items():
                data = sub[(sub["encoding_model"] == model) & (sub["trained"] == trained)]
                if data.empty:
                    continue
                stats = data.groupby("layer_index")["fraction_tuned"].agg(["mean", "std"]).fillna(0)
                ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", ms=3, capsize=2,
                            color=style["color"], ls=style["ls"], label=style["label"])
            ax.set_xticks(ticks, names, rotation=60, fontsize=7)
            ax.set_xlim(min(ticks) - 0.5, max(ticks) + 0.5)
            ax.set_ylim(0, 1)
            ax.set_title(encoding_label(model), fontsize=8)
            ax.set_xlabel("layer", fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
        axes[0].set_ylabel("fraction of units tuned", fontsize=8)
        axes[0].legend(fontsize=7, loc="upper left")
    _save(fig, path)


def _model_rows(units: pd.DataFrame) -> list[tuple[str, str, bool]]:
    return sorted(set(zip(units["task"], units["architecture"], units["trained"])),
                  key=lambda r: (r[0], r[1], not r[2]))


def _model_name(task, arch, trained, arch_labels) -> str:
    return f"{arch_labels.get(arch, arch)}, {task_label(task)}, {TRAINED_STYLE[trained]['label']}"


def _row_label(ax, task, arch, trained, arch_labels) -> None:
    ax.text(-0.35, 0.5, f"{arch_labels.get(arch, arch)}\n{task_label(task)}\n{TRAINED_STYLE[trained]['label']}",
            transform=ax.transAxes, ha="right", va="center", fontsize=7)


def _per_layer_panels(units: pd.DataFrame, selected: pd.DataFrame, arch_labels: dict, path: Path,
                      draw, what: str, min_units: int) -> list[str]:
    """Grid of per-layer panels (rows: models) for the models with enough ``selected`` units.

    ``draw(fig, position, sel, trained, title)`` draws one layer's panel and returns its axes.
    Models without any layer of ``min_units`` selected units get no row: they are returned
    (name and largest count per layer) so the page can say so instead of showing empty
    panels. A layer with too few units inside a drawn row shows its count. When no model
    qualifies, the figure holds only that statement (the file exists for ``snakemake --report``).
    """
    notes, drawn = [], []
    for task, arch, trained in _model_rows(units):
        sel = selected[(selected["task"] == task) & (selected["architecture"] == arch)
                       & (selected["trained"] == trained)]
        counts = sel.groupby("layer_index").size()
        largest = int(counts.max()) if len(counts) else 0
        if largest >= min_units:
            drawn.append((task, arch, trained))
        else:
            notes.append(f"{_model_name(task, arch, trained, arch_labels)} (n={largest})")
    if not drawn:
        fig, ax = plt.subplots(figsize=(7, 1.2))
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"Too few {what} in every layer of every network (at least {min_units} needed).",
                ha="center", va="center", fontsize=10)
        _save(fig, path)
        return notes
    n_layers = int(units["layer_index"].max()) + 1
    fig = plt.figure(figsize=(2.2 * n_layers + 2.4, 2.5 * len(drawn)))
    for r, (task, arch, trained) in enumerate(drawn):
        names = units[(units["task"] == task) & (units["architecture"] == arch)].drop_duplicates(
            "layer_index").set_index("layer_index")["layer"]
        for index in names.index:
            sel = selected[(selected["task"] == task) & (selected["architecture"] == arch)
                           & (selected["trained"] == trained) & (selected["layer_index"] == index)]
            position = r * n_layers + int(index) + 1
            title = layer_label(names[index], index)
            if len(sel) < min_units:
                ax = fig.add_subplot(len(drawn), n_layers, position)
                _note(ax, f"too few {what}\n(n={len(sel)})")
                ax.set_title(title, fontsize=7)
            else:
                ax = draw(fig, (len(drawn), n_layers, position), sel, trained, title)
            if index == names.index.min():
                _row_label(ax, task, arch, trained, arch_labels)
    fig.tight_layout()
    _save(fig, path)
    return notes


def plot_directions(units: pd.DataFrame, directions: pd.DataFrame, arch_labels: dict, path: Path,
                    bins: int = 18, min_units: int = MIN_UNITS) -> list[str]:
    """Polar histograms of the preferred directions of tuned units: rows models, columns layers.

    Returns notes on the models left out for too few tuned units (see :func:`_per_layer_panels`).
    """
    tuned = units[(units["encoding_model"] == "direction") & units["tuned"]]
    edges = np.linspace(0, 2 * np.pi, bins + 1)

    def draw(fig, grid, sel, trained, title):
        ax = fig.add_subplot(*grid, projection="polar")
        counts, _ = np.histogram(np.radians(sel["pd_deg"]), bins=edges)
        ax.bar(edges[:-1], counts, width=edges[1] - edges[0], align="edge",
               color=TRAINED_STYLE[trained]["color"], alpha=0.8)
        ax.set_xticks(np.radians([0, 90, 180, 270]), ["0°", "90°", "180°", "270°"], fontsize=6)
        ax.set_yticks([])
        first = sel.iloc[0]
        stats = directions[(directions["task"] == first["task"]) & (directions["architecture"] == first["architecture"])
                           & (directions["trained"] == trained) & (directions["layer_index"] == first["layer_index"])]
        ax.set_title(f"{title}\nn={len(sel)}, D={stats['deviation_from_uniform'].mean():.2f}, "
                     f"p={stats['rayleigh_p'].median():.2g}", fontsize=7)
        return ax

    return _per_layer_panels(units, tuned, arch_labels, path, draw, "direction-tuned units", min_units)


def plot_invariance(units: pd.DataFrame, threshold: float, arch_labels: dict, path: Path,
                    min_units: int = MIN_UNITS) -> list[str]:
    """Horizontal vs vertical preferred directions (deg) of units tuned in both planes, per layer.

    Returns notes on the models left out for too few such units (see :func:`_per_layer_panels`).
    """
    direction = units[units["encoding_model"] == "direction"]
    both = direction[(direction["r2_horizontal"] > threshold) & (direction["r2_vertical"] > threshold)]

    def draw(fig, grid, sel, trained, title):
        ax = fig.add_subplot(*grid)
        ax.scatter(sel["pd_horizontal_deg"], sel["pd_vertical_deg"], s=5,
                   color=TRAINED_STYLE[trained]["color"], alpha=0.6)
        ax.plot([0, 360], [0, 360], color="k", lw=0.5)
        ax.set(xlim=(0, 360), ylim=(0, 360), xticks=[0, 180, 360], yticks=[0, 180, 360])
        ax.tick_params(labelsize=6)
        ax.set_xlabel("horizontal PD (deg)", fontsize=6)
        ax.set_ylabel("vertical PD (deg)", fontsize=6)
        rho = circular_correlation(sel["pd_horizontal_deg"].to_numpy(), sel["pd_vertical_deg"].to_numpy())
        ax.set_title(f"{title}\nn={len(sel)}, r={rho:.2f}", fontsize=7)
        return ax

    return _per_layer_panels(units, both, arch_labels, path, draw, "units tuned in both planes", min_units)


def plot_cka(cka: pd.DataFrame, targets: pd.DataFrame, arch_labels: dict, path: Path) -> None:
    """Per (task, arch): CKA between layers (trained x trained, trained x untrained) and with references."""
    panels = sorted(set(zip(targets["task"], targets["architecture"])))
    fig, axes = plt.subplots(len(panels), 3, figsize=(14, 4.0 * len(panels)), squeeze=False)
    for row, (task, arch) in enumerate(panels):
        tg = targets[(targets["task"] == task) & (targets["architecture"] == arch)]
        ticks, names = _layer_ticks(tg)
        codes = tg.drop_duplicates("layer_index").sort_values("layer_index")["layer"].tolist()
        trained = sorted(tg.loc[tg["trained"], "instance"].unique())
        control = sorted(tg.loc[~tg["trained"], "instance"].unique())
        sub = cka[(cka["task"] == task) & (cka["architecture"] == arch)]
        model = f"{arch_labels.get(arch, arch)}, {task_label(task)}"
        for col, (kind, first, second) in enumerate((("trained", trained, trained),
                                                    ("untrained", trained, control))):
            ax = axes[row, col]
            if not first or not second:
                _note(ax, f"no {kind} instance of this model")
                continue
            pairs = sub[sub["instance_a"].isin(first) & sub["instance_b"].isin(second)]
            if kind == "trained" and len(first) > 1:
                pairs = pairs[pairs["instance_a"] != pairs["instance_b"]]  # across seeds
                title = "trained vs trained (other seeds)"
            elif kind == "trained":
                title = "between layers of the trained network"
            else:
                title = "trained (rows) vs untrained (columns)"
            matrix = pairs.pivot_table(index="layer_a", columns="layer_b", values="cka", aggfunc="mean")
            matrix = matrix.reindex(index=codes, columns=codes)
            image = ax.imshow(matrix.values, vmin=0, vmax=1, cmap="viridis")
            ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            ax.set(xlabel="layer", ylabel="layer")
            ax.set_title(f"{model}\n{title}", fontsize=8)
            fig.colorbar(image, ax=ax, fraction=0.046).set_label("linear CKA", fontsize=7)
        ax = axes[row, 2]
        for target, color in zip(sorted(tg["target"].unique()), plt.cm.tab10.colors):
            for is_trained, style in TRAINED_STYLE.items():
                data = tg[(tg["target"] == target) & (tg["trained"] == is_trained)]
                if data.empty:
                    continue
                stats = data.groupby("layer_index")["cka"].mean()
                ax.plot(stats.index, stats.values, color=color, ls=style["ls"], marker="o", ms=3,
                        label=f"{TARGET_LABELS.get(target, target)} ({style['label']})")
        ax.set_xticks(ticks, names, rotation=60, fontsize=7)
        ax.set(ylim=(0, 1), ylabel="linear CKA", xlabel="layer")
        ax.set_title(f"{model}\nlayer vs input, kinematics and label", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    _save(fig, path)

