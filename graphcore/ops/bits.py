"""Bit-level integer ops: ONNX's BitwiseAnd/Or/Xor/Not, BitShift and BitCast.

They take and give integers (BitCast any same-width type), so none of them is differentiable: a bit pattern
has no derivative, and graphcore's gradients flow through floating-point tensors only. Each says so with
``differentiable = False``, so ``gc.gradients`` through one names it instead of returning zeros.
"""
import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError
from ..op import Op, apply_op, register, same_dtype
from .math import Binary, Unary, register_binary

_NO_GRADIENT = "bit patterns have no derivative (the op maps integers to integers)"


def _require_integers(node):
    for t in node.inputs:
        if t.dtype.kind not in "iu":
            raise BuildError(f"{node.op.type} takes integer tensors, got {t.dtype.name}")


class _BitwiseBinary(Binary):
    differentiable = False
    no_gradient_reason = _NO_GRADIENT

    def infer(self, node):
        _require_integers(node)
        return super().infer(node)

    def samples(self, rng):
        yield [rng.integers(0, 256, size=(3, 4)).astype(np.uint8), rng.integers(0, 256, size=(4,)).astype(np.uint8)], {}
        yield [rng.integers(-100, 100, size=(2, 3)).astype(np.int32), rng.integers(-100, 100, size=(2, 3)).astype(
            np.int32)], {}


bitwise_and = register_binary("BitwiseAnd", _BitwiseBinary, "a & b on integers.", compute=staticmethod(np.bitwise_and))
bitwise_or = register_binary("BitwiseOr", _BitwiseBinary, "a | b on integers.", compute=staticmethod(np.bitwise_or))
bitwise_xor = register_binary("BitwiseXor", _BitwiseBinary, "a ^ b on integers.", compute=staticmethod(np.bitwise_xor))


@register
class BitwiseNot(Unary):
    """~x on integers."""

    float_only = False
    differentiable = False
    no_gradient_reason = _NO_GRADIENT

    def infer(self, node):
        _require_integers(node)
        return super().infer(node)

    def compute(self, x):
        return np.invert(x)

    def samples(self, rng):
        yield [rng.integers(-50, 50, size=(3, 4)).astype(np.int16)], {}


def bitwise_not(x, name=None):
    return apply_op("BitwiseNot", [x], name=name)


@register
class BitShift(_BitwiseBinary):
    """x << y (``left``) or x >> y (arithmetic for signed x) with ONNX's rules for shifts outside [0, bits):
    −1 for a right shift of a negative x, else 0. A left shift of a signed x drops the bits pushed past the
    sign bit (it shifts the unsigned bit pattern)."""

    def infer(self, node):
        same_dtype(node)
        return super().infer(node)

    def compute(self, x, y, left):
        x, y = np.broadcast_arrays(x, y)
        bits = x.dtype.itemsize * 8
        inside = (y >= 0) & (y < bits)
        amount = np.where(inside, y, 0)
        if left:
            unsigned = np.dtype(f"u{x.dtype.itemsize}")
            shifted = np.left_shift(x.view(unsigned), amount.astype(unsigned)).view(x.dtype)
            return np.where(inside, shifted, 0).astype(x.dtype)
        fill = np.where(x < 0, -1, 0) if x.dtype.kind == "i" else 0
        return np.where(inside, np.right_shift(x, amount), fill).astype(x.dtype)

    def samples(self, rng):
        # Unsigned only: ONNX admits signed BitShift from opset 28 (the signed rules run in onnx's node cases).
        for left in (True, False):
            yield [np.array([[1, 16, 255], [128, 3, 7]], np.uint8), np.array([1, 3, 9], np.uint8)], {"left": left}


def bit_shift(x, y, left, name=None):
    return apply_op("BitShift", [x, y], name=name, left=bool(left))


@register
class BitCast(Op):
    """The bytes of ``x`` read as ``dtype`` (a NumPy view: little endian here, as ONNX asks); the two types
    must have one width. The 4- and 2-bit formats, stored one to a byte by ml_dtypes, are refused."""

    differentiable = False
    no_gradient_reason = "a reinterpretation of bits has no derivative"

    def infer(self, node):
        x, dtype = node.inputs[0], node.attrs["dtype"]
        if x.dtype in _dt.NARROW_INTS or dtype in _dt.NARROW_INTS or _dt.float4_e2m1fn in (x.dtype, dtype):
            raise BuildError(f"BitCast between {x.dtype.name} and {dtype.name}: sub-byte formats are not supported")
        if x.dtype.itemsize != dtype.itemsize:
            raise BuildError(f"BitCast needs types of one width: {x.dtype.name} has {x.dtype.itemsize * 8} bits, "
                             f"{dtype.name} {dtype.itemsize * 8}")
        return [(dtype, x.shape)]

    def compute(self, x, dtype):
        return (x if x.flags.c_contiguous else x.copy()).view(dtype)   # (ascontiguousarray makes 0-d 1-d)

    def samples(self, rng):
        yield [rng.normal(size=(2, 3)).astype(np.float32)], {"dtype": _dt.int32}
        yield [np.array([True, False])], {"dtype": _dt.uint8}


def bit_cast(x, dtype, name=None):
    return apply_op("BitCast", [x], name=name, dtype=_dt.as_dtype(dtype))
