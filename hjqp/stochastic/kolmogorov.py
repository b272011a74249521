"""The finite-eps judges: the stationary Fokker-Planck equation and the
backward Kolmogorov equation of an SDE on a grid, solved by sparse direct
methods.

For dx = b dt + sqrt(eps) Sigma dW, D = Sigma Sigma^T, the stationary
density rho solves

    0 = -div(b rho) + eps/2 sum_ij d_i d_j (D_ij rho)

with no flux through the box's faces, and Phi_eps = -eps ln rho is the
potential whose eps -> 0 limit is the global quasi-potential phi (the
paper's section 2.2). The mean first passage time tau to a target solves
L tau = -1 off the target, tau = 0 on it, with the generator
L = b . grad + eps/2 D : Hess; the committor q of two sets A, B solves
L q = 0 with q = 0 on A, 1 on B.

The discretisation, one for all three (so that they are adjoint): a Markov
jump process on the grid's nodes, a vertex-centred finite-volume scheme of
Scharfetter-Gummel type.

- Every jump P -> Q is fitted to lambda = 2 D^-1 b / eps, the gradient of
  ln rho in local equilibrium: its rate is c_P B(-Lambda_PQ) per unit mass,
  B(z) = z / (e^z - 1), Lambda_PQ the trapezoidal integral of lambda
  along the jump. B > 0 for every argument: the scheme is monotone, rho
  stays positive however small eps is. A pair of opposite jumps balances
  where rho follows exp(Lambda) (exact in one dimension: the
  Scharfetter-Gummel flux of a_k rho), and the drifts of all the pairs add
  up to b.
- Axis jumps carry the diagonal of D, jumps along the cell diagonals the
  off-diagonal entries (Kushner and Dupuis's positive stencil: P -> P +-
  (h_k e_k + s h_l e_l), s = sign D_kl, coefficient eps |D_kl| / 2). The
  diagonal jumps add eps |D_kl| h_k / h_l to the second moment along k, so
  the axis jumps carry a_k = D_kk - sum_l |D_kl| h_k / h_l, which must be
  positive: D diagonally dominant in the grid's metric. In 2D with square
  cells that holds at every orientation of D when its condition number is
  below 3 + 2 sqrt(2) = 5.83; otherwise a ValueError names the node. The
  cross jumps are left out on the box's boundary nodes (a_k = D_kk there):
  the box's no-flux condition is itself a modelling choice, meant where
  the density is negligible.
- Masses are exponentially fitted: along each axis a node stands for the
  integral over its dual cell of exp(q), q the quadratic through the
  log-density ratios to its two neighbours, capped at the cell's length. A
  well narrower than a cell (D_yy = 1e-4 in Example 4.1) then keeps its
  mass and its exit time.

Error: the trapezoidal Lambda makes ln rho and ln tau second order in h
with a constant proportional to 1 / eps (Phi_eps = -eps ln rho: second
order uniformly in eps for gradient systems with D = c I); measured in the
tests. The fitting is exact for the gradient part of the drift only: the
non-gradient part l = b + 1/2 D grad U (rotation along the level sets of
U) is fitted as if rho varied along it, which adds numerical diffusion of
relative size Pe_l = h |2 D^-1 l| / eps. Where Pe_l is well above 1 the
escape comes out too fast. Measured on the three-well model (rotation 0.5,
condition 4, both needed: either alone converges at second order), ln tau
from well 1 to well 2 on 101 x 76, 201 x 151, 401 x 301 nodes: 8.69, 9.46,
9.70 at V / eps = 10 (order 1.7), but 18.75, 21.05, 23.56 at V / eps = 25
(AMS: 24.5 +- 0.5), not yet converging. Refine until Pe_l is about 1, or
judge such cases by splitting (:func:`hjqp.stochastic.ams_rate`).

Precision at small eps. A plain LU of a metastable chain loses the escape
rate from a well, a difference of O(1) numbers: relative error
eps_machine exp(V / eps), all of it by V / eps ~ 35. The solves pin one node
in each well (the attractors, found by :func:`hjqp.equilibria` or given):
with a known value there no well is left in the sparse system. The pinned
values come from the chain reduced to the pins, eliminated with each pivot
summed from its row (Grassmann, Taksar and Heyman): no subtraction
anywhere. The stationary solve works with the embedded chain's measure
scaled by the chain's own discrete quasi-potential, so nothing under- or
overflows where rho does (Phi_eps comes from ln rho). Measured: exact
one-dimensional exit times to 1e-2 at V / eps = 100 and Boltzmann ratios
to discretisation error at V / eps = 500; tau itself overflows beyond
V / eps ~ 700.

Cost: a sparse LU (SuperLU): 2D grids of 1e5 nodes in seconds; 3D grids
of 31^3 nodes in about 6 s and 41^3 in about a minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from .. import _validate
from ..grid import Grid
from ..problem import SDE, describe_node
from .domains import Domain

__all__ = ["FokkerPlanck", "FirstPassage", "Committor", "fokker_planck", "mean_first_passage", "committor",
           "log_bernoulli"]

# Quadrature intervals per half cell for the fitted masses (each integrated
# exactly as an exponential of a linear function).
_MASS_PIECES = 8
# The stationary solve is redone with a refined scaling while ln g spans more
# than this (g = mu exp(-ell), see _stationary).
_SCALE_SPAN = 200.0


def log_bernoulli(z: np.ndarray) -> np.ndarray:
    """ln B(z), B(z) = z / (e^z - 1) (the Bernoulli function of the
    Scharfetter-Gummel flux), without overflow for any real z."""
    z = np.asarray(z, dtype=float)
    out = -0.5 * z  # |z| small: B = 1 - z/2 + z^2/12
    small = np.abs(z) < 1e-6
    pos = (z > 0) & ~small
    neg = (z < 0) & ~small
    out = np.where(small, -0.5 * z + z * z / 24.0, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        zp = np.where(pos, z, 1.0)
        zn = np.where(neg, z, -1.0)
        out = np.where(pos, np.log(zp) - zp - np.log(-np.expm1(-zp)), out)
        out = np.where(neg, np.log(-zn) - np.log(-np.expm1(zn)), out)
    return out


def _log_expmean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ln of the mean of exp over [0, 1] of the linear function from a to b."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    d = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        out = hi + np.where(d > 1e-8, np.log(-np.expm1(-d)) - np.log(np.where(d > 1e-8, d, 1.0)), -0.5 * d)
    return out


# -- the discrete generator ---------------------------------------------------------------

@dataclass(frozen=True)
class _Chain:
    """The Markov jump process on the grid's nodes: jumps src -> dst at
    rates exp(log_rate); log_mass = ln of each node's fitted cell volume."""

    grid: Grid
    eps: float
    src: np.ndarray
    dst: np.ndarray
    log_rate: np.ndarray
    log_mass: np.ndarray

    @property
    def n(self) -> int:
        return self.grid.size

    def log_exit_rate(self) -> np.ndarray:
        """ln of the total jump rate out of each node."""
        m = np.full(self.n, -np.inf)
        np.maximum.at(m, self.src, self.log_rate)
        s = np.zeros(self.n)
        np.add.at(s, self.src, np.exp(self.log_rate - m[self.src]))
        with np.errstate(divide="ignore"):
            return m + np.log(s)


