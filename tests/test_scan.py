"""gc.scan: forward semantics against NumPy loops, captures, reverse, variable lengths, constant graph size,
planning once, symbolic BPTT (first and second order) against finite differences, and clipping."""
import numpy as np
import pytest

import graphcore as gc
from numerics import numeric_gradient

RNG = np.random.default_rng(0)
XS, H0 = RNG.normal(size=(6, 2, 3)), RNG.normal(size=(2, 4))
W, UW = RNG.normal(size=(3, 4)) * 0.5, RNG.normal(size=(4, 4)) * 0.5


def _numpy_rnn(xs, h, reverse=False, lengths=None):
    outs = np.zeros(xs.shape[:2] + (h.shape[1],))
    for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
        new = np.tanh(xs[t] @ W + h @ UW)
        valid = (t < lengths)[:, None] if lengths is not None else True
        h = np.where(valid, new, h)
        outs[t] = np.where(valid, new, 0.0)
    return h, outs


def _rnn_graph(T=None, reverse=False, with_lengths=False):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, (T, None, 3), name="x")
        h0 = gc.placeholder(gc.float64, (None, 4), name="h0")
        w, u = gc.Variable(W, name="w"), gc.Variable(UW, name="u")
        lengths = gc.placeholder(gc.int32, (None,), name="lengths") if with_lengths else None

        def step(xt, h):   # w and u are captured; one of them on the left of the operator
            h = gc.tanh(xt @ w + gc.matmul(h, u))
            return h, h
        h, ys = gc.scan(step, x, h0, reverse=reverse, lengths=lengths)
    return g, dict(x=x, h0=h0, w=w, u=u, lengths=lengths, h=h, ys=ys)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_forward_matches_numpy_loop(reverse, with_lengths):
    g, t = _rnn_graph(reverse=reverse, with_lengths=with_lengths)
    lengths = np.array([6, 3]) if with_lengths else None
    feeds = {t["x"]: XS, t["h0"]: H0}
    if with_lengths:
        feeds[t["lengths"]] = lengths
    with gc.Session(g) as sess:
        h, ys = sess.run([t["h"], t["ys"]], feeds)
    want_h, want_ys = _numpy_rnn(XS, H0, reverse, lengths)
    np.testing.assert_allclose(h, want_h, atol=1e-12)
    np.testing.assert_allclose(ys, want_ys, atol=1e-12)


def test_several_sequences_states_and_outputs_with_explicit_non_sequences():
    g = gc.Graph()
    with g.as_default():
        a = gc.placeholder(gc.float32, (4, 2), name="a")
        b = gc.placeholder(gc.float32, (4, 2), name="b")
        scale = gc.constant(np.float32(3.0))

        def step(at, bt, total, count, k):
            return [total + at * bt * k, count + 1], [total, at - bt]
        (total, count), (running, diff) = gc.scan(step, [a, b], [gc.zeros_like(a[0]), gc.constant(np.int64(0))],
                                                  non_sequences=[scale])
    av, bv = np.arange(8, dtype=np.float32).reshape(4, 2), np.ones((4, 2), np.float32) * 2
    with gc.Session(g) as sess:
        got = sess.run([total, count, running, diff], {a: av, b: bv})
    np.testing.assert_allclose(got[0], (av * bv * 3).sum(0))
    assert got[1] == 4 and got[1].dtype == np.int64
    np.testing.assert_allclose(got[2], np.cumsum(av * bv * 3, 0) - av * bv * 3)
    np.testing.assert_allclose(got[3], av - bv)
    assert total.dtype == np.float32 and running.shape == (4, 2)


def test_n_steps_without_sequences_generates():
    g = gc.Graph()
    with g.as_default():
        x0 = gc.constant(np.array([1.0, 2.0], np.float32))
        last, powers = gc.scan(lambda x: (x * 2.0, x), initial_states=x0, n_steps=5)
    with gc.Session(g) as sess:
        last_v, powers_v = sess.run([last, powers])
    np.testing.assert_allclose(powers_v, [[1, 2], [2, 4], [4, 8], [8, 16], [16, 32]])
    np.testing.assert_allclose(last_v, [32, 64])


