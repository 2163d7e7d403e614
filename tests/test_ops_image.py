"""portanet.ops.image (keras.ops.image): values against Keras 3.15.1's outputs (JAX, float64)
stored by tests/keras_reference/make_ops_image_reference.py, gradients of the differentiable
functions against float64 central finite differences, and bad arguments; on every backend."""

import json
import pathlib

import numpy as np
import pytest

import portanet as pn
from portanet import ops

REF = pathlib.Path(__file__).parent / "keras_reference"
DATA = np.load(REF / "ops_image.npz")
CASES = json.loads(str(DATA["__meta__"]))
PLAIN = [c for c in CASES if c["op"] != "elastic_transform"]
ELASTIC = [c for c in CASES if c["op"] == "elastic_transform"]
# Keras's JAX perspective_transform solves the homography in float32 (portanet: float64).
TOL = {"perspective_transform": 1e-5}


def _kwargs(case):
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in case["kwargs"].items()}


def _args(backend, case):
    args = []
    for i, kind in enumerate(case["args"]):
        if kind[0] == "array":
            args.append(backend.from_numpy(DATA[f"{case['case']}__in{i}"]))
        else:
            args.append(tuple(kind[1]) if isinstance(kind[1], list) else kind[1])
    return args


def _close(got, expected, tol, name):
    """|got − expected| <= tol·(the range of the expected values, at least 1)."""
    assert got.shape == expected.shape, (name, got.shape, expected.shape)
    scale = max(1.0, float(np.ptp(expected)) if expected.size else 1.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=tol * scale, err_msg=name)


def test_the_namespace_is_keras_s():
    assert pn.ops.image is ops.image
    assert sorted(ops.image.__all__) == sorted(
        ["affine_transform", "crop_images", "elastic_transform", "extract_patches",
         "extract_patches_3d", "gaussian_blur", "hsv_to_rgb", "map_coordinates", "pad_images",
         "perspective_transform", "resize", "rgb_to_grayscale", "rgb_to_hsv",
         "scale_and_translate", "sobel_edges", "ssim"])
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", PLAIN, ids=[c["case"] for c in PLAIN])
def test_matches_keras(backend, float64, case):
    out = getattr(ops.image, case["op"])(*_args(backend, case), **_kwargs(case))
    _close(backend.to_numpy(out), DATA[f"{case['case']}__out"], TOL.get(case["op"], 1e-6),
           case["case"])


@pytest.mark.parametrize("case", PLAIN, ids=[c["case"] for c in PLAIN])
def test_matches_keras_in_float32(backend, case):
    """The same images in float32 (transforms and coordinates kept) against Keras's float64
    outputs: 1e-5 of the range."""
    images = 2 if case["op"] == "ssim" else 1
    args = [backend.xp.astype(a, backend.xp.float32) if k < images else a
            for k, a in enumerate(_args(backend, case))]
    out = getattr(ops.image, case["op"])(*args, **_kwargs(case))
    assert "float32" in str(out.dtype)
    _close(backend.to_numpy(out), DATA[f"{case['case']}__out"], 1e-5, case["case"])


def test_layers_and_ops_share_their_numbers(backend, float64):
    x = backend.from_numpy(np.random.default_rng(2).random((2, 7, 9, 3)))
    np.testing.assert_array_equal(
        backend.to_numpy(pn.layers.Resizing(5, 4, interpolation="bicubic")(x)),
        backend.to_numpy(ops.image.resize(x, (5, 4), interpolation="bicubic")))
    np.testing.assert_array_equal(
        backend.to_numpy(pn.layers.Resizing(4, 8, crop_to_aspect_ratio=True)(x)),
        backend.to_numpy(ops.image.resize(x, (4, 8), crop_to_aspect_ratio=True)))
    shear = pn.layers.RandomShear(0.3, seed=1)
    got = shear.transform_images(x, {"shear_factor": np.array([[0.2, 0.0], [-0.1, 0.0]])})
    want = ops.image.affine_transform(
        x, np.array([[1, 0.2, 0, 0, 1, 0, 0, 0], [1, -0.1, 0, 0, 1, 0, 0, 0]], dtype=float),
        fill_mode="reflect")
    np.testing.assert_array_equal(backend.to_numpy(got), backend.to_numpy(want))


@pytest.mark.parametrize("case", ELASTIC, ids=[c["case"] for c in ELASTIC])
def test_elastic_matches_keras_for_its_noise(backend, float64, case):
    kw = _kwargs(case)
    fmt = kw.pop("data_format")
    images = backend.from_numpy(DATA[f"{case['case']}__in0"])
    noise = DATA[f"{case['case']}__noise"]
    out = ops.image.elastic_from_fields(images, noise, noise, kw["alpha"], kw["sigma"],
                                        kw.get("interpolation", "bilinear"),
                                        kw.get("fill_mode", "reflect"), kw.get("fill_value", 0.0),
                                        fmt)
    _close(backend.to_numpy(out), DATA[f"{case['case']}__out"], 1e-6, case["case"])


