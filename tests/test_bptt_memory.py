"""Backpropagation through time keeps what the gradient needs, not T copies of every carried state.

A backward Scan carries the accumulated weight gradients as states; stacking the states entering each step
(residuals that only a second-order gradient reads) would hold T copies of every weight gradient.
"""
import tracemalloc

import numpy as np

import graphcore as gc
from graphcore import recurrent


def _lstm_step(steps, units, features=4, batch=2):
    rng = np.random.default_rng(0)
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, steps, features), name="x")
        kernel = gc.Variable(rng.normal(size=(features, 4 * units)).astype(np.float32) * 0.1, name="kernel")
        rec = gc.Variable(rng.normal(size=(units, 4 * units)).astype(np.float32) * 0.1, name="recurrent_kernel")
        h = recurrent.lstm(x, kernel, rec)
        step = gc.train.SGD(0.1).minimize(gc.reduce_sum(h * h))
    return g, rec, step, {x: rng.normal(size=(batch, steps, features)).astype(np.float32)}


def test_training_step_peak_memory_holds_no_stack_of_weight_gradients():
    steps, units = 200, 64
    g, rec, step, feed = _lstm_step(steps, units)
    with gc.Session(g) as sess:
        sess.run(step, feed)
        tracemalloc.start()
        sess.run(step, feed)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    weight_stack = steps * rec.node.outputs[0].shape[0] * rec.node.outputs[0].shape[1] * 4
    assert peak < weight_stack / 4, f"peak {peak / 2**20:.1f} MiB vs a {weight_stack / 2**20:.1f} MiB stack"


def test_the_residual_stacks_are_still_there_when_fetched():
    g, rec, step, feed = _lstm_step(steps=3, units=2)
    back = [n for n in g.nodes if n.op.type == "Scan" and n.attrs["meta"].get("backward_of")][0]
    n_state = len(back.attrs["state_in"])
    entering = back.outputs[-n_state:]
    with gc.Session(g) as sess:
        values = sess.run(list(entering), feed)
    assert all(v is not None and v.shape[0] == 3 for v in values)
    assert all(np.isfinite(v).all() for v in values)
