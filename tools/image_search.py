"""Which embedding retrieves digits best? precision@k of held-out test digits against the training digits
for the convolutional autoencoder's codes, the MLP classifier's last hidden layer (what ``graphcore search``
uses) and raw pixels.

    python tools/image_search.py --epochs 20 --k 10
"""
import argparse

import numpy as np


def main(argv=None):
    from graphcore.apps import search
    from graphcore.models.autoencoders import train_autoencoder
    from graphcore.models.unsupervised import digits
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="autoencoder epochs")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = digits()
    autoencoder = train_autoencoder("convolutional", data, args.epochs, args.seed)["model"]
    embeddings = {"convolutional autoencoder": autoencoder.encode,
                  "classifier penultimate layer": search.train_embedding(data, seed=args.seed),
                  "raw pixels": search.raw_pixels}
    for name, embed in embeddings.items():
        engine = search.ImageSearch(lambda x, f=embed: np.asarray(f(x), np.float32), data.x_train, data.y_train)
        print(f"precision@{args.k} {name}: {engine.precision_at_k(data.x_test, data.y_test, args.k):.3f}")


if __name__ == "__main__":
    main()
