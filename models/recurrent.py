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
from graphcore import recurrent

_CELLS = {"simple_rnn": (recurrent.simple_rnn, 1), "lstm": (recurrent.lstm, 4), "gru": (recurrent.gru, 3)}
CORPUS = os.path.join(os.path.dirname(gc.__file__), "data", "garden.txt")


def _glorot(rng, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def recurrent_weights(cell, features, units, rng, name):
    """Variables in Keras's layouts and initialisation: Glorot kernel, orthogonal recurrent kernel, zero
    bias with the LSTM forget gate's bias at 1 (GRU: the two-row reset_after bias)."""
    gates = _CELLS[cell][1]
    with gc.name_scope(name + "/"):
        kernel = gc.Variable(_glorot(rng, features, gates * units), name="kernel")
        blocks = [np.linalg.qr(rng.normal(size=(units, units)))[0] for _ in range(gates)]
        recurrent_kernel = gc.Variable(np.concatenate(blocks, axis=1).astype(np.float32), name="recurrent_kernel")
        bias = np.zeros((2, 3 * units) if cell == "gru" else (gates * units,), np.float32)
        if cell == "lstm":
            bias[units:2 * units] = 1.0
        return kernel, recurrent_kernel, gc.Variable(bias, name="bias")


def dense_weights(features, units, rng, name):
    with gc.name_scope(name + "/"):
        return gc.Variable(_glorot(rng, features, units), name="kernel"), \
            gc.Variable(np.zeros(units, np.float32), name="bias")


class SequenceModel:
    """A graph with its input and target placeholders, outputs, loss and training step, and a session."""

    def __init__(self, graph, inputs, targets, outputs, loss, optimizer):
        self.graph, self.inputs, self.targets, self.outputs, self.loss = graph, inputs, targets, outputs, loss
        with graph.as_default():
            self.train_op = optimizer.minimize(loss)
        self.session = gc.Session(graph)

    def fit(self, x, y, epochs=1, batch_size=32, seed=0):
        """Minibatch training; returns the mean loss of each epoch."""
        rng = np.random.default_rng(seed)
        history = []
        for _ in range(epochs):
            order = rng.permutation(len(x))
            losses = []
            for start in range(0, len(x), batch_size):
                batch = order[start:start + batch_size]
                loss, _ = self.session.run([self.loss, self.train_op], {self.inputs: x[batch], self.targets: y[batch]})
                losses.append(loss)
            history.append(float(np.mean(losses)))
        return history

    def predict(self, x):
        return self.session.run(self.outputs, {self.inputs: x})

    def evaluate(self, x, y):
        return float(self.session.run(self.loss, {self.inputs: x, self.targets: y}))


def _classifier(x, logits, graph, learning_rate):
    labels = gc.placeholder(gc.int64, (None,), name="labels")
    loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy_with_logits(labels, logits))
    return SequenceModel(graph, x, labels, logits, loss, gc.train.Adam(learning_rate))


def row_classifier(steps=8, features=8, classes=10, units=64, cell="lstm", learning_rate=0.01, seed=0):
    """Many-to-one: a recurrent layer reads (batch, steps, features); its last output is classified."""
    rng, graph = np.random.default_rng(seed), gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float32, (None, steps, features), name="x")
        h = _CELLS[cell][0](x, *recurrent_weights(cell, features, units, rng, cell))
        kernel, bias = dense_weights(units, classes, rng, "dense")
        return _classifier(x, h @ kernel + bias, graph, learning_rate)


def one_step_classifier(features=64, classes=10, units=64, learning_rate=0.01, seed=0):
    """One-to-one: each example is a single time step (see the module docstring)."""
    rng, graph = np.random.default_rng(seed), gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float32, (None, features), name="x")
        h = recurrent.simple_rnn(gc.expand_dims(x, 1), *recurrent_weights("simple_rnn", features, units, rng, "rnn"))
        kernel, bias = dense_weights(units, classes, rng, "dense")
        return _classifier(x, h @ kernel + bias, graph, learning_rate)


