"""Checkpoints: variable values saved to one ``.npz`` file, atomically and without pickle."""
import os

import numpy as np

from ..errors import CheckpointError
from ..io import load_arrays, save_arrays
from ..shapes import format_shape


class Saver:
    """Save and restore the values of ``var_list`` (default: every variable of the session's graph)."""

    def __init__(self, var_list=None):
        self.var_list = None if var_list is None else list(var_list)

    def _variables(self, sess):
        return self.var_list if self.var_list is not None else sess.graph.variables

    def save(self, sess, path):
        """Write the checkpoint (replacing any previous file only once it is completely written)."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        save_arrays(path, {v.node.name: sess.variables[v.node.name] for v in self._variables(sess)})
        return path

    def restore(self, sess, path, strict=True):
        """Load values into the session; names, shapes and dtypes must match (``strict``: no extras either)."""
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"
        try:
            saved = load_arrays(path)
        except (ValueError, FileNotFoundError) as e:
            raise CheckpointError(str(e)) from None
        wanted = {v.node.name: v for v in self._variables(sess)}
        problems = []
        missing = sorted(set(wanted) - set(saved))
        if missing:
            problems.append(f"missing from the checkpoint: {', '.join(missing)}")
        extra = sorted(set(saved) - set(wanted))
        if extra and strict:
            problems.append(f"in the checkpoint but not in the graph: {', '.join(extra)}")
        for name in sorted(set(wanted) & set(saved)):
            var, value = wanted[name], saved[name]
            if value.shape != var.shape or value.dtype != var.dtype:
                problems.append(f"{name}: graph has {var.dtype.name}{format_shape(var.shape)}, checkpoint has "
                                f"{value.dtype.name}{format_shape(value.shape)}")
        if problems:
            raise CheckpointError(f"checkpoint {path} does not match the graph:\n  " + "\n  ".join(problems))
        for name in wanted:
            sess.variables[name] = np.array(saved[name])
