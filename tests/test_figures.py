"""Figures a reader understands at a glance: colour ranges cut where the
landscape stops mattering (and the cut shown), contour levels away from
plateaus, attractors, saddles and exit points named, paths in view; checked
on the demo's data and on the figures the command writes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, QuadMesh  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import hjqp  # noqa: E402
from hjqp import cli, models, plot  # noqa: E402
from hjqp.report import demo  # noqa: E402


@pytest.fixture(scope="module")
def demo_data():
    """The demo's landscape and paths, at the size of ``hjqp demo --quick``."""
    problem = models.example_4_1(1.9999, 1.0001)
    grid = problem.grid(101)
    land = hjqp.landscape(problem.sde, grid)
    wide = hjqp.Grid((-7, -7), (7, 7), (141, 141))
    shown = hjqp.simulate(problem.sde, land.attractors, 0.2, 0.01, 20_000, 2, seed=5, thin=20, grid=wide)
    return problem, land, demo.loss_41(problem, grid.points()), shown


@pytest.fixture(autouse=True)
def close():
    yield
    plt.close("all")


@pytest.fixture
def saved(monkeypatch):
    """The figures written by savefig, by file name, kept open."""
    figures = {}
    original = Figure.savefig

    def keep(fig, path, *args, **kwargs):
        figures[str(path).replace("\\", "/").rsplit("/", 1)[-1]] = fig
        return original(fig, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    monkeypatch.setattr(plt, "close", lambda *args, **kwargs: None)
    return figures


def mesh(ax):
    return next(c for c in ax.collections if isinstance(c, QuadMesh))


def contour_levels(ax):
    return np.concatenate([np.asarray(c.levels) for c in ax.collections if isinstance(c, ContourSet)] or [[]])


def colorbar_of(ax):
    return mesh(ax).colorbar


def highest_exit_level(land):
    ok = np.isfinite(land.exit_costs)
    return float(np.max(land.global_values[ok] + land.exit_costs[ok]))


def test_phi_is_coloured_up_to_twice_the_highest_exit_level_with_the_cut_on_the_colour_bar(demo_data):
    _, land, _, _ = demo_data
    top, why = plot.colour_limit(land)
    assert top == pytest.approx(plot.PHI_RANGE * highest_exit_level(land), rel=1e-12)
    # Example 4.1's highest exit level is the plateau, 2 / mu2 ~ 2: before,
    # colours ran to the largest value (70 on 401^2) and all of phi was one colour.
    assert 1.9 < highest_exit_level(land) < 2.05 and np.max(land.values[np.isfinite(land.values)]) > top
    ax = plot.quasipotential(land)
    assert mesh(ax).norm.vmax == top and mesh(ax).norm.vmin == 0
    bar = colorbar_of(ax)
    assert bar.extend == "max" and f"{top:.3g}" in bar.ax.get_ylabel() and "max exit level" in why
    assert tuple(mesh(ax).cmap.get_over()[:3]) != tuple(mesh(ax).cmap(1.0)[:3])  # the cut has its own colour


def test_a_field_below_its_limit_is_not_marked_as_cut():
    problem = models.example_3_1(1.0)
    qp = hjqp.local_quasipotential(problem.sde, problem.grid(33), problem.attractor)
    ax = plot.quasipotential(qp, vmax=1e3)
    assert colorbar_of(ax).extend == "neither"


def test_the_plateau_of_phi_is_found_and_no_contour_level_lies_on_it(demo_data):
    _, land, _, _ = demo_data
    top, _ = plot.colour_limit(land)
    flats = plot.plateaus(land.values, top)
    # phi is flat between the wells, at about V_21 (2 / mu2 ~ 2 exactly;
    # 1.94 on this grid): the plateau, found as such.
    assert any(lo <= land.costs[1, 0] <= hi for lo, hi in flats)
    ax = plot.quasipotential(land)
    levels = contour_levels(ax)
    assert len(levels) >= 3
    margin = 0.02 * top
    for lo, hi in flats:
        assert np.all((levels < lo - margin) | (levels > hi + margin)), (levels, flats)


def test_contour_levels_avoid_any_plateau_and_keep_round_values():
    values = np.concatenate([np.linspace(0, 2, 500), np.full(2000, 1.5), 1.5 + 1e-9 * np.arange(50)])
    flats = plot.plateaus(values, 3.0)
    assert len(flats) == 1 and 1.49 < flats[0][0] <= 1.5 < flats[0][1] < 1.51
    levels = plot.contour_levels(values, 3.0, 10)
    assert 1.5 not in levels and np.all(np.abs(levels - 1.5) > 0.02 * 3.0)
    assert 1.0 in levels and 2.0 in levels  # round numbers elsewhere


def test_contours_are_not_drawn_where_the_field_jumps_by_more_than_a_level_per_cell(demo_data):
    # O1's valley (D of condition 2e4) is narrower than a cell: contour
    # lines there would merge into one white line.
    _, land, _, _ = demo_data
    ax = plot.quasipotential(land)
    near_valley = np.array([[-2.5, 0.0], [-1.5, 0.0]])
    for c in ax.collections:
        if isinstance(c, ContourSet):
            for path in c.get_paths():
                v = path.vertices
                if len(v):
                    assert np.min(np.linalg.norm(v[:, None] - near_valley[None], axis=-1)) > 0.1


def test_attractors_saddles_and_exit_points_are_named(demo_data):
    _, land, _, _ = demo_data
    ax = plot.quasipotential(land, exit_points=land.exit_points)
    labels = [line.get_label() for line in ax.lines]
    assert "attractors" in labels and "exit points" in labels
    texts = [t.get_text() for t in ax.texts]
    assert {"O1", "O2", "exit O1", "exit O2"} <= set(texts)
    problem = models.maier_stein(2.0)
    ms = hjqp.landscape(problem.sde, problem.grid(61))
    ax = plot.quasipotential(ms)
    assert "saddles" in [line.get_label() for line in ax.lines]


def test_trajectories_keep_the_whole_paths_in_view_and_mark_the_solved_box(demo_data):
    problem, land, _, shown = demo_data
    ax = plot.trajectories(shown, background=land, max_paths=2)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    p = shown.paths[:2].reshape(-1, 2)
    assert x0 <= p[:, 0].min() and p[:, 0].max() <= x1 and y0 <= p[:, 1].min() and p[:, 1].max() <= y1
    assert x0 <= land.grid.lower[0] and land.grid.upper[1] <= y1
    assert ax.patch.get_hatch() and any(a.get_label() == "solved box" for a in ax.patches)


def test_the_demo_writes_its_figures_with_the_cut_and_levels_it_states(demo_data, saved, tmp_path):
    problem, land, loss, shown = demo_data
    demo.figures(land, loss, shown, str(tmp_path), eps=0.2, dt=0.01, exact=problem.exact_global)
    for name in ("phi_vs_loss.png", "landscape.png", "trajectories.png"):
        assert (tmp_path / name).stat().st_size > 0
    top = plot.PHI_RANGE * highest_exit_level(land)
    flats = plot.plateaus(land.values, top)
    for name, panel in (("phi_vs_loss.png", 1), ("landscape.png", 1), ("trajectories.png", 1)):
        ax = saved[name].axes[panel]
        assert mesh(ax).norm.vmax == pytest.approx(top) and colorbar_of(ax).extend == "max"
        for lo, hi in flats:
            levels = contour_levels(ax)
            assert np.all((levels < lo - 0.02 * top) | (levels > hi + 0.02 * top))
    # O1's valley is drawn enlarged, and named
    ax = saved["phi_vs_loss.png"].axes[1]
    assert any(isinstance(c, PathCollection) and len(c.get_offsets()) for c in ax.collections)
    assert any("valley of O1" in t.get_text() for t in ax.texts)
    # phi along the axis beside the exact one; eps and dt in the titles
    assert [line.get_label() for line in saved["landscape.png"].axes[2].lines][:2] == ["hjqp", "exact"]
    assert "eps = 0.2" in saved["trajectories.png"].axes[0].get_title()
    assert "dt = 0.01" in saved["trajectories.png"].axes[0].get_title()


def test_the_command_cuts_colours_the_same_way(saved, tmp_path):
    assert cli.main(["landscape", "maier_stein", "--param", "beta=2", "--grid", "61", "--out", str(tmp_path),
                     "--quiet"]) == 0
    land = hjqp.io.load(tmp_path / "landscape.npz")
    ax = saved["landscape.png"].axes[1]
    assert mesh(ax).norm.vmax == pytest.approx(plot.colour_limit(land)[0])
    assert "phi(O1)" in ax.get_title() and {"O1", "O2"} <= {t.get_text() for t in ax.texts}
    assert cli.main(["solve", "example_3_1", "--grid", "41", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    qp = hjqp.io.load(tmp_path / "s" / "quasipotential.npz")
    ax = saved["quasipotential.png"].axes[0]
    top, why = plot.colour_limit(qp)
    assert mesh(ax).norm.vmax == pytest.approx(top) and "box edge" in why
    edge = np.concatenate([qp.values[[0, -1]].ravel(), qp.values[:, [0, -1]].ravel()])
    assert top == pytest.approx(plot.U_RANGE * edge.min())
    assert "exp(-U / eps)" in ax.get_title()


def test_3d_slices_cut_colours_and_name_the_attractors():
    problem = models.double_well_3d()
    land = hjqp.landscape(problem.sde, problem.grid(21))
    axes = plot.slices(land, None, at=land.attractors[land.selected])
    top, _ = plot.colour_limit(land)
    assert all(mesh(ax).norm.vmax == pytest.approx(top) for ax in axes)
    assert any(t.get_text() == f"O{land.selected + 1}" for ax in axes for t in ax.texts)
