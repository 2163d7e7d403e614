"""Writes ops_image.npz: keras.ops.image outputs on fixed inputs, for tests/test_ops_image.py.

Run with Keras 3 (made with 3.15.1 on JAX, float64):
    KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/keras_reference/make_ops_image_reference.py

The file holds, per case, the inputs ``<case>__in<i>`` (array arguments), Keras's output
``<case>__out`` and, in ``__meta__`` (a JSON string), the list of cases: the op, each
positional argument (``["array"]`` or ``["value", v]``) and the keyword arguments.
elastic_transform draws its noise inside Keras; the case stores that noise (JAX draws one
field and uses it for both dx and dy) so the test can feed it to portanet's
``ops.image.elastic_from_fields``.
"""

import json
import os
import pathlib

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
from keras import ops  # noqa: E402

keras.config.set_floatx("float64")
rng = np.random.default_rng(20261202)
HERE = pathlib.Path(__file__).parent


def img(*shape, low=0.0, high=1.0):
    return rng.uniform(low, high, size=shape)


def cf(x):
    """channels_last -> channels_first (rank 3 or 4)."""
    return np.moveaxis(x, -1, -3)


X = img(2, 7, 9, 3)
X3 = img(6, 8, 3)
BIG = img(2, 16, 18, 3)
BIG2 = np.clip(BIG + rng.normal(scale=0.1, size=BIG.shape), 0, 1)
T1 = np.array([[1.05, 0.13, 0.37, -0.21, 0.93, 0.61, 0.0, 0.0],
               [0.87, -0.24, 1.29, 0.16, 1.11, -0.83, 0.0, 0.0]])
T_FAR = np.array([[1.3, 0.4, -3.7, -0.35, 1.2, 2.9, 0.0, 0.0],
                  [0.6, -0.9, 5.3, 0.7, 0.45, -4.1, 0.0, 0.0]])
START = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 6.0], [8.0, 6.0]])
END = np.array([[[0.7, 0.3], [7.6, 0.9], [0.2, 5.3], [8.4, 6.2]],
                [[-0.4, 0.8], [8.3, -0.2], [1.1, 5.7], [7.3, 5.9]]])
COORDS = rng.uniform(-3.0, 10.0, size=(2, 5, 4))
COORDS3 = np.stack([rng.uniform(-1.5, 3.5, size=(6,)), rng.uniform(-2, 7, size=(6,)),
                    rng.uniform(-1, 3, size=(6,))])
VOL = img(2, 5, 6, 4, 2)


def A(x):
    return ("array", np.asarray(x))


def V(v):
    return ("value", v)


