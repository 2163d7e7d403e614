"""Reshaping layers added by the conv family: Permute, RepeatVector, UpSampling1D/2D,
ZeroPadding1D/2D, Cropping1D/2D — harness, exact values and Keras's argument forms."""

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np


@pytest.mark.parametrize("make,shape,expected", [
    (lambda: pn.layers.Permute((2, 1)), (2, 3, 4), (2, 4, 3)),
    (lambda: pn.layers.Permute((3, 1, 2)), (2, 3, 4, 5), (2, 5, 3, 4)),
    (lambda: pn.layers.RepeatVector(3), (2, 4), (2, 3, 4)),
    (lambda: pn.layers.UpSampling1D(), (2, 3, 4), (2, 6, 4)),
    (lambda: pn.layers.UpSampling1D(3), (2, 3, 4), (2, 9, 4)),
    (lambda: pn.layers.UpSampling2D((2, 3)), (2, 2, 3, 4), (2, 4, 9, 4)),
    (lambda: pn.layers.UpSampling2D(2, data_format="channels_first"), (2, 4, 2, 3), (2, 4, 4, 6)),
    (lambda: pn.layers.UpSampling2D((2, 3), interpolation="bilinear"), (2, 2, 3, 4), (2, 4, 9, 4)),
    (lambda: pn.layers.UpSampling2D(2, data_format="channels_first", interpolation="bicubic"), (1, 2, 3, 3),
     (1, 2, 6, 6)),
    (lambda: pn.layers.ZeroPadding1D(), (2, 3, 4), (2, 5, 4)),
    (lambda: pn.layers.ZeroPadding1D((0, 2)), (2, 3, 4), (2, 5, 4)),
    (lambda: pn.layers.ZeroPadding1D(1, data_format="channels_first"), (2, 3, 4), (2, 3, 6)),
    (lambda: pn.layers.ZeroPadding2D(), (2, 3, 4, 2), (2, 5, 6, 2)),
    (lambda: pn.layers.ZeroPadding2D(((1, 0), (2, 3))), (2, 3, 4, 2), (2, 4, 9, 2)),
    (lambda: pn.layers.ZeroPadding2D((1, 2), data_format="channels_first"), (2, 2, 3, 4), (2, 2, 5, 8)),
    (lambda: pn.layers.Cropping1D(), (2, 5, 3), (2, 3, 3)),
    (lambda: pn.layers.Cropping1D((0, 2)), (2, 5, 3), (2, 3, 3)),
    (lambda: pn.layers.Cropping2D(), (2, 4, 5, 2), (2, 4, 5, 2)),
    (lambda: pn.layers.Cropping2D(((1, 0), (2, 1))), (2, 4, 5, 2), (2, 3, 2, 2)),
    (lambda: pn.layers.Cropping2D(1, data_format="channels_first"), (2, 2, 4, 5), (2, 2, 2, 3)),
])
def test_reshaping_harness(backend, make, shape, expected):
    layer = run_layer_test(make, shape, backend, expected_output_shape=expected,
                           expected_num_weights=0)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + expected[1:]


def test_permute_and_repeat_values(backend):
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    np.testing.assert_array_equal(to_np(backend, pn.layers.Permute((2, 1))(x)), np.transpose(x, (0, 2, 1)))
    v = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
    np.testing.assert_array_equal(to_np(backend, pn.layers.RepeatVector(3)(v)),
                                  [[[1, 2]] * 3, [[3, 4]] * 3])


