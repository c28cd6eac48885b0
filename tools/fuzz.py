"""Differential fuzzer: random well-typed graphs from the op registry, each checked four ways.

    python tools/fuzz.py --graphs 10000 --seed 0 [--cases tests/fuzz_cases] [--report fuzz.json]

**Graphs.** A graph is a *recipe*: a few steps, each an application of a registered op to one of that op's
own ``samples()`` (so its attributes and input domains are valid by construction). Each input is fed as a
placeholder (sometimes with an unknown batch dimension), or as ``sample + ε·tanh(p)`` with ``p`` a
placeholder of a broadcast shape (some dims 1), or ``sample + ε·tanh(t)`` with ``t`` an earlier step's
output (composition); ε is 1 % of the sample's scale, so values stay in the op's domain. Graphs are float32
or float64. Subgraphs: Scan's own samples carry body graphs, and some steps apply their op inside a Scan body
over two time steps. Recipes are JSON data, so a failure is replayable.

**Checks.**
1. infer: the kernel's dtypes and shapes are the ones inferred at build time;
2. onnx: the interpreter against onnxruntime (through ``graphcore.export.to_onnx``), or against
   ``onnx.reference`` where onnxruntime has no kernel. A graph holding an op with a documented reason in
   ``export.REASONS`` is counted as not exportable and skipped — not a mismatch — so coverage grows by itself
   when a converter lands;
3. grad: float64 gradients of a random projection of every output against central finite differences;
4. grad2: on a sample of graphs, the gradient of a gradient against finite differences of the gradient;
5. onnx_grad: the gradient graph of checks 3 and 4 (gradient-only ops, backward loops, second order) through
   ``to_onnx`` and onnxruntime against the interpreter, as in check 2.

**Shrinking.** A failing recipe is shrunk greedily — drop a step (its uses become plain placeholders), take a
step out of its loop body, make an input a plain placeholder, make a batch dimension known — while the same
check still fails, and written as a ready pytest file under ``--cases``.
"""
import argparse
import collections
import json
import os
import pprint
import sys
import time
import zlib

import numpy as np

import graphcore as gc
from graphcore.errors import GraphcoreError
from graphcore.op import REGISTRY

LEAVES = ("Placeholder", "Variable")   # no samples: every graph has them anyway
OPS = sorted(t for t in REGISTRY if t not in LEAVES)
EPSILON = 0.01            # perturbation scale, relative to the sample's magnitude
FD_STEP = 1e-6
FD_COORDINATES = 24       # finite differences on at most this many elements per input
SECOND_ORDER_EVERY = 4    # one graph in four also gets the second-order check
IN_SCAN = 0.15            # share of steps applied inside a Scan body
TOLERANCE = {"float64": (1e-7, 1e-9), "float32": (1e-4, 1e-5)}   # (rtol, atol × scale) against ONNX


class Mismatch(Exception):
    """A check failed: ``kind`` is the check (infer, onnx, export, grad, grad2, crash)."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


# ---------------------------------------------------------------------------------------------------------
# Recipes → graphs
# ---------------------------------------------------------------------------------------------------------

_SAMPLES = {}


def samples_of(op_type):
    """An op's samples, generated once from seed 0 (so a recipe's sample index always means the same)."""
    if op_type not in _SAMPLES:
        _SAMPLES[op_type] = list(REGISTRY[op_type].samples(np.random.default_rng(0)))
    return _SAMPLES[op_type]


def sample(op_type, index, dtype):
    """Sample ``index`` of an op, its float inputs converted to ``dtype``."""
    arrays, attrs = samples_of(op_type)[index]
    return [np.asarray(a, dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays], attrs


class Built:
    """A recipe's graph: its float placeholders (differentiated), every feed, and the outputs of each step."""

    def __init__(self):
        self.graph = gc.Graph()
        self.feeds, self.inputs, self.outputs, self.float_inputs = {}, [], [], []


