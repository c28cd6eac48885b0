"""``OnnxTrainer``: runs an exported training step in onnxruntime, keeping the state on the device.

The file's contract (``training.py``) says which inputs are state and which outputs their new values. The
trainer keeps two sets of state buffers (OrtValues on the session's device) and binds them with IOBinding:
step k reads set k mod 2 and writes the other set, then the roles swap ("ping-pong"). The batch goes into
one fixed device buffer per input (copied in place each step) and the loss and metrics come out of fixed
device buffers, so nothing else moves and every address stays the same from step to step.

Why two sets: onnxruntime accepts one OrtValue bound as both an input and an output without complaint and
then computes wrong values, because an output may be written before every reader of the input has run
(measured on onnxruntime 1.31.1). Every bound OrtValue is kept referenced here, so none is freed while a
binding points at it.

Fixed addresses are what a CUDA graph needs (``cuda_graph=True``): onnxruntime records the step's kernel
launches once per binding (one graph per ping-pong side, ``gpu_graph_id`` 0 and 1) and then replays each
with one launch. It can only when every node runs on the CUDA provider and no node is a loop (a static
file exported with ``batch_size=`` and unrolled loops; see ``placement.py``, and onnxruntime's own report of
where it placed each node, ``runtime.placement``); otherwise the trainer runs
the step normally and says why in ``cuda_graph_reason``.
"""
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime import OrtValue

from graphcore.errors import BuildError, DataError, FeedError, FileFormatError, FileWriteError, MissingFileError
from graphcore.trainer import register_backend

from . import onnx_safety, placement, runtime
from .import_registry import OnnxImportError
from .registry import ExportError
from .runtime import checked_feed, create_session, numpy_type, wants_cuda
from .training import METADATA_KEY, initial_values, read_contract

# cuDNN's algorithm search for each convolution: onnxruntime's default, EXHAUSTIVE, benchmarks every
# algorithm on first use and was slower on every step measured (ResNet-18 224² b64 on an H200: 122 ms against
# HEURISTIC's 66 ms, DESIGN.md §6).
CONV_ALGO_SEARCHES = ("HEURISTIC", "EXHAUSTIVE", "DEFAULT")


