"""A corpus of hostile ONNX files, generated here: every one is refused with an OnnxImportError saying why, before
a tensor is read or allocated (or, for shapes computed from data, by the node that meets them at run time)."""
import gc as python_gc
import importlib
import io
import os
import sys
import tracemalloc
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphcore as gc
from graphcore import export
from graphcore.export import onnx_safety

F = TensorProto.FLOAT


def model(nodes, inputs=(("x", [2])), outputs=("y",), inits=(), opset=18, domains=()):
    ins = [helper.make_tensor_value_info(n, F, s) for n, s in ([inputs] if isinstance(inputs[0], str) else inputs)]
    outs = [helper.make_tensor_value_info(n, F, None) for n in outputs]
    g = helper.make_graph(nodes, "hostile", ins, outs, list(inits))
    opsets = ([helper.make_opsetid("", opset)] if opset is not None else []) + \
        [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(g, opset_imports=opsets, ir_version=10)


def external(name, location, dims=(4,), **entries):
    """An initializer whose data lives in ``location`` (nothing checks it when building)."""
    t = TensorProto(name=name, data_type=F, dims=list(dims), data_location=TensorProto.EXTERNAL)
    for key, value in {"location": location, **entries}.items():
        t.external_data.add(key=key, value=str(value))
    return t


def with_external(location, **entries):
    return model([helper.make_node("Add", ["x", "w"], ["y"])], ("x", [4]), inits=[external("w", location, **entries)])


def big_tensor(name, dims):
    """Declared dims with no data: a promise of a huge allocation."""
    return TensorProto(name=name, data_type=F, dims=list(dims))


def nested_if(depth):
    """If inside If, ``depth`` levels, built in place (protobuf's copy and parse stop at ~100 message levels,
    which is why this one stays in memory: written to a file, it could not even be parsed back)."""
    m = model([], (("x", [2]), ("c", [])))
    graph = m.graph
    for i in range(depth):
        node = graph.node.add(op_type="If", input=["c"], output=["y"], name=f"if{i}")
        node.attribute.add(name="else_branch", type=onnx.AttributeProto.GRAPH).g.CopyFrom(
            helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "leaf", [],
                              [helper.make_tensor_value_info("y", F, None)]))
        attr = node.attribute.add(name="then_branch", type=onnx.AttributeProto.GRAPH)
        graph = attr.g
        graph.name = f"level{i}"
        graph.output.add().CopyFrom(helper.make_tensor_value_info("y", F, None))
    graph.node.add(op_type="Identity", input=["x"], output=["y"])
    return m


def shape_node(op, shape, inputs=("x",), **attrs):
    """``op`` fed by a constant shape-like value ``shape``."""
    const = helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(np.array(shape, np.int64)))
    return model([const, helper.make_node(op, list(inputs) + ["s"], ["y"], **attrs)])


def cycle():
    return model([helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                  helper.make_node("Identity", ["a"], ["y"])])


