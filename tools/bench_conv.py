"""Achieved GFLOP/s of the convolution kernels against the machine's sgemm peak, on small VGG's layers.

    python tools/bench_conv.py              # batch 32, the 13 convolutions of VGG16 at width 0.25 on 32×32×3
    python tools/bench_conv.py --repeat 9

For each distinct layer shape: forward (``conv2d``), input gradient and filter gradient (the backward pass),
timed as the best of ``--repeat`` calls, and PyTorch's forward and backward of the same layer for reference.
Best, not median: this measures what a kernel achieves, and on a shared machine the fastest call is the one
least disturbed by other processes (ratios of whole training steps, in benchmark.py, are interleaved medians).
A convolution costs 2·N·Ho·Wo·O·C·kh·kw FLOPs per pass. The sgemm peak is the best of NumPy float32
1024×1024 products, measured in the same run.

The last line is the floor of the im2col design: the three matrix products of each layer (forward, input
gradient as the flipped-filter convolution, filter gradient) timed alone, on operands already gathered. No
gather, chunking or layout work can take the kernels below it; PyTorch's whole convolutions are beside it.
"""
import argparse

import numpy as np

from graphcore.kernels import conv
from timing import best_seconds, blas_description   # tools/ is the script's folder


def sgemm_peak(repeat, size=1024):
    a = np.random.default_rng(0).normal(size=(size, size)).astype(np.float32)
    out = np.empty_like(a)
    return 2 * size ** 3 / best_seconds(lambda: np.matmul(a, a, out=out), repeat) / 1e9


def small_vgg_layers(batch=32, size=32):
    """(N, C, H, W, O) of each convolution (3×3, pad 1) of VGG16 at a quarter width on size×size×3 input."""
    layers, channels = [], 3
    for block, convs in enumerate((2, 2, 3, 3, 3)):
        width = min(64 * 2 ** block, 512) // 4
        for _ in range(convs):
            layers.append((batch, channels, size, size, width))
            channels = width
        size //= 2
    return layers


def products_alone(n, c, h, w, o, repeat, rng):
    """Seconds of the im2col matrix products of one 3×3 'same' layer, operands gathered beforehand:
    (forward, input gradient, filter gradient), the passes the other columns time."""
    rows = n * h * w
    cols, dcols, dy = (rng.normal(size=shape).astype(np.float32)
                       for shape in ((rows, 9 * c), (rows, 9 * o), (rows, o)))
    kernel, flipped = rng.normal(size=(9 * c, o)).astype(np.float32), rng.normal(size=(9 * o, c)).astype(np.float32)
    forward = best_seconds(lambda: cols @ kernel, repeat)
    input_grad = best_seconds(lambda: dcols @ flipped, repeat)
    return forward, input_grad, best_seconds(lambda: dy.T @ cols, repeat)


def _torch_times(x, w, repeat):
    import torch
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    forward = best_seconds(lambda: torch.nn.functional.conv2d(tx, tw, padding=1), repeat)
    y = torch.nn.functional.conv2d(tx, tw, padding=1)
    dy = torch.ones_like(y)
    backward = best_seconds(lambda: torch.autograd.grad(y, (tx, tw), dy, retain_graph=True), repeat)
    return forward, backward


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    pads, ones = (1, 1, 1, 1), (1, 1)
    peak = sgemm_peak(args.repeat)
    print(f"NumPy's BLAS: {blas_description()}")
    print(f"sgemm peak (NumPy float32 1024²): {peak:.0f} GFLOP/s")
    print(f"{'layer N×C×H×W→O':<22}{'MFLOP':>7}{'fwd GF/s':>10}{'bwd GF/s':>10}{'fwd %pk':>8}{'bwd %pk':>8}"
          f"{'torch fwd':>10}{'torch bwd':>10}")
    totals = dict(flops=0, fwd=0.0, bwd=0.0, tfwd=0.0, tbwd=0.0, products=0.0)
    seen = {}
    for shape in small_vgg_layers(args.batch):
        seen[shape] = seen.get(shape, 0) + 1
    for (n, c, h, wd, o), count in seen.items():
        x = rng.normal(size=(n, c, h, wd)).astype(np.float32)
        w = rng.normal(size=(o, c, 3, 3)).astype(np.float32)
        dy = rng.normal(size=(n, o, h, wd)).astype(np.float32)
        flops = 2 * n * h * wd * o * c * 9
        fwd = best_seconds(lambda: conv.conv2d(x, w, ones, pads, ones, 1), args.repeat)
        bwd = best_seconds(lambda: conv.conv2d_input_grad(dy, w, (h, wd), ones, pads, ones, 1), args.repeat) \
            + best_seconds(lambda: conv.conv2d_filter_grad(x, dy, (3, 3), ones, pads, ones, 1), args.repeat)
        tfwd, tbwd = _torch_times(x, w, args.repeat)
        products = sum(products_alone(n, c, h, wd, o, args.repeat, rng))
        for key, value in dict(flops=flops, fwd=fwd, bwd=bwd, tfwd=tfwd, tbwd=tbwd, products=products).items():
            totals[key] += value * count
        print(f"{f'{n}×{c}×{h}×{wd}→{o}' + (f' ×{count}' if count > 1 else ''):<22}{flops / 1e6:>7.0f}"
              f"{flops / fwd / 1e9:>10.1f}{2 * flops / bwd / 1e9:>10.1f}{flops / fwd / 1e9 / peak:>8.0%}"
              f"{2 * flops / bwd / 1e9 / peak:>8.0%}{flops / tfwd / 1e9:>10.1f}{2 * flops / tbwd / 1e9:>10.1f}")
    f = totals["flops"]
    print(f"{'all 13 layers':<22}{f / 1e6:>7.0f}{f / totals['fwd'] / 1e9:>10.1f}{2 * f / totals['bwd'] / 1e9:>10.1f}"
          f"{f / totals['fwd'] / 1e9 / peak:>8.0%}{2 * f / totals['bwd'] / 1e9 / peak:>8.0%}"
          f"{f / totals['tfwd'] / 1e9:>10.1f}{2 * f / totals['tbwd'] / 1e9:>10.1f}")
    print(f"im2col's products alone, forward and backward: {totals['products'] * 1e3:.2f} ms; the kernels: "
          f"{(totals['fwd'] + totals['bwd']) * 1e3:.2f} ms; PyTorch's convolutions: "
          f"{(totals['tfwd'] + totals['tbwd']) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
