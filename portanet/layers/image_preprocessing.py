"""Image preprocessing layers of Keras 3: Rescaling, CenterCrop, Resizing and RandomFlip
(keras/src/layers/preprocessing), with backward passes so they may sit inside a model.

Resizing follows Keras's NumPy backend (``image.resize``, JAX's ``scale_and_translate``):
each resized axis is a linear map, a weight matrix ``W`` of shape ``(in, out)`` whose column
``j`` samples the input at ``(j + 0.5)·in/out − 0.5`` (half-pixel centers) through the
kernel (triangle for bilinear, Keys cubic, Lanczos), normalized to sum 1. "nearest" takes
input ``floor((j + 0.5)·in/out)`` (computed in float32 as Keras). The layer contracts the
image with ``W`` along height and width, and its backward contracts with ``Wᵀ``.

Images are 4D ``(batch, height, width, channels)`` (or ``(batch, channels, height, width)``
with ``data_format="channels_first"``) or 3D (one unbatched image). Integer inputs are cast
to the layer's float dtype, as Keras does.

CenterCrop, Resizing and RandomFlip also take Keras's dict inputs ``{"images",
"bounding_boxes": {"boxes", "labels"}, "labels"}`` (a data pipeline, outside a model) and move
the boxes as Keras does (``bounding_box_format``; the math is in ``layers/bounding_boxes.py``).
"""

import math

from .. import backend as _backend
from ..random import SeedGenerator, uniform
from ..validation import check_number
from . import _windows as W
from . import bounding_boxes as BB
from .base import Layer, check_positive_int

__all__ = ["Rescaling", "CenterCrop", "Resizing", "RandomFlip"]

_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def _to_float(layer, x):
    xp = layer.xp
    if not xp.isdtype(x.dtype, "real floating"):
        x = xp.astype(x, layer.backend.dtype(layer.dtype))
    return x


# ----------------------------------------------------------------------------- resize kernels
# Host math on NumPy arrays through the Array API namespace (numpy stays in the backend).
def _triangle(np, x):
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _keys_cubic(np, x):
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius):
    def kernel(np, x):
        y = radius * np.sin(math.pi * x) * np.sin(math.pi * x / radius)
        out = np.where(x > 1e-3, y / np.where(x != 0, math.pi ** 2 * x ** 2, 1.0), 1.0)
        return np.where(x > radius, 0.0, out)
    return kernel


_KERNELS = {"bilinear": _triangle, "bicubic": _keys_cubic, "lanczos3": _lanczos(3.0),
            "lanczos5": _lanczos(5.0)}


def resize_matrix(in_size, out_size, interpolation="bilinear", antialias=False):
    """The ``(in_size, out_size)`` float64 matrix of one resized axis (Keras's NumPy
    backend: ``_compute_weight_mat``, or nearest's ``floor((j + 0.5)·in/out)``)."""
    np = _backend.host_xp()
    if interpolation == "nearest":
        offsets = (np.arange(out_size, dtype=np.float32) + 0.5) * in_size / out_size
        idx = np.astype(np.floor(offsets), np.int64)
        return np.astype(np.arange(in_size)[:, None] == idx[None, :], np.float64)
    kernel = _KERNELS[interpolation]
    scale = out_size / in_size
    inv_scale = 1.0 / scale
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    sample = (np.arange(out_size, dtype=np.float64) + 0.5) * inv_scale - 0.5
    x = np.abs(sample[None, :] - np.arange(in_size, dtype=np.float64)[:, None]) / kernel_scale
    w = kernel(np, x)
    total = np.sum(w, axis=0, keepdims=True)
    w = np.where(np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
                 w / np.where(total != 0, total, 1.0), 0.0)
    inside = np.logical_and(sample >= -0.5, sample <= in_size - 0.5)[None, :]
    return np.where(inside, w, 0.0)


def _contract(xp, x, w, axis):
    """``x`` with ``axis`` (of length w.shape[0]) replaced by ``x ·_axis w``."""
    y = xp.tensordot(x, w, axes=([axis], [0]))
    nd = y.ndim
    return xp.permute_dims(y, tuple(range(axis)) + (nd - 1,) + tuple(range(axis, nd - 1)))


def _image_axes(ndim, data_format, owner):
    if ndim not in (3, 4):
        raise ValueError(f"{owner}: expected images of rank 3 (one image) or 4 (a batch); got "
                         f"rank {ndim}")
    return (ndim - 2, ndim - 1) if data_format == "channels_first" else (ndim - 3, ndim - 2)


def _crop(xp, x, axes, starts, sizes):
    """A window of ``x`` along the two image axes, and its adjoint (zero-fill)."""
    index = [slice(None)] * x.ndim
    for a, s, n in zip(axes, starts, sizes):
        index[a] = slice(s, s + n)
    index = tuple(index)
    shape, dtype = tuple(x.shape), x.dtype
    device = getattr(x, "device", None)

    def adjoint(dy):
        dx = xp.zeros(shape, dtype=dtype, device=device)
        dx[index] = dy
        return dx
    return x[index], adjoint


def _pad(xp, x, axis, before, value):
    """``before`` rows of ``value`` on both sides of ``axis``, and its adjoint (a slice)."""
    shape = list(x.shape)
    shape[axis] = before
    block = xp.full(tuple(shape), value, dtype=x.dtype, device=getattr(x, "device", None))
    index = [slice(None)] * x.ndim
    index[axis] = slice(before, before + x.shape[axis])
    index = tuple(index)
    return xp.concat([block, x, block], axis=axis), (lambda dy: dy[index])


def _aspect_crop(height, width, target_h, target_w):
    """Keras's crop_to_aspect_ratio box: (h_start, w_start, crop_h, crop_w)."""
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


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
        """Resize the two image axes of ``x`` to (height, width): ``(y, backward)``."""
        xp = self.xp
        mats = []
        for axis, size in zip(axes, (self.height, self.width)):
            if x.shape[axis] != size:
                host = resize_matrix(x.shape[axis], size, interpolation, antialias)
                mats.append((axis, self.backend.from_numpy(host, x.dtype)))
        y = x
        for axis, m in mats:
            y = _contract(xp, y, m, axis)

        def backward(dy):
            for axis, m in reversed(mats):
                dy = _contract(xp, dy, xp.matrix_transpose(m), axis)
            return dy
        return y, backward


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
            return _crop(self.xp, x, axes, ((h - self.height) // 2, (w - self.width) // 2),
                         (self.height, self.width))
        hs, ws, ch, cw = _aspect_crop(h, w, self.height, self.width)
        cropped, crop_back = _crop(self.xp, x, axes, (hs, ws), (ch, cw))
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
            hs, ws, ch, cw = _aspect_crop(h, w, self.height, self.width)
            x, pre_back = _crop(self.xp, x, axes, (hs, ws), (ch, cw))
        elif self.pad_to_aspect_ratio:
            pad_h = max(h, int(float(w * self.height) / self.width))
            pad_w = max(w, int(float(h * self.width) / self.height))
            hs, ws = int(float(pad_h - h) / 2), int(float(pad_w - w) / 2)
            if hs > 0:
                x, pre_back = _pad(self.xp, x, axes[0], hs, self.fill_value)
            elif ws > 0:
                x, pre_back = _pad(self.xp, x, axes[1], ws, self.fill_value)
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
