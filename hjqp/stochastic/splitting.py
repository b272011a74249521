"""Rare events by adaptive multilevel splitting (AMS), on any simulation
engine.

:func:`ams` estimates p = P(a path from ``start`` reaches B before A) for
p far below what brute force reaches (1e-10 is routine), with the
generalised AMS of Brehier, Gazeau, Goudenege, Lelievre and Rousset (Ann.
Appl. Probab. 2016), after Cerou and Guyader (2007):

1. N replicas run from the start until they reach A or B. Each has a
   level: the largest reaction coordinate xi along it (+inf once in B).
2. Z = the k-th smallest level. If Z = +inf (fewer than k replicas miss B)
   stop. Otherwise every replica with level <= Z is killed (K >= k of
   them, ties included) and replaced by a copy of a survivor, drawn
   uniformly, up to the first state where xi > Z, continued with fresh
   noise until A or B. The weight is multiplied by 1 - K / N.
3. p_hat = weight x (replicas in B) / N: unbiased for any N >= 2, any k
   and any xi (the theorem of Brehier et al.); xi decides the variance
   only. Ideal xi (the committor) and k = 1 give relative variance about
   -ln p / N.

Independent runs give the interval (their spread: the estimator is
unbiased, so their mean is, and a Student t interval holds as they are
i.i.d.). The runs are simulated together, their killed replicas in one
batch, so that engines vectorised over paths are used well.

:func:`ams_rate` turns p into a transition rate by the standard
decomposition (Cerou, Guyader, Lelievre and Pommier 2011): a brute-force
run near A counts the loops A -> Sigma -> A, Sigma = {xi = level}, and
collects where they cross Sigma; AMS from those points gives p; then the
mean transition time is E T = (1/p - 1) E[loop] + E[A -> Sigma] + E[Sigma ->
B | reactive] and the rate 1 / E T.

Reaction coordinates: any callable on points (..., d) that is finite off
B and grows from A to B: the quasi-potential of A's attractor (a
:class:`hjqp.QuasiPotential`, e.g. ``landscape.local[i]``), or the
committor of A and B on a grid (:func:`hjqp.committor`), the optimal one.

Random numbers: each batch of steps is keyed by the seed and a counter,
the branching draws come from one generator of the seed: the same seed
and arguments give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from .. import _validate
from ..grid import Grid
from ..problem import describe_point
from .domains import Domain
from .engine import Engine
from .estimators import Estimate

__all__ = ["Splitting", "TransitionRate", "ams", "ams_rate"]


@dataclass(frozen=True)
class Splitting:
    """An AMS estimate of p = P(reach B before A).

    Attributes
    ----------
    probability : Estimate
        The mean of the runs' estimates, with a Student t interval over the
        runs (with one run: the asymptotic relative variance -ln p / N).
    estimates : ndarray (n_runs,)
        Each run's unbiased estimate.
    iterations : ndarray (n_runs,)
        Each run's number of levels.
    reactive_time : float
        The mean duration of the paths that reached B (from the start), NaN
        if none did.
    steps : int
        Steps simulated in all runs (the cost).
    """

    probability: Estimate
    estimates: np.ndarray
    iterations: np.ndarray
    reactive_time: float
    steps: int
    n_replicas: int
    k: int
    eps: float
    dt: float
    seed: int
    engine: str
    metadata: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class TransitionRate:
    """The rate of transitions A -> B from the decomposition
    rate = 1 / ((1/p - 1) E[loop] + E[A -> Sigma] + E[Sigma -> B]).

    Attributes
    ----------
    rate, mean_time : Estimate
        The rate and the mean transition time (time from an entrance into A
        to B), with intervals from the delta method on ln (p, E[loop]).
    probability : Splitting
        p = P(reach B before A | start on Sigma), by AMS.
    loop_time : Estimate
        E[loop], the mean time from an entrance into A, over Sigma, back to A.
    crossing_time : float
        E[A -> Sigma], the mean time from an entrance into A to Sigma.
    loops : int
        Loops counted by brute force.
    steps : int
        Steps simulated in all (brute force and AMS): the cost.
    """

    rate: Estimate
    mean_time: Estimate
    probability: Splitting
    loop_time: Estimate
    crossing_time: float
    loops: int
    steps: int
    metadata: dict = field(default_factory=dict, repr=False, compare=False)


# -- arguments ----------------------------------------------------------------------------

def _membership(spec, name: str) -> Callable[[np.ndarray], np.ndarray]:
    if isinstance(spec, Domain):
        return spec.contains
    if callable(spec):
        return lambda x: np.asarray(spec(x), dtype=bool)
    raise TypeError(f"{name} must be an hjqp domain (Ball, Box, LevelSet, ...) or a callable on points (..., d) "
                    f"returning booleans, got {type(spec).__name__}")


def _engine_for(model, eps, dt, d: int, grid: Optional[Grid]) -> Engine:
    if isinstance(model, Engine):
        if eps is not None or dt is not None or grid is not None:
            raise ValueError("an engine carries its own eps, dt (and grid): pass them only with an SDE or a "
                             "reaction network")
        return model
    if eps is None or dt is None:
        raise ValueError("simulating an SDE or a reaction network needs eps= and dt=")
    from .euler_maruyama import _engine

    return _engine(model, eps, dt, d, None, grid, None)


class _Levels:
    """The reaction coordinate with +inf on B, and the sets A and B."""

    def __init__(self, xi, in_a, in_b):
        if not callable(xi):
            raise TypeError(f"reaction_coordinate must be a callable on points (..., d), got {type(xi).__name__}")
        self.xi, self.in_a, self.in_b = xi, in_a, in_b

    def __call__(self, x: np.ndarray):
        """Levels, and which points lie in A and in B, for points (m, d)."""
        a = self.in_a(x)
        b = self.in_b(x)
        values = np.asarray(self.xi(x), dtype=float).reshape(len(x))
        bad = ~b & ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"the reaction coordinate is {values[bad][0]} at {describe_point(x[bad][0])}, outside "
                             "B: it must be finite wherever paths go")
        return np.where(b, np.inf, values), a, b


# -- paths until A or B -------------------------------------------------------------------

@dataclass
class _Replica:
    """A path's records: the states where its running maximum of the level
    grew (level, step), and how it ended."""

    x: np.ndarray
    level: np.ndarray
    step: np.ndarray
    end: int = 0
    in_b: bool = False

    @property
    def top(self) -> float:
        return float(self.level[-1])

    def branch(self, z: float) -> "_Replica":
        """A copy up to its first record above z."""
        r = int(np.searchsorted(self.level, z, side="right"))
        return _Replica(self.x[:r + 1].copy(), self.level[:r + 1].copy(), self.step[:r + 1].copy(),
                        int(self.step[r]), bool(np.isinf(self.level[r])))


class _Runner:
    """Runs paths of an engine until they reach A or B, in batches of
    ``chunk`` steps, each batch keyed by the seed and a counter."""

    def __init__(self, engine: Engine, levels: _Levels, seed: int, chunk: int, max_steps: int):
        self.engine, self.levels = engine, levels
        self.seed, self.chunk, self.max_steps = seed, chunk, max_steps
        self.calls = 0
        self.steps = 0

    def key(self) -> int:
        self.calls += 1
        return int(np.random.SeedSequence([self.seed, self.calls]).generate_state(1, np.uint64)[0] >> 1)

    def finish(self, replicas: List[_Replica]) -> None:
        """Continue each replica (not in B) from its last record until A or B."""
        todo = [r for r in replicas if not r.in_b]
        if not todo:
            return
        x = np.array([r.x[-1] for r in todo]).reshape(len(todo), -1)
        step = np.array([r.end for r in todo], dtype=np.int64)
        start = step.copy()
        while todo:
            states = self.engine.paths(x, 0, self.chunk, 1, self.key())[:, 1:]
            m, n, d = states.shape
            self.steps += m * n
            level, in_a, in_b = self.levels(states.reshape(-1, d))
            level, in_a, in_b = level.reshape(m, n), in_a.reshape(m, n), in_b.reshape(m, n)
            stop = in_a | in_b
            stops = np.where(stop.any(axis=1), np.argmax(stop, axis=1), n)
            keep = []
            for i, r in enumerate(todo):
                # The states up to the stop, the stop itself only if in B (a
                # state in A is never a branching point).
                last = stops[i] + 1 if stops[i] < n and in_b[i, stops[i]] else min(stops[i], n)
                seen = level[i, :last]
                before = np.maximum.accumulate(np.concatenate([[r.top], seen]))[:-1]
                new = np.flatnonzero(seen > before)
                if len(new):
                    r.x = np.concatenate([r.x, states[i, new]])
                    r.level = np.concatenate([r.level, seen[new]])
                    r.step = np.concatenate([r.step, step[i] + 1 + new])
                if stops[i] < n:
                    r.end = int(step[i] + 1 + stops[i])
                    r.in_b = bool(in_b[i, stops[i]])
                elif step[i] + n - start[i] >= self.max_steps:
                    raise ValueError(f"a path ran {self.max_steps} steps without reaching A or B (from "
                                     f"{describe_point(r.x[0])}): A must be reachable; raise max_steps")
                else:
                    keep.append(i)
            x = states[keep, -1]
            step = step[keep] + n
            start = start[keep]
            todo = [todo[i] for i in keep]


def _starts(start) -> np.ndarray:
    x = _validate.real_array(start, "start")
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or len(x) == 0 or x.shape[1] not in (1, 2, 3) or not np.all(np.isfinite(x)):
        raise ValueError(f"start must be a finite point (d,) or points (m, d), got shape {np.shape(start)}")
    return x


# -- AMS ----------------------------------------------------------------------------------

def ams(model, start, A, B, reaction_coordinate, *, eps: Optional[float] = None, dt: Optional[float] = None,
        n_replicas: int = 100, k: int = 1, n_runs: int = 10, seed=None, grid: Optional[Grid] = None,
        max_steps: int = 10**6, chunk: int = 64, confidence: float = 0.95) -> Splitting:
    """P(a path from ``start`` reaches B before A), by adaptive multilevel
    splitting (see :mod:`hjqp.stochastic.splitting`).

    Parameters
    ----------
    model : Engine, SDE or ReactionNetwork
        An engine (e.g. minibatch SGD's ``sgd.engine(eta)``), or a model
        simulated as :func:`hjqp.simulate` does (Euler-Maruyama, or
        Gillespie for a network; ``grid=`` for the kernel's engine).
    start : array (d,) or (m, d)
        The start, or points from which each replica's start is drawn
        uniformly (e.g. where brute-force paths crossed a surface around A).
        Outside A and B.
    A, B : Domain or callable
        Sets that stop paths (A: failure, B: success); a callable maps points
        (m, d) to booleans.
    reaction_coordinate : callable
        xi on points (m, d), finite off B (its value on B is not used).
    eps, dt : float
        Noise strength and time step (not with an engine).
    n_replicas : int
        N >= 2.
    k : int
        Replicas killed per level at least (1 <= k < N): a larger k costs
        fewer iterations and batches better, with a little more variance.
    n_runs : int
        Independent runs, for the interval.
    seed : int or None
    grid : Grid, optional
        The kernel's Euler-Maruyama engine over the fields on this grid.
    max_steps : int
        Steps a path may run without reaching A or B (ValueError beyond).
    chunk : int
        Steps per call of the engine.
    confidence : float

    Returns
    -------
    Splitting
    """
    n_replicas = _validate.count(n_replicas, "n_replicas", 2)
    k = _validate.count(k, "k")
    if k >= n_replicas:
        raise ValueError(f"k must be below n_replicas = {n_replicas}, got {k}")
    n_runs = _validate.count(n_runs, "n_runs")
    max_steps = _validate.count(max_steps, "max_steps")
    chunk = _validate.count(chunk, "chunk")
    confidence = _validate.in_range("confidence", confidence, 0.5, 0.999999)
    seed = _validate.seed(seed)
    points = _starts(start)
    engine = _engine_for(model, eps, dt, points.shape[1], grid)
    levels = _Levels(reaction_coordinate, _membership(A, "A"), _membership(B, "B"))
    level0, in_a, in_b = levels(points)
    if (in_a | in_b).any():
        i = int(np.flatnonzero(in_a | in_b)[0])
        raise ValueError(f"start {describe_point(points[i])} lies in {'A' if in_a[i] else 'B'}: it must lie outside both")
    engine.check_starts(points)
    runner = _Runner(engine, levels, seed, chunk, max_steps)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0])))

    n = n_replicas
    runs = []
    for _ in range(n_runs):
        pick = rng.integers(len(points), size=n)
        runs.append([_Replica(points[i][None].copy(), level0[i:i + 1].copy(), np.zeros(1, dtype=np.int64))
                     for i in pick])
    runner.finish([r for run in runs for r in run])
    log_weight = np.zeros(n_runs)
    iterations = np.zeros(n_runs, dtype=np.int64)
    extinct = np.zeros(n_runs, dtype=bool)
    active = list(range(n_runs))
    while active:
        batch, still = [], []
        for j in active:
            tops = np.array([r.top for r in runs[j]])
            z = np.sort(tops)[k - 1]
            if np.isinf(z):
                continue  # fewer than k replicas miss B: done
            killed = np.flatnonzero(tops <= z)
            survivors = np.flatnonzero(tops > z)
            if len(survivors) == 0:
                extinct[j] = True  # every replica at the same level: p_hat = 0
                continue
            log_weight[j] += math.log1p(-len(killed) / n)
            iterations[j] += 1
            for i in killed:
                runs[j][i] = runs[j][int(rng.choice(survivors))].branch(z)
                batch.append(runs[j][i])
            still.append(j)
        runner.finish(batch)
        active = still
    reached = np.array([sum(r.in_b for r in run) for run in runs])
    estimates = np.where(extinct, 0.0, np.exp(log_weight) * reached / n)
    durations = [r.end for run in runs for r in run if r.in_b]
    reactive_time = float(np.mean(durations)) * engine.dt if durations else math.nan
    return Splitting(_interval(estimates, n, confidence), estimates, iterations, reactive_time, runner.steps,
                     n_replicas, k, engine.eps, engine.dt, seed, engine.name)


def _interval(estimates: np.ndarray, n_replicas: int, confidence: float) -> Estimate:
    from scipy import stats

    m = float(np.mean(estimates))
    if len(estimates) >= 2:
        half = stats.t.ppf(0.5 + confidence / 2, len(estimates) - 1) * np.std(estimates, ddof=1) / math.sqrt(
            len(estimates))
        return Estimate(m, max(m - half, 0.0), m + half, confidence, f"AMS, spread over {len(estimates)} runs")
    if m <= 0:
        return Estimate(m, 0.0, math.inf, confidence, "AMS, one run, no path reached B")
    z = stats.norm.ppf(0.5 + confidence / 2)
    rel = math.sqrt(-math.log(min(m, 1.0 - 1e-12)) / n_replicas)
    return Estimate(m, m * math.exp(-z * rel), m * math.exp(z * rel), confidence,
                    "AMS, one run, asymptotic variance -ln p / N")


# -- rates --------------------------------------------------------------------------------

def ams_rate(model, x0, A, B, reaction_coordinate, level: float, *, eps: Optional[float] = None,
             dt: Optional[float] = None, splitting_coordinate=None, n_loops: int = 200, n_walkers: int = 16,
             n_replicas: int = 100, k: int = 1, n_runs: int = 10, seed=None, grid: Optional[Grid] = None,
             max_steps: int = 10**6, chunk: int = 64, confidence: float = 0.95) -> TransitionRate:
    """The rate of transitions from A to B: brute force near A for the
    loops A -> Sigma -> A (Sigma = {xi = level}), AMS from where they crossed
    Sigma for p, and rate = 1 / ((1/p - 1) E[loop] + E[A -> Sigma] +
    E[Sigma -> B]) (see :mod:`hjqp.stochastic.splitting`).

    Parameters
    ----------
    x0 : array (d,)
        Where the brute-force walkers start, in A (their first loop, from
        x0 rather than from an entrance into A, is not counted).
    level : float
        Sigma's level of the reaction coordinate: above xi on A, below it on
        B; low enough that the walkers cross it often (the loops are brute
        force), high enough that p is what costs.
    splitting_coordinate : callable, optional
        The coordinate whose levels AMS splits at, if not
        ``reaction_coordinate`` (which then only defines Sigma): e.g. the
        committor (:func:`hjqp.committor`), whose levels give the least
        variance, while Sigma is a surface of the quasi-potential.
    n_loops : int
        Loops to count (E[loop]'s relative error is about 1 / sqrt(n_loops)).
    n_walkers : int
        Brute-force paths run side by side.
    Other parameters as in :func:`ams`.

    Returns
    -------
    TransitionRate
    """
    from scipy import stats

    n_loops = _validate.count(n_loops, "n_loops")
    n_walkers = _validate.count(n_walkers, "n_walkers")
    chunk = _validate.count(chunk, "chunk")
    max_steps = _validate.count(max_steps, "max_steps")
    seed = _validate.seed(seed)
    level = float(level)
    start = _starts(x0)
    if len(start) != 1:
        raise ValueError(f"x0 must be one point (d,), got shape {np.shape(x0)}")
    engine = _engine_for(model, eps, dt, start.shape[1], grid)
    levels = _Levels(reaction_coordinate, _membership(A, "A"), _membership(B, "B"))
    xi0, in_a, _ = levels(start)
    if not in_a[0]:
        raise ValueError(f"x0 {describe_point(start[0])} must lie in A")
    if not xi0[0] < level:
        raise ValueError(f"the reaction coordinate at x0 is {xi0[0]:g}, not below level = {level:g}")
    if isinstance(A, Domain):
        rim = A.boundary_points(400)
        high = np.asarray(reaction_coordinate(rim), dtype=float) >= level
        if high.any():
            raise ValueError(f"the reaction coordinate reaches level = {level:g} on A's boundary (at "
                             f"{describe_point(rim[high][0])}): Sigma must lie outside A; raise the level or shrink A")
    engine.check_starts(start)
    runner = _Runner(engine, levels, int(np.random.SeedSequence([seed, 1]).generate_state(1, np.uint64)[0] >> 1),
                     chunk, max_steps)

    # Walkers: phase 0 waits for Sigma, phase 1 for A; entry = the step of
    # the last entrance into A (-1 before the first).
    x = np.repeat(start, n_walkers, axis=0)
    phase = np.zeros(n_walkers, dtype=int)
    entry = np.full(n_walkers, -1, dtype=np.int64)
    crossed_at = np.zeros(n_walkers, dtype=np.int64)
    clock = np.zeros(n_walkers, dtype=np.int64)
    loops, to_sigma, crossings = [], [], []
    transitions = 0
    while len(loops) < n_loops:
        states = engine.paths(x, 0, chunk, 1, runner.key())[:, 1:]
        m, n, d = states.shape
        runner.steps += m * n
        lv, a, b = levels(states.reshape(-1, d))
        lv, a, b = lv.reshape(m, n), a.reshape(m, n), b.reshape(m, n)
        for w in range(m):
            t = 0
            while t < n:
                if phase[w] == 0:
                    hit = np.flatnonzero((lv[w, t:] >= level) | b[w, t:])
                else:
                    hit = np.flatnonzero(a[w, t:] | b[w, t:])
                if len(hit) == 0:
                    break
                t += int(hit[0])
                now = clock[w] + t + 1
                if b[w, t]:
                    # A transition during brute force (rare by design): the
                    # loop is dropped and the walker starts again at x0.
                    transitions += 1
                    states[w, -1] = start[0]
                    phase[w], entry[w] = 0, -1
                    break
                if phase[w] == 0:
                    if entry[w] >= 0:
                        crossings.append(states[w, t].copy())
                        to_sigma.append(now - entry[w])
                    phase[w], crossed_at[w] = 1, now
                else:
                    if entry[w] >= 0:
                        loops.append(now - entry[w])
                    phase[w], entry[w] = 0, now
                t += 1
        clock += n
        x = states[:, -1]
        if runner.steps > max_steps * n_walkers:
            raise ValueError(f"{runner.steps} brute-force steps gave {len(loops)} of the {n_loops} loops: lower the "
                             "level, or raise max_steps")
    brute_steps = runner.steps
    xi = reaction_coordinate if splitting_coordinate is None else splitting_coordinate
    splitting = ams(engine, np.array(crossings), A, B, xi, n_replicas=n_replicas, k=k,
                    n_runs=n_runs, seed=seed, max_steps=max_steps, chunk=chunk, confidence=confidence)
    loop = np.asarray(loops, dtype=float) * engine.dt
    t_loop = float(loop.mean())
    se_loop = float(loop.std(ddof=1) / math.sqrt(len(loop))) if len(loop) > 1 else math.inf
    tq = stats.t.ppf(0.5 + confidence / 2, max(len(loop) - 1, 1))
    loop_time = Estimate(t_loop, t_loop - tq * se_loop, t_loop + tq * se_loop, confidence,
                         f"sample mean of {len(loop)} loops")
    p = splitting.probability.value
    t_sigma = float(np.mean(to_sigma)) * engine.dt
    reactive = splitting.reactive_time if np.isfinite(splitting.reactive_time) else 0.0
    if p <= 0:
        raise ValueError("no AMS replica reached B: the rate is below what these settings resolve; raise "
                         "n_replicas or check that B is reachable")
    mean_time = (1 / p - 1) * t_loop + t_sigma + reactive
    est = splitting.estimates
    se_p = float(np.std(est, ddof=1) / math.sqrt(len(est))) if len(est) > 1 else p * math.sqrt(
        -math.log(min(p, 1 - 1e-12)) / n_replicas)
    z = stats.norm.ppf(0.5 + confidence / 2)
    rel = math.sqrt((se_p / p) ** 2 + (se_loop / t_loop) ** 2)
    method = f"AMS x loops, delta method ({len(est)} runs, {len(loop)} loops)"
    mean = Estimate(mean_time, mean_time * math.exp(-z * rel), mean_time * math.exp(z * rel), confidence, method)
    rate = Estimate(1 / mean_time, 1 / mean.high, 1 / mean.low, confidence, method)
    return TransitionRate(rate, mean, splitting, loop_time, t_sigma, len(loop), brute_steps + splitting.steps,
                          metadata=dict(brute_force_steps=brute_steps, brute_force_transitions=transitions))
