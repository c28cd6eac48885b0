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
    "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Ceil", "CenterCropPad",
    "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "Cos", "Cosh", "CumProd", "CumSum", "DepthToSpace",
    "Div", "Elu", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "Gather", "GatherElements", "Gelu",
    "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "GRU", "Hardmax", "HardSigmoid",
    "HardSwish", "InstanceNormalization", "IsInf", "IsNaN", "LayerNormalization", "LeakyRelu", "Less",
    "LessOrEqual", "Log", "LogSoftmax", "LpNormalization", "LpPool", "LRN", "MatMul", "Max", "MaxPool", "Mean",
    "MeanVarianceNormalization", "Min", "Mish", "Mul", "Neg", "NegativeLogLikelihoodLoss", "Not", "Or", "Pad",
    "Pow", "PRelu", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape",
    "RMSNormalization", "RNN", "Round", "Scatter", "Selu", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh",
    "Size", "Slice", "Softmax", "SoftmaxCrossEntropyLoss", "Softplus", "Softsign", "SpaceToDepth", "Split",
    "Sqrt", "Squeeze", "Sub", "Sum", "Swish", "Tan", "Tanh", "ThresholdedRelu", "Tile", "TopK", "Transpose",
    "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
)
TIME_LIMIT_S = 20


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
