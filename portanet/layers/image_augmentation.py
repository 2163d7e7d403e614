"""Random affine image augmentation of Keras 3: RandomTranslation, RandomRotation and
RandomZoom (keras/src/layers/preprocessing/image_preprocessing), active only when
``training=True``, with a backward pass so they may sit inside a model.

Each image draws its transform (as Keras: the 8-vector ``[a0, a1, a2, b0, b1, b2, 0, 0]``
mapping output pixel (x=col, y=row) to input ``(a0·x + a1·y + a2, b0·x + b1·y + b2)``),
then the output samples the input there as Keras's NumPy backend does (``affine_transform``:
``scipy.ndimage.map_coordinates`` on an input padded by ``fill_mode``): bilinear (order 1)
or nearest (order 0), with the indices outside the image mapped by "reflect" (period 2n,
the edge repeated), "wrap", "nearest" (clamped) or "constant" (``fill_value``).

For a drawn transform the layer is linear in the image: the sampling positions and weights
are computed on the host, the forward gathers the (up to four) input pixels of each output
pixel and the backward scatter-adds the weighted gradient back (``backend.scatter_add``).
Random numbers: ``seed=None`` draws from the backend's stream (``pn.utils.set_random_seed``
reseeds it); an int seed gives the layer its own ``pn.random.SeedGenerator(seed)``.
The sampling math (coordinates, plan, gather op) is ``portanet.ops.image``'s, shared with
``ops.image.affine_transform``.

Dict inputs ``{"images", "bounding_boxes": {"boxes", "labels"}, "labels"}`` (a data pipeline,
outside a model): one draw moves the images and the boxes, as Keras's
``transform_bounding_boxes`` (``bounding_box_format``; the math is in
``layers/bounding_boxes.py``).
"""

import math

from .. import backend as _backend
from ..ops import image
from ..random import SeedGenerator, uniform
from ..validation import check_number, check_one_of
from . import _windows as W
from . import bounding_boxes as BB
from .base import Layer
from .image_preprocessing import _image_axes, _to_float

__all__ = ["RandomTranslation", "RandomRotation", "RandomZoom"]

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def affine_transform(layer, x, matrices, interpolation, fill_mode, fill_value, data_format):
    """``(y, backward)``: the images ``x`` (rank 3 or 4) sampled through ``matrices`` (B, 8)
    (``ops.image``'s sampling plan and gather op: its forward and its gradient)."""
    xp = layer.xp
    unbatched = x.ndim == 3
    if unbatched:
        x = xp.expand_dims(x, axis=0)
    if data_format == "channels_first":
        x = W.to_channels_last(xp, x)
    b, h, w, c = x.shape
    rows, cols = image.affine_coords(matrices, h, w)
    plan = image.device_plan(x, image.image_plan(rows, cols, h, w, interpolation, fill_mode),
                             fill_value)
    flat = xp.reshape(x, (b * h * w, c))
    y = xp.reshape(image.gather_rows.impl(flat, plan=plan), (b, h, w, c))

    def finish(a):
        if data_format == "channels_first":
            a = W.to_channels_first(xp, a)
        return a[0, ...] if unbatched else a

    def backward(dy):
        if unbatched:
            dy = xp.expand_dims(dy, axis=0)
        if data_format == "channels_first":
            dy = W.to_channels_last(xp, dy)
        g = image.gather_rows.vjp(xp.reshape(dy, (b * h * w, c)), None, flat, plan=plan)[0]
        return finish(xp.reshape(g, (b, h, w, c)))
    return finish(y), backward


