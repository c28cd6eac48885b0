"""The structure of an ONNX graph, checked in time linear in its size: what ``onnx.checker`` enforces on names, and the
order the importer builds the nodes in.

Refused, each with an ``OnnxImportError`` naming the node, the value and the rule:

* a value assigned twice (single static assignment): two nodes writing one name, a node overwriting a graph
  input or an initializer, a subgraph's node overwriting a value its enclosing graph defined before it, a graph
  input listed twice, two initializers of one name;
* a node reading a name nothing defines, and a graph output nothing produces (in a subgraph: nothing of that
  subgraph, as the checker requires);
* a node whose number of inputs or outputs is outside its op schema's range at the model's opset
  (``onnx.defs.get_schema``; variadic ops have no upper bound);
* a cycle, counting a subgraph's reads of enclosing values as inputs of the node that owns the subgraph;
* subgraphs nested deeper than ``max_depth``, and more than ``max_nodes`` nodes in all.

Linear means each node, name and attribute is visited a fixed number of times. Names live in one dict, name →
(depth, position), for the graph being checked and every graph enclosing it; a subgraph's definitions are
undone when it is left, so an enclosing graph's names are never copied. Like the checker, and unlike a file
that must be topologically sorted, a node may read a value a later node of its graph writes: such a graph is
sorted (Kahn's algorithm, smallest position first, so a sorted file keeps its order); a sorted one costs one
comparison per read.
"""
import heapq

from onnx import AttributeProto, defs

from .import_registry import OnnxImportError

INPUT, INITIALIZER = -2, -1   # positions of the names that no node writes
_TENSOR, _TENSORS, _GRAPH, _GRAPHS = (AttributeProto.TENSOR, AttributeProto.TENSORS, AttributeProto.GRAPH,
                                      AttributeProto.GRAPHS)
AI_ONNX = ("", "ai.onnx")   # the two names of the standard operator domain
_HOLDERS = frozenset((_TENSOR, _TENSORS, _GRAPH, _GRAPHS))   # attribute types that hold tensors or bodies


class NodeOrder:
    """The nodes of every checked graph (the main graph and each body) in the order they can be built.

    Keyed by the identity of the graph message; the messages are held here, so the identities stay valid (a
    protobuf message keeps its Python wrapper while the wrapper is referenced)."""

    def __init__(self):
        self._orders = {}

    def add(self, graph, nodes):
        self._orders[id(graph)] = (graph, nodes)

    def get(self, graph):
        """The nodes of ``graph`` in build order, or None for a graph that was not checked."""
        entry = self._orders.get(id(graph))
        return entry[1] if entry is not None and entry[0] is graph else None


def describe(node):
    return f"node '{node.name or (node.output[0] if node.output else '?')}' ({node.op_type})"


