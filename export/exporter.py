"""The graph walker: prune to the outputs, fold everything static, convert the rest node by node.

Inference export in three steps:

1. **Prune.** Walk back from the outputs to the inputs. Control dependencies are ignored (ONNX has none),
   so training updates, metrics and the optimizer step never reach the converters.
2. **Fold.** A tensor is *static* when it does not depend on an input: constants, variables (their current
   values in the session), placeholders that are not inputs (their default — this is how the
   ``learning_phase`` switch becomes False, so dropout vanishes and batch norm uses its moving statistics),
   and any stateless op of static tensors. Static tensors that the converted nodes read are evaluated with
   the interpreter itself and become initializers; nothing static is converted.
3. **Convert.** Every remaining node goes through its converter (``registry.CONVERTERS``), in creation order,
   which is topological. ONNX value names are graphcore's tensor names and node names its scoped node
   names, and each node's doc_string carries the creation site of the graphcore node it came from.
"""
import json
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

import graphcore
from graphcore.graph import ancestors
from graphcore.io import atomic_write, refuse_non_file, write_errors
from graphcore.ops.state import Constant, Placeholder, VariableOp
from graphcore.shapes import format_shape

from . import optimize
from . import precision as half
from .registry import CONVERTERS, ExportError, unsupported
from .source import resolve
from .static_shapes import fixed_shapes
from .training import METADATA_KEY, initial_state_info, training_step

# Opset 18 (IR 8): loads in every onnxruntime since 1.14 (2023) and in the pinned 1.31. Not 21: from opset 19
# on, AveragePool is version 19, which onnxruntime 1.31 runs on a generic path ~6× slower than version 11 (it
# is left out of the NCHWc layout optimisation), making LeNet-5 1.2-1.3× slower than PyTorch's opset-17 file;
# every op graphcore emits has the same form at 18 and 21. IR is always set explicitly: onnx 1.23 would
# otherwise write IR 14, which onnxruntime 1.31 refuses.
DEFAULT_OPSET = 18
# 13 is where Split, Squeeze, Unsqueeze and ReduceSum take their sizes and axes as inputs (what the
# converters emit); 25 is the newest opset the pinned onnxruntime (1.31) and onnx (1.23) both run.
SUPPORTED_OPSETS = range(13, 26)
# Protocol buffers cannot serialise a message over 2 GiB: larger models keep their weights in a side file.
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26
# Ops that read some inputs only for their shape (op type → those inputs' indices): with every size known
# they are as static as their other inputs (a loss's gradient seed, its broadcast over the batch).
SHAPE_INPUTS = {"Shape": (0,), "Size": (0,), "FillLike": (0,), "BroadcastLike": (1,), "ReshapeLike": (1,),
                "SumTo": (1,)}
# A static value larger than this, computed from smaller ones, is left to onnxruntime to expand at load.
FOLD_LIMIT = 4096


