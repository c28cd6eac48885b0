"""The static graph: nodes, the tensors that flow between them, name scopes and the default graph.

A ``Node`` is one application of an op: its inputs, attributes and outputs, a unique scoped name such as
``dense/MatMul`` and its *creation site*, the file:line of the user's code that built it. A ``Tensor`` is one
output of a node with a static dtype and shape. Nodes only ever refer to nodes created before them, so the
creation order is a topological order and a graph can never contain a cycle.
"""
import contextlib
import os
import sys
import threading

import numpy as np

from . import dtypes as _dt
from .errors import BuildError, GraphFinalizedError, GraphcoreError
from .shapes import format_type

# Directories whose frames are skipped when looking for the user's line: the engine, the zoo and the exporter.
_INTERNAL_DIRS = {os.path.dirname(os.path.abspath(__file__)) + os.sep}
_STDLIB_DIR = os.path.dirname(contextlib.__file__) + os.sep


def register_internal_dir(path):
    """Mark a package directory as graphcore's own (``graphcore.models`` and ``graphcore.export`` call this)."""
    _INTERNAL_DIRS.add(os.path.dirname(os.path.abspath(path)) + os.sep)


def creation_site():
    """file:line of the first stack frame outside graphcore (and outside the standard library)."""
    frame = sys._getframe(1)
    prefixes = tuple(_INTERNAL_DIRS) + (_STDLIB_DIR,)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(prefixes) and not filename.startswith("<frozen"):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


class Tensor:
    """Output ``index`` of ``node``: a symbolic value with a static dtype and shape.

    Arithmetic operators build new nodes. ``==`` keeps Python's identity meaning so tensors can be dict keys
    (as in ``feed_dict``); use ``gc.equal`` for the elementwise comparison.
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

    def __hash__(self):
        return id(self)

    def __bool__(self):
        raise TypeError("a symbolic Tensor has no truth value; run it in a Session or use gc.where")

    def __iter__(self):
        if self.shape and self.shape[0] is not None:
            return (self[i] for i in range(self.shape[0]))
        raise TypeError(f"cannot iterate over {self!r}: its first dimension is unknown")

    # Operators: thin wrappers over the op library (imported late: the op library imports this module).
    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().subtract(self, other)
    def __rsub__(self, other): return _ops().subtract(other, self)
    def __mul__(self, other): return _ops().multiply(self, other)
    def __rmul__(self, other): return _ops().multiply(other, self)
    def __truediv__(self, other): return _ops().divide(self, other)
    def __rtruediv__(self, other): return _ops().divide(other, self)
    def __matmul__(self, other): return _ops().matmul(self, other)
    def __rmatmul__(self, other): return _ops().matmul(other, self)
    def __pow__(self, other): return _ops().power(self, other)
    def __rpow__(self, other): return _ops().power(other, self)
    def __neg__(self): return _ops().negative(self)
    def __abs__(self): return _ops().abs(self)
    def __lt__(self, other): return _ops().less(self, other)
    def __le__(self, other): return _ops().less_equal(self, other)
    def __gt__(self, other): return _ops().greater(self, other)
    def __ge__(self, other): return _ops().greater_equal(self, other)
    def __getitem__(self, key): return _ops().getitem(self, key)

    @property
    def T(self):
        return _ops().transpose(self)


def _ops():
    from . import ops
    return ops


class Node:
    """One op application. ``attrs`` are static (Python values, arrays, or body graphs for loop ops)."""

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

    def __hash__(self):
        return id(self)


class Graph:
    """Owns nodes in creation order, the name-scope stack and the variable collections."""

    def __init__(self):
        self.nodes = []
        self.variables = []
        self._names = set()
        self._scope = ""
        self._control_stack = []
        self._consumers = {}
        self.finalized = False
        self.seed = None
        self.layout_ids = []   # ids of the layers' NHWC output transposes (not counted in seed positions)

    # ----- scopes and names -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        _default_stack.graphs.append(self)
        try:
            yield self
        finally:
            _default_stack.graphs.pop()

    @contextlib.contextmanager
    def name_scope(self, name):
        """Nest names under ``name``; a reused scope name gets a suffix (``dense_1``) unless it ends in '/'."""
        previous = self._scope
        if name is None or name == "":
            scope = previous
        elif name.endswith("/"):
            scope = name[:-1]
        else:
            scope = self.unique_name(name)
        self._scope = scope
        try:
            yield scope
        finally:
            self._scope = previous

    def unique_name(self, name):
        """Scoped, deterministic, unique: ``scope/name``, then ``scope/name_1``, ``scope/name_2`` …"""
        base = f"{self._scope}/{name}" if self._scope else name
        candidate, k = base, 0
        while candidate in self._names:
            k += 1
            candidate = f"{base}_{k}"
        self._names.add(candidate)
        return candidate

    @property
    def current_scope(self):
        return self._scope

    @contextlib.contextmanager
    def control_dependencies(self, nodes):
        """Nodes created inside run after ``nodes`` (tensors or nodes)."""
        self._control_stack.append([t.node if isinstance(t, Tensor) else t for t in nodes])
        try:
            yield
        finally:
            self._control_stack.pop()

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
        node_name = self.unique_name(name or op.type)
        controls = [n for group in self._control_stack for n in group] + list(control_inputs)
        node = Node(self, len(self.nodes), node_name, op, inputs, dict(attrs), controls, site)
        try:
            types = op.infer(node)
        except GraphcoreError as e:
            self._names.discard(node_name)
            raise BuildError(f"{op.type}: {e.detail}\n  inputs: {_describe_inputs(inputs)}", node) from None
        node.outputs = tuple(Tensor(node, i, _dt.as_dtype(dt), shape) for i, (dt, shape) in enumerate(types))
        self.nodes.append(node)
        for t in inputs:
            self._consumers.setdefault(t.node, []).append(node)
        for c in controls:
            self._consumers.setdefault(c, []).append(node)
        return node

    def consumers_of(self, node):
        return self._consumers.get(node, [])

    # ----- lookup -----------------------------------------------------------------------------------------
    def get_node(self, name):
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node named '{name}' in the graph")

    def get_tensor(self, name):
        node_name, _, index = name.partition(":")
        return self.get_node(node_name).outputs[int(index or 0)]

    @property
    def trainable_variables(self):
        return [v for v in self.variables if v.trainable]

    def __repr__(self):
        return f"<Graph with {len(self.nodes)} nodes>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows a graph as its diagram, and a one-line summary as text (graphcore.diagram.notebook)."""
        from .diagram.notebook import mimebundle
        return mimebundle(self, include, exclude)

    def _repr_svg_(self):
        from .diagram.notebook import svg
        return svg(self)


def _describe_inputs(inputs):
    return ", ".join(f"{t.name}: {format_type(t.dtype, t.shape)}" for t in inputs) or "none"


class _DefaultStack(threading.local):
    def __init__(self):
        self.graphs = []


_default_stack = _DefaultStack()
_global_default = [Graph()]


def get_default_graph():
    """The graph of the innermost ``with g.as_default()``, else the module-level default graph."""
    return _default_stack.graphs[-1] if _default_stack.graphs else _global_default[0]


def reset_default_graph():
    """Start a fresh module-level default graph (for notebooks and tests)."""
    if _default_stack.graphs:
        raise GraphcoreError("reset_default_graph() inside a 'with graph.as_default()' block")
    _global_default[0] = Graph()
    return _global_default[0]


def name_scope(name):
    return get_default_graph().name_scope(name)


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
    that mix its own tensors with tensors of an enclosing graph, whatever their order; it captures the latter."""
    default = get_default_graph()
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
