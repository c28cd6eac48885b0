"""Keras idioms: freezing layers and fine-tuning (keras.io/guides/transfer_learning), with the regression tests
for ``layer.trainable = False`` after the model is built (it used to keep training the layer)."""
import warnings

import numpy as np
import pytest

import graphcore as gc
from graphcore import layers

RNG = np.random.default_rng(1)
X = RNG.normal(size=(16, 4)).astype(np.float32)
Y = RNG.normal(size=(16, 1)).astype(np.float32)


def _two_layers():
    return gc.Sequential([layers.Dense(3, activation="tanh", input_shape=(4,)), layers.Dense(1)])


def test_trainable_false_moves_weights_to_non_trainable():
    # keras.io/guides/transfer_learning, "Freezing layers: understanding the trainable attribute"
    layer = layers.Dense(3)
    gc.Sequential([gc.Input((4,)), layer])
    assert len(layer.weights) == 2 and len(layer.trainable_weights) == 2 and not layer.non_trainable_weights
    layer.trainable = False
    assert len(layer.weights) == 2 and not layer.trainable_weights and len(layer.non_trainable_weights) == 2


def test_freezing_a_built_layer_then_compile_keeps_its_weights():
    # keras.io/guides/transfer_learning, "Freezing layers": layer1.trainable = False; model.compile(); model.fit()
    # — regression: the frozen layer used to keep training
    model = _two_layers()
    model.layers[0].trainable = False
    model.compile(optimizer="adam", loss="mse")
    frozen, head = model.layers[0].get_weights(), model.layers[1].get_weights()
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    for before, after in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(head[0], model.layers[1].get_weights()[0])


def test_the_frozen_model_trains_like_the_head_alone_with_fixed_features():
    # keras.io/guides/transfer_learning, "Freezing layers": a frozen feature extractor plus a trained head is
    # the head trained on fixed features (checked step by step against SGD by hand)
    model = _two_layers()
    model.layers[0].trainable = False
    model.compile(optimizer=gc.optimizers.SGD(0.1), loss="mse")
    (k1, b1), (k2, b2) = model.layers[0].get_weights(), model.layers[1].get_weights()
    features = np.tanh(X @ k1 + b1)
    error = features @ k2 + b2 - Y
    k2_new = k2 - 0.1 * features.T @ (2 * error / len(X))
    model.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.layers[1].get_weights()[0], k2_new, rtol=1e-5, atol=1e-6)


def test_setting_trainable_on_a_model_freezes_every_layer_inside():
    # keras.io/guides/transfer_learning, "Recursive setting of the trainable attribute"
    inner = gc.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(3)])
    inputs = gc.Input((4,))
    outer = gc.Model(inputs, layers.Dense(1)(inner(inputs)))
    assert len(outer.trainable_weights) == 6
    inner.trainable = False
    assert all(not layer.trainable for layer in inner.layers)
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 4


def test_transfer_learning_workflow_then_fine_tuning():
    # keras.io/guides/transfer_learning, "The typical transfer-learning workflow" and "Fine-tuning":
    # base_model.trainable = False, train the head; then base_model.trainable = True, recompile, train all
    base_model = gc.Sequential([layers.Dense(3, activation="relu", input_shape=(4,))])
    base_model.trainable = False
    inputs = gc.Input(shape=(4,))
    x = base_model(inputs, training=False)
    model = gc.Model(inputs, layers.Dense(1)(x))
    model.compile(optimizer=gc.optimizers.Adam(), loss="mse")
    base = base_model.get_weights()
    model.fit(X, Y, epochs=1, verbose=0)
    for before, after in zip(base, base_model.get_weights()):
        np.testing.assert_array_equal(before, after)
    base_model.trainable = True
    model.compile(optimizer=gc.optimizers.Adam(1e-5), loss="mse")
    model.fit(X, Y, epochs=1, verbose=0)
    assert not np.array_equal(base[0], base_model.get_weights()[0])


