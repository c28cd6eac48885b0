"""Half precision for an exported inference model: float16 or bfloat16 where it is safe, float32 where not.

``to_half(model, "float16")`` rewrites a float32 ONNX model the way ``torch.autocast`` runs one, with the
decisions written into the file as Cast nodes:

* **Always half** (``HALF_OPS``): the ops that do the arithmetic — convolutions, matrix products, recurrent
  layers — whose weights become half initializers and whose inputs are cast to half once. These run on
  tensor cores and hold nearly all of a network's weights and time.
* **Always float32** (``FLOAT32_OPS``): normalisation statistics, softmax and log-softmax, reductions, and the
  exponentials and powers whose results leave half's range (float16 overflows at 65504: exp(11.1)). A square
  (``Mul(x, x)``, where every sum of squares starts) is float32 too, so a composed normalisation such as
  AlexNet's LRN keeps its window statistic in float32.
* **Everything else follows its inputs**: half when any of its float inputs is a half activation (ReLU after a
  convolution, a residual Sum), float32 otherwise (a Transpose of the float32 graph input; the Softmax
  output on its way to a float32 graph output).

Before that, every BatchNormalization that directly follows a Conv is folded into the Conv's weights and bias
in float64 (the statistics are applied at full precision once, then the folded weights are rounded to half);
onnxruntime folds it the same way at load time for a float32 model. Other BatchNormalizations run in
float32 between casts. Graph inputs and outputs stay float32 unless ``io_dtype`` asks for half.

bfloat16 needs opset 22 (the first where Conv, the pools and the recurrent ops accept it) and, so that the
file runs on onnxruntime's CUDA provider, only the ops that provider has bfloat16 kernels for run in bfloat16
(``BFLOAT16_CUDA_OPS``); the others run in float32 between casts rather than fall back to a CPU that has no
bfloat16 kernels at all. A model with loop bodies (Scan, Loop, If) is refused: a body reads outer values by
name, whose types this pass would change under it.
"""
import numpy as np
import onnx
import onnx.version_converter
from onnx import TensorProto, defs, helper, numpy_helper

from .registry import ExportError

PRECISIONS = {"float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16}
IO_DTYPES = ("float32",) + tuple(PRECISIONS)
METADATA_KEY = "graphcore.precision"
BFLOAT16_OPSET = 22   # Conv, ConvTranspose, the pools and LSTM/GRU/RNN accept bfloat16 from opset 22

HALF_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "LSTM", "GRU", "RNN"})
FLOAT32_OPS = frozenset({
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization", "LpNormalization",
    "LRN", "MeanVarianceNormalization", "Softmax", "LogSoftmax",
    "ReduceSum", "ReduceMean", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "CumSum", "Exp", "Log", "Pow", "Reciprocal"})
# Ops onnxruntime's CUDA provider (1.31) has bfloat16 kernels for: the kernel classes instantiated for
# BFloat16 in its libonnxruntime_providers_cuda.so (read with `strings`), plus the data-movement ops, which it
# registers for every 16-bit type. Not yet confirmed on a GPU (tools/bench_gpu_inference.py reports any node
# that is not on CUDA); GlobalAveragePool is left out because its bfloat16 registration could not be told
# apart from AveragePool's.
BFLOAT16_CUDA_OPS = frozenset({
    "Abs", "Add", "AveragePool", "Cast", "Concat", "Conv", "Cos", "Div", "Dropout", "Erf", "Exp", "Expand",
    "Flatten", "Gather", "GatherElements", "GatherND", "Gemm", "HardSigmoid", "HardSwish", "Identity",
    "LayerNormalization", "MatMul", "Max", "Min", "Mul", "Neg", "ReduceMean", "ReduceSum", "Relu", "Reshape",
    "Sigmoid", "Sign", "Sin", "Slice", "Softmax", "Softplus", "Softsign", "Split", "Sqrt", "Squeeze", "Sub",
    "Sum", "Tanh", "Transpose", "Unsqueeze", "Where"})
_TYPE_NAMES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16", TensorProto.BFLOAT16: "bfloat16"}


