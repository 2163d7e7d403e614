"""The remaining Keras 3 image augmentation layers (portanet/layers/image_augmentation_extra.py):
(a) each deterministic transform equals Keras 3.15.1's for a fixed transformation (stored by
tests/keras_reference/make_augment_reference.py: 1e-5 in float32, 1e-6 in float64), (b) the
random factors stay in Keras's ranges, (c) inference is the identity (AutoContrast and CLAHE
apply there too, as Keras), (d) a seed repeats, (e) config round trips, (f) gradients through
the tape and a small CNN with an augmentation stack trains with fit."""

import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np

HERE = pathlib.Path(__file__).parent / "keras_reference"
sys.path.insert(0, str(HERE))
from make_augment_reference import CASES, SMALL_CROP  # noqa: E402

L = pn.layers
REF = np.load(HERE / "augment.npz")
TOL = {"float32": 1e-5, "float64": 1e-6}


def _transformation(prefix):
    keys = sorted(k[len(prefix) + 3:] for k in REF.files if k.startswith(prefix + "/t/"))
    if not keys:
        return None
    if keys == ["_"]:
        return REF[prefix + "/t/_"]
    if keys == ["0", "1"]:
        return (int(REF[prefix + "/t/0"]), int(REF[prefix + "/t/1"]))
    return {k: REF[f"{prefix}/t/{k}"] for k in keys}


def _layer(cls, kwargs, dtype):
    return getattr(L, cls)(**kwargs, dtype=dtype)


def _apply(backend, layer, x, t):
    layer.backend = backend
    return to_np(backend, layer.transform_images(backend.asarray(x), t, training=True))


