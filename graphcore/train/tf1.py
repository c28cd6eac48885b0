"""TF1's training API by its own names: the ``*Optimizer`` classes with TF1's signatures, defaults and update
equations, the global step, and the learning-rate decay that reads it.

TF1's defaults differ from Keras's and PyTorch's, and so do two update rules, which is why these are classes
of their own rather than aliases of ``SGD``/``Adam``/``RMSProp``:

* ``AdamOptimizer``: epsilon 1e-8 is TF1's "epsilon hat", added to √v *before* the bias correction is folded
  into the step size: ``lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ)``, ``var −= lr_t·m/(√v + ε)``.
* ``RMSPropOptimizer``: decay 0.9, epsilon 1e-10 *inside* the square root, the mean square starts at **ones**,
  and a momentum buffer is always kept: ``ms = ρ·ms + (1−ρ)·g²``, ``mom = μ·mom + lr·g/√(ms + ε)``,
  ``var −= mom`` (``centered=True`` subtracts the squared running mean of g under the root).
* ``AdagradOptimizer``: the accumulator starts at 0.1 and there is no epsilon: ``acc += g²``,
  ``var −= lr·g/√acc``.

Gradient descent and momentum are TF1's ``ApplyGradientDescent``/``ApplyMomentum`` kernels already. The
other updates are composed from graph ops and assignments, so they render and export like any graph.
``compute_gradients`` returns a pair for every variable (None where the loss does not reach it), and
``minimize(loss, global_step)`` adds 1 to the global step after the updates, as TF1's do.
"""
import numpy as np

from ..compat import declare, same_as
from ..errors import BuildError, GradientError
from ..gradients import gradients
from ..graph import get_default_graph
from ..ops.math import cast, floor, power, sqrt, square
from ..ops.state import Variable, assign
from ..variables import GraphKeys, get_collection
from .optimizers import SGD, Momentum, Optimizer


class TF1Optimizer(Optimizer):
    """The TF1 ``tf.train.Optimizer`` interface over graphcore's optimizers."""

    def compute_gradients(self, loss, var_list=None, gate_gradients=1, aggregation_method=None,
                          colocate_gradients_with_ops=False, grad_loss=None):
        """Every ``(gradient, variable)`` pair for the trainable variables (or ``var_list``), the gradient
        None where the loss does not depend on the variable. The ordering and placement arguments are
        accepted and have nothing to do here."""
        var_list = list(var_list) if var_list is not None else loss.graph.trainable_variables
        if not var_list:
            raise GradientError("no variables to optimize: the graph has no trainable variables")
        return list(zip(gradients(loss, var_list, grad_ys=grad_loss), var_list))

    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=1, aggregation_method=None,
                 colocate_gradients_with_ops=False, name=None, grad_loss=None):
        """TF1's argument order: ``minimize(loss, global_step=None, var_list=None, ...)``. Returns the node
        that runs one step (``sess.run(train_op)`` gives None)."""
        pairs = self.compute_gradients(loss, var_list, grad_loss=grad_loss)
        return self.apply_gradients(pairs, global_step=global_step, name=name)

    def get_slot(self, var, name):
        """Slot ``name`` of ``var`` (``"m"``, ``"momentum"`` …), or None, as TF1's ``get_slot``."""
        return self._slots.get((var, name))

    def get_slot_names(self):
        return sorted(self.slot_names)


@same_as("TF1", "tf.train.GradientDescentOptimizer")
class GradientDescentOptimizer(TF1Optimizer, SGD):
    """``var −= lr·g``."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        SGD.__init__(self, learning_rate, name=name)


@same_as("TF1", "tf.train.MomentumOptimizer", note="use_nesterov= as TF1; momentum is required, as in TF1")
class MomentumOptimizer(TF1Optimizer, Momentum):
    """``acc = μ·acc + g``, ``var −= lr·acc`` (Nesterov: ``var −= lr·(g + μ·acc)``)."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum", use_nesterov=False):
        Momentum.__init__(self, learning_rate, momentum=momentum, nesterov=use_nesterov, name=name)


