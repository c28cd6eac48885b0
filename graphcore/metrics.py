"""Keras's metrics: functions of (y_true, y_pred) giving one value per example, and ``Metric`` objects over
them, by name, function or class in ``compile(metrics=[...])``.

In ``fit``/``evaluate`` a metric is the mean of its per-example values over the examples seen (what Keras's
``MeanMetricWrapper`` accumulates); like Keras's ``metrics=``, it does not weigh examples by
``sample_weight``. A ``Metric`` object also works on its own: ``update_state(y_true, y_pred)``, ``result()``,
``reset_state()``, on NumPy arrays. Metrics that are not means over examples (precision, recall, AUC) are
refused rather than averaged wrongly.
"""
import sys

import numpy as np

from . import compat
from . import losses as _losses
from .errors import BuildError, CompatError
from .lookup import missing_names
from .ops.array import one_hot, squeeze
from .ops.math import cast, equal, greater, less, sqrt
from .ops.reduce import argmax, reduce_mean, reduce_sum


def _matched(y_true, y_pred):
    """Labels cast to the prediction's dtype (class-index labels stay integers)."""
    return y_true if y_true.dtype == y_pred.dtype else cast(y_true, y_pred.dtype)


def accuracy(y_true, y_pred):
    """1 where y == ŷ exactly, averaged over the last axis (Keras's ``keras.metrics.Accuracy``)."""
    hits = cast(equal(_matched(y_true, y_pred), y_pred), y_pred.dtype)
    return reduce_mean(hits, -1) if hits.ndim > 1 else hits


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """mean(y == (ŷ > threshold)) over the last axis."""
    predicted = cast(greater(y_pred, threshold), y_pred.dtype)
    return reduce_mean(cast(equal(_matched(y_true, y_pred), predicted), y_pred.dtype), -1)


def categorical_accuracy(y_true, y_pred):
    """argmax y == argmax ŷ (one-hot labels)."""
    return cast(equal(argmax(y_true, -1), argmax(y_pred, -1)), y_pred.dtype)


