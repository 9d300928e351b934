"""The study's headline numbers, each with where it comes from.

Sandbrink, Mamidanna, Michaelis, Bethge, Mathis & Mathis, "Contrasting action and posture coding
with hierarchical deep neural network models of proprioception", eLife 12:e81499 (2023); first
posted as "Task-driven hierarchical deep neural network models of the proprioceptive pathway",
bioRxiv 2020.05.06.081372. The two versions differ in the network inputs (the bioRxiv models
read muscle lengths and velocities, the eLife ones a spindle model of Ia and II afferents) and
the eLife version adds the trajectory-decoding task; ``variant`` says which version a number
belongs to. The authors' code is amathislab/DeepDraw.

Every entry is one headline result of the article in the order the report shows them. A
``value`` of NaN means that the article gives the result only as a plot and that no sentence of
the article, figure caption or saved output of the authors' code states the number; ``unstated``
then says where it was looked for and where the plot is, ``finding`` states what the article
concludes, and ``source`` names the figure panel to read it from. The report prints these
entries beside our numbers (:func:`deepdraw.report.comparison.study_comparison`); nothing else in
the package holds a number of the study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NAN = math.nan


@dataclass(frozen=True)
class StudyResult:
    """One headline number of the study.

    Attributes
    ----------
    key : identifier used by the report
    result : what is measured, in words
    value : the number (NaN when only plotted), in ``unit``
    low, high : a reported range or spread around ``value`` (NaN when none)
    spread : what ``low``/``high`` mean ("range over 5 seeds", "± SD", ...)
    unit : "fraction", "cm", "deg", ...
    source : where the number is printed (article section, figure, or the authors' files)
    variant : "eLife 2023" or "bioRxiv 2020" (model inputs differ, see the module docstring)
    finding : the article's conclusion in one sentence
    unstated : for a NaN ``value``, why there is no number: the sources searched and the plot
        that holds the result; empty when ``value`` is a number
    """

    key: str
    result: str
    value: float
    low: float = NAN
    high: float = NAN
    spread: str = ""
    unit: str = "fraction"
    source: str = ""
    variant: str = "eLife 2023"
    finding: str = ""
    unstated: str = ""

    def formatted(self) -> str:
        """``value`` with its spread, e.g. ``0.866 ± 0.125`` or ``0.049 (0.043–0.055)``; "–" if NaN."""
        if math.isnan(self.value):
            return "–"
        text = f"{self.value:.3g}"
        if not math.isnan(self.low) and not math.isnan(self.high):
            if self.spread.startswith("±"):
                text += f" ± {self.high - self.value:.3g}"
            else:
                text += f" ({self.low:.3g}–{self.high:.3g})"
        return text


# Where the numbers plotted in the tuning figures were looked for, for the entries without a value.
_NOT_STATED = ("plotted only: no number in the stored copies of the article (eLife 81499, PMC10361732, "
               "bioRxiv 2020.05.06.081372: abstract and the captions of Figures 3-6) nor in the authors' "
               "repository amathislab/DeepDraw (no results table; its notebooks' saved outputs are figures)")
_FIGURE_5C = ("eLife 2023, Figure 5C (one recognition-trained spatial-temporal instance; caption: a unit is of a "
              "type if its test R² > 0.2; 18/5446 scores excluded for recognition-, 430/5446 for "
              "decoding-trained) and 5D (the same architecture, decoding-trained)")
_TUNING_FILES = ("; the authors' single_cell/05 Analysis of Tuning Properties.ipynb saves the Figure 5 plots "
                 "only, and single_cell/unit_classification.py counts the units from result files outside the "
                 "repository")


RESULTS: tuple[StudyResult, ...] = (
    StudyResult(
        "accuracy_spatial_temporal", "best test accuracy, spatial-temporal family (character recognition)",
        0.989, source="authors' result files (amathislab/DeepDraw, nn-training), bioRxiv 2020 models",
        variant="bioRxiv 2020",
        finding="accuracy rises with depth in every family; the best spatial-temporal network "
                "(spatial 8-16-16-32, temporal 32-32-64-64 kernels, 80,112 parameters) is the best overall"),
    StudyResult(
        "accuracy_spatiotemporal", "best test accuracy, spatiotemporal family (character recognition)",
        0.978, spread="mean over 5 seeds", source="authors' result files (amathislab/DeepDraw, nn-training); "
        "bioRxiv 2020", variant="bioRxiv 2020",
        finding="the best spatiotemporal network (8-8-32-64 kernels, kernel 7, stride 2), about 0.978 over 5 seeds"),
    StudyResult(
        "accuracy_lstm", "best accuracy, LSTM family (character recognition)",
        0.996, low=0.995, high=0.997, spread="range over seeds; validation, not test, accuracy",
        source="authors' result files (amathislab/DeepDraw, nn-training), bioRxiv 2020 models",
        variant="bioRxiv 2020", finding="the best LSTM (3 spatial pre-layers 8-16-16, 256 units) reaches "
                                        "0.995–0.997 validation accuracy"),
    StudyResult(
        "accuracy_untrained", "untrained controls, recognition accuracy (chance 0.05)",
        0.049, low=0.043, high=0.055, spread="centre of the range over the untrained instances",
        source="authors' result files (amathislab/DeepDraw, nn-training), bioRxiv 2020 models",
        variant="bioRxiv 2020", finding="untrained copies of the best architectures stay at chance"),
    StudyResult(
        "svm_pairwise", "pairwise linear SVMs on spindle inputs, accuracy (chance 0.5)",
        0.866, low=0.741, high=0.991, spread="± SD over N = 190 character pairs",
        source="eLife 2023, Figure 3B (caption: 86.6 ± 12.5%, mean ± SD, N = 190 pairs)",
        finding="most pairs are separable, but a multiclass linear read-out is far from solving the task"),
    StudyResult(
        "svm_multiclass", "multiclass (one-vs-one) linear SVM on spindle inputs, accuracy (chance 0.05)",
        0.23, source="authors' earlier result files (amathislab/DeepDraw, svm-analysis); the eLife version plots "
        "it in Figure 3C", variant="bioRxiv 2020",
        finding="a linear classifier on the inputs is far below the networks (hand trajectory: 0.37)"),
    StudyResult(
        "decoding_error_cm", "best trajectory-decoding network, hand position error (cm)",
        NAN, unit="cm",
        source="eLife 2023, Figure 4E (caption: \"Decoding error (in cm) along the hierarchy for each model type "
               "on the trajectory decoding task\") and Figure 3E centre (test performance of the 50 networks of each "
               "type against their number of layers, trajectory decoding)",
        finding="networks decode the hand position from the spindle inputs; the error falls with depth",
        unstated=_NOT_STATED + "; the authors' per-layer plot (single_cell/oneoff_dec-comp-plot.py) reads its "
                 "tables from their analysis-data archive, which the repository does not hold"),
    StudyResult(
        "fraction_direction", "fraction of units tuned to movement direction per layer, recognition-trained",
        NAN, source=_FIGURE_5C + "; direction is one of the tested features",
        finding="units are tuned to movement direction (test R² > 0.2); networks with random weights show "
                "similar kinematic tuning (bioRxiv abstract)",
        unstated=_NOT_STATED + _TUNING_FILES),
    StudyResult(
        "fraction_velocity", "fraction of units tuned to velocity per layer, recognition-trained",
        NAN, source=_FIGURE_5C + "; velocity is one of the tested features",
        finding="velocity tuning is plotted per layer beside direction, speed, position and acceleration",
        unstated=_NOT_STATED + _TUNING_FILES),
    StudyResult(
        "fraction_position", "fraction of units tuned to hand position per layer, recognition-trained",
        NAN, source=_FIGURE_5C + "; Cartesian and polar position are tested features; Figure 5E: distribution of "
        "the position test R² per layer, recognition- vs decoding-trained",
        finding="Cartesian and polar position tuning are plotted per layer for recognition- and decoding-trained "
                "networks",
        unstated=_NOT_STATED + _TUNING_FILES),
    StudyResult(
        "fraction_label", "fraction of units tuned to the character label per layer, recognition-trained",
        NAN, source=_FIGURE_5C + "; label tuning is a tested feature; Figure 5E: distribution of the label "
        "specificity per layer (label score 2 (AUC − 0.5) of a one-vs-rest linear SVM)",
        finding="label specificity is plotted per layer",
        unstated=_NOT_STATED + _TUNING_FILES),
    StudyResult(
        "pd_uniformity", "preferred directions: deviation from uniform, recognition-trained vs untrained",
        NAN, source="eLife 2023, preferred-direction figure (histograms and deviation from uniform per layer; "
        "paired t-test over 5 instances, Bonferroni); the authors' notebook single_cell/06 Distribution.ipynb "
        "draws it for the bioRxiv models (18 bins, units with direction test R² > 0.2, \"Total Absolute "
        "Deviation from Uniformity\" per layer, trained vs untrained, means with 95% t intervals)",
        finding="uniformly spread preferred directions only in recognition-trained networks, not in "
                "decoding-trained or untrained ones",
        unstated=_NOT_STATED + "; 06 Distribution.ipynb saves the histograms and the deviation plot but prints "
                 "no value, and its inputs are result files outside the repository"),
    StudyResult(
        "invariance_heights", "mean |deviation| of preferred directions from the central plane, trained vs "
        "untrained", NAN, unit="deg",
        source="eLife 2023, invariance figure and its supplements (horizontal planes z = -45..30 cm, vertical "
               "x = 6..54 cm, central z = 0 / x = 30; paired t-test over 5 instances, Bonferroni); method: "
               "amathislab/DeepDraw single_cell/generalization.py, control_comparisons.py; the authors' notebook "
               "single_cell/07 Invariance.ipynb draws it for the bioRxiv models (\"Mean Absolute Deviation in "
               "Preferred Direction from Central Plane\" per layer, trained vs untrained, planes 3 cm apart)",
        finding="networks with random weights do not have invariant tuning across 3-D space (bioRxiv abstract); "
                "trained networks keep their preferred directions across parallel planes better",
        unstated=_NOT_STATED + "; 07 Invariance.ipynb saves the per-layer plot and computes the paired "
                 "comparison without printing it, from result files outside the repository"),
)

BY_KEY = {r.key: r for r in RESULTS}


def result(key: str) -> StudyResult:
    """The entry ``key`` of :data:`RESULTS` (``KeyError`` naming the known keys)."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"no study result {key!r}; known: {', '.join(BY_KEY)}") from None
