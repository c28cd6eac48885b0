"""Generative adversarial networks on the digits: a dense GAN and a DCGAN (strided convolutions in the
discriminator, transposed convolutions in the generator).

One graph holds both players. The discriminator's layers are called twice — on real images and on the
generator's output — so they share weights; each player has its own variable list and optimizer, and
training alternates a discriminator update and a generator update per batch. The generator minimises the
non-saturating loss −log D(G(z)) rather than log(1 − D(G(z))), whose gradient vanishes while D wins.
"""
import numpy as np

import graphcore as gc
from graphcore import layers
from graphcore.layers.base import learning_phase
from graphcore.losses import sigmoid_cross_entropy_with_logits
from graphcore.model import Model

from .unsupervised import GraphWeights, apply, digits, run_epochs, save_image_grid, seeded_graph


def _dense_players(data_dim=64, hidden=128):
    generator = [layers.Dense(hidden, activation="relu"), layers.Dense(data_dim, activation="sigmoid", name="image")]
    discriminator = [layers.Dense(hidden, activation="leaky_relu"), layers.Dense(1, name="logit")]
    return generator, discriminator


def _dcgan_players(data_dim=64):
    generator = [layers.Dense(2 * 2 * 32, activation="relu"), layers.Reshape((2, 2, 32)),
                 layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
                 layers.Conv2DTranspose(1, 3, strides=2, padding="same"),
                 layers.Flatten(), layers.Activation("sigmoid", name="image")]
    discriminator = [layers.Reshape((8, 8, 1)),
                     layers.Conv2D(16, 3, strides=2, padding="same", activation="leaky_relu"),
                     layers.Conv2D(32, 3, strides=2, padding="same", activation="leaky_relu"),
                     layers.Flatten(), layers.Dense(1, name="logit")]
    return generator, discriminator


PLAYERS = {"gan": _dense_players, "dcgan": _dcgan_players}


class GAN(GraphWeights):
    """``generator`` (noise → image) and ``discriminator`` (image → real/fake logit) models and the
    alternating training graph."""

    def __init__(self, kind="gan", latent=16, data_dim=64, learning_rate=0.002, seed=0):
        self.latent = latent
        generator_layers, discriminator_layers = PLAYERS[kind](data_dim)
        with seeded_graph(seed) as graph:
            self.graph = graph
            z = layers.Input((latent,), name="noise")
            fake = apply(generator_layers, z)
            self.generator = Model(z, fake, name=f"{kind}_generator")
            real = layers.Input((data_dim,), name="image")
            real_logit = apply(discriminator_layers, real)
            self.discriminator = Model(real, real_logit, name=f"{kind}_discriminator")
            fake_logit = self.discriminator(fake)   # the model called as a layer: the same weights
            with graph.name_scope("objective"):
                d_loss = gc.reduce_mean(sigmoid_cross_entropy_with_logits(gc.ones_like(real_logit), real_logit)
                                        + sigmoid_cross_entropy_with_logits(gc.zeros_like(fake_logit), fake_logit))
                g_loss = gc.reduce_mean(sigmoid_cross_entropy_with_logits(gc.ones_like(fake_logit), fake_logit))
                accuracy_real = gc.reduce_mean(gc.cast(real_logit > 0.0, gc.float32))
                accuracy_fake = gc.reduce_mean(gc.cast(fake_logit < 0.0, gc.float32))
            # Adam with β₁ = 0.5, the DCGAN paper's setting: less momentum keeps the two players responsive.
            d_step = gc.train.Adam(learning_rate, beta1=0.5, name="d_adam").minimize(
                d_loss, self.discriminator.trainable_variables)
            g_step = gc.train.Adam(learning_rate, beta1=0.5, name="g_adam").minimize(
                g_loss, self.generator.trainable_variables)
        self.phases = [(d_step, {"d_loss": d_loss, "d_accuracy_real": accuracy_real,
                                 "d_accuracy_fake": accuracy_fake}),
                       (g_step, {"g_loss": g_loss})]
        self.z, self.real = z, real

    def fit(self, x, epochs=20, batch_size=64, seed=0, callbacks=None):
        """Alternate one discriminator and one generator update per batch (fresh noise for each batch);
        returns per-epoch losses and the discriminator's accuracy on real and on fake images."""
        noise, phase = np.random.default_rng(seed), learning_phase(self.graph)

        def feed(batch):
            z = noise.standard_normal((len(batch), self.latent)).astype(np.float32)
            return {self.real: batch, self.z: z, phase: np.array(True)}
        return run_epochs(self.generator.session, self.phases, feed, [x], epochs, batch_size, seed,
                          callbacks, self)

    def sample(self, n, seed=0):
        z = np.random.default_rng(seed).standard_normal((n, self.latent)).astype(np.float32)
        return self.generator.predict(z, batch_size=512)


def nearest_distance(samples, reference):
    """Mean Euclidean distance from each sample to its nearest reference image (sample realism)."""
    d2 = (np.square(samples).sum(1)[:, None] - 2 * samples @ reference.T + np.square(reference).sum(1)[None])
    return float(np.sqrt(np.maximum(d2.min(1), 0)).mean())


def train_gan(kind="gan", data=None, epochs=None, seed=0, png_path=None):
    """Train a GAN (``kind`` "gan" or "dcgan") on the digits; optionally save a PNG grid of 64 samples.
    Returns ``history``, the final discriminator accuracies, ``fake_nn_distance`` (samples to their
    nearest training digit) beside ``test_nn_distance`` (held-out real digits, the floor) and
    ``noise_nn_distance`` (uniform noise, the ceiling), and the ``model``."""
    data = data or digits()
    gan = GAN(kind, seed=seed)
    history = gan.fit(data.x_train, epochs or {"gan": 30, "dcgan": 20}[kind], seed=seed)
    samples = gan.sample(64, seed)
    noise = np.random.default_rng(seed).uniform(size=samples.shape).astype(np.float32)
    result = {"model": gan, "history": history, "samples": samples,
              "d_accuracy_real": history["d_accuracy_real"][-1], "d_accuracy_fake": history["d_accuracy_fake"][-1],
              "fake_nn_distance": nearest_distance(samples, data.x_train),
              "test_nn_distance": nearest_distance(data.x_test[:64], data.x_train),
              "noise_nn_distance": nearest_distance(noise, data.x_train)}
    if png_path is not None:
        result["png"] = save_image_grid(samples, png_path)
    return result


def dense_gan(latent=16, learning_rate=0.002, seed=0):
    """A GAN of two dense players: a generator from a 16-number code to 8×8 digits, and a discriminator."""
    return GAN("gan", latent, learning_rate=learning_rate, seed=seed)


def dcgan(latent=16, learning_rate=0.002, seed=0):
    """A DCGAN: transposed convolutions in the generator, strided convolutions in the discriminator."""
    return GAN("dcgan", latent, learning_rate=learning_rate, seed=seed)
