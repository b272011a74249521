"""Monte Carlo: the generator, the schemes against exact moments and exit
times, reproducibility, the native engine against the exact one, the
estimators and bad input. Statistical tests use fixed seeds, and their
tolerances are a number of standard errors (stated in each test)."""

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import integrate, linalg, stats

import hjqp
import hjqp.stochastic.euler_maruyama
from hjqp import _core
from hjqp.stochastic.euler_maruyama import native_fields

# Linear SDE dx = J x dt + sqrt(eps) L dW with non-normal J and anisotropic D.
J = np.array([[-1.0, 3.0], [0.0, -2.0]])
D = np.array([[1.5, 0.4], [0.4, 0.3]])
EPS, DT = 0.3, 0.01


def linear_sde():
    return hjqp.SDE(lambda x: x @ J.T, D)


def wide_grid(n=161):
    return hjqp.Grid((-4, -4), (4, 4), (n, n))


def test_normals_are_standard_normal():
    z = _core.em_normals(12345, 7, 3, 1_000_000)
    n = len(z)
    assert abs(z.mean()) < 4 / math.sqrt(n)
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / n)
    assert abs(stats.skew(z)) < 4 * math.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 4 * math.sqrt(24 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # the tail beyond the ziggurat's base (r = 3.654) is sampled at its weight
    tail = np.mean(np.abs(z) > 3.6541528853610088)
    p = 2 * stats.norm.sf(3.6541528853610088)
    assert abs(tail - p) < 4 * math.sqrt(p / n)
    # streams differ by key
    assert not np.array_equal(z[:100], _core.em_normals(12345, 8, 3, 100))


def discrete_moments(x0, n):
    """Exact mean and covariance of the Euler-Maruyama chain after n steps."""
    A = np.eye(2) + DT * J
    Q = EPS * DT * D
    mean = np.linalg.matrix_power(A, n) @ x0
    cov = np.zeros((2, 2))
    for _ in range(n):
        cov = A @ cov @ A.T + Q
    return mean, cov


@pytest.mark.parametrize("engine", ["exact", "native"])
def test_linear_sde_moments_match_the_scheme_exactly(engine):
    # For linear b and constant D the multilinear interpolation is exact, so
    # both engines run the same chain; its moments follow in closed form.
    n_paths, n_steps = 4000, 150
    x0 = np.array([1.0, -0.5])
    grid = wide_grid() if engine == "native" else None
    p = hjqp.simulate(linear_sde(), x0, EPS, DT, n_steps, n_paths, seed=11, thin=50, grid=grid)
    assert p.paths.shape == (n_paths, 4, 2)
    assert np.allclose(p.times, [0, 0.5, 1.0, 1.5])
    mean, cov = discrete_moments(x0, n_steps)
    x = p.paths[:, -1]
    se_mean = np.sqrt(np.diag(cov) / n_paths)
    assert np.all(np.abs(x.mean(0) - mean) < 4 * se_mean)
    sample = np.cov(x.T)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n_paths)
    assert np.all(np.abs(sample - cov) < 4 * se_cov)


def test_stationary_covariance_is_the_discrete_lyapunov_solution():
    # Long native run from the attractor: the covariance of the scheme's
    # stationary law solves S = A S A^T + eps dt D (-> eps C, J C + C J^T + D = 0).
    A = np.eye(2) + DT * J
    S = linalg.solve_discrete_lyapunov(A, EPS * DT * D)
    C = linalg.solve_continuous_lyapunov(J, -D)
    assert np.allclose(S, EPS * C, rtol=0.03)  # the scheme's O(dt) bias
    n_paths = 20000
    p = hjqp.simulate(linear_sde(), [0, 0], EPS, DT, 800, n_paths, seed=5, thin=800, grid=wide_grid())
    x = p.paths[:, -1]
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / n_paths)
    assert np.all(np.abs(np.cov(x.T) - S) < 4 * se)


def ou_exit_time(a, eps):
    """E tau from 0 for dx = -x dt + sqrt(eps) dW leaving (-a, a):
    u(0) = (2/eps) int_0^a exp(s^2/eps) int_0^s exp(-r^2/eps) dr ds."""
    inner = lambda s: math.exp(s * s / eps) * integrate.quad(lambda r: math.exp(-r * r / eps), 0, s)[0]
    return 2 / eps * integrate.quad(inner, 0, a)[0]


