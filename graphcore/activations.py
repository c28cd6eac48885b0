"""The notes' activation functions, composed from primitives (their gradients come for free).

Every function here is also available by name through ``get("bipolar_sigmoid")`` for layers.
"""
from .lookup import lookup
from .ops.math import elu, identity, leaky_relu, maximum, minimum, relu, sigmoid, softplus, step, tanh
from .ops.nn import log_softmax, softmax


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


ACTIVATIONS = {
    "linear": linear, None: linear, "identity": identity, "binary_step": binary_step, "step": binary_step,
    "bipolar_step": bipolar_step, "sigmoid": sigmoid, "binary_sigmoid": binary_sigmoid,
    "bipolar_sigmoid": bipolar_sigmoid, "ramp": ramp, "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu,
    "tanh": tanh, "softmax": softmax, "log_softmax": log_softmax, "softplus": softplus,
}


def get(identifier):
    """An activation function from its name (or a callable, returned as is)."""
    return lookup(ACTIVATIONS, identifier, "activation")
