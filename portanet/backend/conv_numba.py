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
def bias_relu(z, bias):
    """``z = max(z + bias, 0)`` in place over the rows of a (rows, F) array (the
    convolution's epilogue after a beta=0 GEMM, while the chunk is in cache): one pass
    instead of the bias copied in before the GEMM (beta=1) and relu as a second pass."""
    rows, filters = z.shape
    for r in range(rows):
        zr = z[r]
        for f in range(filters):
            v = zr[f] + bias[f]
            zr[f] = v if v > 0 else 0
