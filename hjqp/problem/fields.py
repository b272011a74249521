"""Drift and diffusion of an SDE bound to a grid: sampled at the nodes
(checked, the first bad node named) and evaluated anywhere in the box."""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Tuple

import numpy as np

from .. import _core, _interrupt, _validate
from ..grid import Grid

__all__ = ["ACTION_SCALE_FLOOR", "ACTION_SCALE_LIMIT", "AUTO_SUPERSAMPLE", "JUMP_FLOOR", "JUMP_RATIO", "JUMP_REACH",
           "SPD_TOLERANCE", "SYMMETRY_TOLERANCE", "Fields", "JumpFields", "call_field", "check_action_scale", "check_invertible",
           "check_spd", "describe_node", "describe_point", "jump_nodes", "jump_support", "kernel_inverse", "pack",
           "rewrap", "spd_mask", "unpack"]

ArrayFunction = Callable[[np.ndarray], np.ndarray]

# The kernel's tolerances: one test of symmetric positive definiteness.
SPD_TOLERANCE = float(_core.SPD_TOLERANCE)
SYMMETRY_TOLERANCE = float(_core.SYMMETRY_TOLERANCE)

# Points per call when a callable is sampled on a large grid.
_CHUNK = 1 << 16

#: Largest square the march forms at a node: |b|^2, the action's scale
#: b^T D^{-1} b and |D^{-1} b|^2 (about |grad U|^2). Its products with
#: squared cell lengths and traced distances stay finite below this
#: (measured: b = -s x, D = I on [-1, 1]^d reaches b^T b = 3e306 at s = 1e153
#: with relative errors 1e-8 in 2D and 3e-7 in 3D, as at s = 1; at
#: s = 1e154 nodes come out +inf).
ACTION_SCALE_LIMIT = 1e300

