"""``OnnxTrainer``: runs an exported training step in onnxruntime, keeping the state on the device.

The file's contract (``training.py``) says which inputs are state and which outputs their new values. The
trainer keeps two sets of state buffers (OrtValues on the session's device) and binds them with IOBinding:
step k reads set k mod 2 and writes the other set, then the roles swap ("ping-pong"). Nothing is copied
between steps but the batch going in and the loss and metrics coming out.

Why two sets: onnxruntime accepts one OrtValue bound as both an input and an output without complaint and
then computes wrong values, because an output may be written before every reader of the input has run
(measured on onnxruntime 1.31.1). Every bound OrtValue is kept referenced here, so none is freed while a
binding points at it.
"""
import os

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime import OrtValue

from graphcore.errors import DataError, FeedError, FileFormatError, FileWriteError, MissingFileError

from . import onnx_safety
from .import_registry import OnnxImportError
from .registry import ExportError
from .runtime import checked_feed, create_session, numpy_type
from .training import METADATA_KEY, read_contract


class OnnxTrainer:
    """``OnnxTrainer(path_or_proto, device="auto")`` trains from a file written by
    ``to_onnx(..., training=True)`` (or ``train_op=``).

    ``step(feeds)`` runs one step on a batch, given as a dict input name → array or as a list in the
    contract's input order (the model's inputs, then its targets), and returns ``{"loss": ..., metric: ...}``
    (the loss before the update). ``state()`` returns the state arrays by variable name; ``load_state(arrays)``
    replaces some or all of it. ``device``: "auto" (CUDA when a GPU is usable, else CPU), "cpu" or "cuda";
    ``provider`` names what runs.
    """

    def __init__(self, model, device="auto"):
        proto, where = _read_step_file(model)
        self.contract = contract = _step_contract(proto, where)
        self.session = create_session(model, device)
        self.provider = self.session.get_providers()[0]
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self.state_names = [name for name, _ in contract["state"]]
        self.parameter_names = list(contract.get("parameters", []))
        self.input_names = list(contract["inputs"])
        self.metric_names = list(contract["metrics"])
        # onnxruntime lists inputs that have an initializer (the state) as overridable initializers.
        declared = self.session.get_inputs() + self.session.get_overridable_initializers()
        self._types = {i.name: numpy_type(i.type) for i in declared}
        self._specs = {i.name: i for i in self.session.get_inputs()}
        self._indices = dict(contract.get("indices", {}))   # input → its range (see training.py)
        initial = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer if t.name in self._types}
        missing = [name for name in self.state_names + self.parameter_names if name not in initial]
        if missing:
            raise ExportError(f"the training file lacks initial values for its state inputs {missing}")
        # (np.array, not ascontiguousarray, which makes 0-d arrays 1-d)
        values = [np.array(initial[name], order="C") for name in self.state_names]
        self._buffers = [[OrtValue.ortvalue_from_numpy(v, self.device, 0) for v in values],
                         [OrtValue.ortvalue_from_numpy(np.empty_like(v), self.device, 0) for v in values]]
        # Parameters are read, never written: one set, bound as inputs in both bindings.
        self._parameters = [OrtValue.ortvalue_from_numpy(np.array(initial[name], order="C"), self.device, 0)
                            for name in self.parameter_names]
        self._reported = [contract["loss"]] + [contract["metrics"][m] for m in self.metric_names]
        self._bindings = [self._bind(0), self._bind(1)]
        self._current = 0
        self.steps = 0

    def _bind(self, k):
        """The binding that reads state set k and writes set 1 − k; loss and metrics come back to the CPU."""
        binding = self.session.io_binding()
        for (name_in, name_out), src, dst in zip(self.contract["state"], self._buffers[k], self._buffers[1 - k]):
            binding.bind_ortvalue_input(name_in, src)
            binding.bind_ortvalue_output(name_out, dst)
        for name, value in zip(self.parameter_names, self._parameters):
            binding.bind_ortvalue_input(name, value)
        for name in self._reported:
            binding.bind_output(name, "cpu")
        return binding

    def step(self, feeds):
        """One training step on a batch; returns the loss and metrics (before the update) as floats. The batch
        is checked first (shapes, one batch size, finite values, labels and ids in range), so a bad one changes
        no state."""
        binding = self._bindings[self._current]
        batch = self._checked_batch(self._named(feeds))
        for name, array in zip(self.input_names, batch):
            binding.bind_cpu_input(name, array)
        self.session.run_with_iobinding(binding)
        self._current = 1 - self._current
        self.steps += 1
        reported = binding.get_outputs()[len(self.state_names):]
        return dict(zip(["loss"] + self.metric_names, (float(v.numpy()) for v in reported)))

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
        batch = [checked_feed(self._specs[name], value) for name, value in named]
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


class FitSteps:
    """``Model.fit(backend="onnxruntime")``'s step runner: the compiled model's step exported once to a
    temporary file and run by an ``OnnxTrainer``; ``sync()`` writes the state back into the model's session."""

    def __init__(self, model, device="auto"):
        import tempfile

        from .exporter import to_onnx
        self.model = model
        self.metrics = list(model._compiled["metrics"])
        try:
            folder = tempfile.TemporaryDirectory(prefix="graphcore-step-")
        except OSError as e:
            raise FileWriteError(f"fit(backend='onnxruntime') writes its training step to a temporary file, but "
                                 f"the temporary folder {tempfile.gettempdir()} cannot be written ({e.strerror or e}): "
                                 "set TMPDIR to a writable folder, or use backend='numpy'") from None
        with folder:
            path = os.path.join(folder.name, "step.onnx")
            to_onnx(model, path, training=True)
            self.trainer = OnnxTrainer(path, device)   # the session holds everything it read
        self.description = f"onnxruntime ({self.trainer.provider})"

    def load_from_session(self):
        variables = self.model.session.variables
        names = self.trainer.state_names + self.trainer.parameter_names
        self.trainer.load_state({name: variables[name] for name in names})
        self._parameters = {name: np.array(variables[name]) for name in self.trainer.parameter_names}

    def run(self, x, y):
        """One step; a parameter changed in the session since (a learning-rate callback) is loaded first."""
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
