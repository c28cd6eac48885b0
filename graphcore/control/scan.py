"""Scan: a loop over time steps whose step is a body graph built once.

``scan(fn, sequences, initial_states, non_sequences)`` traces ``fn`` *once* into a ``BodyGraph`` whose
placeholders stand for one step's inputs, so the outer graph holds a single ``Scan`` node whatever the
sequence length (the static-graph answer to "huge unrolled graphs" and memory blow-up in BPTT).

* **Captures.** ``fn`` may use tensors of the enclosing graph (weights, a learning-phase switch) directly:
  while tracing, the body replaces each with a placeholder and the outer tensor becomes an input of the Scan
  node. ``non_sequences`` passes such tensors explicitly as arguments instead; both work.
* **Interpreter.** The kernel (``loop.py``) plans the body once, when the outer session plans, and then runs
  the flat body plan T times with no per-step analysis.
* **Outputs.** Final states, stacked per-step outputs ``(T, ...)``, and (hidden from ``scan``'s caller) the
  stacked states *entering* each step: the residuals the backward pass needs.
* **BPTT is symbolic** (``bptt.py``): ``Scan.grad`` builds a backward Scan whose body is a copy of the forward
  body plus ``gradients`` of it, run in the opposite direction. Being a Scan itself, the backward pass is
  differentiable again (second order).
* **Layout.** Which input and output is which kind is ``LoopLayout`` (``layout.py``), used wherever they are
  sliced.
* **Variable lengths.** ``lengths`` masks inside the body: past its length a sequence's states stop updating
  and its outputs are zero, so the gradient of the masking comes for free.
"""
import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError
from ..graph import Tensor, graph_of
from ..op import REGISTRY, Op, register
from ..ops.array import expand_dims
from ..ops.math import cast, less, tanh, where
from ..ops.state import placeholder
from ..shapes import format_shape, format_type
from .body import BodyGraph, body_outputs, placeholders
from .bptt import backward
from .layout import LoopLayout
from .loop import loop_kernel


def _as_list(x):
    if x is None:
        return []
    return [x] if isinstance(x, Tensor) else list(x)


def trace(fn, sequence_specs, state_specs, constant_specs=(), outer=None, with_time=False):
    """Trace ``fn`` once into a body graph; return the Scan attributes (without ``reverse``/``n_steps``) and
    the outer tensors the body captured. Specs are ``(dtype, per-step shape)`` pairs.

    ``fn`` receives (the step index, if ``with_time``), one slice per sequence, the states and the constants,
    and returns ``(new_states, outputs)``, each a tensor, a list of them, or None.
    """
    body = BodyGraph(outer)
    with body.as_default():
        time_in = placeholder(_dt.int64, (), name="time") if with_time else None
        seq_in = placeholders(sequence_specs, "sequence")
        state_in = placeholders(state_specs, "state")
        const_in = placeholders(constant_specs, "constant")
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
    finals, stacked, _ = LoopLayout.of(attrs).split_outputs(list(node.outputs))
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

@register
class Scan(Op):
    """Loop a body graph over time. Inputs: sequences (time-major), initial states, captured tensors.
    Outputs: final states, stacked outputs (T, ...), stacked states entering each step (T, ...): see
    ``LoopLayout``.

    Attributes: ``body`` (a BodyGraph), its placeholders ``time_in`` (the step index, or None), ``seq_in``,
    ``state_in``, ``cap_in``, its results ``state_out`` and ``out``, ``reverse``, ``n_steps`` (T when there
    are no sequences) and ``meta`` (free-form facts for renderers and exporters, e.g. the recurrent cell).
    """

    def infer(self, node):
        a = node.attrs
        layout = LoopLayout.of(a)
        seqs, inits, caps = layout.split_inputs(list(node.inputs))
        if len(node.inputs) != layout.input_count:
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
        """The loop (``loop.loop_kernel``); it skips stacking the entering states no plan reads."""
        return loop_kernel(node, runtime, used)

    def grad(self, node, output_grads, wanted):
        return backward(node, output_grads, wanted)

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
