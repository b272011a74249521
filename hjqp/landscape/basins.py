"""Basins of attraction: which attractor the flow from every node reaches,
and where the unstable manifolds of the saddles lead."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _core, _interrupt, _validate, _warn
from ..grid import Grid
from ..problem import Fields, Hamiltonian
from .equilibria import FlowStop, checked_fields, drift_scale, flow_ends, flow_options

__all__ = ["basins", "label_basins", "saddle_links", "capture_radius_for"]


def capture_radius_for(grid: Grid, attractors: np.ndarray, others: np.ndarray) -> float:
    """Two cells, but at most a third of the distance from an attractor to
    the nearest other equilibrium."""
    radius = 2.0 * max(grid.spacing)
    pts = np.concatenate([attractors, others]) if len(others) else attractors
    for i, a in enumerate(attractors):
        dist = np.linalg.norm(pts - a, axis=1)
        dist[i] = np.inf
        if np.isfinite(dist.min()):
            radius = min(radius, dist.min() / 3.0)
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
    attractors : array_like (k, d)
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
    a = _validate.points(attractors, grid.ndim, "attractors")
    if capture_radius is None:
        capture_radius = capture_radius_for(grid, a, np.zeros((0, grid.ndim)))
    b = fields.sampled_drift()
    return label_basins(fields, a, float(capture_radius), _validate.threads(threads), drift_scale(b, grid))


def label_basins(fields: Fields, attractors: np.ndarray, capture: float, threads: int, scale: float) -> np.ndarray:
    """The kernel's basin labels of every node (see :func:`basins`), with a
    RuntimeWarning when flows end on a closed orbit or at the step limit."""
    grid = fields.grid
    run = _core.basin_labels2 if grid.ndim == 2 else _core.basin_labels3
    out = run(np.asarray(grid.lower, float), np.asarray(grid.spacing, float), fields.sampled_drift(),
              np.ascontiguousarray(attractors, dtype=float), threads=threads,
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
    return out.labels


def saddle_links(fields: Fields, saddles: np.ndarray, jacobians: np.ndarray, attractors: np.ndarray,
                 capture: float, threads: int, scale: float) -> np.ndarray:
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
        ends[inside] = flow_ends(fields, starts[inside], attractors, threads,
                                 flow_options(grid, scale, capture)).targets
    return ends.reshape(-1, 2)
