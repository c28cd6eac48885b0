"""A Triton Inference Server model repository for an ONNX file, served by Triton's ONNX Runtime backend.

    repository/
      lenet5/
        config.pbtxt      # written here, checked against the model before it is written
        1/model.onnx      # version 1 of the model

``config.pbtxt`` (protobuf text format, Triton's ``ModelConfig``) names the backend, each input and output
with its Triton data type and dims, and the batching: when every input and output has the same symbolic
leading dimension (graphcore's ``batch``), ``max_batch_size`` is set and the dims leave that dimension out, as
Triton requires, and the dynamic batcher is on; otherwise ``max_batch_size: 0`` and the full shapes, unknown
dims as -1. On a GPU the CUDA provider gets graphcore's measured option (``runtime.CUDA_DEFAULTS``).

``check_config(text, model)`` parses a config (the subset of the text format Triton configs use) and checks
it against the model's declared inputs and outputs: names, types, dims and batching; a hand-edited config can
be checked the same way (``graphcore export --triton`` runs it on what it writes).
"""
import os
import re

import onnx
from onnx import TensorProto

import graphcore
from graphcore.errors import ServingError
from graphcore.io import atomic_write

from .runtime import CUDA_DEFAULTS

TRITON_TYPES = {TensorProto.BOOL: "TYPE_BOOL", TensorProto.UINT8: "TYPE_UINT8", TensorProto.UINT16: "TYPE_UINT16",
                TensorProto.UINT32: "TYPE_UINT32", TensorProto.UINT64: "TYPE_UINT64", TensorProto.INT8: "TYPE_INT8",
                TensorProto.INT16: "TYPE_INT16", TensorProto.INT32: "TYPE_INT32", TensorProto.INT64: "TYPE_INT64",
                TensorProto.FLOAT16: "TYPE_FP16", TensorProto.FLOAT: "TYPE_FP32", TensorProto.DOUBLE: "TYPE_FP64",
                TensorProto.STRING: "TYPE_STRING", TensorProto.BFLOAT16: "TYPE_BF16"}


def write_model_repository(model, directory, name, max_batch_size=64, device="gpu", instances=1):
    """Write ``directory/name/1/model.onnx`` (``model``: a ModelProto or a path) and its checked
    ``directory/name/config.pbtxt``; returns the config's path."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(os.fspath(model))
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ServingError(f"Triton model name {name!r}: use letters, digits, '_', '-' and '.' (it is a folder name)")
    text = config_text(proto, name, max_batch_size, device, instances)
    check_config(text, proto)
    version = os.path.join(os.fspath(directory), name, "1")
    os.makedirs(version, exist_ok=True)
    onnx.save_model(proto, os.path.join(version, "model.onnx"))
    path = os.path.join(os.fspath(directory), name, "config.pbtxt")
    with atomic_write(path) as f:
        f.write(text.encode())
    return path


def config_text(model, name, max_batch_size=64, device="gpu", instances=1):
    """The ``config.pbtxt`` text for ``model`` (a ModelProto)."""
    if device not in ("gpu", "cpu"):
        raise ServingError(f"device must be 'gpu' or 'cpu', got {device!r}")
    inputs, outputs = _interface(model)
    batched = _batch_symbol(inputs + outputs) is not None and max_batch_size > 0
    lines = [f"# Triton model configuration written by graphcore {graphcore.__version__} for {name}/1/model.onnx",
             f'name: "{name}"', 'backend: "onnxruntime"', f"max_batch_size: {max_batch_size if batched else 0}"]
    for kind, values in (("input", inputs), ("output", outputs)):
        lines.append(f"{kind} [")
        for i, (value_name, elem, dims) in enumerate(values):
            shown = [-1 if isinstance(d, str) or d is None else d for d in (dims[1:] if batched else dims)]
            lines += ["  {", f'    name: "{value_name}"', f"    data_type: {_triton_type(value_name, elem)}",
                      f"    dims: [ {', '.join(str(d) for d in shown)} ]", "  }" + ("," if i < len(values) - 1 else "")]
        lines.append("]")
    if batched:
        lines.append("dynamic_batching { }")
    lines.append(f"instance_group [ {{ count: {instances} kind: {'KIND_GPU' if device == 'gpu' else 'KIND_CPU'} }} ]")
    if device == "gpu":
        parameters = " ".join(f'parameters {{ key: "{k}" value: "{v}" }}' for k, v in CUDA_DEFAULTS.items())
        lines.append(f'optimization {{ execution_accelerators {{ gpu_execution_accelerator: [ {{ name: "cuda" '
                     f"{parameters} }} ] }} }}")
    return "\n".join(lines) + "\n"


def check_config(text, model):
    """Raise ``ServingError`` unless the config ``text`` serves ``model``: onnxruntime backend, every model
    input listed once with its type and dims, listed outputs existing with theirs, and batching that the
    model's leading dimensions allow."""
    config = parse(text)
    backend = (_one(config, "backend", "") or _one(config, "platform", "")).strip('"')
    if backend not in ("onnxruntime", "onnxruntime_onnx"):
        raise ServingError(f"config.pbtxt: backend is {backend or 'missing'}; Triton's ONNX Runtime backend is "
                           "'onnxruntime' (or platform 'onnxruntime_onnx')")
    max_batch = _integer(_one(config, "max_batch_size", "0"), "max_batch_size")
    inputs, outputs = _interface(model)
    if max_batch > 0 and _batch_symbol(inputs + outputs) is None:
        raise ServingError(f"config.pbtxt: max_batch_size {max_batch} needs every input and output to share a "
                           "symbolic leading dimension, which this model does not: use max_batch_size: 0")
    for kind, declared in (("input", inputs), ("output", outputs)):
        listed = {}
        for entry in config.get(kind, []):
            if not isinstance(entry, dict):
                raise ServingError(f"config.pbtxt: the {kind} list holds {entry!r}, not a {{ ... }} entry (is a "
                                   "']' or '}' missing?)")
            value_name = _one(entry, "name", '""').strip('"')
            if value_name in listed:
                raise ServingError(f"config.pbtxt: {kind} '{value_name}' is listed twice")
            listed[value_name] = entry
        known = {n: (elem, dims) for n, elem, dims in declared}
        for value_name, entry in listed.items():
            if value_name not in known:
                raise ServingError(f"config.pbtxt: the model has no {kind} '{value_name}'; its {kind}s are "
                                   f"{sorted(known)}")
            _check_entry(kind, value_name, entry, *known[value_name], max_batch > 0)
        missing = sorted(set(known) - set(listed))
        if kind == "input" and missing:
            raise ServingError(f"config.pbtxt: the model's inputs {missing} are not listed")


