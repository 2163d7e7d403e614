"""Adaptive pooling, SpectralNormalization, Wrapper, Pipeline, ReversibleEmbedding,
STFTSpectrogram, MelSpectrogram, InputSpec, the STFT initializer and the Keras aliases
(issue 16): the shared harness on every backend, and Keras 3.15.1's outputs and gradients
stored in tests/keras_reference/layers_a.npz by make_layers_a_reference.py (float64)."""

import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import layer_forward, numeric_grad, run_layer_test, to_np

HERE = pathlib.Path(__file__).parent / "keras_reference"
sys.path.insert(0, str(HERE))
from make_layers_a_reference import CASES  # noqa: E402

STORED = np.load(HERE / "layers_a.npz")
# XLA's CPU tanh and sin/cos are accurate to ~1e-7 in float64, so values near zero get an
# absolute tolerance of 1e-6.
TOL = dict(rtol=1e-6, atol=1e-6)
# Keras builds the mel filter bank in float32 with XLA's float32 log and linspace; the
# bank's entries differ from NumPy's float32 ones by up to ~1e-6 (10 float32 ulps), so the
# mel cases agree to 1e-5 relative, their input gradients (up to ~20) to 3e-5 absolute
# (the STFT before the bank agrees to 1e-14).
LOOSE = dict(rtol=1e-5, atol=3e-5)


class _Reverse(pn.layers.Layer):
    """``emb(x, reverse=True)`` as a call() layer, so the harness can differentiate it."""

    def __init__(self, emb, **kwargs):
        super().__init__(**kwargs)
        self.emb = emb

    def call(self, x):
        return self.emb(x, reverse=True)

    def get_config(self):
        return {**super().get_config(), "emb": pn.layers.serialize(self.emb)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(pn.layers.deserialize(config.pop("emb")), **config)


def make_layer(cls_name, kwargs):
    kwargs = dict(kwargs)
    if "layer" in kwargs:
        inner, inner_kwargs = kwargs.pop("layer")
        kwargs["layer"] = getattr(pn.layers, inner)(**inner_kwargs)
    if "layers" in kwargs:
        kwargs["layers"] = [getattr(pn.layers, c)(**k) for c, k in kwargs["layers"]]
    return getattr(pn.layers, cls_name)(**kwargs)


def compare_with_keras(backend, name):
    """Portanet's outputs, weight updates and gradients against the stored Keras ones."""
    cls_name, kwargs, shape, call_kwargs, options = CASES[name]
    get = lambda key: STORED[f"{name}/{key}"]  # noqa: E731
    tol = LOOSE if cls_name == "MelSpectrogram" else TOL
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    try:
        layer = make_layer(cls_name, kwargs)
        x = get("x")
        if call_kwargs.get("reverse"):
            layer.build((None, 3))
            runner = _Reverse(layer)
        else:
            layer._maybe_build(tuple(x.shape)) if layer.backend else None
            runner = layer
        layer_forward(runner, backend, x)        # builds
        n = sum(1 for k in STORED.files if k.startswith(f"{name}/w"))
        weights = [get(f"w{i}") for i in range(n)]
        if options.get("keep_init"):
            # Keras's own initial STFT kernels: portanet's initializer draws the same (Keras's
            # are computed in float32 even with floatx float64, angles 2π·t·f/F included: they
            # agree to 2e-6).
            for mine, theirs in zip(layer.get_weights(), weights):
                np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=2e-6)
        layer.set_weights(weights)
        training = options.get("training", False)
        y, back = layer_forward(runner, backend, x, training=training)
        ys = y if isinstance(y, list) else [y]
        for i, o in enumerate(ys):
            np.testing.assert_allclose(to_np(backend, o), get(f"y{i}"), **tol,
                                       err_msg=f"{name}: output {i}")
        if training:
            for i, w in enumerate(layer.get_weights()):
                np.testing.assert_allclose(w, get(f"after{i}"), **TOL,
                                           err_msg=f"{name}: weight {i} after the call")
            y, back = layer_forward(runner, backend, x, training=False)
        for v in layer.weights:
            v.grad = None
        rs = [backend.asarray(get(f"r{i}")) for i in range(len(ys))]
        dx = back(rs if isinstance(y, list) else rs[0])
        np.testing.assert_allclose(to_np(backend, dx), get("dx"), **tol,
                                   err_msg=f"{name}: input gradient")
        for i, v in enumerate(layer.trainable_weights):
            # A weight the call does not use (the untied table in a reverse call) has no
            # gradient: Keras reports zeros.
            g = np.zeros(v.shape) if v.grad is None else to_np(backend, v.grad)
            np.testing.assert_allclose(g, get(f"dw{i}"), **tol,
                                       err_msg=f"{name}: gradient of {v.path}")
    finally:
        pn.config.set_floatx(old)


