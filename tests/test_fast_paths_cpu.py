"""The CPU fast paths of issue 18 against the portable path they replace.

The LSTM's compiled time steps (``backend.fused("lstm_steps")``, NumPy with numba,
``portanet/backend/lstm_numba.py``) must give the portable loop's outputs, input gradient,
state gradients and weight gradients; their float32 tanh must stay within 6 ulps of the
exact tanh. On array_api_strict (and without numba) the path is not offered and the portable
loop runs, which the same comparisons then check against itself.
"""

import numpy as np
import pytest

import portanet as pn
from harness import layer_forward


def _numba_or_skip(backend):
    if backend.name != "numpy":
        return False
    pytest.importorskip("numba")
    return True


def _run_lstm(backend, layer, x, states, dy, fast):
    """Forward + backward of ``layer`` with the compiled steps on or off; returns the
    outputs, the input gradients and the weight gradients as NumPy arrays."""
    backend.set_fused("all" if fast else
                      [n for n in backend.fused_paths() if n != "lstm_steps"])
    try:
        for v in layer.weights:
            v.grad = None
        inputs = [x] + states if states else x
        y, back = layer.forward(inputs, training=True)
        dx = back(dy)
    finally:
        backend.set_fused(None)
    as_list = lambda a: [backend.to_numpy(v) for v in (a if isinstance(a, list) else [a])]
    grads = [backend.to_numpy(v.grad) for v in layer.weights]
    return as_list(y), as_list(dx), grads


CASES = [
    dict(),
    dict(use_bias=False),
    dict(return_sequences=True),
    dict(return_state=True, initial_state=True),
    dict(return_sequences=True, return_state=True, go_backwards=True),
]


@pytest.mark.parametrize("split", [False, True], ids=["one-thread", "rows-on-2-threads"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(sorted(c)) or "default")
def test_compiled_lstm_steps_match_the_portable_loop(backend, rng, case, split, monkeypatch):
    """The compiled time loops give the portable loop's outputs and gradients, also with
    the batch rows split over two threads (rows [0, 2) and [2, 5); numpy_backend._split_rows)."""
    from portanet.backend import numpy_backend
    if split:
        monkeypatch.setattr(numpy_backend, "_SPLIT_MIN_ROWS", 1)
        monkeypatch.setattr(numpy_backend, "_split_threads",
                            lambda: 2 if len(numpy_backend._BLAS_THREADS) == 3 else 1)
    case = dict(case)
    with_state = case.pop("initial_state", False)
    batch, steps, features, units = 5, 7, 3, 6
    layer = pn.layers.LSTM(units, **case)
    x_host = rng.standard_normal((batch, steps, features)).astype(np.float32)
    layer.build([(batch, steps, features)] * 1 if not with_state else
                [(batch, steps, features), (batch, units), (batch, units)])
    x = backend.from_numpy(x_host)
    states = ([backend.from_numpy(rng.standard_normal((batch, units)).astype(np.float32))
               for _ in range(2)] if with_state else [])
    out_shape = (batch, steps, units) if case.get("return_sequences") else (batch, units)
    dy = backend.from_numpy(rng.standard_normal(out_shape).astype(np.float32))
    if case.get("return_state"):
        dy = [dy] + [backend.from_numpy(rng.standard_normal((batch, units)).astype(np.float32))
                     for _ in range(2)]
    ref = _run_lstm(backend, layer, x, states, dy, fast=False)
    got = _run_lstm(backend, layer, x, states, dy, fast=True)
    for a, b in zip(got[0] + got[1] + got[2], ref[0] + ref[1] + ref[2]):
        if b is None:
            assert a is None
            continue
        assert a.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    # The path is taken where it exists (NumPy with numba), and only there.
    offered = backend.fused("lstm_steps")
    if backend.name != "numpy":
        assert offered is None
    else:
        assert offered is not None


def test_compiled_lstm_steps_are_float32_only(backend):
    if not _numba_or_skip(backend):
        assert backend.fused("lstm_steps") is None
        return
    steps_fn = backend.fused("lstm_steps")
    f64 = np.zeros((2, 3, 8)), np.zeros((2, 8)), np.zeros((3, 2)), np.zeros((3, 2))
    assert steps_fn(*f64) is None  # float64 keeps NumPy's tanh (the portable loop)
    f32 = [np.zeros(a.shape, np.float32) for a in f64]
    hs, c, keep, _ = steps_fn(*f32)
    assert hs.shape == (3, 3, 2) and c.shape == (3, 2) and keep.shape == (2, 3, 12)


def test_compiled_lstm_steps_follow_the_numba_switch(backend, monkeypatch):
    if not _numba_or_skip(backend):
        return
    monkeypatch.setenv("PORTANET_NUMBA", "0")
    f32 = (np.zeros((2, 3, 8), np.float32), np.zeros((2, 8), np.float32),
           np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32))
    assert backend.fused("lstm_steps")(*f32) is None


