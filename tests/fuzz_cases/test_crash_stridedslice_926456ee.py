"""Found by tools/fuzz.py (--seed 1, graph 1927); shrunk to 1 step(s).

crash: Fail: [ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Scan node. Name:'gradients/scan0/Scan_grad/Scan' Status Message: Non-zero status code returned while running Reshape node. Name:'gradients/scan0/Scan_grad/Scan/body/gradients/forward/step0_grad/SliceGrad' Status Message: /onnxruntime_src/onnxruntime/core/framework/op_kernel.cc:87 virtual OrtValue* onnxruntime::OpKernelContext::OutputMLValue(int, const onnxruntime::TensorShape&) [ONNXRuntimeError] : 1 : FAIL : Shape mismatch attempting to re-use buffer. {2,3,2} != {2,6,2}. Validate usage of dim_value (values should be > 0) and dim_param (all values with the same string should equate to the same size) in shapes in the model.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import fuzz  # noqa: E402

RECIPE = {'dtype': 'float64',
 'seed': 1001930,
 'steps': [{'dtype': 'float64',
            'in_scan': True,
            'inputs': [['feed', True]],
            'op': 'StridedSlice',
            'sample': 1}]}


def test_crash_stridedslice_926456ee():
    fuzz.check(RECIPE, second_order=False)
