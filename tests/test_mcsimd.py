"""The native Euler-Maruyama engine's vector paths (AVX2, chosen at run
time): a batch's normals are drawn four streams to a vector and, in 2D with
a constant diffusion, its steps are taken four lanes to a vector while three
quarters of its lanes or more run. They must give the same numbers, to the bit, as
one path at a time (a path alone in its batch takes the scalar steps), for
any seed, thread count, batch and split of the steps between calls; and the
engine must still be Euler-Maruyama (exact moments of the OU chain, the
exit time of Brownian motion from an interval). On a processor without AVX2
both sides of each comparison run the scalar code. Statistical tolerances
are a number of standard errors, stated in each test."""

import math

import numpy as np
import pytest
from scipy import linalg

import hjqp
from hjqp import _core
from hjqp.stochastic.euler_maruyama import GOBET_MENOZZI, native_fields

EPS, DT = 0.4, 0.01
J = np.array([[-1.0, 0.8], [-0.3, -1.5]])  # a non-normal linear drift
ROTATED = np.array([[1.2, 0.5], [0.5, 0.6]])  # a constant D whose Cholesky factor is not diagonal


def grid():
    return hjqp.Grid((-3, -3), (3, 3), (61, 61))


def linear_sde():
    return hjqp.SDE(lambda x: x @ J.T, ROTATED)


def nonlinear_sde():
    return hjqp.SDE(lambda x: np.stack([-x[..., 0] + 0.5 * x[..., 1] ** 2, -2.0 * x[..., 1]], axis=-1), ROTATED)


def varying_sde():
    # a diffusion that varies: the scalar steps throughout (the normals still in vectors)
    return hjqp.SDE(lambda x: -1.5 * x,
                    lambda x: (1.0 + 0.3 * x[..., 0, None, None] ** 2) * np.eye(2) + 0.2 * np.array([[0, 1], [1, 0]]))


def starts(n, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, size=(n, 2))


def store(native, x0, ids, seed, n0, n1, thin, threads):
    return _core.em_store2(native, x0, ids, EPS, DT, seed, n0, n1, thin, threads)


@pytest.mark.parametrize("make", [nonlinear_sde, varying_sde], ids=["constant_L", "varying_L"])
def test_a_path_in_a_full_batch_is_the_path_alone(make):
    # 19 paths: two full batches of 8 (vector steps) and one of 3 (scalar
    # steps); each path run alone (scalar steps, lane 0 of the generator)
    # must be the same to the bit, at every stored step.
    native = native_fields(make(), grid())
    n, steps, seed = 19, 600, 11
    x0 = starts(n)
    ids = np.arange(100, 100 + n, dtype=np.int64)
    together = store(native, x0, ids, seed, 0, steps, 1, 2)
    for p in range(n):
        alone = store(native, x0[p:p + 1], ids[p:p + 1], seed, 0, steps, 1, 1)
        np.testing.assert_array_equal(alone.samples[0], together.samples[p])
        np.testing.assert_array_equal(alone.ends[0], together.ends[p])


def test_the_engine_uses_each_paths_own_stream_in_every_lane():
    # With b = 0 and L = I every increment is sqrt(eps dt) z: the normals of
    # every lane are those of em_normals(seed, path id, block).
    sde = hjqp.SDE(lambda x: np.zeros_like(x), np.eye(2))
    native = native_fields(sde, hjqp.Grid((-30, -30), (30, 30), (31, 31)))
    n, steps, seed = 12, 300, 3
    ids = np.array([5, 0, 17, 2, 9, 40, 1, 3, 8, 6, 7, 4], dtype=np.int64)
    out = store(native, np.zeros((n, 2)), ids, seed, 0, steps + 1, 1, 1)
    z = np.diff(out.samples, axis=1) / math.sqrt(EPS * DT)
    for p in range(n):
        expected = _core.em_normals(seed, int(ids[p]), 0, 2 * steps).reshape(steps, 2)
        np.testing.assert_allclose(z[p], expected, rtol=0, atol=1e-9)


def test_same_seed_same_paths_whatever_the_thread_count():
    native = native_fields(nonlinear_sde(), grid())
    n, steps = 37, 400
    x0, ids = starts(n, 1), np.arange(n, dtype=np.int64)
    first = store(native, x0, ids, 5, 0, steps, 7, 1)
    for threads in (1, 2, 3, 8):
        again = store(native, x0, ids, 5, 0, steps, 7, threads)
        np.testing.assert_array_equal(again.samples, first.samples)
        np.testing.assert_array_equal(again.ends, first.ends)
    other = store(native, x0, ids, 6, 0, steps, 7, 2)
    assert not np.any(other.ends == first.ends)


