"""Core layers: Dense, Activation and the activation layers, Flatten, Reshape, Dropout, the merge layers
(Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, and their functional forms), UpSampling2D
and the global poolings over sequences."""
import numpy as np

from .. import activations, compat
from ..errors import BuildError, CompatError
from ..ops.array import concat, reshape, tile
from ..ops.math import add_n, elu, maximum, minimum, relu, where
from ..ops.math import multiply as multiply_op
from ..ops.nn import dropout, softmax
from ..ops.reduce import reduce_max, reduce_mean
from .base import Layer, _as_list, activate
from .layout import to_internal, to_user


@compat.same_as("Keras", "keras.layers.Dense", "keras.layers.Dense(input_dim=)")
class Dense(Layer):
    """y = activation(x·W + b) on the last axis; kernel (in, out) as in Keras."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units < 1:
            raise BuildError(f"Dense: units must be a positive integer, got {units!r}")
        self.units, self.use_bias = int(units), use_bias
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, x):
        if x.ndim == 4:
            raise BuildError(f"Dense got an image tensor {to_user(x).shape}: add a Flatten layer first")
        fan_in = x.shape[-1]
        self.kernel = self.add_weight("kernel", (fan_in, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, regularizer=self.bias_regularizer)

    def call(self, x):
        y = x @ self.kernel
        if self.use_bias:
            y = y + self.bias
        return activate(self.activation, y)


@compat.same_as("Keras", "keras.layers.Activation")
class Activation(Layer):
    """Applies an activation by name: every activation of the notes and Keras's (``graphcore.activations``)."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x):
        return activate(self.activation, x)


@compat.same_as("Keras", "keras.layers.ReLU")
class ReLU(Layer):
    """Keras's ReLU layer: max_value where x ≥ max_value, x where threshold ≤ x, else
    negative_slope·(x − threshold)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else float(max_value)
        self.negative_slope, self.threshold = float(negative_slope), float(threshold)

    def call(self, x):
        if self.negative_slope == 0.0 and self.threshold == 0.0:
            y = relu(x)
        else:
            y = where(x >= self.threshold, x, (x - self.threshold) * self.negative_slope)
        return y if self.max_value is None else minimum(y, self.max_value)


@compat.same_as("Keras", "keras.layers.LeakyReLU", note="negative_slope (Keras 3) or alpha (Keras 2); default 0.3")
class LeakyReLU(Layer):
    """x for x > 0, negative_slope·x otherwise; Keras's layer default slope is 0.3 (the function's is 0.2)."""

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope if alpha is None else alpha)

    def call(self, x):
        return where(x > 0.0, x, x * self.negative_slope)

    def get_config(self):
        config = super().get_config()
        config.pop("alpha", None)
        config["negative_slope"] = self.negative_slope
        return config


@compat.same_as("Keras", "keras.layers.ELU")
class ELU(Layer):
    """x for x > 0, alpha·(eˣ − 1) otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, x):
        return elu(x, self.alpha)


