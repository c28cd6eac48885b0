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
import textwrap

import numpy as np

from .errors import GraphcoreError


def _models():
    import graphcore.models as zoo
    return zoo


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
    from .diagram import load, views
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
    from .diagram.text import shape_text
    return shape_text(graph.values[op.outputs[0]].shape) if op.outputs else ""


def cmd_render(args):
    """Draw a zoo model or an ONNX file; for the grad view a zoo model is compiled first (as ``train`` does),
    so there is a backward pass to draw. Notes from the renderer are one line each, without a source line."""
    import warnings
    from .diagram import render
    target = _target(args.model)
    if args.view == "grad" and not isinstance(target, str) and hasattr(target, "compile") \
            and args.model in _models().CLASSIFIERS and args.model != "perceptron":
        _compile_classifier(target, args.optimizer)
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
            _compile_classifier(model, args.optimizer)
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
    from .errors import FileFormatError
    try:
        return onnx.load(path)
    except Exception as e:   # protobuf's DecodeError and friends
        raise FileFormatError(f"{path} is not a readable ONNX file ({type(e).__name__})") from None


def cmd_bench(args):
    """Latency and throughput per batch size: the NumPy path against device-resident buffers (and CUDA graphs)."""
    import tempfile

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


def _compile_classifier(model, optimizer):
    """How the command line trains every classifier: labels as class indices, accuracy reported."""
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def cmd_profile(args):
    """Time one training step node by node: top op types and layers, and a Chrome trace."""
    from .profiler import profile_training_step
    collected = profile_training_step(_build(args.model), batch=args.batch, steps=args.steps)
    print(collected.table(top=args.top))
    print(f"chrome trace: {collected.save_chrome_trace(args.trace)} (open in chrome://tracing or ui.perfetto.dev)")


def digits_dataset(input_shape, seed=0):
    """sklearn's 8×8 digits scaled to [0, 1], shaped for a model: flat 64-vectors, 8 rows of 8 pixels (a
    sequence), or images resized (nearest pixel) to (H, W) with C channels; a stratified 75/25 train/test
    split with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    if len(input_shape) == 1:
        x = images.reshape(len(images), -1)
    elif len(input_shape) == 2:
        x = images
    else:
        h, w, c = input_shape
        rows, cols = np.arange(h) * 8 // h, np.arange(w) * 8 // w
        x = np.repeat(images[:, rows][:, :, cols][..., None], c, axis=-1)
    return train_test_split(x, digits.target.astype(np.int64), test_size=0.25, random_state=seed,
                            stratify=digits.target)


def classifier_configuration(name, full=False):
    """The keyword arguments a classifier trains with on the digits: its small configuration (``SMALL``: a
    narrow model on small images, fast in the interpreter, with the ``DIGITS`` settings it needs to learn them)
    or, with ``full``, the builder's defaults. The input follows the digits where the model reads a flat vector
    or a sequence (64 features; 8 steps of 8 pixels); images are resized to the configuration's size."""
    zoo = _models()
    parameters = inspect.signature(zoo.CLASSIFIERS[name]).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    small = {**zoo.SMALL[name], **zoo.DIGITS.get(name, {})}
    config = {**defaults, **({} if full else small), "num_classes": 10}
    shape = tuple(config["input_shape"])
    config["input_shape"] = {1: (64,), 2: (8, 8)}.get(len(shape), shape)
    return config


def _differences(config, other):
    """``key=value`` for the settings of ``config`` that ``other`` does not share."""
    return ", ".join(f"{key}={value!r}" for key, value in config.items() if other.get(key) != value)


