"""Ops whose output *shape* is a run-time value: reshaping to another tensor's shape (the gradients of
reshapes), and the dynamic-shape idioms of imported ONNX models.

Exporters write ``Reshape(x, Concat(Shape(x)[0], -1))`` or ``ConstantOfShape(Shape(x))`` so that one file
serves any batch size. When the importer can compute such a shape while importing it folds it into a plain
graphcore op; these ops carry the cases it cannot, where the shape depends on data fed at run time. Their
shape rules read a constant shape input when there is one (so the static shape stays known), and their
kernels refuse a computed size over ``max_bytes`` before allocating: a hostile shape value met at run time
is reported as a failure of that node, not as a machine out of memory.

The module sits below ``array.py``: array's gradients for sizes known only at run time (Concat's, Tile's) and
its ``slice_along`` are built from ``shape_of``, ``reshape_to`` and ``arange``, so nothing here imports it.
"""
import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError
from ..op import Op, apply_op, register
from ..shapes import broadcast_shapes, format_shape
from .math import sum_to

#: The default cap on a tensor computed at run time from a shape value (4 GiB, as the ONNX importer's).
MAX_BYTES = 4 << 30


def static_value(t):
    """The value of a tensor made by a Constant node, else None."""
    return t.node.attrs["value"] if t.node.type == "Constant" else None


# Integer vectors longer than this are not followed by ``known_elements`` (shapes are short).
_KNOWN_LIMIT = 64


def known_elements(t):
    """What is known when building about the elements of a small integer tensor (0-d or 1-D): a list of ints
    and None (unknown), or None when not even its length is known.

    Exporters compute shapes from shapes — ``Concat(Gather(Shape(x), 0), [-1, 64])`` — so a Reshape target
    is often partly known although it is a run-time value (ONNX calls this data propagation): the batch is
    unknown, the other dims are not. Following the small set of ops such arithmetic uses keeps those dims in
    the static shapes of what is built from it (an LSTM's initial state of (batch, 128), not (?, ?))."""
    if t.dtype.kind not in "iu" or t.ndim > 1 or (t.ndim == 1 and (t.shape[0] is None or t.shape[0] > _KNOWN_LIMIT)):
        return None
    rule = _PROPAGATE.get(t.node.type)
    values = rule(t.node) if rule is not None else None
    if values is None:
        return [None] * (t.shape[0] if t.ndim else 1)
    return values


def _known_constant(node):
    return [int(v) for v in np.asarray(static_value(node.outputs[0])).reshape(-1)]


def _known_concat(node):
    if node.attrs["axis"] != 0:
        return None
    parts = [known_elements(t) for t in node.inputs]
    return None if any(p is None for p in parts) else [v for p in parts for v in p]


def _known_gather(node):
    params, indices = node.inputs
    values, picks = known_elements(params), known_elements(indices) if indices.node.type == "Constant" else None
    if values is None or picks is None or None in picks:
        return None
    return [values[i] if -len(values) <= i < len(values) else None for i in picks]


def _known_slice(node):
    key = node.attrs["key"]
    values = known_elements(node.inputs[0])
    if values is None or len(key) != 1:
        return None
    if isinstance(key[0], int):
        return [values[key[0]]] if -len(values) <= key[0] < len(values) else None
    if not isinstance(key[0], tuple):
        return None
    _, start, stop, step = key[0]
    return values[slice(start, stop, step)]


def _known_arithmetic(fn):
    def rule(node):
        a, b = (known_elements(t) for t in node.inputs)
        if a is None or b is None or (len(a) != len(b) and 1 not in (len(a), len(b))):
            return None
        n = max(len(a), len(b))
        a, b = (v * n if len(v) == 1 else v for v in (a, b))
        return [None if x is None or y is None else int(fn(x, y)) for x, y in zip(a, b)]
    return rule


def _passed_on(node):
    return known_elements(node.inputs[0])


_PROPAGATE = {
    "Constant": _known_constant, "Shape": lambda node: list(node.inputs[0].shape), "Concat": _known_concat,
    "Gather": _known_gather, "StridedSlice": _known_slice, "Cast": _passed_on, "Identity": _passed_on,
    "ExpandDims": _passed_on, "Squeeze": _passed_on, "Reshape": _passed_on, "ReshapeTo": _passed_on,
    "Add": _known_arithmetic(lambda x, y: x + y), "Sub": _known_arithmetic(lambda x, y: x - y),
    "Mul": _known_arithmetic(lambda x, y: x * y), "Maximum": _known_arithmetic(max),
    "Minimum": _known_arithmetic(min),
}


def _shape_input(node, index=1, rank_known=True):
    """The length of a 1-D integer shape input (the output rank: it must be known unless ``rank_known`` is
    False), and what is known of its elements (``known_elements``; None if not even the length)."""
    s = node.inputs[index]
    if s.dtype.kind not in "iu" or s.ndim != 1:
        raise BuildError(f"the shape input must be a 1-D integer tensor, got {s.dtype.name}{format_shape(s.shape)}")
    if rank_known and s.shape[0] is None:
        raise BuildError("the target shape's length (the output rank) must be known")
    return s.shape[0], known_elements(s)


def _check_bytes(shape, dtype, max_bytes):
    count = 1
    for d in shape:
        if d < 0:
            raise ValueError(f"negative dimension in the computed shape {tuple(shape)}")
        count *= int(d)
    if count * np.dtype(dtype).itemsize > max_bytes:
        raise ValueError(f"the computed shape {tuple(int(d) for d in shape)} needs "
                         f"{count * np.dtype(dtype).itemsize:,} bytes, over the cap of {max_bytes:,}")


