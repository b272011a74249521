"""The quasi-potential near a stable limit cycle to second order (the
initial data of a solve from a cycle): U = 1/2 y^T Q(t) y in the normal
directions, Q from the periodic Riccati equation along the cycle, handed to
the kernel's march as seeds in a tube around the cycle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..grid import Grid
from ..problem.cycle import LimitCycle, _jacobian_step, integrate_cycle

__all__ = ["CycleExpansion", "cycle_expansion", "cycle_seeds", "nodes_near_cycle", "CYCLE_DATA"]

#: How the local data of a cycle are computed: "riccati" (the periodic
#: Riccati equation along the cycle, exact to second order) or "frozen"
#: (at each point of the cycle the Lyapunov equation of the normal part of
#: Db and D, as if the cycle were an equilibrium in the normal plane: wrong
#: wherever Q changes along the cycle; kept for comparison).
CYCLE_DATA = ("riccati", "frozen")


@dataclass(frozen=True, eq=False)
class CycleExpansion:
    """U near a limit cycle G to second order:
    ``U(x) = 1/2 y^T Q(t) y + O(|y|^3)``, y = x - x(t) with x(t) the point
    of G nearest to x.

    Q(t) (d, d, symmetric, Q x'(t) = 0) is the pseudo-inverse, restricted
    to the plane normal to the cycle, of the periodic solution P(t) of the
    Lyapunov differential equation P' = A P + P A^T + D along the cycle
    (A = Db, D the diffusion there): equivalently Q solves the periodic
    Riccati equation Q' + A^T Q + Q A + Q D Q = 0 in the normal directions,
    the second-order part of the Hamilton-Jacobi equation. Orbits near the
    cycle carry their normal offsets n(t) by n' = A_n n (the part of the
    linearised flow normal to the cycle), whose monodromy has the cycle's
    nontrivial Floquet multipliers; P(0) solves the discrete Lyapunov
    equation P0 = M_n P0 M_n^T + S_n of one period.
    """

    cycle: LimitCycle
    hessians: np.ndarray  # Q at the cycle's samples, (n, d, d)
    method: str

    @property
    def center(self) -> np.ndarray:
        return self.cycle.point

    def _local(self, points):
        p = np.asarray(points, dtype=float)
        phase, foot, _ = self.cycle.nearest(p)
        n = len(self.hessians)
        k = np.floor(phase).astype(int)
        w = (phase - k)[..., None, None]
        Q = (1 - w) * self.hessians[k % n] + w * self.hessians[(k + 1) % n]
        return p - foot, Q

    def value(self, points) -> np.ndarray:
        """U at points (..., d), shape (...)."""
        y, Q = self._local(points)
        return 0.5 * np.einsum("...i,...ij,...j->...", y, Q, y)

    def gradient(self, points) -> np.ndarray:
        """grad U at points (..., d), shape (..., d)."""
        y, Q = self._local(points)
        return np.einsum("...ij,...j->...i", Q, y)

    def normal_hessians(self) -> np.ndarray:
        """The eigenvalues of Q in the normal plane at each sample, (n, d - 1), ascending."""
        return np.linalg.eigvalsh(self.hessians)[:, 1:]


def _normal_basis(tangent: np.ndarray) -> np.ndarray:
    """Orthonormal bases (n, d, d - 1) of the planes normal to unit tangents (n, d)."""
    d = tangent.shape[1]
    proj = np.eye(d) - tangent[:, :, None] * tangent[:, None, :]
    _, vec = np.linalg.eigh(proj)
    return vec[:, :, 1:]  # eigenvalue 0 first (the tangent), then the 1s


def cycle_expansion(fields, cycle: LimitCycle, method: str = "riccati") -> CycleExpansion:
    """The second-order expansion of U about a stable cycle (see
    :class:`CycleExpansion`) on the fields of a grid."""
    if method not in CYCLE_DATA:
        raise ValueError(f"cycle_data must be one of {CYCLE_DATA}, got {method!r}")
    n = len(cycle.curve)
    d = cycle.ndim
    jstep = _jacobian_step(fields)
    if method == "frozen":
        from ..problem.cycle import _drift_and_jacobian

        f = _drift_and_jacobian(fields.drift, jstep)
        A = np.array([f(x)[1] for x in cycle.curve])
        Dm = fields.diffusion(cycle.curve)
        t = cycle.velocity / np.linalg.norm(cycle.velocity, axis=1, keepdims=True)
        E = _normal_basis(t)
        An = np.einsum("nia,nij,njb->nab", E, A, E)
        Dn = np.einsum("nia,nij,njb->nab", E, Dm, E)
        Q = np.empty((n, d, d))
        for k in range(n):
            if not np.all(np.linalg.eigvals(An[k]).real < 0):
                raise ValueError("cycle_data='frozen' needs the normal part of Db to be stable at every point of "
                                 f"the cycle; it is not at {np.round(cycle.curve[k], 6).tolist()}")
            P = scipy.linalg.solve_continuous_lyapunov(An[k], -Dn[k])
            Q[k] = E[k] @ np.linalg.inv(0.5 * (P + P.T)) @ E[k].T
        return CycleExpansion(cycle, 0.5 * (Q + np.transpose(Q, (0, 2, 1))), method)

    def lyapunov(x, A, S):
        Dx = fields.diffusion(x[None])[0]
        return A @ S + S @ A.T + Dx

    pts, bs, phis, S = integrate_cycle(fields, cycle.curve[0], cycle.period, n, jacobian_step=jstep,
                                       extra=lyapunov, keep_phi=True)
    t0 = bs[0] / np.linalg.norm(bs[0])
    E0 = _normal_basis(t0[None])[0]
    Mn = E0.T @ phis[-1] @ E0
    Sn = E0.T @ S[-1] @ E0
    P0 = scipy.linalg.solve_discrete_lyapunov(Mn, 0.5 * (Sn + Sn.T))
    base = E0 @ P0 @ E0.T
    P = np.einsum("nij,jk,nlk->nil", phis, base, phis) + S
    t = bs / np.linalg.norm(bs, axis=1, keepdims=True)
    proj = np.eye(d) - t[:, :, None] * t[:, None, :]
    tt = t[:, :, None] * t[:, None, :]
    inner = np.einsum("nij,njk,nkl->nil", proj, P, proj) + tt
    Q = np.einsum("nij,njk,nkl->nil", proj, np.linalg.inv(inner), proj)
    Q = 0.5 * (Q + np.transpose(Q, (0, 2, 1)))
    return CycleExpansion(cycle, Q[:-1], method)


def nodes_near_cycle(grid: Grid, cycle: LimitCycle, radius: float) -> np.ndarray:
    """Flat indices (sorted, int64) of the nodes within ``radius`` of the
    cycle, and at least those within a cell diagonal (the corners of the
    cells it crosses). Candidates come from a distance transform of the
    nodes nearest to points along it; the distance is then exact."""
    from scipy import ndimage

    h = np.asarray(grid.spacing)
    lo = np.asarray(grid.lower)
    dense = cycle.resample(max(len(cycle.curve), int(np.ceil(4 * cycle.length / h.min()))))
    idx = np.clip(np.rint((dense - lo) / h).astype(int), 0, np.asarray(grid.shape) - 1)
    mark = np.ones(grid.shape, dtype=bool)
    mark[tuple(idx.T)] = False
    cells = ndimage.distance_transform_edt(mark, sampling=h)
    reach = max(radius, float(np.linalg.norm(h)))
    near = np.flatnonzero(cells.reshape(-1) <= reach + h.max())
    pts = np.asarray(grid.lower) + np.array(np.unravel_index(near, grid.shape)).T * h
    return near[cycle.distance(pts) <= reach].astype(np.int64)


def cycle_seeds(grid: Grid, expansion: CycleExpansion, radius: float):
    """Nodes (flat, sorted) within ``radius`` of the cycle (at least the
    nodes of the cells it crosses), with U and grad U from the expansion."""
    nodes = nodes_near_cycle(grid, expansion.cycle, radius)
    pts = np.asarray(grid.lower) + np.array(np.unravel_index(nodes, grid.shape)).T * np.asarray(grid.spacing)
    return nodes, np.maximum(expansion.value(pts), 0.0), np.ascontiguousarray(expansion.gradient(pts))
