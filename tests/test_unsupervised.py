"""Unsupervised and generative networks on scikit-learn's digits (issue 7): autoencoders, the VAE, RBMs,
deep belief nets, GANs, deep stacking networks and image search; their inference parts export to ONNX with
parity and every model renders. Training is short, seeded, and shared between tests through caches."""
import functools
import pathlib
import struct
import zlib

import numpy as np
import pytest

pytest.importorskip("sklearn")

import graphcore as gc  # noqa: E402
from graphcore import models  # noqa: E402
from graphcore.layers.base import learning_phase  # noqa: E402
from graphcore.models import adversarial, autoencoders, boltzmann, stacking  # noqa: E402
from graphcore.models.unsupervised import digits, save_image_grid  # noqa: E402



@functools.lru_cache(maxsize=None)
def trained_autoencoder(kind):
    return autoencoders.train_autoencoder(kind, seed=0)


@functools.lru_cache(maxsize=None)
def trained_gan(kind, png_path):
    return adversarial.train_gan(kind, epochs={"gan": 20, "dcgan": 10}[kind], seed=0, png_path=png_path)


@functools.lru_cache(maxsize=None)
def trained_dsn():
    return stacking.train_dsn(modules=4, seed=0)


def read_png(path):
    """Decode an 8-bit grayscale, filter-0 PNG (what the grid writer emits), checking every CRC."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + payload) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        chunks[kind] = chunks.get(kind, b"") + payload
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 0)
    return np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, width + 1)[:, 1:]


# ----- 1. autoencoders ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(autoencoders.KINDS))
def test_autoencoder_reconstructs_well_below_the_mean_image_baseline(kind):
    result = trained_autoencoder(kind)
    print(f"{kind}: test MSE {result['test_mse']:.4f} vs mean-image baseline {result['baseline_mse']:.4f}")
    assert result["test_mse"] < 0.5 * result["baseline_mse"]
    loss = result["history"]["loss"]
    assert loss[-1] < 0.8 * loss[0]


def test_sparse_autoencoders_make_sparse_codes():
    x = digits().x_test
    kl_codes = trained_autoencoder("sparse_kl")["model"].encode(x)
    l1_codes = trained_autoencoder("sparse_l1")["model"].encode(x)
    print(f"KL: mean activation {kl_codes.mean():.3f} (target 0.05); L1: {np.mean(l1_codes == 0):.0%} zeros")
    assert abs(kl_codes.mean() - 0.05) < 0.03
    assert np.mean(l1_codes == 0) > 0.5


def test_denoising_corrupts_only_in_training():
    model = trained_autoencoder("denoising")["model"]
    x = digits().x_test[:32]
    feed = {model.x: x}
    assert model.session.run(model.loss, feed) == model.session.run(model.loss, feed)
    training = {**feed, learning_phase(model.graph): np.array(True)}
    assert model.session.run(model.loss, training) != model.session.run(model.loss, training)
    np.testing.assert_array_equal(model.encode(x), model.encode(x))


def test_contractive_penalty_is_the_symbolic_jacobian_norm_with_a_checked_gradient():
    """The penalty equals ‖∂h/∂x‖²_F (closed form for a sigmoid layer, used here only as the oracle), and
    its gradient in W — a second-order symbolic derivative — matches central finite differences."""
    rng = np.random.default_rng(0)
    x_value, w_value, b_value = rng.normal(size=(5, 6)), rng.normal(size=(6, 4)), rng.normal(size=4)
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None, 6))
        W, b = gc.Variable(w_value), gc.Variable(b_value)
        h = gc.sigmoid(gc.matmul(x, W) + b)
        penalty = autoencoders.contractive_penalty(h, x)
        (grad,) = gc.gradients(penalty, [W])
    with gc.Session(graph) as sess:
        value, symbolic = sess.run([penalty, grad], {x: x_value})
        hv = 1 / (1 + np.exp(-(x_value @ w_value + b_value)))
        expected = np.mean(np.sum(np.square(hv * (1 - hv)) * np.square(w_value).sum(0), 1))
        np.testing.assert_allclose(value, expected, rtol=1e-10)
        numeric = np.zeros_like(w_value)
        for index in np.ndindex(w_value.shape):
            values = []
            for step in (1e-6, -1e-6):
                shifted = w_value.copy()
                shifted[index] += step
                sess.variables[W.node.name] = shifted
                values.append(sess.run(penalty, {x: x_value}))
            numeric[index] = (values[0] - values[1]) / 2e-6
    np.testing.assert_allclose(symbolic, numeric, rtol=1e-5, atol=1e-8)


def test_vae_samples_new_digits_from_the_prior(tmp_path):
    result = trained_autoencoder("variational")
    history, model, data = result["history"], result["model"], digits()
    assert history["kl"][-1] > 0 and history["reconstruction"][-1] < history["reconstruction"][0]
    samples = model.sample(64, seed=1)
    assert samples.shape == (64, 64) and samples.min() >= 0 and samples.max() <= 1
    assert samples.std(0).mean() > 0.05, "samples from the prior should differ from one another"
    noise = np.random.default_rng(1).uniform(size=samples.shape)
    nearest = adversarial.nearest_distance
    assert nearest(samples, data.x_train) < 0.5 * nearest(noise, data.x_train)
    assert read_png(save_image_grid(samples, tmp_path / "vae.png")).shape == (265, 265)


# ----- 2–3. RBMs and deep belief nets ---------------------------------------------------------------------

@pytest.mark.parametrize("k,persistent", [(1, False), (3, False), (1, True)], ids=["cd1", "cd3", "pcd1"])
def test_rbm_free_energy_and_reconstruction_error_fall(k, persistent):
    result = boltzmann.train_rbm(k=k, persistent=persistent, epochs=8, seed=0)
    history = result["history"]
    print(f"CD-{k}{' persistent' if persistent else ''}: {result['test']}")
    assert history["free_energy_vs_scrambled"][-1] < history["free_energy_vs_scrambled"][0] - 3
    assert history["reconstruction_error"][-1] < 0.6 * history["reconstruction_error"][0]


def test_rbm_update_is_the_contrastive_divergence_rule():
    """The symbolic gradient of F(v) − F(stop_gradient(v_k)) is −(⟨v hᵀ⟩_data − ⟨v hᵀ⟩_model)."""
    machine = boltzmann.RBM(64, 16, k=2, seed=3)
    v = digits().x_train[:20]
    grad_w, W, c, negative = machine.session.run([machine.grads[0], machine.W, machine.c, machine.negative],
                                                 {machine.v: v})
    assert set(np.unique(negative)) <= {0.0, 1.0}

    def expectation(visible):
        return visible.T @ (1 / (1 + np.exp(-(visible @ W + c)))) / len(visible)
    np.testing.assert_allclose(grad_w, -(expectation(v) - expectation(negative)), rtol=1e-4, atol=1e-6)


def test_deep_belief_net_pretraining_then_fine_tuning():
    result = boltzmann.train_dbn(pretrain_epochs=8, finetune_epochs=5, seed=0)
    print(f"DBN test accuracy: pre-trained {result['accuracy_pretrained']:.3f}, "
          f"random init {result['accuracy_random']:.3f}")
    assert result["accuracy_pretrained"] > 0.8
    assert result["accuracy_pretrained"] > result["accuracy_random"]


# ----- 4. GANs --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gan", "dcgan"])
def test_gan_trains_alternately_and_saves_a_grid(kind, tmp_path_factory):
    png = str(tmp_path_factory.mktemp(kind) / f"{kind}.png")
    result = trained_gan(kind, png)
    model, history = result["model"], result["history"]
    d_vars, g_vars = model.discriminator.trainable_variables, model.generator.trainable_variables
    assert not set(d_vars) & set(g_vars) and set(d_vars) | set(g_vars) == set(model.graph.trainable_variables)
    epochs = {"gan": 20, "dcgan": 10}[kind]
    for key in ("d_accuracy_real", "d_accuracy_fake"):
        assert len(history[key]) == epochs and all(0 <= a <= 1 for a in history[key])
    print(f"{kind}: D accuracy real {result['d_accuracy_real']:.2f} fake {result['d_accuracy_fake']:.2f}; "
          f"nearest-digit distance: samples {result['fake_nn_distance']:.2f}, held-out digits "
          f"{result['test_nn_distance']:.2f}, noise {result['noise_nn_distance']:.2f}")
    assert result["fake_nn_distance"] < (result["test_nn_distance"] + result["noise_nn_distance"]) / 2
    grid = read_png(result["png"])
    assert grid.shape == (265, 265) and grid.min() < 64 and grid.max() == 255


def test_each_gan_update_moves_only_its_own_player():
    model = adversarial.GAN("gan", seed=1)
    session = model.generator.session
    feed = {model.real: digits().x_train[:16], model.z: np.ones((16, model.latent), np.float32)}
    for (step, _), moved, fixed in zip(model.phases, (model.discriminator, model.generator),
                                       (model.generator, model.discriminator)):
        before = session.run(moved.trainable_variables + fixed.trainable_variables)
        session.run(step, feed)
        after = session.run(moved.trainable_variables + fixed.trainable_variables)
        count = len(moved.trainable_variables)
        assert all(not np.array_equal(a, b) for a, b in zip(before[:count], after[:count]))
        assert all(np.array_equal(a, b) for a, b in zip(before[count:], after[count:]))


# ----- 5. deep stacking network ---------------------------------------------------------------------------

def test_deep_stacking_network_accuracy_per_module():
    result = trained_dsn()
    accuracy = result["accuracy_per_module"]
    print("DSN test accuracy by number of modules:", ", ".join(f"{m + 1}: {a:.3f}" for m, a in enumerate(accuracy)))
    assert len(accuracy) == 4 and min(accuracy) > 0.95 and accuracy[-1] >= accuracy[0]
    assert all(curve[-1] < curve[0] for curve in result["curves"]), "lower weights learn through the solve"


def test_dsn_upper_weights_are_the_regularised_least_squares_solution():
    model, data = trained_dsn()["model"], digits()
    feed = {model.x: data.x_train}
    H = model.session.run(model.features[0], feed).astype(np.float64)
    U = model.session.run(model.stores[0].node.inputs[0])
    T = np.eye(10)[data.y_train]
    np.testing.assert_allclose(U, np.linalg.solve(H.T @ H + np.eye(H.shape[1]), H.T @ T), rtol=1e-2, atol=2e-3)
    widths = [model.session.run(m, feed).shape[1] for m in model.features]
    assert widths == [100] * 4


# ----- 6. image search ------------------------------------------------------------------------------------

def test_image_search_precision_at_10_against_raw_pixels():
    """The autoencoder's codes retrieve well, though not better than pixels (tests/test_search.py checks the
    embedding ``graphcore search`` uses does)."""
    from graphcore.apps import search
    data, encoder = digits(), trained_autoencoder("convolutional")["model"]
    results = {name: search.ImageSearch(embed, data.x_train, data.y_train).precision_at_k(data.x_test, data.y_test)
               for name, embed in (("autoencoder", encoder.encode), ("raw_pixels", search.raw_pixels))}
    print(f"precision@10: conv autoencoder codes {results['autoencoder']:.3f}, raw pixels {results['raw_pixels']:.3f}")
    assert results["autoencoder"] > 0.85 and results["raw_pixels"] > 0.85


# ----- 7. ONNX export and rendering -----------------------------------------------------------------------

def _inference_parts():
    ae, conv, vae = (trained_autoencoder(k)["model"] for k in ("undercomplete", "convolutional", "variational"))
    return {"dense_encoder": ae.encoder, "dense_decoder": ae.decoder, "conv_encoder": conv.encoder,
            "conv_decoder": conv.decoder, "vae_encoder": vae.encoder, "vae_decoder": vae.decoder}


@pytest.mark.parametrize("part", ["dense_encoder", "dense_decoder", "conv_encoder", "conv_decoder", "vae_encoder",
                                  "vae_decoder", "gan_generator", "dcgan_generator", "dsn"])
def test_inference_parts_export_to_onnx_with_parity(part, tmp_path):
    export = pytest.importorskip("graphcore.export")
    path = tmp_path / f"{part}.onnx"
    if part == "dsn":
        model = trained_dsn()["model"]
        export.to_onnx(model.graph, path, inputs=[model.x], outputs=[model.outputs[-1]], session=model.session)
        result = export.check(path, model.graph, session=model.session)
    else:
        if part.endswith("generator"):
            kind = part.split("_")[0]
            model = adversarial.GAN(kind, seed=0).generator
        else:
            model = _inference_parts()[part]
        export.to_onnx(model, path)
        result = export.check(path, model)
    assert result.ok, str(result)


def test_every_model_renders():
    machine = boltzmann.RBM(64, 8, persistent=True)
    sources = [*_inference_parts().values(), trained_autoencoder("contractive")["model"].autoencoder,
               adversarial.GAN("dcgan").discriminator, boltzmann.dbn_classifier(), machine.graph,
               trained_dsn()["model"].graph]
    for source in sources:
        dot = gc.render(source).source
        assert "digraph" in dot and len(dot) > 200


def test_zoo_builds_the_unsupervised_families():
    assert isinstance(models.get("autoencoder", kind="sparse_kl"), autoencoders.Autoencoder)
    assert isinstance(models.get("vae", latent=4), autoencoders.VariationalAutoencoder)
    assert isinstance(models.get("dcgan"), adversarial.GAN)
    assert isinstance(models.get("rbm", hidden=8), boltzmann.RBM)
    assert isinstance(models.get("dsn", modules=2), stacking.DeepStackingNetwork)
    assert models.get("dbn").count_params() == 64 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    with pytest.raises(ValueError, match="unknown autoencoder"):
        models.get("autoencoder", kind="nope")
