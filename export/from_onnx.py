"""ONNX → graphcore: ``from_onnx(path_or_proto)`` builds a graphcore graph from someone else's ONNX model.

The walker, in four steps:

1. **Load safely** (``onnx_safety.load``): every hostile-file check runs before a tensor is read.
2. **Leaves.** Graph inputs become placeholders (symbolic dims become unknown dims); floating-point
   initializers become trainable variables (batch-norm running statistics non-trainable: they are
   statistics, not parameters); integer and boolean initializers stay NumPy arrays — *static* values.
3. **Nodes**, in topological order, each through its builder (``import_registry.IMPORTERS``) under a name
   scope taken from the ONNX node name (``/layer1/layer1.0/conv1/Conv`` → ``layer1/layer1.0/conv1``), so
   graphcore's layer view groups an imported ResNet by its blocks. An op with no builder whose schema has a
   function body imports as that body (``import_functions``).
4. **Static folding.** A node whose inputs are all static (shape arithmetic: ``Shape → Gather → Concat →
   Reshape``, the idiom every exporter emits) is built in a scratch graph and evaluated at once; its outputs
   stay static, and only values that reach a real computation become constants in the graph. That is why
   a Reshape fed by shape arithmetic on known shapes imports as a plain graphcore reshape.

The result, ``ImportedModel``, is an ordinary graphcore model: ``gc.gradients`` works on its tensors, the
optimizers of ``gc.train`` train its variables, ``gc.render`` draws it and ``export.to_onnx`` writes it back.
"""
import contextlib
import gc as python_gc
import warnings

import numpy as np
from onnx import AttributeProto, TensorProto, helper, numpy_helper

import graphcore as gc
from graphcore import dtypes as _dt
from graphcore.errors import GraphcoreError
from graphcore.graph import Tensor, ancestors
from graphcore.sites import pinned_site

from . import onnx_safety
from .import_registry import IMPORTERS, NeedsStaticValue, OnnxImportError, refusal

_AI_ONNX = onnx_safety.AI_ONNX
_UNBOUND = object()   # a name with no value outside a body
_NUMBERS = (AttributeProto.FLOAT, AttributeProto.INT)
_BODIES = (AttributeProto.GRAPH, AttributeProto.GRAPHS)   # attribute types holding subgraphs
# A static value larger than this is not folded (folding would copy big arrays into the graph twice).
_FOLD_LIMIT = 1 << 24


class OnnxNode:
    """An ``onnx.NodeProto`` with attribute lookup by name and the model's opset version."""

    def __init__(self, proto, opset):
        self.proto, self.opset = proto, opset
        self.inputs, self.outputs = proto.input, proto.output   # protobuf's sequences: read, never copied
        self.op_type, self.name = proto.op_type, proto.name or (self.outputs[0] if self.outputs else "")
        self._by_name = None   # attribute name → AttributeProto, made on first use: most nodes ask for none

    def _attributes(self):
        if self._by_name is None:
            self._by_name = {a.name: a for a in self.proto.attribute}
        return self._by_name

    def attr(self, name, default=None):
        a = self._attributes().get(name)
        if a is None:
            return default
        kind = a.type
        if kind in _NUMBERS and not a.ref_attr_name:   # the common case, without onnx.helper's chain of tests
            return a.f if kind == AttributeProto.FLOAT else a.i
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode() for v in value]
        return value

    def has(self, name):
        return name in self._attributes()

    def error(self, reason):
        return refusal(self.proto, reason)


