"""Save and load results (.npz) with their grid and metadata.

``hjqp.io.save(path, result, **metadata)`` writes a QuasiPotential, a
Landscape, Paths, Exits or a LongRun; ``hjqp.io.load(path)`` returns the same
kind of object (``.metadata`` holds what was passed to save). The SDE is not
saved (it is code): ``hjqp.io.load(path, sde=...)`` attaches it again, and a
result loaded without it says so where it is needed (minimum action paths).
"""

from __future__ import annotations

import json
from dataclasses import fields as dataclass_fields
from typing import Any, Dict, Optional

import numpy as np

from .._version import __version__
from ..grid import Grid
from ..landscape import Landscape
from ..problem import SDE
from ..solve import LocalExpansion, QuasiPotential
from ..stochastic import Exits, LongRun, Paths

__all__ = ["save", "load", "jsonable"]

_FORMAT = 1


def _grid_arrays(prefix: str, grid: Grid) -> Dict[str, np.ndarray]:
    return {f"{prefix}lower": np.asarray(grid.lower), f"{prefix}upper": np.asarray(grid.upper),
            f"{prefix}shape": np.asarray(grid.shape)}


def _grid(data, prefix: str = "grid_") -> Grid:
    return Grid(data[f"{prefix}lower"], data[f"{prefix}upper"], tuple(int(n) for n in data[f"{prefix}shape"]))


def jsonable(info) -> str:
    """JSON text of a value with numpy arrays and scalars in it (others by repr)."""
    def fix(v):
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return float(v)
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, (list, tuple)):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {str(k): fix(x) for k, x in v.items()}
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        return repr(v)

    return json.dumps(fix(info))


def _qp_arrays(prefix: str, qp: QuasiPotential) -> Dict[str, Any]:
    e = qp.expansion
    out = {
        f"{prefix}values": qp.values, f"{prefix}grad": qp.grad, f"{prefix}attractor": qp.attractor,
        f"{prefix}rules": qp.rules, f"{prefix}info": jsonable(qp.info),
        f"{prefix}e_center": e.center, f"{prefix}e_jacobian": e.jacobian,
        f"{prefix}e_diffusion": e.diffusion, f"{prefix}e_covariance": e.covariance,
        f"{prefix}e_hessian": e.hessian, f"{prefix}e_exponents": np.asarray(e.exponents, dtype=np.int64),
        f"{prefix}e_cubic": e.cubic,
    }
    return out


def _qp(data, prefix: str, grid: Grid, sde, metadata) -> QuasiPotential:
    g = lambda name: data[f"{prefix}{name}"]  # noqa: E731
    expansion = LocalExpansion(g("e_center"), g("e_jacobian"), g("e_diffusion"), g("e_covariance"),
                               g("e_hessian"), tuple(tuple(int(v) for v in row) for row in g("e_exponents")),
                               g("e_cubic"))
    return QuasiPotential(g("values"), g("grad"), g("attractor"), grid, g("rules"), expansion,
                          json.loads(str(g("info"))), sde, metadata)


_MC = {"paths": Paths, "exits": Exits, "long_run": LongRun}


def save(path, result, **metadata) -> None:
    """Write a result to ``path`` (.npz). ``metadata``: JSON-able values
    (model name, parameters, ...), returned by :func:`load` as ``.metadata``."""
    arrays: Dict[str, Any] = {"format": _FORMAT, "hjqp_version": __version__,
                              "metadata": jsonable(metadata)}
    if isinstance(result, QuasiPotential):
        arrays["kind"] = "quasipotential"
        arrays.update(_grid_arrays("grid_", result.grid))
        arrays.update(_qp_arrays("qp_", result))
    elif isinstance(result, Landscape):
        arrays["kind"] = "landscape"
        arrays.update(_grid_arrays("grid_", result.grid))
        for name in ("attractors", "saddles", "saddle_links", "basins", "direct_costs", "costs", "exit_costs",
                     "exit_points", "exit_on_edge", "W", "global_values", "values", "origin"):
            arrays[f"land_{name}"] = getattr(result, name)
        arrays["land_selected"] = result.selected
        arrays["land_info"] = jsonable(result.info)
        arrays["land_k"] = len(result.local)
        for i, qp in enumerate(result.local):
            arrays.update(_qp_arrays(f"local{i}_", qp))
    elif isinstance(result, tuple(_MC.values())):
        kind = next(k for k, v in _MC.items() if isinstance(result, v))
        arrays["kind"] = kind
        for f in dataclass_fields(result):
            if f.name == "metadata":
                continue
            v = getattr(result, f.name)
            if isinstance(v, Grid):
                arrays.update(_grid_arrays(f"mc_{f.name}_", v))
                arrays[f"mc_{f.name}"] = "grid"
            elif v is None:
                arrays[f"mc_{f.name}"] = "none"
            else:
                arrays[f"mc_{f.name}"] = v
    else:
        raise TypeError(f"cannot save a {type(result).__name__}: QuasiPotential, Landscape, Paths, Exits "
                        "or LongRun")
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load(path, sde: Optional[SDE] = None):
    """Read a result written by :func:`save`. ``sde`` attaches the SDE a
    quasi-potential or a landscape was computed for (it is not saved: it is
    code), which its minimum action paths need."""
    if sde is not None and not isinstance(sde, SDE):
        raise TypeError(f"sde must be an hjqp.SDE, got {type(sde).__name__}")
    with np.load(path, allow_pickle=False) as data:
        if "kind" not in data.files or "format" not in data.files:
            raise ValueError(f"{path} is not an hjqp result file")
        if int(data["format"]) > _FORMAT:
            raise ValueError(f"{path} was written by a newer hjqp (format {int(data['format'])})")
        kind = str(data["kind"])
        metadata = json.loads(str(data["metadata"]))
        if kind == "quasipotential":
            return _qp(data, "qp_", _grid(data), sde, metadata)
        if kind == "landscape":
            grid = _grid(data)
            g = lambda name: data[f"land_{name}"]  # noqa: E731
            local = tuple(_qp(data, f"local{i}_", grid, sde, {}) for i in range(int(g("k"))))
            return Landscape(grid, sde, g("attractors"), g("saddles"), g("saddle_links"), g("basins"), local,
                             g("direct_costs"), g("costs"), g("exit_costs"), g("exit_points"), g("exit_on_edge"),
                             g("W"), g("global_values"), int(g("selected")), g("values"), g("origin"),
                             json.loads(str(g("info"))), metadata)
        if kind in _MC:
            cls = _MC[kind]
            values = {}
            for f in dataclass_fields(cls):
                if f.name == "metadata":
                    continue
                v = data[f"mc_{f.name}"]
                if v.dtype.kind == "U" and str(v) == "grid":
                    values[f.name] = _grid(data, f"mc_{f.name}_")
                elif v.dtype.kind == "U" and str(v) == "none":
                    values[f.name] = None
                elif v.ndim == 0:
                    values[f.name] = v.item()
                else:
                    values[f.name] = v
            return cls(**values, metadata=metadata)
        raise ValueError(f"{path}: unknown result kind {kind!r}")
