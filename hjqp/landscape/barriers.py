"""Transition costs between given minima in any dimension, from minimum
action paths (:func:`hjqp.minimum_action`) instead of grids, and what the
landscape makes of them: W by minimum spanning arborescences, phi at the
minima, the selected minimum and the metastable Markov chain
(DESIGN.md section 1, "Global quasi-potential")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .. import _validate
from ..grid import Grid
from ..problem import Hamiltonian, newton
from ..problem.support import pointwise
from ..solve.action import minimum_action
from .markov import arborescence_costs, log_stationary, shortest_paths

__all__ = ["Barriers", "barriers", "refine_minimum"]


@dataclass(frozen=True, eq=False)
class Barriers:
    """Transition costs between minima and the global quasi-potential at
    them.

    Attributes
    ----------
    minima : ndarray (k, d)
        The stable equilibria O_1..O_k (Newton-refined).
    direct_costs : ndarray (k, k)
        tilde-V_ij: the action of the minimum action path from O_i over a
        saddle to O_j (+inf where that path runs through another minimum;
        zero diagonal). The exponents of the Markov chain's rates.
    costs : ndarray (k, k)
        V_ij, their shortest-path closure.
    saddles : ndarray (k, k, d)
        The saddle each path crosses (nan where none was found).
    W : ndarray (k,)
        Least cost of an i-graph (minimum spanning arborescence).
    global_values : ndarray (k,)
        phi at the minima, W_i - min W.
    selected : int
        The minimum the noise selects as eps -> 0 (phi = 0).
    paths : tuple of tuples
        paths[i][j]: the :class:`hjqp.MinimumAction` from O_i to the saddle
        (or to O_j where no saddle was found); None on the diagonal.
    converged : ndarray of bool (k, k)
    info : dict
    """

    minima: np.ndarray
    direct_costs: np.ndarray
    costs: np.ndarray
    saddles: np.ndarray
    W: np.ndarray
    global_values: np.ndarray
    selected: int
    paths: tuple
    converged: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.minima)

    def log_rates(self, eps: float) -> np.ndarray:
        """log k_ij = -tilde-V_ij / eps (leading order), -inf on the diagonal."""
        eps = _validate.eps(eps)
        L = -self.direct_costs / eps
        np.fill_diagonal(L, -np.inf)
        return L

    def stationary(self, eps: float) -> np.ndarray:
        """The metastable chain's stationary law (k,) at noise eps."""
        return np.exp(log_stationary(self.log_rates(eps)))


def refine_minimum(H: Hamiltonian, x0, *, grid: Optional[Grid] = None):
    """Newton's method on b(x) = 0 from x0, any d; returns the stable
    equilibrium and Db there. ValueError if Newton's method does not
    converge or the equilibrium is not stable."""
    inner = pointwise(H, H.fields(grid) if grid is not None else None)
    x0 = np.asarray(x0, dtype=float)
    scale = 1.0 + float(np.max(np.abs(x0)))
    xs, bs, Js = newton(inner.drift, x0[None], step=1e-6 * scale, max_step=0.1 * scale, tolerance=1e-14 * scale,
                        iterations=60)
    x, b, J = xs[0], bs[0], Js[0]
    size = float(np.linalg.norm(J)) * scale if np.all(np.isfinite(J)) else np.inf
    if not (np.all(np.isfinite(b)) and np.linalg.norm(b) <= 1e-8 * size) or np.linalg.norm(x - x0) > 0.5 * scale:
        raise ValueError(f"no equilibrium of the drift near {x0.tolist()}: Newton's method on b(x) = 0 ended at "
                         f"{np.round(x, 12).tolist()} with |b| = {np.linalg.norm(b):.3g}")
    eig = np.linalg.eigvals(J)
    if not np.all(eig.real < 0):
        raise ValueError(f"the equilibrium {np.round(x, 12).tolist()} is not a stable minimum: Db has eigenvalues "
                         f"with real parts up to {float(np.max(eig.real)):.4g}")
    return x, J


