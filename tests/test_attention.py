"""EinsumDense, MultiHeadAttention, Attention and AdditiveAttention: Keras's weight shapes and
order, outputs against a direct NumPy (np.einsum) computation of Keras's formulas in float64,
finite-difference gradients (tests/harness.py), masks, functional use, a transformer block
that learns, config and save round trips."""

import string

import numpy as np
import pytest

import portanet as pn
from harness import check_gradients, run_layer_test, to_np

L = pn.layers


@pytest.fixture
def f64():
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    yield
    pn.config.set_floatx(old)


def np_softmax(x, axis=-1, mask=None):
    if mask is not None:
        x = x + (1.0 - mask.astype(x.dtype)) * -1e9
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------- EinsumDense
EINSUM_CASES = [
    # equation, input shape, output_shape, bias_axes, kernel shape, bias shape, output shape
    ("abc,cde->abde", (2, 3, 5), (None, 4, 3), "de", (5, 4, 3), (4, 3), (2, 3, 4, 3)),
    ("abcd,cde->abe", (2, 3, 4, 5), (None, 6), "e", (4, 5, 6), (6,), (2, 3, 6)),
    ("ab,bc->ac", (3, 5), 4, "c", (5, 4), (4,), (3, 4)),
    ("ab,bc->ac", (3, 5), 4, None, (5, 4), None, (3, 4)),
    ("...b,bc->...c", (2, 3, 5), 4, "c", (5, 4), (4,), (2, 3, 4)),
    ("abc...,cd->abd...", (2, 3, 4, 5), (3, 6), "d", (4, 6), (6, 1), (2, 3, 6, 5)),
    ("abc,cd->abd", (2, 3, 4), (3, 6), "bd", (4, 6), (3, 6), (2, 3, 6)),
]


@pytest.mark.parametrize("case", EINSUM_CASES, ids=[c[0] + str(c[3]) for c in EINSUM_CASES])
def test_einsum_dense_shapes_values_and_gradients(backend, f64, case):
    eq, in_shape, out_shape, bias_axes, k_shape, b_shape, y_shape = case
    x = np.random.default_rng(1).standard_normal(in_shape)
    layer = L.EinsumDense(eq, output_shape=out_shape, bias_axes=bias_axes, activation="tanh",
                          bias_initializer="random_normal")
    y = to_np(backend, layer(x))
    weights = layer.get_weights()
    assert [w.shape for w in weights] == [k_shape] + ([] if b_shape is None else [b_shape])
    assert [v.name for v in layer.weights] == ["kernel"] + ([] if b_shape is None else ["bias"])
    assert y.shape == y_shape
    ref = np.einsum(eq, x, weights[0])
    if b_shape is not None:
        ref = ref + weights[1]
    np.testing.assert_allclose(y, np.tanh(ref), rtol=1e-12, atol=1e-12)
    assert layer.compute_output_shape((None,) + in_shape[1:]) == (None,) + y_shape[1:]
    run_layer_test(lambda: L.EinsumDense(eq, output_shape=out_shape, bias_axes=bias_axes,
                                         activation="tanh", bias_initializer="random_normal"),
                   in_shape, backend, expected_output_shape=y_shape)


def test_einsum_dense_bad_arguments():
    with pytest.raises(ValueError, match="equation"):
        L.EinsumDense("ab->b", output_shape=3)
    with pytest.raises(TypeError, match="equation"):
        L.EinsumDense(3, output_shape=3)
    layer = L.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="x")
    with pytest.raises(ValueError, match="bias_axes"):
        layer.build((None, 3))
    layer = L.EinsumDense("ab,bc->ad", output_shape=4)
    with pytest.raises(ValueError, match="'d'"):
        layer.build((None, 3))


