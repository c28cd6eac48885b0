"""Cond → ONNX If, each branch exported by a nested export context as a subgraph without inputs.

A branch reads the outer values it captured by name (ONNX subgraphs see the enclosing scope); static ones also
fold into the branch's constants, as for Scan bodies. Outputs of the two branches may differ in size where the
graphcore node left the size unknown; ONNX allows that.
"""
from graphcore.session import Session

from .convert_scan import output_names
from .exporter import Context
from .registry import converter
from .source import Source


@converter("Cond")
def _cond(ctx, node):
    a, operands = node.attrs, node.inputs[1:]
    branches = {}
    for which, attr in (("true", "then_branch"), ("false", "else_branch")):
        prefix = f"{node.name}/{which}/"
        used = [(ph, t) for ph, t in zip(a[f"{which}_in"], operands) if ph is not None]
        static = {ph: ctx.value(t) for ph, t in used if ctx.is_static(t)}
        bound = {ph: ctx.input(t) for ph, t in used if ph not in static}
        outputs = list(a[f"{which}_out"])
        source = Source(a[f"{which}_body"], [], outputs, Session(a[f"{which}_body"]), prefix[:-1])
        body = Context(source, ctx.opset, prefix=prefix, bound=bound, feeds=static,
                       output_names=output_names(prefix, outputs))
        for ph, t in used:
            if ph in static:
                body.alias(ph, ctx.input(t))   # read the outer initializer; folding still sees the value
        body.convert()
        branches[attr] = body.make_graph(None, prefix[:-1].replace("/", "_"))
    ctx.emit("If", [ctx.input(node.inputs[0])], outs=list(node.outputs), **branches)
