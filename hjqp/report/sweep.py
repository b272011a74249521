"""Parameter sweeps: a landscape (or a local solve, or any function of a
problem) at every point of a grid of model parameters, on any executor.

    s = hjqp.sweep("multiwell", {"tilt": np.linspace(0, 2, 9)}, 161)
    s.rows            # one dict per parameter point
    s.column("k")     # the number of attractors at each point
    s.save("multiwell.csv"); s.plot()

Each point is independent: with ``executor=`` (a ``concurrent.futures``
executor or a dask ``distributed.Client``) the points run in parallel, one
task each, and the rows come back in the order of the parameter grid, the
same as a serial run's. A point that fails (a model that raises for these
parameters, a landscape without attractors) gives a row with its error
instead of ending the sweep.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..grid import Grid

__all__ = ["Sweep", "sweep"]

WHAT = ("landscape", "local")
# Attractors whose phi is within this fraction of the costs' scale are tied
# with the selected one (symmetric problems: differences of rounding).
TIE = 1e-6


@dataclass
class Sweep:
    """The result of :func:`sweep`.

    Attributes
    ----------
    model : str
        The model's name.
    names : tuple of str
        The swept parameters, in the order of the grid's axes.
    values : tuple of ndarray
        Their values along each axis; the rows run over the product, the
        last name fastest.
    fixed : dict
        Parameters passed to every point.
    what : str
        ``"landscape"``, ``"local"`` or the name of the caller's function.
    rows : list of dict
        One per point: ``"params"`` (dict), ``"error"`` (None or the
        message), ``"seconds"``, and what was computed. For landscapes:
        ``k``, ``n_saddles``, ``attractors`` (k, d), ``is_cycle``, ``costs``
        (k, k), ``exit_costs`` (k,), ``exit_on_edge``, ``W``,
        ``global_values`` (phi at the attractors), ``selected`` and ``tied`` (the
        attractors with phi = 0 up to rounding, see :data:`TIE`). For local
        solves: ``attractor``, ``max_value``, ``reached`` (fraction of nodes
        with a finite value) and, where the model knows U exactly,
        ``max_error`` (on the attractor's component of {U < its exit cost}
        when the model has several attractors: U is exact on its basin).
    """

    model: str
    names: tuple
    values: tuple
    fixed: dict
    what: str
    rows: List[dict] = field(default_factory=list)

    @property
    def shape(self) -> tuple:
        """The parameter grid's shape."""
        return tuple(len(v) for v in self.values)

    def column(self, key: str) -> np.ndarray:
        """One entry of every row, shaped like the parameter grid: a float
        array for scalars (NaN where a point failed), else an object array."""
        entries = [row.get(key) for row in self.rows]
        if all(e is None or np.isscalar(e) for e in entries) and any(e is not None for e in entries):
            try:
                out = np.array([np.nan if e is None else float(e) for e in entries], dtype=float)
                return out.reshape(self.shape)
            except (TypeError, ValueError):
                pass
        out = np.empty(len(entries), dtype=object)
        out[:] = entries
        return out.reshape(self.shape)

    @property
    def failed(self) -> List[dict]:
        """The rows whose point raised."""
        return [row for row in self.rows if row["error"] is not None]

    def records(self) -> List[dict]:
        """Flat rows for a table: the parameters, then scalars, then arrays
        written out per attractor (``exit_cost_1``, ``phi_1``, ...,
        ``V_1_2``, ...), up to the largest number of attractors."""
        k = max([row.get("k", 0) or 0 for row in self.rows] + [0])
        out = []
        for row in self.rows:
            rec: Dict[str, Any] = dict(row["params"])
            for key, value in row.items():
                if key in ("params",) or isinstance(value, (list, tuple, np.ndarray)):
                    continue
                rec[key] = value
            if self.what == "landscape":
                n = row.get("k") or 0
                for i in range(k):
                    have = i < n
                    rec[f"attractor_{i + 1}"] = (" ".join(f"{c:.6g}" for c in row["attractors"][i]) if have else "")
                    rec[f"exit_cost_{i + 1}"] = row["exit_costs"][i] if have else None
                    rec[f"phi_{i + 1}"] = row["global_values"][i] if have else None
                    rec[f"W_{i + 1}"] = row["W"][i] if have else None
                for i, j in itertools.product(range(k), range(k)):
                    if i != j:
                        rec[f"V_{i + 1}_{j + 1}"] = row["costs"][i][j] if i < n and j < n else None
            out.append(rec)
        return out

    def save(self, path: str) -> str:
        """Write the sweep: ``.csv`` (the flat records) or ``.json`` (every
        row whole, with the grid of parameters); returns the path."""
        ext = os.path.splitext(path)[1].lower()
        if ext == ".csv":
            records = self.records()
            keys: List[str] = []
            for rec in records:
                keys += [k for k in rec if k not in keys]
            with open(path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=keys)
                writer.writeheader()
                for rec in records:
                    writer.writerow({k: ("" if rec.get(k) is None else rec.get(k)) for k in keys})
        elif ext == ".json":
            from .io import jsonable

            data = {"model": self.model, "what": self.what, "names": list(self.names),
                    "values": [list(v) for v in self.values], "fixed": self.fixed, "rows": self.rows}
            with open(path, "w") as fh:
                fh.write(json.dumps(json.loads(jsonable(data)), indent=1) + "\n")
        else:
            raise ValueError(f"Sweep.save writes .csv or .json, not {path!r}")
        return path

    def plot(self, parameter: Optional[str] = None, ax=None, where: Optional[Mapping[str, Any]] = None):
        """Exit costs of the attractors against one parameter (a
        bifurcation-style diagram; landscape sweeps). Attractors are
        followed from point to point by position; where one appears or
        disappears its branch starts or ends with a marker, and the
        selected attractor (phi = 0) is drawn filled. With several swept
        parameters, ``where`` fixes the others ({name: value}, nearest
        value)."""
        from .plot import sweep_diagram

        return sweep_diagram(self, parameter, ax=ax, where=where)

    def line(self, parameter: Optional[str] = None, where: Optional[Mapping[str, Any]] = None):
        """The rows along one parameter with the others fixed: (name, x, rows)."""
        if not self.names:
            raise ValueError("the sweep has no swept parameter")
        if parameter is None:
            varied = [n for n, v in zip(self.names, self.values) if len(v) > 1]
            if len(varied) != 1:
                raise ValueError(f"the sweep varies {varied}: say which to plot with parameter=")
            parameter = varied[0]
        if parameter not in self.names:
            raise ValueError(f"{parameter!r} is not a swept parameter (swept: {list(self.names)})")
        axis = self.names.index(parameter)
        where = dict(where or {})
        unknown = set(where) - set(self.names)
        if unknown:
            raise ValueError(f"where= names {sorted(unknown)}, not swept parameters {list(self.names)}")
        index = []
        for a, (name, vals) in enumerate(zip(self.names, self.values)):
            if a == axis:
                index.append(slice(None))
            elif name in where:
                index.append(int(np.argmin(np.abs(np.asarray(vals, dtype=float) - float(where[name])))))
            elif len(vals) == 1:
                index.append(0)
            else:
                raise ValueError(f"the sweep also varies {name!r}: fix it with where={{{name!r}: value}}")
        rows = np.empty(len(self.rows), dtype=object)
        rows[:] = self.rows
        return parameter, np.asarray(self.values[axis], dtype=float), list(rows.reshape(self.shape)[tuple(index)])


