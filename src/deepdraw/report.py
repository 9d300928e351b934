"""The run's report: one self-contained HTML page and the figures it shows.

Sections follow the article's order: the dataset (sample and distribution figures, an
animation, optional dataset tables), task performance against depth with the linear SVM
baseline and learning curves, single-unit tuning, preferred directions, plane invariance,
representational similarity, and our numbers beside the study's. The page is rendered from a
Jinja2 template (``deepdraw/templates/report.html.j2``) that loops over :class:`Section`
objects, so a new section or sub-section is one more entry in :func:`build_sections`.
Figures are embedded as base64 images; tables use readable labels instead of code names.

Command line: ``python -m deepdraw.report --summary-dir ... --units ... --cka ... --targets ...
--analysis JSON --figure-dir DIR --html report.html`` plus the optional inputs
(``--models-summary``, ``--svm-summary``, ``--histories``, ``--data-figures``, ``--dataset``,
``--dataset-bias``), see ``--help``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jinja2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from deepdraw import cliutil  # noqa: E402
from deepdraw.contract import PLANES, parse_instance  # noqa: E402
from deepdraw.io import atomic_path  # noqa: E402
from deepdraw.tuning import ENCODING_MODELS, circular_correlation  # noqa: E402

log = logging.getLogger(__name__)

# --- readable labels for the code names of tasks, families, models and columns -------------
TASK_LABELS = {"recognition": "character recognition", "position": "hand position decoding",
               "position_velocity": "hand position and velocity decoding"}
FAMILY_LABELS = {"spatial_temporal": "spatial-temporal", "spatiotemporal": "spatiotemporal",
                 "recurrent": "LSTM"}
ENCODING_LABELS = {"direction": "movement direction", "speed": "speed", "velocity": "velocity",
                   "position_cartesian": "position (Cartesian)", "position_polar": "position (polar)",
                   "acceleration": "acceleration", "label": "character label"}
TARGET_LABELS = {"input": "spindle input", "hand_position": "hand position",
                 "hand_velocity": "hand velocity", "label": "character label"}
REPRESENTATION_LABELS = {"spindles": "spindle inputs", "muscle_length": "muscle lengths",
                         "joints": "joint angles", "hand": "hand trajectory"}
PLANE_LABELS = {"horizontal": "horizontal plane", "vertical": "vertical plane"}
TRAINED_STYLE = {True: {"color": "tab:blue", "ls": "-", "label": "trained"},
                 False: {"color": "tab:gray", "ls": "--", "label": "untrained"}}
#: Fewer tuned units than this in a layer: no histogram or correlation is drawn, only a note.
MIN_UNITS = 5
N_CLASSES = 20
#: More (task, architecture) networks than this: figures and per-layer tables show the best of
#: each family per task (a figure row per network would exceed what matplotlib can draw).
MAX_NETWORKS = 8
FIGURES = ("performance", "learning_curves", "fractions", "directions", "invariance", "cka")

#: The study's numbers (Sandbrink et al., eLife 2023; about 10^6 samples, split by sample).
STUDY = {
    "best_recognition": "0.989 test accuracy (best spatial-temporal network); spatiotemporal ≈ 0.978; "
                        "LSTM 0.995–0.997 (validation)",
    "svm_multiclass": "≈ 0.23 (multiclass linear SVM on spindle inputs)",
    "svm_pairwise": "0.866 ± 0.125 (pairwise linear SVMs on spindle inputs)",
    "untrained": "untrained networks serve as controls (not reported as accuracies)",
    "directions": "uniformly spread preferred directions only in recognition-trained models, "
                  "not in trajectory-decoding-trained or untrained ones",
    "fractions": "units tuned to direction, velocity and position in both trained and untrained "
                 "networks; fractions shown per layer in the study's figures",
    "invariance": "trained networks keep their preferred directions across planes more than "
                  "untrained ones",
    "label": "label tuning measured by a one-vs-rest linear SVM per unit, score 2 (AUC − 0.5)",
}


def _ordered_tasks(tasks) -> list[str]:
    """Distinct tasks, the article's first (recognition, then decoding), others after."""
    distinct = set(tasks)
    return [t for t in TASK_LABELS if t in distinct] + sorted(distinct - set(TASK_LABELS))


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task.replace("_", " "))


