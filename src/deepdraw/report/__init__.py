"""The run's report: one self-contained HTML page, its figures and the comparison with the study.

Sections follow the article's order: the dataset (sample and distribution figures, an
animation, optional dataset tables), task performance against depth with the linear SVM
baseline and learning curves, single-unit tuning, preferred directions, plane invariance (the
study's parallel planes at several heights, and horizontal against vertical), representational
similarity, and our numbers beside the study's (:mod:`deepdraw.study`). The page is rendered
from a Jinja2 template (``deepdraw/templates/report.html.j2``) that loops over
:class:`~deepdraw.report.page.Section` objects, so a new section or sub-section is one more
entry in :func:`~deepdraw.report.sections.build_sections`.

Modules: :mod:`~deepdraw.report.labels` (readable names), :mod:`~deepdraw.report.page`
(page structure, HTML), :mod:`~deepdraw.report.figures`, :mod:`~deepdraw.report.tables`,
:mod:`~deepdraw.report.comparison` (``study_comparison.csv``), :mod:`~deepdraw.report.sections`.

Command line: ``python -m deepdraw.report --summary-dir ... --units ... --cka ... --targets ...
--analysis JSON --figure-dir DIR --html report.html`` plus the optional inputs
(``--models-summary``, ``--svm-summary``, ``--histories``, ``--data-figures``, ``--dataset``,
``--dataset-bias``, ``--invariance-heights``, ``--invariance-comparison``, ``--study``), see
``--help``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from deepdraw import cliutil
from deepdraw.invariance.summary import plot_deviation_curves
from deepdraw.io import atomic_path
from deepdraw.report.comparison import COLUMNS as STUDY_COLUMNS
from deepdraw.report.comparison import study_comparison
from deepdraw.report.figures import (_model_rows, plot_cka, plot_directions, plot_fractions, plot_invariance,
                                     plot_learning_curves, plot_performance)
from deepdraw.report.labels import (FIGURES, MAX_NETWORKS, MIN_UNITS, architecture_labels, encoding_label,
                                    layer_label, task_label)
from deepdraw.report.page import Figure, Part, Section, Table, html_table, render_html
from deepdraw.report.sections import build_sections
from deepdraw.report.tables import comparison_table

log = logging.getLogger(__name__)

__all__ = ["FIGURES", "MAX_NETWORKS", "MIN_UNITS", "STUDY_COLUMNS", "Figure", "Part", "Section", "Table",
           "architecture_labels", "build_report", "build_sections", "comparison_table", "encoding_label",
           "focus_networks", "html_table", "layer_label", "main", "render_html", "study_comparison",
           "task_label"]


def _read_optional(path) -> pd.DataFrame | None:
    return None if path is None else pd.read_csv(path)


def _read_optional_table(path: Path) -> pd.DataFrame | None:
    """A summary table that may be absent or empty (no rows and no header): None then."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None


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
                 dataset: str | None = None, dataset_bias: str | None = None, run: str | None = None,
                 invariance_heights: str | None = None, invariance_comparison: str | None = None,
                 study_path: str | None = None) -> None:
    """Make the figures in ``figure_dir``, ``study_comparison.csv`` and the HTML page.

    ``study_path``: where to write the comparison with the study (default: ``figure_dir``'s
    parent, i.e. ``analysis/study_comparison.csv``). ``invariance_heights`` and
    ``invariance_comparison``: the plane-invariance tables (:mod:`deepdraw.invariance`).
    """
    summary = Path(summary_dir)
    fractions = pd.read_csv(summary / "fractions.csv")
    directions = pd.read_csv(summary / "directions.csv")
    invariance = pd.read_csv(summary / "invariance.csv")
    comparison = pd.read_csv(summary / "comparison.csv")
    direction_comparison = _read_optional_table(summary / "direction_comparison.csv")
    heights, inv_comparison = _read_optional(invariance_heights), _read_optional(invariance_comparison)
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
    study = study_comparison(settings, fractions, directions, comparison, models, svm, arch_labels,
                             direction_comparison, heights, inv_comparison)
    fractions, directions, invariance, comparison, units, targets = (
        _only(frame, networks) for frame in (fractions, directions, invariance, comparison, units, targets))
    if heights is not None:
        heights, inv_comparison = _only(heights, networks), _only(inv_comparison, networks)
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
    if heights is not None:
        figures["invariance_heights"] = out / "invariance_heights.png"
        plot_deviation_curves(heights, inv_comparison, figures["invariance_heights"],
                              {(t, a): f"{arch_labels.get(a, a)}, {task_label(t)}" for t, a in networks})
    with atomic_path(Path(study_path) if study_path else out.parent / "study_comparison.csv") as tmp:
        study.to_csv(tmp, index=False)

    sections = build_sections(settings=settings, figures=figures, fractions=fractions, comparison=comparison,
                              directions=directions, invariance=invariance, targets=targets, study=study,
                              arch_labels=arch_labels, models=models, svm=svm,
                              data_figure_paths=data_figure_paths, dataset_path=dataset,
                              dataset_bias=_read_optional(dataset_bias), notes=notes, drawn=drawn,
                              focus_note=focus_note, invariance_comparison=inv_comparison)
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
    parser.add_argument("--invariance-heights", help="invariance/heights.csv (deepdraw.invariance summarize)")
    parser.add_argument("--invariance-comparison", help="invariance/comparison.csv (deepdraw.invariance summarize)")
    parser.add_argument("--study", help="where to write study_comparison.csv (default: beside the figure folder)")
    args = cliutil.parse_args(parser, argv)
    build_report(args.summary_dir, args.units, args.cka, args.targets, json.loads(args.analysis),
                 args.figure_dir, args.html, models_summary=args.models_summary, svm_summary=args.svm_summary,
                 histories=args.histories, data_figure_paths=args.data_figures, dataset=args.dataset,
                 dataset_bias=args.dataset_bias, run=args.run, invariance_heights=args.invariance_heights,
                 invariance_comparison=args.invariance_comparison, study_path=args.study)

