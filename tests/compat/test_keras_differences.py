"""Keras idioms graphcore deliberately does not follow: each raises a ``CompatError`` (a ``GraphcoreError`` that is
also the ``TypeError`` Keras raises for arguments it does not know) naming the difference and graphcore's
spelling — never a bare TypeError or AttributeError, never a silent change of meaning (issue 20, must hold 4).
The words checked are those of docs/compat.md's rows."""
import numpy as np
import pytest

import graphcore as gc
from graphcore import callbacks, layers, losses, metrics, optimizers

X = np.ones((4, 3), np.float32)


def _compiled():
    model = gc.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    return model


CASES = [
    # (idiom as Keras writes it [guide], the call, the words of the error)
    ("Dense(32, kernel_constraint=max_norm(3)) [keras.io/api/layers/constraints]",
     lambda: layers.Dense(3, kernel_constraint=object()), "weight constraints are not supported"),
    ("Conv2D(..., data_format='channels_first') [keras.io/api/layers/convolution_layers/convolution2d]",
     lambda: layers.Conv2D(2, 3, data_format="channels_first"), "channels-last images"),
    ("a misspelt argument: Dense(unitz=3) [Keras raises TypeError]",
     lambda: layers.Dense(units=3, activaton="relu"), "unknown argument 'activaton'"),
    ("class MyModel(keras.Model) with call() [keras.io/guides/making_new_layers_and_models_via_subclassing]",
     lambda: gc.Model(), "the subclassing API"),
    ("model(x) on NumPy data [tensorflow.org/tutorials/quickstart/beginner]",
     lambda: _compiled()(X), "model.predict(x)"),
    ("model.fit(dataset) [keras.io/guides/training_with_built_in_methods, 'Training & evaluation from tf.data']",
     lambda: _compiled().fit(iter([(X, X[:, :1])]), epochs=1), "graphcore trains on NumPy arrays"),
    ("fit(..., steps_per_epoch=10) [keras.io/api/models/model_training_apis]",
     lambda: _compiled().fit(X, X[:, :1], steps_per_epoch=10, verbose=0), "leave the steps arguments None"),
    ("compile(weighted_metrics=[...]) [keras.io/guides/training_with_built_in_methods]",
     lambda: _compiled().compile(loss="mse", weighted_metrics=["mae"]), "metrics weighted by sample_weight"),
    ("optimizer='adagrad' [keras.io/api/optimizers]",
     lambda: _compiled().compile(optimizer="adagrad", loss="mse"), "use 'sgd', 'rmsprop' or 'adam'"),
    ("keras.optimizers.Adagrad() [keras.io/api/optimizers/adagrad]",
     lambda: optimizers.Adagrad(), "use 'sgd', 'rmsprop' or 'adam'"),
    ("Adam(amsgrad=True) [keras.io/api/optimizers/adam]",
     lambda: optimizers.Adam(amsgrad=True), "AMSGrad is not supported"),
    ("SGD(weight_decay=1e-4) [keras.io/api/optimizers]",
     lambda: optimizers.SGD(weight_decay=1e-4), "add an L2 kernel_regularizer"),
    ("SGD(lr=0.01, decay=1e-6) [Keras 2 guides]",
     lambda: optimizers.SGD(lr=0.01, decay=1e-6), "InverseTimeDecay"),
    ("RMSprop(momentum=0.9) [keras.io/api/optimizers/rmsprop]",
     lambda: optimizers.RMSprop(momentum=0.9), "RMSprop with momentum is not supported"),
    ("metrics=[keras.metrics.AUC()] [keras.io/api/metrics/classification_metrics]",
     lambda: metrics.AUC(), "compute them from model.predict"),
    ("metrics=['Precision'] [keras.io/api/metrics]",
     lambda: _compiled().compile(loss="mse", metrics=["Precision"]), "compute them from model.predict"),
    ("keras.losses.Dice() [keras.io/api/losses]",
     lambda: losses.Dice(), "write it as a function of (y_true, y_pred)"),
    ("keras.callbacks.TensorBoard(log_dir=...) [keras.io/api/callbacks/tensorboard]",
     lambda: callbacks.TensorBoard(log_dir="logs"), "log with CSVLogger"),
    ("layers.Conv1D(32, 3) [keras.io/examples/nlp/text_classification_from_scratch]",
     lambda: layers.Conv1D(32, 3), "give sequences a height of 1"),
    ("layers.LayerNormalization() [keras.io/api/layers/normalization_layers/layer_normalization]",
     lambda: layers.LayerNormalization(), "layer normalisation layers are not supported"),
    ("layers.TextVectorization(...) [keras.io/examples/nlp/text_classification_from_scratch]",
     lambda: layers.TextVectorization(), "prepare the arrays with NumPy"),
    ("Embedding(1000, 64, mask_zero=True) [keras.io/guides/understanding_masking_and_padding]",
     lambda: layers.Embedding(1000, 64, mask_zero=True), "graphcore has no masking"),
    ("LSTM(32, dropout=0.2) [keras.io/api/layers/recurrent_layers/lstm]",
     lambda: layers.LSTM(32, dropout=0.2), "put a Dropout layer before"),
    ("LSTM(32, stateful=True) [keras.io/guides/working_with_rnns, 'Cross-batch statefulness']",
     lambda: layers.LSTM(32, stateful=True), "no stateful RNNs"),
    ("LSTM(32, activation='relu') [keras.io/api/layers/recurrent_layers/lstm]",
     lambda: layers.LSTM(32, activation="relu"), "standard tanh and sigmoid"),
    ("keras.Input(shape=(3,), batch_size=32) [keras.io/api/layers/core_layers/input]",
     lambda: gc.Input(shape=(3,), batch_size=32), "leave batch_size out"),
    ("keras.Input(shape=(10,), sparse=True) [keras.io/api/layers/core_layers/input]",
     lambda: gc.Input(shape=(10,), sparse=True), "graphcore tensors are dense"),
    ("UpSampling2D(interpolation='bilinear') [keras.io/api/layers/reshaping_layers/up_sampling2d]",
     lambda: layers.UpSampling2D(interpolation="bilinear"), "only nearest-neighbour upsampling"),
    ("Dropout(0.5, noise_shape=(None, 1, 64)) [keras.io/api/layers/regularization_layers/dropout]",
     lambda: layers.Dropout(0.5, noise_shape=(None, 1, 64)), "leave noise_shape None"),
    ("BatchNormalization(axis=1) on channels-last images [keras.io/api/layers/normalization_layers]",
     lambda: gc.Sequential([gc.Input((4, 4, 2)), layers.BatchNormalization(axis=1)]), "axis=-1"),
    ("layer(x, mask=mask) [keras.io/guides/understanding_masking_and_padding]",
     lambda: layers.Dense(2)(gc.Input((3,), graph=gc.Graph()), mask=None), "graphcore has no masking"),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0].split(" [")[0] for case in CASES])
