"""Ctrl-C during a long march or a long Monte Carlo run raises
KeyboardInterrupt promptly and leaves the process usable."""

import signal
import textwrap
import time

import child

CHILD = textwrap.dedent("""
    import signal, sys, time
    import numpy as np
    import hjqp
    # A process started in the background by a shell without job control
    # inherits SIGINT ignored, and Python then installs no handler for it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    problem = hjqp.models.linear_rotational()
    grid = problem.grid(3001)  # tens of seconds: far longer than the test waits
    sde = problem.sde
    fields = sde.fields(grid)
    fields.kernel_arrays()
    print("marching", flush=True)
    start = time.perf_counter()
    try:
        hjqp.local_quasipotential(sde, grid, problem.attractor)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - start:.3f}", flush=True)
        small = hjqp.local_quasipotential(sde, problem.grid(33), problem.attractor)
        print("usable", bool(np.isfinite(small.values).all()), flush=True)
""")


MONTE_CARLO = textwrap.dedent("""
    import signal, sys, time
    import numpy as np
    import hjqp
    signal.signal(signal.SIGINT, signal.default_int_handler)
    problem = hjqp.models.example_3_1(1.0)
    grid = hjqp.Grid((-1.1, -1.1), (1.1, 1.1), (111, 111))
    disk = hjqp.Ball((0, 0), 1.0)
    # eps = 0.05: E tau ~ exp(40); 10^9 steps per path at most
    run = lambda: hjqp.exit_times(problem.sde, [0, 0], disk, 0.05, 0.01, 64, seed=1, grid=grid,
                                  max_time=1e7)
    print("marching", flush=True)
    start = time.perf_counter()
    try:
        run()
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - start:.3f}", flush=True)
        small = hjqp.exit_times(problem.sde, [0, 0], disk, 0.5, 0.01, 8, seed=1, grid=grid)
        print("usable", bool(np.isfinite(small.times).all()), flush=True)
""")


MARCH_3D = CHILD.replace("hjqp.models.linear_rotational()", "hjqp.models.linear_3d()").replace(
    "problem.grid(3001)", "problem.grid(161)").replace("problem.grid(33)", "problem.grid(17)")


def test_sigint_interrupts_the_march_promptly(tmp_path):
    interrupt_child(CHILD, tmp_path, wait=5.0)


def test_sigint_interrupts_a_3d_march_promptly(tmp_path):
    interrupt_child(MARCH_3D, tmp_path, wait=5.0)


def test_sigint_interrupts_a_monte_carlo_run_promptly(tmp_path):
    interrupt_child(MONTE_CARLO, tmp_path, wait=2.0)


def interrupt_child(code, tmp_path, wait):
    # The child imports the same hjqp as the tests (installed or in a source
    # tree with a built kernel), and runs outside the source tree.
    proc = child.start(code, tmp_path, PYTHONUNBUFFERED="1")
    try:
        first = proc.stdout.readline().strip()
        assert first == "marching", proc.stderr.read() if not first else first
        time.sleep(wait)  # past the Python set-up, into the compiled loop
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline().split()
        latency = time.perf_counter() - sent
        assert line and line[0] == "interrupted", (line, proc.stderr.read())
        assert latency < 1.0
        assert proc.stdout.readline().split() == ["usable", "True"]
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


EIKONAL = textwrap.dedent("""
    import signal, sys, time
    import numpy as np
    import hjqp.eikonal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    metric = np.array([[2.0, 0.5, 0.3], [0.5, 1.0, 0.2], [0.3, 0.2, 3.0]])
    # the anisotropic 3D march on 161^3 nodes: about a minute
    run = lambda n: hjqp.eikonal.point_source((0.5, 0.5, 0.5), shape=(n, n, n), dx=1.0 / (n - 1),
                                              metric=metric)
    print("marching", flush=True)
    start = time.perf_counter()
    try:
        run(161)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - start:.3f}", flush=True)
        print("usable", bool(np.isfinite(run(9)).all()), flush=True)
""")


def test_sigint_interrupts_an_eikonal_march_promptly(tmp_path):
    interrupt_child(EIKONAL, tmp_path, wait=3.0)


# A march in a worker thread: Python runs signal handlers in the main thread
# only, so the worker's own checks never saw Ctrl-C, and the main thread,
# interrupted while waiting, then waited for the whole march to finish.
EXECUTOR = textwrap.dedent("""
    import signal, sys, time
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import hjqp
    signal.signal(signal.SIGINT, signal.default_int_handler)
    problem = hjqp.models.linear_rotational()
    grid = problem.grid(3001)  # tens of seconds: far longer than the test waits
    sde = problem.sde
    print("marching", flush=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(hjqp.local_quasipotential, sde, grid, problem.attractor)
        try:
            future.result()
        except KeyboardInterrupt:
            pass  # leaving the block waits for the worker
    try:
        future.result()
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - start:.3f}", flush=True)
        with ThreadPoolExecutor(1) as pool:
            small = pool.submit(hjqp.local_quasipotential, sde, problem.grid(33), problem.attractor).result()
        print("usable", bool(np.isfinite(small.values).all()), flush=True)
""")


def test_sigint_interrupts_a_march_in_a_worker_thread_promptly(tmp_path):
    interrupt_child(EXECUTOR, tmp_path, wait=5.0)


# landscape's solve phase: the local solutions, in a thread pool (called
# directly: equilibria and basins on a grid this large take minutes).
LANDSCAPE = textwrap.dedent("""
    import signal, sys, time
    import numpy as np
    import hjqp
    module = sys.modules["hjqp.landscape.landscape"]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    problem = hjqp.models.maier_stein()
    O = np.array(problem.attractors)

    def solve(n):
        grid = problem.grid(n)
        near = module._neighbourhoods(grid, O, 3.0)
        return module._local_solutions(problem.sde, grid, O, near, 3.0, 2, 1, {})

    print("marching", flush=True)
    start = time.perf_counter()
    try:
        solve(2001)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - start:.3f}", flush=True)
        small = hjqp.local_quasipotential(problem.sde, problem.grid(33), O[0])
        print("usable", bool(np.isfinite(small.values).any()), flush=True)
""")


def test_sigint_interrupts_the_landscape_solves_promptly(tmp_path):
    interrupt_child(LANDSCAPE, tmp_path, wait=5.0)
