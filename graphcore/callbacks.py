"""Keras's training callbacks: objects ``fit`` calls at fixed points, with Keras's hook names and semantics.

``fit(callbacks=[...])`` calls ``on_train_begin``, then per epoch ``on_epoch_begin``, per batch
``on_train_batch_begin``/``on_train_batch_end`` (logs: the epoch's running means), and ``on_epoch_end``
(logs: the epoch's loss and metrics and ``val_*`` ones; the learning-rate callbacks add ``learning_rate``,
as Keras's do), then ``on_train_end``. ``evaluate`` and ``predict`` call the ``on_test_*`` and ``on_predict_*``
hooks. A callback stops training by setting ``self.model.stop_training = True``; it is honoured after the
current batch.
"""
import csv
import io
import math
import os

import numpy as np

from .errors import BuildError
from .io import atomic_write


class Callback:
    """Base class: every hook does nothing. ``self.model`` and ``self.params`` are set before training."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls one hook on every callback in order: ``callbacks.on_epoch_end(epoch, logs)``."""

    def __init__(self, callbacks, model, params=None):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise BuildError(f"callbacks must be gc.callbacks.Callback instances, got {cb!r}")
            cb.set_model(model)
            cb.set_params(params or {})

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
        return call


def _monitor_op(monitor, mode):
    """``np.less`` or ``np.greater`` as Keras picks it: "auto" maximises accuracies, minimises the rest."""
    if mode not in ("auto", "min", "max"):
        raise BuildError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.startswith("fmeasure"))):
        return np.greater
    return np.less


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs. With
    ``restore_best_weights`` the weights of the best epoch are put back when training ends (Keras 3)."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op = _monitor_op(monitor, mode)
        self.min_delta = abs(min_delta) if self.monitor_op is np.greater else -abs(min_delta)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = -np.inf if self.monitor_op is np.greater else np.inf
        self.best_weights = None

    def _is_improvement(self, value, reference):
        return reference is None or bool(self.monitor_op(value - self.min_delta, reference))

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (``Model.save``: architecture and weights, written atomically) after each epoch, to
    ``filepath`` formatted with ``epoch`` (from 1) and the logs (``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``);
    with ``save_best_only`` only when ``monitor`` improves."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, mode="auto"):
        from .model import require_model_file_name
        super().__init__()
        require_model_file_name(filepath)       # at construction, as Keras checks, not after the first epoch
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only = save_best_only
        self.monitor_op = _monitor_op(monitor, mode)
        self.best = -np.inf if self.monitor_op is np.greater else np.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                raise BuildError(f"ModelCheckpoint monitors {self.monitor!r}, but the logs hold {sorted(logs)}")
            if not self.monitor_op(current, self.best):
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        self.model.save(path)


def get_learning_rate(model):
    return float(model.session.run(_learning_rate_variable(model)))


def set_learning_rate(model, value):
    var = _learning_rate_variable(model)
    model.session.variables[var.node.name] = np.asarray(value, dtype=var.dtype)


def _learning_rate_variable(model):
    var = (getattr(model, "_compiled", None) or {}).get("learning_rate")
    if var is None:
        raise BuildError("this callback adjusts the learning rate: compile the model with a numeric learning "
                         "rate (an optimizer name or e.g. gc.train.Adam(0.01)), not a tensor")
    return var


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or ``schedule(epoch)``)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = get_learning_rate(self.model)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:
            new = self.schedule(epoch)
        if not isinstance(new, (float, int, np.floating, np.integer)):
            raise BuildError(f"the schedule returned {new!r}; it must return a number")
        set_learning_rate(self.model, new)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(self.model)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by ``min_delta`` for
    ``patience`` epochs; wait ``cooldown`` epochs before counting again; never go below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise BuildError(f"ReduceLROnPlateau does not support a factor >= 1.0, got {factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        op = _monitor_op(monitor, mode)
        self.monitor_op = (lambda a, b: np.greater(a, b + min_delta)) if op is np.greater else \
            (lambda a, b: np.less(a, b - min_delta))
        self._start = -np.inf if op is np.greater else np.inf

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = self._start, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(self.model)
        current = (logs or {}).get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = get_learning_rate(self.model)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    set_learning_rate(self.model, new)
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Write one CSV row per epoch (``epoch`` then the log keys, sorted). The whole file is rewritten
    atomically each epoch, so a crash never leaves half a row; ``append`` keeps the rows already there."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs=None):
        self.keys, self.rows = None, []
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                existing = list(csv.reader(f, delimiter=self.separator))
            if existing:
                self.keys, self.rows = existing[0][1:], existing[1:]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        self.rows.append([str(epoch)] + [_csv_value(logs.get(k, "NA")) for k in self.keys])
        text = io.StringIO()
        writer = csv.writer(text, delimiter=self.separator, lineterminator="\n")
        writer.writerow(["epoch", *self.keys])
        writer.writerows(self.rows)
        with atomic_write(self.filename, "w") as f:
            f.write(text.getvalue())


def _csv_value(value):
    return value if isinstance(value, str) else repr(float(value))


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


__all__ = ["Callback", "CallbackList", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
           "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN"]
