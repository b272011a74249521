"""hjqp.eikonal against exact distances, manufactured problems and scikit-fmm."""

import numpy as np
import pytest

import hjqp
import hjqp.eikonal as eikonal
import reference
from hjqp.models import eikonal_manufactured, unconstrained_region

skfmm = pytest.importorskip("skfmm")


def nodes(shape, dx):
    """Node coordinates (*shape, d) with node i at i * dx."""
    upper = (np.asarray(shape) - 1) * np.broadcast_to(dx, len(shape))
    return hjqp.Grid(lower=(0.0,) * len(shape), upper=tuple(upper), shape=shape).points()


def ellipse_norm(q, metric):
    return np.sqrt(np.einsum("...i,ij,...j->...", q, metric, q))


def observed_order(sizes, errors):
    return np.log(errors[0] / errors[-1]) / np.log((sizes[-1] - 1) / (sizes[0] - 1))


ROTATED = np.array([[2.8387907765274414, -3.3658839392315865], [-3.3658839392315865, 7.16120922347256]])
METRIC_3D = np.array([[2.0, 0.5, 0.3], [0.5, 1.0, 0.2], [0.3, 0.2, 3.0]])


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("shape, dx, source", [
    ((41, 57), (0.05, 0.03), (1.013, 0.77)),    # off-node source, unequal spacing
    ((33, 33), 0.1, (1.6, 1.6)),                # on a node
    ((21, 17, 25), (0.1, 0.12, 0.07), (0.93, 1.31, 0.52)),
    ((17, 17, 17), 0.2, (0.0, 3.2, 1.6)),       # on the boundary
])
def test_point_source_is_exact_for_constant_speed(order, shape, dx, source):
    x = nodes(shape, dx)
    exact = np.linalg.norm(x - np.asarray(source), axis=-1) / 2.5
    u = eikonal.point_source(source, shape=shape, dx=dx, speed=2.5, order=order)
    np.testing.assert_allclose(u, exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("metric, shape, dx, source", [
    (ROTATED, (49, 41), 1 / 40, (0.61, 0.47)),
    (np.diag([1.0, 100.0]), (33, 33), 1 / 32, (0.5, 0.5)),  # condition 100
    (METRIC_3D, (17, 19, 15), 1 / 16, (0.4, 0.55, 0.5)),
])
def test_point_source_is_exact_for_a_constant_metric(metric, shape, dx, source):
    x = nodes(shape, dx)
    exact = ellipse_norm(x - np.asarray(source), metric)
    u = eikonal.point_source(source, shape=shape, dx=dx, metric=metric)
    np.testing.assert_allclose(u, exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("metric", [None, ROTATED, np.eye(3)])
@pytest.mark.parametrize("order", [1, 2])
def test_distance_to_an_axis_plane_is_exact(metric, order):
    # The zero level set's initial data are exact for a plane normal to an
    # axis (for oblique planes they are scikit-fmm's first-order estimate),
    # and so are the upwind and ring updates where the shortest path, along
    # M^-1 n, stays a cell inside the box. (With a 3D metric the ring's
    # interpolation carries the box's influence a little further in: errors
    # of 1e-4 appear next to the walls.)
    shape = (37, 45) if metric is None or len(metric) == 2 else (15, 17, 19)
    dx = (0.05, 0.04, 0.03)[:len(shape)]
    x = nodes(shape, dx)
    normal = np.eye(len(shape))[-1]
    phi = x @ normal - 0.3
    m_inv = np.eye(len(shape)) if metric is None else np.linalg.inv(metric)
    exact = phi / np.sqrt(normal @ m_inv @ normal)
    d = eikonal.distance(phi, dx=dx, order=order, metric=metric)
    foot = x - phi[..., None] * (m_inv @ normal) / (normal @ m_inv @ normal)
    upper = (np.asarray(shape) - 1) * dx
    free = np.all((foot >= np.asarray(dx)) & (foot <= upper - dx), axis=-1)
    assert free.mean() > 0.3
    np.testing.assert_allclose(d[free], exact[free], rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_circle_distance_equals_scikit_fmm(order):
    # On a smooth level set the 2D upwind scheme is scikit-fmm's.
    n, h = 65, 1.0 / 64
    x = nodes((n, n), h)
    phi = np.linalg.norm(x - 0.45, axis=-1) - 0.3
    np.testing.assert_allclose(eikonal.distance(phi, dx=h, order=order), skfmm.distance(phi, dx=h, order=order),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_sphere_distance_is_as_accurate_as_scikit_fmm(order):
    # In 3D the schemes differ where scikit-fmm accepts a root of the
    # quadratic that uses a downwind neighbour; hjqp drops that axis.
    n, h = 33, 1.0 / 32
    x = nodes((n, n, n), h)
    r = np.linalg.norm(x - 0.45, axis=-1)
    ours = eikonal.distance(r - 0.3, dx=h, order=order)
    theirs = skfmm.distance(r - 0.3, dx=h, order=order)
    our_error, their_error = np.abs(ours - (r - 0.3)).max(), np.abs(theirs - (r - 0.3)).max()
    assert our_error <= 1.02 * their_error
    assert np.abs(ours - theirs).max() <= their_error


def random_smooth_speed(x, rng):
    speed = np.ones(x.shape[:-1])
    for _ in range(4):
        a, b = rng.integers(1, 4, 2)
        speed += 0.1 * rng.standard_normal() * np.sin(np.pi * a * x[..., 0] + rng.uniform(0, 6)) * np.cos(
            np.pi * b * x[..., 1] + rng.uniform(0, 6))
    return speed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_travel_time_agrees_with_scikit_fmm_within_its_own_error(seed):
    def solve(n, solver):
        h = 1.0 / (n - 1)
        x = nodes((n, n), h)
        speed = random_smooth_speed(x, np.random.default_rng(seed))
        phi = np.linalg.norm(x - np.array([0.4, 0.55]), axis=-1) - 0.2
        return np.asarray(solver(phi, speed, dx=h))

    ours, theirs = solve(129, eikonal.travel_time), solve(129, skfmm.travel_time)
    reference = solve(1025, skfmm.travel_time)[::8, ::8]
    skfmm_error = np.abs(theirs - reference).max()
    assert np.abs(ours - theirs).max() <= 0.5 * skfmm_error
    assert np.abs(ours - reference).max() <= 1.05 * skfmm_error


@pytest.mark.parametrize("order, expected", [(1, 0.95), (2, 1.4)])
def test_factored_point_source_converges_on_a_linear_velocity_field(order, expected):
    # Speed F = F0 + g . (x - x0): the travel time from x0 is known in closed
    # form, T = arccosh(1 + |g|^2 |x - x0|^2 / (2 F(x) F0)) / |g|.
    g, x0 = np.array([0.4, 0.3]), np.array([0.5, 0.5])
    sizes, errors = [129, 513], []
    for n in sizes:
        h = 1.0 / (n - 1)
        x = nodes((n, n), h)
        speed = 1.0 + (x - x0) @ g
        exact = np.arccosh(1 + (g @ g) * np.sum((x - x0) ** 2, axis=-1) / (2 * speed)) / np.linalg.norm(g)
        errors.append(np.abs(eikonal.point_source(x0, speed=speed, dx=h, order=order) - exact).max())
    # measured: order 1: 2.0e-4, 4.9e-5 (order 1.00); order 2: 1.8e-5, 2.1e-6 (order 1.53;
    # the largest errors lie on the grid lines through the source)
    assert observed_order(sizes, errors) > expected
    assert errors[-1] < (6e-5 if order == 1 else 3e-6)


def test_anisotropic_level_set_distance_converges_at_first_order():
    sizes, errors = [65, 257], []
    for n in sizes:
        h = 1.0 / (n - 1)
        exact = ellipse_norm(nodes((n, n), h) - 0.5, ROTATED)
        d = eikonal.distance(exact - 0.25, dx=h, metric=ROTATED)
        errors.append(np.abs(d - (exact - 0.25)).mean())
    # measured: 5.4e-3, 1.7e-3 (mean error; orders 0.84, 0.85)
    assert observed_order(sizes, errors) > 0.75
    assert errors[-1] < 2.5e-3


def test_position_dependent_metric_converges_at_first_order():
    sizes, errors = [65, 257], []
    for n in sizes:
        h = 1.0 / (n - 1)
        metric, slowness, exact = eikonal_manufactured(nodes((n, n), h), np.array([0.5, 0.5]))
        u = eikonal.point_source((0.5, 0.5), speed=1 / slowness, dx=h, metric=metric)
        errors.append(np.abs(u - exact)[unconstrained_region(exact)].max())
    # measured: 2.9e-3, 8.5e-4 (order 0.88)
    assert observed_order(sizes, errors) > 0.8
    assert errors[-1] < 1e-3


def test_anisotropic_march_is_swept_to_the_fixed_point_of_its_scheme():
    # An obtuse metric (condition 100, rotated 45 degrees): the ring is not
    # causal, and the sweeps must make the result independent of the order
    # in which the march met the nodes: mirrored problems give mirrored results.
    c = np.sqrt(0.5)
    rot = np.array([[c, -c], [c, c]])
    metric = rot @ np.diag([1.0, 100.0]) @ rot.T
    n, h = 41, 1.0 / 40
    x = nodes((n, n), h)
    phi = np.linalg.norm(x - np.array([0.3, 0.6]), axis=-1) - 0.15
    d = eikonal.distance(phi, dx=h, metric=metric)
    mirrored = eikonal.distance(phi[::-1, ::-1], dx=h, metric=metric)[::-1, ::-1]
    np.testing.assert_allclose(d, mirrored, rtol=0, atol=1e-9)
    # Between the Euclidean distance to the circle times the square roots
    # of M's eigenvalues 1 and 100 (up to the level set's first-order data;
    # measured: |phi| - 0.02 h <= |d| <= 10 |phi|).
    assert np.isfinite(d).all()
    assert (np.abs(d) >= np.abs(phi) - 0.1 * h).all() and (np.abs(d) <= 10 * np.abs(phi) + 0.1 * h).all()


def test_obstacles_are_walked_around():
    # A wall x = 0.5, y < 0.7 between the source and the right half: the
    # distance behind it goes round the wall's end c = (0.5, 0.7).
    sizes, errors = [81, 321], []
    for n in sizes:
        h = 1.0 / (n - 1)
        x = nodes((n, n), h)
        wall = (np.abs(x[..., 0] - 0.5) < 0.5 * h) & (x[..., 1] < 0.7 + 1e-12)
        speed = np.ma.MaskedArray(np.ones((n, n)), mask=wall)
        u = eikonal.point_source((0.25, 0.3), speed=speed, dx=h)
        assert isinstance(u, np.ma.MaskedArray) and np.array_equal(u.mask, wall)
        corner = np.array([0.5, 0.7])
        direct = np.linalg.norm(x - np.array([0.25, 0.3]), axis=-1)
        around = np.linalg.norm(corner - np.array([0.25, 0.3])) + np.linalg.norm(x - corner, axis=-1)
        # points right of the wall and below the line from the source over the corner
        hidden = (x[..., 0] > 0.5 + h) & (x[..., 1] < 0.7 + (x[..., 0] - 0.5) * 0.4 / 0.25 - 2 * h)
        visible_left = x[..., 0] < 0.5 - h
        assert np.abs(u - direct)[visible_left].max() < 1e-12
        errors.append(np.abs(u - around)[hidden].max())
    # first order near the corner, where the distance has a singular gradient
    assert errors[-1] < 0.5 * errors[0] and errors[-1] < 2e-2


def test_masked_arrays_follow_scikit_fmm():
    phi = np.ones((9, 11))
    phi[4, 3] = -1
    mask = np.zeros(phi.shape, dtype=bool)
    mask[1:7, 6] = True
    mask[0, 9] = True
    masked = np.ma.MaskedArray(phi, mask)
    ours, theirs = eikonal.distance(masked), skfmm.distance(masked)
    assert isinstance(ours, np.ma.MaskedArray)
    assert np.array_equal(ours.mask, theirs.mask)
    np.testing.assert_allclose(ours.filled(0), theirs.filled(0), rtol=0, atol=1e-12)


def test_enclosed_regions_are_masked():
    phi = np.ones((15, 15))
    phi[2, 2] = -1
    wall = np.zeros(phi.shape, dtype=bool)
    wall[8, 8:] = wall[8:, 8] = True  # a closed box in the corner
    d = eikonal.distance(np.ma.MaskedArray(phi, wall))
    assert d.mask[9:, 9:].all() and not d.mask[:8, :8].any()


def test_narrow_band_stops_the_march():
    n, h = 101, 0.01
    x = nodes((n, n), h)
    phi = np.linalg.norm(x - 0.5, axis=-1) - 0.2
    full = eikonal.distance(phi, dx=h)
    band = eikonal.distance(phi, dx=h, narrow=0.1)
    assert isinstance(band, np.ma.MaskedArray)
    inside = ~band.mask
    assert np.abs(full[inside]).max() <= 0.1
    np.testing.assert_array_equal(band[inside], full[inside])
    assert (np.abs(full[~inside]) > 0.1 - 2 * h).all()
    theirs = skfmm.distance(phi, dx=h, narrow=0.1)
    assert np.array_equal(band.mask, theirs.mask)


@pytest.mark.parametrize("periodic", [True, (True, False), (False, True)])
def test_periodic_axes_follow_scikit_fmm(periodic):
    n, h = 64, 1.0 / 64
    x = nodes((n, n), h)
    phi = np.linalg.norm(x - np.array([0.1, 0.85]), axis=-1) - 0.08
    np.testing.assert_allclose(eikonal.distance(phi, dx=h, periodic=periodic),
                               skfmm.distance(phi, dx=h, periodic=periodic), rtol=0, atol=1e-12)


def test_travel_time_is_positive_on_both_sides_and_distance_is_signed():
    phi = np.ones((7, 7))
    phi[3, 3] = -1
    t = eikonal.travel_time(phi, np.full(phi.shape, 2.0))
    d = eikonal.distance(phi)
    assert (t > 0).all() and d[3, 3] < 0 and (d[phi > 0] > 0).all()
    np.testing.assert_allclose(t, np.abs(d) / 2, rtol=0, atol=1e-14)


@pytest.mark.parametrize("call, message", [
    (lambda: eikonal.distance(np.ones((5, 5))), "no zero contour"),
    (lambda: eikonal.distance(np.where(np.eye(5) > 0, np.nan, 1.0)), r"phi is not finite at node \(0, 0\)"),
    (lambda: eikonal.distance(np.ones(5)), "2D or 3D"),
    (lambda: eikonal.distance(np.ones((2, 5)) - 0.5 * np.eye(2, 5)), "at least 3 nodes"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, dx=(1.0, 2.0, 3.0)), "dx must be"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, dx=-1.0), "positive"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, order=3), "order must be 1 or 2"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, narrow=-1), "narrow"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, periodic=(True,)), "periodic"),
    (lambda: eikonal.travel_time(np.eye(5) - 0.5, np.where(np.eye(5)[::-1] > 0, 0.0, 1.0)),
     r"speed must be positive and finite; at node \(0, 4\)"),
    (lambda: eikonal.travel_time(np.eye(5) - 0.5, np.ones((4, 5))), "shape"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, metric=np.array([[1.0, 2.0], [2.0, 1.0]])),
     "metric is not positive definite at the constant metric"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, metric=np.array([[1.0, 0.5], [0.0, 1.0]])), "not symmetric"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, metric=np.eye(3)), "metric must have shape"),
    (lambda: eikonal.distance(np.eye(5) - 0.5, metric=np.where(
        (np.arange(25).reshape(5, 5, 1, 1) == 7), -1.0, 1.0) * np.eye(2)),
     r"metric is not positive definite at node \(1, 2\)"),
    (lambda: eikonal.point_source((0.5, 7.0), shape=(5, 5)), "outside the grid"),
    (lambda: eikonal.point_source((0.5,), shape=(5, 5)), "2 finite coordinates"),
    (lambda: eikonal.point_source((0.5, 0.5)), "give the grid shape"),
    (lambda: eikonal.point_source((1.0, 1.0), speed=np.ma.MaskedArray(np.ones((5, 5)), np.ones((5, 5)))),
     "cell of obstacles"),
])
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_scikit_fmm_code_runs_by_changing_the_import():
    import hjqp.eikonal as fmm

    x = nodes((31, 31), 1.0)
    r = np.linalg.norm(x - 14.3, axis=-1)
    phi = r - 6.0
    speed = np.full(phi.shape, 2.0)
    for call, exact in [(lambda m: m.distance(phi, 0.1), 0.1 * phi),
                        (lambda m: m.distance(phi, dx=0.1, order=1), 0.1 * phi),
                        (lambda m: m.travel_time(phi, speed, 0.1), 0.05 * np.abs(phi)),
                        (lambda m: m.travel_time(phi, speed, dx=[0.1, 0.1], order=2, narrow=0.5), 0.05 * np.abs(phi))]:
        ours, theirs = call(fmm), call(skfmm)
        assert type(ours) is type(theirs)
        assert np.abs(ours - exact).max() <= 1.02 * np.abs(theirs - exact).max()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("order", [1, 2])
