"""Eyring-Kramers prefactors against Monte Carlo: predicted over measured
transition rates over every saddle of multiwell (three wells, rotation,
position-dependent anisotropic D; landscape on 161^2 nodes) and Maier-Stein
(beta = 2, non-gradient; 141^2), at eps = V / ratio for each ratio given.

The rates are counted in one long Euler-Maruyama run (dt = 0.005, 32 paths
started at the attractors in turn, about 400 transitions for the slowest
pair, seed 11: the slow check in tests/test_prefactors.py); the interval
is the measured rate's exact Poisson 95 % interval carried into the ratio.
The prefactor formula has its own O(eps) correction, so ratios tend to 1 as
the ratio V / eps grows.

    python benchmarks/bench_prefactors.py                    # V / eps = 4, 6, 8
    python benchmarks/bench_prefactors.py --ratios 10 --transitions 200
"""

import argparse
import json
import time
import warnings

import hjqp
from hjqp.report.bench import PREFACTOR_PROBLEMS, machine, prefactor_ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratios", type=float, nargs="+", default=[4.0, 6.0, 8.0])
    parser.add_argument("--problems", nargs="+", choices=sorted(PREFACTOR_PROBLEMS), default=sorted(PREFACTOR_PROBLEMS))
    parser.add_argument("--paths", type=int, default=32)
    parser.add_argument("--transitions", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    results = []
    for name in args.problems:
        make, n, box = PREFACTOR_PROBLEMS[name]
        problem = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            land = hjqp.landscape(problem.sde, problem.grid(n))
        costs = {(c.source, c.target): c.cost for c in land.prefactors().crossings}
        for ratio in args.ratios:
            start = time.perf_counter()
            out = prefactor_ratios(land, problem.sde, ratio, 0.005, args.paths, args.transitions, args.seed, box)
            seconds = time.perf_counter() - start
            rows = [{"source": i, "target": j, "cost": costs[i, j], "ratio": r, "low": lo, "high": hi}
                    for (i, j), (r, lo, hi) in out.items()]
            results.append({"problem": problem.name, "n": n, "v_over_eps": ratio, "seconds": seconds,
                            "crossings": rows})
            spread = ", ".join(f"{r['source'] + 1}->{r['target'] + 1} {r['ratio']:.3f} [{r['low']:.3f}, "
                               f"{r['high']:.3f}]" for r in rows)
            print(f"# {problem.name:<42} V/eps {ratio:4.1f}  {spread}  ({seconds:.0f} s)", flush=True)
    print(json.dumps({"benchmark": "hjqp prefactors against Monte Carlo", "hjqp_version": hjqp.__version__,
                      **machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