class ImportContext:
    """What builders use: the values by ONNX name, the opset and the size cap. Builders build into the default
    graph: the imported graph, a loop body being traced, or the scratch graph of a folded node."""

    def __init__(self, opsets, max_bytes, order):
        self.opsets, self.max_bytes = opsets, max_bytes   # domain ("" for ai.onnx) → opset version
        self.opset = opsets[""]
        self.order = order   # onnx_safety's NodeOrder: the build order of every graph the file holds
        self.values = {"": None}
        self.input_names = {}   # placeholder node → ONNX input name (to say which input a value needs)
        self.initial_values = {}   # float initializer's variable → its value in the file
        self.untied = {}        # (initializer, reader node name) → that reader's own copy (untie=True)
        self.untied_aliases = set()   # outputs of Identity copies of initializers made variables (untie=True)
        self._constants = {}    # graph → {(id of a static value, dtype): (its constant there, the value)}
        self.saved_names = 0    # names saved and restored around bodies (``body_scope``): linear in the file

    @contextlib.contextmanager
    def body_scope(self, bound, defined):
        """Import a body (an If branch, a Loop or Scan body, an op's function body) inside: ``bound`` (name →
        value: its inputs and initializers) is bound, and on leaving, every bound name and every name in
        ``defined`` (its nodes' outputs) gets back the value it had outside, or none. Only the body's own names
        are saved, not every value of the model, so importing n bodies costs time linear in their sizes."""
        values = self.values
        names = [*bound, *(name for name in defined if name)]
        saved = [(name, values.get(name, _UNBOUND)) for name in names]
        self.saved_names += len(saved)
        values.update(bound)
        try:
            yield
        finally:
            for name, value in reversed(saved):   # the first value saved for a name is the outside one
                if value is _UNBOUND:
                    values.pop(name, None)
                else:
                    values[name] = value

    def tensor(self, value, dtype=None):
        """A graph tensor for ``value``: a Tensor as is, a static NumPy value as a (cached) constant."""
        if isinstance(value, Tensor):
            return value if dtype is None else gc.cast(value, dtype)
        array = np.asarray(value) if dtype is None else np.asarray(value, dtype)
        # each graph (a loop body being traced, a folded node's scratch graph) has its own constants
        constants = self._constants.setdefault(gc.get_default_graph(), {})
        key = (id(value), array.dtype.str)
        if key not in constants:
            constants[key] = (gc.constant(array, name="Const"), value)
        return constants[key][0]

    def forget(self, graph):
        """Drop the constants made in ``graph`` (a folded node's scratch graph, once evaluated)."""
        self._constants.pop(graph, None)

    def static(self, value, what):
        """The NumPy value of an input that must be known at import time (a shape, axes, pads, a ratio): a
        static value, or a float initializer's value in the file (it configures the op, it is not trained)."""
        if value is None or isinstance(value, np.ndarray):
            return value
        if value in self.initial_values:
            return self.initial_values[value]
        names = [self.input_names[n] for n in ancestors([value.node], controls=False) if n in self.input_names]
        raise NeedsStaticValue(f"{what} must be known when importing, but it is computed from the graph "
                               f"input(s) {names or '(none)'} at run time", names)

    def check_size(self, shape, dtype, what):
        """Refuse an output of ``shape`` over the byte cap before anything allocates it."""
        count = 1
        for d in shape:
            if d < 0:
                raise OnnxImportError(f"{what}: negative dimension in shape {list(shape)}")
            count *= int(d)
        onnx_safety.check_size(count * np.dtype(dtype).itemsize, what, self.max_bytes)


