"""The loop runner: a Scan node's kernel, which plans the body once and runs the flat body plan T times.

The body is planned with the planner's public ``make_plan``, bound to the outer session (its random ops
draw from that session's generators; a body holds no variables), and run each step with ``plan.body_runner``
(the plain hot loop, or an observer's copy while the profiler times the loop).
"""
import functools

import numpy as np

from ..ops.math import MatMul
from ..plan import body_runner, make_plan
from .layout import LoopLayout


def loop_kernel(node, runtime, used):
    """The kernel of a Scan node for one outer plan. The stacked states entering each step (T × every state)
    are residuals for a gradient; a plan that reads none of them (``used``) gets None instead: for a backward
    Scan, whose states include the accumulated weight gradients, they would be T copies of every weight (the
    bulk of BPTT's memory)."""
    a = node.attrs
    layout = LoopLayout.of(a)
    feeds = ([a["time_in"]] if a["time_in"] is not None else []) + list(a["seq_in"] + a["state_in"] + a["cap_in"])
    plan = make_plan(list(a["state_out"] + a["out"]), dict.fromkeys(feeds), runtime)
    slot = dict(plan.feed_slots)
    seq_slots, state_slots, cap_slots = ([slot[t] for t in a[k]] for k in ("seq_in", "state_in", "cap_in"))
    plan, transposed_caps = pretranspose_captures(plan, cap_slots)
    time_slot = slot.get(a["time_in"])
    fetch_states, fetch_outs = layout.split_outputs(plan.fetch_slots)[:2]
    out_dtypes = [t.dtype for t in layout.split_outputs(node.outputs)[1]]
    reverse, n_steps = a["reverse"], a["n_steps"]
    keep_entering = layout.split_outputs(used)[2]

    def scan(*arrays):
        seqs, states, caps = layout.split_inputs(arrays)
        T = seqs[0].shape[0] if seqs else n_steps
        if T == 0:
            raise ValueError("scan over zero steps")
        template = [None] * plan.slot_count
        for s, value in zip(cap_slots, caps):
            template[s] = value
        for s, k in transposed_caps:
            template[s] = np.ascontiguousarray(np.swapaxes(caps[k], -1, -2))
        entering = [np.empty((T,) + np.shape(v), np.asarray(v).dtype) if keep else None
                    for v, keep in zip(states, keep_entering)]
        stacks = [None] * len(fetch_outs)
        run_plan = body_runner()
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            slots = template.copy()
            if time_slot is not None:
                slots[time_slot] = np.int64(t)
            for s, seq in zip(seq_slots, seqs):
                slots[s] = seq[t]
            for s, value, stack in zip(state_slots, states, entering):
                slots[s] = value
                if stack is not None:
                    stack[t] = value
            run_plan(plan, slots)
            states = [slots[s] for s in fetch_states]
            for k, s in enumerate(fetch_outs):
                if stacks[k] is None:
                    stacks[k] = np.empty((T,) + np.shape(slots[s]), out_dtypes[k])
                stacks[k][t] = slots[s]
        result = tuple(np.asarray(v, dtype=t.dtype) for v, t in zip(states, node.outputs)) + tuple(stacks) \
            + tuple(entering)
        return result[0] if len(result) == 1 else result
    return scan


def pretranspose_captures(plan, cap_slots):
    """``plan`` with each body MatMul that reads a captured matrix transposed reading, instead, a contiguous
    copy of its transpose that the loop makes once; and the (new slot, capture index) pairs to fill.

    Why: a backward LSTM step's dh = dz·Rᵀ multiplies by the captured recurrent kernel transposed, every
    step. OpenBLAS's transposed-operand path is slower for such small products: (32, 512)·(512, 128) took
    51–55 µs with Rᵀ as a transposed view and 36–37 µs from a contiguous Rᵀ (best of 7 × 2,000), so one
    copy per loop beats T transposed reads. The graph is unchanged (this is how the plan runs it)."""
    capture_of = {s: k for k, s in enumerate(cap_slots)}
    new_slot, steps = {}, []
    for kernel, ins, out, frees, node in plan.steps:
        if isinstance(node.op, MatMul):
            flags = [node.attrs["transpose_a"], node.attrs["transpose_b"]]
            for side in (0, 1):
                if flags[side] and ins[side] in capture_of:
                    if ins[side] not in new_slot:
                        new_slot[ins[side]] = plan.slot_count + len(new_slot)
                    ins = ins[:side] + (new_slot[ins[side]],) + ins[side + 1:]
                    flags[side] = False
            if flags != [node.attrs["transpose_a"], node.attrs["transpose_b"]]:
                kernel = functools.partial(node.op.compute, transpose_a=flags[0], transpose_b=flags[1])
        steps.append((kernel, ins, out, frees, node))
    if not new_slot:
        return plan, ()
    pairs = tuple((s, capture_of[cap]) for cap, s in new_slot.items())
    return plan.with_steps(steps, len(new_slot)), pairs
