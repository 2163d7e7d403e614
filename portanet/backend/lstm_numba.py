"""The LSTM's time steps as compiled numba loops (the optional ``fast`` extra; issue 18).

The default LSTM's whole-sequence path (``layers/recurrent/lstm.py``, ``_fast_sequence``)
scales the i, f, o columns by 0.5 so that one tanh over the four gate blocks gives every
gate (sigmoid(z) = 0.5·tanh(z/2) + 0.5). Per time step it then runs about twenty NumPy
calls forward and seven backward on (batch, 4·units) arrays, and NumPy's float32 tanh
has no SIMD loop on AVX2 machines (about 30 ns a value on the 2-core bench machine: most
of the LSTM's forward). Here a step is one GEMM (``h @ U`` through the backend's BLAS)
plus ONE compiled loop that does the rest and writes the same backward factors
(``keep``), and a backward step is one compiled loop plus one GEMM; the time loop itself
is compiled too, calling NumPy's own cblas gemm through a function pointer (no Python
call per step: about 15 us a GEMM call and 5-10 us a kernel dispatch saved, 64 of each
per training step in bench lstm).

tanh is the rational approximation Eigen (and so TensorFlow's CPU kernels) uses for
float32: a degree-13/6 odd/even polynomial ratio on [-7.9053, 7.9053], clamped outside;
at most 6 float32 ulps (5.4 measured, relative error 3e-7, near |x| = 6; NumPy's own
float32 tanh: 1.3) from the exact tanh over [-10, 10] (``tests/test_fast_paths_cpu.py``);
the loop vectorizes (8 lanes on AVX2): 0.7 ns a value against NumPy's 4-30 ns. So this
path takes float32 only; float64 stays on the NumPy loop.
"""

import numba
import numpy as np

_A1 = np.float32(4.89352455891786e-03)
_A3 = np.float32(6.37261928875436e-04)
_A5 = np.float32(1.48572235717979e-05)
_A7 = np.float32(5.12229709037114e-08)
_A9 = np.float32(-8.60467152213735e-11)
_A11 = np.float32(2.00018790482477e-13)
_A13 = np.float32(-2.76076847742355e-16)
_B0 = np.float32(4.89352518554385e-03)
_B2 = np.float32(2.26843463243900e-03)
_B4 = np.float32(1.18534705686654e-04)
_B6 = np.float32(1.19825839466702e-06)
_CLAMP = np.float32(7.90531110763549805)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


@numba.njit(cache=True, inline="always", error_model="numpy")
def tanh32(x):
    """float32 tanh (Eigen's rational approximation; see the module docstring)."""
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x2 * p + _A1
    p = x * p
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return p / q


