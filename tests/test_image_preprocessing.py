"""Rescaling, CenterCrop, Resizing, RandomFlip: the harness (float64 finite differences,
config round trip, every backend) and Keras's numbers by hand (half-pixel centers)."""

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np

L = pn.layers


def _run(layer, x, training=False):
    return to_np(pn.backend.current(), layer(x, training=training))


# ---------------------------------------------------------------------------- Rescaling
def test_rescaling_harness_and_values(backend):
    run_layer_test(lambda: L.Rescaling(1 / 127.5, offset=-1.0), (3, 4), backend,
                   expected_output_shape=(3, 4))
    run_layer_test(lambda: L.Rescaling([0.5, 2.0, -1.0], offset=[1.0, 0.0, 2.0]), (2, 2, 3), backend)
    x = np.array([[0, 255], [127, 51]], dtype="uint8")
    y = _run(L.Rescaling(1 / 255), x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x / 255, rtol=1e-6)
    np.testing.assert_allclose(_run(L.Rescaling([1.0, 2.0], offset=[0.0, -1.0]),
                                    np.ones((2, 2), "float32")), [[1, 1], [1, 1]])
    cfg = L.Rescaling(0.5, offset=2.0).get_config()
    assert cfg["scale"] == 0.5 and cfg["offset"] == 2.0
    with pytest.raises(TypeError, match="scale"):
        L.Rescaling("big")


# ---------------------------------------------------------------------------- Resizing
@pytest.mark.parametrize("options,shape,out", [
    ({"height": 7, "width": 4}, (2, 5, 6, 3), (2, 7, 4, 3)),
    ({"height": 3, "width": 8, "interpolation": "nearest"}, (2, 5, 6, 2), (2, 3, 8, 2)),
    ({"height": 3, "width": 2, "antialias": True}, (1, 6, 5, 2), (1, 3, 2, 2)),
    ({"height": 4, "width": 4, "crop_to_aspect_ratio": True}, (2, 5, 8, 1), (2, 4, 4, 1)),
    ({"height": 4, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 1.0}, (2, 5, 8, 1),
     (2, 4, 4, 1)),
    ({"height": 4, "width": 3, "interpolation": "bicubic", "data_format": "channels_first"},
     (2, 2, 5, 6), (2, 2, 4, 3)),
    ({"height": 4, "width": 3, "interpolation": "lanczos3"}, (6, 5, 2), (4, 3, 2)),
], ids=str)
def test_resizing_harness(backend, options, shape, out):
    run_layer_test(lambda: L.Resizing(**options), shape, backend, expected_output_shape=out)


def test_resizing_bilinear_half_pixel_by_hand(backend):
    x = np.array([1.0, 5.0], "float32").reshape(1, 1, 2, 1)
    y = _run(L.Resizing(1, 4), x)[0, 0, :, 0]
    np.testing.assert_allclose(y, [1.0, 0.75 * 1 + 0.25 * 5, 0.25 * 1 + 0.75 * 5, 5.0], rtol=1e-6)
    x = np.array([1.0, 2.0, 4.0, 8.0], "float32").reshape(1, 4, 1, 1)
    np.testing.assert_allclose(_run(L.Resizing(2, 1), x)[0, :, 0, 0], [1.5, 6.0], rtol=1e-6)
    # antialias: the kernel is widened by 2: weights (3, 3, 1, 0)/7 and (0, 1, 3, 3)/7
    np.testing.assert_allclose(_run(L.Resizing(2, 1, antialias=True), x)[0, :, 0, 0],
                               [(3 + 6 + 4) / 7, (2 + 12 + 24) / 7], rtol=1e-6)


def test_resizing_nearest_by_hand(backend):
    x = np.array([10.0, 20.0, 30.0], "float32").reshape(1, 1, 3, 1)
    y = _run(L.Resizing(1, 5, interpolation="nearest"), x)[0, 0, :, 0]
    np.testing.assert_array_equal(y, [10, 10, 20, 30, 30])      # floor((j + .5)·3/5)
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    y = _run(L.Resizing(2, 2, interpolation="nearest"), x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[5, 7], [13, 15]])          # rows/cols 1 and 3


def test_resizing_crop_and_pad_to_aspect_ratio_by_hand(backend):
    x = np.arange(12, dtype="float32").reshape(1, 2, 6, 1)
    # crop: the central 2x2 window (columns 2, 3), then no resize
    y = _run(L.Resizing(2, 2, crop_to_aspect_ratio=True), x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[2, 3], [8, 9]])
    # pad: two rows of fill_value above and below -> 6x6; nearest 3x3 takes rows and
    # columns floor((j + .5)·2) = 1, 3, 5: padding, image row 1, padding
    y = _run(L.Resizing(3, 3, pad_to_aspect_ratio=True, fill_value=-1.0, interpolation="nearest"),
             x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[-1, -1, -1], [7, 9, 11], [-1, -1, -1]])


