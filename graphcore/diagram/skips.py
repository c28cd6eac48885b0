"""Skip connections, found once in the forward pass so that every depth can draw them.

A *residual merge* is an Add (also AddN, ONNX's Sum) of two same-shaped tensors that ops computed (not weights or
constants) where one side, the *shortcut*, passes through fewer ops of its own than the other, the *branch*:
ResNet's identity shortcut passes through none, its projection shortcut through a 1×1 convolution and a
normalization. Its shortcut input is drawn as a skip edge (its own colour, at every depth).

A closed block would hide the skip inside one box, so a closed block holding residual merges is drawn as its
residual *motif* instead: each branch one box, each shortcut one box, each merge a small "⊕" box (with the
activation that follows it), and the skip edges between them — the picture of the ResNet paper, at any depth.
"""
from dataclasses import dataclass

from . import style

MERGES = ("Add", "AddN", "Sum")


@dataclass
class Merge:
    """A residual merge: the value its shortcut brings in, and the ops only the shortcut passes through."""
    shortcut: str
    shortcut_ops: frozenset


def residual_merges(graph, phases):
    """{merge op index: Merge} over the forward pass."""
    found = {}
    for op in graph.ops:
        if op.type not in MERGES or phases[op.index] != "forward" or len(op.inputs) != 2:
            continue
        values = [graph.values.get(v) for v in op.inputs]
        if any(v is None or v.producer is None or graph.ops[v.producer].kind not in ("op", "placeholder")
               for v in values) or values[0].shape != values[1].shape:
            continue
        a, b = (_ancestors(graph, v.producer) for v in values)
        only_a, only_b = a - b, b - a
        count_a, count_b = (sum(graph.ops[i].kind == "op" for i in side) for side in (only_a, only_b))
        if count_a == count_b:
            continue
        (short, ops, start), long = (((op.inputs[1], only_b, values[1].producer), a) if count_b < count_a
                                     else ((op.inputs[0], only_a, values[0].producer), b))
        if _sources(graph, ops, start) and _sources(graph, ops, start) <= long:
            found[op.index] = Merge(short, frozenset(ops))
    return found


def _sources(graph, ops, start):
    """Where a shortcut starts: the computed values its ops read from outside it (itself, if it has no op).
    A true bypass starts on the branch's own path; a sum of unrelated values (a moving average) does not."""
    if not ops:
        return {start} if start is not None else set()
    found = set()
    for i in ops:
        for v in graph.ops[i].inputs:
            producer = graph.values[v].producer if v in graph.values else None
            if producer is not None and producer not in ops and graph.ops[producer].kind in ("op", "placeholder"):
                found.add(producer)
    return found


def _ancestors(graph, start):
    """Op indices ``start`` depends on through data inputs, itself included."""
    seen, stack = {start}, [start]
    while stack:
        op = graph.ops[stack.pop()]
        for v in op.inputs:
            producer = graph.values[v].producer if v in graph.values else None
            if producer is not None and producer not in seen:
                seen.add(producer)
                stack.append(producer)
    return seen


def is_skip(merges, value, consumer):
    """Whether the edge carrying ``value`` into op ``consumer`` is a merge's shortcut."""
    merge = merges.get(consumer)
    return merge is not None and merge.shortcut == value


def motif(graph, ops, merges):
    """The parts of a closed block holding residual merges: [(part, op indices)] with part "branch",
    "shortcut" or "merge", in creation order; None when the block holds no merge."""
    members = set(ops)
    inside = sorted(m for m in merges if m in members)
    if not inside:
        return None
    consumers = {}
    for i in ops:
        for v in graph.ops[i].inputs:
            producer = graph.values[v].producer if v in graph.values else None
            if producer in members:
                consumers.setdefault(producer, []).append(i)
    part_of = {}
    for m in inside:
        part_of[m] = ("merge", m)
        _follow_activations(graph, m, consumers, part_of)
        for i in merges[m].shortcut_ops & members:
            part_of.setdefault(i, ("shortcut", m))
    rest = [i for i in ops if i not in part_of]
    for k, component in enumerate(_components(graph, rest)):
        feeds = {part_of.get(p) for p in _sources(graph, set(component), None)} - {None}
        owner = feeds.pop() if len(feeds) == 1 and next(iter(feeds))[0] == "shortcut" else ("branch", k)
        for i in component:     # what hangs off a shortcut only (its batch norm's statistics) joins it
            part_of[i] = owner
    parts = {}
    for i in sorted(ops):
        parts.setdefault(part_of[i], []).append(i)
    return [(key[0], members) for key, members in parts.items()]


def _follow_activations(graph, merge, consumers, part_of):
    """The activations right after a merge (ResNet's ReLU) belong to its ⊕ box."""
    current = merge
    while True:
        nxt = [i for i in dict.fromkeys(consumers.get(current, ())) if i not in part_of]
        if len(nxt) != 1 or style.category_for_op(graph.ops[nxt[0]].type, "op") != "activation":
            return
        current = nxt[0]
        part_of[current] = ("merge", merge)


def _components(graph, ops):
    """Connected pieces of ``ops`` (edges in either direction), each in creation order."""
    members = set(ops)
    parent = {i: i for i in ops}

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for i in ops:
        for v in graph.ops[i].inputs:
            producer = graph.values[v].producer if v in graph.values else None
            if producer in members:
                parent[root(producer)] = root(i)
    pieces = {}
    for i in ops:
        pieces.setdefault(root(i), []).append(i)
    return sorted(pieces.values(), key=lambda piece: piece[0])
