"""Prefactors of rates and exit times (docs/prefactors.md): the classical
Eyring-Kramers law, Bouchet and Reygner's non-gradient formula, the term a
position-dependent diffusion adds, exits through a boundary, the cases the
theory excludes, and Monte Carlo at V / eps = 4..8."""

import math
import warnings

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid, solve_ivp

import hjqp
from hjqp import models
from hjqp.landscape import PrefactorWarning, log_mean_passage_time
from hjqp.landscape.prefactors import _Local
from hjqp.models.exact import rotated_spd
from hjqp.report.bench import PREFACTOR_PROBLEMS, prefactor_ratios


def quiet_landscape(sde, grid, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return hjqp.landscape(sde, grid, **options)


def mean_passage_1d(U1, D1, a, b, eps, lower=-3.0, n=200_001):
    """Exact mean first passage time from a to b of the 1D Ito diffusion
    dx = -1/2 D1 U1' dt + sqrt(eps D1) dW (reflected far below a): the
    scale function exp(U1/eps) and the speed density 2 exp(-U1/eps) / (eps D1)."""
    z = np.linspace(lower, b, n)
    u = U1(z)
    inner = cumulative_trapezoid(2 / (eps * D1(z)) * np.exp(-(u - u.min()) / eps), z, initial=0)
    m = z >= a
    return float(np.trapezoid(np.exp((u[m] - u.min()) / eps) * inner[m], z[m]))


def crossing(land, source):
    (c,) = [c for c in land.prefactors().crossings if c.source == source]
    return c


# -- gradient systems: the classical Eyring-Kramers law ----------------------------------

def grad_f_curved(p):
    """f = (x^2 - 1)^2 / 4 + (1 + x^2 / 2) y^2 / 2: Hess f = diag(2, 3/2) at
    the wells, diag(-1, 1) at the saddle."""
    x, y = p[..., 0], p[..., 1]
    return np.stack([x**3 - x + 0.5 * x * y**2, (1 + 0.5 * x**2) * y], axis=-1)


@pytest.fixture(scope="module")
def curved_well():
    return quiet_landscape(hjqp.SDE.gradient(grad_f_curved), hjqp.Grid((-2, -1.2), (2, 1.2), (121, 73)))


def test_gradient_double_well_gives_the_eyring_kramers_prefactor(curved_well):
    # |lambda_-| / (2 pi) sqrt(det Hess f(x) / |det Hess f(z)|) = sqrt(3) / (2 pi), exponent 2 (f(z) - f(x)) = 1/2.
    exact = math.sqrt(3.0) / (2 * math.pi)
    for c in curved_well.prefactors().crossings:
        assert c.valid, c.reason
        assert c.unstable_eigenvalue == pytest.approx(1.0, rel=1e-6)
        assert c.hessian_ratio == pytest.approx(math.sqrt(3.0), rel=1e-6)
        assert abs(c.divergence) < 0.01  # l = 0: theta vanishes identically
        assert c.prefactor == pytest.approx(exact, rel=0.01)
        assert c.cost == pytest.approx(0.5, abs=1e-4)
    k = curved_well.rates(0.1)
    np.testing.assert_allclose(k[0, 1], exact * math.exp(-5.0), rtol=0.01)
    assert curved_well.mean_transition_time(0, 1, 0.1) == pytest.approx(1 / k[0, 1], rel=1e-12)


def test_eyring_kramers_converges_to_the_exact_one_dimensional_passage_time():
    # f = (x^2 - 1)^2 / 4 + y^2 / 2 separates: the x dynamics is exactly 1D.
    def grad_f(p):
        return np.stack([p[..., 0] ** 3 - p[..., 0], p[..., 1]], axis=-1)

    land = quiet_landscape(hjqp.SDE.gradient(grad_f), hjqp.Grid((-2, -1.2), (2, 1.2), (121, 73)))
    left = int(np.argmin(land.attractors[:, 0]))
    errors = []
    for eps in (0.1, 0.05, 0.025):
        exact = mean_passage_1d(lambda x: 0.5 * (x * x - 1) ** 2, np.ones_like, -1.0, 1.0, eps)
        errors.append(abs(land.mean_transition_time(left, 1 - left, eps) / exact - 1))
    # The prefactor's relative error is O(eps): 9 %, 4 %, 2 % here.
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.025
    assert errors[1] / errors[0] == pytest.approx(0.5, abs=0.12)


def test_stationary_law_with_prefactors_is_the_gibbs_law_of_a_tilted_gradient_system():
    # f = (x^2 - 1)^2 / 4 + x / 10 + (1 + 3x/10) y^2 / 2: different depths and
    # curvatures; pi_i -> exp(-2 f(x_i) / eps) / sqrt(det Hess f(x_i)).
    def grad_f(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([x**3 - x + 0.1 + 0.15 * y**2, (1 + 0.3 * x) * y], axis=-1)

    land = quiet_landscape(hjqp.SDE.gradient(grad_f), hjqp.Grid((-2, -1.2), (2, 1.2), (121, 73)))
    eps = 0.1
    pi = land.stationary(eps, prefactors=True)
    xs = land.attractors[:, 0]
    f = (xs**2 - 1) ** 2 / 4 + xs / 10
    det = (3 * xs**2 - 1) * (1 + 0.3 * xs)
    gibbs = np.exp(-2 * (f - f.min()) / eps) / np.sqrt(det)
    np.testing.assert_allclose(pi, gibbs / gibbs.sum(), rtol=0.02)
    # The leading-order chain (prefactors 1) misses the curvature ratio
    # sqrt(det Hess f(x_1) / det Hess f(x_2)) = 0.85 in the less likely well.
    small = int(np.argmin(pi))
    assert abs(land.stationary(eps)[small] / pi[small] - 1) > 0.1


# -- non-gradient drifts and position-dependent diffusion --------------------------------

def test_constant_rotation_gives_the_bouchet_reygner_prefactor():
    # b = -(I - A) grad f, A antisymmetric: U = 2 f, l = A grad f, div l = 0;
    # lambda_+ = sqrt(1 + a^2) for f = (x^2 - 1)^2 / 4 + y^2 / 2.
    a = 1.5

    def drift(p):
        g = np.stack([p[..., 0] ** 3 - p[..., 0], p[..., 1]], axis=-1)
        return -g + a * np.stack([g[..., 1], -g[..., 0]], axis=-1)

    land = quiet_landscape(hjqp.SDE(drift), hjqp.Grid((-2, -1.5), (2, 1.5), (161, 121)))
    exact = math.sqrt(1 + a * a) * math.sqrt(2.0) / (2 * math.pi)
    for c in land.prefactors().crossings:
        assert c.valid, c.reason
        assert c.unstable_eigenvalue == pytest.approx(math.sqrt(1 + a * a), rel=1e-6)
        assert abs(c.divergence) < 5e-3
        assert c.prefactor == pytest.approx(exact, rel=5e-3)


def test_position_dependent_diffusion_adds_the_divergence_of_d():
    # b = (-1/2 D1 U1', -y), D = diag(D1(x), 1), D1 = exp(0.4 x), U = (x^2 - 1)^2 + y^2:
    # C = D1(O) / D1(x) along the path, k = D1(O) sqrt(U1''(O) |U1''(z)|) / (4 pi).
    # Dropping the (div D) . grad U term would put D1(z) in place of D1(O).
    def drift(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([-2 * np.exp(0.4 * x) * x * (x * x - 1), -y], axis=-1)

    def diffusion(p):
        out = np.zeros(p.shape[:-1] + (2, 2))
        out[..., 0, 0] = np.exp(0.4 * p[..., 0])
        out[..., 1, 1] = 1.0
        return out

    land = quiet_landscape(hjqp.SDE(drift, diffusion), hjqp.Grid((-2, -1.5), (2, 1.5), (161, 121)))
    for c in land.prefactors().crossings:
        assert c.valid, c.reason
        x0 = land.attractors[c.source, 0]
        assert c.divergence == pytest.approx(-0.4 * x0, abs=0.01)  # ln D1(z) - ln D1(O)
        assert c.prefactor == pytest.approx(math.exp(0.4 * x0) * math.sqrt(32.0) / (4 * math.pi), rel=0.01)
    left = int(np.argmin(land.attractors[:, 0]))
    errors = []
    for eps in (0.2, 0.1, 0.05):
        exact = mean_passage_1d(lambda x: (x * x - 1) ** 2, lambda x: np.exp(0.4 * x), -1.0, 1.0, eps)
        errors.append(abs(land.mean_transition_time(left, 1 - left, eps) / exact - 1))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.02


def rotating_double_well():
    """A manufactured double well (DESIGN.md): U = (x^2 - 1)^2 + (y - 0.3 sin x)^2,
    D(x) anisotropic (condition 3) and turning with x and y, rotation
    rho = 0.5 (1 + sin(y) / 2): b = -1/2 D grad U + rho J grad U."""
    def potential(q):
        x, y = q[..., 0], q[..., 1]
        return (x * x - 1) ** 2 + (y - 0.3 * np.sin(x)) ** 2

    def gradient(q):
        x, y = q[..., 0], q[..., 1]
        w = y - 0.3 * np.sin(x)
        return np.stack([4 * x * (x * x - 1) - 0.6 * np.cos(x) * w, 2 * w], axis=-1)

    def diffusion(q):
        x, y = q[..., 0], q[..., 1]
        l1 = 1 + 0.25 * np.cos(x)
        return rotated_spd(0.4 * np.sin(x) + 0.3 * y, l1, l1 / 3)

    def rho(q):
        return 0.5 * (1 + 0.5 * np.sin(q[..., 1]))

    return models.manufactured(potential, gradient, diffusion, rho, attractor=(-1.0, -0.3 * math.sin(1.0)),
                               lower=(-1.8, -1.3), upper=(1.8, 1.3), name="rotating double well")


def exact_divergence_integral(problem, fields, attractor, saddle, direction):
    """int theta dt along the exact path x' = b + D grad U, with the exact
    Hess U, integrated backward from next to the saddle."""
    def hessian(x, s=1e-5):
        E = np.eye(2) * s
        g = problem.exact_gradient(np.concatenate([x + E, x - E]))
        H = (g[:2] - g[2:]).T / (2 * s)
        return 0.5 * (H + H.T)

    def rhs(s, y):
        x = y[:2]
        loc = _Local(fields, x[None], problem.exact_gradient(x[None]))
        speed = np.linalg.norm(loc.Hp[0])
        theta = np.trace(loc.A[0]) + 0.5 * np.trace(loc.D[0] @ hessian(x))
        return np.concatenate([-loc.Hp[0] / speed, [theta / speed]])

    def arrived(s, y):
        return np.linalg.norm(y[:2] - attractor) - 1e-4

    arrived.terminal = True
    sol = solve_ivp(rhs, (0, 30), np.concatenate([saddle + 1e-5 * direction, [0.0]]), events=arrived,
                    rtol=1e-9, atol=1e-11, max_step=0.02)
    return float(sol.y[2, -1])


def test_rotation_with_anisotropic_position_dependent_diffusion_matches_the_exact_path_integral():
    problem = rotating_double_well()
    grid = problem.grid(145)
    land = quiet_landscape(problem.sde, grid)
    fields = problem.sde.fields(grid)
    assert len(land.saddles) == 1
    z = land.saddles[0]
    J = land.info["saddle_jacobians"][0]
    w, v = np.linalg.eig(J)
    e = np.real(v[:, np.argmax(w.real)])
    for c in land.prefactors().crossings:
        assert c.valid, c.reason
        O = land.attractors[c.source]
        # Hess U at the saddle from the Lyapunov equation is the exact one.
        E = np.eye(2) * 1e-5
        g = problem.exact_gradient(np.concatenate([z + E, z - E]))
        np.testing.assert_allclose(c.hessians[1], (g[:2] - g[2:]).T / 2e-5, atol=1e-6)
        side = np.sign(e @ (O - z))
        exact = exact_divergence_integral(problem, fields, O, z, side * e)
        assert abs(exact) > 0.05  # a non-trivial correction
        assert c.divergence == pytest.approx(exact, abs=0.015)


def maier_stein_axis_integral(beta):
    """int theta dt on the axis from the Riccati equation of q = U_yy:
    (x^3 - x) q' = 2 (1 + x^2) q - q^2 - 4 beta x^2 (1 - x^2), theta = q/2 - 1 - x^2."""
    def rhs(x, y):
        q = y[0]
        den = x**3 - x
        return [(2 * (1 + x * x) * q - q * q - 4 * beta * x * x * (1 - x * x)) / den, (q / 2 - 1 - x * x) / den]

    s = 1e-7
    q1 = (-16 - 8 * beta) / 6  # q = 4 + q1 (x + 1) + ...
    sol = solve_ivp(rhs, (-1 + s, -s), [4 + q1 * s, 0.0], rtol=1e-11, atol=1e-13)
    return float(sol.y[1, -1])


@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_maier_stein_prefactor_matches_the_axis_riccati_equation(beta):
    problem = models.maier_stein(beta)
    land = quiet_landscape(problem.sde, problem.grid(141))
    reference = maier_stein_axis_integral(beta)
    for c in land.prefactors().crossings:
        assert c.valid, c.reason
        assert c.divergence == pytest.approx(reference, abs=0.01)
        # lambda_+ = 1, sqrt(det Hess U(O) / |det Hess U(z)|) = 2.
        assert c.prefactor == pytest.approx(math.exp(-reference) / math.pi, rel=0.01)


@pytest.mark.slow
def test_tilted_double_well_in_3d_gives_the_eyring_kramers_prefactor():
    # b = -grad V, D = I / 2: Hess V = diag(3x^2 - 1, 1, 1 + 0.3x), lambda_+ = |3 x_z^2 - 1|.
    problem = models.double_well_3d(0.1, 0.5)
    land = quiet_landscape(problem.sde, hjqp.Grid(problem.lower, problem.upper, (81, 49, 49)))

    def hess(x):
        return np.array([3 * x * x - 1, 1.0, 1 + 0.3 * x])

    for c in land.prefactors().crossings:
        assert c.valid, c.reason
        xo, xz = land.attractors[c.source, 0], land.saddles[c.saddle, 0]
        exact = abs(3 * xz * xz - 1) / (2 * math.pi) * math.sqrt(np.prod(hess(xo)) / abs(np.prod(hess(xz))))
        assert c.prefactor == pytest.approx(exact, rel=0.03)


# -- where the theory does not apply ---------------------------------------------------

def test_flat_loss_and_jumping_fields_give_nan_and_say_why():
    problem = models.example_4_1()
    land = quiet_landscape(problem.sde, problem.grid(101), supersample=4)
    with pytest.warns(PrefactorWarning, match="no index-1 saddle"):
        k = land.rates(0.2)
    assert np.isnan(k[0, 1]) and np.isnan(k[1, 0])
    assert "flat loss" in land.prefactors().reasons[(0, 1)]
    with pytest.warns(PrefactorWarning):
        assert np.isnan(land.mean_transition_time(0, 1, 0.2))
    with pytest.warns(PrefactorWarning):
        assert np.all(np.isnan(land.stationary(0.2, prefactors=True)))
    # The leading-order versions stay available.
    assert np.all(np.isfinite(land.rates(0.2, prefactors=False)))
    assert np.all(np.isfinite(land.stationary(0.2)))


def test_a_diffusion_that_jumps_on_the_path_gives_nan():
    def grad_f(p):
        return np.stack([p[..., 0] ** 3 - p[..., 0], p[..., 1]], axis=-1)

    def diffusion(p):
        return np.where(p[..., 0] < -0.5, 1.0, 1.5)

    land = quiet_landscape(hjqp.SDE.gradient(grad_f, diffusion), hjqp.Grid((-2, -1.2), (2, 1.2), (121, 73)),
                           supersample=4)
    left = int(np.argmin(land.attractors[:, 0]))
    c = crossing(land, left)
    assert not c.valid and "diffusion jumps" in c.reason
    with pytest.warns(PrefactorWarning, match="jumps"):
        assert np.isnan(land.rates(0.1)[left, 1 - left])


def test_maier_stein_beyond_beta_4_has_no_smooth_quasi_potential_at_the_saddle():
    problem = models.maier_stein(5.0)
    land = quiet_landscape(problem.sde, problem.grid(141))
    for c in land.prefactors().crossings:
        assert not c.valid
        assert "not smooth about the saddle" in c.reason


def test_jump_processes_have_no_prefactors():
    problem = models.toggle_switch()
    land = quiet_landscape(problem.sde, problem.grid(61))
    with pytest.raises(ValueError, match="jump Hamiltonian"):
        land.prefactors()


# -- the Markov chain ---------------------------------------------------------------------

def test_mean_passage_time_matches_a_linear_solve():
    rng = np.random.default_rng(3)
    K = rng.uniform(0.1, 2.0, size=(4, 4))
    np.fill_diagonal(K, 0.0)
    with np.errstate(divide="ignore"):
        logK = np.log(K)
    for start, target in ((0, 3), (2, 1)):
        others = [m for m in range(4) if m != target]
        G = K - np.diag(K.sum(axis=1))
        tau = np.linalg.solve(G[np.ix_(others, others)], -np.ones(len(others)))
        expected = tau[others.index(start)]
        assert math.exp(log_mean_passage_time(logK, start, target)) == pytest.approx(expected, rel=1e-12)
    # Two states: 1 / k; rates far beyond double precision stay exact on logarithms.
    L = np.array([[-np.inf, -2000.0], [-5.0, -np.inf]])
    assert log_mean_passage_time(L, 0, 1) == pytest.approx(2000.0)
    # Three wells in a row: the time to cross both barriers.
    L = np.array([[-np.inf, -800.0, -np.inf], [-1.0, -np.inf, -900.0], [-np.inf, -1.0, -np.inf]])
    assert log_mean_passage_time(L, 0, 2) == pytest.approx(800.0 + 900.0 - 1.0, abs=1e-9)


# -- exit through a boundary --------------------------------------------------------------

def test_exit_time_through_the_unit_circle_matches_the_closed_form():
    # Example 3.1, mu > 1: E tau = sqrt(pi eps (mu - 1)) / 4 exp(2 / (mu eps)).
    mu = 1.5
    problem = models.example_3_1(mu)
    grid = hjqp.Grid((-1.25, -1.25), (1.25, 1.25), (101, 101))
    qp = hjqp.local_quasipotential(problem.sde, grid, (0.0, 0.0))
    predicted = hjqp.mean_exit_time(qp, hjqp.Ball((0, 0), 1.0), 0.2)
    assert predicted.valid, predicted.reason
    assert sorted(np.round(np.abs(predicted.points[:, 0]), 6)) == [1.0, 1.0]
    for eps in (0.12, 0.2, 0.3):
        exact = math.sqrt(math.pi * eps * (mu - 1)) / 4 * math.exp(2 / (mu * eps))
        assert predicted.at(eps).value == pytest.approx(exact, rel=1e-3)


def test_exit_through_a_level_set_of_u_is_degenerate():
    problem = models.example_3_1(1.0)  # U = 2 |x|^2: the circle is a level set
    grid = hjqp.Grid((-1.25, -1.25), (1.25, 1.25), (101, 101))
    qp = hjqp.local_quasipotential(problem.sde, grid, (0.0, 0.0))
    predicted = hjqp.mean_exit_time(qp, hjqp.Ball((0, 0), 1.0), 0.2)
    assert not predicted.valid and math.isnan(predicted.value)
    assert "degenerate" in predicted.reason


# -- Monte Carlo ---------------------------------------------------------------------------

# The native engine interpolates the fields multilinearly between the nodes
# of its grid: they must resolve the wells (multiwell: |Db| ~ 20 there).
MC_BOX = {name: box for name, (_, _, box) in PREFACTOR_PROBLEMS.items()}


def monte_carlo_ratios(land, problem_name, sde, ratio, dt, n_paths, transitions, seed):
    return prefactor_ratios(land, sde, ratio, dt, n_paths, transitions, seed, MC_BOX[problem_name])


@pytest.fixture(scope="module")
def multiwell_landscape():
    problem = models.multiwell()
    return problem, quiet_landscape(problem.sde, problem.grid(161))


@pytest.fixture(scope="module")
def maier_stein_landscape():
    problem = models.maier_stein(2.0)
    return problem, quiet_landscape(problem.sde, problem.grid(141))


def test_rates_agree_with_monte_carlo_at_v_over_eps_4(multiwell_landscape, maier_stein_landscape):
    # A gross-error check: about 100 transitions per pair (+-20 %), and the
    # prefactor's own O(eps) correction at eps = V / 4, up to +30 % on
    # Maier-Stein (see below).
    for name, (problem, land) in (("multiwell", multiwell_landscape), ("maier_stein", maier_stein_landscape)):
        for pair, (r, lo, hi) in monte_carlo_ratios(land, name, problem.sde, 4, 0.005, 16, 100, 7).items():
            assert 0.6 < r < 1.65, (name, pair, r, lo, hi)


@pytest.mark.slow
@pytest.mark.parametrize("ratio, low, high", [(4, 0.7, 1.5), (6, 0.75, 1.35), (8, 0.8, 1.25)])
def test_rates_agree_with_monte_carlo_from_v_over_eps_4_to_8(ratio, low, high, multiwell_landscape,
                                                             maier_stein_landscape):
    # About 400 transitions per pair (+-10 %). The prefactor's own O(eps)
    # correction is 10-30 % at V / eps = 4-6 (Maier-Stein with beta = 1, where
    # the prefactor is exact: predicted / measured 1.15, 1.07, 0.97 at
    # V / eps = 4, 6, 8; with beta = 2: 1.16-1.3, 1.17, 1.05).
    for name, (problem, land) in (("multiwell", multiwell_landscape), ("maier_stein", maier_stein_landscape)):
        for pair, (r, lo, hi) in monte_carlo_ratios(land, name, problem.sde, ratio, 0.005, 32, 400, 11).items():
            assert low < r < high, (name, ratio, pair, r, lo, hi)


@pytest.mark.slow
def test_exit_time_of_example_3_1_agrees_with_monte_carlo():
    mu = 1.5
    problem = models.example_3_1(mu)
    grid = hjqp.Grid((-1.25, -1.25), (1.25, 1.25), (101, 101))
    qp = hjqp.local_quasipotential(problem.sde, grid, (0.0, 0.0))
    predicted = hjqp.mean_exit_time(qp, hjqp.Ball((0, 0), 1.0), 0.2)
    for eps in (0.3, 0.2, 0.15):
        ex = hjqp.exit_times(problem.sde, (0.0, 0.0), hjqp.Ball((0, 0), 1.0), eps, 0.002, 400, seed=5,
                             grid=grid, max_time=1e6)
        mean = ex.mean()
        # Within the 95 % interval widened by the O(eps) correction.
        value = predicted.at(eps).value
        assert mean.low * (1 - eps) < value < mean.high * (1 + eps), (eps, value, mean)


def test_demo_compares_predictions_and_monte_carlo_across_eps(tmp_path):
    from hjqp.report import demo

    summary = demo.run(str(tmp_path), log=lambda message: None, quick=True)
    report = (tmp_path / "report.md").read_text()
    assert "## Predictions against Monte Carlo across eps" in report
    assert "## Monte Carlo (eps = 0.2, dt = 0.01" in report
    assert "eps ln(pred / MC)" in report
    # Example 4.1 has a flat loss and noise that jumps: no prefactor is claimed, and the report says why.
    assert "prefactors do not apply here" in report and "no index-1 saddle" in report
    assert not summary["prefactors"]["valid"]
    sweep = summary["monte_carlo"]["sweep"]
    assert [item["eps"] for item in sweep] == list(demo.EPS_SWEEP)
    assert "agrees" not in report
    # The deterministic finite-eps column: the Fokker-Planck law's milestone occupancies, a distribution
    # whose share of O_1 falls as eps does (O_1 is the cheaper well to leave), and above the chain's
    # leading-order share, which lacks O_1's larger prefactor (its exit is through a flat region).
    assert "| eps | chain (leading order) |" in report and "Fokker-Planck in the interval" in report
    fp = np.array([item["fokker_planck_occupancy"] for item in sweep])
    assert np.allclose(fp.sum(axis=1), 1) and np.all(fp > 0)
    assert np.all(np.diff(fp[:, 0]) < 0)
    assert np.all(fp[:, 0] > np.array([item["predicted_occupancy"][0] for item in sweep]))


def test_verify_occupancy_uses_prefactors_where_they_apply(maier_stein_landscape):
    problem, land = maier_stein_landscape
    O = land.attractors
    run = hjqp.long_run(problem.sde, O[np.arange(8) % 2], 0.125, 0.01, 20_000, O, 0.5, 8, seed=2,
                        grid=MC_BOX["maier_stein"])
    rows = hjqp.verify.occupancy(land, run, prefactors=True)
    assert rows[0].note == "Markov chain with prefactors"
    assert rows[0].predicted == pytest.approx(0.5, abs=1e-3)
    assert hjqp.verify.occupancy(land, run)[0].note == "Markov chain, exponents only"
