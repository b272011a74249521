"""Problems with exact quasi-potentials in any dimension d >= 2, for the
path-based methods (:func:`hjqp.minimum_action`, :func:`hjqp.barriers`):
the quadratic construction b = -1/2 D grad U + l with l . grad U = 0, and
the jump constructions (detailed-balance pairs, a cycle of jumps), about a
potential with one well or two."""

from __future__ import annotations

import numpy as np

from ..problem import SDE, JumpHamiltonian
from .jumps import _pair_weights, _pairs, _phi, _potential
from .problem import Problem

__all__ = ["manufactured_nd", "jump_double_well", "double_well_potential"]


def _checked_dim(dim) -> int:
    if isinstance(dim, bool) or not (isinstance(dim, (int, np.integer)) and dim >= 2):
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    return int(dim)


def double_well_potential(dim: int, tilt: float = 0.5, valley: float = 0.3):
    """A potential with two minima in R^d and the saddle between them.

        U(x) = (s^2 - 1)^2 + tilt (s^3 / 3 - s) + 1/2 sum_{k>=1} q_k (x_k - kappa_k (s^2 - 1))^2,

    s = x_0, q_k = 1 + k / d (stiffness 1 to 2), kappa_k = valley (-1)^k / k.
    Its gradient vanishes where x_k = kappa_k (s^2 - 1) and
    (s^2 - 1)(4 s + tilt) = 0: minima at s = +-1 (x_k = 0), U = -+2 tilt / 3,
    and the saddle at s = -tilt / 4 (``|tilt| < 4``); the valley bends the
    transition path out of the x_0 axis.

    Returns
    -------
    U, grad U : callables on points (..., d)
    minima : ndarray (2, d)
        s = -1 first.
    saddle : ndarray (d,)
    """
    d = _checked_dim(dim)
    t = float(tilt)
    if not abs(t) < 4.0:
        raise ValueError(f"tilt must lie in (-4, 4), got {tilt!r}")
    k = np.arange(1, d)
    q = 1.0 + k / d
    kappa = float(valley) * (-1.0) ** k / k

    def U(x):
        x = np.asarray(x, dtype=float)
        s = x[..., 0]
        y = x[..., 1:] - kappa * (s * s - 1.0)[..., None]
        return (s * s - 1.0) ** 2 + t * (s**3 / 3.0 - s) + 0.5 * np.sum(q * y * y, axis=-1)

    def grad(x):
        x = np.asarray(x, dtype=float)
        s = x[..., 0]
        y = x[..., 1:] - kappa * (s * s - 1.0)[..., None]
        g = np.empty_like(x)
        g[..., 1:] = q * y
        g[..., 0] = (s * s - 1.0) * (4.0 * s + t) - 2.0 * s * np.sum(q * kappa * y, axis=-1)
        return g

    def point(s):
        p = np.zeros(d)
        p[0] = s
        p[1:] = kappa * (s * s - 1.0)
        return p

    return U, grad, np.array([point(-1.0), point(1.0)]), point(-t / 4.0)