class OnnxTrainer:
    """``OnnxTrainer(path_or_proto, device="auto")`` trains from a file written by
    ``to_onnx(..., training=True)`` (or ``train_op=``).

    ``step(feeds)`` runs one step on a batch, given as a dict input name → array or as a list in the
    contract's input order (the model's inputs, then its targets), and returns ``{"loss": ..., metric: ...}``
    (the loss before the update); ``step()`` runs again on the batch already on the device. ``state()``
    returns the state arrays by variable name; ``load_state(arrays)`` replaces some or all of it;
    ``undo_step()`` goes back one step. ``device``: "auto" (CUDA when a GPU is usable, else CPU), "cpu" or
    "cuda"; ``provider`` names what runs.

    On CUDA: ``cudnn_conv_algo_search`` ("HEURISTIC", "EXHAUSTIVE" or "DEFAULT"); ``tf32``: let cuDNN and
    cuBLAS multiply float32 in TensorFloat-32 (10-bit mantissas; one ResNet-18 step moved by 1.3e-3 relative
    to the CPU with it, 9.3e-6 without). The default, False, keeps float32 everywhere. PyTorch's defaults
    differ by op: TF32 on for cuDNN convolutions (``torch.backends.cudnn.allow_tf32 = True``), off for matrix
    products (``torch.backends.cuda.matmul.allow_tf32 = False``). ``cuda_graph=True`` captures the step as
    CUDA graphs when every node runs on CUDA (``cuda_graph_reason`` says why not otherwise; a warning too).
    """

    def __init__(self, model, device="auto", cudnn_conv_algo_search="HEURISTIC", tf32=False, cuda_graph=False):
        if cudnn_conv_algo_search not in CONV_ALGO_SEARCHES:
            raise ExportError(f"cudnn_conv_algo_search must be one of {CONV_ALGO_SEARCHES}, "
                              f"got {cudnn_conv_algo_search!r}")
        proto, where = _read_step_file(model)
        self.contract = contract = _step_contract(proto, where)
        self.cuda_options = {"cudnn_conv_algo_search": cudnn_conv_algo_search, "use_tf32": int(bool(tf32))}
        self.session, self.cuda_graph_reason = _session(model, proto, device, self.cuda_options, cuda_graph)
        self.provider = self.session.get_providers()[0]
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.cuda_graph = cuda_graph and self.cuda_graph_reason is None
        if cuda_graph and not self.cuda_graph:
            warnings.warn(f"cuda_graph=True, but the step runs without a CUDA graph: {self.cuda_graph_reason}",
                          RuntimeWarning, stacklevel=2)
        self.state_names = [name for name, _ in contract["state"]]
        self.parameter_names = list(contract.get("parameters", []))
        self.input_names = list(contract["inputs"])
        self.metric_names = list(contract["metrics"])
        # (onnxruntime lists inputs that have an initializer, as in files written before 2026-12, apart.)
        declared = self.session.get_inputs() + self.session.get_overridable_initializers()
        self._specs = {i.name: i for i in declared}
        self._indices = dict(contract.get("indices", {}))   # input → its range (see training.py)
        initial = initial_values(proto)
        missing = [name for name in self.state_names + self.parameter_names if name not in initial]
        if missing:
            raise ExportError(f"the training file lacks initial values for its state inputs {missing}")
        # (np.array, not ascontiguousarray, which makes 0-d arrays 1-d)
        values = [np.array(initial[name], order="C") for name in self.state_names]
        self._buffers = [[self._on_device(v) for v in values], [self._on_device(np.empty_like(v)) for v in values]]
        # Parameters are read, never written: one set, bound as inputs in both bindings.
        self._parameters = [self._on_device(np.array(initial[name], order="C")) for name in self.parameter_names]
        self._reported = [contract["loss"]] + [contract["metrics"][m] for m in self.metric_names]
        outputs = {o.name: o for o in self.session.get_outputs()}
        self._results = [self._on_device(np.zeros(_static_shape(outputs[name]), numpy_type(outputs[name].type)))
                         if _static_shape(outputs[name]) is not None else None for name in self._reported]
        self._batch = {}   # input name → its fixed device buffer (allocated at the first step)
        self._bindings = [self._bind(0), self._bind(1)]
        self._run_options = [_graph_run_options(k) if self.cuda_graph else None for k in (0, 1)]
        self._current = 0
        self.steps = 0

    def _on_device(self, array):
        return OrtValue.ortvalue_from_numpy(array, self.device, 0)

    def _bind(self, k):
        """The binding that reads state set k and writes set 1 − k; loss and metrics go to fixed buffers."""
        binding = self.session.io_binding()
        for (name_in, name_out), src, dst in zip(self.contract["state"], self._buffers[k], self._buffers[1 - k]):
            binding.bind_ortvalue_input(name_in, src)
            binding.bind_ortvalue_output(name_out, dst)
        for name, value in zip(self.parameter_names, self._parameters):
            binding.bind_ortvalue_input(name, value)
        for name, value in zip(self._reported, self._results):
            if value is None:   # a size known only at run time: onnxruntime allocates it on the device
                binding.bind_output(name, self.device)
            else:
                binding.bind_ortvalue_output(name, value)
        return binding

    def step(self, feeds=None):
        """One training step on a batch; returns the loss and metrics (before the update) as floats. The batch
        is checked first (shapes, one batch size, finite values, labels and ids in range), so a bad one changes
        no state. With no batch, the step reruns on the one already in the device buffers (a benchmark's batch
        on the GPU)."""
        if feeds is not None:
            self._load_batch(zip(self.input_names, self._checked_batch(self._named(feeds))))
        elif not self._batch:
            raise ExportError("step() without a batch reruns the last one, but no batch was given yet")
        binding = self._bindings[self._current]
        if self._run_options[self._current] is None:
            self.session.run_with_iobinding(binding)
        else:
            self.session.run_with_iobinding(binding, self._run_options[self._current])
        self._current = 1 - self._current
        self.steps += 1
        reported = binding.get_outputs()[len(self.state_names):]
        return dict(zip(["loss"] + self.metric_names, (float(v.numpy()) for v in reported)))

    def _load_batch(self, batch):
        """Copy the batch into the fixed input buffers; (re)allocate and bind a buffer whose shape changed (a
        file with a symbolic batch, a smaller last batch) — never under a CUDA graph, which replays fixed
        addresses and sizes."""
        for name, array in batch:
            array = np.ascontiguousarray(array)
            buffer = self._batch.get(name)
            if buffer is not None and tuple(buffer.shape()) == array.shape:
                buffer.update_inplace(array)
                continue
            if buffer is not None and self.cuda_graph:
                raise ExportError(f"input '{name}' has shape {array.shape}, but this step was captured as a CUDA "
                                  f"graph for {tuple(buffer.shape())}: feed batches of that size (export a "
                                  "step per batch size)")
            # A copy: on the CPU an OrtValue wraps its array's memory, which later batches are written into.
            self._batch[name] = self._on_device(np.array(array, copy=True))
            for binding in self._bindings:
                binding.bind_ortvalue_input(name, self._batch[name])

    def undo_step(self):
        """Go back to the state before the last step: its inputs are still in the other buffer set (ping-pong),
        so the next step reads them again. Only one step back."""
        if self.steps == 0:
            raise ExportError("undo_step: no step has run")
        self._current = 1 - self._current
        self.steps -= 1

    def _named(self, feeds):
        if isinstance(feeds, dict):
            unknown = set(feeds) - set(self.input_names)
            missing = [n for n in self.input_names if n not in feeds]
            if unknown or missing:
                raise ExportError(f"feed exactly the step's inputs {self.input_names}; missing {missing}, "
                                  f"unknown {sorted(unknown)}")
            return [(n, feeds[n]) for n in self.input_names]
        feeds = list(feeds)
        if len(feeds) != len(self.input_names):
            raise ExportError(f"the step takes {len(self.input_names)} arrays ({self.input_names}), got {len(feeds)}")
        return list(zip(self.input_names, feeds))

    def _checked_batch(self, named):
        """The arrays as the file's dtypes, after checking their shapes against the file's inputs, that they
        share one batch size, are finite, and that indices (``indices`` in the contract) are in range."""
        batch = [checked_feed(self._specs[name], value, self._static_note(name)) for name, value in named]
        sizes = {name: a.shape[0] for name, a in zip(self.input_names, batch) if a.ndim}
        if len(set(sizes.values())) > 1:
            raise FeedError(f"the step's inputs have different batch sizes: {sizes}")
        for name, array in zip(self.input_names, batch):
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
                raise DataError(f"step: input '{name}' holds {array[index].item()} at index {list(index)}; a step on "
                                "it would make every weight NaN, so it was not run")
            if name in self._indices:
                _check_range(array, name, **self._indices[name])
        return batch

    def _static_note(self, name):
        dims = self._specs[name].shape
        return (": a static step (batch_size=) takes batches of its own size; export one per batch size"
                if dims and isinstance(dims[0], int) else "")

    def _values(self):
        """(variable name, OrtValue) of the state the next step reads and of the parameters."""
        return list(zip(self.state_names, self._buffers[self._current])) + \
            list(zip(self.parameter_names, self._parameters))

    def state(self):
        """The current state and parameters by variable name, copied: ``OrtValue.numpy()`` is a view of the
        buffer, which a later step overwrites (ping-pong) and which dies with the trainer."""
        return {name: np.array(value.numpy()) for name, value in self._values()}

    def load_state(self, arrays):
        """Overwrite state variables or parameters (by name) in the buffers the next step reads."""
        unknown = set(arrays) - set(self.state_names) - set(self.parameter_names)
        if unknown:
            raise ExportError(f"not state of this training step: {sorted(unknown)}")
        for name, value in self._values():
            if name in arrays:
                array = np.array(arrays[name], dtype=numpy_type(value.data_type()), order="C")
                if array.shape != tuple(value.shape()):
                    raise ExportError(f"state {name} has shape {tuple(value.shape())}, got {array.shape}")
                value.update_inplace(array)

    def __repr__(self):
        return f"<OnnxTrainer {len(self.state_names)} state tensors, inputs {self.input_names} on {self.provider}>"


