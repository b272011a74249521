"""Accuracy and speed of the 2D quasi-potential solver, next to scikit-fmm.

For each grid size N (nodes per axis on [-1, 1]^2) and problem, the solver's
error against the exact quasi-potential on the sublevel set {U <= 0.9}
(which lies inside the box) and its wall time (median of `--repeat` runs,
sampling the fields included) are printed as JSON, together with the wall
time of scikit-fmm's travel_time (point source at the centre, unit speed) on
the same grid, measured in the same run for scale.

    python benchmarks/bench_2d.py                    # N = 257, 513, 1025, 2049
    python benchmarks/bench_2d.py --sizes 257 513 --repeat 1
    python benchmarks/bench_2d.py --memory 4097      # peak memory of a 4097^2 solve

Problems: the linear rotational test (b = (-2x - 10y, 20x - y), D = I,
U = 2x^2 + y^2) and manufactured problems with a rotated, position-dependent,
anisotropic D (condition numbers up to 10 and 100) and a rotational drift
(hjqp.models.anisotropic_rotating).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import hjqp

PROBLEMS = {
    "linear": lambda: hjqp.models.linear_rotational(10.0),
    "aniso100_rot0.3": lambda: hjqp.models.anisotropic_rotating(100.0, 0.3),
    "aniso100_rot1": lambda: hjqp.models.anisotropic_rotating(100.0, 1.0),
    "aniso10_rot1": lambda: hjqp.models.anisotropic_rotating(10.0, 1.0),
}
LEVEL = 0.9


def median_time(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def skfmm_time(n, repeat):
    import skfmm

    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    h = x[1] - x[0]
    phi = np.sqrt(X**2 + Y**2) - 0.5 * h  # zero level set around the centre node
    speed = np.ones_like(phi)
    seconds, _ = median_time(lambda: skfmm.travel_time(phi, speed, dx=float(h)), repeat)
    return seconds


def run(sizes, repeat, problems):
    rows = []
    for n in sizes:
        peer = skfmm_time(n, max(repeat, 3))
        for name in problems:
            problem = PROBLEMS[name]()
            grid = problem.grid(n)
            seconds, qp = median_time(
                lambda: hjqp.local_quasipotential(problem.sde, grid, problem.attractor), repeat)
            exact = problem.exact(grid.points())
            mask = exact <= LEVEL
            err = np.abs(qp.values - exact)[mask]
            gerr = np.linalg.norm(qp.grad - problem.exact_gradient(grid.points()), axis=-1)[mask]
            row = {
                "problem": problem.name,
                "n": n,
                "max_error": float(err.max()),
                "rms_error": float(np.sqrt(np.mean(err**2))),
                "max_gradient_error": float(gerr.max()),
                "seconds": seconds,
                "skfmm_seconds": peer,
                "ratio_to_skfmm": seconds / peer,
                "jet_fraction": float(np.mean(qp.rules == hjqp.UpdateRule.JET)),
            }
            rows.append(row)
            print(f"{problem.name:48s} N={n:5d} max {row['max_error']:.2e} rms {row['rms_error']:.2e} "
                  f"{seconds:7.2f} s  skfmm {peer:.3f} s  ratio {row['ratio_to_skfmm']:.1f}", file=sys.stderr)
    # observed orders between consecutive sizes
    for name in problems:
        mine = [r for r in rows if r["problem"] == PROBLEMS[name]().name]
        for a, b in zip(mine, mine[1:]):
            scale = np.log2((b["n"] - 1) / (a["n"] - 1))
            b["max_order"] = float(np.log2(a["max_error"] / b["max_error"]) / scale)
            b["rms_order"] = float(np.log2(a["rms_error"] / b["rms_error"]) / scale)
    return rows


MEMORY_CHILD = """
import resource, sys, time, numpy as np, hjqp
n = int(sys.argv[1])
problem = hjqp.models.linear_rotational()
grid = problem.grid(n)
start = time.perf_counter()
qp = hjqp.local_quasipotential(problem.sde, grid, problem.attractor)
seconds = time.perf_counter() - start
exact = problem.exact(grid.points())
err = float(np.abs(qp.values - exact)[exact <= 0.9].max())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, seconds, err)
"""


def memory(n):
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(n)], capture_output=True, text=True, check=True)
    kib, seconds, err = out.stdout.split()
    nodes = n * n
    return {
        "n": n,
        "nodes": nodes,
        "peak_rss_bytes": int(kib) * 1024,
        "peak_rss_bytes_per_node": int(kib) * 1024 / nodes,
        "seconds": float(seconds),
        "max_error": float(err),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[257, 513, 1025, 2049])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--memory", type=int, default=None, metavar="N",
                        help="also measure the peak memory of an N x N solve in a fresh process")
    args = parser.parse_args(argv)
    report = {
        "benchmark": "hjqp 2D local quasi-potential",
        "hjqp_version": hjqp.__version__,
        "cpu_count": os.cpu_count(),
        "results": run(args.sizes, args.repeat, args.problems),
    }
    if args.memory:
        report["memory"] = memory(args.memory)
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
