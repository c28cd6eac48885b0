"""Shape and indexing ops: reshape, transpose, concat, split, slicing, gather, pad, tile, expand/squeeze, one_hot."""
import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError, InvalidValueError
from ..graph import Tensor
from ..op import Op, apply_op, convert_to_tensor, register, same_dtype
from ..shapes import format_shape, normalize_axes, num_elements
from .dynamic import arange, reshape_like, reshape_to, shape_of
from .math import cast, maximum, minimum, where, zeros_like

# Stand-ins for unknown dims when a shape rule is evaluated on a zero-stride dummy array: two different
# sizes tell which output dims depend on the unknown ones.
_PROBES = (1_000_003, 1_000_033)


def _probe_shapes(shape, fn):
    """Apply ``fn`` to allocation-free dummies of ``shape`` and return the static result shape."""
    results = []
    for probe in _PROBES:
        dummy = np.broadcast_to(np.zeros((), np.int8), tuple(probe if d is None else d for d in shape))
        results.append(np.shape(fn(dummy)))
    return tuple(a if a == b else None for a, b in zip(*results))


@register
class Reshape(Op):
    """Reshape to ``shape`` (one ``-1`` allowed, inferred at run time)."""

    def infer(self, node):
        x = node.inputs[0]
        target = node.attrs["shape"]
        if sum(d == -1 for d in target) > 1:
            raise BuildError(f"at most one -1 in the target shape {target}")
        known = num_elements(x.shape)
        fixed = int(np.prod([d for d in target if d != -1]))
        if -1 in target:
            if known is not None:
                if fixed == 0 or known % fixed:
                    raise BuildError(f"cannot reshape {format_shape(x.shape)} ({known} elements) to {target}")
                return [(x.dtype, tuple(known // fixed if d == -1 else d for d in target))]
            return [(x.dtype, tuple(None if d == -1 else d for d in target))]
        if known is not None and known != fixed:
            raise BuildError(f"cannot reshape {format_shape(x.shape)} ({known} elements) to {target} ({fixed})")
        known_part = int(np.prod([d for d in x.shape if d is not None]))
        if known_part and fixed % known_part:
            raise BuildError(f"cannot reshape {format_shape(x.shape)} to {target}: {fixed} elements are not a "
                             f"multiple of {known_part} for any size of the unknown dimensions")
        return [(x.dtype, tuple(target))]

    def compute(self, x, shape):
        return x.reshape(shape)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [reshape_like(g, node.inputs[0])]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3, 4))], {"shape": (6, -1)}


def reshape(x, shape, name=None):
    return apply_op("Reshape", [x], name=name, shape=tuple(-1 if d is None else int(d) for d in shape))


@register
class Transpose(Op):
    """Permute axes (default: reverse them)."""

    def infer(self, node):
        x, perm = node.inputs[0], node.attrs["perm"]
        if sorted(perm) != list(range(x.ndim)):
            raise BuildError(f"perm {perm} is not a permutation of the {x.ndim} axes")
        return [(x.dtype, tuple(x.shape[p] for p in perm))]

    def compute(self, x, perm):
        return np.transpose(x, perm)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [transpose(g, tuple(int(i) for i in np.argsort(node.attrs["perm"])))]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3, 4))], {"perm": (2, 0, 1)}


def transpose(x, perm=None, name=None):
    perm = tuple(reversed(range(x.ndim))) if perm is None else tuple(int(p) % x.ndim for p in perm)
    return apply_op("Transpose", [x], name=name, perm=perm)


@register
class Concat(Op):
    """Join tensors along ``axis``."""

    def infer(self, node):
        dtype = same_dtype(node)
        axis = node.attrs["axis"]
        first = node.inputs[0].shape
        for t in node.inputs:
            if len(t.shape) != len(first) or any(
                    i != axis and a is not None and b is not None and a != b for i, (a, b) in enumerate(zip(t.shape, first))):
                raise BuildError("shapes differ off the concat axis: "
                                 + ", ".join(format_shape(t.shape) for t in node.inputs))
        sizes = [t.shape[axis] for t in node.inputs]
        merged = tuple(next((t.shape[i] for t in node.inputs if t.shape[i] is not None), None)
                       for i in range(len(first)))
        total = None if None in sizes else sum(sizes)
        return [(dtype, merged[:axis] + (total,) + merged[axis + 1:])]

    def compute(self, *xs, axis):
        return np.concatenate(xs, axis=axis)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        axis = node.attrs["axis"]
        sizes = [t.shape[axis] for t in node.inputs]
        if len(sizes) == 1:
            return [g]
        if None not in sizes:
            return list(split(g, sizes, axis))
        # Sizes known only at run time (a sequence of any length): slice at offsets computed from the shapes.
        grads, offset = [], 0
        for t in node.inputs:
            end = offset + (t.shape[axis] if t.shape[axis] is not None else shape_of(t)[axis])
            grads.append(slice_along(g, axis, offset, end))
            offset = end
        return grads

    def samples(self, rng):
        yield [rng.normal(size=(2, 3)), rng.normal(size=(2, 1)), rng.normal(size=(2, 2))], {"axis": 1}