def test_elastic_transform_is_seeded(backend, float64):
    x = backend.from_numpy(np.random.default_rng(0).random((2, 8, 9, 1)))
    a = backend.to_numpy(ops.image.elastic_transform(x, alpha=2.0, sigma=1.0, seed=3))
    b = backend.to_numpy(ops.image.elastic_transform(x, alpha=2.0, sigma=1.0, seed=3))
    c = backend.to_numpy(ops.image.elastic_transform(x, alpha=2.0, sigma=1.0, seed=4))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 8, 9, 1) and not np.allclose(a, c)
    one = ops.image.elastic_transform(x[0, ...], seed=3)
    assert tuple(one.shape) == (8, 9, 1)
    generator = pn.random.SeedGenerator(7)
    d = backend.to_numpy(ops.image.elastic_transform(x, seed=generator))
    e = backend.to_numpy(ops.image.elastic_transform(x, seed=generator))
    assert not np.allclose(d, e)      # a SeedGenerator advances between calls


def test_data_format_defaults_to_the_config(backend, float64):
    x = np.random.default_rng(1).random((1, 3, 5, 6))
    pn.config.set_image_data_format("channels_first")
    try:
        got = backend.to_numpy(ops.image.resize(backend.from_numpy(x), (4, 3)))
    finally:
        pn.config.set_image_data_format("channels_last")
    want = backend.to_numpy(ops.image.resize(backend.from_numpy(x), (4, 3),
                                             data_format="channels_first"))
    assert got.shape == (1, 3, 4, 3)
    np.testing.assert_array_equal(got, want)


def test_integer_images_keep_their_dtype(backend):
    x = backend.from_numpy(np.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3).astype(np.int32))
    y = ops.image.resize(x, (2, 2))
    assert "int32" in str(y.dtype)
    g = ops.image.rgb_to_grayscale(x)
    assert "int32" in str(g.dtype) and tuple(g.shape) == (2, 4, 4, 1)
    np.testing.assert_array_equal(
        backend.to_numpy(ops.image.resize(x, (2, 2), interpolation="nearest")),
        backend.to_numpy(x)[:, 1::2, 1::2, :])


# ----------------------------------------------------------------------------- gradients
def _fd_check(backend, fn, shapes, seed=0, eps=1e-6, tol=1e-6):
    """The tape's gradient of sum(fn(*xs)·w) against central differences (float64)."""
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(0.05, 0.95, size=s) for s in shapes]
    w = rng.normal(size=np.shape(backend.to_numpy(fn(*[backend.from_numpy(x) for x in xs]))))

    def loss(*arrays):
        return float(np.sum(backend.to_numpy(fn(*[backend.from_numpy(a) for a in arrays])) * w))

    with pn.GradientTape() as tape:
        variables = [tape.watch(backend.from_numpy(x)) for x in xs]
        out = fn(*variables)
        total = ops.sum(out * backend.from_numpy(w))
    grads = tape.gradient(total, variables)
    for k, (x, g) in enumerate(zip(xs, grads)):
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            up, down = [a.copy() for a in xs], [a.copy() for a in xs]
            up[k][idx] += eps
            down[k][idx] -= eps
            numeric[idx] = (loss(*up) - loss(*down)) / (2 * eps)
        np.testing.assert_allclose(backend.to_numpy(g), numeric, rtol=tol, atol=tol)


