"""Crash safety: a process killed with SIGKILL in the middle of ``model.save`` or ``Saver.save`` never
damages the file that was there.

A forked child (cheap: the ~25 MB model is shared copy-on-write) writes version k of the weights and is killed
when its temporary file has reached k/KILLS of the final size, so the kills land at different moments of the
write (just created, part written, fully written around the fsync and rename). After every kill the
file must load intact as version k − 1 or k, nothing but the file (and a checkpoint's ``checkpoint`` state
file) may be visible in the directory, and the next save must sweep the hidden temporary files the killed
writers left (see ``graphcore.io``).
"""
import contextlib
import os
import signal
import time

import numpy as np
import pytest

import graphcore as gc
from graphcore import layers

KILLS = 20
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() to kill a writer mid-save")


def _kill_during(write, directory, written):
    """Fork a child that calls ``write()``; SIGKILL it as soon as its hidden temporary file in ``directory``
    holds ``written`` bytes (or when it ends). True when the child was killed while that file existed."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: write, then leave without running any of the parent's cleanup
        try:
            os.close(ready_r)
            os.write(ready_w, b"go")
            write()
        finally:
            os._exit(0)
    os.close(ready_w)
    os.read(ready_r, 2)
    os.close(ready_r)
    deadline, mid_write = time.monotonic() + 30, False
    while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
        sizes = [_size(os.path.join(directory, name)) for name in _hidden(directory)]
        if any(size >= written for size in sizes):
            mid_write = True
            break
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return mid_write


def _size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:   # renamed or removed between listing and stat
        return -1


def _visible(directory):
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def _hidden(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith("."))


def _run_kills(directory, path, save, set_version, read_version, beside=()):
    """Save version 0, then KILLS killed saves of versions 1..KILLS, each killed once its temporary file
    holds a different share of the final size (0 %: just created … 100 %: written, before or during the
    fsync and rename); check the file after each. Every fourth round a save then completes, so the file
    that must survive changes along the way."""
    set_version(0)
    save()
    size = os.path.getsize(path)
    version, killed_mid_write = 0, 0
    for k, share in enumerate(np.linspace(0.0, 1.0, KILLS), start=1):
        def write():
            set_version(k)
            save()
        killed_mid_write += _kill_during(write, directory, int(share * size))
        found = read_version()
        assert found in (version, k), f"kill {k} at {share:.0%} written: the file holds version {found}"
        assert _visible(directory) == sorted([os.path.basename(path), *beside]), f"kill {k}: {_visible(directory)}"
        version = found
        if k % 4 == 0:   # now and then a save completes, so "the previous file" is a new version
            set_version(k)
            save()
            version = k
    print(f"{KILLS} kills of a {size / 1e6:.0f} MB save: {killed_mid_write} while the temporary file was "
          f"being written; the file loaded intact each time (last version {version})")
    assert killed_mid_write >= KILLS - 2, "too few kills landed while the temporary file was being written"
    set_version(0)
    save()
    assert _hidden(directory) == [], f"the next save left stale temporary files: {_hidden(directory)}"
    assert read_version() == 0


def test_model_save_survives_sigkill(tmp_path):
    model = gc.Sequential([layers.Dense(2048, input_shape=(2048,)), layers.Dense(1024)])   # 25 MB of weights
    sess, names = model.session, [w.node.name for w in model.weights]
    base = {name: sess.variables[name].copy() for name in names}
    path = str(tmp_path / "model.npz")

    def set_version(k):
        for name in names:
            sess.variables[name] = base[name] + np.float32(k)

    def read_version():
        loaded = gc.load_model(path)
        values = loaded.get_weights()
        k = float(values[0][0, 0] - base[names[0]][0, 0])
        version = int(round(k))
        for name, value in zip(names, values):
            np.testing.assert_array_equal(value, base[name] + np.float32(version))
        return version

    assert sum(v.nbytes for v in base.values()) > 20e6
    _run_kills(str(tmp_path), path, lambda: model.save(path), set_version, read_version)


def test_checkpoint_save_survives_sigkill(tmp_path):
    graph = gc.Graph()
    with graph.as_default():
        big = gc.Variable(np.random.default_rng(0).normal(size=(2500, 2500)).astype(np.float32), name="big")
        small = gc.Variable(np.zeros(3, np.float32), name="small")
    sess, saver = gc.Session(graph), gc.train.Saver()
    base = sess.variables["big"].copy()
    path = str(tmp_path / "checkpoint.npz")

    def set_version(k):
        sess.variables["big"] = base + np.float32(k)
        sess.variables["small"] = np.full(3, k, np.float32)

    def read_version():
        fresh = gc.Session(graph)
        saver.restore(fresh, path)
        version = int(fresh.variables["small"][0])
        np.testing.assert_array_equal(fresh.variables["big"], base + np.float32(version))
        return version

    assert big.shape == (2500, 2500) and small.shape == (3,)
    _run_kills(str(tmp_path), path, lambda: saver.save(sess, path), set_version, read_version,
               beside=["checkpoint"])   # the TF1 state file, written atomically after each checkpoint
