"""Linear SVM baseline: how separable are the characters in each input representation?

As the study's Figure 3B-C: linear one-vs-one SVMs on flattened representations of each sample
(spindle inputs, muscle lengths, joint angles, hand trajectory), trained on the training and
validation splits and scored on the test split. Pairwise: the accuracy of each of the
``n_classes * (n_classes - 1) / 2`` binary classifiers on the test samples of its two characters
(paper, spindles: 86.6 +- 12.5 %, chance 50 %). Multiclass: one-vs-one voting over all pairs.

Command line::

    python -m deepdraw.svm --dataset D --settings JSON --seed S \
        --results results.csv --summary summary.csv --figure svm.png
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from deepdraw import cliutil
from deepdraw.contract import SPLIT_CODES
from deepdraw.io import atomic_path, open_zarr, rng_for

log = logging.getLogger(__name__)

REPRESENTATIONS = ("spindles", "muscle_length", "joints", "hand")
DEFAULTS = {"representations": list(REPRESENTATIONS), "max_train_per_class": 50,
            "max_test_per_class": 25, "C": 0.01, "max_iter": 100000}


def subsample(labels: np.ndarray, candidates: np.ndarray, per_class: int,
              rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``per_class`` random members of ``candidates`` per label."""
    picked = []
    for c in np.unique(labels[candidates]):
        members = candidates[labels[candidates] == c]
        picked.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.concatenate(picked))


def features(ds, name: str, index: np.ndarray) -> np.ndarray:
    """Flattened representation ``(len(index), n_features)`` float32 of the chosen samples."""
    values = ds[name][index].values
    return values.reshape(len(index), -1).astype("float32")


class LinearOvO:
    """One-vs-one linear SVMs on standardised features, through a precomputed linear kernel.

    ``OneVsOneClassifier(SVC(kernel="precomputed"))`` on the Gram matrix of the standardised
    features: the same classifiers as ``SVC(kernel="linear")``, but the kernel is one BLAS
    product shared by all pairs instead of being recomputed by libsvm for each of them.

    Parameters
    ----------
    C : float
        SVM regularisation.
    max_iter : int
        libsvm iteration limit per pair.
    """

    def __init__(self, C: float = 0.01, max_iter: int = 100000):
        self.C, self.max_iter = C, max_iter

    def fit(self, x, y):
        from sklearn.multiclass import OneVsOneClassifier
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        self.scaler_ = StandardScaler().fit(x)
        self.x_train_ = self.scaler_.transform(x).astype("float64")
        self.ovo_ = OneVsOneClassifier(SVC(kernel="precomputed", C=self.C,
                                           max_iter=self.max_iter))
        self.ovo_.fit(self.kernel(x, scaled=False), y)
        self.classes_ = self.ovo_.classes_
        return self

    def kernel(self, x, scaled: bool = True) -> np.ndarray:
        """Linear kernel ``(n, n_train)`` between samples ``x`` and the training samples."""
        xs = self.x_train_ if not scaled else self.scaler_.transform(x).astype("float64")
        return xs @ self.x_train_.T

    def predict(self, x) -> np.ndarray:
        """Multiclass prediction by one-vs-one voting."""
        return self.ovo_.predict(self.kernel(x))

    def pairwise_accuracy(self, x_test, y_test) -> list[dict]:
        """Test accuracy of each pairwise classifier on the samples of its two classes.

        ``OneVsOneClassifier.estimators_`` are ordered by pairs ``(i, j)``, ``i < j`` of
        ``classes_``, each predicting 0 for class ``i`` and 1 for class ``j`` (the convention
        of its own voting); ``pairwise_indices_`` are the training columns each one uses.
        """
        gram, classes, rows, k = self.kernel(x_test), self.classes_, [], 0
        for i in range(len(classes)):
            for j in range(i + 1, len(classes)):
                mask = np.isin(y_test, classes[[i, j]])
                accuracy = float("nan")
                if mask.any():
                    columns = self.ovo_.pairwise_indices_[k]
                    binary = self.ovo_.estimators_[k].predict(gram[np.ix_(mask, columns)])
                    predicted = classes[np.where(binary == 0, i, j)]
                    accuracy = float(np.mean(predicted == y_test[mask]))
                rows.append({"class_a": int(classes[i]), "class_b": int(classes[j]),
                             "n_test": int(mask.sum()), "accuracy": accuracy})
                k += 1
        return rows


