"""A user model for the command-line tests: module:function returning an SDE."""

import numpy as np

import hjqp


def rotating(strength=1.0):
    """b = (-x - s y, s x - y), D = I: U = x^2 + y^2."""
    s = float(strength)
    return hjqp.SDE(lambda p: np.stack([-p[..., 0] - s * p[..., 1], s * p[..., 0] - p[..., 1]], axis=-1))


def broken(strength=1.0):
    """A model whose own code fails when it is built."""
    raise ZeroDivisionError("strength over zero")


def broken_drift():
    """A model whose drift fails when it is sampled."""
    def drift(p):
        raise KeyError("rate")

    return hjqp.SDE(drift)
