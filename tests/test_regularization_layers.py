import math

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def test_spatial_dropout_1d_drops_whole_channels(backend):
    layer = pn.layers.SpatialDropout1D(0.4)
    x = np.ones((40, 5, 30), "float32")
    y = to_np(backend, layer(x, training=True))
    # Each (sample, channel) is constant along the steps: 0 or 1/(1 - rate).
    assert np.all(y == y[:, :1, :])
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.6)}
    assert abs((y[:, 0, :] == 0).mean() - 0.4) < 0.05
    np.testing.assert_array_equal(to_np(backend, layer(x)), x)
    run_layer_test(lambda: pn.layers.SpatialDropout1D(0.5), (3, 4, 6), backend, training=True)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_2d_and_3d(backend, data_format):
    layer = pn.layers.SpatialDropout2D(0.5, data_format=data_format)
    x = np.ones((30, 3, 4, 20), "float32") if data_format == "channels_last" else np.ones((30, 20, 3, 4), "float32")
    y = to_np(backend, layer(x, training=True))
    if data_format == "channels_last":
        assert np.all(y == y[:, :1, :1, :])
        frac = (y[:, 0, 0, :] == 0).mean()
    else:
        assert np.all(y == y[:, :, :1, :1])
        frac = (y[:, :, 0, 0] == 0).mean()
    assert abs(frac - 0.5) < 0.06
    run_layer_test(lambda: pn.layers.SpatialDropout2D(0.3, data_format=data_format), (2, 3, 4, 5), backend,
                   training=True)
    y3 = to_np(backend, pn.layers.SpatialDropout3D(0.5, data_format=data_format)(
        np.ones((4, 3, 3, 3, 3), "float32"), training=True))
    ref = y3[:, :1, :1, :1, :] if data_format == "channels_last" else y3[:, :, :1, :1, :1]
    assert np.all(y3 == ref)


def test_gaussian_noise(backend):
    layer = pn.layers.GaussianNoise(0.3)
    x = np.full((200, 100), 2.0, "float32")
    noise = to_np(backend, layer(x, training=True)).astype(np.float64) - 2.0
    assert abs(noise.mean()) < 0.009   # 4 standard errors of 20,000 draws
    assert abs(noise.std() - 0.3) < 0.006
    np.testing.assert_array_equal(to_np(backend, layer(x)), x)
    run_layer_test(lambda: pn.layers.GaussianNoise(0.5), (3, 4), backend, training=True)


def test_gaussian_dropout(backend):
    rate = 0.2
    layer = pn.layers.GaussianDropout(rate)
    x = np.full((200, 100), 3.0, "float32")
    factor = to_np(backend, layer(x, training=True)).astype(np.float64) / 3.0
    # 20,000 draws of stddev 0.5: standard errors 0.0035 (mean) and 0.0025 (stddev).
    assert abs(factor.mean() - 1.0) < 0.015
    assert abs(factor.std() - math.sqrt(rate / (1 - rate))) < 0.01
    np.testing.assert_array_equal(to_np(backend, layer(x)), x)
    run_layer_test(lambda: pn.layers.GaussianDropout(0.3), (3, 4), backend, training=True)


def test_alpha_dropout_keras_formula(backend):
    rate = 0.25
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    x = np.random.default_rng(0).standard_normal((400, 250))
    old_floatx = pn.config.floatx()
    pn.config.set_floatx("float64")   # exact comparison with the formula
    try:
        layer = pn.layers.AlphaDropout(rate)
        y = to_np(backend, layer(x, training=True))
    finally:
        pn.config.set_floatx(old_floatx)
    kept = np.isclose(y, a * x + b, rtol=0, atol=1e-12)
    dropped = np.isclose(y, a * alpha_p + b, rtol=0, atol=1e-12)
    assert np.all(kept | dropped)
    assert abs(dropped.mean() - rate) < 0.01
    # Self-normalizing: zero-mean unit-variance inputs stay so.
    assert abs(y.mean()) < 0.013 and abs(y.std() - 1.0) < 0.01   # ~4 standard errors
    np.testing.assert_array_equal(to_np(backend, layer(x)), x)
    run_layer_test(lambda: pn.layers.AlphaDropout(0.3), (3, 4), backend, training=True)
    shared = to_np(backend, pn.layers.AlphaDropout(0.5, noise_shape=(None, 1))(
        np.zeros((20, 6), "float32"), training=True))
    assert all(len(np.unique(row)) == 1 for row in shared)