# name → (how to write it into a folder, a fragment of the expected reason)
CORPUS = {
    "random_bytes": (b"\x8f\x00\xff\xfe" * 64, "not an ONNX model"),
    "empty_file": (b"", "not an ONNX model"),
    "png_header": (b"\x89PNG\r\n\x1a\n" + bytes(100), "not an ONNX model"),
    "plain_text": (b"hello, I am not a model\n", "not an ONNX model"),
    "tensor_not_model": (numpy_helper.from_array(np.ones(3, np.float32), "t").SerializeToString(),
                         "not an ONNX model"),
    "truncated_model": ("truncate", "not an ONNX model"),
    "no_graph": (onnx.ModelProto(ir_version=10), "not an ONNX model"),
    "no_opset": ("no_opset", "not an ONNX model"),
    "external_dotdot": (with_external("../secret.bin"), "leaves the model's folder"),
    "external_nested_dotdot": (with_external("sub/../../secret.bin"), "leaves the model's folder"),
    "external_absolute": (with_external("/etc/passwd"), "relative path"),
    "external_windows_drive": (with_external("C:\\Windows\\win.ini"), "relative path"),
    "external_symlink": (with_external("link.bin"), "symbolic link"),
    "external_hardlink": (with_external("hard.bin"), "hard link"),
    "external_missing_file": (with_external("nothing_here.bin"), "does not exist"),
    "external_directory": (with_external("adir"), "not a regular file"),
    "external_negative_offset": (with_external("data.bin", offset=-8), "negative"),
    "external_offset_past_end": (with_external("data.bin", offset=10**12), "does not match"),
    "external_length_mismatch": (with_external("data.bin", length=3), "does not match"),
    "external_unknown_key": (with_external("data.bin", evil="1"), "unknown external-data keys"),
    "external_offset_not_int": (with_external("data.bin", offset="0x10"), "not an integer"),
    "huge_initializer": (model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[big_tensor("w", [2**20, 2**20])]),
                         "over the cap"),
    "negative_dims": (model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[big_tensor("w", [-1, 4])]),
                      "negative"),
    "raw_data_mismatch": (model([helper.make_node("Add", ["x", "w"], ["y"])],
                                inits=[TensorProto(name="w", data_type=F, dims=[1000], raw_data=b"\0" * 8)]),
                          "stores 8 bytes"),
    "constant_raw_mismatch": (model([helper.make_node("Constant", [], ["y"],
                                                      value=TensorProto(name="v", data_type=F, dims=[10**3],
                                                                        raw_data=b"\0" * 4))]),
                              "stores 4 bytes"),
    "huge_declared_input": (model([helper.make_node("Identity", ["x"], ["y"])], ("x", [2**31, 2**31])),
                            "over the cap"),
    "constant_of_shape_huge": (shape_node("ConstantOfShape", [2**20, 2**20], inputs=()), "over the cap"),
    "expand_huge": (shape_node("Expand", [2**18, 2**18, 2]), "over the cap"),
    "tile_huge": (shape_node("Tile", [2**30]), "over the cap"),
    "reshape_impossible": (shape_node("Reshape", [2**40, 2**40]), "Reshape"),
    "pad_huge": (shape_node("Pad", [2**34, 2**34]), "over the cap"),
    "range_huge": (model([helper.make_node("Constant", [], [n], value=numpy_helper.from_array(np.array(v, np.int64)))
                          for n, v in (("a", 0), ("b", 2**40), ("d", 1))]
                         + [helper.make_node("Range", ["a", "b", "d"], ["y"])]), "over the cap"),
    "cycle": (cycle(), "cycle"),
    "undefined_input": (model([helper.make_node("Add", ["x", "ghost"], ["y"])]), "which no node"),
    "custom_domain_node": (model([helper.make_node("Evil", ["x"], ["y"], domain="com.evil")], domains=["com.evil"]),
                           "unknown operator domain"),
    "custom_domain_only_node": (model([helper.make_node("Relu", ["x"], ["y"], domain="com.evil")]),
                                "unknown domain"),
    "preview_domain_not_imported": (model([helper.make_node("FlexAttention", ["x", "x", "x"], ["y"],
                                                            domain="ai.onnx.preview")]),
                                    "is in unknown domain 'ai.onnx.preview' (the model imports no such operator set"),
    "preview_domain_standard_op": (model([helper.make_node("Relu", ["x"], ["y"], domain="ai.onnx.preview")],
                                         domains=["ai.onnx.preview"]),
                                   "cannot import ONNX op Relu (node 'y'): the ai.onnx.preview domain has no Relu"),
    "preview_training_domain": (model([helper.make_node("Adam", ["x"], ["y"], domain="ai.onnx.preview.training")],
                                      domains=["ai.onnx.preview.training"]),
                                "unknown operator domain 'ai.onnx.preview.training'"),
    "no_standard_opset": (model([helper.make_node("Relu", ["x"], ["y"])], opset=None, domains=["ai.onnx.preview"]),
                          "the model imports no version of the standard ai.onnx operator set"),
    "nesting_too_deep": (("in memory", nested_if(onnx_safety.MAX_DEPTH + 2)), "nested deeper"),
    "out_of_range_axis": (model([helper.make_node("Concat", ["x", "x"], ["y"], axis=7)]), "Concat"),
}


# ----- what onnx.checker enforces on names and arity, and typed tensor data (issue 21) ---------------------------

B = TensorProto.BOOL


def typed(name, data_type, dims, **fields):
    """An initializer with its values in typed fields (float_data, int64_data …), however many the dims need."""
    return TensorProto(name=name, data_type=data_type, dims=list(dims), **fields)


def with_init(tensor, op="Add"):
    return model([helper.make_node(op, ["x", tensor.name], ["y"])], inits=[tensor])


def branch(nodes, outputs, name="branch"):
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(o, F, None) for o in outputs])


def with_if(then_nodes, then_outputs, after=()):
    """``y = If(c)`` over x, then more nodes; the else branch is a plain Neg of x."""
    node = helper.make_node("If", ["c"], ["y"], name="the_if", then_branch=branch(then_nodes, then_outputs, "then"),
                            else_branch=branch([helper.make_node("Neg", ["x"], ["e"])], ["e"], "else"))
    m = model([node, *after], (("x", [2]), ("c", [])))
    m.graph.input[1].type.tensor_type.elem_type = B
    return m


def with_loop(body_nodes, body_outputs, body_inits=()):
    """A Loop over a body taking (i, cond, s) and returning (cond, s) from ``body_nodes``."""
    ins = [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond", B, []),
           helper.make_tensor_value_info("s", F, [2])]
    outs = [helper.make_tensor_value_info(o, B if k == 0 else F, None) for k, o in enumerate(body_outputs)]
    body = helper.make_graph(body_nodes, "body", ins, outs, list(body_inits))
    trip = helper.make_node("Constant", [], ["n"], value=numpy_helper.from_array(np.array(3, np.int64)))
    return model([trip, helper.make_node("Loop", ["n", "", "x"], ["y"], body=body, name="the_loop")])


