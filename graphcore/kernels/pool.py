"""NCHW 2-D max and average pooling kernels with their gradients.

Every kernel loops over the kh*kw window taps only; each tap is one strided
(N, C, Ho, Wo) slice of the padded input (see conv._tap_slices), so forward
passes are elementwise reductions and backward passes are slice-adds.
"""
import numpy as np

from .conv import _crop, _out_hw, _pad, _padded_zeros, _tap_slices

_NO_DILATION = (1, 1)


def _taps(padded_hw, kernel, strides):
    """Row-major tap slices of a pooling window over a padded input."""
    out_hw = _out_hw(padded_hw, kernel, strides, _NO_DILATION)
    return [s for _, _, s in _tap_slices(kernel, strides, _NO_DILATION, out_hw)]


def max_pool2d(x, kernel, strides, pads):
    """Max pooling with -inf padding (torch max_pool2d, ceil_mode=False)."""
    xp = _pad(x, pads, -np.inf)
    taps = _taps(xp.shape[2:], kernel, strides)
    y = xp[(Ellipsis,) + taps[0]].copy(order="K")
    for tap in taps[1:]:
        np.maximum(y, xp[(Ellipsis,) + tap], out=y)
    return y


def _argmax_taps(x, kernel, strides, pads):
    """Tap number of each window's first maximum, plus the tap slices.

    Taps are scanned in row-major order and only a strictly greater value moves the argmax, which keeps the
    earliest of tied maxima (torch's choice). The update is arithmetic (arg += better·(k − arg)), since
    NumPy's masked assignments run several times slower.
    """
    xp = _pad(x, pads, -np.inf)
    taps = _taps(xp.shape[2:], kernel, strides)
    best = xp[(Ellipsis,) + taps[0]].copy(order="K")
    arg = np.zeros_like(best, dtype=np.int16)
    for k, tap in enumerate(taps[1:], start=1):
        window = xp[(Ellipsis,) + tap]
        better = window > best
        np.maximum(best, window, out=best)
        arg += better * (np.int16(k) - arg)
    return arg, taps


def max_pool2d_grad(x, dy, kernel, strides, pads):
    """Route each dy to its window's argmax; overlapping windows accumulate."""
    arg, taps = _argmax_taps(x, kernel, strides, pads)
    h, w = x.shape[2:]
    if tuple(kernel) == tuple(strides) and not any(pads) and h % kernel[0] == 0 and w % kernel[1] == 0:
        # The windows tile the input exactly (2×2 stride 2): each tap owns its positions, so write them
        # directly instead of accumulating into a zeroed, padded buffer.
        dx = np.empty_like(x, dtype=dy.dtype)   # keeps a channels-last input channels-last
        for k, tap in enumerate(taps):
            np.multiply(dy, arg == k, out=dx[(Ellipsis,) + tap])
        return dx
    dxp = _padded_zeros(*x.shape[:2], x.shape[2:], pads, dy.dtype)
    for k, tap in enumerate(taps):
        dxp[(Ellipsis,) + tap] += dy * (arg == k)
    return _crop(dxp, pads, x.shape[2:])


def max_pool2d_grad_grad(x, ddx, kernel, strides, pads):
    """Adjoint of max_pool2d_grad in dy: each window reads ddx at its argmax."""
    arg, taps = _argmax_taps(x, kernel, strides, pads)
    ddxp = _pad(ddx, pads)
    ddy = np.zeros(arg.shape, dtype=ddx.dtype)
    for k, tap in enumerate(taps):
        ddy += ddxp[(Ellipsis,) + tap] * (arg == k)
    return ddy


def _window_sums(xp, kernel, strides):
    """Sum of every pooling window of an already padded input."""
    taps = _taps(xp.shape[2:], kernel, strides)
    total = xp[(Ellipsis,) + taps[0]].copy(order="K")
    for tap in taps[1:]:
        total += xp[(Ellipsis,) + tap]
    return total


def _avg_divisor(hw, kernel, strides, pads, count_include_pad, dtype):
    """kh*kw, or per output position the number of non-padding inputs (ONNX/torch).

    The counts are an (Ho, Wo) array in the data dtype, so dividing by them
    never upcasts float32.
    """
    if count_include_pad:
        return kernel[0] * kernel[1]
    ones = _pad(np.ones((1, 1) + tuple(hw), dtype=dtype), pads)
    return _window_sums(ones, kernel, strides)[0, 0]


def avg_pool2d(x, kernel, strides, pads, count_include_pad):
    """Average pooling with zero padding (torch avg_pool2d, ceil_mode=False)."""
    y = _window_sums(_pad(x, pads), kernel, strides)
    y /= _avg_divisor(x.shape[2:], kernel, strides, pads, count_include_pad, x.dtype)
    return y


def avg_pool2d_grad(dy, input_hw, kernel, strides, pads, count_include_pad):
    """Spread each dy / divisor evenly over its window; overlaps accumulate."""
    share = dy / _avg_divisor(input_hw, kernel, strides, pads, count_include_pad, dy.dtype)
    dxp = _padded_zeros(*dy.shape[:2], input_hw, pads, dy.dtype)
    for tap in _taps(dxp.shape[2:], kernel, strides):
        dxp[(Ellipsis,) + tap] += share
    return _crop(dxp, pads, input_hw)
