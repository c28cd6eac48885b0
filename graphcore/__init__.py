"""graphcore: a static computational graph with symbolic differentiation, a NumPy interpreter,
ONNX export and graphviz diagrams.

    import graphcore as gc
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    ...
    with gc.Session() as sess:
        sess.run(loss, feed_dict={x: data})
"""
import importlib as _importlib

from .dtypes import bool_, float16, float32, float64, int8, int32, int64, uint8
from .errors import (BuildError, CheckpointError, CompatError, DataError, DivergenceError, ExecutionError, FeedError,
                     FetchError, FileFormatError, FileWriteError, GradientError, GraphcoreError, GraphFinalizedError,
                     MissingFileError, NumericsError)
from .graph import Graph, Node, Tensor, control_dependencies, get_default_graph, name_scope, reset_default_graph
from .op import REGISTRY, convert_to_tensor
from .ops import *  # noqa: F401,F403  (the op library's graph-building functions)
from .gradients import gradients
from .control import cond, scan
from .autodiff import batch_jacobian, hessian, hessians, jacobian, jvp, vjp
from .session import InteractiveSession, Session
from .graph import get_default_session
from .variables import (GraphKeys, add_to_collection, add_to_collections, get_collection, get_collection_ref,
                        global_variables, global_variables_initializer, local_variables,
                        local_variables_initializer, trainable_variables, variables_initializer)
from .profiler import profile
from . import activations, callbacks, losses, metrics, optimizers, regularizers, train, training
from . import nn
from .train import clip_by_global_norm, clip_by_value, global_norm
from .errors import InvalidValueError, NotSupportedError
from . import unsupported  # noqa: F401  (declares the TF1 names graphcore refuses, with their reasons)
from . import layers
from .layers import Input
from .model import Model, Sequential, model_from_json
from .saving import load_model
from .version import __version__
from .diagram import render
from .diagram import notebook as _notebook  # noqa: F401  (fills graph.NOTEBOOK_VIEWS: graphs in Jupyter)
from .activations import binary_sigmoid, binary_step, bipolar_sigmoid, bipolar_step, linear, ramp
from .losses import (binary_cross_entropy, mean_absolute_percentage_error, mean_squared_error,
                     sigmoid_cross_entropy_with_logits, softmax_cross_entropy_with_logits,
                     sparse_softmax_cross_entropy_with_logits)



#: Modules that load on first use, by name: the zoo and the exporter import onnx and every model;
#: ``gc.search`` is where the tutorial's image search was before it moved with the applications.
_LAZY = {"models": "graphcore.models", "export": "graphcore.export", "search": "graphcore.apps.search"}


def __getattr__(name):
    """``gc.models``, ``gc.export`` (and ``gc.search``) load on first use."""
    if name in _LAZY:
        return _importlib.import_module(_LAZY[name])
    raise unsupported.refuse("gc", name)
