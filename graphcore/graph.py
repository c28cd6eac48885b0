"""The static graph: nodes, the tensors that flow between them, name scopes and the default graph.

A ``Node`` is one application of an op: its inputs, attributes and outputs, a unique scoped name such as
``dense/MatMul`` and its *creation site*, the file:line of the user's code that built it. A ``Tensor`` is one
output of a node with a static dtype and shape. Nodes only ever refer to nodes created before them, so the
creation order is a topological order and a graph can never contain a cycle.
"""
import contextlib
import re
import threading

import numpy as np

from . import dtypes as _dt
from .compat import declare, same_as
from .errors import BuildError, FetchError, GraphFinalizedError, GraphcoreError
from .shapes import format_type
from .sites import creation_site

class Tensor:
    """Output ``index`` of ``node``: a symbolic value with a static dtype and shape.

    Arithmetic operators build new nodes. ``==`` and ``hash`` keep Python's identity meaning (object's own,
    in C: a Python ``__hash__`` would cost every dict of tensors) so tensors can be dict keys (as in
    ``feed_dict``); use ``gc.equal`` for the elementwise comparison.
    """

    __slots__ = ("node", "index", "dtype", "shape")
    __array_priority__ = 100  # numpy array on the left of an operator defers to us

    def __init__(self, node, index, dtype, shape):
        self.node, self.index, self.dtype, self.shape = node, index, dtype, tuple(shape)

    @property
    def name(self):
        return self.node.name if self.index == 0 else f"{self.node.name}:{self.index}"

    @property
    def graph(self):
        return self.node.graph

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def consumers(self):
        return [n for n in self.node.graph.consumers_of(self.node) if self in n.inputs]

    def __repr__(self):
        return f"<Tensor '{self.name}' {format_type(self.dtype, self.shape)}>"

    def __bool__(self):
        raise BuildError(f"a symbolic Tensor ({self.name}) has no truth value: run it in a Session, or choose "
                         "inside the graph with gc.where or gc.cond")

    def __iter__(self):
        if self.shape and self.shape[0] is not None:
            return (self[i] for i in range(self.shape[0]))
        raise BuildError(f"cannot iterate over {self!r}: its first dimension is unknown")

    def eval(self, feed_dict=None, session=None):
        """This tensor's value in ``session`` or the default session (TF1's ``Tensor.eval``)."""
        return _session_for(self, session).run(self, feed_dict)

    @property
    def op(self):
        """The node that computes this tensor (TF1's ``Tensor.op``)."""
        return self.node

    def get_shape(self):
        """The static shape, ``None`` for unknown sizes (TF1's ``Tensor.get_shape()``, as a tuple)."""
        return self.shape

    # Operators: thin wrappers over the op library, through the table it fills in (OPERATORS, below).
    def __add__(self, other): return OPERATORS["add"](self, other)
    def __radd__(self, other): return OPERATORS["add"](other, self)
    def __sub__(self, other): return OPERATORS["subtract"](self, other)
    def __rsub__(self, other): return OPERATORS["subtract"](other, self)
    def __mul__(self, other): return OPERATORS["multiply"](self, other)
    def __rmul__(self, other): return OPERATORS["multiply"](other, self)
    def __truediv__(self, other): return OPERATORS["divide"](self, other)
    def __rtruediv__(self, other): return OPERATORS["divide"](other, self)
    def __matmul__(self, other): return OPERATORS["matmul"](self, other)
    def __rmatmul__(self, other): return OPERATORS["matmul"](other, self)
    def __pow__(self, other): return OPERATORS["power"](self, other)
    def __rpow__(self, other): return OPERATORS["power"](other, self)
    def __neg__(self): return OPERATORS["negative"](self)
    def __abs__(self): return OPERATORS["abs"](self)
    def __lt__(self, other): return OPERATORS["less"](self, other)
    def __le__(self, other): return OPERATORS["less_equal"](self, other)
    def __gt__(self, other): return OPERATORS["greater"](self, other)
    def __ge__(self, other): return OPERATORS["greater_equal"](self, other)
    def __getitem__(self, key): return OPERATORS["getitem"](self, key)

    @property
    def T(self):
        return OPERATORS["transpose"](self)


