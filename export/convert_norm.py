"""Batch normalisation, forward in both modes and backward, in a handful of ONNX nodes each.

ONNX's BatchNormalization normalises with statistics it is given. Its training mode is no use to a portable
step: onnxruntime's CUDA kernel ignores it at opset 15 (it runs cuDNN's training mode only when all five
outputs of the opset-9 form are asked for) and cuDNN's moving variance is the unbiased one. So in training
the converter computes the batch statistics (mean, then the mean square of x − mean, as graphcore's kernel
does) and hands them to BatchNormalization, which applies the per-channel affine map in one node; x − mean
is itself a BatchNormalization with unit scale and variance (five nodes in all):

    mean = ReduceMean(x), centered = x − mean, var = ReduceMean(centered²),
    y = BatchNormalization(x, γ, β, mean, var)

The backward (graphcore's fused ``BatchNormGrad``) in training on the channel axis is the closed form, with
x̂ = (x − mean)/σ again one BatchNormalization of x (nine nodes):

    dβ = Σ g,   dγ = Σ g·x̂,   dx = γ·(g − x̂·mean(g·x̂) − mean(g))/σ

whose last step is one more BatchNormalization (mean(g) as its mean, var as its variance), so σ = √(var+ε)
is never spelled out. Other axes, epsilons below cuDNN's minimum and a fed learning phase use the general
form, with s = γ/σ:

    dβ = Σ g,   dγ = Σ g·centered / σ,   dx = s·g − s·dβ/M − centered·s·dγ/(M·σ)

where s·g + shift is again one BatchNormalization (``per_channel_affine``) and ``centered`` is the forward's
value (the same nodes, merged by ``optimize``'s common-subexpression pass). In inference dx = s·g.
"""
import numpy as np
from onnx import helper

from .convert_math import fill
from .convert_nn import switched, training_switch
from .registry import ExportError, converter

# onnxruntime's CUDA provider clamps BatchNormalization's epsilon to cuDNN's minimum, 1e-5: a smaller one
# would silently change the numbers on a GPU, so such layers compose the affine map from Mul and Add.
CUDNN_MIN_EPSILON = 1e-5
# ``per_channel_affine``'s epsilon: a power of two, so (1 − ε) + ε is exactly 1 in float32 and float64.
UNIT_EPSILON = 2.0 ** -16


@converter("BatchNorm")
def _batch_norm(ctx, node):
    """Inference: BatchNormalization with the moving statistics (onnxruntime folds it into a preceding
    Conv), whose 'mean/variance used' outputs are the moving statistics themselves. Training: the batch's
    mean and biased variance, then the same normalisation with them."""
    x, gamma, beta, mean, var, _ = node.inputs
    axis, eps = node.attrs["axis"], node.attrs["epsilon"]
    switch = training_switch(ctx, node)
    if switch is False and axis != 1:
        _affine_of_constants(ctx, node, x, gamma, beta, mean, var, axis, eps)
    else:
        used_mean = switched(ctx, switch, lambda: _reduce(ctx, node, "ReduceMean", ctx.input(x)),
                             lambda: ctx.input(mean), out=node.outputs[1])
        used_var = switched(ctx, switch, lambda: _batch_variance(ctx, node, used_mean), lambda: ctx.input(var),
                            out=node.outputs[2])
        _normalized(ctx, node, used_mean, used_var)
    if switch is False:
        ctx.alias(node.outputs[1], ctx.input(mean))
        ctx.alias(node.outputs[2], ctx.input(var))


def _batch_variance(ctx, node, mean):
    centered = _centered(ctx, node, ctx.input(node.inputs[0]), mean)
    return _reduce(ctx, node, "ReduceMean", ctx.emit("Mul", [centered, centered]))


def _normalized(ctx, node, mean, var):
    """y = γ·(x − mean)/√(var + ε) + β: one BatchNormalization on the channel axis, else composed."""
    x, gamma, beta = node.inputs[:3]
    axis, eps = node.attrs["axis"], node.attrs["epsilon"]
    if axis == 1 and eps >= CUDNN_MIN_EPSILON:
        ctx.emit("BatchNormalization", [ctx.input(x), ctx.input(gamma), ctx.input(beta), mean, var],
                 out=node.outputs[0], epsilon=eps)
        return
    scale = ctx.emit("Div", [ctx.input(gamma), _std(ctx, node, var)])
    shift = ctx.emit("Sub", [ctx.input(beta), ctx.emit("Mul", [mean, scale])])
    per_channel_affine(ctx, node, ctx.input(x), scale, shift, out=node.outputs[0])


