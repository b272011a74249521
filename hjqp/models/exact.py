"""Problems with an exact quasi-potential and one attractor: the
manufactured construction (any U, any SPD D(x), any rotation), linear
systems, and the paper's Example 3.1, in 2D and 3D."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .. import _validate
from ..problem import SDE
from .problem import Problem

__all__ = ["manufactured", "linear_rotational", "example_3_1", "gradient_system", "anisotropic_rotating",
           "anisotropic_rotating_3d", "linear", "linear_3d", "rotated_spd"]

ArrayFunction = Callable[[np.ndarray], np.ndarray]

# The gradients below write cubes as products: numpy's power takes a slow
# path for negative bases, about a hundred times a product per element.


def rotated_spd(theta, l1, l2):
    """The 2 x 2 SPD matrices with eigenvalues l1, l2 whose first
    eigenvector is turned by theta from the x axis; shape (..., 2, 2)."""
    c, s = np.cos(theta), np.sin(theta)
    out = np.empty(np.shape(theta) + (2, 2))
    out[..., 0, 0] = l1 * c * c + l2 * s * s
    out[..., 0, 1] = out[..., 1, 0] = (l1 - l2) * c * s
    out[..., 1, 1] = l1 * s * s + l2 * c * c
    return out


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
    """An SDE whose quasi-potential is exactly a given U (2D or 3D).

    For any smooth U with a single minimum at the attractor, any SPD field D
    and any field l with l . grad U = 0, the drift b = -1/2 D grad U + l has
    quasi-potential U, since 1/2 grad U^T D grad U + b . grad U = 0. Here
    l = R(x) grad U with R antisymmetric: in 2D R = rho(x) J, J the rotation
    by +90 degrees; in 3D R v = w(x) x v (the cross product).

    Parameters
    ----------
    potential, gradient : callable
        U and grad U on points (..., d); U(attractor) = 0.
    diffusion : float, (d, d) array or callable (..., d) -> (..., d, d)
    rotation : 2D: float or callable (..., 2) -> (...), rho;
        3D: (3,) vector or callable (..., 3) -> (..., 3), w.
    attractor, lower, upper : the attractor and the box; their length is d.
    """
    d = len(attractor)
    if d not in (2, 3) or len(lower) != d or len(upper) != d:
        raise ValueError("attractor, lower and upper must all have length 2 or all length 3")
    if callable(diffusion):
        dfun = diffusion
    else:
        dm = np.array(_validate.real_array(diffusion, "diffusion"), dtype=float)  # a copy, as the SDE keeps
        dm = dm * np.eye(d) if dm.ndim == 0 else dm

        def dfun(p):
            return np.broadcast_to(dm, p.shape[:-1] + (d, d))

    def drift(p):
        p = np.asarray(p, dtype=float)
        g = gradient(p)
        dm = dfun(p)
        dg = np.stack([sum(dm[..., i, j] * g[..., j] for j in range(d)) for i in range(d)], axis=-1)
        if d == 2:
            rho = rotation(p) if callable(rotation) else rotation
            rho = _validate.real_array(rho, "rotation")[..., None]
            return -0.5 * dg + rho * np.stack([-g[..., 1], g[..., 0]], axis=-1)
        w = rotation(p) if callable(rotation) else np.broadcast_to(
            rotation * np.ones(3), p.shape)
        return -0.5 * dg + np.cross(w, g)

    if not callable(rotation):
        rotation = np.array(_validate.real_array(rotation, "rotation"), dtype=float)
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
        return np.stack([2 * x + 0.5 * y + x * x * x, 0.5 * x + 3 * y + y * y * y], axis=-1)

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
        return np.stack([2 * x + 0.5 * y + 0.6 * x * y + x * x * x, 0.5 * x + 3 * y + 0.3 * x**2 + y * y * y],
                        axis=-1)

    def diffusion(p):
        x, y = p[..., 0], p[..., 1]
        theta = 0.5 + 0.8 * x - 0.6 * y
        l1 = 1.5 + 0.5 * np.sin(2 * x + y)
        l2 = l1 / (1 + (cond - 1) * 0.5 * (1 + np.cos(x - 2 * y)))
        return rotated_spd(theta, l1, l2)

    def rho(p):
        return rotation * (1 + 0.4 * np.sin(p[..., 0] + p[..., 1]))

    return manufactured(potential, gradient, diffusion, rho,
                        name=f"anisotropic_rotating(condition={cond:g}, rotation={rotation:g})")


def anisotropic_rotating_3d(condition: float = 10.0, rotation: float = 0.5) -> Problem:
    """A manufactured problem of unit scale on [-1, 1]^3 with a rotated,
    position-dependent, anisotropic D and a rotational drift.

    U = x^2 + 3 y^2 / 2 + z^2 + x y / 2 + y z / 4 + 3 x^2 y / 10
    + y z^2 / 5 + (x^4 + y^4 + z^4) / 4 (convex on the box); D(x) has
    eigenvalues l1 = 3/2 + sin(2x + y - z) / 2, l1 / c(x) and their geometric
    mean, with c(x) between 1 and `condition`, and eigenvectors turned about
    z by 1/2 + 4x/5 - 3y/5 and then about x by 3/10 + 2y/5 - z/2; the
    rotation is l = w(x) x grad U with w = rotation (1 + 2 sin(x + y + z) / 5)
    (1, 1/2, -7/10).
    """
    cond = float(condition)

    def potential(p):
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        return (x**2 + 1.5 * y**2 + z**2 + 0.5 * x * y + 0.25 * y * z + 0.3 * x**2 * y + 0.2 * y * z**2
                + 0.25 * (x**4 + y**4 + z**4))

    def gradient(p):
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        return np.stack([
            2 * x + 0.5 * y + 0.6 * x * y + x * x * x,
            3 * y + 0.5 * x + 0.25 * z + 0.3 * x**2 + 0.2 * z**2 + y * y * y,
            2 * z + 0.25 * y + 0.4 * y * z + z * z * z,
        ], axis=-1)

    def diffusion(p):
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        a = 0.5 + 0.8 * x - 0.6 * y
        b = 0.3 + 0.4 * y - 0.5 * z
        ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
        # Columns of R = Rx(b) Rz(a): the eigenvectors.
        zero = np.zeros_like(ca)
        R = [[ca, -sa, zero], [cb * sa, cb * ca, -sb], [sb * sa, sb * ca, cb]]
        l1 = 1.5 + 0.5 * np.sin(2 * x + y - z)
        l2 = l1 / (1 + (cond - 1) * 0.5 * (1 + np.cos(x - 2 * y + z)))
        lam = (l1, l2, np.sqrt(l1 * l2))
        out = np.empty(np.shape(x) + (3, 3))
        for i in range(3):
            for j in range(i, 3):
                out[..., i, j] = R[i][0] * lam[0] * R[j][0] + R[i][1] * lam[1] * R[j][1] + R[i][2] * lam[2] * R[j][2]
                out[..., j, i] = out[..., i, j]
        return out

    axis = np.array([1.0, 0.5, -0.7])

    def w(p):
        return rotation * (1 + 0.4 * np.sin(p[..., 0] + p[..., 1] + p[..., 2]))[..., None] * axis

    return manufactured(potential, gradient, diffusion, w, attractor=(0.0, 0.0, 0.0),
                        lower=(-1.0, -1.0, -1.0), upper=(1.0, 1.0, 1.0),
                        name=f"anisotropic_rotating_3d(condition={cond:g}, rotation={rotation:g})")


def linear(J, D, *, box: float = 1.0, name: Optional[str] = None) -> Problem:
    """The linear SDE dx = J x dt + sqrt(eps) D^{1/2} dW in 2D or 3D, J stable
    (eigenvalues with negative real parts), D constant SPD.

    U(x) = 1/2 x^T C^{-1} x exactly, with C the solution of the Lyapunov
    equation J C + C J^T + D = 0: for non-normal J the quasi-potential is
    not the potential of any gradient part of b. The box is [-box, box]^d
    around the attractor 0.
    """
    from scipy import linalg

    # Copies: the drift and the exact solution are made from the same J.
    J = np.array(_validate.real_array(J, "J"), dtype=float)
    D = np.array(_validate.real_array(D, "D"), dtype=float)
    d = len(J) if J.ndim else 0
    if J.shape != (d, d) or D.shape != (d, d) or d not in (2, 3):
        raise ValueError(f"J and D must be 2x2 or 3x3 matrices, got {J.shape} and {D.shape}")
    if not (np.all(np.isfinite(J)) and np.all(np.isfinite(D))):
        raise ValueError(f"J and D must be finite, got {J.tolist()} and {D.tolist()}")
    if not np.all(np.linalg.eigvals(J).real < 0):
        raise ValueError(f"J must be stable (eigenvalues with negative real parts): {np.linalg.eigvals(J)}")
    C = linalg.solve_continuous_lyapunov(J, -D)
    Q = np.linalg.inv(C)
    Q = 0.5 * (Q + Q.T)

    def drift(p):
        return np.asarray(p, dtype=float) @ J.T

    def exact(p):
        return 0.5 * np.einsum("...i,ij,...j->...", p, Q, p)

    def exact_gradient(p):
        return np.asarray(p, dtype=float) @ Q

    zero = (0.0,) * d
    return Problem(name or f"linear({d}D)", SDE(drift, D), zero, (-box,) * d, (box,) * d, exact,
                   exact_gradient)


def linear_3d(rotation: float = 1.0) -> Problem:
    """A 3D linear test: J = [[-1, r, 0], [-r, -2, r/2], [0, 0, -1.5]]
    (non-normal for r != 0), D = [[1, 0.3, 0], [0.3, 0.5, 0.1], [0, 0.1, 0.8]]
    (anisotropic), on [-1, 1]^3; U = 1/2 x^T C^{-1} x from the Lyapunov
    equation (see :func:`linear`)."""
    r = float(rotation)
    J = np.array([[-1.0, r, 0.0], [-r, -2.0, 0.5 * r], [0.0, 0.0, -1.5]])
    D = np.array([[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.8]])
    return linear(J, D, name=f"linear_3d(r={r:g})")
