"""Higher-order autodiff as graph nodes: ``vjp``, ``jvp``, ``jacobian``, ``batch_jacobian``, ``hessian``.

Everything here is built on ``gradients`` (reverse mode), so every result is an ordinary graph: it runs in a
Session, renders, exports to ONNX and can be differentiated again.

* **vjp** is ``gradients`` with the cotangents as seeds.
* **jvp** (forward mode) uses the double-vjp trick: ``g(u) = Jᵀu`` is linear in a dummy cotangent ``u``, so
  differentiating ``⟨g(u), t⟩`` with respect to ``u`` gives ``J t``. No op needs a second, forward rule.
* **jacobian** needs one vjp per output element. Writing one ``gradients`` call per element would make the
  graph grow with the output size; instead the vjp is traced *once* into the body of a ``Scan`` that loops
  over the one-hot cotangents, built inside the body from the row index (``positions == j``), so not even an
  identity matrix is stored. The graph has the same number of nodes for 4 outputs or 1,024
  (``tests/test_autodiff.py`` counts them); TensorFlow's ``GradientTape.jacobian`` without ``pfor`` does the
  same with a ``while_loop``. The price is run time: the loop runs the vjp once per output element.
* **batch_jacobian** loops over the per-example output elements only, with the basis row broadcast over the
  batch: example i's outputs depend on example i's inputs only, so one vjp yields row j for every example.
* **hessian** is the jacobian of the gradient.
"""
import numpy as np

from .compat import same_as
from .control import scan
from .errors import BuildError
from .gradients import check_partners, gradients
from .graph import Tensor
from .ops.array import reshape, transpose
from .ops.math import add_n, broadcast_like, cast, equal, zeros_like
from .ops.reduce import reduce_sum
from .ops.state import constant
from .shapes import format_shape, num_elements


def _listed(values):
    single = isinstance(values, Tensor)
    return single, ([values] if single else list(values))


def vjp(ys, xs, cotangents):
    """Vector-Jacobian products ``Σ_k cotangents[k]ᵀ ∂ys[k]/∂xs[i]``, one per x, shaped like x.

    ``cotangents`` are shaped like ``ys``. A disconnected x gets zeros (a product with a zero Jacobian)."""
    _, ys_list = _listed(ys)
    single_x, xs_list = _listed(xs)
    _, us = _listed(cotangents)
    check_partners(ys_list, us, "cotangent")
    results = gradients(ys_list, xs_list, grad_ys=us, unconnected="zero", name="vjp")
    return results[0] if single_x else results


def jvp(ys, xs, tangents):
    """Jacobian-vector products ``Σ_i ∂ys[k]/∂xs[i] · tangents[i]``, one per y, shaped like y (forward mode).

    Built by the double-vjp trick (see the module docstring): two reverse passes, both graphs."""
    single_y, ys_list = _listed(ys)
    single_x, xs_list = _listed(xs)
    _, ts = _listed(tangents)
    check_partners(xs_list, ts, "tangent")
    dummies = [zeros_like(y, name="jvp_dummy_cotangent") for y in ys_list]
    pulled = gradients(ys_list, xs_list, grad_ys=dummies, unconnected="zero", name="jvp")
    pushed = gradients(pulled, dummies, grad_ys=ts, unconnected="zero", name="jvp_transpose")
    return pushed[0] if single_y else pushed


def _rows(count, cotangent_of, xs, name):
    """Stacked vjps ``(count, ...)`` for every x: one Scan over the row index j, whose body seeds the
    reverse pass with ``cotangent_of(e_j)`` (``e_j`` the j-th one-hot vector)."""
    positions = constant(np.arange(count, dtype=np.int64), name="row_positions")

    def step(j):
        basis = cast(equal(positions, j), xs[0].dtype)
        targets, seeds = cotangent_of(basis)
        return None, gradients(targets, xs, grad_ys=seeds, unconnected="zero", name="vjp")

    _, stacked = scan(step, sequences=[positions], name=name)
    return stacked


