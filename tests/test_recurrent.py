"""SimpleRNN, LSTM, GRU, Bidirectional and TimeDistributed: the layer harness for every
option, hand-computed steps, a NumPy reference of the whole recurrence (masks, initial
states, go_backwards) and Keras's dropout/masking semantics."""

import numpy as np
import pytest

import portanet as pn
from harness import layer_forward, run_layer_test, to_np

L = pn.layers
B, T, D, U = 2, 4, 3, 3


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------------------- NumPy reference
def reference_rnn(kind, weights, x, mask=None, initial=None, go_backwards=False,
                  return_sequences=False, reset_after=True, zero_output_for_mask=False):
    """The Keras recurrences written plainly (float64): returns (output, final states)."""
    W, Uk = weights[0], weights[1]
    b = weights[2] if len(weights) > 2 else None
    u = Uk.shape[0]
    n, steps, _ = x.shape
    states = [np.zeros((n, u))] * (2 if kind == "lstm" else 1) if initial is None else list(initial)
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    out = np.zeros((n, u))
    outs = []
    for t in range(steps):
        xt = x[:, t]
        h = states[0]
        if kind == "simple":
            new = [np.tanh(xt @ W + h @ Uk + (0 if b is None else b))]
        elif kind == "lstm":
            z = xt @ W + h @ Uk + (0 if b is None else b)
            i, f, g, o = _sigmoid(z[:, :u]), _sigmoid(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), _sigmoid(z[:, 3 * u:])
            c = f * states[1] + i * g
            new = [o * np.tanh(c), c]
        else:
            if reset_after:
                bi, br = (0, 0) if b is None else (b[0], b[1])
                xz = xt @ W + bi
                rz = h @ Uk + br
                z = _sigmoid(xz[:, :u] + rz[:, :u])
                r = _sigmoid(xz[:, u:2 * u] + rz[:, u:2 * u])
                hh = np.tanh(xz[:, 2 * u:] + r * rz[:, 2 * u:])
            else:
                xz = xt @ W + (0 if b is None else b)
                z = _sigmoid(xz[:, :u] + h @ Uk[:, :u])
                r = _sigmoid(xz[:, u:2 * u] + h @ Uk[:, u:2 * u])
                hh = np.tanh(xz[:, 2 * u:] + (r * h) @ Uk[:, 2 * u:])
            new = [z * h + (1 - z) * hh]
        if mask is None:
            states = new
            out = new[0]
        else:
            m = mask[:, t][:, None]
            states = [np.where(m, a, s) for a, s in zip(new, states)]
            out = np.where(m, new[0], 0.0 if zero_output_for_mask else out)
        outs.append(out)
    y = np.stack(outs, axis=1) if return_sequences else out
    return y, states


def _make(kind, **kw):
    if kind == "simple":
        return L.SimpleRNN(U, **kw)
    if kind == "lstm":
        return L.LSTM(U, **kw)
    return L.GRU(U, **kw)


def _num_states(kind):
    return 2 if kind == "lstm" else 1


KINDS = ["simple", "lstm", "gru"]
OPTIONS = [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True, "go_backwards": True},
    {"go_backwards": True},
    {"use_bias": False},
    {"activation": "relu"},
]


# ---------------------------------------------------------------------------- harness
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_rnn_harness(backend, kind, options):
    seq = options.get("return_sequences", False)
    out = (B, T, U) if seq else (B, U)
    expected = [out] + [(B, U)] * _num_states(kind) if options.get("return_state") else out
    run_layer_test(lambda: _make(kind, **options), (B, T, D), backend,
                   expected_output_shape=expected,
                   expected_num_weights=2 if options.get("use_bias") is False else 3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.0, 0.4), (0.3, 0.4)])
def test_rnn_dropout_harness_in_training(backend, kind, rates):
    run_layer_test(lambda: _make(kind, dropout=rates[0], recurrent_dropout=rates[1],
                                 return_sequences=True), (B, T, D), backend, training=True)


@pytest.mark.parametrize("kind", KINDS)
def test_rnn_initial_state_harness(backend, kind):
    n = _num_states(kind)
    shapes = [(B, T, D)] + [(B, U)] * n
    layer = run_layer_test(lambda: _make(kind, return_sequences=True, return_state=True), shapes,
                           backend, expected_output_shape=[(B, T, U)] + [(B, U)] * n)
    assert len(layer.weights) == 3


@pytest.mark.parametrize("options", [{"reset_after": False}, {"reset_after": False, "use_bias": False},
                                     {"reset_after": False, "return_sequences": True, "go_backwards": True}])
def test_gru_reset_before_harness(backend, options):
    layer = run_layer_test(lambda: L.GRU(U, **options), (B, T, D), backend)
    if options.get("use_bias", True):
        assert layer.bias.shape == (3 * U,)


