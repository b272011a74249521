"""Save and load results (.npz) with their grid and metadata.

``hjqp.io.save(path, result, **metadata)`` writes a QuasiPotential, a
Landscape, Paths, Exits or a LongRun; ``hjqp.io.load(path)`` returns the same
kind of object (``.metadata`` holds what was passed to save). The SDE is not
saved (it is code): ``hjqp.io.load(path, sde=...)`` attaches it again, and a
result loaded without it says so where it is needed (minimum action paths).
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
import zlib
from dataclasses import fields as dataclass_fields
from typing import Any, Dict, Optional

import numpy as np

from .. import _memory
from .._version import __version__
from ..grid import Grid
from ..landscape import Landscape
from ..problem import Hamiltonian, LimitCycle
from ..solve import CycleExpansion, LocalExpansion, QuasiPotential, UpdateRule
from ..stochastic import Exits, LongRun, Paths

__all__ = ["save", "load", "jsonable"]

_FORMAT = 1


def _grid_arrays(prefix: str, grid: Grid) -> Dict[str, np.ndarray]:
    return {f"{prefix}lower": np.asarray(grid.lower), f"{prefix}upper": np.asarray(grid.upper),
            f"{prefix}shape": np.asarray(grid.shape)}


def _grid(data, prefix: str = "grid_") -> Grid:
    shape = np.asarray(data[f"{prefix}shape"])
    if shape.ndim != 1 or shape.dtype.kind not in "iu":
        raise ValueError(f"{prefix}shape must be a sequence of integers, got {shape.dtype} of shape {shape.shape}")
    return Grid(data[f"{prefix}lower"], data[f"{prefix}upper"], tuple(int(n) for n in shape))


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
    if qp.cycle is not None:
        c = qp.cycle
        return {
            f"{prefix}values": qp.values, f"{prefix}grad": qp.grad, f"{prefix}attractor": qp.attractor,
            f"{prefix}rules": qp.rules, f"{prefix}info": jsonable(qp.info),
            f"{prefix}c_curve": c.curve, f"{prefix}c_velocity": c.velocity, f"{prefix}c_period": c.period,
            f"{prefix}c_multipliers": c.multipliers, f"{prefix}c_hessians": e.hessians,
            f"{prefix}c_method": e.method,
        }
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
    """A quasi-potential's arrays, checked against its grid before the
    result is made of them."""
    g = lambda name: data[f"{prefix}{name}"]  # noqa: E731
    shape, d = grid.shape, grid.ndim
    _shape(g("values"), shape, f"{prefix}values")
    _not_nan(g("values"), f"{prefix}values")
    _shape(g("grad"), shape + (d,), f"{prefix}grad")
    _shape(g("attractor"), (d,), f"{prefix}attractor")
    _labels(g("rules"), shape, 0, len(UpdateRule), f"{prefix}rules")
    if f"{prefix}c_curve" in data:
        cycle = LimitCycle(g("c_curve"), g("c_velocity"), float(g("c_period")), g("c_multipliers"))
        _shape(cycle.curve, (len(cycle.curve), grid.ndim), f"{prefix}c_curve")
        _shape(cycle.velocity, cycle.curve.shape, f"{prefix}c_velocity")
        _shape(g("c_hessians"), cycle.curve.shape + (grid.ndim,), f"{prefix}c_hessians")
        for what in ("grad", "attractor", "c_curve", "c_velocity", "c_hessians"):
            _finite(g(what), f"{prefix}{what}")
        expansion = CycleExpansion(cycle, g("c_hessians"), str(g("c_method")))
        return QuasiPotential(g("values"), g("grad"), g("attractor"), grid, g("rules"), expansion,
                              _json(g("info"), f"{prefix}info"), sde, metadata, cycle=cycle)
    for what in ("jacobian", "diffusion", "covariance", "hessian"):
        _shape(g(f"e_{what}"), (d, d), f"{prefix}e_{what}")
    _shape(g("e_center"), (d,), f"{prefix}e_center")
    exponents = np.asarray(g("e_exponents"))
    if exponents.ndim != 2 or exponents.shape[1] != d or exponents.dtype.kind not in "iu" or (
            exponents.size and exponents.min() < 0):
        raise ValueError(f"{prefix}e_exponents must be non-negative integers of shape (m, {d})")
    _shape(g("e_cubic"), (len(exponents),), f"{prefix}e_cubic")
    for what in ("grad", "attractor", "e_center", "e_jacobian", "e_diffusion", "e_covariance", "e_hessian",
                 "e_cubic"):
        _finite(g(what), f"{prefix}{what}")
    expansion = LocalExpansion(g("e_center"), g("e_jacobian"), g("e_diffusion"), g("e_covariance"),
                               g("e_hessian"), tuple(tuple(int(v) for v in row) for row in exponents),
                               g("e_cubic"))
    return QuasiPotential(g("values"), g("grad"), g("attractor"), grid, g("rules"), expansion,
                          _json(g("info"), f"{prefix}info"), sde, metadata)


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


def load(path, sde: Optional[Hamiltonian] = None):
    """Read a result written by :func:`save`. ``sde`` attaches the SDE (or
    the JumpHamiltonian, or the ReactionNetwork) a quasi-potential or a
    landscape was computed for (it is not saved: it is code), which its
    minimum action paths need; without it they raise an error saying so.

    The file is checked before its arrays are read: a file that is not an
    hjqp result (empty, a single .npy array, not a zip archive, damaged or
    truncated), or whose arrays would need more memory than is available,
    raises ValueError (MemoryError) naming it. Once read, every array must
    have the shape its grid and the other arrays give it, and every index
    (basin and origin labels, saddle links, update rules, the selected
    attractor, the cores of a long run) must lie in its range.
    """
    if sde is not None and not isinstance(sde, Hamiltonian):
        raise TypeError(f"sde must be an hjqp.SDE, JumpHamiltonian or ReactionNetwork, got {type(sde).__name__}")
    source = io.BytesIO(path.read()) if hasattr(path, "read") else path
    # The path as given (a pathlib path's .name is only its last part).
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else getattr(path, "name", "the file")
    declared = _check_archive(source, name)
    try:
        with np.load(source, allow_pickle=False) as data:
            return _read(data, name, sde, declared)
    except KeyError as err:
        array = str(err.args[0]).split(" is not a file")[0] if err.args else "?"
        raise ValueError(f"{name} is not a complete hjqp result file: the array {array!r} is missing") from None
    except _DAMAGED as err:
        raise ValueError(f"{name} is damaged or truncated: {err}") from None
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


# What zipfile and zlib raise for a damaged archive: a changed byte can also
# mark a member encrypted (RuntimeError) or give it an unknown compression
# method (NotImplementedError).
_DAMAGED = (zipfile.BadZipFile, EOFError, zlib.error, RuntimeError, NotImplementedError)


def _check_archive(source, name) -> dict:
    """The shapes its headers declare for the arrays of ``source``, checked
    before any array is read: ValueError unless it is a zip archive of .npy
    arrays of numeric or text types, each holding the data its header
    declares; MemoryError if they need more memory than is available."""
    if isinstance(source, io.BytesIO):
        head = source.getvalue()[:6]
    else:
        with open(source, "rb") as fh:
            head = fh.read(6)
    if not head:
        raise ValueError(f"{name} is empty, not an hjqp result file")
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(f"{name} holds a single numpy array (.npy), not an hjqp result file (.npz, from hjqp.io.save)")
    if not head.startswith(b"PK"):
        raise ValueError(f"{name} is not an hjqp result file (.npz, from hjqp.io.save)")
    total = 0
    declared = {}
    try:
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"{name} is not an hjqp result file: it holds {info.filename!r}")
                with archive.open(info) as fh:
                    shape, dtype = _array_header(fh)
                array = info.filename[:-4]
                if dtype.hasobject or dtype.kind not in "biufU":
                    raise ValueError(f"{name}: the array {array!r} has type {dtype}, which no hjqp result holds")
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > info.file_size:
                    raise ValueError(f"{name} is damaged: the array {array!r} declares shape {shape} ({nbytes} "
                                     f"bytes) but holds {info.file_size} bytes")
                declared[array] = shape
                total += nbytes
    except _DAMAGED + (OSError,) as err:
        raise ValueError(f"{name} is damaged or truncated: {err}") from None
    finally:
        if isinstance(source, io.BytesIO):
            source.seek(0)
    _memory.require(total, f"loading {name}")
    return declared


def _array_header(fh):
    """Shape and dtype from the header of a .npy member."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy format {version}")
    return shape, dtype