STRUCTURE = {
    "two_nodes_write_one_name": (model([helper.make_node("Relu", ["x"], ["y"], name="a"),
                                        helper.make_node("Neg", ["x"], ["y"], name="b")]),
                                 "node 'b' (Neg) writes 'y', which is already the output 'y' of node 'a' (Relu)"),
    "node_overwrites_graph_input": (model([helper.make_node("Relu", ["x"], ["x"], name="r"),
                                           helper.make_node("Neg", ["x"], ["y"])]),
                                    "node 'r' (Relu) writes 'x', which is already graph input 'x'"),
    "node_overwrites_initializer": (model([helper.make_node("Relu", ["x"], ["w"], name="r"),
                                           helper.make_node("Add", ["x", "w"], ["y"])],
                                          inits=[numpy_helper.from_array(np.ones(2, np.float32), "w")]),
                                    "node 'r' (Relu) writes 'w', which is already initializer 'w'"),
    "graph_input_listed_twice": (model([helper.make_node("Add", ["x", "x"], ["y"])], (("x", [2]), ("x", [2]))),
                                 "graph 'hostile' lists input 'x' twice"),
    "two_initializers_one_name": (model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[
        numpy_helper.from_array(np.ones(2, np.float32), "w"), numpy_helper.from_array(np.zeros(2, np.float32), "w")]),
        "graph 'hostile' has two initializers named 'w'"),
    "unary_op_with_extra_input": (model([helper.make_node("Relu", ["x", "x"], ["y"], name="r")]),
                                  "node 'r' (Relu) has 2 inputs, but Relu at opset 18 takes exactly 1: the extra "
                                  "inputs would be dropped silently"),
    "binary_op_missing_input": (model([helper.make_node("Add", ["x"], ["y"], name="a")]),
                                "node 'a' (Add) has 1 input, but Add at opset 18 takes exactly 2: the op needs 2"),
    "op_with_extra_output": (model([helper.make_node("Relu", ["x"], ["y", "z"], name="r")]),
                             "node 'r' (Relu) has 2 outputs, but Relu at opset 18 takes exactly 1"),
    "variadic_op_without_inputs": (model([helper.make_node("Concat", [], ["y"], axis=0, name="c")]),
                                   "node 'c' (Concat) has 0 inputs, but Concat at opset 18 takes at least 1"),
    "optional_inputs_beyond_the_schema": (model([helper.make_node("Clip", ["x", "", "", ""], ["y"], name="c")]),
                                          "has 4 inputs, but Clip at opset 18 takes 1 to 3"),
    "graph_output_nothing_produces": (model([helper.make_node("Relu", ["x"], ["y"])], outputs=("y", "q")),
                                      "graph output 'q' is not produced by any node, graph input or initializer"),
    "float_data_longer_than_dims": (with_init(typed("w", F, [2], float_data=[1.0, 2.0, 3.0])),
                                    "tensor 'w' stores 3 values in float_data but its dims [2] need 2 (FLOAT)"),
    "int64_data_shorter_than_dims": (model([helper.make_node("Reshape", ["x", "s"], ["y"])],
                                           inits=[typed("s", TensorProto.INT64, [2], int64_data=[2])]),
                                     "tensor 's' stores 1 value in int64_data but its dims [2] need 2 (INT64)"),
    "int32_data_of_float16_mismatch": (with_init(typed("w", TensorProto.FLOAT16, [2], int32_data=[1, 2, 3])),
                                       "stores 3 values in int32_data but its dims [2] need 2 (FLOAT16)"),
    "double_data_mismatch": (with_init(typed("w", TensorProto.DOUBLE, [3], double_data=[1.0])),
                             "stores 1 value in double_data but its dims [3] need 3 (DOUBLE)"),
    "string_data_mismatch": (with_init(typed("w", TensorProto.STRING, [3], string_data=[b"a"])),
                             "stores 1 value in string_data but its dims [3] need 3 (STRING)"),
    "complex_float_data_needs_pairs": (with_init(typed("w", TensorProto.COMPLEX64, [2], float_data=[1.0, 2.0])),
                                       "stores 2 values in float_data but its dims [2] need 4 (COMPLEX64)"),
    "tensor_with_dims_and_no_values": (with_init(typed("w", F, [3])), "stores 0 values in float_data but its dims"),
    "values_in_the_wrong_typed_field": (with_init(typed("w", F, [2], int64_data=[1, 2])),
                                        "tensor 'w' stores its FLOAT values in int64_data; they belong in float_data"),
    "values_in_two_fields": (with_init(typed("w", F, [2], float_data=[1.0, 2.0], raw_data=bytes(8))),
                             "tensor 'w' stores values in raw_data and float_data"),
    "undefined_element_type": (with_init(typed("w", TensorProto.UNDEFINED, [1], float_data=[1.0])),
                               "tensor 'w' has element type 0, which is not a defined ONNX data type"),
    "unknown_element_type": (with_init(typed("w", 999, [1], float_data=[1.0])), "element type 999"),
    "strings_in_raw_data": (with_init(typed("w", TensorProto.STRING, [1], raw_data=b"abc")),
                            "STRING values cannot be stored in raw_data"),
    "constant_attribute_typed_mismatch": (model([helper.make_node("Constant", [], ["y"], value=typed(
        "v", F, [4], float_data=[1.0]))]), "tensor 'v' stores 1 value in float_data but its dims [4] need 4"),
    "branch_node_overwrites_outer_input": (with_if([helper.make_node("Relu", ["x"], ["x"], name="r")], ["x"]),
                                           "node 'r' (Relu) writes 'x', which is already graph input 'x' of the "
                                           "enclosing graph 'hostile'"),
    "branch_output_made_outside": (with_if([], ["x"]), "output 'x' of subgraph 'then' is not produced inside it"),
    "branch_reads_undefined_name": (with_if([helper.make_node("Relu", ["ghost"], ["t"], name="r")], ["t"]),
                                    "node 'r' (Relu) reads 'ghost', which no node, initializer or graph input"),
    "body_nodes_write_one_name": (with_loop([helper.make_node("Identity", ["cond"], ["c2"], name="a"),
                                             helper.make_node("Relu", ["s"], ["c2"], name="b")], ["c2", "s"]),
                                  "node 'b' (Relu) writes 'c2', which is already the output 'c2' of node 'a'"),
    "body_op_with_extra_input": (with_loop([helper.make_node("Identity", ["cond"], ["c2"]),
                                            helper.make_node("Relu", ["s", "s"], ["s2"], name="r")], ["c2", "s2"]),
                                 "node 'r' (Relu) has 2 inputs, but Relu at opset 18 takes exactly 1"),
    "body_initializer_typed_mismatch": (with_loop([helper.make_node("Identity", ["cond"], ["c2"]),
                                                   helper.make_node("Add", ["s", "b"], ["s2"])], ["c2", "s2"],
                                                  [typed("b", F, [2], float_data=[1.0])]),
                                        "tensor 'b' stores 1 value in float_data but its dims [2] need 2"),
    "cycle_through_a_branch": (with_if([helper.make_node("Relu", ["h"], ["t"])], ["t"],
                                       after=[helper.make_node("Neg", ["y"], ["h"], name="n")]),
                               "the graph has a cycle"),
    "node_reads_its_own_output": (model([helper.make_node("Add", ["x", "y"], ["y"], name="a")]),
                                  "the graph has a cycle: node 'a' (Add)"),
}
CORPUS.update(STRUCTURE)

