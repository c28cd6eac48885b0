"""onnx's node conformance cases of every op type graphcore claims (``export.conformance.CLAIMED``) pass through
the backend at ≥ 95 % each; ``tools/onnx_conformance.py`` runs all 1,884 and writes docs/onnx_conformance.md."""
import pytest

from graphcore.export import conformance


@pytest.fixture(scope="module")
def claimed_cases():
    cases = conformance.load_cases()
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
