"""The ``hjqp`` command.

    hjqp demo                          the paper's Example 4.1 end to end -> ./hjqp-demo/
    hjqp solve MODEL [options]         local quasi-potential: .npz, figure, JSON
    hjqp landscape MODEL [options]     attractors, costs, W, global phi: .npz, figure, JSON
    hjqp verify MODEL --eps E [E ...]  Monte Carlo next to the predictions: table, figure, JSON
    hjqp sgd [MODEL] [--eta ...]       which minimum minibatch SGD selects, predicted and measured
    hjqp sweep MODEL --param k=a:b:n   landscapes over model parameters: CSV, JSON, diagram
    hjqp bench                         quick benchmarks, as a table
    hjqp models                        the built-in models

MODEL is a built-in model name (``hjqp models``) or ``module:function`` for
a function returning an hjqp.SDE (then give --box and --attractor) or an
hjqp.models.Problem. ``--param k=v`` passes parameters to the model.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import time
from dataclasses import replace
from typing import List, Optional

import numpy as np

__all__ = ["main"]


class CommandError(Exception):
    """An error the command reports in one line."""


# -- models ----------------------------------------------------------------------------

def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "none":
        return None
    return text


def _params(items: Optional[List[str]]) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise CommandError(f"--param takes key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def load_model(name: str, params: dict, box=None, attractor=None):
    """A Problem from a built-in name or module:function."""
    from . import models
    from .problem import SDE

    if ":" in name:
        module, _, attr = name.partition(":")
        # As ``python -m`` does: a module in the current directory is found
        # without PYTHONPATH (the console script's sys.path lacks it).
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise CommandError(f"cannot load model {name!r}: {exc}") from None
        except Exception as exc:  # the module's own code failed on import
            raise CommandError(f"cannot load model {name!r}: importing {module} raised "
                               f"{type(exc).__name__}: {exc}") from exc
        if not callable(fn):
            raise CommandError(f"model {name!r} is not callable (it is of type {type(fn).__name__}): give a "
                               "function returning an hjqp.SDE or Problem")
    else:
        fn = models.REGISTRY.get(name)
        if fn is None:
            raise CommandError(f"unknown model {name!r}; built-in models: {', '.join(sorted(models.REGISTRY))} "
                               "(or module:function)")
    try:
        inspect.signature(fn).bind(**params)
    except TypeError as exc:
        raise CommandError(f"model {name!r} does not take these parameters: {exc}") from None
    try:
        result = fn(**params)
    except Exception as exc:
        raise CommandError(f"model {name!r} raised {type(exc).__name__}: {exc}") from exc
    if attractor is not None and len(attractor) not in (2, 3):
        raise CommandError(f"--attractor needs 2 or 3 numbers (a point of the model's space), got {len(attractor)}")
    if isinstance(result, SDE):
        if box is None or attractor is None:
            raise CommandError(f"model {name!r} returns an SDE: give its --box and --attractor")
        d = len(attractor)
        result = models.Problem(name, result, tuple(attractor), (0.0,) * d, (1.0,) * d)  # box below
    if not isinstance(result, models.Problem):
        raise CommandError(f"model {name!r} returned {type(result).__name__}, not an hjqp.SDE or Problem")
    problem = result
    if box is not None:
        d = len(problem.attractor)
        if len(box) != 2 * d:
            raise CommandError(f"--box needs {2 * d} numbers (lower then upper) for a {d}D model")
        problem = replace(problem, lower=tuple(box[:d]), upper=tuple(box[d:]))
    if attractor is not None:
        problem = replace(problem, attractor=tuple(attractor))
    return problem


# -- output -------------------------------------------------------------------------------

class Reporter:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.start = time.perf_counter()

    def step(self, message: str):
        if not self.quiet:
            print(f"[{time.perf_counter() - self.start:6.1f} s] {message}", file=sys.stderr, flush=True)


def _out(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def _write_json(path: str, data: dict):
    from .report.io import jsonable

    with open(path, "w") as fh:
        fh.write(json.dumps(json.loads(jsonable(data)), indent=2) + "\n")


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, constrained_layout=True, **kwargs)


# -- subcommands ----------------------------------------------------------------------

def cmd_models(args, rep):
    from . import models

    for name in sorted(models.REGISTRY):
        fn = models.REGISTRY[name]
        sig = str(inspect.signature(fn))
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        print(f"{name}{sig}\n    {doc}")
    return 0


# Nodes per axis of 3D grids when --grid is not given (a 65^3 solve takes
# about two seconds).
GRID_3D = 65


def _nodes(args, problem) -> int:
    if args.grid is not None:
        return args.grid
    return args.default_grid if len(problem.attractor) == 2 else GRID_3D


def cmd_solve(args, rep):
    from .report import io, plot
    from .solve import local_quasipotential

    problem = load_model(args.model, _params(args.param), args.box, args.attractor)
    grid = problem.grid(_nodes(args, problem))
    rep.step(f"solving {problem.name} on {' x '.join(map(str, grid.shape))} nodes")
    start = time.perf_counter()
    # A problem whose attractor is a limit cycle is solved from its curve.
    target = problem.cycle if getattr(problem, "cycle", None) is not None and args.attractor is None \
        else problem.attractor
    qp = local_quasipotential(problem.sde, grid, target, supersample=args.supersample)
    seconds = time.perf_counter() - start
    out = _out(args.out)
    io.save(os.path.join(out, "quasipotential.npz"), qp, model=problem.name)
    summary = {"model": problem.name, "grid": list(grid.shape), "lower": grid.lower, "upper": grid.upper,
               "attractor": qp.attractor, "seconds": seconds,
               "max_value": float(np.max(qp.values[np.isfinite(qp.values)])),
               "reached_fraction": float(np.mean(np.isfinite(qp.values)))}
    if problem.exact is not None:
        exact = problem.exact(grid.points())
        ok = np.isfinite(qp.values)
        summary["max_error_vs_exact"] = float(np.max(np.abs(qp.values - exact)[ok]))
    if qp.info.get("supersampled_nodes"):
        summary["supersampled_nodes"] = qp.info["supersampled_nodes"]
        rep.step(_supersampled(qp.info))
    _write_json(os.path.join(out, "summary.json"), summary)
    nodes = " x ".join(map(str, grid.shape))
    if grid.ndim == 2:
        fig, ax = _figure(figsize=(6, 4.8))
        plot.quasipotential(qp, ax=ax, title=f"quasi-potential U of {problem.name}\n{nodes} nodes; "
                                             "exit rates ~ exp(-U / eps)")
    else:
        fig, axes = _figure(1, 3, figsize=(14, 4.2))
        plot.slices(qp, None, axes=axes, at=qp.attractor)
        fig.suptitle(f"quasi-potential U of {problem.name} ({nodes} nodes): slices through the attractor")
    fig.savefig(os.path.join(out, "quasipotential.png"), dpi=120)
    rep.step(f"wrote {out}/quasipotential.npz, quasipotential.png, summary.json")
    from .report.io import jsonable

    print(jsonable({k: v for k, v in summary.items() if k not in ("lower", "upper")}))
    return 0


def _phi_line(land) -> str:
    """phi at the attractors and the selected one, for a title."""
    return (", ".join(f"phi(O{i + 1}) = {v:.3g}" for i, v in enumerate(land.global_values))
            + f": O{land.selected + 1} selected")


def _slices_figure(plot, land, title):
    fig, axes = _figure(1, 3, figsize=(14, 4.2))
    plot.slices(land, None, axes=axes, at=land.attractors[land.selected])
    fig.suptitle(title)
    return fig


def _landscape(problem, args, rep):
    from .landscape import landscape

    grid = problem.grid(_nodes(args, problem))
    rep.step(f"landscape of {problem.name} on {' x '.join(map(str, grid.shape))} nodes")
    land = landscape(problem.sde, grid, supersample=args.supersample)
    if land.info.get("supersampled_nodes"):
        rep.step(_supersampled(land.info))
    return land


def _supersampled(info: dict) -> str:
    """One line on the nodes sampled as cell means because a field jumps there."""
    counts = ", ".join(f"{name} at {n} nodes" for name, n in info["supersampled_nodes"].items())
    if info.get("supersample") is not None:
        return f"fields sampled as cell means everywhere ({counts})"
    return (f"fields that jump between nodes: sampled as cell means next to the jumps ({counts}); "
            "--supersample 1 turns this off")


def _landscape_summary(problem, land) -> dict:
    s = {"model": problem.name, "grid": list(land.grid.shape), "attractors": land.attractors,
         "saddles": land.saddles, "costs": land.costs, "exit_costs": land.exit_costs, "W": land.W,
         "global_values": land.global_values, "selected": int(land.selected),
         "selected_point": land.attractors[land.selected]}
    if problem.costs is not None:
        s["exact_costs"] = np.array(problem.costs, dtype=float)
    if problem.global_values is not None:
        s["exact_global_values"] = np.array(problem.global_values, dtype=float)
    if land.info.get("supersampled_nodes"):
        s["supersampled_nodes"] = land.info["supersampled_nodes"]
    return s


def cmd_landscape(args, rep):
    from .report import io, plot

    problem = load_model(args.model, _params(args.param), args.box, args.attractor)
    land = _landscape(problem, args, rep)
    out = _out(args.out)
    io.save(os.path.join(out, "landscape.npz"), land, model=problem.name)
    summary = _landscape_summary(problem, land)
    _write_json(os.path.join(out, "summary.json"), summary)
    if land.grid.ndim == 2:
        fig, axes = _figure(1, 2, figsize=(12, 4.6))
        plot.basins(land, ax=axes[0])
        plot.quasipotential(land, ax=axes[1], paths=land.paths(),
                            title=f"global quasi-potential phi\n{_phi_line(land)}")
        axes[1].legend(loc="lower left", fontsize=8, framealpha=0.8)
        fig.suptitle(f"{problem.name} on {' x '.join(map(str, land.grid.shape))} nodes; "
                     "stationary law ~ exp(-phi / eps)")
    else:
        fig = _slices_figure(plot, land, f"global quasi-potential phi of {problem.name}: slices through the "
                                         f"selected attractor; {_phi_line(land)}")
    fig.savefig(os.path.join(out, "landscape.png"), dpi=120)
    rep.step(f"wrote {out}/landscape.npz, landscape.png, summary.json")
    print(f"{land.k} attractors, {len(land.saddles)} saddles; selected O{land.selected + 1} at "
          f"{tuple(np.round(land.attractors[land.selected], 4))}; phi(O_i) = {np.round(land.global_values, 5)}")
    return 0


def cmd_verify(args, rep):
    from . import verify
    from .grid import Grid
    from .problem import ReactionNetwork
    from .report import io, plot
    from .solve import local_quasipotential
    from .stochastic import Ball, long_run

    problem = load_model(args.model, _params(args.param), args.box, args.attractor)
    d = len(problem.attractor)
    network = isinstance(problem.sde, ReactionNetwork)
    if network:
        if not args.volume or args.eps:
            raise CommandError(f"{problem.name} is a reaction network: give --volume (not --eps)")
        eps = sorted(1.0 / np.asarray(args.volume, dtype=float), reverse=True)
    elif not args.eps or args.volume:
        raise CommandError("give --eps (--volume is for reaction networks)")
    else:
        eps = sorted(args.eps, reverse=True)
    for name, sde_default, network_default in (("dt", 0.01, 1.0), ("paths", 400, 32), ("steps", 200_000, 20_000)):
        if getattr(args, name) is None:
            setattr(args, name, network_default if network else sde_default)
    out = _out(args.out)
    lo, hi = np.array(problem.lower), np.array(problem.upper)
    # Monte Carlo paths wander past the solver's box: fields on three times
    # its size (in 3D on a third of the nodes per axis). A network's exact
    # simulation tabulates its propensities on the copy numbers of the box.
    mc_nodes = args.mc_grid if d == 2 else max(33, args.mc_grid // 3)
    mc_grid = problem.grid(3) if network else Grid(lo - (hi - lo), hi + (hi - lo), (mc_nodes,) * d)
    rows, notes = [], []
    if network:
        if len(problem.attractors) < 2:
            raise CommandError(f"{problem.name} has one attractor: verify compares switching between attractors")
        land = _landscape(problem, args, rep)
        io.save(os.path.join(out, "landscape.npz"), land, model=problem.name)
        volumes = [float(v) for v in sorted(1.0 / np.asarray(eps))]
        # Brute-force simulation sees switches only while Omega V is small:
        # at Omega min V_ij > 8 a switch takes e^8 times the relaxation
        # time and more, beyond any run here.
        lowest = float(np.min(land.costs[~np.eye(land.k, dtype=bool)]))
        simulated = [v for v in volumes if v * lowest <= SIMULATED_BARRIER]
        if len(simulated) >= 2:
            rep.step(f"switching rates from Gillespie runs at volume {_numbers(simulated)} ({args.paths} paths x "
                     f"{args.steps} time units each)")
            rows += verify.transition_barriers(problem.sde, land, 1.0 / np.array(simulated), args.dt, args.steps,
                                               args.paths, seed=args.seed, grid=mc_grid)
        if simulated:
            rep.step(f"switching rates at volume {simulated[0]:g}: Gillespie against the master equation")
            rows += verify.master_rates(problem.sde, land, simulated[0], args.steps * args.dt, args.paths,
                                        seed=args.seed, grid=mc_grid, master_grid=_master_box(land))
        skipped = [v for v in volumes if v not in simulated]
        if skipped:
            notes.append(f"No Gillespie runs at volume {_numbers(skipped)}: there Omega min V_ij > "
                         f"{SIMULATED_BARRIER:g} and switches are too rare to count (the master equation judges).")
        rep.step(f"the master equation at volume {_numbers(volumes)}")
        rows += verify.master_barriers(problem.sde, land, volumes, grid=_master_box(land))
        fig, ax = _figure(figsize=(6.5, 5.5))
        plot.quasipotential(land, ax=ax, paths=land.paths(), title=f"global phi: {_phi_line(land)}")
        ax.title.set_fontsize(9)
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
        fig.suptitle(f"{problem.name}\nvolumes {_numbers(volumes)} (eps = 1 / volume)", fontsize=10)
    elif len(problem.attractors) > 1:
        land = _landscape(problem, args, rep)
        io.save(os.path.join(out, "landscape.npz"), land, model=problem.name)
        if len(eps) >= 2:
            rep.step(f"transition rates at eps = {eps} ({args.paths} paths x {args.steps} steps each)")
            rows += verify.transition_barriers(problem.sde, land, eps, args.dt, args.steps, args.paths,
                                               seed=args.seed, grid=mc_grid)
        rep.step(f"occupancy at eps = {eps[0]}")
        x0 = land.attractors[np.arange(args.paths) % land.k]
        radius = 0.25 * float(np.min([np.linalg.norm(a - b) for i, a in enumerate(land.attractors)
                                      for b in land.attractors[i + 1:]]))
        run = long_run(problem.sde, x0, eps[0], args.dt, args.steps, land.attractors, radius, args.paths,
                       seed=args.seed, grid=mc_grid, progress=not args.quiet)
        rows += verify.occupancy(land, run)
        if d == 2:
            fig, ax = _figure(figsize=(6.5, 5))
            plot.quasipotential(land, ax=ax, paths=land.paths(), title=f"global phi: {_phi_line(land)}")
            ax.title.set_fontsize(9)
            ax.legend(loc="lower left", fontsize=8, framealpha=0.8)
            fig.suptitle(f"{problem.name}\nMonte Carlo at eps = {_numbers(eps)}", fontsize=10)
        else:
            fig = _slices_figure(plot, land, f"global phi of {problem.name}: slices through the selected attractor; "
                                             f"Monte Carlo at eps = {_numbers(eps)}")
    else:
        grid = problem.grid(_nodes(args, problem))
        rep.step(f"solving {problem.name} on {' x '.join(map(str, grid.shape))} nodes")
        qp = local_quasipotential(problem.sde, grid, problem.attractor, supersample=args.supersample)
        if qp.info.get("supersampled_nodes"):
            rep.step(_supersampled(qp.info))
        O = np.asarray(qp.attractor)
        radius = args.radius or 0.6 * float(np.min(np.minimum(O - lo, hi - O)))
        disk = Ball(O, radius)
        if len(eps) < 2:
            raise CommandError("verify needs at least two --eps values for the barrier fit")
        rep.step(f"exit times from the {'disc' if d == 2 else 'ball'} of radius {radius:.3g} at eps = {eps} ({args.paths} paths each)")
        fit = verify.exit_barrier(problem.sde, O, disk, eps, args.dt, args.paths, seed=args.seed, U=qp,
                                  grid=mc_grid, max_time=args.max_time)
        rows.append(fit.comparison())
        rows.append(verify.exit_positions(fit.exits[-1], qp, disk, radius=0.25 * radius))
        where = f"the {'disc' if d == 2 else 'ball'} of radius {radius:.3g} around O"
        if d == 2:
            fig, axes = _figure(1, 2, figsize=(12, 4.4))
            plot.barrier_fit(fit, ax=axes[0])
            axes[0].set_title(f"mean exit time from {where}")
            plot.exit_positions(fit.exits[-1], ax=axes[1], center=O,
                                predicted=verify.boundary_minimum(qp, disk)[1])
            axes[1].set_title(f"where the paths leave it at eps = {eps[-1]:g}")
            fig.suptitle(f"{problem.name}: eps = {_numbers(eps)}, dt = {args.dt:g}, {args.paths} paths each",
                         fontsize=10)
        else:
            fig, ax = _figure(figsize=(6, 4.6))
            plot.barrier_fit(fit, ax=ax)
            ax.set_title(f"mean exit time from {where}", fontsize=9)
            fig.suptitle(f"{problem.name}: eps = {_numbers(eps)}, dt = {args.dt:g}", fontsize=10)
    fig.savefig(os.path.join(out, "verify.png"), dpi=120)
    text = verify.table(rows)
    with open(os.path.join(out, "verify.md"), "w") as fh:
        fh.write(f"# Monte Carlo against predictions: {problem.name}\n\n{text}\n" + "".join(f"\n{n}\n" for n in notes))
    _write_json(os.path.join(out, "verify.json"),
                {"model": problem.name, "eps": eps, "dt": args.dt, "paths": args.paths,
                 "volumes": sorted(1.0 / np.asarray(eps)) if network else None,
                 "rows": [{"quantity": r.quantity, "predicted": r.predicted, "measured": r.measured.value,
                           "low": r.measured.low, "high": r.measured.high, "agrees": r.agrees, "note": r.note}
                          for r in rows]})
    rep.step(f"wrote {out}/verify.md, verify.png, verify.json")
    print(text + "".join(f"\n{n}" for n in notes))
    return 0


# The largest Omega min V_ij at which a network's switches are simulated.
SIMULATED_BARRIER = 8.0


def _numbers(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _master_box(land):
    """The master equation's box: from 0 to 1.5 times the attractors' largest
    concentrations (inside the landscape's box), where the stationary law
    and the switching happen."""
    from .grid import Grid

    upper = np.minimum(1.5 * np.max(land.attractors, axis=0), land.grid.upper)
    return Grid(np.zeros(land.grid.ndim), upper, (3,) * land.grid.ndim)


def cmd_sgd(args, rep):
    from .report.sgd import write_study
    from .sgd import selection_study

    problem = load_model(args.model, _params(args.param), None, None)
    if getattr(problem, "losses", None) is None:
        raise CommandError(f"{args.model} is not an SGD model (try iris_two_widths or iris_mixture)")
    rep.step(f"landscapes of {problem.name} (anisotropic and isotropic noise"
             + (", SGD's own Hamiltonian" if args.own else "") + ", two grids each), then SGD runs "
             f"({args.paths} runs x {args.steps} steps per learning rate)")
    study = selection_study(problem, args.eta, batch_size=args.batch, n_steps=args.steps, n_paths=args.paths,
                            seed=args.seed, grid_nodes=args.grid, regularisations=args.regularisation,
                            gaussian=args.gaussian, own=args.own, own_grid_nodes=args.own_grid)
    report = write_study(study, problem, _out(args.out))
    rep.step(f"wrote {args.out}/report.md, study.json, selection.png")
    print(report)
    return 0


def _sweep_params(items: Optional[List[str]]):
    """--param values: ``a:b:n`` (n values from a to b) or ``v1,v2,...`` are
    swept, a single value is fixed."""
    swept, fixed = {}, {}
    for key, text in _params_text(items):
        if text.count(":") == 2:
            a, b, n = text.split(":")
            try:
                a, b, n = float(a), float(b), int(n)
            except ValueError:
                raise CommandError(f"--param {key}=a:b:n takes two numbers and a count, got {text!r}") from None
            if n < 1:
                raise CommandError(f"--param {key}=a:b:n needs n >= 1, got {n}")
            swept[key] = np.linspace(a, b, n)
        elif "," in text:
            swept[key] = [_value(v.strip()) for v in text.split(",") if v.strip()]
        else:
            fixed[key] = _value(text)
    if not swept:
        raise CommandError("hjqp sweep needs a swept parameter: --param name=a:b:n or name=v1,v2,...")
    return swept, fixed


def _params_text(items):
    for item in items or []:
        if "=" not in item:
            raise CommandError(f"--param takes key=value, got {item!r}")
        k, v = item.split("=", 1)
        yield k.strip(), v.strip()


def cmd_sweep(args, rep):
    from contextlib import ExitStack

    from .report.sweep import sweep

    swept, fixed = _sweep_params(args.param)
    model = args.model
    if ":" in model:
        raise CommandError(f"hjqp sweep takes a built-in model, got {model!r}: for your own model call "
                           "hjqp.sweep(function, parameters, grid) from Python")
    first = {k: (v[0].item() if hasattr(v[0], "item") else v[0]) for k, v in swept.items()}
    problem = load_model(model, {**fixed, **first})  # a bad name or parameter fails here, in one line
    grid = args.grid if args.grid is not None else (121 if len(problem.attractor) == 2 else 41)
    n_points = int(np.prod([len(v) for v in swept.values()]))
    with ExitStack() as stack:
        executor = None
        if args.scheduler:
            try:
                from distributed import Client
            except ImportError:
                raise CommandError("--scheduler needs dask's distributed: pip install distributed") from None
            executor = stack.enter_context(Client(args.scheduler))
            where = f"on the dask scheduler {args.scheduler}"
        elif args.workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            executor = stack.enter_context(ProcessPoolExecutor(args.workers))
            where = f"on {args.workers} processes"
        else:
            where = "serially"
        rep.step(f"{args.what} of {model} at {n_points} parameter points, {grid} nodes per axis, {where}")
        result = sweep(model, swept, grid, what=args.what, fixed=fixed, executor=executor,
                       progress=not args.quiet, threads=args.threads, supersample=args.supersample)
    out = _out(args.out)
    result.save(os.path.join(out, "sweep.csv"))
    result.save(os.path.join(out, "sweep.json"))
    written = ["sweep.csv", "sweep.json"]
    if args.what == "landscape" and len(swept) >= 1:
        fig, ax = _figure(figsize=(7, 4.5))
        first = next(iter(swept))
        others = {k: v[0] for k, v in swept.items() if k != first}
        result.plot(first, ax=ax, where=others or None)
        if others:
            ax.set_title(ax.get_title() + " (" + ", ".join(f"{k} = {v:g}" for k, v in others.items()) + ")")
        fig.savefig(os.path.join(out, "sweep.png"), dpi=120)
        written.append("sweep.png")
    rep.step(f"wrote {out}/" + ", ".join(written))
    for row in result.rows:
        p = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in row["params"].items()
                      if k in swept)
        if row["error"] is not None:
            print(f"{p}: failed: {row['error']}")
        elif args.what == "landscape":
            tied = row["tied"]
            chosen = (f"selected O{row['selected'] + 1}" if len(tied) < 2
                      else "tied: " + ", ".join(f"O{i + 1}" for i in tied))
            print(f"{p}: {row['k']} attractors, exit costs {np.round(row['exit_costs'], 4).tolist()}, {chosen}")
        else:
            print(f"{p}: max U {row['max_value']:.4g}" + (f", max error {row['max_error']:.2e}"
                                                          if "max_error" in row else ""))
    return 0


def cmd_demo(args, rep):
    from .report.demo import run

    run(args.out, rep.step, quick=args.quick, progress=not args.quiet)
    return 0


def cmd_bench(args, rep):
    from .report import bench

    rep.step("2D solver against scikit-fmm")
    rows = bench.solve_rows(args.sizes, args.repeat, ["linear", "aniso100_rot0.3"])
    print("2D local quasi-potential (errors on {U <= 0.9}; scikit-fmm's first-order travel_time on the same grid)\n")
    print(bench.table(["problem", "N", "max error", "RMS error", "time (s)", "scikit-fmm (s)", "ratio"],
                      [(r["problem"], r["n"], r["max_error"], r["rms_error"], r["seconds"], r["skfmm_seconds"],
                        r["ratio_to_skfmm"]) for r in rows]))
    rep.step("landscape")
    r = bench.landscape_row("multiwell", 101 if args.quick else 201)
    print("\nLandscape (relative errors of costs, absolute of phi at the attractors)\n")
    print(bench.table(["problem", "N", "exit costs", "transition costs", "phi(O_i)", "time (s)"],
                      [(r["problem"], r["n"], r["exit_cost_error"], r["transition_cost_error"],
                        r["global_value_error"], r["seconds"])]))
    rep.step("Monte Carlo throughput")
    mc = bench.montecarlo_rows(200, 500, 100, 1) if args.quick else bench.montecarlo_rows(2000, 5000, 500,
                                                                                           args.repeat)
    print(f"\nEuler-Maruyama, {mc['problem']}, {mc['paths']} paths\n")
    print(bench.table(["engine", "M path-steps/s", "vs numpy"],
                      [(k, v["path_steps_per_s"] / 1e6, v["speedup_vs_numpy"]) for k, v in mc["rows"].items()]))
    print(f"\n(machine: {bench.machine()}; full runs: python benchmarks/bench_*.py in a source checkout)")
    return 0


# -- entry point --------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hjqp", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--traceback", action="store_true",
                   help="show the full traceback of an error (by default one line)")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(q, grid):
        q.add_argument("model", help="built-in model name or module:function")
        q.add_argument("--param", action="append", metavar="K=V", help="model parameter (repeatable)")
        q.add_argument("--grid", type=int, default=None,
                       help=f"nodes per axis (default {grid} in 2D, {GRID_3D} in 3D)")
        q.set_defaults(default_grid=grid)
        q.add_argument("--box", type=float, nargs="+", metavar="X", help="lower then upper corner")
        q.add_argument("--attractor", type=float, nargs="+", metavar="X")
        q.add_argument("--supersample", type=int, default=None,
                       help="sample the fields as cell means of S^d points (default: only next to the jumps "
                            "of fields that jump; 1: point samples only)")
        q.add_argument("--quiet", action="store_true", help="no progress messages")

    q = sub.add_parser("solve", help="local quasi-potential of a model")
    model_args(q, 401)
    q.add_argument("--out", default="hjqp-solve")
    q.set_defaults(func=cmd_solve)

    q = sub.add_parser("landscape", help="attractors, costs and the global quasi-potential")
    model_args(q, 201)
    q.add_argument("--out", default="hjqp-landscape")
    q.set_defaults(func=cmd_landscape)

    q = sub.add_parser("verify", help="Monte Carlo next to the predictions")
    model_args(q, 201)
    q.add_argument("--eps", type=float, nargs="+", default=None, help="noise strengths (SDEs)")
    q.add_argument("--volume", type=float, nargs="+", default=None,
                   help="system sizes Omega of a reaction network (eps = 1 / Omega)")
    q.add_argument("--dt", type=float, default=None, help="time step (default 0.01; networks: 1, the time unit)")
    q.add_argument("--paths", type=int, default=None, help="paths per run (default 400; networks 32)")
    q.add_argument("--steps", type=int, default=None,
                   help="steps per path of long runs (default 200000; networks 20000)")
    q.add_argument("--max-time", type=float, default=None, help="censoring time of exit runs")
    q.add_argument("--radius", type=float, default=None, help="exit disc radius (one attractor)")
    q.add_argument("--mc-grid", type=int, default=401, help="nodes per axis of the Monte Carlo fields")
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--out", default="hjqp-verify")
    q.set_defaults(func=cmd_verify)

    q = sub.add_parser("sgd", help="which minimum SGD selects: landscapes against SGD runs")
    q.add_argument("model", nargs="?", default="iris_two_widths",
                   help="an SGD model: iris_two_widths (default) or iris_mixture")
    q.add_argument("--param", action="append", metavar="K=V", help="model parameter (repeatable)")
    q.add_argument("--eta", type=float, nargs="+", default=None,
                   help="learning rates (default: where the cheapest transition has V / eps = 5, 4.5, 4)")
    q.add_argument("--batch", type=int, default=1, help="batch size")
    q.add_argument("--steps", type=int, default=100000, help="SGD steps per run")
    q.add_argument("--paths", type=int, default=64, help="independent runs, started at the minima in turn")
    q.add_argument("--grid", type=int, default=None,
                   help="nodes per axis of the landscapes (default 201 in 2D, 41 in 3D)")
    q.add_argument("--regularisation", type=float, nargs="*", default=[],
                   help="also compute the costs with D + delta I for these delta (iris_mixture)")
    q.add_argument("--gaussian", action="store_true",
                   help="also run gradient descent with Gaussian noise of covariance D and tr D / d I")
    q.add_argument("--no-own", dest="own", action="store_false",
                   help="skip the landscape of SGD's own Hamiltonian (2D models)")
    q.add_argument("--own-grid", type=int, default=None,
                   help="nodes per axis of SGD's own landscape (default 81)")
    q.add_argument("--seed", type=int, default=1)
    q.add_argument("--out", default="hjqp-sgd")
    q.add_argument("--quiet", action="store_true", help="no progress messages")
    q.set_defaults(func=cmd_sgd)

    q = sub.add_parser("sweep", help="landscapes (or local solves) over a grid of model parameters")
    q.add_argument("model", help="built-in model name")
    q.add_argument("--param", action="append", metavar="K=V",
                   help="K=a:b:n (n values from a to b) or K=v1,v2,... to sweep, K=v to fix (repeatable)")
    q.add_argument("--grid", type=int, default=None, help="nodes per axis (default 121 in 2D, 41 in 3D)")
    q.set_defaults(default_grid=121)
    q.add_argument("--what", choices=["landscape", "local"], default="landscape")
    q.add_argument("--workers", type=int, default=1, help="local processes (one parameter point each)")
    q.add_argument("--scheduler", default=None, help="address of a dask scheduler (tcp://host:port)")
    q.add_argument("--threads", type=int, default=1, help="threads per parameter point")
    q.add_argument("--supersample", type=int, default=1, help="cell-mean sampling for fields that jump")
    q.add_argument("--out", default="hjqp-sweep")
    q.add_argument("--quiet", action="store_true", help="no progress messages")
    q.set_defaults(func=cmd_sweep)

    q = sub.add_parser("demo", help="the paper's Example 4.1 end to end")
    q.add_argument("--out", default="hjqp-demo")
    q.add_argument("--quick", action="store_true", help="smaller grids and runs (seconds)")
    q.add_argument("--quiet", action="store_true", help="no progress messages")
    q.set_defaults(func=cmd_demo)

    q = sub.add_parser("bench", help="quick benchmarks, as tables")
    q.add_argument("--sizes", type=int, nargs="+", default=[257, 513])
    q.add_argument("--repeat", type=int, default=1)
    q.add_argument("--quick", action="store_true", help="small sizes: a check that it runs, not a measurement")
    q.add_argument("--quiet", action="store_true", help="no progress messages")
    q.set_defaults(func=cmd_bench)

    q = sub.add_parser("models", help="list the built-in models")
    q.set_defaults(func=cmd_models)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    rep = Reporter(getattr(args, "quiet", False))
    try:
        return args.func(args, rep)
    except KeyboardInterrupt:
        print("hjqp: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, TypeError, OSError, MemoryError) as exc:
        if args.traceback:
            raise
        print(f"hjqp: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Anything else comes from the model's own code (its drift or
        # diffusion raised while being sampled) or is a defect of hjqp: one
        # line, with the model named; --traceback shows where.
        if args.traceback:
            raise
        model = getattr(args, "model", None)
        where = f" while running model {model!r}" if model else ""
        print(f"hjqp: error{where}: {type(exc).__name__}: {exc} (--traceback shows where)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
