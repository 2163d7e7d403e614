"""Non-overlapping 2-D max pooling in compiled numba loops (the optional ``fast`` extra;
issue 18).

``forward`` takes each window's maximum in one pass over the input (NumPy's
``maximum`` semantics: a NaN in a window is the maximum). ``backward`` writes every
input position once: dy where the position is the FIRST (row-major) position of its
window equal to the window's maximum, else 0: the same rule, ties included, as the
NumPy backend's "pool_first_max" (which compares the whole input with the output, then
settles ties offset by offset on boolean views, then multiplies: several passes).

``forward_argmax`` also keeps, per output value, the offset of that first maximum (``ph·pw``
for a NaN window, which routes nowhere), so that ``backward_argmax`` reads only dy and those
offsets: the bench cnn's pooling (64x24x24x64 float32, one thread) 0.8 + 2.5-2.8 ms forward
and backward without them, 1.0-1.3 + 0.9 with int16 offsets (int32: 1.5 + 0.9; int8:
1.2-1.8 + 0.8-0.9). The backward that compares x with y stays for a forward run without
training (its backward, under a tape, is rare).

Every inner loop runs over the channels and stores into one array at one place, which
LLVM vectorizes (see lstm_numba.py).
"""

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward(x, y, ph, pw):
    """x (N, oh·ph, ow·pw, C) -> y (N, oh, ow, C), the window maxima."""
    n_, oh, ow, channels = y.shape
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                yr = y[n, i, j]
                x0 = x[n, i * ph, j * pw]
                for c in range(channels):
                    yr[c] = x0[c]
                for a in range(ph):
                    for b in range(pw):
                        if a == 0 and b == 0:
                            continue
                        xr = x[n, i * ph + a, j * pw + b]
                        for c in range(channels):
                            v = xr[c]
                            m = yr[c]
                            yr[c] = m if (m >= v or m != m) else v


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward(x, y, dy, dx, first, ph, pw, zero):
    """dx (N, oh·ph, ow·pw, C): dy at each window's first position equal to its maximum,
    ``zero`` elsewhere (every position written). ``first`` (C,) int32 is scratch (the
    lane width of float32; uint8 made the loop 4x slower): the
    offsets are visited last to first, each overwriting ``first`` where it holds the
    maximum, which leaves the first one (a select per channel, no branch)."""
    n_, oh, ow, channels = dy.shape
    none = np.int32(ph * pw)
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                dr = dy[n, i, j]
                yr = y[n, i, j]
                for c in range(channels):
                    first[c] = none
                for k in range(ph * pw - 1, -1, -1):
                    xr = x[n, i * ph + k // pw, j * pw + k % pw]
                    kk = np.int32(k)
                    for c in range(channels):
                        first[c] = kk if xr[c] == yr[c] else first[c]
                for k in range(ph * pw):
                    out = dx[n, i * ph + k // pw, j * pw + k % pw]
                    kk = np.int32(k)
                    for c in range(channels):
                        out[c] = dr[c] if first[c] == kk else zero


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward_argmax(x, y, first, ph, pw):
    """``forward``, and in ``first`` (y's shape, an integer dtype) the offset (row-major in
    the window) of each window's first maximum; ``ph·pw`` where the maximum is NaN."""
    n_, oh, ow, channels = y.shape
    none = first.dtype.type(ph * pw)
    start = first.dtype.type(0)
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                yr = y[n, i, j]
                fr = first[n, i, j]
                x0 = x[n, i * ph, j * pw]
                for c in range(channels):
                    yr[c] = x0[c]
                    fr[c] = start
                for k in range(1, ph * pw):
                    xr = x[n, i * ph + k // pw, j * pw + k % pw]
                    kk = first.dtype.type(k)
                    for c in range(channels):
                        v = xr[c]
                        m = yr[c]
                        keep = m >= v or m != m
                        yr[c] = m if keep else v
                        fr[c] = fr[c] if keep else kk
                for c in range(channels):
                    fr[c] = none if yr[c] != yr[c] else fr[c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward_argmax(first, dy, dx, ph, pw, zero):
    """dx (N, oh·ph, ow·pw, C): dy at each window's offset ``first`` (from
    ``forward_argmax``), ``zero`` elsewhere (every position written)."""
    n_, oh, ow, channels = dy.shape
    for n in range(n_):
        for i in range(oh):
            for j in range(ow):
                dr = dy[n, i, j]
                fr = first[n, i, j]
                for k in range(ph * pw):
                    out = dx[n, i * ph + k // pw, j * pw + k % pw]
                    kk = first.dtype.type(k)
                    for c in range(channels):
                        out[c] = dr[c] if fr[c] == kk else zero
