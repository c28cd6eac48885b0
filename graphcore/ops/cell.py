"""The LSTM step as two fused ops: ``LSTMCell`` (z = xp + h·R, then the gates) and ``LSTMCellGrad``.

Why fused: composed from primitives, one LSTM step is a dozen graph nodes forward and some fifty in the
backward Scan's body (a recomputed forward plus its gradient), each a separate interpreter dispatch on a
(batch, units) array, fifty times per sequence. Measured on the LSTM b32 T50 64→128 training step, that
dispatch was most of the time; the fused kernels below do the same arithmetic in a few whole-array NumPy
calls, in place where the buffer is their own.

One definition: ``lstm_gates`` is the cell in primitives. The fused kernels compute exactly it (the registry
tests compare both against finite differences), and ``LSTMCellGrad``'s own gradient, needed only for
second-order derivatives, is built by differentiating ``lstm_gates`` twice, so it stays a graph of
ordinary ops; ``LSTMCell``'s gradient is ``LSTMCellGrad`` plus the two matrix products of h·R. Gate order is
Keras's **i, f, c, o** along the last axis of the pre-activations ``z``.
"""
import functools

import numpy as np

from ..errors import BuildError
from ..op import Op, apply_op, register, require_float, same_dtype
from ..shapes import format_shape
from .array import split
from .math import identity, matmul, sigmoid, tanh, zeros_like


def lstm_gates(z, c):
    """(h', c') of gate pre-activations z (…, 4U) and cell state c (…, U), in primitive ops."""
    i, f, g, o = split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def lstm_cell(xp, h, c, recurrent_kernel, name=None):
    """The fused step: (h', c', z) with z = xp + h·R the gate pre-activations and (h', c') = lstm_gates(z, c).
    z is an output so that a loop can stack it for the backward pass (a residual) instead of recomputing h·R."""
    return apply_op("LSTMCell", [xp, h, c, recurrent_kernel], name=name)


@functools.lru_cache(maxsize=None)
def _gate_constants(units, dtype):
    """Per-column constants over the 4U gate columns (i, f, c, o). σ(x) = ½ + ½·tanh(x/2), so one tanh call
    activates every gate: ``a = tanh(z·scale)·scale + shift``; and the activations' derivatives are
    ``a·(slope − a) + level`` (σ' = σ − σ², tanh' = 1 − tanh²)."""
    def columns(on_sigmoid, on_tanh):
        return np.repeat(np.array([on_sigmoid, on_sigmoid, on_tanh, on_sigmoid], dtype), units)
    return columns(0.5, 1), columns(0.5, 0), columns(1, 0), columns(0, 1)


def _activations(z):
    """Activated gates (…, 4U) of z, and the four gate views i, f, g, o."""
    units = z.shape[-1] // 4
    scale, shift, _, _ = _gate_constants(units, z.dtype)
    a = np.multiply(z, scale)
    np.tanh(a, out=a)
    a *= scale
    a += shift
    return a, (a[..., :units], a[..., units:2 * units], a[..., 2 * units:3 * units], a[..., 3 * units:])


def _cell_forward(z, c):
    """(activated gates and their views, c', tanh(c'))."""
    a, (i, f, g, o) = _activations(z)
    c_new = f * c
    c_new += i * g
    return a, (i, f, g, o), c_new, np.tanh(c_new)


def _check_cell(node, z, c, extra=()):
    dtype = same_dtype(node)
    require_float(node)
    units = c.shape[-1]
    if z.ndim != 2 or c.ndim != 2 or z.shape[-1] is None or units is None or z.shape[-1] != 4 * units:
        raise BuildError(f"gate pre-activations {format_shape(z.shape)} must be (batch, 4·U) for a cell state "
                         f"{format_shape(c.shape)} (batch, U)")
    for t in extra:
        if t.shape != c.shape:
            raise BuildError(f"{format_shape(t.shape)} must match the cell state {format_shape(c.shape)}")
    return dtype


