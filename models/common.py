"""Helpers shared by the zoo's builders."""
import contextlib

from graphcore import Graph, Model
from graphcore.layers import Input


@contextlib.contextmanager
def fresh_model_graph():
    """Build a model in its own graph, so each zoo model has its own names, weights and session."""
    graph = Graph()
    with graph.as_default():
        yield graph


def scaled(channels, width):
    """Channel count scaled by a width multiplier, at least 1."""
    return max(1, int(round(channels * width)))


def functional(name, input_shape, body):
    """``Model(inp, body(inp))`` in a fresh graph."""
    with fresh_model_graph():
        inputs = Input(tuple(input_shape), name="input")
        return Model(inputs, body(inputs), name=name)
