"""The records every diagram is drawn from, whatever it was read from (a graphcore graph or an ONNX file).

Two layers of data, so each stage has one job:

* an ``OpGraph`` is the source, flattened: one ``OpRecord`` per node (its scope path, kind, display
  attributes, parameter count) and one ``Value`` per tensor (its shape and producer). Sources fill it in;
  nothing downstream knows where it came from.
* a ``Diagram`` is what gets drawn: boxes (one op, a layer, a block, or ×N repeated blocks) nested in
  clusters, and the edges between boxes. Views turn an ``OpGraph`` into a ``Diagram``; ``dot`` emits it.
"""
from dataclasses import dataclass, field


@dataclass
class Value:
    """A tensor: ``shape`` dims are ints, None (unknown, drawn '?') or strings (symbolic ONNX dims).
    ``user_shape`` is the shape in the model's own API (a Keras user's channels-last images) where it
    differs from the internal one; layer views draw that."""
    shape: tuple | None
    dtype: str
    producer: int | None = None
    user_shape: tuple | None = None


@dataclass
class OpRecord:
    """One node of the source graph.

    ``scope`` is the path clusters are drawn from: the name's scope components, plus, for a node that carries
    a body graph, its own name (so the body nests inside it). ``kind`` is op, variable, constant or
    placeholder.
    """
    index: int
    name: str
    type: str
    kind: str
    scope: tuple
    inputs: list = field(default_factory=list)     # value ids
    outputs: list = field(default_factory=list)    # value ids
    controls: list = field(default_factory=list)   # op indices that must run first
    inits: list = field(default_factory=list)      # value ids of variable initializers
    attrs: list = field(default_factory=list)      # short display strings ("k 5×5", "stride 2")
    params: int = 0
    trainable: bool | None = None
    switch: bool = False       # a mode placeholder with a default (the learning phase): hidden in layer views
    body_depth: int = 0        # how many body graphs this node sits inside
    site: str = ""             # file:line of the user code that created it (tooltips)
    details: list = field(default_factory=list)   # every attribute, "name=value" (tooltips)
    sums_fan_in: bool = False  # graphcore's AddN: in a backward pass, the sum of a value's gradients


@dataclass
class LayerInfo:
    """What a model knows about a layer beyond its ops: its class and constructor settings."""
    cls: str
    attrs: list


@dataclass
class OpGraph:
    name: str
    ops: list
    values: dict
    layers: dict = field(default_factory=dict)   # layer scope ("stage2/block1/a_conv") -> LayerInfo
    models: dict = field(default_factory=dict)   # nested model scope ("encoder") -> LayerInfo
    source: str = "graph"                        # "graph" or "onnx"
    training_step: bool = False                  # an exported training step (its natural view is "grad")
    new_values: dict = field(default_factory=dict)   # value id -> the variable it is the new value of (ONNX steps)

    def name_the_loss(self, loss):
        """``compile`` builds the loss and the metrics in one scope: draw them as a "loss" box (what ``fit``
        minimizes; its targets drawn as inputs) and a "metrics" box, and the loss's gradients as "∇ loss"."""
        top = self.ops[self.values[loss].producer].scope[:1]
        if not top:
            return
        needed, stack = set(), [self.values[loss].producer]
        while stack:
            i = stack.pop()
            if i is None or i in needed or self.ops[i].scope[:1] != top:
                continue
            needed.add(i)
            stack += [self.values[v].producer for v in self.ops[i].inputs if v in self.values]
        for op in self.ops:
            if op.scope[:1] == top and op.kind == "placeholder":
                op.scope = ()                                   # the targets: inputs of the loss, like the data
            elif op.scope[:1] == top and op.kind in ("op", "constant"):
                op.scope = ("loss" if op.index in needed else "metrics",) + op.scope[1:]
            elif op.scope[:2] == ("gradients",) + top:
                op.scope = ("gradients", "loss") + op.scope[2:]
        self.layers["loss"] = LayerInfo("Loss", ["minimized by fit"])
        if any(op.scope[:1] == ("metrics",) for op in self.ops):
            self.layers["metrics"] = LayerInfo("Metrics", ["reported by fit"])


@dataclass
class Box:
    """A drawn node: ``key`` is an op index (one op) or a scope path tuple (a layer or block)."""
    id: str
    key: object
    ops: list
    phase: str = "forward"
    repeat: int = 1
    members: list = field(default_factory=list)  # titles of the repeated blocks, first to last
    title: str = ""
    lines: list = field(default_factory=list)   # what it is, then its settings
    footer: str = ""                             # parameter count
    kind: str = "op"          # op, layer, block, variable, constant, placeholder
    category: str = "math"
    params: int = 0
    frozen: int = 0
    tooltip: str = ""         # what the box holds in full: ops, attributes, shapes, creation sites
    part: str = ""            # in a closed block's residual motif: "branch", "shortcut" or "merge"


@dataclass
class Cluster:
    path: tuple
    children: list = field(default_factory=list)   # Boxes and Clusters, in order of first appearance
    label: str = ""
    phase: str = "forward"
    params: int = 0
    repeat: int = 1
    members: list = field(default_factory=list)


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    style: str = "data"       # data, skip (a residual shortcut), control (runs-after) or init (initializer)
    crossing: bool = False    # joins two passes (forward → backward): drawn without pulling ranks


@dataclass
class Diagram:
    title: str
    root: Cluster
    edges: list
    categories: list          # categories present, for the legend
    size: int = 0             # number of boxes
    repeated: bool = False    # some block is drawn once for ×N copies
    frozen: bool = False      # some weights are not trained
    notes: list = field(default_factory=list)    # what was simplified, for the legend
    warning: str = ""         # what the picture lacks and how to get it, drawn under the title
