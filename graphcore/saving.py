"""Model files, weight files and configs (Keras's ``saving/``), as ``.npz`` archives written atomically.

A model file holds the architecture (JSON: layer classes, constructor arguments, the call graph), the weights
(``weight_0000`` … in ``model.weights`` order, internal layouts), and, for a compiled model, the compile
settings (``compile``: optimizer class and config, losses, metrics, loss weights) and the optimizer's state
(``optimizer/iterations``, ``optimizer/learning_rate``, ``optimizer/<weight index>/<slot>``), so
``load_model`` returns a compiled model whose next ``fit`` continues exactly where the saved one stopped, as
Keras's does. A weights file holds the weights alone.

State changes are all or nothing: every array is checked (count, shape, dtype) before any weight or slot is
set, and a failed ``set_weights``/``load_weights`` leaves the model as it was.
"""
import importlib
import json
import os

import numpy as np

from . import compat, losses, metrics, optimizers, train
from . import layers as layer_module
from .errors import BuildError, DataError, FileFormatError, GraphcoreError
from .graph import Graph
from .io import load_json, open_arrays, refuse_non_file, save_arrays
from .layers.base import InputLayer, Layer, _as_list
from .shapes import format_shape
from .sites import creation_site
from .version import __version__

FORMAT = "graphcore-model-1"
_MAX_JSON_BYTES = 64 << 20   # an entry of JSON text (as UTF-32), architecture or compile settings: far more than needed
compat.declare("Keras", "model.save_weights / model.load_weights", "gc.Model.save_weights / load_weights",
               "graphcore's .npz format (the name must end in .npz); load_weights checks every array first")
_NPZ_ONLY = compat.difference(
    "Keras", "model.save('model.keras' or 'model.h5') / save_weights('x.weights.h5')", "gc.Model.save",
    "graphcore writes model and weight files as .npz archives (architecture as JSON and the weights, no pickle), "
    "not Keras's .keras or .h5 formats; for other tools export the model with graphcore.export.to_onnx")


def require_model_file_name(path):
    """Refuse a model (or weights) file name that does not end in ``.npz``, naming the one to use (Keras 3
    refuses the suffixes it does not write, rather than writing a file under a misleading name)."""
    name = os.fspath(path)
    if not name.lower().endswith(".npz"):
        raise FileFormatError(f"cannot save a model as {name!r} (name it {os.path.splitext(name)[0] + '.npz'!r}): "
                              f"{_NPZ_ONLY}\n  at {creation_site()}")
compat.declare("Keras", "model.to_json() / keras.models.model_from_json", "gc.Model.to_json / gc.model_from_json",
               "graphcore's architecture JSON (not Keras's), read back by graphcore")
compat.declare("Keras", "model.get_config() / Model.from_config(config)", "gc.Model.get_config / from_config")


# ----- architecture ------------------------------------------------------------------------------------------
#: The model classes a config names: ``{"Model": Model, "Sequential": Sequential}``. ``model.py`` fills it in
#: when it defines them: the classes call this module (``Model.save``), so this module does not import theirs.
MODEL_CLASSES = {}


def model_config(model):
    """The architecture as JSON-able data: layer classes and constructor arguments, and the call graph."""
    model._require_built("get_config")
    index = {layer: i for i, layer in enumerate(model._layers)}
    where = {}
    calls = []
    for call_index, (layer, ins, outs) in enumerate(model._calls):
        for k, t in enumerate(outs):
            where[t] = (call_index, k)
        if not isinstance(layer, InputLayer) and any(t not in where for t in ins):
            raise BuildError(f"layer {layer.name} reads a tensor made by graph ops, not by a layer; only "
                             "models built from layers can be saved")
        refs = [] if isinstance(layer, InputLayer) else [where[t] for t in ins]
        calls.append({"layer": index[layer], "inputs": refs})
    missing = [t.name for t in model.outputs if t not in where]
    if missing:
        raise BuildError(f"outputs {missing} are not produced by layers; only layer graphs can be saved")
    layers = [{"class": "Model", "name": layer.name, "config": model_config(layer)}
              if isinstance(layer, MODEL_CLASSES["Model"])
              else {"class": type(layer).__name__, "name": layer.name, "config": _layer_config(layer)}
              for layer in model._layers]
    return {"format": FORMAT, "name": model.name, "model_class": type(model).__name__,
            "trainable": model.trainable, "layers": layers, "calls": calls,
            "inputs": [where[t] for t in model.inputs], "outputs": [where[t] for t in model.outputs]}


