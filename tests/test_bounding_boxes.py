"""keras.utils.bounding_boxes (portanet/layers/bounding_boxes.py, public as
pn.utils.bounding_boxes) and the boxes of the geometric image layers:
(a) every function equals Keras 3.15.1's stored outputs (tests/keras_reference/bbox.npz, made
by make_bbox_reference.py; float32, 1e-5), for every format pair and the IoU/delta/affine
cases; (b) each layer's ``transform_bounding_boxes`` equals Keras's for a fixed
transformation; (c) dict inputs ``{"images", "bounding_boxes"}`` move the boxes with the
image content (one draw for both), single images included, and only in training for the
random layers; (d) the ``bounding_box_format`` argument, its config, and clear errors."""

import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import to_np

HERE = pathlib.Path(__file__).parent / "keras_reference"
sys.path.insert(0, str(HERE))
from make_bbox_reference import FUNCTION_CASES, LAYER_CASES  # noqa: E402

BB = pn.utils.bounding_boxes
L = pn.layers
REF = np.load(HERE / "bbox.npz")
TOL = 1e-5
KERAS_NAMES = ["affine_transform", "clip_to_image_size", "compute_ciou", "compute_iou",
               "convert_format", "crop", "decode_deltas_to_boxes", "encode_box_to_deltas", "pad"]


def _check(backend, got, expected, what):
    g = to_np(backend, got)
    assert g.dtype == expected.dtype, (what, g.dtype, expected.dtype)
    assert g.shape == expected.shape, (what, g.shape, expected.shape)
    np.testing.assert_allclose(g, expected, rtol=TOL, atol=TOL, err_msg=what)


def _function_kwargs(backend, case):
    _, kwargs = FUNCTION_CASES[case]
    kw = {}
    for k, v in kwargs.items():
        if isinstance(v, dict):
            kw[k] = {dk: backend.asarray(REF[f"fn/{case}/in/{k}/{dk}"]) for dk in v}
        elif f"fn/{case}/in/{k}" in REF.files:
            kw[k] = backend.asarray(REF[f"fn/{case}/in/{k}"])
        else:
            kw[k] = v
    return kw


def test_public_names():
    assert sorted(BB.__all__) == KERAS_NAMES
    for name in KERAS_NAMES:
        assert callable(getattr(BB, name))
    assert pn.utils.bounding_boxes is BB


def test_public_names_live_keras():
    keras_bb = pytest.importorskip("keras.utils.bounding_boxes")
    names = sorted(n for n in dir(keras_bb) if not n.startswith("_"))
    assert names == KERAS_NAMES


@pytest.mark.parametrize("case", sorted(FUNCTION_CASES))
def test_function_equals_keras(backend, case):
    fn, _ = FUNCTION_CASES[case]
    result = getattr(BB, fn)(**_function_kwargs(backend, case))
    if isinstance(result, dict):
        keys = sorted(k[len(f"fn/{case}/out/"):] for k in REF.files
                      if k.startswith(f"fn/{case}/out/"))
        assert sorted(result) == keys
        for key in keys:
            _check(backend, result[key], REF[f"fn/{case}/out/{key}"], f"{case}/{key}")
    else:
        _check(backend, result, REF[f"fn/{case}/out"], case)


def _layer_transformation(case):
    prefix = f"layer/{case}/t/"
    keys = sorted(k[len(prefix):] for k in REF.files if k.startswith(prefix))
    if keys == ["0", "1"]:
        return (int(REF[prefix + "0"]), int(REF[prefix + "1"]))
    t = {k: REF[prefix + k] for k in keys}
    if "input_shape" in t:
        t["input_shape"] = tuple(int(v) for v in t["input_shape"])
    return t


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_boxes_equal_keras(backend, case):
    cls, kwargs, _, _ = LAYER_CASES[case]
    layer = getattr(L, cls)(**kwargs)
    boxes = {"boxes": backend.asarray(REF[f"layer/{case}/boxes"]),
             "labels": backend.asarray(REF[f"layer/{case}/labels"])}
    out = layer.transform_bounding_boxes(boxes, _layer_transformation(case), training=True)
    _check(backend, out["boxes"], REF[f"layer/{case}/out/boxes"], case)
    _check(backend, out["labels"], REF[f"layer/{case}/out/labels"], case)


