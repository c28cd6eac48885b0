"""Special functions that ONNX models use and no composition of graphcore's primitives gives exactly."""
import math

import numpy as np

from ..op import apply_op, register
from .math import Unary, exp, square

_erf = np.frompyfunc(math.erf, 1, 1)   # exact to double precision (NumPy has no erf and scipy is no dependency)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@register
class Erf(Unary):
    """The error function (GELU is 0.5·x·(1 + erf(x/√2))); d erf(x)/dx = 2/√π · exp(−x²)."""

    def compute(self, x):
        return _erf(x).astype(x.dtype)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x = node.inputs[0]
        return [g * (_TWO_OVER_SQRT_PI * exp(-square(x)))]


def erf(x, name=None):
    return apply_op("Erf", [x], name=name)
