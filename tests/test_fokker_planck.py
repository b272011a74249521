"""The finite-eps judges: the stationary Fokker-Planck density, mean first
passage times and committors against exact solutions (Boltzmann densities
of gradient systems, one-dimensional exit-time integrals), their measured
order of convergence, their precision at large V / eps, and Monte Carlo."""

import math

import numpy as np
import pytest
from scipy import integrate

import hjqp

# A tilted double well, b = -grad f, D = c I: rho = exp(-2 f / (c eps)) / Z.
C, TILT = 0.5, 0.05


def f(x):
    return 0.25 * (x[..., 0] ** 2 - 1) ** 2 + TILT * x[..., 0] + 0.5 * x[..., 1] ** 2


def grad_f(x):
    return np.stack([x[..., 0] * (x[..., 0] ** 2 - 1) + TILT, x[..., 1]], axis=-1)


def double_well():
    return hjqp.SDE.gradient(grad_f, C)


def grid(n, m=None):
    return hjqp.Grid((-2, -1.5), (2, 1.5), (n, m or n))


def phi_error(result, exact_phi):
    """max |Phi_eps - phi| once both are shifted to 0 at the same node (the
    density's peak)."""
    peak = np.unravel_index(np.argmax(result.log_density), result.grid.shape)
    diff = result.potential - exact_phi
    return float(np.max(np.abs(diff - diff[peak])))


def test_gradient_system_density_is_boltzmann_to_second_order_at_every_eps():
    errors = {}
    for eps in (0.5, 0.05, 0.005):
        for n in (41, 81, 161):
            g = grid(n)
            r = hjqp.fokker_planck(double_well(), g, eps)
            errors[eps, n] = phi_error(r, 2 * f(g.points()) / C)
    for eps in (0.5, 0.05, 0.005):
        order = [math.log2(errors[eps, a] / errors[eps, b]) for a, b in ((41, 81), (81, 161))]
        assert min(order) > 1.9, (eps, order)
        # Phi_eps's error does not grow as eps decreases (V / eps = 2 to 200).
        assert errors[eps, 161] < 2.5e-3
    assert errors[0.005, 161] == pytest.approx(errors[0.5, 161], rel=0.05)


def test_density_is_normalised_positive_and_finite_where_it_underflows():
    r = hjqp.fokker_planck(double_well(), grid(41), 0.002)
    assert np.sum(r.probabilities) == pytest.approx(1.0, rel=1e-12)
    assert np.all(np.isfinite(r.log_density))
    assert np.min(r.log_density) < -1000  # rho itself underflows there
    assert np.min(r.potential) == 0.0
    assert np.all(r.density >= 0)


def test_anisotropic_constant_diffusion_gives_exp_minus_u_over_eps():
    # b = -1/2 D grad U with D constant and off-diagonal: rho = exp(-U / eps).
    D = np.array([[1.0, 0.35], [0.35, 0.6]])

    def U(x):
        return x[..., 0] ** 2 + 0.5 * x[..., 0] * x[..., 1] + 1.5 * x[..., 1] ** 2 + 0.25 * x[..., 0] ** 4

    def grad_U(x):
        return np.stack([2 * x[..., 0] + 0.5 * x[..., 1] + x[..., 0] ** 3, 0.5 * x[..., 0] + 3 * x[..., 1]], -1)

    sde = hjqp.SDE(lambda x: -0.5 * grad_U(x) @ D.T, D)
    errors = []
    for n in (41, 81, 161):
        g = hjqp.Grid((-1.5, -1.5), (1.5, 1.5), (n, n))
        errors.append(phi_error(hjqp.fokker_planck(sde, g, 0.1), U(g.points())))
    order = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert min(order) > 1.8, (errors, order)
    assert errors[-1] < 2e-3


def test_position_dependent_diffusion_converges_to_the_quasipotential():
    # The three-well manufactured model (rotation, D(x) anisotropic): its
    # stationary density is not exp(-U / eps), but Phi_eps -> phi = U - min U.
    problem = hjqp.models.multiwell()
    g = problem.grid(121)
    phi = problem.exact_global(g.points())
    basins = phi < 0.6
    errors = []
    for eps in (0.4, 0.2, 0.1):
        r = hjqp.fokker_planck(problem.sde, g, eps, attractors=problem.attractors)
        errors.append(float(np.max(np.abs(r.potential - phi)[basins])))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.3


