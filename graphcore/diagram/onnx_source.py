"""Read an ONNX model (ours or anyone's) into an ``OpGraph``, subgraphs included.

Shapes come from ONNX shape inference where the file lacks them; symbolic dims keep their names ("N").
Initializers are the weights (their sizes are the parameter counts); graph inputs that are not initializers
are the placeholders. Node names may be empty in third-party files: such a node is named after its op type
and position. Names like ``/layer1/conv/Conv`` (PyTorch's exporter) give scopes, as ours do. A node with
graph attributes (Loop, Scan, If) owns its bodies: their nodes are scoped under it, and values a body reads
from the enclosing graph are drawn as edges from their outer producer.
"""
import json
import pathlib

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from ..errors import GraphcoreError
from .model import OpGraph, OpRecord, Value
from .text import attr_lines, detail_lines, shape_text, value_text

_ATTR_TYPES = (onnx.AttributeProto.INT, onnx.AttributeProto.INTS, onnx.AttributeProto.FLOAT,
               onnx.AttributeProto.STRING)


def from_file(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such ONNX file: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and others for files that are not ONNX
        raise GraphcoreError(f"{path} is not a readable ONNX model ({type(e).__name__}: {e})") from None
    return from_proto(model, name=path.stem)


def from_proto(model, name=None):
    try:
        model = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 — inference is a bonus: a model it cannot handle is drawn without it
        pass
    contract = next((json.loads(p.value) for p in model.metadata_props if p.key == "graphcore.training"), None)
    out = OpGraph(name=name or model.graph.name or "onnx", ops=[], values={}, source="onnx",
                  training_step=contract is not None)
    # A training step's weights are the state it writes; its other initializers (OneHot's values, a learning
    # rate) are settings, not parameters, so the file counts what the model counts. The state's first values
    # are in training_info (export/training.py), drawn as the initializers they stand for.
    weights = ({state for state, _ in contract.get("state", [])} | set(contract.get("parameters", []))
               if contract else None)
    first_values = [t for info in model.training_info for t in info.initialization.initializer]
    _read(model.graph, out, prefix="", scope=(), depth=0, outer={}, weights=weights, defaults=first_values)
    for state, new in contract.get("state", []) if contract else ():
        out.new_values[new] = state
    if contract and contract.get("loss") in out.values:
        out.name_the_loss(contract["loss"])
    return out


def _value_types(graph):
    types = {}
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        tensor = info.type.tensor_type
        shape = None
        if tensor.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else _dim_name(d.dim_param) for d in tensor.shape.dim)
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name if tensor.elem_type else "?"
        types[info.name] = (shape, dtype)
    return types


def _dim_name(param):
    """A symbolic dim keeps the file's name ("batch"); the names shape inference invents ("unk__0") mean
    "unknown", drawn "?" as a model draws it."""
    return None if not param or param.startswith("unk__") else param


def _read(graph, out, prefix, scope, depth, outer, weights=None, defaults=()):
    """Add ``graph``'s initializers (and ``defaults``, values held elsewhere for its inputs), inputs and nodes;
    ``outer`` maps names visible from enclosing graphs."""
    types = _value_types(graph)
    visible = dict(outer)

    def add(name, type_, kind, attrs, params=0, trainable=None, inputs=(), op_scope=scope, outputs=None):
        index = len(out.ops)
        record = OpRecord(index=index, name=prefix + name, type=type_, kind=kind, scope=op_scope,
                          inputs=[visible[v] for v in inputs if v in visible], attrs=attrs, params=params,
                          trainable=trainable, body_depth=depth)
        for v in outputs if outputs is not None else [name]:
            if not v:
                continue
            vid = prefix + v
            shape, dtype = types.get(v, (None, "?"))
            out.values[vid] = Value(shape, dtype, index)
            record.outputs.append(vid)
            visible[v] = vid
        out.ops.append(record)
        return record

    for init in list(graph.initializer) + list(defaults):
        array_shape, dtype = tuple(init.dims), helper.tensor_dtype_to_np_dtype(init.data_type).name
        types[init.name] = (array_shape, dtype)
        size = int(np.prod(array_shape, dtype=np.int64))
        init_scope = scope + tuple(p for p in init.name.split("/") if p)[:-1]
        if size == 1 and init.data_location != onnx.TensorProto.EXTERNAL:
            add(init.name, "Initializer", "constant", [value_text(numpy_helper.to_array(init))], op_scope=init_scope)
        elif np.dtype(dtype).kind != "f" or (weights is not None and init.name not in weights):
            # shapes, axes, indices, and a training step's constants: settings, not weights
            add(init.name, "Initializer", "constant", [shape_text(array_shape)], op_scope=init_scope)
        else:
            add(init.name, "Initializer", "variable", [shape_text(array_shape)], params=size, op_scope=init_scope)
    initialized = {init.name for init in list(graph.initializer) + list(defaults)}
    for info in graph.input:
        if info.name not in initialized:
            add(info.name, "Input", "placeholder", [types.get(info.name, (None, "?"))[1]])
    for position, node in enumerate(graph.node):
        name = node.name or f"{node.op_type}_{position}"
        path = tuple(p for p in name.split("/") if p)
        bodies = [(a.name, g) for a in node.attribute for g in _graphs(a)]
        kind = "constant" if node.op_type == "Constant" else "op"
        record = add(name.lstrip("/"), node.op_type, kind, _display_attrs(node), inputs=node.input,
                     op_scope=scope + (path if bodies else path[:-1]), outputs=list(node.output))
        record.site = node.doc_string.rpartition(" created at ")[2] if " created at " in node.doc_string else ""
        record.details = detail_lines({a.name: _attribute_value(a) for a in node.attribute
                                       if a.type in _ATTR_TYPES})
        for k, (attr, body) in enumerate(bodies):
            label = attr if sum(a == attr for a, _ in bodies) == 1 else f"{attr}_{k}"
            _read(body, out, prefix=f"{record.name}/{label}/", scope=record.scope + (label,), depth=depth + 1,
                  outer=visible)


def _graphs(attribute):
    if attribute.type == onnx.AttributeProto.GRAPH:
        return [attribute.g]
    if attribute.type == onnx.AttributeProto.GRAPHS:
        return list(attribute.graphs)
    return []


def _attribute_value(attribute):
    value = helper.get_attribute_value(attribute)
    return value.decode() if isinstance(value, bytes) else value


def _display_attrs(node):
    values = {a.name: _attribute_value(a) for a in node.attribute if a.type in _ATTR_TYPES}
    if node.op_type == "Constant":
        tensors = [helper.get_attribute_value(a) for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
        if tensors:
            array = numpy_helper.to_array(tensors[0])
            return [value_text(array) or shape_text(array.shape)]
    return attr_lines(values)
