"""Bad input gives a named exception, never a crash."""

import os
import sys

import numpy as np
import pytest

import child
import hjqp
from hjqp import _core


def linear_drift(p):
    return -np.asarray(p, dtype=float)


@pytest.fixture
def grid():
    return hjqp.Grid((-1, -1), (1, 1), (21, 21))


def test_grid_needs_three_nodes_per_axis():
    with pytest.raises(ValueError, match=r"shape\[1\] = 2"):
        hjqp.Grid((0, 0), (1, 1), (10, 2))


@pytest.mark.parametrize("lower, upper, shape, message", [
    ((0, 0), (0, 1), (5, 5), "lower"),
    ((0, np.nan), (1, 1), (5, 5), "finite"),
    ((0,), (1,), (5,), "2D or 3D"),
    ((0, 0), (1, 1, 1), (5, 5), "same length"),
    ((0, 0), (1, 1), (5.5, 5), "integers"),
])
def test_grid_rejects_nonsense(lower, upper, shape, message):
    with pytest.raises(ValueError, match=message):
        hjqp.Grid(lower, upper, shape)


def test_nan_in_drift_names_the_node(grid):
    def drift(p):
        b = -p.copy()
        b[(np.abs(p[..., 0] - 0.3) < 1e-9) & (np.abs(p[..., 1] + 0.2) < 1e-9)] = np.nan
        return b

    with pytest.raises(ValueError, match=r"drift is not finite at grid node \[13, 8\]"):
        hjqp.local_quasipotential(hjqp.SDE(drift), grid, (0, 0))


def test_inf_in_sampled_diffusion_names_the_node(grid):
    dm = np.broadcast_to(np.eye(2), grid.shape + (2, 2)).copy()
    dm[4, 17, 1, 1] = np.inf
    with pytest.raises(ValueError, match=r"diffusion is not finite at grid node \[4, 17\]"):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift, dm), grid, (0, 0))


def test_diffusion_not_positive_definite_names_the_node(grid):
    def diffusion(p):
        out = np.broadcast_to(np.eye(2), p.shape[:-1] + (2, 2)).copy()
        out[..., 0, 1] = out[..., 1, 0] = np.where(p[..., 0] > 0.85, 1.5, 0.0)
        return out

    with pytest.raises(ValueError, match=r"not positive definite at grid node \[19, 0\]"):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift, diffusion), grid, (0, 0))


def test_diffusion_not_symmetric_names_the_node(grid):
    dm = np.broadcast_to(np.eye(2), grid.shape + (2, 2)).copy()
    dm[2, 3, 0, 1] = 0.5
    with pytest.raises(ValueError, match=r"not symmetric at grid node \[2, 3\]"):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift, dm), grid, (0, 0))


@pytest.mark.parametrize("diffusion, message", [
    (-1.0, "positive"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (np.ones((3, 2)), "2x2 or 3x3"),
    (np.ones(4), "scalar"),
])
def test_constant_diffusion_is_checked_when_the_sde_is_made(diffusion, message):
    with pytest.raises(ValueError, match=message):
        hjqp.SDE(linear_drift, diffusion)


def test_callable_returning_wrong_shape(grid):
    with pytest.raises(ValueError, match=r"drift callable returned shape \(21, 21\)"):
        hjqp.local_quasipotential(hjqp.SDE(lambda p: p[..., 0]), grid, (0, 0))
    with pytest.raises(ValueError, match="diffusion callable returned shape"):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift, lambda p: np.ones(p.shape)), grid, (0, 0))


def test_drift_array_of_the_wrong_shape(grid):
    with pytest.raises(ValueError, match="drift array has shape"):
        hjqp.local_quasipotential(hjqp.SDE(np.zeros((20, 21, 2))), grid, (0, 0))


@pytest.mark.parametrize("attractor, message", [
    ((2.0, 0.0), "outside the box"),
    ((0.0,), "shape"),
    ((np.nan, 0.0), "finite"),
])
def test_attractor_outside_or_malformed(grid, attractor, message):
    with pytest.raises(ValueError, match=message):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift), grid, attractor)


def test_attractor_that_is_not_an_equilibrium(grid):
    def drift(p):  # no equilibrium in the box
        return np.stack([np.ones(p.shape[:-1]), -p[..., 1]], -1)

    with pytest.raises(ValueError, match="no equilibrium"):
        hjqp.local_quasipotential(hjqp.SDE(drift), grid, (0, 0))


