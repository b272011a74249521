"""Exact stochastic simulation of reaction networks: Gillespie's direct
method in the kernel, over the propensities tabulated once on the lattice of
copy numbers the paths can reach (no interpolation, no callback per event).

Reactions that would leave the lattice's box are suppressed (and counted,
with a warning): the chain simulated is then the truncated chain whose
master equation :func:`hjqp.master_equation` solves on the same box.

The engine follows the stochastic layer's protocol in continuous time:
``dt`` is the interval at which paths are observed (``simulate`` keeps the
exact state at t = 0, dt, 2 dt, ...), exit times are the times of the exiting
jumps (no discretisation bias, so no boundary correction), and long runs
count the exact time spent with each last core visited. Concentrations are
x = n / Omega with Omega = 1 / eps.

Random numbers: one xoshiro256++ stream per path, keyed by the seed and the
path's index, so a seed fixes every path whatever the chunking, the executor
or the thread count.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _core, _validate, _warn
from ..grid import Grid
from ..problem.network import ReactionNetwork
from .engine import Engine, Tally, kernel_seed, which_core

__all__ = ["Gillespie", "gillespie"]


class Gillespie(Engine):
    """Gillespie's direct method for a :class:`hjqp.ReactionNetwork` at
    system size Omega = 1 / eps, on the lattice of copy numbers from 0 to
    the upper corner of the concentration box of ``grid`` (reactions that
    would leave it are suppressed, with a warning)."""

    name = "gillespie"

    def __init__(self, network: ReactionNetwork, eps: float, dt: float, grid: Grid, threads: Optional[int] = None):
        if grid is None:
            raise ValueError("simulating a reaction network needs grid= (the box of concentrations whose copy "
                             "numbers the paths may visit; the propensities are tabulated there)")
        self.network, self.grid = network, grid
        self.eps, self.dt = eps, dt
        self.volume = 1.0 / eps
        self.threads = _validate.threads(threads)
        self.lattice = network.lattice(self.volume, grid)
        self._native = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_native"] = None  # the compiled table does not pickle; a worker builds it again
        return state

    def _table(self):
        if self._native is None:
            lat = self.lattice
            self._native = _core.ReactionLattice(lat.lower, lat.shape, self.network.stoichiometry, lat.rates)
        return self._native

    def _counts(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.lattice.nearest(x))

    def check_starts(self, x):
        if x.shape[1] != self.network.dim:
            raise ValueError(f"x0 is {x.shape[1]}-dimensional but the network has {self.network.dim} species")
        outside = self.lattice.index(self._counts(x)) < 0
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise ValueError(f"x0 of path {i}, {tuple(float(v) for v in x[i])}, lies outside the lattice of the "
                             f"box {self.grid.lower} to {self.grid.upper} at volume {self.volume:g}")

    def check_domain(self, domain):
        domain.check_dimension(self.network.dim)

    def _check(self, out, first: int) -> None:
        hit = out.suppressed > 0
        if hit.any():
            _warn.warn(f"{int(np.count_nonzero(hit))} of {len(hit)} paths (the first: path "
                       f"{first + int(np.flatnonzero(hit)[0])}) reached the edge of the lattice (concentrations up "
                       f"to {self.grid.upper} at volume {self.volume:g}); {int(out.suppressed.sum())} of "
                       f"{int(out.events.sum())} reactions, which would have left it, were suppressed: the chain "
                       "simulated is the box's truncated one. Enlarge the grid's box if that matters.",
                       UserWarning)

    def _ids(self, first: int, count: int) -> np.ndarray:
        return np.arange(first, first + count, dtype=np.int64)

    def paths(self, x, first, n_steps, thin, seed):
        count = len(x)
        out = _core.jump_store(self._table(), self._counts(x), self._ids(first, count), kernel_seed(seed), self.dt * thin,
                               n_steps // thin + 1, self.threads)
        self._check(out, first)
        return out.samples / self.volume

    def exits(self, domain, x, first, seed, max_steps, shift, bar=None):
        inside = np.ascontiguousarray(domain.contains(self.lattice.points()), dtype=np.uint8)
        out = _core.jump_exit(self._table(), self._counts(x), self._ids(first, len(x)), kernel_seed(seed), inside,
                              max_steps * self.dt, self.threads)
        self._check(out, first)
        censored = out.stops == _core.PathStop.RUNNING
        positions = np.where(censored[:, None], np.nan, out.ends / self.volume)
        # Exit times in units of dt (the protocol's steps): exact, not rounded.
        return out.times / self.dt, positions, censored

    def tally(self, x, first, cores, seed, burn_in, total, labels=None, histogram=False, bar=None):
        if histogram:
            raise ValueError("the Gillespie engine keeps no histogram: hjqp.master_equation gives the stationary "
                             "law on the lattice exactly")
        points = self.lattice.points()
        core_of = np.ascontiguousarray(which_core(points, cores), dtype=np.int32)
        start = which_core(self._counts(x) / self.volume, cores).astype(np.int32)
        n_labels, state_labels = 0, None
        if labels is not None:
            n_labels = int(max(labels.max() + 1, 0))
            state_labels = np.ascontiguousarray(labels.reshape(-1)[_nearest(self.grid, points)], dtype=np.int32)
        out = _core.jump_tally(self._table(), self._counts(x), self._ids(first, len(x)), kernel_seed(seed), core_of, start,
                               len(cores.centers), burn_in * self.dt, total * self.dt, labels=state_labels,
                               n_labels=n_labels, threads=self.threads)
        self._check(out, first)
        # Time in units of dt, as the protocol's steps.
        return Tally(out.milestones / self.dt, out.transitions,
                     out.labels / self.dt if labels is not None else None, out.ends / self.volume, out.cores, None)


def gillespie(network: ReactionNetwork, eps: float, dt: float, grid: Optional[Grid],
              threads: Optional[int] = None) -> Gillespie:
    """The exact engine of a reaction network at Omega = 1 / eps, observed every dt."""
    return Gillespie(network, _validate.positive(eps, "eps"), _validate.positive(dt, "dt"), grid, threads)


def _nearest(grid: Grid, points: np.ndarray) -> np.ndarray:
    """Flat index of the grid node nearest to each point (clipped to the box)."""
    idx = np.rint((points - np.asarray(grid.lower)) / np.asarray(grid.spacing)).astype(np.int64)
    idx = np.clip(idx, 0, np.asarray(grid.shape) - 1)
    return np.ravel_multi_index(tuple(idx.T), grid.shape)
