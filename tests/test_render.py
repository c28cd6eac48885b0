"""Diagrams: views, ×N grouping, labels, deterministic DOT (golden files), ONNX files with subgraphs, SVG
output parsed when graphviz's `dot` exists, the no-`dot` error, and big-graph speed."""
import os
import pathlib
import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import graphcore as gc
from graphcore.diagram import dot_available, load, render, views

GOLDEN = pathlib.Path(__file__).parent / "golden"
LIGHT = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
needs_dot = pytest.mark.skipif(not dot_available(), reason="graphviz's dot program is not installed")


def residual_graph():
    """input → stem → block1, block2, block3 (identical residual blocks) → head, plus gradients and SGD."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 4), name="x")
        with gc.name_scope("stem"):
            w = gc.Variable(np.ones((4, 8), np.float32), name="w")
            h = gc.relu(gc.matmul(x, w))
        for _ in range(3):
            with gc.name_scope("block"):
                w = gc.Variable(np.full((8, 8), 0.1, np.float32), name="w")
                frozen = gc.Variable(np.zeros(8, np.float32), name="shift", trainable=False)
                h = gc.relu(gc.matmul(h, w) + frozen) + h
        with gc.name_scope("head"):
            loss = gc.reduce_mean(gc.square(h))
        step = gc.train.SGD(0.1).minimize(loss)
    return g, step


def _dot(obj, **kw):
    return render(obj, **kw).source


def _without_tooltips(text):
    """DOT text without the tooltips, which hold creation sites (absolute paths, so machine-dependent)."""
    return re.sub(r', tooltip="(?:[^"\\]|\\.)*"', "", text)


def test_layer_view_is_deterministic_and_matches_golden():
    first, second = _dot(residual_graph()[0]), _dot(residual_graph()[0])
    assert first == second
    assert _without_tooltips(first) == (GOLDEN / "residual_layer.dot").read_text(encoding="utf-8")


def test_grad_view_matches_golden():
    text = _without_tooltips(_dot(residual_graph()[0], view="grad", depth=0))
    assert text == (GOLDEN / "residual_grad.dot").read_text(encoding="utf-8")


def test_repeated_blocks_fold_into_one_box_marked_times_n():
    text = _dot(residual_graph()[0])
    assert "block … block_2  ×3  ·  72 params each" in text and "72 params (8 frozen)" in text
    assert text.count("block_1") == 0          # the copies are not drawn


def test_op_view_draws_every_node_and_clusters_scopes():
    graph, _ = residual_graph()
    diagram = views.build(load(graph), "op", depth=1)
    assert diagram.size == len(graph.nodes)
    text = _dot(graph, view="op")
    assert 'label="gradients (backward pass)' in text and "ApplyGradientDescent" in text


def test_layer_view_leaves_out_gradients_and_updates():
    text = _dot(residual_graph()[0])
    assert "gradients" not in text and "SGD" not in text


def test_views_validate_arguments():
    graph, _ = residual_graph()
    with pytest.raises(ValueError, match="unknown view"):
        render(graph, view="ops")
    with pytest.raises(ValueError, match="depth"):
        render(graph, depth=-1)
    with pytest.raises(gc.GraphcoreError, match="cannot render"):
        render(42)


def test_frozen_weights_and_parameter_totals_are_marked():
    text = _dot(residual_graph()[0], view="op")
    assert "frozen" in text and "dashed" in text
    assert "248 parameters (224 trainable, 24 frozen)" in text


def test_lenet5_layer_labels_shapes_and_params():
    import graphcore.models as zoo
    text = _dot(zoo.lenet5())
    assert "61,706 parameters" in text
    for piece in ("Conv2D", "6 filters · kernel 5×5", "stride 1 · tanh", "156 params", "(?, 28, 28, 6)",
                  "AveragePooling2D", "84 units · tanh", "convolution"):
        assert piece in text, piece
    # the layer view speaks the user's channels-last layout (tooltips list the ops with their own shapes)
    assert "(?, 6, 28, 28)" not in _without_tooltips(text)
    assert "(?, 6, 28, 28)" in _dot(zoo.lenet5(), view="op")   # the op view shows the NCHW ops' own


def test_resnet50_reads_as_stages_of_repeated_blocks():
    import graphcore.models as zoo
    text = _dot(zoo.resnet50())
    for piece in ("stage2", "block2 … block3  ×2", "block2 … block4  ×3", "block2 … block6  ×5",
                  "25,610,152 parameters"):
        assert piece in text, piece


def test_mlp_gradient_view_has_backward_cluster_and_layer_gradients():
    import graphcore.models as zoo
    model = zoo.mlp(hidden=(32,))
    model.compile("sgd", "sparse_categorical_crossentropy")
    text = _dot(model, view="grad")
    assert "gradients (backward pass)" in text and "∇ dense" in text and "gradient of Dense" in text
    assert "optimizer update" in text and 'constraint="false"' in text


def _loop_model():
    """A Loop whose body adds an outer value to the carried state, and an If with two branches."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "bias"], ["acc_out"], name="body/add"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body/keep_going")],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, ["N", 3])])
    branch = lambda name, op: helper.make_graph(  # noqa: E731
        [helper.make_node(op, ["total"], [f"{name}_y"], name=f"{name}/{op}")], name, [],
        [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, ["N", 3])])
    nodes = [helper.make_node("Relu", ["x"], ["bias"], name="prep/relu"),
             helper.make_node("Loop", ["trips", "", "x"], ["total"], name="loop", body=body),
             helper.make_node("ReduceSum", ["total"], ["s"], name="sum", keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["positive"], name="test"),
             helper.make_node("If", ["positive"], ["y"], name="choose", then_branch=branch("then", "Relu"),
                              else_branch=branch("else", "Neg"))]
    graph = helper.make_graph(
        nodes, "loop_and_if", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[helper.make_tensor("trips", TensorProto.INT64, [], [3]),
                     helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def test_onnx_subgraphs_nest_inside_their_owner(tmp_path):
    path = tmp_path / "loop.onnx"
    onnx.save(_loop_model(), str(path))
    closed = _dot(str(path), view="op", depth=1)
    assert "Loop" in closed and "Neg" not in closed     # at depth 1 the loop is one node
    text = _dot(str(path), view="op", depth=3)           # the If sits two bodies down
    assert text == _dot(_loop_model(), view="op", depth=3).replace("loop_and_if", "loop")
    for piece in ('label="loop"', 'label="body"', 'label="then_branch"', 'label="else_branch"', "Loop", "Neg"):
        assert piece in text, piece
    graph = load(str(path))
    add = next(op for op in graph.ops if op.name == "loop/body/body/add")
    bias_producer = graph.values[add.inputs[1]].producer
    assert graph.ops[bias_producer].name == "prep/relu"          # the body reads an outer value
    assert "(N, 3)" in text


def test_a_scan_is_one_node_that_opens_at_deeper_views():
    import graphcore.models as zoo
    model = zoo.small("rnn", num_classes=4)
    shallow, deep = _dot(model, view="op", depth=1), _dot(model, view="op", depth=2)
    shallow = _without_tooltips(shallow)   # (the Scan's tooltip lists its attributes, body tensors included)
    assert "Scan" in shallow and "LSTMCell" not in shallow     # the LSTM's step (one fused op) lives in the body
    assert "LSTMCell" in deep and 'label="loop"' in deep


def test_third_party_onnx_renders():
    text = _dot(str(LIGHT / "light_resnet50.onnx"))
    assert "Conv" in text and "BatchNormalization" in text and "(1, 1000)" in text


def test_our_exported_onnx_renders(tmp_path):
    import graphcore.models as zoo
    from graphcore import export
    path = tmp_path / "lenet5.onnx"
    export.to_onnx(zoo.lenet5(), str(path))
    text = _dot(str(path))
    assert "Conv" in text and "61,706 parameters" in text


def test_missing_onnx_file_and_bad_format(tmp_path):
    with pytest.raises(FileNotFoundError):
        render(str(tmp_path / "nope.onnx"))
    with pytest.raises(gc.GraphcoreError, match="unknown format"):
        render(residual_graph()[0], tmp_path / "x.jpeg")


def test_dot_output_works_without_graphviz_and_images_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr("graphcore.diagram.output.shutil.which", lambda name: None)
    graph, _ = residual_graph()
    render(graph, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph")
    with pytest.raises(gc.GraphcoreError, match="apt-get install graphviz"):
        render(graph, tmp_path / "g.svg")


def test_large_diagrams_warn_with_a_suggestion(monkeypatch):
    monkeypatch.setattr("graphcore.diagram.LARGE", 10)
    with pytest.warns(UserWarning, match="view='layer'"):
        render(residual_graph()[0], view="op")


@needs_dot
def test_svg_parses_and_has_one_node_per_box(tmp_path):
    import graphcore.models as zoo
    render(zoo.lenet5(), tmp_path / "lenet5.svg")
    root = ET.parse(tmp_path / "lenet5.svg").getroot()
    groups = root.iter("{http://www.w3.org/2000/svg}g")
    classes = [g.get("class") for g in groups]
    # the input placeholder, c1 … output (the input needs no layer box of its own: no ops)
    assert classes.count("node") == 9 and classes.count("edge") == 8
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "c1" in texts and "156 params" in texts


@needs_dot
def test_resnet50_op_view_with_gradients_renders(tmp_path):
    """The biggest diagram of the zoo completes (the time is measured by tools/bench_render.py)."""
    import graphcore.models as zoo
    model = zoo.resnet50()
    model.compile("sgd", "sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        render(model, tmp_path / "r50.svg", view="op")
    assert os.path.getsize(tmp_path / "r50.svg") > 100_000


def test_gallery_script_on_a_subset(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("gallery", pathlib.Path(__file__).parents[1] / "tools" / "gallery.py")
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    written = gallery.build(["lenet5", "mlp"], tmp_path)
    assert [p.name for p in written][-1] == "README.md" and len(written) == 3
    assert "![lenet5]" in (tmp_path / "README.md").read_text(encoding="utf-8")