def _factor(value, name, owner, low_open=False):
    """Keras's factor forms: a float f in [-1, 1] -> (-|f|, |f|); a pair -> sorted
    (RandomZoom excludes -1: ``low_open``)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{owner}: {name}={value!r}; expected a float or a pair of floats "
                             f"in {'(' if low_open else '['}-1, 1]")
        lo, hi = sorted(check_number(v, name, owner, -1, 1, low_open=low_open) for v in value)
        return lo, hi
    f = abs(check_number(value, name, owner, -1, 1, low_open=low_open))
    return -f, f


class _RandomAffine(BB.BoundingBoxDict, Layer):
    """Shared arguments, random draws and config of the affine augmentation layers."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        check_one_of(fill_mode, "fill_mode", owner, _FILL_MODES)
        check_one_of(interpolation, "interpolation", owner, _INTERPOLATIONS)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"{owner}: seed={seed!r}; expected a non-negative int or None")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.seed = seed
        self._generator = None if seed is None else SeedGenerator(seed)
        self.fill_value = check_number(fill_value, "fill_value", owner)
        self.data_format = W.normalize_data_format(data_format, owner)

    def _uniform(self, shape, low, high):
        """Host float64 draws in [low, high) (the constant ``low`` when the range is empty)."""
        np = _backend.host_xp()
        if not high > low:
            return np.full(shape, float(low))
        if self._generator is None:
            a = self.backend.random_uniform(shape, low, high)
        else:
            a = uniform(shape, low, high, seed=self._generator)
        return np.astype(np.asarray(self.backend.to_numpy(a)), np.float64)

    def forward(self, x, training=False):
        x = _to_float(self, x)
        if not training:
            return x, lambda dy: dy
        h_axis, w_axis = _image_axes(x.ndim, self.data_format, f"{type(self).__name__} {self.name!r}")
        batch = 1 if x.ndim == 3 else x.shape[0]
        matrices = self._matrices(batch, x.shape[h_axis], x.shape[w_axis])
        return affine_transform(self, x, matrices, self.interpolation, self.fill_mode,
                                self.fill_value, self.data_format)

    def compute_output_shape(self, input_shape):
        return input_shape

    # -- bounding boxes (dict inputs): one draw moves the images and the boxes
    def _dict_images(self, images, active):
        x = _to_float(self, images)
        if not active:
            return x, None
        h_axis, w_axis = _image_axes(x.ndim, self.data_format, f"{type(self).__name__} {self.name!r}")
        matrices = self._matrices(x.shape[0], x.shape[h_axis], x.shape[w_axis])
        y, _ = affine_transform(self, x, matrices, self.interpolation, self.fill_mode,
                                self.fill_value, self.data_format)
        return y, self._box_transformation(matrices, tuple(x.shape))

    def get_config(self):
        config = super().get_config()
        config.update({"fill_mode": self.fill_mode, "interpolation": self.interpolation,
                       "seed": self.seed, "fill_value": self.fill_value,
                       "data_format": self.data_format})
        return config


def _stack_columns(np, columns):
    return np.stack([np.reshape(c, (-1,)) for c in columns], axis=1)