def test_unstable_equilibrium_is_rejected(grid):
    with pytest.raises(ValueError, match="not a stable attractor"):
        hjqp.local_quasipotential(hjqp.SDE(lambda p: np.stack([p[..., 0], -p[..., 1]], -1)), grid, (0, 0))


@pytest.mark.parametrize("option, value", [
    ("update_radius", 0.5), ("update_radius", np.nan), ("init_cells", -1), ("max_turn", 3.0),
    ("max_value", -1.0), ("init_levels", 1.5),
])
def test_nonsensical_options(grid, option, value):
    with pytest.raises(ValueError, match=option):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift), grid, (0, 0), **{option: value})


def test_kernel_rejects_bad_arrays_with_value_errors():
    lower, spacing = np.zeros(2), np.ones(2)
    b = np.zeros((5, 5, 2))
    d = np.broadcast_to(np.eye(2), (5, 5, 2, 2)).copy()
    seeds = np.array([12]), np.zeros(1), np.zeros((1, 2))
    with pytest.raises(ValueError, match="diffusion must have shape"):
        _core.march2d(lower, spacing, b, d[:4], *seeds, 8.0, 1.0, np.inf)
    with pytest.raises(ValueError, match="seed_gradients"):
        _core.march2d(lower, spacing, b, d, seeds[0], seeds[1], np.zeros((2, 2)), 8.0, 1.0, np.inf)
    with pytest.raises((ValueError, IndexError), match="outside the grid"):
        _core.march2d(lower, spacing, b, d, np.array([25]), seeds[1], seeds[2], 8.0, 1.0, np.inf)
    with pytest.raises(ValueError, match="at least 3"):
        _core.march2d(lower, spacing, b[:2], d[:2], *seeds, 8.0, 1.0, np.inf)
    with pytest.raises(ValueError, match="update_radius"):
        _core.march2d(lower, spacing, b, d, *seeds, 0.0, 1.0, np.inf)


def test_points_outside_the_box_are_reported_unless_filled(grid):
    qp = hjqp.local_quasipotential(hjqp.SDE(linear_drift), grid, (0, 0))
    with pytest.raises(ValueError, match="outside the box"):
        qp(np.array([[0.0, 0.0], [1.5, 0.0]]))
    out = qp(np.array([[0.0, 0.0], [1.5, 0.0]]), fill_value=np.nan)
    assert out[0] == pytest.approx(0.0, abs=1e-12) and np.isnan(out[1])


def test_grids_beyond_the_memory_raise_memory_error(monkeypatch):
    from hjqp import _memory

    monkeypatch.setattr(_memory, "available_bytes", lambda: 10 * 2**20)  # 10 MiB
    problem = hjqp.models.linear_rotational()
    with pytest.raises(MemoryError, match=r"a solve on 513 x 513 nodes needs about 0.0314 GiB"):
        hjqp.local_quasipotential(problem.sde, problem.grid(513), problem.attractor)
    hjqp.local_quasipotential(problem.sde, problem.grid(129), problem.attractor)  # 2 MiB: fine
    with pytest.raises(MemoryError, match="storing 10000 paths x 1001 states"):
        hjqp.simulate(problem.sde, [0.1, 0.1], 0.1, 0.01, 1000, 10000)
    with pytest.raises(MemoryError, match="a landscape of 2 attractors"):
        ms = hjqp.models.maier_stein()
        hjqp.landscape(ms.sde, ms.grid(201))


def test_elongated_cells_are_refused():
    problem = hjqp.models.linear_rotational()
    with pytest.raises(ValueError, match=r"aspect ratio 8 > 4"):
        hjqp.local_quasipotential(problem.sde, hjqp.Grid((-1, -1), (1, 1), (129, 17)), problem.attractor)
    hjqp.local_quasipotential(problem.sde, hjqp.Grid((-1, -1), (1, 1), (129, 33)), problem.attractor)


def test_parallel_solves_equal_serial_ones():
    # The kernel keeps no global state: solves in threads give the serial bits.
    from concurrent.futures import ThreadPoolExecutor

    problems = [hjqp.models.linear_rotational(), hjqp.models.anisotropic_rotating(10, 1),
                hjqp.models.example_3_1(0.3), hjqp.models.gradient_system(0.7)]
    solve = lambda p: hjqp.local_quasipotential(p.sde, p.grid(97), p.attractor)  # noqa: E731
    serial = [solve(p) for p in problems]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(solve, problems * 2))
    for a, b in zip(serial * 2, parallel):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(a.grad, b.grad)


