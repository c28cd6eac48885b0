"""graphcore.recurrent against the ONNX operator definitions of RNN, LSTM and GRU (onnx.reference is the
oracle), plus what BPTT through them shows: vanishing gradients in a long tanh RNN, healthy ones in an LSTM."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import graphcore as gc
from graphcore import recurrent

B, T, F, U = 3, 5, 4, 6
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def _keras_weights(cell, rng, reset_after=True):
    g = GATES[cell]
    bias_shape = (2, 3 * U) if cell == "GRU" and reset_after else (g * U,)
    return [rng.normal(size=(F, g * U)) * 0.5, rng.normal(size=(U, g * U)) * 0.5, rng.normal(size=bias_shape) * 0.5]


def _onnx_weights(cell, kernel, recurrent_kernel, bias):
    """Keras layouts → ONNX's W (1, gU, F), R (1, gU, U), B (1, 2gU); LSTM gates i,f,c,o → i,o,f,c."""
    order = {"LSTM": [0, 3, 1, 2]}.get(cell, list(range(GATES[cell])))

    def gates(w):   # (..., gU) columns, reordered gate by gate
        return np.concatenate([w[..., k * U:(k + 1) * U] for k in order], axis=-1)
    W, R = gates(kernel).T[None], gates(recurrent_kernel).T[None]
    if bias.ndim == 2:   # GRU reset_after: input and recurrent bias rows
        Bias = np.concatenate([bias[0], bias[1]])[None]
    else:
        Bias = np.concatenate([gates(bias), np.zeros_like(bias)])[None]
    return W, R, Bias


def _onnx_run(cell, x, weights, direction="forward", initial=None, **attrs):
    """The ONNX op on time-major x; returns Y (T, B, U) and the final state(s) (B, U)."""
    W, R, Bias = _onnx_weights(cell, *weights)
    op = {"SimpleRNN": "RNN"}.get(cell, cell)
    names = ["X", "W", "R", "B", "", "initial_h"] + (["initial_c"] if cell == "LSTM" else [])
    feeds = {"X": x.transpose(1, 0, 2), "W": W, "R": R, "B": Bias}
    for k, name in enumerate(names[5:]):
        feeds[name] = (initial[k] if initial is not None else np.zeros((B, U)))[None]
    outs = ["Y", "Y_h"] + (["Y_c"] if cell == "LSTM" else [])
    node = helper.make_node(op, names, outs, hidden_size=U, direction=direction, **attrs)
    inputs = [helper.make_tensor_value_info(n, TensorProto.DOUBLE, v.shape) for n, v in feeds.items()]
    outputs = [helper.make_tensor_value_info(n, TensorProto.DOUBLE, [None] * (4 if n == "Y" else 3)) for n in outs]
    model = helper.make_model(helper.make_graph([node], "g", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    onnx.checker.check_model(model)
    results = ReferenceEvaluator(model).run(None, feeds)
    return results[0][:, 0], [r[0] for r in results[1:]]


def _ours(cell, x, weights, reset_after=True, lengths=None, initial=None, **options):
    fn = {"SimpleRNN": recurrent.simple_rnn, "LSTM": recurrent.lstm, "GRU": recurrent.gru}[cell]
    extra = {"reset_after": reset_after} if cell == "GRU" else {}
    g = gc.Graph()
    with g.as_default():
        xt = gc.placeholder(gc.float64, (None, x.shape[1], F), name="x")
        ws = [gc.constant(w) for w in weights]
        feeds = {xt: x}
        if lengths is not None:
            length_ph = gc.placeholder(gc.int64, (None,), name="lengths")
            feeds[length_ph] = lengths
            options["lengths"] = length_ph
        init = None if initial is None else [gc.constant(s) for s in initial]
        out = fn(xt, *ws, initial_state=init, return_state=True, **extra, **options)
    with gc.Session(g) as sess:
        return sess.run(out, feeds)


CASES = [("SimpleRNN", True), ("LSTM", True), ("GRU", True), ("GRU", False)]


@pytest.mark.parametrize("cell,reset_after", CASES)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_onnx_operator(cell, reset_after, go_backwards):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, F))
    weights = _keras_weights(cell, rng, reset_after)
    initial = [rng.normal(size=(B, U)) for _ in range(2 if cell == "LSTM" else 1)]
    extra = {"linear_before_reset": int(reset_after)} if cell == "GRU" else {}
    y_ref, states_ref = _onnx_run(cell, x, weights, "reverse" if go_backwards else "forward", initial, **extra)
    seq, *states = _ours(cell, x, weights, reset_after, initial=initial, return_sequences=True,
                         go_backwards=go_backwards)
    # Keras's go_backwards returns the outputs in processing order; ONNX keeps them aligned with the input.
    np.testing.assert_allclose(seq, (y_ref[::-1] if go_backwards else y_ref).transpose(1, 0, 2), atol=1e-12)
    for ours, ref in zip(states, states_ref):
        np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lengths_match_onnx_on_each_truncated_sequence(cell, go_backwards):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, T, F))
    weights = _keras_weights(cell, rng)
    lengths = np.array([T, 2, 4])
    extra = {"linear_before_reset": 1} if cell == "GRU" else {}
    seq, *states = _ours(cell, x, weights, lengths=lengths, return_sequences=True, go_backwards=go_backwards)
    seq = seq[:, ::-1] if go_backwards else seq
    for b, n in enumerate(lengths):
        y_ref, states_ref = _onnx_run(cell, x[:, :n], weights, "reverse" if go_backwards else "forward", **extra)
        np.testing.assert_allclose(seq[b, :n], y_ref[:, b], atol=1e-12)
        np.testing.assert_array_equal(seq[b, n:], 0.0)
        for ours, ref in zip(states, states_ref):
            np.testing.assert_allclose(ours[b], ref[b], atol=1e-12)


