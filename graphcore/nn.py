"""TF1's ``tf.nn`` namespace: the functions TF1 code calls as ``tf.nn.*``, with TF1's arguments and layouts.

Images are NHWC (``data_format="NCHW"`` also accepted), convolution filters HWIO (``[kh, kw, in, out]``;
``conv2d_transpose``: ``[kh, kw, out, in]``), strides and window sizes lists such as ``[1, 2, 2, 1]``,
padding ``"SAME"`` (TensorFlow's rule: output ⌈size / stride⌉, the odd pixel of padding at the end) or
``"VALID"``. Graphcore's ops compute in NCHW: the data is transposed at the boundary, as the layers do, and
a transpose straight back is skipped, so chained ``nn`` calls add no transpose pairs.

The losses take keyword arguments only where TF1's do (``labels=``, ``logits=``) and check the shapes TF1
checks; ``softmax_cross_entropy_with_logits`` (TF1's first one) does not backpropagate into the labels, while
``..._v2`` does. ``dropout`` is TF1's: always active, ``keep_prob`` (or ``rate``) may be a tensor fed at run
time, survivors scaled by 1/keep_prob.
"""
import numbers

from .compat import difference, same_as
from .errors import BuildError
from .graph import Tensor
from .layers.layout import TO_NHWC, to_internal
from .losses import sigmoid_cross_entropy_with_logits as _sigmoid_ce
from .losses import softmax_cross_entropy_with_logits as _softmax_ce
from .losses import sparse_softmax_cross_entropy_with_logits as _sparse_softmax_ce
from .op import convert_to_tensor
from .ops import conv as _conv
from .ops.array import check_indices, gather, reshape, squeeze, transpose
from .ops.dynamic import static_value
from .ops.math import abs as _abs
from .ops.math import elu, floor, leaky_relu, matmul, maximum, minimum, relu, rsqrt, sigmoid, softplus, square
from .ops.math import identity, tanh
from .ops.nn import log_softmax as _log_softmax
from .ops.nn import softmax as _softmax
from .ops.random import random_uniform
from .ops.reduce import reduce_mean, reduce_sum
from .ops.state import stop_gradient
from .shapes import format_shape
from .unsupported import refuse

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "softplus", "softsign", "softmax",
           "log_softmax", "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2",
           "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits", "bias_add", "dropout",
           "moments", "l2_loss", "l2_normalize", "embedding_lookup", "batch_normalization", "xw_plus_b", "conv2d",
           "conv2d_transpose", "depthwise_conv2d", "max_pool", "avg_pool", "max_pool2d", "avg_pool2d"]

_HWIO_TO_OIHW = (3, 2, 0, 1)
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# ----- activations --------------------------------------------------------------------------------------------

for _name, _fn in (("relu", relu), ("sigmoid", sigmoid), ("tanh", tanh), ("elu", elu), ("softplus", softplus),
                   ("leaky_relu", leaky_relu)):
    same_as("TF1", f"tf.nn.{_name}")(_fn)


@same_as("TF1", "tf.nn.relu6")
def relu6(features, name=None):
    """min(max(x, 0), 6)."""
    return minimum(relu(features), 6.0, name=name)


@same_as("TF1", "tf.nn.selu")
def selu(features, name=None):
    """scale·elu(x, α) with Klambauer et al.'s constants, as TF1's."""
    return _as(_SELU_SCALE * elu(features, _SELU_ALPHA), name)


@same_as("TF1", "tf.nn.softsign")
def softsign(features, name=None):
    """x / (1 + |x|)."""
    return _as(features / (1.0 + _abs(features)), name)


def _as(t, name):
    """``t`` named ``name`` when one is given: TF1 gives a function's result op that name (so
    ``get_tensor_by_name(name + ":0")`` finds it); a composed result gets an identity carrying it."""
    return t if name is None else identity(t, name=name)


def _axis(axis, dim):
    """TF1's ``axis`` or its older name ``dim``; -1 when neither is given."""
    if axis is not None and dim is not None:
        raise BuildError("give axis or its old name dim, not both")
    return -1 if axis is None and dim is None else (axis if axis is not None else dim)


