"""Tests generated from the op registry: a newly registered op is covered without writing a test for it.

For every op and each of its samples:
* the inferred dtype and shape equal what the kernel returns (and stay compatible with an unknown batch dim);
* for differentiable ops, the symbolic gradient matches central finite differences in float64;
* the gradient of the gradient matches finite differences of the gradient (second order).
"""
import numpy as np
import pytest

import graphcore as gc
from graphcore.op import REGISTRY
from graphcore.ops.state import WriteOp
from graphcore.shapes import compatible
from numerics import numeric_gradient

# Leaves have no inputs to sample: they are exercised by every other test.
LEAVES = {"Placeholder", "Variable"}
CASES = [(op_type, i, sample) for op_type, op in sorted(REGISTRY.items())
         for i, sample in enumerate(op.samples(np.random.default_rng(0)))]


def _ids(case):
    return f"{case[0]}-{case[1]}"


def test_every_op_has_samples():
    covered = {op_type for op_type, _, _ in CASES}
    missing = sorted(set(REGISTRY) - covered - LEAVES)
    assert not missing, f"ops without samples (add a samples() method): {missing}"


def _build(op_type, arrays, attrs, batch_unknown=False):
    """A graph with one node of ``op_type``; float inputs are placeholders (variables for written inputs)."""
    op = REGISTRY[op_type]
    graph = gc.Graph()
    writes = op.writes if isinstance(op, WriteOp) else 0
    inputs, feeds = [], {}
    with graph.as_default():
        for i, a in enumerate(arrays):
            a = np.asarray(a)
            if i < writes:
                inputs.append(gc.Variable(a, name=f"var{i}"))
                continue
            if a.dtype.kind in "iu" and getattr(op, "shape_from_values", False):
                inputs.append(gc.constant(a, name=f"in{i}"))   # a shape value: known when building
                continue
            shape = a.shape
            if batch_unknown and a.ndim and i == writes:  # the data input: its batch size is unknown
                shape = (None,) + a.shape[1:]
            ph = gc.placeholder(a.dtype, shape, name=f"in{i}")
            inputs.append(ph)
            feeds[ph] = a
        node = graph.create_node(op, inputs, attrs)
    return graph, node, inputs, feeds


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_inferred_type_matches_kernel(case):
    op_type, _, (arrays, attrs) = case
    graph, node, _, feeds = _build(op_type, arrays, attrs)
    with gc.Session(graph, seed=0) as sess:
        values = sess.run(list(node.outputs), feeds)
    for t, value in zip(node.outputs, values):
        value = np.asarray(value)
        assert value.dtype == t.dtype, f"{t.name}: inferred {t.dtype}, kernel gave {value.dtype}"
        assert value.shape == t.shape, f"{t.name}: inferred {t.shape}, kernel gave {value.shape}"
    _, node_unknown, _, _ = _build(op_type, arrays, attrs, batch_unknown=True)
    for t, value in zip(node_unknown.outputs, values):
        assert compatible(t.shape, np.shape(value)), f"with an unknown batch: {t.shape} vs {np.shape(value)}"


# StopGradient is differentiable by definition but its gradient is zero on purpose (tested elsewhere).
BLOCKS_GRADIENT = {"StopGradient"}


def _differentiable_cases():
    """Samples of differentiable, stateless ops with a floating-point input and output."""
    out = []
    for case in CASES:
        op_type, _, (arrays, attrs) = case
        op = REGISTRY[op_type]
        if not op.differentiable or op.stateful or op_type in BLOCKS_GRADIENT:
            continue
        _, node, _, _ = _build(op_type, arrays, attrs)
        if any(np.asarray(a).dtype.kind == "f" for a in arrays) and any(t.dtype.kind == "f" for t in node.outputs):
            out.append(case)
    return out


def _objective(node, rng):
    """sum_k Σ(out_k · r_k) with fixed random r_k, so every output element gets a distinct weight."""
    terms = []
    for t in node.outputs:
        if t.dtype.kind == "f":
            r = gc.constant(rng.normal(size=[d for d in t.shape]).astype(t.dtype))
            terms.append(gc.reduce_sum(t * r))
    return gc.add_n(terms)


@pytest.mark.parametrize("case", _differentiable_cases(), ids=_ids)
def test_gradient_matches_finite_differences(case):
    op_type, _, (arrays, attrs) = case
    arrays = [np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays]
    graph, node, inputs, feeds = _build(op_type, arrays, attrs)
    with graph.as_default():
        objective = _objective(node, np.random.default_rng(1))
        wrt = [t for t in inputs if t.dtype.kind == "f"]
        grads = gc.gradients(objective, wrt, unconnected="zero")
    with gc.Session(graph) as sess:
        symbolic = sess.run(grads, feeds)
        # An op that outputs float32 from float64 inputs (Cast) cannot be checked to float64 precision.
        low_precision = any(t.dtype == np.float32 for t in node.outputs)
        step, tol = (1e-3, 2e-2) if low_precision else (1e-6, 1e-5)
        for t, g in zip(wrt, symbolic):
            numeric = numeric_gradient(lambda: float(sess.run(objective, feeds)), feeds[t], step)
            np.testing.assert_allclose(g, numeric, rtol=tol, atol=tol / 10, err_msg=f"d/d{t.name} of {op_type}")


@pytest.mark.parametrize("case", _differentiable_cases(), ids=_ids)
def test_second_order_gradient_matches_finite_differences(case):
    """d/dx of <∂f/∂x, v> against finite differences of the first-order gradient."""
    op_type, _, (arrays, attrs) = case
    arrays = [np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays]
    graph, node, inputs, feeds = _build(op_type, arrays, attrs)
    rng = np.random.default_rng(2)
    with graph.as_default():
        objective = _objective(node, rng)
        x = next(t for t in inputs if t.dtype.kind == "f")
        (g,) = gc.gradients(objective, [x], unconnected="zero")
        v = gc.constant(rng.normal(size=feeds[x].shape))
        inner = gc.reduce_sum(g * v)
        (h,) = gc.gradients(inner, [x], unconnected="zero")
    with gc.Session(graph) as sess:
        symbolic = sess.run(h, feeds)
        numeric = numeric_gradient(lambda: float(sess.run(inner, feeds)), feeds[x])
    np.testing.assert_allclose(symbolic, numeric, rtol=1e-4, atol=1e-5, err_msg=f"second order of {op_type}")
