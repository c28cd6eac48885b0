"""The architecture zoo: published parameter counts, LeNet-5's table, small builds that run forward and
train a step, the perceptron rule, and LeNet-5 learning the digits."""
import tracemalloc

import numpy as np
import pytest

import graphcore as gc
from graphcore import models

# (trainable, total) parameters at 224×224×3 (AlexNet 227×227×3) and 1000 classes.
PUBLISHED = {
    "vgg16": (138_357_544, 138_357_544), "vgg19": (143_667_240, 143_667_240),
    "resnet18": (11_689_512, None), "resnet34": (21_797_672, None), "resnet50": (25_557_032, None),
    "mobilenet": (4_231_976, 4_253_864),
    "alexnet": (62_378_344, 62_378_344), "zfnet": (62_357_608, 62_357_608), "googlenet": (6_998_552, 6_998_552),
}


def _trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_variables))


def test_zoo_lists_every_architecture_of_the_notes():
    assert set(models.available("classifier")) == {
        "perceptron", "mlp", "seed_cnn", "lenet5", "alexnet", "zfnet", "vgg16", "vgg19", "resnet18", "resnet34",
        "resnet50", "googlenet", "mobilenet", "rnn"}
    # trained in tests/test_unsupervised.py
    assert set(models.available("unsupervised")) == {"autoencoder", "vae", "rbm", "dbn", "gan", "dcgan", "dsn"}
    assert set(models.SMALL) == set(models.available("classifier"))


def test_every_listed_name_is_a_builder_of_the_package():
    """``models.NAME(...)`` works for every name ``available()`` lists (and ``graphcore models`` prints)."""
    tables = {**models.CLASSIFIERS, **models.UNSUPERVISED}
    for name in models.available():
        assert getattr(models, name) is tables[name], name
    rnn = models.rnn()                                   # the LSTM reading digits row by row
    assert rnn.outputs[0].shape == (None, 10) and rnn.input_placeholders[0].shape == (None, 8, 8)
    assert models.gan().generator.outputs[0].shape == (None, 64)
    assert models.vae(latent=4).latent == 4
    assert models.rbm(hidden=8).graph is not None
    assert models.dbn().count_params() == 64 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    assert len(models.dsn(modules=2).outputs) == 2


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts_without_allocating(name):
    tracemalloc.start()
    model = models.get(name)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    trainable, total = PUBLISHED[name]
    assert _trainable(model) == trainable
    if total is not None:
        assert model.count_params() == total
    assert peak < 50e6, f"building {name} allocated {peak / 1e6:.0f} MB: weights or activations were allocated"


def test_lenet5_layer_shapes_follow_the_notes_table(capsys):
    model = models.lenet5()
    shapes = [layer.output_shape for layer in model.layers]
    assert shapes == [(None, 32, 32, 1), (None, 28, 28, 6), (None, 14, 14, 6), (None, 10, 10, 16),
                      (None, 5, 5, 16), (None, 1, 1, 120), (None, 120), (None, 84), (None, 10)]
    assert model.count_params() == 61_706
    model.summary()
    table = capsys.readouterr().out
    for row in ["(None, 28, 28, 6)", "(None, 14, 14, 6)", "(None, 10, 10, 16)", "(None, 5, 5, 16)", "(None, 84)"]:
        assert row in table


@pytest.mark.parametrize("name", sorted(set(models.SMALL) - {"perceptron"}))
def test_small_model_runs_forward_and_a_training_step(name):
    model = models.small(name, num_classes=5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4,) + models.SMALL[name]["input_shape"]).astype(np.float32)
    y = np.arange(4) % 5
    probabilities = model.predict(x)
    assert probabilities.shape == (4, 5)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    model.compile(gc.train.SGD(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "no weight changed"


def test_perceptron_rule_separates_a_linearly_separable_set():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(60, 2)).astype(np.float32)
    t = np.where(x[:, 0] + 2 * x[:, 1] > 0.2, 1.0, -1.0)
    model = models.perceptron(input_shape=(2,))
    mistakes = model.fit(x, t, epochs=100)
    assert mistakes[-1] == 0 and mistakes[0] > 0
    np.testing.assert_array_equal(model.predict(x)[:, 0], t)


def _digits_32x32():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    images = np.kron(digits.images / 16.0, np.ones((4, 4)))[..., None].astype(np.float32)  # 8×8 → 32×32
    order = np.random.default_rng(0).permutation(len(images))
    return images[order], digits.target[order]


def test_lenet5_learns_digits_to_97_percent():
    """Six epochs on 1,400 real digits. How fast is a benchmark's business (tools/benchmark.py), not a test's."""
    images, labels = _digits_32x32()
    model = models.lenet5()
    model.graph.seed = 0     # the threshold is for these initial weights and batches, not for every draw
    model.compile(gc.train.Adam(0.002), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images[:1400], labels[:1400], epochs=6, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(images[1400:], labels[1400:])
    assert accuracy >= 0.97, accuracy


def test_the_digits_settings_reach_the_layers():
    """``models.DIGITS``'s knobs (tools and ``graphcore train`` rely on them to learn the digits) change what they
    say: a zero-initialised residual block starts as its shortcut, MobileNet's moving statistics decay at
    ``bn_momentum``, VGG's and GoogLeNet's kernels are drawn at He's scale (std √(2 / fan_in)), and MobileNet
    for the digits reads 48×48 images, so its last blocks see 2×2 maps rather than 1×1, without dropout."""
    resnet = models.small("resnet50", zero_init_residual=True)
    gammas = {w.name: resnet.session.run(w) for w in resnet.weights if w.name.endswith("_bn/gamma")}
    assert all(not v.any() for k, v in gammas.items() if k.endswith("/c_bn/gamma")) and len(gammas) == 53
    assert all(v.all() for k, v in gammas.items() if not k.endswith("/c_bn/gamma"))
    mobilenet = models.small("mobilenet", bn_momentum=0.9)
    assert {layer.momentum for layer in mobilenet.layers if hasattr(layer, "momentum")} == {0.9}
    from graphcore.apps.recipes import classifier_configuration
    digits_mobilenet = models.get("mobilenet", **classifier_configuration("mobilenet"))
    last = {layer.name: layer for layer in digits_mobilenet.layers}["block13/dw"]
    assert last.output.shape[1:3] == (2, 2) and digits_mobilenet.input_placeholders[0].shape[1:] == (48, 48, 3)
    assert not any(isinstance(layer, gc.layers.Dropout) for layer in digits_mobilenet.layers)
    for name in ("vgg19", "googlenet"):
        model = models.small(name, kernel_initializer="he_normal")
        kernel = next(w for w in model.weights if w.name.endswith("conv2/kernel"))
        value = model.session.run(kernel)
        assert abs(value.std() / np.sqrt(2 / np.prod(value.shape[1:])) - 1) < 0.15, name
    assert set(models.DIGITS) <= set(models.SMALL)
