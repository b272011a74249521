"""The kernel at the edges of double precision, under Ctrl-C from any
thread, on drifts whose flow never settles, and within its memory."""

import signal
import sys
import textwrap
import time

import pytest

import child

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
