"""The ONNX side of the op registry: one converter per graphcore op type, or a documented reason why not.

``CONVERTERS`` maps op type → ``convert(ctx, node)``, which emits standard ``ai.onnx`` nodes through the
export context (see ``exporter.Context``). ``REASONS`` maps op type → why that op has no inference-time ONNX
form; the exporter raises ``ExportError`` with that reason, naming the node and its creation site, but only
when the node actually feeds the exported outputs (training updates are pruned before conversion).
``LEAVES`` are handled by the exporter itself: constants and variables become initializers, placeholders
graph inputs (or constants, from their default, when they are not inputs).

A test asserts that every op in ``graphcore.op.REGISTRY`` is in exactly one of the three.
"""
from graphcore.errors import GraphcoreError

CONVERTERS = {}

LEAVES = frozenset({"Constant", "Variable", "Placeholder"})

_STATE = ("it writes a variable: state updates belong to training, not to an inference graph "
          "(export the model's outputs; the update ops are pruned unless an output depends on them)")
_OPTIMIZER = ("an optimizer update writes variables; ONNX's ai.onnx.preview.training ops are not run by "
              "stock onnxruntime, and an inference graph holds no training step")
_RANDOM = ("it draws random numbers from graphcore's per-node generator; ONNX random ops use another "
           "generator, so the file could never reproduce the interpreter, and inference should be deterministic")
_GRAD_ONLY = ("it exists only inside gradient graphs and has no single standard ONNX op; export the forward "
              "model (training graphs are not exported)")

REASONS = {
    "Assign": _STATE,
    "AssignAdd": _STATE,
    "ApplyGradientDescent": _OPTIMIZER,
    "ApplyMomentum": _OPTIMIZER,
    "ApplyRMSProp": _OPTIMIZER,
    "ApplyAdam": _OPTIMIZER,
    "NoOp": "it has no value, only control dependencies (a grouped training step); ONNX has no control edges",
    "RandomNormal": _RANDOM,
    "RandomUniform": _RANDOM,
    "Bernoulli": _RANDOM,
    "Conv2DBackpropFilter": _GRAD_ONLY,
    "MaxPoolGrad": _GRAD_ONLY,
    "MaxPoolGradGrad": _GRAD_ONLY,
    "AvgPoolGrad": _GRAD_ONLY,
    "SliceGrad": _GRAD_ONLY,
    "LinearSolve": ("ai.onnx has no linear-solve or matrix-inverse op (Inverse is only in the com.microsoft "
                    "contrib domain); a deep stacking network solves its upper weights while training and "
                    "stores them in variables, so its inference graph needs only MatMul"),
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
