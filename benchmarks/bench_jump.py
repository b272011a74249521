"""Speed and accuracy of the jump-Hamiltonian march next to the quadratic one.

For each problem and grid size N: the jump march's wall time (median of
`--repeat` runs, sampling included), its error against the exact
quasi-potential on {U <= 0.8} where one is known, and the wall time of the
quadratic march on the same grid for the Hamiltonian's Gaussian part (the
SDE with the same drift and diffusion), measured in the same run: the ratio
is the cost of the non-Gaussian Hamiltonian.

    python benchmarks/bench_jump.py                       # N = 257, 513
    python benchmarks/bench_jump.py --sizes 257 --problems sgd_iris

Problems: jump_cyclic (R = 9 jumps, a cycle on detailed-balance pairs),
jump_pairs_16 (R = 16: eight detailed-balance pairs), sgd_iris (SGD's own
Hamiltonian on iris_two_widths: R = 150 samples, no exact solution).
"""

import argparse
import json
import sys

import numpy as np

import hjqp
from hjqp import models
from hjqp.report.bench import machine, median_time

PROBLEMS = {
    "jump_cyclic": lambda: models.jump_cyclic(2),
    "jump_pairs_16": lambda: models.jump_detailed_balance(2, pairs=8),
    "sgd_iris": lambda: models.iris_two_widths(),
}


def row(name: str, n: int, repeat: int) -> dict:
    problem = PROBLEMS[name]()
    if name == "sgd_iris":
        H = problem.losses.sgd(1).hamiltonian()
        attractor = problem.attractors[0]
    else:
        H, attractor = problem.sde, problem.attractor
    grid = problem.grid(n)
    seconds, qp = median_time(lambda: hjqp.local_quasipotential(H, grid, attractor), repeat)
    quadratic, _ = median_time(lambda: hjqp.local_quasipotential(H.gaussian(), grid, attractor), repeat)
    out = {"problem": name, "n": n, "jumps": int(H.count), "seconds": seconds, "quadratic_seconds": quadratic,
           "ratio_to_quadratic": seconds / quadratic, "supports_per_node": qp.info["supports"] / qp.info["accepted"],
           "unreached_fraction": float(np.mean(~np.isfinite(qp.values)))}
    if problem.exact is not None:
        exact = problem.exact(grid.points())
        mask = exact <= 0.8
        err = np.abs(qp.values - exact)[mask]
        out.update(max_error=float(err.max()), rms_error=float(np.sqrt(np.mean(err**2))))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[257, 513])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        for name in args.problems:
            r = row(name, n, args.repeat)
            print(f"{name:16s} N={n:5d} {r['seconds']:8.2f} s  quadratic {r['quadratic_seconds']:6.2f} s  "
                  f"ratio {r['ratio_to_quadratic']:6.1f}", file=sys.stderr)
            rows.append(r)
    json.dump({"benchmark": "hjqp jump-Hamiltonian march", "hjqp_version": hjqp.__version__, **machine(),
               "results": rows}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
