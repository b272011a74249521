"""hjqp.eikonal next to scikit-fmm: accuracy and wall time on the same grids.

Prints JSON. Every row is measured in the same run as the scikit-fmm rows it
is compared with (medians of `--repeat` calls, Python overhead included).

    python benchmarks/bench_eikonal.py                       # everything
    python benchmarks/bench_eikonal.py --cases point2d point3d --repeat 5

Cases
- point2d: unit speed, point source at the centre of [0, 1]^2, N = 1025
  (h = 1/1024). hjqp.eikonal.point_source against the exact |x - x0|;
  scikit-fmm order 1 and 2 from phi = |x - x0| - h against |x - x0| - h
  (where phi > 0).
- speed2d: speed F = 1 + 0.5 sin(2 pi x) sin(2 pi y), same source and grid.
  Reference: hjqp's point source on 4N - 3 nodes per axis (h / 4), whose own
  error is estimated from the 2N - 1 solution; scikit-fmm's travel time
  from the circle of radius h plus the time h / F(x0) to cross it.
- point3d: unit speed, point source at the centre of [0, 1]^3, N = 129.
- metric2d: constant metric M = R diag(1, 9) R^T (rotation 0.5 rad): the
  exact distance |x - x0|_M from a point (factored) and from the ellipse
  |x - x0|_M = 0.25 (level set), over N = 65 ... 513; observed orders.
- metric3d: as metric2d in 3D, M = [[2, .5, .3], [.5, 1, .2], [.3, .2, 3]],
  ellipsoid |x - x0|_M = 0.25; N = 33, 65 (one run each).
- metricfield2d: a position-dependent metric (rotating, condition 9) with a
  manufactured exact solution (hjqp.models.eikonal_manufactured), point source;
  N = 65 ... 513; errors on {u <= 0.9 min of u on the boundary}, where the
  box does not constrain the optimal paths; observed orders.
"""

import argparse
import json
import sys
import time

import numpy as np

import hjqp
import hjqp.eikonal as eikonal
from hjqp.models import eikonal_manufactured, unconstrained_region
from hjqp.report.bench import machine, median_time

CASES = ("point2d", "speed2d", "point3d", "metric2d", "metricfield2d", "metric3d")


def _grid(n: int, d: int):
    x = np.linspace(0.0, 1.0, n)
    return 1.0 / (n - 1), np.stack(np.meshgrid(*([x] * d), indexing="ij"), axis=-1)


def _skfmm_rows(phi, speed, h, exact, region, repeat):
    import skfmm

    rows = {}
    for order in (1, 2):
        seconds, t = median_time(lambda: skfmm.travel_time(phi, speed, dx=h, order=order), repeat)
        rows[f"skfmm_order{order}"] = {"seconds": seconds,
                                       "max_error": float(np.abs(np.asarray(t) - exact)[region].max())}
    return rows


def point_case(n: int, d: int, repeat: int) -> dict:
    h, x = _grid(n, d)
    x0 = np.full(d, 0.5)
    r = np.linalg.norm(x - x0, axis=-1)
    seconds, u = median_time(lambda: eikonal.point_source(x0, shape=r.shape, dx=h), repeat)
    row = {"case": f"point{d}d", "n": n, "h": h,
           "hjqp": {"seconds": seconds, "max_error": float(np.abs(u - r).max())}}
    row.update(_skfmm_rows(r - h, np.ones_like(r), h, r - h, r > h, repeat))
    row["time_ratio_to_skfmm_order1"] = row["hjqp"]["seconds"] / row["skfmm_order1"]["seconds"]
    return row


def speed_case(n: int, repeat: int) -> dict:
    def speed_on(m):
        hm, xm = _grid(m, 2)
        return hm, xm, 1.0 + 0.5 * np.sin(2 * np.pi * xm[..., 0]) * np.sin(2 * np.pi * xm[..., 1])

    x0 = np.array([0.5, 0.5])
    h, x, speed = speed_on(n)
    h4, _, speed4 = speed_on(4 * n - 3)
    h2, _, speed2 = speed_on(2 * n - 1)
    start = time.perf_counter()
    reference = eikonal.point_source(x0, speed=speed4, dx=h4)[::4, ::4]
    reference_seconds = time.perf_counter() - start
    half = eikonal.point_source(x0, speed=speed2, dx=h2)[::2, ::2]
    seconds, u = median_time(lambda: eikonal.point_source(x0, speed=speed, dx=h), repeat)
    r = np.linalg.norm(x - x0, axis=-1)
    row = {"case": "speed2d", "n": n, "h": h,
           "reference": {"n": 4 * n - 3, "seconds": reference_seconds,
                         "estimated_error": float(np.abs(half - reference).max()) / 3.0},
           "hjqp": {"seconds": seconds, "max_error": float(np.abs(u - reference).max())}}
    # scikit-fmm starts from the circle of radius h: add the time to cross it.
    row.update(_skfmm_rows(r - h, speed, h, reference - h, r > h, repeat))
    row["error_ratio_skfmm_order2_to_hjqp"] = row["skfmm_order2"]["max_error"] / row["hjqp"]["max_error"]
    row["time_ratio_to_skfmm_order2"] = row["hjqp"]["seconds"] / row["skfmm_order2"]["seconds"]
    return row


