"""The recipes the ``graphcore`` command runs: train a zoo model on the bundled digits and write its
artefacts (curves, checkpoint, ONNX file checked against onnxruntime, diagram), profile a training step, and
the image-search demo. ``graphcore.cli`` parses the arguments and prints; the work is here.
"""
import inspect
import pathlib

import numpy as np

from .. import export
from .. import models as zoo
from ..diagram import dot_available, render
from ..errors import GraphcoreError
from ..model import Model
from ..models.unsupervised import digits
from ..profiler import profile
from ..trainer import feed_dict
from . import search
from .plot import plot_history


def compile_classifier(model, optimizer):
    """How the command line trains every classifier: labels as class indices, accuracy reported."""
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def digits_dataset(input_shape, seed=0):
    """sklearn's 8×8 digits scaled to [0, 1], shaped for a model: flat 64-vectors, 8 rows of 8 pixels (a
    sequence), or images resized (nearest pixel) to (H, W) with C channels; a stratified 75/25 train/test
    split with a fixed seed."""
    from sklearn.datasets import load_digits   # the optional ``data`` extra
    from sklearn.model_selection import train_test_split
    digits_data = load_digits()
    images = (digits_data.images / 16.0).astype(np.float32)
    if len(input_shape) == 1:
        x = images.reshape(len(images), -1)
    elif len(input_shape) == 2:
        x = images
    else:
        h, w, c = input_shape
        rows, cols = np.arange(h) * 8 // h, np.arange(w) * 8 // w
        x = np.repeat(images[:, rows][:, :, cols][..., None], c, axis=-1)
    return train_test_split(x, digits_data.target.astype(np.int64), test_size=0.25, random_state=seed,
                            stratify=digits_data.target)


def classifier_configuration(name, full=False):
    """The keyword arguments a classifier trains with on the digits: its small configuration (``SMALL``: a
    narrow model on small images, fast in the interpreter, with the ``DIGITS`` settings it needs to learn them)
    or, with ``full``, the builder's defaults. The input follows the digits where the model reads a flat vector
    or a sequence (64 features; 8 steps of 8 pixels); images are resized to the configuration's size."""
    parameters = inspect.signature(zoo.CLASSIFIERS[name]).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    small = {**zoo.SMALL[name], **zoo.DIGITS.get(name, {})}
    config = {**defaults, **({} if full else small), "num_classes": 10}
    shape = tuple(config["input_shape"])
    config["input_shape"] = {1: (64,), 2: (8, 8)}.get(len(shape), shape)
    return config


def seeded(model, seed):
    """``model`` with its graph seeded (TF1's ``tf.set_random_seed``): its initial weights and its random ops'
    draws are the same on every run with the same ``seed``. Before the model's first run, which draws them."""
    model.graph.seed = int(seed)
    return model


def _differences(config, other):
    """``key=value`` for the settings of ``config`` that ``other`` does not share."""
    return ", ".join(f"{key}={value!r}" for key, value in config.items() if other.get(key) != value)


# ----- graphcore train ------------------------------------------------------------------------------------------
def train(name, out, epochs=None, batch_size=32, optimizer="adam", backend="numpy", full=False, seed=0):
    """``graphcore train NAME``: train the zoo model ``name`` on the digits and write its artefacts into the
    folder ``out``; returns {artefact: path}. ``epochs`` None: 10 for classifiers, a family's own default.
    ``seed`` fixes the initial weights, the random draws (dropout) and the shuffling: a rerun is the same run."""
    if name not in zoo.available():
        raise ValueError(f"unknown model {name!r}; `graphcore models` lists them")
    if full and (name not in zoo.CLASSIFIERS or name == "perceptron"):
        raise ValueError(f"--full picks a compile/fit classifier's configuration; {name} trains with its "
                         "own settings")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if backend != "numpy" and (name in zoo.UNSUPERVISED or name == "perceptron"):
        raise ValueError(f"--backend {backend} trains compile/fit classifiers; {name} has its own "
                         "training loop in the interpreter")
    if name in zoo.UNSUPERVISED:
        return train_unsupervised(name, out, epochs, seed)
    if name == "perceptron":
        return train_perceptron(out, epochs)
    return train_classifier(name, out, epochs, batch_size, optimizer, backend, full, seed)


