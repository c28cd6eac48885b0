"""Normalisation layers: batch normalisation and AlexNet's local response normalisation."""
from ..ops.array import pad
from ..ops.math import add_n
from ..ops.nn import batch_norm
from ..ops.state import assign
from .base import Layer


class BatchNormalization(Layer):
    """Normalise each channel with the batch's statistics in training and the moving averages in inference.
    Weights in Keras order: gamma, beta, moving_mean, moving_variance (the last two not trainable); the
    moving averages are updated by ``updates``, which ``fit`` runs with every training step."""

    def __init__(self, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = center, scale

    def build(self, x):
        channels = (x.shape[1],)
        self.gamma = self.add_weight("gamma", channels, "ones", trainable=self.scale)
        self.beta = self.add_weight("beta", channels, "zeros", trainable=self.center)
        self.moving_mean = self.add_weight("moving_mean", channels, "zeros", trainable=False)
        self.moving_variance = self.add_weight("moving_variance", channels, "ones", trainable=False)

    def call(self, x):
        y, mean, var = batch_norm(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                                  self.training, axis=1, epsilon=self.epsilon)
        m = self.momentum
        self.updates = [assign(self.moving_mean, self.moving_mean * m + mean * (1.0 - m)),
                        assign(self.moving_variance, self.moving_variance * m + var * (1.0 - m))]
        return y


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