def _write(folder, name, item):
    """Write one corpus entry (and the files its external data points at) into ``folder``; return the path."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "data.bin"), "wb") as f:
        f.write(bytes(16))
    os.makedirs(os.path.join(folder, "adir"), exist_ok=True)
    secret = os.path.join(os.path.dirname(folder), "secret.bin")
    with open(secret, "wb") as f:
        f.write(bytes(16))
    if not os.path.lexists(os.path.join(folder, "link.bin")):
        os.symlink(secret, os.path.join(folder, "link.bin"))
    if not os.path.exists(os.path.join(folder, "hard.bin")):
        os.link(secret, os.path.join(folder, "hard.bin"))
    path = os.path.join(folder, name + ".onnx")
    if item == "truncate":
        data = shape_node("Reshape", [2, 1]).SerializeToString()[:-7]
    elif item == "no_opset":
        m = model([helper.make_node("Relu", ["x"], ["y"])])
        del m.opset_import[:]
        data = m.SerializeToString()
    else:
        data = item if isinstance(item, bytes) else item.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return path


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_file_is_refused_with_its_reason(name, tmp_path):
    item, reason = CORPUS[name]
    path = item[1] if isinstance(item, tuple) else _write(str(tmp_path / "models"), name, item)
    tracemalloc.start()
    try:
        with pytest.raises(export.OnnxImportError) as error:
            export.from_onnx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason in str(error.value), str(error.value)
    assert peak < 64 << 20, f"{peak:,} bytes allocated while refusing {name}"


def test_the_size_cap_is_configurable(tmp_path):
    m = model([helper.make_node("Add", ["x", "w"], ["y"])], ("x", [256]),
              inits=[numpy_helper.from_array(np.ones(256, np.float32), "w")])
    with pytest.raises(export.OnnxImportError, match="over the cap of 512"):
        export.from_onnx(m, max_bytes=512)
    assert export.from_onnx(m, max_bytes=4096).run({"x": np.ones(256, np.float32)})["y"][0] == 2


def test_node_count_cap(monkeypatch):
    monkeypatch.setattr(onnx_safety, "MAX_NODES", 10)   # the same check as a million nodes, on a small model
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"h{i}"], [f"h{i + 1}" if i < 10 else "y"])
             for i in range(11)]
    with pytest.raises(export.OnnxImportError, match="more than 10 nodes"):
        export.from_onnx(model(nodes))


def test_a_hostile_shape_met_at_run_time_is_refused_by_its_node():
    """Expand to a shape read from the data: nothing is known when importing, the kernel refuses."""
    x = helper.make_tensor_value_info("x", F, [1])
    s = helper.make_tensor_value_info("s", TensorProto.INT64, [2])
    g = helper.make_graph([helper.make_node("Expand", ["x", "s"], ["y"], name="the_expand")], "g", [x, s],
                          [helper.make_tensor_value_info("y", F, None)])
    imported = export.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]))
    assert imported.run({"x": np.ones(1, np.float32), "s": np.array([2, 3])})["y"].shape == (2, 3)
    with pytest.raises(gc.ExecutionError, match="over the cap") as error:
        imported.run({"x": np.ones(1, np.float32), "s": np.array([2**31, 2**31])})
    assert "the_expand" in str(error.value)


def test_legitimate_external_data_inside_the_folder_loads(tmp_path):
    w = np.arange(300, dtype=np.float32)
    m = model([helper.make_node("Add", ["x", "w"], ["y"])], ("x", [300]), inits=[numpy_helper.from_array(w, "w")])
    path = tmp_path / "model.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").exists()
    out = export.from_onnx(path).run({"x": np.ones(300, np.float32)})["y"]
    np.testing.assert_array_equal(out, w + 1)


# ----- what the structural checks accept, as onnx.checker does -----------------------------------------------

def _declared(graph):
    """Give every output of ``graph`` and its bodies its shape (floats [2], booleans scalar), as the checker
    requires; the corpus leaves them undeclared."""
    for value in graph.output:
        t = value.type.tensor_type
        if not t.HasField("shape"):
            t.shape.SetInParent()
            if t.elem_type == F:
                t.shape.dim.add().dim_value = 2
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                _declared(attr.g)
    return graph


def _valid(m):
    _declared(m.graph)
    onnx.checker.check_model(m)   # the oracle: each of these files is valid ONNX
    return m


def _run(m, **feeds):
    return export.from_onnx(_valid(m)).run({"x": np.array([-1.0, 2.0], np.float32), **feeds})["y"]


def test_a_branch_may_reuse_a_name_its_if_node_writes_later():
    m = with_if([helper.make_node("Relu", ["x"], ["y"])], ["y"])
    np.testing.assert_array_equal(_run(m, c=np.array(True)), [0.0, 2.0])


def test_a_body_input_may_shadow_an_enclosing_value():
    m = with_loop([helper.make_node("Identity", ["cond"], ["c2"]), helper.make_node("Add", ["s", "x"], ["s2"])],
                  ["c2", "s2"])
    m.graph.node[1].attribute[0].g.input[2].name = "x"   # the body's state is called x, like the graph input
    m.graph.node[1].attribute[0].g.node[1].input[0] = "x"
    np.testing.assert_array_equal(_run(m), [-8.0, 16.0])   # x + x, three times: the body's x wins inside


def test_nodes_listed_after_their_readers_import_in_dependency_order():
    m = model([helper.make_node("Neg", ["a"], ["y"]), helper.make_node("Relu", ["x"], ["a"])])
    np.testing.assert_array_equal(export.from_onnx(m).run({"x": np.array([-1.0, 2.0], np.float32)})["y"],
                                  [0.0, -2.0])


def test_a_branch_reading_a_value_made_later_in_the_file_is_built_after_it():
    m = with_if([helper.make_node("Relu", ["h"], ["t"])], ["t"], after=[helper.make_node("Neg", ["x"], ["h"])])
    np.testing.assert_array_equal(export.from_onnx(m).run({"x": np.array([-1.0, 2.0], np.float32),
                                                           "c": np.array(True)})["y"], [1.0, 0.0])


def test_omitted_optional_inputs_and_an_initializer_listed_as_input_are_valid():
    m = model([helper.make_node("Clip", ["x", "", "hi"], ["y"])], (("x", [2]), ("hi", [])),
              inits=[numpy_helper.from_array(np.array(1.0, np.float32), "hi")])   # IR < 4: an input with a default
    np.testing.assert_array_equal(_run(m), [-1.0, 1.0])


def test_packed_four_bit_values_are_counted_two_to_an_entry():
    tensor = helper.make_tensor("q", TensorProto.INT4, [5], [1, 0, 1, 1, 0])
    assert len(tensor.int32_data) == 3
    onnx_safety.check_tensor(tensor, onnx_safety.MAX_BYTES)   # ⌈5/2⌉ entries: accepted
    tensor.int32_data.append(0)
    with pytest.raises(export.OnnxImportError, match="stores 4 values in int32_data but its dims .5. need 3"):
        onnx_safety.check_tensor(tensor, onnx_safety.MAX_BYTES)


def test_nodes_sharing_one_name_get_distinct_graph_names():
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"h{i}"], [f"h{i + 1}" if i < 3 else "y"], name="same")
             for i in range(4)]
    imported = export.from_onnx(model(nodes))
    names = [n.name for n in imported.graph.nodes if n.type == "Relu"]
    assert names == ["same/Relu", "same/Relu_1", "same/Relu_2", "same/Relu_3"]


def test_imported_nodes_carry_the_site_of_the_from_onnx_call():
    nodes = [helper.make_node("LeakyRelu", ["x" if i == 0 else f"h{i}"], ["y" if i == 2 else f"h{i + 1}"], alpha=0.5)
             for i in range(3)]
    line = __import__("inspect").currentframe().f_lineno + 1
    imported = export.from_onnx(model(nodes))
    assert {n.site for n in imported.graph.nodes} == {f"{os.path.abspath(__file__)}:{line}"}


def test_folded_nodes_leave_no_garbage_while_the_collector_is_paused():
    """The importer pauses Python's cycle collector; each folded node's scratch graph (a cycle of nodes and
    tensors) is freed as it is made, so a file of many folded nodes cannot pile them up."""
    n = 300
    nodes = [helper.make_node("Add", ["c" if i == 0 else f"h{i}", "c"], [f"h{i + 1}"]) for i in range(n)]
    c = numpy_helper.from_array(np.ones(1, np.int64), "c")
    graph = helper.make_graph(nodes + [helper.make_node("Cast", [f"h{n}"], ["y"], to=F)], "folds",
                              [helper.make_tensor_value_info("x", F, [1])],
                              [helper.make_tensor_value_info("y", F, [1])], [c])
    folded = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    python_gc.disable()   # as paused by the importer; a full collection afterwards counts what was left
    try:
        python_gc.collect()
        imported = export.from_onnx(folded)
        left = python_gc.collect()
    finally:
        python_gc.enable()
    assert imported.run({"x": np.zeros(1, np.float32)})["y"] == n + 1
    assert left < 50, f"{left} garbage objects left by {n} folded nodes"
    assert python_gc.isenabled()


@pytest.fixture
def contexts(monkeypatch):
    """The ImportContext of every import made in the test, in order (to read what the import did)."""
    from_onnx_module = importlib.import_module("graphcore.export.from_onnx")
    made = []

    class Recording(from_onnx_module.ImportContext):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)
    monkeypatch.setattr(from_onnx_module, "ImportContext", Recording)
    return made


def test_many_if_bodies_save_only_their_own_names(contexts):
    """Importing a body saves and restores the names it defines, not every value of the model: with n If nodes
    (2n branches of one node each), the work is 2n names, whatever the number of values around them."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
    from bench_onnx_check import if_chain
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    for n in (50, 200):
        imported = export.from_onnx(if_chain(n))
        assert contexts[-1].saved_names == 2 * n
        assert len(contexts[-1].values) == n + 3   # x, c, the n outputs and "" (no body's name is left behind)
        np.testing.assert_array_equal(imported.run({"x": x, "c": np.array(True)})["y"], np.maximum(x, 0))
        np.testing.assert_array_equal(imported.run({"x": x, "c": np.array(False)})["y"], x)   # n negations, n even


