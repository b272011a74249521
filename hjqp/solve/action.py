"""Minimum action paths in any dimension: the geometric minimum action
method (gMAM; Heymann and Vanden-Eijnden, "The geometric minimum action
method: a least action principle on the space of curves", CPAM 61, 2008),
for the quadratic Hamiltonian of an SDE and for the exponential family of
jump processes and minibatch SGD.

The path is a string of n points, kept at equal arc length. Its action is
the geometric action ``S = int h(psi, psi') ds`` (DESIGN.md, "Beyond
Gaussian noise"), discretised by the midpoint rule on each segment:
``S = sum_i h(m_i, x_{i+1} - x_i)``, m_i the segment's midpoint. The
inner problem gives, for each segment, the momentum theta_i (the maximiser
in h, with ``H(m_i, theta_i) = 0`` and ``x_{i+1} - x_i = mu_i H_p(m_i,
theta_i)``), and with it the exact gradient of the discrete action:

    dS/dx_j = theta_{j-1} - theta_j + 1/2 (g_{j-1} + g_j),
    g_i = dh/dx (m_i) = -mu_i H_x(m_i, theta_i)                (envelope theorem)

(H_x at fixed theta by forward differences). The outer problem is the
paper's preconditioned flow ``psi_tau = -lambda H_pp dS/dpsi``
(lambda = |H_p| / |psi'|), whose stiff part is ``lambda^2 psi''``:
semi-implicit steps

    (I - tau L) (x_new - x) = -tau P dS/dx,     P_j = H_pp / mu at x_j,
    (L y)_j = c_j [c_{j+1/2} (y_{j+1} - y_j) - c_{j-1/2} (y_j - y_{j-1})],  c = 1 / mu,

then redistribution at equal arc length. A step that does not lower the
action (or that takes the path outside the cone of the jumps, where the
action is infinite) is refused and tau cut back; accepted steps let tau
grow. The action reported is that of the final path with Simpson's rule
on each segment, as :func:`hjqp.geometric_action` computes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.linalg import solve_banded

from .. import _validate
from ..grid import Grid
from ..problem import Hamiltonian, JumpHamiltonian, newton
from ..problem.support import SupportStatus, pointwise

__all__ = ["MinimumAction", "minimum_action", "path_saddle"]

# The path is put back at equal arc length when its longest segment exceeds
# its shortest by this factor.
_SPACING = 1.05
# tau grows by _GROW after an accepted step and shrinks by _SHRINK after a
# refused one; the momentum's largest coefficient. Measured on the
# manufactured double wells in d = 5, 10 (barrier to the saddle, 200
# points): without momentum, tau doubling and quartering, 1100 and 620
# steps; with these, 410 and 260 (the actions agree to 1e-7).
_GROW = 1.05
_SHRINK = 0.5
_MOMENTUM = 0.9


@dataclass(frozen=True, eq=False)
class MinimumAction:
    """A minimum action path and its geometric action.

    Attributes
    ----------
    path : ndarray (n, d)
        From ``start`` (first row) to ``end`` (last row), at equal arc
        length.
    action : float
        Its geometric action (Simpson's rule on each segment, as
        :func:`hjqp.geometric_action`): V(start, end) when the path is a
        minimiser. +inf when the path leaves the cone of the jumps
        (``outside_cone`` lists the segments).
    momenta : ndarray (n, d)
        theta at the points (the maximiser in h for the local direction of
        the path): grad U along a minimum action path; 0 at equilibria.
    converged : bool
        The action's relative decrease over the last ``window`` accepted
        steps fell below the tolerance.
    iterations : int
        Steps taken (accepted and refused).
    actions : ndarray
        The (midpoint-rule) action after each accepted step, the initial
        path's first.
    residuals : ndarray
        After each accepted step: the largest component of dS/dx_j normal to
        the path, relative to the largest ``|theta|`` (zero at a minimiser of the
        continuous action; of the order of the discretisation error at one
        of the discrete action at equal arc length).
    outside_cone : ndarray of int
        Segments of the path outside the cone of the jumps (empty unless the
        action is infinite).
    saddle : ndarray (d,) or None
        The saddle the path crosses, from the path's maximum of U refined by
        Newton's method on b = 0 and checked to have exactly one unstable
        direction (:func:`path_saddle`); None if it crosses none.
    saddle_index : int
        The point of the path nearest to the saddle (-1 if none).
    info : dict
        Time, refused steps, the final tau, the inner solver's fallbacks.
    """

    path: np.ndarray
    action: float
    momenta: np.ndarray
    converged: bool
    iterations: int
    actions: np.ndarray
    residuals: np.ndarray
    outside_cone: np.ndarray
    saddle: Optional[np.ndarray]
    saddle_index: int
    info: dict = field(default_factory=dict)

    @property
    def start(self) -> np.ndarray:
        return self.path[0]

    @property
    def end(self) -> np.ndarray:
        return self.path[-1]

    def quasipotential(self) -> np.ndarray:
        """U along the path (n,): the cumulative action from the start
        (Simpson's rule per segment), non-decreasing."""
        return self.info["cumulative"].copy()


class _State:
    """The discrete action of a path and its segments' inner solutions."""

    def __init__(self, inner, x, warm=None):
        self.x = x
        mid = 0.5 * (x[1:] + x[:-1])
        v = np.diff(x, axis=0)
        self.mid, self.v = mid, v
        self.terms = inner.terms(mid)
        p0, mu0 = warm if warm is not None else (None, None)
        self.h, self.p, self.mu, self.status = inner.support(self.terms, v, p0, mu0)
        self.action = float(np.sum(self.h)) if np.all(np.isfinite(self.h)) else (
            np.nan if np.any(np.isnan(self.h)) else np.inf)

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.action))


