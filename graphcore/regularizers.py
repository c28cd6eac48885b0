"""Keras's weight regularizers: penalties on a layer's weights (or outputs) added to the training loss.

``Dense(64, kernel_regularizer=gc.regularizers.l2(0.001))`` adds 0.001·Σw² of that kernel to the loss that
``fit`` minimises and reports, as Keras does; ``activity_regularizer`` penalises the layer's output, divided
by the batch size (Keras 2 and 3 agree). Only trainable weights are penalised (Keras's ``model.losses``).
"""
import sys

from . import compat
from .errors import BuildError
from .lookup import missing_names
from .ops.math import abs, square
from .ops.reduce import reduce_sum


class Regularizer:
    """Base class: ``regularizer(weights)`` is a scalar graph tensor."""

    def __call__(self, x):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@compat.same_as("Keras", "keras.regularizers.L1L2", "keras.regularizers.l1_l2")
class L1L2(Regularizer):
    """l1·Σ|w| + l2·Σw²."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        total = None
        if self.l1:
            total = self.l1 * reduce_sum(abs(x))
        if self.l2:
            term = self.l2 * reduce_sum(square(x))
            total = term if total is None else total + term
        return total if total is not None else reduce_sum(x) * 0.0

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


@compat.same_as("Keras", "keras.regularizers.L1", "keras.regularizers.l1")
class L1(L1L2):
    """l1·Σ|w| (Keras's default l1=0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


@compat.same_as("Keras", "keras.regularizers.L2", "keras.regularizers.l2")
class L2(L1L2):
    """l2·Σw² (Keras's default l2=0.01)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1_l2(l1=0.01, l2=0.01):
    """Keras's function form (both 0.01 by default)."""
    return L1L2(l1=l1, l2=l2)


l1, l2 = L1, L2
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2}


@compat.same_as("Keras", "keras.regularizers.get")
def get(identifier):
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2'), a config dict or a regularizer (a function of the
    weights works too)."""
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier) and \
            not isinstance(identifier, type):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_NAME:
        return _BY_NAME[identifier["class_name"]](**identifier.get("config", {}))
    raise BuildError(f"unknown regularizer {identifier!r}; use 'l1', 'l2', 'l1_l2' or gc.regularizers.L2(0.01)")

__getattr__ = missing_names(sys.modules[__name__], {})