def cmd_train(args):
    zoo = _models()
    if args.model not in zoo.available():
        raise ValueError(f"unknown model {args.model!r}; `graphcore models` lists them")
    if args.full and (args.model not in zoo.CLASSIFIERS or args.model == "perceptron"):
        raise ValueError(f"--full picks a compile/fit classifier's configuration; {args.model} trains with its "
                         "own settings")
    out = pathlib.Path(args.out or f"out/{args.model}")
    out.mkdir(parents=True, exist_ok=True)
    if args.backend != "numpy" and (args.model in zoo.UNSUPERVISED or args.model == "perceptron"):
        raise ValueError(f"--backend {args.backend} trains compile/fit classifiers; {args.model} has its own "
                         "training loop in the interpreter")
    if args.model in zoo.UNSUPERVISED:
        artefacts = _train_unsupervised(args, out)
    elif args.model == "perceptron":
        artefacts = _train_perceptron(args, out)
    else:
        artefacts = _train_classifier(args, out)
    for name, path in artefacts.items():
        print(f"{name + ':':12s}{path}")


def _train_classifier(args, out):
    """compile/fit on the digits, test accuracy, then the artefacts of every trained model. Where the small
    configuration is not the full model, the first and the last line say so and how to get the full one: a
    learner reading "test accuracy: 0.32" should know it measured a deliberately tiny network."""
    from .plot import plot_history
    zoo = _models()
    small, full = classifier_configuration(args.model), classifier_configuration(args.model, full=True)
    config = full if args.full else small
    tiny = config != full
    if tiny:
        print(f"training {args.model} at its small configuration ({_differences(small, full)}): fast, and "
              f"less accurate than the full model (--full: {_differences(full, small)})")
    elif args.full and small != full:
        print(f"training {args.model} at its full configuration ({_differences(full, small)})")
    model = zoo.get(args.model, **config)
    x_train, x_test, y_train, y_test = digits_dataset(config["input_shape"])
    _compile_classifier(model, args.optimizer)
    history = model.fit(x_train, y_train, epochs=10 if args.epochs is None else args.epochs,
                        batch_size=args.batch_size,
                        validation_split=0.1, verbose=1, backend=args.backend)
    print(f"trained by {history.params['backend']}")
    loss, accuracy = model.evaluate(x_test, y_test)
    print(f"test accuracy: {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} held-out digits"
          + (f", by the small configuration of {args.model} (--full trains the full model)" if tiny else ""))
    artefacts = {"curves": plot_history(history.history, out / "curves.png"),
                 "checkpoint": model.save(str(out / "model.npz"))}
    artefacts.update(_export_and_render(model, x_test[:16], out))
    return artefacts


def _train_perceptron(args, out):
    """The perceptron rule on a linearly separable pair of digit classes (0 against 1)."""
    zoo = _models()
    x_train, x_test, y_train, y_test = digits_dataset((64,))
    pick_train, pick_test = y_train <= 1, y_test <= 1
    model = zoo.perceptron(input_shape=(64,))
    mistakes = model.fit(x_train[pick_train], np.where(y_train[pick_train] == 1, 1.0, -1.0),
                         epochs=20 if args.epochs is None else args.epochs)
    predictions = model.predict(x_test[pick_test])[:, 0]
    accuracy = np.mean(predictions == np.where(y_test[pick_test] == 1, 1.0, -1.0))
    print(f"perceptron rule: mistakes per epoch {mistakes}; test accuracy on 0 vs 1: {accuracy:.4f}")
    return _export_and_render(model, x_test[pick_test][:16], out)


