"""Slow pure-Python versions of the kernel's local update rules.

They follow the definitions in cpp/include/hjqp/{action,update}.hpp with
independent code: numpy for the algebra, scipy for the minimisations. The
tests compare them with the compiled rules on small grids.
"""

import numpy as np
from scipy.optimize import minimize, minimize_scalar


def lagrangian(b, A, v):
    """|v|_A |b|_A - <v, b>_A."""
    return np.sqrt((v @ A @ v) * (b @ A @ b)) - v @ A @ b


def momentum(b, A, v):
    """dl/dv = (|b|_A / |v|_A) A v - A b."""
    return np.sqrt((b @ A @ b) / (v @ A @ v)) * (A @ v) - A @ b


def simpson_segment(fy, fm, fx, chord):
    """Simpson's rule on the straight segment; f = (b, A)."""
    return (lagrangian(*fy, chord) + 4 * lagrangian(*fm, chord) + lagrangian(*fx, chord)) / 6


def mean(f, g, w=0.5):
    return ((1 - w) * f[0] + w * g[0], (1 - w) * f[1] + w * g[1])


def one_point_update(y, uy, fy, x, fx):
    chord = x - y
    value = uy + simpson_segment(fy, mean(fy, fx), fx, chord)
    return value, momentum(*fx, chord)


def triangle_update(a, ua, fa, b, ub, fb, x, fx):
    def cost(s):
        fy = mean(fa, fb, s)
        return ua + s * (ub - ua) + simpson_segment(fy, mean(fy, fx), fx, x - (a + s * (b - a)))

    grid = np.linspace(0.0, 1.0, 201)
    k = int(np.argmin([cost(s) for s in grid]))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, 200)]
    res = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    candidates = [(res.fun, res.x), (cost(grid[k]), grid[k])]
    return min(candidates)


class GridFields:
    """Drift and diffusion on a grid, with cubic convolution (Keys, a = -1/2)
    of b and A = D^{-1}, multilinear in cells at the box edge."""

    def __init__(self, lower, spacing, drift, diffusion):
        self.lower = np.asarray(lower, float)
        self.h = np.asarray(spacing, float)
        self.b = drift
        self.A = np.linalg.inv(diffusion)
        self.shape = drift.shape[:2]

    @staticmethod
    def _keys(t):
        return np.array([
            ((-0.5 * t + 1.0) * t - 0.5) * t,
            (1.5 * t - 2.5) * t * t + 1.0,
            ((-1.5 * t + 2.0) * t + 0.5) * t,
            (0.5 * t - 0.5) * t * t,
        ])

    def at(self, p):
        t = np.clip((np.asarray(p) - self.lower) / self.h, 0, np.array(self.shape) - 1)
        cell = np.minimum(t.astype(int), np.array(self.shape) - 2)
        f = t - cell
        if np.all(cell >= 1) and np.all(cell + 2 <= np.array(self.shape) - 1):
            wx, wy = self._keys(f[0]), self._keys(f[1])
            i, j = cell - 1
            w = np.outer(wx, wy)
            b = np.einsum("ab,abk->k", w, self.b[i:i + 4, j:j + 4])
            A = np.einsum("ab,abkl->kl", w, self.A[i:i + 4, j:j + 4])
            return b, A
        wx = np.array([1 - f[0], f[0]])
        wy = np.array([1 - f[1], f[1]])
        i, j = cell
        w = np.outer(wx, wy)
        b = np.einsum("ab,abk->k", w, self.b[i:i + 2, j:j + 2])
        A = np.einsum("ab,abkl->kl", w, self.A[i:i + 2, j:j + 2])
        return b, A


def lobatto_cubic(fields, y, vy, x, vx, fy, fx):
    """Action of the cubic Hermite piece by 4-point Gauss-Lobatto."""
    def P(t):
        return ((2 * t**3 - 3 * t**2 + 1) * y + (t**3 - 2 * t**2 + t) * vy
                + (-2 * t**3 + 3 * t**2) * x + (t**3 - t**2) * vx)

    def dP(t):
        return ((6 * t**2 - 6 * t) * y + (3 * t**2 - 4 * t + 1) * vy
                + (-6 * t**2 + 6 * t) * x + (3 * t**2 - 2 * t) * vx)

    t1, t2 = (1 - 1 / np.sqrt(5)) / 2, (1 + 1 / np.sqrt(5)) / 2
    inner = lagrangian(*fields.at(P(t1)), dP(t1)) + lagrangian(*fields.at(P(t2)), dP(t2))
    return (lagrangian(*fy, vy) + lagrangian(*fx, vx) + 5 * inner) / 12


