"""Minibatch SGD on a finite sum f = (1/n) sum_i f_i, and the SDE that
approximates it.

SGD with learning rate eta and batch size m, x_{k+1} = x_k - eta g_k with
g_k the mean of grad f_i over a random batch, is close for small eta to
dx = -grad f dt + sqrt(eps) Sigma dW at time t = k eta, with eps = eta / m
(times (n - m) / (n - 1) when batches are drawn without replacement) and
D = Sigma Sigma^T the per-sample gradient covariance
(1/n) sum_i (grad f_i - grad f)(grad f_i - grad f)^T.

:class:`MinibatchSGD` runs the actual iteration as a simulation engine
(:mod:`hjqp.stochastic.engine`), with the same estimators as the SDE's Monte
Carlo (paths, first exits, long runs), so that the SDE approximation itself
can be tested, in any number of parameters; :func:`train` finds a loss's
minima from several starts; :func:`selection_study` (on grids, 2 or 3
parameters) and :func:`barrier_study` (minimum action paths, any number)
ask which minimum it selects.
"""

from .minibatch import MinibatchSGD, SGDSteps
from .mixture import GaussianMixture, GaussianMixture1D, iris_measurements, iris_petal_lengths
from .study import barrier_study, fit_barriers, isotropic, selection_study
from .training import Minima, train

__all__ = ["MinibatchSGD", "SGDSteps", "GaussianMixture1D", "GaussianMixture", "iris_petal_lengths",
           "iris_measurements", "Minima", "train", "isotropic", "fit_barriers", "selection_study", "barrier_study"]
