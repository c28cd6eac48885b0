"""The filter gradient of a convolution, spelled three ways in standard ONNX, timed in onnxruntime on each layer
shape of LeNet-5, small VGG (VGG16 at ¼ width, batch 32) and ResNet-18.

    python tools/bench_filter_grad.py [--repeat 15] [--only resnet18_32]

A training step needs dW[o, c, i, j] = Σ dy[n, o, h, w]·x[n, c, h·s + i, w·s + j]; stock onnxruntime has no
kernel for it (ConvGrad lives in its training build), so the exporter composes it (export/convert_grad.py):

* ``taps``: one GEMM per kernel tap, dy (O, N·Ho·Wo) × the tap's strided slice of x: four nodes a tap;
* ``columns``: one column matrix, unfolded from x by a grouped Conv with a one-hot kernel, then one GEMM (seven
  nodes; until 2026-12-04 the kh·kw slices concatenated, kh·kw + 8 nodes, as fast or slower);
* ``conv``: one Conv with the batch turned into channels (x as (C, N, H, W), dy as (O, N, Ho, Wo) filters),
  strides and dilations swapped, between three Transposes (four nodes).

Each row exports the same graphcore node with each form, checks the three agree with graphcore's kernel,
times each session on the CPU (best of ``--repeat`` runs, after a settling pause: tools/timing.py) and
PyTorch's ``torch.nn.grad.conv2d_weight`` beside them, and prints the node counts and the ratios to PyTorch.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import best_seconds  # noqa: E402

import graphcore as gc  # noqa: E402
from graphcore import export  # noqa: E402
from graphcore.op import apply_op  # noqa: E402

FORMS = ("taps", "columns", "conv")
# (name, batch, in channels, size, out channels, kernel, stride, pad): the layers' filter gradients.
LAYERS = {
    "lenet5": [("c1", 64, 1, 32, 6, 5, 1, 0), ("c3", 64, 6, 14, 16, 5, 1, 0), ("c5", 64, 16, 5, 120, 5, 1, 0)],
    "resnet18_32": [("stem 7x7/2", 64, 3, 32, 64, 7, 2, 3), ("stage2 3x3", 64, 64, 8, 64, 3, 1, 1),
                    ("stage3 3x3/2", 64, 64, 8, 128, 3, 2, 1), ("stage3 3x3", 64, 128, 4, 128, 3, 1, 1),
                    ("stage3 1x1/2", 64, 64, 8, 128, 1, 2, 0), ("stage4 3x3", 64, 256, 2, 256, 3, 1, 1),
                    ("stage5 3x3", 64, 512, 1, 512, 3, 1, 1)],
    "small_vgg": [("conv1_2", 32, 16, 32, 16, 3, 1, 1), ("conv2_1", 32, 16, 16, 32, 3, 1, 1),
                  ("conv2_2", 32, 32, 16, 32, 3, 1, 1), ("conv3_1", 32, 32, 8, 64, 3, 1, 1),
                  ("conv3_2", 32, 64, 8, 64, 3, 1, 1), ("conv4_2", 32, 128, 4, 128, 3, 1, 1),
                  ("conv5_2", 32, 128, 2, 128, 3, 1, 1)],
    "resnet18_224_b8": [("stem 7x7/2", 8, 3, 224, 64, 7, 2, 3), ("stage2 3x3", 8, 64, 56, 64, 3, 1, 1),
                        ("stage3 3x3", 8, 128, 28, 128, 3, 1, 1), ("stage4 3x3", 8, 256, 14, 256, 3, 1, 1),
                        ("stage5 3x3", 8, 512, 7, 512, 3, 1, 1)],
}


def exported(layer, form):
    """An inference session computing the layer's filter gradient in ``form``, and the graph's node count."""
    _, n, c, size, o, k, stride, pad = layer
    out = (size + 2 * pad - k) // stride + 1
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (n, c, size, size), name="x")
        dy = gc.placeholder(gc.float32, (n, o, out, out), name="dy")
        dw = apply_op("Conv2DBackpropFilter", [x, dy], kernel_hw=(k, k), strides=(stride, stride),
                      pads=(pad,) * 4, dilations=(1, 1), groups=1)
    chooser = export.convert_grad.filter_gradient_form
    export.convert_grad.filter_gradient_form = lambda ctx, node: form
    try:
        proto = export.to_onnx(g, None, inputs=[x, dy], outputs=[dw])
    finally:
        export.convert_grad.filter_gradient_form = chooser
    return export.InferenceSession(proto, device="cpu"), len(proto.graph.node), (x, dy, dw, g)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--only", choices=list(LAYERS), action="append")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(os.cpu_count())
    rng = np.random.default_rng(0)
    print("best of", args.repeat, "runs, ms (ratio to torch.nn.grad.conv2d_weight); nodes per form:",
          ", ".join(FORMS))
    for model in args.only or list(LAYERS):
        print(f"\n{model}")
        print(f"{'layer':14s} {'x':>18s} " + " ".join(f"{f:>16s}" for f in FORMS) + f" {'torch':>8s}  nodes")
        for layer in LAYERS[model]:
            sessions = {f: exported(layer, f) for f in FORMS}
            x_t, dy_t, dw_t, graph = sessions["conv"][2]
            x = rng.normal(size=x_t.shape).astype(np.float32)
            dy = rng.normal(size=dy_t.shape).astype(np.float32)
            want = gc.Session(graph).run(dw_t, {x_t: x, dy_t: dy})
            for f, (session, _, _) in sessions.items():
                got = session.run({"x": x, "dy": dy})
                assert np.allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max()), (layer, f)
            tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
            stride, pad = layer[6], layer[7]
            torch_s = best_seconds(lambda: torch.nn.grad.conv2d_weight(tx, dw_t.shape, tdy, stride=stride,
                                                                       padding=pad), args.repeat)
            cells = []
            for f, (session, nodes, _) in sessions.items():
                s = best_seconds(lambda: session.run({"x": x, "dy": dy}), args.repeat)
                cells.append(f"{s * 1e3:8.2f} ({s / torch_s:4.2f})")
            counts = "/".join(str(sessions[f][1]) for f in FORMS)
            print(f"{layer[0]:14s} {str(x_t.shape):>18s} " + " ".join(f"{c:>16s}" for c in cells)
                  + f" {torch_s * 1e3:8.2f}  {counts}")


if __name__ == "__main__":
    main()
