"""Peephole rewrites on the converted ONNX nodes, so the file reads like one written by hand.

graphcore layers compute ``conv(x, W) + reshape(b, (C, 1, 1))`` and ``x @ W + b``; after constant folding
these are Conv + Add and Gemm + Add, which become one Conv (bias B) and one Gemm (bias C), as PyTorch's
exporter writes them. Chains of Reshapes (Flatten of a 1×1 feature map) collapse into one. Converters emit
their own small constants (axes, shapes, scalars) and sometimes the same node twice (batch normalisation's
centred input, in its forward and backward converters; the transposed input two convolutions' gradients
share): equal constants become one initializer and equal nodes one node (common-subexpression elimination;
random draws are never merged). A value computed only to be copied into a graph output under another name
(a variable's new value) is computed under that name. Nodes whose outputs nothing reads go last (a native
recurrent op reads the raw input, leaving the projection that fed the generic loop unread). Values that are
graph outputs are never rewritten away.
"""
from collections import defaultdict

import numpy as np
from onnx import helper

from .convert_norm import UNIT_EPSILON


# Ops whose equal-looking nodes compute different values (random draws): never merged.
RANDOM = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
                    "Multinomial"})


def run(nodes, initializers, outputs, dims=None):
    """The rewrites in order; ``dims`` maps value names to their static shapes where the exporter knows them
    (None for a size known only at run time)."""
    dims = dict(dims or {})
    dims.update((name, array.shape) for name, array in initializers.items())
    for rewrite in (_merge_constants, _merge_equal_nodes, _skip_multiply_by_one, _skip_broadcast_before_arithmetic,
                    _negate_the_constant, _merge_reshapes, _fuse_bias, _reduce_into_shape, _moving_average_of_a_mean,
                    _compute_outputs_in_place, _drop_dead):
        nodes = rewrite(nodes, initializers, outputs, dims)
    return nodes


def _sole_consumer(value, consumers, outputs):
    users = consumers.get(value, [])
    return users[0] if len(users) == 1 and value not in outputs else None


def reads(node):
    """Names a node reads: its inputs and, for loops, every name its body reads from the enclosing scope."""
    names = set(node.input)
    for attr in node.attribute:
        if attr.type == attr.GRAPH:
            inner = {n for sub in attr.g.node for n in reads(sub)}
            defined = {v.name for v in attr.g.input} | {i.name for i in attr.g.initializer} | {
                o for sub in attr.g.node for o in sub.output}
            names |= inner - defined
    return names


def _consumers(nodes):
    consumers = defaultdict(list)
    for node in nodes:
        for name in reads(node):
            consumers[name].append(node)
    return consumers


def _renamed(nodes, renames):
    """Point every explicit input named in ``renames`` at its new name (in place); returns ``nodes``."""
    for node in nodes:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
    return nodes


def _implicit_reads(nodes):
    """Names loop bodies read from the enclosing scope: those cannot be renamed by editing inputs."""
    return {name for node in nodes for name in reads(node) - set(node.input)}


def _merge_constants(nodes, initializers, outputs, dims):
    """Initializers with equal dtype, shape and values become one (the first name). Only arrays that share a
    dtype and shape with another are compared, so a model's distinct weights cost nothing here."""
    implicit, groups = _implicit_reads(nodes), defaultdict(list)
    for name, array in initializers.items():
        if name not in outputs and name not in implicit:
            groups[(array.dtype.str, array.shape)].append(name)
    renames = {}
    for names in groups.values():
        first = {}
        for name in names if len(names) > 1 else ():
            first.setdefault(initializers[name].tobytes(), name)
            if first[initializers[name].tobytes()] != name:
                renames[name] = first[initializers[name].tobytes()]
    return _renamed(nodes, renames)


def _merge_equal_nodes(nodes, initializers, outputs, dims):
    """A node equal to an earlier one (op, inputs, attributes) is dropped and its outputs read from the
    earlier node's; not random draws, loops, graph outputs or values a loop body reads by name."""
    seen, renames, kept, implicit = {}, {}, [], _implicit_reads(nodes)
    for node in nodes:
        _renamed([node], renames)
        mergeable = node.op_type not in RANDOM and not any(a.type == a.GRAPH for a in node.attribute) and \
            not (set(node.output) & (outputs | implicit))
        key = (node.domain, node.op_type, tuple(node.input), tuple(a.SerializeToString() for a in node.attribute),
               len(node.output))
        if mergeable and key in seen:
            renames.update(zip(node.output, seen[key].output))
            continue
        if mergeable:
            seen[key] = node
        kept.append(node)
    return kept


