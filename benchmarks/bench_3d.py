"""Accuracy and speed of the 3D quasi-potential solver, next to scikit-fmm.

For each grid size N (nodes per axis on [-1, 1]^3) and problem, the solver's
error against the exact quasi-potential on the sublevel set {U <= 0.9}
(which lies inside the box) and its wall time (median of `--repeat` runs,
sampling the fields included) are printed as JSON, together with the wall
time of scikit-fmm's travel_time (point source at the centre, unit speed) on
the same grid, measured in the same run for scale: its first-order method
(skfmm_seconds, ratio_to_skfmm) and its default second order
(skfmm_order2_seconds, ratio_to_skfmm_order2).

    python benchmarks/bench_3d.py                     # N = 65, 129, 193
    python benchmarks/bench_3d.py --sizes 65 129 --repeat 1
    python benchmarks/bench_3d.py --sizes 201 --repeat 1
    python benchmarks/bench_3d.py --sizes --memory 201 257   # peak memory only

Problems: a linear system with a non-normal Jacobian and a constant
anisotropic D (U from the Lyapunov equation, hjqp.models.linear_3d), and a
manufactured problem with a rotated, position-dependent, anisotropic D
(condition number up to 10) and a rotational drift
(hjqp.models.anisotropic_rotating_3d).
"""

import argparse
import json
import sys

import hjqp
from hjqp.report.bench import machine, memory_row, solve_rows

PROBLEMS_3D = ["linear_3d", "aniso10_rot0.5_3d"]

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[65, 129, 193])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--problems", nargs="+", default=PROBLEMS_3D, choices=PROBLEMS_3D)
    parser.add_argument("--memory", type=int, nargs="*", default=[], metavar="N",
                        help="also measure the peak memory of N^3 solves, each in a fresh process")
    args = parser.parse_args(argv)
    report = {
        "benchmark": "hjqp 3D local quasi-potential",
        "hjqp_version": hjqp.__version__,
        **machine(),
        "results": solve_rows(args.sizes, args.repeat, args.problems, log=lambda m: print(m, file=sys.stderr)),
    }
    if args.memory:
        report["memory"] = [memory_row("anisotropic_rotating_3d", n) for n in args.memory]
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
