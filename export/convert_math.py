"""Converters for elementwise math, comparisons, casts, matrix products, broadcasting helpers and reductions."""
import numpy as np
from onnx import TensorProto, helper

from graphcore import dtypes as _dt

from .onnx_names import ELEMENTWISE
from .registry import ExportError, converter

# graphcore op type → the ONNX op computing the same elementwise function: the one-to-one names, and the ops
# that map one way only (ONNX's Max, Min and Sum are variadic; Div and Pow import with integer rules).
SAME = {**ELEMENTWISE, "Div": "Div", "Pow": "Pow", "Maximum": "Max", "Minimum": "Min", "AddN": "Sum"}


@converter(*SAME)
def _same(ctx, node):
    ctx.emit(SAME[node.type], [ctx.input(t) for t in node.inputs], out=node.outputs[0])


@converter("Identity", "StopGradient")
def _identity(ctx, node):
    ctx.alias(node.outputs[0], ctx.input(node.inputs[0]))   # no node: the value simply passes through


def scalar(ctx, value, dtype, hint):
    """A 0-d initializer of ``dtype`` (ONNX does not broadcast across dtypes, so constants match x)."""
    return ctx.const(np.array(value, dtype=dtype), f"{ctx.node.name}/{hint}")


@converter("Square")
def _square(ctx, node):
    x = ctx.input(node.inputs[0])
    ctx.emit("Mul", [x, x], out=node.outputs[0])


@converter("Rsqrt")
def _rsqrt(ctx, node):
    ctx.emit("Reciprocal", [ctx.emit("Sqrt", [ctx.input(node.inputs[0])])], out=node.outputs[0])


@converter("Log1p")
def _log1p(ctx, node):
    x = node.inputs[0]
    ctx.emit("Log", [ctx.emit("Add", [ctx.input(x), scalar(ctx, 1, x.dtype, "one")])], out=node.outputs[0])


@converter("LeakyRelu", "Elu")
def _alpha_activation(ctx, node):
    ctx.emit(node.type, [ctx.input(node.inputs[0])], out=node.outputs[0], alpha=node.attrs["alpha"])


@converter("Step")
def _step(ctx, node):
    x, a = node.inputs[0], node.attrs
    above = ctx.emit("GreaterOrEqual", [ctx.input(x), scalar(ctx, a["threshold"], x.dtype, "threshold")])
    ctx.emit("Where", [above, scalar(ctx, a["high"], x.dtype, "high"), scalar(ctx, a["low"], x.dtype, "low")],
             out=node.outputs[0])


@converter("NotEqual")
def _not_equal(ctx, node):
    ctx.emit("Not", [ctx.emit("Equal", [ctx.input(t) for t in node.inputs])], out=node.outputs[0])


@converter("And", "Or")
def _logical(ctx, node):
    """NumPy's logical_and/or take any dtype (nonzero is true); ONNX's take bool, so others are cast."""
    args = [ctx.input(t) if t.dtype == np.bool_ else ctx.emit("Cast", [ctx.input(t)], to=TensorProto.BOOL)
            for t in node.inputs]
    ctx.emit(node.type, args, out=node.outputs[0])


# The opset that introduced each narrow format as a Cast target.
_CAST_SINCE = {_dt.bfloat16: 13, _dt.float8_e4m3fn: 19, _dt.float8_e4m3fnuz: 19, _dt.float8_e5m2: 19,
               _dt.float8_e5m2fnuz: 19, _dt.int4: 21, _dt.uint4: 21, _dt.float4_e2m1fn: 23, _dt.float8_e8m0fnu: 24,
               _dt.int2: 25, _dt.uint2: 25}


@converter("Cast")
def _cast(ctx, node):
    dtype, extra = node.attrs["dtype"], {}
    since = max(_CAST_SINCE.get(t, 1) for t in (dtype, node.inputs[0].dtype))
    if ctx.opset < since:
        raise ExportError(f"a Cast between {node.inputs[0].dtype.name} and {dtype.name} needs opset ≥ {since} "
                          f"(exporting opset {ctx.opset}): pass opset={since} or later", node)
    if not node.attrs.get("saturate", True):
        extra["saturate"] = 0
    if node.attrs.get("round_mode", "up") != "up":
        extra["round_mode"] = node.attrs["round_mode"]
    ctx.emit("Cast", [ctx.input(node.inputs[0])], out=node.outputs[0], to=helper.np_dtype_to_tensor_dtype(dtype),
             **extra)


@converter("MatMul")
def _matmul(ctx, node):
    """Gemm for 2-D operands (transposes as attributes: a Dense layer is one Gemm, plus its bias, which
    ``optimize`` folds into Gemm's C); otherwise MatMul, transposing a constant operand at export time."""
    (a, b), ta, tb = node.inputs, node.attrs["transpose_a"], node.attrs["transpose_b"]
    if a.ndim == 2 and b.ndim == 2:
        ctx.emit("Gemm", [ctx.input(a), ctx.input(b)], out=node.outputs[0], transA=int(ta), transB=int(tb))
        return
    ctx.emit("MatMul", [_swapped(ctx, a, ta), _swapped(ctx, b, tb)], out=node.outputs[0])