def test_convert_format_hand_values_and_dict(backend):
    boxes = backend.asarray(np.array([[10, 20, 30, 40], [50, 60, 70, 80]], dtype="int32"))
    np.testing.assert_allclose(to_np(backend, BB.convert_format(boxes, "xyxy", "xywh")),
                               [[10, 20, 20, 20], [50, 60, 20, 20]])
    rel = BB.convert_format(boxes, "xyxy", "rel_xyxy", height=200, width=300)
    np.testing.assert_allclose(to_np(backend, rel), [[10 / 300, 0.1, 0.1, 0.2],
                                                     [50 / 300, 0.3, 70 / 300, 0.4]], rtol=1e-6)
    data = {"boxes": boxes, "labels": backend.asarray(np.array([3, 4]))}
    out = BB.convert_format(data, "xyxy", "center_yxhw")
    assert out is data  # converted in place, as Keras
    np.testing.assert_allclose(to_np(backend, out["boxes"]), [[30, 20, 20, 20], [70, 60, 20, 20]])
    np.testing.assert_array_equal(to_np(backend, out["labels"]), [3, 4])


def test_clip_marks_empty_boxes(backend):
    data = {"boxes": backend.asarray(np.array([[-10, -20, 150, 160], [50, 40, 70, 80],
                                               [130, 10, 140, 20]], dtype="float32")),
            "labels": backend.asarray(np.array([0, 1, 2], dtype="int32"))}
    out = BB.clip_to_image_size(data, height=100, width=120)
    np.testing.assert_allclose(to_np(backend, out["boxes"]),
                               [[0, 0, 120, 100], [50, 40, 70, 80], [120, 10, 120, 20]])
    np.testing.assert_array_equal(to_np(backend, out["labels"]), [0, 1, -1])


def test_encode_decode_round_trip(backend):
    rng = np.random.default_rng(0)
    anchors = backend.asarray(REF["fn/encode_default/in/anchors"])
    boxes = backend.asarray(REF["fn/encode_default/in/boxes"])
    for fmt, var in (("center_yxhw", None), ("center_xywh", [0.1, 0.1, 0.2, 0.2])):
        deltas = BB.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding_format=fmt,
                                         variance=var)
        back = BB.decode_deltas_to_boxes(anchors, deltas, "xyxy", "xyxy", encoded_format=fmt,
                                         variance=var)
        np.testing.assert_allclose(to_np(backend, back), to_np(backend, boxes), atol=1e-4)
    levels = BB.decode_deltas_to_boxes({"p3": anchors}, {"p3": backend.asarray(
        rng.normal(size=(3, 4)).astype("float32"))}, "xyxy", "xywh")
    assert sorted(levels) == ["p3"] and tuple(levels["p3"].shape) == (3, 4)


def test_iou_hand_values(backend):
    a = backend.asarray(np.array([[0, 0, 10, 10], [5, 5, 15, 15]], dtype="float32"))
    b = backend.asarray(np.array([[0, 0, 10, 10], [10, 10, 20, 20], [0, 5, 10, 15]],
                                 dtype="float32"))
    iou = to_np(backend, BB.compute_iou(a, b, "xyxy"))
    expected = [[1.0, 0.0, 50 / 150], [25 / 175, 25 / 175, 50 / 150]]
    np.testing.assert_allclose(iou, expected, rtol=1e-5)
    ciou = to_np(backend, BB.compute_ciou(a, a, "xyxy"))
    np.testing.assert_allclose(ciou, [1.0, 1.0], atol=1e-5)


# ----------------------------------------------------------------------------- dict inputs
H, W = 20, 30


