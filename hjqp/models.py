"""Problems with known quasi-potentials, for tests, benchmarks and examples.

Each function returns a :class:`Problem`: the SDE, its attractor, a box, and
the exact quasi-potential where one is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from .grid import Grid
from .sde import SDE

__all__ = [
    "Problem",
    "manufactured",
    "linear_rotational",
    "example_3_1",
    "gradient_system",
    "anisotropic_rotating",
]

ArrayFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Problem:
    """An SDE with its attractor, a box to solve on and, where known, the
    exact quasi-potential U (a callable on points (..., d))."""

    name: str
    sde: SDE
    attractor: Tuple[float, ...]
    lower: Tuple[float, ...]
    upper: Tuple[float, ...]
    exact: Optional[ArrayFunction] = None
    exact_gradient: Optional[ArrayFunction] = None

    def grid(self, n: int) -> Grid:
        """The problem's box with n nodes per axis."""
        return Grid(self.lower, self.upper, (n,) * len(self.lower))


def manufactured(
    potential: ArrayFunction,
    gradient: ArrayFunction,
    diffusion,
    rotation: ArrayFunction | float = 0.0,
    *,
    attractor=(0.0, 0.0),
    lower=(-1.0, -1.0),
    upper=(1.0, 1.0),
    name: str = "manufactured",
) -> Problem:
    """An SDE whose quasi-potential is exactly a given U (2D).

    For any smooth U with a single minimum at the attractor, any SPD field D
    and any field l with l . grad U = 0, the drift b = -1/2 D grad U + l has
    quasi-potential U, since 1/2 grad U^T D grad U + b . grad U = 0. Here
    l = rho(x) J grad U with J the rotation by +90 degrees.

    Parameters
    ----------
    potential, gradient : callable
        U and grad U on points (..., 2); U(attractor) = 0.
    diffusion : float, (2, 2) array or callable (..., 2) -> (..., 2, 2)
    rotation : float or callable (..., 2) -> (...)
        rho, the strength of the rotational part.
    """
    if callable(diffusion):
        dfun = diffusion
    else:
        dm = np.asarray(diffusion, dtype=float)
        dm = dm * np.eye(2) if dm.ndim == 0 else dm

        def dfun(p):
            return np.broadcast_to(dm, p.shape[:-1] + (2, 2))

    def drift(p):
        p = np.asarray(p, dtype=float)
        g = gradient(p)
        rho = rotation(p) if callable(rotation) else rotation
        rho = np.asarray(rho, dtype=float)[..., None]
        dg = np.einsum("...ij,...j->...i", dfun(p), g)
        return -0.5 * dg + rho * np.stack([-g[..., 1], g[..., 0]], axis=-1)

    sde = SDE(drift, diffusion if not callable(diffusion) else dfun)
    return Problem(name, sde, tuple(attractor), tuple(lower), tuple(upper), potential, gradient)


def linear_rotational(rotation: float = 10.0) -> Problem:
    """b = (-2x - r y, 2 r x - y), D = I on [-1, 1]^2: U = 2 x^2 + y^2.

    With r = 10 (the default) this is the classical test of quasi-potential
    solvers: the rotational part is ten times the gradient part, and the
    characteristics spiral out, crossing the level sets of U at up to 84
    degrees from their normal.
    """
    r = float(rotation)

    def drift(p):
        return np.stack([-2 * p[..., 0] - r * p[..., 1], 2 * r * p[..., 0] - p[..., 1]], axis=-1)

    def exact(p):
        return 2 * p[..., 0] ** 2 + p[..., 1] ** 2

    def exact_gradient(p):
        return np.stack([4 * p[..., 0], 2 * p[..., 1]], axis=-1)

    return Problem(f"linear_rotational(r={r:g})", SDE(drift), (0.0, 0.0), (-1.0, -1.0), (1.0, 1.0),
                   exact, exact_gradient)


