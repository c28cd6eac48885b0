"""The notes' and Keras's activation functions, composed from primitives (their gradients come for free).

Every function here is also available by name through ``get("bipolar_sigmoid")`` for layers.
"""
import math
import sys

from . import compat
from .lookup import lookup, missing_names
from .ops.math import abs, elu, exp, identity, leaky_relu, maximum, minimum, relu, sigmoid, softplus, step, tanh
from .ops.nn import log_softmax, softmax
from .ops.special import erf


def linear(x):
    """f(x) = x."""
    return x


def binary_step(x, threshold=0.0):
    """1 if x ≥ threshold else 0 (not differentiable)."""
    return step(x, threshold, low=0.0, high=1.0)


def bipolar_step(x, threshold=0.0):
    """1 if x ≥ threshold else −1 (not differentiable)."""
    return step(x, threshold, low=-1.0, high=1.0)


def binary_sigmoid(x, steepness=1.0):
    """1 / (1 + e^(−λx)), range (0, 1); f' = λ f (1 − f)."""
    return sigmoid(x * steepness) if steepness != 1.0 else sigmoid(x)


def bipolar_sigmoid(x, steepness=1.0):
    """2 / (1 + e^(−λx)) − 1 = (1 − e^(−λx)) / (1 + e^(−λx)), range (−1, 1)."""
    return 2.0 * binary_sigmoid(x, steepness) - 1.0


def relu6(x):
    """min(max(x, 0), 6): MobileNet's bounded ReLU."""
    return minimum(relu(x), 6.0)


def ramp(x):
    """0 below 0, x on [0, 1], 1 above 1."""
    return minimum(maximum(x, 0.0), 1.0)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def selu(x):
    """Scaled ELU: scale·x for x > 0, scale·α·(eᵡ − 1) otherwise (Klambauer et al.; Keras's constants)."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def softsign(x):
    """x / (|x| + 1)."""
    return x / (abs(x) + 1.0)


def swish(x):
    """x · sigmoid(x) (also called SiLU)."""
    return x * sigmoid(x)


def gelu(x, approximate=False):
    """x · Φ(x) = ½x(1 + erf(x/√2)); ``approximate``: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    if approximate:
        return 0.5 * x * (1.0 + tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))


def exponential(x):
    """eᵡ."""
    return exp(x)


def hard_sigmoid(x):
    """relu6(x + 3) / 6 (Keras 3's; Keras 2 used clip(0.2·x + 0.5, 0, 1), which differs between |x| > 2.5
    and 3)."""
    return relu6(x + 3.0) * (1.0 / 6.0)


def mish(x):
    """x · tanh(softplus(x))."""
    return x * tanh(softplus(x))


ACTIVATIONS = {
    "linear": linear, None: linear, "identity": identity, "binary_step": binary_step, "step": binary_step,
    "bipolar_step": bipolar_step, "sigmoid": sigmoid, "binary_sigmoid": binary_sigmoid,
    "bipolar_sigmoid": bipolar_sigmoid, "ramp": ramp, "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu,
    "tanh": tanh, "softmax": softmax, "log_softmax": log_softmax, "softplus": softplus,
    "selu": selu, "softsign": softsign, "swish": swish, "silu": swish, "gelu": gelu, "exponential": exponential,
    "hard_sigmoid": hard_sigmoid, "mish": mish,
}
for _name in ("relu", "sigmoid", "tanh", "softmax", "softplus", "elu", "selu", "softsign", "swish", "silu", "gelu",
              "exponential", "hard_sigmoid", "mish", "relu6", "leaky_relu", "linear", "log_softmax"):
    compat.declare("Keras", f"activation='{_name}' / keras.activations.{_name}",
                   f"gc.activations.{'swish' if _name == 'silu' else _name}",
                   "Keras 3's formula (Keras 2's differs for 2.5 < |x| < 3)" if _name == "hard_sigmoid" else "")


@compat.same_as("Keras", "keras.activations.get")
def get(identifier):
    """An activation function from its name (or a callable, returned as is)."""
    return lookup(ACTIVATIONS, identifier, "activation")

__getattr__ = missing_names(sys.modules[__name__], {})