def train_classifier(name, out, epochs=None, batch_size=32, optimizer="adam", backend="numpy", full=False, seed=0):
    """compile/fit on the digits, test accuracy, then the artefacts of every trained model. Where the small
    configuration is not the full model, the first and the last line say so and how to get the full one: a
    learner reading "test accuracy: 0.32" should know it measured a deliberately tiny network."""
    small, whole = classifier_configuration(name), classifier_configuration(name, full=True)
    config = whole if full else small
    tiny = config != whole
    if tiny:
        print(f"training {name} at its small configuration ({_differences(small, whole)}): fast, and "
              f"less accurate than the full model (--full: {_differences(whole, small)})")
    elif full and small != whole:
        print(f"training {name} at its full configuration ({_differences(whole, small)})")
    model = seeded(zoo.get(name, **config), seed)
    x_train, x_test, y_train, y_test = digits_dataset(config["input_shape"])
    compile_classifier(model, optimizer)
    history = model.fit(x_train, y_train, epochs=10 if epochs is None else epochs, batch_size=batch_size,
                        validation_split=0.1, verbose=1, backend=backend, seed=seed)
    print(f"trained by {history.params['backend']}")
    loss, accuracy = model.evaluate(x_test, y_test)
    print(f"test accuracy: {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} held-out digits"
          + (f", by the small configuration of {name} (--full trains the full model)" if tiny else ""))
    artefacts = {"curves": plot_history(history.history, out / "curves.png"),
                 "checkpoint": model.save(str(out / "model.npz"))}
    artefacts.update(export_and_render(model, x_test[:16], out))
    return artefacts


def train_perceptron(out, epochs=None):
    """The perceptron rule on a linearly separable pair of digit classes (0 against 1)."""
    x_train, x_test, y_train, y_test = digits_dataset((64,))
    pick_train, pick_test = y_train <= 1, y_test <= 1
    model = zoo.perceptron(input_shape=(64,))
    mistakes = model.fit(x_train[pick_train], np.where(y_train[pick_train] == 1, 1.0, -1.0),
                         epochs=20 if epochs is None else epochs)
    predictions = model.predict(x_test[pick_test])[:, 0]
    accuracy = np.mean(predictions == np.where(y_test[pick_test] == 1, 1.0, -1.0))
    print(f"perceptron rule: mistakes per epoch {mistakes}; test accuracy on 0 vs 1: {accuracy:.4f}")
    return export_and_render(model, x_test[pick_test][:16], out)


def train_unsupervised(name, out, epochs=None, seed=0):
    """A family's own training function; prints its metrics, saves its curves (and a GAN's sample grid),
    exports and renders its inference model."""
    kwargs = {"seed": seed}
    if epochs is not None:
        kwargs["epochs"] = epochs
    if name in ("gan", "dcgan"):
        kwargs["png_path"] = str(out / "samples.png")
    result = zoo.TRAINERS[name](**kwargs)
    for key, value in result.items():
        numbers = isinstance(value, list) and all(isinstance(v, (float, int, np.floating)) for v in value)
        if isinstance(value, (float, int, np.floating)) or numbers or (isinstance(value, dict) and key != "history"):
            print(f"{key}: {value}")
    artefacts = {"samples": result["png"]} if "png" in result else {}
    history = result.get("history")
    if isinstance(history, dict) and history:
        artefacts["curves"] = plot_history(history, out / "curves.png")
    inference = inference_model(result["model"])
    if inference is not None:
        sample = np.zeros((4,) + tuple(d or 1 for d in inference.input_placeholders[0].shape[1:]), np.float32)
        artefacts.update(export_and_render(inference, sample, out))
    else:   # an RBM or a stacking network: no feed-forward inference model to export; draw its graph
        artefacts["diagram"] = out / ("model.svg" if dot_available() else "model.dot")
        render(result["model"].graph, artefacts["diagram"])
    return artefacts


def inference_model(trained):
    """The part of a trained family that runs at inference: an autoencoder, a generator, or a classifier."""
    for attribute in ("autoencoder", "generator"):
        if isinstance(getattr(trained, attribute, None), Model):
            return getattr(trained, attribute)
    return trained if isinstance(trained, Model) else None


