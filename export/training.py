"""A whole training step as one plain ONNX file: state in, new state out.

graphcore's training step is already a graph (gradients are nodes, optimizers add update nodes), so exporting
it needs no second exporter: the same converter table runs over the step, and only state changes shape.
Every variable the step writes (trainable weights, optimizer slots and step counters, batch-norm moving
statistics) becomes

* a graph **input** named like the variable, and
* a graph **output** ``<variable>/new`` carrying the value the step writes (the last write, if several).

The state's current values travel in the file as ONNX's place for them, ``training_info[0].initialization``
(a graph of no nodes whose initializers are named like the state inputs): onnxruntime ignores it, and
reading the first values takes one line. (Initializers of the inputs themselves, overridable defaults,
would make onnxruntime warn once per state tensor whenever the file is opened; files graphcore wrote
before 2026-12 did that, and ``initial_values`` still reads them.) Variables the step only reads stay
initializers. The learning phase of a compiled model is folded to True
(dropout draws, batch norm uses the batch statistics). Every output is computed from the state *before* the
update, so the loss is the loss ``fit`` reports for that batch.

The file's ``metadata_props`` hold the contract under ``graphcore.training`` as JSON:
``{"state": [[input, output], ...], "loss": output, "inputs": [data inputs: the model's, then its targets],
"metrics": {name: output}, "parameters": [input, ...], "indices": {input: {...}}}`` — all a user needs to
train from the file with any onnxruntime. ``parameters`` are hyperparameter variables the step reads but never
writes (a learning rate): inputs like the state (their values beside the state's), to feed again when a schedule
changes them. ``indices`` are the data inputs the graph checks as indices (class labels of a sparse
cross-entropy, embedding ids): ``{"limit": n, "what": "label", "fix": ...}``, valid values 0 to n − 1. ONNX
cannot raise, so the interpreter's run-time check (``CheckIndices``) is exported as this promise, which
``OnnxTrainer`` keeps.
"""
import json
from dataclasses import dataclass

import numpy as np
import onnx

from graphcore.graph import Graph, Node, ancestors
from graphcore.layers.base import existing_learning_phase
from graphcore.ops.array import CheckIndices
from graphcore.ops.state import VariableOp, WriteOp

from .registry import ExportError
from .source import Source, resolve

METADATA_KEY = "graphcore.training"


@dataclass
class TrainingStep:
    """What ``to_onnx`` needs to export a step: the Source (data and state inputs; loss, metrics and new
    state outputs), the output names, the fixed feeds (the learning phase) and the JSON contract."""
    source: Source
    output_names: list
    feeds: dict
    contract: dict


def training_step(model_or_graph, inputs=None, outputs=None, train_op=None, session=None):
    """The step of a compiled model (``train_op`` None) or of a raw graph's ``train_op`` with ``outputs``
    (the loss first, then metrics) as functions of ``inputs``."""
    if isinstance(model_or_graph, Graph):
        if train_op is None or not outputs:
            raise ExportError("exporting a raw graph's training step needs train_op=step and outputs=[loss, ...]")
        base = resolve(model_or_graph, inputs, outputs, session)
        loss, *metrics = base.outputs
        names = [loss.name] + [t.name for t in metrics]
        metric_names = {t.name: t.name for t in metrics}
        feeds = {}
    else:
        model = model_or_graph
        compiled = getattr(model, "compilation", None)
        if compiled is None:
            raise ExportError("training=True exports a compiled model's step: call model.compile(...) first")
        if compiled.loss is None:
            raise ExportError("the model was compiled without a loss, so it has no training step: call "
                              "model.compile(optimizer, loss=...) first")
        train_op = compiled.train_op if train_op is None else train_op
        data = list(inputs) if inputs is not None else list(model.input_placeholders) + [compiled.target]
        base = resolve(model, data, [compiled.loss, *compiled.metrics.values()], session)
        names = ["loss"] + list(compiled.metrics)
        metric_names = {name: name for name in compiled.metrics}
        feeds = compiled.training_feeds or _learning_phase_feeds(model.graph)
    state_in, state_out, parameters = _state(train_op)
    if not state_in:
        raise ExportError(f"the training step {_name(train_op)} writes no variables: nothing to train")
    state_names = [var.node.name for var in state_in]
    out_names = names + [f"{name}/new" for name in state_names]
    source = Source(base.graph, base.inputs + state_in + parameters, base.outputs + state_out, base.session,
                    base.name)
    contract = {"state": [[name, f"{name}/new"] for name in state_names], "loss": names[0],
                "inputs": [t.name for t in base.inputs], "metrics": metric_names,
                "parameters": [var.node.name for var in parameters], "indices": _checked_indices(base)}
    return TrainingStep(source, out_names, feeds, contract)


def _checked_indices(source):
    """Data inputs the graph range-checks (``CheckIndices``: sparse labels, embedding ids) → their range."""
    checked = {}
    for t in source.inputs:
        for node in source.graph.consumers_of(t.node):
            if isinstance(node.op, CheckIndices) and node.inputs[0] is t:
                checked[t.name] = {key: node.attrs[key] for key in ("limit", "what", "fix")}
    return checked


def _state(train_op):
    """(variable reads, new values, parameters): every variable the step writes, in creation order, with the
    value of its last write (the interpreter runs writes in creation order, so the last one is what remains);
    and the scalar non-trainable variables it only reads — hyperparameters such as a learning rate a callback
    changes — which become overridable inputs too, so a changed value reaches the file's next step."""
    target = train_op.node if not isinstance(train_op, Node) else train_op
    needed = sorted(ancestors([target]), key=lambda n: n.id)
    written = {}
    for node in needed:
        if isinstance(node.op, WriteOp):
            for var, new in zip(node.inputs[:node.op.writes], node.outputs):
                written[var] = new
    ordered = sorted(written, key=lambda var: var.node.id)
    reads = [n.outputs[0] for n in needed if isinstance(n.op, VariableOp)]
    parameters = [v for v in reads if v not in written and not v.trainable and int(np.prod(v.shape)) == 1]
    return ordered, [written[var] for var in ordered], parameters


def _learning_phase_feeds(graph):
    """The compiled model's learning-phase switch, fed True for a training step (if the graph has one)."""
    phase = existing_learning_phase(graph)
    return {} if phase is None else {phase: np.array(True)}


def _name(train_op):
    return getattr(train_op, "name", repr(train_op))


def initial_state_info(initializers):
    """The ``TrainingInfoProto`` holding the state's first values: an initialization graph of no nodes whose
    initializers they are."""
    info = onnx.TrainingInfoProto()
    info.initialization.CopyFrom(onnx.helper.make_graph([], "initial_state", [], [], initializers,
                                                        doc_string="the training state's values when exported"))
    return info


def initial_values(model_proto):
    """{input name: array} of a training step's state and parameters as the file holds them."""
    contract = read_contract(model_proto)
    names = [name for name, _ in contract["state"]] + list(contract.get("parameters", []))
    held = [t for info in model_proto.training_info for t in info.initialization.initializer]
    held += [t for t in model_proto.graph.initializer if t.name in names]   # files written before 2026-12
    values = {}
    for t in held:
        values.setdefault(t.name, onnx.numpy_helper.to_array(t))
    return {name: values[name] for name in names if name in values}


def read_contract(model_proto):
    """The training contract of a loaded ONNX model, or None for an inference file."""
    for prop in model_proto.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    return None