def _grid_of(parameters: Mapping[str, Any]):
    if not isinstance(parameters, Mapping) or not parameters:
        raise ValueError("parameters must be a non-empty mapping {name: values}")
    names, values = [], []
    for name, vals in parameters.items():
        if not isinstance(name, str):
            raise ValueError(f"parameter names must be strings, got {name!r}")
        arr = np.atleast_1d(np.asarray(vals))
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"parameter {name!r} needs a non-empty 1D sequence of values, got shape {arr.shape}")
        names.append(name)
        values.append(arr)
    return tuple(names), tuple(values)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _problem(model, params: dict):
    from ..models import REGISTRY, Problem

    fn = REGISTRY.get(model) if isinstance(model, str) else model
    if fn is None:
        raise ValueError(f"unknown model {model!r}; built-in models: {', '.join(sorted(REGISTRY))}")
    problem = fn(**params)
    if not isinstance(problem, Problem):
        raise TypeError(f"the model returned {type(problem).__name__}, not an hjqp.models.Problem")
    return problem


def _grid_for(problem, grid) -> Grid:
    if isinstance(grid, Grid):
        if grid.ndim != len(problem.lower):
            raise ValueError(f"the grid is {grid.ndim}D but the model is {len(problem.lower)}D")
        return grid
    return problem.grid(int(grid))


def _landscape_row(problem, grid: Grid, options: dict) -> dict:
    from ..landscape import landscape

    land = landscape(problem.sde, grid, **options)
    return {"k": land.k, "n_saddles": len(land.saddles), "attractors": land.attractors.tolist(),
            "is_cycle": land.is_cycle.tolist(), "costs": land.costs.tolist(),
            "exit_costs": land.exit_costs.tolist(), "exit_on_edge": land.exit_on_edge.tolist(),
            "W": land.W.tolist(), "global_values": land.global_values.tolist(), "selected": int(land.selected),
            "tied": land.selected_set(TIE * max(1.0, float(np.max(land.W)))).tolist()}


