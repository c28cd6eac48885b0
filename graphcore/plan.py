"""The planner: the flat program a run executes, and its runner.

``make_plan`` turns "compute these tensors from those fed ones" into a ``Plan``: it prunes the graph to what
the fetches need, orders it (creation order is topological), binds each node's kernel with its attributes
to a runtime (the session's variables and random generators), and records where every intermediate value is
read for the last time. ``run_plan`` is then a flat loop over ``(kernel, input slots, output slots, slots to
free)`` with no per-run analysis; intermediates are dropped as soon as nothing needs them. A plan run again
(every loop body, every training step) is compiled to straight-line code once (``program.py``).

A ``Session`` plans once per (fetches, feed keys) and runs the plan; a loop op (``graphcore.control``) plans
its body once and runs it every step. Watching runs (the profiler's timing, a benchmark's replay) goes through
``observers``, which the watcher fills: this module knows no profiler.
"""
import numpy as np

from .errors import ExecutionError, GraphcoreError, NumericsError
from .graph import Tensor, ancestors
from .ops.state import Placeholder
from .program import compile_steps, failed_step
from .shapes import format_shape

#: The run observers, innermost last (see ``Observer``): ``gc.profile()`` pushes its Profile here.
observers = []
#: The context manager ``Session.run(..., profile=True)`` times its run with, yielding the profile:
#: graphcore.profiler sets it when imported (the package imports it), so this layer imports no profiler.
profiling = None


class Observer:
    """Watches the runs made while it is in ``observers``: a ``Session.run`` executes ``session_plan(plan)``
    instead of its plan (a copy whose kernels read the clock, say), and a loop kernel starting a run maps its
    body plan through ``body_plans()`` when that gives a function. The defaults change nothing."""

    def session_plan(self, plan):
        return plan

    def body_plans(self):
        """A function of a body plan giving the plan to run instead, or None for the plain hot loop; asked
        once per loop execution."""
        return None


def observer():
    """The innermost observer, or None."""
    return observers[-1] if observers else None


class Plan:
    """A compiled run: ``steps`` are ``(kernel, input slots, output slot(s), slots to free, node)``; the fed
    values go to ``feed_slots`` (tensor, slot) and the fetches are read from ``fetch_slots`` (None for a
    fetched node without outputs). ``nodes`` lists the planned nodes in order."""

    __slots__ = ("steps", "feed_slots", "fetch_slots", "slot_count", "nodes", "runs", "program")

    def __init__(self, steps, feed_slots, fetch_slots, slot_count, nodes):
        self.steps, self.feed_slots, self.fetch_slots = steps, feed_slots, fetch_slots
        self.slot_count, self.nodes = slot_count, nodes
        self.runs = 0
        self.program = None     # (run, line_steps) of program.compile_steps, made at the second run

    def with_kernels(self, wrap):
        """The same plan with each kernel replaced by ``wrap(index, kernel, node)``: how the profiler times
        nodes and tools/bench_floor.py replays them, through the same ``run_plan``."""
        return self.with_steps([(wrap(index, kernel, node), ins, out, frees, node)
                                for index, (kernel, ins, out, frees, node) in enumerate(self.steps)])

    def with_steps(self, steps, extra_slots=0):
        """The same feeds and fetches computed by ``steps`` instead (a rewrite of this plan's steps, e.g. a
        loop's kernels reading a transposed copy it makes once), which may use ``extra_slots`` new slots
        numbered from ``slot_count`` on."""
        return Plan(steps, self.feed_slots, self.fetch_slots, self.slot_count + extra_slots, self.nodes)


def needed_nodes(leaves, feeds):
    """The nodes that computing ``leaves`` (tensors or nodes) from ``feeds`` runs."""
    return ancestors(_targets(leaves, feeds), stop=feeds)


