"""Reductions: sum, mean, max, min, prod, argmax, argmin (``axis`` = int, tuple or None for all)."""
import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError
from ..op import Op, apply_op, register
from ..shapes import normalize_axes
from .array import expand_dims
from .math import broadcast_like, cast, equal, size


class Reduce(Op):
    """Shared shape rule: drop (or keep as 1) the reduced axes."""

    def infer(self, node):
        x = node.inputs[0]
        axes, keep = node.attrs["axes"], node.attrs["keepdims"]
        shape = tuple((1 if keep else None) if i in axes else d for i, d in enumerate(x.shape))
        shape = tuple(d for i, d in enumerate(shape) if keep or i not in axes)
        return [(self.out_dtype(x), shape)]

    def out_dtype(self, x):
        return x.dtype

    def samples(self, rng):
        yield [rng.uniform(0.5, 1.5, size=(3, 4, 2))], {"axes": (1,), "keepdims": False}
        yield [rng.uniform(0.5, 1.5, size=(3, 4))], {"axes": (0, 1), "keepdims": True}


def _spread(node, g):
    """The output gradient broadcast back over the input's shape."""
    x = node.inputs[0]
    if not node.attrs["keepdims"]:
        g = expand_dims(g, node.attrs["axes"])
    return broadcast_like(g, x)


@register
class ReduceSum(Reduce):
    def compute(self, x, axes, keepdims):
        return np.sum(x, axis=axes, keepdims=keepdims)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [_spread(node, g)]


@register
class ReduceMean(Reduce):
    """The mean over ``axes``; of integers, the integer quotient rounded toward zero, in their dtype (as TF1's
    ``reduce_mean``: the mean of [7, 8] is 7)."""

    def out_dtype(self, x):
        if x.dtype.kind not in "fiu":
            raise BuildError(f"reduce_mean needs numbers, got {x.dtype.name}: cast it first (gc.cast(x, gc.float32))")
        return x.dtype

    def compute(self, x, axes, keepdims):
        if x.dtype.kind == "f":
            return np.mean(x, axis=axes, keepdims=keepdims, dtype=x.dtype)
        total = np.sum(x, axis=axes, keepdims=keepdims)
        count = max(int(np.prod([x.shape[a] for a in axes], dtype=np.int64)), 1)
        return (np.sign(total) * (np.abs(total) // count)).astype(x.dtype)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x, y = node.inputs[0], node.outputs[0]
        count = [x.shape[a] for a in node.attrs["axes"]]
        if None in count:
            return [_spread(node, g) * (size(y, x.dtype) / size(x, x.dtype))]
        return [_spread(node, g) * (1.0 / float(np.prod(count)))]


@register
class ReduceProd(Reduce):
    """Product; its gradient y/x assumes no zeros in the input."""

    def compute(self, x, axes, keepdims):
        return np.prod(x, axis=axes, keepdims=keepdims)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x, y = node.inputs[0], node.outputs[0]
        return [_spread(node, g * y) / x]


class ReduceExtreme(Reduce):
    """Max/min: the gradient is shared equally between tied extremes (as TensorFlow does)."""

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x, y = node.inputs[0], node.outputs[0]
        y_full = y if node.attrs["keepdims"] else expand_dims(y, node.attrs["axes"])
        mask = cast(equal(x, y_full), x.dtype)
        ties = reduce_sum(mask, node.attrs["axes"], keepdims=True)
        return [_spread(node, g) * mask / ties]


@register
class ReduceMax(ReduceExtreme):
    def compute(self, x, axes, keepdims):
        return np.max(x, axis=axes, keepdims=keepdims)


@register
class ReduceMin(ReduceExtreme):
    def compute(self, x, axes, keepdims):
        return np.min(x, axis=axes, keepdims=keepdims)


class ArgExtreme(Reduce):
    """Index of the extreme along one axis (int64; carries no gradient)."""

    def out_dtype(self, x):
        return _dt.int64

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [rng.normal(size=(3, 4))], {"axes": (1,), "keepdims": False}


@register
class ArgMax(ArgExtreme):
    def compute(self, x, axes, keepdims):
        return np.argmax(x, axis=axes[0], keepdims=keepdims).astype(np.int64, copy=False)


@register
class ArgMin(ArgExtreme):
    def compute(self, x, axes, keepdims):
        return np.argmin(x, axis=axes[0], keepdims=keepdims).astype(np.int64, copy=False)


def _reduce(op_type, x, axis, keepdims, name):
    return apply_op(op_type, [x], name=name, axes=normalize_axes(axis, x.ndim), keepdims=bool(keepdims))


def reduce_sum(x, axis=None, keepdims=False, name=None):
    return _reduce("ReduceSum", x, axis, keepdims, name)


def reduce_mean(x, axis=None, keepdims=False, name=None):
    return _reduce("ReduceMean", x, axis, keepdims, name)


def reduce_max(x, axis=None, keepdims=False, name=None):
    return _reduce("ReduceMax", x, axis, keepdims, name)


def reduce_min(x, axis=None, keepdims=False, name=None):
    return _reduce("ReduceMin", x, axis, keepdims, name)


def reduce_prod(x, axis=None, keepdims=False, name=None):
    return _reduce("ReduceProd", x, axis, keepdims, name)


def argmax(x, axis=None, keepdims=False, name=None):
    """The index of the largest value along ``axis``; ``axis=None`` means axis 0, as in TF1's ``tf.argmax``
    (not NumPy's flattening)."""
    return _reduce("ArgMax", x, 0 if axis is None else int(axis), keepdims, name)


def argmin(x, axis=None, keepdims=False, name=None):
    """The index of the smallest value along ``axis`` (``None``: axis 0, as in TF1)."""
    return _reduce("ArgMin", x, 0 if axis is None else int(axis), keepdims, name)