def jet_update(fields, a, ua, ga, b, ub, gb, x):
    """min over s in [0, 1] and free unit tangents (angles) of
    U_Hermite(y(s)) + S(cubic piece y(s) -> x); returns (value, gradient)."""
    edge = b - a
    da, db = ga @ edge, gb @ edge
    fx = fields.at(x)

    def base(s):
        h10, h01, h11 = s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
        return ua + h10 * da + h01 * (ub - ua) + h11 * db, a + s * edge

    def piece(w):
        s, pa, pb = w
        u, y = base(s)
        length = np.linalg.norm(x - y)
        vy = length * np.array([np.cos(pa), np.sin(pa)])
        vx = length * np.array([np.cos(pb), np.sin(pb)])
        return u, y, vy, vx

    def objective(w):
        u, y, vy, vx = piece(w)
        return u + lobatto_cubic(fields, y, vy, x, vx, fields.at(y), fx)

    best = None
    chord_angle = None
    for s0 in np.linspace(0.05, 0.95, 7):
        _, y = base(s0)
        c = x - y
        chord_angle = np.arctan2(c[1], c[0])
        res = minimize(objective, [s0, chord_angle, chord_angle], method="L-BFGS-B",
                       bounds=[(0.0, 1.0), (None, None), (None, None)],
                       options={"ftol": 1e-16, "gtol": 1e-13, "maxiter": 500})
        if best is None or res.fun < best.fun:
            best = res
    u, y, vy, vx = piece(best.x)
    delta = 1e-5 * np.linalg.norm(x - y)
    grad = np.empty(2)
    for k in range(2):
        e = np.zeros(2)
        e[k] = delta
        sp = lobatto_cubic(fields, y, vy, x + e, vx, fields.at(y), fields.at(x + e))
        sm = lobatto_cubic(fields, y, vy, x - e, vx, fields.at(y), fields.at(x - e))
        grad[k] = (sp - sm) / (2 * delta)
    return best.fun, grad, best.x[0]


def upwind_edge(grid, drift, diffusion, exact_gradient, x, distance):
    """Indices (i, j) of the two nodes of the grid edge that the exact
    characteristic through node x crosses about `distance` behind it, and
    the crossing's parameter s along the edge; None near the box edge."""
    h = np.asarray(grid.spacing)
    lo = np.asarray(grid.lower)
    p = np.array(x, dtype=float)
    step = 0.05 * h.min()
    travelled = 0.0
    while travelled < distance:
        t = drift(p[None])[0] + diffusion(p[None])[0] @ exact_gradient(p[None])[0]
        if not np.linalg.norm(t) > 0:
            return None
        p_new = p - step * t / np.linalg.norm(t)
        u_old, u_new = (p - lo) / h, (p_new - lo) / h
        for axis in range(2):
            if travelled > 0.5 * distance and np.floor(u_old[axis]) != np.floor(u_new[axis]):
                line = int(max(np.floor(u_old[axis]), np.floor(u_new[axis])))
                frac = (line - u_old[axis]) / (u_new[axis] - u_old[axis])
                z = (p + frac * (p_new - p) - lo) / h
                other = 1 - axis
                j = int(np.floor(z[other]))
                if j < 0 or j + 1 >= grid.shape[other] or line < 0 or line >= grid.shape[axis]:
                    return None
                a = [0, 0]
                a[axis], a[other] = line, j
                b = list(a)
                b[other] = j + 1
                return tuple(a), tuple(b), z[other] - j
        p = p_new
        travelled += step
    return None


