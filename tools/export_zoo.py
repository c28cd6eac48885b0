"""Export every zoo model to ONNX and check it against the interpreter with ``export.check``.

    python tools/export_zoo.py [--out DIR] [--opset N] [--batch 2]

Prints one row per model: ONNX node count, file size, and the max abs/rel difference between onnxruntime
(CPU) and graphcore's interpreter. Models are built at small input sizes (and widths) so the whole zoo runs in
seconds; the architectures — and so the exported graphs — are the full ones. Exit status 1 on any mismatch.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

from graphcore import export, models

def build(name):
    """A small zoo model with non-trivial batch-norm statistics (so the moving ones visibly matter)."""
    model = models.small(name) if name == "perceptron" else models.small(name, num_classes=5)
    rng = np.random.default_rng(0)
    for var in model.weights:
        if var.node.name.endswith(("moving_mean", "moving_variance")):
            value = rng.uniform(0.5, 1.5, var.shape) if "variance" in var.node.name else rng.normal(0, 0.1, var.shape)
            model.session.variables[var.node.name] = value.astype(var.dtype)
    return model


def export_and_check(name, directory, opset=None, batch_size=2):
    """Export zoo model ``name`` into ``directory`` and compare it with the interpreter."""
    model = build(name)
    path = os.path.join(directory, f"{name}.onnx")
    proto = export.to_onnx(model, path, opset=opset)
    result = export.check(path, model, batch_size=batch_size, verbose=False)
    return proto, path, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="directory for the .onnx files (default: a temporary one)")
    parser.add_argument("--opset", type=int, default=None)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args(argv)
    directory = args.out or tempfile.mkdtemp(prefix="graphcore-onnx-")
    os.makedirs(directory, exist_ok=True)
    print(f"{'model':<12}{'nodes':>7}{'size':>10}  {'max abs diff':>13}{'max rel diff':>14}  ok")
    failures = 0
    for name in models.available("classifier"):
        proto, path, result = export_and_check(name, directory, args.opset, args.batch)
        failures += not result.ok
        print(f"{name:<12}{len(proto.graph.node):>7}{os.path.getsize(path) / 1e3:>9.0f}k  "
              f"{result.max_abs:>13.2e}{result.max_rel:>14.2e}  {'yes' if result.ok else 'NO'}")
    print(f"files in {directory}; onnxruntime provider: {result.provider}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
