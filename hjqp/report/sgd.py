"""The reports of a selection study (:func:`hjqp.sgd.selection_study`:
markdown, JSON and a figure) and of a barrier study in any dimension
(:func:`hjqp.sgd.barrier_study`: markdown and JSON)."""

from __future__ import annotations

import json
import os

import numpy as np

from . import plot
from ..grid import Grid
from ..landscape.markov import arborescence_costs
from .io import jsonable
from .tables import table

__all__ = ["study_report", "study_figure", "write_study", "barrier_report", "write_barrier_study"]


def _selected(pair: dict) -> str:
    chosen = pair["selected_set"]
    names = " and ".join(f"O{i + 1}" for i in chosen)
    return f"{names} (tie)" if len(chosen) > 1 else names


def study_report(study: dict) -> str:
    """A markdown report of :func:`selection_study`."""
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
        label = f"{name} D" if name != "SGD's own" else f"SGD's own H ({pair['grid_nodes']} nodes)"
        rows.append((label, costs, ", ".join(f"{v:.4g}" for v in land.global_values),
                     f"{pair['cost_error']:.2g}", f"{pair['phi_error']:.2g}", _selected(pair)))
    lines += [f"Landscapes on {n} nodes per axis (SGD's own Hamiltonian, the cumulant generating function "
              "of the per-sample gradients, as noted). The cost error is the largest change of a cost from "
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
        share, moves, rates = _run_cells(r, pairs, intervals=True)
        rows.append((r["eta"], r["batch_size"], r["eps"], r["dynamics"], share, moves, rates))
    order = ", ".join(f"{i + 1}->{j + 1}" for i, j in pairs)
    lines += ["Time fraction at O1 (last core visited; 95 % intervals from the spread between runs), "
              f"transitions ({order}) and rates per unit time (t = k eta; exact Poisson intervals), against "
              "the leading-order Markov chain at eps = eta / m:", "",
              table(("eta", "batch", "eps", "dynamics", "fraction at O1", "transitions", "rates"), rows), ""]
    if study["barriers"]:
        rows = [(b["dynamics"], f"V{b['i'] + 1}{b['j'] + 1}", f"{b['V']:.3g} +- {b['se']:.2g}",
                 *(f"{pair['landscape'].direct_costs[b['i'], b['j']]:.4g}" for pair in lands.values()),
                 ", ".join(f"{e:g}" for e in b["eps"]))
                for b in study["barriers"]]
        heads = tuple(f"{name} D" if name != "SGD's own" else "SGD's own H" for name in lands)
        lines += ["Barriers from the measured rates, ln k = a - V / eps (weighted least squares), against "
                  "the landscapes' costs:", "",
                  table(("dynamics", "barrier", "fitted", *heads, "eps"), rows), ""]
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
    panels = 2 + len(lands)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.3), constrained_layout=True)
    barrier = float(np.min(problem.losses.loss(np.asarray(problem.saddles)))) - float(loss.min())
    plot.quasipotential(fields[0], grid, ax=axes[0], attractors=O, title=f"loss f - min f{suffix}",
                        vmax=3 * barrier if barrier > 0 else None, label="f - min f (grey: > 3 x the barrier)")
    for ax, (name, pair), values in zip(axes[1:-1], study["landscapes"].items(), fields[1:]):
        land = pair["landscape"]
        what = (f"{name} noise" if name != "SGD's own"
                else f"SGD's own H, {pair['grid_nodes']} nodes (white: +inf)")
        plot.quasipotential(values, land.grid if values.shape != grid.shape else grid, ax=ax, attractors=O,
                            saddles=land.saddles[:, :2], title=f"phi, {what}{suffix}\nselected {_selected(pair)}",
                            vmax=plot.colour_limit(land)[0], label="phi (P ~ exp(-phi / eps), eps = eta / m)")
    for ax in axes[:-1]:
        ax.set(xlabel="mu1", ylabel="mu2")
    ax = axes[-1]
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
            for name, style in zip(lands, ("-", ":", "--")):
                v = lands[name].direct_costs[i, j]
                a = np.mean(np.log(y) + v * x)
                ax.plot(xs, np.exp(a - v * xs), style, color=f"C{c}", lw=1)
    ax.set(yscale="log", xlabel="1 / eps", ylabel="transitions per unit time",
           title="measured rates; slopes -V of the costs:\nanisotropic D (solid), isotropic D (dotted),\n"
                 "SGD's own H (dashed)" if len(lands) > 2 else
                 "measured rates; slopes -V of the costs:\nanisotropic D (solid), isotropic D (dotted)")
    if ax.has_data():
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no transitions observed", transform=ax.transAxes, ha="center", va="center")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_study(study: dict, problem, out: str) -> str:
    """Write report.md, study.json and selection.png of a
    :func:`selection_study` into ``out``; returns the report."""
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
        fh.write(json.dumps(json.loads(jsonable(summary)), indent=2) + "\n")
    study_figure(study, problem, os.path.join(out, "selection.png"))
    return report


def _fitted_selection(study: dict) -> str:
    """The minimum that the barriers fitted to SGD's rates select (least W
    over i-graphs), or a note when a pair was not fitted."""
    k = len(study["minima"])
    V = np.full((k, k), np.inf)
    np.fill_diagonal(V, 0.0)
    for b in study["fitted"]:
        if b["dynamics"] == "minibatch SGD":
            V[b["i"], b["j"]] = b["V"]
    if not np.all(np.isfinite(V)):
        return "not every transition was fitted"
    W = arborescence_costs(V)
    return f"O{int(np.argmin(W)) + 1} (phi = " + ", ".join(f"{w - W.min():.3g}" for w in W) + ")"


