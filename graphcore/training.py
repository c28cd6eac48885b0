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
from . import metrics as _metrics
from .errors import BuildError
from .ops.reduce import reduce_mean
from .ops.state import placeholder


def target_spec(spec, output):
    """(dtype, shape) of the labels placeholder a loss needs: class indices for sparse losses."""
    if spec.sparse:
        return _dt.int64, output.shape[:-1]
    return output.dtype, output.shape


def reduce_loss(spec, per_example, weights):
    """The batch loss from per-example values and sample weights (Keras's reduction; the notes' quadratic
    cost is summed). A custom loss that already returns a scalar is used as it is (it cannot be weighted)."""
    if per_example.ndim == 0:
        return per_example
    if per_example.ndim > 1:   # per example and time step (or pixel): the mean over those axes per example
        per_example = reduce_mean(per_example, list(range(1, per_example.ndim)))
    reduction = "sum_over_batch_size" if spec.reduction in ("none", None) else spec.reduction   # as Keras's compile
    return _losses.reduce_weighted(per_example, weights, reduction)


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
    finish: dict = field(default_factory=dict)   # logged name → function of the epoch mean (RMSE's sqrt)


@dataclass
class CompiledModel:
    """What ``Model.compile`` added to the model's graph (``model.compilation``; None before compile, or while a
    model compiled before it was built waits for its input). Profilers, exporters and tools read it by these
    names; the training loops in ``trainer.py`` feed and fetch its tensors.

    ``loss`` is the total loss tensor (None: compiled for ``predict`` alone); ``train_op`` the grouped step
    (optimizer updates and batch-norm updates); ``targets`` and ``sample_weights`` hold one placeholder per
    output (None for an output without a loss); ``metrics`` maps Keras's logged names to tensors, and ``finish``
    a logged name to what turns its epoch mean into the logged value (RMSE's sqrt); ``weightable`` says which
    outputs' losses are per example (so sample weights apply); ``learning_rate`` is the variable callbacks
    change (None when the optimizer's rate is a tensor); ``training_feeds`` the feeds a training step adds (the
    learning phase, layers' switches); ``trainable`` the weights compile collected."""
    optimizer: object
    loss: object = None
    train_op: object = None
    targets: list = field(default_factory=list)
    sample_weights: list = field(default_factory=list)
    weightable: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    finish: dict = field(default_factory=dict)
    learning_rate: object = None
    training_feeds: dict = field(default_factory=dict)
    trainable: list = field(default_factory=list)

    @property
    def target(self):
        """The labels placeholder of a one-output model (the first output's otherwise)."""
        return self.targets[0]


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
        loss = _losses.resolve(spec)
        prefix = "" if single else f"{name}_"
        dtype, shape = target_spec(loss, output)
        targets = placeholder(dtype, shape, name=f"{prefix}targets")
        sample_weight = placeholder(output.dtype, (None,), name=f"{prefix}sample_weight",
                                    default=np.ones(1, output.dtype))
        values = loss.per_example(targets, output)
        term = reduce_loss(loss, values, sample_weight)
        result.targets.append(targets), result.sample_weights.append(sample_weight)
        result.weightable.append(values.ndim > 0)
        if not single:
            result.metrics[f"{name}_loss"] = term
        scaled = term if float(weight) == 1.0 else float(weight) * term
        total = scaled if total is None else total + scaled
        for m in _as_list(metric_names):
            metric = _metrics.build(m, targets, output, loss.sparse)
            result.metrics[f"{prefix}{metric.name}"] = metric.value
            result.finish[f"{prefix}{metric.name}"] = metric.finish
    if total is None:
        raise BuildError(f"compile: no output has a loss (outputs {names})")
    result.loss = total
    return result


def _metrics_per_output(metrics, names):
    """Keras's metrics forms: a flat list of metrics for every output, a dict by output name, or a list with
    an entry (a metric or a list of metrics) per output."""
    if isinstance(metrics, (list, tuple)) and not any(isinstance(m, (list, tuple)) for m in metrics):
        return [list(metrics)] * len(names)
    return per_output(metrics, names, "metrics", []) if metrics else [[]] * len(names)


def _as_list(metrics):
    return list(metrics) if isinstance(metrics, (list, tuple)) else ([] if metrics is None else [metrics])


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
