"""Converters for the gradient-only ops, in plain ``ai.onnx`` ops that stock onnxruntime runs.

onnxruntime's own gradient kernels (ConvGrad, MaxPoolGrad, SoftmaxGrad) live in its training build and
``ai.onnx.preview.training`` is not run at all (DESIGN.md §5), so each adjoint is rebuilt from forward ops:

* **Conv2DBackpropFilter**: dW[o, c, i, j] = Σ dy[n, o, h, w]·x[n, c, h·s + i·d, w·s + j·d], spelled by
  shape: one GEMM of dy as (O, N·Ho·Wo) rows against x's column matrix (unfolded by one Conv), one GEMM
  per tap when each is large already, or the other reading, itself a convolution: with the batch axis turned
  into channels one Conv computes it, strides and dilations swapped (also for grouped and very large kernels).
* **MaxPoolGrad** scatters dy to the argmax positions: MaxPool's ``Indices`` output is flattened over the
  whole N·C·H·W tensor, so ScatterElements with ``reduction="add"`` (overlapping windows repeat an index)
  into a flat zero tensor does it. **MaxPoolGradGrad** gathers at the same indices.
* **AvgPoolGrad** spreads dy over each window: one ConvTranspose, grouped by channel, whose kernel holds
  1/window size (dy is divided by a constant map first when padding is not counted).
* **SliceGrad** pads g back to x's shape when every step is +1 and the sliced dims are known (the common
  case: gate columns, time steps); otherwise it slices an index map of x the way the forward pass sliced x
  and scatters g to those positions, which covers negative and strided steps and unknown dims alike.
"""
import numpy as np

from .convert_array import emit_slice, ints, slice_plan
from .convert_math import fill
from .convert_nn import onnx_pads
from .registry import ExportError, converter


def _known_spatial(ctx, node, *tensors):
    if any(None in ctx.dims(t)[2:] for t in tensors):
        raise ExportError(f"{node.type} is exported for known spatial sizes only (got "
                          f"{', '.join(str(ctx.dims(t)) for t in tensors)}); export the inference graph, or fix "
                          "the image size", node)


@converter("Conv2DBackpropFilter")
def _conv_filter_grad(ctx, node):
    _known_spatial(ctx, node, *node.inputs)
    FILTER_GRADIENT_FORMS[filter_gradient_form(ctx, node)](ctx, node)


# Which spelling is fastest depends on the shapes (tools/bench_filter_grad.py, onnxruntime 1.31.1 CPU, runs on
# a loaded machine, 2026-12-04; whole small-VGG steps timed against each other decided the thresholds):
# * a Conv of the transposed operands is fast while its "kernel", dy's Ho×Wo map, is small (LeNet-5's last
#   layer, ResNet-18's last stages) or x is thin (1 to 7 channels: LeNet-5's first layers, an RGB stem); with a
#   large map it is 2-5× slower than the products;
# * one GEMM per tap wins when each product is already large (N·Ho·Wo of 8,192 and more: small VGG's first
#   layers at batch 32, every ResNet-18 stage at 224×224): building a column matrix there copies the input
#   nine times for nothing;
# * in between (8×8 and 4×4 maps with 32-512 channels) one GEMM over the column matrix took 0.3-0.7× the
#   time of the others. Unfolding that matrix with one grouped Conv (seven nodes) instead of kh·kw strided
#   slices and a Concat (kh·kw + 8) took 0.6-1.1× the time on those layers (2026-12-04, same tool).
THIN_CHANNELS = 8
SMALL_MAP = 4
LONG_PRODUCT = 8192
# Beyond this many kernel taps the column matrix and the per-tap products cost more than one Conv.
MAX_TAPS = 25


def filter_gradient_form(ctx, node):
    """Which spelling of the filter gradient to emit (``FILTER_GRADIENT_FORMS``); see the measurements above."""
    (kh, kw), (n, channels) = node.attrs["kernel_hw"], ctx.dims(node.inputs[0])[:2]
    ho, wo = ctx.dims(node.inputs[1])[2:]
    if node.attrs["groups"] != 1 or kh * kw > MAX_TAPS or channels < THIN_CHANNELS or ho * wo <= SMALL_MAP:
        return "conv"
    return "taps" if n is not None and n * ho * wo >= LONG_PRODUCT else "columns"