def _read_step_file(model):
    """(ModelProto, how to name it) of a training-step file, read by the importer's safe loader: a missing
    file is a ``MissingFileError``, a file that is not ONNX a ``FileFormatError`` naming it."""
    if isinstance(model, onnx.ModelProto):
        return model, "the ONNX model"
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise MissingFileError(f"no such ONNX file: {path}")
    try:
        proto, _, _ = onnx_safety.load(path)
    except OnnxImportError as e:
        raise FileFormatError(f"{e.detail}\n  (OnnxTrainer trains from the files to_onnx(model, path, training=True) "
                              "writes)") from None
    return proto, path


def _step_contract(proto, where):
    """The file's training contract, checked to hold what the trainer reads."""
    try:
        contract = read_contract(proto)
    except ValueError as e:
        raise FileFormatError(f"{where}: its '{METADATA_KEY}' metadata is not valid JSON ({e})") from None
    if contract is None:
        raise ExportError(f"{where} is not a graphcore training step (no '{METADATA_KEY}' metadata): export one "
                          "with to_onnx(model, path, training=True)")
    needed = ("state", "loss", "inputs", "metrics")
    if not isinstance(contract, dict) or any(key not in contract for key in needed):
        raise FileFormatError(f"{where}: its '{METADATA_KEY}' metadata must be an object with {list(needed)}")
    return contract