def _fields(sde, grid: Grid, supersample: int) -> Tuple[np.ndarray, np.ndarray]:
    if not isinstance(sde, SDE):
        raise TypeError(f"the Fokker-Planck equation is solved for an hjqp.SDE, got {type(sde).__name__}")
    b, dm = sde.fields(grid, supersample).sample()
    d = grid.ndim
    return np.asarray(b, dtype=float), np.broadcast_to(np.asarray(dm, dtype=float), grid.shape + (d, d))


def _pairs(shape, offset) -> Tuple[tuple, tuple]:
    """Index tuples (P, P + offset) over the nodes whose shifted node is in the grid."""
    lo, hi = [], []
    for n, o in zip(shape, offset):
        lo.append(slice(max(0, -o), n - max(0, o)))
        hi.append(slice(max(0, o), n - max(0, -o)))
    return tuple(lo), tuple(hi)


class _Jumps:
    """Jumps collected pair by pair (P -> Q where ``forward``, Q -> P where
    ``backward``)."""

    def __init__(self):
        self.src, self.dst, self.logr = [], [], []

    def add(self, src, dst, logr_forward, logr_backward, forward, backward):
        self.src += [src[forward], dst[backward]]
        self.dst += [dst[forward], src[backward]]
        self.logr += [logr_forward[forward], logr_backward[backward]]

    def arrays(self):
        return tuple(np.concatenate(x) for x in (self.src, self.dst, self.logr))


