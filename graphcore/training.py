"""What ``Model.compile`` builds: per-output targets, sample weights, losses and metrics, and their sum.

Each loss here is *per example* (one value per row of the batch; extra axes are averaged), so that Keras's
``sample_weight`` and ``class_weight`` can weight rows: the reduced loss is ``mean(w · loss)`` over the batch
(Keras's "sum over batch size"), and the model's loss is ``Σ loss_weight · loss`` over its outputs. The
weights are a placeholder per output that defaults to one weight broadcast over the batch, so an unweighted
step is the unweighted mean and exports as one.

When the model ends in softmax (or sigmoid) and the loss is a cross-entropy, the loss is computed from the
logits feeding that activation with the fused, stable op, as Keras's TensorFlow backend did: the numbers
match the textbook formula, without log(0) for confident predictions.
"""
from dataclasses import dataclass, field

import numpy as np

from . import dtypes as _dt
from . import losses as _losses
from .errors import BuildError
from .lookup import lookup
from .ops.array import one_hot
from .ops.math import abs, cast, equal, greater_equal, log, maximum, minimum, square
from .ops.reduce import argmax, reduce_mean, reduce_sum
from .ops.state import placeholder

_EPSILON = 1e-7


def _logits_of(output, activation):
    return output.node.inputs[0] if output.node.op.type == activation else None


def _clipped(p):
    return minimum(maximum(p, _EPSILON), 1.0 - _EPSILON)


def _per_example(values, reduce=reduce_mean):
    """One value per example: ``reduce`` over every axis but the batch axis."""
    return reduce(values, list(range(1, values.ndim))) if values.ndim > 1 else values


def sparse_categorical_crossentropy(y, output):
    logits = _logits_of(output, "Softmax")
    if logits is not None:
        return _per_example(_losses.sparse_softmax_cross_entropy_with_logits(y, logits))
    return _per_example(-reduce_sum(one_hot(y, output.shape[-1], output.dtype) * log(_clipped(output)), -1))


def categorical_crossentropy(y, output):
    logits = _logits_of(output, "Softmax")
    if logits is not None:
        return _per_example(_losses.softmax_cross_entropy_with_logits(y, logits))
    return _per_example(-reduce_sum(y * log(_clipped(output)), -1))


def binary_crossentropy(y, output):
    logits = _logits_of(output, "Sigmoid")
    if logits is not None:
        return _per_example(_losses.sigmoid_cross_entropy_with_logits(y, logits))
    p = _clipped(output)
    return _per_example(-(y * log(p) + (1.0 - y) * log(1.0 - p)))


def sparse_categorical_crossentropy_from_logits(y, logits):
    """Keras's ``from_logits=True``: the model outputs logits (no softmax layer)."""
    return _per_example(_losses.sparse_softmax_cross_entropy_with_logits(y, logits))


def categorical_crossentropy_from_logits(y, logits):
    return _per_example(_losses.softmax_cross_entropy_with_logits(y, logits))


def mean_squared_error(y, output):
    return _per_example(square(output - y))


def quadratic(y, output):
    """The notes' ½ Σ (y − ŷ)²: summed over each example's values (and over the batch, see SUMMED)."""
    return 0.5 * _per_example(square(output - y), reduce_sum)


def mean_absolute_percentage_error(y, output):
    return 100.0 * _per_example(abs(y - output) / maximum(abs(y), _EPSILON))


LOSSES = {
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy_from_logits": sparse_categorical_crossentropy_from_logits,
    "categorical_crossentropy_from_logits": categorical_crossentropy_from_logits,
    "categorical_crossentropy": categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
    "quadratic": quadratic,
    "mape": mean_absolute_percentage_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
}
SUMMED = {quadratic}   # losses summed over the batch (the notes' cost), not averaged


def target_spec(loss_name, output):
    """(dtype, shape) of the labels placeholder a loss needs."""
    if loss_name and loss_name.startswith("sparse_"):
        return _dt.int64, output.shape[:-1]
    return output.dtype, output.shape


def get_loss(identifier):
    return lookup(LOSSES, identifier, "loss")


