"""Hyperbolic equilibria of the drift: attractors from the flow, saddles and
others from the minima of |b|, all refined by Newton's method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .. import _core, _interrupt, _memory, _validate
from ..grid import Grid
from ..problem import Fields, Hamiltonian, describe_node, jacobians, newton
from ..problem.cycle import LimitCycle, refine_cycle

__all__ = ["Equilibria", "equilibria", "FlowStop", "checked_fields", "drift_scale", "flow_options", "flow_ends",
           "find_cycles", "limit_cycle"]

#: Why a trajectory of x' = b(x) stopped (an enum.IntEnum defined by the
#: kernel): CAPTURED (reached an attractor), STALLED (b vanished: an
#: equilibrium or a flat region), LEFT_BOX, MAX_STEPS, CYCLE (came back onto
#: its own track: a closed orbit).
FlowStop = _core.FlowStop


@dataclass(frozen=True, eq=False)
class Equilibria:
    """Hyperbolic equilibria of x' = b(x) in a box.

    Attributes
    ----------
    attractors : ndarray (k, d)
        Stable equilibria (every eigenvalue of Db with negative real part).
    saddles : ndarray (m, d)
        Index-1 saddles (exactly one eigenvalue with positive real part).
    others : ndarray (n, d)
        Other hyperbolic equilibria (sources, saddles of higher index).
    jacobians : tuple of three ndarrays (k, d, d), (m, d, d), (n, d, d)
        Db at each, in the same order.
    cycles : tuple of LimitCycle
        Stable limit cycles: closed orbits the flow from the seeds settles
        on, refined by shooting (:func:`hjqp.limit_cycle`), sorted by their
        representative points.
    """

    attractors: np.ndarray
    saddles: np.ndarray
    others: np.ndarray
    jacobians: Tuple[np.ndarray, np.ndarray, np.ndarray]
    cycles: Tuple[LimitCycle, ...] = ()


def drift_scale(b: np.ndarray, grid: Grid) -> float:
    """Largest |Db| (Frobenius) over the grid, from differences of the samples.

    Raises ValueError, naming the node, for a drift beyond
    :data:`DRIFT_LIMIT`, whose lengths the flow cannot compute in double
    precision."""
    peak = np.max(np.abs(b), axis=-1)
    if not np.all(peak <= DRIFT_LIMIT):
        where = int(np.argmax(peak))
        raise ValueError(
            f"the drift is too large for double precision: it reaches {float(peak.reshape(-1)[where]):.3g} at "
            f"{describe_node(grid, where)}, beyond {DRIFT_LIMIT:.0e}, where its squared length overflows; "
            "divide b and D by a common factor (the basins, the equilibria and U do not change)")
    d = grid.ndim
    with np.errstate(over="ignore"):
        parts = [np.gradient(b[..., k], *grid.spacing, axis=tuple(range(d))) for k in range(d)]
        total = sum(np.square(g) for row in parts for g in row)
    return float(np.sqrt(np.max(total)))


#: Largest drift component the flow (basins, equilibria) takes: |b|^2 must
#: stay finite in the kernel's arithmetic with room to spare.
DRIFT_LIMIT = 1e150


def flow_options(grid: Grid, scale: float, capture: float = 0.0) -> dict:
    """Options of the kernel's flow for a drift of scale |Db| <= scale:
    steps of half a cell, |b| below 1e-7 scale h counts as stalled. The
    kernel keeps each time step within RK4's stability by a bound on |Db|
    over the cells about it; no global cap is added."""
    return dict(
        step_cells=0.5,
        max_dt=1e300,
        stall_speed=1e-7 * scale * min(grid.spacing),
        capture_radius=float(capture),
        max_steps=int(100 * sum(grid.shape) + 20000),
    )


def checked_fields(sde: Hamiltonian, grid: Grid, supersample: Optional[int] = 1,
                   threads: Optional[int] = None) -> Fields:
    """The problem's fields on a 2D or 3D grid (TypeError / ValueError otherwise),
    once the memory of the flow on it is known to be there (MemoryError
    before any sampling otherwise)."""
    if not isinstance(sde, Hamiltonian):
        raise TypeError(f"sde must be an hjqp.SDE or hjqp.JumpHamiltonian, got {type(sde).__name__}")
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
    if grid.ndim not in (2, 3):
        raise ValueError(f"landscapes are computed on 2D and 3D grids; this grid is {grid.ndim}D")
    _memory.require(_memory.basins_bytes(grid), f"the flow on {' x '.join(map(str, grid.shape))} nodes")
    return sde.fields(grid, supersample, threads=threads)


def flow_ends(fields: Fields, starts: np.ndarray, targets: np.ndarray, threads: int, options: dict):
    """The kernel's flow x' = b(x) over the sampled drift from each start
    point (:class:`hjqp._core.FlowEnds`)."""
    grid = fields.grid
    run = _core.flow_ends2 if grid.ndim == 2 else _core.flow_ends3
    return run(np.asarray(grid.lower, float), np.asarray(grid.spacing, float), fields.sampled_drift(),
               np.ascontiguousarray(starts, dtype=float), np.ascontiguousarray(targets, dtype=float),
               threads=threads, **options)


def _newton(fields: Fields, x0: np.ndarray, max_move: float, scale: float, iterations: int = 40):
    """Newton's method on b(x) = 0 from each row of x0 (:func:`hjqp.problem.newton`).
    Returns the points, their Jacobians and whether each converged (residual below
    1e-9 scale * diameter, with scale the largest |Db| on the grid; moved at
    most max_move; inside the box). The residual is measured against the
    global scale, not the local Jacobian: where the drift jumps, a
    difference Jacobian is huge and would excuse any residual."""
    grid = fields.grid
    diameter = float(np.linalg.norm(np.subtract(grid.upper, grid.lower)))
    x, b, J = newton(fields.drift, x0, step=1e-6 * diameter, max_step=max_move, tolerance=1e-13 * diameter,
                     iterations=iterations)
    converged = (
        np.all(np.isfinite(b), axis=1)
        & (np.linalg.norm(b, axis=1) <= 1e-9 * scale * diameter)
        & (np.linalg.norm(x - x0, axis=1) <= max_move)
        & grid.contains(x)
    )
    return x, J, converged


def _dedupe(points: np.ndarray, radius: float) -> np.ndarray:
    """Indices of points that are not within radius of an earlier kept one."""
    keep: List[int] = []
    for i, p in enumerate(points):
        if not keep or np.min(np.linalg.norm(points[keep] - p, axis=1)) > radius:
            keep.append(i)
    return np.array(keep, dtype=int)


@_interrupt.interruptible
def equilibria(sde: Hamiltonian, grid: Grid, *, seeds_per_axis: Optional[int] = None, threads: Optional[int] = None) -> Equilibria:
    """Find the hyperbolic equilibria of x' = b(x) in the box.

    Attractors: the flow over the sampled drift (the kernel, RK4) is followed
    from a lattice of seeds until it stalls; the end points are refined by
    Newton's method on the exact drift and kept if Db has only eigenvalues
    with negative real part. Limit cycles: flows that come back onto their
    own track (a closed orbit) are refined by shooting on the return map
    and kept if their Floquet multipliers lie inside the unit circle. Saddles and other equilibria: Newton's method
    from the nodes where ``|b|`` has a local minimum over its neighbours.
    Where b vanishes identically (a flat loss) Db is singular, and no
    equilibrium is reported.

    Parameters
    ----------
    sde : SDE or JumpHamiltonian
    grid : Grid
        2D or 3D.
    seeds_per_axis : int, optional
        Seeds of the flow per axis (default 33 in 2D, 17 in 3D, at most the
        number of nodes).
    threads : int, optional
        Threads for the flow (default: the CPU count, at most 8).

    Returns
    -------
    Equilibria
        Sorted by their coordinates.

    Raises
    ------
    ValueError
        If the drift vanishes on the whole grid.
    """
    fields = checked_fields(sde, grid, threads=threads)
    b = fields.sampled_drift()
    d = grid.ndim
    speed = np.linalg.norm(b, axis=-1)
    if not np.any(speed > 0):
        raise ValueError("the drift vanishes on the whole grid: there are no attractors")
    scale = drift_scale(b, grid)
    h = np.asarray(grid.spacing)
    n_threads = _validate.threads(threads)

    # The flow from a lattice of seeds.
    per_axis = seeds_per_axis if seeds_per_axis is not None else (33 if d == 2 else 17)
    if not (isinstance(per_axis, (int, np.integer)) and per_axis >= 2):
        raise ValueError(f"seeds_per_axis must be an integer >= 2, got {per_axis!r}")
    axes = [np.unique(np.linspace(0, n - 1, min(int(per_axis), n)).round().astype(int)) for n in grid.shape]
    idx = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)
    starts = np.asarray(grid.lower) + idx * h
    flowed = flow_ends(fields, starts, np.zeros((0, d)), n_threads, flow_options(grid, scale))
    ends, reasons = flowed.points, flowed.reasons
    moving = speed.reshape(-1)[np.ravel_multi_index(idx.T, grid.shape)] > 0
    cycles = find_cycles(fields, ends[(reasons == FlowStop.CYCLE) & moving])
    ends = ends[(reasons != FlowStop.LEFT_BOX) & (reasons != FlowStop.CYCLE) & moving]

    # Nodes where |b| is a local minimum, not in a flat region.
    lower_than_all = np.ones(grid.shape, dtype=bool)
    some_neighbour_moves = np.zeros(grid.shape, dtype=bool)
    padded = np.pad(speed, 1, mode="edge")
    for off in np.ndindex(*(3,) * d):
        if all(o == 1 for o in off):
            continue
        shifted = padded[tuple(slice(o, o + n) for o, n in zip(off, grid.shape))]
        lower_than_all &= speed <= shifted
        some_neighbour_moves |= shifted > 0
    local_min = lower_than_all & some_neighbour_moves & (speed <= 4 * scale * h.max())
    cand = np.argwhere(local_min)
    order = np.argsort(speed[tuple(cand.T)], kind="stable")[:2000]
    minima = np.asarray(grid.lower) + cand[order] * h

    starts = np.concatenate([ends, minima]) if len(ends) or len(minima) else np.zeros((0, d))
    empty = np.zeros((0, d))
    if len(starts) == 0:
        return Equilibria(empty, empty, empty, (np.zeros((0, d, d)),) * 3, cycles)
    x, J, ok = _newton(fields, starts, max_move=4 * h.max(), scale=scale)
    x, J = x[ok], J[ok]
    # Db must be the same from differences over a quarter cell: where b
    # jumps (a flat region next to a well) tiny differences see the jump.
    if len(x):
        coarse = jacobians(fields.drift, x, 0.25 * h.min())
        size = np.maximum(np.linalg.norm(J, axis=(1, 2)), np.linalg.norm(coarse, axis=(1, 2)))
        smooth = np.linalg.norm(J - coarse, axis=(1, 2)) <= 0.1 * size
        x, J = x[smooth], J[smooth]
    eig = np.linalg.eigvals(J) if len(J) else np.zeros((0, d))
    tol = 1e-8 * scale
    hyperbolic = np.all(np.abs(eig.real) > tol, axis=1)
    x, J, eig = x[hyperbolic], J[hyperbolic], eig[hyperbolic]
    keep = _dedupe(x, 0.25 * h.min()) if len(x) else np.zeros(0, dtype=int)
    x, J, eig = x[keep], J[keep], eig[keep]
    unstable = np.sum(eig.real > 0, axis=1)
    out = []
    for kind in (unstable == 0, unstable == 1, unstable >= 2):
        xs, Js = x[kind], J[kind]
        order = np.lexsort(np.round(xs, 9).T[::-1]) if len(xs) else np.zeros(0, dtype=int)
        out.append((xs[order], Js[order]))
    return Equilibria(out[0][0], out[1][0], out[2][0], (out[0][1], out[1][1], out[2][1]), cycles)


# Most closed orbits refined from the ends of one lattice's flows (each
# takes a fraction of a second; ends near a cycle found are skipped).
MAX_CYCLE_CANDIDATES = 12


def find_cycles(fields: Fields, ends: np.ndarray) -> Tuple[LimitCycle, ...]:
    """The stable limit cycles through the end points of flows that came
    back onto their own track: each end not within four cells of a cycle
    found already is refined by shooting (:func:`hjqp.problem.cycle.refine_cycle`);
    those that are no stable closed orbit are dropped."""
    grid = fields.grid
    h = max(grid.spacing)
    found: List[LimitCycle] = []
    tried = 0
    for x in ends:
        if any(c.distance(x[None])[0] <= 4 * h for c in found):
            continue
        if tried >= MAX_CYCLE_CANDIDATES:
            break
        tried += 1
        try:
            cycle = refine_cycle(fields, x)
        except ValueError:
            continue
        if any(float(np.max(c.distance(cycle.resample(64)))) <= 4 * h for c in found):
            continue
        found.append(cycle)
    order = np.lexsort(np.round([c.point for c in found], 9).T[::-1]) if found else []
    return tuple(found[i] for i in order)


def limit_cycle(sde: Hamiltonian, grid: Grid, guess) -> LimitCycle:
    """A stable limit cycle of x' = b(x) near a guess, refined by shooting.

    Parameters
    ----------
    sde : SDE
    grid : Grid
        The box the cycle must stay in (2D or 3D); drifts given as arrays
        are interpolated on it.
    guess : array_like (d,) or (n, d), or LimitCycle
        A point near the cycle (the orbit from it settles on the cycle
        first) or a closed curve near it.

    Returns
    -------
    LimitCycle
        ``curve`` (n, d) at equal times, ``period``, ``multipliers`` (the
        nontrivial Floquet multipliers, all inside the unit circle).

    Raises
    ------
    ValueError
        A curve that is not closed, an orbit that stalls at an equilibrium,
        leaves the box or does not come back, a closed orbit that is not
        stable.
    """
    return refine_cycle(checked_fields(sde, grid), guess)