def test_many_function_bodies_save_only_their_own_names(contexts):
    """The same for ops imported through their schema's function body (DynamicQuantizeLinear): the names saved
    grow with the number of nodes, not with the number of nodes times the values around them."""
    x = np.array([-1.0, 0.5, 2.0], np.float32)
    saved = []
    for n in (20, 80):
        nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], [f"q{i}", f"scale{i}", f"zero{i}"]) for i in range(n)]
        imported = export.from_onnx(model(nodes + [helper.make_node("Identity", [f"scale{n - 1}"], ["y"])], ("x", [3])))
        saved.append(contexts[-1].saved_names)
        # the scale is (max(x, 0) − min(x, 0)) / 255
        np.testing.assert_allclose(imported.run({"x": x})["y"], 3.0 / 255, rtol=1e-6)
    assert saved[0] > 0 and saved[1] == 4 * saved[0]


def test_every_check_reports_the_file_it_read(tmp_path):
    path = tmp_path / "dup.onnx"
    onnx.save(STRUCTURE["two_nodes_write_one_name"][0], str(path))
    with pytest.raises(export.OnnxImportError, match=f"^{path}: node 'b'"):
        export.from_onnx(path)


# ----- model files and checkpoints (.npz): sizes checked before anything is allocated --------------------------

