"""Domains that Monte Carlo paths start in and exit from: balls, boxes and
level sets, each with a signed distance to its boundary and the outward
normal (and their description for the kernel)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from .. import _core, _validate
from ..grid import Grid
from ..problem import describe_node, describe_point
from ..problem.cycle import LimitCycle

__all__ = ["Domain", "Ball", "Box", "LevelSet", "Tube"]


class Domain:
    """An open set of R^d that paths start in and exit from."""

    ndim: int

    def distance(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Signed distance to the boundary (positive inside) and the outward
        unit normal, for points ``(..., d)``."""
        raise NotImplementedError

    def contains(self, x) -> np.ndarray:
        """Which points ``(..., d)`` lie inside."""
        return self.distance(np.asarray(x, dtype=float))[0] > 0

    def project(self, x: np.ndarray) -> np.ndarray:
        """The boundary point nearest to each point ``(..., d)``."""
        dist, normal = self.distance(x)
        return x + dist[..., None] * normal

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """A box containing the domain."""
        raise NotImplementedError

    def boundary_points(self, n: int = 2000) -> np.ndarray:
        """Points spread over the boundary, ``(m, d)``, about n of them."""
        raise NotImplementedError

    def kernel_spec(self, grid: Grid) -> dict:
        """The domain as the kernel's Euler-Maruyama engine takes it (on the
        fields' grid)."""
        raise NotImplementedError

    def check_dimension(self, d: int) -> None:
        """ValueError unless the domain is d-dimensional."""
        if d != self.ndim:
            raise ValueError(f"the domain is {self.ndim}-dimensional but the SDE is {d}-dimensional")


class Ball(Domain):
    """The open ball ``|x - center| < radius``, in any dimension."""

    def __init__(self, center: Sequence[float], radius: float):
        self.center = _validate.vector(center, "center")
        self.ndim = len(self.center)
        self.radius = _validate.positive(radius, "radius")

    def distance(self, x):
        y = x - self.center
        r = np.linalg.norm(y, axis=-1)
        safe = np.where(r > 0, r, 1.0)[..., None]
        normal = np.where(r[..., None] > 0, y / safe, np.eye(self.ndim)[0])
        return self.radius - r, normal

    def bounds(self):
        return self.center - self.radius, self.center + self.radius

    def boundary_points(self, n=2000):
        if self.ndim == 2:
            t = np.linspace(0, 2 * np.pi, n, endpoint=False)
            return self.center + self.radius * np.stack([np.cos(t), np.sin(t)], axis=-1)
        if self.ndim != 3:
            # Any d: normalised Gaussian directions, from a fixed seed (the
            # same points on every call).
            u = np.random.default_rng(0).standard_normal((n, self.ndim))
            return self.center + self.radius * u / np.linalg.norm(u, axis=1, keepdims=True)
        # Fibonacci sphere
        k = np.arange(n) + 0.5
        z = 1 - 2 * k / n
        phi = np.pi * (1 + 5**0.5) * k
        r = np.sqrt(1 - z**2)
        return self.center + self.radius * np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)

    def kernel_spec(self, grid):
        return dict(kind=_core.DomainKind.BALL, center=self.center, radius=self.radius, lower=self.center,
                    upper=self.center + 1.0, level=None)

    def __repr__(self):
        return f"Ball(center={tuple(self.center)}, radius={self.radius})"


class Box(Domain):
    """The open box ``lower < x < upper``."""

    def __init__(self, lower: Sequence[float], upper: Sequence[float]):
        self.lower = _validate.vector(lower, "lower")
        self.upper = _validate.vector(upper, "upper")
        if self.lower.shape != self.upper.shape:
            raise ValueError(f"lower and upper differ in length: {self.lower.shape} and {self.upper.shape}")
        if not np.all(self.lower < self.upper):
            raise ValueError(f"lower must be below upper on every axis, got {self.lower} and {self.upper}")
        self.ndim = len(self.lower)

    def distance(self, x):
        gaps = np.concatenate([x - self.lower, self.upper - x], axis=-1)
        face = np.argmin(gaps, axis=-1)
        d = self.ndim
        normal = np.zeros(x.shape)
        axis = face % d
        np.put_along_axis(normal, axis[..., None], np.where(face < d, -1.0, 1.0)[..., None], axis=-1)
        return np.take_along_axis(gaps, face[..., None], axis=-1)[..., 0], normal

    def project(self, x):
        dist, normal = self.distance(x)
        p = np.clip(x, self.lower, self.upper)
        return np.where(normal > 0, self.upper, np.where(normal < 0, self.lower, p))

    def bounds(self):
        return self.lower.copy(), self.upper.copy()

    def boundary_points(self, n=2000):
        d = self.ndim
        per = max(2, int(round((n / (2 * d)) ** (1 / (d - 1)))))
        out = []
        for k in range(d):
            others = [np.linspace(self.lower[j], self.upper[j], per) for j in range(d) if j != k]
            mesh = np.stack(np.meshgrid(*others, indexing="ij"), axis=-1).reshape(-1, d - 1)
            for value in (self.lower[k], self.upper[k]):
                out.append(np.insert(mesh, k, value, axis=1))
        return np.concatenate(out)

    def kernel_spec(self, grid):
        return dict(kind=_core.DomainKind.BOX, center=self.lower, radius=1.0, lower=self.lower, upper=self.upper, level=None)

    def __repr__(self):
        return f"Box(lower={tuple(self.lower)}, upper={tuple(self.upper)})"


