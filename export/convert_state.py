"""Converters for what a training step does beyond gradients: variable writes, optimizer updates and random
draws, all as plain ``ai.onnx`` arithmetic.

ONNX has no mutable state, so a write is *functional*: a write op's outputs are the new values (which is what
they are in graphcore too), and the training exporter (``training.py``) routes them to graph outputs while
the variables they replace come in as graph inputs. The optimizer equations follow the interpreter's kernels
(``graphcore.train.apply_ops``) operation for operation, in the same dtype and order, so an exported step
reproduces the interpreter's numbers to float rounding. Adam's bias corrections are scalars computed in
double precision, as the kernel computes them in Python floats.

Random ops become ONNX's own random ops. Their stream is not graphcore's (the file could never replay the
interpreter's NumPy generator), so only their statistics match; a ``seed`` on the graphcore node is passed on,
and a node without one in a seeded graph (``graph.seed``, TF1's ``set_random_seed``) gets one from the graph's
seed and its position, as the interpreter seeds it: either makes one onnxruntime session's sequence
reproducible.
"""
import numpy as np
from onnx import helper

from graphcore.graph import ancestors
from graphcore.ops.random import seed_for

from .convert_math import scalar
from .registry import ExportError, converter


@converter("Assign")
def _assign(ctx, node):
    var, value = node.inputs
    if tuple(ctx.dims(value)) == tuple(var.shape):
        ctx.alias(node.outputs[0], ctx.input(value))
    else:   # a value of compatible but less known shape: the kernel reshapes it to the variable's
        shape = ctx.const(np.array(var.shape, np.int64), f"{node.name}/shape")
        ctx.emit("Reshape", [ctx.input(value), shape], out=node.outputs[0])


@converter("ReadVariable")
def _read_variable(ctx, node):
    """The variable's value. A read ordered after a write of the same variable (made inside
    ``control_dependencies``) would need that ordering, which ONNX's data flow cannot carry: refused rather
    than exported reading the value from before the write."""
    var = node.inputs[0]
    for earlier in ancestors(node.control_inputs):
        if var in earlier.inputs[:earlier.op.variable_inputs] and earlier.op.type != "ReadVariable":
            raise ExportError(f"{node.name} reads {var.name} after {earlier.name} writes it (control_dependencies);"
                              " ONNX cannot order a read after a write: export the write's output instead", node)
    ctx.alias(node.outputs[0], ctx.input(var))


@converter("AssignAdd")
def _assign_add(ctx, node):
    ctx.emit("Add", [ctx.input(t) for t in node.inputs], out=node.outputs[0])


@converter("ApplyGradientDescent")
def _sgd(ctx, node):
    """var − lr·g; one Sub when the rate is already in the gradient (``Optimizer.minimize`` seeds the backward
    pass with it and gives the update a rate of 1)."""
    var, grad, lr = (ctx.input(t) for t in node.inputs)
    rate = ctx.value(node.inputs[2])
    step = grad if rate is not None and np.all(rate == 1) else ctx.emit("Mul", [lr, grad])
    ctx.emit("Sub", [var, step], out=node.outputs[0])


@converter("ApplyMomentum")
def _momentum(ctx, node):
    var, accum, grad, lr = (ctx.input(t) for t in node.inputs)
    dtype, mu = node.inputs[0].dtype, node.attrs["momentum"]
    momentum = scalar(ctx, mu, dtype, "momentum")
    if node.attrs.get("keras"):   # v ← μv − lr·g;  var ← var + v  (Nesterov: var + μv − lr·g)
        step = ctx.emit("Mul", [lr, grad])
        velocity = ctx.emit("Sub", [ctx.emit("Mul", [accum, momentum]), step], out=node.outputs[1])
        change = ctx.emit("Sub", [ctx.emit("Mul", [velocity, momentum]), step]) if node.attrs["nesterov"] \
            else velocity
        ctx.emit("Add", [var, change], out=node.outputs[0])
        return
    new_accum = ctx.emit("Add", [ctx.emit("Mul", [accum, momentum]), grad], out=node.outputs[1])
    direction = ctx.emit("Add", [grad, ctx.emit("Mul", [momentum, new_accum])]) if node.attrs["nesterov"] \
        else new_accum
    ctx.emit("Sub", [var, ctx.emit("Mul", [lr, direction])], out=node.outputs[0])


@converter("ApplyRMSProp")
def _rmsprop(ctx, node):
    var, ms, grad, lr = (ctx.input(t) for t in node.inputs)
    dtype, rho = node.inputs[0].dtype, node.attrs["rho"]
    new_ms = ctx.emit("Add", [ctx.emit("Mul", [ms, scalar(ctx, rho, dtype, "rho")]),
                              ctx.emit("Mul", [scalar(ctx, 1 - rho, dtype, "one_minus_rho"),
                                               ctx.emit("Mul", [grad, grad])])], out=node.outputs[1])
    epsilon = scalar(ctx, node.attrs["epsilon"], dtype, "epsilon")
    denom = ctx.emit("Sqrt", [ctx.emit("Add", [new_ms, epsilon])]) if node.attrs.get("epsilon_inside") else \
        ctx.emit("Add", [ctx.emit("Sqrt", [new_ms]), epsilon])
    step = ctx.emit("Mul", [ctx.emit("Div", [grad, denom]), lr])
    ctx.emit("Sub", [var, step], out=node.outputs[0])


