"""The notes' first networks: the perceptron, the multilayer perceptron, the Keras CNN and LeNet-5."""
import numpy as np

import graphcore as gc
from graphcore import layers
from graphcore.model import Model

from .common import functional, fresh_model_graph


class Perceptron(Model):
    """Rosenblatt's perceptron: y = step(w·x + b) with a bipolar step, trained by the perceptron learning
    rule w ← w + η (t − y) x, b ← b + η (t − y), one example at a time. The rule is itself a graph of
    assignments (``rule_step``), since the step function has no gradient to descend."""

    def __init__(self, input_shape, learning_rate=1.0, threshold=0.0):
        with fresh_model_graph() as graph:
            inputs = layers.Input(tuple(input_shape), name="input")
            self.unit = layers.Dense(1, activation=lambda x: gc.bipolar_step(x, threshold), name="unit",
                                     kernel_initializer="zeros")
            outputs = self.unit(inputs)
            with graph.name_scope("perceptron_rule"):
                self.target = gc.placeholder(gc.float32, (None, 1), name="target")
                error = (self.target - outputs) * learning_rate
                self.rule_step = gc.group(gc.assign_add(self.unit.kernel, gc.matmul(inputs, error, transpose_a=True)),
                                          gc.assign_add(self.unit.bias, gc.reduce_sum(error, 0)))
        super().__init__(inputs, outputs, name="perceptron")

    def fit(self, x, t, epochs=10, verbose=0, **unused):
        """Apply the rule example by example until an epoch makes no mistake (or ``epochs`` run out);
        targets are ±1. Returns the number of mistakes per epoch."""
        x, t = np.asarray(x, np.float32), np.asarray(t, np.float32).reshape(-1, 1)
        mistakes = []
        for _ in range(epochs):
            wrong = 0
            for xi, ti in zip(x, t):
                feed = {self.input_placeholders[0]: xi[None], self.target: ti[None]}
                wrong += int(self.session.run(self.outputs[0], feed)[0, 0] != ti[0])
                self.session.run(self.rule_step, feed)
            mistakes.append(wrong)
            if wrong == 0:
                break
        return mistakes


def perceptron(input_shape=(2,), num_classes=2, learning_rate=1.0, threshold=0.0):
    """A single bipolar-step unit separating two classes (num_classes must be 2)."""
    if num_classes != 2:
        raise ValueError("a perceptron separates exactly two classes")
    return Perceptron(input_shape, learning_rate, threshold)


def mlp(input_shape=(64,), num_classes=10, hidden=(128,), activation="relu", dropout=0.0):
    """Multilayer perceptron: Dense layers with ``activation``, softmax output."""
    def body(x):
        for units in hidden:
            x = layers.Dense(units, activation=activation)(x)
            if dropout:
                x = layers.Dropout(dropout)(x)
        return layers.Dense(num_classes, activation="softmax")(x)
    return functional("mlp", input_shape, body)


def seed_cnn(input_shape=(128, 128, 3), num_classes=10):
    """The notes' Keras CNN: Conv2D 16 2×2, MaxPool 2, Conv2D 32 2×2, MaxPool 2, Dense 100, softmax."""
    def body(x):
        x = layers.Conv2D(16, kernel_size=(2, 2), strides=(1, 1), activation="relu")(x)
        x = layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2))(x)
        x = layers.Conv2D(32, kernel_size=(2, 2), activation="relu")(x)
        x = layers.MaxPooling2D(pool_size=(2, 2))(x)
        x = layers.Flatten()(x)
        x = layers.Dense(100, activation="relu")(x)
        return layers.Dense(num_classes, activation="softmax")(x)
    return functional("seed_cnn", input_shape, body)


def lenet5(input_shape=(32, 32, 1), num_classes=10, activation="tanh"):
    """LeNet-5 as in the notes' table: C1 conv 6@5×5 (28×28×6), S2 average pool (14×14×6), C3 conv 16@5×5
    (10×10×16), S4 average pool (5×5×16), C5 conv 120@5×5 (1×1×120), F6 dense 84 tanh, softmax output.
    61,706 parameters at 32×32×1 and 10 classes (C3 fully connected, not the 1998 sparse table)."""
    def body(x):
        x = layers.Conv2D(6, 5, activation=activation, name="c1")(x)
        x = layers.AveragePooling2D(2, 2, name="s2")(x)
        x = layers.Conv2D(16, 5, activation=activation, name="c3")(x)
        x = layers.AveragePooling2D(2, 2, name="s4")(x)
        x = layers.Conv2D(120, 5, activation=activation, name="c5")(x)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(84, activation=activation, name="f6")(x)
        return layers.Dense(num_classes, activation="softmax", name="output")(x)
    return functional("lenet5", input_shape, body)
