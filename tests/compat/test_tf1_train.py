"""TF1 training idioms — optimizers, the global step, gradient processing, checkpoints — written as TF 1.x's
guides write them (r1.15: site/en/r1/guide and api_guides/python/train), with ``gc`` for ``tf``.

The optimizers are checked step by step against TF1's update equations written out in NumPy here (TF1's
``training_ops`` kernels: ApplyGradientDescent, ApplyMomentum, ApplyAdam, ApplyRMSProp, ApplyAdagrad), with
TF1's defaults; Adam is also shown to differ from PyTorch's formula where TF1's "epsilon hat" matters.
"""
import os

import numpy as np
import pytest

import graphcore as gc

TARGET = np.array([1.0, -2.0, 3.0], np.float32)
START = np.array([0.5, 0.5, 0.5], np.float32)


@pytest.fixture(autouse=True)
def fresh_graph():
    """Each idiom builds in a default graph of its own, as a TF1 script would."""
    with gc.Graph().as_default():
        yield


def _train(make_optimizer, steps=3, start=START):
    """Minimise ½‖w − TARGET‖² (gradient w − TARGET) for ``steps`` steps; the w after each step."""
    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(start, name="w")
        loss = 0.5 * gc.reduce_sum(gc.square(w - TARGET))
        opt = make_optimizer()
        train = opt.minimize(loss)
    with gc.Session(g) as sess:
        out = []
        for _ in range(steps):
            sess.run(train)
            out.append(sess.run(w))
    return out, opt, w


def _reference(update, slots, steps=3, start=START):
    """TF1's kernel equations in float64: ``update(w, g, slots, t)`` → new w."""
    w, out = start.astype(np.float64), []
    for t in range(1, steps + 1):
        w = update(w, w - TARGET, slots, t)
        out.append(w)
    return out


def _close(actual, expected):
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


# ----- "Training" in the low-level guide, and the notes' worked example -----------------------------------

def test_getting_started_training_loop():
    # guide/low_level_intro, "Training" / "Complete program": a linear model of x = [[1],[2],[3],[4]],
    # y_true = [[0],[-1],[-2],[-3]], GradientDescentOptimizer(0.01), for i in range(100):
    # _, loss_value = sess.run((train, loss)). (tf.layers.Dense(units=1) is written as W·x + b.)
    x = gc.constant([[1], [2], [3], [4]], dtype=gc.float32)
    y_true = gc.constant([[0], [-1], [-2], [-3]], dtype=gc.float32)
    W = gc.Variable(gc.constant([[0.5]]))
    b = gc.Variable(gc.zeros([1]))
    y_pred = gc.matmul(x, W) + b
    loss = gc.reduce_mean(gc.square(y_true - y_pred))
    optimizer = gc.train.GradientDescentOptimizer(0.01)
    train = optimizer.minimize(loss)
    init = gc.global_variables_initializer()
    sess = gc.Session()
    sess.run(init)
    losses = [sess.run((train, loss))[1] for _ in range(100)]
    # first loss by hand: predictions 0.5·x, errors 0.5, 2, 3.5, 5 → mean square 41.5 / 4 = 10.375
    assert losses[0] == pytest.approx(10.375)
    assert losses[-1] < 0.2 * losses[1] and all(a > b for a, b in zip(losses[1:], losses[2:]))


def test_gradient_descent_worked_example():
    # The notes' example (DESIGN §4) with api_guides/python/train "Optimizers": L(w) = ½(6 − w·x)², x = 2,
    # w = 5, GradientDescentOptimizer(0.1): gradient 8, new w 4.2
    w = gc.Variable(5.0)
    loss = 0.5 * gc.square(6.0 - w * 2.0)
    step = gc.train.GradientDescentOptimizer(learning_rate=0.1).minimize(loss)
    with gc.Session() as sess:
        assert sess.run(gc.gradients(loss, w)[0]) == 8.0
        sess.run(step)
        assert sess.run(w) == pytest.approx(4.2)


# ----- The *Optimizer classes with TF1's defaults (api_guides/python/train, "Optimizers") ----------------