def _check_declared(declared: dict, grid: Grid) -> None:
    """No array of a quasi-potential or a landscape holds more than d
    numbers per node of its grid (its gradient): checked on the declared
    shapes, before the arrays are read."""
    limit = grid.size * grid.ndim
    for array, shape in declared.items():
        if math.prod(shape) > limit:
            raise ValueError(f"the array {array!r} declares shape {shape}, larger than any array on the grid "
                             f"{grid.shape} of this result")


def _read(data, name, sde, declared):
    if "kind" not in data.files or "format" not in data.files:
        raise ValueError("not an hjqp result file (no kind or format)")
    if _count(data["format"], "format") > _FORMAT:
        raise ValueError(f"written by a newer hjqp (format {int(data['format'])})")
    kind = str(data["kind"])
    metadata = _json(data["metadata"], "metadata")
    if kind == "quasipotential":
        grid = _grid(data)
        _check_declared(declared, grid)
        return _qp(data, "qp_", grid, sde, metadata)
    if kind == "landscape":
        grid = _grid(data)
        _check_declared(declared, grid)
        g = lambda name: data[f"land_{name}"]  # noqa: E731
        local = tuple(_qp(data, f"local{i}_", grid, sde, {}) for i in range(_count(g("k"), "land_k")))
        land = Landscape(grid, sde, g("attractors"), g("saddles"), g("saddle_links"), g("basins"), local,
                         g("direct_costs"), g("costs"), g("exit_costs"), g("exit_points"), g("exit_on_edge"),
                         g("W"), g("global_values"), _count(g("selected"), "land_selected"), g("values"),
                         g("origin"), _json(g("info"), "land_info"), metadata,
                         tuple(qp.cycle for qp in local) if any(qp.cycle is not None for qp in local) else ())
        _check_landscape(land)
        return land
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
            elif f.type in _SCALARS:
                values[f.name] = _scalar(v, f.type, f"mc_{f.name}")
            else:
                values[f.name] = v
        result = cls(**values, metadata=metadata)
        _check_montecarlo(kind, result)
        return result
    raise ValueError(f"unknown result kind {kind!r}")


