"""SGD with many parameters on real data: the Gaussian mixture on all four
iris measurements (eight parameters), its minima found by training, its
barriers under three noises from minimum action paths, and minibatch SGD's
transitions between them; the simulation engines in any dimension."""

import numpy as np
import pytest

import hjqp
from hjqp.sgd import GaussianMixture, MinibatchSGD, isotropic, train

# -- the engines in any dimension -------------------------------------------------------------

CENTRES = np.random.default_rng(3).normal(size=(30, 6))


def quadratic_sgd(batch_size=1):
    """f_i = 1/2 |x - a_i|^2 in R^6: grad f_i = x - a_i, one minimum at the mean."""
    return MinibatchSGD(lambda x, idx: x[..., None, :] - CENTRES[idx], len(CENTRES), batch_size)


def test_sgd_runs_exits_and_long_runs_in_six_dimensions():
    sgd = quadratic_sgd()
    centre = CENTRES.mean(axis=0)
    paths = sgd.simulate(centre, 0.1, 50, n_paths=4, seed=2)
    assert paths.paths.shape == (4, 51, 6)
    exits = sgd.exit_times(centre, hjqp.Ball(centre, 0.5), 0.1, 16, seed=2, max_steps=10000)
    assert not exits.censored.any()
    np.testing.assert_allclose(np.linalg.norm(exits.positions - centre, axis=1), 0.5, rtol=1e-12)
    # the same seed, the same numbers
    again = sgd.exit_times(centre, hjqp.Ball(centre, 0.5), 0.1, 16, seed=2, max_steps=10000)
    np.testing.assert_array_equal(exits.times, again.times)
    run = sgd.long_run(centre, 0.1, 500, [centre, centre + 10.0], 0.5, n_paths=4, seed=2)
    assert run.occupancy()[0].value == 1.0 and run.transition_counts().sum() == 0


def test_euler_maruyama_runs_in_five_dimensions():
    sde = hjqp.SDE(lambda x: -x, 1.0)
    exits = hjqp.exit_times(sde, np.zeros(5), hjqp.Ball(np.zeros(5), 1.0), 0.5, 0.01, 8, seed=1)
    assert exits.positions.shape == (8, 5) and not exits.censored.any()
    assert hjqp.Ball(np.zeros(5), 2.0).boundary_points(100).shape == (100, 5)


def test_the_kernel_engine_refuses_starts_of_another_dimension():
    sde = hjqp.SDE(lambda x: -x, 1.0)
    grid = hjqp.Grid((-1, -1), (1, 1), (11, 11))
    with pytest.raises(ValueError, match="x0 is 4-dimensional but the grid is 2-dimensional"):
        hjqp.simulate(sde, np.zeros(4), 0.1, 0.01, 10, grid=grid)
    with pytest.raises(ValueError, match="x0 is 4-dimensional but the grid is 2-dimensional"):
        hjqp.exit_times(sde, np.zeros(4), hjqp.Ball(np.zeros(4), 0.5), 0.1, 0.01, 2, grid=grid)


# -- the model ----------------------------------------------------------------------------------

sklearn = pytest.importorskip("sklearn", reason="the iris data come from scikit-learn")


@pytest.fixture(scope="module")
def problem():
    return hjqp.models.iris_four_features()


def test_mixture_gradients_and_hessian_match_finite_differences():
    data = np.random.default_rng(0).normal(size=(12, 3)) + np.repeat([[0, 0, 0], [2, 1, -1]], 6, axis=0)
    model = GaussianMixture(data, (0.5, 1.3), 0.4)
    x = np.random.default_rng(1).normal(size=(2, 6))
    step = 1e-6
    g = model.gradients(x)
    for k in range(6):
        e = np.zeros(6)
        e[k] = step
        fd = (model.losses(x + e) - model.losses(x - e)) / (2 * step)
        np.testing.assert_allclose(g[..., k], fd, rtol=1e-7, atol=1e-9)
        fd = (model.gradient(x + e) - model.gradient(x - e)) / (2 * step)
        np.testing.assert_allclose(model.hessian(x)[..., :, k], fd, rtol=1e-6, atol=1e-8)
    # the losses from the densities themselves
    def density(mean, s):
        return np.exp(-0.5 * np.sum((data - mean) ** 2, axis=1) / s**2) / (2 * np.pi * s**2) ** 1.5

    direct = -np.log(0.4 * density(x[0, :3], 0.5) + 0.6 * density(x[0, 3:], 1.3))
    np.testing.assert_allclose(model.losses(x[0]), direct, rtol=1e-12)
    # the sampled indices give the same gradients
    idx = np.array([[0, 7], [11, 3]])
    np.testing.assert_allclose(model.gradients(x, idx), np.take_along_axis(g, idx[..., None], axis=1))