def minimum_action(H: Hamiltonian, start, end, n_points: int = 100, *, path=None, via=None,
                   grid: Optional[Grid] = None, max_iterations: int = 5000, tolerance: float = 1e-9,
                   window: int = 10) -> MinimumAction:
    """The minimum action path from ``start`` to ``end`` and its geometric
    action, in any dimension d >= 2 (gMAM; see the module's description).

    From an attractor O, the action to a point x of its basin is the
    quasi-potential U(x); to a saddle, or to any point beyond it (the
    path crosses the saddle and follows the flow for free), it is the
    barrier V. The path is a local minimiser: start it near the transition
    wanted (``via``) where several compete.

    Parameters
    ----------
    H : SDE or JumpHamiltonian
        With callables (or constants) for its fields, any d; a problem given
        by arrays sampled on a grid (2D, 3D) needs ``grid``.
    start, end : array_like (d,)
        The ends of the path; they stay fixed.
    n_points : int, default 100
        Points of the path (at least 5). The action's discretisation error
        falls as n^-2.
    path : array_like (k, d), optional
        An initial path from ``start`` to ``end`` (its first and last rows
        must be these), redistributed to ``n_points`` at equal arc length.
    via : array_like (k, d), optional
        Intermediate points: the initial path is the polyline start, via...,
        end. Default (neither path nor via): the straight segment.
    grid : Grid, optional
        For a problem given by arrays sampled on a grid.
    max_iterations : int, default 5000
    tolerance : float, default 1e-9
        Converged when the action's relative decrease over the last
        ``window`` accepted steps is at most this.
    window : int, default 10

    Returns
    -------
    MinimumAction

    Raises
    ------
    ValueError
        Points of the wrong dimension, not finite, start == end, a path whose
        ends are not start and end, bad options.
    RuntimeError
        The inner problem has no solution on a segment of the initial path
        that lies inside the cone of the jumps (this should not happen).
    """
    began = time.perf_counter()
    inner, x, n = _setup(H, start, end, n_points, path, via, grid)
    max_iterations = _validate.count(max_iterations, "max_iterations")
    tolerance = _validate.in_range("tolerance", tolerance, 0.0, 0.1)
    window = _validate.count(window, "window")
    d = x.shape[1]
    state = _State(inner, x)
    if np.any(state.status == SupportStatus.FAILED):
        i = int(np.flatnonzero(state.status == SupportStatus.FAILED)[0])
        raise RuntimeError(f"the inner problem found no momentum on segment {i} of the initial path (midpoint "
                           f"{np.round(state.mid[i], 6).tolist()}, direction {np.round(state.v[i], 6).tolist()})")
    actions, residuals = [state.action], []
    accepted = refused = 0
    tau = None
    converged = False
    iterations = 0
    if state.finite:
        extent = float(np.max(np.abs(x)) + np.linalg.norm(x[-1] - x[0]))
        delta = 1e-7 * extent
        here = state          # where the step is taken from: the path, or its extrapolation
        grad, precond, weights = _gradient(inner, here, delta)
        residuals.append(_residual(state, grad))
        previous_x = None     # the path before the last accepted step (momentum)
        streak = 0            # accepted steps since the momentum was last reset
        while iterations < max_iterations:
            iterations += 1
            force = -np.einsum("jik,jk->ji", precond, grad)
            if tau is None:
                largest = float(np.max(np.linalg.norm(force, axis=1)))
                length = float(np.sum(np.linalg.norm(state.v, axis=1)))
                tau = 0.01 * length / largest if largest > 0 else 1.0
            step = _implicit_step(weights, _normal(here.x, force), tau)
            trial_x = here.x.copy()
            trial_x[1:-1] += step
            trial = _State(inner, trial_x, (here.p, here.mu))
            if trial.finite and trial.action <= state.action * (1.0 + 1e-14):
                previous = state.action
                previous_x = state.x
                state = trial
                lengths = np.linalg.norm(trial.v, axis=1)
                if np.max(lengths) > _SPACING * np.min(lengths):
                    # Back to equal arc length once the spacing has drifted.
                    even = _State(inner, _equal_arclength(trial_x, n), (trial.p, trial.mu))
                    if even.finite:
                        state = even
                accepted += 1
                streak += 1
                tau *= _GROW
                actions.append(state.action)
                if len(actions) > window and actions[-1 - window] - actions[-1] <= tolerance * abs(actions[-1]):
                    converged = True
                    break
                if previous == state.action and accepted > window:
                    converged = True
                    break
                here = state
                if _MOMENTUM and streak > 1:
                    # Nesterov's extrapolation along the last step (normal
                    # to the path): the flow's slow modes converge in the
                    # square root of the steps.
                    beta = min(_MOMENTUM, (streak - 1.0) / (streak + 2.0))
                    y = state.x.copy()
                    y[1:-1] += beta * _normal(state.x, state.x[1:-1] - previous_x[1:-1])
                    ahead = _State(inner, y, (state.p, state.mu))
                    if ahead.finite:
                        here = ahead
                grad, precond, weights = _gradient(inner, here, delta)
                residuals.append(_residual(here, grad))
            else:
                refused += 1
                if here is not state:
                    # The extrapolation overshot: restart the momentum.
                    here, streak = state, 0
                    grad, precond, weights = _gradient(inner, here, delta)
                    continue
                streak = 0
                tau *= _SHRINK
                if tau * np.max(np.linalg.norm(force, axis=1)) <= 1e-15 * (1.0 + np.max(np.abs(state.x))):
                    # No step along the preconditioned gradient lowers the
                    # action any more: a minimiser to rounding.
                    converged = len(actions) > 1
                    break
    x = state.x
    outside = np.flatnonzero(state.status == SupportStatus.OUTSIDE_CONE)
    action, cumulative, momenta = _final(inner, x)
    saddle, index = (None, -1)
    if np.isfinite(action):
        saddle, index = path_saddle(inner, x, cumulative)
    info = dict(time=time.perf_counter() - began, accepted=accepted, refused=refused, tau=tau,
                midpoint_action=state.action, cumulative=cumulative,
                dual=int(np.sum(state.status == SupportStatus.DUAL)), dimension=d)
    if not np.isfinite(action):
        info["message"] = (f"the path leaves the cone of the jumps on {len(outside)} of its segments (first: "
                           f"{int(outside[0]) if len(outside) else -1}): the action is infinite along it; start "
                           "from another path (path=, via=)")
    return MinimumAction(path=x, action=float(action), momenta=momenta, converged=bool(converged),
                         iterations=iterations, actions=np.asarray(actions), residuals=np.asarray(residuals),
                         outside_cone=outside.astype(int), saddle=saddle, saddle_index=index, info=info)


