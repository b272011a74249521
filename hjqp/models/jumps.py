"""Jump Hamiltonians ``H = sum_r w_r(x) (exp(<p, nu_r>) - 1)`` with exact
quasi-potentials (detailed balance, and a non-gradient cycle of jumps on
top), the Gaussian limit of many small jumps, and SGD on a separable sample
set; the first two in any dimension."""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.integrate
import scipy.optimize

from ..problem import JumpHamiltonian
from .problem import Problem

__all__ = ["jump_detailed_balance", "jump_cyclic", "jump_gaussian_limit", "separable_sgd"]


def _phi(s: np.ndarray) -> np.ndarray:
    """s / (e^s - 1), 1 at s = 0: positive, and sum_r phi(s_r) (e^{s_r} - 1) = sum_r s_r."""
    s = np.asarray(s, dtype=float)
    small = np.abs(s) < 1e-8
    safe = np.where(small, 1.0, s)
    return np.where(small, 1.0 - 0.5 * s, safe / np.expm1(safe))


def _potential(d: int):
    """U = 1/2 y^T Q y + x_0^4 / 4 (one minimum at 0) and grad U; Q has 2 on
    its diagonal and 0.5, 0.25, 0.5, ... beside it (diagonally dominant)."""
    off = np.where(np.arange(d - 1) % 2 == 0, 0.5, 0.25)
    Q = 2.0 * np.eye(d) + np.diag(off, 1) + np.diag(off, -1)

    def U(x):
        x = np.asarray(x, dtype=float)
        return 0.5 * np.einsum("...i,ij,...j->...", x, Q, x) + 0.25 * x[..., 0] ** 4

    def grad(x):
        x = np.asarray(x, dtype=float)
        g = x @ Q.T
        g[..., 0] += x[..., 0] ** 3
        return g

    return U, grad


def _pairs(d: int, size: float, pairs: int = 0) -> np.ndarray:
    """The jumps +-size e_k and +-size (e_0 + e_1); with `pairs` > 0 (2D)
    instead that many unit directions spread over a half turn, times size."""
    if pairs:
        angles = np.pi * (np.arange(pairs) + 0.25) / pairs
        return np.stack([np.cos(angles), np.sin(angles)], axis=-1) * size
    base = np.vstack([np.eye(d), (np.eye(d)[0] + np.eye(d)[1])[None]]) * size
    return base


def _pair_weights(x: np.ndarray, grad: Callable, base: np.ndarray) -> np.ndarray:
    """Rates of the pairs +-nu_r: a+ = kappa_r(x) > 0 (position-dependent)
    and a- = a+ exp(<grad U, nu_r>), so each pair's share of H(x, grad U) is 0."""
    s = grad(x) @ base.T
    k = np.arange(len(base))
    kappa = 1.0 + 0.4 * np.sin(x[..., :1] * (1.0 + k % 3) + 0.7 * k) * np.cos(x[..., 1:2] - 0.3 * k)
    return np.concatenate([kappa, kappa * np.exp(s)], axis=-1)


def jump_detailed_balance(dim: int = 2, size: float = 0.5, pairs: int = 0) -> Problem:
    """A jump process in detailed balance with respect to a known U.

    Jumps ``+-nu_r`` (``nu = size e_k`` and ``size (e_0 + e_1)``) at rates
    ``a+_r = kappa_r(x)`` (position-dependent, between 0.6 and 1.4) and
    ``a-_r = a+_r exp(<grad U, nu_r>)``: every pair contributes
    ``a+ (e^s - 1) + a- (e^{-s} - 1) = 0`` to ``H(x, grad U)`` (s = <grad U, nu>),
    and U increases along ``x' = H_p(x, grad U)``, so U is the quasi-potential.
    ``U = 1/2 y^T Q y + x_0^4 / 4`` on ``[-1, 1]^d``, attractor 0, any
    dimension d >= 2 (grids: 2 or 3). With ``pairs`` > 0 (2D only) the
    pairs are along that many directions spread over a half turn (2 pairs
    jumps in all).
    """
    if isinstance(dim, bool) or not (isinstance(dim, (int, np.integer)) and dim >= 2):
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    if pairs and (dim != 2 or pairs < 2):
        raise ValueError(f"pairs needs dim = 2 and at least 2 directions, got dim={dim}, pairs={pairs}")
    U, grad = _potential(dim)
    base = _pairs(dim, size, pairs)
    jumps = np.vstack([base, -base])
    H = JumpHamiltonian(lambda x: _pair_weights(np.asarray(x, dtype=float), grad, base), jumps)
    zero = (0.0,) * dim
    return Problem(f"jump_detailed_balance_{dim}d", H, zero, (-1.0,) * dim, (1.0,) * dim, exact=U, exact_gradient=grad)


