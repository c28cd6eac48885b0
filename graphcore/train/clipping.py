"""Gradient clipping against exploding gradients, composed from graph ops (so it renders and exports)."""
from ..compat import same_as
from ..ops.math import add_n, maximum, minimum, sqrt
from ..ops.reduce import reduce_sum


@same_as("TF1", "tf.global_norm")
def global_norm(tensors):
    """√(Σ‖t‖²) over all tensors (None entries skipped)."""
    return sqrt(add_n([reduce_sum(t * t) for t in tensors if t is not None]))


@same_as("TF1", "tf.clip_by_global_norm")
def clip_by_global_norm(tensors, clip_norm):
    """Scale all tensors by clip_norm / max(global_norm, clip_norm): directions kept, total norm ≤ clip_norm.
    Returns (clipped tensors, global norm)."""
    norm = global_norm(tensors)
    scale = clip_norm / maximum(norm, clip_norm)
    return [None if t is None else t * scale for t in tensors], norm


@same_as("TF1", "tf.clip_by_value")
def clip_by_value(tensor, low, high):
    """Elementwise clamp to [low, high]."""
    return minimum(maximum(tensor, low), high)