def test_last_output_is_the_final_state_and_scan_is_labelled():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, T, F))
    weights = _keras_weights("LSTM", rng)
    last, h, c = _ours("LSTM", x, weights)
    np.testing.assert_array_equal(last, h)
    g = gc.Graph()
    with g.as_default():
        recurrent.lstm(gc.placeholder(gc.float32, (None, T, F)), *[gc.constant(w.astype(np.float32)) for w in weights])
    (scan_node,) = [n for n in g.nodes if n.type == "Scan"]
    assert scan_node.name.startswith("lstm/") and scan_node.attrs["meta"]["cell"] == "LSTM"
    assert scan_node.attrs["meta"]["gate_order"] == "ifco" and scan_node.attrs["meta"]["units"] == U


def _first_to_last_gradient_ratio(cell, steps, seed=0, units=16):
    """mean |∂Σh_T/∂x_0| / mean |∂Σh_T/∂x_{T−1}| for a layer with Keras's initialisation (Glorot kernel,
    orthogonal recurrent kernel, forget-gate bias 1)."""
    rng = np.random.default_rng(seed)
    g = GATES[cell]
    kernel = rng.uniform(-1, 1, size=(1, g * units)) * np.sqrt(6 / (1 + g * units))
    recurrent_kernel = np.concatenate([np.linalg.qr(rng.normal(size=(units, units)))[0] for _ in range(g)], axis=1)
    bias = np.zeros(g * units)
    if cell == "LSTM":
        bias[units:2 * units] = 1.0
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (8, steps, 1), name="x")
        fn = recurrent.lstm if cell == "LSTM" else recurrent.simple_rnn
        h = fn(x, gc.constant(kernel), gc.constant(recurrent_kernel), gc.constant(bias))
        (gx,) = gc.gradients(gc.reduce_sum(h), [x])
    with gc.Session(graph) as sess:
        norms = np.abs(sess.run(gx, {x: rng.normal(size=(8, steps, 1))})).mean(axis=(0, 2))
    return norms[0] / norms[-1]


def test_vanishing_gradients_in_tanh_rnn_but_not_in_lstm():
    """Over 100 steps the tanh RNN's gradient reaching the first input has vanished (tanh' ≤ 1 times an
    orthogonal matrix, a hundred times); the LSTM's additive cell path (c' = f·c + …) keeps it alive."""
    assert _first_to_last_gradient_ratio("SimpleRNN", 100) < 1e-6
    assert _first_to_last_gradient_ratio("LSTM", 100) > 1e-2


# ----- the four input/output shapes, trained on real data (graphcore.models.recurrent) ------------------------

@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    x, y = (data.images / 16).astype(np.float32), data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    return x[order[:1400]], y[order[:1400]], x[order[1400:]], y[order[1400:]]


