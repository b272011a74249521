"""The landscape: equilibria, basins, costs, W, global phi, the Markov chain
and minimum action paths, against problems with exact answers."""

import itertools

import numpy as np
import pytest

import hjqp
from hjqp import models
from hjqp.landscape import arborescence_costs, log_stationary


def rel(a, b):
    return abs(a - b) / abs(b)


@pytest.fixture(scope="module")
def multiwell_tilted():
    problem = models.multiwell(tilt=0.2)
    return problem, hjqp.landscape(problem.sde, problem.grid(201))


@pytest.fixture(scope="module")
def maier_stein_gradient():
    problem = models.maier_stein(1.0)
    return problem, hjqp.landscape(problem.sde, problem.grid(401))


# -- equilibria and basins ---------------------------------------------------


def test_multiwell_equilibria_are_the_critical_points_of_U(multiwell_tilted):
    problem, land = multiwell_tilted
    np.testing.assert_allclose(land.attractors, problem.attractors, atol=1e-8)
    np.testing.assert_allclose(land.saddles, problem.saddles, atol=1e-8)
    assert land.saddle_links.tolist() == [[1, 0], [2, 1]]


def test_flat_region_gives_no_equilibria():
    problem = models.example_4_1()
    eq = hjqp.equilibria(problem.sde, problem.grid(201))
    np.testing.assert_allclose(eq.attractors, problem.attractors, atol=1e-10)
    assert len(eq.saddles) == 0 and len(eq.others) == 0


def test_basins_of_a_mirror_symmetric_problem_are_mirror_images():
    problem = models.maier_stein(2.0)
    grid = problem.grid(201)
    labels = hjqp.basins(problem.sde, grid, problem.attractors)
    mirrored = labels[::-1, :]
    swapped = np.where(mirrored >= 0, 1 - mirrored, -1)
    # (Off the stable manifold x = 0 of the saddle, whose nodes sit within
    # rounding of it on either side.)
    x = grid.points()[..., 0]
    off_axis = np.abs(x) > 1e-9
    np.testing.assert_array_equal(labels[off_axis], swapped[off_axis])
    assert np.all(labels[x < -1e-9] == 0) and np.all(labels[x > 1e-9] == 1)


def test_basins_do_not_depend_on_the_thread_count():
    problem = models.multiwell(tilt=0.2)
    grid = problem.grid(101)
    one = hjqp.basins(problem.sde, grid, problem.attractors, threads=1)
    two = hjqp.basins(problem.sde, grid, problem.attractors, threads=2)
    np.testing.assert_array_equal(one, two)


def test_equilibria_and_basins_in_3d():
    # f = (x^2 - 1)^2 + y^2 + z^2 / 2 + x z / 4: wells near x = +-1, saddle at 0.
    def grad_f(p):
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        return np.stack([4 * x * (x**2 - 1) + z / 4, 2 * y, z + x / 4], axis=-1)

    sde = hjqp.SDE.gradient(grad_f, diffusion=np.diag([1.0, 0.5, 2.0]))
    grid = hjqp.Grid((-1.6, -1, -1), (1.6, 1, 1), (41, 33, 33))
    eq = hjqp.equilibria(sde, grid)
    assert len(eq.attractors) == 2 and len(eq.saddles) == 1
    np.testing.assert_allclose(eq.saddles[0], 0.0, atol=1e-10)
    for a in eq.attractors:
        np.testing.assert_allclose(grad_f(a), 0.0, atol=1e-10)
    labels = hjqp.basins(sde, grid, eq.attractors)
    x = grid.points()[..., 0]
    left = eq.attractors[:, 0] < 0
    assert np.all(labels[x < -0.3] == np.flatnonzero(left)[0])
    assert np.all(labels[x > 0.3] == np.flatnonzero(~left)[0])


# -- costs and the global quasi-potential ------------------------------------


