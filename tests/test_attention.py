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
    dict(num_heads=2, key_dim=3, value_dim=2, use_gate=True, sliding_window=2),
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


# ---------------------------------------------------------------------------- functional MHA
def test_mha_in_functional_models(backend, f64):
    rng = np.random.default_rng(6)
    q, v, k = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 6, 3)), rng.standard_normal((3, 6, 7))
    qi, vi, ki = pn.Input((4, 5)), pn.Input((6, 3)), pn.Input((6, 7))
    mha = L.MultiHeadAttention(2, 3, name="mha")
    out = mha(qi, vi, ki)
    assert out.shape == (None, 4, 5)
    model = pn.Model([qi, vi, ki], out)
    _randomize(mha)
    ref, _ = np_mha(mha.get_weights(), q, v, k)
    np.testing.assert_allclose(to_np(backend, model.predict([q, v, k], verbose=0)), ref,
                               rtol=1e-12, atol=1e-12)
    # mha(query, value) with an attention_mask tensor and the causal mask; scores as a second output
    am_in = pn.Input((4, 6))
    mha2 = L.MultiHeadAttention(2, 3, name="mha2")
    y, s = mha2(qi, vi, attention_mask=am_in, use_causal_mask=True, return_attention_scores=True)
    assert s.shape == (None, 2, 4, 6)
    model2 = pn.Model([qi, vi, am_in], [y, s])
    am = (rng.random((3, 4, 6)) > 0.3).astype(np.float64)
    am[:, :, 0] = 1
    got_y, got_s = model2.predict([q, v, am], verbose=0)
    causal = np.arange(4)[:, None] >= np.arange(6)[None, :]
    ref_y, ref_s = np_mha(mha2.get_weights(), q, v, mask=(am > 0) & causal[None])
    np.testing.assert_allclose(to_np(backend, got_y), ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_np(backend, got_s), ref_s, rtol=1e-12, atol=1e-12)
    # the graph config keeps the call's flags: the rebuilt model computes the same
    clone = pn.models.Functional.from_config(model2.get_config())
    clone.set_weights(model2.get_weights())
    for a, b in zip(clone.predict([q, v, am], verbose=0), (got_y, got_s)):
        np.testing.assert_allclose(to_np(backend, a), to_np(backend, b), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="same return_attention_scores"):
        mha2(qi, vi, attention_mask=am_in)