def file_precision(model):
    """The precision a graphcore file was converted to ("float16", "bfloat16"), or None (float32)."""
    return {p.key: p.value for p in model.metadata_props}.get(METADATA_KEY)


def check_arguments(precision, io_dtype):
    """Raise ``ExportError`` for an unknown precision or an io_dtype that is neither float32 nor it."""
    if precision not in PRECISIONS:
        raise ExportError(f"precision must be one of {sorted(PRECISIONS)} (or None for float32), got {precision!r}"
                          + (f" (io_dtype={io_dtype!r} needs a precision)" if precision is None else ""))
    if io_dtype not in ("float32", precision):
        raise ExportError(f"io_dtype must be 'float32' (the default) or the precision itself ({precision!r}), "
                          f"got {io_dtype!r}")


def at_precision(model, precision, io_dtype="float32"):
    """``model`` in ``precision``: itself when it is already, else converted by ``to_half`` (for bfloat16 a
    file older than opset 22 is first moved to 22 with onnx's version converter)."""
    if file_precision(model) == precision:
        return model
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if precision == "bfloat16" and opset < BFLOAT16_OPSET:
        model = onnx.version_converter.convert_version(model, BFLOAT16_OPSET)
        model.ir_version = max(model.ir_version, helper.find_min_ir_version_for(model.opset_import))
    return to_half(model, precision, io_dtype)


def to_half(model, precision, io_dtype="float32"):
    """A new ModelProto computing ``model`` (float32) in ``precision``; checked with ``onnx.checker``."""
    io_dtype = io_dtype or "float32"
    check_arguments(precision, io_dtype)
    done = file_precision(model)
    if done is not None:
        raise ExportError(f"this model is already converted to {done}: convert the float32 file instead")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if precision == "bfloat16" and (opset or 0) < BFLOAT16_OPSET:
        raise ExportError(f"bfloat16 needs opset {BFLOAT16_OPSET} or newer (where Conv, the pools and the recurrent "
                          f"ops accept it); this model has opset {opset}: export with opset={BFLOAT16_OPSET}")
    for node in model.graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise ExportError(f"half precision does not convert loop bodies: node '{node.name}' ({node.op_type}) "
                              "has one; export this model in float32")
    graph = _Rewrite(model, opset, PRECISIONS[precision], PRECISIONS[io_dtype] if io_dtype != "float32"
                     else TensorProto.FLOAT).run()
    half = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name=model.producer_name,
                             producer_version=model.producer_version,
                             doc_string=f"{model.doc_string} [{precision} weights and activations; "
                                        f"inputs and outputs {io_dtype}]".strip())
    half.ir_version = model.ir_version
    for prop in model.metadata_props:
        half.metadata_props.add(key=prop.key, value=prop.value)
    half.metadata_props.add(key=METADATA_KEY, value=precision)
    onnx.checker.check_model(half, full_check=True)
    return half


