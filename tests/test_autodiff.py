"""jacobian, batch_jacobian, hessian, jvp and vjp: values against PyTorch's autograd (the oracle), graph size
independent of the number of outputs, and the results are graphs that differentiate, export and render."""
import numpy as np
import pytest
import torch

import graphcore as gc
from graphcore import export
from numerics import numeric_gradient

RNG = np.random.default_rng(0)
W1, B1, W2 = RNG.normal(size=(3, 5)), RNG.normal(size=5), RNG.normal(size=(5, 4))


def _net(x):
    """A small two-layer function, written once for graphcore and once for torch (same ops)."""
    if isinstance(x, torch.Tensor):
        return torch.tanh(torch.sigmoid(x @ torch.tensor(W1) + torch.tensor(B1)) @ torch.tensor(W2))
    return gc.tanh(gc.matmul(gc.sigmoid(gc.matmul(x, gc.constant(W1)) + gc.constant(B1)), gc.constant(W2)))


def _graph(shape):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, shape, name="x")
    return graph, x


def test_jacobian_matches_torch_and_has_tensorflows_shape():
    graph, x = _graph((2, 3))
    with graph.as_default():
        y = _net(x)
        jac = gc.jacobian(y, x)
    assert jac.shape == (2, 4, 2, 3)
    value = RNG.normal(size=(2, 3))
    with gc.Session(graph) as sess:
        got = sess.run(jac, {x: value})
    expected = torch.autograd.functional.jacobian(_net, torch.tensor(value)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_jacobian_of_several_inputs_and_a_disconnected_one_gives_zeros():
    graph, x = _graph((3,))
    with graph.as_default():
        w = gc.placeholder(gc.float64, (3,), name="w")
        unused = gc.placeholder(gc.float64, (2,), name="unused")
        y = gc.exp(x * w)
        jx, jw, ju = gc.jacobian(y, [x, w, unused])
    xv, wv = RNG.normal(size=3), RNG.normal(size=3)
    with gc.Session(graph) as sess:
        gx, gw, gu = sess.run([jx, jw, ju], {x: xv, w: wv, unused: np.zeros(2)})
    np.testing.assert_allclose(gx, np.diag(wv * np.exp(xv * wv)), rtol=1e-12)
    np.testing.assert_allclose(gw, np.diag(xv * np.exp(xv * wv)), rtol=1e-12)
    assert gu.shape == (3, 2) and not gu.any()


def test_batch_jacobian_is_the_per_example_diagonal_block_with_an_unknown_batch():
    graph, x = _graph((None, 3))
    with graph.as_default():
        y = _net(x)
        per_example = gc.batch_jacobian(y, x)
    assert per_example.shape == (None, 4, 3)
    value = RNG.normal(size=(5, 3))
    with gc.Session(graph) as sess:
        got = sess.run(per_example, {x: value})
    full = torch.autograd.functional.jacobian(_net, torch.tensor(value)).numpy()   # (5, 4, 5, 3)
    np.testing.assert_allclose(got, np.stack([full[b, :, b, :] for b in range(5)]), rtol=1e-10, atol=1e-12)


def test_hessian_matches_torch():
    graph, x = _graph((4,))
    with graph.as_default():
        y = gc.reduce_sum(gc.sin(x) * gc.reduce_sum(gc.square(x)))
        (h,) = gc.hessian(y, [x])
    value = RNG.normal(size=4)
    with gc.Session(graph) as sess:
        got = sess.run(h, {x: value})
    expected = torch.autograd.functional.hessian(lambda t: (torch.sin(t) * (t ** 2).sum()).sum(),
                                                 torch.tensor(value)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_jvp_and_vjp_match_torch():
    graph, x = _graph((2, 3))
    with graph.as_default():
        y = _net(x)
        t = gc.placeholder(gc.float64, (2, 3), name="tangent")
        u = gc.placeholder(gc.float64, (2, 4), name="cotangent")
        forward = gc.jvp(y, x, t)
        backward = gc.vjp(y, x, u)
    xv, tv, uv = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3)), RNG.normal(size=(2, 4))
    with gc.Session(graph) as sess:
        got_jvp, got_vjp = sess.run([forward, backward], {x: xv, t: tv, u: uv})
    _, expected_jvp = torch.autograd.functional.jvp(_net, torch.tensor(xv), torch.tensor(tv))
    _, expected_vjp = torch.autograd.functional.vjp(_net, torch.tensor(xv), torch.tensor(uv))
    np.testing.assert_allclose(got_jvp, expected_jvp.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_vjp, expected_vjp.numpy(), rtol=1e-10, atol=1e-12)


