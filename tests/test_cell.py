"""The fused LSTM step equals its definition in primitive ops, values and gradients, even where gates saturate."""
import numpy as np
import pytest

import graphcore as gc
from graphcore.ops.cell import lstm_cell, lstm_gates


@pytest.mark.parametrize("scale", [1.0, 60.0])
def test_fused_cell_and_its_gradient_equal_the_composed_cell(scale):
    rng = np.random.default_rng(0)
    batch, units = 5, 3
    values = [rng.normal(size=(batch, 4 * units)) * scale, rng.normal(size=(batch, units)),
              rng.normal(size=(batch, units)), rng.normal(size=(units, 4 * units))]
    g = gc.Graph()
    with g.as_default():
        xp, h, c, kernel = [gc.constant(v.astype(np.float32)) for v in values]
        h_fused, c_fused, gates = lstm_cell(xp, h, c, kernel)
        h_ref, c_ref = lstm_gates(xp + h @ kernel, c)
        weights = [gc.constant(rng.normal(size=(batch, units)).astype(np.float32)) for _ in range(2)]
        fused = gc.gradients(gc.reduce_sum(h_fused * weights[0] + c_fused * weights[1]), [xp, h, c, kernel])
        ref = gc.gradients(gc.reduce_sum(h_ref * weights[0] + c_ref * weights[1]), [xp, h, c, kernel])
        i, f, g_, o = gc.split(xp + h @ kernel, 4, axis=-1)
        activated = gc.concat([gc.sigmoid(i), gc.sigmoid(f), gc.tanh(g_), gc.sigmoid(o)], axis=-1)
    with gc.Session(g) as sess:
        got, want = sess.run([h_fused, c_fused, gates] + fused), sess.run([h_ref, c_ref, activated] + ref)
    for name, a, b in zip(["h", "c", "gates", "dxp", "dh", "dc", "dR"], got, want):
        assert np.all(np.isfinite(a)), name
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("scale", [1.0, 60.0])
def test_fused_backward_step_equals_its_primitive_definition(scale):
    """LSTMCellGrad's kernel computes lstm_gates_grad (whose derivative its own gradient is), and both give
    the gradient of lstm_gates."""
    from graphcore.ops.cell import lstm_gates_grad
    rng = np.random.default_rng(1)
    batch, units = 4, 3
    g = gc.Graph()
    with g.as_default():
        z, c, grad_h, grad_c = [gc.constant(v.astype(np.float32)) for v in (
            rng.normal(size=(batch, 4 * units)) * scale, rng.normal(size=(batch, units)),
            rng.normal(size=(batch, units)), rng.normal(size=(batch, units)))]
        no_recurrence = gc.constant(np.zeros((units, 4 * units), np.float32))
        h_new, c_new, gates = lstm_cell(z, gc.zeros_like(c), c, no_recurrence)
        fused = gc.gradients([h_new, c_new], [z, c], grad_ys=[grad_h, grad_c])
        composed = lstm_gates_grad(gates, c, grad_h, grad_c)
        reference = gc.gradients(list(lstm_gates(z, c)), [z, c], grad_ys=[grad_h, grad_c])
    with gc.Session(g) as sess:
        got = sess.run(fused + list(composed) + reference)
    for name, a, b in zip(["dz fused", "dc fused", "dz composed", "dc composed"], got[:4], got[4:] * 2):
        assert np.all(np.isfinite(a)), name
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)


