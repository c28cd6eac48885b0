"""Convolution and pooling layers. Kernels are stored as the conv op wants them (OIHW) and converted to
Keras's layouts by ``get_weights``/``set_weights`` (Conv2D kernel (kh, kw, in, out), etc.)."""
import numpy as np

from .. import activations, compat
from ..ops.array import pad, reshape
from ..ops.reduce import reduce_max, reduce_mean
from ..ops.conv import _pair, avg_pool2d, conv2d, conv2d_transpose, global_avg_pool2d, max_pool2d
from .base import Layer, activate

_HWIO = (2, 3, 1, 0)          # OIHW → Keras (kh, kw, in, out)


class _Conv(Layer):
    """Shared by the convolution layers: kernel size, strides, padding, activation, bias."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", activation=None, use_bias=True,
                 dilation_rate=(1, 1), kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_size, self.strides = _pair(kernel_size, "kernel_size"), _pair(strides, "strides")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.padding, self.use_bias = padding, use_bias
        self.activation = activations.get(activation)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer

    def _add_kernel(self, name, out_channels, in_per_group):
        kh, kw = self.kernel_size
        return self.add_weight(name, (out_channels, in_per_group, kh, kw), self.kernel_initializer,
                               fans=(in_per_group * kh * kw, out_channels * kh * kw),
                               regularizer=self.kernel_regularizer)

    def _finish(self, y):
        if self.use_bias:
            y = y + self.bias_broadcast
        return activate(self.activation, y)

    def _add_bias(self, channels):
        if self.use_bias:
            self.bias = self.add_weight("bias", (channels,), self.bias_initializer, regularizer=self.bias_regularizer)
            self.bias_broadcast = reshape(self.bias, (channels, 1, 1))


@compat.same_as("Keras", "keras.layers.Conv2D")
class Conv2D(_Conv):
    """2-D convolution; ``groups`` splits channels (groups = in_channels is depthwise)."""

    keras_layouts = (_HWIO,)

    def __init__(self, filters, kernel_size, groups=1, **kwargs):
        super().__init__(kernel_size, **kwargs)
        self.filters, self.groups = int(filters), int(groups)

    def build(self, x):
        self.kernel = self._add_kernel("kernel", self.filters, x.shape[1] // self.groups)
        self._add_bias(self.filters)

    def call(self, x):
        return self._finish(conv2d(x, self.kernel, self.strides, self.padding, self.dilation_rate, self.groups))


class _DepthwiseKernel:
    """Mixin: the first weight is a depthwise kernel, (C·M, 1, kh, kw) inside, Keras (kh, kw, C, M) outside."""

    def get_weights(self):
        weights = super().get_weights()
        weights[0] = _depthwise_to_keras(weights[0], self.depth_multiplier)
        return weights

    def prepare_weights(self, weights, offset=0):
        weights = list(weights)
        if weights and np.ndim(weights[0]) == 4:
            weights[0] = _depthwise_from_keras(np.asarray(weights[0]))
        return super().prepare_weights(weights, offset)


@compat.same_as("Keras", "keras.layers.DepthwiseConv2D")
class DepthwiseConv2D(_DepthwiseKernel, _Conv):
    """One filter per input channel (× depth_multiplier); Keras kernel layout (kh, kw, in, multiplier)."""

    keras_layouts = (None,)

    def __init__(self, kernel_size, depth_multiplier=1, **kwargs):
        super().__init__(kernel_size, **kwargs)
        self.depth_multiplier = int(depth_multiplier)

    def build(self, x):
        self.channels = x.shape[1]
        self.kernel = self._add_kernel("depthwise_kernel", self.channels * self.depth_multiplier, 1)
        self._add_bias(self.channels * self.depth_multiplier)

    def call(self, x):
        return self._finish(conv2d(x, self.kernel, self.strides, self.padding, self.dilation_rate, self.channels))


def _depthwise_to_keras(kernel, multiplier):
    """(C·M, 1, kh, kw) with output channel c·M + m → Keras (kh, kw, C, M)."""
    cm, _, kh, kw = kernel.shape
    return kernel.reshape(cm // multiplier, multiplier, kh, kw).transpose(2, 3, 0, 1)


def _depthwise_from_keras(kernel):
    kh, kw, c, m = kernel.shape
    return kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)


@compat.same_as("Keras", "keras.layers.SeparableConv2D")
class SeparableConv2D(_DepthwiseKernel, _Conv):
    """Depthwise convolution followed by a 1×1 pointwise convolution (MobileNet's building block)."""

    keras_layouts = (None, _HWIO)

    def __init__(self, filters, kernel_size, depth_multiplier=1, **kwargs):
        super().__init__(kernel_size, **kwargs)
        self.filters, self.depth_multiplier = int(filters), int(depth_multiplier)

    def build(self, x):
        self.channels = x.shape[1]
        mid = self.channels * self.depth_multiplier
        self.depthwise_kernel = self._add_kernel("depthwise_kernel", mid, 1)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (self.filters, mid, 1, 1),
                                                self.kernel_initializer, fans=(mid, self.filters),
                                                regularizer=self.kernel_regularizer)
        self._add_bias(self.filters)

    def call(self, x):
        depthwise = conv2d(x, self.depthwise_kernel, self.strides, self.padding, self.dilation_rate, self.channels)
        return self._finish(conv2d(depthwise, self.pointwise_kernel))


