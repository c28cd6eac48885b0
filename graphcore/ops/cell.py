"""The LSTM step as two fused ops: ``LSTMCell`` (z = xp + h·R, then the gates) and ``LSTMCellGrad``.

Why fused: composed from primitives, one LSTM step is a dozen graph nodes forward and some fifty in the
backward Scan's body (a recomputed forward plus its gradient), each a separate interpreter dispatch on a
(batch, units) array, fifty times per sequence. Measured on the LSTM b32 T50 64→128 training step, that
dispatch was most of the time; the fused kernels below do the same arithmetic in a few whole-array NumPy
calls, in place where the buffer is their own.

One definition: ``lstm_gates`` is the cell in primitive ops, and ``lstm_gates_grad`` its backward step in
primitive ops. The fused kernels compute exactly them (tests compare values, and the registry tests compare
gradients against finite differences). ``LSTMCell``'s gradient is ``LSTMCellGrad`` plus the two matrix
products of h·R; ``LSTMCellGrad``'s own gradient, needed only for second-order derivatives, differentiates
``lstm_gates_grad``, so it stays a graph of ordinary ops. Gate order is Keras's **i, f, c, o** along the last
axis of the pre-activations ``z``.

The forward step also returns the activated gates ``a``: a loop stacks them for its backward pass, which
then starts from σ and tanh already computed instead of redoing them from z (the backward step needs only
``a``: σ' = σ·(1 − σ) and tanh' = 1 − tanh² are functions of the activations).
"""
import functools

import numpy as np

from ..errors import BuildError
from ..op import Op, apply_op, register, require_float, same_dtype
from ..shapes import format_shape
from .array import concat, split
from .state import constant
from .math import matmul, sigmoid, tanh, zeros_like


def lstm_gates(z, c):
    """(h', c') of gate pre-activations z (…, 4U) and cell state c (…, U), in primitive ops."""
    i, f, g, o = split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def lstm_gates_grad(a, c, grad_h, grad_c):
    """(dz, dc) of ``lstm_gates`` at activated gates a = (σ(i), σ(f), tanh(g), σ(o)) and cell state c, given
    the gradients of its outputs h' and c', in primitive ops."""
    i, f, g, o = split(a, 4, axis=-1)
    tanh_c = tanh(f * c + i * g)
    d_c = grad_h * o * (1.0 - tanh_c * tanh_c) + grad_c    # dL/dc' in full: through h' and from the next step
    return concat([d_c * g, d_c * c, d_c * i, grad_h * tanh_c], axis=-1) * gate_slopes(a), d_c * f