def _check_entry(kind, name, entry, elem, dims, batched):
    want_type = _triton_type(name, elem)
    got_type = _one(entry, "data_type", "missing")
    if got_type != want_type:
        raise ServingError(f"config.pbtxt: {kind} '{name}' is {got_type}, the model declares {want_type}")
    want = [-1 if isinstance(d, str) or d is None else d for d in (dims[1:] if batched else dims)]
    got = [_integer(d, f"{kind} '{name}' dims") for d in entry.get("dims", [])]
    if got != want:
        raise ServingError(f"config.pbtxt: {kind} '{name}' has dims {got}, the model declares {want}"
                           + (" (without the batch dimension, as max_batch_size > 0 asks)" if batched else ""))


def _interface(model):
    """[(name, element type, dims)] of the graph's inputs (initializers excepted) and outputs; a dim is an int,
    a symbol's name or None."""
    initializers = {t.name for t in model.graph.initializer}

    def describe(value):
        dims = [d.dim_param if d.HasField("dim_param") else d.dim_value if d.HasField("dim_value") else None
                for d in value.type.tensor_type.shape.dim]
        return value.name, value.type.tensor_type.elem_type, dims

    return ([describe(v) for v in model.graph.input if v.name not in initializers],
            [describe(v) for v in model.graph.output])


def _batch_symbol(values):
    """The symbolic leading dimension every value shares, or None."""
    leading = {dims[0] if dims else None for _, _, dims in values}
    (symbol,) = leading if len(leading) == 1 else (None,)
    return symbol if isinstance(symbol, str) and symbol else None


def _triton_type(name, elem):
    if elem not in TRITON_TYPES:
        raise ServingError(f"'{name}' has ONNX type {TensorProto.DataType.Name(elem)}, which Triton has no type for")
    return TRITON_TYPES[elem]


def _one(fields, key, default):
    """The scalar text of field ``key`` (the last one given, as protobuf's text format reads it)."""
    values = fields.get(key, [])
    if values and isinstance(values[-1], dict):
        raise ServingError(f"config.pbtxt: '{key}' should be a value, not a {{ ... }} message")
    return values[-1] if values else default


def _integer(text, what):
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ServingError(f"config.pbtxt: {what}: {text!r} is not an integer") from None


_TOKEN = re.compile(r'\s+|#[^\n]*|(?P<tok>"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"#]+)')


def parse(text):
    """The fields of a protobuf text-format message as {name: [value, ...]} (a nested message is such a
    dict, a scalar its text); one pass over the text."""
    tokens = [m.group("tok") for m in _TOKEN.finditer(text) if m.group("tok")]
    position, fields = _message(tokens, 0, "")
    if position != len(tokens):
        raise ServingError(f"config.pbtxt: unexpected {tokens[position]!r}")
    return fields


def _message(tokens, i, closing):
    fields = {}
    while i < len(tokens) and tokens[i] != closing:
        key = tokens[i]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ServingError(f"config.pbtxt: expected a field name, got {key!r}")
        i += 1
        if i < len(tokens) and tokens[i] == ":":
            i += 1
        if i < len(tokens) and tokens[i] == "[":
            i += 1
            while i < len(tokens) and tokens[i] != "]":
                i, value = _value(tokens, i)
                fields.setdefault(key, []).append(value)
                if i < len(tokens) and tokens[i] == ",":
                    i += 1
            if i >= len(tokens):
                raise ServingError(f"config.pbtxt: list '{key}' is not closed")
            i += 1
        else:
            i, value = _value(tokens, i)
            fields.setdefault(key, []).append(value)
    if closing and i >= len(tokens):
        raise ServingError("config.pbtxt: a message is not closed ('}' missing)")
    return i, fields


def _value(tokens, i):
    if i >= len(tokens):
        raise ServingError("config.pbtxt: a value is missing at the end")
    if tokens[i] == "{":
        i, fields = _message(tokens, i + 1, "}")
        return i + 1, fields
    if tokens[i] in ("}", "]", ":", ","):
        raise ServingError(f"config.pbtxt: expected a value, got {tokens[i]!r}")
    return i + 1, tokens[i]
