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

from graphcore.errors import FeedError, FileFormatError, MissingFileError

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


def create_session(model, device="auto", cuda_options=None):
    """An onnxruntime session for a path or ModelProto: CUDA first when ``device`` allows it and a GPU is
    usable (with ``cuda_options``, the CUDA provider's options), else the CPU, with onnxruntime's
    advice-level logging off."""
    ort.set_default_logger_severity(_QUIET)
    options = ort.SessionOptions()
    options.log_severity_level = _QUIET
    providers = ["CPUExecutionProvider"]
    if wants_cuda(device):
        if hasattr(ort, "preload_dlls"):   # onnxruntime ≥ 1.21: find pip-installed CUDA and cuDNN
            ort.preload_dlls()
        providers.insert(0, ("CUDAExecutionProvider", {k: str(v) for k, v in (cuda_options or {}).items()}))
    return _open(model, options, providers)


def wants_cuda(device):
    """Whether a session for ``device`` ("auto", "cpu" or "cuda") asks for the CUDA provider."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    return device == "cuda" or (device == "auto" and gpu_available())


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
            raise FeedError(f"feed exactly the inputs {self.input_names}, got {sorted(feeds)}")
        feeds = {i.name: _checked_feed(i, feeds[i.name]) for i in self.inputs}
        outputs = self.session.run(self.output_names, feeds)
        return outputs[0] if len(outputs) == 1 else outputs

    def __repr__(self):
        return f"<InferenceSession {self.input_names} → {self.output_names} on {self.provider}>"


def _open(model, options, providers):
    """An onnxruntime session for a path or proto; a missing file or one onnxruntime cannot load (not ONNX,
    truncated, invalid graph) raises a graphcore error naming the file, with onnxruntime's reason."""
    if hasattr(model, "SerializeToString"):
        source, label = model.SerializeToString(), "the ONNX model"
    else:
        source = label = os.fspath(model)
        if not os.path.isfile(source):
            raise MissingFileError(f"no such ONNX file: {source}")
    try:
        return ort.InferenceSession(source, options, providers=providers)
    except Exception as e:   # onnxruntime's pybind errors (InvalidProtobuf, Fail, ...) share no base class
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FileFormatError(f"{label} cannot be loaded by onnxruntime: it is not a valid ONNX model "
                              f"({type(e).__name__}: {reason})") from None


def _checked_feed(spec, value):
    """``value`` as the dtype the file declares, after checking its rank and fixed sizes (symbolic dims such
    as ``batch`` take any size), so a misshapen input fails here with both shapes, not inside onnxruntime."""
    expected = numpy_type(spec.type)
    try:
        array = np.asarray(value, dtype=expected)
    except (TypeError, ValueError) as e:
        raise FeedError(f"input '{spec.name}' needs {spec.type} data: {e}") from None
    dims = list(spec.shape)
    if array.ndim != len(dims) or any(isinstance(d, int) and d != a for d, a in zip(dims, array.shape)):
        wanted = "(" + ", ".join(str(d) if isinstance(d, int) else str(d or "?") for d in dims) + ")"
        raise FeedError(f"input '{spec.name}' expects shape {wanted}, got {array.shape}")
    return array


_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
                "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}
