"""The interactive diagram page: one self-contained HTML file a reader explores offline.

``render(model, "net.html")`` writes it. The page holds, for each view (layer, op, grad), the view arranged at
full depth as a tree of clusters, every box's DOT statement and tooltip, and the edges between ops; its script
(``page/page.js``) keeps which clusters are open, writes the DOT text of that state and lays it out with
graphviz compiled to WebAssembly (``vendor/``, inlined), so every state is graphviz's own layout. A closed
cluster is drawn as the box a static diagram would draw for it (a closed residual block as its motif), so the
page opens on the picture ``render(..., depth=d)`` draws and the reader opens and closes blocks from there.

Why WebAssembly and not graphviz run here for each state: the states are every combination of open clusters
(2^k), so a page of precomputed SVGs could only offer a few of them; docs/diagrams.md has the measurements.
"""
import json
import pathlib

from . import dot, skips, style, views
from .model import Box, Cluster, Diagram
from .text import shape_text

HERE = pathlib.Path(__file__).parent
FULL_DEPTH = 1 << 10      # every scope a cluster: the page opens and closes them itself


def page_html(graph, depth=1, view=None, show_shapes=True, show_params=True, rankdir="TB", legend=True,
              show_initializers=False):
    """The page for an ``OpGraph``, opening on ``view`` at ``depth``."""
    data = {
        "name": graph.name, "view": view or ("grad" if graph.training_step else "layer"), "rankdir": rankdir,
        "ops": [_op(op) for op in graph.ops],
        "values": {vid: [shape_text(value.shape), value.dtype, value.producer] for vid, value in graph.values.items()},
        "edgeStyles": style.EDGE_STYLES, "crossing": style.CROSSING_EDGE,
        "views": {name: _view(graph, name, depth, show_shapes, show_params, rankdir, legend, show_initializers)
                  for name in views.VIEWS},
    }
    graphviz = (HERE / "vendor" / "graphviz-wasm.js").read_text(encoding="utf-8")
    graphviz = "\n".join(line for line in graphviz.splitlines() if not line.startswith("//# sourceMappingURL"))
    if "</script" in graphviz.lower():
        raise AssertionError("the vendored graphviz module cannot be inlined: it contains </script")
    parts = {"/*TITLE*/": _escape(f"{graph.name} · graphcore"),
             "/*CSS*/": (HERE / "page" / "page.css").read_text(encoding="utf-8"),
             "/*DATA*/": json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
             "/*GRAPHVIZ*/": graphviz,
             "/*APP*/": (HERE / "page" / "page.js").read_text(encoding="utf-8")}
    text = (HERE / "page" / "page.html").read_text(encoding="utf-8")
    for marker, value in parts.items():
        head, _, tail = text.partition(marker)
        text = head + value + tail     # not str.replace: the inlined code may contain the markers' text
    return text


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _op(op):
    return {"name": op.name, "type": op.type, "kind": op.kind, "site": op.site, "in": op.inputs, "out": op.outputs}


