"""Interpolation of a quasi-potential between nodes from its 1-jets:
tensor-product cubic Hermite (bicubic in 2D, tricubic in 3D), the mixed
derivatives by central differences of the gradient."""

from __future__ import annotations

import numpy as np

from ..grid import Grid

__all__ = ["nodal_derivatives", "hermite"]


def nodal_derivatives(grad: np.ndarray, grid: Grid) -> dict:
    """The derivatives of U that tensor-product Hermite interpolation needs,
    keyed by the tuple of axes differentiated: the gradient for one axis,
    and for several axes central differences of the gradient (one-sided at
    the edges) averaged over which gradient component is differenced."""
    d = grid.ndim
    h = grid.spacing
    out = {}
    for mask in range(1, 2**d):
        axes = tuple(k for k in range(d) if mask >> k & 1)
        if len(axes) == 1:
            out[axes] = grad[..., axes[0]]
            continue
        total = 0.0
        for j in axes:
            c = grad[..., j]
            with np.errstate(invalid="ignore"):
                for k in axes:
                    if k != j:
                        c = np.gradient(c, h[k], axis=k)
            total = total + c
        c = total / len(axes)
        out[axes] = np.where(np.isfinite(c), c, 0.0)
    return out


def hermite(values, derivatives: dict, grid: Grid, q: np.ndarray, derivative: bool):
    """Tensor-product cubic Hermite interpolation of U and its nodal
    derivatives (:func:`nodal_derivatives`) on the grid cells; with
    `derivative` the gradient of the interpolant."""
    d = grid.ndim
    h = np.asarray(grid.spacing)
    n = np.asarray(grid.shape)
    t = (q - np.asarray(grid.lower)) / h
    cell = np.clip(np.floor(t).astype(int), 0, n - 2)
    frac = np.clip(t - cell, 0.0, 1.0)

    def basis(u):
        # weights of (value at 0, slope at 0, value at 1, slope at 1)
        u2, u3 = u * u, u * u * u
        return (2 * u3 - 3 * u2 + 1, u3 - 2 * u2 + u, -2 * u3 + 3 * u2, u3 - u2)

    def dbasis(u):
        u2 = u * u
        return (6 * u2 - 6 * u, 3 * u2 - 4 * u + 1, -6 * u2 + 6 * u, 3 * u2 - 2 * u)

    bases = [basis(frac[:, k]) for k in range(d)]
    dbases = [dbasis(frac[:, k]) for k in range(d)]
    corners = [tuple(c >> k & 1 for k in range(d)) for c in range(2**d)]
    finite = np.ones(len(q), dtype=bool)
    data = []  # per corner: [(coefficient, axes)] over all derivative multi-indices
    for c in corners:
        idx = tuple(cell[:, k] + c[k] for k in range(d))
        u = values[idx]
        finite &= np.isfinite(u)
        terms = [(u, ())]
        for axes, dv in derivatives.items():
            terms.append((dv[idx] * np.prod(h[list(axes)]), axes))
        data.append(terms)

    def combine(wrt):
        # wrt: the axis the interpolant is differentiated along, or None.
        total = 0.0
        for c, terms in zip(corners, data):
            for coef, axes in terms:
                w = 1.0
                for k in range(d):
                    table = dbases[k] if k == wrt else bases[k]
                    w = w * table[2 * c[k] + (1 if k in axes else 0)]
                with np.errstate(invalid="ignore"):
                    total = total + coef * w
        return total

    if not derivative:
        return np.where(finite, combine(None), np.inf)
    g = np.stack([combine(k) / h[k] for k in range(d)], axis=-1)
    return np.where(finite[:, None], g, np.nan)
