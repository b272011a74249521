"""Exact solutions: the paper's Example 3.1, the linear rotational test,
gradient systems and manufactured problems with variable anisotropic D."""

import numpy as np
import pytest

import hjqp
from helpers import interior_errors, solve


@pytest.mark.parametrize("mu", [1.0, 0.5, 0.1, 0.02])
def test_example_3_1_matches_the_paper(mu):
    problem = hjqp.models.example_3_1(mu)
    grid, qp = solve(problem, 129)
    err = interior_errors(problem, qp, 0.9 * 2 / max(mu, 2 - mu))
    # U = 2 (x1^2/mu + x2^2/(2-mu)) is reproduced to far below the grid scale
    assert err.max() < 2e-5


@pytest.mark.parametrize("mu", [0.3, 0.5, 1.5])
def test_example_3_1_exit_cost_on_the_unit_circle_is_two_over_max_mu(mu):
    problem = hjqp.models.example_3_1(mu)
    grid = hjqp.Grid((-1.2, -1.2), (1.2, 1.2), (241, 241))
    qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
    theta = np.linspace(0, 2 * np.pi, 2001)
    circle = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    assert qp(circle).min() == pytest.approx(2 / max(mu, 2 - mu), rel=1e-6)
    # and the minimum sits on the axis of larger diffusion
    where = circle[np.argmin(qp(circle))]
    axis = 0 if mu > 1 else 1
    assert abs(abs(where[axis]) - 1) < 1e-3


def test_linear_rotational_test_is_second_order_accurate():
    problem = hjqp.models.linear_rotational()
    errors = []
    for n in (129, 257):
        _, qp = solve(problem, n)
        errors.append(interior_errors(problem, qp, 0.9).max())
    assert errors[1] < 2e-5
    assert np.log2(errors[0] / errors[1]) > 1.7


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_gradient_system_gives_twice_the_loss_over_sigma_squared(sigma):
    problem = hjqp.models.gradient_system(sigma)
    _, qp = solve(problem, 129)
    exact = problem.exact(qp.grid.points())
    level = 0.8 * exact[[0, -1, 64, 64], [64, 64, 0, -1]].min()
    assert interior_errors(problem, qp, level).max() < 1e-6 * level + 1e-7


@pytest.mark.parametrize("condition, rotation", [(10.0, 1.0), (100.0, 0.3), (100.0, 1.0)])
def test_manufactured_problem_with_rotated_anisotropic_variable_diffusion(condition, rotation):
    problem = hjqp.models.anisotropic_rotating(condition, rotation)
    _, qp = solve(problem, 257)
    err = interior_errors(problem, qp, 0.9)
    assert err.max() < 5e-5
    assert np.sqrt(np.mean(err**2)) < 5e-6


def test_gradient_is_returned_and_accurate():
    problem = hjqp.models.anisotropic_rotating(30.0, 0.5)
    _, qp = solve(problem, 257)
    pts = qp.grid.points()
    mask = problem.exact(pts) <= 0.9
    g_err = np.linalg.norm(qp.grad - problem.exact_gradient(pts), axis=-1)[mask]
    g_norm = np.linalg.norm(problem.exact_gradient(pts), axis=-1)[mask]
    assert np.median(g_err / np.maximum(g_norm, 1e-12)) < 1e-4
    assert g_err.max() < 1e-2


def test_interpolation_adds_nothing_to_the_nodal_error():
    problem = hjqp.models.linear_rotational()
    _, qp = solve(problem, 129)
    node_err = interior_errors(problem, qp, 0.6).max()
    rng = np.random.default_rng(3)
    pts = rng.uniform(-0.5, 0.5, size=(2000, 2))
    pts = pts[problem.exact(pts) <= 0.5]
    assert np.abs(qp(pts) - problem.exact(pts)).max() < 1.5 * node_err


def test_interpolation_of_exact_jets_is_fourth_order():
    def u(p):
        return np.sin(2 * p[..., 0]) * np.cos(3 * p[..., 1]) + p[..., 0] ** 2

    def grad(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([2 * np.cos(2 * x) * np.cos(3 * y) + 2 * x, -3 * np.sin(2 * x) * np.sin(3 * y)], -1)

    rng = np.random.default_rng(4)
    pts = rng.uniform(-0.9, 0.9, size=(4000, 2))
    errors = []
    for n in (33, 65):
        grid = hjqp.Grid((-1, -1), (1, 1), (n, n))
        x = grid.points()
        qp = hjqp.QuasiPotential(u(x), grad(x), np.zeros(2), grid, np.zeros(grid.shape, np.uint8), None)
        errors.append(np.abs(qp(pts) - u(pts)).max())
    assert np.log2(errors[0] / errors[1]) > 3.5


def test_strong_rotation_on_a_coarse_grid_warns_with_the_fraction_of_nodes_affected():
    # rotation 40 on 129^2: largest error 0.94 on U <= 1, silently.
    problem = hjqp.models.linear_rotational(40)
    grid = problem.grid(129)
    with pytest.warns(RuntimeWarning, match=r"at \d+ of the \d+ nodes below U = .* \([0-9.]+ %\).*Refine the grid"):
        qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
    assert qp.info["truncated_traces"] > 0


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("rotation", [10, 20])
def test_resolved_rotation_cuts_no_trace_short_and_does_not_warn(rotation):
    problem = hjqp.models.linear_rotational(rotation)
    grid = problem.grid(129)
    qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
    assert qp.info["truncated_traces"] == 0
    inside = problem.exact(grid.points()) <= 1
    assert np.abs(qp.values - problem.exact(grid.points()))[inside].max() < 2e-4
