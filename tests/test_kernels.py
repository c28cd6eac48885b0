"""Tests for graphcore/kernels: worked examples, adjoint and finite-difference
identities (NumPy only), and comparisons against PyTorch when it is installed.

The kernel modules are loaded by file path under a private package name, so
these tests never import graphcore/__init__.py.
"""
import importlib
import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

_KERNELS_DIR = Path(__file__).resolve().parent.parent / "graphcore" / "kernels"


def _load_kernels(name="_graphcore_kernels_under_test"):
    spec = importlib.util.spec_from_file_location(
        name, _KERNELS_DIR / "__init__.py", submodule_search_locations=[str(_KERNELS_DIR)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return importlib.import_module(name + ".conv"), importlib.import_module(name + ".pool")


conv, pool = _load_kernels()

DTYPES = [np.float32, np.float64]
PADS = [(0, 0, 0, 0), (1, 1, 1, 1), (0, 1, 1, 0)]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}

# (C, O, groups): dense, grouped, depthwise, depthwise with channel multiplier 2.
# "rgb": few input channels take the NCHW-order gather (conv._NARROW).
GROUPINGS = {"g1": (4, 6, 1), "g2": (4, 6, 2), "dw": (4, 4, 4), "dw2": (3, 6, 3), "rgb": (3, 5, 1)}
CONV_GRID = list(itertools.product(
    [(1, 1), (2, 2), (1, 2)],       # strides
    [(1, 1), (2, 2)],               # dilations
    sorted(GROUPINGS),
    PADS,
    [(1, 1), (2, 2), (3, 3)],       # kernel
))


def _conv_case(strides, dilations, grouping, pads, kernel, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c, o, groups = GROUPINGS[grouping]
    x = rng.standard_normal((2, c, 7, 6)).astype(dtype)
    w = rng.standard_normal((o, c // groups) + kernel).astype(dtype)
    y = conv.conv2d(x, w, strides, pads, dilations, groups)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return x, w, y, dy, groups


def _vdot(a, b):
    return float(np.sum(a.astype(np.float64) * b))


# ---------------------------------------------------------------- NumPy only

def test_conv_worked_example():
    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], dtype=np.float32)
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float32)
    y = conv.conv2d(image[None, None], kernel[None, None], (1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert y.dtype == np.float32
    assert y[0, 0, 0, 0] == 4
    np.testing.assert_array_equal(y[0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


@pytest.mark.parametrize("image, expected", [
    ([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], [[6, 8], [3, 4]]),
    ([[0.1, 0, 1.0, 0.4], [0, 0.5, 0.4, 1.6], [0.3, 0.2, 1.7, 1.1], [0.2, 0.4, 1.1, 1.7]],
     [[0.5, 1.6], [0.4, 1.7]]),
])
def test_max_pool_worked_examples(image, expected):
    x = np.array(image, dtype=np.float32)[None, None]
    y = pool.max_pool2d(x, (2, 2), (2, 2), (0, 0, 0, 0))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[0, 0], np.array(expected, dtype=np.float32))


def test_max_pool_grad_ties_and_overlap():
    # All-equal input: every window's first element wins; 3x3 stride 2 overlaps.
    x = np.ones((1, 1, 5, 5))
    dx = pool.max_pool2d_grad(x, np.ones((1, 1, 2, 2)), (3, 3), (2, 2), (0, 0, 0, 0))
    expected = np.zeros((5, 5))
    expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1
    np.testing.assert_array_equal(dx[0, 0], expected)
    # A shared maximum at the centre collects the gradient of all four windows.
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 9
    dy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    dx = pool.max_pool2d_grad(x, dy, (3, 3), (2, 2), (0, 0, 0, 0))
    assert dx[0, 0, 2, 2] == 10 and dx.sum() == 10


def test_avg_pool_divisors():
    x = np.ones((1, 1, 3, 3), dtype=np.float32)
    inc = pool.avg_pool2d(x, (3, 3), (1, 1), (1, 1, 1, 1), True)
    exc = pool.avg_pool2d(x, (3, 3), (1, 1), (1, 1, 1, 1), False)
    assert inc.dtype == exc.dtype == np.float32
    np.testing.assert_allclose(inc[0, 0], [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9],
                                           [4 / 9, 6 / 9, 4 / 9]], rtol=1e-6)
    np.testing.assert_array_equal(exc, np.ones_like(exc))


@pytest.mark.parametrize("strides, dilations, grouping, pads, kernel", CONV_GRID)
def test_conv_adjoint_identities(strides, dilations, grouping, pads, kernel):
    """<conv(x, w), dy> = <x, dL/dx> = <w, dL/dw> since conv is bilinear."""
    x, w, y, dy, groups = _conv_case(strides, dilations, grouping, pads, kernel, np.float64)
    dx = conv.conv2d_input_grad(dy, w, x.shape[2:], strides, pads, dilations, groups)
    dw = conv.conv2d_filter_grad(x, dy, kernel, strides, pads, dilations, groups)
    assert dx.shape == x.shape and dw.shape == w.shape
    expected = _vdot(y, dy)
    assert _vdot(x, dx) == pytest.approx(expected, rel=1e-10, abs=1e-10)
    assert _vdot(w, dw) == pytest.approx(expected, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("grouping", sorted(GROUPINGS))
def test_conv_finite_differences(grouping):
    strides, pads, dilations, kernel = (2, 1), (0, 1, 1, 0), (1, 2), (3, 2)
    x, w, _, dy, groups = _conv_case(strides, dilations, grouping, pads, kernel, np.float64)
    rng = np.random.default_rng(1)
    vx, vw, eps = rng.standard_normal(x.shape), rng.standard_normal(w.shape), 1e-6

    def loss(xx, ww):
        return _vdot(conv.conv2d(xx, ww, strides, pads, dilations, groups), dy)

    dx = conv.conv2d_input_grad(dy, w, x.shape[2:], strides, pads, dilations, groups)
    dw = conv.conv2d_filter_grad(x, dy, kernel, strides, pads, dilations, groups)
    fd_x = (loss(x + eps * vx, w) - loss(x - eps * vx, w)) / (2 * eps)
    fd_w = (loss(x, w + eps * vw) - loss(x, w - eps * vw)) / (2 * eps)
    assert _vdot(dx, vx) == pytest.approx(fd_x, rel=1e-6)
    assert _vdot(dw, vw) == pytest.approx(fd_w, rel=1e-6)


POOL_GRID = list(itertools.product(
    [(1, 1), (2, 2), (3, 3), (2, 3)],   # kernel
    [(1, 1), (2, 2), (1, 2)],           # strides
    PADS,
))


def _pool_input(dtype, seed=0, ties=True):
    """Small integers make many tied maxima; distinct values avoid them."""
    rng = np.random.default_rng(seed)
    if ties:
        return rng.integers(0, 4, size=(2, 3, 7, 6)).astype(dtype)
    return rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6).astype(dtype)


@pytest.mark.parametrize("kernel, strides, pads", POOL_GRID)
def test_max_pool_grad_grad_is_adjoint(kernel, strides, pads):
    x = _pool_input(np.float64)
    rng = np.random.default_rng(1)
    y = pool.max_pool2d(x, kernel, strides, pads)
    dy, ddx = rng.standard_normal(y.shape), rng.standard_normal(x.shape)
    dx = pool.max_pool2d_grad(x, dy, kernel, strides, pads)
    ddy = pool.max_pool2d_grad_grad(x, ddx, kernel, strides, pads)
    assert ddy.shape == y.shape
    assert _vdot(dx, ddx) == pytest.approx(_vdot(dy, ddy), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel, strides, pads", [((3, 3), (2, 2), (0, 1, 1, 0)),
                                                   ((2, 3), (1, 2), (1, 1, 1, 1))])
def test_pool_finite_differences(kernel, strides, pads, count_include_pad):
    x = _pool_input(np.float64, ties=False)
    rng = np.random.default_rng(2)
    v, eps = rng.standard_normal(x.shape), 1e-6
    dy = rng.standard_normal(pool.max_pool2d(x, kernel, strides, pads).shape)

    def avg(xx):
        return _vdot(pool.avg_pool2d(xx, kernel, strides, pads, count_include_pad), dy)

    def mx(xx):
        return _vdot(pool.max_pool2d(xx, kernel, strides, pads), dy)

    d_avg = pool.avg_pool2d_grad(dy, x.shape[2:], kernel, strides, pads, count_include_pad)
    d_max = pool.max_pool2d_grad(x, dy, kernel, strides, pads)
    assert _vdot(d_avg, v) == pytest.approx((avg(x + eps * v) - avg(x - eps * v)) / (2 * eps),
                                            rel=1e-6)
    assert _vdot(d_max, v) == pytest.approx((mx(x + eps * v) - mx(x - eps * v)) / (2 * eps),
                                            rel=1e-6)


# ------------------------------------------------------ comparisons with torch

@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _torch_pad(torch, t, pads, value=0.0):
    top, bottom, left, right = pads
    return torch.nn.functional.pad(t, (left, right, top, bottom), value=value)


def _assert_close(actual, expected, dtype):
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual, expected.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("strides, dilations, grouping, pads, kernel", CONV_GRID)
def test_conv_matches_torch(torch, strides, dilations, grouping, pads, kernel, dtype):
    x, w, y, dy, groups = _conv_case(strides, dilations, grouping, pads, kernel, dtype)
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    ty = torch.nn.functional.conv2d(_torch_pad(torch, tx, pads), tw, stride=strides,
                                    dilation=dilations, groups=groups)
    tdx, tdw = torch.autograd.grad(ty, (tx, tw), torch.from_numpy(dy))
    _assert_close(y, ty, dtype)
    _assert_close(conv.conv2d_input_grad(dy, w, x.shape[2:], strides, pads, dilations, groups),
                  tdx, dtype)
    _assert_close(conv.conv2d_filter_grad(x, dy, kernel, strides, pads, dilations, groups),
                  tdw, dtype)


@pytest.mark.parametrize("grouping", sorted(GROUPINGS))
@pytest.mark.parametrize("strides, pad, dilations, kernel",
                         [((2, 2), 1, (1, 1), (3, 3)), ((2, 1), 0, (2, 1), (2, 3))])
def test_input_grad_is_conv_transpose(torch, grouping, strides, pad, dilations, kernel):
    pads = (pad,) * 4
    x, w, _, dy, groups = _conv_case(strides, dilations, grouping, pads, kernel, np.float32)
    natural = [(o - 1) * s - 2 * pad + d * (k - 1) + 1
               for o, s, d, k in zip(dy.shape[2:], strides, dilations, kernel)]
    expected = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(dy), torch.from_numpy(w), stride=strides, padding=pad,
        output_padding=[h - n for h, n in zip(x.shape[2:], natural)], groups=groups,
        dilation=dilations)
    _assert_close(conv.conv2d_input_grad(dy, w, x.shape[2:], strides, pads, dilations, groups),
                  expected, np.float32)


def _torch_pool(torch, fn, tx, kernel, strides, pads, fill, **kw):
    """torch pooling with our pads: native where torch allows them, else F.pad."""
    symmetric = pads[0] == pads[1] and pads[2] == pads[3]
    if symmetric and 2 * pads[0] <= kernel[0] and 2 * pads[2] <= kernel[1]:
        return fn(tx, kernel, strides, padding=(pads[0], pads[2]), **kw)
    return fn(_torch_pad(torch, tx, pads, fill), kernel, strides, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, strides, pads", POOL_GRID)
def test_max_pool_matches_torch(torch, kernel, strides, pads, dtype):
    x = _pool_input(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    ty = _torch_pool(torch, torch.nn.functional.max_pool2d, tx, kernel, strides, pads,
                     -float("inf"))
    rng = np.random.default_rng(1)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ddx = rng.standard_normal(x.shape).astype(dtype)
    tdy = torch.from_numpy(dy).requires_grad_()
    (tdx,) = torch.autograd.grad(ty, tx, tdy, create_graph=True)
    (tddy,) = torch.autograd.grad(tdx, tdy, torch.from_numpy(ddx))
    _assert_close(pool.max_pool2d(x, kernel, strides, pads), ty, dtype)
    _assert_close(pool.max_pool2d_grad(x, dy, kernel, strides, pads), tdx, dtype)
    _assert_close(pool.max_pool2d_grad_grad(x, ddx, kernel, strides, pads), tddy, dtype)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
# A window lying wholly in the padding has no defined average (torch refuses such pads too).
@pytest.mark.parametrize("kernel, strides, pads", [c for c in POOL_GRID if max(c[2]) < min(c[0])])
def test_avg_pool_matches_torch(torch, kernel, strides, pads, dtype, count_include_pad):
    x = _pool_input(dtype) + 0.25
    tx = torch.from_numpy(x).requires_grad_()
    avg = torch.nn.functional.avg_pool2d
    if count_include_pad or (pads[0] == pads[1] and pads[2] == pads[3]):
        ty = _torch_pool(torch, avg, tx, kernel, strides, pads, 0.0,
                         count_include_pad=count_include_pad)
    else:  # average of the real inputs = padded sum / padded count of ones
        ty = avg(_torch_pad(torch, tx, pads), kernel, strides) / avg(
            _torch_pad(torch, torch.ones_like(tx), pads), kernel, strides)
    dy = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(dtype)
    (tdx,) = torch.autograd.grad(ty, tx, torch.from_numpy(dy))
    _assert_close(pool.avg_pool2d(x, kernel, strides, pads, count_include_pad), ty, dtype)
    _assert_close(pool.avg_pool2d_grad(dy, x.shape[2:], kernel, strides, pads,
                                       count_include_pad), tdx, dtype)


def test_conv_chunked_im2col_matches_single_chunk(monkeypatch):
    """Several im2col chunks, the last one short, give the same results."""
    x, w, y, dy, groups = _conv_case((1, 2), (1, 1), "g2", (1, 1, 1, 1), (3, 3), np.float64)
    x, dy = np.concatenate([x] * 3)[:5], np.concatenate([dy] * 3)[:5]
    args = ((1, 2), (1, 1, 1, 1), (1, 1), groups)
    whole = (conv.conv2d(x, w, *args), conv.conv2d_input_grad(dy, w, x.shape[2:], *args),
             conv.conv2d_filter_grad(x, dy, w.shape[2:], *args))
    monkeypatch.setattr(conv, "_CHUNK_BYTES", 2 * x[0].size * 9 * 8)
    chunked = (conv.conv2d(x, w, *args), conv.conv2d_input_grad(dy, w, x.shape[2:], *args),
               conv.conv2d_filter_grad(x, dy, w.shape[2:], *args))
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
