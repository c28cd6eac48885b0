"""Recurrent layers, Keras-style, over the graph functions of ``graphcore.recurrent``.

Weights are created and returned in Keras's layouts and gate orders (LSTM i, f, c, o; GRU z, r, h with the
two-row ``reset_after`` bias), so ``get_weights``/``set_weights`` exchange arrays with Keras unchanged.
Initial states are passed Keras's list way: ``layer([x, h0])`` or ``LSTM(...)([x, h0, c0])``.
"""
import numpy as np

from .. import compat, recurrent
from ..ops.array import concat, gather, reshape
from ..ops.math import cast
from ..errors import BuildError, CompatError
from .base import MASKING, Layer, _as_list
from .core import Dense

RNN_DROPOUT = compat.difference("Keras", "keras.layers.LSTM/GRU/SimpleRNN(dropout=, recurrent_dropout=)",
                                "gc.layers.Dropout", "recurrent layers have no dropout of their own: put a Dropout "
                                "layer before (inputs) or after (outputs) the recurrent layer")
STATEFUL = compat.difference("Keras", "keras.layers.LSTM(stateful=True)", "gc.layers.LSTM(initial_state=)",
                             "no stateful RNNs: pass the state on yourself with return_state=True and "
                             "layer(x, initial_state=...)")


class _Recurrent(Layer):
    gates, cell = 1, None

    def __init__(self, units, return_sequences=False, return_state=False, go_backwards=False,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0,
                 stateful=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        if dropout or recurrent_dropout:
            raise CompatError(f"{type(self).__name__}(dropout=, recurrent_dropout=): {RNN_DROPOUT}")
        if stateful:
            raise CompatError(f"{type(self).__name__}(stateful=True): {STATEFUL}")
        self.units, self.return_sequences = int(units), return_sequences
        self.return_state, self.go_backwards = return_state, go_backwards
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.regularizers = (kernel_regularizer, recurrent_regularizer, bias_regularizer)

    def __call__(self, inputs, initial_state=None, training=None, **kwargs):
        """Keras's call: ``layer(x, initial_state=[h0])`` (LSTM: ``[h0, c0]``) is ``layer([x, h0, ...])``."""
        if initial_state is not None:
            inputs = [inputs, *_as_list(initial_state)]
        return super().__call__(inputs, training=training, **kwargs)

    def build(self, inputs):
        x = _as_list(inputs)[0]
        width = self.gates * self.units
        kernel, recurrent, bias = self.regularizers
        self.kernel = self.add_weight("kernel", (x.shape[-1], width), self.kernel_initializer, regularizer=kernel)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                                                regularizer=recurrent)
        self.bias = self.add_weight("bias", self.bias_shape(), self.bias_initializer, regularizer=bias)

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


def _standard_activations(layer, activation, recurrent_activation):
    if (activation, recurrent_activation) != ("tanh", "sigmoid"):
        raise CompatError(f"{layer}(activation={activation!r}, recurrent_activation={recurrent_activation!r}): "
                          f"{GATE_ACTIVATIONS}")


GATE_ACTIVATIONS = compat.difference("Keras", "keras.layers.LSTM/GRU(activation=, recurrent_activation=)",
                                     "gc.layers.LSTM", "LSTM and GRU run the standard tanh and sigmoid (the fused "
                                     "cells and ONNX's recurrent ops): leave the activations at their defaults")


@compat.same_as("Keras", "keras.layers.SimpleRNN")
class SimpleRNN(_Recurrent):
    """h' = activation(x·K + h·R + b)."""

    function = staticmethod(recurrent.simple_rnn)

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = activation

    def options(self):
        return {"activation": self.activation}


@compat.same_as("Keras", "keras.layers.LSTM", "keras.layers.LSTM()(x, initial_state=[h, c])")
class LSTM(_Recurrent):
    """Long short-term memory; Keras's unit forget bias (the f-gate bias starts at 1)."""

    gates, function = 4, staticmethod(recurrent.lstm)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, **kwargs)
        _standard_activations(type(self).__name__, activation, recurrent_activation)

    def bias_initializer(self, shape, dtype, fans=None):
        bias = np.zeros(shape, dtype)
        bias[self.units:2 * self.units] = 1
        return bias


@compat.same_as("Keras", "keras.layers.GRU")
class GRU(_Recurrent):
    """Gated recurrent unit; ``reset_after`` (default, as in Keras) has a (2, 3·units) bias."""

    gates, function = 3, staticmethod(recurrent.gru)

    def __init__(self, units, reset_after=True, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, **kwargs)
        _standard_activations(type(self).__name__, activation, recurrent_activation)
        self.reset_after = reset_after

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def options(self):
        return {"reset_after": self.reset_after}


@compat.same_as("Keras", "keras.layers.Bidirectional")
class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy backwards; merges the outputs (concat, sum, mul or ave). The
    backward sequence is flipped back so both are aligned in time, as Keras does."""

    def __init__(self, layer, merge_mode="concat", **kwargs):
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        config = dict(layer.get_config(), go_backwards=not layer.go_backwards, name=None)
        self.forward_layer, self.backward_layer = layer, type(layer)(**config)

    def _sublayers(self):
        return [self.forward_layer, self.backward_layer]

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


@compat.same_as("Keras", "keras.layers.Embedding", "keras.layers.Embedding(input_length=)",
                note="ids may come as floats (cast, as Keras does); a Sequential starting with it takes int64 ids")
class Embedding(Layer):
    """Integer ids → rows of a (input_dim, output_dim) table (Keras's default initializer: U(−0.05, 0.05)).
    Keras 2's ``input_length`` gives the input shape of a Sequential's first layer."""

    input_dtype = "int64"

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, input_length=None, **kwargs):
        if mask_zero:
            raise CompatError(f"Embedding(mask_zero=True): {MASKING}")
        if input_length is not None and kwargs.get("input_shape") is None:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer, self.embeddings_regularizer = embeddings_initializer, embeddings_regularizer

    def build(self, ids):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, regularizer=self.embeddings_regularizer)

    def call(self, ids):
        if ids.dtype.kind not in "iu":
            ids = cast(ids, np.int64)   # Keras casts float ids (truncating), e.g. from a float32 Input
        return gather(self.embeddings, ids)


@compat.same_as("Keras", "keras.layers.TimeDistributed")
class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of (batch, time, ...) by folding time into the batch."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def _sublayers(self):
        return [self.layer]

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
