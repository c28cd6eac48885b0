"""Keras's training API on a model: ``compile``, ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch``
methods, with Keras's arguments, defaults, callbacks and return types (Keras's ``trainers/``).

``compile`` adds the training graph (labels, sample weights, losses, metrics, optimizer updates, batch-norm
updates) to the model's graph, reading each layer's ``trainable`` flag as Keras does; the loops here feed it.
Two things graphcore adds to Keras's loop, both about numbers going wrong:

- every array is checked once, at the boundary, in the dtype the model computes in (``validation``);
- a step whose loss is not finite stops ``fit`` with a ``DivergenceError`` naming the epoch, the batch and
  the first non-finite tensor of that step, with the weights of before the step restored
  (``fit(terminate_on_nan=False)`` trains on regardless; Keras's ``TerminateOnNaN`` callback, when given, stops
  quietly instead, as in Keras).
"""
import importlib
import math
import warnings

import numpy as np

from . import compat, validation
from . import optimizers as _optimizers
from . import training as _training
from .callbacks import CallbackList, TerminateOnNaN
from .errors import BuildError, CompatError, DivergenceError, NumericsError
from .layers.base import learning_phase
from .ops.math import add_n
from .ops.state import Variable, VariableOp, group
from .sites import creation_site

STEPS = compat.difference(
    "Keras", "fit(steps_per_epoch=, validation_steps=) / evaluate(steps=) / predict(steps=)",
    "gc.Model.fit(batch_size=)",
    "graphcore iterates over whole NumPy arrays (no datasets or generators): leave the steps arguments None "
    "and slice the arrays to train on part of them")
DATASETS = compat.difference(
    "Keras", "fit(tf.data.Dataset / generator / keras.utils.PyDataset)", "gc.Model.fit(x_array, y_array)",
    "graphcore trains on NumPy arrays (or lists/dicts of them, one per input and output): give x and y")
WEIGHTED_METRICS = compat.difference(
    "Keras", "compile(weighted_metrics=)", "gc.Model.compile(metrics=)",
    "metrics weighted by sample_weight are not supported: metrics= are unweighted, as in Keras, and the loss is "
    "weighted")
STEPS_PER_EXECUTION = compat.difference(
    "Keras", "compile(steps_per_execution=N)", "gc.Model.compile()",
    "graphcore runs one step per call: leave steps_per_execution=1")
compat.declare(
    "Keras", "train_on_batch(x, y, reset_metrics=True)", "gc.Model.train_on_batch",
    "Keras 2's rule: returns the batch's own loss and metrics (reset_metrics=False accumulates them over calls "
    "until model.reset_metrics(), which is Keras 3's default)")
for _method, _note in (("compile", "Keras's defaults: optimizer='rmsprop', loss=None; reads layer.trainable"),
                      ("fit", "returns the History, also model.history"),
                      ("evaluate", "the loss alone, [loss, *metrics] or a dict"), ("predict", "an array, or a list"),
                      ("train_on_batch", ""), ("test_on_batch", ""), ("predict_on_batch", ""), ("reset_metrics", ""),
                      ("metrics_names", "")):
    compat.declare("Keras", f"keras.Model.{_method}", f"gc.Model.{_method}", _note)
compat.declare("Keras", "fit(verbose='auto'|0|1|2)", "gc.Model.fit(verbose=)",
               "1: a progress bar per epoch; 2: one line per epoch; also evaluate and predict")
compat.declare("Keras", "fit(initial_epoch=)", "gc.Model.fit(initial_epoch=)", "History.epoch counts from it")
compat.declare("Keras", "evaluate(return_dict=True)", "gc.Model.evaluate(return_dict=True)")
compat.declare("Keras", "fit(validation_split=, validation_data=, validation_freq=, validation_batch_size=)",
               "gc.Model.fit", "the split takes the last rows before shuffling, as in Keras")
