"""Scan: a loop over time steps whose step is a body graph built once.

``scan(fn, sequences, initial_states, non_sequences)`` traces ``fn`` *once* into a ``BodyGraph`` whose
placeholders stand for one step's inputs, so the outer graph holds a single ``Scan`` node whatever the
sequence length (the static-graph answer to "huge unrolled graphs" and memory blow-up in BPTT).

* **Captures.** ``fn`` may use tensors of the enclosing graph (weights, a learning-phase switch) directly:
  while tracing, the body replaces each with a placeholder and the outer tensor becomes an input of the Scan
  node. ``non_sequences`` passes such tensors explicitly as arguments instead; both work.
* **Interpreter.** The kernel plans the body once, when the outer session plans, and then runs the flat body
  plan T times with no per-step analysis.
* **Outputs.** Final states, stacked per-step outputs ``(T, ...)``, and (hidden from ``scan``'s caller) the
  stacked states *entering* each step: the residuals the backward pass needs.
* **BPTT is symbolic.** ``Scan.grad`` builds a backward Scan whose body is a copy of the forward body plus
  ``gradients`` of it, run in the opposite direction; state gradients are its carried states, gradients of
  captured tensors are accumulated in carried states too (no (T, ...) stack of weight gradients). Being a Scan
  itself, the backward pass is differentiable again (second order).
* **Variable lengths.** ``lengths`` masks inside the body: past its length a sequence's states stop updating
  and its outputs are zero, so the gradient of the masking comes for free.
"""
import functools

import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError
from ..graph import Tensor, graph_of
from ..op import REGISTRY, Op, register
from ..shapes import format_shape, format_type
from .array import expand_dims, reshape
from .body import BodyGraph, body_outputs, clone
from .math import add_n, cast, less, matmul, tanh, where, zeros_like
from .state import placeholder


def _as_list(x):
    if x is None:
        return []
    return [x] if isinstance(x, Tensor) else list(x)


def _placeholders(specs, prefix):
    return [placeholder(dtype, shape, name=f"{prefix}_{i}") for i, (dtype, shape) in enumerate(specs)]


def trace(fn, sequence_specs, state_specs, constant_specs=(), outer=None, with_time=False):
    """Trace ``fn`` once into a body graph; return the Scan attributes (without ``reverse``/``n_steps``) and
    the outer tensors the body captured. Specs are ``(dtype, per-step shape)`` pairs.

    ``fn`` receives (the step index, if ``with_time``), one slice per sequence, the states and the constants,
    and returns ``(new_states, outputs)``, each a tensor, a list of them, or None.
    """
    body = BodyGraph(outer)
    with body.as_default():
        time_in = placeholder(_dt.int64, (), name="time") if with_time else None
        seq_in = _placeholders(sequence_specs, "sequence")
        state_in = _placeholders(state_specs, "state")
        const_in = _placeholders(constant_specs, "constant")
        result = fn(*([time_in] if with_time else []), *seq_in, *state_in, *const_in)
        if not isinstance(result, tuple) or len(result) != 2:
            raise BuildError("a scan function must return (new_states, outputs)")
        new_states, outputs = body_outputs(body, _as_list(result[0])), body_outputs(body, _as_list(result[1]))
    if len(new_states) != len(state_in):
        raise BuildError(f"the scan function returned {len(new_states)} states for {len(state_in)} initial states")
    for i, (old, new) in enumerate(zip(state_in, new_states)):
        if old.dtype != new.dtype or not _agree(old.shape, new.shape):
            raise BuildError(f"state {i} enters the step as {format_type(old.dtype, old.shape)} but leaves it as "
                             f"{format_type(new.dtype, new.shape)}")
    captured = list(body.captures.values())
    attrs = dict(body=body, time_in=time_in, seq_in=tuple(seq_in), state_in=tuple(state_in),
                 cap_in=tuple(const_in) + tuple(ph for _, ph in captured), state_out=tuple(new_states),
                 out=tuple(outputs))
    return attrs, [src for src, _ in captured]