def _scene():
    images = np.zeros((2, H, W, 3), dtype="float32")
    images[0, 5:10, 8:16, :] = 1.0
    images[1, 9:17, 3:12, :] = 1.0
    boxes = np.array([[[8, 5, 16, 10]], [[3, 9, 12, 17]]], dtype="float32")
    return images, {"boxes": boxes, "labels": np.array([[1], [2]], dtype="int32")}


def _extent(image):
    ys, xs = np.nonzero(image[..., 0] > 0.5)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype="float32")


@pytest.mark.parametrize("make,tol", [
    (lambda s: L.RandomFlip("horizontal_and_vertical", seed=s, bounding_box_format="xyxy"), 0.0),
    (lambda s: L.RandomTranslation(0.2, 0.2, seed=s, fill_mode="constant",
                                   bounding_box_format="xyxy"), 0.6),
    (lambda s: L.RandomZoom(0.2, seed=s, fill_mode="constant", bounding_box_format="xyxy"), 1.0),
    (lambda s: L.CenterCrop(12, 16, bounding_box_format="xyxy"), 0.0),
    (lambda s: L.Resizing(40, 60, bounding_box_format="xyxy"), 1.0),
    (lambda s: L.RandomShear(0.1, 0.1, seed=s, fill_mode="constant",
                             bounding_box_format="xyxy"), 1.0),
    (lambda s: L.RandomPerspective(scale=0.2, seed=s, bounding_box_format="xyxy"), 1.0),
])
def test_dict_boxes_follow_the_image(backend, make, tol):
    images, boxes = _scene()
    for seed in (1, 2, 3):
        out = make(seed)({"images": backend.asarray(images), "bounding_boxes": dict(boxes)},
                         training=True)
        moved, got = to_np(backend, out["images"]), to_np(backend, out["bounding_boxes"]["boxes"])
        assert got.dtype == np.float32
        for i in range(2):
            np.testing.assert_allclose(got[i, 0], _extent(moved[i]), atol=tol + 1e-4)
        np.testing.assert_array_equal(to_np(backend, out["bounding_boxes"]["labels"]),
                                      boxes["labels"])


def test_dict_rotation_encloses_the_image(backend):
    images, boxes = _scene()
    layer = L.RandomRotation(0.05, seed=4, fill_mode="constant", bounding_box_format="xyxy")
    out = layer({"images": backend.asarray(images), "bounding_boxes": dict(boxes)},
                training=True)
    moved, got = to_np(backend, out["images"]), to_np(backend, out["bounding_boxes"]["boxes"])
    for i in range(2):
        e = _extent(moved[i])
        assert np.all(got[i, 0, :2] <= e[:2] + 1.0) and np.all(got[i, 0, 2:] >= e[2:] - 1.0)
        assert np.all(np.abs(got[i, 0] - e) < 3.0)


def test_dict_single_image_equals_batch(backend):
    images, boxes = _scene()
    one = L.RandomTranslation(0.2, 0.2, seed=7, bounding_box_format="xyxy")(
        {"images": backend.asarray(images[0]),
         "bounding_boxes": {"boxes": boxes["boxes"][0], "labels": boxes["labels"][0]}},
        training=True)
    batch = L.RandomTranslation(0.2, 0.2, seed=7, bounding_box_format="xyxy")(
        {"images": backend.asarray(images[:1]),
         "bounding_boxes": {"boxes": boxes["boxes"][:1], "labels": boxes["labels"][:1]}},
        training=True)
    assert tuple(one["bounding_boxes"]["boxes"].shape) == (1, 4)
    np.testing.assert_allclose(to_np(backend, one["bounding_boxes"]["boxes"]),
                               to_np(backend, batch["bounding_boxes"]["boxes"])[0])
    np.testing.assert_allclose(to_np(backend, one["images"]), to_np(backend, batch["images"])[0])


