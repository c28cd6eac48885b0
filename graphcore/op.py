"""The op contract and the op registry.

An op is one small class carrying, side by side:

* ``infer(node)``: the output ``(dtype, shape)`` list, raising ``BuildError`` for bad inputs at build time;
* ``compute(*arrays, **attrs)``: the NumPy kernel the interpreter runs;
* ``grad(node, output_grads, wanted)``: the input gradients, *built from other graph ops*, so a gradient is
  itself a graph that can be run, rendered, exported and differentiated again. ``output_grads`` holds one
  gradient per output, None where it is zero (nothing reads that output); ``wanted[i]`` says whether input i
  needs a gradient, so a costly rule (matmul, convolution) builds only those. It returns one gradient per
  input (None for none). A fused op may define ``formula`` instead, and its gradient is the formula's;
* ``samples(rng)``: example inputs, from which the test suite generates shape, gradient and export checks
  for every registered op.

``REGISTRY`` maps op type → op instance; registering is what makes an op exist.
"""
import functools

import numpy as np

from .dtypes import is_floating
from .errors import BuildError
from .graph import Tensor, graph_of, ndarray_type

REGISTRY = {}


def register(cls):
    """Class decorator: instantiate the op and list it in ``REGISTRY`` under its class name."""
    cls.type = cls.__dict__.get("type", cls.__name__)
    if cls.type in REGISTRY:
        raise ValueError(f"op {cls.type} registered twice")
    REGISTRY[cls.type] = cls()
    return cls


class Op:
    """Base class; see the module docstring for the contract."""

    type = "Op"
    #: False: the op has no gradient and ``gradients`` through it raises an error naming it (and saying why:
    #: ``no_gradient_reason``).
    differentiable = True
    no_gradient_reason = ""
    #: True: the kernel reads or writes session state (variables, random generators).
    stateful = False
    #: How many leading inputs must be variables that the kernel reads or writes in the session itself (an
    #: assignment's target); the others are values (a variable among them is read like any tensor).
    variable_inputs = 0

    def infer(self, node):
        raise NotImplementedError

    def compute(self, *arrays, **attrs):
        raise NotImplementedError

    def grad(self, node, output_grads, wanted):
        """One gradient (or None) per input, built from graph ops; see the module docstring. ``gradients``
        calls it only when some output gradient is given, so a single-output op always receives one."""
        raise NotImplementedError(f"{self.type} defines no gradient")

    #: A fused op whose gradient is that of a formula in primitive ops defines ``formula(node, inputs)``: the
    #: node's outputs as ops of ``inputs`` (tensors standing for its inputs). ``gradients`` then differentiates
    #: the formula (so the op needs no ``grad``, and no rule of its own for the second order).
    formula = None

    def make_kernel(self, node, runtime):
        """A callable of the input arrays; attributes are bound once, when the session plans."""
        attrs = self.kernel_attrs(node)
        return functools.partial(self.compute, **attrs) if attrs else self.compute

    def plan_kernel(self, node, runtime, used):
        """The kernel for one plan. ``used[k]`` says whether the plan reads or fetches output k; an op whose
        unread outputs are costly may return None for them (Scan's stacked residuals, needed only when a
        gradient reads them). By default: ``make_kernel``."""
        return self.make_kernel(node, runtime)

    def kernel_attrs(self, node):
        return node.attrs

    def samples(self, rng):
        """Yield ``(input_arrays, attrs)`` examples for the registry-driven tests."""
        return ()

    def __repr__(self):
        return f"<op {self.type}>"


def convert_to_tensor(value, dtype=None, graph=None, name=None):
    """A tensor as is, or a constant node for a Python/NumPy value (Python scalars take ``dtype``)."""
    if isinstance(value, Tensor):
        return value
    if dtype is not None and not isinstance(value, np.ndarray):
        array = np.asarray(value, dtype=dtype)
    else:
        array = ndarray_type(value)
    return REGISTRY["Constant"].make(array, name=name, graph=graph)   # the op library registers it (ops/state.py)


def convert_inputs(values, graph):
    """Convert op inputs; Python scalars and lists adopt the dtype of the first tensor input (weak typing)."""
    for v in values:   # the common case, once per node built: every input is a tensor already
        if not isinstance(v, Tensor):
            break
    else:
        return values
    hint = next((v.dtype for v in values if isinstance(v, Tensor)), None)
    return [v if isinstance(v, Tensor) else
            convert_to_tensor(v, None if isinstance(v, np.ndarray) else hint, graph) for v in values]


def apply_op(op_type, inputs, name=None, graph=None, **attrs):
    """Build a node of ``op_type`` and return its output (a Tensor, a tuple of them, or the node if none)."""
    op = REGISTRY[op_type]
    graph = graph or graph_of(*inputs)
    node = graph.create_node(op, convert_inputs(list(inputs), graph), attrs, name=name)
    if len(node.outputs) == 1:
        return node.outputs[0]
    return node.outputs if node.outputs else node


def same_dtype(node, *indices):
    """Check that inputs share one dtype (no silent NumPy upcast); return it."""
    inputs = [node.inputs[i] for i in indices] if indices else list(node.inputs)
    dtypes = {t.dtype for t in inputs}
    if len(dtypes) > 1:
        raise BuildError("inputs have different dtypes (" + ", ".join(sorted(d.name for d in dtypes))
                         + "); NumPy would silently upcast: convert one with gc.cast")
    return inputs[0].dtype


def require_float(node, *indices):
    for i in indices or range(len(node.inputs)):
        if not is_floating(node.inputs[i].dtype):
            raise BuildError(f"input {i} must be floating point, got {node.inputs[i].dtype.name}")
