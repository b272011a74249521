"""Predictions of the quasi-potential next to Monte Carlo, each with a
confidence interval.

- :func:`exit_barrier`: the barrier V0 fitted from mean exit times over a
  range of eps, ln E tau = a + V0 / eps + c ln eps, against min over the
  boundary of U.
- :func:`exit_positions`: where paths leave, against argmin over the
  boundary of U (exits concentrate there as eps -> 0).
- :func:`occupancy`: long-run time fractions of the attractors against the
  Markov chain of the landscape, and -eps ln(occupancy) against phi(O_i).
- :func:`transition_barriers`: the costs V_ij fitted from transition rates
  counted in long runs over a range of eps, ln k_ij = a_ij - V_ij / eps,
  against the landscape's.
- :func:`density`: -eps ln rho from a histogram against phi.
- :func:`master_rates`: for a reaction network at one volume, switching
  rates counted in exact (Gillespie) long runs against the master
  equation's mean switching times: the same chain, no asymptotics.
- :func:`master_barriers`: for a reaction network, V_ij fitted from the
  master equation's mean switching times over a range of volumes,
  ln tau_ij = a_ij + Omega V_ij, and phi(O_i) - phi(O_j) from
  -(1 / Omega) ln of its stationary law, against the landscape's.
- :func:`splitting_times`: for an SDE at eps where V / eps is 10-30,
  beyond brute force, the mean transition time O_i -> O_j by adaptive
  multilevel splitting against the backward Kolmogorov equation's mean
  first passage time (both finite-eps, no asymptotics).

Each returns :class:`Comparison` rows; :func:`table` renders them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from . import _interrupt, _validate
from .problem import SDE, describe_point
from .stochastic import (Ball, Domain, Estimate, Exits, LongRun, ams_rate, arrhenius_fit, committor, exit_times,
                         long_run, master_equation, mean_first_passage)

__all__ = [
    "Comparison",
    "BarrierFit",
    "boundary_minimum",
    "exit_barrier",
    "exit_positions",
    "occupancy",
    "transition_barriers",
    "density",
    "master_barriers",
    "master_rates",
    "splitting_times",
    "table",
]


@dataclass(frozen=True)
class Comparison:
    """One prediction and its Monte Carlo measurement."""

    quantity: str
    predicted: float
    measured: Estimate
    note: str = ""

    @property
    def agrees(self) -> bool:
        """Whether the prediction lies in the measurement's interval."""
        return self.measured.contains(self.predicted)

    @property
    def relative_error(self) -> float:
        return abs(self.measured.value - self.predicted) / max(abs(self.predicted), 1e-300)