# -- fields checked wherever they are used ----------------------------------------------

SEGMENT = np.stack([np.linspace(0.0, 1.0, 20), np.zeros(20)], axis=1)


@pytest.mark.parametrize("sde, message", [
    (hjqp.SDE(lambda p: np.full(p.shape, np.nan)), r"drift is not finite at path vertex 0 \(x = \(0, 0\)\)"),
    (hjqp.SDE(linear_drift, lambda p: -np.broadcast_to(np.eye(2), p.shape[:-1] + (2, 2))),
     r"diffusion is not positive definite at path vertex 0"),
    (hjqp.SDE(linear_drift, lambda p: np.broadcast_to(np.array([[1.0, 0.5], [0.0, 1.0]]), p.shape[:-1] + (2, 2))),
     r"diffusion is not symmetric at path vertex 0"),
    (hjqp.SDE(lambda p: np.where(np.abs(p[..., :1] - 0.5) < 0.01, np.nan, -p)),
     r"drift is not finite at the midpoint of path segment 9 \(x = \(0.5, 0\)\)"),
], ids=["nan drift", "negative D", "asymmetric D", "nan midway"])
def test_geometric_action_checks_its_fields(sde, message):
    # It returned nan, and a negative action for D = -I.
    with pytest.raises(ValueError, match=message):
        hjqp.geometric_action(sde, SEGMENT)


def test_complex_fields_are_rejected_not_truncated(grid):
    with pytest.raises(TypeError, match="diffusion must be real"):
        hjqp.SDE(linear_drift, 1j * np.eye(2))
    with pytest.raises(TypeError, match="drift must be real"):
        hjqp.SDE(np.zeros((21, 21, 2), dtype=complex))
    with pytest.raises(TypeError, match="the drift callable's result must be real"):
        hjqp.local_quasipotential(hjqp.SDE(lambda p: -p + 0j), grid, [0, 0])
    with pytest.raises(TypeError, match="path must be real"):
        hjqp.geometric_action(hjqp.SDE(linear_drift), SEGMENT + 0j)
    phi = np.ones((9, 9))
    phi[4, 4] = -1
    with pytest.raises(TypeError, match="phi must be real"):
        hjqp.eikonal.distance(phi + 0j)
    with pytest.raises(TypeError, match="speed must be real"):
        hjqp.eikonal.travel_time(phi, np.ones((9, 9)) * 1j)


@pytest.mark.parametrize("d, scale", [(2, 1e155), (3, 1e154)])
def test_a_drift_too_large_for_double_precision_is_an_error_not_infinite_nodes(d, scale):
    # 3D at 1e154 left 652 of 17^3 nodes +inf without a word.
    grid = hjqp.Grid((-1,) * d, (1,) * d, (9,) * d)
    with pytest.raises(ValueError, match=r"too large for double precision at grid node .*b\^T D\^-1 b"):
        hjqp.local_quasipotential(hjqp.SDE(lambda p: -scale * p), grid, [0] * d)


def test_a_drift_too_small_for_double_precision_is_an_error_not_a_wrong_solution():
    # b = -1e-3 x, D = 1e154 I: |D^-1 b|^2 underflows and U came out 2e-4
    # off; b = -1e-162 x: |b|^2 rounds to 0 and U came out 0.3 % off.
    grid = hjqp.Grid((-1, -1), (1, 1), (17, 17))
    for s, c in ((1e-3, 1e154), (1e-162, 1e-74)):
        with pytest.raises(ValueError, match="too small for double precision: on the grid"):
            hjqp.local_quasipotential(hjqp.SDE(lambda p, s=s: -s * p, c), grid, [0, 0])


def test_a_drift_near_the_limit_is_solved_to_the_usual_accuracy():
    # b = -s x, D = I: U = s |x|^2 (b^T b = 2e298 at the corners, below the limit).
    grid = hjqp.Grid((-1, -1), (1, 1), (33, 33))
    qp = hjqp.local_quasipotential(hjqp.SDE(lambda p: -1e149 * p), grid, [0, 0])
    exact = 1e149 * np.sum(grid.points() ** 2, axis=-1)
    assert np.all(np.isfinite(qp.values))
    assert np.max(np.abs(qp.values - exact)) < 1e-6 * np.max(exact)


