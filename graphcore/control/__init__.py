"""Control flow above the op library, the gradients and the planner: loops and branches whose bodies are graphs.

* ``body.py``: body graphs traced once from a Python function (outer tensors become captures);
* ``scan.py``: ``scan`` and the ``Scan`` op; ``layout.py``: ``LoopLayout``, which of a Scan's inputs and
  outputs is which; ``loop.py``: the loop runner (plans the body once with the planner, runs it T times);
  ``bptt.py``: backpropagation through time, a backward Scan;
* ``cond.py``: ``cond`` and the ``Cond`` op (only the taken branch runs).

As PyTensor keeps ``scan/`` above graph, gradient and compile, this package sits above ``gradients`` and
``plan`` and uses only their public functions. Importing it registers ``Scan`` and ``Cond``.
"""
from .cond import cond
from .layout import LoopLayout
from .scan import scan

__all__ = ["LoopLayout", "cond", "scan"]
