"""Errors that point at the user's code.

Every error raised about a node names the node, its op type and the file:line of the user code that created
it, so a shape mismatch found at run time can still be traced to the line that built the bad op.
"""
from .sites import creation_site


class GraphcoreError(Exception):
    """Base class of every error graphcore raises on purpose."""

    def __init__(self, message, node=None):
        self.node = node
        self.detail = message
        super().__init__(_with_node_context(message, node))


def _with_node_context(message, node):
    if node is None:
        return message
    return f"{message}\n  node: '{node.name}' ({node.op.type}), created at {node.site}"


class BuildError(GraphcoreError, ValueError):
    """A node cannot be built: bad shapes, dtypes or attributes (found at build time). Raised before any
    node exists (a bad axis, shape or argument), it names the user's file:line that made the call."""

    def __init__(self, message, node=None):
        super().__init__(message, node)
        if node is None and "\n  at " not in message:
            self.args = (f"{self.args[0]}\n  at {creation_site()}",)


class GraphFinalizedError(GraphcoreError, RuntimeError):
    """A node was added to a graph after ``Graph.finalize()``."""


class FeedError(GraphcoreError, ValueError):
    """A feed is missing, or its shape or dtype does not fit the placeholder."""


class ExecutionError(GraphcoreError, RuntimeError):
    """A kernel failed while running; the original exception is kept in ``original``."""

    def __init__(self, message, node=None, original=None):
        self.original = original
        super().__init__(message, node)


class InvalidValueError(ExecutionError, ValueError):
    """A value met at run time is outside what an op accepts (a class label not below the number of classes,
    a negative embedding id), where computing on would give a plausible wrong result; names the node, the
    value and its index."""


class NumericsError(ExecutionError):
    """``check_numerics`` found a NaN or Inf; names the first node that produced it."""


class GradientError(GraphcoreError, ValueError):
    """A gradient cannot be built: a non-differentiable op on the path, or a disconnected input."""


class CheckpointError(GraphcoreError, ValueError):
    """A checkpoint does not match the graph it is restored into, or is not a graphcore checkpoint."""


class FetchError(GraphcoreError, ValueError):
    """A fetch is not a tensor, node or name of the session's graph."""


class DataError(GraphcoreError, ValueError):
    """Arrays given to ``fit``/``evaluate``/``predict`` do not fit the model: lengths, ranks, shapes, label
    ranges, NaN or Inf. Raised before any step runs, so a model is never trained on garbage."""


class FileFormatError(GraphcoreError, ValueError):
    """A file is damaged, truncated, hand-edited into something invalid, not the kind of file expected, or
    written by another version of graphcore."""


class MissingFileError(GraphcoreError, FileNotFoundError):
    """A file that should be read does not exist."""


class FileWriteError(GraphcoreError, OSError):
    """A file cannot be written (no such directory, a file in the way, no permission, disk full); the file
    that was there before, if any, is untouched."""


class ServingError(GraphcoreError, ValueError):
    """An ONNX model cannot be served as asked: a fixed batch the file contradicts, CUDA graphs where a node
    is not on the CUDA provider or no GPU is usable, a precision the runtime has no kernels for."""


class CompatError(GraphcoreError, TypeError):
    """A TF1 or Keras spelling that graphcore deliberately does not accept (an argument it does not support, a
    feature it leaves out): the message names the difference and graphcore's spelling. Also a ``TypeError``,
    which is what Keras raises for an argument it does not know."""


class NotSupportedError(CompatError, AttributeError):
    """A TF1 or Keras name that graphcore does not provide: the message says why and what to write instead
    (an ``AttributeError`` too, so ``hasattr`` and ``getattr(..., default)`` keep working)."""


class DivergenceError(NumericsError):
    """Training produced a non-finite loss: names the epoch and batch, and the first non-finite tensor of that
    step's forward pass (found by running it again on the weights from before the step, which are restored)."""
