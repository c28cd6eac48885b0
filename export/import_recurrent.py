"""Import rules for ONNX's RNN, GRU and LSTM: each direction becomes one of graphcore's recurrent scans.

ONNX keeps weights per direction as W (D, G·H, F), R (D, G·H, H), B (D, 2·G·H) in its gate order — LSTM
**i, o, f, c**, GRU **z, r, h** — while ``graphcore.recurrent`` takes Keras layouts (F, G·H) in Keras's order
(LSTM i, f, c, o). The reordering is done with graph ops on the imported variables (split, concat,
transpose), so gradients reach the ONNX-layout weights and fine-tuning updates them in place.
"""
import graphcore as gc
from graphcore import recurrent

from .import_registry import importer
from .onnx_names import RNN_ACTIVATIONS_FROM_ONNX

# Keras order as indices into ONNX's gate blocks.
_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (0, 1, 2), "RNN": (0,)}
_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _keras_kernel(w, order):
    """(G·H, in) in ONNX gate order → (in, G·H) in Keras order."""
    blocks = gc.split(w, len(order), axis=0) if len(order) > 1 else [w]
    return gc.transpose(gc.concat([blocks[i] for i in order], 0) if len(order) > 1 else blocks[0])


def _keras_bias(b, order):
    blocks = gc.split(b, len(order), axis=0) if len(order) > 1 else [b]
    return gc.concat([blocks[i] for i in order], 0) if len(order) > 1 else blocks[0]


@importer("LSTM", "GRU", "RNN")
def _recurrent(ctx, node, inputs):
    kind = node.op_type
    inputs = list(inputs) + [None] * (8 - len(inputs))
    x, w, r, b, lengths, h0 = (ctx.tensor(v) if v is not None else None for v in inputs[:6])
    c0 = ctx.tensor(inputs[6]) if kind == "LSTM" and inputs[6] is not None else None
    if kind == "LSTM" and inputs[7] is not None:
        raise node.error("LSTM peepholes (input P) are not supported by graphcore's LSTM cell")
    if node.attr("clip") is not None or node.attr("input_forget", 0):
        raise node.error("cell clipping and input_forget are not supported by graphcore's cells")
    activations = node.attr("activations")
    direction = node.attr("direction", "forward")
    directions = 2 if direction == "bidirectional" else 1
    activation = "tanh"
    one_activation = activations is not None and len(set(activations)) == 1
    if kind == "RNN" and one_activation and activations[0] in RNN_ACTIVATIONS_FROM_ONNX:
        activation = RNN_ACTIVATIONS_FROM_ONNX[activations[0]]
    elif activations is not None and list(activations) != _ACTIVATIONS[kind] * directions:
        raise node.error(f"non-default activations {activations} (graphcore's cells use {_ACTIVATIONS[kind]})")
    if lengths is not None and direction != "forward":
        raise node.error("sequence_lens with a reverse direction is not supported (graphcore masks steps past each "
                         "row's length in processing order)")
    batch_major = bool(node.attr("layout", 0))
    xb = x if batch_major else gc.transpose(x, (1, 0, 2))           # graphcore's cells read (B, T, F)
    order = _ORDER[kind]
    outs, finals_h, finals_c = [], [], []
    for d in range(directions):
        reverse = direction == "reverse" or d == 1
        kernel, rkernel = _keras_kernel(w[d], order), _keras_kernel(r[d], order)
        states = _initial(kind, h0, c0, d, batch_major)
        options = dict(return_sequences=True, return_state=True, go_backwards=reverse,
                       lengths=None if lengths is None else gc.cast(lengths, gc.int64))
        if kind == "LSTM":
            bias = None if b is None else _keras_bias(b[d][:4 * _units(r)], order) + \
                _keras_bias(b[d][4 * _units(r):], order)
            seq, h, c = recurrent.lstm(xb, kernel, rkernel, bias, states, **options)
            finals_c.append(c)
        elif kind == "GRU":
            units = _units(r)
            if node.attr("linear_before_reset", 0):
                bias = None if b is None else gc.reshape(b[d], (2, 3 * units))
                seq, h = recurrent.gru(xb, kernel, rkernel, bias, states, reset_after=True, **options)
            else:
                bias = None if b is None else b[d][:3 * units] + b[d][3 * units:]
                seq, h = recurrent.gru(xb, kernel, rkernel, bias, states, reset_after=False, **options)
        else:
            units = _units(r)
            bias = None if b is None else b[d][:units] + b[d][units:]
            seq, h = recurrent.simple_rnn(xb, kernel, rkernel, bias, states, activation=activation, **options)
        if reverse:
            seq = seq[:, ::-1]   # graphcore returns processing order; ONNX indexes outputs by input time
        outs.append(seq)
        finals_h.append(h)
    return _outputs(outs, finals_h, finals_c, batch_major, kind)


def _units(r):
    return r.shape[-1]


def _initial(kind, h0, c0, d, batch_major):
    """Direction ``d``'s initial states (None: zeros)."""
    pick = (lambda s: None if s is None else s[:, d]) if batch_major else (lambda s: None if s is None else s[d])
    return [pick(h0)] + ([pick(c0)] if kind == "LSTM" else [])


def _outputs(outs, finals_h, finals_c, batch_major, kind):
    """Y (T, D, B, H), Y_h (D, B, H) and Y_c, or their batch-major forms with ``layout=1``."""
    if batch_major:
        y = gc.concat([gc.expand_dims(s, 2) for s in outs], 2)             # (B, T, D, H)
        stack = lambda hs: gc.concat([gc.expand_dims(h, 1) for h in hs], 1)  # noqa: E731  (B, D, H)
    else:
        y = gc.concat([gc.expand_dims(gc.transpose(s, (1, 0, 2)), 1) for s in outs], 1)
        stack = lambda hs: gc.concat([gc.expand_dims(h, 0) for h in hs], 0)  # noqa: E731
    results = [y, stack(finals_h)]
    if kind == "LSTM":
        results.append(stack(finals_c))
    return results