def _npy(array=None, header_shape=None, dtype="<f4", version=(1, 0)):
    """The bytes of an .npy entry: ``array``'s, or a header declaring ``header_shape`` over a few zero bytes."""
    buf = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(buf, np.asarray(array), version=version)
        return buf.getvalue()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": header_shape})
    return buf.getvalue() + bytes(64)


def _zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return str(path)


@pytest.fixture
def saved(tmp_path):
    """A small saved model's entries (name.npy → bytes) and a function writing a variant of it."""
    import graphcore.layers as layers
    net = gc.Sequential([layers.Dense(3, input_shape=(4,))])
    with zipfile.ZipFile(net.save(str(tmp_path / "good.npz"))) as z:
        entries = {name: z.read(name) for name in z.namelist()}

    def variant(name, compression=zipfile.ZIP_STORED, **changes):
        return _zip(tmp_path / name, {**entries, **{k + ".npy": v for k, v in changes.items()}}, compression)
    return entries, variant


def _refused(call, error, fragment, limit=16 << 20):
    """``call()`` raises ``error`` with ``fragment``, allocating less than ``limit`` bytes on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(error) as raised:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fragment in str(raised.value), str(raised.value)
    assert peak < limit, f"{peak:,} bytes allocated"
    return str(raised.value)


def test_npz_header_declaring_2_to_the_40_floats(saved):
    path = saved[1]("huge.npz", weight_0000=_npy(header_shape=(2**20, 2**20)))
    assert os.path.getsize(path) < 4096
    _refused(lambda: gc.load_model(path), gc.FileFormatError,
             "entry 'weight_0000' declares a float32[1048576, 1048576] array of 4,398,046,511,104 bytes, over the cap")


def test_npz_header_disagreeing_with_the_zip_directory(saved):
    path = saved[1]("short.npz", weight_0000=_npy(header_shape=(4, 3000)))
    _refused(lambda: gc.load_model(path), gc.FileFormatError,
             "declares a float32[4, 3000] array (48,000 bytes after a 128-byte header), but the archive holds 192 "
             "bytes for it")


def _forged(path, out, entry, compressed=None, uncompressed=None):
    """A copy of the archive with the sizes its central directory declares for ``entry`` changed."""
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as z:
        at = z.start_dir
    name = entry.encode()
    while data[at + 46:at + 46 + len(name)] != name:   # directory records: 46 bytes, then name, extra, comment
        at += 46 + int.from_bytes(data[at + 28:at + 30], "little") + int.from_bytes(data[at + 30:at + 32], "little") \
            + int.from_bytes(data[at + 32:at + 34], "little")
    for offset, size in ((20, compressed), (24, uncompressed)):
        if size is not None:
            data[at + offset:at + offset + 4] = size.to_bytes(4, "little")
    out.write_bytes(bytes(data))
    return out


def test_npz_entry_claiming_bytes_past_the_end_of_the_file(saved, tmp_path):
    path = _forged(saved[1]("cut.npz"), tmp_path / "forged.npz", "weight_0000.npy", 2**31, 2**31)
    _refused(lambda: gc.load_model(path), gc.FileFormatError, "entry 'weight_0000' says its 2,147,483,648 stored bytes "
             "end at byte")


def test_npz_entry_claiming_more_than_deflate_can_inflate(saved, tmp_path):
    path = _forged(saved[1]("bomb.npz", zipfile.ZIP_DEFLATED), tmp_path / "claim.npz", "weight_0000.npy",
                   uncompressed=2**31)
    _refused(lambda: gc.load_model(path), gc.FileFormatError,
             "declares 2,147,483,648 bytes inflated from")


def test_npz_stored_entry_whose_sizes_disagree(saved, tmp_path):
    path = _forged(saved[1]("stored.npz"), tmp_path / "sizes.npz", "weight_0000.npy", uncompressed=2**20)
    _refused(lambda: gc.load_model(path), gc.FileFormatError, "is stored uncompressed in 176 bytes but declares "
             "1,048,576")


def test_an_unreferenced_compressed_entry_is_never_inflated(saved):
    bomb = _npy(np.zeros(2**26, np.float32))   # 256 MiB of zeros deflate to ~260 KB
    path = saved[1]("junk.npz", zipfile.ZIP_DEFLATED, junk=bomb)
    assert os.path.getsize(path) < 400_000
    tracemalloc.start()
    try:
        net = gc.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak:,} bytes allocated: the unreferenced entry was inflated"
    assert net.predict(np.ones((1, 4), np.float32)).shape == (1, 3)


def test_a_referenced_bomb_of_the_wrong_shape_is_refused_from_its_header(saved):
    path = saved[1]("bomb2.npz", zipfile.ZIP_DEFLATED, weight_0000=_npy(np.zeros(2**26, np.float32)))
    _refused(lambda: gc.load_model(path), gc.FileFormatError,
             "weight dense/kernel is float32(67108864,), the architecture needs float32(4, 3)")


def test_deeply_nested_architecture_json(saved):
    path = saved[1]("deep.npz", architecture=_npy(np.array("[" * 100_000 + "]" * 100_000)))
    _refused(lambda: gc.load_model(path), gc.FileFormatError,
             "the architecture nests 100000 levels deep, over the limit of 100", limit=32 << 20)


def test_json_nesting_is_counted_outside_strings_only():
    from graphcore.io import load_json
    assert load_json('{"a": "[[[[[[{{{{", "b": "\\\\\\"[[["}', "x", max_depth=1) == {"a": "[[[[[[{{{{", "b": '\\"[[['}
    assert load_json("[" * 100 + "]" * 100, "x", max_depth=100)
    with pytest.raises(gc.FileFormatError, match="x nests 101 levels deep"):
        load_json("[" * 101 + "]" * 101, "x", max_depth=100)


def test_architecture_entry_that_is_not_text(saved):
    path = saved[1]("numbers.npz", architecture=_npy(np.ones(3)))
    _refused(lambda: gc.load_model(path), gc.FileFormatError, "the architecture entry is float64(3,), not text")


def test_architecture_entry_declaring_a_huge_string(saved):
    path = saved[1]("bigtext.npz", architecture=_npy(header_shape=(), dtype="<U100000000"))
    _refused(lambda: gc.load_model(path), gc.FileFormatError, "over the cap of 67,108,864")


def test_archive_entry_that_is_not_an_array(saved):
    path = saved[1]("readme.npz")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("README.txt", "hello")
    _refused(lambda: gc.load_model(path), gc.FileFormatError, "its entry 'README.txt' is not an .npy array")


def test_npy_version_2_headers_load(saved):
    entries, variant = saved
    kernel = np.arange(12, dtype=np.float32).reshape(4, 3)
    net = gc.load_model(variant("v2.npz", weight_0000=_npy(kernel, version=(2, 0))))
    np.testing.assert_array_equal(net.get_weights()[0], kernel)


def _compiled_file(tmp_path):
    """A compiled model's file entries (name.npy → bytes), with its compile settings and optimizer state."""
    import graphcore.layers as layers
    net = gc.Sequential([layers.Dense(3, input_shape=(4,))])
    net.compile(optimizer="adam", loss="mse")
    with zipfile.ZipFile(net.save(str(tmp_path / "compiled.npz"))) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_compile_settings_nested_too_deep(tmp_path):
    entries = _compiled_file(tmp_path)
    path = _zip(tmp_path / "deep_compile.npz", {**entries, "compile.npy": _npy(np.array("[" * 5000 + "]" * 5000))})
    _refused(lambda: gc.load_model(path), gc.FileFormatError,
             "the compile settings nests 5000 levels deep, over the limit of 100")


