"""Accuracy and speed of the landscape against problems with exact answers.

For each problem and grid size N (nodes per axis of the problem's box) the
landscape is computed and its exit costs, neighbour transition costs and
global values phi(O_i) are compared with the exact ones; the wall time of
the whole computation (equilibria, basins, one solve per attractor in
parallel threads, costs, W, phi) is printed with them, as JSON.

    python benchmarks/bench_landscape.py                     # N = 101, 201, 401
    python benchmarks/bench_landscape.py --sizes 201 401 801 --problems example_4_1

Problems: multiwell (three wells of b = -1/2 D grad U + rho J grad U with
position-dependent anisotropic D and rotation; exact: U's barriers),
maier_stein (beta = 2, non-gradient; exact barrier 1/2) and example_4_1
(the paper's two wells with a flat loss between, mu1 = 1.9999, mu2 = 1.0001;
drift and diffusion jump across the wells' edges, sampled as cell means of
8 x 8 points).
"""

import argparse
import json
import os
import platform
import time

import numpy as np

import hjqp
from hjqp import models

PROBLEMS = {
    "multiwell": (lambda: models.multiwell(tilt=0.2), {}),
    "maier_stein": (lambda: models.maier_stein(2.0), {}),
    "example_4_1": (lambda: models.example_4_1(1.9999, 1.0001), {"supersample": 8}),
}


def max_relative(computed, exact):
    exact = np.asarray(exact, dtype=float)
    ok = np.isfinite(exact) & (exact != 0)
    return float(np.max(np.abs(np.asarray(computed)[ok] - exact[ok]) / np.abs(exact[ok])))


def run(name, n, repeat):
    make, options = PROBLEMS[name]
    problem = make()
    grid = problem.grid(n)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        land = hjqp.landscape(problem.sde, grid, **options)
        times.append(time.perf_counter() - t)
    costs = np.array(problem.costs, dtype=float)
    off = ~np.eye(len(costs), dtype=bool)
    return {
        "problem": problem.name,
        "n": n,
        "attractors": int(land.k),
        "saddles": int(len(land.saddles)),
        "exit_cost_error": max_relative(land.exit_costs, problem.exit_costs),
        "transition_cost_error": max_relative(land.direct_costs[off], costs[off]),
        "global_value_error": float(np.max(np.abs(land.global_values - np.array(problem.global_values)))),
        "selected": int(land.selected),
        "seconds": float(np.median(times)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[101, 201, 401])
    parser.add_argument("--problems", nargs="+", choices=sorted(PROBLEMS), default=sorted(PROBLEMS))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    results = []
    for name in args.problems:
        for n in args.sizes:
            r = run(name, n, args.repeat)
            results.append(r)
            print(f"# {r['problem']:<42} N={n:5d} exit {r['exit_cost_error']:.2e} "
                  f"transition {r['transition_cost_error']:.2e} phi(O) {r['global_value_error']:.2e} "
                  f"{r['seconds']:7.2f} s", flush=True)
    print(json.dumps({
        "benchmark": "hjqp landscape",
        "hjqp_version": hjqp.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