class GraphChecker:
    """Checks a graph and its bodies (``check(graph)``), filling ``order``.

    ``check_tensor(tensor)`` and ``check_value(value_info)`` are called for every tensor (initializer or
    attribute) and every declared value; they check sizes and data and raise on a problem."""

    def __init__(self, opsets, check_tensor, check_value, max_depth, max_nodes):
        self.opsets, self.max_depth, self.max_nodes = opsets, max_depth, max_nodes   # domain ("" standard) → version
        self.check_tensor, self.check_value = check_tensor, check_value
        self.order = NodeOrder()
        self._where = {}       # name → (depth, position) of its innermost visible definition
        self._graphs = []      # the graphs being checked, outermost first
        self._owners = []      # per enclosing depth: the position of the node whose body is being checked
        self._implicit = []    # per depth: (reader, producer) positions, from bodies reading enclosing values
        self._node_count = 0
        self._arity = {}

    def check(self, graph):
        """Check ``graph``, the model's main graph, and every body in it; returns its nodes in build order."""
        return self._graph(graph, depth=0)

    # ----- one graph --------------------------------------------------------------------------------------
    def _graph(self, graph, depth):
        if depth > self.max_depth:
            raise OnnxImportError(f"subgraphs are nested deeper than {self.max_depth} levels (graph '{graph.name}')")
        nodes = graph.node
        self._node_count += len(nodes)
        if self._node_count > self.max_nodes:
            raise OnnxImportError(f"the model has more than {self.max_nodes:,} nodes")
        self._graphs.append(graph)
        self._implicit.append([])
        undo = []
        self._leaves(graph, depth, undo)
        where = self._where
        for k, node in enumerate(nodes):
            for name in node.output:
                if name:
                    if depth or name in where:
                        self._define(name, depth, k, undo, node)
                    else:   # what _define does with a new name of the main graph, without the call
                        where[name] = (0, k)
        in_order = self._nodes(nodes, depth)
        for value in graph.output:
            self._output(value.name, graph, depth)
        implicit = self._implicit.pop()
        if in_order and all(producer < reader for reader, producer in implicit):
            order = nodes
        else:
            order = self._sorted(nodes, depth, implicit)
        self.order.add(graph, order)
        self._graphs.pop()
        for name, previous in reversed(undo):   # leaving a body: its names are no longer visible
            if previous is None:
                del self._where[name]
            else:
                self._where[name] = previous
        return order

    def _leaves(self, graph, depth, undo):
        for value in graph.input:
            self.check_value(value)
            self._define(value.name, depth, INPUT, undo)
        inputs = {v.name for v in graph.input}
        for tensor in graph.initializer:
            self.check_tensor(tensor)
            if tensor.name in inputs:   # IR < 4 lists initializers as inputs too: an input with a default
                inputs.discard(tensor.name)
                continue
            self._define(tensor.name, depth, INITIALIZER, undo)
        for value in graph.output:
            self.check_value(value)
        for value in graph.value_info:
            self.check_value(value)

    def _define(self, name, depth, position, undo, node=None):
        """Record that ``name`` is defined here; refuse a second assignment."""
        where = self._where
        previous = where.get(name)
        if previous is not None:
            at, then = previous
            # a body's inputs and initializers may shadow enclosing values, and its nodes may shadow values
            # the enclosing graph defines only after the body's node (as onnx.checker)
            if at == depth or (node is not None and then < self._owners[at]):
                raise OnnxImportError(self._assigned_twice(name, node, position, depth, previous))
        if depth:   # the main graph's names are never undone
            undo.append((name, previous))
        where[name] = (depth, position)

    def _nodes(self, nodes, depth):
        """Check each node of a graph (domain, arity, reads, attribute tensors and bodies); True when every
        node reads only values defined before it (the file order works). One loop with its tables in locals:
        it runs once per node of the file."""
        where, arities, implicit, owners = self._where, self._arity, self._implicit, self._owners
        in_order = True
        for k, node in enumerate(nodes):
            domain, op_type = node.domain, node.op_type
            key = op_type if domain in AI_ONNX else (domain, op_type)
            arity = arities.get(key)
            if arity is None:   # () for an op without a schema (the importer refuses it with its own reason)
                arity = arities[key] = _schema_arity(op_type, *self._version(node))
            inputs = node.input   # protobuf fields cost a lookup per access: fetched once
            if arity:
                n_in, n_out = len(inputs), len(node.output)
                if not (arity[0] <= n_in <= arity[1] and arity[2] <= n_out <= arity[3]):
                    raise OnnxImportError(_arity_error(node, arity, n_in, n_out, self._version(node)[0]))
            for name in inputs:
                if not name:
                    continue
                found = where.get(name)
                if found is None:
                    raise OnnxImportError(f"{describe(node)} reads '{name}', which no node, initializer or graph "
                                          "input defines")
                at, position = found
                if at == depth:
                    if position >= k:
                        in_order = False
                elif position >= 0:
                    implicit[at].append((owners[at], position))
            for attr in node.attribute:
                kind = attr.type   # the importer reads an attribute by its type (onnx.helper.get_attribute_value)
                if kind in _HOLDERS:
                    self._attribute(attr, kind, k, depth)
        return in_order

    def _version(self, node):
        """(opset version, domain) a node's schema is looked up at; refuses a domain the model does not import."""
        domain = "" if node.domain in AI_ONNX else node.domain
        version = self.opsets.get(domain)
        if version is None:
            raise OnnxImportError(f"{describe(node)} is in unknown domain '{node.domain}' (the model imports no "
                                  "such operator set; graphcore imports the standard ai.onnx ops and onnx's "
                                  "ai.onnx.preview only)")
        return version, domain

    def _attribute(self, attr, kind, k, depth):
        """Check the tensors an attribute holds, or the bodies (of node ``k``) with their own names."""
        if kind == _TENSOR:
            self.check_tensor(attr.t)
        elif kind == _TENSORS:
            for tensor in attr.tensors:
                self.check_tensor(tensor)
        else:
            for body in [attr.g] if kind == _GRAPH else attr.graphs:
                self._owners.append(k)
                self._graph(body, depth + 1)
                self._owners.pop()

    def _output(self, name, graph, depth):
        found = self._where.get(name)
        if found is None or found[0] != depth:
            if depth == 0:
                raise OnnxImportError(f"graph output '{name}' is not produced by any node, graph input or "
                                      f"initializer of graph '{graph.name}'")
            raise OnnxImportError(f"output '{name}' of subgraph '{graph.name}' is not produced inside it (as "
                                  "onnx.checker requires; a value of the enclosing graph is passed out through "
                                  "an Identity node in the subgraph)")

    def _sorted(self, nodes, depth, implicit):
        """The build order when the file's order does not work: reads of this graph's values (explicit, and
        implicit through bodies) as edges of Kahn's algorithm."""
        where, edges = self._where, implicit
        for k, node in enumerate(nodes):
            for name in node.input:
                found = where.get(name) if name else None
                if found is not None and found[0] == depth and found[1] >= 0:
                    edges.append((k, found[1]))
        return _kahn(nodes, edges)

    # ----- messages ---------------------------------------------------------------------------------------
    def _assigned_twice(self, name, node, position, depth, previous):
        at, first_position = previous
        graph = self._graphs[-1]
        if node is None:   # a graph input or an initializer, defined twice in one graph
            twice = f"lists input '{name}' twice" if position == INPUT else f"has two initializers named '{name}'"
            return f"graph '{graph.name}' {twice}: every ONNX value is defined once (onnx.checker refuses it too)"
        if first_position == INPUT:
            first = f"graph input '{name}'"
        elif first_position == INITIALIZER:
            first = f"initializer '{name}'"
        else:
            first = f"the output '{name}' of {describe(self._graphs[at].node[first_position])}"
        scope = "" if at == depth else f" of the enclosing graph '{self._graphs[at].name}'"
        return (f"{describe(node)} writes '{name}', which is already {first}{scope}: every ONNX value is "
                "assigned once (single static assignment); the file is malformed (onnx.checker refuses it too)")


