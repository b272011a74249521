"""Monte Carlo for dx = b dt + sqrt(eps) Sigma dW: paths, first exits and
long runs, by Euler-Maruyama.

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
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from . import _core
from .grid import Grid
from .sde import SDE

__all__ = [
    "Ball",
    "Box",
    "LevelSet",
    "Domain",
    "Estimate",
    "Paths",
    "Exits",
    "LongRun",
    "simulate",
    "exit_times",
    "long_run",
]

# Paths per random stream of the exact engine (numpy): path i uses stream
# i // BLOCK, so results do not depend on how paths are split into tasks.
BLOCK = 256
# Gobet-Menozzi: shift the boundary inward by this times |Sigma^T n| sqrt(eps dt)
# (-zeta(1/2) / sqrt(2 pi)).
GOBET_MENOZZI = 0.5826
# Path-steps per call of the native engine between progress updates, at
# least: calls end at multiples of the kernel's random-stream block, so that
# the next call starts a fresh block rather than replaying one.
_SLICE = 1 << 25


def _slice_end(n0: int, total: int, paths: int) -> int:
    block = int(_core.EM_STEP_BLOCK)
    n1 = n0 + max(1, _SLICE // max(paths, 1))
    return min(total, -(-n1 // block) * block)


# -- domains ---------------------------------------------------------------------------

class Domain:
    """An open set of R^d that paths start in and exit from."""

    ndim: int

    def distance(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Signed distance to the boundary (positive inside) and the outward
        unit normal, for points ``(..., d)``."""
        raise NotImplementedError

    def contains(self, x) -> np.ndarray:
        """Which points ``(..., d)`` lie inside."""
        return self.distance(np.asarray(x, dtype=float))[0] > 0

    def project(self, x: np.ndarray) -> np.ndarray:
        """The boundary point nearest to each point ``(..., d)``."""
        dist, normal = self.distance(x)
        return x + dist[..., None] * normal

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """A box containing the domain."""
        raise NotImplementedError

    def boundary_points(self, n: int = 2000) -> np.ndarray:
        """Points spread over the boundary, ``(m, d)``, about n of them."""
        raise NotImplementedError

    def _native(self, grid: Grid) -> dict:
        raise NotImplementedError

    def _check_dim(self, d: int) -> None:
        if d != self.ndim:
            raise ValueError(f"the domain is {self.ndim}-dimensional but the SDE is {d}-dimensional")


class Ball(Domain):
    """The open ball ``|x - center| < radius``."""

    def __init__(self, center: Sequence[float], radius: float):
        self.center = _vector(center, "center")
        self.ndim = len(self.center)
        if not (np.isfinite(radius) and radius > 0):
            raise ValueError(f"radius must be positive and finite, got {radius!r}")
        self.radius = float(radius)

    def distance(self, x):
        y = x - self.center
        r = np.linalg.norm(y, axis=-1)
        safe = np.where(r > 0, r, 1.0)[..., None]
        normal = np.where(r[..., None] > 0, y / safe, np.eye(self.ndim)[0])
        return self.radius - r, normal

    def bounds(self):
        return self.center - self.radius, self.center + self.radius

    def boundary_points(self, n=2000):
        if self.ndim == 2:
            t = np.linspace(0, 2 * np.pi, n, endpoint=False)
            return self.center + self.radius * np.stack([np.cos(t), np.sin(t)], axis=-1)
        # Fibonacci sphere
        k = np.arange(n) + 0.5
        z = 1 - 2 * k / n
        phi = np.pi * (1 + 5**0.5) * k
        r = np.sqrt(1 - z**2)
        return self.center + self.radius * np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)

    def _native(self, grid):
        return dict(kind=_core.DomainKind.BALL, center=self.center, radius=self.radius, lower=self.center,
                    upper=self.center + 1.0, level=None)

    def __repr__(self):
        return f"Ball(center={tuple(self.center)}, radius={self.radius})"