def test_compiled_lstm_steps_known_values(backend):
    """One step by hand: h = o·tanh(f·c0 + i·g) with the gates of z = x·W + h0·U + b."""
    if not _numba_or_skip(backend):
        return
    from portanet.backend import lstm_numba
    u = 2
    z = np.array([[0.3, -0.2, 0.5, 1.0, -0.7, 0.4, 0.1, -0.3]], np.float32)
    c0 = np.array([[0.25, -0.5]], np.float32)
    scale = np.array([0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 0.5, 0.5], np.float32)
    proj = (z * scale)[None]  # the caller's scaled projection, one step
    rk = np.zeros((u, 4 * u), np.float32)
    h0 = np.zeros((1, u), np.float32)
    from portanet.backend.numpy_backend import _compiled_gemm
    hs, c, keep = lstm_numba.run_forward(proj, rk, h0, c0, _compiled_gemm(np.float32))
    sig = lambda v: 1 / (1 + np.exp(-v.astype(np.float64)))
    i, f, g, o = sig(z[0, :2]), sig(z[0, 2:4]), np.tanh(z[0, 4:6].astype(np.float64)), sig(z[0, 6:])
    c_ref = f * c0[0] + i * g
    np.testing.assert_allclose(c[0], c_ref, rtol=2e-6)
    np.testing.assert_allclose(hs[1, 0], o * np.tanh(c_ref), rtol=2e-6)
    np.testing.assert_allclose(keep[0, 0, 5 * u:], f, rtol=2e-6)  # the forget gate
    # The bias given apart (added inside the loop) is the same as inside the projection.
    b = np.array([0.1, -0.4, 0.2, 0.3, -0.1, 0.6, -0.2, 0.05], np.float32)
    hs_b, c_b, keep_b = lstm_numba.run_forward(proj - b, rk, h0, c0,
                                               _compiled_gemm(np.float32), bias=b)
    np.testing.assert_allclose(c_b, c, rtol=1e-6)
    np.testing.assert_allclose(hs_b, hs, rtol=1e-6)
    np.testing.assert_allclose(keep_b, keep, rtol=1e-6, atol=1e-7)


def test_tanh32_is_within_a_few_ulps_of_numpy(backend):
    if not _numba_or_skip(backend):
        return
    from portanet.backend import lstm_numba
    x = np.concatenate([np.linspace(-10, 10, 200001, dtype=np.float32),
                        np.array([0.0, -0.0, 1e-30, -1e-8, 3e-4, 8.0, -50.0, 1e4], np.float32)])
    out = np.empty_like(x)
    lstm_numba.tanh_into(x, out)
    ref = np.tanh(x.astype(np.float64))
    ulps = np.abs(out - ref) / np.spacing(np.abs(ref).astype(np.float32) + np.float32(1e-30))
    # Measured 5.4 ulps at most (near |x| = 6, relative 3e-7); NumPy's own: 1.3.
    assert float(np.max(ulps)) <= 6.0
    assert float(np.max(np.abs(out - ref))) <= 4e-7
    assert out[200001] == 0.0 and abs(out[-1]) == 1.0 and abs(out[-2]) == 1.0


