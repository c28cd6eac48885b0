"""Read a graphcore graph (or a model's graph and layers) into an ``OpGraph``.

Body graphs stored in a node's attributes (a Scan's step function) are read recursively: their nodes are
named and scoped under the node that owns them, so a view draws the owner as a cluster with its body inside,
one level deeper.
"""
import numpy as np

from ..graph import Graph
from ..layers.layout import internal_of, layout_transposes
from ..ops.array import Reshape
from ..ops.math import AddN
from ..ops.state import Constant, Placeholder, VariableOp
from .model import LayerInfo, OpGraph, OpRecord, Value
from .text import attr_lines, detail_lines, shape_text, value_text

_KINDS = {Placeholder: "placeholder", VariableOp: "variable", Constant: "constant"}   # by op class
_LAYER_SETTINGS = ("filters", "units", "kernel_size", "pool_size", "strides", "padding", "dilation_rate",
                   "groups", "depth_multiplier", "activation", "rate", "target_shape")


def from_graphcore(obj):
    """An ``OpGraph`` for a ``Graph`` or a model (anything with ``.graph``; ``.layers`` adds layer info)."""
    graph = obj if isinstance(obj, Graph) else obj.graph
    out = OpGraph(name=getattr(obj, "name", None) or "graph", ops=[], values={})
    _read(graph, out, prefix="", scope=(), depth=0)
    compiled = getattr(obj, "compilation", None)
    if compiled is not None and compiled.loss is not None:
        out.name_the_loss(_value_id("", compiled.loss))
    for name, layer in _named_layers(getattr(obj, "layers", ()), out.models):
        settings = {k: getattr(layer, k) for k in _LAYER_SETTINGS if _plain(getattr(layer, k, None))}
        out.layers[name] = LayerInfo(type(layer).__name__, attr_lines(settings))
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        for t in outputs:
            # a layer returns NHWC images; the next layer reads the NCHW tensor beneath (the layout pass),
            # so that is the edge a layer view draws: label it with the user's shape too
            for value in (t, internal_of(t)) if t is not None else ():
                if value is not None and _value_id("", value) in out.values:
                    out.values[_value_id("", value)].user_shape = tuple(t.shape)
    return out


def _named_layers(layers, models, prefix=""):
    """(scope, layer) pairs; a nested model is a scope holding its layers (``encoder/dense``), recorded in
    ``models``, so views draw it as one box that opens into its layers at a deeper ``depth``."""
    for layer in layers:
        if hasattr(layer, "_calls"):
            inner = [x for x in layer.layers if type(x).__name__ != "InputLayer"]
            count = f"{len(inner)} layer" + "s" * (len(inner) != 1)
            models[prefix + layer.name] = LayerInfo(type(layer).__name__, [count])
            yield from _named_layers(inner, models, f"{prefix}{layer.name}/")
        else:
            yield prefix + layer.name, layer


def _plain(value):
    """Settings worth showing: numbers, names, tuples and activation functions, not weight tensors."""
    return value is not None and (isinstance(value, (int, float, str, tuple, list)) or callable(value)) \
        and not hasattr(value, "node")


def _read(graph, out, prefix, scope, depth):
    index_of = {}
    unread = layout_transposes(graph)
    for node in graph.nodes:
        if node.id in unread and not graph.consumers_of(node):
            continue   # a layer's NHWC output that nothing reads: the layout pass never runs it
        index = len(out.ops)
        index_of[node] = index
        name = prefix + node.name
        path = tuple(node.name.split("/"))
        bodies = {k: v for k, v in node.attrs.items() if isinstance(v, Graph)}
        kind = _KINDS.get(type(node.op), "op")
        record = OpRecord(
            index=index, name=name, type=node.type, kind=kind,
            scope=scope + (path if bodies else path[:-1]),
            inputs=[_value_id(prefix, t) for t in node.inputs],
            outputs=[_value_id(prefix, t) for t in node.outputs],
            controls=[index_of[c] for c in node.control_inputs],
            attrs=_display_attrs(node, kind),
            body_depth=depth, site=node.site or "",
            details=detail_lines({k: v for k, v in node.attrs.items() if k not in bodies and k != "initializer"}),
            sums_fan_in=isinstance(node.op, AddN))
        if kind == "variable":
            record.params = int(np.prod(node.attrs["shape"], dtype=np.int64))
            record.trainable = bool(node.attrs["trainable"])
            if node.attrs.get("initializer") is not None:
                record.inits = [_value_id(prefix, node.attrs["initializer"])]
        record.switch = kind == "placeholder" and node.attrs.get("default") is not None
        out.ops.append(record)
        for t in node.outputs:
            out.values[_value_id(prefix, t)] = Value(tuple(t.shape), t.dtype.name, index)
        for attr, body in bodies.items():
            _read(body, out, prefix=f"{name}/{attr}/", scope=record.scope + (attr,), depth=depth + 1)


def _value_id(prefix, tensor):
    return f"{prefix}{tensor.node.name}:{tensor.index}"


def _display_attrs(node, kind):
    if kind == "variable":
        return [shape_text(node.attrs["shape"])] + ([] if node.attrs["trainable"] else ["frozen"])
    if kind == "constant":
        return [value_text(node.attrs["value"]) or shape_text(node.attrs["value"].shape)]
    if kind == "placeholder":
        return [node.attrs["dtype"].name] + (["has default"] if node.attrs.get("default") is not None else [])
    attrs = dict(node.attrs)
    if "shape" in attrs and not isinstance(node.op, Reshape):
        attrs.pop("shape")
    elif "shape" in attrs:
        attrs["target_shape"] = attrs.pop("shape")
    return attr_lines(attrs)