def _affine_of_constants(ctx, node, x, gamma, beta, mean, var, axis, eps):
    """Inference off axis 1 (ONNX normalises axis 1 only): y = x·scale + shift, folded to two constants."""
    values = [ctx.value(t) for t in (gamma, beta, mean, var)]
    if any(v is None for v in values):
        raise ExportError(f"BatchNorm over axis {axis} needs constant parameters to export", node)
    g, b, m, v = values
    scale = g / np.sqrt(v + x.dtype.type(eps))
    shape = [-1 if i == axis else 1 for i in range(x.ndim)]
    scaled = ctx.emit("Mul", [ctx.input(x), ctx.const(scale.reshape(shape), f"{node.name}/scale")])
    ctx.emit("Add", [scaled, ctx.const((b - m * scale).reshape(shape), f"{node.name}/shift")], out=node.outputs[0])


@converter("BatchNormGrad")
def _batch_norm_grad(ctx, node):
    g, x, gamma, mean, var, _ = node.inputs
    axis, eps = node.attrs["axis"], node.attrs["epsilon"]
    if training_switch(ctx, node) is True and axis == 1 and eps >= CUDNN_MIN_EPSILON:
        _training_grad_in_batch_norms(ctx, node)
        return
    dx, d_gamma, d_beta = node.outputs[:3]
    switch = training_switch(ctx, node)
    sum_g = _reduce(ctx, node, "ReduceSum", ctx.input(g), out=d_beta)
    centered = _centered(ctx, node, ctx.input(x), ctx.input(mean))
    sum_gc = _reduce(ctx, node, "ReduceSum", ctx.emit("Mul", [ctx.input(g), centered]))
    std = _std(ctx, node, ctx.input(var))
    d_gamma_value = ctx.emit("Div", [sum_gc, std], out=d_gamma)
    scale = ctx.emit("Div", [ctx.input(gamma), std])
    if switch is False:
        per_channel_affine(ctx, node, ctx.input(g), scale, None, out=dx)
    else:
        count = _count(ctx, node)
        if isinstance(count, int):
            inverse, minus_inverse = _scalar(ctx, node, 1 / count, "inverse"), _scalar(ctx, node, -1 / count, "minus")
        else:
            inverse = ctx.emit("Reciprocal", [count])
            minus_inverse = ctx.emit("Neg", [inverse])
        shift = ctx.emit("Mul", [scale, ctx.emit("Mul", [sum_g, minus_inverse])])
        slope = ctx.emit("Mul", [ctx.emit("Div", [scale, std]), ctx.emit("Mul", [d_gamma_value, inverse])])
        if switch is not True:   # a fed switch: both terms vanish in inference
            t = ctx.emit("Cast", [switch], to=helper.np_dtype_to_tensor_dtype(x.dtype))
            shift, slope = ctx.emit("Mul", [shift, t]), ctx.emit("Mul", [slope, t])
        affine = per_channel_affine(ctx, node, ctx.input(g), scale, shift)
        ctx.emit("Sub", [affine, ctx.emit("Mul", [centered, _per_channel(ctx, node, slope)])], out=dx)
    _moving_statistics_grads(ctx, node, switch, sum_g, sum_gc, scale, std)


def _training_grad_in_batch_norms(ctx, node):
    """The training backward on the channel axis in nine nodes, with x̂ = (x − mean)/σ and M values per channel:

        dβ = Σ g,   dγ = Σ g·x̂,   dx = γ·(u − mean(g))/σ   where u = g − x̂·mean(g·x̂)

    The last is one BatchNormalization of u with mean(g) as its mean and the batch variance as its variance,
    so σ is never spelled out; x̂ is another (of x with unit scale), the forward's own normalisation."""
    g, x, gamma, mean, var, _ = node.inputs
    dx, d_gamma, d_beta = node.outputs[:3]
    eps, count = node.attrs["epsilon"], _count(ctx, node)
    zeros = _channel_const(ctx, node, 0, "zeros")
    x_hat = ctx.emit("BatchNormalization", [ctx.input(x), _channel_const(ctx, node, 1, "ones"), zeros,
                                            ctx.input(mean), ctx.input(var)], epsilon=eps)
    sum_g = _reduce(ctx, node, "ReduceSum", ctx.input(g), out=d_beta)
    g_x_hat = ctx.emit("Mul", [ctx.input(g), x_hat])
    _reduce(ctx, node, "ReduceSum", g_x_hat, out=d_gamma)
    mean_g = ctx.emit("Mul", [sum_g, _scalar(ctx, node, 1 / count, "inverse")]) if isinstance(count, int) \
        else _reduce(ctx, node, "ReduceMean", ctx.input(g))
    mean_g_x_hat = _reduce(ctx, node, "ReduceMean", g_x_hat, keepdims=1)      # (1, C, 1, ...): broadcasts
    u = ctx.emit("Sub", [ctx.input(g), ctx.emit("Mul", [x_hat, mean_g_x_hat])])
    ctx.emit("BatchNormalization", [u, ctx.input(gamma), zeros, mean_g, ctx.input(var)], out=dx, epsilon=eps)
    _moving_statistics_grads(ctx, node, True, None, None, None, None)


