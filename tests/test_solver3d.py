"""The 3D solver: its update rules against the pure-Python reference, exact
solutions (manufactured, linear non-normal, gradient), the measured order
of convergence (large grids marked slow), invariants and determinism."""

import threading

import numpy as np
import pytest

import hjqp
from hjqp import _core
import reference as ref
from helpers import interior_errors, orders, solve


def _corner_fields(problem, points):
    b = problem.sde.drift(points)
    D = problem.sde.diffusion(points)
    return b, D


def _field_derivatives(problem, x, step=1e-6):
    """d b / dx_k and d A / dx_k at x (A = D^{-1}), by central differences."""
    db, dA = np.zeros((3, 3)), np.zeros((3, 3, 3))
    for k in range(3):
        e = np.zeros(3)
        e[k] = step
        bp, Dp = _corner_fields(problem, x + e)
        bm, Dm = _corner_fields(problem, x - e)
        db[k] = (bp - bm) / (2 * step)
        dA[k] = (np.linalg.inv(Dp) - np.linalg.inv(Dm)) / (2 * step)
    return db, dA


def _upwind_triangle(problem, x, h):
    """The half cell face that the exact characteristic through x crosses
    one cell behind it (on the plane of its dominant axis), with the
    crossing in the triangle's coordinates."""
    b, D = _corner_fields(problem, x)
    v = b + D @ problem.exact_gradient(x)
    a = int(np.argmax(np.abs(v)))
    z = x - (h / abs(v[a])) * v
    s_axis, t_axis = (a + 1) % 3, (a + 2) % 3
    i0, j0 = np.floor(z[s_axis] / h), np.floor(z[t_axis] / h)
    s, t = z[s_axis] / h - i0, z[t_axis] / h - j0
    corners = [(0, 0), (1, 0), (1, 1)] if s >= t else [(0, 0), (0, 1), (1, 1)]
    pts = np.zeros((3, 3))
    for n, (i, j) in enumerate(corners):
        pts[n, a] = z[a]
        pts[n, s_axis] = (i0 + i) * h
        pts[n, t_axis] = (j0 + j) * h
    e1, e2 = pts[1] - pts[0], pts[2] - pts[0]
    w = np.linalg.lstsq(np.stack([e1, e2], axis=1), z - pts[0], rcond=None)[0]
    return pts, w


def _jet_update(problem, x, pts, w0):
    b, D = _corner_fields(problem, pts)
    bx, Dx = _corner_fields(problem, x)
    db, dA = _field_derivatives(problem, x)
    u, g = problem.exact(pts), problem.exact_gradient(pts)
    r = _core.triangle_jet_update3(pts, u, g, b, D, x, bx, Dx, db, dA, *w0)
    return r.value, r.gradient, r.s, r.t


def test_tetrahedron_update_agrees_with_reference():
    problem = hjqp.models.anisotropic_rotating_3d()
    rng = np.random.default_rng(3)
    h = 1 / 16
    for _ in range(12):
        x = rng.uniform(-0.7, 0.7, 3)
        offsets = rng.permutation([[-1, 0, 0], [-1, -1, 0], [-1, -1, -1], [0, -1, 0], [-1, 0, -1]])[:3]
        pts = x + h * offsets * rng.choice([-1, 1], 3)
        u = problem.exact(pts)
        b, D = _corner_fields(problem, pts)
        bx, Dx = _corner_fields(problem, x)
        r = _core.tetrahedron_update3(pts[0], u[0], b[0], D[0], pts[1], u[1], b[1], D[1],
                                      pts[2], u[2], b[2], D[2], x, bx, Dx)
        value, kg = r.value, r.gradient
        f = [(b[i], np.linalg.inv(D[i])) for i in range(3)]
        expected, y = ref.tetrahedron_update(pts, u, f, x, (bx, np.linalg.inv(Dx)))
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(kg, ref.momentum(bx, np.linalg.inv(Dx), x - y), rtol=1e-4, atol=1e-7)


def test_triangle_jet_update_agrees_with_reference():
    problem = hjqp.models.anisotropic_rotating_3d()
    rng = np.random.default_rng(4)
    h = 1 / 16
    checked = 0
    while checked < 10:
        x = np.round(rng.uniform(-0.7, 0.7, 3) / h) * h
        if np.linalg.norm(x) < 0.2:
            continue
        pts, w0 = _upwind_triangle(problem, x, h)
        value, grad, u, v = _jet_update(problem, x, pts, w0)
        b, D = _corner_fields(problem, pts)
        bx, Dx = _corner_fields(problem, x)
        f = [(b[i], np.linalg.inv(D[i]), D[i]) for i in range(3)]
        fx = (bx, np.linalg.inv(Dx))
        # Inside, the fields are affine over the tetrahedron (x, p0, p1, p2),
        # as the binding interpolates them.
        M = np.stack([pts[i] - x for i in range(3)], axis=1)

        def inside(q):
            lam = np.linalg.solve(M, q - x)
            return (bx + sum(lam[i] * (b[i] - bx) for i in range(3)),
                    fx[1] + sum(lam[i] * (f[i][1] - fx[1]) for i in range(3)))

        expected, w, held = ref.triangle_jet_update(pts, problem.exact(pts), problem.exact_gradient(pts),
                                                    f, x, fx, inside)
        # Both are minima to within their minimisers' tolerances (the
        # reference's SLSQP stops earlier at times).
        assert value == pytest.approx(expected, rel=1e-7)
        assert value <= expected * (1 + 1e-8)
        np.testing.assert_allclose([u, v], w, atol=2e-4)
        if min(w[0], w[1], 1 - w[0] - w[1]) > 1e-3:
            # dS/dx with the base point and the tangents held; the fields at
            # x move with their derivatives.
            db, dA = _field_derivatives(problem, x)
            step = 1e-5
            fd = np.empty(3)
            for k in range(3):
                e = np.zeros(3)
                e[k] = step
                fp = (bx + step * db[k], fx[1] + step * dA[k])
                fm = (bx - step * db[k], fx[1] - step * dA[k])
                fd[k] = (held((u, v), x + e, fp) - held((u, v), x - e, fm)) / (2 * step)
            np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7 * np.linalg.norm(fd))
            checked += 1