@compat.same_as("Keras", "keras.layers.Softmax")
class Softmax(Layer):
    """Softmax over ``axis`` (Keras's numbering: −1 is the channels of an image)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, x):
        return softmax(x, internal_axis(self.axis, x.ndim))


def internal_axis(axis, rank):
    """A Keras (channels-last) axis as the axis of the tensor a layer computes on (NCHW for images)."""
    axis = axis % rank
    return {0: 0, 1: 2, 2: 3, 3: 1}[axis] if rank == 4 else axis


@compat.same_as("Keras", "keras.layers.Flatten")
class Flatten(Layer):
    """(N, ...) → (N, features), in Keras's channels-last order so Dense weights match Keras's."""

    def call(self, x):
        x = to_user(x)
        return reshape(x, (-1, int(np.prod(x.shape[1:]))))


@compat.same_as("Keras", "keras.layers.Reshape", "keras.layers.Reshape((-1, 2))")
class Reshape(Layer):
    """Reshape each example to ``target_shape`` (channels-last for images, as in Keras); one entry may be −1,
    worked out from the example's size."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, x):
        x = to_user(x)
        target = self.target_shape
        if target.count(-1) > 1:
            raise BuildError(f"Reshape{target}: at most one dimension may be -1")
        size = int(np.prod(x.shape[1:])) if all(d is not None for d in x.shape[1:]) else None
        known = int(np.prod([d for d in target if d != -1]))
        if -1 in target:
            if size is None or known == 0 or size % known:
                raise BuildError(f"Reshape{target}: cannot fit examples of shape {x.shape[1:]} "
                                 f"({size} values) into it")
            target = tuple(size // known if d == -1 else d for d in target)
        elif size is not None and size != known:
            raise BuildError(f"Reshape{target}: examples of shape {x.shape[1:]} hold {size} values, the target "
                             f"shape {known}")
        return to_internal(reshape(x, (-1,) + target))


@compat.same_as("Keras", "keras.layers.Dropout")
class Dropout(Layer):
    """Inverted dropout, active only in training (the learning-phase switch)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if noise_shape is not None:
            raise CompatError(f"Dropout(noise_shape={noise_shape!r}): {NOISE_SHAPE}")
        self.rate, self.seed = float(rate), seed

    def call(self, x):
        return dropout(x, self.rate, self.training, seed=self.seed)


NOISE_SHAPE = compat.difference("Keras", "keras.layers.Dropout(noise_shape=)", "gc.layers.Dropout",
                                "dropout masks every value independently: leave noise_shape None")


# ----- merging ------------------------------------------------------------------------------------------------
class _Merge(Layer):
    """Elementwise merge of same-shaped inputs (the layout is the same for all, so no axis changes)."""

    minimum_inputs = 2

    def call(self, inputs):
        inputs = _as_list(inputs)
        if len(inputs) < self.minimum_inputs:
            raise BuildError(f"{type(self).__name__} merges at least {self.minimum_inputs} inputs, got {len(inputs)}")
        shapes = {t.shape for t in inputs}
        if len(shapes) > 1:
            raise BuildError(f"{type(self).__name__} needs inputs of one shape, got {sorted(map(str, shapes))}")
        return self.merge(inputs)


@compat.same_as("Keras", "keras.layers.Add")
class Add(_Merge):
    """Sum of several same-shaped inputs (residual connections)."""

    minimum_inputs = 1

    def merge(self, inputs):
        return add_n(inputs)


@compat.same_as("Keras", "keras.layers.Subtract")
class Subtract(_Merge):
    """inputs[0] − inputs[1] (exactly two)."""

    def merge(self, inputs):
        if len(inputs) != 2:
            raise BuildError(f"Subtract takes exactly 2 inputs, got {len(inputs)}")
        return inputs[0] - inputs[1]


class _Fold(_Merge):
    """A merge that folds a binary op over the inputs, left to right."""

    def merge(self, inputs):
        result = inputs[0]
        for t in inputs[1:]:
            result = self.fold(result, t)
        return result


@compat.same_as("Keras", "keras.layers.Multiply")
class Multiply(_Fold):
    """Elementwise product."""

    fold = staticmethod(multiply_op)


@compat.same_as("Keras", "keras.layers.Average")
class Average(_Merge):
    """Elementwise mean."""

    def merge(self, inputs):
        return add_n(inputs) * (1.0 / len(inputs))


@compat.same_as("Keras", "keras.layers.Maximum")
class Maximum(_Fold):
    """Elementwise maximum."""

    fold = staticmethod(maximum)


@compat.same_as("Keras", "keras.layers.Minimum")
class Minimum(_Fold):
    """Elementwise minimum."""

    fold = staticmethod(minimum)


@compat.same_as("Keras", "keras.layers.Concatenate")
class Concatenate(Layer):
    """Join inputs along ``axis`` (Keras's channels-last axis numbering)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        inputs = _as_list(inputs)
        return concat(inputs, internal_axis(self.axis, inputs[0].ndim))


def _functional(layer_class, doc):
    def merge(inputs, **kwargs):
        return layer_class(**kwargs)(inputs)
    merge.__name__ = layer_class.__name__.lower()
    merge.__doc__ = (f"Keras's functional form: ``{merge.__name__}([a, b])`` is ``{layer_class.__name__}()([a, b])``; "
                     f"{doc}")
    return compat.same_as("Keras", f"keras.layers.{merge.__name__}")(merge)


add = _functional(Add, "the sum.")
subtract = _functional(Subtract, "a − b.")
multiply = _functional(Multiply, "the product.")
average = _functional(Average, "the mean.")
maximum_ = _functional(Maximum, "the elementwise maximum.")
minimum_ = _functional(Minimum, "the elementwise minimum.")


def concatenate(inputs, axis=-1, **kwargs):
    """Keras's functional form: ``concatenate([a, b], axis=-1)`` is ``Concatenate(axis)([a, b])``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


compat.same_as("Keras", "keras.layers.concatenate")(concatenate)


# ----- resizing and pooling -------------------------------------------------------------------------------------
@compat.same_as("Keras", "keras.layers.UpSampling2D", note="interpolation='nearest' only")
class UpSampling2D(Layer):
    """Repeat each row ``size[0]`` times and each column ``size[1]`` times (nearest neighbour)."""

    def __init__(self, size=(2, 2), interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        if interpolation != "nearest":
            raise CompatError(f"UpSampling2D(interpolation={interpolation!r}): {BILINEAR}")
        size = (size, size) if isinstance(size, int) else tuple(size)
        self.size, self.interpolation = (int(size[0]), int(size[1])), interpolation

    def call(self, x):
        if x.ndim != 4:
            raise BuildError(f"UpSampling2D needs images (batch, height, width, channels), got {to_user(x).shape}")
        _, channels, height, width = x.shape
        sh, sw = self.size
        grid = tile(reshape(x, (-1, channels, height, 1, width, 1)), (1, 1, 1, sh, 1, sw))
        return reshape(grid, (-1, channels, height * sh, width * sw))


BILINEAR = compat.difference("Keras", "keras.layers.UpSampling2D(interpolation='bilinear')",
                             "gc.layers.UpSampling2D", "only nearest-neighbour upsampling is supported; "
                             "Conv2DTranspose learns an upsampling")


@compat.same_as("Keras", "keras.layers.GlobalAveragePooling1D")
class GlobalAveragePooling1D(Layer):
    """(N, steps, features) → (N, features): the mean over the steps."""

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def call(self, x):
        return reduce_mean(x, 1, keepdims=self.keepdims)


@compat.same_as("Keras", "keras.layers.GlobalMaxPooling1D")
class GlobalMaxPooling1D(GlobalAveragePooling1D):
    """(N, steps, features) → (N, features): the maximum over the steps."""

    def call(self, x):
        return reduce_max(x, 1, keepdims=self.keepdims)


@compat.same_as("Keras", "keras.layers.Lambda", note="the function gets channels-last tensors; such a model runs "
                "and exports, but cannot be saved to a file (the function is code)")
class Lambda(Layer):
    """Wraps a function of graph tensors as a layer: ``Lambda(lambda x: x * 2)`` (channels-last, as the user
    sees every tensor)."""

    def __init__(self, function, output_shape=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function, self.arguments = function, dict(arguments or {})

    def call(self, inputs):
        users = [to_user(t) for t in _as_list(inputs)]
        result = self.function(users if isinstance(inputs, (list, tuple)) else users[0], **self.arguments)
        return [to_internal(t) for t in result] if isinstance(result, (list, tuple)) else to_internal(result)


@compat.same_as("Keras", "keras.layers.Rescaling")
class Rescaling(Layer):
    """x · scale + offset (Keras's preprocessing layer: ``Rescaling(1./255)``)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, x):
        return x * self.scale + self.offset if self.offset else x * self.scale


@compat.same_as("Keras", "keras.layers.RepeatVector")
class RepeatVector(Layer):
    """(N, features) → (N, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = int(n)

    def call(self, x):
        if x.ndim != 2:
            raise BuildError(f"RepeatVector takes (batch, features) tensors, got {x.shape}")
        return tile(reshape(x, (-1, 1, x.shape[1])), (1, self.n, 1))
