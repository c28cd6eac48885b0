"""Fused neural-network ops that need fusing for numerical stability: softmax and log-softmax.

Everything else (losses, the notes' activations) is composed from primitives in ``graphcore.activations`` and
``graphcore.losses``; these two are fused because exp/sum/log composed naively overflows for large logits.
"""
import numpy as np

from ..op import Op, apply_op, register, require_float
from ..shapes import normalize_axes


class SoftmaxBase(Op):
    def infer(self, node):
        require_float(node)
        x = node.inputs[0]
        return [(x.dtype, x.shape)]

    def samples(self, rng):
        yield [rng.normal(size=(3, 5))], {"axis": 1}
        yield [rng.normal(size=(2, 3, 4))], {"axis": 0}


@register
class Softmax(SoftmaxBase):
    """exp(x − max) / Σ exp(x − max) along ``axis``."""

    def compute(self, x, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def grad(self, node, g):
        from .reduce import reduce_sum
        y, axis = node.outputs[0], node.attrs["axis"]
        return [y * (g - reduce_sum(g * y, axis, keepdims=True))]


@register
class LogSoftmax(SoftmaxBase):
    """x − max − log Σ exp(x − max): finite for logits of any size."""

    def compute(self, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def grad(self, node, g):
        from .math import exp
        from .reduce import reduce_sum
        y, axis = node.outputs[0], node.attrs["axis"]
        return [g - exp(y) * reduce_sum(g, axis, keepdims=True)]


def softmax(x, axis=-1, name=None):
    return apply_op("Softmax", [x], name=name, axis=normalize_axes(axis, x.ndim)[0])


def log_softmax(x, axis=-1, name=None):
    return apply_op("LogSoftmax", [x], name=name, axis=normalize_axes(axis, x.ndim)[0])
