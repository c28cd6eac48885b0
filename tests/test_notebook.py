"""In a notebook, models, graphs and imported ONNX models display as their diagram with a one-line summary,
and fit's progress bar is plain text without ipywidgets, with no warning. Runs a real kernel (nbclient)."""
import importlib.util
import sys

import pytest

import graphcore as gc
import graphcore.models as zoo
from graphcore import progress
from graphcore.diagram import dot_available, notebook

CELLS = [
    """import numpy as np, graphcore as gc
from graphcore import export, models
model = models.lenet5()
model""",
    """g = gc.Graph()
with g.as_default():
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(np.ones((3, 2), np.float32), name="w")
    y = gc.tanh(gc.matmul(x, w))
g""",
    """export.to_onnx(model, "lenet5.onnx")
export.from_onnx("lenet5.onnx")""",
    """mlp = models.mlp(hidden=(8,), input_shape=(4,), num_classes=3)
mlp.compile("sgd", "sparse_categorical_crossentropy")
history = mlp.fit(np.zeros((40, 4), np.float32), np.zeros(40, np.int64), epochs=2, batch_size=20)""",
]


def test_a_notebook_displays_models_graphs_and_onnx_files_and_trains_without_warnings(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    displays = [next(o for o in cell.outputs if o.output_type == "execute_result") for cell in nb.cells[:3]]
    expected = {"text/plain", "text/html"} | ({"image/svg+xml"} if dot_available() else set())
    for output in displays:
        assert set(output.data) == expected
        assert output.data["text/html"].startswith("<iframe srcdoc=")
        if dot_available():
            assert output.data["image/svg+xml"].lstrip().startswith(("<?xml", "<svg", "<!--"))
    assert displays[0].data["text/plain"] == \
        "Model 'lenet5': 9 layers, 28 ops, 61,706 parameters; inputs: input (?, 32, 32, 1)"
    assert displays[1].data["text/plain"] == "Graph 'graph': 2 ops, 6 parameters; inputs: x (?, 3)"  # MatMul, Tanh
    assert displays[2].data["text/plain"].startswith("ImportedModel 'lenet5': ")
    streams = "".join(o.get("text", "") for o in nb.cells[3].outputs if o.output_type == "stream")
    kinds = {o.output_type for o in nb.cells[3].outputs}
    assert "Epoch 2/2" in streams and kinds == {"stream"}          # a text bar, no widget, no warning
    assert "IProgress" not in streams and "Warning" not in streams


def test_progress_bars_use_the_widget_only_in_a_kernel_that_has_ipywidgets(monkeypatch):
    from tqdm import notebook as tqdm_notebook, std

    class ZMQInteractiveShell:      # what Jupyter's kernel is called
        pass
    fake_ipython = type(sys)("IPython")
    fake_ipython.get_ipython = ZMQInteractiveShell
    assert type(progress.progress_bar([], disable=True)) is std.tqdm            # plain Python
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    assert progress.in_notebook()
    real_find_spec = importlib.util.find_spec

    def widgets(present):
        return lambda name: (object() if present else None) if name == "ipywidgets" else real_find_spec(name)
    monkeypatch.setattr(importlib.util, "find_spec", widgets(False))
    assert type(progress.progress_bar([], disable=True)) is std.tqdm            # no ipywidgets: text, no warning
    monkeypatch.setattr(importlib.util, "find_spec", widgets(True))
    monkeypatch.setattr(tqdm_notebook, "tqdm", lambda iterable, **kw: ("widget", iterable))
    assert progress.progress_bar([1]) == ("widget", [1])                         # the widget where it can show


def test_the_bundle_honours_include_exclude_and_the_interactive_switch(monkeypatch):
    model = zoo.lenet5()
    assert set(model._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}
    monkeypatch.setattr(notebook, "INTERACTIVE", False)
    assert "text/html" not in model._repr_mimebundle_()
    assert gc.Graph()._repr_mimebundle_()["text/plain"] == "Graph 'graph': 0 ops, 0 parameters; inputs: none"
