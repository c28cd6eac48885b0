"""Write a diagram to a file, the format taken from the extension.

``.dot``/``.gv`` is the DOT text and needs nothing else; images run graphviz's ``dot`` program directly
(not through the ``graphviz`` package's render) so a missing program and a layout that takes too long both
end in one clear error instead of a traceback or a hang.
"""
import pathlib
import shutil
import subprocess

from ..errors import GraphcoreError

TEXT_FORMATS = ("dot", "gv")
IMAGE_FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = ("install graphviz's `dot` program (Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew "
                "install graphviz; conda: conda install graphviz), or write a .dot file, which needs nothing")


def dot_available():
    return shutil.which("dot") is not None


def write_text(text, path):
    """Write a page (or any text) to ``path``, creating its folder."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write(source, path, timeout=120, hint=""):
    """Write DOT ``source`` to ``path`` as .dot/.gv text or an svg/png/pdf image; returns the path."""
    path = pathlib.Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in TEXT_FORMATS + IMAGE_FORMATS:
        raise GraphcoreError(f"cannot write {path}: unknown format {fmt!r} "
                             f"(use one of .{', .'.join(IMAGE_FORMATS + TEXT_FORMATS)}, "
                             "or .html for the interactive page)")
    if fmt in TEXT_FORMATS:
        return write_text(source, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    program = shutil.which("dot")
    if program is None:
        raise GraphcoreError(f"cannot write {path}: {INSTALL_HINT}")
    try:
        done = subprocess.run([program, f"-T{fmt}", "-o", str(path)], input=source.encode("utf-8"),
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GraphcoreError(f"graphviz took over {timeout} s to lay out {path.name}{hint}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphcoreError(f"graphviz failed to write {path}: {message[-1] if message else 'no message'}")
    return path