def test_steps_split_between_calls_across_a_stream_block():
    # Streams are re-keyed every 2^16 steps and a call that starts within a
    # block replays its normals: the split run is the whole run, to the bit.
    native = native_fields(linear_sde(), grid())
    n, split, end, seed = 10, 65_000, 66_000, 21
    x0, ids = starts(n, 2), np.arange(n, dtype=np.int64)
    whole = store(native, x0, ids, seed, 0, end, 1000, 2)
    first = store(native, x0, ids, seed, 0, split, split, 2)
    second = store(native, first.ends, ids, seed, split, end, 1000, 2)
    np.testing.assert_array_equal(second.ends, whole.ends)
    np.testing.assert_array_equal(second.samples, whole.samples[:, split // 1000:])


@pytest.mark.parametrize("domain", [hjqp.Ball((0.1, 0.0), 1.0), hjqp.Box((-1.0, -0.8), (1.2, 0.9))],
                         ids=["ball", "box"])
def test_exits_in_a_batch_are_the_exits_alone(domain):
    # Lanes leave the vector steps as their paths exit (the batch goes on
    # with the scalar steps once more than a quarter of its lanes have
    # stopped, and draws only the running lanes' normals once three or
    # fewer run).
    native = native_fields(nonlinear_sde(), grid())
    n, steps, seed = 24, 5000, 8
    x0, ids = starts(n, 3) * 0.5, np.arange(n, dtype=np.int64)
    shift = GOBET_MENOZZI * math.sqrt(EPS * DT)
    spec = domain.kernel_spec(grid())
    together = _core.em_exit2(native, x0, ids, EPS, DT, seed, 0, steps, shift=shift, threads=2, **spec)
    assert np.sum(together.stops == _core.PathStop.EXITED) > n // 2
    for p in range(n):
        alone = _core.em_exit2(native, x0[p:p + 1], ids[p:p + 1], EPS, DT, seed, 0, steps, shift=shift,
                               threads=1, **spec)
        assert alone.steps[0] == together.steps[p]
        assert alone.stops[0] == together.stops[p]
        np.testing.assert_array_equal(alone.ends[0], together.ends[p])


def test_long_run_tallies_in_a_batch_are_the_tallies_alone():
    native = native_fields(nonlinear_sde(), grid())
    n, steps, seed = 9, 20_000, 4
    x0, ids = starts(n, 4), np.arange(n, dtype=np.int64)
    centers, radii = np.array([[0.0, 0.0], [1.0, 0.5]]), np.array([0.3, 0.3])

    def tally(x, i, threads):
        return _core.em_tally2(native, x, i, np.full(len(x), -1, np.int32), EPS, DT, seed, 0, steps, centers,
                               radii, histogram=True, threads=threads)

    together = tally(x0, ids, 2)
    for p in range(n):
        alone = tally(x0[p:p + 1], ids[p:p + 1], 1)
        np.testing.assert_array_equal(alone.milestones[0], together.milestones[p])
        np.testing.assert_array_equal(alone.transitions[0], together.transitions[p])
        np.testing.assert_array_equal(alone.ends[0], together.ends[p])


def test_ou_chain_has_its_exact_stationary_covariance():
    # x_{n+1} = A x_n + sqrt(eps dt) L z with A = I + dt J: the chain's
    # stationary covariance solves C = A C A^T + eps dt D exactly (no
    # time-step bias). 8192 paths after 1500 steps (decay exp(-1.5 * 15)):
    # each entry within 5 standard errors (SE of a sample covariance
    # sqrt((C_ii C_jj + C_ij^2) / n)), the mean within 5 SE of 0.
    native = native_fields(linear_sde(), hjqp.Grid((-4, -4), (4, 4), (81, 81)))
    n, steps = 8192, 1500
    out = store(native, np.zeros((n, 2)), np.arange(n, dtype=np.int64), 2024, 0, steps, steps, 2)
    assert np.all(out.stops == _core.PathStop.RUNNING)
    A = np.eye(2) + DT * J
    C = linalg.solve_discrete_lyapunov(A, EPS * DT * ROTATED)
    x = out.ends
    S = np.cov(x.T)
    se = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C ** 2) / n)
    assert np.all(np.abs(S - C) < 5 * se), (S, C)
    assert np.all(np.abs(x.mean(axis=0)) < 5 * np.sqrt(np.diag(C) / n))


def test_exit_time_of_brownian_motion_from_an_interval():
    # dx = sqrt(eps) dW from 0, exit from |x_1| < a (the box is wide in
    # x_2): E tau = a^2 / eps, sd(tau) = sqrt(2/3) a^2 / eps. Gobet-Menozzi
    # shift on, dt = 0.001 (bias O(dt)); 4000 paths: the mean within 4
    # standard errors plus 1 % for the scheme's bias.
    sde = hjqp.SDE(lambda x: np.zeros_like(x), np.eye(2))
    eps, dt, a, n = 1.0, 0.001, 1.0, 4000
    box = hjqp.Box((-a, -50.0), (a, 50.0))
    ex = hjqp.stochastic.exit_times(sde, [0.0, 0.0], box, eps, dt, n, seed=9,
                                    grid=hjqp.Grid((-2, -60), (2, 60), (41, 121)), threads=2)
    mean, sd = a * a / eps, math.sqrt(2.0 / 3.0) * a * a / eps
    assert abs(ex.times.mean() - mean) < 4 * sd / math.sqrt(n) + 0.01 * mean, ex.times.mean()
    assert np.allclose(np.abs(ex.positions[:, 0]), a, atol=1e-9)
