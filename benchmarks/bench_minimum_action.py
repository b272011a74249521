"""Speed and accuracy of minimum action in any dimension (gMAM).

For each manufactured double well (exact barriers, any d): the wall time
and the relative error of

- ``path``: :func:`hjqp.minimum_action` from the first minimum to the
  known saddle on `--points` points (one barrier);
- ``barriers``: :func:`hjqp.barriers` from the two minima alone (the
  saddle located by a first path on half the points, both barriers, W and
  phi), error the larger of the two barriers'.

    python benchmarks/bench_minimum_action.py                  # d = 10 (200 points), d = 100
    python benchmarks/bench_minimum_action.py --cases quadratic:10:200 jumps:10:200

Cases are ``kind:d:points``; kinds: quadratic (b = -1/2 D grad U + l, D(x)
position-dependent), quadratic_constant (the same with D constant, cheaper
in high dimension), jumps (detailed-balance pairs and a cycle of jumps:
3 (d + 1) jumps).
"""

import argparse
import json
import sys

import numpy as np

import hjqp
from hjqp import models
from hjqp.report.bench import machine, median_time

KINDS = {
    "quadratic": lambda d: models.manufactured_nd(d, 2),
    "quadratic_constant": lambda d: models.manufactured_nd(d, 2, varying=False),
    "jumps": lambda d: models.jump_double_well(d),
}
DEFAULT = ["quadratic:10:200", "jumps:10:200", "quadratic_constant:100:100", "quadratic_constant:100:200"]


def row(kind: str, d: int, points: int, repeat: int, what) -> dict:
    problem = KINDS[kind](d)
    O, z = np.array(problem.attractors), np.array(problem.saddles[0])
    exact = np.array(problem.costs)
    out = {"kind": kind, "d": d, "points": points}
    if "path" in what:
        seconds, result = median_time(lambda: hjqp.minimum_action(problem.sde, O[0], z, points), repeat)
        out.update(path_seconds=seconds, path_iterations=result.iterations, path_converged=result.converged,
                   path_action=result.action, path_exact=float(exact[0, 1]),
                   path_error=abs(result.action - exact[0, 1]) / exact[0, 1])
    if "barriers" in what:
        seconds, B = median_time(lambda: hjqp.barriers(problem.sde, O, points), repeat)
        off = ~np.eye(2, dtype=bool)
        out.update(barriers_seconds=seconds, barriers=B.direct_costs[off].tolist(), exact=exact[off].tolist(),
                   barriers_error=float(np.max(np.abs(B.direct_costs - exact)[off] / exact[off])),
                   selected=B.selected, selected_exact=int(np.argmin(problem.global_values)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=DEFAULT, help="kind:d:points")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    parser.add_argument("--what", nargs="+", default=["path", "barriers"], choices=["path", "barriers"])
    args = parser.parse_args(argv)
    rows = []
    for case in args.cases:
        kind, d, points = case.split(":")
        if kind not in KINDS:
            parser.error(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
        r = row(kind, int(d), int(points), args.repeat, args.what)
        print(f"{kind:18s} d={int(d):4d} n={int(points):4d}  path {r.get('path_seconds', np.nan):7.2f} s "
              f"(error {r.get('path_error', np.nan):.1e})  barriers {r.get('barriers_seconds', np.nan):7.2f} s "
              f"(error {r.get('barriers_error', np.nan):.1e})", file=sys.stderr)
        rows.append(r)
    json.dump({"benchmark": "hjqp minimum action (gMAM)", "hjqp_version": hjqp.__version__, **machine(),
               "results": rows}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
