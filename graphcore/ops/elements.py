"""Indexing by index tensors: along one axis (ONNX GatherElements and ScatterElements: ``indices`` has the rank
of the data and picks, for every position, one element along ``axis``) and by index tuples (GatherND and
ScatterND: the last axis of ``indices`` holds a position in the data's leading axes). Each gather is its
scatter's gradient and the other way round.

Scatters combine written values by ``reduction``: "none" overwrites, "add" accumulates (both differentiable),
"mul", "max" and "min" combine with what is there; those three have no gradient here and say so.
"""
import numpy as np

from ..errors import BuildError, GradientError
from ..op import Op, apply_op, register, same_dtype
from ..shapes import format_shape
from .array import concat
from .math import cast, zeros_like
from .state import constant

# reduction → the ufunc whose ``at`` applies it at (possibly repeated) positions
_REDUCE = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _scatter_into(out, where, updates, reduction):
    if reduction == "none":
        out[where] = updates
    else:
        _REDUCE[reduction].at(out, where, updates)
    return out


def _check_reduction(node):
    if node.attrs["reduction"] not in ("none",) + tuple(_REDUCE):
        raise BuildError(f"reduction must be one of none, add, mul, max, min; got {node.attrs['reduction']!r}")


def _no_gradient(node):
    return GradientError(f"{node.op.type} with reduction '{node.attrs['reduction']}' has no gradient in graphcore "
                         "(only 'none' and 'add' scatters are differentiated)", node)


def _positions(indices, size, axis):
    """Non-negative indices (ONNX allows −size ≤ i < size) as a full index tuple for fancy indexing."""
    if np.any((indices < -size) | (indices >= size)):
        raise IndexError(f"indices out of range [{-size}, {size}) along axis {axis}")
    grid = list(np.indices(indices.shape, sparse=True))
    grid[axis] = np.where(indices < 0, indices + size, indices)
    return tuple(grid)


def _check_indices(node, data, indices):
    if indices.dtype.kind not in "iu" or indices.ndim != data.ndim:
        raise BuildError(f"indices must be integers of the data's rank {data.ndim}, got "
                         f"{indices.dtype.name}{format_shape(indices.shape)}")


@register
class GatherElements(Op):
    """y[..., i, ...] = x[..., indices[..., i, ...], ...] along ``axis``; the indices carry no gradient."""

    def infer(self, node):
        x, indices = node.inputs
        _check_indices(node, x, indices)
        return [(x.dtype, indices.shape)]

    def compute(self, x, indices, axis):
        return x[_positions(indices, x.shape[axis], axis)]

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x, indices = node.inputs
        return [scatter_elements(zeros_like(x), indices, g, node.attrs["axis"], "add"), None]

    def samples(self, rng):
        yield [rng.normal(size=(3, 4)), np.array([[0, 3], [2, -1], [1, 1]])], {"axis": 1}


def gather_elements(x, indices, axis, name=None):
    return apply_op("GatherElements", [x, indices], name=name, axis=int(axis) % x.ndim)


@register
class ScatterElements(Op):
    """A copy of ``data`` with ``updates`` written (``reduction="none"``) or added (``"add"``) at ``indices``
    along ``axis``. Gradients: data's is g where nothing was written over (all of g for "add"), the
    updates' is g gathered at the indices."""

    def infer(self, node):
        same_dtype(node, 0, 2)
        data, indices, updates = node.inputs
        _check_indices(node, data, indices)
        _check_reduction(node)
        return [(data.dtype, data.shape)]

    def compute(self, data, indices, updates, axis, reduction):
        return _scatter_into(data.copy(), _positions(indices, data.shape[axis], axis), updates, reduction)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        data, indices, updates = node.inputs
        axis, reduction = node.attrs["axis"], node.attrs["reduction"]
        if reduction not in ("none", "add"):
            raise _no_gradient(node)
        g_data = g if reduction == "add" else scatter_elements(g, indices, zeros_like(updates), axis, "none")
        return [g_data, None, gather_elements(g, indices, axis)]

    def samples(self, rng):
        indices = np.array([[1, 0, 2], [0, 2, 1]])   # distinct per column: overwriting is differentiable
        for reduction in ("none", "add"):
            yield [rng.normal(size=(3, 3)), indices, rng.normal(size=(2, 3))], {"axis": 0, "reduction": reduction}


def scatter_elements(data, indices, updates, axis, reduction="none", name=None):
    return apply_op("ScatterElements", [data, indices, updates], name=name, axis=int(axis) % data.ndim,
                    reduction=reduction)


def _nd_positions(data_shape, indices, batch_dims):
    """The full index tuple for ``data[...]`` of GatherND/ScatterND: the batch coordinates, then the index
    tuples of the last axis of ``indices`` (negative ones counted from the end of their axis)."""
    k = indices.shape[-1]
    sizes = np.asarray(data_shape[batch_dims:batch_dims + k])
    if np.any((indices < -sizes) | (indices >= sizes)):
        raise IndexError(f"indices out of range for the data axes {tuple(int(d) for d in sizes)}")
    indices = np.where(indices < 0, indices + sizes, indices)
    lead = indices.shape[:-1]
    batch = [np.arange(n).reshape((-1,) + (1,) * (len(lead) - 1 - i)) for i, n in enumerate(lead[:batch_dims])]
    return tuple(batch) + tuple(np.moveaxis(indices, -1, 0))