compat.declare("Keras", "fit(class_weight=, sample_weight=)", "gc.Model.fit", "weights must be finite")
compat.declare("Keras", "model.fit(...) loss becomes NaN", "gc.Model.fit(terminate_on_nan=True)",
               "graphcore stops with a DivergenceError naming the step and the first non-finite tensor; "
               "terminate_on_nan=False trains on, callbacks.TerminateOnNaN stops quietly")


class Trainer:
    """The mixin ``Model`` inherits: the Keras training API over ``self.graph``."""

    compilation = None   # the CompiledModel compile made (training.CompiledModel)
    stop_training = False

    # ----- compile -------------------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Keras's ``compile``: ``optimizer`` (a name, a ``gc.optimizers`` object or a ``gc.train`` one), ``loss``
        (a name, a ``gc.losses`` object or a function; None compiles for nothing but ``predict``) and
        ``metrics`` (names, functions or ``gc.metrics`` objects) take one value for all outputs, a list in
        output order or a dict by output name. ``run_eagerly``, ``jit_compile`` and ``auto_scale_loss`` change
        nothing in a graph engine and are accepted.

        Adds labels, sample weights, losses, optimizer updates, batch-norm updates and metrics to the graph. The
        trainable weights are read now (Keras reads ``layer.trainable`` at compile), so compile again after
        freezing or unfreezing layers. A numeric learning rate becomes a non-trainable variable so that callbacks
        can change it between steps."""
        if weighted_metrics:
            raise CompatError(f"compile(weighted_metrics=...): {WEIGHTED_METRICS}")
        if steps_per_execution != 1:
            raise CompatError(f"compile(steps_per_execution={steps_per_execution!r}): {STEPS_PER_EXECUTION}")
        self._compile_args = dict(optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=metrics)
        self.optimizer = _optimizers.get(optimizer)
        self.compilation = None
        if self.built:
            compile_graph(self)

    @property
    def compiled(self):
        return getattr(self, "_compile_args", None) is not None

    @property
    def metrics_names(self):
        """Keras's names of what ``evaluate`` returns, in its order: "loss", then the metrics."""
        compiled = require_compiled(self, "metrics_names")
        return ["loss", *compiled.metrics]

    # ----- fit -----------------------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1, *,
            seed=0, backend="numpy", device="auto", terminate_on_nan=True):
        """Keras's ``fit``: train from ``initial_epoch`` to ``epochs`` over mini-batches; returns the History
        (also ``model.history``, from the start of the call, so an interrupted fit keeps the epochs it finished).

        ``x``/``y`` are arrays, lists in input/output order or dicts by name; ``sample_weight`` weighs examples
        (per output: a list or dict), ``class_weight`` maps a class to a weight (one output). ``validation_freq``
        validates every n-th epoch (or at the listed epochs, from 1). ``verbose``: 0 silent, 1 (or "auto") a
        progress bar, 2 one line per epoch.

        graphcore's own keywords: ``seed`` (the shuffling), ``backend="numpy"`` (the interpreter) or
        ``"onnxruntime"`` (the step exported as a static file for ``batch_size``, a smaller last batch with a
        step of its own, and run by ``export.OnnxTrainer`` on ``device``: "auto" is CUDA when a GPU is usable,
        else CPU; weights and optimizer state end up in the model's session either way),
        and ``terminate_on_nan`` (see the module docstring)."""
        _refuse_steps(steps_per_epoch, validation_steps)
        _refuse_datasets(x)
        self._build_from_data(x)
        compiled = require_compiled(self, "fit")
        _warn_if_trainable_changed(self)
        batch_size = validation.batch_size(batch_size, "fit")
        validation_batch_size = batch_size if validation_batch_size is None else \
            validation.batch_size(validation_batch_size, "fit", "validation_batch_size")
        validation.check_loop(epochs, validation_split, initial_epoch, validation_freq)
        _check_verbose(verbose, "fit")
        data = _training_data(self, x, y, sample_weight, class_weight, purpose="fit")
        if validation_split and validation_data is None:
            data, held_out = data.split(validation.check_split(data.n, validation_split))
        elif validation_data is not None:
            held_out = _training_data(self, *_validation_tuple(validation_data), purpose="fit (validation_data)")
        else:
            held_out = None
        steps = self._training_steps(backend, device, data, batch_size)
        names = ["loss", *compiled.metrics]
        batches = math.ceil(data.n / batch_size)
        params = {"verbose": verbose, "epochs": epochs, "steps": batches, "batch_size": batch_size,
                  "backend": steps.description}
        hooks = CallbackList(callbacks, self, params, add_history=True, add_progbar=verbose != 0)
        history = hooks.history
        history.params, history.model = params, self
        check_nan = terminate_on_nan and not any(isinstance(cb, TerminateOnNaN) for cb in hooks.callbacks)
        rng = np.random.default_rng(seed)
        self.stop_training = False
        hooks.on_train_begin({})
        logs, previous = {}, None
        try:
            for epoch in range(initial_epoch, epochs):
                hooks.on_epoch_begin(epoch, {})
                order = rng.permutation(data.n) if shuffle else np.arange(data.n)
                totals, seen = np.zeros(len(names)), 0
                for b in range(batches):
                    hooks.on_train_batch_begin(b, {})
                    idx = order[b * batch_size:(b + 1) * batch_size]
                    batch = data.take(idx)
                    values = steps.run(*batch, keep_previous=check_nan)
                    if check_nan and not math.isfinite(values[0]):
                        raise _diverged(self, steps, batch, values[0], (epoch, epochs, b, batches), previous)
                    previous = (epoch, b)
                    totals += np.array(values, dtype=np.float64) * len(idx)
                    seen += len(idx)
                    logs = _logged(self, names, totals / seen)
                    hooks.on_train_batch_end(b, logs)
                    if self.stop_training:
                        break
                logs = dict(logs)
                if held_out is not None and _validates(epoch, validation_freq):
                    steps.sync()
                    val = _evaluate(self, held_out, validation_batch_size, hooks)
                    logs.update({f"val_{k}": v for k, v in val.items()})
                steps.sync()
                hooks.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:
            steps.sync()
        hooks.on_train_end(logs)
        return history

    def _training_steps(self, backend, device, data, batch_size):
        """The step runner of a backend: ``run(x, y, weights)`` → [loss, *metrics]; ``sync()`` leaves the
        state in the model's session; ``undo()`` puts back the state of before the last step."""
        make = BACKENDS.get(backend)
        if isinstance(make, str):   # not loaded yet: its module registers it when imported
            importlib.import_module(make)
            make = BACKENDS[backend]
        if make is None:
            raise BuildError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
        return make(self, device, data, batch_size)

    # ----- evaluate / predict --------------------------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Keras's ``evaluate``: the loss (weighted by ``sample_weight``) and metrics over the data in
        inference mode: a number when there are no metrics, else a list in ``metrics_names`` order, or a dict
        with ``return_dict=True``."""
        _refuse_steps(steps)
        _refuse_datasets(x)
        self._build_from_data(x)
        require_compiled(self, "evaluate")
        batch_size = validation.batch_size(batch_size, "evaluate")
        _check_verbose(verbose, "evaluate")
        data = _training_data(self, x, y, sample_weight, purpose="evaluate")
        params = {"verbose": verbose, "epochs": 1, "steps": math.ceil(data.n / batch_size)}
        hooks = CallbackList(callbacks, self, params, add_progbar=verbose != 0)
        return _returned(_evaluate(self, data, batch_size, hooks), return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Keras's ``predict``: the outputs for ``x`` (an array, a list in input order or a dict by input name)
        in inference mode, batch by batch: one array, or a list for several outputs."""
        _refuse_steps(steps)
        _refuse_datasets(x)
        self._build_from_data(x)
        self._require_built("predict")
        batch_size = validation.batch_size(batch_size, "predict")
        _check_verbose(verbose, "predict")
        xs = _as_inputs(self, x, purpose="predict")
        n = len(xs[0])
        params = {"verbose": verbose, "epochs": 1, "steps": math.ceil(n / batch_size)}
        hooks = CallbackList(callbacks, self, params, add_progbar=verbose != 0)
        hooks.on_predict_begin({})
        parts = []
        for b, start in enumerate(range(0, n, batch_size)):
            hooks.on_predict_batch_begin(b, {})
            batch = [v[start:start + batch_size] for v in xs]
            parts.append(self.session.run(self.output_tensors, feed_dict(self, batch)))
            hooks.on_predict_batch_end(b, {"outputs": parts[-1]})
        hooks.on_predict_end({})
        outputs = [np.concatenate([p[i] for p in parts]) for i in range(len(self.outputs))]
        return outputs[0] if len(outputs) == 1 else outputs

    # ----- one batch -----------------------------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, reset_metrics=True,
                       return_dict=False):
        """One optimizer step on the batch; returns its loss and metrics (before the update), as ``evaluate``
        returns them. ``reset_metrics=False`` averages them over the calls since ``reset_metrics()``."""
        self._build_from_data(x)
        require_compiled(self, "train_on_batch")
        data = _training_data(self, x, y, sample_weight, class_weight, purpose="train_on_batch")
        xs, ys, weights = data.take(np.arange(data.n))
        _, *values = self.session.run([self.compilation.train_op, self.compilation.loss,
                                       *self.compilation.metrics.values()],
                                      feed_dict(self, xs, ys, training=True, sample_weight=weights))
        return _batch_result(self, values, data.n, reset_metrics, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True, return_dict=False):
        """The loss and metrics of one batch in inference mode."""
        self._build_from_data(x)
        require_compiled(self, "test_on_batch")
        data = _training_data(self, x, y, sample_weight, purpose="test_on_batch")
        xs, ys, weights = data.take(np.arange(data.n))
        values = self.session.run([self.compilation.loss, *self.compilation.metrics.values()],
                                  feed_dict(self, xs, ys, sample_weight=weights))
        return _batch_result(self, values, data.n, reset_metrics, return_dict)

    def predict_on_batch(self, x):
        """The outputs for one batch (no batching, no callbacks)."""
        self._build_from_data(x)
        self._require_built("predict_on_batch")
        outputs = self.session.run(self.output_tensors, feed_dict(self, _as_inputs(self, x, "predict_on_batch")))
        return outputs[0] if len(outputs) == 1 else outputs

    def reset_metrics(self):
        """Start the running means of ``train_on_batch``/``test_on_batch(reset_metrics=False)`` afresh."""
        self._batch_totals, self._batch_seen = None, 0


