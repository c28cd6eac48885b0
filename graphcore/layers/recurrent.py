"""Recurrent layers, Keras-style, over the graph functions of ``graphcore.recurrent``.

Weights are created and returned in Keras's layouts and gate orders (LSTM i, f, c, o; GRU z, r, h with the
two-row ``reset_after`` bias), so ``get_weights``/``set_weights`` exchange arrays with Keras unchanged.
Initial states are passed Keras's list way: ``layer([x, h0])`` or ``LSTM(...)([x, h0, c0])``.
"""
import numpy as np

from .. import recurrent
from ..ops.array import concat, gather, reshape
from ..ops.random import random_normal
from ..errors import BuildError
from .base import Layer, _as_list
from .core import Dense


def orthogonal(shape, dtype, fans=None, seed=None):
    """Keras's recurrent-kernel default: one orthogonal (units × units) block per gate."""
    rng = np.random.default_rng(seed)
    units, width = shape
    blocks = [np.linalg.qr(rng.normal(size=(units, units)))[0] for _ in range(width // units)]
    return np.concatenate(blocks, axis=1).astype(dtype)


class _Recurrent(Layer):
    gates, cell = 1, None

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False,
                 kernel_initializer="glorot_uniform", recurrent_initializer=orthogonal, **kwargs):
        super().__init__(**kwargs)
        self.units, self.return_sequences = int(units), return_sequences
        self.return_state, self.go_backwards = return_state, go_backwards
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer

    def build(self, inputs):
        x = _as_list(inputs)[0]
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (x.shape[-1], width), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer)
        self.bias = self.add_weight("bias", self.bias_shape(), self.bias_initializer)

    def bias_shape(self):
        return (self.gates * self.units,)

    def bias_initializer(self, shape, dtype, fans=None):
        return np.zeros(shape, dtype)

    def call(self, inputs):
        x, *states = _as_list(inputs)
        return self.function(x, self.kernel, self.recurrent_kernel, self.bias, initial_state=states or None,
                             return_sequences=self.return_sequences, return_state=self.return_state,
                             go_backwards=self.go_backwards, **self.options())

    def options(self):
        return {}


class SimpleRNN(_Recurrent):
    """h' = activation(x·K + h·R + b)."""

    function = staticmethod(recurrent.simple_rnn)

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = activation

    def options(self):
        return {"activation": self.activation}


class LSTM(_Recurrent):
    """Long short-term memory; Keras's unit forget bias (the f-gate bias starts at 1)."""

    gates, function = 4, staticmethod(recurrent.lstm)

    def bias_initializer(self, shape, dtype, fans=None):
        bias = np.zeros(shape, dtype)
        bias[self.units:2 * self.units] = 1
        return bias


class GRU(_Recurrent):
    """Gated recurrent unit; ``reset_after`` (default, as in Keras) has a (2, 3·units) bias."""

    gates, function = 3, staticmethod(recurrent.gru)

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def options(self):
        return {"reset_after": self.reset_after}


class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy backwards; merges the outputs (concat, sum, mul or ave). The
    backward sequence is flipped back so both are aligned in time, as Keras does."""

    def __init__(self, layer, merge_mode="concat", **kwargs):
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        config = dict(layer.get_config(), go_backwards=not layer.go_backwards, name=None)
        self.forward_layer, self.backward_layer = layer, type(layer)(**config)

    def call(self, inputs):
        forward, backward = self.forward_layer(inputs), self.backward_layer(inputs)
        self.weights = self.forward_layer.weights + self.backward_layer.weights
        states = []
        if self.forward_layer.return_state:   # Keras order: merged output, forward states, backward states
            (forward, *forward_states), (backward, *backward_states) = forward, backward
            states = forward_states + backward_states
        if self.forward_layer.return_sequences:
            backward = backward[:, ::-1]
        if self.merge_mode == "concat":
            merged = concat([forward, backward], axis=-1)
        else:
            merged = forward + backward if self.merge_mode in ("sum", "ave") else forward * backward
            merged = merged * 0.5 if self.merge_mode == "ave" else merged
        return [merged] + states if states else merged


class Embedding(Layer):
    """Integer ids → rows of a (input_dim, output_dim) table."""

    def __init__(self, input_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)

    def build(self, ids):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          lambda shape, dtype, fans=None: random_normal(shape, 0.0, 0.05, dtype))

    def call(self, ids):
        return gather(self.embeddings, ids)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of (batch, time, ...) by folding time into the batch."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, x):
        if isinstance(self.layer, Dense):
            y = self.layer(x)   # a dense layer acts on the last axis already, whatever the time steps
        else:
            steps = x.shape[1]
            if steps is None:
                raise BuildError(f"TimeDistributed({type(self.layer).__name__}) needs a known number of time "
                                 f"steps, got {x.shape}")
            y = self.layer(reshape(x, (-1,) + x.shape[2:]))
            y = reshape(y, (-1, steps) + y.shape[1:])
        self.weights = self.layer.weights
        return y
