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
    assert len(axes) == 2 and axes[1].get_title().startswith("global quasi-potential phi")


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


def test_load_names_the_file_for_what_is_not_a_result(qp, tmp_path):
    # They raised TypeError, EOFError and BadZipFile.
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "empty.npz").write_bytes(b"")
    io.save(tmp_path / "qp.npz", qp)
    whole = (tmp_path / "qp.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "text.npz").write_text("U = 2 x^2\n")
    for name, message in [("array.npy", "single numpy array"), ("empty.npz", "is empty"),
                          ("truncated.npz", "damaged or truncated"), ("text.npz", "not an hjqp result file")]:
        with pytest.raises(ValueError, match=message) as info:
            io.load(tmp_path / name)
        assert name in str(info.value)


def rewrite(source, target, **changes):
    """A copy of an .npz file with some arrays replaced."""
    with np.load(source) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(target, **arrays)
    return target


def test_load_rejects_arrays_that_do_not_fit_their_grid(qp, land, tmp_path):
    io.save(tmp_path / "qp.npz", qp)
    io.save(tmp_path / "land.npz", land)
    cases = [
        ("qp.npz", {"qp_values": np.zeros((5, 5))}, r"qp_values has shape \(5, 5\), but the result needs \(41, 41\)"),
        ("qp.npz", {"qp_rules": np.full((41, 41), 9, np.uint8)}, r"qp_rules holds 9 at \(0, 0\), outside \[0, 5\)"),
        ("qp.npz", {"qp_attractor": np.zeros(3)}, "qp_attractor has shape"),
        ("land.npz", {"land_basins": np.full((61, 61), 7, np.int32)}, r"land_basins holds 7 .* outside \[-1, 2\)"),
        ("land.npz", {"land_saddle_links": np.array([[0, 5]])}, "land_saddle_links holds 5"),
        ("land.npz", {"land_selected": np.int64(4)}, "land_selected is 4, but there are 2 attractors"),
        ("land.npz", {"land_costs": np.zeros((3, 3))}, "land_costs has shape"),
    ]
    for source, change, message in cases:
        with pytest.raises(ValueError, match=message):
            io.load(rewrite(tmp_path / source, tmp_path / "bad.npz", **change))


def test_load_rejects_monte_carlo_results_with_indices_out_of_range(tmp_path):
    sde = hjqp.SDE(lambda x: -x, 1.0)
    run = hjqp.long_run(sde, [0, 0], 0.3, 0.01, 50, [[0, 0]], 0.2, 2, seed=1)
    io.save(tmp_path / "run.npz", run)
    with pytest.raises(ValueError, match=r"mc_cores holds 3 at \(0,\), outside \[-1, 1\)"):
        io.load(rewrite(tmp_path / "run.npz", tmp_path / "bad.npz", mc_cores=np.array([3, 0])))
    with pytest.raises(ValueError, match="mc_transitions has shape"):
        io.load(rewrite(tmp_path / "run.npz", tmp_path / "bad.npz", mc_transitions=np.zeros((2, 2, 2), np.int64)))


def test_load_checks_the_declared_sizes_before_reading_any_array(qp, tmp_path):
    # A 2 MB file whose gradient declares 16384^2 zeros took 2.1 GB before
    # failing.
    import tracemalloc
    import zipfile

    io.save(tmp_path / "qp.npz", qp)
    with np.load(tmp_path / "qp.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["qp_grad"] = np.zeros((4096, 4096))  # 128 MiB, compresses to a few hundred kB
    with zipfile.ZipFile(tmp_path / "crafted.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, value)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"'qp_grad' declares shape \(4096, 4096\), larger than any array"):
            io.load(tmp_path / "crafted.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_load_checks_memory_from_the_headers(qp, tmp_path, monkeypatch):
    io.save(tmp_path / "qp.npz", qp)
    monkeypatch.setattr(hjqp._memory, "available_bytes", lambda: 1000)
    with pytest.raises(MemoryError, match="loading .*qp.npz"):
        io.load(tmp_path / "qp.npz")


def test_quasipotential_arrays_are_read_only(qp):
    # qp(x) caches derivatives of grad: an array changed in place would make
    # them stale.
    for name in ("values", "grad", "rules", "attractor"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(qp, name)[...] = 0


def test_io_is_reachable_from_the_package():
    # `import hjqp; hjqp.io.save(...)` failed: io was not imported.
    import child

    code = "import hjqp; print(hjqp.io.save.__name__, hjqp.plot.__name__, hjqp.verify.__name__)"
    out = child.run(code, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["save", "hjqp.plot", "hjqp.verify"]


def test_a_loaded_jump_landscape_takes_its_hamiltonian(tmp_path):
    # io.load once accepted only an SDE: a JumpHamiltonian's landscape could
    # be read but not given back what its paths need.
    problem = hjqp.models.jump_detailed_balance()
    land = hjqp.landscape(problem.sde, problem.grid(41), attractors=[problem.attractor])
    io.save(str(tmp_path / "j.npz"), land)
    back = io.load(str(tmp_path / "j.npz"), sde=problem.sde)
    x = np.asarray(problem.attractor) + 0.2
    assert np.array_equal(back.minimum_action_path(x), land.minimum_action_path(x))
    with pytest.raises(TypeError, match="JumpHamiltonian or ReactionNetwork"):
        io.load(str(tmp_path / "j.npz"), sde=lambda x: -x)