@pytest.mark.parametrize("engine", ["exact", "native"])
def test_mean_exit_time_matches_the_closed_form(engine):
    # x: an OU process leaving (-1, 1); y: a fast OU far from its walls. The
    # Gobet-Menozzi shift removes the O(sqrt(dt)) bias of discrete
    # monitoring; what is left is o(sqrt(dt)), below the statistical error.
    eps, dt, n_paths = 0.5, 0.01, 4000
    sde = hjqp.SDE(lambda x: -x * np.array([1.0, 4.0]), 1.0)
    box = hjqp.Box((-1, -3), (1, 3))
    grid = hjqp.Grid((-1, -3), (1, 3), (41, 121)) if engine == "native" else None
    exact = ou_exit_time(1.0, eps)
    ex = hjqp.exit_times(sde, [0, 0], box, eps, dt, n_paths, seed=3, grid=grid)
    assert ex.n_censored == 0
    est = ex.mean(confidence=0.9999)  # ~4 standard errors
    assert est.contains(exact), (est, exact)
    # Exits leave through the x faces.
    assert np.allclose(np.abs(ex.positions[:, 0]), 1.0)
    # Without the correction the bias is many standard errors.
    raw = hjqp.exit_times(sde, [0, 0], box, eps, dt, n_paths, seed=3, grid=grid, correction=False)
    assert raw.mean().low > exact * 1.08


def test_native_and_exact_engines_agree_in_distribution():
    # A nonlinear drift and position-dependent D: the native engine samples
    # them on a fine grid (error O(h^2)), far below the statistical error.
    def drift(x):
        return np.stack([-x[..., 0] ** 3 + x[..., 1], -x[..., 1] - x[..., 0]], axis=-1)

    def diffusion(x):
        out = np.zeros(x.shape[:-1] + (2, 2))
        out[..., 0, 0] = 1 + 0.5 * np.sin(x[..., 1])
        out[..., 1, 1] = 0.5
        out[..., 0, 1] = out[..., 1, 0] = 0.2 * np.cos(x[..., 0])
        return out

    sde = hjqp.SDE(drift, diffusion)
    dom = hjqp.Ball((0, 0), 1.2)
    grid = hjqp.Grid((-1.3, -1.3), (1.3, 1.3), (261, 261))
    a = hjqp.exit_times(sde, [0.2, 0], dom, 0.4, 0.01, 3000, seed=1)
    b = hjqp.exit_times(sde, [0.2, 0], dom, 0.4, 0.01, 3000, seed=2, grid=grid)
    assert stats.ks_2samp(a.times, b.times).pvalue > 1e-3
    angle = lambda e: np.arctan2(e.positions[:, 1], e.positions[:, 0])
    assert stats.ks_2samp(angle(a), angle(b)).pvalue > 1e-3


def test_a_failed_chunk_drops_the_chunks_not_yet_started_on_the_executor():
    # They ran on the caller's executor after the call had raised (and after
    # Ctrl-C, whose KeyboardInterrupt ends the call the same way).
    calls = []
    ended = threading.Event()

    def drift(p):
        calls.append(1)
        if len(calls) > 1:
            ended.wait(10)  # no later chunk ends before the call has
        raise ArithmeticError("a drift that fails")

    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(ArithmeticError):
            hjqp.simulate(hjqp.SDE(drift), [0.5, 0], EPS, DT, 40, 16 * 256, seed=9, executor=pool, chunk=256)
        ended.set()
    assert len(calls) <= 2  # the one that failed, and one the single worker may have started