def test_multiwell_exit_and_neighbour_costs_are_exact_within_one_percent(multiwell_tilted):
    problem, land = multiwell_tilted
    for i in range(3):
        assert rel(land.exit_costs[i], problem.exit_costs[i]) < 0.01
    for i, j in [(0, 1), (1, 0), (1, 2), (2, 1)]:
        assert rel(land.direct_costs[i, j], problem.costs[i][j]) < 0.01
    assert np.all(np.diag(land.costs) == 0)
    # V is the shortest-path closure of the direct costs.
    assert land.costs[0, 2] <= land.costs[0, 1] + land.costs[1, 2] + 1e-12


def test_multiwell_selected_minimum_and_global_values(multiwell_tilted):
    problem, land = multiwell_tilted
    assert land.selected == 0
    np.testing.assert_allclose(land.global_values, problem.global_values, atol=2e-3)


def test_global_quasipotential_is_U_minus_its_minimum(multiwell_tilted):
    problem, land = multiwell_tilted
    exact = problem.exact_global(land.grid.points())
    # Below the highest saddle plus a margin: far corners of the box, where
    # the optimal paths would leave it, are excluded.
    region = exact <= 1.5
    err = np.abs(land.values - exact)[region]
    assert np.all(np.isfinite(err)) and err.max() < 2e-3


def test_costs_are_taken_at_the_saddles_from_the_sources_side(multiwell_tilted):
    # Beyond a saddle u_i runs down a valley (the flow from the saddle to
    # the next well) that the grid does not resolve, and the computed values
    # there err low: the least u_i over a basin erred by 6e-4 (transition
    # costs) and 3e-4 (phi) on this grid. At the saddle, from the source's
    # side of it, u_i is as accurate as the march.
    problem, land = multiwell_tilted
    for i in range(3):
        assert rel(land.exit_costs[i], problem.exit_costs[i]) < 2.5e-5
    for i, j in [(0, 1), (1, 0), (1, 2), (2, 1)]:
        assert rel(land.direct_costs[i, j], problem.costs[i][j]) < 2.5e-5
    np.testing.assert_allclose(land.global_values, problem.global_values, atol=4e-5)
    # The middle well leaves over the lower saddle, the left one (tilt > 0).
    np.testing.assert_allclose(land.exit_points, [problem.saddles[0], problem.saddles[0], problem.saddles[1]],
                               atol=1e-8)
    crossings = land.prefactors().crossings
    assert crossings
    for c in crossings:
        assert c.cost == land.direct_costs[c.source, c.target]


def test_transition_costs_converge_at_third_order_on_maier_stein():
    problem = models.maier_stein(2.0)
    errors = []
    for n in (101, 201):
        land = hjqp.landscape(problem.sde, problem.grid(n))
        errors.append(np.max(np.abs(land.direct_costs[[0, 1], [1, 0]] - 0.5)))
        np.testing.assert_array_equal(land.exit_costs, land.direct_costs[[0, 1], [1, 0]])
    # The least u_i over the other basin errs by 4.9e-5 and 8.9e-5.
    assert errors[1] < 1e-7 and errors[0] / errors[1] > 8


@pytest.mark.slow
def test_multiwell_exit_costs_at_401():
    problem = models.multiwell(tilt=0.2, rotation=1.0, condition=10.0)
    land = hjqp.landscape(problem.sde, problem.grid(401))
    for i in range(3):
        assert rel(land.exit_costs[i], problem.exit_costs[i]) < 0.01
    np.testing.assert_allclose(land.global_values, problem.global_values, atol=2e-3)


def test_three_wells_that_tie_are_reported_as_a_tie():
    problem = models.multiwell(tilt=0.0)
    land = hjqp.landscape(problem.sde, problem.grid(201))
    barrier = problem.exit_costs[0]
    assert np.allclose(land.exit_costs, barrier, rtol=0.01)
    assert np.all(land.global_values < 0.01 * barrier)
    assert len(land.selected_set(0.01 * barrier)) == 3