def test_dict_inference(backend):
    images, boxes = _scene()
    data = {"images": backend.asarray(images), "bounding_boxes": dict(boxes)}
    for layer in (L.RandomFlip(bounding_box_format="xyxy"),
                  L.RandomRotation(0.2, bounding_box_format="xyxy"),
                  L.RandomShear(0.2, bounding_box_format="xyxy")):
        out = layer(dict(data), training=False)
        np.testing.assert_array_equal(to_np(backend, out["bounding_boxes"]["boxes"]),
                                      boxes["boxes"])
        np.testing.assert_array_equal(to_np(backend, out["images"]), images)
    # CenterCrop and Resizing act at inference too (as Keras): boxes and images together.
    out = L.Resizing(10, 15, bounding_box_format="xyxy")(dict(data))
    np.testing.assert_allclose(to_np(backend, out["bounding_boxes"]["boxes"]),
                               boxes["boxes"] / 2.0)
    assert tuple(out["images"].shape) == (2, 10, 15, 3)


def test_other_formats_in_dicts(backend):
    images, boxes = _scene()
    rel = dict(boxes, boxes=(boxes["boxes"] / np.array([W, H, W, H], dtype="float32")))
    out = L.CenterCrop(12, 16, bounding_box_format="rel_xyxy")(
        {"images": backend.asarray(images), "bounding_boxes": rel})
    got = to_np(backend, out["bounding_boxes"]["boxes"]) * np.array([16, 12, 16, 12])
    for i in range(2):
        np.testing.assert_allclose(got[i, 0], _extent(to_np(backend, out["images"])[i]),
                                   atol=1e-4)


# ----------------------------------------------------------------------------- argument, config, errors
@pytest.mark.parametrize("make", [
    lambda f: L.RandomFlip(bounding_box_format=f),
    lambda f: L.RandomTranslation(0.1, 0.1, bounding_box_format=f),
    lambda f: L.RandomRotation(0.1, bounding_box_format=f),
    lambda f: L.RandomZoom(0.1, bounding_box_format=f),
    lambda f: L.RandomCrop(4, 4, seed=1, bounding_box_format=f),
    lambda f: L.RandomShear(0.1, bounding_box_format=f),
    lambda f: L.RandomPerspective(bounding_box_format=f),
    lambda f: L.CenterCrop(4, 4, bounding_box_format=f),
    lambda f: L.Resizing(4, 4, bounding_box_format=f),
])
def test_bounding_box_format_argument(backend, make):
    layer = make("center_xywh")
    config = layer.get_config()
    assert config["bounding_box_format"] == "center_xywh"
    assert type(layer).from_config(config).bounding_box_format == "center_xywh"
    assert "bounding_box_format" not in make(None).get_config()
    with pytest.raises(ValueError, match="bounding_box_format='cxcy'"):
        make("cxcy")
    images, boxes = _scene()
    with pytest.raises(ValueError, match="bounding_box_format=None"):
        make(None)({"images": backend.asarray(images), "bounding_boxes": boxes}, training=True)


def test_elastic_transform_refuses_boxes(backend):
    images, boxes = _scene()
    with pytest.raises(ValueError, match="bounding_boxes"):
        L.RandomElasticTransform(seed=1)({"images": backend.asarray(images),
                                          "bounding_boxes": boxes}, training=True)


