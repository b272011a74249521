"""The quasi-potential near an attractor to third order (the initial data
of a solve): the Lyapunov equation for the quadratic part, the order-3 part
of the Hamilton-Jacobi equation for the cubic one."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
import scipy.linalg

from ..problem import Fields

__all__ = ["LocalExpansion", "local_expansion"]


def _monomials(d: int, degree: int):
    """Exponent tuples of the monomials of a given degree in d variables."""
    out = []
    for combo in combinations_with_replacement(range(d), degree):
        e = [0] * d
        for k in combo:
            e[k] += 1
        out.append(tuple(e))
    return out


@dataclass(frozen=True)
class LocalExpansion:
    """The quasi-potential near an attractor O to third order:
    ``U(O + y) = 1/2 y^T Q y + sum_j c_j m_j(y) + O(|y|^4)``.

    ``Q = C^{-1}`` where C solves the Lyapunov equation ``J C + C J^T + D0 = 0``
    (J = Db(O), D0 = D(O)); the cubic coefficients c_j of the monomials m_j
    solve the order-3 part of the Hamilton-Jacobi equation.
    """

    center: np.ndarray      # O, (d,)
    jacobian: np.ndarray    # J = Db(O), (d, d)
    diffusion: np.ndarray   # D0 = D(O), (d, d)
    covariance: np.ndarray  # C, (d, d)
    hessian: np.ndarray     # Q = C^{-1}, (d, d)
    exponents: tuple        # monomials of degree 3
    cubic: np.ndarray       # their coefficients

    def quadratic_value(self, points: np.ndarray) -> np.ndarray:
        """The quadratic part 1/2 y^T Q y at points (..., d), shape (...)."""
        y = np.asarray(points, dtype=float) - self.center
        return 0.5 * np.einsum("...i,ij,...j->...", y, self.hessian, y)

    def value(self, points: np.ndarray) -> np.ndarray:
        """U at points (..., d), shape (...)."""
        y = np.asarray(points, dtype=float) - self.center
        u = self.quadratic_value(points)
        for e, c in zip(self.exponents, self.cubic):
            u = u + c * np.prod(y ** np.asarray(e), axis=-1)
        return u

    def gradient(self, points: np.ndarray) -> np.ndarray:
        """grad U at points (..., d), shape (..., d)."""
        y = np.asarray(points, dtype=float) - self.center
        g = y @ self.hessian.T
        for e, c in zip(self.exponents, self.cubic):
            for k in range(y.shape[-1]):
                if e[k]:
                    ek = list(e)
                    ek[k] -= 1
                    g[..., k] += c * e[k] * np.prod(y ** np.asarray(ek), axis=-1)
        return g


def _interpolated(fields: Fields) -> bool:
    """Whether the fields come from arrays (as the kernel is given them:
    for an SDE any array, for a jump Hamiltonian arrays on the grid)."""
    sde = fields.sde
    if hasattr(sde, "jumps"):
        return any(isinstance(v, np.ndarray) and v.ndim > 2 for v in (sde.weights, sde.jumps))
    return isinstance(sde.drift, np.ndarray) or isinstance(sde.diffusion, np.ndarray)


def local_expansion(fields: Fields, center, jacobian) -> LocalExpansion:
    """Expansion of the quasi-potential about a stable equilibrium (see
    :class:`LocalExpansion`)."""
    grid = fields.grid
    d = grid.ndim
    O = np.asarray(center, dtype=float)
    J = np.asarray(jacobian, dtype=float)
    D0 = fields.diffusion(O[None])[0]
    C = scipy.linalg.solve_continuous_lyapunov(J, -D0)
    C = 0.5 * (C + C.T)
    Q = np.linalg.inv(C)
    Q = 0.5 * (Q + Q.T)
    exps = _monomials(d, 3)

    # The order-3 part F3 of F(y) = H(O + y, Qy) (for an SDE
    # 1/2 (Qy)^T D(O + y) (Qy) + b(O + y) . Qy),
    # from its odd part at two radii (Richardson), in fixed directions.
    diameter = float(np.linalg.norm(np.subtract(grid.upper, grid.lower)))
    lo, hi = np.asarray(grid.lower), np.asarray(grid.upper)
    room = float(np.min(np.minimum(O - lo, hi - O)))
    delta = min(0.01 * diameter, room / 2.5)
    if _interpolated(fields):
        # Arrays are interpolated: derivatives need a few cells.
        delta = max(delta, 4 * max(grid.spacing)) if room >= 10 * max(grid.spacing) else 0.0
    if delta <= 0:
        return LocalExpansion(O, J, D0, C, Q, tuple(exps), np.zeros(len(exps)))
    rng = np.random.default_rng(12345)  # fixed directions: the result is deterministic
    u = rng.normal(size=(4 * len(exps), d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)

    def F(y):
        return fields.hamiltonian(O + y, y @ Q.T)

    def odd_part(r):
        return (F(r * u) - F(-r * u)) / (2 * r**3)

    F3 = (4 * odd_part(delta) - odd_part(2 * delta)) / 3
    # Solve (M y) . grad U3(y) = -F3(y), M = D0 Q + J, on the sample directions.
    M = D0 @ Q + J
    my = u @ M.T
    rows = np.zeros((len(u), len(exps)))
    for j, e in enumerate(exps):
        e = np.asarray(e)
        for k in range(d):
            if e[k]:
                ek = e.copy()
                ek[k] -= 1
                rows[:, j] += my[:, k] * e[k] * np.prod(u**ek, axis=1)
    # At a saddle a monomial can be resonant (exponents e with e . eig(M) = 0:
    # U then has a y^e ln|y| term no polynomial holds); its singular value is
    # rounding noise, and the cut-off leaves its coefficient at 0. At an
    # attractor eig(M) = -eig(J) has positive real parts: nothing is cut.
    cubic = np.linalg.lstsq(rows, -F3, rcond=1e-8)[0]
    return LocalExpansion(O, J, D0, C, Q, tuple(exps), cubic)
