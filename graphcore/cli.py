"""The ``graphcore`` command: list, summarise, render, export and train the zoo's models.

    graphcore models
    graphcore summary lenet5            # or FILE.onnx
    graphcore render resnet50 -o resnet50.svg --view layer --depth 1
    graphcore export lenet5 -o lenet5.onnx --opset 21
    graphcore export lenet5 --training -o step.onnx      # the whole training step, trainable by onnxruntime
    graphcore export lenet5 --training --batch-size 64 -o step64.onnx   # static: for CUDA graphs
    graphcore export resnet18 -o r18.onnx --precision float16 --triton models/   # half precision, Triton repo
    graphcore bench r18.onnx --device cuda --batch 1 32  # latency/throughput: NumPy path vs device buffers
    graphcore train lenet5 --epochs 10 --out out/lenet5 [--backend onnxruntime]
    graphcore train mlp --full                            # a classifier's full configuration, not its small one
    graphcore profile vgg16 --batch 8 --trace vgg16.json
    graphcore search --out out/search                     # the image-search demo on the digits
    graphcore search --out DIR --index FOLDER --query a.png b.jpg

Every failure is one line on stderr, ``graphcore: error: …``, with exit status 2.
"""
import argparse
import inspect
import pathlib
import re
import shutil
import sys
import tempfile
import textwrap
import warnings

from .diagram import load, render, views
from .diagram.text import shape_text
from .errors import FileFormatError, GraphcoreError


def _models():
    import graphcore.models as zoo
    return zoo


def _recipes():
    """What ``train``, ``profile`` and ``search`` run (they load the zoo and the exporter, as ``_models``: only
    the commands that need them pay for the import)."""
    from .apps import recipes
    return recipes


def _is_onnx(name):
    return name.lower().endswith(".onnx")


def _build(name, **kwargs):
    zoo = _models()
    if name not in zoo.available():
        raise ValueError(f"unknown model {name!r}; `graphcore models` lists them")
    return zoo.get(name, **kwargs)


def _target(name):
    """An ONNX path (checked to exist) or a zoo model built with its defaults."""
    if _is_onnx(name):
        if not pathlib.Path(name).is_file():
            raise FileNotFoundError(f"no such ONNX file: {name}")
        return name
    return _build(name)


def cmd_models(args):
    """Each model's name (``graphcore.models.NAME``) and the first sentence of its docstring, wrapped."""
    zoo = _models()
    width = max(60, min(shutil.get_terminal_size().columns, 120))
    for kind in ("classifier", "unsupervised"):
        print(f"{kind} models:")
        for name in zoo.available(kind):
            print(textwrap.fill(first_sentence(getattr(zoo, name).__doc__), width, initial_indent=f"  {name:13s}",
                                subsequent_indent=" " * 15))


