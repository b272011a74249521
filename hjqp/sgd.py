"""Minibatch SGD on a finite sum f = (1/n) sum_i f_i, and the SDE that
approximates it.

SGD with learning rate eta and batch size m, x_{k+1} = x_k - eta g_k with
g_k the mean of grad f_i over a random batch, is close for small eta to
dx = -grad f dt + sqrt(eps) Sigma dW at time t = k eta, with eps = eta / m
(times (n - m) / (n - 1) when batches are drawn without replacement) and
D = Sigma Sigma^T the per-sample gradient covariance
(1/n) sum_i (grad f_i - grad f)(grad f_i - grad f)^T.

:class:`MinibatchSGD` runs the actual iteration with the same estimators as
the SDE's Monte Carlo (paths, first exits, long runs), so that the SDE
approximation itself can be tested.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from . import montecarlo as mc
from .sde import SDE

__all__ = ["MinibatchSGD"]

PerSampleGradients = Callable[[np.ndarray, np.ndarray], np.ndarray]


class MinibatchSGD:
    """Minibatch SGD on ``f = (1/n) sum_i f_i``.

    Parameters
    ----------
    gradients : callable ``(x, idx) -> (..., m, d)``
        Per-sample gradients: x of shape ``(..., d)``, sample indices idx of
        shape ``(..., m)``; returns ``grad f_{idx[..., j]}(x)``.
    n_samples : int
        n, the size of the data set.
    batch_size : int
        m.
    replace : bool
        Batches drawn with replacement (i.i.d. indices) or without (m
        distinct indices each step).
    """

    def __init__(self, gradients: PerSampleGradients, n_samples: int, batch_size: int = 1,
                 replace: bool = True):
        if not callable(gradients):
            raise TypeError("gradients must be a callable (x, idx) -> per-sample gradients")
        self.gradients = gradients
        self.n_samples = mc._count(n_samples, "n_samples", 2)
        self.batch_size = mc._count(batch_size, "batch_size")
        self.replace = bool(replace)
        if not self.replace and self.batch_size > self.n_samples:
            raise ValueError(f"batch_size {batch_size} exceeds n_samples {n_samples} without replacement")

    # -- the SDE approximation ------------------------------------------------------
    def eps(self, eta: float) -> float:
        """eps = eta / m, times (n - m) / (n - 1) without replacement."""
        eta = mc._positive(eta, "eta")
        n, m = self.n_samples, self.batch_size
        return eta / m * (1.0 if self.replace else (n - m) / (n - 1))

    def all_gradients(self, x) -> np.ndarray:
        """grad f_i at points ``(..., d)`` for every sample: ``(..., n, d)``."""
        x = np.asarray(x, dtype=float)
        idx = np.broadcast_to(np.arange(self.n_samples), x.shape[:-1] + (self.n_samples,))
        g = np.asarray(self.gradients(x, idx), dtype=float)
        if g.shape != idx.shape + x.shape[-1:]:
            raise ValueError(f"gradients returned shape {g.shape} for x {x.shape} and indices "
                             f"{idx.shape}; expected {idx.shape + x.shape[-1:]}")
        return g

    def gradient(self, x) -> np.ndarray:
        """grad f at points ``(..., d)``."""
        return self.all_gradients(x).mean(axis=-2)

    def covariance(self, x) -> np.ndarray:
        """D(x): the per-sample gradient covariance (1/n normalisation), ``(..., d, d)``."""
        g = self.all_gradients(x)
        c = g - g.mean(axis=-2, keepdims=True)
        return np.einsum("...ni,...nj->...ij", c, c) / self.n_samples

    def sde(self) -> SDE:
        """The SDE approximation: b = -grad f, D = the gradient covariance."""
        return SDE.gradient(self.gradient, diffusion=self.covariance)

    # -- the iteration ----------------------------------------------------------------
    def _model(self, eta: float, d: int) -> "_Iteration":
        return _Iteration(self, mc._positive(eta, "eta"), d)

    def simulate(self, x0, eta: float, n_steps: int, n_paths: int = 1, seed=None, *, thin: int = 1,
                 executor=None, chunk: Optional[int] = None) -> mc.Paths:
        """Iterates at steps 0, thin, 2 thin, ...; times are k eta."""
        n_steps = mc._count(n_steps, "n_steps", 0)
        n_paths = mc._count(n_paths, "n_paths")
        thin = mc._count(thin, "thin")
        seed = mc._seed(seed)
        x = mc._starts(x0, n_paths)
        model = self._model(eta, x.shape[1])
        parts = mc._map(executor, lambda t: mc._exact_paths(model, x[t[0]:t[0] + t[1]], t[0], n_steps,
                                                            thin, seed),
                        mc._tasks(n_paths, executor, chunk))
        times = np.arange(n_steps // thin + 1) * thin * model.dt
        return mc.Paths(times, np.concatenate(parts), self.eps(eta), model.dt, seed, "sgd")

    def exit_times(self, x0, domain: mc.Domain, eta: float, n_paths: int, seed=None, *,
                   max_steps: int = 10**6, executor=None, chunk: Optional[int] = None) -> mc.Exits:
        """First iterate outside the domain (no boundary correction: the
        iteration is discrete in time by nature). Times are k eta."""
        n_paths = mc._count(n_paths, "n_paths")
        max_steps = mc._count(max_steps, "max_steps")
        seed = mc._seed(seed)
        if not isinstance(domain, mc.Domain):
            raise TypeError(f"domain must be an hjqp.Ball, Box or LevelSet, got {type(domain).__name__}")
        x = mc._starts(x0, n_paths)
        domain._check_dim(x.shape[1])
        inside = domain.contains(x)
        if not np.all(inside):
            i = int(np.flatnonzero(~inside)[0])
            raise ValueError(f"x0 of path {i}, {tuple(float(v) for v in x[i])}, lies outside the domain {domain!r}")
        model = self._model(eta, x.shape[1])
        parts = mc._map(executor, lambda t: mc._exact_exits(model, domain, x[t[0]:t[0] + t[1]], t[0],
                                                            seed, max_steps, 0.0),
                        mc._tasks(n_paths, executor, chunk))
        steps = np.concatenate([p[0] for p in parts])
        positions = np.concatenate([p[1] for p in parts])
        censored = np.concatenate([p[2] for p in parts])
        max_time = max_steps * model.dt
        times = np.where(censored, max_time, steps * model.dt)
        positions[censored] = np.nan
        return mc.Exits(times, positions, censored, self.eps(eta), model.dt, max_time, seed, "sgd", False)

    def long_run(self, x0, eta: float, n_steps: int, attractors, radius, n_paths: int = 1, seed=None,
                 *, burn_in: int = 0, executor=None, chunk: Optional[int] = None) -> mc.LongRun:
        """Long runs tallied against core sets, as :func:`hjqp.long_run`."""
        n_steps = mc._count(n_steps, "n_steps")
        burn_in = mc._count(burn_in, "burn_in", 0)
        n_paths = mc._count(n_paths, "n_paths")
        seed = mc._seed(seed)
        x = mc._starts(x0, n_paths)
        centers = np.asarray(attractors, dtype=float)
        if centers.ndim != 2 or centers.shape[1] != x.shape[1]:
            raise ValueError(f"attractors must have shape (k, {x.shape[1]}), got {centers.shape}")
        radii = np.broadcast_to(np.asarray(radius, dtype=float), (len(centers),)).copy()
        if not np.all(np.isfinite(radii) & (radii > 0)):
            raise ValueError(f"radius must be positive, got {radius!r}")
        model = self._model(eta, x.shape[1])
        parts = mc._map(executor, lambda t: mc._exact_long(model, x[t[0]:t[0] + t[1]], t[0], centers,
                                                           radii, seed, burn_in, burn_in + n_steps),
                        mc._tasks(n_paths, executor, chunk))
        cat = lambda i: np.concatenate([p[i] for p in parts])  # noqa: E731
        return mc.LongRun(centers, radii, self.eps(eta), model.dt, n_steps, burn_in, cat(0), cat(1), None,
                          None, None, cat(3), cat(4), seed, "sgd")


class _Iteration:
    """One SGD step in the stepping interface of the Monte Carlo engines."""

    def __init__(self, sgd: MinibatchSGD, eta: float, d: int):
        self.sgd = sgd
        self.dt = eta
        self.d = d

    def draw(self, rngs, first: int, count: int) -> np.ndarray:
        n, m = self.sgd.n_samples, self.sgd.batch_size
        if self.sgd.replace:
            idx = [g.integers(0, n, size=(mc.BLOCK, m)) for g in rngs]
        else:
            # m distinct indices per row: the first m of a random permutation.
            idx = [np.argsort(g.random((mc.BLOCK, n)), axis=1)[:, :m] for g in rngs]
        idx = np.concatenate(idx)
        offset = first - (first // mc.BLOCK) * mc.BLOCK
        return idx[offset:offset + count]

    def step(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        g = np.asarray(self.sgd.gradients(x, idx), dtype=float)
        if g.shape != idx.shape + (self.d,):
            raise ValueError(f"gradients returned shape {g.shape} for x {x.shape} and indices "
                             f"{idx.shape}; expected {idx.shape + (self.d,)}")
        return x - self.dt * g.mean(axis=-2)
