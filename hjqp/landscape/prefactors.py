"""Prefactors of the rates and exit times of an SDE: the Eyring-Kramers law
generalised to non-gradient drifts and position-dependent diffusion
(Bouchet and Reygner, Ann. Henri Poincare 17, 2016), and the mean exit
time through a boundary the flow points into. docs/prefactors.md derives
both in this package's scaling, dx = b dt + sqrt(eps) Sigma dW, D = Sigma
Sigma^T (Ito), quasi-potential U:

    k = lambda_+ / (2 pi) sqrt(det Hess U(O) / ``|det Hess U(z)|``)
        exp(-int theta dt) exp(-(U(z) - U(O)) / eps),
    theta = tr(d_x H_p) + 1/2 tr(D Hess U)
          = div b + (div D) . grad U + 1/2 tr(D Hess U)
          = div l + 1/2 (div D) . grad U,      l = b + 1/2 D grad U,

the integral along the minimum action path x' = b + D grad U from the
attractor O to the saddle z, lambda_+ the unstable eigenvalue of Db(z),
Hess U(z) = C^-1 with J C + C J^T + D = 0 at z (as at O). Hess U along the
path comes from the Riccati equation of the Hamilton-Jacobi equation.
Where the theory does not apply the result says why instead of giving a
number."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.linalg
from scipy.special import logsumexp

from .. import _warn
from ..problem import Fields, JumpHamiltonian
from ..solve import minimum_action_path
from ..solve.expansion import local_expansion
from .basins import saddle_value

__all__ = ["PrefactorWarning", "SaddleCrossing", "Prefactors", "ExitTime", "saddle_crossing", "prefactors",
           "mean_exit_time", "log_mean_passage_time"]


class PrefactorWarning(UserWarning):
    """The prefactor theory does not apply somewhere: the result holds NaN
    there, and the warning says why."""


# Relative size below which an eigenvalue of Db counts as zero (a flat or
# degenerate equilibrium: the Gaussian approximations behind the prefactor fail).
_DEGENERATE = 1e-6
# Leave the grid's path this many cells short of the saddle: closer, the
# interpolated grad U carries more relative error than the Riccati equation
# tolerates (its component along the path grows like 1/r^2 there). The rest
# follows the saddle's own local expansion of U.
_SADDLE_STOP_CELLS = 1.5
# A field value that changes along the path by this many times the typical
# change of its neighbourhood counts as a jump.
_JUMP_RATIO = 25.0


@dataclass(frozen=True, eq=False)
class SaddleCrossing:
    """The rate of the transition from attractor ``source`` over ``saddle``
    into the basin of ``target``: ``prefactor * exp(-cost / eps)``.

    Attributes
    ----------
    saddle, source, target : int
    cost : float
        U_source at the saddle (the exponent's barrier).
    prefactor : float
        lambda_+ / (2 pi) sqrt(det Hess U(O) / ``|det Hess U(z)|``) exp(-divergence);
        NaN when ``valid`` is False.
    unstable_eigenvalue : float
        lambda_+, the positive eigenvalue of Db at the saddle.
    hessian_ratio : float
        sqrt(det Hess U(O) / ``|det Hess U(z)|``).
    divergence : float
        int theta dt along the minimum action path (0 for gradient systems
        with constant D).
    valid : bool
    reason : str
        Why the theory does not apply ('' when valid).
    path : ndarray (n, d) or None
        The minimum action path from the attractor to the saddle.
    hessians : tuple of two (d, d) arrays or None
        Hess U at the attractor and at the saddle.
    """

    saddle: int
    source: int
    target: int
    cost: float
    prefactor: float
    unstable_eigenvalue: float = math.nan
    hessian_ratio: float = math.nan
    divergence: float = math.nan
    valid: bool = False
    reason: str = ""
    path: Optional[np.ndarray] = field(default=None, repr=False)
    hessians: Optional[Tuple[np.ndarray, np.ndarray]] = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Prefactors:
    """The prefactors of a landscape's transitions (independent of eps).

    Attributes
    ----------
    crossings : tuple of SaddleCrossing
        One per saddle and direction (source -> target).
    valid : ndarray of bool (k, k)
        Whether the rate i -> j has a prefactor (True on the diagonal, and
        for pairs no saddle links, whose rate is 0: their transitions pass
        through another basin).
    reasons : dict (i, j) -> str
        Why the theory does not apply to the pair, where it does not.
    """

    crossings: Tuple[SaddleCrossing, ...]
    valid: np.ndarray
    reasons: Dict[Tuple[int, int], str]

    @property
    def k(self) -> int:
        return len(self.valid)

    def log_rates(self, eps: float) -> np.ndarray:
        """log k_ij (k, k): the log-sum over the saddles linking i to j of
        log prefactor - cost / eps; -inf for pairs no saddle links and on
        the diagonal, NaN where the theory does not apply."""
        L = np.full((self.k, self.k), -np.inf)
        for i in range(self.k):
            for j in range(self.k):
                if i == j:
                    continue
                terms = [math.log(c.prefactor) - c.cost / eps for c in self.crossings
                         if c.source == i and c.target == j]
                if not self.valid[i, j]:
                    L[i, j] = np.nan
                elif terms:
                    L[i, j] = float(logsumexp(terms))
        return L

    def describe(self) -> str:
        """The reasons, one line per pair (empty if all valid)."""
        return "; ".join(f"O{i + 1} -> O{j + 1}: {r}" for (i, j), r in sorted(self.reasons.items()))


@dataclass(frozen=True, eq=False)
class ExitTime:
    """The predicted mean exit time from a domain through its boundary.

    ``value`` = 1 / sum_m coefficient_m eps^-1/2 exp(-cost_m / eps) over
    the isolated minima x*_m of U on the boundary (NaN when ``valid`` is
    False, with the ``reason``).

    Attributes
    ----------
    value : float
    eps : float
    valid : bool
    reason : str
    points : ndarray (m, d)
        The minima of U on the boundary.
    costs : ndarray (m,)
        U there.
    coefficients : ndarray (m,)
        C(x*) (v . n) sqrt(det Hess U(O) / det H_boundary) / sqrt(2 pi),
        v = b + D grad U.
    """

    value: float
    eps: float
    valid: bool
    reason: str = ""
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    costs: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def at(self, eps: float) -> "ExitTime":
        """The same prediction at another eps."""
        if not self.valid:
            return ExitTime(math.nan, float(eps), False, self.reason, self.points, self.costs, self.coefficients)
        return ExitTime(_exit_value(self.costs, self.coefficients, float(eps)), float(eps), True, "",
                        self.points, self.costs, self.coefficients)


# -- local derivatives of the Hamiltonian --------------------------------------------


def _fd_step(fields: Fields) -> Tuple[float, float]:
    """Steps of the central differences of the fields: first and second
    derivatives. Arrays sampled on the grid are differenced at half a cell
    (their interpolant resolves no finer); callables at a small fraction of
    the box."""
    grid = fields.grid
    sampled = isinstance(fields.sde.drift, np.ndarray) or (isinstance(fields.sde.diffusion, np.ndarray)
                                                           and fields.sde.diffusion.ndim > 2)
    if sampled:
        h = 0.5 * min(grid.spacing)
        return h, h
    side = float(min(np.subtract(grid.upper, grid.lower)))
    return 1e-5 * side, 1e-3 * side


class _Local:
    """b, D, H_p, H_x, d_x H_p and d_xx H at points x with momenta p (the
    Hamiltonian H = 1/2 p^T D p + b . p), by central differences of the
    fields at fixed p, evaluated in one batch."""

    def __init__(self, fields: Fields, X: np.ndarray, P: np.ndarray):
        n, d = X.shape
        s1, s2 = _fd_step(fields)
        E1, E2 = np.eye(d) * s1, np.eye(d) * s2
        shifts = [np.zeros(d)] + [E1[k] for k in range(d)] + [-E1[k] for k in range(d)]
        for k in range(d):
            for m in range(k, d):
                for a in (1, -1):
                    for c in (1, -1):
                        shifts.append(a * E2[k] + c * E2[m])
        S = np.asarray(shifts)
        Y = (X[None, :, :] + S[:, None, :]).reshape(-1, d)
        Pr = np.broadcast_to(P[None], (len(S), n, d)).reshape(-1, d)
        b = fields.drift(Y)
        D = fields.diffusion(Y)
        Dp = np.einsum("nij,nj->ni", D, Pr)
        hp = (b + Dp).reshape(len(S), n, d)
        h = (0.5 * np.einsum("ni,ni->n", Pr, Dp) + np.einsum("ni,ni->n", b, Pr)).reshape(len(S), n)
        self.b = b.reshape(len(S), n, d)[0]
        self.D = D.reshape(len(S), n, d, d)[0]
        self.Hp = hp[0]
        self.A = np.stack([(hp[1 + k] - hp[1 + d + k]) / (2 * s1) for k in range(d)], axis=-1)  # d_x H_p
        self.Hx = np.stack([(h[1 + k] - h[1 + d + k]) / (2 * s1) for k in range(d)], axis=-1)
        Hxx = np.empty((n, d, d))
        idx = 1 + 2 * d
        for k in range(d):
            for m in range(k, d):
                pp, pm, mp, mm = h[idx], h[idx + 1], h[idx + 2], h[idx + 3]
                idx += 4
                if k == m:
                    # shifts +-2 s2 e_k (pp, mm) and 0 (pm, mp).
                    Hxx[:, k, k] = (pp - pm - mp + mm) / (4 * s2 * s2)
                else:
                    Hxx[:, k, m] = Hxx[:, m, k] = (pp - pm - mp + mm) / (4 * s2 * s2)
        self.Hxx = Hxx


def _riccati_rhs(Q, Hxx, A, D, speed):
    """dQ/ds along the path (arc length s): the Hamilton-Jacobi equation
    differentiated twice, -(H_xx + A^T Q + Q A + Q D Q) / |H_p|, A = d_x H_p."""
    return -(Hxx + A.T @ Q + Q @ A + Q @ D @ Q) / speed


@dataclass
class _Transport:
    """Hess U carried along a path and the integral of theta dt."""

    Q_end: np.ndarray
    integral: float
    valid: bool
    reason: str
    F_first: float = math.nan


def _transport(fields: Fields, gradient, pts: np.ndarray, Q_start: np.ndarray, scale_Q: float) -> _Transport:
    """Carry Q = Hess U along the polyline ``pts`` (in the direction of the
    minimum action path) by the Riccati equation, and integrate
    theta / |H_p| over arc length (= int theta dt) by Simpson's rule.

    ``gradient`` gives grad U at points (..., d). Along the way Q is kept
    consistent with Hamilton's equation: Q v = -H_x / |H_p| for the unit
    tangent v (the derivative of grad U along the path); this pins the
    component of Q that the Riccati equation amplifies near a saddle.
    ``F_first`` is the integrand at the first point.
    """
    if len(pts) < 3:
        return _Transport(Q_start, math.nan, False, "the minimum action path is too short to carry Hess U along "
                          "(refine the grid)")
    mids = 0.5 * (pts[:-1] + pts[1:])
    X = np.concatenate([pts, mids])
    P = gradient(X)
    if not np.all(np.isfinite(P)):
        return _Transport(Q_start, math.nan, False, "grad U is not finite along the minimum action path")
    loc = _Local(fields, X, P)
    n = len(pts)
    speed = np.linalg.norm(loc.Hp, axis=1)
    if np.any(speed <= 0) or not np.all(np.isfinite(speed)):
        return _Transport(Q_start, math.nan, False, "b + D grad U vanishes on the minimum action path "
                          "(a flat region)")

    def coefficients(k, tau):
        """H_xx, A, D, |H_p| at fraction tau of segment k (piecewise
        linear through its ends and midpoint)."""
        if tau <= 0.5:
            a, b, f = k, n + k, 2 * tau
        else:
            a, b, f = n + k, k + 1, 2 * tau - 1
        g = 1 - f
        return (g * loc.Hxx[a] + f * loc.Hxx[b], g * loc.A[a] + f * loc.A[b], g * loc.D[a] + f * loc.D[b],
                g * speed[a] + f * speed[b])

    def theta_of(j, Q):
        return float(np.trace(loc.A[j]) + 0.5 * np.trace(loc.D[j] @ Q))

    Q = 0.5 * (Q_start + Q_start.T)
    rates = 2 * np.sqrt(np.sum(loc.A ** 2, axis=(1, 2))) / speed
    theta = np.empty(n)
    theta_mid = np.empty(n - 1)
    theta[0] = theta_of(0, Q)
    blow = 1e3 * scale_Q
    for k in range(n - 1):
        ds = float(np.linalg.norm(pts[k + 1] - pts[k]))
        # The Riccati equation is stiff near the attractor (rates up to
        # |A + D Q| / |H_p| ~ 1 / distance there, more where Db is
        # anisotropic): substeps keep RK4 within its stability region.
        rate = max(rates[j] + float(np.sqrt(np.sum((loc.D[j] @ Q) ** 2))) / speed[j] for j in (k, n + k, k + 1))
        m = 2 * int(min(500, max(1, math.ceil(ds * rate))))
        Qk = Q
        for i in range(m):
            t0, t1 = i / m, (i + 1) / m
            h_ = ds / m
            k1 = _riccati_rhs(Qk, *coefficients(k, t0))
            k2 = _riccati_rhs(Qk + 0.5 * h_ * k1, *coefficients(k, 0.5 * (t0 + t1)))
            k3 = _riccati_rhs(Qk + 0.5 * h_ * k2, *coefficients(k, 0.5 * (t0 + t1)))
            k4 = _riccati_rhs(Qk + h_ * k3, *coefficients(k, t1))
            Qk = Qk + h_ / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
            if 2 * (i + 1) == m:
                theta_mid[k] = theta_of(n + k, Qk)
        change = Qk - Q
        if not np.all(np.isfinite(change)) or np.linalg.norm(change) > max(np.linalg.norm(Q), scale_Q):
            # A step that changes Q by more than its size: Q is passing a
            # pole of the Riccati equation (a caustic), which a finite step
            # can jump over to finite values on the other side.
            return _Transport(Q, math.nan, False, _caustic(pts[k + 1]))
        Q = Q + change
        Q = 0.5 * (Q + Q.T)
        # Q v = dp/ds = -H_x / |H_p| (Hamilton's equation along the path).
        v = loc.Hp[k + 1] / speed[k + 1]
        g = -loc.Hx[k + 1] / speed[k + 1]
        res = g - Q @ v
        Q = Q + np.outer(res, v) + np.outer(v, res) - float(v @ res) * np.outer(v, v)
        if not np.all(np.isfinite(Q)) or np.linalg.norm(Q) > blow:
            return _Transport(Q, math.nan, False, _caustic(pts[k + 1]))
        theta[k + 1] = theta_of(k + 1, Q)
    F = theta / speed[:n]
    F_mid = theta_mid / speed[n:]
    ds = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    integral = float(np.sum((F[1:] + 4 * F_mid + F[:-1]) * ds) / 6.0)  # Simpson's rule
    return _Transport(Q, integral, True, "", float(F[0]))


def _expansion_path(fields: Fields, expansion, start: np.ndarray, center: np.ndarray, lam: float, stop,
                    samples: int = 200) -> Optional[np.ndarray]:
    """A minimum action path of a local expansion of U about an equilibrium
    (an attractor or a saddle), integrated backward (x' = -H_p, along which
    it is stable) from ``start`` until ``stop(distance to center)``; (n, d)
    in the direction of the path, points evenly spaced in time (hence
    geometrically in distance). None if it never stops."""
    from scipy.integrate import solve_ivp

    def rhs(t, y):
        x = y[None]
        return -(fields.drift(x)[0] + fields.diffusion(x)[0] @ expansion.gradient(x)[0])

    def event(t, y):
        return stop(float(np.linalg.norm(y - center)))

    event.terminal = True
    scale = float(np.linalg.norm(start - center))
    sol = solve_ivp(rhs, (0.0, 60.0 / lam), start, events=event, dense_output=True, rtol=1e-9,
                    atol=1e-11 * scale)
    if sol.status != 1:
        return None
    t_end = float(sol.t_events[0][0])
    return sol.sol(np.linspace(t_end, 0.0, samples)).T


def _saddle_tail(fields: Fields, expansion, z: np.ndarray, direction: np.ndarray, lam: float,
                 radius: float) -> Optional[np.ndarray]:
    """The minimum action path of the saddle's local expansion of U over
    its last ``radius`` before the saddle, ending 1e-4 radius from it:
    integrated backward from z + 1e-4 radius * direction."""
    return _expansion_path(fields, expansion, z + 1e-4 * radius * direction, z, lam, lambda r: r - radius)


def _attractor_head(fields: Fields, expansion, x0: np.ndarray) -> Optional[np.ndarray]:
    """The minimum action path of the attractor's local expansion of U from
    1e-4 of the distance of x0 to x0 (it may wind about the attractor: a
    straight segment would miss its length)."""
    o = expansion.center
    r0 = float(np.linalg.norm(x0 - o))
    lam = float(np.min(np.abs(np.linalg.eigvals(expansion.jacobian).real)))
    return _expansion_path(fields, expansion, x0, o, lam, lambda r: r - 1e-4 * r0)


def _from_attractor(fields: Fields, qp, pts: np.ndarray, scale_Q: float) -> _Transport:
    """The transport along a grid path ``pts`` (from next to the attractor
    of ``qp``), preceded by the path of the attractor's expansion up to its
    first point (where the grid's U is the expansion's); the integral runs
    from the attractor."""
    e = qp.expansion
    head = _attractor_head(fields, e, pts[0])
    if head is None:
        return _Transport(e.hessian, math.nan, False, "the minimum action path of U's expansion at the attractor "
                          "does not reach it")
    first = _transport(fields, e.gradient, head, _expansion_hessian(e, head[0]), scale_Q)
    if not first.valid:
        return first

    def grid_gradient(x):
        return qp.gradient(x, fill_value=np.nan)

    rest = _transport(fields, grid_gradient, pts, first.Q_end, scale_Q)
    if not rest.valid:
        return rest
    # The last 1e-4 of the head's distance: the integrand is finite there.
    integral = first.integral + rest.integral + first.F_first * float(np.linalg.norm(head[0] - e.center))
    return _Transport(rest.Q_end, integral, True, "")


def _caustic(x: np.ndarray) -> str:
    return (f"Hess U blows up along the minimum action path near {np.round(x, 4).tolist()}: a caustic "
            "(neighbouring paths cross there; the path is not a strict minimum of the action), or grad U "
            "from the grid is poor there (refine the grid)")


def _jump(fields: Fields, path: np.ndarray) -> str:
    """'' if the drift and diffusion change smoothly along the path, else
    where they jump."""
    # Points at an eighth of the path's step: nodes and their midpoints.
    mids = 0.5 * (path[:-1] + path[1:])
    X = np.empty((2 * len(path) - 1, path.shape[1]))
    X[0::2], X[1::2] = path, mids
    for name, values in (("drift", fields.drift(X)), ("diffusion", fields.diffusion(X))):
        v = values.reshape(len(X), -1)
        step = np.linalg.norm(np.diff(v, axis=0), axis=1)
        scale = float(np.max(np.abs(v))) + 1e-300
        w = 6
        for k in range(len(step)):
            lo, hi = max(0, k - w), min(len(step), k + w + 1)
            others = np.concatenate([step[lo:k], step[k + 1:hi]])
            typical = float(np.median(others)) if len(others) else 0.0
            if step[k] > 1e-6 * scale and step[k] > _JUMP_RATIO * (typical + 1e-12 * scale):
                return (f"the {name} jumps along the minimum action path near "
                        f"{np.round(X[k], 4).tolist()}: the prefactor needs smooth fields")
    return ""


def _lyapunov_hessian(J: np.ndarray, D: np.ndarray) -> Optional[np.ndarray]:
    """Hess U at an equilibrium: C^-1 with J C + C J^T + D = 0 (the
    quadratic part of U on the branch the minimum action path arrives on),
    None if singular."""
    try:
        C = scipy.linalg.solve_continuous_lyapunov(J, -D)
    except (np.linalg.LinAlgError, ValueError):
        return None
    C = 0.5 * (C + C.T)
    if not np.all(np.isfinite(C)) or np.linalg.cond(C) > 1e12:
        return None
    Q = np.linalg.inv(C)
    return 0.5 * (Q + Q.T)


def _expansion_hessian(expansion, x: np.ndarray) -> np.ndarray:
    """Hess U of the local expansion (quadratic + cubic) at x."""
    d = len(x)
    step = 1e-5 * max(1.0, float(np.max(np.abs(expansion.hessian))) ** -0.5)
    E = np.eye(d) * step
    g = expansion.gradient(np.concatenate([x + E, x - E]))
    H = (g[:d] - g[d:]).T / (2 * step)
    return 0.5 * (H + H.T)


def _check_attractor(J: np.ndarray) -> str:
    eig = np.linalg.eigvals(J)
    top = float(np.max(np.abs(eig))) if len(eig) else 0.0
    if not np.all(np.isfinite(eig)) or top == 0 or float(np.min(np.abs(eig))) < _DEGENERATE * top:
        return (f"the attractor is degenerate (Db has an eigenvalue near 0: {np.round(eig, 8).tolist()}), as on "
                "a flat loss: Hess U there is singular")
    return ""


def saddle_crossing(fields: Fields, qp, saddle_index: int, saddle: np.ndarray, jacobian: np.ndarray,
                    source: int, target: int, side: float, cost: Optional[float] = None) -> SaddleCrossing:
    """The prefactor of the transition from the attractor of ``qp`` over a
    saddle (see :class:`SaddleCrossing`); ``side`` (+-1) orients the
    saddle's unstable eigenvector towards the source's basin. ``cost``: U
    at the saddle where known (a landscape's, from the source's side of
    the saddle: :func:`hjqp.landscape.basins.saddle_value`), else
    interpolated."""
    z = np.asarray(saddle, dtype=float)
    grid = fields.grid
    h = max(grid.spacing)
    cost = float(qp(z, fill_value=np.nan)) if cost is None or not np.isfinite(cost) else float(cost)

    def fail(reason, **kw):
        return SaddleCrossing(saddle_index, source, target, cost, math.nan, valid=False, reason=reason, **kw)

    if getattr(qp, "cycle", None) is not None:
        return fail("the source is a limit cycle: its prefactor (a periodic Riccati equation) is not implemented")
    if not np.isfinite(cost):
        return fail("the quasi-potential is not finite at the saddle")
    e = qp.expansion
    reason = _check_attractor(e.jacobian)
    if reason:
        return fail(reason)
    Jz = np.asarray(jacobian, dtype=float)
    eig, vec = np.linalg.eig(Jz)
    top = float(np.max(np.abs(eig)))
    unstable = np.flatnonzero(eig.real > 0)
    if (len(unstable) != 1 or abs(eig[unstable[0]].imag) > 1e-9 * top
            or float(np.min(np.abs(eig))) < _DEGENERATE * top):
        return fail(f"the saddle {np.round(z, 6).tolist()} is degenerate or not of index 1 (Db has eigenvalues "
                    f"{np.round(eig, 8).tolist()}): the Eyring-Kramers theory needs a non-degenerate saddle")
    lam = float(eig[unstable[0]].real)
    Dz = fields.diffusion(z[None])[0]
    Qz = _lyapunov_hessian(Jz, Dz)
    if Qz is None or np.count_nonzero(np.linalg.eigvalsh(Qz) < 0) != 1:
        return fail(f"Hess U at the saddle {np.round(z, 6).tolist()} is singular (two eigenvalues of Db sum to "
                    "zero there): a degenerate saddle")
    Qo = e.hessian
    ratio = math.sqrt(float(np.linalg.det(Qo)) / abs(float(np.linalg.det(Qz))))
    # The minimum action path arrives at the saddle along the eigenvector
    # y of J + D Hess U (the linearised x' = b + D grad U) of eigenvalue
    # -lambda_+, y = Hess U^-1 w for the left unstable eigenvector w of J;
    # for a non-normal J it is not the unstable eigenvector e of J. It is
    # taken on the source's side of the saddle's stable manifold (w . y
    # of the sign of w . side e).
    e_plus = np.real(vec[:, unstable[0]])
    lw, lv = np.linalg.eig(Jz.T)
    w_plus = np.real(lv[:, int(np.argmax(lw.real))])
    u = np.linalg.solve(Qz, w_plus)
    u *= np.sign(float(w_plus @ u)) * np.sign(float(w_plus @ (side * e_plus))) / np.linalg.norm(u)
    reach = float(np.linalg.norm(z - qp.attractor))
    radius = min(_SADDLE_STOP_CELLS * h, 0.25 * reach)
    try:
        ez = local_expansion(fields, z, Jz)
    except (np.linalg.LinAlgError, ValueError) as err:
        return fail(f"no local expansion of U at the saddle: {err}", unstable_eigenvalue=lam, hessian_ratio=ratio)
    # U must be smooth about the saddle on the source's side: grad U from
    # the grid against the saddle's expansion, a cell and a half out along
    # the unstable direction and across it (close enough that the
    # expansion's own error stays within a few percent). Where several
    # minimum action paths meet at the saddle (Maier-Stein with beta > 4) U
    # has a ridge there and they differ by O(1).
    W = scipy.linalg.null_space(u[None])
    probe = 1.5 * h
    probes = z + probe * u + probe * np.concatenate([np.zeros((1, len(z))), W.T, -W.T])
    g_grid = qp.gradient(probes, fill_value=np.nan)
    g_exp = ez.gradient(probes)
    off = float(np.max(np.linalg.norm(g_grid - g_exp, axis=1))) / (float(np.linalg.norm(Qz, 2)) * probe)
    if not off <= 0.4:
        return fail(f"U is not smooth about the saddle {np.round(z, 6).tolist()}: grad U from the grid differs from "
                    f"its local expansion there by {off:.2g} of its size (several minimum action paths meet at the "
                    "saddle, or the grid is too coarse)", unstable_eigenvalue=lam, hessian_ratio=ratio)
    step = 0.5 * min(grid.spacing)
    try:
        path = minimum_action_path(qp, z + 0.5 * h * u, step=step,
                                   max_steps=int(40 * reach / step) + 1000)
    except ValueError as err:
        return fail(f"no minimum action path to the saddle: {err}", unstable_eigenvalue=lam, hessian_ratio=ratio)
    path = np.vstack([path, z[None]])
    jump = _jump(fields, path)
    if jump:
        return fail(jump, unstable_eigenvalue=lam, hessian_ratio=ratio, path=path)
    scale_Q = max(float(np.linalg.norm(Qo)), float(np.linalg.norm(Qz)))
    # Along the grid's path up to a few cells from the saddle (where the
    # interpolated grad U is accurate), then along the path of the saddle's
    # own local expansion of U to the saddle: there U is not smooth on the
    # grid, and the integrand has non-polynomial terms (x^2 ln x at
    # resonant saddles) that no extrapolation catches.
    tail = _saddle_tail(fields, ez, z, u, lam, radius)
    if tail is None:
        return fail("the minimum action path of U's expansion at the saddle does not leave it", unstable_eigenvalue=lam,
                    hessian_ratio=ratio, path=path)
    pts = path[1:-1]
    near = np.flatnonzero(np.linalg.norm(pts - z, axis=1) < radius)
    main = pts[:int(near[0])] if len(near) else pts

    tr = _from_attractor(fields, qp, main, scale_Q)
    if not tr.valid:
        return fail(tr.reason, unstable_eigenvalue=lam, hessian_ratio=ratio, path=path)
    integral = tr.integral
    # The gap between the grid path's last point and the tail's first (the
    # two paths differ by O(r^2)): the integrand times the gap in distance.
    last = _transport(fields, ez.gradient, tail, tr.Q_end, scale_Q)
    if not last.valid:
        return fail(last.reason, unstable_eigenvalue=lam, hessian_ratio=ratio, path=path)
    gap = float(np.linalg.norm(main[-1] - z)) - float(np.linalg.norm(tail[0] - z))
    integral += last.integral + last.F_first * gap
    # Hess U carried along the path must meet the saddle's own: else U is
    # not smooth there (several paths meet at the saddle, or a caustic
    # reaches it) and the Gaussian picture behind the formula fails.
    mismatch = float(np.linalg.norm(last.Q_end - Qz)) / scale_Q
    if mismatch > 0.2:
        return fail(f"Hess U carried along the minimum action path ({np.round(last.Q_end, 4).tolist()}) does not "
                    f"meet the saddle's ({np.round(Qz, 4).tolist()}): U is not smooth at the saddle (several "
                    "minimum action paths meet there, or a caustic)", unstable_eigenvalue=lam,
                    hessian_ratio=ratio, path=path)
    tr = _Transport(last.Q_end, integral, True, "")
    A = lam / (2 * math.pi) * ratio * math.exp(-tr.integral)
    return SaddleCrossing(saddle_index, source, target, cost, A, lam, ratio, tr.integral, True, "", path, (Qo, Qz))


def prefactors(land) -> Prefactors:
    """The prefactors of every saddle crossing of a landscape (see
    :meth:`hjqp.Landscape.prefactors`)."""
    sde = land._sde()
    if isinstance(sde, JumpHamiltonian):
        raise ValueError("prefactors are derived for SDEs (a quadratic Hamiltonian); this landscape's problem "
                         "is a jump Hamiltonian")
    fields = sde.fields(land.grid)
    k = land.k
    crossings: List[SaddleCrossing] = []
    for s, (a, b) in enumerate(land.saddle_links):
        if a < 0 or b < 0 or a == b:
            continue
        for src, dst, side in ((int(a), int(b), 1.0), (int(b), int(a), -1.0)):
            crossings.append(saddle_crossing(fields, land.local[src], s, land.saddles[s],
                                             land.info["saddle_jacobians"][s], src, dst, side,
                                             saddle_value(land.local[src], land.basins, land.saddles[s], src)))
    valid = np.ones((k, k), dtype=bool)
    reasons: Dict[Tuple[int, int], str] = {}
    for i in range(k):
        mine = [c for c in crossings if c.source == i]
        out_reason = ""
        if land.exit_on_edge[i]:
            out_reason = "its basin reaches the box edge below its exit cost: enlarge the box"
        elif not mine:
            out_reason = ("no index-1 saddle leads out of its basin: the exit is not through a saddle (a flat "
                          "loss, a degenerate saddle, or fields that jump)")
        else:
            least = min(c.cost for c in mine)
            tol = 0.02 * max(abs(float(land.exit_costs[i])), 1e-12) + 1e-6
            if least > land.exit_costs[i] + tol:
                out_reason = (f"its cheapest saddle costs {least:.6g}, above its exit cost "
                              f"{float(land.exit_costs[i]):.6g}: the basin has an exit that is not a saddle "
                              "(a flat region or a degenerate saddle)")
        for j in range(k):
            if j == i:
                continue
            if out_reason:
                valid[i, j] = False
                reasons[(i, j)] = out_reason
                continue
            bad = [c for c in mine if c.target == j and not c.valid]
            if bad:
                valid[i, j] = False
                reasons[(i, j)] = bad[0].reason
    return Prefactors(tuple(crossings), valid, reasons)


# -- Markov chain quantities -----------------------------------------------------------


def log_mean_passage_time(log_rates, start: int, target: int) -> float:
    """log of the mean first passage time from ``start`` to ``target`` of
    the continuous-time Markov chain with rates exp(log_rates).

    States other than the two are eliminated one at a time from the jump
    chain (stochastic complement), adding their holding times to those of
    the states that lead to them. Carried out on logarithms with sums only
    (no subtraction: 1 - P_mm is the sum of P_mn over n != m), it is exact
    for rates of any size, as :func:`hjqp.landscape.log_stationary` is.
    +inf if the target cannot be reached.
    """
    L = np.array(log_rates, dtype=float)
    k = len(L)
    if L.ndim != 2 or L.shape != (k, k) or np.any(np.isnan(L)) or np.any(L == np.inf):
        raise ValueError("log_rates must be a square matrix without NaN or +inf")
    np.fill_diagonal(L, -np.inf)
    out = np.array([logsumexp(L[a]) for a in range(k)])
    with np.errstate(invalid="ignore"):
        logP = np.where(np.isfinite(out)[:, None], L - out[:, None], -np.inf)
        logh = -out  # log of the mean holding time, +inf for an absorbing state
    alive = [a for a in range(k)]
    for m in range(k):
        if m in (start, target):
            continue
        alive.remove(m)
        # 1 - P_mm over the states still alive (rows sum to 1).
        leave = logsumexp([logP[m, n] for n in alive])
        if leave == -np.inf:
            continue  # m never leaves to the others: paths into it never come back
        for a in alive:
            if logP[a, m] == -np.inf:
                continue
            for b in alive:
                logP[a, b] = np.logaddexp(logP[a, b], logP[a, m] + logP[m, b] - leave)
            logh[a] = np.logaddexp(logh[a], logP[a, m] + logh[m] - leave)
        logP[:, m] = -np.inf
    if logP[start, target] == -np.inf:
        return math.inf
    return float(logh[start] - logP[start, target])


# -- exit through a boundary -----------------------------------------------------------


def _exit_value(costs: np.ndarray, coefficients: np.ndarray, eps: float) -> float:
    log_rate = logsumexp(np.log(coefficients) - costs / eps) - 0.5 * math.log(eps)
    return float(math.exp(min(-log_rate, 700.0))) if -log_rate < 700 else math.inf


def _boundary_minima(U, domain, n: int) -> np.ndarray:
    """The boundary points where U is least among their neighbours."""
    pts = domain.boundary_points(n)
    vals = np.asarray(U(pts), dtype=float)
    finite = np.isfinite(vals)
    pts, vals = pts[finite], vals[finite]
    if len(pts) == 0:
        return pts
    # Neighbours: the m nearest boundary points.
    from scipy.spatial import cKDTree

    m = min(len(pts) - 1, 2 * (pts.shape[1] - 1) + 6)
    _, near = cKDTree(pts).query(pts, k=m + 1)
    keep = [a for a in range(len(pts)) if np.all(vals[a] <= vals[near[a, 1:]])]
    return pts[keep]


def _refine_on_boundary(U, grad, domain, x: np.ndarray, length: float) -> np.ndarray:
    """Projected gradient descent of U on the boundary from x."""
    step = 0.05 * length
    for _ in range(200):
        _, n = domain.distance(x[None])
        n = n[0]
        g = grad(x[None])[0]
        t = g - (g @ n) * n
        if np.linalg.norm(t) * step < 1e-12 * length:
            break
        trial = domain.project((x - step * t)[None])[0]
        if U(trial[None])[0] < U(x[None])[0]:
            x = trial
            step *= 1.2
        else:
            step *= 0.5
            if step < 1e-12 * length:
                break
    return x


def mean_exit_time(qp, domain, eps: float, *, boundary_points: int = 2000) -> ExitTime:
    """The mean exit time of the SDE of ``qp`` from ``domain``, started
    near the attractor of ``qp``, through a boundary the flow points into
    (b . n < 0): to leading order with its prefactor,

        1 / E tau = sum_m C(x*_m) (v . n) sqrt(det Hess U(O) / det H_m)
                    exp(-U(x*_m) / eps) / sqrt(2 pi eps),

    over the isolated minima x*_m of U on the boundary, v = b + D grad U,
    H_m the Hessian of U restricted to the boundary surface (its curvature
    included), C = exp(-int theta dt) along the minimum action path to x*_m
    (docs/prefactors.md). Valid as eps -> 0 for a domain around one
    attractor inside its basin; NaN with the reason where the theory does
    not apply (a characteristic boundary, a degenerate minimum, fields
    that jump, a caustic).

    Parameters
    ----------
    qp : QuasiPotential
        The local quasi-potential of the attractor, on a grid covering the domain.
    domain : a domain of :mod:`hjqp.stochastic` (Ball, Box, LevelSet)
    eps : float
    boundary_points : int
        How many boundary points to search for the minima of U.

    Returns
    -------
    ExitTime
    """
    from .. import _validate

    eps = _validate.eps(eps)
    if qp.sde is None:
        raise ValueError("this quasi-potential does not carry its SDE (it was loaded from a file): "
                         "pass sde= to hjqp.io.load")
    if isinstance(qp.sde, JumpHamiltonian):
        raise ValueError("exit-time prefactors are derived for SDEs (a quadratic Hamiltonian); this problem is "
                         "a jump Hamiltonian")
    if domain.ndim != qp.grid.ndim:
        raise ValueError(f"the domain is {domain.ndim}-dimensional, the quasi-potential {qp.grid.ndim}-dimensional")

    def fail(reason):
        return ExitTime(math.nan, eps, False, reason)

    if getattr(qp, "cycle", None) is not None:
        return fail("the attractor is a limit cycle: its prefactor is not implemented")
    if not domain.contains(qp.attractor[None])[0]:
        raise ValueError(f"the attractor {qp.attractor.tolist()} is not inside the domain")
    fields = qp.sde.fields(qp.grid)
    grid = fields.grid
    h = max(grid.spacing)
    e = qp.expansion
    reason = _check_attractor(e.jacobian)
    if reason:
        return fail(reason)
    lo, hi = domain.bounds()
    if not (grid.contains(np.asarray(lo)[None])[0] and grid.contains(np.asarray(hi)[None])[0]):
        raise ValueError(f"the domain's bounds {np.round(lo, 6).tolist()} - {np.round(hi, 6).tolist()} leave the "
                         f"quasi-potential's box {grid.lower} - {grid.upper}")

    def U(x):
        return qp(x, fill_value=np.inf)

    def grad(x):
        return qp.gradient(x, fill_value=np.nan)

    length = float(np.linalg.norm(np.subtract(hi, lo)))
    candidates = _boundary_minima(U, domain, boundary_points)
    if len(candidates) == 0:
        return fail("U is not finite on the domain's boundary")
    if len(candidates) > 32:
        return fail(f"U has {len(candidates)} local minima on the boundary: it is nearly constant there (the "
                    "boundary follows a level set of U), a degenerate minimum")
    minima: List[np.ndarray] = []
    for c in candidates:
        x = _refine_on_boundary(U, grad, domain, c, length)
        if all(np.linalg.norm(x - m) > 2 * h for m in minima):
            minima.append(x)
    Qo = e.hessian
    scale_Q = float(np.linalg.norm(Qo))
    costs, coefs = [], []
    for x in minima:
        u = float(U(x[None])[0])
        _, n = domain.distance(x[None])
        n = n[0]
        b = fields.drift(x[None])[0]
        if b @ n >= -1e-9 * (np.linalg.norm(b) + 1e-300):
            return fail(f"the flow does not point into the domain at the boundary point {np.round(x, 6).tolist()} "
                        "where U is least (b . n >= 0): a characteristic boundary, which this theory excludes")
        try:
            path = minimum_action_path(qp, x, step=0.5 * min(grid.spacing))
        except ValueError as err:
            return fail(f"no minimum action path to {np.round(x, 6).tolist()}: {err}")
        jump = _jump(fields, path)
        if jump:
            return fail(jump)
        tr = _from_attractor(fields, qp, path[1:], scale_Q)
        if not tr.valid:
            return fail(tr.reason)
        integral = tr.integral
        Q = tr.Q_end
        p = grad(x[None])[0]
        v = b + fields.diffusion(x[None])[0] @ p
        vn = float(v @ n)
        # The boundary's shape operator: derivatives of the outward normal
        # along the tangent plane.
        T = scipy.linalg.null_space(n[None])
        delta = 1e-4 * length
        shape = np.empty((T.shape[1], T.shape[1]))
        for a in range(T.shape[1]):
            plus = domain.distance(domain.project((x + delta * T[:, a])[None]))[1][0]
            minus = domain.distance(domain.project((x - delta * T[:, a])[None]))[1][0]
            shape[:, a] = T.T @ (plus - minus) / (2 * delta)
        shape = 0.5 * (shape + shape.T)
        mu = float(p @ n)
        Hb = T.T @ Q @ T - mu * shape
        det = float(np.linalg.det(Hb)) if Hb.size else 1.0
        if not det > 1e-8 * max(scale_Q, 1.0) ** Hb.shape[0]:
            return fail(f"U restricted to the boundary has a degenerate minimum at {np.round(x, 6).tolist()} "
                        f"(det of its Hessian {det:.3g}): the boundary follows a level set of U there")
        costs.append(u)
        coefs.append(math.exp(-integral) * vn * math.sqrt(float(np.linalg.det(Qo)) / det)
                     / math.sqrt(2 * math.pi))
    costs_a, coefs_a = np.array(costs), np.array(coefs)
    return ExitTime(_exit_value(costs_a, coefs_a, eps), eps, True, "", np.array(minima), costs_a, coefs_a)


def warn_invalid(reasons: Sequence[str], what: str) -> None:
    """One PrefactorWarning naming what is NaN and why."""
    if reasons:
        _warn.warn(f"{what} is NaN where the prefactor theory does not apply: {'; '.join(reasons)}",
                   PrefactorWarning)
