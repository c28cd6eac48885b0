"""The Layer base class, Keras-style, on top of the static graph.

A layer is a recipe: the first call creates its variables under its own name scope (``conv2d/kernel``) and
every call adds its ops under that scope, so diagrams collapse a layer into one box. Users speak Keras's
channels-last language everywhere: ``gc.Input((128, 128, 3))`` is a (None, 128, 128, 3) tensor, every layer
returns NHWC images, so graph ops applied to layer outputs see NHWC, and ``get_weights()`` are in Keras
layouts. Inside, a layer computes on NCHW (what the convolution kernels and ONNX want): a layer call
converts its image inputs with ``to_internal`` and its image outputs with ``to_user`` (``layout.py``, the
one module that knows both layouts).

Each graph has one ``learning_phase`` switch (a bool placeholder defaulting to False): dropout and batch
normalisation read it, ``fit`` feeds True. Layer calls are recorded per graph so a functional ``Model`` can
find its layers and be saved and rebuilt.
"""
import contextlib
import inspect
import re
import weakref

import numpy as np

from .. import activations, compat, regularizers
from .. import dtypes as _dt
from ..errors import BuildError, CompatError, DataError
from ..graph import get_default_graph, graph_of
from ..ops.math import identity, size
from ..ops.state import Variable, constant, placeholder, placeholder_with_default
from ..session import Session
from ..sites import creation_site
from .layout import to_internal, to_user
from .. import initializers

_SESSIONS = weakref.WeakKeyDictionary()
_CALLS = weakref.WeakKeyDictionary()
_PHASES = weakref.WeakKeyDictionary()
_MODEL_SCOPES = weakref.WeakKeyDictionary()
_TRAINING = weakref.WeakKeyDictionary()   # graph → stack of fixed training switches (call(training=...))


def session_for(graph):
    """The session that holds the weights of the layers built in ``graph`` (created on first use)."""
    if graph not in _SESSIONS:
        _SESSIONS[graph] = Session(graph)
    return _SESSIONS[graph]


def learning_phase(graph=None):
    """The graph's training switch: a bool scalar placeholder that is False unless fed True."""
    graph = graph or get_default_graph()
    if graph not in _PHASES:
        with graph.as_default(), graph.name_scope("/"):
            _PHASES[graph] = placeholder_with_default(False, shape=(), name="learning_phase")
    return _PHASES[graph]


@contextlib.contextmanager
def fixed_training(graph, training):
    """While a layer or model is called with ``training=True/False`` (Keras's call argument), the layers inside
    read that constant instead of the learning phase: ``base_model(x, training=False)`` keeps a base model's
    batch norm in inference mode even while the bigger model trains."""
    if training is None:
        yield
        return
    with graph.as_default(), graph.name_scope("/"):
        switch = constant(np.array(bool(training)), name="training" if training else "inference")
    stack = _TRAINING.setdefault(graph, [])
    stack.append(switch)
    try:
        yield
    finally:
        stack.pop()


def adopt_input(tensor, graph):
    """A model input made by ``gc.Input`` in another graph, re-made in ``graph`` (once): Keras's
    ``x = base_model(keras.Input(...))`` when the base model (a ``gc.Sequential``, say) has a graph of its own.
    Returns None for any other tensor."""
    twins = _TWINS.setdefault(graph, {})
    if tensor in twins:
        return twins[tensor]
    for layer, _, outs in layer_calls(tensor.graph):
        if isinstance(layer, InputLayer) and outs[0] is tensor:
            twin = InputLayer(layer.shape, name=layer._given_name, dtype=layer.dtype.name).create(graph)
            twins[tensor] = twin
            return twin
    return None


def adopted(tensor, graph):
    """The twin of ``tensor`` in ``graph`` if ``adopt_input`` made one, else ``tensor``."""
    return _TWINS.get(graph, {}).get(tensor, tensor)


_TWINS = weakref.WeakKeyDictionary()


