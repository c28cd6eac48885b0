"""Fused neural-network ops.

Softmax and log-softmax are fused for numerical stability (exp/sum/log composed naively overflows for large
logits); dropout and batch normalisation because their behaviour switches between training and inference at
run time, so one graph serves both. Everything else (losses, the notes' activations) is composed from
primitives in ``graphcore.activations`` and ``graphcore.losses``.
"""
import numpy as np

from ..errors import BuildError
from ..op import Op, apply_op, register, require_float
from ..shapes import normalize_axes
from .array import reshape
from .math import cast, exp, identity, rsqrt, size, zeros_like
from .reduce import reduce_sum


class SoftmaxBase(Op):
    def infer(self, node):
        require_float(node)
        x = node.inputs[0]
        return [(x.dtype, x.shape)]

    def samples(self, rng):
        yield [rng.normal(size=(3, 5))], {"axis": 1}
        yield [rng.normal(size=(2, 3, 4))], {"axis": 0}


@register
class Softmax(SoftmaxBase):
    """exp(x − max) / Σ exp(x − max) along ``axis``."""

    def compute(self, x, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        e /= e.sum(axis=axis, keepdims=True)
        return e

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        y, axis = node.outputs[0], node.attrs["axis"]
        return [y * (g - reduce_sum(g * y, axis, keepdims=True))]


@register
class LogSoftmax(SoftmaxBase):
    """x − max − log Σ exp(x − max): finite for logits of any size."""

    def compute(self, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        y, axis = node.outputs[0], node.attrs["axis"]
        return [g - exp(y) * reduce_sum(g, axis, keepdims=True)]


def softmax(x, axis=-1, name=None):
    return apply_op("Softmax", [x], name=name, axis=normalize_axes(axis, x.ndim)[0])


def log_softmax(x, axis=-1, name=None):
    return apply_op("LogSoftmax", [x], name=name, axis=normalize_axes(axis, x.ndim)[0])


# ----- training-switched ops: one graph serves training and inference ------------------------------------

@register
class Dropout(Op):
    """Inverted dropout: in training, zero each element with probability ``rate`` and scale the survivors by
    1/(1 − rate) (rate 1/3 → ×1.5); in inference, the identity. Inputs: x and the bool ``training`` switch.
    Outputs: y and the mask it used (the gradient is g · mask)."""

    stateful = True

    def infer(self, node):
        require_float(node, 0)
        x, training = node.inputs
        if training.dtype != np.bool_ or training.shape != ():
            raise BuildError(f"the training switch must be a bool scalar, got {training.dtype.name}{training.shape}")
        return [(x.dtype, x.shape), (x.dtype, x.shape)]

    def make_kernel(self, node, runtime):
        rng, rate = runtime.generator(node), node.attrs["rate"]

        def dropout(x, training):
            if not training or rate == 0:
                return x, np.broadcast_to(np.ones((), x.dtype), x.shape)
            mask = rng.random(x.shape, dtype=x.dtype) >= rate
            mask = mask.astype(x.dtype)
            mask *= x.dtype.type(1.0 / (1.0 - rate))
            return x * mask, mask
        return dropout

    def grad(self, node, output_grads, wanted):
        g = output_grads[0]     # the mask is drawn at random: its own gradient reaches nothing
        return [None if g is None else g * node.outputs[1], None]

    def samples(self, rng):
        yield [rng.normal(size=(4, 6)), np.array(True)], {"rate": 1 / 3, "seed": 0}
        yield [rng.normal(size=(4, 6)), np.array(False)], {"rate": 0.5, "seed": 0}


def dropout(x, rate, training, seed=None, name=None):
    """Inverted dropout switched by the bool scalar tensor ``training``; returns y."""
    if not 0 <= rate < 1:
        raise BuildError(f"dropout rate must be in [0, 1), got {rate}")
    return apply_op("Dropout", [x, training], name=name, rate=float(rate), seed=seed)[0]


@register
class BatchNorm(Op):
    """Batch normalisation over every axis but ``axis`` (the channels).

    Inputs: x, gamma, beta, moving_mean, moving_var, training (bool scalar). Outputs: y and the mean and
    variance used — the batch's (biased variance) in training, the moving ones in inference — so the
    moving-average update ``m ← μ·m + (1 − μ)·used`` is a no-op in inference. One formula gives the gradient
    in both modes: dx = γ·r·(g − t·(mean(g) + x̂·mean(g·x̂))) with t = 1 in training, 0 in inference.
    """

    def infer(self, node):
        require_float(node, 0, 1, 2, 3, 4)
        x = node.inputs[0]
        axis = node.attrs["axis"]
        channels = (x.shape[axis],)
        for t in node.inputs[1:5]:
            if t.shape != channels:
                raise BuildError(f"{t.name} must have shape {channels} (the channel axis {axis} of x)")
        return [(x.dtype, x.shape), (x.dtype, channels), (x.dtype, channels)]

    def compute(self, x, gamma, beta, moving_mean, moving_var, training, axis, epsilon):
        reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
        shape = [1] * x.ndim
        shape[axis] = -1
        if training:
            mean = x.mean(axis=reduce_axes, dtype=x.dtype)
            var = x.var(axis=reduce_axes, dtype=x.dtype)
        else:
            mean, var = moving_mean, moving_var
        scale = gamma / np.sqrt(var + x.dtype.type(epsilon))
        y = x * scale.reshape(shape)
        y += (beta - mean * scale).reshape(shape)
        return y, mean, var

    def grad(self, node, output_grads, wanted):
        g, g_mean, g_var = output_grads
        x, gamma, _, _, _, training = node.inputs
        y, mean, var = node.outputs
        if g_mean is None and g_var is None:   # the usual case: nothing differentiates the statistics used
            dx, d_gamma, d_beta, d_mean, d_var = apply_op("BatchNormGrad", [g, x, gamma, mean, var, training],
                                                          **node.attrs)
            return [dx, d_gamma, d_beta, d_mean, d_var, None]
        g = zeros_like(y) if g is None else g   # only the statistics are differentiated: the formula needs a g
        return list(batch_norm_grad(g, x, gamma, mean, var, training, g_mean, g_var, **node.attrs)) + [None]

    def samples(self, rng):
        c = 3
        params = [rng.uniform(0.5, 1.5, size=c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, size=c)]
        for training in (True, False):
            yield [rng.normal(size=(4, c, 2, 2))] + params + [np.array(training)], {"axis": 1, "epsilon": 1e-3}


def batch_norm_grad(g, x, gamma, mean, var, training, g_mean=None, g_var=None, axis=1, epsilon=1e-3):
    """BatchNorm's input gradients (dx, dγ, dβ, d moving mean, d moving variance) in primitive ops, the
    chain rule through the statistics used: in training they depend on x; in inference they are the moving
    statistics (inputs 3 and 4). t ∈ {0, 1} selects between the two without branching. ``g_mean`` and
    ``g_var`` are gradients arriving at the statistics outputs, if any."""
    reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
    shape = tuple(-1 if i == axis else 1 for i in range(x.ndim))
    rstd = rsqrt(var + epsilon)
    centered = x - reshape(mean, shape)
    xhat = centered * reshape(rstd, shape)
    t = cast(training, x.dtype)
    count = size(x, x.dtype) / size(mean, x.dtype)
    d_mean = -reduce_sum(g, reduce_axes) * gamma * rstd
    d_var = reduce_sum(g * centered, reduce_axes) * gamma * (-0.5) * rstd * rstd * rstd
    d_mean = d_mean if g_mean is None else d_mean + g_mean
    d_var = d_var if g_var is None else d_var + g_var
    through_statistics = reshape(d_mean, shape) + 2.0 * centered * reshape(d_var, shape)
    dx = g * reshape(gamma * rstd, shape) + t * through_statistics / count
    return dx, reduce_sum(g * xhat, reduce_axes), reduce_sum(g, reduce_axes), (1.0 - t) * d_mean, (1.0 - t) * d_var


@register
class BatchNormGrad(Op):
    """BatchNorm's gradient as one op (``batch_norm_grad`` composes the same from primitives, ~25 nodes):
    inputs g, x, γ, the mean and variance used (BatchNorm's outputs 1 and 2) and the training switch;
    outputs dx, dγ, dβ and the gradients of the moving mean and variance (zero in training).

    One node lets the interpreter run one kernel and the exporter write the compact form (a handful of ONNX
    nodes instead of one per primitive). Its own gradient differentiates ``batch_norm_grad``."""

    def infer(self, node):
        require_float(node, 0, 1, 2, 3, 4)
        g, x, gamma = node.inputs[:3]
        if g.shape != x.shape and None not in g.shape + x.shape:
            raise BuildError(f"the gradient {g.shape} must have x's shape {x.shape}")
        channels = gamma.shape
        return [(x.dtype, x.shape)] + [(x.dtype, channels)] * 4

    def compute(self, g, x, gamma, mean, var, training, axis, epsilon):
        reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
        shape = [1] * x.ndim
        shape[axis] = -1
        rstd = 1 / np.sqrt(var + x.dtype.type(epsilon))
        centered = x - mean.reshape(shape)
        sum_g = g.sum(axis=reduce_axes)
        sum_gc = (g * centered).sum(axis=reduce_axes)
        d_mean = -sum_g * gamma * rstd
        d_var = sum_gc * gamma * x.dtype.type(-0.5) * rstd * rstd * rstd
        dx = g * (gamma * rstd).reshape(shape)
        if training:
            count = x.dtype.type(x.size / mean.size)
            dx += (d_mean.reshape(shape) + x.dtype.type(2) * centered * d_var.reshape(shape)) / count
            d_mean, d_var = np.zeros_like(d_mean), np.zeros_like(d_var)
        return dx, sum_gc * rstd, sum_g, d_mean, d_var

    def formula(self, node, inputs):
        """``batch_norm_grad`` in primitive ops: BatchNormGrad's own gradient (second order) is that formula's."""
        return batch_norm_grad(*inputs, **node.attrs)

    def samples(self, rng):
        c = 3
        x = rng.normal(size=(4, c, 2, 2))
        for training in (True, False):
            mean, var = (x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))) if training else \
                (rng.normal(size=c), rng.uniform(0.5, 2, size=c))
            yield [rng.normal(size=x.shape), x, rng.uniform(0.5, 1.5, size=c), mean, var, np.array(training)], \
                {"axis": 1, "epsilon": 1e-3}


def batch_norm(x, gamma, beta, moving_mean, moving_var, training, axis=1, epsilon=1e-3, name=None):
    """Returns (y, mean used, variance used); see ``BatchNorm``."""
    return apply_op("BatchNorm", [x, gamma, beta, moving_mean, moving_var, training], name=name,
                    axis=axis, epsilon=float(epsilon))
