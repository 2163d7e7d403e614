"""Row-wise normalisations in compiled numba loops (the optional ``fast`` extra): layer
normalisation over the last axis, forward and backward, and a softmax over the last axis,
forward (float32) and backward (issue 16's transformer workload).

NumPy spends ~8 passes over the activations on a layer normalisation's forward and ~12 on
its backward (each mean, difference and product is a pass and a temporary); here each row
is read once into cache and every value is written once. Each inner loop runs over one row
and stores into one array, which LLVM vectorizes (see lstm_numba.py); the reductions use
``fastmath`` reassociation (and contraction), so their order of summation, not their
meaning, differs from NumPy's pairwise sums: results agree to a few ulps (tests compare
with the portable path). NaN and infinity are kept (no ``nnan``/``ninf`` flags).
"""

import numba
import numpy as np

_FM = {"reassoc", "contract", "nsz", "arcp"}


@numba.njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def _layer_norm_forward_rows(x, gamma, beta, eps, y, xhat, inv, lo, hi):
    """x (rows, d) -> y = xhat·gamma + beta, with xhat = (x - mean)·inv and
    inv = 1/sqrt(var + eps) per row (both kept for the backward pass), for rows lo..hi.
    gamma/beta: (d,) arrays (ones/zeros when the layer has none)."""
    d = x.shape[1]
    scale = 1.0 / d
    for i in range(lo, hi):
        xr = x[i]
        s = 0.0
        for j in range(d):
            s += xr[j]
        mean = s * scale
        v = 0.0
        for j in range(d):
            c = xr[j] - mean
            v += c * c
        r = 1.0 / np.sqrt(v * scale + eps)
        inv[i] = r
        hr = xhat[i]
        for j in range(d):
            hr[j] = (xr[j] - mean) * r
        yr = y[i]
        for j in range(d):
            yr[j] = hr[j] * gamma[j] + beta[j]


@numba.njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def _layer_norm_backward_rows(dy, xhat, inv, gamma, dx, dgamma, dbeta, lo, hi):
    """dx = inv·(g - mean(g) - xhat·mean(g·xhat)) with g = dy·gamma, per row of lo..hi;
    dgamma and dbeta (d,) are set to those rows' column sums of dy·xhat and dy."""
    d = dy.shape[1]
    scale = 1.0 / d
    for j in range(d):
        dgamma[j] = 0.0
        dbeta[j] = 0.0
    for i in range(lo, hi):
        dr = dy[i]
        hr = xhat[i]
        for j in range(d):
            dgamma[j] += dr[j] * hr[j]
        for j in range(d):
            dbeta[j] += dr[j]
        sg = 0.0
        sgx = 0.0
        for j in range(d):
            g = dr[j] * gamma[j]
            sg += g
            sgx += g * hr[j]
        mg = sg * scale
        mgx = sgx * scale
        r = inv[i]
        out = dx[i]
        for j in range(d):
            out[j] = r * (dr[j] * gamma[j] - mg - hr[j] * mgx)


@numba.njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def _softmax_backward_rows(p, dp, ds, lo, hi):
    """ds = p·(dp - Σ dp·p) per row lo..hi of (rows, d) arrays."""
    d = p.shape[1]
    for i in range(lo, hi):
        pr = p[i]
        gr = dp[i]
        t = 0.0
        for j in range(d):
            t += pr[j] * gr[j]
        out = ds[i]
        for j in range(d):
            out[j] = pr[j] * (gr[j] - t)


_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_EXP_MIN = np.float32(-87.33)  # below it exp(x) is under float32's smallest normal: 0


