"""``export.OnnxTrainer`` (IOBinding, ping-pong state), ``Model.fit(backend="onnxruntime")``, recurrent models
trained in onnxruntime, and the command line's ``train --backend`` / ``export --training``."""
import numpy as np
import onnx
import pytest

import graphcore as gc
from graphcore import export, layers, models
from graphcore.apps.recipes import digits_dataset
from graphcore.cli import main
from test_export_training import _batches, _compiled_small, assert_parity, train_from_file


@pytest.fixture(scope="module")
def lenet_step(tmp_path_factory):
    model = _compiled_small("lenet5", "adam", 1e-3)
    path = tmp_path_factory.mktemp("step") / "lenet5_step.onnx"
    export.to_onnx(model, path, training=True)
    return model, path


def test_trainer_matches_the_plain_loop_and_reports_state(lenet_step):
    """The ping-pong bindings give exactly what the plain InferenceSession loop gives, step after step."""
    model, path = lenet_step
    batches = _batches(model, np.random.default_rng(3), n=4)
    plain_losses, plain_state = train_from_file(path, batches)
    trainer = export.OnnxTrainer(path, device="cpu")
    assert trainer.provider == "CPUExecutionProvider" and trainer.input_names == ["input", "training/targets"]
    reported = [trainer.step(list(b)) for b in batches[:2]]
    reported += [trainer.step(dict(zip(trainer.input_names, b))) for b in batches[2:]]
    # (onnxruntime's threaded kernels may split sums differently from run to run: float32 rounding apart)
    assert [r["loss"] for r in reported] == pytest.approx(plain_losses, rel=1e-5)
    assert all(0 <= r["accuracy"] <= 1 for r in reported)
    state = trainer.state()
    assert trainer.parameter_names == ["Adam/learning_rate"]   # read-only hyperparameters come with the state
    assert set(state) == set(plain_state) | {"Adam/learning_rate"} and trainer.steps == 4
    for name, value in plain_state.items():
        np.testing.assert_allclose(state[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    assert int(state["Adam/iterations"]) == 4


def test_trainer_load_state_restarts_from_given_weights(lenet_step):
    model, path = lenet_step
    batch = _batches(model, np.random.default_rng(4), n=1)[0]
    trainer = export.OnnxTrainer(path, device="auto")   # no GPU here: the CPU, quietly
    snapshot = trainer.state()
    first = trainer.step(batch)["loss"]
    trainer.step(batch)   # overwrites the buffers the snapshot was read from: the snapshot must not change
    np.testing.assert_array_equal(snapshot["c1/bias"], export.OnnxTrainer(path).state()["c1/bias"])
    trainer.load_state(export.OnnxTrainer(path).state())   # back to the file's initial state
    assert trainer.step(batch)["loss"] == pytest.approx(first, rel=1e-5)
    with pytest.raises(export.ExportError, match="not state"):
        trainer.load_state({"nope": np.zeros(1)})
    with pytest.raises(export.ExportError, match="shape"):
        trainer.load_state({"c1/bias": np.zeros(7, np.float32)})


def test_trainer_refuses_wrong_feeds_and_inference_files(lenet_step, tmp_path):
    model, path = lenet_step
    trainer = export.OnnxTrainer(path)
    with pytest.raises(export.ExportError, match="takes 2 arrays"):
        trainer.step([np.zeros((2, 32, 32, 1), np.float32)])
    with pytest.raises(export.ExportError, match="missing"):
        trainer.step({"input": np.zeros((2, 32, 32, 1), np.float32)})
    inference = tmp_path / "inference.onnx"
    export.to_onnx(model, inference)
    with pytest.raises(export.ExportError, match="not a graphcore training step"):
        export.OnnxTrainer(inference)


def test_fit_with_the_onnxruntime_backend_equals_the_interpreter():
    """Same History (validation included) and same weights and optimizer state, written back to the model."""
    x_train, _, y_train, _ = digits_dataset((64,))
    x, y = x_train[:600], y_train[:600]
    histories, models_ = {}, {}
    for backend in ("numpy", "onnxruntime"):
        model = models.mlp(input_shape=(64,), num_classes=10, hidden=(32,))
        model.graph.seed = 0
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        histories[backend] = model.fit(x, y, epochs=2, batch_size=50, validation_split=0.2, verbose=0,
                                       backend=backend)
        models_[backend] = model
    numpy_h, ort_h = histories["numpy"], histories["onnxruntime"]
    assert ort_h.params["backend"] == "onnxruntime (CPUExecutionProvider)"
    assert set(ort_h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in numpy_h.history.items():
        np.testing.assert_allclose(ort_h.history[key], values, rtol=1e-4, err_msg=key)
    a, b = models_["numpy"].session.variables, models_["onnxruntime"].session.variables
    assert int(b["Adam/iterations"]) == 2 * 10
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-4, atol=1e-6, err_msg=name)
    # A second fit continues from the written-back state (the exported step is reused, not re-exported).
    more = models_["onnxruntime"].fit(x, y, epochs=1, batch_size=50, verbose=0, backend="onnxruntime")
    assert more.history["loss"][0] < ort_h.history["loss"][0]
    assert int(b["Adam/iterations"]) == 3 * 10 + 2


def test_fit_refuses_an_unknown_backend():
    model = models.small("mlp", num_classes=3)
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(gc.BuildError, match="backend"):
        model.fit(np.zeros((4, 16)), np.zeros(4), backend="torch", verbose=0)


# ----- recurrent models: the backward Scan of BPTT as an ONNX Scan ----------------------------------------

def _recurrent_model(kind):
    cell = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
    graph = gc.Graph()
    with graph.as_default():
        inputs = layers.Input((6, 5), name="input")
        if kind == "bidirectional":
            h = layers.Bidirectional(layers.LSTM(7, name="lstm"), name="bidirectional")(inputs)
        else:
            h = cell[kind](7, name=kind)(inputs)
        outputs = layers.Dense(3, activation="softmax", name="output")(h)
    model = gc.Model(inputs, outputs, name=kind)
    model.graph.seed = 0
    model.compile(optimizer=gc.train.get("rmsprop", learning_rate=1e-3), loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru", "bidirectional"])
def test_recurrent_models_train_in_onnxruntime(kind, tmp_path):
    model = _recurrent_model(kind)
    path = tmp_path / f"{kind}.onnx"
    export.to_onnx(model, path, training=True)
    scans = [n for n in onnx.load(path).graph.node if n.op_type == "Scan"]
    assert len(scans) >= 2 * (2 if kind == "bidirectional" else 1)   # forward and backward loops
    assert_parity(model, path, _batches(model, np.random.default_rng(0)))


def test_lstm_step_file_does_not_grow_with_sequence_length(tmp_path):
    sizes = []
    for steps in (5, 50):
        graph = gc.Graph()
        with graph.as_default():
            inputs = layers.Input((steps, 4), name="input")
            outputs = layers.Dense(2, activation="softmax")(layers.LSTM(8)(inputs))
        model = gc.Model(inputs, outputs)
        model.compile("adam", "sparse_categorical_crossentropy")
        export.to_onnx(model, tmp_path / f"{steps}.onnx", training=True)
        sizes.append(len(onnx.load(tmp_path / f"{steps}.onnx").graph.node))
    assert sizes[0] == sizes[1]


# ----- command line and diagrams -----------------------------------------------------------------------------

def test_cli_exports_a_training_step_that_renders_as_a_step(tmp_path, capsys):
    path = tmp_path / "step.onnx"
    assert main(["export", "lenet5", "--training", "--optimizer", "momentum", "-o", str(path)]) == 0
    assert "training step" in capsys.readouterr().out
    trainer = export.OnnxTrainer(path, device="cpu")
    assert "Momentum/iterations" in trainer.state_names
    dot = gc.render(str(path), tmp_path / "step.dot").source   # a training file draws its grad view
    assert "gradients" in dot and "Momentum" in dot
    assert "gradients" not in gc.render(str(path), view="layer").source
    assert main(["export", "vae", "--training", "-o", str(path)]) == 2


def test_cli_trains_with_the_onnxruntime_backend(tmp_path, capsys):
    assert main(["train", "mlp", "--epochs", "1", "--backend", "onnxruntime", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "trained by onnxruntime (CPUExecutionProvider)" in out and "test accuracy:" in out
    assert main(["train", "rbm", "--backend", "onnxruntime", "--out", str(tmp_path)]) == 2
    assert "own training loop" in capsys.readouterr().err
