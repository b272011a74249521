"""The landscape of a system with several attractors: equilibria, basins,
transition costs, the global quasi-potential and the metastable Markov chain
(Freidlin-Wentzell; DESIGN.md section 1, "Global quasi-potential")."""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import networkx as nx
import numpy as np
from scipy.special import logsumexp

from . import _core
from .attractor import refine_equilibrium
from .grid import Grid
from .paths import follow_flow, minimum_action_path
from .quasipotential import QuasiPotential, local_quasipotential
from .sde import SDE, Fields

__all__ = [
    "Equilibria",
    "Landscape",
    "equilibria",
    "basins",
    "landscape",
    "arborescence_costs",
    "log_stationary",
]


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
    """

    attractors: np.ndarray
    saddles: np.ndarray
    others: np.ndarray
    jacobians: Tuple[np.ndarray, np.ndarray, np.ndarray]


def _drift_scale(b: np.ndarray, grid: Grid) -> float:
    """Largest |Db| (Frobenius) over the grid, from differences of the samples."""
    d = grid.ndim
    parts = [np.gradient(b[..., k], *grid.spacing, axis=tuple(range(d))) for k in range(d)]
    total = sum(np.square(g) for row in parts for g in row)
    return float(np.sqrt(np.max(total)))


def _flow_options(grid: Grid, scale: float, capture: float = 0.0) -> dict:
    return dict(
        step_cells=0.5,
        max_dt=0.5 / scale if scale > 0 else 1e300,
        stall_speed=1e-7 * scale * min(grid.spacing),
        capture_radius=float(capture),
        max_steps=int(100 * sum(grid.shape) + 20000),
    )


def _threads(threads: Optional[int]) -> int:
    if threads is None:
        return max(1, min(os.cpu_count() or 1, 8))
    if not (isinstance(threads, (int, np.integer)) and threads >= 1):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    return int(threads)


def _jacobians(fields: Fields, x: np.ndarray, step: float) -> np.ndarray:
    """Db at points (n, d) by central differences: (n, d, d), J[n, i, j] = d b_i / d x_j."""
    n, d = x.shape
    offsets = step * np.eye(d)
    plus = fields.drift((x[:, None, :] + offsets).reshape(-1, d)).reshape(n, d, d)
    minus = fields.drift((x[:, None, :] - offsets).reshape(-1, d)).reshape(n, d, d)
    return np.transpose((plus - minus) / (2 * step), (0, 2, 1))


def _newton(fields: Fields, x0: np.ndarray, max_move: float, scale: float, iterations: int = 40):
    """Newton's method on b(x) = 0 from each row of x0, vectorised. Returns
    the points, their Jacobians and whether each converged (residual below
    1e-9 scale * diameter, with scale the largest |Db| on the grid; moved at
    most max_move; inside the box). The residual is measured against the
    global scale, not the local Jacobian: where the drift jumps, a
    difference Jacobian is huge and would excuse any residual."""
    grid = fields.grid
    diameter = float(np.linalg.norm(np.subtract(grid.upper, grid.lower)))
    step = 1e-6 * diameter
    x = x0.copy()
    for _ in range(iterations):
        b = fields.drift(x)
        J = _jacobians(fields, x, step)
        dx = np.zeros_like(x)
        ok = np.abs(np.linalg.det(J)) > 0
        if ok.any():
            dx[ok] = -np.linalg.solve(J[ok], b[ok][..., None])[..., 0]
        n = np.linalg.norm(dx, axis=1, keepdims=True)
        dx = np.where(n > max_move, dx * (max_move / np.maximum(n, 1e-300)), dx)
        x = x + dx
        x = np.where(np.isfinite(x), x, x0)
        if np.all(n <= 1e-13 * diameter):
            break
    b = fields.drift(x)
    J = _jacobians(fields, x, step)
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


def equilibria(sde: SDE, grid: Grid, *, seeds_per_axis: Optional[int] = None, threads: Optional[int] = None) -> Equilibria:
    """Find the hyperbolic equilibria of x' = b(x) in the box.

    Attractors: the flow over the sampled drift (the kernel, RK4) is followed
    from a lattice of seeds until it stalls; the end points are refined by
    Newton's method on the exact drift and kept if Db has only eigenvalues
    with negative real part. Saddles and other equilibria: Newton's method
    from the nodes where |b| has a local minimum over its neighbours.
    Where b vanishes identically (a flat loss) Db is singular, and no
    equilibrium is reported.

    Parameters
    ----------
    sde : SDE
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
    fields = _checked_fields(sde, grid)
    b = fields._checked_drift()
    d = grid.ndim
    speed = np.linalg.norm(b, axis=-1)
    if not np.any(speed > 0):
        raise ValueError("the drift vanishes on the whole grid: there are no attractors")
    scale = _drift_scale(b, grid)
    h = np.asarray(grid.spacing)
    n_threads = _threads(threads)

    # The flow from a lattice of seeds.
    per_axis = seeds_per_axis if seeds_per_axis is not None else (33 if d == 2 else 17)
    if not (isinstance(per_axis, (int, np.integer)) and per_axis >= 2):
        raise ValueError(f"seeds_per_axis must be an integer >= 2, got {per_axis!r}")
    axes = [np.unique(np.linspace(0, n - 1, min(int(per_axis), n)).round().astype(int)) for n in grid.shape]
    idx = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)
    starts = np.asarray(grid.lower) + idx * h
    flow = _flow_ends(grid)
    flowed = flow(
        np.asarray(grid.lower, float), h, b, np.ascontiguousarray(starts), np.zeros((0, d)),
        threads=n_threads, **_flow_options(grid, scale),
    )
    ends, reasons = flowed.points, flowed.reasons
    moving = speed.reshape(-1)[np.ravel_multi_index(idx.T, grid.shape)] > 0
    ends = ends[(reasons != FlowStop.LEFT_BOX) & moving]

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
        return Equilibria(empty, empty, empty, (np.zeros((0, d, d)),) * 3)
    x, J, ok = _newton(fields, starts, max_move=4 * h.max(), scale=scale)
    x, J = x[ok], J[ok]
    # Db must be the same from differences over a quarter cell: where b
    # jumps (a flat region next to a well) tiny differences see the jump.
    if len(x):
        coarse = _jacobians(fields, x, 0.25 * h.min())
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
    return Equilibria(out[0][0], out[1][0], out[2][0], (out[0][1], out[1][1], out[2][1]))


