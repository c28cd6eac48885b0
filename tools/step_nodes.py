"""Node counts of the zoo's exported SGD training steps, symbolic and static, and what keeps them off a GPU.

    python tools/step_nodes.py [--batch 64] [--full]

One row per zoo classifier (SMALL configuration; the architectures, and so the graphs, are the full ones):
the step's ONNX node count with a symbolic batch (``to_onnx(model, training=True)``), with the batch fixed
(``batch_size=``, loops unrolled), the static file after onnxruntime's basic optimisation, and how many of
its nodes ``export.placement.file_report`` finds that would leave the CUDA provider or stop a CUDA graph.
``--full`` adds ResNet-18 at full width (32×32 and 224×224, 10 classes), the issue's reference steps.
"""
import argparse
import sys

import graphcore as gc
from graphcore import export, models
from graphcore.export import placement


def counts(model, batch):
    model.compile(gc.train.SGD(0.01), "sparse_categorical_crossentropy")
    dynamic = export.to_onnx(model, None, training=True)
    static = export.to_onnx(model, None, training=True, batch_size=batch)
    return len(dynamic.graph.node), len(static.graph.node), len(placement.optimized(static).graph.node), \
        len(placement.file_report(static))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args(argv)
    rows = [(name, lambda name=name: models.small(name, num_classes=10)) for name in models.available("classifier")
            if name != "perceptron"]
    if args.full:
        rows += [("resnet18 32x32", lambda: models.resnet18(input_shape=(32, 32, 3), num_classes=10)),
                 ("resnet18 224x224", lambda: models.resnet18(input_shape=(224, 224, 3), num_classes=10))]
    print(f"SGD training steps, static batch {args.batch}")
    print(f"{'model':<18}{'symbolic':>9}{'static':>8}{'optimised':>11}{'off CUDA':>10}")
    for name, build in rows:
        dynamic, static, optimised, off = counts(build(), args.batch)
        print(f"{name:<18}{dynamic:>9}{static:>8}{optimised:>11}{off:>10}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