class ImportedModel:
    """An ONNX model as a graphcore graph; see the module docstring."""

    def __init__(self, graph, inputs, outputs, variables, name):
        self.graph, self.inputs, self.outputs, self.variables, self.name = graph, inputs, outputs, variables, name
        self.session = gc.Session(graph)

    # The exporter's duck-typed model interface (export/source.py) takes lists.
    @property
    def input_placeholders(self):
        return list(self.inputs.values())

    @property
    def output_tensors(self):
        return list(self.outputs.values())

    def run(self, feeds):
        """Outputs by ONNX name, for ``feeds`` by ONNX input name."""
        unknown = set(feeds) - set(self.inputs)
        if unknown:
            raise gc.FeedError(f"unknown input(s) {sorted(unknown)}; the model's inputs are {list(self.inputs)}")
        values = self.session.run(list(self.outputs.values()), {self.inputs[k]: v for k, v in feeds.items()})
        return dict(zip(self.outputs, values))

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows an imported model as its diagram, and a one-line summary as text
        (graphcore.diagram.notebook)."""
        from graphcore.diagram.notebook import mimebundle
        return mimebundle(self, include, exclude)

    def _repr_svg_(self):
        from graphcore.diagram.notebook import svg
        return svg(self)

    def __repr__(self):
        return f"<ImportedModel '{self.name}': {len(self.inputs)} input(s), {len(self.outputs)} output(s), " \
               f"{len(self.variables)} variable(s), {len(self.graph.nodes)} nodes>"


class TiedInitializerWarning(UserWarning):
    """One float initializer is read by the nodes of several modules: fine-tuning will train them as one."""


def from_onnx(path_or_proto, max_bytes=onnx_safety.MAX_BYTES, static_inputs=None, untie=False, trainable=None):
    """Import an ONNX model (a file path or an ``onnx.ModelProto``) as an ``ImportedModel``.

    ``max_bytes`` caps every declared or computed tensor size (default 4 GiB). ``static_inputs`` (ONNX input
    name → array) binds graph inputs to constants, for models whose shapes are graph inputs.

    A float initializer read by the nodes of several modules (node-name scopes) is *tied*: one variable, so
    fine-tuning moves them together. Models do tie weights on purpose (an embedding shared with the output
    layer), but torch's exporter also merges initializers that merely hold equal values (two LayerNorms'
    initial ones), so each tie is reported with a ``TiedInitializerWarning``; ``untie=True`` gives every
    module its own copy (named ``<initializer>@<module>`` after the first).

    ``trainable`` (initializer names) says which float initializers are parameters; the others import as
    non-trainable variables. ONNX does not tell a parameter from a constant the exporter stored as an
    initializer (torch's dynamo exporter writes folded constants such as attention's scale, and transposed
    weights, as ``val_N`` initializers), so by default every float initializer but batch-norm statistics
    trains; name the parameters to train exactly those.
    """
    with _without_cycle_collection(), pinned_site():
        model, _, order = onnx_safety.load(path_or_proto, max_bytes)
        return _imported(model, order, max_bytes, static_inputs, untie, trainable)


def _imported(model, order, max_bytes, static_inputs, untie, trainable):
    opsets = onnx_safety.opset_versions(model)
    graph = gc.Graph()
    ctx = ImportContext(opsets, max_bytes, order)
    static_inputs = dict(static_inputs or {})
    with graph.as_default():
        parameters = _parameters(model.graph, trainable)
        ties = {name: tie for name, tie in tied_initializers(model.graph).items() if name in parameters}
        if ties and not untie:
            _warn_ties(ties)
        variables = _leaves(ctx, model.graph, static_inputs, ties if untie else {}, parameters)
        inputs = {name: ctx.values[name] for name in ctx.input_names.values()}
        walk(ctx, model.graph)
        outputs = _outputs(ctx, model.graph)
    return ImportedModel(graph, inputs, outputs, variables, model.graph.name or "onnx")


@contextlib.contextmanager
def _without_cycle_collection():
    """Python's cycle collector, paused while a file is imported. It rescans the objects that survived its
    previous passes each time enough new ones have accumulated; an import allocates about ten objects per
    node, all of which stay alive (the graph), so the rescans find nothing and took a third to a half of the
    time of building 200,000 nodes. The garbage cycles an import does make (the scratch graph of each folded
    node) are freed as they are made: ``collect_young`` runs a young-generation pass, which looks only at the
    objects made since the previous one, so these passes cost time linear in the import."""
    enabled = python_gc.isenabled()
    python_gc.disable()
    try:
        yield
    finally:
        if enabled:
            python_gc.enable()


def collect_young():
    """Free the garbage cycles made since the last collection (see ``_without_cycle_collection``)."""
    python_gc.collect(0)


def _outputs(ctx, graph):
    """Output tensors by name; an output that is a graph input, or that another output already is, gets its
    own Identity node (a fetched value must be computed, and an exported file names each output once)."""
    outputs, seen = {}, {node.outputs[0] for node in ctx.input_names}
    for o in graph.output:
        t = ctx.tensor(ctx.values[o.name])
        outputs[o.name] = gc.identity(t) if t in seen else t
        seen.add(t)
    return outputs


def _statistics(graph):
    """Initializers read as BatchNormalization's running mean and variance (inputs 3 and 4)."""
    return {n.input[i] for n in graph.node if n.op_type == "BatchNormalization" for i in (3, 4) if i < len(n.input)}