def build(recipe):
    """The graph of ``recipe``; raises BuildError when a step does not build."""
    built = Built()
    with built.graph.as_default():
        for index, step in enumerate(recipe["steps"]):
            arrays, attrs = sample(step["op"], step["sample"], step["dtype"])
            rng = np.random.default_rng([recipe["seed"], index])
            inputs = [_source(built, source, a, rng) for source, a in zip(step["inputs"], arrays)]
            if step.get("in_scan"):
                built.outputs.append(_in_scan(step["op"], inputs, attrs, index))
            else:
                node = built.graph.create_node(REGISTRY[step["op"]], inputs, attrs, name=f"step{index}")
                built.outputs.append(list(node.outputs))
    return built


def _in_scan(op_type, inputs, attrs, index):
    """The op applied inside a Scan body (a subgraph), over two time steps: each input stacked twice."""
    sequences = [gc.concat([gc.expand_dims(t, 0)] * 2, 0) for t in inputs]

    def body(*slices):
        node = gc.get_default_graph().create_node(REGISTRY[op_type], list(slices), attrs, name=f"step{index}")
        return None, list(node.outputs)
    _, stacked = gc.scan(body, sequences=sequences, name=f"scan{index}")
    return list(stacked)


def _source(built, source, array, rng):
    kind = source[0]
    if kind == "variable":
        return gc.Variable(array)
    if kind == "const":
        return gc.constant(array)
    if kind == "feed":
        shape = ((None,) + array.shape[1:]) if source[1] and array.ndim else array.shape
        return _placeholder(built, array, shape)
    scale = array.dtype.type(EPSILON * max(float(np.abs(array).max(initial=0.0)), 0.1))
    if kind == "broadcast":
        shape = tuple(1 if axis in source[1] else d for axis, d in enumerate(array.shape))
        noise = _placeholder(built, rng.normal(size=shape).astype(array.dtype), shape)
    else:   # ("chain", step, output): an earlier output, broadcast into the input's shape
        noise = built.outputs[source[1]][source[2]]
    return gc.constant(array) + scale * gc.tanh(noise)


def _placeholder(built, value, shape):
    ph = gc.placeholder(value.dtype, shape, name=f"in{len(built.inputs)}")
    built.feeds[ph] = value.copy()   # finite differences change feeds in place: never share one array
    built.inputs.append(ph)
    if value.dtype.kind == "f":
        built.float_inputs.append(ph)
    return ph


# ---------------------------------------------------------------------------------------------------------
# Random recipes
# ---------------------------------------------------------------------------------------------------------

def generate(rng, seed, first=None):
    """A random buildable recipe of 1-4 steps, the first of op ``first`` when given (``run`` goes round the
    registry that way, so every op is built however many there are)."""
    recipe = {"seed": int(seed), "dtype": str(rng.choice(["float32", "float64"])), "steps": []}
    for step in range(int(rng.integers(1, 5))):
        op_type = first if step == 0 and first else str(rng.choice(OPS))
        index = int(rng.integers(len(samples_of(op_type))))
        for attempt in _attempts(rng, recipe, op_type, index):
            recipe["steps"].append(attempt)
            try:
                build(recipe)
                break
            except GraphcoreError:
                recipe["steps"].pop()
    return recipe


def _attempts(rng, recipe, op_type, index):
    """The step as drawn, then simpler variants (known batch, then float64) in case it does not build."""
    arrays, _ = sample(op_type, index, recipe["dtype"])
    variables = REGISTRY[op_type].variable_inputs
    drawn = [_draw_source(rng, recipe, i < variables, a) for i, a in enumerate(arrays)]
    plain = [s if s[0] != "feed" else ["feed", False] for s in drawn]
    loop = bool(arrays) and not REGISTRY[op_type].stateful and rng.random() < IN_SCAN
    for dtype, sources, in_scan in ((recipe["dtype"], drawn, loop), (recipe["dtype"], drawn, False),
                                    (recipe["dtype"], plain, False), ("float64", plain, False)):
        yield {"op": op_type, "sample": index, "dtype": dtype, "inputs": sources, "in_scan": in_scan}


