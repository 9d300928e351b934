"""Label tuning of single units: one-vs-rest classification of the character, scored 2 (AUC - 0.5).

A unit is label tuned when one-vs-rest linear classifiers of the character label from its
activation alone reach ``2 (AUC - 0.5) > threshold`` on held-out rows (macro average over the
characters, 0 at chance, 1 for perfect separation). Two ways to get the classifier:

* :func:`svm_label_scores` (mode ``study``) fits scikit-learn's ``LinearSVC`` (one-vs-rest,
  squared hinge, C = 1) per unit, as the study did;
* :func:`label_scores` (mode ``ours``) orients each class by the sign of the difference of
  the class means on the fitting rows, with no optimisation.

On one input the decision function ``w x + b`` is monotone in ``x``, so a classifier's test
AUC is the AUC of ``x`` itself when ``w > 0``, ``1 - AUC`` when ``w < 0`` and 0.5 when
``w = 0``; both functions compute those AUCs for all units and classes at once from ranks
(Mann-Whitney U), which equals ``sklearn.metrics.roc_auc_score`` of the decision function
(tested).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.stats


def rank_auc(Y_test: np.ndarray, label_test: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """AUC of every unit's activation for every class against the rest.

    Parameters
    ----------
    Y_test : (rows, units) activations; label_test : (rows,) int in [0, n_classes)

    Returns
    -------
    (auc (classes, units), usable (classes,) bool: the class has positives and negatives)
    """
    onehot = np.asarray(label_test)[:, None] == np.arange(n_classes)[None, :]
    n_pos = onehot.sum(axis=0)
    n_neg = len(label_test) - n_pos
    ranks = scipy.stats.rankdata(Y_test, axis=0)  # average ranks for ties, as roc_auc_score
    u = onehot.T.astype(float) @ ranks - (n_pos * (n_pos + 1) / 2)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = u / (n_pos * n_neg)[:, None]
    return auc, (n_pos > 0) & (n_neg > 0)


def _score(auc: np.ndarray, orientation: np.ndarray, usable: np.ndarray, Y_test: np.ndarray) -> np.ndarray:
    """Macro mean of 2 (AUC - 0.5) over usable classes; ``orientation`` (classes, units) in {-1, 0, 1}."""
    oriented = np.where(orientation > 0, auc, np.where(orientation < 0, 1.0 - auc, 0.5))
    score = 2.0 * (oriented[usable] - 0.5)
    constant = np.ptp(Y_test, axis=0) == 0 if len(Y_test) else np.ones(Y_test.shape[1], bool)
    with np.errstate(invalid="ignore"):
        mean = score.mean(axis=0) if usable.any() else np.full(Y_test.shape[1], np.nan)
    return np.where(constant, np.nan, mean)


def label_scores(Y_train: np.ndarray, label_train: np.ndarray, Y_test: np.ndarray,
                 label_test: np.ndarray, n_classes: int) -> np.ndarray:
    """Label score of every unit with each class oriented by the difference of class means.

    Parameters
    ----------
    Y_train, Y_test : (rows, units) activations; label_train, label_test : (rows,) int

    Returns
    -------
    (units,) score in [-1, 1]; 0 at chance; NaN for a unit constant on the test part.
    Classes absent from either part are left out of the mean.
    """
    onehot_train = np.asarray(label_train)[:, None] == np.arange(n_classes)[None, :]
    n_pos_train = onehot_train.sum(axis=0)
    mean_pos = onehot_train.T @ Y_train / np.maximum(n_pos_train, 1)[:, None]
    mean_neg = (~onehot_train).T @ Y_train / np.maximum(len(label_train) - n_pos_train, 1)[:, None]
    orientation = np.where(mean_pos >= mean_neg, 1.0, -1.0)
    auc, usable = rank_auc(Y_test, label_test, n_classes)
    usable &= (n_pos_train > 0) & (n_pos_train < len(label_train))
    return _score(auc, orientation, usable, Y_test)


def svm_orientations(Y_train: np.ndarray, label_train: np.ndarray, n_classes: int, C: float = 1.0,
                     max_iter: int = 1000, seed: int = 0) -> np.ndarray:
    """Sign of the weight of one-vs-rest ``LinearSVC`` per class and unit, (classes, units).

    0 for a class absent from the fitting rows (or a unit constant there): its decision
    function is constant and its AUC 0.5, as for scikit-learn's constant one-vs-rest predictor.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    label_train = np.asarray(label_train)
    classes = np.unique(label_train)
    signs = np.zeros((n_classes, Y_train.shape[1]))
    if len(classes) < 2:
        return signs
    for unit in range(Y_train.shape[1]):
        x = np.asarray(Y_train[:, unit:unit + 1], dtype=float)
        if np.ptp(x) == 0:
            continue
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            svm = LinearSVC(C=C, max_iter=max_iter, random_state=seed).fit(x, label_train)
        w = svm.coef_[:, 0]
        if len(classes) == 2:  # binary: one weight for classes[1]; classes[0] is its mirror
            signs[classes[1], unit], signs[classes[0], unit] = np.sign(w[0]), -np.sign(w[0])
        else:
            signs[classes, unit] = np.sign(w)
    return signs


def svm_label_scores(Y_train: np.ndarray, label_train: np.ndarray, Y_test: np.ndarray,
                     label_test: np.ndarray, n_classes: int, C: float = 1.0, max_iter: int = 1000,
                     seed: int = 0) -> np.ndarray:
    """The study's label score of every unit: one-vs-rest linear SVMs, 2 (macro AUC - 0.5).

    Equals ``2 (roc_auc_score(label_binarize(label_test), OneVsRestClassifier(LinearSVC())
    .fit(x_train, label_binarize(label_train)).decision_function(x_test)) - 0.5)`` per unit
    (tested), computed from one ``LinearSVC`` fit per unit and the ranks of the test rows.

    Returns
    -------
    (units,) score in [-1, 1]; NaN for a unit constant on the test part. Classes absent
    from the test part are left out of the macro mean.
    """
    orientation = svm_orientations(Y_train, label_train, n_classes, C, max_iter, seed)
    auc, usable = rank_auc(Y_test, label_test, n_classes)
    return _score(auc, orientation, usable, Y_test)
