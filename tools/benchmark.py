"""Training-step benchmarks against PyTorch CPU, interleaved in one run.

Timings on shared machines swing wildly, so each case alternates rounds of graphcore and PyTorch steps and
reports the median of the per-round ratios (graphcore time / PyTorch time; below 1 means graphcore is faster)
and their range.

    python tools/benchmark.py                 # the five workloads (mlp lenet5 gru small_vgg lstm), then overhead
    python tools/benchmark.py mlp overhead    # chosen cases
    python tools/benchmark.py --rounds 15
    OPENBLAS_NUM_THREADS=1 python tools/benchmark.py --threads 1 --clock cpu   # on a busy machine

The first line names the BLAS kernel NumPy ran (see ``timing.blas_description``): ``bash tools/run.sh bench``
lifts a machine-wide ``OPENBLAS_CORETYPE`` so that OpenBLAS picks this processor's own kernel, as it does on
a user's machine; run this script directly to measure under whatever the environment sets.

A case is a function returning (graphcore_step, torch_step): two zero-argument callables doing one training
step each on identical shapes. Register new cases with ``@case("name")``.
"""
import argparse
import collections
import os
import statistics
import sys
import time

import numpy as np

import graphcore as gc
from graphcore.trainer import feed_dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import blas_description, seconds_per_call  # noqa: E402

CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


class Ratio(collections.namedtuple("Ratio", "ratio ours theirs low high")):
    """Median ratio, median seconds per step of each engine, and the lowest and highest round ratio."""


def interleaved_ratio(ours, theirs, rounds, steps, clock=time.perf_counter):
    """Median over rounds of (time of `steps` calls of ours) / (time of `steps` calls of theirs), each block
    timed after the other engine's threads have parked (see timing.py)."""
    ours(), theirs()  # warm up: plans, caches, lazy initialisation
    ratios, our_times, their_times = [], [], []
    for _ in range(rounds):
        our_times.append(seconds_per_call(ours, steps, clock))
        their_times.append(seconds_per_call(theirs, steps, clock))
        ratios.append(our_times[-1] / their_times[-1])
    return Ratio(statistics.median(ratios), statistics.median(our_times), statistics.median(their_times),
                 min(ratios), max(ratios))


@case("mlp")
def mlp_784_512_256_10():
    """MLP 784-512-256-10, ReLU, softmax cross-entropy, SGD; batch 128 of random data."""
    import torch
    rng = np.random.default_rng(0)
    x_data = rng.normal(size=(128, 784)).astype(np.float32)
    y_data = rng.integers(0, 10, size=128)
    sizes = [784, 512, 256, 10]
    weights = [(rng.normal(size=(a, b)) * np.sqrt(2 / a)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]

    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 784), name="x")
        y = gc.placeholder(gc.int64, (None,), name="y")
        h = x
        for i, w in enumerate(weights):
            with gc.name_scope(f"dense_{i}"):
                W = gc.Variable(w, name="kernel")
                b = gc.Variable(np.zeros(w.shape[1], np.float32), name="bias")
                h = h @ W + b
                if i < len(weights) - 1:
                    h = gc.relu(h)
        loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy_with_logits(y, h))
        step = gc.train.SGD(0.01).minimize(loss)
        g.finalize()
    sess = gc.Session(g)
    feed = {x: x_data, y: y_data}

    layers = []
    for w in weights:
        linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T))
            linear.bias.zero_()
        layers += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(x_data), torch.from_numpy(y_data)

    def torch_step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(tx), ty).backward()
        opt.step()

    return (lambda: sess.run(step, feed)), torch_step


def _model_case(model, torch_model, x_data, y_data):
    """Training steps (SGD, softmax cross-entropy) of a zoo model and its PyTorch twin on the same batch."""
    import torch
    model.compile(gc.train.SGD(0.01), "sparse_categorical_crossentropy")
    compiled = model.compilation
    feed = feed_dict(model, x_data, y_data, training=True)
    opt = torch.optim.SGD(torch_model.parameters(), lr=0.01)
    tx = torch.from_numpy(np.ascontiguousarray(x_data.transpose(0, 3, 1, 2)))
    ty = torch.from_numpy(y_data)

    def torch_step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(torch_model(tx), ty).backward()
        opt.step()

    return (lambda: model.session.run(compiled.train_op, feed)), torch_step


