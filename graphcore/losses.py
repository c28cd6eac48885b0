"""Losses, composed from primitives: one set of formulas, each reduced the way the tool its name comes from
reduces it.

- TF1's and the notes' functions reduce the whole batch to one number: ``mean_squared_error`` is TF1's
  ``tf.losses.mean_squared_error`` (the mean over every element), ``quadratic`` the notes' ½ Σ (y − ŷ)²,
  ``mean_absolute_percentage_error`` and ``binary_cross_entropy`` the mean over every element; TF1's
  ``*_with_logits`` functions keep TF1's per-example (or elementwise) values.
- Keras's functions (``binary_crossentropy``, ``mean_absolute_error``, ...) give one value per example, the
  last axis reduced as Keras reduces it, and the loss classes reduce those (``reduction``); ``compile`` weights
  and reduces them, and maps each whole-batch function above to its per-example form (``resolve``), so
  ``compile(loss=gc.losses.mean_squared_error)`` and ``compile(loss="mse")`` train alike.

The elementwise terms (``_squared_error``, ``_absolute_percentage_error``, ``_binary_cross_entropy``) are
written once and both families reduce them. Cross-entropies work on logits through the fused log-softmax (or
the logits of a sigmoid output), so they stay finite for logits of ±1e4.
"""
import sys
import re
from typing import NamedTuple

import numpy as np

from . import compat
from .errors import BuildError, CompatError
from .graph import Graph
from .lookup import missing_names
from .op import convert_to_tensor
from .ops.array import check_indices, one_hot, squeeze
from .ops.math import (abs, cast, equal, exp, less_equal, log, log1p, logical_and, maximum, minimum, not_equal,
                       ones_like, relu, rsqrt, softplus, square, where)
from .ops.nn import log_softmax
from .ops.reduce import reduce_max, reduce_mean, reduce_sum
from .ops.state import constant
from .session import Session
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


@compat.same_as("TF1", "tf.losses.mean_squared_error(labels, predictions)",
                note="the mean over every element, one number (TF1's default weights=1.0); weight examples with "
                     "compile's sample_weight")
def mean_squared_error(y_true, y_pred):
    """TF1's ``tf.losses.mean_squared_error``: the mean of (y − ŷ)² over every element, one number. Keras's
    per-example ``keras.losses.mean_squared_error`` is ``MeanSquaredError(reduction=None)`` or ``get("mse")``."""
    return reduce_mean(_squared_error(y_true, y_pred))


def quadratic(y_true, y_pred):
    """The notes' quadratic cost ½ Σ (y − ŷ)² (summed; its gradient is ŷ − y)."""
    return 0.5 * reduce_sum(_squared_error(y_true, y_pred))


def mean_absolute_percentage_error(y_true, y_pred, epsilon=1e-7):
    """100 · mean(|y − ŷ| / max(|y|, ε)) over every element, one number (Keras's formula; its per-example
    form is ``MeanAbsolutePercentageError(reduction=None)`` or ``get("mape")``)."""
    return reduce_mean(_absolute_percentage_error(y_true, y_pred, epsilon))


def binary_cross_entropy(y_true, y_pred, epsilon=1e-7):
    """The mean binary cross-entropy over every element, one number: Keras's ``binary_crossentropy`` (p clipped
    to [ε, 1−ε], or the logits when ``y_pred`` is a sigmoid's output) averaged over the batch too."""
    return reduce_mean(_binary_cross_entropy(y_true, y_pred, epsilon=epsilon))


mse = mean_squared_error
mape = mean_absolute_percentage_error


# ---------------------------------------------------------------------------------------------------------
# Keras's losses: per-example functions (one value per example, the last axis reduced as Keras reduces it)
# and the loss classes over them. ``compile`` weights and reduces the per-example values; a loss object
# called directly reduces them itself, and on NumPy arrays returns a number, as Keras's do.
# ---------------------------------------------------------------------------------------------------------
EPSILON = 1e-7   # Keras's backend.epsilon()


def _logits_of(output, activation):
    """The logits of an output made by ``activation`` (the fused, stable route Keras's TensorFlow backend
    takes for a model ending in softmax or sigmoid), else None."""
    node = getattr(output, "node", None)
    return node.inputs[0] if node is not None and node.op.type == activation else None