@same_as("TF1", "tf.nn.softmax")
def softmax(logits, axis=None, name=None, dim=None):
    return _softmax(convert_to_tensor(logits), _axis(axis, dim), name=name)


@same_as("TF1", "tf.nn.log_softmax")
def log_softmax(logits, axis=None, name=None, dim=None):
    return _log_softmax(convert_to_tensor(logits), _axis(axis, dim), name=name)


# ----- losses -----------------------------------------------------------------------------------------------

_NAMED_ONLY = difference("TF1", "tf.nn.softmax_cross_entropy_with_logits(labels, logits) (positional; also sparse_, "
                                "sigmoid_)", "gc.nn.softmax_cross_entropy_with_logits(labels=, logits=)",
                         "TF1 requires labels= and logits= by name here (its _sentinel argument); so does graphcore")


def _keywords(function, sentinel, labels, logits):
    if sentinel is not None or labels is None or logits is None:
        raise BuildError(f"{function}: {_NAMED_ONLY}: call {function}(labels=..., logits=...)")
    return convert_to_tensor(labels), convert_to_tensor(logits)


def _same_shape(function, labels, logits):
    if labels.ndim != logits.ndim or any(a is not None and b is not None and a != b
                                         for a, b in zip(labels.shape, logits.shape)):
        raise BuildError(f"{function}: labels {format_shape(labels.shape)} and logits {format_shape(logits.shape)} "
                         "must have the same shape (TF1 does not broadcast them)")


@same_as("TF1", "tf.nn.softmax_cross_entropy_with_logits",
         note="labels get no gradient (TF1's stop_gradient); use ..._v2 to differentiate the labels")
