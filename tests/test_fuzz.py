"""Fuzzing: random problems, random bad input, random layouts.

Every case must end in a result that satisfies the invariants (U >= 0,
U = 0 at the attractor, finite where reached, the minimum action path's U
decreasing towards the attractor) or in a ValueError whose message names
what is wrong. A crash kills the test process; a hang fails on the time
limit. CI runs a few hundred cases (HJQP_FUZZ_EXAMPLES, default 40 per test);
`HJQP_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py` runs over 10,000.
"""

import itertools
import os
import re
import signal
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import hjqp
from hjqp._validate import max_threads as _validate_max_threads
from hjqp.sgd import MinibatchSGD

EXAMPLES = int(os.environ.get("HJQP_FUZZ_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
NODE = re.compile(r"grid node \[\d+, \d+\]")


@contextmanager
def time_limit(seconds):
    """Fail (not hang) if the block runs longer than `seconds`."""
    def alarm(signum, frame):
        raise TimeoutError(f"no result within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def rotation(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


@st.composite
def grids(draw):
    """Boxes of any aspect, 3 to 60 nodes per axis; mostly with nodes in
    proportion to the sides (cells of aspect <= 4, which the march accepts),
    some very elongated (which it must refuse with a clear error)."""
    nx = draw(st.integers(3, 60))
    wx = draw(st.floats(0.05, 20.0))
    aspect = draw(st.sampled_from([1.0, 0.01, 0.1, 10.0, 100.0, draw(st.floats(0.2, 5.0))]))
    wy = wx * aspect
    if draw(st.integers(0, 3)):  # cells of aspect <= 4
        ny = int(np.clip(round((nx - 1) * aspect * draw(st.floats(0.5, 2.0))) + 1, 3, 200))
        if max((wx / (nx - 1)) / (wy / (ny - 1)), (wy / (ny - 1)) / (wx / (nx - 1))) > 4:
            ny = 3 if aspect < 1 else ny
    else:
        ny = draw(st.sampled_from([3, 4, 5, nx, draw(st.integers(3, 60))]))
    cx, cy = draw(st.floats(-5, 5)), draw(st.floats(-5, 5))
    return hjqp.Grid((cx - wx / 2, cy - wy / 2), (cx + wx / 2, cy + wy / 2), (nx, ny))


def linear_drift(O, M, scale, kind, width):
    """b = M (x - O), plus a cubic damping or a jump by a factor 2 across the
    plane x_1 - O_1 = 0.3 width."""
    def drift(p):
        y = p - O
        b = y @ M.T
        if kind == "cubic":
            b = b - scale * y * np.sum(y**2, axis=-1, keepdims=True)
        elif kind == "jump":
            b = np.where(y[..., :1] > 0.3 * width, 2.0 * b, b)
        return b

    return drift


@st.composite
def problems(draw, grid):
    """A drift with a stable equilibrium somewhere near the box and a D."""
    lo, hi = np.array(grid.lower), np.array(grid.upper)
    where = draw(st.sampled_from(["inside", "node", "edge", "corner", "outside"]))
    if where == "inside":
        O = lo + (hi - lo) * np.array([draw(st.floats(0.05, 0.95)), draw(st.floats(0.05, 0.95))])
    elif where == "node":
        O = np.array(grid.points()[grid.shape[0] // 2, grid.shape[1] // 2])
    elif where == "edge":
        O = np.array([lo[0], (lo[1] + hi[1]) / 2])
    elif where == "corner":
        O = hi.copy()
    else:
        O = hi + (hi - lo)
    scale = draw(st.sampled_from([1e-8, 1e-3, 1.0, 1e3, 1e6]))
    condition = draw(st.sampled_from([1.0, 10.0, 1e3, 1e6]))
    rot = draw(st.floats(-5, 5))
    kind = draw(st.sampled_from(["linear", "cubic", "jump"]))
    theta = draw(st.floats(0, np.pi))
    R = rotation(theta)
    Dc = R @ np.diag([1.0, 1.0 / condition]) @ R.T
    spatial = draw(st.booleans())
    Q = np.diag([1.0, draw(st.floats(0.2, 5.0))])
    J = np.array([[0.0, -1.0], [1.0, 0.0]])
    M = scale * (-0.5 * Dc @ Q + rot * J @ Q)

    drift = linear_drift(O, M, scale, kind, hi[0] - lo[0])

    def diffusion(p):
        if not spatial:
            return np.broadcast_to(Dc, p.shape[:-1] + (2, 2))
        a = theta + 0.5 * np.sin(p[..., 0])
        c, s = np.cos(a), np.sin(a)
        Rx = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
        return Rx @ np.diag([1.0, 1.0 / condition]) @ np.swapaxes(Rx, -1, -2)

    return hjqp.SDE(drift, diffusion), O, where, kind


def check_result(qp, grid):
    v = qp.values
    finite = np.isfinite(v)
    assert finite.any()
    assert np.all(v[finite] >= 0), "U < 0"
    assert np.all(np.isfinite(qp.grad[finite])), "grad U not finite where U is"
    # U(O) = 0: the expansion is 0 there, and the interpolated value is small
    # next to U at the corners of O's cell (interpolation error O(h^4) against O(h^2))
    assert qp.expansion.value(qp.attractor) == 0.0
    cell = [grid.nearest_node(qp.attractor + np.array(s) * np.array(grid.spacing) / 2)
            for s in itertools.product((-1, 1), repeat=grid.ndim)]
    corners = max(float(v[c]) for c in cell)
    assert abs(qp(qp.attractor)) <= max(0.1 * corners, 1e-8 * float(np.max(v[finite])))
    assert np.all(np.isin(qp.rules, list(hjqp.UpdateRule)))


def check_error(exc):
    message = str(exc)
    assert message, "an error without a message"
    known = ("attractor", "equilibrium", "stable", "diffusion", "drift", "box", "grid", "Newton",
             "positive definite", "outside", "minimum action path", "elongated")
    assert any(word in message for word in known), message


def solve_or_error(sde, grid, O):
    """The solution, or None after checking the ValueError it raised."""
    with time_limit(60):
        try:
            return hjqp.local_quasipotential(sde, grid, O)
        except ValueError as exc:
            check_error(exc)
            return None


@SETTINGS
@given(st.data())
def test_random_2d_problems_give_a_valid_result_or_a_value_error(data):
    grid = data.draw(grids())
    sde, O, where, _ = data.draw(problems(grid))
    solve_and_check(sde, grid, O, where)


def solve_and_check(sde, grid, O, where):
    """A result with the invariants, or a named error; never a result for
    an attractor outside the box."""
    qp = solve_or_error(sde, grid, O)
    if qp is None:
        return
    check_result(qp, grid)
    if where == "outside":
        pytest.fail("an attractor outside the box was accepted")


@st.composite
def problems_3d(draw):
    """A 3D box (3 to 25 nodes per axis, cells of aspect up to about 3) and
    a drift with a stable equilibrium inside, on a node, on a face, at a
    corner or outside; D rotated, of condition up to 1e6, constant or not."""
    n = [draw(st.integers(3, 25)) for _ in range(3)]
    h = draw(st.floats(0.01, 2.0))
    spacing = np.array([h * draw(st.floats(0.6, 1.8)) for _ in range(3)])
    lo = np.array([draw(st.floats(-5, 5)) for _ in range(3)])
    hi = lo + spacing * (np.array(n) - 1)
    grid = hjqp.Grid(tuple(lo), tuple(hi), tuple(n))
    where = draw(st.sampled_from(["inside", "node", "face", "corner", "outside"]))
    O = {"inside": lo + (hi - lo) * np.array([draw(st.floats(0.1, 0.9)) for _ in range(3)]),
         "node": np.array(grid.points()[n[0] // 2, n[1] // 2, n[2] // 2]),
         "face": np.array([lo[0], (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2]),
         "corner": hi.copy(), "outside": hi + (hi - lo)}[where]
    scale = draw(st.sampled_from([1e-6, 1.0, 1e4]))
    condition = draw(st.sampled_from([1.0, 10.0, 1e3, 1e6]))
    w = np.array([draw(st.floats(-3, 3)) for _ in range(3)])
    angles = [draw(st.floats(0, np.pi)) for _ in range(2)]
    ca, sa, cb, sb = np.cos(angles[0]), np.sin(angles[0]), np.cos(angles[1]), np.sin(angles[1])
    R = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, cb, -sb], [0, sb, cb]])
    Dc = R @ np.diag([1.0, 1.0 / condition, 1.0 / np.sqrt(condition)]) @ R.T
    Q = np.diag([1.0, draw(st.floats(0.2, 5.0)), draw(st.floats(0.2, 5.0))])
    W = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    M = scale * (-0.5 * Dc @ Q + W @ Q)
    kind = draw(st.sampled_from(["linear", "cubic", "jump"]))
    spatial = draw(st.booleans())

    drift = linear_drift(O, M, scale, kind, hi[0] - lo[0])

    def diffusion(p):
        if not spatial:
            return np.broadcast_to(Dc, p.shape[:-1] + (3, 3))
        f = 1.0 + 0.5 * np.sin(p[..., 0])[..., None, None]
        return f * Dc

    return grid, hjqp.SDE(drift, diffusion), O, where


@SETTINGS
@given(st.data())
def test_random_3d_problems_give_a_valid_result_or_a_value_error(data):
    grid, sde, O, where = data.draw(problems_3d())
    solve_and_check(sde, grid, O, where)


@SETTINGS
@given(st.data())
def test_minimum_action_paths_of_random_smooth_problems_descend(data):
    grid = hjqp.Grid((-1, -1), (1, 1), (data.draw(st.integers(21, 61)),) * 2)
    # (smooth fields: across a jump of b the interpolated grad U and b do not
    # satisfy the equation, and U may dip along the path by O(h))
    sde, O, _, _ = data.draw(problems(grid).filter(lambda t: t[2] == "inside" and t[3] != "jump"))
    qp = solve_or_error(sde, grid, O)
    if qp is None:
        return
    with time_limit(60):
        check_result(qp, grid)
        finite = np.isfinite(qp.values)
        target = grid.points()[finite][np.argmax(qp.values[finite] * (qp.values[finite] < 0.5 * np.max(qp.values[finite])))]
        try:
            path = hjqp.minimum_action_path(qp, target, max_steps=10 * sum(grid.shape))
        except ValueError as exc:
            check_error(exc)
            return
    u = qp(path, fill_value=np.inf)
    u = u[np.isfinite(u)]
    # The path runs from the attractor to the end point: U increases along it,
    # up to the error of U interpolated between nodes. These grids are coarse
    # (21-61 nodes) and D has conditions up to 1e6: dips of 0.2 % of the range
    # of U were seen in 10,000 cases; 1 % still catches a path that runs
    # the wrong way.
    assert np.all(np.diff(u) >= -1e-2 * float(u.max())), (np.diff(u).min(), float(u.max()))


@SETTINGS
@given(st.data())
def test_bad_values_name_the_node(data):
    n0 = data.draw(st.integers(3, 30))
    n1 = data.draw(st.integers(max(3, -(-(n0 - 1) // 4) + 1), min(30, 4 * (n0 - 1) + 1)))  # aspect <= 4
    grid = hjqp.Grid((-1, -1), (1, 1), (n0, n1))
    b = -grid.points()
    D = np.broadcast_to(np.eye(2), grid.shape + (2, 2)).copy()
    i, j = data.draw(st.integers(0, n0 - 1)), data.draw(st.integers(0, n1 - 1))
    bad = data.draw(st.sampled_from([np.nan, np.inf, -np.inf, "not spd", "asymmetric"]))
    target = data.draw(st.sampled_from(["drift", "diffusion"]))
    if target == "drift" and isinstance(bad, float):
        b[i, j, data.draw(st.integers(0, 1))] = bad
    elif isinstance(bad, float):
        D[i, j, data.draw(st.integers(0, 1)), data.draw(st.integers(0, 1))] = bad
    elif bad == "not spd":
        D[i, j] = [[1.0, 0.0], [0.0, -data.draw(st.floats(0.0, 10.0))]]
    else:
        D[i, j] = [[1.0, 0.5], [-0.5, 1.0]]
    with time_limit(30):
        with pytest.raises(ValueError) as info:
            hjqp.local_quasipotential(hjqp.SDE(b, D), grid, (0.0, 0.0))
    assert f"grid node [{i}, {j}]" in str(info.value), str(info.value)


@SETTINGS
@given(st.data())
def test_layouts_and_dtypes_give_the_same_result(data):
    m = data.draw(st.integers(2, 12))
    n = 2 * m + 1
    grid = hjqp.Grid((-m, -m), (m, m), (n, n))  # integer coordinates, for integer arrays
    x = grid.points()
    b = -np.stack([x[..., 0] + 2 * x[..., 1], -x[..., 0] + x[..., 1]], axis=-1)
    D = np.broadcast_to(np.array([[1.0, 0.3], [0.3, 0.5]]), grid.shape + (2, 2))
    ref = hjqp.local_quasipotential(hjqp.SDE(b, D.copy()), grid, (0.0, 0.0))
    layout = data.draw(st.sampled_from(["fortran", "strided", "float32", "int", "readonly"]))
    if layout == "fortran":
        b2, D2 = np.asfortranarray(b), np.asfortranarray(D)
    elif layout == "strided":
        big = np.zeros((2 * n, 2 * n, 4))
        big[::2, ::2, 1:3] = b
        b2, D2 = big[::2, ::2, 1:3], D.copy()
    elif layout == "float32":
        b2, D2 = b.astype(np.float32), D.astype(np.float32)
    elif layout == "int":
        b2 = np.rint(b).astype(np.int64)
        D2 = np.broadcast_to(np.eye(2, dtype=np.int32), D.shape)
        ref = hjqp.local_quasipotential(hjqp.SDE(b, np.broadcast_to(np.eye(2), D.shape).copy()), grid,
                                        (0.0, 0.0))
    else:
        b2, D2 = b.copy(), D.copy()
        b2.flags.writeable = False
        D2.flags.writeable = False
    got = hjqp.local_quasipotential(hjqp.SDE(b2, D2), grid, (0.0, 0.0))
    if layout == "float32":
        np.testing.assert_allclose(got.values, ref.values, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(got.values, ref.values)


@SETTINGS
@given(st.data())
def test_random_monte_carlo(data):
    d = data.draw(st.sampled_from([2, 3]))
    scale = data.draw(st.sampled_from([1e-6, 1.0, 1e3]))
    condition = data.draw(st.sampled_from([1.0, 1e3, 1e6]))
    Dm = np.diag([1.0] + [1.0 / condition] * (d - 1))
    sde = hjqp.SDE(lambda p: -scale * p, Dm)
    n = data.draw(st.integers(3, 30 if d == 2 else 12))
    grid = hjqp.Grid((-2.0,) * d, (2.0,) * d, (n,) * d)
    kind = data.draw(st.sampled_from(["ball", "box", "level"]))
    r = data.draw(st.floats(0.05, 1.5))
    dom = {"ball": hjqp.Ball((0.0,) * d, r), "box": hjqp.Box((-r,) * d, (r,) * d),
           "level": hjqp.LevelSet(lambda p: np.max(np.abs(p), axis=-1) - r, (-1.9,) * d, (1.9,) * d)}[kind]
    eps = data.draw(st.sampled_from([1e-4, 0.1, 1.0, 10.0]))
    dt = data.draw(st.sampled_from([1e-4, 1e-2, 0.1]))
    engine = data.draw(st.sampled_from([None, grid]))
    with time_limit(60):
        try:
            ex = hjqp.exit_times(sde, np.zeros(d), dom, eps, dt, 16, seed=data.draw(st.integers(0, 2**31)),
                                 max_time=200 * dt, grid=engine)
        except ValueError as exc:
            assert "grid's box" in str(exc) or "diverged" in str(exc), str(exc)
            return
    assert ex.times.shape == (16,) and np.all((ex.times >= 0) & (ex.times <= ex.max_time + 1e-12))
    done = ~ex.censored
    assert np.all(np.isfinite(ex.positions[done])) and np.all(np.isnan(ex.positions[ex.censored]))
    if kind == "ball" and done.any():
        np.testing.assert_allclose(np.linalg.norm(ex.positions[done], axis=1), r, rtol=1e-9)


@st.composite
def eikonal_problems(draw):
    """Random eikonal problems: 2D or 3D, level sets or point sources,
    speeds over 8 decades, metrics of condition up to 1e6, obstacles,
    periodic axes, narrow bands, and some bad input."""
    d = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.lists(st.integers(3, 24 if d == 2 else 10), min_size=d, max_size=d)))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    dx = tuple(10.0 ** rng.uniform(-3, 1, d))
    kind = draw(st.sampled_from(["constant", "field", "masked", "bad"]))
    speed = 10.0 ** rng.uniform(-4, 4, shape) if kind != "constant" else float(10.0 ** rng.uniform(-4, 4))
    if kind == "masked":
        speed = np.ma.MaskedArray(speed, mask=rng.random(shape) < draw(st.sampled_from([0.1, 0.5, 0.95])))
    if kind == "bad":
        speed = speed.copy()
        speed.flat[rng.integers(speed.size)] = draw(st.sampled_from([0.0, -1.0, np.nan, np.inf]))
    metric = None
    if draw(st.booleans()):
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        cond = 10.0 ** draw(st.sampled_from([0, 1, 3, 6]))
        metric = q @ np.diag(np.geomspace(1.0, cond, d)) @ q.T
        if draw(st.booleans()):
            metric = metric * (1.0 + 0.5 * rng.random(shape))[..., None, None]
    upper = (np.asarray(shape) - 1) * np.asarray(dx)
    source = rng.uniform(-0.1, 1.1, d) * upper
    phi = rng.standard_normal(shape) if draw(st.booleans()) else np.linalg.norm(
        np.stack(np.meshgrid(*[np.arange(n) * h for n, h in zip(shape, dx)], indexing="ij"), -1) - source,
        axis=-1) - max(0.3 * upper.min(), 1.01 * np.linalg.norm(dx))
    return dict(d=d, shape=shape, dx=dx, speed=speed, metric=metric, source=source, phi=phi,
                order=draw(st.sampled_from([1, 2])), narrow=draw(st.sampled_from([0.0, 0.3])),
                periodic=draw(st.booleans()), point=draw(st.booleans()))


@SETTINGS
@given(eikonal_problems())
def test_random_eikonal_problems_end_in_a_result_or_a_value_error(p):
    import hjqp.eikonal as eikonal

    with time_limit(60):
        try:
            if p["point"]:
                u = eikonal.point_source(p["source"], shape=p["shape"], speed=p["speed"], dx=p["dx"],
                                         order=p["order"], narrow=p["narrow"], metric=p["metric"])
            else:
                speed = p["speed"]
                if np.ma.isMaskedArray(speed):
                    speed = np.ma.MaskedArray(np.broadcast_to(speed.data, p["shape"]), mask=speed.mask)
                u = eikonal.travel_time(p["phi"], speed, dx=p["dx"], order=p["order"], narrow=p["narrow"],
                                        periodic=p["periodic"], metric=p["metric"])
        except ValueError as exc:
            assert str(exc)
            return
    values = np.ma.filled(u, np.nan) if np.ma.isMaskedArray(u) else u
    reached = np.isfinite(values)
    assert u.shape == p["shape"] and reached.any()
    assert (values[reached] >= 0).all()
    if np.ma.isMaskedArray(u):
        assert np.array_equal(~reached, np.ma.getmaskarray(u))
    else:
        assert reached.all()


# -- inputs changed in place between calls -------------------------------------------------

@SETTINGS
@given(st.data())
def test_inputs_changed_in_place_between_calls(data):
    """What the caller changes between two calls is what the second call
    computes with (a sigma array, a callable's parameter), and what an SDE
    was built from is copied (its arrays): the second call equals a fresh
    one either way, bit for bit."""
    grid = hjqp.Grid((-4, -4), (4, 4), (21, 21))
    what = data.draw(st.sampled_from(["sigma", "parameter", "drift array", "diffusion array"]))
    engine = data.draw(st.sampled_from([None, grid])) if what in ("sigma", "parameter") else grid
    seed = data.draw(st.integers(0, 2**31))
    first = data.draw(st.floats(0.2, 3.0))
    second = data.draw(st.floats(0.2, 3.0))
    factor = np.array([[1.0, 0.0], [data.draw(st.floats(-0.9, 0.9)), 0.5]])

    def run(sde, sigma=None):
        return hjqp.simulate(sde, [0.5, -0.5], 0.1, 0.01, 30, 32, seed=seed, grid=engine, sigma=sigma).paths

    if what == "sigma":
        sigma = first * factor
        sde = hjqp.SDE(lambda p: -p)
        run(sde, sigma)
        sigma[:] = second * factor
        np.testing.assert_array_equal(run(sde, sigma), run(hjqp.SDE(lambda p: -p), second * factor))
    elif what == "parameter":
        rate = [first]
        sde = hjqp.SDE(lambda p: -rate[0] * p)
        run(sde)
        rate[0] = second
        np.testing.assert_array_equal(run(sde), run(hjqp.SDE(lambda p, r=second: -r * p)))
    elif what == "drift array":
        drift = -first * grid.points()
        sde = hjqp.SDE(drift)
        before = run(sde)
        drift *= second
        np.testing.assert_array_equal(run(sde), before)
    else:
        dm = np.broadcast_to(first * factor @ factor.T, grid.shape + (2, 2)).copy()
        sde = hjqp.SDE(lambda p: -p, dm)
        qp = hjqp.local_quasipotential(sde, grid, (0.0, 0.0))
        dm *= second
        np.testing.assert_array_equal(hjqp.local_quasipotential(sde, grid, (0.0, 0.0)).values, qp.values)


# -- fields with NaN on part of the box ---------------------------------------------------

NAMED = re.compile(r"at grid node \[(\d+), (\d+)\] \(x = \(([-\d.e+]+), ([-\d.e+]+)\)\)")


@SETTINGS
@given(st.data())
def test_fields_with_nan_on_part_of_the_box_are_named_where(data):
    """NaN drift, diffusion, sigma or level-set function on a random
    rectangle of the box: the solve, the kernel's Monte Carlo engine and the
    geometric action raise ValueError naming a point in that rectangle; the
    exact engine does so if a path enters it."""
    n = data.draw(st.integers(9, 25))
    grid = hjqp.Grid((-2, -2), (2, 2), (n, n))
    axis = grid.axes[0]
    # A rectangle of nodes inside the box (the level set's box leaves out
    # the edge nodes).
    i0, j0 = data.draw(st.integers(1, n - 2)), data.draw(st.integers(1, n - 2))
    i1, j1 = data.draw(st.integers(i0, n - 2)), data.draw(st.integers(j0, n - 2))
    h = grid.spacing[0]
    lo, hi = np.array([axis[i0], axis[j0]]) - h / 4, np.array([axis[i1], axis[j1]]) + h / 4

    def region(p):
        return np.all((p >= lo) & (p <= hi), axis=-1)

    field = data.draw(st.sampled_from(["drift", "diffusion", "sigma", "level set"]))
    drift = (lambda p: np.where(region(p)[..., None], np.nan, -p)) if field == "drift" else (lambda p: -p)
    diffusion = (lambda p: np.where(region(p), np.nan, 1.0)) if field == "diffusion" else 1.0
    sde = hjqp.SDE(drift, diffusion)
    where = data.draw(st.sampled_from(["solve", "native", "exact", "action"]))
    if field in ("sigma", "level set") and where in ("solve", "action"):
        where = "native"
    sigma = (lambda p: np.where(region(p)[..., None, None], np.nan, np.eye(2))) if field == "sigma" else None
    domain = hjqp.Ball((0.0, 0.0), 1.9)
    if field == "level set":
        domain = hjqp.LevelSet(lambda p: np.where(region(p), np.nan, np.sum(p**2, axis=-1) - 1.9**2), (-1.95, -1.95),
                               (1.95, 1.95))
    with time_limit(60):
        try:
            if where == "solve":
                hjqp.local_quasipotential(sde, grid, (0.0, 0.0))
            elif where == "action":
                path = np.stack([np.linspace(-1.9, 1.9, 40), np.linspace(-1.9, 1.9, 40)[::-1]], axis=1)
                path = np.concatenate([path, [(lo + hi) / 2]])
                hjqp.geometric_action(sde, path)
            else:
                hjqp.exit_times(sde, np.zeros(2), domain, 0.5, 0.01, 16, seed=1, max_time=2.0, sigma=sigma,
                                grid=grid if where == "native" else None)
                assert where == "exact", "the kernel's engine took a field with NaN"
                return  # no path entered the rectangle
        except ValueError as exc:
            message = str(exc)
        else:
            raise AssertionError(f"{where} took a {field} with NaN")
    assert any(k in message for k in ("NaN", "not finite", "not positive and finite", "attractor", "equilibrium")), \
        message
    found = NAMED.search(message) or re.search(r"x = \(([-\d.e+]+), ([-\d.e+]+)\)", message)
    assert found, message
    x = np.array([float(v) for v in found.groups()[-2:]])
    assert region(x) or "equilibrium" in message or "attractor" in message, (message, lo, hi)


# -- extreme scales -------------------------------------------------------------------------

@SETTINGS
@given(st.data())
def test_extreme_scales_give_the_scaled_solution_or_a_clear_error(data):
    """b = -s x and D = c M for s and c anywhere in double precision: the
    solve gives (s / c) times the solution at s = c = 1 (U scales so) to
    1e-4 of its largest value, or a
    ValueError that says which field is out of range; nothing +inf in the
    box, no LinAlgError, no LAPACK message."""
    d = data.draw(st.sampled_from([2, 2, 3]))
    s = 10.0 ** data.draw(st.integers(-320, 308))
    c = 10.0 ** data.draw(st.integers(-320, 308))
    shape = data.draw(st.sampled_from(["scalar", "matrix", "callable"]))
    m = np.eye(d) if shape == "scalar" else np.eye(d) + 0.25 * (np.ones((d, d)) - np.eye(d))
    grid = hjqp.Grid((-1.0,) * d, (1.0,) * d, (17,) * d if d == 2 else (9,) * d)

    def sde(s, c):
        if shape == "scalar":
            return hjqp.SDE(lambda p: -s * p, c)
        if shape == "matrix":
            return hjqp.SDE(lambda p: -s * p, c * m)
        return hjqp.SDE(lambda p: -s * p, lambda p: c * np.broadcast_to(m, p.shape[:-1] + (d, d)))

    with time_limit(60):
        try:
            qp = hjqp.local_quasipotential(sde(s, c), grid, (0.0,) * d)
        except ValueError as exc:
            message = str(exc)
            known = ("too small", "cannot be inverted", "too large", "must be positive and finite",
                     "not finite", "no equilibrium", "not a stable attractor")
            assert any(k in message for k in known), message
            return
        unscaled = hjqp.local_quasipotential(sde(1.0, 1.0), grid, (0.0,) * d).values
    assert np.all(np.isfinite(qp.values)), "nodes left +inf"
    with np.errstate(over="ignore", under="ignore"):
        ratio = s / c
        # The kernel's tolerances are partly absolute: within 1e-4 of the
        # largest value, not bit for bit (measured: 3e-5 at s / c = 1e-155).
        atol = max(1e-4 * ratio * float(np.max(unscaled)), 1e-290)
    np.testing.assert_allclose(qp.values, ratio * unscaled, rtol=1e-4, atol=atol)


@st.composite
def extreme_speeds(draw):
    """Speeds of about 1 with a few nodes up to 1e300 times faster or
    slower than their neighbours, on 2D and 3D grids; the whole problem
    scaled (speed and dx) by up to 1e+-200."""
    d = draw(st.sampled_from([2, 3]))
    shape = tuple(draw(st.lists(st.integers(4, 24 if d == 2 else 9), min_size=d, max_size=d)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    speed = 10.0 ** rng.uniform(-0.5, 0.5, shape)
    count = draw(st.integers(1, 6))
    exponents = [draw(st.sampled_from([6.0, 8.0, 12.0, 20.0, 100.0, 300.0, -6.0, -20.0, -160.0, -300.0]))
                 for _ in range(count)]
    fast = []
    for e in exponents:
        fast.append(tuple(int(rng.integers(0, n)) for n in shape))
        speed[fast[-1]] = 10.0**e
    source = tuple(float(rng.uniform(0, n - 1)) for n in shape)
    if draw(st.booleans()):  # a point source on an extreme node
        source = tuple(float(i) for i in fast[0])
    scale = draw(st.sampled_from([1.0, 1.0, 1e-200, 1e200, 2.0**-600]))
    dx = draw(st.sampled_from([1.0, 1.0, 1e-200, 1e200, 2.0**600]))
    with np.errstate(over="ignore"):
        speed = np.clip(speed * scale, 1e-300, 1e300)  # (positive normal numbers)
    return {"shape": shape, "speed": speed, "source": source, "order": draw(st.sampled_from([1, 2])),
            "point": draw(st.booleans()), "dx": dx, "scale": scale}


@SETTINGS
@given(extreme_speeds())
def test_extreme_speed_ratios_reach_every_node(p):
    from hjqp import eikonal

    def solve(speed, order):
        if p["point"]:
            return eikonal.point_source(np.array(p["source"]) * p["dx"], shape=p["shape"], speed=speed,
                                        order=order, dx=p["dx"])
        phi = np.linalg.norm(np.stack(np.indices(p["shape"]), -1) - np.array(p["source"]), axis=-1) - 1.5
        return eikonal.travel_time(phi, speed, order=order, dx=p["dx"])

    with time_limit(60):
        try:
            u = solve(p["speed"], p["order"])
        except ValueError as exc:
            # only where the travel times (about dx / speed) or the speeds'
            # range leave double precision
            assert "double" in str(exc), exc
            extent = p["dx"] * np.sqrt(np.sum(np.square(p["shape"])))
            assert (extent / p["speed"].min() > 1e300 or p["dx"] / p["speed"].max() < 1e-300
                    or p["speed"].max() / p["speed"].min() > 1e300), exc
            return
        assert np.isfinite(u).all() and (u >= 0).all()
        # The first-order scheme is monotone: faster nodes never arrive later.
        try:
            faster = solve(np.maximum(p["speed"], p["scale"] * 10.0 ** 0.5), 1)
        except ValueError as exc:  # (times below the smallest normal double)
            assert "double" in str(exc), exc
            return
        slower = solve(p["speed"], 1)
        assert np.all(faster <= slower * (1 + 1e-12))


@st.composite
def rough_spd_fields(draw):
    """Diffusion arrays SPD at every node that change strongly from node to
    node: random orientation, condition up to 100 and scale per node."""
    n = draw(st.integers(9, 25))
    grid = hjqp.Grid((-1, -1), (1, 1), (n, n))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    condition = draw(st.sampled_from([1.5, 5.0, 20.0, 100.0]))
    theta = rng.uniform(0, np.pi, grid.shape)
    c, s = np.cos(theta), np.sin(theta)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    lam = np.stack([np.ones(grid.shape), 1.0 / condition * np.ones(grid.shape)], -1)
    lam *= 10.0 ** rng.uniform(-1, 1, grid.shape)[..., None]
    D = R @ (lam[..., :, None] * np.eye(2)) @ np.swapaxes(R, -1, -2)
    return grid, D


@settings(SETTINGS, max_examples=max(1, EXAMPLES // 8))  # a solve each: seconds
@given(rough_spd_fields(), st.data())
def test_diffusion_spd_at_every_node_is_accepted_and_stays_spd_between(field, data):
    grid, D = field
    sde = hjqp.SDE(lambda p: -p, D)
    points = np.random.default_rng(data.draw(st.integers(0, 2**31))).uniform(-1, 1, (500, 2))
    assert np.all(np.linalg.eigvalsh(sde.fields(grid).diffusion(points)) > 0)
    with time_limit(60), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # traces cut short by D turning from node to node
        qp = hjqp.local_quasipotential(sde, grid, [0.0, 0.0])
    check_result(qp, grid)


@SETTINGS
@given(st.one_of(st.integers(-3, 2 * _validate_max_threads()), st.sampled_from([10**6, 2**31, 1.5, True, None, "2"])))
def test_any_thread_count_gives_the_same_result_or_a_value_error(threads):
    grid = hjqp.Grid((-1, -1), (1, 1), (17, 17))
    sde = hjqp.SDE(lambda p: np.stack([-p[..., 0] - 3 * p[..., 1], 3 * p[..., 0] - p[..., 1]], -1))
    try:
        labels = hjqp.basins(sde, grid, [[0.0, 0.0]], threads=threads)
        paths = hjqp.simulate(sde, [0.2, 0.1], 0.1, 0.01, 20, 40, seed=3, grid=grid, threads=threads).paths
    except ValueError as exc:
        assert "threads must be an integer in" in str(exc)
        return
    assert np.array_equal(labels, hjqp.basins(sde, grid, [[0.0, 0.0]], threads=1))
    assert np.array_equal(paths, hjqp.simulate(sde, [0.2, 0.1], 0.1, 0.01, 20, 40, seed=3, grid=grid,
                                               threads=1).paths)


# -- what objects and results were made from, changed in place afterwards --------------------

JUMPS = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])


def birth_death_weights(scale=1.0):
    def weights(x):
        return scale * np.stack([np.exp(-x[..., 0]), np.exp(x[..., 0]), np.exp(-x[..., 1]), np.exp(x[..., 1])], -1)

    return weights


@SETTINGS
@given(st.data())
def test_objects_and_results_keep_what_they_were_made_from(data):
    """An array changed in place after an object or a result was made from
    it changes neither: a jump Hamiltonian's weights and jumps (its drift
    is computed from them once), a mass-action law's rates, a linear
    model's J (its drift and exact U), a long run's attractors and radii."""
    what = data.draw(st.sampled_from(["weights", "jumps", "rates", "J", "attractors", "radius"]))
    change = data.draw(st.sampled_from([0.0, -1.0, np.nan, np.inf, data.draw(st.floats(-10, 10))]))
    grid = hjqp.Grid((-1, -1), (1, 1), (9, 9))
    if what in ("weights", "jumps"):
        w, nu = birth_death_weights()(grid.points()), JUMPS.copy()
        H = hjqp.JumpHamiltonian(w, nu)
        before = (H.weights.copy(), H.jumps.copy(), np.array(H.drift), np.array(H.diffusion))
        (w if what == "weights" else nu).reshape(-1)[data.draw(st.integers(0, 7))] = change
        for old, new in zip(before, (H.weights, H.jumps, H.drift, H.diffusion)):
            np.testing.assert_array_equal(new, old)
    elif what == "rates":
        rates = np.array([1.0, 2.0])
        law = hjqp.MassAction(rates, [[0, 0], [1, 0]])
        rates[data.draw(st.integers(0, 1))] = change
        np.testing.assert_array_equal(law.rates, [1.0, 2.0])
    elif what == "J":
        J = np.array([[-1.0, data.draw(st.floats(-5, 5))], [0.0, -2.0]])
        problem = hjqp.models.linear(J, np.eye(2))
        p = np.random.default_rng(data.draw(st.integers(0, 2**31))).uniform(-1, 1, (5, 2))
        drift, exact = problem.sde.drift(p), problem.exact(p)
        J[data.draw(st.integers(0, 1)), data.draw(st.integers(0, 1))] = change
        np.testing.assert_array_equal(problem.sde.drift(p), drift)
        np.testing.assert_array_equal(problem.exact(p), exact)
    else:
        centres, radii = np.array([[0.0, 0.0], [0.6, 0.0]]), np.array([0.2, 0.3])
        run = hjqp.long_run(hjqp.SDE(lambda p: -p), [0, 0], 0.5, 0.01, 20, centres, radii, seed=1)
        (centres if what == "attractors" else radii).reshape(-1)[0] = change
        np.testing.assert_array_equal(run.attractors, [[0.0, 0.0], [0.6, 0.0]])
        np.testing.assert_array_equal(run.radii, [0.2, 0.3])


# -- complex numbers, wherever fields and points come in --------------------------------------

def _complex_entries(z):
    """Calls that take z (a complex number, perhaps of zero imaginary part)
    as a field value, a parameter or a point."""
    grid = hjqp.Grid((-1, -1), (1, 1), (9, 9))
    sde = hjqp.SDE(lambda p: -p)
    one = np.eye(2) * z
    return {
        "drift callable": lambda: hjqp.local_quasipotential(hjqp.SDE(lambda p: -p * z), grid, (0, 0)),
        "grad_f callable": lambda: hjqp.local_quasipotential(hjqp.SDE.gradient(lambda p: p * z), grid, (0, 0)),
        "diffusion array": lambda: hjqp.SDE(lambda p: -p, one),
        "diffusion callable": lambda: hjqp.simulate(
            hjqp.SDE(lambda p: -p, lambda p: np.broadcast_to(one, p.shape[:-1] + (2, 2))), [0, 0], 0.1, 0.01, 3,
            seed=1),
        "sigma": lambda: hjqp.simulate(sde, [0, 0], 0.1, 0.01, 3, seed=1, sigma=one, grid=grid),
        "x0": lambda: hjqp.simulate(sde, [z * 0.1, 0], 0.1, 0.01, 3, seed=1),
        "attractor": lambda: hjqp.local_quasipotential(sde, grid, (0.1 * z, 0.0)),
        "attractors": lambda: hjqp.long_run(sde, [0, 0], 0.1, 0.01, 3, [[0.1 * z, 0.0]], 0.2, seed=1),
        "path": lambda: hjqp.geometric_action(sde, np.linspace([0, 0], [0.5, 0.5], 5) * z),
        "jump weights": lambda: hjqp.local_quasipotential(
            hjqp.JumpHamiltonian(lambda x: birth_death_weights()(x) * z, JUMPS), grid, (0, 0)),
        "jumps": lambda: hjqp.JumpHamiltonian(birth_death_weights(), JUMPS * z),
        "propensities": lambda: hjqp.master_equation(
            hjqp.ReactionNetwork(JUMPS.astype(int), lambda x: np.ones(x.shape[:-1] + (4,)) * z), 5,
            hjqp.Grid((0, 0), (3, 3), (3, 3))),
        "rates": lambda: hjqp.MassAction([z, 2.0], [[0, 0], [1, 0]]),
        "SGD gradients": lambda: MinibatchSGD(lambda x, idx: (x[..., None, :] - idx[..., None]) * z,
                                                       4).simulate([0, 0], 0.1, 3, seed=1),
        "linear model": lambda: hjqp.models.linear(-one, np.eye(2)),
        "points": lambda: grid.contains(np.array([0.1 * z, 0.0])),
        "phi": lambda: hjqp.eikonal.distance(np.linspace(-1, 1, 9)[:, None] * np.ones(9) * z),
        "dx": lambda: hjqp.eikonal.distance(np.linspace(-1, 1, 9)[:, None] * np.ones(9), dx=0.1 * z),
    }


@SETTINGS
@given(st.data())
def test_complex_input_is_refused_never_cut_to_its_real_part(data):
    """A TypeError that says the value must be real (or a ValueError for a
    complex scalar where a positive number is asked), never numpy's
    ComplexWarning and a result computed from the real part."""
    z = complex(data.draw(st.floats(0.5, 2.0)), data.draw(st.sampled_from([0.0, 1e-300, 0.5, -3.0])))
    name = data.draw(st.sampled_from(sorted(_complex_entries(1.0))))
    call = _complex_entries(z)[name]
    with warnings.catch_warnings(), time_limit(60):
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises((TypeError, ValueError)) as info:
            call()
    assert "must be real" in str(info.value) or "positive number" in str(info.value), (name, str(info.value))


# -- jump Hamiltonians at any scale of their weights ------------------------------------------

@SETTINGS
@given(st.integers(-320, 308))
def test_jump_weights_at_any_scale_give_the_unscaled_solution_or_a_clear_error(exponent):
    """U and the geometric action do not change when the weights are
    multiplied by a constant: the solve gives the unscaled solution (to
    1e-4 of its largest value) or a ValueError that says to rescale them;
    the action is the unscaled one to the weights' own precision."""
    grid = hjqp.Grid((-1, -1), (1, 1), (17, 17))
    scale = 10.0**exponent
    H = hjqp.JumpHamiltonian(birth_death_weights(scale), JUMPS)
    overflow = scale * np.e > np.finfo(float).max  # weights of inf in the box: "must be finite"
    with time_limit(60), np.errstate(over="ignore"):
        unscaled = hjqp.local_quasipotential(hjqp.JumpHamiltonian(birth_death_weights(), JUMPS), grid, (0, 0))
        try:
            qp = hjqp.local_quasipotential(H, grid, (0, 0))
        except ValueError as exc:
            known = ("multiply the weights by a common factor", "too small") if not overflow else ("must be finite",)
            assert any(k in str(exc) for k in known), str(exc)
        else:
            assert not overflow
            np.testing.assert_allclose(qp.values, unscaled.values, rtol=1e-4, atol=1e-4 * np.max(unscaled.values))
        path = np.linspace([0.0, 0.0], [0.5, 0.3], 20)
        if overflow:
            return
        action = hjqp.geometric_action(H, path)
    # Weights below the normal numbers (1e-308) keep fewer digits.
    rel = 1e-12 if scale * np.exp(-0.5) > np.finfo(float).tiny else 1e-3
    assert action == pytest.approx(hjqp.geometric_action(hjqp.JumpHamiltonian(birth_death_weights(), JUMPS), path),
                                   rel=rel)


# -- damaged result files ----------------------------------------------------------------------

_SAVED = {}


def _saved(kind):
    """The arrays of a small saved result of each kind, made once."""
    if not _SAVED:
        import tempfile

        sde = hjqp.SDE(lambda p: -p)
        grid = hjqp.Grid((-1, -1), (1, 1), (9, 9))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = {"qp": hjqp.local_quasipotential(sde, grid, (0, 0)),
                       "land": hjqp.landscape(hjqp.SDE(lambda p: p - p**3), grid),
                       "paths": hjqp.simulate(sde, [0, 0], 0.5, 0.01, 10, 3, seed=1),
                       "exits": hjqp.exit_times(sde, [0, 0], hjqp.Ball([0, 0], 0.5), 1.0, 0.01, 8, seed=1),
                       "long": hjqp.long_run(sde, [0, 0], 0.5, 0.01, 50, [[0, 0]], 0.3, seed=1, grid=grid,
                                             histogram=True)}
        with tempfile.TemporaryDirectory() as folder:
            for k, result in results.items():
                path = os.path.join(folder, f"{k}.npz")
                hjqp.io.save(path, result)
                with np.load(path) as data, open(path, "rb") as fh:
                    _SAVED[k] = (dict(data), fh.read())
    return _SAVED[kind]


@SETTINGS
@given(data=st.data())
def test_damaged_result_files_load_or_raise_a_value_error_naming_the_file(tmp_path_factory, data):
    """One array of a saved result replaced (NaN, inf, a negative or huge
    value, another type, another shape, an empty array), or the file cut
    short or with a byte changed: hjqp.io.load returns a result or raises
    ValueError naming the file; no other exception."""
    kind = data.draw(st.sampled_from(["qp", "land", "paths", "exits", "long"]))
    arrays, raw = _saved(kind)
    path = tmp_path_factory.mktemp("damaged") / f"{kind}.npz"
    how = data.draw(st.sampled_from(["array", "array", "array", "cut", "byte"]))
    if how == "array":
        arrays = dict(arrays)
        name = data.draw(st.sampled_from(sorted(arrays)))
        old = np.asarray(arrays[name])
        damage = data.draw(st.sampled_from(["nan", "inf", "negative", "huge", "int", "float", "bool", "text",
                                            "scalar", "extra axis", "drop axis", "empty", "missing"]))
        if damage == "missing":
            del arrays[name]
        else:
            new = {"nan": lambda: np.full(old.shape, np.nan),
                   "inf": lambda: np.full(old.shape, np.inf),
                   "negative": lambda: -np.abs(old.astype(float)) - 1 if old.dtype.kind in "biuf" else old,
                   "huge": lambda: np.full(old.shape, 2**62),
                   "int": lambda: np.zeros(old.shape, dtype=np.int64),
                   "float": lambda: np.zeros(old.shape),
                   "bool": lambda: np.ones(old.shape, dtype=bool),
                   "text": lambda: np.array("x"),
                   "scalar": lambda: np.array(7),
                   "extra axis": lambda: old[None],
                   "drop axis": lambda: old.reshape(-1)[:1].reshape(()) if old.ndim <= 1 else old[0],
                   "empty": lambda: np.zeros((0,) + old.shape[1:], dtype=old.dtype)}[damage]()
            arrays[name] = new
        np.savez(path, **arrays)
    elif how == "cut":
        path.write_bytes(raw[:data.draw(st.integers(0, len(raw) - 1))])
    else:
        at = data.draw(st.integers(0, len(raw) - 1))
        path.write_bytes(raw[:at] + bytes([(raw[at] + data.draw(st.integers(1, 255))) % 256]) + raw[at + 1:])
    with warnings.catch_warnings(), time_limit(60):
        warnings.simplefilter("error")
        try:
            hjqp.io.load(path)
        except ValueError as exc:
            assert str(path) in str(exc), str(exc)
