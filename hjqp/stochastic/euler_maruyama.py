"""Euler-Maruyama for dx = b dt + sqrt(eps) Sigma dW: paths, first exits and
long runs (the drivers of hjqp.stochastic.engine over two engines).

Two engines run the same scheme:

- exact (the default): numpy, vectorised over paths, calling the SDE's drift
  and diffusion at every step. Works with callables and constants.
- native (``grid=`` given): the compiled kernel over b and the Cholesky
  factor of D sampled on that grid (multilinear interpolation between
  nodes), multithreaded, tens of millions of path-steps per second. The
  grid must cover everywhere the paths go; fields that jump are smoothed
  over one cell.

Random numbers are reproducible: a seed fixes every path whatever the
chunking, the executor or the thread count. The two engines use different
generators (numpy's PCG64 per block of paths; xoshiro256++ per path in the
kernel), so they agree in distribution, not path by path.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from typing import Optional

import numpy as np

from .. import _core, _interrupt, _memory, _validate
from ..grid import Grid
from ..problem import SDE, check_spd, describe_node, describe_point, rewrap
from ..problem.network import ReactionNetwork
from .domains import Domain
from .engine import (BLOCK, Engine, SteppingEngine, Tally, block_rows, kernel_seed, run_exits, run_long, run_paths,
                     starts, which_core)
from .gillespie import Gillespie, gillespie
from .results import Exits, LongRun, Paths

__all__ = ["simulate", "exit_times", "long_run", "euler_maruyama", "NumpyEulerMaruyama", "NativeEulerMaruyama",
           "native_fields", "GOBET_MENOZZI"]

# Gobet-Menozzi: shift the boundary inward by this times |Sigma^T n| sqrt(eps dt)
# (-zeta(1/2) / sqrt(2 pi)).
GOBET_MENOZZI = 0.5826
# Path-steps per call of the native engine between progress updates, at
# least: calls end at multiples of the kernel's random-stream block, so that
# the next call starts a fresh block rather than replaying one.
_SLICE = 1 << 25


class NumpyEulerMaruyama(SteppingEngine):
    """Euler-Maruyama with the SDE's own callables, vectorised over paths
    (the "exact" engine: no sampling on a grid)."""

    name = "exact"

    def __init__(self, sde: SDE, eps: float, dt: float, d: int, sigma=None):
        if isinstance(sde.drift, np.ndarray) or (
                isinstance(sde.diffusion, np.ndarray) and sde.diffusion.ndim > 2):
            raise ValueError("this SDE is given by arrays on a grid: pass grid= to simulate it with "
                             "the native engine")
        if sde.dim is not None and sde.dim != d:
            raise ValueError(f"x0 is {d}-dimensional but the SDE is {sde.dim}-dimensional")
        self.sde = sde
        self.d = d
        self._sigma_fn = None
        self._sigma_const = None
        if sigma is not None:
            if callable(sigma):
                self._sigma_fn = sigma
            else:
                self._sigma_const = _constant_sigma(sigma, d).copy()
        else:
            dm = sde.diffusion
            if callable(dm):
                self._sigma_fn = self._cholesky
            elif dm.ndim == 0:
                self._sigma_const = math.sqrt(float(dm)) * np.eye(d)
            else:
                if dm.shape != (d, d):
                    raise ValueError(f"the diffusion matrix is {dm.shape} but x0 is {d}-dimensional")
                self._sigma_const = np.linalg.cholesky(dm)
        self.noise_dim = self._sigma_const.shape[1] if self._sigma_const is not None else (
            d if sigma is None else None)
        self.eps, self.dt = eps, dt
        self.scale = math.sqrt(eps * dt)

    # The SDE's callables are checked at every step, at the points the paths
    # are at: a NaN drift, an indefinite or asymmetric D or a NaN sigma is
    # named where it occurs, rather than found later as a path that
    # "diverged" (and the kernel's engine, which samples the same callables
    # on its grid, rejects the same inputs).
    def _cholesky(self, x):
        dm = _validate.real_array(self.sde.diffusion(x), "the diffusion callable's result")
        points = x.reshape(-1, self.d)
        if dm.shape == x.shape[:-1]:
            bad = ~(np.isfinite(dm) & (dm > 0))
            if bad.any():
                i = int(np.flatnonzero(bad.reshape(-1))[0])
                raise ValueError(f"the diffusion c(x) is not positive and finite at {describe_point(points[i])}: "
                                 f"{float(dm.reshape(-1)[i])}")
            return np.sqrt(dm)[..., None, None] * np.eye(self.d)
        if dm.shape != x.shape[:-1] + (self.d, self.d):
            raise ValueError(f"the diffusion callable returned shape {dm.shape} for points of shape {x.shape}; "
                             f"expected {x.shape[:-1] + (self.d, self.d)}")
        flat = dm.reshape(-1, self.d, self.d)
        bad = ~np.all(np.isfinite(flat), axis=(1, 2))
        if bad.any():
            raise ValueError(f"diffusion is not finite at {describe_point(points[np.flatnonzero(bad)[0]])}")
        check_spd(flat, lambda i: describe_point(points[i]))
        return np.linalg.cholesky(dm)

    def drift(self, x):
        b = _validate.real_array(self.sde.drift(x), "the drift callable's result")
        if b.shape != x.shape:
            raise ValueError(f"the drift returned shape {b.shape} for points of shape {x.shape}")
        bad = ~np.all(np.isfinite(b), axis=-1)
        if bad.any():
            raise ValueError(f"drift is not finite at {describe_point(x.reshape(-1, self.d)[np.flatnonzero(bad)[0]])}")
        return b

    def sigma(self, x):
        if self._sigma_const is not None:
            return self._sigma_const
        s = _validate.real_array(self._sigma_fn(x), "sigma")
        if s.ndim != x.ndim + 1 or s.shape[:-1] != x.shape:
            raise ValueError(f"sigma returned shape {s.shape} for points of shape {x.shape}; "
                             f"expected {x.shape + ('m',)}")
        bad = ~np.all(np.isfinite(s), axis=(-2, -1))
        if bad.any():
            raise ValueError(f"sigma is not finite at {describe_point(x.reshape(-1, self.d)[np.flatnonzero(bad)[0]])}")
        return s

    def noise(self, sigma, z):
        if sigma.ndim == 2:
            return z @ sigma.T
        return np.einsum("pij,pj->pi", sigma, z)

    def draw(self, rngs, first: int, count: int) -> np.ndarray:
        if self.noise_dim is None:  # a sigma callable: its column count, once
            self.noise_dim = self.sigma(np.zeros((1, self.d))).shape[-1]
        m = self.noise_dim
        return block_rows(rngs, first, count, lambda g: g.standard_normal((BLOCK, m)))

    def step(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        return x + self.drift(x) * self.dt + self.scale * self.noise(self.sigma(x), z)

    def boundary_noise(self, x: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """|Sigma(x)^T n| per point."""
        s = self.sigma(x)
        st_n = normal @ s if s.ndim == 2 else np.einsum("pij,pi->pj", s, normal)
        return np.linalg.norm(st_n, axis=-1)


def native_fields(sde: SDE, grid: Grid, sigma=None):
    """The kernel's sampled SDE on a grid: b and the Cholesky factor of D
    (or of Sigma Sigma^T), sampled and checked now.

    Nothing is cached across calls: the drift, the diffusion and sigma are
    what the caller can change (an array in place, a callable's
    parameters), and fields kept from an earlier call would silently
    simulate the old SDE. A simulation samples once and keeps the result
    for its own tasks (:class:`NativeEulerMaruyama`).
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
    _memory.require(_memory.native_fields_bytes(grid), f"sampling the SDE on {' x '.join(map(str, grid.shape))} nodes")
    fields = sde.fields(grid)
    d = grid.ndim
    if sigma is None:
        b, dm = fields.sample()
    else:
        b = fields.sampled_drift()
        s = _sigma_on_grid(sigma, grid)
        dm = np.einsum("...ij,...kj->...ik", s, s)
        check_spd(dm.reshape(-1, d, d), fields.describe_node, "Sigma Sigma^T (from sigma)")
    chol = np.linalg.cholesky(dm)
    make = _core.SampledSDE2 if d == 2 else _core.SampledSDE3
    return make(np.asarray(grid.lower), np.asarray(grid.spacing), b, np.ascontiguousarray(chol))


