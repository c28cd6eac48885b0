"""Static training steps (``to_onnx(..., training=True, batch_size=N)``) and the CUDA side of OnnxTrainer.

A static step knows every size: after onnxruntime's optimisation no shape arithmetic is left, loops are
unrolled, and every node has a CUDA kernel reading only constants on the host (``export.placement``, read
from the file, so no GPU is needed here). The steps must still give the interpreter's numbers (relative
1e-4, or its noise floor for the ill-conditioned models, as in test_export_training.py). The CUDA options
and the CUDA-graph decision are tested through everything that runs on a CPU-only machine.
"""
import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from test_export_training import (BATCH, ILL_CONDITIONED, OPTIMIZERS, _batches, _compiled_small, assert_parity,
                                  contract_of, train_from_file)
from test_onnx_trainer import _recurrent_model

import graphcore as gc
from graphcore import export, models
from graphcore.export.training import read_contract as contract_of_proto
from graphcore.export import placement, trainer as trainer_module

ZOO = [n for n in models.available("classifier") if OPTIMIZERS[n]]
SHAPE_ARITHMETIC = {"Shape", "Size", "ConstantOfShape"}


def _static_step(name, tmp_path, **kw):
    model = _compiled_small(name, *OPTIMIZERS[name])
    path = tmp_path / f"{name}_static.onnx"
    export.to_onnx(model, path, training=True, batch_size=BATCH, **kw)
    return model, path


@pytest.mark.parametrize("name", ZOO)
def test_zoo_static_steps_have_no_shape_arithmetic_and_every_node_on_cuda(name, tmp_path):
    model, path = _static_step(name, tmp_path)
    optimized = placement.optimized(path)
    ops = collections.Counter(n.op_type for n in optimized.graph.node)
    assert not SHAPE_ARITHMETIC & set(ops) and not {"Scan", "Loop", "If"} & set(ops), ops
    # No Cast of shape arithmetic: every integer value a Cast reads is a graph input (the labels).
    typed = onnx.shape_inference.infer_shapes(optimized).graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(typed.value_info) + list(typed.input)}
    inputs = {i.name for i in typed.input}
    assert all(types.get(c.input[0]) not in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) or c.input[0] in inputs
               for c in typed.node if c.op_type == "Cast")
    assert placement.file_report(path) == []
    dynamic = export.to_onnx(model, None, training=True)   # (loops as Scans: compare like with like)
    looped = export.to_onnx(model, None, training=True, batch_size=BATCH, unroll=False)
    assert len(looped.graph.node) <= len(dynamic.graph.node)


@pytest.mark.parametrize("name", ["lenet5", "vgg16", "resnet18", "mobilenet", "googlenet", "rnn"])
def test_static_steps_match_the_interpreter(name, tmp_path):
    """The conv-form and column-form filter gradients, batch norm's compact forward and backward, grouped
    convolutions, concatenated branches and an unrolled LSTM, five steps each against ``fit``."""
    model, path = _static_step(name, tmp_path)
    assert_parity(model, path, _batches(model, np.random.default_rng(0)), teacher_forced=name in ILL_CONDITIONED)


def test_dynamic_step_reports_its_shape_arithmetic(tmp_path):
    model = _compiled_small("lenet5", *OPTIMIZERS["lenet5"])
    path = tmp_path / "dynamic.onnx"
    export.to_onnx(model, path, training=True)
    report = placement.file_report(path)
    assert report and any("shape arithmetic" in reason for _, _, reason in report)
    assert "keep the step off a CUDA graph" in placement.describe(report)


# ----- node counts (python tools/step_nodes.py prints them for the whole zoo) --------------------------------

def _sgd_step(model, batch):
    model.compile(gc.train.SGD(0.01), "sparse_categorical_crossentropy")
    return export.to_onnx(model, None, training=True, batch_size=batch)


def _sgd_step_nodes(model, batch):
    return len(_sgd_step(model, batch).graph.node)