def _flow_ends(grid: Grid):
    return {2: _core.flow_ends2, 3: _core.flow_ends3}[grid.ndim]


def _checked_fields(sde: SDE, grid: Grid, supersample: int = 1) -> Fields:
    if not isinstance(sde, SDE):
        raise TypeError(f"sde must be an hjqp.SDE, got {type(sde).__name__}")
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
    if grid.ndim not in (2, 3):
        raise ValueError(f"landscapes are computed on 2D and 3D grids; this grid is {grid.ndim}D")
    return sde.fields(grid, supersample)


def _capture_radius(grid: Grid, attractors: np.ndarray, others: np.ndarray) -> float:
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


def basins(sde: SDE, grid: Grid, attractors, *, capture_radius: Optional[float] = None,
           threads: Optional[int] = None) -> np.ndarray:
    """Label every node with the attractor its trajectory reaches.

    The flow x' = b(x) over the drift sampled on the grid (multilinear
    interpolation, RK4 with steps of half a cell) is followed from every node
    in the compiled kernel, in parallel threads, until it comes within
    ``capture_radius`` of an attractor.

    Parameters
    ----------
    sde : SDE
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
        a flat region or a saddle's stable manifold, or leaves the box).
    """
    fields = _checked_fields(sde, grid)
    a = _points(attractors, grid.ndim, "attractors")
    if capture_radius is None:
        capture_radius = _capture_radius(grid, a, np.zeros((0, grid.ndim)))
    b = fields._checked_drift()
    labels, _ = _basins(fields, a, float(capture_radius), _threads(threads), _drift_scale(b, grid))
    return labels


def _basins(fields: Fields, attractors: np.ndarray, capture: float, threads: int, scale: float):
    grid = fields.grid
    fn = {2: _core.basin_labels2, 3: _core.basin_labels3}[grid.ndim]
    out = fn(np.asarray(grid.lower, float), np.asarray(grid.spacing, float), fields._checked_drift(),
             np.ascontiguousarray(attractors, dtype=float), threads=threads,
             **_flow_options(grid, scale, capture))
    return out.labels, out.reasons


