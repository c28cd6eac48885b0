"""The NumPy interpreter's user object: ``Session``, TF1's, over the planner (``plan.py``).

``Session.run`` checks the fetches and feeds, plans once per (fetches, feed keys) with ``make_plan`` (prune,
order, bind kernels, free intermediates early) and runs the plan with ``run_plan``; watchers such as the
profiler swap the plan through ``plan.observers``.

Variables live here, in ``Session.variables`` (name → array). Every random node owns a generator here too,
so a seeded graph replays the same numbers in every new session.
"""
import contextlib
from collections.abc import Mapping

import numpy as np

from . import dtypes as _dt
from . import plan as _plan
from .compat import declare, same_as
from .errors import FeedError, FetchError, GraphcoreError
from .graph import Node, Tensor, get_default_graph, pop_default_session, push_default_session
from .memory import tune_allocator
from .nest import rebuild
from .ops.random import seed_for
from .ops.state import ReadVariable, VariableOp
from .plan import make_plan, needed_nodes, observer, run_checked, run_plan
from .shapes import compatible, format_shape, format_type


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
            with _plan.profiling() as self.last_profile:
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
        watching = observer()
        if check_numerics:
            run_checked(plan, slots)
        elif watching is not None:
            run_plan(watching.session_plan(plan), slots)
        else:
            run_plan(plan, slots)
        return [_fetched(leaf, slots[s]) if s is not None else None for leaf, s in zip(leaves, plan.fetch_slots)]

    def _make_plan(self, leaves, feeds, init):
        needed = needed_nodes(leaves, feeds)
        if init:
            stale = [v for v in self.graph.variables if v.node in needed and v.node.name not in self.variables]
            if stale:
                self.initialize(stale)
        return make_plan(leaves, feeds, self, needed)


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
    if isinstance(leaf.node.op, (VariableOp, ReadVariable)):
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
