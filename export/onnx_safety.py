"""Loading ONNX files that someone else made, safely: every check runs before a tensor is read or allocated.

``onnx.load`` runs no checker, follows external-data paths wherever they point and trusts every declared size;
its documentation calls the checker best-effort and denial of service out of scope. So the importer loads
through ``load`` here, which refuses, each with an ``OnnxImportError`` saying why:

* bytes that are not an ONNX model (truncated or foreign wire data, no graph, no opset);
* external data outside the model's folder: absolute paths, ``..``, symlinks and hardlinks
  (CVE-2022-25882, CVE-2024-27318, CVE-2026-27489, CVE-2026-34447), unknown keys, negative or out-of-file
  offsets and lengths (CVE-2026-34445);
* tensors whose declared size exceeds ``max_bytes`` (default 4 GiB), whose element type is unknown, or whose
  stored values (``raw_data`` bytes, or the typed ``float_data``, ``int64_data`` … values) do not match dims;
* what ``onnx.checker`` enforces on names and arity, cycles, ops of domains other than the standard one,
  subgraphs nested deeper than ``MAX_DEPTH`` and graphs of more than ``MAX_NODES`` nodes (``onnx_structure``).

Every check is linear in the size of the file (``tools/bench_onnx_check.py`` measures it).
Run-time sizes (ConstantOfShape, Expand, Tile, Reshape values computed from data) are checked against the
same cap where they are met: by the builders when the value is known at import, by the kernels otherwise.
"""
import math
import os
import stat

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper

from .import_registry import OnnxImportError
from .onnx_structure import AI_ONNX, GraphChecker, topological_order  # noqa: F401  (the walker orders bodies with it)

MAX_BYTES = 4 << 30
MAX_DEPTH = 64
MAX_NODES = 1_000_000
# onnx's own operator sets: the standard one, and its preview, whose ops (FlexAttention) onnx defines by
# function bodies the importer expands. ai.onnx.preview.training (Gradient, Adam) is not one: graphcore builds
# its own training steps.
STANDARD_DOMAINS = AI_ONNX + ("ai.onnx.preview",)
_EXTERNAL_KEYS = {"location", "offset", "length", "checksum"}


def load(path_or_proto, max_bytes=MAX_BYTES):
    """A checked ``onnx.ModelProto`` (external data read in, after its paths and sizes were checked), the
    model's folder (None for an in-memory proto) and the build order of its graphs (``NodeOrder``)."""
    if isinstance(path_or_proto, onnx.ModelProto):
        model, folder, path = path_or_proto, None, None
    else:
        path = os.fspath(path_or_proto)
        model, folder = _read(path, max_bytes)
    try:
        order, external = check(model, max_bytes)
        _load_external(external, folder)
    except OnnxImportError as e:
        if path is None:
            raise
        raise OnnxImportError(f"{path}: {e}") from None
    return model, folder, order


def read(path, max_bytes=MAX_BYTES, external=True):
    """A model file parsed without the importer's structural checks (for onnxruntime, which checks the graph
    itself and may run ops of other domains): the file's size capped, and with ``external`` its external
    data read in through the same path, offset and size checks as ``load``."""
    path = os.fspath(path)
    model, folder = _read(path, max_bytes)
    if external:
        try:
            tensors = list(_external_tensors(model.graph))
            for tensor in tensors:
                check_size(declared_bytes(tensor.dims, tensor.data_type), f"tensor '{tensor.name}'", max_bytes)
            _load_external(tensors, folder)
        except OnnxImportError as e:
            raise OnnxImportError(f"{path}: {e}") from None
    return model


def _read(path, max_bytes):
    """(parsed model, its folder) of the file at ``path``, its size checked against the cap first."""
    if not os.path.isfile(path):
        raise OnnxImportError(f"{path}: no such ONNX file")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise OnnxImportError(f"{path}: the file is {size:,} bytes, over the cap of {max_bytes:,} "
                              "(pass max_bytes= to raise it)")
    with open(path, "rb") as f:
        data = f.read()
    model = parse(data, path)
    del data
    return model, os.path.dirname(os.path.abspath(path))


def _external_tensors(graph):
    """The tensors of ``graph`` and its bodies (initializers and attribute tensors) whose data is external;
    an explicit stack, so deep nesting costs no recursion."""
    stack = [graph]
    while stack:
        g = stack.pop()
        tensors = list(g.initializer)
        for node in g.node:
            for attr in node.attribute:
                tensors += ([attr.t] if attr.HasField("t") else []) + list(attr.tensors)
                stack += ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
        yield from (t for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL)


