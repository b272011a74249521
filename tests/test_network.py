"""Reaction networks: the quasi-potential of a network against exact ones,
Gillespie's direct method against exact laws, the master equation against
the product-Poisson law of a complex-balanced network, and the toggle
switch's landscape against its master equation."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

import hjqp
from hjqp import _core, models, verify

# 0 -> X (2), X -> X + Y (1), X + Y -> 0 (0.5): complex balanced about (2, 2).
COMPLEX = dict(reactants=[[0, 0], [1, 0], [1, 1]], products=[[1, 0], [1, 1], [0, 0]], rates=[2.0, 1.0, 0.5])


def complex_network(volume=None):
    return hjqp.ReactionNetwork.mass_action(COMPLEX["reactants"], COMPLEX["products"], COMPLEX["rates"], volume)


def interior_error(problem, n, level):
    grid = problem.grid(n)
    qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
    exact = problem.exact(grid.points())
    inside = exact < level
    assert np.all(np.isfinite(qp.values[inside]))
    return float(np.max(np.abs(qp.values - exact)[inside]))


# -- the network as a Hamiltonian ---------------------------------------------------

def test_the_drift_is_the_reaction_rate_equations_and_the_langevin_sde_its_gaussian_part():
    net = complex_network()
    x = np.array([[1.5, 0.5], [3.0, 2.5]])
    a = np.stack([np.full(2, 2.0), x[:, 0], 0.5 * x[:, 0] * x[:, 1]], axis=-1)
    nu = np.array([[1, 0], [0, 1], [-1, -1]], float)
    assert np.allclose(net.drift(x), a @ nu)
    cle = net.chemical_langevin()
    assert np.allclose(cle.drift(x), a @ nu)
    assert np.allclose(cle.diffusion(x), np.einsum("pr,ri,rj->pij", a, nu, nu))
    p = np.array([[0.3, -0.2], [-1.0, 0.7]])
    assert np.allclose(net(x, p), np.sum(a * np.expm1(p @ nu.T), axis=-1))
    assert net.hamiltonian() is net


@pytest.mark.parametrize("name, level", [("complex_balanced", 0.75), ("network_detailed_balance", 0.75)])
def test_network_quasipotentials_converge_to_the_exact_ones(name, level):
    # Complex balanced (not in detailed balance): U = sum x ln(x / x*) - x + x*;
    # births and deaths in detailed balance with a coupled U.
    problem = models.REGISTRY[name]()
    errors = [interior_error(problem, n, level) for n in (65, 129)]
    order = math.log2(errors[0] / errors[1])
    assert errors[1] < {"complex_balanced": 3e-4, "network_detailed_balance": 3e-4}[name], errors
    assert order > 1.4, (errors, order)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["complex_balanced", "network_detailed_balance"])
def test_network_quasipotentials_converge_on_finer_grids(name):
    problem = models.REGISTRY[name]()
    errors = [interior_error(problem, n, 0.75) for n in (129, 257, 513)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.4), (errors, orders)


# -- the master equation -------------------------------------------------------------

def test_master_equation_of_a_complex_balanced_network_is_a_product_of_poissons():
    # Anderson, Craciun and Kurtz: means Omega x* = (40, 40) at Omega = 20.
    me = hjqp.master_equation(complex_network(), 20, hjqp.Grid((0, 0), (9, 9), (3, 3)))
    p = me.stationary().reshape(-1)
    n = me.lattice.counts()
    log_exact = stats.poisson.logpmf(n[:, 0], 40) + stats.poisson.logpmf(n[:, 1], 40)
    log_exact -= np.log(np.sum(np.exp(log_exact)))
    # Away from the box's reflecting outer sides, to probabilities of 1e-40.
    far = np.all(n < 120, axis=1)
    assert np.max(np.abs(np.log(p[far]) - log_exact[far])) < 1e-9
    assert me.edge_mass() < 1e-30
    # Mean first passage time out of state (40, 40) into its complement: the
    # holding time 1 / a_0.
    a0 = 2 * 20 + 1 * 40 + 0.5 * 40 * 40 / 20
    mask = np.ones(me.lattice.states, dtype=bool)
    mask[me.lattice.index(np.array([40, 40]))] = False
    assert me.mean_first_passage(mask, start=(2.0, 2.0)) == pytest.approx(1 / a0, rel=1e-12)


def test_master_equation_minus_log_law_over_volume_tends_to_the_quasipotential():
    problem = models.complex_balanced()
    gaps = []
    for volume in (10, 40):
        me = hjqp.master_equation(problem.sde, volume, hjqp.Grid((0, 0), (6, 6), (3, 3)))
        u = me.quasi_potential().reshape(-1)
        x = me.lattice.points()
        near = problem.exact(x) < 0.5
        gaps.append(np.max(np.abs(u - problem.exact(x))[near]))
    # The finite-volume correction is O(ln Omega / Omega).
    assert gaps[1] < 0.4 * gaps[0] and gaps[1] < 0.03, gaps


def test_master_equation_says_when_double_precision_cannot_resolve_it():
    problem = models.toggle_switch(a1=3.0, a2=2.7, n=3.0)  # barriers 0.7 and 0.39
    me = hjqp.master_equation(problem.sde, 70, hjqp.Grid((0, 0), (3.4, 3.1), (3, 3)))
    with pytest.raises(ValueError, match="beyond double precision"):
        me.stationary()
    with pytest.raises(ValueError, match="beyond double precision"):
        me.mean_first_passage(hjqp.Ball(problem.attractors[1], 0.3))
    times = me.switching_times(problem.attractors, 0.3)
    assert np.isnan(times[0, 1]) and times[0, 0] == 0


def test_toggle_switch_barriers_agree_with_its_master_equation():
    problem = models.toggle_switch()
    land = hjqp.landscape(problem.sde, problem.grid(129), attractors=problem.attractors)
    # Volumes from 40 on: with 20-80 the fit's finite-volume terms left
    # V_21 3 % low (0.0673 [0.0614, 0.0732]); from 40 to 120 it agrees with
    # the grid's costs to 0.2 % (phi to 0.5 %).
    rows = verify.master_barriers(problem.sde, land, [40, 60, 80, 100, 120],
                                  grid=hjqp.Grid((0, 0), (4.0, 4.0), (3, 3)))
    assert [r.quantity for r in rows] == ["V_12 from the master equation", "V_21 from the master equation",
                                          "phi(O2) - phi(O1) from the stationary law"]
    for r in rows:
        assert r.measured.value == pytest.approx(r.predicted, rel=0.01), r


# -- Gillespie's direct method ---------------------------------------------------------

def test_gillespie_stationary_law_is_the_product_of_poissons():
    net = complex_network()
    grid = hjqp.Grid((0, 0), (8, 8), (3, 3))
    run = hjqp.simulate(net, [2.0, 2.0], 1 / 20, 1.0, 2000, n_paths=32, seed=3, grid=grid)
    counts = run.paths[:, 100::5].reshape(-1, 2) * 20
    # Poisson(40) marginals: means 40, variances 40 (samples 5 time units
    # apart are nearly independent; the tolerance allows a correlation time
    # of a few units).
    n = len(counts)
    assert np.all(np.abs(counts.mean(axis=0) - 40) < 5 * math.sqrt(40 * 4 / n))
    assert np.all(np.abs(counts.var(axis=0) / 40 - 1) < 0.08)


def test_gillespie_paths_do_not_depend_on_threads_or_chunks():
    net = complex_network()
    grid = hjqp.Grid((0, 0), (8, 8), (3, 3))
    args = (net, [2.0, 2.0], 1 / 20, 0.5, 200)
    a = hjqp.simulate(*args, n_paths=600, seed=7, grid=grid, threads=1)
    b = hjqp.simulate(*args, n_paths=600, seed=7, grid=grid, threads=2, chunk=256)
    assert np.array_equal(a.paths, b.paths) and a.engine == "gillespie"
    c = hjqp.simulate(*args, n_paths=600, seed=8, grid=grid)
    assert not np.array_equal(a.paths, c.paths)
    # Copy numbers: multiples of 1 / Omega.
    assert np.allclose(a.paths * 20, np.rint(a.paths * 20))


def test_gillespie_exit_times_are_exact_holding_times():
    # From (40, 40) any reaction leaves the ball of radius 0.01: the exit
    # time is exponential with rate a_0 = 120 (no discretisation bias at any dt).
    net = complex_network()
    ex = hjqp.exit_times(net, [2.0, 2.0], hjqp.Ball([2.0, 2.0], 0.01), 1 / 20, 10.0, 4000, seed=2,
                         grid=hjqp.Grid((0, 0), (8, 8), (3, 3)))
    assert not ex.censored.any() and not ex.corrected
    mean = ex.mean()
    assert mean.contains(1 / 120), mean
    assert stats.kstest(ex.times, "expon", args=(0, 1 / 120)).pvalue > 1e-3
    # Where they went: one reaction away from (40, 40).
    steps = np.rint(ex.positions * 20) - 40
    assert {tuple(s) for s in steps.astype(int)} == {(1, 0), (0, 1), (-1, -1)}


def test_gillespie_suppresses_jumps_out_of_the_box_with_a_warning():
    net = complex_network()
    with pytest.warns(UserWarning, match="suppressed"):
        run = hjqp.simulate(net, [2.0, 2.0], 1 / 20, 1.0, 200, n_paths=4, seed=1,
                            grid=hjqp.Grid((0, 0), (2.2, 2.2), (3, 3)))
    assert run.paths.max() <= 2.2 + 1e-12


def test_gillespie_switching_rates_are_the_master_equations():
    # The same chain two ways: counted switches against mean first passage times.
    problem = models.toggle_switch()
    land = hjqp.landscape(problem.sde, problem.grid(65), attractors=problem.attractors)
    rows = verify.master_rates(problem.sde, land, 20, 8000, 32, seed=2, grid=problem.grid(3),
                               master_grid=hjqp.Grid((0, 0), (4, 4), (3, 3)))
    assert len(rows) == 2
    for r in rows:
        assert r.agrees and r.measured.high < 1.2 * r.measured.low, r


@pytest.mark.slow
def test_gillespie_switching_rates_give_the_toggle_switch_barrier():
    problem = models.toggle_switch()
    grid = problem.grid(129)
    land = hjqp.landscape(problem.sde, grid, attractors=problem.attractors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = verify.transition_barriers(problem.sde, land, 1 / np.array([60.0, 80.0, 100.0]), 1.0, 40000, 32,
                                          seed=1, grid=grid)
    row = {r.quantity: r for r in rows}["V_21 from rates"]
    assert row.agrees and row.measured.high - row.measured.low < 0.03, row


def test_lattice_rates_are_zero_where_no_molecule_is_left_to_consume():
    # 2X -> 3X and 3X -> 2X: combinatorial propensities vanish below 2 or 3 molecules.
    problem = models.schlogl_2d(volume=10)
    lattice = problem.sde.lattice(10, hjqp.Grid((0, 0), (1, 1), (3, 3)))
    n = lattice.counts()
    r = lattice.rates
    assert np.all(r[n[:, 0] < 2, 2] == 0) and np.all(r[n[:, 0] < 3, 3] == 0)
    at = lattice.index(np.array([5, 0]))
    assert r[at, 2] == pytest.approx(10 * 6.0 * (5 / 10) * (4 / 10))
    assert r[at, 3] == pytest.approx(10 * 1.0 * (5 / 10) * (4 / 10) * (3 / 10))


# -- bad input --------------------------------------------------------------------------

def test_bad_networks_are_named_errors():
    rate = lambda x: np.ones(x.shape[:-1] + (2,))  # noqa: E731
    with pytest.raises(ValueError, match=r"stoichiometry must be integers; entry \(0, 1\) is 0.5"):
        hjqp.ReactionNetwork([[1, 0.5], [0, 1]], rate)
    with pytest.raises(ValueError, match="reaction 1 .*changes no count"):
        hjqp.ReactionNetwork([[1, 0], [0, 0]], rate)
    with pytest.raises(TypeError, match="propensities must be a callable"):
        hjqp.ReactionNetwork([[1, 0], [0, 1]], [1.0, 2.0])
    with pytest.raises(ValueError, match="rate constants must be positive"):
        hjqp.ReactionNetwork.mass_action([[0, 0]], [[1, 0]], [-1.0])
    grid = hjqp.Grid((0, 0), (1, 1), (3, 3))
    # A propensity that stays positive at count 0 of what it consumes.
    leaky = hjqp.ReactionNetwork([[1, 0], [-1, 0], [0, 1], [0, -1]],
                                 lambda x: np.stack([1 + 0 * x[..., 0], 1 + x[..., 0], 1 + 0 * x[..., 0],
                                                     x[..., 1]], axis=-1), reactions=["b", "d", "b2", "d2"])
    with pytest.raises(ValueError, match=r"reaction 1 \(d\) has propensity 10 at copy numbers \(X0 = 0, X1 = 0\), "
                                         "where it would make a count negative"):
        leaky.lattice(10, grid)
    negative = hjqp.ReactionNetwork([[1, 0], [0, 1]], lambda x: np.stack([x[..., 0] - 0.5, 1 + 0 * x[..., 0]], -1))
    with pytest.raises(ValueError, match="propensity of reaction 0 is -5 at copy numbers"):
        negative.lattice(10, grid)
    with pytest.raises(ValueError, match="sigma= applies to SDEs"):
        hjqp.simulate(complex_network(), [2, 2], 0.05, 1.0, 10, grid=grid, sigma=np.eye(2))
    with pytest.raises(ValueError, match="needs grid="):
        hjqp.simulate(complex_network(), [2, 2], 0.05, 1.0, 10)
    with pytest.raises(MemoryError, match="lattice"):
        complex_network().lattice(1e7, hjqp.Grid((0, 0), (10, 10), (3, 3)))
    with pytest.raises(TypeError, match="needs an hjqp.ReactionNetwork"):
        hjqp.master_equation(models.example_3_1().sde, 10, grid)


def test_kernel_lattice_rejects_bad_rates_and_never_picks_a_reaction_of_rate_zero():
    jumps = np.array([[1, 0], [-1, 0], [0, 1]], dtype=np.int64)
    rates = np.ones((9, 3))
    rates[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"rate of reaction 1 is nan at state n = \(1, 1\)"):
        _core.ReactionLattice(np.array([0, 0]), np.array([3, 3]), jumps, rates)
    rates = np.zeros((9, 3))
    rates[:, 0] = 1.0  # only X is made: no path ever moves in y or down in x
    lattice = _core.ReactionLattice(np.array([0, 0]), np.array([3, 3]), jumps, rates)
    out = _core.jump_store(lattice, np.array([[0, 1]]), np.array([0]), 5, 0.5, 40, 1)
    assert np.all(out.samples[0, :, 1] == 1) and np.all(np.diff(out.samples[0, :, 0]) >= 0)
    assert out.suppressed[0] > 0 and out.samples[0, -1, 0] == 2


# -- three species -----------------------------------------------------------------------

def cycle_3d(volume=None):
    # 0 -> X -> Y -> Z -> 0, mass action.
    return hjqp.ReactionNetwork.mass_action([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                                            [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], [2.0, 1.0, 2.0, 1.0],
                                            volume)


def test_three_species_network_quasipotential_and_simulation():
    # Births and deaths of three species (0 -> X_i at 2 c_i exp(-d_i V),
    # X_i -> 0 at 2 x_i, V = (x_0 - x_2)^2 / 4): detailed balance with
    # U = sum x ln(x / c) - x + c + V.
    c = np.array([2.0, 1.0, 2.0])

    def dv(x):
        d = 0.5 * (x[..., 0] - x[..., 2])
        return np.stack([d, 0 * d, -d], axis=-1)

    nu = np.vstack([np.eye(3), -np.eye(3)]).astype(int)
    net = hjqp.ReactionNetwork(nu, lambda x: np.concatenate([2 * c * np.exp(-dv(x)), 2 * np.maximum(x, 0)], -1))

    def U(x):
        return np.sum(x * np.log(x / c) - x + c, axis=-1) + (x[..., 0] - x[..., 2]) ** 2 / 4

    errors = []
    for n in (17, 33):
        grid = hjqp.Grid(0.3 * c, 2.5 * c, (n,) * 3)
        qp = hjqp.local_quasipotential(net, grid, c)
        inside = U(grid.points()) < 0.4
        errors.append(np.max(np.abs(qp.values - U(grid.points()))[inside]))
    assert errors[1] < 0.4 * errors[0] and errors[1] < 0.015, errors  # 0.040, 0.0104 measured
    # The cycle of complexes 0 -> X -> Y -> Z -> 0 (complex balanced at
    # x* = (2, 1, 2)): exact runs and the master equation against the
    # product of Poisson laws.
    cycle = cycle_3d()
    star = np.array([2.0, 1.0, 2.0])
    assert np.allclose(cycle.drift(star), 0)
    grid = hjqp.Grid((0, 0, 0), 4 * star, (3, 3, 3))
    run = hjqp.simulate(cycle, star, 1 / 10, 2.0, 2000, n_paths=16, seed=4, grid=grid)
    counts = run.paths[:, 50:].reshape(-1, 3) * 10
    assert np.all(np.abs(counts.mean(axis=0) / (10 * star) - 1) < 0.05)
    me = hjqp.master_equation(cycle, 3, hjqp.Grid((0, 0, 0), 6 * star, (3, 3, 3)))
    p = me.stationary().reshape(-1)
    n = me.lattice.counts()
    exact = np.prod([stats.poisson.pmf(n[:, i], 3 * star[i]) for i in range(3)], axis=0)
    near = (exact > 1e-8) & np.all(n < 12 * star, axis=1)
    # (2.4e-4 measured: the box reflects the chain at 6 x*, a relative change
    # that reaches the states near it)
    assert np.max(np.abs(p[near] / (exact[near] / exact.sum()) - 1)) < 1e-3