def test_momentum_optimizer_and_nesterov():
    # api_docs tf.train.MomentumOptimizer(learning_rate, momentum, use_nesterov=False):
    # accum = accum·momentum + g; var −= lr·accum  (Nesterov: var −= lr·(g + momentum·accum))
    for nesterov in (False, True):
        got, opt, w = _train(lambda: gc.train.MomentumOptimizer(0.1, momentum=0.9, use_nesterov=nesterov))

        def update(w, g, s, t):
            s["acc"] = 0.9 * s.get("acc", 0.0) + g
            return w - 0.1 * (g + 0.9 * s["acc"] if nesterov else s["acc"])
        _close(got, _reference(update, {}))
        assert opt.get_slot_names() == ["momentum"] and opt.get_slot(w, "momentum") is not None


def test_adam_optimizer_has_tf1_defaults_and_epsilon_hat():
    # api_docs tf.train.AdamOptimizer(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-08):
    # lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ); m, v moving averages; var −= lr_t·m/(√v + ε)
    def reference(lr, eps):
        def update(w, g, s, t):
            s["m"] = 0.9 * s.get("m", 0.0) + 0.1 * g
            s["v"] = 0.999 * s.get("v", 0.0) + 0.001 * g * g
            return w - lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * s["m"] / (np.sqrt(s["v"]) + eps)
        return _reference(update, {})

    default = gc.train.AdamOptimizer()
    assert (default.learning_rate, default.beta1, default.beta2, default.epsilon) == (0.001, 0.9, 0.999, 1e-8)
    got, _, _ = _train(gc.train.AdamOptimizer)
    _close(got, reference(0.001, 1e-8))
    # A large epsilon shows where TF1 adds it: before the bias correction; PyTorch's Adam adds it after
    # (var −= lr/(1−β₁ᵗ)·m/(√v/√(1−β₂ᵗ) + ε)), a visibly different step.
    got, _, _ = _train(lambda: gc.train.AdamOptimizer(0.1, epsilon=1.0))
    _close(got, reference(0.1, 1.0))

    def pytorch_update(w, g, s, t):
        s["m"] = 0.9 * s.get("m", 0.0) + 0.1 * g
        s["v"] = 0.999 * s.get("v", 0.0) + 0.001 * g * g
        return w - 0.1 / (1 - 0.9 ** t) * s["m"] / (np.sqrt(s["v"]) / np.sqrt(1 - 0.999 ** t) + 1.0)
    assert not np.allclose(got[-1], _reference(pytorch_update, {})[-1], rtol=1e-3)


def test_rmsprop_optimizer_has_tf1_defaults():
    # api_docs tf.train.RMSPropOptimizer(learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10): the mean square
    # starts at ones (rmsprop.py: init_ops.ones_initializer) and epsilon sits inside the root:
    # ms = ρ·ms + (1−ρ)·g²; mom = μ·mom + lr·g/√(ms + ε); var −= mom
    def reference(momentum, centered=False):
        def update(w, g, s, t):
            s["ms"] = 0.9 * s.get("ms", 1.0) + 0.1 * g * g
            s["mg"] = 0.9 * s.get("mg", 0.0) + 0.1 * g
            denominator = s["ms"] - s["mg"] ** 2 if centered else s["ms"]
            s["mom"] = momentum * s.get("mom", 0.0) + 0.01 * g / np.sqrt(denominator + 1e-10)
            return w - s["mom"]
        return _reference(update, {})

    got, opt, w = _train(lambda: gc.train.RMSPropOptimizer(0.01))
    _close(got, reference(0.0))
    assert (opt.decay, opt.momentum, opt.epsilon) == (0.9, 0.0, 1e-10)
    with gc.Session(w.graph) as fresh:
        np.testing.assert_array_equal(fresh.run(opt.get_slot(w, "rms")), np.ones(3))
    got, _, _ = _train(lambda: gc.train.RMSPropOptimizer(0.01, momentum=0.9))
    _close(got, reference(0.9))
    got, _, _ = _train(lambda: gc.train.RMSPropOptimizer(0.01, momentum=0.5, centered=True))
    _close(got, reference(0.5, centered=True))


def test_adagrad_optimizer():
    # api_docs tf.train.AdagradOptimizer(learning_rate, initial_accumulator_value=0.1):
    # accum += g²; var −= lr·g/√accum
    def update(w, g, s, t):
        s["acc"] = s.get("acc", 0.1) + g * g
        return w - 0.5 * g / np.sqrt(s["acc"])
    got, _, _ = _train(lambda: gc.train.AdagradOptimizer(0.5))
    _close(got, _reference(update, {}))
    with pytest.raises(gc.BuildError, match="must be positive"):
        gc.train.AdagradOptimizer(0.5, initial_accumulator_value=0.0)


