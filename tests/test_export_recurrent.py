"""Recurrent layers export as the native ONNX RNN/LSTM/GRU (gates reordered, no Scan left) and onnxruntime
matches the interpreter for several batch sizes and sequence lengths the graph was not traced with; patterns
the native ops cannot express fall back to ONNX Scan."""
import collections

import numpy as np
import pytest

import graphcore as gc
from graphcore import export, layers, recurrent

RTOL, ATOL = 1e-4, 1e-5
F, U = 4, 5
NATIVE = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
CELLS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {"reset_after": True}), ("GRU", {"reset_after": False})]
OPTIONS = [dict(return_sequences=True, return_state=True), dict(return_state=True), dict(go_backwards=True),
           dict(return_sequences=True, go_backwards=True),
           dict(return_sequences=True, go_backwards=True, return_state=True)]
# (batch, time): two batch sizes, and lengths other than the traced one (unknown when traced, or 5).
SHAPES = [(2, 7), (3, 3)]


def _randomise(layer, rng):
    """Random weights and biases, so that a wrong gate order or bias half shows."""
    layer.set_weights([rng.normal(size=w.shape) * 0.5 for w in layer.get_weights()])


def _model(cell, steps=None, seed=0, **kwargs):
    graph = gc.Graph()
    inp = gc.Input((steps, F), graph=graph)
    layer = getattr(layers, cell)(U, **kwargs)
    model = gc.Model(inp, layer(inp))
    _randomise(layer, np.random.default_rng(seed))
    return model


def _ops(proto):
    return collections.Counter(n.op_type for n in proto.graph.node)


def _assert_parity(model, proto, shapes=SHAPES, seed=1):
    sess = export.InferenceSession(proto, device="cpu")
    rng = np.random.default_rng(seed)
    for batch, steps in shapes:
        x = rng.normal(size=(batch, steps, F)).astype(np.float32)
        want, got = model.predict(x), sess.run(x)
        want, got = (want, got) if isinstance(want, list) else ([want], [got])
        assert len(want) == len(got)
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"batch {batch}, {steps} steps")


@pytest.mark.parametrize("cell,extra", CELLS, ids=["SimpleRNN", "LSTM", "GRU-reset_after", "GRU-reset_before"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(sorted(o)))
def test_layer_exports_as_native_op_with_parity(cell, extra, options):
    model = _model(cell, **extra, **options)
    proto = export.to_onnx(model)
    ops = _ops(proto)
    assert ops[NATIVE[cell]] == 1 and "Scan" not in ops
    assert "MatMul" not in ops and "Gemm" not in ops, "the native op reads the raw x, not the projection"
    (native,) = [n for n in proto.graph.node if n.op_type == NATIVE[cell]]
    direction = [a.s.decode() for a in native.attribute if a.name == "direction"]
    assert direction == (["reverse"] if options.get("go_backwards") else ["forward"])
    batch, time = proto.graph.input[0].type.tensor_type.shape.dim[:2]
    assert batch.dim_param == "batch" and time.dim_param
    _assert_parity(model, proto)


@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_final_states_alone(cell):
    graph = gc.Graph()
    inp = gc.Input((None, F), graph=graph)
    layer = getattr(layers, cell)(U, return_state=True, go_backwards=True)
    model = gc.Model(inp, layer(inp)[1:])    # drop the output, which is the final h again
    _randomise(layer, np.random.default_rng(6))
    proto = export.to_onnx(model)
    assert _ops(proto)[NATIVE[cell]] == 1 and "Scan" not in _ops(proto)
    _assert_parity(model, proto)


def test_traced_sequence_length_exports_natively():
    """With T known when traced the projection takes its other form (reshape to 2-D, one matmul)."""
    model = _model("LSTM", steps=6, return_sequences=True)
    proto = export.to_onnx(model)
    assert _ops(proto)["LSTM"] == 1 and "Scan" not in _ops(proto)
    _assert_parity(model, proto, shapes=[(1, 6), (4, 6)])


def test_initial_states_become_initial_h_and_c():
    graph = gc.Graph()
    x, h0, c0 = gc.Input((None, F), graph=graph), gc.Input((U,), graph=graph), gc.Input((U,), graph=graph)
    layer = layers.LSTM(U, return_sequences=True, return_state=True)
    model = gc.Model([x, h0, c0], layer([x, h0, c0]))
    _randomise(layer, np.random.default_rng(2))
    proto = export.to_onnx(model)
    (native,) = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert len(native.input) == 7 and all(native.input[5:])     # initial_h, initial_c
    sess, rng = export.InferenceSession(proto, device="cpu"), np.random.default_rng(3)
    for batch, steps in SHAPES:
        feeds = [rng.normal(size=s).astype(np.float32) for s in ((batch, steps, F), (batch, U), (batch, U))]
        got = sess.run(dict(zip(sess.input_names, feeds)))
        for w, g in zip(model.predict(feeds), got):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("fn", [recurrent.lstm, recurrent.gru], ids=["LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lengths_become_sequence_lens(fn, go_backwards):
    rng = np.random.default_rng(4)
    gates = 4 if fn is recurrent.lstm else 3
    bias = (2, 3 * U) if fn is recurrent.gru else (4 * U,)
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float32, (None, None, F), name="x")
        lengths = gc.placeholder(gc.int64, (None,), name="lengths")
        weights = [gc.constant(rng.normal(size=s).astype(np.float32) * 0.5)
                   for s in ((F, gates * U), (U, gates * U), bias)]
        outs = fn(x, *weights, lengths=lengths, return_sequences=True, return_state=True, go_backwards=go_backwards)
    proto = export.to_onnx(graph, inputs=[x, lengths], outputs=outs)
    (native,) = [n for n in proto.graph.node if n.op_type in ("LSTM", "GRU")]
    assert native.input[4] and "Scan" not in _ops(proto)       # sequence_lens
    sess = export.InferenceSession(proto, device="cpu")
    for batch, steps in SHAPES:
        feeds = {x: rng.normal(size=(batch, steps, F)).astype(np.float32), lengths: rng.integers(1, steps + 1, batch)}
        with gc.Session(graph) as interpreter:
            want = interpreter.run(outs, feeds)
        for w, g in zip(want, sess.run({t.name: v for t, v in feeds.items()})):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_stacked_and_bidirectional_layers_each_become_one_native_op():
    graph = gc.Graph()
    inp = gc.Input((None, F), graph=graph)
    bidirectional = layers.Bidirectional(layers.LSTM(U, return_sequences=True))
    gru, dense = layers.GRU(U), layers.Dense(2)
    model = gc.Model(inp, dense(gru(bidirectional(inp))))
    rng = np.random.default_rng(5)
    for layer in (bidirectional.forward_layer, bidirectional.backward_layer, gru):
        _randomise(layer, rng)
    proto = export.to_onnx(model)
    ops = _ops(proto)
    assert ops["LSTM"] == 2 and ops["GRU"] == 1 and "Scan" not in ops
    _assert_parity(model, proto)


def test_activation_without_onnx_rnn_equivalent_falls_back_to_scan():
    model = _model("SimpleRNN", activation="softplus", return_sequences=True)
    proto = export.to_onnx(model)
    assert _ops(proto)["Scan"] == 1 and "RNN" not in _ops(proto)
    _assert_parity(model, proto)