def test_lstm_step_runs_one_cell_node_per_direction():
    """The LSTM's loop bodies: one LSTMCell forward; backward one LSTMCellGrad and one matmul per step."""
    from graphcore import recurrent
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 5, 3))
        kernel, rec = gc.Variable(np.ones((3, 8), np.float32)), gc.Variable(np.ones((2, 8), np.float32))
        loss = gc.reduce_sum(recurrent.lstm(x, kernel, rec))
        gc.gradients(loss, [kernel, rec])
    forward, backward = [n for n in g.nodes if n.op.type == "Scan"]
    assert [n.op.type for n in forward.attrs["body"].nodes].count("LSTMCell") == 1
    from graphcore.plan import make_plan

    class Runtime:
        def missing_feed(self, node):
            raise AssertionError(node.name)
    a = backward.attrs
    feeds = dict.fromkeys(([a["time_in"]] if a["time_in"] is not None else []) + list(a["seq_in"] + a["state_in"]
                                                                                    + a["cap_in"]))
    plan = make_plan(list(a["state_out"] + a["out"]), feeds, Runtime())
    types = [n.op.type for n in plan.nodes]
    # h·R is fed (a residual), not redone; dR = Σ_t h_tᵀ·dz_t is one product after the loop, not one per step.
    assert sorted(types) == ["LSTMCellGrad", "MatMul"]          # the MatMul: dh = dz·Rᵀ
    after = [n for n in g.nodes if n.op.type == "MatMul" and n.attrs["transpose_a"] and n.id > backward.id]
    assert any(t.node.op.type == "Reshape" and t.node.inputs[0].node is backward for t in after[0].inputs)


def test_backward_loop_reads_the_recurrent_kernel_transposed_once():
    """dh = dz·Rᵀ in the backward body reads a contiguous Rᵀ the loop makes once, not R transposed per step;
    the gradients stay those of the step-by-step definition."""
    from graphcore import recurrent
    from graphcore.control.loop import pretranspose_captures
    from graphcore.plan import make_plan
    rng = np.random.default_rng(2)
    g = gc.Graph()
    with g.as_default():
        x = gc.constant(rng.normal(size=(3, 4, 2)).astype(np.float32))
        kernel = gc.constant(rng.normal(size=(2, 8)).astype(np.float32))
        rec = gc.constant(rng.normal(size=(2, 8)).astype(np.float32))
        loss = gc.reduce_sum(recurrent.lstm(x, kernel, rec, return_sequences=True) ** 2)
        fused = gc.gradients(loss, [x, rec])
        h = c = gc.zeros_like(x[:, 0, :2])
        outputs = []
        for t in range(4):
            h, c = lstm_gates(x[:, t] @ kernel + h @ rec, c)
            outputs.append(h)
        composed = gc.gradients(gc.add_n([gc.reduce_sum(o ** 2) for o in outputs]), [x, rec])
    backward = [n for n in g.nodes if n.op.type == "Scan"][1]
    a = backward.attrs
    feeds = dict.fromkeys(list(a["seq_in"] + a["state_in"] + a["cap_in"]))
    plan = make_plan(list(a["state_out"] + a["out"]), feeds, None)
    slot = dict(plan.feed_slots)
    rewritten, pairs = pretranspose_captures(plan, [slot[t] for t in a["cap_in"]])
    assert [a["cap_in"][k].shape for _, k in pairs] == [(2, 8)]
    matmul_step = next(step for step in rewritten.steps if step[4].op.type == "MatMul")
    assert matmul_step[1][1] == pairs[0][0] and matmul_step[0].keywords == {"transpose_a": False,
                                                                             "transpose_b": False}
    with gc.Session(g) as sess:
        for got, want in zip(sess.run(fused), sess.run(composed)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_mismatched_cell_shapes_fail_when_built():
    g = gc.Graph()
    with g.as_default():
        xp, h, c = gc.placeholder(gc.float32, (None, 12)), gc.placeholder(gc.float32, (None, 3)), \
            gc.placeholder(gc.float32, (None, 3))
        with pytest.raises(gc.BuildError, match=r"recurrent kernel \(3, 8\)"):
            lstm_cell(xp, h, c, gc.constant(np.zeros((3, 8), np.float32)))
        with pytest.raises(gc.BuildError, match="must be \\(batch, 4·U\\)"):
            lstm_cell(gc.placeholder(gc.float32, (None, 10)), h, c, gc.constant(np.zeros((3, 10), np.float32)))
