"""Import rules for indexing by index tensors and for ops whose output size depends on the data.

GatherND and ScatterND are graphcore ops; the rest are composed: ReverseSequence and TensorScatter (a KV-cache
write) gather or scatter along their axis at positions computed by graph arithmetic from the lengths or write
positions, so those may be run-time values; Compress gathers at NonZero's positions; Unique's values are a
gather at its first occurrences; MaxUnpool scatters into a flat zero tensor; Col2Im adds each kernel tap's
columns into a zero-padded image by slicing. All differentiate in their float inputs.
"""
import numpy as np

import graphcore as gc

from .import_registry import importer


@importer("GatherND")
def _gather_nd(ctx, node, inputs):
    return [gc.gather_nd(ctx.tensor(inputs[0]), ctx.tensor(inputs[1]), node.attr("batch_dims", 0))]


@importer("ScatterND")
def _scatter_nd(ctx, node, inputs):
    data, indices, updates = (ctx.tensor(v) for v in inputs)
    return [gc.scatter_nd(data, indices, updates, node.attr("reduction", "none"))]


@importer("ReverseSequence")
def _reverse_sequence(ctx, node, inputs):
    """Along the time axis, row b reads position lens[b] − 1 − t for t < lens[b] and t itself after."""
    x = ctx.tensor(inputs[0])
    time_axis, batch_axis = node.attr("time_axis", 0), node.attr("batch_axis", 1)
    if x.shape[time_axis] is None:
        raise node.error("ReverseSequence needs a known length of the time axis")
    lens = gc.reshape(gc.cast(ctx.tensor(inputs[1]), gc.int64), [-1 if i == batch_axis else 1 for i in range(x.ndim)])
    t = ctx.tensor(np.arange(x.shape[time_axis], dtype=np.int64).reshape(
        [-1 if i == time_axis else 1 for i in range(x.ndim)]))
    source = gc.where(t < lens, lens - 1 - t, t)
    return [gc.gather_elements(x, gc.expand(source, gc.shape_of(x)), time_axis)]


@importer("TensorScatter")
def _tensor_scatter(ctx, node, inputs):
    """present = past with update's rows written along ``axis`` from each batch entry's write index (modulo
    the cache length with mode "circular")."""
    past, update = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    write = inputs[2] if len(inputs) > 2 else None
    axis = node.attr("axis", -2) % past.ndim
    steps, length = update.shape[axis], past.shape[axis]
    if steps is None or length is None:
        raise node.error("TensorScatter needs known cache and update lengths along its axis")
    shape = [-1 if i == axis else 1 for i in range(past.ndim)]
    position = ctx.tensor(np.arange(steps, dtype=np.int64).reshape(shape))
    if write is not None:
        position = position + gc.reshape(gc.cast(ctx.tensor(write), gc.int64), [-1] + [1] * (past.ndim - 1))
    if node.attr("mode", "linear") == "circular":
        position = gc.mod(position, ctx.tensor(np.asarray(length, np.int64)))
    return [gc.scatter_elements(past, gc.expand(position, gc.shape_of(update)), update, axis)]


@importer("NonZero")
def _nonzero(ctx, node, inputs):
    return [gc.nonzero(ctx.tensor(inputs[0]))]


@importer("Compress")
def _compress(ctx, node, inputs):
    """The slices (or, without an axis, the flattened elements) where the condition holds; a condition
    shorter than the axis selects from its leading part."""
    x, condition = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    axis = node.attr("axis")
    if axis is None:
        x, axis = gc.reshape(x, (-1,)), 0
    axis %= x.ndim
    positions = gc.reshape(gc.nonzero(gc.cast(condition, gc.bool_)), (-1,))
    return [gc.gather(x, positions, axis)]


