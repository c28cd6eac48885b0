"""Time and memory of checking and importing huge trivial ONNX graphs: both must grow linearly with the file.

    python tools/bench_onnx_check.py [--sizes 10000,100000,1000000] [--attr-sizes 1000,10000,100000]
                                     [--if-sizes 2000,4000,8000]

Three families of hostile-but-valid files, each a chain ``x → node → node → … → y``:

* *trivial*: ``Relu`` nodes, each with a name and no attribute;
* *one-attribute*: ``LeakyRelu`` nodes with ``alpha`` (the old check rebuilt the set of every output name once
  per attribute of every node: quadratic; 4,000 such nodes took 16 s);
* *If bodies*: ``If`` nodes whose two one-node branches read the previous value (``if_chain``); the importer
  builds both branches of each (the old import copied every value of the model once per body: quadratic).

The files are written straight as protobuf wire bytes (a node message per chain link, concatenated), so even a
million nodes is written in seconds, then read back by ``graphcore.export`` from the path as a user would.
Every measurement runs in a fresh child process, so one size's memory cannot hide another's:

* ``parse s``: reading the file and parsing it into an ``onnx.ModelProto`` (protobuf's C code);
* ``check s (cpu)``: graphcore's checks of the parsed model (``onnx_safety.check``: sizes, names, arity,
  order), wall-clock seconds and, in parentheses, the process's CPU seconds (on a shared machine the wall
  clock also counts other programs' turns; CPU time does not);
* ``onnx.checker s``: ``onnx.checker.check_model`` on the same parsed model, for scale (C++, no size caps);
* ``check MB``: peak resident memory (RSS high-water mark, ``VmHWM`` after resetting it through
  ``/proc/self/clear_refs``) above the resident size before reading the file, while reading, parsing and
  checking; this is real memory, protobuf's C allocations included (tracemalloc would miss those);
* ``import s (cpu)`` / ``import MB``: the same for ``export.from_onnx(path)``: read, parse, check and build
  the graphcore graph (placeholders, one graph node per ONNX node); ``cpu µs/node`` is its CPU time per node.

Graph sizes above ``MAX_NODES`` (1,000,000) are refused by design; 1,000,000 itself is allowed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import onnx
from onnx import TensorProto, helper

_GRAPH_NODE_FIELD = b"\x0a"    # GraphProto.node: field 1, length-delimited
_MODEL_GRAPH_FIELD = b"\x3a"   # ModelProto.graph: field 7, length-delimited


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def chain_file(path, n, with_attribute):
    """Write a chain of ``n`` Relu (or LeakyRelu with alpha) nodes as an ONNX file; returns its size."""
    op, attrs = ("LeakyRelu", [helper.make_attribute("alpha", 0.1)]) if with_attribute else ("Relu", [])
    nodes = []
    for i in range(n):
        node = onnx.NodeProto(op_type=op, name=f"n{i}", input=["x" if i == 0 else f"h{i}"],
                              output=["y" if i == n - 1 else f"h{i + 1}"], attribute=attrs)
        data = node.SerializeToString()
        nodes.append(_GRAPH_NODE_FIELD + _varint(len(data)) + data)
    frame = helper.make_graph([], "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])])
    graph = b"".join(nodes) + frame.SerializeToString()   # protobuf merges concatenated fields
    model = helper.make_model(onnx.GraphProto(), opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    model.ClearField("graph")
    with open(path, "wb") as f:
        f.write(model.SerializeToString() + _MODEL_GRAPH_FIELD + _varint(len(graph)) + graph)
    return os.path.getsize(path)


def if_chain(n):
    """A ModelProto: ``x → If → If → … → y``, each If's branches reading the previous value from the enclosing
    graph (then: Relu, else: Neg). The condition is a graph input, so the importer builds both branches of
    every If: 2n bodies, each defining one name."""
    nodes = []
    for i in range(n):
        previous, out = "x" if i == 0 else f"h{i}", "y" if i == n - 1 else f"h{i + 1}"
        then_branch, else_branch = (
            helper.make_graph([helper.make_node(op, [previous], [f"{tag}{i}"], name=f"{tag}{i}")], f"{tag}{i}", [],
                              [helper.make_tensor_value_info(f"{tag}{i}", TensorProto.FLOAT, ["batch", 8])])
            for op, tag in (("Relu", "then"), ("Neg", "else")))
        nodes.append(helper.make_node("If", ["c"], [out], name=f"if{i}", then_branch=then_branch,
                                      else_branch=else_branch))
    graph = helper.make_graph(nodes, "ifs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8]),
                                             helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


# ----- the child process: one measurement --------------------------------------------------------------------

def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak():
    """Make the RSS high-water mark (VmHWM) start again from the current RSS (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _measure(path, what):
    from graphcore import export
    from graphcore.export import onnx_safety
    chain_file(path + ".warm", 3, True)
    export.from_onnx(path + ".warm")   # the import modules load before measuring
    os.remove(path + ".warm")
    _reset_peak()
    before = _status_kib("VmRSS")
    result = {}
    if what == "check":
        start = time.perf_counter()
        with open(path, "rb") as f:
            model = onnx_safety.parse(f.read())
        result["parse_s"] = time.perf_counter() - start
        start, cpu = time.perf_counter(), time.process_time()
        onnx_safety.check(model)
        result["check_s"], result["check_cpu"] = time.perf_counter() - start, time.process_time() - cpu
        result["check_mb"] = (_status_kib("VmHWM") - before) / 1024
        start = time.perf_counter()
        onnx.checker.check_model(model)
        result["onnx_checker_s"] = time.perf_counter() - start
    else:
        start, cpu = time.perf_counter(), time.process_time()
        imported = export.from_onnx(path)
        result["import_s"], result["import_cpu"] = time.perf_counter() - start, time.process_time() - cpu
        result["import_mb"] = (_status_kib("VmHWM") - before) / 1024
        result["graph_nodes"] = len(imported.graph.nodes)
    print(json.dumps(result))


def _child(path, what):
    out = subprocess.run([sys.executable, __file__, "--child", what, path], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["(no output)"])[-1][:100]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cell(result, key, width, cpu_key=None, digits=2):
    """One figure of the table (with its CPU time in parentheses), or 'failed'."""
    if key not in result:
        return f"{'failed':>{width}}"
    text = f"{result[key]:.{digits}f}" + (f" ({result[cpu_key]:.{digits}f})" if cpu_key else "")
    return f"{text:>{width}}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="trivial-node chain lengths")
    parser.add_argument("--attr-sizes", default="1000,10000,100000", help="one-attribute chain lengths")
    parser.add_argument("--if-sizes", default="2000,4000,8000", help="If-node chain lengths")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _measure(args.child[1], args.child[0])
    runs = [("trivial", int(n), False) for n in args.sizes.split(",") if n] + \
           [("one-attribute", int(n), True) for n in args.attr_sizes.split(",") if n] + \
           [("If bodies", int(n), None) for n in args.if_sizes.split(",") if n]
    print(f"python {sys.version.split()[0]}, onnx {onnx.__version__}, {os.cpu_count()} cores; "
          "memory: peak RSS above the RSS before reading the file")
    header = (f"{'nodes':>10} {'kind':>14} {'file MB':>8} {'parse s':>8} {'check s (cpu)':>14} {'check MB':>9} "
              f"{'onnx.checker s':>15} {'import s (cpu)':>15} {'import MB':>10} {'cpu µs/node':>12}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="bench-onnx-check-") as folder:
        for kind, n, with_attribute in runs:
            path = os.path.join(folder, f"{kind.replace(' ', '-')}-{n}.onnx")
            if with_attribute is None:
                onnx.save(if_chain(n), path)
                size = os.path.getsize(path)
            else:
                size = chain_file(path, n, with_attribute)
            check, imported = _child(path, "check"), _child(path, "import")
            os.remove(path)
            print(f"{n:>10,} {kind:>14} {size / 2**20:>8.1f} {_cell(check, 'parse_s', 8)} "
                  f"{_cell(check, 'check_s', 14, 'check_cpu')} {_cell(check, 'check_mb', 9, digits=0)} "
                  f"{_cell(check, 'onnx_checker_s', 15)} {_cell(imported, 'import_s', 15, 'import_cpu')} "
                  f"{_cell(imported, 'import_mb', 10, digits=0)} "
                  f"{imported['import_cpu'] / n * 1e6 if 'import_cpu' in imported else float('nan'):>12.1f}",
                  flush=True)
            for result in (check, imported):
                if "error" in result:
                    print(f"{'':>10} failed: {result['error']}")


if __name__ == "__main__":
    main()
