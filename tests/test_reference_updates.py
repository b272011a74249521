"""The compiled update rules against the pure-Python reference (tests/reference.py)."""

import numpy as np
import pytest

import hjqp
from hjqp import _core
import reference as ref


PROBLEMS = pytest.mark.parametrize(
    "problem", [hjqp.models.linear_rotational(), hjqp.models.anisotropic_rotating()], ids=lambda p: p.name)


def _fields(problem, n):
    grid = problem.grid(n)
    fields = problem.sde.fields(grid)
    b, dm = fields.sample()
    return grid, fields, b, dm


def _node(b, dm, i, j):
    """(b, A = D^{-1}) at node (i, j), as the reference takes fields."""
    return b[i, j], np.linalg.inv(dm[i, j])


@PROBLEMS
def test_one_point_update_agrees_with_reference(problem):
    grid, _, b, dm = _fields(problem, 17)
    X = grid.points()
    rng = np.random.default_rng(0)
    for _ in range(20):
        i, j = rng.integers(1, 15, 2)
        di, dj = rng.integers(-1, 2, 2)
        if di == dj == 0:
            continue
        y, x = X[i, j], X[i + di, j + dj]
        value, grad = ref.one_point_update(y, 0.25, _node(b, dm, i, j), x, _node(b, dm, i + di, j + dj))
        r = _core.one_point_update2(y, 0.25, b[i, j], dm[i, j], x, b[i + di, j + dj], dm[i + di, j + dj])
        kv, kg = r.value, r.gradient
        assert kv == pytest.approx(value, rel=1e-13, abs=1e-15)
        np.testing.assert_allclose(kg, grad, rtol=1e-11, atol=1e-12)


@PROBLEMS
def test_triangle_update_agrees_with_reference(problem):
    grid, _, b, dm = _fields(problem, 17)
    X = grid.points()
    rng = np.random.default_rng(1)
    for _ in range(20):
        i, j = rng.integers(2, 14, 2)
        a, c, x = X[i, j], X[i, j + 1], X[i + 1, j]
        ua, uc = problem.exact(a), problem.exact(c)
        value, _ = ref.triangle_update(a, ua, _node(b, dm, i, j), c, uc, _node(b, dm, i, j + 1), x,
                                       _node(b, dm, i + 1, j))
        kv = _core.triangle_update2(a, ua, b[i, j], dm[i, j], c, uc, b[i, j + 1], dm[i, j + 1],
                                    x, b[i + 1, j], dm[i + 1, j]).value
        assert kv == pytest.approx(value, rel=1e-9, abs=1e-12)


@PROBLEMS
def test_jet_update_agrees_with_reference_on_upwind_edges(problem):
    """Exact 1-jets on the edge the characteristic crosses: kernel and
    reference minimise the same objective, so values agree to rounding and
    gradients to the reference minimiser's tolerance."""
    n = 33
    grid, fields, b, dm = _fields(problem, n)
    X = grid.points()
    rfields = ref.GridFields(grid.lower, grid.spacing, b, dm)
    rng = np.random.default_rng(2)
    compared = 0
    while compared < 4:
        ix, jx = rng.integers(6, 27, 2)
        x = X[ix, jx]
        edge = ref.upwind_edge(grid, fields.drift, fields.diffusion, problem.exact_gradient, x, 2.5 * grid.spacing[0])
        if edge is None:
            continue
        (ia, ja), (ib, jb), s_cross = edge
        a, c = X[ia, ja], X[ib, jb]
        ua, uc = problem.exact(a), problem.exact(c)
        ga, gc = problem.exact_gradient(a), problem.exact_gradient(c)
        r = _core.jet_update2(np.asarray(grid.lower), np.asarray(grid.spacing), b, dm,
                              ia * n + ja, ua, ga, ib * n + jb, uc, gc, ix * n + jx, s_cross)
        kv, kg, ks, below, above = r.value, r.gradient, r.s, r.below, r.above
        value, grad, s = ref.jet_update(rfields, a, ua, ga, c, uc, gc, x)
        assert not (below or above)
        assert kv == pytest.approx(value, rel=1e-8)
        assert ks == pytest.approx(s, abs=1e-4)
        np.testing.assert_allclose(kg, grad, rtol=1e-4, atol=1e-4 * np.abs(grad).max())
        # and both are close to the exact solution
        assert abs(kv - problem.exact(x)) < 1e-3 * problem.exact(x)
        compared += 1


@PROBLEMS
def test_cubic_interpolation_derivatives_are_those_of_the_interpolant(problem):
    """The derivatives the 2D jet update expands the fields with are those of
    the cubic interpolant itself (central differences of its values), in
    cells where the four-node stencil fits and in those next to the box
    edge, where it falls back to multilinear; the values are bit for bit
    those of the interpolation without derivatives."""
    grid, _, b, dm = _fields(problem, 17)
    lower, spacing = np.asarray(grid.lower), np.asarray(grid.spacing)
    rng = np.random.default_rng(3)
    # inside cells (away from cell lines, where the second derivatives jump)
    cells = rng.integers(0, 16, (60, 2))
    points = lower + (cells + rng.uniform(0.1, 0.9, (60, 2))) * spacing
    values, first, second, plain = _core.cubic_fields2(lower, spacing, b, dm, points)
    np.testing.assert_array_equal(values, plain)
    scale = np.abs(values).max(axis=0) + 1.0
    d = 1e-5 * spacing
    for k in range(2):
        e = np.zeros(2)
        e[k] = d[k]
        vp, fp, _, _ = _core.cubic_fields2(lower, spacing, b, dm, points + e)
        vm, fm, _, _ = _core.cubic_fields2(lower, spacing, b, dm, points - e)
        np.testing.assert_allclose(first[:, k], (vp - vm) / (2 * d[k]), rtol=0, atol=1e-7 * scale.max() / spacing[k])
        # d/dx_k of the first derivatives: xx (k = 0) and xy; yy (k = 1)
        fd = (fp - fm) / (2 * d[k])
        rows = [(0, 0), (1, 1)] if k == 0 else [(1, 0), (2, 1)]
        for h, j in rows:
            np.testing.assert_allclose(second[:, h], fd[:, j], rtol=0, atol=1e-5 * scale.max() / spacing[k] ** 2)
    edge = (np.abs(cells - 7.5) > 6.5).any(axis=1)
    assert edge.any() and (~edge).any()
    # and they are not trivially zero: the anisotropic metric curves
    if problem.name.startswith("anisotropic"):
        assert np.abs(second[~edge]).max() > 1e-2 * scale.max() / spacing.min()
