"""Channels-last at the API (Keras's shapes): inputs, layer outputs, model inputs/outputs, summaries and
errors speak NHWC, graph ops on layer outputs see NHWC, and the layout pass keeps the NCHW engine free of
transposes between layers (numbers checked against PyTorch)."""
import numpy as np
import pytest
import torch

import graphcore as gc
from graphcore import export, layers
from graphcore.graph import ancestors
from graphcore.layers import layout as graphcore_layout

RNG = np.random.default_rng(0)


def _conv_model():
    g = gc.Graph()
    with g.as_default():
        image = gc.Input((9, 9, 4), name="image")
        conv = layers.Conv2D(8, 3, activation="relu", name="conv")
        features = conv(image)
        weights = gc.Variable(RNG.normal(size=8).astype(np.float32), name="channel_weights")
        scaled = features * weights                         # a graph op on a layer output: channels last
        pooled = layers.MaxPooling2D(2, name="pool")(scaled)
        out = layers.Conv2D(2, 2, name="head")(pooled)
    return gc.Model(image, out, name="convs"), conv, weights


def test_inputs_and_layer_outputs_have_keras_shapes():
    model, conv, _ = _conv_model()
    assert model.inputs[0].shape == (None, 9, 9, 4) and model.inputs[0] is model.input_placeholders[0]
    assert conv.output.shape == (None, 7, 7, 8) and conv.output_shape == (None, 7, 7, 8)
    assert model.outputs[0].shape == (None, 2, 2, 2) and model.output_shape == (None, 2, 2, 2)


def test_graph_ops_on_layer_outputs_see_nhwc_as_pytorch_computes_it():
    model, conv, weights = _conv_model()
    x = RNG.normal(size=(3, 9, 9, 4)).astype(np.float32)
    kernel, bias = conv.get_weights()                       # Keras layout (kh, kw, in, out)
    (head_kernel, head_bias) = model.get_layer("head").get_weights()
    w = model.session.run(weights)
    t = torch.tensor(x).permute(0, 3, 1, 2)
    y = torch.relu(torch.nn.functional.conv2d(t, torch.tensor(kernel).permute(3, 2, 0, 1), torch.tensor(bias)))
    y = y * torch.tensor(w)[None, :, None, None]
    y = torch.nn.functional.max_pool2d(y, 2)
    y = torch.nn.functional.conv2d(y, torch.tensor(head_kernel).permute(3, 2, 0, 1), torch.tensor(head_bias))
    np.testing.assert_allclose(model.predict(x), y.permute(0, 2, 3, 1).numpy(), rtol=1e-4, atol=1e-5)
    # feeding the model's input tensor works: it is the placeholder
    np.testing.assert_allclose(model.session.run(model.outputs[0], {model.inputs[0]: x}), model.predict(x),
                               rtol=1e-6)


def test_the_layout_pass_leaves_one_transpose_at_each_end():
    model, _, _ = _conv_model()
    model.compile("sgd", "mse")
    needed = ancestors([model.outputs[0].node])
    transposes = [n for n in needed if n.type == "Transpose"]
    # into NCHW after the input, and back, once more around the user's Mul (it reads NHWC), and out
    assert len(transposes) == 4
    plain = gc.Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1)), layers.MaxPooling2D(2),
                           layers.Conv2D(4, 2), layers.Flatten(), layers.Dense(3)])
    assert sum(n.type == "Transpose" for n in ancestors([plain.outputs[0].node])) == 2   # input; Flatten's


def test_exported_files_keep_their_layout(tmp_path):
    import onnx
    model, _, _ = _conv_model()
    path = tmp_path / "convs.onnx"
    export.to_onnx(model, path)
    proto = onnx.load(path)
    dims = [[d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
            for v in (proto.graph.input[0], proto.graph.output[0])]
    assert dims == [["batch", 9, 9, 4], ["batch", 2, 2, 2]]
    assert export.check(path, model, verbose=False).ok


def test_summaries_and_errors_speak_nhwc(capsys):
    model, _, _ = _conv_model()
    model.summary()
    assert "(None, 7, 7, 8)" in capsys.readouterr().out
    with model.graph.as_default():
        with pytest.raises(gc.BuildError, match=r"\(\?, 7, 7, 8\)|\(None, 7, 7, 8\)"):
            model.get_layer("conv").output * gc.constant(np.ones(7, np.float32))
        with pytest.raises(gc.BuildError, match=r"\(None, 2, 2, 2\)"):
            layers.Dense(3)(model.outputs[0])


def test_seeded_draws_do_not_count_the_layout_transposes():
    """Seeds follow node positions; the layers' NHWC output transposes are left out of them, so adding the
    layout pass moved no seeded initial weight."""
    from graphcore.ops.random import seed_for
    model = gc.Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1)), layers.Conv2D(4, 3), layers.Flatten()])
    model.graph.seed = 0
    graph = model.graph
    layout = graphcore_layout.layout_transposes(graph)
    assert sorted(layout) == graph.seed_skipped_ids
    assert layout and all(graph.nodes[i].type == "Transpose" for i in layout)
    own = [n for n in graph.nodes if n.id not in layout]
    for position, node in enumerate(own):
        if node.type.startswith("Random"):
            assert seed_for(node) == (0, position)
