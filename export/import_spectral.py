"""Spectral ops (DFT, STFT, MelWeightMatrix) as matrix products: no complex dtype needed.

ONNX carries a complex signal as a trailing axis of 2 (real, imaginary) — or 1 for a real one — so a discrete
Fourier transform of length n is two real matrix products with the cosine and sine tables
C[j, k] = cos(2πjk/n), S[j, k] = sin(2πjk/n), built when importing:

    forward  Yr = xr·C + xi·S,   Yi = xi·C − xr·S        inverse  (xr·C − xi·S)/n,  (xi·C + xr·S)/n

``onesided`` keeps the first ⌊n/2⌋ + 1 columns; its inverse (irfft) weighs each kept bin twice except the first
and, for even n, the last. The signal is cut or zero-padded to ``dft_length`` first, as NumPy's FFT does.
O(n²) rather than O(n log n), but exact to float rounding, differentiable, and exported as plain MatMuls.
"""
import numpy as np

import graphcore as gc

from .import_registry import importer


def _to_length(x, axis, n):
    """Cut or zero-pad ``x`` along ``axis`` to ``n`` samples."""
    size = x.shape[axis]
    if size > n:
        return x[(slice(None),) * axis + (slice(0, n),)]
    if size < n:
        return gc.pad(x, [(0, n - size) if i == axis else (0, 0) for i in range(x.ndim)])
    return x


def _last(x, axis):
    """``x`` with ``axis`` moved last, and the permutation back."""
    perm = [i for i in range(x.ndim) if i != axis] + [axis]
    return gc.transpose(x, tuple(perm)), tuple(int(i) for i in np.argsort(perm))


def transform(ctx, x, axis, n, inverse=False, onesided=False):
    """The DFT of ``x`` (…, 1|2) along ``axis`` with length ``n``: (…, m, 2), or (…, n, 1) for an irfft;
    computed in float64 (as NumPy's FFT is), returned in x's dtype."""
    return gc.cast(_transform(ctx, gc.cast(x, gc.float64), axis, n, inverse, onesided), x.dtype)


