"""Leaves and state: constants, placeholders, variables, assignment, grouping and stop_gradient.

Variables live in the Session, not in the graph. A ``Variable`` node *reads* its current value; ``Assign``
and the optimizers' ``Apply*`` ops take the variable's read as their first input(s) and write new arrays
back. Because every writer consumes the read, all reads in one ``run`` see the value from the start of the
run (a snapshot), whatever order independent nodes run in. Writes never mutate arrays in place, so a value
read earlier is never changed by a later write.

``control_dependencies`` orders that, as TF1 does: an op made inside the block reads each variable through a
``ReadVariable`` node made with it, which runs after the dependencies and returns the variable's value at that
moment; a write made inside the block updates the value the dependencies left, not the snapshot.
"""
import numpy as np

from .. import dtypes as _dt
from ..compat import declare, difference
from ..errors import BuildError
from ..graph import Tensor, _session_for, get_default_graph, graph_of, ndarray_type
from ..op import REGISTRY, Op, apply_op, register, same_dtype
from ..shapes import compatible, format_shape, normalize_shape
from .dynamic import constant_of_shape, shape_source
from .math import fill_like, negative


@register
class Constant(Op):
    """A value baked into the graph (kept as a read-only array)."""

    def make(self, value, name=None, graph=None):
        """A constant node holding the array ``value`` (``convert_to_tensor``, below the op library, builds its
        constants through this: it finds the op in the registry rather than importing this module)."""
        graph = graph or get_default_graph()
        return graph.create_node(self, [], {"value": _readonly(value)}, name=name or "Const").outputs[0]

    def infer(self, node):
        value = node.attrs["value"]
        if not _dt.is_numeric(value.dtype):
            raise BuildError(f"a constant must hold numbers or booleans, got dtype {value.dtype}")
        return [(value.dtype, value.shape)]

    def make_kernel(self, node, runtime):
        value = node.attrs["value"]
        return lambda: value

    def grad(self, node, output_grads, wanted):
        return []

    def samples(self, rng):
        yield [], {"value": _readonly(rng.normal(size=(2, 3)))}


def _readonly(array):
    """A read-only array; already read-only ones (zero-stride views of a weight initialiser) are kept as they
    are, so building a full-size model allocates nothing."""
    array = np.asarray(array)
    if array.flags.writeable:
        array = array.copy()
        array.flags.writeable = False
    return array


def constant(value, dtype=None, shape=None, name=None, verify_shape=False, graph=None):
    """A constant node. Python floats default to float32 and ints to int64 unless ``dtype`` says otherwise.

    ``shape`` follows TF1's ``tf.constant``: a scalar fills it, as many values as it holds are reshaped to it,
    fewer are padded with the last value, more are an error; ``verify_shape=True`` requires the value's own
    shape to be ``shape``."""
    array = ndarray_type(value) if dtype is None else np.asarray(value, dtype=_dt.as_dtype(dtype))
    if shape is not None:
        array = _shaped(array, normalize_shape(shape), verify_shape)
    return REGISTRY["Constant"].make(array, name=name, graph=graph)


def _shaped(array, shape, verify_shape):
    if None in shape:
        raise BuildError(f"a constant's shape must be fully known, got {format_shape(shape)}")
    if verify_shape and array.shape != shape:
        raise BuildError(f"constant: verify_shape=True but the value has shape {format_shape(array.shape)}, not "
                         f"{format_shape(shape)}")
    count = int(np.prod(shape, dtype=np.int64))
    if array.size > count:
        raise BuildError(f"constant: too many values for shape {format_shape(shape)}: needed at most {count}, "
                         f"got {array.size}")
    if array.size == count:
        return array.reshape(shape)
    if array.size <= 1:   # a scalar fills the shape (no values at all: zeros, as TF1's empty proto)
        fill = array.reshape(-1)[0] if array.size else array.dtype.type(0)
        return np.broadcast_to(np.asarray(fill, array.dtype), shape)
    flat = array.reshape(-1)
    return np.concatenate([flat, np.full(count - flat.size, flat[-1], array.dtype)]).reshape(shape)


