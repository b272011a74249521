"""The march's diffusion packed: a symmetric D travels as its upper triangle
(d (d + 1) / 2 entries per node), a callable D is sampled and packed in
slabs without the full (*shape, d, d) array, and the march's results are
those of the full matrices bit for bit; bad entries are still named by
node. (Memory and speed themselves are measured by benchmarks/.)"""

import tracemalloc

import numpy as np
import pytest

import hjqp
from hjqp import _core
from hjqp.problem import fields as fields_module
from hjqp.problem.fields import Fields, pack, unpack


def _fields3d(n, skew=0.0):
    """Drift and a position-dependent anisotropic D on n^3 nodes of
    [-1, 1]^3; `skew` adds that much (relative) asymmetry to D."""
    x = np.linspace(-1, 1, n)
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    b = np.stack([-2 * X - Y + 0.5 * Z, X - 1.5 * Y, -0.5 * X - Z], axis=-1)
    D = np.empty((n, n, n, 3, 3))
    D[..., 0, 0] = 1.5 + 0.3 * np.sin(X + Y)
    D[..., 1, 1] = 1.0 + 0.2 * Z
    D[..., 2, 2] = 0.8 + 0.1 * X * Y
    for (i, j), c in {(0, 1): 0.3 * np.cos(Y - Z), (0, 2): 0.1 * X, (1, 2): -0.2 + 0.05 * Z}.items():
        D[..., i, j] = c * (1 + skew)
        D[..., j, i] = c * (1 - skew)
    return b, D


