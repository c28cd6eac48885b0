"""OnnxTrainer on CUDA, and on the CPU, against PyTorch: one SGD training step, interleaved, batch on the device.

    python tools/bench_gpu.py                                  # every workload (the CPU half without a GPU)
    python tools/bench_gpu.py mlp resnet18_32 --cuda-graph --parity
    python tools/bench_gpu.py lenet5 lstm --rounds 5 --no-cpu

Workloads (SGD at 0.01, softmax cross-entropy, one random batch): ``mlp`` 784-512-256-10 batch 128;
``lenet5`` (the zoo's, 32×32×1) batch 64; ``lstm`` LSTM(128) over T = 50 steps of 64 features → Dense(10),
batch 32; ``resnet18_32`` and ``resnet18_224``, the zoo's ResNet-18 (full width, 10 classes) at 32×32 and
224×224, batch 64.

Each workload's step is exported as a static file (``to_onnx(..., batch_size=N)``: every shape constant;
loops unrolled for CUDA, ONNX Scans for the CPU, as ``fit`` exports them) and run by
``export.OnnxTrainer``; the batch is loaded into the trainer's device buffers once and ``step()`` reruns
on it, and PyTorch's twin (the same layers, its own initial weights: the timing does
not depend on them) keeps its batch on its device too. Every round times ``--steps`` steps of each engine in
turn, after the previous engine's threads have parked (tools/timing.py); the table gives the median step
times and the median of the per-round ratios to PyTorch on the same device (below 1: faster).

On a machine with a usable GPU the CUDA half runs the trainer on CUDA (cuDNN's HEURISTIC algorithm search;
``--cuda-graph`` captures the step) against PyTorch CUDA eager, both without TF32 unless ``--tf32`` (then
both with it: onnxruntime's ``use_tf32``, PyTorch's cuDNN and matmul switches). ``--parity`` runs five steps
on CUDA (TF32 off) and on the CPU from the same state and prints the largest relative differences of the
losses and of the new state. Without a GPU only the CPU half runs (``--no-cpu`` skips it where one is).
"""
import argparse
import os
import statistics
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_recurrent  # noqa: E402  (the LSTM workload's weights and graphcore graph)
import benchmark  # noqa: E402  (LeNet-5's PyTorch twin)
from timing import seconds_per_call  # noqa: E402

import graphcore as gc  # noqa: E402
from graphcore import export, models  # noqa: E402

WORKLOADS = {}
# Steps per timed block: one where a step takes seconds on a CPU.
STEPS = {"resnet18_224": 1}


def workload(fn):
    WORKLOADS[fn.__name__] = fn
    return fn


class Work:
    """A graphcore training graph (inputs, loss, step, session), one batch, and the PyTorch twin's module."""

    def __init__(self, graph, inputs, loss, step, session, batch, twin, torch_input):
        self.graph, self.inputs, self.loss, self.step, self.session = graph, inputs, loss, step, session
        self.batch, self.twin, self.torch_input = batch, twin, torch_input

    def export(self, folder, device):
        """The static step as ``fit`` trains it on ``device``: loops unrolled for CUDA (capturable), Scans on
        the CPU (faster there)."""
        path = os.path.join(folder, f"step_{device}.onnx")
        export.to_onnx(self.graph, path, inputs=self.inputs, outputs=[self.loss], train_op=self.step,
                       session=self.session, batch_size=len(self.batch[0]), unroll=device == "cuda")
        return path


def _zoo(model, x, y):
    """A zoo model's SGD step: (graph, inputs, loss, step, session, batch), Work's first arguments."""
    model.compile(gc.train.SGD(0.01), "sparse_categorical_crossentropy")
    compiled = model.compilation
    return model.graph, [model.input_placeholders[0], compiled.target], compiled.loss, \
        compiled.train_op, model.session, [x, y]


@workload
def mlp():
    from torch import nn
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(128, 784)).astype(np.float32), rng.integers(0, 10, 128)
    twin = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    return Work(*_zoo(models.mlp(input_shape=(784,), num_classes=10, hidden=(512, 256)), x, y), twin, x)


@workload
def lenet5():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 32, 32, 1)).astype(np.float32), rng.integers(0, 10, 64)
    nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return Work(*_zoo(models.lenet5(), x, y), benchmark.lenet5_twin(), nchw)


@workload
def lstm():
    from torch import nn
    weights, x, y = bench_recurrent.data("lstm", 32, 50, 64, 128)
    graph, x_in, y_in, loss, step = bench_recurrent.graphcore_graph("lstm", weights, x)

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.dense = nn.LSTM(64, 128, batch_first=True), nn.Linear(128, 10)

        def forward(self, inputs):
            return self.dense(self.rnn(inputs)[1][0][0])
    return Work(graph, [x_in, y_in], loss, step, gc.Session(graph), [x, y], Twin(), x)


def _resnet(size):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, size, size, 3)).astype(np.float32), rng.integers(0, 10, 64)
    nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    model = models.resnet18(input_shape=(size, size, 3), num_classes=10)
    return Work(*_zoo(model, x, y), resnet18_twin(10), nchw)


