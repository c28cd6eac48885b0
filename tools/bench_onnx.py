"""onnxruntime speed of graphcore's ONNX export against the same architecture exported by torch.onnx.export.

    python tools/bench_onnx.py [--repeats 30] [--rounds 25]

LeNet-5 (32×32×1, batch 64) and ResNet-18 (224×224×3, batch 1), both from the zoo and hand-written in PyTorch
(torchvision's ResNet-18 layout). Each ONNX file runs in onnxruntime on the CPU with default optimisations;
the two sessions alternate round by round (timings on these 2-core machines drift a lot) and the table shows
the median per-round ratio graphcore / torch (≤ 1 means graphcore's file is as fast or faster). graphcore's
files take channels-last input and carry one Transpose for it; torch's take NCHW.
"""
import argparse
import os
import statistics
import tempfile

import numpy as np
import torch
from torch import nn

from graphcore import export, models
from timing import seconds_per_call   # tools/ is the script's folder


def torch_lenet5():
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                         nn.AvgPool2d(2), nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(), nn.Linear(120, 84),
                         nn.Tanh(), nn.Linear(84, 10), nn.Softmax(dim=1))


class _Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def torch_resnet18(num_classes=1000):
    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


CASES = {
    "lenet5": (lambda: models.lenet5(), torch_lenet5, (32, 32, 1), 64),
    "resnet18": (lambda: models.resnet18(), torch_resnet18, (224, 224, 3), 1),
}


def _session(path):
    return export.InferenceSession(path, device="cpu")


def bench(name, directory, repeats, rounds):
    build, build_torch, shape, batch = CASES[name]
    ours = os.path.join(directory, f"{name}-graphcore.onnx")
    theirs = os.path.join(directory, f"{name}-torch.onnx")
    export.to_onnx(build(), ours)
    net = build_torch().eval()
    example = torch.zeros((batch, shape[2], shape[0], shape[1]))
    torch.onnx.export(net, (example,), theirs, dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}}, opset_version=17)
    x = np.random.default_rng(0).normal(size=(batch,) + shape).astype(np.float32)
    runs = [(_session(ours), x), (_session(theirs), np.ascontiguousarray(x.transpose(0, 3, 1, 2)))]
    for session, data in runs:   # warm up
        session.run(data)
    ratios, times = [], [[], []]
    for r in range(rounds):
        measured = [0.0, 0.0]
        for k in ((0, 1) if r % 2 == 0 else (1, 0)):   # alternate who goes first
            session, data = runs[k]
            measured[k] = seconds_per_call(lambda: session.run(data), repeats)
            times[k].append(measured[k])
        ratios.append(measured[0] / measured[1])
    return statistics.median(times[0]), statistics.median(times[1]), statistics.median(ratios)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--models", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="graphcore-bench-")
    print(f"{'model':<10}{'graphcore ms':>14}{'torch ms':>10}{'median ratio':>14}")
    for name in args.models:
        ours, theirs, ratio = bench(name, directory, args.repeats, args.rounds)
        print(f"{name:<10}{ours * 1e3:>14.3f}{theirs * 1e3:>10.3f}{ratio:>14.3f}")


if __name__ == "__main__":
    main()
