"""ONNX export and the onnxruntime wrapper (``graphcore.export``).

    from graphcore import export
    proto = export.to_onnx(model, "lenet5.onnx")            # inference graph, symbolic batch dimension
    sess = export.InferenceSession("lenet5.onnx")           # CUDA when a GPU is usable, else CPU
    y = sess.run(x)
    export.check("lenet5.onnx", model)                      # max abs/rel difference against the interpreter

Modules: ``registry`` (op type → converter, or the reason an op cannot be exported), ``convert_*`` (the
converters by family), ``exporter`` (pruning, constant folding, naming), ``optimize`` (bias and reshape
fusion), ``runtime`` (the session wrapper: IOBinding, DLPack, fixed buffers, CUDA graphs), ``precision``
(float16/bfloat16 files), ``triton`` (Triton model repositories), ``bench`` (latency per batch size),
``check`` (parity), ``source`` (models and graphs alike).

The other direction: ``from_onnx`` (the walker and ``ImportedModel``), ``import_registry`` (ONNX op type →
builder, or why it is refused), ``import_*`` (the builders by family), ``onnx_safety`` (hostile-file checks),
``backend`` (``onnx.backend.base.Backend``) and ``conformance`` (onnx's node cases through the backend).
"""
from graphcore.sites import register_internal_dir

register_internal_dir(__file__)

from . import convert_array, convert_grad, convert_linalg, convert_math, convert_nn, convert_scan, convert_state  # noqa: E402,F401,E501
from . import convert_cond  # noqa: E402,F401  (Cond → If)
from . import convert_norm  # noqa: E402,F401  (batch normalisation, forward and backward)
from .check import CheckResult, check  # noqa: E402
from .exporter import DEFAULT_OPSET, EXTERNAL_DATA_THRESHOLD, SUPPORTED_OPSETS, save, to_onnx  # noqa: E402
from .registry import CONVERTERS, LEAVES, REASONS, ExportError  # noqa: E402
from .runtime import InferenceSession, gpu_available  # noqa: E402
from . import bench, precision, triton  # noqa: E402,F401  (serving: benchmarks, half precision, Triton)
from .trainer import OnnxTrainer  # noqa: E402
from .training import METADATA_KEY, initial_values, read_contract  # noqa: E402

__all__ = ["to_onnx", "InferenceSession", "check", "CheckResult", "ExportError", "CONVERTERS", "REASONS",
           "LEAVES", "DEFAULT_OPSET", "SUPPORTED_OPSETS", "EXTERNAL_DATA_THRESHOLD", "gpu_available", "OnnxTrainer",
           "METADATA_KEY", "initial_values", "read_contract", "save", "bench", "precision", "triton"]

from . import convert_cell  # noqa: E402,F401  (the fused LSTM cell ops' converters)

# ONNX → graphcore (the import direction) and the converters of the ops it added.
from . import convert_imported  # noqa: E402,F401
from .from_onnx import ImportedModel, TiedInitializerWarning, from_onnx  # noqa: E402
from .import_registry import IMPORTERS, REFUSED, OnnxImportError  # noqa: E402
from . import backend  # noqa: E402  (onnx.backend.base.Backend over the importer and the interpreter)

__all__ += ["from_onnx", "ImportedModel", "TiedInitializerWarning", "OnnxImportError", "IMPORTERS", "REFUSED",
            "backend"]
