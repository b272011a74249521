"""Reliability: the siblings of the defects a hostile user found (objects
that kept the caller's arrays, complex numbers dropped to their real part,
jump Hamiltonians beyond double precision's range, messages that named the
wrong thing, damaged result files). Each test failed before its fix."""

import warnings

import numpy as np
import pytest

import hjqp
from hjqp import models
from hjqp.sgd import MinibatchSGD

GRID = hjqp.Grid((-1, -1), (1, 1), (17, 17))
JUMPS = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])


def birth_death_weights(scale=1.0):
    """Detailed balance about 0 in each coordinate (U = x^2 + y^2 near 0)."""
    def weights(x):
        return scale * np.stack([np.exp(-x[..., 0]), np.exp(x[..., 0]), np.exp(-x[..., 1]), np.exp(x[..., 1])], -1)

    return weights


def small_network():
    # 0 -> X (2), X -> X + Y (1), X + Y -> 0 (0.5): complex balanced about (2, 2).
    return hjqp.ReactionNetwork.mass_action([[0, 0], [1, 0], [1, 1]], [[1, 0], [1, 1], [0, 0]], [2.0, 1.0, 0.5])


# -- what an object or a result was made from does not change with the caller's arrays ------

def test_a_jump_hamiltonian_keeps_its_own_copy_of_its_arrays():
    """Its drift and diffusion are computed from the arrays once: arrays
    kept by reference and changed in place made the march (weights) and the
    flow (drift) see two different Hamiltonians."""
    w = birth_death_weights()(GRID.points())
    nu = JUMPS.copy()
    H = hjqp.JumpHamiltonian(w, nu)
    fresh = hjqp.JumpHamiltonian(w.copy(), nu.copy())
    w[..., 0] *= 3.0
    nu[0] = [2.0, 1.0]
    np.testing.assert_array_equal(H.drift, np.einsum("...r,ri->...i", H.weights, H.jumps))
    np.testing.assert_array_equal(hjqp.local_quasipotential(H, GRID, (0, 0)).values,
                                  hjqp.local_quasipotential(fresh, GRID, (0, 0)).values)
    with pytest.raises(ValueError, match="read-only"):
        H.weights[0, 0, 0] = 1.0


def test_a_long_run_keeps_its_own_attractors():
    centres = np.array([[0.0, 0.0]])
    run = hjqp.long_run(hjqp.SDE(lambda p: -p), [0, 0], 0.5, 0.01, 50, centres, 0.3, seed=1)
    centres[0] = [5.0, 5.0]
    np.testing.assert_array_equal(run.attractors, [[0.0, 0.0]])


def test_a_mass_action_law_keeps_its_own_rates():
    rates = np.array([1.0, 2.0])
    law = hjqp.MassAction(rates, [[0, 0], [1, 0]])
    rates[0] = -1.0
    np.testing.assert_array_equal(law.rates, [1.0, 2.0])


def test_a_linear_model_keeps_its_own_jacobian():
    """The drift and the exact U come from the same J, whatever the caller
    does to its array afterwards."""
    J = np.array([[-1.0, 2.0], [-2.0, -1.0]])
    problem = models.linear(J, np.eye(2))
    J[0, 1] = 0.0
    p = np.array([[0.3, -0.4]])
    np.testing.assert_allclose(problem.sde.drift(p), p @ np.array([[-1.0, 2.0], [-2.0, -1.0]]).T)


@pytest.mark.parametrize("method", ["occupancy", "switching_times"])
@pytest.mark.parametrize("attractors, radius, message", [
    ([[np.nan, 2.0]], 0.5, "attractors must be finite"),
    ([[2.0, 2.0]], -0.5, "radius must be positive"),
    ([[2.0, 2.0]], np.nan, "radius must be positive"),
])
def test_the_master_equation_checks_its_attractors_as_long_runs_do(method, attractors, radius, message):
    """A NaN centre gave occupancy 0 and switching times NaN without a word."""
    me = hjqp.master_equation(small_network(), 5, hjqp.Grid((0, 0), (6, 6), (3, 3)))
    with pytest.raises(ValueError, match=message):
        getattr(me, method)(attractors, radius)


# -- complex numbers are refused wherever fields and points come in ------------------------

def _sgd_complex():
    return MinibatchSGD(lambda x, idx: (x[..., None, :] - idx[..., None]) + 0j, 4)