def tied_initializers(graph):
    """Float initializers that may stand for several parameters of the source model: name → (aliases, scopes).

    ``aliases`` are the names of Identity nodes that copy it: torch's exporter writes ``b.weight =
    Identity(a.weight)`` when it merges two parameters of equal values. ``scopes`` are the modules past the
    first whose nodes read it directly (module → reader node names)."""
    floats = {t.name for t in graph.initializer if helper.tensor_dtype_to_np_dtype(t.data_type).kind == "f"}
    if not floats:
        return {}
    aliases, readers = {}, {}
    for node in graph.node:
        inputs = node.input
        if node.op_type == "Identity" and inputs and inputs[0] in floats:
            aliases.setdefault(inputs[0], []).append(node.output[0])
            continue
        for name in {name for name in inputs if name in floats}:
            readers.setdefault(name, {}).setdefault(_scope(node.name or node.output[0]), []).append(node.name)
    ties = {}
    for name in sorted(floats):
        extra = dict(list(readers.get(name, {}).items())[1:])
        if aliases.get(name) or extra:
            ties[name] = (aliases.get(name, []), extra)
    return ties


def _warn_ties(ties):
    lines = [f"'{name}' also as " + ", ".join([f"'{a}'" for a in aliases] + [f"module {s}" for s in scopes])
             for name, (aliases, scopes) in ties.items()]
    warnings.warn(f"{len(ties)} initializer(s) stand for several parameters: {'; '.join(lines)} — fine-tuning "
                  "trains each as one parameter; if the exporter merged equal values (torch does) rather than the "
                  "model sharing them, import with from_onnx(..., untie=True)", TiedInitializerWarning, stacklevel=3)


def _parameters(graph, trainable):
    """The names of the float initializers that train: ``trainable`` (checked against the file), or all of
    them but batch-norm statistics."""
    floats = {t.name for t in graph.initializer
              if _dt.is_floating(helper.tensor_dtype_to_np_dtype(t.data_type))}
    if trainable is None:
        return floats - _statistics(graph)
    if isinstance(trainable, str):
        raise OnnxImportError(f"trainable must be a collection of initializer names, got the string {trainable!r}")
    wanted = set(trainable)
    unknown = sorted(wanted - floats)
    if unknown:
        raise OnnxImportError(f"trainable names {unknown[:5]}{' …' if len(unknown) > 5 else ''} are not float "
                              f"initializers of this file ({len(floats)} are, e.g. {sorted(floats)[:3]})")
    return wanted


def _leaves(ctx, graph, static_inputs, untied, parameters):
    initialized = {t.name for t in graph.initializer}
    for v in graph.input:
        if v.name in initialized:
            continue   # an input with a default (IR < 4 lists initializers as inputs too): the initializer wins
        if v.name in static_inputs:
            ctx.values[v.name] = np.asarray(static_inputs[v.name])
            continue
        dtype, shape = _value_type(v)
        ph = gc.placeholder(dtype, shape, name=v.name)
        ctx.values[v.name] = ph
        ctx.input_names[ph.node] = v.name
    variables = {}
    for t in graph.initializer:
        array = numpy_helper.to_array(t)
        if _dt.is_floating(array.dtype):
            trains = t.name in parameters
            var = gc.Variable(array, name=t.name, trainable=trains)
            variables[t.name] = ctx.values[t.name] = var
            ctx.initial_values[var] = array
            aliases, scopes = untied.get(t.name, ((), {}))
            for alias in aliases:   # the alias's Identity node is skipped: its output is this copy
                variables[alias] = ctx.values[alias] = gc.Variable(array.copy(), name=alias, trainable=trains)
                ctx.untied_aliases.add(alias)
            for scope, readers in scopes.items():   # the first module keeps the original
                copy = gc.Variable(array.copy(), name=f"{t.name}@{scope}", trainable=trains)
                variables[f"{t.name}@{scope}"] = copy
                ctx.untied.update({(t.name, reader): copy for reader in readers})
        else:
            ctx.values[t.name] = array
    return variables


def _value_type(value):
    t = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise OnnxImportError(f"graph input '{value.name}' is not a tensor ({value.type.WhichOneof('value')}); "
                              "graphcore imports tensor inputs only")
    dtype = onnx_dtype(t.elem_type, f"graph input '{value.name}'")
    if not t.HasField("shape"):
        raise OnnxImportError(f"graph input '{value.name}' declares no shape (not even its rank)")
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return dtype, shape