def test_function_errors(backend):
    boxes = backend.asarray(np.ones((2, 4), dtype="float32"))
    with pytest.raises(ValueError, match="source='xyz'"):
        BB.convert_format(boxes, "xyz", "xyxy")
    with pytest.raises(ValueError, match="height=None"):
        BB.convert_format(boxes, "xyxy", "rel_xyxy")
    with pytest.raises(ValueError, match="last dimension of 4"):
        BB.convert_format(backend.asarray(np.ones((2, 3))), "xyxy", "xywh")
    with pytest.raises(ValueError, match="bounding_box_format='xywh'"):
        BB.clip_to_image_size({"boxes": boxes}, 10, 10, bounding_box_format="xywh")
    with pytest.raises(ValueError, match="height and width"):
        BB.clip_to_image_size({"boxes": boxes})
    with pytest.raises(ValueError, match="variance"):
        BB.encode_box_to_deltas(boxes, boxes, "xyxy", "xyxy", variance=[1, 2, 3])
    with pytest.raises(ValueError, match="encoding_format='xyxy'"):
        BB.encode_box_to_deltas(boxes, boxes, "xyxy", "xyxy", encoding_format="xyxy")
    with pytest.raises(ValueError, match="rank 2"):
        BB.compute_iou(backend.asarray(np.ones((1, 2, 2, 4))), boxes, "xyxy")
    with pytest.raises(ValueError, match="image_shape=None"):
        BB.compute_iou(boxes, boxes, "rel_xyxy")
    with pytest.raises(ValueError, match="relative"):
        BB.compute_ciou(boxes, boxes, "rel_xyxy", image_shape=(4, 4, 3))
    with pytest.raises(ValueError, match=r"\(batch, N, 4\)"):
        BB.affine_transform(boxes, [0.0], [0.0], [0.0], [1.0], [0.0], [0.0], 10, 10)
    with pytest.raises(ValueError, match="bounding_box_format='yxyx'"):
        BB.crop(boxes, 0, 0, 5, 5, bounding_box_format="yxyx")


# Keras 3.15.1's image preprocessing layers (BaseImagePreprocessingLayer) all take
# bounding_box_format as a keyword; the required arguments of each here.
IMAGE_LAYERS = {
    "AugMix": {}, "AutoContrast": {}, "CenterCrop": dict(height=4, width=4),
    "ContrastLimitedAdaptiveHistogramEqualization": {}, "CutMix": {}, "Equalization": {},
    "MaxNumBoundingBoxes": dict(max_number=2), "MixUp": {}, "RandAugment": {},
    "RandomBrightness": dict(factor=0.1), "RandomColorDegeneration": dict(factor=0.1),
    "RandomColorJitter": {}, "RandomContrast": dict(factor=0.1), "RandomCrop": dict(
        height=4, width=4, seed=1), "RandomElasticTransform": {}, "RandomErasing": {},
    "RandomFlip": {}, "RandomGaussianBlur": {}, "RandomGrayscale": {},
    "RandomHue": dict(factor=0.1), "RandomInvert": {}, "RandomPerspective": {},
    "RandomPosterization": dict(factor=(1, 4)), "RandomRotation": dict(factor=0.1),
    "RandomSaturation": dict(factor=0.1), "RandomSharpness": dict(factor=0.1),
    "RandomShear": {}, "RandomTranslation": dict(height_factor=0.1, width_factor=0.1),
    "RandomZoom": dict(height_factor=0.1), "Resizing": dict(height=4, width=4),
    "Solarization": {},
}


@pytest.mark.parametrize("name", sorted(IMAGE_LAYERS))
def test_every_image_layer_takes_bounding_box_format(name):
    layer = getattr(L, name)(**IMAGE_LAYERS[name], bounding_box_format="yxyx")
    assert layer.bounding_box_format == "yxyx"
    config = layer.get_config()
    assert config["bounding_box_format"] == "yxyx"
    assert type(layer).from_config(config).get_config() == config


def test_color_layer_passes_boxes_through(backend):
    images, boxes = _scene()
    out = L.RandomContrast(0.3, seed=1, bounding_box_format="xyxy")(
        {"images": backend.asarray(images * 255.0), "bounding_boxes": dict(boxes)},
        training=True)
    np.testing.assert_array_equal(to_np(backend, out["bounding_boxes"]["boxes"]),
                                  boxes["boxes"])


@pytest.mark.parametrize("make", [
    lambda: L.RandomFlip("horizontal", bounding_box_format="xyxy"),
    lambda: L.RandomRotation(0.1, bounding_box_format="rel_xyxy"),
    lambda: L.CenterCrop(3, 4, bounding_box_format="xywh"),
    lambda: L.RandomShear(0.2, bounding_box_format="center_yxhw"),
])
def test_layers_with_a_box_format_pass_the_harness(backend, make):
    from harness import run_layer_test
    layer = run_layer_test(make, (2, 5, 6, 2), backend, training=True)
    assert layer.bounding_box_format == make().bounding_box_format