@register
class Shape(Op):
    """The run-time shape of ``x`` as an int64 vector (ONNX Shape); carries no gradient."""

    def infer(self, node):
        return [(_dt.int64, (node.inputs[0].ndim,))]

    def compute(self, x):
        return np.asarray(x.shape, dtype=np.int64)

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3, 4))], {}


def shape_of(x, name=None):
    return apply_op("Shape", [x], name=name)


def shape_source(shape):
    """``x`` when ``shape`` is ``shape_of(x)``, else None: a TF1 shape argument ``tf.shape(x)`` then means
    "shaped like x", which keeps x's static sizes and needs no run-time shape value."""
    return shape.node.inputs[0] if shape.node.type == "Shape" else None


@register
class ReshapeLike(Op):
    """Reshape ``x`` to ``like``'s runtime shape (gradients of reshape, squeeze and expand_dims)."""

    def infer(self, node):
        x, like = node.inputs
        return [(x.dtype, like.shape)]

    def compute(self, x, like):
        return x.reshape(like.shape)

    def grad(self, node, output_grads, wanted):
        (gg,) = output_grads
        return [reshape_like(gg, node.inputs[0]), None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 6)), rng.normal(size=(3, 4))], {}


def reshape_like(x, like):
    if x.shape == like.shape and None not in x.shape:
        return x
    return apply_op("ReshapeLike", [x, like])


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
        if value is not None and None not in value and None not in x.shape:
            return [(x.dtype, resolve_reshape(x.shape, value, node.attrs["allowzero"]))]
        dims = [None] * rank
        if value is not None:
            for i, d in enumerate(value):
                if d is not None and d > 0:
                    dims[i] = int(d)
                elif d == 0 and not node.attrs["allowzero"] and i < x.ndim:
                    dims[i] = x.shape[i]
            if value.count(-1) == 1 and None not in x.shape and dims.count(None) == 1:   # the -1 is inferable
                known = int(np.prod([d for d in dims if d is not None]))
                if known:
                    dims[value.index(-1)] = int(np.prod(x.shape)) // known
        return [(x.dtype, tuple(dims))]

    def compute(self, x, shape, allowzero):
        return x.reshape(resolve_reshape(x.shape, shape, allowzero))

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
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
        # An unknown target dim broadcasts to x's dim when x's is not 1, else stays unknown.
        target = tuple(value) if value is not None else (None,) * rank
        shape = broadcast_shapes(x.shape, target)
        if shape is None:
            raise BuildError(f"cannot expand {format_shape(x.shape)} to {format_shape(target)}")
        return [(x.dtype, shape)]

    def compute(self, x, shape, max_bytes):
        target = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
        _check_bytes(target, x.dtype, max_bytes)
        return np.broadcast_to(x, target)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
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
        dims = tuple(value) if value is not None else (None,) * rank
        return [(node.attrs["value"].dtype, dims)]

    def compute(self, shape, value, rank, max_bytes):
        if len(shape) != rank:
            raise ValueError(f"the shape {list(shape)} has {len(shape)} entries, the node was built for {rank}")
        _check_bytes(shape, value.dtype, max_bytes)
        return np.full(tuple(int(d) for d in shape), value, dtype=value.dtype)

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [np.array([2, 3], np.int64)], {"value": np.array(1.5, np.float32), "rank": 2, "max_bytes": MAX_BYTES}


def constant_of_shape(shape, value, max_bytes=MAX_BYTES, name=None):
    return apply_op("ConstantOfShape", [shape], name=name, value=np.asarray(value), rank=int(shape.shape[0]),
                    max_bytes=int(max_bytes))


def _total(vector):
    """The sum of a vector, made by its registered type: reduce.py builds on array.py, which builds on this
    module, so importing reduce.py here would close a cycle."""
    return apply_op("ReduceSum", [vector], axes=(0,), keepdims=False)


@register
class Range(Op):
    """start, start + delta, … up to ``limit`` (excluded) from three scalars (ONNX Range, NumPy's arange with
    ONNX's count ⌈(limit − start) / delta⌉, at least 0); the length is a run-time value. For floating
    values the gradient reaches start (Σg) and delta (Σg·i); the limit only decides the length."""

    data_dependent_shape = True

    def infer(self, node):
        start, limit, delta = node.inputs
        if start.dtype != limit.dtype or start.dtype != delta.dtype or any(t.ndim for t in node.inputs):
            raise BuildError(f"Range takes three scalars of one dtype, got "
                             f"{', '.join(t.dtype.name + format_shape(t.shape) for t in node.inputs)}")
        values = [known_elements(t) for t in node.inputs] if start.dtype.kind in "iu" else None
        if values and all(v is not None and v[0] is not None for v in values):
            (a,), (b,), (d,) = values
            return [(start.dtype, (max(-(-(b - a) // d), 0) if d else None,))]
        return [(start.dtype, (None,))]

    def compute(self, start, limit, delta, max_bytes):
        if delta == 0:
            raise ValueError("a Range delta of 0")
        count = max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)
        _check_bytes([count], start.dtype, max_bytes)
        return (start + np.arange(count, dtype=start.dtype) * delta).astype(start.dtype)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        start, _, delta = node.inputs
        if not _dt.is_floating(start.dtype):
            return [None, None, None]
        steps = (node.outputs[0] - start) / delta   # i, the position of each element
        return [_total(g), None, _total(g * steps)]

    def samples(self, rng):
        yield [np.array(1.2), np.array(4.0), np.array(0.5)], {"max_bytes": MAX_BYTES}   # the count is not at a step
        yield [np.array(10, np.int64), np.array(2, np.int64), np.array(-3, np.int64)], {"max_bytes": MAX_BYTES}


def arange(start, limit, delta, max_bytes=MAX_BYTES, name=None):
    return apply_op("Range", [start, limit, delta], name=name, max_bytes=int(max_bytes))
