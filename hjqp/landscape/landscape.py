"""The landscape of a system with several attractors: basins, transition
costs, the global quasi-potential and the metastable Markov chain
(Freidlin-Wentzell; DESIGN.md section 1, "Global quasi-potential")."""

from __future__ import annotations

import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy.special import logsumexp

from .. import _interrupt, _memory, _validate, _warn
from ..grid import Grid
from ..problem import Fields, Hamiltonian, JumpHamiltonian, refine_equilibrium
from ..problem.cycle import LimitCycle
from ..solve import (QuasiPotential, follow_flow, minimum_action_path, solve_local, warn_negative_values,
                     warn_truncated_traces)
from ..solve.cycle import nodes_near_cycle
from ..solve.quasipotential import CYCLE_INIT_CELLS, default_init_cells
from .basins import capture_radius_for, label_basins, nodes_near, saddle_links, saddle_value, split_attractors
from .equilibria import Equilibria, checked_fields, drift_scale, equilibria
from .markov import arborescence_costs, log_stationary, shortest_paths
from .prefactors import Prefactors, log_mean_passage_time, warn_invalid
from .prefactors import prefactors as _compute_prefactors

__all__ = ["Landscape", "landscape"]


@dataclass(frozen=True, eq=False)
class Landscape:
    """Attractors, basins, transition costs and the global quasi-potential.

    Attributes
    ----------
    grid : Grid
    sde : SDE, JumpHamiltonian or None
        The SDE (None when loaded from a file without it: :func:`hjqp.io.load`
        takes ``sde=``; the paths need it).
    attractors : ndarray (k, d)
        The attractors O_1..O_k (Newton-refined): each stable equilibrium,
        and for a stable limit cycle its representative point
        (``cycles[i].point``, on the cycle). Code that treats attractors
        as points keeps working; ``cycles`` tells which are curves.
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
        none), the exponents of the Markov chain's rates: u_i at the saddles
        on the boundary of basin j, read from their other side, or along
        that boundary (see :func:`landscape`).
    costs : ndarray (k, k)
        V_ij = V(O_i, O_j) over all paths (zero diagonal).
    exit_costs : ndarray (k,)
        Least u_i on the boundary of the basin of O_i: at its saddles, read
        from the basin's side, or over the first nodes outside it.
    exit_points : ndarray (k, d)
        Where that least value sits: the saddle, or the node (the saddle
        there if one is within two cells).
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
        How it was computed: ``threads``, ``absorb_cells``, ``capture_radius``,
        ..., and ``seconds``, the wall time of each stage (``fields``,
        ``equilibria``, ``basins``, ``saddle_links``, ``solves`` (the k
        solves together), ``solve_each`` (each solve's own, a list),
        ``costs``, ``phi`` and ``total``).
    metadata : dict
        What was passed to :func:`hjqp.io.save` (loaded results).
    cycles : tuple of LimitCycle or None, length k (or empty: no cycles)
        For each attractor, its limit cycle (:class:`hjqp.LimitCycle`:
        ``curve`` (n, d), ``period``, Floquet ``multipliers``), None for a
        stable equilibrium.
    """

    grid: Grid
    sde: Optional[Hamiltonian]
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
    metadata: dict = field(default_factory=dict, repr=False)
    cycles: Tuple[Optional[LimitCycle], ...] = ()

    @property
    def k(self) -> int:
        """The number of attractors."""
        return len(self.attractors)

    @property
    def is_cycle(self) -> np.ndarray:
        """(k,) bool: which attractors are limit cycles."""
        return np.array([i < len(self.cycles) and self.cycles[i] is not None for i in range(self.k)], dtype=bool)

    def cycle(self, i: int) -> Optional[LimitCycle]:
        """The limit cycle of attractor i, None for a point."""
        i = self._index(i)
        return self.cycles[i] if i < len(self.cycles) else None

    def distance_to_attractor(self, i: int, points) -> np.ndarray:
        """Distance from points (..., d) to attractor i (its point or its cycle), (...)."""
        c = self.cycle(i)
        p = np.asarray(points, dtype=float)
        return c.distance(p) if c is not None else np.linalg.norm(p - self.attractors[self._index(i)], axis=-1)

    def selected_set(self, tolerance: float = 0.0) -> np.ndarray:
        """Indices of the attractors with phi(O_i) <= tolerance (ties)."""
        return np.flatnonzero(self.global_values <= tolerance)

    # -- the metastable Markov chain ------------------------------------------
    @functools.cached_property
    def _prefactors(self) -> Prefactors:
        return _compute_prefactors(self)

    def prefactors(self) -> Prefactors:
        """The prefactors of the transitions over every saddle
        (:class:`hjqp.landscape.Prefactors`): the generalised Eyring-Kramers
        formula of Bouchet and Reygner (2016) for SDEs, with position-dependent
        D (docs/prefactors.md). Computed once; independent of eps. Where the
        theory does not apply (a flat or degenerate attractor or saddle, fields
        that jump along the path, a caustic, an exit that is not a saddle) the
        pair is marked invalid with the reason.

        Raises ValueError for a jump Hamiltonian or a landscape loaded
        without its SDE.
        """
        return self._prefactors

    def log_rates(self, eps: float, prefactors: bool = False) -> np.ndarray:
        """log k_ij (k, k), -inf on the diagonal and where no direct path
        exists.

        Leading order (the default): log k_ij = -tilde-V_ij / eps, prefactors 1.
        With ``prefactors=True``: the log-sum over the saddles linking i to j
        of log A_s - U_i(z_s) / eps (:meth:`prefactors`); pairs no saddle
        links get -inf (their transitions pass through another basin), and
        pairs where the theory does not apply NaN, with a
        :class:`PrefactorWarning` saying why.
        """
        eps = _validate.eps(eps)
        if prefactors:
            pf = self.prefactors()
            L = pf.log_rates(eps)
            warn_invalid([f"O{i + 1} -> O{j + 1}: {r}" for (i, j), r in sorted(pf.reasons.items())],
                         "the rate")
            return L
        L = -self.direct_costs / eps
        np.fill_diagonal(L, -np.inf)
        return L

    def rates(self, eps: float, prefactors: bool = True) -> np.ndarray:
        """Transition rates k_ij (k, k) at noise eps, 0 on the diagonal.

        With prefactors (the default): k_ij = sum over the saddles s linking
        O_i to O_j of A_s exp(-U_i(z_s) / eps), the generalised Eyring-Kramers
        law (see :meth:`log_rates`, :meth:`prefactors`); NaN with a
        :class:`PrefactorWarning` where the theory does not apply. With
        ``prefactors=False``: the leading order exp(-tilde-V_ij / eps). May
        underflow to 0 for small eps (use :meth:`log_rates`).
        """
        with np.errstate(invalid="ignore"):
            return np.exp(self.log_rates(eps, prefactors))

    def log_stationary(self, eps: float, prefactors: bool = False) -> np.ndarray:
        """Log of the stationary law of the Markov chain at noise eps
        (NaN where a rate it needs has no prefactor)."""
        L = self.log_rates(eps, prefactors)
        if np.isnan(L).any():
            return np.full(self.k, np.nan)
        return log_stationary(L)

    def stationary(self, eps: float, prefactors: bool = False) -> np.ndarray:
        """Stationary law (k,) of the metastable Markov chain at noise eps.

        Computed in the log domain, exact for any small eps; as eps -> 0,
        -eps log pi_i -> phi(O_i). Leading-order rates by default; with
        ``prefactors=True`` the rates of :meth:`rates` (NaN, with a
        :class:`PrefactorWarning`, where the theory does not apply).
        """
        return np.exp(self.log_stationary(eps, prefactors))

    def mean_transition_time(self, i: int, j: int, eps: float, prefactors: bool = True) -> float:
        """Mean time from O_i until the first arrival at O_j, in the
        metastable Markov chain with the rates of :meth:`rates` (for two
        attractors linked by a saddle, 1 / k_ij). Computed on logarithms
        (:func:`hjqp.landscape.log_mean_passage_time`); +inf where it
        overflows or O_j cannot be reached; NaN, with a
        :class:`PrefactorWarning`, where a rate it needs has no prefactor.
        """
        i, j = self._index(i), self._index(j)
        if i == j:
            raise ValueError(f"i and j must differ, got {i} twice")
        L = self.log_rates(eps, prefactors)
        if np.isnan(L).any():
            return math.nan
        t = log_mean_passage_time(L, i, j)
        return math.exp(t) if t < 700 else math.inf

    def mean_exit_times(self, eps: float, prefactors: bool = False) -> np.ndarray:
        """Mean exit times from each basin (k,).

        Leading order (the default): exp(exit cost / eps), up to the
        subexponential prefactor. With ``prefactors=True``: 1 / the total
        rate out of the basin over its saddles (NaN, with a
        :class:`PrefactorWarning`, where the theory does not apply).
        """
        eps = _validate.eps(eps)
        if prefactors:
            L = self.log_rates(eps, True)
            out = np.full(self.k, np.nan)
            for i in range(self.k):
                row = np.delete(L[i], i)
                if not np.isnan(row).any():
                    total = float(logsumexp(row))
                    out[i] = math.exp(-total) if -total < 700 else math.inf
            return out
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
        fields = self._sde().fields(self.grid)
        J = self.info["saddle_jacobians"][s]
        w, vec = np.linalg.eig(J)
        u = np.real(vec[:, np.argmax(w.real)])
        h = max(self.grid.spacing)
        # The unstable direction's branch into each basin.
        side = 1.0 if self.saddle_links[s][0] == i else -1.0
        up = minimum_action_path(qp, saddle + side * 0.5 * h * u, **options)
        target = self.attractors[j]
        down = follow_flow(fields, saddle - side * 0.5 * h * u,
                           lambda y: float(self.distance_to_attractor(j, y)) <= 2 * h,
                           step=0.25 * min(self.grid.spacing), max_steps=int(40 * sum(self.grid.shape)))
        c = self.cycle(j)
        if c is not None:
            target = c.nearest(down[-1])[1]
        return np.vstack([up, saddle[None], down, target[None]])

    def _sde(self):
        if self.sde is None:
            raise ValueError("this landscape does not carry its SDE (it was loaded from a file): "
                             "pass sde= to hjqp.io.load")
        return self.sde

    def _index(self, i) -> int:
        if not (isinstance(i, (int, np.integer)) and -self.k <= i < self.k):
            raise ValueError(f"attractor index must be an integer in [0, {self.k}), got {i!r}")
        return int(i) % self.k


