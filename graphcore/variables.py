"""TF1's variable collections, named collections and initializer ops, over a graph's variables.

graphcore initialises every variable when a session first needs it, so a TF1 program that never runs
``tf.global_variables_initializer()`` still works; running the initializer (again) resets the variables to
their initial values, as in TF1. A random initial value is drawn anew on each run of the initializer.

Named collections are lists kept on the graph (``tf.add_to_collection('losses', l)`` /
``tf.get_collection('losses')``); the variable keys read the graph's own variable lists.
"""
from .compat import same_as
from .graph import GraphKeys, get_default_graph
from .ops.state import group

__all__ = ["GraphKeys", "get_collection", "get_collection_ref", "add_to_collection", "add_to_collections",
           "global_variables", "trainable_variables", "local_variables", "variables_initializer",
           "global_variables_initializer", "local_variables_initializer"]


@same_as("TF1", "tf.get_collection")
def get_collection(key, scope=None, graph=None):
    """A copy of collection ``key`` of the default graph (or ``graph``), filtered by ``scope``."""
    return (graph or get_default_graph()).get_collection(key, scope)


@same_as("TF1", "tf.get_collection_ref")
def get_collection_ref(key, graph=None):
    """The list of collection ``key`` itself (appending to it adds to the collection)."""
    return (graph or get_default_graph()).get_collection_ref(key)


@same_as("TF1", "tf.add_to_collection")
def add_to_collection(name, value, graph=None):
    (graph or get_default_graph()).add_to_collection(name, value)


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