def _filter_grad_by_taps(ctx, node):
    """dW[:, :, i, j] = dy (O, N·Ho·Wo) × x's tap (i, j) (C, N·Ho·Wo)ᵀ: one GEMM per tap over the whole
    batch (four nodes per tap)."""
    (kh, kw), channels, filters = node.attrs["kernel_hw"], ctx.dims(node.inputs[0])[1], ctx.dims(node.inputs[1])[1]
    taps, rows = _strided_taps(ctx, node)
    flat, tap_axis = ints(ctx, [channels, -1], "x_rows"), ints(ctx, [2], "tap_axis")
    products = [ctx.emit("Unsqueeze", [ctx.emit("Gemm", [rows, ctx.emit("Reshape", [tap, flat])], transB=1),
                                       tap_axis]) for tap in taps]   # each (O, C, 1)
    stacked = ctx.emit("Concat", products, axis=2) if len(products) > 1 else products[0]
    ctx.emit("Reshape", [stacked, ints(ctx, [filters, channels, kh, kw], "kernel")], out=node.outputs[0])


def _filter_grad_by_columns(ctx, node):
    """The column matrix made by one Conv, then one GEMM: a grouped Conv whose kernel is one-hot
    (channel c's tap t copies x[c] shifted by the tap) unfolds x (N, C, H, W) into (N, C·kh·kw, Ho, Wo), padding
    and strides included; then dW (O, C·kh·kw) = dy (O, N·Ho·Wo) × columns (C·kh·kw, N·Ho·Wo)ᵀ, one GEMM."""
    x, dy = node.inputs
    a = node.attrs
    (kh, kw), channels, filters = a["kernel_hw"], ctx.dims(x)[1], ctx.dims(dy)[1]
    taps = kh * kw
    one_hot = np.tile(np.eye(taps, dtype=x.dtype).reshape(taps, 1, kh, kw), (channels, 1, 1, 1))
    unfolded = ctx.emit("Conv", [ctx.input(x), ctx.const(one_hot, f"{node.name}/one_hot")], kernel_shape=[kh, kw],
                        strides=list(a["strides"]), dilations=list(a["dilations"]), pads=onnx_pads(a["pads"]),
                        group=channels)
    columns = ctx.emit("Reshape", [ctx.emit("Transpose", [unfolded], perm=[1, 0, 2, 3]),
                                   ints(ctx, [channels * taps, -1], "columns")])
    product = ctx.emit("Gemm", [_dy_rows(ctx, node), columns], transB=1)                     # (O, C·kh·kw)
    ctx.emit("Reshape", [product, ints(ctx, [filters, channels, kh, kw], "kernel")], out=node.outputs[0])


def _dy_rows(ctx, node):
    """dy (N, O, Ho, Wo) as rows (O, N·Ho·Wo): the batch becomes part of the contracted axis."""
    dy = node.inputs[1]
    return ctx.emit("Reshape", [ctx.emit("Transpose", [ctx.input(dy)], perm=[1, 0, 2, 3]),
                                ints(ctx, [ctx.dims(dy)[1], -1], "dy_rows")])


def _strided_taps(ctx, node):
    """x's kh·kw strided slices, each (C, N, Ho, Wo) from x padded and made channel-major, and dy as rows
    (O, N·Ho·Wo): the batch becomes part of the contracted axis of the filter gradient's products."""
    x, dy = node.inputs
    a = node.attrs
    (kh, kw), (sh, sw), (dh, dw) = a["kernel_hw"], a["strides"], a["dilations"]
    ho, wo = ctx.dims(dy)[2:]
    value = ctx.input(x)
    if any(a["pads"]):
        top, bottom, left, right = a["pads"]
        value = ctx.emit("Pad", [value, ints(ctx, [0, 0, top, left, 0, 0, bottom, right], "pads")], mode="constant")
    by_channel = ctx.emit("Transpose", [value], perm=[1, 0, 2, 3])
    axes, steps = ints(ctx, [2, 3], "axes"), ints(ctx, [sh, sw], "steps")
    taps = []
    for i in range(kh):
        for j in range(kw):
            start = [i * dh, j * dw]
            end = [start[0] + sh * (ho - 1) + 1, start[1] + sw * (wo - 1) + 1]
            taps.append(ctx.emit("Slice", [by_channel, ints(ctx, start, "start"), ints(ctx, end, "end"), axes,
                                           steps]))
    return taps, _dy_rows(ctx, node)


