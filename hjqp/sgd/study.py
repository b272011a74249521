"""Which minimum minibatch SGD selects: the landscapes of its SDE and of
the isotropic counterfactual, against actual SGD runs (and Gaussian-noise
descent) over several learning rates; on grids in 2D and 3D
(:func:`selection_study`) and, in any dimension, from minimum action paths
(:func:`barrier_study`)."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from .. import _interrupt
from ..landscape import barriers, landscape
from ..problem import SDE
from ..stochastic import LongRun, arrhenius_fit, long_run
from .mixture import GaussianMixture1D

__all__ = ["isotropic", "fit_barriers", "selection_study", "barrier_study"]


def isotropic(sde: SDE) -> SDE:
    """The counterfactual SDE with the same drift and isotropic noise of the
    same total size: D_iso(x) = tr D(x) / d times the identity."""
    def diffusion(x):
        D = np.asarray(sde.diffusion(x) if callable(sde.diffusion) else sde.diffusion, dtype=float)
        d = np.shape(x)[-1]
        return np.trace(D, axis1=-2, axis2=-1)[..., None, None] / d * np.eye(d)

    return SDE(sde.drift, diffusion)


def _landscape_pair(sde, problem, n: int, threads) -> dict:
    """The landscape on n nodes per axis and on (n + 1) // 2 (every other
    node for odd n). The largest change of a cost V_ij estimates the fine
    costs' error; since W_i sums k - 1 costs, phi(O_i) = W_i - min W is then
    uncertain by up to 2 (k - 1) times that, and the selected set holds the
    attractors whose phi lies within it of 0 (ties)."""
    O = np.asarray(problem.attractors, dtype=float)
    fine = landscape(sde, problem.grid(n), attractors=O, threads=threads)
    coarse = landscape(sde, problem.grid((n + 1) // 2), attractors=O, threads=threads)
    off = ~np.eye(fine.k, dtype=bool)
    cost_error = float(np.max(np.abs(fine.direct_costs - coarse.direct_costs)[off]))
    phi_error = 2 * (fine.k - 1) * cost_error
    return {"landscape": fine, "coarse": coarse, "cost_error": cost_error, "phi_error": phi_error,
            "selected_set": [int(i) for i in fine.selected_set(phi_error)], "grid_nodes": int(n)}


def _run_row(run: LongRun, eta: float, batch_size: int, eps: float, dynamics: str) -> dict:
    rate, low, high = run.rates()
    return {"eta": float(eta), "batch_size": batch_size, "eps": float(eps), "dynamics": dynamics,
            "occupancy": [(e.value, e.low, e.high) for e in run.occupancy()],
            "transitions": run.transition_counts().tolist(), "rates": rate.tolist(),
            "rates_low": low.tolist(), "rates_high": high.tolist()}


def _regularisation(sde: SDE, sgd) -> float:
    """The delta of the model's D = covariance + delta I (0 when none)."""
    x = np.asarray([[1.0, 2.0]])
    dm = sde.diffusion(x) if callable(sde.diffusion) else sde.diffusion
    return float(max(0.0, np.round(np.trace(np.asarray(dm)[0] - sgd.covariance(x)[0]) / 2, 12)))


def fit_barriers(rows, min_transitions: int = 5) -> list:
    """V_ij from measured rates at several eps: ln k_ij = a - V_ij / eps by
    weighted least squares (weights: the transition counts, var ln N ~ 1/N),
    over the rows of each dynamics with at least ``min_transitions``
    i -> j; pairs seen at fewer than two eps are left out. Returns dicts
    with the dynamics, i, j, V, its standard error and the eps used."""
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
                _, v, se, _ = arrhenius_fit(eps, y, w, -1.0)
                out.append({"dynamics": dyn, "i": i, "j": j, "V": v, "se": se, "eps": eps.tolist()})
    return out


