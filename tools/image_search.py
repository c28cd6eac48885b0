"""Content-based image search over the digits: encode images with the convolutional autoencoder and return
each query's nearest neighbours in code space; precision@k (neighbours of the query's own class) is
compared with nearest neighbours on raw pixels.

    python tools/image_search.py --epochs 20 --k 10
"""
import argparse

import numpy as np


def nearest_neighbours(database, queries, k=10):
    """Indices of the k database rows nearest (Euclidean) to each query, closest first."""
    d2 = np.square(queries).sum(1)[:, None] - 2 * queries @ database.T + np.square(database).sum(1)[None]
    nearest = np.argpartition(d2, k, axis=1)[:, :k]
    order = np.take_along_axis(d2, nearest, 1).argsort(1)
    return np.take_along_axis(nearest, order, 1)


def precision_at_k(database_labels, query_labels, neighbours):
    """Mean fraction of each query's retrieved images that share its label."""
    return float(np.mean(database_labels[neighbours] == query_labels[:, None]))


class ImageIndex:
    """A searchable database: codes of the database images under ``encode`` (any array → array function)."""

    def __init__(self, encode, images, labels=None):
        self.encode, self.labels = encode, labels
        self.codes = encode(images)

    def search(self, queries, k=10):
        return nearest_neighbours(self.codes, self.encode(queries), k)


def compare(data, encode, k=10):
    """precision@k of held-out test queries against the training set, by codes and by raw pixels."""
    results = {}
    for name, fn in (("autoencoder", encode), ("raw_pixels", lambda x: np.asarray(x, np.float32))):
        index = ImageIndex(fn, data.x_train, data.y_train)
        results[name] = precision_at_k(data.y_train, data.y_test, index.search(data.x_test, k))
    return results


def main(argv=None):
    from graphcore.models.autoencoders import train_autoencoder
    from graphcore.models.unsupervised import digits
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = digits()
    trained = train_autoencoder("convolutional", data, args.epochs, args.seed)
    for name, value in compare(data, trained["model"].encode, args.k).items():
        print(f"precision@{args.k} {name}: {value:.3f}")


if __name__ == "__main__":
    main()