def next_value_regressor(steps, units=16, cell="gru", learning_rate=0.01, seed=0):
    """Many-to-many: (batch, steps, 1) → a prediction of the next value at every step (mean squared error)."""
    rng, graph = np.random.default_rng(seed), gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float32, (None, steps, 1), name="x")
        targets = gc.placeholder(gc.float32, (None, steps, 1), name="targets")
        hs = _CELLS[cell][0](x, *recurrent_weights(cell, 1, units, rng, cell), return_sequences=True)
        kernel, bias = dense_weights(units, 1, rng, "dense")          # time-distributed: applied at every step
        prediction = hs @ kernel + bias
        loss = gc.reduce_mean(gc.square(prediction - targets))
        return SequenceModel(graph, x, targets, prediction, loss, gc.train.Adam(learning_rate))


class CharModel(SequenceModel):
    """Character-level LSTM: trained many-to-many (predict each next character), used one-to-many.

    ``generate`` runs a second Scan in the same graph, sharing the weights: its only input is the start symbol;
    each step embeds the previous character, advances the LSTM and emits the most likely next character,
    which becomes the next step's input (an integer state of the loop).
    """

    def __init__(self, text, steps=32, units=96, embedding=16, generate_steps=120, learning_rate=0.01, seed=0):
        self.alphabet = sorted(set(text))
        self.index = {ch: i for i, ch in enumerate(self.alphabet)}
        self.encoded = np.array([self.index[ch] for ch in text], np.int64)
        self.steps, vocab = steps, len(self.alphabet)
        rng, graph = np.random.default_rng(seed), gc.Graph()
        with graph.as_default():
            chars = gc.placeholder(gc.int64, (None, steps), name="chars")
            targets = gc.placeholder(gc.int64, (None, steps), name="targets")
            table = gc.Variable(rng.normal(size=(vocab, embedding)).astype(np.float32) * 0.1, name="embedding")
            kernel, recurrent_kernel, bias = recurrent_weights("lstm", embedding, units, rng, "lstm")
            dense, dense_bias = dense_weights(units, vocab, rng, "dense")
            hs = recurrent.lstm(gc.gather(table, chars), kernel, recurrent_kernel, bias, return_sequences=True)
            logits = hs @ dense + dense_bias
            loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy_with_logits(targets, logits))

            self.start = gc.placeholder(gc.int64, (None,), name="start")

            def step(previous, h, c):
                xp = gc.gather(table, previous) @ kernel + bias
                h, c = recurrent.lstm_cell(xp, h, c, recurrent_kernel)
                following = gc.argmax(h @ dense + dense_bias, axis=-1)
                return [following, h, c], following
            zeros = gc.zeros_like((gc.gather(table, self.start) @ kernel)[:, :units])
            _, self.generated = gc.scan(step, initial_states=[self.start, zeros, zeros], n_steps=generate_steps,
                                        meta={"cell": "LSTM", "generator": True}, name="generate")
        super().__init__(graph, chars, targets, logits, loss, gc.train.Adam(learning_rate))

    def windows(self, count, rng):
        """``count`` random (input, next-character) windows of the text."""
        starts = rng.integers(0, len(self.encoded) - self.steps - 1, count)
        x = np.stack([self.encoded[s:s + self.steps] for s in starts])
        return x, np.stack([self.encoded[s + 1:s + self.steps + 1] for s in starts])

    def train(self, iterations, batch_size=32, seed=0):
        rng = np.random.default_rng(seed)
        losses = []
        for _ in range(iterations):
            x, y = self.windows(batch_size, rng)
            loss, _ = self.session.run([self.loss, self.train_op], {self.inputs: x, self.targets: y})
            losses.append(float(loss))
        return losses

    def generate(self, start="\n"):
        """Greedy text after the start symbol (one Scan run)."""
        ids = self.session.run(self.generated, {self.start: np.array([self.index[start]])})
        return "".join(self.alphabet[i] for i in ids[:, 0])


def load_corpus():
    with open(CORPUS, encoding="utf-8") as f:
        return f.read()
