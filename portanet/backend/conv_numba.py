"""The stride-1 convolution's col2im as a compiled numba loop (the optional ``fast``
extra; issue 18): with it, the input gradient is one GEMM per chunk of images
(dz @ Wᵀ: (rows, F) @ (F, K·C), a wide right factor, BLAS's good case) and this
scatter-add of the chunk's columns into dx while they are in cache, instead of one
skinny GEMM per kernel offset ((rows, F) @ (F, C)) over the whole wide dz.

The inner loop runs over the channels and stores into one place of one array (see
lstm_numba.py for why that matters to LLVM).
"""

import numba


@numba.njit(cache=True, nogil=True, error_model="numpy")
def col2im_add(cols, dx, start, out_h, out_w, kh, kw, dh, dw):
    """dx[n, i + a·dh, j + b·dw, :] += cols[r, (a·kw + b)·C : ...] for the rows r of
    images start, start + 1, ... (row r = ((n - start)·out_h + i)·out_w + j); cols is
    (rows, kh·kw·C), dx (N, H, W, C)."""
    channels = dx.shape[3]
    images = cols.shape[0] // (out_h * out_w)
    for m in range(images):
        n = start + m
        for i in range(out_h):
            for j in range(out_w):
                row = cols[(m * out_h + i) * out_w + j]
                for a in range(kh):
                    for b in range(kw):
                        src = row[(a * kw + b) * channels:(a * kw + b + 1) * channels]
                        dst = dx[n, i + a * dh, j + b * dw]
                        for c in range(channels):
                            dst[c] += src[c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def relu_grad(dy, y, out):
    """``out = dy where y > 0 else 0`` over flat arrays (relu's backward from its output):
    one pass; NumPy's ``dy * (y > 0)`` makes a bool array and multiplies through a cast."""
    for i in range(dy.size):
        out[i] = dy[i] if y[i] > 0 else 0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _epilogue(z, bias, has_bias, relu):
    """``z = z + bias`` (when ``has_bias``), then relu (when ``relu``), in place over the
    rows of a (rows, F) array, in one pass."""
    rows, filters = z.shape
    for r in range(rows):
        zr = z[r]
        for f in range(filters):
            v = zr[f] + bias[f] if has_bias else zr[f]
            zr[f] = (v if v > 0 else 0) if relu else v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bias_relu(z, bias):
    """``z = max(z + bias, 0)`` in place over the rows of a (rows, F) array (the
    convolution's epilogue after a beta=0 GEMM, while the chunk is in cache): one pass
    instead of the bias copied in before the GEMM (beta=1) and relu as a second pass."""
    _epilogue(z, bias, True, True)


# ------------------------------------------------------------ a chunk in one compiled call
# conv_stride1's chunks as ONE nogil call each (im2col, the GEMMs through NumPy's own cblas
# gemm called from compiled code, as lstm_numba does, and the element-wise passes): split
# over two threads, the dozen NumPy calls a chunk took before had the threads queue for the
# GIL between them, and each thread was off its CPU 15-20% of the split (cnn's second
# convolution, 2026-12-03 notes).

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _im2col_rows(x, cols, start, stop, out_h, out_w, kh, kw, dh, dw):
    """cols[r, (a·kw + b)·C + c] = x[n, i + a·dh, j + b·dw, c] for images [start, stop)
    (row r = ((n - start)·out_h + i)·out_w + j); x (N, H, W, C), cols (rows, kh·kw·C)."""
    channels = x.shape[3]
    for n in range(start, stop):
        for i in range(out_h):
            for j in range(out_w):
                row = cols[((n - start) * out_h + i) * out_w + j]
                for a in range(kh):
                    for b in range(kw):
                        src = x[n, i + a * dh, j + b * dw]
                        base = (a * kw + b) * channels
                        for c in range(channels):
                            row[base + c] = src[c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward_chunk(gemm, x, cols, build, w2, z, bias, has_bias, relu, start, stop,
                  out_h, out_w, kh, kw, dh, dw, one, zero):
    """Output rows of images [start, stop): im2col into ``cols`` (when ``build``; else
    ``cols`` already holds these images' columns), ``z = cols @ w2`` by ``gemm``, then the
    bias and relu. z is (N·out_h·out_w, F), w2 (kh·kw·C, F); ``one`` and ``zero`` are
    scalars of the arrays' dtype (the GEMM's alpha and beta)."""
    per = out_h * out_w
    rows = (stop - start) * per
    kc, filters = w2.shape
    if build:
        _im2col_rows(x, cols, start, stop, out_h, out_w, kh, kw, dh, dw)
    zc = z[start * per:stop * per]
    gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, rows, filters, kc, one, cols.ctypes.data, kc,
         w2.ctypes.data, filters, zero, zc.ctypes.data, filters)
    if has_bias or relu:
        _epilogue(zc, bias, has_bias, relu)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward_chunk(gemm, x, cols, build, w2, z, dy, masked, dkernel, dbias, has_bias, relu,
                   dcols, dx, want_dx, start, stop, out_h, out_w, kh, kw, dh, dw, one, zero):
    """The gradients from images [start, stop): relu's mask (``masked``, when ``relu``),
    ``dbias += Σ rows``, ``dkernel += colsᵀ @ dz`` and, when ``want_dx``, these images of
    dx (zeroed, then the columns ``dz @ w2ᵀ`` added back by col2im). dy and z are
    (N·out_h·out_w, F); dkernel (kh·kw·C, F) and dbias (F,) are this thread's sums."""
    per = out_h * out_w
    rows = (stop - start) * per
    kc, filters = w2.shape
    dyc = dy[start * per:stop * per]
    if relu:
        zc = z[start * per:stop * per]
        for r in range(rows):
            for f in range(filters):
                g = dyc[r, f] if zc[r, f] > 0 else zero
                masked[r, f] = g
        dz = masked[:rows]
    else:
        dz = dyc
    if has_bias:
        for r in range(rows):
            for f in range(filters):
                dbias[f] += dz[r, f]
    if build:
        _im2col_rows(x, cols, start, stop, out_h, out_w, kh, kw, dh, dw)
    gemm(_ROW_MAJOR, _TRANS, _NO_TRANS, kc, filters, rows, one, cols.ctypes.data, kc,
         dz.ctypes.data, filters, one, dkernel.ctypes.data, filters)
    if want_dx:
        gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, rows, kc, filters, one, dz.ctypes.data, filters,
             w2.ctypes.data, filters, zero, dcols.ctypes.data, kc)
        dx[start:stop] = zero
        col2im_add(dcols[:rows], dx, start, out_h, out_w, kh, kw, dh, dw)
