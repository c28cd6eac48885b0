"""A thin onnxruntime wrapper that picks the CUDA provider when a GPU is usable, else the CPU, quietly.

The onnxruntime-gpu wheel lists CUDAExecutionProvider on every machine, GPU or not, and asking for it where
there is no GPU prints a long error before falling back. So the wrapper asks for CUDA only when the NVIDIA
driver library loads and reports a device, preloads the pip-installed CUDA/cuDNN libraries, and then reports
the provider the session really got (``provider``): a CUDA request can still end on the CPU when the CUDA
libraries are missing.
"""
import ctypes
import functools
import os

import numpy as np
import onnxruntime as ort

# onnxruntime's log levels: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. Warnings (e.g. "some nodes were
# not assigned to the preferred execution providers") are advice for tuners, not for users of a model file.
_QUIET = 3


@functools.lru_cache(maxsize=1)
def gpu_available():
    """Whether the CUDA driver is installed and sees at least one device (without touching onnxruntime)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


def create_session(model, device="auto"):
    """An onnxruntime session for a path or ModelProto: CUDA first when ``device`` allows it and a GPU is
    usable, else the CPU, with onnxruntime's advice-level logging off."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    ort.set_default_logger_severity(_QUIET)
    options = ort.SessionOptions()
    options.log_severity_level = _QUIET
    providers = ["CPUExecutionProvider"]
    if device == "cuda" or (device == "auto" and gpu_available()):
        if hasattr(ort, "preload_dlls"):   # onnxruntime ≥ 1.21: find pip-installed CUDA and cuDNN
            ort.preload_dlls()
        providers.insert(0, "CUDAExecutionProvider")
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else os.fspath(model)
    return ort.InferenceSession(source, options, providers=providers)


def numpy_type(ort_type):
    """The NumPy dtype of an onnxruntime type string such as 'tensor(float)'."""
    return _NUMPY_TYPES.get(ort_type)


class InferenceSession:
    """``InferenceSession(path_or_proto, device="auto")``; ``run(x)`` or ``run({"name": x, ...})``.

    ``device``: "auto" (CUDA when usable), "cpu" or "cuda". ``provider`` names the execution provider that
    actually runs the model. Inputs are cast to the dtypes the file declares (float64 NumPy arrays work).
    """

    def __init__(self, model, device="auto"):
        self.session = create_session(model, device)
        self.provider = self.session.get_providers()[0]
        self.inputs = self.session.get_inputs()
        self.input_names = [i.name for i in self.inputs]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x=None, **named):
        """One array (for a single-input model), a dict name → array, or keyword arguments. Returns the
        output array for a single-output model, else the list of outputs."""
        feeds = dict(x) if isinstance(x, dict) else ({self.input_names[0]: x} if x is not None else {})
        feeds.update(named)
        unknown = set(feeds) - set(self.input_names)
        if unknown or len(feeds) != len(self.input_names):
            raise ValueError(f"feed exactly the inputs {self.input_names}, got {sorted(feeds)}")
        types = {i.name: numpy_type(i.type) for i in self.inputs}
        feeds = {k: np.asarray(v, dtype=types[k]) for k, v in feeds.items()}
        outputs = self.session.run(self.output_names, feeds)
        return outputs[0] if len(outputs) == 1 else outputs

    def __repr__(self):
        return f"<InferenceSession {self.input_names} → {self.output_names} on {self.provider}>"


_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
                "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}