def compile_graph(model):
    """Build the training graph from the model's compile arguments (at compile, or once a model compiled
    before it was built gets its input) and keep it as ``model.compilation``."""
    args, optimizer = model._compile_args, model.optimizer
    if args["loss"] is None:
        model.compilation = _training.CompiledModel(optimizer)
        return
    graph = model.graph
    with graph.as_default(), graph.name_scope("training/"):
        assembled = _training.assemble(model.output_tensors, model.output_names, args["loss"], args["loss_weights"],
                                       args["metrics"])
        learning_rate = None
        if isinstance(optimizer.learning_rate, (int, float, np.floating, np.integer)):
            with graph.name_scope(optimizer.name + "/"):   # optimizer state, beside its slots
                learning_rate = Variable(np.float32(optimizer.learning_rate), name="learning_rate", trainable=False)
            optimizer.learning_rate = learning_rate
        elif getattr(optimizer.learning_rate, "node", None) is not None and \
                isinstance(optimizer.learning_rate.node.op, VariableOp):
            learning_rate = optimizer.learning_rate    # compiled before: keep its variable
        total = assembled.loss
        regularization = model.losses
        if regularization:
            total = total + add_n(regularization)
    trainable = model.trainable_weights
    with graph.as_default():
        step = optimizer.minimize(total, trainable) if trainable else group(name="no_trainable_weights")
        updates = [u for layer in model._leaf_layers() if layer.trainable for u in layer.updates]
        train_op = group(step, *updates, name="train_step") if updates else step
    feeds = {learning_phase(graph): np.array(True)}
    for layer in model._leaf_layers():
        feeds.update(layer.training_feeds())
    model.compilation = _training.CompiledModel(
        optimizer, total, train_op, assembled.targets, assembled.sample_weights, assembled.weightable,
        assembled.metrics, assembled.finish, learning_rate, feeds, trainable)
    model.reset_metrics()


