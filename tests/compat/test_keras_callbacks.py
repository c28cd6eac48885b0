"""Keras idioms: callbacks and every hook, batch-level included (keras.io/guides/writing_your_own_callbacks,
keras.io/api/callbacks)."""
import numpy as np
import pytest

import graphcore as gc
from graphcore import callbacks, layers

RNG = np.random.default_rng(5)
X = RNG.normal(size=(12, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-1.0], [0.5]], np.float32)).astype(np.float32)


def _model():
    model = gc.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=gc.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


class Hooks(callbacks.Callback):
    """Records (hook, index, sorted log keys) for every hook the guide lists."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def _record(name):
        def hook(self, *args, **kwargs):
            values = [*args, *kwargs.values()]
            index = values[0] if len(values) == 2 else None
            logs = values[-1] if values else None
            self.seen.append((name, index, tuple(sorted(logs or {}))))
        return hook

    for _name in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end",
                  "on_predict_begin", "on_predict_end", "on_batch_begin", "on_batch_end", "on_test_batch_begin",
                  "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
        locals()[_name] = _record(_name)


def test_on_batch_end_is_called_for_every_training_batch():
    # keras.io/guides/writing_your_own_callbacks, "Batch-level methods for training": on_(train_)batch_end(batch,
    # logs) — Keras 2 guides override on_batch_end; it is called with the running means of the epoch
    losses = []

    class LossHistory(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])
    model = _model()
    model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[LossHistory()])
    assert len(losses) == 6
    assert losses[2] == pytest.approx(model.history.history["loss"][0])   # the epoch's mean after its last batch


def test_every_hook_in_keras_order_with_its_logs():
    # keras.io/guides/writing_your_own_callbacks, "An overview of callback methods": global, epoch-level and
    # batch-level methods for training, testing and predicting
    hooks = Hooks()
    model = _model()
    model.fit(X, Y, batch_size=6, epochs=1, verbose=0, validation_data=(X, Y), callbacks=[hooks])
    metrics = ("loss", "mae")
    assert hooks.seen == [
        ("on_train_begin", None, ()), ("on_epoch_begin", 0, ()),
        ("on_batch_begin", 0, ()), ("on_batch_end", 0, metrics),
        ("on_batch_begin", 1, ()), ("on_batch_end", 1, metrics),
        ("on_test_begin", None, ()), ("on_test_batch_begin", 0, ()), ("on_test_batch_end", 0, metrics),
        ("on_test_batch_begin", 1, ()), ("on_test_batch_end", 1, metrics), ("on_test_end", None, metrics),
        ("on_epoch_end", 0, ("loss", "mae", "val_loss", "val_mae")),
        ("on_train_end", None, ("loss", "mae", "val_loss", "val_mae"))]
    hooks.seen = []
    model.predict(X, batch_size=12, verbose=0, callbacks=[hooks])
    assert [h[0] for h in hooks.seen] == ["on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end",
                                          "on_predict_end"]


def test_self_model_inside_a_callback():
    # keras.io/guides/writing_your_own_callbacks, "Usage of self.model attribute": callbacks read the model
    seen = []

    class Weights(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.get_weights()[0].copy())
    model = _model()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[Weights()])
    np.testing.assert_array_equal(seen[-1], model.get_weights()[0])


def test_lambda_callback_keras2_and_keras3_hook_names():
    # keras.io/api/callbacks/lambda_callback: LambdaCallback(on_epoch_end=..., on_batch_begin=..., on_train_end=...)
    calls = []
    log = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: calls.append(("epoch", epoch)),
                                   on_batch_end=lambda batch, logs: calls.append(("batch", batch)),
                                   on_train_batch_begin=lambda batch, logs: calls.append(("begin", batch)),
                                   on_train_end=lambda logs: calls.append(("end", None)))
    _model().fit(X, Y, batch_size=6, epochs=1, verbose=0, callbacks=[log])
    assert calls == [("epoch", 0), ("begin", 0), ("batch", 0), ("begin", 1), ("batch", 1), ("end", None)]
    with pytest.raises(gc.CompatError, match="not a callback hook"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def test_early_stopping_with_patience():
    # keras.io/api/callbacks/early_stopping: EarlyStopping(monitor="loss", patience=3) stops after 3 epochs
    # without improvement (here the learning rate is 0, so the loss never improves after the first epoch)
    model = gc.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=gc.optimizers.SGD(0.0), loss="mse")
    history = model.fit(X, Y, epochs=10, batch_size=12, shuffle=False, verbose=0,
                        callbacks=[callbacks.EarlyStopping(monitor="loss", patience=3)])
    assert len(history.history["loss"]) == 4


def test_model_checkpoint_save_weights_only(tmp_path):
    # tensorflow.org/tutorials/keras/save_and_load, "Save checkpoints during training":
    # ModelCheckpoint(filepath=checkpoint_path, save_weights_only=True); then model.load_weights(checkpoint_path)
    path = tmp_path / "cp-{epoch:04d}.weights.npz"
    model = _model()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(str(path), save_weights_only=True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp-0001.weights.npz", "cp-0002.weights.npz"]
    fresh = _model()
    fresh.load_weights(str(tmp_path / "cp-0002.weights.npz"))
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(gc.FileFormatError, match="not a graphcore model file"):
        gc.load_model(str(tmp_path / "cp-0001.weights.npz"))     # weights only: no architecture


def test_model_checkpoint_save_freq_in_batches(tmp_path):
    # keras.io/api/callbacks/model_checkpoint: save_freq=N saves every N batches
    path = tmp_path / "b-{epoch}-{batch}.npz"
    _model().fit(X, Y, batch_size=3, epochs=1, verbose=0,
                 callbacks=[callbacks.ModelCheckpoint(str(path), save_weights_only=True, save_freq=2)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b-1-2.npz", "b-1-4.npz"]


def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    # keras.io/api/callbacks/learning_rate_scheduler: def scheduler(epoch, lr): return lr * exp(-0.1) after 2 epochs
    def scheduler(epoch, lr):
        return lr if epoch < 2 else lr * float(np.exp(-0.1))
    model = gc.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=gc.optimizers.SGD(0.01), loss="mse")
    history = model.fit(X, Y, epochs=4, verbose=0, callbacks=[callbacks.LearningRateScheduler(scheduler)])
    np.testing.assert_allclose(history.history["learning_rate"], [0.01, 0.01, 0.01 * np.exp(-0.1),
                                                                 0.01 * np.exp(-0.2)], rtol=1e-5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the overflow is the point
def test_terminate_on_nan_stops_quietly_as_in_keras(capsys):
    # keras.io/api/callbacks/terminate_on_nan: "Callback that terminates training when a NaN loss is encountered"
    model = gc.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=gc.optimizers.SGD(1e30), loss="mse")
    history = model.fit(X * 1e10, Y, batch_size=6, epochs=3, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.epoch) == 1 and not np.isfinite(history.history["loss"][0])
    assert "invalid loss, terminating training" in capsys.readouterr().out


def test_csv_logger_and_history_agree(tmp_path):
    # keras.io/api/callbacks/csv_logger: CSVLogger("training.log")
    import csv
    path = tmp_path / "training.log"
    history = _model().fit(X, Y, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(str(path))])
    rows = list(csv.DictReader(path.open()))
    np.testing.assert_allclose([float(r["loss"]) for r in rows], history.history["loss"], rtol=1e-7)