def _skip_multiply_by_one(nodes, initializers, outputs, dims):
    """Mul(x, ones) that leaves x's shape as it is → x (a loss weighted by the default sample weights)."""
    renames, kept = {}, []
    for node in nodes:
        _renamed([node], renames)
        if node.op_type == "Mul" and node.output[0] not in outputs and None not in dims.get(node.output[0], (None,)):
            for value, other in (node.input, node.input[::-1]):
                ones = initializers.get(other)
                if ones is not None and np.all(ones == 1) and dims.get(value) == dims[node.output[0]]:
                    renames[node.output[0]] = value
                    break
            if node.output[0] in renames:
                continue
        kept.append(node)
    return kept


# Elementwise ops that broadcast their operands as NumPy does.
BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div"})


def _skip_broadcast_before_arithmetic(nodes, initializers, outputs, dims):
    """Expand(x, shape) read only by an Add/Sub/Mul/Div whose other operand has that shape already → the
    arithmetic reads x (broadcasting gives the same values): a gradient's seed spread over the batch."""
    consumers, renames = _consumers(nodes), {}
    for node in nodes:
        shape = dims.get(node.output[0]) if node.op_type == "Expand" else None
        user = _sole_consumer(node.output[0], consumers, outputs) if shape and None not in shape else None
        if user is None or user.op_type not in BROADCASTING or len(set(user.input)) != 2:
            continue
        other = user.input[1] if user.input[0] == node.output[0] else user.input[0]
        if dims.get(other) == shape:
            renames[node.output[0]] = node.input[0]
    return _renamed([n for n in nodes if n.output[0] not in renames], renames)


def _negate_the_constant(nodes, initializers, outputs, dims):
    """Neg(Mul(x, c)) with c a constant and the Mul read only there → Mul(x, −c)."""
    consumers, producers, dropped = _consumers(nodes), {name: node for node in nodes for name in node.output}, set()
    for node in nodes:
        mul = producers.get(node.input[0]) if node.op_type == "Neg" else None
        if mul is None or mul.op_type != "Mul" or _sole_consumer(mul.output[0], consumers, outputs) is not node:
            continue
        i = next((i for i, name in enumerate(mul.input) if name in initializers), None)
        if i is None:
            continue
        negated = f"{mul.input[i]}/negated"
        initializers[negated] = -initializers[mul.input[i]]
        mul.input[i] = negated
        mul.output[0] = node.output[0]
        dropped.add(id(node))
    return [n for n in nodes if id(n) not in dropped]


def _compute_outputs_in_place(nodes, initializers, outputs, dims):
    """Identity(x) → y, y a graph output: the node computing x computes y instead (and x's readers read y),
    unless x is itself a graph output, an input or initializer, or read by name inside a loop body."""
    producer = {name: node for node in nodes for name in node.output}
    implicit, renames, dropped = _implicit_reads(nodes), {}, set()
    for node in nodes:
        if node.op_type != "Identity" or node.output[0] not in outputs:
            continue
        source = node.input[0]
        if source in producer and source not in outputs and source not in implicit and source not in renames:
            out = producer[source].output
            out[list(out).index(source)] = node.output[0]
            renames[source] = node.output[0]
            dropped.add(id(node))
    return _renamed([n for n in nodes if id(n) not in dropped], renames)


def _merge_reshapes(nodes, initializers, outputs, dims):
    """Reshape(Reshape(x, a), b) → Reshape(x, b), and Flatten(Reshape(x, (0, ...)), axis=1) → Flatten(x) when
    the Reshape keeps the batch axis (a leading 0), when nothing else reads the intermediate."""
    consumers, dropped = _consumers(nodes), set()
    for node in nodes:
        if node.op_type != "Reshape":
            continue
        user = _sole_consumer(node.output[0], consumers, outputs)
        keeps_batch = node.input[1] in initializers and initializers[node.input[1]][:1].tolist() == [0]
        mergeable = user is not None and (user.op_type == "Reshape" or (
            user.op_type == "Flatten" and keeps_batch and [a.i for a in user.attribute if a.name == "axis"] == [1]))
        if mergeable and user.input[0] == node.output[0]:
            user.input[0] = node.input[0]
            consumers[node.input[0]].append(user)
            dropped.add(id(node))
    return [n for n in nodes if id(n) not in dropped]


