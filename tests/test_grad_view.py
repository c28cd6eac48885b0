"""The gradient view at a glance: updates named by their variable, optimizer slots drawn as optimizer state
(not parameters), a clear note for an uncompiled model, initializer ops hidden unless asked for, and an SVG
tooltip on every box (full op, attributes, shapes, creation site)."""
import re
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphcore as gc
from graphcore import export, layers
from graphcore.diagram import dot_available, load, render, style, views

needs_dot = pytest.mark.skipif(not dot_available(), reason="graphviz's dot program is not installed")
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def _classifier(compiled=True):
    model = gc.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(2, activation="softmax")])
    if compiled:
        model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _drawn(text):
    """DOT text without tooltips: what the boxes show."""
    return re.sub(r', tooltip="(?:[^"\\]|\\.)*"', "", text)


def _boxes(diagram):
    def walk(cluster):
        for child in cluster.children:
            if isinstance(child, views.Cluster):
                yield from walk(child)
            else:
                yield child
    return list(walk(diagram.root))


def test_every_update_box_names_the_variable_it_updates():
    model = _classifier()
    diagram = views.build(load(model), "grad")
    titles = [box.title for box in _boxes(diagram) if box.phase == "update" and box.kind == "op"]
    expected = {f"update {w.node.name}" for w in model.trainable_variables} | {"update Adam/iterations"}
    assert expected <= set(titles)
    text = render(model, view="op").source
    assert _drawn(text).count("ApplyAdam") == len(model.trainable_variables)
    for w in model.trainable_variables:
        assert f"update {w.node.name}" in text


def test_optimizer_slots_are_optimizer_state_not_frozen_parameters():
    model = _classifier()
    for view in ("grad", "op"):
        diagram = views.build(load(model), view)
        boxes = _boxes(diagram)
        state = [box for box in boxes if box.category == "state"]
        assert state and all(box.phase == "update" and box.frozen == 0 for box in state)
        assert not any(box.category == "frozen" for box in boxes)     # nothing in this model is frozen
        assert diagram.title.endswith(f"·  {model.count_params()} parameters")
        assert not diagram.frozen                                      # no "dashed: frozen" legend
        assert "state" in diagram.categories
    slots = 2 * model.count_params()            # Adam's m and v per weight
    text = render(model, view="grad").source
    assert f"optimizer state: {slots + 2} values" in text          # + the step counter and the learning rate
    assert style.fill("state") in text and "optimizer state (slots, step)" in text
    assert "dashed" not in re.sub(r"style=\"dashed\", color=\"#888888\"", "", text)   # only runs-after edges


def test_grad_view_of_an_uncompiled_model_says_how_to_get_gradients():
    model = _classifier(compiled=False)
    with pytest.warns(UserWarning, match=r"model\.compile"):
        text = render(model, view="grad").source
    assert "no backward pass in this graph" in text and "model.compile(optimizer, loss)" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "no backward pass" not in render(_classifier(), view="grad").source


def test_initializer_ops_are_hidden_unless_asked_for():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        w = gc.Variable(gc.random_uniform((3, 2), seed=0) * 0.1, name="w")
        gc.matmul(x, w) + gc.random_uniform((2,), seed=1)   # a draw that is data, not an initializer
    graph = load(g)
    hidden = views.initializer_ops(graph)
    assert {graph.ops[i].type for i in hidden} == {"RandomUniform", "Mul", "Constant"}
    default = _drawn(render(g, view="op").source)
    assert default.count("<b>RandomUniform") == 1                       # only the data draw
    shown = _drawn(render(g, view="op", show_initializers=True).source)
    assert shown.count("<b>RandomUniform") == 2 and 'style="dotted"' in shown   # the init edge into w
    assert "RandomUniform" not in render(_classifier(), view="op").source
    assert "RandomUniform" in render(_classifier(), view="op", show_initializers=True).source


def _svg_tooltips(path):
    root = ET.parse(path).getroot()
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    return nodes, [next((a.get(f"{XLINK}title") for a in g.iter(f"{SVG}a")), None) for g in nodes]


