"""A problem: an SDE with its attractor, a box and what is known exactly
about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import numpy as np

from ..grid import Grid
from ..problem import SDE

__all__ = ["Problem"]

ArrayFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Problem:
    """An SDE with its attractor, a box to solve on and, where known, the
    exact quasi-potential U (a callable on points (..., d)).

    Problems with several attractors also list them all (``attractors``,
    ``attractor`` being the first), their index-1 saddles, and what is known
    exactly about their landscape: ``exit_costs`` (k,), the cost of leaving
    each attractor's basin; ``costs`` (k, k), V_ij; ``global_values`` (k,),
    the global quasi-potential phi at the attractors; ``exact_global``, phi
    on points (..., d). SGD problems carry their per-sample losses
    (``losses``, e.g. a :class:`hjqp.sgd.GaussianMixture1D`).

    Problems with limit cycles list in ``cycles`` one entry per attractor:
    None for a point, the closed curve (n, d) (exact or close) for a cycle,
    whose ``attractors`` entry is then a point on it. A problem whose one
    attractor is a cycle has ``cycles = (curve,)`` and ``attractor`` a
    point on it; :attr:`cycle` gives the curve, what
    :func:`hjqp.local_quasipotential` takes.
    """

    name: str
    sde: SDE
    attractor: Tuple[float, ...]
    lower: Tuple[float, ...]
    upper: Tuple[float, ...]
    exact: Optional[ArrayFunction] = None
    exact_gradient: Optional[ArrayFunction] = None
    attractors: Tuple[Tuple[float, ...], ...] = ()
    saddles: Tuple[Tuple[float, ...], ...] = ()
    exit_costs: Optional[Tuple[float, ...]] = None
    costs: Optional[Tuple[Tuple[float, ...], ...]] = None
    global_values: Optional[Tuple[float, ...]] = None
    exact_global: Optional[ArrayFunction] = None
    losses: Optional[Any] = None
    cycles: Tuple[Any, ...] = ()

    @property
    def cycle(self) -> Optional[np.ndarray]:
        """The curve (n, d) of the first attractor when it is a cycle, else None."""
        return None if not self.cycles or self.cycles[0] is None else np.asarray(self.cycles[0])

    def grid(self, n: int) -> Grid:
        """The problem's box with n nodes per axis."""
        return Grid(self.lower, self.upper, (n,) * len(self.lower))
