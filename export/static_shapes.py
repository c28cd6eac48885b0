"""Every tensor's shape with the batch fixed: what lets a static training step fold its shape arithmetic.

graphcore infers shapes when a graph is built, with ``None`` for a size known only at run time (the batch).
An exported file that keeps those sizes symbolic must compute shapes at run time: ``Shape``, ``Size``, the
``Cast`` and ``Div`` of a mean's element count, ``ConstantOfShape`` for zeros. onnxruntime's CUDA provider
runs that arithmetic on the CPU and copies it across, which also rules out CUDA graph capture (DESIGN.md §6).

``fixed_shapes`` re-runs each op's own shape rule (``Op.infer``) over the exported nodes with the data
inputs' unknown sizes filled in, so the converters see every size and emit constants instead. Nothing is
built: the rule reads a stand-in for the node whose inputs carry the new shapes. Loop bodies are walked
with their placeholders bound to the loop's per-step shapes.
"""
import numpy as np

from graphcore.control import LoopLayout
from graphcore.control.scan import Scan
from graphcore.errors import GraphcoreError
from graphcore.graph import Tensor
from graphcore.ops.state import Placeholder
from graphcore.shapes import format_shape

from .registry import ExportError


class _WithShapes:
    """A node as its op's shape rule sees it, with inputs carrying other shapes (everything else delegates)."""

    def __init__(self, node, inputs):
        self._node, self.inputs = node, tuple(inputs)

    def __getattr__(self, name):
        return getattr(self._node, name)


def fixed_shapes(nodes, given):
    """{tensor: shape} for the outputs of ``nodes`` (in creation order) and for ``given`` (tensor → shape,
    the inputs with their sizes filled in). Raises ``ExportError`` naming the first node whose shape rule
    refuses the new sizes or still leaves a size unknown."""
    shapes = dict(given)
    for node in nodes:
        _node_shapes(node, shapes)
    return shapes


def _node_shapes(node, shapes):
    if all(t in shapes for t in node.outputs):
        return
    if isinstance(node.op, Scan):
        _scan_shapes(node, shapes)
    elif isinstance(node.op, Placeholder) and "default" in node.attrs:   # not fed: it takes its default
        shapes[node.outputs[0]] = np.shape(node.attrs["default"])
    elif any(shapes.get(t, t.shape) != t.shape for t in node.inputs):
        stand_in = _WithShapes(node, [Tensor(t.node, t.index, t.dtype, shapes.get(t, t.shape)) for t in node.inputs])
        try:
            types = node.op.infer(stand_in)
        except GraphcoreError as e:
            raise ExportError(f"with the batch fixed, {node.type} refuses its inputs: {e.detail}", node) from None
        shapes.update((t, tuple(shape)) for t, (_, shape) in zip(node.outputs, types))
    else:
        shapes.update((t, t.shape) for t in node.outputs)
    unknown = [t for t in node.outputs if None in shapes[t]]
    if unknown:
        raise ExportError(f"a static step needs every size known, but {unknown[0].name} is "
                          f"{format_shape(shapes[unknown[0]])} even with the batch fixed (a size computed "
                          "from data); export with batch_size=None", node)


def _scan_shapes(node, shapes):
    """A loop: its body's placeholders take the per-step shapes of the sequences, states and captures; the
    body is walked, and the loop's outputs are the body's results (stacked over T where the op stacks)."""
    a = node.attrs
    outer = [shapes.get(t, t.shape) for t in node.inputs]
    seqs, inits, caps = LoopLayout.of(a).split_inputs(outer)
    shapes.update((ph, shape[1:]) for ph, shape in zip(a["seq_in"], seqs))
    shapes.update(zip(a["state_in"], inits))
    shapes.update(zip(a["cap_in"], caps))
    if a["time_in"] is not None:
        shapes[a["time_in"]] = a["time_in"].shape
    for inner in a["body"].nodes:
        if not isinstance(inner.op, Placeholder):
            _node_shapes(inner, shapes)
    steps = seqs[0][0] if seqs else a["n_steps"]
    results = ([shapes[t] for t in a["state_out"]] + [(steps,) + shapes[t] for t in a["out"]]
               + [(steps,) + shapes[t] for t in a["state_in"]])
    shapes.update(zip(node.outputs, results))
