"""Equilibria of x' = b(x): the Jacobian Db by central differences and
Newton's method on b = 0, vectorised over starting points. One
implementation serves the attractor of a solve and the equilibria of a
landscape."""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np

from .. import _validate
from ..grid import Grid

__all__ = ["jacobians", "newton", "refine_equilibrium"]

Drift = Callable[[np.ndarray], np.ndarray]


def jacobians(drift: Drift, x: np.ndarray, step: float) -> np.ndarray:
    """Db at points (n, d) by central differences with the given step:
    (n, d, d), J[n, i, j] = d b_i / d x_j."""
    n, d = x.shape
    offsets = step * np.eye(d)
    plus = drift((x[:, None, :] + offsets).reshape(-1, d)).reshape(n, d, d)
    minus = drift((x[:, None, :] - offsets).reshape(-1, d)).reshape(n, d, d)
    return np.transpose((plus - minus) / (2 * step), (0, 2, 1))


def newton(drift: Drift, x0: np.ndarray, *, step: float, max_step: float, tolerance: float,
           iterations: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton's method on b(x) = 0 from each row of x0 (n, d), all rows
    together.

    Jacobians by central differences (``step``); steps longer than
    ``max_step`` are shortened to it, none is taken where the Jacobian is
    singular, and a point that leaves the finite numbers starts again from
    x0. Stops when every step is at most ``tolerance`` or after
    ``iterations``. Returns the points, b and Db there; the caller judges
    convergence (the residual, how far each point moved).
    """
    x = np.array(x0, dtype=float)
    for _ in range(iterations):
        b = drift(x)
        J = jacobians(drift, x, step)
        dx = np.zeros_like(x)
        ok = np.abs(np.linalg.det(J)) > 0
        if ok.any():
            dx[ok] = -np.linalg.solve(J[ok], b[ok][..., None])[..., 0]
        n = np.linalg.norm(dx, axis=1, keepdims=True)
        dx = np.where(n > max_step, dx * (max_step / np.maximum(n, 1e-300)), dx)
        x = x + dx
        x = np.where(np.isfinite(x), x, x0)
        if np.all(n <= tolerance):
            break
    return x, drift(x), jacobians(drift, x, step)


def refine_equilibrium(fields, x0, *, max_distance: Optional[float] = None,
                       newton_steps: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Newton's method on b(x) = 0 from x0 on the fields of a grid, and a
    check of stability.

    Returns the equilibrium and the Jacobian Db there. Raises ValueError if
    Newton's method does not converge to a point of the box within
    ``max_distance`` of x0 (default: a tenth of the box diagonal or ten grid
    spacings, whichever is larger), or if the equilibrium is not stable
    (some eigenvalue of Db with non-negative real part). With
    ``newton_steps=False`` x0 is taken as it is and must satisfy b(x0) = 0.
    """
    grid: Grid = fields.grid
    x0 = _validate.real_array(x0, "attractor")
    if x0.shape != (grid.ndim,):
        raise ValueError(f"attractor must be a point of shape ({grid.ndim},), got shape {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"attractor must be finite, got {x0.tolist()}")
    if not grid.contains(x0):
        raise ValueError(f"attractor {x0.tolist()} lies outside the box {grid.lower} - {grid.upper}")
    diameter = float(np.linalg.norm(np.subtract(grid.upper, grid.lower)))
    if max_distance is None:
        max_distance = max(0.1 * diameter, 10 * max(grid.spacing))
    xs, bs, Js = newton(fields.drift, x0[None], step=1e-6 * diameter, max_step=0.05 * diameter,
                        tolerance=1e-13 * diameter, iterations=60 if newton_steps else 0)
    x, b, J = xs[0], bs[0], Js[0]
    scale = np.linalg.norm(J) * diameter if np.all(np.isfinite(J)) else np.inf
    residual_ok = bool(np.all(np.isfinite(b)) and np.linalg.norm(b) <= 1e-8 * scale)
    if not residual_ok or np.linalg.norm(x - x0) > max_distance:
        raise ValueError(
            f"no equilibrium of the drift near {x0.tolist()}: Newton's method on b(x) = 0 "
            f"ended at {np.round(x, 12).tolist()} with |b| = {np.linalg.norm(b):.3g}"
        )
    if not grid.contains(x):
        raise ValueError(f"the equilibrium near {x0.tolist()} is at {x.tolist()}, outside the box")
    eig = np.linalg.eigvals(J)
    if not np.all(eig.real < 0):
        raise ValueError(
            f"the equilibrium {np.round(x, 12).tolist()} is not a stable attractor: "
            f"Db has eigenvalues {np.round(eig, 6).tolist()} (all real parts must be negative)"
        )
    return x, J