def barriers(H: Hamiltonian, minima, n_points: int = 100, *, via=None, grid: Optional[Grid] = None,
             refine: bool = True, tolerance: float = 1e-9, max_iterations: int = 5000) -> Barriers:
    """The transition costs between given minima, in any dimension, and the
    global quasi-potential at them.

    For each ordered pair (i, j): a minimum action path from O_i to O_j on
    ``n_points // 2`` points (loosely converged) locates the saddle it
    crosses (:func:`hjqp.solve.action.path_saddle`: the path's maximum of U,
    refined by Newton's method on b = 0 with one unstable direction); then
    the path from O_i to that saddle on ``n_points``, started from the first
    one's uphill part, gives tilde-V_ij (the flow beyond the saddle is free).
    The path from O_j to O_i starts from the reverse of the first. A path
    that runs through a third minimum is no direct transition
    (tilde-V_ij = +inf); the closure over chains gives V. W, phi and the
    selected minimum follow as on grids (:func:`hjqp.landscape`).

    Parameters
    ----------
    H : SDE or JumpHamiltonian
    minima : array_like (k, d), k >= 2
        Points near stable equilibria (refined by Newton's method unless
        ``refine=False``).
    n_points : int, default 100
    via : dict, optional
        ``{(i, j): points (m, d)}``: intermediate points for the first path
        from O_i to O_j (to choose among competing transitions).
    grid : Grid, optional
        For a problem given by arrays on a grid.
    refine : bool, default True
    tolerance, max_iterations : see :func:`hjqp.minimum_action`.

    Returns
    -------
    Barriers
    """
    if not isinstance(H, Hamiltonian):
        raise TypeError(f"H must be an hjqp.SDE or hjqp.JumpHamiltonian, got {type(H).__name__}")
    points = _validate.real_array(minima, "minima")
    if points.ndim != 2 or len(points) < 2 or points.shape[1] < 2 or not np.all(np.isfinite(points)):
        raise ValueError(f"minima must be a finite array of shape (k >= 2, d >= 2), got shape {points.shape}")
    if H.dim is not None and H.dim != points.shape[1]:
        raise ValueError(f"the Hamiltonian is {H.dim}-dimensional but the minima are {points.shape[1]}-dimensional")
    if isinstance(n_points, (bool, np.bool_)) or not (isinstance(n_points, (int, np.integer)) and n_points >= 10):
        raise ValueError(f"n_points must be an integer >= 10, got {n_points!r}")
    via = dict(via or {})
    k, d = points.shape
    O = np.array([refine_minimum(H, x, grid=grid)[0] for x in points]) if refine else points.copy()
    gaps = np.linalg.norm(O[:, None] - O[None], axis=-1) + np.diag(np.full(k, np.inf))
    if np.min(gaps) <= 1e-8 * (1.0 + np.max(np.abs(O))):
        i, j = np.unravel_index(np.argmin(gaps), gaps.shape)
        raise ValueError(f"minima {i} and {j} are the same equilibrium {np.round(O[i], 10).tolist()}")
    near = 0.05 * np.min(gaps)  # a path within this of a third minimum passes through it
    coarse = max(25, n_points // 2)
    direct = np.zeros((k, k))
    saddles = np.full((k, k, d), np.nan)
    converged = np.ones((k, k), dtype=bool)
    paths = [[None] * k for _ in range(k)]
    first = {}
    through = []
    options = dict(grid=grid, max_iterations=max_iterations)
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            start = {}
            if (i, j) in via:
                start["via"] = via[(i, j)]
            elif (j, i) in first:
                start["path"] = first[(j, i)].path[::-1]
            scout = minimum_action(H, O[i], O[j], coarse, tolerance=1e-6, **start, **options)
            first[(i, j)] = scout
            others = [m for m in range(k) if m not in (i, j)]
            if others and np.isfinite(scout.action):
                closest = np.min(np.linalg.norm(scout.path[:, None] - O[others][None], axis=-1))
                if closest <= near:
                    through.append((i, j))
                    direct[i, j] = np.inf
                    paths[i][j] = scout
                    continue
            if scout.saddle is None or not np.isfinite(scout.action):
                # No saddle to end at: the path to O_j itself, converged.
                result = minimum_action(H, O[i], O[j], n_points, path=scout.path, tolerance=tolerance, **options)
            else:
                z = scout.saddle
                uphill = np.vstack([scout.path[:scout.saddle_index], z[None]])
                if len(uphill) < 2:
                    uphill = np.vstack([O[i], z])
                result = minimum_action(H, O[i], z, n_points, path=uphill, tolerance=tolerance, **options)
                saddles[i, j] = z
            paths[i][j] = result
            direct[i, j] = result.action
            converged[i, j] = result.converged
    W = arborescence_costs(direct)
    if not np.isfinite(W).any():
        raise ValueError("no minimum can be reached from all the others: every i-graph has an infinite cost")
    w_min = float(np.min(W))
    info = dict(n_points=int(n_points), coarse_points=coarse, through_other_minima=through,
                time=float(sum(p.info["time"] for row in paths for p in row if p is not None)
                           + sum(s.info["time"] for s in first.values())))
    return Barriers(minima=O, direct_costs=direct, costs=shortest_paths(direct), saddles=saddles, W=W,
                    global_values=W - w_min, selected=int(np.argmin(W)), paths=tuple(tuple(r) for r in paths),
                    converged=converged, info=info)
