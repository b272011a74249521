"""Per-sample losses for SGD on real data: two-component Gaussian mixtures
on 1D data and on data with several features, and the iris measurements
bundled with scikit-learn."""

from __future__ import annotations

import numpy as np

from .minibatch import MinibatchSGD

__all__ = ["GaussianMixture1D", "GaussianMixture", "iris_petal_lengths", "iris_measurements"]


def _iris() -> np.ndarray:
    try:
        from sklearn.datasets import load_iris
    except ImportError:
        raise ImportError("the iris data come from scikit-learn: pip install scikit-learn "
                          "(or hjqp[sgd])") from None
    return np.asarray(load_iris().data, dtype=float)


def iris_petal_lengths() -> np.ndarray:
    """The 150 petal lengths (cm) of Fisher's iris data, as bundled with
    scikit-learn (setosa, versicolor, virginica, 50 each). Needs scikit-learn
    (``pip install "hjqp[sgd]"``); nothing is downloaded."""
    return np.ascontiguousarray(_iris()[:, 2])


def iris_measurements(standardise: bool = True) -> np.ndarray:
    """The four measurements of the 150 flowers of Fisher's iris data, as
    bundled with scikit-learn: ``(150, 4)``, columns sepal length, sepal
    width, petal length, petal width (cm), rows setosa, versicolor,
    virginica (50 each). With ``standardise`` each column is shifted and
    scaled to mean 0 and standard deviation 1 (1/n). Needs scikit-learn;
    nothing is downloaded."""
    data = _iris()
    if standardise:
        data = (data - data.mean(axis=0)) / data.std(axis=0)
    return np.ascontiguousarray(data)


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


