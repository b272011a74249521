"""Benchmarks: accuracy and speed against exact solutions, next to a peer
measured in the same run (scikit-fmm for the solver, numpy for Monte Carlo).

The scripts in benchmarks/ run these with their full sizes and print JSON;
``hjqp bench`` runs a quick set and prints a table. (The eikonal
benchmark's exact problem is hjqp.models.eikonal_manufactured.)
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Sequence

import numpy as np

from .. import models
from ..grid import Grid
from ..landscape import landscape
from ..solve import UpdateRule, local_quasipotential
from ..stochastic import Ball, exit_times, long_run, simulate
from .tables import table

__all__ = ["SOLVE_PROBLEMS", "LANDSCAPE_PROBLEMS", "PREFACTOR_PROBLEMS", "solve_rows", "landscape_row",
           "montecarlo_rows", "prefactor_ratios", "memory_row", "machine", "table", "median_time", "skfmm_time"]

SOLVE_PROBLEMS: Dict[str, Callable[[], models.Problem]] = {
    "linear": lambda: models.linear_rotational(10.0),
    "aniso100_rot0.3": lambda: models.anisotropic_rotating(100.0, 0.3),
    "aniso100_rot1": lambda: models.anisotropic_rotating(100.0, 1.0),
    "aniso10_rot1": lambda: models.anisotropic_rotating(10.0, 1.0),
    "linear_3d": lambda: models.linear_3d(1.0),
    "aniso10_rot0.5_3d": lambda: models.anisotropic_rotating_3d(10.0, 0.5),
}
# Errors are measured on the sublevel set {U <= LEVEL}, which lies inside
# the box [-1, 1]^d for every problem above.
LEVEL = 0.9

LANDSCAPE_PROBLEMS = {
    "multiwell": (lambda: models.multiwell(tilt=0.2), {}),
    "maier_stein": (lambda: models.maier_stein(2.0), {}),
    "example_4_1": (lambda: models.example_4_1(1.9999, 1.0001), {"supersample": 8}),
}


# Prefactors against Monte Carlo: each problem's landscape grid (nodes per
# axis) and the box whose sampled fields the simulations use.
PREFACTOR_PROBLEMS = {
    "multiwell": (models.multiwell, 161, Grid((-2.6, -3.0), (2.6, 3.0), (521, 601))),
    "maier_stein": (lambda: models.maier_stein(2.0), 141, Grid((-2.5, -2.0), (2.5, 2.0), (501, 401))),
}


def prefactor_ratios(land, sde, ratio: float, dt: float, n_paths: int, transitions: int, seed: int,
                     grid: Grid) -> dict:
    """Predicted (Eyring-Kramers, :meth:`hjqp.Landscape.rates`) over measured
    rates, with the measured rates' 95 % interval turned into the ratio's,
    for every saddle crossing at eps = (highest crossing cost) / ratio:
    {(i, j): (ratio, low, high)}. One long run of ``n_paths`` paths started
    at the attractors in turn, about ``transitions`` for the slowest pair."""
    pf = land.prefactors()
    pairs = [(c.source, c.target) for c in pf.crossings]
    eps = max(c.cost for c in pf.crossings) / ratio
    k = land.rates(eps)
    O = land.attractors
    gaps = np.linalg.norm(O[:, None] - O[None], axis=-1) + np.diag(np.full(len(O), np.inf))
    slow = min(k[i, j] for i, j in pairs)
    # Time in each well ~ total / k: about `transitions` for the slowest pair.
    steps = int(transitions / slow * len(O) / n_paths / dt)
    run = long_run(sde, O[np.arange(n_paths) % len(O)], eps, dt, steps, O, 0.25 * gaps.min(), n_paths,
                   seed=seed, grid=grid)
    rate, low, high = run.rates()
    return {(i, j): (k[i, j] / rate[i, j], k[i, j] / high[i, j], k[i, j] / low[i, j]) for i, j in pairs}


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine()}


def median_time(fn, repeat: int):
    """(median wall time of `repeat` calls, the last result)."""
    times, result = [], None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(statistics.median(times)), result


def skfmm_time(n: int, repeat: int, ndim: int = 2, order: int = 1) -> float:
    """scikit-fmm's travel_time on n^d nodes of [-1, 1]^d (unit speed, point
    source) at the given order (1 or 2; scikit-fmm's default is 2)."""
    import skfmm

    x = np.linspace(-1, 1, n)
    X = np.meshgrid(*([x] * ndim), indexing="ij")
    h = x[1] - x[0]
    phi = np.sqrt(sum(c**2 for c in X)) - 0.5 * h  # zero level set around the centre node
    speed = np.ones_like(phi)
    seconds, _ = median_time(lambda: skfmm.travel_time(phi, speed, dx=float(h), order=order), repeat)
    return seconds


def solve_rows(sizes: Sequence[int], repeat: int, problems: Sequence[str], log=None) -> List[dict]:
    """The solver on each problem and size: errors on {U <= 0.9}, time
    (sampling the fields included), scikit-fmm's times on the same grid
    (``skfmm_seconds`` and ``ratio_to_skfmm``: its first-order method;
    ``skfmm_order2_seconds`` and ``ratio_to_skfmm_order2``: its default second
    order), and observed orders."""
    rows = []
    for n in sizes:
        peers = {}
        for name in problems:
            problem = SOLVE_PROBLEMS[name]()
            grid = problem.grid(n)
            if grid.ndim not in peers:
                peers[grid.ndim] = [skfmm_time(n, max(repeat, 3), grid.ndim, order) for order in (1, 2)]
            peer, peer2 = peers[grid.ndim]
            seconds, qp = median_time(lambda: local_quasipotential(problem.sde, grid, problem.attractor), repeat)
            exact = problem.exact(grid.points())
            mask = exact <= LEVEL
            err = np.abs(qp.values - exact)[mask]
            gerr = np.linalg.norm(qp.grad - problem.exact_gradient(grid.points()), axis=-1)[mask]
            row = {
                "problem": problem.name, "n": n, "ndim": grid.ndim,
                "max_error": float(err.max()), "rms_error": float(np.sqrt(np.mean(err**2))),
                "max_gradient_error": float(gerr.max()),
                "seconds": seconds, "skfmm_seconds": peer, "ratio_to_skfmm": seconds / peer,
                "skfmm_order2_seconds": peer2, "ratio_to_skfmm_order2": seconds / peer2,
                "jet_fraction": float(np.mean(qp.rules == UpdateRule.JET)),
            }
            rows.append(row)
            if log:
                log(f"{problem.name:48s} N={n:5d} max {row['max_error']:.2e} rms {row['rms_error']:.2e} "
                    f"{seconds:7.2f} s  skfmm order 1 {peer:.3f} s  ratio {row['ratio_to_skfmm']:.1f}  "
                    f"(order 2 {peer2:.3f} s, ratio {row['ratio_to_skfmm_order2']:.1f})")
    for name in problems:
        mine = [r for r in rows if r["problem"] == SOLVE_PROBLEMS[name]().name]
        for a, b in zip(mine, mine[1:]):
            scale = np.log2((b["n"] - 1) / (a["n"] - 1))
            b["max_order"] = float(np.log2(a["max_error"] / b["max_error"]) / scale)
            b["rms_order"] = float(np.log2(a["rms_error"] / b["rms_error"]) / scale)
    return rows


# The peak resident set of this process since it started (KiB): Linux's
# VmHWM. Its ru_maxrss would not do: a child keeps the resident size its
# parent had when it forked (Linux carries the larger across exec), so a
# benchmark that has run large solves before would read its own size.
PEAK_KIB = """
def peak_kib():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

MEMORY_CHILD = PEAK_KIB + """
import sys, time, numpy as np, hjqp
problem = getattr(hjqp.models, sys.argv[1])()
grid = problem.grid(int(sys.argv[2]))
start = time.perf_counter()
qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
seconds = time.perf_counter() - start
peak = peak_kib()  # before the check's own arrays
exact = problem.exact(grid.points())
err = float(np.abs(qp.values - exact)[exact <= 0.9].max())
print(peak, seconds, err)
"""


def memory_row(model: str, n: int) -> dict:
    """Peak resident memory of a solve of ``hjqp.models.<model>()`` on n
    nodes per axis, in a fresh process (interpreter and numpy included; read
    when the solve returns, before the exact solution is evaluated for the
    error), with its time and largest error on {U <= 0.9}."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, model, str(n)], capture_output=True, text=True,
                         check=True)
    kib, seconds, err = out.stdout.split()
    nodes = n ** len(getattr(models, model)().lower)
    return {"model": model, "n": n, "nodes": nodes, "peak_rss_bytes": int(kib) * 1024,
            "peak_rss_bytes_per_node": int(kib) * 1024 / nodes, "seconds": float(seconds),
            "max_error": float(err)}


