"""Import rules for shapes, indexing and constants: the ops of exporters' dynamic-shape idioms.

Shapes, axes, pads and slice bounds arrive as inputs in newer opsets and as attributes in older ones; every
rule reads both. Such values are usually static (initializers, Constant nodes, shape arithmetic folded while
importing), and then the import is a plain graphcore op; a Reshape, Expand or ConstantOfShape whose shape is
computed from data at run time becomes one of graphcore's dynamic-shape ops, whose kernels check the size cap.
Sizes known at import are checked here, before anything is allocated.
"""
import numpy as np
from onnx import numpy_helper

import graphcore as gc

from .from_onnx import onnx_dtype
from .import_registry import importer


def _axes(values, rank):
    return [int(a) % rank for a in values]


def _attr_or_input(ctx, node, inputs, attr, index, what, since):
    """An operand that moved from an attribute to input ``index`` at opset ``since``."""
    if node.opset < since or node.has(attr):
        return node.attr(attr)
    value = inputs[index] if len(inputs) > index else None
    return None if value is None else np.atleast_1d(ctx.static(value, f"the {what} of {node.op_type}")).tolist()


@importer("Constant")
def _constant(ctx, node, inputs):
    for name in ("value_float", "value_int", "value_floats", "value_ints"):
        if node.has(name):
            kind = np.float32 if "float" in name else np.int64
            return [np.asarray(node.attr(name), dtype=kind)]
    if node.has("value"):
        return [numpy_helper.to_array(node.attr("value"))]
    raise node.error("only dense numeric Constant values are supported (not sparse or string ones)")


@importer("Shape")
def _shape(ctx, node, inputs):
    x = inputs[0]
    start, end = node.attr("start", 0), node.attr("end")
    rank = np.ndim(x) if isinstance(x, np.ndarray) else x.ndim
    key = slice(start, end)
    if isinstance(x, np.ndarray) or None not in x.shape:
        return [np.asarray(np.shape(x) if isinstance(x, np.ndarray) else x.shape, np.int64)[key]]
    shape = gc.shape_of(x)
    return [shape if key.indices(rank) == (0, rank, 1) else shape[key]]


@importer("Size")
def _size(ctx, node, inputs):
    x = inputs[0]
    if isinstance(x, np.ndarray) or None not in x.shape:
        return [np.asarray(int(np.prod(np.shape(x) if isinstance(x, np.ndarray) else x.shape)), np.int64)]
    return [gc.size(x, gc.int64)]


