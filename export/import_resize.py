"""Import rule for Resize (and the older Upsample): separable resampling composed from gathers.

With static sizes (the usual case: scales or sizes are initializers), every output position along an axis
reads a few input positions with fixed weights — 1 for nearest, 2 for linear, 4 for cubic — computed now in
NumPy from ONNX's coordinate transformation (``antialias`` widens the linear and cubic windows by 1/scale
when downsampling). Each resized axis is then a weighted sum of ``gather``s along it, so the result is
differentiable in the input and needs no new op.
"""
import numpy as np

import graphcore as gc

from .import_registry import importer


def _source_coordinates(mode, out_size, in_size, scale, roi=(0.0, 1.0)):
    """The input coordinate each output position maps to (ONNX's coordinate_transformation_mode)."""
    x = np.arange(out_size, dtype=np.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out_size / (scale * in_size)
        return in_size / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros(out_size)
    if mode == "align_corners":   # ONNX divides by the unrounded resized length, in·scale
        return x * (in_size - 1) / (in_size * scale - 1) if out_size > 1 else np.zeros(out_size)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        if out_size == 1:
            return np.full(out_size, 0.5 * (start + end) * (in_size - 1))
        return start * (in_size - 1) + x * (end - start) * (in_size - 1) / (out_size - 1)
    raise ValueError(f"unknown coordinate_transformation_mode {mode!r}")


_NEAREST = {"round_prefer_floor": lambda x: np.ceil(x - 0.5), "round_prefer_ceil": lambda x: np.floor(x + 0.5),
            "floor": np.floor, "ceil": np.ceil}


def _cubic_weights(t, a):
    """Keys' cubic convolution weights of the 4 taps at offsets −1, 0, 1, 2 for fractional positions t."""
    def kernel(d):
        d = np.abs(d)
        return np.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                        np.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, 0.0))
    return [kernel(t + 1), kernel(t), kernel(1 - t), kernel(2 - t)]


def taps(node, out_size, in_size, scale, roi):
    """[(input indices, weights)] along one axis, and the mask of positions inside the input (for
    tf_crop_and_resize's extrapolation value)."""
    modern = node.opset >= 11 and node.op_type == "Resize"   # Upsample and Resize-10 scale asymmetrically
    mode = node.attr("coordinate_transformation_mode", "half_pixel" if modern else "asymmetric")
    x = _source_coordinates(mode, out_size, in_size, scale, roi)
    inside = (x >= 0) & (x <= in_size - 1)
    clamp = lambda i: np.clip(i, 0, in_size - 1).astype(np.int64)  # noqa: E731  (edge padding)
    kind = node.attr("mode", "nearest")
    if node.attr("antialias", 0) and kind != "nearest":
        return _antialiased(kind, x, in_size, min(scale, 1.0), node.attr("cubic_coeff_a", -0.75),
                            bool(node.attr("exclude_outside", 0))), inside
    if kind == "nearest":
        default = "round_prefer_floor" if modern else "floor"
        return [(clamp(_NEAREST[node.attr("nearest_mode", default)](x)), np.ones(out_size))], inside
    if kind == "linear":
        x = np.clip(x, 0, in_size - 1)
        low = np.floor(x)
        return [(clamp(low), 1 - (x - low)), (clamp(low + 1), x - low)], inside
    if kind == "cubic":
        low = np.floor(x)
        weights = _cubic_weights(x - low, node.attr("cubic_coeff_a", -0.75))
        indices = [low - 1, low, low + 1, low + 2]
        if node.attr("exclude_outside", 0):
            valid = [(i >= 0) & (i <= in_size - 1) for i in indices]
            weights = [w * v for w, v in zip(weights, valid)]
            total = sum(weights)
            weights = [w / total for w in weights]
        return [(clamp(i), w) for i, w in zip(indices, weights)], inside
    raise node.error(f"unknown Resize mode {kind!r}")


