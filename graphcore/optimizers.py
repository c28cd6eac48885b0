"""Keras's optimizers (``keras.optimizers``): Keras's names, arguments, defaults and update equations.

They are graphcore optimizers (``gc.train.Optimizer``: one fused update op per variable, TF1 style) with
Keras's spelling — ``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)``, ``RMSprop(learning_rate=0.001,
rho=0.9)``, ``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`` — and Keras's arithmetic,
which is not PyTorch's: SGD's velocity holds the step (v ← μv − lr·g), RMSprop divides by √(v + ε), Adam
adds ε after the bias correction (ε̂). ``clipnorm`` clips each gradient by its own norm, ``global_clipnorm``
all of them together, ``clipvalue`` elementwise. ``learning_rate`` may be a number (``compile`` makes it a
variable that callbacks change) or a schedule from ``gc.optimizers.schedules``.
"""
import sys

import numpy as np

from . import compat
from .errors import BuildError, CompatError
from .lookup import missing_names
from .losses import _evaluate
from .op import apply_op
from .ops.math import cast, exp, floor, less_equal, maximum, minimum, sqrt, where
from .ops.reduce import reduce_sum
from .train import optimizers as _tf1
from .train.clipping import clip_by_global_norm

UNSUPPORTED = {
    "weight_decay": "decoupled weight decay is not supported: add an L2 kernel_regularizer to the layers instead",
    "use_ema": "optimizers keep no moving average of the weights",
    "ema_momentum": "optimizers keep no moving average of the weights",
    "ema_overwrite_frequency": "optimizers keep no moving average of the weights",
    "loss_scale_factor": "there is no loss scaling (graphcore computes in float32)",
    "gradient_accumulation_steps": "gradients are not accumulated over steps: use a larger batch_size",
    "decay": "Keras 2's decay argument is gone from Keras's optimizers: give a schedule, e.g. "
             "learning_rate=gc.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)",
    "amsgrad": "AMSGrad is not supported: use Adam",
    "centered": "centered RMSprop is not supported",
}
for _argument, _note in UNSUPPORTED.items():
    UNSUPPORTED[_argument] = compat.difference("Keras", f"keras.optimizers.*({_argument}=)", "gc.optimizers.Adam",
                                               _note)


class KerasOptimizer(_tf1.Optimizer):
    """Keras's optimizer arguments over graphcore's optimizer: clipping as Keras clips, ``lr`` accepted as
    Keras 2's spelling of ``learning_rate``, the arguments graphcore leaves out refused by name."""

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, lr=None,
                 **unsupported):
        for key, value in unsupported.items():
            if key not in UNSUPPORTED:
                raise CompatError(f"{type(self).__name__} got an unknown argument {key!r}")
            if value not in (None, False, 0, 0.0) or key == "decay" and value is not None:
                raise CompatError(f"{type(self).__name__}({key}={value!r}): {UNSUPPORTED[key]}")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise BuildError("give at most one of clipnorm, clipvalue and global_clipnorm (as Keras requires)")
        super().__init__(lr if lr is not None else learning_rate, name=name)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        grads = [g for g, _ in pairs]
        if self.global_clipnorm is not None:
            grads, _ = clip_by_global_norm(grads, self.global_clipnorm)
        elif self.clipnorm is not None:
            grads = [_clip_by_norm(g, self.clipnorm) for g in grads]
        elif self.clipvalue is not None:
            grads = [minimum(maximum(g, -float(self.clipvalue)), float(self.clipvalue)) for g in grads]
        return super().apply_gradients([(g, v) for g, (_, v) in zip(grads, pairs)], global_step=global_step,
                                       name=name)

    def _learning_rate_for(self, var, graph):
        if isinstance(self.learning_rate, LearningRateSchedule) and var.dtype not in self._learning_rates:
            self._learning_rates[var.dtype] = cast(self.learning_rate(cast(self.iterations, np.float32)), var.dtype)
        return super()._learning_rate_for(var, graph)

    def get_config(self):
        lr = self.learning_rate
        config = {"name": self.name, "learning_rate": lr.get_config() | {"class_name": type(lr).__name__}
                  if isinstance(lr, LearningRateSchedule) else _number(lr)}
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            lr = dict(lr)
            config["learning_rate"] = getattr(schedules, lr.pop("class_name"))(**lr)
        return cls(**config)