@numba.njit(cache=True, nogil=True, fastmath=_FM, error_model="numpy")
def _softmax_forward_f32_rows(s, p, bits, lo, hi):
    """p = exp(s - max) / Σ exp(s - max) per row of float32 (rows, d) arrays.

    NumPy's float32 exp is a SIMD loop but numba's is a scalar libm call per value (4x
    slower here); this exp is Cephes's expf (range reduction by ln 2 in two parts, a
    degree-6 polynomial, 2^k through the exponent bits, written into ``bits``, an int32
    (d,) scratch read back as float32), which LLVM vectorizes: within a few ulps of the
    exact exp on the range a softmax uses (x <= 0), and exactly 0 below -87.33."""
    d = s.shape[1]
    scaled = bits.view(np.float32)
    for i in range(lo, hi):
        r = s[i]
        o = p[i]
        m = r[0]
        for j in range(1, d):
            m = max(m, r[j])
        for j in range(d):
            x0 = r[j] - m
            x = max(x0, _EXP_MIN)
            k = np.floor(x * _LOG2E + np.float32(0.5))
            x = x - k * _LN2_HI - k * _LN2_LO
            z = x * x
            y = (((((np.float32(1.9875691500e-4) * x + np.float32(1.3981999507e-3)) * x
                    + np.float32(8.3334519073e-3)) * x + np.float32(4.1665795894e-2)) * x
                  + np.float32(1.6666665459e-1)) * x + np.float32(5.0000001201e-1)) * z + x + np.float32(1.0)
            o[j] = y
            bits[j] = ((np.int32(k) + np.int32(127)) << 23) if x0 >= _EXP_MIN else np.int32(0)
        t = np.float32(0.0)
        for j in range(d):
            e = o[j] * scaled[j]
            o[j] = e
            t += e
        inv = np.float32(1.0) / t
        for j in range(d):
            o[j] *= inv


# ---------------------------------------------------------------------------- drivers
# Serial: the whole array in one call. Parallel (``parallel=True``, numba's threading
# layer): the rows split into ``chunks`` ranges run as a prange; the column sums of the
# layer norm's backward are kept per chunk and added after.

@numba.njit(cache=True, nogil=True)
def layer_norm_forward(x, gamma, beta, eps, y, xhat, inv):
    _layer_norm_forward_rows(x, gamma, beta, eps, y, xhat, inv, 0, x.shape[0])


@numba.njit(cache=True, nogil=True)
def layer_norm_backward(dy, xhat, inv, gamma, dx, dgamma, dbeta):
    _layer_norm_backward_rows(dy, xhat, inv, gamma, dx, dgamma, dbeta, 0, dy.shape[0])


@numba.njit(cache=True, nogil=True)
def softmax_backward(p, dp, ds):
    _softmax_backward_rows(p, dp, ds, 0, p.shape[0])


@numba.njit(cache=True, nogil=True)
def softmax_forward_f32(s, p, bits):
    _softmax_forward_f32_rows(s, p, bits[0], 0, s.shape[0])


@numba.njit(cache=True, nogil=True, parallel=True)
def layer_norm_forward_par(x, gamma, beta, eps, y, xhat, inv, chunks):
    rows = x.shape[0]
    for c in numba.prange(chunks):
        _layer_norm_forward_rows(x, gamma, beta, eps, y, xhat, inv,
                                 c * rows // chunks, (c + 1) * rows // chunks)


@numba.njit(cache=True, nogil=True, parallel=True)
def layer_norm_backward_par(dy, xhat, inv, gamma, dx, dgamma, dbeta, chunks):
    """dgamma/dbeta: (chunks, d) partial sums, one row per chunk."""
    rows = dy.shape[0]
    for c in numba.prange(chunks):
        _layer_norm_backward_rows(dy, xhat, inv, gamma, dx, dgamma[c], dbeta[c],
                                  c * rows // chunks, (c + 1) * rows // chunks)


@numba.njit(cache=True, nogil=True, parallel=True)
def softmax_backward_par(p, dp, ds, chunks):
    rows = p.shape[0]
    for c in numba.prange(chunks):
        _softmax_backward_rows(p, dp, ds, c * rows // chunks, (c + 1) * rows // chunks)


@numba.njit(cache=True, nogil=True, parallel=True)
def softmax_forward_f32_par(s, p, bits, chunks):
    """bits: (chunks, d) int32 scratch, one row per chunk."""
    rows = s.shape[0]
    for c in numba.prange(chunks):
        _softmax_forward_f32_rows(s, p, bits[c], c * rows // chunks, (c + 1) * rows // chunks)
