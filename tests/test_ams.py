"""Adaptive multilevel splitting: against brute-force Monte Carlo where both
run (p ~ 1e-2 .. 1e-3), against exact one-dimensional committors and the
backward Kolmogorov mean passage times where brute force cannot (V / eps up
to 25), on the SDE, minibatch SGD and jump-process engines; seeded
reproducibility. Statistical checks use fixed seeds and intervals that
combine both estimates' standard errors."""

import math

import numpy as np
import pytest
from scipy import integrate

import hjqp
from hjqp.sgd import MinibatchSGD

A = hjqp.Box((-10, -10), (-1, 10))  # x < -1
B = hjqp.Box((0.5, -10), (10, 10))  # x > 0.5
BETWEEN = hjqp.Box((-1, -2.9), (0.5, 2.9))  # (inside the grid, for the kernel's engine)


def V(x):
    return 0.25 * (x * x - 1) ** 2


def double_well():
    """dx = -V'(x) dt + sqrt(eps) dW1, dy = -y dt + sqrt(eps) dW2."""
    return hjqp.SDE.gradient(lambda x: np.stack([x[..., 0] * (x[..., 0] ** 2 - 1), x[..., 1]], -1), 1.0)


def xi(points):
    return points[..., 0]


GRID = hjqp.Grid((-3, -3), (3, 3), (241, 241))


def committor_1d(x, eps, a=-1.0, b=0.5):
    """P(reach b before a) from x for dx = -V'(x) dt + sqrt(eps) dW."""
    def s(z):
        return math.exp(2 * (V(z) - V(0)) / eps)

    return integrate.quad(s, a, x)[0] / integrate.quad(s, a, b)[0]


def agree(a, b, se_a, se_b, z=2.6):
    """|a - b| within z combined standard errors (z = 2.6: 99 %)."""
    return abs(a - b) <= z * math.hypot(se_a, se_b)


def standard_error(splitting):
    return float(np.std(splitting.estimates, ddof=1) / math.sqrt(len(splitting.estimates)))


def test_ams_agrees_with_brute_force_monte_carlo():
    eps, dt, x0 = 0.1, 0.01, (-0.8, 0.0)
    r = hjqp.stochastic.ams(double_well(), x0, A, B, xi, eps=eps, dt=dt, n_replicas=100, k=10, n_runs=10, seed=1,
                            grid=GRID)
    exits = hjqp.exit_times(double_well(), x0, BETWEEN, eps, dt, 20000, seed=2, grid=GRID, correction=False)
    hits = exits.positions[:, 0] > 0
    p_mc = hits.mean()
    assert 1e-3 < p_mc < 1e-2
    assert agree(r.probability.value, p_mc, standard_error(r), math.sqrt(p_mc * (1 - p_mc) / len(hits)))
    assert r.probability.contains(committor_1d(-0.8, eps)) or agree(r.probability.value, committor_1d(-0.8, eps),
                                                                    standard_error(r), 0)


@pytest.mark.parametrize("eps", [0.05, pytest.param(0.025, marks=pytest.mark.slow)])
def test_ams_agrees_with_the_exact_committor_where_brute_force_cannot(eps):
    # p = 4e-5 and 3e-9 (V / eps = 10 and 20 from the well's bottom).
    r = hjqp.stochastic.ams(double_well(), (-0.8, 0.0), A, B, xi, eps=eps, dt=0.005, n_replicas=60, k=10,
                            n_runs=8, seed=3, grid=GRID)
    exact = committor_1d(-0.8, eps)
    assert exact < 1e-4
    # Euler-Maruyama's discrete monitoring at dt = 0.005 biases p by a few %.
    assert agree(r.probability.value, exact, standard_error(r), 0.05 * exact), (r.probability, exact)
    assert np.all(r.estimates > 0) and np.all(r.iterations > 5)


def test_same_seed_same_numbers_and_another_seed_others():
    kw = dict(eps=0.1, dt=0.01, n_replicas=20, k=4, n_runs=3, grid=GRID)
    a = hjqp.stochastic.ams(double_well(), (-0.8, 0.0), A, B, xi, seed=11, **kw)
    b = hjqp.stochastic.ams(double_well(), (-0.8, 0.0), A, B, xi, seed=11, **kw)
    c = hjqp.stochastic.ams(double_well(), (-0.8, 0.0), A, B, xi, seed=12, **kw)
    assert np.array_equal(a.estimates, b.estimates) and a.steps == b.steps
    assert not np.array_equal(a.estimates, c.estimates)