class Box(Domain):
    """The open box ``lower < x < upper``."""

    def __init__(self, lower: Sequence[float], upper: Sequence[float]):
        self.lower = _vector(lower, "lower")
        self.upper = _vector(upper, "upper")
        if self.lower.shape != self.upper.shape:
            raise ValueError(f"lower and upper differ in length: {self.lower.shape} and {self.upper.shape}")
        if not np.all(self.lower < self.upper):
            raise ValueError(f"lower must be below upper on every axis, got {self.lower} and {self.upper}")
        self.ndim = len(self.lower)

    def distance(self, x):
        gaps = np.concatenate([x - self.lower, self.upper - x], axis=-1)
        face = np.argmin(gaps, axis=-1)
        d = self.ndim
        normal = np.zeros(x.shape)
        axis = face % d
        np.put_along_axis(normal, axis[..., None], np.where(face < d, -1.0, 1.0)[..., None], axis=-1)
        return np.take_along_axis(gaps, face[..., None], axis=-1)[..., 0], normal

    def project(self, x):
        dist, normal = self.distance(x)
        p = np.clip(x, self.lower, self.upper)
        return np.where(normal > 0, self.upper, np.where(normal < 0, self.lower, p))

    def bounds(self):
        return self.lower.copy(), self.upper.copy()

    def boundary_points(self, n=2000):
        d = self.ndim
        per = max(2, int(round((n / (2 * d)) ** (1 / (d - 1)))))
        out = []
        for k in range(d):
            others = [np.linspace(self.lower[j], self.upper[j], per) for j in range(d) if j != k]
            mesh = np.stack(np.meshgrid(*others, indexing="ij"), axis=-1).reshape(-1, d - 1)
            for value in (self.lower[k], self.upper[k]):
                out.append(np.insert(mesh, k, value, axis=1))
        return np.concatenate(out)

    def _native(self, grid):
        return dict(kind=_core.DomainKind.BOX, center=self.lower, radius=1.0, lower=self.lower, upper=self.upper, level=None)

    def __repr__(self):
        return f"Box(lower={tuple(self.lower)}, upper={tuple(self.upper)})"


class LevelSet(Domain):
    """The set ``{x : g(x) < 0}`` within the box ``[lower, upper]``.

    g is a callable on points ``(..., d)``; ``gradient`` (optional) its
    gradient, else central differences. The signed distance is taken as
    ``-g / |grad g|``, exact for a g that is itself a distance and first
    order otherwise: fine for the boundary shift, which is O(sqrt(dt)).
    The native engine samples g on its grid (multilinear between nodes).
    """

    def __init__(self, g: Callable[[np.ndarray], np.ndarray], lower: Sequence[float],
                 upper: Sequence[float], gradient: Optional[Callable] = None):
        if not callable(g):
            raise TypeError(f"g must be a callable on points (..., d), got {type(g).__name__}")
        self.g = g
        self.gradient = gradient
        self.box = Box(lower, upper)
        self.ndim = self.box.ndim

    def _grad(self, x):
        if self.gradient is not None:
            return np.asarray(self.gradient(x), dtype=float)
        h = 1e-6 * np.max(self.box.upper - self.box.lower)
        out = np.empty(x.shape)
        for k in range(self.ndim):
            e = np.zeros(self.ndim)
            e[k] = h
            out[..., k] = (np.asarray(self.g(x + e)) - np.asarray(self.g(x - e))) / (2 * h)
        return out

    def distance(self, x):
        value = np.asarray(self.g(x), dtype=float)
        grad = self._grad(x)
        gn = np.linalg.norm(grad, axis=-1)
        ok = gn > 0
        safe = np.where(ok, gn, 1.0)
        normal = grad / safe[..., None]
        dist = np.where(ok, -value / safe, np.where(value < 0, np.inf, -1.0))
        box_dist, box_normal = self.box.distance(x)
        outside_box = box_dist <= 0
        return (np.where(outside_box, np.minimum(box_dist, -1e-300), dist),
                np.where(outside_box[..., None], box_normal, normal))

    def bounds(self):
        return self.box.bounds()

    def boundary_points(self, n=2000):
        """Zero crossings of g along the edges of a grid over the box."""
        d = self.ndim
        per = max(8, int(round(n ** (1 / (d - 1)))) * 2)
        grid = Grid(self.box.lower, self.box.upper, (per,) * d)
        pts = grid.points()
        g = np.asarray(self.g(pts), dtype=float)
        out = []
        for k in range(d):
            a = [slice(None)] * d
            b = [slice(None)] * d
            a[k] = slice(0, -1)
            b[k] = slice(1, None)
            ga, gb = g[tuple(a)], g[tuple(b)]
            cross = (ga < 0) != (gb < 0)
            t = ga[cross] / (ga[cross] - gb[cross])
            pa, pb = pts[tuple(a)][cross], pts[tuple(b)][cross]
            out.append(pa + t[:, None] * (pb - pa))
        return np.concatenate(out) if out else np.empty((0, d))

    def _native(self, grid):
        lo, hi = self.box.bounds()
        pts = grid.points()
        g = np.asarray(self.g(pts), dtype=float)
        # Outside the box is outside the domain.
        inside_box = np.all((pts > lo) & (pts < hi), axis=-1)
        g = np.where(inside_box, g, np.maximum(g, np.max(np.abs(grid.spacing))))
        return dict(kind=_core.DomainKind.LEVEL_SET, center=lo, radius=1.0, lower=lo, upper=hi, level=np.ascontiguousarray(g))

    def __repr__(self):
        name = getattr(self.g, "__name__", "g")
        return f"LevelSet({name} < 0)"