def test_maier_stein_gradient_case(maier_stein_gradient):
    problem, land = maier_stein_gradient
    np.testing.assert_allclose(land.attractors, problem.attractors, atol=1e-10)
    np.testing.assert_allclose(land.saddles, problem.saddles, atol=1e-10)
    np.testing.assert_allclose(land.exit_costs, 0.5, rtol=1e-7)
    np.testing.assert_allclose(land.direct_costs[[0, 1], [1, 0]], 0.5, rtol=1e-7)
    np.testing.assert_allclose(land.exit_points, [[0, 0], [0, 0]], atol=1e-10)
    assert len(land.selected_set(1e-3)) == 2  # symmetric: a tie
    exact = problem.exact_global(land.grid.points())
    region = exact <= 1.0
    assert np.abs(land.values - exact)[region].max() < 1e-3


@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_maier_stein_barrier_is_one_half_for_beta_below_4(beta):
    problem = models.maier_stein(beta)
    land = hjqp.landscape(problem.sde, problem.grid(401))
    # 1.5e-8 at the saddle, from the source's side (the least u_i over the
    # other basin, the old rule, erred by 9.1e-6).
    np.testing.assert_allclose(land.exit_costs, 0.5, rtol=1e-7)
    np.testing.assert_allclose(land.direct_costs[[0, 1], [1, 0]], 0.5, rtol=1e-7)


@pytest.mark.parametrize("mu1, mu2", [(1.9999, 1.0001), (1.5, 1.2)])
def test_example_4_1_selects_the_well_with_less_anisotropic_noise(mu1, mu2):
    problem = models.example_4_1(mu1, mu2)
    land = hjqp.landscape(problem.sde, problem.grid(401), supersample=8)
    v12, v21 = problem.costs[0][1], problem.costs[1][0]
    assert rel(land.costs[0, 1], v12) < 0.02
    assert rel(land.costs[1, 0], v21) < 0.02
    assert land.selected == 1
    # Next to the jumps the march's choices follow rounding: with D scaled
    # by 1 + k 1e-13 (k = 0..4) phi(O_1) errs by 1.5-2.5 % at 401^2 for
    # (1.9999, 1.0001), and by 1.6-3.9 % with the march's earlier jet
    # update; V_12 and V_21 by at most 0.7 % and 1.6 %.
    assert rel(land.global_values[0], v21 - v12) < 0.04


# -- the Markov chain ------------------------------------------------------------


def brute_force_W(V):
    """W_i by enumerating every i-graph."""
    k = len(V)
    out = np.full(k, np.inf)
    for root in range(k):
        others = [i for i in range(k) if i != root]
        for targets in itertools.product(range(k), repeat=len(others)):
            edges = dict(zip(others, targets))
            if any(i == j for i, j in edges.items()):
                continue
            ok = True
            for start in others:  # every chain must reach the root
                seen, node = set(), start
                while node != root and node not in seen:
                    seen.add(node)
                    node = edges[node]
                ok &= node == root
            if ok:
                out[root] = min(out[root], sum(V[i, j] for i, j in edges.items()))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_arborescence_costs_agree_with_enumeration(seed):
    rng = np.random.default_rng(seed)
    V = rng.uniform(0.1, 2.0, size=(5, 5))
    V[rng.random((5, 5)) < 0.2] = np.inf
    np.fill_diagonal(V, 0.0)
    np.testing.assert_allclose(arborescence_costs(V), brute_force_W(V))


def test_stationary_law_matches_a_direct_solve_where_that_works():
    rng = np.random.default_rng(1)
    V = rng.uniform(0.1, 1.0, size=(4, 4))
    eps = 0.5
    Q = np.exp(-V / eps)
    np.fill_diagonal(Q, 0.0)
    np.fill_diagonal(Q, -Q.sum(axis=1))
    A = np.vstack([Q.T, np.ones(4)])
    pi = np.linalg.lstsq(A, np.r_[np.zeros(4), 1.0], rcond=None)[0]
    np.testing.assert_allclose(np.exp(log_stationary(-V / eps)), pi, rtol=1e-12)