def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    """Per-example −Σ labels·log softmax(logits) along ``axis``; labels are treated as constants."""
    labels, logits = _keywords("softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    return softmax_cross_entropy_with_logits_v2(stop_gradient(labels), logits, axis, name, dim)


@same_as("TF1", "tf.nn.softmax_cross_entropy_with_logits_v2")
def softmax_cross_entropy_with_logits_v2(labels, logits, axis=None, name=None, dim=None):
    """Per-example −Σ labels·log softmax(logits) along ``axis``, differentiable in both."""
    labels, logits = convert_to_tensor(labels), convert_to_tensor(logits)
    _same_shape("softmax_cross_entropy_with_logits", labels, logits)
    return _as(_softmax_ce(labels, logits, _axis(axis, None if dim == -1 else dim)), name)


@same_as("TF1", "tf.nn.sparse_softmax_cross_entropy_with_logits",
         note="a label outside [0, classes) raises an InvalidValueError naming the label and its index, as TF1's CPU "
              "kernel does")
def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Per-example cross-entropy with integer labels shaped like logits without the class axis."""
    labels, logits = _keywords("sparse_softmax_cross_entropy_with_logits", _sentinel, labels, logits)
    return _as(_sparse_softmax_ce(labels, logits), name)


@same_as("TF1", "tf.nn.sigmoid_cross_entropy_with_logits")
def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """Elementwise max(x, 0) − x·z + log(1 + e^(−|x|)); labels and logits of one shape."""
    labels, logits = _keywords("sigmoid_cross_entropy_with_logits", _sentinel, labels, logits)
    _same_shape("sigmoid_cross_entropy_with_logits", labels, logits)
    return _as(_sigmoid_ce(labels, logits), name)


@same_as("TF1", "tf.nn.l2_loss")
def l2_loss(t, name=None):
    """Σ t² / 2."""
    return _as(reduce_sum(square(t)) * 0.5, name)


# ----- layers of arithmetic ---------------------------------------------------------------------------------

@same_as("TF1", "tf.nn.bias_add")
def bias_add(value, bias, data_format=None, name=None):
    """``value + bias`` with the 1-D ``bias`` on the channel axis: the last (NHWC) or axis 1 (``"NCHW"``)."""
    value, bias = convert_to_tensor(value), convert_to_tensor(bias)
    channels_first = data_format is not None and data_format.upper().startswith("NC")
    axis = 1 if channels_first else -1
    if bias.ndim != 1 or value.ndim < 2 or (None not in (bias.shape[0], value.shape[axis])
                                            and bias.shape[0] != value.shape[axis]):
        raise BuildError(f"bias_add: bias {format_shape(bias.shape)} must be 1-D and match the channel axis of "
                         f"value {format_shape(value.shape)}")
    if channels_first:
        bias = reshape(bias, (-1,) + (1,) * (value.ndim - 2))
    return _as(value + bias, name)


@same_as("TF1", "tf.nn.xw_plus_b")
def xw_plus_b(x, weights, biases, name=None):
    return bias_add(matmul(x, weights), biases, name=name)


@same_as("TF1", "tf.nn.moments", note="the variance is the biased one, computed around a stop_gradient mean as TF1's")
def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """(mean, variance) over ``axes``; ``keepdims`` (or its old name ``keep_dims``) keeps the reduced axes."""
    keep = bool(keepdims if keepdims is not None else keep_dims)
    axes = tuple(axes) if not isinstance(axes, numbers.Integral) else (axes,)
    mean = reduce_mean(x, axes, keepdims=True)
    variance = reduce_mean(square(x - stop_gradient(mean)), axes, keepdims=True)
    if keep:
        return mean, variance
    return squeeze(mean, axes), squeeze(variance, axes)


@same_as("TF1", "tf.nn.batch_normalization")
def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """(x − mean)·scale/√(variance + ε) + offset, with statistics given (``offset``/``scale`` may be None)."""
    inv = rsqrt(variance + variance_epsilon)
    if scale is not None:
        inv = inv * scale
    return _as(x * inv + ((offset - mean * inv) if offset is not None else -mean * inv), name)


@same_as("TF1", "tf.nn.l2_normalize")
def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """x / √max(Σ x², ε) along ``axis``."""
    axis = _axis(axis, dim)
    return _as(x * rsqrt(maximum(reduce_sum(square(x), axis, keepdims=True), epsilon)), name)


_SHARDED = difference("TF1", "tf.nn.embedding_lookup([shard, ...])", "gc.nn.embedding_lookup(params)",
                      "params split into several shards is not supported: concatenate them into one tensor")


_MAX_NORM = difference("TF1", "tf.nn.embedding_lookup(max_norm=)", "gc.nn.embedding_lookup",
                       "max_norm (clipping looked-up rows) is not supported; clip the rows with gc.train.clip_by_value")


@same_as("TF1", "tf.nn.embedding_lookup",
         note="an id outside [0, rows) raises an InvalidValueError naming the id and its index, as TF1's CPU kernel")
def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True, max_norm=None):
    """Rows ``ids`` of ``params`` (a tensor, or a list holding one)."""
    if max_norm is not None:
        raise BuildError(f"embedding_lookup: {_MAX_NORM}")
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise BuildError(f"embedding_lookup: {_SHARDED}")
        params = params[0]
    ids = convert_to_tensor(ids)
    rows = params.shape[0]
    if rows is not None:
        ids = check_indices(ids, rows, "id", f"the embedding has {rows} rows, so ids run from 0 to {rows - 1}")
    return gather(params, ids, axis=0, name=name)


_NOISE_SHAPE = difference("TF1", "tf.nn.dropout(noise_shape=)", "gc.nn.dropout",
                          "noise_shape must be a list of known sizes (one mask broadcast over the others)")


@same_as("TF1", "tf.nn.dropout", note="TF1's: always active; keep_prob or rate may be a fed tensor")
def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """Each element kept with probability ``keep_prob`` (= 1 − ``rate``) and scaled by 1/keep_prob, else 0."""
    if (keep_prob is None) == (rate is None):
        raise BuildError("dropout needs exactly one of keep_prob and rate")
    keep = keep_prob if keep_prob is not None else 1.0 - rate
    if not isinstance(keep, Tensor) and not 0 < float(keep) <= 1:
        raise BuildError(f"dropout: keep_prob must be in (0, 1], got {keep}" + (f" (rate {rate})" if rate is not None
                                                                                 else ""))
    if noise_shape is None:
        uniform = random_uniform(x, dtype=x.dtype, seed=seed)
    else:
        if any(d is None for d in noise_shape) or isinstance(noise_shape, Tensor):
            raise BuildError(f"dropout: {_NOISE_SHAPE}, got {noise_shape}")
        uniform = random_uniform(tuple(noise_shape), dtype=x.dtype, seed=seed)
    return _as(x / keep * floor(keep + uniform), name)


# ----- convolution and pooling ------------------------------------------------------------------------------

def _nchw(data_format):
    if data_format in (None, "NHWC"):
        return False
    if data_format == "NCHW":
        return True
    raise BuildError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")


def _spatial_pair(value, what, channels_first):
    """TF1's int / [n] / [h, w] / [1, h, w, 1] (NCHW: [1, 1, h, w]) sizes → (h, w)."""
    if isinstance(value, numbers.Integral):
        return int(value), int(value)
    value = [int(v) for v in value]
    if len(value) == 1:
        return value[0], value[0]
    if len(value) == 2:
        return tuple(value)
    if len(value) == 4:
        outer = (value[0], value[1]) if channels_first else (value[0], value[3])
        if outer != (1, 1):
            raise BuildError(f"{what} {value}: graphcore (like TF1's CPU kernels) does not stride or pool over the "
                             "batch and channel dimensions; they must be 1")
        return tuple(value[2:]) if channels_first else tuple(value[1:3])
    raise BuildError(f"{what} must be an int or a list of 1, 2 or 4 ints, got {value}")


def _padding(padding, channels_first):
    """"SAME"/"VALID", or TF1's explicit [[0, 0], [top, bottom], [left, right], [0, 0]]."""
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise BuildError(f"padding must be 'SAME' or 'VALID' (or explicit pairs), got {padding!r}")
        return padding.lower()
    pairs = [tuple(int(v) for v in p) for p in padding]
    spatial = pairs[2:] if channels_first else pairs[1:3]
    outer = pairs[:2] if channels_first else [pairs[0], pairs[3]]
    if len(pairs) != 4 or any(len(p) != 2 for p in pairs) or any(p != (0, 0) for p in outer):
        raise BuildError(f"explicit padding must be 4 pairs with zeros for the batch and channels, got {padding}")
    return spatial[0] + spatial[1]


def _in(x, channels_first):
    x = convert_to_tensor(x)
    if x.ndim != 4:
        raise BuildError(f"expected a 4-D {'NCHW' if channels_first else 'NHWC'} tensor, got {format_shape(x.shape)}")
    return x if channels_first else to_internal(x)


def _out(y, channels_first, name):
    """The NCHW result in the caller's layout, the user-visible tensor named ``name``."""
    return _as(y, name) if channels_first else transpose(y, TO_NHWC, name=name)


def _either(a, b, what):
    if a is not None and b is not None:
        raise BuildError(f"give {what} once (TF1 has two names for it)")
    return a if a is not None else b


@same_as("TF1", "tf.nn.conv2d", note="NHWC data and HWIO filters, converted to NCHW at the boundary")
def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True, data_format="NHWC",
           dilations=(1, 1, 1, 1), name=None, filters=None):
    """Cross-correlation of ``input`` with ``filter`` ``[kh, kw, in, out]``."""
    filter = _either(filter, filters, "the filter (filter= or filters=)")
    if filter is None or strides is None or padding is None:
        raise BuildError("conv2d needs filter, strides and padding")
    first = _nchw(data_format)
    w = transpose(convert_to_tensor(filter), _HWIO_TO_OIHW)
    y = _conv.conv2d(_in(input, first), w, _spatial_pair(strides, "strides", first), _padding(padding, first),
                     _spatial_pair(dilations, "dilations", first))
    return _out(y, first, name)


