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