def _agree(a, b):
    """Same rank and no two known sizes differ."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _spec(t, per_step=False):
    return t.dtype, t.shape[1:] if per_step else t.shape


def scan(fn, sequences=(), initial_states=(), non_sequences=(), reverse=False, lengths=None, n_steps=None,
         meta=None, name="scan"):
    """Loop ``fn`` over the leading (time) axis of ``sequences``.

    ``fn(*slices, *states, *non_sequences) -> (new_states, outputs)``. Sequences are time-major
    ``(T, batch, ...)``; without sequences, ``n_steps`` gives T. ``reverse`` runs from T − 1 down to 0 (outputs
    stay aligned with the input time axis). ``lengths`` (ints, one per batch row) masks each sequence past its
    length: its states stop updating and its outputs are zero; with ``reverse`` a sequence then starts at its
    own last step, as in ONNX. With ``lengths`` every state and output must have the batch on axis 0.
    ``meta`` is a dict stored on the node for renderers and exporters (e.g. which recurrent cell this is).

    Returns ``(final_states, stacked_outputs)``, each a tensor or a list, as ``initial_states`` and the
    function's outputs were given.
    """
    seqs, inits, consts = _as_list(sequences), _as_list(initial_states), _as_list(non_sequences)
    graph = graph_of(*seqs, *inits, *consts)
    if not seqs and n_steps is None:
        raise BuildError("scan needs at least one sequence or n_steps")
    step = fn
    if lengths is not None:
        lengths = cast(lengths, _dt.int64)
        step = _masked(fn, lengths, len(seqs), len(inits))
    single_output = []
    with graph.name_scope(name):
        attrs, captured = trace(_remember_arity(step, single_output), [_spec(s, True) for s in seqs],
                                [_spec(s) for s in inits], [_spec(c) for c in consts], outer=graph,
                                with_time=lengths is not None)
        attrs.update(reverse=bool(reverse), n_steps=None if n_steps is None else int(n_steps), meta=dict(meta or {}))
        node = graph.create_node(REGISTRY["Scan"], seqs + inits + consts + captured, attrs, name="Scan")
    n_state, n_out = len(inits), len(attrs["out"])
    finals, stacked = list(node.outputs[:n_state]), list(node.outputs[n_state:n_state + n_out])
    finals = finals[0] if isinstance(initial_states, Tensor) else finals
    stacked = stacked[0] if single_output and single_output[0] else stacked
    return finals, stacked


def _remember_arity(fn, single_output):
    """Record whether ``fn`` returned a lone output tensor, so ``scan`` returns a lone stacked tensor."""
    def traced(*args):
        result = fn(*args)
        if not isinstance(result, tuple) or len(result) != 2:
            raise BuildError("a scan function must return (new_states, outputs)")
        single_output.append(isinstance(result[1], Tensor))
        return result
    return traced


def _masked(fn, lengths, n_seq, n_state):
    """``fn`` with steps past each row's length masked: states keep their value, outputs are zero."""
    def step(t, *args):
        new_states, outputs = fn(*args)
        valid = less(t, lengths)   # (batch,)
        old_states = args[n_seq:n_seq + n_state]
        states = [where(_along_batch(valid, s), s, old) for s, old in zip(_as_list(new_states), old_states)]
        outs = [where(_along_batch(valid, y), y, 0) for y in _as_list(outputs)]
        return states, outs[0] if isinstance(outputs, Tensor) else outs
    return step


def _along_batch(mask, like):
    """A (batch,) mask shaped to broadcast against ``like`` (batch on axis 0)."""
    return expand_dims(mask, tuple(range(1, like.ndim))) if like.ndim > 1 else mask


# ---------------------------------------------------------------------------------------------------------
# The op
# ---------------------------------------------------------------------------------------------------------

def _split(node, values):
    """(sequences, initial states, captures) among a Scan node's inputs (or of any list aligned with them)."""
    a = node.attrs
    n_seq, n_state = len(a["seq_in"]), len(a["state_in"])
    return values[:n_seq], values[n_seq:n_seq + n_state], values[n_seq + n_state:]


