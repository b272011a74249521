"""Eikonal equations on 2D and 3D grids, with scikit-fmm's conventions.

The compiled kernel marches the anisotropic eikonal equation

    ``|grad u|_{M(x)^{-1}} = s(x)``,   i.e.   ``grad u^T M(x)^{-1} grad u = s(x)^2``,

whose solution is the least Riemannian length  ``int s |psi'|_M`` of the paths
from the source: ``M`` is the metric tensor (``metric=``, SPD, identity by
default) and ``s = 1 / speed`` the slowness. This is the geometric action
of the quasi-potential with the drift term replaced by the Riemannian one
(see ``cpp/include/hjqp/eikonal.hpp``).

:func:`distance` and :func:`travel_time` follow scikit-fmm: the source is
the zero level set of ``phi``, masked entries of a numpy masked array are
obstacles, ``dx`` is a scalar or one spacing per axis, node ``i`` lies at
``i * dx``, ``order`` is 1 or 2, ``narrow`` bounds the computed band and
``periodic`` wraps axes around. Code written for scikit-fmm runs by changing
the import::

    import hjqp.eikonal as skfmm

:func:`point_source` solves from a single point anywhere in the box, with
the point-source singularity factored out (``u = T0 tau`` with ``T0`` the
exact solution for the slowness and metric frozen at the source): exact for
constant speed and metric; for smooth isotropic speeds the second-order
scheme converges at order 1.5 in the maximum norm (1.7 RMS).

Accuracy: the isotropic updates are scikit-fmm's upwind differences (first
or second order). With a ``metric`` the update is the semi-Lagrangian one
over the 8 (2D) or 26 (3D) surrounding nodes, first order, followed by
Gauss-Seidel sweeps where the metric is too anisotropic for the march's
order to be causal.

Not provided: scikit-fmm's ``extension_velocities``, and 1D or more than
3D arrays.
"""

from __future__ import annotations

import operator
from typing import Optional, Sequence, Tuple

import numpy as np

from .. import _core, _interrupt, _memory, _validate, _warn
from ..problem import check_spd

__all__ = ["distance", "travel_time", "point_source"]


@_interrupt.interruptible
def distance(phi, dx=1.0, self_test=False, order=2, narrow=0.0, periodic=False, *, metric=None):
    """Signed distance from the zero level set of ``phi``.

    Parameters
    ----------
    phi : array_like or numpy.ma.MaskedArray, shape (n0, n1) or (n0, n1, n2)
        The source is its zero level set (linearly interpolated between
        nodes); masked entries are obstacles that paths go around.
    dx : float or sequence of float
        Grid spacing, one value or one per axis; node ``i`` lies at ``i * dx``.
    self_test : bool
        Accepted for compatibility with scikit-fmm, where it checks the
        heap during the march; it has no effect here (the kernel's heap is
        checked by hjqp's test suite).
    order : {1, 2}
        Order of the isotropic finite differences.
    narrow : float
        If positive, only distances up to ``narrow`` are computed; the
        nodes beyond are masked.
    periodic : bool or sequence of bool
        Axes along which the grid wraps around.
    metric : array_like, shape (d, d) or phi.shape + (d, d), optional
        Riemannian metric tensor M (SPD): the length of a step v is
        ``sqrt(v^T M v)``. Default: the identity.

    Returns
    -------
    ndarray or numpy.ma.MaskedArray, float64, phi.shape
        The distance, negative where ``phi < 0``. A masked array when
        ``phi`` is masked or ``narrow > 0``, masked at obstacles and
        unreached nodes.
    """
    del self_test
    values, signs, mask = _solve_level_set(phi, None, dx, order, narrow, periodic, metric)
    return _result(values * signs, mask)


