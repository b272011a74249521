"""Euler-Maruyama throughput: the native engine against numpy.

The peers are the same scheme vectorised over paths in numpy, on one core
and on the same problem: hjqp's exact engine (one drift and one diffusion
call per step for all paths, with its checks; speedup_vs_numpy) and a plain
loop without them (speedup_vs_plain_numpy). The problem is the paper's
Example 3.1 (b = -2x, D = diag(mu, 2 - mu)), sampled on a 201 x 201 grid
over [-3, 3]^2 for the native engine. Per core, compare "native, 1 thread"
with the peers; "native, c threads" uses all c cores against one.
Rates are path-steps per second, the median of --repeat runs; the exit
workload runs 2000 paths to the first exit from the unit disk (Gobet-
Menozzi shift on) at eps = 0.25, dt = 0.01.

    python benchmarks/bench_montecarlo.py
    python benchmarks/bench_montecarlo.py --paths 4000 --steps 20000 --repeat 5
"""

import argparse
import json

from hjqp.report.bench import machine, montecarlo_rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--numpy-steps", type=int, default=1000, help="steps for the (slower) numpy peer")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    report = {"benchmark": "euler_maruyama_throughput", "machine": machine()}
    report.update(montecarlo_rows(args.paths, args.steps, args.numpy_steps, args.repeat))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
