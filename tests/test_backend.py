"""Backend services: fast paths against the portable path, device selection, Model.to."""

import numpy as np
import pytest

import portanet as pn
from portanet.training.fast_paths import fused_cross_entropy_applies, input_grad_skipper
from portanet.backend.base import softmax_cross_entropy_grad
from portanet.layers.core import Dense


def _cupy_gpu():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _mlp(optimizer="adam", activation="relu", loss="sparse_categorical_crossentropy", units=4):
    model = pn.Sequential([pn.Input((5,)), Dense(7, activation=activation),
                           Dense(6, activation="tanh"), Dense(units, activation="softmax")])
    model.compile(optimizer=optimizer, loss=loss)
    return model


def _train(backend, make, x, y, steps=4, fused=True, sample_weight=None):
    pn.utils.set_random_seed(3)
    model = make()
    backend.set_fused("all" if fused else "none")
    try:
        model.batch_losses = [model.train_on_batch(x, y, sample_weight=sample_weight)
                              for _ in range(steps)]
    finally:
        backend.set_fused(None)
    return model


# ----------------------------------------------------------------------------- selection
def test_fast_path_selection(backend, monkeypatch):
    monkeypatch.setenv("PORTANET_FUSED", "none")
    backend.set_fused(None)
    assert backend.fused("softmax_cross_entropy") is None
    monkeypatch.setenv("PORTANET_FUSED", "softmax_cross_entropy")
    backend.set_fused(None)
    assert backend.fused("softmax_cross_entropy") is not None
    assert backend.fused("adam") is None
    monkeypatch.delenv("PORTANET_FUSED")
    backend.set_fused(None)
    assert backend.fused("softmax_cross_entropy") is not None
    assert (backend.fused("adam") is not None) == (backend.name in ("numpy", "cupy"))
    with backend.fused_disabled():
        assert backend.fused("softmax_cross_entropy") is None
    assert backend.fused("softmax_cross_entropy") is not None
    assert backend.fused("no_such_path") is None


