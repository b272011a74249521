"""Shared helpers for the tests."""

import numpy as np

import hjqp


def solve(problem, n, **options):
    grid = problem.grid(n)
    qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor, **options)
    return grid, qp


def interior_errors(problem, qp, level):
    """|U - U_exact| on the sublevel set {U_exact <= level} (which must lie
    well inside the box, away from where characteristics leave it)."""
    exact = problem.exact(qp.grid.points())
    mask = exact <= level
    return np.abs(qp.values - exact)[mask]


def orders(problem, sizes, level):
    """Largest and RMS errors on {U <= level} over a sequence of grids, and
    the orders between successive grids (per halving of the spacing)."""
    max_err, rms_err = [], []
    for n in sizes:
        _, qp = solve(problem, n)
        err = interior_errors(problem, qp, level)
        max_err.append(err.max())
        rms_err.append(np.sqrt(np.mean(err**2)))
    max_order = np.log2(np.array(max_err[:-1]) / np.array(max_err[1:])) / np.log2(
        (np.array(sizes[1:]) - 1) / (np.array(sizes[:-1]) - 1))
    rms_order = np.log2(np.array(rms_err[:-1]) / np.array(rms_err[1:])) / np.log2(
        (np.array(sizes[1:]) - 1) / (np.array(sizes[:-1]) - 1))
    return max_err, rms_err, max_order, rms_order
