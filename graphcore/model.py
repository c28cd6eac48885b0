"""Keras-style models over one graph: functional ``Model(inputs, outputs)`` and ``Sequential``.

A model is a view of the layer calls between its inputs and outputs in its graph. ``compile`` adds the
training graph to the same graph (``trainer.py``); training and inference differ only by the learning-phase
switch ``fit`` feeds. Weights live in the graph's session. Files and configs are in ``saving.py``.

Keras's conventions kept here: a functional model's ``layers`` begin with its ``InputLayer``s, a Sequential's
do not (so ``model.layers[0]`` is its first real layer); ``trainable`` on a model sets it on every layer inside;
a model is a layer (``base_model(inputs, training=False)``).
"""
import numpy as np

from . import compat
from . import saving as _saving
from .errors import BuildError, CompatError
from .graph import NOTEBOOK_VIEWS, Graph
from .layers.base import (InputLayer, WeightLists, _as_list, _check_call, adopt_input, adopted, fixed_training,
                          layer_calls, model_scope, session_for)
from .trainer import Trainer, compile_graph

SUBCLASSING = compat.difference(
    "Keras", "class MyModel(keras.Model): def call(self, x) (subclassing)", "gc.Model(inputs, outputs)",
    "graphcore models are static graphs built from tensors: write the model functionally, "
    "Model(inputs, outputs), or as a Sequential (the subclassing API is not supported)")