def path_saddle(inner, path: np.ndarray, cumulative: np.ndarray):
    """The saddle a path crosses: the first local minimum of |b| along the
    path among the points where U (the cumulative action) is within 10 % of
    its final value, refined by Newton's method on b = 0 and accepted if
    Db there has exactly one eigenvalue with positive real part and the
    saddle lies within five segments of the path. Returns (saddle, index of
    the nearest point) or (None, -1)."""
    total = float(cumulative[-1])
    n = len(path)
    if not total > 0:
        return None, -1
    speed = np.linalg.norm(inner.drift(path), axis=1)
    high = cumulative >= 0.9 * total
    candidates = [j for j in range(1, n) if high[j] and speed[j] <= speed[j - 1]
                  and (j == n - 1 or speed[j] <= speed[j + 1])]
    if not candidates:
        return None, -1
    j = candidates[0]
    segment = float(np.linalg.norm(path[1] - path[0]))
    scale = float(np.max(np.abs(path)) + np.linalg.norm(path[-1] - path[0]))
    z, b, J = newton(inner.drift, path[j][None], step=1e-6 * scale, max_step=2.0 * segment,
                     tolerance=1e-14 * scale, iterations=60)
    z, b, J = z[0], b[0], J[0]
    jac_scale = float(np.linalg.norm(J)) * scale
    if not (np.all(np.isfinite(b)) and np.linalg.norm(b) <= 1e-8 * max(jac_scale, 1e-300)):
        return None, -1
    eig = np.linalg.eigvals(J).real
    if int(np.sum(eig > 0)) != 1 or np.any(eig == 0):
        return None, -1
    distance = np.linalg.norm(path - z, axis=1)
    if float(np.min(distance)) > 5.0 * segment:
        return None, -1
    return z, int(np.argmin(distance))


