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

__all__ = ["MinibatchSGD", "GaussianMixture1D", "iris_petal_lengths"]

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


def iris_petal_lengths() -> np.ndarray:
    """The 150 petal lengths (cm) of Fisher's iris data, as bundled with
    scikit-learn (setosa, versicolor, virginica, 50 each). Needs scikit-learn
    (``pip install "hjqp[sgd]"``); nothing is downloaded."""
    try:
        from sklearn.datasets import load_iris
    except ImportError:
        raise ImportError("the iris data come from scikit-learn: pip install scikit-learn "
                          "(or hjqp[sgd])") from None
    return np.ascontiguousarray(load_iris().data[:, 2], dtype=float)


class GaussianMixture1D:
    """The per-sample losses of a two-component Gaussian mixture on 1D data
    x_1..x_n with fixed widths s1, s2:

        f_i = -log(pi N(x_i; mu1, s1) + (1 - pi) N(x_i; mu2, s2)),

    with parameters (mu1, mu2) for a fixed weight pi, or (mu1, mu2, rho) with
    pi = 1 / (1 + exp(-rho)) learned (``learn_weight=True``). ``scale`` is
    the common width s1 = s2 or the pair (s1, s2).

    With a common width, swapping the two components,
    (mu1, mu2, rho) -> (mu2, mu1, -rho), leaves the loss and the gradient
    noise unchanged: with a learned weight the minima come in mirror pairs.
    With a common width and a fixed weight the covariance of the per-sample
    gradients is singular on the diagonal mu1 = mu2 (every gradient is then
    a multiple of (pi, 1 - pi)), where the saddle between the two minima
    lies; with unequal widths it is not.

    Vectorised over parameter points (..., d); ``gradients(x, idx)`` has the
    signature :class:`MinibatchSGD` takes.
    """

    def __init__(self, data, scale=1.1, weight: float = 1.0 / 3.0, learn_weight: bool = False):
        data = np.asarray(data, dtype=float).reshape(-1)
        if data.size < 2 or not np.all(np.isfinite(data)):
            raise ValueError("data must be at least two finite numbers")
        scales = np.asarray(scale, dtype=float)
        if scales.ndim == 0 or scales.shape == (1,):
            scales = np.repeat(scales.reshape(1), 2)
        if scales.shape != (2,) or not np.all(np.isfinite(scales) & (scales > 0)):
            raise ValueError(f"scale must be a positive width or a pair of them, got {scale!r}")
        if not 0 < weight < 1:
            raise ValueError(f"weight must lie in (0, 1), got {weight!r}")
        self.data = data
        self.scales = (float(scales[0]), float(scales[1]))
        self.weight = float(weight)
        self.learn_weight = bool(learn_weight)
        self.dim = 3 if self.learn_weight else 2

    @property
    def n_samples(self) -> int:
        return self.data.size

    def _parts(self, x, idx):
        x = np.asarray(x, dtype=float)
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"parameters must have shape (..., {self.dim}), got {x.shape}")
        xi = self.data if idx is None else self.data[np.asarray(idx)]
        if idx is None:
            xi = np.broadcast_to(xi, x.shape[:-1] + xi.shape)
        if self.learn_weight:
            p1 = 1.0 / (1.0 + np.exp(-x[..., 2]))
        else:
            p1 = np.full(x.shape[:-1], self.weight)
        d1 = xi - x[..., 0, None]
        d2 = xi - x[..., 1, None]
        s1, s2 = self.scales
        # log(pi_k N_k) up to the common constant -log(sqrt(2 pi))
        a1 = (np.log(p1) - np.log(s1))[..., None] - 0.5 * (d1 / s1) ** 2
        a2 = (np.log1p(-p1) - np.log(s2))[..., None] - 0.5 * (d2 / s2) ** 2
        return p1, d1, d2, a1, a2

    def losses(self, x, idx=None) -> np.ndarray:
        """f_i at parameter points ``(..., d)``: ``(..., n)`` (or ``(..., m)``
        for sample indices idx of shape ``(..., m)``)."""
        _, _, _, a1, a2 = self._parts(x, idx)
        return -np.logaddexp(a1, a2) + 0.5 * np.log(2 * np.pi)

    def gradients(self, x, idx=None) -> np.ndarray:
        """grad f_i: ``(..., n, d)`` (or ``(..., m, d)`` for indices idx)."""
        from scipy.special import expit

        p1, d1, d2, a1, a2 = self._parts(x, idx)
        r1 = expit(a1 - a2)  # the responsibility of component 1
        s1, s2 = self.scales
        parts = [-r1 * d1 / s1**2, (r1 - 1.0) * d2 / s2**2]
        if self.learn_weight:
            parts.append(p1[..., None] - r1)
        return np.stack(parts, axis=-1)

    def loss(self, x) -> np.ndarray:
        """f = mean of f_i."""
        return self.losses(x).mean(axis=-1)

    def sgd(self, batch_size: int = 1, replace: bool = True) -> MinibatchSGD:
        """Minibatch SGD on this loss."""
        return MinibatchSGD(self.gradients, self.n_samples, batch_size, replace)


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