#: The functions behind Tensor's operators (``+`` is ``OPERATORS["add"]``), filled in by the op library
#: (``graphcore.ops``) when it is imported. The graph sits below the ops and never imports them: JAX's
#: autodidax gives its tracers their operators the same way.
OPERATORS = {}

#: How Jupyter shows a graph or a model (``mimebundle``, ``svg``), filled in by ``graphcore.diagram.notebook``
#: when graphcore is imported: the diagrams sit above the graph.
NOTEBOOK_VIEWS = {}


class Node:
    """One op application. ``attrs`` are static (Python values, arrays, or body graphs for loop ops).
    Nodes compare and hash by identity (object's own)."""

    __slots__ = ("graph", "id", "name", "op", "inputs", "attrs", "outputs", "control_inputs", "site")

    def __init__(self, graph, id, name, op, inputs, attrs, control_inputs, site):
        self.graph, self.id, self.name, self.op = graph, id, name, op
        self.inputs, self.attrs, self.control_inputs, self.site = tuple(inputs), attrs, tuple(control_inputs), site
        self.outputs = ()

    @property
    def type(self):
        return self.op.type

    def __repr__(self):
        return f"<Node '{self.name}' {self.op.type}>"

    def run(self, feed_dict=None, session=None):
        """Run this node in ``session`` or the default session (TF1's ``Operation.run``); returns None."""
        _session_for(self, session).run(self, feed_dict)


