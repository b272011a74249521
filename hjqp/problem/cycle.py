"""Limit cycles of x' = b(x): a closed orbit refined as a fixed point of
the return map (shooting with Newton's method), its Floquet multipliers,
and the geometry of the closed curve (nearest point, phase, distance)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from ..grid import Grid
from .equilibrium import jacobians

__all__ = ["LimitCycle", "refine_cycle", "integrate_cycle", "is_curve"]

Drift = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class LimitCycle:
    """A closed orbit G of x' = b(x), sampled at equal times.

    Attributes
    ----------
    curve : ndarray, shape (n, d)
        The points x(k T / n), k = 0..n-1 (the closing point x(T) = x(0) is
        not repeated). ``curve[0]`` is the point of largest first coordinate
        (the attractor's representative point).
    velocity : ndarray, shape (n, d)
        b at those points (dx/dt), for cubic Hermite interpolation in time.
    period : float
        T.
    multipliers : ndarray of complex, shape (d - 1,)
        The nontrivial Floquet multipliers: the eigenvalues of the monodromy
        matrix other than the one (equal to 1) along the orbit. The cycle is
        stable when all lie inside the unit circle.
    """

    curve: np.ndarray
    velocity: np.ndarray
    period: float
    multipliers: np.ndarray

    def __post_init__(self):
        for name in ("curve", "velocity", "multipliers"):
            view = np.asarray(getattr(self, name)).view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)

    @property
    def ndim(self) -> int:
        return self.curve.shape[1]

    @property
    def point(self) -> np.ndarray:
        """The representative point ``curve[0]``, shape (d,)."""
        return self.curve[0]

    @property
    def stable(self) -> bool:
        return bool(np.all(np.abs(self.multipliers) < 1.0))

    @property
    def exponents(self) -> np.ndarray:
        """Floquet exponents ln|mu| / T (d - 1,): the rates at which nearby
        orbits approach the cycle."""
        return np.log(np.abs(self.multipliers)) / self.period

    @property
    def length(self) -> float:
        seg = np.diff(np.vstack([self.curve, self.curve[:1]]), axis=0)
        return float(np.sum(np.linalg.norm(seg, axis=1)))

    def closed_curve(self) -> np.ndarray:
        """The curve with its first point repeated at the end (n + 1, d), for drawing."""
        return np.vstack([self.curve, self.curve[:1]])

    def resample(self, m: int) -> np.ndarray:
        """m points at equal times along the cycle, (m, d)."""
        n = len(self.curve)
        return self.at(np.arange(m) * (n / m))

    # -- the curve between its samples (cubic Hermite in time) ---------------------
    def at(self, phase: np.ndarray, derivative: int = 0) -> np.ndarray:
        """x at continuous sample indices ``phase`` (...,) (period n), or its
        first or second derivative with respect to the index; (..., d)."""
        n = len(self.curve)
        phase = np.asarray(phase, dtype=float)
        k = np.floor(phase).astype(int)
        s = (phase - k)[..., None]
        k0, k1 = k % n, (k + 1) % n
        dt = self.period / n
        p0, p1 = self.curve[k0], self.curve[k1]
        m0, m1 = dt * self.velocity[k0], dt * self.velocity[k1]
        if derivative == 0:
            return ((2 * s**3 - 3 * s**2 + 1) * p0 + (s**3 - 2 * s**2 + s) * m0 + (-2 * s**3 + 3 * s**2) * p1
                    + (s**3 - s**2) * m1)
        if derivative == 1:
            return ((6 * s**2 - 6 * s) * p0 + (3 * s**2 - 4 * s + 1) * m0 + (-6 * s**2 + 6 * s) * p1
                    + (3 * s**2 - 2 * s) * m1)
        return (12 * s - 6) * p0 + (6 * s - 4) * m0 + (-12 * s + 6) * p1 + (6 * s - 2) * m1

    @functools.cached_property
    def _tree(self):
        from scipy.spatial import cKDTree

        return cKDTree(self.curve)

    def nearest(self, points) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The nearest point of the cycle to each of ``points`` (..., d).

        Returns the phase (continuous sample index in [0, n)), the foot
        point (..., d) and the distance (...). The nearest sample is refined
        by Newton's method on (x(phase) - p) . x'(phase) = 0 within the two
        samples' intervals on either side.
        """
        p = np.asarray(points, dtype=float)
        lead = p.shape[:-1]
        q = p.reshape(-1, self.ndim)
        n = len(self.curve)
        _, k = self._tree.query(q)
        tau = k.astype(float)
        for _ in range(4):
            x = self.at(tau)
            v = self.at(tau, 1)
            a = self.at(tau, 2)
            r = x - q
            f = np.einsum("ij,ij->i", r, v)
            df = np.einsum("ij,ij->i", v, v) + np.einsum("ij,ij->i", r, a)
            step = np.where(df > 0, -f / np.where(df > 0, df, 1.0), 0.0)
            tau = np.clip(tau + step, k - 1.0, k + 1.0)
        foot = self.at(tau)
        dist = np.linalg.norm(q - foot, axis=1)
        return (np.mod(tau, n).reshape(lead), foot.reshape(lead + (self.ndim,)), dist.reshape(lead))

    def distance(self, points) -> np.ndarray:
        """Distance from each of ``points`` (..., d) to the cycle, (...)."""
        return self.nearest(points)[2]

    def __repr__(self):
        return (f"LimitCycle(period={self.period:.6g}, length={self.length:.6g}, "
                f"multipliers={np.round(self.multipliers, 6).tolist()}, {len(self.curve)} points)")


def is_curve(value) -> bool:
    """Whether an attractor argument names a cycle: a LimitCycle or an
    array of points (n, d) with n >= 3."""
    if isinstance(value, LimitCycle):
        return True
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return False
    return a.ndim == 2 and a.shape[0] >= 3


def _drift_and_jacobian(drift: Drift, step: float):
    """x -> (b(x), Db(x)) by central differences, one call of the drift."""
    def f(x):
        d = len(x)
        pts = np.vstack([x[None], x + step * np.eye(d), x - step * np.eye(d)])
        b = drift(pts)
        return b[0], ((b[1:d + 1] - b[d + 1:]) / (2 * step)).T
    return f


def integrate_cycle(fields, x0, period: float, n: int, *, jacobian_step: float,
                    extra: Optional[Callable] = None, keep_phi: bool = False):
    """Classical RK4 over one period with n steps from x0 for x' = b(x)
    and the variational equation Phi' = Db Phi.

    Returns the points (n + 1, d), the drift there (n + 1, d), the
    monodromy matrix Phi(T) (d, d) (with ``keep_phi`` Phi at every point,
    (n + 1, d, d)), and, when ``extra(x, A, S) -> S'`` is given, the values
    S_k (n + 1, d, d) of a matrix equation integrated alongside from S = 0
    (its right-hand side taking the point and Db).
    """
    f = _drift_and_jacobian(fields.drift, jacobian_step)
    x = np.array(x0, dtype=float)
    d = len(x)
    dt = period / n
    phi = np.eye(d)
    S = None if extra is None else np.zeros((d, d))
    xs, bs, phis = [x.copy()], [], [phi.copy()]
    Ss = [] if extra is None else [S.copy()]
    for _ in range(n):
        b1, A1 = f(x)
        bs.append(b1)
        x2 = x + 0.5 * dt * b1
        b2, A2 = f(x2)
        x3 = x + 0.5 * dt * b2
        b3, A3 = f(x3)
        x4 = x + dt * b3
        b4, A4 = f(x4)
        k1 = A1 @ phi
        k2 = A2 @ (phi + 0.5 * dt * k1)
        k3 = A3 @ (phi + 0.5 * dt * k2)
        k4 = A4 @ (phi + dt * k3)
        if extra is not None:
            s1 = extra(x, A1, S)
            s2 = extra(x2, A2, S + 0.5 * dt * s1)
            s3 = extra(x3, A3, S + 0.5 * dt * s2)
            s4 = extra(x4, A4, S + dt * s3)
            S = S + dt / 6.0 * (s1 + 2 * s2 + 2 * s3 + s4)
            Ss.append(S.copy())
        phi = phi + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if keep_phi:
            phis.append(phi.copy())
        x = x + dt / 6.0 * (b1 + 2 * b2 + 2 * b3 + b4)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"the orbit from {np.round(x0, 6).tolist()} does not stay finite")
        xs.append(x.copy())
    bs.append(f(x)[0])
    return (np.array(xs), np.array(bs), np.array(phis) if keep_phi else phi,
            (np.array(Ss) if extra is not None else None))