def encoding_label(model: str) -> str:
    return ENCODING_LABELS.get(model, model.replace("_", " "))


def layer_label(name: str, index: int) -> str:
    """``temporal1`` at index 4 -> ``L4 temporal``: depth first (0 = spindle input), then the block kind."""
    kind = re.sub(r"\d+$", "", str(name))
    return f"L{int(index)} {kind}"


def _lengths(value) -> int:
    """Number of layers of a hyper-parameter list stored as JSON text in the models table."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return 0
    return len(json.loads(value)) if isinstance(value, str) else len(value)


def architecture_labels(models: pd.DataFrame | None, names) -> dict[str, str]:
    """Readable label per architecture name, from the family and layer counts of the models table.

    Falls back to the name with spaces when the table is missing; identical labels of two
    architectures get a running number so that figure rows stay distinguishable.
    """
    labels = {}
    rows = {} if models is None else {r["name"]: r for _, r in models.drop_duplicates("name").iterrows()}
    for name in names:
        row = rows.get(name)
        if row is None:
            labels[name] = str(name).replace("_", " ")
            continue
        family = row.get("family")
        spatial = _lengths(row.get("arch_spatial_filters"))
        if family == "spatial_temporal":
            temporal = _lengths(row.get("arch_temporal_filters"))
            depth = f"{spatial + temporal} layers ({spatial} spatial, {temporal} temporal)"
        elif family == "spatiotemporal":
            n = _lengths(row.get("arch_filters"))
            depth = f"{n} layer{'s' if n != 1 else ''}"
        elif family == "recurrent":
            lstm = _lengths(row.get("arch_lstm_units"))
            depth = f"{spatial + lstm} layers ({spatial} spatial, {lstm} LSTM)"
        else:
            depth = f"{row.get('n_layers')} layers"
        labels[name] = f"{FAMILY_LABELS.get(family, str(family))}, {depth}"
    counts, seen = Counter(labels.values()), Counter()
    for name in sorted(labels):
        label = labels[name]
        if counts[label] > 1:
            seen[label] += 1
            labels[name] = f"{label} #{seen[label]}"
    return labels


# --- page structure ---------------------------------------------------------------------------
@dataclass
class Figure:
    caption: str
    alt: str
    data: str  # base64
    mime: str = "image/png"

    @classmethod
    def from_file(cls, path: str | Path, caption: str, alt: str) -> "Figure":
        path = Path(path)
        mime = "image/gif" if path.suffix.lower() == ".gif" else "image/png"
        return cls(caption=caption, alt=alt, data=base64.b64encode(path.read_bytes()).decode(), mime=mime)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[tuple[str, bool]]]  # (cell text, is text: left-aligned) per cell
    caption: str


@dataclass
class Part:
    title: str = ""
    text: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Section:
    id: str
    title: str
    intro: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)


def html_table(frame: pd.DataFrame, caption: str, text_columns: tuple[str, ...] = ()) -> Table:
    """A readable table: numbers to 3 significant digits, missing values as an en dash.

    Columns in ``text_columns`` or holding any non-numeric text are left-aligned.
    """
    def fmt(value) -> str:
        if value is None or value is pd.NA:
            return "–"
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (float, np.floating)):
            return "–" if np.isnan(value) else f"{value:.3g}"
        return str(value)

    cells = [[fmt(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    numeric = re.compile(r"[-+–\d.e ±%]*")
    text = [c in text_columns or any(not numeric.fullmatch(row[k]) for row in cells)
            for k, c in enumerate(frame.columns)]
    rows = [[(value, text[k]) for k, value in enumerate(row)] for row in cells]
    return Table(columns=[str(c) for c in frame.columns], rows=rows, caption=caption)


# --- figures ----------------------------------------------------------------------------------
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


# --- tables -----------------------------------------------------------------------------------
def _readable(frame: pd.DataFrame, arch_labels: dict) -> pd.DataFrame:
    """Code values of the identity columns -> readable labels (layers as ``L<depth> kind``)."""
    out = frame.copy()
    if "task" in out:
        out["task"] = out["task"].map(task_label)
    if "architecture" in out:
        out["architecture"] = out["architecture"].map(lambda a: arch_labels.get(a, a))
    if "encoding_model" in out:
        out["encoding_model"] = out["encoding_model"].map(encoding_label)
    if "target" in out:
        out["target"] = out["target"].map(lambda t: TARGET_LABELS.get(t, t))
    if "layer" in out and "layer_index" in out:
        out["layer"] = [layer_label(n, i) for n, i in zip(out["layer"], out["layer_index"])]
    if "trained" in out:
        out["trained"] = out["trained"].map({True: "trained", False: "untrained"})
    return out


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
            text += f" (p={row['p_bonferroni']:.2g})"
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


def study_comparison(settings: dict, fractions: pd.DataFrame, directions: pd.DataFrame,
                     invariance: pd.DataFrame, models: pd.DataFrame | None = None,
                     svm: pd.DataFrame | None = None, arch_labels: dict | None = None,
                     min_units: int = MIN_UNITS) -> pd.DataFrame:
    """Our numbers beside the study's, in the order of the article.

    Direction statistics use only layers with at least ``min_units`` tuned units (a
    histogram of fewer directions says nothing about uniformity).
    """
    arch_labels = arch_labels or {}
    rows = []
    if models is not None and "test_accuracy" in models:
        rec = models[(models["task"] == "recognition") & models["trained"]].dropna(subset=["test_accuracy"])
        if len(rec):
            best = rec.loc[rec["test_accuracy"].idxmax()]
            rows.append({"quantity": "best recognition network, test accuracy",
                         "study": STUDY["best_recognition"],
                         "ours": f"{best['test_accuracy']:.3f} ({arch_labels.get(best['name'], best['name'])}, "
                                 f"seed {best['seed']})"})
        control = models[(models["task"] == "recognition") & ~models["trained"]].dropna(subset=["test_accuracy"])
        if len(control):
            rows.append({"quantity": "untrained controls, recognition test accuracy",
                         "study": STUDY["untrained"],
                         "ours": f"{control['test_accuracy'].min():.3f}–{control['test_accuracy'].max():.3f} "
                                 f"(chance {1 / N_CLASSES:.2f})"})
    if svm is not None and "spindles" in set(svm["representation"]):
        spindles = svm[svm["representation"] == "spindles"].iloc[0]
        rows.append({"quantity": "linear SVM on spindle inputs, multiclass accuracy",
                     "study": STUDY["svm_multiclass"], "ours": f"{spindles['multiclass']:.3f}"})
        rows.append({"quantity": "linear SVMs on spindle inputs, pairwise accuracy",
                     "study": STUDY["svm_pairwise"],
                     "ours": f"{spindles['pairwise_mean']:.3f} ± {spindles['pairwise_sd']:.3f}"})
    rows.append({"quantity": "definition of a tuned unit", "study": "test R² > 0.2 (80/20 split)",
                 "ours": f"test R² > {settings['r2_threshold']} ({settings['train_fraction']:.0%} of the "
                         "samples for fitting)"})
    for trained in (True, False):
        kind = "trained" if trained else "untrained"
        frac = fractions[fractions["trained"] == trained]
        for model in ("direction", "velocity", "position_cartesian"):
            per_layer = frac[frac["encoding_model"] == model].groupby("layer_index")["fraction_tuned"].mean()
            if len(per_layer):
                rows.append({"quantity": f"fraction tuned to {encoding_label(model)}, {kind} networks "
                                         "(first → last layer, mean over networks)",
                             "study": STUDY["fractions"],
                             "ours": " → ".join(f"{v:.2f}" for v in per_layer.values)})
    for trained in (True, False):
        kind = "trained" if trained else "untrained"
        dirs = directions[(directions["trained"] == trained) & (directions["n_tuned"] >= min_units)]
        rows.append({"quantity": f"deviation of preferred directions from uniform, {kind} (mean over layers)",
                     "study": STUDY["directions"],
                     "ours": f"{dirs['deviation_from_uniform'].mean():.2f} over {dirs['layer'].nunique()} layers "
                             f"(Rayleigh p median {dirs['rayleigh_p'].median():.2g})" if len(dirs) else
                             f"too few tuned units: no layer with {min_units} or more direction-tuned units"})
    for trained in (True, False):
        kind = "trained" if trained else "untrained"
        inv = invariance[(invariance["trained"] == trained) & (invariance["n_tuned_both_planes"] >= min_units)]
        rows.append({"quantity": f"plane invariance of preferred directions, {kind} (mean over layers)",
                     "study": STUDY["invariance"],
                     "ours": f"circular r {inv['plane_circular_correlation'].mean():.2f}, median |ΔPD| "
                             f"{inv['plane_median_difference_deg'].mean():.0f}°" if len(inv) else
                             f"too few tuned units: no layer with {min_units} or more units tuned in both planes"})
    label = fractions[fractions["encoding_model"] == "label"]
    ours = "R² of a one-hot label regression"
    if "median_label_score" in label and label["median_label_score"].notna().any():
        by_kind = label.groupby("trained")["median_label_score"].mean()
        ours = ("one-vs-rest score 2 (AUC − 0.5) per unit (exact for a linear SVM on one unit); "
                "median over units, mean over layers: " +
                ", ".join(f"{'trained' if k else 'untrained'} {v:.2f}" for k, v in by_kind.items()))
    rows.append({"quantity": "label tuning", "study": STUDY["label"], "ours": ours})
    return pd.DataFrame(rows)


# --- captions (also in report/*.rst for ``snakemake --report``) -------------------------------
CAPTIONS = {
    "performance": "Test performance of every network against its number of layers, one colour per "
                   "family (circles: trained; crosses: untrained controls with the same architecture). "
                   "Recognition: fraction of test characters recognised, with chance (1/20, dotted) and the "
                   "multiclass linear SVM on the spindle inputs (dashed). Decoding: mean distance between "
                   "decoded and true hand position (cm).",
    "learning_curves": "Learning curves of the trained networks: training (solid) and validation (dashed) "
                       "accuracy or hand position error (cm) per epoch.",
    "fractions": "Fraction of units tuned (test R² above {threshold}) per layer and encoding model; "
                 "trained (blue, solid) vs untrained (grey, dashed) networks, mean ± SD over instances. "
                 "Layers are numbered by depth (L1 = first hidden layer).",
    "directions": "Preferred movement directions of the direction-tuned units per layer (polar histograms, "
                  "{bins} bins, pooled over instances; 0° = rightwards in the writing plane). D = deviation "
                  "from uniform (0 = uniform), p = Rayleigh test of uniformity. Layers with fewer than "
                  "{min_units} tuned units show their count instead of a histogram.",
    "invariance": "Preferred directions (deg) fitted separately on horizontal and vertical samples, for units "
                  "tuned in both planes; points on the diagonal keep their direction across planes, r is the "
                  "circular correlation. Layers with fewer than {min_units} such units show their count.",
    "cka": "Linear CKA (0 = unrelated, 1 = identical up to rotation and scale) between the layers of a "
           "trained network and of another trained seed or an untrained control, and of every layer with "
           "the spindle input, the hand position and velocity and the character label (right; trained "
           "solid, untrained dashed).",
}


def _caption(name: str, settings: dict) -> str:
    return CAPTIONS[name].format(threshold=settings["r2_threshold"], bins=settings["direction_bins"],
                                 min_units=MIN_UNITS)


DATA_FIGURE_CAPTIONS = {
    "samples": "Samples in the {plane}, one row each. From left: the character as the hand drew it in the "
               "plane's coordinates (cm; colour = time, triangle = start); the hand path in the world frame "
               "(cm, origin at the shoulder) with the arm at four instants; the four joint angles (deg); "
               "the 25 noise-free muscle lengths minus each muscle's mean (mm); the spindle inputs the "
               "networks receive: length minus its mean (mm) and velocity (mm/s). Dashed lines: start and "
               "end of the movement in the 4.8 s window.",
    "distributions": "Distributions over the dataset: augmentation latents, letters, movement durations (s), "
                     "start points in two projections per plane (cm, world frame; + = shoulder) and joint "
                     "angles during the movements (deg).",
    "drawing": "The arm (shoulder, elbow, hand; world frame, cm) drawing one character, with the hand path "
               "so far in red.",
}


def data_figures(paths: list[str]) -> list[Figure]:
    """Figures of ``deepdraw.datafigures`` (sample figures per plane, distributions, animation)."""
    def order(path):  # samples per plane first, then distributions, then the animation
        stem = Path(path).stem
        return (0 if stem.startswith("samples_") else 1 if stem == "distributions" else 2, stem)

    figures = []
    for path in sorted(paths, key=order):
        stem = Path(path).stem
        if stem.startswith("samples_"):
            plane = PLANE_LABELS.get(stem.removeprefix("samples_"), stem.removeprefix("samples_"))
            caption, alt = DATA_FIGURE_CAPTIONS["samples"].format(plane=plane), f"samples, {plane}"
        elif stem in DATA_FIGURE_CAPTIONS:
            caption, alt = DATA_FIGURE_CAPTIONS[stem], stem
        else:
            raise ValueError(f"{path}: not a data figure of deepdraw.datafigures (samples_<plane>.png, "
                             "distributions.png, drawing.gif)")
        figures.append(Figure.from_file(path, caption, alt))
    return figures


# --- assembling the page ----------------------------------------------------------------------
def comparison_part(comparison: pd.DataFrame, arch_labels: dict) -> Part:
    """Trained against untrained tuned fractions, with a note when no test was possible."""
    table, tested = comparison_table(comparison, arch_labels)
    n_trained = int(comparison["n_trained"].max()) if len(comparison) else 0
    n_untrained = int(comparison["n_untrained"].max()) if len(comparison) else 0
    notes = [] if tested else [
        f"No test of trained against untrained: it needs at least two instances of each (this run has "
        f"{n_trained} trained and {n_untrained} untrained per network; config training.seeds and "
        "training.untrained_seeds)."]
    return Part(title="Trained against untrained", notes=notes, tables=[html_table(
        table, "Mean fraction of units tuned per layer, trained vs untrained instances of each network; p: "
        "paired t-test over seeds (Welch's t-test when seeds do not pair up), Bonferroni-corrected over "
        "layers.")])


def build_sections(*, settings: dict, figures: dict[str, Path], fractions, comparison, directions,
                   invariance, targets, study, arch_labels, models=None, svm=None, data_figure_paths=(),
                   dataset_path=None, dataset_bias=None, notes=None, drawn=None,
                   focus_note=()) -> list[Section]:
    """The report's sections in the article's order (add a section or part here).

    ``notes`` (figure name -> networks left out of it for too few units) become one note
    above the figure; ``drawn`` (figure name -> bool) False shows only that note, for a figure
    that has nothing but a statement to show.
    """
    notes, drawn = notes or {}, drawn or {}

    def fig(name, alt):
        return Figure.from_file(figures[name], _caption(name, settings), alt)

    def figure_part(name, alt, what):
        left_out = notes.get(name, [])
        text = []
        if left_out:
            text = [("No figure: too few" if not drawn.get(name, True) else "Not drawn, too few")
                    + f" {what} (at least {MIN_UNITS} in one layer needed; n = the most in any layer) in: "
                    + "; ".join(left_out) + "."]
        return Part(notes=text, figures=[fig(name, alt)] if drawn.get(name, True) else [])

    dataset = Section("dataset", "Dataset", intro=[
        "Handwritten characters (UCI Character Trajectories) are augmented (size, rotation, shear, speed), "
        "placed at a reachable start point in a horizontal or vertical plane and traced by a four-joint "
        "arm; 25 muscle lengths of the MoBL-ARMS model and their velocities form the networks' input."])
    if dataset_path is not None:
        dataset.parts.append(Part(title="Contents", tables=[html_table(
            dataset_facts(dataset_path), "Samples per plane and split, letters and how the dataset was "
            "made.", text_columns=("quantity", "value"))]))
    if data_figure_paths:
        titles = {"samples": "What a sample looks like", "distributions": "Distributions over the dataset",
                  "drawing": "The arm drawing a character"}
        unknown = [p for p in data_figure_paths if Path(p).stem.split("_")[0] not in titles]
        data_figures(unknown)  # raises, naming the file
        for kind, title in titles.items():
            paths = [p for p in data_figure_paths if Path(p).stem.split("_")[0] == kind]
            if paths:
                dataset.parts.append(Part(title=title, figures=data_figures(paths)))
    else:
        dataset.parts.append(Part(notes=["No data figures were given to the report (rule data_figures)."]))
    if dataset_bias is not None:
        dataset.parts.append(Part(title="Dataset bias", tables=[html_table(
            dataset_bias, "Rejection bias: does rejecting candidates (kinematic and muscle tests) change the "
            "distributions the generator draws from? Chi-square tests of the accepted samples' latents and "
            "start points against uniform and of their letters against the letters requested, start points "
            "never used against chance, and the muscle-related rejections.")]))

    performance = Section("performance", "Task performance against depth", intro=[
        "Networks of three families are trained to recognise the character or to decode the hand position "
        "from the spindle inputs; untrained copies with random weights are the controls and linear SVMs the "
        "baseline the networks must beat."])
    if models is not None:
        performance.parts.append(Part(figures=[fig("performance", "test performance against number of layers")]))
        if "learning_curves" in figures:
            performance.parts.append(Part(title="Learning curves",
                                          figures=[fig("learning_curves", "learning curves")]))
        for task in _ordered_tasks(models["task"]):
            performance.parts.append(Part(title=f"All networks: {task_label(task)}", tables=[html_table(
                models_table(models[models["task"] == task], arch_labels),
                "Every trained network and untrained control: depth, parameters, epochs trained and "
                + ("accuracy (fraction of characters recognised)" if task == "recognition"
                   else "mean hand position error (cm)") + " on the training, validation and test samples.")]))
    else:
        performance.parts.append(Part(notes=["No model summary was given to the report."]))
    if svm is not None:
        performance.parts.append(Part(title="Linear SVM baseline", tables=[html_table(
            svm_table(svm), "Linear one-vs-one SVMs on flattened representations of each sample: mean ± SD "
            "accuracy of the pairwise classifiers (chance 0.5) and accuracy of their multiclass vote.")]))

    tuning = Section("tuning", "Single-unit tuning", intro=[
        f"Each hidden unit's activity is regressed on the hand's kinematics at the time its receptive field "
        f"covers; a unit is tuned to a model when the held-out R² exceeds {settings['r2_threshold']} "
        f"({settings['n_test_samples']} test samples per network)."],
        parts=[Part(notes=list(focus_note), figures=[fig("fractions", "fraction of tuned units per layer")]),
               comparison_part(comparison, arch_labels)])

    directions_section = Section("directions", "Preferred directions", parts=[
        figure_part("directions", "preferred direction histograms", "direction-tuned units"),
        Part(tables=[html_table(directions_table(directions, arch_labels),
                                "Direction-tuned units per layer (mean over instances), the study's deviation "
                                "from uniform D and the Rayleigh test of uniformity (median p).")])])

    invariance_section = Section("invariance", "Invariance across planes", parts=[
        figure_part("invariance", "preferred directions horizontal vs vertical", "units tuned in both planes"),
        Part(tables=[html_table(invariance_table(invariance, arch_labels),
                                "Units tuned to direction in both planes, circular correlation and median "
                                "difference of their preferred directions, and the R² of the direction model "
                                "fitted on one plane and tested on the other.")])])

    similarity = Section("similarity", "Representational similarity", parts=[
        Part(figures=[fig("cka", "CKA matrices and layer-vs-reference similarity")]),
        Part(tables=[html_table(targets_table(targets, arch_labels),
                                "Linear CKA of every layer with the spindle input, the hand position and "
                                "velocity and the character label (mean over instances).")])])

    comparison_section = Section("study", "Our numbers beside the study's", intro=[
        "Sandbrink et al. (eLife 2023) trained on about 10^6 samples split by sample; this run's size and "
        "split are in the Dataset section."],
        parts=[Part(tables=[html_table(study, "Our results next to the study's, in the order of the article.",
                                       text_columns=("quantity", "study", "ours"))])])
    return [dataset, performance, tuning, directions_section, invariance_section, similarity,
            comparison_section]


def render_html(sections: list[Section], title: str, subtitle: str) -> str:
    """Render the report template (package data ``deepdraw/templates/report.html.j2``)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("deepdraw", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(title=title, subtitle=subtitle, sections=sections)


def _read_optional(path) -> pd.DataFrame | None:
    return None if path is None else pd.read_csv(path)


def focus_networks(pairs: set[tuple[str, str]], models: pd.DataFrame | None,
                   limit: int = MAX_NETWORKS) -> set[tuple[str, str]]:
    """The (task, architecture) networks the per-layer figures and tables show.

    All of them up to ``limit``; beyond, the best trained network of each family per task (test
    accuracy for recognition, smallest position error otherwise), or the first ``limit`` in
    name order when the models table is missing.
    """
    if len(pairs) <= limit:
        return set(pairs)
    if models is None:
        return set(sorted(pairs)[:limit])
    chosen = set()
    trained = models[models["trained"]]
    for (task, _family), group in trained.groupby(["task", "family"]):
        if "test_accuracy" in group and group["test_accuracy"].notna().any():
            best = group.loc[group["test_accuracy"].idxmax(), "name"]
        elif "test_position_error_cm" in group and group["test_position_error_cm"].notna().any():
            best = group.loc[group["test_position_error_cm"].idxmin(), "name"]
        else:
            best = sorted(group["name"])[0]
        if (task, best) in pairs:
            chosen.add((task, best))
    return chosen or set(sorted(pairs)[:limit])


def _only(frame: pd.DataFrame, networks: set[tuple[str, str]]) -> pd.DataFrame:
    keep = [(t, a) in networks for t, a in zip(frame["task"], frame["architecture"])]
    return frame[keep] if len(frame) else frame


def build_report(summary_dir: str, unit_tables: list[str], cka_path: str, targets_path: str,
                 settings: dict, figure_dir: str, html_path: str, *, models_summary: str | None = None,
                 svm_summary: str | None = None, histories: list[str] = (), data_figure_paths: list[str] = (),
                 dataset: str | None = None, dataset_bias: str | None = None, run: str | None = None) -> None:
    """Make the figures and ``study_comparison.csv`` in ``figure_dir``, and the HTML page."""
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
    models, svm = _read_optional(models_summary), _read_optional(svm_summary)
    if models is not None:
        models["trained"] = models["trained"].astype(bool)
    names = set(fractions["architecture"]) | set(targets["architecture"])
    if models is not None:
        names |= set(models["name"])
    arch_labels = architecture_labels(models, sorted(names))

    pairs = set(zip(fractions["task"], fractions["architecture"]))
    networks = focus_networks(pairs, models)
    focus_note = [] if networks == pairs else [
        f"This run has {len(pairs)} networks; the figures and tables of this and the following sections show "
        f"the best trained network of each family per task ({len(networks)} networks, with their untrained "
        "controls). The summary tables beside this report (analysis/summary/*.csv) hold all of them."]
    study = study_comparison(settings, fractions, directions, invariance, models, svm, arch_labels)
    fractions, directions, invariance, comparison, units, targets = (
        _only(frame, networks) for frame in (fractions, directions, invariance, comparison, units, targets))
    cka = _only(cka, networks)

    out = Path(figure_dir)
    figures = {name: out / f"{name}.png" for name in FIGURES}
    if models is not None:
        plot_performance(models, svm, arch_labels, figures["performance"])
    plot_learning_curves(list(histories), arch_labels, figures["learning_curves"])
    if not histories:
        del figures["learning_curves"]  # the file says so; the page leaves the part out
    plot_fractions(fractions, arch_labels, figures["fractions"])
    n_rows = len(_model_rows(units))
    notes = {"directions": plot_directions(units, directions, arch_labels, figures["directions"],
                                           settings["direction_bins"]),
             "invariance": plot_invariance(units, settings["r2_threshold"], arch_labels, figures["invariance"])}
    drawn = {name: len(found) < n_rows for name, found in notes.items()}
    plot_cka(cka, targets, arch_labels, figures["cka"])
    with atomic_path(out / "study_comparison.csv") as tmp:
        study.to_csv(tmp, index=False)

    sections = build_sections(settings=settings, figures=figures, fractions=fractions, comparison=comparison,
                              directions=directions, invariance=invariance, targets=targets, study=study,
                              arch_labels=arch_labels, models=models, svm=svm,
                              data_figure_paths=data_figure_paths, dataset_path=dataset,
                              dataset_bias=_read_optional(dataset_bias), notes=notes, drawn=drawn,
                              focus_note=focus_note)
    n_models = len(unit_tables)
    title = f"deepdraw: task-driven models of proprioception{f' — run {run}' if run else ''}"
    subtitle = (f"A reproduction of Sandbrink et al. (eLife 2023). {n_models} network instances analysed "
                f"(trained and untrained), tuning on {settings['n_test_samples']} test samples per network.")
    with atomic_path(html_path) as tmp:
        tmp.write_text(render_html(sections, title, subtitle), encoding="utf-8")
    log.info("report -> %s", html_path)


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.report", __doc__.split("\n\n")[0])
    parser.add_argument("--summary-dir", required=True, help="folder of the tuning summary CSVs")
    parser.add_argument("--units", nargs="+", required=True, help="per-model unit tables (.parquet)")
    parser.add_argument("--cka", required=True, help="similarity/cka.csv")
    parser.add_argument("--targets", required=True, help="similarity/targets.csv")
    parser.add_argument("--analysis", required=True, help="the config's analysis section, JSON")
    parser.add_argument("--figure-dir", required=True)
    parser.add_argument("--html", required=True)
    parser.add_argument("--models-summary", help="models/summary.csv (performance against depth)")
    parser.add_argument("--svm-summary", help="svm/summary.csv (linear SVM baseline)")
    parser.add_argument("--histories", nargs="*", default=[], help="history.csv of trained models "
                        "(.../<task>/<arch>/seed<N>/history.csv): learning curves")
    parser.add_argument("--data-figures", nargs="*", default=[], help="figures of deepdraw.datafigures")
    parser.add_argument("--dataset", help="dataset.zarr (sample counts and provenance)")
    parser.add_argument("--dataset-bias", help="CSV table for the dataset bias part of the dataset section")
    parser.add_argument("--run", help="run name shown in the title")
    args = cliutil.parse_args(parser, argv)
    build_report(args.summary_dir, args.units, args.cka, args.targets, json.loads(args.analysis),
                 args.figure_dir, args.html, models_summary=args.models_summary, svm_summary=args.svm_summary,
                 histories=args.histories, data_figure_paths=args.data_figures, dataset=args.dataset,
                 dataset_bias=args.dataset_bias, run=args.run)


if __name__ == "__main__":
    main()
