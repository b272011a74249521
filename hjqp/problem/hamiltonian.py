"""The base class of the Hamiltonians H(x, p), convex in p with H(x, 0) = 0,
whose quasi-potentials hjqp computes (:class:`hjqp.SDE`,
:class:`hjqp.JumpHamiltonian`)."""

from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np

from ..grid import Grid

__all__ = ["Hamiltonian"]

ArrayFunction = Callable[[np.ndarray], np.ndarray]


class Hamiltonian:
    """A Hamiltonian ``H(x, p)``, convex in ``p``, with ``H(x, 0) = 0``.

    Its drift ``b(x) = H_p(x, 0)`` and diffusion ``D(x) = H_pp(x, 0)`` (the
    quadratic part ``b . p + 1/2 p^T D p``, which alone is the Hamiltonian of
    an :class:`hjqp.SDE`) are the attributes ``drift`` and ``diffusion``:
    callables of points ``(..., d)`` or arrays sampled on a grid. The
    attractors, basins and flow of a landscape are those of the drift.
    """

    drift: Union[ArrayFunction, np.ndarray]
    diffusion: Union[float, ArrayFunction, np.ndarray]

    @property
    def dim(self) -> Optional[int]:
        """The dimension d when arrays fix it, else None (set by the grid)."""
        raise NotImplementedError

    def boundary_sides(self, grid: Grid):
        """The sides ``(axis, end)`` (end 0: lower, -1: upper) of the grid's
        box that lie on the boundary of the state space, which the process
        never crosses (none here: the box cuts the space)."""
        return ()

    def fields(self, grid: Grid, supersample: Optional[int] = 1, *, threads: Optional[int] = None):
        """The Hamiltonian bound to a grid (:class:`hjqp.problem.Fields`)."""
        raise NotImplementedError
