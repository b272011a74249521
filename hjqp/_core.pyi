"""Compiled kernel of hjqp (private: use the hjqp package)."""

import enum
from typing import Optional, Sequence, Tuple

import numpy as np

SPD_TOLERANCE: float
SYMMETRY_TOLERANCE: float
UPDATE_RADIUS_RANGE: Tuple[float, float]
MAX_TURN_RANGE: Tuple[float, float]
EM_STEP_BLOCK: int

# Ctrl-C for API calls (hjqp._interrupt)
def enter_call(start: Optional[int] = ...) -> int: ...
def exit_call() -> None: ...
def cancelled() -> bool: ...

class UpdateRule(enum.IntEnum):
    UNREACHED = 0
    SEED = 1
    JET = 2
    PINNED_JET = 3
    NEIGHBOUR = 4

class FlowStop(enum.IntEnum):
    CAPTURED = 0
    STALLED = 1
    LEFT_BOX = 2
    MAX_STEPS = 3
    CYCLE = 4

class PathStop(enum.IntEnum):
    RUNNING = 0
    EXITED = 1
    LEFT_GRID = 2
    STOPPED = 3

class DomainKind(enum.IntEnum):
    BALL = 0
    BOX = 1
    LEVEL_SET = 2

# -- the quasi-potential march ---------------------------------------------------------

class MarchStats:
    accepted: int
    jet: int
    pinned_jet: int
    neighbour: int
    jet_updates: int
    retraced: int
    truncated_traces: int

class MarchResult:
    values: np.ndarray
    gradients: np.ndarray
    rules: np.ndarray
    truncated: np.ndarray
    stats: MarchStats

def march2d(
    lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, diffusion: np.ndarray,
    seed_nodes: np.ndarray, seed_values: np.ndarray, seed_gradients: np.ndarray,
    update_radius: float, max_turn: float, max_value: float, absorbing: Optional[np.ndarray] = None,
    expansions: bool = True,
) -> MarchResult: ...
def march3d(
    lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, diffusion: np.ndarray,
    seed_nodes: np.ndarray, seed_values: np.ndarray, seed_gradients: np.ndarray,
    update_radius: float, max_turn: float, max_value: float, absorbing: Optional[np.ndarray] = None,
    expansions: bool = True,
) -> MarchResult: ...

def scan_fields2(drift: np.ndarray, diffusion: np.ndarray, limit: float) -> Tuple[bool, Tuple[float, float, float], bool]: ...
def scan_fields3(drift: np.ndarray, diffusion: np.ndarray, limit: float) -> Tuple[bool, Tuple[float, float, float], bool]: ...
def jump_cells(values: np.ndarray, ndim: int, ratio: float, reach: int, floor: float) -> np.ndarray: ...

# -- the march of Hamiltonians of the exponential family -----------------------------

JUMP_RADIUS_RANGE: Tuple[int, int]

class JumpMarchStats:
    accepted: int
    updates: int
    supports: int
    unreachable: int
    dual: int
    linear_edges: int

class JumpMarchResult:
    values: np.ndarray
    gradients: np.ndarray
    rules: np.ndarray
    stats: JumpMarchStats

def jump_march2d(
    lower: np.ndarray, spacing: np.ndarray, weights: np.ndarray, jumps: np.ndarray,
    seed_nodes: np.ndarray, seed_values: np.ndarray, seed_gradients: np.ndarray,
    update_radius: int, max_value: float, absorbing: Optional[np.ndarray] = None,
) -> JumpMarchResult: ...
def jump_march3d(
    lower: np.ndarray, spacing: np.ndarray, weights: np.ndarray, jumps: np.ndarray,
    seed_nodes: np.ndarray, seed_values: np.ndarray, seed_gradients: np.ndarray,
    update_radius: int, max_value: float, absorbing: Optional[np.ndarray] = None,
) -> JumpMarchResult: ...
def jump_support2d(weights: np.ndarray, jumps: np.ndarray, velocities: np.ndarray) -> Tuple[np.ndarray, np.ndarray]: ...
def jump_support3d(weights: np.ndarray, jumps: np.ndarray, velocities: np.ndarray) -> Tuple[np.ndarray, np.ndarray]: ...

