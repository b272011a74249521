"""The inner problem of the geometric action in any dimension: the support
function ``h(x, v) = sup {<p, v> : H(x, p) <= 0}`` and its maximiser p*,
vectorised over points, for the quadratic Hamiltonian (closed form) and the
exponential family ``H = sum_r w_r (exp(<p, nu_r>) - 1)``.

The maximiser satisfies ``v = mu H_p(x, p*)`` with a multiplier mu > 0 and
``H(x, p*) = 0`` (DESIGN.md, "Beyond Gaussian noise"): the characteristic
through x with momentum p* moves along v, and ``h = <p*, v>``. For the
exponential family it is found as the compiled 2D/3D kernel finds it
(jump.hpp): Newton's method on these d + 1 equations from a nearby solution
or from the Gaussian one, with a merit line search, steps that raise no
exponent by more than 20, and a ridge of rounding size where one jump
dominates; a dual fallback (bisection on mu, with the strictly concave
maximisation of ``<p, v> - mu H(p)`` inside) where Newton's method fails;
and an exact test of the cone of the jumps (non-negative least squares),
outside of which ``h = +inf``. Here all points iterate together in numpy,
for any d.
"""

from __future__ import annotations

import enum
from typing import Optional, Tuple

import numpy as np

__all__ = ["SupportStatus", "Pointwise", "pointwise", "quadratic_support", "exponential_support", "exponential_terms",
           "outside_cone"]

# Exponents beyond this make H +inf (far outside K), as in the kernel.
MAX_EXPONENT = 600.0
# No Newton step may raise an exponent by more than this.
MAX_RISE = 20.0


class SupportStatus(enum.IntEnum):
    """How the support point of one direction was found."""

    NEWTON = 0        # Newton's method on mu H_p = v, H = 0
    DUAL = 1          # the dual fallback
    OUTSIDE_CONE = 2  # v lies outside the cone of the jumps: h = +inf
    FAILED = 3        # inside the cone, but no support point was found (h = nan)
    ZERO = 4          # v = 0, or the drift vanishes (K = {0}): h = 0, p* = 0


