"""Keras idioms: compile / fit / evaluate / predict and the one-batch methods, with Keras's keywords, defaults
and return types (keras.io/guides/training_with_built_in_methods, keras.io/api/models/model_training_apis)."""
import numpy as np
import pytest

import graphcore as gc
from graphcore import layers

RNG = np.random.default_rng(2)
X = RNG.normal(size=(20, 4)).astype(np.float32)
LABELS = RNG.integers(0, 3, 20)
TARGETS = RNG.normal(size=(20,)).astype(np.float32)


def _classifier():
    model = gc.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizer=gc.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _regressor():
    model = gc.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizer=gc.optimizers.SGD(0.05), loss="mse")
    return model


def _cross_entropy(probabilities, labels):
    return float(np.mean(-np.log(probabilities[np.arange(len(labels)), labels])))


def test_evaluate_returns_loss_and_metrics_in_compile_order():
    # keras.io/guides/training_with_built_in_methods, "API overview": results = model.evaluate(x_test, y_test)
    model = _classifier()
    loss, accuracy = model.evaluate(X, LABELS, batch_size=128, verbose=0)
    p = model.predict(X, verbose=0)
    assert model.metrics_names == ["loss", "accuracy"]
    np.testing.assert_allclose(loss, _cross_entropy(p, LABELS), rtol=1e-5)
    np.testing.assert_allclose(accuracy, np.mean(p.argmax(1) == LABELS), rtol=1e-6)


def test_evaluate_return_dict():
    # keras.io/api/models/model_training_apis, "evaluate": return_dict=True
    model = _classifier()
    results = model.evaluate(X, LABELS, verbose=0, return_dict=True)
    assert list(results) == ["loss", "accuracy"] and all(isinstance(v, float) for v in results.values())


def test_evaluate_without_metrics_returns_a_scalar():
    # keras.io/api/models/model_training_apis, "evaluate": "Scalar test loss (if the model has a single output
    # and no metrics)"
    model = _regressor()
    loss = model.evaluate(X, TARGETS, verbose=0)
    np.testing.assert_allclose(loss, np.mean((model.predict(X, verbose=0)[:, 0] - TARGETS) ** 2), rtol=1e-5)


def test_one_dimensional_targets_for_a_single_unit_output():
    # keras.io/guides/training_with_built_in_methods: y of shape (n,) for an output of shape (n, 1) is expanded
    # (Keras's squeeze_or_expand_to_same_rank); labels of shape (n, 1) for a sparse loss are squeezed
    model = _regressor()
    w, b = model.get_weights()
    expected = np.mean((X @ w + b - TARGETS[:, None]) ** 2)
    np.testing.assert_allclose(model.evaluate(X, TARGETS, verbose=0), expected, rtol=1e-5)
    clf = _classifier()
    np.testing.assert_allclose(clf.evaluate(X, LABELS[:, None], verbose=0), clf.evaluate(X, LABELS, verbose=0),
                               rtol=1e-6)


def test_fit_verbose_2_prints_one_line_per_epoch(capsys):
    # keras.io/api/models/model_training_apis, "fit": verbose=2 is "one line per epoch"
    model = _classifier()
    history = model.fit(X, LABELS, epochs=3, batch_size=10, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert all(line.startswith("2/2 - ") and "loss: " in line and "accuracy: " in line for line in lines[1::2])
    assert f"loss: {history.history['loss'][0]:.4f}" in lines[1]


def test_fit_verbose_0_prints_nothing(capsys):
    # keras.io/api/models/model_training_apis, "fit": verbose=0 is silent
    _classifier().fit(X, LABELS, epochs=2, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_evaluate_and_predict_take_verbose(capsys):
    # keras.io/api/models/model_training_apis, "evaluate"/"predict": verbose="auto", 0, 1 or 2
    model = _classifier()
    model.evaluate(X, LABELS, verbose=0)
    model.predict(X, verbose=0)
    assert capsys.readouterr().err == ""
    model.evaluate(X, LABELS, verbose=1)
    assert "loss: " in capsys.readouterr().err


def test_default_batch_size_is_32():
    # keras.io/api/models/model_training_apis, "fit": batch_size defaults to 32
    model = _classifier()
    seen = []
    model.fit(np.tile(X, (4, 1)), np.tile(LABELS, 4), epochs=1, verbose=0,
              callbacks=[gc.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))])
    assert seen == [0, 1, 2]     # 80 examples: 32 + 32 + 16


def test_fit_initial_epoch_resumes_the_epoch_count():
    # keras.io/api/models/model_training_apis, "fit": initial_epoch — "Epoch at which to start training (useful for
    # resuming a previous training run)"
    model = _classifier()
    history = model.fit(X, LABELS, epochs=5, initial_epoch=3, verbose=0)
    assert history.epoch == [3, 4] and len(history.history["loss"]) == 2


def test_fit_returns_a_history_that_is_also_model_history():
    # keras.io/guides/training_with_built_in_methods, "API overview": history.history holds the per-epoch logs
    model = _classifier()
    history = model.fit(X, LABELS, epochs=2, verbose=0, validation_data=(X, LABELS))
    assert model.history is history and set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    np.testing.assert_allclose(history.history["val_loss"][-1], model.evaluate(X, LABELS, verbose=0)[0], rtol=1e-5)


