"""Trained-against-untrained tests over network instances, safe for degenerate groups.

The study compares a per-layer statistic (a tuned fraction, a deviation from uniform, a mean
preferred-direction deviation) between the trained instances of a network and its untrained
controls with a paired t-test over the instances (seed ``k`` trained against untrained seed
``k``), Bonferroni-corrected over layers. With a handful of instances a group can have no
variance at all (every untrained instance has 0 tuned units, say); then Student's statistic
divides by zero and scipy returns ``t = ±inf, p = 0``, a "significant" result that no test
supports. :func:`compare_groups` reports NaN with a note instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.stats

#: Result keys of :func:`compare_groups`.
RESULT_KEYS = ("test", "statistic", "p_value", "n_pairs", "note")


def _quiet(test, *args, **kwargs):
    """Run a scipy test without its precision warning for near-identical values (2-5 instances)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        return test(*args, **kwargs)


def compare_groups(trained: pd.Series, control: pd.Series) -> dict:
    """Test ``trained`` against ``control`` values, one value per instance.

    Parameters
    ----------
    trained, control : values indexed by instance seed (NaN values are dropped first)

    Returns
    -------
    dict with ``test`` ("paired t" when at least two seeds have both values, else "Welch t"
    when each group has two values or more, else ""), ``statistic``, ``p_value`` (two-sided;
    NaN when no test is defined), ``n_pairs`` (seeds in both groups) and ``note`` (why a
    statistic is missing, empty otherwise). A test whose standard error is zero (every pair
    differs by the same amount, or both groups are constant) gives NaN, not ``inf``: with no
    spread there is no sampling distribution to refer the difference to.
    """
    trained = pd.Series(trained, dtype=float).dropna()
    control = pd.Series(control, dtype=float).dropna()
    common = trained.index.intersection(control.index)
    out = {"test": "", "statistic": np.nan, "p_value": np.nan, "n_pairs": int(len(common)), "note": ""}
    if len(common) >= 2:
        diff = trained.loc[common].to_numpy() - control.loc[common].to_numpy()
        out["test"] = "paired t"
        if np.ptp(diff) == 0:
            out["note"] = ("no test: every instance pair differs by the same amount "
                           f"({diff[0]:.3g}), so the paired differences have no variance")
            return out
        result = _quiet(scipy.stats.ttest_rel, trained.loc[common], control.loc[common])
    elif len(trained) >= 2 and len(control) >= 2:
        out["test"] = "Welch t"
        if np.ptp(trained.to_numpy()) == 0 and np.ptp(control.to_numpy()) == 0:
            out["note"] = "no test: both groups are constant (no variance within either)"
            return out
        result = _quiet(scipy.stats.ttest_ind, trained, control, equal_var=False)
    else:
        out["note"] = (f"no test: needs two or more instances per group ({len(trained)} trained, "
                       f"{len(control)} untrained)")
        return out
    out["statistic"], out["p_value"] = float(result.statistic), float(result.pvalue)
    return out


def bonferroni(p_value: float, n_tests: int) -> float:
    """Bonferroni-corrected p-value ``min(p * n_tests, 1)``; NaN stays NaN."""
    if not np.isfinite(p_value):
        return np.nan
    return float(min(p_value * max(int(n_tests), 1), 1.0))
