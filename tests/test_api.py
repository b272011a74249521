"""The public API: Grid, SDE inputs, results."""

import threading

import numpy as np
import pytest

import hjqp


def test_grid_nodes_spacing_and_axes_follow_the_box():
    grid = hjqp.Grid(lower=(-1, 0), upper=(1, 2), shape=(5, 9))
    assert grid.ndim == 2 and grid.shape == (5, 9) and grid.size == 45
    assert grid.spacing == (0.5, 0.25)
    np.testing.assert_allclose(grid.axes[1], np.linspace(0, 2, 9))
    pts = grid.points()
    assert pts.shape == (5, 9, 2)
    np.testing.assert_allclose(pts[2, 4], (0.0, 1.0))
    assert grid.nearest_node((0.1, 1.9)) == (2, 8)
    np.testing.assert_array_equal(grid.contains(np.array([[0, 1], [2, 1]])), [True, False])


def test_drift_and_diffusion_as_arrays_give_the_same_result_as_callables():
    problem = hjqp.models.anisotropic_rotating(10.0, 0.5)
    grid = problem.grid(65)
    fields = problem.sde.fields(grid)
    b, dm = fields.sample()
    from_callables = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
    from_arrays = hjqp.local_quasipotential(hjqp.SDE(b, dm), grid, problem.attractor)
    inner = problem.exact(grid.points()) <= 0.8
    # The fields at the nodes are the same; only the local expansion about the
    # attractor sees interpolated arrays instead of the callables.
    assert np.abs(from_arrays.values - from_callables.values)[inner].max() < 1e-4
    assert np.abs(from_arrays.values - problem.exact(grid.points()))[inner].max() < 2e-4


def test_scalar_matrix_and_callable_diffusion_agree():
    grid = hjqp.Grid((-1, -1), (1, 1), (33, 33))

    def drift(p):
        return np.stack([-p[..., 0] - 3 * p[..., 1], 3 * p[..., 0] - p[..., 1]], -1)

    a = hjqp.local_quasipotential(hjqp.SDE(drift, 0.5), grid, (0, 0))
    b = hjqp.local_quasipotential(hjqp.SDE(drift, 0.5 * np.eye(2)), grid, (0, 0))
    c = hjqp.local_quasipotential(hjqp.SDE(drift, lambda p: 0.5 * np.ones(p.shape[:-1])), grid, (0, 0))
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_allclose(a.values, c.values, rtol=1e-12, atol=1e-14)


def test_gradient_constructor_negates_the_gradient():
    sde = hjqp.SDE.gradient(lambda p: 2 * p)
    fields = sde.fields(hjqp.Grid((-1, -1), (1, 1), (3, 3)))
    np.testing.assert_allclose(fields.drift(np.array([[0.5, -1.0]])), [[-1.0, 2.0]])


def test_attractor_off_the_grid_is_refined_by_newton():
    center = np.array([0.0123, -0.0456])

    def drift(p):
        return -(p - center)

    grid = hjqp.Grid((-1, -1), (1, 1), (65, 65))
    qp = hjqp.local_quasipotential(hjqp.SDE(drift), grid, (0.05, 0.0))
    np.testing.assert_allclose(qp.attractor, center, atol=1e-12)
    pts = grid.points()
    exact = np.sum((pts - center) ** 2, axis=-1)  # U = |x - O|^2 for b = -(x - O), D = I
    inner = exact <= 0.8
    assert np.abs(qp.values - exact)[inner].max() < 1e-6
    assert qp(center) == pytest.approx(0.0, abs=1e-12)


def test_max_value_stops_the_march():
    problem = hjqp.models.linear_rotational()
    qp = hjqp.local_quasipotential(problem.sde, problem.grid(65), problem.attractor, max_value=0.3)
    reached = np.isfinite(qp.values)
    assert reached.any() and not reached.all()
    assert qp.values[reached].max() <= 0.3 + 1e-9
    assert np.all(qp.rules[~reached] == hjqp.UpdateRule.UNREACHED)


def test_rules_report_how_each_node_was_settled():
    problem = hjqp.models.linear_rotational()
    qp = hjqp.local_quasipotential(problem.sde, problem.grid(129), problem.attractor)
    counts = np.bincount(qp.rules.ravel(), minlength=5)
    assert counts[hjqp.UpdateRule.UNREACHED] == 0
    assert counts[hjqp.UpdateRule.SEED] == qp.info["seeds"]
    # all but a few nodes at the box edge get the expansion or the high-order update
    assert counts[hjqp.UpdateRule.JET] + counts[hjqp.UpdateRule.SEED] > 0.98 * qp.values.size


def test_the_reference_documents_every_public_name():
    import os
    import re

    import hjqp.models
    import hjqp.verify

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "api.rst")
    documented = set(re.findall(r"^   (hjqp\.[\w.]+)$", open(path).read(), re.M))
    modules = {"models", "eikonal", "io", "plot", "verify", "__version__"}
    public = {f"hjqp.{n}" for n in hjqp.__all__ if n not in modules}
    public |= {f"hjqp.models.{n}" for n in hjqp.models.__all__ if n != "REGISTRY"}
    public |= {f"hjqp.verify.{n}" for n in hjqp.verify.__all__}
    public |= {f"hjqp.eikonal.{n}" for n in hjqp.eikonal.__all__}
    public |= {f"hjqp.plot.{n}" for n in hjqp.plot.__all__ if not n.isupper()}  # constants: in their users' docs
    assert public - documented == set(), "add these to docs/api.rst"


def test_callables_sampled_on_several_threads_give_the_same_fields_and_the_same_first_error():
    problem = hjqp.models.anisotropic_rotating_3d()
    grid = hjqp.Grid((-1, -1, -1), (1, 1, 1), (50, 64, 64))  # slabs of 16 rows: 4, the last 3 on the pool
    calls = set()

    def drift(p):
        calls.add(threading.get_ident())
        return problem.sde.drift(p)

    sde = hjqp.SDE(drift, problem.sde.diffusion)
    one = sde.fields(grid, threads=1)
    b1, d1 = one.kernel_diffusion()
    assert len(calls) == 1
    calls.clear()
    many = sde.fields(grid, threads=4)
    b4, d4 = many.kernel_diffusion()
    assert len(calls) > 1  # the slabs were sampled on worker threads
    assert np.array_equal(b1, b4) and np.array_equal(d1, d4)
    # A callable that fails in two slabs sampled on the pool (the second
    # and third): the error is the second slab's, as on one thread.
    bad = [grid.points()[20, 2, 3], grid.points()[41, 5, 6]]

    def failing(p):
        for x in bad:
            if np.any(np.all(p == x, axis=-1)):
                raise ZeroDivisionError(f"no drift at x = {x[0]:.4f}")
        return problem.sde.drift(p)

    for threads in (1, 4):
        with pytest.raises(ZeroDivisionError, match=f"x = {bad[0][0]:.4f}"):
            hjqp.SDE(failing, problem.sde.diffusion).fields(grid, threads=threads).kernel_arrays()
    with pytest.raises(ValueError, match="threads must be an integer"):
        hjqp.local_quasipotential(problem.sde, problem.grid(9), problem.attractor, threads=0)