def fill(dims, value, name=None):
    """A tensor of shape ``dims`` filled with ``value`` (TF1's ``tf.fill``); ``dims`` may be ``gc.shape_of(x)``."""
    value = ndarray_type(value)
    if isinstance(dims, Tensor):
        like = shape_source(dims)
        if like is not None:   # fill(shape_of(x)): x's shape, kept static where it is known
            return fill_like(like, value.item(), value.dtype, name=name)
        return constant_of_shape(dims, value, name=name)
    return constant(value, shape=dims, name=name or "Fill")


def zeros(shape, dtype=_dt.float32, name=None):
    """Zeros of ``shape`` (a list, tuple or int, or a 1-D integer tensor such as ``gc.shape_of(x)``), TF1's
    ``tf.zeros``; a static shape allocates nothing until a session reads it."""
    return fill(shape, np.zeros((), _dt.as_dtype(dtype)), name=name or "zeros")


def ones(shape, dtype=_dt.float32, name=None):
    """Ones of ``shape`` (TF1's ``tf.ones``); see ``zeros``."""
    return fill(shape, np.ones((), _dt.as_dtype(dtype)), name=name or "ones")


@register
class Placeholder(Op):
    """A value fed at run time; ``None`` dims accept any size. With ``default`` it may be left unfed."""

    stateful = True

    def infer(self, node):
        return [(node.attrs["dtype"], node.attrs["shape"])]

    def make_kernel(self, node, runtime):
        default = node.attrs.get("default")
        if default is None:
            return runtime.missing_feed(node)
        return lambda: default

    def grad(self, node, output_grads, wanted):
        return []


_NO_RANK = difference("TF1", "tf.placeholder(dtype) (no shape)", "gc.placeholder(dtype, shape)",
                      "a placeholder needs a rank (shapes are checked when the graph is built): shape=() for a "
                      "scalar, [None] for a vector of any length, [None, 784] for a batch of rows")


def placeholder(dtype=_dt.float32, shape=None, name=None, default=None):
    """A graph input. ``shape`` is a tuple or list with None for sizes known only at run time; without it the
    shape is taken from ``default`` (a placeholder with neither is refused: see ``_NO_RANK``)."""
    dtype = _dt.as_dtype(dtype)
    if shape is None and default is None:
        raise BuildError(f"placeholder: {_NO_RANK}")
    if shape is None and default is not None:
        shape = np.shape(default)
    attrs = {"dtype": dtype, "shape": normalize_shape(shape)}
    if default is not None:
        attrs["default"] = _readonly(np.asarray(default, dtype=dtype))
        if not compatible(attrs["shape"], attrs["default"].shape):
            raise BuildError(f"placeholder default of shape {attrs['default'].shape} does not fit "
                             f"{format_shape(attrs['shape'])}")
    return get_default_graph().create_node(REGISTRY["Placeholder"], [], attrs, name=name or "Placeholder").outputs[0]


def placeholder_with_default(default, shape=None, name=None, dtype=None):
    """A placeholder that takes ``default`` when not fed (the learning-phase switch is one)."""
    dtype = _dt.as_dtype(dtype) if dtype is not None else ndarray_type(default).dtype
    return placeholder(dtype, shape if shape is not None else np.shape(default), name=name, default=default)


@register
class VariableOp(Op):
    """Reads a variable's current value from the session. Initialised from ``initial_value`` (an array) or
    ``initializer`` (a tensor, run once when the session first needs the variable)."""

    type = "Variable"
    stateful = True

    def infer(self, node):
        return [(node.attrs["dtype"], node.attrs["shape"])]

    def make_kernel(self, node, runtime):
        return runtime.variable_reader(node)

    def grad(self, node, output_grads, wanted):
        return []


