"""Safe files: atomic writes (temp file in the same directory, fsync, rename) and pickle-free array archives.

A crash, a kill or a full disk mid-save leaves the previous file intact; loading never executes code from a
file.

Temporary files. A rename is atomic only within one file system, so the temporary file lives beside the
target, as ``.<name>.<pid>.<random>.tmp``: hidden (a dotfile, so ``ls`` and file dialogs do not show it),
removed on every error Python sees, and — for the one case Python cannot see, the process killed with
SIGKILL or a power cut — swept by the next write of the same file, which deletes the temporary files of
writers that are no longer running (the pid in the name says whose it is).
"""
import contextlib
import glob
import os
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

from .errors import FileFormatError, FileWriteError, MissingFileError


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yield a file object; on success its content replaces ``path`` in one rename, else it is discarded.
    An ``OSError`` (no such directory, a file in the way, no permission, disk full) is a ``FileWriteError``."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        # a rename would replace a device (/dev/null) or fail on a directory: refuse before writing
        raise OSError(f"{path} exists and is not a regular file; not replacing it")
    directory = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}."
    with write_errors(path):
        os.makedirs(directory, exist_ok=True)
        _sweep(directory, prefix)
        fd, tmp = _create_temporary(directory, prefix)
    try:
        with write_errors(path), os.fdopen(fd, mode) as f:
            _keep_mode(path, fd)
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _create_temporary(directory, prefix):
    """A new temporary file, created as ``open`` creates any file: mode 0o666 less the umask, applied by the
    kernel (0644 under umask 022). ``mkstemp`` would make it 0600, and so every saved file private."""
    tmp = os.path.join(directory, f"{prefix}{os.getpid()}.{secrets.token_hex(8)}.tmp")
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp


def _keep_mode(path, fd):
    """Give the temporary file the mode of the file it replaces, as writing that file in place would."""
    if os.path.isfile(path) and hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode) & 0o777)


@contextlib.contextmanager
def write_errors(path):
    """Turn an ``OSError`` raised while writing ``path`` into a ``FileWriteError`` naming the file."""
    try:
        yield
    except FileWriteError:
        raise
    except OSError as e:
        raise FileWriteError(f"cannot write {path}: {e.strerror or e}"
                             + (f" ({e.filename})" if e.filename and e.filename != path else "")) from None


def _sweep(directory, prefix):
    """Delete the temporary files ``prefix<pid>.*.tmp`` left by killed writers (pid no longer running)."""
    for stale in glob.glob(os.path.join(glob.escape(directory), glob.escape(prefix) + "*.tmp")):
        pid = os.path.basename(stale)[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # alive, owned by someone else
        return True
    return True


def save_arrays(path, arrays):
    """Write a name → array dict as an ``.npz`` archive (``numpy.load`` reads it), atomically."""
    with atomic_write(path) as f:
        np.savez(f, **{name: np.asarray(a) for name, a in arrays.items()})


def load_arrays(path):
    """Read an archive written by ``save_arrays``; object arrays (pickles) are refused. A missing file raises
    ``MissingFileError``; a truncated, corrupted (the zip's CRC catches a changed byte) or foreign file
    ``FileFormatError``, whatever part of the zip or ``.npy`` format it breaks."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"no such file: {path}")
    _require_array_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with loaded as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, struct.error, zlib.error,
            UnicodeDecodeError, SyntaxError) as e:
        raise FileFormatError(f"{path} is not a readable graphcore array archive "
                              f"({type(e).__name__}: {e})") from None


# How the files numpy.load reads start: a zip's local file header, an empty zip's end record, an .npy header.
_ARRAY_FILE_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"\x93NUM")


def _require_array_file(path):
    """Refuse a file that is neither a zip nor an .npy file before NumPy reads it: ``numpy.load`` takes any
    other file (an ONNX model, a text file) for a pickle and answers with its hint about unpickling."""
    try:
        with open(path, "rb") as f:
            start = f.read(4)
    except OSError as e:
        raise FileFormatError(f"{path} is not a readable graphcore array archive ({type(e).__name__}: "
                              f"{e.strerror or e})") from None
    if start not in _ARRAY_FILE_SIGNATURES:
        raise FileFormatError(f"{path} is not a readable graphcore array archive (an .npz file is a zip "
                              f"archive, starting with b'PK'; this one starts with {start!r})")
