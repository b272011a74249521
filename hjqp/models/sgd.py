"""SGD problems on real data: Gaussian mixtures fitted to the iris petal
lengths (two or three parameters) and to all four iris measurements (eight
parameters), with the SDE of batch-1 SGD."""

from __future__ import annotations

import numpy as np

from ..sgd import GaussianMixture, GaussianMixture1D, iris_measurements, iris_petal_lengths, train
from .problem import Problem

__all__ = ["iris_mixture", "iris_two_widths", "iris_four_features"]


def _critical_point(gradient, x0) -> tuple:
    """A zero of the loss gradient near x0, to 1e-13: scipy's hybrid Powell
    method (MINPACK) on the exact gradient. (The critical points of these
    models are where minibatch SGD starts in the studies; the equilibria of
    a drift on a grid are :func:`hjqp.problem.newton`'s.)"""
    from scipy.optimize import root

    sol = root(gradient, np.array(x0, dtype=float), tol=1e-13)
    if not sol.success:
        raise RuntimeError(f"Newton's method failed from {x0}: {sol.message}")
    return tuple(float(v) for v in sol.x)


def iris_mixture(scale: float = 1.1, weight: float = 1.0 / 3.0, learn_weight: bool = False,
                 regularisation: float = 1e-3) -> Problem:
    """SGD on a two-component Gaussian mixture fitted to the petal lengths of
    Fisher's iris data (scikit-learn's bundled copy): per-sample losses
    f_i = -log(pi N(x_i; mu1, s) + (1 - pi) N(x_i; mu2, s)) with parameters
    (mu1, mu2) (pi = `weight` fixed) or (mu1, mu2, rho), pi = sigmoid(rho)
    (`learn_weight`); see :class:`hjqp.sgd.GaussianMixture1D`.

    The SDE is that of batch-1 SGD: b = -grad f, D = the per-sample gradient
    covariance plus `regularisation` times the identity (D is singular on
    the diagonal mu1 = mu2, where the saddle lies; the transition costs
    depend on the regularisation there, see the README). Box: means in
    [-0.5, 7.5], rho in [-4, 4]. The minima are found by Newton's method on
    the exact gradient; the saddle is (mean(x), mean(x)) exactly (with a
    learned weight, (mean, mean, 0) on a line of critical points
    (mean, mean, rho)); no exact quasi-potential is known.
    """
    model = GaussianMixture1D(iris_petal_lengths(), scale, weight, learn_weight)
    sgd = model.sgd(1)
    p1 = float(weight)
    rho = float(np.log(p1 / (1 - p1)))
    starts = [(1.6, 4.9, rho), (4.9, 1.6, -rho)] if learn_weight else [(1.6, 4.9), (5.1, 2.2)]
    minima = tuple(_critical_point(sgd.gradient, x0) for x0 in starts)
    # On the diagonal mu1 = mu2 every per-sample gradient is a multiple of
    # (pi, 1 - pi[, 0]) times (x_i - mu): grad f vanishes at mu = mean(x),
    # for any rho when the weight is learned (a line of critical points).
    mean = float(np.mean(model.data))
    saddles = ((mean, mean, 0.0),) if learn_weight else ((mean, mean),)
    d = model.dim
    name = (f"iris_mixture(scale={scale:g}, " + ("learned weight" if learn_weight else f"weight={weight:.4g}")
            + f", regularisation={regularisation:g})")
    return Problem(name, sgd.sde(regularisation), minima[0], (-0.5, -0.5, -4.0)[:d], (7.5, 7.5, 4.0)[:d],
                   attractors=minima, saddles=saddles, losses=model)