def quadratic_support(drift: np.ndarray, diffusion: np.ndarray, velocities: np.ndarray,
                      metric: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The support point of ``K = {p : 1/2 p^T D p + b . p <= 0}``, closed form.

    With ``A = D^{-1}``: ``h = |v|_A |b|_A - <v, b>_A``,
    ``p* = (|b|_A / |v|_A) A v - A b`` and ``mu = |v|_A / |b|_A``.

    Parameters
    ----------
    drift : ndarray (m, d)
    diffusion : ndarray (m, d, d), symmetric positive definite
    velocities : ndarray (m, d)
    metric : ndarray (d, d), optional
        ``A = D^{-1}`` when D is the same at every point (saves m solves).

    Returns
    -------
    h : ndarray (m,)
    momenta : ndarray (m, d)
    multipliers : ndarray (m,)
        mu; +inf where b = 0 (there K = {0} and p* = 0), 0 where v = 0.
    """
    b, v = drift, velocities
    if metric is not None:
        av, ab = v @ metric, b @ metric
    else:
        both = np.linalg.solve(diffusion, np.stack([v, b], axis=-1))
        av, ab = both[..., 0], both[..., 1]
    vav = np.maximum(np.einsum("mi,mi->m", v, av), 0.0)
    bab = np.maximum(np.einsum("mi,mi->m", b, ab), 0.0)
    moving = (vav > 0) & (bab > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(moving, np.sqrt(bab / np.where(moving, vav, 1.0)), 0.0)
        h = np.where(moving, np.sqrt(vav * bab) - np.einsum("mi,mi->m", v, ab), 0.0)
        p = np.where(moving[:, None], ratio[:, None] * av - ab, 0.0)
        mu = np.where(moving, 1.0 / np.where(moving, ratio, 1.0), np.where(vav > 0, np.inf, 0.0))
    return np.maximum(h, 0.0), p, mu


def exponential_terms(weights: np.ndarray, jumps: np.ndarray, momenta: np.ndarray, second: bool = True):
    """H, its scale ``sum w (e^s + 1)``, H_p and (with ``second``) H_pp at
    momenta (m, d) for weights (m, R) and jumps (R, d) or (m, R, d).
    H is +inf where an exponent of positive weight exceeds 600."""
    s = _exponents(jumps, momenta)
    positive = weights > 0
    over = np.any(positive & (s > MAX_EXPONENT), axis=-1)
    s = np.where(positive, np.minimum(s, MAX_EXPONENT), 0.0)
    e = weights * np.exp(s)
    value = np.sum(weights * np.expm1(s), axis=-1)
    value[over] = np.inf
    scale = np.sum(e + weights, axis=-1)
    grad = _combine(jumps, e)
    hess = _second(jumps, e) if second else None
    return value, scale, grad, hess


def exponential_support(weights: np.ndarray, jumps: np.ndarray, velocities: np.ndarray,
                        momenta: Optional[np.ndarray] = None, multipliers: Optional[np.ndarray] = None,
                        max_iterations: int = 40):
    """The support point of ``K = {p : sum_r w_r (exp(<p, nu_r>) - 1) <= 0}``
    for m points at once, in any dimension.

    Parameters
    ----------
    weights : ndarray (m, R), non-negative
    jumps : ndarray (R, d) (the same at every point) or (m, R, d)
    velocities : ndarray (m, d)
        v; h is positively 1-homogeneous in v.
    momenta, multipliers : ndarray (m, d) and (m,), optional
        A solution for nearby points and directions (p*, mu for unit v) to
        start Newton's method from; rows that are not finite, or whose mu
        is not positive, start from the Gaussian solution.
    max_iterations : int
        Newton steps from each start.

    Returns
    -------
    h : ndarray (m,)
        +inf outside the cone of the jumps, nan where no solution was found.
    momenta : ndarray (m, d)
    multipliers : ndarray (m,)
        mu for the unit direction v / |v| (divide by |v| for v itself).
    status : ndarray of int (m,)
        :class:`SupportStatus` values.
    """
    w = np.asarray(weights, dtype=float)
    nu = np.asarray(jumps, dtype=float)
    v = np.asarray(velocities, dtype=float)
    m, d = v.shape
    h = np.full(m, np.nan)
    p_out = np.zeros((m, d))
    mu_out = np.zeros(m)
    status = np.full(m, int(SupportStatus.FAILED))
    speed = np.linalg.norm(v, axis=-1)
    zero = ~(speed > 0)
    u = v / np.where(zero, 1.0, speed)[:, None]

    h[zero], status[zero] = 0.0, int(SupportStatus.ZERO)
    todo = np.flatnonzero(~zero)

    def solved(rows, p, mu, ok):
        done = rows[ok]
        p_out[done], mu_out[done] = p[ok], mu[ok]
        h[done] = np.einsum("mi,mi->m", p[ok], u[done]) * speed[done]
        status[done] = int(SupportStatus.NEWTON)
        return np.setdiff1d(todo, done, assume_unique=True)

    # From a nearby solution Newton's method converges in a few steps.
    if momenta is not None and multipliers is not None and todo.size:
        pw = np.asarray(momenta, dtype=float)
        mw = np.asarray(multipliers, dtype=float)
        warm = np.all(np.isfinite(pw), axis=-1) & np.isfinite(mw) & (mw > 0)
        rows = todo[warm[todo]]
        if rows.size:
            p, mu, ok = _newton(w[rows], nu if nu.ndim == 2 else nu[rows], u[rows], pw[rows].copy(),
                                mw[rows].copy(), 12)
            todo = solved(rows, p, mu, ok)
    if todo.size == 0:
        return h, p_out, mu_out, status

    # The Gaussian part at the others: b = H_p(0), M = H_pp(0), and its
    # closed-form support point to start from.
    nut = nu if nu.ndim == 2 else nu[todo]
    wt, ut = w[todo], u[todo]
    _, _, b, M = exponential_terms(wt, nut, np.zeros((todo.size, d)))
    both = _solve(M, np.stack([ut, b], axis=-1))
    au, ab = both[..., 0], both[..., 1]
    uau = np.einsum("mi,mi->m", ut, au)
    bab = np.einsum("mi,mi->m", b, ab)
    # b = 0: H >= 0 with equality only at p = 0 (H strictly convex), K = {0}.
    still = ~(bab > 1e-30 * np.sum(wt, axis=-1))
    h[todo[still]], status[todo[still]], mu_out[todo[still]] = 0.0, int(SupportStatus.ZERO), np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        p_gauss = np.sqrt(bab / uau)[:, None] * au - ab
        mu_gauss = np.full(m, np.nan)
        mu_gauss[todo] = np.sqrt(uau / bab)
    rows, p_gauss = todo[~still], p_gauss[~still]
    todo = rows
    if rows.size:
        p, mu, ok = _newton(w[rows], nu if nu.ndim == 2 else nu[rows], u[rows], p_gauss, mu_gauss[rows].copy(),
                            max_iterations)
        todo = solved(rows, p, mu, ok)

    # What Newton's method left: outside the cone (exact test), or the dual.
    for i in todo:
        wi = w[i]
        nui = nu if nu.ndim == 2 else nu[i]
        keep = wi > 0
        if outside_cone(nui[keep], u[i]):
            h[i], status[i] = np.inf, int(SupportStatus.OUTSIDE_CONE)
            continue
        found = _dual(wi[keep], nui[keep], u[i], float(mu_gauss[i]) if np.isfinite(mu_gauss[i]) else 1.0)
        if found is not None:
            p, mu = found
            p_out[i], mu_out[i] = p, mu
            h[i] = float(p @ u[i]) * speed[i]
            status[i] = int(SupportStatus.DUAL)
    return h, p_out, mu_out, status


def outside_cone(jumps: np.ndarray, direction: np.ndarray, tolerance: float = 1e-9) -> bool:
    """Is the unit ``direction`` (d,) outside the closed convex cone spanned
    by the rows of ``jumps`` (R, d)? Non-negative least squares: the
    distance from the direction to the cone."""
    from scipy.optimize import nnls

    if len(jumps) == 0:
        return True
    scale = np.linalg.norm(jumps, axis=-1)
    scale = np.where(scale > 0, scale, 1.0)
    _, residual = nnls(np.ascontiguousarray((jumps / scale[:, None]).T), np.asarray(direction, dtype=float))
    return bool(residual > tolerance)


# -- helpers --------------------------------------------------------------------------


def _exponents(jumps: np.ndarray, momenta: np.ndarray) -> np.ndarray:
    if jumps.ndim == 2:
        return momenta @ jumps.T
    return np.einsum("mri,mi->mr", jumps, momenta)


def _combine(jumps: np.ndarray, e: np.ndarray) -> np.ndarray:
    """sum_r e_r nu_r: (m, d)."""
    if jumps.ndim == 2:
        return e @ jumps
    return np.einsum("mr,mri->mi", e, jumps)


def _second(jumps: np.ndarray, e: np.ndarray) -> np.ndarray:
    """sum_r e_r nu_r nu_r^T: (m, d, d), by batched matrix products."""
    if jumps.ndim == 2:
        scaled = e[:, :, None] * jumps[None]
        return np.matmul(np.swapaxes(scaled, 1, 2), np.broadcast_to(jumps, scaled.shape))
    return np.matmul(np.swapaxes(e[:, :, None] * jumps, 1, 2), jumps)


def _solve(matrices: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """matrices^{-1} rhs, with nan rows where a matrix is singular."""
    try:
        return np.linalg.solve(matrices, rhs)
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for i in range(len(matrices)):
            try:
                out[i] = np.linalg.solve(matrices[i], rhs[i])
            except np.linalg.LinAlgError:
                pass
        return out


def _largest_change(jumps: np.ndarray, weights: np.ndarray, dp: np.ndarray, rises_only: bool) -> np.ndarray:
    """The largest |<dp, nu_r>| (or largest rise) over the jumps of positive weight: (m,)."""
    s = _exponents(jumps, dp)
    s = s if rises_only else np.abs(s)
    return np.max(np.where(weights > 0, s, 0.0), axis=-1)


def _merit(value, scale, grad, mu, u):
    f1 = mu[:, None] * grad - u
    f2 = value / scale
    return np.einsum("mi,mi->m", f1, f1) + f2 * f2


def _newton(w, nu, u, p, mu, iterations):
    """Newton's method on mu H_p(p) = u, H(p) = 0 for all rows at once
    (jump.hpp's support_newton). Returns p, mu and which rows converged."""
    m, d = u.shape
    ok = np.zeros(m, dtype=bool)
    failed = np.zeros(m, dtype=bool)
    value, scale, grad, hess = exponential_terms(w, nu, p)
    stale = np.zeros(m, dtype=bool)  # H_pp not yet evaluated at the current p
    failed |= ~np.isfinite(value)
    merit = _merit(value, scale, grad, mu, u)
    eye = np.eye(d)
    for _ in range(iterations):
        act = np.flatnonzero(~ok & ~failed)
        if act.size == 0:
            break
        g, hv, sc = grad[act], value[act], scale[act]
        f1 = mu[act, None] * g - u[act]
        small = (np.linalg.norm(f1, axis=-1) <= 1e-13 * (1.0 + mu[act] * np.linalg.norm(g, axis=-1))) & (
            np.abs(hv) <= 1e-14 * sc)
        ok[act[small]] = True
        act = act[~small]
        if act.size == 0:
            break
        g, hv = grad[act], value[act]
        f1 = mu[act, None] * g - u[act]
        # The bordered system [mu H_pp, H_p; H_p^T, 0] [dp; dmu] = -[f1; H];
        # H_pp is nearly singular where one jump dominates: a ridge of
        # rounding size keeps the solve finite.
        renew = act[stale[act]]
        if renew.size:
            hess[renew] = _second(nu if nu.ndim == 2 else nu[renew], w[renew] * np.exp(np.where(
                w[renew] > 0, np.minimum(_exponents(nu if nu.ndim == 2 else nu[renew], p[renew]), MAX_EXPONENT), 0.0)))
            stale[renew] = False
        hs = hess[act]
        trace = np.trace(hs, axis1=-2, axis2=-1)
        s = mu[act, None, None] * (hs + 1e-12 * trace[:, None, None] * eye)
        y = _solve(s, np.stack([f1, g], axis=-1))
        y1, y2 = y[..., 0], y[..., 1]
        gy2 = np.einsum("mi,mi->m", g, y2)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            dmu = (hv - np.einsum("mi,mi->m", g, y1)) / gy2
            dp = -(y1 + dmu[:, None] * y2)
        good = (gy2 > 0) & np.isfinite(gy2) & np.isfinite(dmu) & np.all(np.isfinite(dp), axis=-1)
        failed[act[~good]] = True
        act, dp, dmu = act[good], dp[good], dmu[good]
        if act.size == 0:
            continue
        nua = nu if nu.ndim == 2 else nu[act]
        t = np.ones(act.size)
        rise = _largest_change(nua, w[act], dp, True)
        t = np.where(rise > MAX_RISE, MAX_RISE / np.maximum(rise, 1e-300), t)
        low = mu[act] + t * dmu < 0.25 * mu[act]
        t = np.where(low, 0.75 * mu[act] / np.where(low, -dmu, 1.0), t)
        full = t == 1.0
        change = _largest_change(nua, w[act], dp, False)
        # Backtracking on the merit function, all rows together.
        searching = np.ones(act.size, dtype=bool)
        for _ in range(30):
            rows = np.flatnonzero(searching)
            if rows.size == 0:
                break
            idx = act[rows]
            q = p[idx] + t[rows, None] * dp[rows]
            mq = mu[idx] + t[rows] * dmu[rows]
            tv, ts, tg, _ = exponential_terms(w[idx], nu if nu.ndim == 2 else nu[idx], q, second=False)
            tm = _merit(tv, ts, tg, mq, u[idx])
            better = np.isfinite(tv) & (tm < merit[idx])
            acc = rows[better]
            ia = act[acc]
            p[ia], mu[ia] = q[better], mq[better]
            value[ia], scale[ia], grad[ia], merit[ia] = tv[better], ts[better], tg[better], tm[better]
            stale[ia] = True
            tiny = full[acc] & (t[acc] == 1.0) & (change[acc] <= 1e-8) & (np.abs(dmu[acc]) <= 1e-8 * mu[ia])
            ok[ia[tiny]] = True
            searching[acc] = False
            t[rows[~better]] *= 0.5
        # No step lowers the merit: converged if the residuals are at
        # rounding level already (the last bits of the products depend on
        # how many rows are solved together), failed otherwise.
        stuck = act[searching]
        f1 = mu[stuck, None] * grad[stuck] - u[stuck]
        near = (np.linalg.norm(f1, axis=-1) <= 1e-9 * (1.0 + mu[stuck] * np.linalg.norm(grad[stuck], axis=-1))) & (
            np.abs(value[stuck]) <= 1e-10 * scale[stuck])
        ok[stuck[near]] = True
        failed[stuck[~near]] = True
    return p, mu, ok


def _dual(w, nu, u, mu0):
    """One point's support point through the dual problem: phi(mu) =
    H(p(mu)), p(mu) = argmax <p, u> - mu H(p), decreases from +inf to
    min H < 0; bisection in log mu with a secant guess, then a Newton
    polish. None if the maximisation runs off (u at the cone's edge) or
    the bracket closes on no point of the boundary of K."""
    nu_max = float(np.max(np.linalg.norm(nu, axis=-1)))
    p_limit = 1e10 / nu_max
    q = np.zeros_like(u)

    def phi(mu, start):
        p = _maximise(w, nu, u, mu, start.copy(), p_limit)
        if p is None:
            return None, np.nan
        value = exponential_terms(w[None], nu, p[None], second=False)[0][0]
        return p, value

    q, f = phi(mu0, q)
    if q is None or not np.isfinite(f):
        return None
    lo = hi = mu0
    flo = fhi = f
    for _ in range(60):
        if fhi <= 0.0:
            break
        lo, flo = hi, fhi
        hi *= 2.0
        q2, fhi = phi(hi, q)
        if q2 is None:
            return None
        q = q2
    for _ in range(60):
        if flo > 0.0:
            break
        hi, fhi = lo, flo
        lo *= 0.5
        q2, flo = phi(lo, q)
        if q2 is None:
            return None
        q = q2
    if fhi > 0.0 or flo <= 0.0:
        return None
    mu = hi
    for _ in range(100):
        mid = np.sqrt(lo * hi)
        secant = lo + flo * (hi - lo) / (flo - fhi)
        if lo < secant < hi:
            mid = 0.5 * (mid + secant)
        q2, f = phi(mid, q)
        if q2 is None:
            return None
        q = q2
        if f > 0.0:
            lo, flo = mid, f
        else:
            hi, fhi = mid, f
        mu = mid
        if hi - lo <= 1e-14 * hi:
            break
    p, m, ok = _newton(w[None], nu, u[None], q[None].copy(), np.array([mu]), 8)
    if ok[0]:
        q, mu = p[0], float(m[0])
    value, scale, _, _ = exponential_terms(w[None], nu, q[None], second=False)
    if not abs(value[0]) <= 1e-8 * scale[0]:
        return None
    return q, mu


def _maximise(w, nu, u, mu, p, p_limit):
    """max_p <p, u> - mu H(p) by damped Newton from p (strictly concave where
    the jumps span R^d); None if the iterates run off (u outside the cone)."""
    for _ in range(100):
        value, _, grad, hess = exponential_terms(w[None], nu, p[None])
        if not np.isfinite(value[0]):
            return None
        g = u - mu * grad[0]
        if np.linalg.norm(g) <= 1e-13 * (1.0 + mu * np.linalg.norm(grad[0])):
            return p
        try:
            step = np.linalg.solve(mu * hess[0], g)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        change = float(np.max(nu @ step))
        t = 16.0 / change if change > 16.0 else 1.0
        psi = p @ u - mu * value[0]
        slope = g @ step
        for _ in range(60):
            qv = exponential_terms(w[None], nu, (p + t * step)[None], second=False)[0][0]
            if (p + t * step) @ u - mu * qv >= psi + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            return p  # no ascent left: the maximum to rounding
        p = p + t * step
        if np.linalg.norm(p) > p_limit:
            return None
        if t * np.linalg.norm(step) <= 1e-15 * (1.0 + np.linalg.norm(p)) and np.linalg.norm(g) <= 1e-9:
            return p
    return p


class Pointwise:
    """A Hamiltonian evaluated at arbitrary points of R^d, any d: what the
    path-based methods need (the support point, H, H_pp and H_x at fixed p,
    the drift). Built by :func:`pointwise`."""

    dim: Optional[int] = None

    def terms(self, points: np.ndarray):
        """The point-dependent fields at points (m, d)."""
        raise NotImplementedError

    def support(self, terms, velocities: np.ndarray, momenta=None, multipliers=None):
        """h (m,), p* (m, d), mu (m,) with ``v = mu H_p`` for v itself, status (m,)."""
        raise NotImplementedError

    def value(self, terms, momenta: np.ndarray) -> np.ndarray:
        """H (m,)."""
        raise NotImplementedError

    def hessian(self, terms, momenta: np.ndarray) -> np.ndarray:
        """H_pp (m, d, d)."""
        raise NotImplementedError

    def drift(self, points: np.ndarray) -> np.ndarray:
        """b = H_p(x, 0) at points (m, d)."""
        raise NotImplementedError

    def gradient_x(self, points: np.ndarray, momenta: np.ndarray, delta: float, base=None) -> np.ndarray:
        """H_x(x, p) at fixed p (m, d), by forward differences of step delta
        (``base``: the fields at the points, if at hand). Where it serves
        (the gradient of an action, which vanishes at the minimiser), its
        O(delta) error moves the minimiser by O(delta) and the action by
        O(delta^2)."""
        m, d = points.shape
        out = np.empty((m, d))
        here = self.value(base if base is not None else self.terms(points), momenta)
        # Coordinates in blocks, so that the fields at m * block points fit
        # in bounded memory whatever d.
        block = max(1, min(d, _CHUNK_FLOATS // max(1, m * self._size(d))))
        for k0 in range(0, d, block):
            ks = np.arange(k0, min(d, k0 + block))
            shift = np.zeros((len(ks), d))
            shift[np.arange(len(ks)), ks] = delta
            x = (points[None] + shift[:, None]).reshape(-1, d)
            p = np.broadcast_to(momenta, (len(ks), m, d)).reshape(-1, d)
            values = self.value(self.terms(x), p).reshape(len(ks), m)
            out[:, ks] = ((values - here) / delta).T
        return out

    def _size(self, d: int) -> int:
        """Floats of the fields at one point (for memory bounds)."""
        return d * d


# Floats of fields evaluated at once by Pointwise.gradient_x (64 MB).
_CHUNK_FLOATS = 1 << 23


class _Quadratic(Pointwise):
    def __init__(self, drift, diffusion, dim, constant_diffusion):
        self._drift, self._diffusion, self.dim = drift, diffusion, dim
        self.constant_diffusion = constant_diffusion
        self._metric = None

    def terms(self, points):
        return self._drift(points), self._diffusion(points)

    def metric(self, d: int) -> Optional[np.ndarray]:
        """A = D^{-1} when D is constant (computed once), else None."""
        if not self.constant_diffusion:
            return None
        if self._metric is None or self._metric.shape[0] != d:
            dm = np.array(self._diffusion(np.zeros((1, d)))[0])
            self._metric = np.linalg.inv(0.5 * (dm + dm.T))
            self._metric = 0.5 * (self._metric + self._metric.T)
        return self._metric

    def drift(self, points):
        return self._drift(points)

    def support(self, terms, velocities, momenta=None, multipliers=None):
        b, dm = terms
        h, p, mu = quadratic_support(b, dm, velocities, self.metric(b.shape[-1]))
        still = (np.linalg.norm(velocities, axis=-1) == 0) | ~np.isfinite(mu)
        status = np.where(still, int(SupportStatus.ZERO), int(SupportStatus.NEWTON))
        return h, p, mu, status

    def value(self, terms, momenta):
        b, dm = terms
        return 0.5 * np.einsum("mi,mij,mj->m", momenta, dm, momenta) + np.einsum("mi,mi->m", b, momenta)

    def hessian(self, terms, momenta):
        return terms[1]

    def gradient_x(self, points, momenta, delta, base=None):
        if not self.constant_diffusion:
            return super().gradient_x(points, momenta, delta, base)
        # D constant: H_x = (Db)^T p, from the drift alone.
        m, d = points.shape
        out = np.empty((m, d))
        here = np.einsum("mi,mi->m", base[0] if base is not None else self._drift(points), momenta)
        block = max(1, min(d, _CHUNK_FLOATS // max(1, m * d)))
        for k0 in range(0, d, block):
            ks = np.arange(k0, min(d, k0 + block))
            shift = np.zeros((len(ks), d))
            shift[np.arange(len(ks)), ks] = delta
            x = (points[None] + shift[:, None]).reshape(-1, d)
            b = self._drift(x).reshape(len(ks), m, d)
            out[:, ks] = (np.einsum("kmi,mi->mk", b, momenta) - here[:, None]) / delta
        return out


class _Exponential(Pointwise):
    def __init__(self, weights, jumps, dim, constant_jumps):
        self._weights, self._jumps, self.dim = weights, jumps, dim
        self.constant_jumps = constant_jumps

    def terms(self, points):
        return self._weights(points), self._jumps(points)

    def drift(self, points):
        w, nu = self.terms(points)
        return _combine(nu, w)

    def support(self, terms, velocities, momenta=None, multipliers=None):
        w, nu = terms
        speed = np.linalg.norm(velocities, axis=-1)
        unit_mu = None
        if multipliers is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                unit_mu = np.where(speed > 0, multipliers / speed, np.nan)
        h, p, mu, status = exponential_support(w, nu, velocities, momenta, unit_mu)
        with np.errstate(invalid="ignore"):
            mu = np.where(np.isfinite(mu), mu * speed, mu)
        return h, p, mu, status

    def value(self, terms, momenta):
        return exponential_terms(terms[0], terms[1], momenta, second=False)[0]

    def _size(self, d: int) -> int:
        return 64 * (1 if self.constant_jumps else d)

    def hessian(self, terms, momenta):
        return exponential_terms(terms[0], terms[1], momenta)[3]


def pointwise(hamiltonian, fields=None) -> Pointwise:
    """The Hamiltonian at arbitrary points (:class:`Pointwise`), any d.

    Parameters
    ----------
    hamiltonian : SDE or JumpHamiltonian
        With callables (or constants) for its fields; a problem given by
        arrays on a grid needs ``fields``.
    fields : Fields or JumpFields, optional
        The problem bound to a grid (2D, 3D): its fields are evaluated
        through it (interpolated between nodes).
    """
    from .jump import JumpHamiltonian
    from .sde import SDE

    if isinstance(hamiltonian, JumpHamiltonian):
        H = hamiltonian
        if fields is not None:
            constant = not callable(H.jumps) and np.ndim(H.jumps) == 2
            return _Exponential(fields.weights, (lambda x: H.jumps) if constant else fields.jumps, fields.ndim,
                                constant)
        if any(isinstance(a, np.ndarray) and a.ndim > 2 for a in (H.weights, H.jumps)):
            raise ValueError("a jump Hamiltonian given by arrays on a grid needs that grid (grid=...)")

        def weights(x):
            w = H.weights_at(x)
            return np.ascontiguousarray(w, dtype=float)

        def jumps(x):
            nu = H.jumps
            if not callable(nu):
                if nu.shape[1] != x.shape[-1]:
                    raise ValueError(f"the jumps are {nu.shape[1]}-dimensional but the points are "
                                     f"{x.shape[-1]}-dimensional")
                return nu
            return H.jumps_at(x)

        return _Exponential(weights, jumps, H.dim, not callable(H.jumps))
    if not isinstance(hamiltonian, SDE):
        raise TypeError(f"expected an hjqp.SDE or hjqp.JumpHamiltonian, got {type(hamiltonian).__name__}")
    sde = hamiltonian
    if fields is not None:
        dm = sde.diffusion
        return _Quadratic(fields.drift, fields.diffusion, fields.ndim, not callable(dm) and np.ndim(dm) <= 2)
    if isinstance(sde.drift, np.ndarray) or (isinstance(sde.diffusion, np.ndarray) and sde.diffusion.ndim > 2):
        raise ValueError("an SDE given by arrays on a grid needs that grid (grid=...)")

    def drift(x):
        try:
            out = sde.drift(x)
        except Exception as exc:
            from .fields import rewrap
            raise rewrap(exc, f"the drift callable failed on points of shape {x.shape}") from exc
        out = np.asarray(out, dtype=float)
        if out.shape != x.shape:
            raise ValueError(f"the drift callable returned shape {out.shape} for points of shape {x.shape}; "
                             f"expected {x.shape}")
        return out

    dm = sde.diffusion
    if callable(dm):
        def diffusion(x):
            try:
                out = dm(x)
            except Exception as exc:
                from .fields import rewrap
                raise rewrap(exc, f"the diffusion callable failed on points of shape {x.shape}") from exc
            out = np.asarray(out, dtype=float)
            lead, d = x.shape[:-1], x.shape[-1]
            if out.shape == lead:
                return out[..., None, None] * np.eye(d)
            if out.shape != lead + (d, d):
                raise ValueError(f"the diffusion callable returned shape {out.shape} for points of shape "
                                 f"{x.shape}; expected {lead + (d, d)} (or {lead} for D = c(x) I)")
            return out
    else:
        matrix = np.asarray(dm, dtype=float)

        def diffusion(x):
            d = x.shape[-1]
            full = float(matrix) * np.eye(d) if matrix.ndim == 0 else matrix
            if full.shape != (d, d):
                raise ValueError(f"the diffusion matrix is {full.shape} but the points are {d}-dimensional")
            return np.broadcast_to(full, x.shape[:-1] + (d, d))

    return _Quadratic(drift, diffusion, sde.dim, not callable(dm))
