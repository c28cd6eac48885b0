"""One training step under three engines, interleaved: graphcore's NumPy interpreter, graphcore's exported
step in onnxruntime (a static file, ``batch_size=``, loops as Scans, in ``export.OnnxTrainer`` on the CPU)
and PyTorch CPU eager.

    python tools/bench_train_backends.py                      # all four workloads
    python tools/bench_train_backends.py lenet5 lstm --rounds 15
    python tools/bench_train_backends.py --sizes              # also the exported files' sizes against their state

Every round runs ``--steps`` steps of each engine in turn; the table gives per-step medians and the median of
the per-round ratios to PyTorch (below 1: faster than PyTorch). Workloads (SGD, softmax cross-entropy, one
random batch, the same initial weights in all three engines):

* ``mlp``: 784-512-256-10 ReLU, batch 128;
* ``lenet5``: the zoo's LeNet-5 (tanh, average pooling), batch 64 of 32×32×1;
* ``small_vgg``: VGG16 at a quarter of the width, 256-unit dense layers, batch 32 of 32×32×3;
* ``lstm``: LSTM(128) over T = 50 steps of 64 features → Dense(10), batch 32.
"""
import argparse
import os
import statistics
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_recurrent  # noqa: E402  (the LSTM workload's weights, graphcore graph and PyTorch twin)
import benchmark  # noqa: E402  (the convolutional workloads' PyTorch twins)
from timing import blas_description, seconds_per_call  # noqa: E402  (each engine timed after the others' threads park)

import graphcore as gc  # noqa: E402
from graphcore import export, models  # noqa: E402
from graphcore.trainer import feed_dict  # noqa: E402

WORKLOADS = {}


def workload(fn):
    WORKLOADS[fn.__name__] = fn
    return fn


class Workload:
    """A graphcore graph with its training step, the feeds of one batch, and the PyTorch twin's step."""

    def __init__(self, graph, inputs, loss, step, feeds, session, torch_step):
        self.graph, self.inputs, self.loss, self.step = graph, inputs, loss, step
        self.feeds, self.session, self.torch_step = feeds, session, torch_step

    def numpy_step(self):
        fetches = [self.step, self.loss]
        return lambda: self.session.run(fetches, self.feeds)

    def onnx_step(self, folder):
        """The static step in an OnnxTrainer, as ``fit(backend="onnxruntime")`` trains it on the CPU
        (``batch_size=``, loops kept as ONNX Scans)."""
        path = os.path.join(folder, "step.onnx")
        export.to_onnx(self.graph, path, inputs=self.inputs, outputs=[self.loss], train_op=self.step,
                       session=self.session, batch_size=len(self.feeds[self.inputs[0]]), unroll=False)
        trainer = export.OnnxTrainer(path, device="cpu")
        batch = [self.feeds[t] for t in self.inputs]
        return (lambda: trainer.step(batch)), path


def _torch_sgd_step(module, x, y, lr=0.01):
    import torch
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    tx, ty = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    def run():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(tx), ty).backward()
        opt.step()
    return run


def _from_model(model, torch_module, x, y):
    """A compiled zoo model's step; the twin gets the model's weights (Keras layouts → PyTorch's)."""
    import torch
    model.compile(gc.train.SGD(0.01), "sparse_categorical_crossentropy")
    compiled = model.compilation
    params = [p for p in torch_module.parameters()]
    weights = model.get_weights()
    with torch.no_grad():
        for p, w in zip(params, weights):
            w = np.asarray(w)
            w = w.transpose(3, 2, 0, 1) if w.ndim == 4 else w.T if w.ndim == 2 else w
            p.copy_(torch.from_numpy(np.ascontiguousarray(w)))
    feeds = feed_dict(model, x, y, training=True)
    inputs = [model.input_placeholders[0], compiled.target]
    return Workload(model.graph, inputs, compiled.loss, compiled.train_op, feeds, model.session,
                    _torch_sgd_step(torch_module, x.transpose(0, 3, 1, 2), y))


