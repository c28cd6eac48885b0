"""Autoencoders: vanilla, undercomplete, sparse (L1 and KL), denoising, contractive, convolutional and
variational, on flat 8×8 digits.

Each autoencoder is three Keras-style models over one graph that share their layers: ``encoder`` (image →
code), ``decoder`` (code → image) and ``autoencoder`` (image → reconstruction); those are the inference parts
that render and export to ONNX. The training objective is built beside them from graph ops — reconstruction
cross-entropy plus the family's penalty — and minimised with a graphcore optimizer. Nothing is hand-derived:
the contractive penalty differentiates the encoder symbolically and is then differentiated again by the
optimizer, and the VAE's reparameterised sample is an ordinary differentiable expression.
"""
import numpy as np

import graphcore as gc
from graphcore import layers
from graphcore.layers.base import learning_phase
from graphcore.model import Model
from graphcore.losses import binary_crossentropy

from .unsupervised import GraphWeights, apply, digits, mean_image_mse, run_epochs, seeded_graph


def contractive_penalty(h, x):
    """Mean over the batch of ‖∂h/∂x‖²_F for an encoder h(x) applied row by row, by symbolic differentiation.

    ``gc.batch_jacobian`` gives every example's Jacobian from one vjp traced into a loop over the code units
    (example i's code depends on example i's input only). The result is a graph, so optimizers differentiate
    it again (second order) — no closed form for a particular activation is assumed."""
    jacobians = gc.batch_jacobian(h, x)                       # (batch, code units, input features)
    examples = gc.size(h, h.dtype) / h.shape[-1]
    return gc.reduce_sum(gc.square(jacobians)) / examples


def kl_sparsity(h, rho):
    """Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j the mean activation of sigmoid unit j over the batch."""
    rho_hat = gc.minimum(gc.maximum(gc.reduce_mean(h, 0), 1e-6), 1 - 1e-6)
    return gc.reduce_sum(rho * gc.log(rho / rho_hat) + (1 - rho) * gc.log((1 - rho) / (1 - rho_hat)))


def _dense(units, activation, name=None):
    return layers.Dense(units, activation=activation, name=name)


def _dense_stacks(hidden, code, code_activation="sigmoid", input_dim=64):
    """(encoder layers, decoder layers): input → hidden… → code → reversed hidden… → sigmoid image."""
    encoder = [_dense(u, "relu") for u in hidden] + [_dense(code, code_activation, "code")]
    decoder = [_dense(u, "relu") for u in reversed(hidden)] + [_dense(input_dim, "sigmoid", "image")]
    return encoder, decoder


def _conv_stacks(code_channels=8):
    """8×8 image → stride-2 convolutions → 2×2×code_channels code → transposed convolutions → image."""
    encoder = [layers.Reshape((8, 8, 1)),
               layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
               layers.Conv2D(code_channels, 3, strides=2, padding="same", activation="relu"),
               layers.Flatten(name="code")]
    decoder = [layers.Reshape((2, 2, code_channels)),
               layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
               layers.Conv2DTranspose(1, 3, strides=2, padding="same"),
               layers.Flatten(), layers.Activation("sigmoid", name="image")]
    return encoder, decoder


class Autoencoder(GraphWeights):
    """An encoder/decoder pair and its training graph.

    ``penalty(code, x)`` adds a regulariser on the code (sparsity, contraction); ``noise`` > 0 corrupts the
    encoder's input by zeroing pixels with that probability, but only while the learning-phase switch is on,
    so inference (and the exported encoder) sees clean images.
    """

    def __init__(self, name, encoder_layers, decoder_layers, input_dim=64, penalty=None, noise=0.0,
                 learning_rate=0.01, seed=0):
        self.name = name
        with seeded_graph(seed) as graph:
            self.graph = graph
            x = layers.Input((input_dim,), name="image")
            code = apply(encoder_layers, x)
            self.encoder = Model(x, code, name=f"{name}_encoder")
            self.autoencoder = Model(x, apply(decoder_layers, code), name=name)
            z = layers.Input(code.shape[1:], name="code")
            self.decoder = Model(z, apply(decoder_layers, z), name=f"{name}_decoder")
            with graph.name_scope("objective"):
                self.loss, self.metrics = self._objective(x, code, encoder_layers, decoder_layers, penalty, noise)
            self.train_op = gc.train.Adam(learning_rate).minimize(self.loss, self.autoencoder.trainable_variables)
        self.x = x

    def _objective(self, x, code, encoder_layers, decoder_layers, penalty, noise):
        if noise:
            keep = gc.bernoulli(gc.ones_like(x) * (1.0 - noise))
            corrupted = gc.where(learning_phase(self.graph), x * keep, x)
            code = apply(encoder_layers, corrupted)
            reconstruction = apply(decoder_layers, code)
        else:
            reconstruction = self.autoencoder.outputs[0]
        loss = gc.reduce_mean(binary_crossentropy(x, reconstruction))   # per-example values, averaged
        metrics = {"reconstruction": loss}
        if penalty is not None:
            metrics["penalty"] = penalty(code, x)
            loss = loss + metrics["penalty"]
        return loss, metrics

    @property
    def session(self):
        return self.autoencoder.session

    def fit(self, x, epochs=20, batch_size=64, seed=0, callbacks=None):
        """Mini-batch training; returns the per-epoch history of the loss terms. ``callbacks``: Keras's
        (EarlyStopping on "loss", CSVLogger, TerminateOnNaN or your own)."""
        phase = learning_phase(self.graph)
        return run_epochs(self.session, [(self.train_op, {"loss": self.loss, **self.metrics})],
                          lambda batch: {self.x: batch, phase: np.array(True)}, [x], epochs, batch_size, seed,
                          callbacks, self)

    def encode(self, x):
        return self.encoder.predict(x, batch_size=512)

    def reconstruction_error(self, x):
        """Mean squared error per pixel of the deterministic reconstruction."""
        return float(np.mean(np.square(self.autoencoder.predict(x, batch_size=512) - x)))