# -- the SPD test and the scale of D ------------------------------------------------------

@pytest.mark.parametrize("scale", [1e300, 1e-200, 1e-300])
@pytest.mark.parametrize("d", [2, 3])
def test_spd_check_does_not_depend_on_the_scale_of_d(scale, d):
    # 1e300 I and 1e-200 I were "not positive definite" with positive
    # eigenvalues in the message.
    m = np.eye(d) + 0.3 * (np.ones((d, d)) - np.eye(d))
    hjqp.SDE(linear_drift, scale * m)
    hjqp.problem.check_spd(scale * m[None], str)
    with pytest.raises(ValueError, match="not positive definite"):
        hjqp.problem.check_spd(scale * (np.eye(d) - 2 * np.ones((d, d)) / d)[None], str)


def test_solutions_scale_with_d():
    # U is the same when b and D are multiplied by a common factor; with D
    # alone multiplied by c, U is divided by c.
    grid = hjqp.Grid((-1, -1), (1, 1), (33, 33))
    base = hjqp.local_quasipotential(hjqp.SDE(linear_drift, 1.0), grid, [0, 0]).values
    scaled = hjqp.local_quasipotential(hjqp.SDE(linear_drift, 1e100), grid, [0, 0]).values
    np.testing.assert_allclose(scaled * 1e100, base, rtol=1e-6)


def test_diffusions_double_precision_cannot_invert_are_rejected_before_any_lapack_call(grid, capfd):
    # D = 1e-310 gave LinAlgError from inside an SVD, with LAPACK printing.
    with pytest.raises(ValueError, match="too small .*subnormal"):
        hjqp.SDE(linear_drift, 1e-310)
    sde = hjqp.SDE(linear_drift, lambda p: 1e-310 * np.ones(p.shape[:-1]))
    with pytest.raises(ValueError, match=r"too small at grid node \[0, 0\]"):
        hjqp.local_quasipotential(sde, grid, [0, 0])
    with pytest.raises(ValueError, match=r"cannot be inverted in double precision at grid node \[0, 0\]"):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift, lambda p: 1e-300 * np.ones(p.shape[:-1])), grid, [0, 0])
    with pytest.raises(ValueError, match="cannot be inverted in double precision at the constant diffusion"):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift, 1e300), grid, [0, 0])
    out = capfd.readouterr()
    assert "DLASCL" not in out.out + out.err


def test_kernel_and_python_spd_tests_agree_on_scaled_matrices():
    # The kernel's own test (a diffusion array on the grid) takes what check_spd takes.
    grid = hjqp.Grid((-1, -1), (1, 1), (9, 9))
    for scale in (1e-100, 1e100):
        dm = np.broadcast_to(scale * np.array([[1.0, 0.3], [0.3, 1.0]]), grid.shape + (2, 2)).copy()
        hjqp.problem.check_spd(dm.reshape(-1, 2, 2), str)
        qp = hjqp.local_quasipotential(hjqp.SDE(linear_drift, dm), grid, [0, 0])
        assert np.all(np.isfinite(qp.values))


def test_a_callable_error_that_needs_several_arguments_keeps_its_message(grid):
    # Re-raising as type(exc)(message) gave "function takes exactly 5 arguments".
    def drift(p):
        b"\xff".decode("utf-8")

    with pytest.raises(ValueError, match="the drift callable failed on points .*UnicodeDecodeError.*utf-8") as info:
        hjqp.local_quasipotential(hjqp.SDE(drift), grid, [0, 0])
    assert isinstance(info.value.__cause__, UnicodeDecodeError)

    def plain(p):
        raise KeyError("rate")

    with pytest.raises(KeyError, match="the drift callable failed on points"):
        hjqp.local_quasipotential(hjqp.SDE(plain), grid, [0, 0])


def test_basins_with_a_huge_drift_say_so_in_user_terms(grid):
    # It complained about an internal "max_dt".
    with pytest.raises(ValueError, match="drift is too large for double precision") as info:
        hjqp.basins(hjqp.SDE(lambda p: -1e300 * p), grid, [[0, 0]])
    assert "max_dt" not in str(info.value)


