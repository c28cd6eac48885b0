"""The nine whole architectures of the onnx wheel, imported and run by graphcore, against their shipped outputs.

    python tools/onnx_light_models.py

``onnx/backend/test/data/light/``: AlexNet, ZFNet-512, VGG-19, ResNet-50, Inception v1 and v2, SqueezeNet,
ShuffleNet, DenseNet-121, each with the output onnx's runner expects for the input ``arange(n) / n`` in the
declared shape. The test suite runs the five cheapest (tests/test_onnx_import.py); this runs all nine.
"""
import os
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

from graphcore import export

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def check(name):
    """(import seconds, run seconds, max abs difference, within onnx's tolerance rtol 1e-3, atol 1e-7)."""
    start = time.perf_counter()
    imported = export.from_onnx(os.path.join(LIGHT, name + ".onnx"))
    imported_at = time.perf_counter()
    feeds = {}
    for key, ph in imported.inputs.items():
        n = int(np.prod(ph.shape))
        feeds[key] = (np.arange(n, dtype=ph.dtype) / n).reshape(ph.shape)
    (got,) = imported.run(feeds).values()
    done = time.perf_counter()
    expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(LIGHT, name + "_output_0.pb")))
    ok = got.shape == expected.shape and np.allclose(got, expected, rtol=1e-3, atol=1e-7)
    return imported_at - start, done - imported_at, float(np.abs(got - expected).max()), ok


def main():
    names = sorted(f[:-5] for f in os.listdir(LIGHT) if f.endswith(".onnx"))
    print(f"| model | import s | run s | max abs diff | matches |\n|---|---:|---:|---:|:---:|")
    failures = 0
    for name in names:
        imp, run, diff, ok = check(name)
        failures += not ok
        print(f"| {name} | {imp:.1f} | {run:.1f} | {diff:.1e} | {'yes' if ok else 'NO'} |")
    print(f"{len(names) - failures} of {len(names)} match")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