@workload
def resnet18_32():
    return _resnet(32)


@workload
def resnet18_224():
    return _resnet(224)


def resnet18_twin(classes):
    """torchvision's ResNet-18 layout (the zoo's): 7×7 stem, max pool, four stages of two basic blocks."""
    from torch import nn

    def conv_bn(cin, cout, kernel, stride):
        return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout, momentum=0.1)]

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride), nn.ReLU(), *conv_bn(cout, cout, 3, 1))
            self.shortcut = nn.Sequential(*conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout \
                else nn.Identity()

        def forward(self, x):
            return nn.functional.relu(self.body(x) + self.shortcut(x))
    layers, channels = [*conv_bn(3, 64, 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for stage, width in enumerate((64, 128, 256, 512)):
        layers += [Block(channels, width, 1 if stage == 0 else 2), Block(width, width, 1)]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes))


def torch_step(module, x, y, device):
    """One SGD step of ``module`` on a batch already on ``device`` (synchronised on CUDA, so a timed block
    ends when its work does)."""
    import torch
    module = module.to(device)
    opt = torch.optim.SGD(module.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(x).to(device), torch.from_numpy(np.asarray(y, np.int64)).to(device)

    def run():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(tx), ty).backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
    return run


def trainer_step(path, batch, device, args):
    trainer = export.OnnxTrainer(path, device=device, tf32=args.tf32,
                                 cuda_graph=args.cuda_graph and device == "cuda")
    trainer.step(batch)   # the batch goes into the device buffers once; step() reruns on it
    return trainer


def parity(path, batch, steps=5):
    """Largest relative differences (losses, new state) between five CUDA steps (TF32 off) and five CPU ones."""
    runs = {}
    for device in ("cuda", "cpu"):
        trainer = export.OnnxTrainer(path, device=device, tf32=False)
        losses = [trainer.step(batch)["loss"] for _ in range(steps)]
        runs[device] = losses, trainer.state()
    (cuda_losses, cuda_state), (cpu_losses, cpu_state) = runs["cuda"], runs["cpu"]
    loss_rel = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(cuda_losses, cpu_losses))
    state_rel = max(float(np.max(np.abs(cuda_state[n] - v)) / max(float(np.max(np.abs(v))), 1e-12))
                    for n, v in cpu_state.items() if v.dtype.kind == "f")
    return loss_rel, state_rel


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*", help=f"default: all of {list(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=3, help="steps per timed block (1 for resnet18_224)")
    parser.add_argument("--cuda-graph", action="store_true", help="capture the CUDA step as CUDA graphs")
    parser.add_argument("--tf32", action="store_true", help="TF32 in onnxruntime and PyTorch (default: off)")
    parser.add_argument("--parity", action="store_true", help="five CUDA steps against five CPU steps")
    parser.add_argument("--no-cpu", action="store_true", help="only the CUDA half")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    cuda = export.gpu_available() and torch.cuda.is_available()
    if cuda:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.tf32
    halves = (["cuda"] if cuda else []) + ([] if args.no_cpu and cuda else ["cpu"])
    print(f"devices: {', '.join(halves)}" + ("" if cuda else " (no usable GPU: the CPU half only)")
          + f"; TF32 {'on' if args.tf32 else 'off'}; CUDA graphs {'asked' if args.cuda_graph else 'off'}")
    for name in args.workloads or list(WORKLOADS):
        work = WORKLOADS[name]()
        with tempfile.TemporaryDirectory() as folder:
            engines, notes = {}, []
            for device in halves:
                trainer = trainer_step(work.export(folder, device), work.batch, device, args)
                if args.cuda_graph and device == "cuda":
                    notes.append("CUDA graph: " + ("captured" if trainer.cuda_graph else trainer.cuda_graph_reason))
                engines[f"onnxruntime {device}"] = trainer.step
                engines[f"pytorch {device}"] = torch_step(work.twin, work.torch_input, work.batch[1], device)
            for run in engines.values():
                run()   # warm up: plans, cuDNN algorithms, graph capture
            times = {engine: [] for engine in engines}
            for _ in range(args.rounds):
                for engine, run in engines.items():
                    times[engine].append(seconds_per_call(run, STEPS.get(name, args.steps)))
            cells = []
            for device in halves:
                ours, theirs = times[f"onnxruntime {device}"], times[f"pytorch {device}"]
                ratio = statistics.median(a / b for a, b in zip(ours, theirs))
                cells.append(f"{device}: {statistics.median(ours) * 1e3:8.2f} ms vs "
                             f"{statistics.median(theirs) * 1e3:8.2f} ms, ratio {ratio:.2f}")
            print(f"{name:<13} " + "   ".join(cells) + "".join(f"   [{n}]" for n in notes))
            if args.parity and cuda:
                loss_rel, state_rel = parity(work.export(folder, "cuda"), work.batch)
                print(f"{'':<13} parity over 5 steps, CUDA (TF32 off) vs CPU: losses {loss_rel:.1e}, "
                      f"state {state_rel:.1e}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