# -- checks of what was read ------------------------------------------------------------

def _json(value, what: str):
    try:
        return json.loads(str(value))
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} is not valid JSON: {err}") from None
    except RecursionError:
        raise ValueError(f"{what} is JSON nested too deeply to read") from None


# The scalar fields of the Monte Carlo results, by their annotation: the
# kinds of array that hold them.
_SCALARS = {"float": "fiu", "int": "iu", "str": "U", "bool": "b"}


def _scalar(value, annotation: str, what: str):
    v = np.asarray(value)
    if v.ndim != 0 or v.dtype.kind not in _SCALARS[annotation]:
        raise ValueError(f"{what} must be a single {annotation}, got {v.dtype} of shape {v.shape}")
    return {"float": float, "int": int, "str": str, "bool": bool}[annotation](v.item())


def _finite(array, what: str) -> None:
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} holds values that are not finite")


def _not_nan(array, what: str) -> None:
    if np.any(np.isnan(array)):
        raise ValueError(f"{what} holds NaN")


def _count(value, what: str) -> int:
    v = np.asarray(value)
    if v.ndim != 0 or v.dtype.kind not in "iu" or int(v) < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {v!r}")
    return int(v)


def _shape(array, shape, what: str, kinds: str = "f") -> None:
    a = np.asarray(array)
    if a.shape != tuple(shape):
        raise ValueError(f"{what} has shape {a.shape}, but the result needs {tuple(shape)}")
    if a.dtype.kind not in kinds:
        raise ValueError(f"{what} has type {a.dtype}")