def concat(tensors, axis=-1, name=None):
    tensors = list(tensors)
    return apply_op("Concat", tensors, name=name, axis=normalize_axes(axis, tensors[0].ndim)[0])


@register
class Split(Op):
    """Cut a tensor into pieces of the given ``sizes`` along ``axis`` (views, no copies)."""

    def infer(self, node):
        x, sizes, axis = node.inputs[0], node.attrs["sizes"], node.attrs["axis"]
        if x.shape[axis] is not None and sum(sizes) != x.shape[axis]:
            raise BuildError(f"split sizes {sizes} do not add up to dimension {axis} of {format_shape(x.shape)}")
        return [(x.dtype, x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in sizes]

    def compute(self, x, sizes, axis):
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))

    def grad(self, node, output_grads, wanted):
        # Concat needs every piece: an output without a gradient contributes zeros.
        parts = [g if g is not None else zeros_like(out) for g, out in zip(output_grads, node.outputs)]
        return [concat(parts, node.attrs["axis"])]

    def samples(self, rng):
        yield [rng.normal(size=(2, 6))], {"sizes": (1, 2, 3), "axis": 1}


def split(x, num_or_sizes, axis=0, name=None):
    """``split(x, 3)`` into three equal parts, or ``split(x, [2, 4])`` by sizes, along ``axis`` (default 0,
    as in TF1's ``tf.split``)."""
    axis = normalize_axes(axis, x.ndim)[0]
    if isinstance(num_or_sizes, int):
        if x.shape[axis] is None or x.shape[axis] % num_or_sizes:
            raise BuildError(f"cannot split dimension {axis} of {format_shape(x.shape)} into {num_or_sizes} parts")
        num_or_sizes = [x.shape[axis] // num_or_sizes] * num_or_sizes
    return apply_op("Split", [x], name=name, sizes=tuple(int(s) for s in num_or_sizes), axis=axis)


# ----- basic indexing: x[1:3, ..., None, ::2] ------------------------------------------------------------

def _normalize_index(key):
    """A hashable tuple of slices/ints/None/Ellipsis; tensors or lists (advanced indexing) are refused."""
    key = key if isinstance(key, tuple) else (key,)
    out = []
    for k in key:
        if isinstance(k, slice):
            out.append(("slice", k.start, k.stop, k.step))
        elif k is None or k is Ellipsis:
            out.append(k)
        elif isinstance(k, (int, np.integer)):
            out.append(int(k))
        else:
            raise BuildError(f"unsupported index {k!r}: slicing takes ints, slices, None and ...; use gc.gather")
    return tuple(out)


def _index(key):
    return tuple(slice(*k[1:]) if isinstance(k, tuple) else k for k in key)


@register
class StridedSlice(Op):
    """``x[key]`` with basic NumPy indexing."""

    def infer(self, node):
        x, key = node.inputs[0], _index(node.attrs["key"])
        try:
            return [(x.dtype, _probe_shapes(x.shape, lambda a: a[key]))]
        except IndexError as e:
            raise BuildError(f"index {key} does not fit shape {format_shape(x.shape)}: {e}") from None

    def make_kernel(self, node, runtime):
        key = _index(node.attrs["key"])
        return lambda x: x[key]

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [apply_op("SliceGrad", [g, node.inputs[0]], key=node.attrs["key"])]

    def samples(self, rng):
        yield [rng.normal(size=(4, 5, 3))], {"key": _normalize_index((slice(1, None), Ellipsis, None, 0))}
        yield [rng.normal(size=(6, 2))], {"key": _normalize_index((slice(None, None, 2),))}


@register
class SliceGrad(Op):
    """Scatter ``g`` into zeros shaped like ``x`` at ``x[key]`` (the gradient of slicing)."""

    def infer(self, node):
        g, x = node.inputs
        return [(g.dtype, x.shape)]

    def make_kernel(self, node, runtime):
        key = _index(node.attrs["key"])

        def slice_grad(g, x):
            out = np.zeros(x.shape, g.dtype)
            out[key] = g
            return out
        return slice_grad

    def grad(self, node, output_grads, wanted):
        (gg,) = output_grads
        return [apply_op("StridedSlice", [gg], key=node.attrs["key"]), None]

    def samples(self, rng):
        key = _normalize_index((slice(1, 3), 0))
        yield [rng.normal(size=(2, 4)), rng.normal(size=(4, 3, 4))], {"key": key}


def getitem(x, key):
    return apply_op("StridedSlice", [x], key=_normalize_index(key))


@register
class Gather(Op):
    """``np.take(params, indices, axis)``: embedding lookup; integer indices carry no gradient."""

    def infer(self, node):
        params, indices = node.inputs
        if indices.dtype.kind not in "iu":
            raise BuildError(f"gather indices must be integers, got {indices.dtype.name}")
        axis = node.attrs["axis"]
        return [(params.dtype, params.shape[:axis] + indices.shape + params.shape[axis + 1:])]

    def compute(self, params, indices, axis):
        return np.take(params, indices, axis=axis)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        params, indices = node.inputs
        return [apply_op("GatherGrad", [g, indices, params], axis=node.attrs["axis"]), None]

    def samples(self, rng):
        yield [rng.normal(size=(5, 3)), np.array([[0, 4], [2, 0]])], {"axis": 0}


@register
class GatherGrad(Op):
    """Scatter-add ``g`` into zeros shaped like ``params`` at ``indices`` (the gradient of gather)."""

    def infer(self, node):
        g, indices, params = node.inputs
        return [(g.dtype, params.shape)]

    def compute(self, g, indices, params, axis):
        out = np.zeros(params.shape, g.dtype)
        moved = np.moveaxis(out, axis, 0)
        g_moved = np.moveaxis(g, list(range(axis, axis + indices.ndim)), list(range(indices.ndim)))
        np.add.at(moved, indices, g_moved)
        return out

    def grad(self, node, output_grads, wanted):
        (gg,) = output_grads
        return [gather(gg, node.inputs[1], node.attrs["axis"]), None, None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 2, 3)), np.array([[0, 4], [2, 0]]), rng.normal(size=(5, 3))], {"axis": 0}