def _rotation_matrix(d: int, rng) -> np.ndarray:
    """An orthogonal matrix (QR of a Gaussian one, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def manufactured_nd(dim: int = 5, wells: int = 1, rotation: float = 1.0, condition: float = 4.0,
                    varying: bool = True, tilt: float = 0.5, seed: int = 0) -> Problem:
    """An SDE in R^d whose quasi-potential is exactly a given U.

    ``b = -1/2 D grad U + l`` with ``l = rotation * A grad U``, A a random
    antisymmetric matrix (so ``l . grad U = 0``), and
    ``D(x) = c(x) C``: C a random SPD matrix with eigenvalues spread
    log-evenly over [1 / sqrt(condition), sqrt(condition)], and
    ``c(x) = 1 + 0.3 sin(x_0 + x_1)`` with ``varying`` (else c = 1, D
    constant, which is much cheaper in high dimension). Then
    ``1/2 grad U^T D grad U + b . grad U = 0``.

    With ``wells=1``, U = 1/2 x^T Q x + x_0^4 / 4 (the jump models'
    potential), attractor 0: U(x) is the quasi-potential everywhere. With
    ``wells=2``, U is :func:`double_well_potential`: the barriers are
    V_12 = U(z) - U(O_1), V_21 = U(z) - U(O_2) (``costs``), and W and phi
    follow (``global_values``).

    Parameters
    ----------
    dim : int >= 2
    wells : 1 or 2
    rotation : float
        Size of the non-gradient part l relative to grad U.
    condition : float >= 1
        The condition number of C.
    varying : bool
        D position-dependent (a callable) or constant (a matrix).
    tilt : float
        For two wells: the double well's tilt (see :func:`double_well_potential`).
    seed : int
        For C and A.
    """
    d = _checked_dim(dim)
    if wells not in (1, 2):
        raise ValueError(f"wells must be 1 or 2, got {wells!r}")
    if not (np.isfinite(condition) and condition >= 1.0):
        raise ValueError(f"condition must be a number >= 1, got {condition!r}")
    rng = np.random.default_rng(seed)
    basis = _rotation_matrix(d, rng)
    eig = np.exp(np.linspace(-0.5, 0.5, d) * np.log(condition))
    C = (basis * eig) @ basis.T
    C = 0.5 * (C + C.T)
    G = rng.normal(size=(d, d))
    A = (G - G.T) / np.sqrt(2.0 * d)  # |A g| ~ |g|
    A = float(rotation) * A
    if wells == 1:
        U, grad = _potential(d)
        minima, saddle = np.zeros((1, d)), None
    else:
        U, grad, minima, saddle = double_well_potential(d, tilt)
    M = -0.5 * C + A  # b = c(x) (-1/2 C) grad U + A grad U

    if varying:
        def factor(x):
            return 1.0 + 0.3 * np.sin(x[..., 0] + x[..., 1])

        def drift(x):
            x = np.asarray(x, dtype=float)
            g = grad(x)
            return factor(x)[..., None] * (g @ (-0.5 * C).T) + g @ A.T

        def diffusion(x):
            x = np.asarray(x, dtype=float)
            return factor(x)[..., None, None] * C

        sde = SDE(drift, diffusion)
    else:
        def drift(x):
            return grad(np.asarray(x, dtype=float)) @ M.T

        sde = SDE(drift, C)
    return _problem(f"manufactured_{d}d_{wells}well", sde, U, grad, minima, saddle, d)


def jump_double_well(dim: int = 5, size: float = 0.5, strength: float = 2.0, tilt: float = 0.5,
                     cyclic: bool = True) -> Problem:
    """A jump process in R^d with two metastable states and exact barriers.

    :func:`hjqp.models.jump_detailed_balance`'s pairs (``+-size e_k``,
    ``+-size (e_0 + e_1)``, rates ``a+ = kappa_r(x)``, ``a- = a+ exp(<grad U,
    nu_r>)``) and, with ``cyclic``, :func:`hjqp.models.jump_cyclic`'s cycle
    of jumps (``size e_k`` and ``-size sum e_k`` at rates ``strength kappa(x)
    phi(<grad U, nu_r>)``), about :func:`double_well_potential`'s U: then
    ``H(x, grad U) = 0`` and U increases along ``x' = H_p(x, grad U)``, so the
    local quasi-potentials are U - U(O_i) up to the saddle and the barriers
    U(z) - U(O_i) (``costs``).
    """
    d = _checked_dim(dim)
    U, grad, minima, saddle = double_well_potential(d, tilt)
    base = _pairs(d, size)
    cycle = np.vstack([np.eye(d), -np.ones((1, d))]) * size
    jumps = np.vstack([base, -base] + ([cycle] if cyclic else []))

    def weights(x):
        x = np.asarray(x, dtype=float)
        pairs = _pair_weights(x, grad, base)
        if not cyclic:
            return pairs
        kappa = strength * (1.0 + 0.3 * np.cos(x[..., :1] + 2.0 * x[..., 1:2]))
        return np.concatenate([pairs, kappa * _phi(grad(x) @ cycle.T)], axis=-1)

    H = JumpHamiltonian(weights, jumps)
    name = f"jump_double_well_{d}d" + ("_cyclic" if cyclic else "")
    return _problem(name, H, U, grad, minima, saddle, d)


def _problem(name, H, U, grad, minima, saddle, d) -> Problem:
    lower, upper = (-1.6,) * d, (1.6,) * d
    if saddle is None:
        return Problem(name, H, tuple(minima[0]), lower, upper, exact=U, exact_gradient=grad,
                       attractors=(tuple(minima[0]),))
    u_min = U(minima)
    u_saddle = float(U(saddle))
    exits = tuple(float(u_saddle - u) for u in u_min)
    costs = ((0.0, exits[0]), (exits[1], 0.0))
    W = np.array([exits[1], exits[0]])  # the 1-graph is the edge 2 -> 1, the 2-graph 1 -> 2
    phi = tuple(float(v) for v in W - W.min())

    def exact_global(x):
        return np.asarray(U(x)) - float(np.min(u_min))

    return Problem(name, H, tuple(minima[0]), lower, upper, exact=lambda x: np.asarray(U(x)) - float(u_min[0]),
                   exact_gradient=grad, attractors=tuple(tuple(m) for m in minima), saddles=(tuple(saddle),),
                   exit_costs=exits, costs=costs, global_values=phi, exact_global=exact_global)
