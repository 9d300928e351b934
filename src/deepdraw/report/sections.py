"""Captions and the page's sections in the article's order (:func:`build_sections`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepdraw.report.labels import MIN_UNITS, PLANE_LABELS, _ordered_tasks, task_label
from deepdraw.report.page import Figure, Part, Section, html_table
from deepdraw.report.tables import (comparison_table, dataset_facts, directions_table,
                                    invariance_heights_table, invariance_table, models_table, svm_table,
                                    targets_table)


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
    "invariance_heights": "The study's plane invariance: direction tuning fitted separately on parallel planes "
                          "(horizontal planes at heights z, vertical planes at depths x, cm); per layer and plane "
                          "the mean |deviation| (deg) of the tuned units' preferred directions from their "
                          "directions on the central plane (dotted line), for units tuned on both. Thin lines: "
                          "instances; thick: their mean (trained blue, untrained grey dashed). L0: the spindle "
                          "input (black), the same for trained and untrained networks, the reference of the "
                          "network layers (not tested). Panel titles: paired t-test of the mean over heights, "
                          "trained vs untrained, Bonferroni over the network's layers. Fewer than the configured "
                          "minimum of such units leaves a gap.",
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


#: Readable headers of the study comparison's columns (``study_comparison.csv``).
STUDY_HEADERS = {"result": "result", "study_value": "study", "study_source": "study: source",
                 "study_note": "study: version and finding", "ours_value": "ours", "ours_statistic": "ours: test",
                 "ours_n": "ours: n", "note": "note"}


def study_table(study: pd.DataFrame) -> pd.DataFrame:
    """``study_comparison.csv`` with readable column headers (every cell text)."""
    return study[list(STUDY_HEADERS)].fillna("").astype(str).rename(columns=STUDY_HEADERS)


def build_sections(*, settings: dict, figures: dict[str, Path], fractions, comparison, directions,
                   invariance, targets, study, arch_labels, models=None, svm=None, data_figure_paths=(),
                   dataset_path=None, dataset_bias=None, notes=None, drawn=None,
                   focus_note=(), invariance_comparison=None) -> list[Section]:
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

    invariance_section = Section("invariance", "Invariance across planes", intro=[
        "The study's analysis: direction tuning fitted separately on parallel planes of one orientation "
        "(horizontal planes at several heights, vertical planes at several depths), and each tuned unit's "
        "deviation of its preferred direction from the central plane. A second check, horizontal against "
        "vertical, follows."])
    if "invariance_heights" in figures:
        invariance_section.parts.append(Part(title="Parallel planes at several heights", figures=[
            fig("invariance_heights", "deviation of preferred directions against plane height")]))
        if invariance_comparison is not None and len(invariance_comparison):
            invariance_section.parts[-1].tables.append(html_table(
                invariance_heights_table(invariance_comparison, arch_labels),
                "Mean |deviation| of the preferred directions from the central plane per layer (mean over the "
                "non-central heights and the instances), trained against untrained: paired t-test over the "
                "instances, Bonferroni-corrected over the network's layers. L0, the spindle input, is the same "
                "for both and is listed as the reference without a test."))
    else:
        invariance_section.parts.append(Part(notes=["The parallel-plane analysis was not given to the report "
                                                    "(rule invariance_summary)."]))
    horizontal_vertical = figure_part("invariance", "preferred directions horizontal vs vertical",
                                      "units tuned in both planes")
    horizontal_vertical.title = "Horizontal against vertical planes"
    horizontal_vertical.tables.append(html_table(
        invariance_table(invariance, arch_labels), "Units tuned to direction in both planes, circular correlation "
        "and median difference of their preferred directions, and the R² of the direction model fitted on one "
        "plane and tested on the other."))
    invariance_section.parts.append(horizontal_vertical)

    similarity = Section("similarity", "Representational similarity", parts=[
        Part(figures=[fig("cka", "CKA matrices and layer-vs-reference similarity")]),
        Part(tables=[html_table(targets_table(targets, arch_labels),
                                "Linear CKA of every layer with the spindle input, the hand position and "
                                "velocity and the character label (mean over instances).")])])

    comparison_section = Section("study", "Our numbers beside the study's", intro=[
        "Sandbrink et al. (eLife 2023) trained on about 10^6 samples split by sample; this run's size and "
        "split are in the Dataset section."],
        parts=[Part(tables=[html_table(study_table(study), "Our results next to the study's, in the order of "
                                       "the article. A dash: the study shows the result only as a plot (the source "
                                       "column names it), or this run has no such network.",
                                       text_columns=tuple(STUDY_HEADERS.values()))])])
    return [dataset, performance, tuning, directions_section, invariance_section, similarity,
            comparison_section]

