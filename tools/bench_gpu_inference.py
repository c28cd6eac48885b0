"""Inference at full speed (issue 26): graphcore's exported files through ``export.InferenceSession``'s paths,
against PyTorch eager in float32 and under bfloat16 autocast, in float32, float16 and bfloat16.

    python tools/bench_gpu_inference.py                       # the issue's table, on the GPU when one is usable
    python tools/bench_gpu_inference.py --cases lenet5-b256 resnet18-b1 --device cpu --rounds 3   # a CPU check

Columns (milliseconds per batch, median over ``--rounds`` interleaved rounds of ``--calls`` calls each):

* ``numpy``: ``InferenceSession(path).run(x)``, NumPy in and out (host copies inside the figure);
* ``device``: ``InferenceSession(path, batch_size=B)``, the batch resident in its input buffers, outputs left
  on the device (``run(output="device")``): IOBinding with the batch dimension fixed;
* ``graph``: the same with ``cuda_graph=True`` (CUDA only);
* ``torch fp32`` / ``torch bf16``: the same architecture in PyTorch eager (``torch.no_grad``), float32 and
  ``torch.autocast(dtype=torch.bfloat16)``, the batch already on the device, synchronised after each call.

Rows ``float16``/``bfloat16`` run the file converted at load (``precision=``); the ``ratio`` column divides the
best graphcore path by PyTorch eager float32 (float32 rows) or bfloat16 autocast (half rows): the issue's
targets are ResNet-18 b1 ≤ 0.3 and b32 ≤ 0.8 in float32, half precision ≤ 1. Before timing, each session's
placement is checked (every node on CUDA, else the nodes elsewhere are printed) and its outputs compared with
float32 on the CPU: max |difference| and the share of equal argmax. bfloat16 needs the CUDA provider: on the CPU
its row says so. PyTorch is a benchmark oracle only (installed with the test extra; CUDA builds need their own
wheel: see DESIGN.md).
"""
import argparse
import os
import statistics
import sys
import tempfile

import numpy as np
import torch
from torch import nn

from graphcore import export, models
from graphcore.errors import ServingError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_onnx import torch_lenet5, torch_resnet18  # noqa: E402  (the same architectures, written in PyTorch)
from timing import seconds_per_call  # noqa: E402

# name → (zoo builder, input shape (H, W, C), batch, PyTorch builder)
CASES = {
    "resnet18-b32": (models.resnet18, (224, 224, 3), 32, lambda: torch_resnet18(1000)),
    "resnet18-b1": (models.resnet18, (224, 224, 3), 1, lambda: torch_resnet18(1000)),
    "vgg16-b16": (models.vgg16, (224, 224, 3), 16, lambda: torch_vgg16(1000)),
    "lenet5-b256": (models.lenet5, (32, 32, 1), 256, torch_lenet5),
}
TARGETS = {("resnet18-b1", "float32"): 0.3, ("resnet18-b32", "float32"): 0.8}


def torch_vgg16(num_classes=1000):
    """Keras's VGG16 (graphcore's zoo: no dropout at inference) in PyTorch."""
    layers, cin = [], 3
    for convs, cout in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        for _ in range(convs):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
               nn.Linear(4096, num_classes), nn.Softmax(dim=1)]
    return nn.Sequential(*layers)


def graphcore_paths(path, x, device, precision):
    """({path name: callable, or the reason it cannot run}, the NumPy-path session or None)."""
    try:
        plain = export.InferenceSession(path, device=device, precision=precision)
    except ServingError as e:
        return {"numpy": str(e).splitlines()[0]}, None
    paths = {"numpy": lambda: plain.run(x)}
    for name, graph in [("device", False)] + ([("graph", True)] if plain.device == "cuda" else []):
        try:
            fixed = export.InferenceSession(path, device=device, batch_size=len(x), cuda_graph=graph,
                                            precision=precision)
        except ServingError as e:
            paths[name] = str(e).splitlines()[0]
            continue
        fixed.run(x)   # the batch goes into the fixed input buffers once
        paths[name] = lambda s=fixed: s.run(output="device")
    return paths, plain


