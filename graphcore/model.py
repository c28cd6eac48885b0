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
from .layers.base import InputLayer, _as_list, layer_calls, learning_phase, session_for
from .ops.array import transpose
from .ops.state import group, placeholder
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
        needed, stack = set(), [t for t in self.outputs]
        while stack:
            t = stack.pop()
            index = producer.get(t)
            if index is None or index in needed:
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
        self._user_outputs = None
        self._compiled = None

    @property
    def input_placeholders(self):
        return [layer.placeholder for layer in self.input_layers]

    @property
    def output_tensors(self):
        """The outputs in the user's layout (images back to channels-last), built once."""
        if self._user_outputs is None:
            with self.graph.as_default(), self.graph.name_scope("outputs/"):
                self._user_outputs = [transpose(t, (0, 2, 3, 1)) if t.ndim == 4 else t for t in self.outputs]
        return self._user_outputs

    @property
    def session(self):
        return session_for(self.graph)

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_variables(self):
        return [w for w in self.weights if w.trainable]

    trainable_weights = trainable_variables

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable]

    def count_params(self):
        return int(sum(layer.count_params() for layer in self.layers))

    def get_layer(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}")

    def get_weights(self):
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(weights[:n])
            weights = weights[n:]

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
    def compile(self, optimizer="adam", loss="sparse_categorical_crossentropy", metrics=None):
        """Add labels, loss, optimizer updates, batch-norm updates and metrics to the graph."""
        if len(self.outputs) != 1:
            raise BuildError("compile supports single-output models")
        output = self.output_tensors[0]
        loss_name = loss if isinstance(loss, str) else None
        with self.graph.as_default(), self.graph.name_scope("training/"):
            dtype, shape = _training.target_spec(loss_name, output)
            targets = placeholder(dtype, shape, name="targets")
            loss_tensor = _training.get_loss(loss)(targets, output)
            metric_tensors = {m: _training.get_metric(m, loss_name, targets, output) for m in metrics or []}
        optimizer = _train.get(optimizer)
        step = optimizer.minimize(loss_tensor, self.trainable_variables)
        updates = [u for layer in self.layers for u in layer.updates]
        with self.graph.as_default():
            train_op = group(step, *updates, name="train_step") if updates else step
        self.optimizer = optimizer
        self._compiled = {"targets": targets, "loss": loss_tensor, "metrics": metric_tensors, "train_op": train_op}

    def _require_compiled(self):
        if self._compiled is None:
            raise BuildError("call model.compile(...) before fit or evaluate")
        return self._compiled

    def _feed(self, x, y=None, training=False):
        xs = _as_list(x) if isinstance(x, (list, tuple)) else [x]
        feed = {ph: np.asarray(v, dtype=ph.dtype) for ph, v in zip(self.input_placeholders, xs)}
        if y is not None:
            targets = self._compiled["targets"]
            feed[targets] = np.asarray(y, dtype=targets.dtype)
        if training:
            feed[learning_phase(self.graph)] = np.array(True)
        return feed

    def fit(self, x, y, epochs=1, batch_size=32, validation_split=0.0, validation_data=None, shuffle=True,
            verbose=1, seed=0, backend="numpy", device="auto"):
        """Train for ``epochs`` over mini-batches; returns a History of per-epoch loss and metrics.

        ``backend="numpy"`` runs the step in the interpreter; ``"onnxruntime"`` exports the step once
        (``export.to_onnx(model, training=True)``) and runs it with ``export.OnnxTrainer`` on ``device``
        ("auto": CUDA when a GPU is usable, else CPU). Either way the weights and optimizer state end up in
        the model's session, and validation and History are the same."""
        from tqdm.auto import tqdm
        compiled = self._require_compiled()
        x, y = validation.check_fit(self, x, y, epochs, batch_size, validation_split)
        if validation_split and validation_data is None:
            cut = int(len(x) * (1 - validation_split))
            x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
        steps = self._training_steps(backend, device)
        names = ["loss", *compiled["metrics"]]
        history, rng = _training.History(), np.random.default_rng(seed)
        history.params = {"epochs": epochs, "batch_size": batch_size, "backend": steps.description}
        try:
            for epoch in range(epochs):
                order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
                totals, seen = np.zeros(len(names)), 0
                batches = range(math.ceil(len(x) / batch_size))
                bar = tqdm(batches, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", disable=not verbose, leave=True)
                for b in bar:
                    idx = order[b * batch_size:(b + 1) * batch_size]
                    values = steps.run(x[idx], y[idx])
                    totals += np.array(values, dtype=np.float64) * len(idx)
                    seen += len(idx)
                    bar.set_postfix({n: f"{t / seen:.4f}" for n, t in zip(names, totals)}, refresh=False)
                logs = {n: t / seen for n, t in zip(names, totals)}
                if validation_data is not None:
                    steps.sync()
                    val = self.evaluate(*validation_data, batch_size=batch_size, return_dict=True)
                    logs.update({f"val_{k}": v for k, v in val.items()})
                if verbose:
                    bar.write("  ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
                history.record(epoch, logs)
        finally:
            steps.sync()
        self.history = history
        return history

    def _training_steps(self, backend, device):
        """The step runner of a backend: ``run(x, y)`` → [loss, *metrics]; ``sync()`` leaves the state in
        the model's session."""
        if backend == "numpy":
            return _InterpreterSteps(self)
        if backend == "onnxruntime":
            from graphcore.export.trainer import FitSteps
            key = ("onnxruntime", device)
            if getattr(self, "_onnx_steps", (None, None))[0] != key:
                self._onnx_steps = (key, FitSteps(self, device))
            steps = self._onnx_steps[1]
            steps.load_from_session()   # weights set since the last fit (set_weights, the interpreter) count
            return steps
        raise BuildError(f"backend must be 'numpy' or 'onnxruntime', got {backend!r}")

    def evaluate(self, x, y, batch_size=32, return_dict=False):
        """Loss (and metrics) over the data in inference mode."""
        compiled = self._require_compiled()
        x, y = validation.check_evaluate(self, x, y, batch_size)
        fetches = [compiled["loss"], *compiled["metrics"].values()]
        names = ["loss", *compiled["metrics"]]
        totals = np.zeros(len(names))
        for start in range(0, len(x), batch_size):
            values = self.session.run(fetches, self._feed(x[start:start + batch_size], y[start:start + batch_size]))
            totals += np.array(values, dtype=np.float64) * len(x[start:start + batch_size])
        results = dict(zip(names, totals / len(x)))
        if return_dict:
            return results
        return results["loss"] if len(names) == 1 else list(results.values())

    def predict(self, x, batch_size=32):
        """Outputs for ``x`` in inference mode, batch by batch."""
        x = validation.check_inputs(self, x)
        n = len(_as_list(x)[0]) if isinstance(x, (list, tuple)) else len(x)
        parts = []
        for start in range(0, n, batch_size):
            chunk = [v[start:start + batch_size] for v in x] if isinstance(x, (list, tuple)) else x[start:start + batch_size]
            parts.append(self.session.run(self.output_tensors, self._feed(chunk)))
        outputs = [np.concatenate([p[i] for p in parts]) for i in range(len(self.outputs))]
        return outputs[0] if len(outputs) == 1 else outputs

    def __call__(self, x):
        raise BuildError("calling a model on new tensors is not supported; build a new model from its layers")

    # ----- files ---------------------------------------------------------------------------------------------
    def to_config(self):
        """The architecture as JSON-able data: layer classes and constructor arguments, and the call graph."""
        index = {layer: i for i, layer in enumerate(self.layers)}
        where = {}
        calls = []
        for call_index, (layer, ins, outs) in enumerate(self._calls):
            for k, t in enumerate(outs):
                where[t] = (call_index, k)
            refs = [] if isinstance(layer, InputLayer) else [where[t] for t in ins]
            calls.append({"layer": index[layer], "inputs": refs})
        missing = [t.name for t in self.outputs if t not in where]
        if missing:
            raise BuildError(f"outputs {missing} are not produced by layers; only layer graphs can be saved")
        layers = [{"class": type(layer).__name__, "name": layer.name, "config": _layer_config(layer)}
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

    def run(self, x, y):
        _, *values = self.model.session.run(self.fetches, self.model._feed(x, y, training=True))
        return values

    def sync(self):
        pass


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
        self._compiled = self._user_outputs = None
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


def _rebuild(config):
    graph = Graph()
    with graph.as_default():
        built_layers = []
        for spec in config["layers"]:
            if spec["class"] == "InputLayer":
                built_layers.append(InputLayer(**spec["config"]))
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
