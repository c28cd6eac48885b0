"""The profiler: per-node times, tables by op type and layer, loops timed op by op, the Chrome trace, the CLI."""
import json

import numpy as np
import pytest

import graphcore as gc
from graphcore import plan, profiler, recurrent
from graphcore.cli import main


def _lstm_training_graph(steps=4):
    rng = np.random.default_rng(0)
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, steps, 3), name="x")
        with gc.name_scope("lstm_layer"):
            kernel = gc.Variable(rng.normal(size=(3, 8)).astype(np.float32) * 0.3, name="kernel")
            rec = gc.Variable(rng.normal(size=(2, 8)).astype(np.float32) * 0.3, name="recurrent_kernel")
            h = recurrent.lstm(x, kernel, rec)
        loss = gc.reduce_sum(h * h)
        step = gc.train.SGD(0.1).minimize(loss)
    return g, {x: rng.normal(size=(2, steps, 3)).astype(np.float32)}, loss, step


def test_profile_true_times_every_node_of_the_run_and_changes_no_value():
    g, feed, loss, _ = _lstm_training_graph()
    with gc.Session(g) as sess:
        plain = sess.run(loss, feed)
        timed = sess.run(loss, feed, profile=True)
        prof = sess.last_profile
        planned = len(sess._plans[((loss,), frozenset(feed))].steps)
    assert timed == plain
    assert prof.runs == 1
    assert len([e for e in prof.events if e.depth == 0]) == planned
    assert all(e.duration >= 0 and e.self_time >= -1e-9 for e in prof.events)
    assert sum(e.self_time for e in prof.events) == pytest.approx(prof.total, rel=1e-6)


def test_scan_bodies_are_timed_op_by_op_inside_the_scan_event():
    g, feed, _, step = _lstm_training_graph(steps=4)
    with gc.Session(g) as sess, gc.profile() as prof:
        sess.run(step, feed)
    scans = [e for e in prof.events if e.op_type == "Scan" and e.depth == 0]
    assert len(scans) == 2                                   # the forward loop and the backward loop
    forward, backward = sorted(scans, key=lambda e: e.start)
    assert not forward.backward and backward.backward
    body = [e for e in prof.events if e.depth == 1]
    cells = [e for e in body if e.op_type == "LSTMCell" and forward.start <= e.start <= forward.start + forward.duration]
    assert len(cells) == 4                                   # once per time step
    assert all(e.name.startswith(forward.name + "/") and e.layer == "lstm_layer" for e in cells)
    assert len([e for e in body if e.op_type == "LSTMCellGrad"]) == 4
    # Self time: the Scan keeps only what its body ops did not use.
    inside = sum(e.duration for e in body if forward.start <= e.start <= forward.start + forward.duration)
    assert forward.self_time == pytest.approx(forward.duration - inside, abs=1e-9)
    layers = dict(((layer, direction), s) for (layer, direction), s, _ in prof.by_layer())
    assert ("lstm_layer", "forward") in layers and ("lstm_layer", "backward") in layers


def test_profiling_off_uses_the_plain_runners():
    assert profiler.active() is None
    assert plan.body_runner() is plan.run_plan
    with gc.profile() as prof:
        assert profiler.active() is prof and plan.observer() is prof
        assert plan.body_runner() is plan.run_plan   # a loop only times its body when it is timed itself
    assert profiler.active() is None and plan.observers == []


def test_chrome_trace_is_valid_trace_event_json(tmp_path):
    g, feed, _, step = _lstm_training_graph(steps=3)
    with gc.Session(g) as sess, gc.profile() as prof:
        sess.run(step, feed)
    path = prof.save_chrome_trace(tmp_path / "trace.json")
    trace = json.loads(path.read_text(encoding="utf-8"))
    events = trace["traceEvents"]
    assert len(events) == len(prof.events)
    for event in events:
        assert event["ph"] == "X"
        assert set(event) >= {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"}
        assert isinstance(event["ts"], (int, float)) and event["dur"] >= 0
    assert {e["tid"] for e in events} == {0, 1}              # loop bodies on their own row
    body = [e for e in events if e["tid"] == 1]
    assert all(e["args"]["layer"] == "lstm_layer" for e in body)
    first = min(events, key=lambda e: e["ts"])
    assert first["ts"] >= 0


def test_failures_while_profiling_name_the_node():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.int64, (None,), name="x")
        y = gc.gather(gc.constant(np.arange(3.0)), x)
    with gc.Session(g) as sess, pytest.raises(gc.ExecutionError, match="Gather"):
        sess.run(y, {x: np.array([7])}, profile=True)


@pytest.mark.parametrize("name, expected", [
    ("conv2d_1/Conv2D", ("conv2d_1", False)),
    ("gradients/conv2d_1/Conv2D_grad/Conv2DBackpropFilter", ("conv2d_1", True)),
    ("training/targets", ("(graph)", False)),
    ("gradients/ReduceMean_grad/Tile", ("(graph)", True)),
    ("MatMul", ("(graph)", False)),
])
def test_layer_of_a_node_name(name, expected):
    assert profiler.layer_of(name) == expected


def test_cli_profile_of_a_conv_net_ranks_a_convolution_first(tmp_path, capsys):
    trace = tmp_path / "lenet5.json"
    assert main(["profile", "lenet5", "--batch", "16", "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    rows = out.split("op type", 1)[1].splitlines()[1:]
    assert rows[0].split()[0] in ("Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput")
    assert "layer" in out and "c1" in out and str(trace) in out
    assert json.loads(trace.read_text(encoding="utf-8"))["traceEvents"]


def test_cli_profile_refuses_a_family_without_a_classifier_step(capsys):
    assert main(["profile", "gan", "--batch", "2"]) == 2
    assert "graphcore: error: profiling times a classifier's training step" in capsys.readouterr().err
