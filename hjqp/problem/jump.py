"""The exponential family ``H(x, p) = sum_r w_r(x) (exp(<p, nu_r(x)>) - 1)``
of Markov jump processes and of minibatch SGD's own large deviations."""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np

from .. import _validate
from ..grid import Grid
from .fields import JumpFields, call_field
from .hamiltonian import Hamiltonian
from .sde import SDE

__all__ = ["JumpHamiltonian"]

ArrayFunction = Callable[[np.ndarray], np.ndarray]


class JumpHamiltonian(Hamiltonian):
    """``H(x, p) = sum_r w_r(x) (exp(<p, nu_r(x)>) - 1)``, ``w_r >= 0``.

    The large-deviation Hamiltonian of a Markov jump process with jumps
    ``eps nu_r`` at rates ``w_r / eps`` (reaction networks: eps = 1 / volume),
    and of minibatch SGD (``w_i = 1/n``, ``nu_i = -grad f_i``: the cumulant
    generating function of one step, up to the logarithm, which leaves the
    zero set and hence the quasi-potential unchanged). Its drift is
    ``H_p(x, 0) = sum_r w_r nu_r`` and its diffusion (quadratic part)
    ``sum_r w_r nu_r nu_r^T``.

    Parameters
    ----------
    weights : callable or ndarray
        ``w``: a callable mapping points ``(..., d)`` to ``(..., R)``, or an
        array sampled on the grid, shape ``(*grid.shape, R)``. Non-negative.
    jumps : ndarray or callable
        ``nu``: a constant ``(R, d)`` array, a callable mapping points
        ``(..., d)`` to ``(..., R, d)``, or an array ``(*grid.shape, R, d)``.
        The jumps of positive weight must span R^d at every point (otherwise
        the process cannot move along some direction and ``K(x)`` is
        unbounded).

    Examples
    --------
    A birth-death process in each coordinate with detailed balance about 0:

    >>> import numpy as np, hjqp
    >>> jumps = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], float)
    >>> def weights(x):
    ...     return np.stack([np.exp(-x[..., 0]), np.exp(x[..., 0]),
    ...                      np.exp(-x[..., 1]), np.exp(x[..., 1])], axis=-1)
    >>> H = hjqp.JumpHamiltonian(weights, jumps)
    """

    def __init__(self, weights, jumps):
        self.weights = self._checked_input(weights, "weights")
        self.jumps = self._checked_input(jumps, "jumps")
        w, nu = self.weights, self.jumps
        if isinstance(nu, np.ndarray) and nu.ndim == 2:
            if nu.shape[1] < 2 or nu.shape[0] < 1:
                raise ValueError(f"constant jumps must have shape (R, d) with d >= 2, got {nu.shape}")
            if not np.all(np.isfinite(nu)):
                raise ValueError("jumps must be finite")
        elif isinstance(nu, np.ndarray) and nu.ndim not in (4, 5):
            raise ValueError(
                "jumps must be an (R, d) array, a callable, or an array sampled on the grid "
                f"(*grid.shape, R, d); got an array of shape {nu.shape}"
            )
        if isinstance(w, np.ndarray):
            if w.ndim not in (3, 4):
                raise ValueError(
                    f"weights must be a callable or an array sampled on the grid (*grid.shape, R); got shape {w.shape}"
                )
            _check_weights(w.reshape(-1, w.shape[-1]), lambda i: f"grid node {np.unravel_index(i, w.shape[:-1])}")
        self._count = None
        if isinstance(w, np.ndarray):
            self._count = w.shape[-1]
        if isinstance(nu, np.ndarray):
            r = nu.shape[-2]
            if self._count is not None and r != self._count:
                raise ValueError(f"weights give {self._count} jumps but jumps has {r}")
            self._count = r
        dims = set()
        if isinstance(nu, np.ndarray):
            dims.add(nu.shape[-1])
            if nu.ndim >= 4:
                dims.add(nu.ndim - 2)
        if isinstance(w, np.ndarray):
            dims.add(w.ndim - 1)
        if len(dims) > 1:
            raise ValueError(f"weights and jumps disagree on the dimension: {sorted(dims)}")
        self._dim = dims.pop() if dims else None
        if isinstance(w, np.ndarray) and (not callable(nu)):
            # Both on the grid (or constant jumps): the drift and diffusion are
            # arrays too.
            nuv = nu if nu.ndim > 2 else np.broadcast_to(nu, w.shape + (nu.shape[-1],))
            self.drift = np.einsum("...r,...ri->...i", w, nuv)
            self.diffusion = np.einsum("...r,...ri,...rj->...ij", w, nuv, nuv)
        else:
            self.drift = self._drift
            self.diffusion = self._diffusion

    # -- the Hamiltonian at points ------------------------------------------------

    @property
    def dim(self) -> Optional[int]:
        return self._dim

    @property
    def count(self) -> Optional[int]:
        """The number of jumps R (None until a callable has been evaluated)."""
        return self._count

    def jump_count(self, grid: Grid) -> Tuple[int, bool]:
        """R, and whether the jumps vary with position: known from the
        arrays, or from the weights at the box's centre (one point), so that
        memory can be checked before any field is sampled."""
        if self._count is None:  # (weights and jumps both callables)
            self.weights_at(0.5 * (np.asarray(grid.lower, dtype=float) + np.asarray(grid.upper, dtype=float))[None])
        return int(self._count), callable(self.jumps) or np.ndim(self.jumps) > 2

    def weights_at(self, points) -> np.ndarray:
        """``w`` at points ``(..., d)`` -> ``(..., R)`` (callables only;
        arrays are evaluated through :meth:`fields`)."""
        p = np.asarray(points, dtype=float)
        if not callable(self.weights):
            raise ValueError("weights were given as an array on a grid: evaluate them through H.fields(grid)")
        w = call_field(self.weights, p, "weights")
        if w.shape[:-1] != p.shape[:-1] or w.ndim != p.ndim:
            raise ValueError(f"the weights callable returned shape {w.shape} for points of shape {p.shape}; "
                             f"expected {p.shape[:-1]} + (R,)")
        self._set_count(w.shape[-1], "weights")
        _check_weights(w.reshape(-1, w.shape[-1]), lambda i: f"x = {p.reshape(-1, p.shape[-1])[i].tolist()}")
        return w

    def jumps_at(self, points) -> np.ndarray:
        """``nu`` at points ``(..., d)`` -> ``(..., R, d)``."""
        p = np.asarray(points, dtype=float)
        nu = self.jumps
        if callable(nu):
            out = call_field(nu, p, "jumps")
            if out.shape[:-2] != p.shape[:-1] or out.ndim != p.ndim + 1 or out.shape[-1] != p.shape[-1]:
                raise ValueError(f"the jumps callable returned shape {out.shape} for points of shape {p.shape}; "
                                 f"expected {p.shape[:-1]} + (R, {p.shape[-1]})")
            self._set_count(out.shape[-2], "jumps")
            if not np.all(np.isfinite(out)):
                i = int(np.flatnonzero(~np.all(np.isfinite(out.reshape(len(out.reshape(-1, *out.shape[-2:])), -1)),
                                               axis=1))[0])
                raise ValueError(f"jumps are not finite at x = {p.reshape(-1, p.shape[-1])[i].tolist()}")
            return out
        if nu.ndim == 2:
            if nu.shape[1] != p.shape[-1]:
                raise ValueError(f"the jumps are {nu.shape[1]}-dimensional but the points are {p.shape[-1]}-dimensional")
            return np.broadcast_to(nu, p.shape[:-1] + nu.shape)
        raise ValueError("jumps were given as an array on a grid: evaluate them through H.fields(grid)")

    def __call__(self, points, momenta) -> np.ndarray:
        """``H(x, p)`` for points and momenta of shape ``(..., d)``; returns ``(...)``."""
        w, nu, p = self._terms(points, momenta)
        return np.sum(w * np.expm1(np.einsum("...ri,...i->...r", nu, p)), axis=-1)

    def velocity(self, points, momenta) -> np.ndarray:
        """``H_p(x, p) = sum_r w_r nu_r exp(<p, nu_r>)``: the velocity of the
        characteristic with momentum p; ``(..., d)``."""
        w, nu, p = self._terms(points, momenta)
        e = w * np.exp(np.einsum("...ri,...i->...r", nu, p))
        return np.einsum("...r,...ri->...i", e, nu)

    def gaussian(self):
        """The SDE with this Hamiltonian's quadratic part (its drift and
        diffusion): the Gaussian approximation."""
        return SDE(self.drift, self.diffusion)

    def fields(self, grid: Grid, supersample: Optional[int] = 1, *, threads: Optional[int] = None):
        """The Hamiltonian bound to a grid (:class:`hjqp.problem.JumpFields`)."""
        return JumpFields(self, grid, supersample, threads=threads)

    def __repr__(self) -> str:
        def describe(v):
            if callable(v):
                return getattr(v, "__name__", type(v).__name__)
            return f"array{np.shape(v)}"
        return f"JumpHamiltonian(weights={describe(self.weights)}, jumps={describe(self.jumps)})"

    # -- helpers --------------------------------------------------------------------

    def _drift(self, points) -> np.ndarray:
        p = np.asarray(points, dtype=float)
        return np.einsum("...r,...ri->...i", self.weights_at(p), self.jumps_at(p))

    def _diffusion(self, points) -> np.ndarray:
        p = np.asarray(points, dtype=float)
        nu = self.jumps_at(p)
        return np.einsum("...r,...ri,...rj->...ij", self.weights_at(p), nu, nu)

    def _terms(self, points, momenta):
        x = np.asarray(points, dtype=float)
        p = np.asarray(momenta, dtype=float)
        return self.weights_at(x), self.jumps_at(x), p

    def _set_count(self, r: int, name: str) -> None:
        if self._count is None:
            self._count = r
        elif r != self._count:
            raise ValueError(f"{name} give {r} jumps, but {self._count} were given before")

    @staticmethod
    def _checked_input(value, name: str):
        """A callable as it is; an array as a read-only float64 copy: the
        Hamiltonian keeps what it was given (its drift and diffusion are
        computed from it once), whatever the caller later does to its own
        array."""
        if callable(value):
            return value
        try:
            arr = np.array(_validate.real_array(value, name), dtype=float, order="C", copy=True)
        except ValueError:
            raise ValueError(f"{name} must be real numbers or a callable, got {type(value).__name__}") from None
        arr.flags.writeable = False
        return arr


def _check_weights(w: np.ndarray, describe: Callable[[int], str]) -> None:
    """Raise ValueError naming the first row of (n, R) weights with a negative
    or non-finite entry."""
    bad = ~np.all(np.isfinite(w) & (w >= 0), axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"weights must be finite and non-negative; at {describe(i)} they are {w[i].tolist()}")