CASES = [
    ("gray_last", "rgb_to_grayscale", [A(X)], {}),
    ("gray_first", "rgb_to_grayscale", [A(cf(X))], {"data_format": "channels_first"}),
    ("gray_one", "rgb_to_grayscale", [A(X3)], {}),
    ("hsv_last", "rgb_to_hsv", [A(X)], {}),
    ("hsv_first", "rgb_to_hsv", [A(cf(X))], {"data_format": "channels_first"}),
    ("rgb_last", "hsv_to_rgb", [A(X)], {}),
    ("rgb_first", "hsv_to_rgb", [A(cf(X3) * 1.3)], {"data_format": "channels_first"}),
    ("resize_bilinear", "resize", [A(X), V([5, 6])], {}),
    ("resize_nearest_first", "resize", [A(cf(X)), V([11, 4])],
     {"interpolation": "nearest", "data_format": "channels_first"}),
    ("resize_bicubic_aa", "resize", [A(X), V([4, 5])],
     {"interpolation": "bicubic", "antialias": True}),
    ("resize_lanczos3_up", "resize", [A(X3), V([10, 13])], {"interpolation": "lanczos3"}),
    ("resize_lanczos5_aa", "resize", [A(cf(X)), V([3, 4])],
     {"interpolation": "lanczos5", "antialias": True, "data_format": "channels_first"}),
    ("resize_crop", "resize", [A(X), V([4, 8])], {"crop_to_aspect_ratio": True}),
    ("resize_pad", "resize", [A(X), V([8, 4])],
     {"pad_to_aspect_ratio": True, "fill_value": 0.5}),
    ("resize_pad_first", "resize", [A(cf(X3)), V([3, 9])],
     {"pad_to_aspect_ratio": True, "fill_value": -1.0, "data_format": "channels_first"}),
    ("sat_linear", "scale_and_translate", [A(X), V([2, 8, 13, 3]), A([1.3, 1.45]),
                                          A([0.2, -0.7]), V([1, 2]), V("bilinear")], {}),
    ("sat_cubic_down", "scale_and_translate", [A(X), V([2, 4, 5, 3]), A([0.6, 0.55]),
                                              A([0.3, 0.1]), V([1, 2]), V("cubic")],
     {"antialias": False}),
    ("sat_lanczos3", "scale_and_translate", [A(X3), V([6, 5, 3]), A([0.7]), A([0.4]), V([1]),
                                            V("lanczos3")], {}),
    ("affine_bilinear_constant", "affine_transform", [A(X), A(T1)], {"fill_value": 0.5}),
    ("affine_nearest_reflect_first", "affine_transform", [A(cf(X)), A(T1)],
     {"interpolation": "nearest", "fill_mode": "reflect", "data_format": "channels_first"}),
    ("affine_wrap", "affine_transform", [A(X), A(T_FAR)], {"fill_mode": "wrap"}),
    ("affine_mirror", "affine_transform", [A(X), A(T_FAR)], {"fill_mode": "mirror"}),
    ("affine_nearest_mode", "affine_transform", [A(X), A(T_FAR)],
     {"fill_mode": "nearest", "interpolation": "nearest"}),
    ("affine_reflect_one", "affine_transform", [A(X3), A(T_FAR[0])], {"fill_mode": "reflect"}),
    ("affine_channel_terms", "affine_transform",
     [A(X), A(T1 + np.array([0, 0, 0, 0, 0, 0, 0.3, -0.6]))], {"fill_value": 0.25}),
    ("perspective_bilinear", "perspective_transform", [A(X3), A(START), A(END[0])],
     {"fill_value": 0.3}),
    ("perspective_nearest_first", "perspective_transform",
     [A(cf(X)), A(np.stack([START, START])), A(END)],
     {"interpolation": "nearest", "data_format": "channels_first"}),
    ("map_linear_constant", "map_coordinates", [A(X[0, :, :, 0]), A(COORDS), V(1)],
     {"fill_value": 0.7}),
    ("map_linear_reflect", "map_coordinates", [A(X[0, :, :, 0]), A(COORDS), V(1)],
     {"fill_mode": "reflect"}),
    ("map_linear_mirror", "map_coordinates", [A(X[0, :, :, 0]), A(COORDS), V(1)],
     {"fill_mode": "mirror"}),
    ("map_linear_wrap", "map_coordinates", [A(X[0, :, :, 0]), A(COORDS), V(1)],
     {"fill_mode": "wrap"}),
    ("map_nearest_nearest", "map_coordinates", [A(X[0, :, :, 0]), A(COORDS), V(0)],
     {"fill_mode": "nearest"}),
    ("map_3d", "map_coordinates", [A(X[0]), A(COORDS3), V(1)], {"fill_mode": "constant"}),
    # Keras 3.15.1's eager gaussian_blur does not standardize data_format=None (its backends
    # then read the images as channels_first): the channels_last cases name it.
    ("blur_default", "gaussian_blur", [A(X)], {"data_format": "channels_last"}),
    ("blur_first", "gaussian_blur", [A(cf(X))],
     {"kernel_size": (5, 3), "sigma": (1.5, 0.7), "data_format": "channels_first"}),
    ("blur_one", "gaussian_blur", [A(X3)], {"kernel_size": (3, 5), "sigma": (0.8, 2.0),
                                          "data_format": "channels_last"}),
    ("sobel_last", "sobel_edges", [A(X)], {}),
    ("sobel_first", "sobel_edges", [A(cf(X))], {"data_format": "channels_first"}),
    ("ssim_default", "ssim", [A(BIG), A(BIG2)], {}),
    ("ssim_first", "ssim", [A(cf(BIG) * 2.0), A(cf(BIG2) * 2.0)],
     {"max_val": 2.0, "filter_size": 7, "filter_sigma": 1.1, "data_format": "channels_first"}),
    ("ssim_one", "ssim", [A(BIG[0]), A(BIG2[0])], {"k1": 0.02, "k2": 0.05}),
    ("patches_2", "extract_patches", [A(X), V(2)], {}),
    ("patches_same_first", "extract_patches", [A(cf(X)), V([3, 2])],
     {"strides": (1, 2), "padding": "same", "data_format": "channels_first"}),
    ("patches_dilated", "extract_patches", [A(X3), V([2, 2])],
     {"strides": 1, "dilation_rate": 2}),
    ("patches_3d_via_2d", "extract_patches", [A(VOL), V([2, 2, 2])], {}),
    ("patches3d", "extract_patches_3d", [A(VOL), V(2)], {}),
    ("patches3d_same_first", "extract_patches_3d", [A(np.moveaxis(VOL, -1, 1)), V([2, 3, 2])],
     {"strides": 1, "padding": "same", "data_format": "channels_first"}),
    ("patches3d_one", "extract_patches_3d", [A(VOL[0]), V([2, 3, 2])], {"strides": (1, 2, 2)}),
    ("pad_top_left", "pad_images", [A(X), V(1), V(2)], {"target_height": 10, "target_width": 12}),
    ("pad_bottom_right_first", "pad_images", [A(cf(X))],
     {"bottom_padding": 2, "right_padding": 1, "top_padding": 0, "left_padding": 3,
      "data_format": "channels_first"}),
    ("pad_one", "pad_images", [A(X3)], {"bottom_padding": 2, "target_height": 9,
                                        "right_padding": 1, "target_width": 10}),
    ("crop_top_left", "crop_images", [A(X), V(1), V(2)], {"target_height": 4, "target_width": 5}),
    ("crop_bottom_right_first", "crop_images", [A(cf(X))],
     {"bottom_cropping": 2, "right_cropping": 1, "top_cropping": 1, "left_cropping": 3,
      "data_format": "channels_first"}),
    ("crop_one", "crop_images", [A(X3)], {"bottom_cropping": 2, "target_height": 3,
                                          "right_cropping": 1, "target_width": 5}),
]


