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


# --- eikonal (cpp/include/hjqp/eikonal.hpp) ----------------------------------


def eikonal_fast_marching(shape, dx, slowness, order, seeds=None, source=None, side=None):
    """The isotropic fast-marching scheme, written out node by node in 2D.

    seeds: {(i, j): value} (level-set data) with side: sign of phi per node
    (updates use nodes of the same side; a second upwind node across the
    level set enters with value -u); source: a point (x0, y0) for the
    factored scheme, whose 4 x 4 block of nodes around its cell is seeded
    by the trapezoidal rule. Returns u (shape).
    """
    import heapq

    n0, n1 = shape
    h = np.asarray(dx, dtype=float)
    inf = np.inf
    u = np.full(shape, inf)
    tau = np.ones(shape)
    accepted = np.zeros(shape, dtype=bool)
    x0 = None if source is None else np.asarray(source, dtype=float)
    s0 = None

    def t0_and_gradient(node):
        if x0 is None:
            return 1.0, np.zeros(2), np.zeros(2)
        q = np.array(node) * h - x0
        r = np.hypot(*q)
        return s0 * r, s0 * q / r if r > 0 else np.zeros(2), q

    def tau_of(node):
        return tau[node] if x0 is not None else u[node]

    if x0 is not None:
        cell = np.minimum(np.floor(x0 / h).astype(int), np.array(shape) - 2)
        frac = x0 / h - cell
        s0 = sum(w * slowness[cell[0] + a, cell[1] + b]
                 for a, b, w in [(0, 0, (1 - frac[0]) * (1 - frac[1])), (1, 0, frac[0] * (1 - frac[1])),
                                 (0, 1, (1 - frac[0]) * frac[1]), (1, 1, frac[0] * frac[1])])
        seeds = {}
        for i in range(max(cell[0] - 1, 0), min(cell[0] + 2, n0 - 1) + 1):
            for j in range(max(cell[1] - 1, 0), min(cell[1] + 2, n1 - 1) + 1):
                dist = np.hypot(*(np.array([i, j]) * h - x0))
                value = 0.5 * (s0 * dist + slowness[i, j] * dist)
                seeds[(i, j)] = value
                tau[i, j] = value / (s0 * dist) if dist > 0 else 1.0
    for node, value in seeds.items():
        u[node] = value
        accepted[node] = True

    def inside(node):
        return 0 <= node[0] < n0 and 0 <= node[1] < n1

    def same_side(a, b):
        return side is None or side[b] == 0 or side[a] == side[b]

    def solve_set(terms, s):
        a = sum(t[0] ** 2 for t in terms)
        b = sum(t[0] * t[1] for t in terms)
        c = sum(t[1] ** 2 for t in terms) - s * s
        if not a > 0:
            return None
        disc = b * b - a * c
        if disc > 1e-6 * b * b:
            root = (-b + np.sqrt(disc)) / a
        else:
            # Cancellation: about the least-squares point, as the kernel.
            centre = -b / a
            r = sum((t[0] * centre + t[1]) ** 2 for t in terms) if len(terms) > 1 else 0.0
            if s < np.sqrt(r):
                return None
            root = centre + np.sqrt((s - np.sqrt(r)) * (s + np.sqrt(r)) / a)
        eps = 4 * np.finfo(float).eps
        if root <= 0 or any(t[4] * (t[2] * root + t[3]) < -eps * (abs(t[2] * root) + abs(t[3])) for t in terms):
            return None
        return root

    def solve(terms, s):
        best = solve_set(terms, s)
        if best is None and len(terms) == 2:
            roots = [r for r in (solve_set([t], s) for t in terms) if r is not None]
            best = min(roots) if roots else None
        return best

    def update(node):
        t0, g, q = t0_and_gradient(node)
        if x0 is not None and t0 == 0:
            return None
        terms = []
        for k in range(2):
            e = np.eye(2, dtype=int)[k]
            back, ahead = tuple(np.array(node) - e), tuple(np.array(node) + e)
            ok_back = inside(back) and accepted[back] and same_side(node, back)
            ok_ahead = inside(ahead) and accepted[ahead] and same_side(node, ahead)
            if not ok_back and not ok_ahead:
                if (x0 is not None and g[k] != 0 and abs(q[k]) < h[k] and inside(back) and inside(ahead)):
                    terms.append((g[k], 0.0, g[k], 0.0, np.sign(g[k])))
                continue
            step = -1 if ok_back and not (ok_ahead and u[ahead] < u[back]) else 1
            j1 = back if step < 0 else ahead
            alpha, beta = 1.0, tau_of(j1)
            j2 = tuple(np.array(node) + 2 * step * e)
            if order == 2 and inside(j2) and accepted[j2]:
                across = not same_side(node, j2)
                if (-u[j2] if across else u[j2]) <= u[j1]:
                    alpha, beta = 1.5, 2 * tau_of(j1) - 0.5 * (-u[j2] if across else tau_of(j2))
            sign = 1.0 if step < 0 else -1.0
            terms.append((g[k] + t0 * sign * alpha / h[k], -t0 * sign * beta / h[k],
                          g[k] + t0 * sign / h[k], -t0 * sign * tau_of(j1) / h[k], sign))
        if not terms:
            return None
        best = solve(terms, slowness[node])
        if best is None and order == 2:
            best = solve([(t[2], t[3], t[2], t[3], t[4]) for t in terms], slowness[node])
        return None if best is None else (t0 * best, best)

    heap = []  # (u, flat index); stale entries are skipped

    def relax_neighbours(node):
        for e in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nb = (node[0] + e[0], node[1] + e[1])
            if inside(nb) and not accepted[nb]:
                result = update(nb)
                if result:
                    u[nb], tau[nb] = result
                    heapq.heappush(heap, (u[nb], nb[0] * n1 + nb[1]))

    for node in seeds:
        relax_neighbours(node)
    while heap:
        value, flat = heapq.heappop(heap)
        node = divmod(flat, n1)
        if accepted[node] or value != u[node]:
            continue
        accepted[node] = True
        relax_neighbours(node)
    return u


