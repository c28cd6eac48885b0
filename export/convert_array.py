"""Converters for shape and indexing ops: reshape, transpose, concat, split, slicing, gather, pad, tile,
expand/squeeze and one-hot."""
import numpy as np
from onnx import TensorProto

from .convert_math import fill
from .registry import ExportError, converter

INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def ints(ctx, values, hint):
    return ctx.const(np.array(values, np.int64), f"{ctx.node.name}/{hint}")


@converter("Reshape")
def _reshape(ctx, node):
    """(N, ...) → (N, features) is Flatten: onnxruntime then reads a convolution's blocked (NCHWc) output
    directly instead of reordering it first, as it must for a general Reshape."""
    x, target = node.inputs[0], node.attrs["shape"]
    dims = ctx.dims(x)
    features = None if None in dims[1:] else int(np.prod(dims[1:]))
    if len(target) == 2 and x.ndim > 2 and target[1] == features and target[0] in (-1, dims[0]):
        ctx.emit("Flatten", [ctx.input(x)], out=node.outputs[0], axis=1)
    else:
        ctx.emit("Reshape", [ctx.input(x), ints(ctx, target, "shape")], out=node.outputs[0])


@converter("Transpose")
def _transpose(ctx, node):
    """A transpose that only moves size-1 axes reorders no data: it becomes a Reshape, whose leading 0
    (ONNX: copy that dimension) marks a kept batch axis, so ``optimize`` can merge it into a following
    Reshape or Flatten (Flatten's channels-last transpose of a 1×1 feature map; a 1-channel input)."""
    x, perm, out = node.inputs[0], list(node.attrs["perm"]), node.outputs[0]
    moved = [p for p in perm if ctx.dims(x)[p] != 1]
    shape = [0 if i == 0 and perm[0] == 0 else -1 if d is None else d for i, d in enumerate(ctx.dims(out))]
    if moved == sorted(moved) and shape.count(-1) <= 1:
        ctx.emit("Reshape", [ctx.input(x), ints(ctx, shape, "shape")], out=out)
    else:
        ctx.emit("Transpose", [ctx.input(x)], out=out, perm=perm)


@converter("Concat")
def _concat(ctx, node):
    ctx.emit("Concat", [ctx.input(t) for t in node.inputs], out=node.outputs[0], axis=node.attrs["axis"])


@converter("Split")
def _split(ctx, node):
    ctx.emit("Split", [ctx.input(node.inputs[0]), ints(ctx, node.attrs["sizes"], "sizes")], outs=node.outputs,
             axis=node.attrs["axis"])


def slice_plan(rank, key):
    """NumPy basic indexing ``key`` (graphcore's normalized form) as ONNX Slice arguments, the axes to squeeze
    (integer indices) and the axes to unsqueeze (``None``), in that order of application."""
    explicit = sum(1 for k in key if k is not None and k is not Ellipsis)
    expanded = []
    for k in key:
        expanded.extend([("slice", None, None, None)] * (rank - explicit) if k is Ellipsis else [k])
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out_axis = 0
    for k in expanded:
        if k is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, int):
            starts.append(k)
            ends.append(k + 1 if k != -1 else INT64_MAX)
            steps.append(1)
            squeeze.append(axis)
        else:
            _, start, stop, step = k
            step = 1 if step is None else step
            if start is None and stop is None and step == 1:
                axis += 1
                out_axis += 1
                continue
            starts.append(start if start is not None else (0 if step > 0 else INT64_MAX))
            ends.append(stop if stop is not None else (INT64_MAX if step > 0 else INT64_MIN))
            steps.append(step)
            out_axis += 1
        axes.append(axis)
        axis += 1
    # Unsqueeze positions are counted over kept axes only, so they are final after the squeeze.
    return (starts, ends, axes, steps), squeeze, unsqueeze


@converter("StridedSlice")
def _strided_slice(ctx, node):
    x = node.inputs[0]
    emit_slice(ctx, ctx.input(x), x.ndim, node.attrs["key"], node.outputs[0])


