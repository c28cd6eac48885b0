"""The import side of the ONNX bridge: ONNX op type → graphcore builder, or the documented reason it is refused.

Mirrors ``registry.py`` (graphcore op → ONNX converter). A builder is ``fn(ctx, node, inputs)``: ``node`` is the
``onnx.NodeProto`` wrapped as ``OnnxNode`` (attribute access with defaults, the opset version), ``inputs`` the
values of its inputs (a graphcore ``Tensor``, a NumPy array for a value known when importing, or ``None`` for
an omitted optional input). It returns the list of output values, in the same three kinds.

Builders are written by *semantics*, not by opset version: one builder reads every version's form of its op
(attributes that later became inputs, changed defaults), so a new opset version of an unchanged op imports
without a code change — version pinning is the commonest failure of ONNX importers.

``REFUSED`` lists op types graphcore will not import, each with the reason the error repeats.
"""
from graphcore.errors import GraphcoreError

IMPORTERS = {}

_NO_STRINGS = "graphcore tensors are numeric; string tensors have no NumPy kernel here"
_RANDOM = ("ONNX random ops use another generator than graphcore's per-node one, so an imported graph could not "
           "reproduce the exporter's numbers; feed the random values as an input instead")
_TRAINING = ("ai.onnx.preview.training ops describe a training step; graphcore builds its own from gradients "
             "and optimizers (gc.gradients, gc.train)")
_SEQUENCE = "graphcore has no sequence or optional type: every value is one dense tensor"

_INTERPOLATION = ("pooling regions of interest at data-dependent boxes is not composed yet (GridSample, sampling at "
                  "data-dependent positions, and Resize are imported)")
REFUSED = {
    "RoiAlign": _INTERPOLATION,
    "MaxRoiPool": _INTERPOLATION,
    "StringNormalizer": _NO_STRINGS, "StringConcat": _NO_STRINGS, "StringSplit": _NO_STRINGS,
    "RegexFullMatch": _NO_STRINGS,
    "RandomNormal": _RANDOM, "RandomUniform": _RANDOM, "RandomNormalLike": _RANDOM,
    "RandomUniformLike": _RANDOM, "Multinomial": _RANDOM, "Bernoulli": _RANDOM,
    "Gradient": _TRAINING, "Adagrad": _TRAINING, "Adam": _TRAINING, "Momentum": _TRAINING,
    "SequenceAt": _SEQUENCE, "SequenceConstruct": _SEQUENCE, "SequenceEmpty": _SEQUENCE,
    "SequenceErase": _SEQUENCE, "SequenceInsert": _SEQUENCE, "SequenceLength": _SEQUENCE,
    "SequenceMap": _SEQUENCE, "SplitToSequence": _SEQUENCE, "ConcatFromSequence": _SEQUENCE,
    "Optional": _SEQUENCE, "OptionalGetElement": _SEQUENCE, "OptionalHasElement": _SEQUENCE,
}


class OnnxImportError(GraphcoreError, ValueError):
    """An ONNX model cannot be imported (or is refused as unsafe); names the op, the node and the reason."""


class NeedsStaticValue(OnnxImportError):
    """A builder needs, at import time, a value that is only known when running (a shape from a graph input).

    ``names`` are the ONNX graph inputs it depends on; a caller that knows their values (onnx's conformance
    runner, which passes them to every run) may import again with those inputs bound as constants."""

    def __init__(self, message, names=()):
        self.names = tuple(names)
        super().__init__(message)


def importer(*op_types):
    """Decorator: register ``fn(ctx, node, inputs)`` as the builder of ``op_types``."""
    def register(fn):
        for op_type in op_types:
            if op_type in IMPORTERS or op_type in REFUSED:
                raise ValueError(f"{op_type} has two import rules")
            IMPORTERS[op_type] = fn
        return fn
    return register


def refusal(node, reason=None):
    """The error for an ONNX node that cannot be imported: op type, node name and why."""
    reason = reason or REFUSED.get(node.op_type, "graphcore has no import rule for this op type")
    name = node.name or (node.output[0] if node.output else "?")
    return OnnxImportError(f"cannot import ONNX op {node.op_type} (node '{name}'): {reason}")
