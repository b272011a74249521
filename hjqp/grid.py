"""Uniform Cartesian grids."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from . import _validate

__all__ = ["Grid"]


@dataclass(frozen=True)
class _GridFields:
    """A grid's fields, immutable; :class:`Grid` checks and normalises them."""

    lower: Tuple[float, ...]
    upper: Tuple[float, ...]
    shape: Tuple[int, ...]


class Grid(_GridFields):
    """A uniform grid on the box ``[lower, upper]`` with ``shape`` nodes.

    Nodes include both ends of every axis; arrays on the grid are float64,
    C-ordered and indexed ``[i, j(, k)]`` along axes x, y(, z) (numpy's
    ``indexing="ij"``).

    Parameters
    ----------
    lower, upper : sequence of float, length d (2 or 3)
        Corners of the box, ``lower[k] < upper[k]``.
    shape : sequence of int, length d
        Number of nodes along each axis, at least 3.

    Examples
    --------
    >>> grid = Grid(lower=(-1, -1), upper=(1, 1), shape=(513, 513))
    >>> grid.spacing
    (0.00390625, 0.00390625)
    """


    def __init__(self, lower: Sequence[float], upper: Sequence[float], shape: Sequence[int]):
        lower_t = _float_tuple(lower, "lower")
        upper_t = _float_tuple(upper, "upper")
        try:
            shape_t = tuple(operator.index(n) for n in shape)
        except TypeError:
            raise ValueError(f"shape must be a sequence of integers, got {shape!r}") from None
        d = len(lower_t)
        if d not in (2, 3):
            raise ValueError(f"grids must be 2D or 3D; lower has {d} entries")
        if len(upper_t) != d or len(shape_t) != d:
            raise ValueError(
                f"lower, upper and shape must have the same length, got "
                f"{len(lower_t)}, {len(upper_t)}, {len(shape_t)}"
            )
        for k in range(d):
            if not lower_t[k] < upper_t[k]:
                raise ValueError(
                    f"lower[{k}] = {lower_t[k]} must be less than upper[{k}] = {upper_t[k]}"
                )
            if shape_t[k] < 3:
                raise ValueError(f"shape[{k}] = {shape_t[k]}: at least 3 nodes per axis are needed")
        super().__init__(lower_t, upper_t, shape_t)

    @property
    def ndim(self) -> int:
        """Number of dimensions d."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of nodes."""
        return math.prod(self.shape)  # Python ints: no overflow for huge shapes

    @property
    def spacing(self) -> Tuple[float, ...]:
        """Node spacing h_k = (upper_k - lower_k) / (shape_k - 1) along each axis."""
        return tuple((u - l) / (n - 1) for l, u, n in zip(self.lower, self.upper, self.shape))

    @property
    def axes(self) -> Tuple[np.ndarray, ...]:
        """1D arrays of node coordinates along each axis."""
        return tuple(np.linspace(l, u, n) for l, u, n in zip(self.lower, self.upper, self.shape))

    def points(self) -> np.ndarray:
        """All node coordinates, shape ``(*shape, d)``."""
        return np.stack(np.meshgrid(*self.axes, indexing="ij"), axis=-1)

    def node_points(self, flat: np.ndarray) -> np.ndarray:
        """Coordinates of the nodes with these flat (C-order) indices, shape
        ``(n, d)``: the rows of :meth:`points` without forming it."""
        index = np.unravel_index(np.asarray(flat, dtype=np.int64), self.shape)
        return np.stack([axis[i] for axis, i in zip(self.axes, index)], axis=-1)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask, shape ``points.shape[:-1]``: which points lie in the closed box."""
        p = _validate.real_array(points, "points")
        lo = np.asarray(self.lower)
        hi = np.asarray(self.upper)
        tol = 1e-12 * (hi - lo)
        return np.all((p >= lo - tol) & (p <= hi + tol), axis=-1)

    def nearest_node(self, point: Sequence[float]) -> Tuple[int, ...]:
        """Multi-index of the node nearest to a point (clamped into the grid)."""
        p = _validate.real_array(point, "point")
        idx = np.rint((p - np.asarray(self.lower)) / np.asarray(self.spacing)).astype(int)
        return tuple(int(np.clip(i, 0, n - 1)) for i, n in zip(idx, self.shape))

    def __repr__(self) -> str:
        return f"Grid(lower={self.lower}, upper={self.upper}, shape={self.shape})"


def _float_tuple(values: Sequence[float], name: str) -> Tuple[float, ...]:
    try:
        arr = _validate.real_array(values, name)
    except ValueError:
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1D sequence of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {values!r}")
    return tuple(float(v) for v in arr)