def test_lenet5_sgd_step_has_at_most_90_nodes():
    assert _sgd_step_nodes(models.lenet5(), 64) <= 90   # 242 before the compact forms, 84 before 2026-12-04's


def test_resnet18_sgd_step_has_at_most_700_nodes():
    """ResNet-18 at 32×32 (full width): 2,308 nodes, then 1,026; now 693 in the file and 690 after
    onnxruntime's optimisation: each of the 20 batch norms takes 18 (forward 5, gradient 9, moving averages
    2 each; the stem's 3 each, its tensor above the size limit), each of the 62 SGD updates one Sub (the
    learning rate seeds the backward pass)."""
    step = _sgd_step(models.resnet18(input_shape=(32, 32, 3), num_classes=10), 64)
    assert len(step.graph.node) <= 700 and len(placement.optimized(step).graph.node) <= 700
    ops = collections.Counter(n.op_type for n in step.graph.node)
    assert ops["Sub"] <= 62 + 20 + 1 and ops["BatchNormalization"] <= 6 * 20


# Ceilings on the zoo's static SGD steps (SMALL configurations, 10 classes, batch 64), as they stood on
# 2026-12-04 after the compact forms; before them (commit 6a25ff4) in the comment. A converter that grows a
# step fails here: ``python tools/step_nodes.py`` prints the counts.
STEP_NODES = {"mlp": 36, "seed_cnn": 78, "lenet5": 78, "alexnet": 215, "zfnet": 214,   # 36 86 84 283 281
              "vgg16": 393, "vgg19": 441, "resnet18": 691, "resnet34": 1237,               # 481 555 1026 1840
              "resnet50": 1801, "googlenet": 1029, "mobilenet": 1017, "rnn": 338}          # 2552 1161 1366 339


@pytest.mark.parametrize("name", sorted(STEP_NODES))
def test_zoo_sgd_step_node_counts(name):
    assert _sgd_step_nodes(models.small(name, num_classes=10), 64) <= STEP_NODES[name]


def test_sgd_updates_are_one_subtraction_with_the_rate_in_the_gradients():
    """Plain SGD seeds the backward pass with the learning rate: the step is still w − η·∂L/∂w (to float32
    rounding) and ``compute_gradients`` still gives ∂L/∂w; momentum, clipping and schedules keep η in the
    update (a Mul reads it)."""
    a = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    graph = gc.Graph()
    with graph.as_default():
        w = gc.Variable(np.array([[0.5], [-0.25]], np.float32), name="w")
        loss = gc.reduce_mean(gc.square(gc.matmul(gc.constant(a), w) - 1.0))
        rate = gc.Variable(np.float32(0.1), name="rate", trainable=False)
        optimizer = gc.train.SGD(rate)
        (grad, _), = optimizer.compute_gradients(loss)
        step = optimizer.minimize(loss)
        init = gc.global_variables_initializer()
    session = gc.Session(graph)
    session.run(init)
    w0, g = session.run([w, grad])
    np.testing.assert_allclose(g, a.T @ (a @ w0 - 1), rtol=1e-6)   # 2/2 · Aᵀ(Aw − 1): the mean of two squares
    session.run(step)
    np.testing.assert_allclose(session.run(w), w0 - 0.1 * g, rtol=1e-6)
    plain = _compiled_small("mlp", "sgd", 0.05)
    kept = [_compiled_small("mlp", "momentum", 0.05),
            _compiled_small("mlp", gc.train.SGD(0.05, clip_norm=1.0), None)]
    variables = len(plain.trainable_weights)
    assert _rate_products(plain) == 0 and all(_rate_products(m) >= variables for m in kept)


def _rate_products(model):
    """How many Mul nodes of the model's exported step read its learning rate."""
    step = export.to_onnx(model, None, training=True)
    rates = {name for name in contract_of_proto(step)["parameters"] if name.endswith("learning_rate")}
    assert rates
    return sum(n.op_type == "Mul" and bool(rates & set(n.input)) for n in step.graph.node)