def lenet5_twin():
    """LeNet-5 in PyTorch: the zoo's layers (tanh, average pooling)."""
    from torch import nn
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                         nn.AvgPool2d(2), nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(), nn.Linear(120, 84),
                         nn.Tanh(), nn.Linear(84, 10))


def small_vgg_twin():
    """VGG16 at a quarter of the width (16…128 channels, 256-unit dense layers) in PyTorch."""
    from torch import nn
    blocks, channels, twin = (2, 2, 3, 3, 3), 3, []
    for block, convs in enumerate(blocks):
        width = min(64 * 2 ** block, 512) // 4
        for _ in range(convs):
            twin += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        twin.append(nn.MaxPool2d(2))
    twin += [nn.Flatten(), nn.Linear(channels, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)]
    return nn.Sequential(*twin)


@case("lenet5")
def lenet5_batch64():
    """LeNet-5 (tanh, average pooling) on a batch of 64 32×32×1 images."""
    from graphcore import models
    rng = np.random.default_rng(0)
    return _model_case(models.lenet5(), lenet5_twin(), rng.normal(size=(64, 32, 32, 1)).astype(np.float32),
                       rng.integers(0, 10, 64))


@case("small_vgg")
def small_vgg_batch32():
    """VGG16 at a quarter of the width (16…128 channels, 256-unit dense layers) on 32 32×32×3 images."""
    from graphcore import models
    rng = np.random.default_rng(0)
    model = models.vgg16(input_shape=(32, 32, 3), num_classes=10, width=0.25, fc_units=256)
    return _model_case(model, small_vgg_twin(), rng.normal(size=(32, 32, 32, 3)).astype(np.float32),
                       rng.integers(0, 10, 32))


def _recurrent(cell):
    import bench_recurrent
    return bench_recurrent.case(cell, batch=32, steps=50, features=64, units=128)


@case("gru")
def gru_b32_t50():
    """GRU(128) (reset_after, PyTorch's form) → Dense(10) over 50 steps of 64 features, batch 32."""
    return _recurrent("gru")


@case("lstm")
def lstm_b32_t50():
    """LSTM(128) → Dense(10) over 50 steps of 64 features, batch 32."""
    return _recurrent("lstm")


@case("simple_rnn")
def simple_rnn_b32_t50():
    """SimpleRNN(128) (tanh) → Dense(10) over 50 steps of 64 features, batch 32 (not in the default table)."""
    return _recurrent("simple_rnn")


# The table, in its order; ``overhead`` (µs per interpreted node) follows it by default.
WORKLOADS = ["mlp", "lenet5", "gru", "small_vgg", "lstm"]


def chain_overhead(length=10_000):
    """Per-node interpreter overhead: a chain of tiny elementwise ops on a 4-element vector."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (4,), name="x")
        h = x
        for _ in range(length // 2):
            h = gc.tanh(h * 0.5)
    sess = gc.Session(g)
    feed = {x: np.ones(4, np.float32)}
    sess.run(h, feed)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        sess.run(h, feed)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / length


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", help=f"cases to run (default: all of {sorted(CASES)} and overhead)")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's threads (NumPy's BLAS: set "
                        "OPENBLAS_NUM_THREADS before starting)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time, steadier than wall time on a loaded machine (use it "
                             "with one thread per engine, where CPU time is the work done)")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    chosen = args.cases or WORKLOADS + ["overhead"]
    print(f"NumPy's BLAS: {blas_description()}; PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':<12} {'graphcore':>12} {'pytorch':>12} {'median ratio':>13} {'range':>12}")
    for name in chosen:
        if name == "overhead":
            per_node = chain_overhead()
            print(f"{'overhead':<12} {per_node * 1e6:>9.2f} µs per node (chain of 10,000 tiny elementwise ops)")
            continue
        ours, theirs = CASES[name]()
        r = interleaved_ratio(ours, theirs, args.rounds, args.steps, clock)
        print(f"{name:<12} {r.ours * 1e3:>9.2f} ms {r.theirs * 1e3:>9.2f} ms {r.ratio:>13.2f} "
              f"{f'{r.low:.2f}–{r.high:.2f}':>12}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
