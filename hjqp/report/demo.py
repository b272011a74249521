"""``hjqp demo``: the paper's Example 4.1 end to end.

The loss has two wells of equal depth, f = |x - O_i|^2 on the unit discs
around O_1 = (-2, 0) and O_2 = (2, 0), flat (f = 1) between them; the
gradient noise is D = diag(mu_i, 2 - mu_i) in well i (mu1 = 1.9999: almost
all along x1; mu2 = 1.0001: nearly isotropic) and I outside. The loss cannot
tell the minima apart; the global quasi-potential phi can: leaving O_1 costs
2/mu1 ~ 1, leaving O_2 costs 2/mu2 ~ 2, so as eps -> 0 SGD selects O_2.

The demo computes the local quasi-potentials and transition costs
(hjqp.landscape with its defaults: it finds the wells' edges, where the
drift and the diffusion jump, and samples them there as cell means),
compares them with the exact values, draws phi next to the loss, and checks
the predictions with Monte Carlo at several eps down to the paper's 0.2,
dt = 0.01: the rates' and occupancies' log ratios predicted / simulated,
whose eps multiples converge to 0 (no prefactor applies to this flat,
jumping loss, and the report says so). The occupancies also have a
deterministic judge at finite eps: the stationary Fokker-Planck density on a
grid (hjqp.fokker_planck), whose milestone occupancies are what the Monte
Carlo runs measure. The flat loss is confined by
(|x| - 4.5)^2 / 2 beyond radius 4.5, far from the wells, so that long runs
stay bounded; no cost changes. It writes report.md, summary.json and figures
into the output folder.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from typing import Callable

import numpy as np

from .. import models
from ..grid import Grid
from ..landscape import PrefactorWarning, landscape
from ..stochastic import fokker_planck, long_run, simulate
from . import io, plot

__all__ = ["run"]

#: The noise levels of the Monte Carlo comparison, the paper's 0.2 last.
EPS_SWEEP = (0.5, 0.35, 0.25, 0.2)


def loss_41(problem: models.Problem, points: np.ndarray) -> np.ndarray:
    """Example 4.1's loss f on points (..., 2)."""
    f = np.ones(points.shape[:-1])
    for c in problem.attractors:
        r2 = np.sum((points - np.asarray(c)) ** 2, axis=-1)
        f = np.where(r2 <= 1, r2, f)
    return f