def onnx_dtype(elem_type, what):
    """The NumPy dtype of an ONNX element type (ml_dtypes' for the narrow formats, as onnx itself uses);
    refuses strings and complex numbers."""
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or not _dt.is_numeric(dtype):
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else elem_type
        raise OnnxImportError(f"{what}: ONNX element type {name} has no graphcore dtype (graphcore tensors hold "
                              "numbers and booleans)")
    return dtype


def walk(ctx, graph, opsets=None):
    """Import ``graph``'s nodes into the default graph (also used for loop bodies, If branches and the function
    bodies of ops without a rule, whose nodes read the body's own ``opsets``). The graph's inputs and
    initializers are bound in ``ctx.values`` before it is walked."""
    from .import_functions import body_of, inline
    opsets = opsets or ctx.opsets
    order = ctx.order.get(graph)
    if order is None:   # a graph the file does not hold (an op's function body, unchecked): order it here
        order = onnx_safety.topological_order(graph, ctx.values)
    into = gc.get_default_graph()
    values, untied, aliases = ctx.values, ctx.untied, ctx.untied_aliases
    standard = opsets.get("", ctx.opset)
    for proto in order:   # once per node of the file: the protobuf fields are read once each
        if aliases and proto.op_type == "Identity" and proto.output[0] in aliases:
            continue   # its output is already a variable of its own
        domain = proto.domain
        if domain in _AI_ONNX:
            node = OnnxNode(proto, standard)
            build = IMPORTERS.get(node.op_type)
        else:   # ai.onnx.preview: its ops import through their function bodies only
            node, build = OnnxNode(proto, opsets.get(domain, ctx.opset)), None
        if untied:
            inputs = [untied.get((name, proto.name), values[name]) for name in node.inputs]
        else:
            inputs = [values[name] for name in node.inputs]
        function = body_of(node, inputs, opsets) if build is None else None
        if build is None and function is None:
            raise refusal(proto, None if domain in _AI_ONNX else f"the {domain} domain has no {node.op_type} at "
                          f"version {node.opset} (graphcore imports its ops through their function bodies)")
        try:
            with _node_scope(into, node.name):
                if function is not None:
                    outputs = inline(ctx, node, inputs, function)
                elif _foldable(node, inputs):
                    outputs = _fold(ctx, build, node, inputs)
                else:
                    outputs = build(ctx, node, inputs)
        except OnnxImportError:
            raise
        except GraphcoreError as e:
            raise node.error(e.detail) from None
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError, MemoryError) as e:
            raise node.error(f"{type(e).__name__}: {e}") from None
        for name, value in zip(node.outputs, outputs):
            if name:
                values[name] = value


def _foldable(node, inputs):
    """All inputs static, none huge, and no body (a body reads enclosing values that are not its inputs)."""
    present = False
    for v in inputs:   # a loop, not all(...): it runs once per node, and most nodes stop at their first input
        if v is not None:
            if not isinstance(v, np.ndarray) or v.size > _FOLD_LIMIT:
                return False
            present = True
    return present and not any(a.type in _BODIES for a in node.proto.attribute)


def _fold(ctx, build, node, inputs):
    """Build the node in a scratch graph over constants and evaluate it now: its outputs stay static."""
    scratch = gc.Graph()
    with scratch.as_default():
        outputs = build(ctx, node, inputs)
        pending = [o for o in outputs if isinstance(o, Tensor)]
        values = iter(gc.Session(scratch).run(pending)) if pending else iter(())
        folded = [np.asarray(next(values)) if isinstance(o, Tensor) else o for o in outputs]
    ctx.forget(scratch)
    del scratch, outputs, pending, values
    collect_young()   # the scratch graph is a garbage cycle (nodes ↔ tensors) while the collector is paused
    return folded


def _scope(onnx_name):
    """The module of an exporter's hierarchical node name (``/block/conv/Conv`` → ``block/conv``); a flat name
    is its own scope."""
    if "/" not in onnx_name and ":" not in onnx_name:
        return onnx_name
    parts = [p for p in onnx_name.replace(":", "_").split("/") if p]
    return "/".join(parts[:-1] or parts)


def _node_scope(graph, onnx_name):
    """Name scope from the node's module (``_scope``), so every graphcore node (and every run-time error)
    names its ONNX node."""
    scope = _scope(onnx_name)
    return graph.name_scope(scope + "/") if scope else _NO_SCOPE


_NO_SCOPE = contextlib.nullcontext()
