"""ONNX export of whole models: zoo parity, inference semantics, file validity, names, symbolic batch,
opsets, external data and the runtime wrapper."""
import collections
import os
import sys

import numpy as np
import onnx
import pytest

import graphcore as gc
from graphcore import export, models

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from export_zoo import build, export_and_check  # noqa: E402


@pytest.mark.parametrize("name", sorted(models.SMALL))
def test_zoo_model_matches_onnxruntime(name, tmp_path):
    proto, _, result = export_and_check(name, str(tmp_path))
    assert result.ok, f"{name}: {result}"
    ops = collections.Counter(n.op_type for n in proto.graph.node)
    assert ops["Transpose"] <= 2, f"{name}: {ops['Transpose']} Transposes (one at the input, one in Flatten)"
    assert not {"Dropout", "Assign", "RandomUniform"} & set(ops)


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    model = build("lenet5")
    path = str(tmp_path_factory.mktemp("lenet") / "lenet5.onnx")
    return model, path, export.to_onnx(model, path)


def test_file_is_valid_with_explicit_ir_and_opset(lenet):
    _, path, proto = lenet
    onnx.checker.check_model(path, full_check=True)
    assert proto.ir_version == 8
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", export.DEFAULT_OPSET)] == [("", 18)]
    assert export.to_onnx(lenet[0], opset=21).ir_version == 10


def test_what_a_careful_hand_would_write(lenet):
    _, _, proto = lenet
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Conv") == 3 and ops.count("Gemm") == 2
    assert not {"MatMul", "Add", "Transpose", "Identity"} & set(ops), ops   # biases fused, 1-channel input reshaped
    assert all(len(n.input) == 3 for n in proto.graph.node if n.op_type in ("Conv", "Gemm"))


def test_names_producer_and_creation_sites(lenet):
    _, _, proto = lenet
    assert proto.producer_name == "graphcore" and proto.producer_version == gc.__version__
    assert "lenet5" in proto.doc_string
    names = {n.name for n in proto.graph.node}
    assert {"c1/Conv2D", "s2/AvgPool", "f6/MatMul", "output/Softmax"} <= names
    assert all("created at " in n.doc_string and ".py:" in n.doc_string for n in proto.graph.node)
    assert {"c1/kernel", "f6/kernel"} <= {i.name for i in proto.graph.initializer}


def test_symbolic_batch_serves_any_batch_size(lenet):
    model, path, proto = lenet
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [32, 32, 1]
    session = export.InferenceSession(path, device="cpu")
    for batch in (1, 7):
        x = np.random.default_rng(batch).normal(size=(batch, 32, 32, 1)).astype(np.float32)
        np.testing.assert_allclose(session.run(x), model.predict(x), rtol=1e-4, atol=1e-5)


def test_inference_semantics_dropout_batchnorm_and_pruned_training(tmp_path):
    """Dropout vanishes and batch norm uses its moving statistics, even after compile() added the training
    graph (loss, optimizer updates, moving-average assignments), which is pruned."""
    inputs = gc.Input((6, 6, 3))
    x = gc.layers.Conv2D(4, 3)(inputs)
    x = gc.layers.BatchNormalization()(x)
    x = gc.layers.Dropout(0.5)(gc.layers.Flatten()(x))
    model = gc.Model(inputs, gc.layers.Dense(2)(x))
    model.compile("sgd", "mse")
    bn = model.layers[2]
    model.session.variables[bn.moving_mean.node.name] = np.full(4, 0.3, np.float32)
    model.session.variables[bn.moving_variance.node.name] = np.full(4, 2.0, np.float32)
    proto = export.to_onnx(model, tmp_path / "m.onnx")
    ops = {n.op_type for n in proto.graph.node}
    assert "Dropout" not in ops and "BatchNormalization" in ops
    assert all("training" not in n.name for n in proto.graph.node)
    assert export.check(tmp_path / "m.onnx", model, batch_size=3).ok


def test_opsets_default_min_max_and_a_clear_error(tmp_path):
    model = build("resnet18")
    for opset in (export.SUPPORTED_OPSETS[0], export.SUPPORTED_OPSETS[-1]):
        path = tmp_path / f"r{opset}.onnx"
        proto = export.to_onnx(model, path, opset=opset)
        assert proto.opset_import[0].version == opset
        assert export.check(path, model, verbose=False).ok
    with pytest.raises(export.ExportError, match=r"opset 99 is not supported: choose one of 13\.\.25"):
        export.to_onnx(model, tmp_path / "bad.onnx", opset=99)


def test_external_data_above_the_threshold(tmp_path):
    model = build("lenet5")
    path = tmp_path / "lenet5.onnx"
    export.to_onnx(model, path, external_data_threshold=10_000)
    assert (tmp_path / "lenet5.onnx.data").stat().st_size > 200_000
    assert path.stat().st_size < 20_000
    onnx.checker.check_model(str(path), full_check=True)
    assert export.check(path, model, verbose=False).ok
    export.to_onnx(model, path, external_data_threshold=10_000)   # re-export replaces, never appends
    assert (tmp_path / "lenet5.onnx.data").stat().st_size < 300_000


def test_raw_graph_with_weights_from_a_dict(tmp_path):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        w = gc.Variable(np.zeros((3, 2), np.float32), name="w")
        y = gc.relu(gc.matmul(x, w), name="y")
    weights = {"w": np.arange(6, dtype=np.float32).reshape(3, 2)}
    export.to_onnx(g, tmp_path / "g.onnx", inputs=[x], outputs=[y], session=weights)
    out = export.InferenceSession(tmp_path / "g.onnx", device="cpu").run({"x": np.ones((4, 3))})
    np.testing.assert_allclose(out, np.ones((4, 3)) @ weights["w"])
    with pytest.raises(export.ExportError, match="inputs="):
        export.to_onnx(g, tmp_path / "h.onnx", inputs=[], outputs=[y])
    with pytest.raises(export.ExportError, match="needs inputs"):
        export.to_onnx(g, tmp_path / "h.onnx")


@pytest.mark.skipif(export.gpu_available(), reason="checks the CPU-only behaviour")
def test_runtime_is_quiet_on_cpu_only_machines(lenet, capfd):
    _, path, _ = lenet
    session = export.InferenceSession(path)
    session.run(np.zeros((2, 32, 32, 1), np.float32))
    captured = capfd.readouterr()
    assert session.provider == "CPUExecutionProvider"
    assert captured.err == "" and captured.out == ""


@pytest.mark.skipif(not export.gpu_available(), reason="needs a GPU")
def test_runtime_uses_cuda_when_a_gpu_is_usable(lenet):
    _, path, _ = lenet
    assert export.InferenceSession(path).provider == "CUDAExecutionProvider"
