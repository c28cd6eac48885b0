"""Ops with no import rule of their own, imported through onnx's own expansion: the schema's function body.

Many ONNX ops are *defined* as a subgraph of simpler ops (Attention, RotaryEmbedding, GroupNormalization, the
window functions, SwiGLU, Celu…): ``onnx.defs.get_schema(op, version)`` carries that body, fixed
(``function_body``) or built for the node at hand (``get_context_dependent_function``, which reads the node's
attributes and its inputs' types). onnx expands them so for its own ``_expanded`` test cases; importing such an
op is the same expansion, done while importing: the body's nodes are walked like the main graph's, with the
node's inputs bound to the body's formal inputs and the node's attributes bound where the body refers to them
(``ref_attr_name``). Bodies that call other bodied ops are expanded in turn.

So an op gets an import rule of its own only when it has no body, or when a rule does better than the body
(fewer nodes, a fused kernel, a clearer gradient).
"""
import numpy as np
import onnx
from onnx import defs, helper

from graphcore.graph import Tensor

from .import_registry import OnnxImportError


def body_of(node, inputs, opsets):
    """The FunctionProto that defines ``node`` at the model's opset for its domain, with the schema's
    attribute defaults added to the body's own, or None when the schema has no body."""
    domain = "" if node.proto.domain in ("", "ai.onnx") else node.proto.domain
    version = opsets.get(domain)
    if version is None:
        return None
    try:
        schema = defs.get_schema(node.op_type, version, domain)
    except defs.SchemaError:
        return None
    if schema.has_function:
        data = schema.get_function_with_opset_version(_pick(schema.function_opset_versions, version))
    elif schema.has_context_dependent_function:
        types = [_type_proto(v).SerializeToString() for v in inputs]
        chosen = _pick(schema.context_dependent_function_opset_versions, version)
        data = schema.get_context_dependent_function_with_opset_version(chosen, node.proto.SerializeToString(),
                                                                        types)
    else:
        return None
    if not data:
        return None
    function = onnx.FunctionProto()
    function.ParseFromString(data)
    declared = {a.name for a in function.attribute_proto}
    for name, attr in schema.attributes.items():
        if name not in declared and attr.default_value.name:
            function.attribute_proto.append(attr.default_value)
    return function


def _pick(versions, opset):
    """The body written for the newest opset not above the model's (else the oldest there is)."""
    below = [v for v in versions if v <= opset]
    return max(below) if below else min(versions)


def _type_proto(value):
    """The ONNX type of an input value, for bodies that depend on it (an omitted input: an empty type)."""
    if value is None:
        return onnx.TypeProto()
    dtype = value.dtype if isinstance(value, (Tensor, np.ndarray)) else np.asarray(value).dtype
    shape = value.shape if isinstance(value, Tensor) else np.shape(value)
    return helper.make_tensor_type_proto(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(shape))


def bound_nodes(function, node):
    """The body's nodes with every attribute reference (``ref_attr_name``) replaced by the node's attribute
    of that name, else the body's default, else dropped (an optional attribute left unset)."""
    given = {a.name: a for a in node.proto.attribute}
    defaults = {a.name: a for a in function.attribute_proto}
    nodes = []
    for proto in function.node:
        bound = onnx.NodeProto()
        bound.CopyFrom(proto)
        del bound.attribute[:]
        for attr in proto.attribute:
            if attr.ref_attr_name:
                source = given.get(attr.ref_attr_name) or defaults.get(attr.ref_attr_name)
                if source is None:
                    continue
                attr = _renamed(source, attr.name)
            bound.attribute.append(attr)
        nodes.append(bound)
    return nodes


def _renamed(attr, name):
    copy = onnx.AttributeProto()
    copy.CopyFrom(attr)
    copy.name = name
    return copy


def inline(ctx, node, inputs, function):
    """Import ``function`` (the body of ``node``) in place of the node; return the node's output values."""
    from .from_onnx import walk
    if len(inputs) > len(function.input):
        raise OnnxImportError(f"{node.op_type} '{node.name}' has {len(inputs)} inputs, its body {len(function.input)}")
    opsets = dict(ctx.opsets)
    opsets.update({o.domain: o.version for o in function.opset_import})
    body = helper.make_graph(bound_nodes(function, node), f"{node.op_type}_body", [], [])
    saved = dict(ctx.values)
    ctx.values.update(zip(function.input, list(inputs) + [None] * (len(function.input) - len(inputs))))
    try:
        walk(ctx, body, opsets)
        return [ctx.values.get(name) for name in function.output[:len(node.outputs)]]
    finally:
        ctx.values.clear()
        ctx.values.update(saved)