def test_three_dimensional_gradient_system_is_boltzmann():
    problem = hjqp.models.double_well_3d()
    errors = []
    for n in (13, 25):
        g = problem.grid(n)
        errors.append(phi_error(hjqp.fokker_planck(problem.sde, g, 0.1), problem.exact_global(g.points())))
    assert math.log2(errors[0] / errors[1]) > 1.8, errors
    assert errors[1] < 0.1


def test_a_well_narrower_than_a_cell_keeps_its_mass():
    # Two wells, the left one squeezed in y to a width sqrt(eps D_yy / 2) =
    # 0.003, far below the cells' 0.05 and 0.025: with fitted masses its
    # occupancy is that of a grid that resolves it (h_y = 0.0025).
    def diffusion(x):
        out = np.zeros(x.shape[:-1] + (2, 2))
        out[..., 0, 0] = 1.0
        out[..., 1, 1] = np.where(x[..., 0] < 0, 1e-4, 1.0)
        return out

    def drift(x):
        return np.stack([-x[..., 0] * (x[..., 0] ** 2 - 1), -x[..., 1]], axis=-1)

    sde = hjqp.SDE(drift, diffusion)
    left = []
    for ny in (41, 81, 801):
        g = hjqp.Grid((-2, -1), (2, 1), (81, ny))
        r = hjqp.fokker_planck(sde, g, 0.2, attractors=[[-1, 0], [1, 0]])
        left.append(r.occupancy((g.points()[..., 0] > 0).astype(int))[0])
    assert left[0] == pytest.approx(left[2], abs=0.01)
    assert left[1] == pytest.approx(left[2], abs=0.005)


def test_too_anisotropic_diffusion_is_refused_naming_the_node():
    D = np.array([[1.0, 0.95], [0.95, 1.0]])
    with pytest.raises(ValueError, match="grid node .* too anisotropic"):
        hjqp.fokker_planck(hjqp.SDE(lambda x: -x, D), grid(11), 0.1, attractors=[[0, 0]])


def exit_time_1d(x0, eps, x_left=-2.0, x_target=0.5):
    """Mean time for dx = -V'(x) dt + sqrt(eps) dW, V = (x^2 - 1)^2 / 4,
    reflected at x_left, to reach x_target."""
    def V(x):
        return 0.25 * (x * x - 1) ** 2

    def inner(y):
        return integrate.quad(lambda z: math.exp(-2 * (V(z) - V(-1)) / eps), x_left, y, points=[-1], limit=200)[0]

    return 2 / eps * integrate.quad(lambda y: math.exp(2 * (V(y) - V(-1)) / eps) * inner(y), x0, x_target,
                                    points=[0], limit=200)[0]


@pytest.mark.parametrize("eps", [0.05, 0.02, 0.005])
def test_exit_time_of_a_separable_problem_is_the_one_dimensional_integral(eps):
    # The y direction (an OU process) does not change the time to reach
    # x = 0.5: tau = the 1D formula, at V / eps = 10, 25 and 100.
    sde = hjqp.SDE.gradient(lambda x: np.stack([x[..., 0] * (x[..., 0] ** 2 - 1), x[..., 1]], -1), 1.0)
    exact = exit_time_1d(-1.0, eps)
    errors = []
    for n in (81, 161):
        r = hjqp.mean_first_passage(sde, grid(n, 21), eps, hjqp.Box((0.5, -5), (5, 5)))
        errors.append(abs(r([-1.0, 0.0]) / exact - 1))
        assert np.ptp(r.values[r.grid.nearest_node((-1.0, 0.0))[0]]) < 1e-9 * exact  # no y dependence
    assert math.log2(errors[0] / errors[1]) > 1.75
    # Second order with a constant ~ h^2 / eps: 2.3 % at V / eps = 25, h = 1/40.
    assert errors[1] < 1.6 * 0.5 / eps * (4 / 160) ** 2


