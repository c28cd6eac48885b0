"""Repeated blocks drawn once, marked ×N.

Siblings in one cluster (ResNet's ``block2``, ``block3`` …, identical Inception-style modules) are merged
when they are

* structurally identical: equal Weisfeiler-Lehman hashes of their op graphs, with nodes labelled by the
  name relative to the block, op type, key attributes and output shapes (names make the copies line up op
  for op, so edges can be re-routed);
* a chain: each copy feeds only the next one, and takes its inputs only from the previous copy or from
  what also feeds the first copy (a shared switch).

The first copy is kept and shown with the others' names and ×N; edges leaving the last copy are re-routed
from the matching op of the first (``alias``), and the other copies' ops are dropped (``removed``).
"""
import hashlib
import warnings

import networkx as nx

from .model import Box, Cluster
from .text import shape_text


def group_repeats(root, graph, shown):
    """Merge repeated runs everywhere in the tree; returns (alias: op → op of the first copy, removed ops)."""
    consumers = {}
    for i in shown:
        for p in _producers(graph, i):
            if p in shown:
                consumers.setdefault(p, set()).add(i)
    alias, removed = {}, set()
    with warnings.catch_warnings():   # networkx 3.5 notes that its directed hashes changed; we only compare
        warnings.simplefilter("ignore", UserWarning)
        _group_level(root, graph, shown, consumers, alias, removed)
    for op in list(alias):          # runs nested in a kept copy: follow the chain to a drawn op
        while alias[op] in alias:
            alias[op] = alias[alias[op]]
    return alias, removed


def _producers(graph, i):
    op = graph.ops[i]
    data = [graph.values[v].producer for v in op.inputs if v in graph.values]
    return [p for p in data if p is not None] + list(op.controls)


def _ops(item):
    if isinstance(item, Box):
        return list(item.ops)
    return [i for child in item.children for i in _ops(child)]


def _path(item):
    return item.path if isinstance(item, Cluster) else item.key


def _relative(graph, ops, path):
    """Names relative to the block; an op drawn there from elsewhere (a gradient's seed) keeps its own."""
    names = {}
    for i in ops:
        parts = graph.ops[i].name.split("/")
        names["/".join(parts[len(path):]) if tuple(parts[:len(path)]) == tuple(path) else graph.ops[i].name] = i
    return names


def _hash(graph, ops, path):
    g = nx.DiGraph()
    members = set(ops)
    for rel, i in _relative(graph, ops, path).items():
        op = graph.ops[i]
        shapes = [shape_text(graph.values[v].shape) for v in op.outputs]
        label = "|".join([rel, op.type, *op.attrs, *shapes]).encode("utf-8")   # WL hashing wants ASCII labels
        g.add_node(i, label=hashlib.blake2b(label, digest_size=8).hexdigest())
    for i in ops:
        for p in _producers(graph, i):
            if p in members:
                g.add_edge(p, i)
    return nx.weisfeiler_lehman_graph_hash(g, node_attr="label", iterations=3)


def _chains(graph, first, a, b, consumers, shown):
    """Whether ``b`` can follow ``a`` in a run that starts at ``first`` (sets of shown op indices); ops the view
    hides (a layer's own mode switch) do not count."""
    if any(c not in a and c not in b for i in a for c in consumers.get(i, ())):
        return False
    first_sources = {p for i in first for p in _producers(graph, i) if p not in first}
    return all(p in b or p in a or p in first_sources or p not in shown for i in b for p in _producers(graph, i))


def _group_level(cluster, graph, shown, consumers, alias, removed):
    children = cluster.children
    groupable = [isinstance(c, Cluster) or not isinstance(c.key, int) for c in children]
    sets = [set(_ops(c)) for c in children]
    hashes = [_hash(graph, sorted(s), _path(c)) if ok else None for c, s, ok in zip(children, sets, groupable)]
    kept, i = [], 0
    while i < len(children):
        j = i
        while (j + 1 < len(children) and hashes[i] is not None and hashes[j + 1] == hashes[i]
               and _chains(graph, sets[i], sets[j], sets[j + 1], consumers, shown)):
            j += 1
        kept.append(children[i])
        i = j + 1 if j > i and _merge(graph, children[i:j + 1], alias, removed) else i + 1
    cluster.children = kept
    for child in kept:
        if isinstance(child, Cluster):
            _group_level(child, graph, shown, consumers, alias, removed)


def _merge(graph, run, alias, removed):
    """Keep ``run[0]`` as the drawn copy; map every other copy's ops onto it."""
    first = _relative(graph, _ops(run[0]), _path(run[0]))
    mapping = {}
    for item in run[1:]:
        for rel, i in _relative(graph, _ops(item), _path(item)).items():
            if rel not in first:
                return False
            mapping[i] = first[rel]
    alias.update(mapping)
    removed.update(mapping)
    run[0].repeat = len(run)
    run[0].members = [_path(item)[-1] for item in run]
    return True