def test_nested_scan_captures_through_both_bodies():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, (3, 2, 4), name="x")
        w = gc.Variable(np.float64(0.5), name="w")

        def outer(row, acc):    # inner scan over the row's 2 elements, capturing w from the outermost graph
            s, _ = gc.scan(lambda e, a: (a + e * w, e), row, gc.zeros_like(row[0]))
            return acc + s, s
        total, _ = gc.scan(outer, x, gc.zeros_like(x[0, 0]))
        (gw,) = gc.gradients(gc.reduce_sum(total), [w])
    xv = RNG.normal(size=(3, 2, 4))
    with gc.Session(g) as sess:
        got, got_gw = sess.run([total, gw], {x: xv})
    np.testing.assert_allclose(got, xv.sum((0, 1)) * 0.5)
    np.testing.assert_allclose(got_gw, xv.sum())


def test_variables_inside_the_step_are_refused():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (3, 2), name="x")
        with pytest.raises(gc.BuildError, match="variables cannot be created inside a scan"):
            gc.scan(lambda xt, h: (h + xt * gc.Variable(np.float32(1.0)), h), x, gc.zeros_like(x[0]))


def test_state_type_mismatch_is_a_build_error():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (3, 2), name="x")
        with pytest.raises(gc.BuildError, match="state 0 enters the step as float32\\(2,\\) but leaves it as"):
            gc.scan(lambda xt, h: (gc.concat([h, xt], 0), h), x, gc.zeros_like(x[0]))


def _training_graph(T):
    g, t = _rnn_graph(T=T)
    with g.as_default():
        loss = gc.reduce_mean(gc.square(t["ys"])) + gc.reduce_sum(t["h"])
        grads = gc.gradients(loss, [t["w"], t["u"], t["x"], t["h0"]])
        (hessian_vector,) = gc.gradients(gc.reduce_sum(grads[0] * grads[0]), [t["u"]])
    return g, t, loss, grads, hessian_vector


def test_node_count_does_not_grow_with_sequence_length():
    assert len(_training_graph(10)[0].nodes) == len(_training_graph(1000)[0].nodes)


def test_the_body_is_planned_once(monkeypatch):
    import graphcore.control.loop as loop_module
    g, t = _rnn_graph()
    plans = []
    original = loop_module.make_plan
    monkeypatch.setattr(loop_module, "make_plan",
                        lambda leaves, *a, **k: plans.append(leaves[0].graph) or original(leaves, *a, **k))
    with gc.Session(g) as sess:
        for _ in range(3):
            sess.run(t["ys"], {t["x"]: RNG.normal(size=(50, 2, 3)), t["h0"]: H0})
    assert len([p for p in plans if p is not g]) == 1      # one body plan for 3 runs × 50 steps


@pytest.mark.parametrize("reverse,with_lengths", [(False, False), (True, True)])
def test_bptt_matches_finite_differences(reverse, with_lengths):
    g, t = _rnn_graph(reverse=reverse, with_lengths=with_lengths)
    with g.as_default():
        r = gc.constant(RNG.normal(size=(6, 2, 4)))
        loss = gc.reduce_sum(t["ys"] * r) + gc.reduce_sum(gc.square(t["h"]))
        wrt = [t["w"], t["u"], t["x"], t["h0"]]
        grads = gc.gradients(loss, wrt)
    feeds = {t["x"]: XS.copy(), t["h0"]: H0.copy()}
    if with_lengths:
        feeds[t["lengths"]] = np.array([4, 6])
    with gc.Session(g) as sess:
        symbolic = sess.run(grads, feeds)
        for var, got in zip(wrt, symbolic):
            if var in feeds:
                value = feeds[var]
                numeric = numeric_gradient(lambda: float(sess.run(loss, feeds)), value)
            else:
                value = sess.variables[var.node.name] = sess.variables[var.node.name].copy()

                def f():
                    sess.variables[var.node.name] = value
                    return float(sess.run(loss, feeds))
                numeric = numeric_gradient(f, value)
            np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8, err_msg=var.name)