def svm_baseline(dataset, settings: dict, seed: int, results, summary, figure):
    """Fit the SVMs for every representation and write results, summary and figure.

    Parameters
    ----------
    dataset : path
        ``dataset.zarr``.
    settings : dict
        The config's ``svm`` section: ``representations``, ``max_train_per_class``,
        ``max_test_per_class``, ``C``, ``max_iter``.
    seed : int
        Seed of the subsampling.
    results : path
        CSV, one row per representation and pair (``kind`` "pairwise") plus one multiclass row.
    summary : path
        CSV per representation: pairwise mean and SD, multiclass accuracy, sizes.
    figure : path
        PNG: pairwise accuracies per representation with the multiclass accuracy.
    """
    import pandas as pd

    opts = {key: settings.get(key, default) for key, default in DEFAULTS.items()}
    ds = open_zarr(dataset)
    labels, split = ds["label"].values.astype(int), ds["split"].values
    letters = ds["label"].attrs.get("letters", "")
    rng = rng_for(seed, "svm")
    train_idx = subsample(labels, np.flatnonzero(split != SPLIT_CODES["test"]), opts["max_train_per_class"], rng)
    test_idx = subsample(labels, np.flatnonzero(split == SPLIT_CODES["test"]), opts["max_test_per_class"], rng)
    rows, summaries = [], []
    for name in opts["representations"]:
        start = time.perf_counter()
        x_train, x_test = features(ds, name, train_idx), features(ds, name, test_idx)
        y_train, y_test = labels[train_idx], labels[test_idx]
        model = LinearOvO(opts["C"], opts["max_iter"]).fit(x_train, y_train)
        multiclass = float(np.mean(model.predict(x_test) == y_test))
        pairs = model.pairwise_accuracy(x_test, y_test)
        for row in pairs:
            rows.append({"representation": name, "kind": "pairwise", **row})
        rows.append({"representation": name, "kind": "multiclass", "class_a": -1, "class_b": -1,
                     "n_test": len(y_test), "accuracy": multiclass})
        acc = np.array([p["accuracy"] for p in pairs])
        summaries.append({"representation": name, "n_features": x_train.shape[1],
                          "n_train": len(y_train), "n_test": len(y_test), "n_pairs": len(pairs),
                          "pairwise_mean": float(np.nanmean(acc)),
                          "pairwise_sd": float(np.nanstd(acc)), "multiclass": multiclass,
                          "chance_multiclass": 1 / len(np.unique(y_train))})
        # the fit time goes to the log only: the tables must not depend on the machine
        log.info("%s: pairwise %.3f +- %.3f, multiclass %.3f (%.1f s)", name,
                 summaries[-1]["pairwise_mean"], summaries[-1]["pairwise_sd"], multiclass,
                 time.perf_counter() - start)
    table = pd.DataFrame(rows)
    if letters:
        for side in ("a", "b"):
            table[f"letter_{side}"] = [letters[c] if c >= 0 else "" for c in table[f"class_{side}"]]
    with atomic_path(results) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(summary) as tmp:
        pd.DataFrame(summaries).to_csv(tmp, index=False)
    plot(table, figure)
    return pd.DataFrame(summaries)


def plot(table, figure) -> None:
    """Box plot of pairwise accuracies per representation, multiclass accuracy as a marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(table["representation"]))
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.4))
    pairwise = [table.query("representation == @n and kind == 'pairwise'")["accuracy"].dropna()
                for n in names]
    ax.boxplot(pairwise, tick_labels=names)
    multi = [table.query("representation == @n and kind == 'multiclass'")["accuracy"].iloc[0]
             for n in names]
    ax.scatter(range(1, len(names) + 1), multi, marker="D", color="C3", zorder=3,
               label="multiclass (one-vs-one)")
    ax.axhline(0.5, color="grey", ls=":", lw=0.8)
    ax.set(ylabel="test accuracy", ylim=(0, 1.02), title="linear SVM baseline")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(figure) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = cliutil.parser("python -m deepdraw.svm", __doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--settings", default="{}", help="the config's svm section, JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--figure", required=True)
    args = cliutil.parse_args(parser, argv)
    svm_baseline(args.dataset, json.loads(args.settings), args.seed, args.results, args.summary,
                 args.figure)


if __name__ == "__main__":
    main()