class _Rewrite:
    """One conversion: walks the (topologically ordered) nodes once, deciding each node's type and inserting
    the casts its inputs need; casts and converted initializers are made once and shared."""

    def __init__(self, model, opset, half, io_type):
        self.model, self.opset, self.half, self.io_type = model, opset, half, io_type
        graph = model.graph
        self.initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        copies = [onnx.NodeProto() for _ in graph.node]   # the caller's model stays as it was
        for copy, node in zip(copies, graph.node):
            copy.CopyFrom(node)
        self.nodes_in = _fold_batch_norms(copies, self.initializers, {o.name for o in graph.output})
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
        self.original = {v.name: v.type.tensor_type.elem_type
                         for v in list(inferred.input) + list(inferred.value_info) + list(inferred.output)}
        self.original.update((name, helper.np_dtype_to_tensor_dtype(a.dtype)) for name, a in self.initializers.items())
        self.type = dict(self.original)           # the value's type in the new graph
        self.outputs = {o.name for o in graph.output}
        self.nodes, self.casts, self.new_initializers = [], {}, {}

    def run(self):
        graph = self.model.graph
        inputs = [self._io_value(v) for v in graph.input if v.name not in self.initializers]
        for node in self.nodes_in:
            self._convert(node)
        outputs = [self._io_value(v, output=True) for v in graph.output]
        self._rename_half_initializers()
        used = {name for node in self.nodes for name in node.input}
        initializers = [numpy_helper.from_array(a, name) for name, a in self.initializers.items() if name in used]
        initializers += [_half_tensor(a, name, self.half) for name, a in self.new_initializers.items() if name in used]
        return helper.make_graph(self.nodes, graph.name, inputs, outputs, initializers, doc_string=graph.doc_string)

    # ----- deciding -----------------------------------------------------------------------------------------
    def _mode(self, node, schema, activations):
        """The type a node computes in: ``self.half`` or FLOAT."""
        if node.op_type in FLOAT32_OPS or (node.op_type == "Mul" and len(set(node.input)) == 1):
            return TensorProto.FLOAT
        if self.half == TensorProto.BFLOAT16 and node.op_type not in BFLOAT16_CUDA_OPS:
            return TensorProto.FLOAT
        if schema is None or not _accepts(schema, node, self.half, self.original):
            return TensorProto.FLOAT
        if node.op_type in HALF_OPS or any(self.type[name] == self.half for name in activations):
            return self.half
        return TensorProto.FLOAT

    def _convert(self, node):
        floats = [n for n in list(node.input) + list(node.output) if n and self.original.get(n) == TensorProto.FLOAT]
        if not floats:
            self.nodes.append(node)
            return
        schema = _schema(node, self.opset)
        activations = [n for n in node.input if n and n not in self.initializers
                       and self.original.get(n) == TensorProto.FLOAT]
        mode = self._mode(node, schema, activations)
        converted = set()
        for k, name in enumerate(node.input):
            if not name or self.original.get(name) != TensorProto.FLOAT:
                continue
            param = _formal(schema.inputs, k).type_str if schema is not None else None
            free = param is not None and param in {c.type_param_str for c in schema.type_constraints}
            want = mode if free else TensorProto.FLOAT
            if want != TensorProto.FLOAT:
                converted.add(param)
            node.input[k] = self._as(name, want)
        for k, name in enumerate(node.output):
            if name and self.original.get(name) == TensorProto.FLOAT:
                param = _formal(schema.outputs, k).type_str if schema is not None else None
                self.type[name] = mode if param in converted else TensorProto.FLOAT
        self.nodes.append(node)

    # ----- values of the wanted type ------------------------------------------------------------------------
    def _as(self, name, want):
        """The name of ``name``'s value in type ``want``: itself, a converted initializer, or a cast of it."""
        if self.type[name] == want:
            return name
        if name in self.initializers:      # an original float32 initializer wanted in half
            half_name = f"{name}/{_TYPE_NAMES[want]}"
            if half_name not in self.new_initializers:
                self.new_initializers[half_name] = _checked_range(self.initializers[name], name, want)
            self.type[half_name] = want
            return half_name
        key = (name, want)
        if key not in self.casts:
            target = f"{name}/{_TYPE_NAMES[want]}"
            self.nodes.append(helper.make_node("Cast", [name], [target], name=f"{target}/Cast", to=want))
            self.type[target] = want
            self.casts[key] = target
        return self.casts[key]

    def _io_value(self, value, output=False):
        """The graph input or output declaration in the new graph: float32 ones become ``io_type``; an output
        computed in another type gets a final Cast, its producer writing ``<name>/<type>`` instead."""
        if self.original.get(value.name) != TensorProto.FLOAT:
            return value
        if not output:
            self.type[value.name] = self.io_type
        elif self.type[value.name] != self.io_type:
            computed = f"{value.name}/{_TYPE_NAMES[self.type[value.name]]}"
            for node in self.nodes:
                node.input[:] = [computed if n == value.name else n for n in node.input]
                node.output[:] = [computed if n == value.name else n for n in node.output]
            self.nodes.append(helper.make_node("Cast", [computed], [value.name], name=f"{value.name}/Cast",
                                               to=self.io_type))
        shape = [d.dim_param if d.HasField("dim_param") else d.dim_value if d.HasField("dim_value") else None
                 for d in value.type.tensor_type.shape.dim]
        return helper.make_tensor_value_info(value.name, self.io_type, shape)

    def _rename_half_initializers(self):
        """A weight that only half nodes read keeps its own name (``c1/kernel``, not ``c1/kernel/float16``)."""
        reads = {name for node in self.nodes for name in node.input}
        renames = {}
        for half_name in list(self.new_initializers):
            original = half_name.rsplit("/", 1)[0]
            if original not in reads:
                self.new_initializers[original] = self.new_initializers.pop(half_name)
                self.initializers.pop(original, None)
                renames[half_name] = original
        for node in self.nodes:
            node.input[:] = [renames.get(n, n) for n in node.input]


