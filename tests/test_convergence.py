"""Measured order of convergence over sequences of grids. The large grids
are marked slow (run them with `pytest -m slow`)."""

import numpy as np
import pytest

import hjqp
from helpers import interior_errors, solve


def orders(problem, sizes, level):
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


def test_manufactured_anisotropic_problem_converges_at_second_order():
    problem = hjqp.models.anisotropic_rotating(100.0, 0.3)
    max_err, rms_err, _, rms_order = orders(problem, [129, 257], 0.9)
    assert rms_order[-1] > 1.5
    assert max_err[-1] < 3e-5


@pytest.mark.slow
@pytest.mark.parametrize("problem, level, sizes, min_order", [
    (hjqp.models.linear_rotational(), 0.9, [257, 513, 1025], 1.8),
    (hjqp.models.anisotropic_rotating(100.0, 0.3), 0.9, [257, 513, 1025], 1.5),
    (hjqp.models.anisotropic_rotating(100.0, 1.0), 0.9, [257, 513, 1025], 1.5),
    # already at 1e-8 at N = 513, where rounding and the minimisers'
    # tolerances take over: measured on coarser grids
    (hjqp.models.anisotropic_rotating(10.0, 1.0), 0.9, [129, 257, 513], 1.5),
], ids=lambda v: getattr(v, "name", None))
def test_rms_order_on_large_grids(problem, level, sizes, min_order):
    _, rms_err, _, rms_order = orders(problem, sizes, level)
    assert rms_order[-1] > min_order, (rms_err, rms_order)
