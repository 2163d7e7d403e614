"""Generate tests/keras_reference/augment.npz: Keras 3's deterministic image augmentation
transforms for FIXED transformations (``layer.transform_images(images, transformation)``;
the random draws of Keras and portanet cannot agree, the transforms must), in float32 and
float64.

Run with Keras 3 and SciPy installed (not portanet's test dependencies); the NumPy backend is
the one portanet's resampling follows:
    KERAS_BACKEND=numpy python tests/keras_reference/make_augment_reference.py
tests/test_augmentation_extra.py rebuilds each layer from CASES, applies the stored
transformation with portanet and compares with the stored output.

Every transformation is drawn here with a fixed NumPy generator and stored under
``{dtype}/{case}/t/{key}`` (a tuple transformation as keys "0", "1"; a bare array as "_").
"""

import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent
B, H, W, C = 2, 8, 9, 3


def _images(rng, shape, value_range):
    lo, hi = value_range
    return rng.uniform(lo, hi, size=shape)


def _mask(h0, h1, w0, w1, data_format="channels_last"):
    m = np.zeros((B, H, W, C), dtype=bool)
    m[0, h0:h1, w0:w1, :] = True
    m[1, h1 - 2:, : w1 - 1, :] = True
    return m if data_format == "channels_last" else np.transpose(m, (0, 3, 1, 2))


def _corners(scale_rng):
    start = np.array([[[0.0, 0.0], [W - 1, 0.0], [0.0, H - 1], [W - 1, H - 1]]] * B)
    return start, start + start * scale_rng.uniform(-0.25, 0.25, size=(B, 4, 2))


_PERSPECTIVE_RNG = np.random.default_rng(11)
_START, _END = _corners(_PERSPECTIVE_RNG)