def test_rate_agrees_with_the_backward_kolmogorov_mean_passage_time():
    # The mean time from x = -1 to x = 0.5 at V / eps = 10 (barrier 1/2 in U):
    # AMS x loops against the solve of L tau = -1 (exact to 1e-3 here).
    eps = 0.05
    tau = hjqp.mean_first_passage(double_well(), hjqp.Grid((-2.5, -2), (2.5, 2), (201, 41)), eps, B)
    rate = hjqp.stochastic.ams_rate(double_well(), (-1.2, 0.0), A, B, xi, -0.8, eps=eps, dt=0.01, n_loops=200,
                                    n_replicas=50, k=10, n_runs=8, seed=4, grid=GRID)
    predicted = float(tau([-1.0, 0.0]))
    m = rate.mean_time
    se = (math.log(m.high) - math.log(m.low)) / (2 * 1.96)
    assert abs(math.log(m.value / predicted)) < 2.6 * math.hypot(se, 0.03), (m, predicted)
    assert rate.rate.value == pytest.approx(1 / m.value)
    assert rate.steps > rate.metadata["brute_force_steps"] > 0


def sgd_double_well(spread=1.0):
    """Minibatch SGD on four samples whose mean loss is the double well
    V(x) + y^2 / 2: gradients shifted by (+-s, +-s), so D = s^2 I."""
    shifts = spread * np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)

    def gradients(x, idx):
        x = np.asarray(x, dtype=float)
        g = np.stack([x[..., 0] * (x[..., 0] ** 2 - 1), x[..., 1]], axis=-1)
        return g[..., None, :] + shifts[idx]

    return MinibatchSGD(gradients, 4)


def test_ams_on_minibatch_sgd_agrees_with_brute_force():
    sgd = sgd_double_well()
    engine = sgd.engine(0.1)  # eps = 0.1, D = I
    x0 = (-0.8, 0.0)
    r = hjqp.stochastic.ams(engine, x0, A, B, xi, n_replicas=60, k=10, n_runs=8, seed=5)
    exits = sgd.exit_times(x0, BETWEEN, 0.1, 6000, seed=6)
    hits = exits.positions[:, 0] > 0
    p_mc = hits.mean()
    assert 1e-3 < p_mc < 3e-2
    assert agree(r.probability.value, p_mc, standard_error(r), math.sqrt(p_mc * (1 - p_mc) / len(hits)))
    assert r.engine == "sgd" and r.dt == 0.1


def test_ams_on_a_jump_process_agrees_with_brute_force():
    # Schlogl's network at volume 8: from near the low state to the high one.
    problem = hjqp.models.schlogl_2d(volume=8.0)
    net, grid = problem.sde, hjqp.Grid((0.05, 0.05), (12.0, 12.0), (10, 10))  # (the box of copy numbers)
    low, high = hjqp.Ball((1, 1), 0.45), hjqp.Ball((3, 3), 0.6)

    def diagonal(p):
        return p[..., 0] + p[..., 1]

    x0 = (1.5, 1.5)
    r = hjqp.stochastic.ams(net, x0, low, high, diagonal, eps=1 / 8, dt=0.05, grid=grid, n_replicas=50, k=5,
                            n_runs=8, seed=7)
    # Brute force: paths from x0 until they enter either ball.
    hits = []
    paths = hjqp.simulate(net, x0, 1 / 8, 0.05, 200, 1500, seed=8, grid=grid).paths
    for path in paths:
        ends = np.flatnonzero(low.contains(path) | high.contains(path))
        assert len(ends), "a brute-force path reached neither ball"
        hits.append(high.contains(path[ends[0]]))
    p_mc = float(np.mean(hits))
    assert 3e-3 < p_mc < 0.2
    assert agree(r.probability.value, p_mc, standard_error(r), math.sqrt(p_mc * (1 - p_mc) / len(hits)))
    assert r.engine == "gillespie"


def test_bad_input_is_named():
    kw = dict(eps=0.1, dt=0.01, n_runs=1)
    with pytest.raises(ValueError, match="lies in A"):
        hjqp.stochastic.ams(double_well(), (-1.5, 0.0), A, B, xi, **kw)
    with pytest.raises(ValueError, match="k must be below"):
        hjqp.stochastic.ams(double_well(), (-0.8, 0.0), A, B, xi, n_replicas=5, k=5, **kw)
    with pytest.raises(ValueError, match="needs eps= and dt="):
        hjqp.stochastic.ams(double_well(), (-0.8, 0.0), A, B, xi)
    with pytest.raises(TypeError, match="B must be"):
        hjqp.stochastic.ams(double_well(), (-0.8, 0.0), A, 3, xi, **kw)
    with pytest.raises(ValueError, match="finite wherever"):
        hjqp.stochastic.ams(double_well(), (-0.8, 0.0), A, B, lambda p: np.full(p.shape[:-1], np.nan), **kw)


def test_verify_compares_splitting_with_the_backward_kolmogorov_time():
    # Maier-Stein (beta = 3, non-gradient) at V / eps = 10: one row, AMS's
    # interval around the backward Kolmogorov mean passage time.
    problem = hjqp.models.maier_stein(3.0)
    land = hjqp.landscape(problem.sde, problem.grid(71))
    eps = land.costs[0, 1] / 10
    rows = hjqp.verify.splitting_times(problem.sde, land, 0, 1, [eps], 0.01, seed=3, n_loops=100, n_replicas=40,
                                       n_runs=6)
    (row,) = rows
    assert row.agrees, hjqp.verify.table(rows)
    assert "AMS" in row.note and row.predicted > 1e3