def gate_slopes(a):
    """The activations' derivatives from the activations themselves: a·(1 − a) on the σ gates, 1 − a² on
    tanh's."""
    _, _, slope, level = gate_constants(a.shape[-1] // 4, a.dtype)
    return a * (constant(slope) - a) + constant(level)


def lstm_cell(xp, h, c, recurrent_kernel, name=None):
    """The fused step: (h', c', a) with (h', c') = lstm_gates(xp + h·R, c) and a the activated gates.
    a is an output so that a loop can stack it for the backward pass (a residual) instead of recomputing h·R
    and the activations."""
    return apply_op("LSTMCell", [xp, h, c, recurrent_kernel], name=name)


@functools.lru_cache(maxsize=None)
def gate_constants(units, dtype):
    """Per-column constants over the 4U gate columns (i, f, c, o). σ(x) = ½ + ½·tanh(x/2), so one tanh call
    activates every gate: ``a = tanh(z·scale)·scale + shift``; and the activations' derivatives are
    ``a·(slope − a) + level`` (σ' = σ − σ², tanh' = 1 − tanh²)."""
    def columns(on_sigmoid, on_tanh):
        return np.repeat(np.array([on_sigmoid, on_sigmoid, on_tanh, on_sigmoid], dtype), units)
    return columns(0.5, 1), columns(0.5, 0), columns(1, 0), columns(0, 1)


def _activate_in_place(z):
    """z's buffer overwritten with the activated gates (…, 4U), and the four gate views i, f, g, o."""
    scale, shift, _, _ = gate_constants(z.shape[-1] // 4, z.dtype)
    z *= scale
    np.tanh(z, out=z)
    z *= scale
    z += shift
    return z, _gate_views(z)


def _gate_views(a):
    """Views of the four gate blocks i, f, g, o along the last axis."""
    units = a.shape[-1] // 4
    return a[..., :units], a[..., units:2 * units], a[..., 2 * units:3 * units], a[..., 3 * units:]


def _new_cell_state(gates, c):
    """(c', tanh(c')) from the activated gates' views."""
    i, f, g, _ = gates
    c_new = f * c
    c_new += i * g
    return c_new, np.tanh(c_new)


def _check_cell(node, z, c, extra=()):
    """The cell's dtype, after checking z (or a) is (batch, 4·U) for c (batch, U) and ``extra`` are like c."""
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
    """(h', c', a) of one LSTM step: z = xp + h·R (gates i, f, c, o; xp the step's projected input, (B, 4U);
    h and c the states, (B, U); R the recurrent kernel, (U, 4U)), c' = σ(f)·c + σ(i)·tanh(g),
    h' = σ(o)·tanh(c'), a = (σ(i), σ(f), tanh(g), σ(o))."""

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
        z += xp                             # z is this call's own buffer: the gates overwrite it
        a, gates = _activate_in_place(z)
        c_new, tanh_c = _new_cell_state(gates, c)
        tanh_c *= gates[3]
        return tanh_c, c_new, a

    def grad(self, node, output_grads, wanted):
        grad_h, grad_c, grad_a = output_grads
        xp, h, c, kernel = node.inputs
        a = node.outputs[2]
        dz = dc = None
        if grad_h is not None or grad_c is not None:
            # The fused backward step takes both: the one not given is zero (a loop's last step has no dc').
            grad_h = zeros_like(node.outputs[0]) if grad_h is None else grad_h
            grad_c = zeros_like(node.outputs[1]) if grad_c is None else grad_c
            dz, dc = apply_op("LSTMCellGrad", [a, c, grad_h, grad_c])
        if grad_a is not None:
            dz = grad_a * gate_slopes(a) if dz is None else dz + grad_a * gate_slopes(a)
        return [dz, matmul(dz, kernel, False, True) if wanted[1] else None, dc,
                matmul(h, dz, True, False) if wanted[3] else None]

    def samples(self, rng):
        xp, h, c = rng.normal(size=(3, 8)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
        yield [xp, h, c, rng.normal(size=(2, 8)) * 0.5], {}


@register
class LSTMCellGrad(Op):
    """(dz, dc) of ``lstm_gates`` given the gradients (dh', dc') of its outputs, i.e. ``lstm_gates_grad``;
    inputs a (the activated gates), c, dh', dc'."""

    def infer(self, node):
        a, c, grad_h, grad_c = node.inputs
        dtype = _check_cell(node, a, c, (grad_h, grad_c))
        return [(dtype, a.shape), (dtype, c.shape)]

    def compute(self, a, c, grad_h, grad_c):
        i, f, g, o = _gate_views(a)
        _, tanh_c = _new_cell_state((i, f, g, o), c)
        units = c.shape[-1]
        # dL/dc' in full: through h' = o·tanh(c') and from the next step.
        d_c = 1 - tanh_c * tanh_c
        d_c *= o
        d_c *= grad_h
        d_c += grad_c
        dz = np.empty_like(a)
        np.multiply(d_c, g, out=dz[..., :units])
        np.multiply(d_c, c, out=dz[..., units:2 * units])
        np.multiply(d_c, i, out=dz[..., 2 * units:3 * units])
        np.multiply(grad_h, tanh_c, out=dz[..., 3 * units:])
        _, _, slope, level = gate_constants(units, a.dtype)
        derivative = slope - a      # σ' = σ·(1 − σ), tanh' = 1 − tanh²: a·(slope − a) + level
        derivative *= a
        derivative += level
        dz *= derivative
        d_c *= f
        return dz, d_c

    def formula(self, node, inputs):
        """``lstm_gates_grad`` in primitive ops: LSTMCellGrad's own gradient (second order) is that formula's."""
        return lstm_gates_grad(*inputs)

    def samples(self, rng):
        a, c = rng.uniform(-0.9, 0.9, size=(3, 8)), rng.normal(size=(3, 2))
        a[:, :4] = np.abs(a[:, :4])             # σ gates in (0, 1), tanh's in (−1, 1)
        a[:, 6:] = np.abs(a[:, 6:])
        yield [a, c, rng.normal(size=c.shape), rng.normal(size=c.shape)], {}
