"""Where a TF1 or Keras name lands in graphcore, and where graphcore deliberately differs.

Users arrive with code written for TensorFlow 1.x and Keras. Each name they may bring is declared here once,
next to nothing else: ``same_as`` marks the graphcore object that implements it (a decorator, so the row
cannot outlive the code), ``declare`` records a name that is a keyword, a behaviour or a spelling rather than
an object, and ``difference`` records a deliberate difference together with the error text users get.
``docs/compat.md`` is generated from these rows by ``tools/compat_doc.py``; a test fails when it is stale.

This module imports nothing from graphcore, so every layer may use it.
"""
import importlib
from typing import NamedTuple

ORIGINS = ("TF1", "Keras")
# Where users reach graphcore's names, most public first: an object's spelling is its first place here.
PUBLIC = ("graphcore", "graphcore.nn", "graphcore.layers", "graphcore.train", "graphcore.losses", "graphcore.metrics",
          "graphcore.optimizers", "graphcore.callbacks", "graphcore.activations", "graphcore.initializers",
          "graphcore.export", "graphcore.models")


class Row(NamedTuple):
    origin: str      # "TF1" or "Keras"
    theirs: str      # the name as their guides write it: "tf.gradients", "keras.layers.Dense(trainable=)"
    ours: str        # the graphcore spelling: "gc.gradients"
    note: str = ""   # how it behaves, when it is not obvious
    differs: bool = False   # a deliberate difference: ``note`` says what and graphcore raises an error saying it
    obj: object = None      # for ``same_as`` rows: the object; its public spelling is found when the doc is made


ROWS = []


def _check_origin(origin):
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, got {origin!r}")


def declare(origin, theirs, ours, note=""):
    """Record that ``theirs`` is spelled ``ours`` in graphcore."""
    _check_origin(origin)
    ROWS.append(Row(origin, theirs, ours, note))


def difference(origin, theirs, ours, note):
    """Record a deliberate difference; returns ``note`` so the raising code can reuse the very same words."""
    _check_origin(origin)
    ROWS.append(Row(origin, theirs, ours, note, differs=True))
    return note


def same_as(origin, *theirs, note=""):
    """Decorator: the decorated graphcore function or class implements each of ``theirs``. Its graphcore
    spelling is the shortest public name that reaches it (``gc.zeros``, ``gc.train.GradientDescentOptimizer``),
    found by ``tools/compat_doc.py`` once every module is loaded."""
    _check_origin(origin)

    def mark(obj):
        for name in theirs:
            ROWS.append(Row(origin, name, "", note, obj=obj))
        return obj
    return mark


def public_name(obj):
    """``gc.<path>`` of ``obj`` in the first public module that holds it, else its defining module's path
    (modules are imported when asked, so this module still imports nothing at load)."""
    for module_name in PUBLIC:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr, value in vars(module).items():
            if value is obj and not attr.startswith("_"):
                return module_name.replace("graphcore", "gc", 1) + "." + attr
    module = obj.__module__.replace("graphcore", "gc", 1)
    return f"{module}.{obj.__qualname__}"
