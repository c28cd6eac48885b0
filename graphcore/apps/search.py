"""Image search as a product: embed images with a model trained on the digits, index them, answer queries.

The embedding is the penultimate layer of the zoo's MLP classifier trained on the bundled digits, with its
rows scaled to unit length, so nearest neighbours by Euclidean distance are nearest by cosine. We chose it by
measurement (precision@10 of held-out digits against the training digits, ``tools/image_search.py``): the
convolutional autoencoder's codes lose to raw pixels (0.934 against 0.953) because reconstruction rewards
keeping every stroke, while a classifier's last hidden layer is trained to put digits of one class together.

Search is exact NumPy nearest neighbours (one matrix product) for small indexes; ``faiss-cpu`` (the optional
``faiss`` extra) serves large ones through the same ``add``/``search`` interface. Folders of PNG or JPEG files
are read with Pillow (the optional ``images`` extra): the maintained fork of PIL, with wheels for every
platform and no system libraries to install.
"""
import os
import pathlib

import numpy as np

from .. import export, models, train
from ..errors import BuildError
from ..io import write_png
from ..model import Model
from ..models.unsupervised import image_grid
from ..saving import load_model

#: Above this many indexed rows, ``make_index("auto")`` uses faiss when it is installed.
LARGE_INDEX = 50_000
IMAGE_SHAPE = (8, 8)
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


# ----- indexes ----------------------------------------------------------------------------------------------
class ExactIndex:
    """Exact nearest neighbours by squared Euclidean distance, in NumPy."""

    backend = "numpy"

    def __init__(self, dim):
        self.dim = int(dim)
        self.vectors = np.zeros((0, self.dim), np.float32)

    def __len__(self):
        return len(self.vectors)

    def add(self, vectors):
        self.vectors = np.concatenate([self.vectors, _rows(vectors, self.dim)])

    def search(self, queries, k):
        """(distances, indices) of the ``k`` nearest rows for each query, nearest first."""
        queries = _rows(queries, self.dim)
        k = _check_k(k, len(self))
        d2 = (np.square(queries).sum(1)[:, None] - 2 * queries @ self.vectors.T
              + np.square(self.vectors).sum(1)[None])
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(d2, nearest, 1).argsort(1, kind="stable")
        nearest = np.take_along_axis(nearest, order, 1)
        return np.maximum(np.take_along_axis(d2, nearest, 1), 0), nearest


class FaissIndex:
    """The same interface over faiss's exact ``IndexFlatL2`` (fast BLAS batches, optional GPU builds)."""

    backend = "faiss"

    def __init__(self, dim):
        try:
            import faiss
        except ImportError:
            raise BuildError("the faiss index needs faiss-cpu: pip install 'graphcore[faiss]'") from None
        self.dim = int(dim)
        self.index = faiss.IndexFlatL2(self.dim)

    def __len__(self):
        return self.index.ntotal

    def add(self, vectors):
        self.index.add(_rows(vectors, self.dim))

    def search(self, queries, k):
        distances, indices = self.index.search(_rows(queries, self.dim), _check_k(k, len(self)))
        return distances, indices.astype(np.int64)


def make_index(dim, backend="auto", size=0):
    """An index for ``dim``-dimensional vectors: "numpy", "faiss", or "auto" (faiss for more than
    ``LARGE_INDEX`` rows when it is installed, else NumPy)."""
    if backend == "auto":
        try:
            import faiss  # noqa: F401
            backend = "faiss" if size > LARGE_INDEX else "numpy"
        except ImportError:
            backend = "numpy"
    indexes = {"numpy": ExactIndex, "faiss": FaissIndex}
    if backend not in indexes:
        raise BuildError(f"index backend must be 'auto', 'numpy' or 'faiss', got {backend!r}")
    return indexes[backend](dim)