def test_exit_time_from_the_disk_matches_the_radial_formula_and_monte_carlo():
    disk = hjqp.Ball((0, 0), 1.0)
    g = hjqp.Grid((-1.1, -1.1), (1.1, 1.1), (161, 161))
    eps = 0.3
    # mu = 1: a radial diffusion, tau(0) = int_0^1 s'(y) M(y) dy.
    tau = hjqp.mean_first_passage(hjqp.models.example_3_1(1.0).sde, g, eps, domain=disk)
    exact = integrate.quad(lambda y: math.exp(2 * y * y / eps) / y * (1 - math.exp(-2 * y * y / eps)) / 2, 0, 1)[0]
    assert tau([0.0, 0.0]) == pytest.approx(exact, rel=3e-4)
    # mu = 0.5 (anisotropic): against Monte Carlo (Gobet-Menozzi corrected).
    sde = hjqp.models.example_3_1(0.5).sde
    tau = hjqp.mean_first_passage(sde, g, eps, domain=disk)
    mc = hjqp.exit_times(sde, (0, 0), disk, eps, 0.002, 2000, seed=3,
                         grid=hjqp.Grid((-1.2, -1.2), (1.2, 1.2), (241, 241))).mean()
    assert mc.contains(float(tau([0.0, 0.0]))), (mc, tau([0.0, 0.0]))
    assert np.all(tau.values[~tau.target] > 0) and np.all(tau.values[tau.target] == 0)


def test_committor_of_a_symmetric_problem_is_one_half_on_the_mirror_line():
    problem = hjqp.models.maier_stein(1.0)
    g = problem.grid(71)
    # (radii that put no node on the balls' boundaries, where rounding of
    # the nodes' coordinates would break the symmetry)
    q = hjqp.committor(problem.sde, g, 0.1, hjqp.Ball((-1, 0), 0.22), hjqp.Ball((1, 0), 0.22))
    assert q([[0.0, 0.0], [0.0, 0.5]]) == pytest.approx([0.5, 0.5], abs=1e-9)
    assert np.all(q.values[q.A] == 0) and np.all(q.values[q.B] == 1)
    assert np.all((q.values >= 0) & (q.values <= 1))
    assert q([-0.5, 0.0]) < 0.05 and q([0.5, 0.0]) > 0.95


def test_milestone_occupancy_of_a_symmetric_problem_is_even_and_sums_to_one():
    problem = hjqp.models.maier_stein(2.0)
    r = hjqp.fokker_planck(problem.sde, problem.grid(71), 0.2)
    occ = r.milestone_occupancy(problem.attractors, 0.33)
    assert occ == pytest.approx([0.5, 0.5], abs=1e-9)
    x = r.grid.points()[..., 0]
    basins = np.where(x < 0, 0, np.where(x > 0, 1, -1))  # (the mirror line in neither)
    occ = r.occupancy(basins)
    assert occ[0] == pytest.approx(occ[1], abs=1e-12) and 0.45 < occ[0] < 0.5


def test_mean_passage_time_is_exact_where_a_plain_lu_fails():
    # V / eps = 50: the pinned solve against the one-dimensional integral
    # (without pins the LU's last pivot would carry an error ~ exp(50) 1e-16).
    sde = hjqp.SDE.gradient(lambda x: np.stack([x[..., 0] * (x[..., 0] ** 2 - 1), x[..., 1]], -1), 1.0)
    r = hjqp.mean_first_passage(sde, grid(161, 11), 0.01, hjqp.Box((0.5, -5), (5, 5)), attractors=[[-1, 0]])
    assert r([-1.0, 0.0]) == pytest.approx(exit_time_1d(-1.0, 0.01), rel=0.06)


def test_bad_input_is_named():
    g = grid(21)
    with pytest.raises(ValueError, match="either target"):
        hjqp.mean_first_passage(double_well(), g, 0.1)
    with pytest.raises(ValueError, match="no node"):
        hjqp.mean_first_passage(double_well(), g, 0.1, hjqp.Ball((5, 5), 0.1))
    with pytest.raises(ValueError, match="boolean mask"):
        hjqp.mean_first_passage(double_well(), g, 0.1, np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="eps"):
        hjqp.fokker_planck(double_well(), g, -1)
    with pytest.raises(TypeError, match="hjqp.SDE"):
        hjqp.fokker_planck(hjqp.models.jump_detailed_balance().sde, g, 0.1)
    with pytest.raises(ValueError, match="overlap"):
        hjqp.committor(double_well(), g, 0.1, hjqp.Ball((0, 0), 0.5), hjqp.Ball((0.1, 0), 0.5))