# name: (Keras class, constructor kwargs, data_format, value range of the images,
#        transformation (dict, tuple, array or None), labels (or None))
CASES = {
    "contrast": ("RandomContrast", dict(factor=0.5), "channels_last", (0, 255),
                 {"contrast_factor": np.array([1.3, 0.6]).reshape(B, 1, 1, 1)}, None),
    "contrast_cf": ("RandomContrast", dict(factor=0.5, value_range=(0, 1),
                                           data_format="channels_first"),
                    "channels_first", (0, 1),
                    {"contrast_factor": np.array([1.8, 0.2]).reshape(B, 1, 1, 1)}, None),
    "brightness": ("RandomBrightness", dict(factor=0.3), "channels_last", (0, 255),
                   {"rgb_delta": np.array([30.0, -50.0]).reshape(B, 1, 1, 1)}, None),
    "grayscale": ("RandomGrayscale", dict(factor=0.5), "channels_last", (0, 255),
                  np.array([True, False]).reshape(B, 1, 1, 1), None),
    "grayscale_cf": ("RandomGrayscale", dict(factor=0.5, data_format="channels_first"),
                     "channels_first", (0, 255), np.array([False, True]).reshape(B, 1, 1, 1),
                     None),
    "hue": ("RandomHue", dict(factor=0.5), "channels_last", (0, 255),
            {"factor": np.array([0.2, -0.15])}, None),
    "hue_cf_unit": ("RandomHue", dict(factor=0.8, value_range=(0, 1),
                                      data_format="channels_first"),
                    "channels_first", (0, 1), {"factor": np.array([-0.4, 0.35])}, None),
    "saturation": ("RandomSaturation", dict(factor=0.5), "channels_last", (0, 255),
                   {"factor": np.array([0.4, 2.5])}, None),
    "saturation_unit": ("RandomSaturation", dict(factor=0.5, value_range=(0, 1)),
                        "channels_last", (0, 1), {"factor": np.array([0.3, 3.0])}, None),
    "sharpness": ("RandomSharpness", dict(factor=0.5), "channels_last", (0, 255),
                  {"factor": np.array([0.2, 0.9])}, None),
    "sharpness_cf": ("RandomSharpness", dict(factor=0.5, data_format="channels_first"),
                     "channels_first", (0, 255), {"factor": np.array([0.7, 0.05])}, None),
    "shear_reflect": ("RandomShear", dict(x_factor=0.3, y_factor=0.3), "channels_last", (0, 1),
                      {"shear_factor": np.array([[0.2, -0.1], [-0.3, 0.25]])}, None),
    "shear_constant_nearest": ("RandomShear", dict(x_factor=0.3, y_factor=0.3,
                                                   fill_mode="constant", fill_value=0.5,
                                                   interpolation="nearest"),
                               "channels_last", (0, 1),
                               {"shear_factor": np.array([[0.45, 0.1], [-0.2, -0.35]])}, None),
    "shear_wrap_cf": ("RandomShear", dict(x_factor=0.3, fill_mode="wrap",
                                          data_format="channels_first"),
                      "channels_first", (0, 1),
                      {"shear_factor": np.array([[0.3, 0.0], [-0.15, 0.0]])}, None),
    "color_degeneration": ("RandomColorDegeneration", dict(factor=0.5), "channels_last",
                           (0, 255), {"factor": np.array([0.3, 0.8]).reshape(B, 1, 1, 1)}, None),
    "posterization": ("RandomPosterization", dict(factor=4), "channels_last", (0, 255),
                      {"shift_factor": np.array([4, 6], dtype=np.uint8)}, None),
    "posterization_unit": ("RandomPosterization", dict(factor=6, value_range=(0, 1)),
                           "channels_last", (0, 1),
                           {"shift_factor": np.array([2, 7], dtype=np.uint8)}, None),
    "invert": ("RandomInvert", dict(), "channels_last", (0, 255),
               {"apply_inversion": np.array([True, False])}, None),
    "solarization": ("Solarization", dict(addition_factor=0.5, threshold_factor=0.5),
                     "channels_last", (0, 255),
                     {"additions": np.array([20.0, 60.0]).reshape(B, 1, 1, 1),
                      "thresholds": np.array([100.0, 200.0]).reshape(B, 1, 1, 1)}, None),
    "solarization_unit": ("Solarization", dict(addition_factor=0.2, threshold_factor=0.9,
                                               value_range=(0, 1)),
                          "channels_last", (0, 1),
                          {"additions": np.array([10.0, 0.0]).reshape(B, 1, 1, 1),
                           "thresholds": np.array([128.0, 64.0]).reshape(B, 1, 1, 1)}, None),
    "auto_contrast": ("AutoContrast", dict(), "channels_last", (40, 200), None, None),
    "auto_contrast_unit": ("AutoContrast", dict(value_range=(0, 1)), "channels_last",
                           (0.2, 0.7), None, None),
    "equalization": ("Equalization", dict(), "channels_last", (0, 255), None, None),
    "equalization_bins_unit": ("Equalization", dict(bins=32, value_range=(0, 1)),
                               "channels_last", (0.1, 0.6), None, None),
    "clahe": ("ContrastLimitedAdaptiveHistogramEqualization", dict(tile_grid_size=(3, 3)),
              "channels_last", (0, 255), None, None),
    "clahe_exact_cf": ("ContrastLimitedAdaptiveHistogramEqualization",
                       dict(tile_grid_size=(2, 3), clip_limit=2.0, value_range=(0, 1),
                            data_format="channels_first"),
                       "channels_first", (0, 1), None, None),
    "erasing": ("RandomErasing", dict(), "channels_last", (0, 255),
                {"apply_erasing": np.array([True, True]), "batch_masks": _mask(2, 6, 1, 5),
                 "fill_value": np.random.default_rng(3).uniform(0, 255, (B, H, W, C))}, None),
    "gaussian_blur": ("RandomGaussianBlur", dict(kernel_size=(5, 3)), "channels_last", (0, 255),
                      {"should_apply_blur": np.array([True, False]),
                       "blur_factor": np.array([0.8, 1.3])}, None),
    "gaussian_blur_cf": ("RandomGaussianBlur", dict(kernel_size=3, data_format="channels_first"),
                         "channels_first", (0, 255),
                         {"should_apply_blur": np.array([True, True]),
                          "blur_factor": np.array([0.5, 0.9])}, None),
    "perspective": ("RandomPerspective", dict(), "channels_last", (0, 1),
                    {"apply_perspective": np.array([True, False]), "start_points": _START,
                     "end_points": _END, "input_shape": np.array([B, H, W, C])}, None),
    "perspective_nearest_fill": ("RandomPerspective", dict(interpolation="nearest",
                                                           fill_value=0.25),
                                 "channels_last", (0, 1),
                                 {"apply_perspective": np.array([True, True]),
                                  "start_points": _START, "end_points": _END,
                                  "input_shape": np.array([B, H, W, C])}, None),
    "elastic": ("RandomElasticTransform", dict(value_range=(0, 1)), "channels_last", (0, 1),
                {"apply_transform": np.array([True, True]), "distortion_factor": 0.9,
                 "seed": 1234}, None),
    "elastic_constant_cf": ("RandomElasticTransform",
                            dict(value_range=(0, 1), fill_mode="constant", fill_value=0.3,
                                 data_format="channels_first"),
                            "channels_first", (0, 1),
                            {"apply_transform": np.array([True, False]),
                             "distortion_factor": 1.0, "seed": 99}, None),
    "mix_up": ("MixUp", dict(), "channels_last", (0, 255),
               {"mix_weight": np.array([0.3, 0.8]), "permutation_order": np.array([1, 0])},
               np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])),
    "cut_mix": ("CutMix", dict(), "channels_last", (0, 255),
                {"permutation_order": np.array([1, 0]), "batch_masks": _mask(1, 5, 2, 7),
                 "mix_weight": np.array([0.6, 0.75])},
                np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])),
    "random_crop": ("RandomCrop", dict(height=5, width=6, seed=1), "channels_last", (0, 255),
                    (1, 2), None),
}

