"""Trained-vs-untrained tests: scipy's statistics where defined, NaN with a reason where not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from deepdraw import tuning
from deepdraw.stats import bonferroni, compare_groups


def test_paired_seeds_give_scipys_paired_t():
    trained, control = pd.Series([0.3, 0.5, 0.4], index=[0, 1, 2]), pd.Series([0.1, 0.1, 0.2], index=[0, 1, 2])
    out = compare_groups(trained, control)
    expected = scipy.stats.ttest_rel(trained, control)
    assert out["test"] == "paired t" and out["n_pairs"] == 3 and out["note"] == ""
    assert out["statistic"] == pytest.approx(expected.statistic) and out["p_value"] == pytest.approx(expected.pvalue)


def test_unpaired_groups_fall_back_to_welch():
    trained, control = pd.Series([0.3, 0.5], index=[0, 1]), pd.Series([0.1, 0.2, 0.0], index=[5, 6, 7])
    out = compare_groups(trained, control)
    expected = scipy.stats.ttest_ind(trained, control, equal_var=False)
    assert out["test"] == "Welch t" and out["statistic"] == pytest.approx(expected.statistic)


@pytest.mark.parametrize("trained,control,test", [
    ([0.2, 0.2, 0.2], [0.0, 0.0, 0.0], "paired t"),      # constant difference: no spread
    ([0.2, 0.2], [0.0, 0.0], "Welch t"),                   # seeds do not pair up, both groups constant
])
def test_groups_without_variance_give_nan_and_a_note_not_an_infinite_t(trained, control, test):
    index_c = range(len(control)) if test == "paired t" else range(10, 10 + len(control))
    out = compare_groups(pd.Series(trained, index=range(len(trained))), pd.Series(control, index=index_c))
    assert out["test"] == test
    assert np.isnan(out["statistic"]) and np.isnan(out["p_value"])
    assert out["note"].startswith("no test")
    assert np.isnan(bonferroni(out["p_value"], 4))


def test_one_instance_per_group_is_no_test():
    out = compare_groups(pd.Series([0.3], index=[0]), pd.Series([0.1], index=[0]))
    assert out["test"] == "" and "two or more" in out["note"]


def test_bonferroni_multiplies_and_caps():
    assert bonferroni(0.01, 4) == pytest.approx(0.04)
    assert bonferroni(0.4, 4) == 1.0


def test_tuning_comparison_has_no_infinite_statistic_for_constant_fractions():
    rows = []
    for trained, seeds, value in ((True, (0, 1, 2), 0.25), (False, (3, 4, 5), 0.0)):
        for seed in seeds:
            rows.append({"task": "recognition", "architecture": "a", "instance": f"s{seed}", "trained": trained,
                         "seed": seed, "layer": "spatial1", "layer_index": 0, "encoding_model": "direction",
                         "fraction_tuned": value})
    out = tuning._compare(pd.DataFrame(rows), "fraction_tuned", ["encoding_model"]).iloc[0]
    assert out["test"] == "Welch t"
    assert not np.isinf(out["statistic"]) and np.isnan(out["p_value"]) and np.isnan(out["p_bonferroni"])
    assert "constant" in out["note"]