@_interrupt.interruptible
def travel_time(phi, speed, dx=1.0, self_test=False, order=2, narrow=0.0, periodic=False, *,
                metric=None):
    """Travel time from the zero level set of ``phi`` at the given speed.

    Solves ``|grad u|_{M^{-1}} = 1 / speed``. Parameters are those of
    :func:`distance`, plus

    Parameters
    ----------
    speed : float or array_like (or masked array), phi.shape
        Positive, finite speed; masked entries are obstacles.

    Returns
    -------
    ndarray or numpy.ma.MaskedArray, float64, phi.shape
        The travel time, positive on both sides of the level set (as in
        scikit-fmm); ``narrow`` bounds the time.
    """
    del self_test
    values, _, mask = _solve_level_set(phi, speed, dx, order, narrow, periodic, metric)
    return _result(values, mask)


@_interrupt.interruptible
def point_source(source: Sequence[float], shape: Optional[Sequence[int]] = None, speed=1.0,
                 dx=1.0, order: int = 2, narrow: float = 0.0, *, metric=None):
    """Travel time (distance at unit speed) from a point, source-factored.

    Parameters
    ----------
    source : sequence of float, length d
        The point, in the coordinates where node ``i`` lies at ``i * dx``;
        anywhere in the box, not necessarily on a node.
    shape : sequence of int, optional
        Grid shape; taken from ``speed`` or ``metric`` when they are arrays
        on the grid.
    speed : float or array_like (or masked array), shape
        Positive, finite speed; masked entries are obstacles.
    dx, order, narrow, metric
        As in :func:`distance`.

    Returns
    -------
    ndarray or numpy.ma.MaskedArray, float64, shape
        u >= 0 with u(source) = 0; masked as in :func:`distance`.

    Notes
    -----
    The march solves for tau = u / T0 with ``T0(x) = s0 |x - x0|_{M0}``, the
    slowness s0 and metric M0 interpolated at the source. With constant
    speed and metric the result is exact to rounding; with a smooth
    isotropic speed and ``order=2`` the error is O(h^1.5) in the maximum
    norm, O(h^1.7) RMS (measured on a linear velocity field, whose travel
    time is known in closed form; first order with a metric field). The nodes within two cells of the source are set from
    the straight segment (trapezoidal rule), even behind an obstacle there.
    """
    speed_mask = np.ma.getmaskarray(speed) if np.ma.isMaskedArray(speed) else None
    speed_arr = _validate.real_array(np.ma.getdata(speed), "speed") if speed is not None else np.ones(())
    metric_arr = None if metric is None else _validate.real_array(metric, "metric")
    if shape is None:
        if speed_arr.ndim in (2, 3):
            shape = speed_arr.shape
        elif metric_arr is not None and metric_arr.ndim in (4, 5):
            shape = metric_arr.shape[:-2]
        else:
            raise ValueError("give the grid shape: speed and metric are not arrays on a grid")
    shape_t = _shape(shape)
    d = len(shape_t)
    spacing = _spacing(dx, d)
    x0 = _validate.real_array(source, "source")
    if x0.shape != (d,) or not np.all(np.isfinite(x0)):
        raise ValueError(f"source must be {d} finite coordinates, got {source!r}")
    with np.errstate(over="ignore"):  # (a box beyond 1.8e308 is refused after the march)
        upper = spacing * (np.asarray(shape_t) - 1)
    if np.any(x0 < -1e-12 * spacing) or np.any(x0 > upper + 1e-12 * spacing):
        raise ValueError(f"source {x0.tolist()} lies outside the grid box [0, {upper.tolist()}]")
    x0 = np.clip(x0, 0.0, upper)
    obstacle = _mask_or_none(speed_mask, shape_t, "speed")
    slowness, exponent = _slowness(speed_arr, shape_t, obstacle)
    packed, m_full = _metric(metric_arr, shape_t)
    s0, m0 = _at_source(x0, spacing, shape_t, slowness, m_full, obstacle)
    values, mask = _march(shape_t, spacing, slowness, exponent, packed, obstacle, order, narrow, [False] * d,
                          obstacle is not None, source=x0, source_slowness=s0, source_metric=_pack(m0))
    return _result(values, mask)


# --- argument normalisation ---------------------------------------------------