@register
class LSTMCell(Op):
    """(h', c', z) of one LSTM step: z = xp + h·R (gates i, f, c, o; xp the step's projected input, (B, 4U);
    h and c the states, (B, U); R the recurrent kernel, (U, 4U)), c' = σ(f)·c + σ(i)·tanh(g),
    h' = σ(o)·tanh(c')."""

    def infer(self, node):
        xp, h, c, kernel = node.inputs
        dtype = _check_cell(node, xp, c, (h,))
        if kernel.shape != (c.shape[-1], xp.shape[-1]):
            raise BuildError(f"recurrent kernel {format_shape(kernel.shape)} must be (U, 4·U) = "
                             f"{format_shape((c.shape[-1], xp.shape[-1]))}")
        return [(dtype, c.shape), (dtype, c.shape), (dtype, xp.shape)]

    def compute(self, xp, h, c, kernel):
        z = h @ kernel
        if z.shape != xp.shape:
            raise ValueError(f"projected input {xp.shape} and h·R {z.shape} differ")
        z += xp
        _, (_, _, _, o), c_new, tanh_c = _cell_forward(z, c)
        tanh_c *= o
        return tanh_c, c_new, z

    def grad(self, node, grad_h, grad_c, grad_z):
        from ..gradients import wants_gradient
        xp, h, c, kernel = node.inputs
        z = node.outputs[2]
        grad_h = zeros_like(node.outputs[0]) if grad_h is None else grad_h
        grad_c = zeros_like(node.outputs[1]) if grad_c is None else grad_c
        dz, dc = apply_op("LSTMCellGrad", [z, c, grad_h, grad_c])
        if grad_z is not None and not _zeros(grad_z):
            dz = dz + grad_z
        return [dz, matmul(dz, kernel, False, True) if wants_gradient(1) else None, dc,
                matmul(h, dz, True, False) if wants_gradient(3) else None]

    def samples(self, rng):
        xp, h, c = rng.normal(size=(3, 8)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
        yield [xp, h, c, rng.normal(size=(2, 8)) * 0.5], {}


def _zeros(t):
    """A zeros_like filler (``gradients`` gives one for each unused output of a multi-output node)."""
    return t.node.op.type == "FillLike" and t.node.attrs["value"] == 0


@register
class LSTMCellGrad(Op):
    """(dz, dc) of ``lstm_gates`` given the gradients (dh', dc') of its outputs; inputs z, c, dh', dc'."""

    def infer(self, node):
        z, c, grad_h, grad_c = node.inputs
        dtype = _check_cell(node, z, c, (grad_h, grad_c))
        return [(dtype, z.shape), (dtype, c.shape)]

    def compute(self, z, c, grad_h, grad_c):
        a, (i, f, g, o), _, tanh_c = _cell_forward(z, c)
        units = c.shape[-1]
        # dL/dc' in full: through h' = o·tanh(c') and from the next step.
        d_c = 1 - tanh_c * tanh_c
        d_c *= o
        d_c *= grad_h
        d_c += grad_c
        dz = np.empty_like(z)
        np.multiply(d_c, g, out=dz[..., :units])
        np.multiply(d_c, c, out=dz[..., units:2 * units])
        np.multiply(d_c, i, out=dz[..., 2 * units:3 * units])
        np.multiply(grad_h, tanh_c, out=dz[..., 3 * units:])
        _, _, slope, level = _gate_constants(units, z.dtype)
        derivative = slope - a      # σ' = σ·(1 − σ), tanh' = 1 − tanh²: a·(slope − a) + level
        derivative *= a
        derivative += level
        dz *= derivative
        d_c *= f
        return dz, d_c

    def grad(self, node, grad_dz, grad_dc):
        from ..gradients import gradients
        # Fresh tensors standing for the inputs (identities, so higher orders still flow through): the inputs
        # may depend on one another (z on c through an LSTMCell), and these are partial derivatives.
        z, c, grad_h, grad_c = leaves = [identity(t) for t in node.inputs]
        h_new, c_new = lstm_gates(z, c)
        dz, dc = gradients([h_new, c_new], [z, c], grad_ys=[grad_h, grad_c], unconnected="zero")
        seeds = [zeros_like(dz) if grad_dz is None else grad_dz, zeros_like(dc) if grad_dc is None else grad_dc]
        return gradients([dz, dc], leaves, grad_ys=seeds, unconnected="zero")

    def samples(self, rng):
        z, c = rng.normal(size=(3, 8)), rng.normal(size=(3, 2))
        yield [z, c, rng.normal(size=c.shape), rng.normal(size=c.shape)], {}