def example_3_1(mu: float = 0.5) -> Problem:
    """The paper's Example 3.1: f = x1^2 + x2^2, b = -grad f,
    D = diag(mu, 2 - mu), 0 < mu < 2; U = 2 (x1^2 / mu + x2^2 / (2 - mu)).

    On the unit circle U is least, 2 / max(mu, 2 - mu), along the direction
    of larger diffusion: SGD leaves the minimum where its noise is strongest.
    """
    if not 0 < mu < 2:
        raise ValueError(f"mu must lie in (0, 2), got {mu}")

    def exact(p):
        return 2 * (p[..., 0] ** 2 / mu + p[..., 1] ** 2 / (2 - mu))

    def exact_gradient(p):
        return np.stack([4 * p[..., 0] / mu, 4 * p[..., 1] / (2 - mu)], axis=-1)

    sde = SDE.gradient(lambda p: 2 * np.asarray(p, dtype=float), diffusion=np.diag([mu, 2 - mu]))
    return Problem(f"example_3_1(mu={mu:g})", sde, (0.0, 0.0), (-1.0, -1.0), (1.0, 1.0), exact,
                   exact_gradient)


def gradient_system(sigma: float = 1.0) -> Problem:
    """b = -grad f with D = sigma^2 I: U = 2 f / sigma^2. The loss
    f = x^2 + x y / 2 + 3 y^2 / 2 + x^4 / 4 + y^4 / 4 is convex with its
    minimum at 0."""
    s2 = float(sigma) ** 2

    def f(p):
        x, y = p[..., 0], p[..., 1]
        return x**2 + 0.5 * x * y + 1.5 * y**2 + 0.25 * (x**4 + y**4)

    def grad_f(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([2 * x + 0.5 * y + x**3, 0.5 * x + 3 * y + y**3], axis=-1)

    sde = SDE.gradient(grad_f, diffusion=s2)
    return Problem(f"gradient_system(sigma={sigma:g})", sde, (0.0, 0.0), (-1.0, -1.0), (1.0, 1.0),
                   lambda p: 2 * f(p) / s2, lambda p: 2 * grad_f(p) / s2)


def anisotropic_rotating(condition: float = 100.0, rotation: float = 0.3) -> Problem:
    """A manufactured problem of unit scale on [-1, 1]^2 with a rotated,
    position-dependent, anisotropic D and a rotational drift.

    U = x^2 + x y / 2 + 3 y^2 / 2 + 3 x^2 y / 10 + (x^4 + y^4) / 4 (convex,
    not symmetric); D(x) has eigenvalues l1 = 3/2 + sin(2x + y) / 2 and
    l1 / c(x) with c(x) between 1 and `condition`, its eigenvectors turned by
    1/2 + 4x/5 - 3y/5; the rotation is rho(x) = rotation (1 + 2 sin(x + y) / 5).

    The characteristics cross the level sets of U at grazing angles where the
    slow direction of D lines up with grad U: with condition 100, the
    smallest cosine is about 0.024 for rotation 0.3 and 0.0074 for rotation 1.
    """
    cond = float(condition)

    def potential(p):
        x, y = p[..., 0], p[..., 1]
        return x**2 + 0.5 * x * y + 1.5 * y**2 + 0.3 * x**2 * y + 0.25 * (x**4 + y**4)

    def gradient(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([2 * x + 0.5 * y + 0.6 * x * y + x**3, 0.5 * x + 3 * y + 0.3 * x**2 + y**3], axis=-1)

    def diffusion(p):
        x, y = p[..., 0], p[..., 1]
        theta = 0.5 + 0.8 * x - 0.6 * y
        l1 = 1.5 + 0.5 * np.sin(2 * x + y)
        l2 = l1 / (1 + (cond - 1) * 0.5 * (1 + np.cos(x - 2 * y)))
        c, s = np.cos(theta), np.sin(theta)
        out = np.empty(p.shape[:-1] + (2, 2))
        out[..., 0, 0] = l1 * c * c + l2 * s * s
        out[..., 0, 1] = out[..., 1, 0] = (l1 - l2) * c * s
        out[..., 1, 1] = l1 * s * s + l2 * c * c
        return out

    def rho(p):
        return rotation * (1 + 0.4 * np.sin(p[..., 0] + p[..., 1]))

    return manufactured(potential, gradient, diffusion, rho,
                        name=f"anisotropic_rotating(condition={cond:g}, rotation={rotation:g})")