@pytest.mark.parametrize("name, call, message", [
    ("SDE.gradient callable", lambda: hjqp.local_quasipotential(hjqp.SDE.gradient(lambda p: p + 0j), GRID, (0, 0)),
     "grad_f callable's result must be real"),
    ("SDE.gradient, exact engine", lambda: hjqp.simulate(hjqp.SDE.gradient(lambda p: p + 0j), [0, 0], 0.1, 0.01, 5,
                                                         2, seed=1), "grad_f callable's result must be real"),
    ("SGD gradients", lambda: _sgd_complex().covariance(np.zeros(2)), "gradients callable's result must be real"),
    ("SGD iteration", lambda: _sgd_complex().simulate([0, 0], 0.1, 5, 2, seed=1),
     "gradients callable's result must be real"),
    ("mass-action rates", lambda: hjqp.MassAction([1.0 + 0j, 2.0], [[0, 0], [1, 0]]), "rates must be real"),
    ("propensities", lambda: hjqp.master_equation(
        hjqp.ReactionNetwork(JUMPS.astype(int), lambda x: np.ones(x.shape[:-1] + (4,)) + 0j), 5,
        hjqp.Grid((0, 0), (3, 3), (3, 3))), "propensities callable's result must be real"),
    ("jump weights", lambda: hjqp.local_quasipotential(
        hjqp.JumpHamiltonian(lambda x: birth_death_weights()(x) + 0j, JUMPS), GRID, (0, 0)),
     "weights callable's result must be real"),
    ("linear model", lambda: models.linear(np.array([[-1.0, 0.0], [0.0, -1.0]]) + 0j, np.eye(2)), "J must be real"),
    ("Grid.contains", lambda: GRID.contains(np.array([0.5j, 0.0])), "points must be real"),
    ("Grid.nearest_node", lambda: GRID.nearest_node(np.array([0.5j, 0.0])), "point must be real"),
    ("attractor", lambda: hjqp.local_quasipotential(hjqp.SDE(lambda p: -p), GRID, (0.1j, 0.0)),
     "attractor must be real"),
    ("eikonal dx", lambda: hjqp.eikonal.distance(np.linspace(-1, 1, 9)[:, None] * np.ones(9), dx=0.1 + 1j),
     "dx must be real"),
])
def test_complex_input_is_a_type_error_not_a_dropped_imaginary_part(name, call, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(TypeError, match=message):
            call()


# -- jump Hamiltonians at the edges of double precision --------------------------------------

@pytest.mark.parametrize("exponent", [-300, -200, -160, 160, 200, 300])
def test_jump_weights_beyond_double_precision_are_an_error_not_a_wrong_solution(exponent):
    """U does not change when the weights are multiplied by a constant; at
    1e160 and beyond (1e-160 and below) the march gave 0.0625 for 2.0, or
    +inf nodes, without a word."""
    H = hjqp.JumpHamiltonian(birth_death_weights(10.0**exponent), JUMPS)
    with pytest.raises(ValueError, match="multiply the weights by a common factor"):
        hjqp.local_quasipotential(H, GRID, (0, 0))


@pytest.mark.parametrize("exponent", [-120, 100, 140])
def test_jump_weights_within_range_give_the_unscaled_solution(exponent):
    unscaled = hjqp.local_quasipotential(hjqp.JumpHamiltonian(birth_death_weights(), JUMPS), GRID, (0, 0)).values
    scaled = hjqp.local_quasipotential(hjqp.JumpHamiltonian(birth_death_weights(10.0**exponent), JUMPS), GRID,
                                       (0, 0)).values
    np.testing.assert_allclose(scaled, unscaled, rtol=1e-4, atol=1e-4 * np.max(unscaled))


@pytest.mark.parametrize("exponent", [-300, -200, 200, 300])
def test_jump_geometric_action_does_not_depend_on_the_scale_of_the_weights(exponent):
    """The support function of {H <= 0} is the same for c w as for w: it
    came out 0 at weights of 1e200 or 1e-200."""
    path = np.linspace([0.0, 0.0], [0.5, 0.3], 30)
    unscaled = hjqp.geometric_action(hjqp.JumpHamiltonian(birth_death_weights(), JUMPS), path)
    scaled = hjqp.geometric_action(hjqp.JumpHamiltonian(birth_death_weights(10.0**exponent), JUMPS), path)
    assert unscaled > 0.3
    assert scaled == pytest.approx(unscaled, rel=1e-12)


# -- messages that say what is wrong ---------------------------------------------------------

def test_sgd_with_a_nan_gradient_names_the_gradient_and_the_point():
    """It said 'path 0 diverged by t = ...: reduce dt' (SGD has no dt)."""
    sgd = MinibatchSGD(lambda x, idx: np.where(x[..., None, :1] > 0.3, np.nan, x[..., None, :] - idx[..., None]), 4)
    with pytest.raises(ValueError, match=r"gradient of sample \d is not finite at x = \(0\.3"):
        sgd.simulate([0, 0], 0.1, 100, 4, seed=1)


def test_sgd_that_runs_away_says_reduce_eta():
    sgd = MinibatchSGD(lambda x, idx: 4 * x[..., None, :] ** 3 + 0 * idx[..., None], 4)
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(ValueError, match="reduce eta") as info:
        sgd.simulate([1.0, 1.0], 2.0, 100, 4, seed=1)
    assert "dt" not in str(info.value)


def test_a_callable_error_whose_one_argument_is_not_a_message_keeps_its_message():
    """An exception built from a code, not a message, was rebuilt from the
    new message: 'rate the drift callable failed ...: rate -1 ... must be
    positive must be positive'."""
    class RateError(Exception):
        def __init__(self, rate):
            self.rate = rate
            super().__init__(f"rate {rate} must be positive")

    def drift(p):
        raise RateError(-1)

    with pytest.raises(ValueError) as info:
        hjqp.local_quasipotential(hjqp.SDE(drift), GRID, (0, 0))
    assert str(info.value) == "the drift callable failed on points of shape (17, 17, 2): RateError: rate -1 must be " \
                              "positive"
    assert isinstance(info.value.__cause__, RateError)


USER_MODULE = """
import numpy as np
import hjqp

NOT_A_MODEL = "a name, not a function"


def rotating():
    return hjqp.SDE(lambda p: -p)
"""


@pytest.mark.parametrize("argv, message", [
    (["solve", "reliability_user_model:NOT_A_MODEL", "--box", "-1", "-1", "1", "1", "--attractor", "0", "0"],
     "model 'reliability_user_model:NOT_A_MODEL' is not callable (it is of type str)"),
    (["solve", "reliability_user_model:rotating", "--box", "-1", "-1", "1", "1", "--attractor", "0"],
     "--attractor needs 2 or 3 numbers"),
])
def test_command_line_mistakes_are_named(argv, message, tmp_path, capsys, monkeypatch):
    """They were 'does not take these parameters: ... is not a callable
    object' and '--box needs 2 numbers ... for a 1D model'."""
    from hjqp.cli import main

    (tmp_path / "reliability_user_model.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(argv + ["--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


# -- damaged result files --------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Arrays of saved results: a quasi-potential, a landscape, exits, a long run."""
    path = tmp_path_factory.mktemp("saved")
    sde = hjqp.SDE(lambda p: -p)
    grid = hjqp.Grid((-1, -1), (1, 1), (9, 9))
    out = {}
    problem = models.multiwell()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = {"qp": hjqp.local_quasipotential(sde, grid, (0, 0)),
                   "land": hjqp.landscape(problem.sde, problem.grid(33)),
                   "exits": hjqp.exit_times(sde, [0, 0], hjqp.Ball([0, 0], 0.5), 1.0, 0.01, 8, seed=1),
                   "long": hjqp.long_run(sde, [0, 0], 0.5, 0.01, 100, [[0, 0]], 0.3, seed=1)}
    for kind, result in results.items():
        hjqp.io.save(path / f"{kind}.npz", result)
        with np.load(path / f"{kind}.npz") as data:
            out[kind] = dict(data)
    return out


DEEP = "[" * 100000 + "]" * 100000

DAMAGED = [
    ("qp", "format", np.array([1, 2]), "format must be a non-negative integer"),
    ("qp", "metadata", DEEP, "metadata is JSON nested too deeply"),
    ("qp", "qp_info", DEEP, "qp_info is JSON nested too deeply"),
    ("qp", "qp_e_exponents", np.array([1, 2, 3]), "qp_e_exponents must be non-negative integers"),
    ("qp", "grid_shape", np.array([9.5, 9.0]), "grid_shape must be a sequence of integers"),
    ("qp", "grid_shape", np.array([[9, 9]]), "grid_shape must be a sequence of integers"),
    ("qp", "qp_values", np.full((9, 9), np.nan), "qp_values holds NaN"),
    ("qp", "qp_attractor", np.array([np.nan, 0.0]), "qp_attractor holds values that are not finite"),
    ("land", "land_attractors", np.full((3, 2), np.nan), "land_attractors holds values that are not finite"),
    ("exits", "mc_eps", np.array("abc"), "mc_eps must be a single float"),
    ("exits", "mc_dt", np.array(-1.0), "mc_dt must be positive"),
    ("long", "mc_radii", np.array([-1.0]), "mc_radii must be positive"),
    ("long", "mc_attractors", np.array([[np.inf, 0.0]]), "mc_attractors holds values that are not finite"),
]


@pytest.mark.parametrize("kind, array, value, message", DAMAGED,
                         ids=[f"{kind}-{array}-{i}" for i, (kind, array, _, _) in enumerate(DAMAGED)])
def test_damaged_result_files_raise_value_errors_naming_the_file(saved, tmp_path, kind, array, value, message):
    """These ended in TypeError or RecursionError, or were loaded."""
    arrays = dict(saved[kind])
    arrays[array] = value
    path = tmp_path / "damaged.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        hjqp.io.load(path)
    assert str(path) in str(info.value)


def test_a_missing_array_is_named_plainly(saved, tmp_path):
    arrays = dict(saved["exits"])
    del arrays["mc_times"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(ValueError, match="the array 'mc_times' is missing$"):
        hjqp.io.load(tmp_path / "missing.npz")



def test_the_master_equations_stationary_law_is_read_only():
    """It is computed once and kept for quasi_potential, edge_mass and
    occupancy: a caller's change to the array returned changed them."""
    me = hjqp.master_equation(small_network(), 5, hjqp.Grid((0, 0), (6, 6), (3, 3)))
    u = me.quasi_potential().copy()
    p = me.stationary()
    with pytest.raises(ValueError, match="read-only"):
        p *= 2.0
    np.testing.assert_array_equal(me.quasi_potential(), u)


def test_eikonal_order_is_not_a_bool():
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        hjqp.eikonal.distance(np.linspace(-1, 1, 9)[:, None] * np.ones(9), order=True)


@pytest.mark.parametrize("U, error, message", [
    (lambda p: np.sum(p**2, axis=-1) + 0j, TypeError, "U's values must be real"),
    (lambda p: np.where(p[..., 0] > 0.3, np.nan, np.sum(p**2, axis=-1)), ValueError,
     r"U is NaN at the boundary point x = \(0\.5, 0\)"),
])
def test_the_boundary_minimum_refuses_u_that_is_complex_or_nan_on_part_of_the_boundary(U, error, message):
    """NaN values were left out of the minimum (a minimum over the rest of
    the boundary, without a word); complex ones cut to their real part."""
    from hjqp import verify

    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(error, match=message):
            verify.boundary_minimum(U, hjqp.Ball([0, 0], 0.5))


def test_the_density_check_refuses_phi_with_nan():
    from hjqp import verify

    grid = hjqp.Grid((-2, -2), (2, 2), (9, 9))
    run = hjqp.long_run(hjqp.SDE(lambda p: -p), [0, 0], 0.5, 0.01, 200, [[0, 0]], 0.3, seed=1, grid=grid,
                        histogram=True)
    phi = np.sum(grid.points() ** 2, axis=-1)
    phi[4, 4] = np.nan
    with pytest.raises(ValueError, match=r"phi is NaN at grid node \[4, 4\]"):
        verify.density(run, phi, min_count=1)


def test_negative_values_of_a_march_are_named():
    # A quasi-potential is never negative; where a march leaves U below 0
    # beyond rounding, the result says so and names the least node.
    import dataclasses

    from hjqp.solve import warn_negative_values

    sde = hjqp.SDE(lambda p: -p)
    qp = hjqp.local_quasipotential(sde, hjqp.Grid((-1, -1), (1, 1), (21, 21)), (0, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_negative_values(qp)  # the exact U = x^2 + y^2 on the grid: nothing to say
    values = qp.values.copy()
    values[3, 17] = -0.25
    with pytest.warns(RuntimeWarning, match=r"left U negative at 1 of 441 reached nodes \(least -0.25 at grid node \[3, 17\]"):
        warn_negative_values(dataclasses.replace(qp, values=values))