class LevelSet(Domain):
    """The set ``{x : g(x) < 0}`` within the box ``[lower, upper]``.

    g is a callable on points ``(..., d)``; ``gradient`` (optional) its
    gradient, else central differences. The signed distance is taken as
    ``-g / |grad g|``, exact for a g that is itself a distance and first
    order otherwise: fine for the boundary shift, which is O(sqrt(dt)).
    The native engine samples g on its grid (multilinear between nodes).
    """

    def __init__(self, g: Callable[[np.ndarray], np.ndarray], lower: Sequence[float],
                 upper: Sequence[float], gradient: Optional[Callable] = None):
        if not callable(g):
            raise TypeError(f"g must be a callable on points (..., d), got {type(g).__name__}")
        self.g = g
        self.gradient = gradient
        self.box = Box(lower, upper)
        self.ndim = self.box.ndim

    def _g(self, x):
        return _validate.real_array(self.g(x), "the level set's g")

    def _grad(self, x):
        if self.gradient is not None:
            return _validate.real_array(self.gradient(x), "the level set's gradient")
        h = 1e-6 * np.max(self.box.upper - self.box.lower)
        out = np.empty(x.shape)
        for k in range(self.ndim):
            e = np.zeros(self.ndim)
            e[k] = h
            out[..., k] = (self._g(x + e) - self._g(x - e)) / (2 * h)
        return out

    def distance(self, x):
        value = self._g(x)
        grad = self._grad(x)
        box_dist, box_normal = self.box.distance(x)
        outside_box = box_dist <= 0
        # A NaN g would leave a path neither inside nor outside (it never
        # exits): the level set must be defined wherever paths go in its box.
        undefined = ~outside_box & (np.isnan(value) | np.any(np.isnan(grad), axis=-1))
        if undefined.any():
            where = x[undefined][0]
            what = "g" if np.isnan(value[undefined][0]) else "the gradient of g"
            raise ValueError(f"{what} of the level set {self!r} is NaN at {describe_point(where)}, inside its box: "
                             "define g wherever paths can go")
        gn = np.linalg.norm(grad, axis=-1)
        ok = gn > 0
        safe = np.where(ok, gn, 1.0)
        normal = grad / safe[..., None]
        dist = np.where(ok, -value / safe, np.where(value < 0, np.inf, -1.0))
        return (np.where(outside_box, np.minimum(box_dist, -1e-300), dist),
                np.where(outside_box[..., None], box_normal, normal))

    def bounds(self):
        return self.box.bounds()

    def boundary_points(self, n=2000):
        """Zero crossings of g along the edges of a grid over the box."""
        d = self.ndim
        per = max(8, int(round(n ** (1 / (d - 1)))) * 2)
        grid = Grid(self.box.lower, self.box.upper, (per,) * d)
        pts = grid.points()
        g = self._g(pts)
        out = []
        for k in range(d):
            a = [slice(None)] * d
            b = [slice(None)] * d
            a[k] = slice(0, -1)
            b[k] = slice(1, None)
            ga, gb = g[tuple(a)], g[tuple(b)]
            cross = (ga < 0) != (gb < 0)
            t = ga[cross] / (ga[cross] - gb[cross])
            pa, pb = pts[tuple(a)][cross], pts[tuple(b)][cross]
            out.append(pa + t[:, None] * (pb - pa))
        return np.concatenate(out) if out else np.empty((0, d))

    def kernel_spec(self, grid):
        lo, hi = self.box.bounds()
        pts = grid.points()
        g = self._g(pts)
        if g.shape != grid.shape:
            raise ValueError(f"the level set's g returned shape {g.shape} for points of shape {pts.shape}")
        # Outside the box is outside the domain (fmax: whatever g is there).
        inside_box = np.all((pts > lo) & (pts < hi), axis=-1)
        undefined = inside_box & np.isnan(g)
        if undefined.any():
            raise ValueError(f"g of the level set {self!r} is NaN at {describe_node(grid, np.flatnonzero(undefined)[0])}, "
                             "inside its box: define g wherever paths can go")
        g = np.where(inside_box, g, np.fmax(g, np.max(np.abs(grid.spacing))))
        return dict(kind=_core.DomainKind.LEVEL_SET, center=lo, radius=1.0, lower=lo, upper=hi, level=np.ascontiguousarray(g))

    def __repr__(self):
        name = getattr(self.g, "__name__", "g")
        return f"LevelSet({name} < 0)"