def _check_range(indices, name, limit, what, fix):
    """Indices fed to a step (class labels, embedding ids) in [0, limit), checked in one pass before the step
    runs: the exported one-hot turns an out-of-range label into a zero row and the loss looks plausible."""
    bad = (indices < 0) | (indices >= limit)   # whole numbers already: the feed is cast to the file's integers
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"step: {what} {indices[index].item()!r} of input '{name}' at index {list(index)} is "
                        f"outside [0, {limit}): {fix} ({int(bad.sum())} such value(s)); the step was not run")


def _session(model, proto, device, cuda_options, cuda_graph):
    """(session, why not a CUDA graph): with ``cuda_graph``, a session capturing CUDA graphs when the step
    allows it, else an ordinary one and the reason (None when a graph is captured or none was asked for)."""
    reason = _why_not_a_graph(proto, device) if cuda_graph else None
    if cuda_graph and reason is None:
        try:
            session = create_session(model, device, dict(cuda_options, enable_cuda_graph=True))
        except Exception as e:   # onnxruntime refuses the capture (a node left the CUDA provider): say why
            reason = f"onnxruntime refused the capture: {str(e).strip().splitlines()[-1]}"
        else:
            reason = _why_not_captured(session)
            if reason is None:
                return session, None
    return create_session(model, device, cuda_options), reason


def _why_not_a_graph(proto, device):
    """Why the step cannot be a CUDA graph, known before any session: no GPU, or the file itself
    (``placement.file_report``)."""
    if not wants_cuda(device):
        return "no usable GPU: the step runs on the CPU"
    report = placement.file_report(proto)
    return placement.describe(report) if report else None


def _why_not_captured(session):
    """Why a session built for capture cannot capture: the CUDA provider did not start, or onnxruntime placed
    a node elsewhere (its own report, ``runtime.placement``, where this onnxruntime gives one)."""
    if session.get_providers()[0] != "CUDAExecutionProvider":
        return "the CUDA provider could not start (CUDA or cuDNN libraries missing): the step runs on the CPU"
    if not hasattr(session, "get_provider_graph_assignment_info"):
        return None
    elsewhere = [(name, op, f"runs on {provider}") for provider, nodes in runtime.placement(session).items()
                 if provider != "CUDAExecutionProvider" for name, op in nodes]
    return placement.describe(elsewhere) if elsewhere else None


def _static_shape(output):
    """An output's declared shape when every size is a number, else None."""
    shape = output.shape
    return tuple(shape) if all(isinstance(d, int) for d in shape) else None


def _graph_run_options(graph_id):
    """Run options replaying (or, the first time, capturing) CUDA graph ``graph_id``: one per binding."""
    options = ort.RunOptions()
    options.add_run_config_entry("gpu_graph_id", str(graph_id))
    return options


