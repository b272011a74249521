"""Bit-for-bit fingerprints of hjqp's results on the benchmarks' problems.

Each case runs a solve, a landscape, an eikonal march or a Monte Carlo run
(numpy and native engines, minibatch SGD) at a small size and returns its
arrays; their SHA-256 digests are stored in tests/data/checksums.json
together with the platform they were recorded on. tests/test_checksums.py
compares them: a restructuring of the code must leave every bit in place.

    python tests/checksums.py --record      # after a deliberate change of results

Bit-level results depend on the platform (BLAS kernels and SIMD math in
numpy and LAPACK differ between CPUs and versions), so the comparison is
made where the platform matches the one recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys

import numpy as np

import hjqp
from hjqp import eikonal, models

PATH = os.path.join(os.path.dirname(__file__), "data", "checksums.json")


def platform_fingerprint() -> dict:
    import scipy

    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    return {"machine": platform.machine(), "cpu": cpu, "numpy": np.__version__, "scipy": scipy.__version__,
            "python": platform.python_version()}


def digest(a) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:32]


def _qp(qp, prefix=""):
    return {prefix + "values": qp.values, prefix + "grad": qp.grad, prefix + "rules": np.asarray(qp.rules),
            prefix + "attractor": qp.attractor}


def _land(land):
    out = {"attractors": land.attractors, "saddles": land.saddles, "saddle_links": land.saddle_links,
           "basins": land.basins, "direct_costs": land.direct_costs, "costs": land.costs,
           "exit_costs": land.exit_costs, "exit_points": land.exit_points, "W": land.W,
           "values": land.values, "origin": land.origin}
    for i, qp in enumerate(land.local):
        out.update(_qp(qp, f"local{i}_"))
    return out


# -- solves ----------------------------------------------------------------------------

def solve_linear_rotational():
    p = models.linear_rotational(10.0)
    return _qp(hjqp.local_quasipotential(p.sde, p.grid(129), p.attractor))


def solve_anisotropic_rotating():
    p = models.anisotropic_rotating(100.0, 0.3)
    qp = hjqp.local_quasipotential(p.sde, p.grid(129), p.attractor)
    out = _qp(qp)
    out["interpolated"] = qp(np.array([[0.3, 0.1], [-0.2, 0.45], [0.001, -0.002]]))
    out["interpolated_gradient"] = qp.gradient(np.array([[0.3, 0.1], [-0.2, 0.45]]))
    return out


def solve_arrays_and_options():
    # fields given as arrays (cubic interpolation in Python), max_value, absorbing nodes
    p = models.anisotropic_rotating(10.0, 1.0)
    grid = p.grid(65)
    f = p.sde.fields(grid)
    b, dm = f.sample()
    sde = hjqp.SDE(b, dm)
    absorbing = np.zeros(grid.shape, dtype=bool)
    absorbing[50:55, 10:20] = True
    qp = hjqp.local_quasipotential(sde, grid, (0.01, -0.01), max_value=1.5, absorbing=absorbing)
    return _qp(qp)


def solve_3d():
    out = {}
    p = models.linear_3d(1.0)
    out.update(_qp(hjqp.local_quasipotential(p.sde, p.grid(25), p.attractor), "linear_"))
    p = models.anisotropic_rotating_3d(10.0, 0.5)
    out.update(_qp(hjqp.local_quasipotential(p.sde, p.grid(25), p.attractor), "aniso_"))
    return out


# -- landscapes and paths -----------------------------------------------------------------

def landscape_multiwell():
    p = models.multiwell(tilt=0.2)
    land = hjqp.landscape(p.sde, p.grid(101))
    out = _land(land)
    out["map"] = land.minimum_action_path((0.2, 0.5))
    out["transition"] = land.transition_path(0, 1)
    out["action"] = np.array([hjqp.geometric_action(p.sde, out["transition"])])
    out["stationary"] = land.stationary(0.05)
    return out


def landscape_maier_stein():
    p = models.maier_stein(2.0)
    return _land(hjqp.landscape(p.sde, p.grid(81)))


def landscape_example_4_1():
    p = models.example_4_1(1.9999, 1.0001)
    return _land(hjqp.landscape(p.sde, p.grid(81), supersample=8))


def landscape_3d():
    p = models.double_well_3d()
    land = hjqp.landscape(p.sde, p.grid(25))
    out = _land(land)
    eq = hjqp.equilibria(p.sde, p.grid(25))
    out["equilibria"] = np.concatenate([eq.attractors, eq.saddles, eq.others])
    return out


# -- eikonal ----------------------------------------------------------------------------

def eikonal_marches():
    out = {}
    n = 129
    x = np.linspace(0, 1, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    speed = 1 + 0.5 * X * (1 - X) * Y
    out["point_source_order2"] = eikonal.point_source((0.31, 0.47), (n, n), speed=speed, dx=x[1])
    out["point_source_order1"] = eikonal.point_source((0.5, 0.5), (n, n), speed=speed, dx=x[1], order=1)
    phi = np.hypot(X - 0.4, Y - 0.55) - 0.2
    out["distance"] = eikonal.distance(phi, dx=x[1])
    out["travel_time"] = eikonal.travel_time(phi, speed, dx=x[1], order=1)
    mask = (np.abs(X - 0.7) < 0.03) & (Y > 0.2)
    out["masked"] = np.ma.filled(eikonal.distance(np.ma.MaskedArray(phi, mask), dx=x[1]), -1.0)
    metric = np.array([[2.0, 0.6], [0.6, 1.0]])
    out["metric_constant"] = eikonal.point_source((0.5, 0.5), (65, 65), dx=1 / 64, metric=metric)
    t = 0.3 + X[::2, ::2] - 0.5 * Y[::2, ::2]
    c, s = np.cos(t), np.sin(t)
    field = np.stack([np.stack([c * c * 4 + s * s, c * s * 3], -1), np.stack([c * s * 3, s * s * 4 + c * c], -1)], -2)
    out["metric_field"] = eikonal.distance(phi[::2, ::2], dx=2 / (n - 1), metric=field)
    z = np.linspace(0, 1, 21)
    P = np.stack(np.meshgrid(z, z, z, indexing="ij"), -1)
    out["point_source_3d"] = eikonal.point_source((0.5, 0.4, 0.55), (21, 21, 21), speed=1 + P[..., 0] * P[..., 1],
                                                  dx=z[1])
    return out


# -- Monte Carlo ------------------------------------------------------------------------

def _linear_sde():
    J = np.array([[-1.0, 3.0], [0.0, -2.0]])
    return hjqp.SDE(lambda x: x @ J.T, np.array([[1.5, 0.4], [0.4, 0.3]]))


def montecarlo_numpy():
    out = {}
    sde = models.example_3_1(1.5).sde
    p = hjqp.simulate(sde, [0.2, -0.1], 0.3, 0.01, 300, 300, seed=3, thin=7)
    out["simulate"] = p.paths
    ex = hjqp.exit_times(sde, [0, 0], hjqp.Ball((0, 0), 0.6), 0.25, 0.01, 300, seed=4, max_time=50)
    out["exit_ball_times"], out["exit_ball_positions"] = ex.times, ex.positions
    ex = hjqp.exit_times(sde, [0, 0], hjqp.Box((-0.5, -0.7), (0.6, 0.5)), 0.25, 0.01, 300, seed=5,
                         correction=False)
    out["exit_box_times"], out["exit_box_positions"] = ex.times, ex.positions
    land_like = np.array([[-1.0, 0.0], [1.0, 0.0]])
    ms = models.maier_stein(1.0).sde
    run = hjqp.long_run(ms, land_like[[0, 1, 0, 1]], 0.3, 0.01, 3000, land_like, 0.3, 4, seed=6, burn_in=50)
    out["long_milestones"], out["long_transitions"], out["long_ends"] = (run.milestone_steps, run.transitions,
                                                                         run.ends)
    return out


def montecarlo_native():
    out = {}
    sde = _linear_sde()
    grid = hjqp.Grid((-4, -4), (4, 4), (81, 81))
    p = hjqp.simulate(sde, [1.0, -0.5], 0.3, 0.01, 500, 600, seed=11, thin=50, grid=grid)
    out["simulate"] = p.paths
    g = lambda x: x[..., 0] ** 2 + 2 * x[..., 1] ** 2 - 1.0  # noqa: E731
    ex = hjqp.exit_times(sde, [0, 0], hjqp.LevelSet(g, (-2, -2), (2, 2)), 0.4, 0.01, 500, seed=12, grid=grid)
    out["exit_level_times"], out["exit_level_positions"] = ex.times, ex.positions
    ex = hjqp.exit_times(sde, [0.1, 0], hjqp.Ball((0, 0), 1.0), 0.4, 0.01, 500, seed=13, grid=grid)
    out["exit_ball_times"], out["exit_ball_positions"] = ex.times, ex.positions
    ex = hjqp.exit_times(sde, [0.1, 0], hjqp.Box((-1, -1), (1, 1.5)), 0.4, 0.01, 500, seed=14, grid=grid)
    out["exit_box_times"], out["exit_box_positions"] = ex.times, ex.positions
    p = models.maier_stein(2.0)
    land = hjqp.landscape(p.sde, hjqp.Grid((-3.0, -2.5), (3.0, 2.5), (61, 51)))
    x0 = land.attractors[[0, 1] * 8]
    run = hjqp.long_run(p.sde, x0, 0.25, 0.01, 2000, land.attractors, 0.3, 16, seed=15, burn_in=100)
    out["long_numpy_milestones"], out["long_numpy_transitions"] = run.milestone_steps, run.transitions
    run = hjqp.long_run(p.sde, x0, 0.25, 0.01, 20000, land.attractors, 0.3, 16, seed=15, burn_in=100,
                        basins=land, histogram=True)
    out["long_milestones"], out["long_transitions"] = run.milestone_steps, run.transitions
    out["long_basins"], out["long_histogram"], out["long_ends"] = run.basin_steps, run.histogram, run.ends
    mc_grid = hjqp.Grid((-3, -3), (3, 3), (121, 121))
    run = hjqp.long_run(p.sde, x0, 0.25, 0.01, 5000, land.attractors, 0.3, 16, seed=15, grid=mc_grid)
    out["long_wide_ends"] = run.ends
    sde3 = hjqp.SDE(lambda x: -x * np.array([1.0, 2.0, 0.5]), np.diag([1.0, 0.5, 2.0]))
    grid3 = hjqp.Grid((-3, -3, -3), (3, 3, 3), (25, 25, 25))
    out["simulate_3d"] = hjqp.simulate(sde3, [0.1, 0.2, 0.3], 0.2, 0.01, 200, 100, seed=16, thin=40,
                                       grid=grid3).paths
    ex = hjqp.exit_times(sde3, [0, 0, 0], hjqp.Ball((0, 0, 0), 1.0), 0.3, 0.01, 200, seed=17, grid=grid3)
    out["exit_3d_times"], out["exit_3d_positions"] = ex.times, ex.positions
    out["exit_3d_numpy"] = hjqp.exit_times(sde3, [0, 0, 0], hjqp.Ball((0, 0, 0), 1.0), 0.3, 0.01, 200,
                                           seed=17).times
    return out


def montecarlo_sgd():
    from hjqp.sgd import GaussianMixture1D, MinibatchSGD

    out = {}
    rng = np.random.default_rng(0)
    data = rng.normal(size=(40, 2)) @ np.array([[1.0, 0.0], [0.8, 0.5]])
    H = np.array([[2.0, 0.6], [0.6, 1.0]])
    sgd = MinibatchSGD(lambda x, idx: (x[..., None, :] - data[idx]) @ H.T, len(data), batch_size=4)
    out["simulate"] = sgd.simulate([0.1, 0.2], 0.05, 400, 300, seed=21, thin=40).paths
    ex = sgd.exit_times([0.0, 0.0], hjqp.Ball(data.mean(0), 0.3), 0.05, 300, seed=22, max_steps=5000)
    out["exit_times"], out["exit_positions"] = ex.times, ex.positions
    wo = MinibatchSGD(sgd.gradients, len(data), batch_size=4, replace=False)
    run = wo.long_run(np.zeros((6, 2)), 0.1, 2000, np.array([[0.0, 0.0], [0.5, 0.5]]), 0.2, 6, seed=23)
    out["long_milestones"], out["long_ends"] = run.milestone_steps, run.ends
    mix = GaussianMixture1D(np.concatenate([rng.normal(1.5, 0.3, 30), rng.normal(4.5, 0.6, 40)]), (0.4, 1.0))
    out["mixture_gradients"] = mix.gradients(np.array([[1.0, 4.0], [2.0, 3.0]]))
    out["mixture_sgd"] = mix.sgd(2).simulate([1.4, 4.4], 0.1, 300, 64, seed=24, thin=30).paths
    return out


def sgd_iris_problems():
    # the critical points where the SGD studies start, and a short study-like run
    out = {}
    for name, p in (("two_widths", models.iris_two_widths()), ("mixture", models.iris_mixture()),
                    ("learned", models.iris_mixture(learn_weight=True))):
        out[name + "_attractors"] = np.array(p.attractors)
        out[name + "_saddles"] = np.array(p.saddles)
    p = models.iris_two_widths()
    O = np.array(p.attractors)
    run = p.losses.sgd(1).long_run(O[[0, 1] * 4], 0.3, 3000, O, 0.5, 8, seed=3)
    out["sgd_milestones"], out["sgd_ends"] = run.milestone_steps, run.ends
    return out


CASES = {f.__name__: f for f in (
    solve_linear_rotational, solve_anisotropic_rotating, solve_arrays_and_options, solve_3d,
    landscape_multiwell, landscape_maier_stein, landscape_example_4_1, landscape_3d, eikonal_marches,
    montecarlo_numpy, montecarlo_native, montecarlo_sgd, sgd_iris_problems)}


def compute(name: str) -> dict:
    return {k: digest(v) for k, v in CASES[name]().items()}


def record() -> None:
    data = {"platform": platform_fingerprint(), "cases": {name: compute(name) for name in CASES}}
    os.makedirs(os.path.dirname(PATH), exist_ok=True)
    with open(PATH, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.write("\n")


def load() -> dict:
    with open(PATH) as fh:
        return json.load(fh)


if __name__ == "__main__":
    if "--record" in sys.argv:
        record()
    else:
        stored = load()["cases"]
        bad = 0
        for name in CASES:
            now = compute(name)
            diff = sorted(k for k in set(now) | set(stored.get(name, {})) if now.get(k) != stored.get(name, {}).get(k))
            print(f"{name}: {'ok' if not diff else 'CHANGED ' + ', '.join(diff)}")
            bad += bool(diff)
        sys.exit(1 if bad else 0)