def _layer_config(layer):
    """A layer's constructor arguments as JSON-able data; wrapped layers (Bidirectional, TimeDistributed)
    nest as ``{"layer": class name, "config": ...}``."""
    config = {}
    for key, value in layer.get_config().items():
        if isinstance(value, Layer):
            value = {"layer": type(value).__name__, "config": _layer_config(value)}
        elif callable(value) and not isinstance(value, type):
            serialized = _serialized_object(value)
            if serialized is None:
                raise BuildError(f"layer {layer.name}: argument {key}={value!r} is a function; "
                                 "use a name (e.g. activation='relu') to make the model saveable")
            value = serialized
        config[key] = value
    return config


def _serialized_object(value):
    """An initializer or regularizer object as {"object": class name, "config": ...}, else None."""
    get_config = getattr(value, "get_config", None)
    if get_config is None:
        return None
    return {"object": type(value).__name__, "module": type(value).__module__, "config": get_config()}


def _deserialized(value):
    if isinstance(value, dict) and set(value) == {"object", "module", "config"}:
        if not value["module"].startswith("graphcore."):
            raise BuildError(f"unknown object module {value['module']!r}")
        cls = getattr(importlib.import_module(value["module"]), value["object"], None)
        if not isinstance(cls, type):
            raise BuildError(f"unknown object class {value['object']!r}")
        return cls(**value["config"])
    return value


def _layer_from_config(class_name, config):
    config = {k: _layer_from_config(v["layer"], v["config"]) if isinstance(v, dict) and set(v) == {"layer", "config"}
              else _deserialized(v) for k, v in config.items()}
    cls = getattr(layer_module, str(class_name), None)
    if not (isinstance(cls, type) and issubclass(cls, layer_module.Layer)):
        raise BuildError(f"unknown layer class {class_name!r}")
    return cls(**config)


def model_from_config(config, graph=None):
    """A model from ``model_config`` data, in a fresh graph (or in ``graph``, for a nested model); a
    Sequential comes back as a Sequential."""
    if config.get("model_class") == "Sequential" and graph is None:
        return _sequential_from_config(config)
    graph = graph or Graph()
    with graph.as_default():
        built_layers = []
        for spec in config["layers"]:
            if spec["class"] == "InputLayer":
                built_layers.append(InputLayer(**spec["config"]))
            elif spec["class"] == "Model":
                built_layers.append(model_from_config(spec["config"], graph))
            else:
                built_layers.append(_layer_from_config(spec["class"], {**spec["config"], "name": spec["name"]}))
        results = []
        for call in config["calls"]:
            layer = built_layers[call["layer"]]
            if isinstance(layer, InputLayer):
                results.append([layer.create(graph)])
            else:
                ins = [results[c][k] for c, k in call["inputs"]]
                results.append(_as_list(layer(ins[0] if len(ins) == 1 else ins)))
        inputs = [results[c][k] for c, k in config["inputs"]]
        outputs = [results[c][k] for c, k in config["outputs"]]
    return MODEL_CLASSES["Model"](inputs, outputs, name=config["name"], trainable=config.get("trainable", True))


def _sequential_from_config(config):
    """A Sequential from its config: its calls must form a chain, each layer reading the previous output."""
    model = MODEL_CLASSES["Sequential"](name=config["name"])
    built_layers = [InputLayer(**spec["config"]) if spec["class"] == "InputLayer" else
                    _layer_from_config(spec["class"], {**spec["config"], "name": spec["name"]})
                    for spec in config["layers"]]
    results = []
    for call in config["calls"]:
        layer = built_layers[call["layer"]]
        ins = [results[c][k] for c, k in call["inputs"]]
        if ins != model.outputs[-1:]:
            raise ValueError(f"a Sequential's calls form a chain; call {len(results)} reads {call['inputs']}")
        model.add(layer)
        results.append(model.outputs)
    if not config.get("trainable", True):
        model.trainable = False
    return model


def to_json(model, **kwargs):
    return json.dumps({"class_name": type(model).__name__, "config": model_config(model)}, default=_json_default,
                      **kwargs)


def from_json(text):
    try:
        data = json.loads(text)
        config = data["config"] if isinstance(data, dict) and "config" in data else data
        _check_format(config, "the JSON")
        return model_from_config(config)
    except FileFormatError:
        raise
    except (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError) as e:
        raise FileFormatError(f"the JSON cannot be rebuilt into a model ({_detail(e)})") from None


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.dtype):
        return value.name
    return str(value)