def _solve_level_set(phi, speed, dx, order, narrow, periodic, metric):
    phi_mask = np.ma.getmaskarray(phi) if np.ma.isMaskedArray(phi) else None
    phi_arr = np.array(_validate.real_array(np.ma.getdata(phi), "phi"), dtype=float)
    if phi_arr.ndim not in (2, 3):
        raise ValueError(f"phi must be a 2D or 3D array, got ndim {phi_arr.ndim}")
    shape_t = _shape(phi_arr.shape)
    d = len(shape_t)
    spacing = _spacing(dx, d)
    masks = [phi_mask] if phi_mask is not None and phi_mask.any() else []
    speed_arr = np.ones(())
    if speed is not None:
        if np.ma.isMaskedArray(speed):
            sm = np.ma.getmaskarray(speed)
            if sm.shape != shape_t:
                raise ValueError(f"speed must have the shape of phi {shape_t}, got {sm.shape}")
            masks.append(sm)
        speed_arr = _validate.real_array(np.ma.getdata(speed), "speed")
    masked = phi_mask is not None or np.ma.isMaskedArray(speed)
    obstacle = np.logical_or.reduce(masks) if masks else None
    bad = ~np.isfinite(phi_arr)
    if obstacle is not None:
        bad &= ~obstacle
    if bad.any():
        raise ValueError(f"phi is not finite at node {_node(bad)}: {phi_arr[_node(bad)]}")
    slowness, exponent = _slowness(speed_arr, shape_t, obstacle)
    packed, _ = _metric(None if metric is None else _validate.real_array(metric, "metric"), shape_t)
    periodic_l = _periodic(periodic, d)
    if obstacle is not None:
        phi_arr[obstacle] = 1.0  # not read, but keep it finite
    try:
        values, mask = _march(shape_t, spacing, slowness, exponent, packed, obstacle, order, narrow, periodic_l,
                              masked, phi=phi_arr.ravel())
    except ValueError as exc:
        if "no zero level set" in str(exc):
            raise ValueError("the array phi contains no zero contour (no zero level set)") from None
        raise
    return values, np.where(phi_arr < 0, -1.0, 1.0), mask


def _march(shape_t, spacing, slowness, slowness_exponent, packed, obstacle, order, narrow, periodic, masked,
           **source):
    """Run the kernel on the problem scaled to lengths and times of order
    one; returns the values and the output mask (None for a plain array: no
    masked input and no narrow band).

    The travel time scales with the spacing, the slowness and the square
    root of the metric, so the kernel marches with each scaled by a power of
    two (exact: the same result, bit for bit, wherever nothing over- or
    underflows): the spacing into [1, 2), the metric's largest entry into
    [1, 4), the slowness as :func:`_slowness` gives it (its exponent
    ``slowness_exponent``). The kernel squares lengths and times: with dx or
    the speed beyond about 1e+-150 every node came out +inf, or the seeds
    were refused as not finite."""
    narrow = _narrow(narrow)
    length_exponent = int(np.frexp(np.max(spacing))[1]) - 1
    metric_exponent = 0
    if packed is not None:
        metric_exponent = (int(np.frexp(np.max(np.abs(packed)))[1]) - 1) // 2
        packed = np.ldexp(packed, -2 * metric_exponent)
    exponent = length_exponent + metric_exponent + slowness_exponent  # u = 2^exponent u_kernel
    if "source" in source:
        source = dict(source, source=np.ldexp(source["source"], -length_exponent),
                      source_metric=np.ldexp(source["source_metric"], -2 * metric_exponent))
    march = _core.eikonal2 if len(shape_t) == 2 else _core.eikonal3
    out = march(np.ldexp(spacing, -length_exponent), list(shape_t), slowness.ravel(), metric=packed,
                obstacle=None if obstacle is None else obstacle.ravel().view(np.uint8),
                order=_order(order), max_value=float(np.ldexp(narrow, -exponent)) if narrow > 0 else np.inf,
                periodic=periodic, **source)
    if not out.stats.converged:
        _warn.warn(f"the anisotropic sweeps did not settle in {out.stats.sweeps} sweeps: the result is an "
                   "upper bound of the scheme's solution", RuntimeWarning)
    reached = np.isfinite(out.values)
    with np.errstate(over="ignore", under="ignore"):
        values = np.ldexp(out.values, exponent)
    _check_representable(values, out.values, reached, obstacle, narrow > 0)
    if not (masked or narrow > 0):
        return values, None
    mask = ~np.isfinite(values)
    if obstacle is not None:
        mask |= obstacle
    return values, mask