def test_seeds_fix_the_paths_whatever_the_chunking_executor_or_threads():
    sde = linear_sde()
    ref = hjqp.simulate(sde, [0.5, 0], EPS, DT, 40, 600, seed=9, thin=10)
    with ThreadPoolExecutor(3) as pool:
        par = hjqp.simulate(sde, [0.5, 0], EPS, DT, 40, 600, seed=9, thin=10, executor=pool, chunk=256)
    assert np.array_equal(ref.paths, par.paths)
    assert not np.array_equal(ref.paths, hjqp.simulate(sde, [0.5, 0], EPS, DT, 40, 600, seed=10, thin=10).paths)
    # the first paths do not depend on how many are run
    few = hjqp.simulate(sde, [0.5, 0], EPS, DT, 40, 300, seed=9, thin=10)
    assert np.array_equal(few.paths, ref.paths[:300])

    grid = wide_grid()
    n1 = hjqp.simulate(sde, [0.5, 0], EPS, DT, 200, 100, seed=9, grid=grid, threads=1)
    n2 = hjqp.simulate(sde, [0.5, 0], EPS, DT, 200, 100, seed=9, grid=grid, threads=2)
    with ThreadPoolExecutor(2) as pool:
        n3 = hjqp.simulate(sde, [0.5, 0], EPS, DT, 200, 100, seed=9, grid=grid, executor=pool, chunk=1)
    assert np.array_equal(n1.paths, n2.paths) and np.array_equal(n1.paths, n3.paths)

    dom = hjqp.Ball((0, 0), 1.0)
    e1 = hjqp.exit_times(sde, [0, 0], dom, EPS, DT, 500, seed=4, grid=grid, threads=1)
    e2 = hjqp.exit_times(sde, [0, 0], dom, EPS, DT, 500, seed=4, grid=grid, threads=2)
    assert np.array_equal(e1.times, e2.times) and np.array_equal(e1.positions, e2.positions)
    e3 = hjqp.exit_times(sde, [0, 0], dom, EPS, DT, 500, seed=4)
    with ThreadPoolExecutor(2) as pool:
        e4 = hjqp.exit_times(sde, [0, 0], dom, EPS, DT, 500, seed=4, executor=pool, chunk=256)
    assert np.array_equal(e3.times, e4.times)


def test_kernel_runs_split_anywhere_in_time_give_the_same_paths():
    # Random streams are keyed by (path, block of steps); a call that starts
    # inside a block replays it, so any split gives the same path.
    sde = linear_sde()
    native = native_fields(sde, wide_grid())
    x0 = np.zeros((10, 2))
    ids = np.arange(10, dtype=np.int64)
    n = int(_core.EM_STEP_BLOCK) + 5000
    whole = _core.em_store2(native, x0, ids, EPS, DT, 77, 0, n, 1, 2).samples
    for k in (1, 4097, int(_core.EM_STEP_BLOCK) - 1, int(_core.EM_STEP_BLOCK) + 3):
        a = _core.em_store2(native, x0, ids, EPS, DT, 77, 0, k, 1, 2)
        b = _core.em_store2(native, a.ends, ids, EPS, DT, 77, k, n, 1, 2)
        np.testing.assert_array_equal(np.concatenate([a.samples, b.samples], axis=1), whole)


def test_native_runs_split_in_time_give_the_same_paths(monkeypatch):
    # Long runs are advanced in slices; random streams are keyed by the
    # absolute step, so the slicing changes nothing.
    sde = linear_sde()
    grid = wide_grid()
    dom = hjqp.Ball((0, 0), 1.5)
    whole = hjqp.exit_times(sde, [0, 0], dom, EPS, DT, 64, seed=8, grid=grid)
    run = hjqp.long_run(sde, [0, 0], EPS, DT, 150_000, [[0, 0]], 0.2, 8, seed=8, grid=grid)
    monkeypatch.setattr(hjqp.stochastic.euler_maruyama, "_SLICE", 64 * 1000 + 17)
    sliced = hjqp.exit_times(sde, [0, 0], dom, EPS, DT, 64, seed=8, grid=grid)
    assert np.array_equal(whole.times, sliced.times)
    assert np.array_equal(whole.positions, sliced.positions)
    run2 = hjqp.long_run(sde, [0, 0], EPS, DT, 150_000, [[0, 0]], 0.2, 8, seed=8, grid=grid)
    assert np.array_equal(run.ends, run2.ends)
    assert np.array_equal(run.milestone_steps, run2.milestone_steps)


def test_censored_paths_are_reported_not_dropped():
    sde = hjqp.SDE(lambda x: -4 * x, 0.1)
    ex = hjqp.exit_times(sde, [0, 0], hjqp.Ball((0, 0), 1.0), 0.05, 0.01, 50, seed=1, max_time=2.0)
    assert ex.censored.all() and ex.n_censored == 50
    assert np.all(ex.times == 2.0) and np.isnan(ex.positions).all()
    with pytest.raises(ValueError, match="no path exited"):
        ex.mean()