def _scale(dtype, y):
    """Tolerances relative to the images' range (Keras's value ranges are 0-1 or 0-255)."""
    return TOL[dtype] * max(1.0, float(np.max(np.abs(y))))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_transform_equals_keras(backend, case, dtype):
    cls, kwargs, _, _, _, labels = CASES[case]
    prefix = f"{dtype}/{case}"
    x, expected = REF[prefix + "/x"], REF[prefix + "/y"]
    layer = _layer(cls, kwargs, dtype)
    y = _apply(backend, layer, x, _transformation(prefix))
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, expected, rtol=TOL[dtype], atol=_scale(dtype, expected))
    if labels is not None:
        got = to_np(backend, layer.transform_labels(backend.asarray(REF[prefix + "/labels"]),
                                                    _transformation(prefix)))
        np.testing.assert_allclose(got, REF[prefix + "/labels_y"], rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_crop_small_images_equal_keras(backend, dtype):
    cls, kwargs, _ = SMALL_CROP
    prefix = f"{dtype}/small_crop"
    layer = _layer(cls, kwargs, dtype)
    x = REF[prefix + "/x"]
    assert layer.get_random_transformation(backend.asarray(x)) == _transformation(prefix)
    y = _apply(backend, layer, x, _transformation(prefix))
    np.testing.assert_allclose(y, REF[prefix + "/y"], rtol=TOL[dtype],
                               atol=_scale(dtype, REF[prefix + "/y"]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_num_bounding_boxes_equals_keras(backend, dtype):
    boxes, labels = REF[f"{dtype}/boxes/boxes"], REF[f"{dtype}/boxes/labels"]
    x = np.zeros((2, 8, 9, 3), dtype=dtype)
    for n in (5, 2):
        layer = L.MaxNumBoundingBoxes(max_number=n)
        out = layer({"images": x, "bounding_boxes": {"boxes": boxes, "labels": labels}})
        np.testing.assert_array_equal(to_np(backend, out["bounding_boxes"]["boxes"]),
                                      REF[f"{dtype}/boxes/boxes_{n}"])
        np.testing.assert_array_equal(to_np(backend, out["bounding_boxes"]["labels"]),
                                      REF[f"{dtype}/boxes/labels_{n}"])
        np.testing.assert_array_equal(to_np(backend, out["images"]), x)
        assert layer.compute_output_shape(
            {"images": (2, 8, 9, 3), "bounding_boxes": {"boxes": (2, 3, 4), "labels": (2, 3)}}
        )["bounding_boxes"] == {"boxes": (2, n, 4), "labels": (2, n)}


# ----------------------------------------------------------------------------- (b) ranges
def _images(shape=(6, 8, 9, 3), lo=0.0, hi=255.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype("float32")


def _draws(layer, backend, n=40, shape=(6, 8, 9, 3)):
    layer.backend = backend
    x = backend.asarray(_images(shape))
    return [layer.get_random_transformation(x, training=True) for _ in range(n)]


def test_random_factors_stay_in_keras_ranges(backend):
    t = _draws(L.RandomContrast((0.2, 0.5), seed=1), backend)
    f = np.concatenate([d["contrast_factor"].ravel() for d in t])
    assert 0.8 <= f.min() and f.max() < 1.5 and f.max() - f.min() > 0.4
    # Keras 3.15's bounds for RandomContrast: factor f -> (0, f), contrast in [1, 1 + f).
    f = np.concatenate([d["contrast_factor"].ravel() for d in _draws(L.RandomContrast(0.3, seed=1), backend)])
    assert 1.0 <= f.min() and f.max() < 1.3
    d = np.concatenate([d["rgb_delta"].ravel() for d in _draws(L.RandomBrightness(0.2, seed=1), backend)])
    assert -51 <= d.min() < -30 and 30 < d.max() <= 51
    h = np.concatenate([d["factor"] for d in _draws(L.RandomHue(0.4, seed=1), backend)])
    assert np.abs(h).max() <= 0.2 and h.min() < 0 < h.max()
    s = np.concatenate([d["factor"] for d in _draws(L.RandomSaturation((0.25, 0.5), seed=1), backend)])
    assert 1 / 3 - 1e-6 <= s.min() and s.max() <= 1.0 + 1e-6
    k = np.concatenate([d["shift_factor"] for d in _draws(L.RandomPosterization(4, seed=1), backend)])
    assert set(np.unique(k)) == {5, 6, 7}                  # bits in [1, 4): shift 8 - bits
    sh = np.concatenate([d["shear_factor"] for d in _draws(L.RandomShear(0.3, 0.1, seed=1), backend)])
    assert np.abs(sh[:, 0]).max() <= 0.3 and np.abs(sh[:, 1]).max() <= 0.1
    sol = _draws(L.Solarization((0.2, 0.4), 0.5, seed=1), backend)
    a = np.concatenate([d["additions"].ravel() for d in sol])
    assert 0.2 <= a.min() and a.max() < 0.4 * 255
    g = np.concatenate([d["should_apply_blur"] for d in _draws(L.RandomGaussianBlur(factor=(0.0, 0.0), seed=1), backend)])
    assert not g.any()
    inv = np.concatenate([d["apply_inversion"] for d in _draws(L.RandomInvert(factor=(1.0, 1.0), seed=1), backend)])
    assert inv.all()
    gray = np.concatenate([d.ravel() for d in _draws(L.RandomGrayscale(0.3, seed=1), backend, n=200)])
    assert 0.2 < gray.mean() < 0.4
    er = _draws(L.RandomErasing(scale=(0.1, 0.2), seed=1), backend)
    area = np.array([d["batch_masks"][i, :, :, 0].mean() for d in er for i in range(6)])
    assert 0.02 < area.min() and area.max() < 0.35
    mix = _draws(L.MixUp(alpha=0.5, seed=1), backend)
    w = np.concatenate([d["mix_weight"] for d in mix])
    assert 0 <= w.min() and w.max() <= 1 and sorted(mix[0]["permutation_order"]) == list(range(6))
    cut = _draws(L.CutMix(seed=1), backend)
    for d in cut:                       # the label weight is the kept fraction of the pixels
        np.testing.assert_allclose(d["mix_weight"], 1 - d["batch_masks"][:, :, :, 0].mean(axis=(1, 2)),
                                   atol=0.25)
    crop = _draws(L.RandomCrop(5, 4, seed=1), backend)
    assert all(0 <= hs <= 3 and 0 <= ws <= 5 for hs, ws in crop)
    per = _draws(L.RandomPerspective(scale=0.4, seed=1), backend)
    moved = np.concatenate([(d["end_points"] - d["start_points"]).ravel() for d in per])
    corner = np.concatenate([d["start_points"].ravel() for d in per])
    assert np.all(np.abs(moved) <= 0.2 * corner + 1e-12)
    el = _draws(L.RandomElasticTransform(scale=(0.2, 0.5), seed=1), backend)
    assert all(0.2 <= d["distortion_factor"] < 0.5 for d in el)
    ra = _draws(L.RandAugment(num_ops=3, seed=1), backend, n=30)
    assert all(len(d["layer_idxes"]) == 3 for d in ra)
    assert len({i for d in ra for i in d["layer_idxes"]}) == 11
    am = _draws(L.AugMix(num_chains=4, chain_depth=2, seed=1), backend, n=10)
    for d in am:
        np.testing.assert_allclose(d["chain_mixing_weights"].sum(), 1.0)
        assert len(d["chain_transforms"]) == 4 and all(len(c) <= 2 for c in d["chain_transforms"])


# ----------------------------------------------------------------------------- (c), (d), (e)
def _all_layers():
    return [
        L.RandomCrop(5, 6, seed=1), L.RandomContrast(0.5, seed=1), L.RandomBrightness(0.3, seed=1),
        L.RandomGrayscale(0.5, seed=1), L.RandomHue(0.5, seed=1), L.RandomSaturation(0.5, seed=1),
        L.RandomSharpness(0.5, seed=1), L.RandomShear(0.3, 0.3, seed=1),
        L.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3, saturation_factor=0.4,
                            hue_factor=0.2, seed=1),
        L.RandomColorDegeneration(0.5, seed=1), L.RandomPosterization(4, seed=1),
        L.RandomInvert(seed=1), L.RandomErasing(seed=1), L.RandomGaussianBlur(seed=1),
        L.RandomPerspective(seed=1), L.RandomElasticTransform(seed=1), L.AutoContrast(),
        L.Equalization(), L.Solarization(0.5, 0.5, seed=1),
        L.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 3)), L.MixUp(seed=1),
        L.CutMix(seed=1), L.AugMix(seed=1), L.RandAugment(seed=1), L.MaxNumBoundingBoxes(5)]


_AT_INFERENCE = ("AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization")


def test_inference_identity_seeds_and_config(backend):
    x = _images()
    for layer in _all_layers():
        name = type(layer).__name__
        y0 = to_np(backend, layer(x, training=False))
        if name in _AT_INFERENCE:
            assert not np.allclose(y0, x)
            np.testing.assert_allclose(to_np(backend, layer(x, training=True)), y0)
        elif name == "RandomCrop":      # Keras's deterministic box at inference (see its doc)
            np.testing.assert_array_equal(y0, x[:, :5, :6])
        else:
            np.testing.assert_array_equal(y0, x)
        y1 = to_np(backend, layer(x, training=True))
        assert y1.shape == layer.compute_output_shape(x.shape)
        config = layer.get_config()
        twin = type(layer).from_config(config)
        assert twin.get_config() == config
        again = type(layer).from_config(layer.get_config())     # a fresh seed stream
        if name not in ("MaxNumBoundingBoxes", "Equalization") + _AT_INFERENCE:
            assert not np.allclose(y1, x[:, :5, :6] if name == "RandomCrop" else x), name
            np.testing.assert_array_equal(to_np(backend, again(x, training=True)), y1, err_msg=name)
        # one unbatched image
        single = to_np(backend, layer(x[0], training=True))
        assert single.shape == layer.compute_output_shape(x[0].shape)


def test_backend_stream_seeding(backend):
    x = _images()
    for make in (lambda: L.RandomHue(0.5), lambda: L.RandomShear(0.4),
                 lambda: L.RandAugment(), lambda: L.RandomErasing()):
        pn.utils.set_random_seed(5)
        a = to_np(backend, make()(x, training=True))
        pn.utils.set_random_seed(5)
        np.testing.assert_array_equal(a, to_np(backend, make()(x, training=True)))


def test_integer_images_and_channels_first(backend):
    x = _images().astype("int32")
    y = to_np(backend, L.RandomBrightness((0.1, 0.1), seed=0)(x, training=True))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, np.clip(x + 25.5, 0, 255), rtol=1e-6)
    xc = np.transpose(_images(), (0, 3, 1, 2))
    yc = to_np(backend, L.RandomGaussianBlur(seed=2, data_format="channels_first")(xc, training=True))
    yl = to_np(backend, L.RandomGaussianBlur(seed=2)(np.transpose(xc, (0, 2, 3, 1)), training=True))
    np.testing.assert_allclose(yc, np.transpose(yl, (0, 3, 1, 2)), rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------- by hand
def test_transforms_by_hand(backend, float64):
    x = _images(seed=3).astype("float64")
    layer = L.RandomInvert(value_range=(0, 255))
    y = _apply(backend, layer, x, {"apply_inversion": np.array([True] * 3 + [False] * 3)})
    np.testing.assert_allclose(y[:3], 255 - x[:3]) and np.testing.assert_allclose(y[3:], x[3:])
    gray = _apply(backend, L.RandomGrayscale(), x, np.ones((6, 1, 1, 1), bool))
    expected = x @ np.array([0.2989, 0.587, 0.114])
    np.testing.assert_allclose(gray, np.repeat(expected[..., None], 3, axis=-1), rtol=1e-12)
    post = _apply(backend, L.RandomPosterization(8), x, {"shift_factor": np.full(6, 4, np.uint8)})
    np.testing.assert_allclose(post, np.floor(np.floor(x) / 16) * 16)
    mix = _apply(backend, L.MixUp(), x, {"mix_weight": np.full(6, 0.25),
                                          "permutation_order": np.arange(6)[::-1].copy()})
    np.testing.assert_allclose(mix, 0.25 * x + 0.75 * x[::-1], rtol=1e-12)
    # Hue shifts of +-1/2 twice return the image (HSV round trip).
    hue = L.RandomHue(1.0)
    once = _apply(backend, hue, x, {"factor": np.full(6, 0.5)})
    np.testing.assert_allclose(_apply(backend, hue, once, {"factor": np.full(6, -0.5)}), x,
                               atol=1e-9)


def test_color_jitter_is_its_parts_in_order(backend):
    x = _images()
    jitter = L.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3,
                                 saturation_factor=0.4, hue_factor=0.2, seed=4)
    jitter.backend = backend
    t = jitter.get_random_transformation(backend.asarray(x))
    assert sorted(t) == ["brightness", "contrast", "hue", "saturation"]
    y = _apply(backend, jitter, x, t)
    ref = x
    for key, part in ((("brightness", L.RandomBrightness(0.2)), ("contrast", L.RandomContrast(0.3)),
                       ("saturation", L.RandomSaturation(0.4)), ("hue", L.RandomHue(0.2)))):
        ref = _apply(backend, part, ref, t[key])
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-4)


