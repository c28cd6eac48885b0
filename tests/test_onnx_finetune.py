"""Fine-tuning someone else's model: a small CNN exported by ``torch.onnx.export`` is imported, graphcore's
gradients with respect to its weights match torch autograd, and a graphcore optimizer fine-tunes it on the
digits, raising its test accuracy."""
import numpy as np
import torch
from sklearn.datasets import load_digits

import graphcore as gc
from graphcore import export
from torch_onnx import torch_to_onnx


class DigitsCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
                                            torch.nn.MaxPool2d(2))
        self.classifier = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def _digits():
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:1200], order[1200:]
    return x[train], y[train], x[test], y[test]


def _imported_with_loss(module):
    imported = export.from_onnx(torch_to_onnx(module, (torch.zeros(2, 1, 8, 8),)))
    with imported.graph.as_default():
        labels = gc.placeholder(gc.int64, (None,), name="labels")
        logits = imported.outputs["y"]
        loss = gc.reduce_mean(gc.sparse_softmax_cross_entropy_with_logits(labels, logits))
        correct = gc.reduce_mean(gc.cast(gc.equal(gc.argmax(logits, -1), labels), gc.float32))
    return imported, labels, loss, correct


def test_gradients_with_respect_to_imported_weights_match_torch_autograd():
    module = DigitsCNN()
    imported, labels, loss, _ = _imported_with_loss(module)
    x, y, _, _ = _digits()
    x, y = x[:16], y[:16]
    names = list(imported.variables)
    assert sorted(names) == sorted(n for n, _ in module.named_parameters())
    with imported.graph.as_default():
        grads = gc.gradients(loss, [imported.variables[n] for n in names])
    ours = imported.session.run(grads, {imported.inputs["x"]: x, labels: y})
    torch_loss = torch.nn.functional.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(y))
    torch_loss.backward()
    params = dict(module.named_parameters())
    for name, g in zip(names, ours):
        np.testing.assert_allclose(g, params[name].grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_fine_tuning_with_a_graphcore_optimizer_raises_test_accuracy():
    imported, labels, loss, correct = _imported_with_loss(DigitsCNN())
    x_train, y_train, x_test, y_test = _digits()
    with imported.graph.as_default():
        step = gc.train.Adam(0.01).minimize(loss)
    sess, x_in = imported.session, imported.inputs["x"]
    before = sess.run(correct, {x_in: x_test, labels: y_test})
    rng = np.random.default_rng(1)
    for _ in range(3):
        order = rng.permutation(len(y_train))
        for i in range(0, len(order), 32):
            batch = order[i:i + 32]
            sess.run(step, {x_in: x_train[batch], labels: y_train[batch]})
    after = sess.run(correct, {x_in: x_test, labels: y_test})
    print(f"test accuracy before fine-tuning {before:.3f}, after {after:.3f}")
    assert before < 0.3 and after > 0.9
