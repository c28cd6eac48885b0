"""Convolution and pooling ops (NCHW), backed by the im2col/BLAS kernels in ``graphcore.kernels``.

The gradient ops are ops too, each with its own gradient, so convolutions can be differentiated twice:
Conv2D, Conv2DBackpropInput (= transposed convolution) and Conv2DBackpropFilter form a closed set, as do
MaxPool/MaxPoolGrad/MaxPoolGradGrad and AvgPool/AvgPoolGrad.

Spatial sizes may be unknown when building (an imported model with symbolic image sizes): the output sizes are
then unknown too, and the gradients that must produce an input-sized result (Conv2DBackpropInput,
AvgPoolGrad) read that size at run time from an extra ``like`` input, the forward input.
"""
from ..errors import BuildError
from ..kernels import conv as conv_kernels
from ..kernels import pool as pool_kernels
from ..op import Op, apply_op, register, require_float, same_dtype
from ..shapes import format_shape
from .reduce import reduce_mean


def _pair(value, what):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise BuildError(f"{what} must be an int or a pair, got {value}")
    return value


def _out_size(size, k, s, d, before, after):
    return None if size is None else (size + before + after - d * (k - 1) - 1) // s + 1


def resolve_padding(padding, input_hw, kernel, strides, dilations):
    """'valid', 'same' (TensorFlow's rule: output = ceil(input / stride), extra padding at the end), an int,
    a (ph, pw) pair or explicit (top, bottom, left, right) → explicit (top, bottom, left, right)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode != "same":
            raise BuildError(f"padding must be 'valid', 'same' or explicit numbers, got {padding!r}")
        pads = []
        for size, k, s, d in zip(input_hw, kernel, strides, dilations):
            out = -(-size // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    if isinstance(padding, int):
        return (padding,) * 4
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    if len(padding) == 4:
        return padding
    raise BuildError(f"cannot read padding {padding}")


def _spatial(node, t, what="input"):
    if t.ndim != 4:
        raise BuildError(f"{what} must be NCHW (rank 4), got {format_shape(t.shape)}")
    return t.shape[2], t.shape[3]


def _like(node, hw_attr):
    """The ``like`` input's shape source: required when the static size attribute has an unknown dim."""
    if None in node.attrs[hw_attr] and len(node.inputs) < 3 - (node.op.type == "AvgPoolGrad"):
        raise BuildError(f"{hw_attr} {node.attrs[hw_attr]} has unknown sizes: pass the forward input as 'like'")


def _known_hw(node, like_index):
    """``input_hw`` with its unknown sizes taken from the ``like`` input's static shape where that knows them."""
    hw = tuple(node.attrs["input_hw"])
    if len(node.inputs) > like_index:
        hw = tuple(h if h is not None else k for h, k in zip(hw, node.inputs[like_index].shape[2:]))
    return hw


def _conv_attrs(node):
    a = node.attrs
    return a["strides"], a["pads"], a["dilations"], a["groups"]


def _conv_out_hw(node, hw, kernel_hw):
    strides, pads, dilations, _ = _conv_attrs(node)
    out = (_out_size(hw[0], kernel_hw[0], strides[0], dilations[0], pads[0], pads[1]),
           _out_size(hw[1], kernel_hw[1], strides[1], dilations[1], pads[2], pads[3]))
    if min((o for o in out if o is not None), default=1) < 1:
        raise BuildError(f"the kernel {kernel_hw} does not fit the input {hw} with pads {pads}")
    return out