def emit_slice(ctx, value, rank, key, out=None):
    """``value[key]`` as Slice, Squeeze and Unsqueeze (each only when needed); computes ``out`` when given,
    else returns the new value's name. SliceGrad reuses it to slice an index map the same way."""
    (starts, ends, axes, steps), squeeze, unsqueeze = slice_plan(rank, key)
    parts = [("Slice", [ints(ctx, starts, "starts"), ints(ctx, ends, "ends"), ints(ctx, axes, "axes"),
                        ints(ctx, steps, "steps")]) if axes else None,
             ("Squeeze", [ints(ctx, squeeze, "squeeze_axes")]) if squeeze else None,
             ("Unsqueeze", [ints(ctx, unsqueeze, "unsqueeze_axes")]) if unsqueeze else None]
    parts = [p for p in parts if p]
    if out is not None:
        ctx.chain(value, parts, out)
        return None
    for op_type, extra in parts:
        value = ctx.emit(op_type, [value] + extra)
    return value


@converter("Gather")
def _gather(ctx, node):
    params, indices = node.inputs
    ctx.emit("Gather", [ctx.input(params), ctx.input(indices)], out=node.outputs[0], axis=node.attrs["axis"])


@converter("GatherGrad")
def _gather_grad(ctx, node):
    """Scatter-add into zeros: ScatterND with reduction='add' (opset 16), the gathered axis moved to the front."""
    if ctx.opset < 16:
        raise ExportError(f"GatherGrad needs ScatterND's reduction, opset ≥ 16 (exporting opset {ctx.opset})", node)
    g, indices, params = node.inputs
    axis, k = node.attrs["axis"], indices.ndim
    to_front = [axis] + [i for i in range(params.ndim) if i != axis]
    g_perm = list(range(axis, axis + k)) + [i for i in range(g.ndim) if not axis <= i < axis + k]
    zeros = ctx.emit("Transpose", [fill(ctx, ctx.shape(params), 0, g.dtype)], perm=to_front)
    updates = ctx.emit("Transpose", [ctx.input(g)], perm=g_perm)
    index = ctx.input(indices)
    if indices.dtype != np.int64:
        index = ctx.emit("Cast", [index], to=TensorProto.INT64)
    index = ctx.emit("Unsqueeze", [index, ints(ctx, [-1], "last")])
    scattered = ctx.emit("ScatterND", [zeros, index, updates], reduction="add")
    ctx.emit("Transpose", [scattered], out=node.outputs[0], perm=[int(i) for i in np.argsort(to_front)])


@converter("Pad")
def _pad(ctx, node):
    x, pads = node.inputs[0], node.attrs["pads"]
    flat = [a for a, _ in pads] + [b for _, b in pads]
    value = ctx.const(np.array(node.attrs["value"], x.dtype), f"{node.name}/value")
    ctx.emit("Pad", [ctx.input(x), ints(ctx, flat, "pads"), value], out=node.outputs[0], mode="constant")


@converter("Tile")
def _tile(ctx, node):
    ctx.emit("Tile", [ctx.input(node.inputs[0]), ints(ctx, node.attrs["reps"], "reps")], out=node.outputs[0])


@converter("ExpandDims")
def _expand_dims(ctx, node):
    ctx.emit("Unsqueeze", [ctx.input(node.inputs[0]), ints(ctx, node.attrs["axes"], "axes")], out=node.outputs[0])


@converter("Squeeze")
def _squeeze(ctx, node):
    ctx.emit("Squeeze", [ctx.input(node.inputs[0]), ints(ctx, node.attrs["axes"], "axes")], out=node.outputs[0])


@converter("CheckIndices")
def _check_indices(ctx, node):
    """The indices themselves: ONNX has no way to raise, so the range check is the interpreter's alone (an
    exported loss computes what onnxruntime's OneHot and Gather make of a bad index)."""
    ctx.alias(node.outputs[0], ctx.input(node.inputs[0]))


@converter("OneHot")
def _one_hot(ctx, node):
    """ONNX OneHot with values (0, 1) of the output dtype. Negative labels give all-zero rows in graphcore;
    ONNX would count them from the end, so labels are expected in [0, depth) as for any classifier."""
    out = node.outputs[0]
    ctx.emit("OneHot", [ctx.input(node.inputs[0]), ints(ctx, node.attrs["depth"], "depth"),
                        ctx.const(np.array([0, 1], out.dtype), f"{node.name}/values")], out=out, axis=-1)