NOT_CONV_LSTM = sorted(n for n in CASES if not n.startswith("convlstm"))


@pytest.mark.parametrize("name", NOT_CONV_LSTM)
def test_matches_stored_keras(backend, name):
    compare_with_keras(backend, name)


# ---------------------------------------------------------------- the shared harness
@pytest.mark.parametrize("cls, size, shape", [
    (pn.layers.AdaptiveAveragePooling1D, 3, (2, 7, 2)),
    (pn.layers.AdaptiveMaxPooling1D, 4, (2, 9, 2)),
    (pn.layers.AdaptiveAveragePooling2D, (2, 3), (2, 5, 4, 2)),
    (pn.layers.AdaptiveMaxPooling2D, 2, (2, 5, 4, 2)),
    (pn.layers.AdaptiveAveragePooling3D, 2, (1, 3, 4, 5, 2)),
    (pn.layers.AdaptiveMaxPooling3D, (1, 2, 2), (1, 3, 4, 5, 2)),
])
def test_adaptive_pooling_harness(backend, cls, size, shape):
    out = (2,) * len(shape[1:-1]) if isinstance(size, int) else size
    size_t = (size,) * len(out) if isinstance(size, int) else size
    run_layer_test(lambda: cls(size), shape, backend,
                   expected_output_shape=(shape[0],) + tuple(size_t) + (shape[-1],))


def test_adaptive_pool_ops_hand_computed(backend):
    x = backend.asarray(np.arange(10.0).reshape(1, 5, 2))
    # L=5, O=3: bins [0,2), [1,4), [3,5)
    avg = to_np(backend, pn.ops.adaptive_average_pool(x, 3))
    np.testing.assert_allclose(avg[0, :, 0], [1.0, 4.0, 7.0])
    mx = to_np(backend, pn.ops.adaptive_max_pool(x, 3))
    np.testing.assert_allclose(mx[0, :, 1], [3.0, 7.0, 9.0])
    with pytest.raises(ValueError, match="output_size"):
        pn.ops.adaptive_average_pool(x, 0)
    with pytest.raises(ValueError, match="output_size"):
        pn.layers.AdaptiveMaxPooling2D((2, 3, 4))


def test_spectral_normalization_harness_and_power_iteration(backend):
    run_layer_test(lambda: pn.layers.SpectralNormalization(pn.layers.Dense(3)), (4, 5), backend,
                   expected_num_weights=3)
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    try:
        layer = pn.layers.SpectralNormalization(pn.layers.Dense(4), power_iterations=30)
        x = np.random.default_rng(1).standard_normal((3, 6))
        layer(x)
        assert [v.name for v in layer.weights] == ["kernel", "vector_u", "bias"]
        assert [v.name for v in layer.trainable_weights] == ["kernel", "bias"]
        before = layer.get_weights()
        layer(x, training=False)                 # inference: nothing changes
        for a, b in zip(before, layer.get_weights()):
            np.testing.assert_array_equal(a, b)
        layer(x, training=True)
        kernel = layer.get_weights()[0]
        # After enough power iterations the largest singular value is 1.
        assert abs(np.linalg.svd(kernel, compute_uv=False)[0] - 1.0) < 1e-8
        with pytest.raises(ValueError, match="power_iterations"):
            pn.layers.SpectralNormalization(pn.layers.Dense(2), power_iterations=0)
        with pytest.raises(ValueError, match="kernel"):
            pn.layers.SpectralNormalization(pn.layers.ReLU())(x)
    finally:
        pn.config.set_floatx(old)