def _clipped(p, epsilon=EPSILON):
    return minimum(maximum(p, epsilon), 1.0 - epsilon)


# The elementwise terms, written once: Keras's functions below reduce them per example, the whole-batch
# functions above over everything.
def _squared_error(y_true, y_pred):
    return square(y_true - y_pred)


def _absolute_percentage_error(y_true, y_pred, epsilon=EPSILON):
    return 100.0 * abs(y_true - y_pred) / maximum(abs(y_true), epsilon)


def _binary_cross_entropy(y_true, y_pred, from_logits=False, epsilon=EPSILON):
    """−(y·log p + (1−y)·log(1−p)) elementwise: from the logits when given them or when ``y_pred`` is a
    sigmoid's output (the stable route Keras's TensorFlow backend takes), else on p clipped to [ε, 1−ε]."""
    logits = y_pred if from_logits else _logits_of(y_pred, "Sigmoid")
    if logits is not None:
        return sigmoid_cross_entropy_with_logits(y_true, logits)
    p = _clipped(y_pred, epsilon)
    return -(y_true * log(p) + (1.0 - y_true) * log(1.0 - p))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """−log p[label] for integer labels (Keras; labels of shape (n, 1) are squeezed)."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = squeeze(y_true, -1)
    logits = y_pred if from_logits else _logits_of(y_pred, "Softmax")
    if logits is not None:
        return sparse_softmax_cross_entropy_with_logits(y_true, logits)
    return categorical_crossentropy(one_hot(y_true, y_pred.shape[-1], y_pred.dtype), y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """−Σ y·log p over the last axis; probabilities are renormalised and clipped to [ε, 1−ε] (Keras)."""
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    logits = y_pred if from_logits else _logits_of(y_pred, "Softmax")
    if logits is not None:
        return softmax_cross_entropy_with_logits(y_true, logits)
    p = _clipped(y_pred / reduce_sum(y_pred, -1, keepdims=True))
    return -reduce_sum(y_true * log(p), -1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Mean over the last axis of −(y·log p + (1−y)·log(1−p)), p clipped to [ε, 1−ε] (Keras)."""
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return reduce_mean(_binary_cross_entropy(y_true, y_pred, from_logits), -1)


def _mean_squared_error(y_true, y_pred):
    """mean((y − ŷ)², axis=−1): Keras's per-example ``keras.losses.mean_squared_error``."""
    return reduce_mean(_squared_error(y_true, y_pred), -1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y − ŷ|, axis=−1)."""
    return reduce_mean(abs(y_true - y_pred), -1)


def _mean_absolute_percentage_error(y_true, y_pred):
    """100 · mean(|y − ŷ| / max(|y|, ε), axis=−1): Keras's per-example ``mean_absolute_percentage_error``."""
    return reduce_mean(_absolute_percentage_error(y_true, y_pred), -1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(ŷ, ε) + 1) − log(max(y, ε) + 1))², axis=−1)."""
    return reduce_mean(square(log(maximum(y_pred, EPSILON) + 1.0) - log(maximum(y_true, EPSILON) + 1.0)), -1)


def _as_hinge_labels(y_true):
    """Keras converts labels that are all 0 or 1 to −1/+1; here the conversion is the same arithmetic applied
    when the batch holds only 0s and 1s (``where`` over a scalar test of the batch)."""
    binary = equal(reduce_sum(cast(logical_and(not_equal(y_true, 0.0), not_equal(y_true, 1.0)), y_true.dtype)),
                   0.0)
    return where(binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """mean(max(1 − y·ŷ, 0), axis=−1) with labels −1/+1 (0/1 labels are converted)."""
    return reduce_mean(maximum(1.0 - _as_hinge_labels(y_true) * y_pred, 0.0), -1)


def squared_hinge(y_true, y_pred):
    """mean(max(1 − y·ŷ, 0)², axis=−1)."""
    return reduce_mean(square(maximum(1.0 - _as_hinge_labels(y_true) * y_pred, 0.0)), -1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 − y)·ŷ) − Σ y·ŷ + 1, 0)."""
    positive = reduce_sum(y_true * y_pred, -1)
    negative = reduce_max((1.0 - y_true) * y_pred, -1)
    return maximum(negative - positive + 1.0, 0.0)