@compat.same_as("Keras", "keras.Model", "keras.Model(inputs, outputs)", "keras.models.Model")
class Model(Trainer, WeightLists):
    """A functional model: ``Model(inputs, outputs)`` over tensors produced by layer calls."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True):
        if inputs is None or outputs is None:
            raise CompatError(f"Model() needs inputs and outputs: {SUBCLASSING}")
        outputs = _as_list(outputs)
        self.graph = outputs[0].graph
        self.name = name or "model"
        # Inputs made by gc.Input in another graph and adopted by a model call (base_model(inputs)) are their twins.
        self.inputs, self.outputs = [adopted(t, self.graph) for t in _as_list(inputs)], outputs
        self._trainable = bool(trainable)
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
        self._layers = list(dict.fromkeys(layer for layer, _, _ in self._calls))
        inputs_by_tensor = {outs[0]: layer for layer, _, outs in self._calls if isinstance(layer, InputLayer)}
        missing = [t for t in self.inputs if t not in inputs_by_tensor]
        if missing:
            raise BuildError(f"model inputs must come from gc.Input(...): {[t.name for t in missing]}")
        self.input_layers = [inputs_by_tensor[t] for t in self.inputs]
        self.compilation = None
        if not self._trainable:
            self.trainable = False

    @property
    def layers(self):
        """Keras's list: every layer in call order, a functional model's InputLayers first."""
        return list(self._layers)

    @property
    def built(self):
        return bool(self.outputs)

    def _require_built(self, purpose):
        if not self.built:
            raise BuildError(f"{self.name} is not built yet: give the first layer input_shape=..., start with "
                             f"gc.Input(shape), call model.build(input_shape), or fit it on data, before {purpose}")

    def _build_from_data(self, x):
        """A model builds itself when it is made; only a Sequential waits for data (``Sequential``)."""

    def _leaf_layers(self):
        """Every plain layer inside, nested models and wrapped layers opened, each once."""
        leaves = []
        for layer in self._layers:
            if isinstance(layer, Model):
                leaves += layer._leaf_layers()
            else:
                stack = [layer]
                while stack:
                    inner = stack.pop()
                    leaves.append(inner)
                    stack.extend(inner._sublayers())
        return list(dict.fromkeys(leaves))

    @property
    def input_placeholders(self):
        return [layer.placeholder for layer in self.input_layers]

    @property
    def output_tensors(self):
        """The outputs (in the user's layout, like every tensor layers return)."""
        return list(self.outputs)

    @property
    def input(self):
        return self.inputs[0] if len(self.inputs) == 1 else self.inputs

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def session(self):
        return session_for(self.graph)

    @property
    def weights(self):
        """Each weight once, in layer order (a layer shared by a nested model is counted once)."""
        return list(dict.fromkeys(w for layer in self._layers for w in layer.weights))

    # ----- freezing (Keras's ``trainable``) ----------------------------------------------------------------------
    @property
    def trainable(self):
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value):
        """As in Keras: the model and every layer inside it; the next ``compile`` trains accordingly."""
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    def _sublayers(self):
        return list(self._layers)

    def training_feeds(self):
        return {k: v for layer in self._leaf_layers() for k, v in layer.training_feeds().items()}

    @property
    def trainable_weights(self):
        """Keras's rule: none if the model is frozen, else its layers' trainable weights."""
        if not self.trainable:
            return []
        return list(dict.fromkeys(w for layer in self._layers for w in layer.trainable_weights))

    @property
    def losses(self):
        """The regularization losses of the layers' trainable weights and activations (Keras's ``model.losses``),
        as graph tensors; ``compile`` adds them to the loss."""
        return [t for layer in self._leaf_layers() for t in layer.losses] if self.trainable else []

    @property
    def updates(self):
        return [u for layer in self._leaf_layers() for u in layer.updates]

    def count_params(self):
        return int(sum(np.prod(w.shape) for w in self.weights))

    def get_layer(self, name=None, index=None):
        """Keras's ``get_layer(name=)`` or ``get_layer(index=)`` (an index into ``model.layers``)."""
        if index is not None:
            layers = self.layers
            if not -len(layers) <= index < len(layers):
                raise BuildError(f"get_layer(index={index}): the model has {len(layers)} layers")
            return layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise BuildError(f"no layer named {name!r}; the layers are {[layer.name for layer in self._layers]}")

    def get_weights(self):
        return [w for layer in self._weight_owners() for w in layer.get_weights()]

    def set_weights(self, weights):
        """Keras's ``set_weights``: one array per weight, in ``get_weights`` order and Keras layouts. Every
        array's count, shape and dtype is checked before any weight changes (all or nothing)."""
        _saving.set_all_weights(self, weights)

    def _weight_owners(self):
        """The plain layers that own this model's weights, each once, nested models opened."""
        owners = []
        for layer in self._layers:
            owners += layer._weight_owners() if isinstance(layer, Model) else [layer]
        return list(dict.fromkeys(owners))

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows a model as its diagram, and a one-line summary as text (graphcore.diagram.notebook)."""
        return NOTEBOOK_VIEWS["mimebundle"](self, include, exclude)

    def _repr_svg_(self):
        return NOTEBOOK_VIEWS["svg"](self)

    def summary(self, print_fn=print, **kwargs):
        """A Keras-style table: layer (type), output shape, parameter count; totals at the end."""
        self._require_built("summary")
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
        trainable = int(sum(np.prod(w.shape) for w in self.trainable_weights))
        total = self.count_params()
        print_fn(line)
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")

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

    # ----- a model is a layer --------------------------------------------------------------------------------
    def __call__(self, inputs, training=None, **kwargs):
        """Apply the model to new tensors, reusing its layers and weights (a shared encoder, a GAN's generator
        inside the combined model, a frozen base model). ``training=False`` keeps its dropout and batch norm in
        inference mode in this call (Keras's transfer-learning idiom). The call's ops go under the model's name
        scope, and the bigger model sees this model as one of its layers. A ``gc.Input`` made in another graph
        is re-made in this model's graph, so ``base(gc.Input(...))`` works for a Sequential base too."""
        _check_call(f"model {self.name}", inputs, kwargs)
        self._require_built("calling it")
        xs = _as_list(inputs)
        if len(xs) != len(self.inputs):
            raise BuildError(f"model {self.name} takes {len(self.inputs)} inputs, got {len(xs)}")
        xs = [x if x.graph is self.graph else _adopted_or_same(x, self.graph) for x in xs]
        if any(x.graph is not self.graph for x in xs):
            raise BuildError(f"model {self.name} can only be called on gc.Input tensors or on tensors of its own "
                             f"graph: build the bigger model inside `with model.graph.as_default():`")
        for x, t in zip(xs, self.inputs):
            if x.ndim != t.ndim or not all(a is None or b is None or a == b for a, b in zip(x.shape, t.shape)):
                raise BuildError(f"model {self.name}: input of shape {x.shape} does not fit {t.shape}")
        calls = layer_calls(self.graph)
        start = len(calls)
        mapping = dict(zip(self.inputs, xs))
        with model_scope(self.graph, self.name), fixed_training(self.graph, training):
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

    # ----- files and configs (saving.py) ----------------------------------------------------------------------
    def to_config(self):
        """The architecture as JSON-able data: layer classes and constructor arguments, and the call graph."""
        return _saving.model_config(self)

    def get_config(self):
        """Keras's ``get_config``: the architecture (``Model.from_config`` rebuilds it)."""
        return self.to_config()

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return _saving.model_from_config(config)

    def to_json(self, **kwargs):
        """Keras's ``to_json``: the architecture as a JSON string (``gc.model_from_json`` rebuilds it)."""
        return _saving.to_json(self, **kwargs)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Architecture, weights, compile settings and optimizer state in one ``.npz`` file, written atomically
        (``gc.load_model`` gives back a compiled model that resumes training where this one stopped)."""
        return _saving.save_model(self, filepath, overwrite, include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """The weights alone (Keras layouts, ``get_weights`` order) in one ``.npz`` file, written atomically."""
        return _saving.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Weights written by ``save_weights`` (or ``save``); all are checked before any is set."""
        return _saving.load_weights(self, filepath, skip_mismatch)

    def __repr__(self):
        return f"<{type(self).__name__} '{self.name}'>"


@compat.same_as("Keras", "keras.Sequential", "keras.Sequential([keras.Input(shape), ...])", "keras.models.Sequential",
                note="layers excludes the input layer, as in Keras")
class Sequential(Model):
    """A stack of layers. Its input comes from the first layer's ``input_shape`` (or ``input_dim``), a
    ``gc.Input(shape)`` or ``InputLayer`` given first, ``build(input_shape)``, or the first data it sees (Keras
    builds a model without an input shape on its first ``fit``/``predict``)."""

    def __init__(self, layers=None, name=None, trainable=True):
        self.graph = Graph()
        self.name = name or "sequential"
        self.inputs, self.outputs, self._layers, self._calls, self._pending = [], [], [], [], []
        self.input_layers = []
        self.compilation = None
        self._trainable = bool(trainable)
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        """Keras's list for a Sequential: the layers added, without the input layer."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)] if self.built else \
            list(self._pending)

    def add(self, layer):
        """Append a layer (or a ``gc.Input``/``InputLayer`` first)."""
        if hasattr(layer, "node"):
            layer = self._input_layer_of(layer)
        if isinstance(layer, InputLayer):
            if self.built or self._pending:
                raise BuildError("a Sequential model takes its input first: add the gc.Input before any layer")
            self._start(InputLayer(layer.shape, name=layer._given_name, dtype=layer.dtype.name))
            return
        if not callable(getattr(layer, "call", None)) and not isinstance(layer, Model):
            raise BuildError(f"Sequential.add takes layers, got {layer!r}")
        if not self.built:
            if not self._pending and isinstance(layer, Model) and layer.built:
                # Keras's Sequential([base_model, Dense(...)]): the stack lives in the base model's graph
                self.graph = layer.graph
                (given,) = layer.inputs
                self._start(InputLayer(given.shape[1:], dtype=given.dtype.name))
            elif not self._pending and getattr(layer, "input_shape_arg", None) is not None:
                self._start(InputLayer(layer.input_shape_arg, dtype=_input_dtype(layer)))
            else:
                self._pending.append(layer)
                return
        self.outputs = [layer(self.outputs[0])]
        self._trace()
        if getattr(self, "_compile_args", None) is not None:   # Keras: recompile after changing the stack
            self._compile_args = None

    def pop(self):
        """Remove the last layer (Keras's ``Sequential.pop``)."""
        if not self.layers:
            raise BuildError("there is no layer to pop")
        if not self.built:
            return self._pending.pop()
        last = self.layers[-1]
        call = next(c for c in reversed(self._calls) if c[0] is last)
        self.outputs = [call[1][0]]
        self._trace()
        return last

    def _input_layer_of(self, tensor):
        for layer, _, outs in layer_calls(tensor.graph):
            if isinstance(layer, InputLayer) and outs[0] is tensor:
                return layer
        raise BuildError(f"Sequential takes layers or a gc.Input(...) first, got the tensor {tensor.name}")

    def _start(self, input_layer):
        placeholder = input_layer.create(self.graph)
        self.inputs, self.outputs = [placeholder], [placeholder]
        self._trace()

    def build(self, input_shape=None):
        """Keras's ``build((None, *shape))``: create the input and call the layers added so far."""
        if self.built:
            return
        if input_shape is None:
            raise BuildError(f"{self.name}.build needs input_shape, e.g. (None, 4)")
        pending, self._pending = self._pending, []
        compile_args, self._compile_args = getattr(self, "_compile_args", None), None
        shape = tuple(input_shape)[1:]
        self._start(InputLayer(shape, dtype=_input_dtype(pending[0]) if pending else "float32"))
        for layer in pending:
            self.add(layer)
        self._compile_args = compile_args
        if compile_args is not None:   # compiled before it was built (Keras allows it): the training graph now
            compile_graph(self)

    def _build_from_data(self, x):
        if self.built or x is None:
            return
        array = np.asarray(x[0] if isinstance(x, (list, tuple)) and len(x) == 1 else x)
        if array.ndim < 1:
            raise BuildError(f"{self.name} builds from its first data: give arrays of examples, got {array!r}")
        self.build((None,) + array.shape[1:])

    def _trace(self):
        compiled_args = getattr(self, "_compile_args", None)
        super()._trace()
        self._compile_args = compiled_args


def _adopted_or_same(tensor, graph):
    twin = adopt_input(tensor, graph)
    return tensor if twin is None else twin


def _input_dtype(layer):
    """The input dtype a first layer implies: an Embedding reads integer ids."""
    return getattr(layer, "input_dtype", "float32")


_saving.MODEL_CLASSES.update(Model=Model, Sequential=Sequential)   # what model files rebuild


def model_from_json(json_string, custom_objects=None):
    """Keras's ``keras.models.model_from_json``: a model (new weights) from ``Model.to_json()``."""
    return _saving.from_json(json_string)


compat.same_as("Keras", "keras.models.model_from_json")(model_from_json)
for _name in ("summary", "get_layer", "get_weights", "set_weights", "count_params", "weights", "trainable_weights",
              "non_trainable_weights", "trainable", "losses", "input_shape", "output_shape", "to_json", "get_config",
              "from_config", "save", "save_weights", "load_weights"):
    compat.declare("Keras", f"keras.Model.{_name}", f"gc.Model.{_name}",
                   "all arrays checked before any is set" if _name == "set_weights" else "")
compat.declare("Keras", "keras.Model.inputs / outputs", "gc.Model (model.inputs, model.outputs)")
compat.declare("Keras", "keras.Sequential.add / pop / build", "gc.Sequential.add")
compat.declare("Keras", "model.layers (Sequential)", "gc.Sequential.layers", "without the InputLayer, as in Keras; "
               "a functional model's layers start with its InputLayers")
compat.declare("Keras", "layer.trainable = False; model.compile(...)", "gc.layers.Layer.trainable",
               "read at compile; on a model it sets every layer inside; frozen BatchNormalization runs in "
               "inference mode")
compat.declare("Keras", "base_model(inputs, training=False)", "gc.Model.__call__(training=False)")
compat.declare("Keras", "model.save / keras.models.load_model", "gc.Model.save / gc.load_model",
               "graphcore's .npz format (the name must end in .npz); comes back compiled, with the optimizer state")
