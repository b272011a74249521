"""Drift and diffusion of an SDE bound to a grid: sampled at the nodes
(checked, the first bad node named) and evaluated anywhere in the box."""

from __future__ import annotations

import itertools
from typing import Callable, Optional, Tuple

import numpy as np

from .. import _core
from ..grid import Grid

__all__ = ["Fields", "check_spd", "spd_mask", "SPD_TOLERANCE", "SYMMETRY_TOLERANCE"]

ArrayFunction = Callable[[np.ndarray], np.ndarray]

# The kernel's tolerances: one test of symmetric positive definiteness.
SPD_TOLERANCE = float(_core.SPD_TOLERANCE)
SYMMETRY_TOLERANCE = float(_core.SYMMETRY_TOLERANCE)

# Points per call when a callable is sampled on a large grid.
_CHUNK = 1 << 16


class Fields:
    """Drift and diffusion of an SDE on a grid: sampled at the nodes and
    evaluable at any point of the box.

    Arrays sampled on the grid are evaluated between nodes by cubic
    interpolation (the diffusion by multilinear interpolation where the cubic
    one is not positive definite); callables are called directly.

    ``between_nodes=True`` marks a grid of the solver's own (refined around
    an attractor, sampling the caller's fields between their nodes): errors
    then name the point, not a node of that grid.

    With ``supersample = s > 1`` callables are sampled at each node as the
    mean over s^d points evenly spread over the node's cell (the box of
    side h centred on it). For a drift or diffusion that jumps across an
    interface, point samples put the jump anywhere within a cell and the
    action across it errs by O(h) with a constant of several h; cell means
    place it where it is. For smooth fields they add an O(h^2) error: keep
    s = 1 there.
    """

    def __init__(self, sde, grid: Grid, supersample: int = 1, *, between_nodes: bool = False):
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
        d = grid.ndim
        if sde.dim is not None and sde.dim != d:
            raise ValueError(f"the SDE is {sde.dim}-dimensional but the grid is {d}-dimensional")
        if not (isinstance(supersample, (int, np.integer)) and 1 <= supersample <= 16):
            raise ValueError(f"supersample must be an integer in [1, 16], got {supersample!r}")
        self.sde = sde
        self.grid = grid
        self.ndim = d
        self.supersample = int(supersample)
        # A grid of the solver's own (refined around an attractor): its nodes
        # mean nothing to the caller, so errors name points.
        self.between_nodes = bool(between_nodes)
        if isinstance(sde.drift, np.ndarray) and sde.drift.shape[:-1] != grid.shape:
            raise ValueError(
                f"the drift array has shape {sde.drift.shape}; on this grid it must be "
                f"{grid.shape + (d,)}"
            )
        dm = sde.diffusion
        if isinstance(dm, np.ndarray) and dm.ndim >= 4 and dm.shape[:-2] != grid.shape:
            raise ValueError(
                f"the diffusion array has shape {dm.shape}; on this grid it must be "
                f"{grid.shape + (d, d)}"
            )
        self._sampled: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self._drift: Optional[np.ndarray] = None
        self._interpolators: dict = {}

    # -- values at arbitrary points -------------------------------------------------
    def drift(self, points: np.ndarray) -> np.ndarray:
        """``b`` at points of shape ``(..., d)``; returns ``(..., d)``."""
        p = self._points(points)
        b = self.sde.drift
        if callable(b):
            out = _call(b, p, "drift")
            if out.shape != p.shape:
                raise ValueError(
                    f"the drift callable returned shape {out.shape} for points of shape "
                    f"{p.shape}; expected {p.shape}"
                )
            return out
        return self._interpolate("drift", b, p)

    def diffusion(self, points: np.ndarray) -> np.ndarray:
        """``D`` at points of shape ``(..., d)``; returns ``(..., d, d)``."""
        p = self._points(points)
        d = self.ndim
        dm = self.sde.diffusion
        lead = p.shape[:-1]
        if callable(dm):
            out = _call(dm, p, "diffusion")
            if out.shape == lead:
                return out[..., None, None] * np.eye(d)
            if out.shape != lead + (d, d):
                raise ValueError(
                    f"the diffusion callable returned shape {out.shape} for points of shape "
                    f"{p.shape}; expected {lead + (d, d)} (or {lead} for D = c(x) I)"
                )
            return out
        if dm.ndim == 0:
            return np.broadcast_to(float(dm) * np.eye(d), lead + (d, d)).copy()
        if dm.ndim == 2:
            if dm.shape != (d, d):
                raise ValueError(f"the diffusion matrix is {dm.shape} but the grid is {d}D")
            return np.broadcast_to(dm, lead + (d, d)).copy()
        return self._interpolate("diffusion", dm, p)

    # -- values on the grid ---------------------------------------------------------
    def sample(self) -> Tuple[np.ndarray, np.ndarray]:
        """Drift ``(*shape, d)`` and diffusion ``(*shape, d, d)`` at the nodes,
        checked: finite, D symmetric positive definite. The first offending
        node is named in the ValueError otherwise."""
        if self._sampled is None:
            b = self._sample_one("drift")
            dm = self._sample_one("diffusion")
            describe = self.describe_node
            bad = ~np.all(np.isfinite(b), axis=-1)
            if bad.any():
                raise ValueError(f"drift is not finite at {describe(np.flatnonzero(bad)[0])}")
            constant = not callable(self.sde.diffusion) and self.sde.diffusion.ndim <= 2
            if not constant:  # a constant D was checked when the SDE was made
                bad = ~np.all(np.isfinite(dm), axis=(-2, -1))
                if bad.any():
                    raise ValueError(f"diffusion is not finite at {describe(np.flatnonzero(bad)[0])}")
                check_spd(dm.reshape(-1, self.ndim, self.ndim), describe)
            self._sampled = (b, dm)
        return self._sampled

    def kernel_arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        """Drift ``(*shape, d)`` and the diffusion as the kernel takes it: a
        ``(d, d)`` matrix when D is constant (no per-node copy), else
        ``(*shape, d, d)``. Checked as in :meth:`sample`."""
        dm = self.sde.diffusion
        if not callable(dm) and dm.ndim <= 2:
            d = self.ndim
            matrix = float(dm) * np.eye(d) if dm.ndim == 0 else np.ascontiguousarray(dm, dtype=float)
            if matrix.shape != (d, d):
                raise ValueError(f"the diffusion matrix is {matrix.shape} but the grid is {d}D")
            return self.sampled_drift(), matrix
        return self.sample()

    def sampled_drift(self) -> np.ndarray:
        """The drift ``(*shape, d)`` at the nodes, checked finite (the first
        bad node named in the ValueError)."""
        if self._drift is None:
            b = self._sample_one("drift")
            bad = ~np.all(np.isfinite(b), axis=-1)
            if bad.any():
                raise ValueError(f"drift is not finite at {self.describe_node(np.flatnonzero(bad)[0])}")
            self._drift = b
        return self._drift

    def describe_node(self, flat_index: int) -> str:
        """'grid node [i, j] (x = (..))' for a flat node index; 'the point
        x = (..) ...' on a grid of the solver's own (``between_nodes``)."""
        idx = np.unravel_index(int(flat_index), self.grid.shape)
        x = [l + h * i for l, h, i in zip(self.grid.lower, self.grid.spacing, idx)]
        where = f"x = ({', '.join(f'{v:.6g}' for v in x)})"
        if self.between_nodes:
            return f"the point {where} (sampled on a grid refined around the attractor)"
        return f"grid node [{', '.join(str(int(i)) for i in idx)}] ({where})"

    # -- helpers ----------------------------------------------------------------------
    def _points(self, points) -> np.ndarray:
        p = np.asarray(points, dtype=float)
        if p.ndim == 0 or p.shape[-1] != self.ndim:
            raise ValueError(f"points must have shape (..., {self.ndim}), got {p.shape}")
        return p

    def _sample_one(self, name: str) -> np.ndarray:
        grid, d = self.grid, self.ndim
        value = getattr(self.sde, name)
        tail = (d,) if name == "drift" else (d, d)
        if isinstance(value, np.ndarray) and value.ndim == d + len(tail):
            return np.ascontiguousarray(value, dtype=float)
        out = np.empty(grid.shape + tail)
        axes = grid.axes
        # Slabs along the first axis, so that large grids are sampled in
        # bounded memory; values do not depend on the slab size.
        rows = max(1, _CHUNK // max(1, grid.size // grid.shape[0]))
        evaluate = self.drift if name == "drift" else self.diffusion
        s = self.supersample if callable(value) else 1
        offsets = (np.arange(s) + 0.5) / s - 0.5
        shifts = [np.array(o) * np.asarray(grid.spacing) for o in itertools.product(offsets, repeat=d)]
        for start in range(0, grid.shape[0], rows):
            stop = min(grid.shape[0], start + rows)
            mesh = np.stack(np.meshgrid(axes[0][start:stop], *axes[1:], indexing="ij"), axis=-1)
            total = evaluate(mesh + shifts[0])
            for shift in shifts[1:]:
                total = total + evaluate(mesh + shift)
            out[start:stop] = total / len(shifts)
        return out

    def _interpolate(self, name: str, values: np.ndarray, p: np.ndarray) -> np.ndarray:
        inside = self.grid.contains(p)
        if not np.all(inside):
            bad = p[~inside][0]
            raise ValueError(
                f"{name} was given as an array on the grid and cannot be evaluated outside "
                f"the box: point {tuple(float(v) for v in bad)}"
            )
        method = "cubic" if min(self.grid.shape) >= 4 else "linear"
        lo, hi = np.asarray(self.grid.lower), np.asarray(self.grid.upper)
        q = np.clip(p, lo, hi).reshape(-1, self.ndim)
        out = self._interpolator(name, values, method)(q)
        if name == "diffusion" and method == "cubic":
            # The cubic overshoots where D varies strongly from node to node
            # and can lose definiteness between SPD nodes (a checkerboard of
            # correlations +-0.9 does). Multilinear interpolation there: a
            # convex combination of SPD matrices is SPD.
            bad = ~spd_mask(out)
            if bad.any():
                out[bad] = self._interpolator(name, values, "linear")(q[bad])
        return out.reshape(p.shape[:-1] + values.shape[self.ndim:])

    def _interpolator(self, name: str, values: np.ndarray, method: str):
        from scipy.interpolate import RegularGridInterpolator

        interp = self._interpolators.get((name, method))
        if interp is None:
            interp = RegularGridInterpolator(self.grid.axes, values, method=method)
            self._interpolators[(name, method)] = interp
        return interp


def _call(fn: ArrayFunction, p: np.ndarray, name: str) -> np.ndarray:
    try:
        out = fn(p)
    except Exception as exc:  # re-raised with the argument named
        raise type(exc)(f"the {name} callable failed on points of shape {p.shape}: {exc}") from exc
    try:
        return np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"the {name} callable returned {type(out).__name__}, not numbers") from None


