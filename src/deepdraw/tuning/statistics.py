"""Statistics of the tuning tables: per-unit inference, circular statistics, group comparisons.

* :func:`unit_statistics`: statsmodels OLS of one unit with sample-clustered errors and a
  delta-method interval of the preferred direction;
* circular statistics of preferred directions (Rayleigh test, the study's deviation from
  uniform, circular correlation);
* :func:`compare_groups`: trained against untrained networks per layer (paired or Welch t,
  Bonferroni over layers).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.stats

from deepdraw.activations import INPUT_LAYER
from deepdraw.stats import bonferroni
from deepdraw.stats import compare_groups as test_groups
from deepdraw.tuning.fitting import preferred_direction


def unit_statistics(X: np.ndarray, y: np.ndarray, groups: np.ndarray, names: list[str],
                    directional: bool, ci_level: float = 0.95) -> dict[str, float]:
    """statsmodels OLS of one unit with sample-clustered standard errors.

    Time steps of one sample are not independent, so the covariance is cluster-robust by
    sample. For directional models the preferred direction ``atan2(b, a)`` gets a
    delta-method interval: ``var = g' C g`` with ``g = (-b, a) / (a^2 + b^2)``.

    Returns
    -------
    dict: ``sm_r2_train``, ``p_value`` (joint Wald test that all non-intercept
    coefficients are 0), ``coef_<name>``, ``coef_<name>_low``/``_high``, ``pvalue_<name>``,
    and for directional models ``pd_deg``, ``pd_ci_low_deg``, ``pd_ci_high_deg``.
    """
    import statsmodels.api as sm

    fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups})
    alpha = 1.0 - ci_level
    ci = np.asarray(fit.conf_int(alpha=alpha))
    out = {"sm_r2_train": float(fit.rsquared)}
    restriction = np.eye(len(names))[1:]
    out["p_value"] = float(np.squeeze(fit.wald_test(restriction, scalar=True).pvalue))
    for k, name in enumerate(names):
        out[f"coef_{name}"] = float(fit.params[k])
        out[f"coef_{name}_low"], out[f"coef_{name}_high"] = float(ci[k, 0]), float(ci[k, 1])
        out[f"pvalue_{name}"] = float(fit.pvalues[k])
    if directional:
        a, b = fit.params[1], fit.params[2]
        cov = np.asarray(fit.cov_params())[1:3, 1:3]
        grad = np.array([-b, a]) / (a * a + b * b)
        se = float(np.sqrt(grad @ cov @ grad))
        z = scipy.stats.norm.ppf(1 - alpha / 2)
        pd_deg = float(preferred_direction(a, b))
        out.update(pd_deg=pd_deg, pd_se_deg=float(np.degrees(se)),
                   pd_ci_low_deg=pd_deg - float(np.degrees(z * se)),
                   pd_ci_high_deg=pd_deg + float(np.degrees(z * se)))
    return out


def rayleigh_test(angles_deg: np.ndarray) -> tuple[float, float]:
    """Rayleigh test of uniformity of directions: (Z = n R^2, p-value).

    p from Zar (Biostatistical Analysis, eq. 27.4):
    ``exp(sqrt(1 + 4n + 4(n^2 - R_n^2)) - (1 + 2n))`` with ``R_n = n R``.
    """
    theta = np.radians(np.asarray(angles_deg, dtype=float))
    theta = theta[np.isfinite(theta)]
    n = len(theta)
    if n == 0:
        return np.nan, np.nan
    rn = np.hypot(np.cos(theta).sum(), np.sin(theta).sum())
    z = rn * rn / n
    p = np.exp(np.sqrt(1 + 4 * n + 4 * (n * n - rn * rn)) - (1 + 2 * n))
    return float(z), float(min(max(p, 0.0), 1.0))


def deviation_from_uniform(angles_deg: np.ndarray, bins: int = 18) -> float:
    """The study's measure: sum |bin count - mean count| / number of directions (0 = uniform)."""
    angles = np.asarray(angles_deg, dtype=float)
    angles = angles[np.isfinite(angles)]
    if len(angles) == 0:
        return np.nan
    counts, _ = np.histogram(np.mod(angles, 360), bins=bins, range=(0, 360))
    return float(np.abs(counts - counts.mean()).sum() / len(angles))


def circular_correlation(a_deg: np.ndarray, b_deg: np.ndarray) -> float:
    """Circular correlation coefficient (Jammalamadaka & SenGupta 2001) of paired angles."""
    a, b = np.radians(a_deg), np.radians(b_deg)
    if len(a) < 3:
        return np.nan
    abar = np.angle(np.mean(np.exp(1j * a)))
    bbar = np.angle(np.mean(np.exp(1j * b)))
    sa, sb = np.sin(a - abar), np.sin(b - bbar)
    denom = np.sqrt(np.sum(sa ** 2) * np.sum(sb ** 2))
    return float(np.sum(sa * sb) / denom) if denom > 0 else np.nan


def angular_difference(a_deg, b_deg) -> np.ndarray:
    """Absolute angular difference in degrees, in [0, 180]."""
    return np.abs((np.asarray(a_deg) - np.asarray(b_deg) + 180.0) % 360.0 - 180.0)


def _quiet(test, *args, **kwargs):
    """Run a scipy test without its precision warning for near-identical values (2-5 instances)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        return test(*args, **kwargs)


def compare_groups(frame: pd.DataFrame, value: str, extra: list[str]) -> pd.DataFrame:
    """Trained vs untrained ``value`` per task, architecture, layer (+ ``extra``).

    The spindle input (layer ``spindles``) is the same for trained and untrained networks: it
    is listed without a test and does not count in the Bonferroni correction.
    """
    records = []
    keys = ["task", "architecture"] + extra
    for key, group in frame.groupby(keys):
        n_layers = group.loc[group["layer"] != INPUT_LAYER, "layer"].nunique()
        for (layer, layer_index), sub in group.groupby(["layer", "layer_index"]):
            trained = sub[sub["trained"]].set_index("seed")[value]
            control = sub[~sub["trained"]].set_index("seed")[value]
            record = {**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                      "layer": layer, "layer_index": layer_index,
                      "trained_mean": trained.mean(), "trained_sd": trained.std(),
                      "untrained_mean": control.mean(), "untrained_sd": control.std(),
                      "n_trained": len(trained), "n_untrained": len(control),
                      "test": "", "statistic": np.nan, "p_value": np.nan}
            if layer != INPUT_LAYER:
                record.update(test_groups(trained, control))
            record["p_bonferroni"] = bonferroni(record["p_value"], n_layers)
            records.append(record)
    return pd.DataFrame(records)
