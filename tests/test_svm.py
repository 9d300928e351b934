"""Linear SVM baseline: pairwise and one-vs-one accuracies, outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.svm import SVC

from deepdraw.contract import INPUT_SHAPE, LETTERS
from deepdraw.svm import LinearOvO, main, subsample
from synthetic import make_synthetic_dataset


def test_precomputed_kernel_matches_linear_svc_and_pair_convention():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1.5, (4, 30))
    y = np.repeat(np.arange(4), 25)
    x = centres[y] + rng.normal(size=(100, 30))
    x_test = centres[y] + rng.normal(size=(100, 30))
    model = LinearOvO(C=0.1).fit(x, y)
    mean, std = x.mean(0), x.std(0)
    reference = SVC(kernel="linear", C=0.1, decision_function_shape="ovo").fit((x - mean) / std, y)
    agree = np.mean(model.predict(x_test) == reference.predict((x_test - mean) / std))
    assert agree > 0.95
    pairs = model.pairwise_accuracy(x_test, y)
    assert len(pairs) == 6 and [(p["class_a"], p["class_b"]) for p in pairs][:3] == [(0, 1), (0, 2), (0, 3)]
    # with well separated classes every binary classifier is right on its own two classes;
    # a swapped 0/1 convention would give accuracies near 0
    assert min(p["accuracy"] for p in pairs) > 0.85
    assert all(p["n_test"] == 50 for p in pairs)


def test_subsample_is_stratified():
    labels = np.repeat(np.arange(3), [10, 4, 20])
    picked = subsample(labels, np.arange(34), 5, np.random.default_rng(0))
    assert np.array_equal(np.bincount(labels[picked]), [5, 4, 5])
    assert np.all(np.diff(picked) > 0)


@pytest.mark.parametrize("n_classes", [20])
def test_svm_baseline_on_synthetic_store(tmp_path, n_classes):
    store = make_synthetic_dataset(tmp_path / "dataset.zarr", 600, n_classes, 2)
    main(["--dataset", str(store), "--settings",
          '{"representations": ["spindles", "hand"], "max_train_per_class": 20, "max_test_per_class": 10}',
          "--seed", "0", "--results", str(tmp_path / "r.csv"), "--summary", str(tmp_path / "s.csv"),
          "--figure", str(tmp_path / "svm.png")])
    results, summary = pd.read_csv(tmp_path / "r.csv"), pd.read_csv(tmp_path / "s.csv")
    pairwise = results[results["kind"] == "pairwise"]
    assert len(pairwise) == 2 * 190  # all pairs of 20 characters, per representation
    assert set(results["letter_a"].dropna()) <= set(LETTERS)
    spindles = summary.set_index("representation").loc["spindles"]
    # the synthetic spindle inputs carry a label-specific bump: well above chance from 20 per class
    assert spindles["pairwise_mean"] > 0.7 and spindles["multiclass"] > 0.2  # chance 0.5, 0.05
    assert spindles["n_features"] == np.prod(INPUT_SHAPE)
    assert (tmp_path / "svm.png").stat().st_size > 0
