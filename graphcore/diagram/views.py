"""Views: which ops a diagram shows and how they collapse into boxes and clusters.

* ``op``: every node is a box; scopes up to ``depth`` levels are clusters.
* ``layer``: the forward pass only; ops collapse into one box per layer (or per scope ``depth + 1`` levels
  down, whichever is shallower), and the scopes above a box are clusters.
* ``grad``: the layer view plus the backward pass — gradient nodes (the ``gradients/`` scope) in their own
  cluster, collapsed the same way, and the optimizer's updates, each titled by the variable it updates.
  The optimizer's variables (slots such as Adam's moments, its step counter) are *optimizer state*: drawn in
  their own colour and counted apart from the model's parameters. Asked of a graph without gradients (an
  uncompiled model), the view draws the forward pass with a note saying how to get them.

In every view, the ops that only compute a variable's initial value (a RandomUniform feeding a kernel) are
left out unless ``show_initializers``; every box carries a tooltip (SVG: hover in a browser) with its ops in
full — type, attributes, input and output shapes, creation site.

A node with a body graph (a Scan's step function) draws as one box at ``depth`` ≤ its nesting level and
opens at deeper views: body ops of nesting level b are shown from ``depth`` b + 1 on, as a cluster holding the
node and its body (body levels then do not count against ``depth``).
"""
import re
from dataclasses import dataclass

from . import grouping, skips, style
from .model import Box, Cluster, Diagram, Edge
from .text import count_text, shape_text

VIEWS = ("op", "layer", "grad")
_GRADIENT_SCOPE = re.compile(r"gradients(_\d+)?")
NO_GRADIENTS = ("no backward pass in this graph: compile the model (model.compile(optimizer, loss)) or build "
                "gradients (gc.gradients, optimizer.minimize) to draw it; this is the forward pass")
_TOOLTIP_OPS = 25   # a collapsed box lists this many of its ops in its tooltip


