"""Keras's training API: several inputs and outputs, loss lists and dicts, loss_weights, sample and class
weights (numbers checked against PyTorch), and the callbacks with Keras's hook names and semantics."""
import csv

import numpy as np
import pytest
import torch

import graphcore as gc
from graphcore import callbacks, layers

RNG = np.random.default_rng(0)


def _two_headed(seed=0):
    """Two inputs, two outputs: a classifier head and a regression head."""
    g = gc.Graph()
    with g.as_default():
        image, extra = gc.Input((6,), name="image"), gc.Input((2,), name="extra")
        hidden = layers.Dense(8, activation="tanh", name="hidden")(layers.Concatenate()([image, extra]))
        label = layers.Dense(3, activation="softmax", name="label")(hidden)
        value = layers.Dense(1, name="value")(hidden)
    return gc.Model([image, extra], [label, value])


def _data(n=24):
    return (RNG.normal(size=(n, 6)).astype(np.float32), RNG.normal(size=(n, 2)).astype(np.float32),
            RNG.integers(0, 3, n), RNG.normal(size=(n, 1)).astype(np.float32))


def _cross_entropy(p, y):
    return -np.log(p[np.arange(len(y)), y])


def test_multi_output_losses_by_name_with_loss_weights_follow_keras():
    model = _two_headed()
    assert model.output_names == ["label", "value"] and model.input_names == ["image", "extra"]
    model.compile("adam", loss={"label": "sparse_categorical_crossentropy", "value": "mse"},
                  loss_weights={"label": 1.0, "value": 0.5}, metrics={"label": ["accuracy"]})
    a, b, y, v = _data()
    history = model.fit({"image": a, "extra": b}, {"label": y, "value": v}, epochs=2, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "label_loss", "value_loss", "label_accuracy"}
    p, q = model.predict([a, b])
    assert p.shape == (24, 3) and q.shape == (24, 1)
    result = model.evaluate([a, b], [y, v], batch_size=24, return_dict=True)
    ce, se = _cross_entropy(p, y).mean(), np.square(q - v).mean()
    np.testing.assert_allclose([result["label_loss"], result["value_loss"]], [ce, se], rtol=1e-5)
    np.testing.assert_allclose(result["loss"], ce + 0.5 * se, rtol=1e-5)
    np.testing.assert_allclose(result["label_accuracy"], np.mean(p.argmax(1) == y), rtol=1e-6)


def test_loss_lists_and_an_output_without_a_loss():
    model = _two_headed()
    model.compile("sgd", loss=[None, "mse"])
    a, b, _, v = _data()
    history = model.fit([a, b], [np.zeros(24, np.int64), v], epochs=3, batch_size=24, verbose=0)
    assert set(history.history) == {"loss", "value_loss"}
    np.testing.assert_allclose(history.history["loss"], history.history["value_loss"])
    with pytest.raises(gc.BuildError, match="outputs"):
        _two_headed().compile("sgd", loss={"nope": "mse"})
    with pytest.raises(gc.BuildError, match="2 outputs"):
        _two_headed().compile("sgd", loss=["mse"])


def _classifier():
    return gc.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])


def _torch_step(model, x, y, w, lr):
    """One SGD step of the same dense softmax layer in PyTorch with Keras's weighted mean."""
    kernel, bias = (torch.tensor(a, requires_grad=True) for a in model.get_weights())
    logits = torch.tensor(x) @ kernel + bias
    per_example = torch.nn.functional.cross_entropy(logits, torch.tensor(y), reduction="none")
    loss = (per_example * torch.tensor(w, dtype=torch.float32)).mean()
    loss.backward()
    with torch.no_grad():
        return float(loss), [(kernel - lr * kernel.grad).numpy(), (bias - lr * bias.grad).numpy()]


def test_sample_weight_weighs_the_loss_and_its_gradient_as_pytorch_does():
    x, y = RNG.normal(size=(16, 4)).astype(np.float32), RNG.integers(0, 3, 16)
    w = RNG.uniform(0, 2, 16)
    model = _classifier()
    model.compile(gc.train.SGD(0.5), "sparse_categorical_crossentropy")
    expected_loss, expected = _torch_step(model, x, y, w, 0.5)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=16, sample_weight=w), expected_loss, rtol=1e-5)
    history = model.fit(x, y, batch_size=16, sample_weight=w, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected_loss, rtol=1e-5)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_class_weight_is_a_sample_weight_per_class_and_multiplies_sample_weight():
    x, y = RNG.normal(size=(16, 4)).astype(np.float32), RNG.integers(0, 3, 16)
    class_weight = {0: 0.2, 1: 3.0}          # class 2 unlisted: weight 1
    model = _classifier()
    model.compile(gc.train.SGD(0.5), "sparse_categorical_crossentropy")
    w = np.array([class_weight.get(c, 1.0) for c in y]) * 0.5
    expected_loss, expected = _torch_step(model, x, y, w, 0.5)
    history = model.fit(x, y, batch_size=16, class_weight=class_weight, sample_weight=np.full(16, 0.5),
                        shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected_loss, rtol=1e-5)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    one_hot = np.eye(3)[y]
    np.testing.assert_allclose(gc.training.class_weights_to_sample_weights(one_hot, class_weight), w / 0.5)
    with pytest.raises(gc.DataError, match="one weight per example"):
        model.fit(x, y, sample_weight=np.ones((16, 2)), verbose=0)


