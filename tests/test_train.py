"""Optimizers (checked step by step against PyTorch), gradient clipping, checkpoints, and an MLP on digits."""
import os

import numpy as np
import pytest

import graphcore as gc

torch = pytest.importorskip("torch")


def _quadratic_problem():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32), \
        rng.normal(size=(5, 2)).astype(np.float32)


@pytest.mark.parametrize("name, ours, theirs", [
    ("sgd", lambda: gc.train.SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    ("momentum", lambda: gc.train.Momentum(0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("nesterov", lambda: gc.train.Momentum(0.05, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("rmsprop", lambda: gc.train.RMSProp(0.01, rho=0.9, epsilon=1e-7),
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7)),
    ("adam", lambda: gc.train.Adam(0.01, epsilon=1e-7), lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-7)),
])
def test_optimizer_matches_pytorch_over_several_steps(name, ours, theirs):
    xv, yv, w0 = _quadratic_problem()
    g = gc.Graph()
    with g.as_default():
        x, y = gc.constant(xv), gc.constant(yv)
        W = gc.Variable(w0, name="W")
        loss = gc.reduce_mean(gc.square(gc.tanh(x @ W) - y))
        step = ours().minimize(loss)
    tw = torch.tensor(w0, requires_grad=True)
    opt = theirs([tw])
    with gc.Session(g) as sess:
        for _ in range(5):
            sess.run(step)
            opt.zero_grad()
            torch.mean((torch.tanh(torch.from_numpy(xv) @ tw) - torch.from_numpy(yv)) ** 2).backward()
            opt.step()
        np.testing.assert_allclose(sess.run(W), tw.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_clip_by_global_norm_scales_all_gradients_together():
    g = gc.Graph()
    with g.as_default():
        a, b = gc.constant(np.array([3.0, 0.0])), gc.constant(np.array([[4.0]]))
        (ca, cb), norm = gc.train.clip_by_global_norm([a, b], 1.0)
        clipped_value = gc.train.clip_by_value(gc.constant(np.array([-3.0, 0.5, 9.0])), -1.0, 1.0)
    with gc.Session(g) as sess:
        va, vb, n, cv = sess.run([ca, cb, norm, clipped_value])
    assert n == pytest.approx(5.0)
    np.testing.assert_allclose(va, [0.6, 0.0])
    np.testing.assert_allclose(vb, [[0.8]])
    np.testing.assert_allclose(cv, [-1.0, 0.5, 1.0])


def test_minimize_with_clip_norm_limits_the_step():
    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(np.array([100.0, 0.0]), name="w")
        step = gc.train.SGD(1.0, clip_norm=0.5).minimize(gc.reduce_sum(w * w))
    with gc.Session(g) as sess:
        sess.run(step)
        np.testing.assert_allclose(sess.run(w), [99.5, 0.0])


def _saver_graph(shape=(2, 3), extra=False):
    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(np.arange(np.prod(shape), dtype=np.float32).reshape(shape), name="w")
        gc.Variable(np.float32(1.0), name="b")
        if extra:
            gc.Variable(np.float32(2.0), name="extra")
    return g, w


def test_saver_round_trip_and_mismatch_messages(tmp_path):
    g, w = _saver_graph()
    path = tmp_path / "ckpt.npz"
    with gc.Session(g) as sess:
        sess.run(gc.assign(w, np.full((2, 3), 7.0, np.float32)))
        gc.train.Saver().save(sess, path)
    with gc.Session(g) as sess:
        gc.train.Saver().restore(sess, path)
        np.testing.assert_array_equal(sess.run(w), np.full((2, 3), 7.0))
    g2, _ = _saver_graph(shape=(3, 3), extra=True)
    with gc.Session(g2) as sess:
        with pytest.raises(gc.CheckpointError) as info:
            gc.train.Saver().restore(sess, path)
    message = str(info.value)
    assert "w: graph has float32(3, 3), checkpoint has float32(2, 3)" in message
    assert "missing from the checkpoint: extra" in message


def test_saver_is_atomic_and_refuses_pickles(tmp_path, monkeypatch):
    g, w = _saver_graph()
    path = tmp_path / "ckpt.npz"
    with gc.Session(g) as sess:
        gc.train.Saver().save(sess, path)
        before = path.read_bytes()

        def crash(*args, **kwargs):
            raise OSError("disk full")
        monkeypatch.setattr(np, "savez", crash)
        with pytest.raises(OSError, match="disk full"):
            gc.train.Saver().save(sess, path)
    assert path.read_bytes() == before, "a failed save must leave the previous checkpoint intact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "ckpt.npz"], \
        "no temporary files left behind (beside the checkpoint and its TF1 state file)"
    monkeypatch.undo()
    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object), allow_pickle=True)
    os.replace(tmp_path / "evil.npy", tmp_path / "evil.npz")
    with gc.Session(g) as sess:
        with pytest.raises(gc.CheckpointError, match="not a readable"):
            gc.train.Saver().restore(sess, tmp_path / "evil.npz")


def test_two_layer_mlp_learns_digits_to_95_percent():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits.target))
    data = (digits.data[order] / 16.0).astype(np.float32)
    labels = digits.target[order].astype(np.int64)
    x_train, y_train, x_test, y_test = data[:1400], labels[:1400], data[1400:], labels[1400:]

    g = gc.Graph()
    g.seed = 0
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 64), name="x")
        y = gc.placeholder(gc.int64, (None,), name="y")
        W1 = gc.Variable(gc.random_normal((64, 128), stddev=np.sqrt(2 / 64)), name="W1")
        b1 = gc.Variable(np.zeros(128, np.float32), name="b1")
        W2 = gc.Variable(gc.random_normal((128, 10), stddev=np.sqrt(1 / 128)), name="W2")
        b2 = gc.Variable(np.zeros(10, np.float32), name="b2")
        logits = gc.relu(x @ W1 + b1) @ W2 + b2
        loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy_with_logits(y, logits))
        step = gc.train.Adam(0.01).minimize(loss)
        correct = gc.reduce_mean(gc.cast(gc.equal(gc.argmax(logits, 1), y), gc.float32))
        g.finalize()
    with gc.Session(g) as sess:
        for epoch in range(15):
            perm = rng.permutation(len(x_train))
            for i in range(0, len(perm), 64):
                batch = perm[i:i + 64]
                sess.run(step, {x: x_train[batch], y: y_train[batch]})
        accuracy = sess.run(correct, {x: x_test, y: y_test})
    assert accuracy >= 0.95, accuracy