def _class_indices(y_true, y_pred):
    """Class-index labels as int64 of one axis fewer than the scores (Keras squeezes labels of shape (n, 1))."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = squeeze(y_true, -1)
    return cast(y_true, np.int64)


def sparse_categorical_accuracy(y_true, y_pred):
    """y == argmax ŷ (class-index labels)."""
    return cast(equal(_class_indices(y_true, y_pred), argmax(y_pred, -1)), y_pred.dtype)


def _in_top_k(labels, y_pred, k):
    """TF's ``in_top_k``: the label's score is among the k largest (ties at the boundary count as in)."""
    target = reduce_sum(one_hot(labels, y_pred.shape[-1], y_pred.dtype) * y_pred, -1, keepdims=True)
    above = reduce_sum(cast(greater(y_pred, target), y_pred.dtype), -1)
    return cast(less(above, float(k)), y_pred.dtype)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """The one-hot label's class is among the k highest scores."""
    return _in_top_k(argmax(y_true, -1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """The class-index label is among the k highest scores."""
    return _in_top_k(_class_indices(y_true, y_pred), y_pred, k)


@compat.same_as("Keras", "keras.metrics.Metric", note="means over examples: update_state, result, reset_state")
class Metric:
    """Keras's ``keras.metrics.Metric`` for means over examples: ``fn`` gives per-example values, ``finish``
    maps the mean to the reported value (the square root for RootMeanSquaredError)."""

    fn = None
    sparse = False
    defaults = {}

    def __init__(self, name=None, dtype=None, **options):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise CompatError(f"{type(self).__name__} got unknown argument(s) {unknown}; it takes "
                              f"{sorted(['name', 'dtype', *self.defaults])}")
        self.name = name or _losses._snake(type(self).__name__)
        self.dtype = dtype
        self.options = {**self.defaults, **options}
        self.reset_state()

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.options)

    @staticmethod
    def finish(mean):
        return mean

    # ----- standalone use (NumPy arrays) -------------------------------------------------------------------
    def reset_state(self):
        self._total, self._count = 0.0, 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = np.asarray(_losses._evaluate(self.call, y_true, y_pred), np.float64).reshape(len(y_pred), -1)
        weights = np.ones(len(values)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        weights = np.broadcast_to(weights.reshape(len(values), -1), values.shape)
        self._total += float((values * weights).sum())
        self._count += float(weights.sum())

    def result(self):
        return np.float32(self.finish(self._total / self._count if self._count else 0.0))

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self.options}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


def _metric_class(class_name, function, doc, sparse=False, finish=None, **defaults):
    members = {"fn": staticmethod(function), "sparse": sparse, "defaults": defaults, "__module__": __name__,
               "__doc__": f"Keras's ``keras.metrics.{class_name}``: {doc}"}
    if finish is not None:
        members["finish"] = staticmethod(finish)
    cls = type(class_name, (Metric,), members)
    return compat.same_as("Keras", f"keras.metrics.{class_name}")(cls)


Accuracy = _metric_class("Accuracy", accuracy, "exact matches.")
BinaryAccuracy = _metric_class("BinaryAccuracy", binary_accuracy, "thresholded matches.", threshold=0.5)
CategoricalAccuracy = _metric_class("CategoricalAccuracy", categorical_accuracy, "argmax matches.")
SparseCategoricalAccuracy = _metric_class("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                          "label == argmax.", sparse=True)
TopKCategoricalAccuracy = _metric_class("TopKCategoricalAccuracy", top_k_categorical_accuracy, "label in top k.",
                                        k=5)
SparseTopKCategoricalAccuracy = _metric_class("SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
                                              "class index in top k.", sparse=True, k=5)
# Keras's per-example MSE and MAPE (gc.losses.mean_squared_error is TF1's whole-batch function).
_MSE, _MAPE = _losses.get("mse"), _losses.get("mape")
MeanSquaredError = _metric_class("MeanSquaredError", _MSE, "mean squared error.")
RootMeanSquaredError = _metric_class("RootMeanSquaredError", _MSE,
                                     "√(mean squared error over all examples seen).", finish=np.sqrt)
MeanAbsoluteError = _metric_class("MeanAbsoluteError", _losses.mean_absolute_error, "mean absolute error.")
MeanAbsolutePercentageError = _metric_class("MeanAbsolutePercentageError", _MAPE,
                                            "mean absolute percentage error.")
MeanSquaredLogarithmicError = _metric_class("MeanSquaredLogarithmicError", _losses.mean_squared_logarithmic_error,
                                            "mean squared logarithmic error.")
BinaryCrossentropy = _metric_class("BinaryCrossentropy", _losses.binary_crossentropy, "binary cross-entropy.",
                                   from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _metric_class("CategoricalCrossentropy", _losses.categorical_crossentropy,
                                        "categorical cross-entropy.", from_logits=False, label_smoothing=0.0)
SparseCategoricalCrossentropy = _metric_class("SparseCategoricalCrossentropy",
                                              _losses.sparse_categorical_crossentropy,
                                              "cross-entropy of class indices.", sparse=True, from_logits=False)
KLDivergence = _metric_class("KLDivergence", _losses.kl_divergence, "Kullback-Leibler divergence.")
Poisson = _metric_class("Poisson", _losses.poisson, "Poisson loss.")
Hinge = _metric_class("Hinge", _losses.hinge, "hinge loss.")
SquaredHinge = _metric_class("SquaredHinge", _losses.squared_hinge, "squared hinge loss.")
CategoricalHinge = _metric_class("CategoricalHinge", _losses.categorical_hinge, "categorical hinge loss.")
LogCoshError = _metric_class("LogCoshError", _losses.log_cosh, "log-cosh error.")

NOT_MEANS = compat.difference(
    "Keras", "keras.metrics.Precision / Recall / AUC / F1Score / MeanIoU", "gc.Model.evaluate + NumPy",
    "metrics that accumulate counts over the whole epoch (precision, recall, AUC, F1, IoU) are not supported: "
    "compute them from model.predict(x) with NumPy")
_REFUSED = ("Precision", "Recall", "AUC", "F1Score", "FBetaScore", "MeanIoU", "IoU", "PrecisionAtRecall",
            "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity", "TruePositives",
            "TrueNegatives", "FalsePositives", "FalseNegatives", "R2Score")

# Names compile accepts (``keras.metrics.get``): Keras's function names and aliases, and class names.
METRIC_NAMES = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy, "top_k_categorical_accuracy":
    top_k_categorical_accuracy, "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    **{k: v for k, v in _losses.LOSS_NAMES.items() if k not in ("quadratic",)},
}
_SPARSE_FUNCTIONS = {sparse_categorical_accuracy, sparse_top_k_categorical_accuracy, *_losses.SPARSE}
compat.declare("Keras", "compile(metrics=['accuracy']) / ['acc']", "gc.Model.compile(metrics=['accuracy'])",
               "binary accuracy for one output unit, sparse accuracy for class-index labels, else categorical (Keras's "
               "rule); logged under the name given")
for _name in ("binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy", "top_k_categorical_accuracy",
              "sparse_top_k_categorical_accuracy", "mse", "mae", "mape", "msle"):
    compat.declare("Keras", f"compile(metrics=['{_name}'])", f"gc.Model.compile(metrics=['{_name}'])")
for _function in (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                  top_k_categorical_accuracy, sparse_top_k_categorical_accuracy):
    compat.same_as("Keras", f"keras.metrics.{_function.__name__}")(_function)


class Compiled:
    """A metric as ``compile`` builds it: its logged name, its per-batch value (a tensor) and ``finish``."""

    def __init__(self, name, value, finish):
        self.name, self.value, self.finish = name, value, finish


def build(identifier, y_true, y_pred, sparse_labels):
    """The metric ``identifier`` (a name, a function or a Metric object) on the compiled labels ``y_true`` and
    the output ``y_pred``: (name, batch mean tensor, finish). "accuracy"/"acc" pick binary accuracy for one
    output unit, sparse accuracy for class-index labels, else categorical (Keras's rule)."""
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        identifier = identifier()
    if isinstance(identifier, str) and identifier in _REFUSED or type(identifier).__name__ in _REFUSED:
        raise CompatError(f"metric {getattr(identifier, 'name', identifier)!r}: {NOT_MEANS}")
    finish = Metric.finish
    if isinstance(identifier, Metric):
        name, values, finish = identifier.name, identifier.call(y_true, y_pred), identifier.finish
    elif isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        if y_pred.shape[-1] == 1:
            fn = binary_accuracy
        elif sparse_labels:
            fn = sparse_categorical_accuracy
        else:
            fn = categorical_accuracy
        name, values = identifier, fn(y_true, y_pred)
    elif isinstance(identifier, str):
        cls = globals().get(identifier)
        if isinstance(cls, type) and issubclass(cls, Metric) and cls is not Metric:
            return build(cls(), y_true, y_pred, sparse_labels)
        if identifier not in METRIC_NAMES:
            raise BuildError(f"unknown metric {identifier!r}; use 'accuracy', a name from "
                             f"{sorted(METRIC_NAMES)}, a gc.metrics class or a function of (y_true, y_pred)")
        fn = METRIC_NAMES[identifier]
        name, values = identifier, fn(y_true if fn in _SPARSE_FUNCTIONS else _matched(y_true, y_pred), y_pred)
    elif callable(identifier):
        name, values = getattr(identifier, "__name__", "metric"), identifier(y_true, y_pred)
    else:
        raise BuildError(f"a metric is a name, a function or a gc.metrics object; got {identifier!r}")
    return Compiled(name, reduce_mean(values) if values.ndim else values, finish)


@compat.same_as("Keras", "keras.metrics.get")
def get(identifier):
    """Keras's ``keras.metrics.get``: a metric function or object from its name."""
    if isinstance(identifier, str):
        cls = globals().get(identifier)
        if isinstance(cls, type) and issubclass(cls, Metric) and cls is not Metric:
            return cls()
        if identifier in METRIC_NAMES:
            return METRIC_NAMES[identifier]
        raise BuildError(f"unknown metric {identifier!r}")
    return identifier

__getattr__ = missing_names(sys.modules[__name__], dict.fromkeys(_REFUSED, NOT_MEANS))
