"""Accuracy and speed of the 2D quasi-potential solver, next to scikit-fmm.

For each grid size N (nodes per axis on [-1, 1]^2) and problem, the solver's
error against the exact quasi-potential on the sublevel set {U <= 0.9}
(which lies inside the box) and its wall time (median of `--repeat` runs,
sampling the fields included) are printed as JSON, together with the wall
time of scikit-fmm's travel_time (point source at the centre, unit speed) on
the same grid, measured in the same run for scale: its first-order method
(skfmm_seconds, ratio_to_skfmm) and its default second order
(skfmm_order2_seconds, ratio_to_skfmm_order2).

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
import sys

import hjqp
from hjqp.report.bench import SOLVE_PROBLEMS, machine, memory_row, solve_rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[257, 513, 1025, 2049])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    two_d = [name for name, make in SOLVE_PROBLEMS.items() if len(make().lower) == 2]
    parser.add_argument("--problems", nargs="+", default=two_d, choices=two_d)
    parser.add_argument("--memory", type=int, default=None, metavar="N",
                        help="also measure the peak memory of an N x N solve in a fresh process")
    args = parser.parse_args(argv)
    report = {
        "benchmark": "hjqp 2D local quasi-potential",
        "hjqp_version": hjqp.__version__,
        **machine(),
        "results": solve_rows(args.sizes, args.repeat, args.problems, log=lambda m: print(m, file=sys.stderr)),
    }
    if args.memory:
        report["memory"] = memory_row("linear_rotational", args.memory)
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
