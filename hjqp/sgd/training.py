"""The minima of a finite-sum loss, found by training from several starts:
quasi-Newton descent on the full loss, Newton's method on its gradient to
finish, duplicates merged and each checked to be a strict minimum."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate

__all__ = ["Minima", "train"]


@dataclass(frozen=True, eq=False)
class Minima:
    """Minima of a loss found by training, lowest loss first.

    Attributes
    ----------
    points : ndarray (k, d)
        The minima, to the tolerance of Newton's method on grad f = 0.
    losses : ndarray (k,)
        f at them.
    curvatures : ndarray (k, d)
        The Hessian's eigenvalues at each (ascending; all positive).
    reached : ndarray of int (k,)
        How many starts ended at each.
    n_starts : int
    discarded : int
        Starts that ended at no strict minimum (descent or Newton's method
        failed, the gradient did not vanish, or the Hessian was not positive
        definite there).
    """

    points: np.ndarray
    losses: np.ndarray
    curvatures: np.ndarray
    reached: np.ndarray
    n_starts: int
    discarded: int

    @property
    def k(self) -> int:
        return len(self.points)


def train(model, n_starts: int = 20, seed=0, *, starts=None, gradient_tolerance: float = 1e-10,
          merge: float = 1e-6) -> Minima:
    """The minima of a model's loss, from several seeded starts.

    From each start: BFGS on f with the exact gradient (scipy), then
    Newton's method on grad f = 0 with the exact Hessian (MINPACK's hybrid
    method) to full precision. A start counts when the gradient there is at
    most ``gradient_tolerance`` and the Hessian is positive definite
    (smallest eigenvalue above 1e-8 times the largest); points within
    ``merge`` (times ``1 + |x|``) of each other are one minimum.

    Parameters
    ----------
    model : object
        With ``loss(x)``, ``gradient(x)`` and ``hessian(x)`` at points (d,),
        and ``starts(count, seed)`` giving start points (count, d), e.g.
        :class:`hjqp.sgd.GaussianMixture`.
    n_starts : int
    seed : int
        Seeds the starts (same seed, same minima).
    starts : array (m, d), optional
        Start points instead of ``model.starts``.

    Returns
    -------
    Minima
    """
    from scipy.optimize import minimize, root

    if starts is None:
        n_starts = _validate.count(n_starts, "n_starts")
        starts = model.starts(n_starts, _validate.seed(seed))
    starts = _validate.real_array(starts, "starts")
    if starts.ndim != 2 or not np.all(np.isfinite(starts)):
        raise ValueError(f"starts must be finite points (m, d), got shape {starts.shape}")
    found, reached, discarded = [], [], 0
    for x0 in starts:
        descent = minimize(model.loss, x0, jac=model.gradient, method="BFGS", options=dict(gtol=1e-8))
        polished = root(model.gradient, descent.x, jac=model.hessian, tol=1e-14)
        x = polished.x
        if not (np.all(np.isfinite(x)) and np.linalg.norm(model.gradient(x)) <= gradient_tolerance):
            discarded += 1
            continue
        eig = np.linalg.eigvalsh(model.hessian(x))
        if not eig[0] > 1e-8 * abs(eig[-1]):
            discarded += 1
            continue
        for m, y in enumerate(found):
            if np.linalg.norm(x - y) <= merge * (1.0 + np.linalg.norm(y)):
                reached[m] += 1
                break
        else:
            found.append(x)
            reached.append(1)
    if not found:
        raise RuntimeError(f"no start of {len(starts)} ended at a strict minimum")
    points = np.array(found)
    losses = np.array([float(model.loss(x)) for x in points])
    order = np.argsort(losses, kind="stable")
    points = points[order]
    return Minima(points=points, losses=losses[order],
                  curvatures=np.array([np.linalg.eigvalsh(model.hessian(x)) for x in points]),
                  reached=np.array(reached)[order], n_starts=len(starts), discarded=discarded)
