"""NCHW 2-D convolution kernels: forward, input gradient and filter gradient.

The dense paths are im2col + BLAS with *output positions as rows*: the receptive fields are gathered (one
copy, from a zero-copy ``sliding_window_view``) into a (N·Ho·Wo, C·kh·kw) matrix, so a whole batch is one
large matrix product even when the feature maps are tiny (a batched product per image collapses to
(O × CKK)·(CKK × 4) products on a 2×2 map and runs at a few GFLOP/s). Images are gathered a chunk at a
time (about ``_CHUNK_BYTES`` of columns) so the copy and the product that reads it stay in cache.

Results come back as NCHW *views* of channels-last memory: no transpose copy is made, elementwise ops
keep that layout, and the next convolution's gather reads contiguous channels. Depthwise convolutions skip
im2col (their per-channel matrices are too small for BLAS) and use one multiply-add per kernel tap. The
input gradient folds columns back (col2im) with one strided slice-add per tap, never ``np.add.at``.

The private helpers (padding, tap slices, cropping) are shared with pool.py.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

# About 2 MiB of columns per product: the product runs on both cores, each reading its half, which stays in a
# core's L2 (1 MiB on these machines), and a taller product runs nearer BLAS's peak. Against 512 KiB, small
# VGG's 13 layers (forward and both gradients) took 0.80-0.92x the time, medians of 15 interleaved rounds,
# three runs, OpenBLAS's AVX2 and AVX-512 kernels alike (docs/performance.md).
_CHUNK_BYTES = 1 << 21
_NARROW = 3   # inputs with at most this many channels (images) use the NCHW-order gather


def _pad(x, pads, value=0):
    """Return x inside a constant border; a no-op without padding.

    Writing into a pre-filled buffer is several times faster than np.pad.
    """
    top, bottom, left, right = pads
    if not any(pads):
        return x
    n, c, h, w = x.shape
    xp = np.full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    xp[:, :, top:top + h, left:left + w] = x
    return xp


def _crop(xp, pads, hw):
    """Undo _pad on a gradient buffer: the (H, W) interior as a view."""
    top, _, left, _ = pads
    return xp[:, :, top:top + hw[0], left:left + hw[1]]


def _padded_zeros(n, c, hw, pads, dtype):
    """Zero gradient buffer over the padded input; taps slice-add into it."""
    top, bottom, left, right = pads
    return np.zeros((n, c, hw[0] + top + bottom, hw[1] + left + right), dtype=dtype)


def _out_hw(padded_hw, kernel, strides, dilations):
    """Output size of a sliding window over an already padded input."""
    return tuple((size - d * (k - 1) - 1) // s + 1
                 for size, k, s, d in zip(padded_hw, kernel, strides, dilations))


def _tap_slices(kernel, strides, dilations, out_hw):
    """Yield (i, j, (rows, cols)) for each kernel tap in row-major order.

    ``xp[:, :, rows, cols]`` is the (N, C, Ho, Wo) block of padded input that
    tap (i, j) meets across all output positions, so loops over kh*kw taps
    replace loops over pixels (and scatter-adds into it are collision-free).
    """
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, strides, dilations, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                         slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def _padded_channels_last(x, pads):
    """x (N, C, H, W) padded with zeros, as a channels-last (N, Hp, Wp, C) array.

    The padding copy is needed anyway, so it also moves the channels innermost; an unpadded input that is
    already channels-last in memory (a previous convolution's output) is used as it is.
    """
    top, bottom, left, right = pads
    n, c, h, w = x.shape
    if not any(pads):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    xp = np.zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    xp[:, top:top + h, left:left + w] = x.transpose(0, 2, 3, 1)
    return xp


def _windows(xp, kernel, strides, dilations, out_hw):
    """Zero-copy view of every receptive field of a channels-last input, (N, Ho, Wo, kh, kw·C) or, with a
    dilated width, (N, Ho, Wo, kh, kw, C); either way rows flatten to the (kh, kw, C) column order.

    Undilated, a window row's kw pixels are adjacent in memory, so its kw·C values are one contiguous run:
    the im2col copy then moves runs of kw·C values instead of C (measured 4× faster for C = 16)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, strides, dilations, out_hw
    if dw == 1 and xp.flags.c_contiguous:
        s_n, s_h, s_w, s_c = xp.strides
        return as_strided(xp, (xp.shape[0], ho, wo, kh, kw * xp.shape[3]), (s_n, sh * s_h, sw * s_w, dh * s_h, s_c),
                          writeable=False)
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    win = sliding_window_view(xp, span, axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]
    return win[:, :ho, :wo].transpose(0, 1, 2, 4, 5, 3)


def _chunks(n, bytes_per_image):
    """Image ranges [n0, n1) whose columns take about ``_CHUNK_BYTES``."""
    step = max(1, _CHUNK_BYTES // max(1, bytes_per_image))
    return [(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


def _im2col(win, n0, n1, buf):
    """Receptive fields of images [n0, n1) as rows (m·Ho·Wo, kh·kw·C), written into ``buf``."""
    ho, wo = win.shape[1:3]
    cols = buf[:(n1 - n0) * ho * wo].reshape((n1 - n0,) + win.shape[1:])
    cols[...] = win[n0:n1]
    return cols.reshape((n1 - n0) * ho * wo, -1)


def _filter_matrix(w):
    """(O, Cg, kh, kw) → (O, kh·kw·Cg), the column order of ``_im2col``."""
    o, cg, kh, kw = w.shape
    return w.transpose(0, 2, 3, 1).reshape(o, kh * kw * cg)


def _grouped(cols, groups, taps, g):
    """The columns of group g: (rows, kh·kw·Cg) (a copy when groups > 1)."""
    if groups == 1:
        return cols
    rows = cols.shape[0]
    return cols.reshape(rows, taps, groups, -1)[:, :, g].reshape(rows, -1)


def _is_depthwise(channels, groups):
    return groups > 1 and channels == groups


def conv2d(x, w, strides, pads, dilations, groups):
    """Cross-correlation like torch.nn.functional.conv2d: (N,C,H,W) -> (N,O,Ho,Wo)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = _out_hw((h + pads[0] + pads[1], wd + pads[2] + pads[3]), (kh, kw), strides, dilations)
    if _is_depthwise(c, groups):
        return _depthwise_conv2d(_pad(x, pads), w, strides, dilations, (ho, wo))
    if c <= _NARROW and groups == 1:
        return _narrow_conv2d(x, w, strides, pads, dilations, (ho, wo))
    xl = _padded_channels_last(x, pads)
    win = _windows(xl, (kh, kw), strides, dilations, (ho, wo))
    y = np.empty((n, ho, wo, o), dtype=x.dtype)
    y_rows = y.reshape(n * ho * wo, o)
    wt = _filter_matrix(w).T
    og = o // groups
    chunks = _chunks(n, ho * wo * c * kh * kw * x.itemsize)
    buf = np.empty((chunks[0][1] * ho * wo, c * kh * kw), dtype=x.dtype)
    for n0, n1 in chunks:
        cols = _im2col(win, n0, n1, buf)
        rows = slice(n0 * ho * wo, n1 * ho * wo)
        for g in range(groups):
            np.matmul(_grouped(cols, groups, kh * kw, g), wt[:, g * og:(g + 1) * og],
                      out=y_rows[rows, g * og:(g + 1) * og])
    return y.transpose(0, 3, 1, 2)


def _narrow_columns(x, kernel, strides, pads, dilations, out_hw):
    """(N, C·kh·kw, Ho·Wo) columns of an input with few channels (an RGB or grey image): gathered in the
    input's own NCHW order, so each copied run is a whole output row — the channels-last gather would copy
    runs of one or three values."""
    n, c = x.shape[:2]
    (kh, kw), (ho, wo) = kernel, out_hw
    (sh, sw), (dh, dw) = strides, dilations
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    win = sliding_window_view(_pad(x, pads), span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=x.dtype)
    cols[...] = win.transpose(0, 1, 4, 5, 2, 3)
    return cols.reshape(n, c * kh * kw, ho * wo)


def _narrow_conv2d(x, w, strides, pads, dilations, out_hw):
    """Few input channels: one (O × C·kh·kw)·(C·kh·kw × Ho·Wo) product per image, straight into NCHW."""
    o = w.shape[0]
    cols = _narrow_columns(x, w.shape[2:], strides, pads, dilations, out_hw)
    return np.matmul(w.reshape(o, -1), cols).reshape((x.shape[0], o) + tuple(out_hw))


def _depthwise_conv2d(xp, w, strides, dilations, out_hw):
    """Channel c feeds outputs c*m .. c*m+m-1 (m = channel multiplier)."""
    n, c = xp.shape[:2]
    o, _, kh, kw = w.shape
    wd = w.reshape(c, o // c, kh, kw)
    y = np.zeros((n, c, o // c) + out_hw, dtype=xp.dtype)
    term = np.empty_like(y)
    for i, j, (rows, cols) in _tap_slices((kh, kw), strides, dilations, out_hw):
        np.multiply(xp[:, :, None, rows, cols], wd[:, :, i, j, None, None], out=term)
        y += term
    return y.reshape(n, o, *out_hw)


def conv2d_input_grad(dy, w, input_hw, strides, pads, dilations, groups):
    """Gradient of conv2d w.r.t. x, i.e. ConvTranspose2d with output size input_hw.

    Tap by tap: the tap's contribution dy·W[:, :, i, j] is one matrix product, added (col2im) into its shifted
    window of a channels-last buffer. Both sides of every add are long contiguous runs, unlike a fold of one
    big column matrix, whose per-tap slices have only C contiguous values and leave NumPy looping over them.
    """
    n, o, ho, wo = dy.shape
    _, cg, kh, kw = w.shape
    c = cg * groups
    if _is_depthwise(c, groups):
        return _depthwise_input_grad(dy, w, input_hw, strides, pads, dilations, c)
    if groups == 1 and tuple(strides) == (1, 1) and tuple(dilations) == (1, 1) and \
            all(p < k for p, k in zip(pads, (kh, kh, kw, kw))) and \
            input_hw[0] * input_hw[1] <= 1.25 * ho * wo:
        # Unit strides and 'same'-like padding: the transposed convolution is a plain one of dy with the
        # filters turned by 180° and their in/out channels swapped, over dy padded by k − 1 − p: one gather
        # and one large product (K = kh·kw·O) instead of kh·kw products with K = O and as many strided
        # slice-adds. With 'valid' padding the padded dy is mostly zeros (LeNet's 5×5 → 1×1 layer: 25× the
        # work), so the tap loop stays.
        flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        full = tuple(k - 1 - p for p, k in zip(pads, (kh, kh, kw, kw)))
        return conv2d(dy, flipped, (1, 1), full, (1, 1), 1)
    top, bottom, left, right = pads
    dxp = np.zeros((n, input_hw[0] + top + bottom, input_hw[1] + left + right, c), dtype=dy.dtype)
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(n * ho * wo, o)
    og = o // groups
    part = np.empty((n * ho * wo, c), dtype=dy.dtype)
    for i, j, (rows, cols) in _tap_slices((kh, kw), strides, dilations, (ho, wo)):
        for g in range(groups):
            np.matmul(dy_rows[:, g * og:(g + 1) * og], w[g * og:(g + 1) * og, :, i, j],
                      out=part[:, g * cg:(g + 1) * cg])
        dxp[:, rows, cols] += part.reshape(n, ho, wo, c)
    return dxp[:, top:top + input_hw[0], left:left + input_hw[1]].transpose(0, 3, 1, 2)


def _depthwise_input_grad(dy, w, input_hw, strides, pads, dilations, channels):
    """One multiply-add per tap: input channel c gathers its own output channels c·M … c·M + M − 1."""
    n, o, ho, wo = dy.shape
    kh, kw = w.shape[2:]
    dxp = _padded_zeros(n, channels, input_hw, pads, dy.dtype)
    dyd = dy.reshape(n, channels, o // channels, ho, wo)
    wd = w.reshape(channels, o // channels, kh, kw)
    for i, j, (rows, cols) in _tap_slices((kh, kw), strides, dilations, (ho, wo)):
        dxp[:, :, rows, cols] += np.einsum('ncmhw,cm->nchw', dyd, wd[:, :, i, j])
    return _crop(dxp, pads, input_hw)


def conv2d_filter_grad(x, dy, kernel_hw, strides, pads, dilations, groups):
    """Gradient of conv2d w.r.t. w: dyᵀ times the im2col matrix, one product per chunk of images."""
    n, c = x.shape[:2]
    o, ho, wo = dy.shape[1:]
    kh, kw = kernel_hw
    if _is_depthwise(c, groups):
        xp = _pad(x, pads)
        dyd = dy.reshape(n, c, o // c, ho, wo)
        dw = np.empty((c, o // c, kh, kw), dtype=dy.dtype)
        for i, j, (rows, cols) in _tap_slices(kernel_hw, strides, dilations, (ho, wo)):
            dw[:, :, i, j] = np.einsum('ncmhw,nchw->cm', dyd, xp[:, :, rows, cols])
        return dw.reshape(o, 1, kh, kw)
    if c <= _NARROW and groups == 1:
        cols = _narrow_columns(x, kernel_hw, strides, pads, dilations, (ho, wo))
        dw = np.matmul(dy.reshape(n, o, ho * wo), cols.transpose(0, 2, 1)).sum(axis=0)
        return dw.reshape(o, c, kh, kw)
    win = _windows(_padded_channels_last(x, pads), kernel_hw, strides, dilations, (ho, wo))
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(n * ho * wo, o)
    og = o // groups
    dw = np.zeros((o, kh * kw * (c // groups)), dtype=dy.dtype)
    chunks = _chunks(n, ho * wo * c * kh * kw * x.itemsize)
    buf = np.empty((chunks[0][1] * ho * wo, c * kh * kw), dtype=x.dtype)
    for n0, n1 in chunks:
        cols = _im2col(win, n0, n1, buf)
        rows = dy_rows[n0 * ho * wo:n1 * ho * wo]
        for g in range(groups):
            dw[g * og:(g + 1) * og] += rows[:, g * og:(g + 1) * og].T @ _grouped(cols, groups, kh * kw, g)
    return np.ascontiguousarray(dw.reshape(o, kh, kw, c // groups).transpose(0, 3, 1, 2))
