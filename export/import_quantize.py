"""Import rules for the quantization family: QuantizeLinear, DequantizeLinear, QLinearMatMul, QLinearConv,
MatMulInteger and ConvInteger (DynamicQuantizeLinear imports through its function body, onto these).

All are composed from graphcore's ops, in float32 where ONNX's reference computes in float and in exact
integer arithmetic where it computes in int32 (integer products of 8-bit values are exact in float64, which
is how convolutions of them run here). Scales and zero points are per tensor, per axis (a vector along
``axis``) or per block (``block_size`` consecutive elements along ``axis`` share one). The quantized types are
8- and 16-bit integers and ml_dtypes' narrow formats (int4/uint4, int2/uint2, float8, float4); integer
results are rounded half to even and clipped to the type's range, float8 results saturate as ``saturate``
says. Dequantizing differentiates in the scale (fine-tuning a quantized model's scales); the rounding of
quantizing has zero derivative almost everywhere, and that is what its gradient is.
"""
import numpy as np

import graphcore as gc
from graphcore import dtypes as _dt

from .from_onnx import onnx_dtype
from .import_math import round_half_even
from .import_nn import _conv
from .import_registry import importer


def _along(ctx, node, value, x, axis, block_size):
    """A scale or zero point shaped to broadcast against ``x``: per tensor, per ``axis``, or per block."""
    v = ctx.tensor(value)
    if v.ndim == 0 or (v.ndim == 1 and v.shape[0] == 1):
        return gc.reshape(v, ())
    axis %= x.ndim
    if not block_size:
        return gc.reshape(v, tuple(-1 if i == axis else 1 for i in range(x.ndim)))
    size = x.shape[axis]
    if size is None:
        raise node.error("blocked quantization needs a known size along its axis")
    return gc.gather(v, ctx.tensor(np.arange(size, dtype=np.int64) // int(block_size)), axis)


def _float(t):
    return gc.cast(t, gc.float32)


def _range(dtype):
    info = _dt.iinfo(dtype)
    return float(info.min), float(info.max)


def quantize(q, dtype, saturate=True):
    """Already-scaled values ``q`` (zero point added) as ``dtype``: integers round half to even and clip."""
    if _dt.is_integer(dtype):
        low, high = _range(dtype)
        return gc.cast(gc.minimum(gc.maximum(round_half_even(q), low), high), dtype)
    return gc.cast(q, dtype, saturate=saturate)


@importer("QuantizeLinear")
def _quantize_linear(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    zero = inputs[2] if len(inputs) > 2 else None
    axis, block = node.attr("axis", 1), node.attr("block_size", 0)
    if zero is not None:
        dtype = zero.dtype
    elif node.attr("output_dtype"):
        dtype = onnx_dtype(node.attr("output_dtype"), f"QuantizeLinear '{node.name}'")
    else:
        dtype = _dt.uint8
    scale = _along(ctx, node, inputs[1], x, axis, block)
    if node.attr("precision"):
        wide = onnx_dtype(node.attr("precision"), f"QuantizeLinear '{node.name}' precision")
        q = gc.cast(x, wide) / gc.cast(scale, wide)
    else:
        q = x / gc.cast(scale, x.dtype)
    if _dt.is_integer(dtype):   # rounded before the zero point is added (ties round by the scaled value)
        q = round_half_even(gc.cast(q, gc.float32))
    if zero is not None and (_dt.is_integer(dtype) or dtype == _dt.float4_e2m1fn):
        q = gc.cast(q, gc.float32) + _float(_along(ctx, node, zero, x, axis, block))
    return [quantize(q, dtype, bool(node.attr("saturate", 1)))]


@importer("DequantizeLinear")
def _dequantize_linear(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    zero = inputs[2] if len(inputs) > 2 else None
    axis, block = node.attr("axis", 1), node.attr("block_size", 0)
    scale = _along(ctx, node, inputs[1], x, axis, block)
    dx = _float(x)
    if zero is not None and _dt.is_integer(x.dtype):   # float8 and float4 zero points are zero by definition
        dx = dx - _float(_along(ctx, node, zero, x, axis, block))
    out = node.attr("output_dtype")
    dtype = onnx_dtype(out, f"DequantizeLinear '{node.name}'") if out else scale.dtype
    return [gc.cast(dx * _float(scale), dtype)]


def _centred(ctx, value, zero, shape_zero=None):
    """value − zero point, exactly, in float64 (int32 arithmetic's results, all small enough to be exact)."""
    v = gc.cast(ctx.tensor(value), gc.float64)
    if zero is None:
        return v
    z = gc.cast(ctx.tensor(zero), gc.float64)
    return v - (shape_zero(z) if shape_zero else z)


def _requantize(ctx, acc, scale, y_scale, y_zero, dtype):
    """An int32 accumulator rescaled by scale / y_scale, shifted by the output zero point, rounded, clipped."""
    q = gc.cast(acc, gc.float32) * (_float(scale) / _float(ctx.tensor(y_scale)))
    if y_zero is not None:
        q = q + _float(ctx.tensor(y_zero))
    return quantize(q, dtype)


@importer("MatMulInteger")
def _matmul_integer(ctx, node, inputs):
    a, b, a_zero, b_zero = (list(inputs) + [None, None])[:4]
    return [gc.cast(gc.matmul(_centred(ctx, a, a_zero), _centred(ctx, b, b_zero)), gc.int32)]


@importer("QLinearMatMul")
def _qlinear_matmul(ctx, node, inputs):
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = inputs
    acc = gc.matmul(_centred(ctx, a, a_zero), _centred(ctx, b, b_zero))
    dtype = (y_zero if y_zero is not None else a).dtype
    return [_requantize(ctx, acc, _float(ctx.tensor(a_scale)) * _float(ctx.tensor(b_scale)), y_scale, y_zero,
                        dtype)]


def _per_output_channel(ndim):
    """A per-output-channel weight zero point or scale, shaped for (M, C, kH, kW) or for (N, M, H, W)."""
    def shape(z):
        return z if z.ndim == 0 else gc.reshape(z, (-1,) + (1,) * (ndim - 1))
    return shape


def _integer_conv(ctx, node, x, w):
    """An exact convolution of integer-valued float64 operands (rounded back: float sums of exact products)."""
    return round_half_even(_conv(ctx, node, [x, w])[0])


@importer("ConvInteger")
def _conv_integer(ctx, node, inputs):
    x, w, x_zero, w_zero = (list(inputs) + [None, None])[:4]
    per_channel = _per_output_channel(ctx.tensor(w).ndim)
    acc = _integer_conv(ctx, node, _centred(ctx, x, x_zero), _centred(ctx, w, w_zero, per_channel))
    return [gc.cast(acc, gc.int32)]


@importer("QLinearConv")
def _qlinear_conv(ctx, node, inputs):
    x, x_scale, x_zero, w, w_scale, w_zero, y_scale, y_zero = inputs[:8]
    bias = inputs[8] if len(inputs) > 8 else None
    ndim = ctx.tensor(w).ndim
    acc = _integer_conv(ctx, node, _centred(ctx, x, x_zero), _centred(ctx, w, w_zero, _per_output_channel(ndim)))
    if bias is not None:
        acc = acc + gc.reshape(gc.cast(ctx.tensor(bias), gc.float64), (1, -1) + (1,) * (ndim - 2))
    w_scale = _float(ctx.tensor(w_scale))
    if w_scale.ndim:   # per output channel
        w_scale = gc.reshape(w_scale, (1, -1) + (1,) * (ndim - 2))
    scale = _float(ctx.tensor(x_scale)) * w_scale
    dtype = (y_zero if y_zero is not None else x).dtype
    return [_requantize(ctx, acc, scale, y_scale, y_zero, dtype)]