def _draw_source(rng, recipe, variable, array):
    if variable:
        return ["variable"]
    if array.dtype.kind != "f":
        return ["feed", False] if rng.random() < 0.5 else ["const"]
    roll = rng.random()
    if roll < 0.35:
        candidates = _chainable(recipe, array)
        if candidates:
            return list(candidates[int(rng.integers(len(candidates)))])
    if roll < 0.6 and array.ndim:
        axes = [axis for axis in range(array.ndim) if rng.random() < 0.5]
        return ["broadcast", axes]
    return ["feed", bool(array.ndim and rng.random() < 0.3)]


def _chainable(recipe, array):
    """Earlier float outputs of the same dtype whose static shape broadcasts into ``array``'s."""
    built = build(recipe)
    found = []
    for step, outputs in enumerate(built.outputs):
        for k, t in enumerate(outputs):
            if t.dtype == array.dtype and None not in t.shape and len(t.shape) <= array.ndim and all(
                    d in (1, a) for d, a in zip(reversed(t.shape), reversed(array.shape))):
                found.append(("chain", step, k))
    return found


# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------

def check(recipe, second_order=False, stats=None):
    """Run every check on ``recipe``; raise ``Mismatch`` for the first that fails. ``stats`` counts which
    checks ran, per op."""
    stats = stats if stats is not None else _Stats()
    try:
        built = build(recipe)
    except GraphcoreError as e:
        raise Mismatch("build", f"a recorded recipe no longer builds: {e.detail}") from None
    ops = [step["op"] for step in recipe["steps"]]
    tensors = [t for outputs in built.outputs for t in outputs]
    try:
        with gc.Session(built.graph, seed=0) as sess:
            before = {name: np.array(v) for name, v in sess.variables.items()}   # writes happen in the run
            values = sess.run(tensors, built.feeds)
            _check_inferred(tensors, values)
            stats.count("interpreter", ops)
            looped = [step["op"] for step in recipe["steps"] if step.get("in_scan")]
            if looped:
                stats.count("in_scan_body", looped)
            _check_onnx(built, before, tensors, values, ops, stats)
            if _differentiable(built, recipe):
                grads, grad_values = _check_gradients(built, sess, tensors, values, recipe, second_order)
                stats.count("grad2" if second_order else "grad", ops)
                if grads:   # the gradient graph (gradient-only ops, backward loops) through ONNX too
                    _check_onnx(built, before, grads, grad_values, ops, stats, check="onnx_grad")
    except Mismatch:
        raise
    except GraphcoreError as e:
        raise Mismatch("crash", f"{type(e).__name__}: {e.detail}") from None
    except Exception as e:   # noqa: BLE001  (a raw exception anywhere is a finding)
        raise Mismatch("crash", f"{type(e).__name__}: {e}") from None


def _check_inferred(tensors, values):
    for t, v in zip(tensors, values):
        v = np.asarray(v)
        if v.dtype != t.dtype or len(v.shape) != len(t.shape) or any(
                d is not None and d != s for d, s in zip(t.shape, v.shape)):
            raise Mismatch("infer", f"{t.name}: inferred {t.dtype}{t.shape}, kernel gave {v.dtype}{v.shape}")


