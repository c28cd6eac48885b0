"""Bad input, table-driven: every row is a mistake a user can make, the graphcore error it must raise and a
fragment of the message that names what was wrong. Rows marked ``SITE`` also require the user's file:line
(this file) in the message; rows with a ``guard`` name a file the user already had, which the failed call
must leave byte for byte unchanged. CLI rows require exit status 2 and one line on stderr, no traceback.

Never a raw NumPy/IndexError/onnxruntime traceback, never silent garbage.
"""
import contextlib
import functools
import io
import json
import os
import zipfile

import numpy as np
import onnx
import pytest

import graphcore as gc
from graphcore import cli, export, layers
from graphcore.export import ExportError

SITE = True
HERE = os.path.basename(__file__)


class CliFailure(Exception):
    """Stands for 'the graphcore command exits with status 2 and a one-line message'."""


class World:
    """The user's objects and files, built lazily once per module (in a temporary directory)."""

    def __init__(self, root):
        self.root = root

    def path(self, name):
        return os.path.join(self.root, name)

    @functools.cached_property
    def clf(self):
        model = gc.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    @functools.cached_property
    def regressor(self):
        model = gc.Sequential([layers.Dense(2, input_shape=(4,))])
        model.compile(optimizer="sgd", loss="mse")
        return model

    @functools.cached_property
    def two_inputs(self):
        graph = gc.Graph()
        with graph.as_default():
            a, b = gc.Input((4,), name="a"), gc.Input((2,), name="b")
            out = layers.Dense(1)(layers.Concatenate()([a, b]))
        return gc.Model([a, b], out)

    x = property(lambda self: np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32))
    y = property(lambda self: np.arange(10) % 3)

    @functools.cached_property
    def embedder(self):
        return gc.Sequential([layers.Embedding(5, 2, input_length=2)])

    def diverging(self):
        """A regression whose first SGD step overflows float32 weights (learning rate 1e30)."""
        model = gc.Sequential([layers.Dense(2, input_shape=(4,))])
        model.compile(optimizer=gc.optimizers.SGD(1e30), loss="mse")
        return model

    def exploding(self):
        """A model whose forward pass overflows: exp of large activations."""
        model = gc.Sequential([layers.Dense(1, input_shape=(4,), kernel_initializer=gc.initializers.Constant(100.0)),
                               layers.Activation("exponential")])
        model.compile(optimizer="sgd", loss="mse")
        return model

    @functools.cached_property
    def regressor_weights(self):
        return self.regressor.save_weights(self.path("regressor.weights.npz"))

    @functools.cached_property
    def deep_weights(self):
        model = gc.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(3)])
        return model.save_weights(self.path("deep.weights.npz"))

    @functools.cached_property
    def custom_loss_file(self):
        def my_loss(y_true, y_pred):
            return gc.reduce_mean(gc.square(y_true - y_pred), axis=-1)
        model = gc.Sequential([layers.Dense(1, input_shape=(4,))])
        model.compile(optimizer="sgd", loss=my_loss)
        return model.save(self.path("custom_loss.npz"))

    @functools.cached_property
    def model_file(self):
        return self.clf.save(self.path("model.npz"))

    def damaged(self, name, edit, source=None):
        """A copy of the model file (or of ``source``) with ``edit(bytes) -> bytes`` applied."""
        with open(source or self.model_file, "rb") as f:
            data = f.read()
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(edit(data))
        return path

    def edited(self, name, change_config=None, change_arrays=None):
        """The model file rewritten with its architecture JSON (or its arrays) changed by hand."""
        with np.load(self.model_file) as archive:
            arrays = {k: archive[k] for k in archive.files}
        if change_config:
            config = json.loads(str(arrays["architecture"]))
            arrays["architecture"] = np.array(change_config if isinstance(change_config, str)
                                              else json.dumps(change_config(config)))
        if change_arrays:
            change_arrays(arrays)
        path = self.path(name)
        np.savez(path, **arrays)
        return path

    @functools.cached_property
    def ckpt(self):
        graph = gc.Graph()
        with graph.as_default():
            self.ckpt_var = gc.Variable(np.ones((3, 3), np.float32), name="w")
        self.ckpt_session = gc.Session(graph)
        return gc.train.Saver().save(self.ckpt_session, self.path("ckpt.npz"))

    def restore_into(self, name, shape=(3, 3), dtype=np.float32, path=None):
        self.ckpt  # noqa: B018  (the checkpoint exists first)
        graph = gc.Graph()
        with graph.as_default():
            gc.Variable(np.ones(shape, dtype), name=name)
        gc.train.Saver().restore(gc.Session(graph), path or self.ckpt)

    @functools.cached_property
    def onnx_file(self):
        export.to_onnx(self.clf, self.path("clf.onnx"))
        return self.path("clf.onnx")

    @functools.cached_property
    def two_input_onnx(self):
        return export.InferenceSession(export.to_onnx(self.two_inputs), device="cpu")

    def text_file(self, name, text="hello, I am not what you think\n"):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def existing(self, name):
        """A file the user already has (the guard checks that a failed call leaves it alone)."""
        return self.text_file(name, "the user's precious file\n")


