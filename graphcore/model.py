"""Keras-style models over one graph: functional ``Model(inputs, outputs)`` and ``Sequential``.

A model is a view of the layer calls between its inputs and outputs in its graph. ``compile`` adds the
training graph (labels, loss, optimizer updates, batch-norm updates, metrics) to the same graph; training and
inference differ only by the learning-phase switch ``fit`` feeds. Weights live in the graph's session.
Model files are one ``.npz`` archive (architecture as JSON plus the weights), written atomically, no pickle.
"""
import json
import math

import numpy as np

from . import layers as _layers
from . import train as _train
from . import training as _training
from . import validation
from .errors import BuildError, FileFormatError, GraphcoreError
from .graph import Graph
from .io import load_arrays, save_arrays
from .layers.base import InputLayer, _as_list, layer_calls, learning_phase, model_scope, session_for
from .ops.state import Variable, group, placeholder
from .shapes import format_shape

_FORMAT = "graphcore-model-1"


class Model:
    """A functional model: ``Model(inputs, outputs)`` over tensors produced by layer calls."""

    def __init__(self, inputs, outputs, name=None):
        self.graph = _as_list(inputs)[0].graph
        self.name = name or "model"
        self.inputs, self.outputs = _as_list(inputs), _as_list(outputs)
        self._trace()

    # ----- structure ----------------------------------------------------------------------------------------
    def _trace(self):
        """Find the layer calls between inputs and outputs (in call order) and the input placeholders."""
        calls = layer_calls(self.graph)
        producer = {t: index for index, (_, _, outs) in enumerate(calls) for t in outs}
        needed, stack, seen = set(), [t for t in self.outputs], set()
        while stack:
            t = stack.pop()
            index = producer.get(t)
            if index is None:           # a graph op between layers (x * weights): look through it
                if t not in seen:
                    seen.add(t)
                    stack.extend(t.node.inputs)
                continue
            if index in needed:
                continue
            needed.add(index)
            if not isinstance(calls[index][0], InputLayer):
                stack.extend(calls[index][1])
        self._calls = [calls[i] for i in sorted(needed)]
        self.layers = list(dict.fromkeys(layer for layer, _, _ in self._calls))
        inputs_by_tensor = {outs[0]: layer for layer, _, outs in self._calls if isinstance(layer, InputLayer)}
        missing = [t for t in self.inputs if t not in inputs_by_tensor]
        if missing:
            raise BuildError(f"model inputs must come from gc.Input(...): {[t.name for t in missing]}")
        self.input_layers = [inputs_by_tensor[t] for t in self.inputs]
        self._compiled = None

    @property
    def input_placeholders(self):
        return [layer.placeholder for layer in self.input_layers]

    @property
    def output_tensors(self):
        """The outputs (in the user's layout, like every tensor layers return)."""
        return list(self.outputs)

    @property
    def session(self):
        return session_for(self.graph)

    @property
    def weights(self):
        """Each weight once, in layer order (a layer shared by a nested model is counted once)."""
        return list(dict.fromkeys(w for layer in self.layers for w in layer.weights))

    @property
    def trainable_variables(self):
        return [w for w in self.weights if w.trainable]

    trainable_weights = trainable_variables

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable]

    def count_params(self):
        return int(sum(np.prod(w.shape) for w in self.weights))

    def get_layer(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}")

    def get_weights(self):
        return [w for layer in self._weight_owners() for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        for layer in self._weight_owners():
            n = len(layer.weights)
            layer.set_weights(weights[:n])
            weights = weights[n:]

    def _weight_owners(self):
        """The plain layers that own this model's weights, each once, nested models opened."""
        owners = []
        for layer in self.layers:
            owners += layer._weight_owners() if isinstance(layer, Model) else [layer]
        return list(dict.fromkeys(owners))

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows a model as its diagram, and a one-line summary as text (graphcore.diagram.notebook)."""
        from .diagram.notebook import mimebundle
        return mimebundle(self, include, exclude)

    def _repr_svg_(self):
        from .diagram.notebook import svg
        return svg(self)

    def summary(self, print_fn=print):
        """A Keras-style table: layer (type), output shape, parameter count; totals at the end."""
        rows = [(f"{layer.name} ({type(layer).__name__})", str(layer.output_shape), f"{layer.count_params():,}")
                for layer in self.layers]
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in
                  enumerate(("Layer (type)", "Output Shape", "Param #"))]
        line = "=" * sum(widths)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        print_fn("".join(h.ljust(w) for h, w in zip(("Layer (type)", "Output Shape", "Param #"), widths)))
        print_fn(line)
        for r in rows:
            print_fn("".join(c.ljust(w) for c, w in zip(r, widths)))
        trainable = int(sum(np.prod(w.shape) for w in self.trainable_variables))
        total = self.count_params()
        print_fn(line)
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")

    # ----- training -----------------------------------------------------------------------------------------
    @property
    def output_names(self):
        """Keras's output names: the layer that produces each output (with ``_<k>`` for its k-th output)."""
        names = []
        for t in self.outputs:
            for layer, _, outs in self._calls:
                if t in outs:
                    names.append(layer.name if len(outs) == 1 else f"{layer.name}_{outs.index(t)}")
                    break
            else:
                names.append(t.node.name)
        return names

    @property
    def input_names(self):
        return [layer.name for layer in self.input_layers]

    def compile(self, optimizer="adam", loss="sparse_categorical_crossentropy", metrics=None, loss_weights=None):
        """Add labels, sample weights, losses, optimizer updates, batch-norm updates and metrics to the graph.

        ``loss``, ``metrics`` and ``loss_weights`` take one value for all outputs, a list in output order or
        a dict by output name (``model.output_names``), as in Keras. A numeric learning rate becomes a
        non-trainable variable so that callbacks can change it between steps."""
        with self.graph.as_default(), self.graph.name_scope("training/"):
            assembled = _training.assemble(self.output_tensors, self.output_names, loss, loss_weights, metrics)
            optimizer = _train.get(optimizer)
            learning_rate = None
            if isinstance(optimizer.learning_rate, (int, float, np.floating, np.integer)):
                with self.graph.name_scope(optimizer.name + "/"):   # optimizer state, beside its slots
                    learning_rate = Variable(np.float32(optimizer.learning_rate), name="learning_rate",
                                             trainable=False)
                optimizer.learning_rate = learning_rate
        step = optimizer.minimize(assembled.loss, self.trainable_variables)
        updates = [u for layer in self.layers for u in layer.updates]
        with self.graph.as_default():
            train_op = group(step, *updates, name="train_step") if updates else step
        self.optimizer = optimizer
        self._compiled = {"targets": assembled.targets[0], "target_list": assembled.targets,
                          "sample_weights": assembled.sample_weights, "weightable": assembled.weightable,
                          "loss": assembled.loss, "metrics": assembled.metrics, "train_op": train_op,
                          "learning_rate": learning_rate}

    def _require_compiled(self):
        if self._compiled is None:
            raise BuildError("call model.compile(...) before fit or evaluate")
        return self._compiled

    def _feed(self, x, y=None, training=False, sample_weight=None):
        feed = {ph: np.asarray(v, dtype=ph.dtype) for ph, v in zip(self.input_placeholders, x if isinstance(
            x, list) else _by_name(x, self.input_names, "inputs"))}
        if y is not None:
            compiled = self._compiled
            ys = y if isinstance(y, list) else _by_name(y, self.output_names, "targets")
            for targets, value in zip(compiled["target_list"], ys):
                if targets is not None:
                    feed[targets] = np.asarray(value, dtype=targets.dtype)
            for weights, value in zip(compiled["sample_weights"], sample_weight or []):
                if weights is not None and value is not None:
                    feed[weights] = np.asarray(value, dtype=weights.dtype)
        if training:
            feed[learning_phase(self.graph)] = np.array(True)
        return feed

    def fit(self, x, y, epochs=1, batch_size=32, validation_split=0.0, validation_data=None, shuffle=True,
            verbose=1, seed=0, backend="numpy", device="auto", callbacks=None, sample_weight=None,
            class_weight=None):
        """Train for ``epochs`` over mini-batches; returns a History of per-epoch loss and metrics.

        ``x`` and ``y`` are arrays, lists in input/output order or dicts by name; ``sample_weight`` weighs
        examples (per output: a list or dict), ``class_weight`` maps a class to a weight (one output).
        ``callbacks`` are ``gc.callbacks.Callback`` objects called at Keras's hooks.
        ``backend="numpy"`` runs the step in the interpreter; ``"onnxruntime"`` exports the step as a static
        file (``export.to_onnx(model, training=True, batch_size=batch_size)``; a smaller last batch gets a
        step of its own) and runs it with ``export.OnnxTrainer`` on ``device`` ("auto": CUDA when a GPU is
        usable, else CPU). Either way the weights and optimizer state end up in the model's session, and
        validation and History are the same."""
        from .progress import progress_bar
        from .callbacks import CallbackList
        compiled = self._require_compiled()
        validation.check_loop(epochs, batch_size, validation_split)
        data = _training_data(self, x, y, sample_weight, class_weight, purpose="fit")
        if validation_split and validation_data is None:
            cut = int(data.n * (1 - validation_split))
            data, held_out = data.split(cut)
        else:
            held_out = None if validation_data is None else _training_data(self, *validation_data,
                                                                           purpose="fit (validation_data)")
        steps = self._training_steps(backend, device, data, batch_size)
        names = ["loss", *compiled["metrics"]]
        history, rng = _training.History(), np.random.default_rng(seed)
        history.params = {"epochs": epochs, "batch_size": batch_size, "backend": steps.description,
                          "steps": math.ceil(data.n / batch_size), "verbose": verbose}
        history.model = self
        hooks = CallbackList(callbacks, self, history.params)
        self.stop_training = False
        hooks.on_train_begin({})
        try:
            for epoch in range(epochs):
                hooks.on_epoch_begin(epoch, {})
                order = rng.permutation(data.n) if shuffle else np.arange(data.n)
                totals, seen = np.zeros(len(names)), 0
                batches = range(math.ceil(data.n / batch_size))
                bar = progress_bar(batches, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", disable=not verbose,
                                   leave=True)
                for b in bar:
                    hooks.on_train_batch_begin(b, {})
                    idx = order[b * batch_size:(b + 1) * batch_size]
                    values = steps.run(*data.take(idx))
                    totals += np.array(values, dtype=np.float64) * len(idx)
                    seen += len(idx)
                    logs = {n: t / seen for n, t in zip(names, totals)}
                    bar.set_postfix({n: f"{v:.4f}" for n, v in logs.items()}, refresh=False)
                    hooks.on_train_batch_end(b, logs)
                    if self.stop_training:
                        break
                logs = {n: t / seen for n, t in zip(names, totals)}
                if held_out is not None:
                    steps.sync()
                    val = self._evaluate(held_out, batch_size, hooks)
                    logs.update({f"val_{k}": v for k, v in val.items()})
                if verbose:
                    bar.write("  ".join(f"{k}: {v:.4g}" for k, v in logs.items()))
                steps.sync()
                hooks.on_epoch_end(epoch, logs)
                history.record(epoch, logs)
                if self.stop_training:
                    break
        finally:
            steps.sync()
        hooks.on_train_end({})
        self.history = history
        return history

    def _training_steps(self, backend, device, data, batch_size):
        """The step runner of a backend: ``run(x, y, weights)`` → [loss, *metrics]; ``sync()`` leaves the
        state in the model's session."""
        if backend == "numpy":
            return _InterpreterSteps(self)
        if backend == "onnxruntime":
            from graphcore.export.trainer import FitSteps
            if len(self.inputs) != 1 or len(self.outputs) != 1 or any(w is not None for w in data.weights):
                raise BuildError("fit(backend='onnxruntime') trains one-input, one-output models without "
                                 "sample or class weights; use backend='numpy' for the others")
            key = ("onnxruntime", device)
            if getattr(self, "_onnx_steps", (None, None))[0] != key:
                self._onnx_steps = (key, FitSteps(self, device, batch_size=min(batch_size, data.n)))
            steps = self._onnx_steps[1]
            steps.load_from_session()   # weights set since the last fit (set_weights, the interpreter) count
            return _OnnxSteps(steps)
        raise BuildError(f"backend must be 'numpy' or 'onnxruntime', got {backend!r}")

    def evaluate(self, x, y, batch_size=32, return_dict=False, sample_weight=None, callbacks=None):
        """Loss (and metrics) over the data in inference mode; the loss weighs examples by ``sample_weight``."""
        self._require_compiled()
        validation.check_loop(1, batch_size, 0.0)
        data = _training_data(self, x, y, sample_weight, purpose="evaluate")
        results = self._evaluate(data, batch_size, callbacks)
        if return_dict:
            return results
        return results["loss"] if len(results) == 1 else list(results.values())

    def _evaluate(self, data, batch_size, callbacks=None):
        """Loss and metrics over ``data``; ``callbacks`` may be fit's CallbackList (validation calls its
        ``on_test_*`` hooks, as Keras's does)."""
        from .callbacks import CallbackList
        compiled = self._compiled
        fetches = [compiled["loss"], *compiled["metrics"].values()]
        names = ["loss", *compiled["metrics"]]
        hooks = callbacks if isinstance(callbacks, CallbackList) else CallbackList(callbacks, self)
        hooks.on_test_begin({})
        totals = np.zeros(len(names))
        for b, start in enumerate(range(0, data.n, batch_size)):
            hooks.on_test_batch_begin(b, {})
            idx = np.arange(start, min(start + batch_size, data.n))
            x, y, weights = data.take(idx)
            values = self.session.run(fetches, self._feed(x, y, sample_weight=weights))
            totals += np.array(values, dtype=np.float64) * len(idx)
            hooks.on_test_batch_end(b, dict(zip(names, totals / (start + len(idx)))))
        results = dict(zip(names, totals / data.n))
        hooks.on_test_end(results)
        return results

    def predict(self, x, batch_size=32, callbacks=None):
        """Outputs for ``x`` (an array, a list in input order or a dict by input name) in inference mode,
        batch by batch."""
        from .callbacks import CallbackList
        xs = _as_inputs(self, x, purpose="predict")
        n = len(xs[0])
        hooks = CallbackList(callbacks, self)
        hooks.on_predict_begin({})
        parts = []
        for b, start in enumerate(range(0, n, batch_size)):
            hooks.on_predict_batch_begin(b, {})
            parts.append(self.session.run(self.output_tensors, self._feed([v[start:start + batch_size] for v in xs])))
            hooks.on_predict_batch_end(b, {"outputs": parts[-1]})
        hooks.on_predict_end({})
        outputs = [np.concatenate([p[i] for p in parts]) for i in range(len(self.outputs))]
        return outputs[0] if len(outputs) == 1 else outputs

    # ----- a model is a layer --------------------------------------------------------------------------------
    def __call__(self, inputs):
        """Apply the model to new tensors, reusing its layers and weights (a shared encoder, a GAN's
        generator inside the combined model). The call's ops go under the model's name scope, and the bigger
        model sees this model as one of its layers."""
        xs = _as_list(inputs)
        if len(xs) != len(self.inputs):
            raise BuildError(f"model {self.name} takes {len(self.inputs)} inputs, got {len(xs)}")
        if any(getattr(x, "graph", None) is not self.graph for x in xs):
            raise BuildError(f"model {self.name} can only be called on tensors of its own graph: build the "
                             f"bigger model inside `with model.graph.as_default():` (a gc.Sequential has a "
                             "graph of its own)")
        for x, t in zip(xs, self.inputs):
            if x.ndim != t.ndim or not all(a is None or b is None or a == b for a, b in zip(x.shape, t.shape)):
                raise BuildError(f"model {self.name}: input of shape {x.shape} does not fit {t.shape}")
        calls = layer_calls(self.graph)
        start = len(calls)
        mapping = dict(zip(self.inputs, xs))
        with model_scope(self.graph, self.name):
            for layer, ins, outs in self._calls:
                if isinstance(layer, InputLayer):
                    continue
                if any(t not in mapping for t in ins):
                    raise BuildError(f"model {self.name} has graph ops between its layers (before "
                                     f"{layer.name}); only models built from layers can be called on new tensors")
                args = [mapping[t] for t in ins]
                mapping.update(zip(outs, _as_list(layer(args[0] if len(args) == 1 else args))))
        outputs = [mapping[t] for t in self.outputs]
        del calls[start:]                       # the inner calls belong to this model's one call
        calls.append((self, xs, outputs))
        self.output = outputs[0] if len(outputs) == 1 else outputs
        return self.output

    @property
    def output_shape(self):
        output = getattr(self, "output", None)
        outputs = self.outputs if output is None else _as_list(output)
        shapes = [t.shape for t in outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def updates(self):
        return [u for layer in self.layers for u in layer.updates]

    # ----- files ---------------------------------------------------------------------------------------------
    def to_config(self):
        """The architecture as JSON-able data: layer classes and constructor arguments, and the call graph."""
        index = {layer: i for i, layer in enumerate(self.layers)}
        where = {}
        calls = []
        for call_index, (layer, ins, outs) in enumerate(self._calls):
            for k, t in enumerate(outs):
                where[t] = (call_index, k)
            if not isinstance(layer, InputLayer) and any(t not in where for t in ins):
                raise BuildError(f"layer {layer.name} reads a tensor made by graph ops, not by a layer; only "
                                 "models built from layers can be saved")
            refs = [] if isinstance(layer, InputLayer) else [where[t] for t in ins]
            calls.append({"layer": index[layer], "inputs": refs})
        missing = [t.name for t in self.outputs if t not in where]
        if missing:
            raise BuildError(f"outputs {missing} are not produced by layers; only layer graphs can be saved")
        layers = [{"class": "Model", "name": layer.name, "config": layer.to_config()} if isinstance(layer, Model)
                  else {"class": type(layer).__name__, "name": layer.name, "config": _layer_config(layer)}
                  for layer in self.layers]
        return {"format": _FORMAT, "name": self.name, "layers": layers, "calls": calls,
                "inputs": [where[t] for t in self.inputs], "outputs": [where[t] for t in self.outputs]}

    def save(self, path):
        """Architecture and weights in one ``.npz`` file, written atomically."""
        arrays = {"architecture": np.array(json.dumps(self.to_config(), default=str))}
        values = self.session.run(self.weights) if self.weights else []
        arrays.update({f"weight_{i:04d}": v for i, v in enumerate(values)})
        save_arrays(path, arrays)
        return path


class _InterpreterSteps:
    """Training steps in the NumPy interpreter: the state lives in the session already."""

    description = "the NumPy interpreter"

    def __init__(self, model):
        compiled = model._compiled
        self.model = model
        self.fetches = [compiled["train_op"], compiled["loss"], *compiled["metrics"].values()]

    def run(self, x, y, weights):
        _, *values = self.model.session.run(self.fetches, self.model._feed(x, y, training=True,
                                                                            sample_weight=weights))
        return values

    def sync(self):
        pass


class _OnnxSteps:
    """The exported step (one input, one output, unweighted) behind the interpreter's ``run`` signature; a
    learning rate a callback changes reaches the file as one of its parameters (``FitSteps.run``)."""

    def __init__(self, steps):
        self.steps, self.description = steps, steps.description

    def run(self, x, y, weights):
        return self.steps.run(x[0], y[0])

    def sync(self):
        self.steps.sync()


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
        sizes = {len(a) for a in x + y + [w for w in weights if w is not None]}
        if len(sizes) != 1:
            raise BuildError(f"inputs, targets and sample weights must have the same number of rows, got {sizes}")
        self.n = sizes.pop()

    def take(self, idx):
        return ([a[idx] for a in self.x], [a[idx] for a in self.y],
                [None if w is None else w[idx] for w in self.weights])

    def split(self, cut):
        head, tail = np.arange(cut), np.arange(cut, self.n)
        return _TrainingData(*self.take(head)), _TrainingData(*self.take(tail))


def _training_data(model, x, y, sample_weight=None, class_weight=None, purpose="fit"):
    """Keras's accepted forms of data for fit/evaluate, normalised: one array or a list/dict per input and
    output, sample weights one array or a list/dict per output, class weights for one output."""
    names = model.output_names
    if isinstance(y, (list, tuple)) and (len(names) > 1 or (len(y) == 1 and isinstance(y[0], np.ndarray))):
        ys = list(y)   # one array per output (a one-output model's plain list of labels is the labels)
    else:
        ys = _by_name(y, names, "targets")
    if len(ys) != len(names):
        raise BuildError(f"the model has {len(names)} outputs {names}, got {len(ys)} target arrays")
    xs = _as_inputs(model, x, purpose)
    ys = [validation.check_targets(model, v, len(xs[0]), purpose, output=k) for k, v in enumerate(ys)]
    if sample_weight is None:
        weights = [None] * len(names)
    elif isinstance(sample_weight, dict) or len(names) > 1:
        weights = _training.per_output(sample_weight, names, "sample_weight")
    else:
        weights = [sample_weight]
    weights = [None if w is None else np.asarray(w, np.float64) for w in weights]
    if class_weight is not None:
        if len(names) != 1:
            raise BuildError("class_weight supports one-output models (as in Keras); use sample_weight per output")
        from_classes = _training.class_weights_to_sample_weights(ys[0], class_weight)
        weights[0] = from_classes if weights[0] is None else weights[0] * from_classes
    for name, w, weightable in zip(names, weights, model._compiled["weightable"]):
        if w is not None and (w.ndim != 1 or not weightable):
            raise BuildError(f"sample weights for output {name!r}: need one weight per example of an output "
                             f"with a per-example loss; got shape {w.shape}")
    return _TrainingData(xs, ys, weights)


def _layer_config(layer):
    """A layer's constructor arguments as JSON-able data; wrapped layers (Bidirectional, TimeDistributed)
    nest as ``{"layer": class name, "config": ...}``."""
    from .layers.base import Layer
    config = {}
    for key, value in layer.get_config().items():
        if isinstance(value, Layer):
            value = {"layer": type(value).__name__, "config": _layer_config(value)}
        elif callable(value):
            raise BuildError(f"layer {layer.name}: argument {key}={value!r} is a function; "
                             "use a name (e.g. activation='relu') to make the model saveable")
        config[key] = value
    return config


def _layer_from_config(class_name, config):
    from . import layers as layer_module
    config = {k: _layer_from_config(v["layer"], v["config"]) if isinstance(v, dict) and set(v) == {"layer", "config"}
              else v for k, v in config.items()}
    cls = getattr(layer_module, str(class_name), None)
    if not (isinstance(cls, type) and issubclass(cls, layer_module.Layer)):
        raise BuildError(f"unknown layer class {class_name!r}")
    return cls(**config)


class Sequential(Model):
    """A stack of layers; the first needs ``input_shape`` (or add a ``gc.Input`` first)."""

    def __init__(self, layers=None, name=None):
        self.graph = Graph()
        self.name = name or "sequential"
        self.inputs, self.outputs, self.layers, self._calls = [], [], [], []
        self._compiled = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if not self.outputs:
            if layer.input_shape_arg is None:
                raise BuildError(f"the first layer of a Sequential model needs input_shape=..., got {layer}")
            self.inputs = [_layers.Input(layer.input_shape_arg, graph=self.graph)]
            self.outputs = list(self.inputs)
        self.outputs = [layer(self.outputs[0])]
        self._trace()


def _rebuild(config, graph=None):
    """A model from ``to_config`` data, in a fresh graph (or in ``graph``, for a nested model)."""
    graph = graph or Graph()
    with graph.as_default():
        built_layers = []
        for spec in config["layers"]:
            if spec["class"] == "InputLayer":
                built_layers.append(InputLayer(**spec["config"]))
            elif spec["class"] == "Model":
                built_layers.append(_rebuild(spec["config"], graph))
            else:
                built_layers.append(_layer_from_config(spec["class"], {**spec["config"], "name": spec["name"]}))
        results = []
        for call in config["calls"]:
            layer = built_layers[call["layer"]]
            if isinstance(layer, InputLayer):
                results.append([layer.create(graph)])
            else:
                ins = [results[c][k] for c, k in call["inputs"]]
                results.append(_as_list(layer(ins[0] if len(ins) == 1 else ins)))
        inputs = [results[c][k] for c, k in config["inputs"]]
        outputs = [results[c][k] for c, k in config["outputs"]]
    return Model(inputs, outputs, name=config["name"])


def load_model(path):
    """Rebuild a model saved with ``Model.save`` (architecture and weights) in a fresh graph.

    Anything wrong with the file — truncated, a changed byte, an edited architecture, weights that do not
    fit it, another format version — raises a ``FileFormatError`` naming the file and the problem."""
    arrays = load_arrays(path)
    if "architecture" not in arrays:
        raise FileFormatError(f"{path} is not a graphcore model file (no architecture entry; a checkpoint "
                              "written by gc.train.Saver is restored with Saver.restore)")
    try:
        config = json.loads(str(arrays["architecture"]))
    except ValueError as e:
        raise FileFormatError(f"{path}: the architecture is not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != _FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise FileFormatError(f"{path}: unsupported model format {found!r}; this graphcore "
                              f"({_version()}) reads {_FORMAT!r}")
    try:
        model = _rebuild(config)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
        detail = e.detail if isinstance(e, GraphcoreError) else f"{type(e).__name__}: {e}"
        raise FileFormatError(f"{path}: the architecture cannot be rebuilt ({detail.splitlines()[0]})") from None
    for i, var in enumerate(model.weights):
        value = arrays.get(f"weight_{i:04d}")
        if value is None:
            raise FileFormatError(f"{path}: weight_{i:04d} ({var.name}) is missing")
        if value.shape != var.shape or value.dtype != var.dtype:
            raise FileFormatError(f"{path}: weight {var.name} is {value.dtype.name}{format_shape(value.shape)}, "
                                  f"the architecture needs {var.dtype.name}{format_shape(var.shape)}")
        model.session.variables[var.node.name] = np.array(value)
    return model


def _version():
    from . import __version__
    return __version__
