"""The onnxruntime driver for inference: the CUDA provider when a GPU is usable, else the CPU, quietly; inputs
bound where they already are; fixed batches and buffers; CUDA graphs; half precision.

**Providers.** The onnxruntime-gpu wheel lists CUDAExecutionProvider on every machine, GPU or not, and asking
for it where there is no GPU prints a long error before falling back. So CUDA is asked for only when the NVIDIA
driver library loads and reports a device, the pip-installed CUDA/cuDNN libraries are preloaded, and
``provider`` reports what the session really got (a CUDA request still ends on the CPU when the CUDA
libraries are missing). The CUDA provider gets graphcore's measured defaults (``cuda_provider_options``).

**Binding.** ``run`` binds every input with IOBinding where it already is: a NumPy array (or any CPU DLPack
array) in place on the host — onnxruntime copies it to the GPU itself when the session runs there — and a
CUDA DLPack array (a PyTorch, CuPy or JAX tensor, or an OrtValue from another run) in place on the GPU, so
data already on the device never travels. Outputs come back as NumPy arrays, or stay on the session's device
(``output="device"``: OrtValues, which are DLPack arrays themselves: ``torch.from_dlpack(y)``). Output
bindings are renewed every run, because onnxruntime otherwise writes a run's results into the buffers it
returned the run before.

**Fixed batch and buffers.** ``batch_size=N`` fixes the file's symbolic batch dimension when the session is
built (``add_free_dimension_override_by_name``: onnxruntime then plans memory once) and allocates every input
and output once on the session's device (``input_buffers``, ``output_buffers``), bound for good: ``run(x)``
copies x into them, or the caller writes into ``input_buffers`` (DLPack) and calls ``run()``. Device outputs
are then those fixed buffers, overwritten by the next run.

**CUDA graphs.** ``cuda_graph=True`` (which needs fixed shapes and buffers) lets onnxruntime capture the whole
run once and replay it with one launch. Capture needs every node on the CUDA provider, so the session first
checks where onnxruntime places each node and refuses, naming the nodes, when one is elsewhere.
"""
import ctypes
import functools
import os

import ml_dtypes   # NumPy's bfloat16 (a dependency of onnx)
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto
from onnxruntime import OrtValue

from graphcore.errors import FeedError, FileFormatError, MissingFileError, ServingError

from .precision import at_precision

# onnxruntime's log levels: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal. Warnings (e.g. "some nodes were
# not assigned to the preferred execution providers") are advice for tuners, not for users of a model file.
_QUIET = 3
_DLPACK_CPU, _DLPACK_CUDA = 1, 2   # DLPack's DLDeviceType codes
# cuDNN's convolution algorithm search. HEURISTIC was measured faster than onnxruntime's default EXHAUSTIVE
# on an H200 (onnxruntime-gpu 1.31.1): an exported ResNet-18 training step 66 vs 122 ms, LeNet-5 inference at
# batch 256 0.17 vs 0.29 ms (DESIGN.md section 6, issue 26).
CUDA_DEFAULTS = {"cudnn_conv_algo_search": "HEURISTIC"}


@functools.lru_cache(maxsize=1)
def gpu_available():
    """Whether the CUDA driver is installed and sees at least one device (without touching onnxruntime)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


def wants_cuda(device):
    """Whether a session for ``device`` ("auto", "cpu", "cuda") asks onnxruntime for the CUDA provider."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    return device == "cuda" or (device == "auto" and gpu_available())


