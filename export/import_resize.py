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
    if None in x.shape:
        raise node.error("Resize needs a known input shape")
    rank = x.ndim
    axes = [a % rank for a in node.attr("axes", list(range(rank)))]
    roi, scales, sizes = _operands(ctx, node, inputs)
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