def test_optimizer_slot_declaring_2_to_the_40_floats(tmp_path):
    entries = _compiled_file(tmp_path)
    slot = next(name for name in entries if name.startswith("optimizer/0000/"))
    path = _zip(tmp_path / "huge_slot.npz", {**entries, slot: _npy(header_shape=(2**20, 2**20))})
    _refused(lambda: gc.load_model(path), gc.FileFormatError,
             f"entry '{slot[:-4]}' declares a float32[1048576, 1048576] array of 4,398,046,511,104 bytes")


def test_learning_rate_entry_that_is_not_a_scalar(tmp_path):
    entries = _compiled_file(tmp_path)
    path = _zip(tmp_path / "rate.npz", {**entries, "optimizer/learning_rate.npy": _npy(np.ones(10**6, np.float32))})
    _refused(lambda: gc.load_model(path), gc.FileFormatError,
             "the optimizer state optimizer/learning_rate is float32(1000000,), the optimizer needs a float scalar")


def test_weights_file_entry_declaring_2_to_the_40_floats(saved, tmp_path):
    import graphcore.layers as layers
    net = gc.Sequential([layers.Dense(3, input_shape=(4,))])
    path = _zip(tmp_path / "weights.npz", {"weight_0000.npy": _npy(header_shape=(2**20, 2**20)),
                                           "weight_0001.npy": _npy(np.zeros(3, np.float32))})
    before = net.get_weights()
    _refused(lambda: net.load_weights(path), gc.FileFormatError,
             "entry 'weight_0000' declares a float32[1048576, 1048576] array")
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), before))


