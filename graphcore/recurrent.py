"""Recurrent networks as graph functions over ``gc.scan``: SimpleRNN, LSTM and GRU in Keras's terms.

Each function takes a batch-major input ``x`` (batch, time, features) and weight tensors in Keras's layouts and
gate orders, so ``Layer.get_weights()``/``set_weights()`` need no conversion:

* SimpleRNN: kernel (F, U), recurrent_kernel (U, U), bias (U,);  h' = act(x·K + h·R + b).
* LSTM: kernel (F, 4U), recurrent_kernel (U, 4U), bias (4U,), gates **i, f, c, o**;
  c' = σ(f)·c + σ(i)·tanh(c̃),  h' = σ(o)·tanh(c').
* GRU: kernel (F, 3U), recurrent_kernel (U, 3U), gates **z, r, h**; with ``reset_after`` (Keras's default)
  bias (2, 3U) = (input bias, recurrent bias) and h̃ = tanh(x·K_h + b_h + r·(h·R_h + b'_h)) — ONNX's
  ``linear_before_reset=1``, PyTorch's GRU; without it bias (3U,) and h̃ = tanh(x·K_h + (r·h)·R_h + b_h).
  h' = z·h + (1 − z)·h̃.

Why this shape: the input projection x·K + b of *all* steps is one large matmul before the loop (as cuDNN
and PyTorch do), so the loop body holds only the recurrent matmul and the gates. Each function builds its scan
under its own name scope (``lstm``, ``gru``, ``simple_rnn``) and stores in the Scan node's ``meta`` the cell
type, units, gate order, direction and the weight tensors, so exporters can emit the native ONNX RNN/LSTM/GRU
and renderers can label the loop.

Returns follow Keras: the last output (or, with ``return_sequences``, all of them, batch-major; reversed in
time with ``go_backwards``), then the final states with ``return_state``. ``lengths`` gives each row's valid
length: its states stop at its last valid step (so the "last output" is that step's) and later outputs are 0.
"""
from . import activations
from .control import scan
from .graph import graph_of
from .ops.array import reshape, split, transpose
from .ops.cell import lstm_cell as fused_lstm_cell
from .ops.math import sigmoid, tanh, zeros_like


# ----- one step of each cell: xp is the step's projected input x·K (+ input bias) -----------------------------

def simple_rnn_cell(xp, h, recurrent_kernel, activation="tanh"):
    """h' = activation(xp + h·R)."""
    return activations.get(activation)(xp + h @ recurrent_kernel)


def lstm_cell(xp, h, c, recurrent_kernel):
    """(h', c') from gates i, f, c, o of xp + h·R (the fused ``LSTMCell`` op, see graphcore/ops/cell.py)."""
    h, c, _ = fused_lstm_cell(xp, h, c, recurrent_kernel)
    return h, c


def gru_cell(xp, h, recurrent_kernel, recurrent_bias=None, reset_after=True):
    """h' from gates z, r, h (``recurrent_bias`` only with ``reset_after``)."""
    units = recurrent_kernel.shape[0]
    xz, xr, xh = split(xp, 3, axis=-1)
    if reset_after:
        hp = h @ recurrent_kernel
        hz, hr, hh = split(hp if recurrent_bias is None else hp + recurrent_bias, 3, axis=-1)
        z, r = sigmoid(xz + hz), sigmoid(xr + hr)
        candidate = tanh(xh + r * hh)
    else:
        hz, hr = split(h @ recurrent_kernel[:, :2 * units], 2, axis=-1)
        z, r = sigmoid(xz + hz), sigmoid(xr + hr)
        candidate = tanh(xh + (r * h) @ recurrent_kernel[:, 2 * units:])
    return z * h + (1.0 - z) * candidate


# ----- whole layers over a sequence -----------------------------------------------------------------------