def test_stationary_law_stays_exact_for_small_eps(multiwell_tilted):
    _, land = multiwell_tilted
    for eps in (0.02, 1e-3, 1e-5):
        log_pi = land.log_stationary(eps)
        assert np.all(np.isfinite(log_pi))
        pi = land.stationary(eps)
        assert abs(pi.sum() - 1) < 1e-12
        # -eps log pi_i -> phi(O_i): the dominant i-graph, up to eps log(#graphs).
        np.testing.assert_allclose(-eps * log_pi, land.global_values, atol=eps * np.log(9) + 1e-12)


def test_mean_exit_times_grow_as_exp_of_the_exit_cost(multiwell_tilted):
    _, land = multiwell_tilted
    ratio = np.log(land.mean_exit_times(0.05)) * 0.05
    np.testing.assert_allclose(ratio, land.exit_costs, rtol=1e-12)


# -- paths -------------------------------------------------------------------


def test_action_of_a_minimum_action_path_equals_U_at_its_end(multiwell_tilted):
    problem, land = multiwell_tilted
    for x in [(-0.9, 0.2), (0.2, 0.5), (1.5, 0.1)]:
        path = land.minimum_action_path(x)
        i = land.origin[tuple(land.grid.nearest_node(x))]
        u = float(land.local[i](np.array(x)))
        assert np.allclose(path[0], land.attractors[i]) and np.allclose(path[-1], x)
        assert abs(hjqp.geometric_action(problem.sde, path) - u) < 2e-3 * max(u, 1.0)


def test_transition_path_crosses_the_saddle_on_the_axis():
    problem = models.maier_stein(2.0)
    land = hjqp.landscape(problem.sde, problem.grid(201))
    path = land.transition_path(0, 1)
    np.testing.assert_allclose(path[0], land.attractors[0])
    np.testing.assert_allclose(path[-1], land.attractors[1])
    assert np.abs(path[:, 1]).max() < 1e-2  # for beta < 4 the path stays on the x axis
    assert abs(hjqp.geometric_action(problem.sde, path) - 0.5) < 5e-3


# -- options, threads and bad input ------------------------------------------


def test_landscape_does_not_depend_on_the_thread_count():
    problem = models.maier_stein(2.0)
    one = hjqp.landscape(problem.sde, problem.grid(101), threads=1)
    two = hjqp.landscape(problem.sde, problem.grid(101), threads=2)
    np.testing.assert_array_equal(one.values, two.values)
    np.testing.assert_array_equal(one.direct_costs, two.direct_costs)


def test_absorbing_nodes_get_values_but_do_not_pass_the_front_on():
    problem = models.linear_rotational(0.0)
    grid = problem.grid(101)
    free = hjqp.local_quasipotential(problem.sde, grid, (0, 0))
    x = grid.points()
    wall = (np.abs(x[..., 0] - 0.5) < 0.015) & (np.abs(x[..., 1]) < 0.3)
    blocked = hjqp.local_quasipotential(problem.sde, grid, (0, 0), absorbing=wall)
    assert np.all(np.isfinite(blocked.values[wall]))
    # Paths that avoid the wall cost at least as much; around its ends U has
    # a kink (diffraction), where the error is first order.
    assert np.all(blocked.values >= free.values - 1e-4)
    behind = (x[..., 0] > 0.6) & (np.abs(x[..., 1]) < 0.05)
    assert np.all(blocked.values[behind] > free.values[behind] + 0.05)
    with pytest.raises(ValueError, match="initial region"):
        hjqp.local_quasipotential(problem.sde, grid, (0, 0), absorbing=np.hypot(x[..., 0], x[..., 1]) < 0.1)


def test_cell_means_of_a_linear_field_are_its_node_values():
    sde = hjqp.SDE(lambda p: p @ np.array([[-1.0, 2.0], [0.5, -3.0]]).T,
                   lambda p: (2.0 + p[..., 0] + 0.5 * p[..., 1])[..., None, None] * np.eye(2))
    grid = hjqp.Grid((-1, -1), (1, 1), (9, 13))
    b1, d1 = sde.fields(grid).sample()
    b3, d3 = sde.fields(grid, supersample=3).sample()
    np.testing.assert_allclose(b3, b1, atol=1e-14)
    np.testing.assert_allclose(d3, d1, atol=1e-14)


