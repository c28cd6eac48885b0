"""Converters for the ops the ONNX importer added to graphcore: each is the ONNX op it was imported from."""
import numpy as np
from onnx import TensorProto, numpy_helper

from .registry import ExportError, converter


@converter("Shape", "NonZero", "Range")
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


def _reduction(ctx, node):
    """The reduction attribute: "add"/"mul" from opset 16, "max"/"min" from 18."""
    reduction = node.attrs["reduction"]
    if reduction == "none":
        return {}
    since = 16 if reduction in ("add", "mul") else 18
    if ctx.opset < since:
        raise ExportError(f"{node.type} with reduction '{reduction}' needs opset ≥ {since} (exporting {ctx.opset})",
                          node)
    return {"reduction": reduction}


@converter("ScatterElements")
def _scatter_elements(ctx, node):
    ctx.emit("ScatterElements", [ctx.input(t) for t in node.inputs], out=node.outputs[0], axis=node.attrs["axis"],
             **_reduction(ctx, node))


@converter("ScatterND")
def _scatter_nd(ctx, node):
    data, indices, updates = (ctx.input(t) for t in node.inputs)
    if node.inputs[1].dtype != np.int64:
        indices = ctx.emit("Cast", [indices], to=TensorProto.INT64)
    ctx.emit("ScatterND", [data, indices, updates], out=node.outputs[0], **_reduction(ctx, node))


@converter("GatherND")
def _gather_nd(ctx, node):
    data, indices = (ctx.input(t) for t in node.inputs)
    if node.inputs[1].dtype != np.int64:
        indices = ctx.emit("Cast", [indices], to=TensorProto.INT64)
    ctx.emit("GatherND", [data, indices], out=node.outputs[0], batch_dims=node.attrs["batch_dims"])


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


@converter("UniqueIndices")
def _unique(ctx, node):
    extra = {} if node.attrs["axis"] is None else {"axis": node.attrs["axis"]}
    ctx.emit("Unique", [ctx.input(node.inputs[0])], outs=[None] + list(node.outputs), sorted=int(node.attrs["ordered"]),
             **extra)


@converter("NonMaxSuppression")
def _non_max_suppression(ctx, node):
    a = node.attrs
    # ONNX's NonMaxSuppression takes float32 boxes and scores only
    inputs = [ctx.input(t) if t.dtype == np.float32 else ctx.emit("Cast", [ctx.input(t)], to=TensorProto.FLOAT)
              for t in node.inputs]
    inputs.append(ctx.const(np.array([a["max_output"]], np.int64), f"{node.name}/max_output"))
    inputs.append(ctx.const(np.array([a["iou_threshold"]], np.float32), f"{node.name}/iou_threshold"))
    if a["score_threshold"] is not None:
        inputs.append(ctx.const(np.array([a["score_threshold"]], np.float32), f"{node.name}/score_threshold"))
    ctx.emit("NonMaxSuppression", inputs, out=node.outputs[0], center_point_box=a["center_point_box"])
