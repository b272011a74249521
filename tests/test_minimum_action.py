"""Minimum action in any dimension (gMAM): the inner problem against the
compiled kernel and a slow reference, exact quasi-potentials and barriers
of manufactured problems in d = 2 ... 50 with measured errors, the action
of a path against geometric_action, agreement with the grid solver in 2D
and 3D, the cone of the jumps, and bad input."""

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

import hjqp
from hjqp import models
from hjqp.problem import JumpHamiltonian, jump_support
from hjqp.problem.support import SupportStatus, exponential_support, quadratic_support


# -- the inner problem ---------------------------------------------------------------


def reference_support(w, nu, v):
    """sup {<p, v> : sum w (exp(<p, nu>) - 1) <= 0} by SLSQP from the Gaussian
    support point (slow)."""
    b = w @ nu
    A = np.linalg.inv(np.einsum("r,ri,rj->ij", w, nu, nu))
    p0 = np.sqrt((b @ A @ b) / (v @ A @ v)) * (A @ v) - A @ b
    res = minimize(lambda p: -p @ v, p0, jac=lambda p: -v, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda p: -np.sum(w * np.expm1(nu @ p)),
                                 "jac": lambda p: -(w * np.exp(nu @ p)) @ nu}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    return -res.fun


@pytest.mark.parametrize("d", [2, 3])
def test_support_points_agree_with_the_compiled_kernel(d):
    rng = np.random.default_rng(d)
    r = 3 * d
    w = rng.exponential(size=(400, r)) * np.where(rng.random((400, r)) < 0.2, 100.0, 1.0)
    nu = rng.normal(size=(r, d))
    v = rng.normal(size=(400, d))
    expected, _ = jump_support(w, nu, v)
    h, p, mu, status = exponential_support(w, nu, v)
    finite = np.isfinite(expected)
    assert np.array_equal(np.isfinite(h), finite)
    assert np.max(np.abs(h[finite] - expected[finite]) / (1 + np.abs(expected[finite]))) < 1e-12  # measured 5e-15


@pytest.mark.parametrize("d", [4, 8])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_support_points_agree_with_a_slow_reference_where_one_jump_dominates(d):
    rng = np.random.default_rng(10 + d)
    for _ in range(10):
        r = int(rng.integers(d + 1, 3 * d))
        w = rng.exponential(size=r) * np.where(rng.random(r) < 0.2, 1000.0, 1.0)
        nu = rng.normal(size=(r, d))
        v = rng.normal(size=d)
        h, p, mu, status = exponential_support(w[None], nu, v[None])
        if not np.isfinite(h[0]):
            assert status[0] == SupportStatus.OUTSIDE_CONE
            continue
        expected = reference_support(w, nu, v)
        assert abs(h[0] - expected) <= 1e-7 * (1 + abs(expected))
        # The optimality conditions: H(p*) = 0 and v = mu H_p(p*).
        e = w * np.exp(nu @ p[0])
        assert abs(np.sum(e - w)) <= 1e-12 * np.sum(e + w)
        assert np.allclose(mu[0] * (e @ nu), v / np.linalg.norm(v), atol=1e-11)


def test_directions_outside_the_cone_of_the_jumps_have_infinite_support_in_any_dimension():
    rng = np.random.default_rng(5)
    d = 6
    nu = rng.normal(size=(2 * d, d))
    nu[:, 0] = np.abs(nu[:, 0]) + 0.1  # every jump raises x_0
    w = rng.uniform(0.5, 2.0, size=(100, 2 * d))
    v = rng.normal(size=(100, d))
    v[:50, 0] = np.abs(v[:50, 0]) + 1.0
    h, _, _, status = exponential_support(w, nu, v)
    for i in range(len(v)):
        # In the cone iff v = nu^T c for some c >= 0 (a linear program).
        inside = linprog(np.zeros(2 * d), A_eq=nu.T, b_eq=v[i], bounds=(0, None)).status == 0
        assert np.isfinite(h[i]) == inside
        assert (status[i] == SupportStatus.OUTSIDE_CONE) == (not inside)
    assert np.all(np.isinf(h[v[:, 0] <= 0]))
    assert np.sum(np.isfinite(h)) >= 10