class FitSteps:
    """``Model.fit(backend="onnxruntime")``'s step runner: the compiled model's step exported as a static file
    (``to_onnx(..., batch_size=N)``: every shape a constant) and run by an ``OnnxTrainer``; ``sync()`` writes
    the state back into the model's session. Loops are unrolled for a GPU (a CUDA graph cannot capture a
    Scan) and stay ONNX Scans on the CPU, where the unrolled LSTM step of tools/bench_train_backends.py took
    1.1-1.4× the Scan's time (six interleaved comparisons on a loaded machine, 2026-12-04).

    The last batch of an epoch is smaller when the batch size does not divide the data. It gets a static step
    of its own, exported the first time that size comes up, and the state passes between the two trainers
    through the host when the size changes (twice an epoch). Padding it to the full size with zero-weighted
    rows instead would be wrong wherever rows interact: batch normalisation would count the padding in its
    statistics."""

    def __init__(self, model, device="auto", batch_size=32):
        self.model, self.device = model, device
        self.metrics = list(model.compilation.metrics)
        self._trainers = {}
        self.trainer = self._trainer(batch_size)
        self.description = f"onnxruntime ({self.trainer.provider})"
        self._parameters = {}

    def _trainer(self, batch_size):
        """The trainer of the static step for ``batch_size`` rows, exported the first time it is needed."""
        if batch_size not in self._trainers:
            import tempfile

            from .exporter import to_onnx
            try:
                folder = tempfile.TemporaryDirectory(prefix="graphcore-step-")
            except OSError as e:
                raise FileWriteError(f"fit(backend='onnxruntime') writes its training step to a temporary file, but "
                                     f"the temporary folder {tempfile.gettempdir()} cannot be written "
                                     f"({e.strerror or e}): set TMPDIR to a writable folder, or use "
                                     "backend='numpy'") from None
            with folder:
                path = os.path.join(folder.name, "step.onnx")
                to_onnx(self.model, path, training=True, batch_size=batch_size, unroll=wants_cuda(self.device))
                self._trainers[batch_size] = OnnxTrainer(path, self.device)   # the session holds what it read
        return self._trainers[batch_size]

    def load_from_session(self):
        variables = self.model.session.variables
        names = self.trainer.state_names + self.trainer.parameter_names
        self.trainer.load_state({name: variables[name] for name in names})
        self._parameters = {name: np.array(variables[name]) for name in self.trainer.parameter_names}

    def run(self, x, y):
        """One step; a parameter changed in the session since (a learning-rate callback) is loaded first."""
        trainer = self._trainer(len(x))
        if trainer is not self.trainer:   # another batch size: the state moves to that size's step
            trainer.load_state(self.trainer.state())
            self.trainer = trainer
        variables = self.model.session.variables
        changed = {name: np.array(variables[name]) for name, value in self._parameters.items()
                   if not np.array_equal(variables[name], value)}
        if changed:
            self.trainer.load_state(changed)
            self._parameters.update(changed)
        values = self.trainer.step([x, y])
        return [values["loss"]] + [values[m] for m in self.metrics]

    def undo(self):
        """The state of before the last step, back in the trainer and in the model's session."""
        self.trainer.undo_step()
        self.sync()

    def sync(self):
        trained = self.trainer.state()
        self.model.session.variables.update({name: trained[name] for name in self.trainer.state_names})


def fit_steps(model, device, data, batch_size):
    """``Model.fit(backend="onnxruntime")``'s step runner (registered below): the model's ``FitSteps``, kept
    on the model while its compiled step and the device stay the same, loaded with the session's weights."""
    if len(model.inputs) != 1 or len(model.outputs) != 1 or any(w is not None for w in data.weights):
        raise BuildError("fit(backend='onnxruntime') trains one-input, one-output models without "
                         "sample or class weights; use backend='numpy' for the others")
    key = ("onnxruntime", device, id(model.compilation))
    if getattr(model, "_onnx_steps", (None, None))[0] != key:
        model._onnx_steps = (key, FitSteps(model, device, batch_size=min(batch_size, data.n)))
    steps = model._onnx_steps[1]
    steps.load_from_session()   # weights set since the last fit (set_weights, the interpreter) count
    return _OnnxSteps(steps)


class _OnnxSteps:
    """The exported step (one input, one output, unweighted) behind the interpreter's ``run`` signature; a
    learning rate a callback changes reaches the file as one of its parameters (``FitSteps.run``)."""

    def __init__(self, steps):
        self.steps, self.description = steps, steps.description

    def run(self, x, y, weights, keep_previous=False):
        return self.steps.run(x[0], y[0])

    def undo(self):
        self.steps.undo()

    def sync(self):
        self.steps.sync()


register_backend("onnxruntime", fit_steps)