def _jacobian_nodes(outputs):
    graph, x = _graph((3,))
    with graph.as_default():
        y = gc.tanh(gc.matmul(gc.reshape(x, (1, 3)), gc.constant(RNG.normal(size=(3, outputs)))))
        before = len(graph.nodes)
        jac = gc.jacobian(y, x)
    body = next(n for n in graph.nodes if n.type == "Scan").attrs["body"]
    return len(graph.nodes) - before, len(body.nodes), (graph, x, jac)


def test_graph_size_does_not_grow_with_the_number_of_outputs():
    """One traced vjp in a loop body, not one gradient graph per output element."""
    counts = {n: _jacobian_nodes(n)[:2] for n in (4, 64, 1024)}
    print("jacobian nodes (outer graph, loop body) by output count:", counts)
    assert len(set(counts.values())) == 1, counts
    outer, body = counts[4]
    assert outer + body < 40


def test_jacobian_is_differentiable_again():
    """d/dW of ‖∂y/∂x‖² — a gradient through the jacobian's loop — against finite differences."""
    graph, x = _graph((2, 3))
    with graph.as_default():
        w = gc.Variable(RNG.normal(size=(3, 4)), name="w")
        penalty = gc.reduce_sum(gc.square(gc.batch_jacobian(gc.sigmoid(gc.matmul(x, w)), x)))
        (grad,) = gc.gradients(penalty, [w])
    feed = {x: RNG.normal(size=(2, 3))}
    with gc.Session(graph) as sess:
        symbolic = sess.run(grad, feed)
        start = sess.variables[w.node.name].copy()

        def value():
            return float(sess.run(penalty, feed))
        numeric = numeric_gradient(value, sess.variables[w.node.name])
        assert np.array_equal(sess.variables[w.node.name], start)
    np.testing.assert_allclose(symbolic, numeric, rtol=1e-6, atol=1e-8)


def test_jacobian_exports_to_onnx_and_renders():
    _, _, (graph, x, jac) = _jacobian_nodes(6)
    with gc.Session(graph) as sess:
        value = RNG.normal(size=3)
        expected = sess.run(jac, {x: value})
        proto = export.to_onnx(graph, inputs=[x], outputs=[jac], session=sess)
    got = export.InferenceSession(proto, device="cpu").run(value)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    dot = gc.render(graph).source
    assert "Scan" in dot and "jacobian" in dot


@pytest.mark.parametrize("build, error, message", [
    (lambda x: gc.jacobian(gc.square(x), x), gc.BuildError, "fully known shape"),
    (lambda x: gc.hessian(gc.square(x), x), gc.BuildError, "scalar y"),
    (lambda x: gc.jvp(gc.square(x), x, gc.constant(np.ones(3))), gc.GradientError, "tangent for"),
    (lambda x: gc.vjp(gc.square(x), x, [gc.constant(np.ones((2, 3))), gc.constant(np.ones(3))]), gc.GradientError,
     "2 cotangents"),
])
def test_bad_requests_raise_graphcore_errors(build, error, message):
    graph, x = _graph((None, 3))
    with graph.as_default(), pytest.raises(error, match=message):
        build(x)


def test_jacobian_through_a_scan_differentiates_the_loop_from_inside_the_jacobians_loop():
    w = np.array([[0.5, -0.3], [0.2, 0.8]])
    graph, x = _graph((3, 2, 2))
    with graph.as_default():
        step = lambda xt, h: (gc.tanh(xt + gc.matmul(h, gc.constant(w))),) * 2  # noqa: E731
        (final,), _ = gc.scan(step, sequences=[x], initial_states=[gc.constant(np.zeros((2, 2)))])
        jac = gc.jacobian(final, x)
    value = RNG.normal(size=(3, 2, 2))
    with gc.Session(graph) as sess:
        got = sess.run(jac, {x: value})

    def rnn(xs):
        h = torch.zeros(2, 2, dtype=torch.float64)
        for t in range(3):
            h = torch.tanh(xs[t] + h @ torch.tensor(w))
        return h
    expected = torch.autograd.functional.jacobian(rnn, torch.tensor(value)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
