"""Keras idioms: optimizers with Keras's names, arguments and update equations (keras.io/api/optimizers),
checked step by step against the equations of Keras's source computed by hand. The problem is one weight w
with loss (w·1 − 0)², so the gradient is 2w."""
import numpy as np
import pytest

import graphcore as gc
from graphcore import layers, optimizers

ONE, ZERO = np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)


def _weight_path(optimizer, steps=3, w0=1.0, callbacks=None):
    """w after each of ``steps`` training steps of ``optimizer`` on loss w² (one batch per epoch)."""
    model = gc.Sequential([layers.Dense(1, use_bias=False, input_shape=(1,))])
    model.set_weights([np.array([[w0]], np.float32)])
    model.compile(optimizer=optimizer, loss="mse")
    path = []
    record = gc.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: path.append(model.get_weights()[0].item()))
    model.fit(ONE, ZERO, epochs=steps, verbose=0, callbacks=[record, *(callbacks or [])])
    return np.array(path)


def _by_hand(update, steps=3, w0=1.0, **state):
    w, path = w0, []
    for t in range(1, steps + 1):
        w = update(w, 2 * w, t, state)
        path.append(w)
    return np.array(path)


def test_sgd_momentum_and_nesterov():
    # keras.io/api/optimizers/sgd: SGD(learning_rate=0.1, momentum=0.9, nesterov=...) —
    # velocity = momentum * velocity - learning_rate * g; w = w + velocity (Nesterov: w + momentum*velocity - lr*g)
    def momentum(w, g, t, s, nesterov=False):
        s["v"] = 0.9 * s.get("v", 0.0) - 0.1 * g
        return w + (0.9 * s["v"] - 0.1 * g if nesterov else s["v"])
    np.testing.assert_allclose(_weight_path(optimizers.SGD(learning_rate=0.1, momentum=0.9)),
                               _by_hand(momentum), rtol=1e-6)
    np.testing.assert_allclose(_weight_path(optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)),
                               _by_hand(lambda w, g, t, s: momentum(w, g, t, s, True)), rtol=1e-6)


def test_sgd_momentum_keeps_keras_velocity_when_the_rate_changes():
    # keras.io/api/optimizers/sgd with keras.io/api/callbacks/learning_rate_scheduler: Keras's velocity holds
    # the step itself, so a new rate applies to new gradients only (PyTorch's form would rescale the history)
    rates = [0.1, 0.01, 0.001]
    schedule = gc.callbacks.LearningRateScheduler(lambda epoch: rates[epoch])

    def keras_form(w, g, t, s):
        s["v"] = 0.9 * s.get("v", 0.0) - rates[t - 1] * g
        return w + s["v"]
    np.testing.assert_allclose(_weight_path(optimizers.SGD(0.1, momentum=0.9), callbacks=[schedule]),
                               _by_hand(keras_form), rtol=1e-6)


def test_rmsprop_divides_by_the_root_of_velocity_plus_epsilon():
    # keras.io/api/optimizers/rmsprop: velocity = rho*velocity + (1-rho)*g²; w -= lr * g / sqrt(velocity + epsilon)
    def rmsprop(w, g, t, s):
        s["v"] = 0.9 * s.get("v", 0.0) + 0.1 * g * g
        return w - 0.01 * g / np.sqrt(s["v"] + 1e-7)
    np.testing.assert_allclose(_weight_path(optimizers.RMSprop(learning_rate=0.01)), _by_hand(rmsprop), rtol=1e-5)


def test_adam_with_keras_epsilon_hat():
    # keras.io/api/optimizers/adam (Keras's update_step): alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t);
    # w -= alpha * m / (sqrt(v) + epsilon)
    def adam(w, g, t, s):
        s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * 0.1
        s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * 0.001
        alpha = 0.1 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        return w - alpha * s["m"] / (np.sqrt(s["v"]) + 0.1)
    # a large epsilon makes Keras's ε̂ visibly differ from PyTorch's form
    np.testing.assert_allclose(_weight_path(optimizers.Adam(learning_rate=0.1, beta_1=0.9, beta_2=0.999,
                                                            epsilon=0.1)), _by_hand(adam), rtol=1e-5)


@pytest.mark.parametrize("name, cls, rate", [("rmsprop", "RMSprop", 0.001), ("adam", "Adam", 0.001),
                                             ("sgd", "SGD", 0.01), ("Adam", "Adam", 0.001)])
def test_optimizer_strings_take_keras_defaults(name, cls, rate):
    # keras.io/api/optimizers: model.compile(optimizer="rmsprop") uses the default parameters
    model = gc.Sequential([layers.Dense(1, input_shape=(1,))])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer).__name__ == cls
    assert gc.callbacks.get_learning_rate(model) == pytest.approx(rate)


def test_keras2_lr_spelling():
    # Keras 2 guides: SGD(lr=0.1)
    np.testing.assert_allclose(_weight_path(optimizers.SGD(lr=0.1), steps=1), [1.0 - 0.1 * 2.0], rtol=1e-6)


@pytest.mark.parametrize("argument, expected", [("clipnorm", 0.5), ("global_clipnorm", 0.5), ("clipvalue", 0.5)])
def test_gradient_clipping(argument, expected):
    # keras.io/api/optimizers, "Base Optimizer API": clipnorm, clipvalue, global_clipnorm; g = 2 here, clipped
    path = _weight_path(optimizers.SGD(learning_rate=1.0, **{argument: 0.5}), steps=1)
    np.testing.assert_allclose(path, [1.0 - expected], rtol=1e-6)


def test_exponential_decay_schedule():
    # keras.io/api/optimizers/learning_rate_schedules/exponential_decay:
    # lr = initial_learning_rate * decay_rate ^ (step / decay_steps)
    schedule = optimizers.schedules.ExponentialDecay(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)
    rates = [0.1 * 0.5 ** (t / 2) for t in range(3)]
    np.testing.assert_allclose(float(schedule(1)), rates[1], rtol=1e-6)
    expected = _by_hand(lambda w, g, t, s: w - rates[t - 1] * g)
    np.testing.assert_allclose(_weight_path(optimizers.SGD(learning_rate=schedule)), expected, rtol=1e-6)


def test_piecewise_constant_and_inverse_time_decay():
    # keras.io/api/optimizers/learning_rate_schedules/piecewise_constant_decay and inverse_time_decay
    piecewise = optimizers.schedules.PiecewiseConstantDecay(boundaries=[1], values=[0.1, 0.01])
    assert [float(piecewise(s)) for s in (0, 1, 2)] == pytest.approx([0.1, 0.1, 0.01])
    inverse = optimizers.schedules.InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5)
    assert float(inverse(2)) == pytest.approx(0.1 / (1 + 0.5 * 2))


def test_optimizer_state_is_kept_across_fit_calls():
    # keras.io/api/models/model_training_apis: calling fit again continues with the same optimizer state
    # (Adam's step counter and moments), like one longer fit
    once = _weight_path(optimizers.Adam(0.1), steps=4)
    model = gc.Sequential([layers.Dense(1, use_bias=False, input_shape=(1,))])
    model.set_weights([np.ones((1, 1), np.float32)])
    model.compile(optimizer=optimizers.Adam(0.1), loss="mse")
    model.fit(ONE, ZERO, epochs=2, verbose=0)
    model.fit(ONE, ZERO, epochs=2, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0][0, 0], once[-1], rtol=1e-6)
