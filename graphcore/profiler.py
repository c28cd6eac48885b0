"""Where a run spends its time: per-node wall time, tables by op type and by layer, a Chrome trace.

    with gc.profile() as prof:             # every Session.run inside is timed
        sess.run(train_op, feed)
    print(prof.table())                    # top op types and layers by total time
    prof.save_chrome_trace("step.json")    # open in chrome://tracing or https://ui.perfetto.dev

    sess.run(train_op, feed, profile=True) # the same for one run; the result is sess.last_profile

**The off path costs nothing per node.** Profiling swaps the *plan*, not the loop: a Profile is a run observer
(``graphcore.plan.Observer``, in ``plan.observers`` while active), so a session runs, with the same
``plan.run_plan``, a copy of its plan whose kernels are wrapped to read the clock (``Profile.timed_plan``).
The only checks on the ordinary path are one per ``Session.run`` (is an observer active?) and one per Scan
execution (which plan for the body?).

**Loops.** A Scan's body plan runs through the same timed runner, so every body op gets its own events,
nested inside the Scan node's event on the trace's timeline. The Scan event is *inclusive*; the tables use
*self* time (an event's duration minus the events nested in it), so a Scan's row holds only the loop's own
bookkeeping and its body ops appear under their own op types, attributed to the layer of the Scan node that
ran them. Totals therefore add up to the wall time of the profiled runs.

**Layers** are the first name scope of a node (``conv2d_1/Conv2D`` → ``conv2d_1``), looking through the
``gradients/`` and ``training/`` scopes, so a layer's row holds its forward and backward work; the
``pass`` column tells them apart.
"""
import contextlib
import json
import time

from . import plan as _plan
from .graph import Graph
from .io import atomic_write


class Event:
    """One execution of one node: start and duration in seconds, what ran, and for a loop body's node the
    outer node it is attributed to."""

    __slots__ = ("name", "op_type", "layer", "backward", "start", "duration", "depth", "child_time", "shapes")

    def __init__(self, node, owner, start, depth):
        self.name = node.name if owner is node else f"{owner.name}/{node.name}"
        self.op_type = node.op.type
        self.layer, self.backward = layer_of(owner.name)
        self.start, self.duration, self.depth, self.child_time = start, 0.0, depth, 0.0
        self.shapes = [t.shape for t in node.outputs]

    @property
    def self_time(self):
        return self.duration - self.child_time


def layer_of(name):
    """(layer, is_backward) of a node name: its first scope after ``gradients/`` and ``training/``."""
    parts = name.split("/")
    backward = False
    while len(parts) > 1 and parts[0] in ("gradients", "training"):
        backward = backward or parts[0] == "gradients"
        parts = parts[1:]
    # A top-level node (no scope) belongs to no layer, nor does its gradient (``gradients/Node_grad/…``).
    top_level = len(parts) == 1 or (backward and parts[0].endswith("_grad"))
    return ("(graph)" if top_level else parts[0]), backward


