"""Layers and models: the issue's Keras snippet, Keras weight layouts (checked against PyTorch with the
layout conversions Keras documents), the training switch, batch norm, model files, and the notes' examples."""
import numpy as np
import pytest

import graphcore as gc
from graphcore import layers

torch = pytest.importorskip("torch")
F = torch.nn.functional


def test_issue_snippet_runs_unchanged(capsys):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(40, 128, 128, 3)).astype(np.float32)
    y = rng.integers(0, 10, size=40)
    num_classes = 10
    model = gc.Sequential()
    input_shape = (128, 128, 3)
    model.add(layers.Conv2D(16, kernel_size=(2, 2), strides=(1, 1), activation="relu", input_shape=input_shape))
    model.add(layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2)))
    model.add(layers.Conv2D(32, kernel_size=(2, 2), activation="relu"))
    model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(100, activation="relu"))
    model.add(layers.Dense(num_classes, activation="softmax"))
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.1)
    out = capsys.readouterr()
    assert "conv2d (Conv2D)" in out.out and "(None, 127, 127, 16)" in out.out and "208" in out.out
    assert "Total params: 3,078,598" in out.out
    assert "Epoch 1/2" in out.err   # tqdm progress bar
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 2 and all(np.isfinite(history.history["loss"]))


def _single_layer_model(layer, input_shape):
    inp = gc.Input(input_shape, graph=gc.Graph())
    return gc.Model(inp, layer(inp)), layer


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


RNG = np.random.default_rng(3)
IMAGES = RNG.normal(size=(2, 7, 6, 4)).astype(np.float32)


