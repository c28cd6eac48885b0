"""onnx's node conformance cases: docs/onnx_conformance.md (written by ``tools/onnx_conformance.py``, which runs
all 1,884) holds consistent counts at ≥ 90 %, a sample of every tenth case still passes or fails as the doc
says, and every op type graphcore claims (``export.conformance.CLAIMED``) passes ≥ 95 % of its cases."""
import copy
import os
import re

import onnx
import pytest

from graphcore.export import conformance

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "onnx_conformance.md")
SAMPLE_EVERY = 10


@pytest.fixture(scope="module")
def cases():
    return conformance.load_cases()


@pytest.fixture(scope="module")
def doc():
    """The doc's headline counts, its tables' rows, and its failing case names."""
    text = open(DOC).read()
    passed, total = (int(v) for v in re.search(r"\*\*(\d+) of (\d+) cases pass", text).groups())
    sections = {title: body for title, body in re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, re.M | re.S)}

    def rows(title):
        return [[c.strip() for c in line.strip("|").split("|")] for line in sections[title].splitlines()
                if line.startswith("| ") and not line.startswith("| ---") and "---:" not in line][1:]
    failing = {row[0] for row in rows("Failures")}
    return passed, total, rows, failing


def test_the_doc_counts_every_case_once_and_reaches_90_percent(cases, doc):
    passed, total, rows, failing = doc
    assert total == len(cases), "the doc is stale: rerun tools/onnx_conformance.py"
    assert passed >= 0.9 * total
    for title in ("By how graphcore imports the op", "By op type"):
        table = rows(title)
        assert sum(int(r[1]) for r in table) == passed and sum(int(r[2]) for r in table) == total, title
    assert sum(int(r[1]) for r in rows("Remaining failures by reason")) == total - passed
    assert len(failing) == total - passed and failing <= {c.name for c in cases}


def test_a_sample_of_cases_passes_or_fails_as_the_doc_says(cases, doc):
    _, _, _, failing = doc
    sample = cases[::SAMPLE_EVERY]
    outcomes = {case.name: conformance.run_case(case) for case in sample}
    differ = [(name, reason or "passes") for name, (ok, reason) in outcomes.items() if ok == (name in failing)]
    assert not differ, f"rerun tools/onnx_conformance.py: these cases changed: {differ}"


@pytest.fixture(scope="module")
def claimed_cases(cases):
    types = conformance.op_types(cases)
    by_op = {op: [] for op in conformance.CLAIMED}
    for case in cases:
        if types[case.name] in by_op:
            by_op[types[case.name]].append(case)
    return by_op


@pytest.mark.parametrize("op", conformance.CLAIMED)
def test_claimed_op_type_passes_95_percent_of_its_cases(op, claimed_cases):
    cases = claimed_cases[op]
    assert cases, f"{op} is claimed but onnx has no node case for it"
    results = [(case.name, *conformance.run_case(case)) for case in cases]
    failures = [(name, reason) for name, ok, reason in results if not ok]
    assert len(failures) <= 0.05 * len(cases), f"{op}: {len(failures)} of {len(cases)} fail: {failures}"


def test_resize_cases_pass_with_the_input_shape_made_symbolic(cases):
    """Resize with run-time input sizes (positions and weights computed in the graph): onnx's Resize and
    Upsample cases, their input declared with unknown dims, give the expected outputs as with known ones —
    all but the modes that need the sizes when importing (crop-and-resize, antialias, aspect-ratio policies)."""
    types = conformance.op_types(cases)
    checked = 0
    for case in cases:
        if types[case.name] not in ("Resize", "Upsample"):
            continue
        model = onnx.ModelProto()
        model.CopyFrom(case.model)
        for dim in model.graph.input[0].type.tensor_type.shape.dim:
            dim.ClearField("dim_value")
            dim.dim_param = "size"
        symbolic = copy.copy(case)
        symbolic.model = model
        ok, reason = conformance.run_case(symbolic)
        if "needs known input sizes" in reason:
            continue
        assert ok, f"{case.name} with a symbolic input shape: {reason}"
        checked += 1
    assert checked >= 25
