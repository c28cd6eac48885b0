"""What the unsupervised and generative families share: the digits data, seeded graphs, one mini-batch
training loop, reconstruction baselines and a PNG grid writer.

The families (``autoencoders``, ``rbm``, ``gan``, ``dsn``) build custom training graphs — penalties,
sampling chains, alternating updates, closed-form solves — that ``Model.compile`` cannot express, so they
run their update ops through ``run_epochs`` here rather than each writing its own loop.
"""
import contextlib
import functools
from types import SimpleNamespace

import numpy as np

from graphcore import Graph
from graphcore.callbacks import CallbackList
from graphcore.layers.base import session_for
from graphcore.io import write_png


@contextlib.contextmanager
def seeded_graph(seed):
    """A fresh default graph whose random nodes (initialisers, noise, Gibbs sampling) are seeded from
    ``seed``: the same program trains to the same numbers on every run."""
    graph = Graph()
    graph.seed = int(seed)
    with graph.as_default():
        yield graph


def apply(stack, x):
    """Call a list of layers in order (a layer called again reuses its weights, which is how encoders,
    decoders and discriminators are shared between an inference model and a training graph)."""
    for layer in stack:
        x = layer(x)
    return x


@functools.lru_cache(maxsize=None)
def digits(test_fraction=0.2, seed=0):
    """scikit-learn's 8×8 digits as flat float32 rows in [0, 1], split by a fixed shuffle. The arrays are
    read-only because the result is cached and shared between callers."""
    from sklearn.datasets import load_digits
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], data.target[order].astype(np.int64)
    cut = int(round(len(x) * (1 - test_fraction)))
    parts = dict(x_train=x[:cut], y_train=y[:cut], x_test=x[cut:], y_test=y[cut:])
    for array in parts.values():
        array.flags.writeable = False
    return SimpleNamespace(**parts, image_shape=(8, 8), num_classes=10)


def mean_image_mse(data):
    """The baseline a reconstruction must beat: predict every test image as the mean training image."""
    return float(np.mean(np.square(data.x_test - data.x_train.mean(0))))


def run_epochs(session, phases, feed, arrays, epochs, batch_size=64, seed=0, callbacks=None, model=None):
    """Shuffled mini-batches over ``arrays`` for ``epochs``; per batch, each phase ``(update_op, metrics)``
    runs in order (a GAN alternates discriminator and generator; an autoencoder has one phase).
    ``feed(*batch)`` gives the feed dict. Returns ``{metric: [per-epoch example-weighted mean]}``; the
    metrics are fetched in the same run as their update, so they describe the weights before it.
    ``callbacks`` (``gc.callbacks``) are called at Keras's hooks with ``model`` as their model; one that
    sets ``model.stop_training`` ends training after the batch."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    history = {name: [] for _, metrics in phases for name in metrics}
    hooks = CallbackList(callbacks, model, {"epochs": epochs, "batch_size": batch_size})
    if model is not None:
        model.stop_training = False
    hooks.on_train_begin({})
    for epoch in range(epochs):
        hooks.on_epoch_begin(epoch, {})
        totals, seen = dict.fromkeys(history, 0.0), 0
        order = rng.permutation(n)
        for batch, start in enumerate(range(0, n, batch_size)):
            hooks.on_train_batch_begin(batch, {})
            index = order[start:start + batch_size]
            feed_dict = feed(*(a[index] for a in arrays))
            for update, metrics in phases:
                _, values = session.run([update, metrics], feed_dict)
                for name, value in values.items():
                    totals[name] += float(value) * len(index)
            seen += len(index)
            hooks.on_train_batch_end(batch, {name: total / seen for name, total in totals.items()})
            if getattr(model, "stop_training", False):
                break
        logs = {name: total / seen for name, total in totals.items()}
        for name, value in logs.items():
            history[name].append(value)
        hooks.on_epoch_end(epoch, logs)
        if getattr(model, "stop_training", False):
            break
    hooks.on_train_end({})
    return history


class GraphWeights:
    """``get_weights``/``set_weights`` over every trainable variable of ``self.graph`` (in creation order),
    for families trained by ``run_epochs``: what ``EarlyStopping(restore_best_weights=True)`` needs."""

    def get_weights(self):
        return [np.array(v) for v in session_for(self.graph).run(self.graph.trainable_variables)]

    def set_weights(self, weights):
        variables = session_for(self.graph).variables
        for var, value in zip(self.graph.trainable_variables, weights, strict=True):
            variables[var.node.name] = np.array(value, dtype=var.dtype)


def image_grid(images, columns=8, scale=4, border=1):
    """Tile (n, h, w) images in [0, 1] into one uint8 picture, each pixel ``scale``×``scale``."""
    images = np.clip(np.asarray(images, np.float64), 0, 1)
    n, h, w = images.shape
    rows = -(-n // columns)
    cell_h, cell_w = h * scale + border, w * scale + border
    grid = np.full((rows * cell_h + border, columns * cell_w + border), 255, np.uint8)
    big = np.kron(images, np.ones((scale, scale)))
    for i, image in enumerate(big):
        top, left = border + (i // columns) * cell_h, border + (i % columns) * cell_w
        grid[top:top + h * scale, left:left + w * scale] = np.round(255 * (1 - image))  # ink dark on white
    return grid


def save_image_grid(images, path, columns=8):
    """Save (n, 64) or (n, 8, 8) digit images as a PNG grid; returns the path."""
    images = np.asarray(images).reshape(len(images), 8, 8)
    return write_png(path, image_grid(images, columns))
