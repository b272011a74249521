"""The jump march's cost and the accuracy it keeps: actions per node (the
triangle updates search their edge with the action's derivatives from the
envelope theorem, grad U comes from the winning update's derivative), the
accuracy of grad U, and convergence on larger 3D grids."""

import numpy as np
import pytest

import hjqp
from hjqp import models
from helpers import orders


def _solve(problem, n):
    grid = problem.grid(n)
    qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
    exact = problem.exact(grid.points())
    mask = exact <= 0.8
    return grid, qp, exact, mask


def test_the_jump_march_solves_about_forty_actions_per_node():
    # Measured on 65^2: 44.2 actions (support-point problems) per node, and
    # 131 when the triangle updates minimised by Newton's method on finite
    # differences of the action and grad U came from central differences.
    problem = models.jump_cyclic(2)
    _, qp, exact, mask = _solve(problem, 65)
    per_node = qp.info["supports"] / qp.info["accepted"]
    assert per_node < 60, per_node
    # ... at the same accuracy (largest error 3.23e-4 either way).
    assert np.abs(qp.values - exact)[mask].max() < 3.5e-4


def test_gradients_of_the_jump_march_are_accurate():
    # Measured on 129^2 (eight detailed-balance pairs), |grad U - exact| on
    # {U <= 0.8}: largest 3.8e-3, RMS 4.7e-4 from the winning update's
    # derivative (with the mean of the two sides' derivatives of the fields
    # on grid lines); 1.9e-2 and 5.1e-4 from central differences of the
    # action, and RMS 5.7e-4 with one-sided derivatives on grid lines.
    problem = models.jump_detailed_balance(2, pairs=8)
    grid, qp, _, mask = _solve(problem, 129)
    err = np.linalg.norm(qp.grad - problem.exact_gradient(grid.points()), axis=-1)[mask]
    assert err.max() < 8e-3, err.max()
    assert np.sqrt(np.mean(err**2)) < 5.2e-4


@pytest.mark.slow
def test_jump_process_converges_in_3d_on_larger_grids():
    # Measured (jump_cyclic(3), {U <= 0.6}): RMS errors 1.55e-3, 4.27e-4,
    # 1.10e-4 on 17^3, 33^3, 65^3 (orders 1.86, 1.96); the largest errors
    # 4.0e-3, 1.23e-3, 3.14e-4 (orders 1.71, 1.97; 1.07e-4 on 129^3). Before
    # the tetrahedron updates walked across the best face's edges they were
    # 1.6e-3 and 1.1e-3 on 33^3 and 65^3 (and 1.9e-3 on 129^3).
    problem = models.jump_cyclic(3)
    max_err, rms_err, max_order, rms_order = orders(problem, [33, 65], level=0.6)
    assert rms_err[-1] < 1.4e-4, rms_err
    assert rms_order[-1] > 1.7, rms_order
    assert max_err[-1] < 4.5e-4, max_err
    assert max_order[-1] > 1.6, max_order