def test_dense_kernel_is_in_out():
    model, layer = _single_layer_model(layers.Dense(3, activation="tanh"), (5,))
    kernel, bias = RNG.normal(size=(5, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32)
    layer.set_weights([kernel, bias])
    x = RNG.normal(size=(4, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), np.tanh(x @ kernel + bias), rtol=1e-5)
    assert [w.shape for w in layer.get_weights()] == [(5, 3), (3,)]


@pytest.mark.parametrize("padding, strides", [("valid", 1), ("same", 2)])
def test_conv2d_matches_keras_layout(padding, strides):
    model, layer = _single_layer_model(layers.Conv2D(5, (3, 2), strides=strides, padding=padding), (7, 6, 4))
    kernel = RNG.normal(size=(3, 2, 4, 5)).astype(np.float32)   # Keras: (kh, kw, in, out)
    bias = RNG.normal(size=5).astype(np.float32)
    layer.set_weights([kernel, bias])
    x = _nchw(IMAGES)
    if padding == "same":   # TensorFlow's 'same': the extra row/column of padding goes at the end
        x = F.pad(x, (0, 1, 1, 1))
    expected = F.conv2d(x, torch.from_numpy(kernel.transpose(3, 2, 0, 1)), torch.from_numpy(bias), stride=strides)
    np.testing.assert_allclose(model.predict(IMAGES), _nhwc(expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)


def test_depthwise_and_separable_match_keras_layouts():
    model, layer = _single_layer_model(layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (7, 6, 4))
    dw = RNG.normal(size=(3, 3, 4, 2)).astype(np.float32)        # Keras: (kh, kw, in, multiplier)
    layer.set_weights([dw, np.zeros(8, np.float32)])
    torch_dw = torch.from_numpy(dw.transpose(2, 3, 0, 1).reshape(8, 1, 3, 3))  # channel c·M + m
    expected = F.conv2d(_nchw(IMAGES), torch_dw, padding=1, groups=4)
    np.testing.assert_allclose(model.predict(IMAGES), _nhwc(expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(layer.get_weights()[0], dw)

    model, layer = _single_layer_model(layers.SeparableConv2D(5, 3, padding="same"), (7, 6, 4))
    dw1 = RNG.normal(size=(3, 3, 4, 1)).astype(np.float32)
    pw = RNG.normal(size=(1, 1, 4, 5)).astype(np.float32)        # Keras pointwise: (1, 1, in·M, out)
    layer.set_weights([dw1, pw, np.zeros(5, np.float32)])
    mid = F.conv2d(_nchw(IMAGES), torch.from_numpy(dw1.transpose(2, 3, 0, 1).reshape(4, 1, 3, 3)), padding=1, groups=4)
    expected = F.conv2d(mid, torch.from_numpy(pw.transpose(3, 2, 0, 1)))
    np.testing.assert_allclose(model.predict(IMAGES), _nhwc(expected), rtol=1e-4, atol=1e-5)


def test_conv2d_transpose_matches_keras_layout():
    model, layer = _single_layer_model(layers.Conv2DTranspose(3, 3, strides=2), (7, 6, 4))
    kernel = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)    # Keras: (kh, kw, out, in)
    layer.set_weights([kernel, np.zeros(3, np.float32)])
    expected = F.conv_transpose2d(_nchw(IMAGES), torch.from_numpy(kernel.transpose(3, 2, 0, 1)), stride=2)
    got = model.predict(IMAGES)
    assert got.shape == (2, 15, 13, 3)   # Keras 'valid': (H − 1)·s + k
    np.testing.assert_allclose(got, _nhwc(expected), rtol=1e-4, atol=1e-5)


def test_batch_norm_uses_batch_stats_in_training_and_moving_averages_in_inference():
    model, layer = _single_layer_model(layers.BatchNormalization(momentum=0.5, epsilon=1e-3), (7, 6, 4))
    gamma, beta = RNG.uniform(0.5, 2, size=4).astype(np.float32), RNG.normal(size=4).astype(np.float32)
    mean, var = RNG.normal(size=4).astype(np.float32), RNG.uniform(0.5, 2, size=4).astype(np.float32)
    layer.set_weights([gamma, beta, mean, var])
    assert [w.shape for w in layer.get_weights()] == [(4,)] * 4
    inference = model.predict(IMAGES)
    np.testing.assert_allclose(inference, (IMAGES - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-4, atol=1e-5)
    phase = gc.layers.learning_phase(model.graph)
    training_out = model.session.run([model.output_tensors[0]] + layer.updates, {model.input_placeholders[0]: IMAGES,
                                                                                 phase: True})
    batch_mean, batch_var = IMAGES.mean((0, 1, 2)), IMAGES.var((0, 1, 2))
    np.testing.assert_allclose(training_out[0], (IMAGES - batch_mean) / np.sqrt(batch_var + 1e-3) * gamma + beta,
                               rtol=1e-4, atol=1e-4)
    new_mean = layer.get_weights()[2]
    np.testing.assert_allclose(new_mean, 0.5 * mean + 0.5 * batch_mean, rtol=1e-5)


def test_dropout_rate_one_third_scales_survivors_by_1_5_and_only_in_training():
    model, layer = _single_layer_model(layers.Dropout(1 / 3, seed=0), (6,))
    x = np.ones((2000, 6), np.float32)
    np.testing.assert_array_equal(model.predict(x), x)           # inference: identity
    phase = gc.layers.learning_phase(model.graph)
    out = model.session.run(model.outputs[0], {model.input_placeholders[0]: x, phase: True})
    assert set(np.unique(out)) == {0.0, 1.5}
    assert abs((out == 0).mean() - 1 / 3) < 0.02


def test_lrn_matches_pytorch():
    model, _ = _single_layer_model(layers.LocalResponseNormalization(size=3, alpha=0.1, beta=0.75, bias=2.0),
                                   (7, 6, 4))
    expected = F.local_response_norm(_nchw(IMAGES), 3, alpha=0.1, beta=0.75, k=2.0)
    np.testing.assert_allclose(model.predict(IMAGES), _nhwc(expected), rtol=1e-5, atol=1e-6)


def test_functional_model_with_branches_saves_and_loads(tmp_path):
    g = gc.Graph()
    with g.as_default():
        inp = gc.Input((8, 8, 3))
        a = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
        b = layers.Conv2D(4, 1)(inp)
        merged = layers.Add()([a, b])
        both = layers.Concatenate()([merged, b])
        norm = layers.BatchNormalization()(both)
        out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(norm))
        model = gc.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 3)).astype(np.float32)
    before = model.predict(x)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = gc.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(loaded.predict(x), before, rtol=1e-6)
    assert both.shape == (None, 8, 8, 8)[:1] + (8, 8, 8)   # internal NCHW: channels doubled


def test_model_file_is_written_atomically(tmp_path, monkeypatch):
    model = gc.models.mlp(input_shape=(4,), hidden=(3,), num_classes=2)
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()
    monkeypatch.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        model.save(path)
    assert path.read_bytes() == before


def test_every_activation_of_the_notes_is_available_by_name():
    names = ["linear", "binary_step", "bipolar_step", "sigmoid", "binary_sigmoid", "bipolar_sigmoid", "ramp",
             "relu", "leaky_relu", "elu", "tanh", "softmax"]
    model = gc.Sequential([layers.Activation(n, input_shape=(3,)) for n in names[:1]])
    x = np.array([[-1.0, 0.25, 2.0]], np.float32)
    for n in names:
        m = gc.Sequential([layers.Activation(n, input_shape=(3,))])
        assert m.predict(x).shape == (1, 3), n
    np.testing.assert_allclose(model.predict(x), x)


def test_notes_worked_convolutions_and_pooling():
    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
                     np.float32)
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
    padded = np.array([[18, 54, 51, 239, 244, 188], [55, 121, 75, 78, 95, 88], [35, 24, 204, 113, 109, 221],
                       [3, 154, 104, 235, 25, 130], [15, 253, 225, 159, 78, 233], [68, 85, 180, 214, 245, 0]],
                      np.float32)
    pool_a = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)
    pool_b = np.array([[0.1, 0, 1.0, 0.4], [0, 0.5, 0.4, 1.6], [0.3, 0.2, 1.7, 1.1], [0.2, 0.4, 1.1, 1.7]],
                      np.float32)
    g = gc.Graph()
    with g.as_default():
        k = gc.constant(kernel[None, None])
        valid = gc.conv2d(gc.constant(image[None, None]), k)
        same = gc.conv2d(gc.constant(padded[None, None]), k, padding=1)
        eight = gc.conv2d(gc.constant(np.zeros((1, 1, 8, 8), np.float32)), k)
        eight_padded = gc.conv2d(gc.constant(np.zeros((1, 1, 8, 8), np.float32)), k, padding="same")
        pa, pb = (gc.max_pool2d(gc.constant(p[None, None]), 2, 2) for p in (pool_a, pool_b))
    with gc.Session(g) as sess:
        v, s, a, b = sess.run([valid, same, pa, pb])
    assert v[0, 0, 0, 0] == 4 and s[0, 0, 0, 0] == 139
    np.testing.assert_array_equal(v[0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    assert eight.shape[2:] == (6, 6) and eight_padded.shape[2:] == (8, 8)   # n + 2p − f + 1
    np.testing.assert_array_equal(a[0, 0], [[6, 8], [3, 4]])
    np.testing.assert_allclose(b[0, 0], [[0.5, 1.6], [0.4, 1.7]])


def test_training_switch_is_one_graph():
    """fit and predict run the same graph: only the learning-phase feed differs."""
    model = gc.models.mlp(input_shape=(4,), hidden=(8,), dropout=0.5, num_classes=2)
    model.compile("sgd", "sparse_categorical_crossentropy")
    nodes_before = len(model.graph.nodes)
    x, y = np.ones((8, 4), np.float32), np.zeros(8, np.int64)
    model.fit(x, y, epochs=1, verbose=0)
    model.predict(x)
    assert len(model.graph.nodes) == nodes_before
    dropout_nodes = [n for n in model.graph.nodes if n.type == "Dropout"]
    assert len(dropout_nodes) == 1 and dropout_nodes[0].inputs[1].node.name == "learning_phase"


def test_shape_layers_follow_keras_semantics():
    x = RNG.normal(size=(2, 4, 6, 3)).astype(np.float32)
    for layer, expected in [
        (layers.ZeroPadding2D(((1, 0), (2, 1))), np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0)))),
        (layers.Reshape((6, 4, 3)), x.reshape(2, 6, 4, 3)),
        (layers.Flatten(), x.reshape(2, -1)),
        (layers.AveragePooling2D(2), x.reshape(2, 2, 2, 3, 2, 3).mean((2, 4))),
        (layers.GlobalAveragePooling2D(), x.mean((1, 2))),
        (layers.Activation("softmax"), np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    ]:
        model, _ = _single_layer_model(layer, (4, 6, 3))
        np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6, err_msg=type(layer).__name__)


@pytest.mark.parametrize("loss, targets, activation", [
    ("sparse_categorical_crossentropy", lambda r: r.integers(0, 3, 16), "softmax"),
    ("categorical_crossentropy", lambda r: np.eye(3)[r.integers(0, 3, 16)], "softmax"),
    ("binary_crossentropy", lambda r: r.integers(0, 2, (16, 3)).astype(float), "sigmoid"),
    ("mse", lambda r: r.normal(size=(16, 3)), None),
    ("quadratic", lambda r: r.normal(size=(16, 3)), None),
    ("mape", lambda r: r.uniform(1, 2, size=(16, 3)), None),
])
def test_every_loss_of_the_notes_trains_through_compile_and_fit(loss, targets, activation):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), targets(rng)
    model = gc.Sequential([layers.Dense(8, activation="tanh", input_shape=(4,)), layers.Dense(3, activation=activation)])
    model.compile(gc.train.Adam(0.05), loss, metrics=["accuracy"] if "entropy" in loss else None)
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], (loss, losses[0], losses[-1])
    result = model.evaluate(x, y)
    assert np.isfinite(result if np.isscalar(result) else result[0])