def _cli(*argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(list(argv))
        except SystemExit as e:
            code = e.code
    if code != 2:
        raise AssertionError(f"graphcore {' '.join(argv)} exited with {code}, stderr {err.getvalue()!r}")
    raise CliFailure(err.getvalue())


def _graph(build):
    """Build ``build()`` in a fresh graph (the user's line is inside ``build``)."""
    with gc.Graph().as_default():
        return build()


def _ph(shape, dtype=gc.float32, name=None):
    return gc.placeholder(dtype, shape, name=name)


def _run(build, feeds=None, **kwargs):
    """Build in a fresh graph and run: ``build()`` returns (fetches, feed_dict)."""
    graph = gc.Graph()
    with graph.as_default():
        fetches, feed_dict = build()
    with gc.Session(graph, **kwargs) as sess:
        return sess.run(fetches, feed_dict)


def _other_graph_tensor():
    with gc.Graph().as_default():
        return gc.constant(1.0)


def _closed_session():
    graph = gc.Graph()
    with graph.as_default():
        c = gc.constant(1.0)
    sess = gc.Session(graph)
    sess.close()
    return sess.run(c)


def _finalized():
    graph = gc.Graph()
    with graph.as_default():
        c = gc.constant(1.0)
        graph.finalize()
        return c + 1.0


def _flip(offset):
    def edit(data):
        data = bytearray(data)
        data[offset] ^= 0xFF
        return bytes(data)
    return edit


def _middle_of_weights(data):
    """Flip a byte inside the stored kernel array of the model file (found through the zip directory)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo("weight_0000.npy")
    data = bytearray(data)
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 4] ^= 0x55
    return bytes(data)


def _unsaveable(w):
    model = gc.Sequential([layers.Dense(2, activation=lambda x: x * 2.0, input_shape=(4,))])
    return model.save(w.existing("keep_model.npz"))


def _pickled(w):
    path = w.path("pickle.npz")
    np.savez(path, architecture=np.array([{"evil": 1}], dtype=object))
    return gc.load_model(path)


def _npy(w):
    path = w.path("single.npz")
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    return gc.load_model(path)


def _load_wrong_shape():
    with gc.Graph().as_default():
        v = gc.Variable([1.0, 2.0], name="v")
        with gc.Session() as sess:
            v.load([1.0, 2.0, 3.0], sess)


def _closed(sess):
    sess.close()
    return sess


def _state_dir(w, text):
    """A directory whose ``checkpoint`` state file holds ``text``."""
    directory = w.path("states")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "checkpoint"), "w") as f:
        f.write(text)
    return directory


# (id, call(world), expected error, message fragment, flags: SITE and/or guard=file name)
CASES = [
    # ----- graph building ---------------------------------------------------------------------------------
    ("add-broadcast", lambda w: _graph(lambda: _ph((2, 3)) + _ph((4,))), gc.BuildError, "broadcast", SITE),
    ("matmul-inner", lambda w: _graph(lambda: gc.matmul(_ph((2, 3)), _ph((4, 5)))), gc.BuildError, "MatMul", SITE),
    ("reshape-size", lambda w: _graph(lambda: gc.reshape(_ph((2, 3)), (4,))), gc.BuildError, "cannot reshape", SITE),
    ("reshape-two-minus-one", lambda w: _graph(lambda: gc.reshape(_ph((2, 3)), (-1, -1))), gc.BuildError,
     "at most one -1", SITE),
    ("transpose-perm", lambda w: _graph(lambda: gc.transpose(_ph((2, 3)), (0, 0))), gc.BuildError,
     "not a permutation", SITE),
    ("concat-rank", lambda w: _graph(lambda: gc.concat([_ph((2, 3)), _ph((2,))], 0)), gc.BuildError, "Concat", SITE),
    ("mixed-dtypes", lambda w: _graph(lambda: _ph((2,)) + _ph((2,), gc.float64)), gc.BuildError,
     "different dtypes", SITE),
    ("one-hot-float", lambda w: _graph(lambda: gc.one_hot(_ph((3,)), 4)), gc.BuildError, "must be integers", SITE),
    ("reduce-axis", lambda w: _graph(lambda: gc.reduce_sum(_ph((2, 3)), 5)), gc.BuildError, "axis", SITE),
    ("negative-dim", lambda w: _graph(lambda: _ph((-2, 3))), gc.BuildError, "negative dimension", SITE),
    ("conv-rank", lambda w: _graph(lambda: gc.conv2d(_ph((2, 3)), _ph((3, 3, 1, 1)))), gc.BuildError, "Conv", SITE),
    ("gather-float-indices", lambda w: _graph(lambda: gc.gather(_ph((4, 3)), _ph((2,)))), gc.BuildError,
     "indices", SITE),
    ("split-uneven", lambda w: _graph(lambda: gc.split(_ph((5, 2)), 2, axis=0)), gc.BuildError, "split", SITE),
    ("squeeze-not-one", lambda w: _graph(lambda: gc.squeeze(_ph((2, 3)), 1)), gc.BuildError, "Squeeze", SITE),
    ("expand-axis", lambda w: _graph(lambda: gc.expand_dims(_ph((2, 3)), 10)), gc.BuildError, "axis", SITE),
    ("tile-reps", lambda w: _graph(lambda: gc.tile(_ph((2, 3)), (2,))), gc.BuildError, "Tile", SITE),
    ("pad-length", lambda w: _graph(lambda: gc.pad(_ph((2, 3)), [(1, 1)])), gc.BuildError, "Pad", SITE),
    ("pool-too-big", lambda w: _graph(lambda: gc.max_pool2d(_ph((1, 1, 2, 2)), 3, 3)), gc.BuildError, "Pool", SITE),
    ("sqrt-int", lambda w: _graph(lambda: gc.sqrt(_ph((2,), gc.int64))), gc.BuildError, "floating point", SITE),
    ("matmul-int-float", lambda w: _graph(lambda: gc.matmul(_ph((2, 2), gc.int64), _ph((2, 2)))), gc.BuildError,
     "different dtypes", SITE),
    ("softmax-axis", lambda w: _graph(lambda: gc.softmax(_ph((2, 3)), axis=4)), gc.BuildError, "axis", SITE),
    ("index-out-of-range", lambda w: _graph(lambda: _ph((2, 3))[5]), gc.BuildError, "index", SITE),
    ("cast-unknown-dtype", lambda w: _graph(lambda: gc.cast(_ph((2,)), "quaternion")), gc.BuildError, "dtype", SITE),
    ("string-constant", lambda w: _graph(lambda: gc.constant(np.array(["a", "b"]))), gc.BuildError, "dtype", SITE),
    ("where-float-condition", lambda w: _graph(lambda: gc.where(_ph((2,)), _ph((2,)), _ph((2,)))), gc.BuildError,
     "bool", SITE),
    ("input-of-another-graph", lambda w: _graph(lambda: _ph((1,)) + _other_graph_tensor()), gc.BuildError,
     "another graph", SITE),
    ("finalized-graph", lambda w: _finalized(), gc.GraphFinalizedError, "finalized", SITE),
    ("variable-in-scan", lambda w: _graph(lambda: gc.scan(lambda x: (None, gc.Variable(np.ones(2)) * x),
                                                          sequences=[_ph((3, 2))])),
     gc.BuildError, "variables cannot be created", SITE),
    ("scan-state-count", lambda w: _graph(lambda: gc.scan(lambda x, h: ([h, h], x), sequences=[_ph((3, 2))],
                                                          initial_states=[_ph((2,))])),
     gc.BuildError, "2 states for 1 initial states", SITE),
    ("scan-not-a-pair", lambda w: _graph(lambda: gc.scan(lambda x: x, sequences=[_ph((3, 2))])), gc.BuildError,
     "must return (new_states, outputs)", SITE),
    ("scan-nothing", lambda w: _graph(lambda: gc.scan(lambda: (None, None))), gc.BuildError, "n_steps", SITE),
    ("reset-inside", lambda w: _graph(gc.reset_default_graph), gc.GraphcoreError, "reset_default_graph", False),
    # ----- Session.run: feeds and fetches -------------------------------------------------------------------
    ("missing-feed", lambda w: _run(lambda: (_ph((2,), name="x") * 2.0, {})), gc.FeedError, "'x'", SITE),
    ("feed-shape", lambda w: _run(lambda: ((lambda p: (p * 2.0, {p: np.ones(3)}))(_ph((2,))))), gc.FeedError,
     "cannot feed shape (3,)", SITE),
    ("feed-rank", lambda w: _run(lambda: ((lambda p: (p * 2.0, {p: 1.0}))(_ph((None, 2))))), gc.FeedError,
     "cannot feed shape ()", SITE),
    ("feed-float-to-int", lambda w: _run(lambda: ((lambda p: (p * 2, {p: np.ones(2)}))(_ph((2,), gc.int64)))),
     gc.FeedError, "cannot feed float64", SITE),
    ("feed-strings", lambda w: _run(lambda: ((lambda p: (p * 2.0, {p: ["a", "b"]}))(_ph((2,))))), gc.FeedError,
     "cannot feed", SITE),
    ("feed-ragged", lambda w: _run(lambda: ((lambda p: (p * 2.0, {p: [[1.0], [1.0, 2.0]]}))(_ph((None, 2))))),
     gc.FeedError, "rectangular", SITE),
    ("feed-key-type", lambda w: _run(lambda: (gc.constant(1.0), {3: 1.0})), gc.FeedError, "keys must be tensors",
     False),
    ("feed-unknown-name", lambda w: _run(lambda: (gc.constant(1.0), {"nope": 1.0})), gc.FeedError,
     "no tensor named 'nope'", False),
    ("feed-other-graph", lambda w: _run(lambda: (gc.constant(1.0), {_other_graph_tensor(): 1.0})), gc.FeedError,
     "another graph", SITE),
    ("fetch-other-graph", lambda w: _run(lambda: (_other_graph_tensor(), {})), gc.FetchError, "another graph", SITE),
    ("fetch-unknown-name", lambda w: _run(lambda: ("nope:0", {})), gc.FetchError, "no tensor named 'nope:0'", False),
    ("fetch-bad-index", lambda w: _run(lambda: ((gc.constant(1.0, name="c"), "c:7")[1], {})), gc.FetchError,
     "no tensor named 'c:7'", False),
    ("fetch-number", lambda w: _run(lambda: (3.5, {})), gc.FetchError, "cannot fetch 3.5", False),
    ("closed-session", lambda w: _closed_session(), gc.GraphcoreError, "closed", False),
    ("runtime-broadcast", lambda w: _run(lambda: ((lambda a, b: (a + b, {a: np.ones(3), b: np.ones(4)}))(
        _ph((None,)), _ph((None,))))), gc.ExecutionError, "Add failed at run time", SITE),
    ("runtime-matmul", lambda w: _run(lambda: ((lambda a, b: (gc.matmul(a, b), {a: np.ones((2, 3)),
                                                                              b: np.ones((4, 2))}))(
        _ph((2, None)), _ph((None, 2))))), gc.ExecutionError, "MatMul failed at run time", SITE),
    ("numerics-nan", lambda w: _run(lambda: ((lambda p: (gc.log(p), {p: -np.ones(2)}))(_ph((2,)))),
                                    check_numerics=True), gc.NumericsError, "Log produced NaN", SITE),
    ("gather-out-of-range", lambda w: _run(lambda: ((lambda i: (gc.gather(gc.constant(np.ones((2, 2))), i),
                                                                {i: np.array([5])}))(_ph((1,), gc.int64)))),
     gc.ExecutionError, "Gather failed at run time", SITE),
    # ----- gradients and autodiff ---------------------------------------------------------------------------
    ("grad-int", lambda w: _graph(lambda: gc.gradients(gc.argmax(_ph((2, 3)), -1), [_ph((2,))])), gc.GradientError,
     "floating-point", SITE),
    ("grad-non-differentiable", lambda w: _graph(lambda: (lambda x: gc.gradients(gc.reduce_sum(gc.step(x)), [x]))(
        _ph((2,)))), gc.GradientError, "not differentiable", SITE),
    ("grad-unconnected", lambda w: _graph(lambda: gc.gradients(_ph((2,)) * 2.0, [_ph((2,), name="lonely")],
                                                               unconnected="raise")), gc.GradientError,
     "lonely is not connected", SITE),
    ("grad-bad-option", lambda w: _graph(lambda: (lambda x: gc.gradients(x * 2.0, [x], unconnected="maybe"))(
        _ph((2,)))), gc.GradientError, "unconnected must be one of", False),
    ("grad-seed-shape", lambda w: _graph(lambda: (lambda x: gc.gradients(x * 2.0, [x], grad_ys=[_ph((3,))]))(
        _ph((2,)))), gc.GradientError, "seed", SITE),
    ("grad-seed-count", lambda w: _graph(lambda: (lambda x: gc.gradients(x * 2.0, [x], grad_ys=[_ph((2,)),
                                                                                              _ph((2,))]))(
        _ph((2,)))), gc.GradientError, "2 seeds for 1", False),
    ("jacobian-unknown", lambda w: _graph(lambda: (lambda x: gc.jacobian(x * 2.0, x))(_ph((None, 2)))),
     gc.BuildError, "fully known shape", SITE),
    ("hessian-vector", lambda w: _graph(lambda: (lambda x: gc.hessian(x * 2.0, x))(_ph((2,)))), gc.BuildError,
     "scalar y", SITE),
    ("jvp-tangent", lambda w: _graph(lambda: (lambda x: gc.jvp(x * 2.0, x, _ph((3,))))(_ph((2,)))), gc.GradientError,
     "tangent for", SITE),
    ("vjp-count", lambda w: _graph(lambda: (lambda x: gc.vjp(x * 2.0, x, [_ph((2,)), _ph((2,))]))(_ph((2,)))),
     gc.GradientError, "2 cotangents for 1", False),
    ("batch-jacobian-scalar", lambda w: _graph(lambda: (lambda x: gc.batch_jacobian(gc.reduce_sum(x), x))(
        _ph((2,)))), gc.BuildError, "leading batch axis", SITE),
    # ----- layers and models: compile / fit / evaluate / predict ---------------------------------------------
    ("fit-label-equals-classes", lambda w: w.clf.fit(w.x, np.r_[w.y[:9], 3], verbose=0), gc.DataError,
     "label 3 at y[9] is out of range for 3 classes", SITE),
    ("fit-negative-label", lambda w: w.clf.fit(w.x, np.r_[-1, w.y[1:]], verbose=0), gc.DataError,
     "label -1 at y[0] is out of range", SITE),
    ("fit-fractional-label", lambda w: w.clf.fit(w.x, np.r_[1.5, w.y[1:]], verbose=0), gc.DataError,
     "whole numbers", SITE),
    ("fit-length-mismatch", lambda w: w.clf.fit(w.x[:10], w.y[:9], verbose=0), gc.DataError,
     "x has 10 examples but y has 9", SITE),
    ("fit-x-rank", lambda w: w.clf.fit(w.x[..., None], w.y, verbose=0), gc.DataError,
     "has shape (10, 4, 1), the model expects (?, 4)", SITE),
    ("fit-x-features", lambda w: w.clf.fit(np.ones((10, 5)), w.y, verbose=0), gc.DataError, "(10, 5)", SITE),
    ("fit-x-nan", lambda w: w.clf.fit(np.where(np.eye(10, 4) > 0, np.nan, w.x), w.y, verbose=0), gc.DataError,
     "contains NaN (first at index [0, 0]", SITE),
    ("fit-x-inf", lambda w: w.clf.fit(np.r_[w.x[:9], np.full((1, 4), np.inf)], w.y, verbose=0), gc.DataError,
     "contains Inf (first at index [9, 0]", SITE),
    ("fit-y-nan", lambda w: w.regressor.fit(w.x, np.full((10, 2), np.nan), verbose=0), gc.DataError,
     "y contains NaN", SITE),
    # (labels of shape (10, 1) for a sparse loss are squeezed, as Keras does; two columns are wrong)
    ("fit-y-rank", lambda w: w.clf.fit(w.x, np.stack([w.y, w.y], 1), verbose=0), gc.DataError,
     "y has shape (10, 2), the model expects (?,)", SITE),
    ("fit-y-scalar", lambda w: w.clf.fit(w.x, 1, verbose=0), gc.DataError, "y is a scalar", SITE),
    ("fit-empty", lambda w: w.clf.fit(np.ones((0, 4)), np.ones(0, int), verbose=0), gc.DataError, "no examples",
     SITE),
    ("fit-strings", lambda w: w.clf.fit(np.full((10, 4), "a"), w.y, verbose=0), gc.DataError, "must be numeric",
     SITE),
    ("fit-ragged", lambda w: w.clf.fit([[1.0, 2.0], [1.0]], [0, 1], verbose=0), gc.DataError, "rectangular", SITE),
    ("fit-batch-size", lambda w: w.clf.fit(w.x, w.y, batch_size=0, verbose=0), gc.DataError,
     "batch_size must be a positive integer", SITE),
    ("fit-epochs", lambda w: w.clf.fit(w.x, w.y, epochs=-1, verbose=0), gc.DataError, "epochs", SITE),
    ("fit-validation-split", lambda w: w.clf.fit(w.x, w.y, validation_split=1.5, verbose=0), gc.DataError,
     "validation_split", SITE),
    ("fit-regression-y-shape", lambda w: w.regressor.fit(w.x, np.ones((10, 3)), verbose=0), gc.DataError,
     "the model expects (?, 2)", SITE),
    ("fit-before-compile", lambda w: gc.Sequential([layers.Dense(1, input_shape=(4,))]).fit(w.x, w.y),
     gc.BuildError, "compile", False),
    ("evaluate-length", lambda w: w.clf.evaluate(w.x, w.y[:3]), gc.DataError, "x has 10 examples but y has 3",
     SITE),
    ("evaluate-label-range", lambda w: w.clf.evaluate(w.x, w.y + 5), gc.DataError, "out of range for 3 classes",
     SITE),
    ("evaluate-batch-size", lambda w: w.clf.evaluate(w.x, w.y, batch_size=-3), gc.DataError, "batch_size", SITE),
    ("predict-features", lambda w: w.clf.predict(np.ones((2, 7))), gc.DataError, "the model expects (?, 4)", SITE),
    ("predict-nan", lambda w: w.clf.predict(np.full((2, 4), np.nan)), gc.DataError, "contains NaN", SITE),
    ("predict-too-few-inputs", lambda w: w.two_inputs.predict(np.ones((2, 4))), gc.DataError,
     "the model has 2 inputs", SITE),
    ("predict-too-many-inputs", lambda w: w.two_inputs.predict([np.ones((2, 4))] * 3), gc.DataError,
     "got 3 array(s)", SITE),
    ("predict-input-lengths", lambda w: w.two_inputs.predict([np.ones((2, 4)), np.ones((3, 2))]), gc.DataError,
     "different numbers of examples", SITE),
    ("predict-second-input-shape", lambda w: w.two_inputs.predict([np.ones((2, 4)), np.ones((2, 5))]),
     gc.DataError, "x for input 'b' has shape (2, 5)", SITE),
    ("predict-list-for-one-input", lambda w: w.clf.predict([np.ones((2, 4))] * 2), gc.DataError,
     "has shape (2, 2, 4)", SITE),
    ("compile-unknown-loss", lambda w: gc.Sequential([layers.Dense(1, input_shape=(4,))]).compile(loss="hingee"),
     gc.BuildError, "unknown loss 'hingee'", False),
    ("compile-unknown-optimizer", lambda w: gc.Sequential([layers.Dense(1, input_shape=(4,))]).compile(
        optimizer="adamx"), gc.BuildError, "unknown optimizer 'adamx'", False),
    ("compile-unknown-metric", lambda w: gc.Sequential([layers.Dense(1, input_shape=(4,))]).compile(
        loss="mse", metrics=["f1"]), gc.BuildError, "unknown metric 'f1'", False),
    # (a Sequential without an input shape builds on its first data, as in Keras; until then it has no summary)
    ("sequential-no-input-shape", lambda w: gc.Sequential([layers.Dense(1)]).summary(), gc.BuildError,
     "input_shape", False),
    ("dense-units", lambda w: gc.Sequential([layers.Dense(0, input_shape=(4,))]), gc.BuildError, "units", SITE),
    ("conv-on-vectors", lambda w: gc.Sequential([layers.Conv2D(2, 3, input_shape=(4,))]), gc.BuildError,
     "Conv2D", SITE),
    ("unknown-activation", lambda w: gc.Sequential([layers.Dense(2, activation="swoosh", input_shape=(4,))]),
     gc.BuildError, "unknown activation 'swoosh'", False),
    ("save-unsaveable", _unsaveable, gc.BuildError, "is a function", False, "keep_model.npz"),
    # ----- model files and checkpoints ----------------------------------------------------------------------
    ("model-missing-file", lambda w: gc.load_model(w.path("nowhere.npz")), gc.MissingFileError, "nowhere.npz",
     False),
    ("model-truncated", lambda w: gc.load_model(w.damaged("truncated.npz", lambda b: b[:len(b) // 2])),
     gc.FileFormatError, "truncated.npz is not a readable graphcore array archive", False),
    ("model-truncated-tail", lambda w: gc.load_model(w.damaged("tail.npz", lambda b: b[:-10])),
     gc.FileFormatError, "tail.npz is not a readable", False),
    ("model-damaged-weight-byte", lambda w: gc.load_model(w.damaged("flipped.npz", _middle_of_weights)),
     gc.FileFormatError, "CRC", False),
    ("model-damaged-first-byte", lambda w: gc.load_model(w.damaged("first.npz", _flip(0))), gc.FileFormatError,
     "first.npz is not a readable", False),
    ("model-damaged-directory", lambda w: gc.load_model(w.damaged("directory.npz", _flip(-30))),
     gc.FileFormatError, "directory.npz is not a readable", False),
    ("model-empty-file", lambda w: gc.load_model(w.text_file("empty.npz", "")), gc.FileFormatError,
     "empty.npz is not a readable", False),
    ("model-text-file", lambda w: gc.load_model(w.text_file("notes.npz")), gc.FileFormatError,
     "notes.npz is not a readable", False),
    ("model-single-npy", _npy, gc.FileFormatError, "single array", False),
    ("model-pickle", _pickled, gc.FileFormatError, "pickle", False),
    ("model-is-a-checkpoint", lambda w: gc.load_model(w.ckpt), gc.FileFormatError, "not a graphcore model file",
     False),
    ("model-json-edited", lambda w: gc.load_model(w.edited("badjson.npz", "{not json")), gc.FileFormatError,
     "not valid JSON", False),
    ("model-json-not-object", lambda w: gc.load_model(w.edited("list.npz", "[1, 2]")), gc.FileFormatError,
     "unsupported model format None", False),
    ("model-other-version", lambda w: gc.load_model(w.edited("v2.npz", lambda c: {**c, "format": "graphcore-model-2"})),
     gc.FileFormatError, "unsupported model format 'graphcore-model-2'", False),
    ("model-unknown-layer", lambda w: gc.load_model(w.edited("layer.npz", lambda c: {
        **c, "layers": [c["layers"][0], {**c["layers"][1], "class": "Sneaky"}]})), gc.FileFormatError,
     "unknown layer class 'Sneaky'", False),
    ("model-module-as-layer", lambda w: gc.load_model(w.edited("module.npz", lambda c: {
        **c, "layers": [c["layers"][0], {**c["layers"][1], "class": "base"}]})), gc.FileFormatError,
     "unknown layer class 'base'", False),
    ("model-bad-layer-config", lambda w: gc.load_model(w.edited("config.npz", lambda c: {
        **c, "layers": [c["layers"][0], {**c["layers"][1], "config": {"units": "many"}}]})), gc.FileFormatError,
     "cannot be rebuilt", False),
    ("model-missing-calls", lambda w: gc.load_model(w.edited("calls.npz", lambda c: {
        k: v for k, v in c.items() if k != "calls"})), gc.FileFormatError, "cannot be rebuilt (KeyError: 'calls')",
     False),
    ("model-dangling-call", lambda w: gc.load_model(w.edited("dangling.npz", lambda c: {
        **c, "calls": [c["calls"][0], {"layer": 1, "inputs": [[7, 0]]}]})), gc.FileFormatError,
     "cannot be rebuilt (IndexError", False),
    ("model-weight-shape", lambda w: gc.load_model(w.edited("shape.npz", change_arrays=lambda a: a.update(
        weight_0000=np.ones((5, 3), np.float32)))), gc.FileFormatError, "is float32(5, 3), the architecture needs "
                                                                         "float32(4, 3)", False),
    ("model-weight-dtype", lambda w: gc.load_model(w.edited("dtype.npz", change_arrays=lambda a: a.update(
        weight_0000=np.ones((4, 3), np.int64)))), gc.FileFormatError, "is int64(4, 3)", False),
    ("model-weight-missing", lambda w: gc.load_model(w.edited("missing.npz", change_arrays=lambda a: a.pop(
        "weight_0001"))), gc.FileFormatError, "weight_0001", False),
    ("ckpt-missing-file", lambda w: w.restore_into("w", path=w.path("no_ckpt.npz")), gc.CheckpointError,
     "no_ckpt.npz", False),
    ("ckpt-truncated", lambda w: w.restore_into("w", path=w.damaged("ckpt_cut.npz", lambda b: b[:40], w.ckpt)),
     gc.CheckpointError, "not a readable", False),
    ("ckpt-damaged-byte", lambda w: w.restore_into("w", path=w.damaged("ckpt_flip.npz", _flip(100), w.ckpt)),
     gc.CheckpointError, "not a readable", False),
    ("ckpt-other-graph", lambda w: w.restore_into("v"), gc.CheckpointError, "missing from the checkpoint: v",
     False),
    ("ckpt-shape", lambda w: w.restore_into("w", shape=(2, 2)), gc.CheckpointError,
     "graph has float32(2, 2), checkpoint has float32(3, 3)", False),
    ("ckpt-dtype", lambda w: w.restore_into("w", dtype=np.float64), gc.CheckpointError, "graph has float64(3, 3)",
     False),
    ("ckpt-text", lambda w: w.restore_into("w", path=w.text_file("ckpt.txt")), gc.CheckpointError,
     "not a readable", False),
    ("save-under-a-file", lambda w: w.clf.save(os.path.join(w.existing("plain.txt"), "m.npz")), gc.FileWriteError,
     "cannot write", False, "plain.txt"),
    ("checkpoint-under-a-file", lambda w: (w.ckpt, gc.train.Saver().save(
        w.ckpt_session, os.path.join(w.existing("plain2.txt"), "c.npz"))), gc.FileWriteError, "cannot write",
     False, "plain2.txt"),
    # ----- export and InferenceSession ----------------------------------------------------------------------
    ("ort-text-file", lambda w: export.InferenceSession(w.text_file("fake.onnx"), device="cpu"),
     gc.FileFormatError, "fake.onnx cannot be loaded by onnxruntime: it is not a valid ONNX model", False),
    ("ort-truncated", lambda w: export.InferenceSession(w.damaged("cut.onnx", lambda b: b[:100], w.onnx_file),
                                                      device="cpu"), gc.FileFormatError, "cut.onnx cannot be loaded", False),
    ("ort-npz-file", lambda w: export.InferenceSession(w.model_file, device="cpu"), gc.FileFormatError,
     "not a valid ONNX model", False),
    ("ort-missing-file", lambda w: export.InferenceSession(w.path("ghost.onnx"), device="cpu"),
     gc.MissingFileError, "no such ONNX file", False),
    ("ort-missing-input", lambda w: w.two_input_onnx.run(np.ones((2, 4), np.float32)), gc.FeedError,
     "feed exactly the inputs ['a', 'b']", False),
    ("ort-unknown-input", lambda w: w.two_input_onnx.run({"a": np.ones((2, 4)), "c": np.ones((2, 2))}),
     gc.FeedError, "got ['a', 'c']", False),
    ("ort-rank", lambda w: export.InferenceSession(w.onnx_file, device="cpu").run(np.ones(4)), gc.FeedError,
     "expects shape (batch, 4), got (4,)", False),
    ("ort-fixed-dim", lambda w: export.InferenceSession(w.onnx_file, device="cpu").run(np.ones((2, 5))),
     gc.FeedError, "expects shape (batch, 4), got (2, 5)", False),
    ("ort-strings", lambda w: export.InferenceSession(w.onnx_file, device="cpu").run(np.full((2, 4), "x")),
     gc.FeedError, "needs tensor(float) data", False),
    ("export-group-node", lambda w: export.to_onnx(_graph(lambda: _export_group()), w.existing("keep.onnx"),
                                                   inputs=[], outputs=[_LAST[0]]),
     ExportError, "cannot export op NoOp", SITE, "keep.onnx"),
    ("export-opset", lambda w: export.to_onnx(w.clf, w.existing("keep2.onnx"), opset=99), ExportError,
     "opset 99 is not supported", False, "keep2.onnx"),
    ("export-raw-graph-no-inputs", lambda w: export.to_onnx(gc.Graph()), ExportError, "needs inputs=", False),
    ("export-foreign-output", lambda w: export.to_onnx(w.clf, outputs=[_other_graph_tensor()]), ExportError,
     "tensors (or tensor names) of the exported graph", False),
    ("export-unwritable", lambda w: export.to_onnx(w.clf, os.path.join(w.existing("plain3.txt"), "m.onnx")),
     gc.FileWriteError, "cannot write", False, "plain3.txt"),
    ("render-wrong-object", lambda w: gc.render(42), gc.GraphcoreError, "cannot render a int", False),
    # ----- graph, session and the TF1 surface: the mistakes TF1 users make (issue 21) -------------------------
    ("feed-overflows-float32", lambda w: _run(lambda: ((lambda p: (p * 2.0, {p: np.array([1.0, 1e39])}))(
        _ph((2,))))), gc.FeedError, "holds 1e+39 at index (1,), which is finite as float64 but overflows to inf "
                                    "in the placeholder's float32", SITE),
    ("feed-overflows-scalar", lambda w: _run(lambda: ((lambda p: (p * 2.0, {p: -1e39}))(_ph(())))), gc.FeedError,
     "holds -1e+39, which is finite as float64 but overflows", SITE),
    ("feed-int-overflows-float16", lambda w: _run(lambda: ((lambda p: (p * 2, {p: np.array([70000])}))(
        _ph((1,), gc.float16)))), gc.FeedError, "holds 70000 at index (0,)", SITE),
    ("feed-dict-a-list", lambda w: _run(lambda: ((lambda p: (p * 2.0, [p, np.ones(2)]))(_ph((2,))))), gc.FeedError,
     "feed_dict must be a dict mapping placeholders (or their names) to values, got a list", False),
    ("feed-dict-a-tuple-of-pairs", lambda w: _run(lambda: ((lambda p: (p * 2.0, ((p, np.ones(2)),)))(_ph((2,))))),
     gc.FeedError, "got a tuple: write feed_dict={x: data}", False),
    ("feed-dict-an-array", lambda w: _run(lambda: ((lambda p: (p * 2.0, np.ones(2)))(_ph((2,))))), gc.FeedError,
     "got a ndarray", False),
    ("placeholder-dim-2.5", lambda w: _graph(lambda: _ph((None, 2.5))), gc.BuildError,
     "dimension 1 of shape (None, 2.5) is 2.5, not a whole number", SITE),
    ("placeholder-dim-string", lambda w: _graph(lambda: _ph(["3", 4])), gc.BuildError,
     "dimension 0 of shape ('3', 4) is '3', not a whole number", SITE),
    ("placeholder-dim-bool", lambda w: _graph(lambda: _ph((True,))), gc.BuildError, "is True, not a whole number",
     SITE),
    ("placeholder-dim-negative", lambda w: _graph(lambda: _ph([None, -3])), gc.BuildError,
     "dimension 1 is -3 (sizes are >= 0", SITE),
    ("placeholder-shape-a-string", lambda w: _graph(lambda: _ph("784")), gc.BuildError,
     "a shape must be a tuple or list of sizes, got '784'", SITE),
    ("placeholder-no-rank", lambda w: _graph(lambda: gc.placeholder(gc.float32)), gc.BuildError,
     "a placeholder needs a rank", SITE),
    ("zeros-dim-float", lambda w: _graph(lambda: gc.zeros([2, 0.5])), gc.BuildError, "is 0.5, not a whole number",
     SITE),
    ("sparse-ce-label-too-big", lambda w: _run(lambda: ((lambda lab: (
        gc.sparse_softmax_cross_entropy_with_logits(lab, gc.constant(np.zeros((3, 4)))), {lab: [0, 9, 1]}))(
        _ph((None,), gc.int64)))), gc.InvalidValueError,
     "received a label value of 9 at index (1,), outside the valid range of [0, 4): the logits have 4 classes", SITE),
    ("sparse-ce-label-negative", lambda w: _run(lambda: ((lambda lab: (
        gc.nn.sparse_softmax_cross_entropy_with_logits(labels=lab, logits=gc.constant(np.zeros((2, 3, 5)))),
        {lab: [[0, 1, 2], [3, -1, 4]]}))(_ph((2, 3), gc.int64)))), gc.InvalidValueError,
     "received a label value of -1 at index (1, 1)", SITE),
    ("sparse-ce-labels-n-by-1", lambda w: _graph(lambda: gc.sparse_softmax_cross_entropy_with_logits(
        _ph((None, 1), gc.int64), _ph((None, 4)))), gc.BuildError,
     "labels of shape (?, 1) do not fit logits of shape (?, 4)", SITE),
    ("embedding-id-out-of-range", lambda w: _run(lambda: ((lambda ids: (
        gc.nn.embedding_lookup(gc.constant(np.ones((5, 2))), ids), {ids: [4, 5]}))(_ph((2,), gc.int64)))),
     gc.InvalidValueError, "received an id value of 5 at index (1,), outside the valid range of [0, 5)", SITE),
    ("tensor-truth-value", lambda w: _graph(lambda: bool(_ph((2,)) > 0.0)), gc.BuildError,
     "has no truth value", SITE),
    ("tensor-iterate-unknown", lambda w: _graph(lambda: list(_ph((None, 2)))), gc.BuildError,
     "its first dimension is unknown", SITE),
    ("eval-without-session", lambda w: _graph(lambda: gc.constant(1.0).eval()), gc.GraphcoreError,
     "no default session is registered", False),
    ("gradients-of-a-number", lambda w: _graph(lambda: gc.gradients(_ph(()) * 2.0, [3.0])), gc.GradientError,
     "takes tensors (or lists of them) for ys and xs, got 3.0", False),
    ("control-deps-not-a-list", lambda w: _graph(lambda: gc.control_dependencies(_ph(())).__enter__()),
     gc.BuildError, "takes a list of tensors or nodes", SITE),
    ("control-deps-a-number", lambda w: _graph(lambda: gc.control_dependencies([1.0]).__enter__()), gc.BuildError,
     "takes tensors or nodes, got 1.0", SITE),
    ("tensor-by-bad-name", lambda w: _graph(lambda: gc.get_default_graph().get_tensor_by_name("x:first")),
     gc.FetchError, "'x:first' is not a tensor name", False),
    ("tensor-by-missing-name", lambda w: _graph(lambda: (_ph((), name="scope_x"),
                                                         gc.get_default_graph().get_tensor_by_name("x:0"))),
     gc.FetchError, "the graph has no operation named 'x'", False),
    ("tensor-output-index", lambda w: _graph(lambda: (_ph((), name="x"),
                                                      gc.get_default_graph().get_tensor_by_name("x:1"))),
     gc.FetchError, "operation 'x' (Placeholder) has 1 output(s); there is no output 1", False),
    ("operation-by-tensor-name", lambda w: _graph(lambda: gc.get_default_graph().get_operation_by_name("x:0")),
     gc.FetchError, "'x:0' names a tensor, not an operation", False),
    ("constant-too-many-values", lambda w: _graph(lambda: gc.constant([1, 2, 3], shape=[2])), gc.BuildError,
     "too many values for shape (2,): needed at most 2, got 3", SITE),
    ("constant-verify-shape", lambda w: _graph(lambda: gc.constant([1, 2], shape=[1, 2], verify_shape=True)),
     gc.BuildError, "verify_shape=True but the value has shape (2,)", SITE),
    ("random-int-dtype", lambda w: _graph(lambda: gc.random_uniform([2], 0, 10, dtype=gc.int32)), gc.BuildError,
     "random ops draw floating-point samples", SITE),
    ("random-shape-at-run-time", lambda w: _graph(lambda: gc.random_normal(_ph((2,), gc.int64))), gc.BuildError,
     "random ops need the shape when the graph is built", SITE),
    ("reduce-mean-of-bools", lambda w: _graph(lambda: gc.reduce_mean(_ph((3,), gc.bool_))), gc.BuildError,
     "reduce_mean needs numbers, got bool", SITE),
    ("cond-python-bool", lambda w: _graph(lambda: gc.cond(True, lambda: 1.0, lambda: 2.0)), gc.BuildError,
     "not a Python bool", SITE),
    ("cond-structures-differ", lambda w: _graph(lambda: gc.cond(_ph((), gc.bool_), lambda: [_ph(()), _ph(())],
                                                                lambda: [_ph(())])), gc.BuildError,
     "the branches return different structures (2 and 1 tensors)", SITE),
    ("cond-dtypes-differ", lambda w: _graph(lambda: gc.cond(_ph((), gc.bool_), lambda: gc.constant(1.0),
                                                            lambda: gc.constant(1))), gc.BuildError,
     "the true branch gives float32() and the false branch int64()", SITE),
    ("cond-returns-an-op", lambda w: _graph(lambda: gc.cond(_ph((), gc.bool_), lambda: gc.group(),
                                                            lambda: gc.group())), gc.BuildError,
     "a cond branch must return tensors", SITE),
    ("cond-assigns-a-variable", lambda w: _graph(lambda: (lambda v: gc.cond(
        _ph((), gc.bool_), lambda: v.assign(1.0), lambda: v.assign(2.0)))(gc.Variable(0.0, name="v"))),
     gc.BuildError, "Assign of the variable v inside a cond branch", SITE),
    ("cond-predicate-not-scalar", lambda w: _graph(lambda: gc.cond(_ph((2,), gc.bool_), lambda: 1.0, lambda: 2.0)),
     gc.BuildError, "the predicate must be a bool scalar, got bool(2,)", SITE),
    ("nn-ce-positional", lambda w: _graph(lambda: gc.nn.softmax_cross_entropy_with_logits(_ph((2, 3)), _ph((2, 3)))),
     gc.BuildError, "TF1 requires labels= and logits= by name", SITE),
    ("nn-ce-shapes", lambda w: _graph(lambda: gc.nn.sigmoid_cross_entropy_with_logits(labels=_ph((2, 1)),
                                                                                      logits=_ph((2, 3)))),
     gc.BuildError, "labels (2, 1) and logits (2, 3) must have the same shape", SITE),
    ("nn-conv-batch-stride", lambda w: _graph(lambda: gc.nn.conv2d(_ph((1, 4, 4, 1)), _ph((2, 2, 1, 1)),
                                                                   [2, 2, 2, 1], "SAME")), gc.BuildError,
     "does not stride or pool over the batch and channel dimensions", SITE),
    ("nn-conv-padding", lambda w: _graph(lambda: gc.nn.conv2d(_ph((1, 4, 4, 1)), _ph((2, 2, 1, 1)), 1, "FULL")),
     gc.BuildError, "padding must be 'SAME' or 'VALID'", SITE),
    ("nn-pool-ksize", lambda w: _graph(lambda: gc.nn.max_pool(_ph((1, 4, 4, 1)), [1, 2, 2], [1, 1, 1, 1], "SAME")),
     gc.BuildError, "ksize must be an int or a list of 1, 2 or 4 ints, got [1, 2, 2]", SITE),
    ("nn-dropout-keep-prob", lambda w: _graph(lambda: gc.nn.dropout(_ph((2,)), keep_prob=0.0)), gc.BuildError,
     "keep_prob must be in (0, 1], got 0.0", SITE),
    ("nn-dropout-both", lambda w: _graph(lambda: gc.nn.dropout(_ph((2,)), keep_prob=0.5, rate=0.5)), gc.BuildError,
     "exactly one of keep_prob and rate", SITE),
    ("nn-data-format", lambda w: _graph(lambda: gc.nn.max_pool(_ph((1, 4, 4, 1)), 2, 2, "SAME", data_format="NWHC")),
     gc.BuildError, "data_format must be 'NHWC' or 'NCHW', got 'NWHC'", SITE),
    ("nn-unknown-name", lambda w: gc.nn.dynamic_rnn, gc.NotSupportedError, "no RNN cells API", False),
    ("tf-get-variable", lambda w: gc.get_variable("w", [2]), gc.NotSupportedError,
     "graphcore has no variable store", False),
    ("tf-name-spelled-otherwise", lambda w: gc.shape, gc.NotSupportedError, "TF1's tf.shape is gc.shape_of", False),
    ("train-import-meta-graph", lambda w: gc.train.import_meta_graph("m.meta"), gc.NotSupportedError,
     "graphcore rebuilds graphs from code", False),
    ("adagrad-accumulator", lambda w: gc.train.AdagradOptimizer(0.1, initial_accumulator_value=-1),
     gc.BuildError, "initial_accumulator_value must be positive, got -1", SITE),
    ("minimize-nothing-connected", lambda w: _graph(lambda: gc.train.GradientDescentOptimizer(0.1).minimize(
        gc.constant(1.0) * 2.0, var_list=[gc.Variable(1.0, name="far")])), gc.GradientError,
     "no gradients provided for any variable: none of ['far']", False),
    ("variable-load-shape", lambda w: _load_wrong_shape(), gc.FeedError, "cannot feed shape (3,) to 'v' of shape (2,)",
     SITE),
    ("saver-not-a-session", lambda w: gc.train.Saver().save("sess", w.path("x")), gc.CheckpointError,
     "the first argument must be a gc.Session, got str", False),
    ("saver-closed-session", lambda w: (w.ckpt, gc.train.Saver().restore(_closed(gc.Session(w.ckpt_var.graph)),
                                                                         w.ckpt)),
     gc.CheckpointError, "the session is closed", False),
    ("saver-restore-none", lambda w: (w.ckpt, gc.train.Saver().restore(w.ckpt_session, None)), gc.CheckpointError,
     "restore needs a checkpoint path, got None", False),
    ("saver-name-collides-with-state", lambda w: (w.ckpt, gc.train.Saver().save(w.ckpt_session, w.path("checkpoint")
                                                                               )), gc.CheckpointError,
     "would collide with the state file 'checkpoint'", False),
    ("latest-checkpoint-of-none", lambda w: gc.train.latest_checkpoint(None), gc.CheckpointError,
     "checkpoint_dir must be a path (a str or os.PathLike), got None", False),
    ("saver-save-to-none", lambda w: (w.ckpt, gc.train.Saver().save(w.ckpt_session, None)), gc.CheckpointError,
     "save_path must be a path", False),
    ("checkpoint-state-garbage", lambda w: gc.train.latest_checkpoint(_state_dir(w, "model_checkpoint_path: m-1\n")),
     gc.CheckpointError, "line 1, is not a checkpoint state entry", False),
    ("checkpoint-state-no-model", lambda w: gc.train.latest_checkpoint(
        _state_dir(w, 'all_model_checkpoint_paths: "m-1"\n')), gc.CheckpointError, "names no model_checkpoint_path",
     False),
    # ----- the command line ---------------------------------------------------------------------------------
    ("cli-unknown-model", lambda w: _cli("export", "nosuchnet", "-o", w.existing("keep3.onnx")), CliFailure,
     "unknown model 'nosuchnet'", False, "keep3.onnx"),
    ("cli-train-unknown", lambda w: _cli("train", "nosuchnet", "--out", w.path("out")), CliFailure,
     "unknown model 'nosuchnet'", False),
    ("cli-summary-missing", lambda w: _cli("summary", w.path("missing.onnx")), CliFailure, "no such ONNX file",
     False),
    ("cli-render-missing", lambda w: _cli("render", w.path("missing.onnx"), "-o", w.path("x.svg")), CliFailure,
     "no such ONNX file", False),
    ("cli-summary-not-onnx", lambda w: _cli("summary", w.text_file("garbage.onnx")), CliFailure, "garbage.onnx",
     False),
    ("cli-export-unwritable", lambda w: _cli("export", "perceptron", "-o",
                                             os.path.join(w.existing("plain4.txt"), "p.onnx")), CliFailure,
     "cannot write", False, "plain4.txt"),
    ("cli-export-opset", lambda w: _cli("export", "perceptron", "-o", w.existing("keep4.onnx"), "--opset", "99"),
     CliFailure, "opset 99 is not supported", False, "keep4.onnx"),
    ("cli-render-bad-view", lambda w: _cli("render", "perceptron", "-o", w.path("p.svg"), "--view", "fancy"),
     CliFailure, "invalid choice: 'fancy'", False),
    ("cli-no-command", lambda w: _cli(), CliFailure, "required: command", False),
    ("cli-bad-epochs", lambda w: _cli("train", "perceptron", "--epochs", "many"), CliFailure,
     "argument --epochs: expected a whole number, got 'many'", False),
] + [
    # ----- issue 21, the Keras model: data checked once, in the dtype the model computes in; no training on
    # garbage; a diverging run stops naming the step; state changes all or nothing --------------------------------
    ("fit-x-overflows-float32", lambda w: w.clf.fit(np.r_[w.x[:9], np.full((1, 4), 1e39)], w.y, verbose=0),
     gc.DataError, "x for input 'input'[9, 0] = 1e+39 overflows float32", SITE),
    ("fit-y-overflows-float32", lambda w: w.regressor.fit(w.x, np.full((10, 2), -1e39), verbose=0), gc.DataError,
     "y[0, 0] = -1e+39 overflows float32", SITE),
    ("evaluate-x-overflows-float32", lambda w: w.regressor.evaluate(np.full((10, 4), 1e300), np.ones((10, 2)),
                                                                     verbose=0), gc.DataError,
     "overflows float32", SITE),
    ("fit-sample-weight-nan", lambda w: w.clf.fit(w.x, w.y, sample_weight=np.r_[np.ones(9), np.nan], verbose=0),
     gc.DataError, "sample_weight for output 'dense' contains NaN (first at index [9]", SITE),
    ("fit-sample-weight-inf", lambda w: w.clf.fit(w.x, w.y, sample_weight=np.r_[np.inf, np.ones(9)], verbose=0),
     gc.DataError, "sample_weight for output 'dense' contains Inf (first at index [0]", SITE),
    ("fit-sample-weight-overflows", lambda w: w.clf.fit(w.x, w.y, sample_weight=np.full(10, 1e39), verbose=0),
     gc.DataError, "sample_weight for output 'dense'[0] = 1e+39 overflows float32", SITE),
    ("fit-sample-weight-strings", lambda w: w.clf.fit(w.x, w.y, sample_weight=np.full(10, "1"), verbose=0),
     gc.DataError, "sample_weight for output 'dense' must be numeric, got dtype <U1", SITE),
    ("fit-sample-weight-length", lambda w: w.clf.fit(w.x, w.y, sample_weight=np.ones(7), verbose=0), gc.DataError,
     "needs one weight per example (10), got shape (7,)", SITE),
    ("fit-class-weight-nan", lambda w: w.clf.fit(w.x, w.y, class_weight={0: 1.0, 1: float("nan")}, verbose=0),
     gc.DataError, "class_weight[1] = nan is not a finite number", SITE),
    ("fit-class-weight-inf", lambda w: w.clf.fit(w.x, w.y, class_weight={2: float("inf")}, verbose=0),
     gc.DataError, "class_weight[2] = inf is not a finite number", SITE),
    ("fit-class-weight-overflows", lambda w: w.clf.fit(w.x, w.y, class_weight={0: 1e39}, verbose=0),
     gc.DataError, "class_weight[0] = 1e+39 is not a finite number (in float32)", SITE),
    ("fit-class-weight-not-a-dict", lambda w: w.clf.fit(w.x, w.y, class_weight=[1.0, 2.0, 3.0], verbose=0),
     gc.DataError, "class_weight must be a dict mapping class indices to weights, got list", SITE),
    ("fit-class-weight-key", lambda w: w.clf.fit(w.x, w.y, class_weight={"cat": 2.0}, verbose=0), gc.DataError,
     "class_weight keys must be class indices (integers), got 'cat'", SITE),
    ("fit-split-leaves-no-training-rows", lambda w: w.clf.fit(w.x[:1], w.y[:1], validation_split=0.5, verbose=0),
     gc.DataError, "validation_split=0.5 leaves no training rows out of the 1 given", SITE),
    ("fit-split-rounds-training-to-none", lambda w: w.clf.fit(w.x, w.y, validation_split=0.9, verbose=0),
     gc.DataError, "validation_split=0.9 leaves no training rows out of the 10 given", SITE),   # 10·0.1 < 1 in floats
    ("fit-split-not-a-number", lambda w: w.clf.fit(w.x, w.y, validation_split="10%", verbose=0), gc.DataError,
     "validation_split must be a number in [0, 1), got '10%'", SITE),
    ("predict-batch-size-zero", lambda w: w.clf.predict(w.x, batch_size=0), gc.DataError,
     "predict: batch_size must be a positive integer, got 0", SITE),
    ("predict-batch-size-negative", lambda w: w.clf.predict(w.x, batch_size=-1), gc.DataError,
     "predict: batch_size must be a positive integer, got -1", SITE),
    ("predict-batch-size-fractional", lambda w: w.clf.predict(w.x, batch_size=2.5), gc.DataError,
     "predict: batch_size must be a positive integer, got 2.5", SITE),
    ("evaluate-batch-size-fractional", lambda w: w.clf.evaluate(w.x, w.y, batch_size=2.5), gc.DataError,
     "evaluate: batch_size must be a positive integer, got 2.5", SITE),
    ("fit-batch-size-fractional", lambda w: w.clf.fit(w.x, w.y, batch_size=2.5, verbose=0), gc.DataError,
     "fit: batch_size must be a positive integer, got 2.5", SITE),
    ("fit-validation-batch-size-zero", lambda w: w.clf.fit(w.x, w.y, validation_batch_size=0, verbose=0),
     gc.DataError, "fit: validation_batch_size must be a positive integer, got 0", SITE),
    ("fit-initial-epoch-negative", lambda w: w.clf.fit(w.x, w.y, initial_epoch=-1, verbose=0), gc.DataError,
     "initial_epoch must be a non-negative integer", SITE),
    ("fit-validation-freq-zero", lambda w: w.clf.fit(w.x, w.y, validation_freq=0, verbose=0), gc.DataError,
     "validation_freq must be a positive integer or a list of epochs", SITE),
    ("fit-verbose-3", lambda w: w.clf.fit(w.x, w.y, verbose=3), gc.BuildError,
     "verbose must be 'auto', 0, 1 or 2, got 3", False),
    ("fit-validation-data-not-a-tuple", lambda w: w.clf.fit(w.x, w.y, validation_data=w.x, verbose=0),
     gc.CompatError, "validation_data must be a tuple (x_val, y_val)", False),
    ("fit-y-none", lambda w: w.clf.fit(w.x, verbose=0), gc.CompatError, "fit: y is None", False),
    ("predict-fractional-ids", lambda w: w.embedder.predict(np.array([[1.5, 2.0]])), gc.DataError,
     "the model takes integers (int64) here; x for input 'input'[0, 0] = 1.5", SITE),
    ("fit-diverges-numpy", lambda w: w.diverging().fit(w.x * 1e10, np.ones((10, 2)), epochs=3, batch_size=5,
                                                       verbose=0),
     gc.DivergenceError, "the loss became NaN at epoch 1/3, batch 2/2: the first non-finite tensor is the "
                         "variable 'dense/kernel': the update of epoch 1, batch 1 made it NaN or Inf", SITE),
    ("fit-diverges-in-forward", lambda w: w.exploding().fit(w.x, np.ones((10, 1)), epochs=1, verbose=0),
     gc.DivergenceError, "the first non-finite tensor of that step is Exp produced Inf", SITE),
    ("fit-diverges-onnxruntime", lambda w: w.diverging().fit(w.x * 1e10, np.ones((10, 2)), epochs=3, batch_size=5,
                                                             verbose=0, backend="onnxruntime"),
     gc.DivergenceError, "the loss became NaN at epoch 1/3, batch 2/2", SITE),
    ("set-weights-another-models-arrays", lambda w: w.clf.set_weights(w.regressor.get_weights()), gc.DataError,
     "set_weights: array 0 for dense/kernel has shape (4, 2), the layer needs (4, 3) (Keras's layout); nothing "
     "was set", SITE),
    ("set-weights-too-few", lambda w: w.clf.set_weights(w.clf.get_weights()[:1]), gc.DataError,
     "set_weights: sequential has 2 weights, got 1 arrays", SITE),
    ("set-weights-extra", lambda w: w.clf.set_weights(w.clf.get_weights() + [np.ones(3)]), gc.DataError,
     "set_weights: sequential has 2 weights, got 3 arrays", SITE),
    ("set-weights-strings", lambda w: w.clf.set_weights([np.full((4, 3), "w"), np.ones(3)]), gc.DataError,
     "array 0 for dense/kernel must be numeric, got dtype <U1", SITE),
    ("layer-set-weights-count", lambda w: w.clf.layers[0].set_weights([np.ones((4, 3))]), gc.DataError,
     "layer dense has 2 weights (dense/kernel, dense/bias), got 1 arrays", SITE),
    ("load-weights-other-architecture", lambda w: w.clf.load_weights(w.regressor_weights), gc.FileFormatError,
     "weight 0 is float32(4, 2), the model's dense/kernel is float32(4, 3); nothing was loaded", False),
    ("load-weights-count", lambda w: w.clf.load_weights(w.deep_weights), gc.FileFormatError,
     "holds 4 weights, the model has 2", False),
    ("load-model-optimizer-state", lambda w: gc.load_model(w.edited("opt.npz", change_arrays=lambda a: a.update(
        {"optimizer/iterations": np.ones(3, np.int64)}))), gc.FileFormatError,
     "the optimizer state optimizer/iterations is int64(3,), the optimizer needs int64()", False),
    ("load-model-custom-loss", lambda w: gc.load_model(w.custom_loss_file), gc.BuildError,
     "compiled with your function 'my_loss'; pass load_model(path, custom_objects={'my_loss': my_loss})", False),
]

_LAST = []


def _export_group():
    """A grouped training step (a NoOp): it has no value to export; the step itself exports with train_op=."""
    _LAST[:] = [gc.group(gc.random_normal((2,), seed=0) * 2.0)]
    return _LAST[0].graph


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(str(tmp_path_factory.mktemp("user")))


def test_the_table_is_big_enough_and_has_unique_ids():
    ids = [case[0] for case in CASES]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")   # numerics-nan makes a NaN on purpose
@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the fit-diverges-* rows overflow on purpose
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input(case, world):
    name, call, error, fragment, site, *guard = case
    raised, before = _attempt(world, call, bool(guard))
    message = str(raised)
    if error is CliFailure:
        assert isinstance(raised, CliFailure), f"{name}: {type(raised).__name__}: {message}"
        lines = message.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("graphcore: error: "), f"{name}: stderr {message!r}"
        assert "Traceback" not in message
    else:
        assert isinstance(raised, error) and isinstance(raised, gc.GraphcoreError), \
            f"{name}: expected {error.__name__}, got {type(raised).__module__}.{type(raised).__name__}: {message}"
    assert fragment in message, f"{name}: {fragment!r} not in {message!r}"
    if site:
        assert f"{HERE}:" in message, f"{name}: the message does not name the user's line: {message!r}"
    if guard:
        path = world.path(guard[0])
        with open(path, "rb") as f:
            assert f.read() == before["bytes"], f"{name}: the failed call changed {guard[0]}"
        assert sorted(os.listdir(world.root)) == before["listing"], f"{name}: it left files behind"


def _attempt(world, call, guarded):
    """Run ``call`` and return (the exception it raised, what the guarded file held when it was created:
    its bytes and the directory listing)."""
    before = {}
    if guarded:
        original = world.existing

        def existing(name):
            path = original(name)
            with open(path, "rb") as f:
                before["bytes"] = f.read()
            before["listing"] = sorted(os.listdir(world.root))
            return path
        world.existing = existing
    try:
        call(world)
    except Exception as e:   # noqa: BLE001  (what was raised is the subject of the test)
        return e, before
    finally:
        world.__dict__.pop("existing", None)
    raise AssertionError("the call raised nothing")


# ----- issue 21, the Keras model: state changes all or nothing, History kept when interrupted ----------------------
def _two_layer_model():
    model = gc.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_set_weights_with_a_bad_last_array_changes_nothing():
    model = _two_layer_model()
    before = model.get_weights()
    arrays = [np.ones_like(a) for a in before]
    arrays[-1] = np.ones(5)                       # the last layer's bias does not fit
    with pytest.raises(gc.DataError, match="array 3 for dense_1/bias has shape \\(5,\\), the layer needs \\(2,\\)"):
        model.set_weights(arrays)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)       # the first layers were not overwritten


def test_load_weights_of_another_model_changes_nothing(tmp_path):
    model, other = _two_layer_model(), gc.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(3)])
    path = other.save_weights(str(tmp_path / "other.npz"))
    before = model.get_weights()
    with pytest.raises(gc.FileFormatError, match="weight 2 is float32\\(3, 3\\), the model's dense_1/kernel is "
                                                 "float32\\(3, 2\\); nothing was loaded"):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_interrupted_fit_keeps_the_history_of_the_epochs_it_completed():
    model = _two_layer_model()
    x, y = np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32)
    model.fit(x, y, epochs=5, verbose=0)          # a previous fit's History

    class CtrlC(gc.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.params["epochs"] and self.model.history.epoch == [0, 1]:
                raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[CtrlC()])
    assert model.history.epoch == [0, 1] and len(model.history.history["loss"]) == 2


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_step_is_undone_and_named():
    model = gc.Sequential([layers.Dense(1, input_shape=(4,), kernel_initializer=gc.initializers.Constant(1.0)),
                           layers.Activation("exponential")])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    x = np.full((4, 4), 30.0, np.float32)          # exp(120) overflows float32 in the first step's forward pass
    with pytest.raises(gc.DivergenceError, match="loss became Inf at epoch 1/1, batch 1/1: the first non-finite "
                                                 "tensor of that step is Exp produced Inf"):
        model.fit(x, np.ones(4), batch_size=4, verbose=0)
    for a, b in zip(model.get_weights(), before):   # the step's update (NaN) is undone
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_terminate_on_nan_false_trains_on_as_keras_does_without_the_callback():
    model = gc.Sequential([layers.Dense(2, input_shape=(4,))])
    model.compile(optimizer=gc.optimizers.SGD(1e30), loss="mse")
    history = model.fit(np.ones((10, 4)) * 1e10, np.ones((10, 2)), epochs=2, verbose=0, terminate_on_nan=False)
    assert len(history.epoch) == 2 and not np.isfinite(history.history["loss"][-1])
