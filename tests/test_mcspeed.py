"""Where the landscape and the Monte Carlo engine spend their time: work
that must be done once is done once, and the landscape reports its stages'
times."""

import numpy as np
import pytest

import hjqp
from hjqp import models
from hjqp.problem.fields import Fields
from hjqp.solve.quasipotential import solve_local


@pytest.fixture(scope="module")
def multiwell():
    problem = models.multiwell(tilt=0.2)
    return problem, problem.grid(61)


def test_landscape_samples_the_main_grid_once_for_all_its_solves(multiwell, monkeypatch):
    # The k solves share the landscape's fields: with cell means (or slow
    # callables) sampling can cost more than a march, and in Python it
    # holds the GIL, so solves sampling for themselves took turns at it.
    problem, grid = multiwell
    sampled = []
    original = Fields._sample_one

    def counting(self, name, *args):
        if self.grid == grid and not self.between_nodes:
            sampled.append(name)
        return original(self, name, *args)

    monkeypatch.setattr(Fields, "_sample_one", counting)
    land = hjqp.landscape(problem.sde, grid, threads=2)
    assert land.k == 3
    assert sampled.count("diffusion") == 1


def test_solve_on_shared_fields_is_the_solve_on_its_own(multiwell):
    problem, grid = multiwell
    fields = problem.sde.fields(grid, None)
    fields.kernel_arrays()
    for attractor in problem.attractors:
        shared, _ = solve_local(problem.sde, grid, attractor, fields=fields)
        alone, _ = solve_local(problem.sde, grid, attractor)
        np.testing.assert_array_equal(shared.values, alone.values)
        np.testing.assert_array_equal(shared.grad, alone.grad)


def test_solve_local_rejects_fields_of_another_grid(multiwell):
    problem, grid = multiwell
    other = problem.grid(41)
    with pytest.raises(ValueError, match="fields must be sde.fields"):
        solve_local(problem.sde, grid, problem.attractors[0], fields=problem.sde.fields(other))


def test_landscape_reports_the_time_of_each_stage(multiwell):
    problem, grid = multiwell
    land = hjqp.landscape(problem.sde, grid, threads=2)
    seconds = land.info["seconds"]
    stages = ("fields", "equilibria", "basins", "saddle_links", "solves", "costs", "phi")
    assert all(seconds[s] >= 0 for s in stages)
    assert len(seconds["solve_each"]) == land.k
    assert seconds["total"] >= sum(seconds[s] for s in stages) - 1e-9


# -- the native Euler-Maruyama engine ---------------------------------------------

from hjqp import _core  # noqa: E402
from hjqp.stochastic.euler_maruyama import GOBET_MENOZZI, native_fields  # noqa: E402

EPS, DT = 0.4, 0.01
ROTATED = np.array([[1.2, 0.5], [0.5, 0.6]])  # a constant D whose Cholesky factor is not diagonal


def rotated_sde():
    return hjqp.SDE(lambda x: np.stack([-x[..., 0] + 0.5 * x[..., 1] ** 2, -2.0 * x[..., 1]], axis=-1), ROTATED)


def varying_sde():
    return hjqp.SDE(lambda x: -1.5 * x,
                    lambda x: (1.0 + 0.3 * x[..., 0, None, None] ** 2) * np.eye(2) + 0.2 * np.array([[0, 1], [1, 0]]))


def test_a_step_with_constant_diffusion_is_euler_maruyama_with_that_very_factor():
    # A constant Cholesky factor L is used as it is, not as the multilinear
    # mean of equal values (which differs from it by rounding): the kernel's
    # path is x + b dt + sqrt(eps dt) L z, to the bit, with b the multilinear
    # interpolant of the sampled drift and z the path's stream of normals.
    sde = rotated_sde()
    grid = hjqp.Grid((-3, -3), (3, 3), (61, 61))
    steps, seed = 400, 77
    x0 = np.array([[0.7, -0.4]])
    got = _core.em_store2(native_fields(sde, grid), x0, np.zeros(1, np.int64), EPS, DT, seed, 0, steps, 1, 1)
    b_nodes = sde.fields(grid).sampled_drift()
    L = np.linalg.cholesky(ROTATED)
    z = _core.em_normals(seed, 0, 0, 2 * steps)
    lower, spacing = np.asarray(grid.lower, float), np.asarray(grid.spacing, float)
    inv = 1.0 / spacing
    noise = float(np.sqrt(EPS * DT))
    x = [float(x0[0, 0]), float(x0[0, 1])]
    expected = []
    for n in range(steps):
        expected.append(list(x))
        cell, frac = [], []
        for k in range(2):
            t = min(max((x[k] - lower[k]) * inv[k], 0.0), float(grid.shape[k] - 1))
            c = min(int(t), grid.shape[k] - 2)
            cell.append(c)
            frac.append(t - float(c))
        a, bb = frac
        w00, w01, w10, w11 = (1.0 - a) * (1.0 - bb), (1.0 - a) * bb, a * (1.0 - bb), a * bb
        i, j = cell
        v = [w00 * b_nodes[i, j, m] + w01 * b_nodes[i, j + 1, m] + w10 * b_nodes[i + 1, j, m]
             + w11 * b_nodes[i + 1, j + 1, m] for m in range(2)]
        z0, z1 = float(z[2 * n]), float(z[2 * n + 1])
        x = [x[0] + v[0] * DT + noise * (L[0, 0] * z0),
             x[1] + v[1] * DT + noise * (L[1, 0] * z0 + L[1, 1] * z1)]
    np.testing.assert_array_equal(got.samples[0], np.array(expected))