def test_keras_feature_graphcore_refuses(case):
    idiom, call, words = case
    with pytest.raises(gc.CompatError) as raised:
        call()
    assert isinstance(raised.value, gc.GraphcoreError) and isinstance(raised.value, TypeError)
    assert words in str(raised.value), f"{idiom}: {raised.value}"


def test_neutral_values_of_refused_arguments_are_accepted():
    # keras.io/api/layers/core_layers/dense: Dense(..., kernel_constraint=None) and data_format="channels_last" are
    # Keras's defaults, so they change nothing
    model = gc.Sequential([layers.Conv2D(1, 1, input_shape=(2, 2, 1), data_format="channels_last",
                                         kernel_constraint=None, use_bias=False)])
    (kernel,) = model.get_weights()
    image = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(model.predict(image, verbose=0), image * kernel[0, 0, 0, 0], rtol=1e-6)


def test_a_missing_name_is_both_a_graphcore_error_and_an_attribute_error():
    # hasattr/getattr with a default keep working on graphcore's Keras-like modules
    assert not hasattr(layers, "NoSuchLayer") and getattr(metrics, "F1Score", None) is None
    with pytest.raises(AttributeError, match="gc.layers has no 'NoSuchLayer'; it has Activation"):
        layers.NoSuchLayer  # noqa: B018
