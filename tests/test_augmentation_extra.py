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
