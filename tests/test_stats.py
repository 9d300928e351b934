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
    """Every trained instance has 2 of 8 units tuned to direction, every control none, and the
    seeds do not pair up: both groups are constant, so there is no test (was t = inf, p = 0)."""
    rows = []
    for trained, seeds in ((True, (0, 1, 2)), (False, (3, 4, 5))):
        for seed in seeds:
            for unit in range(8):
                tuned = trained and unit < 2
                rows.append({"task": "recognition", "architecture": "a", "instance": f"i{seed}",
                             "trained": trained, "seed": seed, "layer": "spatial1", "layer_index": 0,
                             "unit": unit, "encoding_model": "direction", "tuned": tuned, "constant": False,
                             "r2_test": 0.5 if tuned else 0.0, "pd_deg": 45.0 * unit,
                             "r2_horizontal": 0.0, "r2_vertical": 0.0, "pd_horizontal_deg": 0.0,
                             "pd_vertical_deg": 0.0, "r2_horizontal_to_vertical": 0.0,
                             "r2_vertical_to_horizontal": 0.0})
    settings = {"r2_threshold": 0.2, "direction_bins": 18}
    out = tuning.summarize(pd.DataFrame(rows), settings)["comparison"].iloc[0]
    assert out["trained_mean"] == 0.25 and out["untrained_mean"] == 0.0
    assert out["test"] == "Welch t"
    assert not np.isinf(out["statistic"]) and np.isnan(out["p_value"]) and np.isnan(out["p_bonferroni"])
    assert "constant" in out["note"]