class VariableTensor(Tensor):
    """The tensor a ``gc.Variable(...)`` call returns: its read, plus the variable's properties."""

    __slots__ = ()

    @property
    def trainable(self):
        return self.node.attrs["trainable"]

    @property
    def initializer_tensor(self):
        """The tensor computing the initial value (``Variable(gc.random_normal(...))``), or None."""
        return self.node.attrs.get("initializer")

    @property
    def initial_value(self):
        """The initial value as an array (``Variable(np.zeros(3))``), or None when a tensor computes it."""
        return self.node.attrs.get("initial_value")

    @property
    def initializer(self):
        """The node that (re)initialises this variable when run (TF1's ``v.initializer``), made once."""
        graph = self.node.graph
        if self.node not in graph.initializer_ops:
            value = self.initializer_tensor
            with graph.as_default(), graph.name_scope(self.node.name + "/"), graph.control_dependencies(None):
                if value is None:
                    value = constant(self.initial_value, name="initial_value")
                graph.initializer_ops[self.node] = assign(self, value, name="Assign").node
        return graph.initializer_ops[self.node]

    def value(self):
        """The variable's value as a tensor (TF1's ``v.value()``): this read itself."""
        return self

    def load(self, value, session=None):
        """Write ``value`` into the variable in ``session`` (default: the default session), as TF1's
        ``v.load``; nothing is added to the graph."""
        session = _session_for(self, session)
        session.load_variable(self, value)

    def assign_sub(self, delta, name=None):
        return assign_sub(self, delta, name=name)


    def read_value(self):
        """The variable's value when the read runs (TF1's ``Variable.read_value``): made inside
        ``control_dependencies([inc])``, it runs after ``inc`` and sees what ``inc`` assigned."""
        return apply_op("ReadVariable", [self], name=self.node.name.rsplit("/", 1)[-1] + "/read")

    def assign(self, value, name=None):
        return assign(self, value, name=name)

    def assign_add(self, delta, name=None):
        return assign_add(self, delta, name=name)

    def __repr__(self):
        return f"<Variable '{self.name}' {self.dtype.name}{format_shape(self.shape)}>"


for _method, _note in (("initializer", "a node that (re)initialises the variable when run"),
                       ("initial_value", "an array (a tensor-initialised variable has initializer_tensor)"),
                       ("read_value", "inside control_dependencies, reads after the dependencies"), ("value", ""),
                       ("load", ""), ("assign", ""), ("assign_add", ""), ("assign_sub", ""), ("eval", "")):
    declare("TF1", f"tf.Variable.{_method}", f"gc.VariableTensor.{_method}", _note)
del _method, _note


def Variable(initial_value, name=None, trainable=True, dtype=None):
    """A trainable (by default) variable; ``initial_value`` is an array or a tensor such as
    ``gc.random_normal((4, 3), seed=0)``, evaluated when the session first needs the variable."""
    graph = graph_of(initial_value)
    attrs = {"trainable": bool(trainable)}
    if isinstance(initial_value, Tensor):
        if dtype is not None and _dt.as_dtype(dtype) != initial_value.dtype:
            raise BuildError(f"Variable: initializer is {initial_value.dtype.name}, dtype says {dtype}")
        if None in initial_value.shape:
            raise BuildError(f"Variable: initializer shape {format_shape(initial_value.shape)} must be fully known")
        attrs.update(dtype=initial_value.dtype, shape=initial_value.shape, initializer=initial_value)
    else:
        array = ndarray_type(initial_value) if dtype is None else np.asarray(initial_value, _dt.as_dtype(dtype))
        attrs.update(dtype=array.dtype, shape=array.shape, initial_value=_readonly(array))
    node = graph.create_node(REGISTRY["Variable"], [], attrs, name=name or "Variable")
    tensor = VariableTensor(node, 0, node.outputs[0].dtype, node.outputs[0].shape)
    node.outputs = (tensor,)
    graph.variables.append(tensor)
    return tensor


@register
class ReadVariable(Op):
    """A variable's value at the moment this node runs, rather than the run-start snapshot its ``Variable``
    node holds; its input is the variable, and its gradient passes to it unchanged. Made for every variable an
    op reads inside ``control_dependencies`` (see the module docstring)."""

    stateful = True
    variable_inputs = 1

    def infer(self, node):
        _check_variable(node)
        v = node.inputs[0]
        return [(v.dtype, v.shape)]

    def make_kernel(self, node, runtime):
        read = runtime.variable_reader(node.inputs[0].node)
        return lambda _snapshot: read()

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [g]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3))], {}