def test_weights_file_entries_of_another_model_are_not_read(tmp_path):
    import graphcore.layers as layers
    net = gc.Sequential([layers.Dense(3, input_shape=(4,))])
    bomb = _npy(np.zeros(2**26, np.float32))
    path = _zip(tmp_path / "weights.npz", {"weight_0000.npy": _npy(np.ones((4, 3), np.float32)),
                                           "weight_0001.npy": _npy(np.ones(3, np.float32)), "junk.npy": bomb},
                zipfile.ZIP_DEFLATED)
    tracemalloc.start()
    try:
        net.load_weights(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak:,} bytes allocated: an entry the model does not name was inflated"
    np.testing.assert_array_equal(net.get_weights()[0], np.ones((4, 3)))


def test_inference_session_reads_external_data_through_the_safe_loader(tmp_path):
    """InferenceSession reads the file itself to convert it to half precision: the importer's external-data
    checks apply (for batch_size= it reads the graph only, never external data)."""
    path = _write(str(tmp_path / "models"), "outside", with_external("../secret.bin"))
    with pytest.raises(gc.FileFormatError, match="outside.onnx cannot be loaded: it is not a valid ONNX model "
                                                 r"\(tensor 'w': external data '../secret.bin' leaves the "
                                                 "model's folder"):
        export.InferenceSession(path, device="cpu", precision="float16")


def _checkpoint_session():
    graph = gc.Graph()
    with graph.as_default():
        gc.Variable(np.ones((3, 3), np.float32), name="w")
    return gc.Session(graph)


def test_checkpoint_entry_declaring_2_to_the_40_floats(tmp_path):
    path = _zip(tmp_path / "ckpt.npz", {"w.npy": _npy(header_shape=(2**20, 2**20))})
    _refused(lambda: gc.train.Saver().restore(_checkpoint_session(), path), gc.CheckpointError,
             "entry 'w' declares a float32[1048576, 1048576] array")


def test_checkpoint_entries_not_restored_are_not_read(tmp_path):
    bomb = _npy(np.zeros(2**26, np.float32))
    path = _zip(tmp_path / "ckpt.npz", {"w.npy": _npy(np.full((3, 3), 2.0, np.float32)), "junk.npy": bomb},
                zipfile.ZIP_DEFLATED)
    sess = _checkpoint_session()
    _refused(lambda: gc.train.Saver().restore(sess, path), gc.CheckpointError,
             "in the checkpoint but not in the graph: junk")
    tracemalloc.start()
    try:
        gc.train.Saver().restore(sess, path, strict=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    np.testing.assert_array_equal(sess.variables["w"], np.full((3, 3), 2.0))


def test_checkpoint_of_the_wrong_shape_is_refused_before_its_data_is_read(tmp_path):
    path = _zip(tmp_path / "ckpt.npz", {"w.npy": _npy(np.zeros(2**26, np.float32))}, zipfile.ZIP_DEFLATED)
    _refused(lambda: gc.train.Saver().restore(_checkpoint_session(), path), gc.CheckpointError,
             "w: graph has float32(3, 3), checkpoint has float32(67108864,)")