def _schema(node, opset):
    try:
        return defs.get_schema(node.op_type, opset, node.domain)
    except defs.SchemaError:
        return None


def _formal(params, k):
    """The formal parameter of actual input/output k (the last one repeats for variadic parameters)."""
    return params[min(k, len(params) - 1)]


def _accepts(schema, node, half, original):
    """Whether the schema lets the node's float32 inputs be of type ``half``."""
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    wanted = f"tensor({'float16' if half == TensorProto.FLOAT16 else 'bfloat16'})"
    for k, name in enumerate(node.input):
        if name and original.get(name) == TensorProto.FLOAT:
            param = _formal(schema.inputs, k).type_str
            if param in allowed and wanted not in allowed[param]:
                return False
    return True


def _checked_range(array, name, half):
    """``array`` for conversion to ``half``, refused when a finite value is beyond float16's range (bfloat16
    has float32's range): rounding it to infinity would change the model's answers silently."""
    if half == TensorProto.FLOAT16:
        limit = float(np.finfo(np.float16).max)
        finite = np.abs(array[np.isfinite(array)])
        if finite.size and finite.max() > limit:
            raise ExportError(f"initializer '{name}' holds {float(finite.max()):.6g}, beyond float16's range "
                              f"(±{limit:g}): export with precision='bfloat16' (float32's range) or in float32")
    return array


def _half_tensor(array, name, half):
    if half == TensorProto.FLOAT16:
        return numpy_helper.from_array(array.astype(np.float16), name)
    import ml_dtypes   # onnx's own dependency: NumPy's bfloat16
    return numpy_helper.from_array(array.astype(ml_dtypes.bfloat16), name)


def _fold_batch_norms(nodes, initializers, outputs):
    """Conv → BatchNormalization (inference form, the Conv's output read by nothing else) → one Conv whose
    weights and bias absorb the statistics: W·s and (b − mean)·s + beta with s = scale / √(var + ε), in
    float64. New initializers are named after the BatchNormalization node, so shared weights stay intact."""
    consumers = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    producers = {out: node for node in nodes for out in node.output}
    dropped = set()
    for bn in nodes:
        conv = producers.get(bn.input[0]) if bn.op_type == "BatchNormalization" else None
        if conv is None or conv.op_type != "Conv" or len(bn.output) != 1 or conv.output[0] in outputs:
            continue
        if len(consumers[conv.output[0]]) != 1 or not all(n in initializers for n in list(conv.input[1:]) + list(
                bn.input[1:])) or any(a.name == "training_mode" and a.i for a in bn.attribute):
            continue
        epsilon = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        scale, beta, mean, var = (initializers[n].astype(np.float64) for n in bn.input[1:5])
        weights = initializers[conv.input[1]]
        bias = initializers[conv.input[2]].astype(np.float64) if len(conv.input) > 2 else np.zeros(len(scale))
        s = scale / np.sqrt(var + epsilon)
        name = bn.name or bn.output[0]
        initializers[f"{name}/folded_kernel"] = (weights * s.reshape((-1,) + (1,) * (weights.ndim - 1))).astype(
            weights.dtype)
        initializers[f"{name}/folded_bias"] = ((bias - mean) * s + beta).astype(weights.dtype)
        conv.input[:] = [conv.input[0], f"{name}/folded_kernel", f"{name}/folded_bias"]
        conv.output[0] = bn.output[0]
        dropped.add(id(bn))
    return [n for n in nodes if id(n) not in dropped]