def test_quadratic_support_is_the_closed_form_action_and_its_maximiser():
    rng = np.random.default_rng(2)
    d = 7
    a = rng.normal(size=(50, d, d))
    dm = a @ np.swapaxes(a, 1, 2) + 0.5 * np.eye(d)
    b, v = rng.normal(size=(50, d)), rng.normal(size=(50, d))
    h, p, mu = quadratic_support(b, dm, v)
    A = np.linalg.inv(dm)
    norm = np.sqrt(np.einsum("mi,mij,mj->m", v, A, v) * np.einsum("mi,mij,mj->m", b, A, b))
    assert np.allclose(h, norm - np.einsum("mi,mij,mj->m", v, A, b), rtol=1e-12)
    assert np.allclose(0.5 * np.einsum("mi,mij,mj->m", p, dm, p) + np.sum(b * p, axis=1), 0, atol=1e-12)
    assert np.allclose(mu[:, None] * (b + np.einsum("mij,mj->mi", dm, p)), v, atol=1e-12)


# -- exact quasi-potentials ----------------------------------------------------------

EXACT_POINTS = [
    # (problem, end point, tolerance on the relative error at 100 points: measured)
    ("linear_rotational(1)", lambda: models.linear_rotational(1.0), (0.5, 0.5), 2e-4),          # 5.0e-5
    ("example_3_1", lambda: models.example_3_1(), (0.5, -0.3), 1e-10),                         # 5e-15
    ("jump_detailed_balance_2d", lambda: models.jump_detailed_balance(2), (0.6, -0.4), 2e-5),  # 3.2e-6
    ("jump_cyclic_3d", lambda: models.jump_cyclic(3), (0.5, -0.3, 0.4), 2e-5),                 # 4.4e-6
    ("manufactured_5d", lambda: models.manufactured_nd(5, 1), (0.3, -0.2, 0.4, 0.1, -0.3), 3e-4),
    ("jump_cyclic_5d", lambda: models.jump_cyclic(5), (0.3, -0.2, 0.4, 0.1, -0.3), 2e-5),
]


@pytest.mark.parametrize("name, make, end, tolerance", EXACT_POINTS, ids=[e[0] for e in EXACT_POINTS])
def test_action_from_the_attractor_is_the_exact_quasipotential(name, make, end, tolerance):
    problem = make()
    end = np.array(end, dtype=float)
    result = hjqp.minimum_action(problem.sde, problem.attractor, end, 100)
    exact = float(problem.exact(end))
    assert result.converged
    assert abs(result.action - exact) <= tolerance * exact
    assert result.saddle is None  # the end lies inside the basin
    # U along the path rises from 0 to the action.
    U = result.quasipotential()
    assert U[0] == 0.0 and np.all(np.diff(U) >= -1e-12) and U[-1] == pytest.approx(result.action)


def test_action_error_falls_as_the_square_of_the_spacing():
    problem = models.jump_detailed_balance(2)
    end = np.array([0.6, -0.4])
    exact = float(problem.exact(end))
    errors = [abs(hjqp.minimum_action(problem.sde, problem.attractor, end, n).action - exact) for n in (40, 80)]
    order = np.log2(errors[0] / errors[1])
    assert 1.8 < order < 2.2  # measured 2.02


def test_momenta_along_the_path_are_the_gradient_of_the_exact_quasipotential():
    problem = models.jump_cyclic(4)
    result = hjqp.minimum_action(problem.sde, problem.attractor, np.array([0.4, -0.3, 0.2, 0.3]), 100)
    inner = result.path[10:-1]
    grad = problem.exact_gradient(inner)
    error = np.max(np.linalg.norm(result.momenta[10:-1] - grad, axis=1)) / np.max(np.linalg.norm(grad, axis=1))
    assert error < 5e-3  # measured 1.2e-3 (first-order: a point's momentum uses the chord's direction)
    assert np.allclose(result.momenta[0], 0.0)  # the attractor: K = {0}


@pytest.mark.parametrize("make, tolerance", [
    (lambda: models.manufactured_nd(5, 2), 1e-3),    # measured 4.8e-4 (to the saddle, 100 points)
    (lambda: models.jump_double_well(5), 3e-5),      # measured 1.1e-5
    (lambda: models.manufactured_nd(10, 2, varying=False), 5e-4),  # measured 2.0e-4
], ids=["quadratic_5d", "jumps_5d", "quadratic_10d"])
def test_barrier_to_the_saddle_is_exact(make, tolerance):
    problem = make()
    O, z = np.array(problem.attractors), np.array(problem.saddles[0])
    result = hjqp.minimum_action(problem.sde, O[0], z, 100)
    exact = problem.costs[0][1]
    assert result.converged
    assert abs(result.action - exact) <= tolerance * exact