def huber(y_true, y_pred, delta=1.0):
    """mean(½e² where |e| ≤ δ, else δ|e| − ½δ², axis=−1)."""
    error = y_pred - y_true
    absolute = abs(error)
    return reduce_mean(where(less_equal(absolute, delta), 0.5 * square(error), delta * absolute - 0.5 * delta ** 2),
                       -1)


def log_cosh(y_true, y_pred):
    """mean(log cosh(ŷ − y), axis=−1), computed as x + softplus(−2x) − log 2 (no overflow)."""
    x = y_pred - y_true
    return reduce_mean(x + softplus(-2.0 * x) - float(np.log(2.0)), -1)


def kl_divergence(y_true, y_pred):
    """Σ y·log(y / ŷ) over the last axis, both clipped to [ε, 1]."""
    y_true, y_pred = minimum(maximum(y_true, EPSILON), 1.0), minimum(maximum(y_pred, EPSILON), 1.0)
    return reduce_sum(y_true * log(y_true / y_pred), -1)


def poisson(y_true, y_pred):
    """mean(ŷ − y·log(ŷ + ε), axis=−1)."""
    return reduce_mean(y_pred - y_true * log(y_pred + EPSILON), -1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """−Σ ŷ/‖ŷ‖ · y/‖y‖ over ``axis`` (Keras's loss: −1 when they point the same way)."""
    def normalized(x):
        return x * rsqrt(maximum(reduce_sum(square(x), axis, keepdims=True), 1e-12))
    return -reduce_sum(normalized(y_true) * normalized(y_pred), axis)


REDUCTIONS = ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none", None)


def reduce_weighted(values, weights, reduction):
    """Keras's reductions of per-example values ``values`` weighted by ``weights`` (a tensor, or None)."""
    weighted = values if weights is None else values * weights
    if reduction in ("none", None):
        return weighted
    if reduction == "sum":
        return reduce_sum(weighted)
    if reduction == "mean_with_sample_weight" and weights is not None:
        return reduce_sum(weighted) / reduce_sum(weights * ones_like(values))
    return reduce_mean(weighted)


def _evaluate(build, *arrays):
    """Keras's standalone use of a loss or metric on NumPy data: build it in a scratch graph and run it."""
    graph = Graph()
    with graph.as_default():
        tensors = [None if a is None else constant(np.asarray(a, np.float32 if np.asarray(a).dtype.kind in "fb"
                                                                 else np.int64)) for a in arrays]
        result = build(*tensors)
    return Session(graph).run(result)


def _is_tensor(value):
    return hasattr(value, "node")


@compat.same_as("Keras", "keras.losses.Loss", note="call(y_true, y_pred) per example; reduction; on NumPy arrays "
                "it returns a number")
class Loss:
    """Keras's ``keras.losses.Loss``: ``call(y_true, y_pred)`` gives per-example values; calling the object
    reduces them (``reduction``: "sum_over_batch_size" — the weighted mean over examples —, "sum",
    "mean_with_sample_weight", or "none"/None). Called on graph tensors it returns a tensor, on NumPy arrays
    a NumPy value. ``compile(loss=...)`` takes the object itself."""

    fn = None
    sparse = False     # integer class labels (one fewer axis than the output)
    defaults = {}

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None, **options):
        if reduction not in REDUCTIONS:
            raise CompatError(f"{type(self).__name__}: reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise CompatError(f"{type(self).__name__} got unknown argument(s) {unknown}; it takes "
                              f"{sorted(['name', 'reduction', 'dtype', *self.defaults])}")
        self.name = name or _snake(type(self).__name__)
        self.reduction, self.dtype = reduction, dtype
        self.options = {**self.defaults, **options}

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.options)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not _is_tensor(y_pred):
            y_true = np.asarray(y_true)
            if not self.sparse and y_true.ndim == np.ndim(y_pred) - 1 and np.shape(y_pred)[-1] == 1:
                y_true = y_true[..., None]
            return _evaluate(self.__call__, y_true, y_pred, sample_weight)
        if not self.sparse and y_true.dtype != y_pred.dtype:
            y_true = cast(y_true, y_pred.dtype)
        values = self.call(y_true, y_pred)
        return reduce_weighted(values, sample_weight, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **self.options}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} {self.options or ''}>"


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _loss_class(class_name, function, doc, sparse=False, **defaults):
    cls = type(class_name, (Loss,), {"fn": staticmethod(function), "sparse": sparse, "defaults": defaults,
                                     "__doc__": f"Keras's ``keras.losses.{class_name}``: {doc}",
                                     "__module__": __name__})
    return cls