def require_compiled(model, purpose="fit or evaluate"):
    """The model's ``CompiledModel``, or the error that says which step is missing for ``purpose``."""
    if getattr(model, "_compile_args", None) is None:
        raise BuildError(f"call model.compile(optimizer, loss) before {purpose}")
    if model.compilation is None:
        raise BuildError(f"the model is not built yet: call model.build(input_shape) or give it data (fit) "
                         f"before {purpose}")
    if model.compilation.loss is None:
        raise BuildError(f"the model was compiled without a loss: call model.compile(optimizer, loss=...) "
                         f"before {purpose}")
    return model.compilation


def feed_dict(model, x, y=None, training=False, sample_weight=None):
    """The feed dict of a batch: inputs ``x`` and (compiled models) targets ``y`` and sample weights, each an
    array, a list in input/output order or a dict by name; ``training`` adds the training step's feeds."""
    xs = x if isinstance(x, list) else _by_name(x, model.input_names, "inputs")
    feed = {ph: np.asarray(v, dtype=ph.dtype) for ph, v in zip(model.input_placeholders, xs)}
    compiled = model.compilation
    if y is not None:
        ys = y if isinstance(y, list) else _by_name(y, model.output_names, "targets")
        for targets, value in zip(compiled.targets, ys):
            if targets is not None:
                feed[targets] = np.asarray(value, dtype=targets.dtype)
        for weights, value in zip(compiled.sample_weights, sample_weight or []):
            if weights is not None and value is not None:
                feed[weights] = np.asarray(value, dtype=weights.dtype)
    if training:
        feed.update(compiled.training_feeds if compiled else {learning_phase(model.graph): np.array(True)})
    return feed