def test_one_feature_mixture_is_the_1d_model():
    from hjqp.sgd import GaussianMixture1D, iris_petal_lengths

    one = GaussianMixture(iris_petal_lengths(), (0.4, 1.0))
    old = GaussianMixture1D(iris_petal_lengths(), (0.4, 1.0))
    x = np.array([[1.5, 4.9], [3.0, 3.8]])
    np.testing.assert_allclose(one.losses(x), old.losses(x), rtol=1e-14)
    np.testing.assert_allclose(one.gradients(x), old.gradients(x), rtol=1e-13, atol=1e-15)


def test_bad_mixture_arguments_are_refused():
    with pytest.raises(ValueError, match="pair of positive widths"):
        GaussianMixture(np.zeros((5, 2)), 1.0)
    with pytest.raises(ValueError, match="weight"):
        GaussianMixture(np.zeros((5, 2)), (0.5, 1.0), 1.5)
    with pytest.raises(ValueError, match="parameters must have shape"):
        GaussianMixture(np.zeros((5, 2)), (0.5, 1.0)).losses(np.zeros(3))


def test_training_finds_two_strict_minima_and_a_saddle_between(problem):
    model = problem.losses
    found = train(model, 20, seed=0)
    assert found.k == 2 and found.reached.sum() + found.discarded == 20
    np.testing.assert_allclose(found.points, problem.attractors, atol=1e-10)
    np.testing.assert_allclose(found.losses, [4.93639, 4.96760], atol=1e-5)
    for x, eig in zip(found.points, found.curvatures):
        assert np.linalg.norm(model.gradient(x)) < 1e-10
        assert eig[0] > 0.1  # strict minima (measured 0.445 and 0.181)
    # O1 puts the narrow component on setosa (standardised petal length -1.30)
    assert found.points[0, 2] < -1.0 < 0.5 < found.points[1, 2]
    z = np.asarray(problem.saddles[0])
    assert np.linalg.norm(model.gradient(z)) < 1e-10
    assert np.sum(np.linalg.eigvalsh(model.hessian(z)) < 0) == 1
    assert model.loss(z) - found.losses[0] == pytest.approx(0.84379, abs=1e-5)


