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
        return np.einsum("...ni,...nj->...ij", c, c) / self.n_samples

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
    x_1..x_n with a common, fixed width s:

        f_i = -log(pi N(x_i; mu1, s) + (1 - pi) N(x_i; mu2, s)),

    with parameters (mu1, mu2) for a fixed weight pi, or (mu1, mu2, rho) with
    pi = 1 / (1 + exp(-rho)) learned (``learn_weight=True``). Swapping the two
    components, (mu1, mu2, rho) -> (mu2, mu1, -rho), leaves the loss and the
    gradient noise unchanged: with a learned weight the minima come in
    mirror pairs. With a fixed weight the covariance of the per-sample
    gradients is singular on the diagonal mu1 = mu2 (every gradient is then a
    multiple of (pi, 1 - pi)), where the saddle between the two minima lies.

    Vectorised over parameter points (..., d); ``gradients(x, idx)`` has the
    signature :class:`MinibatchSGD` takes.
    """

    def __init__(self, data, scale: float = 1.1, weight: float = 1.0 / 3.0, learn_weight: bool = False):
        data = np.asarray(data, dtype=float).reshape(-1)
        if data.size < 2 or not np.all(np.isfinite(data)):
            raise ValueError("data must be at least two finite numbers")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be positive, got {scale!r}")
        if not 0 < weight < 1:
            raise ValueError(f"weight must lie in (0, 1), got {weight!r}")
        self.data = data
        self.scale = float(scale)
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
        s2 = self.scale**2
        # log(pi_k N_k) up to the common constant -log(s sqrt(2 pi))
        a1 = np.log(p1)[..., None] - 0.5 * d1**2 / s2
        a2 = np.log1p(-p1)[..., None] - 0.5 * d2**2 / s2
        top = np.maximum(a1, a2)
        log_p = top + np.log(np.exp(a1 - top) + np.exp(a2 - top))
        r1 = np.exp(a1 - log_p)  # responsibility of component 1
        return p1, d1, d2, r1, log_p

    def losses(self, x, idx=None) -> np.ndarray:
        """f_i at parameter points ``(..., d)``: ``(..., n)`` (or ``(..., m)``
        for sample indices idx of shape ``(..., m)``)."""
        _, _, _, _, log_p = self._parts(x, idx)
        return -log_p + np.log(self.scale * np.sqrt(2 * np.pi))

    def gradients(self, x, idx=None) -> np.ndarray:
        """grad f_i: ``(..., n, d)`` (or ``(..., m, d)`` for indices idx)."""
        p1, d1, d2, r1, _ = self._parts(x, idx)
        s2 = self.scale**2
        parts = [-r1 * d1 / s2, -(1.0 - r1) * d2 / s2]
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


def selection_study(problem, etas, *, batch_size: int = 1, n_steps: int = 100000, n_paths: int = 64,
                    seed: int = 1, grid_nodes: int = 201, radius: float = 0.5, regularisations=(),
                    threads: Optional[int] = None) -> dict:
    """Which minimum minibatch SGD selects, predicted and measured.

    For a problem of :func:`hjqp.models.iris_mixture`, computes the
    landscape of the SGD's SDE (anisotropic D) and of the isotropic
    counterfactual with the same trace (:func:`isotropic`), and for each
    learning rate runs actual minibatch SGD from the minima in turn: the
    time fraction at each minimum (last core visited) with its interval and
    the transitions, next to the leading-order Markov chain's stationary
    law at eps = eta / m for both noises. ``regularisations`` adds a study
    of the costs' dependence on the regularisation of D.

    Returns a dict with the landscapes (``"anisotropic"``, ``"isotropic"``),
    ``"rows"`` (one per eta: the SGD runs and the two predictions) and
    ``"regularisation"`` rows.
    """
    from .landscape import landscape
    from .models import iris_mixture

    model = problem.losses
    if not isinstance(model, GaussianMixture1D):
        raise ValueError("selection_study needs a problem from hjqp.models.iris_mixture")
    sgd = model.sgd(batch_size)
    grid = problem.grid(grid_nodes)
    O = np.asarray(problem.attractors, dtype=float)
    lands = {"anisotropic": landscape(problem.sde, grid, attractors=O, threads=threads),
             "isotropic": landscape(isotropic(problem.sde), grid, attractors=O, threads=threads)}
    x0 = O[np.arange(n_paths) % len(O)]
    rows = []
    for eta in etas:
        eps = sgd.eps(eta)
        runs = {"minibatch SGD": sgd.long_run(x0, eta, n_steps, O, radius, n_paths, seed=seed)}
        for name, run in runs.items():
            occ = run.occupancy()
            rows.append({"eta": float(eta), "batch_size": batch_size, "eps": eps, "dynamics": name,
                         "occupancy": [(e.value, e.low, e.high) for e in occ],
                         "transitions": run.transition_counts().tolist()})
        for name, land in lands.items():
            rows.append({"eta": float(eta), "batch_size": batch_size, "eps": eps,
                         "dynamics": f"prediction, {name} D", "occupancy": [(float(p), None, None) for p in
                                                                             land.stationary(eps)],
                         "transitions": None})
    reg_rows = []
    for delta in regularisations:
        p = iris_mixture(model.scale, model.weight, model.learn_weight, regularisation=delta)
        land = landscape(p.sde, grid, attractors=O, threads=threads)
        reg_rows.append({"regularisation": float(delta), "costs": land.costs.tolist(),
                         "global_values": land.global_values.tolist(), "selected": int(land.selected)})
    return {"problem": problem.name, "landscapes": lands, "rows": rows, "regularisation": reg_rows}


def study_report(study: dict) -> str:
    """A markdown report of :func:`selection_study`."""
    from .bench import table

    lands = study["landscapes"]
    lines = [f"# Which minimum does SGD select? {study['problem']}", ""]
    aniso = lands["anisotropic"]
    lines.append("Minima: " + ", ".join(f"O{i + 1} = ({', '.join(f'{v:.4f}' for v in a)})"
                                        for i, a in enumerate(aniso.attractors)))
    lines.append("")
    rows = []
    for name, land in lands.items():
        k = land.k
        costs = "; ".join(f"V{i + 1}{j + 1} = {land.costs[i, j]:.4g}" for i in range(k) for j in range(k) if i != j)
        rows.append((f"{name} D", costs, ", ".join(f"{v:.4g}" for v in land.global_values),
                     f"O{land.selected + 1}"))
    lines += [table(("noise", "transition costs", "phi(O_i)", "selected"), rows), ""]
    rows = []
    for r in study["rows"]:
        occ = r["occupancy"][0]
        share = f"{occ[0]:.3f}" + (f" [{occ[1]:.3f}, {occ[2]:.3f}]" if occ[1] is not None else "")
        moves = "" if r["transitions"] is None else str(int(np.sum(r["transitions"])))
        rows.append((r["eta"], r["batch_size"], r["eps"], r["dynamics"], share, moves))
    lines += ["Time fraction at O1 (last core visited; 95 % intervals from the spread between runs) and "
              "transitions counted, against the leading-order Markov chain at eps = eta / m:", "",
              table(("eta", "batch", "eps", "dynamics", "fraction at O1", "transitions"), rows), ""]
    if study["regularisation"]:
        rows = [(r["regularisation"], "; ".join(f"{v:.4g}" for v in np.asarray(r["costs"])[~np.eye(2, dtype=bool)]),
                 ", ".join(f"{v:.4g}" for v in r["global_values"]), f"O{r['selected'] + 1}")
                for r in study["regularisation"]]
        lines += ["Dependence on the regularisation of D (D + delta I):", "",
                  table(("delta", "V12; V21", "phi(O_i)", "selected"), rows), ""]
    return "\n".join(lines)


def study_figure(study: dict, problem, path: str) -> None:
    """The loss with the minima, and phi for the anisotropic and the
    isotropic noise, side by side (2-parameter models)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot

    lands = study["landscapes"]
    grid = lands["anisotropic"].grid
    loss = problem.losses.loss(grid.points())
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), constrained_layout=True)
    plot.quasipotential(loss - loss.min(), grid, ax=axes[0], attractors=lands["anisotropic"].attractors,
                        title="loss f - min f")
    for ax, (name, land) in zip(axes[1:], lands.items()):
        plot.quasipotential(land, ax=ax, title=f"phi, {name} noise (selected O{land.selected + 1})",
                            vmax=3 * max(1e-12, float(np.max(land.costs))), saddles=land.saddles)
    for ax in axes:
        ax.set(xlabel="mu1", ylabel="mu2")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_study(study: dict, problem, out: str) -> str:
    """Write report.md, study.json and selection.png (2D models) of a
    :func:`selection_study` into ``out``; returns the report."""
    import json
    import os

    from .io import _jsonable

    os.makedirs(out, exist_ok=True)
    report = study_report(study)
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write(report + "\n")
    summary = {k: v for k, v in study.items() if k != "landscapes"}
    summary["landscapes"] = {name: {"attractors": land.attractors, "saddles": land.saddles, "costs": land.costs,
                                    "global_values": land.global_values, "selected": int(land.selected)}
                             for name, land in study["landscapes"].items()}
    with open(os.path.join(out, "study.json"), "w") as fh:
        fh.write(json.dumps(json.loads(_jsonable(summary)), indent=2) + "\n")
    if problem.losses.dim == 2:
        study_figure(study, problem, os.path.join(out, "selection.png"))
    return report