def table(rows: Sequence[Comparison]) -> str:
    """A markdown table of comparisons."""
    lines = ["| quantity | predicted | Monte Carlo | interval | agrees | note |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        m = r.measured
        lines.append(f"| {r.quantity} | {r.predicted:.4g} | {m.value:.4g} | [{m.low:.4g}, {m.high:.4g}] "
                     f"({m.confidence:.0%}) | {'yes' if r.agrees else 'no'} | {r.note} |")
    return "\n".join(lines)


def boundary_minimum(U, domain: Domain, n: int = 4000, tolerance: float = 1e-3):
    """min over the domain's boundary of U, and the boundary points within
    ``tolerance`` (relative) of it: (V0, points (m, d)).

    U is a callable on points (..., d): a QuasiPotential, or an exact U.
    """
    pts = domain.boundary_points(n)
    values = _validate.real_array(U(pts), "U's values")
    if values.shape != pts.shape[:-1]:
        raise ValueError(f"U returned shape {values.shape} for points of shape {pts.shape}")
    if np.isnan(values).any():
        # (+inf is a node the march did not reach; NaN is not a value of U.)
        raise ValueError(f"U is NaN at the boundary point {describe_point(pts[np.flatnonzero(np.isnan(values))[0]])}")
    finite = np.isfinite(values)
    if not finite.any():
        raise ValueError("U is not finite anywhere on the domain's boundary: is the grid large enough?")
    v0 = float(np.min(values[finite]))
    near = finite & (values <= v0 + tolerance * max(abs(v0), 1e-12))
    return v0, pts[near]


@dataclass(frozen=True)
class BarrierFit:
    """ln E tau = a + V0 / eps + c ln eps fitted over eps with c fixed."""

    eps: np.ndarray
    means: List[Estimate]
    V0: Estimate
    a: float
    c: float
    chi2: float
    exits: List[Exits] = field(repr=False)
    predicted: Optional[float] = None

    def comparison(self) -> Comparison:
        if self.predicted is None:
            raise ValueError("no prediction: pass U= to exit_barrier")
        return Comparison("exit barrier V0", self.predicted, self.V0,
                          f"fit over eps = {', '.join(f'{e:g}' for e in self.eps)}, c = {self.c:g}")


@_interrupt.interruptible
def exit_barrier(sde: SDE, x0, domain: Domain, eps_values: Sequence[float], dt: float, n_paths: int,
                 seed=None, *, c: float = 0.5, U=None, confidence: float = 0.95,
                 **exit_options) -> BarrierFit:
    """Fit the exit barrier V0 from mean exit times at several eps.

    E tau ~ C eps^c exp(V0 / eps): c = 1/2 for an exit through a boundary
    the flow points into (b.n < 0) at isolated non-degenerate minima of U
    on it, in any dimension; c = 0 through a saddle (Eyring-Kramers). A free
    c makes the fit ill-conditioned, so c is fixed and ln E tau - c ln eps
    is fitted by weighted least squares in 1/eps. The interval of V0 comes
    from the per-eps standard errors (delta method on ln E tau).

    U (a callable, e.g. a QuasiPotential) gives the prediction
    min over the boundary of U. Other keywords go to :func:`exit_times`
    (grid=, max_time=, correction=, threads=, ...); each eps gets its own
    seed derived from ``seed``.
    """
    from scipy import stats

    eps = np.asarray(eps_values, dtype=float)
    if eps.ndim != 1 or len(eps) < 2 or not np.all(eps > 0):
        raise ValueError(f"eps_values must hold at least two positive values, got {eps_values!r}")
    base = np.random.SeedSequence(seed)
    seeds = [int(s) for s in base.generate_state(len(eps), np.uint32)]
    exits, means, y, w = [], [], [], []
    for e, s in zip(eps, seeds):
        ex = exit_times(sde, x0, domain, float(e), dt, n_paths, seed=s, **exit_options)
        est = ex.mean(confidence)
        z = stats.norm.ppf(0.5 + confidence / 2)
        se = (est.high - est.low) / (2 * z)
        exits.append(ex)
        means.append(est)
        y.append(math.log(est.value) - c * math.log(e))
        w.append((est.value / se) ** 2 if se > 0 else 1e12)
    y, w = np.array(y), np.array(w)
    a, v0, se, chi2 = arrhenius_fit(eps, y, w, +1.0)
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    predicted = boundary_minimum(U, domain)[0] if U is not None else None
    return BarrierFit(eps, means, Estimate(float(v0), float(v0 - half), float(v0 + half), confidence,
                                           "weighted fit"), float(a), c, chi2, exits, predicted)


def exit_positions(exits: Exits, U, domain: Domain, radius: float, confidence: float = 0.95) -> Comparison:
    """The fraction of exits within ``radius`` of argmin over the boundary of
    U, with its Wilson interval. The prediction as eps -> 0 is 1; the
    note gives the fraction a uniform law on the boundary would put there."""
    from scipy import stats

    v0, targets = boundary_minimum(U, domain)
    pos = exits.positions[~exits.censored]
    if len(pos) == 0:
        raise ValueError("no path exited")
    dist = np.min(np.linalg.norm(pos[:, None, :] - targets[None, :, :], axis=-1), axis=1)
    n, k = len(pos), int(np.count_nonzero(dist <= radius))
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    bpts = domain.boundary_points(4000)
    bdist = np.min(np.linalg.norm(bpts[:, None, :] - targets[None, :, :], axis=-1), axis=1)
    uniform = float(np.mean(bdist <= radius))
    return Comparison(f"exits within {radius:g} of argmin U", 1.0,
                      Estimate(p, max(0.0, centre - half), min(1.0, centre + half), confidence, "Wilson"),
                      f"uniform on the boundary: {uniform:.3f}; {len(targets)} boundary points at V0 = {v0:.4g}")


def occupancy(landscape, run: LongRun, confidence: float = 0.95, prefactors: bool = False) -> List[Comparison]:
    """Long-run occupancy of each attractor (milestone time fractions)
    against the landscape's Markov chain at the run's eps.

    By default the chain's rates carry the exponents exp(-V/eps) only, not
    the Eyring-Kramers prefactors, so at finite eps the prediction is right
    on the log scale (-eps ln pi_i -> phi(O_i)) and off by O(1) factors in
    pi itself; both rows are reported. With ``prefactors=True`` the chain
    uses the rates with prefactors (:meth:`hjqp.Landscape.rates`) where the
    theory applies to every pair, and says in the note when it does not.
    """
    eps = run.eps
    note = "Markov chain, exponents only"
    pi = landscape.stationary(eps)
    if prefactors:
        pf = landscape.prefactors()
        if pf.valid.all():
            pi = landscape.stationary(eps, prefactors=True)
            note = "Markov chain with prefactors"
        else:
            note = "Markov chain, exponents only (no prefactor: " + pf.describe() + ")"
    occ = run.occupancy(confidence)
    if len(occ) != len(pi):
        raise ValueError(f"the run tallied {len(occ)} attractors, the landscape has {len(pi)}")
    rows = [Comparison(f"occupancy of O{i + 1}", float(pi[i]), occ[i], note) for i in range(len(pi))]
    phi = landscape.global_values
    ref = int(np.argmax([o.value for o in occ]))
    for i, o in enumerate(occ):
        if i == ref:
            continue
        lo, hi = max(o.low, 1e-300), max(o.high, 1e-300)
        top = occ[ref]

        def g(a, b):
            return -eps * math.log(a / b)

        measured = Estimate(g(o.value, top.value) if o.value > 0 else math.inf,
                            g(hi, max(top.low, 1e-300)), g(lo, top.high) if lo > 0 else math.inf,
                            confidence, "from the occupancy intervals")
        rows.append(Comparison(f"-eps ln(occ O{i + 1} / occ O{ref + 1})",
                               float(phi[i] - phi[ref]), measured, "phi(O_i) - phi(O_ref)"))
    return rows


@_interrupt.interruptible
def transition_barriers(sde: SDE, landscape, eps_values: Sequence[float], dt: float, n_steps: int,
                        n_paths: int, seed=None, *, radius: Optional[float] = None, c: float = 0.0,
                        min_transitions: int = 10, confidence: float = 0.95,
                        **run_options) -> List[Comparison]:
    """Fit V_ij from transition rates counted in long runs at several eps.

    Rates k_ij (entries into core j per unit time spent with i as the last
    core) behave as C eps^-c exp(-V_ij / eps); c = 0 for transitions through
    a saddle (Eyring-Kramers). ln k_ij + c ln eps = a_ij - V_ij / eps is
    fitted by weighted least squares (weights from the Poisson counts).
    Paths start spread evenly over the attractors; core radius defaults to
    a quarter of the least distance between attractors. Other keywords go
    to :func:`hjqp.long_run` (grid=, burn_in=, threads=, ...). Each pair is
    fitted over the eps at which it made at least ``min_transitions``
    transitions (two eps at least; the others are named in the note).
    """
    from scipy import stats

    eps = np.asarray(eps_values, dtype=float)
    if eps.ndim != 1 or len(eps) < 2 or not np.all(eps > 0):
        raise ValueError(f"eps_values must hold at least two positive values, got {eps_values!r}")
    O, radius = _cores(landscape, radius, 0.25)
    k = len(O)
    x0 = O[np.arange(n_paths) % k]
    seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(len(eps), np.uint32)]
    counts, times = [], []
    for e, s in zip(eps, seeds):
        run = long_run(sde, x0, float(e), dt, n_steps, O, radius, n_paths, seed=s, **run_options)
        counts.append(run.transition_counts().astype(float))
        times.append(run.milestone_steps[:, 1:].sum(axis=0) * dt)
    counts, times = np.array(counts), np.array(times)  # (m, k, k), (m, k)
    z = stats.norm.ppf(0.5 + confidence / 2)
    rows = []
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            # The eps with enough transitions to count (at least two of them).
            ok = counts[:, i, j] >= min_transitions
            if np.count_nonzero(ok) < 2:
                continue
            y = np.log(counts[ok, i, j] / times[ok, i]) + c * np.log(eps[ok])
            w = counts[ok, i, j]  # var(ln N) ~ 1/N
            _, v, se, _ = arrhenius_fit(eps[ok], y, w, -1.0)
            half = z * se
            rows.append(Comparison(f"V_{i + 1}{j + 1} from rates", float(landscape.costs[i, j]),
                                   Estimate(float(v), float(v - half), float(v + half), confidence,
                                            "weighted fit"),
                                   f"{int(counts[ok, i, j].sum())} transitions over eps = "
                                   f"{', '.join(f'{e:g}' for e in eps[ok])}; c = {c:g}"
                                   + (f" (too few at eps = {', '.join(f'{e:g}' for e in eps[~ok])})"
                                      if not ok.all() else "")))
    return rows