def test_frozen_batch_normalization_runs_in_inference_mode():
    # keras.io/guides/transfer_learning, "Important notes about BatchNormalization layer": with trainable=False
    # the layer runs in inference mode (moving statistics) even in fit, and its statistics are not updated
    model = gc.Sequential([layers.BatchNormalization(input_shape=(4,)), layers.Dense(1, use_bias=False)])
    bn = model.layers[0]
    gamma, beta = np.full(4, 2.0, np.float32), np.full(4, 0.5, np.float32)
    mean, var = np.full(4, 0.25, np.float32), np.full(4, 4.0, np.float32)
    bn.set_weights([gamma, beta, mean, var])
    bn.trainable = False
    model.compile(optimizer=gc.optimizers.SGD(0.1), loss="mse")
    (kernel,) = model.layers[1].get_weights()
    normalized = (X - mean) / np.sqrt(var + 1e-3) * gamma + beta     # inference mode, by hand
    error = normalized @ kernel - Y
    expected = kernel - 0.1 * normalized.T @ (2 * error / len(X))
    model.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.layers[1].get_weights()[0], expected, rtol=1e-5, atol=1e-6)
    for before, after in zip([gamma, beta, mean, var], bn.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_unfrozen_batch_normalization_trains_on_batch_statistics():
    # keras.io/api/layers/normalization_layers/batch_normalization: in training, the batch's statistics, and the
    # moving mean moves by momentum
    model = gc.Sequential([layers.BatchNormalization(momentum=0.5, input_shape=(4,)), layers.Dense(1)])
    model.compile(optimizer=gc.optimizers.SGD(0.0), loss="mse")
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_allclose(model.layers[0].get_weights()[2], 0.5 * X.mean(0), rtol=1e-5, atol=1e-6)


def test_base_model_called_with_training_false_keeps_batch_norm_in_inference():
    # keras.io/guides/transfer_learning, "Fine-tuning": x = base_model(inputs, training=False) keeps the base's
    # BatchNormalization in inference mode even once it is unfrozen
    base_model = gc.Sequential([layers.BatchNormalization(input_shape=(4,))])
    inputs = gc.Input((4,))
    model = gc.Model(inputs, layers.Dense(1, use_bias=False)(base_model(inputs, training=False)))
    model.compile(optimizer=gc.optimizers.SGD(0.1), loss="mse")
    (kernel,) = model.layers[-1].get_weights()
    normalized = X / np.sqrt(1.0 + 1e-3)    # initial moving statistics 0 and 1
    expected = kernel - 0.1 * normalized.T @ (2 * (normalized @ kernel - Y) / len(X))
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_allclose(model.layers[-1].get_weights()[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(base_model.layers[0].get_weights()[2], np.zeros(4, np.float32))


def test_changing_trainable_without_recompiling_warns_as_keras_2_does():
    # keras.io/guides/transfer_learning, "Important notes about compile() and trainable": call compile() again
    model = _two_layers()
    model.compile(optimizer="sgd", loss="mse")
    model.layers[0].trainable = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, Y, epochs=1, verbose=0)
    assert any("compile" in str(w.message) for w in caught)


def test_summary_counts_frozen_weights_as_non_trainable(capsys):
    # keras.io/guides/transfer_learning, "Freezing layers": summary() shows trainable and non-trainable params
    model = _two_layers()
    model.layers[0].trainable = False
    model.summary()
    out = capsys.readouterr().out
    assert "Trainable params: 4" in out and "Non-trainable params: 15" in out


@pytest.mark.parametrize("frozen", [False, True])
def test_layer_constructed_frozen(frozen):
    # keras.io/api/layers/base_layer: Layer(trainable=False) at construction
    model = gc.Sequential([layers.Dense(2, input_shape=(4,), trainable=not frozen)])
    assert len(model.trainable_weights) == (0 if frozen else 2)


def test_frozen_batch_normalization_in_the_onnxruntime_backend():
    # the exported training step keeps a frozen BatchNormalization in inference mode too (fit(backend=...))
    losses = {}
    for backend in ("numpy", "onnxruntime"):
        model = gc.Sequential([layers.BatchNormalization(input_shape=(4,)), layers.Dense(1)])
        model.set_weights([np.full(4, 2.0), np.zeros(4), np.full(4, 0.5), np.full(4, 3.0),
                           np.ones((4, 1)), np.zeros(1)])
        model.layers[0].trainable = False
        model.compile(optimizer=gc.optimizers.SGD(0.01), loss="mse")
        losses[backend] = model.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0,
                                    backend=backend).history["loss"]
        np.testing.assert_array_equal(model.layers[0].get_weights()[2], np.full(4, 0.5, np.float32))
    np.testing.assert_allclose(losses["onnxruntime"], losses["numpy"], rtol=1e-5)