def _view(graph, view, depth, show_shapes, show_params, rankdir, legend, show_initializers):
    """One view: its tree of clusters (open or closed at first), boxes, op edges and DOT header."""
    arranged = views.arrange(graph, view, FULL_DEPTH, show_initializers)
    leaves = views.number_boxes(arranged.root)
    for box in leaves:
        views.label_box(box, graph, arranged.placement, show_params)
    views.label_clusters(arranged.root, graph, show_params)
    static = views.build(graph, view, depth, show_shapes, show_params, show_initializers)
    opened = None if view == "op" else _open_paths(static.root)
    nodes, owner, counter = {}, {}, iter(range(1 << 30))
    for box in leaves:
        nodes[box.id] = _node(box)
    # The ops of folded ×N copies are not in the tree; a cluster above the copies holds them when closed
    # (a closed stage draws all its blocks), and an open one draws them through their first copy (alias).
    folded = {i: _path_of(arranged.placement[i]) for i in arranged.removed}
    chains = {i: [] for i in folded}

    def walk(cluster, chain):
        if isinstance(cluster, Box):
            for i in cluster.ops:
                owner[i] = [*chain, cluster.id]
            return {"box": cluster.id}
        cid = f"c{next(counter)}"
        copies = [i for i, path in folded.items() if path[:len(cluster.path)] == cluster.path]
        closed, part_of, wrap = _closed(graph, view, cluster, cid, arranged, show_params, copies)
        for i in copies:
            chains[i] += [cid, part_of]
        for box in closed:
            nodes[box.id] = _node(box)
        children = [walk(child, chain + [cid, part_of]) for child in cluster.children]
        return {"id": cid, "label": cluster.label, "lines": dot.cluster_lines(cluster),
                "open": opened is None or cluster.path in opened, "closed": [box.id for box in closed],
                "wrap": wrap, "children": children}

    tree = [walk(child, []) for child in arranged.root.children]
    for i, chain in chains.items():
        owner[i] = chain + [{"alias": arranged.alias[i]}]
    # chain: cluster id, {op: its box when that cluster is closed}, …, then the op's own box or its alias
    for i, chain in owner.items():
        owner[i] = [entry[i] if isinstance(entry, dict) and "alias" not in entry else entry for entry in chain]
    unfolded = views.Arranged(arranged.phases, arranged.shown, arranged.placement, arranged.root, {}, set(),
                              arranged.merges)
    edges = views.op_edges(graph, unfolded, set(owner), show_shapes, view != "op")
    categories = sorted({node["category"] for node in nodes.values()} | set(static.categories))
    header = Diagram(static.title, Cluster(()), [], categories, static.size, repeated=static.repeated,
                     frozen=static.frozen, warning=static.warning,
                     notes=[style.SKIP_NOTE] if any(kind == "skip" for *_, kind in edges) else [])
    source = dot.to_digraph(header, rankdir, legend, show_shapes).source
    return {"header": source[:source.rindex("}")], "tree": tree, "nodes": nodes, "owner": owner,
            "edges": edges, "warning": static.warning}


def _open_paths(cluster):
    """Scopes drawn open in a static diagram (a closed block drawn as its motif is not open)."""
    found = set()
    for child in cluster.children:
        if isinstance(child, Cluster) and not any(getattr(c, "part", "") for c in child.children):
            found.add(child.path)
            found |= _open_paths(child)
    return found


def _path_of(placement):
    """The scope path an op is placed under at full depth."""
    cluster, key = placement
    return key if isinstance(key, tuple) else cluster


def _closed(graph, view, cluster, cid, arranged, show_params, copies):
    """How a cluster is drawn closed: one box, or a residual block's motif wrapped in a small cluster.
    ``copies``: ops of folded ×N copies inside it. Returns (boxes, {op: box id}, wrapper lines or None)."""
    ops = sorted(_ops_under(cluster) + copies)
    layer = "/".join(cluster.path) in graph.layers
    parts = (skips.motif(graph, ops, arranged.merges)
             if view != "op" and cluster.phase == "forward" and not layer else None)
    if not parts:
        box = Box(id=cid + "b", key=cluster.path, ops=ops, phase=cluster.phase, repeat=cluster.repeat,
                  members=cluster.members)
        views.label_box(box, graph, arranged.placement, show_params)
        return [box], {i: box.id for i in ops}, None
    boxes = [Box(id=f"{cid}p{n}", key=cluster.path + (f"{part}{n}",), ops=members, part=part)
             for n, (part, members) in enumerate(parts)]
    for box in boxes:
        views.label_box(box, graph, arranged.placement, show_params)
    wrapper = Cluster(cluster.path, children=boxes, repeat=cluster.repeat, members=cluster.members)
    holder = Cluster((), children=[wrapper])
    views.label_clusters(holder, graph, show_params)
    return boxes, {i: box.id for box in boxes for i in box.ops}, dot.cluster_lines(wrapper)


def _ops_under(item):
    if isinstance(item, Box):
        return list(item.ops)
    return sorted(i for child in item.children for i in _ops_under(child))


def _node(box):
    return {"dot": dot.box_line(box), "title": box.title, "tip": box.tooltip, "phase": box.phase,
            "category": box.category, "ops": list(box.ops)}
