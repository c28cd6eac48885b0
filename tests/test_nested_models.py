"""Models are layers: calling a model on new tensors reuses its layers and weights (shared encoders, a
Siamese pair, nested models); summary, save/load, diagrams and ONNX export handle the nesting."""
import numpy as np
import pytest

import graphcore as gc
from graphcore import export, layers
from graphcore.diagram import load, views

RNG = np.random.default_rng(0)
X = RNG.uniform(size=(16, 6)).astype(np.float32)


def _autoencoder():
    """The Keras pattern: an encoder model, then a bigger model that calls it."""
    g = gc.Graph()
    with g.as_default():
        pixels = gc.Input((6,), name="pixels")
        encoder = gc.Model(pixels, layers.Dense(3, activation="tanh", name="code")(pixels), name="encoder")
        image = gc.Input((6,), name="image")
        code = encoder(image)
        autoencoder = gc.Model(image, layers.Dense(6, activation="sigmoid", name="decode")(code), name="autoencoder")
    return encoder, autoencoder, code


def test_calling_a_model_reuses_its_layers_and_weights():
    encoder, autoencoder, code = _autoencoder()
    assert autoencoder.layers[1] is encoder
    assert set(encoder.weights) <= set(autoencoder.weights) and autoencoder.count_params() == 21 + 24
    assert code.node.name.startswith("encoder/code/")         # the call's ops sit under the model's scope
    feed = {autoencoder.input_placeholders[0]: X}
    np.testing.assert_allclose(autoencoder.session.run(code, feed), encoder.predict(X), rtol=1e-6)
    before = encoder.predict(X)
    autoencoder.compile(gc.train.Adam(0.05), "mse")
    autoencoder.fit(X, X, epochs=3, batch_size=8, verbose=0)
    after = encoder.predict(X)
    assert not np.allclose(before, after)                      # training the big model trained the encoder
    np.testing.assert_allclose(autoencoder.session.run(code, feed), after, rtol=1e-6)


def test_a_model_called_twice_shares_its_weights():
    g = gc.Graph()
    with g.as_default():
        a = gc.Input((6,), name="a")
        tower = gc.Model(a, layers.Dense(4, activation="relu", name="embed")(a), name="tower")
        left, right = gc.Input((6,), name="left"), gc.Input((6,), name="right")
        distance = layers.Concatenate()([tower(left), tower(right)])
        siamese = gc.Model([left, right], distance, name="siamese")
    out = siamese.predict([X, X[::-1]])
    np.testing.assert_allclose(out[:, :4], tower.predict(X), rtol=1e-6)
    np.testing.assert_allclose(out[:, 4:], tower.predict(X[::-1]), rtol=1e-6)
    assert siamese.count_params() == tower.count_params() == 28
    assert [type(layer).__name__ for layer in siamese.layers].count("Model") == 1


def test_summary_shows_a_nested_model_as_one_row(capsys):
    _, autoencoder, _ = _autoencoder()
    autoencoder.summary()
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("encoder"))
    assert "(Model)" in row and "(None, 3)" in row and row.split()[-1] == "21"
    assert "Total params: 45" in out


def test_save_and_load_keep_the_nesting_and_the_weights(tmp_path):
    encoder, autoencoder, _ = _autoencoder()
    autoencoder.compile("adam", "mse")
    autoencoder.fit(X, X, epochs=2, verbose=0)
    autoencoder.save(tmp_path / "ae.npz")
    loaded = gc.load_model(tmp_path / "ae.npz")
    np.testing.assert_allclose(loaded.predict(X), autoencoder.predict(X), rtol=1e-6)
    nested = loaded.layers[1]
    assert isinstance(nested, gc.Model) and nested.name == "encoder"
    np.testing.assert_allclose(nested.predict(X), encoder.predict(X), rtol=1e-6)


def test_a_nested_model_is_one_box_that_opens_at_a_deeper_depth():
    _, autoencoder, _ = _autoencoder()
    graph = load(autoencoder)

    def drawn(depth):
        diagram = views.build(graph, "layer", depth)
        boxes, clusters = [], []

        def walk(cluster):
            for child in cluster.children:
                if isinstance(child, views.Cluster):
                    clusters.append(child.label)
                    walk(child)
                else:
                    boxes.append((child.title, child.lines[:1]))
        walk(diagram.root)
        return boxes, clusters
    boxes, clusters = drawn(1)
    assert ("encoder", ["Model"]) in boxes and "encoder" not in clusters
    boxes, clusters = drawn(2)
    assert "encoder" in clusters and ("code", ["Dense"]) in boxes and ("encoder", ["Model"]) not in boxes


def test_a_model_with_a_nested_model_exports_to_onnx_with_parity(tmp_path):
    _, autoencoder, _ = _autoencoder()
    path = tmp_path / "ae.onnx"
    export.to_onnx(autoencoder, path)
    assert export.check(path, autoencoder, verbose=False).ok


def test_calling_a_model_checks_graph_and_shapes():
    encoder, _, _ = _autoencoder()
    with encoder.graph.as_default():
        with pytest.raises(gc.BuildError, match="does not fit"):
            encoder(gc.Input((5,), name="wrong"))
        with pytest.raises(gc.BuildError, match="takes 1 inputs"):
            encoder([gc.Input((6,)), gc.Input((6,))])
    with gc.Graph().as_default():
        with pytest.raises(gc.BuildError, match="its own graph"):   # a computed tensor of another graph
            encoder(gc.Input((6,), name="elsewhere") * 2.0)
        # a bare gc.Input of another graph is re-made in the model's graph (Keras's base_model(keras.Input(...)))
        elsewhere = gc.Input((6,), name="elsewhere")
        code = encoder(elsewhere)
        assert code.graph is encoder.graph and gc.Model(elsewhere, code).inputs[0].graph is encoder.graph


def test_the_gan_and_autoencoder_families_take_callbacks():
    from graphcore import callbacks
    from graphcore.models import autoencoder, dense_gan
    data = RNG.uniform(size=(64, 64)).astype(np.float32)
    gan = dense_gan()
    # the discriminator model is called on the generator's images: one set of weights, its call's own scope
    assert any(node.name.startswith(f"{gan.discriminator.name}/") for node in gan.graph.nodes)
    seen = []

    class Stop(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(sorted(logs))
            self.model.stop_training = epoch == 1
    history = gan.fit(data, epochs=5, batch_size=32, callbacks=[Stop()])
    assert len(history["d_loss"]) == 2 and seen[0] == ["d_accuracy_fake", "d_accuracy_real", "d_loss", "g_loss"]
    ae = autoencoder("undercomplete")
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9, restore_best_weights=True)
    first = []

    class Keep(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                first.extend(self.model.get_weights())
    history = ae.fit(data, epochs=10, batch_size=32, callbacks=[Keep(), stop])
    assert len(history["loss"]) == 2                       # nothing counts as better: stop after epoch 2
    for got, want in zip(ae.get_weights(), first):
        np.testing.assert_array_equal(got, want)          # and the first epoch's weights are back