# Cases with images smaller than RandomCrop's target (the aspect crop then a resize).
SMALL_CROP = ("RandomCrop", dict(height=6, width=6, seed=1), (B, 4, 5, C))


def _keras_transformation(t, layer_name):
    if isinstance(t, dict):
        out = dict(t)
        if "input_shape" in out:
            out["input_shape"] = tuple(int(v) for v in out["input_shape"])
        return out
    return t


# image_dataset_from_directory: Keras's file order (index_directory with a seed) over this
# tree of class folders, and its decoding path's resize (ops.image.resize, as the "grain"
# loader) of a fixed uint8 image that the test writes as PNG.
DIRECTORY_TREE = {"cats": ["b.png", "a.jpg", "c.gif", "notes.txt"], "dogs": ["z.bmp", "y.jpeg"],
                  "eels": ["e1.png", "sub/e2.png"]}
INDEX_SEED = 1337
RESIZE_CASES = {"plain": dict(), "crop": dict(crop_to_aspect_ratio=True),
                "pad": dict(pad_to_aspect_ratio=True),
                "nearest_cf": dict(interpolation="nearest", data_format="channels_first")}


def fixed_image():
    return np.random.default_rng(5).integers(0, 256, (7, 10, 3)).astype("uint8")


def _image_utils_reference(out):
    import tempfile

    from keras import ops
    from keras.src.utils import dataset_utils

    with tempfile.TemporaryDirectory() as root:
        for sub, files in DIRECTORY_TREE.items():
            for f in files:
                path = pathlib.Path(root, sub, f)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
        for shuffle in (False, True):
            paths, labels, names = dataset_utils.index_directory(
                root, "inferred", formats=(".bmp", ".gif", ".jpeg", ".jpg", ".png"),
                shuffle=shuffle, seed=INDEX_SEED)
            rel = [str(pathlib.Path(p).relative_to(root)) for p in paths]
            out[f"utils/index_{shuffle}/paths"] = np.asarray(rel)
            out[f"utils/index_{shuffle}/labels"] = np.asarray(labels)
            out[f"utils/index_{shuffle}/class_names"] = np.asarray(names)
    img = fixed_image().astype("float32")
    out["utils/image"] = fixed_image()
    for name, kw in RESIZE_CASES.items():
        kw = dict(kw)
        fmt = kw.pop("data_format", "channels_last")
        x = img if fmt == "channels_last" else np.transpose(img, (2, 0, 1))
        out[f"utils/resize_{name}"] = np.asarray(
            ops.image.resize(x, size=(5, 6), data_format=fmt, **kw))