@same_as("TF1", "tf.Graph")
class Graph:
    """Owns nodes in creation order, the name-scope stack and the variable collections."""

    def __init__(self):
        self.nodes = []
        self.variables = []
        self._names = set()
        self._next_suffix = {}   # base name → the first suffix not yet known to be taken (bases used twice)
        self._scope = ""
        self._control_stack = []
        self._late_reads = True
        self._consumers = None   # node → the nodes that read it, made on first use (consumers_of)
        self.finalized = False
        self.seed = None
        self.seed_skipped_ids = []   # ids (ascending) of nodes random ops' seed positions leave out
        self.collections = {}       # TF1's named collections: name → list (see graphcore.variables)
        self.initializer_ops = {}   # variable node → the node its ``.initializer`` made (made on first use)

    # ----- scopes and names -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        _default_stack.graphs.append(self)
        try:
            yield self
        finally:
            _default_stack.graphs.pop()

    def name_scope(self, name):
        """Nest names under ``name``; a reused scope name gets a suffix (``dense_1``) unless it ends in '/'."""
        return _NameScope(self, name)

    def unique_name(self, name):
        """Scoped, deterministic, unique: ``scope/name``, then ``scope/name_1``, ``scope/name_2`` …"""
        base = f"{self._scope}/{name}" if self._scope else name
        k = self._next_suffix.get(base, 0)
        candidate = f"{base}_{k}" if k else base
        while candidate in self._names:
            k += 1
            candidate = f"{base}_{k}"
        self._names.add(candidate)
        if k:   # remember where to start, or naming n nodes alike would take n² steps
            self._next_suffix[base] = k + 1
        return candidate

    def _release_name(self, name):
        """Free the name of a node that failed to build: the next node of that name takes it again."""
        self._names.discard(name)
        self._next_suffix.clear()   # rare: each base is scanned from its start once more

    @property
    def current_scope(self):
        return self._scope

    @contextlib.contextmanager
    def control_dependencies(self, nodes):
        """Nodes created inside run after ``nodes`` (tensors or nodes), as in TF1; ``None`` clears the
        dependencies of enclosing blocks. A variable read by an op made inside is read when that op runs, so it
        sees what the dependencies assigned (``with control_dependencies([inc]): y = identity(v)`` reads ``v``
        after ``inc``); outside any block every read sees the value from the start of the run."""
        if nodes is None:
            saved, self._control_stack = self._control_stack, []
            try:
                yield
            finally:
                self._control_stack = saved
            return
        if isinstance(nodes, (Tensor, Node)):
            raise BuildError("control_dependencies takes a list of tensors or nodes, e.g. control_dependencies([inc])")
        group = []
        for t in nodes:
            if not isinstance(t, (Tensor, Node)):
                raise BuildError(f"control_dependencies takes tensors or nodes, got {t!r}")
            group.append(t.node if isinstance(t, Tensor) else t)
        self._control_stack.append(group)
        try:
            yield
        finally:
            self._control_stack.pop()

    @contextlib.contextmanager
    def snapshot_reads(self):
        """Inside, ops made under ``control_dependencies`` keep reading variables' run-start values: for
        gradients, whose nodes must read the very values the forward pass read."""
        previous, self._late_reads = self._late_reads, False
        try:
            yield
        finally:
            self._late_reads = previous

    def finalize(self):
        """Freeze the graph: building ops afterwards (say, inside a training loop) raises an error."""
        self.finalized = True

    # ----- building ---------------------------------------------------------------------------------------
    def create_node(self, op, inputs, attrs, name=None, control_inputs=()):
        """Add a node after checking its inputs with the op's shape and dtype rule."""
        site = creation_site()
        if self.finalized:
            raise GraphFinalizedError(
                f"cannot add a {op.type} node: the graph is finalized (build every op before the training loop)"
                f"\n  at {site}")
        for t in inputs:
            if t.node.graph is not self:
                raise BuildError(f"{op.type}: input {t.name} belongs to another graph\n  at {site}")
        stack = self._control_stack
        controls = [n for group in stack for n in group] if stack else []
        if control_inputs:
            controls.extend(control_inputs)
        if controls and self._late_reads:
            inputs = _read_late(inputs, op.variable_inputs)
        node_name = self.unique_name(name or op.type)
        node = Node(self, len(self.nodes), node_name, op, inputs, dict(attrs), controls, site)
        try:
            types = op.infer(node)
        except GraphcoreError as e:
            self._release_name(node_name)
            raise BuildError(f"{op.type}: {e.detail}\n  inputs: {_describe_inputs(inputs)}", node) from None
        if len(types) == 1:   # most ops: one output, made without a generator
            (dtype, shape), = types
            node.outputs = (Tensor(node, 0, _dt.as_dtype(dtype), shape),)
        else:
            node.outputs = tuple(Tensor(node, i, _dt.as_dtype(dt), shape) for i, (dt, shape) in enumerate(types))
        self.nodes.append(node)
        if self._consumers is not None:
            self._note_reads(node)
        return node

    def consumers_of(self, node):
        """The nodes that read ``node``'s outputs or run after it (its control dependents), in creation order
        (a node reading it twice is listed twice). The table is made on the first call and kept up to date from
        then on: a graph that is only built (an ONNX import of a million nodes) never holds it."""
        if self._consumers is None:
            self._consumers = {}
            for n in self.nodes:
                self._note_reads(n)
        return self._consumers.get(node, [])

    def _note_reads(self, node):
        table = self._consumers
        for producer in [t.node for t in node.inputs] + list(node.control_inputs):
            readers = table.get(producer)
            if readers is None:
                table[producer] = [node]
            else:
                readers.append(node)

    # ----- lookup -----------------------------------------------------------------------------------------
    def get_node(self, name):
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named '{name}' in the graph")

    def get_tensor(self, name):
        node_name, _, index = name.partition(":")
        return self.get_node(node_name).outputs[int(index or 0)]

    def get_operation_by_name(self, name):
        """The node named ``name`` (TF1's ``Graph.get_operation_by_name``)."""
        if not isinstance(name, str):
            raise FetchError(f"get_operation_by_name takes a name, got {name!r}")
        if ":" in name:
            raise FetchError(f"{name!r} names a tensor, not an operation: ask get_tensor_by_name({name!r}) or "
                             f"get_operation_by_name({name.partition(':')[0]!r})")
        try:
            return self.get_node(name)
        except KeyError:
            raise FetchError(f"the graph has no operation named {name!r}{_similar(self, name)}") from None

    def get_tensor_by_name(self, name):
        """The tensor ``"node:index"`` (TF1's ``Graph.get_tensor_by_name("x:0")``); a bare node name is its
        first output, as graphcore names that tensor."""
        if not isinstance(name, str):
            raise FetchError(f"get_tensor_by_name takes a name such as 'x:0', got {name!r}")
        node_name, _, index = name.partition(":")
        if index and not index.isdigit():
            raise FetchError(f"{name!r} is not a tensor name: write '<operation name>:<output index>', e.g. 'x:0'")
        node = self.get_operation_by_name(node_name)
        if int(index or 0) >= len(node.outputs):
            raise FetchError(f"operation {node_name!r} ({node.type}) has {len(node.outputs)} output(s); there is no "
                             f"output {int(index or 0)}")
        return node.outputs[int(index or 0)]

    def get_operations(self):
        """Every node, in creation order (TF1's ``Graph.get_operations``)."""
        return list(self.nodes)

    # ----- collections (TF1) ------------------------------------------------------------------------------
    def get_collection_ref(self, key):
        """The list of collection ``key``; the variable keys are the graph's own variable lists."""
        if key == GraphKeys.GLOBAL_VARIABLES:
            return self.variables
        if key == GraphKeys.TRAINABLE_VARIABLES:
            return self.trainable_variables
        return self.collections.setdefault(key, [])

    def get_collection(self, key, scope=None):
        """A copy of collection ``key``, keeping the items whose name matches ``scope`` at its start."""
        items = list(self.get_collection_ref(key))
        if scope is None:
            return items
        return [item for item in items if getattr(item, "name", None) is not None and re.match(scope, item.name)]

    def add_to_collection(self, key, value):
        if key in (GraphKeys.GLOBAL_VARIABLES, GraphKeys.TRAINABLE_VARIABLES):
            raise BuildError(f"the {key!r} collection is the graph's variables: create a gc.Variable instead")
        self.get_collection_ref(key).append(value)

    @property
    def trainable_variables(self):
        return [v for v in self.variables if v.trainable]

    def __repr__(self):
        return f"<Graph with {len(self.nodes)} nodes>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows a graph as its diagram, and a one-line summary as text (graphcore.diagram.notebook)."""
        return NOTEBOOK_VIEWS["mimebundle"](self, include, exclude)

    def _repr_svg_(self):
        return NOTEBOOK_VIEWS["svg"](self)


