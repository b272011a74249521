"""Stochastic differential equations dx = b(x) dt + sqrt(eps) Sigma(x) dW."""

from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np

from .. import _validate
from ..grid import Grid
from .fields import Fields, check_spd
from .hamiltonian import Hamiltonian

__all__ = ["SDE"]

ArrayFunction = Callable[[np.ndarray], np.ndarray]
Drift = Union[ArrayFunction, np.ndarray]
Diffusion = Union[float, np.ndarray, ArrayFunction]


class SDE(Hamiltonian):
    """The SDE ``dx = b(x) dt + sqrt(eps) Sigma(x) dW`` with ``D = Sigma Sigma^T``.

    Parameters
    ----------
    drift : callable or ndarray
        ``b``. A callable maps points of shape ``(..., d)`` to drift vectors of
        shape ``(..., d)`` (vectorised over the leading axes). An array is the
        drift sampled on the grid it will be solved on, shape ``(*grid.shape, d)``.
    diffusion : float, ndarray or callable, default 1.0
        ``D``, symmetric positive definite. A positive scalar ``c`` means
        ``D = c I``; a ``(d, d)`` array is a constant matrix; an array of
        shape ``(*grid.shape, d, d)`` is ``D`` sampled on the grid; a callable
        maps points ``(..., d)`` to ``(..., d, d)`` (or to ``(...)`` for
        ``D = c(x) I``).

    Examples
    --------
    The paper's Example 3.1, ``f = x1^2 + x2^2`` with ``D = diag(mu, 2 - mu)``:

    >>> import numpy as np, hjqp
    >>> mu = 0.5
    >>> sde = hjqp.SDE.gradient(lambda x: 2 * x, diffusion=np.diag([mu, 2 - mu]))
    """

    def __init__(self, drift: Drift, diffusion: Diffusion = 1.0):
        if callable(drift):
            self.drift = drift
        else:
            b = _float_array(drift, "drift")
            if b.ndim not in (3, 4) or b.shape[-1] != b.ndim - 1:
                raise ValueError(
                    "a drift array must be sampled on a 2D or 3D grid, with shape "
                    f"(n0, n1, 2) or (n0, n1, n2, 3); got {b.shape}"
                )
            self.drift = b
        if callable(diffusion):
            self.diffusion = diffusion
        else:
            dm = _float_array(diffusion, "diffusion")
            if dm.ndim == 0:
                if not (np.isfinite(dm) and dm > 0):
                    raise ValueError(f"a scalar diffusion must be positive and finite, got {float(dm)}")
                check_spd(float(dm) * np.eye(2)[None], lambda i: "the scalar diffusion")
            elif dm.ndim == 2:
                if dm.shape[0] != dm.shape[1] or dm.shape[0] < 2:
                    raise ValueError(f"a constant diffusion matrix must be square, d x d with d >= 2 (2x2 or 3x3 on "
                                     f"grids), got {dm.shape}")
                check_spd(dm[None], lambda i: "the constant diffusion matrix")
            elif dm.ndim in (4, 5):
                if dm.shape[-1] != dm.shape[-2] or dm.shape[-1] != dm.ndim - 2:
                    raise ValueError(
                        "a diffusion array must be sampled on the grid, with shape "
                        f"(n0, n1, 2, 2) or (n0, n1, n2, 3, 3); got {dm.shape}"
                    )
            else:
                raise ValueError(
                    "diffusion must be a scalar, a (d, d) matrix, an array of shape "
                    f"(*grid.shape, d, d) or a callable; got an array of shape {dm.shape}"
                )
            self.diffusion = dm
        dims = {a.shape[-1] for a in (self.drift,) if isinstance(a, np.ndarray)}
        if isinstance(self.diffusion, np.ndarray) and self.diffusion.ndim >= 2:
            dims.add(self.diffusion.shape[-1])
        if len(dims) > 1:
            raise ValueError(f"drift and diffusion disagree on the dimension: {sorted(dims)}")
        self._dim: Optional[int] = dims.pop() if dims else None

    def __call__(self, points, momenta) -> np.ndarray:
        """The Hamiltonian ``H(x, p) = 1/2 p^T D p + b . p`` at points and
        momenta ``(..., d)`` (callables only); returns ``(...)``."""
        return self._fields_for(points).hamiltonian(points, momenta)

    def velocity(self, points, momenta) -> np.ndarray:
        """``H_p(x, p) = b + D p`` at points and momenta ``(..., d)``."""
        return self._fields_for(points).velocity(points, momenta)

    def _fields_for(self, points) -> Fields:
        if isinstance(self.drift, np.ndarray) or (isinstance(self.diffusion, np.ndarray) and self.diffusion.ndim > 2):
            raise ValueError("an SDE given by arrays on a grid is evaluated through sde.fields(grid)")
        d = np.shape(points)[-1]
        return Fields(self, Grid((-1.0,) * d, (1.0,) * d, (2,) * d))

    @classmethod
    def gradient(cls, grad_f: Drift, diffusion: Diffusion = 1.0) -> "SDE":
        """The gradient system ``b = -grad f`` (SGD on a loss ``f``).

        Parameters
        ----------
        grad_f : callable or ndarray
            ``grad f``: a callable ``(..., d) -> (..., d)`` or an array sampled
            on the grid, shape ``(*grid.shape, d)``.
        diffusion : see :class:`SDE`.
        """
        if callable(grad_f):
            def drift(x, _g=grad_f):
                return -_validate.real_array(_g(x), "the grad_f callable's result")

            return cls(drift, diffusion)
        return cls(-_float_array(grad_f, "grad_f"), diffusion)

    @property
    def dim(self) -> Optional[int]:
        """The dimension d when arrays fix it, else None (set by the grid)."""
        return self._dim

    def fields(self, grid: Grid, supersample: Optional[int] = 1, *, threads: Optional[int] = None) -> Fields:
        """The drift and diffusion bound to a grid (see :class:`hjqp.problem.Fields`)."""
        return Fields(self, grid, supersample, threads=threads)

    def __repr__(self) -> str:
        def describe(v):
            if callable(v):
                return getattr(v, "__name__", type(v).__name__)
            v = np.asarray(v)
            return f"array{v.shape}" if v.ndim else repr(float(v))

        return f"SDE(drift={describe(self.drift)}, diffusion={describe(self.diffusion)})"


def _float_array(value, name: str) -> np.ndarray:
    """A read-only float64 copy of an array argument: the SDE keeps what it
    was given, whatever the caller later does to its own array (results
    computed from the SDE, such as a quasi-potential's paths, stay
    consistent with it)."""
    try:
        arr = np.array(_validate.real_array(value, name), dtype=float, copy=True)
    except ValueError:
        raise ValueError(f"{name} must be numbers or a callable, got {type(value).__name__}") from None
    arr.flags.writeable = False
    return arr
