"""hjqp inside your own Python solver: arrays in, arrays out.

Your code has the drift and the diffusion as arrays on a grid (from a
simulation, a fitted model, finite differences of a potential...). hjqp takes
them as they are and gives back U and grad U as arrays on the same grid, and
Euler-Maruyama paths over the same fields.

Here the arrays come from a manufactured problem, so that the result can be
checked: U = x^2 + 2 y^2 + x y / 2, any SPD field D and a rotation l = rho J grad U
give the drift b = -1/2 D grad U + l, whose quasi-potential is exactly U.

    python examples/arrays_in_out.py [--grid N]
"""

import argparse

import numpy as np

import hjqp


def my_fields(grid):
    """Stand-in for your solver: b (n0, n1, 2) and D (n0, n1, 2, 2) on the grid."""
    x = grid.points()
    g = np.stack([2 * x[..., 0] + 0.5 * x[..., 1], 4 * x[..., 1] + 0.5 * x[..., 0]], axis=-1)  # grad U
    angle = 0.5 * np.sin(2 * x[..., 0])
    c, s = np.cos(angle), np.sin(angle)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    D = R @ np.diag([1.5, 0.3]) @ np.swapaxes(R, -1, -2)
    rho = 2.0
    b = -0.5 * np.einsum("...ij,...j->...i", D, g) + rho * np.stack([-g[..., 1], g[..., 0]], axis=-1)
    return b, D


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=257)
    args = parser.parse_args(argv)
    grid = hjqp.Grid((-1, -1), (1, 1), (args.grid, args.grid))
    b, D = my_fields(grid)                       # arrays in
    sde = hjqp.SDE(b, D)
    qp = hjqp.local_quasipotential(sde, grid, attractor=(0.0, 0.0))
    U, gradU = qp.values, qp.grad                # arrays out, on the same grid
    x = grid.points()
    exact = x[..., 0] ** 2 + 2 * x[..., 1] ** 2 + 0.5 * x[..., 0] * x[..., 1]
    inside = exact <= 0.9
    print(f"U on {grid.shape}: max error {np.max(np.abs(U - exact)[inside]):.2e} on {{U <= 0.9}}; "
          f"grad U: max error {np.max(np.linalg.norm(gradU - np.stack([2 * x[..., 0] + 0.5 * x[..., 1], 4 * x[..., 1] + 0.5 * x[..., 0]], -1), axis=-1)[inside]):.2e}")
    # Monte Carlo over the same arrays (the kernel interpolates them).
    paths = hjqp.simulate(sde, [0.0, 0.0], 0.05, 0.005, 4000, 2000, seed=1, thin=4000, grid=grid)
    end = paths.paths[:, -1]                     # (2000, 2) array
    # The stationary law is ~ exp(-U / eps): E U(x) ~ eps (d / 2) for small eps.
    print(f"E U(x) under the stationary law at eps = 0.05: {np.mean(qp(end)):.4f} (small-eps value 0.05)")
    return U, gradU


if __name__ == "__main__":
    main()
