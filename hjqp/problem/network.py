"""Chemical reaction networks (and other density-dependent jump processes):
copy numbers n change by stoichiometric vectors nu_r at rates
Omega a_r(n / Omega). In the concentrations x = n / Omega their large
deviations have the Hamiltonian ``H(x, p) = sum_r a_r(x) (exp(<p, nu_r>) - 1)``
with eps = 1 / Omega (Kurtz's scaling)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import _memory, _validate
from ..grid import Grid
from .fields import call_field
from .jump import JumpHamiltonian
from .sde import SDE

__all__ = ["ReactionNetwork", "MassAction"]


class MassAction:
    """Mass-action propensities ``a_r(x) = k_r prod_i x_i^{m_ri}``.

    On the lattice of copy numbers the propensities are the combinatorial
    ones, ``Omega k_r prod_i n_i (n_i - 1) ... (n_i - m_ri + 1) / Omega^{m_ri}``
    (Gillespie's), which vanish where a reaction would consume more
    molecules than there are, and tend to ``Omega a_r(n / Omega)``.

    Parameters
    ----------
    rates : array (R,)
        Rate constants k_r > 0 (in concentration units).
    reactants : int array (R, d)
        Molecules of each species consumed by each reaction (m_ri >= 0).
    """

    def __init__(self, rates, reactants):
        k = np.array(_validate.real_array(rates, "rates"), dtype=float)  # a copy: the law keeps what it was given
        k.flags.writeable = False
        m = _integers(reactants, "reactants")
        if k.ndim != 1 or m.ndim != 2 or m.shape[0] != len(k):
            raise ValueError(f"rates must have shape (R,) and reactants (R, d); got {k.shape} and {m.shape}")
        if not np.all(np.isfinite(k) & (k > 0)):
            raise ValueError(f"mass-action rate constants must be positive and finite, got {k.tolist()}")
        if np.any(m < 0):
            r, i = np.argwhere(m < 0)[0]
            raise ValueError(f"reactants must be >= 0; reaction {r} consumes {m[r, i]} of species {i}")
        self.rates, self.reactants = k, m

    def __call__(self, x):
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        return self.rates * np.prod(x[..., None, :] ** self.reactants, axis=-1)

    def on_lattice(self, counts: np.ndarray, volume: float) -> np.ndarray:
        """The propensities ``(..., R)`` at copy numbers ``(..., d)`` (events per unit time)."""
        n = np.asarray(counts, dtype=float)
        out = np.full(n.shape[:-1] + (len(self.rates),), volume) * self.rates
        for r, row in enumerate(self.reactants):
            for i, m in enumerate(row):
                for j in range(int(m)):
                    out[..., r] *= np.maximum(n[..., i] - j, 0.0) / volume
        return out

    def __repr__(self) -> str:
        return f"MassAction(rates={self.rates.tolist()}, reactants={self.reactants.tolist()})"


class ReactionNetwork(JumpHamiltonian):
    """A reaction network: stoichiometric vectors and propensities.

    It is its own large-deviation Hamiltonian (a :class:`JumpHamiltonian`
    with the propensities as weights and the stoichiometry as jumps), so
    ``hjqp.local_quasipotential``, ``hjqp.landscape``, paths and the
    Monte Carlo functions take it as they take an SDE; its ``drift`` is the
    reaction-rate equations ``x' = sum_r a_r(x) nu_r``.

    Parameters
    ----------
    stoichiometry : int array (R, d)
        nu_r: the change of the copy numbers by reaction r.
    propensities : callable or MassAction
        ``a``: points ``(..., d)`` in concentrations -> ``(..., R)``, finite
        and >= 0. A callable is used on the lattice as ``Omega a(n / Omega)``;
        a :class:`MassAction` law with its combinatorial form.
    volume : float, optional
        The system size Omega used by default (eps = 1 / Omega).
    species, reactions : sequences of str, optional
        Names, used in messages and reports.

    Examples
    --------
    A birth-death process of two species with production rate 2 and
    degradation rate x_i (Poisson stationary law about x = (2, 2)):

    >>> import numpy as np, hjqp
    >>> net = hjqp.ReactionNetwork([[1, 0], [-1, 0], [0, 1], [0, -1]],
    ...     lambda x: np.stack([2 + 0 * x[..., 0], x[..., 0], 2 + 0 * x[..., 1], x[..., 1]], axis=-1))
    >>> net.drift(np.array([1.0, 3.0]))
    array([ 1., -1.])
    """

    def __init__(self, stoichiometry, propensities, volume: Optional[float] = None, *,
                 species: Optional[Sequence[str]] = None, reactions: Optional[Sequence[str]] = None):
        nu = _integers(stoichiometry, "stoichiometry")
        if nu.ndim != 2 or nu.shape[0] < 1 or nu.shape[1] < 1:
            raise ValueError(f"stoichiometry must have shape (R, d), got {nu.shape}")
        zero = np.flatnonzero(~np.any(nu != 0, axis=1))
        if len(zero):
            raise ValueError(f"reaction {self._name(int(zero[0]), reactions)} changes no count (its stoichiometry "
                             "is zero)")
        if not callable(propensities):
            raise TypeError(f"propensities must be a callable x (..., d) -> (..., R) or a MassAction law, got "
                            f"{type(propensities).__name__}")
        if isinstance(propensities, MassAction) and propensities.reactants.shape != nu.shape:
            raise ValueError(f"the mass-action law has reactants of shape {propensities.reactants.shape}, the "
                             f"stoichiometry {nu.shape}")
        if volume is not None:
            volume = float(volume)
            if not (np.isfinite(volume) and volume > 0):
                raise ValueError(f"volume must be positive and finite, got {volume}")
        d = nu.shape[1]
        self.stoichiometry = nu
        self.propensities = propensities
        self.volume = volume
        self.species = list(species) if species is not None else [f"X{i}" for i in range(d)]
        self.reactions = list(reactions) if reactions is not None else None
        if len(self.species) != d:
            raise ValueError(f"{len(self.species)} species names for {d} species")
        if self.reactions is not None and len(self.reactions) != len(nu):
            raise ValueError(f"{len(self.reactions)} reaction names for {len(nu)} reactions")
        if d in (2, 3):
            super().__init__(propensities, nu.astype(float))
        else:
            # Grids stop at 3D; the rate equations and the lattice work in any dimension.
            self.weights, self.jumps = propensities, nu.astype(float)
            self._count, self._dim = len(nu), d
            self.drift, self.diffusion = self._drift, self._diffusion

    @classmethod
    def mass_action(cls, reactants, products, rates, volume: Optional[float] = None, **names) -> "ReactionNetwork":
        """The mass-action network of reactions ``reactants[r] -> products[r]``
        (int arrays (R, d)) with rate constants ``rates`` (R,)."""
        m, q = _integers(reactants, "reactants"), _integers(products, "products")
        if m.shape != q.shape:
            raise ValueError(f"reactants and products must have the same shape, got {m.shape} and {q.shape}")
        return cls(q - m, MassAction(rates, m), volume, **names)

    @property
    def dim(self) -> int:
        return self.stoichiometry.shape[1]

    @property
    def count(self) -> int:
        return len(self.stoichiometry)

    def hamiltonian(self) -> JumpHamiltonian:
        """The large-deviation Hamiltonian ``sum_r a_r(x) (exp(<p, nu_r>) - 1)``
        (the network itself: it is one)."""
        return self

    def chemical_langevin(self) -> SDE:
        """The chemical Langevin equation, ``dx = sum_r a_r nu_r dt +
        sqrt(eps) (sum_r a_r nu_r nu_r^T)^{1/2} dW`` (eps = 1 / Omega): the
        Gaussian approximation, whose barriers differ from the network's."""
        return self.gaussian()

    def boundary_sides(self, grid: Grid):
        """The lower sides of the box at concentration 0 (no count goes below
        0), or within 1 % of the box's extent from it (a box kept just off the
        axes, where U's gradient is infinite: no other state fits in the strip)."""
        return tuple((k, 0) for k in range(grid.ndim) if grid.lower[k] <= 0.01 * grid.upper[k])

    def reaction_name(self, r: int) -> str:
        return self._name(r, self.reactions)

    # -- the lattice of copy numbers -------------------------------------------------

    def lattice(self, volume: float, grid: Grid) -> "Lattice":
        """The lattice of copy numbers in the concentration box of ``grid``
        at system size ``volume``, with the propensities tabulated and checked."""
        return Lattice(self, volume, grid)

    def lattice_propensities(self, counts: np.ndarray, volume: float) -> np.ndarray:
        """Propensities ``(n, R)`` at copy numbers ``(n, d)``: the law's own
        lattice form, or ``Omega a(n / Omega)``; checked finite and >= 0,
        and zero where a reaction would make a count negative (the error
        names the reaction and the state)."""
        n = np.asarray(counts)
        if isinstance(self.propensities, MassAction):
            a = self.propensities.on_lattice(n, volume)
        else:
            x = n / volume
            a = volume * call_field(self.propensities, x, "propensities")
            if a.shape != x.shape[:-1] + (self.count,):
                raise ValueError(f"the propensities callable returned shape {a.shape} for points of shape {x.shape}; "
                                 f"expected {x.shape[:-1] + (self.count,)}")
        bad = ~np.all(np.isfinite(a) & (a >= 0), axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            r = int(np.flatnonzero(~(np.isfinite(a[i]) & (a[i] >= 0)))[0])
            raise ValueError(f"the propensity of reaction {self.reaction_name(r)} is {a[i, r]:.6g} at copy numbers "
                             f"{self._state(n[i])}: propensities must be finite and >= 0")
        for r, nu in enumerate(self.stoichiometry):
            neg = np.any(n + nu < 0, axis=1) & (a[:, r] > 0)
            if neg.any():
                i = int(np.flatnonzero(neg)[0])
                raise ValueError(f"reaction {self.reaction_name(r)} has propensity {a[i, r]:.6g} at copy numbers "
                                 f"{self._state(n[i])}, where it would make a count negative: its propensity must "
                                 "vanish there")
        return a

    def __repr__(self) -> str:
        return (f"ReactionNetwork({self.count} reactions, species {self.species}"
                + (f", volume {self.volume:g}" if self.volume is not None else "") + ")")

    def _state(self, n) -> str:
        return "(" + ", ".join(f"{s} = {int(v)}" for s, v in zip(self.species, n)) + ")"

    @staticmethod
    def _name(r: int, names) -> str:
        return f"{r} ({names[r]})" if names is not None else str(r)


class Lattice:
    """A box of copy numbers and the propensities on it.

    ``lower`` (d,) and ``shape`` (d,): counts ``lower[k] .. lower[k] +
    shape[k] - 1`` of each species: from 0 up to the upper corner of the
    concentration box of a grid; ``counts()`` (states, d) row-major, the last species
    fastest; ``rates`` (states, R); ``points()`` the concentrations n / Omega.
    """

    # Bytes per state and reaction while tabulating (the propensities, their
    # cumulative sums in the kernel, and temporaries).
    BYTES_PER_RATE = 40

    def __init__(self, network: ReactionNetwork, volume: float, grid: Grid):
        volume = float(volume)
        if not (np.isfinite(volume) and volume > 0):
            raise ValueError(f"volume must be positive and finite, got {volume}")
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an hjqp.Grid (the concentration box), got {type(grid).__name__}")
        if grid.ndim != network.dim:
            raise ValueError(f"the grid is {grid.ndim}-dimensional, the network has {network.dim} species")
        # From count 0: the states below the box's lower corner are states of
        # the network all the same, and a path may visit them.
        lo = np.zeros(grid.ndim, dtype=np.int64)
        hi = np.floor(np.asarray(grid.upper) * volume + 1e-9).astype(np.int64)
        if np.any(hi < lo):
            raise ValueError(f"the box {grid.lower} to {grid.upper} holds no copy numbers >= 0 at volume {volume:g}")
        self.network, self.volume, self.grid = network, volume, grid
        self.lower, self.shape = lo, hi - lo + 1
        states = float(np.prod(self.shape.astype(float)))
        _memory.require(states * network.count * self.BYTES_PER_RATE,
                        f"the lattice of {' x '.join(map(str, self.shape))} copy numbers at volume {volume:g} "
                        "(shrink the box or the volume)")
        self.rates = np.ascontiguousarray(network.lattice_propensities(self.counts(), volume))

    @property
    def states(self) -> int:
        return int(np.prod(self.shape))

    def counts(self) -> np.ndarray:
        axes = [np.arange(lo, lo + n) for lo, n in zip(self.lower, self.shape)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))

    def points(self) -> np.ndarray:
        """The states' concentrations (states, d)."""
        return self.counts() / self.volume

    def index(self, counts: np.ndarray) -> np.ndarray:
        """State indices of copy numbers (..., d); -1 outside the box."""
        n = np.asarray(counts, dtype=np.int64) - self.lower
        inside = np.all((n >= 0) & (n < self.shape), axis=-1)
        strides = np.cumprod(np.concatenate([self.shape[1:], [1]])[::-1])[::-1]
        return np.where(inside, n @ strides, -1)

    def nearest(self, points) -> np.ndarray:
        """The copy numbers nearest to concentrations (..., d)."""
        return np.rint(np.asarray(points, dtype=float) * self.volume).astype(np.int64)


def _integers(values, name: str) -> np.ndarray:
    a = np.asarray(values)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be integers, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            where = np.argwhere(bad)[0]
            raise ValueError(f"{name} must be integers; entry {tuple(int(i) for i in where)} is {a[tuple(where)]}")
    return a.astype(np.int64)