def test_eikonal_periodic_takes_a_bool_or_one_per_axis():
    phi = np.ones((17, 17))
    phi[8, 8] = -1
    base = hjqp.eikonal.distance(phi, periodic=True)
    np.testing.assert_array_equal(hjqp.eikonal.distance(phi, periodic=1), base)
    np.testing.assert_array_equal(hjqp.eikonal.distance(phi, periodic=[1, True]), base)
    for bad in (2, "xy", [True], None, 0.5):
        with pytest.raises(ValueError, match="periodic must be a bool or a sequence of 2 bools"):
            hjqp.eikonal.distance(phi, periodic=bad)


# -- memory: checked first -----------------------------------------------------------------

def test_grid_size_is_exact_for_huge_shapes():
    # int64 overflow made it 0, and the memory checks passed.
    assert hjqp.Grid((0, 0), (1, 1), (2**32, 2**32)).size == 2**64
    with pytest.raises(MemoryError):
        hjqp.local_quasipotential(hjqp.SDE(linear_drift), hjqp.Grid((0, 0), (1, 1), (2**32, 2**32)), [0.5, 0.5])


def test_landscape_checks_memory_before_the_equilibria_and_basins(monkeypatch):
    # It raised only after 44 s of equilibria and basins.
    module = sys.modules["hjqp.landscape.landscape"]

    def never(*args, **kwargs):
        raise AssertionError("the equilibria were searched before the memory check")

    monkeypatch.setattr(module, "equilibria", never)
    monkeypatch.setattr(hjqp._memory, "available_bytes", lambda: 10**6)
    grid = hjqp.Grid((-1, -1), (1, 1), (201, 201))
    with pytest.raises(MemoryError, match="a landscape of 1 attractor on 201 x 201 nodes"):
        hjqp.landscape(hjqp.SDE(linear_drift), grid)
    with pytest.raises(MemoryError, match="a landscape of 2 attractors"):
        hjqp.landscape(hjqp.SDE(linear_drift), grid, attractors=[[-0.5, 0], [0.5, 0]])


def test_basins_check_memory_first(monkeypatch):
    monkeypatch.setattr(hjqp._memory, "available_bytes", lambda: 10**6)
    with pytest.raises(MemoryError, match="the flow on 201 x 201 nodes"):
        hjqp.basins(hjqp.SDE(linear_drift), hjqp.Grid((-1, -1), (1, 1), (201, 201)), [[0, 0]])
# -- worker threads -------------------------------------------------------------------

@pytest.mark.parametrize("threads", [0, -1, 100000, 2.0, True, "4"])
def test_thread_counts_out_of_range_are_a_value_error(grid, threads):
    sde = hjqp.SDE(linear_drift)
    calls = [
        lambda: hjqp.basins(sde, grid, [[0, 0]], threads=threads),
        lambda: hjqp.landscape(sde, grid, threads=threads),
        lambda: hjqp.simulate(sde, [0, 0], 0.1, 0.01, 5, 4, seed=1, grid=grid, threads=threads),
        lambda: hjqp.simulate(sde, [0, 0], 0.1, 0.01, 5, 4, seed=1, threads=threads),
        lambda: hjqp.exit_times(sde, [0, 0], hjqp.Ball((0, 0), 0.5), 0.1, 0.01, 4, seed=1, grid=grid,
                                threads=threads),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="threads must be an integer in"):
            call()


