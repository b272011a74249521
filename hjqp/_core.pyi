"""Compiled kernel of hjqp (private: use the hjqp package)."""

from typing import Optional, Sequence, Tuple

import numpy as np

RULE_UNREACHED: int
RULE_SEED: int
RULE_JET: int
RULE_PINNED_JET: int
RULE_NEIGHBOUR: int
FLOW_CAPTURED: int
FLOW_STALLED: int
FLOW_LEFT_BOX: int
FLOW_MAX_STEPS: int

def march2d(
    lower: np.ndarray,
    spacing: np.ndarray,
    drift: np.ndarray,
    diffusion: np.ndarray,
    seed_nodes: np.ndarray,
    seed_values: np.ndarray,
    seed_gradients: np.ndarray,
    update_radius: float,
    max_turn: float,
    max_value: float,
    absorbing: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, dict]: ...
def eikonal2(
    spacing: np.ndarray,
    shape: Sequence[int],
    slowness: np.ndarray,
    metric: Optional[np.ndarray] = None,
    obstacle: Optional[np.ndarray] = None,
    phi: Optional[np.ndarray] = None,
    source: Optional[np.ndarray] = None,
    source_slowness: float = 1.0,
    source_metric: Optional[np.ndarray] = None,
    order: int = 2,
    max_value: float = ...,
    periodic: Sequence[bool] = ...,
    max_sweeps: int = 200,
) -> Tuple[np.ndarray, dict]: ...
def eikonal3(
    spacing: np.ndarray,
    shape: Sequence[int],
    slowness: np.ndarray,
    metric: Optional[np.ndarray] = None,
    obstacle: Optional[np.ndarray] = None,
    phi: Optional[np.ndarray] = None,
    source: Optional[np.ndarray] = None,
    source_slowness: float = 1.0,
    source_metric: Optional[np.ndarray] = None,
    order: int = 2,
    max_value: float = ...,
    periodic: Sequence[bool] = ...,
    max_sweeps: int = 200,
) -> Tuple[np.ndarray, dict]: ...
def march3d(
    lower: np.ndarray,
    spacing: np.ndarray,
    drift: np.ndarray,
    diffusion: np.ndarray,
    seed_nodes: np.ndarray,
    seed_values: np.ndarray,
    seed_gradients: np.ndarray,
    update_radius: float,
    max_turn: float,
    max_value: float,
    absorbing: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, dict]: ...
def flow_ends2(
    lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, starts: np.ndarray,
    targets: np.ndarray, step_cells: float, max_dt: float, stall_speed: float,
    capture_radius: float, max_steps: int, threads: int,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def flow_ends3(
    lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, starts: np.ndarray,
    targets: np.ndarray, step_cells: float, max_dt: float, stall_speed: float,
    capture_radius: float, max_steps: int, threads: int,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def basin_labels2(
    lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, targets: np.ndarray,
    step_cells: float, max_dt: float, stall_speed: float, capture_radius: float,
    max_steps: int, threads: int,
) -> Tuple[np.ndarray, np.ndarray]: ...
def basin_labels3(
    lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, targets: np.ndarray,
    step_cells: float, max_dt: float, stall_speed: float, capture_radius: float,
    max_steps: int, threads: int,
) -> Tuple[np.ndarray, np.ndarray]: ...
def one_point_update2(
    y: np.ndarray, uy: float, by: np.ndarray, dy: np.ndarray,
    x: np.ndarray, bx: np.ndarray, dx: np.ndarray,
) -> Tuple[float, np.ndarray, float, bool, bool]: ...
def triangle_update2(
    a: np.ndarray, ua: float, ba: np.ndarray, da: np.ndarray,
    b: np.ndarray, ub: float, bb: np.ndarray, db: np.ndarray,
    x: np.ndarray, bx: np.ndarray, dx: np.ndarray,
) -> Tuple[float, np.ndarray, float, bool, bool]: ...
def jet_update2(
    lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, diffusion: np.ndarray,
    a: int, ua: float, ga: np.ndarray, b: int, ub: float, gb: np.ndarray, x: int, s0: float,
) -> Tuple[float, np.ndarray, float, bool, bool]: ...
def tetrahedron_update3(
    a: np.ndarray, ua: float, ba: np.ndarray, da: np.ndarray,
    b: np.ndarray, ub: float, bb: np.ndarray, db: np.ndarray,
    c: np.ndarray, uc: float, bc: np.ndarray, dc: np.ndarray,
    x: np.ndarray, bx: np.ndarray, dx: np.ndarray,
) -> Tuple[float, np.ndarray, float, float]: ...

class SampledSDE2:
    def __init__(self, lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, sigma: np.ndarray) -> None: ...

class SampledSDE3:
    def __init__(self, lower: np.ndarray, spacing: np.ndarray, drift: np.ndarray, sigma: np.ndarray) -> None: ...

EM_STEP_BLOCK: int
PATH_RUNNING: int
PATH_EXITED: int
PATH_LEFT_GRID: int

def em_store2(sde: SampledSDE2, x0: np.ndarray, paths: np.ndarray, eps: float, dt: float, seed: int,
              n0: int, n1: int, thin: int, threads: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def em_store3(sde: SampledSDE3, x0: np.ndarray, paths: np.ndarray, eps: float, dt: float, seed: int,
              n0: int, n1: int, thin: int, threads: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def em_exit2(sde: SampledSDE2, x0: np.ndarray, paths: np.ndarray, eps: float, dt: float, seed: int,
             n0: int, n1: int, kind: int, center: np.ndarray, radius: float, lower: np.ndarray,
             upper: np.ndarray, level: Optional[np.ndarray] = ..., *, shift: float,
             threads: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def em_exit3(sde: SampledSDE3, x0: np.ndarray, paths: np.ndarray, eps: float, dt: float, seed: int,
             n0: int, n1: int, kind: int, center: np.ndarray, radius: float, lower: np.ndarray,
             upper: np.ndarray, level: Optional[np.ndarray] = ..., *, shift: float,
             threads: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def em_tally2(sde: SampledSDE2, x0: np.ndarray, paths: np.ndarray, cores: np.ndarray, eps: float,
              dt: float, seed: int, n0: int, n1: int, centers: np.ndarray, radii: np.ndarray,
              labels: Optional[np.ndarray] = ..., n_labels: int = ..., histogram: bool = ...,
              *, threads: int) -> Tuple[np.ndarray, ...]: ...
def em_tally3(sde: SampledSDE3, x0: np.ndarray, paths: np.ndarray, cores: np.ndarray, eps: float,
              dt: float, seed: int, n0: int, n1: int, centers: np.ndarray, radii: np.ndarray,
              labels: Optional[np.ndarray] = ..., n_labels: int = ..., histogram: bool = ...,
              *, threads: int) -> Tuple[np.ndarray, ...]: ...
def em_normals(seed: int, path: int, block: int, n: int) -> np.ndarray: ...