def _check_format(config, where):
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise FileFormatError(f"{where}: unsupported model format {found!r}; this graphcore "
                              f"({__version__}) reads {FORMAT!r}")


def _detail(e):
    return (e.detail if isinstance(e, GraphcoreError) else f"{type(e).__name__}: {e}").splitlines()[0]


# ----- compile settings --------------------------------------------------------------------------------------
def _serialize_setting(value):
    """A loss or metric (or a list/dict of them) as JSON: names stay names, gc.losses/gc.metrics objects become
    {"class_name", "config"}, graphcore's functions {"function": "<module>.<name>"}, a user's function
    {"custom": name} (``load_model(custom_objects={name: fn})`` finds it again)."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_serialize_setting(v) for v in value]
    if isinstance(value, dict):
        return {k: _serialize_setting(v) for k, v in value.items()}
    if isinstance(value, (losses.Loss, metrics.Metric)):
        return {"class_name": type(value).__name__, "module": type(value).__module__, "config": value.get_config()}
    if isinstance(value, type):
        return {"class_name": value.__name__, "module": value.__module__, "config": {}}
    name = getattr(value, "__name__", None)
    for module in (losses, metrics):
        if name and getattr(module, name, None) is value:
            return {"function": f"{module.__name__}.{name}"}
    return {"custom": name or repr(value)}


def _deserialize_setting(value, custom_objects, path):
    if isinstance(value, list):
        return [_deserialize_setting(v, custom_objects, path) for v in value]
    if not isinstance(value, dict):
        return value
    if "class_name" in value and "module" in value:
        if value["module"] not in ("graphcore.losses", "graphcore.metrics"):
            raise FileFormatError(f"{path}: unknown loss or metric module {value['module']!r}")
        return getattr(importlib.import_module(value["module"]), value["class_name"]).from_config(value["config"])
    if "function" in value:
        module, _, name = value["function"].rpartition(".")
        if module not in ("graphcore.losses", "graphcore.metrics"):
            raise FileFormatError(f"{path}: unknown function {value['function']!r}")
        return getattr(importlib.import_module(module), name)
    if "custom" in value:
        name = value["custom"]
        if name not in (custom_objects or {}):
            raise BuildError(f"{path}: the model was compiled with your function {name!r}; pass "
                             f"load_model(path, custom_objects={{{name!r}: {name}}}) or compile=False")
        return custom_objects[name]
    return {k: _deserialize_setting(v, custom_objects, path) for k, v in value.items()}


def _optimizer_config(optimizer):
    if isinstance(optimizer, optimizers.KerasOptimizer):
        return {"module": "optimizers", **optimizers.serialize(optimizer)}
    keys = ("momentum", "nesterov", "rho", "epsilon", "beta1", "beta2")
    return {"module": "train", "class_name": type(optimizer).__name__,
            "config": {k: getattr(optimizer, k) for k in keys if hasattr(optimizer, k)}}


def _optimizer_from_config(config, learning_rate):
    if config["module"] == "optimizers":
        inner = dict(config["config"])
        if learning_rate is not None:
            inner["learning_rate"] = learning_rate
        return optimizers.get({"class_name": config["class_name"], "config": inner})
    cls = getattr(train, config["class_name"])
    return cls(learning_rate if learning_rate is not None else 0.001, **config["config"])


# ----- saving and loading ------------------------------------------------------------------------------------
def save_model(model, filepath, overwrite=True, include_optimizer=True):
    path = _writable(filepath, overwrite)
    arrays = {"architecture": np.array(json.dumps(model_config(model), default=_json_default))}
    values = model.session.run(model.weights) if model.weights else []
    arrays.update({f"weight_{i:04d}": v for i, v in enumerate(values)})
    args = getattr(model, "_compile_args", None)
    if args is not None and include_optimizer:
        settings = {k: _serialize_setting(args[k]) for k in ("loss", "metrics", "loss_weights")}
        settings["optimizer"] = _optimizer_config(model.optimizer)
        arrays["compile"] = np.array(json.dumps(settings, default=_json_default))
        arrays.update(_optimizer_state(model, model.compilation))
    save_arrays(path, arrays)
    return filepath


def _optimizer_state(model, compiled):
    """The optimizer's variables by position: iterations, the learning rate, each slot of each weight."""
    optimizer, state = model.optimizer, {}
    if optimizer.iterations is None:
        return state
    index = {w: i for i, w in enumerate(model.weights)}
    named = {"optimizer/iterations": optimizer.iterations}
    if compiled is not None and compiled.learning_rate is not None:
        named["optimizer/learning_rate"] = compiled.learning_rate
    for (var, slot), tensor in optimizer._slots.items():
        if var in index:
            named[f"optimizer/{index[var]:04d}/{slot}"] = tensor
    values = model.session.run(list(named.values()))
    return dict(zip(named, values))


