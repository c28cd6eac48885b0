"""How long the diagrams of the biggest graphs take (issue bar: ResNet-50's op view with gradients < 30 s).

    python tools/bench_render.py

Renders to SVG with graphviz's `dot`; prints seconds per diagram and the number of boxes drawn.
"""
import tempfile
import time
import warnings

import graphcore as gc
from graphcore import models


def main():
    model = models.resnet50()
    model.compile("sgd", "sparse_categorical_crossentropy")
    directory = tempfile.mkdtemp(prefix="graphcore-render-")
    for view in ("layer", "grad", "op"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the large-diagram advice
            dot = gc.render(model, f"{directory}/resnet50-{view}.svg", view=view)
        boxes = dot.source.count("label=<")
        print(f"resnet50 {view:<5} view with gradients: {time.perf_counter() - start:6.1f} s, {boxes} boxes")


if __name__ == "__main__":
    main()