def topological_order(graph, defined):
    """The nodes of a graph the structural check did not see (an op's function body that the importer
    expands) in build order; ``defined`` holds (``in``) the values defined outside its nodes."""
    nodes, produced = graph.node, {}
    for k, node in enumerate(nodes):
        for name in node.output:
            if name:
                produced[name] = k
    edges = []
    for k, node in enumerate(nodes):
        for name in node.input:
            if name in produced:
                edges.append((k, produced[name]))
            elif name and name not in defined:
                raise OnnxImportError(f"{describe(node)} reads '{name}', which no node, initializer or graph input "
                                      "defines")
    return nodes if all(producer < reader for reader, producer in edges) else _kahn(nodes, edges)


def _kahn(nodes, edges):
    """``nodes`` ordered so that each (reader, producer) edge has the producer first; among the nodes ready
    at a time the earliest in the file comes first, so a sorted file keeps its order. Refuses a cycle."""
    readers = [[] for _ in nodes]
    waiting = [0] * len(nodes)
    for reader, producer in edges:
        readers[producer].append(reader)
        waiting[reader] += 1
    ready = [k for k, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(nodes[k])
        for j in readers[k]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(nodes):
        stuck = nodes[next(k for k, w in enumerate(waiting) if w > 0)]
        raise OnnxImportError(f"the graph has a cycle: {describe(stuck)} depends on its own output")
    return order


def _schema_arity(op_type, opset, domain):
    """(min inputs, max inputs, min outputs, max outputs) of the op at ``opset``, or () without a schema
    (the importer then refuses the op type with its own reason)."""
    try:
        schema = defs.get_schema(op_type, opset, domain)
    except defs.SchemaError:
        return ()
    return schema.min_input, schema.max_input, schema.min_output, schema.max_output


def _arity_error(node, arity, n_in, n_out, opset):
    low, high, kind, count = (arity[0], arity[1], "input", n_in) if not arity[0] <= n_in <= arity[1] \
        else (arity[2], arity[3], "output", n_out)
    if low == high:
        wanted = f"exactly {low}"
    elif high >= 2**31 - 1:
        wanted = f"at least {low}"
    else:
        wanted = f"{low} to {high}"
    consequence = f"the extra {kind}s would be dropped silently" if count > high else f"the op needs {low}"
    return (f"{describe(node)} has {count} {kind}{'' if count == 1 else 's'}, but {node.op_type} at opset {opset} "
            f"takes {wanted}: {consequence}; the file is malformed (onnx.checker refuses it too)")