def density(run: LongRun, phi: np.ndarray, min_count: int = 100, confidence: float = 0.95) -> Comparison:
    """-eps ln rho against phi on the nodes visited at least ``min_count``
    times: the measured value is the largest deviation after removing the
    best constant offset, with an interval from the counting noise (the
    prediction is 0 up to the O(eps) prefactor terms)."""
    if run.histogram is None:
        raise ValueError("the run kept no histogram: pass histogram=True")
    h = run.histogram.astype(float)
    phi = _validate.real_array(phi, "phi")
    if phi.shape != h.shape:
        raise ValueError(f"phi has shape {phi.shape}, the histogram {h.shape}")
    if np.isnan(phi).any():
        raise ValueError(f"phi is NaN at grid node {np.argwhere(np.isnan(phi))[0].tolist()} (+inf marks nodes not "
                         "reached; NaN is not a value)")
    use = (h >= min_count) & np.isfinite(phi)
    if not use.any():
        raise ValueError(f"no node was visited {min_count} times")
    q = -run.eps * np.log(h[use] / h.sum())
    offset = np.median(q - phi[use])
    dev = q - offset - phi[use]
    worst = float(np.max(np.abs(dev)))
    # Poisson counting noise of -eps ln h at the least-visited nodes used.
    noise = run.eps / math.sqrt(min_count)
    return Comparison("max |-eps ln rho - phi| (offset removed)", 0.0,
                      Estimate(worst, max(0.0, worst - 2 * noise), worst + 2 * noise, confidence,
                               "counting noise"),
                      f"{int(use.sum())} nodes, median |dev| {float(np.median(np.abs(dev))):.3g}")


