"""Speed of imported ONNX models in graphcore's interpreter, against onnx.reference and onnxruntime.

    python tools/bench_import.py [--rounds 5] [--reference-rounds 3]

The model is the ResNet-50 of the onnx wheel (``onnx/backend/test/data/light/light_resnet50.onnx``: the full
architecture at 224×224, batch 1, its weights filled by ConstantOfShape), fed onnx's runner input
(``arange(n) / n``). All three engines run the same file on the CPU, interleaved round by round (timings on
these 2-core machines drift); each figure is the median over rounds, and the ratios are per-round medians.
onnx.reference is ~10 s a run, so it runs in the first ``--reference-rounds`` rounds only.
"""
import argparse
import os
import statistics
import time

import numpy as np
import onnx
import onnxruntime
from onnx.reference import ReferenceEvaluator

from graphcore import export
from timing import SETTLE_SECONDS   # tools/ is the script's folder

MODEL = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_resnet50.onnx")


def _timed(fn):
    time.sleep(SETTLE_SECONDS)   # the previous engine's spinning threads park first (timing.py)
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reference-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    import_s, imported = _timed(lambda: export.from_onnx(MODEL))
    (name, ph), = imported.inputs.items()
    n = int(np.prod(ph.shape))
    x = (np.arange(n, dtype=np.float32) / n).reshape(ph.shape)
    ort = onnxruntime.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    reference = ReferenceEvaluator(onnx.load(MODEL))
    engines = {"graphcore": lambda: imported.run({name: x}),
               "onnxruntime": lambda: ort.run(None, {name: x}),
               "onnx.reference": lambda: reference.run(None, {name: x})}
    for fn in list(engines.values())[:2]:   # warm up (plans, allocations)
        fn()
    times = {k: [] for k in engines}
    outputs = {}
    for r in range(args.rounds):
        for key, fn in engines.items():
            if key == "onnx.reference" and r >= args.reference_rounds:
                continue
            seconds, out = _timed(fn)
            times[key].append(seconds)
            outputs[key] = np.asarray(list(out.values())[0] if isinstance(out, dict) else out[0])
    gap = max(float(np.abs(outputs["graphcore"] - outputs[k]).max()) for k in ("onnxruntime", "onnx.reference"))
    med = {k: statistics.median(v) for k, v in times.items()}
    ref_ratio = statistics.median(b / a for a, b in zip(times["graphcore"], times["onnx.reference"]))
    ort_ratio = statistics.median(a / b for a, b in zip(times["graphcore"], times["onnxruntime"]))
    print(f"ResNet-50 (onnx's light model), 224x224, batch 1; import {import_s:.2f} s; max output difference {gap:.1e}")
    for key, value in med.items():
        print(f"  {key:15s} median {value * 1000:9.1f} ms over {len(times[key])} runs")
    print(f"  graphcore is {ref_ratio:.1f}x faster than onnx.reference and {ort_ratio:.1f}x slower than onnxruntime"
          " (medians of per-round ratios)")


if __name__ == "__main__":
    main()