def reduce_loss(fn, per_example, weights):
    """The batch loss from per-example values and sample weights: mean(w · loss) (sum for SUMMED losses).
    A custom loss that already returns a scalar is used as it is (it cannot be weighted)."""
    if per_example.ndim == 0:
        return per_example
    weighted = weights * per_example
    return reduce_sum(weighted) if fn in SUMMED else reduce_mean(weighted)


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
        return reduce_loss(LOSSES[name], LOSSES[name](y, output), 1.0)
    raise BuildError(f"unknown metric {name!r}; use 'accuracy' or a loss name")


def per_output(spec, names, what, default=None):
    """Keras's ways to give one setting per output: one value for all, a list in output order, or a dict by
    output name (outputs left out get ``default``)."""
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise BuildError(f"{what} names {unknown}, but the model's outputs are {names}")
        return [spec.get(n, default) for n in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise BuildError(f"{what} has {len(spec)} entries for {len(names)} outputs {names}")
        return list(spec)
    return [spec] * len(names)


@dataclass
class CompiledLoss:
    """What ``compile`` added for the outputs: a targets and a sample-weight placeholder per output (None for
    an output without a loss), the total loss, and the logged tensors by Keras's names (``loss`` first)."""
    targets: list
    sample_weights: list
    loss: object
    metrics: dict = field(default_factory=dict)
    weightable: list = field(default_factory=list)


def assemble(outputs, names, loss, loss_weights=None, metrics=None):
    """Build targets, weights, per-output losses and metrics for ``outputs`` (tensors in the user's layout).

    Logged names follow Keras: one output logs ``loss`` and ``accuracy``; several log ``loss`` (the weighted
    total), ``<output>_loss`` and ``<output>_accuracy``."""
    losses = per_output(loss, names, "loss")
    weights = per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights", 0.0)
    metric_lists = _metrics_per_output(metrics, names)
    single = len(outputs) == 1
    result = CompiledLoss([], [], None)
    total = None
    for output, name, spec, weight, metric_names in zip(outputs, names, losses, weights, metric_lists):
        if spec is None:
            result.targets.append(None), result.sample_weights.append(None), result.weightable.append(False)
            continue
        loss_name = spec if isinstance(spec, str) else None
        prefix = "" if single else f"{name}_"
        dtype, shape = target_spec(loss_name, output)
        targets = placeholder(dtype, shape, name=f"{prefix}targets")
        sample_weight = placeholder(output.dtype, (None,), name=f"{prefix}sample_weight",
                                    default=np.ones(1, output.dtype))
        fn = get_loss(spec)
        values = fn(targets, output)
        term = reduce_loss(fn, values, sample_weight)
        result.targets.append(targets), result.sample_weights.append(sample_weight)
        result.weightable.append(values.ndim > 0)
        if not single:
            result.metrics[f"{name}_loss"] = term
        scaled = term if float(weight) == 1.0 else float(weight) * term
        total = scaled if total is None else total + scaled
        for m in _as_names(metric_names):
            result.metrics[f"{prefix}{m}"] = get_metric(m, loss_name, targets, output)
    if total is None:
        raise BuildError(f"compile: no output has a loss (outputs {names})")
    result.loss = total
    return result


def _metrics_per_output(metrics, names):
    """Keras's metrics forms: a flat list of names for every output, a dict by output name, or a list with
    an entry (a name or a list of names) per output."""
    if isinstance(metrics, (list, tuple)) and not any(isinstance(m, (list, tuple)) for m in metrics):
        return [list(metrics)] * len(names)
    return per_output(metrics, names, "metrics", []) if metrics else [[]] * len(names)


def _as_names(metrics):
    return [metrics] if isinstance(metrics, str) else list(metrics or [])


def class_weights_to_sample_weights(y, class_weight):
    """Keras's rule: the class of a row is its label (sparse), its argmax (one-hot) or its rounded value
    (one binary column); its weight is ``class_weight[class]`` (1 for classes not listed)."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] != 1:
        classes = y.argmax(-1)
    else:
        classes = np.round(y.reshape(len(y), -1)[:, 0]).astype(np.int64) if y.ndim > 1 else y.astype(np.int64)
    if classes.ndim > 1:
        raise BuildError(f"class_weight needs one class per example; labels have shape {y.shape}")
    return np.array([class_weight.get(int(c), 1.0) for c in classes], np.float64)


class History:
    """Per-epoch metrics, as Keras's ``fit`` returns them: ``history.history["loss"]`` etc."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.params = {}
        self.model = None

    def record(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __repr__(self):
        return f"<History {', '.join(self.history)} over {len(self.epoch)} epochs>"
