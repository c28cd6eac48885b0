"""Keras idioms: building models (Sequential and functional), as Keras's guides write them.

Each test is one idiom, cites the guide section it comes from, and checks values or shapes against numbers
computed by hand or by PyTorch (a test oracle only).
"""
import numpy as np
import pytest
import torch

import graphcore as gc
from graphcore import layers

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 4)).astype(np.float32)


def _dense_by_hand(x, kernel, bias, activation=lambda z: z):
    return activation(x @ kernel + bias)


def test_sequential_layers_excludes_the_input_layer():
    # keras.io/guides/sequential_model, "Creating a Sequential model": model.layers lists the added layers;
    # regression: layers[0] used to be the InputLayer, so layers[0].get_weights() was []
    model = gc.Sequential([layers.Dense(3, activation="relu", input_shape=(4,)), layers.Dense(2)])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    kernel, bias = model.layers[0].get_weights()
    assert kernel.shape == (4, 3) and bias.shape == (3,)
    hidden = _dense_by_hand(X, kernel, bias, lambda z: np.maximum(z, 0))
    k2, b2 = model.layers[1].get_weights()
    np.testing.assert_allclose(model.predict(X, verbose=0), hidden @ k2 + b2, rtol=1e-5, atol=1e-6)


def test_functional_model_layers_begin_with_its_input_layer():
    # keras.io/guides/functional_api, "Introduction": model.layers of a functional model holds the InputLayer
    inputs = gc.Input(shape=(4,), graph=gc.Graph())
    outputs = layers.Dense(2)(inputs)
    model = gc.Model(inputs=inputs, outputs=outputs)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Dense"]
    assert model.layers[0].get_weights() == [] and len(model.layers[1].get_weights()) == 2


def test_sequential_starts_with_keras_input():
    # keras.io/guides/sequential_model, "Specifying the input shape in advance": Sequential([keras.Input(...), ...])
    model = gc.Sequential([gc.Input(shape=(4,)), layers.Dense(2, use_bias=False)])
    assert len(model.layers) == 1 and model.layers[0].get_weights()[0].shape == (4, 2)
    (kernel,) = model.layers[0].get_weights()
    np.testing.assert_allclose(model.predict(X, verbose=0), X @ kernel, rtol=1e-6)


def test_sequential_add_then_summary(capsys):
    # keras.io/guides/sequential_model, "A common debugging workflow: add() + summary()"
    model = gc.Sequential()
    model.add(gc.Input(shape=(8, 8, 3)))
    model.add(layers.Conv2D(4, 3, strides=2, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    model.summary()
    out = capsys.readouterr().out
    assert "(None, 3, 3, 4)" in out and "(None, 1, 1, 4)" in out
    assert "Total params: 112" in out            # 3·3·3·4 + 4
    assert "input" not in out.split("=")[-1]     # no InputLayer row for a Sequential


def test_sequential_without_input_shape_builds_on_first_data():
    # keras.io/guides/sequential_model, "Specifying the input shape in advance": no weights until first called
    model = gc.Sequential([layers.Dense(2, activation="relu"), layers.Dense(1)])
    assert not model.built and len(model.layers) == 2
    with pytest.raises(gc.BuildError, match="not built"):
        model.summary()
    out = model.predict(X, verbose=0)
    assert model.built and out.shape == (6, 1)
    k1, b1 = model.layers[0].get_weights()
    k2, b2 = model.layers[1].get_weights()
    np.testing.assert_allclose(out, np.maximum(X @ k1 + b1, 0) @ k2 + b2, rtol=1e-5, atol=1e-6)


def test_sequential_build_with_batch_shape():
    # keras.io/api/models/sequential, "build": model.build((None, 4))
    model = gc.Sequential([layers.Dense(3)])
    model.build((None, 4))
    assert model.layers[0].get_weights()[0].shape == (4, 3) and model.output_shape == (None, 3)


def test_dense_input_dim_keras2_spelling():
    # Keras 2 guides (Sequential, "Specifying the input shape"): Dense(32, input_dim=784)
    model = gc.Sequential([layers.Dense(5, input_dim=4)])
    assert model.input_shape == (None, 4) and model.layers[0].get_weights()[0].shape == (4, 5)


def test_input_layer_with_keras2_input_shape():
    # keras.io/api/layers/core_layers/input: InputLayer(input_shape=...) (Keras 2) and shape= (Keras 3)
    model = gc.Sequential([layers.InputLayer(input_shape=(4,)), layers.Dense(2)])
    other = gc.Sequential([layers.InputLayer(shape=(4,)), layers.Dense(2)])
    assert model.input_shape == other.input_shape == (None, 4) and len(model.layers) == 1


def test_sequential_pop_removes_the_last_layer():
    # keras.io/guides/sequential_model, "Creating a Sequential model": model.pop()
    model = gc.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2), layers.Dense(1)])
    model.pop()
    assert len(model.layers) == 2 and model.output_shape == (None, 2)
    assert model.predict(X, verbose=0).shape == (6, 2)