class Recorder(callbacks.Callback):
    """Writes down every hook call and the weights after each epoch."""

    def __init__(self):
        super().__init__()
        self.calls, self.weights = [], []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            self.calls.append(name)
        return super().__getattribute__(name)

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _regression(n=32):
    x = RNG.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype(np.float32)
    model = gc.Sequential([layers.Dense(1, input_shape=(3,))])
    return model, x, y


def test_hooks_are_called_in_keras_order():
    model, x, y = _regression(8)
    model.compile("sgd", "mse")
    recorder = Recorder()
    model.fit(x, y, epochs=2, batch_size=4, validation_data=(x, y[:, 0:1]), callbacks=[recorder], verbose=0)
    # the default on_train_batch_* hooks call Keras's older on_batch_* names, as Keras's base Callback does
    epoch = ["on_epoch_begin"] + ["on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end"] * 2 + \
        ["on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_batch_begin", "on_test_batch_end",
         "on_test_end"]
    epoch += ["on_epoch_end"]
    assert recorder.calls == ["on_train_begin"] + epoch * 2 + ["on_train_end"]
    recorder.calls = []
    model.evaluate(x, y, batch_size=8, callbacks=[recorder])
    model.predict(x, batch_size=8, callbacks=[recorder])
    assert recorder.calls == ["on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                              "on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]
    with pytest.raises(gc.BuildError, match="Callback"):
        model.fit(x, y, callbacks=[print], verbose=0)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model, x, y = _regression()
    model.compile(gc.train.SGD(0.05), "mse")
    recorder = Recorder()
    # validation targets the model cannot fit: val_loss turns up after a few epochs
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=50, batch_size=8, validation_data=(x, -y), callbacks=[recorder, stop],
                        verbose=0)
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert len(val) == best + 3 < 50                     # two epochs without improvement, then stop
    assert stop.stopped_epoch == best + 2 and stop.best_epoch == best
    for got, want in zip(model.get_weights(), recorder.weights[best]):
        np.testing.assert_array_equal(got, want)


def test_model_checkpoint_saves_only_improvements_atomically(tmp_path):
    model, x, y = _regression()
    model.compile(gc.train.SGD(0.05), "mse")
    recorder = Recorder()
    path = tmp_path / "best.npz"
    saved = []

    class Watch(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved.append(path.stat().st_ino if path.exists() else None)
    check = callbacks.ModelCheckpoint(str(path), monitor="val_loss", save_best_only=True)
    history = model.fit(x, y, epochs=8, batch_size=8, validation_data=(x, -y), callbacks=[recorder, check, Watch()],
                        verbose=0)
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    loaded = gc.load_model(str(path))
    for got, want in zip(loaded.get_weights(), recorder.weights[best]):
        np.testing.assert_array_equal(got, want)
    improved = [i for i in range(8) if i == 0 or val[i] < min(val[:i])]
    changes = [i for i in range(8) if saved[i] != (saved[i - 1] if i else None)]
    assert changes == improved
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]      # no temporary files left
    every = callbacks.ModelCheckpoint(str(tmp_path / "epoch-{epoch:02d}-{loss:.2f}.npz"), monitor="loss")
    model.fit(x, y, epochs=2, batch_size=8, callbacks=[every], verbose=0)
    assert len(list(tmp_path.glob("epoch-0[12]-*.npz"))) == 2


def test_learning_rate_scheduler_and_reduce_on_plateau_change_the_step():
    model, x, y = _regression()
    model.compile(gc.train.SGD(0.1), "mse")
    before = model.get_weights()
    frozen = callbacks.LearningRateScheduler(lambda epoch: 0.0)
    history = model.fit(x, y, epochs=2, batch_size=8, callbacks=[frozen], verbose=0)
    assert history.history["learning_rate"] == [0.0, 0.0]
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    halving = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    history = model.fit(x, y, epochs=3, batch_size=8, callbacks=[halving], verbose=0)
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.025], rtol=1e-6)

    model, x, y = _regression()
    model.compile(gc.train.SGD(0.01), "mse")
    # min_delta so large that nothing after the first epoch counts as an improvement
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=1e9, cooldown=1,
                                          min_lr=0.002)
    history = model.fit(x, y, epochs=9, batch_size=8, callbacks=[plateau], verbose=0)
    # Keras's rule: the log holds the rate before the epoch's decision; wait 1, 2 → halve and cool down one
    # epoch (which resets the wait, then counts it), so every second epoch halves, until min_lr
    np.testing.assert_allclose(history.history["learning_rate"],
                               [0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.002, 0.002], rtol=1e-6)
    assert callbacks.get_learning_rate(model) == pytest.approx(0.002)