def _logged(model, names, means):
    """The logs of ``names`` from their means (RMSE logs the root of its mean)."""
    finish = model.compilation.finish
    return {n: float(finish[n](v)) if n in finish else float(v) for n, v in zip(names, means)}


def _warn_if_trainable_changed(model):
    """Keras 2's warning: ``trainable`` flags changed since compile take effect at the next compile."""
    if set(model.trainable_weights) != set(model.compilation.trainable):
        warnings.warn("Discrepancy between trainable weights and the weights compile() collected: did you set "
                      "`trainable` without calling `model.compile()` after? (The flags take effect at the next "
                      "compile, as in Keras.)", stacklevel=3)


def _diverged(model, steps, batch, loss, step, previous):
    """The ``DivergenceError`` of a step whose loss is ``loss`` (not finite): put back the weights of
    before the step, then run its forward pass again, checking every tensor, to name the first bad one."""
    steps.undo()
    epoch, epochs, b, batches = step
    kind = "NaN" if math.isnan(loss) else "Inf"
    where = f"fit: the loss became {kind} at epoch {epoch + 1}/{epochs}, batch {b + 1}/{batches}"
    fix = ("Lower the learning rate, clip the gradients (e.g. gc.optimizers.Adam(clipnorm=1.0)) or rescale the "
           "data; fit(terminate_on_nan=False) trains on regardless, and callbacks.TerminateOnNaN() stops quietly "
           "as in Keras.")
    site = f"\n  at {creation_site()}"
    x, y, weights = batch
    try:
        model.session.run(model.compilation.loss, feed_dict(model, x, y, training=True, sample_weight=weights),
                         check_numerics=True)
    except NumericsError as e:
        node = e.node
        if isinstance(node.op, VariableOp):
            by = (f"the update of epoch {previous[0] + 1}, batch {previous[1] + 1}" if previous
                  else "an earlier fit or set_weights")
            first = (f"the first non-finite tensor is the variable '{node.name}': {by} made it NaN or Inf "
                     "(the weights are left as that update wrote them)")
        else:
            first = (f"the first non-finite tensor of that step is {e.detail.replace('check_numerics: ', '')}; "
                     "the weights are restored to their values before that step")
        return DivergenceError(f"{where}: {first}. {fix}{site}", node)
    return DivergenceError(f"{where} in {steps.description}; run again on the weights of before that step (now "
                           f"restored) in the interpreter, every tensor of the step's forward pass is finite (a "
                           f"random op, or the backend, differs). {fix}{site}")


