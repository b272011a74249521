"""Limit cycles as attractors: refinement by shooting, the second-order
data of the periodic Riccati equation, the march from a tube around a
cycle on exact manufactured problems (2D and 3D), landscapes with a cycle
and a point, minimum action paths, Monte Carlo exits from a tube, and bad
input."""

import warnings

import numpy as np
import pytest

import hjqp
from hjqp.models import cycle_2d, cycle_3d, cycle_and_point, rest_and_oscillation, rosenzweig_macarthur
from hjqp.problem.cycle import refine_cycle
from hjqp.solve.cycle import cycle_expansion
from hjqp.solve.quasipotential import solve_local


def _exact_hessians(problem, points, h=1e-5):
    d = points.shape[1]
    return np.stack([(problem.exact_gradient(points + h * e) - problem.exact_gradient(points - h * e)) / (2 * h)
                     for e in np.eye(d)], axis=-1)


@pytest.fixture(scope="module")
def solved_2d():
    p = cycle_2d()
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for n in (129, 257):
            out[n] = solve_local(p.sde, p.grid(n), p.cycle)[0]
    return p, out


@pytest.fixture(scope="module")
def bistable_landscape():
    p = cycle_and_point()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return p, hjqp.landscape(p.sde, p.grid(129))


def test_shooting_lands_on_the_exact_cycle_with_stable_floquet_multipliers():
    p = cycle_2d()
    fields = p.sde.fields(p.grid(129))
    cycle = refine_cycle(fields, p.attractor)  # a point on the cycle
    rho_minus_one = np.sqrt(2 * p.exact(cycle.curve))  # U = (rho - 1)^2 / 2
    assert rho_minus_one.max() < 1e-9
    assert cycle.stable and np.all(np.abs(cycle.multipliers) < 1)
    # Refined again from a point off the cycle and from its curve: the same orbit.
    again = refine_cycle(fields, np.asarray(p.attractor) + [0.05, 0.0])
    assert again.period == pytest.approx(cycle.period, rel=1e-8)
    assert np.max(cycle.distance(again.curve)) < 1e-7
    # The curve closes: one period of the flow from its first point returns to it.
    assert np.linalg.norm(cycle.at(len(cycle.curve)) - cycle.curve[0]) < 1e-12


def test_the_riccati_hessian_is_the_exact_hessian_on_the_cycle_in_2d_and_3d():
    for problem, n in ((cycle_2d(), 65), (cycle_3d(), 17)):
        fields = problem.sde.fields(problem.grid(n))
        cycle = refine_cycle(fields, problem.cycle)
        exp = cycle_expansion(fields, cycle)
        exact = _exact_hessians(problem, cycle.curve)
        assert np.max(np.abs(exp.hessians - exact)) < 1e-6 * np.max(np.abs(exact))
        # Q vanishes along the cycle and is positive in the normal directions.
        assert np.max(np.abs(np.einsum("nij,nj->ni", exp.hessians, cycle.velocity))) < 1e-6
        assert exp.normal_hessians().min() > 0


def test_frozen_normal_data_are_not_a_cycle_s_local_data():
    # Freezing the normal part of Db at each point ignores the transport of
    # Q along the cycle: on cycle_2d the frozen normal dynamics are not even
    # stable everywhere, and on a milder rotation they miss the Hessian.
    p = cycle_2d()
    fields = p.sde.fields(p.grid(65))
    cycle = refine_cycle(fields, p.cycle)
    with pytest.raises(ValueError, match="frozen"):
        cycle_expansion(fields, cycle, "frozen")
    mild = cycle_2d(rotation=0.5, condition=1.5)
    fields = mild.sde.fields(mild.grid(65))
    cycle = refine_cycle(fields, mild.cycle)
    exact = _exact_hessians(mild, cycle.curve)
    errors = {}
    for method in ("riccati", "frozen"):
        try:
            q = cycle_expansion(fields, cycle, method).hessians
            errors[method] = np.max(np.abs(q - exact)) / np.max(np.abs(exact))
        except ValueError:
            errors[method] = np.inf
    assert errors["riccati"] < 1e-6
    assert errors["frozen"] > 0.05


def test_quasipotential_of_a_cycle_converges_to_the_exact_one_in_2d(solved_2d):
    p, qps = solved_2d
    errors = {}
    for n, qp in qps.items():
        exact = p.exact(qp.grid.points())
        region = exact <= 0.5  # the inside and a band outside, clear of the box edge
        assert np.isfinite(qp.values[region]).all()
        errors[n] = np.max(np.abs(qp.values - exact)[region])
        on_cycle = qp(qp.cycle.resample(200))
        assert np.max(np.abs(on_cycle)) < 1e-5  # U = 0 on the cycle, up to interpolation
    # Measured: 3.2e-2 and 2.0e-3 (then 2.7e-4 at 513, 4.0e-5 at 1025).
    assert errors[257] < 4e-3
    assert np.log2(errors[129] / errors[257]) > 2.0


