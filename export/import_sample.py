"""GridSample: sampling an image at positions given as data (a spatial transformer's grid), composed.

Each output position reads its grid entry (x, y[, z], normalised to [−1, 1]), turns it into pixel
coordinates (``align_corners`` says whether ±1 are the corner pixels' centres or their outer edges), folds it
into the image by ``padding_mode`` (``border`` clamps, ``reflection`` mirrors; ``zeros`` leaves it; cubic
sampling folds its taps instead), and
interpolates from the pixels around it: the nearest one (rounded half to even), 2ⁿ neighbours weighted
linearly or 4ⁿ with Keys' cubic kernel (a = −0.75). A neighbour outside the image is 0 (``zeros``), the edge
pixel (``border``) or its mirror image (``reflection``). Every neighbour is a ``gather_elements`` from the
flattened image at indices computed in the graph, so the result differentiates in the image and, through
the weights, in the grid — what a spatial transformer trains.
"""
import itertools

import numpy as np

import graphcore as gc

from .import_math import round_half_even
from .import_registry import importer

CUBIC_A = -0.75


def _trunc(x):
    return gc.sign(x) * gc.floor(gc.abs(x))


def _reflect(x, low, high):
    """Mirror x at the nearer border until it lies in [low, high] (onnx's reference ``_gs_reflect``)."""
    span = high - low
    if span <= 0:
        return gc.minimum(gc.maximum(x, low), high)

    def fold(distance):
        turns = gc.floor(distance * (1.0 / span))
        rest = distance - turns * span
        even = gc.equal(turns - gc.floor(turns * 0.5) * 2.0, gc.zeros_like(turns))
        return rest, even
    rest_low, even_low = fold(low - x)
    rest_high, even_high = fold(x - high)
    from_low = gc.where(even_low, rest_low + low, high - rest_low)
    from_high = gc.where(even_high, high - rest_high, low + rest_high)
    return gc.where(x < low, from_low, gc.where(x > high, from_high, x))


def _cubic_weights(t):
    """Keys' cubic convolution weights of the four taps at offsets −1, 0, 1, 2 for a fraction t."""
    a = CUBIC_A
    def far(d):   # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    def near(d):   # |d| ≤ 1
        return ((a + 2) * d - (a + 3)) * d * d + 1
    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


def _taps(coordinate, mode):
    """[(index, weight)] along one axis: tap positions (floats holding integers) and their weights."""
    if mode == "nearest":
        return [(coordinate, None)]
    base = gc.floor(coordinate)
    t = coordinate - base
    if mode == "linear":
        return [(base, 1.0 - t), (base + 1.0, t)]
    return [(base + float(k), w) for k, w in zip((-1, 0, 1, 2), _cubic_weights(t))]


@importer("GridSample")
def _grid_sample(ctx, node, inputs):
    x, grid = ctx.tensor(inputs[0]), ctx.tensor(inputs[1])
    sizes = x.shape[2:]
    if None in sizes or x.shape[1] is None:
        raise node.error("GridSample needs known channel and spatial sizes")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(node.attr("mode", "linear"), node.attr("mode", "linear"))
    padding, corners = node.attr("padding_mode", "zeros"), bool(node.attr("align_corners", 0))
    n = len(sizes)
    per_axis = []
    for axis, size in enumerate(sizes):
        g = grid[(Ellipsis, n - 1 - axis)]   # grid components are (x, y, z): the last image axis first
        coordinate = (g + 1.0) * (0.5 * (size - 1)) if corners else ((g + 1.0) * size - 1.0) * 0.5
        if mode == "nearest":
            coordinate = round_half_even(coordinate)
        low, high = (0.0, size - 1.0) if corners else (-0.5, size - 0.5)
        # Cubic folds each of its taps, not the coordinate (as onnxruntime and torch do; onnx's reference folds
        # the coordinate too, which no node case tests).
        if padding == "border" and mode != "cubic":
            coordinate = gc.minimum(gc.maximum(coordinate, 0.0), size - 1.0)
        elif padding == "reflection" and mode != "cubic":
            coordinate = _reflect(coordinate, low, high)
        per_axis.append([(_pixel(index, size, padding, low, high), w) for index, w in _taps(coordinate, mode)])
    flat = gc.reshape(x, (-1, x.shape[1], int(np.prod(sizes))))
    out_shape = grid.shape[1:-1]
    strides = [int(np.prod(sizes[i + 1:])) for i in range(n)]
    total = None
    for combination in itertools.product(*per_axis):
        index, inside, weight = None, None, None
        for ((position, valid), w), stride in zip(combination, strides):
            term = position * float(stride)
            index = term if index is None else index + term
            inside = valid if inside is None else (inside if valid is None else gc.logical_and(inside, valid))
            weight = w if weight is None else (weight if w is None else weight * w)
        values = _gather(flat, index, out_shape)
        if inside is not None:
            values = gc.where(gc.expand_dims(inside, 1), values, 0.0)
        if weight is not None:
            values = values * gc.expand_dims(weight, 1)
        total = values if total is None else total + values
    return [total]


def _pixel(index, size, padding, low, high):
    """(clamped index, in-image mask or None): the pixel a tap reads under ``padding``."""
    if padding == "zeros":
        inside = gc.logical_and(index >= 0.0, index <= size - 1.0)
        return gc.minimum(gc.maximum(index, 0.0), size - 1.0), inside
    if padding == "border":
        return gc.minimum(gc.maximum(index, 0.0), size - 1.0), None
    return gc.minimum(gc.maximum(_trunc(_reflect(index, low, high)), 0.0), size - 1.0), None


def _gather(flat, index, out_shape):
    """flat (N, C, P) read at integer-valued float positions (N, *out) → (N, C, *out)."""
    positions = gc.reshape(gc.cast(index, gc.int64), (-1, 1, int(np.prod(out_shape))))
    wide = gc.expand(positions, gc.concat([gc.shape_of(flat)[:2], gc.shape_of(positions)[2:]], 0))
    picked = gc.gather_elements(flat, wide, 2)
    return gc.reshape(picked, (-1, flat.shape[1]) + tuple(out_shape))