@same_as("TF1", "tf.nn.depthwise_conv2d")
def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None, data_format=None, dilations=None):
    """One ``[kh, kw]`` filter per input channel and multiplier: ``filter`` is ``[kh, kw, in, multiplier]``;
    output channel ``c·multiplier + m``, as TF1's."""
    first = _nchw(data_format)
    filter = convert_to_tensor(filter)
    kh, kw, channels, multiplier = filter.shape
    w = reshape(transpose(filter, (2, 3, 0, 1)), (channels * multiplier, 1, kh, kw))
    dilations = _either(rate, dilations, "the dilation (rate= or dilations=)") or 1
    y = _conv.conv2d(_in(input, first), w, _spatial_pair(strides, "strides", first), _padding(padding, first),
                     _spatial_pair(dilations, "dilations", first), groups=channels)
    return _out(y, first, name)


def _static_output_shape(output_shape):
    """TF1's output_shape: a list (the batch entry may be a tensor) or a constant 1-D tensor."""
    if isinstance(output_shape, Tensor):
        value = static_value(output_shape)
        if value is None:
            raise BuildError("conv2d_transpose needs output_shape's sizes when the graph is built: pass a list "
                             "[batch, height, width, channels] (the batch entry may be a tensor)")
        return [int(v) for v in value]
    return list(output_shape)