@workload
def mlp():
    import torch
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(128, 784)).astype(np.float32), rng.integers(0, 10, 128)
    model = models.mlp(input_shape=(784,), num_classes=10, hidden=(512, 256))
    twin = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                               torch.nn.ReLU(), torch.nn.Linear(256, 10))
    model.compile(gc.train.SGD(0.01), "sparse_categorical_crossentropy")
    with torch.no_grad():
        for p, w in zip(twin.parameters(), model.get_weights()):
            p.copy_(torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))
    compiled = model.compilation
    return Workload(model.graph, [model.input_placeholders[0], compiled.target], compiled.loss,
                    compiled.train_op, feed_dict(model, x, y, training=True), model.session,
                    _torch_sgd_step(twin, x, y))


@workload
def lenet5():
    rng = np.random.default_rng(0)
    return _from_model(models.lenet5(), benchmark.lenet5_twin(), rng.normal(size=(64, 32, 32, 1)).astype(np.float32),
                       rng.integers(0, 10, 64))


@workload
def small_vgg():
    rng = np.random.default_rng(0)
    model = models.vgg16(input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=256, dropout=0.0)
    return _from_model(model, benchmark.small_vgg_twin(), rng.normal(size=(32, 32, 32, 3)).astype(np.float32),
                       rng.integers(0, 10, 32))


@workload
def lstm():
    weights, x_data, y_data = bench_recurrent.data("lstm", 32, 50, 64, 128)
    g, x, y, loss, step = bench_recurrent.graphcore_graph("lstm", weights, x_data)
    return Workload(g, [x, y], loss, step, {x: x_data, y: y_data}, gc.Session(g),
                    bench_recurrent.torch_step("lstm", weights, x_data, y_data))


def interleaved(engines, rounds, steps):
    """Per-engine median step time and median per-round ratio to the last engine (PyTorch); each block of
    steps starts after the previous engine's threads have parked (timing.py)."""
    for run in engines.values():
        run()   # warm up: plans, sessions, caches
    times = {name: [] for name in engines}
    for _ in range(rounds):
        for name, run in engines.items():
            times[name].append(seconds_per_call(run, steps))
    reference = list(engines)[-1]
    ratios = {name: statistics.median(t / r for t, r in zip(times[name], times[reference])) for name in engines}
    return {name: statistics.median(t) for name, t in times.items()}, ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*", help=f"default: all of {list(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--sizes", action="store_true", help="report each exported file's size against its state")
    args = parser.parse_args(argv)
    import onnx
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"NumPy's BLAS: {blas_description()}")
    print(f"{'workload':<10} {'numpy':>10} {'onnxrt cpu':>11} {'pytorch':>10}   ratios to PyTorch: numpy, onnxrt")
    for name in args.workloads or list(WORKLOADS):
        work = WORKLOADS[name]()
        with tempfile.TemporaryDirectory() as folder:
            onnx_run, path = work.onnx_step(folder)
            engines = {"numpy": work.numpy_step(), "onnxruntime": onnx_run, "pytorch": work.torch_step}
            medians, ratios = interleaved(engines, args.rounds, args.steps)
            print(f"{name:<10} {medians['numpy'] * 1e3:>7.2f} ms {medians['onnxruntime'] * 1e3:>8.2f} ms "
                  f"{medians['pytorch'] * 1e3:>7.2f} ms   {ratios['numpy']:.2f}, {ratios['onnxruntime']:.2f}")
            if args.sizes:
                proto = onnx.load(path)
                state_bytes = sum(a.nbytes for a in export.initial_values(proto).values())
                other = sum(onnx.numpy_helper.to_array(t).nbytes for t in proto.graph.initializer)
                print(f"{'':<10} file {os.path.getsize(path) / 2**20:.2f} MiB: state {state_bytes / 2**20:.2f} "
                      f"MiB, other constants {other / 2**10:.1f} KiB, graph {proto.graph.ByteSize() / 2**20:.2f} "
                      "MiB in all")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
