"""Elementwise math, comparisons, matmul and the broadcasting helpers gradients are built from.

Unary ops are declared in one line each, HIPS-autograd style: ``unary("Exp", np.exp, lambda x, y, g: g * y)``
gives the kernel and the gradient (``x`` input, ``y`` output, ``g`` output gradient, all graph tensors).
"""
import numpy as np

from .. import dtypes as _dt
from ..errors import BuildError
from ..graph import graph_of
from ..op import Op, apply_op, convert_inputs, register, require_float, same_dtype
from ..shapes import broadcast_shapes, format_shape, is_fully_defined

# ---------------------------------------------------------------------------------------------------------
# Broadcasting helpers (the gradient of every broadcasting op ends in sum_to)
# ---------------------------------------------------------------------------------------------------------


@register
class SumTo(Op):
    """Sum ``g`` down to the runtime shape of ``like``: undoes broadcasting in gradients."""

    def infer(self, node):
        g, like = node.inputs
        return [(g.dtype, like.shape)]

    def compute(self, g, like):
        shape = like.shape
        if g.shape == shape:
            return g
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
        return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)

    def grad(self, node, output_grads, wanted):
        (gg,) = output_grads
        return [broadcast_like(gg, node.inputs[0]), None]

    def samples(self, rng):
        yield [rng.normal(size=(4, 2, 3)), rng.normal(size=(2, 1))], {}


@register
class BroadcastLike(Op):
    """Broadcast ``x`` to the runtime shape of ``like`` (a read-only view, no copy)."""

    def infer(self, node):
        x, like = node.inputs
        if broadcast_shapes(x.shape, like.shape) is None:
            raise BuildError(f"cannot broadcast {format_shape(x.shape)} to {format_shape(like.shape)}")
        return [(x.dtype, like.shape)]

    def compute(self, x, like):
        return np.broadcast_to(x, like.shape)

    def grad(self, node, output_grads, wanted):
        (gg,) = output_grads
        return [sum_to(gg, node.inputs[0]), None]

    def samples(self, rng):
        yield [rng.normal(size=(3, 1)), rng.normal(size=(2, 3, 4))], {}


def sum_to(g, like):
    """``g`` summed to ``like``'s shape; no node when the static shapes already agree exactly."""
    if g.shape == like.shape and is_fully_defined(g.shape):
        return g
    return apply_op("SumTo", [g, like])


def broadcast_like(x, like):
    if x.shape == like.shape and is_fully_defined(x.shape):
        return x
    return apply_op("BroadcastLike", [x, like])


@register
class FillLike(Op):
    """An array of ``value`` with ``like``'s runtime shape and dtype (zeros_like, ones_like)."""

    def infer(self, node):
        like = node.inputs[0]
        return [(node.attrs.get("dtype") or like.dtype, like.shape)]

    def compute(self, like, value, dtype=None):
        return np.full(like.shape, value, dtype=dtype or like.dtype)

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3))], {"value": 1.5, "dtype": None}


def fill_like(x, value, dtype=None, name=None):
    """``value`` everywhere, with ``x``'s run-time shape and ``dtype`` (default: ``x``'s)."""
    return apply_op("FillLike", [x], name=name, value=value, dtype=dtype and _dt.as_dtype(dtype))


def zeros_like(x, dtype=None, name=None, optimize=True):
    """Zeros shaped like ``x`` (TF1's ``tf.zeros_like``; ``optimize`` is accepted and has nothing to do)."""
    return fill_like(x, 0, dtype, name)


def ones_like(x, dtype=None, name=None, optimize=True):
    """Ones shaped like ``x`` (TF1's ``tf.ones_like``)."""
    return fill_like(x, 1, dtype, name)


@register
class Size(Op):
    """Number of elements of ``x`` at run time, as a scalar of ``dtype`` (a mean's divisor)."""

    def infer(self, node):
        return [(node.attrs["dtype"], ())]

    def compute(self, x, dtype):
        return np.asarray(x.size, dtype=dtype)

    def grad(self, node, output_grads, wanted):
        return [None]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3))], {"dtype": _dt.float64}