class VariationalAutoencoder(Autoencoder):
    """A variational autoencoder (Kingma & Welling 2013) that generates new digits. Gaussian latent code: the
    encoder gives a mean and a log-variance, the training graph draws z = μ + exp(½ log σ²)·ε with
    ε ~ N(0, I) in the graph (the reparameterisation, so gradients reach μ and σ), and the loss is the
    negative ELBO: summed pixel cross-entropy plus KL(q(z|x) ‖ N(0, I)). The ``encoder`` model outputs μ;
    new digits come from the decoder applied to z drawn from the prior."""

    def __init__(self, latent=8, hidden=64, input_dim=64, learning_rate=0.005, seed=0):
        self.latent = latent
        self._log_variance = _dense(latent, None, "log_variance")
        encoder = [_dense(hidden, "relu"), _dense(latent, None, "mean")]
        decoder = [_dense(hidden, "relu"), _dense(input_dim, "sigmoid", "image")]
        super().__init__("variational", encoder, decoder, input_dim, learning_rate=learning_rate, seed=seed)

    def _objective(self, x, mean, encoder_layers, decoder_layers, penalty, noise):
        log_variance = self._log_variance(encoder_layers[0].output)
        z = mean + gc.exp(0.5 * log_variance) * gc.random_normal(mean, name="epsilon")
        pixels = x.shape[-1]
        reconstruction = pixels * gc.reduce_mean(binary_crossentropy(x, apply(decoder_layers, z)))
        kl = gc.reduce_mean(-0.5 * gc.reduce_sum(1 + log_variance - gc.square(mean) - gc.exp(log_variance), 1))
        return reconstruction + kl, {"reconstruction": reconstruction, "kl": kl}

    def sample(self, n, seed=0):
        """n new digits: the decoder's images for codes drawn from the prior N(0, I)."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent)).astype(np.float32)
        return self.decoder.predict(z, batch_size=512)


def _penalised(name, hidden, code, activation, penalty):
    def build(seed):
        return Autoencoder(name, *_dense_stacks(hidden, code, activation), penalty=penalty, seed=seed)
    return build


#: kind → builder(seed). Sizes are small enough to train in seconds on two cores.
KINDS = {
    # One hidden layer as wide as the input: nothing stops it learning the identity (the baseline).
    "vanilla": _penalised("vanilla", (), 64, "sigmoid", None),
    # A bottleneck of 8 units behind a 32-unit layer: it must compress.
    "undercomplete": _penalised("undercomplete", (32,), 8, "sigmoid", None),
    # Overcomplete (128 codes) made sparse: an L1 penalty on ReLU activities …
    "sparse_l1": _penalised("sparse_l1", (), 128, "relu",
                            lambda h, x: 1e-3 * gc.reduce_mean(gc.reduce_sum(gc.abs(h), 1))),
    # … or the KL divergence of each sigmoid unit's mean activation from a target ρ = 0.05.
    "sparse_kl": _penalised("sparse_kl", (), 128, "sigmoid", lambda h, x: 0.1 * kl_sparsity(h, 0.05)),
    "denoising": lambda seed: Autoencoder("denoising", *_dense_stacks((), 32), noise=0.3, seed=seed),
    # 16 sigmoid codes; the penalty is λ·mean over examples of ‖∂h/∂x‖²_F.
    "contractive": _penalised("contractive", (), 16, "sigmoid",
                              lambda h, x: 0.01 * contractive_penalty(h, x)),
    "convolutional": lambda seed: Autoencoder("convolutional", *_conv_stacks(), seed=seed),
    "variational": lambda seed: VariationalAutoencoder(seed=seed),
}

EPOCHS = {"vanilla": 20, "undercomplete": 80, "sparse_l1": 20, "sparse_kl": 40, "denoising": 20,
          "contractive": 40, "convolutional": 20, "variational": 60}


def autoencoder(kind="vanilla", seed=0):
    """An untrained autoencoder of one of the notes' kinds: vanilla, undercomplete, sparse (L1 or KL),
    denoising, contractive, convolutional or variational (``kind``, a key of ``KINDS``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown autoencoder {kind!r}; choose from {', '.join(KINDS)}")
    return KINDS[kind](seed)


def train_autoencoder(kind="vanilla", data=None, epochs=None, seed=0, batch_size=64):
    """Build and train an autoencoder on the digits. Returns a metrics dict: ``test_mse`` (per pixel, clean
    test images), ``baseline_mse`` (mean-image prediction), ``history`` (per-epoch loss terms) and ``model``
    (the trained ``Autoencoder``)."""
    data = data or digits()
    model = autoencoder(kind, seed)
    history = model.fit(data.x_train, epochs or EPOCHS[kind], batch_size, seed)
    return {"model": model, "history": history, "test_mse": model.reconstruction_error(data.x_test),
            "baseline_mse": mean_image_mse(data)}
