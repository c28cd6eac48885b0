"""Parity check: run an exported file in onnxruntime and the model in graphcore's interpreter, compare.

ONNX input and output names are graphcore tensor names, so the file alone says which tensors to feed and
fetch; only the graph (or model) and the session holding its weights are needed.
"""
from dataclasses import dataclass, field

import numpy as np
import onnx

from .runtime import InferenceSession
from .source import resolve


@dataclass
class CheckResult:
    """Largest absolute and relative differences over all outputs; per output (abs, rel, within tolerance)."""

    max_abs: float
    max_rel: float
    provider: str
    per_output: dict = field(default_factory=dict)
    rtol: float = 1e-4
    atol: float = 1e-5

    @property
    def ok(self):
        """Every element within atol + rtol·|expected| (NumPy's assert_allclose rule)."""
        return all(ok for _, _, ok in self.per_output.values())

    def __str__(self):
        verdict = "ok" if self.ok else "MISMATCH"
        return (f"max abs diff {self.max_abs:.3g}, max rel diff {self.max_rel:.3g} on {self.provider} "
                f"(rtol {self.rtol:g}, atol {self.atol:g}): {verdict}")


def check(path, model_or_graph, feeds=None, session=None, batch_size=2, device="cpu", rtol=1e-4, atol=1e-5,
          seed=0, verbose=True):
    """Compare onnxruntime with the interpreter on ``feeds`` (input name → array; default: random normal
    data with ``batch_size`` for unknown dimensions). Prints and returns a ``CheckResult``."""
    proto = onnx.load(path, load_external_data=False)
    graph_inputs = [i.name for i in proto.graph.input]
    graph_outputs = [o.name for o in proto.graph.output]
    source = resolve(model_or_graph, graph_inputs, graph_outputs, session)
    feeds = dict(feeds) if feeds is not None else random_feeds(source.inputs, batch_size, seed)
    expected = source.session.run(source.outputs, {t: feeds[t.name] for t in source.inputs})
    runtime = InferenceSession(path, device=device)
    actual = runtime.run(feeds)
    actual = actual if len(graph_outputs) > 1 else [actual]
    per_output = {}
    for name, want, got in zip(graph_outputs, expected, actual):
        want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
        if want.shape != got.shape:
            raise AssertionError(f"output {name}: interpreter shape {want.shape}, onnxruntime {got.shape}")
        diff, scale = np.abs(want - got), np.abs(want)
        rel = diff / np.maximum(scale, np.finfo(np.float32).tiny)
        per_output[name] = (float(diff.max(initial=0)), float(rel.max(initial=0)),
                            bool(np.all(diff <= atol + rtol * scale)))
    result = CheckResult(max(v[0] for v in per_output.values()), max(v[1] for v in per_output.values()),
                         runtime.provider, per_output, rtol, atol)
    if verbose:
        print(f"{path}: {result}")
    return result


def random_feeds(inputs, batch_size=2, seed=0):
    """Random data for input tensors: normal floats, zeros for integers and booleans (valid indices)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for t in inputs:
        shape = tuple(batch_size if d is None else d for d in t.shape)
        feeds[t.name] = rng.standard_normal(shape).astype(t.dtype) if t.dtype.kind == "f" else np.zeros(shape, t.dtype)
    return feeds