def jump_cyclic(dim: int = 2, size: float = 0.5, strength: float = 2.0) -> Problem:
    """Detailed-balance pairs plus a cycle of jumps: a non-gradient jump
    process with a known U.

    On top of :func:`jump_detailed_balance`'s pairs, jumps ``nu_1..nu_k``
    with ``sum nu_r = 0`` (``size e_0, size e_1, -size (e_0 + e_1)``, and in
    3D ``size e_2`` in place of e_1's turn) at rates
    ``strength * kappa(x) * phi(s_r)``, ``phi(s) = s / (e^s - 1)``, s_r =
    <grad U, nu_r>: their share of H(x, grad U) is ``kappa sum s_r = 0``. They
    add a circulation to the drift that leaves U unchanged. Any dimension
    d >= 2: the cycle is ``size e_0, ..., size e_{d-1}, -size sum_k e_k``.
    """
    if isinstance(dim, bool) or not (isinstance(dim, (int, np.integer)) and dim >= 2):
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    U, grad = _potential(dim)
    base = _pairs(dim, size)
    cycle = np.vstack([np.eye(dim), -np.ones((1, dim))]) * size
    jumps = np.vstack([base, -base, cycle])

    def weights(x):
        x = np.asarray(x, dtype=float)
        pairs = _pair_weights(x, grad, base)
        kappa = strength * (1.0 + 0.3 * np.cos(x[..., :1] + 2.0 * x[..., 1:2]))
        return np.concatenate([pairs, kappa * _phi(grad(x) @ cycle.T)], axis=-1)

    H = JumpHamiltonian(weights, jumps)
    zero = (0.0,) * dim
    return Problem(f"jump_cyclic_{dim}d", H, zero, (-1.0,) * dim, (1.0,) * dim, exact=U, exact_gradient=grad)


def jump_gaussian_limit(size: float, rotation: float = 1.0) -> Problem:
    """Small jumps whose Hamiltonian tends to a quadratic one as size -> 0.

    The SDE ``b = -1/2 D grad U + rotation J grad U``, ``D = diag(1, 1/2)``,
    ``U = x^2 + y^2`` (:func:`hjqp.models.manufactured`), and the jump process
    with jumps ``+-size e_k`` at rates ``D_kk / (2 size^2) +- b_k / (2 size)``:
    ``H = b . p + 1/2 p^T D p + O(size^2)`` (the pairs' odd terms cancel to
    ``size^2 sum_k b_k p_k^3 / 6``). Its quasi-potential tends to U as
    size -> 0 (``exact`` is U, the limit). Its Gaussian part
    (``problem.sde.gaussian()``) is that SDE exactly, for every size.
    """
    size = float(size)
    dm = np.array([1.0, 0.5])

    def U(x):
        return x[..., 0] ** 2 + x[..., 1] ** 2

    def grad(x):
        return 2.0 * np.asarray(x, dtype=float)

    def drift(x):
        g = grad(x)
        return -0.5 * dm * g + rotation * np.stack([-g[..., 1], g[..., 0]], axis=-1)

    box = 1.0
    largest = np.max(np.abs(drift(np.array([[box, box], [box, -box]]))))
    if not size * largest < 0.99 * dm.min():
        raise ValueError(f"size {size} is too large: the rates must stay positive (size < {dm.min() / largest:.3g})")
    jumps = np.vstack([np.eye(2), -np.eye(2)]) * size

    def weights(x):
        b = drift(np.asarray(x, dtype=float))
        up = dm / (2 * size**2) + b / (2 * size)
        down = dm / (2 * size**2) - b / (2 * size)
        return np.concatenate([up, down], axis=-1)

    H = JumpHamiltonian(weights, jumps)
    return Problem(f"jump_gaussian_limit_{size:g}", H, (0.0, 0.0), (-box, -box), (box, box), exact=U, exact_gradient=grad)


