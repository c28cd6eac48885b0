"""Fused optimizer update ops, as in TensorFlow 1: one node per variable updates it and its slots.

Fused because an Adam step composed from primitives costs a dozen nodes and temporaries per variable; the
update is not differentiated, so nothing is lost. Each op takes the variable (and slot) reads first, writes
the new values back (see ``WriteOp``), and takes the learning rate as a tensor so it can be fed or scheduled.
The equations follow PyTorch's and Keras's definitions, so results can be compared with them.
"""
import numpy as np

from ..op import register
from ..ops.state import WriteOp


def _scalar(x, dtype):
    return dtype.type(x)


@register
class ApplyGradientDescent(WriteOp):
    """var ← var − lr·g.  Inputs: var, grad, lr."""

    def compute(self, var, grad, lr):
        return var - _scalar(lr, var.dtype) * grad

    def samples(self, rng):
        yield [rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), np.float64(0.1)], {}


@register
class ApplyMomentum(WriteOp):
    """TF1's and PyTorch's form: accum ← μ·accum + g;  var ← var − lr·accum  (Nesterov: var ← var − lr·(g +
    μ·accum)). Keras's form (``keras=True``): the velocity holds the step itself, v ← μ·v − lr·g;  var ← var + v
    (Nesterov: var ← var + μ·v − lr·g). They agree while lr is constant and differ when a schedule changes it
    (Keras's velocity keeps the old rates). Inputs: var, accum, grad, lr."""

    writes = 2

    def compute(self, var, accum, grad, lr, momentum, nesterov, keras=False):
        mu, lr = _scalar(momentum, var.dtype), _scalar(lr, var.dtype)
        if keras:
            velocity = accum * mu - lr * grad
            return var + (velocity * mu - lr * grad if nesterov else velocity), velocity
        accum = accum * mu + grad
        direction = grad + mu * accum if nesterov else accum
        return var - lr * direction, accum

    def samples(self, rng):
        for keras in (False, True):
            yield [rng.normal(size=(3,)), rng.normal(size=(3,)), rng.normal(size=(3,)), np.float64(0.1)], \
                {"momentum": 0.9, "nesterov": True, "keras": keras}


@register
class ApplyRMSProp(WriteOp):
    """ms ← ρ·ms + (1−ρ)·g²;  var ← var − lr·g / (√ms + ε) (PyTorch's form), or with ``epsilon_inside``
    var ← var − lr·g / √(ms + ε) (Keras's and TF1's).  Inputs: var, ms, grad, lr."""

    writes = 2

    def compute(self, var, ms, grad, lr, rho, epsilon, epsilon_inside=False):
        ms = ms * _scalar(rho, var.dtype) + _scalar(1 - rho, var.dtype) * np.square(grad)
        if epsilon_inside:
            step = ms + _scalar(epsilon, var.dtype)
            np.sqrt(step, out=step)
        else:
            step = np.sqrt(ms)
            step += _scalar(epsilon, var.dtype)
        np.divide(grad, step, out=step)
        step *= _scalar(lr, var.dtype)
        return var - step, ms

    def samples(self, rng):
        for inside in (False, True):
            yield [rng.normal(size=(3,)), rng.uniform(size=(3,)), rng.normal(size=(3,)), np.float64(0.1)], \
                {"rho": 0.9, "epsilon": 1e-7, "epsilon_inside": inside}


@register
class ApplyAdam(WriteOp):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  var ← var − lr·m̂ / (√v̂ + ε) with the bias corrections
    m̂ = m / (1−β₁ᵗ), v̂ = v / (1−β₂ᵗ) at step t = iterations + 1 (PyTorch's form). With ``epsilon_hat`` (Keras's
    and TF1's form, Kingma & Ba's ε̂): var ← var − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε), i.e. ε is not scaled
    by the bias correction.  Inputs: var, m, v, grad, lr, iterations."""

    writes = 3

    def compute(self, var, m, v, grad, lr, iterations, beta1, beta2, epsilon, epsilon_hat=False):
        dtype = var.dtype
        t = float(iterations) + 1.0
        m = m * _scalar(beta1, dtype) + _scalar(1 - beta1, dtype) * grad
        v = v * _scalar(beta2, dtype) + _scalar(1 - beta2, dtype) * np.square(grad)
        step_size = float(lr) / (1 - beta1 ** t)
        v_scale = 1 / np.sqrt(1 - beta2 ** t)
        denom = np.sqrt(v)
        denom *= _scalar(v_scale, dtype)
        denom += _scalar(epsilon * v_scale if epsilon_hat else epsilon, dtype)
        np.divide(m, denom, out=denom)
        denom *= _scalar(step_size, dtype)
        return var - denom, m, v

    def samples(self, rng):
        for hat in (False, True):
            yield [rng.normal(size=(3,)), rng.normal(size=(3,)), rng.uniform(size=(3,)), rng.normal(size=(3,)),
                   np.float64(0.1), np.int64(4)], {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7, "epsilon_hat": hat}