def _number(value):
    """A learning rate for a config: the number (compile turns it into a variable, whose initial value is it)."""
    if hasattr(value, "node"):
        return float(value.initial_value) if value.initial_value is not None else None
    return float(value)


def _clip_by_norm(g, clip_norm):
    """Keras's per-tensor clip: g · c / max(‖g‖, c)."""
    norm = sqrt(reduce_sum(g * g))
    return g * (float(clip_norm) / maximum(norm, float(clip_norm)))


@compat.same_as("Keras", "keras.optimizers.SGD", "keras.optimizers.SGD(momentum=, nesterov=)",
                note="Keras's velocity form: v ← μv − lr·g; w ← w + v (Nesterov: w + μv − lr·g)")
class SGD(KerasOptimizer):
    """Gradient descent, with Keras's momentum and Nesterov momentum."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 <= float(momentum) <= 1.0:
            raise BuildError(f"SGD: momentum must be in [0, 1], got {momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def _update(self, var, slots, grad, lr):
        if not self.momentum:
            return apply_op("ApplyGradientDescent", [var, grad, lr], name="SGD")
        return apply_op("ApplyMomentum", [var, slots[0], grad, lr], name="SGD", momentum=self.momentum,
                        nesterov=self.nesterov, keras=True)

    def _update_is_linear_in_rate(self):
        return not self.momentum and not isinstance(self.learning_rate, LearningRateSchedule) and \
            all(getattr(self, c) is None for c in ("clipnorm", "clipvalue", "global_clipnorm"))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


@compat.same_as("Keras", "keras.optimizers.RMSprop", note="ε inside the square root, as Keras and TF1 do")
class RMSprop(KerasOptimizer):
    """Divides each step by √(running mean of g² + ε); Keras's momentum (a velocity of those steps)."""

    slot_names = ("rms",)

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, centered=centered, **kwargs)
        if momentum:
            raise CompatError(f"RMSprop(momentum={momentum!r}): " + MOMENTUM_RMSPROP)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, var, slots, grad, lr):
        return apply_op("ApplyRMSProp", [var, slots[0], grad, lr], name="RMSprop", rho=self.rho,
                        epsilon=self.epsilon, epsilon_inside=True)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


MOMENTUM_RMSPROP = compat.difference("Keras", "keras.optimizers.RMSprop(momentum=)", "gc.optimizers.RMSprop",
                                     "RMSprop with momentum is not supported: use momentum=0.0 or Adam")


@compat.same_as("Keras", "keras.optimizers.Adam", note="Keras's ε̂ (ε added after the bias correction); "
                "beta_1/beta_2 as Keras spells them")