def gather(params, indices, axis=0, name=None):
    return apply_op("Gather", [params, indices], name=name, axis=normalize_axes(axis, params.ndim)[0])


def slice_along(x, axis, start, end, step=1):
    """``x`` sliced along ``axis`` from ``start`` to ``end`` by a static ``step``, with bounds that may be
    run-time scalars, as ONNX Slice reads them: negative bounds count from the end, then they are clamped
    to the axis ([0, size] going forward, [−1, size − 1] going back). A gather at the computed positions, so
    the gradient is gather's."""
    size = cast(shape_of(x)[axis], _dt.int64)

    def bound(value, low, high):
        value = cast(convert_to_tensor(np.asarray(value) if not isinstance(value, Tensor) else value), _dt.int64)
        value = where(value < 0, value + size, value)
        return minimum(maximum(value, low), high)
    if step > 0:
        first, last = bound(start, 0, size), bound(end, 0, size)
    else:
        first, last = bound(start, 0, size - 1), bound(end, -1, size - 1)
    return gather(x, arange(first, last, np.asarray(step, np.int64)), axis)


@register
class Pad(Op):
    """Constant padding; ``pads`` is ((before, after), ...) per axis."""

    def infer(self, node):
        x, pads = node.inputs[0], node.attrs["pads"]
        if len(pads) != x.ndim:
            raise BuildError(f"pads {pads} must have one (before, after) pair per axis of {format_shape(x.shape)}")
        return [(x.dtype, tuple(None if d is None else d + a + b for d, (a, b) in zip(x.shape, pads)))]

    def compute(self, x, pads, value):
        return np.pad(x, pads, constant_values=value)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        key = tuple(("slice", a, -b if b else None, None) for a, b in node.attrs["pads"])
        return [apply_op("StridedSlice", [g], key=key)]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3))], {"pads": ((1, 0), (2, 1)), "value": 0.0}


def pad(x, pads, value=0.0, name=None):
    return apply_op("Pad", [x], name=name, pads=tuple((int(a), int(b)) for a, b in pads), value=float(value))


@register
class Tile(Op):
    """Repeat the whole tensor ``reps[i]`` times along each axis."""

    def infer(self, node):
        x, reps = node.inputs[0], node.attrs["reps"]
        if len(reps) != x.ndim:
            raise BuildError(f"reps {reps} must have one entry per axis of {format_shape(x.shape)}")
        return [(x.dtype, tuple(None if d is None else d * r for d, r in zip(x.shape, reps)))]

    def compute(self, x, reps):
        return np.tile(x, reps)

    def grad(self, node, output_grads, wanted):
        """g as (reps₀, d₀, reps₁, d₁, …), summed over the reps axes."""
        (g,) = output_grads
        x, reps = node.inputs[0], node.attrs["reps"]
        if sum(d is None for d in x.shape) <= 1:   # reshape infers one unknown size (None → -1)
            split_g = reshape(g, tuple(v for r, d in zip(reps, x.shape) for v in (r, d)))
        else:   # more: the interleaved shape is computed at run time from x's
            size = shape_of(x)
            parts = [part for i, r in enumerate(reps) for part in (convert_to_tensor(np.array([r], np.int64)),
                                                                    size[i:i + 1])]
            split_g = reshape_to(g, concat(parts, 0))
        # The sum is built by its registered type: reduce.py builds on this module, not the other way round.
        return [apply_op("ReduceSum", [split_g], axes=tuple(range(0, 2 * x.ndim, 2)), keepdims=False)]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3))], {"reps": (2, 3)}


