"""The ONNX side of the op registry: one converter per graphcore op type, or a documented reason why not.

``CONVERTERS`` maps op type → ``convert(ctx, node)``, which emits standard ``ai.onnx`` nodes through the
export context (see ``exporter.Context``): forward ops, gradient-only ops, variable writes and optimizer
updates (functional: new values out) and random draws. ``REASONS`` maps op type → why that op has no standard
ONNX form; the exporter raises ``ExportError`` with that reason, naming the node and its creation site, but
only when the node actually feeds the exported outputs.
``LEAVES`` are handled by the exporter itself: constants and variables become initializers, placeholders
graph inputs (or constants, from their default, when they are not inputs).

A test asserts that every op in ``graphcore.op.REGISTRY`` is in exactly one of the three.
"""
from graphcore.errors import GraphcoreError

CONVERTERS = {}

LEAVES = frozenset({"Constant", "Variable", "Placeholder"})

REASONS = {
    "NoOp": ("it has no value, only control dependencies (a grouped training step); ONNX has no control edges: "
             "export the step itself with to_onnx(..., train_op=step) or to_onnx(model, training=True)"),
    "BitCast": ("ONNX's BitCast arrived in opset 26, newer than the opsets graphcore exports (up to 25, the newest "
                "that the pinned onnxruntime runs), and no older op reinterprets bits"),
    "TruncatedNormal": ("ONNX has no truncated normal draw (it would need a redraw loop or an inverse error "
                        "function); a variable it initialises exports as its value, so only a graph that draws "
                        "it on every run cannot be exported"),
}


class ExportError(GraphcoreError, ValueError):
    """A graph cannot be exported as asked; names the node and where the user created it."""


def converter(*op_types):
    """Decorator: register ``fn(ctx, node)`` as the converter of ``op_types``."""
    def register(fn):
        for op_type in op_types:
            if op_type in CONVERTERS or op_type in REASONS:
                raise ValueError(f"{op_type} has two ONNX mappings")
            CONVERTERS[op_type] = fn
        return fn
    return register


def unsupported(node):
    """The error for a node without a converter: its documented reason, or a note that none is written."""
    reason = REASONS.get(node.type, "no ONNX converter is registered for this op type (add one in "
                                    "graphcore/export or list a reason in REASONS)")
    return ExportError(f"cannot export op {node.type}: {reason}", node)
