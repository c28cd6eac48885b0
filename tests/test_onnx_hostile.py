"""A corpus of hostile ONNX files, generated here: every one is refused with an OnnxImportError saying why, before
a tensor is read or allocated (or, for shapes computed from data, by the node that meets them at run time)."""
import os
import tracemalloc

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
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
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
    "nesting_too_deep": (("in memory", nested_if(onnx_safety.MAX_DEPTH + 2)), "nested deeper"),
    "out_of_range_axis": (model([helper.make_node("Concat", ["x", "x"], ["y"], axis=7)]), "Concat"),
}


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
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"h{i}"], [f"h{i + 1}" if i < 10 else "y"]) for i in range(11)]
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
