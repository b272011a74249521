"""The simulation-engine protocol, and the drivers written once on top of it.

An engine advances paths of a discrete-time Markov chain x_{n+1} =
step(x_n, noise_n) with time dt per step and noise strength eps: Euler-
Maruyama for an SDE (numpy or the kernel), minibatch SGD (eps = eta / m),
and any other process written as an :class:`Engine`. It runs three
operations on a block of paths [first, first + count):

- ``paths``: the states every ``thin`` steps;
- ``exits``: the first step at which each path leaves a domain;
- ``tally``: a long run counted against core sets around attractors
  (the last core visited, transitions between cores).

Random numbers are keyed by the seed and the path (and, in the kernel, the
block of steps), so a seed fixes every path whatever the chunking into
tasks, the executor or the thread count.

:class:`SteppingEngine` implements the three operations from one step rule
in numpy, vectorised over paths, with PCG64 streams per block of
:data:`BLOCK` paths. The drivers :func:`run_paths`, :func:`run_exits` and
:func:`run_long` check the arguments, split the paths into tasks (run in
order, or on a ``concurrent.futures`` executor or a dask ``Client``), show
progress and assemble the results.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .. import _interrupt, _memory, _validate
from ..grid import Grid
from .domains import Domain
from .results import Exits, LongRun, Paths

__all__ = ["Engine", "SteppingEngine", "Cores", "Tally", "BLOCK", "block_rows", "run_paths", "run_exits",
           "run_long", "starts", "make_cores", "which_core", "kernel_seed"]

# Paths per random stream of the numpy engines: path i uses stream i // BLOCK
# (keyed by the seed and the block), so that results do not depend on how
# paths are split into tasks.
BLOCK = 256


@dataclass(frozen=True)
class Cores:
    """Core sets of a long run: balls of ``radii`` (k,) around ``centers`` (k, d)."""

    centers: np.ndarray
    radii: np.ndarray


@dataclass(frozen=True)
class Tally:
    """What a long run counted for a block of paths: steps with each last
    core visited (count, k + 1; column 0: none yet), transitions between
    cores (count, k, k), steps per basin label (count, labels + 1; None
    without labels), where the paths ended and their last cores, and the
    visits per node of the histogram's grid (None without)."""

    milestones: np.ndarray
    transitions: np.ndarray
    basin_steps: Optional[np.ndarray]
    ends: np.ndarray
    cores: np.ndarray
    histogram: Optional[np.ndarray]