class GaussianMixture:
    """The per-sample losses of a two-component Gaussian mixture on data
    y_1..y_n in R^q, components isotropic with fixed widths s1, s2 and a
    fixed weight pi; the parameters are the two means,
    x = (mu1, mu2) in R^(2q):

        f_i = -log(pi N(y_i; mu1, s1^2 I) + (1 - pi) N(y_i; mu2, s2^2 I)).

    Fixing the weight and unequal widths breaks the symmetry that swaps the
    components: the minima with a given component on a given cluster are
    distinct, not mirror images. For q = 1 this is
    :class:`GaussianMixture1D` with a fixed weight.

    Per-sample gradients grad_{mu_k} f_i = -r_k (y_i - mu_k) / s_k^2, with
    r_k the responsibility of component k for y_i; the Hessian of f is exact
    too (:meth:`hessian`). Vectorised over parameter points (..., 2q);
    ``gradients(x, idx)`` has the signature :class:`MinibatchSGD` takes.

    Parameters
    ----------
    data : array (n, q)
    scale : pair of float
        The widths (s1, s2) > 0.
    weight : float
        pi in (0, 1), the weight of the first component.
    """

    def __init__(self, data, scale=(0.6, 1.2), weight: float = 1.0 / 3.0):
        # A copy: the loss must not change with the caller's array.
        data = np.array(data, dtype=float)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or len(data) < 2 or not np.all(np.isfinite(data)):
            raise ValueError(f"data must be a finite array (n >= 2, q) of samples, got shape {np.shape(data)}")
        scales = np.asarray(scale, dtype=float)
        if scales.shape != (2,) or not np.all(np.isfinite(scales) & (scales > 0)):
            raise ValueError(f"scale must be a pair of positive widths (s1, s2), got {scale!r}")
        if not (isinstance(weight, (int, float, np.floating)) and 0 < weight < 1):
            raise ValueError(f"weight must lie in (0, 1), got {weight!r}")
        self.data = data
        self.scales = (float(scales[0]), float(scales[1]))
        self.weight = float(weight)
        self.features = data.shape[1]
        self.dim = 2 * self.features

    @property
    def n_samples(self) -> int:
        return len(self.data)

    def _parts(self, x, idx):
        """Residuals y - mu_k (..., m, q) and log(pi_k N_k) + q/2 log(2 pi) (..., m)."""
        x = np.asarray(x, dtype=float)
        if x.shape[-1:] != (self.dim,):
            raise ValueError(f"parameters must have shape (..., {self.dim}), got {x.shape}")
        q = self.features
        y = self.data if idx is None else self.data[np.asarray(idx)]
        if idx is None:
            y = np.broadcast_to(y, x.shape[:-1] + y.shape)
        e1 = y - x[..., None, :q]
        e2 = y - x[..., None, q:]
        s1, s2 = self.scales
        a1 = np.log(self.weight) - q * np.log(s1) - 0.5 * np.sum(e1 * e1, axis=-1) / s1**2
        a2 = np.log1p(-self.weight) - q * np.log(s2) - 0.5 * np.sum(e2 * e2, axis=-1) / s2**2
        return e1, e2, a1, a2

    def losses(self, x, idx=None) -> np.ndarray:
        """f_i at parameter points ``(..., 2q)``: ``(..., n)`` (or ``(..., m)``
        for sample indices idx of shape ``(..., m)``)."""
        _, _, a1, a2 = self._parts(x, idx)
        return -np.logaddexp(a1, a2) + 0.5 * self.features * np.log(2 * np.pi)

    def gradients(self, x, idx=None) -> np.ndarray:
        """grad f_i: ``(..., n, 2q)`` (or ``(..., m, 2q)`` for indices idx)."""
        from scipy.special import expit

        e1, e2, a1, a2 = self._parts(x, idx)
        r1 = expit(a1 - a2)[..., None]  # the responsibility of component 1
        s1, s2 = self.scales
        return np.concatenate([-r1 * e1 / s1**2, (r1 - 1.0) * e2 / s2**2], axis=-1)

    def loss(self, x) -> np.ndarray:
        """f = mean of f_i, at points ``(..., 2q)``."""
        return self.losses(x).mean(axis=-1)

    def gradient(self, x) -> np.ndarray:
        """grad f at points ``(..., 2q)``."""
        return self.gradients(x).mean(axis=-2)

    def hessian(self, x) -> np.ndarray:
        """The Hessian of f at points ``(..., 2q)``: ``(..., 2q, 2q)``. Per
        sample, block (k, l) is delta_kl r_k / s_k^2 I - r_k (delta_kl - r_l)
        e_k e_l^T / (s_k^2 s_l^2), e_k = y_i - mu_k (the derivative of the
        responsibilities, r_k (delta_kl - r_l) e_l / s_l^2)."""
        from scipy.special import expit

        e1, e2, a1, a2 = self._parts(x, None)
        r1 = expit(a1 - a2)
        r2 = 1.0 - r1
        s1, s2 = self.scales
        q, n = self.features, self.n_samples
        # u_k = e_k / s_k^2; the rank-one part is -r1 r2 (u1, -u2)(u1, -u2)^T
        # summed over samples, since r_k (delta_kl - r_l) = r1 r2 times
        # +1 on the diagonal blocks and -1 off them.
        v = np.concatenate([e1 / s1**2, -e2 / s2**2], axis=-1)
        outer = np.einsum("...n,...ni,...nj->...ij", r1 * r2, v, v) / n
        diagonal = np.concatenate([np.repeat(r1.mean(axis=-1, keepdims=True) / s1**2, q, axis=-1),
                                   np.repeat(r2.mean(axis=-1, keepdims=True) / s2**2, q, axis=-1)], axis=-1)
        return diagonal[..., None] * np.eye(self.dim) - outer

    def starts(self, count: int, seed=None) -> np.ndarray:
        """``count`` start points for training ``(count, 2q)``: the two means
        at two distinct samples drawn at random (seeded)."""
        rng = np.random.default_rng(seed)
        pick = np.stack([rng.choice(self.n_samples, size=2, replace=False) for _ in range(int(count))])
        return self.data[pick].reshape(len(pick), self.dim)

    def sgd(self, batch_size: int = 1, replace: bool = True) -> MinibatchSGD:
        """Minibatch SGD on this loss."""
        return MinibatchSGD(self.gradients, self.n_samples, batch_size, replace)
