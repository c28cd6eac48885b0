"""Import rules for ONNX's loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, composed.

Both pick each example's (and each spatial position's) class score with a one-hot mask over the class axis 1,
weight it by the class weight, leave out ``ignore_index`` positions, and reduce: ``mean`` divides by the sum
of the weights used, as ONNX (and PyTorch) do.
"""
import numpy as np

import graphcore as gc

from .import_math import scalar
from .import_registry import importer


def _nll(ctx, node, log_prob, target, weight):
    classes = log_prob.shape[1]
    target = gc.cast(target, gc.int64)
    ignore = node.attr("ignore_index")
    valid = gc.not_equal(target, np.int64(ignore)) if ignore is not None else None
    safe = gc.where(valid, target, 0) if valid is not None else target
    hot = gc.one_hot(safe, classes, log_prob.dtype)                       # (N, d…, C)
    hot = gc.transpose(hot, (0, hot.ndim - 1) + tuple(range(1, hot.ndim - 1))) if hot.ndim > 2 else hot
    picked = gc.reduce_sum(log_prob * hot, 1)                             # (N, d…)
    w = gc.gather(ctx.tensor(weight), safe) if weight is not None else gc.ones_like(picked)
    if valid is not None:
        w = gc.where(valid, w, scalar(0, picked))
    loss = -picked * w
    reduction = node.attr("reduction", "mean")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return gc.reduce_sum(loss)
    return gc.reduce_sum(loss) / gc.reduce_sum(w)


@importer("NegativeLogLikelihoodLoss")
def _negative_log_likelihood(ctx, node, inputs):
    weight = inputs[2] if len(inputs) > 2 else None
    return [_nll(ctx, node, ctx.tensor(inputs[0]), ctx.tensor(inputs[1]), weight)]


@importer("SoftmaxCrossEntropyLoss")
def _softmax_cross_entropy(ctx, node, inputs):
    log_prob = gc.log_softmax(ctx.tensor(inputs[0]), 1)
    weight = inputs[2] if len(inputs) > 2 else None
    return [_nll(ctx, node, log_prob, ctx.tensor(inputs[1]), weight), log_prob]