class _Separable1D:
    """The 1D quasi-potential of SGD on per-sample losses with gradients
    ``c_i (x - m_i)`` (batch 1): U'(x) = p*(x), the non-zero root of
    mean_i exp(-p c_i (x - m_i)) = 1, integrated by quadrature."""

    def __init__(self, slopes, centres):
        self.c = np.asarray(slopes, dtype=float)
        self.m = np.asarray(centres, dtype=float)
        self.minimum = float(np.sum(self.c * self.m) / np.sum(self.c))  # mean gradient 0

    def momentum(self, x: float) -> float:
        g = self.c * (x - self.m)
        mean = float(np.mean(g))
        if mean == 0.0:
            return 0.0
        if np.all(g * mean > 0):
            return np.inf  # every jump points downhill: U is infinite here

        def f(p):
            return float(np.log(np.mean(np.exp(-p * g))))

        # f is convex, f(0) = 0 and f'(0) = -mean(g): the other root lies on
        # the side of mean(g); the Gaussian root 2 mean / var starts the bracket.
        lo = hi = 2 * mean / float(np.var(g))
        while f(hi) <= 0:
            hi *= 2
        while f(lo) > 0:
            lo *= 0.5
        return float(scipy.optimize.brentq(f, min(lo, hi), max(lo, hi), xtol=1e-15, rtol=1e-14))

    def __call__(self, x: float) -> float:
        value, _ = scipy.integrate.quad(self.momentum, self.minimum, x, epsabs=1e-13, epsrel=1e-12, limit=200)
        return value


def separable_sgd(n_x: int = 4, n_y: int = 3):
    """SGD (batch 1) on a sample set that is a product of two 1D sets.

    Samples (i, j) have losses ``f_ij = c_i (x - a_i)^2 / 2 + e_j (y - b_j)^2 / 2``;
    per-sample gradients ``(c_i (x - a_i), e_j (y - b_j))`` and the SGD
    Hamiltonian ``mean_ij exp(-<p, grad f_ij>) - 1 = M_x(p_x) M_y(p_y) - 1``
    (M the moment generating functions of the two 1D sets), whose zero set is
    log M_x + log M_y <= 0: U(x, y) = U_x(x) + U_y(y), each the 1D
    quasi-potential, exact by quadrature (:meth:`exact`).

    Returns a :class:`Problem` whose ``sde`` is the :class:`MinibatchSGD`'s
    Hamiltonian and whose ``losses`` is the MinibatchSGD.
    """
    from ..sgd import MinibatchSGD

    rng = np.random.default_rng(7)
    cx = 1.0 + 0.5 * rng.random(n_x)
    ax = np.linspace(-1.0, 1.0, n_x)
    cy = 0.8 + 0.6 * rng.random(n_y)
    by = np.linspace(-0.8, 0.9, n_y)
    ix, iy = np.meshgrid(np.arange(n_x), np.arange(n_y), indexing="ij")
    ix, iy = ix.ravel(), iy.ravel()

    def gradients(x, idx):
        x = np.asarray(x, dtype=float)
        gx = cx[ix[idx]] * (x[..., 0:1] - ax[ix[idx]])
        gy = cy[iy[idx]] * (x[..., 1:2] - by[iy[idx]])
        return np.stack([gx, gy], axis=-1)

    sgd = MinibatchSGD(gradients, n_x * n_y)
    ux, uy = _Separable1D(cx, ax), _Separable1D(cy, by)
    centre = (ux.minimum, uy.minimum)

    def exact(points):
        p = np.asarray(points, dtype=float)
        flat = p.reshape(-1, 2)
        out = np.array([ux(a) + uy(b) for a, b in flat])
        return out.reshape(p.shape[:-1])

    def exact_gradient(points):
        p = np.asarray(points, dtype=float)
        flat = p.reshape(-1, 2)
        out = np.array([[ux.momentum(a), uy.momentum(b)] for a, b in flat])
        return out.reshape(p.shape)

    # The box lies inside the hull of the sample minima, where U is finite.
    return Problem("separable_sgd", sgd.hamiltonian(), centre, (-0.8, -0.6), (0.8, 0.7), exact=exact,
                   exact_gradient=exact_gradient, losses=sgd)