def test_own_hamiltonian_has_the_gradient_noise_as_its_quadratic_part(problem):
    # SGD's H is log mean_i exp(-<p, grad f_i>); the JumpHamiltonian returned
    # is mean_i exp(-<p, grad f_i>) - 1 = e^H - 1, with the same zero set.
    # H's quadratic part is -<p, grad f> + 1/2 p^T D p at every x; the jump
    # form's H_pp(x, 0) is the second moment D + grad f grad f^T, which is D
    # at the minima and saddles.
    model = problem.losses
    sgd = model.sgd(1)
    jumps = sgd.hamiltonian()
    x = np.array([problem.attractors[0], problem.saddles[0], np.linspace(-1, 1, 8)])
    D, g = sgd.covariance(x), model.gradient(x)
    np.testing.assert_allclose(problem.sde.diffusion(x), D, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(jumps.diffusion(x), D + g[:, :, None] * g[:, None, :], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(jumps.diffusion(x[:2]), D[:2], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(jumps.drift(x), -g, rtol=1e-10, atol=1e-13)
    p = np.random.default_rng(5).normal(size=(3, 8))
    for t in (1e-2, 1e-3):
        quadratic = -t * np.sum(p * g, axis=-1) + 0.5 * t**2 * np.einsum("ni,nij,nj->n", p, D, p)
        # log(1 + jumps) less its quadratic part is O(t^3)
        assert np.all(np.abs(np.log1p(jumps(x, t * p)) - quadratic) < 10 * t**3 * np.max(np.abs(p)) ** 3)
    assert np.all(np.linalg.eigvalsh(D[:2]) > 1e-3)  # definite at the minimum and the saddle


@pytest.fixture(scope="module")
def coarse_barriers(problem):
    """Barriers under the Gaussian and the isotropic noise on short paths."""
    O = np.asarray(problem.attractors)
    return {name: hjqp.barriers(H, O, 20) for name, H in
            (("Gaussian", problem.sde), ("isotropic", isotropic(problem.sde)))}


def test_barriers_cross_the_saddle_and_match_a_direct_path(problem, coarse_barriers):
    B = coarse_barriers["Gaussian"]
    assert B.converged.all()
    for i, j in ((0, 1), (1, 0)):
        np.testing.assert_allclose(B.saddles[i, j], problem.saddles[0], atol=1e-8)
    # the values at 100 points: 1.4406, 1.6646 (20 points: 2e-3 above)
    np.testing.assert_allclose(B.direct_costs[[0, 1], [1, 0]], [1.4406, 1.6646], atol=5e-3)
    direct = hjqp.minimum_action(problem.sde, problem.attractors[1], problem.saddles[0], 20)
    assert direct.action == pytest.approx(B.direct_costs[1, 0], abs=2e-3)


def test_gaussian_and_isotropic_noise_select_different_minima(coarse_barriers):
    gauss, iso = coarse_barriers["Gaussian"], coarse_barriers["isotropic"]
    assert gauss.selected == 1 and gauss.global_values[0] == pytest.approx(0.224, abs=5e-3)
    assert iso.selected == 0 and iso.global_values[1] == pytest.approx(0.355, abs=5e-3)
    np.testing.assert_allclose(iso.direct_costs[[0, 1], [1, 0]], [4.007, 3.651], atol=5e-3)


def test_sgd_leaves_the_first_minimum_faster(problem):
    # The Gaussian and SGD's own barriers out of O1 are the lower (1.44 and
    # 1.66 against 1.66 and 1.99); the isotropic noise's the higher.
    O = np.asarray(problem.attractors)
    sgd = problem.losses.sgd(1)
    run = sgd.long_run(O[np.arange(256) % 2], 0.5, 4000, O, 1.0, n_paths=256, seed=4)
    _, low, high = run.rates()
    assert run.transition_counts()[0, 1] > 100 and run.transition_counts()[1, 0] > 100
    assert low[0, 1] > high[1, 0]


@pytest.mark.slow
def test_full_study_sgd_follows_the_gradient_noise(problem):
    from hjqp.report.sgd import barrier_report
    from hjqp.sgd import barrier_study

    study = barrier_study(problem, [0.3, 0.35, 0.4, 0.5], n_steps=10000, n_paths=512, n_points=60)
    found = study["barriers"]
    assert found["Gaussian D"].selected == 1 and found["SGD's own H"].selected == 1
    assert found["isotropic D"].selected == 0
    own = found["SGD's own H"].direct_costs
    assert own[0, 1] == pytest.approx(1.661, abs=5e-3) and own[1, 0] == pytest.approx(1.990, abs=5e-3)
    fitted = {(b["i"], b["j"]): b["V"] for b in study["fitted"] if b["dynamics"] == "minibatch SGD"}
    # SGD's barriers lie between the Gaussian and its own H's (measured
    # 1.57 and 1.78 over eta = 0.2-0.5), far below the isotropic 4.0 and 3.65,
    # and leave O1 more easily: SGD selects O2, as both predict.
    gauss = found["Gaussian D"].direct_costs
    for (i, j), v in fitted.items():
        assert gauss[i, j] - 0.25 < v < own[i, j] + 0.25
    assert fitted[(0, 1)] < fitted[(1, 0)]
    report = barrier_report(study)
    assert "SGD's fitted barriers: O2" in report and "| SGD's own H |" in report


@pytest.mark.slow
def test_example_runs_quickly_and_reports_the_selections(tmp_path, capsys):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "examples", "sgd_many_parameters.py")
    spec = importlib.util.spec_from_file_location("sgd_many_parameters", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    study = module.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Selected: Gaussian D: O2; isotropic D: O1; SGD's own H: O2" in out
    assert (tmp_path / "report.md").read_text().strip() == out.strip()
    assert (tmp_path / "study.json").stat().st_size > 0
    assert len(study["rows"]) == 2 * 4