def _march3d(b, D, n):
    h = 2.0 / (n - 1)
    centre = ((n // 2) * n + n // 2) * n + n // 2
    return _core.march3d(-np.ones(3), np.full(3, h), b, D, np.array([centre]), np.array([0.0]), np.zeros((1, 3)),
                         update_radius=64.0, max_turn=1.4, max_value=np.inf)


def _march2d(b, D, n):
    h = 2.0 / (n - 1)
    centre = (n // 2) * n + n // 2
    return _core.march2d(-np.ones(2), np.full(2, h), b, D, np.array([centre]), np.array([0.0]), np.zeros((1, 2)),
                         update_radius=64.0, max_turn=1.4, max_value=np.inf)


def test_pack_takes_the_upper_triangle_row_by_row_and_unpack_restores_it():
    m = np.arange(9.0).reshape(1, 3, 3)
    m = m + np.swapaxes(m, 1, 2)
    np.testing.assert_array_equal(pack(m), [[m[0, 0, 0], m[0, 0, 1], m[0, 0, 2], m[0, 1, 1], m[0, 1, 2],
                                             m[0, 2, 2]]])
    np.testing.assert_array_equal(unpack(pack(m)), m)
    skewed = np.array([[[1.0, 0.3], [0.1, 2.0]]])
    np.testing.assert_array_equal(pack(skewed), [[1.0, 0.5 * (0.3 + 0.1), 2.0]])


@pytest.mark.parametrize("skew", [0.0, 1e-12])
def test_a_packed_diffusion_marches_as_the_full_matrices_bit_for_bit_3d(skew):
    n = 17
    b, D = _fields3d(n, skew)
    full, packed = _march3d(b, D, n), _march3d(b, pack(D.reshape(-1, 3, 3)).reshape(n, n, n, 6), n)
    assert np.isfinite(full.values).all()
    np.testing.assert_array_equal(packed.values, full.values)
    np.testing.assert_array_equal(packed.gradients, full.gradients)
    np.testing.assert_array_equal(packed.rules, full.rules)


def test_a_packed_diffusion_marches_as_the_full_matrices_bit_for_bit_2d():
    n = 33
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    b = np.stack([-2 * X - 3 * Y, 3 * X - Y], axis=-1)
    D = np.empty((n, n, 2, 2))
    D[..., 0, 0], D[..., 1, 1] = 1.5 + 0.2 * X, 1.0 + 0.1 * Y
    D[..., 0, 1] = D[..., 1, 0] = 0.3 * np.sin(X + 2 * Y)
    full, packed = _march2d(b, D, n), _march2d(b, pack(D.reshape(-1, 2, 2)).reshape(n, n, 3), n)
    np.testing.assert_array_equal(packed.values, full.values)
    np.testing.assert_array_equal(packed.gradients, full.gradients)


def test_the_kernel_names_the_node_of_a_bad_packed_diffusion():
    n = 9
    b, D = _fields3d(n)
    p = pack(D.reshape(-1, 3, 3)).reshape(n, n, n, 6)
    bad = p.copy()
    bad[1, 2, 3, 1] = 5.0  # D01 far beyond sqrt(D00 D11)
    with pytest.raises(ValueError, match=r"not positive definite at grid node \[1, 2, 3\]"):
        _march3d(b, bad, n)
    bad = p.copy()
    bad[4, 0, 2, 5] = np.nan
    with pytest.raises(ValueError, match=r"diffusion is not finite at grid node \[4, 0, 2\]"):
        _march3d(b, bad, n)
    with pytest.raises(ValueError, match=r"diffusion must have shape \(9, 9, 9, 6\)"):
        _march3d(b, p[..., :5], n)


def _rotating(problem_grid_n=9):
    problem = hjqp.models.anisotropic_rotating_3d()
    return problem, problem.grid(problem_grid_n)


def test_a_callable_diffusion_reaches_the_kernel_packed_and_an_exactly_symmetric_array_in_place():
    problem, grid = _rotating()
    b, dm = problem.sde.fields(grid).kernel_arrays()
    assert dm.shape == grid.shape + (6,)
    full = problem.sde.diffusion(grid.points())
    np.testing.assert_array_equal(dm, pack(full.reshape(-1, 3, 3)).reshape(grid.shape + (6,)))
    # An array the caller gave: read in place when exactly symmetric, packed
    # (its symmetrised copy) when symmetric only to within the tolerance.
    symmetric = 0.5 * (full + np.swapaxes(full, -1, -2))
    sde = hjqp.SDE(b, symmetric)
    _, dm = sde.fields(grid).kernel_arrays()
    assert dm.shape == grid.shape + (3, 3) and np.shares_memory(dm, sde.diffusion)
    skewed = symmetric.copy()
    skewed[..., 0, 1] *= 1 + 1e-13
    _, dm = hjqp.SDE(b, skewed).fields(grid).kernel_arrays()
    np.testing.assert_array_equal(dm, pack(skewed.reshape(-1, 3, 3)).reshape(grid.shape + (6,)))


@pytest.mark.parametrize("supersample", [None, 2])
def test_a_solve_with_d_packed_is_the_solve_with_the_full_matrices_bit_for_bit(monkeypatch, supersample):
    problem, grid = _rotating(17)
    packed = hjqp.local_quasipotential(problem.sde, grid, problem.attractor, supersample=supersample)
    monkeypatch.setattr(Fields, "kernel_diffusion", lambda self: self.sample())
    full = hjqp.local_quasipotential(problem.sde, grid, problem.attractor, supersample=supersample)
    np.testing.assert_array_equal(packed.values, full.values)
    np.testing.assert_array_equal(packed.grad, full.grad)


def _bad_diffusion(kind, where):
    """D = I except at the point `where`, where it is `kind`."""
    def diffusion(x):
        out = np.broadcast_to(np.eye(3), x.shape[:-1] + (3, 3)).copy()
        at = np.all(np.abs(x - np.asarray(where)) < 1e-9, axis=-1)
        out[at] = {"nan": np.full((3, 3), np.nan), "asymmetric": [[1, 0.5, 0], [0, 1, 0], [0, 0, 1]],
                   "tiny": np.diag([1e-310, 1, 1]), "indefinite": [[1, 2, 0], [2, 1, 0], [0, 0, 1]]}[kind]
        return out
    return diffusion


@pytest.mark.parametrize("kind, message", [
    ("nan", "diffusion is not finite at"), ("asymmetric", "diffusion is not symmetric at"),
    ("tiny", "diffusion is too small at"), ("indefinite", "diffusion is not positive definite at"),
])
def test_a_bad_callable_diffusion_is_named_by_its_node_in_any_slab(monkeypatch, kind, message):
    # Slabs of 64 nodes on 9^3: the bad node lies in a later slab than the first.
    monkeypatch.setattr(fields_module, "_CHUNK", 64)
    grid = hjqp.Grid((-1, -1, -1), (1, 1, 1), (9, 9, 9))
    node = (6, 3, 5)
    where = [-1 + 0.25 * i for i in node]
    sde = hjqp.SDE(lambda x: -x, _bad_diffusion(kind, where))
    with pytest.raises(ValueError, match=rf"{message} grid node \[6, 3, 5\]"):
        sde.fields(grid).kernel_arrays()
    if kind == "asymmetric":
        with pytest.raises(ValueError, match=r"\[\[1.0, 0.5, 0.0\], \[0.0, 1.0, 0.0\]"):
            sde.fields(grid).kernel_arrays()


def test_the_first_bad_node_is_named_by_kind_as_before(monkeypatch):
    # Not finite anywhere comes before not symmetric anywhere, whichever
    # node comes first (as when the whole array was checked at once).
    monkeypatch.setattr(fields_module, "_CHUNK", 64)
    grid = hjqp.Grid((-1, -1, -1), (1, 1, 1), (9, 9, 9))
    asym, nan = _bad_diffusion("asymmetric", [-1, -1, -0.75]), _bad_diffusion("nan", [1, 1, 1])

    def diffusion(x):
        out = asym(x)
        bad = np.isnan(nan(x)).any(axis=(-2, -1))
        out[bad] = np.nan
        return out

    with pytest.raises(ValueError, match=r"not finite at grid node \[8, 8, 8\]"):
        hjqp.SDE(lambda x: -x, diffusion).fields(grid).kernel_arrays()


def test_a_bad_point_sample_replaced_by_its_cell_mean_next_to_a_jump_is_not_reported():
    # supersample=None resamples the nodes next to a jump as cell means: a
    # point sample there is not what the march sees.
    grid = hjqp.Grid((-1, -1, -1), (1, 1, 1), (17, 17, 17))
    node = (9, 8, 8)  # next to the jump at x = 0.1
    where = [-1 + 0.125 * i for i in node]

    def diffusion(x):
        out = np.broadcast_to(np.eye(3), x.shape[:-1] + (3, 3)).copy()
        out[..., 0, 0] = np.where(x[..., 0] > 0.1, 3.0, 1.0)
        out[np.all(np.abs(x - np.asarray(where)) < 1e-9, axis=-1)] = np.nan
        return out

    fields = hjqp.SDE(lambda x: -x, diffusion).fields(grid, None)
    b, dm = fields.kernel_arrays()
    assert fields.supersampled["diffusion"] > 0
    assert np.isfinite(dm).all()


def test_sampling_a_callable_diffusion_for_the_kernel_holds_no_full_matrix_array():
    # 3D, 81^3 nodes: the drift (24 bytes a node), D packed (48) and the
    # jump test's copies of its entries (48), with slabs of 2^16 nodes on
    # top (measured: 124 bytes a node); the full D alone was 72, and the
    # peak 174.
    problem = hjqp.models.anisotropic_rotating_3d()
    grid = problem.grid(81)
    fields = problem.sde.fields(grid, None)
    tracemalloc.start()
    try:
        fields.kernel_arrays()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / grid.size < 150