@register
class Conv2D(Op):
    """Cross-correlation of x (N, C, H, W) with w (O, C/groups, kh, kw): strides, explicit pads
    (top, bottom, left, right), dilations and groups (groups = C is a depthwise convolution)."""

    def infer(self, node):
        dtype = same_dtype(node)
        require_float(node)
        x, w = node.inputs
        hw = _spatial(node, x)
        if w.ndim != 4 or None in w.shape:
            raise BuildError(f"filters must be a known (O, C/groups, kh, kw) shape, got {format_shape(w.shape)}")
        groups = node.attrs["groups"]
        if x.shape[1] is not None and (x.shape[1] % groups or x.shape[1] // groups != w.shape[1]):
            raise BuildError(f"{x.shape[1]} input channels in {groups} group(s) do not match filters "
                             f"{format_shape(w.shape)}")
        if w.shape[0] % groups:
            raise BuildError(f"{w.shape[0]} filters cannot be split into {groups} groups")
        return [(dtype, (x.shape[0], w.shape[0]) + _conv_out_hw(node, hw, w.shape[2:]))]

    def compute(self, x, w, strides, pads, dilations, groups):
        return conv_kernels.conv2d(x, w, strides, pads, dilations, groups)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x, w = node.inputs
        attrs = dict(node.attrs)
        like = [x] if None in x.shape[2:] else []
        return [apply_op("Conv2DBackpropInput", [g, w] + like, input_hw=x.shape[2:], **attrs) if wanted[0]
                else None,
                apply_op("Conv2DBackpropFilter", [x, g], kernel_hw=w.shape[2:], **attrs) if wanted[1] else None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3))], \
            {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "groups": 1}
        yield [rng.normal(size=(1, 4, 6, 5)), rng.normal(size=(4, 2, 2, 2))], \
            {"strides": (2, 1), "pads": (0, 1, 1, 0), "dilations": (1, 2), "groups": 2}
        yield [rng.normal(size=(2, 3, 4, 4)), rng.normal(size=(3, 1, 3, 3))], \
            {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "groups": 3}


@register
class Conv2DBackpropInput(Op):
    """The gradient of Conv2D for its input, which is also the transposed convolution: dy (N, O, Ho, Wo) and
    w (O, C/groups, kh, kw) → (N, C, H, W) with (H, W) = ``input_hw``, or the spatial size of a third input
    ``like`` when ``input_hw`` is not known when building."""

    def infer(self, node):
        dtype = same_dtype(node, 0, 1)
        dy, w = node.inputs[:2]
        _spatial(node, dy, "dy")
        _like(node, "input_hw")
        input_hw = _known_hw(node, 2)
        expected = _conv_out_hw(node, input_hw, w.shape[2:])
        if not all(a is None or b is None or a == b for a, b in zip(dy.shape[2:], expected)) or (
                dy.shape[1] is not None and dy.shape[1] != w.shape[0]):
            raise BuildError(f"dy {format_shape(dy.shape)} is not the convolution output of an input of size "
                             f"{input_hw} with filters {format_shape(w.shape)} (expected spatial {expected})")
        return [(dtype, (dy.shape[0], w.shape[1] * node.attrs["groups"]) + input_hw)]

    def compute(self, dy, w, *like, strides, pads, dilations, groups, input_hw):
        hw = like[0].shape[2:] if like else input_hw
        return conv_kernels.conv2d_input_grad(dy, w, hw, strides, pads, dilations, groups)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        dy, w = node.inputs[:2]
        attrs = {k: v for k, v in node.attrs.items() if k != "input_hw"}
        return [apply_op("Conv2D", [g, w], **attrs),
                apply_op("Conv2DBackpropFilter", [g, dy], kernel_hw=w.shape[2:], **attrs)] + [None] * (
                    len(node.inputs) - 2)

    def samples(self, rng):
        yield [rng.normal(size=(2, 3, 3, 3)), rng.normal(size=(3, 2, 3, 3))], \
            {"strides": (2, 2), "pads": (1, 1, 1, 1), "dilations": (1, 1), "groups": 1, "input_hw": (6, 5)}
        # the input size read at run time from `like` (a forward input of unknown spatial size)
        yield [rng.normal(size=(2, 3, 3, 3)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=(2, 2, 6, 5))], \
            {"strides": (2, 2), "pads": (1, 1, 1, 1), "dilations": (1, 1), "groups": 1, "input_hw": (None, None)}