def main():
    import keras
    from keras import layers
    from keras.src.random.seed_generator import draw_seed

    out = {}
    for dtype in ("float32", "float64"):
        keras.config.set_floatx(dtype)
        rng = np.random.default_rng(0)
        for name, (cls, kwargs, data_format, vr, t, labels) in CASES.items():
            shape = (B, H, W, C) if data_format == "channels_last" else (B, C, H, W)
            x = _images(rng, shape, vr).astype(dtype)
            if name == "auto_contrast":
                x[1, ..., 1] = 77.0                       # a constant channel stays as is
            layer = getattr(layers, cls)(**kwargs)
            kt = _keras_transformation(t, cls)
            y = np.asarray(layer.transform_images(x.copy(), kt, training=True))
            key = f"{dtype}/{name}"
            out[f"{key}/x"] = x
            out[f"{key}/y"] = y
            if isinstance(t, dict):
                for k, v in t.items():
                    out[f"{key}/t/{k}"] = np.asarray(v)
            elif isinstance(t, tuple):
                for i, v in enumerate(t):
                    out[f"{key}/t/{i}"] = np.asarray(v)
            elif t is not None:
                out[f"{key}/t/_"] = np.asarray(t)
            if cls == "RandomElasticTransform":
                # The unit normal fields Keras's NumPy backend draws from this seed.
                noise = np.random.default_rng(draw_seed(t["seed"]))
                bh = (B, H, W)
                out[f"{key}/t/dx"] = noise.normal(size=bh, loc=0.0, scale=1.0).astype(dtype)
                out[f"{key}/t/dy"] = noise.normal(size=bh, loc=0.0, scale=1.0).astype(dtype)
            if labels is not None:
                out[f"{key}/labels"] = labels.astype(dtype)
                out[f"{key}/labels_y"] = np.asarray(
                    layer.transform_labels(labels.astype(dtype), kt, training=True))
        cls, kwargs, shape = SMALL_CROP
        layer = getattr(layers, cls)(**kwargs)
        x = _images(rng, shape, (0, 255)).astype(dtype)
        t = layer.get_random_transformation(x, training=True)
        out[f"{dtype}/small_crop/x"] = x
        out[f"{dtype}/small_crop/t/0"] = np.asarray(int(t[0]))
        out[f"{dtype}/small_crop/t/1"] = np.asarray(int(t[1]))
        out[f"{dtype}/small_crop/y"] = np.asarray(layer.transform_images(x, t, training=True))
        # MaxNumBoundingBoxes: pad 3 boxes to 5, truncate to 2.
        boxes = rng.uniform(0, 8, size=(B, 3, 4)).astype(dtype)
        labels = np.array([[1, 2, 3], [4, 5, 6]], dtype="int32")
        out[f"{dtype}/boxes/boxes"] = boxes
        out[f"{dtype}/boxes/labels"] = labels
        for n in (5, 2):
            r = layers.MaxNumBoundingBoxes(max_number=n, fill_value=-1).transform_bounding_boxes(
                {"boxes": boxes, "labels": labels}, None)
            out[f"{dtype}/boxes/boxes_{n}"] = np.asarray(r["boxes"])
            out[f"{dtype}/boxes/labels_{n}"] = np.asarray(r["labels"])
    _image_utils_reference(out)
    out["keras_version"] = np.asarray(keras.__version__)
    np.savez_compressed(HERE / "augment.npz", **out)
    print(f"wrote {len(out)} arrays to {HERE / 'augment.npz'} (Keras {keras.__version__})")


if __name__ == "__main__":
    main()