# ----------------------------------------------------------------------------- softmax + CE
@pytest.mark.parametrize("sparse", [True, False])
def test_fused_softmax_cross_entropy_gradient_is_the_logit_gradient(backend, float64, sparse):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 5))
    if sparse:
        labels = np.array([0, 3, 4, 1])
        loss = pn.losses.SparseCategoricalCrossentropy()
        y_host = labels
    else:
        # Soft labels whose rows sum to 2: the gradient is p·Σy - y, not p - y.
        y_host = rng.uniform(0.0, 1.0, (4, 5))
        y_host = 2.0 * y_host / y_host.sum(axis=1, keepdims=True)
        loss = pn.losses.CategoricalCrossentropy()
    y = backend.asarray(y_host)

    def value(zz):
        p = pn.activations.softmax(backend.asarray(zz))
        return float(backend.to_numpy(loss(y, p)))

    numeric = np.zeros_like(z)
    h = 1e-6
    for idx in np.ndindex(*z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (value(up) - value(down)) / (2 * h)
    p = pn.activations.softmax(backend.asarray(z))
    for fn in (softmax_cross_entropy_grad, backend.fused("softmax_cross_entropy")):
        dz = backend.to_numpy(fn(p, y, sparse, 1.0 / 4))
        np.testing.assert_allclose(dz, numeric, rtol=1e-5, atol=1e-8)
    # Per-sample weights scale each row.
    w = np.array([1.0, 0.0, 2.0, 0.5])
    for fn in (softmax_cross_entropy_grad, backend.fused("softmax_cross_entropy")):
        dzw = backend.to_numpy(fn(p, y, sparse, 1.0 / 4, backend.asarray(w)))
        np.testing.assert_allclose(dzw, numeric * w[:, None], rtol=1e-5, atol=1e-8)
    # float32 probabilities give a float32 gradient on every path.
    p32 = pn.activations.softmax(backend.asarray(z.astype(np.float32)))
    y32 = y if sparse else backend.asarray(y_host.astype(np.float32))
    for fn in (softmax_cross_entropy_grad, backend.fused("softmax_cross_entropy")):
        dz32 = backend.to_numpy(fn(p32, y32, sparse, 1.0 / 4))
        assert dz32.dtype == np.float32
        np.testing.assert_allclose(dz32, numeric, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("case", ["sparse", "sparse_column", "one_hot", "weighted", "smoothed"])
def test_model_with_fused_softmax_cross_entropy_trains_like_the_portable_path(backend, float64, case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 5))
    labels = rng.integers(0, 4, 12)
    sw = None
    loss = "sparse_categorical_crossentropy"
    y = labels
    if case == "sparse_column":
        y = labels[:, None]
    elif case == "one_hot":
        y = np.eye(4)[labels]
        loss = "categorical_crossentropy"
    elif case == "smoothed":
        y = np.eye(4)[labels]
        loss = pn.losses.CategoricalCrossentropy(label_smoothing=0.2)
    elif case == "weighted":
        sw = rng.uniform(0.0, 2.0, 12)

    def make():
        return _mlp(optimizer=pn.optimizers.SGD(0.1), loss=loss)
    fused = _train(backend, make, x, y, fused=True, sample_weight=sw)
    assert fused._fused_ce.applies is True  # the fast path did run
    portable = _train(backend, make, x, y, fused=False, sample_weight=sw)
    for a, b in zip(fused.get_weights(), portable.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # The reported loss is Keras's value on both paths (the fast value path included).
    np.testing.assert_allclose(fused.batch_losses, portable.batch_losses, rtol=1e-9)
    assert fused.evaluate(x, y, verbose=0) == pytest.approx(portable.evaluate(x, y, verbose=0), rel=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_sparse_cross_entropy_value_is_keras_value(backend, dtype):
    rng = np.random.default_rng(8)
    z = rng.standard_normal((7, 5)).astype(dtype) * 3
    z[0, 2] = 40.0  # a probability clipped at 1 - 1e-7 and others at 1e-7
    p = pn.activations.softmax(backend.asarray(z))
    labels = backend.asarray(np.array([2, 0, 4, 1, 3, 2, 2]))
    expected = float(backend.to_numpy(pn.losses.SparseCategoricalCrossentropy()(labels, p)))
    fn = backend.fused("sparse_ce_value")
    if backend.name == "array_api_strict":
        assert fn is None
        return
    got = float(backend.to_numpy(fn(p, labels)))
    assert got == pytest.approx(expected, rel=1e-6 if dtype == "float32" else 1e-12)
    assert fn(p, backend.asarray(np.zeros((7, 1), np.int64))) is None  # only 1-D labels


def test_fused_softmax_cross_entropy_applies_only_where_exact(backend):
    def applies(model, loss):
        model.compile(optimizer="sgd", loss=loss)
        model._ensure_compiled_outputs()
        return fused_cross_entropy_applies(model, model._compiled_outputs.losses[0])
    assert applies(_mlp(), "sparse_categorical_crossentropy")
    assert not applies(_mlp(), pn.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert not applies(_mlp(), pn.losses.SparseCategoricalCrossentropy(ignore_class=0))
    assert not applies(_mlp(), pn.losses.CategoricalCrossentropy(reduction="sum"))
    assert not applies(_mlp(), "mse")
    assert not applies(pn.Sequential([pn.Input((5,)), Dense(4, activation="sigmoid")]),
                       "categorical_crossentropy")
    reg = pn.Sequential([pn.Input((5,)), Dense(4, activation="softmax", activity_regularizer="l2")])
    assert not applies(reg, "categorical_crossentropy")


# ----------------------------------------------------------------------------- Adam
@pytest.mark.parametrize("flat", [False, True], ids=["compiled-or-per-weight", "blocks-or-flat"])
@pytest.mark.parametrize("make_opt", [
    lambda: pn.optimizers.Adam(learning_rate=0.01),
    lambda: pn.optimizers.Adam(learning_rate=0.01, amsgrad=True),
    lambda: pn.optimizers.AdamW(learning_rate=0.01, weight_decay=0.1),
    lambda: pn.optimizers.Adam(learning_rate=0.01, clipnorm=0.5),
], ids=["adam", "amsgrad", "adamw", "clipnorm"])
def test_fused_adam_matches_the_portable_update(backend, monkeypatch, make_opt, flat):
    if flat:
        monkeypatch.setenv("PORTANET_ADAM_FLAT", "1")
        # NumPy: blocks of 7 elements, so every weight spans several blocks and a remainder.
        # NumPy: the blocked path even where numba is installed.
        import portanet.backend.fused_numpy as fused_numpy
        monkeypatch.setattr(fused_numpy, "ADAM_BLOCK", 7)
        monkeypatch.setenv("PORTANET_NUMBA", "0")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 5)).astype(np.float32)
    y = rng.integers(0, 4, 10)
    fused = _train(backend, lambda: _mlp(optimizer=make_opt()), x, y, steps=5, fused=True)
    portable = _train(backend, lambda: _mlp(optimizer=make_opt()), x, y, steps=5, fused=False)
    for a, b in zip(fused.get_weights(), portable.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    sf, sp = fused.optimizer.get_state(), portable.optimizer.get_state()
    assert sf["iterations"] == sp["iterations"] == 5
    for a, b in zip(sf["slots"], sp["slots"]):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=2e-5, atol=1e-7)
    # The weights moved (the test would not notice an update that never ran otherwise).
    pn.utils.set_random_seed(3)
    initial = _mlp(optimizer=make_opt()).get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(fused.get_weights(), initial)) > 1e-3


def test_fused_adam_declines_moments_of_another_shape(backend):
    """A weight replaced by one of another shape while its slots keep the old one: the
    fused update must not run over the new size (the compiled loop has no bounds checks);
    the portable update then raises, and nothing was written."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = rng.integers(0, 4, 6)
    model = _train(backend, lambda: _mlp(optimizer=pn.optimizers.Adam(0.01)), x, y, steps=1)
    opt = model.optimizer
    var = opt._variables[0]
    before = [backend.to_numpy(s) for s in opt._slots[0].values()]
    var._set(backend.asarray(np.zeros((300, 7), np.float32)))
    var.grad = backend.asarray(np.ones((300, 7), np.float32))
    with pytest.raises(ValueError):
        opt.apply([var])
    for old, new in zip(before, opt._slots[0].values()):
        np.testing.assert_array_equal(old, backend.to_numpy(new))


def test_fused_adam_follows_changed_hyperparameters(backend):
    """The fused Adam keeps per-variable constants across steps; changing beta_1, beta_2
    or epsilon between steps must reach them (as it reaches the portable update)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((10, 5)).astype(np.float32)
    y = rng.integers(0, 4, 10)
    models = []
    for fused in (True, False):
        model = _train(backend, lambda: _mlp(optimizer=pn.optimizers.Adam(0.01)), x, y,
                       steps=2, fused=fused)
        model.optimizer.beta_1, model.optimizer.beta_2, model.optimizer.epsilon = 0.5, 0.9, 1e-3
        backend.set_fused("all" if fused else "none")
        try:
            for _ in range(3):
                model.train_on_batch(x, y)
        finally:
            backend.set_fused(None)
        models.append(model)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    # Against an update that kept the old constants, the weights differ clearly.
    stale = _train(backend, lambda: _mlp(optimizer=pn.optimizers.Adam(0.01)), x, y, steps=5)
    assert max(np.abs(a - b).max() for a, b in zip(models[0].get_weights(),
                                                      stale.get_weights())) > 1e-4


def test_fused_adam_never_writes_into_arrays_it_was_handed(backend):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.integers(0, 4, 8)
    model = _mlp()
    model.train_on_batch(x, y)
    state = model.optimizer.get_state()
    handed = [{k: v.copy() for k, v in slots.items()} for slots in state["slots"]]
    model.optimizer.set_state({"iterations": 1, "slots": handed}, model.trainable_weights)
    kept = [{k: v.copy() for k, v in slots.items()} for slots in handed]
    weights_before = [v.value for v in model.trainable_weights]
    copies = [backend.to_numpy(w).copy() for w in weights_before]
    model.train_on_batch(x, y)
    for given, original in zip(handed, kept):
        for k in given:
            np.testing.assert_array_equal(given[k], original[k])
    for w, c in zip(weights_before, copies):  # old weight arrays keep their values
        np.testing.assert_array_equal(backend.to_numpy(w), c)


# ----------------------------------------------------------------------------- Dense
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "linear", "softmax"])
def test_dense_fast_path_matches_the_portable_path(backend, activation):
    rng = np.random.default_rng(5)
    x = backend.asarray(rng.standard_normal((6, 4)).astype(np.float32))
    dy = backend.asarray(rng.standard_normal((6, 3)).astype(np.float32))
    results = []
    for fused in (True, False):
        pn.utils.set_random_seed(0)
        layer = Dense(3, activation=activation, bias_initializer="random_normal")
        layer(x)
        backend.set_fused("all" if fused else "none")
        try:
            y, back = layer.forward(x, training=True)
            dx = back(dy)
        finally:
            backend.set_fused(None)
        results.append([backend.to_numpy(a) for a in (y, dx, layer.kernel.grad, layer.bias.grad)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("equation,output_shape,bias_axes,activation", [
    ("abc,cde->abde", (2, 3), "de", "linear"),    # MultiHeadAttention's projections
    ("abc,cd->abd", (5,), "d", "relu"),
    ("abc,cd->abd", (5,), "d", "tanh"),           # not covered: the portable path
])
def test_einsum_dense_fast_path_matches_the_portable_path(backend, equation, output_shape,
                                                          bias_axes, activation):
    """EinsumDense hands its fresh product to "bias_activation" (bias over one or two trailing
    axes written in place on NumPy): outputs and every gradient equal the portable path's."""
    rng = np.random.default_rng(8)
    x = backend.asarray(rng.standard_normal((2, 3, 4)).astype(np.float32))
    results = []
    for fused in (True, False):
        pn.utils.set_random_seed(0)
        layer = pn.layers.EinsumDense(equation, output_shape=(None,) + output_shape,
                                      bias_axes=bias_axes, activation=activation,
                                      bias_initializer="random_normal")
        layer(x)
        dy = backend.asarray(rng.standard_normal(layer.compute_output_shape((2, 3, 4)))
                             .astype(np.float32))
        backend.set_fused("all" if fused else "none")
        try:
            for v in layer.weights:
                v.grad = None
            y, back = layer.forward(x, training=True)
            dx = back(dy)
        finally:
            backend.set_fused(None)
        results.append([backend.to_numpy(a) for a in (y, dx, layer.kernel.grad, layer.bias.grad)])
        rng = np.random.default_rng(8)
        rng.standard_normal((2, 3, 4))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    x_h = backend.to_numpy(x).astype(np.float64)
    kernel = backend.to_numpy(layer.kernel.value).astype(np.float64)
    z = np.einsum(equation, x_h, kernel) + backend.to_numpy(layer.bias.value)
    expected = {"linear": z, "relu": np.maximum(z, 0), "tanh": np.tanh(z)}[activation]
    np.testing.assert_allclose(results[0][0], expected, rtol=1e-5, atol=1e-5)


def test_the_layer_fed_by_the_input_skips_its_input_gradient_only_in_training(backend):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    model = _mlp()
    model.fit(x, rng.integers(0, 4, 8), epochs=1, verbose=0)
    first = model.layers[0]
    assert model._input_fed_layer() is first
    assert input_grad_skipper(model) is first  # Dense opts in (training/fast_paths.py)
    assert first._skip_input_grad is False  # reset after each step
    xd = backend.asarray(x)
    first._skip_input_grad = True
    try:
        _, back = first.forward(xd, training=True)
    finally:
        first._skip_input_grad = False
    assert back(backend.asarray(np.ones((8, 7), np.float32))) is None
    _, back = first.forward(xd, training=True)
    dx = back(backend.asarray(np.ones((8, 7), np.float32)))
    kernel, bias = backend.to_numpy(first.kernel.value), backend.to_numpy(first.bias.value)
    expected = ((x @ kernel + bias) > 0).astype(np.float32) @ kernel.T  # relu's gradient
    np.testing.assert_allclose(backend.to_numpy(dx), expected, rtol=1e-6)


# ----------------------------------------------------------------------------- devices
def test_cupy_selection_fails_clearly_or_selects_the_device():
    if not _cupy_gpu():
        with pytest.raises(RuntimeError, match="backend 'cupy'"):
            pn.backend.get("cupy")
        return
    import cupy
    count = cupy.cuda.runtime.getDeviceCount()
    with pytest.raises(RuntimeError, match="not available"):
        pn.backend.get("cupy", device=count)
    with pytest.raises(ValueError, match="device='gpu0'"):
        pn.backend.get("cupy", device="gpu0")
    b = pn.backend.get("cupy", device=count - 1)
    assert b.device.id == count - 1
    assert pn.backend.get("cupy", device=cupy.cuda.Device(count - 1)) is b
    assert pn.backend.get("cupy", device=None) is pn.backend.get("cupy", device=0)
    with pn.use_backend("cupy", device=count - 1):
        assert cupy.cuda.Device().id == count - 1
        a = b.from_numpy(np.ones(3, np.float32))
        assert a.device.id == count - 1


# ----------------------------------------------------------------------------- Model.to
def _other(backend):
    return "numpy" if backend.name != "numpy" else "array_api_strict"


def test_model_to_moves_weights_and_optimizer_state_and_training_continues(backend):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 4, 32)

    def make():
        pn.utils.set_random_seed(11)
        return _mlp(optimizer=pn.optimizers.Adam(0.01))
    moved = make()
    moved.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    other = pn.backend.get(_other(backend))
    assert moved.to(_other(backend)) is moved
    assert moved.backend is other
    assert all(layer.backend is other for layer in moved.layers)
    assert all(other.is_array(v.value) and v.backend is other for v in moved.weights)
    assert all(other.is_array(s) for slots in moved.optimizer._slots for s in slots.values())
    moved.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    moved.to(backend.name)
    assert moved.backend is backend
    moved.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    stay = make()
    stay.fit(x, y, batch_size=8, epochs=5, verbose=0, shuffle=False)
    assert moved.optimizer.iterations == stay.optimizer.iterations == 20
    for a, b in zip(moved.get_weights(), stay.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moved.predict(x, verbose=0), stay.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_model_to_errors_leave_the_model_unchanged(backend):
    with pytest.raises(ValueError, match="not built"):
        pn.Sequential([Dense(2)]).to("numpy")
    model = _mlp()
    model.build((None, 5))
    before = model.get_weights()
    with pytest.raises(ValueError, match="unknown backend name='tpu'"):
        model.to("tpu")
    if not _cupy_gpu():
        with pytest.raises(RuntimeError, match="backend 'cupy'"):
            model.to("cupy")
    assert model.backend is backend
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_compiled_adam_loop_when_numba_is_installed(monkeypatch):
    import portanet.backend.fused_numpy as fused_numpy
    monkeypatch.setenv("PORTANET_NUMBA", "0")
    assert fused_numpy.compiled_adam() is None
    monkeypatch.delenv("PORTANET_NUMBA")
    try:
        import numba  # noqa: F401
    except ImportError:
        assert fused_numpy.compiled_adam() is None  # optional: the NumPy blocks run instead
        return
    loop = fused_numpy.compiled_adam()
    rng = np.random.default_rng(9)
    g, m, w = (rng.standard_normal(1000).astype(np.float32) for _ in range(3))
    v = rng.uniform(0.0, 1.0, 1000).astype(np.float32)
    c1, c2, eps, alpha = np.float32(0.1), np.float32(0.001), np.float32(1e-7), np.float32(0.01)
    m_exp = m + (g - m) * c1
    v_exp = v + (g * g - v) * c2
    w_exp = w - alpha * m_exp / (np.sqrt(v_exp) + eps)
    new = np.empty_like(w)
    loop(g, m, v, w, new, c1, c2, eps, alpha)
    np.testing.assert_allclose(m, m_exp, rtol=1e-6)
    np.testing.assert_allclose(v, v_exp, rtol=1e-6)
    np.testing.assert_allclose(new, w_exp, rtol=1e-6, atol=1e-7)


def test_sum_rows_matches_the_portable_sum(backend, monkeypatch):
    """Backend.sum_rows (the bias-gradient reduction: a ones-vector GEMM for tall arrays on
    NumPy and CuPy) equals xp.sum(axis=0) below and above the tall-array threshold, in
    float64 and float32; forced on with a low threshold, every backend's GEMM path agrees
    too, and the ones vector is made once per (rows, dtype)."""
    import numpy as np
    rng = np.random.default_rng(5)

    def check(rows_list):
        for dtype, tol in (("float64", 1e-10), ("float32", 1e-4)):
            for rows in rows_list:
                a = rng.standard_normal((rows, 3)).astype(dtype)
                got = backend.to_numpy(backend.sum_rows(backend.asarray(a)))
                assert got.shape == (3,) and got.dtype == np.dtype(dtype)
                np.testing.assert_allclose(got, a.astype("float64").sum(axis=0),
                                           rtol=tol, atol=tol * np.sqrt(rows))
    check((7, 5000, 70000))
    monkeypatch.setattr(backend, "sum_rows_gemm_min", 8, raising=False)
    made = []
    original = backend._ones_row
    monkeypatch.setattr(backend, "_ones_row", lambda n, dtype: made.append(n) or original(n, dtype))
    backend.__dict__.pop("_ones_rows", None)
    check((7, 9, 9, 300))
    assert made == [9, 300, 9, 300]  # per dtype, once each; 7 rows stay a plain sum


# ----------------------------------------------------------------------------- selection context
def test_use_backend_in_one_thread_does_not_change_another():
    """The backend of ``use_backend`` lives in a ContextVar: a second thread inside its own
    block sees its backend, the first thread keeps the process default throughout."""
    import threading

    from portanet import backend as B
    default = B.current()
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with pn.use_backend("array_api_strict") as strict:
            seen["inside"] = B.current()
            seen["strict"] = strict
            entered.set()
            release.wait(10)
        seen["after"] = B.current()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert entered.wait(10)
        # While the other thread is inside its block, this one is unaffected.
        assert B.current() is default
        assert pn.Sequential([pn.Input((3,)), Dense(2)]).backend is default
    finally:
        release.set()
        thread.join(10)
    assert seen["inside"] is seen["strict"] and seen["strict"].name == "array_api_strict"
    assert seen["after"] is default
    assert B.current() is default


def test_set_backend_sets_the_process_default_seen_by_new_threads():
    import threading

    from portanet import backend as B
    previous = B.current()
    seen = {}
    try:
        pn.set_backend("array_api_strict")
        thread = threading.Thread(target=lambda: seen.setdefault("b", B.current()))
        thread.start()
        thread.join(10)
        assert seen["b"].name == "array_api_strict" and B.current() is seen["b"]
        # use_backend overrides the default in this thread only, then gives it back.
        with pn.use_backend("numpy") as nb:
            assert B.current() is nb
            other = {}
            t2 = threading.Thread(target=lambda: other.setdefault("b", B.current()))
            t2.start()
            t2.join(10)
            assert other["b"].name == "array_api_strict"
        assert B.current().name == "array_api_strict"
    finally:
        pn.set_backend(previous.name, previous.device)
    assert B.current() is previous


def test_nested_use_backend_restores_each_level():
    from portanet import backend as B
    outer = B.current()
    with pn.use_backend("array_api_strict") as strict:
        with pn.use_backend("numpy") as nb:
            assert B.current() is nb
        assert B.current() is strict
    assert B.current() is outer


def test_fused_adam_kernel_on_arrays_matches_the_formula(backend, monkeypatch):
    """The backend's "adam" kernel on plain arrays: Keras's update with the given alpha,
    moments returned (owned copies the first time, the same arrays after), inputs untouched."""
    kernel = backend.fused("adam")
    if kernel is None:
        pytest.skip(f"{backend.name} has no fused Adam")
    monkeypatch.setenv("PORTANET_NUMBA", "0")
    import portanet.backend.fused_numpy as fused_numpy
    monkeypatch.setattr(fused_numpy, "ADAM_BLOCK", 5)
    rng = np.random.default_rng(11)
    shapes = [(4, 3), (7,)]
    w = [rng.standard_normal(s) for s in shapes]
    g = [rng.standard_normal(s) for s in shapes]
    m = [rng.standard_normal(s) * 0.1 for s in shapes]
    v = [np.abs(rng.standard_normal(s)) * 0.1 for s in shapes]
    dev = lambda arrays: [backend.asarray(a, dtype="float64") for a in arrays]  # noqa: E731
    W, G, M, V = dev(w), dev(g), dev(m), dev(v)
    cache = {}
    b1, b2, eps, alpha = 0.8, 0.95, 1e-3, 0.05
    new_w, new_m, new_v = kernel(W, G, M, V, b1, b2, eps, alpha, cache)
    for k in range(len(shapes)):
        em = m[k] + (g[k] - m[k]) * (1 - b1)
        ev = v[k] + (g[k] * g[k] - v[k]) * (1 - b2)
        np.testing.assert_allclose(backend.to_numpy(new_m[k]), em, rtol=1e-12)
        np.testing.assert_allclose(backend.to_numpy(new_v[k]), ev, rtol=1e-12)
        np.testing.assert_allclose(backend.to_numpy(new_w[k]), w[k] - alpha * em / (np.sqrt(ev) + eps),
                                   rtol=1e-12)
        # Nothing handed in was written into.
        np.testing.assert_array_equal(backend.to_numpy(W[k]), w[k])
        np.testing.assert_array_equal(backend.to_numpy(M[k]), m[k])
        np.testing.assert_array_equal(backend.to_numpy(V[k]), v[k])
    # The second step updates the owned moments in place and returns the same arrays.
    again = kernel(new_w, G, new_m, new_v, b1, b2, eps, alpha, cache)
    assert all(a is b for a, b in zip(again[1], new_m)) and all(a is b for a, b in zip(again[2], new_v))
    # Arrays it cannot take: declined (None), nothing changed.
    bad = dev([np.zeros((2, 2))])
    assert kernel(bad, dev([np.zeros(3)]), bad, bad, b1, b2, eps, alpha, cache) is None


def test_adam_picks_the_fused_kernel_itself(backend, monkeypatch):
    """Adam (and AdamW) call the backend's kernel; SGD never does, AMSGrad never does."""
    calls = []
    real = backend.fused

    def spy(name):
        fn = real(name)
        if name == "adam" and fn is not None:
            def wrapped(*args):
                calls.append(len(args[0]))
                return fn(*args)
            return wrapped
        return fn
    monkeypatch.setattr(backend, "fused", spy)
    from portanet.layers.base import Variable
    for opt, expect in ((pn.optimizers.Adam(0.1), 1), (pn.optimizers.AdamW(0.1), 1),
                        (pn.optimizers.Adam(0.1, amsgrad=True), 0), (pn.optimizers.SGD(0.1), 0)):
        calls.clear()
        var = Variable(backend.asarray(np.ones(3, np.float32)), "w", backend=backend)
        opt.apply([backend.asarray(np.ones(3, np.float32))], [var])
        has_kernel = real("adam") is not None
        assert calls == ([1] if expect and has_kernel else []), (opt, calls)


def test_a_backend_asked_for_by_its_own_device_is_the_same_instance():
    # set_backend(b.name, b.device) restores b itself (it used to start a second instance
    # keyed by the device object, which broke `current() is previous`).
    from portanet import backend as B
    for name in ("numpy", "array_api_strict"):
        b = B.get(name)
        assert B.get(name, b.device) is b