def _first_return(drift: Drift, x0: np.ndarray, grid: Grid, scale: float, max_steps: int):
    """The flow from x0 until it next crosses the hyperplane through x0
    normal to b(x0) in the same direction. Returns (the crossing point, the
    time) or raises ValueError saying why there is none."""
    h = min(grid.spacing)
    ds = 0.5 * h
    max_dt = 0.5 / scale if scale > 0 else 1e300
    b0 = drift(x0[None])[0]
    speed0 = float(np.linalg.norm(b0))
    if not speed0 > 1e-9 * scale * h:
        raise ValueError(f"the drift vanishes at {np.round(x0, 6).tolist()}: an equilibrium, not a closed orbit")
    normal = b0 / speed0

    def rhs(y):
        return drift(y[None])[0]

    x, t, far = x0.copy(), 0.0, 0.0
    s_prev = 0.0
    for _ in range(max_steps):
        k1 = rhs(x)
        speed = float(np.linalg.norm(k1))
        if not speed > 1e-9 * scale * h:
            raise ValueError(f"the flow from {np.round(x0, 6).tolist()} stalls at {np.round(x, 6).tolist()} "
                             "(an equilibrium): no closed orbit there")
        dt = min(ds / speed, max_dt)
        k2 = rhs(x + 0.5 * dt * k1)
        k3 = rhs(x + 0.5 * dt * k2)
        k4 = rhs(x + dt * k3)
        nxt = x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if not grid.contains(nxt):
            raise ValueError(f"the orbit through {np.round(x0, 6).tolist()} leaves the box at "
                             f"{np.round(x, 6).tolist()}")
        s = float(normal @ (nxt - x0))
        dist = float(np.linalg.norm(nxt - x0))
        far = max(far, dist)
        if far > 8 * ds and s_prev < 0.0 <= s and dist < max(0.25 * far, 8 * ds):
            w = -s_prev / (s - s_prev)
            return x + w * (nxt - x), t + w * dt
        s_prev = s
        x, t = nxt, t + dt
    raise ValueError(f"the orbit through {np.round(x0, 6).tolist()} does not come back to it within "
                     f"{max_steps} steps: it is not a closed orbit")