@needs_dot
def test_every_svg_box_carries_a_tooltip_with_op_attributes_shapes_and_site(tmp_path):
    model = _classifier()
    for view in ("op", "layer", "grad"):
        path = tmp_path / f"{view}.svg"
        render(model, path, view=view)
        nodes, tips = _svg_tooltips(path)
        assert nodes and all(tips), view
        assert all("test_grad_view.py:" in tip for tip in tips), view
    _, tips = _svg_tooltips(tmp_path / "op.svg")
    matmul = next(tip for tip in tips if tip.startswith("dense/MatMul"))
    assert "(MatMul)" in matmul and "transpose_a=False" in matmul
    assert "in: (?, 3) float32, (3, 4) float32" in matmul and "out: (?, 4) float32" in matmul
    assert re.search(r"created at .*test_grad_view\.py:\d+", matmul)
    _, tips = _svg_tooltips(tmp_path / "layer.svg")
    assert any(tip.startswith("dense: ") and "dense/MatMul (MatMul) → (?, 4) float32" in tip for tip in tips)


def test_onnx_boxes_take_their_creation_site_from_the_exported_doc_strings(tmp_path):
    model = _classifier(compiled=False)
    export.to_onnx(model, tmp_path / "m.onnx")
    graph = load(str(tmp_path / "m.onnx"))
    gemm = next(op for op in graph.ops if op.type == "Gemm")
    assert re.search(r"test_grad_view\.py:\d+$", gemm.site) and "transB=0" in gemm.details
    assert "created at" in render(str(tmp_path / "m.onnx"), view="op").source


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_draws_one_update_box_per_variable(optimizer):
    model = _classifier(compiled=False)
    model.compile(optimizer, "sparse_categorical_crossentropy")
    boxes = _boxes(views.build(load(model), "grad", depth=1))
    titles = {box.title for box in boxes if box.phase == "update"}
    assert {f"update {w.node.name}" for w in model.trainable_variables} <= titles
    assert not any(box.kind == "block" and box.phase == "update" for box in boxes)   # no "SGD 6 ops" box


def test_grad_view_names_the_loss_and_the_layers_each_backward_box_differentiates():
    model = _classifier(compiled=False)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    boxes = _boxes(views.build(load(model), "grad", depth=1))
    forward = {box.title: box for box in boxes if box.phase == "forward"}
    assert forward["loss"].lines[0] == "Loss" and forward["loss"].category == "reduce"
    assert "metrics" in forward and "training" not in forward
    backward = sorted(box.title for box in boxes if box.phase == "gradient")
    assert backward == ["∇ dense", "∇ dense_1", "∇ loss"]        # no "FillLike", no "∇ Mul_1_grad"
    assert all(box.lines == [f"gradient of {'Loss' if box.title == '∇ loss' else 'Dense'}"]
               for box in boxes if box.phase == "gradient")


def test_a_raw_graphs_gradient_seed_sits_with_the_loss():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        w = gc.Variable(np.ones((3, 1), np.float32), name="w")
        with gc.name_scope("objective"):
            loss = gc.reduce_mean(gc.square(gc.matmul(x, w)))
        gc.train.SGD(0.1).minimize(loss)
    titles = [box.title for box in _boxes(views.build(load(g), "grad", depth=1)) if box.phase == "gradient"]
    assert "∇ objective" in titles and "FillLike" not in titles


def test_a_training_step_file_counts_parameters_and_names_dims_as_the_model_does(tmp_path):
    import graphcore.models as zoo
    model = zoo.lenet5()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "step.onnx"
    export.to_onnx(model, str(path), training=True)
    diagram = views.build(load(path), "grad", depth=1)
    assert diagram.title.endswith(f"·  {model.count_params():,} parameters")      # 61,706, not 185,349
    text = render(path).source
    assert "unk__" not in text and "(batch," in text
    forward = {box.title for box in _boxes(diagram) if box.phase == "forward"}
    assert "loss" in forward and "∇ loss" in {box.title for box in _boxes(diagram)}
