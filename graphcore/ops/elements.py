"""Element-wise indexing along an axis (ONNX GatherElements and ScatterElements): ``indices`` has the rank of
the data and picks, for every position, one element along ``axis``. Each is the other's gradient."""
import numpy as np

from ..errors import BuildError
from ..op import Op, apply_op, register, same_dtype
from ..shapes import format_shape


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

    def grad(self, node, g):
        x, indices = node.inputs
        from .math import zeros_like
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
        if node.attrs["reduction"] not in ("none", "add"):
            raise BuildError(f"reduction must be 'none' or 'add', got {node.attrs['reduction']!r}")
        return [(data.dtype, data.shape)]

    def compute(self, data, indices, updates, axis, reduction):
        out = data.copy()
        where = _positions(indices, data.shape[axis], axis)
        if reduction == "add":
            np.add.at(out, where, updates)
        else:
            out[where] = updates
        return out

    def grad(self, node, g):
        data, indices, updates = node.inputs
        axis, reduction = node.attrs["axis"], node.attrs["reduction"]
        from .math import zeros_like
        g_data = g if reduction == "add" else scatter_elements(g, indices, zeros_like(updates), axis, "none")
        return [g_data, None, gather_elements(g, indices, axis)]

    def samples(self, rng):
        indices = np.array([[1, 0, 2], [0, 2, 1]])   # distinct per column: overwriting is differentiable
        for reduction in ("none", "add"):
            yield [rng.normal(size=(3, 3)), indices, rng.normal(size=(2, 3))], {"axis": 0, "reduction": reduction}


def scatter_elements(data, indices, updates, axis, reduction="none", name=None):
    return apply_op("ScatterElements", [data, indices, updates], name=name, axis=int(axis) % data.ndim,
                    reduction=reduction)


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

    def grad(self, node, g, g_indices):
        from .math import zeros_like
        x, axis = node.inputs[0], node.attrs["axis"]
        return [scatter_elements(zeros_like(x), node.outputs[1], g, axis, "add")]

    def samples(self, rng):
        x = rng.permutation(12).reshape(3, 4) / 4.0   # distinct values: the selection is stable under the probe
        yield [x], {"k": 2, "axis": 1, "largest": True}
        yield [x], {"k": 3, "axis": 0, "largest": False}


def top_k(x, k, axis=-1, largest=True, name=None):
    return apply_op("TopK", [x], name=name, k=int(k), axis=int(axis) % x.ndim, largest=bool(largest))