def test_resizing_bad_arguments():
    with pytest.raises(ValueError, match="interpolation"):
        L.Resizing(2, 2, interpolation="area")
    with pytest.raises(ValueError, match="height"):
        L.Resizing(0, 2)
    with pytest.raises(ValueError, match="at most one"):
        L.Resizing(2, 2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="rank"):
        L.Resizing(2, 2)(np.zeros((2, 3), "float32"))


# ---------------------------------------------------------------------------- CenterCrop
@pytest.mark.parametrize("options,shape,out", [
    ({"height": 3, "width": 2}, (2, 5, 6, 3), (2, 3, 2, 3)),
    ({"height": 3, "width": 2, "data_format": "channels_first"}, (2, 3, 5, 6), (2, 3, 3, 2)),
    ({"height": 8, "width": 2}, (1, 4, 4, 2), (1, 8, 2, 2)),
    ({"height": 2, "width": 2}, (4, 4, 1), (2, 2, 1)),
], ids=str)
def test_center_crop_harness(backend, options, shape, out):
    run_layer_test(lambda: L.CenterCrop(**options), shape, backend, expected_output_shape=out)


def test_center_crop_by_hand(backend):
    x = np.arange(30, dtype="float32").reshape(1, 5, 6, 1)
    y = _run(L.CenterCrop(3, 2), x)[0, :, :, 0]
    np.testing.assert_array_equal(y, x[0, 1:4, 2:4, 0])
    # smaller than the target: Keras's smart_resize crops column 1 (aspect 8:2), then resizes
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    y = _run(L.CenterCrop(8, 2), x)[0, :, :, 0]
    col = x[0, :, 1, 0]
    expected = [col[0], .75 * col[0] + .25 * col[1], .25 * col[0] + .75 * col[1],
                .75 * col[1] + .25 * col[2], .25 * col[1] + .75 * col[2],
                .75 * col[2] + .25 * col[3], .25 * col[2] + .75 * col[3], col[3]]
    np.testing.assert_allclose(y, np.stack([expected, expected], axis=1), rtol=1e-6)


# ---------------------------------------------------------------------------- RandomFlip
@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_random_flip_harness_training(backend, mode):
    run_layer_test(lambda: L.RandomFlip(mode), (6, 3, 4, 2), backend, training=True,
                   expected_output_shape=(6, 3, 4, 2))
    run_layer_test(lambda: L.RandomFlip(mode, data_format="channels_first"), (6, 2, 3, 4), backend,
                   training=True)


def test_random_flip_values(backend):
    x = np.random.default_rng(0).standard_normal((32, 3, 4, 2)).astype("float32")
    np.testing.assert_array_equal(_run(L.RandomFlip(), x), x)          # inference: identity
    y = _run(L.RandomFlip("horizontal"), x, training=True)
    flipped = [np.array_equal(y[i], x[i, :, ::-1]) for i in range(32)]
    kept = [np.array_equal(y[i], x[i]) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept)) and 4 < sum(flipped) < 28
    # one draw flips both axes together (Keras)
    y = _run(L.RandomFlip(), x, training=True)
    assert all(np.array_equal(y[i], x[i, ::-1, ::-1]) or np.array_equal(y[i], x[i]) for i in range(32))
    # unbatched image
    one = _run(L.RandomFlip("vertical"), x[0], training=True)
    assert np.array_equal(one, x[0]) or np.array_equal(one, x[0, ::-1])


def test_random_flip_seeded(backend):
    x = np.random.default_rng(0).standard_normal((16, 2, 2, 1)).astype("float32")
    a, b = L.RandomFlip(seed=7), L.RandomFlip(seed=7)
    ya1, ya2 = _run(a, x, training=True), _run(a, x, training=True)
    np.testing.assert_array_equal(ya1, _run(b, x, training=True))     # same seed, same flips
    assert not np.array_equal(ya1, ya2)                                # the generator advances
    pn.utils.set_random_seed(3)
    y1 = _run(L.RandomFlip(), x, training=True)
    pn.utils.set_random_seed(3)
    np.testing.assert_array_equal(y1, _run(L.RandomFlip(), x, training=True))
    assert L.RandomFlip(seed=7).get_config()["seed"] == 7
    with pytest.raises(ValueError, match="mode"):
        L.RandomFlip("diagonal")


@pytest.mark.filterwarnings("ignore:fit. the inputs are far from standardized")
def test_preprocessing_in_a_model_trains(backend):
    pn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (64, 8, 8, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) / 255).reshape(-1, 1).astype("float32")
    model = pn.Sequential([pn.Input((8, 8, 1)), L.Rescaling(1 / 255), L.RandomFlip(),
                           L.Resizing(4, 4), L.CenterCrop(3, 3), L.Flatten(), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * first
    assert model.predict(x[:5], verbose=0).shape == (5, 1)
