"""Static shapes: tuples of ints with ``None`` for a dimension unknown until run time (usually the batch)."""
import numbers

from .errors import BuildError


def normalize_shape(shape):
    """A tuple of ``int | None`` from a tuple or list (TF1's ``[None, 784]``) of ints, ``None`` or -1 for an
    unknown size; a lone int is a 1-D shape. Sizes that are not whole numbers (``2.5``, ``"3"``, ``True``) or
    are negative are refused, naming the dimension, never truncated."""
    if shape is None:
        raise BuildError("a shape is required (use None only for single unknown dimensions)")
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise BuildError(f"a shape must be a tuple or list of sizes, got {shape!r}")
    shape = tuple(shape)
    dims = []
    for axis, d in enumerate(shape):
        if d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d == -1):
            dims.append(None)
        elif isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0:
            dims.append(int(d))
        elif isinstance(d, numbers.Integral) and not isinstance(d, bool):
            raise BuildError(f"negative dimension in shape {shape}: dimension {axis} is {d} (sizes are >= 0; "
                             "use None for a size known only at run time)")
        elif isinstance(d, float) and d.is_integer() and d >= 0:
            dims.append(int(d))
        else:
            raise BuildError(f"dimension {axis} of shape {shape} is {d!r}, not a whole number: sizes are ints "
                             "(or None for a size known only at run time)")
    return tuple(dims)


def format_shape(shape):
    """``(None, 4)`` → ``(?, 4)``: the notation used in every error message and diagram."""
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def format_type(dtype, shape):
    return f"{dtype.name}{format_shape(shape)}"


def is_fully_defined(shape):
    return all(d is not None for d in shape)


def num_elements(shape):
    """Number of elements of a fully known shape, or None."""
    if not is_fully_defined(shape):
        return None
    n = 1
    for d in shape:
        n *= d
    return n


def broadcast_shapes(*shapes):
    """NumPy broadcasting over static shapes; ``None`` broadcasts like an unknown size.

    Returns None when two known sizes clash, so the caller can report the clash with its own context.
    """
    rank = max(len(s) for s in shapes)
    result = []
    for axis in range(rank):
        dims = [s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            return None
        if known:
            result.append(known.pop())
        elif any(d is None for d in dims):
            result.append(None)
        else:
            result.append(1)
    return tuple(result)


def compatible(static, actual):
    """Whether a concrete shape fits a static one (same rank, known dims equal)."""
    return len(static) == len(actual) and all(s is None or s == a for s, a in zip(static, actual))


def normalize_axes(axes, rank, what="axis"):
    """Turn ``int | sequence | None`` into a sorted tuple of non-negative axes (None → all axes)."""
    if axes is None:
        return tuple(range(rank))
    if isinstance(axes, int):
        axes = (axes,)
    out = []
    for a in axes:
        if not -rank <= a < max(rank, 1):
            raise BuildError(f"{what} {a} is out of range for rank {rank}")
        out.append(a % rank if rank else 0)
    if len(set(out)) != len(out):
        raise BuildError(f"repeated {what} in {tuple(axes)}")
    return tuple(sorted(out))
