"""Accuracy of half-precision files on the bundled digits (issue 26: within 0.5 % of the float32 model).

    python tools/half_precision_accuracy.py [--models lenet5 mlp ...] [--epochs 10] [--digits 450] [--seed 0]

Each small classifier (``models.SMALL`` with the settings ``models.DIGITS`` adds, as ``graphcore train``
configures it for the digits) is trained with Adam in batches of 32 for 10 epochs (``graphcore train``'s
default) by ``fit(backend="onnxruntime")``, and exported three times: float32, ``precision="float16"`` and
``precision="bfloat16"``. The float32 file runs in onnxruntime; the half files run in ``onnx.reference`` (the
ONNX semantics in NumPy: onnxruntime's CPU provider has no bfloat16 kernels and runs float16 nodes between
casts, in float32); float16 through onnxruntime is shown beside it. Accuracy on the held-out digits, and how
many predictions differ from float32's. ``--seed`` fixes the initial weights, the random draws and the
shuffling (the train/test split is ``graphcore train``'s, always the same): a rerun prints the same row.
"""
import argparse
import time

import numpy as np
from onnx.reference import ReferenceEvaluator

from graphcore import export, models
from graphcore.apps.recipes import classifier_configuration, digits_dataset, seeded

CLASSIFIERS = [n for n in models.available("classifier") if n != "perceptron"]


def trained(name, epochs, seed):
    config = classifier_configuration(name)
    model = seeded(models.get(name, **config), seed)
    x_train, x_test, y_train, y_test = digits_dataset(config["input_shape"])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0, backend="onnxruntime", seed=seed)
    return model, x_test, y_test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=CLASSIFIERS, choices=CLASSIFIERS)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--digits", type=int, default=None, help="held-out digits evaluated (default: all 450)")
    parser.add_argument("--seed", type=int, default=0, help="initial weights, dropout and shuffling (default 0)")
    args = parser.parse_args()
    print(f"{args.epochs} epochs of Adam on the digits, seed {args.seed}; accuracy on the held-out digits "
          "(predictions that differ from float32's)")
    print("| model | float32 (onnxruntime) | float16 (onnx.reference) | bfloat16 (onnx.reference) | "
          "float16 (onnxruntime) | worst Δ | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        start = time.perf_counter()
        model, x, y = trained(name, args.epochs, args.seed)
        x, y = x[:args.digits], y[:args.digits]
        name_in = model.input_placeholders[0].name
        full = export.InferenceSession(export.to_onnx(model), device="cpu").run(x).argmax(-1)
        results = {}
        for half in ("float16", "bfloat16"):
            proto = export.to_onnx(model, precision=half)
            results[half] = ReferenceEvaluator(proto).run(None, {name_in: x})[0].argmax(-1)
        results["float16 ort"] = export.InferenceSession(export.to_onnx(model, precision="float16"),
                                                         device="cpu").run(x).argmax(-1)
        base = np.mean(full == y)
        cells = [f"{np.mean(p == y):.2%} ({np.sum(p != full)})" for p in results.values()]
        worst = max(abs(np.mean(p == y) - base) for p in results.values())
        verdict = "✓" if worst <= 0.005 else "✗"
        print(f"| {name} | {base:.2%} | {' | '.join(cells)} | {worst:.2%} {verdict} | "
              f"{time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
