"""Why an exported training step's convolutions are slow in onnxruntime: filters that are graph inputs.

    python tools/bench_ort_conv.py [--repeat 21]

A training step must take its filters as inputs (they change every step; see docs/onnx.md's file contract).
onnxruntime's fast CPU convolution (the NCHWc layout transformer, its blocked direct kernel) applies only to a
Conv whose filter is a constant initializer, reordered once when the session is built; with the filter as an
input it runs its generic im2col-and-GEMM path, one image at a time. This tool times the same Conv (3×3,
pad 1, small VGG's layer shapes at batch 32) both ways, best of ``--repeat`` runs, with PyTorch's conv2d for
reference, and a third way a converter could spell it in standard ops: im2col as nine Slices of the padded
input and a Concat, then one MatMul with the filter as an input (onnxruntime's MatMul is its threaded GEMM).
"""
import argparse

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from timing import best_seconds   # tools/ is the script's folder

LAYERS = [(32, 16, 32, 16), (32, 32, 16, 32), (32, 64, 8, 64), (32, 128, 4, 128), (32, 128, 2, 128)]


def conv_session(w, batch, height, filter_is_input):
    """One Conv over (batch, C, height, height); the filter an initializer that is, or is not, also an input."""
    o, c = w.shape[:2]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, c, height, height])]
    if filter_is_input:
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, list(w.shape)))
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "conv", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3   # the "initializer appears in graph inputs" warning is the point here
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def lowered_session(w, batch, height):
    """The same convolution as Pad, nine Slices (one per tap), Concat and one batched MatMul, filter an input."""
    o, c = w.shape[:2]
    ints = {"pads": [0, 0, 1, 1, 0, 0, 1, 1], "axes": [2, 3], "columns": [batch, 9 * c, height * height],
            "filter": [o, 9 * c], "out": [batch, o, height, height]}
    nodes, taps = [helper.make_node("Pad", ["x", "pads"], ["padded"])], []
    for dy in range(3):
        for dx in range(3):
            tap = f"tap{dy}{dx}"
            ints[tap + "_start"], ints[tap + "_end"] = [dy, dx], [dy + height, dx + height]
            nodes.append(helper.make_node("Slice", ["padded", tap + "_start", tap + "_end", "axes"], [tap]))
            taps.append(tap)
    nodes += [helper.make_node("Concat", taps, ["taps"], axis=1),                 # (N, 9·C, H, W), tap-major
              helper.make_node("Reshape", ["taps", "columns"], ["cols"]),
              helper.make_node("Transpose", ["w"], ["w_taps"], perm=[0, 2, 3, 1]),  # (O, 3, 3, C): same order
              helper.make_node("Reshape", ["w_taps", "filter"], ["w_rows"]),
              helper.make_node("MatMul", ["w_rows", "cols"], ["y_rows"]),
              helper.make_node("Reshape", ["y_rows", "out"], ["y"])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, c, height, height]),
              helper.make_tensor_value_info("w", TensorProto.FLOAT, list(w.shape))]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "lowered_conv", inputs, [output],
                              initializer=[numpy_helper.from_array(np.array(v, np.int64), k) for k, v in ints.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args(argv)
    import torch
    rng = np.random.default_rng(0)
    print(f"onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}; best of {args.repeat}, ms")
    print(f"{'layer N×C×H×W→O':<20} {'filter input':>12} {'filter const':>12} {'slowdown':>9} {'lowered':>8} "
          f"{'torch':>7}")
    for n, c, h, o in LAYERS:
        x = rng.normal(size=(n, c, h, h)).astype(np.float32)
        w = rng.normal(size=(o, c, 3, 3)).astype(np.float32)
        as_input, as_constant, lowered = conv_session(w, n, h, True), conv_session(w, n, h, False), \
            lowered_session(w, n, h)
        np.testing.assert_allclose(lowered.run(None, {"x": x, "w": w})[0], as_input.run(None, {"x": x, "w": w})[0],
                                   rtol=1e-4, atol=1e-3)
        t_input = best_seconds(lambda: as_input.run(None, {"x": x, "w": w}), args.repeat) * 1e3
        t_const = best_seconds(lambda: as_constant.run(None, {"x": x}), args.repeat) * 1e3
        t_lowered = best_seconds(lambda: lowered.run(None, {"x": x, "w": w}), args.repeat) * 1e3
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        t_torch = best_seconds(lambda: torch.nn.functional.conv2d(tx, tw, padding=1), args.repeat) * 1e3
        print(f"{f'{n}×{c}×{h}×{h}→{o}':<20} {t_input:>12.2f} {t_const:>12.2f} {t_input / t_const:>8.1f}× "
              f"{t_lowered:>8.2f} {t_torch:>7.2f}")


if __name__ == "__main__":
    main()