@_interrupt.interruptible
def master_barriers(network, landscape, volumes: Sequence[float], *, grid=None, radius: Optional[float] = None,
                    confidence: float = 0.95) -> List[Comparison]:
    """The landscape of a reaction network against its master equation.

    At each volume Omega the master equation (:func:`hjqp.master_equation`
    on the box of ``grid``, default the landscape's) gives the mean times
    tau_ij from attractor i into the core of radius ``radius`` about j, and
    its stationary law P. Rows: V_ij fitted as ln tau_ij = a_ij + Omega V_ij
    + b_ij / Omega over the volumes where tau_ij is resolved (the interval
    from the fit's residuals: the finite-volume corrections left, not
    noise), and
    phi(O_i) - phi(O_1) against -(1 / Omega) ln (P(O_i) / P(O_1)) at the
    largest volume resolved. Volumes beyond double precision are skipped
    and named in the notes.
    """
    from scipy import stats

    omega = np.asarray(volumes, dtype=float)
    if omega.ndim != 1 or len(omega) < 2 or not np.all(omega > 0):
        raise ValueError(f"volumes must hold at least two positive values, got {volumes!r}")
    O, radius = _cores(landscape, radius, 0.25)
    k = len(O)
    grid = landscape.grid if grid is None else grid
    times, phis, skipped = [], [], []
    for v in omega:
        me = master_equation(network, float(v), grid)
        times.append(me.switching_times(O, radius))
        try:
            u = me.quasi_potential().reshape(-1)
            phis.append((float(v), np.array([u[me._state(a)] for a in O])))
        except ValueError:
            skipped.append(f"{v:g}")
    times = np.array(times)
    rows = []
    for i in range(k):
        for j in range(k):
            ok = np.isfinite(times[:, i, j]) & (times[:, i, j] > 0) if i != j else None
            if i == j or np.count_nonzero(ok) < 2:
                continue
            x, y = omega[ok], np.log(times[ok, i, j])
            # ln tau = a + Omega V + b / Omega: the prefactor's leading
            # correction in 1 / Omega (with four volumes or more, so that
            # the fit keeps a residual).
            X = np.stack([np.ones_like(x), x] + ([1 / x] if len(x) >= 4 else []), axis=1)
            coef, *_ = np.linalg.lstsq(X, y, rcond=None)
            dof = len(x) - X.shape[1]
            if dof > 0:
                s2 = float(np.sum((y - X @ coef) ** 2)) / dof
                se = math.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1])
                half = stats.t.ppf(0.5 + confidence / 2, dof) * se
            else:
                half = np.inf
            v = float(coef[1])
            rows.append(Comparison(f"V_{i + 1}{j + 1} from the master equation", float(landscape.costs[i, j]),
                                   Estimate(v, v - half, v + half, confidence,
                                            "fit of ln tau = a + Omega V" + (" + b / Omega" if X.shape[1] == 3
                                                                             else "")),
                                   f"Omega = {', '.join(f'{w:g}' for w in x)}"))
    if phis:
        v, u = phis[-1]
        ref = np.asarray(landscape.global_values)
        # The interval: the change from the previous volume resolved (the
        # finite-volume correction still present), not a noise bar.
        change = np.abs(u - phis[-2][1]) if len(phis) > 1 else np.full(k, np.inf)
        for i in range(1, k):
            measured = float(u[i] - u[0])
            half = float(change[i] + change[0])
            rows.append(Comparison(f"phi(O{i + 1}) - phi(O1) from the stationary law", float(ref[i] - ref[0]),
                                   Estimate(measured, measured - half, measured + half, confidence,
                                            "change from the previous volume"),
                                   f"-(1/Omega) ln P at Omega = {v:g}" +
                                   (f"; beyond double precision at Omega = {', '.join(skipped)}" if skipped else "")))
    return rows