def size(x, dtype=_dt.float32, name=None):
    return apply_op("Size", [x], name=name, dtype=_dt.as_dtype(dtype))


# ---------------------------------------------------------------------------------------------------------
# Unary elementwise ops
# ---------------------------------------------------------------------------------------------------------

class Unary(Op):
    """An elementwise op of one input; subclasses give ``kernel`` and ``gradient`` (see ``unary``)."""

    float_only = True
    domain = (-2.0, 2.0)

    def infer(self, node):
        if self.float_only:
            require_float(node)
        x = node.inputs[0]
        return [(x.dtype, x.shape)]

    def compute(self, x):
        if x.dtype == _dt.float16 or x.dtype in _dt.NARROW_FLOATS:   # half formats: in float32, rounded once
            return self.kernel(x.astype(np.float32)).astype(x.dtype)
        return self.kernel(x)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        if self.gradient is None:
            return [None]
        return [self.gradient(node.inputs[0], node.outputs[0], g)]

    def samples(self, rng):
        low, high = self.domain
        yield [rng.uniform(low, high, size=(3, 4))], {}


def unary(type_name, kernel, gradient, domain=(-2.0, 2.0), float_only=True, doc=None):
    """Register an elementwise op from its kernel and gradient; return its graph-building function."""
    cls = type(type_name, (Unary,), {"kernel": staticmethod(kernel), "gradient": staticmethod(gradient),
                                     "domain": domain, "float_only": float_only,
                                     "__doc__": doc or f"Elementwise {type_name.lower()}."})
    register(cls)

    def build(x, name=None):
        return apply_op(type_name, [x], name=name)
    build.__name__ = type_name.lower()
    build.__doc__ = cls.__doc__
    return build


def _sigmoid(x):
    # 0.5 (1 + tanh(x/2)): exact, overflow-free for any x, and stays in float32.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


negative = unary("Neg", np.negative, lambda x, y, g: -g, float_only=False)
identity = unary("Identity", lambda x: x, lambda x, y, g: g, float_only=False, doc="Passes its input through.")
abs = unary("Abs", np.abs, lambda x, y, g: g * sign(x), domain=(0.1, 2.0), float_only=False)
sign = unary("Sign", np.sign, lambda x, y, g: zeros_like(g), domain=(0.1, 2.0), float_only=False,
             doc="Elementwise sign; its gradient is zero (it is piecewise constant; Abs's gradient uses it).")
square = unary("Square", np.square, lambda x, y, g: g * (2 * x), float_only=False)
sqrt = unary("Sqrt", np.sqrt, lambda x, y, g: g / (2 * y), domain=(0.5, 3.0))
rsqrt = unary("Rsqrt", lambda x: 1 / np.sqrt(x), lambda x, y, g: g * (-0.5) * y / x, domain=(0.5, 3.0),
              doc="1 / sqrt(x) (batch normalisation).")
reciprocal = unary("Reciprocal", np.reciprocal, lambda x, y, g: -g * square(y), domain=(0.5, 3.0))
exp = unary("Exp", np.exp, lambda x, y, g: g * y)
log = unary("Log", np.log, lambda x, y, g: g / x, domain=(0.5, 3.0))
log1p = unary("Log1p", np.log1p, lambda x, y, g: g / (1 + x), domain=(0.0, 2.0))
sin = unary("Sin", np.sin, lambda x, y, g: g * cos(x))
cos = unary("Cos", np.cos, lambda x, y, g: -g * sin(x))
tanh = unary("Tanh", np.tanh, lambda x, y, g: g * (1 - square(y)))
sigmoid = unary("Sigmoid", _sigmoid, lambda x, y, g: g * y * (1 - y),
                doc="Logistic sigmoid 1 / (1 + e^-x), the notes' binary sigmoid with λ = 1.")
softplus = unary("Softplus", lambda x: np.logaddexp(0, x), lambda x, y, g: g * sigmoid(x),
                 doc="log(1 + e^x), computed without overflow.")