def _evaluate(model, data, batch_size, hooks):
    """Loss and metrics over ``data``; ``hooks`` may be fit's CallbackList (validation calls its
    ``on_test_*`` hooks, as Keras's does)."""
    compiled = model.compilation
    fetches = [compiled.loss, *compiled.metrics.values()]
    names = ["loss", *compiled.metrics]
    hooks.on_test_begin({})
    totals = np.zeros(len(names))
    for b, start in enumerate(range(0, data.n, batch_size)):
        hooks.on_test_batch_begin(b, {})
        idx = np.arange(start, min(start + batch_size, data.n))
        x, y, weights = data.take(idx)
        values = model.session.run(fetches, feed_dict(model, x, y, sample_weight=weights))
        totals += np.array(values, dtype=np.float64) * len(idx)
        hooks.on_test_batch_end(b, _logged(model, names, totals / (start + len(idx))))
    results = _logged(model, names, totals / data.n)
    hooks.on_test_end(results)
    return results


def _batch_result(model, values, n, reset, return_dict):
    if reset or model._batch_totals is None:
        model.reset_metrics()
        model._batch_totals = np.zeros(len(values))
    model._batch_totals += np.array(values, np.float64) * n
    model._batch_seen += n
    names = ["loss", *model.compilation.metrics]
    return _returned(_logged(model, names, model._batch_totals / model._batch_seen), return_dict)


def _returned(results, return_dict):
    """Keras's return type: the dict, the loss alone, or [loss, *metrics]."""
    if return_dict:
        return results
    values = list(results.values())
    return values[0] if len(values) == 1 else values


def _validates(epoch, freq):
    if isinstance(freq, (list, tuple, range)):
        return epoch + 1 in freq
    return (epoch + 1) % freq == 0


def _check_verbose(verbose, purpose):
    if verbose not in ("auto", 0, 1, 2):
        raise BuildError(f"{purpose}: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")


def _refuse_steps(*values):
    if any(v is not None for v in values):
        raise CompatError(f"steps arguments: {STEPS}")


def _refuse_datasets(x):
    """x must be data: not None, not a generator, dataset or Keras Sequence."""
    if x is None or hasattr(x, "__next__") or hasattr(x, "element_spec") or \
            any(k.__name__ in ("PyDataset", "Sequence") for k in type(x).__mro__):
        raise CompatError(f"x is {type(x).__name__}: {DATASETS}")


def _validation_tuple(validation_data):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise CompatError(f"validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight); "
                          f"got {type(validation_data).__name__}. {DATASETS}")
    return validation_data


class _InterpreterSteps:
    """Training steps in the NumPy interpreter: the state lives in the session already. The state before a
    step is kept by reference (updates write new arrays, never into the old ones), so ``undo`` is free."""

    description = "the NumPy interpreter"

    def __init__(self, model):
        compiled = model.compilation
        self.model = model
        self.fetches = [compiled.train_op, compiled.loss, *compiled.metrics.values()]
        self.previous = None

    def run(self, x, y, weights, keep_previous=False):
        variables = self.model.session.variables
        self.previous = dict(variables) if keep_previous else None
        _, *values = self.model.session.run(self.fetches, feed_dict(self.model, x, y, training=True,
                                                                            sample_weight=weights))
        return values

    def undo(self):
        self.model.session.variables.update(self.previous)

    def sync(self):
        pass