# -- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate with a confidence interval [low, high]."""

    value: float
    low: float
    high: float
    confidence: float = 0.95
    method: str = ""

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def __repr__(self):
        return f"{self.value:.6g} [{self.low:.6g}, {self.high:.6g}] ({self.confidence:.0%}, {self.method})"


@dataclass
class Paths:
    """Sampled paths: ``paths[i, j]`` is path i at ``times[j]``."""

    times: np.ndarray
    paths: np.ndarray
    eps: float
    dt: float
    seed: int
    engine: str

    def __array__(self, dtype=None, copy=None):
        return self.paths if dtype is None else self.paths.astype(dtype)


@dataclass
class Exits:
    """First exit times from a domain.

    ``times`` (n,): exit times (``max_time`` for censored paths);
    ``positions`` (n, d): where each path crossed the boundary (its last
    state projected onto the boundary; NaN if censored); ``censored`` (n,):
    paths still inside at ``max_time``.
    """

    times: np.ndarray
    positions: np.ndarray
    censored: np.ndarray
    eps: float
    dt: float
    max_time: float
    seed: int
    engine: str
    corrected: bool

    @property
    def n_censored(self) -> int:
        return int(np.count_nonzero(self.censored))

    def mean(self, confidence: float = 0.95) -> Estimate:
        """Mean exit time. Without censoring: the sample mean with a
        Student-t interval. With censoring: the exponential-law estimate
        (total time / exits, the maximum likelihood estimate under Type I
        censoring, the right law for rare exits) with its chi-square interval."""
        from scipy import stats

        t = self.times
        n = len(t)
        exits = n - self.n_censored
        if exits == 0:
            raise ValueError(f"no path exited within max_time = {self.max_time:g}: the mean exit "
                             "time is not estimable; raise max_time")
        if self.n_censored == 0:
            m = float(np.mean(t))
            if n < 2:
                return Estimate(m, -np.inf, np.inf, confidence, "sample mean, one path")
            half = stats.t.ppf(0.5 + confidence / 2, n - 1) * np.std(t, ddof=1) / math.sqrt(n)
            return Estimate(m, m - half, m + half, confidence, "sample mean")
        total = float(np.sum(t))
        m = total / exits
        alpha = 1 - confidence
        low = 2 * total / stats.chi2.ppf(1 - alpha / 2, 2 * exits + 2)
        high = 2 * total / stats.chi2.ppf(alpha / 2, 2 * exits)
        return Estimate(m, low, high, confidence, f"exponential MLE, {self.n_censored} censored")


