"""The layer order (tools/layering.py, drawn in docs/architecture.md): no module imports from a layer above
its own, at module level or inside a function, except the short allow-list; the core has no import cycle;
every module has a layer; no op is recognised by its type string outside the op library and the exporter."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import layering  # noqa: E402


@pytest.fixture(scope="module")
def found():
    return layering.all_imports()


def _describe(imports):
    return "\n".join(f"  {i.importer} (layer {layering.LAYERS[layering.layer_index(i.importer)].name!r}) imports "
                     f"{i.imported} (layer {layering.LAYERS[layering.layer_index(i.imported)].name!r}), line {i.line}"
                     for i in imports)


def test_every_module_has_a_layer():
    unplaced = [m for m in layering.modules() if layering.layer_index(m) is None]
    assert not unplaced, f"place these modules in tools/layering.py's LAYERS: {unplaced}"


def test_every_entry_of_the_table_names_a_module_once():
    known = layering.modules()
    entries = [entry for layer in layering.LAYERS for entry in layer.modules]
    assert len(entries) == len(set(entries)), "a module is listed in two layers"
    stale = [e for e in entries if e not in known]
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_no_import_goes_up(found):
    exempt = set(layering.ALLOWED)
    offending = [i for i in layering.upward(found) if (i.importer, i.imported) not in exempt]
    assert not offending, "imports from a higher layer:\n" + _describe(offending)


def test_the_core_has_no_import_cycle(found):
    """Within a layer too the imports run one way: graphcore/ (but the exporter and the zoo) has no cycle,
    counting imports inside functions."""
    assert layering.cycles(found) == [], "import cycles (break each so that the imports run one way):\n" + "\n".join(
        "  " + " <-> ".join(c) for c in layering.cycles(found))


def test_the_cycle_finder_finds_a_cycle_through_a_function_local_import():
    made = [layering.Import("graphcore.ops.array", "graphcore.ops.dynamic", 146),
            layering.Import("graphcore.ops.dynamic", "graphcore.ops.array", 17),
            layering.Import("graphcore.ops.dynamic", "graphcore.ops.math", 18),
            layering.Import("graphcore.ops", "graphcore.ops", 1),   # a package importing itself is no cycle
            layering.Import("graphcore.export.exporter", "graphcore", 3),   # above the core: left out
            layering.Import("graphcore", "graphcore.export.exporter", 90)]
    assert layering.cycles(made) == [["graphcore.ops.array", "graphcore.ops.dynamic"]]
    assert layering.cycles(made[2:]) == []


def test_the_allow_list_is_short_and_every_exception_still_exists(found):
    assert len(layering.ALLOWED) <= 3
    assert all(reason.strip() for reason in layering.ALLOWED.values())
    present = {(i.importer, i.imported) for i in layering.upward(found)}
    gone = [pair for pair in layering.ALLOWED if pair not in present]
    assert not gone, f"these exceptions no longer happen: remove them from tools/layering.py: {gone}"


def test_the_reader_sees_relative_and_function_local_imports(tmp_path):
    """``from . import x`` is the module x (else the package), ``from ..a import b`` the module a.b when it
    exists (else a), an import inside a function counts like one at the top; other libraries are left out."""
    body = textwrap.dedent("""
        import numpy
        from . import base, not_a_module
        from ..ops import math

        def late():
            from ..errors import BuildError
            import graphcore.session
            return math, BuildError
    """)
    known = {"graphcore.errors", "graphcore.layers.base", "graphcore.ops", "graphcore.ops.math", "graphcore.session"}
    (tmp_path / "mod.py").write_text(body)
    found = layering.imports("graphcore.layers.mod", str(tmp_path / "mod.py"), known)
    assert [(i.imported, i.line) for i in found] == [
        ("graphcore.layers.base", 3), ("graphcore.layers", 3), ("graphcore.ops.math", 4), ("graphcore.errors", 7),
        ("graphcore.session", 8)]
    (tmp_path / "__init__.py").write_text(body)   # the same lines in a package's __init__: one level less
    found = layering.imports("graphcore.layers", str(tmp_path / "__init__.py"), known)
    assert [i.imported for i in found][:3] == ["graphcore.layers.base", "graphcore.layers", "graphcore.ops.math"]


def test_the_order_puts_each_part_where_the_issue_says():
    order = [layering.layer_index(m) for m in ("graphcore.errors", "graphcore.graph", "graphcore.op",
                                               "graphcore.ops.math", "graphcore.gradients", "graphcore.control",
                                               "graphcore.layers.core", "graphcore.model", "graphcore.profiler",
                                               "graphcore", "graphcore.export.exporter")]
    assert order == sorted(order) and len(set(order)) == len(order)


def test_fit_on_onnxruntime_without_importing_the_exporter():
    """The training layer reaches the exporter through its backend registry, by the module's name."""
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import graphcore as gc
        assert "graphcore.export" not in sys.modules
        model = gc.Sequential([gc.layers.Dense(3, activation="softmax", input_shape=(4,))])
        model.compile("sgd", "sparse_categorical_crossentropy")
        x, y = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32), np.arange(8) % 3
        history = model.fit(x, y, epochs=1, batch_size=8, verbose=0, backend="onnxruntime", device="cpu")
        print(history.params["backend"], "graphcore.export" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "True" and "onnxruntime" in result.stdout


# ----- op type strings --------------------------------------------------------------------------------------
#: Where recognising ops by type string is the job: the op library and the exporter's registries (its
#: converters and import rules are tables keyed by op type).
TYPE_STRINGS_ALLOWED = ("graphcore/ops/", "export/convert_", "export/import_")
#: Files whose ``.type`` is not a graphcore op's: onnxruntime's input types ("tensor(float)") and ONNX's
#: attribute types.
OTHER_TYPES = ("export/bench.py", "export/runtime.py", "export/precision.py")
_TYPE_TEST = re.compile(r"\.type (?:==|!=) [\"']|\.type (?:not )?in [({]")


def _type_string_tests():
    for folder in ("graphcore", "models", "export"):
        for directory, _, files in os.walk(os.path.join(ROOT, folder)):
            for file in sorted(files):
                path = os.path.join(directory, file)
                rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
                if not file.endswith(".py") or rel.startswith(TYPE_STRINGS_ALLOWED) or rel in OTHER_TYPES:
                    continue
                for number, line in enumerate(open(path, encoding="utf-8"), 1):
                    if _TYPE_TEST.search(line):
                        yield rel, number, line.strip()


def test_no_op_is_recognised_by_its_type_string_outside_the_op_library():
    found = list(_type_string_tests())
    offending = [f"{rel}:{n}: {line}" for rel, n, line in found]
    assert not offending, "recognise ops by class or an op attribute:\n" + "\n".join(offending)


def test_the_type_string_search_finds_the_idioms():
    assert all(_TYPE_TEST.search(s) for s in ('node.type == "Variable"', "op.type in ('Scan', 'Cond')",
                                              'x.op.type != "Reshape"', 'node.type not in {"A"}'))
    assert not any(_TYPE_TEST.search(s) for s in ('proto.op_type == "Constant"', "node.type = 'x'"))


def test_every_table_filled_from_above_is_filled_by_a_higher_layer():
    """FILLED_FROM_ABOVE (the dashed arrows of the picture) is true: the table exists in the lower module and
    holds values the higher module defined."""
    import importlib
    for filler, holder, name in layering.FILLED_FROM_ABOVE:
        assert layering.layer_index(filler) > layering.layer_index(holder), (filler, holder)
        importlib.import_module(filler)
        table = getattr(importlib.import_module(holder), name)
        assert any(getattr(value, "__module__", "").startswith(filler) for value in table.values()), (filler, name)


def test_the_architecture_picture_and_section_are_current():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "architecture_doc.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
