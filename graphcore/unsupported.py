"""TF1 names graphcore deliberately does not provide, each with the words users read when they reach for it.

Reaching for one (``gc.get_variable``, ``gc.train.import_meta_graph``) raises a ``NotSupportedError`` with
that note; any other missing name says where the supported ones are listed. The rows are declared through
``graphcore.compat.difference``, so ``docs/compat.md`` lists them too.
"""
from .compat import ROWS, difference, public_name
from .errors import NotSupportedError

_VARIABLE_STORE = ("graphcore has no variable store or variable scopes: create variables with "
                   "gc.Variable(initial_value, name=...) and share one by passing the Python object around; "
                   "gc.name_scope names them")
_NO_CONFIG = ("sessions take no configuration: the NumPy interpreter runs on the CPU (export to ONNX for a GPU), "
              "and sess.run(..., profile=True) times every node")
_META_GRAPH = ("graphcore rebuilds graphs from code: Saver checkpoints hold variables only (a graph travels as an "
               "ONNX file: gc.export.to_onnx)")

# module ("gc", "gc.train", "gc.nn") → {attribute: note}
_REFUSED = {
    "gc": {
        "get_variable": difference("TF1", "tf.get_variable", "gc.Variable", _VARIABLE_STORE),
        "variable_scope": difference("TF1", "tf.variable_scope", "gc.name_scope", _VARIABLE_STORE),
        "while_loop": difference("TF1", "tf.while_loop", "gc.scan",
                                 "no loops with a data-dependent trip count: gc.scan loops over a sequence or a "
                                 "fixed n_steps (and differentiates through it)"),
        "ConfigProto": difference("TF1", "tf.ConfigProto", "gc.Session()", _NO_CONFIG),
        "GPUOptions": difference("TF1", "tf.GPUOptions", "gc.Session()", _NO_CONFIG),
        "RunOptions": difference("TF1", "tf.RunOptions", "gc.Session.run(profile=True)", _NO_CONFIG),
        "RunMetadata": difference("TF1", "tf.RunMetadata", "gc.Session.run(profile=True)", _NO_CONFIG),
        "py_func": difference("TF1", "tf.py_func", "gc.placeholder",
                              "a graph holds registered ops only (each with a gradient and an ONNX form): compute "
                              "the Python part outside the graph and feed its result"),
        "summary": difference("TF1", "tf.summary", "gc.Session.run",
                              "no TensorBoard summaries: fetch the values with sess.run (a Keras-style fit "
                              "returns its History)"),
        "data": difference("TF1", "tf.data", "gc.Session.run(feed_dict=)",
                           "no tf.data pipelines: feed NumPy batches through feed_dict"),
        "string": difference("TF1", "tf.string", "gc.float32",
                             "tensors hold numbers and booleans only: encode text as integer ids"),
        "SparseTensor": difference("TF1", "tf.SparseTensor", "gc.Tensor", "no sparse tensors: use dense ones"),
    },
    "gc.train": {
        "import_meta_graph": difference("TF1", "tf.train.import_meta_graph", "gc.train.Saver.restore", _META_GRAPH),
        "export_meta_graph": difference("TF1", "tf.train.export_meta_graph", "gc.train.Saver.save", _META_GRAPH),
        "AdadeltaOptimizer": difference("TF1", "tf.train.AdadeltaOptimizer", "gc.train.AdamOptimizer",
                                        "not provided: TF1's Adam, RMSProp, Adagrad, Momentum and gradient "
                                        "descent optimizers are"),
        "FtrlOptimizer": difference("TF1", "tf.train.FtrlOptimizer", "gc.train.AdagradOptimizer",
                                    "not provided: TF1's Adam, RMSProp, Adagrad, Momentum and gradient descent "
                                    "optimizers are"),
        "MonitoredTrainingSession": difference("TF1", "tf.train.MonitoredTrainingSession", "gc.Session",
                                               "no hooks or managed sessions: run the steps in a loop with a "
                                               "gc.Session and save with gc.train.Saver"),
    },
    "gc.nn": {
        "dynamic_rnn": difference("TF1", "tf.nn.dynamic_rnn", "gc.layers.LSTM",
                                  "no RNN cells API: use the recurrent layers (gc.layers.SimpleRNN/GRU/LSTM) or "
                                  "write the step with gc.scan"),
        "rnn_cell": difference("TF1", "tf.nn.rnn_cell", "gc.layers.LSTM",
                               "no RNN cells API: use the recurrent layers (gc.layers.SimpleRNN/GRU/LSTM) or "
                               "write the step with gc.scan"),
    },
}


def refuse(module, name):
    """The ``NotSupportedError`` for ``module.name`` (``module`` as users spell it: "gc", "gc.nn" …): the
    reason for a refused name, the graphcore spelling of a TF1 name spelled otherwise here, or where to look."""
    note = _REFUSED.get(module, {}).get(name)
    if note is not None:
        return NotSupportedError(f"{module}.{name}: {note}")
    theirs = "tf." + module[len("gc."):] + "." + name if module != "gc" else f"tf.{name}"
    spelled = [row.obj for row in ROWS if row.origin == "TF1" and row.theirs == theirs and row.obj is not None]
    if spelled:
        return NotSupportedError(f"module '{module}' has no attribute {name!r}: TF1's {theirs} is "
                                 f"{public_name(spelled[0])} in graphcore")
    return NotSupportedError(f"module '{module}' has no attribute {name!r} (the TF1 and Keras names graphcore "
                             "accepts, and where it differs, are listed in docs/compat.md)")
