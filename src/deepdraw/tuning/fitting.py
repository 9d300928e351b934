"""Batched exact least squares of every unit of a layer on one design, and out-of-sample R^2.

All units of a layer are fitted at once: the design matrix is factorised once (pivoted QR)
and every unit is a column of the right-hand side, which is exact least squares, not an
approximation (``benchmarks/bench_tuning.py`` compares it with statsmodels per unit).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


class BatchedOLS:
    """Exact least squares of many responses on one design: a single pivoted QR.

    Parameters
    ----------
    X : (n, p) design matrix (with intercept). Columns that are linearly dependent on
        earlier ones (e.g. a label absent from the fitting part) get coefficient 0.

    Attributes
    ----------
    coef_ : (p, units) coefficients after :meth:`fit`
    """

    def __init__(self, X: np.ndarray, rtol: float = 1e-10):
        X = np.asarray(X, dtype=float)
        q, r, perm = scipy.linalg.qr(X, mode="economic", pivoting=True)
        diag = np.abs(np.diag(r))
        rank = int(np.sum(diag > rtol * diag[0])) if len(diag) else 0
        self.X, self.q, self.r, self.perm, self.rank = X, q[:, :rank], r[:rank, :rank], perm[:rank], rank

    def fit(self, Y: np.ndarray, chunk: int = 2048) -> "BatchedOLS":
        """Coefficients for every column of ``Y`` (n, units); the factorisation is reused."""
        Y = np.asarray(Y)
        coef = np.zeros((self.X.shape[1], Y.shape[1]))
        for begin in range(0, Y.shape[1], chunk):
            block = np.asarray(Y[:, begin:begin + chunk], dtype=float)
            # R b = Q' y: the triangular solve is all that remains per unit
            coef[self.perm, begin:begin + chunk] = scipy.linalg.solve_triangular(self.r, _xty(self.q, block))
        self.coef_ = coef
        return self


def r2_score_columns(Y: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """R^2 of each column, ``1 - SS_res / SS_tot`` around the column's own mean (NaN if constant)."""
    Y = np.asarray(Y, dtype=float)
    ss_res = np.sum((Y - prediction) ** 2, axis=0)
    ss_tot = np.sum((Y - Y.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


def _xty(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``X' Y`` for a thin ``X`` (n, p) and a wide ``Y`` (n, units).

    OpenBLAS is slow on this skinny shape with few columns (measured 2-8x slower than
    einsum's loop for p <= 3); from a handful of columns on, ``(Y' X)'`` is faster.
    """
    if X.shape[1] <= 3:
        return np.einsum("ij,ik->jk", X, Y)
    return (Y.T @ X).T


class Responses:
    """Unit responses of one part of the rows, prepared once for many fits.

    Holds ``Y - centre`` in float64 (centring keeps the sums of squares below free of
    cancellation) with its column sums and sums of squares, so that every encoding model
    needs just one matrix product per part (see :func:`fit_units`).

    Parameters
    ----------
    Y : (n, units) responses
    centre : (units,) subtracted from every row (e.g. the fitting part's mean); R^2 of a
        model with an intercept does not depend on it
    """

    def __init__(self, Y: np.ndarray, centre: np.ndarray | None = None):
        Y = np.asarray(Y)
        if centre is None:
            centre = Y.mean(axis=0, dtype=float) if len(Y) else np.zeros(Y.shape[1])
        self.centre = np.asarray(centre, dtype=float)
        self.Y = np.asarray(Y, dtype=float) - self.centre
        self.n = len(Y)
        self.sum = self.Y.sum(axis=0)
        self.sumsq = np.einsum("ij,ij->j", self.Y, self.Y)
        self.ss_tot = self.sumsq - self.sum ** 2 / max(self.n, 1)
        # a constant float32 column minus its float64 mean is exactly 0 (the sum is exact)
        self.constant = ~(self.ss_tot > 0)


def score_units(coef: np.ndarray, X: np.ndarray, part: Responses) -> np.ndarray:
    """Out-of-sample R^2 of every unit: ``1 - SS_res / SS_tot`` on ``part`` (around its own mean).

    ``SS_res = y'y - 2 b'c + b'G b`` with ``c = X' y``, ``G = X' X`` (responses and intercept
    shifted by ``part.centre``): one matrix product for all units.
    """
    if part.n == 0:
        return np.full(coef.shape[1], np.nan)
    b = coef.copy()
    b[0] -= part.centre
    cross = _xty(X, part.Y)
    ss_res = part.sumsq - 2 * np.einsum("ij,ij->j", b, cross) + np.einsum("ij,ij->j", b, (X.T @ X) @ b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(part.ss_tot > 0, 1.0 - ss_res / part.ss_tot, np.nan)


def fit_units(X_train: np.ndarray, Y_train, X_test: np.ndarray, Y_test) -> dict[str, np.ndarray]:
    """Fit all units (columns of ``Y_train``) at once and score them on the test part.

    The design is factorised once (pivoted QR, ``X = Q R``); per unit only sums remain:
    ``SS_res(train) = y'y - |Q'y|^2`` (the intercept is in the column space) and, with
    ``c = X_test' y`` and ``G = X_test' X_test``, ``SS_res(test) = y'y - 2 b'c + b'G b``.
    Both are exact least-squares quantities, not approximations.

    Parameters
    ----------
    X_train, X_test : (n, p) designs with an intercept column
    Y_train, Y_test : (n, units) arrays or :class:`Responses` (reused across models)

    Returns
    -------
    dict with ``coef`` (p, units), ``r2_train`` (in-sample, as statsmodels' ``rsquared``),
    ``r2_test`` (units,) and ``constant`` (units,) bool: no variation in the fitting part.
    """
    train = Y_train if isinstance(Y_train, Responses) else Responses(Y_train)
    test = Y_test if isinstance(Y_test, Responses) else Responses(Y_test, train.centre)
    if not np.array_equal(test.centre, train.centre):
        raise ValueError("Y_train and Y_test must be centred by the same vector")
    ols = BatchedOLS(X_train)
    qty = _xty(ols.q, train.Y)
    coef = np.zeros((X_train.shape[1], train.Y.shape[1]))
    coef[ols.perm] = scipy.linalg.solve_triangular(ols.r, qty)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2_train = 1.0 - (train.sumsq - np.einsum("ij,ij->j", qty, qty)) / train.ss_tot
    # the centring only moved the intercept; report coefficients of the raw responses
    coef[0] += train.centre
    r2_test = score_units(coef, X_test, test)
    constant = train.constant
    r2_train[constant] = np.nan
    r2_test[constant] = np.nan
    return {"coef": coef, "r2_train": r2_train, "r2_test": r2_test, "constant": constant}


def preferred_direction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Preferred direction, degrees in [0, 360): the angle of the vector (a, b)."""
    return np.mod(np.degrees(np.arctan2(b, a)), 360.0)
