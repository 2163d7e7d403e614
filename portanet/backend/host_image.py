"""Host image files through Pillow (the optional ``image`` extra): decoding to NumPy arrays,
arrays to PIL images, saving, and Keras's seeded file-order shuffle.

``portanet.utils.image_utils`` (``pn.utils.load_img`` and friends,
``image_dataset_from_directory``) calls these; NumPy stays in the backend package, as the
design card says. Pillow is imported when an image function runs, and its absence raises
an ImportError naming the extra.
"""

import io
import pathlib

import numpy as np

PIL_MISSING = ('portanet needs Pillow to read and write image files: pip install "portanet[image]" '
               '(or pip install pillow)')

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def pil_image():
    """The ``PIL.Image`` module, or an ImportError naming the ``image`` extra."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(PIL_MISSING) from error
    return Image


def _resampling(Image, interpolation):
    res = getattr(Image, "Resampling", Image)
    return {"nearest": res.NEAREST, "bilinear": res.BILINEAR, "bicubic": res.BICUBIC,
            "hamming": res.HAMMING, "box": res.BOX, "lanczos": res.LANCZOS}[interpolation]


def open_image(path):
    """A PIL image read fully from a path (str, bytes, pathlib.Path) or an io.BytesIO."""
    Image = pil_image()
    if isinstance(path, io.BytesIO):
        return Image.open(path)
    if isinstance(path, (pathlib.Path, bytes, str)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:
            return Image.open(io.BytesIO(f.read()))
    raise TypeError(f"load_img: path should be path-like or io.BytesIO, not {type(path).__name__}")


def convert_mode(img, color_mode):
    """Keras's color conversion: "grayscale" keeps L / I;16 / I, "rgb", "rgba"."""
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif color_mode == "rgb":
        if img.mode != "RGB":
            img = img.convert("RGB")
    else:
        raise ValueError(f'color_mode={color_mode!r}; expected "grayscale", "rgb" or "rgba"')
    return img


def pil_resize(img, target_size, interpolation, keep_aspect_ratio):
    """Keras's ``load_img`` resize: PIL resampling to (height, width), optionally of the
    central crop with the target aspect ratio."""
    Image = pil_image()
    size = (target_size[1], target_size[0])
    if img.size == size:
        return img
    resample = _resampling(Image, interpolation)
    if keep_aspect_ratio:
        width, height = img.size
        tw, th = size
        crop_h = min(height, width * th // tw)
        crop_w = min(width, height * tw // th)
        hs, ws = (height - crop_h) // 2, (width - crop_w) // 2
        return img.resize(size, resample, box=[ws, hs, ws + crop_w, hs + crop_h])
    return img.resize(size, resample)


def image_to_array(img, data_format, dtype):
    """Keras's ``img_to_array``: (H, W, C) (a 2D image gets C = 1), channels first on request."""
    x = np.asarray(img, dtype=dtype)
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x.reshape((1,) + x.shape if data_format == "channels_first" else x.shape + (1,))
    else:
        raise ValueError(f"img_to_array: unsupported image shape {x.shape}; expected 2 or 3 axes")
    return x


def array_to_image(x, data_format, scale, dtype):
    """Keras's ``array_to_img``: a 3D array -> a PIL image (RGBA, RGB, L, or I above 255)."""
    Image = pil_image()
    x = np.array(x, dtype=dtype)
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected an image array of rank 3 (one image); got "
                         f"shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: unsupported number of channels {channels}; expected 1, 3 "
                     f"or 4")


def decode(path, color_mode):
    """An image file as a float32 (H, W, C) host array (Keras's grain loader's decoding)."""
    img = convert_mode(open_image(path), color_mode)
    x = np.array(img, dtype="float32")
    return x[:, :, None] if x.ndim == 2 else x


def stack(arrays, dtype):
    return np.stack([np.asarray(a) for a in arrays]).astype(dtype, copy=False)


def to_host(x, dtype=None):
    return np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)


def one_hot(labels, num_classes, dtype="float32"):
    labels = np.asarray(labels, dtype=np.int64)
    return np.eye(num_classes, dtype=dtype)[labels]