def _transform(ctx, x, axis, n, inverse, onesided):
    parts = [x[..., 0]] + ([x[..., 1]] if x.shape[-1] == 2 else [])   # real, and imaginary if complex
    if inverse and onesided:   # irfft: the kept bins, each weighed twice but the first and (even n) the last
        k, j = np.meshgrid(np.arange(n // 2 + 1), np.arange(n), indexing="ij")
        weight = np.where((k == 0) | ((n % 2 == 0) & (k == n // 2)), 1.0, 2.0) / n
        tables = [weight * np.cos(2 * np.pi * k * j / n), -weight * np.sin(2 * np.pi * k * j / n)]
        rows = [_last(_to_length(p, axis, n // 2 + 1), axis) for p in parts]
        y = gc.add_n([gc.matmul(r, ctx.tensor(t.astype(x.dtype))) for (r, _), t in zip(rows, tables)])
        return gc.expand_dims(gc.transpose(y, rows[0][1]), -1)
    j, k = np.meshgrid(np.arange(n), np.arange(n // 2 + 1 if onesided else n), indexing="ij")
    scale = 1.0 / n if inverse else 1.0
    c, s = (ctx.tensor((f(2 * np.pi * j * k / n) * scale).astype(x.dtype)) for f in (np.cos, np.sin))
    sign = 1.0 if inverse else -1.0   # e^(∓2πi·jk/n): the forward transform turns by −, the inverse by +
    rows = [_last(_to_length(p, axis, n), axis) for p in parts]
    (real, back), imag = rows[0], rows[1][0] if len(rows) > 1 else None
    yr, yi = gc.matmul(real, c), gc.matmul(real, s) * sign
    if imag is not None:
        yr, yi = yr - gc.matmul(imag, s) * sign, yi + gc.matmul(imag, c)
    return gc.concat([gc.expand_dims(gc.transpose(t, back), -1) for t in (yr, yi)], -1)


@importer("DFT")
def _dft(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    if node.opset >= 20:
        axis = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.array(-2)
        axis = int(np.asarray(ctx.static(axis, "the axis of DFT")).reshape(-1)[0])
    else:
        axis = node.attr("axis", 1)
    axis %= x.ndim
    if axis == x.ndim - 1 or x.shape[axis] is None:
        raise node.error(f"DFT along axis {axis} of {x.shape} (the signal axis must be known and not the last)")
    inverse, onesided = bool(node.attr("inverse", 0)), bool(node.attr("onesided", 0))
    length = inputs[1] if len(inputs) > 1 else None
    if length is not None:
        n = int(np.asarray(ctx.static(length, "the dft_length of DFT")).reshape(-1)[0])
    else:
        n = 2 * (x.shape[axis] - 1) if inverse and onesided else x.shape[axis]
    if n < 1:
        raise node.error(f"a DFT length of {n}")
    ctx.check_size([2, n, n], np.float64, f"DFT '{node.name}' tables (length {n})")
    return [transform(ctx, x, axis, n, inverse, onesided)]


@importer("STFT")
def _stft(ctx, node, inputs):
    """Frames of ``frame_length`` every ``frame_step`` samples, times the window, each transformed:
    (batch, frames, bins, 2)."""
    signal = ctx.tensor(inputs[0])
    step = int(np.asarray(ctx.static(inputs[1], "the frame_step of STFT")).reshape(-1)[0])
    window = inputs[2] if len(inputs) > 2 else None
    length = inputs[3] if len(inputs) > 3 else None
    if length is not None:
        frame = int(np.asarray(ctx.static(length, "the frame_length of STFT")).reshape(-1)[0])
    elif window is not None:
        frame = ctx.tensor(window).shape[0]
    else:
        raise node.error("STFT needs a window or a frame_length")
    total = signal.shape[1]
    if total is None:
        raise node.error("STFT needs a known signal length")
    count = (total - frame) // step + 1
    frames = gc.concat([gc.expand_dims(signal[:, i * step:i * step + frame], 1) for i in range(count)], 1)
    if window is not None:
        frames = frames * gc.reshape(ctx.tensor(window), (1, 1, frame, 1))
    return [transform(ctx, frames, 2, frame, onesided=bool(node.attr("onesided", 1)))]


@importer("MelWeightMatrix")
def _mel_weight_matrix(ctx, node, inputs):
    """The (dft_length/2 + 1, mel bins) matrix of triangular filters, computed now from its scalar inputs as
    onnx's reference computes it (the mel scale's points spaced by (high − low)/(bins + 2))."""
    bins, length, rate, low, high = (np.asarray(ctx.static(v, "the inputs of MelWeightMatrix")).reshape(())
                                     for v in inputs)
    bins, length, rate = int(bins), int(length), int(rate)
    ctx.check_size([length // 2 + 1, bins], np.float64, f"MelWeightMatrix '{node.name}' output")
    mel_low, mel_high = (2595 * np.log1p(float(f) / 700) / np.log(10) for f in (low, high))
    points = np.arange(bins + 2) * ((mel_high - mel_low) / (bins + 2)) + mel_low
    edges = (((length + 1) * (700 * np.expm1(points / 2595 * np.log(10)))) // rate).astype(int)
    out = np.zeros((length // 2 + 1, bins))
    for i in range(bins):
        left, centre, right = edges[i:i + 3]
        if centre == left:
            out[centre, i] = 1
        else:
            out[left:centre + 1, i] = (np.arange(left, centre + 1) - left) / (centre - left)
        if right > centre:
            out[centre:right, i] = (right - np.arange(centre, right)) / (right - centre)
    dtype = node.attr("output_datatype")
    from .from_onnx import onnx_dtype
    return [out.astype(np.float32 if dtype is None else onnx_dtype(dtype, f"MelWeightMatrix '{node.name}'"))]
