"""Training: optimizers as graph update ops, gradient clipping and checkpoints."""
from ..unsupported import refuse
from .apply_ops import ApplyAdam, ApplyGradientDescent, ApplyMomentum, ApplyRMSProp  # noqa: F401 (registers)
from .clipping import clip_by_global_norm, clip_by_value, global_norm
from .optimizers import SGD, Adam, GradientDescent, Momentum, Optimizer, RMSProp, get
from .saver import Saver, get_checkpoint_state, latest_checkpoint
from .tf1 import (AdagradOptimizer, AdamOptimizer, GradientDescentOptimizer, MomentumOptimizer, RMSPropOptimizer,
                  exponential_decay, get_global_step, get_or_create_global_step)


def __getattr__(name):
    """TF1 names graphcore does not provide say why, and what to use instead."""
    raise refuse("gc.train", name)