# ---------------------------------------------------------------------------- MHA reference
def _attention_equations(rank, attn_axes):
    """Keras's _build_attention_equation, for the NumPy reference."""
    letters = string.ascii_lowercase
    target = letters[:rank]
    batch_dims = tuple(i for i in range(rank) if i not in attn_axes + (rank - 1,))
    offset = rank
    source = ""
    for i in range(rank):
        if i in batch_dims or i == rank - 1:
            source += letters[i]
        else:
            source += letters[offset]
            offset += 1
    product = "".join([target[i] for i in batch_dims] + [target[i] for i in attn_axes]
                      + [source[i] for i in attn_axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}"


def np_mha(weights, q, v, k=None, mask=None, attn_axes=None, key_dim=None):
    """Keras's MultiHeadAttention.call in NumPy (np.einsum on Keras's equations)."""
    k = v if k is None else k
    qk, qb, kk, kb, vk, vb, ok, ob = weights
    letters = string.ascii_lowercase

    def proj(x, w, b):
        free = letters[:x.ndim - 1]
        return np.einsum(f"{free}x,xyz->{free}yz", x, w) + b
    Q, K, V = proj(q, qk, qb), proj(k, kk, kb), proj(v, vk, vb)
    rank = Q.ndim
    attn_axes = tuple(range(1, rank - 2)) if attn_axes is None else attn_axes
    dot_eq, combine_eq = _attention_equations(rank, attn_axes)
    Q = Q / np.sqrt(float(qk.shape[-1]))
    scores = np.einsum(dot_eq, K, Q)
    if mask is not None:
        mask = mask.astype(bool)
        while mask.ndim < scores.ndim:
            mask = np.expand_dims(mask, axis=-len(attn_axes) * 2 - 1)
    norm_axes = tuple(range(scores.ndim - len(attn_axes), scores.ndim))
    if mask is not None:
        scores = scores + (1.0 - mask.astype(scores.dtype)) * -1e9
    e = np.exp(scores - np.max(scores, axis=norm_axes, keepdims=True))
    probs = e / np.sum(e, axis=norm_axes, keepdims=True)
    out = np.einsum(combine_eq, probs, V)
    free = letters[:out.ndim - 2]
    y = np.einsum(f"{free}xy,xyz->{free}z", out, ok) + ob
    return y, probs


def _randomize(layer, seed=3):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])


def test_mha_weight_shapes_and_order(backend):
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    q = np.zeros((2, 5, 6), np.float32)
    v = np.zeros((2, 7, 8), np.float32)
    k = np.zeros((2, 7, 9), np.float32)
    y = mha(q, v, k)
    assert tuple(y.shape) == (2, 5, 6)
    assert [w.shape for w in mha.get_weights()] == [(6, 2, 3), (2, 3), (9, 2, 3), (2, 3),
                                                     (8, 2, 4), (2, 4), (2, 4, 6), (6,)]
    assert [v.path for v in mha.weights] == [
        "query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel", "value/bias",
        "attention_output/kernel", "attention_output/bias"]
    assert mha.count_params() == 6 * 6 + 9 * 6 + 8 * 8 + 8 * 6 + 6 + 6 + 8 + 6
    mha2 = L.MultiHeadAttention(2, 3, use_bias=False, output_shape=(5,))
    assert tuple(mha2(q, v).shape) == (2, 5, 5)
    assert [w.shape for w in mha2.get_weights()] == [(6, 2, 3), (8, 2, 3), (8, 2, 3), (2, 3, 5)]


def test_mha_matches_numpy(backend, f64):
    rng = np.random.default_rng(0)
    q, v, k = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 7))
    mha = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4)
    mha(q, v, k)
    _randomize(mha)
    y, s = mha(q, v, k, return_attention_scores=True)
    ref_y, ref_s = np_mha(mha.get_weights(), q, v, k)
    np.testing.assert_allclose(to_np(backend, y), ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_np(backend, s), ref_s, rtol=1e-12, atol=1e-12)
    assert tuple(s.shape) == (2, 3, 4, 6)
    # attention_mask and the causal mask, as Keras combines them
    am = rng.random((2, 4, 6)) > 0.3
    am[:, :, 0] = True
    y = mha(q, v, k, attention_mask=am, use_causal_mask=True)
    causal = np.arange(4)[:, None] >= np.arange(6)[None, :]
    ref_y, _ = np_mha(mha.get_weights(), q, v, k, mask=am & causal[None])
    np.testing.assert_allclose(to_np(backend, y), ref_y, rtol=1e-12, atol=1e-12)


def test_mha_attention_axes_matches_numpy(backend, f64):
    rng = np.random.default_rng(1)
    q, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    for axes in [(1, 2), (2,), None]:
        mha = L.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=axes)
        mha(q, v)
        _randomize(mha)
        y, s = mha(q, v, return_attention_scores=True)
        ref_y, ref_s = np_mha(mha.get_weights(), q, v, attn_axes=None if axes is None else axes)
        np.testing.assert_allclose(to_np(backend, y), ref_y, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(to_np(backend, s), ref_s, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", [
    dict(num_heads=2, key_dim=3),
    dict(num_heads=2, key_dim=3, value_dim=2, output_shape=(4,), use_bias=False),
    dict(num_heads=2, key_dim=2, attention_axes=(1, 2)),
    dict(num_heads=2, key_dim=3, return_attention_scores=True, use_causal_mask=True),
])
def test_mha_harness(backend, config):
    shape = (2, 3, 2, 4) if "attention_axes" in config else (2, 4, 5)
    vshape = shape[:-1] + (3,)
    run_layer_test(lambda: L.MultiHeadAttention(**config), [shape, vshape], backend)