@same_as("TF1", "tf.nn.conv2d_transpose", note="filter [kh, kw, out, in] and output_shape as TF1")
def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME", data_format="NHWC",
                     name=None, input=None, filters=None, dilations=None):
    """The gradient of ``conv2d`` with respect to its input: ``value`` (the conv output) → ``output_shape``."""
    value, filter = _either(value, input, "the input (value= or input=)"), _either(filter, filters, "the filter")
    if value is None or filter is None or output_shape is None or strides is None:
        raise BuildError("conv2d_transpose needs value, filter, output_shape and strides")
    first = _nchw(data_format)
    filter = convert_to_tensor(filter)
    shape = _static_output_shape(output_shape)
    channels = shape[1] if first else shape[3]
    hw = (shape[2], shape[3]) if first else (shape[1], shape[2])
    if len(shape) != 4 or not all(isinstance(d, numbers.Integral) for d in list(hw) + [channels]):
        raise BuildError(f"output_shape must be [batch, height, width, channels] with known sizes, got {shape}")
    if filter.shape[2] is not None and channels != filter.shape[2]:
        raise BuildError(f"conv2d_transpose: output_shape has {channels} channels but the filter "
                         f"{format_shape(filter.shape)} makes {filter.shape[2]} (filter is [kh, kw, out, in])")
    w = transpose(filter, _HWIO_TO_OIHW)   # [kh, kw, out, in] → (in, out, kh, kw): conv2d's (O, C, kh, kw)
    y = _conv.conv2d_transpose(_in(value, first), w, output_hw=tuple(int(d) for d in hw),
                               strides=_spatial_pair(strides, "strides", first), padding=_padding(padding, first),
                               dilations=_spatial_pair(dilations or 1, "dilations", first))
    return _out(y, first, name)


def _pool(pool, value, ksize, strides, padding, data_format, name, **extra):
    first = _nchw(data_format)
    y = pool(_in(value, first), _spatial_pair(ksize, "ksize", first), _spatial_pair(strides, "strides", first),
             _padding(padding, first), **extra)
    return _out(y, first, name)


@same_as("TF1", "tf.nn.max_pool", "tf.nn.max_pool2d", note="padded positions never win, as TF1's")
def max_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC", name=None, input=None):
    return _pool(_conv.max_pool2d, _either(value, input, "the input"), ksize, strides, padding, data_format, name)


@same_as("TF1", "tf.nn.avg_pool", "tf.nn.avg_pool2d", note="SAME divides by the window's cells inside the image, "
                                                           "as TF1's")
def avg_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC", name=None, input=None):
    return _pool(_conv.avg_pool2d, _either(value, input, "the input"), ksize, strides, padding, data_format, name,
                 count_include_pad=False)


max_pool2d, avg_pool2d = max_pool, avg_pool


def __getattr__(name):
    """TF1 names graphcore does not provide say why, and what to use instead."""
    raise refuse("gc.nn", name)