def main():
    arrays, meta = {}, []
    for name, op, args, kwargs in CASES:
        call_args, kinds = [], []
        for i, (kind, value) in enumerate(args):
            if kind == "array":
                arrays[f"{name}__in{i}"] = value
                call_args.append(value)
                kinds.append(["array"])
            else:
                call_args.append(tuple(value) if isinstance(value, list) else value)
                kinds.append(["value", value])
        out = getattr(ops.image, op)(*call_args, **kwargs)
        arrays[f"{name}__out"] = np.asarray(out)
        meta.append({"case": name, "op": op, "args": kinds,
                     "kwargs": {k: list(v) if isinstance(v, tuple) else v
                                for k, v in kwargs.items()}})
    # elastic_transform: Keras's output and the noise it drew (the same field for dx and dy).
    import jax
    from keras.src.random.seed_generator import draw_seed
    for name, fmt, kwargs in (
            ("elastic_bilinear_reflect", "channels_last", {}),
            ("elastic_nearest_constant_first", "channels_first",
             {"interpolation": "nearest", "fill_mode": "constant", "fill_value": 0.5}),
            ("elastic_mirror", "channels_last", {"fill_mode": "mirror"})):
        images = img(2, 10, 12, 2)
        if fmt == "channels_first":
            images = cf(images)
        kwargs = dict(kwargs, alpha=3.0, sigma=1.5, seed=1234, data_format=fmt)
        out = ops.image.elastic_transform(images, **kwargs)
        noise = jax.random.normal(draw_seed(1234), shape=(2, 10, 12), dtype="float64")
        arrays[f"{name}__in0"] = images
        arrays[f"{name}__noise"] = np.asarray(noise)
        arrays[f"{name}__out"] = np.asarray(out)
        meta.append({"case": name, "op": "elastic_transform", "args": [["array"]],
                     "kwargs": {k: v for k, v in kwargs.items() if k != "seed"}})
    arrays["__meta__"] = np.asarray(json.dumps(meta))
    np.savez_compressed(HERE / "ops_image.npz", **arrays)
    print(f"{len(meta)} cases written to {HERE / 'ops_image.npz'}")


if __name__ == "__main__":
    main()
