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


# -- the Gaussian mixture on real data ------------------------------------------------------

sklearn = pytest.importorskip("sklearn", reason="the iris data come from scikit-learn")


@pytest.mark.parametrize("learn_weight, widths", [(False, (0.9, 0.9)), (True, (0.9, 0.9)), (False, (0.5, 1.2)),
                                                  (True, (1.3, 0.4))])
def test_mixture_gradients_and_covariance_match_direct_computations(learn_weight, widths):
    from hjqp.sgd import GaussianMixture1D

    data = np.array([0.3, 1.1, 1.9, 4.0, 4.4, 5.2, 6.0])
    scale = widths[0] if widths[0] == widths[1] else widths
    model = GaussianMixture1D(data, scale=scale, weight=0.4, learn_weight=learn_weight)
    assert model.scales == widths
    x = np.array([[1.0, 4.5, 0.2], [3.0, 3.0, -0.5]])[:, :model.dim]
    # per-sample gradients against differences of the per-sample losses
    step = 1e-6
    g = model.gradients(x)
    for k in range(model.dim):
        e = np.zeros(model.dim)
        e[k] = step
        fd = (model.losses(x + e) - model.losses(x - e)) / (2 * step)
        np.testing.assert_allclose(g[..., k], fd, rtol=1e-7, atol=1e-9)
    # the losses themselves, from the densities
    p1 = 1 / (1 + np.exp(-x[0, 2])) if learn_weight else 0.4
    dens = lambda m, s: np.exp(-0.5 * ((data - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))  # noqa: E731
    np.testing.assert_allclose(model.losses(x[0]), -np.log(p1 * dens(x[0, 0], widths[0])
                                                            + (1 - p1) * dens(x[0, 1], widths[1])))
    # D: the covariance of the per-sample gradients (1/n), with the SGD's
    # sampled indices giving the same gradients
    sgd = model.sgd(batch_size=3)
    for xi, gi in zip(x, g):
        np.testing.assert_allclose(sgd.covariance(xi), np.cov(gi.T, bias=True), rtol=1e-12, atol=1e-15)
    idx = np.array([[0, 3, 3], [6, 1, 2]])
    np.testing.assert_allclose(model.gradients(x, idx), np.take_along_axis(g, idx[..., None], axis=1))


def test_mixture_covariance_is_singular_on_the_diagonal():
    from hjqp.sgd import GaussianMixture1D, iris_petal_lengths

    model = GaussianMixture1D(iris_petal_lengths())
    D = model.sgd().covariance(np.array([[2.0, 2.0], [3.758, 3.758], [5.0, 5.0]]))
    eig = np.linalg.eigvalsh(D)
    assert np.all(eig[:, 0] < 1e-12 * eig[:, 1])
    # with a learned weight the swapped parameters give the same loss and noise
    model = GaussianMixture1D(iris_petal_lengths(), learn_weight=True)
    x = np.array([1.3, 4.7, -0.4])
    swap = np.array([4.7, 1.3, 0.4])
    assert model.loss(x) == pytest.approx(model.loss(swap), rel=1e-14)
    P = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]])
    sgd = model.sgd()
    np.testing.assert_allclose(sgd.covariance(swap), P @ sgd.covariance(x) @ P.T, rtol=1e-12)


def test_iris_landscape_finds_the_newton_minima_and_saddle():
    problem = hjqp.models.iris_mixture(regularisation=1e-2)
    land = hjqp.landscape(problem.sde, problem.grid(121))
    np.testing.assert_allclose(land.attractors, problem.attractors, atol=1e-8)
    np.testing.assert_allclose(land.saddles, problem.saddles, atol=1e-8)
    assert np.all(np.isfinite(land.costs))
    # The fit with the heavier component on the two larger species, which
    # also has the lower loss, is the one the noise selects.
    assert land.selected == 0
    assert land.costs[0, 1] > land.costs[1, 0] > 0