def _check_onnx(built, variables, tensors, values, ops, stats, check="onnx"):
    """``tensors`` (the graph's outputs, or with ``check="onnx_grad"`` its gradient graph's) exported and run
    by onnxruntime must equal the interpreter's ``values``. ``variables``: their values before the
    interpreter's run (a write op's file starts from them too). A graph that draws random numbers is compared
    in shapes and dtypes only: ONNX's random ops have their own stream (tests/test_export_training.py checks
    their statistics)."""
    from graphcore.export import REASONS, ExportError, InferenceSession, to_onnx
    reasons = sorted({n.type for n in _all_nodes(built.graph) if n.type in REASONS})
    if reasons:
        stats.count("onnx_skipped", ops, reasons)
        return
    random = any(n.type in RANDOM_OPS for n in _all_nodes(built.graph))
    try:
        # The random feeds' unknown leading sizes are not one batch: every unknown dimension gets its own name.
        proto = to_onnx(built.graph, inputs=built.inputs, outputs=tensors, session=variables, dynamic_batch=None)
    except ExportError as e:
        if "no ONNX converter is registered" in e.detail:
            raise Mismatch("export", e.detail) from None
        stats.count("onnx_refused", ops, [e.node.type if e.node is not None else e.detail.split(":")[0]])
        return   # a documented refusal (a training-mode switch, say): not exportable, like a REASON
    feeds = {ph.name: built.feeds[ph] for ph in built.inputs}
    try:
        got = InferenceSession(proto, device="cpu").run(feeds)
        runner = "onnxruntime"
    except GraphcoreError:   # onnxruntime has no kernel for some op/dtype pair: the reference evaluator
        from onnx.reference import ReferenceEvaluator
        try:
            got = ReferenceEvaluator(proto).run(None, feeds)
        except Exception:   # noqa: BLE001 — neither runner implements this combination (onnx.reference
            # also fails inside some kernels onnxruntime lacks, e.g. grouped float64 ConvTranspose)
            stats.count(f"{check}_unrunnable", ops)
            return
        runner = "reference"
    got = got if isinstance(got, list) else [got]
    for t, expected, actual in zip(tensors, values, got):
        expected, actual = np.asarray(expected), np.asarray(actual)
        if random and (expected.shape != actual.shape or expected.dtype != actual.dtype):
            raise Mismatch(check, f"{t.name}: interpreter {expected.dtype}{expected.shape}, "
                                  f"{runner} {actual.dtype}{actual.shape}")
        if not random:
            _compare(t, expected, actual, runner, check)
    stats.count(f"{check}_random_shapes_only" if random else f"{check}_{runner}", ops)


# Ops that draw random numbers (Dropout in training mode).
RANDOM_OPS = {"RandomNormal", "RandomUniform", "Bernoulli", "Dropout"}


def _compare(t, expected, actual, runner, check):
    if expected.shape != actual.shape:
        raise Mismatch(check, f"{t.name}: interpreter shape {expected.shape}, {runner} {actual.shape}")
    if expected.dtype.kind != "f":
        if not np.array_equal(expected, actual):
            raise Mismatch(check, f"{t.name}: interpreter {expected.tolist()}, {runner} {actual.tolist()}")
        return
    rtol, atol = TOLERANCE[expected.dtype.name]
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    error = np.abs(expected.astype(np.float64) - actual)
    if not np.all(error <= atol * scale + rtol * np.abs(expected)):
        raise Mismatch(check, f"{t.name}: max |interpreter − {runner}| = {error.max():.3g} "
                              f"(values up to {scale:.3g})")


def _differentiable(built, recipe):
    """float64 throughout, something to differentiate, and only differentiable, stateless ops (StopGradient
    has a zero gradient on purpose)."""
    nodes = list(_all_nodes(built.graph))
    return built.float_inputs and all(t.dtype.kind != "f" or t.dtype == np.float64 for n in nodes for t in n.outputs) \
        and all(n.op.differentiable and not n.op.stateful and n.type != "StopGradient" for n in nodes
                if n.type not in LEAVES)


def _all_nodes(graph):
    """The graph's nodes and, recursively, those of the loop bodies they carry."""
    for node in graph.nodes:
        yield node
        body = node.attrs.get("body")
        if isinstance(body, gc.Graph):
            yield from _all_nodes(body)


def _check_gradients(built, sess, tensors, values, recipe, second_order):
    """Gradients (and on request a gradient of a gradient) against finite differences; returns the gradient
    tensors and their values, for the ONNX check of the gradient graph."""
    rng = np.random.default_rng([recipe["seed"], 99])
    with built.graph.as_default():
        terms = [gc.reduce_sum(t * gc.constant(rng.normal(size=np.shape(v)).astype(t.dtype)))
                 for t, v in zip(tensors, values) if t.dtype.kind == "f"]
        if not terms:
            return [], []
        objective = gc.add_n(terms) if len(terms) > 1 else terms[0]
        grads = gc.gradients(objective, built.float_inputs, unconnected="zero")
    symbolic = sess.run(grads, built.feeds)
    for ph, g in zip(built.float_inputs, symbolic):
        _against_differences(sess, objective, built.feeds, ph, g, rng, "grad", 1e-5)
    if second_order:
        x = built.float_inputs[0]
        with built.graph.as_default():
            inner = gc.reduce_sum(grads[0] * gc.constant(rng.normal(size=built.feeds[x].shape)))
            (h,) = gc.gradients(inner, [x], unconnected="zero")
        second = sess.run(h, built.feeds)
        _against_differences(sess, inner, built.feeds, x, second, rng, "grad2", 1e-4)
        grads, symbolic = grads + [h], symbolic + [second]
    unique = dict(zip(grads, symbolic))   # two inputs may share one gradient tensor
    return list(unique), list(unique.values())