def cuda_provider_options(overrides=None, cuda_graph=False):
    """The CUDA provider's options: graphcore's measured defaults (``CUDA_DEFAULTS``), graph capture when
    asked, then ``overrides`` (any onnxruntime CUDA provider option; booleans become "1"/"0")."""
    options = dict(CUDA_DEFAULTS)
    if cuda_graph:
        options["enable_cuda_graph"] = "1"
    for key, value in (overrides or {}).items():
        options[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return options


def session_options():
    """Quiet session options that also record which provider runs each node (see ``placement``)."""
    options = ort.SessionOptions()
    options.log_severity_level = _QUIET
    options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    return options


def create_session(model, device="auto", provider_options=None, options=None):
    """An onnxruntime session for a path or ModelProto: CUDA first (with ``cuda_provider_options``
    (provider_options)) when ``device`` allows it and a GPU is usable, else the CPU, with onnxruntime's
    advice-level logging off. ``options``: SessionOptions (default ``session_options()``)."""
    cuda = wants_cuda(device)
    ort.set_default_logger_severity(_QUIET)
    providers = ["CPUExecutionProvider"]
    if cuda:
        if hasattr(ort, "preload_dlls"):   # onnxruntime ≥ 1.21: find pip-installed CUDA and cuDNN
            ort.preload_dlls()
        providers.insert(0, ("CUDAExecutionProvider", cuda_provider_options(provider_options)))
    return _open(model, options or session_options(), providers)


def placement(session):
    """{provider: [(node name, op type), ...]} for the nodes of an onnxruntime session built with
    ``session_options()`` (after onnxruntime's own graph optimisations)."""
    placed = {}
    for subgraph in session.get_provider_graph_assignment_info():
        placed.setdefault(subgraph.ep_name, []).extend((n.name, n.op_type) for n in subgraph.get_nodes())
    return placed


def numpy_type(ort_type):
    """The NumPy dtype of an onnxruntime type string such as 'tensor(float)'."""
    return _NUMPY_TYPES.get(ort_type)


class InferenceSession:
    """``InferenceSession(path_or_proto, device="auto", batch_size=None, cuda_graph=False, precision=None,
    provider_options=None)``; ``run(x)`` or ``run({"name": x, ...})``.

    ``device``: "auto" (CUDA when usable), "cpu" or "cuda"; ``provider`` names the execution provider that
    actually runs the model. Inputs: NumPy arrays (cast to the dtypes the file declares) or DLPack arrays on
    the CPU or the session's GPU (bound without a copy; their dtype must be the declared one).
    ``batch_size``: fix the batch dimension and keep fixed input/output buffers. ``cuda_graph``: capture the
    run as a CUDA graph (needs fixed shapes). ``precision``: "float16" or "bfloat16" converts a float32 file
    at load (``precision.to_half``). ``provider_options``: onnxruntime CUDA provider options, over graphcore's
    defaults (``CUDA_DEFAULTS``).
    """

    def __init__(self, model, device="auto", batch_size=None, cuda_graph=False, precision=None,
                 provider_options=None):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ServingError(f"batch_size must be a positive int or None, got {batch_size!r}")
        if cuda_graph and not wants_cuda(device):
            why = "device='cpu'" if device == "cpu" else "no usable GPU: libcuda.so.1 is missing or sees no device"
            raise ServingError(f"cuda_graph=True captures the run on onnxruntime's CUDA provider, and this session "
                               f"would run on the CPU ({why}): leave cuda_graph off")
        proto = _load(model, weights=precision is not None) if precision or batch_size is not None else None
        source = at_precision(proto, precision) if precision is not None else model
        options = session_options()
        for name in _batch_dim_names(proto, batch_size) if batch_size is not None else ():
            options.add_free_dimension_override_by_name(name, batch_size)
        if cuda_graph:
            _require_all_on_cuda(create_session(source, device, provider_options, options))
        self.session = create_session(source, device, cuda_provider_options(provider_options, cuda_graph), options)
        self.provider = self.session.get_providers()[0]
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.device_id = int(self.session.get_provider_options().get(self.provider, {}).get("device_id", 0))
        if cuda_graph and self.device != "cuda":
            raise ServingError(f"cuda_graph=True needs onnxruntime's CUDA provider, but the session runs on "
                               f"{self.provider} (the CUDA or cuDNN libraries did not load: pip install "
                               "graphcore[cuda])")
        self.inputs = self.session.get_inputs()
        self.input_names = [i.name for i in self.inputs]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.batch_size, self.cuda_graph = batch_size, cuda_graph
        self.fixed = batch_size is not None or cuda_graph
        self._fixed_note = (" (this session's shapes are fixed" + (f": batch_size={batch_size})" if batch_size else ")")
                            if self.fixed else "")
        self._binding = self.session.io_binding()
        self.input_buffers, self.output_buffers = {}, {}
        if self.fixed:
            self._allocate_buffers()

    def placement(self):
        """{provider: [(node name, op type), ...]}: where onnxruntime runs each node of the optimised graph."""
        return placement(self.session)

    def run(self, x=None, *, output="numpy", **named):
        """One array (for a single-input model), a dict name → array, or keyword arguments; no inputs at all
        runs again on ``input_buffers``. ``output="numpy"`` (default) returns NumPy arrays, ``"device"``
        OrtValues on the session's device (DLPack arrays). Returns the output for a single-output model, else
        the list of outputs."""
        if output not in ("numpy", "device"):
            raise ServingError(f"output must be 'numpy' or 'device', got {output!r}")
        feeds = dict(x) if isinstance(x, dict) else ({self.input_names[0]: x} if x is not None else {})
        feeds.update(named)
        if feeds or not self.input_names:
            unknown = set(feeds) - set(self.input_names)
            if unknown or len(feeds) != len(self.input_names):
                raise FeedError(f"feed exactly the inputs {self.input_names}, got {sorted(feeds)}")
            values = [(spec, self._value(spec, feeds[spec.name])) for spec in self.inputs]   # all checked first
            for spec, value in values:
                self._bind_input(spec, value)
        elif not self.input_buffers:
            raise FeedError(f"feed the inputs {self.input_names}: run() without inputs runs again on the bound "
                            "ones, and none are bound yet")
        elif not self.fixed:   # bind again: onnxruntime copied host arrays to the GPU when they were bound
            for name, value in self.input_buffers.items():
                self._binding.bind_ortvalue_input(name, value)
        if not self.fixed:
            where = "cpu" if output == "numpy" else self.device
            for name in self.output_names:
                self._binding.bind_output(name, where, self.device_id)
        self.session.run_with_iobinding(self._binding)
        if self.fixed:
            values = [self.output_buffers[name] for name in self.output_names]
            results = values if output == "device" else self._fixed_outputs_on_host()
        else:
            values = self._binding.get_outputs()
            results = values if output == "device" else [_host_array(v) for v in values]
        return results[0] if len(results) == 1 else results

    # ----- inputs -------------------------------------------------------------------------------------------
    def _value(self, spec, value):
        """What to bind for ``value``: host data as a C-ordered NumPy array of the declared dtype (itself when
        it already is one), an OrtValue or a CUDA array through DLPack as an OrtValue, without a copy."""
        if isinstance(value, OrtValue) or (hasattr(value, "__dlpack_device__") and not isinstance(value, np.ndarray)):
            kind, index = value.__dlpack_device__()
            if kind == _DLPACK_CUDA or isinstance(value, OrtValue):
                return self._dlpack_value(spec, value, kind, index)
            if kind != _DLPACK_CPU:
                raise FeedError(f"input '{spec.name}' lives on DLPack device type {kind}: pass a CPU or CUDA array")
            value = np.from_dlpack(value)   # a view of the same memory
        # (np.require, not ascontiguousarray, which makes a 0-d array 1-d)
        return np.require(_checked_feed(spec, value, self._fixed_note), requirements="C")

    def _dlpack_value(self, spec, value, kind, index):
        """An OrtValue, or a CUDA array wrapped through DLPack, checked and bound as it is."""
        where = "the CPU" if kind == _DLPACK_CPU else f"CUDA device {index}"
        if kind == _DLPACK_CUDA:
            if self.device != "cuda" or index != self.device_id:
                here = f"CUDA device {self.device_id}" if self.device == "cuda" else "the CPU"
                raise FeedError(f"input '{spec.name}' is on {where}, but this session runs on {here} "
                                f"({self.provider}): move it there first")
            self._binding.synchronize_inputs()   # cudaDeviceSynchronize: the producer's queued work is done
        if not isinstance(value, OrtValue) and not hasattr(OrtValue, "from_dlpack"):
            raise FeedError(f"input '{spec.name}' is a CUDA array, and this onnxruntime ({ort.__version__}) cannot "
                            "wrap one (no OrtValue.from_dlpack): upgrade onnxruntime-gpu (1.31 can)")
        try:
            bound = value if isinstance(value, OrtValue) else OrtValue.from_dlpack(value)
        except (RuntimeError, TypeError, BufferError) as e:
            raise FeedError(f"input '{spec.name}' cannot be bound through DLPack: {str(e).strip().splitlines()[-1]}"
                            " (a contiguous array of a numeric or bool dtype is needed)") from None
        if bound.data_type() != spec.type:
            raise FeedError(f"input '{spec.name}' needs {spec.type} data, got a {bound.data_type()} array on {where}:"
                            " convert it there (device arrays are bound as they are, never copied to cast them)")
        _check_shape(spec, tuple(bound.shape()), self._fixed_note)
        return bound

    def _bind_input(self, spec, value):
        """Bind in place, or with fixed buffers copy into the input's buffer (device to device for an array on
        the buffer's device, else from the host). Shapes and dtypes were checked against the file."""
        if not self.fixed:
            value = value if isinstance(value, OrtValue) else _host_value(value, spec.type)
            self.input_buffers[spec.name] = value   # keeps it alive while bound
            self._binding.bind_ortvalue_input(spec.name, value)
            return
        buffer = self.input_buffers[spec.name]
        if isinstance(value, OrtValue) and value.device_name() == buffer.device_name():
            buffer.update_inplace(value)
            return
        host = _host_array(value) if isinstance(value, OrtValue) else value
        buffer.update_inplace(host.view(np.uint16) if host.dtype == ml_dtypes.bfloat16 else host)

    # ----- fixed buffers ------------------------------------------------------------------------------------
    def _allocate_buffers(self):
        """Zero-filled inputs and outputs on the session's device, bound once (the addresses CUDA graphs
        replay)."""
        for kind, specs, buffers in (("input", self.inputs, self.input_buffers),
                                     ("output", self.session.get_outputs(), self.output_buffers)):
            for spec in specs:
                shape = list(spec.shape)
                if not all(isinstance(d, int) for d in shape):
                    raise ServingError(f"{kind} '{spec.name}' has shape {shape}, with dimensions batch_size does not "
                                       "fix: fixed buffers (and CUDA graphs) need every dimension known")
                buffer = OrtValue.ortvalue_from_shape_and_type(shape, _ONNX_TYPES[spec.type], self.device,
                                                               self.device_id)
                zeros = np.zeros(shape, np.uint16 if spec.type == "tensor(bfloat16)" else numpy_type(spec.type))
                buffer.update_inplace(zeros)
                buffers[spec.name] = buffer
        for name, buffer in self.input_buffers.items():
            self._binding.bind_ortvalue_input(name, buffer)
        for name, buffer in self.output_buffers.items():
            self._binding.bind_ortvalue_output(name, buffer)

    def _fixed_outputs_on_host(self):
        if self.device == "cpu":
            return [np.array(_host_array(self.output_buffers[name])) for name in self.output_names]
        if any(self.output_buffers[n].data_type() == "tensor(bfloat16)" for n in self.output_names):
            raise ServingError("this session's outputs are bfloat16, which its device buffers cannot hand to NumPy: "
                               "run(..., output='device') and read them through DLPack (torch.from_dlpack)")
        return self._binding.copy_outputs_to_cpu()

    def __repr__(self):
        fixed = f", batch {self.batch_size}" if self.batch_size else ""
        graph = ", CUDA graph" if self.cuda_graph else ""
        return f"<InferenceSession {self.input_names} → {self.output_names} on {self.provider}{fixed}{graph}>"


def _open(model, options, providers):
    """An onnxruntime session for a path, proto or serialized bytes; a missing file or one onnxruntime cannot
    load (not ONNX, truncated, invalid graph) raises a graphcore error naming the file, with onnxruntime's
    reason; a model that loads but has ops no provider implements (half precision on the CPU) says so."""
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
        if "NOT_IMPLEMENTED" in reason:
            names = ", ".join(p if isinstance(p, str) else p[0] for p in providers)
            raise ServingError(f"{label} loads, but onnxruntime ({names}) has no kernel for one of its nodes: "
                               f"{reason} (for half precision: the CPU provider runs float16 files through casts "
                               "but has no bfloat16 kernels; bfloat16 needs the CUDA provider)") from None
        raise FileFormatError(f"{label} cannot be loaded by onnxruntime: it is not a valid ONNX model "
                              f"({type(e).__name__}: {reason})") from None


def _load(model, weights=True):
    """The ModelProto of a path or proto (with its external weights when ``weights``), with the file errors
    ``_open`` gives."""
    if isinstance(model, onnx.ModelProto):
        return model
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise MissingFileError(f"no such ONNX file: {path}")
    try:
        return onnx.load(path, load_external_data=weights)
    except Exception as e:   # protobuf's DecodeError, OSError for missing external data, ...
        raise FileFormatError(f"{path} cannot be loaded: it is not a valid ONNX model ({type(e).__name__}: "
                              f"{str(e).strip()[:200]})") from None


def _batch_dim_names(proto, batch_size):
    """The symbolic names of the inputs' leading dimensions, which ``batch_size`` fixes; a fixed leading
    dimension must already be ``batch_size``."""
    initializers = {t.name for t in proto.graph.initializer}
    names = set()
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name in initializers or not dims:
            continue
        if dims[0].HasField("dim_param"):
            names.add(dims[0].dim_param)
        elif dims[0].HasField("dim_value") and dims[0].dim_value != batch_size:
            raise ServingError(f"input '{value.name}' has a fixed batch of {dims[0].dim_value}, so batch_size="
                               f"{batch_size} cannot apply: export with a symbolic batch (dynamic_batch=True)")
        elif not dims[0].HasField("dim_value"):
            raise ServingError(f"input '{value.name}' has an unnamed leading dimension, which onnxruntime cannot "
                               "fix by name: export it with a symbolic batch (dynamic_batch=True)")
    return sorted(names)


def _require_all_on_cuda(probe):
    """Refuse CUDA graphs when onnxruntime puts any node outside the CUDA provider (an onnxruntime too old to
    say where its nodes run is left to refuse by itself)."""
    if probe.get_providers()[0] != "CUDAExecutionProvider":
        raise ServingError(f"cuda_graph=True needs onnxruntime's CUDA provider, but the session runs on "
                           f"{probe.get_providers()[0]} (the CUDA or cuDNN libraries did not load: pip install "
                           "graphcore[cuda])")
    if not hasattr(probe, "get_provider_graph_assignment_info"):
        return
    elsewhere = [(name, op, provider) for provider, nodes in placement(probe).items()
                 if provider != "CUDAExecutionProvider" for name, op in nodes]
    if elsewhere:
        listed = ", ".join(f"'{name}' ({op}) on {provider}" for name, op, provider in elsewhere[:10])
        more = f" and {len(elsewhere) - 10} more" if len(elsewhere) > 10 else ""
        raise ServingError(f"cuda_graph=True needs every node on the CUDA provider (a CUDA graph cannot hold host "
                           f"work), but onnxruntime places {listed}{more}: leave cuda_graph off for this model")


def _checked_feed(spec, value, note=""):
    """``value`` as the dtype the file declares, after checking its rank and fixed sizes (symbolic dims such
    as ``batch`` take any size), so a misshapen input fails here with both shapes, not inside onnxruntime."""
    expected = numpy_type(spec.type)
    try:
        array = np.asarray(value, dtype=expected)
    except (TypeError, ValueError) as e:
        raise FeedError(f"input '{spec.name}' needs {spec.type} data: {e}") from None
    _check_shape(spec, array.shape, note)
    return array


def _check_shape(spec, shape, note=""):
    dims = list(spec.shape)
    if len(shape) != len(dims) or any(isinstance(d, int) and d != a for d, a in zip(dims, shape)):
        wanted = "(" + ", ".join(str(d) if isinstance(d, int) else str(d or "?") for d in dims) + ")"
        raise FeedError(f"input '{spec.name}' expects shape {wanted}, got {tuple(shape)}{note}")


def _host_value(array, ort_type):
    """A CPU OrtValue over a C-ordered ``array``'s own memory (no copy)."""
    if ort_type == "tensor(bfloat16)":
        return OrtValue.ortvalue_from_numpy_with_onnx_type(array.view(np.uint16), TensorProto.BFLOAT16)
    return OrtValue.ortvalue_from_numpy(array)


def _host_array(value):
    """A NumPy view of a CPU OrtValue (it keeps the OrtValue's memory alive); bfloat16, which onnxruntime
    cannot hand to NumPy, is read as its 16-bit patterns into NumPy's bfloat16 (ml_dtypes, onnx's own)."""
    if value.data_type() != "tensor(bfloat16)":
        return value.numpy()
    shape = tuple(value.shape())
    count = int(np.prod(shape))
    if count == 0:
        return np.zeros(shape, ml_dtypes.bfloat16)
    bits = (ctypes.c_uint16 * count).from_address(value.data_ptr())
    return np.frombuffer(bits, np.uint16).copy().view(ml_dtypes.bfloat16).reshape(shape)


_TYPES = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT8,
          TensorProto.INT16, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8, TensorProto.UINT16,
          TensorProto.UINT32, TensorProto.UINT64, TensorProto.BOOL)
# onnxruntime's type strings ('tensor(float)') → ONNX element types and NumPy dtypes (bfloat16: ml_dtypes)
_ONNX_TYPES = {f"tensor({TensorProto.DataType.Name(t).lower()})": t for t in _TYPES}
_NUMPY_TYPES = {name: onnx.helper.tensor_dtype_to_np_dtype(t) for name, t in _ONNX_TYPES.items()}
