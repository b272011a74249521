"""Basins of attraction: which attractor the flow from every node reaches,
and where the unstable manifolds of the saddles lead."""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .. import _core, _interrupt, _validate, _warn
from ..grid import Grid
from ..problem import Fields, Hamiltonian
from ..problem.cycle import LimitCycle, is_curve, refine_cycle
from .equilibria import FlowStop, checked_fields, drift_scale, flow_ends, flow_options

__all__ = ["basins", "label_basins", "saddle_links", "saddle_value", "capture_radius_for", "flow_targets",
           "split_attractors"]

CycleList = Optional[Sequence[Optional[LimitCycle]]]


def split_attractors(fields: Fields, attractors) -> Tuple[np.ndarray, List[Optional[LimitCycle]]]:
    """Attractors given as points (k, d) or a sequence mixing points (d,)
    and cycles (LimitCycle, or closed curves (n, d) refined by shooting):
    their representative points (k, d) and the cycles (None for points)."""
    d = fields.grid.ndim
    if isinstance(attractors, LimitCycle) or (not isinstance(attractors, np.ndarray) and isinstance(
            attractors, (list, tuple)) and any(is_curve(a) for a in attractors)):
        items = [attractors] if isinstance(attractors, LimitCycle) else list(attractors)
        points, cycles = [], []
        for i, a in enumerate(items):
            if is_curve(a):
                try:
                    c = a if isinstance(a, LimitCycle) else refine_cycle(fields, a)
                except ValueError as err:
                    raise ValueError(f"attractors[{i}]: {err}") from None
                if c.ndim != d:
                    raise ValueError(f"attractors[{i}] is a {c.ndim}-dimensional cycle, the grid is {d}D")
                points.append(c.point)
                cycles.append(c)
            else:
                points.append(_validate.points(a, d, f"attractors[{i}]")[0])
                cycles.append(None)
        return np.array(points), cycles
    a = _validate.points(attractors, d, "attractors")
    return a, [None] * len(a)


def _cycle_points(cycle: LimitCycle, grid: Grid, spacing_cells: float, most: int) -> np.ndarray:
    m = int(np.clip(np.ceil(cycle.length / (spacing_cells * max(grid.spacing))), 8, most))
    return cycle.resample(m)


def flow_targets(grid: Grid, attractors: np.ndarray, cycles: CycleList) -> Tuple[np.ndarray, np.ndarray]:
    """The points the flow is captured by (m, d) and the attractor each
    belongs to (m,): a point attractor itself, for a cycle up to 32 points
    along it. An orbit settling on a cycle passes each of them at its own
    distance from the cycle, so it is captured once that is within the
    capture radius."""
    if not cycles or all(c is None for c in cycles):
        return np.asarray(attractors, dtype=float), np.arange(len(attractors))
    pts, owner = [], []
    for i, a in enumerate(attractors):
        c = cycles[i]
        extra = a[None] if c is None else _cycle_points(c, grid, 4.0, 32)
        pts.append(extra)
        owner += [i] * len(extra)
    return np.concatenate(pts), np.array(owner)


def capture_radius_for(grid: Grid, attractors: np.ndarray, others: np.ndarray, cycles: CycleList = None) -> float:
    """Two cells, but at most a third of the distance from an attractor
    (a point or a cycle) to the nearest other equilibrium or attractor."""
    radius = 2.0 * max(grid.spacing)
    sets = [a[None] if not cycles or cycles[i] is None else _cycle_points(cycles[i], grid, 0.5, 4000)
            for i, a in enumerate(attractors)]
    for i, own in enumerate(sets):
        rest = [s for j, s in enumerate(sets) if j != i] + ([others] if len(others) else [])
        if not rest:
            continue
        pts = np.concatenate(rest)
        dist = np.min(np.linalg.norm(pts[:, None, :] - own[None, :, :], axis=-1)) if len(own) * len(pts) < 4e6 \
            else min(float(np.min(np.linalg.norm(own - p, axis=1))) for p in pts)
        radius = min(radius, float(dist) / 3.0)
    return radius


@_interrupt.interruptible
def basins(sde: Hamiltonian, grid: Grid, attractors, *, capture_radius: Optional[float] = None,
           threads: Optional[int] = None) -> np.ndarray:
    """Label every node with the attractor its trajectory reaches.

    The flow x' = b(x) over the drift sampled on the grid (multilinear
    interpolation, RK4 with steps of half a cell) is followed from every node
    in the compiled kernel, in parallel threads, until it comes within
    ``capture_radius`` of an attractor.

    Parameters
    ----------
    sde : SDE or JumpHamiltonian
    grid : Grid
        2D or 3D.
    attractors : array_like (k, d), or a sequence of points and limit cycles
        (:class:`hjqp.LimitCycle`, or closed curves (n, d) near one)
    capture_radius : float, optional
        Default: two cells, less if equilibria are closer.
    threads : int, optional

    Returns
    -------
    ndarray of int32, shape ``grid.shape``
        The attractor's index, -1 where none is reached (the flow stalls on
        a flat region or a saddle's stable manifold, leaves the box, or
        circulates on a closed orbit; a RuntimeWarning counts the nodes whose
        flow ends on a closed orbit or is still moving after the step limit).
    """
    fields = checked_fields(sde, grid)
    a, cycles = split_attractors(fields, attractors)
    if capture_radius is None:
        capture_radius = capture_radius_for(grid, a, np.zeros((0, grid.ndim)), cycles)
    b = fields.sampled_drift()
    return label_basins(fields, a, float(capture_radius), _validate.threads(threads), drift_scale(b, grid), cycles)


