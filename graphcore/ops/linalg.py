"""Linear algebra: ``linear_solve`` (X = A⁻¹B), a differentiable closed-form fit, and ``det``.

A deep stacking network solves each module's upper weights by regularised least squares inside the graph,
U = (HᵀH + λI)⁻¹ HᵀT, and trains the lower weights *through* that solution; so the solve is one op with its
own gradient (PyTorch-style: ``dB = A⁻ᵀG``, ``dA = −dB·Xᵀ``) rather than an explicit inverse, which would be
slower and less accurate. The gradient is built from LinearSolve and MatMul nodes, so it differentiates again.
"""
import numpy as np

from ..errors import BuildError
from ..op import Op, apply_op, register, require_float, same_dtype
from ..shapes import broadcast_shapes, format_shape
from .array import expand_dims
from .math import matmul, sum_to, zeros_like


@register
class LinearSolve(Op):
    """X with A·X = B (``adjoint``: Aᵀ·X = B) for square A (…, n, n) and B (…, n, k); leading axes
    broadcast as in NumPy."""

    def infer(self, node):
        require_float(node)
        dtype = same_dtype(node)
        a, b = node.inputs
        if a.ndim < 2 or b.ndim < 2:
            raise BuildError("linear_solve needs A of rank ≥ 2 and B of rank ≥ 2 (make a vector a column)")
        n1, n2 = a.shape[-2:]
        if n1 is not None and n2 is not None and n1 != n2:
            raise BuildError(f"A must be square in its last two axes, got {format_shape(a.shape)}")
        n = n1 if n1 is not None else n2
        if n is not None and b.shape[-2] is not None and b.shape[-2] != n:
            raise BuildError(f"A {format_shape(a.shape)} and B {format_shape(b.shape)} disagree on n")
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        if batch is None:
            raise BuildError(f"batch axes {format_shape(a.shape[:-2])} and {format_shape(b.shape[:-2])} "
                             "do not broadcast")
        return [(dtype, batch + b.shape[-2:])]

    def compute(self, a, b, adjoint):
        return np.linalg.solve(a.swapaxes(-1, -2) if adjoint else a, b).astype(b.dtype, copy=False)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        a, b = node.inputs
        x, adjoint = node.outputs[0], node.attrs["adjoint"]
        gb = linear_solve(a, g, adjoint=not adjoint)
        # op(A)·X = B ⇒ d op(A) = −gb·Xᵀ; for op(A) = Aᵀ the gradient of A is its transpose, −X·gbᵀ.
        ga = -matmul(x, gb, transpose_b=True) if adjoint else -matmul(gb, x, transpose_b=True)
        return [sum_to(ga, a), sum_to(gb, b)]

    def samples(self, rng):
        def well_conditioned(*shape):
            return rng.normal(size=shape) + 3 * np.eye(shape[-1])
        for adjoint in (False, True):
            yield [well_conditioned(3, 3), rng.normal(size=(3, 2))], {"adjoint": adjoint}
        yield [well_conditioned(2, 3, 3), rng.normal(size=(3, 2))], {"adjoint": False}


def linear_solve(a, b, adjoint=False, name=None):
    """X = A⁻¹B (or A⁻ᵀB with ``adjoint``), differentiable in A and B."""
    return apply_op("LinearSolve", [a, b], name=name, adjoint=bool(adjoint))


@register
class Det(Op):
    """The determinant of square matrices (…, n, n). Gradient: g·det(A)·A⁻ᵀ (Jacobi's formula), the inverse
    transpose as a solve against the identity, so the gradient is a graph of LinearSolve and MatMul."""

    def infer(self, node):
        require_float(node)
        a = node.inputs[0]
        if a.ndim < 2 or (None not in a.shape[-2:] and a.shape[-1] != a.shape[-2]):
            raise BuildError(f"det needs square matrices in the last two axes, got {format_shape(a.shape)}")
        return [(a.dtype, a.shape[:-2])]

    def compute(self, a):
        return np.asarray(np.linalg.det(a), dtype=a.dtype)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        a, y = node.inputs[0], node.outputs[0]
        eye = zeros_like(a) + np.eye(a.shape[-1], dtype=a.dtype) if a.shape[-1] is not None else None
        if eye is None:
            raise BuildError("the gradient of det needs a known matrix size")
        inverse_t = linear_solve(a, eye, adjoint=True)   # A⁻ᵀ
        return [inverse_t * expand_dims(expand_dims(g * y, -1), -1)]

    def samples(self, rng):
        yield [rng.normal(size=(3, 3)) + 2 * np.eye(3)], {}
        yield [rng.normal(size=(2, 2, 2)) + 2 * np.eye(2)], {}


def det(a, name=None):
    return apply_op("Det", [a], name=name)
