"""Keras's training callbacks: objects ``fit`` calls at fixed points, with Keras's hook names and semantics.

``fit(callbacks=[...])`` calls ``on_train_begin``, then per epoch ``on_epoch_begin``, per batch
``on_train_batch_begin``/``on_train_batch_end`` (logs: the epoch's running means; the base class passes them
on to Keras's older names ``on_batch_begin``/``on_batch_end``), and ``on_epoch_end`` (logs: the epoch's loss
and metrics and ``val_*`` ones; the learning-rate callbacks add ``learning_rate``, as Keras's do), then
``on_train_end`` (logs: the last epoch's). ``evaluate`` and ``predict`` call the ``on_test_*`` and
``on_predict_*`` hooks (validation inside ``fit`` calls ``on_test_*`` on fit's callbacks). A callback stops
training by setting ``self.model.stop_training = True``; it is honoured after the current batch.

As in Keras, ``fit`` appends a ``History`` (which becomes ``model.history`` as soon as ``fit`` starts, so an
interrupted fit leaves the epochs it completed there) and, unless ``verbose=0``, a ``ProgbarLogger``.
"""
import csv
import io
import math
import os
import sys
import time

import numpy as np

from . import compat
from .errors import BuildError, CompatError
from .io import atomic_write
from .lookup import missing_names
from .progress import progress_bar
from .saving import require_model_file_name


@compat.same_as("Keras", "keras.callbacks.Callback", note="every hook, on_batch_begin/on_batch_end included")
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
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)   # Keras's older name, called by the default hook (as in Keras)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls one hook on every callback in order: ``callbacks.on_epoch_end(epoch, logs)``. Like Keras's, it
    can append a ``History`` (``add_history``) and a ``ProgbarLogger`` (``add_progbar``) unless the list has
    one, and makes the History ``model.history`` at once."""

    def __init__(self, callbacks, model, params=None, add_history=False, add_progbar=False):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise BuildError(f"callbacks must be gc.callbacks.Callback instances, got {cb!r}")
        if add_history and not any(isinstance(cb, History) for cb in self.callbacks):
            self.callbacks.append(History())
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        self.params = params or {}
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(self.params)
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self.history is not None:
            model.history = self.history

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
        return call


@compat.same_as("Keras", "keras.callbacks.History")
class History(Callback):
    """Per-epoch logs, as Keras's ``fit`` returns them: ``history.history["loss"]``, ``history.epoch`` (the
    epoch indices, from ``initial_epoch``), ``history.params``, ``history.model``."""

    def __init__(self):
        super().__init__()
        self.history, self.epoch = {}, []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.model.history = self

    def __repr__(self):
        return f"<History {', '.join(self.history)} over {len(self.epoch)} epochs>"


@compat.same_as("Keras", "keras.callbacks.ProgbarLogger", note="verbose=1: a tqdm bar per epoch; verbose=2: one "
                "line per epoch, as Keras prints it")
class ProgbarLogger(Callback):
    """Progress output of ``fit``/``evaluate``/``predict`` for ``verbose`` 1 (a bar per epoch, on stderr, with
    the running logs, then the epoch's logs on one line) or 2 (Keras's one line per epoch on stdout:
    ``"Epoch 2/5"`` then ``"4/4 - 0s - 3ms/step - loss: 0.1234 - val_loss: 0.2345"``)."""

    def __init__(self):
        super().__init__()
        self.verbose, self.epochs, self.target = 1, 1, None
        self._bar, self._start, self._in_fit = None, None, False

    def set_params(self, params):
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs, self.target = params.get("epochs", 1), params.get("steps")

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._begin(f"Epoch {epoch + 1}/{self.epochs}")
        if self.verbose == 2 and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._begin("evaluate")

    def on_predict_begin(self, logs=None):
        self._begin("predict")

    def _begin(self, description):
        self._start, self._seen = time.perf_counter(), 0
        if self.verbose == 1:
            self._bar = progress_bar(total=self.target, desc=description, unit="batch", leave=True, file=sys.stderr)

    def _update(self, batch, logs):
        self._seen = batch + 1
        if self._bar is not None:
            self._bar.update(self._seen - self._bar.n)
            if logs:
                self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_end(self, logs=None):
        self._finish(None)

    def _finish(self, logs):
        text = " - ".join(f"{k}: {_progbar_value(v)}" for k, v in (logs or {}).items())
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            if text:
                print(text, file=sys.stderr, flush=True)
        elif self.verbose == 2:
            elapsed = time.perf_counter() - self._start
            steps = self._seen or 1
            print(f"{self._seen}/{self.target or self._seen} - {elapsed:.0f}s - {_per_step(elapsed / steps)}"
                  + (f" - {text}" if text else ""), flush=True)


def _progbar_value(value):
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _per_step(seconds):
    return f"{seconds:.0f}s/step" if seconds >= 1 else (f"{seconds * 1e3:.0f}ms/step" if seconds >= 1e-3
                                                         else f"{seconds * 1e6:.0f}us/step")


@compat.same_as("Keras", "keras.callbacks.LambdaCallback")
class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``; any hook name
    (Keras 3's ``on_train_batch_end`` or Keras 2's ``on_batch_end``, ``on_test_*``, ``on_predict_*``)."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if not (name.startswith("on_") and callable(getattr(Callback, name, None))):
                raise CompatError(f"LambdaCallback: {name!r} is not a callback hook; hooks are "
                                  f"{sorted(n for n in vars(Callback) if n.startswith('on_'))}")
            if fn is not None:
                setattr(self, name, fn)


def _monitor_op(monitor, mode):
    """``np.less`` or ``np.greater`` as Keras picks it: "auto" maximises accuracies, minimises the rest."""
    if mode not in ("auto", "min", "max"):
        raise BuildError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.startswith("fmeasure"))):
        return np.greater
    return np.less


@compat.same_as("Keras", "keras.callbacks.EarlyStopping")
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


@compat.same_as("Keras", "keras.callbacks.ModelCheckpoint", note="files in graphcore's .npz format")
class ModelCheckpoint(Callback):
    """Save the model (``Model.save``: architecture, weights, compile settings and optimizer state) or, with
    ``save_weights_only``, its weights (``Model.save_weights``) after each epoch (``save_freq="epoch"``) or
    every ``save_freq`` batches, to ``filepath`` formatted with ``epoch`` (from 1), ``batch`` (from 1) and the
    logs (``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``); with ``save_best_only`` only when ``monitor`` improves
    on the best so far (or on ``initial_value_threshold``). Files are written atomically."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        require_model_file_name(filepath)       # at construction, as Keras checks, not after the first epoch
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise BuildError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive number of batches, "
                             f"got {save_freq!r}")
        self.save_freq = save_freq
        self.monitor_op = _monitor_op(monitor, mode)
        self.best = initial_value_threshold if initial_value_threshold is not None else \
            (-np.inf if self.monitor_op is np.greater else np.inf)
        self._epoch, self._batches = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch, batch, logs):
        path = self.filepath.format(epoch=epoch + 1, batch=None if batch is None else batch + 1, **logs)
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
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


