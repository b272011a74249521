"""Results of Monte Carlo runs: sampled paths, first exits and long runs,
each with the estimators that read it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from ..grid import Grid
from .estimators import Estimate, fractions

__all__ = ["Paths", "Exits", "LongRun"]


@dataclass(frozen=True)
class Paths:
    """Sampled paths: ``paths[i, j]`` is path i at ``times[j]``."""

    times: np.ndarray
    paths: np.ndarray
    eps: float
    dt: float
    seed: int
    engine: str
    metadata: dict = field(default_factory=dict, repr=False, compare=False)

    def __array__(self, dtype=None, copy=None):
        return self.paths if dtype is None else self.paths.astype(dtype)


@dataclass(frozen=True)
class Exits:
    """First exit times from a domain.

    ``times`` (n,): exit times (``max_time`` for censored paths);
    ``positions`` (n, d): where each path crossed the boundary (its last
    state projected onto the boundary; NaN if censored); ``censored`` (n,):
    paths still inside at ``max_time``.
    """

    times: np.ndarray
    positions: np.ndarray
    censored: np.ndarray
    eps: float
    dt: float
    max_time: float
    seed: int
    engine: str
    corrected: bool
    metadata: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_censored(self) -> int:
        return int(np.count_nonzero(self.censored))

    def mean(self, confidence: float = 0.95) -> Estimate:
        """Mean exit time. Without censoring: the sample mean with a
        Student-t interval. With censoring: the exponential-law estimate
        (total time / exits, the maximum likelihood estimate under Type I
        censoring, the right law for rare exits) with its chi-square interval."""
        from scipy import stats

        t = self.times
        n = len(t)
        exits = n - self.n_censored
        if exits == 0:
            raise ValueError(f"no path exited within max_time = {self.max_time:g}: the mean exit "
                             "time is not estimable; raise max_time")
        if self.n_censored == 0:
            m = float(np.mean(t))
            if n < 2:
                return Estimate(m, -np.inf, np.inf, confidence, "sample mean, one path")
            half = stats.t.ppf(0.5 + confidence / 2, n - 1) * np.std(t, ddof=1) / math.sqrt(n)
            return Estimate(m, m - half, m + half, confidence, "sample mean")
        total = float(np.sum(t))
        m = total / exits
        alpha = 1 - confidence
        low = 2 * total / stats.chi2.ppf(1 - alpha / 2, 2 * exits + 2)
        high = 2 * total / stats.chi2.ppf(alpha / 2, 2 * exits)
        return Estimate(m, low, high, confidence, f"exponential MLE, {self.n_censored} censored")


@dataclass(frozen=True)
class LongRun:
    """Long runs: visits of core sets (balls around the attractors), the
    transitions between them, basin occupancy and the density of positions.

    A path's state is the last core it visited ("milestoning"): time spent
    between cores counts for the core left last, so occupancy and rates do
    not depend on how a basin's edge is drawn. ``milestone_steps`` (n, k+1):
    steps per path in no state yet (column 0) and in state i (column i + 1);
    ``transitions`` (n, k, k): entries into core j from last core i;
    ``basin_steps`` (n, k+1) steps with the nearest node in basin i (column 0:
    none), when basin labels were given; ``histogram``: visits per nearest
    node of ``grid`` (None unless asked for).
    """

    attractors: np.ndarray
    radii: np.ndarray
    eps: float
    dt: float
    n_steps: int
    burn_in: int
    milestone_steps: np.ndarray
    transitions: np.ndarray
    basin_steps: Optional[np.ndarray]
    histogram: Optional[np.ndarray]
    grid: Optional[Grid]
    ends: np.ndarray
    cores: np.ndarray
    seed: int
    engine: str
    metadata: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def k(self) -> int:
        return len(self.attractors)

    @property
    def n_paths(self) -> int:
        return len(self.milestone_steps)

    @property
    def time(self) -> float:
        """Time tallied per path."""
        return self.n_steps * self.dt

    def occupancy(self, confidence: float = 0.95) -> List[Estimate]:
        """Fraction of time in each milestone state (last core visited),
        over the time after the first core visit; the interval comes from
        the spread between paths (needs >= 2 paths)."""
        return fractions(self.milestone_steps[:, 1:], confidence)

    def basin_occupancy(self, confidence: float = 0.95) -> List[Estimate]:
        """Fraction of time with the nearest node in each basin."""
        if self.basin_steps is None:
            raise ValueError("no basin labels were given to the run")
        return fractions(self.basin_steps[:, 1:], confidence, total=self.basin_steps.sum(axis=1))

    def transition_counts(self) -> np.ndarray:
        """Transitions i -> j summed over paths, (k, k)."""
        return self.transitions.sum(axis=0)

    def rates(self, confidence: float = 0.95) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rates k_ij = N_ij / T_i (transitions per unit time spent with i as
        the last core), with exact Poisson intervals: (rate, low, high)."""
        from scipy import stats

        n = self.transition_counts().astype(float)
        t = self.milestone_steps[:, 1:].sum(axis=0) * self.dt
        alpha = 1 - confidence
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = n / t[:, None]
            low = np.where(n > 0, stats.chi2.ppf(alpha / 2, 2 * n) / 2, 0.0) / t[:, None]
            high = stats.chi2.ppf(1 - alpha / 2, 2 * n + 2) / 2 / t[:, None]
        for r in (rate, low, high):
            np.fill_diagonal(r, np.nan)
        return rate, low, high

    def log_density(self) -> np.ndarray:
        """``-eps ln rho`` on the grid's nodes, shifted to least 0; NaN
        where no visit was recorded."""
        if self.histogram is None:
            raise ValueError("the run kept no histogram: pass histogram=True")
        h = self.histogram.astype(float)
        with np.errstate(divide="ignore"):
            out = -self.eps * np.log(h / h.sum())
        out[h == 0] = np.nan
        return out - np.nanmin(out)
