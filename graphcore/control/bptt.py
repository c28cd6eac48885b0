"""Backpropagation through time, symbolically: the gradient of a Scan is another Scan.

``backward`` builds one backward Scan over the reversed time axis whose body is a copy of the forward body
plus ``gradients`` of it. State gradients are its carried states; gradients of captured tensors are
accumulated in carried states too (no (T, ...) stack of weight gradients), or, for a product lᵀ·r of
per-step matrices, one product of stacks after the loop. Being a Scan itself, the backward pass is
differentiable again (second order).
"""
from .. import dtypes as _dt
from ..gradients import gradients
from ..graph import graph_of
from ..op import REGISTRY
from ..ops.array import reshape
from ..ops.math import MatMul, add_n, matmul, zeros_like
from ..ops.state import Placeholder, placeholder
from .body import BodyGraph, body_outputs, clone, placeholders
from .layout import LoopLayout


def _spec(t):
    return t.dtype, t.shape


def _floating(t):
    return _dt.is_floating(t.dtype)


def backward(node, output_grads, wanted):
    """Input gradients of a Scan node: one backward Scan over the reversed time axis.

    Per step it takes x_t, the state s_t that entered forward step t, the output gradient of step t (if any) and
    the gradient reaching the stacked entering states (second order), and carries dL/ds and the accumulated
    gradients of the captures. Its body recomputes the forward step from (x_t, s_t) and differentiates it.
    """
    a = node.attrs
    layout = LoopLayout.of(a)
    g_final, g_out, g_entering = layout.split_outputs(list(output_grads))
    seqs, _, caps = layout.split_inputs(list(node.inputs))
    finals, _, entering = layout.split_outputs(list(node.outputs))
    float_states = [k for k, s in enumerate(a["state_in"]) if _floating(s)]
    with_out = [k for k, g in enumerate(g_out) if g is not None and _floating(a["out"][k])]
    with_entering = [k for k in float_states if g_entering[k] is not None]

    body = BodyGraph()
    with body.as_default():
        time_in = placeholder(_dt.int64, (), name="time") if a["time_in"] is not None else None
        x_in = placeholders([_spec(t) for t in a["seq_in"]], "x")
        s_in = placeholders([_spec(t) for t in a["state_in"]], "s")
        gy_in = placeholders([_spec(a["out"][k]) for k in with_out], "grad_y")
        ge_in = placeholders([_spec(a["state_in"][k]) for k in with_entering], "grad_entering")
        gs_in = placeholders([_spec(a["state_in"][k]) for k in float_states], "grad_s")
        c_in = placeholders([_spec(t) for t in a["cap_in"]], "c")
        mapping = dict(zip(a["seq_in"] + a["state_in"] + a["cap_in"], x_in + s_in + c_in))
        if time_in is not None:
            mapping[a["time_in"]] = time_in
        with body.name_scope("forward"):
            clone(a["body"], mapping)
        ys = [mapping[a["state_out"][k]] for k in float_states] + [mapping[a["out"][k]] for k in with_out]
        # States carry their gradient back through time whatever is wanted; a sequence or capture only when
        # some x needs it (no dx for a first layer's input data, no dW for a frozen weight).
        wanted_x = [t for i, t in enumerate(x_in) if wanted[i] and _floating(t)]
        wanted_c = [t for j, t in enumerate(c_in) if wanted[layout.capture_input(j)] and _floating(t)]
        xs = wanted_x + [t for t in s_in if _floating(t)] + wanted_c
        grad_of = dict(zip(xs, gradients(ys, xs, grad_ys=gs_in + gy_in))) if ys else {}
        new_gs = []
        for k in float_states:
            parts = [grad_of[s_in[k]]] if grad_of.get(s_in[k]) is not None else []
            parts += [ge_in[with_entering.index(k)]] if k in with_entering else []
            new_gs.append(add_n(parts) if parts else zeros_like(s_in[k]))
        stack_of = dict(zip(x_in + s_in, seqs + list(entering)))    # per-step body input → its outer stack
        products = {j: grad_of[c].node.inputs for j, c in enumerate(c_in) if _stacked_product(grad_of.get(c), stack_of)}
        cap_idx = [j for j, c in enumerate(c_in) if grad_of.get(c) is not None and j not in products]
        gc_in = placeholders([_spec(c_in[j]) for j in cap_idx], "grad_c")
        new_gc = [acc + grad_of[c_in[j]] for acc, j in zip(gc_in, cap_idx)]
        seq_idx = [i for i, x in enumerate(x_in) if grad_of.get(x) is not None]
        step_outputs = [grad_of[x_in[i]] for i in seq_idx]
        step_outputs += [t for t in dict.fromkeys(right for _, right in products.values())
                         if t not in stack_of and t not in step_outputs]
        new_states, outputs = body_outputs(body, new_gs + new_gc), body_outputs(body, step_outputs)
    # Residuals: the forward already stacked its outputs, so the backward body is fed their values instead of
    # recomputing them (its plan then prunes whatever only computed them, e.g. an LSTM's h·R for the gates
    # z it stacks). The gradient graph above was built through the recomputed tensors, so nothing is cut.
    fetched = set(new_states) | set(outputs)
    fed = [k for k, t in enumerate(a["out"])
           if mapping[t] not in fetched and not isinstance(mapping[t].node.op, Placeholder)]
    fed = [k for i, k in enumerate(fed) if mapping[a["out"][k]] not in [mapping[a["out"][j]] for j in fed[:i]]]
    attrs = dict(body=body, time_in=time_in, seq_in=tuple(x_in + s_in + gy_in + ge_in + [mapping[a["out"][k]]
                                                                                         for k in fed]),
                 state_in=tuple(gs_in + gc_in), cap_in=tuple(c_in), state_out=tuple(new_states), out=tuple(outputs),
                 reverse=not a["reverse"], n_steps=a["n_steps"], meta={"backward_of": node.name})
    carries = [g_final[k] if g_final[k] is not None else zeros_like(finals[k]) for k in float_states]
    inputs = (seqs + list(entering) + [g_out[k] for k in with_out] + [g_entering[k] for k in with_entering]
              + [node.outputs[layout.stacked_output(k)] for k in fed] + carries
              + [zeros_like(caps[j]) for j in cap_idx] + caps)
    # In the graph being built, not necessarily the forward node's: a vjp traced into a loop body (gc.jacobian)
    # differentiates an outer Scan from inside that body, which captures the outer inputs.
    back = graph_of(*inputs).create_node(REGISTRY["Scan"], inputs, attrs, name="Scan")
    g_carried, g_seqs, _ = LoopLayout.of(attrs).split_outputs(back.outputs)
    g_states, g_caps = g_carried[:len(float_states)], g_carried[len(float_states):]
    result = [None] * layout.input_count
    for i, g in zip(seq_idx, g_seqs):
        result[i] = g
    for k, g in zip(float_states, g_states):
        result[layout.state_input(k)] = g
    for j, g in zip(cap_idx, g_caps):
        result[layout.capture_input(j)] = g
    stacked = {**stack_of, **dict(zip(step_outputs, g_seqs))}
    for j, (left, right) in products.items():
        result[layout.capture_input(j)] = matmul(_rows(stacked[left]), _rows(stacked[right]), True, False)
    return result


def _stacked_product(g, stack_of):
    """Whether a capture's per-step gradient is a product lᵀ·r of 2-D per-step values with l a body input.
    Such gradients (an RNN's recurrent kernel: Σ_t h_tᵀ·dz_t) are not accumulated step by step in the loop:
    the backward Scan stacks r, and one product of the (T·B, ·) stacks after the loop gives the sum, a large
    matrix product instead of T small ones and T additions (cuDNN and PyTorch do the same)."""
    if g is None or not isinstance(g.node.op, MatMul) or not g.node.attrs["transpose_a"] or g.node.attrs["transpose_b"]:
        return False
    left, right = g.node.inputs
    return left in stack_of and left.ndim == 2 and right.ndim == 2


def _rows(stack):
    """A (T, B, n) stack of per-step matrices as (T·B, n) rows."""
    return reshape(stack, (-1, stack.shape[-1]))
