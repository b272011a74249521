"""Minimum action paths from a solved quasi-potential, the flow of the
drift, and the geometric action of a path."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _validate
from ..grid import Grid
from ..problem import (
    Fields,
    Hamiltonian,
    JumpFields,
    JumpHamiltonian,
    check_action_scale,
    check_invertible,
    check_spd,
    describe_point,
)
from ..problem.support import pointwise

__all__ = ["geometric_action", "minimum_action_path", "follow_flow"]

# The finest step of a minimum action path, as a fraction of the grid spacing.
_MIN_STEP_DIVISOR = 100.0


def _fields(sde: Hamiltonian, grid: Optional[Grid], path: np.ndarray) -> Fields:
    if not isinstance(sde, Hamiltonian):
        raise TypeError(f"sde must be an hjqp.SDE or hjqp.JumpHamiltonian, got {type(sde).__name__}")
    if grid is None:
        if isinstance(sde, JumpHamiltonian):
            on_grid = any(isinstance(v, np.ndarray) and v.ndim > 2 for v in (sde.weights, sde.jumps))
        else:
            on_grid = isinstance(sde.drift, np.ndarray) or (isinstance(sde.diffusion, np.ndarray)
                                                            and sde.diffusion.ndim > 2)
        if on_grid:
            raise ValueError("a problem given by arrays on a grid needs that grid")
        d = path.shape[-1]
        lo, hi = path.min(axis=0), path.max(axis=0)
        grid = Grid(lo - 1.0, hi + 1.0, (3,) * d)  # only to evaluate the callables
    return sde.fields(grid)


def geometric_action(sde: Hamiltonian, path, grid: Optional[Grid] = None) -> float:
    """The geometric action of a polyline.

    S = int h(psi, psi') ds, for an SDE with ``h(x, v) = |v|_A |b|_A - <v, b>_A``,
    for a jump Hamiltonian with h(x, v) = sup {<p, v> : H(x, p) <= 0} (+inf
    for a segment outside the cone of the jumps).

    Each segment is integrated by Simpson's rule with the fields at its
    ends and midpoint, independently of any grid solution: the action of a
    minimum action path to x must equal U(x) up to discretisation error.

    Parameters
    ----------
    sde : SDE or JumpHamiltonian
    path : array_like, shape (n, d)
        The vertices, in the direction of travel.
    grid : Grid, optional
        Needed only for an SDE given by arrays sampled on a grid.
    """
    p = _validate.real_array(path, "path")
    if p.ndim != 2 or len(p) < 2 or not np.all(np.isfinite(p)):
        raise ValueError(f"path must be a finite array of shape (n >= 2, d), got shape {p.shape}")
    if p.shape[1] > 3 and grid is None:
        return _geometric_action_any(sde, p)
    fields = _fields(sde, grid, p)
    if p.shape[1] != fields.ndim:
        raise ValueError(f"path points have {p.shape[1]} coordinates, the SDE {fields.ndim}")
    v = np.diff(p, axis=0)
    if isinstance(fields, JumpFields):
        ends = [(p[:-1], 1.0), (0.5 * (p[:-1] + p[1:]), 4.0), (p[1:], 1.0)]
        return float(sum(w / 6.0 * np.sum(fields.action(x, v)) for x, w in ends))
    total = 0.0
    for x, w, where, offset in ((p[:-1], 1.0, "vertex", 0), (0.5 * (p[:-1] + p[1:]), 4.0, "midpoint", 0),
                                (p[1:], 1.0, "vertex", 1)):
        b, dm = _checked_fields_at(fields, x, where, offset)
        a = np.linalg.inv(dm)
        ab = np.einsum("nij,nj->ni", a, b)
        av = np.einsum("nij,nj->ni", a, v)
        vv = np.maximum(np.einsum("ni,ni->n", v, av), 0.0)
        bb = np.maximum(np.einsum("ni,ni->n", b, ab), 0.0)
        total += w / 6.0 * np.sum(np.sqrt(vv * bb) - np.einsum("ni,ni->n", v, ab))
    return float(total)


def _geometric_action_any(sde: Hamiltonian, p: np.ndarray) -> float:
    """geometric_action beyond 3D (no grids there): the same Simpson rule,
    with the support points of :mod:`hjqp.problem.support`."""
    if not isinstance(sde, Hamiltonian):
        raise TypeError(f"sde must be an hjqp.SDE or hjqp.JumpHamiltonian, got {type(sde).__name__}")
    if sde.dim is not None and sde.dim != p.shape[1]:
        raise ValueError(f"path points have {p.shape[1]} coordinates, the problem {sde.dim}")
    inner = pointwise(sde)
    v = np.diff(p, axis=0)
    points = np.concatenate([p[:-1], 0.5 * (p[:-1] + p[1:]), p[1:]])
    h = inner.support(inner.terms(points), np.concatenate([v, v, v]))[0].reshape(3, len(v))
    return float(np.sum(h[0] + 4.0 * h[1] + h[2]) / 6.0)


def _checked_fields_at(fields: Fields, x: np.ndarray, where: str, offset: int):
    """b (n, d) and D (n, d, d) at the points x (n, d) of a path, checked as
    the march checks its nodes: b finite, D finite, symmetric positive
    definite with an inverse in double precision, and b^T D^{-1} b within
    range. Errors name the path's vertex (``offset``: the index of x[0]) or
    the midpoint of its segment."""
    def describe(i):
        if where == "vertex":
            return f"path vertex {offset + i} ({describe_point(x[i])})"
        return f"the midpoint of path segment {i} ({describe_point(x[i])})"

    b = fields.drift(x)
    bad = ~np.all(np.isfinite(b), axis=-1)
    if bad.any():
        raise ValueError(f"drift is not finite at {describe(int(np.flatnonzero(bad)[0]))}")
    dm = fields.diffusion(x)
    bad = ~np.all(np.isfinite(dm), axis=(-2, -1))
    if bad.any():
        raise ValueError(f"diffusion is not finite at {describe(int(np.flatnonzero(bad)[0]))}")
    check_spd(dm, describe)
    check_action_scale(b, check_invertible(dm, describe), describe)
    return b, dm


def _rk4_arclength(direction, x0: np.ndarray, step: float, stop, max_steps: int, box: Grid):
    """Integrate y' = direction(y) (unit vectors) with arc-length steps until
    stop(y) is true. Returns the points and why it ended ('stop', 'stall',
    'box', 'steps')."""
    points = [x0]
    y = x0
    for _ in range(max_steps):
        if stop(y):
            return np.array(points), "stop"
        k1 = direction(y)
        if k1 is None:
            return np.array(points), "stall"
        k2 = direction(y + 0.5 * step * k1)
        k3 = direction(y + 0.5 * step * k2) if k2 is not None else None
        k4 = direction(y + step * k3) if k3 is not None else None
        if k4 is None:
            return np.array(points), "stall"
        y = y + step / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if not box.contains(y):
            return np.array(points), "box"
        points.append(y)
    return np.array(points), "stop" if stop(y) else "steps"


def minimum_action_path(qp, x, *, step: Optional[float] = None, max_steps: Optional[int] = None) -> np.ndarray:
    """The minimum action path from the attractor of ``qp`` to the point x.

    Integrates ``y' = -H_p(y, grad U) / |H_p|`` backward from x (for an SDE
    H_p = b + D grad U; grad U interpolated from the computed solution)
    until the path is within two cells of the attractor, then closes it
    there (for a limit cycle: at the point of the cycle nearest to where
    it arrived; the path winds around the cycle as it leaves it).

    Parameters
    ----------
    qp : QuasiPotential
    x : array_like, shape (d,)
    step : float, optional
        Arc length of a step (default a quarter of the smallest spacing h);
        in [h / 100, 10 h]: grad U is interpolated from the grid, and finer
        steps add work, not accuracy.
    max_steps : int, optional
        Default: enough steps of the default size to travel 20 times the
        sum of the box's sides; a smaller ``step`` does not raise it, so
        the work stays bounded (a path that needs more raises ValueError).

    Returns
    -------
    ndarray, shape (n, d)
        From the attractor (first row) to x (last row).

    Raises
    ------
    ValueError
        If x is outside the box or not reached, or the path stalls (b and
        D grad U vanish together away from the attractor, as on a flat loss)
        or leaves the box.
    """
    grid = qp.grid
    if qp.sde is None:
        raise ValueError("this quasi-potential does not carry its SDE (it was loaded from a file): "
                         "pass sde= to hjqp.io.load")
    x = _validate.real_array(x, "x")
    if x.shape != (grid.ndim,) or not np.all(np.isfinite(x)) or not grid.contains(x):
        raise ValueError(f"x must be a point of the box {grid.lower} - {grid.upper}, got {x.tolist()}")
    if not np.isfinite(qp(x)):
        raise ValueError(f"the quasi-potential is not finite at {x.tolist()}")
    fields = qp.sde.fields(grid)
    jump = isinstance(fields, JumpFields)
    h = min(grid.spacing)
    if step is None:
        step = 0.25 * h
    elif not (isinstance(step, (int, float, np.integer, np.floating)) and h / _MIN_STEP_DIVISOR <= step <= 10 * h):
        raise ValueError(
            f"step must be a number in [h / {_MIN_STEP_DIVISOR:g}, 10 h] = [{h / _MIN_STEP_DIVISOR:.4g}, "
            f"{10 * h:.4g}] on this grid (h = {h:.4g}, the smallest spacing), got {step!r}"
        )
    step = float(step)
    if max_steps is None:
        max_steps = min(int(20 * sum(grid.shape) * h / step), 80 * sum(grid.shape))
    max_steps = _validate.count(max_steps, "max_steps")
    o = qp.attractor
    radius = 2 * max(grid.spacing)
    scale = np.linalg.norm(fields.drift(x[None])[0]) + 1.0

    def direction(y):
        if not grid.contains(y):
            return None
        g = qp.gradient(y, fill_value=np.nan)
        if jump:
            v = fields.velocity(y[None], g[None])[0]
        else:
            v = fields.drift(y[None])[0] + fields.diffusion(y[None])[0] @ g
        n = np.linalg.norm(v)
        if not np.isfinite(n) or n <= 1e-12 * scale:
            return None
        return -v / n

    cycle = getattr(qp, "cycle", None)
    if cycle is not None:
        # b does not vanish on a cycle: a closing segment across the flow
        # costs about its length times |b|, so the path is followed until
        # it is within half a cell (the characteristic approaches the
        # cycle exponentially along it) and closed along the flow.
        near_cycle = 0.5 * h

        def arrived(y):
            return float(cycle.distance(y)) <= near_cycle
    else:
        def arrived(y):
            return np.linalg.norm(y - o) <= radius
    pts, why = _rk4_arclength(direction, x, step, arrived, max_steps, grid)
    if why != "stop":
        reason = {"stall": "stalls (b + D grad U vanishes)", "box": "leaves the box",
                  "steps": f"did not reach the attractor in {max_steps} steps (raise max_steps or step)"}[why]
        raise ValueError(f"the minimum action path to {x.tolist()} {reason} at {np.round(pts[-1], 6).tolist()}")
    if cycle is not None:
        # Leaving a cycle, the path starts at a point of the cycle upstream
        # of where the backward integration reached it, at four times its
        # distance along the flow: the closing segment then runs nearly
        # along b and costs about |b| dist / 8.
        phase, _, dist = cycle.nearest(pts[-1])
        speed = float(np.linalg.norm(cycle.at(phase, 1)))
        o = cycle.at(phase - 4.0 * float(dist) / max(speed, 1e-300))
    return np.vstack([o[None], pts[::-1]])


def follow_flow(fields: Fields, x0, stop, *, step: float, max_steps: int) -> np.ndarray:
    """The trajectory of x' = b(x) from x0 (arc-length RK4) until stop(y)."""
    scale = np.linalg.norm(fields.drift(np.asarray(x0, dtype=float)[None])[0]) + 1.0

    def direction(y):
        b = fields.drift(y[None])[0]
        n = np.linalg.norm(b)
        return None if n <= 1e-12 * scale else b / n

    pts, _ = _rk4_arclength(direction, np.asarray(x0, dtype=float), step, stop, max_steps, fields.grid)
    return pts
