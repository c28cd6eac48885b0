"""What to export: a graph, its input and output tensors, and the session its weights come from.

Models are duck-typed (anything with ``.graph``, ``.inputs``, ``.outputs``, ``.session``), so the exporter
needs no import of the layers API. Keras-style models expose their feedable placeholders as
``input_placeholders`` and their outputs in the user's layout as ``output_tensors``; those win where present,
since ``inputs``/``outputs`` there are the internal NCHW tensors.
"""
from dataclasses import dataclass

import numpy as np

from graphcore.graph import Graph, Node, Tensor
from graphcore.session import Session

from .registry import ExportError, unsupported


@dataclass
class Source:
    graph: Graph
    inputs: list
    outputs: list
    session: Session
    name: str


def resolve(model_or_graph, inputs=None, outputs=None, session=None):
    """A ``Source`` from a model (its own tensors and session) or a raw graph (tensors given by the caller).

    ``session`` may be a ``Session`` holding the weights, or a dict variable name → array; a raw graph
    without either exports its variables' initial values.
    """
    if isinstance(model_or_graph, Graph):
        graph, name = model_or_graph, "graphcore"
        if inputs is None or outputs is None:
            raise ExportError("exporting a raw Graph needs inputs=[placeholders] and outputs=[tensors]")
        default_session = None
    else:
        model = model_or_graph
        graph, name = model.graph, getattr(model, "name", None) or "graphcore"
        inputs = inputs if inputs is not None else getattr(model, "input_placeholders", None) or model.inputs
        outputs = outputs if outputs is not None else getattr(model, "output_tensors", None) or model.outputs
        default_session = model.session
    inputs, outputs = _tensors(graph, inputs, "inputs"), _tensors(graph, outputs, "outputs")
    return Source(graph, inputs, outputs, _session(graph, session, default_session), name)


def _tensors(graph, values, what):
    """Tensors from tensors, names or nodes (all of a node's outputs; a node without any has no value)."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    tensors = []
    for v in values:
        v = graph.get_tensor(v) if isinstance(v, str) else v
        if isinstance(v, Node) and not v.outputs:
            raise unsupported(v)
        tensors.extend(v.outputs if isinstance(v, Node) else [v])
    for t in tensors:
        if not isinstance(t, Tensor) or t.graph is not graph:
            raise ExportError(f"{what} must be tensors (or tensor names) of the exported graph, got {t!r}")
    if len(set(tensors)) != len(tensors):
        raise ExportError(f"{what} lists a tensor twice: {[t.name for t in tensors]}")
    return tensors


def _session(graph, session, default):
    if isinstance(session, Session):
        return session
    if isinstance(session, dict):
        fresh = Session(graph)
        fresh.variables.update({k: np.asarray(v) for k, v in session.items()})
        return fresh
    if session is not None:
        raise ExportError(f"session must be a graphcore Session or a dict of variable values, got {session!r}")
    return default or Session(graph)