def _rows(vectors, dim):
    vectors = np.ascontiguousarray(vectors, np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise BuildError(f"the index holds {dim}-dimensional vectors, got an array of shape {vectors.shape}")
    return vectors


def _check_k(k, size):
    if not 1 <= k <= size:
        raise BuildError(f"k must be between 1 and the index size {size}, got {k}")
    return int(k)


def precision_at_k(database_labels, query_labels, neighbours):
    """Mean fraction of each query's retrieved images that share its label."""
    return float(np.mean(np.asarray(database_labels)[neighbours] == np.asarray(query_labels)[:, None]))


# ----- the embedding ----------------------------------------------------------------------------------------
class Embedding:
    """Images (n, 64) in [0, 1] → unit-length codes, by a Keras-style ``encoder`` model."""

    def __init__(self, encoder):
        self.encoder = encoder

    @property
    def dim(self):
        return self.encoder.outputs[0].shape[-1]

    def __call__(self, images):
        codes = self.encoder.predict(np.asarray(images, np.float32).reshape(len(images), -1), batch_size=512)
        return codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)

    def save(self, path):
        return self.encoder.save(path)

    @classmethod
    def load(cls, path):
        return cls(load_model(path))

    def to_onnx(self, path):
        """Export the encoder (images → unnormalised codes) as an ONNX file; returns the path."""
        export.to_onnx(self.encoder, path)
        return path


def train_embedding(data, epochs=30, hidden=(128, 64), seed=0, verbose=0):
    """Train the zoo's MLP classifier on ``data.x_train``/``y_train`` and return its last hidden layer as
    an ``Embedding``."""
    classifier = models.mlp(input_shape=(data.x_train.shape[1],), num_classes=data.num_classes, hidden=hidden)
    classifier.graph.seed = seed
    classifier.compile(train.Adam(0.005), "sparse_categorical_crossentropy", metrics=["accuracy"])
    classifier.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, seed=seed, verbose=verbose)
    penultimate = classifier.layers[-2].output
    return Embedding(Model(classifier.inputs, penultimate, name="embedding"))


def raw_pixels(images):
    """The baseline: images as flat pixel vectors."""
    return np.asarray(images, np.float32).reshape(len(images), -1)


class ImageSearch:
    """An index of images under an embedding: ``search(queries, k)`` gives the nearest indexed images."""

    def __init__(self, embed, images, labels=None, paths=None, backend="auto"):
        self.embed, self.images, self.labels, self.paths = embed, np.asarray(images), labels, paths
        codes = embed(images)
        self.index = make_index(codes.shape[1], backend, len(codes))
        self.index.add(codes)

    def search(self, queries, k=10):
        return self.index.search(self.embed(queries), k)[1]

    def precision_at_k(self, queries, labels, k=10):
        return precision_at_k(self.labels, labels, self.search(queries, k))


# ----- images in and out ------------------------------------------------------------------------------------
def read_images(paths, dark_ink=True):
    """PNG/JPEG files as (n, 64) float32 rows in [0, 1]: greyscale, resized to 8×8 (area average), ink 1.
    ``dark_ink`` (the usual scan or drawing: dark strokes on light paper) inverts the grey levels."""
    try:
        from PIL import Image
    except ImportError:
        raise BuildError("reading image files needs Pillow: pip install 'graphcore[images]'") from None
    rows = []
    for path in paths:
        try:
            with Image.open(path) as image:
                small = image.convert("L").resize(IMAGE_SHAPE[::-1], Image.Resampling.BOX)
        except OSError as e:
            raise BuildError(f"{path}: not a readable image ({e})") from None
        grey = np.asarray(small, np.float32) / 255.0
        rows.append((1.0 - grey if dark_ink else grey).reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, int(np.prod(IMAGE_SHAPE))), np.float32)


def image_files(folder):
    """The PNG and JPEG files under ``folder`` (recursively), in sorted order."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise BuildError(f"{folder} holds no .png, .jpg or .jpeg files")
    return files


def results_grid(queries, database, neighbours):
    """One row per query: the query, a blank cell, then its results nearest first, as a uint8 picture."""
    k = neighbours.shape[1]
    blank = np.zeros(IMAGE_SHAPE, np.float32)
    cells = []
    for query, row in zip(queries, neighbours):
        cells += [np.reshape(query, IMAGE_SHAPE), blank] + [np.reshape(database[i], IMAGE_SHAPE) for i in row]
    return image_grid(np.stack(cells), columns=k + 2)


def write_results(path, queries, database, neighbours):
    return write_png(os.fspath(path), results_grid(queries, database, neighbours))
