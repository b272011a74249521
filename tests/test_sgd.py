"""Minibatch SGD: the SDE it approximates (eps, D) and its statistics
against the SDE's, on a quadratic loss where both are known exactly."""

import math

import numpy as np
import pytest
from scipy import linalg

import hjqp
from hjqp.sgd import MinibatchSGD

H = np.array([[2.0, 0.6], [0.6, 1.0]])
RNG = np.random.default_rng(0)
DATA = RNG.normal(size=(40, 2)) @ np.array([[1.0, 0.0], [0.8, 0.5]])


def quadratic(data=DATA):
    """f_i(x) = 1/2 (x - a_i)^T H (x - a_i): grad f_i = H (x - a_i)."""

    def gradients(x, idx):
        return (x[..., None, :] - data[idx]) @ H.T

    return MinibatchSGD(gradients, len(data), batch_size=4)


def test_covariance_matches_a_direct_computation():
    sgd = quadratic()
    x = np.array([[0.3, -0.2], [1.0, 2.0]])
    g = np.stack([(xi - DATA) @ H.T for xi in x])  # (2, n, d)
    direct = np.stack([np.cov(gi.T, bias=True) for gi in g])
    assert np.allclose(sgd.covariance(x), direct, atol=1e-12)
    assert np.allclose(sgd.gradient(x), g.mean(axis=1), atol=1e-12)
    # here D = H Cov(a) H whatever x
    assert np.allclose(direct[0], H @ np.cov(DATA.T, bias=True) @ H)


def test_eps_scales_with_eta_and_batch():
    n = len(DATA)
    sgd = quadratic()
    assert sgd.eps(0.1) == pytest.approx(0.1 / 4)
    wo = MinibatchSGD(sgd.gradients, n, batch_size=4, replace=False)
    assert wo.eps(0.1) == pytest.approx(0.1 / 4 * (n - 4) / (n - 1))
    assert MinibatchSGD(sgd.gradients, n, batch_size=8).eps(0.2) == pytest.approx(sgd.eps(0.1))
    with pytest.raises(ValueError, match="eta"):
        sgd.eps(0.0)
    with pytest.raises(ValueError, match="exceeds"):
        MinibatchSGD(sgd.gradients, n, batch_size=n + 1, replace=False)


@pytest.mark.parametrize("replace", [True, False])
def test_sgd_stationary_covariance(replace):
    # x_{k+1} = (I - eta H) x_k + eta H (abar - abar_B): its stationary
    # covariance solves S = A S A^T + eta^2 Var(abar_B) exactly, which is
    # Euler-Maruyama's for the SDE with eps = sgd.eps(eta), D = H Cov(a) H.
    sgd = MinibatchSGD(quadratic().gradients, len(DATA), batch_size=4, replace=replace)
    eta = 0.05
    abar = DATA.mean(0)
    D = sgd.covariance(abar)
    A = np.eye(2) - eta * H
    S = linalg.solve_discrete_lyapunov(A, sgd.eps(eta) * eta * D)
    n_paths = 4000
    p = sgd.simulate(abar, eta, 300, n_paths, seed=2, thin=300)
    x = p.paths[:, -1] - abar
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / n_paths)
    assert np.all(np.abs(np.cov(x.T) - S) < 4 * se)
    assert np.all(np.abs(x.mean(0)) < 4 * np.sqrt(np.diag(S) / n_paths))
    # and the SDE's continuous-time law (eps C with -H C - C H + D = 0) is
    # within the O(eta) difference of the two
    C = linalg.solve_continuous_lyapunov(-H, -D)
    assert np.allclose(S, sgd.eps(eta) * C, rtol=0.1)
    assert p.times[-1] == pytest.approx(300 * eta)


def test_sgd_and_its_sde_exit_alike():
    # Small eta: the exit time of SGD from a ball matches the SDE's (same eps,
    # same D, dt = eta) within the statistical error, both monitored at the
    # steps (SGD is discrete by nature: no boundary correction for either).
    sgd = quadratic()
    eta = 0.02
    abar = DATA.mean(0)
    dom = hjqp.Ball(abar, 0.25)
    a = sgd.exit_times(abar, dom, eta, 600, seed=1)
    b = hjqp.exit_times(sgd.sde(), abar, dom, sgd.eps(eta), eta, 600, seed=1, correction=False)
    ma, mb = a.mean(), b.mean()
    se = math.hypot(ma.high - ma.low, mb.high - mb.low) / (2 * 1.96)
    assert abs(ma.value - mb.value) < 4 * se, (ma, mb)
    assert not a.censored.any()


def test_sgd_runs_are_reproducible():
    sgd = quadratic()
    a = sgd.simulate([0, 0], 0.1, 50, 300, seed=7)
    b = sgd.simulate([0, 0], 0.1, 50, 300, seed=7)
    assert np.array_equal(a.paths, b.paths)
    run = sgd.long_run([0, 0], 0.1, 200, [DATA.mean(0)], 0.2, 10, seed=1)
    assert run.milestone_steps.sum() == 10 * 200
