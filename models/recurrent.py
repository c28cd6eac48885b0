"""The notes' four recurrent input/output shapes, built from ``graphcore.recurrent`` and trained with
``gc.train`` optimizers.

* many-to-one  — ``row_classifier``: read an image row by row (digits: 8 steps × 8 pixels), classify at the end.
* many-to-many — ``next_value_regressor``: at every step, predict the next value of a series.
* one-to-many  — ``CharModel``: from one start symbol, generate a sequence; one Scan feeds each step's
  most likely character back as the next input (``n_steps``, no input sequence).
* one-to-one   — ``one_step_classifier``: the degenerate case, a sequence of length 1. With a zero initial
  state, h = tanh(x·K + b): the recurrent kernel never acts, so this is exactly a dense layer — recurrence
  only earns its keep when there is more than one step.

``graphcore/data/garden.txt`` is a small text written for graphcore (public domain) for the character model.
"""
import os

import numpy as np

import graphcore as gc
from graphcore import layers, recurrent
from graphcore.model import Model
from graphcore.trainer import feed_dict

from .common import fresh_model_graph, functional

_LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
CORPUS = os.path.join(os.path.dirname(gc.__file__), "data", "garden.txt")


def row_classifier(input_shape=(8, 8), num_classes=10, units=64, cell="lstm"):
    """Many-to-one: a recurrent layer reads (batch, steps, features); its last output is classified."""
    def body(x):
        h = _LAYERS[cell](units, name=cell)(x)
        return layers.Dense(num_classes, activation="softmax", name="output")(h)
    return functional("row_classifier", input_shape, body)


def one_step_classifier(input_shape=(64,), num_classes=10, units=64):
    """One-to-one: each example is a single time step (see the module docstring)."""
    def body(x):
        steps = layers.Reshape((1, input_shape[-1]), name="one_step")(x)
        h = layers.SimpleRNN(units, name="simple_rnn")(steps)
        return layers.Dense(num_classes, activation="softmax", name="output")(h)
    return functional("one_step_classifier", input_shape, body)


def next_value_regressor(input_shape=(40, 1), units=16, cell="gru"):
    """Many-to-many: (batch, steps, 1) → a prediction of the next value at every step."""
    def body(x):
        hs = _LAYERS[cell](units, return_sequences=True, name=cell)(x)
        return layers.TimeDistributed(layers.Dense(input_shape[-1]), name="output")(hs)
    return functional("next_value_regressor", input_shape, body)


class CharModel(Model):
    """Character-level LSTM: trained many-to-many (predict each next character), used one-to-many.

    ``generate`` runs a second Scan in the same graph, sharing the layers' weights: its only input is the
    start symbol; each step embeds the previous character, advances the LSTM and emits the most likely next
    character, which becomes the next step's input (an integer state of the loop).
    """

    def __init__(self, text, steps=32, units=96, embedding=16, generate_steps=120):
        self.alphabet = sorted(set(text))
        self.index = {ch: i for i, ch in enumerate(self.alphabet)}
        self.encoded = np.array([self.index[ch] for ch in text], np.int64)
        self.steps, vocab = steps, len(self.alphabet)
        with fresh_model_graph():
            chars = layers.Input((steps,), name="chars", dtype="int64")
            embed = layers.Embedding(vocab, embedding, name="embedding")
            lstm = layers.LSTM(units, return_sequences=True, name="lstm")
            dense = layers.Dense(vocab, name="logits")
            logits = dense(lstm(embed(chars)))
            self.start = gc.placeholder(gc.int64, (None,), name="start")

            def step(previous, h, c):
                xp = gc.gather(embed.embeddings, previous) @ lstm.kernel + lstm.bias
                h, c = recurrent.lstm_cell(xp, h, c, lstm.recurrent_kernel)
                following = gc.argmax(dense.call(h), axis=-1)
                return [following, h, c], following
            zeros = gc.zeros_like((gc.gather(embed.embeddings, self.start) @ lstm.kernel)[:, :units])
            _, self.generated = gc.scan(step, initial_states=[self.start, zeros, zeros], n_steps=generate_steps,
                                        meta={"cell": "LSTM", "generator": True}, name="generate")
        super().__init__(chars, logits, name="char_model")

    def windows(self, count, rng):
        """``count`` random (input, next-character) windows of the text."""
        starts = rng.integers(0, len(self.encoded) - self.steps - 1, count)
        x = np.stack([self.encoded[s:s + self.steps] for s in starts])
        return x, np.stack([self.encoded[s + 1:s + self.steps + 1] for s in starts])

    def train(self, iterations, batch_size=32, learning_rate=0.02, seed=0):
        """``iterations`` Adam steps on random windows (logits → sparse cross-entropy per character)."""
        if self.compilation is None:
            self.compile(gc.train.Adam(learning_rate), "sparse_categorical_crossentropy_from_logits")
        rng = np.random.default_rng(seed)
        losses = []
        for _ in range(iterations):
            x, y = self.windows(batch_size, rng)
            loss, _ = self.session.run([self.compilation.loss, self.compilation.train_op],
                                       feed_dict(self, x, y, training=True))
            losses.append(float(loss))
        return losses

    def generate(self, start="\n"):
        """Greedy text after the start symbol (one Scan run)."""
        ids = self.session.run(self.generated, {self.start: np.array([self.index[start]])})
        return "".join(self.alphabet[i] for i in ids[:, 0])


def load_corpus():
    with open(CORPUS, encoding="utf-8") as f:
        return f.read()
