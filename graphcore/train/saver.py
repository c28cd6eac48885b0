"""Checkpoints: variable values saved to one ``.npz`` file, atomically and without pickle."""
import os

from ..errors import CheckpointError, FileFormatError, MissingFileError
from ..io import open_arrays, refuse_non_file, save_arrays
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
        refuse_non_file(path)   # "/dev/null" or a folder: not a name to write "/dev/null.npz" or "folder.npz" by
        if not path.endswith(".npz"):
            path += ".npz"
        save_arrays(path, {v.node.name: sess.variables[v.node.name] for v in self._variables(sess)})
        return path

    def restore(self, sess, path, strict=True):
        """Load values into the session; names, shapes and dtypes must match (``strict``: no extras either)."""
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"
        wanted = {v.node.name: v for v in self._variables(sess)}
        try:
            with open_arrays(path) as archive:
                problems = _mismatches(archive, wanted, strict)
                if problems:
                    raise CheckpointError(f"checkpoint {path} does not match the graph:\n  " + "\n  ".join(problems))
                values = {name: archive.read(name) for name in wanted}   # only the entries restored are read
        except (FileFormatError, MissingFileError) as e:
            raise CheckpointError(str(e)) from None
        sess.variables.update(values)


def _mismatches(archive, wanted, strict):
    """What keeps the checkpoint from restoring ``wanted`` (name → variable), read from the entries' headers."""
    problems = []
    missing = sorted(set(wanted) - set(archive.names))
    if missing:
        problems.append(f"missing from the checkpoint: {', '.join(missing)}")
    extra = sorted(set(archive.names) - set(wanted))
    if extra and strict:
        problems.append(f"in the checkpoint but not in the graph: {', '.join(extra)}")
    for name in sorted(set(wanted) & set(archive.names)):
        var, (shape, dtype) = wanted[name], archive.header(name)
        if shape != var.shape or dtype != var.dtype:
            problems.append(f"{name}: graph has {var.dtype.name}{format_shape(var.shape)}, checkpoint has "
                            f"{dtype.name}{format_shape(shape)}")
    return problems
