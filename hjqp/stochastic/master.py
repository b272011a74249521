"""The chemical master equation of a reaction network on a truncated lattice
(the finite state projection): its stationary law and mean first passage
times by sparse direct solves. It is the judge of the large-deviation
predictions at finite volume: ``-(1 / Omega) ln P_stationary`` tends to the
global quasi-potential phi, and ``ln`` of the mean switching time over Omega
to the transition cost, as Omega grows.

Truncation: reactions that would leave the box are dropped (the chain is
reflected at its edges); the stationary probability on the box's outer
sides (``edge_mass``) measures what the box cuts off.

Limits: the solves are sparse LU factorisations in double precision.
Between metastable states the answers hang on rates near exp(-Omega V),
which round-off swamps once Omega V passes about 30; the stationary law and
the passage times check their own conditioning and raise ValueError there
(an elimination that keeps the rates' signs, GTH-style, would go further).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from .. import _memory
from ..grid import Grid
from ..problem.network import Lattice, ReactionNetwork
from .domains import Ball, Domain
from .engine import make_cores, which_core

__all__ = ["MasterEquation", "master_equation"]

# Peak bytes per lattice state of the sparse LU factorisation (a 2D lattice:
# the generator, its factors with fill, measured up to 10^6 states).
LU_BYTES_PER_STATE = 2000


@dataclass(frozen=True)
class MasterEquation:
    """A reaction network's master equation on a lattice of copy numbers.

    Attributes
    ----------
    network : ReactionNetwork
    volume : float
        Omega.
    lattice : hjqp.problem.network.Lattice
        The box of copy numbers (``lattice.shape``, ``lattice.points()``).
    generator : scipy.sparse.csr_matrix (states, states)
        Q: Q[s, t] the rate of the jump s -> t, rows summing to 0.
    """

    network: ReactionNetwork
    volume: float
    lattice: Lattice
    generator: scipy.sparse.csr_matrix
    metadata: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def shape(self):
        return tuple(int(n) for n in self.lattice.shape)

    def stationary(self) -> np.ndarray:
        """The stationary law P (``lattice.shape``, read-only: computed once
        and kept), summing to 1: the solution of P Q = 0 by sparse LU solves
        pinned at one state.

        Raises ValueError when double precision cannot resolve it: between
        metastable states the law's weights hang on rates near
        exp(-Omega V), and once Omega V passes about 30 the elimination's
        round-off swamps them. The solve is then done twice, pinned in two
        different basins, and the answers disagree.
        """
        if "stationary" not in self.metadata:
            A = self.generator.T.tocsc()
            pin = int(np.argmin(np.abs(self.network.drift(self.lattice.points())).sum(axis=-1)))
            p = self._pinned(A, pin)
            if not np.all(np.isfinite(p)) or p.max() > 1e250:
                # Pinned where the law is tiny (a saddle): the rest overflowed.
                p = self._pinned(A, int(np.argmax(np.nan_to_num(p, nan=0.0, posinf=np.finfo(float).max))))
            p /= p.sum()
            # A second solve pinned far from the first's most probable state,
            # where the law is still resolved: the two agree to round-off
            # when the solve is well conditioned.
            u = -np.log(np.maximum(p, 1e-300)) / self.volume
            x = self.lattice.points()
            far = np.sum((x - x[int(np.argmax(p))]) ** 2, axis=1) * (u < 10.0 / self.volume + u.min())
            other = self._pinned(A, int(np.argmax(far)))
            other /= other.sum()
            resolved = p > 1e-12 * p.max()
            spread = float(np.max(np.abs(np.log(other[resolved] / p[resolved])))) if resolved.any() else 0.0
            self.metadata["stationary_spread"] = spread
            if not spread < 1e-3:
                raise ValueError(
                    f"the master equation at volume {self.volume:g} is beyond double precision: two solves "
                    f"disagree by a factor {np.exp(min(spread, 700.0)):.3g} (metastable states whose switching "
                    "rates fall below round-off, Omega V beyond about 30): use a smaller volume")
            # Kept for the other methods, and read-only: a caller's change to
            # the array returned would otherwise change their answers.
            p = p.reshape(self.shape)
            p.flags.writeable = False
            self.metadata["stationary"] = p
        return self.metadata["stationary"]

    def quasi_potential(self) -> np.ndarray:
        """``-(1 / Omega) ln P``, shifted to least 0, on ``lattice.shape``;
        +inf where P is 0."""
        p = self.stationary()
        with np.errstate(divide="ignore"):
            u = -np.log(p) / self.volume
        return u - u[np.isfinite(u)].min()

    def edge_mass(self) -> float:
        """Stationary probability on the lattice's outer sides (the largest
        count of a species), where the truncation reflects the chain."""
        n = self.lattice.counts()
        top = np.any(n == self.lattice.lower + self.lattice.shape - 1, axis=1)
        return float(self.stationary().reshape(-1)[top].sum())

    def mean_first_passage(self, target, start=None) -> np.ndarray:
        """Mean first passage times into ``target`` (a Domain, or a boolean
        mask on the lattice's states) from every state (``lattice.shape``, 0
        inside the target), or from the state nearest to ``start`` (d,)."""
        inside = self._mask(target)
        if not inside.any():
            raise ValueError("the target holds no lattice state")
        rest = np.flatnonzero(~inside)
        Q = self.generator[rest][:, rest].tocsc()
        times = np.zeros(self.lattice.states)
        times[rest] = _lu(Q).solve(-np.ones(len(rest)))
        # The system's condition is about the longest time times the fastest
        # rate; round-off then grows by that factor.
        condition = float(np.max(times)) * float(np.max(np.abs(Q.diagonal())))
        if not condition * np.finfo(float).eps < 0.05 or not np.all(times >= 0):
            raise ValueError(
                f"mean passage times at volume {self.volume:g} are beyond double precision (up to "
                f"{np.max(times):.3g}, condition about {condition:.3g}): use a smaller volume")
        times = times.reshape(self.shape)
        if start is None:
            return times
        return times.reshape(-1)[self._state(start)]

    def switching_times(self, attractors, radius) -> np.ndarray:
        """Mean times (k, k) from each attractor (its nearest state) into the
        core of radius ``radius`` about each other attractor; 0 on the
        diagonal, NaN in the columns of targets whose passage times are
        beyond double precision (see :meth:`mean_first_passage`)."""
        cores = make_cores(np.atleast_2d(attractors), radius, len(self.shape))
        centers = cores.centers
        out = np.zeros((len(centers), len(centers)))
        for j, c in enumerate(centers):
            try:
                times = self.mean_first_passage(Ball(c, cores.radii[j])).reshape(-1)
            except ValueError:
                out[:, j] = np.nan
                out[j, j] = 0.0
                continue
            for i, a in enumerate(centers):
                if i != j:
                    out[i, j] = times[self._state(a)]
        return out

    def occupancy(self, attractors, radius) -> np.ndarray:
        """Stationary probability (k,) of the balls about the attractors."""
        cores = make_cores(np.atleast_2d(attractors), radius, len(self.shape))
        core = which_core(self.lattice.points(), cores)
        p = self.stationary().reshape(-1)
        return np.array([p[core == i].sum() for i in range(len(cores.centers))])

    def _mask(self, target) -> np.ndarray:
        if isinstance(target, Domain):
            return np.asarray(target.contains(self.lattice.points()), dtype=bool)
        mask = np.asarray(target, dtype=bool).reshape(-1)
        if mask.size != self.lattice.states:
            raise ValueError(f"a target mask must have one entry per lattice state {self.shape}")
        return mask

    def _state(self, point) -> int:
        s = int(self.lattice.index(self.lattice.nearest(point)))
        if s < 0:
            raise ValueError(f"the point {tuple(np.ravel(point))} lies outside the lattice's box")
        return s

    @staticmethod
    def _pinned(A, pin: int) -> np.ndarray:
        keep = np.ones(A.shape[0], dtype=bool)
        keep[pin] = False
        idx = np.flatnonzero(keep)
        sub = A[idx][:, idx].tocsc()
        rhs = -np.asarray(A[idx][:, [pin]].todense()).ravel()
        p = np.empty(A.shape[0])
        p[idx] = _lu(sub).solve(rhs)
        p[pin] = 1.0
        # Round-off below the smallest probabilities: not a law's value.
        return np.maximum(p, 0.0)


def _lu(A):
    """Sparse LU of an M-matrix, pivoting on the diagonal under a symmetric
    ordering: the factors keep the M-matrix signs, so the substitutions add
    terms of one sign and the smallest probabilities keep their relative
    accuracy (row pivoting would mix signs and lose the tails)."""
    return scipy.sparse.linalg.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                    options=dict(SymmetricMode=True))


def master_equation(network: ReactionNetwork, volume: Optional[float] = None, grid: Optional[Grid] = None) -> MasterEquation:
    """The master equation of ``network`` at system size ``volume`` (default
    ``network.volume``) on the copy numbers of the concentration box of ``grid``.

    Parameters
    ----------
    network : ReactionNetwork
    volume : float, optional
        Omega; concentrations are n / Omega.
    grid : Grid
        Its box (in concentrations) bounds the lattice; only the box is used.

    Returns
    -------
    MasterEquation
        With ``stationary()``, ``quasi_potential()``, ``mean_first_passage``,
        ``switching_times`` and ``occupancy``.
    """
    if not isinstance(network, ReactionNetwork):
        raise TypeError(f"the master equation needs an hjqp.ReactionNetwork, got {type(network).__name__}")
    volume = network.volume if volume is None else volume
    if volume is None:
        raise ValueError("give volume= (the network has none)")
    if grid is None:
        raise ValueError("give grid= (its box of concentrations bounds the lattice)")
    lattice = network.lattice(volume, grid)
    _memory.require(float(lattice.states) * LU_BYTES_PER_STATE,
                    f"the master equation on {' x '.join(map(str, lattice.shape))} states (shrink the box or the volume)")
    n = lattice.counts()
    rows, cols, vals = [], [], []
    for r, nu in enumerate(network.stoichiometry):
        target = lattice.index(n + nu)
        a = lattice.rates[:, r]
        ok = (target >= 0) & (a > 0)
        rows.append(np.flatnonzero(ok))
        cols.append(target[ok])
        vals.append(a[ok])
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    Q = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(lattice.states, lattice.states))
    Q = Q - scipy.sparse.diags(np.asarray(Q.sum(axis=1)).ravel())
    return MasterEquation(network, float(volume), lattice, Q.tocsr())
