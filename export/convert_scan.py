"""Scan → ONNX Scan, with the body graph exported recursively by a nested export context.

The mapping: graphcore's initial states and time-major sequences are ONNX Scan's states and scan inputs;
``reverse`` sets the scan directions (outputs stay aligned with the input time axis, as in graphcore). Tensors
the body captures from the enclosing graph are read by name (ONNX subgraphs see the enclosing scope); static
ones also fold into the body's constants. The step index a masked (``lengths``) scan reads becomes an extra
carried counter. The stacked "states entering each step" exist for backpropagation; they become extra scan
outputs only when an exported node or output reads them.

A Scan built by a recurrent layer (``meta["cell"]``) becomes the native ONNX RNN/LSTM/GRU instead, when
``convert_recurrent`` recognises it; everything else falls through to the generic loop here.
"""
import numpy as np
from onnx import TensorProto, helper

from graphcore.control import LoopLayout
from graphcore.session import Session

from . import convert_recurrent
from .exporter import Context
from .registry import ExportError, converter
from .source import Source


@converter("Scan")
def _scan(ctx, node):
    if convert_recurrent.native(ctx, node):
        return
    if ctx.unroll:
        _unrolled(ctx, node)
        return
    a = node.attrs
    layout = LoopLayout.of(a)
    seqs, inits, caps = layout.split_inputs(node.inputs)
    finals, stacked, all_entering = layout.split_outputs(node.outputs)
    # The stacked states entering each step (backpropagation residuals) are scan outputs only when read.
    entering = [k for k, t in enumerate(all_entering) if ctx.is_read(t)]
    # ONNX Scan needs a scan input: a scan without sequences iterates over n_steps zeros.
    outer_seqs = [ctx.input(t) for t in seqs] or [ctx.const(np.zeros(a["n_steps"], np.float32), f"{node.name}/steps")]
    outer_states = [ctx.input(t) for t in inits]
    counter = a["time_in"] is not None
    if counter:
        outer_states.insert(0, _first_step(ctx, outer_seqs[0], a["reverse"]))
    direction = int(a["reverse"])
    outs = [None] * counter + list(finals + stacked) + [all_entering[k] for k in entering]
    directions = {"scan_input_directions": [direction] * len(outer_seqs)}
    if stacked or entering:   # (an empty list has no attribute type: leave the attribute out)
        directions["scan_output_directions"] = [direction] * (len(stacked) + len(entering))
    ctx.emit("Scan", outer_states + outer_seqs, outs=outs, body=_body(ctx, node, caps, counter, entering, not seqs),
             num_scan_inputs=len(outer_seqs), **directions)


def output_names(prefix, outputs):
    """ONNX names for a body's results: ``prefix`` + the tensor's name, a repeat numbered apart."""
    names, seen = [], {}
    for t in outputs:
        seen[t] = seen.get(t, -1) + 1
        names.append(prefix + t.name + (f"/{seen[t]}" if seen[t] else ""))
    return names


def _first_step(ctx, seq, reverse):
    """The counter's initial value: 0, or T − 1 for a reversed scan."""
    zero = ctx.const(np.array(0, np.int64), f"{ctx.node.name}/zero")
    if not reverse:
        return zero
    length = ctx.emit("Gather", [ctx.emit("Shape", [seq]), zero], axis=0)
    return ctx.emit("Sub", [length, ctx.const(np.array(1, np.int64), f"{ctx.node.name}/one")])


def _body(ctx, node, caps, counter, entering, with_steps):
    """The ONNX body graph: a nested Context over the body graph."""
    a = node.attrs
    prefix = f"{node.name}/body/"
    static = {ph: ctx.value(t) for ph, t in zip(a["cap_in"], caps) if ctx.is_static(t)}
    bound = {ph: ctx.input(t) for ph, t in zip(a["cap_in"], caps) if ph not in static}
    outputs = list(a["state_out"] + a["out"])
    names = output_names(prefix, outputs)
    outputs += [a["state_in"][k] for k in entering]
    names += [prefix + a["state_in"][k].name + "/entering" for k in entering]
    declared = [a["time_in"]] * counter + list(a["state_in"] + a["seq_in"])
    source = Source(a["body"], declared, outputs, Session(a["body"]), prefix[:-1])
    body = Context(source, ctx.opset, prefix=prefix, bound=bound, feeds=static, output_names=names, shapes=ctx.shapes,
                   unroll=ctx.unroll)
    for ph, t in zip(a["cap_in"], caps):
        if ph in static:
            body.alias(ph, ctx.input(t))   # read the outer initializer; folding still sees the value
    body.convert()
    leading, trailing = [], []
    if counter:
        body.node = node
        step = body.const(np.array(-1 if a["reverse"] else 1, np.int64), "step")
        leading = [helper.make_tensor_value_info(body.emit("Add", [body.input(a["time_in"]), step]),
                                                 TensorProto.INT64, [])]
        body.node = None
    if with_steps:
        trailing = [helper.make_tensor_value_info(prefix + "step", TensorProto.FLOAT, [])]
    return body.make_graph(None, prefix[:-1].replace("/", "_"), leading_outputs=leading, trailing_inputs=trailing)


