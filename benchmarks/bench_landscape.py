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

import hjqp
from hjqp.report.bench import LANDSCAPE_PROBLEMS, landscape_row, machine


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[101, 201, 401])
    parser.add_argument("--problems", nargs="+", choices=sorted(LANDSCAPE_PROBLEMS), default=sorted(LANDSCAPE_PROBLEMS))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    results = []
    for name in args.problems:
        for n in args.sizes:
            r = landscape_row(name, n, args.repeat)
            results.append(r)
            print(f"# {r['problem']:<42} N={n:5d} exit {r['exit_cost_error']:.2e} "
                  f"transition {r['transition_cost_error']:.2e} phi(O) {r['global_value_error']:.2e} "
                  f"{r['seconds']:7.2f} s", flush=True)
    print(json.dumps({
        "benchmark": "hjqp landscape",
        "hjqp_version": hjqp.__version__,
        **machine(),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
