"""Compiled kernel of hjqp (private: use the hjqp package)."""

from typing import Optional, Tuple

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