def existing_learning_phase(graph):
    """The graph's training switch if a layer has created one, else None (without creating it)."""
    return _PHASES.get(graph)


def layer_calls(graph):
    """[(layer, input tensors, output tensors)] in call order."""
    return _CALLS.setdefault(graph, [])


@contextlib.contextmanager
def model_scope(graph, name):
    """While a model is called as a layer, its layers put their ops under ``name/`` (``encoder/dense/MatMul``)
    so diagrams draw the call as one box; their weights stay where the layers first created them."""
    stack = _MODEL_SCOPES.setdefault(graph, [])
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()


def _call_scope(graph, layer_name):
    return "".join(f"{name}/" for name in _MODEL_SCOPES.get(graph, ())) + layer_name + "/"


def _per_batch(penalty, output):
    """An activity penalty divided by the batch size (Keras 2 and 3)."""
    per_example = int(np.prod(output.shape[1:])) if all(d is not None for d in output.shape[1:]) else None
    if per_example is None:
        raise BuildError(f"activity_regularizer needs outputs of known shape per example, got {output.shape}")
    return penalty / (size(output, output.dtype) / float(per_example))


def _layer_output(x):
    return to_user(x, layout=True)


def _map(fn, values):
    return type(values)(fn(v) for v in values) if isinstance(values, (list, tuple)) else fn(values)


def activate(activation, x):
    """Apply an activation; on images (NCHW inside) softmax runs over the channels, as Keras's does."""
    if x.ndim == 4 and activation in (activations.softmax, activations.log_softmax):
        return activation(x, axis=1)
    return activation(x)


def _distinct_outputs(outputs, inputs):
    """Every output a tensor of its own: an identity where a layer returns an input ('linear') or one
    tensor twice (an RNN's last output and its final state), so models and ONNX files can name each."""
    if not isinstance(outputs, (list, tuple)):
        return identity(outputs) if any(outputs is t for t in inputs) else outputs
    seen, distinct = list(inputs), []
    for t in outputs:
        t = identity(t) if any(t is s for s in seen) else t
        seen.append(t)
        distinct.append(t)
    return type(outputs)(distinct)


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower().replace("2_d", "2d")


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


EAGER_CALL = compat.difference(
    "Keras", "model(x_numpy) / layer(x_numpy) (eager call)", "gc.Model.predict(x) / predict_on_batch(x)",
    "graphcore layers and models build graphs: calling one on tensors (gc.Input(...), a layer's output) "
    "builds a bigger model; for numbers call model.predict(x) or model.predict_on_batch(x)")
MASKING = compat.difference(
    "Keras", "layer(x, mask=...) / Embedding(mask_zero=True) / Masking", "gc.layers.Layer",
    "graphcore has no masking: pad sequences and let the model learn the padding, or cut them to one length")


def _check_call(owner, inputs, kwargs):
    """Keras's call arguments graphcore refuses, and NumPy data where a tensor belongs."""
    if kwargs:
        if "mask" in kwargs:
            raise CompatError(f"{owner}(..., mask=...): {MASKING}")
        raise CompatError(f"{owner} called with unknown argument(s) {sorted(kwargs)}; a call takes the inputs "
                          "and training=")
    if not all(hasattr(t, "node") for t in _as_list(inputs)):
        raise CompatError(f"{owner} called on {type(inputs).__name__} data: {EAGER_CALL}")