def run(out: str = "hjqp-demo", log: Callable[[str], None] = print, *, quick: bool = False,
        progress: bool = False, grid_n: int = None, paths: int = None) -> dict:
    """Run the demo; returns its summary (also written to out/summary.json)."""
    import matplotlib

    matplotlib.use("Agg")

    os.makedirs(out, exist_ok=True)
    n = grid_n or (101 if quick else 401)
    n_paths = paths or (8 if quick else 64)
    steps = 200_000 if quick else 2_000_000
    problem = models.example_4_1(1.9999, 1.0001)
    grid = problem.grid(n)

    log(f"landscape of {problem.name} on {n} x {n} nodes")
    start = time.perf_counter()
    land = landscape(problem.sde, grid)
    t_land = time.perf_counter() - start
    resampled = land.info["supersampled_nodes"]
    log("the fields jump at the wells' edges: sampled there as cell means of 8 x 8 points ("
        + ", ".join(f"{name} at {count} nodes" for name, count in resampled.items()) + ")")
    io.save(os.path.join(out, "landscape.npz"), land, model=problem.name)
    exact = np.array(problem.costs)

    dt = 0.01
    mc_grid = Grid((-7, -7), (7, 7), (701, 701) if not quick else (281, 281))
    O = land.attractors
    x0 = O[np.arange(n_paths) % 2]
    # Several eps, each run long enough for a similar number of departures
    # from O_2 (the rarer one): the steps grow like exp(V_21 / eps), capped at
    # the paper's eps = 0.2, which keeps the demo's setting and its cost.
    # Half the paths start at O_1, which holds a few per cent of the mass at
    # eps = 0.2: the tallies would remember it for about the time it takes to
    # leave O_1 (the relaxation time). An untallied burn-in of half the run,
    # and of at least 1000 time units, is 2.7 (eps = 0.25) to 12 (eps = 0.2)
    # such times, as the runs' own rates measure them.
    sweep = []
    start = time.perf_counter()
    for eps in EPS_SWEEP:
        n_steps = max(steps // 40, int(steps * math.exp(land.costs[1, 0] * (1 / eps - 1 / 0.2))))
        burn_in = max(n_steps // 2, steps // 20)
        log(f"Monte Carlo at eps = {eps}, dt = {dt}: {n_paths} paths x {n_steps * dt:g} time units "
            f"after {burn_in * dt:g} untallied")
        runs = long_run(problem.sde, x0, eps, dt, n_steps, O, 0.5, n_paths, seed=1, grid=mc_grid,
                        burn_in=burn_in, progress=progress)
        sweep.append((eps, n_steps, runs))
    t_mc = time.perf_counter() - start
    fp_n = 161 if quick else 481
    fp_grid = Grid((-8, -8), (8, 8), (fp_n, fp_n))
    log(f"stationary Fokker-Planck densities on {fp_n} x {fp_n} nodes of [-8, 8]^2 at eps = "
        + ", ".join(f"{e:g}" for e in EPS_SWEEP))
    start = time.perf_counter()
    fp_occupancy = [fokker_planck(problem.sde, fp_grid, e, attractors=O, supersample=8).milestone_occupancy(O, 0.5)
                    for e in EPS_SWEEP]
    t_fp = time.perf_counter() - start
    eps, _, runs = sweep[-1]
    occ = runs.occupancy()
    rate, low, high = runs.rates()
    counts = runs.transitions.sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrefactorWarning)
        pf = land.prefactors()
    prefactor_note = ("the generalised Eyring-Kramers prefactors apply: the predictions below use them"
                      if pf.valid.all() else "the generalised Eyring-Kramers prefactors do not apply here: "
                      + pf.describe() + ". The predictions below are leading order, exp(-V / eps) with "
                      "prefactor 1")

    lines = [
        "# hjqp demo: the paper's Example 4.1",
        "",
        "Two minima of equal loss, different gradient noise (mu1 = 1.9999 around O_1 = (-2, 0), "
        "mu2 = 1.0001 around O_2 = (2, 0)). Which one does SGD select?",
        "",
        f"## Quasi-potential ({n} x {n} grid of [-4, 4] x [-2, 2], {t_land:.1f} s)",
        "",
        "The drift and the diffusion jump at the wells' edges; hjqp finds the nodes there and samples the "
        f"fields at them as cell means of 8 x 8 points ({resampled.get('drift', 0)} nodes), elsewhere at the "
        "nodes.",
        "",
        "| quantity | hjqp | exact |",
        "|---|---:|---:|",
        f"| V_12: cost of leaving O_1 for O_2 | {land.costs[0, 1]:.5f} | {exact[0, 1]:.5f} |",
        f"| V_21: cost of leaving O_2 for O_1 | {land.costs[1, 0]:.5f} | {exact[1, 0]:.5f} |",
        f"| phi(O_1) | {land.global_values[0]:.5f} | {problem.global_values[0]:.5f} |",
        f"| phi(O_2) | {land.global_values[1]:.5f} | {problem.global_values[1]:.5f} |",
        f"| selected minimum (phi = 0) | O_{land.selected + 1} | O_2 |",
        "",
        "The loss is 0 at both minima; the global quasi-potential is not: the noise selects O_2.",
        "Stationary law of the metastable Markov chain (rates exp(-V_ij / eps)):",
        "",
        "| eps | P(O_1) | P(O_2) |",
        "|---:|---:|---:|",
    ]
    for e in (0.5, 0.2, 0.1, 0.02):
        pi = land.stationary(e)
        lines.append(f"| {e:g} | {pi[0]:.3e} | {pi[1]:.6f} |")
    _, n_last, _ = sweep[-1]
    lines += [
        "",
        f"## Monte Carlo (eps = {eps:g}, dt = {dt}: the paper's setting)",
        "",
        f"{n_paths} paths started alternately at O_1 and O_2, {n_last * dt:g} time units each after an untallied "
        f"{max(n_last // 2, steps // 20) * dt:g}; a path belongs to the last well whose disc of radius 0.5 it "
        "visited.",
        "",
        "| | O_1 | O_2 |",
        "|---|---:|---:|",
        f"| time fraction (95%) | {occ[0].value:.4f} [{occ[0].low:.4f}, {occ[0].high:.4f}] | "
        f"{occ[1].value:.4f} [{occ[1].low:.4f}, {occ[1].high:.4f}] |",
        f"| transitions out | {counts[0, 1]} | {counts[1, 0]} |",
        f"| mean time before leaving (95%) | {_inverse(rate[0, 1], low[0, 1], high[0, 1])} | "
        f"{_inverse(rate[1, 0], low[1, 0], high[1, 0])} |",
        "",
        "SGD's continuous-time model leaves O_1 and stays near O_2, as phi predicts.",
        "",
        f"## Predictions against Monte Carlo across eps (dt = {dt}; {t_mc:.1f} s in all)",
        "",
        f"The same {n_paths} paths at each eps, each run long enough for a similar number of departures from "
        "O_2, after an untallied half of that (at least 1000 time units). Rates: departures per unit time spent in a well, with exact "
        "Poisson intervals.",
        "",
        f"Prefactors: {prefactor_note}.",
        "",
        "| eps | transition | V / eps | predicted rate | Monte Carlo (95%) | transitions | ln(pred / MC) | "
        "eps ln(pred / MC) |",
        "|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    summary_mc = []
    for e, n_steps, r in sweep:
        k_mc, k_lo, k_hi = r.rates()
        n_tr = r.transitions.sum(axis=0)
        predicted = _predicted_rates(land, pf, e)
        occ_e = r.occupancy()
        pi_e = _predicted_stationary(land, pf, e)
        summary_mc.append({"eps": e, "steps": n_steps, "burn_in": max(n_steps // 2, steps // 20), "transitions": n_tr.tolist(),
                           "rates": [[_num(v) for v in row] for row in k_mc],
                           "predicted_rates": [[_num(v) for v in row] for row in predicted],
                           "occupancy": [o.value for o in occ_e], "occupancy_low": [o.low for o in occ_e],
                           "occupancy_high": [o.high for o in occ_e], "predicted_occupancy": pi_e.tolist(),
                           "fokker_planck_occupancy": fp_occupancy[len(summary_mc)].tolist()})
        for i, j in ((0, 1), (1, 0)):
            v = land.costs[i, j]
            lines.append(f"| {e:g} | O_{i + 1} -> O_{j + 1} | {v / e:.2f} | {predicted[i, j]:.4g} | "
                         f"{_interval(k_mc[i, j], k_lo[i, j], k_hi[i, j])} | {n_tr[i, j]} | "
                         f"{_log_ratio(predicted[i, j], k_mc[i, j])} | {_log_ratio(predicted[i, j], k_mc[i, j], e)} |")
    lines += [
        "",
        "The same runs' time fractions of O_1 against the chain's stationary law (leading order) and against "
        "the stationary Fokker-Planck density at the same eps (deterministic, no eps -> 0 limit taken: "
        f"{fp_n} x {fp_n} nodes of [-8, 8]^2, the fields as cell means of 8 x 8 points, {t_fp:.0f} s for all "
        "eps; its occupancy is the density times the backward committor of the last disc visited, the "
        "Monte Carlo's own definition):",
        "",
        "| eps | chain (leading order) | ln(chain / MC) | eps ln(chain / MC) | Fokker-Planck | "
        "Monte Carlo (95%) | Fokker-Planck in the interval |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for item, (e, _, r) in zip(summary_mc, sweep):
        o = r.occupancy()[0]
        p1 = item["predicted_occupancy"][0]
        f1 = item["fokker_planck_occupancy"][0]
        inside = "yes" if o.low <= f1 <= o.high else "no"
        lines.append(f"| {e:g} | {p1:.4g} | {_log_ratio(p1, o.value)} | {_log_ratio(p1, o.value, e)} | {f1:.4g} | "
                     f"{_interval(o.value, o.low, o.high)} | {inside} |")
    lines += [
        "",
        "What converges is the exponent: eps ln(pred / MC), the error in -eps ln(rate) and in "
        "-eps ln(occupancy), shrinks as eps decreases (for the rates roughly in proportion to eps, for the "
        "occupancies more slowly): the prediction is right on the log scale, as Freidlin-Wentzell theory "
        "promises. ln(pred / MC) itself does not go to 0: it is minus the log of the missing prefactor. For "
        "these exits, across the rim of a well into a flat region rather than over a saddle, that prefactor "
        "can carry a power of eps as well as a constant, and no theory in hjqp supplies it for a flat loss "
        "with noise that jumps. So none is claimed: `Landscape.rates(eps)` returns NaN there, with the "
        "reason above. The Fokker-Planck column needs no such theory: it solves for the finite-eps law itself, "
        "and is what the simulated occupancies should match at every eps.",
        "",
        "Figures: `phi_vs_loss.png` (the implicit-regularisation picture), `landscape.png` (basins and "
        "phi with the wells' exit points), `trajectories.png` (paths from O_1 and O_2).",
    ]
    report = "\n".join(lines) + "\n"
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write(report)

    log("figures")
    shown = simulate(problem.sde, O, eps, dt, 200_000 if not quick else 20_000, 2, seed=5, thin=20, grid=mc_grid)
    figures(land, loss_41(problem, grid.points()), shown, out, eps=eps, dt=dt, exact=problem.exact_global)

    summary = {
        "model": problem.name, "grid": list(grid.shape), "landscape_seconds": t_land,
        "costs": land.costs.tolist(), "exact_costs": exact.tolist(), "supersampled_nodes": resampled,
        "global_values": land.global_values.tolist(), "selected": int(land.selected),
        "fokker_planck": {"grid": [fp_n, fp_n], "box": [[-8, -8], [8, 8]], "supersample": 8, "seconds": t_fp},
        "monte_carlo": {"eps": eps, "dt": dt, "paths": n_paths, "steps": steps, "seconds": t_mc,
                        "occupancy": [o.value for o in occ], "transitions": counts.tolist(),
                        "sweep": summary_mc},
        "prefactors": {"valid": bool(pf.valid.all()), "reasons": pf.describe()},
    }
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    log(f"wrote {out}/report.md, summary.json, landscape.npz, phi_vs_loss.png, landscape.png, trajectories.png")
    print(report)
    return summary


def figures(land, loss: np.ndarray, shown, out: str, *, eps: float, dt: float, exact=None) -> None:
    """The demo's figures: phi_vs_loss.png, landscape.png, trajectories.png.
    ``exact``: phi on points (..., 2), drawn beside hjqp's along x2 = 0."""
    import matplotlib.pyplot as plt

    axes = plot.implicit_regularisation(land, loss)
    _valley(axes[1], land)
    fig = axes[0].figure
    fig.suptitle(f"Example 4.1 on {land.grid.shape[0]} x {land.grid.shape[1]} nodes: equal losses, unequal noise; "
                 "as eps -> 0 SGD stays where phi = 0", fontsize=10)
    fig.savefig(os.path.join(out, "phi_vs_loss.png"), dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(17, 4), constrained_layout=True,
                             gridspec_kw=dict(width_ratios=[1, 1.2, 0.9]))
    plot.basins(land, ax=axes[0])
    costs = ", ".join(f"O{i + 1}: {v:.3g}" for i, v in enumerate(land.exit_costs))
    plot.quasipotential(land, ax=axes[1], exit_points=land.exit_points,
                        title=f"global quasi-potential phi\nexit costs {costs}")
    _valley(axes[1], land)
    axes[1].legend(loc="lower left", fontsize=8, framealpha=0.8)
    _profile(axes[2], land, exact)
    fig.savefig(os.path.join(out, "landscape.png"), dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(14, 5), constrained_layout=True, gridspec_kw=dict(width_ratios=[1, 1.15]))
    names = [f"from O{i + 1}" for i in range(len(shown.paths))]
    for k, label in enumerate(names):
        axes[0].plot(shown.times, shown.paths[k, :, 0], lw=0.5, color=f"C{k}", label=label)
    for i, a in enumerate(land.attractors):
        axes[0].axhline(a[0], color="k", lw=0.8, ls=":")
        axes[0].annotate(f"O{i + 1}", (shown.times[-1], a[0]), textcoords="offset points", xytext=(4, -3),
                         fontsize=9, annotation_clip=False)
    axes[0].set(xlabel="t", ylabel="x1(t)", title=f"x1 along two paths at eps = {eps:g} (dt = {dt:g})")
    axes[0].legend(loc="center right", fontsize=8)
    plot.trajectories(shown, ax=axes[1], background=land, max_paths=len(names), labels=names)
    axes[1].set_title(f"the same paths over phi (eps = {eps:g})")
    axes[1].legend(loc="lower left", fontsize=8, framealpha=0.8)
    fig.savefig(os.path.join(out, "trajectories.png"), dpi=120)
    plt.close(fig)


def _valley(ax, land) -> None:
    """O1's valley, as wide as a node or two (D of condition 2e4 across it),
    would be lost among the pixels: its nodes are drawn enlarged, in phi's
    colours, and named."""
    image = ax.collections[0]
    valley = (land.basins == 0) & (land.values < land.global_values[0] + 0.9 * land.exit_costs[0])
    points = land.grid.points()[valley]
    ax.scatter(*points.T, c=land.values[valley], cmap=image.cmap, norm=image.norm, s=5, marker="s", lw=0, zorder=3)
    if len(points):
        ax.annotate("valley of O1: D = diag(1.9999, 0.0001)\n(nodes drawn enlarged)", (points[:, 0].min(), 0.0),
                    textcoords="offset points", xytext=(-40, 28), fontsize=8, arrowprops=dict(arrowstyle="-", lw=0.6),
                    bbox=dict(boxstyle="round,pad=0.2", fc="w", ec="none", alpha=0.75))


def _profile(ax, land, exact) -> None:
    """phi along the x1 axis (x2 = 0, through both minima), hjqp's against
    the exact one."""
    j = land.grid.nearest_node((0.0, 0.0))[1]
    x = land.grid.axes[0]
    ax.plot(x, land.values[:, j], "C0-", lw=1.5, label="hjqp")
    if exact is not None:
        points = np.stack([x, np.full_like(x, land.grid.axes[1][j])], axis=-1)
        ax.plot(x, exact(points), "k--", lw=1, label="exact")
    for i, a in enumerate(land.attractors):
        ax.plot(a[0], land.global_values[i], **plot._ATTRACTOR)
        ax.annotate(f"O{i + 1}", (a[0], land.global_values[i]), textcoords="offset points", xytext=(6, -12), fontsize=9)
    ax.set(xlabel="x1", ylabel="phi", title=f"phi along x2 = {land.grid.axes[1][j]:.3g}")
    ax.legend(loc="lower left", fontsize=8)


def _predicted_rates(land, pf, eps: float) -> np.ndarray:
    """The rates with prefactors where they apply, else leading order."""
    return np.exp(pf.log_rates(eps)) if pf.valid.all() else land.rates(eps, prefactors=False)


def _predicted_stationary(land, pf, eps: float) -> np.ndarray:
    return land.stationary(eps, prefactors=bool(pf.valid.all()))


def _num(v) -> float:
    return float(v) if np.isfinite(v) else None


def _interval(value, low, high) -> str:
    return f"{value:.4g} [{low:.4g}, {high:.4g}]"


def _log_ratio(predicted, measured, eps: float = 1.0) -> str:
    if not (predicted > 0 and measured > 0):
        return "-"
    return f"{eps * math.log(predicted / measured):+.3f}"


def _inverse(rate, low, high) -> str:
    if not np.isfinite(rate) or rate <= 0:
        return "no transition"
    return f"{1 / rate:.4g} [{1 / high:.4g}, {1 / low:.4g}]" if low > 0 else f"{1 / rate:.4g} [{1 / high:.4g}, inf]"