def _train_unsupervised(args, out):
    """A family's own training function; prints its metrics, saves its curves (and a GAN's sample grid),
    exports and renders its inference model."""
    from .plot import plot_history
    zoo = _models()
    kwargs = {"seed": 0}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    if args.model in ("gan", "dcgan"):
        kwargs["png_path"] = str(out / "samples.png")
    result = zoo.TRAINERS[args.model](**kwargs)
    for key, value in result.items():
        numbers = isinstance(value, list) and all(isinstance(v, (float, int, np.floating)) for v in value)
        if isinstance(value, (float, int, np.floating)) or numbers or (isinstance(value, dict) and key != "history"):
            print(f"{key}: {value}")
    artefacts = {"samples": result["png"]} if "png" in result else {}
    history = result.get("history")
    if isinstance(history, dict) and history:
        artefacts["curves"] = plot_history(history, out / "curves.png")
    inference = _inference_model(result["model"])
    if inference is not None:
        sample = np.zeros((4,) + tuple(d or 1 for d in inference.input_placeholders[0].shape[1:]), np.float32)
        artefacts.update(_export_and_render(inference, sample, out))
    else:   # an RBM or a stacking network: no feed-forward inference model to export; draw its graph
        from .diagram import dot_available, render
        artefacts["diagram"] = out / ("model.svg" if dot_available() else "model.dot")
        render(result["model"].graph, artefacts["diagram"])
    return artefacts


def _inference_model(trained):
    """The part of a trained family that runs at inference: an autoencoder, a generator, or a classifier."""
    from .model import Model
    for attribute in ("autoencoder", "generator"):
        if isinstance(getattr(trained, attribute, None), Model):
            return getattr(trained, attribute)
    return trained if isinstance(trained, Model) else None


def _export_and_render(model, sample, out):
    """ONNX file with its onnxruntime parity check on ``sample``, and the diagram."""
    from graphcore import export
    from .diagram import dot_available, render
    path = out / "model.onnx"
    export.to_onnx(model, str(path))
    parity = export.check(str(path), model, feeds={model.input_placeholders[0].name: sample}, verbose=False)
    print(f"onnxruntime parity: {parity}")
    if not parity.ok:
        raise GraphcoreError(f"onnxruntime disagrees with the interpreter: {parity}")
    diagram = out / ("model.svg" if dot_available() else "model.dot")
    render(model, diagram)
    return {"onnx": path, "diagram": diagram}


def cmd_search(args):
    """Image search: train (or load) the embedding, export its encoder, index images, answer queries, write
    a results grid, and report precision@k on held-out digits for the embedding and for raw pixels."""
    from . import search
    from graphcore.models.unsupervised import digits
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = digits()
    model_path = pathlib.Path(args.model) if args.model else out / "embedding.npz"
    if model_path.is_file() and not args.retrain:
        embed = search.Embedding.load(model_path)
        print(f"embedding: loaded {model_path}")
    else:
        embed = search.train_embedding(data, epochs=args.epochs, seed=args.seed)
        embed.save(model_path)
        print(f"embedding: trained on {len(data.x_train)} digits, saved to {model_path}")
    print(f"onnx: {embed.to_onnx(out / 'encoder.onnx')}")
    for name, fn in (("learned embedding", embed), ("raw pixels", search.raw_pixels)):
        engine = search.ImageSearch(fn, data.x_train, data.y_train, backend=args.backend)
        value = engine.precision_at_k(data.x_test, data.y_test, args.k)
        print(f"precision@{args.k} on {len(data.x_test)} held-out digits, {name}: {value:.3f}")
    if args.index:
        paths = search.image_files(args.index)
        images = search.read_images(paths, dark_ink=not args.light_ink)
    else:
        paths, images = None, data.x_train
    engine = search.ImageSearch(embed, images, paths=paths, backend=args.backend)
    if args.query:
        queries = search.read_images(args.query, dark_ink=not args.light_ink)
        names = [str(q) for q in args.query]
    else:
        queries = data.x_test[:args.queries]
        names = [f"held-out digit {i} (a {data.y_test[i]})" for i in range(len(queries))]
    neighbours = engine.search(queries, min(args.k, len(images)))
    for name, row in zip(names, neighbours):
        found = [str(paths[i]) for i in row] if paths else [f"#{i} ({data.y_train[i]})" for i in row]
        print(f"{name}: {', '.join(found)}")
    print(f"results: {search.write_results(out / 'results.png', queries, images, neighbours)} "
          f"(index of {len(images)} images, {engine.index.backend} search)")


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