# Keras constructor arguments graphcore leaves out: the values that mean "not used" (accepted and dropped) and
# what to do instead (the error's words).
UNSUPPORTED_ARGUMENTS = {
    "kernel_constraint": ((None,), compat.difference(
        "Keras", "keras.layers.*(kernel_constraint=, bias_constraint=)", "gc.layers.Layer",
        "weight constraints are not supported: drop kernel_constraint/bias_constraint (or clip the weights "
        "with a callback that calls set_weights)")),
    "data_format": ((None, "channels_last"), compat.difference(
        "Keras", "keras.layers.*(data_format='channels_first')", "gc.layers.Conv2D (channels-last)",
        "graphcore layers take channels-last images (Keras's default, data_format='channels_last'); "
        "transpose channels-first data with np.transpose(x, (0, 2, 3, 1)) before it reaches the model")),
    "autocast": ((True,), compat.difference(
        "Keras", "keras.layers.*(autocast=False)", "gc.layers.Layer(dtype=)",
        "graphcore has no mixed-precision policies: drop autocast and give a plain dtype")),
}
for _name in ("bias_constraint", "embeddings_constraint", "recurrent_constraint", "depthwise_constraint",
              "pointwise_constraint", "beta_constraint", "gamma_constraint"):
    UNSUPPORTED_ARGUMENTS[_name] = UNSUPPORTED_ARGUMENTS["kernel_constraint"]


def keras_arguments(cls, args, kwargs):
    """The constructor arguments of a layer class as a dict, defaults included. An argument no constructor
    in the class's hierarchy takes raises a ``CompatError`` saying what to write instead (Keras raises a
    TypeError for arguments it does not know; graphcore also names the ones it leaves out on purpose)."""
    accepted = {}
    for klass in reversed(cls.__mro__):
        if "__init__" in vars(klass) and issubclass(klass, Layer):
            for p in list(inspect.signature(klass.__init__).parameters.values())[1:]:
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    accepted.setdefault(p.name, p.default)
    own = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
           if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if len(args) > len(own):
        raise CompatError(f"{cls.__name__} takes at most {len(own)} positional arguments "
                          f"({', '.join(p.name for p in own)}), got {len(args)}; pass the others by name")
    given = dict(zip((p.name for p in own), args))
    for key, value in kwargs.items():
        if key in given:
            raise CompatError(f"{cls.__name__} got {key!r} twice (by position and by name)")
        if key not in accepted:
            if key in UNSUPPORTED_ARGUMENTS:
                neutral, note = UNSUPPORTED_ARGUMENTS[key]
                if any(value is v or value == v for v in neutral if not isinstance(value, (list, tuple))):
                    continue
                raise CompatError(f"{cls.__name__}({key}={value!r}): {note}")
            raise CompatError(f"{cls.__name__} got an unknown argument {key!r}; it takes "
                              f"{', '.join(sorted(accepted))}")
        given[key] = value
    missing = [p.name for p in own if p.default is p.empty and p.name not in given]
    if missing:
        raise CompatError(f"{cls.__name__} needs the argument(s) {', '.join(missing)}")
    config = {p.name: given.get(p.name, p.default) for p in own if p.name in given or p.default is not p.empty}
    config.update(given)
    return config


def _input_shape(layer, input_shape, input_dim, batch_input_shape, batch_size):
    """Keras's ways to give the first layer's input: ``input_shape=(4,)``, ``input_dim=4`` (Keras 2's Dense)
    or ``batch_input_shape=(None, 4)``. A fixed batch size is refused: graphcore models take any batch."""
    if batch_size is not None or (batch_input_shape is not None and batch_input_shape[0] is not None):
        raise CompatError(f"{layer}: {FIXED_BATCH}")
    if input_dim is not None:
        input_shape = (input_dim,)
    if batch_input_shape is not None:
        input_shape = tuple(batch_input_shape)[1:]
    return tuple(input_shape) if input_shape is not None else None


_BASE_ARGUMENTS = ("name", "trainable", "dtype", "input_shape", "input_dim", "batch_input_shape", "batch_size",
                   "weights", "activity_regularizer")
FIXED_BATCH = compat.difference(
    "Keras", "keras.Input(batch_size=) / batch_input_shape=(32, ...)", "gc.Input(shape)",
    "graphcore inputs always take any number of examples (stateful RNNs, which need a fixed batch, are not "
    "supported): leave batch_size out (or None)")


def _by_name(value):
    """An activation or initializer function as its registered name (what Keras's configs hold)."""
    if callable(value) and not isinstance(value, type):
        for table in (activations.ACTIVATIONS, initializers.INITIALIZERS):
            for name, fn in table.items():
                if fn is value and name is not None:
                    return name
    return value


