"""Weight initialisers. Random ones are graph tensors (run when the session initialises the variable) and
constant ones are zero-stride views, so building a full-size model allocates no weights at all.

Fans follow Keras: a dense kernel (in, out) has fan_in = in; a convolution kernel has fan_in = in·kh·kw.
"""
import numpy as np

from .lookup import lookup
from .ops.random import random_normal, random_uniform


def _fans(shape, fans):
    if fans is not None:
        return fans
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[0] * receptive, shape[1] * receptive


def glorot_uniform(shape, dtype, fans=None, seed=None):
    """U(−l, l) with l = √(6 / (fan_in + fan_out)) — Keras's default."""
    fan_in, fan_out = _fans(shape, fans)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return random_uniform(shape, -limit, limit, dtype=dtype, seed=seed)


def he_normal(shape, dtype, fans=None, seed=None):
    """N(0, 2 / fan_in): keeps ReLU activations' variance steady through depth."""
    fan_in, _ = _fans(shape, fans)
    return random_normal(shape, 0.0, np.sqrt(2.0 / fan_in), dtype=dtype, seed=seed)


def zeros(shape, dtype, fans=None, seed=None):
    return np.broadcast_to(np.zeros((), dtype), shape)


def ones(shape, dtype, fans=None, seed=None):
    return np.broadcast_to(np.ones((), dtype), shape)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "he_normal": he_normal, "zeros": zeros, "ones": ones}


def get(identifier):
    return lookup(INITIALIZERS, identifier, "initializer")
