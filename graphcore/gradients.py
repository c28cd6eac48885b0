"""Symbolic reverse-mode differentiation: ``gradients(ys, xs)`` adds gradient nodes to the graph.

Only nodes on a path from some ``x`` to some ``y`` are visited, in reverse creation order (creation order is
topological). Each node's op builds its input gradients from ordinary graph ops, so the result can be run,
rendered, exported and differentiated again (second-order gradients, contractive autoencoders).
Fan-out is summed with one ``AddN`` per tensor; broadcasting is undone inside each op's gradient rule.
Gradients never flow into integer or boolean tensors.

The contract with an op (``Op.grad(node, output_grads, wanted)``): an output that no gradient reaches gets
None, never a tensor of zeros, so a rule skips what is zero without recognising it; ``wanted[i]`` says
whether input i is on a path to some x, so a costly rule builds only what will be used.
"""
from . import dtypes as _dt
from .compat import same_as
from .errors import GradientError
from .graph import Tensor, ancestors
from .shapes import format_type
from .ops.math import add_n, identity, ones_like, zeros_like

_UNCONNECTED = ("none", "zero", "raise")


def _carries_gradient(tensor):
    return _dt.is_floating(tensor.dtype)


def _between(ys, xs):
    """Nodes that consume (transitively) some x and that some y depends on."""
    x_set = set(xs)
    graph = ys[0].node.graph
    first = min(x.node.id for x in xs)
    forward = set()
    for node in graph.nodes[first:]:
        if any(t in x_set or t.node in forward for t in node.inputs if _carries_gradient(t)):
            forward.add(node)
    return forward & ancestors([y.node for y in ys], controls=False)


@same_as("TF1", "tf.gradients", note="always a list, one gradient per x; unconnected='none' (TF1's None), 'zero' "
                                     "or 'raise'")
def gradients(ys, xs, grad_ys=None, unconnected="none", name="gradients"):
    """Symbolic gradients of ``sum(ys)`` with respect to each of ``xs``: always a list, one per x, even for a
    single tensor ``xs`` (as ``tf.gradients`` returns it, so ``gradients(loss, x)[0]`` is the gradient).

    ``grad_ys`` seeds the output gradients (default: ones). ``unconnected`` says what a disconnected x gets:
    ``"none"`` (None), ``"zero"`` (zeros shaped like x) or ``"raise"`` (a GradientError naming x).
    A non-differentiable op on a path raises a GradientError naming the node and where it was built.
    """
    ys = [ys] if isinstance(ys, Tensor) else list(ys)
    xs = [xs] if isinstance(xs, Tensor) else list(xs)
    if not xs:
        return []
    for t in ys + xs:
        if not isinstance(t, Tensor):
            raise GradientError(f"gradients takes tensors (or lists of them) for ys and xs, got {t!r}")
    if not ys:
        raise GradientError("gradients needs at least one tensor in ys")
    if unconnected not in _UNCONNECTED:
        raise GradientError(f"unconnected must be one of {_UNCONNECTED}, got {unconnected!r}")
    for t in ys + xs:
        if not _carries_gradient(t):
            raise GradientError(f"gradients need floating-point tensors; {t.name} is {t.dtype.name}", t.node)
    graph = ys[0].node.graph
    with graph.name_scope(name), graph.snapshot_reads():
        seeds = grad_ys if grad_ys is not None else [None] * len(ys)
        seeds = [seeds] if isinstance(seeds, Tensor) else list(seeds)
        check_partners(ys, seeds, "seed")
        contributions = {}
        for y, seed in zip(ys, seeds):
            contributions.setdefault(y, []).append(ones_like(y) if seed is None else seed)
        relevant = _between(ys, xs)
        x_set = set(xs)
        for node in sorted(relevant, key=lambda n: n.id, reverse=True):
            out_grads = [_total(contributions.get(t)) for t in node.outputs]
            if all(g is None for g in out_grads):
                continue
            if not node.op.differentiable:
                why = f" ({node.op.no_gradient_reason})" if node.op.no_gradient_reason else ""
                raise GradientError(f"op {node.op.type} is not differentiable{why}, but a gradient must flow "
                                    f"through it (wrap it in gc.stop_gradient if that is intended)", node)
            wanted = [_carries_gradient(t) and (t in x_set or t.node in relevant) for t in node.inputs]
            with graph.name_scope(node.name + "_grad"):
                if node.op.formula is not None:
                    in_grads = _formula_gradients(node, out_grads, wanted)
                else:
                    in_grads = node.op.grad(node, out_grads, wanted)
            for t, g, w in zip(node.inputs, in_grads, wanted):
                if g is not None and w:
                    contributions.setdefault(t, []).append(g)
        results = []
        for x in xs:
            g = _total(contributions.get(x))
            if g is None:
                if unconnected == "raise":
                    raise GradientError(f"{x.name} is not connected to {', '.join(y.name for y in ys)}", x.node)
                if unconnected == "zero":
                    g = zeros_like(x)
            results.append(g)
    return results


def _formula_gradients(node, out_grads, wanted):
    """The input gradients of an op given by a formula: the formula rebuilt on fresh tensors standing for the
    inputs (identities, so higher orders still flow through) and differentiated. Fresh tensors, because the
    inputs may depend on one another (a BatchNormGrad's mean on its x) and these are partial derivatives."""
    leaves = [identity(t) if w else t for t, w in zip(node.inputs, wanted)]
    outputs = node.op.formula(node, leaves)
    given = [(y, g) for y, g in zip(outputs, out_grads) if g is not None]
    xs = [leaf for leaf, w in zip(leaves, wanted) if w]
    grads = iter(gradients([y for y, _ in given], xs, grad_ys=[g for _, g in given], unconnected="zero"))
    return [next(grads) if w else None for w in wanted]


def check_partners(values, partners, what):
    """Each partner (a seed, tangent or cotangent; None allowed) must have its value's dtype and shape: one
    that merely broadcasts would silently give a wrong derivative."""
    if len(partners) != len(values):
        raise GradientError(f"{len(partners)} {what}s for {len(values)} tensors")
    for v, p in zip(values, partners):
        if p is not None and (p.dtype != v.dtype or len(p.shape) != len(v.shape) or any(
                a is not None and b is not None and a != b for a, b in zip(p.shape, v.shape))):
            raise GradientError(f"the {what} for {v.name} must be {format_type(v.dtype, v.shape)}, got "
                                f"{format_type(p.dtype, p.shape)}", p.node)


def _total(grads):
    if not grads:
        return None
    if len(grads) > 1:
        contributions = grads[:]
        grads.clear()
        grads.append(add_n(contributions))
    return grads[0]

