"""The paper's Example 3.1: anisotropic noise selects the exit direction.

SGD on f = x1^2 + x2^2 with gradient-noise covariance D = diag(mu, 2 - mu)
is the SDE dx = -grad f dt + sqrt(eps) D^{1/2} dW. Its quasi-potential is
U = 2 (x1^2 / mu + x2^2 / (2 - mu)): the loss is isotropic, the
quasi-potential is not, and the cheapest way out of the unit disc (the
minimum of U on the circle, 2 / max(mu, 2 - mu)) lies along the direction of
larger noise.

This script computes U with hjqp for several mu, compares it with the exact
formula, prints the exit cost and exit point, and checks them against Monte
Carlo: the paper's experiment (eps = 0.1, step 0.01, mu = 1 against
mu = 1.9999: anisotropic noise exits far sooner, along the x1 axis) with the
numbers the paper leaves out, and the barrier fitted from mean exit times
over eps. It writes a report and figures to ./hjqp-example/.

    python examples/example_3_1.py [--grid N] [--paths P] [--out DIR]
"""

import argparse
import os
import time

import numpy as np

import hjqp
from hjqp import plot


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=401, help="nodes per axis (default 401)")
    parser.add_argument("--paths", type=int, default=1000, help="Monte Carlo paths (default 1000)")
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
    lines += [""] + monte_carlo(args.paths, args.out)
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(args.out, "example_3_1.md"), "w") as fh:
        fh.write(report + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(solutions), figsize=(4.2 * len(solutions), 4.4), constrained_layout=True)
    top = 2 * max(2 / max(mu, 2 - mu) for mu, _ in solutions)
    for ax, (mu, qp) in zip(axes, solutions):
        plot.quasipotential(qp, ax=ax, vmax=top, colorbar=False, names=False,
                            title=f"mu = {mu:g}: exit cost {2 / max(mu, 2 - mu):.4g}")
        ax.plot(circle[:, 0], circle[:, 1], "r--", lw=0.8, label="unit circle (the exit boundary)")
    axes[0].legend(loc="lower left", fontsize=8, framealpha=0.8)
    bar = fig.colorbar(axes[-1].collections[0], ax=list(axes), shrink=0.85, extend="max")
    bar.set_label(f"U (grey: > {top:.3g}, twice the largest exit cost)", fontsize=9)
    fig.suptitle("Example 3.1: U = 2 (x1^2 / mu + x2^2 / (2 - mu)) for b = -2x, D = diag(mu, 2 - mu)", fontsize=10)
    fig.savefig(os.path.join(args.out, "example_3_1.png"), dpi=120)
    print(f"\nwrote {args.out}/example_3_1.md, example_3_1.png and example_3_1_monte_carlo.png")


def monte_carlo(n_paths, out):
    """The paper's experiment and the barrier fit; returns report lines."""
    from hjqp import verify

    disk = hjqp.Ball((0, 0), 1.0)
    mc_grid = hjqp.Grid((-1.1, -1.1), (1.1, 1.1), (221, 221))  # fields for the native engine
    eps, dt, max_time = 0.1, 0.01, 3000.0
    lines = [
        f"Monte Carlo, the paper's setting: eps = {eps}, dt = {dt}, {n_paths} paths from the minimum to "
        f"the unit circle (Gobet-Menozzi corrected), censored at t = {max_time:g}",
        "",
        "| mu | V0 = min U on the circle | exits | mean exit time (95%) | exits within 0.25 of (+-1, 0) |",
        "|---:|---:|---:|---|---|",
    ]
    runs = {}
    for mu in (1.0, 1.9999):
        problem = hjqp.models.example_3_1(mu)
        ex = hjqp.exit_times(problem.sde, [0, 0], disk, eps, dt, n_paths, seed=1, grid=mc_grid,
                             max_time=max_time)
        runs[mu] = ex
        exited = n_paths - ex.n_censored
        if exited:
            mean = ex.mean()
            mean_text = f"{mean.value:.4g} [{mean.low:.4g}, {mean.high:.4g}]"
            row = verify.exit_positions(ex, problem.exact, disk, radius=0.25)
            where = f"{row.measured.value:.3f} [{row.measured.low:.3f}, {row.measured.high:.3f}] " \
                    f"(uniform: {row.note.split(':')[1].split(';')[0].strip()})"
        else:
            # no exit in total time T: E tau > T / 3.0 at 95% (exponential law)
            mean_text = f"> {ex.times.sum() / 3.0:.3g} (no exit)"
            where = "-"
        lines.append(f"| {mu:g} | {2 / max(mu, 2 - mu):.5f} | {exited} / {n_paths} | {mean_text} | {where} |")

    lines += [
        "",
        "Barrier fitted from ln E tau = a + V0 / eps + (1/2) ln eps (dt = 0.01, "
        f"{n_paths} paths per eps):",
        "",
        "| mu | eps | V0 fitted (95%) | 2 / max(mu, 2 - mu) | error |",
        "|---:|---|---|---:|---:|",
    ]
    for mu, eps_values in ((1.9999, [0.12, 0.15, 0.2, 0.25]), (0.5, [0.15, 0.2, 0.25, 0.3])):
        problem = hjqp.models.example_3_1(mu)
        fit = verify.exit_barrier(problem.sde, [0, 0], disk, eps_values, 0.01, n_paths, seed=2,
                                  U=problem.exact, grid=mc_grid)
        exact = 2 / max(mu, 2 - mu)
        lines.append(f"| {mu:g} | {', '.join(f'{e:g}' for e in eps_values)} | {fit.V0.value:.4f} "
                     f"[{fit.V0.low:.4f}, {fit.V0.high:.4f}] | {exact:.4f} | "
                     f"{(fit.V0.value - exact) / exact:+.1%} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    wide = hjqp.Grid((-3, -3), (3, 3), (241, 241))  # free paths wander past the circle
    for mu, color in ((1.0, "C0"), (1.9999, "C3")):
        problem = hjqp.models.example_3_1(mu)
        p = hjqp.simulate(problem.sde, [0, 0], eps, dt, 300000, 4, seed=3, thin=50, grid=wide)
        for k, path in enumerate(p.paths):
            axes[0].plot(p.times, np.maximum.accumulate(np.linalg.norm(path, axis=1)), color=color, lw=0.8,
                         label=f"mu = {mu:g}" if k == 0 else None)
        cloud = hjqp.simulate(problem.sde, [0, 0], eps, dt, 300, 3000, seed=4, thin=300, grid=wide)
        axes[1].scatter(*cloud.paths[:, -1].T, s=2, color=color, alpha=0.5, label=f"mu = {mu:g}")
        ex = runs[mu]
        axes[2].scatter(*ex.positions[~ex.censored].T, s=6, color=color,
                        label=f"mu = {mu:g}: {len(ex.times) - ex.n_censored} exits")
    axes[0].axhline(1.0, color="k", ls="--", lw=0.8)
    axes[0].set(xlabel="t", ylabel="max |x(s)|, s <= t", title=f"radial process, eps = {eps}")
    axes[0].legend()
    t = np.linspace(0, 2 * np.pi, 400)
    for ax in axes[1:]:
        ax.plot(np.cos(t), np.sin(t), "k--", lw=0.8)
        ax.set_aspect("equal")
        ax.legend(loc="lower left", fontsize=8)
    axes[1].set(title="positions at t = 3")
    axes[2].set(title=f"exit positions by t = {max_time:g}")
    fig.savefig(os.path.join(out, "example_3_1_monte_carlo.png"), dpi=120)
    return lines


if __name__ == "__main__":
    main()