def test_mha_uses_the_masks_of_its_inputs(backend, f64):
    tokens = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 0]])
    inp = pn.Input((5,), dtype="int64")
    emb = L.Embedding(10, 4, mask_zero=True, name="emb")
    e = emb(inp)
    mha = L.MultiHeadAttention(2, 3, name="mha")
    model = pn.Model(inp, mha(e, e))
    got = to_np(backend, model.predict(tokens, verbose=0))
    x = emb.get_weights()[0][tokens]
    m = tokens != 0
    ref, _ = np_mha(mha.get_weights(), x, x, mask=m[:, :, None] & m[:, None, :])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def _encoder_block(x, d_model, heads, ff, name):
    attn = L.MultiHeadAttention(heads, d_model // heads, name=f"{name}_mha")(x, x)
    x = L.LayerNormalization(name=f"{name}_ln1")(L.Add(name=f"{name}_add1")([x, attn]))
    f = L.Dense(ff, activation="relu", name=f"{name}_ff1")(x)
    f = L.Dense(d_model, name=f"{name}_ff2")(f)
    return L.LayerNormalization(name=f"{name}_ln2")(L.Add(name=f"{name}_add2")([x, f]))


def test_transformer_encoder_block_learns_and_saves(backend, tmp_path):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((256, 8, 4)).astype(np.float32)
    # each position needs the whole sequence: its own feature 1 plus the mean of feature 0
    y = (x[:, :, 1] + np.mean(x[:, :, 0], axis=1, keepdims=True))[..., None].astype(np.float32)
    pn.utils.set_random_seed(0)
    inp = pn.Input((8, 4))
    h = L.Dense(16, name="embed")(inp)
    h = _encoder_block(h, 16, 2, 32, "enc")
    model = pn.Model(inp, L.Dense(1, name="head")(h))
    model.compile(optimizer=pn.optimizers.Adam(learning_rate=3e-3), loss="mse")
    before = float(model.evaluate(x, y, verbose=0))
    hist = model.fit(x, y, epochs=25, batch_size=32, verbose=0)
    after = float(model.evaluate(x, y, verbose=0))
    assert after < 0.05 * before, (before, hist.history["loss"][-5:], after)
    path = tmp_path / "enc.portanet"
    model.save(path)
    loaded = pn.load_model(path)
    np.testing.assert_allclose(to_np(backend, loaded.predict(x[:16], verbose=0)),
                               to_np(backend, model.predict(x[:16], verbose=0)), rtol=1e-6, atol=1e-6)
    assert [w.shape for w in loaded.get_layer("enc_mha").get_weights()] == [
        (16, 2, 8), (2, 8), (16, 2, 8), (2, 8), (16, 2, 8), (2, 8), (2, 8, 16), (16,)]


# ---------------------------------------------------------------------------- Attention layers
def np_attention(q, v, k=None, q_mask=None, v_mask=None, causal=False, mode="dot", scale=None,
                 concat_w=None, additive_scale=None, additive=False):
    """Keras's Attention / AdditiveAttention in NumPy."""
    k = v if k is None else k
    if additive:
        t = np.tanh(q[:, :, None, :] + k[:, None, :, :])
        scores = np.sum((1.0 if additive_scale is None else additive_scale) * t, axis=-1)
    elif mode == "dot":
        scores = q @ np.swapaxes(k, -1, -2) * (1.0 if scale is None else scale)
    else:
        u = q[:, :, None, :] + k[:, None, :, :]
        scores = concat_w * np.sum(np.tanh((1.0 if scale is None else scale) * u), axis=-1)
    mask = None if v_mask is None else v_mask[:, None, :]
    if causal:
        c = np.tril(np.ones((scores.shape[-2], scores.shape[-1]), bool))[None]
        mask = c if mask is None else mask & c
    if mask is not None:
        scores = scores - 1e9 * (~mask)
    w = np_softmax(scores)
    out = w @ v
    if q_mask is not None:
        out = out * q_mask[..., None]
    return out, w


def test_attention_matches_numpy(backend, f64):
    rng = np.random.default_rng(8)
    q, v, k = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 4))
    qm = np.array([[1, 1, 0], [1, 1, 1]], bool)
    vm = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    for mode in ("dot", "concat"):
        layer = L.Attention(use_scale=True, score_mode=mode)
        layer([q, v, k])
        names = ["scale"] + (["concat_score_weight"] if mode == "concat" else [])
        assert [w.name for w in layer.weights] == names and all(w.shape == () for w in layer.weights)
        layer.set_weights([np.array(0.7), np.array(1.3)][:len(names)])
        out, w = layer([q, v, k], mask=[qm, vm], return_attention_scores=True, use_causal_mask=True)
        ref_o, ref_w = np_attention(q, v, k, qm, vm, causal=True, mode=mode, scale=0.7, concat_w=1.3)
        np.testing.assert_allclose(to_np(backend, out), ref_o, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(to_np(backend, w), ref_w, rtol=1e-12, atol=1e-12)
        assert np.all(to_np(backend, out)[0, 2] == 0)
    plain = L.Attention()
    np.testing.assert_allclose(to_np(backend, plain([q, v])), np_attention(q, v)[0], rtol=1e-12, atol=1e-12)
    assert plain.weights == []


def test_additive_attention_matches_numpy(backend, f64):
    rng = np.random.default_rng(9)
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    vm = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    layer = L.AdditiveAttention()
    out = layer([q, v], mask=[None, vm])
    (scale,) = layer.get_weights()
    assert scale.shape == (4,) and layer.weights[0].name == "scale"
    ref, _ = np_attention(q, v, v_mask=vm, additive=True, additive_scale=scale)
    np.testing.assert_allclose(to_np(backend, out), ref, rtol=1e-12, atol=1e-12)
    no_scale = L.AdditiveAttention(use_scale=False)
    ref, _ = np_attention(q, v, additive=True)
    np.testing.assert_allclose(to_np(backend, no_scale([q, v])), ref, rtol=1e-12, atol=1e-12)
    assert "score_mode" not in layer.get_config()
    assert layer.get_config()["use_scale"] is True


@pytest.mark.parametrize("make,n_inputs", [
    (lambda: L.Attention(), 2),
    (lambda: L.Attention(use_scale=True), 3),
    (lambda: L.Attention(use_scale=True, score_mode="concat"), 3),
    (lambda: L.Attention(return_attention_scores=True, use_causal_mask=True, use_scale=True), 2),
    (lambda: L.AdditiveAttention(), 2),
    (lambda: L.AdditiveAttention(use_scale=False), 3),
])
def test_attention_layers_harness(backend, make, n_inputs):
    shapes = [(2, 3, 4), (2, 5, 4), (2, 5, 4)][:n_inputs]
    run_layer_test(make, shapes, backend)


def test_attention_gradients_with_masks_and_dropout(backend, f64):
    rng = np.random.default_rng(10)
    q, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    vm = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    layer = L.AdditiveAttention(dropout=0.4)
    check_gradients(lambda: layer, [q, v], backend, training=True)
    pn.utils.set_random_seed(1)
    a = to_np(backend, layer([q, v], training=True))
    assert np.max(np.abs(a - to_np(backend, layer([q, v])))) > 1e-3
    # masked values get no gradient
    layer = L.Attention(use_scale=True)
    layer([q, v])
    y, back, _, _ = layer.run([backend.asarray(q), backend.asarray(v)], mask=[None, backend.asarray(vm)])
    dq, dv = back(backend.asarray(np.ones((2, 3, 4))))
    assert np.all(np.abs(to_np(backend, dv)[0, 3:]) < 1e-9)


def test_attention_in_functional_model_with_embedding_masks(backend, f64):
    tokens = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 0]])
    inp = pn.Input((5,), dtype="int64")
    emb = L.Embedding(10, 4, mask_zero=True, name="emb")
    e = emb(inp)
    att = L.Attention(use_scale=True, name="att")
    out, scores = att([e, e], return_attention_scores=True)
    model = pn.Model(inp, [out, scores])
    got_o, got_s = model.predict(tokens, verbose=0)
    x = emb.get_weights()[0][tokens]
    m = tokens != 0
    ref_o, ref_s = np_attention(x, x, q_mask=m, v_mask=m, scale=1.0)
    np.testing.assert_allclose(to_np(backend, got_o), ref_o, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_np(backend, got_s), ref_s, rtol=1e-12, atol=1e-12)
    clone = pn.models.Functional.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(to_np(backend, clone.predict(tokens, verbose=0)[1]), ref_s, rtol=1e-12)


