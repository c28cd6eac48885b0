"""The NumPy interpreter.

``Session.run`` plans once per (fetches, feed keys): it prunes the graph to what the fetches need, orders it
(creation order is topological), binds each node's kernel with its attributes, and computes where every
intermediate value is used for the last time. A run is then a flat loop over ``(kernel, input slots, output
slots, slots to free)`` with no per-run analysis; intermediates are dropped as soon as nothing needs them.

Variables live here, in ``Session.variables`` (name → array). Every random node owns a generator here too,
so a seeded graph replays the same numbers in every new session.
"""
import contextlib
from collections.abc import Mapping

import numpy as np

from . import dtypes as _dt
from . import profiler
from .compat import declare, same_as
from .errors import ExecutionError, FeedError, FetchError, GraphcoreError, NumericsError
from .graph import Node, Tensor, ancestors, get_default_graph, pop_default_session, push_default_session
from .memory import tune_allocator
from .nest import rebuild
from .program import compile_steps, failed_step
from .ops.random import seed_for
from .shapes import compatible, format_shape, format_type


class _Plan:
    __slots__ = ("steps", "feed_slots", "fetch_slots", "slot_count", "nodes", "runs", "program")

    def __init__(self, steps, feed_slots, fetch_slots, slot_count, nodes):
        self.steps, self.feed_slots, self.fetch_slots = steps, feed_slots, fetch_slots
        self.slot_count, self.nodes = slot_count, nodes
        self.runs = 0
        self.program = None     # (run, line_steps) of program.compile_steps, made at the second run

    def with_kernels(self, wrap):
        """The same plan with each kernel replaced by ``wrap(index, kernel, node)``: how the profiler times
        nodes and tools/bench_floor.py replays them, through the same ``run_plan``."""
        steps = [(wrap(index, kernel, node), ins, out, frees, node)
                 for index, (kernel, ins, out, frees, node) in enumerate(self.steps)]
        return _Plan(steps, self.feed_slots, self.fetch_slots, self.slot_count, self.nodes)