def to_onnx(model_or_graph, path=None, inputs=None, outputs=None, opset=None, dynamic_batch=True, session=None,
            external_data_threshold=EXTERNAL_DATA_THRESHOLD, training=False, train_op=None, batch_size=None,
            unroll=None, precision=None, io_dtype="float32"):
    """Export the inference graph of a model (or of a graph's ``outputs`` as functions of its ``inputs``),
    or with ``training=True`` (a compiled model) or ``train_op=step`` (a raw graph) its whole training step,
    state in and new state out, with the contract in ``metadata_props`` (see ``training.py``).

    ``dynamic_batch=True`` names unknown leading dimensions ``batch``, so one file serves any batch size;
    ``False`` fixes them to 1; ``None`` names every unknown dimension apart (``<input>_dim0``, …), for a graph
    whose inputs' unknown leading sizes are not one batch. ``batch`` is a promise onnxruntime holds the file
    to: it plans shared buffers for values whose shapes it equates, and fails ("Shape mismatch attempting to
    re-use buffer") when two inputs declared ``batch`` differ.

    ``batch_size=N`` writes a *static* file instead: the data inputs' unknown leading size is N and every
    shape in the graph is a constant, so no shape arithmetic is left to run (what onnxruntime's CUDA provider
    would place on the CPU, and what CUDA graph capture needs). Every other input size must be known.
    ``unroll`` (default: True for a static file) writes loops (recurrent layers' forward and backward passes)
    as one copy of the body per time step instead of an ONNX Scan, which CUDA graphs cannot capture; it
    needs the number of steps known. Inference files keep the native RNN/LSTM/GRU ops either way.

    Weights come from ``session`` (a Session or a dict of variable values), from a model's own session, or
    from a raw graph's initial values. When the initializers exceed
    ``external_data_threshold`` bytes the weights are saved beside ``path`` as ``<file>.data`` (the returned
    proto then refers to that file). The file is checked with ``onnx.checker`` (full check) before returning.

    ``precision="float16"`` or ``"bfloat16"`` writes an inference model in half precision (``precision.py``:
    weights and activations in half, normalisation statistics, softmax and reductions in float32); inputs and
    outputs stay float32 unless ``io_dtype`` is the precision itself. bfloat16 defaults to opset 22.
    """
    if precision is not None or io_dtype != "float32":
        half.check_arguments(precision, io_dtype)
        if training or train_op is not None:
            raise ExportError("half precision applies to inference models: a training step keeps float32 "
                              "(mixed-precision training needs float32 master weights and loss scaling)")
        if opset is None and precision == "bfloat16":
            opset = half.BFLOAT16_OPSET
    opset = DEFAULT_OPSET if opset is None else opset
    if opset not in SUPPORTED_OPSETS:
        raise ExportError(f"opset {opset} is not supported: choose one of {SUPPORTED_OPSETS.start}.."
                          f"{SUPPORTED_OPSETS.stop - 1} (default {DEFAULT_OPSET})")
    step = None
    if training or train_op is not None:
        step = training_step(model_or_graph, inputs, outputs, train_op, session)
        fixed = _fixed_inputs(step.source.inputs[:len(step.contract["inputs"])], batch_size)
        ctx = Context(step.source, opset, feeds=step.feeds, output_names=step.output_names, fixed_inputs=fixed,
                      unroll=batch_size is not None if unroll is None else unroll)
    else:
        source = resolve(model_or_graph, inputs, outputs, session)
        ctx = Context(source, opset, fixed_inputs=_fixed_inputs(source.inputs, batch_size),
                      unroll=batch_size is not None if unroll is None else unroll)
    ctx.convert()
    graph = ctx.make_graph(dynamic_batch)
    purpose = "inference" if step is None else "training (one step: state in, new state out)"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="graphcore", producer_version=graphcore.__version__,
                              doc_string=f"{ctx.source.name}: exported by graphcore {graphcore.__version__} "
                                         f"for {purpose} (ONNX opset {opset})")
    model.ir_version = helper.find_min_ir_version_for(model.opset_import)
    if step is not None:
        _add_initial_state(model, ctx, step, external_data_threshold)
    if precision is not None:
        model = half.to_half(model, precision, io_dtype)
    if path is None:
        onnx.checker.check_model(model, full_check=True)
        return model
    _save(model, os.fspath(path), ctx.initializer_bytes > external_data_threshold)
    return model


