"""Keras idioms: saving and loading models, weights and configs (keras.io/guides/serialization_and_saving,
tensorflow.org/tutorials/keras/save_and_load)."""
import json

import numpy as np
import pytest

import graphcore as gc
from graphcore import layers, losses, metrics

RNG = np.random.default_rng(6)
X = RNG.normal(size=(16, 4)).astype(np.float32)
LABELS = RNG.integers(0, 3, 16)


def _classifier(optimizer="adam"):
    model = gc.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(3, activation="softmax")])
    model.graph.seed = 0
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_load_model_returns_a_compiled_model_that_resumes_training_identically(tmp_path):
    # keras.io/guides/serialization_and_saving, "Saving": model.save("my_model.keras");
    # keras.models.load_model(...) "returns a compiled model" with its optimizer state — training resumes
    path = str(tmp_path / "my_model.npz")
    model = _classifier(gc.optimizers.Adam(0.01))
    model.fit(X, LABELS, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model.save(path)
    loaded = gc.load_model(path)
    assert type(loaded).__name__ == "Sequential" and type(loaded.optimizer).__name__ == "Adam"
    assert loaded.evaluate(X, LABELS, verbose=0) == model.evaluate(X, LABELS, verbose=0)
    continued = model.fit(X, LABELS, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    resumed = loaded.fit(X, LABELS, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    assert resumed.history["loss"] == continued.history["loss"]    # same Adam moments and step count
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_model_keeps_loss_and_metric_objects(tmp_path):
    # keras.io/guides/serialization_and_saving: compile settings (loss and metric objects) come back
    model = gc.Sequential([layers.Dense(3, input_shape=(4,))])
    model.compile(optimizer=gc.optimizers.SGD(0.1, momentum=0.5),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[metrics.SparseCategoricalAccuracy(name="acc")])
    model.save(str(tmp_path / "m.npz"))
    loaded = gc.load_model(str(tmp_path / "m.npz"))
    assert loaded.optimizer.momentum == 0.5 and loaded.metrics_names == ["loss", "acc"]
    np.testing.assert_allclose(loaded.evaluate(X, LABELS, verbose=0), model.evaluate(X, LABELS, verbose=0), rtol=1e-6)


def test_custom_loss_needs_custom_objects(tmp_path):
    # keras.io/guides/serialization_and_saving, "Custom objects": load_model(path, custom_objects={...})
    def my_loss(y_true, y_pred):
        return gc.reduce_mean(gc.square(y_true - y_pred), axis=-1)
    model = gc.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizer="sgd", loss=my_loss)
    path = str(tmp_path / "custom.npz")
    model.save(path)
    with pytest.raises(gc.BuildError, match="custom_objects"):
        gc.load_model(path)
    loaded = gc.load_model(path, custom_objects={"my_loss": my_loss})
    y = RNG.normal(size=(16, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.evaluate(X, y, verbose=0), model.evaluate(X, y, verbose=0), rtol=1e-6)
    assert gc.load_model(path, compile=False).predict(X, verbose=0).shape == (16, 1)


def test_save_weights_and_load_weights(tmp_path):
    # tensorflow.org/tutorials/keras/save_and_load, "Manually save weights": model.save_weights(path);
    # model.load_weights(path) into a fresh model of the same architecture
    path = str(tmp_path / "my_checkpoint.weights.npz")
    model = _classifier()
    model.fit(X, LABELS, epochs=1, verbose=0)
    model.save_weights(path)
    fresh = _classifier()
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_get_config_and_from_config_rebuild_a_model():
    # keras.io/guides/serialization_and_saving, "Config methods": config = model.get_config();
    # new_model = keras.Sequential.from_config(config) (same architecture, new weights)
    model = _classifier()
    config = model.get_config()
    rebuilt = gc.Sequential.from_config(config)
    assert type(rebuilt).__name__ == "Sequential"
    assert [type(layer).__name__ for layer in rebuilt.layers] == ["Dense", "Dense"]
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_to_json_and_model_from_json():
    # keras.io/guides/serialization_and_saving, "to_json() and keras.models.model_from_json()"
    graph = gc.Graph()
    with graph.as_default():
        inputs = gc.Input((4,))
        outputs = layers.Dense(2, activation="tanh", name="head")(layers.Dense(5)(inputs))
        model = gc.Model(inputs, outputs)
    json_config = model.to_json()
    assert json.loads(json_config)["class_name"] == "Model"
    new_model = gc.model_from_json(json_config)
    assert [layer.name for layer in new_model.layers] == [layer.name for layer in model.layers]
    new_model.set_weights(model.get_weights())
    np.testing.assert_allclose(new_model.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_layer_get_config_and_from_config():
    # keras.io/guides/serialization_and_saving, "Config methods": layer = Dense(3, activation="relu");
    # layer_config = layer.get_config(); new_layer = Dense.from_config(layer_config)
    layer = layers.Dense(3, activation=gc.activations.relu, use_bias=False)
    config = layer.get_config()
    assert config["units"] == 3 and config["activation"] == "relu" and config["use_bias"] is False
    assert config["trainable"] is True and config["kernel_initializer"] == "glorot_uniform"
    new_layer = layers.Dense.from_config(config)
    assert new_layer.units == 3 and new_layer.use_bias is False


def test_set_weights_with_another_models_arrays():
    # keras.io/api/models/model, "set_weights": copy weights between models of the same architecture
    a, b = _classifier(), _classifier()
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a.predict(X, verbose=0), b.predict(X, verbose=0))


def test_frozen_flags_survive_save_and_load(tmp_path):
    # keras.io/guides/serialization_and_saving: the layers' configs (trainable included) are saved
    model = _classifier()
    model.layers[0].trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(str(tmp_path / "frozen.npz"))
    loaded = gc.load_model(str(tmp_path / "frozen.npz"))
    assert not loaded.layers[0].trainable and len(loaded.trainable_weights) == 2