def test_lstm_model_trains_alike_with_and_without_compiled_steps(backend, rng):
    x = rng.standard_normal((16, 5, 3)).astype(np.float32)
    y = rng.integers(0, 4, size=(16,))
    losses = {}
    for fast in (True, False):
        pn.utils.set_random_seed(7)
        model = pn.Sequential([pn.Input((5, 3)), pn.layers.LSTM(8),
                               pn.layers.Dense(4, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        backend.set_fused("all" if fast else
                          [n for n in backend.fused_paths() if n != "lstm_steps"])
        try:
            losses[fast] = [float(model.train_on_batch(x, y)) for _ in range(5)]
        finally:
            backend.set_fused(None)
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][-1] < losses[True][0]


# --------------------------------------------------------------------------- max pooling
POOLS = [
    (lambda: pn.layers.MaxPooling2D(2), (2, 6, 8, 3)),
    (lambda: pn.layers.MaxPooling2D(2), (2, 7, 5, 3)),  # the last row/column is in no window
    (lambda: pn.layers.MaxPooling2D((3, 2), padding="same"), (2, 7, 5, 2)),
    (lambda: pn.layers.MaxPooling2D(2, data_format="channels_first"), (2, 3, 6, 5)),
    (lambda: pn.layers.MaxPooling2D(2), (3, 4, 4, 37)),  # channels beyond one vector
]


@pytest.mark.parametrize("training", [True, False], ids=["argmax-kept", "x-compared"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("split", [False, True], ids=["one-thread", "images-on-2-threads"])
@pytest.mark.parametrize("make,shape", POOLS)
def test_compiled_max_pooling_matches_the_portable_path(backend, make, shape, dtype, split,
                                                        training, monkeypatch):
    """Values and gradients equal (exactly) the portable path's, on inputs full of ties
    (small integers, zeros as after a relu): the first maximum of a window gets dy; also
    with the images split over two threads (numpy_backend._split_rows). Both compiled
    backwards: from the offsets the training forward keeps (pool_numba.forward_argmax) and
    from comparing x with y (a forward without training)."""
    from portanet.backend import numpy_backend
    from portanet.layers import _windows
    if split:
        monkeypatch.setattr(numpy_backend, "_SPLIT_MIN_POOL", 1)
        monkeypatch.setattr(numpy_backend, "_split_threads",
                            lambda: 2 if len(numpy_backend._BLAS_THREADS) == 3 else 1)
    x_host = np.maximum(np.random.default_rng(4).integers(-2, 3, size=shape), 0).astype(dtype)
    x_host[0, 0, 0, 0] = 5.0  # one strict maximum too
    layer = make()
    outs = []
    for fast in (True, False):
        backend.set_fused("all" if fast else "none")
        try:
            with _windows.fast_windows(fast):
                y, back = layer_forward(layer, backend, x_host, training=training)
                dy_host = (np.arange(int(np.prod(y.shape))).reshape(tuple(y.shape)) % 7 + 1)
                dx = back(backend.from_numpy(dy_host.astype(dtype)))
        finally:
            backend.set_fused(None)
        outs.append((backend.to_numpy(y), backend.to_numpy(dx)))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    assert outs[0][1].dtype == np.dtype(dtype) and outs[0][1].shape == shape
    # Each window passes its gradient to exactly one input.
    np.testing.assert_allclose(np.sum(outs[0][1]), np.sum(dy_host))
    if backend.name == "numpy":
        pytest.importorskip("numba")
        assert backend.fused("max_pool2d") is not None


@pytest.mark.parametrize("training", [True, False], ids=["argmax-kept", "x-compared"])
def test_compiled_max_pooling_known_values(backend, training):
    """A hand-checked 2x2 pooling: maxima, the first of tied maxima, NaN as the maximum
    (a NaN after the window's first position too)."""
    x_host = np.array([[1, 3, 2, 2],
                       [3, 0, 2, 1],
                       [0, 0, -1, np.nan],
                       [0, 0, 4, 0]], np.float32).reshape(1, 4, 4, 1)
    layer = pn.layers.MaxPooling2D(2)
    y, back = layer_forward(layer, backend, x_host, training=training)
    y = backend.to_numpy(y)
    assert y[0, :, :, 0].tolist()[0] == [3.0, 2.0]
    assert y[0, 1, 0, 0] == 0.0 and np.isnan(y[0, 1, 1, 0])
    dx = backend.to_numpy(back(backend.from_numpy(
        np.array([10, 20, 30, 40], np.float32).reshape(1, 2, 2, 1))))[0, :, :, 0]
    # First of the tied 3s (row-major), first of the tied 2s, first of the tied 0s; a
    # window holding NaN routes its gradient nowhere (NaN equals nothing).
    assert dx.tolist() == [[0, 10, 20, 0], [0, 0, 0, 0], [30, 0, 0, 0], [0, 0, 0, 0]]
    # NaN at a window's first position: the maximum, and again no gradient anywhere.
    x2 = np.array([[np.nan, 1], [2, 3]], np.float32).reshape(1, 2, 2, 1)
    y2, back2 = layer_forward(pn.layers.MaxPooling2D(2), backend, x2, training=training)
    assert np.isnan(backend.to_numpy(y2)).all()
    dx2 = backend.to_numpy(back2(backend.from_numpy(np.full((1, 1, 1, 1), 7, np.float32))))
    assert dx2.ravel().tolist() == [0, 0, 0, 0]


# --------------------------------------------------------------------------- conv col2im
@pytest.mark.parametrize("shape,ksize,dilation", [
    ((3, 9, 8, 5), (3, 3), (1, 1)),
    ((2, 11, 10, 4), (3, 2), (2, 1)),
    ((2, 12, 6), (3,), (2,)),
    ((70, 6, 6, 3), (3, 3), (1, 1)),  # several chunks of images
])
def test_compiled_col2im_input_gradient_matches_the_per_offset_gemms(backend, monkeypatch,
                                                                    shape, ksize, dilation):
    """The stride-1 convolution's input gradient by one gemm per chunk + the compiled
    col2im equals the one-gemm-per-offset path (float64, numpy); the kernel and bias
    gradients do not change."""
    if not _numba_or_skip(backend):
        assert backend.fused("conv_stride1") is None
        return
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    k = rng.standard_normal(ksize + (shape[-1], 7))
    b = rng.standard_normal(7)
    stride1 = backend.fused("conv_stride1")
    results = []
    for flag in ("1", "0"):
        monkeypatch.setenv("PORTANET_COL2IM", flag)
        y, back = stride1(x, k, dilation, bias=b, relu=True)
        dy = np.random.default_rng(1).standard_normal(y.shape)
        results.append(back(dy, True))
    for a, c in zip(*results):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)
    # And against finite differences of the forward (one entry of x).
    monkeypatch.setenv("PORTANET_COL2IM", "1")
    idx = (0,) * (len(shape) - 1) + (1,)
    eps = 1e-6
    xp_, xm = x.copy(), x.copy()
    xp_[idx] += eps
    xm[idx] -= eps
    f = lambda arr: float(np.sum(stride1(arr, k, dilation, bias=b, relu=True)[0] * dy))
    np.testing.assert_allclose(results[0][0][idx], (f(xp_) - f(xm)) / (2 * eps), rtol=1e-6)


# --------------------------------------------------------------------------- layer norm
def _run_fused(backend, name, fast, fn):
    backend.set_fused("all" if fast else [n for n in backend.fused_paths() if n != name])
    try:
        return fn()
    finally:
        backend.set_fused(None)


@pytest.mark.parametrize("dtype,tol", [("float32", 2e-6), ("float64", 1e-13)])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False),
                                          (False, False)])