def test_attention_bad_input(backend):
    with pytest.raises(ValueError, match="score_mode"):
        L.Attention(score_mode="cosine")
    with pytest.raises(ValueError, match="dropout"):
        L.AdditiveAttention(dropout=-0.1)
    with pytest.raises(ValueError, match="list"):
        L.Attention()(np.zeros((1, 2, 3), np.float32))


class _CausalBlock(L.Layer):
    """A call() layer using MultiHeadAttention with keyword flags (traced through the tape)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mha = L.MultiHeadAttention(2, 3)
        self.ln = L.LayerNormalization()

    def call(self, x):
        return self.ln(x + self.mha(x, x, use_causal_mask=True))


def test_mha_inside_a_call_layer_gradients(backend, f64):
    x = np.random.default_rng(11).standard_normal((2, 4, 5))
    layer = check_gradients(_CausalBlock, x, backend)
    assert len(layer.weights) == 10
    # the causal flag was honoured inside the trace: the first step ignores the rest
    x2 = x.copy()
    x2[:, 1:] += 1.0
    np.testing.assert_allclose(to_np(backend, layer(x2))[:, 0], to_np(backend, layer(x))[:, 0],
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- GroupedQueryAttention
def np_gqa(weights, q, v, k=None, mask=None):
    """Keras's GroupedQueryAttention.call in NumPy."""
    k = v if k is None else k
    qk, qb, kk, kb, vk, vb, ok, ob = weights
    Q = np.einsum("bqm,muh->bquh", q, qk) + qb
    K = np.einsum("bkm,mvh->bkvh", k, kk) + kb
    V = np.einsum("bkm,mvh->bkvh", v, vk) + vb
    r = Q.shape[2] // K.shape[2]
    K, V = np.repeat(K, r, axis=2), np.repeat(V, r, axis=2)
    scores = np.einsum("bquh,bkuh->buqk", Q / np.sqrt(float(qk.shape[-1])), K)
    probs = np_softmax(scores, mask=None if mask is None else mask[:, None])
    out = np.einsum("buqk,bkuh->bquh", probs, V)
    return np.einsum("bquh,uhm->bqm", out, ok) + ob, probs