def _fixed_inputs(data_inputs, batch_size):
    """{input: shape with the batch filled in} for a static export (``batch_size`` set), else None."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ExportError(f"batch_size must be a positive integer (or None for a symbolic batch), got {batch_size!r}")
    fixed = {}
    for t in data_inputs:
        unknown = [axis for axis, d in enumerate(t.shape) if d is None and axis > 0]
        if unknown:
            raise ExportError(f"input '{t.name}' has unknown size {format_shape(t.shape)} on axis {unknown[0]}: a "
                              "static file (batch_size=) needs every other size known; build the model with a "
                              "fixed size there (e.g. gc.Input((50, 64)) for 50 time steps)", t.node)
        fixed[t] = tuple(int(batch_size) if d is None else d for d in t.shape)
    return fixed


def _add_initial_state(model, ctx, step, external_data_threshold):
    """Each state and parameter input's current value in the file's ``training_info`` (see ``training.py``:
    not as initializers of the inputs, which onnxruntime warns about once per state tensor), and the
    contract as metadata. A file whose weights go to an external-data file keeps them as initializers of the
    inputs instead: onnx's external-data format covers only the graph's initializers."""
    first = len(step.contract["inputs"])
    names = [name for name, _ in step.contract["state"]] + step.contract["parameters"]
    values = [np.asarray(v) for v in ctx.source.session.run(ctx.source.inputs[first:first + len(names)])]
    initial = [numpy_helper.from_array(value, name) for name, value in zip(names, values)]
    if ctx.initializer_bytes + sum(v.nbytes for v in values) > external_data_threshold:
        model.graph.initializer.extend(initial)
    else:
        model.training_info.append(initial_state_info(initial))
    ctx.initializers.update(zip(names, values))
    helper.set_model_props(model, {METADATA_KEY: json.dumps(step.contract)})


def save(model, path, external_data_threshold=EXTERNAL_DATA_THRESHOLD):
    """Write a ModelProto as ``to_onnx`` writes its files: checked first, atomically, weights beside it when
    they exceed ``external_data_threshold`` bytes."""
    weights = sum(len(t.raw_data) for t in model.graph.initializer)
    _save(model, os.fspath(path), weights > external_data_threshold)


def _save(model, path, external):
    """Write the file, checked first: a model that fails the checker, or a failed write, leaves whatever file
    the user had at ``path`` untouched (the single-file case is written atomically)."""
    if not external:
        onnx.checker.check_model(model, full_check=True)
        with atomic_write(path) as f:
            f.write(model.SerializeToString())
        return
    refuse_non_file(path)
    with write_errors(path):
        location = os.path.basename(path) + ".data"
        if os.path.exists(os.path.join(os.path.dirname(path), location)):
            os.remove(os.path.join(os.path.dirname(path), location))   # onnx appends to an existing file
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=location, size_threshold=1024)
    onnx.checker.check_model(path, full_check=True)   # by path: works for external data and > 2 GiB


class Context:
    """The state of one export; converters call its methods to read inputs and emit ONNX nodes.

    A loop body is exported by a nested Context (see ``convert_scan``): ``prefix`` keeps its value names
    apart from the outer graph's, ``bound`` maps body placeholders to outer values the body reads by name
    (ONNX subgraphs see the enclosing scope), ``feeds`` gives the static ones their values, and
    ``output_names`` names its results (a body may return one tensor twice). ``shapes`` are the sizes a
    static export knows (``fixed_inputs`` computes them at the top), ``unroll`` whether loops are unrolled.
    """

    def __init__(self, source, opset, prefix="", bound=None, feeds=None, output_names=None, fixed_inputs=None,
                 shapes=None, unroll=False):
        self.source, self.opset, self.prefix, self.unroll = source, opset, prefix, unroll
        self.feeds = dict(feeds or {})
        self.nodes, self.initializers = [], {}
        self.names = {t: prefix + t.name for t in source.inputs}   # graphcore tensor → ONNX value name
        self.names.update(bound or {})
        self.node = None                                            # the graphcore node being converted
        self._inputs = set(self.names)
        self.output_names = output_names or [t.name for t in source.outputs]
        # Output tensors emitted directly take their output name; the names are reserved for them.
        self._direct = dict(zip(reversed(source.outputs), reversed(self.output_names)))
        self._used_values = set(self.names.values()) | set(self.output_names)
        self._used_nodes = set()
        order = sorted(ancestors([t.node for t in source.outputs if t not in self._inputs], stop=self._inputs,
                                 controls=False), key=lambda n: n.id)
        # A static export knows every size (``static_shapes``); a nested body shares its loop's sizes.
        if fixed_inputs is not None:
            given = {t: np.shape(v) for t, v in self.feeds.items()}
            self.shapes = fixed_shapes(order, {**given, **fixed_inputs})
        else:
            self.shapes = shapes or {}
        self._values = dict(self.feeds)   # a fed tensor's value is its feed (a plan cannot fetch its feeds)
        self._order, self._static = order, _static_nodes(order, self._inputs, self.feeds, self.dims)
        self.converted_nodes = [n for n in self._order if n not in self._static]
        # A static node may read a value only for its shape (below): the interpreter gets a stand-in of that
        # shape, a zero-stride view that allocates nothing.
        self._stand_ins = {t: np.broadcast_to(np.zeros((), t.dtype), self.dims(t)) for node in self._static
                           for k, t in enumerate(node.inputs) if k in SHAPE_INPUTS.get(node.type, ())
                           and t.node not in self._static}

    def _run(self, tensors):
        """Static tensors' values from the interpreter."""
        return self.source.session.run(tensors, {**self.feeds, **self._stand_ins})

    # ----- walking ------------------------------------------------------------------------------------------
    def convert(self):
        self._prefetch()
        for node in self.converted_nodes:
            if any(t in self.names for t in node.outputs):   # cut off by an input tensor
                continue
            self.node = node
            convert = CONVERTERS.get(node.type)
            if convert is None:
                raise unsupported(node)
            convert(self, node)
        for t, name in zip(self.source.outputs, self.output_names):
            if self.input(t) != name:   # an input, an initializer, an alias or a repeat: copy it under its name
                self.node = t.node
                self.emit("Identity", [self.input(t)], out_name=name)
        self.node = None
        dims = {name: tuple(self.dims(t)) for t, name in self.names.items()}
        self.nodes = optimize.run(self.nodes, self.initializers, set(self.output_names), dims)

    def _prefetch(self):
        """Evaluate the static tensors that converted nodes read, all in one interpreter run."""
        wanted = [t for node in self.converted_nodes for t in node.inputs if self.is_static(t)]
        wanted += [t for t in self.source.outputs if self.is_static(t)]
        wanted = list(dict.fromkeys(t for t in wanted if t not in self._values))
        if wanted:
            self._values.update(zip(wanted, self._run(wanted)))

    # ----- reading inputs -----------------------------------------------------------------------------------
    def is_static(self, tensor):
        return tensor.node in self._static and tensor not in self._inputs

    def value(self, tensor):
        """The array of a static tensor, else None."""
        if not self.is_static(tensor):
            return None
        if tensor not in self._values:
            self._values[tensor] = self._run([tensor])[0]
        return np.asarray(self._values[tensor])

    def input(self, tensor):
        """The ONNX value name of a graphcore tensor (a static one becomes an initializer on first use)."""
        if tensor not in self.names:
            if not self.is_static(tensor):
                raise ExportError(f"internal: {tensor.name} is read before it is converted", tensor.node)
            name = tensor.name + "/value" if tensor in self._direct else tensor.name
            self.names[tensor] = self.const(self.value(tensor), name)
        return self.names[tensor]

    def alias(self, tensor, name):
        """Let ``tensor`` be the existing value ``name`` (Identity-like ops emit no node)."""
        self.names[tensor] = name

    def const(self, array, name=None):
        """A new initializer holding ``array``; returns its name."""
        name = self._unique(self._used_values, self.prefix + (name or f"{self.node.name}/const"))
        self.initializers[name] = np.asarray(array, order="C")   # (ascontiguousarray makes 0-d arrays 1-d)
        return name

    def dims(self, tensor):
        """``tensor``'s shape as this export knows it: with the batch fixed (``batch_size=``), every size."""
        return self.shapes.get(tensor, tensor.shape)

    def shape(self, tensor):
        """An int64 1-D value holding ``tensor``'s runtime shape: a constant when it is known statically."""
        if None not in self.dims(tensor):
            return self.const(np.array(self.dims(tensor), np.int64), f"{self.node.name}/shape")
        return self.emit("Shape", [self.input(tensor)])

    # ----- emitting -----------------------------------------------------------------------------------------
    def emit(self, op_type, inputs, out=None, outs=None, out_name=None, **attrs):
        """Add an ONNX node. ``out``/``outs``: the graphcore tensor(s) it computes (their names are kept);
        ``out_name``: an explicit output name; otherwise one fresh intermediate value named after the node.
        Returns the output name(s)."""
        base = self.prefix + (f"{self.node.name}/{op_type}" if self.node is not None else op_type)
        tensors = outs if outs is not None else [out] if out is not None else None
        if tensors is not None:   # None among outs: an output with no graphcore tensor (a fresh name)
            out_names = [self._direct[t] if t in self._direct else
                         self._unique(self._used_values, base if t is None else self.prefix + t.name) for t in tensors]
            self.names.update((t, n) for t, n in zip(tensors, out_names) if t is not None)
        else:
            out_names = [out_name or self._unique(self._used_values, base)]
        main = tensors or out_name
        node_name = self._unique(self._used_nodes, self.prefix + self.node.name if main and self.node else base)
        node = helper.make_node(op_type, list(inputs), out_names, name=node_name, **attrs)
        if self.node is not None:
            node.doc_string = f"graphcore {self.node.type} '{self.node.name}' created at {self.node.site}"
        self.nodes.append(node)
        return out_names if outs is not None else out_names[0]

    def chain(self, value, steps, out):
        """Apply ``(op_type, extra inputs[, attrs])`` steps to ``value`` in turn, the last computing ``out``;
        with no steps ``out`` is ``value``."""
        if not steps:
            self.alias(out, value)
        for i, (op_type, extra, *attrs) in enumerate(steps):
            last = i == len(steps) - 1
            value = self.emit(op_type, [value] + extra, out=out if last else None, **(attrs[0] if attrs else {}))

    @staticmethod
    def _unique(used, name):
        candidate, k = name, 0
        while candidate in used:
            k += 1
            candidate = f"{name}_{k}"
        used.add(candidate)
        return candidate

    # ----- the ONNX graph -----------------------------------------------------------------------------------
    @property
    def initializer_bytes(self):
        return sum(a.nbytes for a in self.initializers.values())

    def is_read(self, tensor):
        """Whether an exported output or a node being exported reads ``tensor``."""
        return tensor in self._direct or any(tensor in n.inputs for n in self.converted_nodes)

    def make_graph(self, dynamic_batch, name=None, leading_outputs=(), trailing_inputs=()):
        used = {name for node in self.nodes for name in optimize.reads(node)}
        initializers = [numpy_helper.from_array(a, name) for name, a in self.initializers.items() if name in used]
        inputs = [_value_info(self.names[t], t, self.dims(t), dynamic_batch) for t in self.source.inputs]
        outputs = list(leading_outputs) + [_value_info(n, t, self.dims(t), dynamic_batch)
                                           for t, n in zip(self.source.outputs, self.output_names)]
        return helper.make_graph(self.nodes, name or _graph_name(self.source.name), inputs + list(trailing_inputs),
                                 outputs, initializers,
                                 doc_string=f"graphcore graph '{self.source.name}'")


