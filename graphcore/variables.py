"""TF1's variable collections, named collections and initializer ops, over a graph's variables.

graphcore initialises every variable when a session first needs it, so a TF1 program that never runs
``tf.global_variables_initializer()`` still works; running the initializer (again) resets the variables to
their initial values, as in TF1. A random initial value is drawn anew on each run of the initializer.

Named collections are lists kept on the graph (``tf.add_to_collection('losses', l)`` /
``tf.get_collection('losses')``); the variable keys read the graph's own variable lists.
"""
import re

from .compat import same_as
from .graph import get_default_graph
from .ops.state import group


class GraphKeys:
    """The standard collection names of TF1's ``tf.GraphKeys`` that graphcore fills or accepts."""

    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    SUMMARIES = "summaries"
    TRAIN_OP = "train_op"
    GLOBAL_STEP = "global_step"


_VARIABLE_KEYS = {
    GraphKeys.GLOBAL_VARIABLES: lambda graph: list(graph.variables),
    GraphKeys.TRAINABLE_VARIABLES: lambda graph: graph.trainable_variables,
}


def _scoped(items, scope):
    """Items whose name matches ``scope`` at its start (``re.match``, as TF1 filters collections)."""
    if scope is None:
        return list(items)
    return [item for item in items if getattr(item, "name", None) is not None and re.match(scope, item.name)]


@same_as("TF1", "tf.get_collection")
def get_collection(key, scope=None, graph=None):
    """A copy of collection ``key`` of the default graph (or ``graph``), filtered by ``scope``."""
    graph = graph or get_default_graph()
    items = _VARIABLE_KEYS[key](graph) if key in _VARIABLE_KEYS else graph.collections.get(key, [])
    return _scoped(items, scope)


@same_as("TF1", "tf.get_collection_ref")
def get_collection_ref(key, graph=None):
    """The list of collection ``key`` itself (appending to it adds to the collection)."""
    graph = graph or get_default_graph()
    if key in _VARIABLE_KEYS:
        return _VARIABLE_KEYS[key](graph)
    return graph.collections.setdefault(key, [])


@same_as("TF1", "tf.add_to_collection")
def add_to_collection(name, value, graph=None):
    get_collection_ref(name, graph).append(value)


@same_as("TF1", "tf.add_to_collections")
def add_to_collections(names, value, graph=None):
    for name in [names] if isinstance(names, str) else names:
        add_to_collection(name, value, graph)


@same_as("TF1", "tf.global_variables", "tf.all_variables")
def global_variables(scope=None):
    """Every variable of the default graph (optimizer slots included), in creation order."""
    return get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


@same_as("TF1", "tf.trainable_variables")
def trainable_variables(scope=None):
    """The trainable variables of the default graph, in creation order."""
    return get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


@same_as("TF1", "tf.local_variables", note="always empty: graphcore has no local variables")
def local_variables(scope=None):
    return []


@same_as("TF1", "tf.variables_initializer")
def variables_initializer(var_list, name="init"):
    """One node that, when run, sets each variable of ``var_list`` to its initial value."""
    var_list = list(var_list)
    graph = var_list[0].graph if var_list else get_default_graph()
    with graph.as_default():
        return group(*[v.initializer for v in var_list], name=name)


@same_as("TF1", "tf.global_variables_initializer", "tf.initialize_all_variables")
def global_variables_initializer():
    """``variables_initializer(global_variables())``: the variables that exist when it is called."""
    return variables_initializer(global_variables())


@same_as("TF1", "tf.local_variables_initializer", note="a node that does nothing: there are no local variables")
def local_variables_initializer():
    return variables_initializer([], name="init_local")