def test_wrapper_base_and_subclass(backend):
    run_layer_test(lambda: pn.layers.Wrapper(pn.layers.Dense(2)), (3, 4), backend,
                   expected_num_weights=2)

    class Doubled(pn.layers.Wrapper):
        def call(self, x):
            return 2.0 * self.layer(x)

    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    try:
        inner = pn.layers.Dense(2)
        layer = Doubled(inner)
        x = np.ones((3, 4))
        np.testing.assert_allclose(to_np(backend, layer(x)), 2 * to_np(backend, inner(x)))
        assert len(layer.weights) == 2
        config = layer.get_config()
        assert config["layer"]["class_name"] == "Dense"
        with pytest.raises(ValueError, match="layer"):
            pn.layers.Wrapper("dense")
    finally:
        pn.config.set_floatx(old)


def test_pipeline_harness_and_config(backend):
    make = lambda: pn.layers.Pipeline([pn.layers.Dense(3), pn.layers.Dense(2, activation="tanh")])  # noqa: E731
    run_layer_test(make, (4, 5), backend, expected_output_shape=(4, 2), expected_num_weights=4)
    p = make()
    config = p.get_config()
    assert set(config) == {"layers", "name"}
    assert [c["class_name"] for c in config["layers"]] == ["Dense", "Dense"]
    with pytest.raises(TypeError, match="layers"):
        pn.layers.Pipeline(pn.layers.Dense(2))


def test_pipeline_training_default_is_true(backend):
    # Called directly, a Pipeline runs its layers in training mode (Keras's default).
    p = pn.layers.Pipeline([pn.layers.Dropout(0.5, seed=1)])
    y = to_np(backend, p(np.ones((4, 50), dtype=np.float32)))
    assert (y == 0).any()
    y = to_np(backend, p(np.ones((4, 50), dtype=np.float32), training=False))
    assert (y == 1).all()


def test_reversible_embedding_harness_and_reverse(backend):
    ids = np.array([[1, 2, 0], [4, 4, 6]])
    run_layer_test(lambda: pn.layers.ReversibleEmbedding(7, 3), None, backend, input_data=ids,
                   check_input_grad=False, expected_output_shape=(2, 3, 3))
    # (The untied table is compared with Keras above: the harness wants every weight used.)
    run_layer_test(lambda: _Reverse(pn.layers.ReversibleEmbedding(7, 3, logit_soft_cap=3.0)),
                   (2, 3), backend, expected_output_shape=(2, 7), training_step=True)
    layer = pn.layers.ReversibleEmbedding(5, 2, logit_soft_cap=0.5)
    h = layer(np.array([[1, 2]]))
    logits = to_np(backend, layer(h, reverse=True))
    assert logits.shape == (1, 2, 5) and np.abs(logits).max() <= 0.5
    with pytest.raises(ValueError, match="logit_soft_cap"):
        pn.layers.ReversibleEmbedding(5, 2, logit_soft_cap=-1.0)
    with pytest.raises(ValueError, match="output_dim"):
        layer(np.ones((2, 3)), reverse=True)


@pytest.mark.parametrize("name", ["reversible_tied_cap", "reversible_untied"])
def test_reversible_embedding_reverse_in_a_functional_model(backend, name, tmp_path):
    """``emb(h, reverse=True)`` on a symbolic tensor records a node with kwargs
    {"reverse": True} (Keras's config), and the model's run gives Keras's stored outputs and
    gradients (the same cases as the call() runner above)."""
    cls_name, kwargs, shape, _, _ = CASES[name]
    get = lambda key: STORED[f"{name}/{key}"]  # noqa: E731
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    try:
        layer = make_layer(cls_name, kwargs)
        inp = pn.Input(shape[1:])
        out = layer(inp, reverse=True)
        assert out.shape == (None, 3, 7)
        model = pn.Model(inp, out)
        n = sum(1 for k in STORED.files if k.startswith(f"{name}/w"))
        layer.set_weights([get(f"w{i}") for i in range(n)])
        node = model.get_config()["layers"][1]["inbound_nodes"][0]
        assert node["kwargs"] == {"reverse": True}
        y, back, _, _ = model.run(backend.asarray(get("x")))
        np.testing.assert_allclose(to_np(backend, y), get("y0"), **TOL)
        for v in layer.weights:
            v.grad = None
        dx = back(backend.asarray(get("r0")))
        np.testing.assert_allclose(to_np(backend, dx), get("dx"), **TOL)
        for i, v in enumerate(layer.trainable_weights):
            g = np.zeros(v.shape) if v.grad is None else to_np(backend, v.grad)
            np.testing.assert_allclose(g, get(f"dw{i}"), **TOL, err_msg=f"gradient of {v.path}")
        # The config (and a .keras file) replays the reverse call.
        again = pn.Model.from_config(model.get_config())
        again.set_weights(model.get_weights())
        np.testing.assert_allclose(again.predict(get("x"), verbose=0), get("y0"), **TOL)
        model.save(tmp_path / "rev.keras")
        loaded = pn.saving.load_model(tmp_path / "rev.keras")
        np.testing.assert_allclose(loaded.predict(get("x"), verbose=0), get("y0"), **TOL)
    finally:
        pn.config.set_floatx(old)


