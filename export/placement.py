"""Will onnxruntime's CUDA provider run every node of a file on the GPU? Read from the file alone.

A CUDA graph (``OnnxTrainer(cuda_graph=True)``) replays a whole step with one launch, but only when every
node runs on the CUDA provider and no node is a loop (DESIGN.md §6). Where a GPU is usable, onnxruntime
reports where it placed each node once a session exists (``runtime.placement``). ``file_report(model)``
answers before that, on any machine, a CPU-only one included: it reads the file as onnxruntime's basic
(provider-independent) optimisation leaves it — constants folded, common subexpressions merged — and lists
a node the CUDA provider has no kernel for at its element type, a loop (Scan, Loop, If: they run on CUDA
but CUDA graphs cannot capture them), and shape arithmetic: a node whose value feeds an input the CUDA
kernels read on the host (a Reshape's shape, a Slice's starts …), which onnxruntime places on the CPU with
copies around it unless that input is a constant. It returns ``[(node name, op type, reason)]``: empty
means every node runs on CUDA.
"""
import onnx
import onnxruntime as ort

# Element types of the main input ("T") the CUDA provider has kernels for, op by op, for the ops graphcore
# writes (onnxruntime's docs/OperatorKernels.md, CUDAExecutionProvider, opsets 13-25, read 2026-12-04). ANY:
# every tensor type; ops absent from the table run on the CPU.
FLOATS = frozenset({"float", "double", "float16"})
NUMBERS = FLOATS | {"int32", "int64", "uint32", "uint64"}
ANY = None
CUDA_KERNELS = {
    **dict.fromkeys(["Add", "Sub", "Mul", "Div", "Abs", "Neg", "Sign", "Max", "Min", "Equal", "Greater", "Less",
                     "GreaterOrEqual", "LessOrEqual", "Pow", "ReduceSum", "ReduceMax", "ReduceMin", "Range",
                     "Tile", "Where"], NUMBERS),
    **dict.fromkeys(["ReduceMean", "ReduceProd"], FLOATS | {"int32"}),
    **dict.fromkeys(["Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                     "BatchNormalization", "Gemm", "MatMul", "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Exp",
                     "Log", "Sqrt", "Reciprocal", "Softmax", "LogSoftmax", "Softplus", "Sum", "Floor", "Ceil",
                     "Sin", "Cos", "Erf", "ArgMax", "ArgMin", "Pad", "Clip", "Einsum", "LRN", "Round",
                     "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "RNN", "LSTM",
                     "GRU"], FLOATS),
    **dict.fromkeys(["Cast", "Concat", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Split", "Gather",
                     "GatherElements", "GatherND", "ScatterElements", "ScatterND", "Expand", "Flatten",
                     "Identity", "ConstantOfShape", "Shape", "Size", "OneHot", "Scan", "Loop", "If"], ANY),
    **dict.fromkeys(["And", "Or", "Not", "Xor"], frozenset({"bool"})),
}
# Inputs the CUDA kernels read in host memory (op type → input indices).
HOST_INPUTS = {"Reshape": (1,), "Slice": (1, 2, 3, 4), "Squeeze": (1,), "Unsqueeze": (1,), "Expand": (1,),
               "Tile": (1,), "Pad": (1, 2, 3), "ConstantOfShape": (0,), "Range": (0, 1, 2), "OneHot": (1,),
               "Split": (1,), "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
               "ReduceProd": (1,), "TopK": (1,), "Resize": (1, 2, 3)}
LOOPS = frozenset({"Scan", "Loop", "If"})
# CUDA graph capture needs one static sequence of kernels: no loops and no value computed on the host.
SHAPE_OPS = frozenset({"Shape", "Size"})


def optimized(model):
    """The model as onnxruntime's basic optimisation leaves it (what any provider starts from)."""
    import os
    import tempfile
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(model)
    with tempfile.TemporaryDirectory(prefix="graphcore-placement-") as folder:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(folder, "optimized.onnx")
        ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def file_report(model):
    """Nodes of ``model`` (a path or ModelProto) that would not run on the CUDA provider, or would stop a
    CUDA graph capture, with the reason; from the file alone (see the module docstring)."""
    proto = onnx.shape_inference.infer_shapes(optimized(model))
    graph = proto.graph
    constants = {t.name for t in graph.initializer} | {n.output[0] for n in graph.node if n.op_type == "Constant"}
    types = {v.name: v.type.tensor_type.elem_type for v in list(graph.value_info) + list(graph.input)
             + list(graph.output)}
    types.update((t.name, t.data_type) for t in graph.initializer)
    producers = {name: node for node in graph.node for name in node.output}
    report = []
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        reason = _kernel_reason(node, types)
        if reason is None and node.op_type in LOOPS:
            reason = f"{node.op_type} is a loop: it runs on CUDA but a CUDA graph cannot capture it"
        if reason is None and node.op_type in SHAPE_OPS:
            reason = "shape arithmetic (its value is read on the host)"
        if reason is None:
            computed = [node.input[i] for i in HOST_INPUTS.get(node.op_type, ()) if i < len(node.input)
                        and node.input[i] and node.input[i] not in constants and node.input[i] in producers]
            if computed:
                reason = f"input {computed[0]!r} is computed, and this kernel reads it on the host"
        if reason is not None:
            report.append((node.name, node.op_type, reason))
    return report


def _kernel_reason(node, types):
    if node.domain not in ("", "ai.onnx"):
        return f"domain {node.domain!r} has no CUDA kernels here"
    if node.op_type not in CUDA_KERNELS:
        return "no CUDA kernel for this op"
    allowed = CUDA_KERNELS[node.op_type]
    main = node.input[1] if node.op_type == "Where" else (node.input[0] if node.input else node.output[0])
    elem = types.get(main)
    if allowed is ANY or not elem:
        return None
    name = onnx.helper.tensor_dtype_to_np_dtype(elem).name if elem != onnx.TensorProto.FLOAT16 else "float16"
    name = {"float32": "float", "float64": "double"}.get(name, name)
    return None if name in allowed else f"no CUDA kernel for {node.op_type} on {name}"


def describe(report, limit=3):
    """A one-line summary of a report, for an error message or a fallback reason."""
    if not report:
        return "every node runs on CUDA"
    shown = "; ".join(f"{op} '{name}': {reason}" for name, op, reason in report[:limit])
    more = f" (and {len(report) - limit} more)" if len(report) > limit else ""
    return f"{len(report)} node(s) keep the step off a CUDA graph: {shown}{more}"