def test_gru_reset_before_dropout_harness(backend):
    run_layer_test(lambda: L.GRU(U, reset_after=False, dropout=0.2, recurrent_dropout=0.3,
                                 return_sequences=True), (B, T, D), backend, training=True)


def test_lstm_options_harness(backend):
    run_layer_test(lambda: L.LSTM(U, unit_forget_bias=False, recurrent_activation="tanh"),
                   (B, T, D), backend)


@pytest.mark.parametrize("kind", KINDS)
def test_rnn_masked_harness(backend, kind):
    """Weights' gradients through masked steps (ids 0 are padding, at both ends)."""
    ids = np.array([[0, 3, 1, 2, 0, 0], [4, 4, 0, 1, 2, 3]])
    run_layer_test(lambda: pn.Sequential([L.Embedding(5, D, mask_zero=True),
                                          _make(kind, return_sequences=True)]),
                   ids.shape, backend, input_data=ids)


@pytest.mark.parametrize("zero_output", [False, True])
def test_rnn_masked_last_output_harness(backend, zero_output):
    ids = np.array([[2, 3, 1, 0, 0], [0, 0, 1, 2, 3]])
    run_layer_test(lambda: pn.Sequential([L.Embedding(5, D, mask_zero=True),
                                          L.LSTM(U, zero_output_for_mask=zero_output)]),
                   ids.shape, backend, input_data=ids)


def test_masking_layer_then_rnn_harness(backend, rng):
    x = rng.standard_normal((B, 5, D))
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    # The input gradient is not continuous at a masked step (any change unmasks it).
    run_layer_test(lambda: pn.Sequential([L.Masking(0.0), L.GRU(U, return_sequences=True)]),
                   x.shape, backend, input_data=x, check_input_grad=False)


# ---------------------------------------------------------------------------- known values
def test_lstm_one_step_by_hand(backend):
    layer = L.LSTM(2, return_state=True)
    layer.build((None, 1, 3))
    W = np.array([[0.1, -0.2, 0.3, 0.0, 0.5, -0.1, 0.2, 0.4],
                  [0.0, 0.3, -0.4, 0.2, 0.1, 0.2, -0.3, 0.1],
                  [0.2, 0.1, 0.0, -0.5, 0.3, 0.0, 0.1, -0.2]], "float32")
    Uk = np.array([[0.3, 0.1, -0.2, 0.0, 0.4, 0.2, 0.1, -0.1],
                   [-0.1, 0.2, 0.3, 0.1, 0.0, -0.3, 0.2, 0.5]], "float32")
    b = np.array([0.1, 0.0, 1.0, 1.0, 0.0, 0.2, -0.1, 0.3], "float32")
    layer.set_weights([W, Uk, b])
    x = np.array([[[1.0, -2.0, 0.5]]], "float32")
    h0 = np.array([[0.5, -0.5]], "float32")
    c0 = np.array([[0.2, 0.1]], "float32")
    y, h, c = [to_np(backend, a) for a in layer(x, initial_state=[h0, c0])]
    # z = x W + h0 U + b, gates [i, f, c, o], two units each:
    z = np.array([1.0 * W[0] - 2.0 * W[1] + 0.5 * W[2]]) + 0.5 * Uk[0] - 0.5 * Uk[1] + b
    i, f, g, o = _sigmoid(z[0, 0:2]), _sigmoid(z[0, 2:4]), np.tanh(z[0, 4:6]), _sigmoid(z[0, 6:8])
    c_exp = f * c0[0] + i * g
    h_exp = o * np.tanh(c_exp)
    np.testing.assert_allclose(c[0], c_exp, rtol=1e-6)
    np.testing.assert_allclose(h[0], h_exp, rtol=1e-6)
    np.testing.assert_allclose(y, h)
    # Written out once more as plain numbers for the first unit:
    assert z[0, 0] == pytest.approx(0.1 * 1 - 0.0 * 2 + 0.2 * 0.5 + 0.5 * 0.3 - 0.5 * -0.1 + 0.1)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_one_step_by_hand(backend, reset_after):
    layer = L.GRU(2, reset_after=reset_after)
    layer.build((None, 1, 2))
    W = np.array([[0.2, -0.1, 0.4, 0.3, 0.1, -0.5],
                  [0.0, 0.5, -0.2, 0.1, 0.3, 0.2]], "float32")
    Uk = np.array([[0.1, 0.2, -0.3, 0.4, 0.2, 0.1],
                   [-0.2, 0.1, 0.3, 0.0, -0.1, 0.3]], "float32")
    if reset_after:
        b = np.array([[0.1, -0.1, 0.0, 0.2, 0.05, -0.2], [0.0, 0.3, 0.1, -0.1, 0.2, 0.1]], "float32")
    else:
        b = np.array([0.1, -0.1, 0.0, 0.2, 0.05, -0.2], "float32")
    layer.set_weights([W, Uk, b])
    x = np.array([[[0.7, -1.2]]], "float32")
    h0 = np.array([[0.3, -0.6]], "float32")
    y = to_np(backend, layer([x, h0]))
    xw = x[0, 0] @ W
    hu = h0[0] @ Uk
    if reset_after:
        xw = xw + b[0]
        hu = hu + b[1]
        z = _sigmoid(xw[0:2] + hu[0:2])
        r = _sigmoid(xw[2:4] + hu[2:4])
        hh = np.tanh(xw[4:6] + r * hu[4:6])
    else:
        xw = xw + b
        z = _sigmoid(xw[0:2] + hu[0:2])
        r = _sigmoid(xw[2:4] + hu[2:4])
        hh = np.tanh(xw[4:6] + (r * h0[0]) @ Uk[:, 4:6])
    np.testing.assert_allclose(y[0], z * h0[0] + (1 - z) * hh, rtol=1e-6)


