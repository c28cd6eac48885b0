"""Converters for the fused LSTM cell ops (graphcore/ops/cell.py): the same arithmetic in plain ONNX ops.

``LSTMCell`` appears in the body of an LSTM Scan that cannot become ONNX's native LSTM (a loop exported as a
generic Scan); ``LSTMCellGrad`` in a backward Scan's body, for exported training steps. Both are spelled out
in Split, Sigmoid, Tanh, Mul, Add, Sub and Concat, gate order i, f, c, o as in graphcore; the backward step
in as few nodes as the kernel has whole-array operations (each node of a loop body runs T times).
"""
from graphcore.ops.cell import gate_constants

from .convert_array import ints
from .convert_math import scalar
from .registry import converter


def _activated(ctx, z, units, a_out):
    """The ONNX name of the activated gates (σ(i), σ(f), tanh(g), σ(o)) of pre-activations ``z``, computing
    the graphcore tensor ``a_out``."""
    parts = _split(ctx, z, units)
    acts = [ctx.emit("Tanh" if k == 2 else "Sigmoid", [p]) for k, p in enumerate(parts)]
    return ctx.emit("Concat", acts, out=a_out, axis=-1), acts


def _split(ctx, gates, units):
    return ctx.emit("Split", [gates, ints(ctx, [units] * 4, "sizes")], outs=[None] * 4, axis=-1)


def _cell_state(ctx, gates, c, c_out=None):
    """ONNX names of the new cell state (computing the graphcore tensor ``c_out`` if given) and its tanh."""
    i, f, g, _ = gates
    c_new = ctx.emit("Add", [ctx.emit("Mul", [f, c]), ctx.emit("Mul", [i, g])], out=c_out)
    return c_new, ctx.emit("Tanh", [c_new])


@converter("LSTMCell")
def _lstm_cell(ctx, node):
    xp, h, c, kernel = (ctx.input(t) for t in node.inputs)
    h_out, c_out, a_out = node.outputs
    z = ctx.emit("Add", [ctx.emit("MatMul", [h, kernel]), xp])
    _, gates = _activated(ctx, z, node.inputs[2].shape[-1], a_out)
    _, tanh_c = _cell_state(ctx, gates, c, c_out)
    ctx.emit("Mul", [gates[3], tanh_c], out=h_out)


@converter("LSTMCellGrad")
def _lstm_cell_grad(ctx, node):
    """``lstm_gates_grad`` node for node, as the kernel computes it: the four gates' products concatenated,
    then one product with the activations' derivatives a·(slope − a) + level (``gate_constants``)."""
    a, c, grad_h, grad_c = (ctx.input(t) for t in node.inputs)
    i, f, g, o = _split(ctx, a, node.inputs[1].shape[-1])
    _, tanh_c = _cell_state(ctx, (i, f, g, o), c)
    dtype = node.inputs[0].dtype
    _, _, slope, level = gate_constants(node.inputs[1].shape[-1], dtype)
    slope, level = ctx.const(slope, f"{node.name}/slope"), ctx.const(level, f"{node.name}/level")

    def mul(x, y):
        return ctx.emit("Mul", [x, y])

    # dL/dc' in full: through h' = o·tanh(c'), and from the next step.
    through_h = mul(mul(grad_h, o), ctx.emit("Sub", [scalar(ctx, 1, dtype, "one"), mul(tanh_c, tanh_c)]))
    d_c = ctx.emit("Add", [through_h, grad_c])
    products = ctx.emit("Concat", [mul(d_c, g), mul(d_c, c), mul(d_c, i), mul(grad_h, tanh_c)], axis=-1)
    slopes = ctx.emit("Add", [mul(a, ctx.emit("Sub", [slope, a])), level])
    ctx.emit("Mul", [products, slopes], out=node.outputs[0])
    ctx.emit("Mul", [d_c, f], out=node.outputs[1])