def test_isotropic_march_agrees_with_the_python_reference(seed, order):
    rng = np.random.default_rng(seed)
    shape, dx = (11, 13), (0.1, 0.07)
    x = nodes(shape, dx)
    speed = np.exp(0.3 * np.sin(3 * x[..., 0] + rng.uniform(0, 6)) * np.cos(2 * x[..., 1] + rng.uniform(0, 6)))
    source = rng.uniform(0.1, 0.8, 2)
    ours = eikonal.point_source(source, speed=speed, dx=dx, order=order)
    theirs = reference.eikonal_fast_marching(shape, dx, 1 / speed, order, source=source)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    phi = np.linalg.norm(x - source, axis=-1) - 0.25
    ours = eikonal.travel_time(phi, speed, dx=dx, order=order)
    seeds = {tuple(i): ours[tuple(i)] for i in np.argwhere(crossing_nodes(phi))}
    theirs = reference.eikonal_fast_marching(shape, dx, 1 / speed, order, seeds=seeds, side=np.sign(phi))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def crossing_nodes(phi):
    """Nodes with an axis neighbour of the other sign (the level-set seeds)."""
    out = np.zeros(phi.shape, dtype=bool)
    for k in range(phi.ndim):
        a = np.swapaxes(phi, 0, k)
        o = np.swapaxes(out, 0, k)
        change = a[1:] * a[:-1] <= 0
        o[1:] |= change
        o[:-1] |= change
    return out


