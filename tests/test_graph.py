"""The graph: names, scopes, creation sites, operators, build-time shape/dtype errors, finalize."""
import numpy as np
import pytest

import graphcore as gc

HERE = __file__


def test_issue_snippet_runs_as_written():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, shape=(None, 4), name="x")
        W = gc.Variable(gc.random_normal((4, 3), seed=0), name="W")
        b = gc.Variable(np.zeros(3, np.float32), name="b")
        with gc.name_scope("dense"):
            y = gc.tanh(gc.matmul(x, W) + b)
        loss = gc.reduce_mean(gc.square(y))
        gW, gb = gc.gradients(loss, [W, b])
        (hW,) = gc.gradients(gc.reduce_sum(gW * W), [W])
        step = gc.train.SGD(learning_rate=0.1).minimize(loss)
    with gc.Session(g) as sess:
        w0 = sess.run(W)
        value, grads, none = sess.run([loss, {"W": gW, "b": gb}, step], feed_dict={x: np.ones((2, 4), np.float32)})
        w1 = sess.run(W)
    assert none is None and set(grads) == {"W", "b"}
    xv = np.ones((2, 4), np.float32)
    t = np.tanh(xv @ w0)
    np.testing.assert_allclose(value, np.mean(t ** 2), rtol=1e-6)
    expected_gw = xv.T @ (2 * t * (1 - t ** 2) / t.size)
    np.testing.assert_allclose(grads["W"], expected_gw, rtol=1e-5)
    np.testing.assert_allclose(w1, w0 - 0.1 * expected_gw, rtol=1e-5)
    assert y.node.name == "dense/Tanh" and hW.shape == (4, 3)


def test_names_are_scoped_unique_and_deterministic():
    def build():
        g = gc.Graph()
        with g.as_default():
            x = gc.placeholder(gc.float32, (None, 2), name="x")
            with gc.name_scope("dense"):
                a = x + 1.0
                b = x + 2.0
            with gc.name_scope("dense"):
                c = x * 3.0
        return g, (a, b, c)
    g1, (a, b, c) = build()
    g2, _ = build()
    assert [a.node.name, b.node.name, c.node.name] == ["dense/Add", "dense/Add_1", "dense_1/Mul"]
    assert [n.name for n in g1.nodes] == [n.name for n in g2.nodes]


def test_creation_site_points_at_user_code():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (3,))
        line = __import__("inspect").currentframe().f_lineno + 1
        y = gc.sigmoid(x) * 2.0
    assert y.node.site == f"{HERE}:{line}"
    assert y.node.inputs[0].node.site == f"{HERE}:{line}"


def test_consumers_are_the_same_whether_asked_while_building_or_after():
    """The consumers table is made on the first ``consumers_of`` and kept up to date from then on."""
    def build(ask_early):
        g = gc.Graph()
        with g.as_default():
            x = gc.placeholder(gc.float32, (3,), name="x")
            a = gc.sigmoid(x)
            if ask_early:
                assert g.consumers_of(x.node) == [a.node]
            b = a * a                                    # reads a twice: listed twice
            with g.control_dependencies([b]):
                c = gc.identity(x)
        return g, (x, a, b, c)
    for ask_early in (False, True):
        g, (x, a, b, c) = build(ask_early)
        assert g.consumers_of(x.node) == [a.node, c.node]
        assert g.consumers_of(a.node) == [b.node, b.node]
        assert g.consumers_of(b.node) == [c.node] and g.consumers_of(c.node) == []
        assert x.consumers == [a.node, c.node]


def test_a_pinned_creation_site_names_every_node_made_inside():
    from graphcore.sites import pinned_site
    g = gc.Graph()
    with g.as_default():
        line = __import__("inspect").currentframe().f_lineno + 1
        with pinned_site():
            x = gc.placeholder(gc.float32, (3,))
            y = gc.sigmoid(x) * 2.0
        z = gc.tanh(x)
        with pinned_site("model.onnx:node 'a'"):
            w = gc.exp(x)
    assert {n.site for n in (x.node, y.node, y.node.inputs[0].node)} == {f"{HERE}:{line}"}
    assert z.node.site == f"{HERE}:{line + 3}" and w.node.site == "model.onnx:node 'a'"


