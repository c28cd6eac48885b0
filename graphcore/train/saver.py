"""Checkpoints: variable values saved to one ``.npz`` file, atomically and without pickle, named and
tracked as TF1's ``tf.train.Saver`` does.

``save(sess, "dir/model.ckpt", global_step=1000)`` writes ``dir/model.ckpt-1000.npz`` and returns the prefix
``dir/model.ckpt-1000`` (what ``restore`` and ``latest_checkpoint`` speak); a ``checkpoint`` state file in
the same directory lists the kept checkpoints, newest last, in TF1's text format; beyond ``max_to_keep`` the
oldest checkpoint file is deleted. A path already ending in ``.npz`` is written as given.
"""
import codecs
import os
import re
import time
from typing import NamedTuple

import numpy as np

from ..compat import declare, same_as
from ..errors import CheckpointError
from ..graph import Tensor
from ..io import atomic_write, load_arrays, save_arrays
from ..session import Session
from ..shapes import format_shape


def _file_of(prefix):
    """The file a checkpoint prefix is stored in."""
    return prefix if prefix.endswith(".npz") else prefix + ".npz"


@same_as("TF1", "tf.train.Saver")
class Saver:
    """Save and restore the values of ``var_list``: a list of variables (stored under their node names), a dict
    name → variable, or None for every variable of the session's graph."""

    def __init__(self, var_list=None, reshape=False, max_to_keep=5, keep_checkpoint_every_n_hours=10000.0,
                 name=None, allow_empty=False, pad_step_number=False, save_relative_paths=False):
        self.var_list = var_list if var_list is None or isinstance(var_list, dict) else list(var_list)
        self.reshape, self.max_to_keep = bool(reshape), max_to_keep
        self.pad_step_number, self.save_relative_paths = bool(pad_step_number), bool(save_relative_paths)
        self._keep_every = float(keep_checkpoint_every_n_hours) * 3600
        self._next_kept_time = time.time() + self._keep_every
        self._last_checkpoints = []   # (prefix, time saved), oldest first

    def _named(self, sess):
        """name in the file → variable."""
        if isinstance(self.var_list, dict):
            return dict(self.var_list)
        variables = self.var_list if self.var_list is not None else sess.graph.variables
        return {v.node.name: v for v in variables}

    @property
    def last_checkpoints(self):
        """The prefixes of the checkpoints this saver keeps, oldest first (TF1)."""
        return [prefix for prefix, _ in self._last_checkpoints]

    def save(self, sess, save_path, global_step=None, latest_filename=None, meta_graph_suffix="meta",
             write_meta_graph=True, write_state=True, strip_default_attrs=False):
        """Write the checkpoint (replacing any previous file only once it is completely written) and return its
        prefix. ``global_step`` (an int, or a variable or tensor name to read it from) is appended as
        ``-N``. No meta graph is written: graphcore rebuilds graphs from code."""
        save_path = _path(save_path, "save_path")
        latest_filename = latest_filename or "checkpoint"
        if global_step is not None:
            if isinstance(global_step, (Tensor, str)):
                global_step = sess.run(global_step)
            step = int(global_step)
            prefix = f"{save_path}-{step:08d}" if self.pad_step_number else f"{save_path}-{step}"
        else:
            prefix = save_path
            if os.path.basename(save_path) == latest_filename:
                raise CheckpointError(f"the checkpoint {save_path!r} would collide with the state file "
                                      f"{latest_filename!r} beside it: choose another name")
        named = self._named(_check_session(sess))
        sess.initialize([v for v in named.values() if v.node.name not in sess.variables])   # made since it began
        save_arrays(_file_of(prefix), {name: sess.variables[v.node.name] for name, v in named.items()})
        if write_state:
            dropped = self._record(prefix)
            _write_state(os.path.dirname(save_path), latest_filename, prefix, self.last_checkpoints,
                         self.save_relative_paths)
            self._delete(dropped)
        return prefix

    def _record(self, prefix):
        """Remember ``prefix`` as the newest checkpoint and return the ones that fall out of the list past
        ``max_to_keep`` (TF1: with max_to_keep None or 0 nothing is tracked or deleted)."""
        if not self.max_to_keep:
            return []
        self._last_checkpoints = [(p, t) for p, t in self._last_checkpoints if p != prefix]
        self._last_checkpoints.append((prefix, time.time()))
        dropped = self._last_checkpoints[:-self.max_to_keep]
        self._last_checkpoints = self._last_checkpoints[-self.max_to_keep:]
        return dropped

    def _delete(self, dropped):
        """Delete the files of dropped checkpoints, except one every ``keep_checkpoint_every_n_hours``
        (TF1's rule)."""
        for prefix, saved_at in dropped:
            if saved_at > self._next_kept_time:
                self._next_kept_time += self._keep_every
                continue
            if os.path.isfile(_file_of(prefix)):
                os.remove(_file_of(prefix))

    def restore(self, sess, path, strict=None):
        """Load values into the session; names, shapes and dtypes must match (``reshape=True``: sizes). With
        ``strict`` (the default when the saver covers the whole graph) the checkpoint may hold nothing else;
        a saver of chosen variables reads just those, as TF1's does."""
        if path is None:
            raise CheckpointError("restore needs a checkpoint path, got None (latest_checkpoint found none?)")
        strict = self.var_list is None if strict is None else strict
        _check_session(sess)
        path = _path(path, "the checkpoint path")
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"
        try:
            saved = load_arrays(path)
        except (ValueError, FileNotFoundError) as e:
            raise CheckpointError(str(e)) from None
        wanted = self._named(sess)
        problems = []
        missing = sorted(set(wanted) - set(saved))
        if missing:
            problems.append(f"missing from the checkpoint: {', '.join(missing)}")
        extra = sorted(set(saved) - set(wanted))
        if extra and strict:
            problems.append(f"in the checkpoint but not in the graph: {', '.join(extra)}")
        for name in sorted(set(wanted) & set(saved)):
            var, value = wanted[name], saved[name]
            shape_ok = value.shape == var.shape or (self.reshape and value.size == int(np.prod(var.shape)))
            if not shape_ok or value.dtype != var.dtype:
                problems.append(f"{name}: graph has {var.dtype.name}{format_shape(var.shape)}, checkpoint has "
                                f"{value.dtype.name}{format_shape(value.shape)}")
        if problems:
            raise CheckpointError(f"checkpoint {path} does not match the graph:\n  " + "\n  ".join(problems))
        for name, var in wanted.items():
            sess.variables[var.node.name] = np.array(saved[name]).reshape(var.shape)


