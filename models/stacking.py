"""Deep stacking network (Deng & Yu): a stack of simple modules, each seeing the raw input concatenated with
every earlier module's output.

Module m computes H = σ(X_m W + b) and Y = H U. Its upper weights have a closed form, the regularised least
squares fit to the one-hot targets T, U = (HᵀH + λI)⁻¹ HᵀT, computed in the graph by ``gc.linear_solve``.
Because that op has its own gradient, the lower weights W, b are then trained by gradient descent *through*
the closed-form solution (the DSN paper's scheme): the loss ‖H U(W) − T‖² sees U re-solved at every step.
After fitting, U is stored in a variable, so the inference graph is only concat, matmul and sigmoid — it
exports to ONNX, which has no solve op.
"""
import numpy as np

import graphcore as gc

from .unsupervised import digits, seeded_graph


class DeepStackingNetwork:
    """A deep stacking network (Deng & Yu 2011): a stack of modules of sigmoid units, each reading the input
    and every earlier module's class scores. ``modules`` modules of ``hidden`` units; ``outputs[m]`` are the
    class scores after m + 1 modules and ``features[m]`` module m's hidden layer H."""

    def __init__(self, input_dim=64, num_classes=10, modules=4, hidden=100, ridge=1.0, learning_rate=0.01,
                 seed=0):
        with seeded_graph(seed) as graph:
            self.graph = graph
            self.x = gc.placeholder(gc.float32, (None, input_dim), name="x")
            self.targets = gc.placeholder(gc.float32, (None, num_classes), name="targets")
            self.outputs, self.features, self.fit_steps, self.stores, self.losses = [], [], [], [], []
            for m in range(modules):
                with graph.name_scope(f"module_{m}"):
                    self._module(hidden, ridge, learning_rate)
        self.session = gc.Session(graph)

    def _module(self, hidden, ridge, learning_rate):
        inputs = gc.concat([self.x] + self.outputs, axis=1)
        width = inputs.shape[1]
        W = gc.Variable(gc.random_normal((width, hidden), stddev=1.0 / np.sqrt(width)), name="W")
        b = gc.Variable(np.zeros(hidden, np.float32), name="b")
        U = gc.Variable(np.zeros((hidden, self.targets.shape[1]), np.float32), name="U", trainable=False)
        H = gc.sigmoid(gc.matmul(inputs, W) + b)
        with self.graph.name_scope("closed_form"):
            gram = gc.matmul(H, H, transpose_a=True) + ridge * np.eye(hidden, dtype=np.float32)
            solved = gc.linear_solve(gram, gc.matmul(H, self.targets, transpose_a=True))
            loss = gc.reduce_mean(gc.square(gc.matmul(H, solved) - self.targets))
        self.fit_steps.append(gc.train.Adam(learning_rate, name="lower_adam").minimize(loss, [W, b]))
        self.stores.append(gc.assign(U, solved))
        self.losses.append(loss)
        self.features.append(H)
        self.outputs.append(gc.matmul(H, U, name="scores"))

    def fit(self, x, y, steps=15):
        """Fit the modules in order on the whole training set: ``steps`` full-batch updates of the lower
        weights through the solve, then store the solved upper weights. Returns each module's loss curve."""
        feed = {self.x: x, self.targets: np.eye(self.targets.shape[1], dtype=np.float32)[y]}
        curves = []
        for fit_step, store, loss in zip(self.fit_steps, self.stores, self.losses):
            curves.append([float(self.session.run([fit_step, loss], feed)[1]) for _ in range(steps)])
            self.session.run(store, feed)
        return curves

    def accuracy_per_module(self, x, y):
        """Test accuracy using the first 1, 2, … modules."""
        scores = self.session.run(self.outputs, {self.x: x})
        return [float(np.mean(s.argmax(1) == y)) for s in scores]


def train_dsn(data=None, modules=4, steps=15, seed=0):
    """Train a DSN on the digits; returns ``accuracy_per_module`` (test), the fit ``curves`` and the model."""
    data = data or digits()
    dsn = DeepStackingNetwork(data.x_train.shape[1], data.num_classes, modules, seed=seed)
    curves = dsn.fit(data.x_train, data.y_train, steps)
    return {"model": dsn, "curves": curves, "accuracy_per_module": dsn.accuracy_per_module(data.x_test, data.y_test)}