@register
class Conv2DBackpropFilter(Op):
    """The gradient of Conv2D for its filters: x (N, C, H, W) and dy (N, O, Ho, Wo) → (O, C/groups, kh, kw)."""

    def infer(self, node):
        dtype = same_dtype(node)
        x, dy = node.inputs
        hw = _spatial(node, x)
        kernel_hw = node.attrs["kernel_hw"]
        if not all(a is None or b is None or a == b for a, b in zip(dy.shape[2:], _conv_out_hw(node, hw, kernel_hw))):
            raise BuildError(f"dy {format_shape(dy.shape)} does not match input {format_shape(x.shape)}")
        if dy.shape[1] is None or x.shape[1] is None:
            raise BuildError("channel counts must be known")
        return [(dtype, (dy.shape[1], x.shape[1] // node.attrs["groups"]) + tuple(kernel_hw))]

    def compute(self, x, dy, strides, pads, dilations, groups, kernel_hw):
        return conv_kernels.conv2d_filter_grad(x, dy, kernel_hw, strides, pads, dilations, groups)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x, dy = node.inputs
        attrs = {k: v for k, v in node.attrs.items() if k != "kernel_hw"}
        like = [x] if None in x.shape[2:] else []
        return [apply_op("Conv2DBackpropInput", [dy, g] + like, input_hw=x.shape[2:], **attrs),
                apply_op("Conv2D", [x, g], **attrs)]

    def samples(self, rng):
        yield [rng.normal(size=(2, 2, 5, 4)), rng.normal(size=(2, 4, 3, 2))], \
            {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1), "groups": 2, "kernel_hw": (3, 3)}


def conv2d(x, filters, strides=1, padding="valid", dilations=1, groups=1, name=None):
    """NCHW convolution; ``filters`` is (out_channels, in_channels/groups, kh, kw)."""
    strides, dilations = _pair(strides, "strides"), _pair(dilations, "dilations")
    hw = x.shape[2:] if x.ndim == 4 else (None, None)
    if isinstance(padding, str) and padding.lower() == "same" and None in hw:
        raise BuildError(f"'same' padding needs known spatial sizes, got {format_shape(x.shape)}")
    pads = resolve_padding(padding, hw, filters.shape[2:], strides, dilations)
    return apply_op("Conv2D", [x, filters], name=name, strides=strides, pads=pads, dilations=dilations,
                    groups=int(groups))


def conv2d_transpose(x, filters, output_hw=None, strides=1, padding="valid", dilations=1, groups=1,
                     output_padding=0, name=None):
    """Transposed convolution ("deconvolution"): the adjoint of ``conv2d`` with the same filters
    (in_channels_of_x = filters.shape[0]); output size (H − 1)·s − pads + d·(k − 1) + 1 + output_padding."""
    strides, dilations = _pair(strides, "strides"), _pair(dilations, "dilations")
    kernel = filters.shape[2:]
    if output_hw is None:
        if isinstance(padding, str) and padding.lower() == "same":
            output_hw = tuple(h * s for h, s in zip(x.shape[2:], strides))
        else:
            p = resolve_padding(padding, None, kernel, strides, dilations)
            extra = _pair(output_padding, "output_padding")
            output_hw = tuple((h - 1) * s - a - b + d * (k - 1) + 1 + e for h, s, (a, b), d, k, e in
                              zip(x.shape[2:], strides, ((p[0], p[1]), (p[2], p[3])), dilations, kernel, extra))
    pads = resolve_padding(padding, output_hw, kernel, strides, dilations)
    return apply_op("Conv2DBackpropInput", [x, filters], name=name, strides=strides, pads=pads,
                    dilations=dilations, groups=int(groups), input_hw=tuple(output_hw))


# ----- pooling -------------------------------------------------------------------------------------------

class Pool(Op):
    def infer(self, node):
        x = node.inputs[0]
        hw = _spatial(node, x)
        a = node.attrs
        out = tuple(_out_size(size, k, s, 1, p0, p1) for size, k, s, (p0, p1) in
                    zip(hw, a["kernel"], a["strides"], ((a["pads"][0], a["pads"][1]), (a["pads"][2], a["pads"][3]))))
        if min((o for o in out if o is not None), default=1) < 1:
            raise BuildError(f"pool window {a['kernel']} does not fit input {format_shape(x.shape)}")
        return [(x.dtype, x.shape[:2] + out)]

    def samples(self, rng):
        # distinct values so max pooling has no ties for finite differences to trip over
        x = rng.permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 10.0
        yield [x], {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 1, 0, 1), **self.extra_attrs}
        yield [x], {"kernel": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1), **self.extra_attrs}


@register
class MaxPool(Pool):
    """Max over windows; padding counts as −∞."""

    extra_attrs = {}

    def compute(self, x, kernel, strides, pads):
        return pool_kernels.max_pool2d(x, kernel, strides, pads)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [apply_op("MaxPoolGrad", [node.inputs[0], g], **node.attrs)]