def _chain(sde, grid: Grid, eps: float, supersample: int = 1, cut: Optional[np.ndarray] = None) -> _Chain:
    """The discrete generator (see the module's description). Every jump is
    fitted to lambda = 2 D^-1 b / eps, the log-density gradient of local
    equilibrium: the jump P -> Q has rate c_P B(-Lambda_PQ) per unit mass,
    Lambda_PQ the trapezoidal integral of lambda along it, so that a pair
    of jumps balances where rho follows exp(Lambda) and the drifts of all
    the pairs add up to b.

    ``cut`` (the signed distance to a target's boundary, positive inside
    it) shortens the axis jumps from a node off the target to one on it to
    the boundary point (Shortley-Weller), for Dirichlet problems on a domain.
    """
    b, dm = _fields(sde, grid, supersample)
    d, shape = grid.ndim, grid.shape
    h = np.asarray(grid.spacing)
    index = np.arange(grid.size).reshape(shape)
    lam = 2.0 * np.linalg.solve(dm, b[..., None])[..., 0] / eps
    interior = []
    for k in range(d):
        m = np.zeros(shape, dtype=bool)
        sl = [slice(None)] * d
        sl[k] = slice(1, shape[k] - 1)
        m[tuple(sl)] = True
        interior.append(m)

    # The cross terms' share of the diagonal: a_k = D_kk - sum_l |D_kl| h_k / h_l.
    a = np.stack([dm[..., k, k] for k in range(d)], axis=-1).copy()
    active = {}
    for k in range(d):
        for l in range(k + 1, d):
            act = dm[..., k, l] != 0
            active[k, l] = act
            a[..., k] -= np.where(act, np.abs(dm[..., k, l]) * h[k] / h[l], 0.0)
            a[..., l] -= np.where(act, np.abs(dm[..., k, l]) * h[l] / h[k], 0.0)
    bad = ~(a > 0)
    if bad.any():
        flat, k = np.unravel_index(int(np.flatnonzero(bad.reshape(-1))[0]), (grid.size, d))
        row = dm.reshape(-1, d, d)[flat]
        raise ValueError(
            f"the diffusion at {describe_node(grid, int(flat))} is too anisotropic for the monotone stencil on this "
            f"grid: D_kk = {row[k, k]:.6g} along axis {k} does not exceed sum_l |D_kl| h_k / h_l = "
            f"{row[k, k] - a.reshape(-1, d)[flat, k]:.6g} (D = {np.round(row, 6).tolist()}, spacing "
            f"{tuple(float(x) for x in h)}). The scheme needs D diagonally dominant in the grid's metric (in 2D "
            "with square cells: a condition number below 3 + 2 sqrt(2) = 5.83 at any orientation); choose "
            "spacings suited to D")
    log_a = np.log(a)

    # Fitted cell lengths along each axis, and the cut fractions.
    log_length = []
    theta = []
    for k in range(d):
        e = np.zeros(d, dtype=int)
        e[k] = 1
        P, E = _pairs(shape, e)
        # ln rho(E) - ln rho(P) in local equilibrium along the uncut edge
        step = h[k] * 0.5 * (lam[P][..., k] + lam[E][..., k]) + log_a[P][..., k] - log_a[E][..., k]
        up = np.full(shape, np.nan)
        down = np.full(shape, np.nan)
        up[P] = step
        down[E] = -step
        plus, minus = np.ones(shape), np.ones(shape)
        if cut is not None:
            crossing = (cut[P] <= 0) & (cut[E] > 0)
            plus[P] = np.where(crossing, np.clip(-cut[P] / np.where(crossing, cut[E] - cut[P], 1.0), 1e-3, 1.0), 1.0)
            crossing = (cut[E] <= 0) & (cut[P] > 0)
            minus[E] = np.where(crossing, np.clip(-cut[E] / np.where(crossing, cut[P] - cut[E], 1.0), 1e-3, 1.0), 1.0)
        theta.append((plus, minus))
        log_length.append(_log_cell_length(up, down, h[k], plus, minus))
    log_mass = np.sum(log_length, axis=0)

    jumps = _Jumps()
    half_eps = math.log(eps / 2)
    for k in range(d):
        e = np.zeros(d, dtype=int)
        e[k] = 1
        P, E = _pairs(shape, e)
        plus, minus = theta[k]
        lp, le = lam[P][..., k], lam[E][..., k]
        # P -> E over theta_plus(P) h, E -> P over theta_minus(E) h; lambda at
        # a cut point interpolated.
        t_f, t_b = plus[P], minus[E]
        lam_f = 0.5 * (lp + ((1 - t_f) * lp + t_f * le)) * t_f * h[k]
        lam_b = -0.5 * (le + ((1 - t_b) * le + t_b * lp)) * t_b * h[k]
        logr_f = half_eps + log_a[P][..., k] + log_bernoulli(-lam_f) - np.log(t_f * h[k]) - log_length[k][P]
        logr_b = half_eps + log_a[E][..., k] + log_bernoulli(-lam_b) - np.log(t_b * h[k]) - log_length[k][E]
        every = np.ones(lp.shape, dtype=bool)
        jumps.add(index[P].ravel(), index[E].ravel(), logr_f.ravel(), logr_b.ravel(), every.ravel(), every.ravel())
    # Cross terms: jump pairs along the cell diagonals (Kushner and Dupuis),
    # P -> P + (e_k + s e_l) for D_kl of sign s at P.
    for k in range(d):
        for l in range(k + 1, d):
            for s in (1, -1):
                e = np.zeros(d, dtype=int)
                e[k], e[l] = 1, s
                P, Q = _pairs(shape, e)
                dkl_p, dkl_q = dm[P][..., k, l], dm[Q][..., k, l]
                forward = active[k, l][P] & (np.sign(dkl_p) == s)
                backward = active[k, l][Q] & (np.sign(dkl_q) == s)
                if not (forward.any() or backward.any()):
                    continue
                step = 0.5 * ((lam[P] + lam[Q]) @ (e * h))
                with np.errstate(divide="ignore"):
                    logr_f = (half_eps + np.log(np.abs(dkl_p)) + log_bernoulli(-step) - log_length[k][P]
                              - log_length[l][P])
                    logr_b = (half_eps + np.log(np.abs(dkl_q)) + log_bernoulli(step) - log_length[k][Q]
                              - log_length[l][Q])
                jumps.add(index[P].ravel(), index[Q].ravel(), logr_f.ravel(), logr_b.ravel(), forward.ravel(),
                          backward.ravel())
    src, dst, logr = jumps.arrays()
    return _Chain(grid, eps, src, dst, logr, log_mass.reshape(-1))