def test_simple_rnn_two_steps_by_hand(backend):
    layer = L.SimpleRNN(1, return_sequences=True)
    layer.build((None, 2, 1))
    layer.set_weights([np.array([[2.0]], "float32"), np.array([[0.5]], "float32"),
                       np.array([0.1], "float32")])
    y = to_np(backend, layer(np.array([[[1.0], [-1.0]]], "float32")))
    h1 = np.tanh(2.0 + 0.1)
    h2 = np.tanh(-2.0 + 0.5 * h1 + 0.1)
    np.testing.assert_allclose(y[0, :, 0], [h1, h2], rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_masked_sequence_matches_reference(backend, kind, go_backwards, zero_output, float64, rng):
    mask = np.array([[True, False, True, True, False], [False, False, True, False, True]])
    x = rng.standard_normal((2, 5, D))
    layer = _make(kind, return_sequences=True, return_state=True, go_backwards=go_backwards,
                  zero_output_for_mask=zero_output)
    n = _num_states(kind)
    init = [rng.standard_normal((2, U)) for _ in range(n)]
    ys, back = layer_forward(layer, backend, [x] + init, mask=backend.asarray(mask))
    w = layer.get_weights()
    ref_y, ref_states = reference_rnn(kind, w, x, mask=mask, initial=init, go_backwards=go_backwards,
                                      return_sequences=True, zero_output_for_mask=zero_output)
    np.testing.assert_allclose(to_np(backend, ys[0]), ref_y, rtol=1e-10, atol=1e-12)
    for a, e in zip(ys[1:], ref_states):
        np.testing.assert_allclose(to_np(backend, a), e, rtol=1e-10, atol=1e-12)
    # Every output before the first unmasked step is zero; states carry the initial state.
    assert np.all(to_np(backend, ys[0])[1, :2] == 0.0) or go_backwards


@pytest.mark.parametrize("kind", KINDS)
def test_masked_gradients_by_finite_differences(backend, kind, float64, rng):
    """BPTT through masked steps, initial states and return_state, against central differences."""
    mask = np.array([[True, False, True, True], [False, True, True, False]])
    x = rng.standard_normal((2, 4, D))
    n = _num_states(kind)
    init = [rng.standard_normal((2, U)) for _ in range(n)]
    layer = _make(kind, return_sequences=True, return_state=True)
    layer_forward(layer, backend, [x] + init, mask=backend.asarray(mask))
    r = [rng.standard_normal(s) for s in [(2, 4, U)] + [(2, U)] * n]

    def loss(arrays):
        ys, _ = layer_forward(layer, backend, arrays, mask=backend.asarray(mask))
        return sum(float(np.sum(to_np(backend, a) * ri)) for a, ri in zip(ys, r))
    for v in layer.weights:
        v.grad = None
    ys, back = layer_forward(layer, backend, [x] + init, mask=backend.asarray(mask))
    grads = [to_np(backend, g) for g in back([backend.asarray(ri) for ri in r])]
    arrays = [x] + init
    for k, a in enumerate(arrays):
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + 1e-6
            fp = loss(arrays)
            a[idx] = old - 1e-6
            fm = loss(arrays)
            a[idx] = old
            num[idx] = (fp - fm) / 2e-6
        np.testing.assert_allclose(grads[k], num, rtol=1e-5, atol=1e-7)
    # Masked steps of x get no gradient.
    assert np.all(grads[0][~mask] == 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_is_the_flipped_sequence(backend, kind, float64, rng):
    x = rng.standard_normal((B, T, D))
    fwd = _make(kind, return_sequences=True)
    bwd = _make(kind, return_sequences=True, go_backwards=True)
    layer_forward(fwd, backend, x)
    layer_forward(bwd, backend, x)
    bwd.set_weights(fwd.get_weights())
    y_b, _ = layer_forward(bwd, backend, x)
    y_f, _ = layer_forward(fwd, backend, x[:, ::-1].copy())
    # Keras returns the backward sequence in processing order (not flipped back).
    np.testing.assert_allclose(to_np(backend, y_b), to_np(backend, y_f), rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_does_not_change_the_result(backend, kind, float64, rng):
    """Post- and pre-padded sequences with a mask give the unpadded sequence's last output."""
    x = rng.standard_normal((1, 3, D))
    layer = _make(kind)
    y_ref = to_np(backend, layer_forward(layer, backend, x)[0])
    padded = np.concatenate([np.zeros((1, 2, D)), x, np.zeros((1, 2, D))], axis=1)
    model = pn.Sequential([L.Masking(0.0), layer])
    y = to_np(backend, layer_forward(model, backend, padded)[0])
    np.testing.assert_allclose(y, y_ref, rtol=1e-12)


def test_reference_agrees_without_mask(backend, float64, rng):
    x = rng.standard_normal((B, T, D))
    for kind, kw in [("simple", {}), ("lstm", {}), ("gru", {}), ("gru", {"reset_after": False})]:
        layer = _make(kind, return_sequences=True, **kw)
        y, _ = layer_forward(layer, backend, x)
        ref, _ = reference_rnn(kind, layer.get_weights(), x, return_sequences=True,
                               reset_after=kw.get("reset_after", True))
        np.testing.assert_allclose(to_np(backend, y), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", [
    {}, {"return_sequences": True}, {"return_state": True, "go_backwards": True},
    {"use_bias": False, "return_sequences": True, "return_state": True}, {"initial_state": True}])
def test_lstm_fast_path_matches_the_general_loop(backend, float64, rng, options):
    """The default LSTM runs a dedicated loop (one tanh over all gates, time-major buffers);
    it gives the same outputs and the same gradients as the generic per-step cell."""
    options = dict(options)
    with_init = options.pop("initial_state", False)
    layer = L.LSTM(U, **options)
    x = rng.standard_normal((B, 5, D))
    arrays = [x] + ([rng.standard_normal((B, U)) for _ in range(2)] if with_init else [])
    inputs = arrays if with_init else x
    layer_forward(layer, backend, inputs)
    layer.set_weights([w + 0.3 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    xs = [backend.asarray(a) for a in arrays] if with_init else backend.asarray(x)
    results = []
    def general_loop(v):
        multi = isinstance(v, list)
        x_, states = (v[0], list(v[1:])) if multi else (v, [])
        return pn.layers.recurrent.sequence.run_sequence(layer.cell, layer, x_, states, None,
                                                         False, multi)

    for forward in (layer.forward, general_loop):
        for v in layer.weights:
            v.grad = None
        y, back = forward(xs)
        ys = list(y) if isinstance(y, list) else [y]
        r = [np.linspace(-1.0, 1.0, int(np.prod(a.shape))).reshape(a.shape) for a in ys]
        rb = [backend.asarray(a) for a in r]
        d = back(rb if isinstance(y, list) else rb[0])
        d = d if isinstance(d, list) else [d]
        results.append(([to_np(backend, a) for a in ys], [to_np(backend, a) for a in d],
                        [to_np(backend, v.grad) for v in layer.weights]))
    (y1, d1, g1), (y2, d2, g2) = results
    for a, b in zip(y1 + d1 + g1, y2 + d2 + g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert len(d1) == (3 if with_init else 1)


def test_lstm_skips_the_input_gradient_for_the_model_input(backend, float64, rng):
    """Marked as reading the model's input (Layer._skip_input_grad), the LSTM returns no
    input gradient and the same weight gradients."""
    layer = L.LSTM(U)
    x = rng.standard_normal((B, T, D))
    grads = []
    for skip in (False, True):
        layer._skip_input_grad = skip
        try:
            y, back = layer_forward(layer, backend, x)
        finally:
            layer._skip_input_grad = False
        for v in layer.weights:
            v.grad = None
        dx = back(backend.asarray(np.ones((B, U))))
        assert (dx is None) == skip
        grads.append([to_np(backend, v.grad) for v in layer.weights])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_lstm_float32_gates_stay_accurate(backend, rng):
    """float32 through the tanh form of the gates agrees with a float64 reference."""
    layer = L.LSTM(8, return_sequences=True)
    x = rng.standard_normal((3, 6, D)).astype("float32") * 3
    y, _ = layer_forward(layer, backend, x)
    assert y.dtype == backend.xp.float32
    w = [a.astype("float64") for a in layer.get_weights()]
    ref, _ = reference_rnn("lstm", w, x.astype("float64"), return_sequences=True)
    np.testing.assert_allclose(to_np(backend, y), ref, rtol=0, atol=2e-6)


# ---------------------------------------------------------------------------- dropout semantics
def test_dropout_masks_are_reused_at_every_timestep(backend):
    """Linear SimpleRNN with identity kernel, zero recurrence: every step outputs the input mask."""
    layer = L.SimpleRNN(6, activation=None, use_bias=False, dropout=0.5, return_sequences=True)
    layer.build((None, 5, 6))
    layer.set_weights([np.eye(6, dtype="float32"), np.zeros((6, 6), "float32")])
    y = to_np(backend, layer(np.ones((4, 5, 6), "float32"), training=True))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0 < (y == 0).sum() < y.size
    for t in range(1, 5):
        np.testing.assert_array_equal(y[:, t], y[:, 0])
    # Inference ignores dropout.
    np.testing.assert_array_equal(to_np(backend, layer(np.ones((4, 5, 6), "float32"))), 1.0)


def test_recurrent_dropout_masks_are_reused(backend):
    """Linear SimpleRNN h_t = x_t + (h_{t-1}·m) @ I: with x = 1, h_t = 1 + m·h_{t-1}."""
    layer = L.SimpleRNN(8, activation=None, use_bias=False, recurrent_dropout=0.5,
                        return_sequences=True)
    layer.build((None, 3, 8))
    layer.set_weights([np.eye(8, dtype="float32"), np.eye(8, dtype="float32")])
    y = to_np(backend, layer(np.ones((5, 3, 8), "float32"), training=True))
    m = y[:, 1] - 1.0   # h_1 = 1 + m·1
    assert set(np.unique(m)) <= {0.0, 2.0}
    np.testing.assert_allclose(y[:, 2], 1.0 + m * y[:, 1])


def test_lstm_per_gate_masks_with_recurrent_dropout(backend):
    """Keras draws one mask per gate when recurrent_dropout > 0 (4 for LSTM, else 1)."""
    layer = L.LSTM(2, dropout=0.5, recurrent_dropout=0.5)
    layer.build((None, 3, 2))
    in_masks, rec_masks = layer.cell._dropout_masks(True, 4, 2)
    assert len(in_masks) == 4 and len(rec_masks) == 4
    layer2 = L.LSTM(2, dropout=0.5)
    layer2.build((None, 3, 2))
    in_masks, rec_masks = layer2.cell._dropout_masks(True, 4, 2)
    assert len(in_masks) == 1 and rec_masks is None
    assert layer2.cell._dropout_masks(False, 4, 2) == (None, None)
    layer3 = L.GRU(2, dropout=0.5, implementation=1)
    layer3.build((None, 3, 2))
    in_masks, rec_masks = layer3.cell._dropout_masks(True, 4, 2)
    assert len(in_masks) == 3 and rec_masks is None
    with pytest.raises(ValueError, match="implementation=3"):
        L.LSTM(2, implementation=3)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_per_gate_input_dropout_harness(backend, kind):
    run_layer_test(lambda: _make(kind, dropout=0.4, implementation=1, return_sequences=True),
                   (B, T, D), backend, training=True)


# ---------------------------------------------------------------------------- layouts, config
def test_weight_layouts_and_initializers(backend):
    lstm = L.LSTM(4)
    lstm.build((None, 5, 3))
    k, rk, b = lstm.get_weights()
    assert k.shape == (3, 16) and rk.shape == (4, 16) and b.shape == (16,)
    np.testing.assert_array_equal(b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    # Orthogonal recurrent kernel: its rows are orthonormal.
    np.testing.assert_allclose(rk @ rk.T, np.eye(4), atol=1e-5)
    limit = np.sqrt(6 / (3 + 16))
    assert np.abs(k).max() <= limit
    assert [v.name for v in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    no_forget = L.LSTM(4, unit_forget_bias=False)
    no_forget.build((None, 5, 3))
    np.testing.assert_array_equal(no_forget.get_weights()[2], np.zeros(16))
    gru = L.GRU(4)
    gru.build((None, 5, 3))
    assert [w.shape for w in gru.get_weights()] == [(3, 12), (4, 12), (2, 12)]
    gru2 = L.GRU(4, reset_after=False)
    gru2.build((None, 5, 3))
    assert gru2.get_weights()[2].shape == (12,)
    rnn = L.SimpleRNN(4)
    rnn.build((None, 5, 3))
    assert [w.shape for w in rnn.get_weights()] == [(3, 4), (4, 4), (4,)]


def test_config_round_trip_keeps_options():
    layer = L.GRU(5, activation="relu", recurrent_activation="tanh", dropout=0.1,
                  recurrent_dropout=0.2, return_sequences=True, return_state=True,
                  go_backwards=True, reset_after=False, kernel_regularizer="l2",
                  recurrent_constraint="non_neg", name="g")
    config = layer.get_config()
    again = L.deserialize(L.serialize(layer))
    assert isinstance(again, L.GRU)
    assert again.get_config() == config
    for key, value in [("units", 5), ("dropout", 0.1), ("recurrent_dropout", 0.2),
                       ("return_sequences", True), ("return_state", True), ("go_backwards", True),
                       ("reset_after", False), ("stateful", False)]:
        assert config[key] == value


def test_bad_arguments():
    with pytest.raises(ValueError, match="units=0"):
        L.LSTM(0)
    with pytest.raises(ValueError, match="dropout=1.5"):
        L.GRU(3, dropout=1.5)
    with pytest.raises(ValueError, match="recurrent_dropout=-0.1"):
        L.SimpleRNN(3, recurrent_dropout=-0.1)
    with pytest.raises(ValueError, match="unknown activation"):
        L.LSTM(3, recurrent_activation="sigmoidd")
    with pytest.raises(ValueError, match="merge_mode='max'"):
        L.Bidirectional(L.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="recurrent layer"):
        L.Bidirectional(L.Dense(3))
    with pytest.raises(ValueError, match="go_backwards"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3))
    with pytest.raises(ValueError, match="return_sequences"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3, go_backwards=True, return_sequences=True))
    with pytest.raises(ValueError, match="layer instance"):
        L.TimeDistributed("dense")


@pytest.mark.parametrize("kind", KINDS + ["rnn_cell"])
def test_stateful_layer_continues_the_sequence(backend, kind, float64, rng):
    # Keras's cross-batch statefulness (the RNN guide): calling a stateful layer on two
    # halves of a sequence gives what one call on the whole sequence gives (NumPy reference).
    layer = L.RNN(L.LSTMCell(U), stateful=True) if kind == "rnn_cell" else _make(kind, stateful=True)
    ref_kind = "lstm" if kind == "rnn_cell" else kind
    x = rng.standard_normal((B, 6, D))
    first = to_np(backend, layer(x[:, :3]))
    second = to_np(backend, layer(x[:, 3:]))
    w = layer.get_weights()
    np.testing.assert_allclose(first, reference_rnn(ref_kind, w, x[:, :3])[0], rtol=1e-10)
    whole, states = reference_rnn(ref_kind, w, x)
    np.testing.assert_allclose(second, whole, rtol=1e-10)
    assert len(layer.states) == _num_states(ref_kind)
    for v, e in zip(layer.states, states):
        assert not v.trainable and v.name == "rnn_state"
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-10)
    assert all(id(v) not in {id(w) for w in layer.weights} for v in layer.states)
    layer.reset_states()
    for v in layer.states:
        np.testing.assert_array_equal(v.numpy(), 0.0)
    np.testing.assert_allclose(to_np(backend, layer(x[:, :3])), first, rtol=1e-12)
    # The kept states are usable as another layer's initial state (the guide's state reuse).
    other = _make(ref_kind) if kind != "rnn_cell" else L.LSTM(U)
    other(x[:, :1])
    other.set_weights(w)
    np.testing.assert_allclose(to_np(backend, other(x[:, 3:], initial_state=layer.states)),
                               whole, rtol=1e-10)
    with pytest.raises(ValueError, match="batch of 2; got a batch of 3"):
        layer(rng.standard_normal((3, 2, D)))


def test_stateful_layer_gradients_treat_the_kept_state_as_a_constant(backend, float64, rng):
    x = rng.standard_normal((B, 4, D))
    layer = L.LSTM(U, stateful=True, return_sequences=True)
    layer(x[:, :2])
    kept = [v.numpy() for v in layer.states]
    plain = L.LSTM(U, return_sequences=True)
    plain(x[:, 2:], initial_state=[backend.asarray(k) for k in kept])
    plain.set_weights(layer.get_weights())
    grads = []
    for lay, args in ((layer, {}), (plain, {"initial_state": [backend.asarray(k) for k in kept]})):
        with pn.GradientTape() as tape:
            loss = pn.ops.sum(pn.ops.square(lay(x[:, 2:], **args)))
        grads.append([to_np(backend, g) for g in tape.gradient(loss, lay.trainable_weights)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    assert not np.allclose(grads[0][0], 0.0)


def test_stateful_needs_a_static_batch_size_and_round_trips():
    with pytest.raises(ValueError, match="stateful=True the batch size must be static"):
        pn.Sequential([pn.Input((4, 3)), L.LSTM(3, stateful=True)])
    model = pn.Sequential([pn.Input(batch_shape=(2, 4, 3)), L.GRU(3, stateful=True)])
    assert model.layers[0].get_config()["stateful"] is True
    again = L.GRU.from_config(model.layers[0].get_config())
    assert again.stateful is True


def test_bad_shapes(backend):
    layer = L.LSTM(3, name="lstm_a")
    # Keras's InputSpec(ndim=3) check, in Keras's words.
    with pytest.raises(ValueError, match=r"of layer 'lstm_a' is incompatible with the layer: "
                                         r"expected ndim=3, found ndim=2"):
        layer(np.zeros((2, 3), "float32"))
    layer = L.LSTM(3)
    with pytest.raises(ValueError, match="initial state of shape"):
        layer(np.zeros((2, 4, 3), "float32"), initial_state=[np.zeros((2, 5), "float32"),
                                                            np.zeros((2, 3), "float32")])
    with pytest.raises(ValueError, match="needs 2 array"):
        layer([np.zeros((2, 4, 3), "float32"), np.zeros((2, 3), "float32")])
    with pytest.raises(ValueError, match="at least 3 axes"):
        L.TimeDistributed(L.Dense(2))(np.zeros((2, 3), "float32"))


# ---------------------------------------------------------------------------- Bidirectional
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_harness(backend, merge_mode):
    out = (B, T, 2 * U if merge_mode == "concat" else U)
    expected = [out, out] if merge_mode is None else out
    run_layer_test(lambda: L.Bidirectional(L.LSTM(U, return_sequences=True), merge_mode=merge_mode),
                   (B, T, D), backend, expected_output_shape=expected, expected_num_weights=6)


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_return_state_harness(backend, merge_mode):
    out = (B, 2 * U) if merge_mode == "concat" else (B, U)
    outs = [out] if merge_mode else [out, out]
    run_layer_test(lambda: L.Bidirectional(L.GRU(U, return_state=True), merge_mode=merge_mode),
                   (B, T, D), backend, expected_output_shape=outs + [(B, U), (B, U)])


def test_bidirectional_initial_state_and_backward_layer_harness(backend):
    def make():
        return L.Bidirectional(L.LSTM(U, return_sequences=True),
                               backward_layer=L.SimpleRNN(U, return_sequences=True,
                                                          go_backwards=True),
                               merge_mode="sum")
    with pytest.raises(ValueError, match="initial_state needs"):
        layer_forward(make(), backend, [np.zeros((B, T, D)), np.zeros((B, U))])
    run_layer_test(lambda: L.Bidirectional(L.LSTM(U), merge_mode="ave"),
                   [(B, T, D), (B, U), (B, U), (B, U), (B, U)], backend)
    run_layer_test(make, (B, T, D), backend, expected_output_shape=(B, T, U))


def test_bidirectional_values(backend, float64, rng):
    x = rng.standard_normal((B, T, D))
    bi = L.Bidirectional(L.GRU(U, return_sequences=True), name="bi")
    y, _ = layer_forward(bi, backend, x)
    assert [v.path for v in bi.weights][:3] == ["forward_gru/kernel", "forward_gru/recurrent_kernel",
                                                "forward_gru/bias"]
    assert bi.backward_layer.go_backwards and bi.backward_layer.name == "backward_gru"
    w = bi.get_weights()
    ref_f, _ = reference_rnn("gru", w[:3], x, return_sequences=True)
    ref_b, _ = reference_rnn("gru", w[3:], x, go_backwards=True, return_sequences=True)
    np.testing.assert_allclose(to_np(backend, y), np.concatenate([ref_f, ref_b[:, ::-1]], axis=-1),
                               rtol=1e-10)


def test_bidirectional_masked_outputs_are_zero(backend, float64, rng):
    ids = np.array([[1, 2, 0, 0], [3, 1, 2, 4]])
    model = pn.Sequential([L.Embedding(5, D, mask_zero=True),
                           L.Bidirectional(L.LSTM(U, return_sequences=True))])
    y = to_np(backend, layer_forward(model, backend, ids)[0])
    np.testing.assert_array_equal(y[0, 2:], 0.0)
    assert np.all(y[0, :2] != 0.0) and np.all(y[1] != 0.0)


def test_bidirectional_config_round_trip(backend):
    bi = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="mul")
    bi.build((None, 3, 2))
    again = L.deserialize(L.serialize(bi))
    again.build((None, 3, 2))
    assert again.merge_mode == "mul"
    assert [v.name for v in again.weights] == [v.name for v in bi.weights]
    assert again.forward_layer.name == "forward_lstm" and again.backward_layer.go_backwards


# ---------------------------------------------------------------------------- TimeDistributed
def test_time_distributed_harness(backend):
    run_layer_test(lambda: L.TimeDistributed(L.Dense(4, activation="tanh")), (B, T, D), backend,
                   expected_output_shape=(B, T, 4), expected_num_weights=2)


def test_time_distributed_conv1d_harness(backend):
    run_layer_test(lambda: L.TimeDistributed(L.Conv1D(2, 2, activation="relu")), (B, 3, 5, 2),
                   backend, expected_output_shape=(B, 3, 4, 2))


def test_time_distributed_matches_inner_layer(backend, float64, rng):
    x = rng.standard_normal((B, T, D))
    td = L.TimeDistributed(L.Dense(5))
    y, _ = layer_forward(td, backend, x)
    w, b = td.get_weights()
    np.testing.assert_allclose(to_np(backend, y), x @ w + b, rtol=1e-12)
    again = L.deserialize(L.serialize(td))
    assert isinstance(again.layer, L.Dense) and again.layer.units == 5
    assert td.compute_output_shape((None, 7, 3)) == (None, 7, 5)


def test_time_distributed_passes_the_mask_to_an_rnn(backend, float64):
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    model = pn.Sequential([L.Embedding(5, D, mask_zero=True), L.TimeDistributed(L.Dense(D)),
                           L.SimpleRNN(U, return_sequences=True)])
    y = to_np(backend, layer_forward(model, backend, ids)[0])
    np.testing.assert_array_equal(y[1, 1], y[1, 0])
    np.testing.assert_array_equal(y[0, 2], y[0, 1])


def test_functional_style_call_with_initial_state(backend):
    x = pn.Input((T, D))
    h0 = pn.Input((U,))
    c0 = pn.Input((U,))
    layer = L.LSTM(U, return_state=True)
    outs = layer(x, initial_state=[h0, c0])
    assert [o.shape for o in outs] == [(None, U), (None, U), (None, U)]
    assert len(outs[0].node.input_tensors) == 3


# ---------------------------------------------------------------------------- Keras's own numbers
def _det(shape, phase):
    n = int(np.prod(shape))
    return (0.6 * np.sin(0.7 * np.arange(n) + phase)).reshape(shape)


def test_values_computed_by_keras(backend, float64):
    """Outputs of Keras 3.15.1 (torch backend, float64) for the same weights, inputs and mask."""
    x = _det((2, 3, 2), 0.3)
    mask = backend.asarray(np.array([[True, False, True], [False, True, True]]))
    bi = L.Bidirectional(L.LSTM(2, return_sequences=True))
    layer_forward(bi, backend, x)
    bi.set_weights([_det(w.shape, i) for i, w in enumerate(bi.get_weights())])
    keras_bi = [[[-0.0748041604, -0.0988692716, 0.1220071206, 0.1430783388],
                 [0.0, 0.0, 0.0, 0.0],
                 [-0.2388196275, -0.1757312615, 0.1105002791, 0.0829220297]],
                [[0.0, 0.0, 0.0, 0.0],
                 [-0.1508885585, -0.1045818284, 0.1129002520, 0.1118364586],
                 [-0.1034985937, -0.1138677033, 0.0341047985, 0.0821963460]]]
    y = layer_forward(bi, backend, x, mask=mask)[0]
    np.testing.assert_allclose(to_np(backend, y), keras_bi, atol=1e-10)

    gru = L.GRU(2, reset_after=False, go_backwards=True, return_sequences=True)
    layer_forward(gru, backend, x)
    gru.set_weights([_det(w.shape, 5 + i) for i, w in enumerate(gru.get_weights())])
    keras_gru = [[[-0.0361759876, -0.1664932990], [-0.0361759876, -0.1664932990],
                  [-0.1379480151, -0.2626373639]],
                 [[-0.0477420821, -0.1007628671], [-0.1766651991, -0.2598687967],
                  [-0.1766651991, -0.2598687967]]]
    y = layer_forward(gru, backend, x, mask=mask)[0]
    np.testing.assert_allclose(to_np(backend, y), keras_gru, atol=1e-10)

    rnn = L.SimpleRNN(2, return_state=True)
    layer_forward(rnn, backend, x)
    rnn.set_weights([_det(w.shape, 9 + i) for i, w in enumerate(rnn.get_weights())])
    y, h = layer_forward(rnn, backend, [x, _det((2, 2), 12)], mask=mask)[0]
    keras_rnn = [[0.1003011253, 0.2640384508], [-0.0862054349, -0.2093997681]]
    np.testing.assert_allclose(to_np(backend, y), keras_rnn, atol=1e-10)
    np.testing.assert_allclose(to_np(backend, h), keras_rnn, atol=1e-10)


def test_functional_model_with_states_masks_and_save_load(backend, tmp_path, rng):
    """initial_state through the functional graph, a masked Bidirectional, training and a
    save/load round trip that predicts the same."""
    tokens = pn.Input((6,), dtype="int64")
    h0 = pn.Input((4,))
    c0 = pn.Input((4,))
    emb = L.Embedding(7, 3, mask_zero=True)(tokens)
    seq, h, c = L.LSTM(4, return_sequences=True, return_state=True)(emb, initial_state=[h0, c0])
    both = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode="sum")(seq)
    last = L.SimpleRNN(4)(both, initial_state=h)
    out = L.Dense(1)(L.concatenate([last, c]))
    model = pn.Model([tokens, h0, c0], out)
    model.compile(optimizer="adam", loss="mse")
    ids = rng.integers(0, 7, size=(16, 6))
    ids[:, 4:] = 0
    states = [rng.standard_normal((16, 4)).astype("float32") for _ in range(2)]
    y = rng.standard_normal((16, 1)).astype("float32")
    history = model.fit([ids] + states, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "rnn.portanet"
    model.save(str(path))
    again = pn.load_model(str(path))
    np.testing.assert_allclose(again.predict([ids] + states, verbose=0),
                               model.predict([ids] + states, verbose=0), rtol=1e-6, atol=1e-7)