# ----- The global step (api_guides/python/train, "Decaying the learning rate"; guide/saved_model) ---------

def test_minimize_with_global_step():
    # api_docs tf.train.Optimizer.minimize(loss, global_step=None, var_list=None): "global_step: Optional
    # Variable to increment by one after the variables have been updated"
    w = gc.Variable(1.0)
    global_step = gc.Variable(0, name="global_step", trainable=False)
    train_op = gc.train.GradientDescentOptimizer(0.1).minimize(gc.square(w), global_step=global_step)
    with gc.Session() as sess:
        for _ in range(3):
            assert sess.run(train_op) is None
        assert sess.run(global_step) == 3
        assert sess.run(w) == pytest.approx(0.8 ** 3)
    assert gc.train.get_global_step() is global_step


def test_exponential_decay_follows_the_global_step():
    # api_guides/python/train, "Decaying the learning rate": global_step = tf.Variable(0, trainable=False);
    # learning_rate = tf.train.exponential_decay(0.1, global_step, 100000, 0.96, staircase=True)
    global_step = gc.train.get_or_create_global_step()
    assert gc.train.get_or_create_global_step() is global_step and global_step.dtype == np.int64
    smooth = gc.train.exponential_decay(0.1, global_step, 10, 0.5)
    stairs = gc.train.exponential_decay(0.1, global_step, 10, 0.5, staircase=True)
    w = gc.Variable(1.0)
    step = gc.train.GradientDescentOptimizer(stairs).minimize(w * 1.0, global_step=global_step)
    with gc.Session() as sess:
        global_step.load(15, sess)
        assert sess.run(smooth) == pytest.approx(0.1 * 0.5 ** 1.5)
        assert sess.run(stairs) == pytest.approx(0.05)
        sess.run(step)
        assert sess.run(w) == pytest.approx(1.0 - 0.05) and sess.run(global_step) == 16


def test_processing_gradients_before_applying_them():
    # api_guides/python/train, "Processing gradients before applying them":
    # grads_and_vars = opt.compute_gradients(loss, <list of variables>)
    # capped_grads_and_vars = [(MyCapper(gv[0]), gv[1]) for gv in grads_and_vars]
    # opt.apply_gradients(capped_grads_and_vars)
    w = gc.Variable([3.0, -0.2])
    unused = gc.Variable(1.0)
    loss = gc.reduce_sum(gc.square(w))
    opt = gc.train.GradientDescentOptimizer(1.0)
    grads_and_vars = opt.compute_gradients(loss, [w, unused])
    assert grads_and_vars[1] == (None, unused)   # TF1: None for a variable the loss does not reach
    capped = [(gc.clip_by_value(g, -1.0, 1.0), v) for g, v in grads_and_vars if g is not None]
    step = opt.apply_gradients(capped)
    with gc.Session() as sess:
        sess.run(step)
        np.testing.assert_allclose(sess.run(w), [2.0, 0.2])   # gradients (6, −0.4) capped to (1, −0.4)
    with pytest.raises(gc.GradientError, match="no gradients provided for any variable"):
        opt.apply_gradients([(None, unused)])


def test_training_after_update_ops():
    # api_docs tf.layers.batch_normalization: update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS);
    # with tf.control_dependencies(update_ops): train_op = optimizer.minimize(loss)
    moving = gc.Variable(0.0, trainable=False)
    gc.add_to_collection(gc.GraphKeys.UPDATE_OPS, moving.assign_add(1.0))
    w = gc.Variable(2.0)
    loss = gc.square(w)
    with gc.control_dependencies(gc.get_collection(gc.GraphKeys.UPDATE_OPS)):
        train_op = gc.train.GradientDescentOptimizer(0.25).minimize(loss)
    with gc.Session() as sess:
        sess.run(train_op)
        assert sess.run([moving, w]) == [1.0, 1.0]


# ----- Saving and restoring (guide/saved_model, "Save and restore variables") -----------------------------

def _counter_graph():
    g = gc.Graph()
    with g.as_default():
        v1 = gc.Variable(gc.zeros([3]), name="v1")
        v2 = gc.Variable(gc.zeros([5]), name="v2")
        inc_v1, dec_v2 = v1.assign(v1 + 1), v2.assign(v2 - 1)
    return g, v1, v2, inc_v1, dec_v2


