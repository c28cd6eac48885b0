"""Converters for the fused LSTM cell ops (graphcore/ops/cell.py): the same arithmetic in plain ONNX ops.

``LSTMCell`` appears in the body of an LSTM Scan that cannot become ONNX's native LSTM (a loop exported as a
generic Scan); ``LSTMCellGrad`` in a backward Scan's body, for exported training steps. Both are spelled out
gate by gate (Split, Sigmoid, Tanh, Mul, Add, Sub, Concat), gate order i, f, c, o as in graphcore.
"""
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
    a, c, grad_h, grad_c = (ctx.input(t) for t in node.inputs)
    i, f, g, o = gates = _split(ctx, a, node.inputs[1].shape[-1])
    _, tanh_c = _cell_state(ctx, gates, c)
    one = scalar(ctx, 1, node.inputs[0].dtype, "one")

    def mul(*values):
        result = values[0]
        for v in values[1:]:
            result = ctx.emit("Mul", [result, v])
        return result

    def one_minus(value):
        return ctx.emit("Sub", [one, value])

    d_c = ctx.emit("Add", [mul(grad_h, o, one_minus(mul(tanh_c, tanh_c))), grad_c])
    gates = [mul(d_c, g, i, one_minus(i)), mul(d_c, c, f, one_minus(f)), mul(d_c, i, one_minus(mul(g, g))),
             mul(grad_h, tanh_c, o, one_minus(o))]
    ctx.emit("Concat", gates, out=node.outputs[0], axis=-1)
    ctx.emit("Mul", [d_c, f], out=node.outputs[1])
