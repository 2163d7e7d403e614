"""Row-wise normalisations in compiled numba loops (the optional ``fast`` extra): layer
normalisation over the last axis, forward and backward, and the backward pass of a softmax
over the last axis (issue 16's transformer workload).

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
def layer_norm_forward(x, gamma, beta, eps, y, xhat, inv):
    """x (rows, d) -> y = xhat·gamma + beta, with xhat = (x - mean)·inv and
    inv = 1/sqrt(var + eps) per row (both kept for the backward pass). gamma/beta: (d,)
    arrays (ones/zeros when the layer has none)."""
    rows, d = x.shape
    scale = 1.0 / d
    for i in range(rows):
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
def layer_norm_backward(dy, xhat, inv, gamma, dx, dgamma, dbeta):
    """dx = inv·(g - mean(g) - xhat·mean(g·xhat)) with g = dy·gamma, per row; dgamma and
    dbeta (d,) are set to the column sums of dy·xhat and dy."""
    rows, d = dy.shape
    scale = 1.0 / d
    for j in range(d):
        dgamma[j] = 0.0
        dbeta[j] = 0.0
    for i in range(rows):
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
def softmax_backward(p, dp, ds):
    """ds = p·(dp - Σ dp·p) per row of (rows, d) arrays."""
    rows, d = p.shape
    for i in range(rows):
        pr = p[i]
        gr = dp[i]
        t = 0.0
        for j in range(d):
            t += pr[j] * gr[j]
        out = ds[i]
        for j in range(d):
            out[j] = pr[j] * (gr[j] - t)