# -- single local updates (for the tests' reference comparisons) -----------------------

class UpdateResult2:
    value: float
    gradient: np.ndarray
    s: float
    t: float
    below: bool
    above: bool
    t_below: bool
    t_above: bool
    turn: float

class UpdateResult3(UpdateResult2): ...

def one_point_update2(y: np.ndarray, uy: float, by: np.ndarray, dy: np.ndarray,
                      x: np.ndarray, bx: np.ndarray, dx: np.ndarray) -> UpdateResult2: ...
def triangle_update2(a: np.ndarray, ua: float, ba: np.ndarray, da: np.ndarray,
                     b: np.ndarray, ub: float, bb: np.ndarray, db: np.ndarray,
                     x: np.ndarray, bx: np.ndarray, dx: np.ndarray) -> UpdateResult2: ...
def cubic_fields2(lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, diffusion: np.ndarray,
                  points: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def jet_update2(lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, diffusion: np.ndarray,
                a: int, ua: float, ga: np.ndarray, b: int, ub: float, gb: np.ndarray, x: int,
                s0: float) -> UpdateResult2: ...
def tetrahedron_update3(a: np.ndarray, ua: float, ba: np.ndarray, da: np.ndarray,
                        b: np.ndarray, ub: float, bb: np.ndarray, db: np.ndarray,
                        c: np.ndarray, uc: float, bc: np.ndarray, dc: np.ndarray,
                        x: np.ndarray, bx: np.ndarray, dx: np.ndarray) -> UpdateResult3: ...
def triangle_jet_update3(points: np.ndarray, values: np.ndarray, gradients: np.ndarray, drift: np.ndarray,
                         diffusion: np.ndarray, x: np.ndarray, bx: np.ndarray, dx: np.ndarray,
                         ddrift: np.ndarray, dmetric: np.ndarray, u0: float, v0: float) -> UpdateResult3: ...

# -- the flow of the drift ---------------------------------------------------------------

class FlowEnds:
    points: np.ndarray
    reasons: np.ndarray
    targets: np.ndarray
    steps: np.ndarray

class BasinLabels:
    labels: np.ndarray
    reasons: np.ndarray
    steps: int

def flow_ends2(lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, starts: np.ndarray,
               targets: np.ndarray, step_cells: float, max_dt: float, stall_speed: float,
               capture_radius: float, max_steps: int, threads: int) -> FlowEnds: ...
def flow_ends3(lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, starts: np.ndarray,
               targets: np.ndarray, step_cells: float, max_dt: float, stall_speed: float,
               capture_radius: float, max_steps: int, threads: int) -> FlowEnds: ...
def basin_labels2(lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, targets: np.ndarray,
                  step_cells: float, max_dt: float, stall_speed: float, capture_radius: float,
                  max_steps: int, threads: int) -> BasinLabels: ...
def basin_labels3(lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, targets: np.ndarray,
                  step_cells: float, max_dt: float, stall_speed: float, capture_radius: float,
                  max_steps: int, threads: int) -> BasinLabels: ...

# -- the eikonal solver ------------------------------------------------------------------

class EikonalStats:
    accepted: int
    sweeps: int
    swept_nodes: int
    converged: bool

class EikonalResult:
    values: np.ndarray
    stats: EikonalStats
    seeds: int

def eikonal2(spacing: np.ndarray, shape: Sequence[int], slowness: np.ndarray, metric: Optional[np.ndarray] = None,
             obstacle: Optional[np.ndarray] = None, phi: Optional[np.ndarray] = None,
             source: Optional[np.ndarray] = None, source_slowness: float = 1.0,
             source_metric: Optional[np.ndarray] = None, order: int = 2, max_value: float = ...,
             periodic: Sequence[bool] = ..., max_sweeps: int = 200) -> EikonalResult: ...
def eikonal3(spacing: np.ndarray, shape: Sequence[int], slowness: np.ndarray, metric: Optional[np.ndarray] = None,
             obstacle: Optional[np.ndarray] = None, phi: Optional[np.ndarray] = None,
             source: Optional[np.ndarray] = None, source_slowness: float = 1.0,
             source_metric: Optional[np.ndarray] = None, order: int = 2, max_value: float = ...,
             periodic: Sequence[bool] = ..., max_sweeps: int = 200) -> EikonalResult: ...

# -- Euler-Maruyama over sampled fields --------------------------------------------------

class SampledSDE2:
    def __init__(self, lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, sigma: np.ndarray) -> None: ...

class SampledSDE3:
    def __init__(self, lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, sigma: np.ndarray) -> None: ...

class ReactionLattice:
    def __init__(self, lower: np.ndarray, size: np.ndarray, jumps: np.ndarray, rates: np.ndarray) -> None: ...
    @property
    def states(self) -> int: ...

class JumpEnds:
    ends: np.ndarray
    stops: np.ndarray
    events: np.ndarray
    suppressed: np.ndarray

class StoredJumps(JumpEnds):
    samples: np.ndarray

class ExitedJumps(JumpEnds):
    times: np.ndarray

class TalliedJumps(JumpEnds):
    cores: np.ndarray
    milestones: np.ndarray
    transitions: np.ndarray
    labels: np.ndarray

def jump_store(lattice: ReactionLattice, start: np.ndarray, paths: np.ndarray, seed: int, dt: float, m: int,
               threads: int) -> StoredJumps: ...
def jump_exit(lattice: ReactionLattice, start: np.ndarray, paths: np.ndarray, seed: int, inside: np.ndarray,
              max_time: float, threads: int) -> ExitedJumps: ...
def jump_tally(lattice: ReactionLattice, start: np.ndarray, paths: np.ndarray, seed: int, core_of: np.ndarray,
               cores: np.ndarray, k: int, burn_in: float, total: float, labels: Optional[np.ndarray] = ...,
               n_labels: int = ..., *, threads: int) -> TalliedJumps: ...

class PathEnds:
    ends: np.ndarray
    stops: np.ndarray
    steps: np.ndarray

class StoredPaths(PathEnds):
    samples: np.ndarray

class ExitedPaths(PathEnds):
    boundary: np.ndarray

class TalliedPaths(PathEnds):
    cores: np.ndarray
    milestones: np.ndarray
    transitions: np.ndarray
    labels: np.ndarray
    histogram: np.ndarray

def em_store2(sde: SampledSDE2, x0: np.ndarray, paths: np.ndarray, eps: float, dt: float, seed: int,
              n0: int, n1: int, thin: int, threads: int) -> StoredPaths: ...
def em_store3(sde: SampledSDE3, x0: np.ndarray, paths: np.ndarray, eps: float, dt: float, seed: int,
              n0: int, n1: int, thin: int, threads: int) -> StoredPaths: ...
def em_exit2(sde: SampledSDE2, x0: np.ndarray, paths: np.ndarray, eps: float, dt: float, seed: int,
             n0: int, n1: int, kind: DomainKind, center: np.ndarray, radius: float, lower: np.ndarray,
             upper: np.ndarray, level: Optional[np.ndarray] = ..., *, shift: float, threads: int) -> ExitedPaths: ...
def em_exit3(sde: SampledSDE3, x0: np.ndarray, paths: np.ndarray, eps: float, dt: float, seed: int,
             n0: int, n1: int, kind: DomainKind, center: np.ndarray, radius: float, lower: np.ndarray,
             upper: np.ndarray, level: Optional[np.ndarray] = ..., *, shift: float, threads: int) -> ExitedPaths: ...
def em_tally2(sde: SampledSDE2, x0: np.ndarray, paths: np.ndarray, cores: np.ndarray, eps: float,
              dt: float, seed: int, n0: int, n1: int, centers: np.ndarray, radii: np.ndarray,
              labels: Optional[np.ndarray] = ..., n_labels: int = ..., histogram: bool = ...,
              *, threads: int) -> TalliedPaths: ...
def em_tally3(sde: SampledSDE3, x0: np.ndarray, paths: np.ndarray, cores: np.ndarray, eps: float,
              dt: float, seed: int, n0: int, n1: int, centers: np.ndarray, radii: np.ndarray,
              labels: Optional[np.ndarray] = ..., n_labels: int = ..., histogram: bool = ...,
              *, threads: int) -> TalliedPaths: ...
def em_normals(seed: int, path: int, block: int, n: int) -> np.ndarray: ...
