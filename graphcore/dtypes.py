"""Data types: graphcore uses NumPy's dtype objects directly, so arrays and graph tensors speak one language.

float32 is the default floating type. Python scalars are *weakly typed*: in ``x * 0.5`` the 0.5 takes the
dtype of ``x``, so no silent float64 upcast sneaks in. Two tensors of different dtypes are never mixed
silently: the op raises at build time and the user writes an explicit ``gc.cast``.

The narrow formats ONNX files carry (bfloat16, the float8 variants, float4, int4/uint4, int2/uint2) are
``ml_dtypes``' NumPy dtypes, as in onnx itself: NumPy computes with them directly (their ufuncs are registered),
but their ``kind`` is ``'V'``, so code asks ``is_floating``/``is_integer`` rather than reading ``kind``.
"""
import ml_dtypes
import numpy as np

from .errors import BuildError

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

bfloat16 = np.dtype(ml_dtypes.bfloat16)
float8_e4m3fn = np.dtype(ml_dtypes.float8_e4m3fn)
float8_e4m3fnuz = np.dtype(ml_dtypes.float8_e4m3fnuz)
float8_e5m2 = np.dtype(ml_dtypes.float8_e5m2)
float8_e5m2fnuz = np.dtype(ml_dtypes.float8_e5m2fnuz)
float8_e8m0fnu = np.dtype(ml_dtypes.float8_e8m0fnu)
float4_e2m1fn = np.dtype(ml_dtypes.float4_e2m1fn)
int4 = np.dtype(ml_dtypes.int4)
uint4 = np.dtype(ml_dtypes.uint4)
int2 = np.dtype(ml_dtypes.int2)
uint2 = np.dtype(ml_dtypes.uint2)

NARROW_FLOATS = frozenset({bfloat16, float8_e4m3fn, float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz, float8_e8m0fnu,
                           float4_e2m1fn})
NARROW_INTS = frozenset({int4, uint4, int2, uint2})
#: Float formats whose out-of-range values saturate to the largest finite value in ONNX's Cast (``saturate=1``).
SATURATING = frozenset({float8_e4m3fn, float8_e4m3fnuz, float8_e5m2, float8_e5m2fnuz})

DEFAULT_FLOAT = float32
DEFAULT_INT = int64


def as_dtype(dtype):
    """Accept a NumPy dtype, a type like ``np.float32`` or a name like ``"float32"``."""
    if isinstance(dtype, np.dtype):   # the common case, once per node built: no parsing
        return dtype
    if dtype is bool or dtype == "bool":
        return bool_
    try:
        return np.dtype(dtype)
    except TypeError:
        raise BuildError(f"unknown dtype {dtype!r}; use a NumPy dtype or a name such as 'float32'") from None


def is_floating(dtype):
    """NumPy's floats and ml_dtypes' narrow ones."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or dtype in NARROW_FLOATS


def is_integer(dtype):
    """NumPy's integers (signed and unsigned) and ml_dtypes' int4/uint4/int2/uint2."""
    dtype = np.dtype(dtype)
    return dtype.kind in "iu" or dtype in NARROW_INTS


def is_numeric(dtype):
    """Numbers and booleans: what a graphcore tensor may hold."""
    dtype = np.dtype(dtype)
    return dtype.kind in "biuf" or dtype in NARROW_FLOATS or dtype in NARROW_INTS


def finfo(dtype):
    return ml_dtypes.finfo(dtype) if np.dtype(dtype) in NARROW_FLOATS else np.finfo(dtype)


def iinfo(dtype):
    return ml_dtypes.iinfo(dtype) if np.dtype(dtype) in NARROW_INTS else np.iinfo(dtype)


def convert(array, dtype, saturate=True, round_mode="up"):
    """``array`` as ``dtype`` by ONNX Cast's rules (the kernel of ``gc.cast``).

    The float8 formats saturate: with ``saturate`` an out-of-range value (±inf included) becomes the largest
    finite value of its sign and NaN stays NaN; without it the value overflows as the format defines (inf for
    e5m2, NaN for the formats without inf). float8_e8m0 holds a power of two: the exponent is rounded ``up``,
    ``down`` or to ``nearest``. Everything else is NumPy's ``astype``.
    """
    dtype = np.dtype(dtype)
    if dtype == float8_e8m0fnu and array.dtype != dtype:
        return _to_e8m0(array, saturate, round_mode)
    if dtype in SATURATING and saturate and array.dtype != dtype:
        info = ml_dtypes.finfo(dtype)
        wide = array.astype(np.float32) if array.dtype in NARROW_FLOATS else array
        return np.clip(wide, float(info.min), float(info.max)).astype(dtype)
    return array.astype(dtype, copy=False)


def _to_e8m0(array, saturate, round_mode):
    """float8_e8m0fnu from the float32 exponent bits (onnx's ``numpy_helper.to_float8e8m0``): inf and NaN
    become NaN (0xFF); a fraction rounds the exponent as ``round_mode`` says, saturating short of NaN."""
    bits = np.asarray(array, np.float32).view(np.uint32)
    exponent = ((bits >> 23) & 0xFF).astype(np.uint16)
    special = exponent == 0xFF
    if round_mode == "up":
        bump = (bits & 0x7FFFFF) > 0
    elif round_mode == "nearest":
        guard, rounding, sticky = (bits & 0x400000) > 0, (bits & 0x200000) > 0, (bits & 0x1FFFFF) > 0
        bump = guard & (rounding | sticky | (exponent > 0))
    elif round_mode == "down":
        bump = np.zeros(bits.shape, bool)
    else:
        raise ValueError(f"round_mode must be 'up', 'down' or 'nearest', got {round_mode!r}")
    bump &= ~special
    if saturate:
        bump &= exponent != 0xFE
    out = np.where(special, 0xFF, exponent + bump).astype(np.uint8)
    return out.view(float8_e8m0fnu)