# -- helpers ----------------------------------------------------------------------------


def _setup(H, start, end, n_points, path, via, grid):
    if not isinstance(H, Hamiltonian):
        raise TypeError(f"H must be an hjqp.SDE or hjqp.JumpHamiltonian, got {type(H).__name__}")
    a = _validate.real_array(start, "start")
    b = _validate.real_array(end, "end")
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"start and end must be points of the same dimension, shape (d,); got shapes {a.shape} "
                         f"and {b.shape}")
    d = a.shape[0]
    if d < 2:
        raise ValueError(f"the dimension must be at least 2, got {d}")
    for name, value in (("start", a), ("end", b)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite, got {value.tolist()}")
    if H.dim is not None and H.dim != d:
        raise ValueError(f"the Hamiltonian is {H.dim}-dimensional but start and end are {d}-dimensional")
    if np.array_equal(a, b):
        raise ValueError(f"start and end are the same point {a.tolist()}: the path needs two different ends")
    if isinstance(n_points, (bool, np.bool_)) or not (isinstance(n_points, (int, np.integer)) and n_points >= 5):
        raise ValueError(f"n_points must be an integer >= 5, got {n_points!r}")
    n = int(n_points)
    if path is not None and via is not None:
        raise ValueError("give either path or via, not both")
    if path is not None:
        p = _validate.real_array(path, "path")
        if p.ndim != 2 or p.shape[1] != d or len(p) < 2 or not np.all(np.isfinite(p)):
            raise ValueError(f"path must be a finite array of shape (k >= 2, {d}), got shape {p.shape}")
        size = 1e-9 * (1.0 + np.max(np.abs(p)))
        if np.max(np.abs(p[0] - a)) > size or np.max(np.abs(p[-1] - b)) > size:
            raise ValueError(f"path must run from start to end: its ends are {p[0].tolist()} and {p[-1].tolist()}")
        x0 = np.vstack([a, p[1:-1], b])
    elif via is not None:
        x0 = np.vstack([a, _validate.points(via, d, "via"), b])
    else:
        x0 = np.vstack([a, b])
    if grid is not None:
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
        if grid.ndim != d:
            raise ValueError(f"the grid is {grid.ndim}-dimensional but start and end are {d}-dimensional")
        inner = pointwise(H, H.fields(grid))
    else:
        inner = pointwise(H)
    if isinstance(H, JumpHamiltonian) and not callable(H.jumps) and np.ndim(H.jumps) == 2 and H.jumps.shape[1] != d:
        raise ValueError(f"the jumps are {H.jumps.shape[1]}-dimensional but start and end are {d}-dimensional")
    return inner, _equal_arclength(x0, n), n


def _equal_arclength(x: np.ndarray, n: int) -> np.ndarray:
    """n points at equal (Euclidean) arc length along the polyline x, its
    ends kept exactly."""
    seg = np.linalg.norm(np.diff(x, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 0])
    keep[-1] = True
    if not keep.all():
        x = x[keep]
        if np.array_equal(x[-1], x[-2]) and len(x) > 2:
            x = np.delete(x, -2, axis=0)
        seg = np.linalg.norm(np.diff(x, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], n)
    i = np.clip(np.searchsorted(s, t, side="right") - 1, 0, len(seg) - 1)
    frac = np.clip((t - s[i]) / np.where(seg[i] > 0, seg[i], 1.0), 0.0, 1.0)
    out = x[i] + frac[:, None] * (x[i + 1] - x[i])
    out[0], out[-1] = x[0], x[-1]
    return out


def _gradient(inner, state: _State, delta: float):
    """dS/dx at the interior points (n - 2, d), the preconditioner P_j = H_pp
    / mu there (n - 2, d, d), and the segments' weights c = 1 / mu (n - 1,)."""
    mu, p = state.mu, state.p
    moving = np.isfinite(mu) & (mu > 0) & np.any(p != 0, axis=1)
    hx = inner.gradient_x(state.mid, p, delta, state.terms)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(moving, 1.0 / np.where(moving, mu, 1.0), 0.0)
    g = -np.where(moving, np.where(moving, mu, 0.0), 0.0)[:, None] * hx
    grad = p[:-1] - p[1:] + 0.5 * (g[:-1] + g[1:])
    hpp = inner.hessian(state.terms, p) * c[:, None, None]
    sv = 0.5 * (c[:-1] + c[1:])
    precond = 0.5 * (hpp[:-1] + hpp[1:])
    return grad, precond, (c, sv)


def _implicit_step(c: np.ndarray, force: np.ndarray, tau: float) -> np.ndarray:
    """Solve (I - tau L) y = tau force at the interior points, y = 0 at the
    ends; L is the weighted second difference of the module's description."""
    c, cv = c
    lower = -tau * cv * c[:-1]   # coefficient of y_{j-1}
    upper = -tau * cv * c[1:]    # coefficient of y_{j+1}
    diag = 1.0 - lower - upper
    m = len(cv)
    ab = np.zeros((3, m))
    ab[0, 1:] = upper[:-1]
    ab[1] = diag
    ab[2, :-1] = lower[1:]
    return solve_banded((1, 1), ab, tau * force)


def _normal(x: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """The components of vectors (n - 2, d) at the interior points normal to
    the path (its tangent there: x_{j+1} - x_{j-1})."""
    tangent = x[2:] - x[:-2]
    tangent = tangent / np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-300)
    return vectors - np.einsum("ji,ji->j", vectors, tangent)[:, None] * tangent


def _residual(state: _State, grad: np.ndarray) -> float:
    """max_j |dS/dx_j normal to the path| / max |theta|."""
    normal = _normal(state.x, grad)
    scale = float(np.max(np.linalg.norm(state.p, axis=1)))
    return float(np.max(np.linalg.norm(normal, axis=1)) / scale) if scale > 0 else 0.0


def _final(inner, x: np.ndarray):
    """The action of the path by Simpson's rule on each segment (fields at
    its ends and midpoint, along the segment's direction, as
    geometric_action), U along the path, and the momenta at the points."""
    v = np.diff(x, axis=0)
    m = len(v)
    points = np.concatenate([x[:-1], 0.5 * (x[:-1] + x[1:]), x[1:]])
    h, _, _, _ = inner.support(inner.terms(points), np.concatenate([v, v, v]))
    h = h.reshape(3, m)
    per_segment = (h[0] + 4.0 * h[1] + h[2]) / 6.0
    with np.errstate(invalid="ignore"):
        cumulative = np.concatenate([[0.0], np.cumsum(per_segment)])
    # Momenta at the points, for the path's local direction there.
    direction = np.empty_like(x)
    direction[1:-1] = x[2:] - x[:-2]
    direction[0], direction[-1] = v[0], v[-1]
    _, momenta, _, _ = inner.support(inner.terms(x), direction)
    return float(cumulative[-1]), cumulative, momenta
