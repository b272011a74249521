"""The genetic toggle switch: a reaction network's landscape against its
master equation, exact simulation and the chemical Langevin equation.

Two repressors X and Y, each made at a rate the other represses (Hill
coefficient 2) and degraded at rate 1 (hjqp.models.toggle_switch). The script
computes the landscape of the network's own large-deviation Hamiltonian
(switching costs V_ij, phi), the same for the chemical Langevin SDE, and
judges both with

- the master equation on the lattice of copy numbers: V_ij fitted from its
  mean switching times, ln tau = a + Omega V + b / Omega, and phi's
  difference from -(1 / Omega) ln of its stationary law;
- Gillespie runs: V_ij fitted from switching rates, ln k = a - Omega V,
  and the rates themselves against the master equation's at one volume
  (the same chain: they must agree at any volume).

It writes a report and a figure to ./hjqp-example/.

    python examples/toggle_switch.py [--grid N] [--volumes ...] [--sim-volumes ...] [--out DIR]
"""

import argparse
import os
import warnings

import numpy as np

import hjqp
from hjqp import plot, verify


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=257)
    parser.add_argument("--volumes", type=float, nargs="+", default=[25, 50, 100, 200],
                        help="system sizes of the master equation")
    parser.add_argument("--sim-volumes", type=float, nargs="+", default=[20, 30, 40, 50],
                        help="system sizes of the Gillespie runs")
    parser.add_argument("--paths", type=int, default=32)
    parser.add_argument("--time", type=int, default=20000, help="time units per Gillespie path")
    parser.add_argument("--out", default="hjqp-example")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    problem = hjqp.models.toggle_switch()
    network, grid = problem.sde, problem.grid(args.grid)
    land = hjqp.landscape(network, grid, attractors=problem.attractors)
    with warnings.catch_warnings():
        # The Langevin SDE has no boundary at 0: its basins run into the box's axes.
        warnings.simplefilter("ignore")
        langevin = hjqp.landscape(network.chemical_langevin(), grid, attractors=problem.attractors)
    box = hjqp.Grid((0, 0), (4.0, 4.0), (3, 3))
    rows = verify.master_barriers(network, land, args.volumes, grid=box)
    rows += verify.transition_barriers(network, land, 1 / np.asarray(args.sim_volumes), 1.0, args.time,
                                       args.paths, seed=1, grid=grid)
    rows += verify.master_rates(network, land, min(args.sim_volumes), args.time, args.paths, seed=2, grid=grid,
                                master_grid=box)
    table = verify.table(rows)
    costs = "\n".join(f"| V_{i + 1}{j + 1} | {land.costs[i, j]:.5f} | {langevin.costs[i, j]:.5f} | "
                      f"{100 * (langevin.costs[i, j] / land.costs[i, j] - 1):+.2f} % |"
                      for i in range(2) for j in range(2) if i != j)
    report = (f"# Toggle switch (a1 = 3, a2 = 2.95, n = 2) on {args.grid}^2 nodes\n\n"
              f"Attractors {np.round(land.attractors, 4).tolist()}; phi at them "
              f"{np.round(land.global_values, 5).tolist()}; the network selects O{land.selected + 1}.\n\n"
              "| cost | network | chemical Langevin | difference |\n|---|---|---|---|\n" + costs + "\n\n" + table + "\n")
    with open(os.path.join(args.out, "toggle_switch.md"), "w") as fh:
        fh.write(report)
    print(report)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5.5), constrained_layout=True)
    plot.quasipotential(land, ax=ax, paths=land.paths(),
                        title="toggle switch: global phi and the switching paths\n"
                              "stationary law ~ exp(-Omega phi) (eps = 1 / Omega)")
    ax.set(xlabel="x = [X] / Omega", ylabel="y = [Y] / Omega", xlim=(0, 4), ylim=(0, 4))
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    fig.savefig(os.path.join(args.out, "toggle_switch.png"), dpi=120)
    return land, langevin, rows


if __name__ == "__main__":
    main()