def _read_late(inputs, skip):
    """``inputs`` with each variable (past the first ``skip``, which the op reads or writes as variables) replaced
    by a read made now: under ``control_dependencies`` that read runs after the dependencies."""
    reads = {}
    out = list(inputs)
    for i, t in enumerate(inputs[skip:], skip):
        read_value = getattr(t, "read_value", None)   # variables have it (graphcore.ops.state.VariableTensor)
        if read_value is not None:
            if t not in reads:
                reads[t] = read_value()
            out[i] = reads[t]
    return out


def _similar(graph, name):
    """A hint naming nodes whose names end like ``name`` (it may have been made inside a name scope)."""
    near = [n.name for n in graph.nodes if n.name.endswith("/" + name)][:3]
    return f" (did you mean {', '.join(repr(n) for n in near)}?)" if near else ""


class GraphKeys:
    """The standard collection names of TF1's ``tf.GraphKeys`` that graphcore fills or accepts."""

    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    SUMMARIES = "summaries"
    TRAIN_OP = "train_op"
    GLOBAL_STEP = "global_step"


class _NameScope:
    """``Graph.name_scope``'s context manager: a class rather than a generator, as it is cheaper to open, and an
    ONNX import opens one per node. The scope's name is made when the block is entered."""

    __slots__ = ("graph", "name", "previous")

    def __init__(self, graph, name):
        self.graph, self.name, self.previous = graph, name, None

    def __enter__(self):
        graph, name = self.graph, self.name
        self.previous = graph._scope
        if name is None or name == "":
            scope = self.previous
        elif name.endswith("/"):
            scope = name[:-1]
        else:
            scope = graph.unique_name(name)
        graph._scope = scope
        return scope

    def __exit__(self, *exc):
        self.graph._scope = self.previous


def _describe_inputs(inputs):
    return ", ".join(f"{t.name}: {format_type(t.dtype, t.shape)}" for t in inputs) or "none"


class _DefaultStack(threading.local):
    def __init__(self):
        self.graphs = []


_default_stack = _DefaultStack()
_global_default = [Graph()]


@same_as("TF1", "tf.get_default_graph")
def get_default_graph():
    """The graph of the innermost ``with g.as_default()``, else the module-level default graph."""
    return _default_stack.graphs[-1] if _default_stack.graphs else _global_default[0]


@same_as("TF1", "tf.reset_default_graph")
def reset_default_graph():
    """Start a fresh module-level default graph (for notebooks and tests)."""
    if _default_stack.graphs:
        raise GraphcoreError("reset_default_graph() inside a 'with graph.as_default()' block")
    _global_default[0] = Graph()
    return _global_default[0]


class _DefaultSessions(threading.local):
    def __init__(self):
        self.sessions = []


