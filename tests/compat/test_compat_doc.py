"""docs/compat.md is generated from the names the code declares; it must not go stale, and every graphcore
spelling it gives must exist."""
import importlib
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_compat_doc_is_current():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compat_doc.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _resolve(spelling):
    """The object a spelling such as ``gc.train.Saver.save(global_step=)`` names (arguments dropped)."""
    path = spelling.split("(")[0].split(" ")[0].split(".")
    assert path[0] == "gc", spelling
    obj = importlib.import_module("graphcore")
    for part in path[1:]:
        obj = getattr(obj, part)
    return obj


def test_every_graphcore_spelling_exists():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import compat_doc
    for row in compat_doc.rows():
        _resolve(row.ours)