def simple_rnn(x, kernel, recurrent_kernel, bias=None, initial_state=None, activation="tanh", **options):
    """Elman RNN h' = activation(x·K + h·R + b) (the notes' h_t = tanh(W_hh h_{t−1} + W_xh x_t + b))."""
    def cell(xp, h):
        h = simple_rnn_cell(xp, h, recurrent_kernel, activation)
        return h, h
    return _recurrent("simple_rnn", x, kernel, bias, cell, _states(initial_state, 1), options,
                      dict(cell="SimpleRNN", activation=activation, weights=(kernel, recurrent_kernel, bias)))


def lstm(x, kernel, recurrent_kernel, bias=None, initial_state=None, **options):
    """Long short-term memory, Keras gate order i, f, c, o; states (h, c)."""
    def cell(xp, h, c):
        h, c, gates = fused_lstm_cell(xp, h, c, recurrent_kernel)
        # The activated gates are stacked too: the backward pass reads them instead of redoing h·R and σ, tanh.
        return (h, c), [h, gates]
    return _recurrent("lstm", x, kernel, bias, cell, _states(initial_state, 2), options,
                      dict(cell="LSTM", gate_order="ifco", weights=(kernel, recurrent_kernel, bias)))


def gru(x, kernel, recurrent_kernel, bias=None, initial_state=None, reset_after=True, **options):
    """Gated recurrent unit, Keras gate order z, r, h (see the module docstring for ``reset_after``)."""
    input_bias, recurrent_bias = (bias[0], bias[1]) if reset_after and bias is not None else (bias, None)

    def cell(xp, h):
        h = gru_cell(xp, h, recurrent_kernel, recurrent_bias, reset_after)
        return h, h
    return _recurrent("gru", x, kernel, input_bias, cell, _states(initial_state, 1), options,
                      dict(cell="GRU", gate_order="zrh", reset_after=bool(reset_after),
                           weights=(kernel, recurrent_kernel, bias)))


def _states(initial_state, count):
    if initial_state is None:
        return [None] * count
    states = [initial_state] if count == 1 and not isinstance(initial_state, (list, tuple)) else list(initial_state)
    if len(states) != count:
        raise ValueError(f"expected {count} initial state tensor(s), got {len(states)}")
    return states


def _recurrent(scope, x, kernel, bias, cell, initial_states, options, meta):
    """Project every step's input at once, loop ``cell`` over time with ``scan``, shape the Keras outputs."""
    return_sequences = options.pop("return_sequences", False)
    return_state = options.pop("return_state", False)
    go_backwards = options.pop("go_backwards", False)
    lengths = options.pop("lengths", None)
    if options:
        raise TypeError(f"unexpected options: {', '.join(options)}")
    graph = graph_of(x, kernel)
    units = meta["weights"][1].shape[0]
    with graph.as_default(), graph.name_scope(scope):
        projected = _project(x, kernel, bias)                    # (T, B, gates·U), time-major
        first = projected[0, :, :units]
        states = [zeros_like(first) if s is None else s for s in initial_states]
        meta.update(units=units, go_backwards=bool(go_backwards))
        finals, outputs = scan(cell, projected, states, reverse=go_backwards, lengths=lengths, meta=meta,
                               name="loop")
        outputs = outputs[0] if isinstance(outputs, list) else outputs   # the stacked h (then residuals)
        if return_sequences:
            out = transpose(outputs, (1, 0, 2))
            out = out[:, ::-1] if go_backwards else out
        else:
            out = finals[0]        # the last valid step's output is the final h
    return [out] + list(finals) if return_state else out


def _project(x, kernel, bias):
    """x·K (+ b) for all steps as one matmul, returned time-major (T, B, ·).

    x is made time-major *before* the product: it is the narrow side (F features against gates·U columns),
    so that copy is the cheap one, the loop then reads contiguous steps, and the backward pass's stacked
    per-step gradients (T, B, ·) reshape to the product's rows without a copy."""
    time_major = transpose(x, (1, 0, 2))
    if x.shape[1] is not None:   # (T·B, F) × (F, G): one BLAS call, and a 2-D weight gradient
        xp = reshape(reshape(time_major, (-1, x.shape[2])) @ kernel, (x.shape[1], -1, kernel.shape[1]))
    else:
        xp = time_major @ kernel
    return xp if bias is None else xp + bias