@importer("Unique")
def _unique(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axis = node.attr("axis")
    first, inverse, counts = gc.unique_indices(x, axis, bool(node.attr("sorted", 1)))
    values = gc.gather(gc.reshape(x, (-1,)) if axis is None else x, first, 0 if axis is None else axis % x.ndim)
    return [values, first, inverse, counts]


@importer("NonMaxSuppression")
def _non_max_suppression(ctx, node, inputs):
    boxes, scores = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    rest = list(inputs[2:]) + [None] * (5 - len(inputs))

    def scalar(value, what, default):
        if value is None or np.size(ctx.static(value, f"the {what} of NonMaxSuppression")) == 0:
            return default
        return np.asarray(value).reshape(-1)[0]
    max_output = int(scalar(rest[0], "max_output_boxes_per_class", 0))
    iou = float(scalar(rest[1], "iou_threshold", 0.0))
    score = scalar(rest[2], "score_threshold", None)
    return [gc.non_max_suppression(boxes, scores, max(max_output, 0), iou, None if score is None else float(score),
                                   node.attr("center_point_box", 0))]


@importer("MaxUnpool")
def _max_unpool(ctx, node, inputs):
    """Values written at MaxPool's flat indices into zeros of the pooling formula's inverse shape,
    (in − 1)·stride − pads + kernel, then zero-padded at the end to ``output_shape`` when one is given (as
    onnx's reference does)."""
    x, indices = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    if None in x.shape:
        raise node.error("MaxUnpool needs a known input shape")
    n = x.ndim - 2
    kernel = node.attr("kernel_shape")
    strides, pads = node.attr("strides") or [1] * n, node.attr("pads") or [0] * (2 * n)
    shape = list(x.shape[:2]) + [(d - 1) * s - pads[i] - pads[i + n] + k
                                 for i, (d, s, k) in enumerate(zip(x.shape[2:], strides, kernel))]
    wanted = shape
    if len(inputs) > 2 and inputs[2] is not None:
        wanted = [int(d) for d in ctx.static(inputs[2], "the output_shape of MaxUnpool")]
        if len(wanted) != len(shape) or any(w < d for w, d in zip(wanted, shape)):
            raise node.error(f"output_shape {wanted} is smaller than the unpooled shape {shape}")
    ctx.check_size(wanted, x.dtype, f"MaxUnpool '{node.name}' output")
    flat = ctx.tensor(np.zeros(int(np.prod(shape)), x.dtype))
    written = gc.scatter_elements(flat, gc.reshape(gc.cast(indices, gc.int64), (-1,)), gc.reshape(x, (-1,)), 0)
    y = gc.reshape(written, shape)
    return [y if wanted == shape else gc.pad(y, [(0, w - d) for w, d in zip(wanted, shape)])]


@importer("Col2Im")
def _col2im(ctx, node, inputs):
    """(N, C·∏k, L) columns → (N, C, *image): for each kernel tap, its (N, C, blocks…) slice is padded into
    place at the tap's offset with the strides' gaps, and the taps are summed; then the padding is cropped."""
    cols = ctx.tensor(inputs[0])
    image = [int(d) for d in ctx.static(inputs[1], "the image_shape of Col2Im")]
    kernel = [int(d) for d in ctx.static(inputs[2], "the block_shape of Col2Im")]
    n = len(image)
    dilations = node.attr("dilations") or [1] * n
    strides, pads = node.attr("strides") or [1] * n, node.attr("pads") or [0] * (2 * n)
    padded = [d + pads[i] + pads[i + n] for i, d in enumerate(image)]
    blocks = [(p - (dl * (k - 1) + 1)) // s + 1 for p, k, s, dl in zip(padded, kernel, strides, dilations)]
    taps = int(np.prod(kernel))
    if cols.shape[1] is None:
        raise node.error("Col2Im needs a known channel size")
    channels = cols.shape[1] // taps
    ctx.check_size([channels] + padded, cols.dtype, f"Col2Im '{node.name}' image (per batch entry)")
    grid = gc.reshape(cols, [-1, channels, taps] + blocks)
    parts = []
    for k, offset in enumerate(np.ndindex(*kernel)):
        tap = grid[:, :, k]
        if any(s > 1 for s in strides):   # spread the blocks `stride` apart: interleave zeros
            tap = _dilate(tap, strides)
        starts = [o * dl for o, dl in zip(offset, dilations)]
        spans = [(b - 1) * s + 1 for b, s in zip(blocks, strides)]
        pairs = [(0, 0), (0, 0)] + [(a, p - a - w) for a, p, w in zip(starts, padded, spans)]
        parts.append(gc.pad(tap, pairs))
    total = gc.add_n(parts) if len(parts) > 1 else parts[0]
    return [total[(slice(None), slice(None)) + tuple(slice(pads[i], pads[i] + d) for i, d in enumerate(image))]]


def _dilate(x, strides):
    """Insert stride − 1 zeros between elements along each spatial axis (axes 2…)."""
    for axis, s in enumerate(strides, start=2):
        if s == 1:
            continue
        size = x.shape[axis]
        x = gc.expand_dims(x, axis + 1)
        x = gc.pad(x, [(0, 0)] * (axis + 1) + [(0, s - 1)] + [(0, 0)] * (x.ndim - axis - 2))
        shape = [-1 if i == 0 else d for i, d in enumerate(x.shape[:axis])] + [size * s] + list(x.shape[axis + 2:])
        x = gc.reshape(x, shape)[tuple([slice(None)] * axis + [slice(0, (size - 1) * s + 1)])]
    return x
