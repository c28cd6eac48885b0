"""Ops whose output *size* depends on the values (ONNX NonZero, Unique, NonMaxSuppression): their shape rules
leave that size unknown (``None``) and everything downstream infers from there, as for a batch size.

All three output integer positions, which carry no gradient; a value selected by them (``Compress``,
``Unique``'s values) is a gather of the input, composed where it is used, so it differentiates as a gather.
"""
import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError
from ..op import Op, apply_op, register


@register
class NonZero(Op):
    """The positions of the nonzero elements, one column each: an int64 (rank, count) matrix in row-major
    order (ONNX NonZero, NumPy's ``nonzero`` stacked)."""

    data_dependent_shape = True   # the shape rule leaves the data-dependent size unknown

    def infer(self, node):
        return [(_dt.int64, (node.inputs[0].ndim, None))]

    def compute(self, x):
        if x.ndim == 0:   # a scalar has no axes to hold positions: (0, 1) if it is nonzero, else (0, 0)
            return np.zeros((0, int(bool(x))), np.int64)
        return np.array(np.nonzero(x), dtype=np.int64)

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [rng.normal(size=(3, 4)) > 0], {}


def nonzero(x, name=None):
    return apply_op("NonZero", [x], name=name)


@register
class UniqueIndices(Op):
    """ONNX Unique's three index outputs for ``x`` (flattened when ``axis`` is None, else slices along it):
    the index of each distinct value's first occurrence, each element's index into the distinct values, and
    the counts. ``ordered``: distinct values ascending (else in order of first occurrence). The distinct
    values themselves are ``gather(x, indices)``, so they differentiate."""

    data_dependent_shape = True   # the shape rule leaves the data-dependent size unknown

    def infer(self, node):
        x, axis = node.inputs[0], node.attrs["axis"]
        length = (None if None in x.shape else int(np.prod(x.shape))) if axis is None else x.shape[axis]
        return [(_dt.int64, (None,)), (_dt.int64, (length,)), (_dt.int64, (None,))]

    def compute(self, x, axis, ordered):
        flat = x.reshape(-1) if axis is None else x
        _, first, inverse, counts = np.unique(flat, True, True, True, axis=axis)
        inverse = inverse.reshape(-1)
        if not ordered:   # renumber the distinct values by first occurrence
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            first, counts, inverse = first[order], counts[order], rank[inverse]
        return first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        x = np.array([[2.0, 1.0, 2.0], [3.0, 1.0, 1.0]])
        yield [x], {"axis": None, "ordered": True}
        yield [x], {"axis": None, "ordered": False}
        yield [np.array([[1, 0], [1, 0], [2, 3]])], {"axis": 0, "ordered": True}


def unique_indices(x, axis=None, ordered=True, name=None):
    return apply_op("UniqueIndices", [x], name=name, axis=None if axis is None else int(axis) % x.ndim,
                    ordered=bool(ordered))


@register
class NonMaxSuppression(Op):
    """ONNX NonMaxSuppression: per batch and class, boxes in descending score order (ties: lower index
    first) above ``score_threshold`` (when given), each kept unless its IoU with a kept box of that class
    exceeds ``iou_threshold``, at most ``max_output`` per class; rows (batch, class, box) as int64.
    Boxes are corners [y1, x1, y2, x2] (either order) or, with ``center_point_box``, [x, y, w, h]."""

    data_dependent_shape = True   # the shape rule leaves the data-dependent size unknown

    def infer(self, node):
        boxes, scores = node.inputs
        if boxes.ndim != 3 or scores.ndim != 3 or (boxes.shape[2] not in (4, None)):
            raise BuildError(f"boxes must be (batch, boxes, 4) and scores (batch, classes, boxes), got "
                             f"{boxes.shape} and {scores.shape}")
        return [(_dt.int64, (None, 3))]

    def compute(self, boxes, scores, max_output, iou_threshold, score_threshold, center_point_box):
        corners = _corners(boxes.astype(np.float64), center_point_box)
        rows = []
        for b in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                s = scores[b, c]
                candidates = [i for i in range(len(s)) if score_threshold is None or s[i] > score_threshold]
                candidates.sort(key=lambda i: (-s[i], i))
                kept = []
                for i in candidates:
                    if len(kept) >= max_output:
                        break
                    if all(_iou(corners[b, i], corners[b, j]) <= iou_threshold for j in kept):
                        kept.append(i)
                rows += [(b, c, i) for i in kept]
        return np.array(rows, dtype=np.int64).reshape(-1, 3)

    def grad(self, node, output_grads, wanted):
        return [None, None]

    def samples(self, rng):
        boxes = np.array([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 10, 1, 11], [0, 100, 1, 101.0]]])
        scores = np.array([[[0.9, 0.75, 0.6, 0.3]]])
        yield [boxes, scores], {"max_output": 3, "iou_threshold": 0.5, "score_threshold": 0.0, "center_point_box": 0}


def _corners(boxes, center_point_box):
    """(x_min, y_min, x_max, y_max) of every box."""
    if center_point_box:
        x, y, w, h = np.moveaxis(boxes, -1, 0)
        return np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], -1)
    y1, x1, y2, x2 = np.moveaxis(boxes, -1, 0)
    return np.stack([np.minimum(x1, x2), np.minimum(y1, y2), np.maximum(x1, x2), np.maximum(y1, y2)], -1)


def _iou(a, b):
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if area_a > 0 and area_b > 0 and union > 0 else 0.0


def non_max_suppression(boxes, scores, max_output, iou_threshold=0.0, score_threshold=None, center_point_box=0,
                        name=None):
    return apply_op("NonMaxSuppression", [boxes, scores], name=name, max_output=int(max_output),
                    iou_threshold=float(iou_threshold),
                    score_threshold=None if score_threshold is None else float(score_threshold),
                    center_point_box=int(center_point_box))
