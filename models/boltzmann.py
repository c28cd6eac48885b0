"""Restricted Boltzmann machines (Bernoulli–Bernoulli) trained by contrastive divergence, and deep belief
nets pre-trained greedily from them.

Everything is in the graph: the Gibbs chain is built from ``bernoulli`` sampling ops, and the update is the
gradient of the free-energy difference F(v_data) − F(v_model) with ``stop_gradient`` on the chain's end, so
the optimizer's ordinary symbolic gradient *is* the CD rule ⟨v hᵀ⟩_data − ⟨v hᵀ⟩_model. CD-k restarts the
chain at the data; persistent CD keeps the chain's state in a variable between updates.
"""
import numpy as np

import graphcore as gc
from graphcore import layers
from graphcore.model import Model

from .unsupervised import digits, run_epochs, seeded_graph


class RBM:
    """A restricted Boltzmann machine (Bernoulli–Bernoulli) over ``visible`` units, trained by contrastive
    divergence; data in [0, 1] are read as probabilities."""

    def __init__(self, visible=64, hidden=64, k=1, persistent=False, chains=100, learning_rate=0.3, seed=0):
        self.k, self.persistent = k, persistent
        with seeded_graph(seed) as graph:
            self.graph = graph
            self.v = gc.placeholder(gc.float32, (None, visible), name="visible")
            self.W = gc.Variable(gc.random_normal((visible, hidden), stddev=0.01), name="W")
            self.b = gc.Variable(np.zeros(visible, np.float32), name="visible_bias")
            self.c = gc.Variable(np.zeros(hidden, np.float32), name="hidden_bias")
            params = [self.W, self.b, self.c]
            if persistent:
                self.chain = gc.Variable(np.zeros((chains, visible), np.float32), name="chain", trainable=False)
                start = self.chain
            else:
                start = self.v
            with graph.name_scope("gibbs"):
                self.negative = gc.stop_gradient(self.gibbs(start, k))
            with graph.name_scope("free_energy"):
                data_energy = gc.reduce_mean(self.free_energy(self.v))
                self.loss = data_energy - gc.reduce_mean(self.free_energy(self.negative))
            self.grads = gc.gradients(self.loss, params)
            step = gc.train.SGD(learning_rate).apply_gradients(zip(self.grads, params))
            self.train_op = gc.group(step, gc.assign(self.chain, self.negative)) if persistent else step
            with graph.name_scope("monitor"):
                # F has an unknown offset (log Z), so "falls" is measured against the same images with their
                # pixels scrambled by one fixed permutation: F(data) − F(scrambled) = log p(scrambled)/p(data).
                scramble = np.random.default_rng(seed).permutation(visible)
                scrambled = gc.reduce_mean(self.free_energy(gc.gather(self.v, scramble, axis=1)))
                mean_field = self.visible_probs(self.hidden_probs(self.v))
                self.metrics = {"free_energy": data_energy, "free_energy_vs_scrambled": data_energy - scrambled,
                                "reconstruction_error": gc.reduce_mean(gc.square(self.v - mean_field))}
            self.hidden = self.hidden_probs(self.v)
        self.session = gc.Session(graph)

    def hidden_probs(self, v):
        return gc.sigmoid(gc.matmul(v, self.W) + self.c)

    def visible_probs(self, h):
        return gc.sigmoid(gc.matmul(h, self.W, transpose_b=True) + self.b)

    def gibbs(self, v, steps):
        """``steps`` alternating samples h ~ p(h|v), v ~ p(v|h), unrolled in the graph."""
        for _ in range(steps):
            v = gc.bernoulli(self.visible_probs(gc.bernoulli(self.hidden_probs(v))))
        return v

    def free_energy(self, v):
        """F(v) = −v·b − Σ_j softplus(vW + c)_j, per example (p(v) ∝ e^(−F(v)))."""
        return -gc.reduce_sum(v * self.b, 1) - gc.reduce_sum(gc.softplus(gc.matmul(v, self.W) + self.c), 1)

    def fit(self, x, epochs=10, batch_size=16, seed=0):
        """CD-k (or PCD-k) updates over mini-batches; returns the per-epoch monitors of the data (free energy,
        free energy relative to scrambled images, mean-field reconstruction error), measured before each
        update."""
        return run_epochs(self.session, [(self.train_op, self.metrics)], lambda batch: {self.v: batch}, [x],
                          epochs, batch_size, seed)

    def transform(self, x):
        """Hidden unit probabilities p(h = 1 | v): the features the next RBM of a DBN learns from."""
        return self.session.run(self.hidden, {self.v: x})

    def evaluate(self, x):
        return {k: float(v) for k, v in self.session.run(self.metrics, {self.v: x}).items()}

    def get_weights(self):
        """[W, hidden bias]: a Dense layer's (kernel, bias) computing p(h | v)."""
        return self.session.run([self.W, self.c])


def train_rbm(data=None, hidden=64, k=1, persistent=False, epochs=10, seed=0):
    """Train an RBM on the digits. Returns ``history`` (per-epoch free energy and reconstruction error),
    the held-out ``test`` metrics and the ``model``."""
    data = data or digits()
    rbm = RBM(data.x_train.shape[1], hidden, k=k, persistent=persistent, seed=seed)
    history = rbm.fit(data.x_train, epochs, seed=seed)
    return {"model": rbm, "history": history, "test": rbm.evaluate(data.x_test)}


def pretrain_dbn(x, hidden=(64, 32), epochs=10, k=1, seed=0):
    """Greedy layer-wise pre-training: each RBM learns the previous one's hidden probabilities."""
    rbms = []
    for i, units in enumerate(hidden):
        rbm = RBM(x.shape[1], units, k=k, seed=seed + i)
        rbm.fit(x, epochs, seed=seed + i)
        rbms.append(rbm)
        x = rbm.transform(x)
    return rbms


def dbn_classifier(input_dim=64, hidden=(64, 32), num_classes=10, rbms=None, seed=0):
    """The deep belief net as a feed-forward classifier: sigmoid Dense layers (initialised from ``rbms``
    when given) and a softmax output, ready for supervised fine-tuning with ``compile``/``fit``."""
    with seeded_graph(seed):
        x = layers.Input((input_dim,), name="image")
        stack = [layers.Dense(units, activation="sigmoid", name=f"rbm_{i}") for i, units in enumerate(hidden)]
        h = x
        for layer in stack:
            h = layer(h)
        model = Model(x, layers.Dense(num_classes, activation="softmax", name="output")(h), name="dbn")
    for layer, rbm in zip(stack, rbms or []):
        layer.set_weights(rbm.get_weights())
    return model


def train_dbn(data=None, hidden=(64, 32), pretrain_epochs=10, finetune_epochs=5, seed=0):
    """Fine-tune the same classifier twice — from pre-trained RBMs and from random weights — with the same
    optimizer and epochs; returns both test accuracies and the pre-trained ``model``."""
    data = data or digits()
    rbms = pretrain_dbn(data.x_train, hidden, pretrain_epochs, seed=seed)
    results = {"rbms": rbms}
    for label, init in (("pretrained", rbms), ("random", None)):
        model = dbn_classifier(data.x_train.shape[1], hidden, data.num_classes, init, seed)
        model.compile(gc.train.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(data.x_train, data.y_train, epochs=finetune_epochs, batch_size=32, verbose=0, seed=seed)
        results[f"accuracy_{label}"] = model.evaluate(data.x_test, data.y_test)[1]
        results.setdefault("model", model)
    return results
