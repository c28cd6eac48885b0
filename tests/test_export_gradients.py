"""Gradient graphs leave the process: for every differentiable op of the registry and each of its samples,
the first- and second-order gradient graphs export to plain ONNX and onnxruntime (CPU) computes what the
interpreter computes. Generated from the registry, so a new op is covered without a new test (and one
without a converter fails here)."""
import numpy as np
import onnx
import pytest

import graphcore as gc
from graphcore import export
from registry_cases import build, differentiable_cases, ids, objective

RTOL, ATOL = 2e-4, 2e-5
# A Scan or Cond sample's body graphs were traced in float64: their inputs must stay float64.
KEEP_FLOAT64 = {"Scan", "Cond"}
# Tile's gradient reshapes to (reps, size) pairs and needs the input shape when it is built.
BATCH_KNOWN = {"Tile"}


def _gradient_graph(case, order):
    """The op's graph with an unknown batch on its data input, a scalar objective over its outputs, and the
    objective's gradients (order 1), or the gradient of <∂objective/∂x, v> (order 2)."""
    op_type, _, (arrays, attrs) = case
    if op_type not in KEEP_FLOAT64:
        arrays = [np.asarray(a, np.float32) if np.asarray(a).dtype == np.float64 else a for a in arrays]
    _, known, _, _ = build(op_type, arrays, attrs)
    graph, node, inputs, feeds = build(op_type, arrays, attrs, batch_unknown=op_type not in BATCH_KNOWN)
    rng = np.random.default_rng(1)
    with graph.as_default():
        total = objective(node, rng, shapes=[t.shape for t in known.outputs])
        wrt = [t for t in inputs if t.dtype.kind == "f"]
        grads = gc.gradients(total, wrt, unconnected="zero")
        if order == 2:
            v = [gc.constant(rng.normal(size=feeds[t].shape).astype(t.dtype)) for t in wrt]
            inner = gc.add_n([gc.reduce_sum(g * vk) for g, vk in zip(grads, v)])
            grads = gc.gradients(inner, wrt, unconnected="zero")
    return graph, list(dict.fromkeys([total] + grads)), feeds   # two inputs may share one gradient tensor


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("case", differentiable_cases(), ids=ids)
def test_gradient_graph_matches_onnxruntime(case, order, tmp_path):
    graph, outputs, feeds = _gradient_graph(case, order)
    path = tmp_path / "grad.onnx"
    export.to_onnx(graph, path, inputs=list(feeds), outputs=outputs)
    model = onnx.load(path)
    assert {n.domain for n in model.graph.node} <= {""}, "only standard ai.onnx ops"
    with gc.Session(graph, seed=0) as sess:
        expected = sess.run(outputs, feeds)
    actual = export.InferenceSession(path, device="cpu").run({t.name: a for t, a in feeds.items()})
    actual = actual if isinstance(actual, list) else [actual]
    for t, want, got in zip(outputs, expected, actual):
        scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * scale,
                                   err_msg=f"{case[0]} order {order}: {t.name}")