def session_notes(label, session, x, reference):
    """Where the nodes run when not all on CUDA, and agreement with the float32 outputs on the CPU."""
    notes = []
    if session.device == "cuda":
        for provider, nodes in session.placement().items():
            if provider != "CUDAExecutionProvider":
                notes.append(f"{label}: {len(nodes)} nodes on {provider}: "
                             + ", ".join(f"{n} ({op})" for n, op in nodes[:8]))
    out = np.asarray(session.run(x), np.float32)
    notes.append(f"{label} on {session.provider}: max |Δ| vs float32 on the CPU {np.abs(out - reference).max():.2e}, "
                 f"argmax agreement {np.mean(out.argmax(-1) == reference.argmax(-1)):.1%}")
    return notes


def torch_paths(build, x, device):
    model = build().eval().to(device)
    batch = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def eager():
        with torch.no_grad():
            model(batch)
        sync()

    def autocast():
        with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16):
            model(batch)
        sync()

    return {"torch fp32": eager, "torch bf16": autocast}


def interleaved_ms(fns, calls, rounds):
    """{name: median ms per call}: every callable timed once per round, round after round."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(seconds_per_call(fn, calls) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--precisions", nargs="+", default=["float32", "float16", "bfloat16"],
                        choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch_device = "cuda" if args.device == "cuda" or (args.device == "auto" and export.gpu_available()) else "cpu"
    print(f"torch {torch.__version__} on {torch_device}; graphcore files through export.InferenceSession "
          f"(device={args.device}); ms per batch, median of {args.rounds} interleaved rounds of {args.calls} calls")
    columns = ["numpy", "device", "graph", "torch fp32", "torch bf16"]
    lines = [f"| case | precision | {' | '.join(columns)} | ratio |", "|---|---|" + "---|" * (len(columns) + 1)]
    notes = []
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as folder:
        for case in args.cases:
            build, shape, batch, build_torch = CASES[case]
            path = os.path.join(folder, f"{case}.onnx")
            export.to_onnx(build(input_shape=shape), path)
            x = np.random.default_rng(0).standard_normal((batch,) + shape).astype(np.float32)
            reference = export.InferenceSession(path, device="cpu").run(x)
            fns, refused = dict(torch_paths(build_torch, x, torch_device)), {}
            for precision in args.precisions:
                paths, session = graphcore_paths(path, x, args.device, None if precision == "float32" else precision)
                if session is not None:
                    notes += session_notes(f"{case} {precision}", session, x, reference)
                fns.update(((precision, n), fn) for n, fn in paths.items() if callable(fn))
                for name, why in paths.items():
                    if not callable(why):
                        refused[(precision, name)] = "refused"
                        notes.append(f"{case} {precision} {name}: {why}")
            ms = interleaved_ms(fns, args.calls, args.rounds)
            for precision in args.precisions:
                ours = [ms[(precision, c)] for c in columns[:3] if (precision, c) in ms]
                against = ms["torch fp32" if precision == "float32" else "torch bf16"]
                target = TARGETS.get((case, precision), None if precision == "float32" else 1.0)
                ratio = min(ours) / against if ours else None
                verdict = ("" if target is None or ratio is None else " ✓" if ratio <= target
                           else f" ✗ (target ≤ {target})")
                cells = [f"{ms[(precision, c)]:.3f}" if (precision, c) in ms else refused.get((precision, c), "–")
                         for c in columns[:3]]
                cells += [f"{ms[c]:.3f}" if precision == "float32" or c == "torch bf16" else "–" for c in columns[3:]]
                lines.append(f"| {case} | {precision} | {' | '.join(cells)} | "
                             f"{'–' if ratio is None else f'{ratio:.2f}'}{verdict} |")
            print("\n".join(lines[-len(args.precisions):] if case != args.cases[0] else lines), flush=True)
    print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
