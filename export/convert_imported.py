"""Converters for the ops the ONNX importer added to graphcore: each is the ONNX op it was imported from."""
from onnx import numpy_helper

from .registry import converter


@converter("Shape", "Erf")
def _same(ctx, node):
    ctx.emit(node.type, [ctx.input(t) for t in node.inputs], out=node.outputs[0])


@converter("ReshapeTo")
def _reshape(ctx, node):
    extra = {"allowzero": 1} if node.attrs["allowzero"] else {}
    ctx.emit("Reshape", [ctx.input(t) for t in node.inputs], out=node.outputs[0], **extra)


@converter("Expand")
def _expand(ctx, node):
    ctx.emit("Expand", [ctx.input(t) for t in node.inputs], out=node.outputs[0])


@converter("ConstantOfShape")
def _constant_of_shape(ctx, node):
    value = numpy_helper.from_array(node.attrs["value"].reshape(1), "value")
    ctx.emit("ConstantOfShape", [ctx.input(node.inputs[0])], out=node.outputs[0], value=value)
