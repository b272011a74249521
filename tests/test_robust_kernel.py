"""The kernel at the edges of double precision, under Ctrl-C from any
thread, on drifts whose flow never settles, and within its memory."""

import signal
import sys
import textwrap
import time

import numpy as np
import pytest

import child
import hjqp
from hjqp import _core, eikonal
from hjqp.landscape.equilibria import FlowStop, drift_scale, flow_options

# -- eikonal: speeds, spacings and metrics of any scale ----------------------------------


def source_phi(shape, centre):
    phi = np.ones(shape)
    phi[centre] = -1.0
    return phi


@pytest.mark.parametrize("speed", [1e-160, 1e-250, 1e-300])
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("d", [2, 3])
def test_a_node_far_slower_than_its_neighbours_gets_its_finite_travel_time(speed, order, d):
    # s^2 (or b_k^2) overflowed in the quadratic's coefficients at a node of
    # slowness above about 1e154: it stayed +inf, although its travel time
    # (about s h) is a double.
    n = 17 if d == 2 else 9
    centre, slow = (n // 2,) * d, (1,) * d  # (beyond the point source's seeded block)
    s = np.ones((n,) * d)
    s[slow] = speed
    for u in [eikonal.travel_time(source_phi(s.shape, centre), s, order=order),
              eikonal.point_source(np.array(centre) + 0.3, speed=s, order=order)]:
        assert np.all(np.isfinite(u))
        # of the order of crossing a cell at slowness 1 / speed (the
        # second-order differences give (1 / speed) / (1.5 sqrt(d)) from d
        # upwind axes), at most one step from the farthest neighbour
        neighbours = [u[tuple(np.add(slow, e))] for e in np.vstack([np.eye(d, dtype=int), -np.eye(d, dtype=int)])]
        assert u[slow] >= (1 / speed) / (2 * np.sqrt(d))
        assert u[slow] <= max(neighbours) + (1 / speed) * (1 + 1e-12)


SCALES = [(2.0**-1000, 1.0), (2.0**1000, 1.0), (1.0, 2.0**-1000), (1.0, 2.0**1000), (2.0**600, 2.0**600),
          (1e-200, 1e100)]


@pytest.mark.parametrize("speed, dx", SCALES)
@pytest.mark.parametrize("order", [1, 2])
def test_travel_times_of_any_scale_are_the_unit_ones_scaled(speed, dx, order):
    # The kernel squares lengths and times: with dx or the speed beyond
    # about 1e+-150 every node came out +inf, or the seeds were refused.
    # The travel time scales with dx / speed, exactly for powers of two.
    phi = np.linalg.norm(np.stack(np.indices((21, 17)), -1) - [9.3, 7.6], axis=-1) - 3.2
    exact = speed in (2.0**-1000, 2.0**1000, 2.0**600) or dx in (2.0**-1000, 2.0**1000)
    compare = (lambda a, b: np.testing.assert_array_equal(a, b)) if exact else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-13))
    unit = eikonal.travel_time(phi, np.ones_like(phi), order=order)
    compare(eikonal.travel_time(phi, np.full(phi.shape, speed), dx=dx, order=order), unit * (dx / speed))
    unit = eikonal.point_source((9.3, 7.6), shape=phi.shape, order=order)
    compare(eikonal.point_source((9.3 * dx, 7.6 * dx), shape=phi.shape, dx=dx, speed=speed, order=order),
            unit * (dx / speed))


@pytest.mark.parametrize("scale", [4.0**-400, 4.0**400])
def test_a_metric_of_any_scale_scales_the_travel_time_by_its_square_root(scale):
    metric = np.array([[2.0, 0.5], [0.5, 1.0]])
    phi = source_phi((17, 17), (8, 8))
    np.testing.assert_array_equal(eikonal.travel_time(phi, 1.0, metric=scale * metric),
                                  np.sqrt(scale) * eikonal.travel_time(phi, 1.0, metric=metric))
    np.testing.assert_array_equal(eikonal.point_source((7.6, 8.2), (17, 17), metric=scale * metric),
                                  np.sqrt(scale) * eikonal.point_source((7.6, 8.2), (17, 17), metric=metric))


@pytest.mark.parametrize("scale", [2.0**-1000, 2.0**1000])
def test_the_level_set_of_phi_of_any_scale_gives_the_same_distance(scale):
    phi = np.linalg.norm(np.stack(np.indices((21, 17)), -1) - [9.3, 7.6], axis=-1) - 3.2
    np.testing.assert_array_equal(eikonal.distance(scale * phi), eikonal.distance(phi))


@pytest.mark.parametrize("speed, message", [
    (1e-320, r"exceeds the largest double \(1.8e308\) at node \(0, 0\)"),
    (1e-306, r"exceeds the largest double"),
    (1e308, r"below the smallest normal double"),
])
def test_travel_times_double_precision_cannot_hold_are_a_clear_error(speed, message):
    # speed 1e-320 was refused as "seed value ... must be finite"; 1e308
    # gave subnormal travel times without a word.
    phi = source_phi((33, 33), (16, 16))
    with pytest.raises(ValueError, match=message):
        eikonal.travel_time(phi, speed * np.ones(phi.shape), dx=1e3 if speed == 1e-306 else 1.0)
    with pytest.raises(ValueError, match=message):
        eikonal.point_source((16.3, 15.6), shape=phi.shape, speed=speed, dx=1e3 if speed == 1e-306 else 1.0)


def test_speeds_spanning_more_than_double_precision_are_a_clear_error():
    s = np.ones((9, 9))
    s[2, 3] = 1e-300
    s[5, 5] = 1e10
    with pytest.raises(ValueError, match=r"1e-300 at node \(2, 3\) is below 1e\+10 at node \(5, 5\)"):
        eikonal.travel_time(source_phi(s.shape, (4, 4)), s)