relu = unary("Relu", lambda x: np.maximum(x, 0), lambda x, y, g: where(x > 0, g, 0),
             domain=(0.1, 2.0), doc="max(x, 0).")
asin = unary("Asin", np.arcsin, lambda x, y, g: g * rsqrt(1 - square(x)), domain=(-0.9, 0.9))
acos = unary("Acos", np.arccos, lambda x, y, g: -g * rsqrt(1 - square(x)), domain=(-0.9, 0.9))
atan = unary("Atan", np.arctan, lambda x, y, g: g / (1 + square(x)))
asinh = unary("Asinh", np.arcsinh, lambda x, y, g: g * rsqrt(square(x) + 1))
acosh = unary("Acosh", np.arccosh, lambda x, y, g: g * rsqrt(square(x) - 1), domain=(1.2, 3.0))
atanh = unary("Atanh", np.arctanh, lambda x, y, g: g / (1 - square(x)), domain=(-0.9, 0.9))
floor = unary("Floor", np.floor, lambda x, y, g: zeros_like(g), domain=(0.1, 0.9),
              doc="Elementwise floor; zero gradient (piecewise constant).")


@register
class LeakyRelu(Unary):
    """x for x > 0, alpha·x otherwise."""

    domain = (0.1, 2.0)

    def compute(self, x, alpha):
        return np.where(x > 0, x, x * x.dtype.type(alpha))

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x = node.inputs[0]
        return [where(x > 0, g, g * node.attrs["alpha"])]

    def samples(self, rng):
        yield [rng.uniform(0.1, 2, size=(3, 4)) * rng.choice([-1, 1], size=(3, 4))], {"alpha": 0.2}


def leaky_relu(x, alpha=0.2, name=None):
    return apply_op("LeakyRelu", [x], name=name, alpha=float(alpha))


@register
class Elu(Unary):
    """x for x > 0, alpha·(e^x − 1) otherwise."""

    def compute(self, x, alpha):
        return np.where(x > 0, x, x.dtype.type(alpha) * np.expm1(np.minimum(x, 0)))

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x, y = node.inputs[0], node.outputs[0]
        return [where(x > 0, g, g * (y + node.attrs["alpha"]))]

    def samples(self, rng):
        yield [rng.uniform(0.1, 2, size=(3, 4)) * rng.choice([-1, 1], size=(3, 4))], {"alpha": 1.0}


def elu(x, alpha=1.0, name=None):
    return apply_op("Elu", [x], name=name, alpha=float(alpha))


@register
class Step(Unary):
    """The notes' step activations: ``high`` where x ≥ threshold, else ``low``. Not differentiable: a
    perceptron with a step activation learns by the perceptron rule, not by gradients."""

    differentiable = False

    def compute(self, x, threshold, low, high):
        return np.where(x >= threshold, x.dtype.type(high), x.dtype.type(low))

    def samples(self, rng):
        yield [rng.normal(size=(3, 4))], {"threshold": 0.0, "low": -1.0, "high": 1.0}


def step(x, threshold=0.0, low=0.0, high=1.0, name=None):
    return apply_op("Step", [x], name=name, threshold=float(threshold), low=float(low), high=float(high))


# ---------------------------------------------------------------------------------------------------------
# Binary elementwise ops (NumPy broadcasting; gradients summed back with sum_to)
# ---------------------------------------------------------------------------------------------------------

class Binary(Op):
    """An elementwise op of two broadcast inputs of one dtype."""

    float_only = False
    out_dtype = None   # None: same as the inputs
    positive = ()   # indices of inputs whose samples must be positive (divisors, powers)

    def infer(self, node):
        dtype = same_dtype(node)
        if self.float_only:
            require_float(node)
        a, b = node.inputs
        shape = broadcast_shapes(a.shape, b.shape)
        if shape is None:
            raise BuildError(f"shapes {format_shape(a.shape)} and {format_shape(b.shape)} do not broadcast")
        return [(self.out_dtype or dtype, shape)]

    def samples(self, rng):
        for shapes in [((3, 4), (4,)), ((2, 1, 4), (3, 1))]:
            yield [rng.uniform(0.5, 2.0, size=s) if i in self.positive else rng.normal(size=s)
                   for i, s in enumerate(shapes)], {}