def test_validation_split_holds_out_the_last_rows():
    # keras.io/guides/training_with_built_in_methods, "Automatically setting apart a validation holdout set"
    model = _classifier()
    history = model.fit(X, LABELS, epochs=1, validation_split=0.25, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0], model.evaluate(X[15:], LABELS[15:], verbose=0)[0],
                               rtol=1e-5)


def test_validation_freq_validates_every_nth_epoch():
    # keras.io/api/models/model_training_apis, "fit": validation_freq=2 runs validation every 2 epochs
    model = _classifier()
    logged = []
    model.fit(X, LABELS, epochs=4, validation_data=(X, LABELS), validation_freq=2, verbose=0,
              callbacks=[gc.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logged.append("val_loss" in logs))])
    assert logged == [False, True, False, True]


def test_train_on_batch_returns_the_loss_before_the_update():
    # keras.io/api/models/model_training_apis, "train_on_batch"
    model = _classifier()
    p = model.predict(X, verbose=0)
    loss, accuracy = model.train_on_batch(X, LABELS)
    np.testing.assert_allclose(loss, _cross_entropy(p, LABELS), rtol=1e-5)
    assert not np.allclose(model.predict(X, verbose=0), p)


def test_test_on_batch_and_predict_on_batch():
    # keras.io/api/models/model_training_apis, "test_on_batch", "predict_on_batch"
    model = _classifier()
    p = model.predict_on_batch(X[:5])
    np.testing.assert_allclose(p, model.predict(X[:5], verbose=0), rtol=1e-6)
    results = model.test_on_batch(X[:5], LABELS[:5], return_dict=True)
    np.testing.assert_allclose(results["loss"], _cross_entropy(p, LABELS[:5]), rtol=1e-5)


def test_train_on_batch_reset_metrics_false_averages_over_calls():
    # Keras 2's train_on_batch(reset_metrics=False): the metrics accumulate until model.reset_metrics()
    model = _regressor()
    first = model.test_on_batch(X[:10], TARGETS[:10], reset_metrics=False)
    second = model.test_on_batch(X[10:], TARGETS[10:], reset_metrics=False)
    np.testing.assert_allclose(second, model.evaluate(X, TARGETS, verbose=0), rtol=1e-5)
    assert first != second
    model.reset_metrics()
    np.testing.assert_allclose(model.test_on_batch(X[10:], TARGETS[10:], reset_metrics=False),
                               model.evaluate(X[10:], TARGETS[10:], verbose=0), rtol=1e-5)


def test_sample_weight_weighs_the_loss():
    # keras.io/guides/training_with_built_in_methods, "Using sample weighting and class weighting"
    model = _regressor()
    weights = RNG.uniform(0, 2, 20).astype(np.float32)
    squared = (model.predict(X, verbose=0)[:, 0] - TARGETS) ** 2
    np.testing.assert_allclose(model.evaluate(X, TARGETS, sample_weight=weights, verbose=0),
                               np.mean(weights * squared), rtol=1e-5)


def test_class_weight_in_fit():
    # keras.io/guides/training_with_built_in_methods, "Class weights": class_weight={0: 1.0, 1: 1.0, 2: 5.0}
    model = _classifier()
    class_weight = {0: 1.0, 1: 1.0, 2: 5.0}
    p = model.predict(X, verbose=0)
    history = model.fit(X, LABELS, class_weight=class_weight, batch_size=20, epochs=1, verbose=0)
    weights = np.array([class_weight[c] for c in LABELS])
    expected = np.mean(weights * -np.log(p[np.arange(20), LABELS]))
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)


def test_compile_defaults_are_keras_defaults():
    # keras.io/api/models/model_training_apis, "compile": optimizer="rmsprop", loss=None
    model = gc.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile()
    assert type(model.optimizer).__name__ == "RMSprop" and model.optimizer.learning_rate == 0.001
    with pytest.raises(gc.BuildError, match="without a loss"):
        model.fit(X, TARGETS, verbose=0)
    assert model.predict(X, verbose=0).shape == (20, 1)   # predict needs no loss


def test_fit_on_dicts_by_input_and_output_name():
    # keras.io/guides/functional_api, "Models with multiple inputs and outputs": fit({"title": ...}, {"priority": ...})
    graph = gc.Graph()
    with graph.as_default():
        a = gc.Input((4,), name="features")
        model = gc.Model(a, layers.Dense(1, name="score")(a))
    model.compile(optimizer="sgd", loss={"score": "mse"})
    history = model.fit({"features": X}, {"score": TARGETS}, epochs=1, verbose=0)
    assert set(history.history) == {"loss"}


def test_stop_training_from_a_callback():
    # keras.io/guides/writing_your_own_callbacks, "Early stopping at minimum loss": self.model.stop_training = True
    class StopAfterOne(gc.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True
    history = _classifier().fit(X, LABELS, epochs=5, verbose=0, callbacks=[StopAfterOne()])
    assert history.epoch == [0]