def test_rand_augment_and_aug_mix_compose_their_operations(backend):
    x = _images()
    ra = L.RandAugment(num_ops=2, factor=0.4, seed=3)
    ra.backend = backend
    t = ra.get_random_transformation(backend.asarray(x))
    ref = x
    for i in t["layer_idxes"]:
        name = ra._AUGMENT_LAYERS[i]
        ref = to_np(backend, ra._op_apply(name, backend.asarray(ref), t["transforms"][name]))
    np.testing.assert_allclose(_apply(backend, ra, x, t), ref, rtol=1e-6)
    am = L.AugMix(num_chains=2, chain_depth=2, seed=3)
    am.backend = backend
    t = am.get_random_transformation(backend.asarray(x))
    chains = []
    for chain in t["chain_transforms"]:
        c = x
        for step in chain:
            c = to_np(backend, am._op_apply(step["layer_name"], backend.asarray(c), step["transformation"]))
        chains.append(c)
    mixed = sum(w * c for w, c in zip(t["chain_mixing_weights"], chains))
    ws = t["weight_sample"]
    np.testing.assert_allclose(_apply(backend, am, x, t), np.clip(ws * x + (1 - ws) * mixed, 0, 255),
                               rtol=1e-5, atol=1e-3)


def test_dict_inputs_mix_labels(backend):
    x = _images()
    labels = np.eye(3)[np.arange(6) % 3].astype("float32")
    for layer in (L.MixUp(seed=2), L.CutMix(seed=2)):
        out = layer({"images": x, "labels": labels}, training=True)
        got = to_np(backend, out["labels"])
        assert got.shape == labels.shape
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-6)
        assert not np.allclose(got, labels)
        same = layer({"images": x, "labels": labels}, training=False)
        np.testing.assert_array_equal(to_np(backend, same["labels"]), labels)
    boxes = {"boxes": np.zeros((6, 2, 4), "float32"), "labels": np.zeros((6, 2), "float32")}
    out = L.RandomBrightness(0.2, seed=0)({"images": x, "bounding_boxes": boxes}, training=True)
    assert to_np(backend, out["bounding_boxes"]["boxes"]).shape == (6, 2, 4)
    with pytest.raises(ValueError, match="bounding_boxes"):
        L.RandomShear(0.2)({"images": x, "bounding_boxes": boxes}, training=True)


