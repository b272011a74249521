"""Problems with several attractors and known landscapes: the paper's
Example 4.1, Maier-Stein, three wells with rotation and anisotropic D, and a
tilted double well in 3D."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

import numpy as np

from ..problem import SDE
from .exact import manufactured, rotated_spd
from .problem import Problem

__all__ = ["example_4_1", "maier_stein", "multiwell", "double_well_3d"]


def example_4_1(mu1: float = 1.9999, mu2: float = 1.0001, *, confine: Optional[float] = 4.5) -> Problem:
    """The paper's Example 4.1: two wells with different noise, a flat loss
    between them.

    The loss is ``f = |x - O_i|^2`` on the unit disk B_i around O_1 = (-2, 0) and
    O_2 = (2, 0), and f = 1 elsewhere; b = -grad f, and D = diag(mu_i, 2 - mu_i)
    on B_i, D = I elsewhere (0 < mu_i < 2). Leaving B_i costs
    V_i = 2 / max(mu_i, 2 - mu_i) (Example 3.1 on the unit circle), crossing
    the flat region costs nothing, so V_12 = V_1 and V_21 = V_2; with
    mu1 > mu2 >= 1 the noise selects O_2, and phi(O_1) = 2/mu2 - 2/mu1.

    The flat loss has no stationary law on the whole plane. ``confine`` adds
    the confining term ``(|x| - confine)^2 / 2`` outside the disk of that radius,
    far from the wells, so that long simulations stay bounded; it does not
    touch the box [-4, 4] x [-2, 2] and changes none of the costs. None
    leaves the loss flat out to infinity.
    """
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        if not 0 < mu < 2:
            raise ValueError(f"{name} must lie in (0, 2), got {mu}")
    centers = np.array([[-2.0, 0.0], [2.0, 0.0]])
    mus = (float(mu1), float(mu2))

    def which(p):
        """Index of the disk containing each point, -1 outside both."""
        label = np.full(p.shape[:-1], -1)
        for i, c in enumerate(centers):
            label = np.where(np.sum((p - c) ** 2, axis=-1) <= 1.0, i, label)
        return label

    def drift(p):
        p = np.asarray(p, dtype=float)
        label = which(p)
        b = np.zeros_like(p)
        for i, c in enumerate(centers):
            b = np.where((label == i)[..., None], -2.0 * (p - c), b)
        if confine is not None:
            r = np.linalg.norm(p, axis=-1)
            pull = np.maximum(r - confine, 0.0) / np.maximum(r, 1e-300)
            b = b - pull[..., None] * p
        return b

    def diffusion(p):
        p = np.asarray(p, dtype=float)
        label = which(p)
        out = np.zeros(p.shape[:-1] + (2, 2))
        out[..., 0, 0] = out[..., 1, 1] = 1.0
        for i, mu in enumerate(mus):
            inside = label == i
            out[inside, 0, 0] = mu
            out[inside, 1, 1] = 2.0 - mu
        return out

    exit_costs = tuple(2.0 / max(mu, 2.0 - mu) for mu in mus)
    costs = ((0.0, exit_costs[0]), (exit_costs[1], 0.0))
    w = np.array([exit_costs[1], exit_costs[0]])  # W_1 = V_21, W_2 = V_12
    phi_attractors = w - w.min()
    flat = max(exit_costs)

    def exact_global(p):
        p = np.asarray(p, dtype=float)
        label = which(p)
        out = np.full(p.shape[:-1], flat)
        for i, (c, mu) in enumerate(zip(centers, mus)):
            y = p - c
            local = 2.0 * (y[..., 0] ** 2 / mu + y[..., 1] ** 2 / (2.0 - mu))
            out = np.where(label == i, np.minimum(phi_attractors[i] + local, flat), out)
        return out

    return Problem(
        f"example_4_1(mu1={mu1:g}, mu2={mu2:g})", SDE(drift, diffusion), tuple(centers[0]),
        (-4.0, -2.0), (4.0, 2.0),
        attractors=tuple(map(tuple, centers)), saddles=(), exit_costs=exit_costs, costs=costs,
        global_values=tuple(phi_attractors), exact_global=exact_global,
    )


def maier_stein(beta: float = 1.0) -> Problem:
    """Maier-Stein: b = (x - x^3 - beta x y^2, -(1 + x^2) y), D = I.

    Attractors (-1, 0) and (1, 0), saddle (0, 0). With beta = 1 the drift is
    -grad V, V = -x^2/2 + x^4/4 + (1 + x^2) y^2 / 2, and U = 2 V + 1/2 about
    either attractor; for beta < 4 the minimum action path stays on the x
    axis, where the dynamics do not depend on beta, and the barrier is 1/2
    for any beta < 4. The problem is symmetric: the two attractors tie.
    """
    beta = float(beta)

    def drift(p):
        p = np.asarray(p, dtype=float)
        x, y = p[..., 0], p[..., 1]
        return np.stack([x - x**3 - beta * x * y**2, -(1 + x**2) * y], axis=-1)

    def potential(p):
        x, y = p[..., 0], p[..., 1]
        return 2 * (-0.5 * x**2 + 0.25 * x**4 + 0.5 * (1 + x**2) * y**2) + 0.5

    exact = potential if beta == 1.0 else None
    return Problem(
        f"maier_stein(beta={beta:g})", SDE(drift), (-1.0, 0.0), (-1.75, -1.0), (1.75, 1.0),
        exact=exact, attractors=((-1.0, 0.0), (1.0, 0.0)), saddles=((0.0, 0.0),),
        exit_costs=(0.5, 0.5), costs=((0.0, 0.5), (0.5, 0.0)), global_values=(0.0, 0.0),
        exact_global=potential if beta == 1.0 else None,
    )


def multiwell(tilt: float = 0.0, rotation: float = 0.5, condition: float = 4.0) -> Problem:
    """Three wells with exact answers: b = -1/2 D grad U + rho J grad U.

    U = p(x) + (y - 3/10 sin x)^2 with p(x) = 2 x^2 (x^2 - c^2)^2 + tilt x,
    c = 1.2, on [-2, 2] x [-1.5, 1.5]. D(x) is position dependent and
    anisotropic (eigenvalues 1 + cos(x)/4 and that over `condition`,
    eigenvectors turned by 0.4 sin x + 0.3 y) and rho(x) = rotation
    (1 + sin(y)/2). Since l = rho J grad U is orthogonal to grad U, U is the
    quasi-potential of every well within its basin: the minima of U
    (x = 0 and near +-c) are the attractors, its index-1 saddles (near
    +-c/sqrt(3)) the saddles of b, leaving a well costs U(saddle) - U(well),
    and phi = U - min U. With tilt 0 the three wells tie (phi = 0 at each)
    and every barrier is 8 c^6 / 27. ``costs`` is NaN between the outer
    wells, whose transition crosses the middle basin (no closed form).
    """
    c = 1.2
    t = float(tilt)
    cond = float(condition)
    # p'(x) = 12 x^5 - 16 c^2 x^3 + 4 c^4 x + t: its real roots are the
    # critical points (alternately minima and saddles of U, from the left).
    roots = np.roots([12.0, 0.0, -16 * c**2, 0.0, 4 * c**4, t])
    xs = np.sort(roots[np.abs(roots.imag) < 1e-9].real)
    if len(xs) != 5:
        raise ValueError(f"tilt {t} is too large: the loss no longer has three wells")

    def p_(x):
        return 2 * x**2 * (x**2 - c**2) ** 2 + t * x

    def potential(q):
        x, y = q[..., 0], q[..., 1]
        return p_(x) + (y - 0.3 * np.sin(x)) ** 2

    def gradient(q):
        x, y = q[..., 0], q[..., 1]
        w = y - 0.3 * np.sin(x)
        dp = 12 * x**5 - 16 * c**2 * x**3 + 4 * c**4 * x + t
        return np.stack([dp - 0.6 * np.cos(x) * w, 2 * w], axis=-1)

    def diffusion(q):
        x, y = q[..., 0], q[..., 1]
        theta = 0.4 * np.sin(x) + 0.3 * y
        l1 = 1 + 0.25 * np.cos(x)
        return rotated_spd(theta, l1, l1 / cond)

    def rho(q):
        return rotation * (1 + 0.5 * np.sin(q[..., 1]))

    wells = [(x, 0.3 * np.sin(x)) for x in xs[0::2]]
    saddles = [(x, 0.3 * np.sin(x)) for x in xs[1::2]]
    u_w = [p_(x) for x in xs[0::2]]
    u_s = [p_(x) for x in xs[1::2]]
    exit_costs = (u_s[0] - u_w[0], min(u_s) - u_w[1], u_s[1] - u_w[2])
    # Neighbouring wells: climb to the saddle between them, then follow the
    # flow down. Wells further apart are linked through the middle one's
    # basin, whose crossing has no closed form: NaN.
    costs = [[0.0 if i == j else math.nan for j in range(3)] for i in range(3)]
    for m in range(2):
        costs[m][m + 1] = u_s[m] - u_w[m]
        costs[m + 1][m] = u_s[m] - u_w[m + 1]
    u_min = min(u_w)
    base = manufactured(potential, gradient, diffusion, rho, attractor=wells[0],
                        lower=(-2.0, -1.5), upper=(2.0, 1.5),
                        name=f"multiwell(tilt={t:g}, rotation={rotation:g}, condition={cond:g})")
    return replace(
        base, attractors=tuple(wells), saddles=tuple(saddles), exit_costs=exit_costs,
        costs=tuple(map(tuple, costs)), global_values=tuple(u - u_min for u in u_w),
        exact_global=lambda q: potential(q) - u_min,
    )


def double_well_3d(tilt: float = 0.1, noise: float = 0.5) -> Problem:
    """A tilted double well in 3D: b = -grad V, D = noise I on
    [-2, 2] x [-1.2, 1.2]^2, with
    V = (x^2 - 1)^2 / 4 + tilt x + y^2 / 2 + (1 + 3x/10) z^2 / 2,
    whose z-curvature changes from well to well. A gradient system: U = 2 V
    / noise up to constants, V_ij = 2 (V(saddle) - V(O_i)) / noise, phi =
    2 (V - min V) / noise. The wells and the saddle lie on the x axis, at the
    roots of x^3 - x + tilt.
    """
    t, s = float(tilt), float(noise)
    if not 0 <= t < 0.38:
        raise ValueError(f"tilt must lie in [0, 0.38) for two wells, got {t}")
    if not s > 0:
        raise ValueError(f"noise must be positive, got {s}")

    def V(q):
        x, y, z = q[..., 0], q[..., 1], q[..., 2]
        return 0.25 * (x * x - 1) ** 2 + t * x + 0.5 * y * y + 0.5 * (1 + 0.3 * x) * z * z

    def grad_V(q):
        x, y, z = q[..., 0], q[..., 1], q[..., 2]
        return np.stack([x * (x * x - 1) + t + 0.15 * z * z, y, (1 + 0.3 * x) * z], axis=-1)

    roots = np.sort(np.roots([1.0, 0.0, -1.0, t]).real)
    wells = [(float(roots[0]), 0.0, 0.0), (float(roots[2]), 0.0, 0.0)]
    saddle = (float(roots[1]), 0.0, 0.0)
    v_w = [float(V(np.array(w))) for w in wells]
    v_s = float(V(np.array(saddle)))
    costs = ((0.0, 2 * (v_s - v_w[0]) / s), (2 * (v_s - v_w[1]) / s, 0.0))
    v_min = min(v_w)
    return Problem(
        f"double_well_3d(tilt={t:g}, noise={s:g})", SDE.gradient(grad_V, s), wells[0],
        (-2.0, -1.2, -1.2), (2.0, 1.2, 1.2),
        lambda q: 2 * (V(q) - v_w[0]) / s, lambda q: 2 * grad_V(q) / s,
        attractors=tuple(wells), saddles=(saddle,), exit_costs=(costs[0][1], costs[1][0]), costs=costs,
        global_values=tuple(2 * (v - v_min) / s for v in v_w), exact_global=lambda q: 2 * (V(q) - v_min) / s,
    )
