"""The op library: importing this package registers every op in ``graphcore.op.REGISTRY``."""
from .state import (Variable, VariableTensor, assign, assign_add, assign_sub, constant, group, placeholder,
                    placeholder_with_default, stop_gradient)
from .math import (abs, acos, acosh, add, add_n, asin, asinh, atan, atanh, broadcast_like, cast, cos, divide, elu,
                   equal, exp, floor, greater, greater_equal, identity, leaky_relu, less, less_equal, log, log1p,
                   logical_and, logical_not, logical_or, matmul, maximum, minimum, mod, multiply, negative,
                   not_equal, ones_like, power, reciprocal, relu, rsqrt, sigmoid, sign, sin, size, softplus, sqrt,
                   square, step, subtract, sum_to, tanh, where, zeros_like)
from .array import (concat, expand_dims, gather, getitem, one_hot, pad, reshape, reshape_like, split, squeeze,
                    tile, transpose)
from .reduce import argmax, argmin, reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum
from .nn import batch_norm, dropout, log_softmax, softmax
from .random import bernoulli, random_normal, random_uniform
from .linalg import det, linear_solve
from .conv import avg_pool2d, conv2d, conv2d_transpose, global_avg_pool2d, max_pool2d, sum_pool2d
from .cell import lstm_cell
from .dynamic import arange, constant_of_shape, expand, reshape_to, shape_of, slice_along
from .special import erf
from .data_dependent import non_max_suppression, nonzero, unique_indices
from .bits import bit_cast, bit_shift, bitwise_and, bitwise_not, bitwise_or, bitwise_xor
from .elements import gather_elements, gather_nd, scatter_elements, scatter_nd, top_k
from .scan import scan  # noqa: E402  (the loop op; binds the name to the function, not the module)

# Everything imported above is public: the graph-building functions ``graphcore`` re-exports.
__all__ = [name for name in dir() if not name.startswith("_") and name not in
           ("state", "math", "array", "reduce", "nn", "random", "conv", "linalg", "cell", "dynamic", "special",
            "elements", "bits", "data_dependent")]
