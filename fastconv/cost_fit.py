"""Fitting the cost model's coefficients to measured times (NumPy only).

One fit serves both places that make coefficients: ``bench/fit_cost.py`` (the built-in
constants, fastconv/cost_constants.py) and ``fastconv tune --machine`` (this machine's, in the
tuning file). Per implementation it finds non-negative seconds-per-unit ``c`` for the features
of fastconv.cost so that ``features @ c`` matches the measured times in the sense the
dispatcher needs: the error of log(predicted / measured), which treats 3x too slow and 3x too
fast alike (a plain relative-error fit favours predicting too little: predicting 0 costs 1,
3x too much costs 4). The log-error fit is iteratively reweighted non-negative least squares
(Lawson-Hanson NNLS on rows whose weights, from the previous fit's predictions, make the
weighted problem's gradient that of the log error), with Huber weights so that a timing hit by
a descheduled thread (10x off) does not drag the fit.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import numpy as np

# Huber threshold on the log error: beyond a factor e^0.5 = 1.65 a row's pull grows linearly,
# not quadratically.
HUBER_LOG = 0.5
REWEIGHTS = 12


def nnls(a: np.ndarray, b: np.ndarray, max_iter: Optional[int] = None) -> np.ndarray:
    """argmin ||a x - b|| subject to x >= 0 (Lawson and Hanson's active-set method)."""
    m, n = a.shape
    max_iter = max_iter or 30 * n + 10
    tol = 10 * np.finfo(float).eps * max(m, n) * max(np.abs(a).sum(axis=0).max(), 1e-300)
    x = np.zeros(n)
    passive = np.zeros(n, bool)
    gradient = a.T @ b
    iterations = 0
    while not passive.all() and (gradient[~passive] > tol).any():
        j = int(np.argmax(np.where(passive, -np.inf, gradient)))
        passive[j] = True
        while iterations < max_iter:
            iterations += 1
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > tol).all():
                x = z
                break
            # step from x towards z until the first passive coefficient reaches 0, drop it
            shrinking = passive & (z <= tol)
            alpha = np.min(x[shrinking] / np.maximum(x[shrinking] - z[shrinking], 1e-300))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        if iterations >= max_iter:
            break
        gradient = a.T @ (b - a @ x)
    return x


def _weighted_nnls(a: np.ndarray, t: np.ndarray, weights: np.ndarray, fixed: dict[int, float]
                   ) -> np.ndarray:
    """NNLS of a @ c ~ t on weighted rows, with the coefficients in ``fixed`` held."""
    free = [j for j in range(a.shape[1]) if j not in fixed]
    target = t - sum((a[:, j] * v for j, v in fixed.items()), np.zeros_like(t))
    c = np.zeros(a.shape[1])
    for j, v in fixed.items():
        c[j] = v
    if free:
        c[free] = nnls(a[:, free] * weights[:, None], target * weights)
    return c


def fit_coefficients(rows: Sequence[Mapping[str, float]], seconds: Sequence[float],
                     prior: Optional[Mapping[str, float]] = None) -> dict[str, float]:
    """Coefficients (seconds per unit of each feature, all >= 0) for measured ``seconds`` of
    calls whose features are ``rows``.

    ``call`` (the per-call time) is bounded by the fastest call measured: otherwise small
    problems slowed by a loaded machine make the fit charge every call milliseconds. A feature
    that is zero on every row cannot be fitted; it keeps its ``prior`` coefficient when one is
    given, and is left out otherwise."""
    t = np.asarray(seconds, dtype=float)
    names = sorted({k for r in rows for k, v in r.items() if v})
    result = {k: float(v) for k, v in (prior or {}).items() if k not in names and v > 0}
    if not names or len(t) == 0:
        return result
    a = np.array([[float(r.get(k, 0.0)) for k in names] for r in rows])
    scale = np.abs(a).max(axis=0)  # columns to ~1: the solves stay well conditioned
    a = a / scale
    fixed: dict[int, float] = {}
    call_bound = t.min() / scale[names.index("call")] if "call" in names else None
    weights = 1.0 / t
    c = np.zeros(len(names))
    for _ in range(REWEIGHTS + 1):
        c = _weighted_nnls(a, t, weights, fixed)
        if call_bound is not None and c[names.index("call")] > call_bound:
            fixed = {names.index("call"): call_bound}
            c = _weighted_nnls(a, t, weights, fixed)
        predicted = np.maximum(a @ c, 1e-3 * t.min())
        log_ratio = np.log(predicted / t)
        # squared weights log(p/t) / (p (p - t)) (1 / (p t) where p ~ t) make the weighted
        # problem's gradient that of sum(log(p/t)^2) at its fixed point
        near = np.abs(predicted - t) <= 1e-9 * t
        squared = np.where(near, 1.0 / (predicted * t),
                           log_ratio / np.where(near, 1.0, predicted * (predicted - t)))
        huber = np.minimum(1.0, HUBER_LOG / np.maximum(np.abs(log_ratio), 1e-12))
        weights = np.sqrt(squared * huber)
    result.update({k: float(v / s) for k, v, s in zip(names, c, scale) if v > 0})
    return result


def predict(coefficients: Mapping[str, float], row: Mapping[str, float]) -> float:
    return sum(coefficients.get(k, 0.0) * v for k, v in row.items())


def log_error_summary(coefficients: Mapping[str, float], rows: Sequence[Mapping[str, float]],
                      seconds: Sequence[float]) -> tuple[float, float, float, float]:
    """(geomean, median, min, max) of predicted / measured over the rows."""
    ratio = np.array([max(predict(coefficients, r), 1e-300) / s
                      for r, s in zip(rows, seconds)])
    return (math.exp(float(np.mean(np.log(ratio)))), float(np.median(ratio)),
            float(ratio.min()), float(ratio.max()))