def _antialiased(kind, x, in_size, scale, a, exclude_outside):
    """Linear or cubic taps stretched by 1/scale when downsampling (``antialias=1``): a wider window whose
    weights are the kernel at (offset − fraction)·scale, normalised to sum 1, placed as onnx's reference
    places it (the n indices nearest x, ties to the smaller)."""
    fraction = np.where(x == np.floor(x), 1.0, x - np.floor(x))
    if kind == "linear":
        start = int(np.floor(-1 / scale) + 1)
        offsets = np.arange(start, start + 2 - 2 * start)
        weights = np.clip(1 - np.abs((offsets[None] - fraction[:, None]) * scale), 0, 1)
    elif kind == "cubic":
        start = int(np.floor(-2 / scale) + 1)
        offsets = np.arange(start, 2 - start)
        d = np.abs((offsets[None] - fraction[:, None]) * scale)
        weights = np.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                           np.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, 0.0))
    else:
        raise ValueError(f"unknown Resize mode {kind!r}")
    weights = weights / weights.sum(-1, keepdims=True)
    n = weights.shape[1]
    pad = int(np.ceil(n / 2))
    padded = x + pad
    base = np.floor(padded)
    if n % 2 == 0:
        offset = np.where(padded - base == 0, -(n // 2), -(n // 2) + 1)
    else:
        offset = np.where(padded - base <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    indices = (base + offset)[:, None] + np.arange(n)[None] - pad
    if exclude_outside:
        weights = np.where((indices < 0) | (indices >= in_size), 0.0, weights)
        total = weights.sum(-1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    clamped = np.clip(indices, 0, in_size - 1).astype(np.int64)
    return [(clamped[:, k], weights[:, k]) for k in range(n)]


def _resize_axis(ctx, x, axis, axis_taps):
    parts = []
    for indices, weights in axis_taps:
        picked = gc.gather(x, ctx.tensor(indices), axis)
        if np.all(weights == 1):
            parts.append(picked)
        else:
            shape = [1] * x.ndim
            shape[axis] = len(weights)
            parts.append(picked * ctx.tensor(weights.reshape(shape).astype(x.dtype)))
    return gc.add_n(parts) if len(parts) > 1 else parts[0]


@importer("Resize", "Upsample")
def _resize(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    rank = x.ndim
    axes = [a % rank for a in node.attr("axes", list(range(rank)))]
    roi, scales, sizes = _operands(ctx, node, inputs)
    if any(x.shape[a] is None for a in axes):
        return [_resize_at_run_time(ctx, node, x, axes, scales, sizes)]
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    if sizes is not None and policy != "stretch":   # one scale for all axes, fitting inside or around sizes
        ratios = [int(s) / x.shape[a] for s, a in zip(sizes, axes)]
        scale = min(ratios) if policy == "not_larger" else max(ratios)
        scales = [scale] * len(axes)
        out = [int(np.floor(scale * x.shape[a] + 0.5)) for a in axes]
    elif sizes is not None:
        out = [int(s) for s in sizes]
        scales = [o / x.shape[a] for o, a in zip(out, axes)]
    else:
        scales = [float(s) for s in scales]
        out = [int(np.floor(x.shape[a] * s)) for a, s in zip(axes, scales)]
    ctx.check_size(_full(out, axes, x.shape), x.dtype, f"Resize '{node.name}' output")
    roi = roi.reshape(2, -1) if roi is not None and roi.size else None
    mask = None
    for i, axis in enumerate(axes):
        if out[i] == x.shape[axis] and scales[i] == 1:
            continue
        span = (roi[0][i], roi[1][i]) if roi is not None else (0.0, 1.0)
        axis_taps, inside = taps(node, out[i], x.shape[axis], scales[i], span)
        x = _resize_axis(ctx, x, axis, axis_taps)
        if not inside.all() and node.attr("coordinate_transformation_mode") == "tf_crop_and_resize":
            shape = [1] * rank
            shape[axis] = out[i]
            m = inside.reshape(shape)
            mask = m if mask is None else mask & m
    if mask is not None:
        x = gc.where(ctx.tensor(mask), x, np.asarray(node.attr("extrapolation_value", 0.0), x.dtype))
    return [x if x is not inputs[0] else gc.identity(x)]


def _resize_at_run_time(ctx, node, x, axes, scales, sizes):
    """Resize of axes whose input sizes are known only at run time (a segmentation net exported with symbolic
    image sizes): the same taps as ``taps``, their positions and weights computed in the graph (float64) from
    the run-time size."""
    modern = node.opset >= 11 and node.op_type == "Resize"
    mode = node.attr("coordinate_transformation_mode", "half_pixel" if modern else "asymmetric")
    kind = node.attr("mode", "nearest")
    if mode == "tf_crop_and_resize" or node.attr("antialias", 0) or \
            node.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise node.error(f"Resize ({mode}, antialias {node.attr('antialias', 0)}) needs known input sizes")
    f64 = lambda v: ctx.tensor(np.asarray(v, np.float64))  # noqa: E731
    for i, axis in enumerate(axes):
        n_in = gc.cast(gc.shape_of(x)[axis], gc.float64)
        if sizes is not None:
            out, scale = f64(float(sizes[i])), f64(float(sizes[i])) / n_in
        else:
            out, scale = gc.floor(n_in * float(scales[i])), f64(float(scales[i]))
            if float(scales[i]) == 1.0:
                continue
        position = gc.cast(gc.arange(ctx.tensor(np.array(0, np.int64)), gc.cast(out, gc.int64),
                                     ctx.tensor(np.array(1, np.int64))), gc.float64)
        source = {"half_pixel": lambda: (position + 0.5) / scale - 0.5,
                  "asymmetric": lambda: position / scale,
                  "pytorch_half_pixel": lambda: gc.where(out > 1.0, (position + 0.5) / scale - 0.5, position * 0.0),
                  "align_corners": lambda: gc.where(out > 1.0, position * (n_in - 1.0) / (n_in * scale - 1.0),
                                                    position * 0.0),
                  "half_pixel_symmetric": lambda: n_in * 0.5 * (1.0 - out / (scale * n_in)) + (position + 0.5) /
                  scale - 0.5}[mode]()
        last = n_in - 1.0
        if kind == "nearest":
            rounding = {"round_prefer_floor": lambda v: -gc.floor(0.5 - v),
                        "round_prefer_ceil": lambda v: gc.floor(v + 0.5),
                        "floor": gc.floor, "ceil": lambda v: -gc.floor(-v)}
            index = rounding[node.attr("nearest_mode", "round_prefer_floor" if modern else "floor")](source)
            pairs = [(index, None)]
        elif kind == "linear":
            source = gc.minimum(gc.maximum(source, 0.0), last)
            low = gc.floor(source)
            pairs = [(low, 1.0 - (source - low)), (low + 1.0, source - low)]
        else:
            low = gc.floor(source)
            t = source - low
            weights = _cubic_weights_graph(t, node.attr("cubic_coeff_a", -0.75))
            pairs = [(low + float(k), w) for k, w in zip((-1, 0, 1, 2), weights)]
            if node.attr("exclude_outside", 0):
                inside = [gc.cast(gc.logical_and(p >= 0.0, p <= last), gc.float64) for p, _ in pairs]
                total = gc.add_n([w * m for (_, w), m in zip(pairs, inside)])
                pairs = [(p, w * m / total) for (p, w), m in zip(pairs, inside)]
        shape = [-1 if a == axis else 1 for a in range(x.ndim)]
        parts = []
        for index, weight in pairs:
            picked = gc.gather(x, gc.cast(gc.minimum(gc.maximum(index, 0.0), last), gc.int64), axis)
            parts.append(picked if weight is None else picked * gc.reshape(gc.cast(weight, x.dtype), shape))
        x = gc.add_n(parts) if len(parts) > 1 else parts[0]
    return x


def _cubic_weights_graph(t, a):
    """``_cubic_weights`` on a graph tensor of fractions."""
    def near(d):   # |d| ≤ 1
        return ((a + 2) * d - (a + 3)) * d * d + 1.0

    def far(d):   # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


def _full(out, axes, shape):
    full = list(shape)
    for o, a in zip(out, axes):
        full[a] = o
    return full


def _operands(ctx, node, inputs):
    """(roi, scales, sizes) as NumPy values across versions (Upsample and Resize-10 have scales only)."""
    def value(i, what):
        v = inputs[i] if len(inputs) > i else None
        v = ctx.static(v, f"the {what} of {node.op_type}")
        return None if v is None or v.size == 0 else v
    if node.op_type == "Upsample":
        return None, node.attr("scales") if node.opset < 9 else value(1, "scales"), None
    if node.opset < 11:
        return None, value(1, "scales"), None
    return value(1, "roi"), value(2, "scales"), value(3, "sizes")