class RandomTranslation(_RandomAffine):
    """Shifts images by a random fraction of their size in training; identity otherwise.

    Each image draws a vertical shift ``u·height`` (u ~ U[height lower, upper)), then a
    horizontal one ``u·width``, as Keras 3; the pixels uncovered are filled by ``fill_mode``.

    Args:
        height_factor: float f in [-1, 1] (shift in [-f, f]·height) or a pair (lower, upper);
            positive moves the image down.
        width_factor: the same for the width; positive moves the image right.
        fill_mode: "reflect" (default), "wrap", "constant" or "nearest".
        interpolation: "bilinear" (default) or "nearest".
        seed: None (the backend's stream) or an int (the layer's own SeedGenerator).
        fill_value: float, the value of "constant" filling (default 0).
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (channels_first: C first).
    Output shape: same as the input.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.height_lower, self.height_upper = _factor(height_factor, "height_factor",
                                                       "RandomTranslation")
        self.width_lower, self.width_upper = _factor(width_factor, "width_factor",
                                                     "RandomTranslation")
        self.height_factor = list(height_factor) if isinstance(height_factor, tuple) else height_factor
        self.width_factor = list(width_factor) if isinstance(width_factor, tuple) else width_factor

    def _matrices(self, batch, height, width):
        np = _backend.host_xp()
        ht = self._uniform((batch, 1), self.height_lower, self.height_upper) * height
        wt = self._uniform((batch, 1), self.width_lower, self.width_upper) * width
        one, zero = np.ones((batch,)), np.zeros((batch,))
        return _stack_columns(np, [one, zero, -wt, zero, one, -ht, zero, zero])

    def _box_transformation(self, matrices, input_shape):
        np = _backend.host_xp()
        return {"translations": np.stack([-matrices[:, 2], -matrices[:, 5]], axis=1),
                "input_shape": input_shape}

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` {"translations": (batch, 2) pixels (dx, dy),
        "input_shape"}: shifted, clipped to the image (labels of empty boxes -> -1)."""
        if not training:
            return bounding_boxes
        self._require_box_format()
        return BB.translate_boxes(bounding_boxes, transformation, self.bounding_box_format,
                                  self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": self.height_factor, "width_factor": self.width_factor})
        return config


class RandomRotation(_RandomAffine):
    """Rotates images by a random angle about their center in training; identity otherwise.

    Args:
        factor: float f in [-1, 1]: the angle is drawn in [-f, f]·360 degrees
            (counter-clockwise for positive angles); or a pair (lower, upper).
        fill_mode: "reflect" (default), "wrap", "constant" or "nearest".
        interpolation: "bilinear" (default) or "nearest".
        seed: None (the backend's stream) or an int (the layer's own SeedGenerator).
        fill_value: float, the value of "constant" filling (default 0).
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (channels_first: C first).
    Output shape: same as the input.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.factor = _factor(factor, "factor", "RandomRotation")

    def _matrices(self, batch, height, width):
        np = _backend.host_xp()
        angle = self._uniform((batch,), self.factor[0] * 360.0, self.factor[1] * 360.0)
        theta = angle * (math.pi / 180.0)
        cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
        cos, sin = np.cos(theta), np.sin(theta)
        a0, a1, b0, b1 = cos, -sin, sin, cos
        a2 = cx - cx * a0 - cy * a1
        b2 = cy - cx * b0 - cy * b1
        zero = np.zeros((batch,))
        return _stack_columns(np, [a0, a1, a2, b0, b1, b2, zero, zero])

    def _box_transformation(self, matrices, input_shape):
        np = _backend.host_xp()
        h, w = (input_shape[2], input_shape[3]) if self.data_format == "channels_first" \
            else (input_shape[1], input_shape[2])
        angle = np.atan2(matrices[:, 3], matrices[:, 0]) * (180.0 / math.pi)
        return {"angle": angle, "image_height": h, "image_width": w,
                "batch_size": input_shape[0]}

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` {"angle": (batch,) degrees, "image_height",
        "image_width", "batch_size"}: the rotated corners' enclosing box, clipped. (As Keras
        3.15.1, the boxes are read as xyxy and returned in ``bounding_box_format``.)"""
        if not training:
            return bounding_boxes
        self._require_box_format()
        return BB.rotate_boxes(bounding_boxes, transformation, self.bounding_box_format)

    def get_config(self):
        config = super().get_config()
        config["factor"] = list(self.factor)
        return config


class RandomZoom(_RandomAffine):
    """Zooms images in or out by a random factor about their center in training.

    Each image draws a vertical zoom z ~ U[1 + lower, 1 + upper) (and a horizontal one from
    ``width_factor``, or the same z when it is None), as Keras 3: the output samples the
    input at ``center + z·(pixel − center)``, so z > 1 zooms out and z < 1 zooms in.

    Args:
        height_factor: float f in [-1, 1] (z in [1 - f, 1 + f]) or a pair (lower, upper);
            positive values zoom out.
        width_factor: the same for the width, or None (default) to keep the aspect ratio.
        fill_mode: "reflect" (default), "wrap", "constant" or "nearest".
        interpolation: "bilinear" (default) or "nearest".
        seed: None (the backend's stream) or an int (the layer's own SeedGenerator).
        fill_value: float, the value of "constant" filling (default 0).
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (channels_first: C first).
    Output shape: same as the input.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.height_lower, self.height_upper = _factor(height_factor, "height_factor", "RandomZoom",
                                                     low_open=True)
        self.height_factor = list(height_factor) if isinstance(height_factor, tuple) else height_factor
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _factor(width_factor, "width_factor", "RandomZoom",
                                                       low_open=True)
            if isinstance(width_factor, tuple):
                self.width_factor = list(width_factor)

    def _matrices(self, batch, height, width):
        np = _backend.host_xp()
        hz = self._uniform((batch, 1), 1.0 + self.height_lower, 1.0 + self.height_upper)
        wz = (self._uniform((batch, 1), 1.0 + self.width_lower, 1.0 + self.width_upper)
              if self.width_factor is not None else hz)
        x_off = (width - 1.0) / 2.0 * (1.0 - wz)
        y_off = (height - 1.0) / 2.0 * (1.0 - hz)
        zero = np.zeros((batch,))
        return _stack_columns(np, [wz, zero, x_off, zero, hz, y_off, zero, zero])

    def _box_transformation(self, matrices, input_shape):
        return {"width_zoom": matrices[:, 0:1], "height_zoom": matrices[:, 4:5],
                "input_shape": input_shape}

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` {"height_zoom", "width_zoom": (batch, 1),
        "input_shape"}: the boxes in the zoomed window, rescaled to the image and clipped."""
        if not training:
            return bounding_boxes
        self._require_box_format()
        return BB.zoom_boxes(bounding_boxes, transformation, self.bounding_box_format,
                             self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update({"height_factor": self.height_factor, "width_factor": self.width_factor})
        return config