@_interrupt.interruptible
def master_rates(network, landscape, volume: float, time: float, n_paths: int, seed=None, *, grid=None,
                 master_grid=None, radius: Optional[float] = None, confidence: float = 0.95,
                 **run_options) -> List[Comparison]:
    """Switching rates of a reaction network at one volume: exact
    simulation against the master equation.

    Gillespie long runs (``n_paths`` paths of ``time`` time units, on the
    lattice of ``grid``'s box, default the landscape's) count k_ij, entries
    into the core about O_j per unit time spent with O_i as the last core,
    with exact Poisson intervals; the prediction is 1 / tau_ij, the master
    equation's mean time from O_i into that core (on ``master_grid``'s box,
    default ``grid``'s). Both describe the same chain, so they must agree
    within the interval at any volume (up to the difference between
    starting at O_i and at the last exit from its core, small when the
    switch is rare). Pairs without a transition or beyond double precision
    are left out.
    """
    # Small cores: from the edge of a large one facing the saddle a path
    # often crosses straight back, and the run's rate then exceeds the
    # inverse mean time from the attractor (by 5-10 % at a quarter of the
    # distance on the toggle switch).
    O, radius = _cores(landscape, radius, 0.1)
    k = len(O)
    grid = landscape.grid if grid is None else grid
    master = master_equation(network, volume, grid if master_grid is None else master_grid)
    tau = master.switching_times(O, radius)
    x0 = O[np.arange(n_paths) % k]
    run = long_run(network, x0, 1.0 / volume, 1.0, int(math.ceil(time)), O, radius, n_paths, seed=seed,
                   grid=grid, **run_options)
    rate, low, high = run.rates(confidence)
    counts = run.transition_counts()
    rows = []
    for i in range(k):
        for j in range(k):
            if i == j or counts[i, j] == 0 or not np.isfinite(tau[i, j]):
                continue
            rows.append(Comparison(f"k_{i + 1}{j + 1} at Omega = {volume:g}", float(1.0 / tau[i, j]),
                                   Estimate(float(rate[i, j]), float(low[i, j]), float(high[i, j]), confidence,
                                            "Gillespie, exact Poisson interval"),
                                   f"{int(counts[i, j])} transitions; predicted: 1 / the master equation's "
                                   "mean switching time"))
    return rows


