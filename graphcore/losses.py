"""The notes' losses, composed from primitives. Cross-entropies work on logits through the fused
log-softmax, so they stay finite for logits of ±1e4; each returns per-example values unless it says mean.
"""
from .errors import BuildError
from .op import convert_to_tensor
from .ops.array import check_indices, one_hot
from .ops.math import abs, log, log1p, exp, maximum, minimum, relu, square
from .ops.nn import log_softmax
from .ops.reduce import reduce_mean, reduce_sum
from .shapes import format_shape


def softmax_cross_entropy_with_logits(labels, logits, axis=-1):
    """−Σ labels · log softmax(logits), per example (labels are probabilities, e.g. one-hot)."""
    return -reduce_sum(labels * log_softmax(logits, axis), axis)


def sparse_softmax_cross_entropy_with_logits(labels, logits):
    """Cross-entropy with integer class labels, per example. ``labels`` has the shape of ``logits`` without
    its class axis; a label outside [0, classes) is refused when the graph runs, as TF1's CPU kernel does
    (a one-hot row of zeros would silently give a loss of 0)."""
    labels = convert_to_tensor(labels)
    classes = logits.shape[-1]
    if labels.ndim != logits.ndim - 1 or not _agree(labels.shape, logits.shape[:-1]):
        raise BuildError(f"labels of shape {format_shape(labels.shape)} do not fit logits of shape "
                         f"{format_shape(logits.shape)}: sparse labels have the logits' shape without the class "
                         f"axis, {format_shape(logits.shape[:-1])} (flatten (n, 1) labels with gc.reshape)")
    if classes is None:
        raise BuildError(f"the number of classes (the last axis of logits {format_shape(logits.shape)}) must be "
                         "known")
    labels = check_indices(labels, classes, "label",
                           f"the logits have {classes} classes, so labels run from 0 to {classes - 1}")
    return softmax_cross_entropy_with_logits(one_hot(labels, classes, logits.dtype), logits)


def _agree(a, b):
    return all(x is None or y is None or x == y for x, y in zip(a, b))


def sigmoid_cross_entropy_with_logits(labels, logits):
    """Elementwise binary cross-entropy on logits: max(x, 0) − x·z + log(1 + e^(−|x|))."""
    return relu(logits) - logits * labels + log1p(exp(-abs(logits)))


def mean_squared_error(y_true, y_pred):
    """Mean over all elements of (y − ŷ)²."""
    return reduce_mean(square(y_pred - y_true))


def quadratic(y_true, y_pred):
    """The notes' quadratic cost ½ Σ (y − ŷ)² (summed; its gradient is ŷ − y)."""
    return 0.5 * reduce_sum(square(y_pred - y_true))


def mean_absolute_percentage_error(y_true, y_pred, epsilon=1e-7):
    """100 · mean(|y − ŷ| / max(|y|, ε)), Keras's definition."""
    return 100.0 * reduce_mean(abs(y_true - y_pred) / maximum(abs(y_true), epsilon))


def binary_cross_entropy(y_true, y_pred, epsilon=1e-7):
    """Mean binary cross-entropy on probabilities (clipped to [ε, 1−ε] like Keras)."""
    p = minimum(maximum(y_pred, epsilon), 1.0 - epsilon)
    return -reduce_mean(y_true * log(p) + (1.0 - y_true) * log(1.0 - p))


mse = mean_squared_error
mape = mean_absolute_percentage_error