def _check_variable(node, what="first input"):
    if not isinstance(node.inputs[0], VariableTensor):
        raise BuildError(f"the {what} must be a variable, got {node.inputs[0].name} ({node.inputs[0].node.type})")


class WriteOp(Op):
    """Base of ops that write their first ``writes`` outputs into the variables read by their first inputs."""

    writes = 1
    differentiable = False
    stateful = True

    @property
    def variable_inputs(self):
        return self.writes

    def infer(self, node):
        for i in range(self.writes):
            _check_variable(node, f"input {i}")
        return [(t.dtype, t.shape) for t in node.inputs[:self.writes]]

    def make_kernel(self, node, runtime):
        compute = super().make_kernel(node, runtime)
        names = [t.node.name for t in node.inputs[:self.writes]]
        store, writes = runtime.variables, self.writes
        if node.control_inputs:
            # Made inside control_dependencies: update the values the dependencies left, not the snapshot.
            from_snapshot = compute

            def compute(*arrays):
                return from_snapshot(*[store[n] for n in names], *arrays[writes:])
        if self.writes == 1:
            name = names[0]

            def write_one(*arrays):
                store[name] = value = compute(*arrays)
                return value
            return write_one

        def write_many(*arrays):
            values = compute(*arrays)
            for n, v in zip(names, values):
                store[n] = v
            return values
        return write_many


@register
class Assign(WriteOp):
    """``var ← value``; outputs the new value."""

    def infer(self, node):
        out = super().infer(node)
        same_dtype(node)
        var_shape, value_shape = node.inputs[0].shape, node.inputs[1].shape
        if len(var_shape) != len(value_shape) or any(
                a is not None and b is not None and a != b for a, b in zip(var_shape, value_shape)):
            raise BuildError(f"cannot assign shape {format_shape(node.inputs[1].shape)} to a variable of shape "
                             f"{format_shape(node.inputs[0].shape)}")
        return out

    def compute(self, var, value):
        return np.array(value, dtype=var.dtype, copy=True).reshape(var.shape)

    def samples(self, rng):
        yield [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))], {}


@register
class AssignAdd(WriteOp):
    """``var ← var + delta``; outputs the new value."""

    def infer(self, node):
        same_dtype(node)
        return super().infer(node)

    def compute(self, var, delta):
        return var + delta

    def samples(self, rng):
        yield [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))], {}


def assign(var, value, name=None):
    return apply_op("Assign", [var, value], name=name)


def assign_add(var, delta, name=None):
    return apply_op("AssignAdd", [var, delta], name=name)


def assign_sub(var, delta, name=None):
    return assign_add(var, negative(delta) if isinstance(delta, Tensor) else -np.asarray(delta), name=name)


@register
class NoOp(Op):
    """Does nothing; used with control inputs to group updates into one fetchable training step."""

    def infer(self, node):
        return []

    def compute(self):
        return ()

    def samples(self, rng):
        yield [], {}


def group(*items, name=None):
    """One node that runs after all ``items`` (tensors, tuples of a node's outputs, or nodes):
    ``sess.run(step)`` returns None."""
    nodes = [t.node if isinstance(t, Tensor) else t[0].node if isinstance(t, tuple) else t for t in items]
    graph = nodes[0].graph if nodes else get_default_graph()
    return graph.create_node(REGISTRY["NoOp"], [], {}, name=name or "group", control_inputs=nodes)


@register
class StopGradient(Op):
    """Identity forward; blocks gradients (RBM negative samples, target networks)."""

    def infer(self, node):
        x = node.inputs[0]
        return [(x.dtype, x.shape)]

    def compute(self, x):
        return x

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3))], {}


def stop_gradient(x, name=None):
    return apply_op("StopGradient", [x], name=name)

