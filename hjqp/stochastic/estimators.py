"""Estimators for Monte Carlo results: estimates with confidence
intervals, time fractions across paths, and Arrhenius fits of times and
rates measured over several eps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List

import numpy as np

__all__ = ["Estimate", "fractions", "arrhenius_fit"]


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate with a confidence interval [low, high]."""

    value: float
    low: float
    high: float
    confidence: float = 0.95
    method: str = ""

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def __repr__(self):
        return f"{self.value:.6g} [{self.low:.6g}, {self.high:.6g}] ({self.confidence:.0%}, {self.method})"


def fractions(steps: np.ndarray, confidence: float, total=None) -> List[Estimate]:
    """The fraction of steps in each column of ``steps`` (paths x states),
    overall, with an interval from the spread between paths (a ratio
    estimator, each path one sample; ``total`` the steps each path counts,
    default its row sum)."""
    from scipy import stats

    steps = np.asarray(steps, dtype=float)
    total = steps.sum(axis=1) if total is None else np.asarray(total, dtype=float)
    overall = steps.sum(axis=0) / max(total.sum(), 1.0)
    n = len(steps)
    out = []
    for i in range(steps.shape[1]):
        if n < 2:
            out.append(Estimate(float(overall[i]), -np.inf, np.inf, confidence, "one path"))
            continue
        # Ratio estimator across paths (each path one sample).
        frac = steps[:, i] / np.where(total > 0, total, 1.0)
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * np.std(frac, ddof=1) / math.sqrt(n)
        out.append(Estimate(float(overall[i]), float(overall[i] - half), float(overall[i] + half),
                            confidence, f"spread over {n} paths"))
    return out


def arrhenius_fit(eps: np.ndarray, y: np.ndarray, w: np.ndarray, sign: float):
    """The Arrhenius law of a measured time or rate: weighted least squares
    y = a + sign V / eps (y the logarithm of a mean time, sign +1, or of a
    rate, sign -1; weights w = 1 / var y). Returns a, V, the standard error
    of V and the weighted residual sum."""
    X = np.stack([np.ones_like(eps), sign / eps], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    a, v = cov @ X.T @ (w * y)
    chi2 = float(np.sum(w * (y - X @ np.array([a, v])) ** 2))
    return float(a), float(v), math.sqrt(cov[1, 1]), chi2