def _log_cell_length(up, down, h, plus, minus) -> np.ndarray:
    """ln of the integral of exp(q) over a node's dual cell along one axis,
    [-minus h / 2, plus h / 2] (a half cell at the box's edge), q the
    quadratic with q(0) = 0, q(h) = up, q(-h) = down (the line through the
    one neighbour at the box's edge); at most the cell's length."""
    has_up = np.isfinite(up)
    has_down = np.isfinite(down)
    qp = np.where(has_up, up, np.where(has_down, -down, 0.0))
    qm = np.where(has_down, down, -qp)
    alpha = (qp - qm) / (2 * h)
    beta = (qp + qm) / (2 * h * h)
    upper = np.where(has_up, plus * h / 2, 0.0)
    lower = np.where(has_down, -minus * h / 2, 0.0)
    t = np.linspace(0.0, 1.0, 2 * _MASS_PIECES + 1)
    s = lower[..., None] + (upper - lower)[..., None] * t
    q = alpha[..., None] * s + beta[..., None] * s * s
    piece = np.log((upper - lower) / (2 * _MASS_PIECES))[..., None] + _log_expmean(q[..., :-1], q[..., 1:])
    m = piece.max(axis=-1)
    fitted = m + np.log(np.sum(np.exp(piece - m[..., None]), axis=-1))
    # Never more than the cell's length: on a slope the fitted integral is
    # dominated by the cell's uphill end, which the neighbour stands for (a
    # larger mass would make the node a trap of the chain).
    return np.minimum(fitted, np.log(upper - lower))


# -- the solves ---------------------------------------------------------------------------
#
# A metastable chain makes every plain LU inaccurate: the escape rate from a
# well is the last pivot of its elimination, a difference of O(1) numbers,
# so its relative error is eps_machine exp(V / eps) (lost by V / eps ~ 35).
# The solves below pin one node in each well of the chain (the terminal
# cycles of its fastest jumps): with a known value there, no well is left
# in the sparse system and the LU is accurate to every digit. The few
# pinned values are then found from the chain reduced to the pins, whose
# diagonal is summed from its off-diagonal rates rather than subtracted
# (Grassmann, Taksar and Heyman 1985): no subtraction anywhere.


def _lu(matrix):
    from scipy.sparse.linalg import splu

    # Diagonal pivots: the matrices are M-matrices, for which they are stable.
    return splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=dict(SymmetricMode=True))


def _pins(grid: Grid, attractors: np.ndarray, exclude: Optional[np.ndarray] = None) -> np.ndarray:
    """The nodes nearest to the attractors (one per attractor, a point on
    each limit cycle), outside ``exclude``."""
    if len(attractors) == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.rint((attractors - np.asarray(grid.lower)) / np.asarray(grid.spacing)).astype(np.int64)
    idx = np.clip(idx, 0, np.asarray(grid.shape) - 1)
    pins = np.unique(np.ravel_multi_index(tuple(idx.T), grid.shape))
    if exclude is not None:
        pins = pins[~exclude.reshape(-1)[pins]]
    return pins


def _scale(chain: _Chain, log_p: np.ndarray, pins: np.ndarray) -> np.ndarray:
    """An estimate of ln mu (mu = pi R, the embedded chain's stationary
    measure) up to a constant per well: minus the chain's own discrete
    quasi-potential from the pins, the least cost of a path with cost
    max(0, -ln(n_P p_PQ)) per jump (n_P the jumps out of P: a jump no less
    likely than average is free, as in a region of pure diffusion). Then
    exp(ell_P - ell_Q) p_PQ <= 1 for every jump: the scaled matrix has no
    large entry."""
    from scipy import sparse
    from scipy.sparse.csgraph import dijkstra

    n = chain.n
    out_degree = np.bincount(chain.src, minlength=n)
    # csgraph drops explicit zeros: a weight never below a tiny positive one.
    weight = np.maximum(-(log_p + np.log(out_degree[chain.src])), 1e-300)
    graph = sparse.csr_matrix((weight, (chain.src, chain.dst)), shape=(n, n))
    sources = pins if len(pins) else np.array([0])
    dist = dijkstra(graph, directed=True, indices=sources, min_only=True)
    return -dist


def _embedded(chain: _Chain):
    """The jump probabilities p = r / R of the embedded chain, and ln R."""
    log_exit = chain.log_exit_rate()
    return np.exp(chain.log_rate - log_exit[chain.src]), log_exit