def _path(value, what):
    try:
        return os.fspath(value)
    except TypeError:
        raise CheckpointError(f"{what} must be a path (a str or os.PathLike), got {value!r}") from None


def _check_session(sess):
    if not isinstance(sess, Session):
        raise CheckpointError(f"the first argument must be a gc.Session, got {type(sess).__name__}")
    if sess.closed:
        raise CheckpointError("the session is closed: save or restore while it is open")
    return sess


class CheckpointState(NamedTuple):
    """The ``checkpoint`` state file of a directory (TF1's ``CheckpointState``): paths joined to the
    directory when stored relative."""
    model_checkpoint_path: str
    all_model_checkpoint_paths: list


def _write_state(save_dir, latest_filename, newest, kept, relative):
    """The state file, as TF1 writes it: relative paths when the directory is given relatively (or asked)."""
    paths = list(kept)
    if not paths or paths[-1] != newest:
        paths.append(newest)
    if relative or not os.path.isabs(save_dir or "."):
        paths = [os.path.relpath(p, save_dir or ".") if (relative or not os.path.isabs(p)) else p for p in paths]
    lines = [f'model_checkpoint_path: "{_escape(paths[-1])}"']
    lines += [f'all_model_checkpoint_paths: "{_escape(p)}"' for p in paths]
    with atomic_write(os.path.join(save_dir, latest_filename), "w") as f:
        f.write("\n".join(lines) + "\n")


def _escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')


_LINE = re.compile(r'^\s*(\w+)\s*:\s*"((?:[^"\\]|\\.)*)"\s*$')
_NUMBER_LINE = re.compile(r"^\s*\w+\s*:\s*[-+.\deE]+\s*$")


@same_as("TF1", "tf.train.get_checkpoint_state")
def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The directory's checkpoint state, or None when it has no state file (TF1)."""
    path = os.path.join(_path(checkpoint_dir, "checkpoint_dir"), latest_filename or "checkpoint")
    if not os.path.isfile(path):
        return None
    entries = {"model_checkpoint_path": [], "all_model_checkpoint_paths": []}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            match = _LINE.match(line)
            if match is None:
                if line.strip() and not _NUMBER_LINE.match(line):   # timestamps are numbers
                    raise CheckpointError(f"{path}, line {number}, is not a checkpoint state entry: "
                                          f"{line.strip()[:80]!r}")
                continue
            try:
                value = codecs.escape_decode(match.group(2).encode("utf-8"))[0].decode("utf-8")
            except (ValueError, UnicodeDecodeError) as e:
                raise CheckpointError(f"{path}, line {number}: a path that cannot be read ({e})") from None
            key = match.group(1)
            if key in entries:
                entries[key].append(value)
    if not entries["model_checkpoint_path"]:
        raise CheckpointError(f"{path} names no model_checkpoint_path")

    def joined(p):
        return p if os.path.isabs(p) else os.path.join(os.fspath(checkpoint_dir), p)
    return CheckpointState(joined(entries["model_checkpoint_path"][-1]),
                           [joined(p) for p in entries["all_model_checkpoint_paths"]])


@same_as("TF1", "tf.train.latest_checkpoint")
def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the newest checkpoint the directory's state file names, if its file exists; else None."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not os.path.isfile(_file_of(state.model_checkpoint_path)):
        return None
    return state.model_checkpoint_path


declare("TF1", "tf.train.Saver.save(global_step=)", "gc.train.Saver.save(global_step=)",
        "files named path-N.npz (TF1: path-N.index/.data); the checkpoint state file and max_to_keep as TF1; "
        "no .meta file is written")