@_interrupt.interruptible
def landscape(
    sde: Hamiltonian,
    grid: Grid,
    attractors=None,
    *,
    threads: Optional[int] = None,
    absorb_cells: float = 3.0,
    seeds_per_axis: Optional[int] = None,
    supersample: Optional[int] = None,
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
       shortest-path closure. The solves run in parallel threads. The least
       value lies on the basin's boundary, at a saddle where one joins the
       basins: there it is read from the node on the source's side nearest
       to the saddle, u_i(z) = u_i(x) - grad u_i(x) . (x - z) / 2 (grad
       u_i(z) = 0), since beyond the saddle u_i runs down a valley to O_j
       that the grid does not resolve and whose values err low. Exits that
       are no such saddle are found on the nodes along the boundary.
    4. W_i by minimum spanning arborescences, the global quasi-potential
       phi = min_i [W_i + u_i] - min W on the grid, and the attractor with
       phi = 0. (Paths through another attractor's neighbourhood are never
       cheaper for phi than starting at that attractor, since W_j <= W_i +
       V_ij, so the direct u_i give the same minimum as the full ones.)

    Parameters
    ----------
    sde : SDE or JumpHamiltonian
    grid : Grid
        2D or 3D.
    attractors : array_like (k, d) or a sequence of points and cycles, optional
        Points near stable equilibria (refined by Newton's method), and
        stable limit cycles (:class:`hjqp.LimitCycle`, or closed curves
        (n, d) near one, refined by shooting). Found from the flow when not
        given (equilibria and cycles, :func:`equilibria`).
    threads : int, optional
        Threads for the flow and the solves (default: CPU count, at most 8).
    absorb_cells : float, default 3
        Radius, in cells, of the neighbourhoods of the attractors.
    seeds_per_axis : int, optional
        See :func:`equilibria`.
    supersample : int or None, default None
        How callables are sampled (see :func:`hjqp.local_quasipotential`):
        None finds the nodes next to a jump of the drift or the diffusion
        and samples only those as cell means (``info["supersampled_nodes"]``
        counts them; smooth fields keep their point samples); 1 samples at
        the nodes only; s > 1 takes cell means of s^d points everywhere.
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
    if not (isinstance(absorb_cells, (int, float)) and 1.0 <= absorb_cells <= 20.0):
        raise ValueError(f"absorb_cells must be a number in [1, 20], got {absorb_cells!r}")
    bad = set(solver_options) - {"update_radius", "init_cells", "max_turn", "max_value", "init_levels"}
    if bad:
        raise TypeError(f"unknown options: {', '.join(sorted(bad))}")
    n_threads = _validate.threads(threads)
    # Memory first, before the equilibria and the basins: for the attractors
    # given, or for at least one (checked again once they are found).
    k_known = _count_attractors(attractors, grid.ndim) if (attractors is not None and isinstance(grid, Grid)) else 1
    jumps = (0, False)
    if isinstance(grid, Grid):
        if isinstance(sde, JumpHamiltonian) and grid.ndim in (2, 3):
            jumps = sde.jump_count(grid)
        _memory.require(_memory.landscape_bytes(grid, k_known, n_threads, *jumps), _landscape_what(grid, k_known))
    seconds = {}
    clock = [time.perf_counter()]
    start = clock[0]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = now - clock[0]
        clock[0] = now

    fields = checked_fields(sde, grid, supersample, n_threads)
    lap("fields")
    eq = equilibria(sde, grid, seeds_per_axis=seeds_per_axis, threads=n_threads)
    O, cycles, jac = _attractors(fields, eq, attractors)
    lap("equilibria")
    scale = drift_scale(fields.sampled_drift(), grid)
    capture = capture_radius_for(grid, O, np.concatenate([eq.saddles, eq.others]), cycles)
    labels = label_basins(fields, O, capture, n_threads, scale, cycles)
    lap("basins")
    links = saddle_links(fields, eq.saddles, eq.jacobians[1], O, capture, n_threads, scale, cycles)
    lap("saddle_links")

    k = len(O)
    _memory.require(_memory.landscape_bytes(grid, k, n_threads, *jumps), _landscape_what(grid, k))
    near = _neighbourhoods(grid, O, absorb_cells, cycles)
    local, truncated, each = _local_solutions(sde, grid, O, near, absorb_cells, n_threads, supersample,
                                              solver_options, cycles, fields)
    lap("solves")
    seconds["solve_each"] = each
    direct = _direct_costs(grid, local, labels, near, eq.saddles, links)
    exit_costs, exit_points, exit_on_edge = _exits(grid, labels, local, eq.saddles, links,
                                                   sde.boundary_sides(grid))
    for i in range(k):
        # Beyond the exit, where the characteristics of u_i meet (at the other
        # attractors), traces are cut short harmlessly.
        warn_truncated_traces(local[i], truncated[i], (labels == i) & (local[i].values < exit_costs[i]),
                              f"of its basin below its exit cost {exit_costs[i]:.4g}")
        warn_negative_values(local[i])
    lap("costs")

    W = arborescence_costs(direct)
    if not np.isfinite(W).any():
        raise ValueError("no attractor can be reached from all the others within the box")
    w_min = float(np.min(W))
    stacked = np.stack([W[i] + local[i].values for i in range(k)])
    origin = np.argmin(stacked, axis=0).astype(np.int32)
    values = np.min(stacked, axis=0) - w_min
    origin[~np.isfinite(values)] = -1
    lap("phi")
    seconds["total"] = time.perf_counter() - start
    info = dict(
        threads=n_threads, absorb_cells=float(absorb_cells), capture_radius=float(capture),
        saddle_jacobians=eq.jacobians[1], attractor_jacobians=jac, others=eq.others,
        # The local solves sample the fields on the same grid alike.
        supersample=supersample, supersampled_nodes=dict(local[0].info["supersampled_nodes"]),
        seconds=seconds,
    )
    return Landscape(
        grid=grid, sde=sde, attractors=O, saddles=eq.saddles, saddle_links=links,
        basins=labels, local=local, direct_costs=direct, costs=shortest_paths(direct),
        exit_costs=exit_costs, exit_points=exit_points, exit_on_edge=exit_on_edge,
        W=W, global_values=W - w_min, selected=int(np.argmin(W)), values=values,
        origin=origin, info=info, cycles=tuple(cycles) if any(c is not None for c in cycles) else (),
    )


def _landscape_what(grid: Grid, k: int) -> str:
    return f"a landscape of {k} attractor{'s' if k > 1 else ''} on {' x '.join(map(str, grid.shape))} nodes"


def _count_attractors(given, d: int) -> int:
    if isinstance(given, LimitCycle):
        return 1
    if isinstance(given, (list, tuple)) and not isinstance(given, np.ndarray):
        try:
            return len(_validate.points(given, d, "attractors"))
        except ValueError:
            return len(given)
    return len(_validate.points(given, d, "attractors"))


def _attractors(fields: Fields, eq: Equilibria, given) -> Tuple[np.ndarray, List[Optional[LimitCycle]], np.ndarray]:
    """The attractors found (or the given ones, refined): representative
    points (k, d), their cycles (None for points) and Jacobians (NaN for
    cycles); none closer than eight cells to another."""
    grid = fields.grid
    d = grid.ndim
    if given is None:
        O, jac = eq.attractors, eq.jacobians[0]
        cycles: List[Optional[LimitCycle]] = [None] * len(O) + list(eq.cycles)
        if eq.cycles:
            O = np.concatenate([O, np.array([c.point for c in eq.cycles])])
            jac = np.concatenate([jac, np.full((len(eq.cycles), d, d), np.nan)])
        if len(O) == 0:
            raise ValueError("no attractor in the box: the flow reaches no stable equilibrium or limit cycle")
    else:
        points, cycles = split_attractors(fields, given)
        out, jacs = [], []
        for i, a in enumerate(points):
            if cycles[i] is not None:
                if not grid.contains(cycles[i].curve).all():
                    raise ValueError(f"attractors[{i}]: the cycle leaves the box {grid.lower} - {grid.upper}")
                out.append(cycles[i].point)
                jacs.append(np.full((d, d), np.nan))
                continue
            try:
                x, J = refine_equilibrium(fields, a)
            except ValueError as err:
                raise ValueError(f"attractors[{i}]: {err}") from None
            out.append(x)
            jacs.append(J)
        O, jac = np.array(out), np.array(jacs)
    h = max(grid.spacing)
    for i in range(len(O)):
        for j in range(i):
            if _set_distance(O, cycles, i, j) < 8 * h:
                raise ValueError(
                    f"attractors {j} and {i} ({np.round(O[j], 6).tolist()} and "
                    f"{np.round(O[i], 6).tolist()}) lie within eight cells of each other: "
                    "refine the grid"
                )
    return O, cycles, jac


def _set_distance(O: np.ndarray, cycles, i: int, j: int) -> float:
    """Distance between attractors i and j (points or cycles)."""
    ci, cj = cycles[i], cycles[j]
    if ci is None and cj is None:
        return float(np.linalg.norm(O[i] - O[j]))
    if cj is None:
        ci, cj, i, j = cj, ci, j, i
    # cj is a cycle
    pts = O[i][None] if ci is None else ci.resample(max(64, len(ci.curve)))
    return float(np.min(cj.distance(pts)))


def _neighbourhoods(grid: Grid, attractors: np.ndarray, absorb_cells: float, cycles=None) -> List[np.ndarray]:
    """Which nodes (flat) lie within absorb_cells cells of each attractor
    (of its curve for a cycle)."""
    pts = grid.points().reshape(-1, grid.ndim)
    radius = absorb_cells * max(grid.spacing)
    out = []
    for i, o in enumerate(attractors):
        if cycles is not None and cycles[i] is not None:
            mask = np.zeros(grid.size, dtype=bool)
            mask[nodes_near_cycle(grid, cycles[i], radius)] = True
            out.append(mask)
        else:
            out.append(np.linalg.norm(pts - o, axis=1) <= radius)
    return out


def _local_solutions(sde: Hamiltonian, grid: Grid, O: np.ndarray, near: List[np.ndarray], absorb_cells: float,
                     n_threads: int, supersample: Optional[int], solver_options: dict,
                     cycles=None, fields: Optional[Fields] = None) -> Tuple[Tuple[QuasiPotential, ...], List[np.ndarray], List[float]]:
    """u_i from each attractor over the whole box, the other attractors'
    neighbourhoods absorbing the front; in parallel threads. Returns the
    solutions, for each the nodes whose characteristic traces were cut
    short (:func:`hjqp.solve.solve_local`), and each solve's wall time."""
    k = len(O)
    h = max(grid.spacing)
    radius = absorb_cells * h
    options = dict(solver_options)
    given_cells = options.pop("init_cells", None)
    init_cells = float(given_cells if given_cells is not None
                       else default_init_cells(grid.ndim, isinstance(sde, JumpHamiltonian)))
    cycles = cycles if cycles is not None else [None] * k
    if fields is not None:
        # Sampled here, once, before the threads share them.
        if isinstance(sde, JumpHamiltonian):
            fields.jump_arrays()
        else:
            fields.kernel_arrays()

    def solve(i: int) -> Tuple[QuasiPotential, np.ndarray, float]:
        start = time.perf_counter()
        qp, truncated = solve_from(i)
        return qp, truncated, time.perf_counter() - start

    def solve_from(i: int) -> Tuple[QuasiPotential, np.ndarray]:
        mask = np.zeros(grid.size, dtype=bool)
        for j in range(k):
            if j != i:
                mask |= near[j]
        others = [_set_distance(O, cycles, i, j) for j in range(k) if j != i]
        # Keep the initial region (up to four times its smallest semi-axis;
        # a cycle's tube) clear of the absorbing neighbourhoods.
        if cycles[i] is not None:
            cells = float(given_cells if given_cells is not None else CYCLE_INIT_CELLS[grid.ndim])
            if others:
                cells = float(np.clip((min(others) - radius) / h - 2.0, 1.0, cells))
            return solve_local(sde, grid, cycles[i], refine_attractor=False, init_cells=cells,
                               absorbing=mask.reshape(grid.shape), supersample=supersample, fields=fields,
                               **options)
        cells = init_cells
        if others:
            cells = float(np.clip((min(others) - radius) / (4 * h) - 1.0, 1.0, init_cells))
        return solve_local(sde, grid, O[i], refine_attractor=False, init_cells=cells,
                           absorbing=mask.reshape(grid.shape), supersample=supersample, fields=fields, **options)

    if n_threads > 1 and k > 1:
        pool = ThreadPoolExecutor(max_workers=min(n_threads, k))
        try:
            # The solves are part of this call: a Ctrl-C since it began stops them.
            task = _interrupt.carried(solve)
            solved = [f.result() for f in [pool.submit(task, i) for i in range(k)]]
        finally:
            # On Ctrl-C or an error the solves not yet started are dropped
            # (the running ones stop at their next interrupt check).
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        solved = [solve(i) for i in range(k)]
    return tuple(q for q, _, _ in solved), [t for _, t, _ in solved], [s for _, _, s in solved]


def _direct_costs(grid: Grid, local: Sequence[QuasiPotential], labels: np.ndarray, near: List[np.ndarray],
                  saddles: np.ndarray, links: np.ndarray) -> np.ndarray:
    """tilde-V_ij: the least u_i over basin j, from where the flow reaches
    O_j at no cost. In exact arithmetic it lies on the basin's boundary,
    where u_i is smooth; inside the basin u_i runs down valleys (the flow
    lines from the boundary to O_j) that the grid does not resolve, and
    whose computed values err low. So where saddles on the boundary of
    basin j have u_i's value from the other side (:func:`saddle_value`),
    tilde-V_ij is the least of those and of u_i over the nodes of basin j
    next to another basin, away from those saddles (SADDLE_BALL_CELLS),
    which catches an exit that is not such a saddle. Without them: the least
    u_i over basin j and the neighbourhood of O_j."""
    k = len(local)
    direct = np.full((k, k), np.inf)
    for j in range(k):
        ring = _ring(labels, j, outside=False)
        for i in range(k):
            if i == j:
                continue
            u = local[i].values
            # Saddles into basin j from another: u_i read on that other side.
            crossings = _crossings(local[i], labels, saddles, [
                (s, int(links[s, c])) for s in range(len(saddles)) for c in (0, 1)
                if links[s, 1 - c] == j and links[s, c] >= 0 and links[s, c] != j])
            if crossings:
                away = ring & _away_from(grid, saddles[[s for _, s in crossings]])
                direct[i, j] = min(min(v for v, _ in crossings), float(np.min(u[away])) if away.any() else np.inf)
            else:
                direct[i, j] = float(np.min(u.reshape(-1)[near[j] | (labels.reshape(-1) == j)]))
    np.fill_diagonal(direct, 0.0)
    return direct


def _crossings(qp: QuasiPotential, labels: np.ndarray, saddles: np.ndarray, sides) -> List[Tuple[float, int]]:
    """(u at saddle s read from basin ``side``'s nodes, s) for each (s, side)
    given, where that value is finite (:func:`saddle_value`)."""
    values = [(saddle_value(qp, labels, saddles[s], side), s) for s, side in sides]
    return [(v, s) for v, s in values if np.isfinite(v)]


# Nodes next to a basin's boundary within this many cells of a saddle whose
# value is known leave the least value over the boundary to that value:
# beyond the saddle they lie in u_i's valley.
SADDLE_BALL_CELLS = 2.0


def _ring(labels: np.ndarray, j: int, outside: bool) -> np.ndarray:
    """The nodes of basin j next to a node of no or another basin (with
    ``outside``: the nodes outside basin j next to one of it)."""
    inside = labels == j
    near = np.zeros_like(inside)
    for k in range(labels.ndim):
        for step in (-1, 1):
            off = [0] * labels.ndim
            off[k] = step
            near |= _neighbour_shift(inside if outside else ~inside, off, False)
    return near & (~inside if outside else inside)


def _away_from(grid: Grid, points: np.ndarray) -> np.ndarray:
    """False at the nodes within SADDLE_BALL_CELLS cells of any of the points."""
    keep = np.ones(grid.shape, dtype=bool)
    for z in points:
        box, _, close = nodes_near(grid, z, SADDLE_BALL_CELLS)
        keep[box] &= ~close
    return keep


def _exits(grid: Grid, labels: np.ndarray, local: Sequence[QuasiPotential], saddles: np.ndarray,
           links: np.ndarray, closed=()):
    """Each basin's exit cost, exit point and whether the basin reaches the
    box edge below it (with a warning), on the sides of the box other than
    ``closed`` ((axis, end) pairs on the state space's own boundary, which
    no path crosses). The exit cost is the least of u_i at the saddles on
    the basin's boundary (:func:`saddle_value`, from the basin's side) and
    over the first nodes outside the basin away from them (as for
    :func:`_direct_costs`); the exit point is that saddle, or the node (the
    saddle there if one is within two cells)."""
    k = len(local)
    h = np.asarray(grid.spacing)
    exit_costs = np.full(k, np.inf)
    exit_points = np.full((k, grid.ndim), np.nan)
    exit_on_edge = np.zeros(k, dtype=bool)
    for i in range(k):
        # Saddles out of basin i: u_i read on its side.
        crossings = _crossings(local[i], labels, saddles, [
            (s, i) for s in range(len(saddles)) for c in (0, 1) if links[s, c] == i and links[s, 1 - c] != i])
        keep = _away_from(grid, saddles[[s for _, s in crossings]]) if crossings else None
        best, where, edge_best = _exit(grid, labels, local[i].values, i, closed, keep)
        if crossings and min(crossings)[0] <= best:
            best, s = min(crossings)
            exit_points[i] = saddles[s]
        elif where is not None:
            p = np.asarray(grid.lower) + where * h
            if len(saddles):
                dist = np.linalg.norm(saddles - p, axis=1)
                if dist.min() <= 2 * h.max():
                    p = saddles[int(np.argmin(dist))]
            exit_points[i] = p
        exit_costs[i] = best
        if edge_best < best:
            exit_on_edge[i] = True
            _warn.warn(
                f"the basin of attractor {i} reaches the box edge where its quasi-potential "
                f"is {edge_best:.6g}, below its exit cost {best:.6g} inside the box: enlarge the box",
                UserWarning,
            )
    return exit_costs, exit_points, exit_on_edge


def _neighbour_shift(a: np.ndarray, off: Sequence[int], fill) -> np.ndarray:
    """a shifted so that out[n] = a[n + off] (fill beyond the edge)."""
    out = np.full_like(a, fill)
    src = tuple(slice(max(o, 0), a.shape[k] + min(o, 0)) for k, o in enumerate(off))
    dst = tuple(slice(max(-o, 0), a.shape[k] + min(-o, 0)) for k, o in enumerate(off))
    out[dst] = a[src]
    return out


def _exit(grid: Grid, labels: np.ndarray, values: np.ndarray, i: int, closed=(), keep=None):
    """Least value over the first nodes outside basin i (where ``keep``,
    if given), where it sits, and the least value on the basin's own nodes
    on the box edge (its sides other than ``closed``)."""
    inside = labels == i
    outside = _ring(labels, i, outside=True)
    if keep is not None:
        outside &= keep
    d = grid.ndim
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
            if (k, end) not in closed:
                sl[k] = end
                edge[tuple(sl)] = True
    on_edge = edge & inside
    edge_best = float(np.min(values[on_edge])) if on_edge.any() else np.inf
    return best, where, edge_best
