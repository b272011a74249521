"""The local quasi-potential of an attractor: initial data from the local
expansion on nested refined grids, then the kernel's march."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from .. import _core, _interrupt, _memory, _validate, _warn
from ..grid import Grid
from ..problem import SDE, Fields, Hamiltonian, JumpFields, JumpHamiltonian, describe_node, refine_equilibrium
from ..problem.cycle import LimitCycle, is_curve, refine_cycle
from .cycle import CYCLE_DATA, cycle_expansion, cycle_seeds
from .expansion import LocalExpansion, local_expansion
from .hermite import hermite, nodal_derivatives

__all__ = ["QuasiPotential", "local_quasipotential", "solve_local", "warn_truncated_traces", "UpdateRule",
           "MAX_CELL_ASPECT", "CYCLE_INIT_CELLS"]

#: Which rule gave a node its value (``QuasiPotential.rules``): UNREACHED
#: (value +inf), SEED (initial data near the attractor), JET (the high-order
#: jet update), PINNED_JET (jet update from an end of the accepted region),
#: NEIGHBOUR (first-order update from the neighbours). An enum.IntEnum
#: defined by the kernel.
UpdateRule = _core.UpdateRule


@dataclass(frozen=True, eq=False)
class QuasiPotential:
    """The local quasi-potential U of an attractor on a grid.

    Attributes
    ----------
    values : ndarray, shape ``grid.shape``
        U at the nodes; ``+inf`` where the march did not reach.
    grad : ndarray, shape ``(*grid.shape, d)``
        grad U at the nodes (0 where not reached).
    attractor : ndarray, shape ``(d,)``
        The attractor O (refined by Newton's method), U(O) = 0; for a limit
        cycle its representative point ``cycle.point``.
    grid : Grid
    rules : ndarray of uint8, shape ``grid.shape``
        Which update rule gave each node its value (:class:`UpdateRule`).
    expansion : LocalExpansion or CycleExpansion
        U to third order about O (Lyapunov equation and cubic correction),
        or to second order about the cycle (periodic Riccati equation).
    info : dict
        Options used and counts from the march.
    sde : SDE, JumpHamiltonian or None
        The problem it was computed for (None when loaded from a file without
        it: :func:`hjqp.io.load` takes ``sde=``).
    metadata : dict
        What was passed to :func:`hjqp.io.save` (loaded results).
    cycle : LimitCycle or None
        The attractor when it is a limit cycle (U = 0 on its curve).
    """

    values: np.ndarray
    grad: np.ndarray
    attractor: np.ndarray
    grid: Grid
    rules: np.ndarray
    expansion: LocalExpansion
    info: dict = field(default_factory=dict)
    sde: Optional[Hamiltonian] = None
    metadata: dict = field(default_factory=dict, repr=False)
    cycle: Optional[LimitCycle] = None

    def __post_init__(self):
        # Read-only views: the interpolation caches derivatives of grad
        # (``_mixed_derivatives``), which an array changed in place would
        # leave stale. Copy an array to change it.
        for name in ("values", "grad", "attractor", "rules"):
            view = np.asarray(getattr(self, name)).view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)

    def __call__(self, points, *, fill_value: Optional[float] = None) -> np.ndarray:
        """U interpolated at points of shape ``(..., d)``; returns shape ``(...)``.

        Bicubic (tricubic in 3D) Hermite interpolation of the nodal values
        and gradients, the mixed derivatives by central differences of the
        gradient: fourth order where U is smooth. Cells with an unreached
        corner give +inf.
        Points outside the box raise ValueError unless ``fill_value`` is given.
        """
        return self._interpolate(points, fill_value, derivative=False)

    def gradient(self, points, *, fill_value: Optional[float] = None) -> np.ndarray:
        """grad U interpolated at points ``(..., d)``; returns ``(..., d)``."""
        return self._interpolate(points, fill_value, derivative=True)

    def _interpolate(self, points, fill_value, derivative):
        grid = self.grid
        d = grid.ndim
        p = _validate.real_array(points, "points")
        if p.ndim == 0 or p.shape[-1] != d:
            raise ValueError(f"points must have shape (..., {d}), got {p.shape}")
        lead = p.shape[:-1]
        p = p.reshape(-1, d)
        inside = grid.contains(p) & np.all(np.isfinite(p), axis=-1)
        if not inside.all() and fill_value is None:
            bad = p[~inside][0]
            raise ValueError(
                f"point {bad.tolist()} lies outside the box {grid.lower} - {grid.upper}; "
                "pass fill_value to evaluate anyway"
            )
        out_shape = (len(p), d) if derivative else (len(p),)
        out = np.full(out_shape, np.nan if fill_value is None else float(fill_value))
        q = p[inside]
        res = hermite(self.values, self._mixed_derivatives, grid, q, derivative)
        # In the cell that holds the attractor the local expansion is used:
        # it is what the march started from there, U(O) = 0 exactly, and on
        # coarse grids the cross derivatives the interpolation needs are poor
        # next to the attractor.
        near = (self._attractor_cell(q) if self.expansion is not None and self.cycle is None
                else np.zeros(len(q), dtype=bool))
        if near.any():
            e = self.expansion
            res[near] = e.gradient(q[near]) if derivative else np.maximum(e.value(q[near]), 0.0)
        out[inside] = res
        return out.reshape(lead + out_shape[1:])

    def _attractor_cell(self, q: np.ndarray) -> np.ndarray:
        """Which points lie in the (closed) grid cell containing the attractor."""
        grid = self.grid
        h, lo = np.asarray(grid.spacing), np.asarray(grid.lower)
        cell = np.clip(np.floor((self.attractor - lo) / h), 0, np.asarray(grid.shape) - 2)
        a, b = lo + cell * h, lo + (cell + 1) * h
        return np.all((q >= a) & (q <= b), axis=-1)

    @functools.cached_property
    def _mixed_derivatives(self) -> dict:
        return nodal_derivatives(self.grad, self.grid)


@_interrupt.interruptible
def local_quasipotential(
    sde: Hamiltonian,
    grid: Grid,
    attractor,
    *,
    update_radius: Optional[float] = None,
    init_cells: Optional[float] = None,
    init_levels: Optional[int] = None,
    max_value: float = math.inf,
    refine_attractor: bool = True,
    max_turn: float = 1.4,
    absorbing: Optional[np.ndarray] = None,
    supersample: Optional[int] = None,
    cycle_data: str = "riccati",
    threads: Optional[int] = None,
) -> QuasiPotential:
    """Local quasi-potential of an attractor: the viscosity solution of
    ``H(x, grad U) = 0`` with ``U(attractor) = 0``; for an SDE
    ``H = 1/2 p^T D p + b^T p``.

    Parameters
    ----------
    sde : SDE or JumpHamiltonian
        The SDE (drift b and diffusion D), or a Hamiltonian of the
        exponential family (:class:`hjqp.JumpHamiltonian`), marched with the
        geometric action h(x, v) = sup {<p, v> : H(x, p) <= 0} by a
        first-order ordered line integral method (see the kernel's
        ``jump_march.hpp``).
    grid : Grid
        A 2D or 3D grid; the march stops at the box edge.
    attractor : array_like (d,), LimitCycle, or array_like (n, d)
        A point near a stable equilibrium O of x' = b(x); refined by Newton's
        method unless ``refine_attractor=False``. Need not be a grid node.
        A stable limit cycle: a :class:`hjqp.LimitCycle` or a closed curve
        of n >= 3 points near one, refined by shooting (see
        :func:`hjqp.limit_cycle`; a LimitCycle is taken as it is with
        ``refine_attractor=False``). U = 0 on the cycle; the march starts
        from the nodes within ``init_cells`` cells of it, with U and grad U
        from the cycle's periodic Riccati equation (:class:`CycleExpansion`).
    update_radius : float, default 64 (SDE); 4 in 2D, 2 in 3D (JumpHamiltonian)
        SDE: how far (in cells) the characteristic is traced back to find an
        accepted edge to update from. Strongly rotational drifts, whose
        characteristics cross the level sets of U at grazing angles, need
        long traces; the cost grows only where they are needed.
        JumpHamiltonian: an integer in [1, 8], how far (in cells) the
        updates reach back along the characteristic beyond the nodes within
        two cells. Strong rotation or anisotropy needs 4 or more (measured
        on ``models.jump_gaussian_limit(0.05)``, rotation 1, 129^2: largest
        error 0.058 with 2, 0.0026 with 4); each step costs about a third
        more time in 2D and doubles it in 3D.
    init_cells : float, default 16 in 2D, 4 in 3D (JumpHamiltonian: 4 and 2; a cycle: see CYCLE_INIT_CELLS)
        The march starts from the sublevel set of the local expansion whose
        smallest semi-axis spans this many cells (for a cycle: the tube of
        this radius in cells around it).
    init_levels : int, optional
        That region is itself computed on ``init_levels`` nested grids refined
        by factors of 2 around O (default: enough levels that the expansion is
        used only within about two cells of the main grid).
    max_value : float, default inf
        Stop the march once U exceeds this; further nodes are +inf.
    refine_attractor : bool, default True
        Newton-refine the attractor. With False it must be an equilibrium.
    max_turn : float, default 1.4
        Largest angle (radians) a traced characteristic may turn (SDE only).
    absorbing : ndarray of bool, shape ``grid.shape``, optional
        Nodes that receive their value but do not pass the front on: the
        result is then the cost of paths that avoid them (the direct costs
        between attractors, :func:`hjqp.landscape`). They must keep clear of
        the attractor's initial region.
    supersample : int or None, default None
        How callables are sampled at the nodes (see :class:`hjqp.problem.Fields`).
        None: at the nodes, and where a field jumps between nodes (an
        interface; smooth fields have none) as means over 8^2 (3D: 4^3)
        points of those nodes' cells, which place the interface where it
        is; ``info["supersampled_nodes"]`` counts them. s = 1: at the nodes
        only. s > 1: means over s^d points of every node's cell.
    cycle_data : {"riccati", "frozen"}
        A cycle's initial data (see :data:`hjqp.solve.cycle.CYCLE_DATA`):
        the periodic Riccati equation (default), or, for comparison only,
        the Lyapunov equation of the normal part of Db frozen at each point.
    threads : int, optional
        Threads that sample callable fields (default: the CPU count, at most
        8; see :class:`hjqp.problem.Fields`): the callables must then be
        safe to call from several threads at once, or ``threads=1``. The
        march itself runs on one thread; the result does not depend on
        ``threads``.

    Returns
    -------
    QuasiPotential

    Warns
    -----
    RuntimeWarning
        When, on a 2D grid below the level at which the front reaches the
        box edge (or an absorbing node), the characteristic traced back from
        10 nodes or more turned by more than ``max_turn`` before it crossed
        accepted nodes: strong rotation on a coarse grid, where the error is
        of order one (the README's scope section gives the measured limits).

    Raises
    ------
    ValueError
        For non-finite or non-SPD fields (naming the first bad node), callables
        returning wrong shapes, an attractor outside the box or not near a
        stable equilibrium, and out-of-range options.
    """
    qp, truncated = solve_local(
        sde, grid, attractor, update_radius=update_radius, init_cells=init_cells, init_levels=init_levels,
        max_value=max_value, refine_attractor=refine_attractor, max_turn=max_turn, absorbing=absorbing,
        supersample=supersample, cycle_data=cycle_data, threads=threads,
    )
    edge = np.zeros(grid.shape, dtype=bool)
    for axis in range(grid.ndim):
        edge[(slice(None),) * axis + (0,)] = True
        edge[(slice(None),) * axis + (-1,)] = True
    if absorbing is not None:
        edge |= np.asarray(absorbing) != 0
    level = float(np.min(qp.values[edge]))
    where = f"below U = {level:.4g}, where the front reaches the box edge" + (
        " or an absorbing node" if absorbing is not None else "")
    warn_truncated_traces(qp, truncated, qp.values < level, where)
    warn_negative_values(qp)
    return qp


# U < -NEGATIVE_TOLERANCE * max |U| is no rounding: a quasi-potential is
# never negative (the constant path at the attractor costs nothing).
NEGATIVE_TOLERANCE = 1e-6


def warn_negative_values(qp: QuasiPotential) -> None:
    """RuntimeWarning when the march left U negative beyond rounding: those
    values, and the costs read from them, are wrong."""
    finite = np.isfinite(qp.values)
    if not finite.any():
        return
    top = float(np.max(np.abs(qp.values[finite])))
    negative = finite & (qp.values < -NEGATIVE_TOLERANCE * top)
    n = int(np.count_nonzero(negative))
    if n == 0:
        return
    node = int(np.argmin(np.where(finite, qp.values, np.inf)))
    _warn.warn(
        f"the march from the attractor at {np.round(qp.attractor, 6).tolist()} left U negative at {n} of "
        f"{int(np.count_nonzero(finite))} reached nodes (least {float(qp.values.reshape(-1)[node]):.4g} at "
        f"{describe_node(qp.grid, node)}): a quasi-potential is never negative, so these values and costs "
        "read from them are wrong. Refine the grid or check the fields there.",
        RuntimeWarning,
    )


# Fewest nodes with a trace cut short that warn (2D). Measured: where
# rotation spoils the march at least 58 are (linear_rotational(40) on 129^2
# to 1025^2); isolated ones (1 to 8 in the test problems' landscapes) are
# not. In 3D the trace ends more often (a whole base triangle must be
# accepted) and the tetrahedron updates that take over are accurate:
# double_well_3d on 41^3 cuts 195 traces short in a basin, at nodes whose
# errors (0.018 at most) are below the basin's largest (0.054), with costs
# within 0.7 %; anisotropic_rotating_3d cuts 2 or 3. 3D nodes are counted in
# info, not warned about.
TRUNCATED_TRACES_WARNING = 10


def warn_truncated_traces(qp: QuasiPotential, truncated: np.ndarray, region: np.ndarray, where: str) -> None:
    """RuntimeWarning when nodes of `region` (bool, grid shape) had their
    characteristic trace cut short (`truncated`, from :func:`solve_local`).

    Measured on ``hjqp.models.linear_rotational``: no node is cut short where
    the march is accurate (rotation 20 on 129^2 nodes: error 1e-4), and some
    are wherever the error is of order one (rotation 40: 0.94 on 129^2, 0.15
    on 513^2). Where characteristics meet (beyond a saddle, at another
    attractor) traces are cut short harmlessly: callers pass the region
    where U is the attractor's own (:func:`hjqp.landscape`: its basin below
    its exit cost). A few isolated nodes do no harm, nor do those of 3D
    marches (``TRUNCATED_TRACES_WARNING``).
    """
    cut = truncated & region
    n = int(np.count_nonzero(cut))
    if qp.grid.ndim != 2 or n < TRUNCATED_TRACES_WARNING:
        return
    total = int(np.count_nonzero(region & np.isfinite(qp.values)))
    _warn.warn(
        f"the march from the attractor at {np.round(qp.attractor, 6).tolist()}: at {n} of the {total} "
        f"nodes {where} ({100 * n / max(total, 1):.3g} %) the characteristic traced back turned by more than "
        f"max_turn = {qp.info['max_turn']:g} (or ran update_radius = {qp.info['update_radius']:g} cells) "
        "before it crossed accepted nodes. Characteristics turn within a few cells there (strong "
        "rotation, or fields that change much from node to node), the nodes are settled to first order, "
        "and the error downstream of them can be of order one. Refine the grid (a larger update_radius "
        "does not help; README: Scope and limits).",
        RuntimeWarning,
    )


@_interrupt.interruptible
def solve_local(
    sde: Hamiltonian,
    grid: Grid,
    attractor,
    *,
    update_radius: Optional[float] = None,
    init_cells: Optional[float] = None,
    init_levels: Optional[int] = None,
    max_value: float = math.inf,
    refine_attractor: bool = True,
    max_turn: float = 1.4,
    absorbing: Optional[np.ndarray] = None,
    supersample: Optional[int] = None,
    cycle_data: str = "riccati",
    fields: Optional[Fields] = None,
    threads: Optional[int] = None,
) -> Tuple[QuasiPotential, np.ndarray]:
    """:func:`local_quasipotential` without its warning, and which nodes'
    characteristic traces were cut short.

    ``fields``, if given, is ``sde.fields(grid, supersample)`` already
    sampled: solves from several attractors on one grid (a landscape's)
    share it rather than each sampling the fields again (with cell means,
    the sampling can take longer than the march, and in Python it holds
    the GIL, so parallel solves would take turns at it).

    Returns
    -------
    QuasiPotential
    truncated : ndarray of bool, shape ``grid.shape``
        The nodes counted in ``info["truncated_traces"]``: their trace turned
        by more than ``max_turn`` (or ran ``update_radius`` cells) before it
        crossed accepted nodes, and they were settled to first order
        (always False for a JumpHamiltonian, whose march traces nothing).
    """
    if not isinstance(sde, Hamiltonian):
        raise TypeError(f"sde must be an hjqp.SDE or hjqp.JumpHamiltonian, got {type(sde).__name__}")
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
    if grid.ndim not in (2, 3):
        raise ValueError(f"local_quasipotential solves on 2D and 3D grids; this grid is {grid.ndim}D")
    jump = isinstance(sde, JumpHamiltonian)
    on_cycle = is_curve(attractor)
    if on_cycle and jump:
        raise ValueError("limit cycles are solved for SDEs (the quadratic Hamiltonian); "
                         "this is a JumpHamiltonian")
    if jump:
        if update_radius is None:
            update_radius = 4 if grid.ndim == 2 else 2
        lo, hi = _core.JUMP_RADIUS_RANGE
        if not (isinstance(update_radius, (int, np.integer)) and lo <= update_radius <= hi):
            raise ValueError(f"update_radius must be an integer in [{lo}, {hi}] for a JumpHamiltonian, "
                             f"got {update_radius!r}")
    else:
        if update_radius is None:
            update_radius = 64.0
        _validate.in_range("update_radius", update_radius, *_core.UPDATE_RADIUS_RANGE)
    if init_cells is None:
        init_cells = default_init_cells(grid.ndim, jump)
        if on_cycle:
            init_cells = CYCLE_INIT_CELLS[grid.ndim]
    _validate.in_range("init_cells", init_cells, 1.0, 1e4)
    _validate.in_range("max_turn", max_turn, *_core.MAX_TURN_RANGE)
    if not (isinstance(max_value, (int, float)) and max_value > 0):
        raise ValueError(f"max_value must be a positive number, got {max_value!r}")
    if init_levels is not None and not (isinstance(init_levels, (int, np.integer)) and 0 <= init_levels <= 10):
        raise ValueError(f"init_levels must be an integer in [0, 10], got {init_levels!r}")

    if absorbing is not None:
        absorbing = np.asarray(absorbing)
        if absorbing.shape != grid.shape or absorbing.dtype.kind not in "bui":
            raise ValueError(
                f"absorbing must be a boolean array of shape {grid.shape}, got "
                f"{absorbing.dtype} {absorbing.shape}"
            )
        absorbing = np.ascontiguousarray(absorbing != 0, dtype=np.uint8)

    ratio = max(grid.spacing) / min(grid.spacing)
    if ratio > MAX_CELL_ASPECT:
        raise ValueError(
            f"grid cells are too elongated for the march: spacing {tuple(float(f'{h:.6g}') for h in grid.spacing)} "
            f"has aspect ratio {ratio:.3g} > {MAX_CELL_ASPECT:g}; choose nodes per axis in proportion to the "
            "box's sides (the error grows past ratio 2 and is of order one by ratio 8)"
        )
    jumps, varying = sde.jump_count(grid) if jump else (0, False)
    _memory.require(_memory.solve_bytes(grid, jumps, varying),
                    f"a solve on {' x '.join(map(str, grid.shape))} nodes" + (f" with {jumps} jumps" if jump else ""))
    if fields is None:
        fields = sde.fields(grid, supersample, threads=threads)
    elif not (fields.sde is sde and fields.grid == grid and fields.supersample == supersample
              and not fields.between_nodes):
        raise ValueError("fields must be sde.fields(grid, supersample) for the same sde, grid and supersample")
    if jump:
        fields.jump_arrays()  # checked before any work
    else:
        fields.kernel_arrays()
    if jump:
        options = dict(update_radius=int(update_radius))
    else:
        options = dict(update_radius=float(update_radius), max_turn=float(max_turn))
    cycle = None
    if on_cycle:
        if cycle_data not in CYCLE_DATA:
            raise ValueError(f"cycle_data must be one of {CYCLE_DATA}, got {cycle_data!r}")
        if isinstance(attractor, LimitCycle) and not refine_attractor:
            cycle = attractor
            if cycle.ndim != grid.ndim:
                raise ValueError(f"the cycle is {cycle.ndim}-dimensional, the grid {grid.ndim}-dimensional")
            if not grid.contains(cycle.curve).all():
                raise ValueError(f"the cycle leaves the box {grid.lower} - {grid.upper}")
        else:
            cycle = refine_cycle(fields, attractor)
        expansion = cycle_expansion(fields, cycle, cycle_data)
        center = cycle.point
        init_levels = 0
        nodes, seed_u, seed_g = cycle_seeds(grid, expansion, init_cells * min(grid.spacing))
    else:
        center, J = refine_equilibrium(fields, attractor, newton_steps=refine_attractor)
        expansion = local_expansion(fields, center, J)
        if init_levels is None:
            init_levels = max(0, math.ceil(math.log2(max(init_cells, 1.0) / 2.0)))
        nodes, seed_u, seed_g = _attractor_seeds(fields, expansion, init_cells, init_levels, options)
    if absorbing is not None and absorbing.reshape(-1)[nodes].any():
        first = nodes[np.flatnonzero(absorbing.reshape(-1)[nodes])[0]]
        raise ValueError(
            f"the absorbing region reaches into the initial region of the attractor at "
            f"{fields.describe_node(first)}; keep it further away or lower init_cells"
        )
    out = _run_march(fields, nodes, seed_u, seed_g, float(max_value), absorbing, options)
    values, grad, rules = out.values, out.gradients, out.rules
    truncated = out.truncated.astype(bool) if not jump else np.zeros(grid.shape, dtype=bool)
    st = out.stats
    if jump:
        info = dict(accepted=st.accepted, updates=st.updates, supports=st.supports, dual=st.dual,
                    unreachable=st.unreachable, linear_edges=st.linear_edges)
    else:
        info = dict(accepted=st.accepted, jet=st.jet, pinned_jet=st.pinned_jet, neighbour=st.neighbour,
                    jet_updates=st.jet_updates, truncated_traces=st.truncated_traces)
        if grid.ndim == 3:
            info["retraced"] = st.retraced
    if np.isfinite(max_value):
        # The initial region may reach past max_value on coarse grids.
        above = values > max_value
        values[above] = np.inf
        grad[above] = 0.0
        rules[above] = UpdateRule.UNREACHED
        truncated[above] = False
    info.update(options, init_cells=float(init_cells), init_levels=int(init_levels), seeds=int(len(nodes)),
                supersample=fields.supersample, supersampled_nodes=dict(fields.supersampled))
    if cycle is not None:
        info.update(cycle_data=cycle_data)
    return QuasiPotential(values, grad, center, grid, rules, expansion, info, sde, cycle=cycle), truncated


def _run_march(fields: Fields, nodes, seed_u, seed_g, max_value: float, absorbing, options: dict,
               expansions: bool = True):
    """The kernel's march on the fields' grid from seeded 1-jets: the jump
    march for a JumpHamiltonian's fields, the quadratic one otherwise
    (``expansions``: whether its 2D jet update may take Newton's differences
    from Taylor expansions of smooth fields)."""
    grid = fields.grid
    lower, spacing = np.asarray(grid.lower), np.asarray(grid.spacing)
    if isinstance(fields, JumpFields):
        weights, jumps = fields.jump_arrays()
        march = _core.jump_march2d if grid.ndim == 2 else _core.jump_march3d
        return march(lower, spacing, weights, jumps, nodes, seed_u, seed_g, max_value=max_value,
                     absorbing=absorbing, **options)
    drift, diffusion = fields.kernel_arrays()
    march = _core.march2d if grid.ndim == 2 else _core.march3d
    return march(lower, spacing, drift, diffusion, nodes, seed_u, seed_g, max_value=max_value,
                 absorbing=absorbing, expansions=expansions, **options)


# Largest ratio of the grid spacings the march accepts. Measured on the linear
# rotational test with 65 nodes across y: largest error 3.3e-5 (square
# cells), 4.2e-5 (ratio 2), 1.9e-4 (ratio 4), 7.5e-3 (ratio 6), 0.26 (ratio 8):
# the traces and the neighbour fallback see far fewer upwind nodes along the
# long side.
MAX_CELL_ASPECT = 4.0

# The radius (cells) of the tube around a limit cycle whose nodes are
# seeded from the second-order expansion, by dimension.
CYCLE_INIT_CELLS = {2: 6.0, 3: 4.0}


def _seed_region(grid: Grid, expansion: LocalExpansion, level_value: float, radius: float) -> np.ndarray:
    """Flat indices of the nodes where 1/2 y^T Q y <= level_value and |y| <= radius."""
    C = np.linalg.inv(expansion.hessian)
    half = np.minimum(np.sqrt(2 * level_value * np.diag(C)), radius)
    h, lo = np.asarray(grid.spacing), np.asarray(grid.lower)
    i0 = np.clip(np.floor((expansion.center - half - lo) / h).astype(int), 0, np.asarray(grid.shape) - 1)
    i1 = np.clip(np.ceil((expansion.center + half - lo) / h).astype(int), 0, np.asarray(grid.shape) - 1)
    idx = np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(i0, i1)], indexing="ij")
    idx = np.stack([i.ravel() for i in idx])
    y = lo[:, None] + idx * h[:, None] - expansion.center[:, None]
    q = 0.5 * np.einsum("in,ij,jn->n", y, expansion.hessian, y)
    inside = (q <= level_value) & (np.einsum("in,in->n", y, y) <= radius**2)
    return np.sort(np.ravel_multi_index(idx[:, inside], grid.shape))


def _level_value(expansion: LocalExpansion, semi_axis: float) -> float:
    """The value u whose ellipse 1/2 y^T Q y = u has smallest semi-axis `semi_axis`."""
    lam_max = float(np.linalg.eigvalsh(expansion.hessian)[-1])
    return 0.5 * lam_max * semi_axis**2


def _local_grid(main: Grid, center: np.ndarray, half_width, factor: int) -> Optional[Grid]:
    """Grid refined by `factor` on the box center +- half_width (per axis,
    clipped to the main box), with nodes aligned with the main grid's."""
    h = np.asarray(main.spacing)
    lo = np.asarray(main.lower)
    i0 = np.maximum(np.floor((center - half_width - lo) / h), 0)
    i1 = np.minimum(np.ceil((center + half_width - lo) / h), np.asarray(main.shape) - 1)
    shape = tuple(int(v) for v in (i1 - i0) * factor + 1)
    if min(shape) < 3:
        return None
    return Grid(lo + i0 * h, lo + i1 * h, shape)


def default_init_cells(ndim: int, jump: bool) -> float:
    """The initial region's smallest semi-axis in cells, by default."""
    # The jump march's first cells near the attractor are as accurate from a
    # small initial region as from a large one (measured on
    # models.jump_cyclic: the same errors at 129^2 and 257^2 from 4 and 16
    # cells), and its nested initial marches are costly.
    if jump:
        return 4.0 if ndim == 2 else 2.0
    return 16.0 if ndim == 2 else 4.0


def _attractor_seeds(fields: Fields, expansion: LocalExpansion, init_cells: float, levels: int, options: dict):
    """Nodes, values and gradients of the main grid's initial region.

    The region is the sublevel set of the quadratic part of the expansion
    whose smallest semi-axis spans `init_cells` cells. Its values come from
    marches on grids refined by 2, 4, ..., 2**levels around the attractor,
    each started in the same way from the next finer one; only the finest
    uses the expansion itself. Each march then works at the same distance
    from the attractor in its own cells, where the characteristics curve
    slowly enough for the jet update, and the expansion is used only where
    its O(|y|^4) error is negligible.
    """
    main = fields.grid
    h0 = min(main.spacing)
    sde = fields.sde
    if isinstance(fields, JumpFields):
        arrays = any(isinstance(getattr(sde, n), np.ndarray) and getattr(sde, n).ndim > 2 for n in ("weights", "jumps"))
    else:
        arrays = isinstance(sde.drift, np.ndarray) or isinstance(sde.diffusion, np.ndarray)
    # The grids from coarse (level 0, the main grid) to fine. Seed regions are
    # sublevel sets of the quadratic part, cut off at four times their
    # smallest semi-axis where Q is strongly anisotropic.
    grids = [main]
    targets = [_level_value(expansion, init_cells * h0)]
    radii = [4 * init_cells * h0]
    for level in range(1, levels + 1):
        factor = 2**level
        margin = (min(options["update_radius"], 16) + 4) * h0 / factor
        # The coarser level's seed region: its ellipse (the march runs to
        # twice its level value) within the cut-off radius.
        extent = np.minimum(np.sqrt(4 * targets[-1] * np.diag(np.linalg.inv(expansion.hessian))), radii[-1])
        g = _local_grid(main, expansion.center, 1.2 * extent + margin, factor)
        if g is None:
            break
        grids.append(g)
        targets.append(_level_value(expansion, init_cells * h0 / factor))
        radii.append(4 * init_cells * h0 / factor)

    # Finest level: the expansion.
    finest = grids[-1]
    nodes, seed_u, seed_g = _expansion_seeds(finest, expansion, _seed_region(finest, expansion, targets[-1],
                                                                            radii[-1]))
    for level in range(len(grids) - 1, 0, -1):
        g = grids[level]
        # Errors on these grids name points: their nodes are not the caller's.
        if arrays and isinstance(fields, JumpFields):
            local = JumpFields(JumpHamiltonian(fields.weights, fields.jumps), g, between_nodes=True,
                               threads=fields.threads)
        elif arrays:
            local = Fields(SDE(fields.drift, fields.diffusion), g, between_nodes=True, threads=fields.threads)
        elif isinstance(fields, JumpFields):
            local = JumpFields(sde, g, fields.supersample, between_nodes=True, threads=fields.threads)
        else:
            local = Fields(sde, g, fields.supersample, between_nodes=True, threads=fields.threads)
        # The initial region seeds everything downstream: its refined grids
        # (small) are marched with every difference interpolated anew.
        fine = _run_march(local, nodes, seed_u, seed_g, 2.0 * targets[level - 1], None, options, expansions=False)
        values, grad = fine.values, fine.gradients
        coarse = grids[level - 1]
        nodes = _seed_region(coarse, expansion, targets[level - 1], radii[level - 1])
        # Coarse node -> the fine node at the same place.
        cidx = np.array(np.unravel_index(nodes, coarse.shape)).T
        cpts = np.asarray(coarse.lower) + cidx * np.asarray(coarse.spacing)
        fidx = np.rint((cpts - np.asarray(g.lower)) / np.asarray(g.spacing)).astype(int)
        inside = np.all((fidx >= 0) & (fidx < np.asarray(g.shape)), axis=1)
        nodes, fidx = nodes[inside], fidx[inside]
        flat = np.ravel_multi_index(fidx.T, g.shape)
        seed_u = values.reshape(-1)[flat]
        seed_g = grad.reshape(-1, g.ndim)[flat]
        ok = np.isfinite(seed_u) & np.all(np.isfinite(seed_g), axis=1)
        nodes, seed_u, seed_g = nodes[ok], seed_u[ok], seed_g[ok]
        if len(nodes) == 0:
            # No coarse node in the seed region, or none the finer march
            # reached (grids of a few nodes): the expansion at the nearest one.
            nodes, seed_u, seed_g = _expansion_seeds(coarse, expansion, np.array([], dtype=np.int64))
    return nodes.astype(np.int64), seed_u, np.ascontiguousarray(seed_g)


def _expansion_seeds(grid: Grid, expansion: LocalExpansion, nodes: np.ndarray):
    """Seeds from the expansion at those of the given nodes where its cubic
    part is a correction: at most half its quadratic part. Beyond, the
    expansion is no approximation of U (on grids too coarse for the
    attractor's neighbourhood it went negative there, with large
    gradients). Without such a node, the nearest node to the attractor,
    from the quadratic part alone if the cubic one is not a correction
    there either."""
    def jets(nodes):
        pts = grid.node_points(nodes)
        quadratic, value = expansion.quadratic_value(pts), expansion.value(pts)
        return pts, quadratic, value, np.abs(value - quadratic) <= 0.5 * quadratic

    pts, quadratic, value, kept = jets(nodes)
    if np.any(kept):
        return nodes[kept], value[kept], expansion.gradient(pts[kept])
    nodes = np.array([np.ravel_multi_index(grid.nearest_node(expansion.center), grid.shape)])
    pts, quadratic, value, kept = jets(nodes)
    if kept[0]:
        return nodes, value, expansion.gradient(pts)
    return nodes, quadratic, (pts - expansion.center) @ expansion.hessian.T
