"""Per-sample losses for SGD on real data: a two-component Gaussian mixture
on 1D data, and the iris petal lengths bundled with scikit-learn."""

from __future__ import annotations

import numpy as np

from .minibatch import MinibatchSGD

__all__ = ["GaussianMixture1D", "iris_petal_lengths"]


def iris_petal_lengths() -> np.ndarray:
    """The 150 petal lengths (cm) of Fisher's iris data, as bundled with
    scikit-learn (setosa, versicolor, virginica, 50 each). Needs scikit-learn
    (``pip install "hjqp[sgd]"``); nothing is downloaded."""
    try:
        from sklearn.datasets import load_iris
    except ImportError:
        raise ImportError("the iris data come from scikit-learn: pip install scikit-learn "
                          "(or hjqp[sgd])") from None
    return np.ascontiguousarray(load_iris().data[:, 2], dtype=float)


class GaussianMixture1D:
    """The per-sample losses of a two-component Gaussian mixture on 1D data
    x_1..x_n with fixed widths s1, s2:

        f_i = -log(pi N(x_i; mu1, s1) + (1 - pi) N(x_i; mu2, s2)),

    with parameters (mu1, mu2) for a fixed weight pi, or (mu1, mu2, rho) with
    pi = 1 / (1 + exp(-rho)) learned (``learn_weight=True``). ``scale`` is
    the common width s1 = s2 or the pair (s1, s2).

    With a common width, swapping the two components,
    (mu1, mu2, rho) -> (mu2, mu1, -rho), leaves the loss and the gradient
    noise unchanged: with a learned weight the minima come in mirror pairs.
    With a common width and a fixed weight the covariance of the per-sample
    gradients is singular on the diagonal mu1 = mu2 (every gradient is then
    a multiple of (pi, 1 - pi)), where the saddle between the two minima
    lies; with unequal widths it is not.

    Vectorised over parameter points (..., d); ``gradients(x, idx)`` has the
    signature :class:`MinibatchSGD` takes.
    """

    def __init__(self, data, scale=1.1, weight: float = 1.0 / 3.0, learn_weight: bool = False):
        # A copy: the loss must not change with the caller's array.
        data = np.array(data, dtype=float).reshape(-1)
        if data.size < 2 or not np.all(np.isfinite(data)):
            raise ValueError("data must be at least two finite numbers")
        scales = np.asarray(scale, dtype=float)
        if scales.ndim == 0 or scales.shape == (1,):
            scales = np.repeat(scales.reshape(1), 2)
        if scales.shape != (2,) or not np.all(np.isfinite(scales) & (scales > 0)):
            raise ValueError(f"scale must be a positive width or a pair of them, got {scale!r}")
        if not 0 < weight < 1:
            raise ValueError(f"weight must lie in (0, 1), got {weight!r}")
        self.data = data
        self.scales = (float(scales[0]), float(scales[1]))
        self.weight = float(weight)
        self.learn_weight = bool(learn_weight)
        self.dim = 3 if self.learn_weight else 2

    @property
    def n_samples(self) -> int:
        return self.data.size

    def _parts(self, x, idx):
        x = np.asarray(x, dtype=float)
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"parameters must have shape (..., {self.dim}), got {x.shape}")
        xi = self.data if idx is None else self.data[np.asarray(idx)]
        if idx is None:
            xi = np.broadcast_to(xi, x.shape[:-1] + xi.shape)
        if self.learn_weight:
            p1 = 1.0 / (1.0 + np.exp(-x[..., 2]))
        else:
            p1 = np.full(x.shape[:-1], self.weight)
        d1 = xi - x[..., 0, None]
        d2 = xi - x[..., 1, None]
        s1, s2 = self.scales
        # log(pi_k N_k) up to the common constant -log(sqrt(2 pi))
        a1 = (np.log(p1) - np.log(s1))[..., None] - 0.5 * (d1 / s1) ** 2
        a2 = (np.log1p(-p1) - np.log(s2))[..., None] - 0.5 * (d2 / s2) ** 2
        return p1, d1, d2, a1, a2

    def losses(self, x, idx=None) -> np.ndarray:
        """f_i at parameter points ``(..., d)``: ``(..., n)`` (or ``(..., m)``
        for sample indices idx of shape ``(..., m)``)."""
        _, _, _, a1, a2 = self._parts(x, idx)
        return -np.logaddexp(a1, a2) + 0.5 * np.log(2 * np.pi)

    def gradients(self, x, idx=None) -> np.ndarray:
        """grad f_i: ``(..., n, d)`` (or ``(..., m, d)`` for indices idx)."""
        from scipy.special import expit

        p1, d1, d2, a1, a2 = self._parts(x, idx)
        r1 = expit(a1 - a2)  # the responsibility of component 1
        s1, s2 = self.scales
        parts = [-r1 * d1 / s1**2, (r1 - 1.0) * d2 / s2**2]
        if self.learn_weight:
            parts.append(p1[..., None] - r1)
        return np.stack(parts, axis=-1)

    def loss(self, x) -> np.ndarray:
        """f = mean of f_i."""
        return self.losses(x).mean(axis=-1)

    def sgd(self, batch_size: int = 1, replace: bool = True) -> MinibatchSGD:
        """Minibatch SGD on this loss."""
        return MinibatchSGD(self.gradients, self.n_samples, batch_size, replace)
