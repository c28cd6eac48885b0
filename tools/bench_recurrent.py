"""LSTM, GRU and SimpleRNN classifier training steps, graphcore against PyTorch CPU, interleaved.

    python tools/bench_recurrent.py                     # LSTM, batch 32, T = 50, 64 features, 128 units
    python tools/bench_recurrent.py --cell gru --steps 100 --rounds 15

The model is LSTM(128), GRU(128) or SimpleRNN(128) → Dense(10) → softmax cross-entropy, trained with SGD, on one random batch;
both engines start from the same weights (Keras layouts for graphcore, converted to PyTorch's gate rows).
The ratio is graphcore time / PyTorch time per step, the median over interleaved rounds (see benchmark.py);
``benchmark.py`` runs the b32 T50 64→128 cases as ``lstm`` and ``gru``, ``bench_memory.py`` the LSTM at T = 1000.
"""
import argparse
import os

import numpy as np

import graphcore as gc
from graphcore import recurrent

GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
# Keras gate columns → PyTorch's gate rows: LSTM i, f, c, o = i, f, g, o; GRU z, r, h → r, z, n.
TORCH_ORDER = {"lstm": [0, 1, 2, 3], "gru": [1, 0, 2], "simple_rnn": [0]}
TORCH_MODULE = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "RNN"}


def _weights(rng, cell, features, units, classes):
    scale, gates = np.float32(1 / np.sqrt(units)), GATES[cell]
    bias_shape = (2, gates * units) if cell == "gru" else (gates * units,)   # GRU: input and recurrent bias
    return [rng.uniform(-scale, scale, size=shape).astype(np.float32) for shape in
            [(features, gates * units), (units, gates * units), bias_shape, (units, classes), (classes,)]]


def graphcore_graph(cell, weights, x_data):
    """The model's graph: (graph, x, y, loss, SGD step), finalized."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None,) + x_data.shape[1:], name="x")
        y = gc.placeholder(gc.int64, (None,), name="y")
        kernel, recurrent_kernel, bias, dense, dense_bias = [gc.Variable(w, name=n) for w, n in zip(
            weights, ["kernel", "recurrent_kernel", "bias", "dense", "dense_bias"])]
        h = getattr(recurrent, cell)(x, kernel, recurrent_kernel, bias)
        loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy_with_logits(y, h @ dense + dense_bias))
        step = gc.train.SGD(0.01).minimize(loss)
        g.finalize()
    return g, x, y, loss, step


def graphcore_step(cell, weights, x_data, y_data):
    """A zero-argument callable running one SGD training step of the graphcore model."""
    g, x, y, _, step = graphcore_graph(cell, weights, x_data)
    sess = gc.Session(g)
    feed = {x: x_data, y: y_data}
    return lambda: sess.run(step, feed)


def _torch_rows(w, cell):
    """A Keras (in, gates·U) matrix or (gates·U,) bias as PyTorch's (gates·U, in) rows in its gate order."""
    parts = np.split(w, GATES[cell], axis=-1)
    return np.ascontiguousarray(np.concatenate([parts[k] for k in TORCH_ORDER[cell]], axis=-1).T)


def torch_step(cell, weights, x_data, y_data):
    import torch
    kernel, recurrent_kernel, bias, dense, dense_bias = weights
    units = recurrent_kernel.shape[0]
    rnn = getattr(torch.nn, TORCH_MODULE[cell])(kernel.shape[0], units, batch_first=True)
    linear = torch.nn.Linear(units, dense.shape[1])
    input_bias, recurrent_bias = bias if cell == "gru" else (bias, np.zeros_like(bias))
    with torch.no_grad():
        for name, value in [("weight_ih_l0", kernel), ("weight_hh_l0", recurrent_kernel),
                            ("bias_ih_l0", input_bias), ("bias_hh_l0", recurrent_bias)]:
            getattr(rnn, name).copy_(torch.from_numpy(_torch_rows(value, cell)))
        linear.weight.copy_(torch.from_numpy(dense.T))
        linear.bias.copy_(torch.from_numpy(dense_bias))
    opt = torch.optim.SGD(list(rnn.parameters()) + list(linear.parameters()), lr=0.01)
    tx, ty = torch.from_numpy(x_data), torch.from_numpy(y_data)

    def run():
        opt.zero_grad()
        _, state = rnn(tx)
        h = state[0] if cell == "lstm" else state
        torch.nn.functional.cross_entropy(linear(h[0]), ty).backward()
        opt.step()
    return run


def data(cell, batch=32, steps=50, features=64, units=128, classes=10, seed=0):
    """(weights, x, y) of one cell's workload."""
    rng = np.random.default_rng(seed)
    weights = _weights(rng, cell, features, units, classes)
    return weights, rng.normal(size=(batch, steps, features)).astype(np.float32), rng.integers(0, classes, batch)


def case(cell, batch=32, steps=50, features=64, units=128, classes=10, seed=0):
    """(graphcore_step, torch_step) of one cell on identical weights and data."""
    weights, x_data, y_data = data(cell, batch, steps, features, units, classes, seed)
    return graphcore_step(cell, weights, x_data, y_data), torch_step(cell, weights, x_data, y_data)


def main(argv=None):
    from benchmark import interleaved_ratio
    from timing import blas_description
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cell", choices=sorted(GATES), default="lstm")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50, help="sequence length T")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3, help="training steps per round and engine")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    ours, theirs = case(args.cell, args.batch, args.steps, args.features, args.units)
    print(f"NumPy's BLAS: {blas_description()}")
    result = interleaved_ratio(ours, theirs, args.rounds, args.repeat)
    print(f"{args.cell}  batch {args.batch}, T = {args.steps}, {args.features} features, {args.units} units: "
          f"graphcore {result.ours * 1e3:.1f} ms, PyTorch {result.theirs * 1e3:.1f} ms, median ratio "
          f"{result.ratio:.2f} (range {result.low:.2f}–{result.high:.2f})")


if __name__ == "__main__":
    main()