def _check_representable(values, kernel_values, reached, obstacle, narrow: bool) -> None:
    """ValueError where the travel time is beyond double precision: above
    its largest number (the kernel leaves such nodes +inf: without a narrow
    band every node next to a reached one that is not an obstacle is
    reached), or positive but below its smallest normal number."""
    shape = reached.shape
    over = np.isinf(values) & reached
    if not narrow:
        unreached = ~reached if obstacle is None else ~reached & ~obstacle
        near = np.zeros(shape, dtype=bool)
        for axis in range(len(shape)):
            lo = (slice(None),) * axis + (slice(None, -1),)
            hi = (slice(None),) * axis + (slice(1, None),)
            near[lo] |= reached[hi]
            near[hi] |= reached[lo]
        over |= unreached & near
    if over.any():
        node = _node(over)
        raise ValueError(
            f"the travel time exceeds the largest double (1.8e308) at node {node}: scale the speed up or dx "
            "down (the travel time scales with dx / speed)")
    under = (kernel_values > 0) & (np.abs(values) < np.finfo(float).tiny)
    if under.any():
        node = _node(under)
        raise ValueError(
            f"the travel time at node {node} is below the smallest normal double (2.2e-308): scale the speed "
            "down or dx up (the travel time scales with dx / speed)")


def _result(values: np.ndarray, mask: Optional[np.ndarray]):
    if mask is None:
        return values
    return np.ma.MaskedArray(np.where(mask, 0.0, values), mask=mask)


def _shape(shape) -> Tuple[int, ...]:
    try:
        shape_t = tuple(operator.index(n) for n in shape)
    except TypeError:
        raise ValueError(f"shape must be a sequence of integers, got {shape!r}") from None
    if len(shape_t) not in (2, 3):
        raise ValueError(f"the grid must be 2D or 3D, got shape {shape_t}")
    if min(shape_t) < 3:
        raise ValueError(f"every axis needs at least 3 nodes, got shape {shape_t}")
    return shape_t


def _spacing(dx, d: int) -> np.ndarray:
    spacing = _validate.real_array(dx, "dx")
    if spacing.ndim == 0:
        spacing = np.full(d, float(spacing))
    if spacing.shape != (d,):
        raise ValueError(f"dx must be a number or {d} numbers, got {dx!r}")
    if not np.all(np.isfinite(spacing) & (spacing > 0)):
        raise ValueError(f"dx must be positive and finite, got {spacing.tolist()}")
    return spacing


def _order(order) -> int:
    if isinstance(order, (bool, np.bool_)) or order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    return int(order)


def _narrow(narrow) -> float:
    narrow = float(narrow)
    if not narrow >= 0:
        raise ValueError(f"narrow must be >= 0, got {narrow}")
    return narrow


def _periodic(periodic, d: int):
    """One flag per axis from a bool (0 and 1 count as bools) or a sequence
    of d of them."""
    def flag(value):
        if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
            return bool(value)
        return None

    single = flag(periodic)
    if single is not None:
        return [single] * d
    try:
        flags = [flag(p) for p in periodic] if not isinstance(periodic, (str, bytes)) else [None]
    except TypeError:
        flags = [None]
    if len(flags) != d or None in flags:
        raise ValueError(f"periodic must be a bool or a sequence of {d} bools (one per axis), got {periodic!r}")
    return flags


def _node(bad: np.ndarray) -> Tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape))


def _mask_or_none(mask, shape_t, name):
    if mask is None:
        return None
    if mask.shape != shape_t:
        raise ValueError(f"{name} must have shape {shape_t}, got {mask.shape}")
    return mask if mask.any() else None