def test_two_widths_model_has_definite_noise_and_the_newton_critical_points():
    problem = hjqp.models.iris_two_widths()
    model = problem.losses
    assert model.scales == (0.4, 1.0)
    with pytest.raises(ValueError, match="pair"):
        type(model)(model.data, scale=(0.4, 1.0, 2.0))
    # D is definite on the diagonal, where the common-width model's is singular
    diag = np.linspace(2.0, 5.0, 7)[:, None] * np.ones(2)
    eig = np.linalg.eigvalsh(model.sgd().covariance(diag))
    assert np.all(eig[:, 0] > 1e-3 * eig[:, 1])
    land = hjqp.landscape(problem.sde, problem.grid(101))
    np.testing.assert_allclose(land.attractors, problem.attractors, atol=1e-8)
    np.testing.assert_allclose(land.saddles, problem.saddles, atol=1e-8)
    # the cost V12 against the action of the transition path, integrated
    # from the SDE's own b and D: a path's action is at least the least one
    # (up to the grid's error), and this one is close to it
    action = hjqp.geometric_action(problem.sde, land.transition_path(0, 1))
    assert 0.995 * land.costs[0, 1] < action < 1.02 * land.costs[0, 1]
    # Newton's points are critical points of the loss: a minimum, a minimum
    # and a saddle by the Hessian's signs (from differences of the gradient)
    sgd = model.sgd()
    for point, negative in [(problem.attractors[0], 0), (problem.attractors[1], 0), (problem.saddles[0], 1)]:
        x = np.array(point)
        np.testing.assert_allclose(sgd.gradient(x), 0.0, atol=1e-10)
        H = np.array([(sgd.gradient(x + e) - sgd.gradient(x - e)) / 2e-6 for e in 1e-6 * np.eye(2)])
        assert np.sum(np.linalg.eigvalsh(0.5 * (H + H.T)) < 0) == negative
    # The narrow component on setosa has the lower loss
    assert model.loss(np.array(problem.attractors[0])) < model.loss(np.array(problem.attractors[1]))
    with pytest.raises(ValueError, match="narrow < wide"):
        hjqp.models.iris_two_widths(narrow=1.0, wide=0.5)


def test_fit_barriers_recovers_exact_arrhenius_rates():
    from hjqp.sgd import fit_barriers

    V = np.array([[0.0, 1.3], [0.7, 0.0]])
    rows = []
    for eps, n12 in [(0.2, 50), (0.25, 80), (0.3, 4), (0.4, 200)]:
        k = 0.3 * np.exp(-V / eps)
        rows.append({"dynamics": "sgd", "eps": eps, "rates": k.tolist(),
                     "transitions": [[0, n12], [100, 0]]})
    rows.append({"dynamics": "prediction", "eps": 0.2, "rates": None, "transitions": None})
    fits = {(b["i"], b["j"]): b for b in fit_barriers(rows)}
    assert set(fits) == {(0, 1), (1, 0)}
    assert fits[0, 1]["V"] == pytest.approx(1.3, rel=1e-10)
    assert fits[1, 0]["V"] == pytest.approx(0.7, rel=1e-10)
    assert fits[0, 1]["eps"] == [0.2, 0.25, 0.4]  # 4 transitions at eps = 0.3: left out
    # with at least 90 transitions, 1 -> 2 is seen at one eps only: no fit
    assert [(b["i"], b["j"]) for b in fit_barriers(rows, min_transitions=90)] == [(1, 0)]


