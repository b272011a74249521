"""The simulation-engine protocol: a process written as a SteppingEngine
(one step rule) gets paths, first exits and long runs from the drivers, with
the seeds keyed per path and block whatever the chunking; the SDE and SGD
engines are instances of the same protocol."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import hjqp
from hjqp.sgd import MinibatchSGD
from hjqp.stochastic import Engine, SteppingEngine, run_exits, run_long, run_paths
from hjqp.stochastic.engine import BLOCK, block_rows
from hjqp.stochastic.euler_maruyama import NativeEulerMaruyama, NumpyEulerMaruyama, euler_maruyama


class AR1(SteppingEngine):
    """x_{n+1} = a x_n + s z_n, z_n standard normal in 2D: stationary law
    N(0, s^2 / (1 - a^2) I)."""

    name = "ar1"

    def __init__(self, a: float, s: float):
        self.a, self.s = a, s
        self.eps, self.dt = s * s, 1.0

    def draw(self, rngs, first, count):
        return block_rows(rngs, first, count, lambda g: g.standard_normal((BLOCK, 2)))

    def step(self, x, z):
        return self.a * x + self.s * z


def test_a_custom_engine_runs_through_the_drivers_with_exact_stationary_moments():
    engine = AR1(0.9, 0.3)
    paths = run_paths(engine, [1.0, -1.0], 200, 3000, seed=5, thin=100)
    assert paths.engine == "ar1" and paths.paths.shape == (3000, 3, 2)
    np.testing.assert_array_equal(paths.times, [0, 100, 200])
    var = 0.3**2 / (1 - 0.9**2)
    x = paths.paths[:, -1]
    n = len(x)
    assert np.all(np.abs(x.mean(0)) < 4 * np.sqrt(var / n))  # 0.9^200 of the start is left
    assert np.all(np.abs(x.var(0) - var) < 4 * var * np.sqrt(2 / n))


def test_a_custom_engine_gives_the_same_paths_whatever_the_chunks_and_executor():
    engine = AR1(0.8, 0.5)
    whole = run_paths(engine, np.zeros(2), 50, 700, seed=9)
    with ThreadPoolExecutor(2) as pool:
        split = run_paths(engine, np.zeros(2), 50, 700, seed=9, executor=pool, chunk=256)
    np.testing.assert_array_equal(whole.paths, split.paths)
    exits = run_exits(engine, np.zeros(2), hjqp.Ball((0, 0), 1.5), 700, seed=3, max_steps=500)
    with ThreadPoolExecutor(2) as pool:
        again = run_exits(engine, np.zeros(2), hjqp.Ball((0, 0), 1.5), 700, seed=3, max_steps=500, executor=pool,
                          chunk=300)
    np.testing.assert_array_equal(exits.times, again.times)
    assert exits.engine == "ar1" and not exits.corrected and exits.n_censored < 700
    # the exits lie on the circle
    done = ~exits.censored
    np.testing.assert_allclose(np.linalg.norm(exits.positions[done], axis=1), 1.5)


def test_a_custom_engine_long_run_counts_transitions_between_cores():
    engine = AR1(0.5, 1.0)
    cores = np.array([[-1.0, 0.0], [1.0, 0.0]])
    run = run_long(engine, cores[[0, 1]], 4000, cores, 0.5, 2, seed=1, burn_in=10)
    assert run.engine == "ar1" and run.milestone_steps.sum() == 2 * 4000
    counts = run.transition_counts()
    assert counts[0, 1] > 100 and counts[1, 0] > 100  # symmetric: both ways, often
    with pytest.raises(ValueError, match="counts no basins"):
        run_long(engine, cores[[0, 1]], 10, cores, 0.5, 2, seed=1, histogram=True, grid=hjqp.Grid((-3, -3), (3, 3), (5, 5)))


def test_the_sde_and_sgd_simulations_are_engines_of_the_protocol():
    sde = hjqp.SDE(lambda x: -x, 1.0)
    assert isinstance(euler_maruyama(sde, 0.1, 0.01, 2), NumpyEulerMaruyama)
    native = euler_maruyama(sde, 0.1, 0.01, 2, grid=hjqp.Grid((-3, -3), (3, 3), (31, 31)))
    assert isinstance(native, NativeEulerMaruyama) and isinstance(native, Engine)
    data = np.random.default_rng(0).normal(size=(20, 2))
    sgd = MinibatchSGD(lambda x, idx: x[..., None, :] - data[idx], 20, batch_size=2)
    engine = sgd.engine(0.1)
    assert isinstance(engine, SteppingEngine) and engine.eps == sgd.eps(0.1) and engine.dt == 0.1
    # the methods of MinibatchSGD are the drivers over its engine
    np.testing.assert_array_equal(sgd.simulate([0, 0], 0.1, 30, 10, seed=2).paths,
                                  run_paths(engine, [0, 0], 30, 10, seed=2).paths)
