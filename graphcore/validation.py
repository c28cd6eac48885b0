"""Checks of the arrays users hand to ``fit``, ``evaluate`` and ``predict``, before any step runs.

NumPy alone would let bad data through or fail far from its cause: a label equal to the number of classes
one-hot encodes to a zero row and trains silently, ``x[:10]`` with ``y[:9]`` dies with an IndexError inside
a batch loop, a NaN poisons every weight after one step. Each check here raises a ``DataError`` naming the
argument, what was expected, what was given, and the user's file:line that made the call.
"""
import numpy as np

from .errors import DataError
from .graph import creation_site
from .shapes import format_shape


def _fail(message):
    raise DataError(f"{message}\n  at {creation_site()}")


def check_loop(epochs, batch_size, validation_split):
    """The training loop's arguments (``fit``; ``evaluate`` checks its batch size with it)."""
    _positive_int(batch_size, "batch_size")
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
        _fail(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    if not 0.0 <= float(validation_split) < 1.0:
        _fail(f"fit: validation_split must be in [0, 1), got {validation_split!r}")


def _positive_int(value, name):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        _fail(f"{name} must be a positive integer, got {value!r}")


def check_inputs(model, x, purpose="predict"):
    """The input arrays: one per model input, numeric, finite, of the input's rank and known sizes, all with
    the same number of examples. A single array for a single-input model, else a list."""
    placeholders = model.input_placeholders
    if len(placeholders) == 1:   # [x] or x; a longer list is the data itself (checked by its shape below)
        given = list(x) if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray) else [x]
    elif isinstance(x, (list, tuple)) and len(x) == len(placeholders):
        given = list(x)
    else:
        count = len(x) if isinstance(x, (list, tuple)) else 1
        _fail(f"{purpose}: the model has {len(placeholders)} inputs "
              f"({', '.join(p.name for p in placeholders)}), got {count} array(s); pass a list with one per input")
    arrays = [_numeric(v, f"x for input '{p.name}'", purpose) for v, p in zip(given, placeholders)]
    for array, ph in zip(arrays, placeholders):
        _shaped(array, ph.shape, f"x for input '{ph.name}'", purpose)
        _finite(array, f"x for input '{ph.name}'", purpose)
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        _fail(f"{purpose}: the inputs have different numbers of examples: {sorted(lengths)}")
    if not lengths or 0 in lengths:
        _fail(f"{purpose}: x holds no examples")
    return arrays[0] if len(arrays) == 1 else arrays


def check_targets(model, y, n, purpose, output=0):
    """Labels of output number ``output`` matching its compiled targets: ``n`` of them, of the right rank;
    class indices for sparse losses, whole numbers in [0, classes); finite values otherwise."""
    compiled = model._require_compiled()
    targets = compiled.get("target_list", [compiled["targets"]])[output]
    if targets is None:   # an output without a loss takes no labels
        return _numeric(y, "y", purpose)
    y = _numeric(y, "y", purpose)
    if y.ndim == 0:
        _fail(f"{purpose}: y is a scalar; give one label per example ({n} examples)")
    if len(y) != n:
        _fail(f"{purpose}: x has {n} examples but y has {len(y)} labels; they must be the same length")
    _shaped(y, targets.shape, "y", purpose)
    _finite(y, "y", purpose)
    if targets.dtype.kind in "iu":
        classes = model.output_tensors[output].shape[-1]
        whole = np.equal(np.mod(y, 1), 0) if y.dtype.kind == "f" else np.ones(y.shape, bool)
        if not whole.all():
            index = tuple(int(i) for i in np.argwhere(~whole)[0])
            _fail(f"{purpose}: labels must be class indices (whole numbers); y{list(index)} = {y[index].item()!r}")
        bad = (y < 0) | (y >= classes)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            _fail(f"{purpose}: label {y[index].item()!r} at y{list(index)} is out of range for {classes} classes "
                  f"(valid labels: 0..{classes - 1}); {int(bad.sum())} label(s) out of range")
    return y


def _numeric(value, what, purpose):
    try:
        array = np.asarray(value)
    except ValueError as e:   # ragged nested lists
        _fail(f"{purpose}: {what} is not a rectangular array: {e}")
    if array.dtype.kind not in "biuf":
        _fail(f"{purpose}: {what} must be numeric, got dtype {array.dtype}")
    return array


def _shaped(array, expected, what, purpose):
    """Same rank as the placeholder; every known size except the batch agrees."""
    if array.ndim != len(expected) or any(e is not None and e != a for e, a in zip(expected[1:], array.shape[1:])):
        _fail(f"{purpose}: {what} has shape {format_shape(array.shape)}, the model expects "
              f"{format_shape(expected)} (? is the number of examples)")


def _finite(array, what, purpose):
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = ~np.isfinite(array)
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(array[index]) else "Inf"
        _fail(f"{purpose}: {what} contains {kind} (first at index {list(index)}; {int(bad.sum())} non-finite "
              "value(s)); clean or impute the data first")