def test_selection_study_writes_a_report(tmp_path):
    from hjqp.report.sgd import write_study
    from hjqp.sgd import isotropic, selection_study

    problem = hjqp.models.iris_two_widths()
    study = selection_study(problem, None, n_steps=300, n_paths=4, grid_nodes=61, gaussian=True,
                            own_grid_nodes=41)
    lands = study["landscapes"]
    # the isotropic counterfactual keeps the trace of D
    x = np.array([[2.0, 4.0], [3.0, 3.0]])
    D = problem.sde.diffusion(x)
    Di = isotropic(problem.sde).diffusion(x)
    np.testing.assert_allclose(np.trace(Di, axis1=-2, axis2=-1), np.trace(D, axis1=-2, axis2=-1))
    np.testing.assert_allclose(Di[..., 0, 1], 0.0)
    assert {r["dynamics"] for r in study["rows"]} == {
        "minibatch SGD", "Gaussian noise, anisotropic D", "Gaussian noise, isotropic D",
        "prediction, anisotropic D", "prediction, isotropic D", "prediction, SGD's own H"}
    for r in study["rows"]:
        assert sum(v[0] for v in r["occupancy"]) == pytest.approx(1.0)
    # default learning rates: V / eps = 5, 4.5, 4 for the cheapest transition
    direct = lands["anisotropic"]["landscape"].direct_costs
    assert sorted({r["eps"] for r in study["rows"]}) == pytest.approx(min(direct[0, 1], direct[1, 0])
                                                                       / np.array([5.0, 4.5, 4.0]))
    # the anisotropic noise selects the minimum with the higher loss, the
    # isotropic one the other, each beyond its grid error estimate
    assert lands["anisotropic"]["selected_set"] == [1]
    assert lands["isotropic"]["selected_set"] == [0]
    # SGD's own Hamiltonian raises both barriers well above the Gaussian
    # ones, to about 2.6 and 2.9 (a path-based minimum action computation;
    # measured here on 41^2: 2.56, 2.84); SGD's fitted rates give 3.2-3.5
    # and 2.5-2.9.
    own = lands["SGD's own"]["landscape"].direct_costs
    np.testing.assert_allclose([own[0, 1], own[1, 0]], [2.6, 2.9], atol=0.1)
    assert np.all(own[~np.eye(2, dtype=bool)] > direct[~np.eye(2, dtype=bool)] + 0.9)
    report = write_study(study, problem, str(tmp_path))
    assert "minibatch SGD" in report and "isotropic D" in report and "SGD's own H" in report
    for name in ("report.md", "study.json", "selection.png"):
        assert (tmp_path / name).stat().st_size > 0
    with pytest.raises(ValueError, match="regularisation"):
        selection_study(problem, [0.2], n_steps=10, n_paths=2, grid_nodes=41, regularisations=[1e-2], own=False)


def test_regularisation_study_of_the_common_width_model(tmp_path):
    from hjqp.report.sgd import study_report
    from hjqp.sgd import selection_study

    problem = hjqp.models.iris_mixture()
    study = selection_study(problem, [1.0], n_steps=50, n_paths=2, grid_nodes=41, regularisations=[1e-2, 1e-3],
                            own=False)
    rows = study["regularisation"]
    assert [r["regularisation"] for r in rows] == [1e-2, 1e-3]
    # the default model is regularised by 1e-3: the same costs as its landscape
    np.testing.assert_allclose(rows[1]["costs"], study["landscapes"]["anisotropic"]["landscape"].costs)
    # a larger regularisation adds noise where D is singular: both costs fall
    assert rows[0]["costs"][0][1] < rows[1]["costs"][0][1] and rows[0]["costs"][1][0] < rows[1]["costs"][1][0]
    assert "Dependence on the regularisation" in study_report(study)


@pytest.mark.slow
def test_learned_weight_minima_tie(tmp_path):
    # The mirror-symmetric minima of the three-parameter model: the global
    # quasi-potential must report a tie, within its own grid error estimate,
    # for both noises; the report and the figure (least over rho) are written.
    from hjqp.report.sgd import write_study
    from hjqp.sgd import selection_study

    problem = hjqp.models.iris_mixture(learn_weight=True)
    study = selection_study(problem, [1.0], n_steps=50, n_paths=2, grid_nodes=29, own=False)
    for pair in study["landscapes"].values():
        V = pair["landscape"].direct_costs
        assert pair["selected_set"] == [0, 1]
        # the mirror images' costs agree within the grid's error estimate
        assert abs(V[0, 1] - V[1, 0]) <= pair["cost_error"]
    # With isotropic noise the estimate is well below the costs; D, singular
    # on the plane mu1 = mu2 but for its regularisation, leaves the 3D grid
    # errors of a fifth of the costs at 29^3 (see the README).
    iso = study["landscapes"]["isotropic"]
    assert iso["phi_error"] < 0.2 * iso["landscape"].direct_costs.max()
    report = write_study(study, problem, str(tmp_path))
    assert "O1 and O2 (tie)" in report
    assert (tmp_path / "selection.png").stat().st_size > 0
