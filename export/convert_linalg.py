"""LinearSolve → Gauss-Jordan elimination with partial pivoting in an ONNX ``Loop``.

``ai.onnx`` has no solve or inverse op, but it has everything elimination needs: the loop runs n times over the
augmented matrix [A | B] (batch axes broadcast first), and step i picks the row with the largest |entry| in
column i among rows ≥ i (ArgMax), swaps it into row i (GatherElements), scales it to a unit pivot and
subtracts it from every other row. After n steps the left block is the identity and the right block is
X = A⁻¹B. Partial pivoting is what LAPACK's ``gesv`` (NumPy's solve) also does; the difference is float
rounding. The loop body is a fixed 20 nodes whatever n, and LinearSolve's gradient is built from LinearSolve
and MatMul, so gradient graphs export the same way.
"""
import numpy as np
from onnx import TensorProto, helper

from .registry import converter


@converter("LinearSolve")
def _linear_solve(ctx, node):
    a, b = node.inputs
    x = node.outputs[0]
    n, k = a.shape[-1] or a.shape[-2], b.shape[-1]
    a_value = ctx.input(a)
    if node.attrs["adjoint"]:
        perm = list(range(a.ndim - 2)) + [a.ndim - 1, a.ndim - 2]
        a_value = ctx.emit("Transpose", [a_value], perm=perm)
    b_value, batch = ctx.input(b), x.shape[:-2]
    if batch and None not in batch:   # broadcast the batch axes of A and B to the solution's
        a_value = ctx.emit("Expand", [a_value, _ints(ctx, list(batch) + [n, n], "a_shape")])
        b_value = ctx.emit("Expand", [b_value, _ints(ctx, list(batch) + [n, k], "b_shape")])
    elif batch:   # each takes the other's batch axes (Expand broadcasts both ways)
        a_value, b_value = (ctx.emit("Expand", [a_value, _batch_of(ctx, b_value)]),
                            ctx.emit("Expand", [b_value, _batch_of(ctx, a_value)]))
    augmented = ctx.emit("Concat", [a_value, b_value], axis=-1)
    trips = ctx.const(np.array(n, np.int64), f"{node.name}/n")
    keep_going = ctx.const(np.array(True), f"{node.name}/true")
    rows = _ints(ctx, list(range(n)), "rows")
    minus_one = ctx.const(np.array(-1, x.dtype), f"{node.name}/minus_one")
    body = _elimination_step(f"{ctx.prefix}{node.name}/eliminate", rows, minus_one,
                             helper.np_dtype_to_tensor_dtype(x.dtype))
    reduced = ctx.emit("Loop", [trips, keep_going, augmented], body=body)
    ctx.emit("Slice", [reduced, _ints(ctx, [n], "start"), _ints(ctx, [n + k], "end"), _ints(ctx, [-1], "axis")],
             out=x)


def _batch_of(ctx, value):
    """The runtime batch axes of ``value`` followed by (1, 1): an Expand target that adds them."""
    batch = ctx.emit("Slice", [ctx.emit("Shape", [value]), _ints(ctx, [0], "zero"), _ints(ctx, [-2], "minus_two")])
    return ctx.emit("Concat", [batch, _ints(ctx, [1, 1], "ones")], axis=0)


def _ints(ctx, values, hint):
    return ctx.const(np.array(values, np.int64), f"{ctx.node.name}/{hint}")


def _elimination_step(name, rows, minus_one, elem_type):
    """The loop body: (i, cond, M) → (cond, M after eliminating column i). ``rows`` (0..n−1) and
    ``minus_one`` are read from the enclosing graph."""
    nodes = []

    def op(op_type, inputs, **attrs):
        out = f"{name}/{op_type}_{len(nodes)}"
        nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out
    i, cond, m = f"{name}/i", f"{name}/cond", f"{name}/M"
    last, second_last = ("axis_last", [-1]), ("axis_second_last", [-2])
    axes = {}
    for hint, value in (last, second_last):
        axes[hint] = f"{name}/{hint}"
        nodes.append(helper.make_node("Constant", [], [axes[hint]], name=axes[hint],
                                      value=helper.make_tensor(hint, TensorProto.INT64, [1], value)))
    # The pivot: the largest |M[r, i]| over rows r ≥ i.
    column = op("Gather", [m, i], axis=-1)
    candidates = op("Where", [op("GreaterOrEqual", [rows, i]), op("Abs", [column]), minus_one])
    pivot_row = op("ArgMax", [candidates], axis=-1, keepdims=1)
    # Swap rows i and the pivot row: row r takes row source[r].
    is_i = op("Equal", [rows, i])
    source = op("Where", [is_i, pivot_row, op("Where", [op("Equal", [rows, pivot_row]), i, rows])])
    index = op("Expand", [op("Unsqueeze", [source, axes["axis_last"]]), op("Shape", [m])])
    swapped = op("GatherElements", [m, index], axis=-2)
    # Scale row i to a unit pivot and clear column i from every other row.
    row = op("Gather", [swapped, i], axis=-2)
    unit_row = op("Div", [row, op("Unsqueeze", [op("Gather", [row, i], axis=-1), axes["axis_last"]])])
    factors = op("Unsqueeze", [op("Gather", [swapped, i], axis=-1), axes["axis_last"]])
    unit_rows = op("Unsqueeze", [unit_row, axes["axis_second_last"]])
    cleared = op("Sub", [swapped, op("Mul", [factors, unit_rows])])
    result = op("Where", [op("Unsqueeze", [is_i, axes["axis_last"]]), unit_rows, cleared])
    cond_out = op("Identity", [cond])
    return helper.make_graph(
        nodes, name.replace("/", "_"),
        [helper.make_tensor_value_info(i, TensorProto.INT64, []),
         helper.make_tensor_value_info(cond, TensorProto.BOOL, []),
         helper.make_tensor_value_info(m, elem_type, None)],
        [helper.make_tensor_value_info(cond_out, TensorProto.BOOL, []),
         helper.make_tensor_value_info(result, elem_type, None)])