def _filter_grad_as_conv(ctx, node):
    """dW as one Conv: the batch axis turned into channels (x as (C, N, H, W), dy as (O, N, Ho, Wo) filters),
    strides and dilations swapped; groups move into the channel axis so one grouped Conv does every group."""
    x, dy = node.inputs
    a = node.attrs
    groups, (kh, kw) = a["groups"], a["kernel_hw"]
    (h, w), (ho, wo) = ctx.dims(x)[2:], ctx.dims(dy)[2:]
    if groups == 1:
        xt = ctx.emit("Transpose", [ctx.input(x)], perm=[1, 0, 2, 3])
        dyt = ctx.emit("Transpose", [ctx.input(dy)], perm=[1, 0, 2, 3])
    else:   # channels g-major, then the batch: group g of the Conv sees exactly group g of x and of dy
        cg, og = ctx.dims(x)[1] // groups, ctx.dims(dy)[1] // groups
        xt = _regroup(ctx, ctx.input(x), [0, groups, cg, h, w], [2, 1, 0, 3, 4], [cg, -1, h, w])
        dyt = _regroup(ctx, ctx.input(dy), [0, groups, og, ho, wo], [1, 2, 0, 3, 4], [groups * og, -1, ho, wo])
    full = ctx.emit("Conv", [xt, dyt], kernel_shape=[ho, wo], strides=list(a["dilations"]),
                    dilations=list(a["strides"]), pads=onnx_pads(a["pads"]), group=groups)
    # The correlation may run past the kernel when the strides left rows of x unread: keep the kernel's part.
    out_h = (h + a["pads"][0] + a["pads"][1] - a["strides"][0] * (ho - 1) - 1) // a["dilations"][0] + 1
    out_w = (w + a["pads"][2] + a["pads"][3] - a["strides"][1] * (wo - 1) - 1) // a["dilations"][1] + 1
    if (out_h, out_w) != (kh, kw):
        full = ctx.emit("Slice", [full, ints(ctx, [0, 0], "starts"), ints(ctx, [kh, kw], "ends"),
                                  ints(ctx, [2, 3], "axes")])
    ctx.emit("Transpose", [full], out=node.outputs[0], perm=[1, 0, 2, 3])


# The spellings of the filter gradient, which ``tools/bench_filter_grad.py`` times on each layer shape.
FILTER_GRADIENT_FORMS = {"taps": _filter_grad_by_taps, "columns": _filter_grad_by_columns,
                         "conv": _filter_grad_as_conv}


def _regroup(ctx, value, split_shape, perm, merged_shape):
    value = ctx.emit("Reshape", [value, ints(ctx, split_shape, "split")])
    value = ctx.emit("Transpose", [value], perm=perm)
    return ctx.emit("Reshape", [value, ints(ctx, merged_shape, "merged")])


def _argmax_indices(ctx, node):
    """MaxPool's argmax indices (N, C, Ho, Wo) for the node's x (its first input), flattened over the whole
    N·C·H·W tensor; ties go to the first maximum in scan order, as in graphcore's kernel."""
    a = node.attrs
    _, indices = ctx.emit("MaxPool", [ctx.input(node.inputs[0])], outs=[None, None], kernel_shape=list(a["kernel"]),
                          strides=list(a["strides"]), pads=onnx_pads(a["pads"]))
    return indices


@converter("MaxPoolGrad")
def _max_pool_grad(ctx, node):
    x, dy = node.inputs
    flat = ints(ctx, [-1], "flat")
    zeros = ctx.emit("Reshape", [fill(ctx, ctx.shape(x), 0, dy.dtype), flat])
    updates = ctx.emit("Reshape", [ctx.input(dy), flat])
    indices = ctx.emit("Reshape", [_argmax_indices(ctx, node), flat])
    scattered = ctx.emit("ScatterElements", [zeros, indices, updates], axis=0, reduction="add")
    ctx.emit("Reshape", [scattered, ctx.shape(x)], out=node.outputs[0])


@converter("MaxPoolGradGrad")
def _max_pool_grad_grad(ctx, node):
    _, ddx = node.inputs
    flat_ddx = ctx.emit("Reshape", [ctx.input(ddx), ints(ctx, [-1], "flat")])
    ctx.emit("Gather", [flat_ddx, _argmax_indices(ctx, node)], out=node.outputs[0], axis=0)