@same_as("TF1", "tf.train.AdamOptimizer", note="TF1's defaults (epsilon 1e-8) and its epsilon-hat update")
class AdamOptimizer(TF1Optimizer):
    """See the module docstring; the step count t is the optimizer's ``iterations`` + 1."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, use_locking=False, name="Adam"):
        super().__init__(learning_rate, name=name)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self._step_sizes = {}

    def _step_size(self, lr, dtype):
        """lr·√(1−β₂ᵗ)/(1−β₁ᵗ), one node per dtype for all the variables."""
        if dtype not in self._step_sizes:
            t = cast(self.iterations, dtype) + 1.0
            self._step_sizes[dtype] = lr * sqrt(1.0 - power(self.beta2, t)) / (1.0 - power(self.beta1, t))
        return self._step_sizes[dtype]

    def _update(self, var, slots, grad, lr):
        m, v = slots
        b1, b2 = self.beta1, self.beta2
        new_m = assign(m, b1 * m + (1.0 - b1) * grad)
        new_v = assign(v, b2 * v + (1.0 - b2) * square(grad))
        return assign(var, var - self._step_size(lr, var.dtype) * new_m / (sqrt(new_v) + self.epsilon))


@same_as("TF1", "tf.train.RMSPropOptimizer",
         note="TF1's defaults (decay 0.9, epsilon 1e-10 inside the root, mean square starting at ones)")
class RMSPropOptimizer(TF1Optimizer):
    """See the module docstring."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False, centered=False,
                 name="RMSProp"):
        super().__init__(learning_rate, name=name)
        self.decay, self.momentum, self.epsilon = float(decay), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self.slot_names = ("rms", "momentum") + (("mg",) if self.centered else ())

    def _initial_slot(self, var, name):
        return np.broadcast_to(np.ones((), var.dtype), var.shape) if name == "rms" else super()._initial_slot(var, name)

    def _update(self, var, slots, grad, lr):
        rho = self.decay
        ms = assign(slots[0], rho * slots[0] + (1.0 - rho) * square(grad))
        mean_square = ms
        if self.centered:
            mg = assign(slots[2], rho * slots[2] + (1.0 - rho) * grad)
            mean_square = ms - square(mg)
        mom = assign(slots[1], self.momentum * slots[1] + lr * grad / sqrt(mean_square + self.epsilon))
        return assign(var, var - mom)


@same_as("TF1", "tf.train.AdagradOptimizer", note="TF1's accumulator start 0.1 and no epsilon")
class AdagradOptimizer(TF1Optimizer):
    """See the module docstring."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False, name="Adagrad"):
        if not initial_accumulator_value > 0:
            raise BuildError(f"initial_accumulator_value must be positive, got {initial_accumulator_value}")
        super().__init__(learning_rate, name=name)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def _initial_slot(self, var, name):
        return np.broadcast_to(np.asarray(self.initial_accumulator_value, var.dtype), var.shape)

    def _update(self, var, slots, grad, lr):
        acc = assign(slots[0], slots[0] + square(grad))
        return assign(var, var - lr * grad / sqrt(acc))


# ----- the global step -------------------------------------------------------------------------------------

@same_as("TF1", "tf.train.get_global_step")
def get_global_step(graph=None):
    """The graph's global step: the one in the ``global_step`` collection, else a variable named
    ``global_step``, else None."""
    graph = graph or get_default_graph()
    listed = get_collection(GraphKeys.GLOBAL_STEP, graph=graph)
    if listed:
        return listed[0]
    return next((v for v in graph.variables if v.node.name == "global_step"), None)


@same_as("TF1", "tf.train.get_or_create_global_step", "tf.train.create_global_step")
def get_or_create_global_step(graph=None):
    """The global step, made on first use: an int64 scalar variable named ``global_step``, not trainable."""
    graph = graph or get_default_graph()
    step = get_global_step(graph)
    if step is None:
        with graph.as_default(), graph.name_scope("/"), graph.control_dependencies(None):
            step = Variable(np.int64(0), name="global_step", trainable=False)
        graph.collections[GraphKeys.GLOBAL_STEP] = [step]
    return step


@same_as("TF1", "tf.train.exponential_decay")
def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """``learning_rate · decay_rate ^ (global_step / decay_steps)`` as a float32 tensor that follows the
    global step (the exponent's division is floored with ``staircase=True``), as TF1's."""
    if global_step is None:
        raise BuildError("exponential_decay needs global_step (e.g. gc.train.get_or_create_global_step())")
    progress = cast(global_step, np.float32) / float(decay_steps)
    if staircase:
        progress = floor(progress)
    return learning_rate * power(np.float32(decay_rate), progress)


declare("TF1", "tf.train.Optimizer.minimize(global_step=)", "gc.train.Optimizer.minimize(global_step=)",
        "adds 1 to the global step after the updates; every graphcore optimizer takes it")