THREAD_LIMIT = """
import resource, sys
import numpy as np
from hjqp import _core
from hjqp.landscape.equilibria import flow_options
import hjqp
n = 1100  # 1.2 million nodes: 1182 blocks of trajectories, one thread each
grid = hjqp.Grid((-1, -1), (1, 1), (n, n))
drift = -np.ascontiguousarray(grid.points())
# Room for the process as it is and a few thread stacks, not 1182 of them.
with open("/proc/self/status") as f:
    size = next(int(line.split()[1]) for line in f if line.startswith("VmSize")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + (256 << 20), resource.RLIM_INFINITY))
try:
    _core.basin_labels2(np.asarray(grid.lower), np.asarray(grid.spacing), drift, np.zeros((1, 2)),
                        threads=1182, **flow_options(grid, 1.0, 0.1))
    print("finished")
except (RuntimeError, MemoryError) as exc:
    print(type(exc).__name__, exc)
print("alive")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="AddressSanitizer needs the address space")
def test_a_thread_that_cannot_be_started_is_a_python_error():
    # std::thread throws std::system_error when the system refuses a thread;
    # the threads already started were left joinable, and the process
    # ended in std::terminate (SIGABRT).
    done = child.run(THREAD_LIMIT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[-2] == "alive"
    assert "could not start worker thread" in lines[0] or lines[0].startswith("MemoryError"), lines[0]


# -- minimum action paths -----------------------------------------------------------

@pytest.fixture(scope="module")
def solved():
    problem = hjqp.models.example_3_1()
    return hjqp.local_quasipotential(problem.sde, problem.grid(33), problem.attractor)


@pytest.mark.parametrize("step", [1e-9, 0, -0.1, np.nan, np.inf, 1e9, "0.01", None])
def test_minimum_action_path_step_is_checked_against_the_spacing(solved, step):
    # step=1e-9 ran for minutes, step=0 raised ZeroDivisionError.
    if step is None:
        assert len(hjqp.minimum_action_path(solved, [0.5, 0.3])) > 2
        return
    with pytest.raises(ValueError, match=r"step must be a number in \[h / 100, 10 h\]"):
        hjqp.minimum_action_path(solved, [0.5, 0.3], step=step)


def test_minimum_action_path_with_the_finest_step_is_bounded(solved):
    h = min(solved.grid.spacing)
    fine = hjqp.minimum_action_path(solved, [0.5, 0.3], step=h / 100)
    coarse = hjqp.minimum_action_path(solved, [0.5, 0.3])
    np.testing.assert_allclose(fine[-1], coarse[-1])
    with pytest.raises(ValueError, match="did not reach the attractor in 10 steps"):
        hjqp.minimum_action_path(solved, [0.5, 0.3], step=h / 100, max_steps=10)
    with pytest.raises(ValueError, match="max_steps"):
        hjqp.minimum_action_path(solved, [0.5, 0.3], max_steps=0)


# -- diffusion between the nodes ------------------------------------------------------

def checkerboard_diffusion(shape, c=0.9):
    i, j = np.indices(shape)
    D = np.zeros(shape + (2, 2))
    D[..., 0, 0] = D[..., 1, 1] = 1.0
    D[..., 0, 1] = D[..., 1, 0] = np.where((i + j) % 2 == 0, c, -c)
    return D


def test_a_diffusion_array_spd_at_every_node_is_accepted():
    # The cubic interpolation onto the refined seed grids overshot between
    # correlations +0.9 and -0.9 and lost definiteness: "not positive
    # definite at grid node [0, 4]", a node of a grid the caller never made.
    grid = hjqp.Grid((-1, -1), (1, 1), (33, 33))
    qp = hjqp.local_quasipotential(hjqp.SDE(linear_drift, checkerboard_diffusion(grid.shape)), grid, [0, 0])
    assert np.isfinite(qp.values).all()


@pytest.mark.filterwarnings("ignore:the march from the attractor")  # D turns from node to node
@pytest.mark.parametrize("seed", range(3))
def test_random_spd_diffusion_arrays_are_accepted(seed):
    rng = np.random.default_rng(seed)
    grid = hjqp.Grid((-1, -1), (1, 1), (65, 65))
    theta = rng.uniform(0, np.pi, grid.shape)
    c, s = np.cos(theta), np.sin(theta)
    R = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    D = R @ np.diag([1.0, 0.2]) @ np.swapaxes(R, -1, -2)
    qp = hjqp.local_quasipotential(hjqp.SDE(linear_drift, D), grid, [0, 0])
    assert np.isfinite(qp.values).all() and (qp.values >= 0).all()


def test_interpolated_diffusion_stays_positive_definite():
    grid = hjqp.Grid((-1, -1), (1, 1), (33, 33))
    fields = hjqp.SDE(linear_drift, checkerboard_diffusion(grid.shape)).fields(grid)
    points = np.random.default_rng(1).uniform(-1, 1, (4000, 2))
    assert np.all(np.linalg.eigvalsh(fields.diffusion(points)) > 0)


def test_errors_on_the_refined_seed_grids_name_the_point():
    grid = hjqp.Grid((-1, -1), (1, 1), (33, 33))
    h = grid.spacing[0]
    centre = np.array([h / 2, h / 2])  # a cell centre: a node of the first refined grid only

    def diffusion(p):
        bad = np.linalg.norm(p - centre, axis=-1) < 0.1 * h
        return np.where(bad, -1.0, 1.0)

    with pytest.raises(ValueError, match=r"not positive definite at the point x = \(0.03125, 0.03125\)") as info:
        hjqp.local_quasipotential(hjqp.SDE(linear_drift, diffusion), grid, [0, 0])
    assert "grid node" not in str(info.value)