@converter("AvgPoolGrad")
def _avg_pool_grad(ctx, node):
    """One grouped ConvTranspose spreads each channel's dy over its windows, the kernel holding 1/window size
    (when every window has the same divisor; otherwise dy is first divided by the per-position map).
    Measured on onnxruntime 1.31 CPU: 1.4-3.7× faster than the same over (image, channel) planes reshaped
    into one channel, and one node instead of four."""
    _known_spatial(ctx, node, node.inputs[0], node.outputs[0])
    dy, out = node.inputs[0], node.outputs[0]
    a = node.attrs
    (kh, kw), (h, w), (ho, wo) = a["kernel"], a["input_hw"], ctx.dims(dy)[2:]
    channels = ctx.dims(dy)[1]
    divisor = _window_sizes(a, (h, w), (ho, wo))
    value, weight = ctx.input(dy), 1.0 / divisor.flat[0]
    if np.any(divisor != divisor.flat[0]):
        value = ctx.emit("Mul", [value, ctx.const((1.0 / divisor).astype(dy.dtype), f"{node.name}/inverse_divisor")])
        weight = 1.0
    natural = [(n - 1) * s - p0 - p1 + k for n, s, p0, p1, k in
               zip((ho, wo), a["strides"], a["pads"][::2], a["pads"][1::2], (kh, kw))]
    extra = [size - n for size, n in zip((h, w), natural)]
    kernel = ctx.const(np.full((channels, 1, kh, kw), weight, dy.dtype), f"{node.name}/window")
    ctx.emit("ConvTranspose", [value, kernel], out=out, strides=list(a["strides"]), pads=onnx_pads(a["pads"]),
             kernel_shape=[kh, kw], group=channels, **({"output_padding": extra} if any(extra) else {}))


def _window_sizes(attrs, input_hw, output_hw):
    """The divisor of each output position, (Ho, Wo): the window area, or with ``count_include_pad=False``
    the number of window cells inside the image."""
    (kh, kw), (sh, sw), pads = attrs["kernel"], attrs["strides"], attrs["pads"]
    if attrs["count_include_pad"]:
        return np.full(output_hw, float(kh * kw))
    counts = []
    for size, out, k, s, before in ((input_hw[0], output_hw[0], kh, sh, pads[0]),
                                    (input_hw[1], output_hw[1], kw, sw, pads[2])):
        starts = np.arange(out) * s - before
        counts.append(np.minimum(starts + k, size) - np.maximum(starts, 0))
    return np.outer(counts[0], counts[1]).astype(np.float64)


@converter("SliceGrad")
def _slice_grad(ctx, node):
    g, x = node.inputs
    key = node.attrs["key"]
    pads = _unit_step_pads(ctx.dims(x), key)
    if pads is None:
        _scatter_into_slice(ctx, node)
        return
    (_, _, _, _), squeeze, unsqueeze = slice_plan(x.ndim, key)
    value = ctx.input(g)
    if unsqueeze:
        value = ctx.emit("Squeeze", [value, ints(ctx, unsqueeze, "new_axes")])
    if squeeze:
        value = ctx.emit("Unsqueeze", [value, ints(ctx, squeeze, "indexed_axes")])
    zero = ctx.const(np.array(0, g.dtype), f"{node.name}/zero")
    ctx.emit("Pad", [value, ints(ctx, [p for p, _ in pads] + [p for _, p in pads], "pads"), zero],
             out=node.outputs[0], mode="constant")


def _unit_step_pads(shape, key):
    """Per-axis (before, after) zero padding that undoes ``x[key]``, or None when a step is not +1 or a
    sliced dimension is unknown."""
    (starts, ends, axes, steps), _, _ = slice_plan(len(shape), key)
    pads = [(0, 0)] * len(shape)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step != 1 or shape[axis] is None:
            return None
        begin, stop, _ = slice(start, end, 1).indices(shape[axis])
        count = max(stop - begin, 0)
        pads[axis] = (begin, shape[axis] - begin - count)
    return pads


def _scatter_into_slice(ctx, node):
    """The general case: number x's elements (Range over its size), slice those numbers as the forward pass
    sliced x, and scatter g's values to them (each position at most once) in a flat zero tensor."""
    g, x = node.inputs
    flat = ints(ctx, [-1], "flat")
    shape = ctx.shape(x)
    size = ctx.emit("Size", [ctx.input(x)])
    numbers = ctx.emit("Range", [ctx.const(np.array(0, np.int64), f"{node.name}/start"), size,
                                 ctx.const(np.array(1, np.int64), f"{node.name}/delta")])
    numbers = ctx.emit("Reshape", [numbers, shape])
    positions = ctx.emit("Reshape", [emit_slice(ctx, numbers, x.ndim, node.attrs["key"]), flat])
    zeros = ctx.emit("Reshape", [fill(ctx, shape, 0, g.dtype), flat])
    updates = ctx.emit("Reshape", [ctx.input(g), flat])
    scattered = ctx.emit("ScatterElements", [zeros, positions, updates], axis=0)
    ctx.emit("Reshape", [scattered, shape], out=node.outputs[0])