def test_bad_arguments():
    with pytest.raises(ValueError, match="factor"):
        L.RandomContrast(1.5)
    with pytest.raises(ValueError, match="value_range"):
        L.RandomBrightness(0.2, value_range=5)
    with pytest.raises(ValueError, match="factor"):
        L.RandomGrayscale(2.0)
    with pytest.raises(ValueError, match="kernel_size"):
        L.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match="fill_mode"):
        L.RandomShear(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="x_factor"):
        L.RandomShear(1.5)
    with pytest.raises(ValueError, match="scale"):
        L.RandomPerspective(scale=2.0)
    with pytest.raises(ValueError, match="factor"):
        L.RandomPosterization(9)
    with pytest.raises(ValueError, match="alpha"):
        L.MixUp(alpha=0.0)
    with pytest.raises(ValueError, match="fill_value"):
        L.RandomErasing(fill_value=(1, 2))
    with pytest.raises(ValueError, match="seed"):
        L.RandomHue(0.2, seed=-1)
    with pytest.raises(ValueError, match="rank 3"):
        L.RandomHue(0.2)(np.zeros((2, 3)), training=True)


# ----------------------------------------------------------------------------- (f) gradients
@pytest.mark.parametrize("make", [
    lambda: L.RandomContrast((0.2, 0.5), value_range=(-10, 10)),
    lambda: L.RandomBrightness(0.1, value_range=(-10, 10)),
    lambda: L.RandomSharpness(0.5, value_range=(-10, 10)),
    lambda: L.RandomColorDegeneration(0.5, value_range=(-10, 10)),
    lambda: L.RandomGaussianBlur(kernel_size=3, value_range=(-10, 10)),
    lambda: L.RandomShear(0.3, 0.3, fill_mode="constant", fill_value=0.5),
    lambda: L.RandomPerspective(scale=0.3),
    lambda: L.RandomElasticTransform(value_range=(-10, 10), fill_mode="mirror"),
    lambda: L.RandomErasing(value_range=(-10, 10)),
    lambda: L.MixUp(),
    lambda: L.CutMix(),
    lambda: L.RandomCrop(7, 9, seed=2),       # smaller images: the aspect crop and a resize
    lambda: L.RandomHue(0.5, value_range=(-4, 4)),
    lambda: L.RandomSaturation((0.3, 0.7), value_range=(-4, 4)),
    lambda: L.AutoContrast(value_range=(-4, 4)),
    lambda: L.Solarization(0.3, (0.4, 0.6), value_range=(-4, 4)),
    lambda: L.RandomInvert(value_range=(-4, 4)),
    lambda: L.RandomGrayscale(0.5),
    lambda: L.RandomColorJitter(value_range=(-4, 4), brightness_factor=0.1, contrast_factor=0.2,
                                saturation_factor=0.3, hue_factor=0.1),
], ids=["contrast", "brightness", "sharpness", "degeneration", "blur", "shear", "perspective",
        "elastic", "erasing", "mixup", "cutmix", "crop", "hue", "saturation", "autocontrast",
        "solarization", "invert", "grayscale", "jitter"])