class Engine(abc.ABC):
    """A simulation engine (see the module's description).

    Attributes
    ----------
    name : str
        Recorded in results as their ``engine``.
    eps, dt : float
        Noise strength and time per step.
    progress_inside : bool
        Whether ``exits`` and ``tally`` advance a progress bar themselves
        (engines that run many steps per call do).
    """

    name: str
    eps: float
    dt: float
    progress_inside: bool = False

    def check_starts(self, x: np.ndarray) -> None:
        """ValueError if the engine cannot start paths at x (n, d)."""

    def check_domain(self, domain: Domain) -> None:
        """ValueError if the engine cannot run exits from this domain."""

    @abc.abstractmethod
    def paths(self, x: np.ndarray, first: int, n_steps: int, thin: int, seed: int) -> np.ndarray:
        """States at steps 0, thin, 2 thin, ... <= n_steps of paths
        [first, first + len(x)) started at x: (count, n_steps // thin + 1, d)."""

    @abc.abstractmethod
    def exits(self, domain: Domain, x: np.ndarray, first: int, seed: int, max_steps: int, shift: float,
              bar=None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first step (<= max_steps) at which each path is outside the
        domain or within ``shift`` |Sigma^T n| of its boundary, where it
        crossed it, and which paths were still inside at max_steps."""

    @abc.abstractmethod
    def tally(self, x: np.ndarray, first: int, cores: Cores, seed: int, burn_in: int, total: int,
              labels: Optional[np.ndarray] = None, histogram: bool = False, bar=None) -> Tally:
        """A long run of ``total`` steps, counted after ``burn_in``; with
        ``labels`` (a basin label per node of the engine's grid) the steps per
        label, with ``histogram`` the visits per node."""


def block_rngs(seed: int, first: int, count: int) -> List[np.random.Generator]:
    """The PCG64 streams of the blocks that paths [first, first + count) fall in."""
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(b,))))
            for b in range(first // BLOCK, (first + count + BLOCK - 1) // BLOCK)]


def block_rows(rngs: Sequence[np.random.Generator], first: int, count: int,
               draw: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    """One step's random input for paths [first, first + count): each
    block's stream draws BLOCK rows (``draw(generator)``) whatever the
    count, so that a path's numbers do not depend on the others."""
    rows = np.concatenate([draw(g) for g in rngs])
    offset = first - (first // BLOCK) * BLOCK
    return rows[offset:offset + count]


def kernel_seed(seed: int) -> int:
    """The kernel's 64-bit key for a user seed."""
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])


def make_cores(attractors, radius, d: int) -> Cores:
    """Core sets from attractors (k, d) and a radius (one, or one per
    attractor), checked: finite centres, positive finite radii (copies of
    the caller's arrays)."""
    if np.ndim(attractors) != 2:
        raise ValueError(f"attractors must have shape (k, {d}), got {np.shape(attractors)}")
    centers = _validate.points(attractors, d, "attractors")
    try:
        radii = np.broadcast_to(_validate.real_array(radius, "radius"), (len(centers),)).copy()
    except ValueError:
        raise ValueError(f"radius must be a number or one per attractor ({len(centers)}), got {radius!r}") from None
    if not np.all(np.isfinite(radii) & (radii > 0)):
        raise ValueError(f"radius must be positive and finite, got {radius!r}")
    return Cores(centers, radii)


def which_core(x: np.ndarray, cores: Cores) -> np.ndarray:
    """Index of the first core containing each point, -1 if none."""
    out = np.full(len(x), -1, dtype=np.int64)
    for c in range(len(cores.centers) - 1, -1, -1):
        inside = np.sum((x - cores.centers[c]) ** 2, axis=-1) <= cores.radii[c] ** 2
        out = np.where(inside, c, out)
    return out


class SteppingEngine(Engine):
    """An engine from one step rule, in numpy, vectorised over paths.

    Subclasses give ``draw(rngs, first, count)``, a step's random input for
    paths [first, first + count) from the streams of their blocks (use
    :func:`block_rows`), and ``step(x, draws)``, the next states; for exits
    with a boundary shift also ``boundary_noise(x, normal)``, |Sigma^T n|.
    """

    @abc.abstractmethod
    def draw(self, rngs: Sequence[np.random.Generator], first: int, count: int) -> np.ndarray:
        """A step's random input for paths [first, first + count)."""

    @abc.abstractmethod
    def step(self, x: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """The states after one step from x with the random input ``draws``."""

    #: What the time step is called in this engine's arguments (said in
    #: "reduce ..." when a path diverges).
    step_name = "dt"

    def boundary_noise(self, x: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """|Sigma(x)^T n| per point, for the exit boundary's shift."""
        raise ValueError(f"the {self.name} engine has no boundary correction")

    def paths(self, x, first, n_steps, thin, seed):
        x = x.copy()
        count = len(x)
        rngs = block_rngs(seed, first, count)
        out = np.empty((count, n_steps // thin + 1, x.shape[1]))
        out[:, 0] = x
        for step in range(1, n_steps + 1):
            x = self.step(x, self.draw(rngs, first, count))
            if step % thin == 0:
                if not np.all(np.isfinite(x)):
                    i = int(np.flatnonzero(~np.all(np.isfinite(x), axis=1))[0])
                    raise ValueError(f"path {first + i} diverged by t = {step * self.dt:g}: reduce {self.step_name}")
                out[:, step // thin] = x
        return out

    def exits(self, domain, x, first, seed, max_steps, shift, bar=None):
        count = len(x)
        rngs = block_rngs(seed, first, count)
        steps = np.zeros(count, dtype=np.int64)
        positions = np.full(x.shape, np.nan)
        active = np.ones(count, dtype=bool)
        x = x.copy()
        for step in range(max_steps + 1):
            idx = np.flatnonzero(active)
            xa = x[idx]
            dist, normal = domain.distance(xa)
            gone = dist <= 0
            if shift > 0:
                gone |= dist <= shift * self.boundary_noise(xa, normal)
            if gone.any():
                g = idx[gone]
                steps[g] = step
                positions[g] = domain.project(xa[gone])
                active[g] = False
            if step == max_steps or not active.any():
                break
            # Every path of a block draws each step, exited or not: a path's
            # numbers do not depend on the others.
            draws = self.draw(rngs, first, count)
            keep = idx[~gone]
            x[keep] = self.step(x[keep], draws[keep])
            if not np.all(np.isfinite(x[keep])):
                raise ValueError(f"a path diverged by t = {(step + 1) * self.dt:g}: reduce {self.step_name}")
        return steps, positions, active

    def tally(self, x, first, cores, seed, burn_in, total, labels=None, histogram=False, bar=None):
        if labels is not None or histogram:
            raise ValueError(f"the {self.name} engine counts no basins or histograms: pass grid= to run the "
                             "kernel's engine")
        count = len(x)
        rngs = block_rngs(seed, first, count)
        x = x.copy()
        k = len(cores.centers)
        core = which_core(x, cores)
        milestones = np.zeros((count, k + 1), dtype=np.int64)
        transitions = np.zeros((count, k, k), dtype=np.int64)
        rows = np.arange(count)
        for step in range(total):
            x = self.step(x, self.draw(rngs, first, count))
            counted = step >= burn_in
            c = which_core(x, cores)
            move = (c >= 0) & (c != core)
            if counted:
                hit = move & (core >= 0)
                np.add.at(transitions, (rows[hit], core[hit], c[hit]), 1)
            core = np.where(move, c, core)
            if counted:
                milestones[rows, core + 1] += 1
        if not np.all(np.isfinite(x)):
            raise ValueError(f"a path diverged: reduce {self.step_name}")
        return Tally(milestones, transitions, None, x, core, None)


# -- the drivers -------------------------------------------------------------------------

def starts(x0, n_paths: int) -> np.ndarray:
    """Start points (n_paths, d) from one point (d,) or one per path."""
    x = _validate.real_array(x0, "x0")
    if x.ndim == 1:
        x = np.broadcast_to(x, (n_paths, len(x)))
    # Any d >= 1: the numpy engines (minibatch SGD on many parameters, SDEs
    # given by callables) step in any dimension; the kernel's engines check
    # their grid's.
    if x.ndim != 2 or x.shape[0] != n_paths or x.shape[1] < 1:
        raise ValueError(f"x0 must have shape (d,) or (n_paths, d) = ({n_paths}, d), got {np.shape(x0)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must be finite")
    return np.array(x, dtype=float)


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit_scale=True, leave=False)


def _tasks(n_paths: int, executor, chunk: Optional[int]) -> List[Tuple[int, int]]:
    """Ranges of paths [first, first + count), whole blocks each."""
    if chunk is None:
        chunk = n_paths if executor is None else max(BLOCK, -(-n_paths // (4 * BLOCK)) * BLOCK)
    chunk = _validate.count(chunk, "chunk")
    chunk = -(-chunk // BLOCK) * BLOCK
    return [(s, min(chunk, n_paths - s)) for s in range(0, n_paths, chunk)]


def _map(executor, fn, tasks, bar=None):
    """fn over the tasks (path ranges), in order; a bar advances by each
    task's paths as it completes."""
    def done(t, result):
        if bar is not None:
            bar.update(t[1])
        return result

    if executor is None:
        return [done(t, fn(t)) for t in tasks]
    futures = [executor.submit(fn, t) for t in tasks]
    try:
        return [done(t, f.result()) for t, f in zip(tasks, futures)]
    except BaseException:
        # Ctrl-C or a failed task: the tasks not yet started are dropped
        # rather than run on the caller's executor after the call has ended
        # (running ones stop at the kernel's next interrupt check).
        for f in futures:
            f.cancel()
        raise


def _run(executor, chunk, n_paths: int, task, bar):
    try:
        return _map(executor, task, _tasks(n_paths, executor, chunk), bar)
    finally:
        if bar is not None:
            bar.close()


@_interrupt.interruptible
def run_paths(engine: Engine, x0, n_steps: int, n_paths: int, seed=None, *, thin: int = 1, executor=None,
              chunk: Optional[int] = None, progress: bool = False) -> Paths:
    """Paths of an engine, kept every ``thin`` steps (see :func:`hjqp.simulate`)."""
    n_steps = _validate.count(n_steps, "n_steps", 0)
    n_paths = _validate.count(n_paths, "n_paths")
    thin = _validate.count(thin, "thin")
    seed = _validate.seed(seed)
    x = starts(x0, n_paths)
    engine.check_starts(x)
    kept = n_steps // thin + 1
    _memory.require(2.0 * n_paths * kept * x.shape[1] * 8, f"storing {n_paths} paths x {kept} states")
    times = np.arange(kept) * thin * engine.dt

    def task(t):
        first, count = t
        return engine.paths(x[first:first + count], first, n_steps, thin, seed)

    parts = _run(executor, chunk, n_paths, task, _progress(n_paths, progress, "paths"))
    return Paths(times, np.concatenate(parts), engine.eps, engine.dt, seed, engine.name)


@_interrupt.interruptible
def run_exits(engine: Engine, x0, domain: Domain, n_paths: int, seed=None, *, max_steps: int, shift: float = 0.0,
              executor=None, chunk: Optional[int] = None, progress: bool = False) -> Exits:
    """First exits of an engine's paths from a domain (see :func:`hjqp.exit_times`);
    paths still inside after ``max_steps`` are censored."""
    n_paths = _validate.count(n_paths, "n_paths")
    max_steps = _validate.count(max_steps, "max_steps")
    seed = _validate.seed(seed)
    if not isinstance(domain, Domain):
        raise TypeError(f"domain must be an hjqp.Ball, hjqp.Box or hjqp.LevelSet, got {type(domain).__name__}")
    x = starts(x0, n_paths)
    domain.check_dimension(x.shape[1])
    engine.check_starts(x)
    inside = domain.contains(x)
    if not np.all(inside):
        i = int(np.flatnonzero(~inside)[0])
        raise ValueError(f"x0 of path {i}, {tuple(float(v) for v in x[i])}, lies outside the domain {domain!r}")
    engine.check_domain(domain)
    bar = _progress(n_paths, progress and engine.progress_inside and executor is None, "exits")

    def task(t):
        first, count = t
        return engine.exits(domain, x[first:first + count], first, seed, max_steps, shift, bar)

    try:
        parts = _run(executor, chunk, n_paths, task, None)
    finally:
        if bar is not None:
            bar.close()
    steps = np.concatenate([p[0] for p in parts])
    positions = np.concatenate([p[1] for p in parts])
    censored = np.concatenate([p[2] for p in parts])
    max_time = max_steps * engine.dt
    times = np.where(censored, max_time, steps * engine.dt)
    positions[censored] = np.nan
    return Exits(times, positions, censored, engine.eps, engine.dt, max_time, seed, engine.name, shift > 0)


@_interrupt.interruptible
def run_long(engine: Engine, x0, n_steps: int, attractors, radius, n_paths: int = 1, seed=None, *,
             burn_in: int = 0, labels: Optional[np.ndarray] = None, grid: Optional[Grid] = None,
             histogram: bool = False, executor=None, chunk: Optional[int] = None,
             progress: bool = False) -> LongRun:
    """Long runs of an engine tallied against core sets (see :func:`hjqp.long_run`)."""
    n_steps = _validate.count(n_steps, "n_steps")
    burn_in = _validate.count(burn_in, "burn_in", 0)
    n_paths = _validate.count(n_paths, "n_paths")
    seed = _validate.seed(seed)
    x = starts(x0, n_paths)
    d = x.shape[1]
    cores = make_cores(attractors, radius, d)
    engine.check_starts(x)
    total = burn_in + n_steps
    bar = _progress(n_paths * total, progress and engine.progress_inside and executor is None, "path-steps")

    def task(t):
        first, count = t
        return engine.tally(x[first:first + count], first, cores, seed, burn_in, total, labels, histogram, bar)

    try:
        parts = _run(executor, chunk, n_paths, task, None)
    finally:
        if bar is not None:
            bar.close()

    def cat(name):
        return np.concatenate([getattr(p, name) for p in parts])

    hist = np.sum([p.histogram for p in parts], axis=0) if histogram else None
    return LongRun(cores.centers, cores.radii, engine.eps, engine.dt, n_steps, burn_in, cat("milestones"), cat("transitions"),
                   cat("basin_steps") if labels is not None else None, hist, grid, cat("ends"), cat("cores"), seed,
                   engine.name)
