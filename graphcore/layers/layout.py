"""Image layouts, in one place: users (and Keras, and ``tf.nn``) see images NHWC (batch, height, width,
channels); graphcore's convolution and pooling ops compute NCHW, as ONNX does.

The layout pass: a layer call converts its image inputs with ``to_internal`` and its image outputs with
``to_user``, and ``to_internal`` of a tensor that ``to_user`` made returns the NCHW tensor it came from
instead of transposing back. So between two layers no transpose runs: the NHWC transpose a layer leaves
behind is computed only if something reads it (the interpreter and the exporter only run the ancestors of
what is fetched), and a stack of layers costs one transpose at the input and one at the output.

The layers' output transposes are recorded per graph (``layout_transposes``: the diagrams leave out the ones
nothing reads), and the graph is told to leave them out of random ops' seed positions, so seeded programs
draw the same numbers whether or not a layer's NHWC output is materialised.
"""
import weakref

from ..ops.array import Transpose, transpose

TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
_LAYOUT_TRANSPOSES = weakref.WeakKeyDictionary()   # graph → ids of the layers' NHWC output transposes


def _undone(x, perm):
    """The input of ``x`` if ``x`` is the transpose ``perm`` (so transposing back would undo it), else None."""
    node = x.node
    if isinstance(node.op, Transpose) and tuple(node.attrs["perm"]) == perm:
        return node.inputs[0]
    return None


def internal_of(x):
    """The NCHW tensor an NHWC tensor was transposed from, or None."""
    return _undone(x, TO_NHWC)


def to_internal(x):
    """A user (NHWC) image tensor as the NCHW tensor layers compute on; other ranks as they are."""
    if x.ndim != 4:
        return x
    inner = internal_of(x)
    return inner if inner is not None else transpose(x, TO_NCHW)


def to_user(x, layout=False, name=None):
    """An NCHW image tensor in the user's NHWC layout; other ranks as they are. ``layout``: the transpose is
    a layer's output, which the next layer skips; it is recorded so seeded draws do not count it."""
    if x.ndim != 4:
        return x
    outer = _undone(x, TO_NCHW)
    if outer is not None:
        return outer
    y = transpose(x, TO_NHWC, name=name)
    if layout:
        _LAYOUT_TRANSPOSES.setdefault(y.graph, set()).add(y.node.id)
        y.graph.seed_skipped_ids.append(y.node.id)
    return y


def layout_transposes(graph):
    """The ids of the NHWC transposes the layers' outputs left in ``graph``."""
    return frozenset(_LAYOUT_TRANSPOSES.get(graph, ()))