def tile(x, reps, name=None):
    return apply_op("Tile", [x], name=name, reps=tuple(int(r) for r in reps))


@register
class ExpandDims(Op):
    """Insert size-1 axes at ``axes`` (positions in the output)."""

    def infer(self, node):
        x, axes = node.inputs[0], node.attrs["axes"]
        shape = list(x.shape)
        for a in sorted(axes):
            shape.insert(a, 1)
        return [(x.dtype, tuple(shape))]

    def compute(self, x, axes):
        return np.expand_dims(x, axes)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [reshape_like(g, node.inputs[0])]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3))], {"axes": (0, 3)}


def expand_dims(x, axis, name=None):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return apply_op("ExpandDims", [x], name=name, axes=normalize_axes(axes, x.ndim + len(axes)))


@register
class Squeeze(Op):
    """Remove size-1 axes."""

    def infer(self, node):
        x, axes = node.inputs[0], node.attrs["axes"]
        for a in axes:
            if x.shape[a] not in (1, None):
                raise BuildError(f"cannot squeeze axis {a} of size {x.shape[a]}")
        return [(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))]

    def compute(self, x, axes):
        return np.squeeze(x, axes)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [reshape_like(g, node.inputs[0])]

    def samples(self, rng):
        yield [rng.normal(size=(2, 1, 3, 1))], {"axes": (1, 3)}


def squeeze(x, axis=None, name=None):
    if axis is None:
        axis = tuple(i for i, d in enumerate(x.shape) if d == 1)
    return apply_op("Squeeze", [x], name=name, axes=normalize_axes(axis, x.ndim))


@register
class CheckIndices(Op):
    """Passes integer indices through unchanged, refusing at run time any outside [0, ``limit``): TF1's CPU
    kernels raise for an out-of-range class label or embedding id, where a one-hot row of zeros or a wrapped
    NumPy index would give a plausible, wrong result. Two passes (min, max) over the indices; the first bad
    one is located only when there is one."""

    def infer(self, node):
        indices = node.inputs[0]
        if indices.dtype.kind not in "iu":
            raise BuildError(f"{node.attrs['what']}s must be integers, got {indices.dtype.name}")
        return [(indices.dtype, indices.shape)]

    def make_kernel(self, node, runtime):
        limit, what = node.attrs["limit"], node.attrs["what"]

        def check(indices):
            if indices.size and (indices.min() < 0 or indices.max() >= limit):
                flat = indices.reshape(-1)
                first = int(np.flatnonzero((flat < 0) | (flat >= limit))[0])
                index = tuple(int(i) for i in np.unravel_index(first, indices.shape))
                article = "an" if what[0] in "aeiou" else "a"
                raise InvalidValueError(f"received {article} {what} value of {flat[first]} at index {index}, outside "
                                        f"the valid range of [0, {limit}): {node.attrs['fix']}", node)
            return indices
        return check

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [np.array([[0, 2], [1, 2]])], {"limit": 3, "what": "label", "fix": "3 classes"}


def check_indices(indices, limit, what, fix, name=None):
    """``indices``, checked at run time to lie in [0, limit) (see ``CheckIndices``)."""
    return apply_op("CheckIndices", [indices], name=name, limit=int(limit), what=what, fix=fix)


@register
class OneHot(Op):
    """One-hot rows of length ``depth`` for integer labels (labels carry no gradient)."""

    def infer(self, node):
        labels = node.inputs[0]
        if labels.dtype.kind not in "iu":
            raise BuildError(f"one_hot labels must be integers, got {labels.dtype.name}")
        return [(node.attrs["dtype"], labels.shape + (node.attrs["depth"],))]

    def compute(self, labels, depth, dtype):
        return (labels[..., None] == np.arange(depth)).astype(dtype)

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [np.array([0, 2, 1])], {"depth": 3, "dtype": _dt.float64}


def one_hot(labels, depth, dtype=_dt.float32, name=None):
    return apply_op("OneHot", [labels], name=name, depth=int(depth), dtype=_dt.as_dtype(dtype))
