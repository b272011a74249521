"""Problems with known quasi-potentials, for tests, benchmarks and examples.

Each function returns a :class:`Problem`: the SDE, its attractor, a box, and
the exact quasi-potential where one is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Tuple

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
    "example_4_1",
    "maier_stein",
    "multiwell",
    "linear",
    "linear_3d",
    "REGISTRY",
]

ArrayFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Problem:
    """An SDE with its attractor, a box to solve on and, where known, the
    exact quasi-potential U (a callable on points (..., d)).

    Problems with several attractors also list them all (``attractors``,
    ``attractor`` being the first), their index-1 saddles, and what is known
    exactly about their landscape: ``exit_costs`` (k,), the cost of leaving
    each attractor's basin; ``costs`` (k, k), V_ij; ``global_values`` (k,),
    the global quasi-potential phi at the attractors; ``exact_global``, phi
    on points (..., d). SGD problems carry their per-sample losses
    (``losses``, e.g. a :class:`hjqp.sgd.GaussianMixture1D`).
    """

    name: str
    sde: SDE
    attractor: Tuple[float, ...]
    lower: Tuple[float, ...]
    upper: Tuple[float, ...]
    exact: Optional[ArrayFunction] = None
    exact_gradient: Optional[ArrayFunction] = None
    attractors: Tuple[Tuple[float, ...], ...] = ()
    saddles: Tuple[Tuple[float, ...], ...] = ()
    exit_costs: Optional[Tuple[float, ...]] = None
    costs: Optional[Tuple[Tuple[float, ...], ...]] = None
    global_values: Optional[Tuple[float, ...]] = None
    exact_global: Optional[ArrayFunction] = None
    losses: Optional[Any] = None

    def grid(self, n: int) -> Grid:
        """The problem's box with n nodes per axis."""
        return Grid(self.lower, self.upper, (n,) * len(self.lower))


def _rotated_spd(theta, l1, l2):
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
        dm = np.asarray(diffusion, dtype=float)
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
            rho = np.asarray(rho, dtype=float)[..., None]
            return -0.5 * dg + rho * np.stack([-g[..., 1], g[..., 0]], axis=-1)
        w = rotation(p) if callable(rotation) else np.broadcast_to(
            np.asarray(rotation, dtype=float) * np.ones(3), p.shape)
        return -0.5 * dg + np.cross(w, g)

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
        return _rotated_spd(theta, l1, l2)

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
            2 * x + 0.5 * y + 0.6 * x * y + x**3,
            3 * y + 0.5 * x + 0.25 * z + 0.3 * x**2 + 0.2 * z**2 + y**3,
            2 * z + 0.25 * y + 0.4 * y * z + z**3,
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


