"""Converters for convolution, pooling, softmax and dropout (batch normalisation: ``convert_norm``).

graphcore pads are (top, bottom, left, right); ONNX wants all begins then all ends: (top, left, bottom, right).
"""
import numpy as np
from onnx import helper

from .convert_math import fill
from .registry import converter


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
    strided convolution dropped, to reach ``input_hw`` exactly. A unit-stride 'same' one is a plain
    convolution with the filters flipped and transposed (padding d·(k − 1) − p), which onnxruntime runs on
    its faster Conv kernels (ConvTranspose: ~1.5× the time on a VGG training step's input gradients)."""
    dy, w = node.inputs[:2]
    a = node.attrs
    kernel = w.shape[2:]
    if None in a["input_hw"]:
        _conv_transpose_to_like(ctx, node)
        return
    flipped_pads = [d * (k - 1) - p for d, k, p in zip(a["dilations"] * 2, kernel * 2, onnx_pads(a["pads"]))]
    same_size = tuple(dy.shape[2:]) == tuple(a["input_hw"])   # ('valid' ones would pad dy by k − 1 all round)
    if a["strides"] == (1, 1) and a["groups"] == 1 and same_size and min(flipped_pads) >= 0:
        flipped = ctx.emit("Slice", [ctx.input(w), ctx.const(np.array([-1, -1], np.int64), f"{node.name}/start"),
                                     ctx.const(np.array([-2**62, -2**62], np.int64), f"{node.name}/end"),
                                     ctx.const(np.array([2, 3], np.int64), f"{node.name}/axes"),
                                     ctx.const(np.array([-1, -1], np.int64), f"{node.name}/steps")])
        filters = ctx.emit("Transpose", [flipped], perm=[1, 0, 2, 3])
        ctx.emit("Conv", [ctx.input(dy), filters], out=node.outputs[0], kernel_shape=list(kernel),
                 dilations=list(a["dilations"]), pads=flipped_pads)
        return
    attrs = _conv_attrs(node, kernel)
    extra = []
    for i, (size, k) in enumerate(zip(a["input_hw"], kernel)):
        natural = (dy.shape[2 + i] - 1) * a["strides"][i] - a["pads"][2 * i] - a["pads"][2 * i + 1] \
            + a["dilations"][i] * (k - 1) + 1
        extra.append(size - natural)
    if any(extra):
        attrs["output_padding"] = extra
    ctx.emit("ConvTranspose", [ctx.input(dy), ctx.input(w)], out=node.outputs[0], **attrs)


def _conv_transpose_to_like(ctx, node):
    """A size known only at run time (the ``like`` input's): with unit strides ConvTranspose's natural size is
    exactly it; with larger strides, output_padding = stride − 1 gives the largest input the convolution could
    have read, and a Slice to ``like``'s size keeps the part that input had (the rows past it are the ones a
    strided convolution never read)."""
    dy, w, like = node.inputs
    a = node.attrs
    attrs = _conv_attrs(node, w.shape[2:])
    strided = any(s > 1 for s in a["strides"])
    if strided:
        attrs["output_padding"] = [s - 1 for s in a["strides"]]
    full = ctx.emit("ConvTranspose", [ctx.input(dy), ctx.input(w)], out=None if strided else node.outputs[0], **attrs)
    if strided:
        axes = ctx.const(np.array([2, 3], np.int64), f"{node.name}/axes")
        size = ctx.emit("Slice", [ctx.emit("Shape", [ctx.input(like)]), ctx.const(np.array([2], np.int64),
                                                                                  f"{node.name}/two"),
                                  ctx.const(np.array([4], np.int64), f"{node.name}/four")])
        ctx.emit("Slice", [full, ctx.const(np.array([0, 0], np.int64), f"{node.name}/starts"), size, axes],
                 out=node.outputs[0])


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


def training_switch(ctx, node):
    """The training switch (the node's last input): True or False when it is static, else the name of the
    bool value it is fed as. A training-step export folds the learning phase to True, an inference export to
    its default, False."""
    switch = node.inputs[-1]
    value = ctx.value(switch)
    return ctx.input(switch) if value is None else bool(value)


def switched(ctx, switch, when_training, otherwise, out=None):
    """``when_training()`` or ``otherwise()`` for a static switch, a Where of both for a fed one."""
    if switch is True or switch is False:
        value = when_training() if switch else otherwise()
        if out is not None:
            ctx.alias(out, value)
        return value
    return ctx.emit("Where", [switch, when_training(), otherwise()], out=out)


@converter("Dropout")
def _dropout(ctx, node):
    """Inference: the identity (no node) and a mask of ones. Training: a mask ``U[0, 1) ≥ rate`` scaled by
    1/(1 − rate), drawn by ONNX's RandomUniformLike (its stream is not graphcore's; the keep rate is)."""
    from .convert_state import uniform_like
    x = node.inputs[0]
    rate = node.attrs["rate"]
    switch = training_switch(ctx, node)

    def drawn_mask():
        keep = ctx.emit("GreaterOrEqual", [uniform_like(ctx, ctx.input(x), x.dtype),
                                           ctx.const(np.array(rate, x.dtype), f"{node.name}/rate")])
        keep = ctx.emit("Cast", [keep], to=helper.np_dtype_to_tensor_dtype(x.dtype))
        return ctx.emit("Mul", [keep, ctx.const(np.array(1 / (1 - rate), x.dtype), f"{node.name}/scale")])

    def ones():
        return fill(ctx, ctx.shape(x), 1, x.dtype)
    if switch is False or rate == 0:
        ctx.alias(node.outputs[0], ctx.input(x))
        if ctx.is_read(node.outputs[1]):
            fill(ctx, ctx.shape(x), 1, x.dtype, out=node.outputs[1])
        return
    mask = switched(ctx, switch, drawn_mask, ones, out=node.outputs[1])
    ctx.emit("Mul", [ctx.input(x), mask], out=node.outputs[0])
