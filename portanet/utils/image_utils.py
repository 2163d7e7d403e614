"""Keras 3's image utilities: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``,
``smart_resize`` and ``image_dataset_from_directory``, with Keras's signatures.

Files are read and written with Pillow (the optional extra: ``pip install "portanet[image]"``;
without it these functions raise an ImportError naming it). The host work is in
``portanet/backend/host_image.py``; resizing in ``image_dataset_from_directory`` and
``smart_resize`` is ``pn.layers.Resizing`` (Keras's NumPy-backend formulas) run on the host.
"""

import math
import os
import pathlib
import warnings

from .. import backend as _backend
from .. import config as _config
from ..backend import host_image as _host
from ..backend import host_io as _host_io
from ..layers import _windows as _W
from ..layers.image_preprocessing import Resizing
from ..training.py_dataset_adapter import PyDataset
from .dataset_utils import check_validation_split_arg, get_training_or_validation_split, index_directory

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img", "smart_resize",
           "image_dataset_from_directory", "ImageDirectoryDataset"]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def _data_format(value, owner):
    return _W.normalize_data_format(value, owner)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """Loads an image into PIL format, as ``keras.utils.load_img``.

    Args:
        path: path to the image file (str, bytes, pathlib.Path) or an io.BytesIO.
        color_mode: "grayscale", "rgb" (default) or "rgba".
        target_size: None (the original size) or (height, width).
        interpolation: PIL resampling when resizing: "nearest" (default), "bilinear",
            "bicubic", "hamming", "box" or "lanczos".
        keep_aspect_ratio: resize the central crop with the target aspect ratio.

    Returns:
        A PIL Image instance.
    """
    if color_mode not in ("grayscale", "rgb", "rgba"):
        raise ValueError(f'load_img: color_mode={color_mode!r}; expected "grayscale", "rgb" or '
                         f'"rgba"')
    if target_size is not None and interpolation not in _host.INTERPOLATIONS:
        raise ValueError(f"load_img: interpolation={interpolation!r}; expected one of "
                         f"{_host.INTERPOLATIONS}")
    img = _host.convert_mode(_host.open_image(path), color_mode)
    if target_size is not None:
        img = _host.pil_resize(img, target_size, interpolation, keep_aspect_ratio)
    return img


