"""Import rules for elementwise math, activations, comparisons, casts, matrix products and reductions.

Activations graphcore has no op for are composed from its primitives (HardSigmoid is a clip of a line, Selu a
scaled Elu, Gelu uses Erf), so their gradients come for free and they export again as small subgraphs.
"""
import numpy as np

import graphcore as gc
from graphcore import dtypes as _dt
from graphcore.op import apply_op

from .from_onnx import onnx_dtype
from .import_registry import importer
from .onnx_names import ELEMENTWISE_FROM_ONNX

# ONNX ops built from graphcore's primitives (no op of their own), and ONNX ops that import one way only.
COMPOSED = {
    "Ceil": lambda x: -gc.floor(-x),
    "Tan": lambda x: gc.sin(x) / gc.cos(x),
    "Sinh": lambda x: (gc.exp(x) - gc.exp(-x)) * 0.5,
    "Cosh": lambda x: (gc.exp(x) + gc.exp(-x)) * 0.5,
    "Softsign": lambda x: x / (1.0 + gc.abs(x)),
    "Mish": lambda x: x * gc.tanh(gc.softplus(x)),
    "Det": gc.det,
    "And": gc.logical_and, "Or": gc.logical_or, "Xor": gc.not_equal,
}


@importer(*ELEMENTWISE_FROM_ONNX)
def _one_to_one(ctx, node, inputs):
    """The graphcore op of the same function (``onnx_names.ELEMENTWISE``, read by the exporter too)."""
    return [apply_op(ELEMENTWISE_FROM_ONNX[node.op_type], [ctx.tensor(v) for v in inputs])]


@importer(*COMPOSED)
def _composed(ctx, node, inputs):
    return [COMPOSED[node.op_type](*(ctx.tensor(v) for v in inputs))]


def scalar(value, like):
    """A 0-d array of ``like``'s dtype (ONNX never mixes dtypes, so constants must match x)."""
    return np.asarray(value, dtype=like.dtype)


@importer("Div")
def _div(ctx, node, inputs):
    a, b = (ctx.tensor(v) for v in inputs)
    if a.dtype.kind in "iu":   # integer division truncates toward zero: sign(q)·floor(|q|) of the float quotient
        q = gc.cast(a, gc.float64) / gc.cast(b, gc.float64)
        return [gc.cast(gc.sign(q) * gc.floor(gc.abs(q)), a.dtype)]
    return [gc.divide(a, b)]


@importer("Pow")
def _pow(ctx, node, inputs):
    base = ctx.tensor(inputs[0])
    if base.dtype.kind in "iu":   # integer powers in float64, exact for the values integer tensors hold
        y = gc.power(gc.cast(base, gc.float64), ctx.tensor(inputs[1], gc.float64))
        return [gc.cast(y, base.dtype)]
    return [gc.power(base, ctx.tensor(inputs[1], base.dtype))]   # the exponent may have another dtype


@importer("Identity")
def _identity(ctx, node, inputs):
    x = inputs[0]
    return [x if isinstance(x, np.ndarray) else gc.identity(x)]


@importer("Sum", "Mean", "Max", "Min")
def _variadic(ctx, node, inputs):
    xs = [ctx.tensor(v) for v in inputs]
    if node.op_type in ("Sum", "Mean"):
        total = gc.add_n(xs) if len(xs) > 1 else gc.identity(xs[0])
        return [total * (1.0 / len(xs)) if node.op_type == "Mean" else total]
    fold = gc.maximum if node.op_type == "Max" else gc.minimum
    out = xs[0]
    for x in xs[1:]:
        out = fold(out, x)
    return [out if len(xs) > 1 else gc.identity(out)]


@importer("Cast", "CastLike")
def _cast(ctx, node, inputs):
    """Saturation (float8 targets, opset 19) and rounding (float8_e8m0, opset 24) as the attributes say."""
    if node.op_type == "Cast":
        dtype = onnx_dtype(node.attr("to"), f"Cast '{node.name}'")
    else:
        dtype = inputs[1].dtype
    saturate, round_mode = bool(node.attr("saturate", 1)), node.attr("round_mode", "up")
    if isinstance(inputs[0], np.ndarray):
        return [_dt.convert(inputs[0], dtype, saturate, round_mode)]
    return [gc.cast(inputs[0], dtype, saturate=saturate, round_mode=round_mode)]