def label_basins(fields: Fields, attractors: np.ndarray, capture: float, threads: int, scale: float,
                 cycles: CycleList = None) -> np.ndarray:
    """The kernel's basin labels of every node (see :func:`basins`), with a
    RuntimeWarning when flows end on a closed orbit or at the step limit."""
    grid = fields.grid
    targets, owner = flow_targets(grid, attractors, cycles)
    run = _core.basin_labels2 if grid.ndim == 2 else _core.basin_labels3
    out = run(np.asarray(grid.lower, float), np.asarray(grid.spacing, float), fields.sampled_drift(),
              np.ascontiguousarray(targets, dtype=float), threads=threads,
              **flow_options(grid, scale, capture))
    cycles = int(np.count_nonzero(out.reasons == FlowStop.CYCLE))
    unsettled = int(np.count_nonzero(out.reasons == FlowStop.MAX_STEPS))
    if cycles or unsettled:
        parts = []
        if cycles:
            parts.append(f"{cycles} circulate on a closed orbit (a limit cycle, which is not an "
                         "equilibrium attractor)")
        if unsettled:
            parts.append(f"{unsettled} are still moving after the step limit")
        _warn.warn(
            f"the flow from {cycles + unsettled} of {grid.size} nodes reaches no attractor: "
            f"{' and '.join(parts)}; they are labelled -1",
            RuntimeWarning,
        )
    labels = out.labels
    if len(owner) != len(attractors):
        labels = np.where(labels >= 0, owner[np.maximum(labels, 0)], -1).astype(np.int32)
    return labels


def saddle_links(fields: Fields, saddles: np.ndarray, jacobians: np.ndarray, attractors: np.ndarray,
                 capture: float, threads: int, scale: float, cycles: CycleList = None) -> np.ndarray:
    """The two attractors each saddle's unstable manifold leads to (m, 2):
    the flow from half a cell along each branch of the unstable direction
    (-1 for a branch that reaches none)."""
    grid = fields.grid
    h = np.asarray(grid.spacing)
    if len(saddles) == 0:
        return np.full((0, 2), -1, dtype=int)
    starts = []
    for s, J in zip(saddles, jacobians):
        w, vec = np.linalg.eig(J)
        u = np.real(vec[:, np.argmax(w.real)])
        u /= np.linalg.norm(u)
        starts += [s + 0.5 * h.min() * u, s - 0.5 * h.min() * u]
    starts = np.array(starts)
    inside = grid.contains(starts)
    ends = np.full(len(starts), -1)
    if inside.any():
        targets, owner = flow_targets(grid, attractors, cycles)
        reached = flow_ends(fields, starts[inside], targets, threads, flow_options(grid, scale, capture)).targets
        ends[inside] = np.where(reached >= 0, owner[np.maximum(reached, 0)], -1)
    return ends.reshape(-1, 2)


# The nodes within this many cells of a saddle give u_i's value there.
SADDLE_NODE_CELLS = 1.5


def nodes_near(grid: Grid, point, cells: float) -> Tuple[Tuple[slice, ...], np.ndarray, np.ndarray]:
    """The nodes within ``cells`` cells of a point (distance in units of
    each axis's spacing): the box of nodes about it (slices), their
    coordinates (box shape + (d,)) and which of them are that close."""
    z = np.asarray(point, dtype=float)
    lower, h, shape = np.asarray(grid.lower), np.asarray(grid.spacing), np.asarray(grid.shape)
    reach = int(math.ceil(cells))
    centre = np.rint((z - lower) / h).astype(int)
    lo = np.clip(centre - reach, 0, shape - 1)
    hi = np.clip(centre + reach, 0, shape - 1) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    x = lower + np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij"), axis=-1) * h
    return box, x, np.linalg.norm((x - z) / h, axis=-1) <= cells


def saddle_value(qp, labels: np.ndarray, saddle, side: int) -> float:
    """u (a QuasiPotential) at a saddle z, from the node of basin ``side``
    nearest to it within SADDLE_NODE_CELLS cells (NaN where there is none;
    the median over nodes equally near).

    grad u(z) = 0 (H(z, p) = 0 only at p = 0 where b(z) = 0), so the
    trapezoid rule along the segment from a node x to z gives
    u(z) = u(x) - grad u(x) . (x - z) / 2, exact for a quadratic u and in
    error by O(|x - z|^3) otherwise: the nearest node gives the least
    error (near a fold, where the saddle and the attractor are close and
    the third derivatives of u large, a node one cell out errs thirty times
    as much as one a third of a cell out), and it alone is used. Only one
    side's nodes serve: beyond the saddle's stable manifold u runs down a
    valley (the flow from z to the next attractor) that the grid does not
    resolve, and its values there err far more than on the side the front
    came from. Interpolating u at z mixes both sides: on multiwell at 201^2
    it errs by up to 4e-4, this by 7e-6."""
    z = np.asarray(saddle, dtype=float)
    box, x, close = nodes_near(qp.grid, z, SADDLE_NODE_CELLS)
    u, g = qp.values[box], qp.grad[box]
    ok = close & (labels[box] == side) & np.isfinite(u) & np.all(np.isfinite(g), axis=-1)
    if not ok.any():
        return math.nan
    dist = np.linalg.norm((x[ok] - z) / np.asarray(qp.grid.spacing), axis=-1)
    nearest = dist <= dist.min() * (1 + 1e-9) + 1e-12
    est = u[ok][nearest] - 0.5 * np.sum(g[ok][nearest] * (x[ok][nearest] - z), axis=-1)
    return float(np.median(est))