def _max_relative(computed, exact) -> float:
    exact = np.asarray(exact, dtype=float)
    ok = np.isfinite(exact) & (exact != 0)
    return float(np.max(np.abs(np.asarray(computed)[ok] - exact[ok]) / np.abs(exact[ok])))


def landscape_row(name: str, n: int, repeat: int = 1) -> dict:
    """The landscape of a problem with exact costs: errors and wall time."""
    make, options = LANDSCAPE_PROBLEMS[name]
    problem = make()
    grid = problem.grid(n)
    seconds, land = median_time(lambda: landscape(problem.sde, grid, **options), repeat)
    costs = np.array(problem.costs, dtype=float)
    off = ~np.eye(len(costs), dtype=bool)
    return {
        "problem": problem.name, "n": n, "attractors": int(land.k), "saddles": int(len(land.saddles)),
        "exit_cost_error": _max_relative(land.exit_costs, problem.exit_costs),
        "transition_cost_error": _max_relative(land.direct_costs[off], costs[off]),
        "global_value_error": float(np.max(np.abs(land.global_values - np.array(problem.global_values)))),
        "selected": int(land.selected), "seconds": seconds,
    }


def montecarlo_rows(paths: int, steps: int, numpy_steps: int, repeat: int) -> dict:
    """Euler-Maruyama path-steps per second: numpy (1 core; hjqp's exact
    engine, and a plain loop without its checks) against the kernel (1
    thread, all cores), and an exit-time workload, on Example 3.1 (mu =
    1.9999, eps = 0.25, dt = 0.01; fields on 201^2 over [-3, 3]^2).
    speedup_vs_numpy is against the exact engine, speedup_vs_plain_numpy
    against the plain loop."""
    problem = models.example_3_1(1.9999)
    sde = problem.sde
    grid = Grid((-3, -3), (3, 3), (201, 201))
    eps, dt, x0 = 0.25, 0.01, [0.0, 0.0]
    cores = os.cpu_count() or 1
    # A first run outside the timings (imports, the thread pool's start); each
    # timed native run samples the 201^2 fields again (milliseconds).
    simulate(sde, x0, eps, dt, 1, 1, seed=0, grid=grid)

    def rate(fn, work, rep=repeat):
        seconds, _ = median_time(fn, rep)
        return {"seconds": seconds, "path_steps_per_s": work / seconds}

    P, N, Nn = paths, steps, numpy_steps
    chol = np.linalg.cholesky(np.asarray(sde.diffusion, dtype=float))

    def plain_loop():
        # The textbook loop, vectorised over paths: no checks, no blocks of
        # streams, the SDE's own drift callable.
        rng = np.random.default_rng(1)
        x = np.zeros((P, 2))
        scale = np.sqrt(eps * dt)
        for _ in range(Nn):
            x = x + sde.drift(x) * dt + scale * (rng.standard_normal((P, 2)) @ chol.T)
        return x

    rows = {
        "numpy, plain loop (1 core)": rate(plain_loop, P * Nn),
        "numpy (1 core)": rate(lambda: simulate(sde, x0, eps, dt, Nn, P, seed=1, thin=Nn), P * Nn),
        "native, 1 thread": rate(lambda: simulate(sde, x0, eps, dt, N, P, seed=1, thin=N, grid=grid, threads=1),
                                 P * N),
        f"native, {cores} threads": rate(lambda: simulate(sde, x0, eps, dt, N, P, seed=1, thin=N, grid=grid,
                                                          threads=cores), P * N),
    }
    disk = Ball((0, 0), 1.0)
    ex = exit_times(sde, x0, disk, eps, dt, P, seed=1, grid=grid)
    work = int(np.sum(np.round(ex.times / dt)))
    rows["exit times, native"] = rate(lambda: exit_times(sde, x0, disk, eps, dt, P, seed=1, grid=grid), work)
    rows["exit times, numpy"] = rate(lambda: exit_times(sde, x0, disk, eps, dt, P, seed=1), work, 1)
    peer = rows["numpy (1 core)"]["path_steps_per_s"]
    plain = rows["numpy, plain loop (1 core)"]["path_steps_per_s"]
    for r in rows.values():
        r["speedup_vs_numpy"] = r["path_steps_per_s"] / peer
        r["speedup_vs_plain_numpy"] = r["path_steps_per_s"] / plain
    return {"problem": problem.name, "paths": P, "steps": N, "numpy_steps": Nn, "eps": eps, "dt": dt,
            "mean_exit_time": float(np.mean(ex.times)), "rows": rows}


