"""Reaction networks: the genetic toggle switch, a two-species Schlögl
network, and networks with exact quasi-potentials (detailed balance, and a
complex-balanced mass-action network).

Each returns a :class:`Problem` whose ``sde`` is the
:class:`hjqp.ReactionNetwork` (its own large-deviation Hamiltonian; its
chemical Langevin SDE is ``problem.sde.chemical_langevin()``).
Concentrations are x = n / Omega.
"""

from __future__ import annotations

import numpy as np

from ..problem import ReactionNetwork
from .problem import Problem

__all__ = ["toggle_switch", "schlogl_2d", "network_detailed_balance", "complex_balanced"]

_BIRTH_DEATH = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])


def toggle_switch(a1: float = 3.0, a2: float = 2.95, n: float = 2.0, volume: float = 100.0) -> Problem:
    """The genetic toggle switch (Gardner, Cantor and Collins, Nature 2000):
    two repressors, each made at a rate repressed by the other and degraded
    at rate 1.

    Reactions: 0 -> X at ``a1 / (1 + y^n)``, X -> 0 at ``x``, 0 -> Y at
    ``a2 / (1 + x^n)``, Y -> 0 at ``y``. The rate equations
    ``x' = a1 / (1 + y^n) - x``, ``y' = a2 / (1 + x^n) - y`` are bistable for
    the defaults (a1 = 3, a2 = 2.95, n = 2): a stable state with X high and Y
    low, one with Y high and X low, a saddle between them. With a1 > a2 the
    X-high state is the more stable one. Nothing about its quasi-potential
    is known in closed form: the master equation and Gillespie runs judge it.
    The box starts just off the axes, where U's gradient is infinite (U_x ~
    ln x: the degradation of X stops at x = 0).
    """
    for name, value in (("a1", a1), ("a2", a2), ("n", n), ("volume", volume)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive, got {value}")

    def propensities(x):
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        return np.stack([a1 / (1 + x[..., 1] ** n), x[..., 0], a2 / (1 + x[..., 0] ** n), x[..., 1]], axis=-1)

    net = ReactionNetwork(_BIRTH_DEATH, propensities, volume, species=["X", "Y"],
                          reactions=["0 -> X", "X -> 0", "0 -> Y", "Y -> 0"])
    states = _equilibria(net.drift, (a1, a2))
    stable = [s for s, k in states if k == 0]
    saddles = [s for s, k in states if k == 1]
    stable.sort(key=lambda s: -s[0])  # X high first
    return Problem("toggle_switch", net, stable[0], (0.02, 0.02), (2.2 * a1, 2.2 * a2),
                   attractors=tuple(stable), saddles=tuple(saddles))


def schlogl_2d(exchange: float = 1.0, volume: float = 50.0) -> Problem:
    """Schlögl's bistable network (Z. Physik 1972) with a second species
    that X exchanges with.

    Reactions (mass action): 0 -> X (rate 6), X -> 0 (11), 2X -> 3X (6),
    3X -> 2X (1), X -> Y and Y -> X (``exchange``). The rate equations
    ``x' = 6 - 11 x + 6 x^2 - x^3 + c (y - x)``, ``y' = c (x - y)`` have
    stable states (1, 1) and (3, 3) and a saddle at (2, 2) (the cubic's roots
    1, 2, 3 on the line y = x). The box starts just off the origin, where
    only X is made and the quasi-potential's equation degenerates.
    """
    if not (np.isfinite(exchange) and exchange > 0):
        raise ValueError(f"exchange must be positive, got {exchange}")
    reactants = [[0, 0], [1, 0], [2, 0], [3, 0], [1, 0], [0, 1]]
    products = [[1, 0], [0, 0], [3, 0], [2, 0], [0, 1], [1, 0]]
    net = ReactionNetwork.mass_action(reactants, products, [6.0, 11.0, 6.0, 1.0, exchange, exchange], volume,
                                      species=["X", "Y"],
                                      reactions=["0 -> X", "X -> 0", "2X -> 3X", "3X -> 2X", "X -> Y", "Y -> X"])
    return Problem("schlogl_2d", net, (1.0, 1.0), (0.05, 0.05), (4.5, 4.5), attractors=((1.0, 1.0), (3.0, 3.0)),
                   saddles=((2.0, 2.0),))


def network_detailed_balance(coupling: float = 0.5, volume: float = 50.0) -> Problem:
    """Births and deaths of two species in detailed balance with a known U.

    ``U(x) = sum_i (x_i ln(x_i / c_i) - x_i + c_i) + coupling (x_0 - x_1)^2 / 2``
    with c = (1, 2); species i is made at ``k(x) c_i exp(-d_i V)`` and
    degraded at ``k(x) x_i``, V the coupling term and ``k(x) = 1 + x_1 / 2``
    (position-dependent, so the law is not a product of Poissons): each
    birth-death pair's share of H(x, grad U) vanishes, so U is the
    quasi-potential about the minimum of U. Deaths vanish at count 0.
    """
    if not (np.isfinite(coupling) and coupling >= 0):
        raise ValueError(f"coupling must be >= 0, got {coupling}")
    c = np.array([1.0, 2.0])

    def U(x):
        x = np.asarray(x, dtype=float)
        return np.sum(_entropy(x, c), axis=-1) + 0.5 * coupling * (x[..., 0] - x[..., 1]) ** 2

    def grad(x):
        x = np.asarray(x, dtype=float)
        g = np.log(np.maximum(x, 1e-300) / c)
        dv = coupling * (x[..., 0] - x[..., 1])
        return g + np.stack([dv, -dv], axis=-1)

    def propensities(x):
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        k = 1.0 + 0.5 * x[..., 1]
        dv = coupling * (x[..., 0] - x[..., 1])
        return np.stack([k * c[0] * np.exp(-dv), k * x[..., 0], k * c[1] * np.exp(dv), k * x[..., 1]], axis=-1)

    net = ReactionNetwork(_BIRTH_DEATH, propensities, volume, species=["X", "Y"],
                          reactions=["0 -> X", "X -> 0", "0 -> Y", "Y -> 0"])
    from scipy.optimize import minimize

    minimum = tuple(float(v) for v in minimize(lambda z: float(U(z)), c, jac=grad, method="BFGS", tol=1e-14).x)
    return Problem("network_detailed_balance", net, minimum, (0.25, 0.5), (3.0, 4.0), exact=_shifted(U, minimum),
                   exact_gradient=grad)


def complex_balanced(k1: float = 2.0, k2: float = 1.0, k3: float = 0.5, volume: float = 50.0) -> Problem:
    """A complex-balanced mass-action network that is not in detailed balance.

    Reactions 0 -> X (k1), X -> X + Y (k2), X + Y -> 0 (k3): one cycle of
    three complexes, deficiency zero, so complex balanced for all rate
    constants (Horn and Jackson 1972), with equilibrium x* = (k1 / k2,
    k2 / k3). Its quasi-potential is ``U = sum_i x_i ln(x_i / x*_i) - x_i + x*_i``,
    and the master equation's stationary law is exactly the product of
    Poisson laws of means Omega x*_i (Anderson, Craciun and Kurtz 2010).
    """
    for name, value in (("k1", k1), ("k2", k2), ("k3", k3)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive, got {value}")
    star = np.array([k1 / k2, k2 / k3])
    net = ReactionNetwork.mass_action([[0, 0], [1, 0], [1, 1]], [[1, 0], [1, 1], [0, 0]], [k1, k2, k3], volume,
                                      species=["X", "Y"], reactions=["0 -> X", "X -> X + Y", "X + Y -> 0"])

    def U(x):
        return np.sum(_entropy(np.asarray(x, dtype=float), star), axis=-1)

    def grad(x):
        return np.log(np.maximum(np.asarray(x, dtype=float), 1e-300) / star)

    return Problem("complex_balanced", net, tuple(star), tuple(0.25 * star), tuple(2.5 * star), exact=U,
                   exact_gradient=grad)


def _entropy(x: np.ndarray, c) -> np.ndarray:
    """x ln(x / c) - x + c, with 0 ln 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log(np.maximum(x, 1e-300) / c), 0.0) - x + c


def _shifted(U, point):
    u0 = float(U(np.asarray(point)))
    return lambda x: U(x) - u0


def _equilibria(drift, scale):
    """Equilibria of a 2D drift and their unstable-direction counts, from
    Newton started on a grid of the box [0, 1.2 scale]."""
    from scipy.optimize import fsolve

    found = []
    for x0 in np.linspace(0.0, 1.2 * scale[0], 13):
        for y0 in np.linspace(0.0, 1.2 * scale[1], 13):
            z, _, ok, _ = fsolve(lambda p: drift(np.asarray(p)), [x0, y0], full_output=True, xtol=1e-13)
            if ok == 1 and np.all(z >= 0) and not any(np.allclose(z, f, atol=1e-7) for f in found):
                found.append(z)
    out = []
    for z in found:
        h = 1e-6
        J = np.column_stack([(drift(z + h * e) - drift(z - h * e)) / (2 * h) for e in np.eye(2)])
        out.append((tuple(float(v) for v in z), int(np.sum(np.linalg.eigvals(J).real > 0))))
    return out