class Adam(KerasOptimizer):
    """Adaptive moments with Keras's bias correction."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, amsgrad=amsgrad, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, var, slots, grad, lr):
        return apply_op("ApplyAdam", [var, slots[0], slots[1], grad, lr, self.iterations], name="Adam",
                        beta1=self.beta_1, beta2=self.beta_2, epsilon=self.epsilon, epsilon_hat=True)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


# ----- learning-rate schedules: functions of the step counter, built into the graph ---------------------------
class LearningRateSchedule:
    """Keras's ``keras.optimizers.schedules.LearningRateSchedule``: ``schedule(step)`` is the rate at a step
    (a graph tensor of the optimizer's step counter, or a number)."""

    def __call__(self, step):
        if not hasattr(step, "node"):
            return _evaluate(self.__call__, np.float32(step))
        return self.rate(step)

    def get_config(self):
        return dict(self._config)


class _Decay(LearningRateSchedule):
    """Keras's decays of an initial rate over step / decay_steps (floored with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self._config = dict(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps,
                            decay_rate=decay_rate, staircase=staircase, name=name)
        self.initial, self.steps, self.decay, self.staircase = (float(initial_learning_rate), float(decay_steps),
                                                                 float(decay_rate), staircase)

    def _progress(self, step):
        progress = step / self.steps
        return floor(progress) if self.staircase else progress


@compat.same_as("Keras", "keras.optimizers.schedules.ExponentialDecay")
class ExponentialDecay(_Decay):
    """initial · rate^(step / decay_steps)."""

    def rate(self, step):
        return self.initial * exp(self._progress(step) * float(np.log(self.decay)))


@compat.same_as("Keras", "keras.optimizers.schedules.InverseTimeDecay")
class InverseTimeDecay(_Decay):
    """initial / (1 + rate · step / decay_steps)."""

    def rate(self, step):
        return self.initial / (1.0 + self.decay * self._progress(step))


@compat.same_as("Keras", "keras.optimizers.schedules.PiecewiseConstantDecay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """values[i] while step ≤ boundaries[i] (the last value after the last boundary)."""

    def __init__(self, boundaries, values, name=None):
        if len(values) != len(boundaries) + 1:
            raise BuildError(f"PiecewiseConstantDecay needs one more value than boundaries, got {len(values)} "
                             f"values for {len(boundaries)} boundaries")
        self._config = dict(boundaries=list(boundaries), values=list(values), name=name)
        self.boundaries, self.values = [float(b) for b in boundaries], [float(v) for v in values]

    def rate(self, step):
        rate = step * 0.0 + self.values[-1]
        for boundary, value in reversed(list(zip(self.boundaries, self.values))):
            rate = where(less_equal(step, boundary), step * 0.0 + value, rate)
        return rate


class _Schedules:
    """``gc.optimizers.schedules``: Keras's schedule classes."""
    LearningRateSchedule = LearningRateSchedule
    ExponentialDecay = ExponentialDecay
    InverseTimeDecay = InverseTimeDecay
    PiecewiseConstantDecay = PiecewiseConstantDecay


schedules = _Schedules()

_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}
REFUSED_NAMES = compat.difference(
    "Keras", "keras.optimizers.Adagrad / Adadelta / Adamax / Nadam / AdamW / Ftrl / Lion / Lamb",
    "gc.optimizers.SGD / RMSprop / Adam",
    "this optimizer is not supported: use 'sgd', 'rmsprop' or 'adam' (gc.train has TF1's Momentum too)")
_REFUSED = ("adagrad", "adadelta", "adamax", "nadam", "adamw", "ftrl", "lion", "lamb", "adafactor", "muon")


@compat.same_as("Keras", "keras.optimizers.get")
def get(identifier):
    """Keras's ``keras.optimizers.get``: an optimizer from a name ('sgd', 'rmsprop', 'adam', in any case,
    with Keras's defaults), a config dict ``{"class_name": ..., "config": ...}``, or an optimizer object (as
    it is; gc.train's TF1 optimizers work too)."""
    if isinstance(identifier, _tf1.Optimizer):
        return identifier
    if isinstance(identifier, dict):
        cls = _BY_NAME.get(str(identifier.get("class_name", "")).lower())
        if cls is None:
            raise BuildError(f"unknown optimizer config {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    name = str(identifier).lower()
    if name in _BY_NAME:
        return _BY_NAME[name]()
    if name in _REFUSED:
        raise CompatError(f"optimizer {identifier!r}: {REFUSED_NAMES}")
    if name == "momentum":   # graphcore's TF1 spelling
        return _tf1.get(name)
    raise BuildError(f"unknown optimizer {identifier!r}; choose from {sorted(_BY_NAME)}, an optimizer object "
                     "(gc.optimizers.Adam(1e-3)) or gc.train's TF1 optimizers")


def serialize(optimizer):
    """A JSON-able description from which ``get`` rebuilds the optimizer (Keras's optimizers only)."""
    if not isinstance(optimizer, KerasOptimizer):
        raise BuildError(f"{type(optimizer).__name__} is a TF1-style optimizer; only gc.optimizers' Keras "
                         "optimizers are saved with the model (load it with compile=False and compile again)")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


__all__ = ["SGD", "RMSprop", "Adam", "KerasOptimizer", "schedules", "get", "serialize", "LearningRateSchedule",
           "ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay"]

__getattr__ = missing_names(sys.modules[__name__], {name: REFUSED_NAMES for name in (
    "Adagrad", "Adadelta", "Adamax", "Nadam", "AdamW", "Ftrl", "Lion", "Lamb", "Adafactor", "Muon")})