def _against_differences(sess, objective, feeds, ph, symbolic, rng, kind, tol):
    value = feeds[ph]
    coordinates = list(np.ndindex(value.shape))
    if len(coordinates) > FD_COORDINATES:
        coordinates = [coordinates[i] for i in rng.choice(len(coordinates), FD_COORDINATES, replace=False)]
    for index in coordinates:
        old = value[index]
        value[index] = old + FD_STEP
        up = float(sess.run(objective, feeds))
        value[index] = old - FD_STEP
        down = float(sess.run(objective, feeds))
        value[index] = old
        numeric = (up - down) / (2 * FD_STEP)
        got = float(np.asarray(symbolic)[index])
        if abs(got - numeric) > tol * max(1.0, abs(numeric)):
            raise Mismatch(kind, f"d/d{ph.name}{list(index)}: symbolic {got:.9g}, finite differences "
                                 f"{numeric:.9g}")


# ---------------------------------------------------------------------------------------------------------
# Shrinking and reproducers
# ---------------------------------------------------------------------------------------------------------

def fails_the_same(recipe, kind, second_order):
    try:
        build(recipe)
    except GraphcoreError:
        return False
    try:
        check(recipe, second_order)
    except Mismatch as e:
        return e.kind == kind
    return False


def shrink(recipe, kind, second_order=False):
    """A smaller recipe that fails the same check: greedy, until no single simplification keeps the failure."""
    current = json.loads(json.dumps(recipe))
    changed = True
    while changed:
        changed = False
        for candidate in _simpler(current):
            if fails_the_same(candidate, kind, second_order):
                current, changed = candidate, True
                break
    return current


def _simpler(recipe):
    steps = recipe["steps"]
    for drop in reversed(range(len(steps))):   # drop a step; its uses become placeholders
        kept = []
        for index, step in enumerate(steps):
            if index == drop:
                continue
            sources = [_renumber(s, drop) for s in step["inputs"]]
            kept.append(dict(step, inputs=sources))
        if kept:
            yield dict(recipe, steps=kept)
    for index, step in enumerate(steps):       # take a step out of its loop body
        if step.get("in_scan"):
            yield dict(recipe, steps=steps[:index] + [dict(step, in_scan=False)] + steps[index + 1:])
    for index, step in enumerate(steps):       # make one input a plain placeholder with a known batch
        for i, source in enumerate(step["inputs"]):
            if source[0] in ("chain", "broadcast") or source == ["feed", True]:
                sources = list(step["inputs"])
                sources[i] = ["feed", False]
                yield dict(recipe, steps=steps[:index] + [dict(step, inputs=sources)] + steps[index + 1:])


def _renumber(source, dropped):
    if source[0] != "chain":
        return source
    if source[1] == dropped:
        return ["feed", False]
    return ["chain", source[1] - (source[1] > dropped), source[2]]


_CASE = '''"""Found by tools/fuzz.py ({origin}); shrunk to {steps} step(s).

{kind}: {message}
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import fuzz  # noqa: E402

RECIPE = {recipe}


def test_{name}():
    fuzz.check(RECIPE, second_order={second_order})
'''