def test_get_layer_by_name_and_index():
    # keras.io/api/models/model, "get_layer": model.get_layer(name=...) or (index=...)
    model = gc.Sequential([layers.Dense(3, input_shape=(4,), name="hidden"), layers.Dense(2, name="out")])
    assert model.get_layer("hidden") is model.layers[0] and model.get_layer(index=1).name == "out"


def test_feature_extraction_from_intermediate_outputs():
    # keras.io/guides/sequential_model, "Feature extraction with a Sequential model"
    graph = gc.Graph()
    with graph.as_default():
        inputs = gc.Input((4,))
        hidden = layers.Dense(3, activation="tanh", name="my_intermediate_layer")(inputs)
        outputs = layers.Dense(2)(hidden)
        model = gc.Model(inputs, outputs)
        extractor = gc.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    features = extractor.predict(X, verbose=0)
    kernel, bias = model.get_layer("my_intermediate_layer").get_weights()
    assert [f.shape for f in features] == [(6, 4), (6, 3), (6, 2)]
    np.testing.assert_allclose(features[1], np.tanh(X @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_models_are_callable_like_layers():
    # keras.io/guides/functional_api, "All models are callable, just like layers"
    graph = gc.Graph()
    with graph.as_default():
        encoder_input = gc.Input((4,))
        encoder = gc.Model(encoder_input, layers.Dense(2, name="code")(encoder_input), name="encoder")
        autoencoder_input = gc.Input((4,))
        decoded = layers.Dense(4)(encoder(autoencoder_input))
        autoencoder = gc.Model(autoencoder_input, decoded)
    assert autoencoder.layers[1] is encoder
    k, b = encoder.get_weights()
    k2, b2 = autoencoder.layers[2].get_weights()
    np.testing.assert_allclose(autoencoder.predict(X, verbose=0), (X @ k + b) @ k2 + b2, rtol=1e-5, atol=1e-6)


def test_a_sequential_base_model_called_on_a_keras_input():
    # keras.io/guides/transfer_learning, "The typical transfer-learning workflow":
    #   inputs = keras.Input(shape=...); x = base_model(inputs, training=False); model = keras.Model(inputs, outputs)
    base_model = gc.Sequential([layers.Dense(3, activation="relu", input_shape=(4,))])
    inputs = gc.Input(shape=(4,))
    x = base_model(inputs, training=False)
    outputs = layers.Dense(1)(x)
    model = gc.Model(inputs, outputs)
    kernel, bias = base_model.get_weights()
    k2, b2 = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(X, verbose=0), np.maximum(X @ kernel + bias, 0) @ k2 + b2, rtol=1e-5,
                               atol=1e-6)


def test_multi_input_multi_output_model():
    # keras.io/guides/functional_api, "Models with multiple inputs and outputs"
    graph = gc.Graph()
    with graph.as_default():
        title, body = gc.Input((3,), name="title"), gc.Input((2,), name="body")
        merged = layers.concatenate([title, body])
        priority = layers.Dense(1, name="priority")(merged)
        department = layers.Dense(4, activation="softmax", name="department")(merged)
        model = gc.Model(inputs=[title, body], outputs=[priority, department])
    model.compile(optimizer="rmsprop", loss={"priority": "mse", "department": "categorical_crossentropy"},
                  loss_weights={"priority": 1.0, "department": 0.2})
    t, b = RNG.normal(size=(8, 3)).astype(np.float32), RNG.normal(size=(8, 2)).astype(np.float32)
    p, d = RNG.normal(size=(8, 1)).astype(np.float32), np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 8)]
    results = model.evaluate({"title": t, "body": b}, {"priority": p, "department": d}, verbose=0, return_dict=True)
    pp, dd = model.predict([t, b], verbose=0)
    mse, ce = np.mean((pp - p) ** 2), np.mean(-np.log(np.sum(dd * d, 1)))
    np.testing.assert_allclose([results["priority_loss"], results["department_loss"], results["loss"]],
                               [mse, ce, mse + 0.2 * ce], rtol=1e-5)


