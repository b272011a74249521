"""A 3D example: a linear SDE with non-normal drift and anisotropic noise.

dx = J x dt + sqrt(eps) D^{1/2} dW with J = [[-1, 1, 0], [-1, -2, 1/2],
[0, 0, -3/2]] and a constant anisotropic D (hjqp.models.linear_3d): its
quasi-potential is U = 1/2 x^T C^{-1} x with J C + C J^T + D = 0, and the
cheapest exit from a ball is where U is least on the sphere.

The script finds the attractor with hjqp.equilibria on a 3D grid, solves
for U with hjqp.local_quasipotential and compares it with the exact one,
checks the mean exit time from the ball of radius 1/2 against the computed
U by Monte Carlo in 3D (ln E tau = a + V0/eps + (1/2) ln eps), and draws
slices of U, its level surface through the exit point and the exit
positions.

    python examples/example_3d.py [--paths P] [--grid N] [--out DIR]
"""

import argparse
import os

import numpy as np

import hjqp
from hjqp import plot, verify


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paths", type=int, default=400)
    parser.add_argument("--grid", type=int, default=49, help="nodes per axis of the solve")
    parser.add_argument("--out", default="hjqp-example")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    problem = hjqp.models.linear_3d()
    grid = problem.grid(args.grid)
    eq = hjqp.equilibria(problem.sde, grid)
    qp = hjqp.local_quasipotential(problem.sde, grid, eq.attractors[0])
    exact = problem.exact(grid.points())
    inside = exact <= 0.9
    error = float(np.max(np.abs(qp.values - exact)[inside]))
    ball = hjqp.Ball((0, 0, 0), 0.5)
    V0, argmin = verify.boundary_minimum(qp, ball, n=20000)
    V0_exact, _ = verify.boundary_minimum(problem.exact, ball, n=20000)
    mc_grid = hjqp.Grid((-0.6,) * 3, (0.6,) * 3, (49,) * 3)
    eps = [V0 / 4, V0 / 5, V0 / 6, V0 / 7]
    fit = verify.exit_barrier(problem.sde, [0, 0, 0], ball, eps, 0.005, args.paths, seed=1, U=qp,
                              grid=mc_grid)
    near = verify.exit_positions(fit.exits[-1], qp, ball, radius=0.2)
    lines = [
        f"{problem.name}: attractor found at {np.round(eq.attractors, 8).tolist()}",
        f"U on {args.grid}^3 nodes: largest error {error:.2e} on {{U <= 0.9}} against the exact U",
        f"min of U on the sphere of radius 0.5: V0 = {V0:.5f} (exact {V0_exact:.5f}) at "
        f"{np.round(argmin, 3).tolist()}",
        "",
        verify.table([fit.comparison(), near]),
    ]
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(args.out, "example_3d.md"), "w") as fh:
        fh.write(report + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    U = qp.values
    axes = plot.slices(qp, None, at=qp.attractor, vmax=2 * V0,
                       label=f"U (grey: > {2 * V0:.3g}, twice the exit cost V0 from the ball)")
    axes[0].figure.suptitle("3D example: U in slices through the attractor", fontsize=10)
    axes[0].figure.savefig(os.path.join(args.out, "example_3d_slices.png"), dpi=120)
    fig = plt.figure(figsize=(6, 5.5), constrained_layout=True)
    ax = fig.add_subplot(projection="3d")
    plot.level_surface(U, grid, V0, ax=ax, alpha=0.3)
    ex = fit.exits[-1]
    pts = ex.positions[~ex.censored]
    ax.scatter(*pts.T, s=4, color="r", label=f"exit positions at eps = {fit.eps[-1]:.3g}")
    ax.set_title(f"the level surface U = V0 = {V0:.4g} and where paths leave the ball")
    ax.legend()
    fig.savefig(os.path.join(args.out, "example_3d_surface.png"), dpi=120)
    return fit


if __name__ == "__main__":
    main()