def _sigma_on_grid(sigma, grid: Grid) -> np.ndarray:
    """sigma (a (d, m) matrix or a callable x -> (..., d, m)) at the nodes,
    (*shape, d, m), checked real and finite."""
    d = grid.ndim
    if callable(sigma):
        pts = grid.points()
        try:
            out = sigma(pts)
        except Exception as exc:
            raise rewrap(exc, f"the sigma callable failed on points of shape {pts.shape}") from exc
        s = _validate.real_array(out, "the sigma callable's result")
        if s.ndim != d + 2 or s.shape[:d + 1] != grid.shape + (d,):
            raise ValueError(f"sigma returned shape {s.shape} for points of shape {pts.shape}; expected "
                             f"{grid.shape + (d, 'm')}")
    else:
        s = _constant_sigma(sigma, d)
        s = np.broadcast_to(s, grid.shape + s.shape)
    bad = ~np.all(np.isfinite(s), axis=(-2, -1))
    if bad.any():
        raise ValueError(f"sigma is not finite at {describe_node(grid, np.flatnonzero(bad)[0])}")
    return s


def _constant_sigma(sigma, d: int) -> np.ndarray:
    """A constant sigma: a real, finite (d, m) matrix."""
    s = _validate.real_array(sigma, "sigma")
    if s.ndim != 2 or s.shape[0] != d or s.shape[1] < 1:
        raise ValueError(f"sigma must be a (d, m) matrix with d = {d}, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"sigma must be finite, got {s.tolist()}")
    return s


def _slice_end(n0: int, total: int, paths: int) -> int:
    block = int(_core.EM_STEP_BLOCK)
    n1 = n0 + max(1, _SLICE // max(paths, 1))
    return min(total, -(-n1 // block) * block)


class NativeEulerMaruyama(Engine):
    """Euler-Maruyama in the kernel over b and the Cholesky factor of D
    sampled on a grid (multilinear between nodes), on ``threads`` threads,
    interruptible with Ctrl-C. Paths must stay in the grid's box. Random
    numbers: xoshiro256++ keyed by (seed, path, block of steps)."""

    name = "native"
    progress_inside = True

    def __init__(self, sde: SDE, eps: float, dt: float, grid: Grid, sigma=None, threads: Optional[int] = None):
        self.sde, self.grid = sde, grid
        # A copy of a constant sigma: the engine simulates what it was given.
        self.sigma = sigma if sigma is None or callable(sigma) else _constant_sigma(sigma, grid.ndim).copy()
        self.eps, self.dt = eps, dt
        self.threads = _validate.threads(threads)
        self._native = native_fields(sde, grid, self.sigma)  # sampled and checked once per simulation

    def __getstate__(self):
        # The compiled fields do not pickle: a worker process samples them
        # again from the same SDE and sigma.
        state = self.__dict__.copy()
        state["_native"] = None
        return state

    def _fields(self):
        if self._native is None:
            self._native = native_fields(self.sde, self.grid, self.sigma)
        return self._native

    def check_starts(self, x):
        if x.shape[1] != self.grid.ndim:
            raise ValueError(f"x0 is {x.shape[1]}-dimensional but the grid is {self.grid.ndim}-dimensional")
        inside = self.grid.contains(x)
        if not np.all(inside):
            i = int(np.flatnonzero(~inside)[0])
            raise ValueError(f"x0 of path {i}, {tuple(float(v) for v in x[i])}, lies outside the grid's box "
                             f"{self.grid.lower} to {self.grid.upper}")

    def check_domain(self, domain):
        lo, hi = domain.bounds()
        if not (np.all(lo >= np.asarray(self.grid.lower)) and np.all(hi <= np.asarray(self.grid.upper))):
            raise ValueError(f"the domain {domain!r} must lie inside the grid's box {self.grid.lower} to "
                             f"{self.grid.upper} for the native engine")

    def _check_stayed(self, out, first: int) -> None:
        """ValueError naming the first path that left the grid."""
        left = out.stops == _core.PathStop.LEFT_GRID
        if left.any():
            i = int(np.flatnonzero(left)[0])
            raise ValueError(
                f"path {first + i} left the grid's box at t = {out.steps[i] * self.dt:g} (from "
                f"{tuple(float(v) for v in np.round(out.ends[i], 6))}): enlarge the grid or confine the drift")

    def paths(self, x, first, n_steps, thin, seed):
        store = _core.em_store2 if x.shape[1] == 2 else _core.em_store3
        count = len(x)
        ids = np.arange(first, first + count, dtype=np.int64)
        out = store(self._fields(), x.copy(), ids, self.eps, self.dt, kernel_seed(seed), 0, n_steps, thin, self.threads)
        self._check_stayed(out, first)
        samples = out.samples
        if n_steps % thin == 0:
            samples = np.concatenate([samples, out.ends[:, None, :]], axis=1)
        return samples

    def exits(self, domain, x, first, seed, max_steps, shift, bar=None):
        run = _core.em_exit2 if x.shape[1] == 2 else _core.em_exit3
        native = self._fields()
        spec = domain.kernel_spec(self.grid)
        count = len(x)
        steps = np.zeros(count, dtype=np.int64)
        positions = np.full(x.shape, np.nan)
        done = np.zeros(count, dtype=bool)
        active = np.arange(count)
        xs = x.copy()
        n0 = 0
        key = kernel_seed(seed)
        while len(active) and n0 < max_steps:
            n1 = _slice_end(n0, max_steps, len(active))
            out = run(native, xs[active], (first + active).astype(np.int64), self.eps, self.dt, key, n0, n1,
                      shift=shift, threads=self.threads, **spec)
            exited = out.stops == _core.PathStop.EXITED
            idx = active[exited]
            steps[idx] = out.steps[exited]
            positions[idx] = out.boundary[exited]
            done[idx] = True
            xs[active] = out.ends
            if bar is not None:
                bar.update(int(np.count_nonzero(exited)))
            active = active[~exited]
            n0 = n1
        return steps, positions, ~done

    def tally(self, x, first, cores, seed, burn_in, total, labels=None, histogram=False, bar=None):
        run = _core.em_tally2 if x.shape[1] == 2 else _core.em_tally3
        native = self._fields()
        count = len(x)
        k = len(cores.centers)
        ids = np.arange(first, first + count, dtype=np.int64)
        core = which_core(x, cores)
        xs = x.copy()
        milestones = np.zeros((count, k + 1), dtype=np.int64)
        transitions = np.zeros((count, k, k), dtype=np.int64)
        n_labels = 0 if labels is None else int(max(labels.max() + 1, 0))
        visits = np.zeros((count, n_labels + 1), dtype=np.int64)
        hist = np.zeros(self.grid.shape, dtype=np.int64) if histogram else None
        key = kernel_seed(seed)
        n0 = 0
        while n0 < total:
            n1 = _slice_end(n0, total, count)
            if n0 < burn_in:
                n1 = min(n1, burn_in)
            counted = n0 >= burn_in
            out = run(native, xs, ids, core.astype(np.int32), self.eps, self.dt, key, n0, n1, cores.centers,
                      cores.radii, labels=labels if counted else None, n_labels=n_labels,
                      histogram=histogram and counted, threads=self.threads)
            self._check_stayed(out, first)
            xs, core = out.ends, out.cores
            if counted:
                milestones += out.milestones
                transitions += out.transitions
                if labels is not None:
                    visits += out.labels
                if histogram:
                    hist += out.histogram
            if bar is not None:
                bar.update(count * (n1 - n0))
            n0 = n1
        return Tally(milestones, transitions, visits if labels is not None else None, xs, core, hist)


def euler_maruyama(sde: SDE, eps: float, dt: float, d: int, *, sigma=None, grid: Optional[Grid] = None,
                   threads: Optional[int] = None) -> Engine:
    """The Euler-Maruyama engine for an SDE in d dimensions: the kernel's
    over fields sampled on ``grid``, or numpy's with the SDE's own callables
    when no grid is given."""
    eps = _validate.positive(eps, "eps")
    dt = _validate.positive(dt, "dt")
    # Checked whichever engine runs: a bad count is an error with or without a grid.
    threads = _validate.threads(threads)
    if grid is not None:
        return NativeEulerMaruyama(sde, eps, dt, grid, sigma, threads)
    return NumpyEulerMaruyama(sde, eps, dt, d, sigma)


def _engine(model, eps, dt, d: int, sigma, grid: Optional[Grid], threads: Optional[int]) -> Engine:
    """Gillespie's exact engine for a reaction network, Euler-Maruyama for an SDE."""
    if isinstance(model, ReactionNetwork):
        if sigma is not None:
            raise ValueError("sigma= applies to SDEs: a reaction network's noise is its reactions")
        return gillespie(model, eps, dt, grid, _validate.threads(threads))
    return euler_maruyama(model, eps, dt, d, sigma=sigma, grid=grid, threads=threads)


def _starts(x0, n_paths) -> np.ndarray:
    return starts(x0, _validate.count(n_paths, "n_paths"))


@_interrupt.interruptible
def simulate(sde: SDE, x0, eps: float, dt: float, n_steps: int, n_paths: int = 1, seed=None, *,
             thin: int = 1, sigma=None, grid: Optional[Grid] = None, threads: Optional[int] = None,
             executor: Optional[Executor] = None, chunk: Optional[int] = None,
             progress: bool = False) -> Paths:
    """Euler-Maruyama paths of ``dx = b dt + sqrt(eps) Sigma dW``; for a
    :class:`hjqp.ReactionNetwork`, exact Gillespie paths at system size
    Omega = 1 / eps (concentrations, observed every dt; ``grid=`` gives the
    box of copy numbers, see :mod:`hjqp.stochastic.gillespie`).

    Parameters
    ----------
    sde : SDE or ReactionNetwork
    x0 : array (d,) or (n_paths, d)
        Start points.
    eps, dt : float
        Noise strength and time step.
    n_steps : int
        Steps per path; states are kept at steps 0, thin, 2 thin, ... <= n_steps.
    n_paths : int
    seed : int or None
        Fixes every path, whatever ``chunk``, ``executor`` or ``threads``.
        None draws one (kept as ``result.seed``).
    thin : int
        Keep every thin-th state.
    sigma : (d, m) array or callable x -> (..., d, m), optional
        Sigma; by default the Cholesky factor of D.
    grid : Grid, optional
        Use the native engine over the fields sampled on this grid; the paths
        must stay in its box (ValueError otherwise).
    threads : int, optional
        Native engine threads (default: the machine's cores, at most 8).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Runs chunks of paths as tasks (``submit`` / ``result``). The tasks
        are closures: a thread pool or dask (cloudpickle) runs them; the
        native engine samples the fields again in each worker process.
    chunk : int, optional
        Paths per task (rounded up to a multiple of 256).
    progress : bool
        A tqdm progress bar of the paths done (it advances as each chunk of
        paths completes).

    Returns
    -------
    Paths
        ``times`` (m,), ``paths`` (n_paths, m, d).
    """
    x = _starts(x0, n_paths)
    engine = _engine(sde, eps, dt, x.shape[1], sigma, grid, threads)
    return run_paths(engine, x, n_steps, n_paths, seed, thin=thin, executor=executor, chunk=chunk,
                     progress=progress)


@_interrupt.interruptible
def exit_times(sde: SDE, x0, domain: Domain, eps: float, dt: float, n_paths: int, seed=None, *,
               max_time: Optional[float] = None, correction: bool = True, sigma=None,
               grid: Optional[Grid] = None, threads: Optional[int] = None,
               executor: Optional[Executor] = None, chunk: Optional[int] = None,
               progress: bool = False) -> Exits:
    """First exit times of Euler-Maruyama paths from a domain (of exact
    Gillespie paths for a :class:`hjqp.ReactionNetwork`: the time of the
    exiting reaction, no boundary correction needed).

    ``correction`` (default on) applies the Gobet-Menozzi boundary shift: a
    path counts as exited at the first step where its distance to the
    boundary is at most ``0.5826 |Sigma^T n| sqrt(eps dt)``. Discrete
    monitoring misses excursions between steps, and without the shift exit
    times come out too long by tens of percent at dt = 0.01; with it the
    bias is o(sqrt(dt)).

    Paths still inside at ``max_time`` (default 10^6 steps) are censored:
    reported with time ``max_time``, position NaN and ``censored`` True.
    Other parameters as in :func:`simulate`; the native engine (``grid=``)
    needs the domain inside the grid's box.
    """
    x = _starts(x0, n_paths)
    engine = _engine(sde, eps, dt, x.shape[1], sigma, grid, threads)
    dt = engine.dt
    max_steps = 10**6 if max_time is None else max(
        1, int(math.ceil(_validate.positive(max_time, "max_time") / dt - 1e-9)))
    # (Jump processes' exit times are exact: no shift.)
    shift = GOBET_MENOZZI * math.sqrt(engine.eps * dt) if correction and not isinstance(engine, Gillespie) else 0.0
    return run_exits(engine, x, domain, n_paths, seed, max_steps=max_steps, shift=shift, executor=executor,
                     chunk=chunk, progress=progress)


@_interrupt.interruptible
def long_run(sde: SDE, x0, eps: float, dt: float, n_steps: int, attractors, radius, n_paths: int = 1,
             seed=None, *, burn_in: int = 0, basins=None, histogram: bool = False, sigma=None,
             grid: Optional[Grid] = None, threads: Optional[int] = None,
             executor: Optional[Executor] = None, chunk: Optional[int] = None,
             progress: bool = False) -> LongRun:
    """Long Euler-Maruyama runs tallied against the attractors (exact
    Gillespie runs for a :class:`hjqp.ReactionNetwork`: the time spent with
    each last core counted exactly, in units of dt).

    Parameters
    ----------
    attractors : array (k, d)
        Centres of the core sets.
    radius : float or array (k,)
        Core-set radii: balls small enough to lie well inside each basin.
    n_steps : int
        Steps tallied per path, after ``burn_in`` untallied steps.
    basins : int array on ``grid`` or Landscape, optional
        Basin labels (-1: none) for basin occupancy (needs ``grid``; a
        Landscape's labels are on its own grid, which is then the default).
    histogram : bool
        Count visits per nearest node of ``grid`` (for -eps ln rho).
    Other parameters as in :func:`simulate`.
    """
    labels = None
    if basins is not None:
        if hasattr(basins, "basins") and hasattr(basins, "grid"):
            grid = basins.grid if grid is None else grid
            basins = basins.basins
        labels = np.asarray(basins)
        if grid is None or labels.shape != grid.shape:
            raise ValueError("basins must be an int array on grid (pass grid=), or a Landscape")
        labels = np.ascontiguousarray(labels, dtype=np.int32)
    if histogram and grid is None:
        raise ValueError("histogram=True needs grid= (the histogram's nodes)")
    x = _starts(x0, n_paths)
    engine = _engine(sde, eps, dt, x.shape[1], sigma, grid, threads)
    return run_long(engine, x, n_steps, attractors, radius, n_paths, seed, burn_in=burn_in, labels=labels,
                    grid=grid, histogram=histogram, executor=executor, chunk=chunk, progress=progress)
