"""Random ops. Each node owns a generator in the session, seeded from its ``seed`` (or the graph's seed and
the node's position), so a seeded program gives the same numbers on every run of the program.

The shape is static (``shape=(4, 3)``) or taken at run time from a ``like`` tensor, so dropout masks and
VAE noise follow a batch size that is only known when data is fed. Samples carry no gradient (use the
reparameterisation ``mean + std * random_normal_like(std)`` for a differentiable sample).
"""
import bisect

import numpy as np

from .. import dtypes as _dt
from ..compat import difference
from ..errors import BuildError
from ..graph import Tensor, get_default_graph
from ..op import Op, apply_op, register, require_float
from ..shapes import normalize_shape
from .dynamic import shape_source, static_value


class RandomOp(Op):
    stateful = True

    def infer(self, node):
        if node.inputs:
            return [(node.attrs["dtype"], node.inputs[0].shape)]
        return [(node.attrs["dtype"], node.attrs["shape"])]

    def make_kernel(self, node, runtime):
        rng, attrs = runtime.generator(node), node.attrs
        shape = attrs["shape"]
        draw = self.draw
        if node.inputs:
            return lambda like: draw(rng, like.shape, attrs)
        return lambda: draw(rng, shape, attrs)

    def grad(self, node, output_grads, wanted):
        return [None] * len(node.inputs)


@register
class RandomNormal(RandomOp):
    """Normal samples with ``mean`` and ``stddev``."""

    @staticmethod
    def draw(rng, shape, attrs):
        return rng.standard_normal(shape, dtype=attrs["dtype"]) * attrs["dtype"].type(attrs["stddev"]) \
            + attrs["dtype"].type(attrs["mean"])

    def samples(self, rng):
        yield [], {"shape": (2, 3), "dtype": _dt.float64, "mean": 1.0, "stddev": 2.0, "seed": 1}


@register
class RandomUniform(RandomOp):
    """Uniform samples in [minval, maxval)."""

    @staticmethod
    def draw(rng, shape, attrs):
        low, high = attrs["minval"], attrs["maxval"]
        return (rng.random(shape, dtype=attrs["dtype"]) * attrs["dtype"].type(high - low)
                + attrs["dtype"].type(low))

    def samples(self, rng):
        yield [rng.normal(size=(2, 3))], {"shape": None, "dtype": _dt.float64, "minval": -1.0, "maxval": 1.0,
                                          "seed": 2}


@register
class TruncatedNormal(RandomOp):
    """Normal samples with ``mean`` and ``stddev``, each redrawn until it lies within two standard deviations
    of the mean (TF1's ``truncated_normal``, the classic weight initialiser)."""

    @staticmethod
    def draw(rng, shape, attrs):
        dtype = attrs["dtype"]
        z = rng.standard_normal(shape, dtype=dtype)
        outside = np.abs(z) > 2
        while outside.any():
            z[outside] = rng.standard_normal(int(outside.sum()), dtype=dtype)
            outside = np.abs(z) > 2
        return z * dtype.type(attrs["stddev"]) + dtype.type(attrs["mean"])

    def samples(self, rng):
        yield [], {"shape": (3, 4), "dtype": _dt.float64, "mean": 1.0, "stddev": 0.5, "seed": 4}


@register
class Bernoulli(RandomOp):
    """1 with probability ``probs`` (a tensor, elementwise), else 0; same dtype as ``probs``."""

    def infer(self, node):
        require_float(node)
        p = node.inputs[0]
        return [(p.dtype, p.shape)]

    def make_kernel(self, node, runtime):
        rng = runtime.generator(node)
        return lambda p: (rng.random(p.shape, dtype=p.dtype) < p).astype(p.dtype)

    def samples(self, rng):
        yield [rng.uniform(size=(3, 4))], {"seed": 3}


def _shape_or_like(shape):
    """The static shape or the tensor to take the run-time shape from. A 1-D integer tensor is a TF1 shape
    value (``tf.shape(x)``: shaped like x; a constant: its value); a float tensor is a tensor to shape like."""
    if not isinstance(shape, Tensor) or shape.dtype.kind == "f":
        return shape
    if shape.ndim != 1:
        raise BuildError(f"a shape tensor must be 1-D, got {shape.name} of shape {shape.shape}")
    like = shape_source(shape)
    if like is not None:
        return like
    value = static_value(shape)
    if value is not None:
        return tuple(int(d) for d in value)
    raise BuildError(f"random ops need the shape when the graph is built, or a tensor to shape the samples like: "
                     f"{shape.name} is computed at run time (pass gc.shape_of(x) or x itself)", shape.node)


_FLOATS_ONLY = difference("TF1", "tf.random_uniform(dtype=tf.int32)", "gc.cast(gc.floor(gc.random_uniform(...)), "
                                                                     "gc.int64)",
                          "random ops draw floating-point samples: for integers in [lo, hi) draw uniform floats "
                          "in [lo, hi), take gc.floor and gc.cast them")


def _random(op_type, shape_or_like, dtype, seed, name, **attrs):
    dtype = _dt.as_dtype(dtype)
    if dtype.kind != "f":
        raise BuildError(f"{op_type} with dtype {dtype.name}: {_FLOATS_ONLY}")
    shape_or_like = _shape_or_like(shape_or_like)
    if isinstance(shape_or_like, Tensor):
        return apply_op(op_type, [shape_or_like], name=name, shape=None, dtype=dtype, seed=seed, **attrs)
    return apply_op(op_type, [], name=name, graph=get_default_graph(), shape=normalize_shape(shape_or_like),
                    dtype=dtype, seed=seed, **attrs)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    """Normal samples; ``shape`` is a tuple or list, a 1-D integer tensor (TF1's ``tf.shape(x)``), or a float
    tensor whose run-time shape is used."""
    return _random("RandomNormal", shape, dtype, seed, name, mean=float(mean), stddev=float(stddev))


def random_uniform(shape, minval=0.0, maxval=None, dtype=_dt.float32, seed=None, name=None):
    """Uniform samples in [minval, maxval) (``maxval`` None: 1, as TF1); ``shape`` as for ``random_normal``."""
    maxval = 1.0 if maxval is None else maxval
    return _random("RandomUniform", shape, dtype, seed, name, minval=float(minval), maxval=float(maxval))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    """Normal samples redrawn until within two standard deviations (TF1's ``tf.truncated_normal``)."""
    return _random("TruncatedNormal", shape, dtype, seed, name, mean=float(mean), stddev=float(stddev))


def set_random_seed(seed):
    """The default graph's seed (TF1's ``tf.set_random_seed``): random ops without a seed of their own are
    then seeded from it and their position, so a program draws the same numbers on every run."""
    get_default_graph().seed = None if seed is None else int(seed)


def bernoulli(probs, seed=None, name=None):
    """0/1 samples with elementwise probabilities ``probs`` (RBM sampling, dropout masks)."""
    return apply_op("Bernoulli", [probs], name=name, seed=seed)


def seed_for(node):
    """The deterministic seed of a random node: its own, else (graph seed, node position), else None.
    The position leaves out the nodes in ``Graph.seed_skipped_ids`` (the layers' layout transposes,
    graphcore.layers.layout), so seeded programs draw the same numbers whether or not a layer's NHWC output
    is materialised."""
    if node.attrs.get("seed") is not None:
        return (int(node.graph.seed or 0), int(node.attrs["seed"]))
    if node.graph.seed is not None:
        return (int(node.graph.seed), node.id - bisect.bisect_left(node.graph.seed_skipped_ids, node.id))
    return None