def register_binary(type_name, base, doc, **members):
    """Register a broadcasting binary op class (``base`` with ``members``); return its graph-building function."""
    register(type(type_name, (base,), {"__doc__": doc, **members}))

    def build(a, b, name=None):
        return apply_op(type_name, [a, b], name=name)
    build.__doc__ = doc
    return build


def binary(type_name, kernel, gradient, doc, float_only=False, positive=()):
    """Register a broadcasting binary op; ``gradient(a, b, y, g)`` returns the unreduced input gradients."""
    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        a, b = node.inputs
        ga, gb = gradient(a, b, node.outputs[0], g)
        return [ga if ga is None else sum_to(ga, a), gb if gb is None else sum_to(gb, b)]
    return register_binary(type_name, Binary, doc, compute=staticmethod(kernel), grad=grad, float_only=float_only,
                           positive=positive)


add = binary("Add", np.add, lambda a, b, y, g: (g, g), "a + b")
subtract = binary("Sub", np.subtract, lambda a, b, y, g: (g, -g), "a − b")
multiply = binary("Mul", np.multiply, lambda a, b, y, g: (g * b, g * a), "a · b")
divide = binary("Div", np.divide, lambda a, b, y, g: (g / b, -g * y / b), "a / b (floating point; cast integers first)",
                float_only=True, positive=(1,))
power = binary("Pow", np.power, lambda a, b, y, g: (g * b * a ** (b - 1), g * y * log(a)),
               "a ** b (the gradient for b needs a > 0)", float_only=True, positive=(0, 1))
maximum = binary("Maximum", np.maximum, lambda a, b, y, g: (where(a >= b, g, 0), where(a >= b, 0, g)),
                 "Elementwise max; ties send the gradient to a.")
minimum = binary("Minimum", np.minimum, lambda a, b, y, g: (where(a <= b, g, 0), where(a <= b, 0, g)),
                 "Elementwise min; ties send the gradient to a.")


@register
class Mod(Binary):
    """The remainder of a / b: with ``fmod`` C's fmod (the dividend's sign, a − trunc(a/b)·b), else Python's %
    (the divisor's sign, a − floor(a/b)·b); an infinite divisor leaves a finite dividend as it is (or moves it
    to the divisor's side), as NumPy does. Gradients: 1 for a, −trunc(a/b) or −floor(a/b) for b."""

    positive = (1,)

    def compute(self, a, b, fmod):
        return np.fmod(a, b) if fmod else np.mod(a, b)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        a, b = node.inputs
        if not _dt.is_floating(a.dtype):
            return [None, None]
        q = a / b
        whole = sign(q) * floor(abs(q)) if node.attrs["fmod"] else floor(q)
        return [sum_to(g, a), sum_to(-g * whole, b)]

    def samples(self, rng):
        a, b = rng.uniform(-5, 5, size=(3, 4)), rng.uniform(0.7, 2.0, size=(4,)) * rng.choice([-1, 1], size=(4,))
        for fmod in (False, True):
            yield [a, b], {"fmod": fmod}


def mod(a, b, fmod=False, name=None):
    return apply_op("Mod", [a, b], name=name, fmod=bool(fmod))


def _comparison(type_name, kernel, doc):
    return register_binary(type_name, Binary, doc, compute=staticmethod(kernel), out_dtype=_dt.bool_,
                           grad=lambda self, node, g: [None, None])


less = _comparison("Less", np.less, "a < b (boolean; carries no gradient)")
less_equal = _comparison("LessEqual", np.less_equal, "a <= b")
greater = _comparison("Greater", np.greater, "a > b")
greater_equal = _comparison("GreaterEqual", np.greater_equal, "a >= b")
equal = _comparison("Equal", np.equal, "a == b (elementwise; Python's == on tensors stays identity)")
not_equal = _comparison("NotEqual", np.not_equal, "a != b")
logical_and = _comparison("And", np.logical_and, "a and b (booleans)")
logical_or = _comparison("Or", np.logical_or, "a or b (booleans)")


