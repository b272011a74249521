"""Speed and accuracy of the jump-Hamiltonian march next to the quadratic one.

For each problem and grid size N: the jump march's wall time (median of
`--repeat` runs, sampling included) and CPU time (of the same runs), its
error against the exact quasi-potential on {U <= 0.8} (on {U <= 0.6} in 3D)
where one is known, with the orders between successive sizes, and the wall
and CPU times of the quadratic march on the same grid for the Hamiltonian's
Gaussian part (the SDE with the same drift and diffusion), measured in the
same run: the ratio is the cost of the non-Gaussian Hamiltonian. (On a
machine shared with other work the CPU times' ratio is the steadier one.)

    python benchmarks/bench_jump.py                       # N = 257, 513
    python benchmarks/bench_jump.py --sizes 257 --problems sgd_iris
    python benchmarks/bench_jump.py --sizes 33 65 --problems jump_cyclic_3d

Problems: jump_cyclic (R = 9 jumps, a cycle on detailed-balance pairs),
jump_pairs_16 (R = 16: eight detailed-balance pairs), sgd_iris (SGD's own
Hamiltonian on iris_two_widths: R = 150 samples, no exact solution),
jump_cyclic_3d (jump_cyclic(3) on N^3 nodes, R = 12).
"""

import argparse
import json
import sys
import time

import numpy as np

import hjqp
from hjqp import models
from hjqp.report.bench import machine

PROBLEMS = {
    "jump_cyclic": lambda: models.jump_cyclic(2),
    "jump_pairs_16": lambda: models.jump_detailed_balance(2, pairs=8),
    "sgd_iris": lambda: models.iris_two_widths(),
    "jump_cyclic_3d": lambda: models.jump_cyclic(3),
}
LEVEL = {"jump_cyclic_3d": 0.6}


def timed(fn, repeat: int):
    """(median wall time, median CPU time of `repeat` calls, the last result)."""
    walls, cpus, result = [], [], None
    for _ in range(max(1, repeat)):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - w)
    return float(np.median(walls)), float(np.median(cpus)), result


def row(name: str, n: int, repeat: int) -> dict:
    problem = PROBLEMS[name]()
    if name == "sgd_iris":
        H = problem.losses.sgd(1).hamiltonian()
        attractor = problem.attractors[0]
    else:
        H, attractor = problem.sde, problem.attractor
    grid = problem.grid(n)
    seconds, cpu, qp = timed(lambda: hjqp.local_quasipotential(H, grid, attractor), repeat)
    quadratic, quadratic_cpu, _ = timed(lambda: hjqp.local_quasipotential(H.gaussian(), grid, attractor), repeat)
    out = {"problem": name, "n": n, "jumps": int(H.count), "seconds": seconds, "quadratic_seconds": quadratic,
           "ratio_to_quadratic": seconds / quadratic, "cpu_seconds": cpu, "quadratic_cpu_seconds": quadratic_cpu,
           "cpu_ratio_to_quadratic": cpu / quadratic_cpu,
           "supports_per_node": qp.info["supports"] / qp.info["accepted"],
           "unreached_fraction": float(np.mean(~np.isfinite(qp.values)))}
    if problem.exact is not None:
        exact = problem.exact(grid.points())
        mask = exact <= LEVEL.get(name, 0.8)
        err = np.abs(qp.values - exact)[mask]
        out.update(max_error=float(err.max()), rms_error=float(np.sqrt(np.mean(err**2))))
    return out


def add_orders(rows):
    """Each row's orders of the errors against the previous size of its problem."""
    last = {}
    for r in rows:
        p = last.get(r["problem"])
        if p is not None and "max_error" in r:
            ratio = np.log((p["n"] - 1) / (r["n"] - 1))
            r["max_order"] = float(np.log(r["max_error"] / p["max_error"]) / ratio)
            r["rms_order"] = float(np.log(r["rms_error"] / p["rms_error"]) / ratio)
        last[r["problem"]] = r


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
                  f"ratio {r['ratio_to_quadratic']:6.1f}  (CPU {r['cpu_seconds']:8.2f} s, "
                  f"{r['quadratic_cpu_seconds']:6.2f} s, ratio {r['cpu_ratio_to_quadratic']:6.1f})  "
                  f"max error {r.get('max_error', float('nan')):.2e}  RMS {r.get('rms_error', float('nan')):.2e}",
                  file=sys.stderr, flush=True)
            rows.append(r)
    add_orders(sorted(rows, key=lambda r: (r["problem"], r["n"])))
    json.dump({"benchmark": "hjqp jump-Hamiltonian march", "hjqp_version": hjqp.__version__, **machine(),
               "results": rows}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