T = np.array([1.1, 0.2, 0.3, -0.15, 0.9, 0.45, 0.0, 0.0])
GRADIENT_CASES = {
    "resize_bicubic": (lambda x: ops.image.resize(x, (3, 5), interpolation="bicubic"),
                       [(1, 4, 3, 2)]),
    "resize_crop_first": (lambda x: ops.image.resize(x, (2, 2), crop_to_aspect_ratio=True,
                                                     data_format="channels_first"),
                          [(1, 2, 3, 5)]),
    "resize_pad": (lambda x: ops.image.resize(x, (4, 2), pad_to_aspect_ratio=True,
                                              fill_value=0.3), [(1, 3, 3, 1)]),
    "scale_and_translate": (lambda x: ops.image.scale_and_translate(
        x, (1, 4, 5, 1), [1.2, 1.4], [0.1, -0.2], (1, 2), "lanczos3"), [(1, 3, 4, 1)]),
    "affine_constant": (lambda x: ops.image.affine_transform(x, T, fill_value=0.5),
                        [(1, 4, 4, 2)]),
    "affine_reflect_first": (lambda x: ops.image.affine_transform(
        x, T, fill_mode="reflect", data_format="channels_first"), [(1, 2, 4, 3)]),
    "perspective": (lambda x: ops.image.perspective_transform(
        x, [[0, 0], [3, 0], [0, 3], [3, 3]], [[0.2, 0.1], [2.7, 0.3], [0.4, 3.1], [3.2, 2.6]]),
        [(4, 4, 1)]),
    "map_coordinates": (lambda x: ops.image.map_coordinates(
        x, np.array([[0.3, 1.7, -0.4, 2.2], [2.6, 0.1, 1.5, 3.3]]), 1, fill_mode="mirror"),
        [(3, 4)]),
    "map_coordinates_at_traced_coordinates": (lambda x, c: ops.image.map_coordinates(
        x, c * 3.0 - 0.8, 1, fill_value=0.4), [(3, 4), (2, 3, 2)]),
    "map_coordinates_coordinate_list": (lambda x, r, c: ops.image.map_coordinates(
        x, [r * 2.0, c * 4.0 - 1.0], 1, fill_mode="reflect"), [(3, 4), (5,), (5,)]),
    "affine_at_traced_transform": (lambda x, t: ops.image.affine_transform(
        x, ops.concatenate([t * 0.4 + 0.8, ops.zeros((2, 2), dtype="float64")], axis=1)
        - 0.3 * ops.convert_to_tensor(np.array([0, 1, 0, 1, 0, 0, 0, 0.0])), fill_value=0.6),
        [(2, 3, 4, 2), (2, 6)]),
    "affine_one_traced_transform_reflect": (lambda x, t: ops.image.affine_transform(
        x, ops.concatenate([t * 1.5 - 0.3, ops.zeros((2,), dtype="float64")], axis=0),
        fill_mode="reflect", data_format="channels_first"), [(2, 2, 3, 4), (6,)]),
    "elastic": (lambda x: ops.image.elastic_transform(x, alpha=1.5, sigma=0.8, seed=5),
                [(1, 4, 5, 1)]),
    "gaussian_blur": (lambda x: ops.image.gaussian_blur(x, (3, 5), (0.9, 1.3)), [(1, 4, 5, 2)]),
    "sobel": (lambda x: ops.image.sobel_edges(x), [(1, 4, 4, 1)]),
    "ssim": (lambda a, b: ops.image.ssim(a, b, filter_size=3, filter_sigma=0.8),
             [(1, 4, 4, 1), (1, 4, 4, 1)]),
    "hsv": (lambda x: ops.image.rgb_to_hsv(x), [(1, 2, 2, 3)]),
    "rgb": (lambda x: ops.image.hsv_to_rgb(x), [(1, 2, 2, 3)]),
    "gray": (lambda x: ops.image.rgb_to_grayscale(x, data_format="channels_first"),
             [(1, 3, 2, 2)]),
    "patches": (lambda x: ops.image.extract_patches(x, 2, strides=1), [(1, 3, 3, 2)]),
    "patches_3d": (lambda x: ops.image.extract_patches_3d(x, 2), [(1, 2, 2, 2, 1)]),
    "pad": (lambda x: ops.image.pad_images(x, 1, 0, 2, 1), [(1, 2, 3, 1)]),
    "crop": (lambda x: ops.image.crop_images(x, 1, 0, 0, 1), [(1, 3, 3, 1)]),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(backend, float64, name):
    fn, shapes = GRADIENT_CASES[name]
    _fd_check(backend, fn, shapes)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, match", [
    (lambda x: ops.image.resize(x, (4, 4), interpolation="cubic"), "interpolation='cubic'"),
    (lambda x: ops.image.resize(x, (4,)), "size="),
    (lambda x: ops.image.resize(x, (4, 4), fill_mode="reflect"), "fill_mode='reflect'"),
    (lambda x: ops.image.resize(x, (4, 4), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
     "at most one"),
    (lambda x: ops.image.resize(x, (4, 4), data_format="NHWC"), "data_format='NHWC'"),
    (lambda x: ops.image.affine_transform(x, np.zeros(6)), "transform"),
    (lambda x: ops.image.affine_transform(x, np.zeros(8), fill_mode="edge"), "fill_mode='edge'"),
    (lambda x: ops.image.map_coordinates(x, np.zeros((2, 3)), 2), "order=2"),
    (lambda x: ops.image.map_coordinates(x, np.zeros((2, 3)), 1), "one per axis"),
    (lambda x: ops.image.pad_images(x, 1, 1), "exactly two of top_padding"),
    (lambda x: ops.image.crop_images(x, 1, 1, target_height=9, target_width=2),
     "bottom_cropping would be -6"),
    (lambda x: ops.image.pad_images(x, -1, 0, 0, 0), "top_padding=-1"),
    (lambda x: ops.image.rgb_to_grayscale(x[..., :2]), "3 \\(RGB\\) or 1"),
    (lambda x: ops.image.sobel_edges(x[0, ...]), "rank 4"),
    (lambda x: ops.image.perspective_transform(x, np.zeros((4, 2)), np.zeros((3, 2))),
     "end_points"),
    (lambda x: ops.image.scale_and_translate(x, (1, 4, 4, 3), [1.0], [0.0], (1, 2), "box"),
     "method='box'"),
])
def test_bad_arguments_name_the_argument(backend, call, match):
    x = backend.from_numpy(np.ones((1, 4, 4, 3)))
    with pytest.raises(ValueError, match=match):
        call(x)
