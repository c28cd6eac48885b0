"""ONNX export and the onnxruntime wrapper (``graphcore.export``).

    from graphcore import export
    proto = export.to_onnx(model, "lenet5.onnx")            # inference graph, symbolic batch dimension
    sess = export.InferenceSession("lenet5.onnx")           # CUDA when a GPU is usable, else CPU
    y = sess.run(x)
    export.check("lenet5.onnx", model)                      # max abs/rel difference against the interpreter

Modules: ``registry`` (op type → converter, or the reason an op cannot be exported), ``convert_*`` (the
converters by family, each registering with ``@registry.converter`` when ``converters`` imports it),
``exporter`` (pruning, constant folding, naming), ``optimize`` (bias and reshape fusion), ``runtime`` (the
session wrapper: IOBinding, DLPack, fixed buffers, CUDA graphs), ``precision`` (float16/bfloat16 files),
``triton`` (Triton model repositories), ``bench`` (latency per batch size), ``check`` (parity), ``source``
(models and graphs alike).

The other direction, registered the same way: ``from_onnx`` (the walker and ``ImportedModel``),
``import_registry`` (ONNX op type → builder, or why it is refused), ``import_*`` (the builders by family, each
registering with ``@import_registry.importer`` when ``importers`` imports it), ``onnx_safety`` (hostile-file
checks), ``backend`` (``onnx.backend.base.Backend``) and ``conformance`` (onnx's node cases through the
backend). ``onnx_names`` holds the names that map one-to-one both ways (elementwise ops, recurrent cells and
their activations); both directions read it.
"""
from graphcore.sites import register_internal_dir

from . import converters, importers  # noqa: F401  (fill CONVERTERS and IMPORTERS: each rule registers on import)
from . import backend  # noqa: F401  (onnx.backend.base.Backend over the importer and the interpreter)
from . import bench, precision, triton  # noqa: F401  (serving: benchmarks, half precision, Triton)
from .check import CheckResult, check
from .exporter import DEFAULT_OPSET, EXTERNAL_DATA_THRESHOLD, SUPPORTED_OPSETS, save, to_onnx
from .from_onnx import ImportedModel, TiedInitializerWarning, from_onnx
from .import_registry import IMPORTERS, REFUSED, OnnxImportError
from .registry import CONVERTERS, LEAVES, REASONS, ExportError
from .runtime import InferenceSession, gpu_available
from .trainer import OnnxTrainer
from .training import METADATA_KEY, initial_values, read_contract

register_internal_dir(__file__)   # errors name the user's line, not one in this package

__all__ = ["to_onnx", "InferenceSession", "check", "CheckResult", "ExportError", "CONVERTERS", "REASONS",
           "LEAVES", "DEFAULT_OPSET", "SUPPORTED_OPSETS", "EXTERNAL_DATA_THRESHOLD", "gpu_available", "OnnxTrainer",
           "METADATA_KEY", "initial_values", "read_contract", "save", "bench", "precision", "triton",
           "from_onnx", "ImportedModel", "TiedInitializerWarning", "OnnxImportError", "IMPORTERS", "REFUSED",
           "backend"]
