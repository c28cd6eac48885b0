"""Architecture diagrams: ``render(model_or_graph_or_onnx, "net.svg", view="layer", depth=1)``.

Pipeline, one module per step: a source (``source`` for graphcore graphs and models, ``onnx_source`` for ONNX
files) flattens what is drawn into an ``OpGraph``; ``views`` collapses it into boxes and clusters for the op,
layer or gradient view and ``grouping`` folds identical repeated blocks into one "×N" box; ``dot`` emits
deterministic DOT text (a ``graphviz.Digraph``, shown inline in Jupyter); ``output`` writes the file.
"""
import os
import warnings

from ..errors import GraphcoreError
from ..graph import Graph
from . import dot, output, views
from .model import OpGraph
from .output import dot_available
from .page import page_html
from .source import from_graphcore
from .views import VIEWS

# Above this many boxes graphviz gets slow and the picture unreadable: say so, and what to do instead.
LARGE = 1500


def load(obj):
    """The ``OpGraph`` of a graphcore ``Graph``, a model, an ``onnx.ModelProto`` or an ONNX file path."""
    if isinstance(obj, OpGraph):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        from .onnx_source import from_file
        return from_file(obj)
    if type(obj).__name__ == "ModelProto":
        from .onnx_source import from_proto
        return from_proto(obj)
    if isinstance(obj, Graph) or isinstance(getattr(obj, "graph", None), Graph):
        return from_graphcore(obj)
    raise GraphcoreError(f"cannot render a {type(obj).__name__}: pass a model, a gc.Graph, an onnx.ModelProto "
                         "or the path of an .onnx file")


def render(obj, path=None, view=None, depth=1, show_shapes=True, show_params=True, rankdir="TB",
           legend=True, timeout=120, show_initializers=False):
    """Draw ``obj`` and return the ``graphviz.Digraph``; with ``path``, also write it (format from the
    extension: .svg, .png, .pdf need graphviz's ``dot``; .dot needs nothing). In an SVG every box has a
    tooltip with its ops in full (type, attributes, shapes, creation site): open it in a browser and hover.
    .html writes the interactive page (``page``): one self-contained file, needing nothing to write or to
    view offline, that opens and closes any block in place, searches nodes by name, switches views and
    follows a tensor to its consumers.

    view: "op" (every node), "layer" (ops collapsed by name scope, ``depth`` levels of nested scopes drawn
    as clusters, identical repeated blocks folded "×N") or "grad" (the layer view plus the backward pass and
    optimizer updates in their own colour); by default "grad" for an exported training step (an ONNX file
    written with ``training=True``) and "layer" for everything else. rankdir: "TB" (top to bottom) or "LR".
    show_initializers: also draw the ops that compute variables' initial values (RandomUniform → kernel).
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"rankdir must be TB, LR, BT or RL, got {rankdir!r}")
    graph = load(obj)
    view = view or ("grad" if graph.training_step else "layer")
    diagram = views.build(graph, view, depth, show_shapes, show_params, show_initializers)
    if diagram.warning:
        warnings.warn(diagram.warning, stacklevel=2)
    hint = ""
    if diagram.size > LARGE:
        hint = f"; the diagram has {diagram.size:,} nodes: {_advice(view, depth)}"
        warnings.warn(f"large diagram ({diagram.size:,} nodes), graphviz may need a while: {_advice(view, depth)}",
                      stacklevel=2)
    digraph = dot.to_digraph(diagram, rankdir, legend, show_shapes)
    if path is not None and str(path).lower().endswith((".html", ".htm")):
        output.write_text(page_html(graph, depth, view, show_shapes, show_params, rankdir, legend,
                                    show_initializers), path)
    elif path is not None:
        output.write(digraph.source, path, timeout, hint)
    return digraph


def _advice(view, depth):
    if view == "op":
        return "view='layer' collapses it by name scope"
    if depth:
        return "a smaller depth collapses more (depth=0: one box per top-level scope)"
    return "render a part of the model, or write .dot and open it in an interactive viewer"


__all__ = ["render", "load", "dot_available", "VIEWS"]
