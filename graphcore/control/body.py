"""Body graphs: the graphs a loop (``Scan``) or a branch (``Cond``) op runs, traced once from a Python function.

While a function is traced into a ``BodyGraph``, tensors of an enclosing graph that it uses become
*captures*: a body placeholder stands in for each, and the op that owns the body takes the outer tensor as an
input. Variables live only in the outermost graph: a body reads a variable's value through its capture and
cannot create, assign or re-read one.
"""
from ..errors import BuildError
from ..graph import Graph, Tensor, get_default_graph
from ..op import convert_to_tensor
from ..ops.math import identity
from ..ops.state import Placeholder, ReadVariable, VariableOp, placeholder


class BodyGraph(Graph):
    """A traced body; ``kind`` names it in errors ("scan function", "cond branch"). A loop body leaves ops of
    outer tensors only in the enclosing graph (they are loop invariants, computed once); a branch
    ``captures_everything`` built while it is traced, so that only the branch taken runs them."""

    def __init__(self, outer=None, kind="scan function", captures_everything=False):
        super().__init__()
        self.outer, self.kind, self.captures_everything = outer, kind, captures_everything
        self.captures = {}   # outer tensor → (tensor in self.outer, body placeholder)

    def capture(self, tensor):
        if tensor.node.graph is self:
            return tensor
        if tensor not in self.captures:
            if self.outer is None:
                raise BuildError(f"{tensor.name} belongs to another graph and this {self.kind} captures nothing")
            source = tensor if tensor.node.graph is self.outer else _capture_in(self.outer, tensor)
            with self.as_default(), self.name_scope("captured/"):
                stand_in = placeholder(tensor.dtype, tensor.shape, name=tensor.node.name.replace("/", "_"))
            self.captures[tensor] = (source, stand_in)
        return self.captures[tensor][1]

    def create_node(self, op, inputs, attrs, name=None, control_inputs=()):
        if isinstance(op, VariableOp):
            raise BuildError(f"variables cannot be created inside a {self.kind}: create them outside and use "
                             "them inside (they are captured)")
        for t in inputs[:op.variable_inputs]:
            if t.node.graph is not self and isinstance(op, ReadVariable):
                raise BuildError(f"{t.name}.read_value() inside a {self.kind}: use the variable itself there (its "
                                 "value is captured when the op runs)")
            if t.node.graph is not self:
                raise BuildError(f"{op.type} of the variable {t.name} inside a {self.kind}: a {self.kind} reads "
                                 f"variables but cannot assign them; compute the new value inside and assign it "
                                 f"outside (v.assign(...))")
        return super().create_node(op, [self.capture(t) for t in inputs], attrs, name, control_inputs)


def _capture_in(graph, tensor):
    if not isinstance(graph, BodyGraph):
        raise BuildError(f"{tensor.name} belongs to a graph that does not enclose this body")
    return graph.capture(tensor)


def body_outputs(body, values):
    """Body tensors for what a traced function returned: outer tensors are captured, constants converted, and
    body inputs passed straight through get an Identity (a plan computes its fetches; it cannot fetch its own
    feeds)."""
    out = []
    with body.as_default():
        for v in values:
            t = body.capture(v) if isinstance(v, Tensor) else convert_to_tensor(v, graph=body)
            out.append(identity(t) if isinstance(t.node.op, Placeholder) else t)
    return out


def placeholders(specs, prefix):
    """One placeholder per ``(dtype, shape)`` spec, named ``prefix_0``, ``prefix_1``, …"""
    return [placeholder(dtype, shape, name=f"{prefix}_{i}") for i, (dtype, shape) in enumerate(specs)]


def clone(source, mapping):
    """Replay ``source``'s nodes into the default graph, inputs renamed through ``mapping`` (updated)."""
    target = get_default_graph()
    for node in source.nodes:
        if all(t in mapping for t in node.outputs):
            continue
        copy = target.create_node(node.op, [mapping[t] for t in node.inputs], node.attrs,
                                  name=node.name.rsplit("/", 1)[-1])
        mapping.update(zip(node.outputs, copy.outputs))
