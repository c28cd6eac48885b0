"""The ONNX → graphcore direction's rules: importing this module imports every ``import_*`` module, whose
``@import_registry.importer`` decorators fill ``import_registry.IMPORTERS`` (ONNX op type → builder). The mirror
of ``converters``; ``graphcore.export`` imports both.
"""
from . import (import_array, import_control, import_features, import_index, import_losses,  # noqa: F401
               import_math, import_nn, import_quantize, import_recurrent, import_resize, import_sample,
               import_spectral)