def test_second_order_through_a_short_scan():
    """d/du of ‖∂L/∂w‖²: the backward scan is itself differentiated (a backward-of-backward scan)."""
    g, t, loss, grads, hessian_vector = _training_graph(3)
    feeds = {t["x"]: XS[:3], t["h0"]: H0}
    with gc.Session(g) as sess:
        got = sess.run(hessian_vector, feeds)
        u = sess.variables["u"] = sess.variables["u"].copy()

        def f():
            sess.variables["u"] = u
            return float(np.sum(sess.run(grads[0], feeds) ** 2))
        np.testing.assert_allclose(got, numeric_gradient(f, u), rtol=1e-5, atol=1e-8)
    assert sum(n.type == "Scan" for n in g.nodes) == 4   # forward, backward, and the two of the second order


def test_clipping_exploding_gradients_by_value_and_global_norm():
    g, t = _rnn_graph()
    with g.as_default():
        big = gc.Variable(UW * 20, name="big")    # a strongly expanding recurrence
        _, ys = gc.scan(lambda xt, h: (xt @ t["w"] + h @ big,) * 2, t["x"], t["h0"])
        grads = gc.gradients(gc.reduce_sum(ys), [t["w"], big])
        clipped, norm = gc.train.clip_by_global_norm(grads, 1.0)
        by_value = gc.train.clip_by_value(grads[1], -0.5, 0.5)
    with gc.Session(g) as sess:
        raw, got, got_norm, got_value = sess.run([grads, clipped, norm, by_value], {t["x"]: XS, t["h0"]: H0})
    assert got_norm > 1e6
    np.testing.assert_allclose(np.sqrt(sum(np.sum(c ** 2) for c in got)), 1.0, rtol=1e-9)
    np.testing.assert_allclose(got[1], raw[1] / got_norm, rtol=1e-9)
    assert np.abs(got_value).max() == 0.5


def test_loop_layout_names_every_input_and_output_of_a_scan():
    """LoopLayout: sequences | states | captures in, final states | stacked outputs | entering states out."""
    from graphcore.control import LoopLayout
    g = gc.Graph()
    with g.as_default():
        x, y = gc.placeholder(gc.float64, (5, 2, 3), name="x"), gc.placeholder(gc.float64, (5, 2, 3), name="y")
        h0, c0 = gc.zeros((2, 3), gc.float64), gc.ones((2, 3), gc.float64)
        w, scale = gc.Variable(np.eye(3), name="w"), gc.placeholder(gc.float64, (), name="scale")
        (h, c), outs = gc.scan(lambda xt, yt, h, c, s: ([h @ w + xt, c * s + yt], [h + c]), [x, y], [h0, c0],
                               non_sequences=[scale])
    node = h.node
    layout = LoopLayout.of(node.attrs)
    assert layout == LoopLayout(sequences=2, states=2, captures=2, outputs=1)     # captures: scale, then w
    seqs, states, caps = layout.split_inputs(list(node.inputs))
    assert _same(seqs, [x, y]) and _same(states, [h0, c0]) and caps[0] is scale and caps[1].node.name == "w"
    finals, stacked, entering = layout.split_outputs(list(node.outputs))
    assert _same(finals, [h, c]) and _same(stacked, outs) and [t.shape for t in entering] == [(5, 2, 3)] * 2
    assert [layout.state_input(1), layout.capture_input(0), layout.stacked_output(0), layout.entering_output(1)] \
        == [3, 4, 2, 4]
    assert node.inputs[layout.capture_input(1)] is caps[1] and node.outputs[layout.entering_output(1)] is entering[1]


def _same(tensors, expected):
    return len(tensors) == len(expected) and all(a is b for a, b in zip(tensors, expected))
