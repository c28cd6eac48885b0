"""Data types: graphcore uses NumPy's dtype objects directly, so arrays and graph tensors speak one language.

float32 is the default floating type. Python scalars are *weakly typed*: in ``x * 0.5`` the 0.5 takes the
dtype of ``x``, so no silent float64 upcast sneaks in. Two tensors of different dtypes are never mixed
silently: the op raises at build time and the user writes an explicit ``gc.cast``.
"""
import numpy as np

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

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
        from .errors import BuildError
        raise BuildError(f"unknown dtype {dtype!r}; use a NumPy dtype or a name such as 'float32'") from None


def is_floating(dtype):
    return np.issubdtype(dtype, np.floating)


def is_integer(dtype):
    return np.issubdtype(dtype, np.integer)