# The end of a sentence: a full stop before a capital, a digit (LeNet-5's docstring goes on "61,706
# parameters") or RST markup (VGG16's on "``width`` scales"), but not after the abbreviations the docstrings
# use ("Krizhevsky et al. 2012").
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)(?<!\bvs)\.(?=\s+[A-Z0-9(`*:]|$)")
# RST markup as docstrings write it: roles (:class:`Model`), literals (``kind``), emphasis (*x*, **x**).
_RST = [(re.compile(r":[a-z]+:`~?([^`]+)`"), r"\1"), (re.compile(r"``([^`]+)``"), r"\1"),
        (re.compile(r"`([^`]+)`"), r"\1"), (re.compile(r"\*\*([^*]+)\*\*"), r"\1"),
        (re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])"), r"\1")]


def first_sentence(doc):
    """The first sentence of a docstring, whole and as plain text: the first paragraph's lines joined, RST
    markup removed, cut after the first full stop that ends a sentence (or the whole paragraph)."""
    text = " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())
    end = _SENTENCE_END.search(text)
    text = text[:end.end()] if end else text
    for pattern, replacement in _RST:
        text = pattern.sub(replacement, text)
    return text


def cmd_summary(args):
    target = _target(args.model)
    if not isinstance(target, str):
        target.summary()
        return
    graph = load(target)
    ops = [op for op in graph.ops if op.kind == "op"]
    types = {}
    for op in ops:
        types[op.type] = types.get(op.type, 0) + 1
    phases = views.phases_of(graph)
    params = sum(op.params for op, p in zip(graph.ops, phases) if op.kind == "variable" and p == "forward")
    state = sum(op.params for op, p in zip(graph.ops, phases) if op.kind == "variable" and p != "forward")
    print(f"{target}: {len(ops)} nodes, {params:,} parameters"
          + (f" (and {state:,} values of optimizer state)" if state else ""))
    print("inputs:  " + ", ".join(f"{op.name} {_shape(graph, op)}" for op in graph.ops if op.kind == "placeholder"))
    print("ops:     " + ", ".join(f"{t} ×{n}" for t, n in sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))))


def _shape(graph, op):
    return shape_text(graph.values[op.outputs[0]].shape) if op.outputs else ""


def cmd_render(args):
    """Draw a zoo model or an ONNX file; for the grad view a zoo model is compiled first (as ``train`` does),
    so there is a backward pass to draw. Notes from the renderer are one line each, without a source line."""
    target = _target(args.model)
    if args.view == "grad" and not isinstance(target, str) and hasattr(target, "compile") \
            and args.model in _models().CLASSIFIERS and args.model != "perceptron":
        _recipes().compile_classifier(target, args.optimizer)
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        render(target, args.output, view=args.view, depth=args.depth, rankdir=args.rankdir)
    for note in notes:
        print(f"graphcore: note: {note.message}", file=sys.stderr)
    print(f"diagram: {args.output}")


def cmd_export(args):
    """A zoo model (or an ONNX file, for --precision and --triton) to ONNX, and/or a Triton model repository."""
    from graphcore import export
    if not args.output and not args.triton:
        raise ValueError("say where to write: -o FILE.onnx and/or --triton DIR")
    if _is_onnx(args.model):
        if args.training or args.opset:
            raise ValueError("--training and --opset apply to zoo models; an ONNX file is exported as it is")
        proto = export.precision.at_precision(onnx_load(_target(args.model)), args.precision, args.io_dtype) \
            if args.precision else onnx_load(_target(args.model))
        if args.output:
            export.save(proto, args.output)
    else:
        model = _build(args.model)
        if args.training:
            if not hasattr(model, "compile") or args.model == "perceptron":
                raise ValueError(f"{args.model} has no compile/fit training step to export; classifiers do")
            _recipes().compile_classifier(model, args.optimizer)
        proto = export.to_onnx(model, args.output, opset=args.opset, training=args.training,
                               precision=args.precision, io_dtype=args.io_dtype, batch_size=args.batch_size)
    if args.output:
        detail = (" (training step; contract in metadata 'graphcore.training')" if args.training else
                  f" ({args.precision} weights and activations, {args.io_dtype} inputs and outputs)" if args.precision
                  else "")
        print(f"onnx: {args.output}{detail}")
    if args.triton:
        name = pathlib.Path(args.model).stem if _is_onnx(args.model) else args.model
        config = export.triton.write_model_repository(proto, args.triton, name, max_batch_size=args.max_batch_size)
        print(f"triton: {config} (checked against the model's inputs and outputs; model in "
              f"{pathlib.Path(config).parent / '1' / 'model.onnx'})")


def onnx_load(path):
    import onnx
    try:
        return onnx.load(path)
    except Exception as e:   # protobuf's DecodeError and friends
        raise FileFormatError(f"{path} is not a readable ONNX file ({type(e).__name__})") from None


def cmd_bench(args):
    """Latency and throughput per batch size: the NumPy path against device-resident buffers (and CUDA graphs)."""

    from graphcore.export import bench, to_onnx
    with tempfile.TemporaryDirectory(prefix="graphcore-bench-") as folder:
        path = args.model if _is_onnx(args.model) else f"{folder}/{args.model}.onnx"
        if _is_onnx(args.model):
            _target(args.model)
        else:
            to_onnx(_build(args.model), path)
        rows, provider = bench.bench(path, device=args.device, batch_sizes=args.batch, precision=args.precision,
                                     calls=args.calls, repeats=args.repeats)
    precision = f", {args.precision}" if args.precision else ""
    print(f"{args.model} on {provider}{precision}: median of {args.repeats} blocks of {args.calls} runs")
    print(bench.table(rows))


def cmd_profile(args):
    """Time one training step node by node: top op types and layers, and a Chrome trace."""
    collected = _recipes().profile_training_step(_build(args.model), batch=args.batch, steps=args.steps)
    print(collected.table(top=args.top))
    print(f"chrome trace: {collected.save_chrome_trace(args.trace)} (open in chrome://tracing or ui.perfetto.dev)")


def cmd_train(args):
    """Train a zoo model on the bundled digits; print where its artefacts went."""
    artefacts = _recipes().train(args.model, args.out or f"out/{args.model}", epochs=args.epochs,
                                 batch_size=args.batch_size, optimizer=args.optimizer, backend=args.backend,
                                 full=args.full, seed=args.seed)
    for name, path in artefacts.items():
        print(f"{name + ':':12s}{path}")


def cmd_search(args):
    """The image-search demo, or an index of the user's images (``graphcore.apps.recipes.search_demo``)."""
    _recipes().search_demo(args.out, model=args.model, retrain=args.retrain, epochs=args.epochs, seed=args.seed,
                           k=args.k, backend=args.backend, index=args.index, query=args.query,
                           queries=args.queries, light_ink=args.light_ink)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line like every other failure (``graphcore --help`` shows usage)."""

    def error(self, message):
        print(f"graphcore: error: {message} (see graphcore --help)", file=sys.stderr)
        raise SystemExit(2)


def _positive(text):
    """A count given on the command line: a whole number of at least 1 (``--epochs 0`` trains nothing, so it
    is refused rather than read as "the default")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser():
    parser = _Parser(prog="graphcore", description="graphcore's model zoo from the command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list the zoo's models").set_defaults(run=cmd_models)
    p = sub.add_parser("summary", help="layer table of a model, or op counts of an ONNX file")
    p.add_argument("model", help="zoo model name or FILE.onnx")
    p.set_defaults(run=cmd_summary)
    p = sub.add_parser("render", help="draw a model or an ONNX file (svg, png, pdf, dot, or html: interactive)")
    p.add_argument("model", help="zoo model name or FILE.onnx")
    p.add_argument("-o", "--output", required=True, help="output file; the extension picks the format")
    p.add_argument("--view", choices=("op", "layer", "grad"), default=None,
                   help="default: grad for an exported training step, else layer")
    p.add_argument("--depth", type=int, default=1, help="levels of nested scopes drawn as clusters")
    p.add_argument("--rankdir", choices=("TB", "LR"), default="TB")
    p.add_argument("--optimizer", default="adam", choices=("sgd", "momentum", "rmsprop", "adam"),
                   help="for --view grad: the optimizer a zoo classifier is compiled with")
    p.set_defaults(run=cmd_render)
    p = sub.add_parser("export", help="export a zoo model to ONNX (in half precision, or as a Triton repository)")
    p.add_argument("model", help="zoo model name, or FILE.onnx to convert (--precision) or serve (--triton)")
    p.add_argument("-o", "--output", default=None, help="the ONNX file to write")
    p.add_argument("--opset", type=int, default=None)
    p.add_argument("--training", action="store_true", help="export the whole training step (compiled as train does)")
    p.add_argument("--optimizer", default="adam", choices=("sgd", "momentum", "rmsprop", "adam"))
    p.add_argument("--precision", choices=("float16", "bfloat16"), default=None,
                   help="half-precision weights and activations (statistics, softmax, reductions stay float32)")
    p.add_argument("--io-dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                   help="inputs and outputs of a half-precision model (default float32)")
    p.add_argument("--triton", metavar="DIR", default=None,
                   help="write a Triton model repository: DIR/MODEL/config.pbtxt and DIR/MODEL/1/model.onnx")
    p.add_argument("--max-batch-size", type=int, default=64, help="Triton's max_batch_size (dynamic batching)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="a static file for batches of this size: every shape constant, loops unrolled")
    p.set_defaults(run=cmd_export)
    p = sub.add_parser("bench", help="inference latency and throughput per batch size, NumPy path vs on device")
    p.add_argument("model", help="FILE.onnx, or a zoo model name (exported at its default size)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32], help="batch sizes (default 1 8 32)")
    p.add_argument("--precision", choices=("float16", "bfloat16"), default=None, help="convert a float32 file at load")
    p.add_argument("--calls", type=int, default=20, help="runs per timed block")
    p.add_argument("--repeats", type=int, default=5, help="timed blocks (the median is printed)")
    p.set_defaults(run=cmd_bench)
    p = sub.add_parser("profile", help="time a training step per node; print top ops and layers, write a trace")
    p.add_argument("model")
    p.add_argument("--batch", type=_positive, default=8)
    p.add_argument("--steps", type=_positive, default=1, help="profiled training steps (after one untimed step)")
    p.add_argument("--top", type=int, default=10, help="rows per table")
    p.add_argument("--trace", default="profile.json", help="Chrome-trace JSON output (default profile.json)")
    p.set_defaults(run=cmd_profile)
    p = sub.add_parser("train", help="train on the bundled digits; write curves, checkpoint, ONNX, diagram")
    p.add_argument("model")
    p.add_argument("--epochs", type=_positive, default=None, help="default: 10 for classifiers, the family's own")
    p.add_argument("--batch-size", type=_positive, default=32)
    p.add_argument("--full", action="store_true",
                   help="a classifier's full configuration (the builder's defaults; ImageNet-sized images for the "
                        "image models, slow in the interpreter) instead of its small one")
    p.add_argument("--out", default=None, help="output directory (default out/MODEL)")
    p.add_argument("--backend", choices=("numpy", "onnxruntime"), default="numpy",
                   help="run the training steps in the interpreter or as an exported ONNX step in onnxruntime")
    p.add_argument("--optimizer", default="adam", choices=("sgd", "momentum", "rmsprop", "adam"))
    p.add_argument("--seed", type=int, default=0, help="initial weights, dropout and shuffling (default 0)")
    p.set_defaults(run=cmd_train)
    p = sub.add_parser("search", help="image search: embed, index, query; precision@k against raw pixels")
    p.add_argument("--out", default="out/search", help="output directory (embedding, encoder.onnx, results.png)")
    p.add_argument("--index", default=None, help="a folder of PNG/JPEG images to index (default: the digits)")
    p.add_argument("--query", nargs="+", default=None, help="query image files (default: held-out digits)")
    p.add_argument("--queries", type=int, default=8, help="held-out digits to query when no --query is given")
    p.add_argument("--k", type=int, default=10, help="results per query")
    p.add_argument("--model", default=None, help="embedding model file (default OUT/embedding.npz)")
    p.add_argument("--retrain", action="store_true", help="train the embedding even if its file exists")
    p.add_argument("--epochs", type=_positive, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=("auto", "numpy", "faiss"), default="auto", help="nearest-neighbour search")
    p.add_argument("--light-ink", action="store_true", help="images have light strokes on a dark background")
    p.set_defaults(run=cmd_search)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (GraphcoreError, ValueError, FileNotFoundError, OSError) as e:
        message = str(e).strip().splitlines()
        print(f"graphcore: error: {message[0] if message else type(e).__name__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