@importer("Reshape")
def _reshape(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    allowzero = bool(node.attr("allowzero", 0))
    target = node.attr("shape") if node.opset < 5 else inputs[1]
    if not isinstance(target, (np.ndarray, list, tuple)):
        return [gc.reshape_to(x, gc.cast(target, gc.int64), allowzero)]
    target = [int(d) for d in np.asarray(target).reshape(-1)]
    if any(d < -1 for d in target):
        raise node.error(f"invalid target shape {target}")
    dims = [x.shape[i] if d == 0 and not allowzero and i < x.ndim else d for i, d in enumerate(target)]
    if None not in dims:
        ctx.check_size([max(d, 0) for d in dims], x.dtype, f"Reshape '{node.name}' output")
        return [gc.reshape(x, dims)]
    if dims.count(None) == 1 and -1 not in dims:   # the one unknown dim can be inferred
        return [gc.reshape(x, [-1 if d is None else d for d in dims])]
    return [gc.reshape_to(x, ctx.tensor(np.asarray(target, np.int64)), allowzero)]


@importer("Flatten")
def _flatten(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axis = node.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    outer, inner = x.shape[:axis], x.shape[axis:]
    outer_n = int(np.prod(outer)) if None not in outer else -1
    inner_n = int(np.prod(inner)) if None not in inner else -1
    if outer_n == -1 and inner_n == -1:
        raise node.error(f"cannot flatten {x.shape} at axis {axis}: unknown dims on both sides")
    return [gc.reshape(x, (outer_n, inner_n))]


@importer("Transpose")
def _transpose(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    perm = node.attr("perm")
    return [gc.transpose(x, None if perm is None else tuple(perm))]


@importer("Squeeze")
def _squeeze(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axes = _attr_or_input(ctx, node, inputs, "axes", 1, "axes", 13)
    if axes is None:
        if None in x.shape:   # which dims are 1 is known only when the shape is
            ctx.static(x, "the shape of the input of Squeeze without axes")
        axes = [i for i, d in enumerate(x.shape) if d == 1]
    return [gc.squeeze(x, tuple(_axes(axes, x.ndim))) if axes else gc.identity(x)]


@importer("Unsqueeze")
def _unsqueeze(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axes = _attr_or_input(ctx, node, inputs, "axes", 1, "axes", 13)
    return [gc.expand_dims(x, tuple(_axes(axes, x.ndim + len(axes))))]


@importer("Concat")
def _concat(ctx, node, inputs):
    xs = [ctx.tensor(v) for v in inputs if v is not None]
    return [gc.concat(xs, node.attr("axis")) if len(xs) > 1 else gc.identity(xs[0])]


@importer("Split")
def _split(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axis = node.attr("axis", 0) % x.ndim
    sizes = _attr_or_input(ctx, node, inputs, "split", 1, "split sizes", 13)
    count, n = len(node.outputs), x.shape[axis]
    if sizes is None:
        if n is None:
            raise node.error("an equal Split needs a known size along its axis")
        parts = node.attr("num_outputs", count)
        step = -(-n // parts)   # opset 18: ceil-sized parts, a smaller last one
        sizes = [min(step, n - i * step) for i in range(parts)]
    pieces = gc.split(x, [int(s) for s in sizes], axis) if len(sizes) > 1 else (gc.identity(x),)
    return list(pieces)


@importer("Slice")
def _slice(ctx, node, inputs):
    """A plain graphcore slice when the bounds are known at import; bounds computed at run time (an exporter's
    ``x[:, :Shape(y)[1]]`` with a symbolic length) slice by a gather at positions computed in the graph."""
    x = ctx.tensor(inputs[0])
    if node.opset < 10:
        starts, ends, axes, steps = node.attr("starts"), node.attr("ends"), node.attr("axes"), None
    else:
        starts, ends, axes, steps = (inputs + [None] * 5)[1:5]
        axes = None if axes is None else ctx.static(axes, "the axes of Slice").tolist()
        steps = None if steps is None else ctx.static(steps, "the steps of Slice").tolist()
    count = len(starts) if isinstance(starts, list) else (np.size(starts) if isinstance(starts, np.ndarray)
                                                          else starts.shape[0])
    axes = list(range(count)) if axes is None else _axes(axes, x.ndim)
    steps = [1] * count if steps is None else steps
    if any(step == 0 for step in steps):
        raise node.error("a Slice step of 0")
    if all(isinstance(v, (list, np.ndarray)) for v in (starts, ends)):
        key = [slice(None)] * x.ndim
        for axis, start, end, step in zip(axes, np.asarray(starts).tolist(), np.asarray(ends).tolist(), steps):
            key[axis] = slice(int(start), int(end), int(step))
        return [x[tuple(key)]]
    for i, (axis, step) in enumerate(zip(axes, steps)):
        x = gc.slice_along(x, axis, _element(ctx, starts, i), _element(ctx, ends, i), int(step))
    return [x]


def _element(ctx, values, i):
    """Element ``i`` of a 1-D value: a static int, or a scalar tensor."""
    if isinstance(values, (list, np.ndarray)):
        return int(np.asarray(values).reshape(-1)[i])
    return ctx.tensor(values)[i]


@importer("Gather")
def _gather(ctx, node, inputs):
    params, indices = ctx.tensor(inputs[0]), inputs[1]
    axis = node.attr("axis", 0) % params.ndim
    if isinstance(indices, np.ndarray):
        size = params.shape[axis]
        if size is not None:
            if np.any((indices < -size) | (indices >= size)):
                raise node.error(f"Gather indices {indices.tolist()} out of range for size {size}")
            indices = np.where(indices < 0, indices + size, indices)
        indices = ctx.tensor(indices)
    return [gc.gather(params, indices, axis)]


@importer("Pad")
def _pad(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    mode = node.attr("mode", "constant")
    if node.opset < 11:
        pads, value, axes = node.attr("pads", node.attr("paddings")), node.attr("value", 0.0), None
    else:
        value = inputs[2] if len(inputs) > 2 and inputs[2] is not None else 0
        axes = ctx.static(inputs[3], "the axes of Pad").tolist() if len(inputs) > 3 and inputs[3] is not None else None
        if mode == "constant" and isinstance(inputs[1], gc.Tensor):   # pads computed from the input's shape
            return [_pad_at_run_time(ctx, x, ctx.tensor(inputs[1]), value, _axes(axes or range(x.ndim), x.ndim))]
        pads = ctx.static(inputs[1], "the pads of Pad").tolist()
    axes = list(range(x.ndim)) if axes is None else _axes(axes, x.ndim)
    pairs = [(0, 0)] * x.ndim
    for i, axis in enumerate(axes):
        pairs[axis] = (int(pads[i]), int(pads[i + len(axes)]))
    # negative pads crop
    crop = tuple(slice(-a if a < 0 else None, b if b < 0 else None) for a, b in pairs)
    if any(a < 0 or b < 0 for a, b in pairs):
        x = x[crop]
    pairs = [(max(a, 0), max(b, 0)) for a, b in pairs]
    out_shape = [None if d is None else d + a + b for d, (a, b) in zip(x.shape, pairs)]
    if None not in out_shape:
        ctx.check_size(out_shape, x.dtype, f"Pad '{node.name}' output")
    if mode == "constant" and isinstance(value, gc.Tensor):
        # A value computed at run time: pad with 0 and select the value on the border (a select, not
        # 0·value + border·value, which is NaN everywhere for the −inf that attention masks pad with).
        inside = gc.pad(gc.ones_like(x), pairs, 0.0) > 0
        return [gc.where(inside, gc.pad(x, pairs, 0.0), gc.reshape(gc.cast(value, x.dtype), ()))]
    if mode == "constant":
        return [gc.pad(x, pairs, float(np.asarray(value).reshape(-1)[0]) if np.size(value) else 0.0)]
    if mode not in ("reflect", "edge", "wrap"):
        raise node.error(f"unknown pad mode {mode!r}")
    for axis, (before, after) in enumerate(pairs):
        if before or after:
            x = _pad_axis(x, axis, before, after, mode)
    return [x]


def _pad_at_run_time(ctx, x, pads, value, axes):
    """Constant padding by amounts known only at run time (``F.pad(x, (0, 8 - T % 8))``): along each axis,
    blocks of the value concatenated on both sides of x, cropped first where an amount is negative. Axes whose
    amounts are known zeros (``known_elements``) are left alone."""
    from graphcore.ops.dynamic import known_elements
    pads = gc.cast(pads, gc.int64)
    known = known_elements(pads) or [None] * (2 * len(axes))
    value = gc.reshape(gc.cast(ctx.tensor(np.asarray(value) if not isinstance(value, gc.Tensor) else value),
                               x.dtype), ())
    zero = ctx.tensor(np.array(0, np.int64))
    for i, axis in enumerate(axes):
        if known[i] == 0 and known[i + len(axes)] == 0:
            continue
        before, after = pads[i], pads[i + len(axes)]
        size = gc.shape_of(x)[axis]
        x = gc.slice_along(x, axis, gc.maximum(-before, zero), size - gc.maximum(-after, zero))

        def block(amount, x=x, axis=axis):
            shape = gc.shape_of(x)
            dims = gc.concat([shape[:axis], gc.reshape(gc.maximum(amount, zero), (1,)), shape[axis + 1:]], 0)
            return gc.constant_of_shape(dims, np.zeros((), x.dtype), max_bytes=ctx.max_bytes) + value
        x = gc.concat([block(before), x, block(after)], axis)
    return x


def _pad_axis(x, axis, before, after, mode):
    """Reflect, edge or wrap padding along one axis, as a concat of slices of x."""
    n = x.shape[axis]

    def take(start, stop, step=1):
        key = [slice(None)] * x.ndim
        key[axis] = slice(start, stop, step)
        return x[tuple(key)]
    if mode == "reflect":
        stop = n - 2 - after
        left, right = take(before, 0, -1), take(n - 2, stop if stop >= 0 else None, -1)
    elif mode == "edge":
        left = gc.tile(take(0, 1), [before if i == axis else 1 for i in range(x.ndim)])
        right = gc.tile(take(n - 1, n), [after if i == axis else 1 for i in range(x.ndim)])
    else:
        left, right = take(n - before, n), take(0, after)
    parts = ([left] if before else []) + [x] + ([right] if after else [])
    return gc.concat(parts, axis)


@importer("Expand")
def _expand(ctx, node, inputs):
    x, shape = ctx.tensor(inputs[0]), inputs[1]
    if isinstance(shape, np.ndarray):
        if None not in x.shape:
            target = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
            ctx.check_size(target, x.dtype, f"Expand '{node.name}' output")
        shape = ctx.tensor(shape.astype(np.int64))
    return [gc.expand(x, gc.cast(shape, gc.int64), max_bytes=ctx.max_bytes)]


@importer("Tile")
def _tile(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    reps = [int(r) for r in ctx.static(inputs[1], "the repeats of Tile")]
    if None not in x.shape:
        ctx.check_size([d * r for d, r in zip(x.shape, reps)], x.dtype, f"Tile '{node.name}' output")
    return [gc.tile(x, reps)]


@importer("ConstantOfShape")
def _constant_of_shape(ctx, node, inputs):
    value = node.attr("value")
    value = numpy_helper.to_array(value).reshape(()) if value is not None else np.zeros((), np.float32)
    shape = inputs[0]
    if isinstance(shape, np.ndarray):
        ctx.check_size(shape.tolist(), value.dtype, f"ConstantOfShape '{node.name}' output")
        return [np.full(tuple(int(d) for d in shape), value, dtype=value.dtype)]
    return [gc.constant_of_shape(gc.cast(shape, gc.int64), value, max_bytes=ctx.max_bytes)]


@importer("Range")
def _range(ctx, node, inputs):
    """Static bounds: an array now (size-checked); bounds computed at run time: graphcore's Range op."""
    if all(isinstance(v, np.ndarray) for v in inputs):
        start, limit, delta = (np.asarray(v).reshape(()) for v in inputs)
        if delta == 0:
            raise node.error("a Range delta of 0")
        count = max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)
        ctx.check_size([count], start.dtype, f"Range '{node.name}' output")
        return [(start + np.arange(count, dtype=start.dtype) * delta).astype(start.dtype)]
    start, limit, delta = (gc.reshape(ctx.tensor(v), ()) for v in inputs)
    return [gc.arange(start, limit, delta, max_bytes=ctx.max_bytes)]


@importer("DepthToSpace", "SpaceToDepth")
def _depth_space(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    b = int(node.attr("blocksize"))
    n, c, h, w = x.shape
    if None in (c, h, w):
        raise node.error(f"{node.op_type} needs known channel and spatial sizes")
    n = -1
    if node.op_type == "SpaceToDepth":
        y = gc.reshape(x, (n, c, h // b, b, w // b, b))
        perm = (0, 1, 3, 5, 2, 4) if node.attr("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)
        return [gc.reshape(gc.transpose(y, perm), (n, c * b * b, h // b, w // b))]
    if node.attr("mode", "DCR") == "DCR":
        y = gc.transpose(gc.reshape(x, (n, b, b, c // (b * b), h, w)), (0, 3, 4, 1, 5, 2))
    else:
        y = gc.transpose(gc.reshape(x, (n, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return [gc.reshape(y, (n, c // (b * b), h * b, w * b))]


def _last_axis(fn, x, axis):
    """``fn`` applied along ``axis`` by moving it last and back."""
    if axis == x.ndim - 1:
        return fn(x)
    perm = [i for i in range(x.ndim) if i != axis] + [axis]
    back = tuple(int(i) for i in np.argsort(perm))
    return gc.transpose(fn(gc.transpose(x, tuple(perm))), back)


@importer("Trilu")
def _trilu(ctx, node, inputs):
    """Keep column − row ≥ k (upper) or ≤ k (lower): a mask computed now for known sizes, else in the graph
    from the run-time sizes (``torch.triu(torch.ones(T, T))`` of a symbolic length)."""
    x = ctx.tensor(inputs[0])
    k = inputs[1] if len(inputs) > 1 and inputs[1] is not None else np.array(0, np.int64)
    upper = bool(node.attr("upper", 1))
    rows, cols = x.shape[-2:]
    if rows is not None and cols is not None and isinstance(k, np.ndarray):
        ones = np.ones((rows, cols), bool)
        mask = np.triu(ones, int(k)) if upper else np.tril(ones, int(k))
        return [gc.where(ctx.tensor(mask), x, 0)]
    shape, one = gc.shape_of(x), ctx.tensor(np.array(1, np.int64))
    zero = ctx.tensor(np.array(0, np.int64))
    diagonal = gc.expand_dims(gc.arange(zero, shape[-1], one), 0) - gc.expand_dims(gc.arange(zero, shape[-2], one), 1)
    k = gc.reshape(gc.cast(ctx.tensor(k), gc.int64), ())
    return [gc.where(diagonal >= k if upper else diagonal <= k, x, 0)]


@importer("CumSum")
def _cumsum(ctx, node, inputs):
    """A product with a triangular matrix of ones along the axis (``exclusive`` shifts it, ``reverse`` flips)."""
    x = ctx.tensor(inputs[0])
    axis = int(ctx.static(inputs[1], "the axis of CumSum")) % x.ndim
    n = x.shape[axis]
    if n is None:
        raise node.error("CumSum needs a known size along its axis")
    shift = 1 if node.attr("exclusive", 0) else 0
    ones = np.ones((n, n), x.dtype)
    tri = np.tril(ones, -shift) if node.attr("reverse", 0) else np.triu(ones, shift)

    def along_last(t):
        rows = t if t.ndim > 1 else gc.expand_dims(t, 0)
        y = gc.matmul(rows, ctx.tensor(tri))
        return y if t.ndim > 1 else gc.squeeze(y, 0)
    return [_last_axis(along_last, x, axis)]


@importer("OneHot")
def _one_hot(ctx, node, inputs):
    indices = ctx.tensor(inputs[0])
    depth = int(np.asarray(ctx.static(inputs[1], "the depth of OneHot")).reshape(-1)[0])
    values = ctx.tensor(inputs[2])
    indices = gc.cast(indices, gc.int64) if indices.dtype.kind != "i" or indices.dtype != gc.int64 else indices
    indices = gc.where(indices < 0, indices + depth, indices)
    hot = gc.one_hot(indices, depth, gc.bool_)
    y = gc.where(hot, values[1], values[0])
    axis = node.attr("axis", -1) % y.ndim
    return [y if axis == y.ndim - 1 else gc.transpose(y, tuple(list(range(axis)) + [y.ndim - 1] +
                                                              list(range(axis, y.ndim - 1))))]


@importer("EyeLike")
def _eye_like(ctx, node, inputs):
    x = inputs[0]
    shape = np.shape(x) if isinstance(x, np.ndarray) else x.shape
    if None in shape:
        raise node.error("EyeLike needs a known shape")
    dtype = x.dtype if node.attr("dtype") is None else onnx_dtype(node.attr("dtype"), f"EyeLike '{node.name}'")
    return [np.eye(shape[0], shape[1], node.attr("k", 0), dtype=dtype)]


@importer("GatherElements")
def _gather_elements(ctx, node, inputs):
    x, indices = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    return [gc.gather_elements(x, indices, node.attr("axis", 0))]


@importer("ScatterElements", "Scatter")
def _scatter_elements(ctx, node, inputs):
    data, indices, updates = (ctx.tensor(v) for v in inputs)
    return [gc.scatter_elements(data, indices, updates, node.attr("axis", 0), node.attr("reduction", "none"))]


@importer("TopK")
def _top_k(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    k = node.attr("k") if node.opset < 10 else int(np.asarray(ctx.static(inputs[1], "K of TopK")).reshape(-1)[0])
    if not node.attr("sorted", 1):
        raise node.error("unsorted TopK (an unspecified order) is not supported; graphcore returns sorted values")
    values, indices = gc.top_k(x, k, node.attr("axis", -1), bool(node.attr("largest", 1)))
    return [values, indices]


@importer("CenterCropPad")
def _center_crop_pad(ctx, node, inputs):
    """Crop or zero-pad each axis to the target size, centred (the odd element goes to the end)."""
    x = ctx.tensor(inputs[0])
    target = [int(d) for d in ctx.static(inputs[1], "the shape of CenterCropPad")]
    axes = _axes(node.attr("axes", list(range(x.ndim))), x.ndim)
    if any(x.shape[a] is None for a in axes):
        raise node.error("CenterCropPad needs known sizes on its axes")
    key, pairs = [slice(None)] * x.ndim, [(0, 0)] * x.ndim
    for axis, size in zip(axes, target):
        have = x.shape[axis]
        if size < have:
            start = (have - size) // 2
            key[axis] = slice(start, start + size)
        elif size > have:
            before = (size - have) // 2
            pairs[axis] = (before, size - have - before)
    return [gc.pad(x[tuple(key)], pairs)]


@importer("CumProd")
def _cumprod(ctx, node, inputs):
    """A running product: a scan along the axis (moved first), exclusive and reverse as CumSum's."""
    x = ctx.tensor(inputs[0])
    axis = int(ctx.static(inputs[1], "the axis of CumProd")) % x.ndim
    perm = (axis,) + tuple(i for i in range(x.ndim) if i != axis)
    seq = gc.transpose(x, perm) if axis else x
    exclusive = bool(node.attr("exclusive", 0))

    def step(value, running):
        product = running * value
        return product, running if exclusive else product
    _, out = gc.scan(step, [seq], [gc.ones_like(seq[0])], reverse=bool(node.attr("reverse", 0)), name="cumprod")
    return [gc.transpose(out, tuple(int(i) for i in np.argsort(perm))) if axis else out]