def test_operator_overloads_build_the_right_ops():
    g = gc.Graph()
    with g.as_default():
        a = gc.constant(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
        b = gc.constant(np.array([[0.5, -1.0], [2.0, 1.0]], np.float32))
        exprs = {"add": a + b, "radd": 1.0 + a, "sub": a - b, "rsub": 1.0 - a, "mul": a * b, "div": a / b,
                 "rdiv": 2.0 / a, "matmul": a @ b, "pow": a ** 2.0, "neg": -a, "lt": a < b, "ge": a >= b,
                 "slice": a[1:, ::-1], "index": a[0], "abs": abs(b), "T": a.T}
    an = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    bn = np.array([[0.5, -1.0], [2.0, 1.0]], np.float32)
    expected = {"add": an + bn, "radd": 1 + an, "sub": an - bn, "rsub": 1 - an, "mul": an * bn, "div": an / bn,
                "rdiv": 2 / an, "matmul": an @ bn, "pow": an ** 2, "neg": -an, "lt": an < bn, "ge": an >= bn,
                "slice": an[1:, ::-1], "index": an[0], "abs": np.abs(bn), "T": an.T}
    with gc.Session(g) as sess:
        got = sess.run(exprs)
    for k in exprs:
        np.testing.assert_allclose(got[k], expected[k], err_msg=k)
        assert np.asarray(got[k]).dtype == expected[k].dtype, k


def test_python_scalars_do_not_upcast():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (2,))
        y = x * 0.5 + 1 - 2.0 / (x + 3)
    assert y.dtype == gc.float32
    with gc.Session(g) as sess:
        assert sess.run(y, {x: np.ones(2, np.float32)}).dtype == np.float32


@pytest.mark.parametrize("build, words", [
    (lambda x: gc.matmul(x, gc.constant(np.zeros((5, 3), np.float32))), ["inner dimensions", "(?, 4)", "(5, 3)"]),
    (lambda x: x + gc.constant(np.zeros((3,), np.float32)), ["do not broadcast", "(?, 4)", "(3,)"]),
    (lambda x: gc.reshape(x, (3, 5)), ["cannot reshape"]),
    (lambda x: x + gc.constant(np.zeros((4,), np.int64)), ["float32", "int64", "gc.cast"]),
    (lambda x: gc.reshape(gc.constant(np.zeros((2, 6), np.float32)), (5, -1)), ["cannot reshape", "12"]),
])
def test_bad_builds_raise_at_build_time_with_context(build, words):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 4), name="x")
        line = __import__("inspect").currentframe().f_lineno + 2
        with pytest.raises(gc.BuildError) as info:
            build(x)
    message = str(info.value)
    for w in words:
        assert w in message, (w, message)
    assert "node: '" in message and f"{HERE}:" in message
    assert info.value.node is not None and info.value.node.site.startswith(HERE)
    del line


def test_finalize_forbids_new_nodes():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (2,))
        y = x * 2.0
        g.finalize()
        with pytest.raises(gc.GraphFinalizedError, match="finalized"):
            x + 1.0
    with gc.Session(g) as sess:
        np.testing.assert_allclose(sess.run(y, {x: np.ones(2, np.float32)}), [2.0, 2.0])


def test_default_graph_and_reset():
    gc.reset_default_graph()
    x = gc.constant(1.0)
    assert x.graph is gc.get_default_graph()
    g = gc.Graph()
    with g.as_default():
        assert gc.get_default_graph() is g
    assert gc.get_default_graph() is x.graph


def test_slicing_shape_inference_with_unknown_batch():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 5, 3))
        assert x[:, 1:4].shape == (None, 3, 3)
        assert x[0].shape == (5, 3)
        assert x[..., None, 0].shape == (None, 5, 1)
        assert x[1:].shape == (None, 5, 3)
