"""Gillespie throughput: the kernel's direct method against numpy.

The workload is the toggle switch (hjqp.models.toggle_switch, four
reactions) at system size Omega = --volume, paths started at its two stable
states and run for --time time units. Rates are reactions per second, the
median of --repeat runs, each engine in the same process:

- kernel: hjqp's engine (propensities tabulated once on the lattice, a
  path per thread item, all cores);
- numpy, vectorised: one event of every path per iteration (propensities of
  all paths in one call, the reaction chosen by cumulative sums), one core;
- numpy, per event: the textbook loop, one path at a time, one core.

    python benchmarks/bench_gillespie.py
    python benchmarks/bench_gillespie.py --volume 200 --paths 256 --time 200 --repeat 5
"""

import argparse
import json
import statistics
import time

import numpy as np

import hjqp
from hjqp import _core
from hjqp.report.bench import machine
from hjqp.stochastic.engine import kernel_seed
from hjqp.stochastic.gillespie import gillespie


def kernel_rate(net, grid, volume, paths, t_end, repeat):
    engine = gillespie(net, 1.0 / volume, t_end, grid)
    start = engine.lattice.nearest(np.array(net_attractors(net))[np.arange(paths) % 2])
    ids = np.arange(paths, dtype=np.int64)
    table = engine._table()
    rates = []
    for r in range(repeat):
        t0 = time.perf_counter()
        out = _core.jump_store(table, start, ids, kernel_seed(r), t_end, 2, engine.threads)
        rates.append(out.events.sum() / (time.perf_counter() - t0))
    return statistics.median(rates), engine.threads


def numpy_vectorised_rate(net, volume, paths, t_end, repeat, seed=0):
    nu = net.stoichiometry
    rates = []
    for r in range(repeat):
        rng = np.random.default_rng(seed + r)
        n = np.rint(np.array(net_attractors(net))[np.arange(paths) % 2] * volume)
        t = np.zeros(paths)
        events = 0
        t0 = time.perf_counter()
        active = np.ones(paths, dtype=bool)
        while active.any():
            idx = np.flatnonzero(active)
            a = volume * net.propensities(n[idx] / volume)
            c = np.cumsum(a, axis=1)
            a0 = c[:, -1]
            t_new = t[idx] + rng.exponential(size=len(idx)) / a0
            done = t_new > t_end
            go = idx[~done]
            u = rng.random(len(idx))[~done] * a0[~done]
            choice = np.argmax(c[~done] > u[:, None], axis=1)
            n[go] += nu[choice]
            t[go] = t_new[~done]
            active[idx[done]] = False
            events += len(go)
        rates.append(events / (time.perf_counter() - t0))
    return statistics.median(rates)


def numpy_loop_rate(net, volume, t_end, repeat, seed=0):
    nu = net.stoichiometry
    rates = []
    for r in range(repeat):
        rng = np.random.default_rng(seed + r)
        n = np.rint(np.array(net_attractors(net)[0]) * volume)
        t, events = 0.0, 0
        t0 = time.perf_counter()
        while True:
            a = volume * net.propensities(n / volume)
            a0 = a.sum()
            t += rng.exponential() / a0
            if t > t_end:
                break
            n += nu[np.searchsorted(np.cumsum(a), rng.random() * a0, side="right")]
            events += 1
        rates.append(events / (time.perf_counter() - t0))
    return statistics.median(rates)


_ATTRACTORS = {}


def net_attractors(net):
    return _ATTRACTORS[id(net)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volume", type=float, default=100.0)
    ap.add_argument("--paths", type=int, default=256)
    ap.add_argument("--time", type=float, default=100.0, help="time units per path (kernel and vectorised numpy)")
    ap.add_argument("--loop-time", type=float, default=5.0, help="time units of the per-event numpy loop")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    problem = hjqp.models.toggle_switch(volume=args.volume)
    net = problem.sde
    _ATTRACTORS[id(net)] = problem.attractors
    grid = problem.grid(3)
    kernel, threads = kernel_rate(net, grid, args.volume, args.paths, args.time, args.repeat)
    vectorised = numpy_vectorised_rate(net, args.volume, args.paths, args.time, args.repeat)
    loop = numpy_loop_rate(net, args.volume, args.loop_time, args.repeat)
    report = {"benchmark": "gillespie_throughput", "machine": machine(), "model": "toggle_switch",
              "volume": args.volume, "paths": args.paths, "time": args.time, "kernel_threads": threads,
              "reactions_per_second": {"kernel": kernel, "numpy_vectorised": vectorised, "numpy_per_event": loop},
              "kernel_over_numpy_vectorised": kernel / vectorised, "kernel_over_numpy_per_event": kernel / loop}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