class Profile(_plan.Observer):
    """The events of the runs made while it was active (see the module docstring)."""

    def __init__(self):
        self.events = []
        self.runs = 0
        self._origin = time.perf_counter()
        self._loops = []        # (event, owner node) of each Scan being timed, innermost last
        self._timed = {}        # plan → its timed copy

    # ----- collecting ------------------------------------------------------------------------------------
    def _open(self, node):
        owner = self._loops[-1][1] if self._loops else node
        event = Event(node, owner, time.perf_counter(), len(self._loops))
        self.events.append(event)
        return event, owner

    def _close(self, event):
        event.duration = time.perf_counter() - event.start
        if self._loops:
            self._loops[-1][0].child_time += event.duration

    def session_plan(self, plan):
        """A Session.run's plan, timed (the observer's hook)."""
        self.runs += 1
        return self.timed_plan(plan)

    def body_plans(self):
        """A loop's body runs timed only while the loop node itself is being timed (the observer's hook)."""
        return self.timed_plan if self._loops else None

    def timed_plan(self, plan):
        """``plan`` with every kernel wrapped to record an event (made once per plan and profile); the
        planner's own ``run_plan`` runs it, errors and all."""
        timed = self._timed.get(plan)
        if timed is None:
            timed = self._timed[plan] = plan.with_kernels(lambda _, kernel, node: self._timed_kernel(kernel, node))
        return timed

    def _timed_kernel(self, kernel, node):
        loop = any(isinstance(v, Graph) for v in node.attrs.values())   # Scan, Cond: their body ops nest under them

        def timed(*arrays):
            event, owner = self._open(node)
            if loop:
                self._loops.append((event, owner))
            try:
                return kernel(*arrays)
            finally:
                if loop:
                    self._loops.pop()
                self._close(event)
        return timed

    # ----- reading ---------------------------------------------------------------------------------------
    @property
    def total(self):
        """Seconds spent in the profiled nodes (the sum of self times, equal to the outermost durations)."""
        return sum(e.duration for e in self.events if e.depth == 0)

    def by_op_type(self):
        """[(op type, self seconds, executions)], slowest first."""
        return _grouped(self.events, lambda e: e.op_type)

    def by_layer(self):
        """[((layer, "forward" | "backward"), self seconds, executions)], slowest first."""
        return _grouped(self.events, lambda e: (e.layer, "backward" if e.backward else "forward"))

    def table(self, top=10):
        """The report ``graphcore profile`` prints: top op types, then top layers, by self time."""
        total = self.total or 1e-12
        lines = [f"{self.runs} run(s), {len(self.events)} node executions, {self.total * 1e3:.2f} ms in nodes",
                 "", f"{'op type':<28}{'total ms':>10}{'share':>8}{'calls':>8}"]
        for op_type, seconds, calls in self.by_op_type()[:top]:
            lines.append(f"{op_type:<28}{seconds * 1e3:>10.2f}{seconds / total:>8.1%}{calls:>8}")
        lines += ["", f"{'layer':<28}{'pass':<10}{'total ms':>10}{'share':>8}"]
        for (layer, direction), seconds, _ in self.by_layer()[:top]:
            lines.append(f"{layer:<28}{direction:<10}{seconds * 1e3:>10.2f}{seconds / total:>8.1%}")
        return "\n".join(lines)

    def chrome_trace(self):
        """The Trace Event Format's JSON object: complete ("X") events in microseconds from the profile's
        start, one thread per loop depth (so a Scan's body ops sit under it)."""
        events = [{"name": e.name, "cat": e.op_type, "ph": "X", "pid": 0, "tid": e.depth,
                   "ts": round((e.start - self._origin) * 1e6, 3), "dur": round(e.duration * 1e6, 3),
                   "args": {"layer": e.layer, "pass": "backward" if e.backward else "forward",
                            "shapes": [_shape_text(s) for s in e.shapes]}} for e in self.events]
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def save_chrome_trace(self, path):
        """Write ``chrome_trace()`` to ``path`` atomically; returns the path."""
        with atomic_write(path, "w") as f:
            json.dump(self.chrome_trace(), f)
        return path


def _shape_text(shape):
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _grouped(events, key):
    seconds, calls = {}, {}
    for e in events:
        k = key(e)
        seconds[k] = seconds.get(k, 0.0) + e.self_time
        calls[k] = calls.get(k, 0) + 1
    return sorted(((k, s, calls[k]) for k, s in seconds.items()), key=lambda row: -row[1])


@contextlib.contextmanager
def profile():
    """Time every node of every ``Session.run`` inside the block; yields the ``Profile``."""
    collected = Profile()
    _plan.observers.append(collected)
    try:
        yield collected
    finally:
        _plan.observers.remove(collected)


_plan.profiling = profile       # Session.run(..., profile=True) times its run with this


def active():
    """The Profile collecting now (the innermost ``gc.profile()``), or None."""
    return next((o for o in reversed(_plan.observers) if isinstance(o, Profile)), None)