def test_censored_mean_uses_the_exponential_law():
    # Exponential exits (a rare-event regime) with censoring: the estimate's
    # interval contains the uncensored mean of the same paths.
    prob = hjqp.models.example_3_1(1.9999)
    grid = hjqp.Grid((-1.1, -1.1), (1.1, 1.1), (111, 111))
    dom = hjqp.Ball((0, 0), 1.0)
    full = hjqp.exit_times(prob.sde, [0, 0], dom, 0.2, 0.01, 800, seed=2, grid=grid)
    cut = hjqp.exit_times(prob.sde, [0, 0], dom, 0.2, 0.01, 800, seed=2, grid=grid, max_time=30.0)
    assert 0 < cut.n_censored < 800
    assert np.array_equal(cut.times[~cut.censored], full.times[~cut.censored])
    assert cut.mean().contains(full.mean().value)


def test_example_3_1_barrier_fit_within_5_percent():
    # The paper's Example 3.1: V0 = 2 / max(mu, 2 - mu) on the unit circle,
    # fitted from ln E tau = a + V0/eps + (1/2) ln eps.
    from hjqp import verify

    for mu, eps in ((1.9999, [0.12, 0.15, 0.2, 0.25]), (0.5, [0.15, 0.2, 0.25, 0.3])):
        prob = hjqp.models.example_3_1(mu)
        grid = hjqp.Grid((-1.1, -1.1), (1.1, 1.1), (111, 111))
        fit = verify.exit_barrier(prob.sde, [0, 0], hjqp.Ball((0, 0), 1.0), eps, 0.01, 800, seed=1,
                                  U=prob.exact, grid=grid)
        exact = 2 / max(mu, 2 - mu)
        assert fit.predicted == pytest.approx(exact, rel=1e-6)
        assert abs(fit.V0.value - exact) < 0.05 * exact, (mu, fit.V0)


def test_exit_positions_concentrate_at_the_argmin_of_U():
    from hjqp import verify

    prob = hjqp.models.example_3_1(1.9999)
    grid = hjqp.Grid((-1.1, -1.1), (1.1, 1.1), (111, 111))
    dom = hjqp.Ball((0, 0), 1.0)
    ex = hjqp.exit_times(prob.sde, [0, 0], dom, 0.15, 0.01, 1000, seed=6, grid=grid)
    row = verify.exit_positions(ex, prob.exact, dom, radius=0.25)
    # argmin: (+-1, 0); the arcs within 0.25 of them hold 16% of the circle
    # (2 x 4 arcsin(0.125) / 2 pi), and nearly all exits.
    assert row.measured.low > 0.95
    assert "uniform on the boundary: 0.160" in row.note


def test_long_run_occupancy_matches_the_gibbs_measure():
    # b = -grad f, D = I: the stationary law is exp(-2 f / eps) / Z, so the
    # basin occupancy is a ratio of integrals. A tilted double well.
    def f(x):
        return (x[..., 0] ** 2 - 1) ** 2 + 0.3 * x[..., 0] + x[..., 1] ** 2

    def grad_f(x):
        return np.stack([4 * x[..., 0] * (x[..., 0] ** 2 - 1) + 0.3, 2 * x[..., 1]], axis=-1)

    sde = hjqp.SDE.gradient(grad_f)
    eps = 0.5
    grid = hjqp.Grid((-2.5, -2.5), (2.5, 2.5), (201, 201))
    xs = np.linspace(-3, 3, 3001)
    wx = np.exp(-2 * ((xs**2 - 1) ** 2 + 0.3 * xs) / eps)
    saddle = np.roots([4, 0, -4, 0.3])
    saddle = float(np.real(saddle[np.argmin(np.abs(saddle))]))
    left = integrate.trapezoid(np.where(xs < saddle, wx, 0), xs) / integrate.trapezoid(wx, xs)
    labels = np.where(grid.points()[..., 0] < saddle, 0, 1).astype(np.int32)
    wells = np.array([[-1.07, 0.0], [0.92, 0.0]])
    run = hjqp.long_run(sde, [-1, 0], eps, 0.005, 400_000, wells, 0.3, n_paths=32, seed=3,
                        burn_in=2000, basins=labels, grid=grid, histogram=True)
    occ = run.basin_occupancy(confidence=0.9999)
    # the O(dt) bias of the scheme's stationary law is well below the error here
    assert occ[0].contains(left), (occ[0], left)
    assert occ[1].contains(1 - left)
    # Milestone occupancy agrees with basin occupancy to the statistical error
    mil = run.occupancy()
    assert abs(mil[0].value - occ[0].value) < 3 * (mil[0].high - mil[0].low)
    # Each path alternates between the wells, so its counts differ by <= 1.
    n = run.transition_counts()
    assert n[0, 1] > 200
    assert np.all(np.abs(run.transitions[:, 0, 1] - run.transitions[:, 1, 0]) <= 1)
    # -eps ln rho follows 2 f (the quasi-potential up to a constant) where visited often
    from hjqp import verify

    U = 2 * f(grid.points())
    row = verify.density(run, U - U.min(), min_count=2000)
    assert row.measured.value < 0.08


