"""Keras idioms: losses and metrics as strings, functions and classes (keras.io/api/losses,
keras.io/api/metrics, keras.io/guides/training_with_built_in_methods "Many built-in optimizers, losses, and
metrics are available", "Custom losses"), checked against PyTorch and hand-computed values."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import graphcore as gc
from graphcore import layers, losses, metrics

RNG = np.random.default_rng(3)
X = RNG.normal(size=(12, 4)).astype(np.float32)
LABELS = RNG.integers(0, 3, 12)
ONE_HOT = np.eye(3, dtype=np.float32)[LABELS]
TARGETS = RNG.normal(size=(12, 2)).astype(np.float32)


def _linear(units, activation=None, seed=0):
    model = gc.Sequential([layers.Dense(units, activation=activation, input_shape=(4,))])
    model.graph.seed = seed
    return model


def _outputs(model):
    return torch.from_numpy(model.predict(X, verbose=0))


def test_loss_classes_on_numpy_arrays_as_the_keras_docs_show():
    # keras.io/api/losses/probabilistic_losses, "BinaryCrossentropy" and keras.io/api/losses/regression_losses
    # "MeanSquaredError", "Huber": the docs' own examples and values
    y_true, y_pred = [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]]
    assert losses.BinaryCrossentropy()(y_true, y_pred) == pytest.approx(0.815, abs=1e-3)
    assert losses.MeanSquaredError()([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]) == pytest.approx(0.5)
    assert losses.Huber()(y_true, y_pred) == pytest.approx(0.155, abs=1e-3)
    assert losses.MeanSquaredError(reduction="sum")([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]) == \
        pytest.approx(1.0)


def test_sparse_categorical_crossentropy_from_logits_in_compile():
    # keras.io/guides/training_with_built_in_methods, "API overview":
    # loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True) on a model without softmax
    model = _linear(3)
    model.compile(optimizer="rmsprop", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    expected = F.cross_entropy(_outputs(model), torch.from_numpy(LABELS)).item()
    np.testing.assert_allclose(model.evaluate(X, LABELS, verbose=0), expected, rtol=1e-5)


def test_categorical_crossentropy_with_label_smoothing():
    # keras.io/api/losses/probabilistic_losses, "CategoricalCrossentropy(label_smoothing=0.1)"
    model = _linear(3, "softmax")
    model.compile(loss=losses.CategoricalCrossentropy(label_smoothing=0.1))
    logits = torch.log(_outputs(model))
    expected = F.cross_entropy(logits, torch.from_numpy(LABELS), label_smoothing=0.1).item()
    np.testing.assert_allclose(model.evaluate(X, ONE_HOT, verbose=0), expected, rtol=1e-5)


def test_binary_crossentropy_from_logits():
    # keras.io/api/losses/probabilistic_losses, "BinaryCrossentropy(from_logits=True)"
    model = _linear(1)
    model.compile(loss=losses.BinaryCrossentropy(from_logits=True))
    y = (LABELS == 0).astype(np.float32)
    expected = F.binary_cross_entropy_with_logits(_outputs(model)[:, 0], torch.from_numpy(y)).item()
    np.testing.assert_allclose(model.evaluate(X, y, verbose=0), expected, rtol=1e-5)


@pytest.mark.parametrize("name", ["mae", "mean_absolute_error", "MAE"])
def test_mae_string_aliases(name):
    # keras.io/api/losses: loss="mae" (and Keras's other spellings)
    model = _linear(2)
    model.compile(loss=name)
    expected = F.l1_loss(_outputs(model), torch.from_numpy(TARGETS)).item()
    np.testing.assert_allclose(model.evaluate(X, TARGETS, verbose=0), expected, rtol=1e-5)


@pytest.mark.parametrize("name, oracle", [
    ("huber", lambda p, y: F.huber_loss(p, y, delta=1.0)),
    ("msle", lambda p, y: F.mse_loss(torch.log1p(p.clamp(min=1e-7)), torch.log1p(y.clamp(min=1e-7)))),
    ("log_cosh", lambda p, y: torch.log(torch.cosh(p - y)).mean()),
    ("poisson", lambda p, y: (p - y * torch.log(p + 1e-7)).mean()),
])
def test_regression_losses_by_name_match_pytorch(name, oracle):
    # keras.io/api/losses/regression_losses: loss="huber", "msle", "log_cosh", "poisson"
    model = _linear(2, "softplus")
    model.compile(loss=name)
    y = np.abs(TARGETS)
    np.testing.assert_allclose(model.evaluate(X, y, verbose=0), oracle(_outputs(model), torch.from_numpy(y)).item(),
                               rtol=1e-5)


def test_hinge_converts_zero_one_labels():
    # keras.io/api/losses/hinge_losses, "Hinge": 0/1 labels become −1/+1
    y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    signed = 2 * y_true - 1
    expected = np.mean(np.maximum(1 - signed * y_pred, 0))
    assert losses.Hinge()(y_true, y_pred) == pytest.approx(expected, rel=1e-6)


def test_kl_divergence_and_cosine_similarity_by_hand():
    # keras.io/api/losses/probabilistic_losses "KLDivergence", regression_losses "CosineSimilarity"
    y_true, y_pred = np.array([[0.2, 0.8], [0.5, 0.5]]), np.array([[0.4, 0.6], [0.3, 0.7]])
    kl = np.mean(np.sum(y_true * np.log(y_true / y_pred), 1))
    assert losses.KLDivergence()(y_true, y_pred) == pytest.approx(kl, rel=1e-5)
    cos = np.mean(-np.sum(y_true * y_pred, 1) / np.linalg.norm(y_true, axis=1) / np.linalg.norm(y_pred, axis=1))
    assert losses.CosineSimilarity()(y_true, y_pred) == pytest.approx(cos, rel=1e-5)


def test_custom_loss_function_in_compile():
    # keras.io/guides/training_with_built_in_methods, "Custom losses":
    # def custom_mean_squared_error(y_true, y_pred): return ops.mean(ops.square(y_true - y_pred), axis=-1)
    def custom_mean_squared_error(y_true, y_pred):
        return gc.reduce_mean(gc.square(y_true - y_pred), axis=-1)
    model = _linear(2)
    model.compile(optimizer="adam", loss=custom_mean_squared_error)
    weights = RNG.uniform(size=12).astype(np.float32)
    per_example = ((model.predict(X, verbose=0) - TARGETS) ** 2).mean(1)
    np.testing.assert_allclose(model.evaluate(X, TARGETS, sample_weight=weights, verbose=0),
                               np.mean(weights * per_example), rtol=1e-5)


def test_loss_functions_from_the_losses_module():
    # keras.io/api/losses: loss=keras.losses.binary_crossentropy (a function) gives per-example values
    model = _linear(2, "sigmoid")
    model.compile(loss=losses.binary_crossentropy)
    y = (TARGETS > 0).astype(np.float32)
    expected = F.binary_cross_entropy(_outputs(model), torch.from_numpy(y)).item()
    np.testing.assert_allclose(model.evaluate(X, y, verbose=0), expected, rtol=1e-5)


def test_metrics_as_strings_functions_and_classes():
    # keras.io/api/metrics, "Usage with compile() & fit()": metrics=["mae", metric_fn, MetricClass()]
    model = _linear(3, "softmax")
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=["acc", metrics.sparse_top_k_categorical_accuracy,
                           metrics.SparseCategoricalAccuracy(name="my_accuracy")])
    results = model.evaluate(X, LABELS, verbose=0, return_dict=True)
    assert list(results) == ["loss", "acc", "sparse_top_k_categorical_accuracy", "my_accuracy"]
    p = model.predict(X, verbose=0)
    accuracy = np.mean(p.argmax(1) == LABELS)
    np.testing.assert_allclose([results["acc"], results["my_accuracy"]], [accuracy, accuracy], rtol=1e-6)
    assert results["sparse_top_k_categorical_accuracy"] == 1.0    # k=5 ≥ 3 classes


def test_accuracy_picks_binary_accuracy_for_one_sigmoid_unit():
    # keras.io/api/metrics/accuracy_metrics: "accuracy" becomes binary_accuracy (threshold 0.5) for one unit
    model = _linear(1, "sigmoid")
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    y = (LABELS == 1).astype(np.float32)
    p = model.predict(X, verbose=0)[:, 0]
    np.testing.assert_allclose(model.evaluate(X, y, verbose=0)[1], np.mean((p > 0.5) == y), rtol=1e-6)


def test_regression_metrics_rmse_and_mae():
    # keras.io/api/metrics/regression_metrics: RootMeanSquaredError is the root of the mean over all examples,
    # not a mean of per-batch roots
    model = _linear(2)
    model.compile(loss="mse", metrics=[metrics.RootMeanSquaredError(), "mae"])
    results = model.evaluate(X, TARGETS, batch_size=5, verbose=0, return_dict=True)
    error = model.predict(X, verbose=0) - TARGETS
    np.testing.assert_allclose(results["root_mean_squared_error"], np.sqrt(np.mean(error ** 2)), rtol=1e-5)
    np.testing.assert_allclose(results["mae"], np.mean(np.abs(error)), rtol=1e-5)


def test_standalone_metric_update_state_and_result():
    # keras.io/api/metrics, "Standalone usage of metrics": m.update_state(...); m.result(); m.reset_state()
    m = metrics.SparseCategoricalAccuracy()
    m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.update_state([[1]], [[0.1, 0.9, 0.0]])
    assert m.result() == pytest.approx(2 / 3)
    m.reset_state()
    assert m.result() == 0.0
    assert metrics.BinaryAccuracy()([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]) == pytest.approx(0.75)


def test_top_k_categorical_accuracy_by_hand():
    # keras.io/api/metrics/accuracy_metrics, "TopKCategoricalAccuracy(k=1)"
    m = metrics.TopKCategoricalAccuracy(k=1)
    assert m([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]) == pytest.approx(0.5)


# ----- one set of losses: whole-batch functions (TF1's, the notes') and Keras's per-example ones ---------------
def _run_losses(build, *arrays):
    graph = gc.Graph()
    with graph.as_default():
        values = build(*[gc.constant(a) for a in arrays])
    return gc.Session(graph).run(values)


@pytest.mark.parametrize("shape", [(), (5,), (4, 3), (2, 3, 4)])
def test_whole_batch_losses_reduce_every_element_as_tf1_and_the_notes_do(shape):
    # tf.compat.v1.losses.mean_squared_error: "weights=1.0, reduction=SUM_BY_NONZERO_WEIGHTS" — the mean over
    # every element, one number, for any rank (a scalar too); the notes' quadratic cost sums ½(y − ŷ)²
    rng = np.random.default_rng(5)
    yt, yp = rng.uniform(0.5, 2, shape).astype(np.float32), rng.uniform(0.5, 2, shape).astype(np.float32)
    out = _run_losses(lambda t, p: [losses.mean_squared_error(t, p), losses.quadratic(t, p),
                                    losses.mean_absolute_percentage_error(t, p),
                                    losses.binary_cross_entropy(t / 2.5, p / 2.5)], yt, yp)
    t, p = torch.from_numpy(yt), torch.from_numpy(yp)
    expected = [F.mse_loss(p, t).item(), 0.5 * F.mse_loss(p, t, reduction="sum").item(),
                100 * torch.mean(torch.abs(t - p) / torch.abs(t)).item(), F.binary_cross_entropy(p / 2.5, t / 2.5).item()]
    assert all(np.ndim(v) == 0 for v in out)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_keras_per_example_forms_reduce_the_last_axis():
    # keras.io/api/losses/regression_losses: mean_squared_error(y_true, y_pred) "loss = mean(square(y_true -
    # y_pred), axis=-1)"; the same element terms as the whole-batch functions, one value per example
    rng = np.random.default_rng(6)
    yt, yp = rng.uniform(0.5, 2, (4, 3)).astype(np.float32), rng.uniform(0.5, 2, (4, 3)).astype(np.float32)
    out = _run_losses(lambda t, p: [losses.get("mse")(t, p), losses.get("mape")(t, p), losses.quadratic_loss(t, p),
                                    losses.binary_crossentropy(t / 2.5, p / 2.5)], yt, yp)
    t, p = torch.from_numpy(yt), torch.from_numpy(yp)
    expected = [F.mse_loss(p, t, reduction="none").mean(-1), 100 * (torch.abs(t - p) / torch.abs(t)).mean(-1),
                0.5 * F.mse_loss(p, t, reduction="none").sum(-1),
                F.binary_cross_entropy(p / 2.5, t / 2.5, reduction="none").mean(-1)]
    for value, want in zip(out, expected):
        np.testing.assert_allclose(value, want.numpy(), rtol=1e-5)


@pytest.mark.parametrize("function, name", [(losses.mean_squared_error, "mse"),
                                            (losses.mean_absolute_percentage_error, "mape"),
                                            (losses.quadratic, "quadratic"),
                                            (losses.binary_cross_entropy, "binary_crossentropy")])
def test_a_whole_batch_function_in_compile_trains_as_its_keras_name_and_takes_sample_weights(function, name):
    # compile maps each whole-batch function to its per-example form: the same loss as the Keras name, and
    # sample weights apply (Keras's weighted mean; the notes' quadratic is a weighted sum)
    y = (np.abs(TARGETS) / 3).clip(0.05, 0.95).astype(np.float32)
    weights = RNG.uniform(0.5, 2, len(X)).astype(np.float32)
    by_function, by_name = _linear(2, "sigmoid"), _linear(2, "sigmoid")
    by_function.compile(loss=function)
    by_name.compile(loss=name)
    plain = by_function.evaluate(X, y, verbose=0)
    np.testing.assert_allclose(plain, by_name.evaluate(X, y, verbose=0), rtol=1e-6)
    weighted = by_function.evaluate(X, y, sample_weight=weights, verbose=0)
    np.testing.assert_allclose(weighted, by_name.evaluate(X, y, sample_weight=weights, verbose=0), rtol=1e-6)
    assert weighted != pytest.approx(plain, rel=1e-4)


def test_binary_cross_entropy_of_a_sigmoid_output_reads_its_logits():
    # Keras's TensorFlow backend computes binary_crossentropy of a sigmoid's output from the logits; the
    # whole-batch binary_cross_entropy shares that term, so a confident wrong prediction costs its exact value
    # (30 for a logit of 30), not the −log(1e−7) ≈ 16.1 of probabilities clipped at ε
    logits = np.array([[30.0, -2.0], [0.5, -30.0]], np.float32)
    labels = np.array([[0.0, 1.0], [1.0, 1.0]], np.float32)
    value = _run_losses(lambda z, y: losses.binary_cross_entropy(y, gc.sigmoid(z)), logits, labels)
    expected = F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    np.testing.assert_allclose(value, expected, rtol=1e-5)