def _fuse_bias(nodes, initializers, outputs, dims):
    """Conv/Gemm followed by the Add of one value per output channel (Conv) or column (Gemm) → that value as
    the node's own bias input. A constant addend is reshaped at export time; a bias that is a graph input (a
    training step's state) is reshaped to (C, 1, 1) by the layer, so the Conv reads the (C,) value instead."""
    consumers, dropped = _consumers(nodes), set()
    producers = {name: node for node in nodes for name in node.output}
    for node in nodes:
        channels = (dims.get(node.output[0]) or (None, None))[1] if node.op_type in ("Conv", "Gemm") else None
        if channels is None or len(node.input) != 2:
            continue
        add = _sole_consumer(node.output[0], consumers, outputs)
        if add is None or add.op_type != "Add":
            continue
        other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        bias = _bias(node, other, channels, initializers, producers, dims)
        if bias is None:
            continue
        node.input.append(bias)
        node.output[0] = add.output[0]
        dropped.add(id(add))
    return [n for n in nodes if id(n) not in dropped]


def _bias(node, addend, channels, initializers, producers, dims):
    """The name of a (channels,) value equal to ``addend`` as a per-channel (Conv) or per-column (Gemm) bias,
    or None."""
    per_channel = [(channels, 1, 1), (1, channels, 1, 1)] if node.op_type == "Conv" else [(channels,), (1, channels)]
    if addend in initializers:
        value = initializers[addend]
        if value.shape not in per_channel:
            return None
        name = addend if value.shape == (channels,) else f"{node.name}/bias"
        initializers[name] = np.ascontiguousarray(value.reshape(channels))
        return name
    if node.op_type == "Gemm":
        return addend if dims.get(addend) in per_channel else None
    reshape = producers.get(addend)
    if reshape is None or reshape.op_type != "Reshape" or reshape.input[1] not in initializers:
        return None
    target = tuple(int(d) for d in initializers[reshape.input[1]])
    flat = dims.get(reshape.input[0]) == (channels,)
    return reshape.input[0] if flat and target in per_channel + [(-1, 1, 1), (1, -1, 1, 1)] else None


def _reduce_into_shape(nodes, initializers, outputs, dims):
    """ReduceSum(keepdims=1) whose only reader reshapes it to the shape without the reduced axes (a bias
    gradient) → ReduceSum(keepdims=0) computing the Reshape's output."""
    consumers, dropped = _consumers(nodes), set()
    for node in nodes:
        keep = next((a for a in node.attribute if a.name == "keepdims"), None)
        if node.op_type != "ReduceSum" or keep is None or keep.i != 1 or len(node.input) < 2 or \
                node.input[1] not in initializers or dims.get(node.input[0]) is None:
            continue
        reshape = _sole_consumer(node.output[0], consumers, outputs)
        if reshape is None or reshape.op_type != "Reshape" or reshape.input[1] not in initializers:
            continue
        shape = dims[node.input[0]]
        axes = {int(a) % len(shape) for a in initializers[node.input[1]]}
        squeezed = [d for i, d in enumerate(shape) if i not in axes]
        if None not in squeezed and initializers[reshape.input[1]].tolist() == squeezed:
            keep.i = 0
            node.output[0] = reshape.output[0]
            dropped.add(id(reshape))
    return [n for n in nodes if id(n) not in dropped]


# The largest tensor whose per-channel mean a moving average reads in one more pass (1 MiB of float32: every
# batch norm of ResNet-18 at 32×32, batch 64, but its stem): the pass costs a fraction of the nodes it saves on
# a GPU, where a small step is bound by per-node overhead (DESIGN.md §6), and on a CPU it is lost in the noise.
MOVING_AVERAGE_PASS_LIMIT = 2 ** 18