def test_reversible_embedding_tied_language_model(backend):
    """Keras's pattern: ids -> emb -> Dense -> emb(reverse=True); the table gets the
    gradients of both calls, and fit matches the finite-difference gradient."""
    emb = pn.layers.ReversibleEmbedding(5, 3, name="emb")
    ids = pn.Input((4,), dtype="int32")
    logits = emb(pn.layers.Dense(3, name="mix")(emb(ids)), reverse=True)
    model = pn.Model(ids, logits)
    # Keras's model.layers: the shared layer once.
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "ReversibleEmbedding", "Dense"]
    rng = np.random.default_rng(3)
    table = rng.normal(size=(5, 3))
    kernel, bias = rng.normal(size=(3, 3)), rng.normal(size=3)
    model.set_weights([table.astype("float32"), kernel.astype("float32"), bias.astype("float32")])
    x = np.array([[0, 1, 2, 3], [4, 0, 0, 1]])
    want = (table[x] @ kernel + bias) @ table.T
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    y, back, _, _ = model.run(backend.asarray(x))
    r = rng.normal(size=want.shape)
    for v in model.weights:
        v.grad = None
    back(backend.asarray(r.astype("float32")))

    def loss():
        return float(np.sum(((table[x] @ kernel + bias) @ table.T) * r))
    idx = [(0, 0), (1, 2), (4, 1), (2, 0)]
    num = numeric_grad(loss, table, idx)
    got = to_np(backend, emb.embeddings.grad)
    np.testing.assert_allclose([got[i] for i in idx], num, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kwargs, shape", [
    (dict(frame_length=8, frame_step=4, fft_length=8), (2, 24, 1)),
    (dict(mode="stft", frame_length=6, frame_step=3, expand_dims=True, window="hamming"), (2, 18, 2)),
    (dict(mode="real", frame_length=6, padding="same", data_format="channels_first"), (2, 2, 15)),
])
def test_stft_spectrogram_harness(backend, kwargs, shape):
    run_layer_test(lambda: pn.layers.STFTSpectrogram(**kwargs), shape, backend)


def test_mel_spectrogram_harness(backend):
    make = lambda: pn.layers.MelSpectrogram(fft_length=16, sequence_stride=8, num_mel_bins=4,  # noqa: E731
                                            sampling_rate=800, power_to_db=False)
    run_layer_test(make, (2, 40), backend, expected_output_shape=(2, 4, 6))
    mel = make()
    assert to_np(backend, mel(np.ones(40))).shape == (4, 6)
    with pytest.raises(ValueError, match="fft_length"):
        pn.layers.MelSpectrogram(fft_length=16, sequence_length=32)
    with pytest.raises(ValueError, match="window"):
        pn.layers.MelSpectrogram(window="kaiser")


