"""Core layers: Dense, Activation, Flatten, Reshape, Dropout, Add, Concatenate."""
import numpy as np

from .. import activations
from ..errors import BuildError
from ..ops.array import concat, reshape
from ..ops.math import add_n
from ..ops.nn import dropout
from .base import Layer, _as_list, activate, to_internal, to_user


class Dense(Layer):
    """y = activation(x·W + b) on the last axis; kernel (in, out) as in Keras."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units < 1:
            raise BuildError(f"Dense: units must be a positive integer, got {units!r}")
        self.units, self.use_bias = int(units), use_bias
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def build(self, x):
        if x.ndim == 4:
            raise BuildError(f"Dense got an image tensor {to_user(x).shape}: add a Flatten layer first")
        fan_in = x.shape[-1]
        self.kernel = self.add_weight("kernel", (fan_in, self.units), self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer)

    def call(self, x):
        y = x @ self.kernel
        if self.use_bias:
            y = y + self.bias
        return activate(self.activation, y)


class Activation(Layer):
    """Applies an activation by name: every activation of the notes (see ``graphcore.activations``)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x):
        return activate(self.activation, x)


class Flatten(Layer):
    """(N, ...) → (N, features), in Keras's channels-last order so Dense weights match Keras's."""

    def call(self, x):
        x = to_user(x)
        return reshape(x, (-1, int(np.prod(x.shape[1:]))))


class Reshape(Layer):
    """Reshape each example to ``target_shape`` (channels-last for images, as in Keras)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, x):
        return to_internal(reshape(to_user(x), (-1,) + self.target_shape))


class Dropout(Layer):
    """Inverted dropout, active only in training (the learning-phase switch)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), seed

    def call(self, x):
        return dropout(x, self.rate, self.training, seed=self.seed)


class Add(Layer):
    """Sum of several same-shaped inputs (residual connections)."""

    def call(self, inputs):
        return add_n(_as_list(inputs))


class Concatenate(Layer):
    """Join inputs along ``axis`` (Keras's channels-last axis numbering)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        inputs = _as_list(inputs)
        rank = inputs[0].ndim
        axis = self.axis % rank
        if rank == 4:   # channels-last axis → internal NCHW axis
            axis = {0: 0, 1: 2, 2: 3, 3: 1}[axis]
        return concat(inputs, axis)
