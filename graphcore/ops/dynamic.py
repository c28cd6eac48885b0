"""Ops whose output *shape* is a run-time value: the dynamic-shape idioms of imported ONNX models.

Exporters write ``Reshape(x, Concat(Shape(x)[0], -1))`` or ``ConstantOfShape(Shape(x))`` so that one file
serves any batch size. When the importer can compute such a shape while importing it folds it into a plain
graphcore op; these ops carry the cases it cannot, where the shape depends on data fed at run time. Their
shape rules read a constant shape input when there is one (so the static shape stays known), and their
kernels refuse a computed size over ``max_bytes`` before allocating: a hostile shape value met at run time
is reported as a failure of that node, not as a machine out of memory.
"""
import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError
from ..op import Op, apply_op, register
from ..shapes import broadcast_shapes, format_shape
from .array import reshape_like
from .math import sum_to

#: The default cap on a tensor computed at run time from a shape value (4 GiB, as the ONNX importer's).
MAX_BYTES = 4 << 30


def static_value(t):
    """The value of a tensor made by a Constant node, else None."""
    return t.node.attrs["value"] if t.node.type == "Constant" else None


def _shape_input(node, index=1, rank_known=True):
    """The length of a 1-D integer shape input (the output rank: it must be known unless ``rank_known`` is
    False), and its constant value or None."""
    s = node.inputs[index]
    if s.dtype.kind not in "iu" or s.ndim != 1:
        raise BuildError(f"the shape input must be a 1-D integer tensor, got {s.dtype.name}{format_shape(s.shape)}")
    if rank_known and s.shape[0] is None:
        raise BuildError("the target shape's length (the output rank) must be known")
    return s.shape[0], static_value(s)


def _check_bytes(shape, dtype, max_bytes):
    count = 1
    for d in shape:
        if d < 0:
            raise ValueError(f"negative dimension in the computed shape {tuple(shape)}")
        count *= int(d)
    if count * np.dtype(dtype).itemsize > max_bytes:
        raise ValueError(f"the computed shape {tuple(int(d) for d in shape)} needs {count * np.dtype(dtype).itemsize:,} "
                         f"bytes, over the cap of {max_bytes:,}")


@register
class Shape(Op):
    """The run-time shape of ``x`` as an int64 vector (ONNX Shape); carries no gradient."""

    def infer(self, node):
        return [(_dt.int64, (node.inputs[0].ndim,))]

    def compute(self, x):
        return np.asarray(x.shape, dtype=np.int64)

    def grad(self, node, g):
        return [None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3, 4))], {}


def shape_of(x, name=None):
    return apply_op("Shape", [x], name=name)


def shape_source(shape):
    """``x`` when ``shape`` is ``shape_of(x)``, else None: a TF1 shape argument ``tf.shape(x)`` then means
    "shaped like x", which keeps x's static sizes and needs no run-time shape value."""
    return shape.node.inputs[0] if shape.node.type == "Shape" else None


def resolve_reshape(in_shape, target, allowzero):
    """ONNX Reshape's target: 0 copies the input's dimension (unless ``allowzero``), one -1 is inferred."""
    out = [in_shape[i] if d == 0 and not allowzero else int(d) for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise ValueError(f"at most one -1 in the target shape {list(target)}")
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1]))
        total = int(np.prod(in_shape))
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {tuple(in_shape)} to {list(target)}")
        out[out.index(-1)] = total // known
    return tuple(out)


@register
class ReshapeTo(Op):
    """Reshape ``x`` to the shape held by an int64 vector (ONNX Reshape: 0 copies a dim unless ``allowzero``)."""

    shape_from_values = True   # the output shape is an input's value (unknown dims unless it is constant)

    def infer(self, node):
        x = node.inputs[0]
        rank, value = _shape_input(node)
        if value is not None and None not in x.shape:
            return [(x.dtype, resolve_reshape(x.shape, value, node.attrs["allowzero"]))]
        dims = [None] * rank
        if value is not None:
            for i, d in enumerate(value):
                if d > 0:
                    dims[i] = int(d)
                elif d == 0 and not node.attrs["allowzero"] and i < x.ndim:
                    dims[i] = x.shape[i]
        return [(x.dtype, tuple(dims))]

    def compute(self, x, shape, allowzero):
        return x.reshape(resolve_reshape(x.shape, shape, allowzero))

    def grad(self, node, g):
        return [reshape_like(g, node.inputs[0]), None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3, 4)), np.array([0, -1], np.int64)], {"allowzero": False}


def reshape_to(x, shape, allowzero=False, name=None):
    return apply_op("ReshapeTo", [x, shape], name=name, allowzero=bool(allowzero))


@register
class Expand(Op):
    """Broadcast ``x`` against the shape held by an int64 vector (ONNX Expand; a read-only view)."""

    shape_from_values = True   # the output shape is an input's value (unknown dims unless it is constant)

    def infer(self, node):
        x = node.inputs[0]
        rank, value = _shape_input(node)
        target = tuple(int(d) for d in value) if value is not None else (None,) * rank
        shape = broadcast_shapes(x.shape, target)
        if shape is None:
            raise BuildError(f"cannot expand {format_shape(x.shape)} to {format_shape(target)}")
        return [(x.dtype, shape)]

    def compute(self, x, shape, max_bytes):
        target = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
        _check_bytes(target, x.dtype, max_bytes)
        return np.broadcast_to(x, target)

    def grad(self, node, g):
        return [sum_to(g, node.inputs[0]), None]

    def samples(self, rng):
        yield [rng.normal(size=(3, 1)), np.array([2, 3, 4], np.int64)], {"max_bytes": MAX_BYTES}


def expand(x, shape, max_bytes=MAX_BYTES, name=None):
    return apply_op("Expand", [x, shape], name=name, max_bytes=int(max_bytes))


@register
class ConstantOfShape(Op):
    """A tensor of the shape held by an int64 vector, filled with ``value`` (a 0-d array: the dtype)."""

    shape_from_values = True   # the output shape is an input's value (unknown dims unless it is constant)

    def infer(self, node):
        _, value = _shape_input(node, 0, rank_known=False)   # the rank is an attribute
        rank = node.attrs["rank"]
        if node.inputs[0].shape[0] not in (None, rank):
            raise BuildError(f"the shape input has {node.inputs[0].shape[0]} entries, rank says {rank}")
        dims = tuple(int(d) for d in value) if value is not None else (None,) * rank
        return [(node.attrs["value"].dtype, dims)]

    def compute(self, shape, value, rank, max_bytes):
        if len(shape) != rank:
            raise ValueError(f"the shape {list(shape)} has {len(shape)} entries, the node was built for {rank}")
        _check_bytes(shape, value.dtype, max_bytes)
        return np.full(tuple(int(d) for d in shape), value, dtype=value.dtype)

    def grad(self, node, g):
        return [None]

    def samples(self, rng):
        yield [np.array([2, 3], np.int64)], {"value": np.array(1.5, np.float32), "rank": 2, "max_bytes": MAX_BYTES}


def constant_of_shape(shape, value, max_bytes=MAX_BYTES, name=None):
    return apply_op("ConstantOfShape", [shape], name=name, value=np.asarray(value), rank=int(shape.shape[0]),
                    max_bytes=int(max_bytes))