@converter("ApplyAdam")
def _adam(ctx, node):
    var, m, v, grad, lr, iterations = (ctx.input(t) for t in node.inputs)
    dtype, a = node.inputs[0].dtype, node.attrs
    beta1, beta2 = a["beta1"], a["beta2"]
    new_m = ctx.emit("Add", [ctx.emit("Mul", [m, scalar(ctx, beta1, dtype, "beta1")]),
                             ctx.emit("Mul", [scalar(ctx, 1 - beta1, dtype, "one_minus_beta1"), grad])],
                     out=node.outputs[1])
    new_v = ctx.emit("Add", [ctx.emit("Mul", [v, scalar(ctx, beta2, dtype, "beta2")]),
                             ctx.emit("Mul", [scalar(ctx, 1 - beta2, dtype, "one_minus_beta2"),
                                              ctx.emit("Mul", [grad, grad])])], out=node.outputs[2])
    # Bias corrections at step t = iterations + 1, in double precision like the kernel's Python floats.
    t = ctx.emit("Add", [_cast(ctx, iterations, np.float64), scalar(ctx, 1.0, np.float64, "one")])
    one = scalar(ctx, 1.0, np.float64, "one_d")

    def one_minus_power(beta, hint):
        return ctx.emit("Sub", [one, ctx.emit("Pow", [scalar(ctx, beta, np.float64, hint), t])])
    step_size = _cast(ctx, ctx.emit("Div", [_cast(ctx, lr, np.float64), one_minus_power(beta1, "beta1_d")]), dtype)
    v_scale = _cast(ctx, ctx.emit("Reciprocal", [ctx.emit("Sqrt", [one_minus_power(beta2, "beta2_d")])]), dtype)
    epsilon = scalar(ctx, a["epsilon"], dtype, "epsilon")
    if a.get("epsilon_hat"):   # Keras's ε̂: the bias correction scales ε too
        epsilon = ctx.emit("Mul", [epsilon, v_scale])
    denom = ctx.emit("Add", [ctx.emit("Mul", [ctx.emit("Sqrt", [new_v]), v_scale]), epsilon])
    step = ctx.emit("Mul", [ctx.emit("Div", [new_m, denom]), step_size])
    ctx.emit("Sub", [var, step], out=node.outputs[0])


def _cast(ctx, value, dtype):
    return ctx.emit("Cast", [value], to=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


# ----- random draws ----------------------------------------------------------------------------------------

def _seed_attrs(node):
    """ONNX's ``seed`` attribute for a random node: its own seed, else one drawn from the graph's seed and the
    node's position (``ops.random.seed_for``); none (onnxruntime picks one) in an unseeded graph. The
    attribute is a float32, so the derived seed stays below 2**24, where every integer is exact."""
    if node.attrs.get("seed") is not None:
        return {"seed": float(node.attrs["seed"])}
    derived = seed_for(node)
    if derived is None:
        return {}
    return {"seed": float(np.random.default_rng(derived).integers(2 ** 24))}


def _random_attrs(node, **attrs):
    return dict(attrs, **_seed_attrs(node), dtype=helper.np_dtype_to_tensor_dtype(node.attrs["dtype"]))


# graphcore op → (ONNX op, its attributes from the graphcore node's); "…Like" takes the shape of a tensor.
_DRAWS = {"RandomNormal": ("RandomNormal", lambda a: dict(mean=a["mean"], scale=a["stddev"])),
          "RandomUniform": ("RandomUniform", lambda a: dict(low=a["minval"], high=a["maxval"]))}


@converter(*_DRAWS)
def _random_draw(ctx, node):
    onnx_op, attrs_of = _DRAWS[node.type]
    attrs = _random_attrs(node, **attrs_of(node.attrs))
    if node.inputs:
        ctx.emit(onnx_op + "Like", [ctx.input(node.inputs[0])], out=node.outputs[0], **attrs)
    else:
        ctx.emit(onnx_op, [], out=node.outputs[0], shape=list(node.attrs["shape"]), **attrs)


def uniform_like(ctx, x, dtype):
    """U[0, 1) samples shaped like the value named ``x`` (seeded by the current node's seed, if any)."""
    return ctx.emit("RandomUniformLike", [x], dtype=helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                    **_seed_attrs(ctx.node))


@converter("Bernoulli")
def _bernoulli(ctx, node):
    """1 where a uniform draw falls below p, as the kernel draws it (ONNX's Bernoulli op is the same
    distribution; the comparison keeps the float dtype path onnxruntime runs everywhere)."""
    p = node.inputs[0]
    hits = ctx.emit("Less", [uniform_like(ctx, ctx.input(p), p.dtype), ctx.input(p)])
    ctx.emit("Cast", [hits], out=node.outputs[0], to=helper.np_dtype_to_tensor_dtype(p.dtype))