def parse(data, what="<bytes>"):
    """Parse wire bytes as a ModelProto, refusing anything that is not recognisably an ONNX model."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise OnnxImportError(f"{what}: not an ONNX model (the protobuf wire data does not parse: {e})") from None
    return model


def check(model, max_bytes=MAX_BYTES):
    """Checks of a parsed model, linear in its size; raises ``OnnxImportError`` at the first problem. Returns
    the ``NodeOrder`` its graphs can be built in and the tensors whose data is in external files."""
    if model.ir_version <= 0 or not model.HasField("graph") or not model.opset_import:
        raise OnnxImportError("not an ONNX model: it has no IR version, graph or opset import "
                              "(bytes of another format often parse as an empty protobuf message)")
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS:
            raise OnnxImportError(f"unknown operator domain '{opset.domain}': graphcore imports the standard "
                                  "ai.onnx ops (and onnx's ai.onnx.preview) only")
    versions = opset_versions(model)
    if "" not in versions:
        raise OnnxImportError("the model imports no version of the standard ai.onnx operator set")
    external = []

    def tensor(t):
        check_tensor(t, max_bytes)
        if t.data_location == onnx.TensorProto.EXTERNAL:
            external.append(t)
    checker = GraphChecker(versions, tensor, lambda value: _check_declared(value, max_bytes), MAX_DEPTH, MAX_NODES)
    checker.check(model.graph)
    return checker.order, external


def opset_versions(model):
    """{domain: version} of the operator sets the model imports, the standard one under ""."""
    return {"" if o.domain in AI_ONNX else o.domain: o.version for o in model.opset_import}


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
    """Dims non-negative, a known element type, declared size under the cap, and the stored values (when
    inline) in one field, the one the type belongs in, and exactly as many as the dims need."""
    what = f"tensor '{tensor.name}'"
    if any(d < 0 for d in tensor.dims):
        raise OnnxImportError(f"{what} declares negative dimensions {list(tensor.dims)}")
    field = _value_field(tensor)
    nbytes = declared_bytes(tensor.dims, tensor.data_type)
    check_size(nbytes, what, max_bytes)
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return
    count = math.prod(tensor.dims)
    stored = [name for name in _TYPED_FIELDS if len(getattr(tensor, name))]
    if tensor.HasField("raw_data"):
        stored.insert(0, "raw_data")
    if len(stored) > 1:
        raise OnnxImportError(f"{what} stores values in {' and '.join(stored)}; a tensor keeps its values in one "
                              "field")
    type_name = onnx.TensorProto.DataType.Name(tensor.data_type)
    if stored == ["raw_data"]:
        if tensor.data_type == onnx.TensorProto.STRING:
            raise OnnxImportError(f"{what}: STRING values cannot be stored in raw_data (they belong in string_data)")
        need = _stored_bytes(count, tensor.data_type)
        if len(tensor.raw_data) != need:
            raise OnnxImportError(f"{what} stores {len(tensor.raw_data):,} bytes but its dims {list(tensor.dims)} "
                                  f"need {need:,}")
    elif stored and stored[0] != field:
        raise OnnxImportError(f"{what} stores its {type_name} values in {stored[0]}; they belong in {field}")
    else:
        have = len(getattr(tensor, field))
        need = _stored_values(count, tensor.data_type)
        if have != need:
            raise OnnxImportError(f"{what} stores {have:,} value{'' if have == 1 else 's'} in {field} but its dims "
                                  f"{list(tensor.dims)} need {need:,} ({type_name})")


_TYPED_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")
# element types stored several to an int32 (int32_data) or a byte (raw_data): element bits
_SUB_BYTE_BITS = {getattr(onnx.TensorProto, name): bits for name, bits in
                  (("INT4", 4), ("UINT4", 4), ("FLOAT4E2M1", 4), ("INT2", 2), ("UINT2", 2))
                  if hasattr(onnx.TensorProto, name)}
_COMPLEX = (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128)


def _value_field(tensor):
    """The typed field ``tensor``'s element type is stored in; refuses an unknown or undefined type."""
    try:
        if tensor.data_type == onnx.TensorProto.UNDEFINED:
            raise KeyError(tensor.data_type)
        return helper.tensor_dtype_to_field(tensor.data_type)
    except (KeyError, ValueError):
        raise OnnxImportError(f"tensor '{tensor.name}' has element type {tensor.data_type}, which is not a "
                              "defined ONNX data type") from None


def _stored_values(count, data_type):
    """How many entries of its typed field a tensor of ``count`` elements has."""
    if data_type in _SUB_BYTE_BITS:
        return -(-count * _SUB_BYTE_BITS[data_type] // 8)   # packed into bytes, one byte per int32 entry
    return 2 * count if data_type in _COMPLEX else count


def _stored_bytes(count, data_type):
    if data_type in _SUB_BYTE_BITS:
        return -(-count * _SUB_BYTE_BITS[data_type] // 8)
    return count * _itemsize(data_type)


def _check_declared(value, max_bytes):
    t = value.type.tensor_type
    dims = [d.dim_value for d in t.shape.dim]
    if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
        check_size(declared_bytes(dims, t.elem_type), f"value '{value.name}'", max_bytes)


# ----- external data ---------------------------------------------------------------------------------------

def _load_external(tensors, folder):
    """Read each external tensor's data into it, once its path, offset and length are checked."""
    for tensor in tensors:
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
        need = _stored_bytes(math.prod(tensor.dims), tensor.data_type)
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
