"""RandomTranslation, RandomRotation, RandomZoom: training-only, seeded, the harness in
training (float64 finite differences through the sampling), and Keras's affine sampling
(map_coordinates with its fill modes) by hand."""

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np
from portanet.layers.image_augmentation import affine_transform

L = pn.layers


def _run(layer, x, training=True):
    return to_np(pn.backend.current(), layer(x, training=training))


@pytest.mark.parametrize("make", [
    lambda: L.RandomTranslation(0.3, (-0.2, 0.4)),
    lambda: L.RandomTranslation(0.3, 0.3, fill_mode="constant", fill_value=0.5,
                                data_format="channels_first"),
    lambda: L.RandomRotation(0.2, fill_mode="wrap"),
    lambda: L.RandomRotation(0.5, fill_mode="nearest", interpolation="nearest"),
    lambda: L.RandomZoom((-0.3, 0.3), fill_mode="constant"),
    lambda: L.RandomZoom(0.2, width_factor=(0.1, 0.5)),
], ids=["translation", "translation_cf_constant", "rotation_wrap", "rotation_nearest",
        "zoom_constant", "zoom_hw"])
def test_augmentation_harness_in_training(backend, make):
    run_layer_test(make, (3, 5, 6, 2), backend, training=True, expected_output_shape=(3, 5, 6, 2))


class _Fixed:
    """A stand-in layer carrying the backend for affine_transform."""
    def __init__(self, backend):
        self.backend, self.xp = backend, backend.xp


def _affine(backend, x, m, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    y, _ = affine_transform(_Fixed(backend), backend.asarray(x), np.asarray([m] * x.shape[0]),
                            interpolation, fill_mode, fill_value, "channels_last")
    return to_np(backend, y)


def test_affine_sampling_and_fill_modes_by_hand(backend, float64):
    row = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1)
    shift = lambda dx: [1, 0, -dx, 0, 1, 0, 0, 0]          # output col j reads input col j - dx
    np.testing.assert_allclose(_affine(backend, row, shift(0)), row)
    np.testing.assert_allclose(_affine(backend, row, shift(2))[0, 0, :, 0], [0, 0, 1, 2])
    np.testing.assert_allclose(_affine(backend, row, shift(2), fill_value=9.0)[0, 0, :, 0], [9, 9, 1, 2])
    np.testing.assert_allclose(_affine(backend, row, shift(2), fill_mode="reflect")[0, 0, :, 0],
                               [2, 1, 1, 2])                 # numpy.pad "symmetric"
    np.testing.assert_allclose(_affine(backend, row, shift(2), fill_mode="wrap")[0, 0, :, 0], [3, 4, 1, 2])
    np.testing.assert_allclose(_affine(backend, row, shift(2), fill_mode="nearest")[0, 0, :, 0],
                               [1, 1, 1, 2])
    np.testing.assert_allclose(_affine(backend, row, shift(0.25))[0, 0, :, 0],
                               [0.75 * 1, 0.25 * 1 + 0.75 * 2, 0.25 * 2 + 0.75 * 3, 0.25 * 3 + 0.75 * 4])
    np.testing.assert_allclose(_affine(backend, row, shift(0.25), interpolation="nearest")[0, 0, :, 0],
                               [1, 2, 3, 4])


def test_random_translation_exact_shift(backend):
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    layer = L.RandomTranslation((0.25, 0.25), (0.0, 0.0), fill_mode="constant")
    y = _run(layer, x)[0, :, :, 0]
    np.testing.assert_allclose(y, np.vstack([np.zeros((1, 4)), x[0, :3, :, 0]]), atol=1e-6)
    np.testing.assert_array_equal(_run(layer, x, training=False), x)


def test_random_rotation_quarter_turn_is_rot90(backend):
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype("float32")
    y = _run(L.RandomRotation((0.25, 0.25)), x)
    np.testing.assert_allclose(y, np.rot90(x, axes=(1, 2)), atol=1e-5)


def test_random_zoom_by_hand(backend, float64):
    x = np.arange(25, dtype="float64").reshape(1, 5, 5, 1)
    # zoom z = 0.5 (height_factor -0.5): output (i, j) reads input center + 0.5·((i, j) - center)
    y = _run(L.RandomZoom((-0.5, -0.5), fill_mode="constant"), x)[0, :, :, 0]
    i = np.arange(5)
    src = 2 + 0.5 * (i - 2)
    expected = (src[:, None] * 5 + src[None, :])   # the image is linear in (row, col)
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_augmentation_seeded_and_reproducible(backend):
    x = np.random.default_rng(1).standard_normal((4, 6, 6, 1)).astype("float32")
    for cls, arg in ((L.RandomRotation, 0.3), (L.RandomZoom, 0.3)):
        a, b = cls(arg, seed=11), cls(arg, seed=11)
        ya = _run(a, x)
        np.testing.assert_array_equal(ya, _run(b, x))
        assert not np.allclose(ya, _run(a, x))
        pn.utils.set_random_seed(5)
        y1 = _run(cls(arg), x)
        pn.utils.set_random_seed(5)
        np.testing.assert_array_equal(y1, _run(cls(arg), x))
        assert not np.allclose(y1, x)


def test_augmentation_config_and_bad_arguments():
    cfg = L.RandomTranslation(0.1, (0.1, 0.2), fill_mode="wrap", seed=3).get_config()
    assert cfg["height_factor"] == 0.1 and cfg["width_factor"] == [0.1, 0.2]
    assert cfg["fill_mode"] == "wrap" and cfg["seed"] == 3 and cfg["interpolation"] == "bilinear"
    assert L.RandomTranslation.from_config(cfg).width_upper == 0.2
    assert L.RandomRotation(0.2).get_config()["factor"] == [-0.2, 0.2]
    assert L.RandomZoom(0.2).get_config()["width_factor"] is None
    with pytest.raises(ValueError, match="fill_mode"):
        L.RandomRotation(0.1, fill_mode="mirror-ish")
    with pytest.raises(ValueError, match="factor"):
        L.RandomRotation(1.5)
    with pytest.raises(ValueError, match="height_factor"):
        L.RandomZoom((-1.0, 0.5))                         # Keras: (-1, 1]
    with pytest.raises(ValueError, match="interpolation"):
        L.RandomZoom(0.1, interpolation="bicubic")