@same_as("TF1", "tf.Session", note="Session(graph=g); variables are initialised when first needed")
class Session:
    """Runs a graph. Variables are initialised when the session starts (and lazily, if created later)."""

    def __init__(self, graph=None, check_numerics=False, seed=None):
        tune_allocator()
        self.graph = graph or get_default_graph()
        self.check_numerics = check_numerics
        self.variables = {}
        self._generators = {}
        self._entropy = np.random.SeedSequence(seed)
        self._plans = {}
        self._closed = False
        self.last_profile = None
        self.initialize()

    # ----- context manager and the default session ---------------------------------------------------------
    def __enter__(self):
        """``with Session() as sess:`` also makes ``sess`` the default session inside (as TF1 does), so
        ``tensor.eval()`` and ``node.run()`` work there."""
        push_default_session(self)
        return self

    def __exit__(self, *exc):
        pop_default_session(self)
        self.close()

    @contextlib.contextmanager
    def as_default(self):
        """Make this the default session inside the block, without closing it afterwards (TF1)."""
        push_default_session(self)
        try:
            yield self
        finally:
            pop_default_session(self)

    @property
    def closed(self):
        return self._closed

    def close(self):
        pop_default_session(self)
        self.variables.clear()
        self._plans.clear()
        self._closed = True

    # ----- state the kernels bind to ------------------------------------------------------------------------
    def variable_reader(self, node):
        store, name = self.variables, node.name
        return lambda: store[name]

    def generator(self, node):
        if node not in self._generators:
            seed = seed_for(node)
            sequence = np.random.SeedSequence(list(seed)) if seed is not None else self._entropy.spawn(1)[0]
            self._generators[node] = np.random.default_rng(sequence)
        return self._generators[node]

    def missing_feed(self, node):
        def fail():
            raise FeedError(f"placeholder '{node.name}' {format_type(node.attrs['dtype'], node.attrs['shape'])} "
                            "must be fed: pass it in feed_dict", node)
        return fail

    def initialize(self, variables=None):
        """(Re)initialise ``variables`` (default: every variable of the graph) from their initial values."""
        variables = self.graph.variables if variables is None else variables
        pending = []
        for v in variables:
            if v.initial_value is not None:
                self.variables[v.node.name] = np.array(v.initial_value)
            else:
                pending.append(v)
        if pending:
            values = self._execute([v.initializer_tensor for v in pending], {}, check_numerics=False, init=False)
            for v, value in zip(pending, values):
                self.variables[v.node.name] = value

    def load_variable(self, variable, value):
        """Set ``variable`` to ``value`` (checked like a feed: dtype, shape, no overflow)."""
        if self._closed:
            raise GraphcoreError("this session is closed")
        if variable.graph is not self.graph:
            raise FeedError(f"cannot load {variable.name}: it belongs to another graph than this session's",
                            variable.node)
        array = _check_feed(variable, value)
        if array.shape != variable.shape:
            raise FeedError(f"cannot load shape {format_shape(array.shape)} into {variable.name} of shape "
                            f"{format_shape(variable.shape)}", variable.node)
        self.variables[variable.node.name] = np.array(array)

    # ----- running ------------------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, check_numerics=None, profile=False):
        """Evaluate ``fetches`` (a tensor, a node, or a list/tuple/dict nesting them); nodes give None.

        ``profile=True`` times every node of this run into ``self.last_profile`` (see graphcore.profiler)."""
        if self._closed:
            raise GraphcoreError("this session is closed")
        if profile:
            with profiler.profile() as self.last_profile:
                return self.run(fetches, feed_dict, check_numerics)
        leaves = []
        structure = _flatten(fetches, leaves, self.graph)
        feeds = self._prepare_feeds({} if feed_dict is None else feed_dict)
        check = self.check_numerics if check_numerics is None else check_numerics
        values = self._execute(leaves, feeds, check)
        return rebuild(structure, iter(values))

    def _prepare_feeds(self, feed_dict):
        if not isinstance(feed_dict, Mapping):
            raise FeedError(f"feed_dict must be a dict mapping placeholders (or their names) to values, got a "
                            f"{type(feed_dict).__name__}: write feed_dict={{x: data}}")
        feeds = {}
        for key, value in feed_dict.items():
            tensor = _lookup(self.graph, key, FeedError)[1] if isinstance(key, str) else key
            if not isinstance(tensor, Tensor):
                raise FeedError(f"feed_dict keys must be tensors or tensor names, got {key!r}")
            if tensor.graph is not self.graph:
                raise FeedError(f"cannot feed {tensor.name}: it belongs to another graph than this session's "
                                "(build it in the session's graph, or run it in a Session of its own graph)",
                                tensor.node)
            feeds[tensor] = _check_feed(tensor, value)
        return feeds

    def _execute(self, leaves, feeds, check_numerics, init=True):
        key = (tuple(leaves), frozenset(feeds))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(leaves, feeds, init)
        slots = [None] * plan.slot_count
        for tensor, slot in plan.feed_slots:
            slots[slot] = feeds[tensor]
        collecting = profiler.active()
        if check_numerics:
            _run_checked(plan, slots)
        elif collecting is not None:
            collecting.runs += 1
            run_plan(collecting.timed_plan(plan), slots)
        else:
            run_plan(plan, slots)
        return [_fetched(leaf, slots[s]) if s is not None else None for leaf, s in zip(leaves, plan.fetch_slots)]

    def _make_plan(self, leaves, feeds, init):
        targets = _targets(leaves, feeds)
        needed = ancestors(targets, stop=feeds)
        if init:
            stale = [v for v in self.graph.variables if v.node in needed and v.node.name not in self.variables]
            if stale:
                self.initialize(stale)
        return make_plan(leaves, feeds, self, needed)


def make_plan(leaves, feeds, runtime, needed=None):
    """The flat program computing ``leaves`` (tensors or nodes) from the tensors in ``feeds``: prune, order,
    bind each kernel to ``runtime`` (its variables and random generators), assign slots and record where
    each slot is read for the last time. A loop op plans its body with this once, then runs it every step."""
    if needed is None:
        needed = ancestors(_targets(leaves, feeds), stop=feeds)
    order = sorted(needed, key=lambda n: n.id)
    for node in order:
        if node.op.type == "Placeholder" and "default" not in node.attrs and \
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
    return _Plan(steps, feed_slots, fetch_slots, len(slot_of), order)


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


def _run_checked(plan, slots):
    """Like ``run_plan``, step by step, stopping at the first node whose output holds NaN or Inf."""
    for step in plan.steps:
        single = _Plan([step], (), (), 0, ())
        run_plan(single, slots)
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