#: What to do about fields out of double precision's range, for an SDE:
#: D cannot be inverted; |b|^2, b^T D^-1 b or |D^-1 b|^2 overflow; they
#: underflow.
SDE_SCALE_ADVICE = (
    "multiply b and D by a common factor to bring D near 1 (U does not change)",
    ("multiplying b and D by a common factor scales the first two (U does not change), changing the units of x "
     "scales the last"),
    ("multiply b and D by a common factor k (U does not change; the first two grow as k^2 and k), or b alone by k "
     "(U and the last grow as k and k^2)"),
)


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

    ``supersample=None`` chooses by itself: callables are sampled at the
    nodes, the nodes next to a jump are found (:func:`jump_nodes`) and only
    there the samples are replaced by cell means of
    ``AUTO_SUPERSAMPLE[d]``^d points. Smooth fields have no such nodes and
    keep their point samples exactly; :attr:`supersampled` says how many
    nodes of each field were resampled.

    Callables are sampled in slabs of about 65536 nodes, on ``threads``
    threads (default: the CPU count, at most 8) where the grid has several
    slabs: numpy releases the GIL in its array operations, so vectorised
    callables sample up to that many times faster. They must then be safe to
    call from several threads at once (as for the solves of a landscape);
    ``threads=1`` calls them on the calling thread only. The samples are
    the same whatever the thread count.
    """

    #: What to do about fields beyond double precision (see SDE_SCALE_ADVICE).
    SCALE_ADVICE = SDE_SCALE_ADVICE

    def __init__(self, sde, grid: Grid, supersample: Optional[int] = 1, *, between_nodes: bool = False,
                 threads: Optional[int] = None):
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an hjqp.Grid, got {type(grid).__name__}")
        d = grid.ndim
        if sde.dim is not None and sde.dim != d:
            raise ValueError(f"the SDE is {sde.dim}-dimensional but the grid is {d}-dimensional")
        if supersample is not None and not (
                isinstance(supersample, (int, np.integer)) and not isinstance(supersample, bool)
                and 1 <= supersample <= 16):
            raise ValueError(f"supersample must be an integer in [1, 16] or None (automatic), got {supersample!r}")
        self.sde = sde
        self.grid = grid
        self.ndim = d
        self.supersample = None if supersample is None else int(supersample)
        self.threads = _validate.threads(threads)
        #: Nodes sampled as cell means, by field name ("drift", "diffusion",
        #: "weights", "jumps"): every node with an explicit supersample > 1,
        #: those next to a jump with supersample=None (filled as the fields
        #: are sampled).
        self.supersampled: dict = {}
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
        self._packed: Optional[np.ndarray] = None
        self._scale_checked = False  # kernel_arrays' checks passed (the arrays are cached)
        self._clear = False  # the kernel's scan found every node clear of the checks (_scan)
        self._interpolators: dict = {}

    # -- values at arbitrary points -------------------------------------------------
    def drift(self, points: np.ndarray) -> np.ndarray:
        """``b`` at points of shape ``(..., d)``; returns ``(..., d)``."""
        p = self._points(points)
        b = self.sde.drift
        if callable(b):
            out = call_field(b, p, "drift")
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
            out = call_field(dm, p, "diffusion")
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

    # -- the Hamiltonian ------------------------------------------------------------

    def hamiltonian(self, points: np.ndarray, momenta: np.ndarray) -> np.ndarray:
        """``H(x, p) = 1/2 p^T D p + b . p`` at points and momenta ``(..., d)``;
        returns ``(...)``."""
        dm = self.diffusion(points)
        b = self.drift(points)
        return 0.5 * np.einsum("...i,...ij,...j->...", momenta, dm, momenta) + np.sum(b * momenta, axis=-1)

    def velocity(self, points: np.ndarray, momenta: np.ndarray) -> np.ndarray:
        """``H_p(x, p) = b + D p``: the velocity of the characteristic with
        momentum p; ``(..., d)``."""
        return self.drift(points) + np.einsum("...ij,...j->...i", self.diffusion(points), momenta)

    def action(self, points: np.ndarray, velocities: np.ndarray) -> np.ndarray:
        """The geometric action's integrand ``|v|_A |b|_A - <v, b>_A``
        (A = D^{-1}) at points and velocities ``(..., d)``; returns ``(...)``."""
        A = np.linalg.inv(self.diffusion(points))
        b = self.drift(points)
        v = np.asarray(velocities, dtype=float)
        vav = np.einsum("...i,...ij,...j->...", v, A, v)
        bab = np.einsum("...i,...ij,...j->...", b, A, b)
        vab = np.einsum("...i,...ij,...j->...", v, A, b)
        return np.sqrt(np.maximum(vav * bab, 0.0)) - vab

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
        :meth:`kernel_diffusion` (packed, or the caller's exactly symmetric
        array). Checked as in :meth:`sample`, and for the march:
        A = D^{-1} representable, |b|^2, b^T A b and |A b|^2 at most
        :data:`ACTION_SCALE_LIMIT` at every node (ValueError naming the first
        node otherwise) and each at least :data:`ACTION_SCALE_FLOOR` at some
        node."""
        dm = self.sde.diffusion
        if not callable(dm) and dm.ndim <= 2:
            d = self.ndim
            matrix = float(dm) * np.eye(d) if dm.ndim == 0 else np.ascontiguousarray(dm, dtype=float)
            if matrix.shape != (d, d):
                raise ValueError(f"the diffusion matrix is {matrix.shape} but the grid is {d}D")
            b = self.sampled_drift()
        else:
            b, matrix = self.kernel_diffusion()
        if not self._scale_checked:  # (a solve asks twice: to check first, then to march)
            if not self._clear:
                self._check_action_scale(b, matrix)
            self._scale_checked = True
        return b, matrix

    def kernel_diffusion(self) -> Tuple[np.ndarray, np.ndarray]:
        """Drift ``(*shape, d)`` and a position-dependent diffusion at the
        nodes as the kernel reads it, checked as in :meth:`sample` (the first
        offending node named): the caller's ``(*shape, d, d)`` array where it
        is exactly symmetric (no copy), else D packed, ``(*shape, d (d + 1) /
        2)``: the upper triangle row by row (D00, D01, .., D11, ..), each
        entry the mean of D_ij and D_ji, which is what the kernel makes of a
        full matrix. A callable is sampled and packed in slabs: the full
        ``(*shape, d, d)`` array is never formed (a third less memory in
        3D)."""
        if self._packed is None:
            b = self._drift if self._drift is not None else self._sample_one("drift")
            packer = _Packer(self.ndim)
            if self._sampled is not None:
                dm = self._sampled[1]  # checked by sample() already
            else:
                dm = self._sample_one("diffusion", packer)
            if dm.ndim == self.ndim + 2:
                # An array of full matrices (the caller's): read in slabs, and
                # packed only if some matrix is not exactly symmetric.
                exact = True
                for start in range(0, self.grid.size, _CHUNK):
                    block = dm.reshape(-1, self.ndim, self.ndim)[start:start + _CHUNK]
                    packer.inspect(block, lambda i, start=start: start + i)
                    exact = exact and bool(np.array_equal(block, np.swapaxes(block, 1, 2)))
                if not exact:
                    dm = packer.pack_all(dm)
            self._clear = self._scan(b, dm)
            if not self._clear:
                bad = ~np.all(np.isfinite(b), axis=-1)
                if bad.any():
                    raise ValueError(f"drift is not finite at {self.describe_node(np.flatnonzero(bad)[0])}")
            if self._sampled is None:
                packer.check(self.describe_node, self._raw_diffusion)
                if not self._clear:
                    self._check_spd_packed(dm)
            self._drift, self._packed = b, dm
        return self._drift, self._packed

    def _scan(self, b: np.ndarray, dm: np.ndarray) -> bool:
        """Whether the kernel's scan of the drift and a position-dependent D
        (packed or full, at the nodes) finds every node clear, with a margin,
        of the checks of :meth:`kernel_diffusion` and :meth:`kernel_arrays`:
        finite, D positive definite with normal diagonal entries and
        invertible, |b|^2, b^T D^-1 b and |D^-1 b|^2 in range (at most
        ACTION_SCALE_LIMIT / 2 at every node, and where b moves the largest
        of each at least 2 ACTION_SCALE_FLOOR). Those checks, which name the
        first offending node, then need not run; they do where it is not
        clear."""
        d = self.ndim
        scan = _core.scan_fields2 if d == 2 else _core.scan_fields3
        full = dm.ndim == d + 2
        clear, largest, moving = scan(b.reshape(-1, d), dm.reshape((-1, d, d) if full else (-1, d * (d + 1) // 2)),
                                      ACTION_SCALE_LIMIT)
        return bool(clear) and (not moving or min(largest) >= 2.0 * ACTION_SCALE_FLOOR)

    def _raw_diffusion(self, flat_index: int) -> np.ndarray:
        """D at one node as sampled at the node, (d, d): for an error message
        (a node that was sampled as a cell mean is kept by :class:`_Packer`)."""
        value = self.sde.diffusion
        if isinstance(value, np.ndarray):
            return value.reshape(-1, self.ndim, self.ndim)[flat_index]
        return self._node_means(self.diffusion, np.array([flat_index]), 1)[0]

    def _check_spd_packed(self, dm: np.ndarray) -> None:
        """:func:`check_spd` on D at the nodes, full or packed, in slabs (the
        tiny diagonals of all nodes first, then definiteness, as check_spd
        orders them)."""
        d = self.ndim
        full = dm.ndim == d + 2
        flat = dm.reshape((-1, d, d) if full else (-1, d * (d + 1) // 2))
        for test in ("tiny", "spd"):
            for start in range(0, len(flat), _CHUNK):
                _interrupt.check()
                block = flat[start:start + _CHUNK]
                check = _check_diagonal if test == "tiny" else _check_definite
                check(block if full else unpack(block), lambda i, start=start: self.describe_node(start + i),
                      "diffusion")

    def _check_action_scale(self, b: np.ndarray, dm: np.ndarray) -> None:
        """The checks of :meth:`kernel_arrays` beyond :meth:`sample`, in slabs
        of nodes (bounded memory on large grids)."""
        d = self.ndim
        flat_b = b.reshape(-1, d)
        constant = dm.ndim == 2
        packed = dm.ndim == d + 1
        advice = self.SCALE_ADVICE
        if constant:
            metric = check_invertible(dm[None], lambda i: "the constant diffusion matrix", advice=advice[0])[0]
        else:
            flat_d = dm.reshape((-1, d * (d + 1) // 2) if packed else (-1, d, d))
        largest, moving = np.zeros(3), False
        for start in range(0, len(flat_b), _CHUNK):
            _interrupt.check()
            stop = min(len(flat_b), start + _CHUNK)

            def describe(i, start=start):
                return self.describe_node(start + i)

            if constant:
                a = np.broadcast_to(metric, (stop - start, d, d))
            else:
                block = flat_d[start:stop]
                a = check_invertible(unpack(block) if packed else block, describe, advice=advice[0])
            largest = np.maximum(largest, check_action_scale(flat_b[start:stop], a, describe, advice[1]))
            moving = moving or bool(np.any(flat_b[start:stop] != 0))
        # (A drift that vanishes everywhere has no attractor, which is said
        # where the attractor is refined.)
        if moving and np.min(largest) < ACTION_SCALE_FLOOR:
            b2, q, g2 = largest
            raise ValueError(
                f"the drift and the diffusion are too small for double precision: on the grid |b|^2 is at most "
                f"{b2:.3g}, b^T D^-1 b at most {q:.3g} and |D^-1 b|^2 (about |grad U|^2) at most {g2:.3g}; each "
                f"must reach {ACTION_SCALE_FLOOR:.0e}, or the march's products of them underflow; {advice[2]}"
            )

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
        if self.between_nodes:
            idx = np.unravel_index(int(flat_index), self.grid.shape)
            x = [l + h * i for l, h, i in zip(self.grid.lower, self.grid.spacing, idx)]
            return f"the point {describe_point(x)} (sampled on a grid refined around the attractor)"
        return describe_node(self.grid, flat_index)

    # -- helpers ----------------------------------------------------------------------
    def _points(self, points) -> np.ndarray:
        p = _validate.real_array(points, "points")
        if p.ndim == 0 or p.shape[-1] != self.ndim:
            raise ValueError(f"points must have shape (..., {self.ndim}), got {p.shape}")
        return p

    def _sample_one(self, name: str, packer: Optional["_Packer"] = None) -> np.ndarray:
        """A field at the nodes: an array on the grid as it is, a callable
        sampled (the diffusion packed as it comes when a ``packer`` is
        given), a constant broadcast."""
        d = self.ndim
        value = getattr(self.sde, name)
        tail = (d,) if name == "drift" else (d, d)
        if isinstance(value, np.ndarray) and value.ndim == d + len(tail):
            return np.ascontiguousarray(value, dtype=float)
        evaluate = self.drift if name == "drift" else self.diffusion
        return self._sample_callable(name, evaluate, packer) if callable(value) else self._cell_means(evaluate, 1)

    def _sample_callable(self, name: str, evaluate, packer: Optional["_Packer"] = None) -> np.ndarray:
        """A callable field at the nodes as ``supersample`` asks: point samples
        (1), cell means everywhere (s > 1), or point samples with cell means
        at the nodes next to a jump (None). With a ``packer`` the diffusion
        comes out packed (``(*shape, d (d + 1) / 2)``), each slab packed as it
        is sampled."""
        s = self.supersample
        if s is not None:
            out = self._cell_means(evaluate, s, packer)
            if s > 1:
                self.supersampled[name] = self.grid.size
            return out
        out = self._cell_means(evaluate, 1, packer)
        near = jump_nodes(out, self.ndim)
        count = int(np.count_nonzero(near))
        if count:
            nodes = np.flatnonzero(near)
            flat = out.reshape((self.grid.size,) + out.shape[self.ndim:])
            means = self._node_means(evaluate, nodes, AUTO_SUPERSAMPLE[self.ndim])
            if packer is not None:
                packer.forget(nodes)
                means = packer(means, lambda i: nodes[i])
            flat[nodes] = means
            self.supersampled[name] = count
        return out

    def _node_means(self, evaluate, nodes: np.ndarray, s: int) -> np.ndarray:
        """evaluate's mean over s^d points evenly spread over the cells of the
        given nodes (flat indices): the values :meth:`_cell_means` gives there,
        summed in the same order; (len(nodes), *tail)."""
        grid, d = self.grid, self.ndim
        offsets = (np.arange(s) + 0.5) / s - 0.5
        shifts = [np.array(o) * np.asarray(grid.spacing) for o in itertools.product(offsets, repeat=d)]
        idx = np.unravel_index(nodes, grid.shape)
        points = np.stack([grid.axes[k][idx[k]] for k in range(d)], axis=-1)
        out = None
        for start in range(0, len(nodes), _CHUNK):
            p = points[start:start + _CHUNK]
            total = evaluate(p + shifts[0])
            for shift in shifts[1:]:
                total = total + evaluate(p + shift)
            if out is None:
                out = np.empty((len(nodes),) + total.shape[1:])
            out[start:start + len(p)] = total / len(shifts)
        return out

    def _cell_means(self, evaluate, s: int, packer: Optional["_Packer"] = None) -> np.ndarray:
        """evaluate (points (..., d) -> (..., *tail)) at the nodes, or its mean
        over s^d points evenly spread over each node's cell; (*shape, *tail),
        or with a ``packer`` (*shape, d (d + 1) / 2) for the diffusion."""
        grid, d = self.grid, self.ndim
        axes = grid.axes
        # Slabs along the first axis, so that large grids are sampled in
        # bounded memory; values do not depend on the slab size.
        rows = max(1, _CHUNK // max(1, grid.size // grid.shape[0]))
        offsets = (np.arange(s) + 0.5) / s - 0.5
        shifts = [np.array(o) * np.asarray(grid.spacing) for o in itertools.product(offsets, repeat=d)]
        per_row = grid.size // grid.shape[0]

        def slab(start: int) -> np.ndarray:
            _interrupt.check()  # (a call on a worker thread: Ctrl-C stops it here too)
            stop = min(grid.shape[0], start + rows)
            mesh = np.stack(np.meshgrid(axes[0][start:stop], *axes[1:], indexing="ij"), axis=-1)
            if s == 1:
                block = evaluate(mesh)  # the nodes themselves (shift 0, mean of one)
            else:
                total = evaluate(mesh + shifts[0])
                for shift in shifts[1:]:
                    total = total + evaluate(mesh + shift)
                block = total / len(shifts)
            if packer is not None:
                first = start * per_row
                block = packer(block.reshape(-1, d, d), lambda i, first=first: first + i).reshape(
                    mesh.shape[:-1] + (-1,))
            return block

        # The first slab fixes the output's shape; each of the others is
        # written where it belongs by the thread that samples it, so that
        # at most `threads` slabs are held at once.
        block = slab(0)
        out = np.empty(grid.shape + block.shape[d:])
        out[:rows] = block
        del block
        starts = range(rows, grid.shape[0], rows)

        def fill(start: int) -> None:
            out[start:start + rows] = slab(start)

        if self.threads > 1 and len(starts) > 1:
            pool = ThreadPoolExecutor(max_workers=min(self.threads, len(starts)))
            try:
                task = _interrupt.carried(fill)
                # In order: an error is that of the first bad slab, as on one thread.
                for future in [pool.submit(task, start) for start in starts]:
                    future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            for start in starts:
                fill(start)
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
        out = self._interpolated(name, values, method, q)
        if name == "diffusion" and method == "cubic":
            # The cubic overshoots where D varies strongly from node to node
            # and can lose definiteness between SPD nodes (a checkerboard of
            # correlations +-0.9 does). Multilinear interpolation there: a
            # convex combination of SPD matrices is SPD.
            bad = ~spd_mask(out)
            if bad.any():
                out[bad] = self._interpolated(name, values, "linear", q[bad])
        return out.reshape(p.shape[:-1] + values.shape[self.ndim:])

    def _interpolated(self, name: str, values: np.ndarray, method: str, q: np.ndarray) -> np.ndarray:
        from scipy.interpolate import RegularGridInterpolator

        entry = self._interpolators.get((name, method))
        if entry is None:
            # scipy's cubic interpolation loses values of extreme scale
            # (1e-150 comes out 0): interpolate those divided by a power of
            # two near their size, which is exact, and multiply back.
            finite = np.abs(values[np.isfinite(values)])
            peak = float(np.max(finite)) if finite.size else 0.0
            scale = 2.0 ** round(math.log2(peak)) if peak > 0 and not 2.0**-100 <= peak <= 2.0**100 else 1.0
            entry = (RegularGridInterpolator(self.grid.axes, values / scale, method=method), scale)
            self._interpolators[(name, method)] = entry
        return entry[0](q) * entry[1]


#: Nodes per axis of the cell means taken next to a jump when supersample is
#: None, by dimension (8^2 and 4^3 points per node).
AUTO_SUPERSAMPLE = {2: 8, 3: 4}

#: How many times larger than every difference 2 to JUMP_REACH cells away
#: (along the same axis) a difference between neighbouring nodes must be to
#: mark a jump: one larger than ten cells' worth of the variation around
#: it. Smooth fields stay at or below 1 wherever they are locally
#: quadratic (three equally spaced values of a linear function: the middle
#: one's size is at most the larger end's); measured on the built-in models
#: (9 to 1025 nodes per axis in 2D, 9 to 129 in 3D), the largest ratio of a
#: smooth model is 7.1 (cycle_and_point_3d on 17^3), below 2.7 from 33
#: nodes per axis on, except for the SGD models on the iris data, whose
#: fronts are narrower than a cell below 65 nodes per axis (up to 129 at
#: 17). Example 4.1's jumps: unbounded (its flat region varies not at all).
JUMP_RATIO = 10.0

#: How far (cells) the differences compared with a cell's reach: far enough
#: that a smooth field whose differences oscillate (every 8 cells or so)
#: has one as large; two jumps closer than this hide each other.
JUMP_REACH = 4

#: Smallest jump marked, relative to the field's largest entry at the two
#: nodes: far above rounding noise, below anything that moves U.
JUMP_FLOOR = 1e-3


def jump_nodes(values: np.ndarray, ndim: int) -> np.ndarray:
    """The nodes next to a jump of a field sampled at the nodes.

    values : ndarray (*shape, ...), the field's entries at the nodes of a grid
        with ``ndim`` axes (any trailing shape: vectors, matrices).

    Along each axis, the difference d_i of an entry between neighbouring
    nodes i, i + 1 marks a jump where it exceeds ``JUMP_RATIO`` times every
    difference 2 to ``JUMP_REACH`` cells away on either side, and
    ``JUMP_FLOOR`` times the field's largest entry at its two nodes. A
    smooth field's differences vary slowly from cell to cell, so that some
    of those are as large (when it oscillates, within a few cells too); a
    jump puts an O(1) difference in one cell among O(h) ones. The two cells
    at each end of an axis, which see one side only, are not examined.

    Returns bool (*shape): the two nodes of each such cell and their
    neighbours (the 3^d box around each), whose cells an interface may
    cross. Non-finite values mark nothing (the checks of the samples name
    them); axes of fewer than 7 nodes are not examined. Cost: one pass in
    the kernel over each entry and axis (measured: 0.045 s for a drift and
    a full diffusion on 1025^2 nodes); the whole window is looked at only
    where a difference exceeds JUMP_RATIO times those two cells away on both
    sides."""
    shape = values.shape[:ndim]
    tail = values.shape[ndim:]
    flat = values.reshape(shape + (-1,))
    if len(tail) == 2 and tail[0] == tail[1]:
        # A symmetric matrix: its upper triangle.
        flat = flat[..., [i * tail[0] + j for i in range(tail[0]) for j in range(i, tail[0])]]
    # The kernel walks each axis in slabs of entries that stay in cache.
    marked = _core.jump_cells(np.ascontiguousarray(flat, dtype=float), ndim, JUMP_RATIO, JUMP_REACH,
                              JUMP_FLOOR).astype(bool)
    if not marked.any():
        return marked
    near = marked
    for axis in range(ndim):
        grown = near.copy()
        grown[(slice(None),) * axis + (slice(1, None),)] |= near[(slice(None),) * axis + (slice(0, -1),)]
        grown[(slice(None),) * axis + (slice(0, -1),)] |= near[(slice(None),) * axis + (slice(1, None),)]
        near = grown
    return near


def describe_node(grid: Grid, flat_index: int) -> str:
    """'grid node [i, j] (x = (..))' for a flat node index of a grid."""
    idx = np.unravel_index(int(flat_index), grid.shape)
    x = [l + h * i for l, h, i in zip(grid.lower, grid.spacing, idx)]
    return (
        f"grid node [{', '.join(str(int(i)) for i in idx)}] "
        f"(x = ({', '.join(f'{v:.6g}' for v in x)}))"
    )


def describe_point(x) -> str:
    """'x = (..)' for a point, as errors name it."""
    return f"x = ({', '.join(f'{float(v):.6g}' for v in np.ravel(x))})"


def call_field(fn: ArrayFunction, p: np.ndarray, name: str) -> np.ndarray:
    """A user's field callable ``fn`` (the drift, the diffusion, a jump
    Hamiltonian's weights or jumps) at points ``p``, as float64: its
    exception re-raised with what was called in front (:func:`rewrap`),
    complex values refused (TypeError), what is not numbers a ValueError."""
    try:
        out = fn(p)
    except Exception as exc:
        raise rewrap(exc, f"the {name} callable failed on points of shape {p.shape}") from exc
    return _validate.real_array(out, f"the {name} callable's result")


def rewrap(exc: Exception, context: str) -> Exception:
    """The exception to raise for ``exc`` from a user's callable, with
    ``context`` (what was called, where) in front of its message: of the
    same type when that type is built from one message and keeps it as it
    is, else a ValueError naming the original type (exceptions such as
    UnicodeDecodeError need several constructor arguments; others take one
    argument that is not a message, a code or a name, and would make a new
    message of it). The caller chains it to ``exc`` (``raise ... from exc``)."""
    message = f"{context}: {exc}"
    try:
        new = type(exc)(message)
    except Exception:  # noqa: BLE001 (any failure of a foreign constructor means: use ValueError)
        new = None
    if not (isinstance(new, type(exc)) and new.args == (message,)):
        new = ValueError(f"{context}: {type(exc).__name__}: {exc}")
    return new


def check_spd(matrices: np.ndarray, describe: Callable[[int], str], name: str = "diffusion") -> None:
    """Raise ValueError naming the first matrix of (n, d, d) that is not
    symmetric positive definite, with the kernel's test and tolerances
    (``_core.SYMMETRY_TOLERANCE``, ``_core.SPD_TOLERANCE``): made first so
    that the error can give the eigenvalues.

    The test is independent of the matrices' scale: the leading minors are
    those of the matrix scaled to unit diagonal, so that ``c D`` passes for
    every c > 0 when D does. A positive diagonal entry below the smallest
    normal double (2.2e-308) is rejected on its own: such a matrix cannot
    be told from a singular one."""
    m = matrices
    _check_symmetric(m, describe, name)
    _check_diagonal(m, describe, name)
    _check_definite(m, describe, name)


def _asymmetric(m: np.ndarray) -> np.ndarray:
    """Which of the matrices (n, d, d) are not symmetric to within the
    kernel's tolerance; (n,) bool."""
    d = m.shape[-1]
    bad = np.zeros(len(m), dtype=bool)
    for i in range(d):
        for j in range(i + 1, d):
            with np.errstate(over="ignore", invalid="ignore"):
                tol = SYMMETRY_TOLERANCE * (np.abs(m[:, i, i]) + np.abs(m[:, j, j]))
                bad |= np.abs(m[:, i, j] - m[:, j, i]) > tol
    return bad


def _check_symmetric(m: np.ndarray, describe: Callable[[int], str], name: str) -> None:
    bad = _asymmetric(m)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} is not symmetric at {describe(i)}: {m[i].tolist()}")


def _check_diagonal(m: np.ndarray, describe: Callable[[int], str], name: str) -> None:
    diag = np.diagonal(m, axis1=1, axis2=2)
    tiny = (diag > 0) & (diag < _NORMAL)
    if tiny.any():
        i = int(np.flatnonzero(tiny.any(axis=1))[0])
        raise ValueError(
            f"{name} is too small at {describe(i)}: diagonal entries {np.diag(m[i]).tolist()} lie below "
            f"{_NORMAL:.3g} (subnormal numbers, which cannot be told from zero); multiply b and D by a common "
            "factor (U does not change)"
        )


def _check_definite(m: np.ndarray, describe: Callable[[int], str], name: str) -> None:
    ok = spd_mask(m)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(
            f"{name} is not positive definite at {describe(i)}: eigenvalues {_eigenvalues(m[i])}"
        )


def pack(matrices: np.ndarray) -> np.ndarray:
    """Symmetric matrices (n, d, d) packed (n, d (d + 1) / 2): the upper
    triangle row by row (D00, D01, .., D11, ..), each entry the mean of
    D_ij and D_ji (the kernel's symmetrisation; the diagonal as it is)."""
    d = matrices.shape[-1]
    out = np.empty((len(matrices), d * (d + 1) // 2))
    k = 0
    for i in range(d):
        for j in range(i, d):
            if i == j:
                out[:, k] = matrices[:, i, i]
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    np.multiply(0.5, matrices[:, i, j] + matrices[:, j, i], out=out[:, k])
            k += 1
    return out


def unpack(packed: np.ndarray) -> np.ndarray:
    """Packed symmetric matrices (n, d (d + 1) / 2) as full ones (n, d, d)."""
    k = packed.shape[-1]
    d = int(round((math.sqrt(8 * k + 1) - 1) / 2))
    if d * (d + 1) // 2 != k:
        raise ValueError(f"{k} entries are not the upper triangle of a square matrix")
    out = np.empty((len(packed), d, d))
    c = 0
    for i in range(d):
        for j in range(i, d):
            out[:, i, j] = packed[:, c]
            out[:, j, i] = packed[:, c]
            c += 1
    return out


class _Packer:
    """Packs sampled diffusion matrices (:func:`pack`) batch by batch and
    notes which nodes' matrices are not finite or not symmetric (to within
    the kernel's tolerance): those are reported once every node is sampled
    (cell means may replace some), the first node named, as
    :meth:`Fields.sample` reports them."""

    def __init__(self, d: int):
        self.d = d
        self.bad = {"finite": [], "symmetric": []}  # flat node indices, batch by batch
        self.kept: dict = {}  # flat index -> matrix: the first bad node of each batch

    def __call__(self, matrices: np.ndarray, where: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``matrices`` (n, d, d) of the nodes ``where(arange(n))``, packed."""
        self.inspect(matrices, where)
        return pack(matrices)

    def inspect(self, matrices: np.ndarray, where: Callable[[np.ndarray], np.ndarray]) -> None:
        """Note the bad matrices among (n, d, d), of the nodes ``where(arange(n))``."""
        nonfinite = ~np.all(np.isfinite(matrices), axis=(1, 2))
        for key, mask in (("finite", nonfinite), ("symmetric", _asymmetric(matrices))):
            if mask.any():
                local = np.flatnonzero(mask)
                nodes = np.asarray(where(local), dtype=np.int64)
                self.bad[key].append(nodes)
                self.kept[int(nodes[0])] = np.array(matrices[local[0]])

    def forget(self, nodes: np.ndarray) -> None:
        """The nodes were sampled again (their new matrices follow)."""
        for key, found in self.bad.items():
            self.bad[key] = [a[~np.isin(a, nodes)] for a in found]

    def check(self, describe: Callable[[int], str], matrix: Callable[[int], np.ndarray]) -> None:
        """ValueError naming the first node whose matrix is not finite, else
        the first not symmetric (``matrix(i)`` gives one that was not kept)."""
        for key, found in self.bad.items():
            found = [a for a in found if len(a)]
            if not found:
                continue
            i = int(min(int(a.min()) for a in found))
            if key == "finite":
                raise ValueError(f"diffusion is not finite at {describe(i)}")
            m = self.kept[i] if i in self.kept else matrix(i)
            raise ValueError(f"diffusion is not symmetric at {describe(i)}: {m.tolist()}")

    def pack_all(self, matrices: np.ndarray) -> np.ndarray:
        """An array (*shape, d, d) packed, (*shape, d (d + 1) / 2), in slabs."""
        d = self.d
        lead = matrices.shape[:-2]
        flat = matrices.reshape(-1, d, d)
        out = np.empty((len(flat), d * (d + 1) // 2))
        for start in range(0, len(flat), _CHUNK):
            out[start:start + _CHUNK] = pack(flat[start:start + _CHUNK])
        return out.reshape(lead + (-1,))


def _eigenvalues(m: np.ndarray) -> list:
    """Eigenvalues of one symmetric matrix for a message (computed on the
    matrix scaled to unit largest entry, so that LAPACK sees no extreme
    exponents)."""
    scale = float(np.max(np.abs(m)))
    if not (np.isfinite(scale) and scale > 0):
        return [float("nan")] * len(m)
    return (np.linalg.eigvalsh(0.5 * (m + m.T) / scale) * scale).tolist()


def kernel_inverse(matrices: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """A = D^{-1} of SPD matrices (n, d, d) and their determinants (n,), by
    the kernel's formula (the adjugate over the determinant, ``inverse<D>``
    in linalg.hpp), so that Python sees the same over- and underflow."""
    m = matrices
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        if m.shape[-1] == 2:
            a, b, c = m[:, 0, 0], 0.5 * (m[:, 0, 1] + m[:, 1, 0]), m[:, 1, 1]
            det = a * c - b * b
            out = np.stack([np.stack([c, -b], -1), np.stack([-b, a], -1)], -2) / det[:, None, None]
        else:
            a, b, c = m[:, 0, 0], 0.5 * (m[:, 0, 1] + m[:, 1, 0]), 0.5 * (m[:, 0, 2] + m[:, 2, 0])
            d, e, f = m[:, 1, 1], 0.5 * (m[:, 1, 2] + m[:, 2, 1]), m[:, 2, 2]
            c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
            c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
            det = a * c00 + b * c01 + c * c02
            out = np.stack([np.stack([c00, c01, c02], -1), np.stack([c01, c11, c12], -1),
                            np.stack([c02, c12, c22], -1)], -2) / det[:, None, None]
    return out, det


def check_invertible(matrices: np.ndarray, describe: Callable[[int], str], name: str = "diffusion",
                     advice: str = SDE_SCALE_ADVICE[0]) -> np.ndarray:
    """The inverses A = D^{-1} (n, d, d) of SPD matrices as the kernel
    computes them; ValueError naming the first matrix for which the kernel's
    ``inverse_representable`` fails (a determinant that is not a normal
    number, or an inverse that overflows), ending with ``advice``. Needed
    wherever A is used: the march and the geometric action."""
    a, det = kernel_inverse(matrices)
    ok = (np.abs(det) >= _NORMAL) & np.isfinite(det) & np.all(np.isfinite(a), axis=(1, 2))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        scale = float(np.max(np.abs(matrices[i])))
        raise ValueError(
            f"{name} cannot be inverted in double precision at {describe(i)}: its scale {scale:.3g} is too far "
            f"from 1 (its determinant or D^{{-1}} over- or underflows); {advice}"
        )
    return a


def check_action_scale(drift: np.ndarray, metric: np.ndarray, describe: Callable[[int], str],
                       advice: str = SDE_SCALE_ADVICE[1]) -> np.ndarray:
    """ValueError naming the first node where a square the march forms
    overflows: |b|^2, the action's scale b^T A b or |A b|^2 (about
    |grad U|^2), with A = D^{-1}, beyond :data:`ACTION_SCALE_LIMIT`. drift
    (n, d), metric (n, d, d). Returns the largest |b|^2, b^T A b and
    |A b|^2 (for the check against underflow, :data:`ACTION_SCALE_FLOOR`,
    made over the whole grid)."""
    with np.errstate(over="ignore", invalid="ignore"):
        ab = np.einsum("nij,nj->ni", metric, drift)
        squares = np.stack([np.einsum("ni,ni->n", drift, drift), np.einsum("ni,ni->n", drift, ab),
                            np.einsum("ni,ni->n", ab, ab)], axis=1)
    bad = ~np.all(np.abs(squares) <= ACTION_SCALE_LIMIT, axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        b2, q, g2 = squares[i]
        raise ValueError(
            f"the drift and the diffusion are too large for double precision at {describe(i)}: |b|^2 = {b2:.3g}, "
            f"b^T D^-1 b = {q:.3g} and |D^-1 b|^2 (about |grad U|^2) = {g2:.3g} must stay below "
            f"{ACTION_SCALE_LIMIT:.0e}, or the quasi-potential overflows; {advice}"
        )
    return np.max(squares, axis=0) if len(squares) else np.zeros(3)


#: Smallest value the largest |b|^2, b^T D^{-1} b and |D^{-1} b|^2 over the
#: grid may take: below, products the march forms underflow (measured with
#: b = -s x, D = c I on [-1, 1]^2, 17^2 nodes, against (s / c) times the
#: solution at s = c = 1: 1e-8 with all three above 1e-300; 2e-4 with
#: |D^{-1} b|^2 at 2e-314 (s = 1e-3, c = 1e154), 13 % at 2e-320; 0.3 % with
#: |b|^2 at 2e-324 (s = 1e-162, any c), where it rounds to zero). Kept well
#: above all of these.
ACTION_SCALE_FLOOR = 1e-250

# The smallest positive normal double.
_NORMAL = float(np.finfo(float).tiny)


class JumpFields(Fields):
    """A :class:`hjqp.JumpHamiltonian` bound to a grid: its weights and jumps
    sampled at the nodes (for the kernel) and evaluable anywhere in the box,
    with the drift and diffusion of its quadratic part (:class:`Fields`).

    Its quadratic part must be within double precision's range as an SDE's
    fields must (:meth:`Fields.kernel_arrays`): beyond it the march's local
    expansion and updates over- or underflow. U does not change when the
    weights are multiplied by a common factor, which brings them into range.
    """

    SCALE_ADVICE = (
        "multiply the weights by a common factor to bring their quadratic part near 1 (U does not change)",
        ("multiplying the weights by a common factor scales the first two (U does not change), changing the units "
         "of x (the jumps) scales the last"),
        ("multiply the weights by a common factor k (U does not change; the first two grow as k^2 and k), or the "
         "jumps by k (U shrinks as 1 / k, the last as 1 / k^2)"),
    )

    def __init__(self, hamiltonian, grid: Grid, supersample: Optional[int] = 1, *, between_nodes: bool = False,
                 threads: Optional[int] = None):
        super().__init__(hamiltonian, grid, supersample, between_nodes=between_nodes, threads=threads)
        H = hamiltonian
        for name in ("weights", "jumps"):
            value = getattr(H, name)
            if isinstance(value, np.ndarray) and value.ndim > 2 and value.shape[:grid.ndim] != grid.shape:
                raise ValueError(f"the {name} array has shape {value.shape}; on this grid its leading axes "
                                 f"must be {grid.shape}")
        self._jump_arrays: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def weights(self, points: np.ndarray) -> np.ndarray:
        """``w`` at points ``(..., d)``; returns ``(..., R)`` (arrays on the grid
        are interpolated multilinearly, which keeps them non-negative)."""
        p = self._points(points)
        w = self.sde.weights
        if callable(w):
            return self.sde.weights_at(p)
        return self._interpolate_linear("weights", w, p)

    def jumps(self, points: np.ndarray) -> np.ndarray:
        """``nu`` at points ``(..., d)``; returns ``(..., R, d)``."""
        p = self._points(points)
        nu = self.sde.jumps
        if callable(nu) or nu.ndim == 2:
            return self.sde.jumps_at(p)
        return self._interpolate_linear("jumps", nu, p)

    def hamiltonian(self, points: np.ndarray, momenta: np.ndarray) -> np.ndarray:
        """``H(x, p) = sum_r w_r (exp(<p, nu_r>) - 1)``; returns ``(...)``."""
        w, nu = self.weights(points), self.jumps(points)
        return np.sum(w * np.expm1(np.einsum("...ri,...i->...r", nu, momenta)), axis=-1)

    def velocity(self, points: np.ndarray, momenta: np.ndarray) -> np.ndarray:
        """``H_p(x, p) = sum_r w_r nu_r exp(<p, nu_r>)``; ``(..., d)``."""
        w, nu = self.weights(points), self.jumps(points)
        e = w * np.exp(np.einsum("...ri,...i->...r", nu, momenta))
        return np.einsum("...r,...ri->...i", e, nu)

    def action(self, points: np.ndarray, velocities: np.ndarray) -> np.ndarray:
        """The geometric action's integrand ``h(x, v) = sup {<p, v> : H(x, p) <= 0}``
        at points and velocities ``(..., d)``; +inf for directions outside
        the cone of the jumps. Returns ``(...)``."""
        p = self._points(points)
        v = np.broadcast_to(np.asarray(velocities, dtype=float), p.shape)
        lead = p.shape[:-1]
        d = self.ndim
        w = self.weights(p).reshape(int(np.prod(lead, dtype=int)), -1)
        nu = self.jumps(p).reshape(len(w), -1, d)
        h, _ = jump_support(w, nu, v.reshape(-1, d))
        return h.reshape(lead)

    def jump_arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        """Weights ``(*shape, R)`` and jumps, ``(R, d)`` when constant or
        ``(*shape, R, d)``, at the nodes, as the kernel takes them; checked
        (finite, weights non-negative, the jumps spanning R^d: the first bad
        node is named in the ValueError)."""
        if self._jump_arrays is None:
            H = self.sde
            w = self._sample_jump_field("weights")
            bad = ~np.all(np.isfinite(w) & (w >= 0), axis=-1).reshape(-1)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"weights must be finite and non-negative; at {self.describe_node(i)} they are "
                                 f"{w.reshape(-1, w.shape[-1])[i].tolist()}")
            nu = H.jumps
            if callable(nu) or nu.ndim > 2:
                nu = self._sample_jump_field("jumps")
                bad = ~np.all(np.isfinite(nu), axis=(-2, -1)).reshape(-1)
                if bad.any():
                    raise ValueError(f"jumps are not finite at {self.describe_node(int(np.flatnonzero(bad)[0]))}")
            if nu.shape[-2] != w.shape[-1]:
                raise ValueError(f"weights give {w.shape[-1]} jumps but jumps has {nu.shape[-2]}")
            # The quadratic part must be positive definite (the jumps span
            # R^d) and within range.
            self._check_action_scale(*self.sample())
            self._jump_arrays = (np.ascontiguousarray(w), np.ascontiguousarray(nu, dtype=float))
        return self._jump_arrays

    def _sample_jump_field(self, name: str) -> np.ndarray:
        value = getattr(self.sde, name)
        if isinstance(value, np.ndarray) and value.ndim > 2:
            return np.ascontiguousarray(value, dtype=float)
        evaluate = self.weights if name == "weights" else self.jumps
        return self._sample_callable(name, evaluate)

    def _interpolate_linear(self, name: str, values: np.ndarray, p: np.ndarray) -> np.ndarray:
        from scipy.interpolate import RegularGridInterpolator
        key = name + "_linear"
        interp = self._interpolators.get(key)
        if interp is None:
            interp = RegularGridInterpolator(self.grid.axes, values, method="linear")
            self._interpolators[key] = interp
        lo, hi = np.asarray(self.grid.lower), np.asarray(self.grid.upper)
        q = np.clip(p, lo, hi).reshape(-1, self.ndim)
        return interp(q).reshape(p.shape[:-1] + values.shape[self.ndim:])


def jump_support(weights: np.ndarray, jumps: np.ndarray, velocities: np.ndarray):
    """The geometric action ``h = sup {<p, v> : H(p) <= 0}`` and its maximiser
    for n points: weights ``(n, R)``, jumps ``(R, d)`` or ``(n, R, d)``,
    velocities ``(n, d)``. Returns ``h (n,)`` (+inf outside the cone of the
    jumps) and ``p (n, d)``.

    The set {H(p) <= 0} does not change when a point's weights are
    multiplied by a positive number, and neither do h and p: weights whose
    largest entry lies beyond 2^+-100 are divided by the power of two next
    to it (exact), where the kernel's solve would under- or overflow
    (measured: weights of 1e200 or 1e-200 gave h = 0)."""
    d = velocities.shape[-1]
    w = np.array(weights, dtype=float)
    peak = np.max(w, axis=-1) if w.size else np.zeros(len(w))
    far = np.isfinite(peak) & (peak > 0) & ~((peak >= 2.0**-100) & (peak <= 2.0**100))
    if far.any():
        w[far] = np.ldexp(w[far], -np.frexp(peak[far])[1][:, None])
    fn = _core.jump_support2d if d == 2 else _core.jump_support3d
    return fn(np.ascontiguousarray(w), np.ascontiguousarray(jumps, dtype=float),
              np.ascontiguousarray(velocities, dtype=float))


def spd_mask(matrices: np.ndarray) -> np.ndarray:
    """Which of the (..., d, d) matrices pass the kernel's test of positive
    definiteness: Sylvester's criterion on the leading minors of
    diag^{-1/2} m diag^{-1/2} (for d = 2, 3 the kernel's spd_margin, term by
    term; the mean of the two off-diagonal entries), tolerance
    ``SPD_TOLERANCE``. Shape ``(...)``."""
    m = matrices
    d = m.shape[-1]
    if d > 3:
        return _spd_mask_any(m)
    diag = np.diagonal(m, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ok = np.all(diag > 0, axis=-1)
        root = np.sqrt(np.where(diag > 0, diag, 1.0))
        s01 = 0.5 * (m[..., 0, 1] + m[..., 1, 0]) / (root[..., 0] * root[..., 1])
        ok &= 1.0 - s01 * s01 > SPD_TOLERANCE
        if d == 3:
            s02 = 0.5 * (m[..., 0, 2] + m[..., 2, 0]) / (root[..., 0] * root[..., 2])
            s12 = 0.5 * (m[..., 1, 2] + m[..., 2, 1]) / (root[..., 1] * root[..., 2])
            det = 1.0 + 2.0 * s01 * s02 * s12 - s01 * s01 - s02 * s02 - s12 * s12
            ok &= det > SPD_TOLERANCE
    return ok


def _spd_mask_any(m: np.ndarray) -> np.ndarray:
    """:func:`spd_mask` for d > 3 (no kernel beyond 3D): the leading minors
    of the matrix scaled to unit diagonal, symmetrised, are the running
    products of the squared diagonal of its Cholesky factor."""
    diag = np.diagonal(m, axis1=-2, axis2=-1)
    ok = np.all(diag > 0, axis=-1) & np.all(np.isfinite(m), axis=(-2, -1))
    out = np.zeros(m.shape[:-2], dtype=bool)
    if not ok.any():
        return out
    root = np.sqrt(diag[ok])
    s = 0.5 * (m[ok] + np.swapaxes(m[ok], -1, -2)) / (root[..., :, None] * root[..., None, :])
    try:
        c = np.linalg.cholesky(s)
        good = np.all(np.cumprod(np.diagonal(c, axis1=-2, axis2=-1) ** 2, axis=-1) > SPD_TOLERANCE, axis=-1)
    except np.linalg.LinAlgError:  # some matrix is not positive definite: one at a time
        good = np.zeros(len(s), dtype=bool)
        for i in range(len(s)):
            try:
                c = np.linalg.cholesky(s[i])
            except np.linalg.LinAlgError:
                continue
            good[i] = bool(np.all(np.cumprod(np.diagonal(c) ** 2) > SPD_TOLERANCE))
    out[ok] = good
    return out