def splitting_times(sde: SDE, landscape, i: int, j: int, eps_values: Sequence[float], dt: float, seed=None, *,
                    radius: Optional[float] = None, fraction: float = 0.3, grid=None, n_loops: int = 200,
                    n_replicas: int = 100, k: int = 10, n_runs: int = 10, confidence: float = 0.95,
                    **options) -> List[Comparison]:
    """Mean transition times O_i -> O_j where brute force cannot reach
    (V_ij / eps of 10-30): adaptive multilevel splitting against the
    backward Kolmogorov equation.

    Measured: :func:`hjqp.stochastic.ams_rate` with A and B the balls of
    ``radius`` (default a tenth of the least distance between attractors)
    about O_i and O_j, Sigma = {U_i = fraction V_ij} (U_i the landscape's
    local quasi-potential of O_i; at least 1.25 times U_i on A's boundary),
    splitting at the levels of the committor of A and B
    (:func:`hjqp.committor` at this eps: the least variance), on the
    kernel's Euler-Maruyama engine over ``grid`` (default the landscape's;
    paths must stay in its box). Predicted: the mean first passage time
    from O_i into B, from :func:`hjqp.mean_first_passage` on the
    landscape's grid. Both are finite-eps numbers of the same process (the
    SDE; Euler-Maruyama at ``dt`` up to its O(dt) bias), so they agree
    within the interval at any eps. Other keywords go to
    :func:`hjqp.mean_first_passage` (``supersample=``).
    """
    O, radius = _cores(landscape, radius, 0.1)
    grid = landscape.grid if grid is None else grid
    V = float(landscape.costs[i, j])
    if not (np.isfinite(V) and V > 0):
        raise ValueError(f"the landscape has no finite cost V_{i + 1}{j + 1}")
    U = landscape.local[i]
    top = float(np.max(U.values[np.isfinite(U.values)]))

    def xi(points):
        values = U(points, fill_value=top)
        return np.where(np.isfinite(values), values, top)

    A, B = Ball(O[i], radius), Ball(O[j], radius)
    level = max(fraction * V, 1.25 * float(np.max(xi(A.boundary_points(400)))))
    base = np.random.SeedSequence(seed)
    rows = []
    for eps, s in zip(eps_values, base.spawn(len(eps_values))):
        tau = mean_first_passage(sde, landscape.grid, eps, B, attractors=landscape, **options)
        predicted = float(tau(O[i]))
        q = committor(sde, landscape.grid, eps, A, B, attractors=landscape, **options)
        lower, upper = np.asarray(landscape.grid.lower), np.asarray(landscape.grid.upper)

        def q_anywhere(points, q=q):
            # (beyond the landscape's box, where an engine over a larger grid
            # may go: the value at the nearest point of the box)
            return q(np.clip(points, lower, upper))

        rate = ams_rate(sde, O[i], A, B, xi, level, eps=eps, dt=dt, splitting_coordinate=q_anywhere, n_loops=n_loops,
                        n_replicas=n_replicas, k=k, n_runs=n_runs, seed=int(s.generate_state(1)[0]), grid=grid,
                        confidence=confidence)
        rows.append(Comparison(f"mean time O_{i + 1} -> O_{j + 1} at eps = {eps:g}", predicted, rate.mean_time,
                               f"V / eps = {V / eps:.3g}; predicted: backward Kolmogorov; measured: AMS "
                               f"(p = {rate.probability.probability.value:.3g}, {rate.steps:.3g} steps)"))
    return rows


def _cores(landscape, radius, fraction: float):
    """The attractors (k >= 2, else ValueError) and the core radius: the
    given one, or ``fraction`` of the least distance between attractors."""
    O = np.asarray(landscape.attractors, dtype=float)
    if len(O) < 2:
        raise ValueError("the landscape has one attractor: there are no transitions")
    if radius is None:
        gaps = np.linalg.norm(O[:, None] - O[None], axis=-1) + np.diag(np.full(len(O), np.inf))
        radius = fraction * float(gaps.min())
    return O, radius