class WeightLists:
    """What Keras derives from ``weights`` and ``trainable_weights`` (layers and models alike): the
    non-trainable weights and the ``*_variables`` aliases."""

    @property
    def non_trainable_weights(self):
        trainable = set(self.trainable_weights)
        return [w for w in self.weights if w not in trainable]

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights


@compat.same_as("Keras", "keras.layers.Layer", note="get_config/from_config, get_weights/set_weights (Keras layouts), "
                "trainable, losses; subclass with build(inputs) and call(inputs)")
class Layer(WeightLists):
    """Base class. Subclasses implement ``build(inputs)`` (create weights with ``add_weight``) and
    ``call(inputs)`` (build ops; internal layout), and list Keras weight layouts in ``keras_layouts``.

    ``trainable`` is Keras's switch: a layer whose ``trainable`` is False (set before or after it is built)
    lists its weights as non-trainable, and ``compile`` reads the flag, so the next ``compile`` freezes it."""

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        # Remember the constructor arguments: get_config() and model files rebuild layers from them.
        self._config = keras_arguments(cls, args, kwargs)
        return self

    def __init__(self, name=None, trainable=True, input_shape=None, dtype="float32", input_dim=None,
                 batch_input_shape=None, batch_size=None, weights=None, activity_regularizer=None, **neutral):
        # ``neutral``: Keras arguments graphcore leaves out, given their do-nothing values (kernel_constraint=None,
        # data_format="channels_last"); ``keras_arguments`` has checked them already.
        self._given_name = name
        self.name = None
        self._trainable = bool(trainable)
        self.input_shape_arg = _input_shape(type(self).__name__, input_shape, input_dim, batch_input_shape,
                                            batch_size)
        self.dtype = _dt.as_dtype(dtype)
        self.weights = []
        self._weight_trainable = {}
        self._initial_weights = weights
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._regularized, self._penalties, self._activity_losses = [], {}, []
        self.updates = []
        self.built = False
        self.graph = None
        self.input = self.output = None

    # ----- freezing -----------------------------------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """As in Keras: the layer and every layer inside it (a wrapped layer, a nested model's layers)."""
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    def _sublayers(self):
        """Layers this layer calls (a wrapper's wrapped layers); none by default."""
        return []

    def training_feeds(self):
        """What ``fit`` feeds beside the learning phase for this layer while training (see BatchNormalization)."""
        return {}

    # ----- building -----------------------------------------------------------------------------------------
    def __call__(self, inputs, training=None, **kwargs):
        """Apply the layer to tensors (Keras's call; ``training=True/False`` fixes dropout's and batch norm's
        mode for this call). On NumPy arrays it refuses: graphcore layers build graphs."""
        _check_call(self, inputs, kwargs)
        graph = graph_of(*_as_list(inputs))
        with fixed_training(graph, training):
            return self._call_in(graph, inputs)

    def _call_in(self, graph, inputs):
        if self.graph is not None and graph is not self.graph:
            raise BuildError(f"layer {self.name} was built in another graph")
        if self.name is None:
            self.graph = graph
            self.name = graph.unique_name(self._given_name or _snake(type(self).__name__))
        with graph.as_default(), graph.name_scope(_call_scope(graph, self.name)):
            internal = _map(to_internal, inputs)
            if not self.built:
                self.build(internal)
                self.built = True
                if self._initial_weights is not None:   # Keras's weights=[...] argument
                    self.set_weights(self._initial_weights)
            outputs = _distinct_outputs(_map(_layer_output, self.call(internal)), _as_list(inputs))
            if self.activity_regularizer is not None:
                self._activity_losses += [_per_batch(self.activity_regularizer(t), t) for t in _as_list(outputs)]
        self.input, self.output = inputs, outputs
        layer_calls(graph).append((self, _as_list(inputs), _as_list(outputs)))
        return outputs

    def build(self, inputs):
        """Create weights; the default layer has none."""

    def call(self, inputs):
        raise NotImplementedError

    def add_weight(self, name, shape, initializer, trainable=True, fans=None, regularizer=None):
        """A weight; ``trainable=False`` for state that is never trained (batch norm's moving statistics).
        The variable is marked trainable in the graph only if the layer is trainable when it is created (the
        TF1 collection); ``trainable_weights`` follows the layer's flag as it is now. ``regularizer`` adds its
        penalty of this weight to ``losses`` while the weight is trainable."""
        init = initializers.get(initializer)
        value = init(tuple(shape), self.dtype, fans=fans)
        var = Variable(value, name=name, trainable=self.trainable and trainable)
        self.weights.append(var)
        self._weight_trainable[var] = bool(trainable)
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self._regularized.append((var, regularizer))
        return var

    @property
    def training(self):
        """The training switch this call reads: the learning phase, or a constant fixed by a ``training=``
        argument of an enclosing call."""
        fixed = _TRAINING.get(self.graph)
        return fixed[-1] if fixed else learning_phase(self.graph)

    # ----- introspection ------------------------------------------------------------------------------------
    @property
    def trainable_weights(self):
        """Keras's rule: none if the layer is frozen, else its trainable weights and its sublayers'."""
        if not self.trainable:
            return []
        chosen = {w for w in self.weights if self._weight_trainable.get(w, False)}
        chosen.update(w for layer in self._sublayers() for w in layer.trainable_weights)
        return [w for w in self.weights if w in chosen]

    @property
    def losses(self):
        """Keras's ``layer.losses``: the penalties of its trainable regularized weights and of its outputs
        (``activity_regularizer``), as scalar graph tensors (each built once)."""
        trainable = set(self.trainable_weights)
        penalties = []
        for var, regularizer in self._regularized:
            if var in trainable:
                if var not in self._penalties:
                    with self.graph.as_default(), self.graph.name_scope(f"{self.name}/regularizer/"):
                        self._penalties[var] = regularizer(var)
                penalties.append(self._penalties[var])
        return penalties + list(self._activity_losses)

    def count_params(self):
        return int(sum(np.prod(w.shape) for w in self.weights))

    @property
    def output_shape(self):
        shapes = [t.shape for t in _as_list(self.output)]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_config(self):
        """Keras's layer config: name, trainable, dtype and every constructor argument (defaults included);
        activations and initializers given as functions appear by name."""
        config = {key: _by_name(value) for key, value in self._config.items() if key not in _BASE_ARGUMENTS}
        config.update(name=self.name or self._given_name, trainable=self.trainable, dtype=self.dtype.name)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = self.activity_regularizer
        if self.input_shape_arg is not None:
            config["input_shape"] = self.input_shape_arg
        return config

    @classmethod
    def from_config(cls, config):
        """A new layer from ``get_config()``'s dict (Keras's ``Layer.from_config``)."""
        return cls(**config)

    # ----- weights in Keras layouts ------------------------------------------------------------------------
    keras_layouts = ()   # per weight: (internal → Keras axes permutation) or None for "same layout"

    def _layout(self, i):
        return self.keras_layouts[i] if i < len(self.keras_layouts) else None

    def get_weights(self):
        session = session_for(self.graph)
        values = session.run(list(self.weights)) if self.weights else []
        return [v if self._layout(i) is None else np.transpose(v, self._layout(i)) for i, v in enumerate(values)]

    def set_weights(self, weights):
        """Keras's ``set_weights``: arrays in Keras layouts, one per weight; all are checked (count, shape,
        dtype) before any is set."""
        self.write_weights(self.prepare_weights(weights))

    def prepare_weights(self, weights, offset=0):
        """The internal arrays for Keras-layout ``weights``, checked, without setting anything (``offset``: the
        position of the first in a model's ``get_weights`` list, for messages)."""
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise DataError(f"set_weights: layer {self.name} has {len(self.weights)} weights "
                            f"({', '.join(w.name for w in self.weights)}), got {len(weights)} arrays\n"
                            f"  at {creation_site()}")
        prepared = []
        for i, (var, given) in enumerate(zip(self.weights, weights)):
            value = np.asarray(given)
            if value.dtype.kind not in "biuf":
                raise DataError(f"set_weights: array {offset + i} for {var.name} must be numeric, got dtype "
                                f"{value.dtype}\n  at {creation_site()}")
            perm = self._layout(i)
            expected = tuple(var.shape[p] for p in perm) if perm else tuple(var.shape)
            if value.shape != expected:
                raise DataError(f"set_weights: array {offset + i} for {var.name} has shape {value.shape}, the "
                                f"layer needs {expected} (Keras's layout); nothing was set\n  at {creation_site()}")
            value = value.astype(var.dtype)
            prepared.append(np.transpose(value, np.argsort(perm)) if perm is not None else value)
        return prepared

    def write_weights(self, values):
        """Set internal-layout arrays that ``prepare_weights`` checked."""
        session = session_for(self.graph)
        for var, value in zip(self.weights, values):
            session.variables[var.node.name] = np.array(value)

    def __repr__(self):
        return f"<{type(self).__name__} '{self.name or self._given_name or '?'}'>"


