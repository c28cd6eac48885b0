"""Import rules for convolution, pooling and normalisation.

graphcore's convolution and pooling kernels are 2-D (NCHW); 1-D ONNX ops run on them with a unit height
(unsqueezed, then squeezed back). Normalisations are composed from primitives; inference batch norm is
``x·a + b`` with per-channel ``a = scale/√(var + ε)`` and ``b = B − mean·a``, two passes over the data like a
fused kernel, and differentiable in every parameter.
"""
import numpy as np

import graphcore as gc
from graphcore.op import apply_op

from .import_math import scalar
from .import_registry import importer


def _spatial_rank(node, x):
    rank = x.ndim - 2
    if rank not in (1, 2):
        raise node.error(f"{rank}-D {node.op_type} is not supported: graphcore's kernels are 2-D (1-D runs on them)")
    return rank


def _to_2d(values, rank, default):
    """Per-dimension attribute values for 2-D kernels: a 1-D op gets a leading unit dimension."""
    values = list(values) if values is not None else [default] * rank
    neutral = 0 if default == 0 else 1   # the unit height's value: no padding, unit stride and size
    return tuple(values) if rank == 2 else (neutral, values[0]) if len(values) == 1 else tuple(values)


def _pads_2d(pads, rank):
    """ONNX pads (begins, then ends) → graphcore (top, bottom, left, right)."""
    if pads is None:
        return (0, 0, 0, 0)
    if rank == 1:
        return (0, 0, pads[0], pads[1])
    return (pads[0], pads[2], pads[1], pads[3])