def build(graph, view="layer", depth=1, show_shapes=True, show_params=True, show_initializers=False):
    """The ``Diagram`` of an ``OpGraph`` in one view."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: choose one of {', '.join(VIEWS)}")
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    arranged = arrange(graph, view, depth, show_initializers)
    root, placement, merges = arranged.root, arranged.placement, arranged.merges
    if view != "op":
        _open_motifs(root, graph, merges)
    drawn = number_boxes(root)
    for box in drawn:
        label_box(box, graph, placement, show_params)
    label_clusters(root, graph, show_params)
    categories = {box.category for box in drawn} | _cluster_phases(root)
    box_of = {i: box.id for box in drawn for i in box.ops}
    edges = list(dict.fromkeys((box_of[producer], box_of[consumer], label, kind) for producer, consumer, label, kind
                               in op_edges(graph, arranged, set(box_of), show_shapes, view != "op")))
    edges = [Edge(*key) for key in edges if key[0] != key[1]]
    phase = {box.id: box.phase for box in drawn}
    for edge in edges:
        edge.crossing = phase[edge.src] != phase[edge.dst]
    notes = [style.SKIP_NOTE] if any(edge.style == "skip" for edge in edges) else []
    if len(drawn) > style.CROSSINGS_LIMIT:
        edges, dropped = _without_phase_crossings(edges)
        notes += dropped
    return Diagram(title(graph, view, arranged.phases), root, edges, sorted(categories), len(drawn),
                   repeated=bool(arranged.alias), frozen=any(box.frozen and box.phase == "forward" for box in drawn),
                   notes=notes, warning=warning(graph, view, arranged.phases))


@dataclass
class Arranged:
    """A view's ops placed in clusters and boxes, before labelling: what a static diagram and the interactive
    page (``page``, which arranges at full depth and lets the reader open and close clusters) share."""
    phases: list
    shown: list
    placement: dict
    root: Cluster
    alias: dict          # op of a folded ×N copy -> the op of the first copy drawn for it
    removed: set         # ops of the folded copies
    merges: dict         # residual merges (``skips``)


def arrange(graph, view, depth, show_initializers=False):
    phases = phases_of(graph)
    hidden = set() if show_initializers else initializer_ops(graph)
    shown = [op.index for op in graph.ops
             if op.index not in hidden and _shown(op, phases[op.index], view, depth)]
    placement = _place(graph, shown, phases, view, depth)
    root = _tree(graph, shown, placement, phases)
    alias, removed = grouping.group_repeats(root, graph, set(shown))
    return Arranged(phases, shown, placement, root, alias, removed, skips.residual_merges(graph, phases))


def warning(graph, view, phases):
    return NO_GRADIENTS if view == "grad" and all(p == "forward" for p in phases) else ""


def _open_motifs(cluster, graph, merges):
    """Closed forward blocks that hold residual merges are drawn as their motif (branch, shortcut, ⊕) in a
    cluster named after the block, so the skip edge shows at every depth (``skips``)."""
    for k, child in enumerate(cluster.children):
        if isinstance(child, Cluster):
            _open_motifs(child, graph, merges)
            continue
        if not isinstance(child.key, tuple) or child.phase != "forward" or "/".join(child.key) in graph.layers:
            continue
        parts = skips.motif(graph, child.ops, merges)
        if parts is None:
            continue
        block = Cluster(child.key, phase="forward", repeat=child.repeat, members=child.members)
        block.children = [Box(id="", key=child.key + (f"{part}{n}",), ops=ops, part=part)
                          for n, (part, ops) in enumerate(parts)]
        cluster.children[k] = block


def _without_phase_crossings(edges):
    """Big diagrams: drop the edges between passes (forward → backward → update): each spans the picture,
    and together they cost dot minutes."""
    kept = [e for e in edges if not e.crossing]
    dropped = len(edges) - len(kept)
    return kept, ([f"{dropped:,} edges between the forward, backward and update passes not drawn"]
                  if dropped else [])


def phases_of(graph):
    """forward, gradient (the gradients/ scope) or update (what consumes gradients: the optimizer's ops,
    plus the rest of the optimizer's top-level scope such as its step counter)."""
    phases = []
    for op in graph.ops:
        if op.scope and _GRADIENT_SCOPE.fullmatch(op.scope[0]):
            phases.append("gradient")
        elif any(phases[p] != "forward" for p in _producers(graph, op)):
            phases.append("update")
        else:
            phases.append("forward")
    layer_tops = {name.split("/")[0] for name in graph.layers}
    update_tops = {op.scope[0] for op, p in zip(graph.ops, phases)
                   if p == "update" and op.scope and op.scope[0] not in layer_tops}
    return [("update" if p == "forward" and op.scope and op.scope[0] in update_tops else p)
            for op, p in zip(graph.ops, phases)]


def initializer_ops(graph):
    """Indices of the ops whose results only feed variables' initial values (and each other)."""
    uses = {}
    for op in graph.ops:
        for v in op.inputs:
            uses.setdefault(graph.values[v].producer if v in graph.values else None, []).append((op.index, "data"))
        for v in op.inits:
            uses.setdefault(graph.values[v].producer if v in graph.values else None, []).append((op.index, "init"))
        for c in op.controls:
            uses.setdefault(c, []).append((op.index, "control"))
    hidden = set()
    for op in reversed(graph.ops):
        consumers = uses.get(op.index)
        if consumers and op.kind in ("op", "constant") and all(kind == "init" or c in hidden for c, kind in consumers):
            hidden.add(op.index)
    return hidden


def _is_state(op, phase):
    """An optimizer's own variable (a slot, the step counter, its learning rate): state, not a parameter."""
    return op.kind == "variable" and phase == "update"


def _updated_variable(graph, op):
    """The name of the variable an update op writes (its first input; in an ONNX step, the state whose new
    value it outputs), or None."""
    written = next((graph.new_values[v] for v in op.outputs if v in graph.new_values), None)
    if written is not None:
        return written
    value = graph.values.get(op.inputs[0]) if op.inputs else None
    producer = graph.ops[value.producer] if value is not None and value.producer is not None else None
    return producer.name if producer is not None and producer.kind == "variable" else None


def _producers(graph, op):
    """Indices of the ops ``op`` depends on: data inputs, then runs-after (control) inputs."""
    data = [graph.values[v].producer for v in op.inputs if v in graph.values]
    return [p for p in data if p is not None] + list(op.controls)


def _shown(op, phase, view, depth):
    if op.body_depth >= depth + (view != "op"):
        return False   # inside a loop body that this depth keeps closed
    if view == "op":
        return True
    return not op.switch and (view == "grad" or phase == "forward")


def _place(graph, shown, phases, view, depth):
    """op index → (cluster path, box key); a box key is a scope path, or the op's index for a lone op."""
    layer_paths = {tuple(name.split("/")) for name in graph.layers}
    model_paths = {tuple(name.split("/")) for name in graph.models}
    placement = {}
    for i in shown:
        op = graph.ops[i]
        base, path = ((op.scope[:1], op.scope[1:]) if phases[i] == "gradient" else ((), op.scope))
        if phases[i] == "gradient":   # gradients/dense/MatMul_grad/… is drawn as the gradient of "dense"
            path = (path[:1] + tuple(p for p in path[1:] if not p.endswith("_grad"))) or _seeded_scope(
                graph, op, phases)
        limit = depth + 2 * op.body_depth
        if view == "op":
            placement[i] = (base + path[:limit], i)
            continue
        if not path or (phases[i] == "update" and op.kind == "op" and graph.source == "graph"
                        and _updated_variable(graph, op)):
            placement[i] = (base + path[:max(limit, 1)], i)   # every optimizer: one box per updated variable
            continue
        layer_len = next((n for n in range(1, len(path) + 1) if path[:n] in layer_paths), len(path))
        n = min(layer_len, limit + 1)
        # a nested model is one box until depth reaches below it (encoder: a box at depth 1, opened at 2)
        model_len = next((m for m in range(1, n + 1) if path[:m] in model_paths), None)
        if model_len is not None and model_len >= limit:
            n = model_len
        placement[i] = (base + path[:n - 1], base + path[:n])
    # An op sitting directly in a scope that is also drawn as a cluster is drawn on its own inside it.
    clusters = {c[:k] for c, _ in placement.values() for k in range(1, len(c) + 1)}
    for i, (cluster, key) in placement.items():
        if key in clusters:
            placement[i] = (key, i)
    return placement


def _seeded_scope(graph, op, phases):
    """A gradient op outside any scope (the seed d loss/d loss = 1) sits with the forward op it reads, so the
    loss's gradient box holds it."""
    for producer in _producers(graph, op):
        if phases[producer] == "forward" and graph.ops[producer].kind == "op":
            return graph.ops[producer].scope
    return ()


def _tree(graph, shown, placement, phases):
    """Clusters and boxes, each in order of first appearance (creation order: deterministic)."""
    root = Cluster(())
    clusters, boxes = {(): root}, {}

    def cluster(path, phase):
        if path not in clusters:
            clusters[path] = Cluster(path, phase=phase)
            cluster(path[:-1], phase).children.append(clusters[path])
        return clusters[path]

    for i in shown:
        path, key = placement[i]
        if key not in boxes:
            boxes[key] = Box(id=f"n{len(boxes)}", key=key, ops=[], phase=phases[i])
            cluster(path, phases[i]).children.append(boxes[key])
        boxes[key].ops.append(i)
    return root


def label_box(box, graph, placement, show_params):
    """Title, detail lines, kind, category and parameter counts of a box."""
    ops = [graph.ops[i] for i in box.ops]
    box.params = sum(op.params for op in ops)
    state = all(_is_state(op, box.phase) for op in ops)
    box.frozen = 0 if state else sum(op.params for op in ops if op.trainable is False)
    box.tooltip = _tooltip(box, graph, ops)
    backward = box.phase != "forward"
    if box.part:
        _label_part(box, graph, ops)
    elif state:
        box.kind, box.category = "variable", "state"
        box.title = ("/".join(ops[0].name.split("/")[len(placement[box.key][0]):]) or ops[0].name
                     if isinstance(box.key, int) else f"slots of {box.key[-1]}")
        box.lines = ([ops[0].attrs[0]] if len(ops) == 1 and ops[0].attrs else [f"{len(ops)} variables"]) + \
            ["optimizer state"]
    elif isinstance(box.key, int):
        op = ops[0]
        cluster_path = placement[box.key][0]
        box.title = "/".join(op.name.split("/")[len(cluster_path):]) or op.name
        box.kind = op.kind
        box.lines = ([op.type] if op.kind == "op" else []) + list(op.attrs)
        box.category = box.phase if backward else style.category_for_op(op.type, op.kind)
        if op.kind == "variable" and op.trainable is False:
            box.category = "frozen"
        target = _updated_variable(graph, op) if box.phase == "update" and op.kind == "op" else None
        if target is not None:
            box.title = f"update {target}"
        if box.phase == "gradient" and op.sums_fan_in:   # a value read twice gets the sum of both gradients
            box.title, box.lines = "Σ ∇", ["sum of the gradients", "of a value read twice"]
    elif box.phase == "update" and (targets := [t for op in ops if (t := _updated_variable(graph, op))]):
        box.kind, box.category, box.title = "block", "update", f"update {targets[0]}"
        box.lines = [f"{sum(op.kind == 'op' for op in ops)} ops: " + " → ".join(
            list(dict.fromkeys(op.type for op in ops if op.kind == "op"))[:3]) + " …"]
    else:
        inner = box.key[1:] if box.phase == "gradient" else box.key
        layer = graph.layers.get("/".join(inner)) or graph.models.get("/".join(inner))
        box.title = ("∇ " + box.key[-1].removesuffix("_grad")) if box.phase == "gradient" else box.key[-1]
        if layer is not None:
            box.kind = "block" if "/".join(inner) in graph.models else "layer"
            box.lines = [f"gradient of {layer.cls}"] if backward else [layer.cls] + layer.attrs
            box.category = box.phase if backward else style.LAYER_CATEGORY.get(layer.cls, "math")
        else:
            _label_block(box, graph, inner, ops)
    if box.repeat > 1:
        box.title = f"{box.members[0]} … {box.members[-1]}  ×{box.repeat}"
    if show_params and box.params and box.kind != "variable" and box.phase == "forward":
        box.footer = _params_text(box.params, box.frozen, box.repeat)


def _label_part(box, graph, ops):
    """A piece of a closed block's residual motif: the ⊕ merge, a shortcut, or a branch named by the first
    and last scope inside it (``a_conv … b_bn``)."""
    block = box.key[:-1]
    work = [op for op in ops if op.kind == "op"]
    types = list(dict.fromkeys(op.type for op in work))
    if box.part == "merge":
        box.title, box.kind, box.category, box.lines = "⊕", "op", "math", [" → ".join(types)]
        return
    inner = list(dict.fromkeys(op.scope[len(block)] for op in ops if len(op.scope) > len(block)))
    layers = [graph.layers[name] for name in dict.fromkeys(_layer_name(graph, op) for op in ops) if name]
    if box.part == "shortcut":
        box.title = "shortcut"
    else:
        box.title = (f"{inner[0]} … {inner[-1]}" if len(inner) > 1 else inner[0]) if inner else "branch"
    if len(layers) == 1:
        box.kind, box.lines = "layer", [layers[0].cls] + layers[0].attrs
        box.category = style.LAYER_CATEGORY.get(layers[0].cls, "math")
        return
    main = next((op for op in work if style.category_for_op(op.type, op.kind) not in ("math", "shape")),
                work[0] if work else ops[0])
    box.kind = "block" if layers or len(work) > 4 else "layer"
    box.category = "block" if box.kind == "block" else style.category_for_op(main.type, main.kind)
    if layers:
        kinds = list(dict.fromkeys(layer.cls for layer in layers))
        box.lines = [f"{len(layers)} layers: " + ", ".join(kinds[:2]) + (", …" if len(kinds) > 2 else "")]
    else:
        box.lines = [" → ".join(types[:4]) + (" …" if len(types) > 4 else "")]


def _layer_name(graph, op):
    """The scope of the layer ``op`` belongs to, or None."""
    return next((name for k in range(1, len(op.scope) + 1) if (name := "/".join(op.scope[:k])) in graph.layers),
                None)


def _tooltip(box, graph, ops):
    """The full story of a box: each op's name, type, attributes, shapes and creation site."""
    def shapes(values):
        return ", ".join(f"{shape_text(graph.values[v].shape)} {graph.values[v].dtype}" for v in values
                         if v in graph.values)

    def one(op):
        lines = [f"{op.name}  ({op.type})"] + op.details
        if op.inputs:
            lines.append(f"in: {shapes(op.inputs)}")
        if op.outputs:
            lines.append(f"out: {shapes(op.outputs)}")
        if op.site:
            lines.append(f"created at {op.site}")
        return lines
    if len(ops) == 1:
        return "\n".join(one(ops[0]))
    scope = "/".join(box.key) if isinstance(box.key, tuple) else ops[0].name
    params = sum(op.params for op in ops)
    lines = [f"{scope}: {len(ops)} ops" + (f", {count_text(params)} parameters" if params else "")]
    for op in ops[:_TOOLTIP_OPS]:
        site = f"  ·  created at {op.site}" if op.site else ""
        lines.append(f"{op.name} ({op.type}) → {shapes(op.outputs)}{site}")
    if len(ops) > _TOOLTIP_OPS:
        lines.append(f"… and {len(ops) - _TOOLTIP_OPS} more")
    return "\n".join(lines)


def _label_block(box, graph, path, ops):
    """A scope without layer information (raw graphs, ONNX files): a small one is labelled like the op that
    does its work (type, settings, colour); a big one by its layers or op types."""
    prefix = "/".join(path) + "/"
    layers = [name for name in graph.layers if name.startswith(prefix)]
    work = [op for op in ops if op.kind == "op"]
    types = list(dict.fromkeys(op.type for op in work))
    main = next((op for op in work if style.category_for_op(op.type, op.kind) not in ("math", "shape")),
                work[0] if work else ops[0])
    small = not layers and len(work) <= 4
    box.kind = "layer" if small else "block"
    if layers:
        box.lines = [f"{len(layers)} layers"]
    elif small:
        box.lines = [" → ".join(types) or main.type] + list(main.attrs)
    else:
        box.lines = [f"{len(work)} ops: " + ", ".join(types[:3]) + (", …" if len(types) > 3 else "")]
    category = style.category_for_op(main.type, main.kind) if small else "block"
    box.category = box.phase if box.phase != "forward" else category


def _params_text(params, frozen, repeat):
    text = f"{count_text(params)} params"
    if frozen == params:
        text += " (frozen)"
    elif frozen:
        text += f" ({count_text(frozen)} frozen)"
    return text + (" each" if repeat > 1 else "")


def number_boxes(cluster, boxes=None):
    """Give drawn boxes ids n0, n1 … in drawing order (after grouping dropped copies); returns them."""
    boxes = [] if boxes is None else boxes
    for child in cluster.children:
        if isinstance(child, Cluster):
            number_boxes(child, boxes)
        else:
            child.id = f"n{len(boxes)}"
            boxes.append(child)
    return boxes


def _cluster_phases(cluster):
    """Backward clusters put their phase in the legend even when every box inside is collapsed."""
    found = {cluster.phase} - {"forward"}
    for child in cluster.children:
        if isinstance(child, Cluster):
            found |= _cluster_phases(child)
    return found


def label_clusters(cluster, graph, show_params):
    """Cluster label: scope name, ×N when repeated, and the parameters inside (all copies counted)."""
    for child in cluster.children:
        if isinstance(child, Cluster):
            label_clusters(child, graph, show_params)
    if not cluster.path:
        return
    name = cluster.path[-1]
    if cluster.phase == "gradient" and len(cluster.path) == 1:
        name = f"{name} (backward pass)"
    if cluster.repeat > 1:
        name = f"{cluster.members[0]} … {cluster.members[-1]}  ×{cluster.repeat}"
    params = _cluster_params(cluster, graph)
    cluster.params = params
    if cluster.phase == "update":
        text = f"optimizer state: {count_text(params)} value{'s' * (params != 1)}" if params else ""
    else:
        text = _params_text(params, 0, cluster.repeat) if params else ""
    cluster.label = name + (f"  ·  {text}" if show_params and text else "")


def _cluster_params(cluster, graph):
    total = 0
    for child in cluster.children:
        if isinstance(child, Cluster):
            total += _cluster_params(child, graph) * child.repeat
        else:
            total += sum(graph.ops[i].params for i in child.ops) * child.repeat
    return total


def _shape_label(value, user_shapes):
    """Layer views speak the model's API (channels-last images); the op view shows the ops' own layout."""
    return shape_text(value.user_shape if user_shapes and value.user_shape is not None else value.shape)


def op_edges(graph, arranged, drawn, show_shapes, user_shapes):
    """(producer op, consumer op, label, style) between drawn ops, each once, in creation order; folded ×N
    copies route through their first copy; a residual merge's shortcut input is a "skip"."""
    edges, seen = [], set()
    for i in arranged.shown:
        if i in arranged.removed or i not in drawn:
            continue
        op = graph.ops[i]
        incoming = ([(v, "data") for v in op.inputs] + [(v, "init") for v in op.inits])
        sources = [(graph.values[v].producer, v, kind) for v, kind in incoming if v in graph.values]
        sources += [(c, None, "control") for c in op.controls]
        for producer, value, kind in sources:
            producer = arranged.alias.get(producer, producer)
            if producer not in drawn or producer == i:
                continue
            if kind == "data" and skips.is_skip(arranged.merges, value, i):
                kind = "skip"
            label = (_shape_label(graph.values[value], user_shapes)
                     if show_shapes and kind in ("data", "skip") else "")
            if (producer, i, label, kind) not in seen:
                seen.add((producer, i, label, kind))
                edges.append((producer, i, label, kind))
    return edges


def title(graph, view, phases):
    weights = [op for op, p in zip(graph.ops, phases) if op.kind == "variable" and p == "forward"]
    total = sum(op.params for op in weights)
    text = f"{graph.name}  ·  {view} view  ·  {count_text(total)} parameters"
    frozen = sum(op.params for op in weights if op.trainable is False)
    if frozen:
        text += f" ({count_text(total - frozen)} trainable, {count_text(frozen)} frozen)"
    return text
