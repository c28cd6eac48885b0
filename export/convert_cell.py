"""Converters for the fused LSTM cell ops (graphcore/ops/cell.py): the same arithmetic in plain ONNX ops.

``LSTMCell`` appears in the body of an LSTM Scan that cannot become ONNX's native LSTM (a loop exported as a
generic Scan); ``LSTMCellGrad`` in a backward Scan's body, for exported training steps. Both are spelled out
gate by gate (Split, Sigmoid, Tanh, Mul, Add, Sub, Concat), gate order i, f, c, o as in graphcore.
"""
from .convert_array import ints
from .convert_math import scalar
from .registry import converter


def _gates(ctx, z, c, units, c_out=None):
    """ONNX names of the activated gates (i, f, g, o) of pre-activations ``z``, the new cell state (computing
    the graphcore tensor ``c_out`` if given) and its tanh."""
    parts = ctx.emit("Split", [z, ints(ctx, [units] * 4, "sizes")], outs=[None] * 4, axis=-1)
    i, f, o = (ctx.emit("Sigmoid", [p]) for p in (parts[0], parts[1], parts[3]))
    g = ctx.emit("Tanh", [parts[2]])
    c_new = ctx.emit("Add", [ctx.emit("Mul", [f, c]), ctx.emit("Mul", [i, g])], out=c_out)
    return (i, f, g, o), c_new, ctx.emit("Tanh", [c_new])


@converter("LSTMCell")
def _lstm_cell(ctx, node):
    xp, h, c, kernel = (ctx.input(t) for t in node.inputs)
    h_out, c_out, z_out = node.outputs
    z = ctx.emit("Add", [ctx.emit("MatMul", [h, kernel]), xp], out=z_out)
    (_, _, _, o), _, tanh_c = _gates(ctx, z, c, node.inputs[2].shape[-1], c_out)
    ctx.emit("Mul", [o, tanh_c], out=h_out)


@converter("LSTMCellGrad")
def _lstm_cell_grad(ctx, node):
    z, c, grad_h, grad_c = (ctx.input(t) for t in node.inputs)
    (i, f, g, o), _, tanh_c = _gates(ctx, z, c, node.inputs[1].shape[-1])
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