def _auto_pads(node, hw, kernel, strides, dilations):
    """Explicit pads from ``auto_pad`` (SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start)."""
    mode = node.attr("auto_pad", "NOTSET")
    if mode in ("NOTSET", ""):
        return _pads_2d(node.attr("pads"), 2 if len(node.attr("pads") or [0] * 4) == 4 else 1)
    if mode == "VALID":
        return (0, 0, 0, 0)
    if None in hw:
        raise node.error(f"auto_pad {mode} needs known spatial sizes")
    pads = []
    for size, k, s, d in zip(hw, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
        small, large = total // 2, total - total // 2
        pads += [small, large] if mode == "SAME_UPPER" else [large, small]
    return tuple(pads)


def _unsqueezed(x, rank):
    return gc.expand_dims(x, 2) if rank == 1 else x


def _squeezed(y, rank):
    return gc.squeeze(y, 2) if rank == 1 else y


def _with_bias(y, bias, ctx):
    if bias is None:
        return y
    b = ctx.tensor(bias)
    return y + gc.reshape(b, (1, -1) + (1,) * (y.ndim - 2))


def _conv_operands(ctx, node, inputs):
    """x and w as 2-D convolution operands, the spatial rank, strides and dilations."""
    x, w = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    rank = _spatial_rank(node, x)
    strides, dilations = _to_2d(node.attr("strides"), rank, 1), _to_2d(node.attr("dilations"), rank, 1)
    return _unsqueezed(x, rank), _unsqueezed(w, rank), rank, strides, dilations


@importer("Conv")
def _conv(ctx, node, inputs):
    x4, w4, rank, strides, dilations = _conv_operands(ctx, node, inputs)
    pads = _auto_pads(node, x4.shape[2:], w4.shape[2:], strides, dilations)
    y = gc.conv2d(x4, w4, strides, pads, dilations, groups=int(node.attr("group", 1)))
    return [_with_bias(_squeezed(y, rank), inputs[2] if len(inputs) > 2 else None, ctx)]


@importer("ConvTranspose")
def _conv_transpose(ctx, node, inputs):
    x4, w4, rank, strides, dilations = _conv_operands(ctx, node, inputs)
    extra = _to_2d(node.attr("output_padding"), rank, 0)
    hw, kernel, mode = x4.shape[2:], w4.shape[2:], node.attr("auto_pad", "NOTSET")
    if None in hw:
        raise node.error("ConvTranspose needs known spatial sizes")
    full = [s * (h - 1) + e + d * (k - 1) + 1 for h, s, e, d, k in zip(hw, strides, extra, dilations, kernel)]
    wanted = node.attr("output_shape")
    if wanted is None and mode in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [h * s for h, s in zip(hw, strides)]
    if wanted is not None:
        wanted = _to_2d(wanted[-rank:], rank, 1)
        pads = []
        for f, o in zip(full, wanted):
            total = f - o
            pads += [total // 2, total - total // 2] if mode == "SAME_UPPER" else [total - total // 2, total // 2]
        pads = tuple(pads)
    else:
        pads = (0, 0, 0, 0) if mode == "VALID" else _pads_2d(node.attr("pads"), rank)
    # A negative pad (an output_shape beyond the kernel's reach) is zeros no tap writes: pad the result.
    grow = tuple(max(-p, 0) for p in pads)
    pads = tuple(max(p, 0) for p in pads)
    out_hw = tuple(f - a - b for f, a, b in zip(full, pads[::2], pads[1::2]))
    y = gc.conv2d_transpose(x4, w4, out_hw, strides, pads, dilations, groups=int(node.attr("group", 1)))
    if any(grow):
        y = gc.pad(y, ((0, 0), (0, 0), grow[:2], grow[2:]))
    return [_with_bias(_squeezed(y, rank), inputs[2] if len(inputs) > 2 else None, ctx)]


def _ceil_extra(size, k, s, before, after):
    """Extra end padding that makes floor-mode pooling produce ceil-mode's output size (a last window must
    still start inside the input or its leading padding)."""
    out = -(-(size + before + after - k) // s) + 1
    if (out - 1) * s >= size + before:
        out -= 1
    return max((out - 1) * s + k - (size + before + after), 0)


@importer("MaxPool", "AveragePool")
def _pool(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    with_indices = len(node.outputs) > 1 and bool(node.outputs[1])
    if x.ndim == 5 or with_indices or any(d != 1 for d in node.attr("dilations") or [1]):
        return _pool_by_taps(ctx, node, x, with_indices)
    rank = _spatial_rank(node, x)
    x4 = _unsqueezed(x, rank)
    kernel = _to_2d(node.attr("kernel_shape"), rank, 1)
    strides = _to_2d(node.attr("strides"), rank, 1)
    pads = list(_auto_pads(node, x4.shape[2:], kernel, strides, (1, 1)))
    include = bool(node.attr("count_include_pad", 0))
    if node.attr("ceil_mode", 0):
        extra = [_ceil_extra(h, k, s, pads[2 * i], pads[2 * i + 1])
                 for i, (h, k, s) in enumerate(zip(x4.shape[2:], kernel, strides))]
        if include and any(extra):   # real padding counts in the average, ceil-mode's extra does not
            x4 = gc.pad(x4, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
            pads, include = [0, 0, 0, 0], False
        pads[1] += extra[0]
        pads[3] += extra[1]
    if node.op_type == "MaxPool":
        y = gc.max_pool2d(x4, kernel, strides, tuple(pads))
    else:
        y = gc.avg_pool2d(x4, kernel, strides, tuple(pads), count_include_pad=include)
    return [_squeezed(y, rank)]


def _pool_by_taps(ctx, node, x, with_indices=False):
    """Pooling of any spatial rank and dilation, composed: the window's taps are strided slices of the padded
    input, combined with maximum or summed and divided by a count computed now (which padding counts).
    MaxPool's Indices (flat positions in the input, the first maximum winning) follow the same taps."""
    sizes, n = x.shape[2:], x.ndim - 2
    if None in sizes:
        raise node.error(f"{node.op_type} needs known spatial sizes")
    kernel = list(node.attr("kernel_shape"))
    strides, dilations = node.attr("strides") or [1] * n, node.attr("dilations") or [1] * n
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    pairs = _pad_pairs(node, sizes, reach, strides)
    if node.attr("ceil_mode", 0):
        pairs = [(a, b + _ceil_extra(h, r, s, a, b)) for h, r, s, (a, b) in zip(sizes, reach, strides, pairs)]
    real = _pad_pairs(node, sizes, reach, strides)   # the padding that is not ceil mode's extra
    out = [(h + a + b - r) // s + 1 for h, r, s, (a, b) in zip(sizes, reach, strides, pairs)]
    is_max = node.op_type == "MaxPool"
    if node.op_type == "LpPool":   # (Σ |x|^p)^(1/p) over the window; padding adds nothing
        p = float(node.attr("p", 2))
        x = gc.power(gc.abs(x), scalar(p, x))
    padded = gc.pad(x, [(0, 0), (0, 0)] + pairs, -np.inf if is_max else 0.0)
    taps = [tuple(slice(o * d, o * d + s * (m - 1) + 1, s) for o, d, s, m in zip(offset, dilations, strides, out))
            for offset in np.ndindex(*kernel)]
    parts = [padded[(slice(None), slice(None)) + tap] for tap in taps]
    if is_max and with_indices:
        return _max_with_indices(ctx, node, x, parts, taps, pairs, strides)
    if is_max:
        y = parts[0]
        for part in parts[1:]:
            y = gc.maximum(y, part)
        return [y]
    if node.op_type == "LpPool":
        return [gc.power(gc.add_n(parts) if len(parts) > 1 else parts[0], scalar(1.0 / p, x))]
    inner = real if node.attr("count_include_pad", 0) else [(0, 0)] * n   # padding counted in the average
    counted = np.pad(np.ones(sizes, x.dtype), inner, constant_values=1)
    counted = np.pad(counted, [(a - i, b - j) for (a, b), (i, j) in zip(pairs, inner)])
    count = sum(counted[tap] for tap in taps)
    return [gc.add_n(parts) * ctx.tensor((1.0 / count).astype(x.dtype))]


def _max_with_indices(ctx, node, x, parts, taps, pairs, strides):
    """Values and flat input indices of each window's first maximum (row-major, or column-major spatially
    with ``storage_order=1``)."""
    batch, channels, sizes = x.shape[0], x.shape[1], x.shape[2:]
    if batch is None or channels is None:
        raise node.error("MaxPool's Indices output needs known batch and channel sizes")
    grid = np.indices(parts[0].shape[2:])
    plane = int(np.prod(sizes))
    base = (np.arange(batch * channels, dtype=np.int64) * plane).reshape(batch, channels, *([1] * len(sizes)))
    order = list(range(len(sizes)))[::-1] if node.attr("storage_order", 0) else list(range(len(sizes)))
    best, best_index = parts[0], None
    for k, (tap, part) in enumerate(zip(taps, parts)):
        position = [g * s + t.start - a for g, s, t, (a, _) in zip(grid, strides, tap, pairs)]
        flat, stride = np.zeros_like(position[0]), 1
        for axis in reversed(order):
            flat = flat + position[axis] * stride
            stride *= sizes[axis]
        index = ctx.tensor(base + flat[None, None])
        if k == 0:
            best_index = gc.expand(index, ctx.tensor(np.asarray(part.shape, np.int64)))
            continue
        better = part > best
        best, best_index = gc.where(better, part, best), gc.where(better, index, best_index)
    return [best, best_index]


def _pad_pairs(node, sizes, reach, strides):
    """(before, after) per spatial dim from ``pads`` or ``auto_pad`` (for a window spanning ``reach``)."""
    n, mode = len(sizes), node.attr("auto_pad", "NOTSET")
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        pairs = []
        for size, r, s in zip(sizes, reach, strides):
            total = max((-(-size // s) - 1) * s + r - size, 0)
            pairs.append((total // 2, total - total // 2) if mode == "SAME_UPPER" else (total - total // 2, total // 2))
        return pairs
    pads = node.attr("pads") if mode in ("NOTSET", "") and node.attr("pads") else [0] * (2 * n)
    return [(int(pads[i]), int(pads[i + n])) for i in range(n)]


@importer("LpPool")
def _lp_pool(ctx, node, inputs):
    return _pool_by_taps(ctx, node, ctx.tensor(inputs[0]))


@importer("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axes = tuple(range(2, x.ndim))
    fn = gc.reduce_mean if node.op_type == "GlobalAveragePool" else gc.reduce_max
    return [fn(x, axes, keepdims=True)]


def _channels(t, ndim):
    return gc.reshape(t, (-1,) + (1,) * (ndim - 2))


@importer("BatchNormalization")
def _batch_norm(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    scale, bias, mean, var = (ctx.tensor(v) for v in inputs[1:5])
    epsilon = node.attr("epsilon", 1e-5)
    if node.attr("training_mode", 0):
        return _batch_norm_training(x, scale, bias, mean, var, epsilon, node.attr("momentum", 0.9))
    if node.opset < 7 and not node.attr("is_test", 0):
        raise node.error("training-mode batch normalisation of opset < 7 (is_test=0) is not imported")
    a = scale * gc.rsqrt(var + epsilon)
    b = bias - mean * a
    return [x * _channels(a, x.ndim) + _channels(b, x.ndim)]


def _batch_norm_training(x, scale, bias, mean, var, epsilon, momentum):
    """Batch statistics (biased variance) normalise; the running averages are the extra outputs."""
    axes = (0,) + tuple(range(2, x.ndim))
    batch_mean = gc.reduce_mean(x, axes)
    centered = x - _channels(batch_mean, x.ndim)
    batch_var = gc.reduce_mean(gc.square(centered), axes)
    y = centered * _channels(scale * gc.rsqrt(batch_var + epsilon), x.ndim) + _channels(bias, x.ndim)
    return [y, mean * momentum + batch_mean * (1 - momentum), var * momentum + batch_var * (1 - momentum)]


@importer("InstanceNormalization")
def _instance_norm(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    scale, bias = ctx.tensor(inputs[1]), ctx.tensor(inputs[2])
    y = _normalize(x, tuple(range(2, x.ndim)), node.attr("epsilon", 1e-5))
    return [y * _channels(scale, x.ndim) + _channels(bias, x.ndim)]


@importer("LayerNormalization")
def _layer_norm(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axis = node.attr("axis", -1) % x.ndim
    axes, epsilon = tuple(range(axis, x.ndim)), node.attr("epsilon", 1e-5)
    mean = gc.reduce_mean(x, axes, keepdims=True)
    centered = x - mean
    inv_std = gc.rsqrt(gc.reduce_mean(gc.square(centered), axes, keepdims=True) + epsilon)
    y = centered * inv_std * ctx.tensor(inputs[1])
    y = y + ctx.tensor(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else y
    return [y, mean, inv_std]


@importer("MeanVarianceNormalization")
def _mvn(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axes = tuple(int(a) % x.ndim for a in node.attr("axes", [0, 2, 3]))
    return [_normalize(x, axes, 1e-9, inside=False)]


def _normalize(x, axes, epsilon, inside=True):
    """(x − mean) / √(var + ε) over ``axes`` (biased variance); ``inside=False``: ε added to the root."""
    centered = x - gc.reduce_mean(x, axes, keepdims=True)
    var = gc.reduce_mean(gc.square(centered), axes, keepdims=True)
    return centered * gc.rsqrt(var + epsilon) if inside else centered / (gc.sqrt(var) + epsilon)


@importer("Dropout")
def _dropout(ctx, node, inputs):
    """Inference (no training_mode, or a false one, or a ratio of 0): the identity and a mask of ones.
    Training mode: graphcore's dropout with the same keep rate and scaling, switched by training_mode (which
    may be a run-time value); its random numbers are graphcore's, not those of the exporter's framework."""
    x = ctx.tensor(inputs[0])
    ratio = node.attr("ratio", 0.5) if node.opset < 12 else (
        float(np.asarray(ctx.static(inputs[1], "the ratio of Dropout")).reshape(-1)[0])
        if len(inputs) > 1 and inputs[1] is not None else 0.5)
    training = inputs[2] if len(inputs) > 2 else None
    wants_mask = len(node.outputs) > 1 and bool(node.outputs[1])
    if training is None or (isinstance(training, np.ndarray) and not bool(training)) or ratio == 0:
        return [gc.identity(x)] + ([gc.ones_like(x, dtype=gc.bool_)] if wants_mask else [])
    switch = gc.reshape(ctx.tensor(training), ())
    seed = node.attr("seed")
    y, scaled_mask = apply_op("Dropout", [x, switch], rate=float(ratio), seed=None if seed is None else int(seed))
    return [y] + ([scaled_mask > 0.0] if wants_mask else [])


@importer("LRN")
def _lrn(ctx, node, inputs):
    """x / (bias + α/size · Σ x² over a window of ``size`` channels)^β; the window sum is ``size`` shifted
    slices of the zero-padded squares."""
    x = ctx.tensor(inputs[0])
    size = int(node.attr("size"))
    alpha, beta, bias = node.attr("alpha", 1e-4), node.attr("beta", 0.75), node.attr("bias", 1.0)
    channels = x.shape[1]
    if channels is None:
        raise node.error("LRN needs a known channel count")
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    padded = gc.pad(gc.square(x), ((0, 0), (lo, hi)) + ((0, 0),) * (x.ndim - 2))
    window = gc.add_n([padded[:, i:i + channels] for i in range(size)])
    return [x / gc.power(window * (alpha / size) + bias, scalar(beta, x))]


@importer("RMSNormalization")
def _rms_norm(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axes = tuple(range(node.attr("axis", -1) % x.ndim, x.ndim))
    y = x * gc.rsqrt(gc.reduce_mean(gc.square(x), axes, keepdims=True) + node.attr("epsilon", 1e-5))
    return [y * ctx.tensor(inputs[1])]


@importer("LpNormalization")
def _lp_norm(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axis, p = node.attr("axis", -1) % x.ndim, node.attr("p", 2)
    norm = gc.reduce_sum(gc.abs(x), axis, keepdims=True) if p == 1 else \
        gc.sqrt(gc.reduce_sum(gc.square(x), axis, keepdims=True))
    return [gc.where(gc.equal(norm, scalar(0, x)), scalar(0, x), x / gc.maximum(norm, scalar(1e-30, x)))]


@importer("GlobalLpPool")
def _global_lp_pool(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    p = float(node.attr("p", 2))
    total = gc.reduce_sum(gc.power(gc.abs(x), scalar(p, x)), tuple(range(2, x.ndim)), keepdims=True)
    return [gc.power(total, scalar(1.0 / p, x))]


@importer("Hardmax")
def _hardmax(ctx, node, inputs):
    """1 at the first maximum along ``axis``, 0 elsewhere (before opset 13: over the flattened trailing axes)."""
    x = ctx.tensor(inputs[0])
    axis = node.attr("axis", -1 if node.opset >= 13 else 1) % x.ndim
    if node.opset < 13:
        flat = gc.reshape(x, (-1, int(np.prod(x.shape[axis:]))))
        return [gc.reshape_like(gc.one_hot(gc.argmax(flat, -1), flat.shape[-1], x.dtype), x)]
    perm = [i for i in range(x.ndim) if i != axis] + [axis]
    moved = gc.transpose(x, tuple(perm)) if axis != x.ndim - 1 else x
    hot = gc.one_hot(gc.argmax(moved, -1), x.shape[axis], x.dtype)
    return [hot if axis == x.ndim - 1 else gc.transpose(hot, tuple(int(i) for i in np.argsort(perm)))]
