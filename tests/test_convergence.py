"""Measured order of convergence over sequences of grids. The large grids
are marked slow (run them with `pytest -m slow`)."""

import pytest

import hjqp
from helpers import orders


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