def test_mha_gradients_with_key_mask_and_dropout(backend, f64):
    rng = np.random.default_rng(2)
    q, v, k = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 7))
    am = rng.random((2, 4, 6)) > 0.4
    am[:, :, 0] = True
    check_gradients(lambda: L.MultiHeadAttention(2, 3, use_causal_mask=True), [q, v, k, am], backend)
    check_gradients(lambda: L.MultiHeadAttention(2, 3, dropout=0.5), [q, v, k], backend, training=True)


def test_mha_dropout_only_in_training(backend, f64):
    rng = np.random.default_rng(2)
    q = rng.standard_normal((2, 4, 5))
    mha = L.MultiHeadAttention(2, 3, dropout=0.5)
    _, s0 = mha(q, q, return_attention_scores=True)
    ref, _ = np_mha(mha.get_weights(), q, q)
    np.testing.assert_allclose(to_np(backend, mha(q, q)), ref, rtol=1e-12, atol=1e-12)
    pn.utils.set_random_seed(5)
    a = to_np(backend, mha(q, q, training=True))
    pn.utils.set_random_seed(5)
    b = to_np(backend, mha(q, q, training=True))
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - ref)) > 1e-3


def test_mha_causal_mask_effect(backend, f64):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 4))
    mha = L.MultiHeadAttention(2, 3)
    y, s = mha(x, x, use_causal_mask=True, return_attention_scores=True)
    s = to_np(backend, s)
    assert np.all(s[..., np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]] < 1e-12)
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-12)
    x2 = x.copy()
    x2[:, 3:] = rng.standard_normal((2, 2, 4))       # the future changes
    y2 = mha(x2, x2, use_causal_mask=True)
    np.testing.assert_allclose(to_np(backend, y2)[:, :3], to_np(backend, y)[:, :3], rtol=1e-12, atol=1e-12)
    assert np.max(np.abs(to_np(backend, y2)[:, 3:] - to_np(backend, y)[:, 3:])) > 1e-3
    y3 = mha(x2, x2)                                # without the mask the past sees the future
    assert np.max(np.abs(to_np(backend, y3)[:, :3] - to_np(backend, y)[:, :3])) > 1e-3


def test_mha_attention_mask_effect(backend, f64):
    rng = np.random.default_rng(5)
    q, v = rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 5, 4))
    am = np.ones((1, 3, 5), bool)
    am[:, :, 3:] = False
    mha = L.MultiHeadAttention(2, 3)
    y, s = mha(q, v, attention_mask=am, return_attention_scores=True)
    assert np.all(to_np(backend, s)[..., 3:] < 1e-12)
    v2 = v.copy()
    v2[:, 3:] += 10.0
    np.testing.assert_allclose(to_np(backend, mha(q, v2, attention_mask=am)), to_np(backend, y),
                               rtol=1e-12, atol=1e-12)
    # the value's own mask (mask_zero) acts the same way, the query's masks rows
    vm = np.array([[1, 1, 1, 0, 0]], bool)
    np.testing.assert_allclose(to_np(backend, mha(q, v, value_mask=vm)), to_np(backend, y),
                               rtol=1e-12, atol=1e-12)


def test_mha_bad_input(backend):
    with pytest.raises(ValueError, match="num_heads"):
        L.MultiHeadAttention(0, 3)
    with pytest.raises(ValueError, match="dropout"):
        L.MultiHeadAttention(2, 3, dropout=1.5)
    mha = L.MultiHeadAttention(2, 3)
    with pytest.raises(ValueError, match="value and key"):
        mha(np.zeros((1, 2, 3), np.float32), np.zeros((1, 4, 3), np.float32), np.zeros((1, 5, 3), np.float32))
    with pytest.raises(ValueError, match="attention_axes"):
        L.MultiHeadAttention(2, 3, attention_axes=(2,))(np.zeros((1, 2, 3), np.float32),
                                                       np.zeros((1, 2, 3), np.float32))