def iris_two_widths(narrow: float = 0.4, wide: float = 1.0, weight: float = 1.0 / 3.0) -> Problem:
    """SGD on a Gaussian mixture with a narrow and a wide component fitted to
    the iris petal lengths: f_i = -log(pi N(x_i; mu1, narrow) +
    (1 - pi) N(x_i; mu2, wide)), parameters (mu1, mu2), pi = `weight`.

    Two minima: O1 with the narrow component on setosa (the lower loss) and
    O2 with the narrow component on the larger flowers; one saddle between
    them. Unlike :func:`iris_mixture` the gradient noise is definite where
    the transitions go (the components differ on the diagonal), so no
    regularisation is needed. With the default widths the anisotropic noise
    and its isotropic counterfactual (same trace) select different minima.
    The SDE is that of batch-1 SGD. Box [-1, 8]^2: the landscape warns that
    the basin of O2 reaches its edge below its exit cost (far out a component
    leaves the data and the loss flattens); boxes [-4, 11]^2 and [-7, 14]^2
    give the same costs within 2e-3. Minima and saddle by Newton's method;
    no exact quasi-potential is known.
    """
    if not 0 < narrow < wide:
        raise ValueError(f"need 0 < narrow < wide, got narrow={narrow!r}, wide={wide!r}")
    model = GaussianMixture1D(iris_petal_lengths(), (narrow, wide), weight)
    sgd = model.sgd(1)
    minima = tuple(_critical_point(sgd.gradient, x0) for x0 in [(1.46, 4.9), (5.3, 2.5)])
    saddle = _critical_point(sgd.gradient, (3.0, 3.8))
    name = f"iris_two_widths(narrow={narrow:g}, wide={wide:g}, weight={weight:.4g})"
    return Problem(name, sgd.sde(), minima[0], (-1.0, -1.0), (8.0, 8.0), attractors=minima,
                   saddles=(saddle,), losses=model)


def iris_four_features(narrow: float = 0.6, wide: float = 1.2, weight: float = 1.0 / 3.0, n_starts: int = 20,
                       seed: int = 0) -> Problem:
    """SGD on a Gaussian mixture in eight parameters: two isotropic
    components in the four iris measurements (sepal length and width, petal
    length and width of the 150 flowers in scikit-learn's copy, each
    standardised to mean 0 and standard deviation 1),

        f_i = -log(pi N(y_i; mu1, narrow^2 I) + (1 - pi) N(y_i; mu2, wide^2 I)),

    parameters the two means x = (mu1, mu2) in R^8, pi = `weight`; see
    :class:`hjqp.sgd.GaussianMixture`. The widths and the weight are fixed:
    unequal widths break the symmetry that swaps the components (the minima
    are distinct, not mirror images), and learned widths would shrink the
    component on setosa to a width of about 0.1, whose curvature (in the
    tens) leaves no learning rate both stable and large enough for
    transitions.

    The minima are found by training (:func:`hjqp.sgd.train`: BFGS from
    `n_starts` seeded starts, Newton's method on the exact gradient,
    duplicates merged, Hessian positive definite): with the defaults two,
    O1 with the narrow component on setosa (loss 4.9364) and O2 with it on
    versicolor and virginica (loss 4.9676), 4.37 apart. The saddle between
    them (index 1, loss 5.7802) is Newton's from the highest point of the
    loss on the segment between them. The SDE is that of batch-1 SGD
    (b = -grad f, D = the per-sample gradient covariance, definite along
    the transitions); the box [-3, 3]^8 holds the data and the minima.
    No exact quasi-potential is known.
    """
    from scipy.optimize import root

    if not (0 < narrow < wide):
        raise ValueError(f"need 0 < narrow < wide, got narrow={narrow!r}, wide={wide!r}")
    model = GaussianMixture(iris_measurements(), (narrow, wide), weight)
    found = train(model, n_starts, seed)
    if found.k < 2:
        raise RuntimeError(f"training from {n_starts} starts found {found.k} minimum; raise n_starts")
    a, b = found.points[:2]
    t = np.linspace(0.0, 1.0, 201)
    top = a + t[np.argmax(model.loss(a + t[:, None] * (b - a)))] * (b - a)
    saddle = root(model.gradient, top, jac=model.hessian, tol=1e-14).x
    if not (np.linalg.norm(model.gradient(saddle)) <= 1e-10
            and np.sum(np.linalg.eigvalsh(model.hessian(saddle)) < 0) == 1):
        raise RuntimeError(f"Newton's method from {np.round(top, 4).tolist()} found no saddle of index 1")
    name = f"iris_four_features(narrow={narrow:g}, wide={wide:g}, weight={weight:.4g})"
    minima = tuple(tuple(float(v) for v in x) for x in found.points)
    return Problem(name, model.sgd(1).sde(), minima[0], (-3.0,) * model.dim, (3.0,) * model.dim,
                   attractors=minima, saddles=(tuple(float(v) for v in saddle),), losses=model)
