"""Recurrent layers → the native ONNX RNN, LSTM and GRU ops instead of a generic Scan.

``graphcore.recurrent`` builds every layer as a projection x·K + b of all steps (one matmul) followed by a
Scan whose ``meta`` names the cell, its units, gate order, direction and the outer (kernel, recurrent_kernel,
bias) tensors in Keras's layouts. For such a Scan the exporter emits one native node fed by the raw x
(transposed to time-major), with W, R and B reordered from the folded weights into ONNX's gate order (LSTM
i, o, f, c; GRU z, r, h), ``sequence_lens`` from the lengths a masked scan reads and ``direction="reverse"``
for ``go_backwards``. Squeezes then give exactly the Scan's own outputs (time-major stacked h, final states),
so everything downstream (the batch-major transpose, the ``go_backwards`` flip) converts unchanged, and the
now unread projection is dropped by ``optimize``'s dead-node pass.

Why bother: onnxruntime's native LSTM is the fastest form on CPU (DESIGN.md §2), and runtimes, Netron and
quantisers recognise an LSTM node, not a loop. ``native`` returns False whenever the pattern does not hold;
the generic ONNX Scan (``convert_scan``) then exports the loop exactly as the interpreter runs it.
"""
import numpy as np
from onnx import TensorProto

from graphcore.control import LoopLayout

from .onnx_names import RECURRENT_OPS, RNN_ACTIVATIONS

# ONNX's gate order per cell; ``meta["gate_order"]`` says the graphcore (Keras) one.
ONNX_GATES = {"LSTM": "iofc", "GRU": "zrh"}


def native(ctx, node):
    """Emit the native ONNX op for a recurrent-layer Scan; False (emitting nothing) when it does not apply."""
    meta, a = node.attrs["meta"], node.attrs
    if meta.get("cell") not in RECURRENT_OPS:
        return False
    layout = LoopLayout.of(a)
    finals, stacked, entering = layout.split_outputs(node.outputs)
    x = _raw_input(ctx, node)
    weights = [None if t is None else ctx.value(t) for t in meta["weights"]]
    if (x is None   # not the projection graphcore.recurrent builds (e.g. a hand-made Scan that sets meta)
            # onnxruntime's CPU RNN/LSTM/GRU kernels are float32-only ("does not support double yet").
            or x.dtype != np.float32
            or (meta["cell"] == "SimpleRNN" and meta["activation"] not in RNN_ACTIVATIONS)
            # The stacked states entering each step are backpropagation residuals the native ops do not give.
            or any(ctx.is_read(t) for t in entering)
            # Reordering gates needs the weights' values; weights computed from inputs stay in the Scan.
            or any(w is None for w, t in zip(weights, meta["weights"]) if t is not None)
            # A masked scan reads its lengths as the last capture; anything else there is not ours.
            or (a["time_in"] is not None and node.inputs[-1].dtype.kind != "i")):
        return False
    W, R, B = onnx_weights(meta, *weights)
    axes = [ctx.const(np.array([k], np.int64), f"{node.name}/axis{k}") for k in (0, 1)]
    inputs = [ctx.emit("Transpose", [ctx.input(x)], perm=[1, 0, 2]),
              ctx.const(W, f"{node.name}/W"), ctx.const(R, f"{node.name}/R"),
              "" if B is None else ctx.const(B, f"{node.name}/B"),
              _sequence_lens(ctx, node)] + [_initial(ctx, t, axes[0]) for t in layout.split_inputs(node.inputs)[1]]
    attrs = dict(hidden_size=meta["units"], direction="reverse" if a["reverse"] else "forward")
    if meta["cell"] == "GRU":
        attrs["linear_before_reset"] = int(meta["reset_after"])
    if meta["cell"] == "SimpleRNN":
        attrs["activations"] = [RNN_ACTIVATIONS[meta["activation"]]]
    # ONNX: Y (T, directions, B, U), Y_h and Y_c (directions, B, U); the Scan: finals (B, U), stacked h (T, B, U).
    wanted = [(stacked[0], 1)] + [(t, 0) for t in finals]
    values = ctx.emit(RECURRENT_OPS[meta["cell"]], _trim(inputs), outs=[None] * len(wanted), **attrs)
    native_node = ctx.nodes[-1]
    for k, (value, (out, axis)) in enumerate(zip(values, wanted)):
        if ctx.is_read(out):
            ctx.emit("Squeeze", [value, axes[axis]], out=out)
        else:
            native_node.output[k] = ""   # an optional output left out is not computed (e.g. Y for the last h)
    native_node.output[:] = _trim(native_node.output)
    return True


