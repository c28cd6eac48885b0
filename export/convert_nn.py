"""Converters for convolution, pooling, softmax and the training-switched ops (dropout, batch norm).

graphcore pads are (top, bottom, left, right); ONNX wants all begins then all ends: (top, left, bottom, right).
"""
import numpy as np

from .convert_math import fill
from .registry import ExportError, converter


def onnx_pads(pads):
    top, bottom, left, right = pads
    return [top, left, bottom, right]


def _conv_attrs(node, kernel):
    a = node.attrs
    return dict(kernel_shape=list(kernel), strides=list(a["strides"]), dilations=list(a["dilations"]),
                group=a["groups"], pads=onnx_pads(a["pads"]))


@converter("Conv2D")
def _conv(ctx, node):
    x, w = node.inputs
    ctx.emit("Conv", [ctx.input(x), ctx.input(w)], out=node.outputs[0], **_conv_attrs(node, w.shape[2:]))


@converter("Conv2DBackpropInput")
def _conv_transpose(ctx, node):
    """The transposed convolution. ONNX's weight layout (C_in, C_out/groups, kh, kw) is graphcore's filter
    layout read the other way round, so the filters pass unchanged; output_padding supplies the rows a
    strided convolution dropped, to reach ``input_hw`` exactly."""
    dy, w = node.inputs
    a = node.attrs
    attrs = _conv_attrs(node, w.shape[2:])
    extra = []
    for i, (size, k) in enumerate(zip(a["input_hw"], w.shape[2:])):
        natural = (dy.shape[2 + i] - 1) * a["strides"][i] - a["pads"][2 * i] - a["pads"][2 * i + 1] \
            + a["dilations"][i] * (k - 1) + 1
        extra.append(size - natural)
    if any(extra):
        attrs["output_padding"] = extra
    ctx.emit("ConvTranspose", [ctx.input(dy), ctx.input(w)], out=node.outputs[0], **attrs)


@converter("MaxPool")
def _max_pool(ctx, node):
    a = node.attrs
    ctx.emit("MaxPool", [ctx.input(node.inputs[0])], out=node.outputs[0], kernel_shape=list(a["kernel"]),
             strides=list(a["strides"]), pads=onnx_pads(a["pads"]))


@converter("AvgPool")
def _avg_pool(ctx, node):
    a = node.attrs
    # Without padding both divisors are the window size; say count_include_pad=1 then, which onnxruntime runs
    # on its faster plain-average path.
    include_pad = int(a["count_include_pad"] or not any(a["pads"]))
    ctx.emit("AveragePool", [ctx.input(node.inputs[0])], out=node.outputs[0], kernel_shape=list(a["kernel"]),
             strides=list(a["strides"]), pads=onnx_pads(a["pads"]), count_include_pad=include_pad)


@converter("Softmax", "LogSoftmax")
def _softmax(ctx, node):
    ctx.emit(node.type, [ctx.input(node.inputs[0])], out=node.outputs[0], axis=node.attrs["axis"])


def _inference_only(ctx, node):
    """Check the training switch (the node's last input) is statically False."""
    switch = node.inputs[-1]
    value = ctx.value(switch)
    if value is None or bool(value):
        state = "fed at run time" if value is None else "statically True"
        raise ExportError(f"cannot export {node.type} in training mode: its training switch '{switch.name}' is "
                          f"{state}. ONNX export is for inference: leave the learning-phase placeholder out of "
                          "inputs (its default, False, is folded in)", node)


@converter("Dropout")
def _dropout(ctx, node):
    """In inference dropout is the identity: no node at all. Its mask output, if read, is ones."""
    _inference_only(ctx, node)
    x = node.inputs[0]
    ctx.alias(node.outputs[0], ctx.input(x))
    if ctx.is_read(node.outputs[1]):
        fill(ctx, ctx.shape(x), 1, x.dtype, out=node.outputs[1])


@converter("BatchNorm")
def _batch_norm(ctx, node):
    """BatchNormalization with the moving statistics (onnxruntime folds it into a preceding Conv). Its
    'mean/variance used' outputs are the moving statistics themselves in inference."""
    _inference_only(ctx, node)
    x, gamma, beta, mean, var, _ = node.inputs
    axis, eps = node.attrs["axis"], node.attrs["epsilon"]
    if axis == 1:
        ctx.emit("BatchNormalization", [ctx.input(t) for t in (x, gamma, beta, mean, var)], out=node.outputs[0],
                 epsilon=eps)
    else:
        _batch_norm_affine(ctx, node, x, gamma, beta, mean, var, axis, eps)
    ctx.alias(node.outputs[1], ctx.input(mean))
    ctx.alias(node.outputs[2], ctx.input(var))


def _batch_norm_affine(ctx, node, x, gamma, beta, mean, var, axis, eps):
    """ONNX normalises axis 1 only; elsewhere y = x·scale + shift, folded to two constants."""
    values = [ctx.value(t) for t in (gamma, beta, mean, var)]
    if any(v is None for v in values):
        raise ExportError(f"BatchNorm over axis {axis} needs constant parameters to export", node)
    g, b, m, v = values
    scale = g / np.sqrt(v + x.dtype.type(eps))
    shape = [-1 if i == axis else 1 for i in range(x.ndim)]
    scaled = ctx.emit("Mul", [ctx.input(x), ctx.const(scale.reshape(shape), f"{node.name}/scale")])
    ctx.emit("Add", [scaled, ctx.const((b - m * scale).reshape(shape), f"{node.name}/shift")], out=node.outputs[0])