def test_csv_logger_writes_one_row_per_epoch_and_appends(tmp_path):
    model, x, y = _regression()
    model.compile("sgd", "mse")
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, batch_size=8, validation_data=(x, y),
                        callbacks=[callbacks.CSVLogger(str(path))], verbose=0)
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows], history.history["val_loss"])
    model.fit(x, y, epochs=1, batch_size=8, validation_data=(x, y),
              callbacks=[callbacks.CSVLogger(str(path), append=True)], verbose=0)
    assert [r["epoch"] for r in csv.DictReader(path.open())] == ["0", "1", "2", "0"]
    with pytest.raises(gc.FileWriteError, match="it is a directory"):   # atomic writes never replace a folder
        model.fit(x, y, epochs=1, batch_size=8, callbacks=[callbacks.CSVLogger(str(tmp_path))], verbose=0)


def test_terminate_on_nan_stops_after_the_first_bad_batch():
    """NaN in the data is refused before training (graphcore.validation); a diverging step is what makes a
    loss NaN or infinite while training: here a learning rate far too large, in float32."""
    model, x, y = _regression()
    model.compile(gc.train.SGD(1e30), "mse")
    x = x * np.float32(1e10)
    recorder = Recorder()
    history = model.fit(x, y, epochs=5, batch_size=8, shuffle=False, callbacks=[callbacks.TerminateOnNaN(), recorder],
                        verbose=0)
    # the first batch's loss is computed before the update (finite), the second's after it (not)
    assert len(history.epoch) == 1 and recorder.calls.count("on_train_batch_end") == 2
    assert not np.isfinite(history.history["loss"][0])


def test_onnxruntime_backend_refuses_what_it_cannot_run():
    model = _two_headed()
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"])
    a, b, y, v = _data()
    with pytest.raises(gc.BuildError, match="backend='numpy'"):
        model.fit([a, b], [y, v], backend="onnxruntime", verbose=0)


def test_learning_rate_callbacks_act_on_the_onnxruntime_backend_as_on_the_interpreter(tmp_path):
    """The file holds the learning rate as an overridable parameter, so a schedule reaches every step."""
    histories, data = {}, None
    for backend in ("numpy", "onnxruntime"):
        model, x, y = _regression()
        x, y = data = data or (x, y)   # the same examples for both
        model.graph.seed = 0
        model.compile(gc.train.SGD(0.01), "mse")
        schedule = callbacks.LearningRateScheduler(lambda epoch: 0.05 / (epoch + 1))
        histories[backend] = model.fit(x, y, epochs=3, batch_size=8, backend=backend, verbose=0, shuffle=False,
                                       callbacks=[schedule, callbacks.CSVLogger(str(tmp_path / f"{backend}.csv"))])
    np.testing.assert_allclose(histories["onnxruntime"].history["loss"], histories["numpy"].history["loss"],
                               rtol=1e-4)
    assert histories["numpy"].history["loss"][0] != pytest.approx(histories["numpy"].history["loss"][2])


def test_the_compiled_state_is_a_public_dataclass_that_fit_and_evaluate_use():
    # model.compilation (training.CompiledModel) names what compile added; its loss fetched with
    # trainer.feed_dict is evaluate's number, and its train_op is the step fit runs
    from graphcore.trainer import feed_dict
    from graphcore.training import CompiledModel
    image, extra, label, value = _data()
    model = _two_headed()
    assert model.compilation is None
    model.compile(optimizer=gc.optimizers.SGD(0.1), loss=["sparse_categorical_crossentropy", "mse"],
                  metrics={"label": ["accuracy"]})
    compiled = model.compilation
    assert isinstance(compiled, CompiledModel) and compiled.optimizer is model.optimizer
    assert [t.dtype.name for t in compiled.targets] == ["int64", "float32"]
    assert list(compiled.metrics) == ["label_loss", "label_accuracy", "value_loss"]   # output by output
    assert set(compiled.trainable) == set(model.trainable_weights)
    x, y = [image, extra], [label, value]
    loss = model.session.run(compiled.loss, feed_dict(model, x, y))
    np.testing.assert_allclose(loss, model.evaluate(x, y, batch_size=len(image), verbose=0)[0], rtol=1e-6)
    before = model.get_weights()
    model.session.run(compiled.train_op, feed_dict(model, x, y, training=True))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    assert float(model.session.run(compiled.learning_rate)) == pytest.approx(0.1)


def test_a_model_compiled_before_it_is_built_gets_its_compiled_state_when_built():
    model = gc.Sequential([layers.Dense(2)])
    model.compile(loss="mse")
    assert model.compiled and model.compilation is None
    with pytest.raises(gc.BuildError, match="not built yet"):
        model.metrics_names
    model.build((None, 4))
    assert model.compilation.loss is not None and model.compilation.target.shape == (None, 2)
    predict_only = gc.Sequential([layers.Dense(2, input_shape=(4,))])
    predict_only.compile(loss=None)
    assert predict_only.compilation.loss is None
    with pytest.raises(gc.BuildError, match="compiled without a loss"):
        predict_only.fit(np.ones((3, 4), np.float32), np.ones((3, 2), np.float32), verbose=0)
