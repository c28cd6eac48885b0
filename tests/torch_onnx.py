"""PyTorch models as ONNX files, for the import tests (torch is the oracle and the foreign exporter)."""
import io
import warnings

import onnx
import torch


def torch_to_onnx(module, example, dynamic=True, **kw):
    """A ModelProto from torch's TorchScript exporter (offline; the dynamo exporter needs onnxscript), with
    input ``x`` (dynamic batch unless ``dynamic=False``) and output ``y``."""
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), example, f, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}} if dynamic else None, **kw)
    return onnx.load_from_string(f.getvalue())
