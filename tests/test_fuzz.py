"""The differential fuzzer (tools/fuzz.py): a few hundred graphs with a fixed seed find no mismatch and cover
every registered op; a planted bug is found, shrunk to the one op that has it and written as a test."""
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

from graphcore.export import REASONS
from graphcore.op import REGISTRY

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
import fuzz  # noqa: E402

GRAPHS = 300


@pytest.fixture(scope="module")
def report():
    return fuzz.run(GRAPHS, seed=0)


def test_a_fixed_seed_run_finds_no_mismatch(report):
    assert report["mismatches"] == [], [m["message"] for m in report["mismatches"]]


def test_every_registered_op_is_built_and_most_are_checked_against_onnx_and_finite_differences(report):
    assert report["ops_missing"] == []
    coverage = report["coverage"]
    exportable = set(fuzz.OPS) - set(REASONS)
    compared = set(coverage["onnx_onnxruntime"]) | set(coverage.get("onnx_reference", {}))
    assert len(compared) >= 0.8 * len(exportable), sorted(exportable - compared)
    differentiable = {t for t in fuzz.OPS if REGISTRY[t].differentiable and not REGISTRY[t].stateful}
    assert len(set(coverage["grad"]) & differentiable) >= 0.7 * len(differentiable)
    assert len(coverage["grad2"]) >= 30
    # gradient graphs (gradient-only ops, backward loops, second order) exported and run by onnxruntime
    grad_compared = set(coverage.get("onnx_grad_onnxruntime", {})) | set(coverage.get("onnx_grad_reference", {}))
    assert len(grad_compared & set(coverage["grad"])) >= 0.8 * len(coverage["grad"]), \
        sorted(set(coverage["grad"]) - grad_compared)
    assert len(coverage["in_scan_body"]) >= 30                     # ops run inside a loop body (subgraphs)
    assert set(coverage["onnx_skipped_because"]) <= set(REASONS)   # a REASON is a skip, never a mismatch


PLANTED = {"seed": 5, "dtype": "float64", "steps": [
    {"op": "Exp", "sample": 0, "dtype": "float64", "inputs": [["feed", True]]},
    {"op": "Sin", "sample": 0, "dtype": "float64", "inputs": [["chain", 0, 0]]},
]}


def test_a_planted_kernel_bug_is_found_shrunk_and_written_as_a_failing_test(monkeypatch, tmp_path):
    sin = type(REGISTRY["Sin"])
    monkeypatch.setattr(sin, "kernel", staticmethod(lambda x: np.sin(x) * 1.001))
    with pytest.raises(fuzz.Mismatch) as found:
        fuzz.check(PLANTED)
    assert found.value.kind == "onnx" and "step1" in str(found.value)
    small = fuzz.shrink(PLANTED, "onnx")
    assert small["steps"] == [{"op": "Sin", "sample": 0, "dtype": "float64", "inputs": [["feed", False]]}]
    path = fuzz.write_case(str(tmp_path), small, found.value, "a planted bug", False)
    spec = importlib.util.spec_from_file_location("planted_case", path)
    case = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(case)
    test = next(getattr(case, name) for name in dir(case) if name.startswith("test_"))
    with pytest.raises(fuzz.Mismatch):
        test()
    monkeypatch.undo()
    test()   # with the bug gone, the written reproducer passes


def test_a_planted_gradient_bug_is_found_by_finite_differences(monkeypatch):
    sin = type(REGISTRY["Sin"])
    monkeypatch.setattr(sin, "gradient", staticmethod(lambda x, y, g: g * fuzz.gc.cos(x) * 1.01))
    with pytest.raises(fuzz.Mismatch) as found:
        fuzz.check(PLANTED)
    assert found.value.kind == "grad"
