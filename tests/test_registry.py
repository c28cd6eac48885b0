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
from graphcore.shapes import compatible
from numerics import numeric_gradient
from registry_cases import CASES, build, differentiable_cases, ids, objective

# Leaves have no inputs to sample: they are exercised by every other test.
LEAVES = {"Placeholder", "Variable"}


def test_every_op_has_samples():
    covered = {op_type for op_type, _, _ in CASES}
    missing = sorted(set(REGISTRY) - covered - LEAVES)
    assert not missing, f"ops without samples (add a samples() method): {missing}"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_inferred_type_matches_kernel(case):
    op_type, _, (arrays, attrs) = case
    graph, node, _, feeds = build(op_type, arrays, attrs)
    with gc.Session(graph, seed=0) as sess:
        values = sess.run(list(node.outputs), feeds)
    for t, value in zip(node.outputs, values):
        value = np.asarray(value)
        assert value.dtype == t.dtype, f"{t.name}: inferred {t.dtype}, kernel gave {value.dtype}"
        if getattr(REGISTRY[op_type], "data_dependent_shape", False):   # a size only the values decide
            assert compatible(t.shape, value.shape), f"{t.name}: inferred {t.shape}, kernel gave {value.shape}"
        else:
            assert value.shape == t.shape, f"{t.name}: inferred {t.shape}, kernel gave {value.shape}"
    _, node_unknown, _, _ = build(op_type, arrays, attrs, batch_unknown=True)
    for t, value in zip(node_unknown.outputs, values):
        assert compatible(t.shape, np.shape(value)), f"with an unknown batch: {t.shape} vs {np.shape(value)}"


@pytest.mark.parametrize("case", differentiable_cases(), ids=ids)
def test_gradient_matches_finite_differences(case):
    op_type, _, (arrays, attrs) = case
    arrays = [np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays]
    graph, node, inputs, feeds = build(op_type, arrays, attrs)
    with graph.as_default():
        total = objective(node, np.random.default_rng(1))
        wrt = [t for t in inputs if t.dtype.kind == "f"]
        grads = gc.gradients(total, wrt, unconnected="zero")
    with gc.Session(graph) as sess:
        symbolic = sess.run(grads, feeds)
        # An op that outputs float32 from float64 inputs (Cast) cannot be checked to float64 precision.
        low_precision = any(t.dtype == np.float32 for t in node.outputs)
        step, tol = (1e-3, 2e-2) if low_precision else (1e-6, 1e-5)
        for t, g in zip(wrt, symbolic):
            numeric = numeric_gradient(lambda: float(sess.run(total, feeds)), feeds[t], step)
            np.testing.assert_allclose(g, numeric, rtol=tol, atol=tol / 10, err_msg=f"d/d{t.name} of {op_type}")


@pytest.mark.parametrize("case", differentiable_cases(), ids=ids)
def test_second_order_gradient_matches_finite_differences(case):
    """d/dx of <∂f/∂x, v> against finite differences of the first-order gradient."""
    op_type, _, (arrays, attrs) = case
    arrays = [np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays]
    graph, node, inputs, feeds = build(op_type, arrays, attrs)
    rng = np.random.default_rng(2)
    with graph.as_default():
        total = objective(node, rng)
        x = next(t for t in inputs if t.dtype.kind == "f")
        (g,) = gc.gradients(total, [x], unconnected="zero")
        v = gc.constant(rng.normal(size=feeds[x].shape))
        inner = gc.reduce_sum(g * v)
        (h,) = gc.gradients(inner, [x], unconnected="zero")
    with gc.Session(graph) as sess:
        symbolic = sess.run(h, feeds)
        numeric = numeric_gradient(lambda: float(sess.run(inner, feeds)), feeds[x])
    np.testing.assert_allclose(symbolic, numeric, rtol=1e-4, atol=1e-5, err_msg=f"second order of {op_type}")
