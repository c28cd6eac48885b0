"""LSTM classifier training step against PyTorch CPU, interleaved; and the peak memory of a long sequence.

    python tools/bench_lstm.py                  # ratio for batch 32, T = 50, 64 features, 128 units
    python tools/bench_lstm.py --rounds 15 --steps 5
    python tools/bench_lstm.py --memory 1000    # peak traced memory of one graphcore training step at T = 1000

The model is LSTM(128) → Dense(10) → softmax cross-entropy, trained with SGD, on one random batch; both
engines start from the same weights (Keras layouts for graphcore, converted to PyTorch's i, f, g, o rows).
The ratio is graphcore time / PyTorch time per step, the median over interleaved rounds (see benchmark.py).
"""
import argparse
import os
import sys
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark import interleaved_ratio  # noqa: E402

import graphcore as gc  # noqa: E402
from graphcore import recurrent  # noqa: E402


def _weights(rng, features, units, classes):
    scale = np.float32(1 / np.sqrt(units))
    return [rng.uniform(-scale, scale, size=shape).astype(np.float32) for shape in
            [(features, 4 * units), (units, 4 * units), (4 * units,), (units, classes), (classes,)]]


def graphcore_step(weights, x_data, y_data):
    """A zero-argument callable running one SGD training step of the graphcore model."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None,) + x_data.shape[1:], name="x")
        y = gc.placeholder(gc.int64, (None,), name="y")
        kernel, recurrent_kernel, bias, dense, dense_bias = [gc.Variable(w, name=n) for w, n in zip(
            weights, ["kernel", "recurrent_kernel", "bias", "dense", "dense_bias"])]
        h = recurrent.lstm(x, kernel, recurrent_kernel, bias)
        loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy_with_logits(y, h @ dense + dense_bias))
        step = gc.train.SGD(0.01).minimize(loss)
        g.finalize()
    sess = gc.Session(g)
    feed = {x: x_data, y: y_data}
    return lambda: sess.run(step, feed)


def torch_step(weights, x_data, y_data):
    import torch
    kernel, recurrent_kernel, bias, dense, dense_bias = weights
    units = recurrent_kernel.shape[0]
    lstm = torch.nn.LSTM(kernel.shape[0], units, batch_first=True)
    linear = torch.nn.Linear(units, dense.shape[1])
    # Keras gate columns i, f, c, o are PyTorch's rows i, f, g, o: the same order, transposed.
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent_kernel.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
        linear.weight.copy_(torch.from_numpy(dense.T))
        linear.bias.copy_(torch.from_numpy(dense_bias))
    params = list(lstm.parameters()) + list(linear.parameters())
    opt = torch.optim.SGD(params, lr=0.01)
    tx, ty = torch.from_numpy(x_data), torch.from_numpy(y_data)

    def run():
        opt.zero_grad()
        _, (h, _) = lstm(tx)
        torch.nn.functional.cross_entropy(linear(h[0]), ty).backward()
        opt.step()
    return run


def data(batch, steps, features, units, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return (_weights(rng, features, units, classes), rng.normal(size=(batch, steps, features)).astype(np.float32),
            rng.integers(0, classes, batch))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50, help="sequence length T")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3, help="training steps per round and engine")
    parser.add_argument("--memory", type=int, metavar="T", help="only measure the peak memory of one step at T")
    args = parser.parse_args(argv)
    if args.memory:
        weights, x_data, y_data = data(args.batch, args.memory, args.features, args.units)
        step = graphcore_step(weights, x_data, y_data)
        step()   # plan and initialise first: measure the step, not the set-up
        tracemalloc.start()
        step()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"graphcore LSTM training step, batch {args.batch}, T = {args.memory}, {args.features} features, "
              f"{args.units} units: peak traced memory {peak / 2 ** 20:.1f} MiB "
              f"(input batch {x_data.nbytes / 2 ** 20:.1f} MiB)")
        return
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    weights, x_data, y_data = data(args.batch, args.steps, args.features, args.units)
    ratio, ours, theirs = interleaved_ratio(graphcore_step(weights, x_data, y_data),
                                            torch_step(weights, x_data, y_data), args.rounds, args.repeat)
    print(f"lstm  batch {args.batch}, T = {args.steps}, {args.features} features, {args.units} units: "
          f"graphcore {ours * 1e3:.1f} ms, PyTorch {theirs * 1e3:.1f} ms, median ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