@register
class Not(Unary):
    """Logical not of a boolean tensor."""

    float_only = False
    gradient = None

    def infer(self, node):
        if node.inputs[0].dtype != _dt.bool_:
            raise BuildError("logical_not needs a bool input")
        return super().infer(node)

    def compute(self, x):
        return np.logical_not(x)

    def samples(self, rng):
        yield [rng.normal(size=(3,)) > 0], {}


def logical_not(x, name=None):
    return apply_op("Not", [x], name=name)


@register
class Where(Op):
    """``cond ? a : b`` elementwise with broadcasting; the gradient goes to the chosen branch only."""

    def infer(self, node):
        cond, a, b = node.inputs
        if cond.dtype != _dt.bool_:
            raise BuildError(f"condition must be bool, got {cond.dtype.name}")
        dtype = same_dtype(node, 1, 2)
        shape = broadcast_shapes(cond.shape, a.shape, b.shape)
        if shape is None:
            raise BuildError("condition and branches do not broadcast")
        return [(dtype, shape)]

    def compute(self, cond, a, b):
        # Gradients of ReLU and max select against a scalar zero. np.where is ~7× slower than multiplying
        # by the mask, so do that, and fall back to np.where if a non-finite value was selected or masked
        # (0 · inf = NaN must not leak from the branch not taken).
        if b.ndim == 0 and not b and a.dtype.kind == "f":
            out = a * cond
        elif a.ndim == 0 and not a and b.dtype.kind == "f":
            out = b * ~cond
        else:
            return np.where(cond, a, b)
        return out if np.isfinite(out).all() else np.where(cond, a, b)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        cond, a, b = node.inputs
        return [None, sum_to(where(cond, g, 0), a), sum_to(where(cond, 0, g), b)]

    def samples(self, rng):
        yield [rng.normal(size=(3, 4)) > 0, rng.normal(size=(3, 4)), rng.normal(size=(4,))], {}


def where(cond, a, b, name=None):
    graph = graph_of(cond, a, b)
    a, b = convert_inputs([a, b], graph)  # a Python 0 takes the other branch's dtype
    return apply_op("Where", [cond, a, b], name=name)


@register
class Cast(Op):
    """Convert dtype by ONNX Cast's rules (``dtypes.convert``: float8 targets saturate unless ``saturate`` is
    False, float8_e8m0 rounds by ``round_mode``); gradients flow between floating types only (straight
    through: the rounding of a narrow format is not differentiated)."""

    def infer(self, node):
        return [(node.attrs["dtype"], node.inputs[0].shape)]

    def compute(self, x, dtype, saturate=True, round_mode="up"):
        return _dt.convert(x, dtype, saturate, round_mode)

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        x = node.inputs[0]
        if not _dt.is_floating(x.dtype) or not _dt.is_floating(node.attrs["dtype"]):
            return [None]
        return [cast(g, x.dtype)]

    def samples(self, rng):
        # The narrow formats are tested in tests/test_dtypes.py (onnxruntime's Python API returns none of them).
        yield [rng.normal(size=(2, 3))], {"dtype": _dt.float32}


def cast(x, dtype, name=None, saturate=True, round_mode="up"):
    """``x`` as ``dtype`` (TF1's ``tf.cast``); ``saturate`` and ``round_mode`` matter for float8 targets only
    (see ``Cast``)."""
    dtype = _dt.as_dtype(dtype)
    if x.dtype == dtype:
        return x
    extra = {} if dtype not in _dt.SATURATING | {_dt.float8_e8m0fnu} else \
        {"saturate": bool(saturate), "round_mode": str(round_mode)}
    return apply_op("Cast", [x], name=name, dtype=dtype, **extra)