def test_exact_engine_long_run_agrees_with_native():
    sde = linear_sde()
    centers = np.array([[0.0, 0.0]])
    a = hjqp.long_run(sde, [1, 1], EPS, DT, 300, centers, 0.3, n_paths=64, seed=1)
    b = hjqp.long_run(sde, [1, 1], EPS, DT, 300, centers, 0.3, n_paths=64, seed=1, grid=wide_grid())
    assert a.milestone_steps.sum() == b.milestone_steps.sum() == 64 * 300
    # time before the first visit of the core: same law
    assert stats.ks_2samp(a.milestone_steps[:, 0], b.milestone_steps[:, 0]).pvalue > 1e-3


def test_rates_have_poisson_intervals():
    run = hjqp.LongRun(np.zeros((2, 2)), np.ones(2), 0.1, 0.5, 100, 0,
                     np.array([[0, 60, 40]]), np.array([[[0, 3], [4, 0]]]), None, None, None,
                     np.zeros((1, 2)), np.zeros(1), 0, "test")
    rate, low, high = run.rates()
    assert rate[0, 1] == pytest.approx(3 / 30) and rate[1, 0] == pytest.approx(4 / 20)
    assert low[0, 1] == pytest.approx(stats.chi2.ppf(0.025, 6) / 2 / 30)
    assert high[0, 1] == pytest.approx(stats.chi2.ppf(0.975, 8) / 2 / 30)
    assert np.isnan(rate[0, 0])


def test_level_set_domains_match_balls():
    sde = linear_sde()
    grid = wide_grid(321)
    circle = hjqp.LevelSet(lambda x: np.linalg.norm(x, axis=-1) - 1.0, (-2, -2), (2, 2))
    ball = hjqp.Ball((0, 0), 1.0)
    for g in (None, grid):
        a = hjqp.exit_times(sde, [0, 0], circle, EPS, DT, 400, seed=2, grid=g)
        b = hjqp.exit_times(sde, [0, 0], ball, EPS, DT, 400, seed=2, grid=g)
        if g is None:
            assert np.array_equal(a.times, b.times)
            assert np.allclose(a.positions, b.positions, atol=1e-6)
        else:
            # sampled on the grid: the circle is polygonal to O(h^2)
            assert np.mean(a.times == b.times) > 0.95
            assert np.allclose(np.linalg.norm(a.positions, axis=1), 1, atol=2e-3)


def test_3d_native_and_exact():
    J3 = np.array([[-1.0, 2.0, 0.0], [0.0, -1.5, 1.0], [0.0, 0.0, -2.0]])
    D3 = np.diag([1.0, 0.5, 0.8])
    sde = hjqp.SDE(lambda x: x @ J3.T, D3)
    grid = hjqp.Grid((-3, -3, -3), (3, 3, 3), (31, 31, 31))
    x0 = np.array([0.5, 0.5, 0.5])
    A = np.eye(3) + 0.01 * J3
    mean = np.linalg.matrix_power(A, 100) @ x0
    for g in (None, grid):
        p = hjqp.simulate(sde, x0, 0.1, 0.01, 100, 3000, seed=1, thin=100, grid=g)
        cov = np.zeros((3, 3))
        for _ in range(100):
            cov = A @ cov @ A.T + 0.1 * 0.01 * D3
        se = np.sqrt(np.diag(cov) / 3000)
        assert np.all(np.abs(p.paths[:, -1].mean(0) - mean) < 4 * se)
    ex = hjqp.exit_times(sde, [0, 0, 0], hjqp.Box((-1, -1, -1), (1, 1, 1)), 0.5, 0.01, 200, seed=1, grid=grid)
    assert ex.n_censored == 0 and np.allclose(np.max(np.abs(ex.positions), axis=1), 1.0)