@_interrupt.interruptible
def selection_study(problem, etas=None, *, batch_size: int = 1, n_steps: int = 100000, n_paths: int = 64,
                    seed: int = 1, grid_nodes: Optional[int] = None, radius: float = 0.5,
                    regularisations=(), gaussian: bool = False, threads: Optional[int] = None,
                    own: bool = True, own_grid_nodes: Optional[int] = None) -> dict:
    """Which minimum minibatch SGD selects, predicted and measured.

    For an SGD problem (a :class:`hjqp.models.Problem` whose ``losses`` is a
    :class:`GaussianMixture1D`, e.g. ``iris_mixture`` or ``iris_two_widths``):

    - the landscapes of the SGD's SDE (anisotropic D) and of the isotropic
      counterfactual with the same trace (:func:`isotropic`), each also on
      the grid of every other node: the change of the costs is their error
      estimate, and minima whose phi lies within what that allows of 0 tie
      (``selected_set``);
    - with ``own`` (2D models), the landscape of SGD's own large-deviation
      Hamiltonian (:meth:`MinibatchSGD.hamiltonian`: the cumulant generating
      function of the per-sample gradients, not only its quadratic part) on
      ``own_grid_nodes`` per axis (default 81: each of its n samples is a
      jump, and the march costs about n times more per node), with the same
      regularisation as the model's SDE where D is singular;
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
    model = getattr(problem, "losses", None)
    if not isinstance(model, GaussianMixture1D):
        raise ValueError("selection_study needs an SGD problem on a grid (hjqp.models.iris_mixture or "
                         "iris_two_widths); barrier_study takes models in any dimension")
    if regularisations and model.scales[0] != model.scales[1]:
        raise ValueError("a regularisation study needs iris_mixture (one common width)")
    sgd = model.sgd(batch_size)
    n = int(grid_nodes or (201 if model.dim == 2 else 41))
    O = np.asarray(problem.attractors, dtype=float)
    noises = {"anisotropic": problem.sde, "isotropic": isotropic(problem.sde)}
    lands = {name: _landscape_pair(sde, problem, n, threads) for name, sde in noises.items()}
    if own and model.dim == 2:
        delta = _regularisation(problem.sde, sgd)
        lands["SGD's own"] = _landscape_pair(sgd.hamiltonian(regularisation=delta), problem,
                                             int(own_grid_nodes or 81), threads)
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
                run = long_run(sde, x0, eps, eta, n_steps, O, radius, n_paths, seed=seed)
                rows.append(_run_row(run, eta, batch_size, eps, f"Gaussian noise, {name} D"))
        for name, pair in lands.items():
            rows.append({"eta": float(eta), "batch_size": batch_size, "eps": eps,
                         "dynamics": f"prediction, {name} " + ("H" if name == "SGD's own" else "D"),
                         "occupancy": [
                             (float(p), None, None) for p in pair["landscape"].stationary(eps)],
                         "transitions": None, "rates": None})
    reg_rows = []
    for delta in regularisations:
        # The model's SDE with D + delta I (that of iris_mixture(regularisation=delta)).
        land = landscape(model.sgd(1).sde(delta), problem.grid(n), attractors=O, threads=threads)
        reg_rows.append({"regularisation": float(delta), "costs": land.costs.tolist(),
                         "global_values": land.global_values.tolist(), "selected": int(land.selected)})
    return {"problem": problem.name, "grid_nodes": n, "landscapes": lands, "rows": rows,
            "barriers": fit_barriers(rows), "regularisation": reg_rows}


# The three noises of a barrier study, in the order they are reported.
NOISES = ("Gaussian D", "isotropic D", "SGD's own H")


def barrier_study(problem, etas, *, batch_size: int = 1, n_steps: int = 100000, n_paths: int = 64,
                  seed: int = 1, radius: Optional[float] = None, n_points: int = 100) -> dict:
    """Which minimum minibatch SGD selects, in any dimension: the barriers
    between the minima under three Hamiltonians, from minimum action paths,
    against actual SGD.

    For an SGD problem (a :class:`hjqp.models.Problem` whose ``losses`` has
    ``sgd(batch_size)``, e.g. ``iris_four_features``, and whose
    ``attractors`` are the minima):

    - :func:`hjqp.barriers` (gMAM, ``n_points`` per path) for the SGD's SDE
      (``problem.sde``: b = -grad f, D the per-sample gradient covariance),
      its isotropic counterfactual (:func:`isotropic`, D_iso = tr D / d I)
      and SGD's own large-deviation Hamiltonian
      (:meth:`MinibatchSGD.hamiltonian`): costs tilde-V_ij, phi at the
      minima, the selected minimum, each with its time;
    - for each learning rate in ``etas``, minibatch SGD from the minima in
      turn (``n_paths`` runs of ``n_steps``): the time fraction at each
      minimum (last core visited, cores of ``radius``; default a quarter of
      the least distance between minima), transitions and rates with
      Poisson intervals, next to each Hamiltonian's leading-order Markov
      chain at eps = eta / m;
    - the barriers fitted to the measured rates over the learning rates
      (:func:`fit_barriers`).

    Returns a dict: problem, minima (k, d), losses (k,) (None where the
    model gives no ``loss``), barriers (name ->
    :class:`hjqp.landscape.Barriers`), times (name -> seconds), rows,
    fitted (:func:`fit_barriers`), radius, sgd_time (seconds), curvature
    (the largest Hessian eigenvalue at the minima, where the model gives
    ``hessian``; else None), n_steps, n_paths.
    """
    model = getattr(problem, "losses", None)
    if model is None or not hasattr(model, "sgd"):
        raise ValueError("barrier_study needs an SGD problem: a Problem whose losses give sgd(batch_size), "
                         "e.g. hjqp.models.iris_four_features()")
    O = np.asarray(problem.attractors, dtype=float)
    if O.ndim != 2 or len(O) < 2:
        raise ValueError(f"barrier_study needs at least two minima in problem.attractors, got shape {O.shape}")
    etas = [float(e) for e in np.atleast_1d(etas)]
    if not etas:
        raise ValueError("etas must hold at least one learning rate")
    sgd = model.sgd(batch_size)
    gaps = np.linalg.norm(O[:, None] - O[None], axis=-1)[~np.eye(len(O), dtype=bool)]
    radius = float(0.25 * np.min(gaps)) if radius is None else float(radius)
    hamiltonians = dict(zip(NOISES, (problem.sde, isotropic(problem.sde), sgd.hamiltonian())))
    found, times = {}, {}
    for name, H in hamiltonians.items():
        began = time.perf_counter()
        found[name] = barriers(H, O, n_points)
        times[name] = time.perf_counter() - began
    # eta lambda_max, the stability number of gradient descent at the minima
    # (small-eps asymptotics need it small), where the model has a Hessian.
    curvature = (float(max(np.linalg.eigvalsh(model.hessian(o))[-1] for o in O)) if hasattr(model, "hessian")
                 else None)
    x0 = O[np.arange(n_paths) % len(O)]
    rows = []
    began = time.perf_counter()
    for eta in etas:
        eps = sgd.eps(eta)
        run = sgd.long_run(x0, eta, n_steps, O, radius, n_paths, seed=seed)
        rows.append(_run_row(run, eta, batch_size, eps, "minibatch SGD"))
        for name, B in found.items():
            rows.append({"eta": eta, "batch_size": batch_size, "eps": eps, "dynamics": f"prediction, {name}",
                         "occupancy": [(float(p), None, None) for p in B.stationary(eps)],
                         "transitions": None, "rates": None})
    sgd_time = time.perf_counter() - began
    losses = np.asarray(model.loss(O), dtype=float) if hasattr(model, "loss") else None
    return {"problem": problem.name, "minima": O, "losses": losses,
            "barriers": found, "times": times, "rows": rows, "fitted": fit_barriers(rows), "radius": radius,
            "sgd_time": sgd_time, "curvature": curvature, "n_steps": int(n_steps), "n_paths": int(n_paths)}