def test_triangle_jet_update_is_third_order_in_value_and_second_in_gradient():
    # With exact 1-jets at the vertices the local error is O(h^3) in U and
    # O(h^2) in grad U (the march is then second order).
    problem = hjqp.models.anisotropic_rotating_3d()
    value_err, grad_err = [], []
    for h in (1 / 16, 1 / 32, 1 / 64):
        rng = np.random.default_rng(5)
        ev, eg = [], []
        while len(ev) < 40:
            x = np.round(rng.uniform(-0.7, 0.7, 3) / h) * h
            if np.linalg.norm(x) < 0.25:
                continue
            pts, w0 = _upwind_triangle(problem, x, h)
            value, grad, u, v = _jet_update(problem, x, pts, w0)
            if min(u, v, 1 - u - v) <= 0.0:
                continue
            ev.append(abs(value - problem.exact(x)))
            eg.append(np.linalg.norm(grad - problem.exact_gradient(x)))
        value_err.append(np.mean(ev))
        grad_err.append(np.mean(eg))
    # Orders over h = 1/16 ... 1/64 (measured: 3.0 and 2.0).
    value_order = np.log2(value_err[0] / value_err[-1]) / 2
    grad_order = np.log2(grad_err[0] / grad_err[-1]) / 2
    assert value_order > 2.7, value_err
    assert grad_order > 1.7, grad_err


def test_linear_non_normal_system_matches_its_lyapunov_solution():
    # J non-normal, D anisotropic constant: U = x^T C^{-1} x / 2 from the
    # Lyapunov equation. Measured: max error 3.6e-4 at N = 33.
    problem = hjqp.models.linear_3d(1.0)
    grid, qp = solve(problem, 33)
    err = interior_errors(problem, qp, 0.9)
    assert err.max() < 5e-4
    assert qp.info["jet"] > 0.95 * qp.info["accepted"]


def test_manufactured_problem_with_rotating_anisotropic_diffusion_is_solved_to_1e_2():
    # Condition number up to 10 of D(x), eigenvectors turning with x, and a
    # rotational part of the drift. Measured: max 8.9e-3, RMS 2.7e-3 at N = 33.
    problem = hjqp.models.anisotropic_rotating_3d()
    _, qp = solve(problem, 33)
    err = interior_errors(problem, qp, 1.0)
    assert err.max() < 1.2e-2
    assert np.sqrt(np.mean(err**2)) < 3.5e-3


def test_gradient_system_gives_twice_the_potential():
    # b = -grad V, D = I: U = 2 V (here V is not quadratic).
    def V(p):
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        return 0.5 * x**2 + y**2 + 0.75 * z**2 + 0.25 * x**4 + 0.2 * x * y * z

    def grad_V(p):
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        return np.stack([x + x**3 + 0.2 * y * z, 2 * y + 0.2 * x * z, 1.5 * z + 0.2 * x * y], axis=-1)

    sde = hjqp.SDE.gradient(grad_V)
    grid = hjqp.Grid((-1, -1, -1), (1, 1, 1), (33, 33, 33))
    qp = hjqp.local_quasipotential(sde, grid, (0, 0, 0))
    exact = 2 * V(grid.points())
    inside = exact <= 1.0
    # Measured: 8.8e-4 (N = 33), 3.3e-4 (N = 65).
    assert np.abs(qp.values - exact)[inside].max() < 1.2e-3


def test_rms_error_converges_at_second_order():
    _, rms, _, rms_order = orders(hjqp.models.anisotropic_rotating_3d(), [33, 65], 1.0)
    assert rms_order[0] > 1.6, rms


@pytest.mark.slow
@pytest.mark.parametrize("problem, level, sizes, min_order, final", [
    (hjqp.models.anisotropic_rotating_3d(), 1.0, [65, 129], 1.8, 1e-3),
    (hjqp.models.linear_3d(1.0), 0.9, [65, 129], 1.8, 2e-4),
], ids=lambda v: getattr(v, "name", None))
def test_convergence_order_3d(problem, level, sizes, min_order, final):
    max_err, rms, max_order, rms_order = orders(problem, sizes, level)
    assert rms_order[0] > min_order, rms
    assert max_order[0] > min_order - 0.3, max_err
    assert max_err[-1] < final