def export_and_render(model, sample, out):
    """ONNX file with its onnxruntime parity check on ``sample``, and the diagram."""
    path = out / "model.onnx"
    export.to_onnx(model, str(path))
    parity = export.check(str(path), model, feeds={model.input_placeholders[0].name: sample}, verbose=False)
    print(f"onnxruntime parity: {parity}")
    if not parity.ok:
        raise GraphcoreError(f"onnxruntime disagrees with the interpreter: {parity}")
    diagram = out / ("model.svg" if dot_available() else "model.dot")
    render(model, diagram)
    return {"onnx": path, "diagram": diagram}


# ----- graphcore profile ----------------------------------------------------------------------------------------
def profile_training_step(model, batch=8, steps=1, seed=0):
    """Profile ``steps`` SGD training steps of a classifier on a random batch (after one untimed step, which
    plans and initialises): what ``graphcore profile MODEL`` reports."""
    if not isinstance(model, Model):
        raise ValueError(f"profiling times a classifier's training step; a {type(model).__name__} trains with its "
                         "own loop (profile it in code: with gc.profile() as prof: ...)")
    if len(model.input_placeholders) != 1 or len(model.output_tensors) != 1:
        raise ValueError("profiling needs a model with one input and one output")
    rng = np.random.default_rng(seed)
    inputs, output = model.input_placeholders[0], model.output_tensors[0]
    x = rng.normal(size=(batch,) + tuple(d or 1 for d in inputs.shape[1:])).astype(inputs.dtype)
    y = rng.integers(0, output.shape[-1] or 2, size=batch)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    train_op, feed = model.compilation.train_op, feed_dict(model, x, y, training=True)
    model.session.run(train_op, feed)
    with profile() as collected:
        for _ in range(steps):
            model.session.run(train_op, feed)
    return collected


# ----- graphcore search -----------------------------------------------------------------------------------------
def search_demo(out, model=None, retrain=False, epochs=30, seed=0, k=10, backend="auto", index=None, query=None,
                queries=8, light_ink=False):
    """``graphcore search``: train (or load, from ``model`` or OUT/embedding.npz) the embedding, export its
    encoder, index images (the folder ``index``, or the digits), answer queries (the files ``query``, or
    ``queries`` held-out digits), write a results grid, and report precision@k on held-out digits for the
    embedding and for raw pixels."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = digits()
    model_path = pathlib.Path(model) if model else out / "embedding.npz"
    if model_path.is_file() and not retrain:
        embed = search.Embedding.load(model_path)
        print(f"embedding: loaded {model_path}")
    else:
        embed = search.train_embedding(data, epochs=epochs, seed=seed)
        embed.save(model_path)
        print(f"embedding: trained on {len(data.x_train)} digits, saved to {model_path}")
    print(f"onnx: {embed.to_onnx(out / 'encoder.onnx')}")
    for name, fn in (("learned embedding", embed), ("raw pixels", search.raw_pixels)):
        engine = search.ImageSearch(fn, data.x_train, data.y_train, backend=backend)
        value = engine.precision_at_k(data.x_test, data.y_test, k)
        print(f"precision@{k} on {len(data.x_test)} held-out digits, {name}: {value:.3f}")
    if index:
        paths = search.image_files(index)
        images = search.read_images(paths, dark_ink=not light_ink)
    else:
        paths, images = None, data.x_train
    engine = search.ImageSearch(embed, images, paths=paths, backend=backend)
    if query:
        asked = search.read_images(query, dark_ink=not light_ink)
        names = [str(q) for q in query]
    else:
        asked = data.x_test[:queries]
        names = [f"held-out digit {i} (a {data.y_test[i]})" for i in range(len(asked))]
    neighbours = engine.search(asked, min(k, len(images)))
    for name, row in zip(names, neighbours):
        found = [str(paths[i]) for i in row] if paths else [f"#{i} ({data.y_train[i]})" for i in row]
        print(f"{name}: {', '.join(found)}")
    print(f"results: {search.write_results(out / 'results.png', asked, images, neighbours)} "
          f"(index of {len(images)} images, {engine.index.backend} search)")