def _unrolled(ctx, node):
    """The loop as T copies of its body in the enclosing graph (``to_onnx(unroll=True)``): step t reads slice t
    of each sequence (a Gather), the previous step's states and the captures by name, and its step index as a
    constant; each stacked output is the steps' values concatenated on the batch axis and reshaped to
    (T, ...), which is the same memory. Stacks of the states entering each step are built only when read."""
    a = node.attrs
    layout = LoopLayout.of(a)
    seqs, inits, caps = layout.split_inputs(node.inputs)
    finals, stacked, all_entering = layout.split_outputs(node.outputs)
    steps = ctx.dims(seqs[0])[0] if seqs else a["n_steps"]
    if steps is None:
        raise ExportError("unroll=True needs the number of time steps known: fix the sequence length (or export "
                          "with unroll=False, which writes an ONNX Scan)", node)
    entering = [k for k, t in enumerate(all_entering) if ctx.is_read(t)]
    static = {ph: ctx.value(t) for ph, t in zip(a["cap_in"], caps) if ctx.is_static(t)}
    captured = {ph: ctx.input(t) for ph, t in zip(a["cap_in"], caps)}
    states = [ctx.input(t) for t in inits]
    per_step = {t: [None] * steps for t in range(len(stacked) + len(entering))}
    body_outputs = list(a["state_out"] + a["out"])
    for t in (reversed(range(steps)) if a["reverse"] else range(steps)):
        prefix = f"{node.name}/step{t}/"
        index = ctx.const(np.array(t, np.int64), f"{node.name}/index{t}")
        bound = dict(captured)
        bound.update((ph, ctx.emit("Gather", [ctx.input(seq), index], axis=0))
                     for ph, seq in zip(a["seq_in"], seqs))
        bound.update(zip(a["state_in"], states))
        feeds = dict(static)
        if a["time_in"] is not None:
            feeds[a["time_in"]] = np.array(t, a["time_in"].dtype)
        names = [f"{prefix}out{k}" for k in range(len(body_outputs))]
        source = Source(a["body"], [], body_outputs, Session(a["body"]), prefix[:-1])
        body = Context(source, ctx.opset, prefix=prefix, bound=bound, feeds=feeds, output_names=names,
                       shapes=ctx.shapes, unroll=True)
        body.convert()
        ctx.nodes.extend(body.nodes)
        ctx.initializers.update(body.initializers)
        for k, e in enumerate(entering):
            per_step[len(stacked) + k][t] = states[e]
        states, outputs, _ = layout.split_outputs(names)     # the body's results: new states, then outputs
        for k, name in enumerate(outputs):
            per_step[k][t] = name
    for t, name in zip(finals, states):
        ctx.alias(t, name)
    targets = list(stacked) + [all_entering[e] for e in entering]
    for k, out in enumerate(targets):
        target = [-1 if d is None else d for d in ctx.dims(out)]
        if out.ndim > 1 and target.count(-1) <= 1:   # (T·B, ...) in memory is (T, B, ...)
            joined = ctx.emit("Concat", per_step[k], axis=0)
            ctx.emit("Reshape", [joined, ctx.const(np.array(target, np.int64), f"{node.name}/stacked")], out=out)
        else:
            axis = ctx.const(np.array([0], np.int64), f"{node.name}/axis0")
            ctx.emit("Concat", [ctx.emit("Unsqueeze", [v, axis]) for v in per_step[k]], out=out, axis=0)
