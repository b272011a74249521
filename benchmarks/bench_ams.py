"""Adaptive multilevel splitting against brute force: the cost of
estimating p = P(reach B before A) to the same relative error.

The problem: dx = -V'(x) dt + sqrt(eps) dW1, dy = -y dt + sqrt(eps) dW2,
V = (x^2 - 1)^2 / 4, from (-0.9, 0) with A = {x < -1}, B = {x > 0.5}, the
reaction coordinate xi = x; p_exact is the one-dimensional committor of
the diffusion (by quadrature): the Euler-Maruyama chain both estimators
simulate (dt = 0.01, A and B checked at the steps) has a p some 15 % above
it at V / eps = 8 (measured: brute force 7.0e-5 +- 0.9e-5 with 3e6 paths,
AMS 7.2e-5 +- 0.6e-5 with 60 runs, p_exact 6.2e-5). V / eps is the quasi-potential's rise from the start to the
saddle over eps, 2 (V(0) - V(-0.9)) / eps, set to 8, 12 and 16.

Brute force needs N = (1 - p) / (p r^2) paths for relative error r, each
running the mean number of steps to A or B (measured on --pilot paths);
at V / eps = 8 it is also run, with that N, to check. AMS's relative error
per run is the spread of --runs independent runs (N = 100 replicas, k =
10); r needs (spread / r)^2 runs. Both on the kernel's Euler-Maruyama
engine (dt = 0.01). Costs are path-steps, and seconds on this machine.

    python benchmarks/bench_ams.py
    python benchmarks/bench_ams.py --error 0.05 --runs 40
"""

import argparse
import json
import math
import time

import numpy as np
from scipy import integrate

import hjqp
from hjqp.report.bench import machine

A = hjqp.Box((-10, -10), (-1, 10))
B = hjqp.Box((0.5, -10), (10, 10))
BETWEEN = hjqp.Box((-1, -2.9), (0.5, 2.9))
GRID = hjqp.Grid((-3, -3), (3, 3), (241, 241))
START = (-0.9, 0.0)


def V(x):
    return 0.25 * (x * x - 1) ** 2


def committor(x, eps):
    def s(z):
        return math.exp(2 * (V(z) - V(0)) / eps)

    return integrate.quad(s, -1, x)[0] / integrate.quad(s, -1, 0.5)[0]


def model():
    return hjqp.SDE.gradient(lambda x: np.stack([x[..., 0] * (x[..., 0] ** 2 - 1), x[..., 1]], -1), 1.0)


def brute_force(eps, dt, n_paths, seed):
    start = time.perf_counter()
    exits = hjqp.exit_times(model(), START, BETWEEN, eps, dt, n_paths, seed=seed, grid=GRID, correction=False)
    seconds = time.perf_counter() - start
    hits = exits.positions[:, 0] > 0
    steps = float(np.sum(np.rint(exits.times / dt)))
    return float(hits.mean()), steps, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--error", type=float, default=0.1, help="target relative error r")
    ap.add_argument("--runs", type=int, default=20, help="independent AMS runs per V / eps")
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--pilot", type=int, default=4000, help="brute-force paths for the mean path length")
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    r = args.error
    rows = []
    rise = 2 * (V(0.0) - V(START[0]))
    for ratio in (8, 12, 16):
        eps = rise / ratio
        exact = committor(START[0], eps)
        p_pilot, pilot_steps, pilot_seconds = brute_force(eps, args.dt, args.pilot, args.seed)
        length = pilot_steps / args.pilot
        n_bf = (1 - exact) / (exact * r * r)
        row = {"V_over_eps": ratio, "eps": eps, "p_exact": exact, "mean_path_steps": length,
               "brute_force": {"paths_needed": n_bf, "steps_needed": n_bf * length,
                               "seconds_needed": n_bf * pilot_seconds / args.pilot}}
        if ratio == 8:
            p_bf, steps, seconds = brute_force(eps, args.dt, int(math.ceil(n_bf)), args.seed + 1)
            row["brute_force"].update(run={"paths": int(math.ceil(n_bf)), "p": p_bf, "steps": steps,
                                           "seconds": seconds, "relative_error_vs_exact": p_bf / exact - 1})
        start = time.perf_counter()
        s = hjqp.stochastic.ams(model(), START, A, B, lambda p: p[..., 0], eps=eps, dt=args.dt,
                                n_replicas=args.replicas, k=args.k, n_runs=args.runs, seed=args.seed, grid=GRID)
        seconds = time.perf_counter() - start
        spread = float(np.std(s.estimates, ddof=1) / np.mean(s.estimates))
        runs_needed = (spread / r) ** 2
        row["ams"] = {"p": s.probability.value, "interval": [s.probability.low, s.probability.high],
                      "relative_error_vs_exact": s.probability.value / exact - 1,
                      "relative_spread_per_run": spread, "steps_per_run": s.steps / args.runs,
                      "seconds_per_run": seconds / args.runs, "runs_needed": runs_needed,
                      "steps_needed": runs_needed * s.steps / args.runs,
                      "seconds_needed": runs_needed * seconds / args.runs}
        row["steps_ratio_brute_over_ams"] = row["brute_force"]["steps_needed"] / row["ams"]["steps_needed"]
        row["seconds_ratio_brute_over_ams"] = row["brute_force"]["seconds_needed"] / row["ams"]["seconds_needed"]
        rows.append(row)
    print(json.dumps({"benchmark": "ams_vs_brute_force", "machine": machine(), "relative_error": r,
                      "replicas": args.replicas, "k": args.k, "dt": args.dt, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
