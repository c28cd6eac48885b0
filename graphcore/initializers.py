"""Weight initialisers. Random ones are graph tensors (run when the session initialises the variable) and
constant ones are zero-stride views, so building a full-size model allocates no weights at all.

Fans follow Keras: a dense kernel (in, out) has fan_in = in; a convolution kernel has fan_in = in·kh·kw.
Keras's names work as strings ("he_uniform", "random_normal", ...) and as classes
(``gc.initializers.HeNormal(seed=0)``, ``RandomNormal(mean=0.0, stddev=0.05)``, ``Constant(0.1)``). One
difference: Keras draws its ``*_normal`` variance-scaling initialisers from a truncated normal; graphcore's
``he_normal``, ``glorot_normal`` and ``lecun_normal`` use a plain normal of the same standard deviation.
"""
import sys

import numpy as np

from . import compat
from .errors import BuildError
from .lookup import lookup, missing_names
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


def glorot_normal(shape, dtype, fans=None, seed=None):
    """N(0, 2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape, fans)
    return random_normal(shape, 0.0, np.sqrt(2.0 / (fan_in + fan_out)), dtype=dtype, seed=seed)


def he_uniform(shape, dtype, fans=None, seed=None):
    """U(−l, l) with l = √(6 / fan_in)."""
    fan_in, _ = _fans(shape, fans)
    limit = np.sqrt(6.0 / fan_in)
    return random_uniform(shape, -limit, limit, dtype=dtype, seed=seed)


def lecun_normal(shape, dtype, fans=None, seed=None):
    """N(0, 1 / fan_in) (SELU networks)."""
    fan_in, _ = _fans(shape, fans)
    return random_normal(shape, 0.0, np.sqrt(1.0 / fan_in), dtype=dtype, seed=seed)


def lecun_uniform(shape, dtype, fans=None, seed=None):
    """U(−l, l) with l = √(3 / fan_in)."""
    fan_in, _ = _fans(shape, fans)
    limit = np.sqrt(3.0 / fan_in)
    return random_uniform(shape, -limit, limit, dtype=dtype, seed=seed)


def random_normal_05(shape, dtype, fans=None, seed=None):
    """Keras's "random_normal": N(0, 0.05²)."""
    return random_normal(shape, 0.0, 0.05, dtype=dtype, seed=seed)


def random_uniform_05(shape, dtype, fans=None, seed=None):
    """Keras's "random_uniform" (and Embedding's "uniform"): U(−0.05, 0.05)."""
    return random_uniform(shape, -0.05, 0.05, dtype=dtype, seed=seed)


def zeros(shape, dtype, fans=None, seed=None):
    return np.broadcast_to(np.zeros((), dtype), shape)


def ones(shape, dtype, fans=None, seed=None):
    return np.broadcast_to(np.ones((), dtype), shape)


def orthogonal(shape, dtype, fans=None, seed=None):
    """Keras's recurrent-kernel default: one orthogonal (units × units) block per gate (a QR of a normal draw;
    a square matrix for other shapes)."""
    rng = np.random.default_rng(seed)
    rows, width = shape[0], int(np.prod(shape[1:]))
    if width % rows == 0:
        blocks = [np.linalg.qr(rng.normal(size=(rows, rows)))[0] for _ in range(width // rows)]
        return np.concatenate(blocks, axis=1).reshape(shape).astype(dtype)
    q, _ = np.linalg.qr(rng.normal(size=(max(rows, width), min(rows, width))))
    return (q if rows >= width else q.T).reshape(shape).astype(dtype)


class Initializer:
    """Keras's initializer objects: ``init(shape, dtype)``; ``seed`` makes the draw reproducible."""

    function, defaults = None, {}

    def __init__(self, *args, **options):
        names = [*self.defaults, "seed"]   # Keras's positional order: the options, then the seed
        if len(args) > len(names):
            raise BuildError(f"{type(self).__name__} takes at most {len(names)} positional arguments {names}")
        options.update(zip(names, args))
        seed = options.pop("seed", None)
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise BuildError(f"{type(self).__name__} got unknown argument(s) {unknown}")
        self.seed, self.options = seed, {**self.defaults, **options}

    def __call__(self, shape, dtype="float32", fans=None, seed=None):
        return type(self).function(tuple(shape), np.dtype(dtype), fans=fans,
                                   seed=self.seed if seed is None else seed, **self.options)

    def get_config(self):
        return {"seed": self.seed, **self.options}


def _random_normal(shape, dtype, fans=None, seed=None, mean=0.0, stddev=0.05):
    return random_normal(shape, mean, stddev, dtype=dtype, seed=seed)


def _random_uniform(shape, dtype, fans=None, seed=None, minval=-0.05, maxval=0.05):
    return random_uniform(shape, minval, maxval, dtype=dtype, seed=seed)


def _constant(shape, dtype, fans=None, seed=None, value=0.0):
    return np.broadcast_to(np.asarray(value, dtype), shape)


def _initializer_class(name, function, **defaults):
    cls = type(name, (Initializer,), {"function": staticmethod(function), "defaults": defaults,
                                      "__module__": __name__, "__doc__": f"Keras's ``keras.initializers.{name}``."})
    return compat.same_as("Keras", f"keras.initializers.{name}")(cls)


GlorotUniform = _initializer_class("GlorotUniform", glorot_uniform)
GlorotNormal = _initializer_class("GlorotNormal", glorot_normal)
HeNormal = _initializer_class("HeNormal", he_normal)
HeUniform = _initializer_class("HeUniform", he_uniform)
LecunNormal = _initializer_class("LecunNormal", lecun_normal)
LecunUniform = _initializer_class("LecunUniform", lecun_uniform)
RandomNormal = _initializer_class("RandomNormal", _random_normal, mean=0.0, stddev=0.05)
RandomUniform = _initializer_class("RandomUniform", _random_uniform, minval=-0.05, maxval=0.05)
Orthogonal = _initializer_class("Orthogonal", orthogonal)
Zeros = _initializer_class("Zeros", zeros)
Ones = _initializer_class("Ones", ones)
Constant = _initializer_class("Constant", _constant, value=0.0)

INITIALIZERS = {"glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal, "he_normal": he_normal,
                "he_uniform": he_uniform, "lecun_normal": lecun_normal, "lecun_uniform": lecun_uniform,
                "random_normal": random_normal_05, "normal": random_normal_05, "random_uniform": random_uniform_05,
                "uniform": random_uniform_05, "zeros": zeros, "ones": ones, "orthogonal": orthogonal}
for _name in INITIALIZERS:
    compat.declare("Keras", f"kernel_initializer='{_name}'", f"gc.initializers.{INITIALIZERS[_name].__name__}",
                   "a plain (not truncated) normal, as the module says" if _name.endswith("_normal") and
                   _name != "random_normal" else "")


@compat.same_as("Keras", "keras.initializers.get")
def get(identifier):
    return lookup(INITIALIZERS, identifier, "initializer")

__getattr__ = missing_names(sys.modules[__name__], {})