@pytest.mark.parametrize("form", sorted(export.convert_grad.FILTER_GRADIENT_FORMS))
@pytest.mark.parametrize("strides, pads, dilations, kernel", [
    ((1, 1), (1, 1, 1, 1), (1, 1), (3, 3)), ((2, 2), (1, 0, 2, 1), (1, 1), (3, 2)),
    ((1, 2), (0, 0, 0, 0), (2, 1), (2, 3)), ((2, 2), (0, 0, 0, 0), (1, 1), (1, 1))])
def test_every_filter_gradient_form_matches_the_interpreter(form, strides, pads, dilations, kernel, monkeypatch):
    """Each spelling of Conv2DBackpropFilter (chosen by shape in a real step) on strided, padded, dilated and
    1×1 kernels, forced here: the one-hot unfolding Conv of the column form included."""
    from graphcore.op import apply_op
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 9, 8)).astype(np.float32)
    out = [(size + p0 + p1 - d * (k - 1) - 1) // s + 1 for size, p0, p1, d, k, s in
           zip((9, 8), pads[::2], pads[1::2], dilations, kernel, strides)]
    dy = rng.normal(size=(3, 5, *out)).astype(np.float32)
    graph = gc.Graph()
    with graph.as_default():
        xt, dyt = gc.placeholder(gc.float32, x.shape, name="x"), gc.placeholder(gc.float32, dy.shape, name="dy")
        dw = apply_op("Conv2DBackpropFilter", [xt, dyt], kernel_hw=kernel, strides=strides, pads=pads,
                      dilations=dilations, groups=1)
    want = gc.Session(graph).run(dw, {xt: x, dyt: dy})
    monkeypatch.setattr(export.convert_grad, "filter_gradient_form", lambda ctx, node: form)
    proto = export.to_onnx(graph, None, inputs=[xt, dyt], outputs=[dw])
    got = export.InferenceSession(proto, device="cpu").run({"x": x, "dy": dy})
    np.testing.assert_allclose(np.asarray(got).reshape(want.shape), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_moving_statistics_of_large_tensors_keep_the_three_node_form(monkeypatch):
    """The moving averages read their tensor in one more pass only below the size limit; above it each is
    α·v + β·mean again (two nodes more per statistic), and both forms give the interpreter's numbers (the
    parity tests above run the small form)."""
    from graphcore.export import optimize
    small = _sgd_step(models.small("resnet18", num_classes=10), 64)
    monkeypatch.setattr(optimize, "MOVING_AVERAGE_PASS_LIMIT", 0)
    large = _sgd_step(models.small("resnet18", num_classes=10), 64)
    norms = sum(o.endswith("moving_mean/new") for n in large.graph.node for o in n.output)
    assert norms == 20 and len(large.graph.node) - len(small.graph.node) == 2 * norms


def test_three_node_moving_statistics_match_the_interpreter(tmp_path, monkeypatch):
    from graphcore.export import optimize
    monkeypatch.setattr(optimize, "MOVING_AVERAGE_PASS_LIMIT", 0)
    model, path = _static_step("resnet18", tmp_path)
    assert_parity(model, path, _batches(model, np.random.default_rng(0)), teacher_forced=True)


# ----- unrolled loops ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru", "bidirectional"])
def test_unrolled_recurrent_steps_match_the_interpreter(kind, tmp_path):
    model = _recurrent_model(kind)
    path = tmp_path / f"{kind}.onnx"
    export.to_onnx(model, path, training=True, batch_size=BATCH)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert "Scan" not in ops and placement.file_report(path) == []
    assert_parity(model, path, _batches(model, np.random.default_rng(0)))


def test_unroll_can_be_turned_off_and_needs_a_known_length(tmp_path):
    model = _recurrent_model("lstm")
    kept = export.to_onnx(model, None, training=True, batch_size=BATCH, unroll=False)
    assert "Scan" in {n.op_type for n in kept.graph.node}
    assert "Scan" not in {n.op_type for n in export.to_onnx(model, None, training=True, unroll=True).graph.node}
    graph = gc.Graph()
    with graph.as_default():
        inputs = gc.layers.Input((None, 3), name="input")
        outputs = gc.layers.Dense(2, activation="softmax")(gc.layers.LSTM(4)(inputs))
    free_length = gc.Model(inputs, outputs)
    free_length.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(export.ExportError, match="compiled without a loss"):
        lossless = gc.Model(inputs, outputs)
        lossless.compile("sgd")
        export.to_onnx(lossless, None, training=True)
    with pytest.raises(export.ExportError, match="number of time steps"):
        export.to_onnx(free_length, None, training=True, unroll=True)
    with pytest.raises(export.ExportError, match="unknown size .* on axis 1"):
        export.to_onnx(free_length, None, training=True, batch_size=4)


@pytest.mark.parametrize("bad", [0, -2, True, 2.0, "8"])
def test_batch_size_must_be_a_positive_integer(bad):
    model = _compiled_small("mlp", *OPTIMIZERS["mlp"])
    with pytest.raises(export.ExportError, match="batch_size must be a positive integer"):
        export.to_onnx(model, None, training=True, batch_size=bad)


def test_a_static_step_refuses_another_batch_size(tmp_path):
    _, path = _static_step("mlp", tmp_path)
    step = export.OnnxTrainer(path, device="cpu")
    x, y = np.zeros((BATCH + 1, 16), np.float32), np.zeros(BATCH + 1, np.int64)
    with pytest.raises(gc.FeedError, match=r"shape \(16, 16\), got \(17, 16\).*one per batch size"):
        step.step([x, y])


# ----- quiet files ------------------------------------------------------------------------------------------

def test_step_file_opens_quietly_and_trains_with_the_documented_loop(tmp_path, capfd):
    """Plain onnxruntime at its default log level (warnings shown) prints nothing for a step file; ResNet-18
    with Adam printed one "Initializer ... appears in graph inputs" line per state tensor before."""
    ort.set_default_logger_severity(2)
    model = _compiled_small("resnet18", "adam", 1e-4)
    path = tmp_path / "step.onnx"
    export.to_onnx(model, path, training=True)
    capfd.readouterr()
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    losses, _ = train_from_file(path, _batches(model, np.random.default_rng(0), n=2))
    assert capfd.readouterr().err == "" and all(np.isfinite(losses))
    contract, values = contract_of(path)
    assert set(values) == {n for n, _ in contract["state"]} | set(contract["parameters"])


# ----- OnnxTrainer's CUDA options, on a CPU-only machine -----------------------------------------------------

@pytest.fixture
def recorded_sessions(monkeypatch):
    """OnnxTrainer believing a GPU is there: the CUDA provider's options are recorded and a CPU session
    stands in (as onnxruntime itself falls back when the CUDA provider cannot start)."""
    calls = []

    def create_session(model, device, cuda_options=None):
        calls.append(dict(cuda_options or {}))
        return export.runtime.create_session(model, "cpu")
    monkeypatch.setattr(trainer_module, "create_session", create_session)
    monkeypatch.setattr(trainer_module, "wants_cuda", lambda device: device != "cpu")
    return calls


def test_cuda_options_default_to_heuristic_search_and_no_tf32(tmp_path, recorded_sessions):
    _, path = _static_step("mlp", tmp_path)
    export.OnnxTrainer(path, device="cuda")
    export.OnnxTrainer(path, device="cuda", cudnn_conv_algo_search="EXHAUSTIVE", tf32=True)
    assert recorded_sessions == [{"cudnn_conv_algo_search": "HEURISTIC", "use_tf32": 0},
                                 {"cudnn_conv_algo_search": "EXHAUSTIVE", "use_tf32": 1}]
    with pytest.raises(export.ExportError, match="cudnn_conv_algo_search must be one of"):
        export.OnnxTrainer(path, cudnn_conv_algo_search="FAST")


def test_cuda_graph_asked_of_a_static_step_then_the_fallback_reason(tmp_path, recorded_sessions):
    """Every node can run on CUDA, so the session is asked for CUDA graphs; the provider then does not start
    (no GPU here), and the trainer says so and runs the step as usual."""
    model, path = _static_step("lenet5", tmp_path)
    with pytest.warns(RuntimeWarning, match="without a CUDA graph: the CUDA provider could not start"):
        step = export.OnnxTrainer(path, device="cuda", cuda_graph=True)
    assert recorded_sessions[0]["enable_cuda_graph"] == 1 and "enable_cuda_graph" not in recorded_sessions[1]
    assert not step.cuda_graph and step.provider == "CPUExecutionProvider"
    x, y = _batches(model, np.random.default_rng(0), n=1)[0]
    assert np.isfinite(step.step([x, y])["loss"])


def test_cuda_graph_is_not_asked_of_a_step_with_shape_arithmetic(tmp_path, recorded_sessions):
    model = _compiled_small("lenet5", *OPTIMIZERS["lenet5"])
    path = tmp_path / "dynamic.onnx"
    export.to_onnx(model, path, training=True)
    with pytest.warns(RuntimeWarning, match="shape arithmetic"):
        step = export.OnnxTrainer(path, device="cuda", cuda_graph=True)
    assert all("enable_cuda_graph" not in options for options in recorded_sessions)
    assert "keep the step off a CUDA graph" in step.cuda_graph_reason


def test_cuda_graph_on_the_cpu_says_there_is_no_gpu(tmp_path):
    _, path = _static_step("mlp", tmp_path)
    with pytest.warns(RuntimeWarning, match="no usable GPU"):
        step = export.OnnxTrainer(path, device="cpu", cuda_graph=True)
    assert not step.cuda_graph and step.device == "cpu"


def test_cuda_graph_falls_back_when_onnxruntime_places_a_node_elsewhere(tmp_path, monkeypatch):
    """A GPU session built for capture whose own placement report (onnxruntime's assignment info) shows
    nodes off the CUDA provider: the trainer names them and runs an ordinary session. The GPU session is
    played by a CPU one that reports CUDA as its provider."""
    class ReportsCuda:
        def __init__(self, session):
            self.session = session

        def get_providers(self):
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]

        def __getattr__(self, name):
            return getattr(self.session, name)

    def create_session(model, device, cuda_options=None):
        session = export.runtime.create_session(model, "cpu")
        return ReportsCuda(session) if (cuda_options or {}).get("enable_cuda_graph") else session
    monkeypatch.setattr(trainer_module, "create_session", create_session)
    monkeypatch.setattr(trainer_module, "wants_cuda", lambda device: True)
    _, path = _static_step("mlp", tmp_path)
    with pytest.warns(RuntimeWarning, match="runs on CPUExecutionProvider"):
        step = export.OnnxTrainer(path, device="cuda", cuda_graph=True)
    assert not step.cuda_graph and step.device == "cpu" and "keep the step off" in step.cuda_graph_reason


def test_fit_trains_static_steps_and_the_last_partial_batch_its_own():
    model = _compiled_small("mlp", *OPTIMIZERS["mlp"])
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 16)).astype(np.float32), rng.integers(0, 3, 40)
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, backend="onnxruntime")
    trainers = model._onnx_steps[1]._trainers
    assert sorted(trainers) == [8, 16]
    assert [tuple(i.shape) for i in trainers[8].session.get_inputs()][:1] == [(8, 16)]
    assert int(model.session.variables["SGD/iterations"]) == 2 * 3


def test_the_batch_buffers_never_write_into_the_callers_arrays(tmp_path):
    _, path = _static_step("mlp", tmp_path)
    step = export.OnnxTrainer(path, device="cpu")
    rng = np.random.default_rng(0)
    first = [rng.normal(size=(BATCH, 16)).astype(np.float32), rng.integers(0, 3, BATCH)]
    kept = [a.copy() for a in first]
    step.step(first)
    step.step([rng.normal(size=(BATCH, 16)).astype(np.float32), rng.integers(0, 3, BATCH)])
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(export.ExportError, match="no batch was given yet"):
        export.OnnxTrainer(path, device="cpu").step()
