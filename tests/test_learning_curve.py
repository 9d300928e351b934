"""Learning-curve fits: exact power laws are recovered and extrapolated."""

from __future__ import annotations

import numpy as np
import pytest

from deepdraw.training.learning_curve import power_law_fits


def test_power_law_recovered_exactly():
    n = np.array([5e3, 1e4, 2e4, 5e4, 1e5, 2e5])
    fits = power_law_fits(n, 3.0 * n ** -0.4, at=1e6)
    assert fits["power_law"]["exponent"] == pytest.approx(0.4)
    assert fits["power_law"]["error_at"] == pytest.approx(3.0 * 1e6 ** -0.4)
    assert fits["power_law"]["accuracy_at"] == pytest.approx(1 - 3.0 * 1e6 ** -0.4)


def test_floor_recovered_where_the_curve_flattens():
    n = np.array([5e3, 1e4, 2e4, 5e4, 1e5, 2e5])
    fits = power_law_fits(n, 0.05 + 20.0 * n ** -0.6, at=1e6)
    assert fits["with_floor"]["floor"] == pytest.approx(0.05, rel=1e-3)
    assert fits["with_floor"]["exponent"] == pytest.approx(0.6, abs=1e-3)
    # a pure power law through flattening points underestimates the error far out
    assert fits["power_law"]["error_at"] < fits["with_floor"]["error_at"]