def _slowness(speed: np.ndarray, shape_t, obstacle) -> Tuple[np.ndarray, int]:
    """1 / speed, scaled: one value (constant) or one per node (1.0 at
    obstacles), and the exponent e of the power of two it is scaled by
    (slowness = 2^e returned): the speed is scaled into [1, 2) where it is
    largest, so that any positive finite speed has a finite, normal
    slowness (1 / 1e-320 is +inf, 1 / 1e308 subnormal)."""
    if speed.ndim == 0:
        if not (np.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be positive and finite, got {float(speed)}")
        exponent = int(np.frexp(float(speed))[1]) - 1
        return np.array([1.0 / float(np.ldexp(float(speed), -exponent))]), -exponent
    if speed.shape != shape_t:
        raise ValueError(f"speed must be a number or an array of shape {shape_t}, got {speed.shape}")
    bad = ~(np.isfinite(speed) & (speed > 0))
    if obstacle is not None:
        bad &= ~obstacle
    if bad.any():
        node = _node(bad)
        raise ValueError(f"speed must be positive and finite; at node {node} it is {speed[node]}")
    slowness = np.ones(shape_t)
    ok = ~bad if obstacle is None else ~obstacle
    if not ok.any():
        return slowness, 0
    exponent = int(np.frexp(np.max(speed[ok]))[1]) - 1
    with np.errstate(over="ignore"):
        slowness[ok] = 1.0 / np.ldexp(speed[ok], -exponent)
    if not np.all(np.isfinite(slowness)):
        slow, fast = _node(ok & ~np.isfinite(slowness)), _node(ok & (speed == np.max(speed[ok])))
        raise ValueError(
            f"speed spans more than double precision holds: {speed[slow]:.3g} at node {slow} is below "
            f"{speed[fast]:.3g} at node {fast} by more than the largest double (1.8e308)")
    return slowness, -exponent


def _metric(metric: Optional[np.ndarray], shape_t):
    """Packed upper triangles for the kernel, and the (..., d, d) array;
    checks first that the march fits in memory."""
    _memory.require(_memory.eikonal_bytes(shape_t, metric is not None and metric.ndim > 2),
                    f"an eikonal march on {shape_t} nodes")
    if metric is None:
        return None, None
    d = len(shape_t)
    if metric.shape == (d, d):
        field = metric[None]
        describe = lambda i: "the constant metric"  # noqa: E731
    elif metric.shape == shape_t + (d, d):
        field = metric.reshape(-1, d, d)
        describe = lambda i: f"node {tuple(int(k) for k in np.unravel_index(i, shape_t))}"  # noqa: E731
    else:
        raise ValueError(f"metric must have shape ({d}, {d}) or {shape_t + (d, d)}, got {metric.shape}")
    if not np.all(np.isfinite(field)):
        i = int(np.flatnonzero(~np.all(np.isfinite(field), axis=(1, 2)))[0])
        raise ValueError(f"metric is not finite at {describe(i)}")
    check_spd(field, describe, name="metric")
    return _pack(field).ravel(), metric


def _pack(m: np.ndarray) -> np.ndarray:
    d = m.shape[-1]
    return np.stack([m[..., i, j] for i in range(d) for j in range(i, d)], axis=-1)


def _at_source(x0, spacing, shape_t, slowness, metric, obstacle):
    """Slowness and metric at the source, multilinear over the cell's
    corners that are not obstacles."""
    d = len(shape_t)
    t = x0 / spacing
    cell = np.minimum(np.floor(t).astype(int), np.asarray(shape_t) - 2)
    frac = t - cell
    s0, m0, total = 0.0, np.zeros((d, d)), 0.0
    for corner in range(1 << d):
        bits = [(corner >> k) & 1 for k in range(d)]
        node = tuple(int(cell[k] + bits[k]) for k in range(d))
        w = float(np.prod([frac[k] if bits[k] else 1 - frac[k] for k in range(d)]))
        if w == 0.0 or (obstacle is not None and obstacle[node]):
            continue
        s0 += w * (slowness.flat[0] if slowness.size == 1 else slowness[node])
        if metric is not None:
            m0 += w * (metric if metric.ndim == 2 else metric[node])
        total += w
    if total == 0.0:
        raise ValueError(f"the source {x0.tolist()} lies in a cell of obstacles")
    m0 = m0 / total if metric is not None else np.eye(d)
    return s0 / total, m0
