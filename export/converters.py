"""The graphcore → ONNX direction's rules: importing this module imports every ``convert_*`` module, whose
``@registry.converter`` decorators fill ``registry.CONVERTERS`` (op type → converter). ``importers`` is its
mirror for the ONNX → graphcore direction; ``graphcore.export`` imports both, so a converter exists once the
package is imported, whichever of its modules a caller names.
"""
from . import (convert_array, convert_cell, convert_cond, convert_grad, convert_imported, convert_linalg,  # noqa: F401
               convert_math, convert_nn, convert_norm, convert_scan, convert_state)