def test_compiled_layer_norm_matches_the_portable_path(backend, rng, dtype, tol, center, scale):
    """LayerNormalization over the last axis with the compiled kernels (norm_numba.py) gives
    the portable path's outputs, input gradient and gamma/beta gradients."""
    shape = (3, 5, 16)
    layer = pn.layers.LayerNormalization(center=center, scale=scale, dtype=dtype)
    layer._maybe_build(shape)
    for v in layer.weights:  # not the initial ones and zeros
        v.assign(rng.standard_normal(v.shape).astype(dtype))
    x = backend.from_numpy(3.0 + 2.0 * rng.standard_normal(shape).astype(dtype))
    dy = backend.from_numpy(rng.standard_normal(shape).astype(dtype))

    def run():
        for v in layer.weights:
            v.grad = None
        y, back, _, _ = layer.run(x, training=True)
        dx = back(dy)
        return ([backend.to_numpy(y), backend.to_numpy(dx)]
                + [backend.to_numpy(v.grad) for v in layer.weights])

    fast = _run_fused(backend, "layer_norm", True, run)
    slow = _run_fused(backend, "layer_norm", False, run)
    assert len(fast) == 2 + center + scale
    for a, b in zip(fast, slow):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 10)
    # And the normalisation itself: each row of (y - beta) / gamma has mean 0 and variance
    # var / (var + eps).
    y = fast[0].astype(np.float64)
    weights = {v.name: backend.to_numpy(v.value).astype(np.float64) for v in layer.weights}
    xhat = (y - weights.get("beta", 0.0)) / weights.get("gamma", 1.0)
    xh = backend.to_numpy(x).astype(np.float64)
    var = xh.var(-1)
    np.testing.assert_allclose(xhat.mean(-1), 0.0, atol=tol * 100)
    np.testing.assert_allclose(xhat.var(-1), var / (var + layer.epsilon), rtol=tol * 100)