def test_upsampling_values(backend):
    s = np.array([1.0, 2.0], "float32").reshape(1, 2, 1)
    np.testing.assert_array_equal(to_np(backend, pn.layers.UpSampling1D(3)(s))[0, :, 0], [1, 1, 1, 2, 2, 2])
    img = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
    y = to_np(backend, pn.layers.UpSampling2D((1, 2))(img))[0, :, :, 0]
    np.testing.assert_array_equal(y, [[1, 1, 2, 2], [3, 3, 4, 4]])
    y = to_np(backend, pn.layers.UpSampling2D(2, data_format="channels_first")(img.reshape(1, 1, 2, 2)))
    np.testing.assert_array_equal(y[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


def test_padding_and_cropping_values(backend):
    img = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
    y = to_np(backend, pn.layers.ZeroPadding2D(((1, 0), (0, 2)))(img))[0, :, :, 0]
    np.testing.assert_array_equal(y, [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 0, 0]])
    s = np.arange(1, 6, dtype="float32").reshape(1, 5, 1)
    np.testing.assert_array_equal(to_np(backend, pn.layers.ZeroPadding1D(2)(s))[0, :, 0],
                                  [0, 0, 1, 2, 3, 4, 5, 0, 0])
    np.testing.assert_array_equal(to_np(backend, pn.layers.Cropping1D((1, 2))(s))[0, :, 0], [2, 3])
    big = np.arange(20, dtype="float32").reshape(1, 4, 5, 1)
    np.testing.assert_array_equal(to_np(backend, pn.layers.Cropping2D(((1, 2), (0, 3)))(big))[0, :, :, 0],
                                  [[5, 6]])


def test_reshaping_arguments_follow_keras():
    assert pn.layers.ZeroPadding2D(3).padding == ((3, 3), (3, 3))
    assert pn.layers.ZeroPadding2D((1, 2)).padding == ((1, 1), (2, 2))
    assert pn.layers.ZeroPadding1D().padding == ((1, 1),)
    assert pn.layers.Cropping1D().cropping == ((1, 1),)
    assert pn.layers.Cropping2D().cropping == ((0, 0), (0, 0))
    assert pn.layers.UpSampling2D().size == (2, 2)
    for layer in (pn.layers.ZeroPadding2D(((1, 0), (2, 3))), pn.layers.Cropping1D((0, 2)),
                  pn.layers.UpSampling2D((2, 3), data_format="channels_first"), pn.layers.Permute((2, 1)),
                  pn.layers.RepeatVector(4), pn.layers.UpSampling1D(3)):
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="dims=.*permutation"):
        pn.layers.Permute((0, 1))
    with pytest.raises(ValueError, match="n=0"):
        pn.layers.RepeatVector(0)
    with pytest.raises(ValueError, match="padding=-1"):
        pn.layers.ZeroPadding1D(-1)
    with pytest.raises(ValueError, match=r"padding=\(1, 2, 3\)"):
        pn.layers.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="interpolation='area'"):
        pn.layers.UpSampling2D(interpolation="area")
    with pytest.raises(ValueError, match="removes all"):
        pn.layers.Cropping1D((2, 3)).build((None, 5, 1))
    with pytest.raises(ValueError, match="rank 4"):
        pn.layers.ZeroPadding2D().build((None, 5, 1))


def test_reshaping_in_a_model(backend):
    model = pn.Sequential([pn.Input((4,)), pn.layers.RepeatVector(6), pn.layers.ZeroPadding1D(1),
                           pn.layers.Conv1D(3, 3), pn.layers.UpSampling1D(2), pn.layers.Cropping1D(2),
                           pn.layers.Permute((2, 1)), pn.layers.Flatten(), pn.layers.Dense(1)])
    assert model.compute_output_shape((None, 4)) == (None, 1)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model.compile(optimizer=pn.optimizers.Adam(0.01), loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * first


def test_upsampling2d_interpolations_resize_as_ops_image(backend, float64):
    """Keras's UpSampling2D resizes with ops.image.resize for every mode but "nearest"."""
    x = np.random.default_rng(3).normal(size=(2, 3, 4, 2))
    for mode in ("bilinear", "bicubic", "lanczos3", "lanczos5"):
        y = pn.layers.UpSampling2D((2, 3), interpolation=mode)(backend.from_numpy(x))
        ref = pn.ops.image.resize(backend.from_numpy(x), (6, 12), interpolation=mode)
        np.testing.assert_allclose(to_np(backend, y), to_np(backend, ref), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="interpolation='area'"):
        pn.layers.UpSampling2D(interpolation="area")