def test_grouped_query_attention_matches_numpy(backend, f64):
    rng = np.random.default_rng(12)
    q, v, k = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 5, 6))
    gqa = L.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2)
    assert isinstance(gqa, L.GroupedQueryAttention)
    gqa(q, v, k)
    assert [w.shape for w in gqa.get_weights()] == [(6, 4, 3), (4, 3), (6, 2, 3), (2, 3), (6, 2, 3),
                                                     (2, 3), (4, 3, 6), (6,)]
    _randomize(gqa)
    am = rng.random((2, 4, 5)) > 0.3
    am[:, :, 0] = True
    causal = np.arange(4)[:, None] >= np.arange(5)[None, :]
    y, s = gqa(q, v, k, attention_mask=am, use_causal_mask=True, return_attention_scores=True)
    ref_y, ref_s = np_gqa(gqa.get_weights(), q, v, k, mask=am & causal[None])
    np.testing.assert_allclose(to_np(backend, y), ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_np(backend, s), ref_s, rtol=1e-12, atol=1e-12)
    assert tuple(s.shape) == (2, 4, 4, 5)
    cfg = gqa.get_config()
    assert (cfg["head_dim"], cfg["num_query_heads"], cfg["num_key_value_heads"]) == (3, 4, 2)


@pytest.mark.parametrize("config", [
    dict(head_dim=2, num_query_heads=4, num_key_value_heads=2),
    dict(head_dim=3, num_query_heads=3, num_key_value_heads=1, use_bias=False),
    dict(head_dim=2, num_query_heads=2, num_key_value_heads=2, return_attention_scores=True,
         use_causal_mask=True),
])
def test_grouped_query_attention_harness(backend, config):
    run_layer_test(lambda: L.GroupedQueryAttention(**config), [(2, 4, 5), (2, 3, 5), (2, 3, 5)], backend)


def test_grouped_query_attention_bad_input(backend):
    with pytest.raises(ValueError, match="divisible"):
        L.GroupedQueryAttention(2, 3, 2)
    with pytest.raises(ValueError, match="last dimension"):
        L.GroupedQueryAttention(2, 2, 1)(np.zeros((1, 2, 3), np.float32), np.zeros((1, 2, 4), np.float32))


# ------------------------------------------- attention products split over threads (NumPy)
@pytest.fixture(params=[2, 64], ids=["on-views", "flattened"])
def split_attention(backend, monkeypatch, request):
    """MultiHeadAttention's products and softmax on two threads (the NumPy backend's
    "split_rows") even for these small shapes; yields the list of the splits' part counts.
    Both ways of splitting: over the first batch axis on the permuted views (a batch of
    at least _SPLIT_PIECES; 2 here), and over the flattened batch·heads rows (64: never)."""
    from portanet.backend import numpy_backend
    from portanet.layers.attention import multi_head_attention as mha_module
    monkeypatch.setattr(mha_module, "_SPLIT_MIN_SCORES", 1)
    monkeypatch.setattr(mha_module, "_SPLIT_PIECES", request.param)
    monkeypatch.setattr(numpy_backend, "_split_threads",
                        lambda: 2 if len(numpy_backend._BLAS_THREADS) == 3 else 1)
    parts = []
    original = numpy_backend._run_split

    def counting(fn, chunks, threads):
        parts.append(min(threads, len(chunks)))
        return original(fn, chunks, threads)
    monkeypatch.setattr(numpy_backend, "_run_split", counting)
    yield parts
    if backend.name == "numpy" and len(numpy_backend._BLAS_THREADS) == 3:
        assert parts and max(parts) == 2     # the split did run


def test_mha_split_over_threads_matches_numpy(backend, f64, split_attention):
    """Outputs and scores (with attention and causal masks), other attention axes, and
    finite-difference gradients with masks, the products split over threads."""
    test_mha_matches_numpy(backend, None)
    test_mha_attention_axes_matches_numpy(backend, None)
    rng = np.random.default_rng(2)
    q, v, k = rng.standard_normal((2, 4, 5)), rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 7))
    am = rng.random((2, 4, 6)) > 0.4
    am[:, :, 0] = True
    check_gradients(lambda: L.MultiHeadAttention(2, 3, use_causal_mask=True), [q, v, k, am], backend)


@pytest.mark.parametrize("config", [
    dict(num_heads=2, key_dim=3, return_attention_scores=True, use_causal_mask=True),
    dict(num_heads=2, key_dim=3, value_dim=2, use_gate=True, sliding_window=2),
])
def test_mha_harness_split_over_threads(backend, config, split_attention):
    run_layer_test(lambda: L.MultiHeadAttention(**config), [(2, 4, 5), (2, 4, 3)], backend)


def test_grouped_query_attention_split_over_threads(backend, f64, split_attention):
    """Grouped key/value heads (repeated before the products, summed after) with the
    products split: values against the NumPy reference and finite-difference gradients."""
    test_grouped_query_attention_matches_numpy(backend, None)
    run_layer_test(lambda: L.GroupedQueryAttention(head_dim=2, num_query_heads=4,
                                                   num_key_value_heads=2),
                   [(2, 4, 5), (2, 3, 5), (2, 3, 5)], backend)
