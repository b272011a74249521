"""The landscape's k solves on c threads against single solves, and the rest.

For each problem the landscape is computed on 1 thread and on c threads (the
machine's cores by default), in the same run. The 1-thread run gives each
attractor's solve time alone (``info["seconds"]["solve_each"]``); the
c-thread run, the wall time of the k solves together. The ideal is the
longest-first schedule of the single solves on c threads (about ceil(k / c)
solves); the stages outside the solves (sampling, equilibria, basins, saddle
links, costs, phi) are the overhead. Times are medians of --repeat runs;
the machine's load moves them, so compare rows from one run.

    python benchmarks/bench_landscape_parallel.py
    python benchmarks/bench_landscape_parallel.py --n 401 --problems multiwell --repeat 3
"""

import argparse
import heapq
import json
import os
import statistics

import hjqp
from hjqp.report.bench import LANDSCAPE_PROBLEMS, machine

STAGES = ("fields", "equilibria", "basins", "saddle_links", "solves", "costs", "phi", "total")


def makespan(times, threads: int) -> float:
    """Wall time of jobs of these lengths on `threads` workers, longest first."""
    load = [0.0] * threads
    for t in sorted(times, reverse=True):
        heapq.heappush(load, heapq.heappop(load) + t)
    return max(load)


def stages(problem, grid, options, threads: int, repeat: int) -> dict:
    runs = [hjqp.landscape(problem.sde, grid, threads=threads, **options).info["seconds"] for _ in range(repeat)]
    out = {s: statistics.median(r[s] for r in runs) for s in STAGES}
    k = len(runs[0]["solve_each"])
    out["solve_each"] = [statistics.median(r["solve_each"][i] for r in runs) for i in range(k)]
    out["overhead"] = out["total"] - out["solves"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=201, help="nodes per axis")
    ap.add_argument("--problems", nargs="+", choices=sorted(LANDSCAPE_PROBLEMS), default=sorted(LANDSCAPE_PROBLEMS))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    rows = []
    for name in args.problems:
        make, options = LANDSCAPE_PROBLEMS[name]
        problem = make()
        grid = problem.grid(args.n)
        one = stages(problem, grid, options, 1, args.repeat)
        many = stages(problem, grid, options, args.threads, args.repeat)
        single = one["solve_each"]
        ideal = makespan(single, args.threads)
        rows.append({
            "problem": problem.name, "n": args.n, "attractors": len(single), "threads": args.threads,
            "single_solves_s": single, "ideal_solves_s": ideal,
            "solves_s": many["solves"], "solves_vs_ideal": many["solves"] / ideal,
            "overhead_s": many["overhead"], "overhead_vs_ideal": many["overhead"] / ideal,
            "total_s": many["total"], "total_vs_ideal": many["total"] / ideal,
            "stages_1_thread": one, f"stages_{args.threads}_threads": many,
        })
        r = rows[-1]
        print(f"# {r['problem']:<42} k={r['attractors']} solves {r['solves_s']:.2f} s (ideal {ideal:.2f} s, "
              f"x{r['solves_vs_ideal']:.2f}), overhead {r['overhead_s']:.2f} s, total x{r['total_vs_ideal']:.2f}",
              flush=True)
    print(json.dumps({"benchmark": "landscape_parallel", "hjqp_version": hjqp.__version__, **machine(),
                      "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