def jacobian(ys, xs):
    """∂ys/∂xs of shape ``ys.shape + xs.shape`` (TensorFlow's ``GradientTape.jacobian``); a list when xs is one.

    ``ys`` needs a fully known shape (it sets the number of rows); use ``batch_jacobian`` for a batch of
    independent examples with an unknown batch size."""
    if not isinstance(ys, Tensor):
        raise BuildError("jacobian takes one tensor ys (call it once per output)")
    single_x, xs_list = _listed(xs)
    count = num_elements(ys.shape)
    if count is None:
        raise BuildError(f"jacobian needs a fully known shape for {ys.name}, got {format_shape(ys.shape)}; "
                         "use gc.batch_jacobian for per-example Jacobians over an unknown batch", ys.node)
    stacked = _rows(count, lambda basis: ([ys], [reshape(basis, ys.shape)]), xs_list, "jacobian")
    results = [_to_shape(s, ys.shape + x.shape) for s, x in zip(stacked, xs_list)]
    return results[0] if single_x else results


def batch_jacobian(ys, xs):
    """Per-example Jacobians of shape ``(batch,) + ys.shape[1:] + xs.shape[1:]`` (TensorFlow's
    ``GradientTape.batch_jacobian``): example b's outputs differentiated by example b's inputs only.

    Correct when examples do not interact (no batch statistics between them), as for any layer stack
    applied row by row. ``ys.shape[1:]`` and ``xs.shape[1:]`` must be known; the batch size may be unknown."""
    if ys.ndim < 1 or xs.ndim < 1:
        raise BuildError(f"batch_jacobian needs a leading batch axis: ys {format_shape(ys.shape)}, "
                         f"xs {format_shape(xs.shape)}", ys.node)
    count = num_elements(ys.shape[1:])
    if count is None or num_elements(xs.shape[1:]) is None:
        raise BuildError(f"batch_jacobian needs known per-example shapes, got ys {format_shape(ys.shape)} and "
                         f"xs {format_shape(xs.shape)}", ys.node)
    (stacked,) = _rows(count, lambda basis: ([ys], [broadcast_like(reshape(basis, ys.shape[1:]), ys)]), [xs],
                       "batch_jacobian")
    per_example = transpose(stacked, (1, 0) + tuple(range(2, stacked.ndim)))   # (batch, count, ...)
    return _to_shape(per_example, ys.shape[:1] + ys.shape[1:] + xs.shape[1:])


def hessian(y, xs):
    """Second derivatives of a scalar ``y``: for each x the block ``∂²y/∂x∂x`` of shape ``x.shape + x.shape``
    (TensorFlow's ``tf.hessians``: the diagonal blocks, a list when xs is one)."""
    if y.shape != ():
        raise BuildError(f"hessian needs a scalar y, got {y.name} of shape {format_shape(y.shape)}", y.node)
    single_x, xs_list = _listed(xs)
    for x in xs_list:
        if num_elements(x.shape) is None:
            raise BuildError(f"hessian needs a fully known shape for {x.name}, got {format_shape(x.shape)}",
                             x.node)
    firsts = gradients(y, xs_list, unconnected="zero", name="hessian_gradient")
    blocks = [jacobian(g, x) for g, x in zip(firsts, xs_list)]
    return blocks[0] if single_x else blocks


@same_as("TF1", "tf.hessians")
def hessians(ys, xs, name="hessians", colocate_gradients_with_ops=False, gate_gradients=False,
             aggregation_method=None):
    """TF1's ``tf.hessians``: for each x the Hessian of ``sum(ys)`` (every element of every y) with respect to
    x, of shape ``x.shape + x.shape``; always a list, one per x. The other arguments are accepted, as TF1
    places and orders ops in ways that have no meaning here."""
    ys = [ys] if isinstance(ys, Tensor) else list(ys)
    _, xs_list = _listed(xs)
    total = reduce_sum(ys[0]) if len(ys) == 1 else add_n([reduce_sum(y) for y in ys])
    with total.graph.name_scope(name):
        return hessian(total, xs_list)


def _to_shape(t, shape):
    """Reshape to a static target in which at most one dim (the batch) is unknown."""
    if t.shape == tuple(shape):
        return t
    if sum(d is None for d in shape) > 1:
        raise BuildError(f"cannot shape a Jacobian to {format_shape(shape)}: more than one unknown dimension",
                         t.node)
    return reshape(t, shape)


__all__ = ["vjp", "jvp", "jacobian", "batch_jacobian", "hessian", "hessians"]