def eikonal_ring_fixed_point(shape, dx, slowness, metric, seeds, domain, sweeps=200):
    """The fixed point of the anisotropic 2D ring scheme by Gauss-Seidel.

    u(x) = min over the 8 neighbours y (one-point: u_y plus the segment in
    the trapezoidal slowness and metric) and the 8 ring edges [a, b] (the
    linear interpolant plus the segment length in the mean slowness and
    metric of x, a and b, minimised numerically; an edge contributes its
    interior minimum only: its ends are the one-point updates). seeds:
    {(i, j): value}; only nodes where `domain` is true take part.
    """
    n0, n1 = shape
    h = np.asarray(dx, dtype=float)
    u = np.full(shape, np.inf)
    for node, value in seeds.items():
        u[node] = value
    ring = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]

    def local(i, j):
        best = np.inf
        members = []
        for o in ring:
            y = (i + o[0], j + o[1])
            members.append(y if 0 <= y[0] < n0 and 0 <= y[1] < n1 and domain[y] and np.isfinite(u[y]) else None)
        for o, y in zip(ring, members):
            if y is None:
                continue
            p = -np.array(o) * h
            best = min(best, u[y] + 0.5 * (slowness[i, j] * np.sqrt(p @ metric[i, j] @ p)
                                           + slowness[y] * np.sqrt(p @ metric[y] @ p)))
        for k in range(8):
            a, b = members[k], members[(k + 1) % 8]
            if a is None or b is None:
                continue
            s = 0.5 * (slowness[i, j] + 0.5 * (slowness[a] + slowness[b]))
            m = 0.5 * (metric[i, j] + 0.5 * (metric[a] + metric[b]))
            pa, pb = -np.array(ring[k]) * h, -np.array(ring[(k + 1) % 8]) * h

            def cost(t):
                v = (1 - t) * pa + t * pb
                return (1 - t) * u[a] + t * u[b] + s * np.sqrt(v @ m @ v)

            res = minimize_scalar(cost, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-12})
            if 1e-7 < res.x < 1 - 1e-7:
                best = min(best, res.fun)
        return best

    for sweep in range(sweeps):
        change = 0.0
        order = [(i, j) for i in range(n0) for j in range(n1)]
        if sweep % 2:
            order.reverse()
        for node in order:
            if node in seeds or not domain[node]:
                continue
            value = local(*node)
            if value < u[node]:
                change = max(change, u[node] - value if np.isfinite(u[node]) else np.inf)
                u[node] = value
        if change < 1e-13:
            break
    return u
