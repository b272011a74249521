"""The paper's Example 3.1: anisotropic noise selects the exit direction.

SGD on f = x1^2 + x2^2 with gradient-noise covariance D = diag(mu, 2 - mu)
is the SDE dx = -grad f dt + sqrt(eps) D^{1/2} dW. Its quasi-potential is
U = 2 (x1^2 / mu + x2^2 / (2 - mu)): the loss is isotropic, the
quasi-potential is not, and the cheapest way out of the unit disc (the
minimum of U on the circle, 2 / max(mu, 2 - mu)) lies along the direction of
larger noise.

This script computes U with hjqp for several mu, compares it with the exact
formula, prints the exit cost and exit point, and writes a figure and a
table to ./hjqp-example/.

    python examples/example_3_1.py [--grid N] [--out DIR]
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

    grid = hjqp.Grid(lower=(-1.25, -1.25), upper=(1.25, 1.25), shape=(args.grid, args.grid))
    theta = np.linspace(0.0, 2 * np.pi, 4001)
    circle = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    rows, solutions = [], []
    for mu in (1.0, 0.5, 0.2, 0.05):
        problem = hjqp.models.example_3_1(mu)
        start = time.perf_counter()
        qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
        seconds = time.perf_counter() - start
        exact = problem.exact(grid.points())
        inside = exact <= 2 / max(mu, 2 - mu)  # the sublevel set through the exit point
        error = np.abs(qp.values - exact)[inside].max()
        on_circle = qp(circle)
        k = int(np.argmin(on_circle))
        rows.append((mu, on_circle[k], 2 / max(mu, 2 - mu), circle[k], error, seconds))
        solutions.append((mu, qp))

    lines = [
        f"Example 3.1 on a {args.grid} x {args.grid} grid of [-1.25, 1.25]^2",
        "",
        "| mu | exit cost (hjqp) | 2 / max(mu, 2 - mu) | exit point | max error of U inside | time (s) |",
        "|---:|---:|---:|:---:|---:|---:|",
    ]
    for mu, cost, exact_cost, point, error, seconds in rows:
        lines.append(f"| {mu:g} | {cost:.8f} | {exact_cost:.8f} | ({point[0]:+.3f}, {point[1]:+.3f}) | "
                     f"{error:.1e} | {seconds:.2f} |")
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(args.out, "example_3_1.md"), "w") as fh:
        fh.write(report + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(solutions), figsize=(4 * len(solutions), 4), constrained_layout=True)
    x, y = grid.axes
    for ax, (mu, qp) in zip(axes, solutions):
        levels = np.linspace(0, 2 / max(mu, 2 - mu), 9)[1:]
        ax.contourf(x, y, np.minimum(qp.values, 2 * levels[-1]).T, 30, cmap="viridis")
        ax.contour(x, y, qp.values.T, levels=levels, colors="w", linewidths=0.6)
        ax.plot(circle[:, 0], circle[:, 1], "r--", lw=0.8)
        ax.set_title(f"U for mu = {mu:g}")
        ax.set_aspect("equal")
    fig.savefig(os.path.join(args.out, "example_3_1.png"), dpi=120)
    print(f"\nwrote {args.out}/example_3_1.md and {args.out}/example_3_1.png")


if __name__ == "__main__":
    main()
