"""Checks of the arrays users hand to ``fit``, ``evaluate`` and ``predict``, before any step runs.

NumPy alone would let bad data through or fail far from its cause: a label equal to the number of classes
one-hot encodes to a zero row and trains silently, ``x[:10]`` with ``y[:9]`` dies with an IndexError inside
a batch loop, a NaN poisons every weight after one step. Each check here raises a ``DataError`` naming the
argument, what was expected, what was given, and the user's file:line that made the call.
"""
import numpy as np

from .errors import DataError
from .shapes import format_shape
from .sites import creation_site


def _fail(message):
    raise DataError(f"{message}\n  at {creation_site()}")


def batch_size(value, purpose, name="batch_size"):
    """Keras's batch size: None means 32; otherwise a positive integer."""
    if value is None:
        return 32
    _positive_int(value, name, purpose)
    return int(value)


def check_loop(epochs, validation_split, initial_epoch=0, validation_freq=1):
    """``fit``'s loop arguments."""
    if not _is_int(epochs) or epochs < 0:
        _fail(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    if not _is_int(initial_epoch) or initial_epoch < 0:
        _fail(f"fit: initial_epoch must be a non-negative integer (the epoch to resume from), got {initial_epoch!r}")
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.number)) or \
            not 0.0 <= float(validation_split) < 1.0:
        _fail(f"fit: validation_split must be a number in [0, 1), got {validation_split!r}")
    freqs = validation_freq if isinstance(validation_freq, (list, tuple, range)) else [validation_freq]
    if not freqs or not all(_is_int(f) and f >= 1 for f in freqs):
        _fail(f"fit: validation_freq must be a positive integer or a list of epochs (from 1), got {validation_freq!r}")


def check_split(n, validation_split):
    """Keras's split point: the last ``validation_split`` of the rows validate; both parts must hold a row."""
    cut = int(np.floor(n * (1.0 - validation_split)))
    if cut == 0 or cut == n:
        _fail(f"fit: validation_split={validation_split} leaves {'no training' if cut == 0 else 'no validation'} "
              f"rows out of the {n} given (the split takes the last {validation_split:.0%} of them, rounding the "
              "training part down); give more data or another validation_split")
    return cut


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _positive_int(value, name, purpose):
    if not _is_int(value) or value < 1:
        _fail(f"{purpose}: {name} must be a positive integer, got {value!r}")


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
    arrays = []
    for value, ph in zip(given, placeholders):
        what = f"x for input '{ph.name}'"
        array = _numeric(value, what, purpose)
        _shaped(array, ph.shape, what, purpose)
        arrays.append(_converted(array, ph.dtype, what, purpose))
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        _fail(f"{purpose}: the inputs have different numbers of examples: {sorted(lengths)}")
    if not lengths or 0 in lengths:
        _fail(f"{purpose}: x holds no examples")
    return arrays[0] if len(arrays) == 1 else arrays


def check_targets(model, y, n, purpose, output=0):
    """Labels of output number ``output`` matching its compiled targets: ``n`` of them, of the right rank;
    class indices for sparse losses, whole numbers in [0, classes); finite values otherwise."""
    targets = model.compilation.targets[output]   # fit and evaluate checked that the model is compiled
    if targets is None:   # an output without a loss takes no labels
        return _numeric(y, "y", purpose)
    y = _numeric(y, "y", purpose)
    if y.ndim == 0:
        _fail(f"{purpose}: y is a scalar; give one label per example ({n} examples)")
    if len(y) != n:
        _fail(f"{purpose}: x has {n} examples but y has {len(y)} labels; they must be the same length")
    y = _matched_rank(y, targets.shape)
    _shaped(y, targets.shape, "y", purpose)
    if targets.dtype.kind in "iu":
        _finite(y, "y", purpose)
        classes = model.output_tensors[output].shape[-1]
        _whole(y, "y", purpose, "labels must be class indices (whole numbers)")
        bad = (y < 0) | (y >= classes)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            _fail(f"{purpose}: label {y[index].item()!r} at y{list(index)} is out of range for {classes} classes "
                  f"(valid labels: 0..{classes - 1}); {int(bad.sum())} label(s) out of range")
        return y.astype(targets.dtype)
    return _converted(y, targets.dtype, "y", purpose)


def _matched_rank(y, expected):
    """Keras's rank matching of labels and outputs: labels of shape (n,) for an output of shape (n, 1) gain
    the trailing axis, and labels of shape (n, 1) for an output (or sparse labels) of shape (n,) lose it."""
    if y.ndim == len(expected) - 1 and expected[-1] == 1:
        return y[..., None]
    if y.ndim == len(expected) + 1 and y.shape[-1] == 1:
        return y[..., 0]
    return y


def check_sample_weight(weights, n, output, purpose):
    """One finite weight per example, in the dtype the loss is computed in."""
    w = _numeric(weights, f"sample_weight for output {output!r}", purpose)
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim != 1 or len(w) != n:
        _fail(f"{purpose}: sample_weight for output {output!r} needs one weight per example ({n}), got shape "
              f"{format_shape(w.shape)}")
    return _converted(w, np.float32, f"sample_weight for output {output!r}", purpose)


def check_class_weight(class_weight, purpose):
    """A dict class index → finite number."""
    if not isinstance(class_weight, dict):
        _fail(f"{purpose}: class_weight must be a dict mapping class indices to weights, got "
              f"{type(class_weight).__name__}")
    for key, value in class_weight.items():
        if not _is_int(key):
            _fail(f"{purpose}: class_weight keys must be class indices (integers), got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or \
                not np.isfinite(np.float32(value)):
            _fail(f"{purpose}: class_weight[{key}] = {value!r} is not a finite number (in float32)")
    return class_weight


def _whole(array, what, purpose, message):
    if array.dtype.kind == "f":
        whole = np.equal(np.mod(array, 1), 0)
        if not whole.all():
            index = tuple(int(i) for i in np.argwhere(~whole)[0])
            _fail(f"{purpose}: {message}; {what}{list(index)} = {array[index].item()!r}")


def _converted(array, dtype, what, purpose):
    """``array`` in the dtype the model computes it in, checked there: a value finite in float64 may overflow
    float32 (1e39 becomes inf), and ids given as floats must be whole numbers to become integers."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        _finite(array, what, purpose)
        _whole(array, what, purpose, f"the model takes integers ({dtype.name}) here")
        return array.astype(dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        converted = array.astype(dtype, copy=False)
    _finite(converted, what, purpose, original=array)
    return converted


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


def _finite(array, what, purpose, original=None):
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = ~np.isfinite(array)
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        if original is not None and original.dtype != array.dtype and np.isfinite(original[index]):
            largest = np.finfo(array.dtype).max
            _fail(f"{purpose}: {what}{list(index)} = {original[index].item()!r} overflows {array.dtype.name} (the "
                  f"dtype the model computes in; largest {largest:.3g}): {int(bad.sum())} value(s) become Inf; "
                  "rescale the data first")
        kind = "NaN" if np.isnan(array[index]) else "Inf"
        _fail(f"{purpose}: {what} contains {kind} (first at index {list(index)}; {int(bad.sum())} non-finite "
              "value(s)); clean or impute the data first")
