"""How models, graphs and imported ONNX models show themselves in Jupyter.

A bare ``model`` (or ``graph``) cell displays its diagram: the static SVG (the layer view, as ``render`` draws
it) for front-ends that show images, the interactive page (``page``) in an iframe for front-ends that run the
scripts of HTML output (JupyterLab, Notebook 7, VS Code, Colab), and a one-line summary as text. The page
holds the WebAssembly graphviz (about 0.8 MB per displayed output, saved in the notebook): set
``graphcore.diagram.notebook.INTERACTIVE = False`` to keep notebooks small (SVG and text only).
"""
import html
import warnings

from ..graph import NOTEBOOK_VIEWS
from . import dot_available, load, render, views
from .page import page_html
from .text import shape_text

INTERACTIVE = True
PAGE_HEIGHT = 640


def summary(obj, graph=None):
    """One line: what it is, its size, its inputs."""
    graph = graph or load(obj)
    phases = views.phases_of(graph)
    params = sum(op.params for op, p in zip(graph.ops, phases) if op.kind == "variable" and p == "forward")
    inputs = [op for op in graph.ops if op.kind == "placeholder" and not op.switch and op.body_depth == 0]
    shapes = ", ".join(f"{op.name} {_shape(graph, op)}" for op in inputs[:3]) + (" …" if len(inputs) > 3 else "")
    kind = type(obj).__name__
    layers = f"{len(graph.layers)} layers, " if graph.layers else ""
    ops = sum(op.kind == "op" for op in graph.ops)
    return f"{kind} '{graph.name}': {layers}{ops:,} ops, {params:,} parameters; inputs: {shapes or 'none'}"


def _shape(graph, op):
    return shape_text(graph.values[op.outputs[0]].shape) if op.outputs else ""


def mimebundle(obj, include=None, exclude=None):
    """IPython's ``_repr_mimebundle_``: text always; SVG where graphviz's ``dot`` is installed; the page when
    ``INTERACTIVE``. Never raises: a display hook that fails would hide the object itself."""
    try:
        graph = load(obj)
    except Exception as error:   # noqa: BLE001 — show what it is, and why there is no picture
        return {"text/plain": f"{obj!r} (no diagram: {error})"}
    bundle = {"text/plain": summary(obj, graph)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # a note about a big diagram belongs to render(), not to a display
        if dot_available():
            bundle["image/svg+xml"] = render(graph).pipe(format="svg", encoding="utf-8")
        if INTERACTIVE:
            bundle["text/html"] = (f'<iframe srcdoc="{html.escape(page_html(graph), quote=True)}" '
                                   f'style="width:100%;height:{PAGE_HEIGHT}px;border:1px solid #dee2e6" '
                                   f'title="{html.escape(graph.name)} diagram"></iframe>')
    wanted = [k for k in bundle if (include is None or k in include) and not (exclude and k in exclude)]
    return {k: bundle[k] for k in wanted}


def svg(obj):
    """IPython's ``_repr_svg_``: the static diagram, or None without graphviz's ``dot``."""
    return mimebundle(obj, include={"image/svg+xml"}).get("image/svg+xml")


# Graphs and models (below the diagrams) show themselves through these.
NOTEBOOK_VIEWS.update(mimebundle=mimebundle, svg=svg)