@compat.same_as("Keras", "keras.layers.Conv2DTranspose")
class Conv2DTranspose(_Conv):
    """Transposed convolution (upsampling); Keras kernel layout (kh, kw, out, in)."""

    keras_layouts = ((2, 3, 1, 0),)   # internal (in, out, kh, kw) → (kh, kw, out, in)

    def __init__(self, filters, kernel_size, output_padding=None, **kwargs):
        super().__init__(kernel_size, **kwargs)
        self.filters, self.output_padding = int(filters), output_padding

    def build(self, x):
        kh, kw = self.kernel_size
        self.kernel = self.add_weight("kernel", (x.shape[1], self.filters, kh, kw), self.kernel_initializer,
                                      fans=(self.filters * kh * kw, x.shape[1] * kh * kw),
                                      regularizer=self.kernel_regularizer)
        self._add_bias(self.filters)

    def call(self, x):
        return self._finish(conv2d_transpose(x, self.kernel, strides=self.strides, padding=self.padding,
                                             dilations=self.dilation_rate, output_padding=self.output_padding or 0))


class _Pool2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides, self.padding = pool_size, strides, padding


@compat.same_as("Keras", "keras.layers.MaxPooling2D")
class MaxPooling2D(_Pool2D):
    """Max over windows (strides default to the window)."""

    def call(self, x):
        return max_pool2d(x, self.pool_size, self.strides, self.padding)


@compat.same_as("Keras", "keras.layers.AveragePooling2D")
class AveragePooling2D(_Pool2D):
    """Mean over windows (padding left out of the divisor, as in Keras)."""

    def call(self, x):
        return avg_pool2d(x, self.pool_size, self.strides, self.padding)


@compat.same_as("Keras", "keras.layers.GlobalAveragePooling2D")
class GlobalAveragePooling2D(Layer):
    """(N, H, W, C) → (N, C): the mean of each feature map (``keepdims``: (N, 1, 1, C))."""

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def call(self, x):
        return reduce_mean(x, (2, 3), keepdims=True) if self.keepdims else global_avg_pool2d(x)


@compat.same_as("Keras", "keras.layers.GlobalMaxPooling2D")
class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """(N, H, W, C) → (N, C): the maximum of each feature map."""

    def call(self, x):
        return reduce_max(x, (2, 3), keepdims=self.keepdims)


@compat.same_as("Keras", "keras.layers.ZeroPadding2D")
class ZeroPadding2D(Layer):
    """Zero rows/columns around images: an int, (ph, pw) or ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        elif isinstance(padding[0], int):
            padding = ((padding[0], padding[0]), (padding[1], padding[1]))
        self.padding = tuple(tuple(p) for p in padding)

    def call(self, x):
        return pad(x, ((0, 0), (0, 0)) + self.padding)