@register
class Scan(Op):
    """Loop a body graph over time. Inputs: sequences (time-major), initial states, captured tensors.
    Outputs: final states, stacked outputs (T, ...), stacked states entering each step (T, ...).

    Attributes: ``body`` (a BodyGraph), its placeholders ``time_in`` (the step index, or None), ``seq_in``,
    ``state_in``, ``cap_in``, its results ``state_out`` and ``out``, ``reverse``, ``n_steps`` (T when there
    are no sequences) and ``meta`` (free-form facts for renderers and exporters, e.g. the recurrent cell).
    """

    def infer(self, node):
        a = node.attrs
        seqs, inits, caps = _split(node, list(node.inputs))
        if len(node.inputs) != len(a["seq_in"]) + len(a["state_in"]) + len(a["cap_in"]):
            raise BuildError(f"Scan takes {len(a['seq_in'])} sequences, {len(a['state_in'])} states and "
                             f"{len(a['cap_in'])} captures, got {len(node.inputs)} inputs")
        for kind, outer, inner, per_step in (("sequence", seqs, a["seq_in"], True), ("state", inits, a["state_in"],
                                             False), ("capture", caps, a["cap_in"], False)):
            for i, (t, ph) in enumerate(zip(outer, inner)):
                shape = t.shape[1:] if per_step else t.shape
                if t.dtype != ph.dtype or not _agree(shape, ph.shape) or (per_step and not t.shape):
                    raise BuildError(f"{kind} {i} is {format_type(t.dtype, t.shape)} but the body expects "
                                     f"{format_type(ph.dtype, ph.shape)}{' per step' if per_step else ''}")
        steps = [t.shape[0] for t in seqs if t.shape[0] is not None]
        if len(set(steps)) > 1:
            raise BuildError(f"sequences differ in length: {', '.join(format_shape(t.shape) for t in seqs)}")
        if not seqs and a["n_steps"] is None:
            raise BuildError("a Scan without sequences needs n_steps")
        T = steps[0] if steps else (a["n_steps"] if not seqs else None)
        return ([(t.dtype, t.shape) for t in a["state_out"]] + [(t.dtype, (T,) + t.shape) for t in a["out"]]
                + [(t.dtype, (T,) + t.shape) for t in a["state_in"]])

    def make_kernel(self, node, runtime):
        return self.plan_kernel(node, runtime, (True,) * len(node.outputs))

    def plan_kernel(self, node, runtime, used):
        """The loop. The stacked states entering each step (T × every state) are residuals for a gradient;
        a plan that reads none of them gets None instead: for a backward Scan, whose states include the
        accumulated weight gradients, they would be T copies of every weight (the bulk of BPTT's memory)."""
        a = node.attrs
        from ..profiler import body_runner
        from ..session import make_plan

        # The body is planned once, bound to the outer session: its random ops draw from that session's
        # generators (a body holds no variables).
        feeds = ([a["time_in"]] if a["time_in"] is not None else []) + list(a["seq_in"] + a["state_in"] + a["cap_in"])
        plan = make_plan(list(a["state_out"] + a["out"]), dict.fromkeys(feeds), runtime)
        slot = dict(plan.feed_slots)
        seq_slots, state_slots, cap_slots = ([slot[t] for t in a[k]] for k in ("seq_in", "state_in", "cap_in"))
        plan, transposed_caps = _pretranspose_captures(plan, cap_slots)
        time_slot = slot.get(a["time_in"])
        n_state = len(state_slots)
        fetch_states, fetch_outs = plan.fetch_slots[:n_state], plan.fetch_slots[n_state:]
        out_types = [(t.dtype, t.shape) for t in node.outputs[n_state:n_state + len(fetch_outs)]]
        reverse, n_steps, n_seq = a["reverse"], a["n_steps"], len(seq_slots)
        keep_entering = used[n_state + len(fetch_outs):]

        def scan(*arrays):
            seqs, states, caps = arrays[:n_seq], list(arrays[n_seq:n_seq + n_state]), arrays[n_seq + n_state:]
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
                        stacks[k] = np.empty((T,) + np.shape(slots[s]), out_types[k][0])
                    stacks[k][t] = slots[s]
            result = tuple(np.asarray(v, dtype=t.dtype) for v, t in zip(states, node.outputs)) + tuple(stacks) \
                + tuple(entering)
            return result[0] if len(result) == 1 else result
        return scan

    def grad(self, node, output_grads, wanted):
        return _backward(node, output_grads, wanted)

    def samples(self, rng):
        def rnn(x, h, w, u):
            return tanh(x @ w + h @ u), h * 2.0

        def two_states(t, x, h, c, w, lengths):
            valid = expand_dims(less(t, lengths), 1)
            new_h = where(valid, h * c + x @ w, h)
            return [new_h, where(valid, c - 0.5 * h, c)], where(valid, new_h, 0.0)

        f8 = _dt.float64
        attrs, _ = trace(rnn, [(f8, (2, 2))], [(f8, (2, 3))], [(f8, (2, 3)), (f8, (3, 3))])
        yield ([rng.normal(size=(3, 2, 2)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3)) * 0.5,
                rng.normal(size=(3, 3)) * 0.5], dict(attrs, reverse=False, n_steps=None, meta={}))
        attrs, _ = trace(two_states, [(f8, (2, 2))], [(f8, (2, 3)), (f8, (2, 3))], [(f8, (2, 3)), (_dt.int64, (2,))],
                         with_time=True)
        yield ([rng.normal(size=(3, 2, 2)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3)) * 0.5,
                rng.normal(size=(2, 3)) * 0.5, np.array([3, 1])], dict(attrs, reverse=True, n_steps=None, meta={}))


