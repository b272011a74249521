"""Checks of arguments shared by every layer: each raises ValueError naming
the argument and what it got."""

from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np

__all__ = ["positive", "count", "seed", "threads", "max_threads", "vector", "points", "in_range", "eps",
           "real_array"]


def positive(value, name: str) -> float:
    """A positive, finite float."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def eps(value) -> float:
    """A noise strength: a positive, finite number (not a bool or a string)."""
    if not (isinstance(value, (int, float, np.floating, np.integer)) and value > 0 and math.isfinite(value)):
        raise ValueError(f"eps must be a positive finite number, got {value!r}")
    return float(value)


def count(value, name: str, minimum: int = 1) -> int:
    """An integer >= minimum (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def seed(value) -> int:
    """A non-negative integer seed; None draws one from the OS (the caller
    records it in its result, so that the run can be repeated)."""
    if value is None:
        return int(np.random.SeedSequence().entropy % (1 << 63))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {value!r}")
    return int(value)


def max_threads() -> int:
    """The most worker threads a call may ask for: four per CPU, at least 64.
    More only adds stacks and switching (the items are independent), and a
    thread the system cannot create is an error that ends the call."""
    return max(64, 4 * (os.cpu_count() or 1))


def threads(value: Optional[int]) -> int:
    """Worker threads: the CPU count (at most 8) by default; an integer in
    [1, max_threads()] otherwise."""
    if value is None:
        return max(1, min(os.cpu_count() or 1, 8))
    cap = max_threads()
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, (int, np.integer)) and 1 <= value <= cap):
        raise ValueError(
            f"threads must be an integer in [1, {cap}] (four per CPU, at least 64), got {value!r}"
        )
    return int(value)


def vector(value, name: str) -> np.ndarray:
    """A finite vector of length d >= 1: a copy, so that an object keeping
    it (a domain's centre or corners) does not change with the caller's
    array."""
    v = np.array(real_array(value, name), dtype=float)
    if v.ndim != 1 or len(v) < 1 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a finite vector (d,) with d >= 1, got {value!r}")
    return v


def points(value, d: int, name: str) -> np.ndarray:
    """A finite (k, d) array with k >= 1 (a single (d,) point is one row): a
    copy, so that a result keeping it (a long run's attractors) does not
    change with the caller's array."""
    a = np.array(real_array(value, name), dtype=float)
    if a.ndim == 1 and a.shape == (d,):
        a = a[None]
    if a.ndim != 2 or a.shape[1] != d or len(a) == 0:
        raise ValueError(f"{name} must have shape (k, {d}) with k >= 1, got {a.shape}")
    bad = ~np.all(np.isfinite(a), axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite; row {i} is {a[i].tolist()}")
    return a


def in_range(name: str, value, lo: float, hi: float) -> float:
    """A number in [lo, hi]."""
    if not (isinstance(value, (int, float, np.floating, np.integer)) and lo <= value <= hi):
        raise ValueError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def real_array(value, name: str) -> np.ndarray:
    """``value`` as a float64 array; TypeError for complex numbers (numpy
    would drop the imaginary part with only a warning) and ValueError for
    what is not numbers."""
    arr = value if isinstance(value, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be real numbers, got {type(value).__name__}") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex values (pass their real part if that is meant)")
    try:
        return np.asarray(arr, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be real numbers, got {arr.dtype} values") from None
