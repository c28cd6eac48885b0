"""Found by tools/fuzz.py (--seed 32, graph 400); shrunk to 2 step(s).

crash: Fail: [ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Concat node. Name:'Concat' Status Message: /onnxruntime_src/onnxruntime/core/framework/op_kernel.cc:87 virtual OrtValue* onnxruntime::OpKernelContext::OutputMLValue(int, const onnxruntime::TensorShape&) [ONNXRuntimeError] : 1 : FAIL : Shape mismatch attempting to re-use buffer. {2,2,4} != {2,3,4}. Validate usage of dim_value (values should be > 0) and dim_param (all values with the same string should equate to the same size) in shapes in the model.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import fuzz  # noqa: E402

RECIPE = {'dtype': 'float64',
 'seed': 32000496,
 'steps': [{'dtype': 'float64',
            'in_scan': True,
            'inputs': [['feed', True]],
            'op': 'ArgMax',
            'sample': 0},
           {'dtype': 'float64',
            'in_scan': True,
            'inputs': [['feed', True], ['feed', False]],
            'op': 'SliceGrad',
            'sample': 0}]}


def test_crash_argmax_slicegrad_350cf48e():
    fuzz.check(RECIPE, second_order=True)