@pytest.mark.slow
def test_quasipotential_of_a_cycle_converges_with_order_above_two_on_fine_grids():
    p = cycle_2d()
    errors = []
    for n in (257, 513, 1025):
        g = p.grid(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            qp = solve_local(p.sde, g, p.cycle)[0]
        exact = p.exact(g.points())
        errors.append(np.max(np.abs(qp.values - exact)[exact <= 0.5]))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 1e-4
    assert np.all(orders > 2.0), (errors, orders)


def test_quasipotential_of_a_cycle_in_3d_is_close_to_the_exact_one():
    p = cycle_3d()
    g = p.grid(33)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        qp = hjqp.local_quasipotential(p.sde, g, p.cycle)
    exact = p.exact(g.points())
    region = exact <= 0.1
    err = np.abs(qp.values - exact)[region]
    # Measured: mean 5.3e-3, largest 3.1e-2 (65^3: 2.6e-3, 9.4e-2; 129^3: 4.2e-4, 4.7e-2).
    assert err.mean() < 8e-3
    assert err.max() < 6e-2


def test_a_point_attractor_and_a_cycle_are_found_from_the_flow(bistable_landscape):
    p, land = bistable_landscape
    assert land.k == 2
    assert list(land.is_cycle) == [False, True]
    assert np.linalg.norm(land.attractors[0]) < 1e-8
    cycle = land.cycles[1]
    assert land.attractors.shape == (2, 2)  # points: the cycle's representative point
    assert np.max(cycle.distance(p.cycles[1])) < 1e-6
    assert land.cycle(0) is None and land.cycle(1) is cycle


def test_costs_between_a_point_and_a_cycle_match_the_exact_ones(bistable_landscape):
    p, land = bistable_landscape
    exact = np.array(p.costs)
    # Measured on 129^2: V(point, cycle) 0.24303 (exact 0.243), V(cycle, point)
    # 0.3704 (0.343; 0.3467 on 257^2): the cycle's tube is 6 cells wide.
    assert land.costs[0, 1] == pytest.approx(exact[0, 1], rel=0.01)
    assert land.costs[1, 0] == pytest.approx(exact[1, 0], rel=0.1)
    assert land.selected == 1  # the noise selects the cycle
    assert land.global_values[0] == pytest.approx(p.global_values[0], abs=0.035)
    pi = land.stationary(0.02)
    assert pi[1] > 0.5 and pi.sum() == pytest.approx(1.0)
    ex = p.exact_global(land.grid.points())
    assert np.median(np.abs(land.values - ex)[ex <= 0.6]) < 0.03
    labels = land.basins[np.isfinite(ex)]
    assert set(np.unique(labels)) <= {-1, 0, 1} and (labels == 1).any() and (labels == 0).any()


def test_given_cycles_are_taken_as_attractors(bistable_landscape):
    p, found = bistable_landscape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        land = hjqp.landscape(p.sde, p.grid(129), attractors=[(0.0, 0.0), p.cycles[1]])
    assert list(land.is_cycle) == [False, True]
    np.testing.assert_allclose(land.costs, found.costs, rtol=1e-6)
    basins = hjqp.basins(p.sde, p.grid(65), [(0.0, 0.0), land.cycles[1]])
    rho = np.einsum("...i,ij,...j->...", p.grid(65).points(), np.array([[1, 0.15], [0.15, 1.5]]),
                    p.grid(65).points())
    assert np.all(basins[rho < 0.25] == 0) and np.all(basins[(rho > 0.35) & (rho < 1.5)] == 1)


def test_minimum_action_path_from_a_cycle_has_action_u(solved_2d):
    p, qps = solved_2d
    qp = qps[257]
    x = np.array([1.2, 0.3])
    path = hjqp.minimum_action_path(qp, x)
    assert qp.cycle.distance(path[0]) < 1e-9  # it starts on the cycle
    # Measured: action 0.5319, U 0.5283, exact 0.5290.
    assert hjqp.geometric_action(p.sde, path) == pytest.approx(float(p.exact(x)), rel=0.02)


def test_transition_path_from_the_cycle_reaches_the_point(bistable_landscape):
    p, land = bistable_landscape
    path = land.minimum_action_path((0.2, 0.1), attractor=1)
    assert land.cycles[1].distance(path[0]) < 1e-9
    assert np.allclose(path[-1], (0.2, 0.1))


def test_tube_domain_measures_distance_to_the_cycle(bistable_landscape):
    _, land = bistable_landscape
    cycle = land.cycles[1]
    tube = hjqp.Tube(cycle, 0.1)
    on = cycle.resample(50)
    assert tube.contains(on).all()
    pts = tube.boundary_points(400)
    np.testing.assert_allclose(cycle.distance(pts), 0.1, atol=1e-4)
    assert not tube.contains(np.zeros((1, 2)))[0]
    polygon = hjqp.Tube(cycle.curve, 0.1)
    np.testing.assert_allclose(polygon.distance(pts)[0], tube.distance(pts)[0], atol=1e-4)


@pytest.mark.slow
def test_monte_carlo_exit_from_a_tube_follows_min_u_on_its_boundary():
    p = cycle_2d()
    g = p.grid(257)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        qp = hjqp.local_quasipotential(p.sde, g, p.cycle)
    tube = hjqp.Tube(qp.cycle, 0.2)
    predicted = hjqp.verify.boundary_minimum(qp, tube)[0]
    exact = hjqp.verify.boundary_minimum(p.exact, tube)[0]
    assert predicted == pytest.approx(exact, rel=0.05)
    # E tau ~ eps^0 exp(V0 / eps) for isolated minima of U on the tube (c = 0).
    fit = hjqp.verify.exit_barrier(p.sde, qp.cycle.point, tube, [0.0055, 0.0065, 0.008, 0.010], 0.002, 300,
                                   seed=7, c=0.0, U=qp, grid=g, max_time=20000)
    # Measured: V0 = 0.0431 [0.0412, 0.0449] (at eps 0.008..0.016: 0.0448, so
    # still approaching as eps -> 0); min U on the tube 0.0405 (computed),
    # 0.0390 (exact).
    assert fit.V0.value == pytest.approx(exact, rel=0.12)
    assert fit.V0.low < 1.07 * exact


def test_models_with_cycles_have_their_documented_attractors():
    ro = rest_and_oscillation()
    fields = ro.sde.fields(ro.grid(65))
    c = refine_cycle(fields, (1.0, 0.0))
    np.testing.assert_allclose(np.linalg.norm(c.curve, axis=1), 1.0, atol=1e-8)
    assert ro.costs[0][1] == pytest.approx(2 * 4 * (0.25**3 / 6 - 1.25 * 0.25**2 / 4 + 0.25 * 0.25 / 2))
    rm = rosenzweig_macarthur()
    fields = rm.sde.fields(rm.grid(65))
    c = refine_cycle(fields, rm.cycle)
    lo, hi = c.curve.min(axis=0), c.curve.max(axis=0)
    np.testing.assert_allclose(lo, [0.108, 0.482], atol=0.01)
    np.testing.assert_allclose(hi, [1.524, 2.070], atol=0.01)
    assert c.stable


def test_bad_cycles_give_clear_errors():
    p = cycle_2d()
    g = p.grid(65)
    half = p.cycle[: len(p.cycle) // 2]
    with pytest.raises(ValueError, match="not closed"):
        hjqp.local_quasipotential(p.sde, g, half)
    backward = hjqp.SDE(lambda x: -p.sde.drift(x), p.sde.diffusion)
    with pytest.raises(ValueError, match="not stable|does not come back|leaves the box|stalls"):
        hjqp.limit_cycle(backward, g, p.cycle)
    small = hjqp.Grid((-1.0, -1.0), (1.0, 1.0), (65, 65))
    with pytest.raises(ValueError, match="leaves the box"):
        hjqp.local_quasipotential(p.sde, small, p.cycle)
    center = hjqp.SDE(lambda x: np.stack([-x[..., 1], x[..., 0]], axis=-1))
    circle = np.stack([np.cos(np.linspace(0, 2 * np.pi, 200, endpoint=False)),
                       np.sin(np.linspace(0, 2 * np.pi, 200, endpoint=False))], axis=-1) * 0.5
    with pytest.raises(ValueError, match="not stable"):
        hjqp.limit_cycle(center, g, circle)
    with pytest.raises(ValueError, match="JumpHamiltonian|SDEs"):
        jump = hjqp.models.jump_cyclic()
        solve_local(jump.sde, jump.grid(17), np.zeros((5, 2)) + 0.1)


def test_results_with_cycles_are_saved_loaded_and_drawn(solved_2d, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    p, qps = solved_2d
    qp = qps[129]
    path = tmp_path / "cycle.npz"
    hjqp.io.save(path, qp)
    back = hjqp.io.load(path, sde=p.sde)
    assert np.array_equal(back.values, qp.values) and back.cycle.period == qp.cycle.period
    assert back([0.3, 0.2]) == qp([0.3, 0.2])
    ax = hjqp.plot.quasipotential(qp, vmax=1.0)
    assert any(line.get_label() == "limit cycles" for line in ax.lines)