MeanSquaredError = _loss_class("MeanSquaredError", _mean_squared_error, "mean((y − ŷ)²) per example.")
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error, "mean(|y − ŷ|) per example.")
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", _mean_absolute_percentage_error,
                                          "100·mean(|y − ŷ| / |y|) per example.")
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                          "mean((log(ŷ + 1) − log(y + 1))²) per example.")
Hinge = _loss_class("Hinge", hinge, "mean(max(1 − y·ŷ, 0)) per example.")
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, "mean(max(1 − y·ŷ, 0)²) per example.")
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge, "max(max((1−y)ŷ) − Σyŷ + 1, 0).")
Huber = _loss_class("Huber", huber, "quadratic within ``delta``, linear outside.", delta=1.0)
LogCosh = _loss_class("LogCosh", log_cosh, "mean(log cosh(ŷ − y)) per example.")
KLDivergence = _loss_class("KLDivergence", kl_divergence, "Σ y·log(y/ŷ) per example.")
Poisson = _loss_class("Poisson", poisson, "mean(ŷ − y·log ŷ) per example.")
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, "−cos(y, ŷ) per example.", axis=-1)
BinaryCrossentropy = _loss_class("BinaryCrossentropy", binary_crossentropy,
                                 "binary cross-entropy, on probabilities or (``from_logits=True``) logits.",
                                 from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", categorical_crossentropy,
                                      "cross-entropy of one-hot (or soft) labels.", from_logits=False,
                                      label_smoothing=0.0)
SparseCategoricalCrossentropy = _loss_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
                                            "cross-entropy of integer class labels.", sparse=True,
                                            from_logits=False)
for _cls in (MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Hinge,
             SquaredHinge, CategoricalHinge, Huber, LogCosh, KLDivergence, Poisson, CosineSimilarity,
             BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy):
    compat.same_as("Keras", f"keras.losses.{_cls.__name__}")(_cls)


def quadratic_loss(y_true, y_pred):
    """The notes' ½ Σ (y − ŷ)², per example; ``compile`` sums it over the batch (the notes' cost)."""
    error = _squared_error(y_true, y_pred)
    return 0.5 * reduce_sum(error, list(range(1, error.ndim))) if error.ndim > 1 else 0.5 * error


# Keras's loss names (``keras.losses.get``), graphcore's own ("quadratic", the *_from_logits shortcuts) and
# the per-example function each names. A loss given as one of the whole-batch functions (TF1's and the
# notes') is mapped to its per-example form too, so sample weights apply to it.
LOSS_NAMES = {
    "mean_squared_error": _mean_squared_error, "mse": _mean_squared_error, "MSE": _mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mean_absolute_percentage_error": _mean_absolute_percentage_error, "mape": _mean_absolute_percentage_error,
    "MAPE": _mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error, "msle": mean_squared_logarithmic_error,
    "MSLE": mean_squared_logarithmic_error,
    "binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy, "BCE": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "hinge": hinge, "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "huber": huber, "log_cosh": log_cosh, "logcosh": log_cosh,
    "kl_divergence": kl_divergence, "kld": kl_divergence, "KLD": kl_divergence,
    "kullback_leibler_divergence": kl_divergence, "poisson": poisson, "cosine_similarity": cosine_similarity,
    "quadratic": quadratic_loss,
    "sparse_categorical_crossentropy_from_logits": lambda y, p: sparse_categorical_crossentropy(y, p, True),
    "categorical_crossentropy_from_logits": lambda y, p: categorical_crossentropy(y, p, True),
}
SPARSE = {sparse_categorical_crossentropy, LOSS_NAMES["sparse_categorical_crossentropy_from_logits"]}
SUMMED = {quadratic_loss}   # summed over the batch (the notes' cost), not averaged
_PER_EXAMPLE_OF = {mean_squared_error: _mean_squared_error, mean_absolute_percentage_error:
                   _mean_absolute_percentage_error, quadratic: quadratic_loss,
                   binary_cross_entropy: binary_crossentropy}