def get_learning_rate(model):
    return float(model.session.run(_learning_rate_variable(model)))


def set_learning_rate(model, value):
    var = _learning_rate_variable(model)
    model.session.variables[var.node.name] = np.asarray(value, dtype=var.dtype)


def _learning_rate_variable(model):
    var = model.compilation.learning_rate if getattr(model, "compilation", None) else None
    if var is None:
        raise BuildError("this callback adjusts the learning rate: compile the model with a numeric learning "
                         "rate (an optimizer name or e.g. gc.train.Adam(0.01)), not a tensor")
    return var


@compat.same_as("Keras", "keras.callbacks.LearningRateScheduler")
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


@compat.same_as("Keras", "keras.callbacks.ReduceLROnPlateau")
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


@compat.same_as("Keras", "keras.callbacks.CSVLogger")
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


@compat.same_as("Keras", "keras.callbacks.TerminateOnNaN", note="given, it replaces fit's default error: "
                "training stops quietly after the batch, as in Keras")
class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite (Keras's callback: it prints a line and
    stops; without it, ``fit`` raises a ``DivergenceError`` naming the step, see ``Model.fit``)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


def _refused(name, note):
    """A Keras callback graphcore leaves out: constructing it raises a ``CompatError`` saying what to use."""
    words = compat.difference("Keras", f"keras.callbacks.{name}", "gc.callbacks", note)

    def refuse(*args, **kwargs):
        raise CompatError(f"keras.callbacks.{name}: {words}")
    refuse.__name__ = refuse.__qualname__ = name
    refuse.__doc__ = f"Not supported: {words}"
    return refuse


TensorBoard = _refused("TensorBoard", "there is no TensorBoard writer: log with CSVLogger or read "
                       "model.history, and draw graphs with gc.render(model)")
BackupAndRestore = _refused("BackupAndRestore", "no automatic backup: use ModelCheckpoint and "
                            "fit(initial_epoch=) to resume from gc.load_model")
RemoteMonitor = _refused("RemoteMonitor", "no HTTP logging: use a LambdaCallback")
SwapEMAWeights = _refused("SwapEMAWeights", "optimizers keep no moving average of the weights (use_ema)")

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "LambdaCallback", "EarlyStopping",
           "ModelCheckpoint", "LearningRateScheduler", "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN",
           "TensorBoard", "BackupAndRestore", "RemoteMonitor", "SwapEMAWeights"]

__getattr__ = missing_names(sys.modules[__name__], {})