def barrier_report(study: dict) -> str:
    """A markdown report of :func:`hjqp.sgd.barrier_study`."""
    O, losses, found = study["minima"], study["losses"], study["barriers"]
    k = len(O)
    pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
    lines = [f"# Which minimum does SGD select? {study['problem']}", "",
             f"{k} minima in {O.shape[1]} parameters:", "",
             table(("minimum", "loss", "parameters"),
                   [(f"O{i + 1}", "" if losses is None else f"{losses[i]:.4f}", ", ".join(f"{v:.4f}" for v in O[i]))
                    for i in range(k)]), ""]
    rows = []
    for name, B in found.items():
        rows.append((name, *(f"{B.direct_costs[i, j]:.4f}" for i, j in pairs),
                     ", ".join(f"{v:.4f}" for v in B.global_values), f"O{B.selected + 1}",
                     f"{study['times'][name]:.0f} s"))
    n_points = next(iter(found.values())).info["n_points"]
    lines += [f"Barriers from minimum action paths (`hjqp.barriers`, {n_points} points per path):", "",
              table(("noise", *(f"V{i + 1}{j + 1}" for i, j in pairs), "phi(O_i)", "selected", "time"), rows), ""]
    lam = study.get("curvature")
    rows = []
    for r in study["rows"]:
        share, moves, rates = _run_cells(r, pairs, intervals=False)
        rows.append((f"{r['eta']:g}", f"{r['eps']:g}", "" if lam is None else f"{r['eta'] * lam:.2f}",
                     r["dynamics"], share, moves, rates))
    order = ", ".join(f"{i + 1}->{j + 1}" for i, j in pairs)
    lines += [f"Minibatch SGD, {study['n_paths']} runs of {study['n_steps']} steps from the minima in turn, "
              f"cores of radius {study['radius']:.3g}: time fraction at O1 (last core visited; 95 % interval "
              f"from the spread between runs), transitions ({order}) and rates per unit time (t = k eta), "
              "against each noise's leading-order Markov chain at eps = eta / m"
              + ("" if lam is None else f" (eta lambda_max: lambda_max = {lam:.3f}, the largest curvature at "
                 "the minima)") + f"; {study['sgd_time']:.0f} s:", "",
              table(("eta", "eps", "eta lambda_max", "dynamics", "fraction at O1", "transitions", "rates"), rows), ""]
    fitted = [b for b in study["fitted"] if b["dynamics"] == "minibatch SGD"]
    if fitted:
        rows = [(f"V{b['i'] + 1}{b['j'] + 1}", f"{b['V']:.3f} +- {b['se']:.2g}",
                 *(f"{B.direct_costs[b['i'], b['j']]:.4f}" for B in found.values()),
                 f"{min(b['eps']):g}-{max(b['eps']):g} ({len(b['eps'])})") for b in fitted]
        lines += ["Barriers fitted to SGD's rates, ln k = a - V / eps (weighted least squares), against the "
                  "three noises':", "",
                  table(("barrier", "SGD, fitted", *found, "eps (rows)"), rows), ""]
    lines += ["Selected: " + "; ".join(f"{name}: O{B.selected + 1}" for name, B in found.items())
              + (f"; SGD's fitted barriers: {_fitted_selection(study)}." if fitted else "."), ""]
    return "\n".join(lines)


def write_barrier_study(study: dict, out: str) -> str:
    """Write report.md and study.json of a :func:`hjqp.sgd.barrier_study`
    into ``out``; returns the report."""
    os.makedirs(out, exist_ok=True)
    report = barrier_report(study)
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write(report + "\n")
    summary = {key: v for key, v in study.items() if key != "barriers"}
    summary["barriers"] = {
        name: {"direct_costs": B.direct_costs, "costs": B.costs, "saddles": B.saddles, "W": B.W,
               "global_values": B.global_values, "selected": int(B.selected), "converged": B.converged,
               "n_points": B.info["n_points"]}
        for name, B in study["barriers"].items()}
    with open(os.path.join(out, "study.json"), "w") as fh:
        fh.write(json.dumps(json.loads(jsonable(summary)), indent=2) + "\n")
    return report


def _run_cells(r: dict, pairs, *, intervals: bool):
    """A run's cells of the reports' tables: the first minimum's share of
    the time, the transitions counted and the rates (with their intervals)
    between the pairs."""
    occ = r["occupancy"][0]
    share = f"{occ[0]:.3f}" + (f" [{occ[1]:.3f}, {occ[2]:.3f}]" if occ[1] is not None else "")
    if r["rates"] is None:
        return share, "", ""
    moves = ", ".join(f"{r['transitions'][i][j]}" for i, j in pairs)
    if intervals:
        rates = ", ".join(f"{r['rates'][i][j]:.3g} [{r['rates_low'][i][j]:.2g}, {r['rates_high'][i][j]:.2g}]"
                          for i, j in pairs)
    else:
        rates = ", ".join(f"{r['rates'][i][j]:.3g}" for i, j in pairs)
    return share, moves, rates