class Tube(LevelSet):
    """The open tube ``{x : dist(x, G) < radius}`` around a closed curve G:
    a limit cycle (:class:`hjqp.LimitCycle`) or points (n, d) along a closed
    curve (joined by straight segments). Paths started on a cycle exit it
    at the least quasi-potential on its boundary (the barrier
    min over the boundary of U, :func:`hjqp.verify.exit_barrier`).

    The distance is exact (the nearest point of the cycle, or of the
    polygon); the native engine samples it on its grid like any level set.
    """

    def __init__(self, cycle, radius: float):
        if isinstance(cycle, LimitCycle):
            self.cycle = cycle
            curve = np.asarray(cycle.curve)
        else:
            curve = _validate.real_array(cycle, "cycle")
            if curve.ndim != 2 or len(curve) < 3 or curve.shape[1] not in (2, 3) or not np.all(np.isfinite(curve)):
                raise ValueError(f"cycle must be a LimitCycle or finite points (n >= 3, 2 or 3), got shape {curve.shape}")
            self.cycle = None
        if not (np.isfinite(radius) and radius > 0):
            raise ValueError(f"radius must be positive and finite, got {radius!r}")
        self.curve = curve
        self.radius = float(radius)
        lo, hi = curve.min(axis=0) - 1.5 * self.radius, curve.max(axis=0) + 1.5 * self.radius
        super().__init__(self._g, lo, hi, gradient=self._gradient)

    def _foot(self, x):
        x = np.asarray(x, dtype=float)
        if self.cycle is not None:
            return self.cycle.nearest(x)[1]
        # The nearest point of the closed polygon.
        a = self.curve
        b = np.roll(a, -1, axis=0)
        q = x.reshape(-1, a.shape[1])
        v = b - a
        t = np.clip(np.einsum("pnk,nk->pn", q[:, None, :] - a[None], v) / np.einsum("nk,nk->n", v, v), 0, 1)
        pts = a[None] + t[..., None] * v[None]
        k = np.argmin(np.sum((pts - q[:, None, :]) ** 2, axis=-1), axis=1)
        return pts[np.arange(len(q)), k].reshape(x.shape)

    def _g(self, x):
        x = np.asarray(x, dtype=float)
        return np.linalg.norm(x - self._foot(x), axis=-1) - self.radius

    def _gradient(self, x):
        x = np.asarray(x, dtype=float)
        y = x - self._foot(x)
        r = np.linalg.norm(y, axis=-1, keepdims=True)
        return np.where(r > 0, y / np.where(r > 0, r, 1.0), 0.0)

    def distance(self, x):
        x = np.asarray(x, dtype=float)
        value = self._g(x)
        return -value, self._gradient(x)

    def boundary_points(self, n=2000):
        d = self.curve.shape[1]
        pts = self.cycle.resample(max(8, n if d == 2 else int(np.sqrt(n) * 4))) if self.cycle is not None else self.curve
        tangent = np.roll(pts, -1, axis=0) - np.roll(pts, 1, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        if d == 2:
            normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=-1)
            return np.concatenate([pts + self.radius * normal, pts - self.radius * normal])
        # Circles in the normal planes.
        helper = np.where(np.abs(tangent[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
        e1 = np.cross(tangent, helper)
        e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
        e2 = np.cross(tangent, e1)
        m = max(8, int(n / len(pts)))
        a = np.linspace(0, 2 * np.pi, m, endpoint=False)
        ring = np.cos(a)[None, :, None] * e1[:, None, :] + np.sin(a)[None, :, None] * e2[:, None, :]
        return (pts[:, None, :] + self.radius * ring).reshape(-1, 3)

    def __repr__(self):
        return f"Tube(radius={self.radius}, around {len(self.curve)} points)"