def test_3d_solution_is_nonnegative_zero_at_the_attractor_and_grows_along_axes():
    problem = hjqp.models.anisotropic_rotating_3d()
    grid, qp = solve(problem, 25)
    assert np.all(qp.values >= 0)
    assert np.isfinite(qp.values).all()
    assert qp(np.asarray(problem.attractor)) == pytest.approx(0.0, abs=1e-12)
    # U grows away from the attractor along rays (it is convex here).
    center = np.array(grid.shape) // 2
    for axis in range(3):
        line = np.take(qp.values, center[(axis + 1) % 3], axis=(axis + 1) % 3)
        line = np.take(line, center[(axis + 2) % 3], axis=(axis + 1) % 2)
        half = line[center[axis]:]
        assert np.all(np.diff(half) > 0)


def test_symmetric_problem_gives_symmetric_values():
    # A linear system is symmetric under x -> -x; the march is not, so the
    # two values differ by at most the error.
    problem = hjqp.models.linear_3d(1.0)
    _, qp = solve(problem, 33)
    exact = problem.exact(qp.grid.points())
    inside = exact <= 0.9
    mirrored = qp.values[::-1, ::-1, ::-1]
    assert np.abs(qp.values - mirrored)[inside].max() < 2 * interior_errors(problem, qp, 0.9).max()


def test_interpolation_in_3d_is_fourth_order_in_the_cells():
    problem = hjqp.models.linear_3d(1.0)
    grid = problem.grid(33)
    # Exact nodal 1-jets: the tricubic Hermite interpolant errs by O(h^4) in
    # U (the mixed derivatives by differences of the gradient).
    values = problem.exact(grid.points())
    grad = problem.exact_gradient(grid.points())
    qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
    exact_qp = hjqp.QuasiPotential(values, grad, qp.attractor, grid, qp.rules, None, {}, problem.sde)
    rng = np.random.default_rng(6)
    pts = rng.uniform(-0.6, 0.6, (500, 3))
    np.testing.assert_allclose(exact_qp(pts), problem.exact(pts), atol=1e-12)  # U quadratic
    np.testing.assert_allclose(exact_qp.gradient(pts), problem.exact_gradient(pts), atol=1e-10)
    # On the computed values: within the solver's error at the nodes (3.6e-4).
    err = np.abs(qp(pts) - problem.exact(pts))
    assert err.max() < 5e-4


def test_results_are_bit_identical_across_runs_and_threads():
    problem = hjqp.models.anisotropic_rotating_3d()
    grid = problem.grid(21)
    first = hjqp.local_quasipotential(problem.sde, grid, problem.attractor).values
    out = [None, None]

    def run(k):
        out[k] = hjqp.local_quasipotential(problem.sde, grid, problem.attractor).values

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for values in out:
        assert np.array_equal(values, first)


def test_bad_input_in_3d_names_the_node():
    problem = hjqp.models.linear_3d(1.0)
    grid = problem.grid(9)

    def diffusion(p):
        D = np.broadcast_to(np.eye(3), p.shape[:-1] + (3, 3)).copy()
        D[..., 2, 2] = np.where(p[..., 0] > 0.7, -1.0, 1.0)
        return D

    with pytest.raises(ValueError, match=r"not positive definite at grid node \[7, 0, 0\]"):
        hjqp.local_quasipotential(hjqp.SDE(problem.sde.drift, diffusion), grid, (0, 0, 0))
    elongated = hjqp.Grid((-1, -1, -1), (1, 1, 1), (65, 65, 9))
    with pytest.raises(ValueError, match="aspect ratio"):
        hjqp.local_quasipotential(problem.sde, elongated, (0, 0, 0))


def test_3d_landscape_costs_and_global_values_match_the_double_well():
    # A tilted double well whose z-curvature differs between the wells:
    # V_ij = 2 (V(s) - V(O_i)) / noise. Measured on 41 nodes per axis: costs
    # 0.47 % and 0.70 % low, phi(O_2) 0.28 % low.
    problem = hjqp.models.double_well_3d(0.1, 0.5)
    land = hjqp.landscape(problem.sde, problem.grid(41))
    assert land.k == 2 and len(land.saddles) == 1
    np.testing.assert_allclose(land.attractors, problem.attractors, atol=1e-8)
    np.testing.assert_allclose(land.saddles, problem.saddles, atol=1e-8)
    exact = np.array(problem.costs)
    off = ~np.eye(2, dtype=bool)
    np.testing.assert_allclose(land.costs[off], exact[off], rtol=1e-2)
    np.testing.assert_allclose(land.global_values, problem.global_values, rtol=5e-3, atol=1e-12)
    assert land.selected == 0
    path = land.transition_path(0, 1)
    assert np.allclose(path[0], problem.attractors[0]) and np.linalg.norm(path[-1] - problem.attractors[1]) < 0.1