@pytest.mark.parametrize("make", [lambda: models.manufactured_nd(5, 2), lambda: models.jump_double_well(5)],
                         ids=["quadratic", "jumps"])
def test_barriers_give_the_exact_costs_W_phi_and_the_selected_minimum(make):
    problem = make()
    B = hjqp.barriers(problem.sde, np.array(problem.attractors) + 0.01, 100)  # refined by Newton's method
    assert np.allclose(B.minima, problem.attractors, atol=1e-10)
    assert np.allclose(B.direct_costs, problem.costs, rtol=1e-3)  # measured 4.8e-4, 1.3e-5
    assert np.allclose(B.costs, B.direct_costs)
    assert np.allclose(B.global_values, problem.global_values, atol=3e-4)
    assert B.selected == int(np.argmin(problem.global_values))
    for i, j in ((0, 1), (1, 0)):
        assert np.allclose(B.saddles[i, j], problem.saddles[0], atol=1e-8)
    assert B.converged.all()
    # The metastable chain's stationary law concentrates on the selected minimum.
    assert B.stationary(0.05)[B.selected] > 0.99


def test_path_through_the_saddle_to_the_other_minimum_costs_the_barrier():
    problem = models.jump_double_well(4)
    O = np.array(problem.attractors)
    result = hjqp.minimum_action(problem.sde, O[0], O[1], 100)
    assert result.action == pytest.approx(problem.costs[0][1], rel=1e-3)  # measured 2e-4: the downhill part is free
    assert np.allclose(result.saddle, problem.saddles[0], atol=1e-8)
    U = result.quasipotential()
    assert U[-1] - U[result.saddle_index] < 1e-3 * U[-1]


@pytest.mark.slow
@pytest.mark.parametrize("d", [10, 50])
@pytest.mark.parametrize("kind", ["quadratic", "jumps"])
def test_barriers_in_high_dimension_are_exact(d, kind):
    problem = models.manufactured_nd(d, 2) if kind == "quadratic" else models.jump_double_well(d)
    O, z = np.array(problem.attractors), np.array(problem.saddles[0])
    result = hjqp.minimum_action(problem.sde, O[0], z, 200)
    exact = problem.costs[0][1]
    assert abs(result.action - exact) <= 1e-3 * exact


# -- consistency with the rest of the package ------------------------------------------


@pytest.mark.parametrize("make, end", [
    (lambda: models.linear_rotational(2.0), (0.5, 0.3)),
    (lambda: models.jump_cyclic(3), (0.5, -0.3, 0.4)),
    (lambda: models.jump_double_well(6), None),
    (lambda: models.manufactured_nd(6, 2), None),
], ids=["sde_2d", "jumps_3d", "jumps_6d", "sde_6d"])
def test_action_of_the_path_is_its_geometric_action(make, end):
    problem = make()
    end = problem.saddles[0] if end is None else end
    result = hjqp.minimum_action(problem.sde, problem.attractor, end, 40)
    assert result.action == pytest.approx(hjqp.geometric_action(problem.sde, result.path), rel=1e-12)


def test_barriers_agree_with_the_grid_landscape_in_2d():
    problem = models.manufactured_nd(2, 2)
    O = np.array(problem.attractors)
    fine = hjqp.landscape(problem.sde, problem.grid(121), attractors=O).direct_costs
    coarse = hjqp.landscape(problem.sde, problem.grid(61), attractors=O).direct_costs
    paths = hjqp.barriers(problem.sde, O, 100).direct_costs
    fewer = hjqp.barriers(problem.sde, O, 50).direct_costs
    off = ~np.eye(2, dtype=bool)
    # The two differ by no more than their error estimates (each against
    # itself at half the resolution) together.
    assert np.all(np.abs(paths - fine)[off] <= (np.abs(fine - coarse) + np.abs(paths - fewer))[off])
    exact = np.array(problem.costs)
    assert np.all(np.abs(paths - exact)[off] <= np.abs(paths - fewer)[off])