@compat.same_as("Keras", "keras.layers.InputLayer", "keras.layers.InputLayer(input_shape=)")
class InputLayer(Layer):
    """A model input: a placeholder in the user's layout (NHWC images); the first layer that reads it
    transposes it (``to_internal``). Keras 3 spells the shape ``shape=``, Keras 2 ``input_shape=``; both
    work, as does ``batch_shape=(None, ...)``."""

    def __init__(self, shape=None, name=None, dtype="float32", batch_shape=None, batch_size=None, sparse=None,
                 ragged=None, **kwargs):
        if sparse or ragged:
            raise CompatError(f"InputLayer(sparse=/ragged=): {DENSE_ONLY}")
        input_shape = kwargs.pop("input_shape", None)
        super().__init__(name=name or "input", dtype=dtype, batch_size=batch_size, **kwargs)
        if batch_shape is not None:
            _input_shape("InputLayer", None, None, batch_shape, None)   # refuses a fixed batch size
            shape = tuple(batch_shape)[1:]
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise CompatError("InputLayer needs shape= (the shape of one example, e.g. shape=(28, 28, 1))")
        self.shape = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)

    def get_config(self):
        return {"shape": self.shape, "name": self.name or self._given_name, "dtype": self.dtype.name}

    def create(self, graph):
        self.graph = graph
        with graph.as_default():
            # The placeholder takes the layer's name (what users feed and ONNX files call the input).
            self.placeholder = placeholder(self.dtype, (None,) + self.shape, name=self._given_name)
            self.name = self.placeholder.node.name
        self.built = True
        self.input = self.output = self.placeholder
        layer_calls(graph).append((self, [self.placeholder], [self.placeholder]))
        return self.placeholder

    @property
    def output_shape(self):
        return (None,) + self.shape


DENSE_ONLY = compat.difference(
    "Keras", "keras.Input(sparse=True / ragged=True)", "gc.Input(shape)",
    "graphcore tensors are dense: pad ragged data to a rectangle (and give sparse data as a dense array)")


@compat.same_as("Keras", "keras.Input", "keras.layers.Input")
def Input(shape=None, name=None, dtype="float32", graph=None, batch_size=None, batch_shape=None, sparse=None,
          ragged=None):
    """A symbolic model input of per-example ``shape`` (channels-last for images), in ``graph`` or the
    default graph. Returns the tensor layers consume (``keras.Input``)."""
    layer = InputLayer(shape, name=name, dtype=dtype, batch_shape=batch_shape, batch_size=batch_size,
                       sparse=sparse, ragged=ragged)
    return layer.create(graph or get_default_graph())