@pytest.mark.parametrize("seed", range(3))
def test_anisotropic_march_reaches_the_fixed_point_of_the_python_reference(seed):
    rng = np.random.default_rng(seed)
    shape, dx = (7, 8), (0.1, 0.13)
    x = nodes(shape, dx)
    theta = rng.uniform(0, np.pi) + 2 * x[..., 0] - x[..., 1]
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    metric = rot @ np.diag([1.0, rng.uniform(2, 30)]) @ np.swapaxes(rot, -1, -2)
    speed = rng.uniform(0.5, 2.0, shape)
    phi = np.linalg.norm(x - rng.uniform(0.2, 0.6, 2), axis=-1) - 0.12
    ours = eikonal.travel_time(phi, speed, dx=dx, metric=metric)
    outside = phi > 0
    seeds = {tuple(i): ours[tuple(i)] for i in np.argwhere(crossing_nodes(phi) & outside)}
    theirs = reference.eikonal_ring_fixed_point(shape, dx, 1 / speed, metric, seeds, outside)
    np.testing.assert_allclose(ours[outside], theirs[outside], rtol=1e-9, atol=0)


def test_a_march_too_large_for_memory_raises_memory_error_before_allocating(monkeypatch):
    from hjqp import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 10 * 2**20)  # 10 MiB
    with pytest.raises(MemoryError, match=r"an eikonal march on \(1025, 1025\) nodes needs about 0.0626 GiB"):
        eikonal.point_source((0.5, 0.5), shape=(1025, 1025), dx=1 / 1024)
    with pytest.raises(MemoryError, match="an eikonal march"):
        eikonal.distance(np.ones((1025, 1025)) - np.eye(1025))


