"""The jump march's support solves: steps to the support point of H's
second-order Taylor model (the Gaussian solution about the iterate),
warm-started from the node's solution in the nearest direction with its
exponentials, and the dual fallback stopped as soon as the optimality
conditions converge. What must hold: the same support points (against the
slow reference, also in the far, non-Gaussian directions against SGD's
drift where Newton's method on (p, mu) needed the dual), the same errors
and orders on the exact problems, and the dual fallback rarely needed."""

import numpy as np
import pytest

import hjqp
from hjqp import models
from hjqp.problem import jump_support

from helpers import orders
from test_jump import reference_support


def _sgd_sets(points):
    problem = models.iris_two_widths()
    H = problem.losses.sgd(1).hamiltonian()
    return H.weights_at(points), H.jumps_at(points), H.drift(points)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_support_against_sgds_drift_agrees_with_the_slow_reference():
    # Against the drift, far from the minima, SGD's 150 per-sample jumps
    # give exponents of tens: the old Newton iteration from the Gaussian
    # solution failed there and the dual fallback took 1-170 ms per point.
    rng = np.random.default_rng(18)
    x = np.column_stack([rng.uniform(-1.0, 7.0, 40), rng.uniform(0.0, 7.0, 40)])
    w, nu, b = _sgd_sets(x)
    v = -b / np.linalg.norm(b, axis=-1, keepdims=True)
    v = v + 0.3 * rng.normal(size=v.shape)  # around the uphill direction
    h, p = jump_support(w, nu, v)
    checked = 0
    for i in range(len(x)):
        if not np.isfinite(h[i]):
            continue
        expected, _ = reference_support(w[i], nu[i], v[i])
        if not expected < 1e3:
            continue
        checked += 1
        assert h[i] == pytest.approx(expected, rel=1e-7, abs=1e-9), i
        assert abs(np.sum(w[i] * np.expm1(nu[i] @ p[i]))) <= 1e-9 * np.sum(w[i])
    assert checked >= 25, checked


def test_sgds_own_hamiltonian_rarely_needs_the_dual_fallback():
    # Measured on 65^2 (iris_two_widths, from its first minimum): 499 of
    # 143,000 actions needed the dual fallback before the model's steps,
    # 197 after, with U on {U <= 5} unchanged to 1e-8, and the march's
    # time fell from 11.9 s to 1.0 s.
    problem = models.iris_two_widths()
    H = problem.losses.sgd(1).hamiltonian()
    qp = hjqp.local_quasipotential(H, problem.grid(65), problem.attractors[0])
    assert qp.info["dual"] < 300, qp.info["dual"]
    assert qp.info["supports"] / qp.info["accepted"] < 40


@pytest.mark.slow
@pytest.mark.parametrize("make, max_expected, rms_expected", [
    # Largest and RMS errors on {U <= 0.8} on 129^2 and 257^2 before these
    # changes (the same after them to four digits): orders 2.08, 1.85 and
    # 1.90, 1.92.
    (lambda: models.jump_cyclic(2), (1.055e-4, 2.503e-5), (3.286e-5, 9.085e-6)),
    (lambda: models.jump_detailed_balance(2, pairs=8), (8.350e-5, 2.240e-5), (3.385e-5, 8.970e-6)),
])
def test_exact_problems_keep_their_errors_and_second_order(make, max_expected, rms_expected):
    max_err, rms_err, max_order, rms_order = orders(make(), [129, 257], level=0.8)
    assert np.all(np.array(max_err) <= 1.01 * np.array(max_expected)), max_err
    assert np.all(np.array(rms_err) <= 1.01 * np.array(rms_expected)), rms_err
    assert max_order[-1] > 1.8 and rms_order[-1] > 1.8, (max_order, rms_order)
