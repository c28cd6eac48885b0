"""CPU milliseconds per interpreter training step, for comparing two checkouts on a busy machine.

    OPENBLAS_NUM_THREADS=1 python tools/bench_step_cpu.py lenet5 [--steps 15]

Wall-clock ratios against PyTorch (tools/benchmark.py) swing widely while other work shares the cores; the
CPU time one process spends on a step moves much less. Copy this file into the other checkout's tools/, run
it with each checkout's Python in turn (one BLAS thread, so no thread spins while it waits), alternating, and
compare the medians: that is how the layered core (issue 24) was checked for speed loss. Workloads are tools/benchmark.py's: the MLP (b128), LeNet-5 (b64)
and small VGG (b32) through ``Model.train_on_batch`` with SGD; the LSTM and GRU (T = 50, b32) through
``Session.run``.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_recurrent  # noqa: E402

import graphcore as gc  # noqa: E402
from graphcore import models  # noqa: E402


def model_step(name, rng):
    """A zero-argument training step of a zoo model on a fixed random batch."""
    if name == "mlp":
        model, x = models.mlp(input_shape=(784,), num_classes=10, hidden=(512, 256)), rng.normal(size=(128, 784))
    elif name == "lenet5":
        model, x = models.lenet5(), rng.normal(size=(64, 32, 32, 1))
    else:
        model = models.vgg16(input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=256, dropout=0.0)
        x = rng.normal(size=(32, 32, 32, 3))
    x, y = x.astype(np.float32), rng.integers(0, 10, len(x))
    model.compile(gc.train.SGD(0.01), "sparse_categorical_crossentropy")
    return lambda: model.train_on_batch(x, y)


def recurrent_step(kind):
    """A zero-argument training step of the benchmark's recurrent graph."""
    weights, x_data, y_data = bench_recurrent.data(kind, 32, 50, 64, 128)
    graph, x, y, _, step = bench_recurrent.graphcore_graph(kind, weights, x_data)
    session, feed = gc.Session(graph), {x: x_data, y: y_data}
    return lambda: session.run(step, feed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["mlp", "lenet5", "small_vgg", "lstm", "gru"])
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    step = recurrent_step(args.workload) if args.workload in ("lstm", "gru") else model_step(args.workload, rng)
    for _ in range(3):   # plans, initialises, compiles the plan
        step()
    times = []
    for _ in range(args.steps):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    print(f"{args.workload}: {statistics.median(times) * 1e3:.2f} ms CPU per step (median of {args.steps})")


if __name__ == "__main__":
    main()