def write_case(directory, recipe, mismatch, origin, second_order):
    """Write the reproducer as a pytest file; return its path."""
    text = json.dumps(recipe, sort_keys=True)
    ops = "_".join(dict.fromkeys(step["op"].lower() for step in recipe["steps"]))
    name = f"{mismatch.kind}_{ops}_{zlib.crc32(text.encode()):08x}"
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"test_{name}.py")
    message = str(mismatch).split(": ", 1)[1].splitlines()[0]
    with open(path, "w") as f:
        f.write(_CASE.format(origin=origin, steps=len(recipe["steps"]), kind=mismatch.kind,
                             message=message.replace('"""', "'''"), recipe=pprint.pformat(recipe, width=100),
                             name=name, second_order=second_order))
    return path


# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------

class _Stats:
    """Per check: how many graphs it ran on, and how often each op was in one of them."""

    def __init__(self):
        self.by_check = collections.defaultdict(collections.Counter)
        self.graphs = collections.Counter()

    def count(self, name, ops, causes=()):
        self.graphs[name] += 1
        for op in set(ops):
            self.by_check[name][op] += 1
        for cause in causes:   # the ops whose REASON (or refusal) made the graph not exportable
            self.by_check[name + "_because"][cause] += 1

    def summary(self):
        return {name: dict(sorted(counter.items())) for name, counter in sorted(self.by_check.items())}


def run(graphs, seed, cases=None, log=None):
    """Fuzz ``graphs`` graphs from ``seed``; returns a report (counts, coverage, mismatches)."""
    rng = np.random.default_rng(seed)
    stats, mismatches, started = _Stats(), [], time.perf_counter()
    for number in range(graphs):
        recipe = generate(rng, seed * 1_000_003 + number, first=OPS[number % len(OPS)])
        if not recipe["steps"]:
            continue
        second_order = number % SECOND_ORDER_EVERY == 0
        try:
            check(recipe, second_order, stats)
        except Mismatch as e:
            small = shrink(recipe, e.kind, second_order)
            try:
                check(small, second_order)
                reason = e
            except Mismatch as again:
                reason = again
            entry = {"graph": number, "kind": e.kind, "message": str(e), "recipe": small}
            if cases:
                entry["case"] = write_case(cases, small, reason, f"--seed {seed}, graph {number}", second_order)
            mismatches.append(entry)
            if log:
                print(f"graph {number}: MISMATCH {e}" + (f" → {entry['case']}" if cases else ""), file=log)
        if log and (number + 1) % 500 == 0:
            print(f"{number + 1} graphs, {len(mismatches)} mismatches, {time.perf_counter() - started:.0f} s",
                  file=log, flush=True)
    from graphcore.export import REASONS
    summary = stats.summary()
    covered = set(summary.get("interpreter", {}))
    compared = set(summary.get("onnx_onnxruntime", {})) | set(summary.get("onnx_reference", {}))
    return {"graphs": graphs, "seed": seed, "seconds": round(time.perf_counter() - started, 1),
            "ops_registered": len(OPS), "ops_covered": len(covered), "ops_missing": sorted(set(OPS) - covered),
            "ops_compared_with_onnx": len(compared),
            "exportable_ops_never_compared": sorted(set(OPS) - set(REASONS) - compared),
            "graphs_per_check": dict(sorted(stats.graphs.items())), "mismatches": mismatches, "coverage": summary}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graphs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default=None, help="write shrunk reproducers as pytest files here")
    parser.add_argument("--report", default=None, help="write the full report (JSON) here")
    args = parser.parse_args(argv)
    report = run(args.graphs, args.seed, args.cases, log=sys.stdout)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    checks = {name: len(counts) for name, counts in report["coverage"].items() if not name.endswith("_because")}
    print(f"{report['graphs']} graphs (seed {report['seed']}) in {report['seconds']} s: "
          f"{report['ops_covered']}/{report['ops_registered']} ops covered, {len(report['mismatches'])} mismatches")
    print("graphs per check: " + ", ".join(f"{k} {v}" for k, v in report["graphs_per_check"].items()))
    print("ops covered per check: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    print(f"{report['ops_compared_with_onnx']} ops compared with ONNX; exportable ops never compared: "
          + (", ".join(report["exportable_ops_never_compared"]) or "none"))
    if report["ops_missing"]:
        print("ops never built: " + ", ".join(report["ops_missing"]))
    return 1 if report["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