@register
class MaxPoolGrad(Op):
    """Routes dy to each window's (first) maximum of x; linear in dy, piecewise constant in x."""

    def infer(self, node):
        x, dy = node.inputs
        return [(dy.dtype, x.shape)]

    def compute(self, x, dy, kernel, strides, pads):
        return pool_kernels.max_pool2d_grad(x, dy, kernel, strides, pads)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [None, apply_op("MaxPoolGradGrad", [node.inputs[0], g], **node.attrs)]

    def samples(self, rng):
        x = rng.permutation(2 * 5 * 5).reshape(1, 2, 5, 5) / 10.0
        yield [x, rng.normal(size=(1, 2, 2, 2))], {"kernel": (3, 3), "strides": (2, 2), "pads": (0, 0, 0, 0)}


@register
class MaxPoolGradGrad(Op):
    """Picks ddx at each window's maximum (the adjoint of MaxPoolGrad in dy)."""

    def infer(self, node):
        ((_, pooled_shape),) = Pool.infer(self, node)
        return [(node.inputs[1].dtype, pooled_shape)]

    def compute(self, x, ddx, kernel, strides, pads):
        return pool_kernels.max_pool2d_grad_grad(x, ddx, kernel, strides, pads)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [None, apply_op("MaxPoolGrad", [node.inputs[0], g], **node.attrs)]

    def samples(self, rng):
        x = rng.permutation(2 * 5 * 5).reshape(1, 2, 5, 5) / 10.0
        yield [x, rng.normal(size=(1, 2, 5, 5))], {"kernel": (3, 3), "strides": (2, 2), "pads": (0, 0, 0, 0)}


@register
class AvgPool(Pool):
    """Mean over windows; ``count_include_pad`` says whether padding counts in the divisor."""

    extra_attrs = {"count_include_pad": False}

    def compute(self, x, kernel, strides, pads, count_include_pad):
        return pool_kernels.avg_pool2d(x, kernel, strides, pads, count_include_pad)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x = node.inputs[0]
        like = [x] if None in x.shape[2:] else []
        return [apply_op("AvgPoolGrad", [g] + like, input_hw=x.shape[2:], **node.attrs)]


@register
class AvgPoolGrad(Op):
    """Spreads dy evenly over each window (linear; its gradient is AvgPool); the input size is ``input_hw``
    or, when that is not known when building, a second input ``like``'s."""

    def infer(self, node):
        dy = node.inputs[0]
        _like(node, "input_hw")
        return [(dy.dtype, dy.shape[:2] + _known_hw(node, 1))]

    def compute(self, dy, *like, input_hw, kernel, strides, pads, count_include_pad):
        hw = like[0].shape[2:] if like else input_hw
        return pool_kernels.avg_pool2d_grad(dy, hw, kernel, strides, pads, count_include_pad)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        attrs = {k: v for k, v in node.attrs.items() if k != "input_hw"}
        return [apply_op("AvgPool", [g], **attrs)] + [None] * (len(node.inputs) - 1)

    def samples(self, rng):
        yield [rng.normal(size=(1, 2, 3, 3))], {"input_hw": (5, 5), "kernel": (3, 3), "strides": (2, 2),
                                                "pads": (1, 1, 1, 1), "count_include_pad": True}


def _pool(op_type, x, pool_size, strides, padding, name, **extra):
    kernel = _pair(pool_size, "pool_size")
    strides = kernel if strides is None else _pair(strides, "strides")
    hw = x.shape[2:] if x.ndim == 4 else None
    pads = resolve_padding(padding, hw, kernel, strides, (1, 1))
    return apply_op(op_type, [x], name=name, kernel=kernel, strides=strides, pads=pads, **extra)


def max_pool2d(x, pool_size=2, strides=None, padding="valid", name=None):
    """Max pooling (NCHW); strides default to the window size."""
    return _pool("MaxPool", x, pool_size, strides, padding, name)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid", count_include_pad=False, name=None):
    """Average pooling (NCHW); by default padding is left out of the divisor (Keras, ONNX default)."""
    return _pool("AvgPool", x, pool_size, strides, padding, name, count_include_pad=bool(count_include_pad))


def sum_pool2d(x, pool_size=2, strides=None, padding="valid", name=None):
    """Sum over windows: average pooling (padding counted) times the window area."""
    kernel = _pair(pool_size, "pool_size")
    return avg_pool2d(x, kernel, strides, padding, count_include_pad=True, name=name) * float(kernel[0] * kernel[1])


def global_avg_pool2d(x, keepdims=False, name=None):
    """Mean over H and W: (N, C, H, W) → (N, C)."""
    return reduce_mean(x, (2, 3), keepdims=keepdims, name=name)