@compat.same_as("Keras", "keras.models.load_model", "keras.models.load_model(custom_objects=, compile=)")
def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model saved with ``Model.save`` in a fresh graph: architecture and weights, and — when it was
    saved compiled and ``compile`` is True — compiled again with its optimizer, losses and metrics, its
    optimizer state restored, as Keras's ``load_model`` does.

    Anything wrong with the file — truncated, a changed byte, an edited architecture, weights that do not
    fit it, another format version — raises a ``FileFormatError`` naming the file and the problem. The file is
    read entry by entry (``graphcore.io.open_arrays``): each entry's declared sizes are checked before it is
    read, and only the entries the architecture names are read. An ONNX file is pointed to
    ``graphcore.export.from_onnx``, which imports it."""
    path = os.fspath(filepath)
    if path.lower().endswith(".onnx") and os.path.isfile(path):
        raise FileFormatError(f"{path} is an ONNX file; gc.load_model reads the .npz files Model.save writes. "
                              f"Import ONNX with graphcore.export.from_onnx({path!r})")
    with open_arrays(path) as archive:
        if "architecture" not in archive.names:
            raise FileFormatError(f"{path} is not a graphcore model file (no architecture entry; a checkpoint "
                                  "written by gc.train.Saver is restored with Saver.restore)")
        config = _read_json(archive, "architecture", "architecture")
        _check_format(config, path)
        try:
            model = model_from_config(config)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError) as e:
            raise FileFormatError(f"{path}: the architecture cannot be rebuilt ({_detail(e)})") from None
        _set_internal(model, _weights_from(archive, model, path))
        if compile and "compile" in archive.names:
            _compile_from(model, archive, path, custom_objects)
    return model


def _read_json(archive, name, what):
    """The JSON text of entry ``name`` (a 0-d string array), its size and nesting checked before parsing."""
    shape, dtype = archive.header(name, _MAX_JSON_BYTES)
    if shape != () or dtype.kind != "U":
        raise FileFormatError(f"{archive.path}: the {what} entry is {dtype.name}{format_shape(shape)}, not text")
    return load_json(str(archive.read(name, _MAX_JSON_BYTES)), f"{archive.path}: the {what}")


def _checked_entry(archive, name, like, what, needs):
    """Entry ``name`` read once its header matches ``like`` (an array or a variable: shape and dtype); ``what``
    names it in the error, ``needs`` names what requires that shape."""
    if name not in archive.names:
        raise FileFormatError(f"{archive.path}: {what} is missing")
    shape, dtype = archive.header(name)
    if shape != tuple(like.shape) or dtype != like.dtype:
        raise FileFormatError(f"{archive.path}: {what} is {dtype.name}{format_shape(shape)}, {needs} needs "
                              f"{like.dtype.name}{format_shape(like.shape)}")
    return archive.read(name)


def _compile_from(model, archive, path, custom_objects):
    try:
        settings = _read_json(archive, "compile", "compile settings")
        keys = ("loss", "metrics", "loss_weights")
        missing = [k for k in keys if not isinstance(settings, dict) or k not in settings]
        if missing:
            raise KeyError(missing[0])
    except (KeyError, TypeError) as e:
        raise FileFormatError(f"{path}: the compile settings cannot be read ({_detail(e)})") from None
    # outside the try: a user's function missing from custom_objects is a BuildError saying so, not a damaged file
    settings_by_name = {k: _deserialize_setting(settings[k], custom_objects, path) for k in keys}
    rate_name = "optimizer/learning_rate"
    learning_rate = None
    if rate_name in archive.names:   # a scalar of the optimizer's float type; checked against it again below
        shape, dtype = archive.header(rate_name)
        if shape != () or dtype.kind != "f":
            raise FileFormatError(f"{path}: the optimizer state {rate_name} is {dtype.name}{format_shape(shape)}, "
                                  "the optimizer needs a float scalar")
        learning_rate = archive.read(rate_name)
    try:
        optimizer = _optimizer_from_config(settings["optimizer"], None if learning_rate is None
                                           else float(learning_rate))
        model.compile(optimizer=optimizer, **settings_by_name)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise FileFormatError(f"{path}: the compile settings cannot be restored ({_detail(e)})") from None
    compiled = model.compilation
    state = _optimizer_state(model, compiled)   # what the new optimizer has: names, shapes, dtypes
    slots = {f"optimizer/{i:04d}/{slot}": tensor for i, w in enumerate(model.weights)
             for (var, slot), tensor in model.optimizer._slots.items() if var is w}
    targets = {"optimizer/iterations": model.optimizer.iterations, **slots}
    if compiled is not None and compiled.learning_rate is not None:
        targets[rate_name] = compiled.learning_rate
    checked = {targets[key].node.name: _checked_entry(archive, key, current, f"the optimizer state {key}",
                                                      "the optimizer")
               for key, current in state.items()}
    model.session.variables.update(checked)


def _weights_from(archive, model, path):
    """The file's weight arrays in ``model.weights`` order, each read once its header matches its variable."""
    numbered = [name for name in archive.names if name.startswith("weight_") and name[7:].isdigit()]
    extra = sorted(name for name in numbered if int(name[7:]) >= len(model.weights))
    if extra:
        raise FileFormatError(f"{path}: the file holds {len(model.weights) + len(extra)} weights, the model "
                              f"{len(model.weights)} (first extra: {extra[0]})")
    values = []
    for i, var in enumerate(model.weights):
        name = f"weight_{i:04d}"
        if name not in archive.names:
            raise FileFormatError(f"{path}: {name} ({var.name}) is missing")
        values.append(_checked_entry(archive, name, var, f"weight {var.name}", "the architecture"))
    return values