@pytest.mark.parametrize("make, n, end", [
    (lambda: models.jump_cyclic(2), 81, (0.6, -0.5)),
    (lambda: models.jump_cyclic(3), 21, (0.6, -0.5, 0.4)),
    (lambda: models.anisotropic_rotating_3d(), 21, (0.5, -0.4, 0.3)),
], ids=["jumps_2d", "jumps_3d", "sde_3d"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_action_agrees_with_the_grid_quasipotential(make, n, end):
    problem = make()
    end = np.array(end)
    fine = float(hjqp.local_quasipotential(problem.sde, problem.grid(n), problem.attractor)(end))
    coarse = float(hjqp.local_quasipotential(problem.sde, problem.grid((n + 1) // 2), problem.attractor)(end))
    result = hjqp.minimum_action(problem.sde, problem.attractor, end, 100)
    assert abs(result.action - fine) <= abs(fine - coarse)  # the grid's error estimate


# -- starting paths, the cone, bad input ------------------------------------------------


def test_straight_start_via_points_and_a_given_path_reach_the_same_minimum():
    problem = models.jump_double_well(3)
    O, z = np.array(problem.attractors), np.array(problem.saddles[0])
    straight = hjqp.minimum_action(problem.sde, O[0], z, 60)
    bent = hjqp.minimum_action(problem.sde, O[0], z, 60, via=[[-0.5, 0.6, 0.5]])
    given = hjqp.minimum_action(problem.sde, O[0], z, 60, path=straight.path[::3].tolist() + [z.tolist()])
    for other in (bent, given):
        # measured 1.2e-6: the stopping rule (the action's decrease over ten
        # steps) leaves each within about that of the discrete minimum
        assert other.action == pytest.approx(straight.action, rel=1e-5)
    assert bent.actions[0] > straight.actions[0]  # it started further away


def test_path_outside_the_cone_of_the_jumps_has_infinite_action_and_says_where():
    # Every jump raises x_0 or x_1: the process cannot move towards -x_0.
    H = JumpHamiltonian(lambda x: np.ones(x.shape[:-1] + (3,)), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    result = hjqp.minimum_action(H, (0.0, 0.0), (-1.0, 0.2), 20)
    assert result.action == np.inf and not result.converged
    assert len(result.outside_cone) == 19 and "cone" in result.info["message"]


@pytest.mark.parametrize("call, error, message", [
    (lambda H: hjqp.minimum_action(H, (0, 0, 0), (1, 0, 0)), ValueError, "3-dimensional"),
    (lambda H: hjqp.minimum_action(H, (0, 0, 0, 0), (0, 0, 0, 0)), ValueError, "same point"),
    (lambda H: hjqp.minimum_action(H, (0, 0, 0, np.nan), (1, 0, 0, 0)), ValueError, "finite"),
    (lambda H: hjqp.minimum_action(H, (0, 0, 0, 0), (1, 0, 0)), ValueError, "same dimension"),
    (lambda H: hjqp.minimum_action(H, (0, 0, 0, 0), (1, 0, 0, 0), 3), ValueError, "n_points"),
    (lambda H: hjqp.minimum_action(H, (0, 0, 0, 0), (1, 0, 0, 0), path=[[0, 0, 0, 1], [1, 0, 0, 0]]), ValueError,
     "from start to end"),
    (lambda H: hjqp.minimum_action(H, (0, 0, 0, 0), (1, 0, 0, 0), via=[[0, 0, 1]]), ValueError, "via"),
    (lambda H: hjqp.minimum_action("H", (0, 0, 0, 0), (1, 0, 0, 0)), TypeError, "SDE"),
    (lambda H: hjqp.barriers(H, [[0, 0, 0, 0]]), ValueError, "k >= 2"),
    (lambda H: hjqp.barriers(H, [[0, 0, 0, 0], [0, 0, 0, 0]]), ValueError, "same equilibrium"),
    (lambda H: hjqp.barriers(H, [[0, 0, 0, 0], [3, 0, 0, 0]]), ValueError, "equilibrium"),
])
def test_bad_input_is_rejected_with_a_clear_message(call, error, message):
    H = models.jump_cyclic(4).sde
    with pytest.raises(error, match=message):
        call(H)


def test_sde_and_jump_hamiltonian_take_constant_fields_in_any_dimension():
    sde = hjqp.SDE(lambda x: -x, np.diag(np.arange(1.0, 6.0)))
    result = hjqp.minimum_action(sde, np.zeros(5), np.full(5, 0.5), 30)
    # b = -x, D diagonal: U = x^T D^{-1} x.
    assert result.action == pytest.approx(np.sum(0.25 / np.arange(1.0, 6.0)), rel=1e-12)
    with pytest.raises(ValueError, match="positive definite"):
        hjqp.SDE(lambda x: -x, -np.eye(4))
