"""Problems whose attractors include stable limit cycles: manufactured
ones with exact quasi-potentials (DESIGN.md, "Limit cycles") in 2D and 3D,
a landscape with a cycle and a point attractor whose costs are known, the
Bautin normal form (bistability between rest and oscillation) and a
Rosenzweig-MacArthur predator-prey model."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..problem import SDE
from .exact import rotated_spd
from .problem import Problem

__all__ = ["manufactured_cycle", "cycle_2d", "cycle_3d", "cycle_and_point", "cycle_and_point_3d",
           "rest_and_oscillation", "rosenzweig_macarthur", "level_curve"]

ArrayFunction = Callable[[np.ndarray], np.ndarray]


def _rotation_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def manufactured_cycle(potential: ArrayFunction, gradient: ArrayFunction, rho_gradient: ArrayFunction,
                       diffusion, omega, *, frame: Optional[np.ndarray] = None) -> SDE:
    """The SDE b = -1/2 D grad U + omega(x) J grad rho, D(x) any SPD field.

    J is the rotation by 90 degrees in a plane: in 2D the plane itself; in
    3D the plane spanned by the first two columns of the orthogonal
    ``frame`` (default the identity: the x-y plane), J = R J_12 R^T. When
    U = F(rho, the coordinate normal to that plane) (in 2D, U = g(rho)),
    (J grad rho) . grad U = 0, so U is the quasi-potential of every
    attractor on which it vanishes: a cycle where rho = 1 (with U = 0 and
    grad U = 0 there, b is tangent to it) and points where grad rho = 0.

    Parameters
    ----------
    potential, gradient : callable
        U and grad U on points (..., d) (``potential`` is not used by the
        drift; it is taken to check the callables' shapes).
    rho_gradient : callable (..., d) -> (..., d)
        grad rho.
    diffusion : float, (d, d) array or callable (..., d) -> (..., d, d)
    omega : float or callable (..., d) -> (...)
        The speed of rotation.
    frame : (3, 3) orthogonal array, optional (3D)
    """
    if callable(diffusion):
        dfun = diffusion
    else:
        dm0 = np.asarray(diffusion, dtype=float)

        def dfun(p):
            d = p.shape[-1]
            m = dm0 * np.eye(d) if dm0.ndim == 0 else dm0
            return np.broadcast_to(m, p.shape[:-1] + (d, d))

    R = None if frame is None else np.asarray(frame, dtype=float)

    def drift(p):
        p = np.asarray(p, dtype=float)
        d = p.shape[-1]
        g = gradient(p)
        dg = np.einsum("...ij,...j->...i", dfun(p), g)
        w = omega(p) if callable(omega) else omega
        w = np.asarray(w, dtype=float)[..., None]
        r = rho_gradient(p)
        if d == 2:
            turn = np.stack([-r[..., 1], r[..., 0]], axis=-1)
        else:
            Rm = np.eye(3) if R is None else R
            u = r @ Rm  # R^T grad rho
            turn = np.stack([-u[..., 1], u[..., 0], np.zeros_like(u[..., 0])], axis=-1) @ Rm.T
        return -0.5 * dg + w * turn

    return SDE(drift, diffusion if not callable(diffusion) else dfun)


def level_curve(rho: ArrayFunction, rho_gradient: ArrayFunction, n: int = 2048, *, center=(0.0, 0.0),
                frame: Optional[np.ndarray] = None) -> np.ndarray:
    """The closed curve {rho = 1} (star-shaped about ``center``) at n points
    (n, d), by Newton's method along rays; in 3D the curve lies in the plane
    of the frame's first two columns through the origin."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    c = np.asarray(center, dtype=float)
    if frame is None:
        dirs = np.stack([np.cos(t), np.sin(t)], axis=-1)
    else:
        R = np.asarray(frame, dtype=float)
        dirs = np.cos(t)[:, None] * R[:, 0] + np.sin(t)[:, None] * R[:, 1]
    s = np.ones(n)
    for _ in range(60):
        p = c + s[:, None] * dirs
        f = rho(p) - 1.0
        df = np.einsum("ij,ij->i", rho_gradient(p), dirs)
        s = s - f / df
    return c + s[:, None] * dirs


def _ellipse_rho(a: float, b: float, c: float, cubic: float):
    """rho = a x^2 + b y^2 + c x y + cubic x^3 and its gradient (2D)."""
    def rho(p):
        x, y = p[..., 0], p[..., 1]
        return a * x**2 + b * y**2 + c * x * y + cubic * x**3

    def grad(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([2 * a * x + c * y + 3 * cubic * x**2, 2 * b * y + c * x], axis=-1)

    return rho, grad


def _diffusion_2d(condition: float):
    """A rotated, position-dependent SPD field with eigenvalues
    l1 = 1 + sin(x + 2y) / 3 and l1 / c(x), c between 1 and ``condition``."""
    def diffusion(p):
        x, y = p[..., 0], p[..., 1]
        theta = 0.4 + 0.7 * x - 0.5 * y
        l1 = 1.0 + np.sin(x + 2 * y) / 3.0
        l2 = l1 / (1 + (condition - 1) * 0.5 * (1 + np.sin(2 * x - y)))
        return rotated_spd(theta, l1, l2)
    return diffusion


def _diffusion_3d(strength: float):
    """D = (1 + sin(x - z) / 4) I + strength a a^T, a(x) = (sin(x + y), cos(y - z), (1 + sin z) / 2)."""
    def diffusion(p):
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        a = np.stack([np.sin(x + y), np.cos(y - z), 0.5 * (1 + np.sin(z))], axis=-1)
        base = (1.0 + 0.25 * np.sin(x - z))[..., None, None] * np.eye(3)
        return base + strength * a[..., :, None] * a[..., None, :]
    return diffusion


def cycle_2d(rotation: float = 2.0, condition: float = 4.0, scale: float = 1.0) -> Problem:
    """A stable limit cycle with an exact quasi-potential (2D).

    rho = x^2 + 3 y^2 / 2 + 3 x y / 10 + x^3 / 5 (an egg-shaped closed curve
    rho = 1 through about (0.87, 0), (-1.14, 0), (0, +-0.82)),
    U = scale (rho - 1)^2 / 2, D(x) rotated and anisotropic (eigenvalues
    l1 = 1 + sin(x + 2y) / 3 and l1 / c(x), c between 1 and ``condition``,
    eigenvectors turned by 0.4 + 0.7 x - 0.5 y), and the rotation
    omega(x) = rotation (1 + 3 sin(x + 2 y) / 10).
    The cycle rho = 1 carries U = 0; inside it the drift has an unstable
    focus at the origin, where U = scale / 2. The box is [-2, 1.4] x [-1.7, 1.7].
    """
    rho, grad_rho = _ellipse_rho(1.0, 1.5, 0.3, 0.2)
    k = float(scale)

    def potential(p):
        return 0.5 * k * (rho(p) - 1.0) ** 2

    def gradient(p):
        return k * (rho(p) - 1.0)[..., None] * grad_rho(p)

    def omega(p):
        return rotation * (1 + 0.3 * np.sin(p[..., 0] + 2 * p[..., 1]))

    sde = manufactured_cycle(potential, gradient, grad_rho, _diffusion_2d(float(condition)), omega)
    curve = level_curve(rho, grad_rho)
    return Problem(f"cycle_2d(rotation={rotation:g}, condition={condition:g}, scale={scale:g})", sde,
                   tuple(curve[np.argmax(curve[:, 0])]), (-2.0, -1.7), (1.4, 1.7), potential, gradient,
                   cycles=(curve,))


def cycle_3d(rotation: float = 2.0, strength: float = 0.5, tilt: float = 0.4) -> Problem:
    """A stable limit cycle with an exact quasi-potential (3D).

    In coordinates u = R^T x, R the rotation by ``tilt`` about the x axis:
    rho = u1^2 + 13 u2^2 / 10 + 3 u1 u2 / 10 (an ellipse in the tilted
    plane u3 = 0), U = (rho - 1)^2 / 2 + (1 + rho / 2) u3^2 / 2,
    D(x) = (1 + sin(x - z) / 4) I + strength a a^T with
    a = (sin(x + y), cos(y - z), (1 + sin z) / 2), and the rotation
    omega(x) = rotation (1 + sin(x + y + z) / 4) in the tilted plane, on
    [-1.5, 1.5]^3.
    """
    R = _rotation_x(float(tilt))
    a, b, c = 1.0, 1.3, 0.3

    def local(p):
        return np.asarray(p, dtype=float) @ R  # u = R^T x

    def rho(p):
        u = local(p)
        return a * u[..., 0] ** 2 + b * u[..., 1] ** 2 + c * u[..., 0] * u[..., 1]

    def grad_rho(p):
        u = local(p)
        g = np.stack([2 * a * u[..., 0] + c * u[..., 1], 2 * b * u[..., 1] + c * u[..., 0],
                      np.zeros_like(u[..., 0])], axis=-1)
        return g @ R.T

    def potential(p):
        u = local(p)
        r = rho(p)
        return 0.5 * (r - 1.0) ** 2 + 0.5 * (1 + 0.5 * r) * u[..., 2] ** 2

    def gradient(p):
        u = local(p)
        r = rho(p)
        dr = (r - 1.0) + 0.25 * u[..., 2] ** 2
        g_u3 = (1 + 0.5 * r) * u[..., 2]
        return dr[..., None] * grad_rho(p) + g_u3[..., None] * R[:, 2]

    def omega(p):
        return rotation * (1 + 0.25 * np.sin(p[..., 0] + p[..., 1] + p[..., 2]))

    sde = manufactured_cycle(potential, gradient, grad_rho, _diffusion_3d(float(strength)), omega, frame=R)
    curve = level_curve(rho, grad_rho, frame=R, center=(0.0, 0.0, 0.0))
    return Problem(f"cycle_3d(rotation={rotation:g}, strength={strength:g}, tilt={tilt:g})", sde,
                   tuple(curve[np.argmax(curve[:, 0])]), (-1.5,) * 3, (1.5,) * 3, potential, gradient,
                   cycles=(curve,))


def _bistable_profile(height: float, inner: float):
    """F(rho) with F' = height (rho - inner)(rho - 1), F(0) = 0: a minimum at
    rho = 0, a maximum at rho = inner, a minimum at rho = 1."""
    def F(r):
        return height * (r**3 / 3 - (1 + inner) * r**2 / 2 + inner * r)

    def dF(r):
        return height * (r - inner) * (r - 1.0)

    return F, dF


def cycle_and_point(height: float = 6.0, inner: float = 0.3, rotation: float = 2.0,
                    condition: float = 3.0) -> Problem:
    """A stable point and a stable limit cycle with known costs (2D).

    Psi = F(rho), rho = x^2 + 3 y^2 / 2 + 3 x y / 10, F' = height (rho - inner)
    (rho - 1), F(0) = 0; b = -1/2 D grad Psi + omega(x) J grad rho with D(x)
    rotated and anisotropic (as in :func:`cycle_2d`, up to ``condition``)
    and omega = rotation (1 + 3 sin(x - y) / 10), on [-1.3, 1.3]^2.

    Attractors: the origin (rho = 0) and the cycle rho = 1; between them the
    unstable cycle rho = inner separates the basins. Each local
    quasi-potential is Psi - Psi(attractor) within its basin, so the costs
    are V(point, cycle) = F(inner), V(cycle, point) = F(inner) - F(1), the
    global quasi-potential is phi = Psi - min(F(0), F(1)), and the noise
    selects the attractor of lower F (the cycle for the defaults:
    V = 0.243 and 0.343, phi(point) = 0.1).
    """
    rho, grad_rho = _ellipse_rho(1.0, 1.5, 0.3, 0.0)
    F, dF = _bistable_profile(float(height), float(inner))

    def potential(p):
        return F(rho(p))

    def gradient(p):
        return dF(rho(p))[..., None] * grad_rho(p)

    def omega(p):
        return rotation * (1 + 0.3 * np.sin(p[..., 0] - p[..., 1]))

    sde = manufactured_cycle(potential, gradient, grad_rho, _diffusion_2d(float(condition)), omega)
    curve = level_curve(rho, grad_rho)
    return _bistable_problem(f"cycle_and_point(height={height:g}, inner={inner:g}, rotation={rotation:g}, "
                             f"condition={condition:g})", sde, potential, F, float(inner), curve, (-1.3, -1.3),
                             (1.3, 1.3))


def cycle_and_point_3d(height: float = 6.0, inner: float = 0.3, rotation: float = 2.0,
                       strength: float = 0.5) -> Problem:
    """:func:`cycle_and_point` in 3D: Psi = F(rho) + (1 + rho / 2) z^2 / 2 with
    rho = x^2 + 13 y^2 / 10 + 3 x y / 10, D(x) as in :func:`cycle_3d`, the
    rotation omega = rotation (1 + sin(x + y + z) / 4) in the x-y plane, on
    [-1.3, 1.3]^3. The unstable cycle rho = inner, z = 0 is now a saddle
    cycle (attracting along z); the costs are those of the 2D problem.
    """
    F, dF = _bistable_profile(float(height), float(inner))
    a, b, c = 1.0, 1.3, 0.3

    def rho(p):
        x, y = p[..., 0], p[..., 1]
        return a * x**2 + b * y**2 + c * x * y

    def grad_rho(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([2 * a * x + c * y, 2 * b * y + c * x, np.zeros_like(x)], axis=-1)

    def potential(p):
        r = rho(p)
        return F(r) + 0.5 * (1 + 0.5 * r) * p[..., 2] ** 2

    def gradient(p):
        r = rho(p)
        z = p[..., 2]
        out = (dF(r) + 0.25 * z**2)[..., None] * grad_rho(p)
        out[..., 2] += (1 + 0.5 * r) * z
        return out

    def omega(p):
        return rotation * (1 + 0.25 * np.sin(p[..., 0] + p[..., 1] + p[..., 2]))

    sde = manufactured_cycle(potential, gradient, grad_rho, _diffusion_3d(float(strength)), omega)
    curve = level_curve(rho, grad_rho, frame=np.eye(3), center=(0.0, 0.0, 0.0))
    return _bistable_problem(f"cycle_and_point_3d(height={height:g}, inner={inner:g}, rotation={rotation:g}, "
                             f"strength={strength:g})", sde, potential, F, float(inner), curve, (-1.3,) * 3,
                             (1.3,) * 3)


def _bistable_problem(name, sde, potential, F, inner, curve, lower, upper) -> Problem:
    """The Problem of a point at the origin and a cycle, Psi = F(rho) + ...:
    costs from F."""
    d = curve.shape[1]
    v_pc = F(inner) - F(0.0)
    v_cp = F(inner) - F(1.0)
    W = np.array([v_cp, v_pc])
    low = min(F(0.0), F(1.0))

    def exact_global(p):
        return potential(p) - low

    origin = (0.0,) * d
    point_on_cycle = tuple(curve[np.argmax(curve[:, 0])])
    return Problem(name, sde, origin, lower, upper, attractors=(origin, point_on_cycle),
                   exit_costs=(float(v_pc), float(v_cp)), costs=((0.0, float(v_pc)), (float(v_cp), 0.0)),
                   global_values=tuple(float(w) for w in W - W.min()), exact_global=exact_global,
                   cycles=(None, curve))


def rest_and_oscillation(mu: float = -0.25, c: float = 1.25, rate: float = 4.0, omega: float = 2.0,
                         shear: float = 1.0, noise_ratio: float = 1.0) -> Problem:
    """The Bautin (generalised Hopf) normal form: a stable rest state and a
    stable oscillation coexisting, as in neuron models near a subcritical
    Hopf bifurcation (Hodgkin-Huxley, Morris-Lecar).

    In polar coordinates, with s = r^2,
    r' = rate r (mu + c s - s^2),   theta' = omega + shear s,
    and dx = b dt + sqrt(eps) diag(1, noise_ratio)^(1/2) dW. For mu < 0 < c
    and c^2 > -4 mu the origin is stable, s_u = (c - sqrt(c^2 + 4 mu)) / 2
    is an unstable cycle and s_s = (c + sqrt(c^2 + 4 mu)) / 2 a stable one
    (defaults: s_u = 0.25, s_s = 1: amplitudes 0.5 and 1). ``shear`` makes
    the frequency depend on the amplitude.

    With isotropic noise (noise_ratio = 1) the radial part is a gradient,
    Psi = -2 rate (mu s / 2 + c s^2 / 4 - s^3 / 6), and the costs are exact:
    V(rest, oscillation) = Psi(s_u), V(oscillation, rest) = Psi(s_u) -
    Psi(s_s). With noise_ratio != 1 (noise mostly on the first, "voltage",
    variable) they are not known in closed form. Box [-1.6, 1.6]^2.
    """
    disc = c * c + 4 * mu
    if not (mu < 0 < c and disc > 0):
        raise ValueError(f"need mu < 0 < c and c^2 + 4 mu > 0 for a rest state and a cycle, got mu={mu}, c={c}")
    s_u, s_s = (c - np.sqrt(disc)) / 2, (c + np.sqrt(disc)) / 2
    if not noise_ratio > 0:
        raise ValueError(f"noise_ratio must be positive, got {noise_ratio}")

    def drift(p):
        p = np.asarray(p, dtype=float)
        x, y = p[..., 0], p[..., 1]
        s = x * x + y * y
        radial = rate * (mu + c * s - s * s)
        turn = omega + shear * s
        return np.stack([radial * x - turn * y, radial * y + turn * x], axis=-1)

    def psi(s):
        return -2 * rate * (mu * s / 2 + c * s**2 / 4 - s**3 / 6)

    D = np.diag([1.0, float(noise_ratio)])
    t = np.linspace(0, 2 * np.pi, 2048, endpoint=False)
    curve = np.sqrt(s_s) * np.stack([np.cos(t), np.sin(t)], axis=-1)
    exact = noise_ratio == 1.0
    v_pc, v_cp = psi(s_u), psi(s_u) - psi(s_s)
    W = np.array([v_cp, v_pc])
    low = min(0.0, psi(s_s))

    def exact_global(p):
        return psi(np.sum(np.asarray(p, dtype=float) ** 2, axis=-1)) - low

    return Problem(
        f"rest_and_oscillation(mu={mu:g}, c={c:g}, rate={rate:g}, omega={omega:g}, shear={shear:g}, "
        f"noise_ratio={noise_ratio:g})", SDE(drift, D), (0.0, 0.0), (-1.6, -1.6), (1.6, 1.6),
        attractors=((0.0, 0.0), (float(np.sqrt(s_s)), 0.0)),
        exit_costs=(float(v_pc), float(v_cp)) if exact else None,
        costs=((0.0, float(v_pc)), (float(v_cp), 0.0)) if exact else None,
        global_values=tuple(float(w) for w in W - W.min()) if exact else None,
        exact_global=exact_global if exact else None, cycles=(None, curve))


def rosenzweig_macarthur(K: float = 2.5, m: float = 0.35, beta: float = 1.0, noise: float = 1.0) -> Problem:
    """The Rosenzweig-MacArthur predator-prey model (Holling type II), in
    dimensionless form:

        x' = x (1 - x / K) - x y / (1 + x),     y' = beta y (x / (1 + x) - m),

    x the prey, y the predator, with additive noise D = noise I. The
    coexistence equilibrium x* = m / (1 - m), y* = (1 + x*)(1 - x* / K) loses
    stability at K = 1 + 2 x* (K = 2.08 for m = 0.35; the "paradox of
    enrichment") and a stable cycle surrounds it beyond. For the defaults
    the cycle spans about x in [0.11, 1.52], y in [0.48, 2.07]; the box is
    [0.02, 2.3] x [0.2, 2.5] and the equilibrium (0.54, 1.21) inside the
    cycle is an unstable focus. No closed form is known.
    """
    if not (0 < m < 1 and K > 0 and beta > 0 and noise > 0):
        raise ValueError(f"need 0 < m < 1 and K, beta, noise > 0, got K={K}, m={m}, beta={beta}, noise={noise}")

    def drift(p):
        p = np.asarray(p, dtype=float)
        x, y = p[..., 0], p[..., 1]
        f = x / (1 + x)
        return np.stack([x * (1 - x / K) - f * y, beta * y * (f - m)], axis=-1)

    xs = m / (1 - m)
    ys = (1 + xs) * (1 - xs / K)
    curve = _orbit_curve(lambda p: drift(p), (xs + 0.5, ys), ys, xs)
    if curve is None:
        raise ValueError(f"no stable cycle for K={K}, m={m}, beta={beta}: the coexistence equilibrium is stable "
                         f"for K <= 1 + 2 m / (1 - m) = {1 + 2 * xs:.4g}")
    return Problem(f"rosenzweig_macarthur(K={K:g}, m={m:g}, beta={beta:g}, noise={noise:g})",
                   SDE(drift, float(noise)), tuple(curve[0]), (0.02, 0.2), (2.3, 2.5), cycles=(curve,))


def _orbit_curve(drift, start, ys: float, xs: float, n: int = 1024) -> Optional[np.ndarray]:
    """A closed orbit (n, 2) the flow from ``start`` settles on: one turn
    between two upward crossings of y = ys right of x = xs (None if the
    flow settles on the equilibrium instead)."""
    from scipy.integrate import solve_ivp

    def f(t, p):
        return drift(np.asarray(p)[None])[0]

    def cross(t, p):
        return p[1] - ys
    cross.direction = 1.0

    settled = solve_ivp(f, (0, 400), start, rtol=1e-10, atol=1e-12, events=cross)
    hits = [p for p in settled.y_events[0] if p[0] > xs]
    if len(hits) < 2 or np.linalg.norm(hits[-1] - hits[-2]) > 1e-6:
        return None
    t_hits = [t for t, p in zip(settled.t_events[0], settled.y_events[0]) if p[0] > xs]
    period = t_hits[-1] - t_hits[-2]
    turn = solve_ivp(f, (0, period), hits[-1], rtol=1e-10, atol=1e-12,
                     t_eval=np.linspace(0, period, n, endpoint=False))
    return turn.y.T.copy()
