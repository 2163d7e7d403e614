"""3-D layers: the harness (float64 finite differences of inputs and weights, training
step, config round trip, every backend), Keras's output shapes, and values against direct
loops (Conv3D on the fast NumPy path and on the portable one)."""

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np
from portanet.layers import _windows
from test_conv import ref_conv, same_pads

L = pn.layers


@pytest.mark.parametrize("options,shape,out", [
    ({"filters": 3, "kernel_size": 2}, (2, 4, 3, 3, 2), (2, 3, 2, 2, 3)),
    ({"filters": 2, "kernel_size": (2, 1, 3), "strides": 2, "padding": "same"}, (1, 5, 4, 3, 2),
     (1, 3, 2, 2, 2)),
    ({"filters": 4, "kernel_size": 2, "groups": 2, "data_format": "channels_first"},
     (2, 2, 3, 3, 3), (2, 4, 2, 2, 2)),
    ({"filters": 2, "kernel_size": 2, "dilation_rate": (1, 2, 1), "activation": "tanh"},
     (1, 3, 4, 3, 1), (1, 2, 2, 2, 2)),
], ids=str)
def test_conv3d_harness(backend, options, shape, out):
    layer = run_layer_test(lambda: L.Conv3D(**options), shape, backend, expected_output_shape=out,
                           expected_num_weights=2)
    k = options["kernel_size"]
    k = (k,) * 3 if isinstance(k, int) else k
    assert layer.kernel.shape == k + (shape[-1 if options.get("data_format") is None else 1]
                                      // options.get("groups", 1), options["filters"])


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("channels", [2, 32])
def test_conv3d_values_against_loops(backend, float64, fast, channels):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 3, channels))
    layer = L.Conv3D(3, (3, 2, 2), padding="same", use_bias=False)
    with _windows.fast_windows(fast):
        y = to_np(backend, layer(x))
    pads = [same_pads(n, k, 1) for n, k in zip((4, 5, 3), (3, 2, 2))]
    ref = ref_conv(x, layer.get_weights()[0], (1, 1, 1), (1, 1, 1), pads)
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("options,shape,out", [
    ({"filters": 2, "kernel_size": 2}, (1, 2, 3, 2, 2), (1, 3, 4, 3, 2)),
    ({"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 2, 2, 3, 1),
     (2, 4, 4, 6, 3)),
    ({"filters": 1, "kernel_size": 2, "strides": 2, "output_padding": 1}, (1, 2, 2, 2, 2),
     (1, 5, 5, 5, 1)),
], ids=str)
def test_conv3d_transpose_harness(backend, options, shape, out):
    layer = run_layer_test(lambda: L.Conv3DTranspose(**options), shape, backend,
                           expected_output_shape=out)
    k = options["kernel_size"]
    assert layer.kernel.shape == (k, k, k, options["filters"], shape[-1])


def test_conv3d_transpose_is_the_adjoint_of_conv3d(backend, float64):
    rng = np.random.default_rng(1)
    conv = L.Conv3D(3, 2, strides=2, use_bias=False)
    x = rng.standard_normal((1, 4, 4, 4, 2))
    y = to_np(backend, conv(x))
    tconv = L.Conv3DTranspose(2, 2, strides=2, use_bias=False)
    tconv.build((None,) + y.shape[1:])
    # Conv3DTranspose's kernel (k, k, k, filters=2, channels=3) is Conv3D's (k, k, k, 2, 3).
    tconv.set_weights(conv.get_weights())
    r = rng.standard_normal(y.shape)
    xt = to_np(backend, tconv(r))
    np.testing.assert_allclose(np.sum(y * r), np.sum(x * xt), rtol=1e-10)


@pytest.mark.parametrize("cls", ["MaxPooling3D", "AveragePooling3D"])
@pytest.mark.parametrize("options,shape,out", [
    ({}, (2, 4, 4, 2, 3), (2, 2, 2, 1, 3)),
    ({"pool_size": (2, 1, 2), "strides": 1, "padding": "same"}, (1, 3, 2, 3, 2), (1, 3, 2, 3, 2)),
    ({"pool_size": 2, "data_format": "channels_first"}, (1, 2, 4, 2, 2), (1, 2, 2, 1, 1)),
], ids=str)
def test_pooling3d_harness(backend, cls, options, shape, out):
    run_layer_test(lambda: getattr(L, cls)(**options), shape, backend, expected_output_shape=out)


def test_pooling3d_values(backend):
    x = np.arange(16, dtype="float32").reshape(1, 2, 2, 4, 1)
    np.testing.assert_array_equal(to_np(backend, L.MaxPooling3D()(x))[0, 0, 0, :, 0], [13, 15])
    np.testing.assert_allclose(to_np(backend, L.AveragePooling3D()(x))[0, 0, 0, :, 0],
                               [np.mean([0, 1, 4, 5, 8, 9, 12, 13]), np.mean([2, 3, 6, 7, 10, 11, 14, 15])])
    cfg = L.MaxPooling3D().get_config()
    assert cfg["pool_size"] == [2, 2, 2] and cfg["strides"] == [2, 2, 2] and cfg["padding"] == "valid"


@pytest.mark.parametrize("cls", ["GlobalMaxPooling3D", "GlobalAveragePooling3D"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling3d(backend, cls, keepdims):
    out = (2, 1, 1, 1, 3) if keepdims else (2, 3)
    run_layer_test(lambda: getattr(L, cls)(keepdims=keepdims), (2, 2, 3, 2, 3), backend,
                   expected_output_shape=out)
    x = np.arange(24, dtype="float32").reshape(1, 2, 2, 2, 3)
    y = to_np(backend, getattr(L, cls)(data_format="channels_last")(x))
    expected = x.max(axis=(1, 2, 3)) if cls.startswith("GlobalMax") else x.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_upsampling_padding_cropping_3d(backend):
    run_layer_test(lambda: L.UpSampling3D((2, 1, 3)), (2, 2, 3, 2, 2), backend,
                   expected_output_shape=(2, 4, 3, 6, 2))
    run_layer_test(lambda: L.ZeroPadding3D(((1, 0), 2, (0, 3))), (1, 2, 2, 2, 2), backend,
                   expected_output_shape=(1, 3, 6, 5, 2))
    run_layer_test(lambda: L.Cropping3D(((1, 0), 1, (0, 1)), data_format="channels_first"),
                   (1, 2, 3, 4, 3), backend, expected_output_shape=(1, 2, 2, 2, 2))
    x = np.arange(8, dtype="float32").reshape(1, 2, 2, 2, 1)
    up = to_np(backend, L.UpSampling3D()(x))
    np.testing.assert_array_equal(up[0, :, :, :, 0], x[0, :, :, :, 0].repeat(2, 0).repeat(2, 1).repeat(2, 2))
    pad = to_np(backend, L.ZeroPadding3D()(x))
    assert pad.shape == (1, 4, 4, 4, 1) and pad.sum() == x.sum() and pad[0, 1, 1, 1, 0] == 0
    crop = to_np(backend, L.Cropping3D(((1, 0), (0, 1), (1, 0)))(x))
    np.testing.assert_array_equal(crop[0, :, :, :, 0], x[0, 1:, :1, 1:, 0])
    assert L.UpSampling3D().get_config()["size"] == [2, 2, 2]
    assert L.Cropping3D().get_config()["cropping"] == [[1, 1], [1, 1], [1, 1]]
    assert L.ZeroPadding3D().get_config()["padding"] == [[1, 1], [1, 1], [1, 1]]


def test_conv3d_model_learns(backend):
    pn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4, 4, 4, 1)).astype("float32")
    y = (x[:, :2].mean(axis=(1, 2, 3, 4)) > 0).astype("float32").reshape(-1, 1)
    model = pn.Sequential([pn.Input((4, 4, 4, 1)), L.Conv3D(4, 2, activation="relu"),
                           L.MaxPooling3D(), L.GlobalAveragePooling3D(), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(0.02), loss="binary_crossentropy")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.8 * first


def test_3d_layers_reject_wrong_rank():
    # Keras's input specs: Conv3D min_ndim=5, MaxPooling3D ndim=5.
    with pytest.raises(ValueError, match="expected min_ndim=5, found ndim=4"):
        L.Conv3D(2, 2)(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="expected ndim=5, found ndim=4"):
        L.MaxPooling3D()(np.zeros((1, 4, 4, 1), "float32"))