def example_4_1(mu1: float = 1.9999, mu2: float = 1.0001, *, confine: Optional[float] = 4.5) -> Problem:
    """The paper's Example 4.1: two wells with different noise, a flat loss
    between them.

    The loss is f = |x - O_i|^2 on the unit disk B_i around O_1 = (-2, 0) and
    O_2 = (2, 0), and f = 1 elsewhere; b = -grad f, and D = diag(mu_i, 2 - mu_i)
    on B_i, D = I elsewhere (0 < mu_i < 2). Leaving B_i costs
    V_i = 2 / max(mu_i, 2 - mu_i) (Example 3.1 on the unit circle), crossing
    the flat region costs nothing, so V_12 = V_1 and V_21 = V_2; with
    mu1 > mu2 >= 1 the noise selects O_2, and phi(O_1) = 2/mu2 - 2/mu1.

    The flat loss has no stationary law on the whole plane. ``confine`` adds
    the confining term (|x| - confine)^2 / 2 outside the disk of that radius,
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
        return _rotated_spd(theta, l1, l1 / cond)

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


def _newton(gradient, x0) -> Tuple[float, ...]:
    """A zero of the gradient near x0 (Newton's method, scipy's hybrid root)."""
    from scipy.optimize import root

    sol = root(gradient, np.array(x0, dtype=float), tol=1e-13)
    if not sol.success:
        raise RuntimeError(f"Newton's method failed from {x0}: {sol.message}")
    return tuple(float(v) for v in sol.x)


def iris_mixture(scale: float = 1.1, weight: float = 1.0 / 3.0, learn_weight: bool = False,
                 regularisation: float = 1e-3) -> Problem:
    """SGD on a two-component Gaussian mixture fitted to the petal lengths of
    Fisher's iris data (scikit-learn's bundled copy): per-sample losses
    f_i = -log(pi N(x_i; mu1, s) + (1 - pi) N(x_i; mu2, s)) with parameters
    (mu1, mu2) (pi = `weight` fixed) or (mu1, mu2, rho), pi = sigmoid(rho)
    (`learn_weight`); see :class:`hjqp.sgd.GaussianMixture1D`.

    The SDE is that of batch-1 SGD: b = -grad f, D = the per-sample gradient
    covariance plus `regularisation` times the identity (D is singular on
    the diagonal mu1 = mu2, where the saddle lies; the transition costs
    depend on the regularisation there, see the README). Box: means in
    [-0.5, 7.5], rho in [-4, 4]. The minima are found by Newton's method on
    the exact gradient; the saddle is (mean(x), mean(x)) exactly (with a
    learned weight, (mean, mean, 0) on a line of critical points
    (mean, mean, rho)); no exact quasi-potential is known.
    """
    from .sgd import GaussianMixture1D, iris_petal_lengths

    model = GaussianMixture1D(iris_petal_lengths(), scale, weight, learn_weight)
    sgd = model.sgd(1)
    p1 = float(weight)
    rho = float(np.log(p1 / (1 - p1)))
    starts = [(1.6, 4.9, rho), (4.9, 1.6, -rho)] if learn_weight else [(1.6, 4.9), (5.1, 2.2)]
    minima = tuple(_newton(sgd.gradient, x0) for x0 in starts)
    # On the diagonal mu1 = mu2 every per-sample gradient is a multiple of
    # (pi, 1 - pi[, 0]) times (x_i - mu): grad f vanishes at mu = mean(x),
    # for any rho when the weight is learned (a line of critical points).
    mean = float(np.mean(model.data))
    saddles = ((mean, mean, 0.0),) if learn_weight else ((mean, mean),)
    d = model.dim
    name = (f"iris_mixture(scale={scale:g}, " + ("learned weight" if learn_weight else f"weight={weight:.4g}")
            + f", regularisation={regularisation:g})")
    return Problem(name, sgd.sde(regularisation), minima[0], (-0.5, -0.5, -4.0)[:d], (7.5, 7.5, 4.0)[:d],
                   attractors=minima, saddles=saddles, losses=model)


def iris_two_widths(narrow: float = 0.4, wide: float = 1.0, weight: float = 1.0 / 3.0) -> Problem:
    """SGD on a Gaussian mixture with a narrow and a wide component fitted to
    the iris petal lengths: f_i = -log(pi N(x_i; mu1, narrow) +
    (1 - pi) N(x_i; mu2, wide)), parameters (mu1, mu2), pi = `weight`.

    Two minima: O1 with the narrow component on setosa (the lower loss) and
    O2 with the narrow component on the larger flowers; one saddle between
    them. Unlike :func:`iris_mixture` the gradient noise is definite where
    the transitions go (the components differ on the diagonal), so no
    regularisation is needed. With the default widths the anisotropic noise
    and its isotropic counterfactual (same trace) select different minima.
    The SDE is that of batch-1 SGD. Box [-1, 8]^2: the landscape warns that
    the basin of O2 reaches its edge below its exit cost (far out a component
    leaves the data and the loss flattens); boxes [-4, 11]^2 and [-7, 14]^2
    give the same costs within 2e-3. Minima and saddle by Newton's method;
    no exact quasi-potential is known.
    """
    from .sgd import GaussianMixture1D, iris_petal_lengths

    if not 0 < narrow < wide:
        raise ValueError(f"need 0 < narrow < wide, got narrow={narrow!r}, wide={wide!r}")
    model = GaussianMixture1D(iris_petal_lengths(), (narrow, wide), weight)
    sgd = model.sgd(1)
    minima = tuple(_newton(sgd.gradient, x0) for x0 in [(1.46, 4.9), (5.3, 2.5)])
    saddle = _newton(sgd.gradient, (3.0, 3.8))
    name = f"iris_two_widths(narrow={narrow:g}, wide={wide:g}, weight={weight:.4g})"
    return Problem(name, sgd.sde(), minima[0], (-1.0, -1.0), (8.0, 8.0), attractors=minima,
                   saddles=(saddle,), losses=model)


def linear(J, D, *, box: float = 1.0, name: Optional[str] = None) -> Problem:
    """The linear SDE dx = J x dt + sqrt(eps) D^{1/2} dW in 2D or 3D, J stable
    (eigenvalues with negative real parts), D constant SPD.

    U(x) = 1/2 x^T C^{-1} x exactly, with C the solution of the Lyapunov
    equation J C + C J^T + D = 0: for non-normal J the quasi-potential is
    not the potential of any gradient part of b. The box is [-box, box]^d
    around the attractor 0.
    """
    from scipy import linalg

    J = np.asarray(J, dtype=float)
    D = np.asarray(D, dtype=float)
    d = len(J)
    if J.shape != (d, d) or D.shape != (d, d) or d not in (2, 3):
        raise ValueError(f"J and D must be 2x2 or 3x3 matrices, got {J.shape} and {D.shape}")
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


# The models by name, for the command line: name -> function of keyword
# parameters returning a Problem.
REGISTRY = {
    "example_3_1": example_3_1,
    "example_4_1": example_4_1,
    "maier_stein": maier_stein,
    "linear_rotational": linear_rotational,
    "multiwell": multiwell,
    "gradient_system": gradient_system,
    "anisotropic_rotating": anisotropic_rotating,
    "linear_3d": linear_3d,
    "anisotropic_rotating_3d": anisotropic_rotating_3d,
    "double_well_3d": double_well_3d,
    "iris_mixture": iris_mixture,
    "iris_two_widths": iris_two_widths,
}
