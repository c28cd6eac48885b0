"""The op registry's samples as test cases, shared by the registry tests and the gradient-export tests:
one-node graphs, the differentiable cases and a scalar objective over an op's outputs."""
import numpy as np

import graphcore as gc
from graphcore.op import REGISTRY

CASES = [(op_type, i, sample) for op_type, op in sorted(REGISTRY.items())
         for i, sample in enumerate(op.samples(np.random.default_rng(0)))]


def ids(case):
    return f"{case[0]}-{case[1]}"


def build(op_type, arrays, attrs, batch_unknown=False):
    """A graph with one node of ``op_type``; float inputs are placeholders (variables for variable inputs)."""
    op = REGISTRY[op_type]
    graph = gc.Graph()
    writes = op.variable_inputs
    inputs, feeds = [], {}
    with graph.as_default():
        for i, a in enumerate(arrays):
            a = np.asarray(a)
            if i < writes:
                inputs.append(gc.Variable(a, name=f"var{i}"))
                continue
            if a.dtype.kind in "iu" and getattr(op, "shape_from_values", False):
                inputs.append(gc.constant(a, name=f"in{i}"))   # a shape value: known when building
                continue
            shape = a.shape
            if batch_unknown and a.ndim and i == writes:  # the data input: its batch size is unknown
                shape = (None,) + a.shape[1:]
            ph = gc.placeholder(a.dtype, shape, name=f"in{i}")
            inputs.append(ph)
            feeds[ph] = a
        node = graph.create_node(op, inputs, attrs)
    return graph, node, inputs, feeds


# StopGradient is differentiable by definition but its gradient is zero on purpose (tested elsewhere).
BLOCKS_GRADIENT = {"StopGradient"}


def differentiable_cases():
    """Samples of differentiable, stateless ops with a floating-point input and output."""
    out = []
    for case in CASES:
        op_type, _, (arrays, attrs) = case
        op = REGISTRY[op_type]
        if not op.differentiable or op.stateful or op_type in BLOCKS_GRADIENT:
            continue
        _, node, _, _ = build(op_type, arrays, attrs)
        if any(np.asarray(a).dtype.kind == "f" for a in arrays) and any(t.dtype.kind == "f" for t in node.outputs):
            out.append(case)
    return out


def objective(node, rng, shapes=None):
    """sum_k Σ(out_k · r_k) with fixed random r_k, so every output element gets a distinct weight;
    ``shapes`` gives the outputs' run-time shapes when the node's are partly unknown."""
    terms = []
    for t, shape in zip(node.outputs, shapes or [t.shape for t in node.outputs]):
        if t.dtype.kind == "f" and None in shape:   # a size only the values decide: weigh by a function of each value
            terms.append(gc.reduce_sum(gc.sin(t * 1.3 + 0.2)))
        elif t.dtype.kind == "f":
            r = gc.constant(rng.normal(size=shape).astype(t.dtype))
            terms.append(gc.reduce_sum(t * r))
    return gc.add_n(terms)