def _set_internal(model, values):
    model.session.variables.update({var.node.name: np.array(v) for var, v in zip(model.weights, values)})


def save_weights(model, filepath, overwrite=True):
    path = _writable(filepath, overwrite)
    values = model.session.run(model.weights) if model.weights else []
    arrays = {f"weight_{i:04d}": v for i, v in enumerate(values)}
    arrays["weight_names"] = np.array(json.dumps([w.name for w in model.weights]))
    save_arrays(path, arrays)
    return filepath


def load_weights(model, filepath, skip_mismatch=False):
    """Weights from ``save_weights`` or ``save``, in ``model.weights`` order; all checked before any is set
    (``skip_mismatch=True`` keeps the model's own value where a shape differs, as Keras's does). Each entry's
    header is checked before it is read, and only the model's weights are read."""
    path = os.fspath(filepath)
    with open_arrays(path) as archive:
        count = sum(1 for name in archive.names if name.startswith("weight_") and name[7:].isdigit())
        if count != len(model.weights) or any(f"weight_{i:04d}" not in archive.names
                                              for i in range(len(model.weights))):
            names = ", ".join(w.name for w in model.weights[:4]) + (", ..." if len(model.weights) > 4 else "")
            raise FileFormatError(f"{path} holds {count} weights, the model has {len(model.weights)} ({names}); "
                                  "the file was saved from another architecture")
        values = []
        for i, var in enumerate(model.weights):
            shape, dtype = archive.header(f"weight_{i:04d}")
            if shape != var.shape or dtype != var.dtype:
                if skip_mismatch:
                    values.append(model.session.run(var))
                    continue
                raise FileFormatError(f"{path}: weight {i} is {dtype.name}{format_shape(shape)}, the model's "
                                      f"{var.name} is {var.dtype.name}{format_shape(var.shape)}; nothing was loaded")
            values.append(archive.read(f"weight_{i:04d}"))
    _set_internal(model, values)


def _writable(filepath, overwrite):
    """The path to save to, once it is known to be a place for a new ``.npz`` file."""
    path = os.fspath(filepath)
    refuse_non_file(path)   # first: "/dev/null" is no file to rename to "/dev/null.npz"
    require_model_file_name(path)
    if not overwrite and os.path.exists(path):
        raise FileFormatError(f"{path} exists and overwrite=False")
    return path


def set_all_weights(model, weights):
    """``Model.set_weights``: check every array against its layer (count, Keras-layout shape, numeric dtype),
    then set them all."""
    weights = list(weights)
    owners = model._weight_owners()
    expected = sum(len(layer.weights) for layer in owners)
    if len(weights) != expected:
        raise DataError(f"set_weights: {model.name} has {expected} weights, got {len(weights)} arrays "
                        f"(give exactly the arrays get_weights() returns, in that order)\n  at {creation_site()}")
    prepared, start = [], 0
    for layer in owners:
        n = len(layer.weights)
        prepared.append((layer, layer.prepare_weights(weights[start:start + n], offset=start)))
        start += n
    for layer, values in prepared:
        layer.write_weights(values)
