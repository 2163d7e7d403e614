"""Image preprocessing layers of Keras 3: Rescaling, CenterCrop, Resizing and RandomFlip
(keras/src/layers/preprocessing), with backward passes so they may sit inside a model.

Resizing follows Keras's NumPy backend (``image.resize``, JAX's ``scale_and_translate``):
each resized axis is a linear map, a weight matrix ``W`` of shape ``(in, out)`` whose column
``j`` samples the input at ``(j + 0.5)·in/out − 0.5`` (half-pixel centers) through the
kernel (triangle for bilinear, Keys cubic, Lanczos), normalized to sum 1. "nearest" takes
input ``floor((j + 0.5)·in/out)`` (computed in float32 as Keras). The layer contracts the
image with ``W`` along height and width, and its backward contracts with ``Wᵀ`` (the math and
the op are ``portanet.ops.image``'s: ``resize`` and the layers share them).

Images are 4D ``(batch, height, width, channels)`` (or ``(batch, channels, height, width)``
with ``data_format="channels_first"``) or 3D (one unbatched image). Integer inputs are cast
to the layer's float dtype, as Keras does.

CenterCrop, Resizing and RandomFlip also take Keras's dict inputs ``{"images",
"bounding_boxes": {"boxes", "labels"}, "labels"}`` (a data pipeline, outside a model) and move
the boxes as Keras does (``bounding_box_format``; the math is in ``layers/bounding_boxes.py``).
"""

from ..ops import image
from ..random import SeedGenerator, uniform
from ..validation import check_number
from . import _windows as W
from . import bounding_boxes as BB
from .base import Layer, check_positive_int

__all__ = ["Rescaling", "CenterCrop", "Resizing", "RandomFlip"]

_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")
# The image math (resize matrices, windows, the aspect-ratio boxes) lives in portanet.ops.image.


def _to_float(layer, x):
    xp = layer.xp
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, layer.backend.dtype(layer.dtype))
    return x


def _image_axes(ndim, data_format, owner):
    if ndim not in (3, 4):
        raise ValueError(f"{owner}: expected images of rank 3 (one image) or 4 (a batch); got "
                         f"rank {ndim}")
    return (ndim - 2, ndim - 1) if data_format == "channels_first" else (ndim - 3, ndim - 2)


def _crop(x, axes, starts, sizes):
    """A window of ``x`` along the two image axes, and its adjoint (zero-fill)."""
    index = image.window_index(x.ndim, axes, starts, sizes)
    y = image.crop_window.impl(x, index=index)
    return y, lambda dy: image.crop_window.vjp(dy, y, x, index=index)[0]


class _ImageLayer(BB.BoundingBoxDict, Layer):
    """Shared data_format handling and output shapes of the layers that resize images."""

    def _axes(self, ndim):
        return _image_axes(ndim, self.data_format, f"{type(self).__name__} {self.name!r}")

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h, w = self._axes(len(shape))
        shape[h], shape[w] = self.height, self.width
        return tuple(shape)

    # -- bounding boxes (dict inputs): applied in training and inference, as the images
    _BOXES_AT_INFERENCE = True

    def _dict_images(self, images, active):
        x = _to_float(self, images)
        return self.forward(x)[0], self._box_transformation(tuple(x.shape))

    def _resize(self, x, axes, interpolation, antialias=False):
        """Resize the two image axes of ``x`` to (height, width): ``(y, backward)``
        (``ops.image``'s resampling op, its forward and its gradient)."""
        mats = image.resize_mats(x, axes, (self.height, self.width), interpolation, antialias)
        y = image.resample_axes.impl(x, mats=mats)
        return y, lambda dy: image.resample_axes.vjp(dy, y, x, mats=mats)[0]