def _local_row(problem, grid: Grid, options: dict) -> dict:
    from ..solve import local_quasipotential

    attractor = problem.cycle if problem.cycle is not None else problem.attractor
    qp = local_quasipotential(problem.sde, grid, attractor, **options)
    finite = np.isfinite(qp.values)
    row = {"attractor": list(np.asarray(qp.attractor, dtype=float)) if np.ndim(qp.attractor) == 1 else None,
           "max_value": float(qp.values[finite].max()) if finite.any() else math.nan,
           "reached": float(finite.mean())}
    if problem.exact is not None:
        # U is exact for the attractor's own basin: with several attractors,
        # compare below its exit cost.
        exact = problem.exact(grid.points())
        exact = exact - float(problem.exact(np.asarray(problem.attractor, dtype=float)))
        where = finite & np.isfinite(exact)
        if problem.exit_costs is not None and len(problem.exit_costs) > 1:
            from scipy import ndimage

            labels, _ = ndimage.label(where & (exact < problem.exit_costs[0]))
            where = labels == labels[grid.nearest_node(problem.attractor)]
        row["max_error"] = float(np.max(np.abs(qp.values - exact)[where])) if where.any() else math.nan
    return row


def _point(model, params: dict, grid, what, options: dict) -> dict:
    """One point of the sweep (a task on an executor: module level, so that
    process pools can pickle it)."""
    start = time.perf_counter()
    row: Dict[str, Any] = {"params": params, "error": None}
    try:
        problem = _problem(model, params)
        g = _grid_for(problem, grid)
        if what == "landscape":
            row.update(_landscape_row(problem, g, options))
        elif what == "local":
            row.update(_local_row(problem, g, options))
        else:
            out = what(problem, g, **options)
            if not isinstance(out, Mapping):
                raise TypeError(f"what= returned {type(out).__name__}, not a dict of results")
            row.update(out)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = time.perf_counter() - start
    return row


def sweep(model: Union[str, Callable], parameters: Mapping[str, Sequence], grid: Union[Grid, int], *,
          what: Union[str, Callable] = "landscape", fixed: Optional[Mapping[str, Any]] = None, executor=None,
          progress: bool = False, **options) -> Sweep:
    """Map landscapes (or local solves, or ``what(problem, grid)``) over a
    grid of model parameters.

    Parameters
    ----------
    model : str or callable
        A built-in model's name (``hjqp models``) or a function of keyword
        parameters returning an :class:`hjqp.models.Problem` (module level,
        to run on a process pool or a dask cluster).
    parameters : mapping name -> sequence
        The swept values; the points are their product (the last name
        varies fastest).
    grid : Grid or int
        One grid for every point, or nodes per axis on each problem's own
        box (``problem.grid(n)``; the box may depend on the parameters).
    what : ``"landscape"``, ``"local"`` or callable
        What to compute at each point; a callable takes ``(problem, grid,
        **options)`` and returns a dict of results (e.g. Monte Carlo
        estimates).
    fixed : mapping, optional
        Parameters passed to every point.
    executor : concurrent.futures.Executor or dask Client, optional
        Where the points run, one task each; serially when None. Results
        do not depend on it.
    progress : bool
        A progress bar over the points.
    **options
        Passed on to :func:`hjqp.landscape`, :func:`hjqp.local_quasipotential`
        or ``what`` (e.g. ``threads=1`` on a busy cluster).

    Returns
    -------
    Sweep
    """
    names, values = _grid_of(parameters)
    fixed = dict(fixed or {})
    both = set(fixed) & set(names)
    if both:
        raise ValueError(f"parameters {sorted(both)} are both swept and fixed")
    if isinstance(what, str):
        if what not in WHAT:
            raise ValueError(f"what= is one of {WHAT} or a function of (problem, grid), not {what!r}")
        what_name = what
    elif callable(what):
        what_name = getattr(what, "__name__", "function")
    else:
        raise ValueError(f"what= is one of {WHAT} or a function of (problem, grid), not {what!r}")
    if not (isinstance(grid, Grid) or (isinstance(grid, (int, np.integer)) and grid >= 3)):
        raise ValueError(f"grid= is a Grid or a number of nodes per axis >= 3, not {grid!r}")
    if not (isinstance(model, str) or callable(model)):
        raise ValueError(f"model= is a model's name or a function returning a Problem, not {model!r}")
    name = model if isinstance(model, str) else getattr(model, "__name__", "model")
    if isinstance(model, str):
        from ..models import REGISTRY

        if model not in REGISTRY:
            raise ValueError(f"unknown model {model!r}; built-in models: {', '.join(sorted(REGISTRY))}")

    points = [dict(fixed, **{n: _plain(v) for n, v in zip(names, combo)})
              for combo in itertools.product(*values)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(points), desc="sweep", leave=False)
    rows: List[dict] = []
    try:
        if executor is None:
            for params in points:
                rows.append(_point(model, params, grid, what, options))
                if bar is not None:
                    bar.update(1)
        else:
            futures = [executor.submit(_point, model, params, grid, what, options) for params in points]
            try:
                for f in futures:
                    rows.append(f.result())
                    if bar is not None:
                        bar.update(1)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    finally:
        if bar is not None:
            bar.close()
    return Sweep(name, names, tuple(np.asarray(v).tolist() for v in values), fixed, what_name, rows)