def _points(value, d: int, name: str) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim == 1 and a.shape == (d,):
        a = a[None]
    if a.ndim != 2 or a.shape[1] != d or len(a) == 0:
        raise ValueError(f"{name} must have shape (k, {d}) with k >= 1, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def arborescence_costs(costs) -> np.ndarray:
    """W_i: the least total cost of an in-arborescence rooted at i.

    An i-graph (Freidlin-Wentzell) gives every other attractor exactly one
    outgoing edge j -> k with cost V_jk, and leads from each to i without
    cycles. Its minimum is a minimum spanning arborescence (Chu-Liu/Edmonds,
    exact) of the reversed graph with i as root. Infinite costs are missing
    edges; W_i is +inf where no i-graph exists.

    Parameters
    ----------
    costs : array_like (k, k)

    Returns
    -------
    ndarray (k,)
    """
    V = np.asarray(costs, dtype=float)
    if V.ndim != 2 or V.shape[0] != V.shape[1]:
        raise ValueError(f"costs must be a square matrix, got shape {V.shape}")
    k = len(V)
    if k == 1:
        return np.zeros(1)
    W = np.full(k, np.inf)
    for root in range(k):
        g = nx.DiGraph()
        g.add_nodes_from(range(k))
        for i in range(k):
            for j in range(k):
                # Edge i -> j of the chain, reversed so that the arborescence
                # grows out of the root; nothing leaves the root in an i-graph.
                if i != j and i != root and np.isfinite(V[i, j]):
                    g.add_edge(j, i, weight=float(V[i, j]))
        try:
            tree = nx.minimum_spanning_arborescence(g, attr="weight", preserve_attrs=True)
        except nx.NetworkXException:
            continue
        W[root] = sum(w for _, _, w in tree.edges(data="weight"))
    return W


def log_stationary(log_rates) -> np.ndarray:
    """Log of the stationary law of a continuous-time Markov chain given the
    logs of its rates (k, k) (-inf: no transition; the diagonal is ignored).

    Grassmann-Taksar-Heyman state reduction, carried out on logarithms: it
    only adds, multiplies and divides positive numbers, so rates of order
    exp(-V/eps) are handled exactly for any small eps.

    Raises ValueError if the chain is not irreducible.
    """
    L = np.array(log_rates, dtype=float)
    if L.ndim != 2 or L.shape[0] != L.shape[1]:
        raise ValueError(f"log_rates must be a square matrix, got shape {L.shape}")
    if np.any(np.isnan(L)) or np.any(L == np.inf):
        raise ValueError("log_rates must not contain NaN or +inf")
    k = len(L)
    np.fill_diagonal(L, -np.inf)
    log_out = np.zeros(k)
    for n in range(k - 1, 0, -1):
        log_out[n] = logsumexp(L[n, :n])
        if log_out[n] == -np.inf:
            raise ValueError("the Markov chain is not irreducible: some attractor cannot be left towards the others")
        with np.errstate(invalid="ignore"):
            L[:n, :n] = np.logaddexp(L[:n, :n], L[:n, n, None] + L[None, n, :n] - log_out[n])
    log_pi = np.zeros(k)
    for n in range(1, k):
        log_pi[n] = logsumexp(log_pi[:n] + L[:n, n]) - log_out[n]
    if not np.all(np.isfinite(log_pi)):
        raise ValueError("the Markov chain is not irreducible: some attractor cannot be reached")
    return log_pi - logsumexp(log_pi)


@dataclass(frozen=True, eq=False)
class Landscape:
    """Attractors, basins, transition costs and the global quasi-potential.

    Attributes
    ----------
    grid : Grid
    attractors : ndarray (k, d)
        The attractors O_1..O_k (Newton-refined).
    saddles : ndarray (m, d)
        Index-1 saddles of the drift in the box.
    saddle_links : ndarray of int (m, 2)
        The two attractors the unstable manifold of each saddle leads to
        (-1 for a branch that reaches none).
    basins : ndarray of int32, ``grid.shape``
        Index of the attractor each node flows to, -1 for none.
    local : tuple of QuasiPotential
        u_i, the quasi-potential of each attractor over the whole box, for
        paths that avoid the other attractors' neighbourhoods.
    direct_costs : ndarray (k, k)
        tilde-V_ij: the least cost from O_i to O_j over such paths (+inf if
        none), the exponents of the Markov chain's rates.
    costs : ndarray (k, k)
        V_ij = V(O_i, O_j) over all paths (zero diagonal).
    exit_costs : ndarray (k,)
        Least u_i over the first nodes outside the basin of O_i.
    exit_points : ndarray (k, d)
        Where that least value sits: the saddle there if one is within two
        cells, else the node.
    exit_on_edge : ndarray of bool (k,)
        The basin reaches the box edge at a value of u_i below the exit cost
        found inside: the box is too small to tell the true exit cost.
    W : ndarray (k,)
        Least cost of an i-graph (minimum spanning arborescence).
    global_values : ndarray (k,)
        phi at the attractors, W_i - min W.
    selected : int
        The attractor the noise selects as eps -> 0 (phi = 0; the first one
        in a tie, see :meth:`selected_set`).
    values : ndarray, ``grid.shape``
        The global quasi-potential phi = min_i [W_i + u_i] - min W.
    origin : ndarray of int32, ``grid.shape``
        The attractor i that attains the minimum at each node.
    info : dict
    """

    grid: Grid
    sde: SDE
    attractors: np.ndarray
    saddles: np.ndarray
    saddle_links: np.ndarray
    basins: np.ndarray
    local: Tuple[QuasiPotential, ...]
    direct_costs: np.ndarray
    costs: np.ndarray
    exit_costs: np.ndarray
    exit_points: np.ndarray
    exit_on_edge: np.ndarray
    W: np.ndarray
    global_values: np.ndarray
    selected: int
    values: np.ndarray
    origin: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        """The number of attractors."""
        return len(self.attractors)

    def selected_set(self, tolerance: float = 0.0) -> np.ndarray:
        """Indices of the attractors with phi(O_i) <= tolerance (ties)."""
        return np.flatnonzero(self.global_values <= tolerance)

    # -- the metastable Markov chain ------------------------------------------
    def log_rates(self, eps: float) -> np.ndarray:
        """log k_ij = -tilde-V_ij / eps (k, k), -inf on the diagonal and
        where no direct path exists. Leading order: prefactors are 1."""
        eps = _check_eps(eps)
        L = -self.direct_costs / eps
        np.fill_diagonal(L, -np.inf)
        return L

    def rates(self, eps: float) -> np.ndarray:
        """k_ij = exp(-tilde-V_ij / eps) (may underflow to 0 for small eps)."""
        return np.exp(self.log_rates(eps))

    def log_stationary(self, eps: float) -> np.ndarray:
        """Log of the stationary law of the Markov chain at noise eps."""
        return log_stationary(self.log_rates(eps))

    def stationary(self, eps: float) -> np.ndarray:
        """Stationary law (k,) of the metastable Markov chain at noise eps.

        Computed in the log domain, exact for any small eps; as eps -> 0,
        -eps log pi_i -> phi(O_i).
        """
        return np.exp(self.log_stationary(eps))

    def mean_exit_times(self, eps: float) -> np.ndarray:
        """Leading-order mean exit times exp(exit cost / eps) (k,), up to
        the subexponential prefactor."""
        eps = _check_eps(eps)
        with np.errstate(over="ignore"):
            return np.exp(self.exit_costs / eps)

    # -- paths --------------------------------------------------------------------
    def minimum_action_path(self, x, attractor: Optional[int] = None, **options) -> np.ndarray:
        """The minimum action path (n, d) to x from ``attractor`` (default:
        the one attaining phi at x, ``origin``); see
        :func:`hjqp.minimum_action_path`."""
        x = np.asarray(x, dtype=float)
        if attractor is None:
            node = self.grid.nearest_node(x)
            attractor = int(self.origin[tuple(node)])
            if attractor < 0:
                raise ValueError(f"no attractor reaches {x.tolist()}")
        return minimum_action_path(self.local[self._index(attractor)], x, **options)

    def exit_path(self, i: int, **options) -> np.ndarray:
        """The minimum action path (n, d) from O_i to its exit point (the
        least u_i just outside its basin)."""
        i = self._index(i)
        return self.minimum_action_path(self.exit_points[i], attractor=i, **options)

    def paths(self) -> list:
        """The transition paths over every saddle that links two basins,
        both ways (for drawing)."""
        out = []
        for a, b in self.saddle_links:
            if a >= 0 and b >= 0 and a != b:
                out += [self.transition_path(int(a), int(b)), self.transition_path(int(b), int(a))]
        return out

    def transition_path(self, i: int, j: int, **options) -> np.ndarray:
        """The most likely transition path (n, d) from O_i over the saddle
        to O_j: the minimum action path of u_i up to the saddle, then the
        flow down to O_j. Needs a saddle whose unstable manifold links the
        two basins."""
        i, j = self._index(i), self._index(j)
        links = [s for s in range(len(self.saddles)) if set(self.saddle_links[s]) == {i, j}]
        if not links:
            raise ValueError(f"no saddle links attractors {i} and {j}")
        qp = self.local[i]
        s = min(links, key=lambda m: float(qp(self.saddles[m], fill_value=np.inf)))
        saddle = self.saddles[s]
        fields = self.sde.fields(self.grid)
        J = self.info["saddle_jacobians"][s]
        w, vec = np.linalg.eig(J)
        u = np.real(vec[:, np.argmax(w.real)])
        h = max(self.grid.spacing)
        # The unstable direction's branch into each basin.
        side = 1.0 if self.saddle_links[s][0] == i else -1.0
        up = minimum_action_path(qp, saddle + side * 0.5 * h * u, **options)
        target = self.attractors[j]
        down = follow_flow(fields, saddle - side * 0.5 * h * u,
                           lambda y: np.linalg.norm(y - target) <= 2 * h,
                           step=0.25 * min(self.grid.spacing), max_steps=int(40 * sum(self.grid.shape)))
        return np.vstack([up, saddle[None], down, target[None]])

    def _index(self, i) -> int:
        if not (isinstance(i, (int, np.integer)) and -self.k <= i < self.k):
            raise ValueError(f"attractor index must be an integer in [0, {self.k}), got {i!r}")
        return int(i) % self.k


def _check_eps(eps) -> float:
    if not (isinstance(eps, (int, float, np.floating, np.integer)) and eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    return float(eps)


def _refine_given(fields: Fields, attractors: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    out, jac = [], []
    for i, a in enumerate(attractors):
        try:
            x, J = refine_equilibrium(fields, a)
        except ValueError as err:
            raise ValueError(f"attractors[{i}]: {err}") from None
        out.append(x)
        jac.append(J)
    return np.array(out), np.array(jac)


def _shortest_paths(V: np.ndarray) -> np.ndarray:
    """Floyd-Warshall closure: the least cost over chains of direct costs."""
    out = V.copy()
    for m in range(len(out)):
        out = np.minimum(out, out[:, m, None] + out[None, m, :])
    np.fill_diagonal(out, 0.0)
    return out


def _neighbour_shift(a: np.ndarray, off: Sequence[int], fill) -> np.ndarray:
    """a shifted so that out[n] = a[n + off] (fill beyond the edge)."""
    out = np.full_like(a, fill)
    src = tuple(slice(max(o, 0), a.shape[k] + min(o, 0)) for k, o in enumerate(off))
    dst = tuple(slice(max(-o, 0), a.shape[k] + min(-o, 0)) for k, o in enumerate(off))
    out[dst] = a[src]
    return out


def _exit(grid: Grid, labels: np.ndarray, values: np.ndarray, i: int):
    """Least value over the first nodes outside basin i, where it sits, and
    the least value on the basin's own nodes on the box edge."""
    inside = labels == i
    near = np.zeros_like(inside)
    d = grid.ndim
    for k in range(d):
        for step in (-1, 1):
            off = [0] * d
            off[k] = step
            near |= _neighbour_shift(inside, off, False)
    outside = near & ~inside
    best, where = np.inf, None
    if outside.any():
        v = np.where(outside, values, np.inf)
        flat = int(np.argmin(v))
        best = float(v.reshape(-1)[flat])
        where = np.array(np.unravel_index(flat, grid.shape))
    edge = np.zeros_like(inside)
    for k in range(d):
        sl = [slice(None)] * d
        for end in (0, -1):
            sl[k] = end
            edge[tuple(sl)] = True
    on_edge = edge & inside
    edge_best = float(np.min(values[on_edge])) if on_edge.any() else np.inf
    return best, where, edge_best


def landscape(
    sde: SDE,
    grid: Grid,
    attractors=None,
    *,
    threads: Optional[int] = None,
    absorb_cells: float = 3.0,
    seeds_per_axis: Optional[int] = None,
    supersample: int = 1,
    **solver_options,
) -> Landscape:
    """The Freidlin-Wentzell landscape of an SDE in a box.

    1. Attractors (unless given) and saddles: :func:`equilibria`.
    2. Basins: :func:`basins`.
    3. From each attractor O_i the quasi-potential u_i is computed over the
       whole box, with the nodes within ``absorb_cells`` cells of the other
       attractors absorbing the front, so that u_i is the cost of paths that
       do not pass through their neighbourhoods. Then tilde-V_ij is the least
       u_i on the basin of O_j, from where the flow is free (the direct
       costs, the exponents of the Markov chain's rates), and V_ij their
       shortest-path closure. The
       solves run in parallel threads.
    4. W_i by minimum spanning arborescences, the global quasi-potential
       phi = min_i [W_i + u_i] - min W on the grid, and the attractor with
       phi = 0. (Paths through another attractor's neighbourhood are never
       cheaper for phi than starting at that attractor, since W_j <= W_i +
       V_ij, so the direct u_i give the same minimum as the full ones.)

    Parameters
    ----------
    sde : SDE
    grid : Grid
        2D or 3D.
    attractors : array_like (k, d), optional
        Points near stable equilibria (refined by Newton's method). Found
        from the flow when not given.
    threads : int, optional
        Threads for the flow and the solves (default: CPU count, at most 8).
    absorb_cells : float, default 3
        Radius, in cells, of the neighbourhoods of the attractors.
    seeds_per_axis : int, optional
        See :func:`equilibria`.
    supersample : int, default 1
        Sample the fields as cell means, for drifts or diffusions that jump
        (see :class:`hjqp.sde.Fields`).
    **solver_options
        Passed to :func:`hjqp.local_quasipotential` (update_radius,
        init_cells, max_turn, max_value).

    Returns
    -------
    Landscape

    Raises
    ------
    ValueError
        No attractor in the box; given attractors that are not stable
        equilibria or lie within eight cells of each other; bad options.
    """
    fields = _checked_fields(sde, grid, supersample)
    if not (isinstance(absorb_cells, (int, float)) and 1.0 <= absorb_cells <= 20.0):
        raise ValueError(f"absorb_cells must be a number in [1, 20], got {absorb_cells!r}")
    bad = set(solver_options) - {"update_radius", "init_cells", "max_turn", "max_value", "init_levels"}
    if bad:
        raise TypeError(f"unknown options: {', '.join(sorted(bad))}")
    n_threads = _threads(threads)
    h = np.asarray(grid.spacing)

    eq = equilibria(sde, grid, seeds_per_axis=seeds_per_axis, threads=n_threads)
    if attractors is None:
        O, jac = eq.attractors, eq.jacobians[0]
        if len(O) == 0:
            raise ValueError("no attractor in the box: the flow reaches no stable equilibrium")
    else:
        O, jac = _refine_given(fields, _points(attractors, grid.ndim, "attractors"))
    k = len(O)
    for i in range(k):
        for j in range(i):
            if np.linalg.norm(O[i] - O[j]) < 8 * h.max():
                raise ValueError(
                    f"attractors {j} and {i} ({np.round(O[j], 6).tolist()} and "
                    f"{np.round(O[i], 6).tolist()}) lie within eight cells of each other: "
                    "refine the grid"
                )
    scale = _drift_scale(fields._checked_drift(), grid)

    # Basins, and where each saddle's unstable manifold leads.
    capture = _capture_radius(grid, O, np.concatenate([eq.saddles, eq.others]))
    labels, _ = _basins(fields, O, capture, n_threads, scale)
    links = np.full((len(eq.saddles), 2), -1, dtype=int)
    if len(eq.saddles):
        starts = []
        for s, J in zip(eq.saddles, eq.jacobians[1]):
            w, vec = np.linalg.eig(J)
            u = np.real(vec[:, np.argmax(w.real)])
            u /= np.linalg.norm(u)
            starts += [s + 0.5 * h.min() * u, s - 0.5 * h.min() * u]
        starts = np.array(starts)
        inside = grid.contains(starts)
        ends = np.full(len(starts), -1)
        if inside.any():
            reached = _flow_ends(grid)(
                np.asarray(grid.lower, float), h, fields._checked_drift(),
                np.ascontiguousarray(starts[inside]), np.ascontiguousarray(O),
                threads=n_threads, **_flow_options(grid, scale, capture),
            ).targets
            ends[inside] = reached
        links = ends.reshape(-1, 2)

    # The local quasi-potentials with the other attractors absorbing: k of
    # them are kept, up to n_threads run at once.
    from . import _memory

    _memory.require(_memory.solve_bytes(grid) * (k + min(k, n_threads)),
                    f"a landscape of {k} attractors on {' x '.join(map(str, grid.shape))} nodes")
    pts = grid.points().reshape(-1, grid.ndim)
    radius = absorb_cells * h.max()
    near = [np.linalg.norm(pts - o, axis=1) <= radius for o in O]
    init_cells = float(solver_options.pop("init_cells", 16.0 if grid.ndim == 2 else 4.0))

    def solve(i: int) -> QuasiPotential:
        mask = np.zeros(len(pts), dtype=bool)
        for j in range(k):
            if j != i:
                mask |= near[j]
        others = [np.linalg.norm(O[j] - O[i]) for j in range(k) if j != i]
        # Keep the initial region (up to four times its smallest semi-axis)
        # clear of the absorbing neighbourhoods.
        cells = init_cells
        if others:
            cells = float(np.clip((min(others) - radius) / (4 * h.max()) - 1.0, 1.0, init_cells))
        return local_quasipotential(sde, grid, O[i], refine_attractor=False, init_cells=cells,
                                    absorbing=mask.reshape(grid.shape), supersample=supersample,
                                    **solver_options)

    if n_threads > 1 and k > 1:
        with ThreadPoolExecutor(max_workers=min(n_threads, k)) as pool:
            local = tuple(pool.map(solve, range(k)))
    else:
        local = tuple(solve(i) for i in range(k))

    # From any point of basin j the flow reaches O_j at no cost, so the
    # direct cost is the least u_i over basin j (reached first next to the
    # saddle, where u_i is most accurate: the thin valley of u_i about the
    # flow lines that converge on O_j is not resolved by the grid).
    direct = np.full((k, k), np.inf)
    flat_labels = labels.reshape(-1)
    for i in range(k):
        u = local[i].values.reshape(-1)
        for j in range(k):
            if i != j:
                direct[i, j] = float(np.min(u[near[j] | (flat_labels == j)]))
    np.fill_diagonal(direct, 0.0)
    costs = _shortest_paths(direct)

    exit_costs = np.full(k, np.inf)
    exit_points = np.full((k, grid.ndim), np.nan)
    exit_on_edge = np.zeros(k, dtype=bool)
    for i in range(k):
        best, where, edge_best = _exit(grid, labels, local[i].values, i)
        exit_costs[i] = best
        if where is not None:
            p = np.asarray(grid.lower) + where * h
            if len(eq.saddles):
                dist = np.linalg.norm(eq.saddles - p, axis=1)
                if dist.min() <= 2 * h.max():
                    p = eq.saddles[int(np.argmin(dist))]
            exit_points[i] = p
        if edge_best < best:
            exit_on_edge[i] = True
            warnings.warn(
                f"the basin of attractor {i} reaches the box edge where its quasi-potential "
                f"is {edge_best:.6g}, below its exit cost {best:.6g} inside the box: enlarge the box",
                stacklevel=2,
            )

    W = arborescence_costs(direct)
    if not np.isfinite(W).any():
        raise ValueError("no attractor can be reached from all the others within the box")
    w_min = float(np.min(W))
    stacked = np.stack([W[i] + local[i].values for i in range(k)])
    origin = np.argmin(stacked, axis=0).astype(np.int32)
    values = np.min(stacked, axis=0) - w_min
    origin[~np.isfinite(values)] = -1
    info = dict(
        threads=n_threads, absorb_cells=float(absorb_cells), capture_radius=float(capture),
        saddle_jacobians=eq.jacobians[1], attractor_jacobians=jac, others=eq.others,
    )
    return Landscape(
        grid=grid, sde=sde, attractors=O, saddles=eq.saddles, saddle_links=links,
        basins=labels, local=local, direct_costs=direct, costs=costs,
        exit_costs=exit_costs, exit_points=exit_points, exit_on_edge=exit_on_edge,
        W=W, global_values=W - w_min, selected=int(np.argmin(W)), values=values,
        origin=origin, info=info,
    )
