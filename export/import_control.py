"""Import rules for ONNX control flow: Scan and Loop bodies become graphcore scan bodies, If branches are inlined.

A body is imported by the same walker as the main graph, into the body graph ``gc.scan`` is tracing, with the
enclosing graph's values visible (the scan captures the ones the body uses). Supported where the body allows:

* **Scan**: any number of states and scan inputs along any axis, all in one direction.
* **Loop** with a trip count known at import and a condition that stays true (``for i in range(M)``): the
  iteration number is a scanned ``arange(M)``. A loop whose condition is computed from data is refused.
* **If**: a condition known at import inlines the taken branch; otherwise both branches are built and the
  outputs selected with ``where`` (branches must then agree in shape).
"""
import numpy as np
from onnx import numpy_helper

import graphcore as gc

from .from_onnx import walk
from .import_registry import importer


def _body(ctx, graph, bound):
    """Import ``graph``'s nodes with its inputs bound to ``bound`` (ONNX input name → value); return its
    outputs. Enclosing values stay visible; the names the body defines are given back their outside values
    afterwards (``ImportContext.body_scope``)."""
    leaves = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    leaves.update(bound)
    with ctx.body_scope(leaves, (name for node in graph.node for name in node.output)):
        walk(ctx, graph)
        return [ctx.values[o.name] for o in graph.output]


def _tensor_out(ctx, value, bound_inputs):
    """A body output as a tensor of the body graph (an input passed straight through needs a node)."""
    t = ctx.tensor(value)
    return gc.identity(t) if any(t is b for b in bound_inputs) else t


def _moved(x, axis, to):
    perm = list(range(x.ndim))
    perm.insert(to, perm.pop(axis))
    return x if perm == list(range(x.ndim)) else gc.transpose(x, tuple(perm))


@importer("Scan")
def _scan(ctx, node, inputs):
    body = node.attr("body")
    m = int(node.attr("num_scan_inputs"))
    if node.opset < 9:
        raise node.error("Scan before opset 9 (with a batch axis and sequence_lens) is not supported")
    n = len(inputs) - m
    states, sequences = [ctx.tensor(v) for v in inputs[:n]], [ctx.tensor(v) for v in inputs[n:]]
    in_axes = node.attr("scan_input_axes") or [0] * m
    in_dirs = node.attr("scan_input_directions") or [0] * m
    if len(set(in_dirs)) > 1:
        raise node.error("scan inputs in different directions are not supported (graphcore scans one way)")
    reverse = bool(in_dirs and in_dirs[0])
    sequences = [_moved(s, a % s.ndim, 0) for s, a in zip(sequences, in_axes)]
    names = [v.name for v in body.input]

    def step(*args):
        slices, carried = args[:m], args[m:]
        bound = dict(zip(names, list(carried) + list(slices)))
        outs = _body(ctx, body, bound)
        outs = [_tensor_out(ctx, o, args) for o in outs]
        return outs[:n], outs[n:]
    finals, stacked = gc.scan(step, sequences, states, reverse=reverse, name="scan")
    finals, stacked = list(finals), list(stacked)
    out_axes = node.attr("scan_output_axes") or [0] * len(stacked)
    out_dirs = node.attr("scan_output_directions") or [0] * len(stacked)
    results = []
    for y, axis, prepend in zip(stacked, out_axes, out_dirs):
        if reverse != bool(prepend):   # graphcore aligns outputs with input time; ONNX appends or prepends
            y = y[::-1]
        results.append(_moved(y, 0, axis % y.ndim))
    return finals + results


@importer("Loop")
def _loop(ctx, node, inputs):
    body = node.attr("body")
    trip = ctx.static(inputs[0], "the trip count of Loop (graphcore loops run a fixed number of steps)")
    cond = ctx.static(inputs[1], "the initial condition of Loop") if len(inputs) > 1 else None
    if trip is None:
        raise node.error("a loop without a trip count runs until its condition turns false; graphcore loops run "
                         "a fixed number of steps")
    if cond is not None and not bool(cond):
        raise node.error("a loop whose initial condition is false never runs; its scan outputs have no shape")
    states = [ctx.tensor(v) for v in inputs[2:]]
    names = [v.name for v in body.input]
    count = int(trip)
    ctx.check_size([count], np.int64, f"Loop '{node.name}' trip count")

    def step(i, *carried):
        bound = {names[0]: i, names[1]: np.array(True)}
        bound.update(zip(names[2:], carried))
        outs = _body(ctx, body, bound)
        if not (isinstance(outs[0], np.ndarray) and bool(outs[0])):
            raise node.error("the loop condition is computed from data (an early exit); graphcore loops run a "
                             "fixed number of steps")
        outs = [_tensor_out(ctx, o, (i,) + carried) for o in outs[1:]]
        return outs[:len(states)], outs[len(states):]
    iterations = ctx.tensor(np.arange(count, dtype=np.int64))
    finals, stacked = gc.scan(step, [iterations], states, name="loop")
    return list(finals) + list(stacked)


@importer("If")
def _if(ctx, node, inputs):
    cond = inputs[0]
    then_branch, else_branch = node.attr("then_branch"), node.attr("else_branch")
    if isinstance(cond, np.ndarray):
        return _body(ctx, then_branch if bool(cond) else else_branch, {})
    chosen = gc.reshape(ctx.tensor(cond), ())
    outs = []
    for a, b in zip(_body(ctx, then_branch, {}), _body(ctx, else_branch, {})):
        outs.append(gc.where(chosen, ctx.tensor(a), ctx.tensor(b)))   # both branches run; where picks
    return outs
