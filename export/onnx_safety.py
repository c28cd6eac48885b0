"""Loading ONNX files that someone else made, safely: every check runs before a tensor is read or allocated.

``onnx.load`` runs no checker, follows external-data paths wherever they point and trusts every declared size;
its documentation calls the checker best-effort and denial of service out of scope. So the importer loads
through ``load`` here, which refuses, each with an ``OnnxImportError`` saying why:

* bytes that are not an ONNX model (truncated or foreign wire data, no graph, no opset);
* external data outside the model's folder: absolute paths, ``..``, symlinks and hardlinks
  (CVE-2022-25882, CVE-2024-27318, CVE-2026-27489, CVE-2026-34447), unknown keys, negative or out-of-file
  offsets and lengths (CVE-2026-34445);
* tensors whose declared size exceeds ``max_bytes`` (default 4 GiB), or whose stored bytes do not match dims;
* node cycles, inputs nothing defines, ops of domains other than the standard one, subgraphs nested deeper
  than ``MAX_DEPTH`` and graphs of more than ``MAX_NODES`` nodes.

Run-time sizes (ConstantOfShape, Expand, Tile, Reshape values computed from data) are checked against the
same cap where they are met: by the builders when the value is known at import, by the kernels otherwise.
"""
import heapq
import os
import stat

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper

from .import_registry import OnnxImportError

MAX_BYTES = 4 << 30
MAX_DEPTH = 64
MAX_NODES = 1_000_000
STANDARD_DOMAINS = ("", "ai.onnx")
_EXTERNAL_KEYS = {"location", "offset", "length", "checksum"}


def load(path_or_proto, max_bytes=MAX_BYTES):
    """A checked ``onnx.ModelProto`` (external data read in, after its paths and sizes were checked) and the
    model's folder (None for an in-memory proto)."""
    if isinstance(path_or_proto, onnx.ModelProto):
        model, folder = path_or_proto, None
    else:
        path = os.fspath(path_or_proto)
        if not os.path.isfile(path):
            raise OnnxImportError(f"{path}: no such ONNX file")
        size = os.path.getsize(path)
        if size > max_bytes:
            raise OnnxImportError(f"{path}: the file is {size:,} bytes, over the cap of {max_bytes:,} "
                                  "(pass max_bytes= to raise it)")
        with open(path, "rb") as f:
            data = f.read()
        model, folder = parse(data, path), os.path.dirname(os.path.abspath(path))
    check(model, max_bytes)
    _load_external(model, folder, max_bytes)
    return model, folder


