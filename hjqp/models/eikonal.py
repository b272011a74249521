"""An eikonal problem with a position-dependent metric and its exact
solution, and where a value function's errors are measured."""

from __future__ import annotations

import numpy as np

__all__ = ["eikonal_manufactured", "unconstrained_region"]


def eikonal_manufactured(x: np.ndarray, x0: np.ndarray):
    """An eikonal problem with a position-dependent metric and its exact solution.

    ``u(x) = |q|_{M0} (1 + q_0 / 2)``, q = x - x0, with M(x) = R(theta) diag(1, 9)
    R(theta)^T rotating with theta = 0.4 + 1.5 x_0 + x_1, M0 = M(x0), and the
    slowness ``s = |grad u|_{M(x)^{-1}}``. On [0, 1]^2 with x0 = (1/2, 1/2), u
    grows along every ray from x0 and grad u never vanishes, so u is the
    smooth solution of ``|grad u|_{M^{-1}} = s`` with u(x0) = 0; s(x0) = 1.

    Parameters
    ----------
    x : ndarray (..., 2)
    x0 : ndarray (2,)

    Returns
    -------
    metric (..., 2, 2), slowness (...), u (...)
    """
    def metric_at(theta):
        c, s = np.cos(theta), np.sin(theta)
        rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
        return rot @ np.diag([1.0, 9.0]) @ np.swapaxes(rot, -1, -2)

    metric = metric_at(0.4 + 1.5 * x[..., 0] + x[..., 1])
    m0 = metric_at(np.float64(0.4 + 1.5 * x0[0] + x0[1]))
    q = x - x0
    norm = np.sqrt(np.einsum("...i,ij,...j->...", q, m0, q))
    u = norm * (1.0 + 0.5 * q[..., 0])
    safe = np.where(norm > 0, norm, 1.0)
    grad = (q @ m0) / safe[..., None] * (1.0 + 0.5 * q[..., 0])[..., None]
    grad[..., 0] += 0.5 * norm
    slowness = np.sqrt(np.einsum("...i,...ij,...j->...", grad, np.linalg.inv(metric), grad))
    slowness[norm == 0] = 1.0
    return metric, slowness, u


def unconstrained_region(u: np.ndarray) -> np.ndarray:
    """The sublevel set {u <= 0.9 min of u on the box boundary} of a value
    function that grows along its optimal paths: those of its points stay
    inside it, so the box constrains none of them there (where errors
    against an unconstrained exact solution are measured)."""
    edge = np.ones(u.shape, dtype=bool)
    edge[tuple(slice(1, -1) for _ in u.shape)] = False
    return u <= 0.9 * u[edge].min()