def _labels(array, shape, low: int, high: int, what: str) -> None:
    """An integer array of the given shape with every entry in [low, high)."""
    _shape(array, shape, what, "iu")
    a = np.asarray(array)
    if a.size and (int(a.min()) < low or int(a.max()) >= high):
        bad = np.flatnonzero((a.reshape(-1) < low) | (a.reshape(-1) >= high))[0]
        where = tuple(int(i) for i in np.unravel_index(bad, a.shape))
        raise ValueError(f"{what} holds {int(a.reshape(-1)[bad])} at {where}, outside "
                         f"[{low}, {high})")


def _check_landscape(land: Landscape) -> None:
    shape, d, k = land.grid.shape, land.grid.ndim, len(land.local)
    _shape(land.attractors, (k, d), "land_attractors")
    _finite(land.attractors, "land_attractors")
    m = len(np.asarray(land.saddles))
    _shape(land.saddles, (m, d), "land_saddles")
    _finite(land.saddles, "land_saddles")
    _labels(land.saddle_links, (m, 2), -1, k, "land_saddle_links")
    _labels(land.basins, shape, -1, k, "land_basins")
    _labels(land.origin, shape, -1, k, "land_origin")
    for what in ("direct_costs", "costs"):
        _shape(getattr(land, what), (k, k), f"land_{what}")
    for what in ("exit_costs", "W", "global_values"):
        _shape(getattr(land, what), (k,), f"land_{what}")
    _shape(land.exit_points, (k, d), "land_exit_points")
    _shape(land.exit_on_edge, (k,), "land_exit_on_edge", "b")
    _shape(land.values, shape, "land_values")
    for what in ("direct_costs", "costs", "exit_costs", "W", "global_values", "values"):
        _not_nan(getattr(land, what), f"land_{what}")
    if not 0 <= land.selected < k:
        raise ValueError(f"land_selected is {land.selected}, but there are {k} attractors")


def _check_montecarlo(kind: str, r) -> None:
    for what in ("eps", "dt"):
        if not (math.isfinite(getattr(r, what)) and getattr(r, what) > 0):
            raise ValueError(f"mc_{what} must be positive and finite, got {getattr(r, what)}")
    if kind == "paths":
        if np.ndim(r.paths) != 3 or np.shape(r.paths)[-1] not in (2, 3):
            raise ValueError(f"mc_paths has shape {np.shape(r.paths)}, not (n_paths, n_times, 2 or 3)")
        _shape(r.times, (np.shape(r.paths)[1],), "mc_times")
    elif kind == "exits":
        n = len(np.atleast_1d(r.times))
        _shape(r.times, (n,), "mc_times")
        d = np.shape(r.positions)[-1] if np.ndim(r.positions) == 2 else 0
        if d not in (2, 3):
            raise ValueError(f"mc_positions has shape {np.shape(r.positions)}, not (n_paths, 2 or 3)")
        _shape(r.positions, (n, d), "mc_positions")
        _shape(r.censored, (n,), "mc_censored", "b")
    else:
        k = len(np.atleast_2d(r.attractors))
        d = np.shape(r.attractors)[-1] if np.ndim(r.attractors) == 2 else 0
        if d not in (2, 3):
            raise ValueError(f"mc_attractors has shape {np.shape(r.attractors)}, not (k, 2 or 3)")
        _finite(r.attractors, "mc_attractors")
        _shape(r.radii, (k,), "mc_radii")
        if not np.all(np.isfinite(r.radii) & (r.radii > 0)):
            raise ValueError("mc_radii must be positive and finite")
        n = len(np.atleast_2d(r.milestone_steps))
        _shape(r.milestone_steps, (n, k + 1), "mc_milestone_steps", "iu")
        _shape(r.transitions, (n, k, k), "mc_transitions", "iu")
        _shape(r.ends, (n, d), "mc_ends")
        _labels(r.cores, (n,), -1, k, "mc_cores")
        if r.basin_steps is not None:
            labels = np.shape(r.basin_steps)[-1] if np.ndim(r.basin_steps) == 2 else 0
            _shape(r.basin_steps, (n, labels), "mc_basin_steps", "iu")
        if r.histogram is not None:
            if r.grid is None:
                raise ValueError("mc_histogram needs its grid, which is missing")
            _shape(r.histogram, r.grid.shape, "mc_histogram", "iu")
