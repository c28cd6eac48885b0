"""Converters for the ops the ONNX importer added to graphcore: each is the ONNX op it was imported from."""
import numpy as np
from onnx import numpy_helper

from .registry import ExportError, converter


@converter("Shape", "Erf", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot")
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


@converter("GatherElements")
def _gather_elements(ctx, node):
    ctx.emit("GatherElements", [ctx.input(t) for t in node.inputs], out=node.outputs[0], axis=node.attrs["axis"])


@converter("ScatterElements")
def _scatter_elements(ctx, node):
    extra = {"reduction": "add"} if node.attrs["reduction"] == "add" else {}
    ctx.emit("ScatterElements", [ctx.input(t) for t in node.inputs], out=node.outputs[0], axis=node.attrs["axis"],
             **extra)


@converter("TopK")
def _top_k(ctx, node):
    k = ctx.const(np.array([node.attrs["k"]], np.int64), f"{node.name}/k")
    ctx.emit("TopK", [ctx.input(node.inputs[0]), k], outs=list(node.outputs), axis=node.attrs["axis"],
             largest=int(node.attrs["largest"]), sorted=1)


@converter("BitShift")
def _bit_shift(ctx, node):
    if node.inputs[0].dtype.kind == "i":
        raise ExportError(f"BitShift of signed {node.inputs[0].dtype.name} is ONNX from opset 28, newer than the "
                          "opsets graphcore exports (up to 25): shift an unsigned type", node)
    ctx.emit("BitShift", [ctx.input(t) for t in node.inputs], out=node.outputs[0],
             direction="LEFT" if node.attrs["left"] else "RIGHT")