def _orders(sizes, errors):
    return [None] + [float(np.log(errors[i - 1] / errors[i]) / np.log((sizes[i] - 1) / (sizes[i - 1] - 1)))
                     for i in range(1, len(sizes))]


def metric_case(sizes, repeat: int, d: int = 2) -> dict:
    if d == 2:
        theta = 0.5
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        metric = rot @ np.diag([1.0, 9.0]) @ rot.T
    else:
        metric = np.array([[2.0, 0.5, 0.3], [0.5, 1.0, 0.2], [0.3, 0.2, 3.0]])
    x0 = np.full(d, 0.5)
    rows = []
    for n in sizes:
        h, x = _grid(n, d)
        q = x - x0
        exact = np.sqrt(np.einsum("...i,ij,...j->...", q, metric, q))
        t_point, u = median_time(lambda: eikonal.point_source(x0, shape=exact.shape, dx=h, metric=metric), repeat)
        t_level, v = median_time(lambda: eikonal.distance(exact - 0.25, dx=h, metric=metric), repeat)
        rows.append({"n": n, "point_seconds": t_point, "point_max_error": float(np.abs(u - exact).max()),
                     "level_set_seconds": t_level,
                     "level_set_max_error": float(np.abs(v - (exact - 0.25)).max()),
                     "level_set_mean_error": float(np.abs(v - (exact - 0.25)).mean())})
    for key in ("level_set_max_error", "level_set_mean_error"):
        for row, order in zip(rows, _orders(sizes, [r[key] for r in rows])):
            row[key.replace("error", "order")] = order
    return {"case": f"metric{d}d", "metric": metric.tolist(), "rows": rows}


def metric_field_case(sizes, repeat: int) -> dict:
    x0 = np.array([0.5, 0.5])
    rows = []
    for n in sizes:
        h, x = _grid(n, 2)
        metric, slowness, exact = eikonal_manufactured(x, x0)
        seconds, u = median_time(lambda: eikonal.point_source(x0, speed=1.0 / slowness, dx=h, metric=metric), repeat)
        error = np.abs(u - exact)[unconstrained_region(exact)]
        rows.append({"n": n, "seconds": seconds, "max_error": float(error.max()), "mean_error": float(error.mean())})
    for key in ("max_error", "mean_error"):
        for row, order in zip(rows, _orders(sizes, [r[key] for r in rows])):
            row[key.replace("error", "order")] = order
    return {"case": "metricfield2d", "rows": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    parser.add_argument("--n2d", type=int, default=1025)
    parser.add_argument("--n3d", type=int, default=129)
    parser.add_argument("--sizes", type=int, nargs="+", default=[65, 129, 257, 513],
                        help="grid sizes of the 2D metric convergence studies")
    parser.add_argument("--sizes3d", type=int, nargs="+", default=[33, 65],
                        help="grid sizes of the 3D metric convergence study (one run each)")
    args = parser.parse_args(argv)
    results = []
    for case in args.cases:
        print(f"running {case}", file=sys.stderr)
        if case == "point2d":
            results.append(point_case(args.n2d, 2, args.repeat))
        elif case == "speed2d":
            results.append(speed_case(args.n2d, args.repeat))
        elif case == "point3d":
            results.append(point_case(args.n3d, 3, args.repeat))
        elif case == "metric2d":
            results.append(metric_case(args.sizes, args.repeat))
        elif case == "metricfield2d":
            results.append(metric_field_case(args.sizes, args.repeat))
        else:
            results.append(metric_case(args.sizes3d, 1, d=3))
    json.dump({"benchmark": "hjqp.eikonal against scikit-fmm", "hjqp_version": hjqp.__version__,
               **machine(), "results": results}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