def _trim(names):
    """Drop trailing "" (omitted optional inputs or outputs)."""
    names = list(names)
    while names and names[-1] == "":
        names.pop()
    return names


def onnx_weights(meta, kernel, recurrent_kernel, bias):
    """Keras layouts → ONNX's W (1, gU, F), R (1, gU, U) and B (1, 2gU) (None without a bias).

    B is (input bias, recurrent bias); only GRU's ``reset_after`` has a separate recurrent bias (its second
    row), which is exactly what ONNX's ``linear_before_reset=1`` adds inside the reset gate.
    """
    units, cell = meta["units"], meta["cell"]
    onnx_order = ONNX_GATES.get(cell, "h")   # SimpleRNN: a single gate
    order = [meta.get("gate_order", "h").index(g) for g in onnx_order]

    def gates(w):   # (..., gU): columns regrouped gate by gate into ONNX's order
        return np.concatenate([w[..., k * units:(k + 1) * units] for k in order], axis=-1)
    W, R = gates(kernel).T[None], gates(recurrent_kernel).T[None]
    if bias is None:
        return W, R, None
    rows = bias if bias.ndim == 2 else [bias, np.zeros_like(bias)]
    return W, R, np.concatenate([gates(row) for row in rows])[None]


def _raw_input(ctx, node):
    """The batch-major x (B, T, F) whose projection ``recurrent._project`` feeds the Scan, or None.

    Two forms, by whether T was known when traced: Reshape(Reshape(Transpose(x))·K) (+ b) and
    Transpose(x)·K (+ b); the Transpose swaps the first two axes, and b (static) is there iff meta has a bias.
    """
    if len(node.attrs["seq_in"]) != 1:
        return None
    kernel, _, bias = node.attrs["meta"]["weights"]
    t = node.inputs[0]
    if bias is not None:
        if t.node.type != "Add" or not ctx.is_static(t.node.inputs[1]):
            return None
        t = t.node.inputs[0]
    rows = t.node.type == "Reshape"
    if rows:
        t = t.node.inputs[0]
    if t.node.type != "MatMul" or t.node.inputs[1] is not kernel:
        return None
    t = t.node.inputs[0]
    if rows:
        if t.node.type != "Reshape":
            return None
        t = t.node.inputs[0]
    if not _is_swap(t):
        return None
    x = t.node.inputs[0]
    return x if x.ndim == 3 and x.shape[2] == kernel.shape[0] else None


def _is_swap(t):
    return t.node.type == "Transpose" and tuple(t.node.attrs["perm"]) == (1, 0, 2)


def _sequence_lens(ctx, node):
    """int32 lengths for a masked scan (its last capture, int64), or "" (all sequences full length)."""
    if node.attrs["time_in"] is None:
        return ""
    return ctx.emit("Cast", [ctx.input(node.inputs[-1])], to=TensorProto.INT32)


def _initial(ctx, state, axis0):
    """initial_h / initial_c (1, B, U), or "" for the zeros_like states graphcore starts from by default
    (ONNX's default is zeros too, and leaving them out lets the projection they were shaped on go)."""
    if state.node.type == "FillLike" and state.node.attrs["value"] == 0:
        return ""
    return ctx.emit("Unsqueeze", [ctx.input(state), axis0])