for _name in ("mse", "mae", "mape", "msle", "binary_crossentropy", "categorical_crossentropy",
              "sparse_categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge", "huber", "log_cosh",
              "kl_divergence", "poisson", "cosine_similarity"):
    compat.declare("Keras", f"compile(loss='{_name}')", f"gc.Model.compile(loss='{_name}')")
for _function in (binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, mean_absolute_error,
                  mean_squared_logarithmic_error, hinge, squared_hinge, categorical_hinge, huber, log_cosh,
                  kl_divergence, poisson, cosine_similarity):
    compat.same_as("Keras", f"keras.losses.{_function.__name__}", note="per-example values")(_function)
compat.declare("Keras", "keras.losses.mean_squared_error(y_true, y_pred)", "gc.losses.MeanSquaredError(reduction=None)",
               "gc.losses.mean_squared_error is TF1's tf.losses form (a scalar mean); as a compile loss both mean "
               "the same, and sample weights apply")


class LossSpec(NamedTuple):
    """What ``compile`` needs of a loss: per-example values, the reduction, whether labels are class indices,
    and how to save it."""
    per_example: object
    reduction: str
    sparse: bool
    summed: bool = False


def resolve(identifier):
    """A ``LossSpec`` for a loss given Keras's ways: a name, a ``Loss`` object, or a function of
    (y_true, y_pred) returning per-example values (or one scalar, used as it is)."""
    if isinstance(identifier, Loss):
        return LossSpec(identifier.call, identifier.reduction, identifier.sparse)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return resolve(identifier())
    if isinstance(identifier, str):
        cls = globals().get(identifier)
        if isinstance(cls, type) and issubclass(cls, Loss) and cls is not Loss:
            return resolve(cls())
        if identifier not in LOSS_NAMES:
            names = sorted(LOSS_NAMES, key=str.lower)
            raise BuildError(f"unknown loss {identifier!r}; choose from {names} or a keras-style Loss class "
                             "(gc.losses.MeanSquaredError(), ...) or pass a function of (y_true, y_pred)")
        identifier = LOSS_NAMES[identifier]
    if not callable(identifier):
        raise BuildError(f"a loss is a name, a gc.losses.Loss object or a function of (y_true, y_pred); got "
                         f"{identifier!r}")
    fn = _PER_EXAMPLE_OF.get(identifier, identifier)
    return LossSpec(fn, "sum" if fn in SUMMED else "sum_over_batch_size", fn in SPARSE, fn in SUMMED)


@compat.same_as("Keras", "keras.losses.get")
def get(identifier):
    """Keras's ``keras.losses.get``: a loss function or object from a name (or the object itself)."""
    if isinstance(identifier, str):
        cls = globals().get(identifier)
        if isinstance(cls, type) and issubclass(cls, Loss) and cls is not Loss:
            return cls()
        return resolve(identifier).per_example
    return identifier

_NOT_LOSSES = compat.difference(
    "Keras", "keras.losses.BinaryFocalCrossentropy / CategoricalFocalCrossentropy / Dice / Tversky / CTC / Circle",
    "gc.Model.compile(loss=fn)", "this loss is not built in: write it as a function of (y_true, y_pred) "
    "with gc ops and pass the function to compile")
__getattr__ = missing_names(sys.modules[__name__], dict.fromkeys(
    ["BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "Dice", "Tversky", "CTC", "Circle",
     "CategoricalGeneralizedCrossEntropy", "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice",
     "tversky", "ctc"], _NOT_LOSSES))
