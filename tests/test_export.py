"""ONNX export, generated from the op registry: every op converts (and matches onnxruntime within float32
tolerance on each of its samples) or is refused with its documented reason; plus the file-level guarantees
(checker, IR/opset, names, symbolic batch, external data, quiet runtime)."""
import numpy as np
import pytest

import graphcore as gc
from graphcore import export
from graphcore.export.onnx_names import ELEMENTWISE
from graphcore.op import REGISTRY

RTOL, ATOL = 1e-4, 1e-5
CASES = [(op_type, i, sample) for op_type, op in sorted(REGISTRY.items())
         for i, sample in enumerate(op.samples(np.random.default_rng(0)))]


def _ids(case):
    return f"{case[0]}-{case[1]}"


def _f32(a):
    a = np.asarray(a)
    return a.astype(np.float32) if a.dtype == np.float64 else a


def _f32_attrs(attrs):
    """Float64 dtype attributes (Cast, OneHot, Size samples) become float32, like the inputs."""
    return {k: (np.dtype(np.float32) if isinstance(v, np.dtype) and v == np.float64 else v) for k, v in attrs.items()}


# A Scan or Cond sample's body graphs were traced in float64: their inputs must stay float64.
KEEP_FLOAT64 = {"Scan", "Cond"}


def _one_node_graph(op_type, arrays, attrs):
    """One node fed by placeholders (an unknown batch on the data input); bool scalars, the training switches,
    are placeholders with a default, as the learning phase is, so export folds them."""
    op = REGISTRY[op_type]
    writes = op.variable_inputs
    graph, inputs, feeds = gc.Graph(), [], {}
    if op_type not in KEEP_FLOAT64:
        arrays, attrs = [_f32(a) for a in arrays], _f32_attrs(attrs)
    with graph.as_default():
        for i, a in enumerate(arrays):
            a = np.asarray(a)
            if i < writes:
                inputs.append(gc.Variable(a, name=f"var{i}"))
            elif a.dtype == np.bool_ and a.ndim == 0:
                inputs.append(gc.placeholder_with_default(a, name=f"switch{i}"))
            else:
                shape = (None,) + a.shape[1:] if a.ndim and i == writes else a.shape
                ph = gc.placeholder(a.dtype, shape, name=f"in{i}")
                inputs.append(ph)
                feeds[ph] = a
        node = graph.create_node(op, inputs, attrs)
    return graph, node, feeds


# Ops whose exported form draws from ONNX's random ops: same shapes and statistics, another stream
# (tests/test_export_training.py checks the statistics).
RANDOM = {"RandomNormal", "RandomUniform", "Bernoulli"}


def _draws_random_numbers(op_type, arrays):
    return op_type in RANDOM or (op_type == "Dropout" and bool(arrays[-1]))


def test_every_registered_op_converts_or_has_a_reason():
    handled = set(export.CONVERTERS) | set(export.REASONS) | export.LEAVES
    assert not set(REGISTRY) - handled, f"ops with no ONNX mapping and no reason: {sorted(set(REGISTRY) - handled)}"
    assert not set(export.CONVERTERS) & set(export.REASONS)
    assert all(len(reason) > 40 for reason in export.REASONS.values())


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_op_matches_onnxruntime_or_is_refused(case, tmp_path):
    op_type, _, (arrays, attrs) = case
    graph, node, feeds = _one_node_graph(op_type, arrays, attrs)
    path = tmp_path / f"{op_type}.onnx"
    outputs = list(node.outputs)
    if op_type in export.REASONS:
        with pytest.raises(export.ExportError) as error:
            export.to_onnx(graph, path, inputs=list(feeds), outputs=outputs or [node])
        message = str(error.value)
        assert op_type in message and node.name in message and node.site in message
        assert export.REASONS[op_type] in message
        return
    export.to_onnx(graph, path, inputs=list(feeds), outputs=outputs)
    with gc.Session(graph, seed=0) as sess:
        expected = sess.run(outputs, feeds)
    actual = export.InferenceSession(path, device="cpu").run({t.name: a for t, a in feeds.items()})
    actual = actual if len(outputs) > 1 else [actual]
    for t, want, got in zip(outputs, expected, actual):
        if _draws_random_numbers(op_type, arrays):
            assert got.shape == want.shape and got.dtype == want.dtype, f"{op_type} output {t.name}"
        else:
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{op_type} output {t.name}")


def test_unknown_dimensions_named_apart_for_inputs_that_are_not_one_batch():
    """``dynamic_batch=None``: two inputs whose unknown leading sizes differ (found by tools/fuzz.py, seed 32:
    with both declared ``batch``, onnxruntime planned one buffer for both and failed)."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, (None, 4), name="x")
        y = gc.placeholder(gc.float64, (None, 4), name="y")
        outputs = [gc.concat([gc.expand_dims(v, 0)] * 2, axis=0) * 2.0 for v in (x, y)]
    proto = export.to_onnx(g, inputs=[x, y], outputs=outputs, dynamic_batch=None)
    leading = [v.type.tensor_type.shape.dim[0].dim_param for v in proto.graph.input]
    assert leading[0] and leading[1] and leading[0] != leading[1]
    feeds = {"x": np.arange(12.0).reshape(3, 4), "y": np.ones((2, 4))}
    got = export.InferenceSession(proto, device="cpu").run(feeds)
    np.testing.assert_array_equal(got[0], np.stack([feeds["x"] * 2] * 2))
    np.testing.assert_array_equal(got[1], np.full((2, 2, 4), 2.0))


def test_converters_and_import_rules_register_the_same_way():
    """Every module with ``@converter`` rules is imported by export/converters.py, every module with
    ``@importer`` rules by export/importers.py: a new family registers by being listed there."""
    import ast
    import pathlib
    root = pathlib.Path(export.__file__).parent

    def listed(module):
        tree = ast.parse((root / f"{module}.py").read_text())
        return {alias.name for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names}

    def registering(prefix, decorator):
        return {path.stem for path in root.glob(f"{prefix}*.py") if f"@{decorator}(" in path.read_text()}
    assert registering("convert_", "converter") == listed("converters")
    assert registering("import_", "importer") == listed("importers")
    assert len(set(ELEMENTWISE.values())) == len(ELEMENTWISE)   # one-to-one: each ONNX name once


@pytest.mark.parametrize("op_type", sorted(ELEMENTWISE))
def test_one_to_one_names_round_trip_through_one_table(op_type, tmp_path):
    """export/onnx_names.ELEMENTWISE is read both ways: the op exports as exactly its ONNX op, and that file
    imports as exactly the graphcore op, computing the same values."""
    arrays, attrs = next(iter(REGISTRY[op_type].samples(np.random.default_rng(0))))
    graph, node, feeds = _one_node_graph(op_type, arrays, attrs)
    proto = export.to_onnx(graph, tmp_path / "op.onnx", inputs=list(feeds), outputs=list(node.outputs))
    assert [n.op_type for n in proto.graph.node] == [ELEMENTWISE[op_type]]
    imported = export.from_onnx(tmp_path / "op.onnx")
    assert [n.type for n in imported.graph.nodes if n.type not in export.LEAVES] == [op_type]
    (got,) = imported.run({t.name: a for t, a in feeds.items()}).values()
    with gc.Session(graph) as sess:
        want = sess.run(node.outputs[0], feeds)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
