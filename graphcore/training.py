"""What ``Model.compile`` builds: the loss and metric tensors for a loss or metric name.

When the model ends in softmax (or sigmoid) and the loss is a cross-entropy, the loss is computed from the
logits feeding that activation with the fused, stable op, as Keras's TensorFlow backend did: the numbers
match the textbook formula, without log(0) for confident predictions.
"""
from . import dtypes as _dt
from . import losses as _losses
from .ops.array import one_hot
from .ops.math import cast, equal, greater_equal, log, maximum, minimum
from .ops.reduce import argmax, reduce_mean, reduce_sum
from .errors import BuildError
from .lookup import lookup

_EPSILON = 1e-7


def _logits_of(output, activation):
    return output.node.inputs[0] if output.node.op.type == activation else None


def _clipped(p):
    return minimum(maximum(p, _EPSILON), 1.0 - _EPSILON)


def sparse_categorical_crossentropy(y, output):
    logits = _logits_of(output, "Softmax")
    if logits is not None:
        return reduce_mean(_losses.sparse_softmax_cross_entropy_with_logits(y, logits))
    return -reduce_mean(reduce_sum(one_hot(y, output.shape[-1], output.dtype) * log(_clipped(output)), -1))


def categorical_crossentropy(y, output):
    logits = _logits_of(output, "Softmax")
    if logits is not None:
        return reduce_mean(_losses.softmax_cross_entropy_with_logits(y, logits))
    return -reduce_mean(reduce_sum(y * log(_clipped(output)), -1))


def binary_crossentropy(y, output):
    logits = _logits_of(output, "Sigmoid")
    if logits is not None:
        return reduce_mean(_losses.sigmoid_cross_entropy_with_logits(y, logits))
    return _losses.binary_cross_entropy(y, output, _EPSILON)


def sparse_categorical_crossentropy_from_logits(y, logits):
    """Keras's ``from_logits=True``: the model outputs logits (no softmax layer)."""
    return reduce_mean(_losses.sparse_softmax_cross_entropy_with_logits(y, logits))


def categorical_crossentropy_from_logits(y, logits):
    return reduce_mean(_losses.softmax_cross_entropy_with_logits(y, logits))


LOSSES = {
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy_from_logits": sparse_categorical_crossentropy_from_logits,
    "categorical_crossentropy_from_logits": categorical_crossentropy_from_logits,
    "categorical_crossentropy": categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mse": _losses.mean_squared_error, "mean_squared_error": _losses.mean_squared_error,
    "quadratic": _losses.quadratic,
    "mape": _losses.mean_absolute_percentage_error,
    "mean_absolute_percentage_error": _losses.mean_absolute_percentage_error,
}


def target_spec(loss_name, output):
    """(dtype, shape) of the labels placeholder a loss needs."""
    if loss_name and loss_name.startswith("sparse_"):
        return _dt.int64, output.shape[:-1]
    return output.dtype, output.shape


def get_loss(identifier):
    return lookup(LOSSES, identifier, "loss")


def accuracy(loss_name, y, output):
    """Keras's accuracy for the loss in use: class index match, or thresholded match for binary outputs."""
    if loss_name and loss_name.startswith("sparse_"):
        hits = equal(argmax(output, -1), y)
    elif loss_name == "binary_crossentropy":
        hits = equal(greater_equal(output, 0.5), greater_equal(y, 0.5))
    else:
        hits = equal(argmax(output, -1), argmax(y, -1))
    return reduce_mean(cast(hits, output.dtype))


def get_metric(name, loss_name, y, output):
    if name in ("accuracy", "acc"):
        return accuracy(loss_name, y, output)
    if name in LOSSES:
        return LOSSES[name](y, output)
    raise BuildError(f"unknown metric {name!r}; use 'accuracy' or a loss name")


class History:
    """Per-epoch metrics, as Keras's ``fit`` returns them: ``history.history["loss"]`` etc."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}

    def record(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __repr__(self):
        return f"<History {', '.join(self.history)} over {len(self.epoch)} epochs>"