def _check_feed(tensor, value):
    """Validate one feed against the tensor's static dtype and shape; safe casts (float64 → float32,
    int → float) are applied, unsafe ones (float → int) are refused."""
    try:
        array = np.asarray(value)
    except ValueError as e:   # ragged nested lists
        raise FeedError(f"the feed for '{tensor.name}' is not a rectangular array: {e}", tensor.node) from None
    if array.dtype != tensor.dtype:
        kind_ok = np.can_cast(array.dtype, tensor.dtype, "same_kind") or (
            array.dtype == _dt.bool_ and tensor.dtype.kind == "f")
        if not kind_ok:
            raise FeedError(f"cannot feed {array.dtype.name} data to '{tensor.name}' of dtype {tensor.dtype.name}",
                            tensor.node)
        with np.errstate(over="ignore", invalid="ignore"):   # overflow is reported below, naming the element
            source, array = array, array.astype(tensor.dtype)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            _refuse_overflow(tensor, source, array)
    if not compatible(tensor.shape, array.shape):
        raise FeedError(f"cannot feed shape {format_shape(array.shape)} to '{tensor.name}' of shape "
                        f"{format_shape(tensor.shape)}", tensor.node)
    return array


def _refuse_overflow(tensor, source, converted):
    """A feed whose conversion to the placeholder's float dtype made infinities out of finite numbers (1e39 in
    float32) would train on garbage: name the first such element."""
    finite_before = np.isfinite(source) if source.dtype.kind == "f" else np.ones(source.shape, bool)
    overflowed = finite_before & ~np.isfinite(converted)
    if overflowed.any():
        index = np.unravel_index(int(np.argmax(overflowed)), source.shape)
        where = f" at index {tuple(int(i) for i in index)}" if source.ndim else ""
        raise FeedError(f"the feed for '{tensor.name}' holds {source[index].item()!r}{where}, which is finite as "
                        f"{source.dtype.name} but overflows to inf in the placeholder's {tensor.dtype.name} "
                        f"(largest {np.finfo(tensor.dtype).max:.4g}): rescale the data, or declare the "
                        f"placeholder {source.dtype.name}", tensor.node)


def _fetched(leaf, value):
    # A variable's array is the session's state: hand out a copy so callers cannot corrupt it.
    if leaf.node.op.type in ("Variable", "ReadVariable"):
        return np.array(value)
    return value


def _flatten(fetches, leaves, graph):
    """Record the nesting of ``fetches`` and collect its leaves (tensors and nodes) in order."""
    if isinstance(fetches, (Tensor, Node)):
        if fetches.graph is not graph:
            node = fetches.node if isinstance(fetches, Tensor) else fetches
            raise FetchError(f"cannot fetch {fetches.name}: it belongs to another graph than this session's "
                             "(run it in a Session of its own graph)", node)
        leaves.append(fetches)
        return None
    if isinstance(fetches, str):
        node, output = _lookup(graph, fetches, FetchError)
        leaves.append(node if output is None else output)
        return None
    if isinstance(fetches, dict):
        return (dict, [(k, _flatten(v, leaves, graph)) for k, v in fetches.items()])
    if isinstance(fetches, (list, tuple)):
        return (type(fetches), [_flatten(v, leaves, graph) for v in fetches])
    raise FetchError(f"cannot fetch {fetches!r}: fetch tensors, nodes, names, or lists/tuples/dicts of them")


def _lookup(graph, name, error):
    """``(node, tensor)`` for ``name`` (``node`` or ``node:index``; tensor None for a node without outputs),
    or ``error`` saying that the graph has no such tensor."""
    node_name, _, index = name.partition(":")
    try:
        node = graph.get_node(node_name)
        return node, (node.outputs[int(index or 0)] if node.outputs or index else None)
    except (KeyError, IndexError, ValueError):
        raise error(f"no tensor named {name!r} in the session's graph") from None


@same_as("TF1", "tf.InteractiveSession")
class InteractiveSession(Session):
    """A session that makes itself the default when created (TF1's ``tf.InteractiveSession``), for notebooks
    and shells: ``tensor.eval()`` and ``node.run()`` use it until ``close()``."""

    def __init__(self, graph=None, check_numerics=False, seed=None):
        super().__init__(graph, check_numerics, seed)
        push_default_session(self)


declare("TF1", "tf.Session.run", "gc.Session.run", "fetches: tensors, nodes, names ('x:0') and lists/tuples/dicts "
                                                   "of them; feed_dict a dict keyed by tensors or names")
declare("TF1", "tf.Session.as_default", "gc.Session.as_default")
