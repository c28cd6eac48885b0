"""Creation sites: the file:line of the user's code that made a node or raised an error.

Errors (the ground layer) and the graph both need it, so it lives below both: a graph node records its site
when it is made, and an error raised before any node exists names the caller's line the same way.
"""
import contextlib
import os
import sys
import threading

# Directories whose frames are skipped when looking for the user's line: the engine, the zoo and the exporter.
_INTERNAL_DIRS = {os.path.dirname(os.path.abspath(__file__)) + os.sep}
_STDLIB_DIR = os.path.dirname(contextlib.__file__) + os.sep


_internal_code = {}   # code object → whether its frames are skipped (asked once per function, not per node)
_sites = {}           # (file, line) → "file:line", one string shared by every node made there


class _Pinned(threading.local):
    def __init__(self):
        self.sites = []   # pinned_site's, innermost last


_pinned = _Pinned()


def register_internal_dir(path):
    """Mark a package directory as graphcore's own (``graphcore.models`` and ``graphcore.export`` call this)."""
    _INTERNAL_DIRS.add(os.path.dirname(os.path.abspath(path)) + os.sep)
    _internal_code.clear()


def creation_site():
    """file:line of the first stack frame outside graphcore (and outside the standard library), or the site
    ``pinned_site`` holds."""
    pinned = _pinned.sites
    if pinned:
        return pinned[-1]
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        internal = _internal_code.get(code)
        if internal is None:
            prefixes = tuple(_INTERNAL_DIRS) + (_STDLIB_DIR, "<frozen")
            internal = _internal_code[code] = code.co_filename.startswith(prefixes)
        if not internal:
            key = (code.co_filename, frame.f_lineno)
            site = _sites.get(key)
            if site is None:
                site = _sites[key] = f"{key[0]}:{key[1]}"
            return site
        frame = frame.f_back
    return "<unknown>"


@contextlib.contextmanager
def pinned_site(site=None):
    """Inside, every node made (and every error raised) in this thread gets the creation site ``site``,
    by default the caller's as ``creation_site`` finds it. For builders that make many nodes from one call of
    the user's (the ONNX importer): the stack walk per node would find that same site each time."""
    pinned = _pinned.sites
    pinned.append(site or creation_site())
    try:
        yield
    finally:
        pinned.pop()
