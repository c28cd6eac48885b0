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


# Ops whose equal-looking nodes compute different values (random draws): never merged.
RANDOM = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
                    "Multinomial"})
# Initializers up to this many elements are compared for equal values (the converters' axes and scalars).
SMALL_CONSTANT = 256


def run(nodes, initializers, outputs):
    for rewrite in (_merge_constants, _merge_equal_nodes, _merge_reshapes, _fuse_bias, _compute_outputs_in_place,
                    _drop_dead):
        nodes = rewrite(nodes, initializers, outputs)
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


def _merge_constants(nodes, initializers, outputs):
    """Small initializers with equal dtype, shape and values become one (the first name)."""
    first, renames, implicit = {}, {}, _implicit_reads(nodes)
    for name, array in list(initializers.items()):
        if array.size > SMALL_CONSTANT or name in outputs or name in implicit:
            continue
        key = (array.dtype.str, array.shape, array.tobytes())
        if key in first:
            renames[name] = first[key]
        else:
            first[key] = name
    return _renamed(nodes, renames)


def _merge_equal_nodes(nodes, initializers, outputs):
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


def _compute_outputs_in_place(nodes, initializers, outputs):
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


def _merge_reshapes(nodes, initializers, outputs):
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


def _fuse_bias(nodes, initializers, outputs):
    """Conv/Gemm followed by Add of a per-channel constant → the bias input of the Conv/Gemm itself."""
    consumers, dropped = _consumers(nodes), set()
    for node in nodes:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) != 2 or node.input[1] not in initializers:
            continue
        add = _sole_consumer(node.output[0], consumers, outputs)
        if add is None or add.op_type != "Add":
            continue
        other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        bias = _bias(node, initializers[node.input[1]], initializers.get(other))
        if bias is None:
            continue
        name = other if initializers[other].shape == bias.shape else f"{node.name}/bias"
        initializers[name] = bias
        node.input.append(name)
        node.output[0] = add.output[0]
        dropped.add(id(add))
    return [n for n in nodes if id(n) not in dropped]


def _bias(node, weights, addend):
    """The addend as a 1-D bias when it adds one value per output channel (Conv) or column (Gemm)."""
    if addend is None or addend.dtype != weights.dtype:
        return None
    if node.op_type == "Conv":
        channels = weights.shape[0]
        ok = addend.shape in ((channels, 1, 1), (1, channels, 1, 1))
    else:
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        channels = weights.shape[0] if trans_b else weights.shape[1]
        ok = addend.shape in ((channels,), (1, channels))
    return np.ascontiguousarray(addend.reshape(channels)) if ok else None


def _drop_dead(nodes, initializers, outputs):
    """Nodes none of whose outputs is a graph output or read by a kept node (ONNX ops have no side effects)."""
    live, kept = set(outputs), []
    for node in reversed(nodes):
        if live.intersection(node.output):
            kept.append(node)
            live |= reads(node)
    return kept[::-1]
