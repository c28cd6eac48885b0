"""onnx's node conformance cases run through ``from_onnx`` and the interpreter (the backend), one at a time.

Used by ``tools/onnx_conformance.py`` (all cases → ``docs/onnx_conformance.md``) and by the test suite (the
cases of the op types in ``CLAIMED``). A case passes when every data set's outputs match onnx's expected
outputs with the case's own tolerances, compared by onnx's runner (``Runner.assert_similar_outputs``).
"""
import re
import signal
import warnings

import numpy as np

from . import backend

# Op types graphcore claims: each passes at least 95 % of its node cases (the tool measures it, a test holds it).
CLAIMED = (
    "Abs", "Acos", "Acosh", "Add", "AffineGrid", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
    "Attention", "AveragePool", "BatchNormalization", "BitCast", "BitShift", "BitwiseAnd", "BitwiseNot",
    "BitwiseOr", "BitwiseXor", "BlackmanWindow", "Cast", "CastLike", "Ceil", "Celu", "CenterCropPad", "Clip",
    "Col2Im", "Compress", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvInteger", "Cos", "Cosh", "CumProd",
    "CumSum", "DepthToSpace", "DequantizeLinear", "Det", "Div", "DynamicQuantizeLinear", "Elu", "Erf", "Exp",
    "Expand", "EyeLike", "Flatten", "Floor", "GRU", "Gather", "GatherElements", "GatherND", "Gelu", "Gemm",
    "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample", "GroupNormalization",
    "HammingWindow", "HannWindow", "HardSigmoid", "HardSwish", "Hardmax", "InstanceNormalization", "IsInf", "IsNaN",
    "LRN", "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "LinearAttention", "Log", "LogSoftmax",
    "LpNormalization", "LpPool", "MatMul", "MatMulInteger", "Max", "MaxPool", "MaxUnpool", "Mean",
    "MeanVarianceNormalization", "MelWeightMatrix", "Min", "Mish", "Mod", "Mul", "Neg", "NegativeLogLikelihoodLoss",
    "NonMaxSuppression", "NonZero", "Not", "OneHot", "Or", "PRelu", "Pad", "Pow", "QLinearConv", "QLinearMatMul",
    "QuantizeLinear", "RMSNormalization", "RNN", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu",
    "Reshape", "Resize", "ReverseSequence", "RotaryEmbedding", "Round", "STFT", "Scatter", "ScatterElements",
    "ScatterND", "Selu", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax",
    "SoftmaxCrossEntropyLoss", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum",
    "SwiGLU", "Swish", "Tan", "Tanh", "TensorScatter", "TfIdfVectorizer", "ThresholdedRelu", "Tile", "TopK",
    "Transpose", "Trilu", "Unique", "Unsqueeze", "Upsample", "Where", "Xor",
)
TIME_LIMIT_S = 20

# Why a case fails, by the text of its failure (the first pattern that matches), for the doc's summary.
REASONS = (
    (r"operator domain 'ai\.onnx\.ml'", "the ai.onnx.ml domain (classical ML ops) is not imported"),
    (r"operator domain 'ai\.onnx\.preview\.training'", "the ai.onnx.preview.training domain is not imported "
                                                         "(graphcore builds training steps itself)"),
    (r"operator domain 'ai\.onnx\.preview'", "the ai.onnx.preview domain (FlexAttention) is refused by the loader"),
    (r"STRING", "string tensors: graphcore tensors hold numbers and booleans"),
    (r"sequence|optional|Sequence|Optional", "sequence and optional values: every graphcore value is one tensor"),
    (r"random|Random", "random ops: ONNX's generator is not graphcore's"),
    (r"ImageDecoder", "ImageDecoder: decoding image files is not graphcore's job"),
    (r"^wrong output", "wrong numbers (see the list)"),
)
# What the remaining wrong-number cases have in common (explanations, not exclusions: they count as failures).
WRONG_NUMBERS = {
    "test_training_dropout": "training-mode Dropout draws from graphcore's generator, not the reference's",
    "test_dft_inverse": "the reference's float32 FFT leaves 1.9e-7 where the exact value is 0 (atol 1e-7)",
    "test_causal_conv_with_state_silu_fp16": "float16 rounding of the convolution's sums",
}


def reason_group(name, reason):
    """The summary group of a failing case: a known cause, else the failure text itself."""
    for pattern, group in REASONS:
        if re.search(pattern, reason):
            if group.startswith("wrong numbers"):
                return next((why for prefix, why in WRONG_NUMBERS.items() if name.startswith(prefix)),
                            "wrong numbers: " + reason)
            return group
    return re.sub(r" \(node '[^']*'\)", "", reason).replace("OnnxImportError: ", "")


def import_path(op):
    """How graphcore imports an op type: the module of its import rule, onnx's function body, or refused."""
    from onnx import defs

    from .import_registry import IMPORTERS, REFUSED
    if op.endswith("(expanded)") or op == "(composite)":
        return "several nodes (a function body expanded by onnx, or a composite case)"
    if op in IMPORTERS:
        return f"rule: {IMPORTERS[op].__module__.rsplit('.', 1)[-1]}.py"
    try:
        schema = defs.get_schema(op, defs.onnx_opset_version())
        if schema.has_function or schema.has_context_dependent_function:
            return "its schema's function body, inlined"
    except defs.SchemaError:
        pass
    return "refused with a reason" if op in REFUSED else "no rule"


def load_cases():
    """onnx's node cases (built in memory by onnx itself)."""
    from onnx.backend.test.loader import load_model_tests
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return load_model_tests(kind="node")


def op_types(cases):
    """Case name → the op it tests: its node's type; a case expanded into the op's function body counts as
    ``Op (expanded)`` (named after its single-node twin), other multi-node cases as ``(composite)``."""
    single = {c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1}
    types = {}
    for c in cases:
        base = re.sub(r"_expanded.*$", "", c.name)
        types[c.name] = single.get(c.name) or (single.get(base, "(composite)") + " (expanded)"
                                               if "_expanded" in c.name else "(composite)")
    return types


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def run_case(case):
    """(passed, reason): reason is '' on success, else the first line of what went wrong."""
    from onnx.backend.test.runner import Runner
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT_S)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            rep = backend.prepare(case.model)
            for inputs, expected in case.data_sets:
                outputs = rep.run([np.asarray(_array(a)) for a in inputs])
                Runner.assert_similar_outputs([_array(e) for e in expected], outputs, rtol=case.rtol,
                                              atol=case.atol, model_dir=None)
        return True, ""
    except _Timeout:
        return False, f"over the {TIME_LIMIT_S} s time limit"
    except AssertionError as e:
        return False, "wrong output: " + _first_line(str(e) or "mismatch")
    except Exception as e:  # noqa: BLE001  (the reason is the report)
        return False, _first_line(f"{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _array(value):
    from onnx import TensorProto, numpy_helper
    return numpy_helper.to_array(value) if isinstance(value, TensorProto) else value


def _first_line(text):
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line[:200]