@pytest.mark.parametrize("speed", [1e8, 1e20, 1e300])
@pytest.mark.parametrize("order", [1, 2])
def test_a_node_far_faster_than_its_neighbours_is_reached(speed, order):
    # The second-order root came from b^2 - a c, two numbers of size u^2
    # whose difference s^2 a was lost to rounding: the node stayed +inf.
    phi = np.ones((65, 65))
    phi[32, 32] = -1
    s = np.ones_like(phi)
    s[10, 10] = speed
    u = eikonal.travel_time(phi, s, order=order)
    uniform = eikonal.travel_time(phi, np.ones_like(phi), order=order)
    assert np.isfinite(u).all()
    # No slower than with speed 1 there, no faster than its upwind neighbours.
    assert min(u[11, 10], u[10, 11]) <= u[10, 10] <= uniform[10, 10]
    v = eikonal.point_source((32, 32), speed=s, order=order)
    assert np.isfinite(v).all()
    assert min(v[11, 10], v[10, 11]) <= v[10, 10] <= eikonal.point_source((32, 32), shape=(65, 65), order=order)[10, 10]


def test_extreme_speed_ratios_agree_with_the_python_reference():
    rng = np.random.default_rng(3)
    shape, dx = (11, 13), (0.1, 0.07)
    speed = 10.0 ** rng.uniform(-1, 1, shape)
    speed[rng.integers(0, 11, 6), rng.integers(0, 13, 6)] = 10.0 ** rng.uniform(7, 14, 6)
    for order in (1, 2):
        ours = eikonal.point_source((0.42, 0.31), speed=speed, dx=dx, order=order)
        theirs = reference.eikonal_fast_marching(shape, dx, 1 / speed, order, source=(0.42, 0.31))
        assert np.isfinite(ours).all()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("speed", [1e20, 1e160, 1e300])
@pytest.mark.parametrize("order", [1, 2])
def test_a_point_source_on_a_node_far_faster_than_its_neighbours_reaches_every_node(speed, order):
    # The factored update solves for tau = u / T0 = O(1 / s0): its
    # coefficients O(s0) were squared and underflowed for s0 below 1e-154.
    s = np.ones((33, 33))
    s[16, 16] = speed
    for source in [(16, 16), (16.3, 15.8)]:
        u = eikonal.point_source(source, speed=s, order=order)
        assert np.isfinite(u).all() and (u >= 0).all()
