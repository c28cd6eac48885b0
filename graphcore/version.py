"""graphcore's version, in the ground layer: saved model files and exported ONNX files record it, and the
modules that write them sit below the package's ``__init__``."""
__version__ = "0.1.0"