def _nd_shape(node, data, indices, batch_dims):
    k = indices.shape[-1]
    if indices.dtype.kind not in "iu" or indices.ndim < 1 or k is None:
        raise BuildError(f"indices must be integers with a known last axis, got "
                         f"{indices.dtype.name}{format_shape(indices.shape)}")
    if batch_dims + k > data.ndim:
        raise BuildError(f"index tuples of {k} on data of rank {data.ndim} after {batch_dims} batch axes")
    return indices.shape[:-1] + data.shape[batch_dims + k:]


@register
class GatherND(Op):
    """ONNX GatherND: ``y[i...] = data[b..., indices[b..., i..., :]]`` with ``batch_dims`` shared leading
    axes; the indices carry no gradient, the data's is the gradient scattered back (added)."""

    def infer(self, node):
        data, indices = node.inputs
        return [(data.dtype, _nd_shape(node, data, indices, node.attrs["batch_dims"]))]

    def compute(self, data, indices, batch_dims):
        return data[_nd_positions(data.shape, indices, batch_dims)]

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        data, indices = node.inputs
        batch_dims = node.attrs["batch_dims"]
        if batch_dims:   # ScatterND has no batch axes: prepend the batch coordinates to the index tuples
            if None in indices.shape:
                raise GradientError("the gradient of GatherND with batch_dims needs a known indices shape", node)
            lead = indices.shape[:-1]
            grid = np.stack(np.meshgrid(*[np.arange(n) for n in lead[:batch_dims]], indexing="ij"), -1)
            grid = np.broadcast_to(grid.reshape(lead[:batch_dims] + (1,) * (len(lead) - batch_dims) + (batch_dims,)),
                                   lead + (batch_dims,))
            indices = concat([cast(constant(np.ascontiguousarray(grid)), indices.dtype), indices], -1)
        return [scatter_nd(zeros_like(data), indices, g, "add"), None]

    def samples(self, rng):
        yield [rng.normal(size=(3, 4, 2)), np.array([[0, 1], [2, -1]])], {"batch_dims": 0}
        yield [rng.normal(size=(2, 3, 4)), np.array([[[1], [0]], [[2], [2]]])], {"batch_dims": 1}


def gather_nd(data, indices, batch_dims=0, name=None):
    return apply_op("GatherND", [data, indices], name=name, batch_dims=int(batch_dims))


@register
class ScatterND(Op):
    """ONNX ScatterND: a copy of ``data`` with ``updates`` combined (``reduction``) at the positions the last
    axis of ``indices`` holds. Gradients ("none", "add"): the data's is g where nothing was overwritten, the
    updates' is g gathered at the indices."""

    def infer(self, node):
        same_dtype(node, 0, 2)
        data, indices, updates = node.inputs
        _check_reduction(node)
        expected = _nd_shape(node, data, indices, 0)
        if len(updates.shape) != len(expected) or any(a is not None and b is not None and a != b
                                                       for a, b in zip(updates.shape, expected)):
            raise BuildError(f"updates {format_shape(updates.shape)} must have shape {format_shape(expected)}")
        return [(data.dtype, data.shape)]

    def compute(self, data, indices, updates, reduction):
        return _scatter_into(data.copy(), _nd_positions(data.shape, indices, 0), updates, reduction)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        data, indices, updates = node.inputs
        reduction = node.attrs["reduction"]
        if reduction not in ("none", "add"):
            raise _no_gradient(node)
        g_data = g if reduction == "add" else scatter_nd(g, indices, zeros_like(updates), "none")
        return [g_data, None, gather_nd(g, indices)]

    def samples(self, rng):
        for reduction in ("none", "add"):
            yield [rng.normal(size=(4, 3)), np.array([[2], [0]]), rng.normal(size=(2, 3))], {"reduction": reduction}
        yield [rng.normal(size=(3, 3)), np.array([[0, 1], [2, 2]]), rng.normal(size=(2,))], {"reduction": "none"}


def scatter_nd(data, indices, updates, reduction="none", name=None):
    return apply_op("ScatterND", [data, indices, updates], name=name, reduction=reduction)


@register
class TopK(Op):
    """The ``k`` largest (or smallest) values along ``axis``, sorted, and their indices; ties keep the lower
    index first. The values' gradient is g scattered back to where they came from."""

    def infer(self, node):
        x, k, axis = node.inputs[0], node.attrs["k"], node.attrs["axis"]
        if x.shape[axis] is not None and not 0 <= k <= x.shape[axis]:
            raise BuildError(f"k = {k} is not in [0, {x.shape[axis]}] for axis {axis} of {format_shape(x.shape)}")
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
        return [(x.dtype, shape), (np.dtype(np.int64), shape)]

    def compute(self, x, k, axis, largest):
        descending = ~x if x.dtype.kind == "u" else -x   # ~ reverses unsigned order without wrapping around
        order = np.argsort(descending if largest else x, axis=axis, kind="stable")
        indices = np.take(order, np.arange(k), axis=axis)
        return np.take_along_axis(x, indices, axis=axis), indices.astype(np.int64)

    def grad(self, node, output_grads, wanted):
        g = output_grads[0]     # the indices are integers: no gradient reaches them
        x, axis = node.inputs[0], node.attrs["axis"]
        return [scatter_elements(zeros_like(x), node.outputs[1], g, axis, "add")]

    def samples(self, rng):
        x = rng.permutation(12).reshape(3, 4) / 4.0   # distinct values: the selection is stable under the probe
        yield [x], {"k": 2, "axis": 1, "largest": True}
        yield [x], {"k": 3, "axis": 0, "largest": False}


def top_k(x, k, axis=-1, largest=True, name=None):
    return apply_op("TopK", [x], name=name, k=int(k), axis=int(axis) % x.ndim, largest=bool(largest))