# -- basins of a slowly attracting limit cycle ------------------------------------------


def slow_cycle(p):
    """The unit circle, attracting at rate 0.04 against a rotation of 1 (a
    quarter of the distance to it per turn)."""
    x, y = p[..., 0], p[..., 1]
    r2 = x * x + y * y
    return np.stack([0.02 * (x - x * r2) - y, 0.02 * (y - y * r2) + x], axis=-1)


def test_basins_of_a_slowly_attracting_limit_cycle_end_within_a_cell_of_it():
    # Each trajectory followed the cycle until it had converged onto it to
    # 0.01 cells (about 15,000 steps each here, 72 s for 129^2 nodes): now
    # probes find the cycle first and trajectories end as they reach a cell
    # it crosses, at a third of the work.
    grid = hjqp.Grid((-2, -2), (2, 2), (65, 65))
    drift = np.ascontiguousarray(slow_cycle(grid.points()))
    options = flow_options(grid, drift_scale(drift, grid), 2 * grid.spacing[0])
    lower, spacing = np.asarray(grid.lower), np.asarray(grid.spacing)
    out = _core.basin_labels2(lower, spacing, drift, np.zeros((1, 2)), threads=2, **options)
    ends = _core.flow_ends2(lower, spacing, drift, np.ascontiguousarray(grid.points().reshape(-1, 2)),
                            np.zeros((1, 2)), threads=2, **options)
    # the same labels and reasons as trajectories followed to the end
    np.testing.assert_array_equal(out.labels.ravel(), ends.targets)
    np.testing.assert_array_equal(out.reasons.ravel(), ends.reasons)
    assert np.count_nonzero(ends.reasons == FlowStop.CYCLE) > 0.7 * grid.size
    assert out.steps < ends.steps.sum() / 3


# -- Ctrl-C: kernel work a call starts after it, on a worker thread -----------------------

AFTER_CTRL_C = textwrap.dedent("""
    import signal, sys, threading, time
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import hjqp
    signal.signal(signal.SIGINT, signal.default_int_handler)
    entered, released = threading.Event(), threading.Event()

    def drift(p):
        # the call's Python step (sampling the drift): Ctrl-C comes now
        entered.set()
        released.wait()
        return np.stack([-2 * p[..., 0] - 10 * p[..., 1], 20 * p[..., 0] - p[..., 1]], axis=-1)

    sde = hjqp.SDE(drift)
    grid = hjqp.Grid((-1, -1), (1, 1), (1501, 1501))
    pool = ThreadPoolExecutor(1)
    future = pool.submit(hjqp.local_quasipotential, sde, grid, [0.0, 0.0])
    entered.wait()
    print("marching", flush=True)
    try:
        future.result()
        print("finished", flush=True)
    except KeyboardInterrupt:
        released.set()
        start = time.perf_counter()
        try:
            future.result()
            print(f"ran to the end {time.perf_counter() - start:.3f}", flush=True)
        except KeyboardInterrupt:
            print(f"interrupted {time.perf_counter() - start:.3f}", flush=True)
    pool.shutdown()
    small = hjqp.local_quasipotential(hjqp.SDE(lambda p: -p), hjqp.Grid((-1, -1), (1, 1), (33, 33)), [0, 0])
    print("usable", bool(np.isfinite(small.values).all()), flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_kernel_work_a_call_starts_after_ctrl_c_on_a_worker_thread_stops(tmp_path):
    # Ctrl-C stopped the kernel work running at the time; a call on a worker
    # thread in a Python step then went on, and each kernel step it started
    # afterwards ran to the end (the main thread waiting for it).
    proc = child.start(AFTER_CTRL_C, tmp_path)
    try:
        assert proc.stdout.readline().strip() == "marching"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = out.split("\n")
    assert lines[0].startswith("interrupted"), (out, err)
    assert lines[1] == "usable True", (out, err)


# -- memory: jump Hamiltonians -----------------------------------------------------------


def test_a_jump_march_checks_the_memory_of_its_jumps_first(monkeypatch):
    # The check counted 128 bytes per node whatever the Hamiltonian; with 64
    # jumps a solve takes about 1,800 (measured on 129^2).
    grid = hjqp.Grid((-1, -1), (1, 1), (201, 201))
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    jumps = 0.1 * np.stack([np.cos(angles), np.sin(angles)], -1)
    called = []

    def weights(x):
        called.append(x.shape)
        return np.exp(-5.0 * (x @ jumps.T))

    H = hjqp.JumpHamiltonian(weights, jumps)
    monkeypatch.setattr(hjqp._memory, "available_bytes", lambda: 4 * hjqp._memory.solve_bytes(grid))
    with pytest.raises(MemoryError, match="64 jumps"):
        hjqp.local_quasipotential(H, grid, [0, 0])
    assert called == []  # before any sampling


# -- warnings name the caller's line --------------------------------------------------------


def test_warnings_name_the_line_of_the_callers_code():
    # The functions that mark API calls (hjqp._interrupt) add a frame: fixed
    # stack levels named a line inside the package.
    problem = hjqp.models.linear_rotational(40)
    with pytest.warns(RuntimeWarning, match="characteristic traced back") as record:
        hjqp.local_quasipotential(problem.sde, problem.grid(129), problem.attractor)
    assert {w.filename for w in record} == {__file__}
    grid = hjqp.Grid((-2, -2), (2, 2), (33, 33))
    with pytest.warns(RuntimeWarning, match="closed orbit") as record:
        hjqp.basins(hjqp.SDE(slow_cycle), grid, [[0.0, 0.0]])
    assert {w.filename for w in record} == {__file__}