def _moving_statistics_grads(ctx, node, switch, sum_g, sum_gc, scale, std):
    """d moving mean = −Σg·s and d moving variance = −½·Σ(g·centered)·s/(var+ε), in inference; zero in
    training. Emitted only when something reads them (a training step never does)."""
    d_mean, d_var = node.outputs[3:]
    if not (ctx.is_read(d_mean) or ctx.is_read(d_var)):
        return
    dtype, dims = node.inputs[0].dtype, ctx.dims(d_mean)
    zero = (ctx.const(np.zeros(dims, dtype), f"{node.name}/zeros") if None not in dims
            else fill(ctx, ctx.shape(node.inputs[2]), 0, dtype))   # gamma's shape, known only at run time
    switched(ctx, switch, lambda: zero, lambda: ctx.emit("Neg", [ctx.emit("Mul", [sum_g, scale])]), out=d_mean)
    half = _scalar(ctx, node, -0.5, "minus_half")
    switched(ctx, switch, lambda: zero,
             lambda: ctx.emit("Mul", [ctx.emit("Div", [ctx.emit("Mul", [sum_gc, scale]), ctx.emit("Mul", [std, std])]),
                                      half]), out=d_var)


# ----- pieces shared by the forward and backward converters (emitted alike, so the CSE pass merges them) ----
# node.inputs[0] is the forward's x or the backward's g: the same shape and dtype.

def _reduce(ctx, node, op_type, value, out=None, keepdims=0):
    """A reduction over every axis but the channels: (C,), or with ``keepdims`` shaped to broadcast."""
    axis, rank = node.attrs["axis"], node.inputs[0].ndim
    axes = ctx.const(np.array([i for i in range(rank) if i != axis], np.int64), f"{node.name}/axes")
    return ctx.emit(op_type, [value, axes], out=out, keepdims=keepdims)


def _per_channel(ctx, node, value):
    """A (C,) value shaped to broadcast along the channel axis."""
    axis, rank = node.attrs["axis"], node.inputs[0].ndim
    shape = ctx.const(np.array([-1 if i == axis else 1 for i in range(rank)], np.int64), f"{node.name}/shape")
    return ctx.emit("Reshape", [value, shape])


def _centered(ctx, node, x, mean):
    """x − mean: on the channel axis one BatchNormalization with unit scale (no reshape of the (C,) mean)."""
    if node.attrs["axis"] == 1:
        unit_variance = _channel_const(ctx, node, 1 - UNIT_EPSILON, "unit_variance")
        return ctx.emit("BatchNormalization", [x, _channel_const(ctx, node, 1, "ones"),
                                               _channel_const(ctx, node, 0, "zeros"), mean, unit_variance],
                        epsilon=UNIT_EPSILON)
    return ctx.emit("Sub", [x, _per_channel(ctx, node, mean)])


def _channel_const(ctx, node, value, hint):
    """A (C,) constant for the channel axis (axis 1)."""
    channels = ctx.dims(node.inputs[0])[1]
    return ctx.const(np.full(channels, value, node.inputs[0].dtype), f"{node.name}/{hint}")


def _std(ctx, node, var):
    return ctx.emit("Sqrt", [ctx.emit("Add", [var, _scalar(ctx, node, node.attrs["epsilon"], "epsilon")])])


def _scalar(ctx, node, value, hint):
    return ctx.const(np.array(value, node.inputs[0].dtype), f"{node.name}/{hint}")


def _count(ctx, node):
    """M, the number of values per channel: a Python number when every size is known, else a runtime value."""
    x = node.inputs[0]   # (the forward's x, or the backward's g: the same shape)
    dims = ctx.dims(x)
    channels = dims[node.attrs["axis"]]
    if None not in dims:
        return int(np.prod(dims)) // channels
    size = ctx.emit("Cast", [ctx.emit("Size", [ctx.input(x)])], to=helper.np_dtype_to_tensor_dtype(x.dtype))
    return ctx.emit("Div", [size, _scalar(ctx, node, channels, "channels")])


def per_channel_affine(ctx, node, value, scale, shift, out=None):
    """value·scale + shift per channel, with (C,) scale and shift (shift None: zero). On the channel axis
    (axis 1) this is one BatchNormalization with mean 0 and variance 1 − ε, whose divisor √((1 − ε) + ε) is
    exactly 1: the only ONNX op that applies per-channel parameters to an NCHW tensor without reshaping them."""
    axis = node.attrs["axis"]
    if axis != 1:
        scaled = ctx.emit("Mul", [value, _per_channel(ctx, node, scale)], out=None if shift else out)
        return ctx.emit("Add", [scaled, _per_channel(ctx, node, shift)], out=out) if shift else scaled
    zeros = _channel_const(ctx, node, 0, "zeros")
    unit_variance = _channel_const(ctx, node, 1 - UNIT_EPSILON, "unit_variance")
    return ctx.emit("BatchNormalization", [value, scale, shift or zeros, zeros, unit_variance], out=out,
                    epsilon=UNIT_EPSILON)