def _simplex_minimum(cost, starts=7):
    """min of cost(u, v) over the triangle u, v >= 0, u + v <= 1: the best
    point of a fine sample, refined by SLSQP. Returns (value, (u, v))."""
    best = (np.inf, None)
    n = 40
    for i in range(n + 1):
        for j in range(n + 1 - i):
            w = np.array([i / n, j / n])
            f = cost(w)
            if f < best[0]:
                best = (f, w)
    cons = [{"type": "ineq", "fun": lambda w: 1.0 - w[0] - w[1]}]
    res = minimize(cost, best[1], method="SLSQP", bounds=[(0.0, 1.0), (0.0, 1.0)], constraints=cons,
                   options={"ftol": 1e-15, "maxiter": 500})
    if res.success and res.fun < best[0]:
        best = (res.fun, res.x)
    return best


def tetrahedron_update(p, u, f, x, fx):
    """The 3-point update: y ranges over the triangle p[0], p[1], p[2], U
    linear, the fields linear (f[i] = (b, A)), the straight segment by
    Simpson's rule with the midpoint fields the mean of the end fields.
    Returns (value, y)."""
    def fields_at(w):
        l = (1 - w[0] - w[1], w[0], w[1])
        return (sum(l[i] * f[i][0] for i in range(3)), sum(l[i] * f[i][1] for i in range(3)))

    def cost(w):
        l = (1 - w[0] - w[1], w[0], w[1])
        y = sum(l[i] * p[i] for i in range(3))
        fy = fields_at(w)
        return sum(l[i] * u[i] for i in range(3)) + simpson_segment(fy, mean(fy, fx), fx, x - y)

    value, w = _simplex_minimum(cost)
    return value, p[0] + w[0] * (p[1] - p[0]) + w[1] * (p[2] - p[0])


def zienkiewicz(p, u, g, l):
    """Zienkiewicz's cubic interpolant on a triangle from the vertices'
    values u and gradients g, at barycentric coordinates l."""
    bubble = l[0] * l[1] * l[2]
    total = 0.0
    for i in range(3):
        total += u[i] * (l[i] ** 2 * (3 - 2 * l[i]) + 2 * bubble)
        for j in range(3):
            if j != i:
                total += (g[i] @ (p[j] - p[i])) * (l[i] ** 2 * l[j] + 0.5 * bubble)
    return total


def triangle_jet_update(p, u, g, f, x, fx, midpoint_fields):
    """The 3D jet update: y over the triangle, U(y) Zienkiewicz's cubic of
    the vertex 1-jets, the path the cubic Hermite piece leaving y along
    b + D g (fields and g linear over the triangle) and arriving along its
    mirror image across the chord, Simpson's rule with the midpoint fields
    from midpoint_fields(point) -> (b, A). f[i] = (b, A, D).

    Returns (value, (u, v), held): held(w, x_end, fx_end) is the action of
    the piece from base point w with its tangents held, ended at x_end with
    fields fx_end there (for dS/dx by differences)."""
    def base(w):
        l = (1 - w[0] - w[1], w[0], w[1])
        y = sum(l[i] * p[i] for i in range(3))
        b = sum(l[i] * f[i][0] for i in range(3))
        A = sum(l[i] * f[i][1] for i in range(3))
        D = sum(l[i] * f[i][2] for i in range(3))
        grad = sum(l[i] * g[i] for i in range(3))
        t = b + D @ grad
        return zienkiewicz(p, u, g, l), y, (b, A), t / np.linalg.norm(t)

    def piece(w, target):
        value, y, fy, t = base(w)
        c = target - y
        length = np.linalg.norm(c)
        c = c / length
        if not t @ c >= 0.2:
            t = c
        return value, y, fy, length * t, length * (2 * (t @ c) * c - t)

    def action(y, vy, x_end, vx, fy, fx_end):
        mid = 0.5 * (y + x_end) + (vy - vx) / 8
        vmid = 1.5 * (x_end - y) - 0.25 * (vy + vx)
        return (lagrangian(*fy, vy) + 4 * lagrangian(*midpoint_fields(mid), vmid) + lagrangian(*fx_end, vx)) / 6

    def cost(w):
        value, y, fy, vy, vx = piece(w, x)
        return value + action(y, vy, x, vx, fy, fx)

    value, w = _simplex_minimum(cost)

    def held(base_point, x_end, fx_end):
        # The action with the piece from base point (u, v) to x, its
        # tangents held, ending at x_end with fields fx_end.
        _, y, fy, vy, vx = piece(base_point, x)
        return action(y, vy, x_end, vx, fy, fx_end)

    return value, w, held