def parse(data, what="<bytes>"):
    """Parse wire bytes as a ModelProto, refusing anything that is not recognisably an ONNX model."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise OnnxImportError(f"{what}: not an ONNX model (the protobuf wire data does not parse: {e})") from None
    return model


def check(model, max_bytes=MAX_BYTES):
    """Structural checks of a parsed model; raises ``OnnxImportError`` at the first problem."""
    if model.ir_version <= 0 or not model.HasField("graph") or not model.opset_import:
        raise OnnxImportError("not an ONNX model: it has no IR version, graph or opset import "
                              "(bytes of another format often parse as an empty protobuf message)")
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS:
            raise OnnxImportError(f"unknown operator domain '{opset.domain}': graphcore imports the standard "
                                  "ai.onnx ops only")
    counter = [0]
    _check_graph(model.graph, set(), 0, counter, max_bytes)


def _check_graph(graph, outer, depth, counter, max_bytes):
    if depth > MAX_DEPTH:
        raise OnnxImportError(f"subgraphs are nested deeper than {MAX_DEPTH} levels (graph '{graph.name}')")
    counter[0] += len(graph.node)
    if counter[0] > MAX_NODES:
        raise OnnxImportError(f"the model has more than {MAX_NODES:,} nodes")
    for tensor in graph.initializer:
        check_tensor(tensor, max_bytes)
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        _check_declared(value, max_bytes)
    defined = set(outer) | {t.name for t in graph.initializer} | {v.name for v in graph.input} | {""}
    topological_order(graph, defined)
    for node in graph.node:
        if node.domain not in STANDARD_DOMAINS:
            raise OnnxImportError(f"node '{node.name}' ({node.op_type}) is in unknown domain '{node.domain}': "
                                  "graphcore imports the standard ai.onnx ops only")
        for attr in node.attribute:
            if attr.HasField("t"):
                check_tensor(attr.t, max_bytes)
            for t in attr.tensors:
                check_tensor(t, max_bytes)
            scope = defined | {o for n in graph.node for o in n.output}
            for body in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                _check_graph(body, scope, depth + 1, counter, max_bytes)


def topological_order(graph, defined):
    """The nodes in an order where every input is defined first; refuses cycles and undefined inputs."""
    producers = {}
    for i, node in enumerate(graph.node):
        for o in node.output:
            if o:
                producers[o] = i
    for node in graph.node:
        for name in node.input:
            if name not in defined and name not in producers:
                raise OnnxImportError(f"node '{node.name}' ({node.op_type}) reads '{name}', which no node, "
                                      "initializer or graph input defines")
    waiting = [sum(1 for n in node.input if n not in defined) for node in graph.node]
    readers = {}
    for i, node in enumerate(graph.node):
        for n in node.input:
            if n not in defined:
                readers.setdefault(n, []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    order = []
    while ready:   # smallest index first: a file already in topological order keeps its order
        i = heapq.heappop(ready)
        order.append(i)
        for o in graph.node[i].output:
            for j in readers.pop(o, ()):
                waiting[j] -= 1
                if waiting[j] == 0:
                    heapq.heappush(ready, j)
    if len(order) != len(graph.node):
        stuck = next(graph.node[i] for i, w in enumerate(waiting) if w > 0)
        raise OnnxImportError(f"the graph has a cycle: node '{stuck.name}' ({stuck.op_type}) depends on its own "
                              "output")
    return [graph.node[i] for i in order]


def _itemsize(data_type):
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(data_type)).itemsize
    except (KeyError, TypeError):
        return 1


def declared_bytes(dims, data_type):
    return int(np.prod([max(int(d), 0) for d in dims], dtype=object)) * _itemsize(data_type)


def check_size(nbytes, what, max_bytes):
    """Refuse a value of ``nbytes`` over the cap; ``what`` names it (a tensor, a node's output)."""
    if nbytes > max_bytes:
        raise OnnxImportError(f"{what} would take {nbytes:,} bytes, over the cap of {max_bytes:,} "
                              "(pass max_bytes= to raise it)")


def check_tensor(tensor, max_bytes):
    """Dims non-negative, declared size under the cap, and stored bytes (when inline) matching the dims."""
    what = f"tensor '{tensor.name}'"
    if any(d < 0 for d in tensor.dims):
        raise OnnxImportError(f"{what} declares negative dimensions {list(tensor.dims)}")
    nbytes = declared_bytes(tensor.dims, tensor.data_type)
    check_size(nbytes, what, max_bytes)
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return
    if tensor.HasField("raw_data") and len(tensor.raw_data) != nbytes and \
            tensor.data_type not in (onnx.TensorProto.STRING,):
        raise OnnxImportError(f"{what} stores {len(tensor.raw_data):,} bytes but its dims {list(tensor.dims)} "
                              f"need {nbytes:,}")


def _check_declared(value, max_bytes):
    t = value.type.tensor_type
    dims = [d.dim_value for d in t.shape.dim]
    if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
        check_size(declared_bytes(dims, t.elem_type), f"value '{value.name}'", max_bytes)


# ----- external data ---------------------------------------------------------------------------------------

def _external_tensors(graph):
    for t in graph.initializer:
        yield t
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for body in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _external_tensors(body)


def _load_external(model, folder, max_bytes):
    for tensor in _external_tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        unknown = set(entries) - _EXTERNAL_KEYS
        if unknown:
            raise OnnxImportError(f"tensor '{tensor.name}': unknown external-data keys {sorted(unknown)}")
        if folder is None:
            raise OnnxImportError(f"tensor '{tensor.name}' keeps its data in an external file, but the model was "
                                  "given in memory: load it from its path so the file can be checked")
        path = safe_external_path(folder, entries.get("location", ""), tensor.name)
        offset, length = _int_entry(entries, "offset", 0, tensor), _int_entry(entries, "length", None, tensor)
        size = os.path.getsize(path)
        need = declared_bytes(tensor.dims, tensor.data_type)
        length = need if length is None else length
        if length != need or offset + length > size:
            raise OnnxImportError(f"tensor '{tensor.name}': external data (offset {offset:,}, length {length:,}) "
                                  f"does not match its dims ({need:,} bytes) or the file ({size:,} bytes)")
        with open(path, "rb") as f:
            f.seek(offset)
            tensor.raw_data = f.read(length)
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def _int_entry(entries, key, default, tensor):
    if key not in entries:
        return default
    try:
        value = int(entries[key])
    except ValueError:
        raise OnnxImportError(f"tensor '{tensor.name}': external-data {key} {entries[key]!r} is not an integer") \
            from None
    if value < 0:
        raise OnnxImportError(f"tensor '{tensor.name}': negative external-data {key} {value}")
    return value


def safe_external_path(folder, location, name):
    """The file ``location`` names, if it is a plain file inside ``folder``; refuses traversal of any kind."""
    what = f"tensor '{name}': external data '{location}'"
    if not location or os.path.isabs(location) or location.startswith(("/", "\\")) or ":" in location:
        raise OnnxImportError(f"{what} must be a relative path inside the model's folder")
    parts = location.replace("\\", "/").split("/")
    if ".." in parts:
        raise OnnxImportError(f"{what} leaves the model's folder ('..')")
    path = os.path.join(folder, *parts)
    probe = folder
    for part in parts:
        probe = os.path.join(probe, part)
        if os.path.islink(probe):
            raise OnnxImportError(f"{what} goes through a symbolic link")
    if os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) != os.path.realpath(folder):
        raise OnnxImportError(f"{what} resolves outside the model's folder")
    try:
        info = os.lstat(path)
    except OSError:
        raise OnnxImportError(f"{what} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise OnnxImportError(f"{what} is not a regular file")
    if info.st_nlink > 1:
        raise OnnxImportError(f"{what} is a hard link (it may point outside the model's folder)")
    return path
