"""Cond: one of two branch graphs, chosen at run time by a boolean scalar (TF1's ``tf.cond``).

``cond(pred, true_fn, false_fn)`` traces each function *once* into a ``BodyGraph`` (tensors they use from the
enclosing graph become captures, as in ``scan``) and adds one ``Cond`` node. Only the chosen branch runs, so
its ops alone draw random numbers or fail, and the other branch's values never reach the gradient: a
``where`` of both branches would turn an untaken ``sqrt(0)``'s infinite derivative into a NaN gradient.

* **Outputs** are what the functions return: a tensor, or a (nested) list, tuple or dict of them, the same
  structure and dtypes from both; sizes that differ become unknown. With ``strict=False`` (TF1's default) a
  one-element list or tuple is unpacked.
* **Gradient.** ``Cond.grad`` is another Cond whose branches take every capture of both branches and the
  output gradients: the taken branch recomputes its forward values and differentiates them, the other returns
  zeros. Being a Cond itself, it can be differentiated again.
* **Export** is ONNX ``If`` with both branches as subgraphs (``export/convert_cond.py``).
"""
import numpy as np

from .. import dtypes as _dt
from ..compat import difference, same_as
from ..errors import BuildError
from ..gradients import gradients
from ..graph import Graph, Node, Tensor, graph_of
from ..nest import rebuild
from ..op import REGISTRY, Op, register
from ..ops.math import exp, zeros_like
from ..ops.state import placeholder
from ..plan import body_runner, make_plan
from ..shapes import format_type
from .body import BodyGraph, body_outputs, clone

_PYTHON_PRED = difference("TF1", "tf.cond(True, ...)", "gc.cond(pred_tensor, ...)",
                          "the predicate must be a bool scalar tensor, not a Python bool (as TF1 requires): "
                          "with a Python bool, call the branch function directly")


def _flatten(value, leaves):
    """The nesting of a branch result, its tensors (or constants) appended to ``leaves``."""
    if isinstance(value, dict):
        return (dict, [(k, _flatten(value[k], leaves)) for k in sorted(value)])
    if isinstance(value, (list, tuple)):
        return (type(value), [_flatten(v, leaves) for v in value])
    if value is None or isinstance(value, Node):
        raise BuildError("a cond branch must return tensors (or lists, tuples or dicts of them), got "
                         f"{value!r}: ops with no value, such as assignments, cannot be branch results")
    leaves.append(value)
    return None


def _trace(fn, outer, which):
    body = BodyGraph(outer, kind="cond branch", captures_everything=True)
    leaves = []
    with body.as_default(), body.name_scope(which):
        structure = _flatten(fn(), leaves)
    outs = body_outputs(body, leaves)
    captured = list(body.captures.values())
    return body, tuple(ph for _, ph in captured), tuple(outs), [src for src, _ in captured], structure


def _merged(a, b):
    """The static shape both branch outputs fit: known sizes where they agree."""
    return tuple(x if x == y else None for x, y in zip(a, b))


@same_as("TF1", "tf.cond", note="only the taken branch runs; branches read variables but cannot assign them")
def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """``true_fn()`` where the bool scalar ``pred`` is true at run time, else ``false_fn()``."""
    true_fn, false_fn = true_fn or fn1, false_fn or fn2
    if not callable(true_fn) or not callable(false_fn):
        raise BuildError("cond needs two functions: cond(pred, true_fn, false_fn)")
    if not isinstance(pred, Tensor):
        raise BuildError(f"cond: {_PYTHON_PRED}; got {pred!r}")
    graph = graph_of(pred)
    with graph.name_scope(name or "cond"):
        t_body, t_in, t_out, t_caps, t_structure = _trace(true_fn, graph, "true")
        f_body, f_in, f_out, f_caps, f_structure = _trace(false_fn, graph, "false")
        if t_structure != f_structure or len(t_out) != len(f_out):
            raise BuildError(f"cond: the branches return different structures ({len(t_out)} and {len(f_out)} "
                             "tensors): return the same nesting of tensors from both")
        attrs = dict(true_body=t_body, true_in=t_in + (None,) * len(f_caps), true_out=t_out,
                     false_body=f_body, false_in=(None,) * len(t_caps) + f_in, false_out=f_out)
        node = graph.create_node(REGISTRY["Cond"], [pred] + t_caps + f_caps, attrs, name="Cond")
    outputs = iter(node.outputs)
    result = rebuild(t_structure, outputs)
    if not strict and isinstance(result, (list, tuple)) and len(result) == 1:
        return result[0]
    return result


