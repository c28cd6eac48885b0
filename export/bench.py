"""Latency and throughput of an ONNX file in onnxruntime, per batch size, through ``InferenceSession``'s paths
(``graphcore bench MODEL.onnx``):

* **numpy**: ``run(x)`` with NumPy in and out — the baseline: every call copies the batch to the device and
  the outputs back;
* **device**: a session with ``batch_size`` fixed, the batch already in its input buffers and the outputs left
  in its output buffers (``run(output="device")``): what a serving loop whose data stays on the device pays;
* **cuda graph**: the same, captured as a CUDA graph (CUDA only).

Each figure is the median over ``repeats`` blocks of ``calls`` consecutive runs, after warm-up runs (the first
runs pick cuDNN algorithms and, with CUDA graphs, capture).
"""
import statistics
import time

import numpy as np

from graphcore.errors import ServingError

from .runtime import InferenceSession, numpy_type

PATHS = ("numpy", "device", "cuda graph")


def input_arrays(session, batch, seed=0):
    """Random normal floats (zeros for other types) for every input, the leading dimension ``batch``."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for spec in session.inputs:
        shape = [batch if k == 0 else d for k, d in enumerate(spec.shape)]
        if not all(isinstance(d, int) for d in shape):
            raise ServingError(f"input '{spec.name}' has shape {spec.shape}: only the leading (batch) dimension may "
                               "be unknown for a benchmark")
        floating = spec.type in ("tensor(float)", "tensor(double)", "tensor(float16)", "tensor(bfloat16)")
        arrays[spec.name] = (rng.standard_normal(shape).astype(np.float32) if floating
                             else np.zeros(shape, numpy_type(spec.type)))
    return arrays


def milliseconds(run, calls, repeats, warmup=3):
    """Median over ``repeats`` blocks of the mean milliseconds of ``calls`` runs."""
    for _ in range(warmup):
        run()
    blocks = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        blocks.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(blocks)


def bench(model, device="auto", batch_sizes=(1, 8, 32), precision=None, calls=20, repeats=5,
          provider_options=None):
    """Rows ``{"batch", "path", "ms", "per_second", "speedup"}`` (speedup: the NumPy path's ms over this
    path's, at the same batch) and the provider that ran them."""
    rows, provider = [], None
    baseline = InferenceSession(model, device=device, precision=precision, provider_options=provider_options)
    provider = baseline.provider
    for batch in batch_sizes:
        feeds = input_arrays(baseline, batch)
        numpy_ms = milliseconds(lambda: baseline.run(feeds), calls, repeats)
        timings = [("numpy", numpy_ms)]
        graphs = (False, True) if baseline.device == "cuda" else (False,)
        for graph in graphs:
            fixed = InferenceSession(model, device=device, batch_size=batch, cuda_graph=graph, precision=precision,
                                     provider_options=provider_options)
            fixed.run(feeds)   # the batch goes into the fixed input buffers once
            timings.append(("cuda graph" if graph else "device",
                            milliseconds(lambda s=fixed: s.run(output="device"), calls, repeats)))
        rows += [{"batch": batch, "path": path, "ms": ms, "per_second": batch / ms * 1e3, "speedup": numpy_ms / ms}
                 for path, ms in timings]
    return rows, provider


def table(rows):
    """The rows as aligned text: batch, path, ms per batch, items per second, speedup over NumPy."""
    lines = [f"{'batch':>6}  {'path':<11} {'ms/batch':>9} {'items/s':>11} {'vs numpy':>9}"]
    lines += [f"{r['batch']:>6}  {r['path']:<11} {r['ms']:>9.3f} {r['per_second']:>11,.0f} {r['speedup']:>8.2f}×"
              for r in rows]
    return "\n".join(lines)
