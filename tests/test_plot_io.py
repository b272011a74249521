"""Every plot function renders on small results and draws what it should;
results survive a save/load round trip."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402

import hjqp  # noqa: E402
from hjqp import io, plot, verify  # noqa: E402


@pytest.fixture(scope="module")
def qp():
    problem = hjqp.models.example_3_1(0.5)
    return hjqp.local_quasipotential(problem.sde, problem.grid(41), problem.attractor)


@pytest.fixture(scope="module")
def land():
    problem = hjqp.models.maier_stein(2.0)
    return hjqp.landscape(problem.sde, problem.grid(61))


@pytest.fixture(autouse=True)
def close():
    yield
    plt.close("all")


def meshes(ax):
    return [c for c in ax.collections if isinstance(c, QuadMesh)]


def test_quasipotential_figure_shows_the_field_attractor_and_paths(qp):
    path = np.array([[0, 0], [0.5, 0.5]])
    ax = plot.quasipotential(qp, paths=[path], title="U")
    assert len(meshes(ax)) == 1 and ax.get_title() == "U"
    labels = [line.get_label() for line in ax.lines]
    assert "attractors" in labels and "minimum action paths" in labels
    with pytest.raises(ValueError, match="needs its grid"):
        plot.quasipotential(qp.values)


def test_landscape_figures_show_basins_saddles_and_transition_paths(land):
    ax = plot.basins(land)
    assert len(meshes(ax)) == 1 and [t.get_text() for t in ax.texts] == ["O1", "O2"]
    ax = plot.quasipotential(land, paths=land.paths())
    assert any(line.get_label() == "saddles" for line in ax.lines)
    assert sum(line.get_label() == "minimum action paths" for line in ax.lines) == 1
    assert len([line for line in ax.lines if line.get_color() == "r" and line.get_linestyle() == "-"]) == 2
    loss = np.zeros(land.grid.shape)
    axes = plot.implicit_regularisation(land, loss)
    assert len(axes) == 2 and axes[1].get_title() == "global quasi-potential phi"


def test_3d_figures_are_three_slices_and_a_level_surface():
    problem = hjqp.models.linear_3d()
    grid = problem.grid(21)
    U = problem.exact(grid.points())
    axes = plot.slices(U, grid)
    assert len(axes) == 3 and all(len(meshes(a)) == 1 for a in axes)
    ax = plot.level_surface(U, grid, 0.5)
    assert ax.name == "3d" and len(ax.collections) > 0
    with pytest.raises(ValueError, match="3D"):
        plot.slices(U[0], grid)


def test_monte_carlo_figures_show_paths_exit_angles_and_the_fit(qp):
    problem = hjqp.models.example_3_1(1.9999)
    paths = hjqp.simulate(problem.sde, [0, 0], 0.2, 0.01, 100, 3, seed=1)
    ax = plot.trajectories(paths, background=qp)
    assert len(ax.lines) >= 3
    disk = hjqp.Ball((0, 0), 1.0)
    grid = hjqp.Grid((-1.1, -1.1), (1.1, 1.1), (61, 61))
    ex = hjqp.exit_times(problem.sde, [0, 0], disk, 0.3, 0.01, 100, seed=1, grid=grid)
    ax = plot.exit_positions(ex, predicted=[[1, 0], [-1, 0]])
    assert len(ax.patches) == 72 and sum(p.get_height() for p in ax.patches) == 100
    fit = verify.exit_barrier(problem.sde, [0, 0], disk, [0.2, 0.3], 0.01, 100, seed=1, U=problem.exact,
                              grid=grid)
    ax = plot.barrier_fit(fit)
    assert len(ax.lines) >= 2
    ax = plot.convergence([65, 129, 257], {"max": [1e-3, 2.5e-4, 6e-5]})
    assert ax.get_xscale() == "log"


def test_quasipotential_round_trip(qp, tmp_path):
    io.save(tmp_path / "qp.npz", qp, model="example_3_1", mu=0.5)
    back = io.load(tmp_path / "qp.npz")
    assert back.metadata == {"model": "example_3_1", "mu": 0.5}
    np.testing.assert_array_equal(back.values, qp.values)
    np.testing.assert_array_equal(back.grad, qp.grad)
    assert back.grid.shape == qp.grid.shape and back.grid.lower == qp.grid.lower
    pts = np.array([[0.1, 0.2], [-0.3, 0.05]])
    np.testing.assert_array_equal(back(pts), qp(pts))
    np.testing.assert_array_equal(back.expansion.value(pts), qp.expansion.value(pts))
    assert back.info == qp.info or set(back.info) == set(qp.info)


def test_landscape_round_trip(land, tmp_path):
    io.save(tmp_path / "land.npz", land)
    back = io.load(tmp_path / "land.npz")
    for name in ("attractors", "costs", "values", "basins", "W", "global_values", "saddles"):
        np.testing.assert_array_equal(getattr(back, name), getattr(land, name))
    assert back.selected == land.selected and len(back.local) == len(land.local)
    np.testing.assert_allclose(back.stationary(0.1), land.stationary(0.1))


def test_a_loaded_landscape_needs_its_sde_for_paths_and_draws_them_once_given(land, tmp_path):
    io.save(tmp_path / "land.npz", land, model="maier_stein")
    bare = io.load(tmp_path / "land.npz")
    assert bare.sde is None and bare.metadata == {"model": "maier_stein"}
    with pytest.raises(ValueError, match="pass sde= to hjqp.io.load"):
        bare.transition_path(0, 1)
    with pytest.raises(ValueError, match="pass sde= to hjqp.io.load"):
        bare.minimum_action_path(land.exit_points[0] * 0.5 + land.attractors[0] * 0.5)
    back = io.load(tmp_path / "land.npz", sde=land.sde)
    np.testing.assert_array_equal(back.transition_path(0, 1), land.transition_path(0, 1))
    with pytest.raises(TypeError, match="hjqp.SDE"):
        io.load(tmp_path / "land.npz", sde="maier_stein")


def test_monte_carlo_round_trip(tmp_path):
    sde = hjqp.SDE(lambda x: -x, 1.0)
    grid = hjqp.Grid((-3, -3), (3, 3), (31, 31))
    ex = hjqp.exit_times(sde, [0, 0], hjqp.Ball((0, 0), 1.0), 0.3, 0.01, 20, seed=1, max_time=0.5)
    io.save(tmp_path / "ex.npz", ex)
    back = io.load(tmp_path / "ex.npz")
    np.testing.assert_array_equal(back.times, ex.times)
    np.testing.assert_array_equal(back.censored, ex.censored)
    assert back.engine == ex.engine and back.corrected is True and back.seed == 1
    run = hjqp.long_run(sde, [0, 0], 0.3, 0.01, 100, [[0, 0]], 0.2, 2, seed=1, grid=grid, histogram=True)
    io.save(tmp_path / "run.npz", run)
    back = io.load(tmp_path / "run.npz")
    np.testing.assert_array_equal(back.histogram, run.histogram)
    assert back.grid.shape == grid.shape and back.basin_steps is None


def test_files_that_are_not_hjqp_results_are_refused(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an hjqp result"):
        io.load(tmp_path / "other.npz")
    with pytest.raises(TypeError, match="cannot save"):
        io.save(tmp_path / "x.npz", {"a": 1})