def test_compiled_layer_norm_is_offered_only_with_numba_on_numpy(backend):
    fn = backend.fused("layer_norm")
    if _numba_or_skip(backend):
        assert fn is not None
        x = np.ones((2, 3), np.float32)
        assert fn(x.astype(np.float16), None, None, 1e-3) is None   # dtype not covered
        assert fn(x, np.ones(3, np.float64), None, 1e-3) is None   # mixed dtypes
    else:
        assert fn is None


@pytest.mark.parametrize("dtype,tol", [("float32", 2e-6), ("float64", 1e-13)])
def test_compiled_softmax_backward_in_attention_matches_the_portable_path(backend, rng, dtype, tol):
    """MultiHeadAttention's softmax backward through the compiled kernel gives the portable
    path's input and weight gradients (with a padding mask, so masked scores are in it)."""
    layer = pn.layers.MultiHeadAttention(num_heads=2, key_dim=4, dtype=dtype)
    q_host = rng.standard_normal((2, 5, 6)).astype(dtype)
    layer.build((2, 5, 6), (2, 5, 6))
    q = backend.from_numpy(q_host)
    mask = backend.from_numpy(np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool))
    dy = backend.from_numpy(rng.standard_normal((2, 5, 6)).astype(dtype))

    def run():
        for v in layer.weights:
            v.grad = None
        y, back, _, _ = layer.run([q, q], training=True, mask=[mask, mask, None])
        dq, dv = back(dy)
        return ([backend.to_numpy(y), backend.to_numpy(dq), backend.to_numpy(dv)]
                + [backend.to_numpy(v.grad) for v in layer.weights])

    fast = _run_fused(backend, "softmax_backward", True, run)
    slow = _run_fused(backend, "softmax_backward", False, run)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 10)
    if _numba_or_skip(backend):
        p = rng.random((4, 7)).astype(dtype)
        p /= p.sum(-1, keepdims=True)
        dp = rng.standard_normal((4, 7)).astype(dtype)
        expected = p * (dp - (dp * p).sum(-1, keepdims=True))
        np.testing.assert_allclose(backend.fused("softmax_backward")(p, dp), expected,
                                   rtol=tol, atol=tol)


def test_compiled_softmax_forward_is_close_to_the_exact_softmax(backend, rng):
    """The compiled float32 softmax (its own vectorized exp) against the float64 softmax:
    within 8 float32 ulps of each probability, masked scores (-1e9 added) exactly 0,
    rows holding NaN or inf left to the portable path (None)."""
    fn = backend.fused("softmax")
    if not _numba_or_skip(backend):
        assert fn is None
        return
    s = (rng.standard_normal((300, 37)) * rng.choice([0.1, 3.0, 30.0], (300, 1))).astype(np.float32)
    s[:5, 10:] += np.float32(-1e9)   # masked positions of five rows
    s[5, :] = np.float32(-1e9)       # a fully masked row: uniform, as the portable path
    p = fn(s)
    assert p.dtype == np.float32 and p.shape == s.shape
    # The reference: the same float32 differences s - max (their rounding is the input's,
    # not the kernel's), then exp and the sum in float64.
    x = (s - s.max(-1, keepdims=True)).astype(np.float64)
    e = np.exp(x)
    exact = e / e.sum(-1, keepdims=True)
    normal = exact > 1.2e-38
    rel = np.abs(p[normal] - exact[normal]) / exact[normal]
    assert rel.max() <= 8 * np.spacing(np.float32(1.0)), rel.max()
    assert np.all(np.abs(p[~normal] - exact[~normal]) < 1.2e-38)
    assert np.all(p[:5, 10:] == 0.0)
    np.testing.assert_allclose(p[5], 1 / 37, rtol=1e-6)
    assert fn(s.astype(np.float64)) is None
    bad = s.copy()
    bad[7, 3] = np.nan
    assert fn(bad) is None
    bad[7, 3] = np.inf
    assert fn(bad) is None


