"""Skip connections stay visible at every depth: residual merges are found in the forward pass, their
shortcut edges are drawn as skip edges, and a closed block holding merges is drawn as its motif."""
import numpy as np

import graphcore as gc
import graphcore.models as zoo
from graphcore.diagram import load, render, skips, views


def _skip_edges(diagram):
    return [edge for edge in diagram.edges if edge.style == "skip"]


def test_resnet18_shows_each_of_its_eight_skips_at_every_depth():
    graph = load(zoo.resnet18())
    merges = skips.residual_merges(graph, views.phases_of(graph))
    assert len(merges) == 8                                       # 4 stages × 2 basic blocks
    identity = [m for m in merges.values() if not m.shortcut_ops]
    assert len(identity) == 5                                     # stage2's two, one more in stages 3-5
    for depth in (0, 1, 2, 3):
        diagram = views.build(graph, "layer", depth=depth)
        # identical blocks fold ×N: stage2's two blocks are drawn once at depth ≥ 1
        assert len(_skip_edges(diagram)) == (8 if depth == 0 else 7), depth
        assert "skip connections" in " ".join(diagram.notes)


def test_a_closed_block_is_drawn_as_branch_shortcut_and_merge():
    graph = load(zoo.resnet18())
    diagram = views.build(graph, "layer", depth=1)
    stage3 = next(c for c in diagram.root.children if getattr(c, "path", None) == ("stage3",))
    block1 = stage3.children[0]
    parts = {box.part: box for box in block1.children}
    assert set(parts) == {"branch", "shortcut", "merge"}
    assert parts["branch"].title == "a_conv … b_bn" and parts["branch"].lines[0].startswith("5 layers")
    assert parts["shortcut"].footer == "8,704 params (256 frozen)"   # 1×1 conv 64→128 + batch norm
    assert parts["merge"].title == "⊕" and parts["merge"].lines == ["AddN → Relu"]
    ids = {part: box.id for part, box in parts.items()}
    assert any(e.src == ids["shortcut"] and e.dst == ids["merge"] and e.style == "skip" for e in diagram.edges)


def test_sums_that_are_not_bypasses_are_not_skips():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 4), name="x")
        y = gc.placeholder(gc.float32, (None, 4), name="y")
        w = gc.Variable(np.ones((4, 4), np.float32), name="w")
        both = gc.tanh(x) + gc.tanh(y)                    # two unrelated inputs: no shortcut
        biased = gc.matmul(both, w) + w[0]                # a bias: one side is a weight
        moving = gc.Variable(np.zeros(4, np.float32), name="moving")
        gc.reduce_mean(biased, axis=0) * 0.1 + moving * 0.9   # a moving average: starts from a variable
    graph = load(g)
    assert skips.residual_merges(graph, views.phases_of(graph)) == {}
    assert "#1c7ed6" not in render(g).source


def test_skip_edges_have_their_own_colour_in_dot():
    text = render(zoo.resnet18(), depth=0).source
    assert text.count('color="#1c7ed6"') == 8 and "blue edges: skip connections" in text