def make_plan(leaves, feeds, runtime, needed=None):
    """The flat program computing ``leaves`` (tensors or nodes) from the tensors in ``feeds``: prune, order,
    bind each kernel to ``runtime`` (its variables and random generators), assign slots and record where
    each slot is read for the last time. A loop op plans its body with this once, then runs it every step."""
    if needed is None:
        needed = needed_nodes(leaves, feeds)
    order = sorted(needed, key=lambda n: n.id)
    for node in order:
        if isinstance(node.op, Placeholder) and "default" not in node.attrs and \
                not all(t in feeds for t in node.outputs):
            runtime.missing_feed(node)()
    slot_of = {}
    for tensor in feeds:
        slot_of[tensor] = len(slot_of)
    for node in order:
        for t in node.outputs:
            if t not in slot_of:
                slot_of[t] = len(slot_of)
    fetch_slots = [slot_of[leaf] if isinstance(leaf, Tensor) else None for leaf in leaves]
    keep = set(fetch_slots)
    last_use = {}
    for index, node in enumerate(order):
        for t in node.inputs:
            last_use[slot_of[t]] = index
    frees = [[] for _ in order]
    for slot, index in last_use.items():
        if slot not in keep:
            frees[index].append(slot)
    read = keep | set(last_use)
    steps = []
    for index, node in enumerate(order):
        outs = tuple(slot_of[t] for t in node.outputs)
        kernel = node.op.plan_kernel(node, runtime, tuple(s in read for s in outs))
        steps.append((kernel, tuple(slot_of[t] for t in node.inputs),
                      outs[0] if len(outs) == 1 else outs, tuple(frees[index]), node))
    feed_slots = [(t, slot_of[t]) for t in feeds]
    return Plan(steps, feed_slots, fetch_slots, len(slot_of), order)


def _targets(leaves, feeds):
    """The nodes to run for ``leaves``: a fetched tensor that is also fed is its fed value (as in TF1), so
    its node does not run."""
    return [leaf.node if isinstance(leaf, Tensor) else leaf for leaf in leaves
            if not (isinstance(leaf, Tensor) and leaf in feeds)]


def run_plan(plan, slots):
    """Run ``plan`` over ``slots`` (fed values already in place): no analysis, no allocation beyond the
    kernels' own. The first run walks the steps; a plan run again (every loop body, every training step) is
    compiled to straight-line code once (``program.py``) and runs as that."""
    if plan.program is None:
        plan.runs += 1
        if plan.runs == 1:
            return _run_steps(plan, slots)
        plan.program = compile_steps(plan.steps)
    run, line_steps = plan.program
    try:
        run(slots)
    except GraphcoreError:
        raise
    except Exception as e:
        _raise_failed(plan, failed_step(e.__traceback__, line_steps), slots, e)


def body_runner():
    """The runner a loop kernel uses for its body, chosen once per loop execution: the plain hot loop, or the
    hot loop over the plan an observer maps the body's plan to (the profiler's timed copy, while the loop
    node itself is being timed)."""
    watching = observer()
    mapped = watching.body_plans() if watching is not None else None
    if mapped is None:
        return run_plan
    return lambda plan, slots: run_plan(mapped(plan), slots)


def _run_steps(plan, slots):
    """The plan's steps, one by one."""
    index = 0
    try:
        for index, (kernel, ins, out, frees, _) in enumerate(plan.steps):
            value = kernel(*[slots[i] for i in ins])
            if type(out) is int:
                slots[out] = value
            elif out:
                for o, v in zip(out, value):
                    slots[o] = v
            for f in frees:
                slots[f] = None
    except GraphcoreError:
        raise
    except Exception as e:
        _raise_failed(plan, index, slots, e)


def _raise_failed(plan, index, slots, error):
    """A kernel failed: report the node, its inputs and where the user built it."""
    _, ins, _, _, node = plan.steps[index]
    raise ExecutionError(f"{node.op.type} failed at run time: {type(error).__name__}: {error}\n  inputs: "
                         + _describe_arrays(node, [slots[i] for i in ins]), node, original=error) from None


def run_checked(plan, slots):
    """Like ``run_plan``, step by step, stopping at the first node whose output holds NaN or Inf."""
    for step in plan.steps:
        run_plan(Plan([step], (), (), 0, ()), slots)
        out, node = step[2], step[4]
        for o in ((out,) if type(out) is int else out):
            value = slots[o]
            if value is not None and np.asarray(value).dtype.kind == "f" and not np.all(np.isfinite(value)):
                bad = "NaN" if np.isnan(value).any() else "Inf"
                raise NumericsError(f"check_numerics: {node.op.type} produced {bad} "
                                    f"(inputs: {_describe_arrays(node, [slots[i] for i in step[1]])})", node)


def _describe_arrays(node, arrays):
    parts = []
    for t, a in zip(node.inputs, arrays):
        a = np.asarray(a) if a is not None else None
        parts.append(f"{t.name}: " + (f"{a.dtype.name}{format_shape(a.shape)}" if a is not None else "freed"))
    return ", ".join(parts) or "none"