def test_shared_layer_uses_one_set_of_weights():
    # keras.io/guides/functional_api, "Shared layers"
    graph = gc.Graph()
    with graph.as_default():
        a, b = gc.Input((4,)), gc.Input((4,))
        shared = layers.Dense(2)
        model = gc.Model([a, b], layers.subtract([shared(a), shared(b)]))
    assert len(model.weights) == 2
    np.testing.assert_allclose(model.predict([X, 2 * X], verbose=0), -(X @ shared.get_weights()[0]), rtol=1e-5,
                               atol=1e-6)


def test_toy_resnet_with_add_and_global_pooling_matches_pytorch():
    # keras.io/guides/functional_api, "A toy ResNet model": layers.add([x, block_output]), GlobalAveragePooling2D
    graph = gc.Graph()
    with graph.as_default():
        inputs = gc.Input(shape=(6, 6, 2))
        x = layers.Conv2D(2, 3, padding="same", use_bias=False)(inputs)
        block = layers.add([x, inputs])
        outputs = layers.GlobalAveragePooling2D()(block)
        model = gc.Model(inputs, outputs)
    images = RNG.normal(size=(3, 6, 6, 2)).astype(np.float32)
    (kernel,) = model.get_weights()   # Keras layout (kh, kw, in, out)
    conv = torch.nn.functional.conv2d(torch.from_numpy(images.transpose(0, 3, 1, 2)),
                                      torch.from_numpy(kernel.transpose(3, 2, 0, 1)), padding=1)
    expected = (conv + torch.from_numpy(images.transpose(0, 3, 1, 2))).mean((2, 3)).numpy()
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_compile_then_fit_a_sequential_without_input_shape():
    # keras.io/guides/sequential_model, "Specifying the input shape in advance": a model without an input shape
    # can be compiled and is built by fit on its first data
    model = gc.Sequential([layers.Dense(1)])
    model.compile(optimizer=gc.optimizers.SGD(0.1), loss="mse")
    y = X @ np.array([[1.0], [0.0], [-1.0], [0.5]], np.float32)
    history = model.fit(X, y, epochs=1, batch_size=6, verbose=0)
    (kernel, bias) = model.get_weights()
    assert kernel.shape == (4, 1) and len(history.history["loss"]) == 1


def test_transfer_learning_with_a_sequential_of_a_base_model():
    # keras.io/guides/sequential_model, "Transfer learning with a Sequential model":
    #   base_model.trainable = False; model = keras.Sequential([base_model, layers.Dense(1000)])
    base_model = gc.Sequential([layers.Dense(3, activation="relu", input_shape=(4,))])
    base_model.trainable = False
    model = gc.Sequential([base_model, layers.Dense(2)])
    assert len(model.layers) == 2 and model.layers[0] is base_model
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    kernel, bias = base_model.get_weights()
    k2, b2 = model.layers[1].get_weights()
    np.testing.assert_allclose(model.predict(X, verbose=0), np.maximum(X @ kernel + bias, 0) @ k2 + b2, rtol=1e-5,
                               atol=1e-6)