def register_backend(name, make_steps):
    """Make ``fit(backend=name)`` train with the step runner ``make_steps(model, device, data, batch_size)``
    returns: ``run(x, y, weights, keep_previous=False)`` → [loss, *metrics], ``undo()``, ``sync()`` and a
    ``description`` (``_InterpreterSteps`` is one)."""
    BACKENDS[name] = make_steps


#: ``fit``'s backends: a name → its ``make_steps``, or the module that registers it when imported (as an entry
#: point names its module). onnxruntime's steps live in graphcore.export, above the engine, which the training
#: layer never imports: the first ``fit(backend="onnxruntime")`` loads it by this name.
BACKENDS = {"numpy": lambda model, device, data, batch_size: _InterpreterSteps(model),
            "onnxruntime": "graphcore.export.trainer"}


# ----- data: Keras's forms, normalised to lists of checked arrays ---------------------------------------------
def _by_name(values, names, what):
    """A dict keyed by input or output name as a list in the model's order."""
    if not isinstance(values, dict):
        return [values]
    missing = [n for n in names if n not in values]
    unknown = sorted(set(values) - set(names))
    if missing or unknown:
        raise BuildError(f"{what} given by name need exactly {names}; missing {missing}, unknown {unknown}")
    return [values[n] for n in names]


def _as_inputs(model, x, purpose):
    """One checked array per model input (``validation.check_inputs``), from an array, a list or a dict."""
    if isinstance(x, dict):
        x = _by_name(x, model.input_names, "inputs")
    checked = validation.check_inputs(model, x, purpose)
    return checked if isinstance(checked, list) else [checked]


class _TrainingData:
    """Inputs, targets and per-output sample weights (None: unweighted) as lists of arrays, by rows."""

    def __init__(self, x, y, weights):
        self.x, self.y, self.weights = x, y, weights
        self.n = len(x[0])

    def take(self, idx):
        return ([a[idx] for a in self.x], [a[idx] for a in self.y],
                [None if w is None else w[idx] for w in self.weights])

    def split(self, cut):
        head, tail = np.arange(cut), np.arange(cut, self.n)
        return _TrainingData(*self.take(head)), _TrainingData(*self.take(tail))


def _training_data(model, x, y, sample_weight=None, class_weight=None, purpose="fit"):
    """Keras's accepted forms of data for fit/evaluate, normalised and checked: one array or a list/dict per
    input and output, sample weights one array or a list/dict per output, class weights for one output."""
    names = model.output_names
    if y is None:
        raise CompatError(f"{purpose}: y is None. {DATASETS}")
    if isinstance(y, (list, tuple)) and (len(names) > 1 or (len(y) == 1 and isinstance(y[0], np.ndarray))):
        ys = list(y)   # one array per output (a one-output model's plain list of labels is the labels)
    else:
        ys = _by_name(y, names, "targets")
    if len(ys) != len(names):
        raise BuildError(f"the model has {len(names)} outputs {names}, got {len(ys)} target arrays")
    xs = _as_inputs(model, x, purpose)
    n = len(xs[0])
    ys = [validation.check_targets(model, v, n, purpose, output=k) for k, v in enumerate(ys)]
    if sample_weight is None:
        weights = [None] * len(names)
    elif isinstance(sample_weight, dict) or len(names) > 1:
        weights = _training.per_output(sample_weight, names, "sample_weight")
    else:
        weights = [sample_weight]
    weights = [None if w is None else validation.check_sample_weight(w, n, name, purpose)
               for w, name in zip(weights, names)]
    if class_weight is not None:
        if len(names) != 1:
            raise BuildError("class_weight supports one-output models (as in Keras); use sample_weight per output")
        validation.check_class_weight(class_weight, purpose)
        from_classes = _training.class_weights_to_sample_weights(ys[0], class_weight).astype(np.float32)
        weights[0] = from_classes if weights[0] is None else weights[0] * from_classes
    for name, w, weightable in zip(names, weights, model.compilation.weightable):
        if w is not None and not weightable:
            raise BuildError(f"sample weights for output {name!r}: its loss returns one number for the batch, "
                             "not one per example, so it cannot be weighted")
    return _TrainingData(xs, ys, weights)
