"""Minibatch SGD on a finite sum f = (1/n) sum_i f_i: the actual iteration
(a simulation engine, with the same estimators as the SDE's Monte Carlo)
and the SDE that approximates it."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .. import _validate
from ..problem import SDE, JumpHamiltonian, describe_point
from ..stochastic import Domain, Exits, LongRun, Paths, SteppingEngine, run_exits, run_long, run_paths
from ..stochastic.engine import BLOCK, block_rows

__all__ = ["MinibatchSGD", "SGDSteps"]

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
        self.n_samples = _validate.count(n_samples, "n_samples", 2)
        self.batch_size = _validate.count(batch_size, "batch_size")
        self.replace = bool(replace)
        if not self.replace and self.batch_size > self.n_samples:
            raise ValueError(f"batch_size {batch_size} exceeds n_samples {n_samples} without replacement")

    # -- the SDE approximation ------------------------------------------------------
    def eps(self, eta: float) -> float:
        """eps = eta / m, times (n - m) / (n - 1) without replacement."""
        eta = _validate.positive(eta, "eta")
        n, m = self.n_samples, self.batch_size
        return eta / m * (1.0 if self.replace else (n - m) / (n - 1))

    def all_gradients(self, x) -> np.ndarray:
        """grad f_i at points ``(..., d)`` for every sample: ``(..., n, d)``."""
        x = _validate.real_array(x, "x")
        idx = np.broadcast_to(np.arange(self.n_samples), x.shape[:-1] + (self.n_samples,))
        return self.checked_gradients(x, idx)

    def checked_gradients(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The per-sample gradients ``(..., m, d)`` at points ``x (..., d)`` for
        sample indices ``idx (..., m)``: real, of that shape and finite (a
        ValueError names the first point and sample where they are not)."""
        g = _validate.real_array(self.gradients(x, idx), "the gradients callable's result")
        if g.shape != idx.shape + x.shape[-1:]:
            raise ValueError(f"gradients returned shape {g.shape} for x {x.shape} and indices "
                             f"{idx.shape}; expected {idx.shape + x.shape[-1:]}")
        bad = ~np.all(np.isfinite(g), axis=-1)
        if bad.any():
            where = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
            raise ValueError(f"the gradient of sample {int(idx[where])} is not finite at "
                             f"{describe_point(x[where[:-1]])}: {g[where].tolist()} (if the iterates ran away to "
                             "there, reduce eta)")
        return g

    def gradient(self, x) -> np.ndarray:
        """grad f at points ``(..., d)``."""
        return self.all_gradients(x).mean(axis=-2)

    def covariance(self, x) -> np.ndarray:
        """D(x): the per-sample gradient covariance (1/n normalisation), ``(..., d, d)``."""
        g = self.all_gradients(x)
        c = g - g.mean(axis=-2, keepdims=True)
        return np.matmul(np.swapaxes(c, -1, -2), c) / self.n_samples

    def sde(self, regularisation: float = 0.0) -> SDE:
        """The SDE approximation: b = -grad f, D = the gradient covariance,
        plus ``regularisation`` times the identity (for models whose
        covariance is singular somewhere, which the solver cannot take)."""
        delta = float(regularisation)
        if not (np.isfinite(delta) and delta >= 0):
            raise ValueError(f"regularisation must be a non-negative number, got {regularisation!r}")
        if delta == 0.0:
            return SDE.gradient(self.gradient, diffusion=self.covariance)

        def diffusion(x):
            return self.covariance(x) + delta * np.eye(np.shape(x)[-1])

        return SDE.gradient(self.gradient, diffusion=diffusion)

    def hamiltonian(self, regularisation: float = 0.0, max_jumps: int = 1 << 14) -> JumpHamiltonian:
        """SGD's own large-deviation Hamiltonian, with rates ``exp(-U / eps)``,
        ``eps = eta / m``.

        For small eta the chain obeys a large-deviation principle whose
        Hamiltonian is the cumulant generating function of one step. Batches
        drawn with replacement give ``H_m(x, p) = m H_1(x, p / m)`` with
        ``H_1 = log mean_i exp(-<p, grad f_i>)``: the same U for every m once
        eps = eta / m. Its zero set is that of the exponential family
        ``w_i = 1/n``, ``nu_i(x) = -grad f_i(x)``, which is returned.

        Without replacement (m >= 2) the step's generating function is exact
        too: ``e_m(z) / C(n, m)`` with ``z_i = exp(-<p, grad f_i> / m)`` and e_m
        the elementary symmetric polynomial, i.e. the family with one jump
        per batch B, ``nu_B = -sum_{i in B} grad f_i`` at weight 1 / C(n, m)
        (again with eps = eta / m). It is returned when C(n, m) <=
        ``max_jumps``; beyond, a ValueError says so.

        ``regularisation`` delta > 0 adds small jumps +-s e_k (s = 0.01) at
        weight delta / (2 s^2): their quadratic part is delta I, as in
        :meth:`sde`, for models whose per-sample gradients are all parallel
        somewhere (the jumps must span R^d).
        """
        delta = float(regularisation)
        if not (np.isfinite(delta) and delta >= 0):
            raise ValueError(f"regularisation must be a non-negative number, got {regularisation!r}")
        H = self._own_hamiltonian(max_jumps)
        if delta == 0.0:
            return H
        step = 0.01
        base_weights, base_jumps = H.weights, H.jumps

        def weights(x):
            x = np.asarray(x, dtype=float)
            extra = np.full(x.shape[:-1] + (2 * x.shape[-1],), delta / (2 * step**2))
            return np.concatenate([base_weights(x), extra], axis=-1)

        def jumps(x):
            x = np.asarray(x, dtype=float)
            d = x.shape[-1]
            extra = np.broadcast_to(np.vstack([np.eye(d), -np.eye(d)]) * step, x.shape[:-1] + (2 * d, d))
            return np.concatenate([base_jumps(x), extra], axis=-2)

        return JumpHamiltonian(weights, jumps)

    def _own_hamiltonian(self, max_jumps: int) -> JumpHamiltonian:
        n, m = self.n_samples, self.batch_size
        if self.replace or m == 1:
            def weights(x):
                x = np.asarray(x, dtype=float)
                return np.full(x.shape[:-1] + (n,), 1.0 / n)

            def jumps(x):
                return -self.all_gradients(x)

            return JumpHamiltonian(weights, jumps)
        from math import comb
        from itertools import combinations
        count = comb(n, m)
        if count > max_jumps:
            raise ValueError(f"without replacement SGD's Hamiltonian has one jump per batch: C({n}, {m}) = {count} "
                             f"> max_jumps = {max_jumps}; raise max_jumps, or use batches with replacement")
        batches = np.array(list(combinations(range(n), m)))

        def batch_weights(x):
            x = np.asarray(x, dtype=float)
            return np.full(x.shape[:-1] + (count,), 1.0 / count)

        def batch_jumps(x):
            g = self.all_gradients(x)
            return -g[..., batches, :].sum(axis=-2)

        return JumpHamiltonian(batch_weights, batch_jumps)

    # -- the iteration ----------------------------------------------------------------
    def engine(self, eta: float) -> "SGDSteps":
        """The iteration with learning rate eta as a simulation engine
        (:class:`hjqp.stochastic.Engine`): time k eta, eps = :meth:`eps`."""
        return SGDSteps(self, eta)

    def simulate(self, x0, eta: float, n_steps: int, n_paths: int = 1, seed=None, *, thin: int = 1,
                 executor=None, chunk: Optional[int] = None) -> Paths:
        """Iterates at steps 0, thin, 2 thin, ...; times are k eta."""
        return run_paths(self.engine(eta), x0, n_steps, n_paths, seed, thin=thin, executor=executor, chunk=chunk)

    def exit_times(self, x0, domain: Domain, eta: float, n_paths: int, seed=None, *,
                   max_steps: int = 10**6, executor=None, chunk: Optional[int] = None) -> Exits:
        """First iterate outside the domain (no boundary correction: the
        iteration is discrete in time by nature). Times are k eta."""
        return run_exits(self.engine(eta), x0, domain, n_paths, seed, max_steps=max_steps, executor=executor,
                         chunk=chunk)

    def long_run(self, x0, eta: float, n_steps: int, attractors, radius, n_paths: int = 1, seed=None,
                 *, burn_in: int = 0, executor=None, chunk: Optional[int] = None) -> LongRun:
        """Long runs tallied against core sets, as :func:`hjqp.long_run`."""
        return run_long(self.engine(eta), x0, n_steps, attractors, radius, n_paths, seed, burn_in=burn_in,
                        executor=executor, chunk=chunk)


class SGDSteps(SteppingEngine):
    """Minibatch SGD as a simulation engine: one step x <- x - eta g with g
    the mean gradient over a random batch (indices drawn per block of paths,
    as the engine protocol keys its streams)."""

    name = "sgd"
    step_name = "eta"

    def __init__(self, sgd: MinibatchSGD, eta: float):
        self.sgd = sgd
        self.eps = sgd.eps(eta)  # (checks eta)
        self.dt = float(eta)

    def draw(self, rngs, first: int, count: int) -> np.ndarray:
        n, m = self.sgd.n_samples, self.sgd.batch_size
        if self.sgd.replace:
            return block_rows(rngs, first, count, lambda g: g.integers(0, n, size=(BLOCK, m)))
        # m distinct indices per row: the first m of a random permutation.
        return block_rows(rngs, first, count, lambda g: np.argsort(g.random((BLOCK, n)), axis=1)[:, :m])

    def step(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return x - self.dt * self.sgd.checked_gradients(x, idx).mean(axis=-2)