def _moving_average_of_a_mean(nodes, initializers, outputs, dims):
    """α·v + β·ReduceMean(t) over every axis but 1, with α + β = 1 (batch norm's moving statistics, three nodes)
    → ReduceMean(β·(t − v) + v): two nodes, the first one BatchNormalization with v as its mean and bias and
    unit variance, when t is small (``MOVING_AVERAGE_PASS_LIMIT``)."""
    consumers, dropped, added = _consumers(nodes), set(), {}
    producers = {name: node for node in nodes for name in node.output}
    for add in nodes:
        terms = [_scaled(producers.get(name), initializers, consumers, outputs) for name in add.input]
        if add.op_type != "Add" or None in terms:
            continue
        means = [i for i, (value, _, _) in enumerate(terms)
                 if _mean_over_channels(producers.get(value), initializers, producers, dims)]
        if len(means) != 1:
            continue
        (mean_of, beta, mul_b), (moving, alpha, mul_a) = terms[means[0]], terms[1 - means[0]]
        reduce = producers[mean_of]
        t = reduce.input[0]
        shape = _elementwise_shape(t, producers, dims)
        channels = shape[1]
        if dims.get(moving) != (channels,) or not np.isclose(alpha + beta, 1, rtol=1e-6, atol=0) or \
                np.prod(shape) > MOVING_AVERAGE_PASS_LIMIT:
            continue
        dtype = initializers[mul_b.input[1] if mul_b.input[0] == mean_of else mul_b.input[0]].dtype
        if dtype.kind != "f":   # (BatchNormalization is defined for floating types only)
            continue
        scale, unit = f"{add.name}/rate", f"{add.name}/unit_variance"
        initializers[scale] = np.full(channels, beta, dtype)
        initializers[unit] = np.full(channels, 1 - UNIT_EPSILON, dtype)
        mixed = helper.make_node("BatchNormalization", [t, scale, moving, moving, unit], [f"{add.name}/mixed"],
                                 name=f"{add.name}/mixed", epsilon=UNIT_EPSILON)
        added[id(add)] = [mixed, helper.make_node("ReduceMean", [mixed.output[0], *reduce.input[1:]], list(add.output),
                                                  name=add.name, keepdims=0)]
        dropped |= {id(mul_a), id(mul_b)}
    return [new for n in nodes if id(n) not in dropped for new in added.get(id(n), [n])]


def _scaled(mul, initializers, consumers, outputs):
    """(value, c, the Mul) for Mul(value, c) with c a constant scalar read only by one node, else None."""
    if mul is None or mul.op_type != "Mul" or _sole_consumer(mul.output[0], consumers, outputs) is None:
        return None
    for value, other in (mul.input, mul.input[::-1]):
        c = initializers.get(other)
        if c is not None and c.size == 1:
            return value, float(c.reshape(())), mul
    return None


def _mean_over_channels(reduce, initializers, producers, dims):
    """Whether ``reduce`` is ReduceMean(t, every axis but 1, keepdims=0) of a t of known shape."""
    if reduce is None or reduce.op_type != "ReduceMean" or len(reduce.input) < 2 or reduce.input[1] not in initializers:
        return False
    shape = _elementwise_shape(reduce.input[0], producers, dims)
    keep = next((a.i for a in reduce.attribute if a.name == "keepdims"), 1)
    if shape is None or None in shape or len(shape) < 2 or keep != 0:
        return False
    axes = sorted(int(a) % len(shape) for a in initializers[reduce.input[1]])
    return axes == [i for i in range(len(shape)) if i != 1]


def _elementwise_shape(name, producers, dims):
    """``name``'s static shape, or that of the value it was computed from elementwise (a converter's
    intermediates have none of their own): BatchNormalization keeps its input's shape, as does Mul(x, x)."""
    for _ in range(len(producers) + 1):
        if dims.get(name) is not None:
            return dims[name]
        node = producers.get(name)
        if node is None or not (node.op_type == "BatchNormalization" or
                                node.op_type == "Mul" and node.input[0] == node.input[1]):
            return None
        name = node.input[0]
    return None


def _drop_dead(nodes, initializers, outputs, dims):
    """Nodes none of whose outputs is a graph output or read by a kept node (ONNX ops have no side effects)."""
    live, kept = set(outputs), []
    for node in reversed(nodes):
        if live.intersection(node.output):
            kept.append(node)
            live |= reads(node)
    return kept[::-1]
