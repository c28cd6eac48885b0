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
import json
import math
import os
import re
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

from .errors import FileFormatError, FileWriteError, GraphcoreError, MissingFileError


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yield a file object; on success its content replaces ``path`` in one rename, else it is discarded.
    An ``OSError`` (no such directory, a file in the way, no permission, disk full) is a ``FileWriteError``."""
    path = os.fspath(path)
    refuse_non_file(path)
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


def refuse_non_file(path):
    """Raise ``FileWriteError`` if ``path`` exists and is not a regular file: a rename would fail on a
    directory, and replace a device such as /dev/null (or a pipe, a socket) with a file."""
    if os.path.isdir(path):
        raise FileWriteError(f"cannot write {path}: it is a directory; give the path of a file (for instance "
                             f"{os.path.join(path, '<file name>')})")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise FileWriteError(f"cannot write {path}: it is not a regular file (a device, pipe or socket); graphcore "
                             "writes a file completely, then renames it over the target, which would replace "
                             f"{path} itself: give the path of a regular file")


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


# ----- reading archives: every size is checked before anything is allocated ----------------------------------

_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")   # a zip's first local file header, an empty zip's end record
_NPY_SIGNATURE = b"\x93NUM"
MAX_ENTRY_BYTES = 4 << 30   # one array: far more than any graphcore model holds
MAX_JSON_DEPTH = 100        # nesting of an architecture's JSON (a model nested in a model adds four levels)
_MAX_HEADER_BYTES = 10_000  # NumPy's own cap on an .npy header
_DEFLATE_MAX_RATIO = 1032   # deflate expands one compressed byte into at most 1032 bytes


@contextlib.contextmanager
def open_arrays(path):
    """Open an archive written by ``save_arrays`` for reading entry by entry (``ArrayArchive``). A missing
    file raises ``MissingFileError``; a truncated, corrupted (the zip's CRC catches a changed byte) or foreign
    file, or an entry whose sizes do not add up, ``FileFormatError`` naming the file and the entry."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"no such file: {path}")
    with _format_errors(path):
        f = open(path, "rb")
    with f:
        with _format_errors(path):
            start = f.read(4)
            if start == _NPY_SIGNATURE:
                raise FileFormatError(f"{path} is not a readable graphcore array archive: it holds a single "
                                      "array, not an .npz archive")
            if start not in _ZIP_SIGNATURES:
                raise FileFormatError(f"{path} is not a readable graphcore array archive (an .npz file is a zip "
                                      f"archive, starting with b'PK'; this one starts with {start!r})")
            f.seek(0)
            archive = zipfile.ZipFile(f)
        with archive:
            yield ArrayArchive(path, archive, os.fstat(f.fileno()).st_size)


class ArrayArchive:
    """The ``.npy`` entries of an open archive, by name. Nothing is read until asked for: ``header(name)``
    reads an entry's shape and dtype (a few hundred bytes), ``read(name)`` its array, once the sizes the
    ``.npy`` header and the zip directory declare agree with each other, with the cap and with the file's size.
    An entry is never inflated beyond what its header declares."""

    def __init__(self, path, archive, file_size):
        self.path, self._archive, self._file_size = path, archive, file_size
        infos = archive.infolist()
        foreign = next((info.filename for info in infos if not info.filename.endswith(".npy")), None)
        if foreign is not None:   # save_arrays writes .npy entries only: another file, or a damaged directory
            raise FileFormatError(f"{path} is not a readable graphcore array archive: its entry {foreign!r} is not "
                                  "an .npy array")
        for info in infos:   # opening reads only the local header, which zipfile checks against the directory
            with _format_errors(path, info.filename[:-4]):
                archive.open(info).close()
        self._entries = {info.filename[:-4]: info for info in infos}
        self.names = list(self._entries)

    def header(self, name, max_bytes=MAX_ENTRY_BYTES):
        """(shape, dtype) of entry ``name``, checked; raises ``FileFormatError`` on anything inconsistent."""
        with _format_errors(self.path, name), self._open(name) as f:
            return self._checked_header(name, f, max_bytes)[:2]

    def read(self, name, max_bytes=MAX_ENTRY_BYTES):
        """The array of entry ``name``, after the header checks; its CRC is verified to the last byte."""
        with _format_errors(self.path, name), self._open(name) as f:
            self._checked_header(name, f, max_bytes)
        with _format_errors(self.path, name), self._open(name) as f:
            array = np.lib.format.read_array(f, allow_pickle=False, max_header_size=_MAX_HEADER_BYTES)
            if f.read(1):
                raise ValueError("bytes after the array data")
        return array

    def _open(self, name):
        info = self._entries.get(name)
        if info is None:
            raise FileFormatError(f"{self.path}: no entry '{name}' in the archive")
        return self._archive.open(info)

    def _checked_header(self, name, f, max_bytes):
        """(shape, dtype, nbytes) from the ``.npy`` header, after every size check."""
        info, what = self._entries[name], f"{self.path}: entry '{name}'"
        stored_end = info.header_offset + info.compress_size
        if stored_end > self._file_size:
            raise FileFormatError(f"{what} says its {info.compress_size:,} stored bytes end at byte {stored_end:,}, "
                                  f"past the end of the {self._file_size:,}-byte file (truncated or forged)")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise FileFormatError(f"{what} is stored uncompressed in {info.compress_size:,} bytes but declares "
                                  f"{info.file_size:,}")
        if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
            raise FileFormatError(f"{what} declares {info.file_size:,} bytes inflated from {info.compress_size:,} "
                                  f"compressed bytes, more than compression can produce (a zip bomb)")
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(f, max_header_size=_MAX_HEADER_BYTES)
        if dtype.hasobject:
            raise FileFormatError(f"{what} holds Python objects (a pickle); graphcore never loads pickles")
        nbytes = math.prod(shape) * dtype.itemsize
        header_bytes = f.tell()
        if nbytes > max_bytes:
            raise FileFormatError(f"{what} declares a {dtype.name}{list(shape)} array of {nbytes:,} bytes, over the "
                                  f"cap of {max_bytes:,}")
        if header_bytes + nbytes != info.file_size:
            raise FileFormatError(f"{what} declares a {dtype.name}{list(shape)} array ({nbytes:,} bytes after a "
                                  f"{header_bytes}-byte header), but the archive holds {info.file_size:,} bytes for it")
        return shape, dtype, nbytes


def load_json(text, what, max_depth=MAX_JSON_DEPTH):
    """Parse JSON read from a file, after checking (linearly, without recursion) that it nests at most
    ``max_depth`` deep; ``what`` names the file and entry in the ``FileFormatError``."""
    depth = _json_depth(text)
    if depth > max_depth:
        raise FileFormatError(f"{what} nests {depth} levels deep, over the limit of {max_depth} (no graphcore model "
                              "nests that deep; the file was made or edited by something else)")
    try:
        return json.loads(text)
    except ValueError as e:
        raise FileFormatError(f"{what} is not valid JSON ({e})") from None


def _json_depth(text):
    """The deepest nesting of brackets outside strings: a running sum over the text with its strings blanked."""
    brackets = np.frombuffer(_JSON_STRING.sub('""', text).encode(), np.uint8)
    steps = np.isin(brackets, (ord("["), ord("{"))).astype(np.int64) - np.isin(brackets, (ord("]"), ord("}")))
    return int(steps.cumsum().max(initial=0))


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@contextlib.contextmanager
def _format_errors(path, entry=None):
    """Turn what a damaged zip or ``.npy`` raises into a ``FileFormatError`` naming the file (and entry)."""
    try:
        yield
    except GraphcoreError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, struct.error, zlib.error,
            UnicodeDecodeError, SyntaxError, NotImplementedError) as e:
        where = f" (entry '{entry}')" if entry else ""
        raise FileFormatError(f"{path} is not a readable graphcore array archive{where} "
                              f"({type(e).__name__}: {e})") from None


def encode_png(pixels):
    """PNG bytes of an 8-bit image, grey (h, w) or RGB (h, w, 3), with zlib alone: signature, IHDR, one
    IDAT of filter-0 scanlines, IEND."""
    pixels = np.ascontiguousarray(pixels, np.uint8)
    h, w = pixels.shape[:2]
    colour_type = 2 if pixels.ndim == 3 else 0
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write_png(path, pixels):
    """Write ``pixels`` (see ``encode_png``) to ``path`` atomically; returns the path."""
    with atomic_write(path) as f:
        f.write(encode_png(pixels))
    return path
