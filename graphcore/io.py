"""Safe files: atomic writes (temp file in the same directory, fsync, rename) and pickle-free array archives.

A crash or a full disk mid-save leaves the previous file intact; loading never executes code from a file.
"""
import contextlib
import os
import tempfile
import zipfile

import numpy as np


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yield a file object; on success its content replaces ``path`` in one rename, else it is discarded."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        # a rename would replace a device (/dev/null) or fail on a directory: refuse before writing
        raise OSError(f"{path} exists and is not a regular file; not replacing it")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_arrays(path, arrays):
    """Write a name → array dict as an ``.npz`` archive (``numpy.load`` reads it), atomically."""
    with atomic_write(path) as f:
        np.savez(f, **{name: np.asarray(a) for name, a in arrays.items()})


def load_arrays(path):
    """Read an archive written by ``save_arrays``; object arrays (pickles) are refused."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ValueError(f"{path} is not a readable graphcore array archive: {e}") from None