@pytest.mark.parametrize("make", [rotated_sde, varying_sde], ids=["constant_L", "varying_L"])
@pytest.mark.parametrize("domain", [hjqp.Ball((0.1, 0.0), 1.0), hjqp.Box((-1.0, -0.8), (1.2, 0.9))],
                         ids=["ball", "box"])
def test_exit_step_is_the_first_step_within_the_gobet_menozzi_shift(make, domain):
    # Steps far from the boundary are settled by a bound (|L^T n| <= |L|_F)
    # without the distance's square roots: the exit step must still be the
    # first at which dist(x) <= shift |L(x)^T n(x)|, checked here on the
    # same paths stored step by step.
    sde = make()
    grid = hjqp.Grid((-3, -3), (3, 3), (61, 61))
    native = native_fields(sde, grid)
    n_paths, steps, seed = 64, 3000, 5
    x0 = np.zeros((n_paths, 2))
    ids = np.arange(n_paths, dtype=np.int64)
    shift = GOBET_MENOZZI * np.sqrt(EPS * DT)
    ex = _core.em_exit2(native, x0, ids, EPS, DT, seed, 0, steps, shift=shift, threads=2,
                        **domain.kernel_spec(grid))
    paths = _core.em_store2(native, x0, ids, EPS, DT, seed, 0, steps, 1, 2).samples
    factors = np.linalg.cholesky(sde.fields(grid).sample()[1])
    exited = ex.stops == _core.PathStop.EXITED
    assert exited.sum() > n_paths // 2
    for p in np.flatnonzero(exited):
        s = int(ex.steps[p])
        x = paths[p, :s + 1]
        dist, normal = _distance(domain, x)
        L = _bilinear(factors, grid, x)
        reach = shift * np.linalg.norm(np.einsum("kij,ki->kj", L, normal), axis=-1)
        assert dist[-1] <= reach[-1] * (1 + 1e-6) + 1e-12
        assert np.all(dist[:-1] > reach[:-1] * (1 - 1e-6) - 1e-12)


def _bilinear(values, grid, x):
    """The multilinear interpolant of node values (*shape, ...) at points x (n, 2)."""
    t = (x - np.asarray(grid.lower)) / np.asarray(grid.spacing)
    c = np.minimum(t.astype(int), np.asarray(grid.shape) - 2)
    a, b = (t - c).T
    i, j = c.T
    w = [(1 - a) * (1 - b), (1 - a) * b, a * (1 - b), a * b]
    corners = [values[i, j], values[i, j + 1], values[i + 1, j], values[i + 1, j + 1]]
    return sum(wk.reshape((-1,) + (1,) * (values.ndim - 2)) * v for wk, v in zip(w, corners))


def _distance(domain, x):
    """Signed distance (positive inside) and outward normal, for a Ball or a Box."""
    if isinstance(domain, hjqp.Ball):
        y = x - np.asarray(domain.center)
        r = np.linalg.norm(y, axis=-1)
        return domain.radius - r, y / r[:, None]
    lo, hi = np.asarray(domain.lower), np.asarray(domain.upper)
    gaps = np.concatenate([x - lo, hi - x], axis=-1)
    k = np.argmin(gaps, axis=-1)
    normal = np.zeros_like(x)
    normal[np.arange(len(x)), k % 2] = np.where(k < 2, -1.0, 1.0)
    return gaps[np.arange(len(x)), k], normal