def test_stft_initializer_and_aliases():
    init = pn.initializers.get("stft")
    assert isinstance(init, pn.initializers.STFT)
    assert pn.initializers.STFTInitializer is pn.initializers.STFT
    k = pn.initializers.STFT("real", None, None)((4, 1, 3), dtype="float64")
    # cos(-2π t f / 4): f=1 column is 1, 0, -1, 0
    np.testing.assert_allclose(k[:, 0, 1], [1.0, 0.0, -1.0, 0.0], atol=1e-15)
    config = pn.initializers.serialize(pn.initializers.STFT("imag", "hamming", "spectrum", True))
    again = pn.initializers.deserialize(config)
    assert (again.side, again.window, again.scaling, again.periodic) == ("imag", "hamming", "spectrum", True)
    with pytest.raises(ValueError, match="side"):
        pn.initializers.STFT(side="complex")
    with pytest.raises(ValueError, match="window"):
        pn.initializers.STFT(window="kaiser")
    for alias, cls in [("IdentityInitializer", "Identity"), ("OrthogonalInitializer", "Orthogonal"),
                       ("glorot_normal", "GlorotNormal"), ("glorot_uniform", "GlorotUniform"),
                       ("he_normal", "HeNormal"), ("he_uniform", "HeUniform"),
                       ("identity", "Identity"), ("lecun_normal", "LecunNormal"),
                       ("lecun_uniform", "LecunUniform"), ("orthogonal", "Orthogonal"),
                       ("random_normal", "RandomNormal"), ("random_uniform", "RandomUniform"),
                       ("stft", "STFT"), ("truncated_normal", "TruncatedNormal"),
                       ("variance_scaling", "VarianceScaling")]:
        assert getattr(pn.initializers, alias) is getattr(pn.initializers, cls)
    assert pn.regularizers.orthogonal_regularizer is pn.regularizers.OrthogonalRegularizer


def test_layer_aliases_and_input_spec():
    assert pn.layers.AvgPool3D is pn.layers.AveragePooling3D
    assert pn.layers.MaxPool3D is pn.layers.MaxPooling3D
    assert pn.layers.GlobalAvgPool3D is pn.layers.GlobalAveragePooling3D
    assert pn.layers.GlobalMaxPool3D is pn.layers.GlobalMaxPooling3D
    spec = pn.layers.InputSpec(ndim=3, axes={-1: 4})
    assert repr(spec) == "InputSpec(ndim=3, axes={-1: 4})"
    spec.assert_compatible((None, 7, 4), "layer")
    with pytest.raises(ValueError, match="expected ndim=3"):
        spec.assert_compatible((2, 4), "layer")
    with pytest.raises(ValueError, match="axis -1"):
        spec.assert_compatible((2, 3, 5), "layer")
    again = pn.layers.InputSpec.from_config(pn.layers.InputSpec(shape=(None, 3)).get_config())
    assert again.shape == (None, 3) and again.ndim == 2
    with pytest.raises(TypeError, match="axes"):
        pn.layers.InputSpec(axes={"a": 1})


def test_names_keras_exports_exist():
    """Every name of this helper's part of keras.layers / initializers / regularizers."""
    layers = ["AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
              "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
              "AvgPool3D", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "GlobalAvgPool3D",
              "GlobalMaxPool3D", "InputSpec", "MaxPool3D", "MelSpectrogram", "Pipeline",
              "ReversibleEmbedding", "STFTSpectrogram", "SpectralNormalization", "Wrapper"]
    assert [n for n in layers if not hasattr(pn.layers, n)] == []
    for n in ("adaptive_average_pool", "adaptive_max_pool"):
        assert hasattr(pn.ops, n) and n in pn.ops.ALL


def test_models_with_the_new_layers_save_and_load(backend, float64, tmp_path):
    rng = np.random.default_rng(7)
    inputs = pn.Input((3, 6, 5, 2))
    x = pn.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)(inputs)
    x = pn.layers.ConvLSTM2D(2, 2)(x)
    x = pn.layers.AdaptiveAveragePooling2D((2, 2))(x)
    x = pn.layers.Flatten()(x)
    x = pn.layers.SpectralNormalization(pn.layers.Dense(4))(x)
    x = pn.layers.Pipeline([pn.layers.Dense(3), pn.layers.Activation("tanh")])(x)
    model = pn.Model(inputs, x)
    model.compile(optimizer="adam", loss="mse")
    data, target = rng.standard_normal((4, 3, 6, 5, 2)), rng.standard_normal((4, 3))
    model.fit(data, target, epochs=1, batch_size=2, verbose=0)
    path = tmp_path / "model.portanet"
    model.save(path)
    loaded = pn.load_model(path)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0),
                               rtol=1e-12, atol=1e-12)
    assert [w.shape for w in loaded.get_weights()] == [w.shape for w in model.get_weights()]