def check_spd(matrices: np.ndarray, describe: Callable[[int], str], name: str = "diffusion") -> None:
    """Raise ValueError naming the first matrix of (n, d, d) that is not
    symmetric positive definite, with the kernel's tolerances
    (``_core.SYMMETRY_TOLERANCE``, ``_core.SPD_TOLERANCE``): the same test
    as the kernel's, made first so that the error can give the eigenvalues."""
    m = matrices
    d = m.shape[-1]
    bad = np.zeros(len(m), dtype=bool)
    for i in range(d):
        for j in range(i + 1, d):
            tol = SYMMETRY_TOLERANCE * (np.abs(m[:, i, i]) + np.abs(m[:, j, j]))
            bad |= np.abs(m[:, i, j] - m[:, j, i]) > tol
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} is not symmetric at {describe(i)}: {m[i].tolist()}")
    ok = spd_mask(m)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        eig = np.linalg.eigvalsh(0.5 * (m[i] + m[i].T))
        raise ValueError(
            f"{name} is not positive definite at {describe(i)}: eigenvalues {eig.tolist()}"
        )


def spd_mask(matrices: np.ndarray) -> np.ndarray:
    """Which of the (..., d, d) matrices (d = 2, 3) pass the kernel's test of
    positive definiteness: Sylvester's criterion on the leading minors,
    scaled to be dimensionless (``SPD_TOLERANCE``). Shape ``(...)``."""
    m = matrices
    d = m.shape[-1]
    diag = np.diagonal(m, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.all(diag > 0, axis=-1)
        minor2 = m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]
        ok &= minor2 > SPD_TOLERANCE * diag[..., 0] * diag[..., 1]
        if d == 3:
            minor3 = (
                m[..., 0, 0] * (m[..., 1, 1] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 1])
                - m[..., 0, 1] * (m[..., 1, 0] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 0])
                + m[..., 0, 2] * (m[..., 1, 0] * m[..., 2, 1] - m[..., 1, 1] * m[..., 2, 0])
            )
            ok &= minor3 > SPD_TOLERANCE * np.prod(diag, axis=-1)
    return ok
