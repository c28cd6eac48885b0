"""Normalisation layers: batch normalisation and AlexNet's local response normalisation."""
import numpy as np

from .. import compat
from ..errors import CompatError
from ..ops.array import pad
from ..ops.math import add_n, logical_and
from ..ops.nn import batch_norm
from ..ops.state import assign, placeholder_with_default
from .base import Layer


@compat.same_as("Keras", "keras.layers.BatchNormalization", note="frozen (trainable=False): inference mode")
class BatchNormalization(Layer):
    """Normalise each channel with the batch's statistics in training and the moving averages in inference.
    Weights in Keras order: gamma, beta, moving_mean, moving_variance (the last two not trainable); the
    moving averages are updated by ``updates``, which ``fit`` runs with every training step.

    As in Keras 2.x (TF 2) and Keras 3, a frozen layer (``trainable = False``, then ``compile``) runs in
    inference mode even while the model trains, and its moving averages stay put: its training switch is the
    learning phase AND a per-layer switch that ``fit`` feeds False for a frozen layer."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.initializers = (gamma_initializer, beta_initializer, moving_mean_initializer, moving_variance_initializer)
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = center, scale

    def build(self, x):
        if self.axis % x.ndim != x.ndim - 1:
            raise CompatError(f"BatchNormalization(axis={self.axis}): {LAST_AXIS}")
        with x.graph.as_default():
            self.unfrozen = placeholder_with_default(True, shape=(), name="unfrozen")
        self.channel_axis = 1 if x.ndim in (2, 4) else x.ndim - 1   # Keras's axis=-1 (NCHW inside for images)
        channels = (x.shape[self.channel_axis],)
        gamma, beta, mean, variance = self.initializers
        self.gamma = self.add_weight("gamma", channels, gamma, trainable=self.scale, regularizer=self.gamma_regularizer)
        self.beta = self.add_weight("beta", channels, beta, trainable=self.center, regularizer=self.beta_regularizer)
        self.moving_mean = self.add_weight("moving_mean", channels, mean, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", channels, variance, trainable=False)

    def call(self, x):
        training = logical_and(self.training, self.unfrozen)
        y, mean, var = batch_norm(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                                  training, axis=self.channel_axis, epsilon=self.epsilon)
        m = self.momentum
        self.updates = [assign(self.moving_mean, self.moving_mean * m + mean * (1.0 - m)),
                        assign(self.moving_variance, self.moving_variance * m + var * (1.0 - m))]
        return y

    def training_feeds(self):
        return {} if self.trainable or not self.built else {self.unfrozen: np.array(False)}


LAST_AXIS = compat.difference("Keras", "keras.layers.BatchNormalization(axis=1 and others)",
                              "gc.layers.BatchNormalization(axis=-1)",
                              "graphcore normalises the last (channels) axis of channels-last data only: axis=-1")


class LocalResponseNormalization(Layer):
    """AlexNet's LRN across channels: x / (bias + α/size · Σ x²)^β over ``size`` neighbouring channels
    (ONNX LRN's definition), composed from primitives."""

    def __init__(self, size=5, alpha=1e-4, beta=0.75, bias=2.0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.bias = int(size), float(alpha), float(beta), float(bias)

    def call(self, x):
        channels = x.shape[1]
        before = (self.size - 1) // 2
        padded = pad(x * x, ((0, 0), (before, self.size - 1 - before), (0, 0), (0, 0)))
        window = add_n([padded[:, i:i + channels] for i in range(self.size)])
        return x / (window * (self.alpha / self.size) + self.bias) ** self.beta
