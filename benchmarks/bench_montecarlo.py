"""Euler-Maruyama throughput: the native engine against numpy.

The peer is the same scheme vectorised over paths in numpy (hjqp's exact
engine: one drift and one diffusion call per step for all paths), on one
core and on the same problem: the paper's Example 3.1 (b = -2x,
D = diag(mu, 2 - mu)), sampled on a 201 x 201 grid over [-3, 3]^2 for the native engine.
Rates are path-steps per second, the median of --repeat runs; the exit
workload runs 2000 paths to the first exit from the unit disk (Gobet-
Menozzi shift on) at eps = 0.25, dt = 0.01.

    python benchmarks/bench_montecarlo.py
    python benchmarks/bench_montecarlo.py --paths 4000 --steps 20000 --repeat 5
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

import hjqp
from hjqp import models


def rate(fn, work, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"seconds": med, "path_steps_per_s": work / med}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--numpy-steps", type=int, default=1000, help="steps for the (slower) numpy peer")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    problem = models.example_3_1(1.9999)
    sde = problem.sde
    grid = hjqp.Grid((-3, -3), (3, 3), (201, 201))
    eps, dt = 0.25, 0.01
    x0 = [0.0, 0.0]
    cores = os.cpu_count() or 1
    # warm the grid sampling cache
    hjqp.simulate(sde, x0, eps, dt, 1, 1, seed=0, grid=grid)
    P, N, Nn = args.paths, args.steps, args.numpy_steps
    rows = {
        "numpy (1 core)": rate(lambda: hjqp.simulate(sde, x0, eps, dt, Nn, P, seed=1, thin=Nn),
                               P * Nn, args.repeat),
        "native, 1 thread": rate(lambda: hjqp.simulate(sde, x0, eps, dt, N, P, seed=1, thin=N, grid=grid,
                                                       threads=1), P * N, args.repeat),
        f"native, {cores} threads": rate(lambda: hjqp.simulate(sde, x0, eps, dt, N, P, seed=1, thin=N,
                                                               grid=grid, threads=cores), P * N, args.repeat),
    }
    disk = hjqp.Ball((0, 0), 1.0)
    ex = hjqp.exit_times(sde, x0, disk, eps, dt, 2000, seed=1, grid=grid)
    work = int(np.sum(np.round(ex.times / dt)))
    rows["exit times, native"] = rate(lambda: hjqp.exit_times(sde, x0, disk, eps, dt, 2000, seed=1,
                                                              grid=grid), work, args.repeat)
    rows["exit times, numpy"] = rate(lambda: hjqp.exit_times(sde, x0, disk, eps, dt, 2000, seed=1),
                                     work, 1)
    peer = rows["numpy (1 core)"]["path_steps_per_s"]
    for r in rows.values():
        r["speedup_vs_numpy"] = r["path_steps_per_s"] / peer
    print(json.dumps({
        "benchmark": "euler_maruyama_throughput",
        "problem": problem.name,
        "machine": {"cores": cores, "processor": platform.processor() or platform.machine()},
        "paths": P, "steps": N, "numpy_steps": Nn, "eps": eps, "dt": dt,
        "mean_exit_time": float(np.mean(ex.times)),
        "rows": rows,
    }, indent=2))


if __name__ == "__main__":
    main()