@numba.njit(cache=True, nogil=True, error_model="numpy")
def tanh_into(x, out):
    """``out = tanh32(x)`` elementwise (1-D float32 arrays; for the tests)."""
    for i in range(x.size):
        out[i] = tanh32(x[i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward_step(proj_t, bias, hr, c, h_out, keep_t, a, tcs):
    """One step: with z = (proj_t + bias) + hr (batch, 4u; i, f, o columns pre-scaled
    by 0.5; ``bias`` (4u,), added here rather than in a pass over the whole projection),
    a = tanh(z), s = 0.5·a + 0.5 (the gates), ``c = s_f·c + s_i·a_g`` (in place),
    ``h_out = s_o·tanh(c)``, and keep_t (batch, 6u) = [a_g(1-a_i²), c_prev(1-a_f²),
    s_i(1-a_g²), tanh(c)(1-a_o²), s_o(1-tanh²(c)), s_f], as ``_fast_sequence`` keeps.
    ``a`` (batch, 4u) and ``tcs`` (batch, u) are scratch.

    Each inner loop stores into one place of one array: LLVM vectorizes such loops, but
    not one that stores at several runtime offsets of the same array (measured: 330 us
    a step as one loop, about 30 us split like this, batch 64, 128 units)."""
    batch = hr.shape[0]
    u = c.shape[1]
    for b in range(batch):
        for j in range(4 * u):
            a[b, j] = tanh32((proj_t[b, j] + bias[j]) + hr[b, j])
        for j in range(u):
            ai = a[b, j]
            af = a[b, u + j]
            ag = a[b, 2 * u + j]
            ao = a[b, 3 * u + j]
            cp = c[b, j]
            cn = (_HALF * af + _HALF) * cp + (_HALF * ai + _HALF) * ag
            tc = tanh32(cn)
            c[b, j] = cn
            tcs[b, j] = tc
            h_out[b, j] = (_HALF * ao + _HALF) * tc
            keep_t[b, u + j] = cp * (_ONE - af * af)
        for j in range(u):
            ai = a[b, j]
            ag = a[b, 2 * u + j]
            keep_t[b, j] = ag * (_ONE - ai * ai)
        for j in range(u):
            ai = a[b, j]
            ag = a[b, 2 * u + j]
            keep_t[b, 2 * u + j] = (_HALF * ai + _HALF) * (_ONE - ag * ag)
        for j in range(u):
            ao = a[b, 3 * u + j]
            keep_t[b, 3 * u + j] = tcs[b, j] * (_ONE - ao * ao)
        for j in range(u):
            ao = a[b, 3 * u + j]
            tc = tcs[b, j]
            keep_t[b, 4 * u + j] = (_HALF * ao + _HALF) * (_ONE - tc * tc)
        for j in range(u):
            keep_t[b, 5 * u + j] = _HALF * a[b, u + j] + _HALF


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward_step(dh, extra, has_extra, dc, keep_t, q_t, dcs):
    """One step back: dh (+ extra), ``dc += dh·keep[4u:5u]``, q_t (batch, 4u) =
    [dc, dc, dc, dh] ⊙ keep[:4u], then ``dc *= keep[5u:]`` (in place); the caller's GEMM
    ``q_t @ (w ⊙ U)ᵀ`` gives the next dh. ``dcs`` (batch, u) is scratch. One store
    stream per inner loop, as ``forward_step``."""
    batch = dh.shape[0]
    u = dc.shape[1]
    for b in range(batch):
        if has_extra:
            for j in range(u):
                dh[b, j] += extra[b, j]
        for j in range(u):
            dcs[b, j] = dc[b, j] + dh[b, j] * keep_t[b, 4 * u + j]
        for j in range(u):
            q_t[b, j] = dcs[b, j] * keep_t[b, j]
        for j in range(u):
            q_t[b, u + j] = dcs[b, j] * keep_t[b, u + j]
        for j in range(u):
            q_t[b, 2 * u + j] = dcs[b, j] * keep_t[b, 2 * u + j]
        for j in range(u):
            q_t[b, 3 * u + j] = dh[b, j] * keep_t[b, 3 * u + j]
        for j in range(u):
            dc[b, j] = dcs[b, j] * keep_t[b, 5 * u + j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward_all(gemm, proj, bias, rk, hs, c, keep, hr, a, tcs, b0, b1):
    """Every forward step for the batch rows [b0, b1): ``hr = h @ rk`` through ``gemm``
    (the backend's cblas sgemm, called from compiled code: no Python call between the
    steps) and ``forward_step``. hs (steps + 1, batch, u) holds h0 in hs[0] and receives
    each step's output. The rows of an LSTM never mix: calls on disjoint row ranges may
    run at once on several threads (nogil)."""
    steps = proj.shape[0]
    u, gu = rk.shape
    n = b1 - b0
    for t in range(steps):
        gemm(101, 111, 111, n, gu, u, np.float32(1.0), hs[t, b0:b1].ctypes.data, u,
             rk.ctypes.data, gu, np.float32(0.0), hr[b0:b1].ctypes.data, gu)
        forward_step(proj[t, b0:b1], bias, hr[b0:b1], c[b0:b1], hs[t + 1, b0:b1],
                     keep[t, b0:b1], a[b0:b1], tcs[b0:b1])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward_all(gemm, keep, rk_t, d_seq, has_seq, dh, dc, q_buf, dcs, b0, b1):
    """Every backward step, last first, for the batch rows [b0, b1): ``backward_step``
    then ``dh = q_t @ rk_t`` through ``gemm`` (see forward_all). ``d_seq`` (batch, steps,
    u) is added at each step when ``has_seq``."""
    steps = keep.shape[0]
    gu, u = rk_t.shape
    n = b1 - b0
    for t in range(steps - 1, -1, -1):
        backward_step(dh[b0:b1], d_seq[b0:b1, t], has_seq, dc[b0:b1], keep[t, b0:b1],
                      q_buf[t, b0:b1], dcs[b0:b1])
        gemm(101, 111, 111, n, u, gu, np.float32(1.0), q_buf[t, b0:b1].ctypes.data, gu,
             rk_t.ctypes.data, u, np.float32(0.0), dh[b0:b1].ctypes.data, u)


def _all_rows(fn, batch, *args):
    fn(*args, 0, batch)


def run_forward(proj, rk, h0, c0, gemm, rows=_all_rows, bias=None):
    """All steps forward: proj (steps, batch, 4u) (the scaled input projection), ``bias``
    (4u,) the scaled bias or None (none, or already in proj), rk (u, 4u) the scaled
    recurrent kernel (C order), h0/c0 (batch, u); ``gemm`` is the
    float32 cblas gemm as compiled code calls it (``numpy_backend._compiled_gemm``) and
    ``rows(fn, batch, *args)`` calls ``fn(*args, b0, b1)`` on row ranges covering the
    batch (one range, or several on threads).
    Returns ``(hs, c, keep)``: hs (steps + 1, batch, u) with hs[0] = h0 and hs[t + 1]
    the output of step t, the final c, and keep (steps, batch, 6u)."""
    steps, batch, gu = proj.shape
    u = gu // 4
    dtype = proj.dtype
    hs = np.empty((steps + 1, batch, u), dtype)
    hs[0] = h0
    c = np.array(c0, dtype=dtype, order="C", copy=True)
    keep = np.empty((steps, batch, 6 * u), dtype)
    hr = np.empty((batch, gu), dtype)
    a = np.empty((batch, gu), dtype)
    tcs = np.empty((batch, u), dtype)
    bias = (np.zeros((gu,), dtype) if bias is None
            else np.ascontiguousarray(bias, dtype=dtype).reshape(gu))
    rows(forward_all, batch, gemm, np.ascontiguousarray(proj), bias, np.ascontiguousarray(rk),
         hs, c, keep, hr, a, tcs)
    return hs, c, keep


def run_backward(keep, rk_t, d_seq, dh, dc, gemm, rows=_all_rows):
    """All steps back from the last: ``d_seq`` (batch, steps, u) adds the output sequence's
    gradient at each step (or None), dh/dc (batch, u) the gradients reaching the final
    state (the last output's gradient already in dh). rk_t = (w ⊙ U)ᵀ (4u, u); ``gemm``
    and ``rows`` as in run_forward. Returns ``(q_buf, dh, dc)``: q (steps, batch, 4u) for the weight
    gradients and the gradients of the initial states."""
    steps, batch, six_u = keep.shape
    u = six_u // 6
    dtype = keep.dtype
    q_buf = np.empty((steps, batch, 4 * u), dtype)
    dh = np.array(dh, dtype=dtype, order="C", copy=True)
    dc = np.array(dc, dtype=dtype, order="C", copy=True)
    dcs = np.empty((batch, u), dtype)
    has_seq = d_seq is not None
    seq = np.asarray(d_seq, dtype=dtype) if has_seq else np.empty((batch, steps, 0), dtype)
    rows(backward_all, batch, gemm, keep, np.ascontiguousarray(rk_t), seq, has_seq, dh, dc,
         q_buf, dcs)
    return q_buf, dh, dc