def test_saver_save_and_restore(tmp_path):
    # guide/saved_model, "Save variables" / "Restore variables": saver = tf.train.Saver();
    # save_path = saver.save(sess, "/tmp/model.ckpt"); saver.restore(sess, "/tmp/model.ckpt")
    g, v1, v2, inc_v1, dec_v2 = _counter_graph()
    with g.as_default():
        saver = gc.train.Saver()
    with gc.Session(graph=g) as sess:
        sess.run([inc_v1, dec_v2])
        save_path = saver.save(sess, str(tmp_path / "model.ckpt"))
    assert save_path == str(tmp_path / "model.ckpt")
    with gc.Session(graph=g) as sess:
        saver.restore(sess, str(tmp_path / "model.ckpt"))
        np.testing.assert_array_equal(sess.run(v1), np.ones(3))
        np.testing.assert_array_equal(sess.run(v2), -np.ones(5))


def test_saver_of_chosen_variables_by_name(tmp_path):
    # guide/saved_model, "Choose variables to save and restore": saver = tf.train.Saver({"v2": v2})
    g, v1, v2, inc_v1, dec_v2 = _counter_graph()
    with gc.Session(graph=g) as sess:
        sess.run([inc_v1, dec_v2])
        gc.train.Saver().save(sess, str(tmp_path / "all.ckpt"))
    with gc.Session(graph=g) as sess:
        gc.train.Saver({"v2": v2}).restore(sess, str(tmp_path / "all.ckpt"))
        np.testing.assert_array_equal(sess.run(v1), np.zeros(3))      # not restored
        np.testing.assert_array_equal(sess.run(v2), -np.ones(5))


def test_saver_with_global_step_keeps_the_last_five(tmp_path):
    # api_docs tf.train.Saver: saver.save(sess, 'my-model', global_step=step) ==> 'my-model-0', ...;
    # "max_to_keep ... Defaults to 5"; the 'checkpoint' state file lists them; tf.train.latest_checkpoint
    g, v1, _, inc_v1, _ = _counter_graph()
    with g.as_default():
        saver = gc.train.Saver()
    prefix = str(tmp_path / "my-model")
    with gc.Session(graph=g) as sess:
        paths = []
        for step in range(7):
            sess.run(inc_v1)
            paths.append(saver.save(sess, prefix, global_step=step))
    assert paths[0] == prefix + "-0" and paths[-1] == prefix + "-6"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint"] + [f"my-model-{i}.npz" for i in range(2, 7)]
    state = (tmp_path / "checkpoint").read_text().splitlines()
    assert state[0] == f'model_checkpoint_path: "{prefix}-6"'
    assert state[1:] == [f'all_model_checkpoint_paths: "{prefix}-{i}"' for i in range(2, 7)]
    assert saver.last_checkpoints == paths[2:]
    latest = gc.train.latest_checkpoint(str(tmp_path))
    assert latest == prefix + "-6"
    with gc.Session(graph=g) as sess:
        saver.restore(sess, latest)
        np.testing.assert_array_equal(sess.run(v1), np.full(3, 7.0))
    assert gc.train.latest_checkpoint(str(tmp_path / "nowhere")) is None


def test_saver_global_step_from_a_variable_and_relative_state(tmp_path, monkeypatch):
    # guide/saved_model with tf.train.get_or_create_global_step(): saver.save(sess, 'ckpt/model',
    # global_step=global_step) reads the step's value; a relative directory gets relative state entries
    monkeypatch.chdir(tmp_path)
    g, *_ = _counter_graph()
    with g.as_default():
        global_step = gc.train.get_or_create_global_step()
        saver = gc.train.Saver(max_to_keep=2)
    with gc.Session(graph=g) as sess:
        global_step.load(1000, sess)
        assert saver.save(sess, os.path.join("ckpt", "model"), global_step=global_step) == "ckpt/model-1000"
    assert (tmp_path / "ckpt" / "checkpoint").read_text().startswith('model_checkpoint_path: "model-1000"')
    assert gc.train.get_checkpoint_state("ckpt").all_model_checkpoint_paths == ["ckpt/model-1000"]
    assert gc.train.latest_checkpoint("ckpt") == "ckpt/model-1000"