@dataclass
class LongRun:
    """Long runs: visits of core sets (balls around the attractors), the
    transitions between them, basin occupancy and the density of positions.

    A path's state is the last core it visited ("milestoning"): time spent
    between cores counts for the core left last, so occupancy and rates do
    not depend on how a basin's edge is drawn. ``milestone_steps`` (n, k+1):
    steps per path in no state yet (column 0) and in state i (column i + 1);
    ``transitions`` (n, k, k): entries into core j from last core i;
    ``basin_steps`` (n, k+1) steps with the nearest node in basin i (column 0:
    none), when basin labels were given; ``histogram``: visits per nearest
    node of ``grid`` (None unless asked for).
    """

    attractors: np.ndarray
    radii: np.ndarray
    eps: float
    dt: float
    n_steps: int
    burn_in: int
    milestone_steps: np.ndarray
    transitions: np.ndarray
    basin_steps: Optional[np.ndarray]
    histogram: Optional[np.ndarray]
    grid: Optional[Grid]
    ends: np.ndarray
    cores: np.ndarray
    seed: int
    engine: str

    @property
    def k(self) -> int:
        return len(self.attractors)

    @property
    def n_paths(self) -> int:
        return len(self.milestone_steps)

    @property
    def time(self) -> float:
        """Time tallied per path."""
        return self.n_steps * self.dt

    def occupancy(self, confidence: float = 0.95) -> List[Estimate]:
        """Fraction of time in each milestone state (last core visited),
        over the time after the first core visit; the interval comes from
        the spread between paths (needs >= 2 paths)."""
        return _fractions(self.milestone_steps[:, 1:], confidence)

    def basin_occupancy(self, confidence: float = 0.95) -> List[Estimate]:
        """Fraction of time with the nearest node in each basin."""
        if self.basin_steps is None:
            raise ValueError("no basin labels were given to the run")
        return _fractions(self.basin_steps[:, 1:], confidence, total=self.basin_steps.sum(axis=1))

    def transition_counts(self) -> np.ndarray:
        """Transitions i -> j summed over paths, (k, k)."""
        return self.transitions.sum(axis=0)

    def rates(self, confidence: float = 0.95) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rates k_ij = N_ij / T_i (transitions per unit time spent with i as
        the last core), with exact Poisson intervals: (rate, low, high)."""
        from scipy import stats

        n = self.transition_counts().astype(float)
        t = self.milestone_steps[:, 1:].sum(axis=0) * self.dt
        alpha = 1 - confidence
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = n / t[:, None]
            low = np.where(n > 0, stats.chi2.ppf(alpha / 2, 2 * n) / 2, 0.0) / t[:, None]
            high = stats.chi2.ppf(1 - alpha / 2, 2 * n + 2) / 2 / t[:, None]
        for r in (rate, low, high):
            np.fill_diagonal(r, np.nan)
        return rate, low, high

    def log_density(self) -> np.ndarray:
        """``-eps ln rho`` on the grid's nodes, shifted to least 0; NaN
        where no visit was recorded."""
        if self.histogram is None:
            raise ValueError("the run kept no histogram: pass histogram=True")
        h = self.histogram.astype(float)
        with np.errstate(divide="ignore"):
            out = -self.eps * np.log(h / h.sum())
        out[h == 0] = np.nan
        return out - np.nanmin(out)


def _fractions(steps: np.ndarray, confidence: float, total=None) -> List[Estimate]:
    from scipy import stats

    steps = np.asarray(steps, dtype=float)
    total = steps.sum(axis=1) if total is None else np.asarray(total, dtype=float)
    overall = steps.sum(axis=0) / max(total.sum(), 1.0)
    n = len(steps)
    out = []
    for i in range(steps.shape[1]):
        if n < 2:
            out.append(Estimate(float(overall[i]), -np.inf, np.inf, confidence, "one path"))
            continue
        # Ratio estimator across paths (each path one sample).
        frac = steps[:, i] / np.where(total > 0, total, 1.0)
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * np.std(frac, ddof=1) / math.sqrt(n)
        out.append(Estimate(float(overall[i]), float(overall[i] - half), float(overall[i] + half),
                            confidence, f"spread over {n} paths"))
    return out


# -- the engines ---------------------------------------------------------------------

class _Exact:
    """Euler-Maruyama with the SDE's own callables, vectorised over paths."""

    def __init__(self, sde: SDE, d: int, sigma=None):
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
                s = np.asarray(sigma, dtype=float)
                if s.ndim != 2 or s.shape[0] != d:
                    raise ValueError(f"sigma must be a (d, m) matrix with d = {d}, got shape {s.shape}")
                self._sigma_const = s
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

    def _cholesky(self, x):
        dm = np.asarray(self.sde.diffusion(x), dtype=float)
        if dm.shape == x.shape[:-1]:
            return np.sqrt(dm)[..., None, None] * np.eye(self.d)
        try:
            return np.linalg.cholesky(dm)
        except np.linalg.LinAlgError:
            bad = np.flatnonzero(~np.all(np.linalg.eigvalsh(dm) > 0, axis=-1))[0]
            point = tuple(float(v) for v in x.reshape(-1, self.d)[bad])
            raise ValueError(f"the diffusion is not positive definite at x = {point}") from None

    def drift(self, x):
        b = np.asarray(self.sde.drift(x), dtype=float)
        if b.shape != x.shape:
            raise ValueError(f"the drift returned shape {b.shape} for points of shape {x.shape}")
        return b

    def sigma(self, x):
        if self._sigma_const is not None:
            return self._sigma_const
        s = np.asarray(self._sigma_fn(x), dtype=float)
        if s.ndim != x.ndim + 1 or s.shape[:-1] != x.shape:
            raise ValueError(f"sigma returned shape {s.shape} for points of shape {x.shape}; "
                             f"expected {x.shape + ('m',)}")
        return s

    def noise(self, sigma, z):
        if sigma.ndim == 2:
            return z @ sigma.T
        return np.einsum("pij,pj->pi", sigma, z)

    def bind(self, eps: float, dt: float) -> "_Exact":
        self.eps, self.dt = eps, dt
        self.scale = math.sqrt(eps * dt)
        return self

    # The stepping interface shared with the SGD runner.
    def draw(self, rngs, first: int, count: int) -> np.ndarray:
        if self.noise_dim is None:  # a sigma callable: its column count, once
            self.noise_dim = self.sigma(np.zeros((1, self.d))).shape[-1]
        return _normals(rngs, first, count, self.noise_dim)

    def step(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        return x + self.drift(x) * self.dt + self.scale * self.noise(self.sigma(x), z)

    def sigma_t_normal(self, x: np.ndarray, normal: np.ndarray) -> np.ndarray:
        """|Sigma(x)^T n| per point."""
        s = self.sigma(x)
        st_n = normal @ s if s.ndim == 2 else np.einsum("pij,pi->pj", s, normal)
        return np.linalg.norm(st_n, axis=-1)


def _seed(seed) -> int:
    """A non-negative integer seed; None draws one from the OS (recorded in
    the result, so that the run can be repeated)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (1 << 63))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def _block_rngs(seed: int, first: int, count: int) -> List[np.random.Generator]:
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(b,))))
            for b in range(first // BLOCK, (first + count + BLOCK - 1) // BLOCK)]


def _normals(rngs, first: int, count: int, m: int) -> np.ndarray:
    """One step's normals for paths [first, first + count): each block draws
    BLOCK rows whatever the count, so that a path's numbers are fixed."""
    z = np.concatenate([g.standard_normal((BLOCK, m)) for g in rngs])
    offset = first - (first // BLOCK) * BLOCK
    return z[offset:offset + count]


def _positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def _count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _vector(value, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    if v.ndim != 1 or len(v) not in (1, 2, 3) or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a finite vector of length 1, 2 or 3, got {value!r}")
    return v


def _starts(x0, n_paths: int) -> np.ndarray:
    x = np.asarray(x0, dtype=float)
    if x.ndim == 1:
        x = np.broadcast_to(x, (n_paths, len(x)))
    if x.ndim != 2 or x.shape[0] != n_paths or x.shape[1] not in (2, 3):
        raise ValueError(f"x0 must have shape (d,) or (n_paths, d) = ({n_paths}, d) with d = 2 or 3, "
                         f"got {np.shape(x0)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must be finite")
    return np.array(x, dtype=float)


def _threads(threads) -> int:
    from .landscape import _threads as threads_

    return threads_(threads)


def _native_sde(sde: SDE, grid: Grid, sigma=None):
    """The kernel's sampled SDE on a grid (cached on the SDE object)."""
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
    cache = sde.__dict__.setdefault("_native_cache", {})
    key = (grid.lower, grid.upper, grid.shape, id(sigma))
    if key not in cache:
        fields = sde.fields(grid)
        b, dm = fields.sample()
        if sigma is not None:
            s = sigma(grid.points()) if callable(sigma) else np.broadcast_to(
                np.asarray(sigma, dtype=float), grid.shape + np.shape(sigma))
            dm = np.einsum("...ij,...kj->...ik", s, s)
        chol = np.linalg.cholesky(dm)
        make = _core.SampledSDE2 if grid.ndim == 2 else _core.SampledSDE3
        cache.clear()  # one grid at a time: the samples can be large
        cache[key] = make(np.asarray(grid.lower), np.asarray(grid.spacing), b, np.ascontiguousarray(chol))
    return cache[key]


def _check_inside(grid: Optional[Grid], x: np.ndarray) -> None:
    if grid is not None:
        inside = grid.contains(x)
        if not np.all(inside):
            i = int(np.flatnonzero(~inside)[0])
            raise ValueError(f"x0 of path {i}, {tuple(float(v) for v in x[i])}, lies outside the grid's box "
                             f"{grid.lower} to {grid.upper}")


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit_scale=True, leave=False)


def _tasks(n_paths: int, executor, chunk: Optional[int]) -> List[Tuple[int, int]]:
    """Ranges of paths [first, first + count), whole blocks each."""
    if chunk is None:
        chunk = n_paths if executor is None else max(BLOCK, -(-n_paths // (4 * BLOCK)) * BLOCK)
    chunk = _count(chunk, "chunk")
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
    return [done(t, f.result()) for t, f in zip(tasks, futures)]


# -- simulate ------------------------------------------------------------------------

def simulate(sde: SDE, x0, eps: float, dt: float, n_steps: int, n_paths: int = 1, seed=None, *,
             thin: int = 1, sigma=None, grid: Optional[Grid] = None, threads: Optional[int] = None,
             executor: Optional[Executor] = None, chunk: Optional[int] = None,
             progress: bool = False) -> Paths:
    """Euler-Maruyama paths of ``dx = b dt + sqrt(eps) Sigma dW``.

    Parameters
    ----------
    sde : SDE
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
    eps = _positive(eps, "eps")
    dt = _positive(dt, "dt")
    n_steps = _count(n_steps, "n_steps", 0)
    n_paths = _count(n_paths, "n_paths")
    thin = _count(thin, "thin")
    seed = _seed(seed)
    x = _starts(x0, n_paths)
    _check_inside(grid, x)
    kept = n_steps // thin + 1
    from . import _memory

    _memory.require(2.0 * n_paths * kept * x.shape[1] * 8, f"storing {n_paths} paths x {kept} states")
    times = np.arange(kept) * thin * dt
    if grid is not None:
        engine = "native"
        _native_sde(sde, grid, sigma)  # sample (and check) the fields once, here
        nt = _threads(threads)
        store = _core.em_store2 if x.shape[1] == 2 else _core.em_store3

        def task(t):
            first, count = t
            native = _native_sde(sde, grid, sigma)  # cached; built anew in another process
            xs = x[first:first + count].copy()
            ids = np.arange(first, first + count, dtype=np.int64)
            out = store(native, xs, ids, eps, dt, _u64(seed), 0, n_steps, thin, nt)
            samples, ends, stops, steps = out.samples, out.ends, out.stops, out.steps
            _check_stayed(stops, steps, ends, first, dt)
            if n_steps % thin == 0:
                samples = np.concatenate([samples, ends[:, None, :]], axis=1)
            return samples
    else:
        engine = "exact"
        model = _Exact(sde, x.shape[1], sigma).bind(eps, dt)

        def task(t):
            first, count = t
            return _exact_paths(model, x[first:first + count], first, n_steps, thin, seed)

    bar = _progress(n_paths, progress, "paths")
    try:
        parts = _map(executor, task, _tasks(n_paths, executor, chunk), bar)
    finally:
        if bar is not None:
            bar.close()
    return Paths(times, np.concatenate(parts), eps, dt, seed, engine)


def _check_stayed(stops, steps, ends, first: int, dt: float) -> None:
    """ValueError naming the first path that left the native engine's grid."""
    left = stops == _core.PathStop.LEFT_GRID
    if left.any():
        i = int(np.flatnonzero(left)[0])
        raise ValueError(
            f"path {first + i} left the grid's box at t = {steps[i] * dt:g} (from "
            f"{tuple(float(v) for v in np.round(ends[i], 6))}): enlarge the grid or confine the drift")


def _u64(seed: int) -> int:
    """The kernel's 64-bit seed for a user seed."""
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])


def _exact_paths(model, x, first, n_steps, thin, seed):
    x = x.copy()
    count = len(x)
    rngs = _block_rngs(seed, first, count)
    out = np.empty((count, n_steps // thin + 1, x.shape[1]))
    out[:, 0] = x
    for step in range(1, n_steps + 1):
        x = model.step(x, model.draw(rngs, first, count))
        if step % thin == 0:
            if not np.all(np.isfinite(x)):
                i = int(np.flatnonzero(~np.all(np.isfinite(x), axis=1))[0])
                raise ValueError(f"path {first + i} diverged by t = {step * model.dt:g}: reduce dt")
            out[:, step // thin] = x
    return out


# -- exit times ----------------------------------------------------------------------

def exit_times(sde: SDE, x0, domain: Domain, eps: float, dt: float, n_paths: int, seed=None, *,
               max_time: Optional[float] = None, correction: bool = True, sigma=None,
               grid: Optional[Grid] = None, threads: Optional[int] = None,
               executor: Optional[Executor] = None, chunk: Optional[int] = None,
               progress: bool = False) -> Exits:
    """First exit times of Euler-Maruyama paths from a domain.

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
    eps = _positive(eps, "eps")
    dt = _positive(dt, "dt")
    n_paths = _count(n_paths, "n_paths")
    seed = _seed(seed)
    if not isinstance(domain, Domain):
        raise TypeError(f"domain must be an hjqp.Ball, hjqp.Box or hjqp.LevelSet, got {type(domain).__name__}")
    x = _starts(x0, n_paths)
    domain._check_dim(x.shape[1])
    inside = domain.contains(x)
    if not np.all(inside):
        i = int(np.flatnonzero(~inside)[0])
        raise ValueError(f"x0 of path {i}, {tuple(float(v) for v in x[i])}, lies outside the domain {domain!r}")
    max_steps = 10**6 if max_time is None else max(1, int(math.ceil(_positive(max_time, "max_time") / dt - 1e-9)))
    max_time = max_steps * dt
    shift = GOBET_MENOZZI * math.sqrt(eps * dt) if correction else 0.0
    if grid is not None:
        engine = "native"
        lo, hi = domain.bounds()
        if not (np.all(lo >= np.asarray(grid.lower)) and np.all(hi <= np.asarray(grid.upper))):
            raise ValueError(f"the domain {domain!r} must lie inside the grid's box {grid.lower} to "
                             f"{grid.upper} for the native engine")
        _native_sde(sde, grid, sigma)
        spec = domain._native(grid)
        nt = _threads(threads)
        run = _core.em_exit2 if x.shape[1] == 2 else _core.em_exit3

        def task(t):
            first, count = t
            return _native_exits(run, _native_sde(sde, grid, sigma), spec, x[first:first + count], first,
                                 eps, dt, seed, max_steps, shift, nt, bar)
    else:
        engine = "exact"
        model = _Exact(sde, x.shape[1], sigma).bind(eps, dt)

        def task(t):
            first, count = t
            return _exact_exits(model, domain, x[first:first + count], first, seed, max_steps, shift)

    # (a progress bar only where the tasks run in this process)
    bar = _progress(n_paths, progress and grid is not None and executor is None, "exits")
    try:
        parts = _map(executor, task, _tasks(n_paths, executor, chunk))
    finally:
        if bar is not None:
            bar.close()
    steps = np.concatenate([p[0] for p in parts])
    positions = np.concatenate([p[1] for p in parts])
    censored = np.concatenate([p[2] for p in parts])
    times = np.where(censored, max_time, steps * dt)
    positions[censored] = np.nan
    return Exits(times, positions, censored, eps, dt, max_time, seed, engine, correction)


def _native_exits(run, native, spec, x, first, eps, dt, seed, max_steps, shift, threads, bar):
    count = len(x)
    steps = np.zeros(count, dtype=np.int64)
    positions = np.full(x.shape, np.nan)
    done = np.zeros(count, dtype=bool)
    active = np.arange(count)
    xs = x.copy()
    n0 = 0
    key = _u64(seed)
    while len(active) and n0 < max_steps:
        n1 = _slice_end(n0, max_steps, len(active))
        out = run(native, xs[active], (first + active).astype(np.int64), eps, dt,
                                        key, n0, n1, shift=shift, threads=threads, **spec)
        ends, stops, at, boundary = out.ends, out.stops, out.steps, out.boundary
        exited = stops == _core.PathStop.EXITED
        idx = active[exited]
        steps[idx] = at[exited]
        positions[idx] = boundary[exited]
        done[idx] = True
        xs[active] = ends
        if bar is not None:
            bar.update(int(np.count_nonzero(exited)))
        active = active[~exited]
        n0 = n1
    return steps, positions, ~done


def _exact_exits(model, domain: Domain, x, first, seed, max_steps, shift):
    count = len(x)
    rngs = _block_rngs(seed, first, count)
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
            gone |= dist <= shift * model.sigma_t_normal(xa, normal)
        if gone.any():
            g = idx[gone]
            steps[g] = step
            positions[g] = domain.project(xa[gone])
            active[g] = False
        if step == max_steps or not active.any():
            break
        # Every path of a block draws each step, exited or not: a path's
        # numbers do not depend on the others.
        draws = model.draw(rngs, first, count)
        keep = idx[~gone]
        x[keep] = model.step(x[keep], draws[keep])
        if not np.all(np.isfinite(x[keep])):
            raise ValueError(f"a path diverged by t = {(step + 1) * model.dt:g}: reduce dt")
    return steps, positions, active


# -- long runs -------------------------------------------------------------------------

def long_run(sde: SDE, x0, eps: float, dt: float, n_steps: int, attractors, radius, n_paths: int = 1,
             seed=None, *, burn_in: int = 0, basins=None, histogram: bool = False, sigma=None,
             grid: Optional[Grid] = None, threads: Optional[int] = None,
             executor: Optional[Executor] = None, chunk: Optional[int] = None,
             progress: bool = False) -> LongRun:
    """Long Euler-Maruyama runs tallied against the attractors.

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
    eps = _positive(eps, "eps")
    dt = _positive(dt, "dt")
    n_steps = _count(n_steps, "n_steps")
    burn_in = _count(burn_in, "burn_in", 0)
    n_paths = _count(n_paths, "n_paths")
    seed = _seed(seed)
    x = _starts(x0, n_paths)
    d = x.shape[1]
    centers = np.asarray(attractors, dtype=float)
    if centers.ndim != 2 or centers.shape[1] != d or len(centers) < 1:
        raise ValueError(f"attractors must have shape (k, {d}), got {centers.shape}")
    radii = np.broadcast_to(np.asarray(radius, dtype=float), (len(centers),)).copy()
    if not np.all(np.isfinite(radii) & (radii > 0)):
        raise ValueError(f"radius must be positive, got {radius!r}")
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
    _check_inside(grid, x)
    k = len(centers)
    total = burn_in + n_steps
    if grid is not None:
        engine = "native"
        _native_sde(sde, grid, sigma)
        nt = _threads(threads)
        run = _core.em_tally2 if d == 2 else _core.em_tally3

        def task(t):
            first, count = t
            return _native_long(run, _native_sde(sde, grid, sigma), x[first:first + count], first,
                                centers, radii, labels, k, histogram, grid, eps, dt, seed, burn_in,
                                total, nt, bar)
    else:
        engine = "exact"
        model = _Exact(sde, d, sigma).bind(eps, dt)

        def task(t):
            first, count = t
            return _exact_long(model, x[first:first + count], first, centers, radii, seed, burn_in,
                               total)

    bar = _progress(n_paths * total, progress and grid is not None and executor is None, "path-steps")
    try:
        parts = _map(executor, task, _tasks(n_paths, executor, chunk))
    finally:
        if bar is not None:
            bar.close()
    cat = lambda i: np.concatenate([p[i] for p in parts])  # noqa: E731
    hist = None
    if histogram:
        hist = np.sum([p[5] for p in parts], axis=0)
    return LongRun(centers, radii, eps, dt, n_steps, burn_in, cat(0), cat(1),
                   cat(2) if labels is not None else None, hist, grid, cat(3), cat(4), seed, engine)


def _native_long(run, native, x, first, centers, radii, labels, k, histogram, grid, eps, dt, seed,
                 burn_in, total, threads, bar):
    count = len(x)
    ids = np.arange(first, first + count, dtype=np.int64)
    cores = _which(x, centers, radii)
    xs = x.copy()
    milestones = np.zeros((count, k + 1), dtype=np.int64)
    transitions = np.zeros((count, k, k), dtype=np.int64)
    n_labels = 0 if labels is None else int(max(labels.max() + 1, 0))
    visits = np.zeros((count, n_labels + 1), dtype=np.int64)
    hist = np.zeros(grid.shape, dtype=np.int64) if histogram else None
    key = _u64(seed)
    n0 = 0
    while n0 < total:
        n1 = _slice_end(n0, total, count)
        if n0 < burn_in:
            n1 = min(n1, burn_in)
        tally = n0 >= burn_in
        out = run(native, xs, ids, cores.astype(np.int32), eps, dt, key, n0, n1, centers, radii,
                  labels=labels if tally else None, n_labels=n_labels, histogram=histogram and tally,
                  threads=threads)
        ends, cores, stops, steps = out.ends, out.cores, out.stops, out.steps
        ms, tr, vi, h = out.milestones, out.transitions, out.labels, out.histogram
        _check_stayed(stops, steps, ends, first, dt)
        xs = ends
        if tally:
            milestones += ms
            transitions += tr
            if labels is not None:
                visits += vi
            if histogram:
                hist += h
        if bar is not None:
            bar.update(count * (n1 - n0))
        n0 = n1
    return milestones, transitions, visits, xs, cores, hist


def _which(x, centers, radii) -> np.ndarray:
    """Index of the first core containing each point, -1 if none."""
    out = np.full(len(x), -1, dtype=np.int64)
    for c in range(len(centers) - 1, -1, -1):
        inside = np.sum((x - centers[c]) ** 2, axis=-1) <= radii[c] ** 2
        out = np.where(inside, c, out)
    return out


class _Tally:
    """Milestone counting for the Python engines (the kernel's, in numpy)."""

    def __init__(self, count, centers, radii, x):
        k = len(centers)
        self.centers, self.radii = centers, radii
        self.core = _which(x, centers, radii)
        self.milestones = np.zeros((count, k + 1), dtype=np.int64)
        self.transitions = np.zeros((count, k, k), dtype=np.int64)
        self.rows = np.arange(count)

    def update(self, x, tally: bool):
        c = _which(x, self.centers, self.radii)
        move = (c >= 0) & (c != self.core)
        if tally:
            counted = move & (self.core >= 0)
            np.add.at(self.transitions, (self.rows[counted], self.core[counted], c[counted]), 1)
        self.core = np.where(move, c, self.core)
        if tally:
            self.milestones[self.rows, self.core + 1] += 1


def _exact_long(model, x, first, centers, radii, seed, burn_in, total):
    count = len(x)
    rngs = _block_rngs(seed, first, count)
    x = x.copy()
    tally = _Tally(count, centers, radii, x)
    for step in range(total):
        x = model.step(x, model.draw(rngs, first, count))
        tally.update(x, step >= burn_in)
    if not np.all(np.isfinite(x)):
        raise ValueError("a path diverged: reduce dt")
    return tally.milestones, tally.transitions, np.zeros((count, 1), dtype=np.int64), x, tally.core, None
