"""The paper's Example 4.1: the noise selects one of two equal minima.

The loss has two wells of equal depth, f = |x - O_i|^2 on the unit discs
around O_1 = (-2, 0) and O_2 = (2, 0), and is flat (f = 1) between them. The
gradient noise is D = diag(mu_i, 2 - mu_i) in well i and I outside. Leaving
well i costs 2 / max(mu_i, 2 - mu_i); with mu1 = 1.9999 (noise almost only
along x1) and mu2 = 1.0001 (nearly isotropic) the noise drives SGD out of O_1
twice as easily as out of O_2, so as eps -> 0 it selects O_2, although the
loss cannot tell the two apart. The global quasi-potential phi, which SGD
minimises in that limit, is 0 at O_2 and 2/mu2 - 2/mu1 at O_1.

This script computes the landscape with hjqp (the drift and D jump at the
edges of the wells, so the fields are sampled as cell means), compares the
costs with the exact ones, prints the Markov chain's stationary law at the
paper's eps = 0.2 and smaller, and writes a report and a figure (phi next to
the loss) to ./hjqp-example/.

    python examples/example_4_1.py [--grid N] [--out DIR]
"""

import argparse
import os
import time

import numpy as np

import hjqp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=401, help="nodes per axis (default 401)")
    parser.add_argument("--out", default="hjqp-example", help="output folder (default ./hjqp-example)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    problem = hjqp.models.example_4_1(mu1=1.9999, mu2=1.0001)
    grid = problem.grid(args.grid)
    start = time.perf_counter()
    land = hjqp.landscape(problem.sde, grid, supersample=8)
    seconds = time.perf_counter() - start

    exact = np.array(problem.costs)
    lines = [
        f"Example 4.1 (mu1 = 1.9999, mu2 = 1.0001) on a {args.grid} x {args.grid} grid of "
        f"[-4, 4] x [-2, 2], {seconds:.1f} s",
        "",
        "| quantity | hjqp | exact |",
        "|---|---:|---:|",
        f"| V_12 (leave O_1 for O_2) | {land.costs[0, 1]:.5f} | {exact[0, 1]:.5f} |",
        f"| V_21 (leave O_2 for O_1) | {land.costs[1, 0]:.5f} | {exact[1, 0]:.5f} |",
        f"| phi(O_1) | {land.global_values[0]:.5f} | {problem.global_values[0]:.5f} |",
        f"| phi(O_2) | {land.global_values[1]:.5f} | {problem.global_values[1]:.5f} |",
        f"| selected minimum | O_{land.selected + 1} | O_2 |",
        "",
        "Stationary law of the metastable Markov chain (rates exp(-V_ij / eps)):",
        "",
        "| eps | P(O_1) | P(O_2) |",
        "|---:|---:|---:|",
    ]
    for eps in (0.5, 0.2, 0.1, 0.02):
        pi = land.stationary(eps)
        lines.append(f"| {eps:g} | {pi[0]:.3e} | {pi[1]:.6f} |")
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(args.out, "example_4_1.md"), "w") as fh:
        fh.write(report + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = grid.axes
    pts = grid.points()
    loss = np.ones(grid.shape)
    for c in problem.attractors:
        r2 = np.sum((pts - np.asarray(c)) ** 2, axis=-1)
        loss = np.where(r2 <= 1, r2, loss)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), constrained_layout=True)
    for ax, field, title in ((axes[0], loss, "loss f: two equal minima"),
                             (axes[1], land.values, "global quasi-potential phi: O_2 selected")):
        image = ax.contourf(x, y, field.T, 30, cmap="viridis")
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.plot(*land.attractors.T, "w+", ms=10)
        ax.set_title(title)
        ax.set_aspect("equal")
    axes[1].plot(*land.exit_points.T, "rx", ms=8, label="exit points")
    axes[1].legend(loc="lower left", fontsize=8)
    fig.savefig(os.path.join(args.out, "example_4_1.png"), dpi=120)
    print(f"\nwrote {args.out}/example_4_1.md and {args.out}/example_4_1.png")


if __name__ == "__main__":
    main()