def test_bad_input_is_reported_clearly():
    grid = hjqp.Grid((-1, -1), (1, 1), (41, 41))
    drifting = hjqp.SDE(lambda p: np.ones_like(p))
    with pytest.raises(ValueError, match="no attractor"):
        hjqp.landscape(drifting, grid)
    with pytest.raises(ValueError, match="vanishes"):
        hjqp.landscape(hjqp.SDE(lambda p: np.zeros_like(p)), grid)
    problem = models.maier_stein(1.0)
    g = problem.grid(101)
    with pytest.raises(ValueError, match=r"attractors\[0\].*not a stable"):
        hjqp.landscape(problem.sde, g, attractors=[(0.0, 0.0), (1.0, 0.0)])
    with pytest.raises(ValueError, match="eight cells"):
        hjqp.landscape(problem.sde, g, attractors=[(1.0, 0.0), (1.0, 0.0)])
    with pytest.raises(ValueError, match="eps"):
        hjqp.landscape(problem.sde, g).stationary(0.0)


def limit_cycle_drift(p):
    """A stable limit cycle, the unit circle, around an unstable focus."""
    x, y = p[..., 0], p[..., 1]
    r2 = x * x + y * y
    return np.stack([x - y - x * r2, x + y - y * r2], axis=-1)


def test_flow_on_a_limit_cycle_stops_as_a_cycle_within_a_few_periods():
    # Trajectories on a closed orbit met no stopping rule and each ran all
    # max_steps: basins of this drift on 129^2 nodes took 78 s.
    from hjqp import _core
    from hjqp.landscape.equilibria import FlowStop, flow_options

    grid = hjqp.Grid((-2, -2), (2, 2), (65, 65))
    drift = np.ascontiguousarray(limit_cycle_drift(grid.points()))
    options = flow_options(grid, 3.0, 0.1)
    starts = np.array([[1.0, 0.0], [0.3, -0.2], [1.9, 1.9], [-0.5, 1.2]])
    ends = _core.flow_ends2(np.asarray(grid.lower), np.asarray(grid.spacing), drift, starts, np.zeros((0, 2)),
                            threads=1, **options)
    assert np.all(ends.reasons == FlowStop.CYCLE)
    # one period is 2 pi / (half a cell) = 400 steps
    assert np.all(ends.steps < 4000) and options["max_steps"] > 30000
    np.testing.assert_allclose(np.linalg.norm(ends.points, axis=1), 1.0, atol=0.01)


def test_basins_of_a_limit_cycle_are_unassigned_with_a_warning():
    grid = hjqp.Grid((-2, -2), (2, 2), (33, 33))
    with pytest.warns(RuntimeWarning, match="closed orbit"):
        labels = hjqp.basins(hjqp.SDE(limit_cycle_drift), grid, [[0.0, 0.0]])
    # only the nodes within the capture radius of the (unstable) focus are labelled
    assert (labels == -1).mean() > 0.95


def test_flow_into_a_weak_focus_is_not_taken_for_a_cycle():
    # A slowly contracting spiral comes back near its own track each turn.
    grid = hjqp.Grid((-1, -1), (1, 1), (65, 65))

    def drift(p):
        x, y = p[..., 0], p[..., 1]
        return np.stack([-0.05 * x - y, x - 0.05 * y], axis=-1)

    labels = hjqp.basins(hjqp.SDE(drift), grid, [[0.0, 0.0]])
    # (from the corners the spiral first sweeps out of the box)
    inside = np.linalg.norm(grid.points(), axis=-1) < 1.0
    assert np.all(labels[inside] == 0)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_traces_cut_short_beyond_the_exit_do_not_warn():
    # Beyond the saddle the characteristics of u_i meet at the other
    # attractor, where traces turn harmlessly.
    problem = models.maier_stein()
    land = hjqp.landscape(problem.sde, problem.grid(65))
    assert any(q.info["truncated_traces"] > 0 for q in land.local)
