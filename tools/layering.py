"""graphcore's layers: which module may import which.

A module may import from its own layer and the layers below it, never from a layer above, not even inside a
function: that is what lets a reader learn the code bottom-up and a changer see what a change can reach.
``LAYERS`` is the one table of the order; ``tests/test_layering.py`` checks every import of graphcore/,
export/ and models/ against it (read with ``ast``: module level and inside functions), and
``tools/architecture_doc.py`` draws it as docs/architecture.svg. A new module must be placed here.

A module belongs to the layer of the longest entry that names it or a package above it
(``graphcore.ops.math`` → the ``graphcore.ops`` entry).
"""
import ast
import os
from typing import NamedTuple

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

#: Source folders and the package each one installs as (pyproject.toml's package-dir).
PACKAGES = {"graphcore": "graphcore", "models": "graphcore.models", "export": "graphcore.export"}


class Layer(NamedTuple):
    name: str
    modules: tuple   # dotted names: a package stands for all its modules
    summary: str     # one line, for the picture


LAYERS = (
    Layer("ground", ("graphcore.errors", "graphcore.sites", "graphcore.dtypes", "graphcore.shapes", "graphcore.compat",
                     "graphcore.version", "graphcore.nest", "graphcore.memory", "graphcore.io", "graphcore.kernels",
                     "graphcore.lookup", "graphcore.unsupported", "graphcore.progress"),
          "errors that name the user's line, dtypes, shapes, safe files, NumPy kernels"),
    Layer("graph", ("graphcore.graph",), "nodes, tensors, scopes; operators through a table the ops fill in"),
    Layer("op", ("graphcore.op",), "the op contract and the registry"),
    Layer("ops", ("graphcore.ops",), "every primitive: kernel, shape rule, gradient, samples"),
    Layer("engine", ("graphcore.gradients", "graphcore.plan", "graphcore.program", "graphcore.session"),
          "symbolic gradients, the planner, the interpreter"),
    Layer("control", ("graphcore.control", "graphcore.autodiff"),
          "loops (Scan, backprop through time), Cond; Jacobians as a Scan"),
    Layer("building blocks", ("graphcore.train", "graphcore.layers", "graphcore.nn", "graphcore.variables",
                              "graphcore.initializers", "graphcore.regularizers", "graphcore.activations",
                              "graphcore.recurrent", "graphcore.losses"),
          "TF1's optimizers and tf.nn, Keras layers, losses"),
    Layer("model and training", ("graphcore.model", "graphcore.trainer", "graphcore.saving", "graphcore.training",
                     "graphcore.metrics", "graphcore.callbacks", "graphcore.validation", "graphcore.optimizers"),
          "Model; compile/fit; model files; metrics, callbacks"),
    Layer("tools", ("graphcore.diagram", "graphcore.profiler"), "diagrams, the profiler"),
    Layer("face", ("graphcore",), "the package's public names (import graphcore as gc)"),
    Layer("above the face", ("graphcore.export", "graphcore.models", "graphcore.apps", "graphcore.cli"),
          "ONNX export and import, the zoo, applications, the command"),
)

#: Upward imports allowed anyway, each with its reason (at most three).
ALLOWED = {
    ("graphcore.ops.nn", "graphcore.gradients"):
        "BatchNormGrad's own gradient (second order) differentiates batch norm's gradient formula written in "
        "primitives: the fused op keeps one rule, and the differentiator does the rest",
    ("graphcore.ops.cell", "graphcore.gradients"):
        "likewise LSTMGatesGrad's gradient differentiates the gates' gradient formula (a formula hook that "
        "gradients.py expands would remove both entries)",
}

#: Upward imports that the other branches of issue 24 remove (the owner empties this when merging them):
#: (importing module, imported module) → the branch and what removes it.
PENDING_OTHER_BRANCHES = {
    ("graphcore.ops.math", "graphcore.gradients"): "engine: the grad contract drops wants_gradient",
    ("graphcore.ops.conv", "graphcore.gradients"): "engine: the grad contract drops wants_gradient",
    ("graphcore.ops.scan", "graphcore.gradients"): "engine: Scan and BPTT move to graphcore/control/",
    ("graphcore.ops.scan", "graphcore.session"): "engine: Scan moves to control/ and plans through plan.py",
    ("graphcore.ops.scan", "graphcore.profiler"): "engine: the plan runner's hook replaces body_runner",
    ("graphcore.ops.cond", "graphcore.gradients"): "engine: Cond moves to graphcore/control/",
    ("graphcore.ops.cond", "graphcore.session"): "engine: Cond moves to control/ and plans through plan.py",
    ("graphcore.ops.cond", "graphcore.profiler"): "engine: the plan runner's hook replaces body_runner",
    ("graphcore.session", "graphcore.profiler"): "engine: session fills no profiler; the profiler fills a hook",
}

#: Modules the table places that the other branches create (graphcore.plan, graphcore.control).
PENDING_MODULES = {"graphcore.plan", "graphcore.control"}


def layer_index(module):
    """The position in ``LAYERS`` of the layer that holds ``module``, or None when no entry names it."""
    best, index = -1, None
    for i, layer in enumerate(LAYERS):
        for entry in layer.modules:
            if (module == entry or module.startswith(entry + ".")) and len(entry) > best:
                best, index = len(entry), i
    return index


def modules():
    """{dotted module name: file path} for every module of the three source folders."""
    found = {}
    for folder, package in PACKAGES.items():
        top = os.path.join(ROOT, folder)
        for directory, subdirectories, files in os.walk(top):
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith((".", "__")))
            for file in sorted(files):
                if not file.endswith(".py"):
                    continue
                parts = os.path.relpath(os.path.join(directory, file), top)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                found[".".join([package] + parts)] = os.path.join(directory, file)
    return found


class Import(NamedTuple):
    importer: str
    imported: str
    line: int


def imports(module, path, known):
    """Every graphcore module ``module`` imports, at module level or inside a function: ``from . import x``
    is the module ``x`` when there is one (else the package), ``from .a import b`` the module ``a.b`` or
    ``a``; imports of other libraries are left out."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found += [Import(module, name, node.lineno) for name in dict.fromkeys(names)
                  if name == "graphcore" or name.startswith("graphcore.")]
    return found


def all_imports():
    known = modules()
    return [imp for module, path in known.items() for imp in imports(module, path, known)]


def upward(found=None):
    """The imports that go to a higher layer than their importer's."""
    return [imp for imp in (all_imports() if found is None else found)
            if layer_index(imp.imported) is not None and layer_index(imp.importer) is not None
            and layer_index(imp.imported) > layer_index(imp.importer)]