def _reduced_solve(off: np.ndarray, slack: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """x with M x = rhs (k or (k, m)), M_ji = -off_ji (j != i),
    M_jj = sum_i off_ji + slack_j:
    Gaussian elimination with each pivot summed from its row (GTH), so that
    no subtraction occurs for off, slack, rhs >= 0."""
    a = off.astype(float).copy()
    np.fill_diagonal(a, 0.0)
    s = slack.astype(float).copy()
    b = rhs.astype(float).copy()
    k = len(b)
    d = np.zeros(k)
    for n in range(k):
        d[n] = a[n, n + 1:].sum() + s[n]
        if not d[n] > 0:
            raise ArithmeticError("the chain reduced to its wells has a state that never reaches the known set")
        f = a[n + 1:, n] / d[n]
        a[n + 1:, n + 1:] += np.outer(f, a[n, n + 1:])
        s[n + 1:] += f * s[n]
        b[n + 1:] += np.multiply.outer(f, b[n])
    np.fill_diagonal(a, 0.0)
    x = np.zeros(b.shape)
    for n in range(k - 1, -1, -1):
        x[n] = (b[n] + a[n, n + 1:] @ x[n + 1:]) / d[n]
    return x


def _log_stationary_reduced(log_rate: np.ndarray) -> np.ndarray:
    """ln of the stationary law of a k-state chain with rates exp(log_rate)
    (diagonal ignored), by GTH in the log domain."""
    a = log_rate.astype(float).copy()
    k = len(a)
    np.fill_diagonal(a, -np.inf)
    log_s = np.zeros(k)
    for n in range(k - 1, 0, -1):
        log_s[n] = np.logaddexp.reduce(a[n, :n])
        if not np.isfinite(log_s[n]):
            raise ArithmeticError("the chain reduced to its wells is not irreducible")
        a[:n, :n] = np.logaddexp(a[:n, :n], a[:n, n][:, None] + a[n, :n][None, :] - log_s[n])
        np.fill_diagonal(a, -np.inf)
    log_pi = np.zeros(k)
    for n in range(1, k):
        log_pi[n] = np.logaddexp.reduce(log_pi[:n] + a[:n, n]) - log_s[n]
    return log_pi - np.logaddexp.reduce(log_pi)


def _stationary(chain: _Chain, attractors: np.ndarray) -> np.ndarray:
    """ln pi per node (summing to 1): the chain's stationary law. Solved as
    the embedded chain's mu = pi R (mu = mu p) for g = mu exp(-ell), ell an
    estimate of ln mu (:func:`_scale`), with the wells' nodes pinned."""
    from scipy import sparse

    n = chain.n
    p, log_exit = _embedded(chain)
    log_p = chain.log_rate - log_exit[chain.src]
    pins = _pins(chain.grid, attractors)
    if len(pins) == 0:
        pins = np.array([0])
    ell = _scale(chain, log_p, pins)
    free = np.ones(n, dtype=bool)
    free[pins] = False
    keep = np.flatnonzero(free)
    for attempt in range(3):
        # Balance at Q: g_Q = sum_P g_P exp(ell_P - ell_Q) p_PQ.
        K = sparse.csr_matrix((np.exp(ell[chain.src] - ell[chain.dst] + log_p), (chain.dst, chain.src)),
                              shape=(n, n))
        M = sparse.identity(len(keep), format="csr") - K[keep][:, keep]
        phi = np.zeros((n, len(pins)))
        phi[keep] = _lu(M).solve(np.asarray(K[keep][:, pins].todense()))
        phi[pins, np.arange(len(pins))] = 1.0
        phi = np.maximum(phi, 0.0)  # (rounding below zero where a well's share is nil)
        # The embedded chain reduced to the pins: the jump probability from
        # pin i to pin j is the inflow into j of mu^(i) = exp(ell - ell_i) phi^(i).
        log_f = np.full((len(pins), len(pins)), -np.inf)
        for j, pin in enumerate(pins):
            e = chain.dst == pin
            P = chain.src[e]
            with np.errstate(divide="ignore"):
                terms = ell[P][:, None] + log_p[e][:, None] + np.log(phi[P]) - ell[pins][None, :]
            log_f[:, j] = np.logaddexp.reduce(terms, axis=0)
        log_c = _log_stationary_reduced(log_f) - ell[pins]  # the weights of the phi^(i) in g
        with np.errstate(divide="ignore"):
            terms = log_c[None, :] + np.log(phi)
        top = terms.max(axis=1)
        if not np.all(np.isfinite(top)):
            bad = int(np.flatnonzero(~np.isfinite(top))[0])
            raise ArithmeticError(f"the stationary solve found no mass at {describe_node(chain.grid, bad)} at "
                                  f"eps = {chain.eps:g}: the density spans more than double precision resolves")
        log_g = top + np.log(np.sum(np.exp(terms - top[:, None]), axis=1))
        if np.ptp(log_g) <= _SCALE_SPAN:
            break
        ell = ell + log_g
    log_pi = ell + log_g - log_exit
    return log_pi - np.logaddexp.reduce(log_pi)


def _dirichlet(chain: _Chain, known: np.ndarray, values: np.ndarray, source: float,
               attractors: np.ndarray) -> np.ndarray:
    """u (n, m) with u = values (n, m), >= 0, on the known nodes and
    L u = -source (>= 0) elsewhere, L the chain's generator, one column per
    column of values; the wells off the known set are pinned (see above)."""
    from scipy import sparse

    n = chain.n
    p, log_exit = _embedded(chain)
    known = known.reshape(-1)
    values = np.where(known[:, None], values.reshape(n, -1), 0.0)
    m = values.shape[1]
    pins = _pins(chain.grid, attractors, known)
    k = len(pins)
    fixed = known.copy()
    fixed[pins] = True
    unknown = np.flatnonzero(~fixed)
    position = np.full(n, -1)
    position[unknown] = np.arange(len(unknown))
    # Columns: u0 (the values on the known set, 0 at the pins, the source),
    # h_i (1 at pin i, 0 on the other fixed nodes), h_known (1 on the known set).
    boundary = np.zeros((n, m + k + 1))
    boundary[:, :m] = values
    boundary[pins, m + np.arange(k)] = 1.0
    boundary[:, m + k] = known
    rhs = np.zeros((n, m + k + 1))
    rhs[:, :m] = source * np.exp(-log_exit)[:, None]
    e = ~fixed[chain.src] & fixed[chain.dst]
    np.add.at(rhs, chain.src[e], p[e][:, None] * boundary[chain.dst[e]])
    e = ~fixed[chain.src] & ~fixed[chain.dst]
    K = sparse.csr_matrix((p[e], (position[chain.src[e]], position[chain.dst[e]])), shape=(len(unknown),) * 2)
    solution = boundary.copy()
    if len(unknown):
        solution[unknown] = _lu(sparse.identity(len(unknown), format="csr") - K).solve(rhs[unknown])
    solution = np.maximum(solution, 0.0)  # (rounding below zero where a value is nil)
    if k == 0:
        return solution[:, :m]
    # The pins' values: at pin j, u_j = source / R_j + sum_Q p_jQ u(Q) with
    # u = u0 + sum_i h_i u_i; the pivot 1 - sum_Q p_jQ h_j(Q) is summed as
    # sum_Q p_jQ (sum_{i != j} h_i(Q) + h_known(Q)).
    off = np.zeros((k, k))
    slack = np.zeros(k)
    b = np.zeros((k, m))
    for j, pin in enumerate(pins):
        e = chain.src == pin
        Q, pq = chain.dst[e], p[e]
        off[j] = pq @ solution[Q, m:m + k]
        slack[j] = pq @ solution[Q, m + k]
        b[j] = source * math.exp(-log_exit[pin]) + pq @ solution[Q, :m]
    x = _reduced_solve(off, slack, b)
    return solution[:, :m] + solution[:, m:m + k] @ x


# -- the public functions -----------------------------------------------------------------

def _check(sde, grid, eps, supersample):
    eps = _validate.eps(eps)
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
    if not (isinstance(supersample, (int, np.integer)) and 1 <= supersample <= 16):
        raise ValueError(f"supersample must be an integer in [1, 16], got {supersample!r}")
    return eps


def _attractors(sde, grid: Grid, attractors) -> np.ndarray:
    """Points (k, d) in the wells of the density: the attractors given (an
    array of points, or a Landscape's), else those found by
    :func:`hjqp.equilibria` (a point on each limit cycle too); none where
    the drift vanishes everywhere."""
    if attractors is None:
        from ..landscape import equilibria

        try:
            eq = equilibria(sde, grid)
        except ValueError:  # (no drift: no well)
            return np.zeros((0, grid.ndim))
        points = [eq.attractors] + [c.curve[:1] for c in eq.cycles]
        return np.concatenate(points).reshape(-1, grid.ndim)
    if hasattr(attractors, "attractors") and hasattr(attractors, "grid"):
        attractors = attractors.attractors
    return _validate.points(attractors, grid.ndim, "attractors")


def _set(spec, grid: Grid, name: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A set of nodes from a Domain (with the signed distance to its
    boundary, positive inside) or a boolean mask on the grid."""
    if isinstance(spec, Domain):
        spec.check_dimension(grid.ndim)
        dist = np.asarray(spec.distance(grid.points())[0], dtype=float)
        return dist > 0, dist
    mask = np.asarray(spec)
    if mask.dtype != bool or mask.shape != grid.shape:
        raise ValueError(f"{name} must be an hjqp domain (Ball, Box, LevelSet, ...) or a boolean mask of the grid's "
                         f"shape {grid.shape}, got {type(spec).__name__}"
                         f"{' of shape ' + str(mask.shape) + ' and dtype ' + str(mask.dtype) if mask.ndim else ''}")
    return mask.copy(), None


def _interpolate(grid: Grid, values: np.ndarray, points) -> np.ndarray:
    from scipy.interpolate import RegularGridInterpolator

    p = _validate.real_array(points, "points")
    if p.ndim == 0 or p.shape[-1] != grid.ndim:
        raise ValueError(f"points must have shape (..., {grid.ndim}), got {p.shape}")
    inside = grid.contains(p)
    if not np.all(inside):
        bad = p[~inside][0]
        raise ValueError(f"the point {tuple(float(v) for v in bad)} lies outside the grid's box {grid.lower} to "
                         f"{grid.upper}")
    f = RegularGridInterpolator(grid.axes, values, method="linear")
    lo, hi = np.asarray(grid.lower), np.asarray(grid.upper)
    return f(np.clip(p, lo, hi).reshape(-1, grid.ndim)).reshape(p.shape[:-1])


@dataclass(frozen=True)
class FirstPassage:
    """Mean first passage times tau (``values``, grid.shape; 0 on the
    target) of an SDE at noise eps, from the backward Kolmogorov equation;
    ``target`` the nodes counted as reached. Call it on points (..., d) for
    tau between nodes (multilinear)."""

    grid: Grid
    eps: float
    values: np.ndarray
    target: np.ndarray

    def __call__(self, points) -> np.ndarray:
        return _interpolate(self.grid, self.values, points)


def mean_first_passage(sde: SDE, grid: Grid, eps: float, target=None, *, domain: Optional[Domain] = None,
                       attractors=None, supersample: int = 1) -> FirstPassage:
    """Mean first passage times to a target, or mean exit times from a
    domain, of ``dx = b dt + sqrt(eps) Sigma dW`` reflected at the grid's
    box: L tau = -1 off the target, tau = 0 on it, with the generator of
    the Fokker-Planck discretisation (see :mod:`hjqp.stochastic.kolmogorov`).

    Parameters
    ----------
    sde : SDE
    grid : Grid
        2D or 3D; its box must hold the region the paths explore (its faces
        reflect them).
    eps : float
    target : Domain or bool array (grid.shape)
        The set to reach. A domain's boundary is located within cells (the
        jumps across it are shortened to it: O(h^2) rather than O(h)); a
        mask is taken node by node.
    domain : Domain
        Instead of ``target``: the domain to leave (the target is its
        complement), as :func:`hjqp.exit_times` takes it.
    attractors : array (k, d) or Landscape, optional
        Points in the wells (default: the attractors :func:`hjqp.equilibria`
        finds); one node in each is solved for apart, which keeps the solve
        exact at any V / eps (see the module's description).
    supersample : int
        Sample the fields as cell means (for fields that jump).

    Returns
    -------
    FirstPassage
        ``values`` tau on the nodes; call it for tau at points.
    """
    eps = _check(sde, grid, eps, supersample)
    if (target is None) == (domain is None):
        raise ValueError("give either target= (the set to reach) or domain= (the domain to leave)")
    if domain is not None:
        if not isinstance(domain, Domain):
            raise TypeError(f"domain must be an hjqp domain (Ball, Box, LevelSet, ...), got {type(domain).__name__}")
        inside, dist = _set(domain, grid, "domain")
        mask, cut = ~inside, -dist
    else:
        mask, cut = _set(target, grid, "target")
    if not mask.any():
        raise ValueError("the target holds no node of the grid: the passage time is infinite")
    if mask.all():
        raise ValueError("the target holds every node of the grid: nothing to solve")
    chain = _chain(sde, grid, eps, supersample, cut=cut)
    tau = _dirichlet(chain, mask, np.zeros(grid.shape), 1.0, _attractors(sde, grid, attractors)).reshape(grid.shape)
    tau[mask] = 0.0
    return FirstPassage(grid, eps, tau, mask)


@dataclass(frozen=True)
class FokkerPlanck:
    """The stationary density of an SDE on a grid at noise eps (the
    no-flux solution in the grid's box).

    Attributes
    ----------
    grid : Grid
    eps : float
    log_density : ndarray (grid.shape)
        ln rho at the nodes, rho normalised so that the node masses
        rho * exp(log_mass) sum to 1. Finite wherever rho underflows.
    log_mass : ndarray (grid.shape)
        ln of each node's cell volume, exponentially fitted (a density
        narrower than a cell keeps its mass; see the module's description).
    attractors : ndarray (k, d)
        Points in the wells, whose nodes the solve pins.
    """

    grid: Grid
    eps: float
    log_density: np.ndarray
    log_mass: np.ndarray
    attractors: np.ndarray
    chain: _Chain = field(repr=False, compare=False)

    @property
    def density(self) -> np.ndarray:
        """rho at the nodes (0 where it underflows)."""
        return np.exp(self.log_density)

    @property
    def potential(self) -> np.ndarray:
        """Phi_eps = -eps ln rho, shifted to least 0: the finite-eps
        counterpart of the global quasi-potential phi."""
        return -self.eps * (self.log_density - np.max(self.log_density))

    @property
    def probabilities(self) -> np.ndarray:
        """The stationary probability of each node's cell (sums to 1)."""
        return np.exp(self.log_density + self.log_mass)

    def occupancy(self, basins) -> np.ndarray:
        """The stationary probability of each basin: ``basins`` an int array
        of labels on the grid (-1: none) or a Landscape on this grid;
        returns (k,), k = the largest label + 1 (what a long run's
        ``basin_occupancy`` measures)."""
        if hasattr(basins, "basins") and hasattr(basins, "grid"):
            if basins.grid.shape != self.grid.shape:
                raise ValueError(f"the landscape's grid {basins.grid.shape} is not this solution's {self.grid.shape}")
            basins = basins.basins
        labels = np.asarray(basins)
        if labels.shape != self.grid.shape or labels.dtype.kind not in "iu":
            raise ValueError(f"basins must be int labels of shape {self.grid.shape} or a Landscape, got "
                             f"{labels.dtype} of shape {labels.shape}")
        k = int(labels.max()) + 1
        keep = labels >= 0
        return np.bincount(labels[keep], weights=self.probabilities[keep], minlength=max(k, 0))

    def milestone_occupancy(self, attractors, radius) -> np.ndarray:
        """The long-run fraction of time with each core set as the last
        visited (what :meth:`hjqp.LongRun.occupancy` measures): sum over the
        nodes of pi times the backward committor, the probability that the
        last core visited was i (a Dirichlet problem of the time-reversed
        chain). Cores: balls of ``radius`` (a number or one per attractor)
        around ``attractors`` (k, d)."""
        centers = _validate.points(attractors, self.grid.ndim, "attractors")
        radii = np.broadcast_to(np.asarray(radius, dtype=float), (len(centers),))
        if not np.all(np.isfinite(radii) & (radii > 0)):
            raise ValueError(f"radius must be positive, got {radius!r}")
        points = self.grid.points()
        cores = np.stack([np.sum((points - c) ** 2, axis=-1) <= r * r for c, r in zip(centers, radii)])
        empty = [i for i in range(len(centers)) if not cores[i].any()]
        if empty:
            raise ValueError(f"the core of attractor {empty[0]} holds no node of the grid: enlarge the radius")
        if np.any(cores.sum(axis=0) > 1):
            raise ValueError("the core sets overlap")
        chain = self.chain
        log_pi = (self.log_density + self.log_mass).reshape(-1)
        reverse = _Chain(chain.grid, chain.eps, chain.dst, chain.src,
                         chain.log_rate + log_pi[chain.src] - log_pi[chain.dst], chain.log_mass)
        known = cores.any(axis=0)
        values = cores.reshape(len(centers), -1).T.astype(float)
        q = _dirichlet(reverse, known, values, 0.0, self.attractors)
        out = np.exp(log_pi) @ q
        return out / out.sum()


def fokker_planck(sde: SDE, grid: Grid, eps: float, *, attractors=None, supersample: int = 1) -> FokkerPlanck:
    """The stationary density rho of ``dx = b dt + sqrt(eps) Sigma dW`` on a
    grid: the stationary Fokker-Planck equation
    0 = -div(b rho) + eps/2 sum_ij d_i d_j (D_ij rho) with no flux through
    the box's faces, by a monotone exponentially fitted finite-volume
    scheme (see :mod:`hjqp.stochastic.kolmogorov`): rho > 0 at any eps.

    Parameters
    ----------
    sde : SDE
        Drift and diffusion (callables or arrays on this grid); D may be
        position dependent and anisotropic, diagonally dominant in the
        grid's metric.
    grid : Grid
        2D or 3D. The box should hold the region where the density is not
        negligible: its faces reflect.
    eps : float
    attractors : array (k, d) or Landscape, optional
        Points in the density's wells (default: the attractors and limit
        cycles :func:`hjqp.equilibria` finds); their nodes are solved for
        apart, which keeps the solve exact at any V / eps.
    supersample : int
        Sample the fields as cell means of s^d points (for fields that jump,
        as in Example 4.1).

    Returns
    -------
    FokkerPlanck
        ``density``, ``potential`` (Phi_eps = -eps ln rho, least 0),
        ``log_density``, ``probabilities``, ``occupancy(basins)``,
        ``milestone_occupancy(attractors, radius)``.
    """
    eps = _check(sde, grid, eps, supersample)
    chain = _chain(sde, grid, eps, supersample)
    points = _attractors(sde, grid, attractors)
    log_pi = _stationary(chain, points)
    log_density = (log_pi - chain.log_mass).reshape(grid.shape)
    return FokkerPlanck(grid, eps, log_density, chain.log_mass.reshape(grid.shape), points, chain)


@dataclass(frozen=True)
class Committor:
    """The committor q (``values``, grid.shape): the probability that a
    path from each node reaches B before A; 0 on A, 1 on B. Call it on
    points (..., d) for q between nodes (multilinear)."""

    grid: Grid
    eps: float
    values: np.ndarray
    A: np.ndarray
    B: np.ndarray

    def __call__(self, points) -> np.ndarray:
        return _interpolate(self.grid, self.values, points)


def committor(sde: SDE, grid: Grid, eps: float, A, B, *, attractors=None, supersample: int = 1) -> Committor:
    """The committor of two sets: q = P(reach B before A), L q = 0 off A
    and B, q = 0 on A, 1 on B, with the generator of
    :func:`mean_first_passage`. The best reaction coordinate there is for
    splitting (:func:`hjqp.stochastic.ams`).

    A, B : Domain or bool array (grid.shape), disjoint; other parameters as
    in :func:`mean_first_passage`.
    """
    eps = _check(sde, grid, eps, supersample)
    mask_a, dist_a = _set(A, grid, "A")
    mask_b, dist_b = _set(B, grid, "B")
    for name, mask in (("A", mask_a), ("B", mask_b)):
        if not mask.any():
            raise ValueError(f"{name} holds no node of the grid")
    if np.any(mask_a & mask_b):
        raise ValueError("A and B overlap")
    cut = np.maximum(dist_a, dist_b) if dist_a is not None and dist_b is not None else None
    chain = _chain(sde, grid, eps, supersample, cut=cut)
    q = _dirichlet(chain, mask_a | mask_b, mask_b.astype(float), 0.0, _attractors(sde, grid, attractors))
    q = np.clip(q.reshape(grid.shape), 0.0, 1.0)
    return Committor(grid, eps, q, mask_a, mask_b)