def _pretranspose_captures(plan, cap_slots):
    """``plan`` with each body MatMul that reads a captured matrix transposed reading, instead, a contiguous
    copy of its transpose that the loop makes once; and the (new slot, capture index) pairs to fill.

    Why: a backward LSTM step's dh = dz·Rᵀ multiplies by the captured recurrent kernel transposed, every
    step. OpenBLAS's transposed-operand path is slower for such small products: (32, 512)·(512, 128) took
    51–55 µs with Rᵀ as a transposed view and 36–37 µs from a contiguous Rᵀ (best of 7 × 2,000), so one
    copy per loop beats T transposed reads. The graph is unchanged (this is how the plan runs it)."""
    from ..session import _Plan
    capture_of = {s: k for k, s in enumerate(cap_slots)}
    new_slot, steps = {}, []
    for kernel, ins, out, frees, node in plan.steps:
        if node.op.type == "MatMul":
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
    return _Plan(steps, plan.feed_slots, plan.fetch_slots, plan.slot_count + len(new_slot), plan.nodes), pairs


# ---------------------------------------------------------------------------------------------------------
# Backpropagation through time, symbolically
# ---------------------------------------------------------------------------------------------------------

def _floating(t):
    return _dt.is_floating(t.dtype)


def _backward(node, output_grads, wanted):
    """Input gradients of a Scan node: one backward Scan over the reversed time axis.

    Per step it takes x_t, the state s_t that entered forward step t, the output gradient of step t (if any) and
    the gradient reaching the stacked entering states (second order), and carries dL/ds and the accumulated
    gradients of the captures. Its body recomputes the forward step from (x_t, s_t) and differentiates it.
    """
    from ..gradients import gradients
    a = node.attrs
    n_state, n_out = len(a["state_in"]), len(a["out"])
    g_final = output_grads[:n_state]
    g_out = output_grads[n_state:n_state + n_out]
    g_entering = output_grads[n_state + n_out:]
    seqs, inits, caps = _split(node, list(node.inputs))
    finals, entering = node.outputs[:n_state], node.outputs[n_state + n_out:]
    float_states = [k for k, s in enumerate(a["state_in"]) if _floating(s)]
    with_out = [k for k, g in enumerate(g_out) if g is not None and _floating(a["out"][k])]
    with_entering = [k for k in float_states if g_entering[k] is not None]

    body = BodyGraph()
    with body.as_default():
        time_in = placeholder(_dt.int64, (), name="time") if a["time_in"] is not None else None
        x_in = _placeholders([_spec(t) for t in a["seq_in"]], "x")
        s_in = _placeholders([_spec(t) for t in a["state_in"]], "s")
        gy_in = _placeholders([_spec(a["out"][k]) for k in with_out], "grad_y")
        ge_in = _placeholders([_spec(a["state_in"][k]) for k in with_entering], "grad_entering")
        gs_in = _placeholders([_spec(a["state_in"][k]) for k in float_states], "grad_s")
        c_in = _placeholders([_spec(t) for t in a["cap_in"]], "c")
        mapping = dict(zip(a["seq_in"] + a["state_in"] + a["cap_in"], x_in + s_in + c_in))
        if time_in is not None:
            mapping[a["time_in"]] = time_in
        with body.name_scope("forward"):
            clone(a["body"], mapping)
        ys = [mapping[a["state_out"][k]] for k in float_states] + [mapping[a["out"][k]] for k in with_out]
        # States carry their gradient back through time whatever is wanted; a sequence or capture only when
        # some x needs it (no dx for a first layer's input data, no dW for a frozen weight).
        n_seq, n_state = len(x_in), len(s_in)
        xs = [t for i, t in enumerate(x_in + s_in + c_in)
              if _floating(t) and (n_seq <= i < n_seq + n_state or wanted[i])]
        grad_of = dict(zip(xs, gradients(ys, xs, grad_ys=gs_in + gy_in))) if ys else {}
        new_gs = []
        for k in float_states:
            parts = [grad_of[s_in[k]]] if grad_of.get(s_in[k]) is not None else []
            parts += [ge_in[with_entering.index(k)]] if k in with_entering else []
            new_gs.append(add_n(parts) if parts else zeros_like(s_in[k]))
        stack_of = dict(zip(x_in + s_in, seqs + list(entering)))    # per-step body input → its outer stack
        products = {j: grad_of[c].node.inputs for j, c in enumerate(c_in) if _stacked_product(grad_of.get(c), stack_of)}
        cap_idx = [j for j, c in enumerate(c_in) if grad_of.get(c) is not None and j not in products]
        gc_in = _placeholders([_spec(c_in[j]) for j in cap_idx], "grad_c")
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
    fed = [k for k, t in enumerate(a["out"]) if mapping[t] not in fetched and mapping[t].node.op.type != "Placeholder"]
    fed = [k for i, k in enumerate(fed) if mapping[a["out"][k]] not in [mapping[a["out"][j]] for j in fed[:i]]]
    attrs = dict(body=body, time_in=time_in, seq_in=tuple(x_in + s_in + gy_in + ge_in + [mapping[a["out"][k]]
                                                                                         for k in fed]),
                 state_in=tuple(gs_in + gc_in), cap_in=tuple(c_in), state_out=tuple(new_states), out=tuple(outputs),
                 reverse=not a["reverse"], n_steps=a["n_steps"], meta={"backward_of": node.name})
    carries = [g_final[k] if g_final[k] is not None else zeros_like(finals[k]) for k in float_states]
    inputs = (seqs + list(entering) + [g_out[k] for k in with_out] + [g_entering[k] for k in with_entering]
              + [node.outputs[n_state + k] for k in fed] + carries + [zeros_like(caps[j]) for j in cap_idx] + caps)
    # In the graph being built, not necessarily the forward node's: a vjp traced into a loop body (gc.jacobian)
    # differentiates an outer Scan from inside that body, which captures the outer inputs.
    back = graph_of(*inputs).create_node(REGISTRY["Scan"], inputs, attrs, name="Scan")
    n_gs = len(float_states)
    g_states, g_caps = back.outputs[:n_gs], back.outputs[n_gs:len(new_states)]
    g_seqs = back.outputs[len(new_states):len(new_states) + len(outputs)]
    result = [None] * len(node.inputs)
    n_seq = len(seqs)
    for i, g in zip(seq_idx, g_seqs):
        result[i] = g
    for k, g in zip(float_states, g_states):
        result[n_seq + k] = g
    for j, g in zip(cap_idx, g_caps):
        result[n_seq + n_state + j] = g
    stacked = {**stack_of, **dict(zip(step_outputs, g_seqs))}
    for j, (left, right) in products.items():
        result[n_seq + n_state + j] = matmul(_rows(stacked[left]), _rows(stacked[right]), True, False)
    return result


def _stacked_product(g, stack_of):
    """Whether a capture's per-step gradient is a product lᵀ·r of 2-D per-step values with l a body input.
    Such gradients (an RNN's recurrent kernel: Σ_t h_tᵀ·dz_t) are not accumulated step by step in the loop:
    the backward Scan stacks r, and one product of the (T·B, ·) stacks after the loop gives the sum, a large
    matrix product instead of T small ones and T additions (cuDNN and PyTorch do the same)."""
    if g is None or g.node.op.type != "MatMul" or not g.node.attrs["transpose_a"] or g.node.attrs["transpose_b"]:
        return False
    left, right = g.node.inputs
    return left in stack_of and left.ndim == 2 and right.ndim == 2


def _rows(stack):
    """A (T, B, n) stack of per-step matrices as (T·B, n) rows."""
    return reshape(stack, (-1, stack.shape[-1]))