@register
class AddN(Op):
    """Sum of several same-shaped tensors in one node (how gradient fan-out is accumulated)."""

    def infer(self, node):
        dtype = same_dtype(node)
        shape = broadcast_shapes(*[t.shape for t in node.inputs])
        if shape is None:
            raise BuildError("AddN inputs do not broadcast")
        return [(dtype, shape)]

    def compute(self, *xs):
        total = xs[0] + xs[1]
        for x in xs[2:]:
            total += x  # total is a fresh array here, so adding in place is safe
        return total

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        return [sum_to(g, x) for x in node.inputs]

    def samples(self, rng):
        yield [rng.normal(size=(2, 3)) for _ in range(3)], {}


def add_n(tensors, name=None):
    tensors = list(tensors)
    if len(tensors) == 1:
        return tensors[0]
    return apply_op("AddN", tensors, name=name)


# ---------------------------------------------------------------------------------------------------------
# Matrix product
# ---------------------------------------------------------------------------------------------------------

@register
class MatMul(Op):
    """Batched matrix product with NumPy broadcasting over leading axes; optional transposes of the last two
    axes of either operand (so gradients need no separate Transpose nodes)."""

    def infer(self, node):
        dtype = same_dtype(node)
        a, b = node.inputs
        if a.ndim < 2 or b.ndim < 2:
            raise BuildError("matmul needs operands of rank ≥ 2 (use reshape or expand_dims for vectors)")
        ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
        m, k1 = a.shape[-2:][::-1] if ta else a.shape[-2:]
        k2, n = b.shape[-2:][::-1] if tb else b.shape[-2:]
        if k1 is not None and k2 is not None and k1 != k2:
            raise BuildError(f"inner dimensions differ: {format_shape(a.shape)}{'ᵀ' if ta else ''} × "
                             f"{format_shape(b.shape)}{'ᵀ' if tb else ''} ({k1} ≠ {k2})")
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        if batch is None:
            raise BuildError(f"batch dimensions {format_shape(a.shape[:-2])} and {format_shape(b.shape[:-2])} "
                             "do not broadcast")
        return [(dtype, batch + (m, n))]

    def compute(self, a, b, transpose_a, transpose_b):
        a, b = _blas_ready(a), _blas_ready(b)
        out = np.matmul(a.swapaxes(-1, -2) if transpose_a else a, b.swapaxes(-1, -2) if transpose_b else b)
        return out if out.dtype == a.dtype else out.astype(a.dtype)   # ml_dtypes' formats accumulate in float32

    def grad(self, node, output_grads, wanted):
        (g,) = output_grads
        a, b = node.inputs
        ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
        # (left, right, transpose flags) of each input's gradient product, for the four transpose cases
        rules = {(False, False): ((g, b, False, True), (a, g, True, False)),
                 (False, True): ((g, b, False, False), (g, a, True, False)),
                 (True, False): ((b, g, False, True), (a, g, False, False)),
                 (True, True): ((b, g, True, True), (g, a, True, True))}[(ta, tb)]
        return [sum_to(matmul(left, right, t1, t2), x) if wanted[i] else None
                for i, (x, (left, right, t1, t2)) in enumerate(zip((a, b), rules))]

    def samples(self, rng):
        for ta in (False, True):
            for tb in (False, True):
                a = rng.normal(size=(4, 3) if ta else (3, 4))
                b = rng.normal(size=(2, 5, 4) if tb else (2, 4, 5))
                yield [a, b], {"transpose_a": ta, "transpose_b": tb}


def _blas_ready(x):
    """``x`` itself if BLAS can read its last two axes (row- or column-major), else a contiguous copy.

    NumPy hands other layouts — the zero-stride arrays ``broadcast_like`` makes in gradients, strided views —
    to a naive loop that runs 10–100× slower than BLAS; one copy is much cheaper.
    """
    if x.ndim < 2:
        return x
    rows, cols = x.shape[-2:]
    s_row, s_col = x.strides[-2:]
    item = x.itemsize
    if (s_col == item and s_row >= cols * item) or (s_row == item and s_col >= rows * item):
        return x
    return np.ascontiguousarray(x)


def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    return apply_op("MatMul", [a, b], name=name, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))