def _swapped(ctx, t, transpose):
    if not transpose:
        return ctx.input(t)
    value = ctx.value(t)
    if value is not None:
        return ctx.const(np.swapaxes(value, -1, -2), f"{t.name}/transposed")
    perm = list(range(t.ndim - 2)) + [t.ndim - 1, t.ndim - 2]
    return ctx.emit("Transpose", [ctx.input(t)], perm=perm)


# ----- helpers that take a shape from another tensor (gradient graphs) --------------------------------------

@converter("ReshapeLike")
def _reshape_like(ctx, node):
    x, like = node.inputs
    ctx.emit("Reshape", [ctx.input(x), ctx.shape(like)], out=node.outputs[0])


@converter("BroadcastLike")
def _broadcast_like(ctx, node):
    x, like = node.inputs
    ctx.emit("Expand", [ctx.input(x), ctx.shape(like)], out=node.outputs[0])


@converter("SumTo")
def _sum_to(ctx, node):
    """ReduceSum over the broadcast axes (decided from the static shapes), then Reshape to ``like``."""
    g, like = node.inputs
    lead = g.ndim - like.ndim
    g_dims, like_dims = ctx.dims(g), ctx.dims(like)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(like_dims) if d == 1 and g_dims[lead + i] != 1]
    value = ctx.input(g)
    if axes:
        value = ctx.emit("ReduceSum", [value, ctx.const(np.array(axes, np.int64), f"{node.name}/axes")],
                         keepdims=1)
    if not axes and g_dims == like_dims and None not in g_dims:   # nothing was broadcast: no node at all
        ctx.alias(node.outputs[0], value)
    else:
        ctx.emit("Reshape", [value, ctx.shape(like)], out=node.outputs[0])


def fill(ctx, shape, value, dtype, out=None):
    """ConstantOfShape: ``value`` of ``dtype`` in the runtime shape held by the value named ``shape``."""
    tensor = helper.make_tensor("value", helper.np_dtype_to_tensor_dtype(dtype), [1],
                                [np.asarray(value, dtype).item()])
    return ctx.emit("ConstantOfShape", [shape], out=out, value=tensor)


@converter("FillLike")
def _fill_like(ctx, node):
    out = node.outputs[0]
    fill(ctx, ctx.shape(node.inputs[0]), node.attrs["value"], out.dtype, out=out)


@converter("Size")
def _size(ctx, node):
    to = helper.np_dtype_to_tensor_dtype(node.attrs["dtype"])
    ctx.emit("Cast", [ctx.emit("Size", [ctx.input(node.inputs[0])])], out=node.outputs[0], to=to)


# ----- reductions ------------------------------------------------------------------------------------------

@converter("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")
def _reduce(ctx, node):
    """Reduce*; a mean over H and W of an NCHW tensor is GlobalAveragePool (what ResNet's head is)."""
    x, axes, keep = node.inputs[0], list(node.attrs["axes"]), int(node.attrs["keepdims"])
    if node.type == "ReduceMean" and x.ndim == 4 and axes == [2, 3]:
        flatten = [] if keep else [("Flatten", [], {"axis": 1})]
        ctx.chain(ctx.input(x), [("GlobalAveragePool", [])] + flatten, node.outputs[0])
        return
    # ReduceSum takes axes as an input since opset 13, the others since 18.
    if node.type == "ReduceSum" or ctx.opset >= 18:
        ctx.emit(node.type, [ctx.input(x), ctx.const(np.array(axes, np.int64), f"{node.name}/axes")],
                 out=node.outputs[0], keepdims=keep)
    else:
        ctx.emit(node.type, [ctx.input(x)], out=node.outputs[0], axes=axes, keepdims=keep)


@converter("ArgMax", "ArgMin")
def _arg(ctx, node):
    ctx.emit(node.type, [ctx.input(node.inputs[0])], out=node.outputs[0], axis=node.attrs["axes"][0],
             keepdims=int(node.attrs["keepdims"]))


@converter("Mod")
def _mod(ctx, node):
    """ONNX Mod (fmod=0 is defined for integers only before opset 22's float edge cases): floats compose
    a − floor(a/b)·b, guarded where b is infinite (a itself, or b when the signs differ and a ≠ 0)."""
    a, b = node.inputs
    if node.attrs["fmod"] or a.dtype.kind in "iu":
        ctx.emit("Mod", [ctx.input(a), ctx.input(b)], out=node.outputs[0], fmod=int(node.attrs["fmod"]))
        return
    av, bv = ctx.input(a), ctx.input(b)
    floor = ctx.emit("Floor", [ctx.emit("Div", [av, bv])])
    plain = ctx.emit("Sub", [av, ctx.emit("Mul", [floor, bv])])
    zero = scalar(ctx, 0, a.dtype, "zero")
    differ = ctx.emit("Xor", [ctx.emit("Less", [av, zero]), ctx.emit("Less", [bv, zero])])
    moved = ctx.emit("And", [differ, ctx.emit("Not", [ctx.emit("Equal", [av, zero])])])
    at_infinity = ctx.emit("Where", [moved, bv, av])
    ctx.emit("Where", [ctx.emit("IsInf", [bv]), at_infinity, plain], out=node.outputs[0])


@converter("Det")
def _det(ctx, node):
    ctx.emit("Det", [ctx.input(node.inputs[0])], out=node.outputs[0])