def _static_nodes(order, inputs, feeds, dims):
    """The static nodes among ``order`` (the nodes the outputs need, in creation order); checks that the
    inputs suffice. A fed tensor (a placeholder's fixed value, a folded shape) makes its node static. A node
    that would blow small static values up into a large one (a folded seed broadcast to a batch of images) is
    converted instead, so the file holds the small values and onnxruntime expands them when it loads it."""
    static = set()
    for node in order:
        if node.outputs and all(t in feeds for t in node.outputs):
            static.add(node)
        elif isinstance(node.op, Placeholder):
            if "default" not in node.attrs and node.outputs[0] not in feeds:
                raise ExportError(f"placeholder '{node.name}' feeds the outputs but is not among the inputs: "
                                  "list it in inputs=", node)
            static.add(node)
        elif isinstance(node.op, (Constant, VariableOp)) or (
                not node.op.stateful and not _expands(node, dims)
                and all(_known(k, t, node, static, inputs, dims) for k, t in enumerate(node.inputs))):
            static.add(node)
    return static


def _known(k, tensor, node, static, inputs, dims):
    """Whether input ``k`` of ``node`` is known at export time: a static value, or a value read only for its
    shape whose every size is known."""
    if k in SHAPE_INPUTS.get(node.type, ()) and None not in dims(tensor):
        return True
    return tensor.node in static and tensor not in inputs