@importer("Clip")
def _clip(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    if node.opset < 11:
        low, high = node.attr("min"), node.attr("max")
    else:
        low, high = (inputs + [None, None])[1:3]
    if low is not None:
        x = gc.maximum(x, ctx.tensor(np.asarray(low, x.dtype) if not isinstance(low, gc.Tensor) else low))
    if high is not None:
        x = gc.minimum(x, ctx.tensor(np.asarray(high, x.dtype) if not isinstance(high, gc.Tensor) else high))
    return [x if low is not None or high is not None else gc.identity(x)]


# ----- activations with parameters -------------------------------------------------------------------------

@importer("LeakyRelu")
def _leaky_relu(ctx, node, inputs):
    return [gc.leaky_relu(ctx.tensor(inputs[0]), node.attr("alpha", 0.01))]


@importer("Elu")
def _elu(ctx, node, inputs):
    return [gc.elu(ctx.tensor(inputs[0]), node.attr("alpha", 1.0))]


@importer("Selu")
def _selu(ctx, node, inputs):
    alpha, gamma = node.attr("alpha", 1.67326319217681884765625), node.attr("gamma", 1.05070102214813232421875)
    return [gc.elu(ctx.tensor(inputs[0]), alpha) * gamma]


@importer("Celu")
def _celu(ctx, node, inputs):
    x, alpha = ctx.tensor(inputs[0]), node.attr("alpha", 1.0)
    return [gc.elu(x * (1.0 / alpha), 1.0) * alpha]


@importer("HardSigmoid")
def _hard_sigmoid(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    return [hard_sigmoid(x, node.attr("alpha", 0.2), node.attr("beta", 0.5))]


def hard_sigmoid(x, alpha, beta):
    return gc.minimum(gc.maximum(x * alpha + beta, scalar(0, x)), scalar(1, x))


@importer("HardSwish")
def _hard_swish(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    return [x * hard_sigmoid(x, 1 / 6, 0.5)]


@importer("ThresholdedRelu")
def _thresholded_relu(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    return [gc.where(x > node.attr("alpha", 1.0), x, 0)]


@importer("PRelu")
def _prelu(ctx, node, inputs):
    x, slope = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    return [gc.where(x < 0, x * slope, x)]


@importer("Gelu")
def _gelu(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    if node.attr("approximate", "none") == "tanh":
        return [x * 0.5 * (1.0 + gc.tanh((x + gc.power(x, scalar(3, x)) * 0.044715) * float(np.sqrt(2 / np.pi))))]
    return [x * 0.5 * (1.0 + gc.erf(x * float(1 / np.sqrt(2))))]


# ----- softmax family ----------------------------------------------------------------------------------------

@importer("Softmax", "LogSoftmax")
def _softmax(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    fn = gc.softmax if node.op_type == "Softmax" else gc.log_softmax
    axis = node.attr("axis", -1 if node.opset >= 13 else 1) % max(x.ndim, 1)
    if node.opset >= 13 or axis == x.ndim - 1:
        return [fn(x, axis)]
    # Before opset 13 the input is coerced to 2-D: the softmax runs over all axes from ``axis`` on.
    inner = int(np.prod(x.shape[axis:]))
    return [gc.reshape_like(fn(gc.reshape(x, (-1, inner)), 1), x)]


# ----- matrix products --------------------------------------------------------------------------------------

@importer("MatMul")
def _matmul(ctx, node, inputs):
    a, b = (ctx.tensor(v) for v in inputs)
    a2 = gc.expand_dims(a, 0) if a.ndim == 1 else a
    b2 = gc.expand_dims(b, 1) if b.ndim == 1 else b
    y = gc.matmul(a2, b2)
    if b.ndim == 1:
        y = gc.squeeze(y, -1)
    if a.ndim == 1:
        y = gc.squeeze(y, -2 if b.ndim > 1 else -1)
    return [y]


@importer("Gemm")
def _gemm(ctx, node, inputs):
    a, b = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    y = gc.matmul(a, b, bool(node.attr("transA", 0)), bool(node.attr("transB", 0)))
    alpha, beta = node.attr("alpha", 1.0), node.attr("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    if len(inputs) > 2 and inputs[2] is not None and beta != 0.0:
        c = ctx.tensor(inputs[2])
        y = y + (c * beta if beta != 1.0 else c)
    return [y]


# ----- reductions -------------------------------------------------------------------------------------------

def _reduce_axes(ctx, node, inputs, x):
    """The reduced axes from the attribute (older opsets) or the second input (newer), ONNX defaults."""
    axes = node.attr("axes")
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = ctx.static(inputs[1], f"the axes of {node.op_type}").tolist()
    if axes is None or len(axes) == 0:
        return None if node.attr("noop_with_empty_axes", 0) else tuple(range(x.ndim))
    return tuple(sorted(int(a) % x.ndim for a in axes))


REDUCTIONS = {
    "ReduceSum": lambda x, axes, keep: gc.reduce_sum(x, axes, keep),
    "ReduceMean": lambda x, axes, keep: gc.reduce_mean(x, axes, keep),
    "ReduceMax": lambda x, axes, keep: gc.reduce_max(x, axes, keep),
    "ReduceMin": lambda x, axes, keep: gc.reduce_min(x, axes, keep),
    "ReduceProd": lambda x, axes, keep: gc.reduce_prod(x, axes, keep),
    "ReduceL1": lambda x, axes, keep: gc.reduce_sum(gc.abs(x), axes, keep),
    "ReduceL2": lambda x, axes, keep: gc.sqrt(gc.reduce_sum(gc.square(x), axes, keep)),
    "ReduceSumSquare": lambda x, axes, keep: gc.reduce_sum(gc.square(x), axes, keep),
    "ReduceLogSum": lambda x, axes, keep: gc.log(gc.reduce_sum(x, axes, keep)),
    "ReduceLogSumExp": lambda x, axes, keep: _log_sum_exp(x, axes, keep),
}


def _log_sum_exp(x, axes, keep):
    """m + log Σ exp(x − m) with m = max(x): finite for large x (m is a constant for the gradient)."""
    m = gc.stop_gradient(gc.reduce_max(x, axes, keepdims=True))
    out = gc.log(gc.reduce_sum(gc.exp(x - m), axes, keepdims=True)) + m
    return out if keep else gc.squeeze(out, axes)


# The value of a reduction over no elements (ONNX 18: the reduction's identity).
EMPTY = {"ReduceSum": 0, "ReduceMean": np.nan, "ReduceMax": -np.inf, "ReduceMin": np.inf, "ReduceProd": 1,
         "ReduceL1": 0, "ReduceL2": 0, "ReduceSumSquare": 0, "ReduceLogSum": -np.inf, "ReduceLogSumExp": -np.inf}


@importer(*REDUCTIONS)
def _reduce(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axes = _reduce_axes(ctx, node, inputs, x)
    if axes is None:
        return [gc.identity(x)]
    keep = bool(node.attr("keepdims", 1))
    if any(x.shape[a] == 0 for a in axes) and None not in x.shape:
        shape = [1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes]
        return [_empty_value(EMPTY[node.op_type], x.dtype, shape)]
    return [REDUCTIONS[node.op_type](x, axes, keep)]


def _empty_value(value, dtype, shape):
    if dtype.kind != "f" and not np.isfinite(value):   # integers and booleans: the type's extreme
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        value = (info.min if value < 0 else info.max) if info else value > 0
    return np.full(shape, value, dtype=dtype)


@importer("ArgMax", "ArgMin")
def _arg_extreme(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    axis, keep = node.attr("axis", 0) % x.ndim, bool(node.attr("keepdims", 1))
    fn = gc.argmax if node.op_type == "ArgMax" else gc.argmin
    if not node.attr("select_last_index", 0):
        return [fn(x, axis, keep)]
    last = x.shape[axis] - 1   # the last of tied extremes: the first one in the reversed axis
    key = tuple(slice(None, None, -1) if i == axis else slice(None) for i in range(x.ndim))
    return [last - fn(x[key], axis, keep)]


# ----- rounding, remainders and tests --------------------------------------------------------------------

@importer("Round")
def _round(ctx, node, inputs):
    return [round_half_even(ctx.tensor(inputs[0]))]


def round_half_even(x):
    """Round half to even (ONNX Round, NumPy's rint): floor, then the ties go to the even neighbour."""
    low = gc.floor(x)
    frac = x - low
    odd = low - gc.floor(low * 0.5) * 2.0
    return gc.where(frac > 0.5, low + 1.0, gc.where(frac < 0.5, low, low + odd))


@importer("Mod")
def _mod(ctx, node, inputs):
    a, b = (ctx.tensor(v) for v in inputs)
    return [gc.mod(a, b, bool(node.attr("fmod", 0)))]


@importer("IsNaN")
def _is_nan(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    return [gc.not_equal(x, x)]


@importer("IsInf")
def _is_inf(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    pos, neg = gc.equal(x, scalar(np.inf, x)), gc.equal(x, scalar(-np.inf, x))
    if not node.attr("detect_negative", 1):
        return [pos]
    return [neg if not node.attr("detect_positive", 1) else gc.logical_or(pos, neg)]


@importer("Swish")
def _swish(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    return [x * gc.sigmoid(x * node.attr("alpha", 1.0))]


@importer("Shrink")
def _shrink(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    lambd, bias = node.attr("lambd", 0.5), node.attr("bias", 0.0)
    return [gc.where(x < -lambd, x + scalar(bias, x), gc.where(x > lambd, x - scalar(bias, x), scalar(0, x)))]


@importer("Einsum")
def _einsum(ctx, node, inputs):
    """Einstein summation as broadcast products: each operand's axes are put in one common letter order (size-1
    axes for letters it lacks), the operands multiplied, the letters missing from the output summed away.
    Memory-hungrier than a matmul for big contractions, but exact and differentiable."""
    equation = node.attr("equation").replace(" ", "")
    if "..." in equation:
        raise node.error("Einsum with an ellipsis ('...') is not supported")
    operands = [ctx.tensor(v) for v in inputs]
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if not arrow:   # implicit output: the letters that appear once, in alphabetical order
        counts = {c: lhs.count(c) for c in lhs if c != ","}
        rhs = "".join(sorted(c for c, k in counts.items() if k == 1))
    if any(len(set(t)) != len(t) for t in terms):
        raise node.error(f"Einsum {equation!r} repeats a letter within an operand (a diagonal); not supported")
    letters = sorted(set(lhs) - {","}, key=lambda c: (c not in rhs, rhs.find(c), c))
    product = None
    for term, x in zip(terms, operands):
        order = sorted(range(len(term)), key=lambda i: letters.index(term[i]))
        x = gc.transpose(x, tuple(order)) if order != list(range(len(term))) else x
        present = sorted(term, key=letters.index)
        missing = [i for i, c in enumerate(letters) if c not in present]
        x = gc.expand_dims(x, tuple(missing)) if missing else x
        product = x if product is None else product * x
    summed = tuple(i for i, c in enumerate(letters) if c not in rhs)
    y = gc.reduce_sum(product, summed) if summed else product
    return [y if y is not operands[0] else gc.identity(y)]


# ----- bits ---------------------------------------------------------------------------------------------------

@importer("BitShift")
def _bit_shift(ctx, node, inputs):
    x, y = (ctx.tensor(v) for v in inputs)
    return [gc.bit_shift(x, y, node.attr("direction") == "LEFT")]


@importer("BitCast")
def _bit_cast(ctx, node, inputs):
    return [gc.bit_cast(ctx.tensor(inputs[0]), onnx_dtype(node.attr("to"), f"BitCast '{node.name}'"))]
