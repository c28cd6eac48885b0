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

import networkx as nx

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

#: Source folders and the package each one installs as (pyproject.toml's package-dir).
PACKAGES = {"graphcore": "graphcore", "models": "graphcore.models", "export": "graphcore.export"}


class Layer(NamedTuple):
    name: str
    modules: tuple   # dotted names: a package stands for all its modules
    summary: str     # one line, for the picture
    paragraph: str   # what the layer is for, for docs/architecture.md


LAYERS = (
    Layer("ground", ("graphcore.errors", "graphcore.sites", "graphcore.dtypes", "graphcore.shapes", "graphcore.compat",
                     "graphcore.version", "graphcore.nest", "graphcore.memory", "graphcore.io", "graphcore.kernels",
                     "graphcore.lookup", "graphcore.unsupported", "graphcore.progress"),
          "errors, creation sites, dtypes, shapes, safe files, NumPy kernels",
          "What everything else stands on, knowing nothing of graphs: the errors (every one names the user's "
          "file:line, found by `sites.py` walking the stack past graphcore's own directories), dtypes and "
          "shapes and their rules, the TF1/Keras name declarations (`compat.py`), atomic file writes and "
          "pickle-free array archives (`io.py`, with the PNG encoder), the im2col convolution and pooling "
          "kernels in plain NumPy (`kernels/`), the progress bars and the version."),
    Layer("graph", ("graphcore.graph",), "nodes, tensors, scopes; operators through a table the ops fill in",
          "`Graph`, `Node`, `Tensor`, name scopes, control dependencies, the default graph and session stacks. "
          "Tensor's operators (`a + b`, `x[1:]`, `x.T`) call `graph.OPERATORS`, a table the op library fills "
          "in when it is imported, and a notebook shows a graph through `graph.NOTEBOOK_VIEWS`, which the "
          "diagrams fill in: the graph never imports anything above it (JAX's autodidax gives its tracers their "
          "operators the same way)."),
    Layer("op", ("graphcore.op",), "the op contract and the registry",
          "The contract every op fulfils (`infer`, `compute`/`make_kernel`, `grad`, `samples`), the `REGISTRY` "
          "they register into, and the conversion of Python and NumPy values into constants, made through the "
          "registered `Constant` op rather than by importing the op library."),
    Layer("ops", ("graphcore.ops",), "every primitive: kernel, shape rule, gradient, samples",
          "Every primitive op, one class each: its kernel, shape and dtype rule, gradient built from other ops, "
          "and the samples the registry-driven tests and the fuzzer use. Modules inside the library import one "
          "another in one direction (`reduce` builds on `array`, `array` on the run-time shape ops of "
          "`dynamic`, never the reverse)."),
    Layer("engine", ("graphcore.gradients", "graphcore.plan", "graphcore.program", "graphcore.session"),
          "symbolic gradients, the planner, the interpreter",
          "Symbolic differentiation (`gradients`), the planner that orders, prunes and compiles a fetch into "
          "straight-line Python (`plan`, `program`), and `Session`, the interpreter users run graphs with."),
    Layer("control", ("graphcore.control", "graphcore.autodiff"),
          "loops (Scan, backprop through time), Cond; Jacobians as a Scan",
          "Control flow above the engine, as PyTensor keeps `scan/` above graph and compile: body graphs, the "
          "`Scan` loop and its runner, backpropagation through time, `cond`; and forward mode and Jacobians "
          "(`autodiff`), which trace one vector-Jacobian product into a Scan over output rows."),
    Layer("building blocks", ("graphcore.train", "graphcore.layers", "graphcore.nn", "graphcore.variables",
                              "graphcore.initializers", "graphcore.regularizers", "graphcore.activations",
                              "graphcore.recurrent", "graphcore.losses"),
          "TF1's optimizers and tf.nn, Keras layers, losses",
          "What models are built from: TF1's optimizers, savers and clipping (`train/`), TF1's `tf.nn` "
          "functions, the Keras-style layers (with the NHWC/NCHW layout in one module, `layers/layout.py`), "
          "initializers, regularizers, activations, losses and the recurrent cells."),
    Layer("model and training", ("graphcore.model", "graphcore.trainer", "graphcore.saving", "graphcore.training",
                                 "graphcore.metrics", "graphcore.callbacks", "graphcore.validation",
                                 "graphcore.optimizers"),
          "Model; compile/fit; model files; metrics, callbacks",
          "Keras's `Model` and `Sequential` (structure), `compile`/`fit`/`evaluate`/`predict` (`trainer`), model "
          "files (`saving`, which rebuilds models through the classes `model.py` enters in `saving.MODEL_CLASSES`), "
          "metrics, callbacks and the checks of user data. `fit`'s backends are a registry "
          "(`trainer.BACKENDS`): onnxruntime's entry names the exporter module that registers it, so this "
          "layer never imports the exporter."),
    Layer("tools", ("graphcore.diagram", "graphcore.profiler"), "diagrams, the profiler",
          "Looking at graphs: graphviz diagrams, the interactive page and the notebook views (`diagram/`), and "
          "the per-node profiler with its Chrome traces."),
    Layer("face", ("graphcore",), "the package's public names (import graphcore as gc)",
          "`graphcore/__init__.py`: the names `import graphcore as gc` offers. It may import every layer below; "
          "the zoo and the exporter load on first use (`gc.models`, `gc.export`)."),
    Layer("above the face", ("graphcore.export", "graphcore.models", "graphcore.apps", "graphcore.cli"),
          "ONNX export and import, the zoo, applications, the command",
          "Users of the public API: ONNX export and import and onnxruntime training (`graphcore.export`), the "
          "model zoo (`graphcore.models`), the applications (`graphcore.apps`: image search, training curves, "
          "the recipes `graphcore train`, `profile` and `search` run) and the `graphcore` command (`cli.py`), "
          "which only parses arguments and prints."),
)

#: Tables a layer fills in for a layer below it (how the lower layer reaches up without importing):
#: (filling module, module holding the table, the table's name).
FILLED_FROM_ABOVE = (
    ("graphcore.ops", "graphcore.graph", "OPERATORS"),
    ("graphcore.diagram.notebook", "graphcore.graph", "NOTEBOOK_VIEWS"),
    ("graphcore.ops.state", "graphcore.op", "REGISTRY"),
    ("graphcore.export.trainer", "graphcore.trainer", "BACKENDS"),
)

#: Upward imports allowed anyway, each with its reason (at most three).
ALLOWED = {}

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


#: What the no-cycle rule covers: the engine and everything in graphcore/ but the exporter and the zoo, which
#: sit above the face and import it (``graphcore.export`` imports ``graphcore``, which loads it on first use).
CORE_EXCLUDES = ("graphcore.export", "graphcore.models")


def cycles(found=None):
    """The import cycles of the core, as sorted lists of modules (strongly connected components of more than
    one module), counting imports inside functions: within a layer too, imports run one way."""
    def core(module):
        return not any(module == e or module.startswith(e + ".") for e in CORE_EXCLUDES)
    graph = nx.DiGraph()
    graph.add_edges_from((i.importer, i.imported) for i in (all_imports() if found is None else found)
                         if core(i.importer) and core(i.imported) and i.importer != i.imported)
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)