def _expands(node, dims):
    """Whether ``node``'s outputs hold more than FOLD_LIMIT values and more than its inputs together."""
    def size(t):
        return np.prod(dims(t), dtype=np.float64) if None not in dims(t) else np.inf
    produced = sum(size(t) for t in node.outputs)
    read = sum(size(t) for k, t in enumerate(node.inputs) if k not in SHAPE_INPUTS.get(node.type, ()))
    return produced > FOLD_LIMIT and produced > read


def _value_info(name, tensor, dims, dynamic_batch):
    """The declared type of a graph input or output: unknown leading dims are the symbolic ``batch`` (or 1,
    ``dynamic_batch=False``); ``dynamic_batch=None`` (a loop body) gives every unknown dim its own name, since
    a body's values are sliced and stacked views whose leading sizes onnxruntime holds them to."""
    declared = []
    for axis, d in enumerate(dims):
        if d is not None:
            declared.append(d)
        elif axis == 0 and dynamic_batch is not None:
            declared.append("batch" if dynamic_batch else 1)
        else:
            declared.append(f"{name}_dim{axis}")
    elem = helper.np_dtype_to_tensor_dtype(tensor.dtype)
    return helper.make_tensor_value_info(name, elem, declared)


def _graph_name(name):
    return name.replace("/", "_") or "graphcore"