def img_to_array(img, data_format=None, dtype=None):
    """Converts a PIL image (or anything array-like) to a host NumPy array of shape
    (H, W, C) (channels_first: (C, H, W)), as ``keras.utils.img_to_array``.

    Args:
        img: a PIL image.
        data_format: "channels_last" (default) or "channels_first".
        dtype: the array dtype (default ``pn.config.floatx()``).
    """
    fmt = _data_format(data_format, "img_to_array")
    return _host.image_to_array(img, fmt, dtype or _config.floatx())


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """Converts a 3D array to a PIL image, as ``keras.utils.array_to_img``.

    Args:
        x: array of shape (H, W, C) (channels_first: (C, H, W)) with C in 1, 3, 4.
        data_format: "channels_last" (default) or "channels_first".
        scale: rescale the values to [0, 255] (min -> 0, max -> 255; default True).
        dtype: the working dtype (default ``pn.config.floatx()``).
    """
    fmt = _data_format(data_format, "array_to_img")
    return _host.array_to_image(_to_host(x), fmt, scale, dtype or _config.floatx())


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Saves an image array to a file, as ``keras.utils.save_img``.

    Args:
        path: path or file object.
        x: the image array (see ``array_to_img``).
        data_format: "channels_last" (default) or "channels_first".
        file_format: None (from the file name's extension) or a PIL format name.
        scale: rescale the values to [0, 255] (default True).
        **kwargs: passed to ``PIL.Image.save``.
    """
    fmt = _data_format(data_format, "save_img")
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=fmt, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.")
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def _to_host(x):
    """A host NumPy array from a host array, a list, a PIL image or a backend array."""
    backend = _backend.current()
    if backend.is_array(x):
        return _host.to_host(backend.to_numpy(x))
    return _host.to_host(x)


def _resize_host(images, size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
                 data_format):
    """Host (H, W, C) or (B, H, W, C) float arrays resized by ``pn.layers.Resizing`` on the
    NumPy backend (Keras's formulas)."""
    with _backend.use_backend("numpy"):
        layer = Resizing(size[0], size[1], interpolation=interpolation,
                         crop_to_aspect_ratio=crop_to_aspect_ratio,
                         pad_to_aspect_ratio=pad_to_aspect_ratio, data_format=data_format,
                         dtype="float64" if str(images.dtype) == "float64" else "float32",
                         name="host_resizing")
        return _host.to_host(layer(images))


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last", **kwargs):
    """Resizes images to ``size`` without distortion, as
    ``keras.preprocessing.image.smart_resize``: the largest central crop with the target aspect
    ratio, then a resize.

    Args:
        x: (H, W, C) or (B, H, W, C) image array (channels_first: C before H, W).
        size: (height, width).
        interpolation: "bilinear" (default), "nearest", "bicubic", "lanczos3" or "lanczos5".
        data_format: "channels_last" (default) or "channels_first".

    Returns:
        A host NumPy float array.
    """
    kwargs.pop("backend_module", None)
    if kwargs:
        raise TypeError(f"smart_resize() got unexpected keyword arguments: {list(kwargs)}")
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ValueError(f"smart_resize: size={size!r}; expected a tuple of 2 integers")
    img = _to_host(x)
    if img.ndim not in (3, 4):
        raise ValueError(f"smart_resize: expected an image array of shape (height, width, "
                         f"channels) or (batch, height, width, channels); got shape {img.shape}")
    if interpolation not in _RESIZE_INTERPOLATIONS:
        raise ValueError(f"smart_resize: interpolation={interpolation!r}; expected one of "
                         f"{_RESIZE_INTERPOLATIONS}")
    if str(img.dtype) not in ("float32", "float64"):
        img = _host.to_host(img, "float32")
    return _resize_host(img, tuple(size), interpolation, True, False,
                        _data_format(data_format, "smart_resize"))


# ----------------------------------------------------------------------------- directories
class ImageDirectoryDataset(PyDataset):
    """The batches of ``image_dataset_from_directory``: a ``PyDataset`` that ``fit``,
    ``evaluate`` and ``predict`` accept, and that iterates as ``(images, labels)`` batches
    (images only with ``label_mode=None``), decoded and resized when read.

    Attributes:
        class_names: the class names (None without labels).
        file_paths: the image files, in the dataset's (shuffled) order.
    """

    def __init__(self, file_paths, labels, label_mode, class_names, color_mode, batch_size,
                 image_size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
                 data_format, shuffle, seed):
        super().__init__()
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self._labels = None if labels is None else list(labels)
        self._label_mode = label_mode
        self._color_mode = color_mode
        self._batch_size = batch_size
        self._image_size = tuple(image_size)
        self._interpolation = interpolation
        self._crop = crop_to_aspect_ratio
        self._pad = pad_to_aspect_ratio
        self._data_format = data_format
        self._shuffle = shuffle
        self._seed = seed
        self._epoch = 0
        self._order = list(range(len(self.file_paths)))
        self._reshuffle()

    def _reshuffle(self):
        """Keras reshuffles its tf.data pipeline every epoch; so does this dataset
        (seeded: the same seed gives the same epochs)."""
        if self._shuffle:
            self._order = list(range(len(self.file_paths)))
            self._order = _host_io.seeded_shuffle(self._order, (self._seed + self._epoch) % (2 ** 32))

    def __len__(self):
        if self._batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self._batch_size)

    def _image(self, path):
        img = _host.decode(path, self._color_mode)
        if self._data_format == "channels_first":
            img = img.transpose(2, 0, 1)
        return _resize_host(img, self._image_size, self._interpolation, self._crop, self._pad,
                            self._data_format)

    def _label(self, indices):
        raw = [self._labels[i] for i in indices]
        if self._label_mode == "int":
            return _host.to_host(raw, "int32")
        if self._label_mode == "binary":
            return _host.to_host(raw, "float32").reshape(-1, 1)
        return _host.one_hot(raw, len(self.class_names))

    def __getitem__(self, idx):
        if not 0 <= idx < len(self):
            raise IndexError(f"ImageDirectoryDataset: batch index {idx} out of range "
                             f"[0, {len(self)})")
        if self._batch_size is None:
            indices = [self._order[idx]]
        else:
            indices = self._order[idx * self._batch_size:(idx + 1) * self._batch_size]
        images = _host.stack([self._image(self.file_paths[i]) for i in indices], "float32")
        if self._batch_size is None:
            images = images[0]
        if self._label_mode is None:
            return images
        labels = self._label(indices)
        return images, (labels[0] if self._batch_size is None else labels)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def on_epoch_end(self):
        self._epoch += 1
        self._reshuffle()


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, format="tf",
                                 verbose=True):
    """Generates a dataset of image batches from a directory, as
    ``keras.utils.image_dataset_from_directory``.

    With ``labels="inferred"`` the directory holds one subdirectory per class (sorted names
    give the class indices). Files of type bmp, gif, jpeg, jpg, png are read (Pillow), converted
    to ``color_mode``, resized to ``image_size`` (float32, 0-255), and batched.

    Args:
        directory: the data directory.
        labels: "inferred", None (images only) or a list of integer labels (one per file,
            in the sorted order of the files).
        label_mode: "int" (int32 (B,)), "categorical" (float32 one-hot (B, C)), "binary"
            (float32 (B, 1); exactly 2 classes) or None.
        class_names: with ``labels="inferred"``, the subdirectories to use (their order gives
            the indices).
        color_mode: "rgb" (default), "rgba" or "grayscale".
        batch_size: int (default 32) or None (single images).
        image_size: (height, width) (default (256, 256)) or an int.
        shuffle: shuffle the files (Keras's seeded order) and reshuffle every epoch.
        seed: int; required with ``validation_split`` and shuffling.
        validation_split: float in (0, 1) kept aside for validation.
        subset: "training", "validation" or "both" (returns [training, validation]).
        interpolation: "bilinear" (default), "nearest", "bicubic", "lanczos3" or "lanczos5"
            (Keras's other tf.image methods "area", "gaussian", "mitchellcubic" are not
            implemented here).
        follow_links: follow symbolic links of subdirectories.
        crop_to_aspect_ratio: resize the largest central crop with the target aspect ratio.
        pad_to_aspect_ratio: pad (zeros) to the target aspect ratio before resizing.
        data_format: "channels_last" (default) or "channels_first".
        format: "tf" or "grain" (Keras's pipeline choice; both give the same
            ImageDirectoryDataset here).
        verbose: print Keras's "Found N files belonging to C classes." lines.

    Returns:
        An ``ImageDirectoryDataset`` (a PyDataset with ``class_names`` and ``file_paths``),
        or a list of two with ``subset="both"``.
    """
    owner = "image_dataset_from_directory"
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(f"{owner}: `labels` argument should be a list/tuple of integer "
                             f"labels, of the same size as the number of image files in the "
                             f"target directory, 'inferred' or None. Received: labels={labels!r}")
        if class_names:
            raise ValueError(f"{owner}: You can only pass `class_names` if "
                             f'`labels="inferred"`. Received: labels={labels}, and '
                             f"class_names={class_names}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'{owner}: `label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode!r}')
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if color_mode not in ("rgb", "rgba", "grayscale"):
        raise ValueError(f'{owner}: `color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. '
                         f"Received: color_mode={color_mode!r}")
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    elif (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
          or not all(isinstance(v, int) and v > 0 for v in image_size)):
        raise ValueError(f"{owner}: Invalid `image_size` value. Expected a tuple of 2 positive "
                         f"integers. Received: image_size={image_size!r}")
    interpolation = str(interpolation).lower()
    if interpolation not in _RESIZE_INTERPOLATIONS:
        raise ValueError(f"{owner}: interpolation={interpolation!r}; expected one of "
                         f"{_RESIZE_INTERPOLATIONS}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{owner}: Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` "
                         f"can be set to `True`.")
    if format not in ("tf", "grain"):
        raise ValueError(f'{owner}: `format` should be either "tf" or "grain". Received: '
                         f"format={format!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):
        raise ValueError(f"{owner}: batch_size={batch_size!r}; expected a positive int or None")
    check_validation_split_arg(validation_split, subset, shuffle, seed, owner)
    if not os.path.isdir(directory):
        raise ValueError(f"{owner}: directory={directory!r} is not a directory")
    _host.pil_image()                        # the clear ImportError before any work
    if seed is None:
        seed = _host_io.random_seed()
    paths, labels, class_names = index_directory(
        directory, labels, ALLOWLIST_FORMATS, class_names=class_names, shuffle=shuffle,
        seed=seed, follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'{owner}: When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    fmt = _data_format(data_format, owner)
    common = dict(label_mode=label_mode, class_names=class_names, color_mode=color_mode,
                  batch_size=batch_size, image_size=image_size, interpolation=interpolation,
                  crop_to_aspect_ratio=crop_to_aspect_ratio,
                  pad_to_aspect_ratio=pad_to_aspect_ratio, data_format=fmt, seed=seed)
    if subset == "both":
        train = get_training_or_validation_split(paths, labels, validation_split, "training")
        val = get_training_or_validation_split(paths, labels, validation_split, "validation")
        if not train[0]:
            raise ValueError(f"No training images found in directory {directory}. Allowed "
                             f"formats: {ALLOWLIST_FORMATS}")
        if not val[0]:
            raise ValueError(f"No validation images found in directory {directory}. Allowed "
                             f"formats: {ALLOWLIST_FORMATS}")
        return [ImageDirectoryDataset(*train, shuffle=shuffle, **common),
                ImageDirectoryDataset(*val, shuffle=False, **common)]
    paths, labels = get_training_or_validation_split(paths, labels, validation_split, subset)
    if not paths:
        raise ValueError(f"No images found in directory {directory}. Allowed formats: "
                         f"{ALLOWLIST_FORMATS}")
    return ImageDirectoryDataset(paths, labels, shuffle=shuffle, **common)