def test_paths_leaving_the_grid_raise():
    sde = hjqp.SDE(lambda x: np.ones_like(x), 0.1)
    with pytest.raises(ValueError, match="left the grid's box"):
        hjqp.simulate(sde, [0, 0], 0.1, 0.01, 1000, 4, seed=1, grid=hjqp.Grid((-1, -1), (1, 1), (21, 21)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(eps=0.0), "eps"),
    (dict(eps=-1.0), "eps"),
    (dict(dt=0.0), "dt"),
    (dict(dt=float("nan")), "dt"),
    (dict(n_paths=0), "n_paths"),
    (dict(n_paths=2.5), "n_paths"),
    (dict(x0=[3.0, 0.0]), "outside the domain"),
    (dict(x0=[0.0, 0.0, 0.0]), "3-dimensional"),
    (dict(x0=np.zeros((3, 2))), "x0 must have shape"),
    (dict(seed=-1), "seed"),
    (dict(max_time=0.0), "max_time"),
])
def test_bad_input_raises_value_error(kwargs, match):
    args = dict(sde=linear_sde(), x0=[0.0, 0.0], domain=hjqp.Ball((0, 0), 1.0), eps=0.1, dt=0.01,
                n_paths=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        hjqp.exit_times(**args)


def test_bad_simulate_input():
    sde = linear_sde()
    with pytest.raises(ValueError, match="outside the grid"):
        hjqp.simulate(sde, [5.0, 0.0], 0.1, 0.01, 10, grid=wide_grid())
    with pytest.raises(ValueError, match="thin"):
        hjqp.simulate(sde, [0.0, 0.0], 0.1, 0.01, 10, thin=0)
    with pytest.raises(ValueError, match="inside the grid's box"):
        hjqp.exit_times(sde, [0.0, 0.0], hjqp.Ball((0, 0), 5.0), 0.1, 0.01, 3, grid=wide_grid())
    with pytest.raises(ValueError, match="attractors"):
        hjqp.long_run(sde, [0.0, 0.0], 0.1, 0.01, 10, [0.0, 0.0], 0.1)
    with pytest.raises(ValueError, match="histogram"):
        hjqp.long_run(sde, [0.0, 0.0], 0.1, 0.01, 10, [[0.0, 0.0]], 0.1, histogram=True)
    arrays = hjqp.SDE(np.zeros((5, 5, 2)), 1.0)
    with pytest.raises(ValueError, match="grid="):
        hjqp.simulate(arrays, [0.0, 0.0], 0.1, 0.01, 10)


def test_transition_barriers_from_rates_match_the_landscape():
    # Tilted double well, D = I: U = 2 f, V_ij = 2 (f(saddle) - f(O_i)).
    # Rates counted in long runs at four eps, fitted with ln k = a - V/eps
    # (Eyring-Kramers: no power of eps through a saddle).
    from hjqp import verify

    def f(x):
        return (x[..., 0] ** 2 - 1) ** 2 + 0.3 * x[..., 0] + x[..., 1] ** 2

    def grad_f(x):
        return np.stack([4 * x[..., 0] * (x[..., 0] ** 2 - 1) + 0.3, 2 * x[..., 1]], axis=-1)

    sde = hjqp.SDE.gradient(grad_f)
    land = hjqp.landscape(sde, hjqp.Grid((-2, -1.5), (2, 1.5), (201, 151)))
    r = np.sort(np.real(np.roots([4, 0, -4, 0.3])))
    point = lambda x: np.array([x, 0.0])
    exact = {(0, 1): 2 * (f(point(r[1])) - f(point(r[0]))), (1, 0): 2 * (f(point(r[1])) - f(point(r[2])))}
    assert land.costs[0, 1] == pytest.approx(exact[0, 1], rel=1e-3)
    assert land.costs[1, 0] == pytest.approx(exact[1, 0], rel=1e-3)
    rows = verify.transition_barriers(sde, land, [0.35, 0.45, 0.6, 0.8], 0.005, 400_000, 32, seed=1,
                                      grid=hjqp.Grid((-2.5, -2.5), (2.5, 2.5), (201, 201)),
                                      confidence=0.99)
    assert len(rows) == 2
    for row in rows:
        assert row.agrees, row
        assert row.relative_error < 0.1, row


def test_dask_processes_give_the_serial_results():
    distributed = pytest.importorskip("distributed")
    sde = hjqp.SDE(lambda x: -x, 1.0)
    grid = hjqp.Grid((-3, -3), (3, 3), (61, 61))
    disk = hjqp.Ball((0, 0), 1.0)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        for g in (None, grid):
            a = hjqp.exit_times(sde, [0, 0], disk, 0.3, 0.01, 600, seed=2, grid=g)
            b = hjqp.exit_times(sde, [0, 0], disk, 0.3, 0.01, 600, seed=2, grid=g, executor=client, chunk=256)
            assert np.array_equal(a.times, b.times) and np.array_equal(a.positions, b.positions, equal_nan=True)


def test_progress_bars_do_not_change_results(capsys):
    sde = linear_sde()
    grid = wide_grid()
    dom = hjqp.Ball((0, 0), 1.0)
    a = hjqp.exit_times(sde, [0, 0], dom, EPS, DT, 100, seed=1, grid=grid)
    b = hjqp.exit_times(sde, [0, 0], dom, EPS, DT, 100, seed=1, grid=grid, progress=True)
    assert np.array_equal(a.times, b.times)
    r = hjqp.long_run(sde, [0, 0], EPS, DT, 1000, [[0, 0]], 0.2, 4, seed=1, grid=grid, progress=True)
    assert r.milestone_steps.sum() == 4000


# -- what the caller can change between calls ------------------------------------------

def test_native_engine_simulates_a_sigma_changed_in_place():
    # dx = -x dt + sqrt(eps) s dW: the stationary variance is eps s^2 / 2.
    # Fields sampled for the first sigma were once kept (keyed by id(sigma))
    # and simulated again for the second.
    sde = hjqp.SDE(lambda p: -p)
    grid = hjqp.Grid((-6, -6), (6, 6), (61, 61))
    sigma = np.eye(2)
    variances = []
    for s in (1.0, 3.0):
        sigma[:] = s * np.eye(2)
        paths = hjqp.simulate(sde, [0, 0], 0.1, 0.01, 300, 2000, seed=1, grid=grid, sigma=sigma).paths
        variances.append(paths[:, -1].var(axis=0))
    # 2000 paths: the sample variance is within 4 standard errors (sqrt(2/n)).
    np.testing.assert_allclose(variances[0], 0.05, rtol=4 * math.sqrt(2 / 2000))
    np.testing.assert_allclose(variances[1], 0.45, rtol=4 * math.sqrt(2 / 2000))


def test_native_engine_simulates_a_drift_whose_parameter_changed():
    rate = [1.0]
    sde = hjqp.SDE(lambda p: -rate[0] * p)
    grid = hjqp.Grid((-6, -6), (6, 6), (61, 61))
    first = hjqp.simulate(sde, [1, 1], 0.01, 0.01, 100, 8, seed=2, grid=grid).paths
    rate[0] = 2.0
    second = hjqp.simulate(sde, [1, 1], 0.01, 0.01, 100, 8, seed=2, grid=grid).paths
    fresh = hjqp.simulate(hjqp.SDE(lambda p: -2.0 * p), [1, 1], 0.01, 0.01, 100, 8, seed=2, grid=grid).paths
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(second, fresh)


def test_sde_keeps_its_own_copy_of_array_fields():
    grid = hjqp.Grid((-2, -2), (2, 2), (21, 21))
    drift = -grid.points()
    sde = hjqp.SDE(drift, 1.0)
    before = hjqp.simulate(sde, [0.5, 0.5], 0.01, 0.01, 50, 4, seed=3, grid=grid).paths
    drift *= 3.0  # the caller's array, not the SDE's
    after = hjqp.simulate(sde, [0.5, 0.5], 0.01, 0.01, 50, 4, seed=3, grid=grid).paths
    np.testing.assert_array_equal(before, after)
    with pytest.raises(ValueError, match="read-only"):
        sde.drift[0, 0, 0] = 1.0


# -- inputs both engines check alike ---------------------------------------------------

def asymmetric_diffusion(p):
    return np.broadcast_to(np.array([[1.0, 0.5], [0.0, 1.0]]), p.shape[:-1] + (2, 2))


@pytest.mark.parametrize("grid", [None, hjqp.Grid((-4, -4), (4, 4), (41, 41))], ids=["exact", "native"])
def test_both_engines_reject_an_asymmetric_diffusion(grid):
    sde = hjqp.SDE(lambda p: -p, asymmetric_diffusion)
    with pytest.raises(ValueError, match="not symmetric at (x = |grid node)"):
        hjqp.simulate(sde, [0, 0], 0.1, 0.01, 10, 4, seed=1, grid=grid)


@pytest.mark.parametrize("grid", [None, hjqp.Grid((-4, -4), (4, 4), (41, 41))], ids=["exact", "native"])
@pytest.mark.parametrize("sigma", [1j * np.eye(2), lambda p: 1j * np.broadcast_to(np.eye(2), p.shape + (2,))],
                         ids=["array", "callable"])
def test_complex_sigma_is_rejected(grid, sigma):
    with pytest.raises(TypeError, match="sigma.* must be real"):
        hjqp.simulate(hjqp.SDE(lambda p: -p), [0, 0], 0.1, 0.01, 10, 4, seed=1, grid=grid, sigma=sigma)


def test_complex_drift_is_rejected_by_the_exact_engine():
    with pytest.raises(TypeError, match="drift .*must be real"):
        hjqp.simulate(hjqp.SDE(lambda p: -p + 0j), [0, 0], 0.1, 0.01, 10, 4, seed=1)


@pytest.mark.parametrize("sde, sigma, message", [
    (hjqp.SDE(lambda p: np.where(p[..., :1] > -1, np.nan, -p)), None, r"drift is not finite at x = \(0, 0\)"),
    (hjqp.SDE(lambda p: -p, lambda p: -np.ones(p.shape[:-1])), None, r"diffusion c\(x\) is not positive"),
    (hjqp.SDE(lambda p: -p, lambda p: -np.broadcast_to(np.eye(2), p.shape[:-1] + (2, 2))), None,
     r"diffusion is not positive definite at x = \(0, 0\)"),
    (hjqp.SDE(lambda p: -p), lambda p: np.full(p.shape + (2,), np.nan), r"sigma is not finite at x = \(0, 0\)"),
    (hjqp.SDE(lambda p: -p), np.full((2, 2), np.nan), "sigma must be finite"),
], ids=["nan drift", "negative c", "negative D", "nan sigma callable", "nan sigma"])
def test_exact_engine_names_the_bad_field_not_a_divergence(sde, sigma, message):
    with pytest.raises(ValueError, match=message):
        hjqp.simulate(sde, [0, 0], 0.1, 0.01, 10, 4, seed=1, sigma=sigma)


def test_long_run_rejects_nan_attractor_centres():
    with pytest.raises(ValueError, match=r"attractors must be finite; row 0"):
        hjqp.long_run(linear_sde(), [0, 0], 0.1, 0.01, 10, [[np.nan, 0.0], [1.0, 1.0]], 0.1, 2, seed=1)


@pytest.mark.parametrize("grid", [None, hjqp.Grid((-3, -3), (3, 3), (61, 61))], ids=["exact", "native"])
def test_level_set_nan_inside_its_box_is_named(grid):
    # g is NaN on x > 0.3: paths there were neither inside nor outside and
    # never exited.
    domain = hjqp.LevelSet(lambda x: np.where(x[..., 0] > 0.3, np.nan, np.sum(x**2, axis=-1) - 1), (-2, -2),
                           (2, 2))
    with pytest.raises(ValueError, match=r"g of the level set .* is NaN at (x = |grid node)"):
        hjqp.exit_times(hjqp.SDE(lambda p: -p), [0, 0], domain, 0.5, 0.01, 20, seed=1, max_time=5, grid=grid)


def test_native_engine_checks_memory_before_sampling(monkeypatch):
    monkeypatch.setattr(hjqp._memory, "available_bytes", lambda: 10**6)

    def never(*args, **kwargs):
        raise AssertionError("sampled before the memory check")

    sde = hjqp.SDE(never)
    with pytest.raises(MemoryError, match="sampling the SDE on 201 x 201 nodes"):
        hjqp.simulate(sde, [0, 0], 0.1, 0.01, 10, 4, seed=1, grid=hjqp.Grid((-4, -4), (4, 4), (201, 201)))