# ------------------------------------------------------- convolution chunks over threads
def _blas_controls_or_skip(backend):
    from portanet.backend import numpy_backend
    return backend.name == "numpy" and len(numpy_backend._BLAS_THREADS) == 3


@pytest.mark.parametrize("relu,want_dx", [(True, True), (False, True), (True, False)])
def test_conv_chunks_split_over_threads_match_one_thread(backend, monkeypatch, relu, want_dx):
    """conv_stride1 with its chunks of images split over two threads (single-threaded BLAS
    in each; ``_run_split``) gives the one-thread results: output, input, kernel and bias
    gradients (float64, five images in chunks of one), and BLAS's thread count is back
    afterwards."""
    from portanet.backend import numpy_backend
    if not _blas_controls_or_skip(backend):
        assert numpy_backend._split_threads() == 1 if backend.name == "numpy" else True
        return
    rng = np.random.default_rng(21)
    x = rng.standard_normal((5, 7, 6, 3))
    k = rng.standard_normal((3, 2, 3, 4))
    b = rng.standard_normal(4)
    dy = rng.standard_normal((5, 5, 5, 4))
    monkeypatch.setattr(numpy_backend, "_IM2COL_ROWS", 25)     # one image a chunk
    monkeypatch.setattr(numpy_backend, "_SPLIT_MIN_CONV", 1)   # split even this small one
    before = numpy_backend._BLAS_THREADS["get"]()
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(numpy_backend, "_split_threads", lambda t=threads: t)
        y, back = backend.conv_stride1(x, k, (1, 1), bias=b, relu=relu)
        results.append((y,) + tuple(back(dy, want_dx)))
        assert numpy_backend._BLAS_THREADS["get"]() == before
    for one, two in zip(*results):
        if one is None:
            assert two is None
        else:
            np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-12)
    # The kernel gradient against loops: sum over positions of window(x) ⊙ dz.
    z = results[0][0]
    dz = dy * (z > 0) if relu else dy
    ref = np.zeros_like(k)
    for i in range(3):
        for j in range(2):
            ref[i, j] = np.einsum("nhwc,nhwf->cf", x[:, i:i + 5, j:j + 5, :], dz)
    np.testing.assert_allclose(results[1][2], ref, rtol=1e-10, atol=1e-12)


def test_split_declines_while_another_python_thread_lives(backend, monkeypatch):
    """No split (one thread) while a thread other than portanet's pool is alive: it might
    be inside a threaded BLAS call that the pool shutdown must not meet."""
    import threading
    from portanet.backend import numpy_backend
    if not _blas_controls_or_skip(backend):
        return
    monkeypatch.setitem(numpy_backend._BLAS_THREADS, "get", lambda: 2)
    monkeypatch.setattr(numpy_backend, "_split_backoff", [0])   # no pause left by earlier splits
    assert numpy_backend._split_threads() == 2
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert numpy_backend._split_threads() == 1
    finally:
        release.set()
        other.join()
    monkeypatch.setenv("PORTANET_SPLIT", "0")
    assert numpy_backend._split_threads() == 1


def test_split_restores_blas_threads_when_a_part_fails(backend):
    from portanet.backend import numpy_backend
    if not _blas_controls_or_skip(backend):
        return
    before = numpy_backend._BLAS_THREADS["get"]()

    def part(chunks):
        total = 0
        for c in chunks:
            if c == 3:
                raise ValueError("part failed")
            total += c
        return total
    done = numpy_backend._run_split(part, [0, 1, 2], 2)
    assert len(done) == 2 and sum(done) == 3
    with pytest.raises(ValueError, match="part failed"):
        numpy_backend._run_split(part, [1, 2, 3, 4], 2)
    assert numpy_backend._BLAS_THREADS["get"]() == before


def test_split_hands_chunks_to_whichever_thread_is_free(backend, monkeypatch):
    """The split's threads share one iterator over the chunks: every chunk runs exactly
    once, in order within a thread, and a thread held up (a slow core, a late wake-up)
    leaves the rest to the others instead of a fixed half."""
    import collections
    import threading
    import time
    from portanet.backend import numpy_backend
    if not _blas_controls_or_skip(backend):
        return
    monkeypatch.setattr(numpy_backend, "_split_backoff", [0])
    monkeypatch.setattr(numpy_backend, "_split_history", collections.deque(maxlen=8))
    main = threading.get_ident()

    def part(chunks):
        mine = []
        for c in chunks:
            mine.append(c)
            if threading.get_ident() != main:
                time.sleep(0.3)      # the pool's thread is slow
        return threading.get_ident() == main, mine
    done = numpy_backend._run_split(part, list(range(12)), 2)
    assert len(done) == 2 and done[0][0] and not done[1][0]
    ran = done[0][1] + done[1][1]
    assert sorted(ran) == list(range(12))
    assert all(p[1] == sorted(p[1]) for p in done)
    assert len(done[1][1]) <= 1 and len(done[0][1]) >= 11