def refine_cycle(fields, guess, *, settle: int = 60, samples: Optional[int] = None) -> LimitCycle:
    """A stable limit cycle of the drift from a guess: a point near it or a
    closed curve (n, d) near it (a LimitCycle is refined again on these
    fields).

    The orbit from the guess is followed over up to ``settle`` returns to
    the hyperplane through it normal to b (it settles on a stable cycle),
    then the closed orbit is found by Newton's method on the shooting
    equations x(T; x0) = x0 with the phase condition b(x_ref) . (x0 - x_ref)
    = 0 (RK4 with the variational equation for the monodromy matrix).

    Raises
    ------
    ValueError
        A curve that is not closed; an orbit that stalls at an
        equilibrium, leaves the box or does not come back; Newton's method
        not converging; a cycle that is not stable (a Floquet multiplier on
        or outside the unit circle).
    """
    grid: Grid = fields.grid
    d = grid.ndim
    diameter = float(np.linalg.norm(np.subtract(grid.upper, grid.lower)))
    h = min(grid.spacing)
    if isinstance(guess, LimitCycle):
        curve = np.asarray(guess.curve, dtype=float)
    else:
        curve = np.asarray(guess, dtype=float)
    if curve.ndim == 1:
        curve = curve[None]
    if curve.ndim != 2 or curve.shape[1] != d:
        raise ValueError(f"a cycle must be given as a point ({d},) or a closed curve (n, {d}), got shape "
                         f"{curve.shape}")
    if not np.all(np.isfinite(curve)):
        raise ValueError("the cycle's points must be finite")
    outside = ~grid.contains(curve)
    if outside.any():
        raise ValueError(f"the cycle leaves the box {grid.lower} - {grid.upper}: point "
                         f"{int(np.flatnonzero(outside)[0])} is {curve[outside][0].tolist()}")
    if len(curve) >= 3 and not isinstance(guess, LimitCycle):
        seg = np.linalg.norm(np.diff(curve, axis=0), axis=1)
        gap = float(np.linalg.norm(curve[-1] - curve[0]))
        if gap > 3 * max(float(np.median(seg)), 1e-300) and gap > 2 * h:
            raise ValueError(
                f"the curve is not closed: its ends {np.round(curve[0], 6).tolist()} and "
                f"{np.round(curve[-1], 6).tolist()} lie {gap:.3g} apart, its steps {float(np.median(seg)):.3g}")
    # The drift's scale |Db| from a few Jacobians along the guess.
    pick = curve[np.linspace(0, len(curve) - 1, min(len(curve), 16)).astype(int)]
    jstep = _jacobian_step(fields)
    J = jacobians(fields.drift, pick, jstep)
    scale = float(np.max(np.linalg.norm(J, axis=(1, 2)))) + 1e-300
    max_steps = int(100 * sum(grid.shape) + 20000)
    x = curve[0].copy()
    where = np.round(x, 6).tolist()
    gap_prev = np.inf
    period = None
    for _ in range(settle):
        nxt, period = _first_return(fields.drift, x, grid, scale, max_steps)
        gap = float(np.linalg.norm(nxt - x))
        x = nxt
        if gap < 1e-3 * h or gap > 0.999 * gap_prev and gap < 0.05 * h:
            break
        gap_prev = gap

    # Newton on the shooting equations.
    n_newton = 500
    x_ref = x.copy()
    normal = fields.drift(x_ref[None])[0]
    normal = normal / np.linalg.norm(normal)
    converged = False
    for _ in range(25):
        pts, bs, M, _ = integrate_cycle(fields, x, period, n_newton, jacobian_step=jstep)
        r = pts[-1] - x
        if not grid.contains(pts).all():
            raise ValueError(f"the orbit through {where} leaves the box")
        A = np.zeros((d + 1, d + 1))
        A[:d, :d] = M - np.eye(d)
        A[:d, d] = bs[-1]
        A[d, :d] = normal
        rhs = -np.concatenate([r, [normal @ (x - x_ref)]])
        try:
            step = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError:
            raise ValueError(f"no closed orbit near {where}: the shooting equations are singular "
                             "(a neutral orbit?)") from None
        x = x + step[:d]
        period = period + step[d]
        if not (np.isfinite(period) and period > 0):
            raise ValueError(f"no closed orbit near {where}: Newton's method on the return map diverges")
        if np.linalg.norm(r) <= 1e-10 * diameter and np.linalg.norm(step[:d]) <= 1e-9 * diameter:
            converged = True
            break
    if not converged:
        raise ValueError(f"no closed orbit near {where}: Newton's method on the return map did not converge "
                         f"(the orbit misses its start by {np.linalg.norm(r):.3g} after one period)")
    if samples is None:
        length = float(np.sum(np.linalg.norm(np.diff(pts, axis=0), axis=1)))
        samples = int(min(max(1024, math.ceil(4 * length / h), math.ceil(8 * period * scale)), 40000))
    pts, bs, M, _ = integrate_cycle(fields, x, period, samples, jacobian_step=jstep)
    if not grid.contains(pts).all():
        bad = pts[~grid.contains(pts)][0]
        raise ValueError(f"the cycle through {where} leaves the box {grid.lower} - {grid.upper} at "
                         f"{np.round(bad, 6).tolist()}")
    mu = np.linalg.eigvals(M)
    trivial = int(np.argmin(np.abs(mu - 1.0)))
    multipliers = np.delete(mu, trivial)
    if not np.all(np.abs(multipliers) < 1.0 - 1e-6):
        raise ValueError(f"the closed orbit through {where} (period {period:.6g}) is not stable: its Floquet "
                         f"multipliers are {np.round(multipliers, 6).tolist()} (all must lie inside the unit circle)")
    curve, vel = pts[:-1], bs[:-1]
    first = int(np.argmax(curve[:, 0]))
    curve, vel = np.roll(curve, -first, axis=0), np.roll(vel, -first, axis=0)
    return LimitCycle(curve, vel, float(period), multipliers)


def _jacobian_step(fields) -> float:
    """Difference step for Db: tiny for callables, a cell for arrays
    (interpolated between nodes)."""
    grid = fields.grid
    diameter = float(np.linalg.norm(np.subtract(grid.upper, grid.lower)))
    sde = fields.sde
    arrays = isinstance(getattr(sde, "drift", None), np.ndarray)
    return max(grid.spacing) if arrays else 1e-6 * diameter