@register
class Cond(Op):
    """Runs ``true_body`` or ``false_body``. Inputs: the bool scalar predicate, then the operands. Each branch
    has one placeholder per operand in ``true_in``/``false_in`` (None for an operand it does not read) and
    its results in ``true_out``/``false_out``; output k is result k of the branch taken."""

    def infer(self, node):
        a = node.attrs
        pred, operands = node.inputs[0], node.inputs[1:]
        if pred.dtype != _dt.bool_ or pred.shape != ():
            raise BuildError(f"the predicate must be a bool scalar, got {format_type(pred.dtype, pred.shape)}")
        for which in ("true", "false"):
            ins = a[f"{which}_in"]
            if len(ins) != len(operands):
                raise BuildError(f"the {which} branch takes {len(ins)} operands, the node has {len(operands)}")
            for i, (t, ph) in enumerate(zip(operands, ins)):
                if ph is not None and (t.dtype != ph.dtype or len(t.shape) != len(ph.shape)):
                    raise BuildError(f"operand {i} is {format_type(t.dtype, t.shape)} but the {which} branch "
                                     f"expects {format_type(ph.dtype, ph.shape)}")
        types = []
        for k, (t, f) in enumerate(zip(a["true_out"], a["false_out"])):
            if t.dtype != f.dtype or len(t.shape) != len(f.shape):
                raise BuildError(f"cond output {k}: the true branch gives {format_type(t.dtype, t.shape)} and the "
                                 f"false branch {format_type(f.dtype, f.shape)}: both must have one dtype and rank")
            types.append((t.dtype, _merged(t.shape, f.shape)))
        return types

    def make_kernel(self, node, runtime):
        a = node.attrs
        branches = []
        for which in ("true", "false"):
            ins = a[f"{which}_in"]
            plan = make_plan(list(a[f"{which}_out"]), dict.fromkeys(ph for ph in ins if ph is not None), runtime)
            slot = dict(plan.feed_slots)
            fills = [(k, slot[ph]) for k, ph in enumerate(ins) if ph is not None and ph in slot]
            branches.append((plan, fills))
        single = len(node.outputs) == 1

        def run_branch(pred, *operands):
            plan, fills = branches[0] if pred else branches[1]
            slots = [None] * plan.slot_count
            for k, s in fills:
                slots[s] = operands[k]
            body_runner()(plan, slots)
            values = tuple(slots[s] for s in plan.fetch_slots)
            return values[0] if single else values
        return run_branch

    def grad(self, node, output_grads, wanted):
        return _backward(node, output_grads, wanted)

    def samples(self, rng):
        f8 = _dt.float64
        with Graph().as_default():   # a throwaway graph to trace the branches in
            x, w, flag = placeholder(f8, (2, 3), "x"), placeholder(f8, (3,), "w"), placeholder(_dt.bool_, (), "pred")
            node = cond(flag, lambda: [x * w, x * x], lambda: [x - w, exp(x)])[0].node
        for pred in (True, False):
            yield [np.array(pred), rng.normal(size=(2, 3)), rng.normal(size=(3,)), rng.normal(size=(2, 3)),
                   rng.normal(size=(3,))], dict(node.attrs)


def _backward(node, output_grads, wanted):
    """Input gradients of a Cond node: a Cond over gradient branches (see the module docstring)."""
    a = node.attrs
    operands = list(node.inputs[1:])
    given = [k for k, (g, t) in enumerate(zip(output_grads, node.outputs)) if g is not None and t.dtype.kind == "f"]
    floats = [i for i, t in enumerate(operands) if t.dtype.kind == "f" and wanted[1 + i]]
    if not given or not floats:
        return [None] * len(node.inputs)
    seeds = [output_grads[k] for k in given]
    attrs = {}
    for which in ("true", "false"):
        body = BodyGraph(kind="cond branch", captures_everything=True)
        with body.as_default():
            ins = [placeholder(t.dtype, t.shape, f"operand_{i}") for i, t in enumerate(operands)]
            seed_ins = [placeholder(g.dtype, g.shape, f"grad_{k}") for k, g in zip(given, seeds)]
            mapping = {ph: ins[i] for i, ph in enumerate(a[f"{which}_in"]) if ph is not None}
            with body.name_scope("forward"):
                clone(a[f"{which}_body"], mapping)
            ys = [mapping[a[f"{which}_out"][k]] for k in given]
            own = [i for i in floats if a[f"{which}_in"][i] is not None]
            grads = dict(zip(own, gradients(ys, [ins[i] for i in own], grad_ys=seed_ins, unconnected="zero")))
            results = [grads[i] if i in grads else zeros_like(ins[i]) for i in floats]
            outs = body_outputs(body, results)
        attrs.update({f"{which}_body": body, f"{which}_in": tuple(ins + seed_ins), f"{which}_out": tuple(outs)})
    back = graph_of(*operands, *seeds).create_node(REGISTRY["Cond"], [node.inputs[0]] + operands + seeds, attrs,
                                                   name="Cond")
    result = [None] * len(node.inputs)
    for i, g in zip(floats, back.outputs):
        result[1 + i] = g
    return result