@pytest.mark.parametrize("shape,ksize,dilation,bias,relu,want_dx", [
    ((5, 7, 6, 3), (3, 2), (1, 1), True, True, True),
    ((4, 9, 8, 2), (3, 3), (2, 1), True, False, True),
    ((3, 11, 4), (3,), (2,), False, True, True),          # 1-D
    ((6, 8, 8, 1), (3, 3), (1, 1), True, True, False),    # few channels, no dx
    ((6, 8, 8, 9), (2, 2), (1, 1), False, False, True),
])
def test_compiled_conv_chunks_match_numpy_chunks(backend, monkeypatch, shape, ksize, dilation,
                                                 bias, relu, want_dx):
    """conv_stride1's chunks as one compiled call each (conv_numba.forward_chunk /
    backward_chunk, GEMMs through NumPy's cblas) against the same chunks as NumPy calls:
    output and every gradient (float64), one thread and split over two (several chunks,
    the whole-batch columns of few channels included)."""
    from portanet.backend import numpy_backend
    if not _numba_or_skip(backend) or numpy_backend._compiled_gemm(np.float64) is None:
        return
    rng = np.random.default_rng(31)
    x = rng.standard_normal(shape)
    k = rng.standard_normal(ksize + (shape[-1], 6))
    b = rng.standard_normal(6) if bias else None
    monkeypatch.setattr(numpy_backend, "_IM2COL_ROWS", 40)
    monkeypatch.setattr(numpy_backend, "_FULL_COLS_CHUNK_ROWS", 40)
    monkeypatch.setattr(numpy_backend, "_SPLIT_MIN_CONV", 1)
    results = []
    for compiled in (True, False):
        for threads in (1, 2):
            monkeypatch.setattr(numpy_backend, "_COMPILED_CHUNKS", compiled)
            monkeypatch.setattr(numpy_backend, "_split_threads", lambda t=threads: t)
            y, back = backend.conv_stride1(x, k, dilation, bias=b, relu=relu)
            dy = np.random.default_rng(3).standard_normal(y.shape)
            results.append((y,) + tuple(back(dy, want_dx)))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            if a is None:
                assert c is None
            else:
                np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)
    if relu:
        assert np.all(results[0][0] >= 0) and np.any(results[0][0] == 0)


def test_compiled_bias_relu_adds_the_bias_then_clamps_at_zero(backend):
    """conv_numba.bias_relu (the convolution's epilogue after a beta=0 GEMM) equals
    ``max(z + bias, 0)`` row by row, in place, in float32 and float64."""
    if not _numba_or_skip(backend):
        return
    from portanet.backend import conv_numba
    for dtype in (np.float32, np.float64):
        z = np.array([[1.0, -2.0, 0.5], [-1.0, 3.0, -0.25]], dtype)
        bias = np.array([0.5, 1.0, -0.5], dtype)
        conv_numba.bias_relu(z, bias)
        np.testing.assert_array_equal(z, np.array([[1.5, 0.0, 0.0], [0.0, 4.0, 0.0]], dtype))


def test_compiled_relu_grad_is_dy_where_the_output_is_positive(backend):
    """conv_numba.relu_grad (the convolution's relu backward in one pass) equals
    ``dy * (y > 0)``, zero where y is 0 (relu's output) or negative."""
    if not _numba_or_skip(backend):
        return
    from portanet.backend import conv_numba
    y = np.array([0.0, 1.5, -2.0, 3.0, 0.0, 1e-30], np.float32)
    dy = np.array([1.0, -2.0, 3.0, 4.0, -5.0, 6.0], np.float32)
    out = np.full_like(dy, np.nan)
    conv_numba.relu_grad(dy, y, out)
    np.testing.assert_array_equal(out, [0.0, -2.0, 0.0, 4.0, 0.0, 6.0])


