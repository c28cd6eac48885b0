"""Keras idioms: layers and activations as Keras's API pages and guides use them (keras.io/api/layers),
checked against PyTorch and hand-computed values."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import graphcore as gc
from graphcore import initializers, layers, regularizers

RNG = np.random.default_rng(4)
X = RNG.normal(size=(5, 6)).astype(np.float32)
IMAGES = RNG.normal(size=(2, 3, 4, 2)).astype(np.float32)


def _apply(layer, data, shape=None):
    model = gc.Sequential([gc.Input(shape or data.shape[1:]), layer])
    return model.predict(data, verbose=0)


def _nchw(a):
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def test_upsampling2d_nearest_matches_pytorch():
    # keras.io/api/layers/reshaping_layers/up_sampling2d: UpSampling2D(size=(2, 2))
    out = _apply(layers.UpSampling2D(size=(2, 3)), IMAGES)
    expected = F.interpolate(_nchw(IMAGES), scale_factor=(2, 3), mode="nearest").numpy().transpose(0, 2, 3, 1)
    assert out.shape == (2, 6, 12, 2)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("layer_class, function, oracle", [
    (layers.Subtract, layers.subtract, lambda a, b: a - b),
    (layers.Multiply, layers.multiply, lambda a, b: a * b),
    (layers.Average, layers.average, lambda a, b: (a + b) / 2),
    (layers.Maximum, layers.maximum, np.maximum),
    (layers.Minimum, layers.minimum, np.minimum),
    (layers.Add, layers.add, lambda a, b: a + b),
])
def test_merge_layers_and_their_functional_forms(layer_class, function, oracle):
    # keras.io/api/layers/merging_layers: Subtract()([x1, x2]) and keras.layers.subtract([x1, x2]), etc.
    b = RNG.normal(size=X.shape).astype(np.float32)
    for merge in (lambda ins: layer_class()(ins), function):
        graph = gc.Graph()
        with graph.as_default():
            i1, i2 = gc.Input((6,)), gc.Input((6,))
            model = gc.Model([i1, i2], merge([i1, i2]))
        np.testing.assert_allclose(model.predict([X, b], verbose=0), oracle(X, b), rtol=1e-6)


def test_concatenate_function_on_images_joins_channels():
    # keras.io/api/layers/merging_layers/concatenate: keras.layers.concatenate([x1, x2], axis=-1)
    graph = gc.Graph()
    with graph.as_default():
        a, b = gc.Input((3, 4, 2)), gc.Input((3, 4, 1))
        model = gc.Model([a, b], layers.concatenate([a, b], axis=-1))
    other = IMAGES[..., :1] * 3
    np.testing.assert_array_equal(model.predict([IMAGES, other], verbose=0), np.concatenate([IMAGES, other], -1))


@pytest.mark.parametrize("layer, oracle", [
    (layers.LeakyReLU(), lambda t: F.leaky_relu(t, 0.3)),                 # Keras's layer default: 0.3
    (layers.LeakyReLU(negative_slope=0.1), lambda t: F.leaky_relu(t, 0.1)),
    (layers.LeakyReLU(alpha=0.2), lambda t: F.leaky_relu(t, 0.2)),        # Keras 2's spelling
    (layers.ReLU(), F.relu),
    (layers.ReLU(max_value=0.5), lambda t: t.clamp(0, 0.5)),
    (layers.ReLU(negative_slope=0.1, threshold=0.2), lambda t: torch.where(t >= 0.2, t, 0.1 * (t - 0.2))),
    (layers.ELU(alpha=0.5), lambda t: F.elu(t, 0.5)),
    (layers.Softmax(), lambda t: F.softmax(t, -1)),
])
def test_activation_layers_match_pytorch(layer, oracle):
    # keras.io/api/layers/activation_layers: ReLU, Softmax, LeakyReLU, ELU layers
    np.testing.assert_allclose(_apply(layer, X), oracle(torch.from_numpy(X)).numpy(), rtol=1e-5, atol=1e-6)


def test_softmax_layer_on_images_runs_over_channels():
    # keras.io/api/layers/activation_layers/softmax: axis=-1 is the channels of channels-last images
    expected = F.softmax(torch.from_numpy(IMAGES), -1).numpy()
    np.testing.assert_allclose(_apply(layers.Softmax(), IMAGES), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, oracle", [
    ("selu", F.selu), ("softsign", F.softsign), ("swish", F.silu), ("silu", F.silu),
    ("gelu", lambda t: F.gelu(t, approximate="none")), ("elu", F.elu), ("softplus", F.softplus),
    ("exponential", torch.exp), ("mish", F.mish),
])
def test_activation_names_match_pytorch(name, oracle):
    # keras.io/api/layers/activations: Dense(..., activation="selu") and Activation("gelu")
    np.testing.assert_allclose(_apply(layers.Activation(name), X), oracle(torch.from_numpy(X)).numpy(), rtol=1e-5,
                               atol=1e-6)


def test_gelu_approximate_function():
    # keras.io/api/layers/activations, "gelu": keras.activations.gelu(x, approximate=True)
    graph = gc.Graph()
    with graph.as_default():
        inputs = gc.Input((6,))
        model = gc.Model(inputs, gc.activations.gelu(inputs, approximate=True))
    np.testing.assert_allclose(model.predict(X, verbose=0), F.gelu(torch.from_numpy(X), approximate="tanh").numpy(),
                               rtol=1e-5, atol=1e-6)


def test_reshape_with_minus_one():
    # keras.io/api/layers/reshaping_layers/reshape: Reshape((-1, 2)) infers the missing dimension
    out = _apply(layers.Reshape((-1, 2)), X)
    assert out.shape == (5, 3, 2)
    np.testing.assert_array_equal(out, X.reshape(5, 3, 2))
    with pytest.raises(gc.BuildError, match="cannot fit"):
        _apply(layers.Reshape((-1, 4)), X)


def test_sequential_text_model_with_embedding_input_length():
    # tensorflow.org/tutorials/keras/text_classification: Embedding(vocab, 16, input_length=maxlen),
    # GlobalAveragePooling1D, Dense(1, activation="sigmoid"); integer word ids and 0/1 labels of shape (n,)
    ids = RNG.integers(0, 20, size=(8, 5))
    labels = RNG.integers(0, 2, 8)
    model = gc.Sequential([layers.Embedding(20, 4, input_length=5), layers.GlobalAveragePooling1D(),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    assert model.input_shape == (None, 5) and model.inputs[0].dtype == np.int64
    (table,), (kernel, bias) = model.layers[0].get_weights(), model.layers[2].get_weights()
    assert np.abs(table).max() <= 0.05                      # Keras's "uniform" initializer: U(-0.05, 0.05)
    expected = 1 / (1 + np.exp(-(table[ids].mean(1) @ kernel + bias)))
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, rtol=1e-5)
    history = model.fit(ids, labels, epochs=2, verbose=0)
    assert len(history.history["accuracy"]) == 2


def test_embedding_casts_float_ids_from_a_float_input():
    # keras.io/api/layers/core_layers/embedding: a float32 keras.Input of ids is cast to integers
    graph = gc.Graph()
    with graph.as_default():
        inputs = gc.Input((3,))
        model = gc.Model(inputs, layers.Embedding(10, 2)(inputs))
    ids = np.array([[1, 2, 3]], np.float32)
    np.testing.assert_array_equal(model.predict(ids, verbose=0)[0], model.layers[1].get_weights()[0][[1, 2, 3]])


def test_lstm_initial_state_matches_pytorch():
    # keras.io/guides/working_with_rnns, "RNN state reuse": layers.LSTM(64)(x, initial_state=[h, c])
    graph = gc.Graph()
    with graph.as_default():
        x, h0, c0 = gc.Input((4, 3)), gc.Input((5,)), gc.Input((5,))
        lstm = layers.LSTM(5)
        model = gc.Model([x, h0, c0], lstm(x, initial_state=[h0, c0]))
    seq, h, c = (RNG.normal(size=s).astype(np.float32) for s in ((2, 4, 3), (2, 5), (2, 5)))
    kernel, recurrent, bias = lstm.get_weights()        # Keras gate order i, f, c, o; PyTorch i, f, g, o
    torch_lstm = torch.nn.LSTM(3, 5, batch_first=True)
    with torch.no_grad():
        torch_lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T))
        torch_lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T))
        torch_lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        torch_lstm.bias_hh_l0.zero_()
        _, (expected, _) = torch_lstm(torch.from_numpy(seq), (torch.from_numpy(h)[None], torch.from_numpy(c)[None]))
    np.testing.assert_allclose(model.predict([seq, h, c], verbose=0), expected[0].numpy(), rtol=1e-4, atol=1e-5)


def test_l2_kernel_regularizer_adds_its_penalty_to_the_loss():
    # tensorflow.org/tutorials/keras/overfit_and_underfit, "Add weight regularization":
    # layers.Dense(..., kernel_regularizer=regularizers.l2(0.001)); the reported loss includes the penalty
    model = gc.Sequential([layers.Dense(2, input_shape=(6,), kernel_regularizer=regularizers.l2(0.001),
                                        bias_regularizer="l1")])
    model.compile(optimizer="sgd", loss="mse")
    y = RNG.normal(size=(5, 2)).astype(np.float32)
    kernel, bias = model.get_weights()
    bias += 0.5
    model.set_weights([kernel, bias])
    mse = np.mean((X @ kernel + bias - y) ** 2)
    penalty = 0.001 * np.sum(kernel ** 2) + 0.01 * np.sum(np.abs(bias))
    np.testing.assert_allclose(model.evaluate(X, y, verbose=0), mse + penalty, rtol=1e-5)
    assert len(model.losses) == 2


def test_activity_regularizer_is_divided_by_the_batch_size():
    # keras.io/api/layers/regularizers: activity_regularizer penalises the layer's output (per batch example)
    model = gc.Sequential([layers.Dense(2, input_shape=(6,), activity_regularizer=regularizers.L1(0.01))])
    model.compile(optimizer="sgd", loss="mse")
    y = np.zeros((5, 2), np.float32)
    out = model.predict(X, verbose=0)
    np.testing.assert_allclose(model.evaluate(X, y, batch_size=5, verbose=0),
                               np.mean(out ** 2) + 0.01 * np.abs(out).sum() / 5, rtol=1e-5)


def test_initializers_by_string_and_class():
    # keras.io/api/layers/initializers: kernel_initializer="he_uniform", keras.initializers.Constant(0.1),
    # RandomNormal(mean=0.0, stddev=1.0)
    model = gc.Sequential([
        layers.Dense(300, input_shape=(50,), kernel_initializer="he_uniform",
                     bias_initializer=initializers.Constant(0.1)),
        layers.Dense(4, kernel_initializer=initializers.RandomNormal(mean=1.0, stddev=0.01, seed=0))])
    kernel, bias = model.layers[0].get_weights()
    limit = np.sqrt(6 / 50)
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    np.testing.assert_array_equal(bias, np.full(300, 0.1, np.float32))
    second = model.layers[1].get_weights()[0]
    assert abs(second.mean() - 1.0) < 0.01 and 0.008 < second.std() < 0.012


def test_batch_normalization_on_sequences_normalizes_the_last_axis():
    # keras.io/api/layers/normalization_layers/batch_normalization: axis=-1 (the features of (batch, steps,
    # features)); in inference mode with set moving statistics
    seq = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    bn = layers.BatchNormalization()
    model = gc.Sequential([gc.Input((4, 3)), bn])
    mean, var = RNG.normal(size=3).astype(np.float32), RNG.uniform(0.5, 2, 3).astype(np.float32)
    bn.set_weights([np.ones(3, np.float32), np.zeros(3, np.float32), mean, var])
    expected = F.batch_norm(torch.from_numpy(seq).transpose(1, 2), torch.from_numpy(mean), torch.from_numpy(var),
                            eps=1e-3).transpose(1, 2).numpy()
    np.testing.assert_allclose(model.predict(seq, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_global_max_pooling_1d_and_2d():
    # keras.io/api/layers/pooling_layers: GlobalMaxPooling1D, GlobalMaxPooling2D(keepdims=True)
    seq = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(_apply(layers.GlobalMaxPooling1D(), seq), seq.max(1))
    np.testing.assert_array_equal(_apply(layers.GlobalMaxPooling2D(keepdims=True), IMAGES),
                                  IMAGES.max((1, 2), keepdims=True))


def test_layer_constructed_with_initial_weights():
    # Keras's Layer(weights=[...]) argument: the weights set once the layer is built
    kernel, bias = np.ones((6, 2), np.float32), np.arange(2, dtype=np.float32)
    np.testing.assert_allclose(_apply(layers.Dense(2, weights=[kernel, bias]), X), X @ kernel + bias, rtol=1e-6)


def test_dropout_is_identity_at_inference_and_scales_in_training():
    # keras.io/api/layers/regularization_layers/dropout: inputs not set to 0 are scaled up by 1/(1 - rate)
    data = np.ones((200, 6), np.float32)
    assert np.array_equal(_apply(layers.Dropout(0.5), data), data)
    graph = gc.Graph()
    with graph.as_default():
        inputs = gc.Input((6,))
        model = gc.Model(inputs, layers.Dropout(0.5, seed=0)(inputs, training=True))    # Monte-Carlo dropout
    assert set(np.unique(model.predict(data, verbose=0))) == {0.0, 2.0}