_default_sessions = _DefaultSessions()


@same_as("TF1", "tf.get_default_session")
def get_default_session():
    """The session of the innermost ``with Session(...)`` / ``sess.as_default()`` block or the open
    ``InteractiveSession``, else None (TF1's ``tf.get_default_session``)."""
    return _default_sessions.sessions[-1] if _default_sessions.sessions else None


def push_default_session(session):
    _default_sessions.sessions.append(session)


def pop_default_session(session):
    """Remove ``session`` (its innermost entry) from the default-session stack, if it is there."""
    stack = _default_sessions.sessions
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is session:
            del stack[i]
            return


def _session_for(tensor_or_node, session):
    session = session or get_default_session()
    if session is None:
        raise GraphcoreError(f"cannot evaluate {tensor_or_node.name}: no default session is registered; use "
                             "'with gc.Session() as sess:' (or sess.as_default(), or gc.InteractiveSession()), or "
                             "pass session=sess")
    return session


@same_as("TF1", "tf.name_scope")
def name_scope(name):
    return get_default_graph().name_scope(name)


@same_as("TF1", "tf.control_dependencies", note="ops made inside run after the dependencies and read variables "
                                                "after them; None clears")
def control_dependencies(nodes):
    return get_default_graph().control_dependencies(nodes)


def ancestors(nodes, stop=(), controls=True):
    """The nodes ``nodes`` depend on (themselves included), not looking past the tensors in ``stop`` (fed
    values); ``controls`` also follows run-after edges. Shared by the planner, the exporter and gradients."""
    needed, stack = set(), list(nodes)
    while stack:
        node = stack.pop()
        if node in needed:
            continue
        needed.add(node)
        stack.extend(t.node for t in node.inputs if t not in stop)
        if controls:
            stack.extend(node.control_inputs)
    return needed


def is_tensor(x):
    return isinstance(x, Tensor)


def graph_of(*values):
    """The default graph if some tensor among ``values`` belongs to it, else the graph of the first tensor,
    else the default graph. Preferring the default graph lets a loop body being traced (``gc.scan``) take ops
    that mix its own tensors with tensors of an enclosing graph, whatever their order; it captures the latter.
    A graph that ``captures_everything`` (a cond branch being traced) takes every op built while it is the
    default, even one of outer tensors only: a branch's ops must run only when the branch is taken."""
    default = get_default_graph()
    if getattr(default, "captures_everything", False):
        return default
    first = None
    for v in values:
        if isinstance(v, Tensor):
            if v.node.graph is default:
                return default
            first = first or v.node.graph
    return first or default


def ndarray_type(value):
    """(dtype, shape) of a Python or NumPy constant, with graphcore's defaults for Python scalars/lists."""
    array = np.asarray(value)
    if array.dtype == np.float64 and not isinstance(value, np.ndarray) and not isinstance(value, np.generic):
        array = array.astype(_dt.DEFAULT_FLOAT)
    elif array.dtype.kind == "i" and not isinstance(value, (np.ndarray, np.generic)):
        array = array.astype(_dt.DEFAULT_INT)
    return array


for _theirs, _ours, _note in (
        ("tf.Tensor.eval", "gc.Tensor.eval", "in the default session (with Session() as sess: ...) or session="),
        ("tf.Tensor.op", "gc.Tensor.op", ""),
        ("tf.Tensor.get_shape", "gc.Tensor.get_shape", "a tuple with None for unknown sizes"),
        ("tf.Tensor.name", "gc.Tensor.name", "the first output of a node is named 'x', not 'x:0'; every lookup "
                                            "(get_tensor_by_name, sess.run, feed_dict) accepts both"),
        ("tf.Operation.run", "gc.Node.run", ""),
        ("tf.Graph.get_tensor_by_name", "gc.Graph.get_tensor_by_name", "'x:0' or 'scope/x:1'"),
        ("tf.Graph.get_operation_by_name", "gc.Graph.get_operation_by_name", ""),
        ("tf.Graph.get_operations", "gc.Graph.get_operations", ""),
        ("tf.Graph.get_collection", "gc.Graph.get_collection", ""),
        ("tf.Graph.as_default", "gc.Graph.as_default", ""),
        ("tf.Graph.finalize", "gc.Graph.finalize", "")):
    declare("TF1", _theirs, _ours, _note)
del _theirs, _ours, _note