@pytest.mark.parametrize("shape,ksize,dilation", [
    ((3, 9, 2), (3,), (2,)),                 # 1-D, dilated
    ((2, 7, 6, 3), (3, 2), (2, 1)),          # 2-D, dilated along one axis
    ((2, 5, 4, 4, 2), (2, 2, 3), (1, 1, 1)),  # 3-D
])
def test_im2col_by_offsets_equals_the_window_copy(backend, monkeypatch, shape, ksize, dilation):
    """conv_stride1's im2col for few channels (one strided copy per kernel offset, for the
    whole batch at once and kept for the backward, or chunk by chunk) gives the
    whole-window copy's output and gradients exactly (float64)."""
    from portanet.backend import numpy_backend
    if backend.name != "numpy" or backend.fused("conv_stride1") is None:
        return
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    k = rng.standard_normal(ksize + (shape[-1], 5))
    b = rng.standard_normal(5)
    results = []
    # Offsets, the whole batch's columns at once (kept for the backward) / offsets chunk by
    # chunk / the window view always.
    for below, full in ((1000, 16 << 20), (1000, 0), (0, 16 << 20)):
        monkeypatch.setattr(numpy_backend, "_IM2COL_SLICES_BELOW", below)
        monkeypatch.setattr(numpy_backend, "_FULL_COLS_MAX_BYTES", full)
        monkeypatch.setattr(numpy_backend, "_IM2COL_ROWS", 1)      # a chunk per image
        monkeypatch.setattr(numpy_backend, "_FULL_COLS_CHUNK_ROWS", 1)
        y, back = backend.conv_stride1(x, k, dilation, bias=b, relu=True)
        dy = np.random.default_rng(2).standard_normal(y.shape)
        results.append((y,) + tuple(back(dy, True)))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


def test_split_in_a_forked_child_starts_its_own_pool(backend):
    """A child forked after a split inherits the pool object without its threads: its own
    split must start a new pool instead of queueing work no thread will run."""
    import multiprocessing
    from portanet.backend import numpy_backend
    if not _blas_controls_or_skip(backend) or "fork" not in multiprocessing.get_all_start_methods():
        return
    assert sum(numpy_backend._run_split(sum, [1, 2, 3, 4], 2)) == 10   # the parent's pool
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(numpy_backend._run_split(sum, [5, 6, 7], 2)))
    child.start()
    child.join(timeout=60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    got = queue.get(timeout=5)
    assert len(got) == 2 and sum(got) == 18


def test_splits_that_cost_too_much_pause_splitting(backend, monkeypatch):
    """When the splits' own cost (pool shutdown/restart, hand-over) over the last
    _SPLIT_WINDOW splits passes _SPLIT_MAX_SHARE of the work done on this thread, the next
    _SPLIT_BACKOFF calls run on one thread; then splitting is measured again. One costly
    split alone (a window not yet full) pauses nothing."""
    import collections
    from portanet.backend import numpy_backend
    if not _blas_controls_or_skip(backend):
        return
    monkeypatch.setitem(numpy_backend._BLAS_THREADS, "get", lambda: 2)
    monkeypatch.setattr(numpy_backend, "_split_backoff", [0])
    monkeypatch.setattr(numpy_backend, "_split_history", collections.deque(maxlen=2))
    monkeypatch.setattr(numpy_backend, "_SPLIT_BACKOFF", 3)
    monkeypatch.setattr(numpy_backend, "_SPLIT_MAX_SHARE", 1e9)      # cheap splits: no pause
    for _ in range(3):
        assert sum(numpy_backend._run_split(sum, [1, 2, 3, 4], 2)) == 10
        assert numpy_backend._split_threads() == 2
    monkeypatch.setattr(numpy_backend, "_SPLIT_MAX_SHARE", -1.0)     # every split too costly
    numpy_backend._split_history.clear()
    assert sum(numpy_backend._run_split(sum, [1, 2, 3, 4], 2)) == 10  # window not full yet
    assert numpy_backend._split_threads() == 2
    assert sum(numpy_backend._run_split(sum, [1, 2, 3, 4], 2)) == 10  # (results still right)
    assert len(numpy_backend._split_history) == 0                     # measured afresh later
    assert [numpy_backend._split_threads() for _ in range(4)] == [1, 1, 1, 2]
