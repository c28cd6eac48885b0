"""The op library: importing this package registers every op in ``graphcore.op.REGISTRY``."""
from .state import (Variable, VariableTensor, assign, assign_add, assign_sub, constant, fill, group, ones,
                    placeholder, placeholder_with_default, stop_gradient, zeros)
from .math import (abs, acos, acosh, add, add_n, asin, asinh, atan, atanh, broadcast_like, cast, cos, divide, elu,
                   equal, exp, floor, greater, greater_equal, identity, leaky_relu, less, less_equal, log, log1p,
                   logical_and, logical_not, logical_or, matmul, maximum, minimum, mod, multiply, negative,
                   not_equal, ones_like, power, reciprocal, relu, rsqrt, sigmoid, sign, sin, size, softplus, sqrt,
                   square, step, subtract, sum_to, tanh, where, zeros_like)
from .array import (concat, expand_dims, gather, getitem, one_hot, pad, reshape, slice_along, split, squeeze,
                    tile, transpose)
from .reduce import argmax, argmin, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum
from .nn import batch_norm, dropout, log_softmax, softmax
from .random import bernoulli, random_normal, random_uniform, set_random_seed, truncated_normal
from .linalg import det, linear_solve
from .conv import avg_pool2d, conv2d, conv2d_transpose, global_avg_pool2d, max_pool2d, sum_pool2d
from .cell import lstm_cell
from .dynamic import arange, constant_of_shape, expand, reshape_like, reshape_to, shape_of
from .special import erf
from .data_dependent import non_max_suppression, nonzero, unique_indices
from .bits import bit_cast, bit_shift, bitwise_and, bitwise_not, bitwise_or, bitwise_xor
from .elements import gather_elements, gather_nd, scatter_elements, scatter_nd, top_k

from ..compat import same_as
from ..graph import OPERATORS

# Tensor's operators (``a + b``, ``x[1:]``, ``x.T``) call these.
OPERATORS.update(
    add=add, subtract=subtract, multiply=multiply, divide=divide, matmul=matmul, power=power, negative=negative,
    abs=abs, less=less, less_equal=less_equal, greater=greater, greater_equal=greater_equal, getitem=getitem,
    transpose=transpose)

# TF1 spells these ``tf.<name>`` with the same arguments and meaning (docs/compat.md is generated from this).
for _theirs, _ours in (
        ("add", add), ("subtract", subtract), ("multiply", multiply), ("divide", divide), ("pow", power),
        ("add_n", add_n), ("negative", negative), ("abs", abs), ("square", square), ("sqrt", sqrt), ("rsqrt", rsqrt),
        ("exp", exp), ("log", log), ("log1p", log1p), ("sin", sin), ("cos", cos), ("sign", sign),
        ("reciprocal", reciprocal), ("floor", floor), ("maximum", maximum), ("minimum", minimum),
        ("sigmoid", sigmoid), ("tanh", tanh), ("equal", equal), ("not_equal", not_equal), ("less", less),
        ("less_equal", less_equal), ("greater", greater), ("greater_equal", greater_equal),
        ("logical_and", logical_and), ("logical_or", logical_or), ("logical_not", logical_not), ("where", where),
        ("cast", cast), ("matmul", matmul), ("identity", identity), ("zeros_like", zeros_like),
        ("ones_like", ones_like), ("reshape", reshape), ("transpose", transpose), ("concat", concat),
        ("expand_dims", expand_dims), ("squeeze", squeeze), ("gather", gather), ("one_hot", one_hot),
        ("tile", tile), ("reduce_sum", reduce_sum), ("reduce_mean", reduce_mean), ("reduce_max", reduce_max),
        ("reduce_min", reduce_min), ("reduce_prod", reduce_prod), ("random_normal", random_normal),
        ("random_uniform", random_uniform), ("truncated_normal", truncated_normal), ("fill", fill),
        ("assign", assign), ("assign_add", assign_add), ("assign_sub", assign_sub), ("group", group),
        ("stop_gradient", stop_gradient), ("placeholder_with_default", placeholder_with_default),
        ("shape", shape_of)):
    same_as("TF1", f"tf.{_theirs}")(_ours)
same_as("TF1", "tf.argmax", note="axis=None means axis 0, as TF1 (not NumPy's flattening)")(argmax)
same_as("TF1", "tf.argmin", note="axis=None means axis 0, as TF1")(argmin)
same_as("TF1", "tf.split", note="axis 0 by default, as TF1")(split)
same_as("TF1", "tf.zeros")(zeros)
same_as("TF1", "tf.ones")(ones)
same_as("TF1", "tf.set_random_seed",
        note="seeded graphs replay the same numbers on every run, though not TF1's numbers")(set_random_seed)
same_as("TF1", "tf.constant", note="shape= fills, reshapes or pads with the last value as TF1; Python ints are "
                                   "int64 (TF1: int32)")(constant)
same_as("TF1", "tf.placeholder", note="shape=[None, 784] lists; a rank is required (see the row below)")(placeholder)
same_as("TF1", "tf.Variable", note="initialised when a session first needs it; tf.global_variables_initializer() "
                                   "(re)sets it as in TF1")(Variable)
del _theirs, _ours

# Everything imported above is public: the graph-building functions ``graphcore`` re-exports.
__all__ = [name for name in dir() if not name.startswith("_") and name not in
           ("state", "math", "array", "reduce", "nn", "random", "conv", "linalg", "cell", "dynamic", "special",
            "elements", "bits", "data_dependent", "same_as", "OPERATORS")]
