"""Short, readable text for diagrams: shapes, key attributes and layer settings.

Graph ops (``kernel``, ``strides``), ONNX nodes (``kernel_shape``, ``group``) and layer configs
(``kernel_size``, ``units``) name the same ideas differently; each is turned into the same few words here,
so every source labels its nodes alike. Anything not listed is left out: a diagram shows the settings that
explain the architecture, not every attribute.
"""
import numbers

import numpy as np


def shape_text(shape):
    """``(None, 6, 28, 28)`` → ``(?, 6, 28, 28)``; symbolic ONNX dims keep their names."""
    if shape is None:
        return ""
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def count_text(n):
    return f"{n:,}"


def _size(value):
    """A kernel/stride/pool size: 3 or (3, 3) → '3×3'; (2, 2) as a stride → '2'."""
    if isinstance(value, numbers.Integral):
        return f"{value}×{value}"
    return "×".join(str(v) for v in value)


def _stride(value):
    values = [value] if isinstance(value, numbers.Integral) else list(value)
    return str(values[0]) if len(set(values)) == 1 else "×".join(str(v) for v in values)


def _pads(value):
    if isinstance(value, str):
        return None if value == "valid" else f"pad {value}"
    values = [int(v) for v in np.ravel(value)]
    if not any(values):
        return None
    return f"pad {values[0]}" if len(set(values)) == 1 else "pad " + ",".join(str(v) for v in values)


def _unless_one(prefix):
    def fmt(value):
        values = [value] if isinstance(value, numbers.Integral) else list(value)
        return None if all(v == 1 for v in values) else f"{prefix} {_stride(value)}"
    return fmt


def _activation(value):
    if value is None:
        return None
    name = value if isinstance(value, str) else getattr(value, "__name__", "custom")
    return None if name in ("linear", "None") else ("custom activation" if name == "<lambda>" else name)


def _flag(text):
    return lambda value: text if value else None


# Attribute name → formatter (returns None to leave it out). Graph ops, ONNX nodes and layer configs.
_FORMATS = {
    "filters": lambda v: f"{v} filters",
    "units": lambda v: f"{v} units",
    "kernel": lambda v: f"kernel {_size(v)}",
    "kernel_shape": lambda v: f"kernel {_size(v)}",
    "kernel_size": lambda v: f"kernel {_size(v)}",
    "pool_size": lambda v: f"pool {_size(v)}",
    "strides": lambda v: f"stride {_stride(v)}",
    "pads": _pads,
    "padding": _pads,
    "dilations": _unless_one("dilation"),
    "dilation_rate": _unless_one("dilation"),
    "groups": _unless_one("groups"),
    "group": _unless_one("groups"),
    "depth_multiplier": _unless_one("×"),
    "activation": _activation,
    "rate": lambda v: f"rate {v:g}",
    "ratio": lambda v: f"rate {v:g}",
    "axis": lambda v: f"axis {v}",
    "perm": lambda v: "perm " + ",".join(str(p) for p in v),
    "transpose_a": _flag("Aᵀ"),
    "transpose_b": _flag("Bᵀ"),
    "transA": _flag("Aᵀ"),
    "transB": _flag("Bᵀ"),
    "alpha": lambda v: f"α {v:g}",
    "depth": lambda v: f"depth {v}",
    "target_shape": lambda v: "→ " + shape_text(v),
}

# Order of appearance in labels: what a layer *is* first, then how it slides, then its nonlinearity.
_ORDER = {name: i for i, name in enumerate(_FORMATS)}


def attr_lines(attrs):
    """Display strings for the attributes a diagram shows, in a fixed order."""
    out = []
    for name in sorted((n for n in attrs if n in _FORMATS), key=_ORDER.get):
        value = attrs[name]
        if isinstance(value, np.ndarray):
            value = value.tolist()
        try:
            text = _FORMATS[name](value)
        except (TypeError, ValueError):
            text = None
        if text:
            out.append(text)
    return out


def value_text(array):
    """A constant worth printing in its box: a scalar, shown as '= 0.1'."""
    array = np.asarray(array)
    if array.size == 1 and array.dtype.kind in "biuf":
        return f"= {array.reshape(()).item():.4g}"
    return None


def detail_lines(attrs, width=100):
    """Every attribute as ``name=value`` for tooltips: arrays by shape and dtype (small ones by value),
    long values cut to ``width`` characters."""
    out = []
    for name in sorted(attrs):
        value = attrs[name]
        if isinstance(value, np.ndarray):
            text = np.array2string(value, threshold=8) if value.size <= 8 else f"array{shape_text(value.shape)} {value.dtype}"
        elif isinstance(value, np.dtype):
            text = value.name
        else:
            text = getattr(value, "__name__", None) or repr(value)
        text = f"{name}={text}".replace("\n", " ")
        out.append(text if len(text) <= width else text[:width - 1] + "…")
    return out