class Rescaling(Layer):
    """Multiplies inputs by ``scale`` and adds ``offset``: ``y = x·scale + offset``.

    For instance ``scale=1/255`` maps [0, 255] to [0, 1]; ``scale=1/127.5, offset=-1``
    maps it to [-1, 1]. Applied in training and inference; integer inputs give floats.

    Args:
        scale: float, or a list of floats broadcast against the last axis (per channel).
        offset: float, or a list of floats broadcast against the last axis.

    Input shape: any. Output shape: same as the input.

    Example:
        >>> layer = pn.layers.Rescaling(1.0 / 255)
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = self._check(scale, "scale")
        self.offset = self._check(offset, "offset")

    @staticmethod
    def _check(value, name):
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise TypeError(f"Rescaling: {name}={value!r}; expected a float or a list of floats")
            return [check_number(v, name, "Rescaling") for v in value]
        return check_number(value, name, "Rescaling")

    def forward(self, x, training=False):
        x = _to_float(self, x)
        dtype = x.dtype
        scale = self.backend.from_numpy(self.scale, dtype)
        offset = self.backend.from_numpy(self.offset, dtype)

        def backward(dy):
            return dy * scale
        return x * scale + offset, backward

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "offset": self.offset})
        return config


class CenterCrop(_ImageLayer):
    """Crops the central ``height x width`` window of images, as Keras 3.

    When the image is at least the target size on both axes, the window starts at
    ``(in - target) // 2``. Otherwise (as Keras's ``smart_resize``) the largest central window
    with the target's aspect ratio is cropped and resized to the target (bilinear).

    Args:
        height: int, the output height.
        width: int, the output width.
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (channels_last; channels_first:
    ``(batch, C, H, W)`` or ``(C, H, W)``). Output shape: H, W replaced by height, width.

    Example:
        >>> layer = pn.layers.CenterCrop(24, 24)
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = check_positive_int(height, "height", "CenterCrop")
        self.width = check_positive_int(width, "width", "CenterCrop")
        self.data_format = W.normalize_data_format(data_format, "CenterCrop")

    def forward(self, x, training=False):
        x = _to_float(self, x)
        axes = self._axes(x.ndim)
        h, w = x.shape[axes[0]], x.shape[axes[1]]
        if h >= self.height and w >= self.width:
            return _crop(x, axes, ((h - self.height) // 2, (w - self.width) // 2),
                         (self.height, self.width))
        hs, ws, ch, cw = image.aspect_crop(h, w, self.height, self.width)
        cropped, crop_back = _crop(x, axes, (hs, ws), (ch, cw))
        y, resize_back = self._resize(cropped, axes, "bilinear")
        return y, lambda dy: crop_back(resize_back(dy))

    def _box_transformation(self, input_shape):
        return {"input_shape": input_shape}

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` {"input_shape"}: the boxes in the central
        window (rescaled when it is resized), clipped; in training and inference."""
        self._require_box_format()
        return BB.center_crop_boxes(bounding_boxes, transformation, self.height, self.width,
                                    self.bounding_box_format, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width, "data_format": self.data_format})
        return config


class Resizing(_ImageLayer):
    """Resizes images to ``height x width``, as Keras 3 (half-pixel centers, Keras's
    NumPy backend numbers).

    Args:
        height: int, the output height.
        width: int, the output width.
        interpolation: "bilinear" (default), "nearest", "bicubic", "lanczos3" or "lanczos5".
        crop_to_aspect_ratio: crop the largest central window with the target aspect ratio
            first (no distortion).
        pad_to_aspect_ratio: pad the short side evenly with ``fill_value`` first instead.
        fill_mode: only "constant" (Keras supports only it too).
        fill_value: float, the padding value.
        antialias: when downsampling, widen the kernel by the scale (anti-aliasing).
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (channels_last; channels_first:
    ``(batch, C, H, W)`` or ``(C, H, W)``). Output shape: H, W replaced by height, width.

    Example:
        >>> layer = pn.layers.Resizing(64, 64, interpolation="nearest")
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = check_positive_int(height, "height", "Resizing")
        self.width = check_positive_int(width, "width", "Resizing")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"Resizing: interpolation={interpolation!r}; expected one of "
                             f"{_INTERPOLATIONS}")
        if fill_mode != "constant":
            raise ValueError(f"Resizing: fill_mode={fill_mode!r}; only 'constant' is supported")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("Resizing: crop_to_aspect_ratio and pad_to_aspect_ratio are both True; "
                             "expected at most one")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = check_number(fill_value, "fill_value", "Resizing")
        self.antialias = bool(antialias)
        self.data_format = W.normalize_data_format(data_format, "Resizing")

    def forward(self, x, training=False):
        x = _to_float(self, x)
        axes = self._axes(x.ndim)
        h, w = x.shape[axes[0]], x.shape[axes[1]]
        pre_back = None
        if self.crop_to_aspect_ratio:
            hs, ws, ch, cw = image.aspect_crop(h, w, self.height, self.width)
            x, pre_back = _crop(x, axes, (hs, ws), (ch, cw))
        elif self.pad_to_aspect_ratio:
            hs, ws = image.aspect_pad(h, w, self.height, self.width)
            if hs or ws:
                axis, n = (axes[0], hs) if hs else (axes[1], ws)
                widths = image.pad_widths(x.ndim, axis, n, n)
                unpadded, value = x, float(self.fill_value)
                x = image.pad_window.impl(unpadded, widths=widths, value=value)
                pre_back = (lambda dy: image.pad_window.vjp(dy, None, unpadded, widths=widths,
                                                            value=value)[0])
        y, resize_back = self._resize(x, axes, self.interpolation, self.antialias)
        if pre_back is None:
            return y, resize_back
        return y, lambda dy: pre_back(resize_back(dy))

    def _box_transformation(self, input_shape):
        h, w = self._axes(len(input_shape))
        return (input_shape[h], input_shape[w])

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` (input_height, input_width): scaled as the
        image (stretched, cropped or padded to the aspect ratio), clipped; all-0 and all-(-1)
        padding boxes stay 0. In training and inference."""
        self._require_box_format()
        return BB.resize_boxes(bounding_boxes, transformation, self.height, self.width,
                               self.crop_to_aspect_ratio, self.pad_to_aspect_ratio,
                               self.bounding_box_format)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width,
                       "interpolation": self.interpolation,
                       "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                       "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                       "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                       "antialias": self.antialias, "data_format": self.data_format})
        return config


_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


class RandomFlip(BB.BoundingBoxDict, Layer):
    """Flips images at random in training (``training=True``); the identity otherwise.

    As Keras 3, each image draws one number u ~ U[0, 1) and is flipped when u <= 0.5; with
    "horizontal_and_vertical" that one draw flips both axes (or neither).

    Args:
        mode: "horizontal" (left-right), "vertical" (top-bottom) or
            "horizontal_and_vertical" (default).
        seed: None (draws from the backend's stream, which ``pn.utils.set_random_seed``
            reseeds) or an int (the layer's own ``pn.random.SeedGenerator(seed)``: the same
            sequence of flips for every layer built with that seed).
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (channels_first: C first).
    Output shape: same as the input.

    Example:
        >>> layer = pn.layers.RandomFlip("horizontal", seed=42)
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in _FLIP_MODES:
            raise ValueError(f"RandomFlip: mode={mode!r}; expected one of {_FLIP_MODES}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"RandomFlip: seed={seed!r}; expected a non-negative int or None")
        self.mode = mode
        self.seed = seed
        self._generator = None if seed is None else SeedGenerator(seed)
        self.data_format = W.normalize_data_format(data_format, "RandomFlip")

    def _draw(self, shape):
        if self._generator is None:
            return self.backend.random_uniform(shape)
        return uniform(shape, seed=self._generator)

    def forward(self, x, training=False):
        x = _to_float(self, x)
        if not training:
            return x, lambda dy: dy
        xp = self.xp
        h, w = _image_axes(x.ndim, self.data_format, f"RandomFlip {self.name!r}")
        flips_shape = (1, 1, 1) if x.ndim == 3 else (x.shape[0], 1, 1, 1)
        flips = self._draw(flips_shape) <= 0.5
        axes = []
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            axes.append(w)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            axes.append(h)

        def apply(a):
            for axis in axes:
                a = xp.where(flips, xp.flip(a, axis=axis), a)
            return a
        # Each flip is a symmetric permutation (its own adjoint), and they commute.
        return apply(x), apply

    def compute_output_shape(self, input_shape):
        return input_shape

    # -- bounding boxes (dict inputs): one draw flips the images and the boxes
    def _dict_images(self, images, active):
        x = _to_float(self, images)
        if not active:
            return x, None
        xp = self.xp
        h, w = _image_axes(x.ndim, self.data_format, f"RandomFlip {self.name!r}")
        flips = self._draw((x.shape[0], 1, 1, 1)) <= 0.5
        for axis, modes in ((w, ("horizontal", "horizontal_and_vertical")),
                            (h, ("vertical", "horizontal_and_vertical"))):
            if self.mode in modes:
                x = xp.where(flips, xp.flip(x, axis=axis), x)
        return x, {"flips": flips, "input_shape": tuple(x.shape)}

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` {"flips": (batch, 1, 1, 1) bools,
        "input_shape"}: mirrored where the image is."""
        if not training:
            return bounding_boxes
        self._require_box_format()
        return BB.flip_boxes(bounding_boxes, transformation, self.mode,
                             self.bounding_box_format, self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed, "mode": self.mode, "data_format": self.data_format})
        return config