def test_activity_regularization_in_the_loss(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 3)).astype("float32")
    y = rng.standard_normal((12, 2)).astype("float32")
    dense = pn.layers.Dense(2, kernel_initializer="ones")
    model = pn.Sequential([pn.Input((3,)), dense, pn.layers.ActivityRegularization(l1=0.01, l2=0.1)])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.0), loss="mse")
    w = model.get_weights()
    out = x @ w[0] + w[1]
    mse = np.mean((out - y) ** 2)
    # Per batch: penalty / batch size; batches of 4 -> the epoch mean of the per-batch values.
    pen = [(0.01 * np.abs(o).sum() + 0.1 * (o ** 2).sum()) / 4 for o in np.split(out, 3)]
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=4, verbose=0), mse + np.mean(pen), rtol=1e-5)
    h = model.fit(x, y, batch_size=12, epochs=1, verbose=0, shuffle=False)
    penalty = (0.01 * np.abs(out).sum() + 0.1 * (out ** 2).sum()) / 12
    np.testing.assert_allclose(h.history["loss"][0], mse + penalty, rtol=1e-5)
    # The backward pass includes the penalty's gradient: d(Σ y·r + penalty)/dx by central differences.
    layer = pn.layers.ActivityRegularization(l1=0.5, l2=0.25)
    layer._maybe_build((3, 4))
    x0 = rng.standard_normal((3, 4))
    r = rng.standard_normal((3, 4))

    def total(xx):
        yy, _, _, extra = layer.run(backend.asarray(xx))
        return float(np.sum(to_np(backend, yy) * r) + to_np(backend, extra))
    _, back, _, _ = layer.run(backend.asarray(x0))
    analytic = to_np(backend, back(backend.asarray(r)))
    numeric = np.zeros_like(x0)
    for idx in np.ndindex(x0.shape):
        a, b = x0.copy(), x0.copy()
        a[idx] += 1e-6
        b[idx] -= 1e-6
        numeric[idx] = (total(a) - total(b)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    layer = pn.layers.ActivityRegularization(l2=1.0)
    layer._maybe_build((2, 2))
    xb = backend.asarray(np.array([[1.0, -2.0], [3.0, 0.5]]))
    yy, back, _, extra = layer.run(xb)
    np.testing.assert_allclose(to_np(backend, extra), (1 + 4 + 9 + 0.25) / 2)
    np.testing.assert_allclose(to_np(backend, back(backend.asarray(np.zeros((2, 2))))),
                               2 * to_np(backend, xb) / 2)
    assert layer.get_config()["l2"] == 1.0 and "activity_regularizer" not in layer.get_config()


def test_config_round_trips():
    for layer in [pn.layers.SpatialDropout1D(0.3, name="sd1"), pn.layers.SpatialDropout2D(0.2, "channels_first"),
                  pn.layers.SpatialDropout3D(0.1), pn.layers.GaussianNoise(0.4, seed=3),
                  pn.layers.GaussianDropout(0.6), pn.layers.AlphaDropout(0.2, noise_shape=(None, 1)),
                  pn.layers.ActivityRegularization(l1=0.2, l2=0.3), pn.layers.Dropout(0.5, noise_shape=[None, 1])]:
        again = pn.layers.deserialize(pn.layers.serialize(layer))
        assert type(again) is type(layer)
        assert again.get_config() == layer.get_config()


def test_only_active_in_training_in_fit_and_predict(backend):
    x = np.ones((8, 4), "float32")
    model = pn.Sequential([pn.Input((4,)), pn.layers.GaussianNoise(1.0), pn.layers.AlphaDropout(0.5),
                           pn.layers.GaussianDropout(0.5), pn.layers.Dropout(0.5),
                           pn.layers.Dense(1, kernel_initializer="ones")])
    np.testing.assert_allclose(model.predict(x, verbose=0), np.full((8, 1), 4.0), rtol=1e-6)
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.0), loss="mse")
    np.testing.assert_allclose(model.evaluate(x, np.full((8, 1), 4.0, "float32"), verbose=0), 0.0, atol=1e-10)
    # In fit the noise is on: the training loss is not zero.
    h = model.fit(x, np.full((8, 1), 4.0, "float32"), epochs=1, verbose=0)
    assert h.history["loss"][0] > 0.1


def test_bad_arguments():
    for cls in (pn.layers.SpatialDropout1D, pn.layers.SpatialDropout2D, pn.layers.GaussianDropout,
                pn.layers.AlphaDropout):
        for bad in (1.0, -0.1, 1.5, "half"):
            with pytest.raises(ValueError, match="rate="):
                cls(bad)
    with pytest.raises(ValueError, match="stddev=1.5"):
        pn.layers.GaussianNoise(1.5)
    with pytest.raises(ValueError, match="stddev=-1"):
        pn.layers.GaussianNoise(-1)
    with pytest.raises(ValueError, match="data_format='nhwc'"):
        pn.layers.SpatialDropout2D(0.5, data_format="nhwc")
    with pytest.raises(ValueError, match="l1=-1"):
        pn.layers.ActivityRegularization(l1=-1)
    with pytest.raises(TypeError, match="noise_shape"):
        pn.layers.Dropout(0.5, noise_shape=("a",))
    layer = pn.layers.SpatialDropout1D(0.5, name="sd")
    # Keras's InputSpec(ndim=3) check, in Keras's words.
    with pytest.raises(ValueError, match=r"Input 0 with name 'None' of layer 'sd' is incompatible "
                                         r"with the layer: expected ndim=3, found ndim=2\. Full "
                                         r"shape received: \(2, 3\)"):
        layer(np.ones((2, 3), "float32"), training=True)