def test_many_to_one_classifies_digits_read_row_by_row(digits):
    from graphcore.models import recurrent as models
    x, y, x_test, y_test = digits
    model = models.row_classifier(input_shape=(8, 8), units=64, cell="lstm")
    model.compile(gc.train.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    accuracy = model.evaluate(x_test, y_test)[1]
    assert accuracy >= 0.9, accuracy


def test_one_to_one_is_a_single_step(digits):
    from graphcore.models import recurrent as models
    x, y, x_test, y_test = digits
    model = models.one_step_classifier(input_shape=(64,))
    model.compile(gc.train.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x.reshape(-1, 64), y, epochs=10, batch_size=32, verbose=0)
    assert model.evaluate(x_test.reshape(-1, 64), y_test)[1] >= 0.9
    (scan_node,) = [n for n in model.graph.nodes if n.type == "Scan" and "cell" in n.attrs["meta"]]
    assert scan_node.outputs[1].shape[0] == 1


def test_many_to_many_predicts_the_next_value_of_a_noisy_sine():
    from graphcore.models import recurrent as models
    rng = np.random.default_rng(0)
    steps, count = 40, 600
    t = np.arange(steps + 1)[None] + rng.uniform(0, 2 * np.pi / 0.2, size=(count, 1))
    clean = np.sin(0.2 * t)
    noisy = clean + rng.normal(0, 0.2, clean.shape)
    x, y = noisy[:, :steps, None].astype(np.float32), clean[:, 1:, None].astype(np.float32)
    model = models.next_value_regressor(input_shape=(steps, 1), units=16, cell="gru")
    model.compile(gc.train.Adam(0.01), "mse")
    model.fit(x[:500], y[:500], epochs=15, batch_size=32, verbose=0)
    naive = np.mean((x[500:] - y[500:]) ** 2)          # "the next value is the last one seen"
    assert model.evaluate(x[500:], y[500:]) < 0.4 * naive


def test_one_to_many_generates_words_from_a_start_symbol():
    import re
    from graphcore.models import recurrent as models
    text = models.load_corpus()
    model = models.CharModel(text, steps=24, units=64)
    model.train(150, batch_size=32, learning_rate=0.02)
    generated = model.generate("\n")
    words = re.findall(r"[a-z]+", generated)
    known = set(re.findall(r"[a-z]+", text))
    assert len(words) >= 10 and sum(w in known for w in words) >= 0.8 * len(words), generated


# ----- Keras-style layers ---------------------------------------------------------------------------------

def test_layers_take_keras_weights_and_compose():
    from graphcore import layers
    from graphcore.layers import recurrent as rl
    rng = np.random.default_rng(3)
    weights = _keras_weights("GRU", rng)
    g = gc.Graph()
    with g.as_default():
        ids = gc.placeholder(gc.int64, (None, T), name="ids")
        x = rl.Embedding(20, F)(ids)
        gru = rl.GRU(U, return_sequences=True)
        seq = gru(x)
        both = rl.Bidirectional(rl.LSTM(U, return_sequences=True))(seq)
        stacked = rl.SimpleRNN(U)(both)
        per_step = rl.TimeDistributed(layers.Dense(2))(both)
    gru.set_weights(weights)
    assert [w.shape for w in gru.get_weights()] == [(F, 3 * U), (U, 3 * U), (2, 3 * U)]
    assert both.shape == (None, T, 2 * U) and stacked.shape == (None, U) and per_step.shape == (None, T, 2)
    sess = layers.session_for(g)
    ids_v = rng.integers(0, 20, size=(B, T))
    x_v, seq_v = sess.run([x, seq], {ids: ids_v})
    y_ref, _ = _onnx_run("GRU", x_v.astype(np.float64), weights, linear_before_reset=1)
    np.testing.assert_allclose(seq_v, y_ref.transpose(1, 0, 2), atol=1e-5)
    assert sess.run(per_step, {ids: ids_v}).shape == (B, T, 2)


def test_bidirectional_returns_merged_output_and_both_directions_states():
    from graphcore import layers
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    g = gc.Graph()
    with g.as_default():
        inp = gc.Input((6, 3))
        bi = layers.Bidirectional(layers.LSTM(4, return_state=True))
        out, fh, fc, bh, bc = bi(inp)
        model = gc.Model(inp, [out, fh, fc, bh, bc])
    values = model.predict(x)
    forward, backward = bi.forward_layer, bi.backward_layer
    assert values[0].shape == (2, 8)
    np.testing.assert_allclose(values[0][:, :4], values[1], rtol=1e-6)     # last forward output = forward h
    np.testing.assert_allclose(values[0][:, 4:], values[3], rtol=1e-6)     # backward output = backward h
    assert forward.go_backwards is False and backward.go_backwards is True
    assert [v.shape for v in values[1:]] == [(2, 4)] * 4


def test_recurrent_models_save_and_load(tmp_path):
    from graphcore import layers
    g = gc.Graph()
    with g.as_default():
        inp = gc.Input((None, 3))
        h = layers.Bidirectional(layers.GRU(4, return_sequences=True))(inp)
        out = layers.TimeDistributed(layers.Dense(2))(layers.LSTM(5, return_sequences=True)(h))
        model = gc.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(2, 7, 3)).astype(np.float32)
    model.save(tmp_path / "rnn.npz")
    loaded = gc.load_model(tmp_path / "rnn.npz")
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
