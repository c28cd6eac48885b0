"""The Layer base class, Keras-style, on top of the static graph.

A layer is a recipe: the first call creates its variables under its own name scope (``conv2d/kernel``) and
every call adds its ops under that scope, so diagrams collapse a layer into one box. Users speak Keras's
channels-last language everywhere: ``gc.Input((128, 128, 3))`` is a (None, 128, 128, 3) tensor, every layer
returns NHWC images, so graph ops applied to layer outputs see NHWC, and ``get_weights()`` are in Keras
layouts. Inside, a layer computes on NCHW (what the convolution kernels and ONNX want).

The layout pass: a layer call converts its image inputs with ``to_internal`` and its image outputs with
``to_user``, and ``to_internal`` of a tensor that ``to_user`` made returns the NCHW tensor it came from
instead of transposing back. So between two layers no transpose runs: the NHWC transpose a layer leaves
behind is computed only if something reads it (the interpreter and the exporter only run the ancestors of
what is fetched), and a stack of layers costs one transpose at the input and one at the output, as before.

Each graph has one ``learning_phase`` switch (a bool placeholder defaulting to False): dropout and batch
normalisation read it, ``fit`` feeds True. Layer calls are recorded per graph so a functional ``Model`` can
find its layers and be saved and rebuilt.
"""
import contextlib
import inspect
import re
import weakref

import numpy as np

from .. import activations
from .. import dtypes as _dt
from ..errors import BuildError
from ..graph import get_default_graph, graph_of
from ..ops.array import transpose
from ..ops.math import identity
from ..ops.state import Variable, placeholder, placeholder_with_default
from .. import initializers

_SESSIONS = weakref.WeakKeyDictionary()
_CALLS = weakref.WeakKeyDictionary()
_PHASES = weakref.WeakKeyDictionary()
_MODEL_SCOPES = weakref.WeakKeyDictionary()


def session_for(graph):
    """The session that holds the weights of the layers built in ``graph`` (created on first use)."""
    from ..session import Session
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


_TO_NCHW, _TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


def _undone(x, perm):
    """The input of ``x`` if ``x`` is the transpose ``perm`` (so transposing back would undo it), else None."""
    node = x.node
    if node.op.type == "Transpose" and tuple(node.attrs["perm"]) == perm:
        return node.inputs[0]
    return None


def to_internal(x):
    """A user (NHWC) image tensor as the NCHW tensor layers compute on; other ranks as they are."""
    if x.ndim != 4:
        return x
    inner = _undone(x, _TO_NHWC)
    return inner if inner is not None else transpose(x, _TO_NCHW)


def to_user(x, layout=False):
    """An NCHW image tensor in the user's NHWC layout; other ranks as they are. ``layout``: the transpose is
    a layer's output, which the next layer skips; it is recorded so seeded draws do not count it."""
    if x.ndim != 4:
        return x
    outer = _undone(x, _TO_NCHW)
    if outer is not None:
        return outer
    y = transpose(x, _TO_NHWC)
    if layout:
        y.graph.layout_ids.append(y.node.id)
    return y


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


class Layer:
    """Base class. Subclasses implement ``build(inputs)`` (create weights with ``add_weight``) and
    ``call(inputs)`` (build ops; internal layout), and list Keras weight layouts in ``keras_layouts``."""

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        # Remember the constructor arguments: get_config() and model files rebuild layers from them.
        self._config = inspect.signature(cls.__init__).bind(self, *args, **kwargs).arguments
        self._config.pop("self")
        extra = self._config.pop("kwargs", {})
        self._config.update(extra)
        return self

    def __init__(self, name=None, trainable=True, input_shape=None, dtype="float32"):
        self._given_name = name
        self.name = None
        self.trainable = trainable
        self.input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.dtype = _dt.as_dtype(dtype)
        self.weights = []
        self.updates = []
        self.built = False
        self.graph = None
        self.input = self.output = None

    # ----- building -----------------------------------------------------------------------------------------
    def __call__(self, inputs):
        graph = graph_of(*_as_list(inputs))
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
            outputs = _distinct_outputs(_map(_layer_output, self.call(internal)), _as_list(inputs))
        self.input, self.output = inputs, outputs
        layer_calls(graph).append((self, _as_list(inputs), _as_list(outputs)))
        return outputs

    def build(self, inputs):
        """Create weights; the default layer has none."""

    def call(self, inputs):
        raise NotImplementedError

    def add_weight(self, name, shape, initializer, trainable=True, fans=None):
        init = initializers.get(initializer)
        value = init(tuple(shape), self.dtype, fans=fans)
        var = Variable(value, name=name, trainable=self.trainable and trainable)
        self.weights.append(var)
        return var

    @property
    def training(self):
        return learning_phase(self.graph)

    # ----- introspection ------------------------------------------------------------------------------------
    @property
    def trainable_weights(self):
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self):
        return [w for w in self.weights if not w.trainable]

    def count_params(self):
        return int(sum(np.prod(w.shape) for w in self.weights))

    @property
    def output_shape(self):
        shapes = [t.shape for t in _as_list(self.output)]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_config(self):
        return dict(self._config)

    # ----- weights in Keras layouts ------------------------------------------------------------------------
    keras_layouts = ()   # per weight: (internal → Keras axes permutation) or None for "same layout"

    def _layout(self, i):
        return self.keras_layouts[i] if i < len(self.keras_layouts) else None

    def get_weights(self):
        session = session_for(self.graph)
        values = session.run(list(self.weights)) if self.weights else []
        return [v if self._layout(i) is None else np.transpose(v, self._layout(i)) for i, v in enumerate(values)]

    def set_weights(self, weights):
        if len(weights) != len(self.weights):
            raise ValueError(f"{self.name} has {len(self.weights)} weights, got {len(weights)}")
        session = session_for(self.graph)
        for i, (var, value) in enumerate(zip(self.weights, weights)):
            value = np.asarray(value, dtype=var.dtype)
            perm = self._layout(i)
            if perm is not None:
                value = np.transpose(value, np.argsort(perm))
            if value.shape != var.shape:
                raise ValueError(f"{var.name}: expected a Keras-layout array of shape "
                                 f"{tuple(np.transpose(np.empty(var.shape), perm).shape) if perm else var.shape}, "
                                 f"got {np.shape(weights[i])}")
            session.variables[var.node.name] = np.array(value)

    def __repr__(self):
        return f"<{type(self).__name__} '{self.name or self._given_name or '?'}'>"


class InputLayer(Layer):
    """A model input: a placeholder in the user's layout (NHWC images); the first layer that reads it
    transposes it (``to_internal``)."""

    def __init__(self, shape, name=None, dtype="float32"):
        super().__init__(name=name or "input", dtype=dtype)
        self.shape = tuple(shape)

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


def Input(shape, name=None, dtype="float32", graph=None):
    """A symbolic model input of per-example ``shape`` (channels-last for images), in ``graph`` or the
    default graph. Returns the tensor layers consume."""
    return InputLayer(shape, name=name, dtype=dtype).create(graph or get_default_graph())

