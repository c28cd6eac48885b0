"""graphcore as an ONNX backend (``onnx.backend.base.Backend``), so onnx's own conformance runner can drive it.

    from graphcore.export import backend
    rep = backend.prepare(model)          # imports the model (onnx_safety checks included)
    outputs = rep.run([x])                # the interpreter; outputs in the model's output order

Shapes given as graph inputs: some models (and most of onnx's node cases for Reshape, Expand, Tile, Slice…)
feed a shape, axes or pads as a graph input. graphcore needs those when building, so the first ``run`` that
meets one imports the model again with those inputs bound to the values it was given, and keeps that import
for later runs with the same values (a specialisation, as tracing backends do). Every other input stays a
placeholder.
"""
import numpy as np
from onnx.backend.base import Backend, BackendRep

from .from_onnx import from_onnx
from .import_registry import NeedsStaticValue, OnnxImportError


class GraphcoreRep(BackendRep):
    """A prepared model: ``run(inputs)`` with inputs as a list (graph-input order) or a dict by name."""

    def __init__(self, model):
        self.model = model
        initialized = {t.name for t in model.graph.initializer}
        self.input_names = [v.name for v in model.graph.input if v.name not in initialized]
        self.output_names = [v.name for v in model.graph.output]
        self._imports = {}
        self._bound = ()
        try:
            self._imports[()] = from_onnx(model)
        except NeedsStaticValue as e:
            self._bound = tuple(e.names)

    def run(self, inputs, **kwargs):
        feeds = dict(inputs) if isinstance(inputs, dict) else dict(zip(self.input_names, inputs))
        imported = self._specialised(feeds)
        outputs = imported.run({k: np.asarray(v) for k, v in feeds.items() if k in imported.inputs})
        return [outputs[name] for name in self.output_names]

    def _specialised(self, feeds):
        while True:
            missing = [n for n in self._bound if n not in feeds]
            if missing:
                raise OnnxImportError(f"inputs {missing} are needed to import the model but were not given")
            key = tuple((n, np.asarray(feeds[n]).tobytes()) for n in self._bound)
            if key in self._imports:
                return self._imports[key]
            try:
                self._imports[key] = from_onnx(self.model, static_inputs={n: feeds[n] for n in self._bound})
                return self._imports[key]
            except NeedsStaticValue as e:
                more = tuple(n for n in e.names if n not in self._bound)
                if not more:
                    raise
                self._bound += more


class GraphcoreBackend(Backend):
    """``prepare``/``run_model``/``supports_device`` over ``from_onnx`` and the interpreter."""

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        super().prepare(model, device, **kwargs)
        return GraphcoreRep(model)

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device):
        """The interpreter runs on the CPU (NumPy)."""
        return str(device).upper().startswith("CPU")


prepare = GraphcoreBackend.prepare
run_model = GraphcoreBackend.run_model
supports_device = GraphcoreBackend.supports_device