def isotropic(sde: SDE) -> SDE:
    """The counterfactual SDE with the same drift and isotropic noise of the
    same total size: D_iso(x) = tr D(x) / d times the identity."""
    def diffusion(x):
        D = np.asarray(sde.diffusion(x) if callable(sde.diffusion) else sde.diffusion, dtype=float)
        d = np.shape(x)[-1]
        return np.trace(D, axis1=-2, axis2=-1)[..., None, None] / d * np.eye(d)

    return SDE(sde.drift, diffusion)


def _landscape_pair(sde: SDE, problem, n: int, threads) -> dict:
    """The landscape on n nodes per axis and on (n + 1) // 2 (every other
    node for odd n). The largest change of a cost V_ij estimates the fine
    costs' error; since W_i sums k - 1 costs, phi(O_i) = W_i - min W is then
    uncertain by up to 2 (k - 1) times that, and the selected set holds the
    attractors whose phi lies within it of 0 (ties)."""
    from .landscape import landscape

    O = np.asarray(problem.attractors, dtype=float)
    fine = landscape(sde, problem.grid(n), attractors=O, threads=threads)
    coarse = landscape(sde, problem.grid((n + 1) // 2), attractors=O, threads=threads)
    off = ~np.eye(fine.k, dtype=bool)
    cost_error = float(np.max(np.abs(fine.direct_costs - coarse.direct_costs)[off]))
    phi_error = 2 * (fine.k - 1) * cost_error
    return {"landscape": fine, "coarse": coarse, "cost_error": cost_error, "phi_error": phi_error,
            "selected_set": [int(i) for i in fine.selected_set(phi_error)]}


def _run_row(run: mc.LongRun, eta: float, batch_size: int, eps: float, dynamics: str) -> dict:
    rate, low, high = run.rates()
    return {"eta": float(eta), "batch_size": batch_size, "eps": float(eps), "dynamics": dynamics,
            "occupancy": [(e.value, e.low, e.high) for e in run.occupancy()],
            "transitions": run.transition_counts().tolist(), "rates": rate.tolist(),
            "rates_low": low.tolist(), "rates_high": high.tolist()}


def fit_barriers(rows, min_transitions: int = 5) -> list:
    """V_ij from measured rates at several eps: ln k_ij = a - V_ij / eps by
    weighted least squares (weights: the transition counts, var ln N ~ 1/N),
    over the rows of each dynamics with at least ``min_transitions``
    i -> j; pairs seen at fewer than two eps are left out. Returns dicts
    with the dynamics, i, j, V, its standard error and the eps used."""
    from .verify import _fit_barrier

    out = []
    for dyn in dict.fromkeys(r["dynamics"] for r in rows if r.get("rates") is not None):
        mine = [r for r in rows if r["dynamics"] == dyn]
        k = len(mine[0]["transitions"])
        for i in range(k):
            for j in range(k):
                use = [r for r in mine if i != j and r["transitions"][i][j] >= min_transitions]
                if len({r["eps"] for r in use}) < 2:
                    continue
                eps = np.array([r["eps"] for r in use])
                y = np.log([r["rates"][i][j] for r in use])
                w = np.array([r["transitions"][i][j] for r in use], dtype=float)
                _, v, se, _ = _fit_barrier(eps, y, w, -1.0)
                out.append({"dynamics": dyn, "i": i, "j": j, "V": v, "se": se, "eps": eps.tolist()})
    return out


def selection_study(problem, etas=None, *, batch_size: int = 1, n_steps: int = 100000, n_paths: int = 64,
                    seed: int = 1, grid_nodes: Optional[int] = None, radius: float = 0.5,
                    regularisations=(), gaussian: bool = False, threads: Optional[int] = None) -> dict:
    """Which minimum minibatch SGD selects, predicted and measured.

    For an SGD problem (a :class:`hjqp.models.Problem` whose ``losses`` is a
    :class:`GaussianMixture1D`, e.g. ``iris_mixture`` or ``iris_two_widths``):

    - the landscapes of the SGD's SDE (anisotropic D) and of the isotropic
      counterfactual with the same trace (:func:`isotropic`), each also on
      the grid of every other node: the change of the costs is their error
      estimate, and minima whose phi lies within what that allows of 0 tie
      (``selected_set``);
    - for each learning rate, actual minibatch SGD from the minima in turn:
      the time fraction at each minimum (last core visited) with its
      interval, transitions and rates with Poisson intervals; with
      ``gaussian``, the same for gradient descent with Gaussian noise of
      covariance D and of covariance tr D / d I (Euler-Maruyama of the two
      SDEs with dt = eta, eps = eta / m): the dynamics the two landscapes
      describe, at SGD's step;
    - the leading-order Markov chain's stationary law at eps for both noises;
    - the barriers fitted to the measured rates over the learning rates
      (:func:`fit_barriers`), to set against the landscapes' costs;
    - with ``regularisations`` (iris_mixture only), the costs against the
      regularisation of its singular D.

    ``etas`` defaults to the learning rates at which the cheapest transition
    of the anisotropic landscape has V / eps = 5, 4.5 and 4: SGD's own
    rates on the iris models are lower than exp(-V / eps) says, and these
    give tens to hundreds of transitions in 64 runs of 1e5 steps.
    grid_nodes defaults to 201 per axis in 2D and 41 in 3D.
    """
    from .landscape import landscape

    model = getattr(problem, "losses", None)
    if not isinstance(model, GaussianMixture1D):
        raise ValueError("selection_study needs an SGD problem (hjqp.models.iris_mixture or iris_two_widths)")
    if regularisations and model.scales[0] != model.scales[1]:
        raise ValueError("a regularisation study needs iris_mixture (one common width)")
    sgd = model.sgd(batch_size)
    n = int(grid_nodes or (201 if model.dim == 2 else 41))
    O = np.asarray(problem.attractors, dtype=float)
    noises = {"anisotropic": problem.sde, "isotropic": isotropic(problem.sde)}
    lands = {name: _landscape_pair(sde, problem, n, threads) for name, sde in noises.items()}
    if etas is None:
        direct = lands["anisotropic"]["landscape"].direct_costs
        cheapest = float(np.min(direct[~np.eye(len(O), dtype=bool)]))
        etas = [cheapest / ratio / sgd.eps(1.0) for ratio in (5.0, 4.5, 4.0)]
    x0 = O[np.arange(n_paths) % len(O)]
    rows = []
    for eta in etas:
        eps = sgd.eps(eta)
        run = sgd.long_run(x0, eta, n_steps, O, radius, n_paths, seed=seed)
        rows.append(_run_row(run, eta, batch_size, eps, "minibatch SGD"))
        if gaussian:
            for name, sde in noises.items():
                run = mc.long_run(sde, x0, eps, eta, n_steps, O, radius, n_paths, seed=seed)
                rows.append(_run_row(run, eta, batch_size, eps, f"Gaussian noise, {name} D"))
        for name, pair in lands.items():
            rows.append({"eta": float(eta), "batch_size": batch_size, "eps": eps,
                         "dynamics": f"prediction, {name} D", "occupancy": [
                             (float(p), None, None) for p in pair["landscape"].stationary(eps)],
                         "transitions": None, "rates": None})
    from .models import iris_mixture

    reg_rows = []
    for delta in regularisations:
        p = iris_mixture(model.scales[0], model.weight, model.learn_weight, regularisation=delta)
        land = landscape(p.sde, problem.grid(n), attractors=O, threads=threads)
        reg_rows.append({"regularisation": float(delta), "costs": land.costs.tolist(),
                         "global_values": land.global_values.tolist(), "selected": int(land.selected)})
    return {"problem": problem.name, "grid_nodes": n, "landscapes": lands, "rows": rows,
            "barriers": fit_barriers(rows), "regularisation": reg_rows}


def _selected(pair: dict) -> str:
    chosen = pair["selected_set"]
    names = " and ".join(f"O{i + 1}" for i in chosen)
    return f"{names} (tie)" if len(chosen) > 1 else names


def study_report(study: dict) -> str:
    """A markdown report of :func:`selection_study`."""
    from .bench import table

    lands = study["landscapes"]
    n = study["grid_nodes"]
    aniso = lands["anisotropic"]["landscape"]
    k = aniso.k
    pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
    lines = [f"# Which minimum does SGD select? {study['problem']}", "",
             "Minima: " + ", ".join(f"O{i + 1} = ({', '.join(f'{v:.4f}' for v in a)})"
                                    for i, a in enumerate(aniso.attractors)), ""]
    rows = []
    for name, pair in lands.items():
        land = pair["landscape"]
        costs = "; ".join(f"V{i + 1}{j + 1} = {land.direct_costs[i, j]:.4g}" for i, j in pairs)
        rows.append((f"{name} D", costs, ", ".join(f"{v:.4g}" for v in land.global_values),
                     f"{pair['cost_error']:.2g}", f"{pair['phi_error']:.2g}", _selected(pair)))
    lines += [f"Landscapes on {n} nodes per axis. The cost error is the largest change of a cost from "
              f"{(n + 1) // 2} nodes per axis; phi(O_i) = W_i - min W, W_i a sum of k - 1 costs, is then "
              "uncertain by up to 2 (k - 1) times that, and minima whose phi lies within it of 0 tie:", "",
              table(("noise", "transition costs", "phi(O_i)", "cost error", "phi error", "selected"), rows), ""]
    for name, pair in lands.items():
        edge = np.flatnonzero(pair["landscape"].exit_on_edge)
        if len(edge):
            lines += [f"With {name} noise, basins that reach the box edge below their exit cost inside the box: "
                      + ", ".join(f"O{i + 1}" for i in edge)
                      + " (the costs hold for this box: paths that leave it are not counted).", ""]
    rows = []
    for r in study["rows"]:
        occ = r["occupancy"][0]
        share = f"{occ[0]:.3f}" + (f" [{occ[1]:.3f}, {occ[2]:.3f}]" if occ[1] is not None else "")
        if r["rates"] is None:
            moves = rates = ""
        else:
            moves = ", ".join(f"{r['transitions'][i][j]}" for i, j in pairs)
            rates = ", ".join(f"{r['rates'][i][j]:.3g} [{r['rates_low'][i][j]:.2g}, {r['rates_high'][i][j]:.2g}]"
                              for i, j in pairs)
        rows.append((r["eta"], r["batch_size"], r["eps"], r["dynamics"], share, moves, rates))
    order = ", ".join(f"{i + 1}->{j + 1}" for i, j in pairs)
    lines += ["Time fraction at O1 (last core visited; 95 % intervals from the spread between runs), "
              f"transitions ({order}) and rates per unit time (t = k eta; exact Poisson intervals), against "
              "the leading-order Markov chain at eps = eta / m:", "",
              table(("eta", "batch", "eps", "dynamics", "fraction at O1", "transitions", "rates"), rows), ""]
    if study["barriers"]:
        rows = [(b["dynamics"], f"V{b['i'] + 1}{b['j'] + 1}", f"{b['V']:.3g} +- {b['se']:.2g}",
                 f"{lands['anisotropic']['landscape'].direct_costs[b['i'], b['j']]:.4g}",
                 f"{lands['isotropic']['landscape'].direct_costs[b['i'], b['j']]:.4g}",
                 ", ".join(f"{e:g}" for e in b["eps"]))
                for b in study["barriers"]]
        lines += ["Barriers from the measured rates, ln k = a - V / eps (weighted least squares), against "
                  "the landscapes' costs:", "",
                  table(("dynamics", "barrier", "fitted", "anisotropic D", "isotropic D", "eps"), rows), ""]
    if study["regularisation"]:
        rows = [(r["regularisation"], "; ".join(f"{v:.4g}" for v in np.asarray(r["costs"])[~np.eye(k, dtype=bool)]),
                 ", ".join(f"{v:.4g}" for v in r["global_values"]), f"O{r['selected'] + 1}")
                for r in study["regularisation"]]
        lines += ["Dependence on the regularisation of D (D + delta I):", "",
                  table(("delta", "costs", "phi(O_i)", "selected"), rows), ""]
    return "\n".join(lines)


def study_figure(study: dict, problem, path: str) -> None:
    """The loss, phi for the anisotropic and for the isotropic noise (with a
    third parameter, their least values over it: the quasi-potential of the
    first two's marginal law), and the measured rates against 1 / eps with
    the slopes of both landscapes' costs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot
    from .grid import Grid

    lands = {name: pair["landscape"] for name, pair in study["landscapes"].items()}
    grid = lands["anisotropic"].grid
    loss = problem.losses.loss(grid.points())
    fields = [loss - loss.min()] + [land.values for land in lands.values()]
    suffix = ""
    if grid.ndim == 3:
        fields = [np.min(f, axis=2) for f in fields]
        grid = Grid(grid.lower[:2], grid.upper[:2], grid.shape[:2])
        suffix = ", least over rho"
    O = lands["anisotropic"].attractors[:, :2]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.3), constrained_layout=True)
    barrier = float(np.min(problem.losses.loss(np.asarray(problem.saddles)))) - float(loss.min())
    plot.quasipotential(fields[0], grid, ax=axes[0], attractors=O, title=f"loss f - min f{suffix}",
                        vmax=3 * barrier if barrier > 0 else None)
    for ax, (name, pair), values in zip(axes[1:3], study["landscapes"].items(), fields[1:]):
        land = pair["landscape"]
        plot.quasipotential(values, grid, ax=ax, attractors=O, saddles=land.saddles[:, :2],
                            title=f"phi, {name} noise{suffix}\nselected {_selected(pair)}",
                            vmax=3 * max(1e-12, float(np.max(land.costs))))
    for ax in axes[:3]:
        ax.set(xlabel="mu1", ylabel="mu2")
    ax = axes[3]
    k = lands["anisotropic"].k
    measured = [r for r in study["rows"] if r["rates"] is not None]
    for c, (i, j) in enumerate((i, j) for i in range(k) for j in range(k) if i != j):
        for dyn, marker in zip(dict.fromkeys(r["dynamics"] for r in measured), "os^"):
            pts = [(1 / r["eps"], r["rates"][i][j], r["rates_low"][i][j], r["rates_high"][i][j])
                   for r in measured if r["dynamics"] == dyn and r["transitions"][i][j] > 0]
            if not pts:
                continue
            x, y, lo, hi = np.array(pts).T
            ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt=marker, color=f"C{c}", capsize=3,
                        label=f"O{i + 1} -> O{j + 1}, {dyn}")
            # the two landscapes' slopes through the measured points' mean
            xs = np.linspace(x.min(), x.max(), 2) if len(x) > 1 else x
            for name, style in (("anisotropic", "-"), ("isotropic", ":")):
                v = lands[name].direct_costs[i, j]
                a = np.mean(np.log(y) + v * x)
                ax.plot(xs, np.exp(a - v * xs), style, color=f"C{c}", lw=1)
    ax.set(yscale="log", xlabel="1 / eps", ylabel="transitions per unit time",
           title="measured rates; slopes -V of the costs:\nanisotropic D (solid), isotropic D (dotted)")
    if ax.has_data():
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_study(study: dict, problem, out: str) -> str:
    """Write report.md, study.json and selection.png of a
    :func:`selection_study` into ``out``; returns the report."""
    import json
    import os

    from .io import _jsonable

    os.makedirs(out, exist_ok=True)
    report = study_report(study)
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write(report + "\n")
    summary = {k: v for k, v in study.items() if k != "landscapes"}
    summary["landscapes"] = {}
    for name, pair in study["landscapes"].items():
        land = pair["landscape"]
        summary["landscapes"][name] = {
            "attractors": land.attractors, "saddles": land.saddles, "costs": land.costs,
            "direct_costs": land.direct_costs, "global_values": land.global_values,
            "selected": int(land.selected), "selected_set": pair["selected_set"],
            "cost_error": pair["cost_error"], "phi_error": pair["phi_error"],
            "coarse_costs": pair["coarse"].direct_costs, "coarse_global_values": pair["coarse"].global_values}
    with open(os.path.join(out, "study.json"), "w") as fh:
        fh.write(json.dumps(json.loads(_jsonable(summary)), indent=2) + "\n")
    study_figure(study, problem, os.path.join(out, "selection.png"))
    return report
