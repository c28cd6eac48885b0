"""Optimizers add update ops to the graph (TensorFlow 1 style): a training step is itself a graph node.

``minimize(loss)`` = ``compute_gradients`` (symbolic, under ``gradients/``) + ``apply_gradients`` (one fused
update node per variable, under the optimizer's name scope), grouped into one fetchable ``NoOp``; for plain
gradient descent the gradients are those of η·L (the backward pass seeded with the learning rate), so each
update is a subtraction.
Slot variables (momentum buffers, Adam moments) are ordinary non-trainable variables, so checkpoints hold them.
"""
import numpy as np

from ..errors import BuildError, GradientError
from ..gradients import gradients
from ..graph import Tensor
from ..op import apply_op, convert_to_tensor
from ..ops.math import cast
from ..ops.state import Variable, assign_add, group
from .clipping import clip_by_global_norm


def _zeros(var):
    # A zero-stride view: building a full-size model allocates nothing until the session initialises it.
    return np.broadcast_to(np.zeros((), var.dtype), var.shape)


class Optimizer:
    """Base class: subclasses name their slots and build one fused update per variable."""

    slot_names = ()

    def __init__(self, learning_rate, clip_norm=None, name=None):
        self.learning_rate = learning_rate
        self.clip_norm = clip_norm
        self.name = name or type(self).__name__
        self.iterations = None
        self._slots = {}
        self._learning_rates = {}
        self._unit_rates = {}   # the rate 1 of updates whose gradients hold the learning rate (``minimize``)

    def compute_gradients(self, loss, var_list=None):
        """[(gradient, variable)] for the trainable variables (or ``var_list``); unconnected ones dropped."""
        var_list = list(var_list) if var_list is not None else loss.graph.trainable_variables
        if not var_list:
            raise GradientError("no variables to optimize: the graph has no trainable variables")
        grads = gradients(loss, var_list)
        pairs = [(g, v) for g, v in zip(grads, var_list) if g is not None]
        if not pairs:
            raise GradientError(f"none of the variables {[v.name for v in var_list]} is connected to the loss "
                                f"{loss.name}", loss.node)
        return pairs

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """One update node per variable plus the step counter increment, grouped into one node. Pairs whose
        gradient is None are skipped. With ``global_step`` (a variable), the returned node also adds 1 to it
        once the updates are done (TF1's ``apply_gradients(global_step=)``)."""
        return self._apply(grads_and_vars, global_step, name, self._learning_rate_for)

    def _apply(self, grads_and_vars, global_step, name, rate_for):
        """``apply_gradients`` with each variable's rate from ``rate_for(var, graph)``."""
        pairs = list(grads_and_vars)
        grads_and_vars = [(g, v) for g, v in pairs if g is not None]
        if not grads_and_vars:
            raise GradientError("no gradients provided for any variable: none of "
                                f"{[v.name for _, v in pairs]} is connected to the loss")
        graph = grads_and_vars[0][1].graph
        if self.clip_norm is not None:
            clipped, _ = clip_by_global_norm([g for g, _ in grads_and_vars], self.clip_norm)
            grads_and_vars = [(c, v) for c, (_, v) in zip(clipped, grads_and_vars)]
        with graph.name_scope(self.name + "/"):
            if self.iterations is None:
                with graph.as_default():
                    self.iterations = Variable(np.int64(0), name="iterations", trainable=False)
            updates = []
            for grad, var in grads_and_vars:
                lr = rate_for(var, graph)
                slots = [self._slot(var, s, graph) for s in self.slot_names]
                updates.append(self._update(var, slots, grad, lr))
            updates.append(assign_add(self.iterations, np.int64(1)))
            step = group(*updates, name=name or "update")
        if global_step is None:
            return step
        with graph.control_dependencies([step]):
            return assign_add(global_step, np.ones((), global_step.dtype), name=name or "global_step_increment").node

    def minimize(self, loss, var_list=None, global_step=None):
        """``apply_gradients(compute_gradients(loss, var_list), global_step)``: one fetchable training step.

        An update linear in the learning rate η (plain gradient descent) is built from the gradients of η·L
        instead: the backward pass is seeded with η rather than 1 (η·∂L/∂w up to rounding, the chain rule
        being linear in its seed), so each update is one subtraction and an exported step has one node per
        variable fewer. ``compute_gradients`` still gives the gradients of L."""
        var_list = list(var_list) if var_list is not None else loss.graph.trainable_variables
        if not (var_list and self._update_is_linear_in_rate() and tuple(loss.shape) == ()
                and all(v.dtype == loss.dtype for v in var_list)):
            return self.apply_gradients(self.compute_gradients(loss, var_list), global_step=global_step)
        with loss.graph.as_default(), loss.graph.name_scope(self.name + "/"):
            rate = self._learning_rate_for(loss, loss.graph)
        grads = gradients(loss, var_list, grad_ys=rate)
        pairs = [(g, v) for g, v in zip(grads, var_list) if g is not None]
        if not pairs:
            self.compute_gradients(loss, var_list)   # raises, naming the variables and the loss
        return self._apply(pairs, global_step, None, self._unit_rate)

    def _update_is_linear_in_rate(self):
        """Whether ``minimize`` may seed the backward pass with the learning rate: the update is w − η·g and
        nothing (clipping) reads the gradients first."""
        return False

    def _unit_rate(self, var, graph):
        """The rate of an update whose gradient holds the learning rate already: 1, one constant per dtype."""
        if var.dtype not in self._unit_rates:
            self._unit_rates[var.dtype] = convert_to_tensor(np.ones((), var.dtype), graph=graph,
                                                            name="rate_in_gradients")
        return self._unit_rates[var.dtype]

    def slot(self, var, name):
        return self._slots[(var, name)]

    def _slot(self, var, name, graph):
        if (var, name) not in self._slots:
            with graph.as_default():
                self._slots[(var, name)] = Variable(self._initial_slot(var, name), name=f"{var.node.name}/{name}",
                                                    trainable=False)
        return self._slots[(var, name)]

    def _initial_slot(self, var, name):
        """The initial value of slot ``name`` of ``var``: zeros unless an optimizer says otherwise."""
        return _zeros(var)

    def _learning_rate_for(self, var, graph):
        """One learning-rate tensor per dtype, shared by all updates (a fed or scheduled tensor is cast)."""
        if var.dtype not in self._learning_rates:
            lr = self.learning_rate
            self._learning_rates[var.dtype] = cast(lr, var.dtype) if isinstance(lr, Tensor) else \
                convert_to_tensor(np.asarray(lr, dtype=var.dtype), graph=graph, name="learning_rate")
        return self._learning_rates[var.dtype]

    def _update(self, var, slots, grad, lr):
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: w ← w − η·∂L/∂w (the notes' worked example: w = 5 → 4.2)."""

    def _update(self, var, slots, grad, lr):
        return apply_op("ApplyGradientDescent", [var, grad, lr], name="SGD")

    def _update_is_linear_in_rate(self):
        return self.clip_norm is None


class Momentum(Optimizer):
    """Gradient descent with a velocity buffer; ``nesterov=True`` looks ahead."""

    slot_names = ("momentum",)

    def __init__(self, learning_rate, momentum=0.9, nesterov=False, **kw):
        super().__init__(learning_rate, **kw)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _update(self, var, slots, grad, lr):
        return apply_op("ApplyMomentum", [var, slots[0], grad, lr], name="Momentum", momentum=self.momentum,
                        nesterov=self.nesterov)


class RMSProp(Optimizer):
    """Divides the step by a running RMS of recent gradients."""

    slot_names = ("rms",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kw):
        super().__init__(learning_rate, **kw)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _update(self, var, slots, grad, lr):
        return apply_op("ApplyRMSProp", [var, slots[0], grad, lr], name="RMSProp", rho=self.rho,
                        epsilon=self.epsilon)


class Adam(Optimizer):
    """Adaptive moments with bias correction (Kingma & Ba; PyTorch's and Keras's defaults)."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-7, **kw):
        super().__init__(learning_rate, **kw)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def _update(self, var, slots, grad, lr):
        return apply_op("ApplyAdam", [var, slots[0], slots[1], grad, lr, self.iterations], name="Adam",
                        beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)


GradientDescent = SGD

_BY_NAME = {"sgd": SGD, "momentum": Momentum, "rmsprop": RMSProp, "adam": Adam}


def get(identifier, **kwargs):
    """An optimizer from a name ('adam', 'sgd', 'momentum', 'rmsprop') or an instance (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    try:
        cls = _BY_NAME[str(identifier).lower()]
    except KeyError:
        raise BuildError(f"unknown optimizer {identifier!r}; choose from {sorted(_BY_NAME)}") from None
    if cls in (SGD, Momentum) and "learning_rate" not in kwargs:
        kwargs["learning_rate"] = 0.01
    return cls(**kwargs)


__all__ = ["Optimizer", "SGD", "GradientDescent", "Momentum", "RMSProp", "Adam", "get"]