def test_harness_in_training(backend, make):
    layer = make()
    shape = (3, 5, 6, 3)
    out = layer.compute_output_shape(shape)
    # (a layer with its own seed draws anew on every call: RandomCrop is checked on images
    # smaller than its target, where Keras's crop is deterministic)
    run_layer_test(make, shape, backend, training=True, expected_output_shape=out)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:fit. the inputs are far from standardized")
def test_augmentation_stack_in_a_cnn_trains(backend):
    pn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (32, 10, 10, 3)).astype("float32")
    y = (x[..., 0].mean(axis=(1, 2)) / 255).reshape(-1, 1).astype("float32")
    model = pn.Sequential([
        pn.Input((10, 10, 3)), L.RandomCrop(8, 8, seed=1), L.RandomContrast(0.2, seed=2),
        L.RandomBrightness(0.05, seed=3), L.RandomSharpness(0.3, seed=4), L.RandomShear(0.1, seed=5),
        L.Rescaling(1 / 255), L.Conv2D(4, 3, activation="relu"), L.GlobalAveragePooling2D(),
        L.Dense(1)])
    model.compile(optimizer=pn.optimizers.Adam(0.02), loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * first


def test_model_with_augmentation_saves_and_loads(backend, tmp_path):
    m = pn.Sequential([
        pn.Input((10, 10, 3)), L.RandAugment(seed=1), L.AugMix(seed=2),
        L.RandomColorJitter(brightness_factor=0.1, hue_factor=0.2, seed=3), L.RandomCrop(8, 8, seed=4),
        L.RandomErasing(fill_value=(1, 2, 3)), L.RandomGaussianBlur(kernel_size=(3, 5)),
        L.ContrastLimitedAdaptiveHistogramEqualization(), L.Solarization(0.1, (0.2, 0.3)),
        L.Flatten(), L.Dense(2)])
    x = _images((2, 10, 10, 3))
    m.save(tmp_path / "m.keras")
    m2 = pn.saving.load_model(tmp_path / "m.keras")
    assert [type(a).__name__ for a in m2.layers] == [type(a).__name__ for a in m.layers]
    assert [a.get_config() for a in m2.layers[:-1]] == [a.get_config() for a in m.layers[:-1]]
    np.testing.assert_allclose(m2.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)
