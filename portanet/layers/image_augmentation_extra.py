"""The rest of Keras 3's image augmentation layers (keras/src/layers/preprocessing/
image_preprocessing): crops, color, blur, geometric warps, mixing and the policies built
from them (AugMix, RandAugment), plus MaxNumBoundingBoxes.

Every layer follows Keras's two steps:

- ``get_random_transformation(images, training=True)`` draws the random factors on the host
  (a dict of host arrays, Keras's keys), from the layer's own ``SeedGenerator(seed)`` or, with
  ``seed=None``, from the backend's stream (``pn.utils.set_random_seed`` reseeds it);
- ``transform_images(images, transformation, training=True)`` applies them: a deterministic
  function of the images that equals Keras's for the same transformation (the tests compare
  with stored Keras outputs). It is written with ``portanet.ops``, so inside a model it is
  differentiated by the tape (the resampling layers record one gather op whose gradient is a
  scatter-add; the histogram layers and posterization are piecewise constant and pass no
  gradient).

As the other portanet augmentation layers, a layer acts only when called with
``training=True`` and is the identity otherwise, except AutoContrast and
ContrastLimitedAdaptiveHistogramEqualization, which Keras applies at inference too
(Keras's ``layer(x)`` without ``training`` defaults to training; portanet's defaults to
inference, as its other layers). Images are ``(batch, H, W, C)`` or one ``(H, W, C)`` image
(channels_first: C before H, W); integer images are cast to the layer's float dtype.

Dict inputs ``{"images": ..., "labels": ..., "bounding_boxes": {"boxes", "labels"}}`` are
accepted outside a model (a data pipeline): MixUp and CutMix mix the labels, and
MaxNumBoundingBoxes pads or truncates the boxes; the color layers pass boxes through;
RandomCrop, RandomShear and RandomPerspective move them as Keras does (their
``bounding_box_format`` argument; the math is in ``layers/bounding_boxes.py``).
"""

from .. import backend as _backend
from .. import ops as O
from ..ops import image
from ..ops._dispatch import primitive
from ..ops import tape as _tape
from ..random import SeedGenerator
from ..validation import check_number, check_one_of, check_positive_int
from . import _windows as W
from . import bounding_boxes as BB
from .base import Layer
from .image_augmentation import RandomRotation, RandomTranslation

__all__ = ["RandomCrop", "RandomContrast", "RandomBrightness", "RandomGrayscale", "RandomHue",
           "RandomSaturation", "RandomSharpness", "RandomShear", "RandomColorJitter",
           "RandomColorDegeneration", "RandomPosterization", "RandomInvert", "RandomErasing",
           "RandomGaussianBlur", "RandomPerspective", "RandomElasticTransform", "AutoContrast",
           "Equalization", "Solarization", "ContrastLimitedAdaptiveHistogramEqualization",
           "MixUp", "CutMix", "AugMix", "RandAugment", "MaxNumBoundingBoxes"]

# ----------------------------------------------------------------------------- validation
def _owner(layer):
    return type(layer).__name__


def _base_factor(value, name, owner, bounds):
    """Keras's ``_set_factor``: a number f in bounds -> (max(-|f|, low), |f|); a pair -> sorted."""
    low, high = bounds
    msg = (f"{owner}: {name}={value!r}; expected a number (or a list of two numbers) in the "
           f"range [{low}, {high}]")
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(_is_num(v) for v in value):
            raise ValueError(msg)
        if value[0] > high or value[1] < low:
            raise ValueError(msg)
        lo, hi = sorted(float(v) for v in value)
        return (lo, hi)
    if not _is_num(value) or value < low or value > high:
        raise ValueError(msg)
    f = abs(float(value))
    return (max(-f, float(low)), f)


def _strict_factor(value, name, owner, symmetric):
    """RandomShear's / Solarization's factors: a number f in [0, 1] gives (-f, f)
    (``symmetric``) or (0, f); a pair is sorted (RandomShear also takes the pair
    (-f, f) its config stores, in [-1, 1], so that from_config round-trips)."""
    low = -1 if symmetric else 0
    msg = (f"{owner}: {name}={value!r}; expected a number in [0, 1] (or a list of two numbers "
           f"in [{low}, 1])")
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(_is_num(v) and low <= v <= 1 for v in value):
            raise ValueError(msg)
        lo, hi = sorted(float(v) for v in value)
        return (lo, hi)
    if not _is_num(value) or not 0 <= value <= 1:
        raise ValueError(msg)
    f = abs(float(value))
    return (-f, f) if symmetric else (0.0, f)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _value_range(value, owner, sort=True):
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(_is_num(v) for v in value)):
        raise ValueError(f"{owner}: value_range={value!r}; expected a list of two numbers")
    return sorted(value) if sort else value


def _check_seed(seed, owner):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"{owner}: seed={seed!r}; expected a non-negative int or None")
    return seed


# ----------------------------------------------------------------------------- image math
def _float_images(layer, x):
    dtype = O.dtype(x)
    if "float" not in str(dtype):
        x = O.cast(x, layer.dtype)
    return x


def _dtype_name(x):
    text = str(O.dtype(x))
    for name in ("float16", "float32", "float64"):
        if name in text:
            return name
    return "float32"


def _const(layer, value, like=None, dtype=None):
    """A host value (number, list, host array) as an array of the layer's backend."""
    if _tape.is_traced(value):
        return value
    if dtype is None and like is not None:
        dtype = _dtype_name(like)
    backend = layer.backend
    if backend.is_array(value):
        if dtype is not None and value.dtype != backend.dtype(dtype):
            value = backend.xp.astype(value, backend.dtype(dtype))
        return value
    return backend.from_numpy(value, dtype)


def _transform_value_range(images, original, target):
    if original[0] == target[0] and original[1] == target[1]:
        return images
    images = (images - original[0]) / (original[1] - original[0])
    return images * (target[1] - target[0]) + target[0]


def _axes(data_format):
    """(height axis, width axis, channels axis) of a 4D batch."""
    return image.image_axes(4, data_format)


def rgb_to_grayscale(layer, images, data_format):
    """``ops.image.rgb_to_grayscale``, its error naming the layer."""
    ch = _axes(data_format)[2]
    if images.shape[ch] not in (1, 3):
        raise ValueError(f"{_owner(layer)}: expected images with 3 (RGB) or 1 channels; got "
                         f"shape {tuple(images.shape)}")
    return image.rgb_to_grayscale(images, data_format)


def _host_op(name):
    """An op computed by ``fn(layer, array)`` on arrays, recorded with no gradient (the
    function is piecewise constant: histograms, quantization)."""
    def impl(x, fn=None, layer=None):
        return fn(layer, x)
    return primitive(name, impl, lambda g, out, x, fn=None, layer=None: (None,))


_piecewise = _host_op("image_piecewise_constant")


# ----------------------------------------------------------------------------- the base
class _Augmentation(BB.BoundingBoxFormatArg, Layer):
    """Shared seeding, dict inputs, batching and the training switch. Every layer takes
    Keras's ``bounding_box_format`` (keyword); the geometric ones (``_MOVES_BOXES``) need it
    when a dict input has boxes, the others pass boxes through."""

    _APPLY_AT_INFERENCE = False
    _MOVES_BOXES = False

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = _owner(self)
        self.seed = _check_seed(seed, owner)
        self._generator = None if seed is None else SeedGenerator(seed)
        self.data_format = W.normalize_data_format(data_format, owner)

    # -- random numbers
    def _rng(self, seed=None):
        """The host generator for one draw: ``seed`` (a SeedGenerator of a parent layer), the
        layer's own SeedGenerator, or the backend's stream."""
        gen = seed if seed is not None else self._generator
        if gen is None:
            return (self.backend or _backend.current())._rng
        return _backend.host_rng(list(gen.next()))

    @staticmethod
    def _batch(images):
        shape = tuple(images.shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"expected images of rank 3 (one image) or 4 (a batch); got shape "
                             f"{shape}")
        return 1 if len(shape) == 3 else shape[0]

    def _hw(self, images):
        h_ax, w_ax, _ = _axes(self.data_format)
        off = 4 - len(images.shape)
        return images.shape[h_ax - off], images.shape[w_ax - off]

    # -- Keras's API
    def get_random_transformation(self, data, training=True, seed=None):
        return None

    def transform_images(self, images, transformation, training=True):
        return images

    def transform_labels(self, labels, transformation, training=True):
        return labels

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        return bounding_boxes

    def _prepare(self):
        if self.backend is None:
            self.backend = _backend.current()

    def call(self, inputs, training=None):
        training = bool(training)
        images = _float_images(self, inputs)
        if len(images.shape) not in (3, 4):
            raise ValueError(f"{_owner(self)} {self.name!r}: expected images of rank 3 (one "
                             f"image) or 4 (a batch); got shape {tuple(images.shape)}")
        if not (training or self._APPLY_AT_INFERENCE):
            return images
        unbatched = len(images.shape) == 3
        if unbatched:
            images = O.expand_dims(images, 0)
        transformation = self.get_random_transformation(images, training=training)
        images = self.transform_images(images, transformation, training=training)
        return O.squeeze(images, axis=0) if unbatched else images

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        if isinstance(inputs, dict):
            return self._call_dict(inputs, training)
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def _call_dict(self, data, training):
        """Keras's dict inputs (a data pipeline): images, labels, bounding boxes."""
        self._prepare()
        backend = self.backend
        data = dict(data)
        if "images" not in data:
            raise ValueError(f"{_owner(self)}: a dict input needs the key 'images'; got "
                             f"{sorted(data)}")
        moves_boxes = self._MOVES_BOXES
        if "bounding_boxes" in data and moves_boxes:
            self._require_box_format()
        images = backend.asarray(data["images"])
        images = _float_images(self, images)
        unbatched = images.ndim == 3
        if unbatched:
            images = O.expand_dims(images, 0)
        active = training or self._APPLY_AT_INFERENCE
        transformation = (self.get_random_transformation(images, training=training)
                          if active else None)
        if active:
            images = self.transform_images(images, transformation, training=active)
        data["images"] = O.squeeze(images, axis=0) if unbatched else images
        if "labels" in data and active:
            labels = backend.asarray(data["labels"])
            if unbatched:
                labels = O.expand_dims(labels, 0)
            labels = self.transform_labels(labels, transformation, training=training)
            data["labels"] = O.squeeze(labels, axis=0) if unbatched else labels
        if "bounding_boxes" in data and moves_boxes:
            boxes = BB.boxes_in(self, data["bounding_boxes"], unbatched)
            boxes = self.transform_bounding_boxes(boxes, transformation, training=active)
            data["bounding_boxes"] = BB.boxes_out(boxes, unbatched)
        elif "bounding_boxes" in data:
            data["bounding_boxes"] = self.transform_bounding_boxes(
                dict(data["bounding_boxes"]), transformation, training=active)
        return data

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return input_shape

    def _check_rank(self, input_shape):
        """Images are (H, W, C) or (batch, H, W, C) (channels_first alike): refused at build
        time, before a model is made around the layer."""
        if not isinstance(input_shape, dict) and len(input_shape) not in (3, 4):
            raise ValueError(f"{_owner(self)} {self.name!r}: expected images of rank 3 (one image) or 4 "
                             f"(a batch); got input shape {tuple(input_shape)}")

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class _GeometryNoBoxes:
    """RandomElasticTransform: Keras 3.15.1 has no box transform for it (its
    ``transform_bounding_boxes`` raises NotImplementedError); portanet gives a clear error."""

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        if not training:
            return bounding_boxes
        raise ValueError(f"{_owner(self)}: bounding_boxes in the input dict are not supported "
                         f"(an elastic warp does not move boxes; Keras 3 does not support them "
                         f"either); pass images and labels only")


# ----------------------------------------------------------------------------- crop
class RandomCrop(_Augmentation):
    """Crops a random ``height x width`` window of the images in training, as Keras 3.

    In training, when the images are larger than the target on both axes, one window (the
    same for the whole batch) starts at a random (h, w). Otherwise, and at inference, Keras's
    deterministic branch: the start of the central window with the target's aspect ratio,
    a ``height x width`` slice from there, resized (bilinear) to the target when the image is
    smaller. (Keras 3.15.1's code returns the input unchanged at inference, so its output
    shape differs from its own ``compute_output_shape`` and a following Dense layer fails;
    portanet always returns ``height x width`` images.)

    Args:
        height: int, the output height.
        width: int, the output width.
        seed: int or None (Keras draws a seed for None and stores it in the config).
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).
    """

    _MOVES_BOXES = True

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        if seed is None:
            seed = _backend.make_seed()
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.height = check_positive_int(height, "height", "RandomCrop")
        self.width = check_positive_int(width, "width", "RandomCrop")

    _APPLY_AT_INFERENCE = True

    def call(self, inputs, training=None):
        images = _float_images(self, inputs)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = O.expand_dims(images, 0)
        box = self.get_random_transformation(images, training=bool(training))
        images = self.transform_images(images, box, training=True)
        return O.squeeze(images, axis=0) if unbatched else images

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        ih, iw = self._hw(images)
        if training and ih > self.height and iw > self.width:
            rng = self._rng(seed)
            h_start = int(rng.uniform(0, float(ih - self.height + 1)))
            w_start = int(rng.uniform(0, float(iw - self.width + 1)))
        else:
            crop_h = max(min(ih, int(float(iw * self.height) / self.width)), 1)
            crop_w = max(min(iw, int(float(ih * self.width) / self.height)), 1)
            h_start = int(float(ih - crop_h) / 2)
            w_start = int(float(iw - crop_w) / 2)
        return (h_start, w_start)

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        hs, ws = (int(v) for v in transformation)
        h_ax, w_ax, _ = _axes(self.data_format)
        index = [slice(None)] * 4
        # Python slicing clamps; the Array API leaves out-of-bounds stops unspecified.
        index[h_ax] = slice(hs, min(hs + self.height, images.shape[h_ax]))
        index[w_ax] = slice(ws, min(ws + self.width, images.shape[w_ax]))
        images = images[tuple(index)]
        mats = image.resize_mats(images, (h_ax, w_ax), (self.height, self.width), "bilinear")
        return image.resample_axes(images, mats=mats) if mats else images

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` (h_start, w_start). (As Keras 3.15.1: x loses
        h_start and y w_start, floored at 0, with no clipping to the crop.)"""
        if not training:
            return bounding_boxes
        self._require_box_format()
        return BB.random_crop_boxes(bounding_boxes, transformation, self.height, self.width,
                                    self.bounding_box_format)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        shape = list(input_shape)
        off = 4 - len(shape)
        h_ax, w_ax, _ = _axes(self.data_format)
        shape[h_ax - off], shape[w_ax - off] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width, "seed": self.seed})
        return config


# ----------------------------------------------------------------------------- color
class _ColorLayer(_Augmentation):
    """A ``factor`` with Keras's bounds and a ``value_range``."""

    _FACTOR_BOUNDS = (-1, 1)
    _SORT_RANGE = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        # Keras's positional order for the colour layers: factor, value_range, data_format, seed.
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _base_factor(factor, "factor", _owner(self), self._FACTOR_BOUNDS)
        self.value_range = _value_range(value_range, _owner(self), self._SORT_RANGE)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self.factor), "value_range": list(self.value_range),
                       "seed": self.seed})
        return config


class RandomContrast(_ColorLayer):
    """Scales each image's deviation from its mean by a random factor, as Keras 3.

    ``out = clip((x − mean_hw(x))·c + mean_hw(x), value_range)`` with c drawn per image in
    ``[1 − lower, 1 + upper]``; ``factor`` f in [0, 1] gives (lower, upper) = (0, f) as
    Keras 3.15's bounds do, a pair gives (lower, upper).

    Args:
        factor: float in [0, 1] or a pair.
        value_range: the images' range (default (0, 255)).
        seed: None or an int.
    """

    _FACTOR_BOUNDS = (0, 1)
    _SORT_RANGE = False

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor, value_range=value_range, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        return {"contrast_factor": rng.uniform(1.0 - self.factor[0], 1.0 + self.factor[1],
                                               size=(b, 1, 1, 1))}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        f = _const(self, transformation["contrast_factor"], like=images)
        h_ax, w_ax, _ = _axes(self.data_format)
        mean = O.mean(O.mean(images, axis=h_ax, keepdims=True), axis=w_ax, keepdims=True)
        out = (images - mean) * f + mean
        return O.clip(out, self.value_range[0], self.value_range[1])


class RandomBrightness(_ColorLayer):
    """Adds a random delta ``u·(max − min)`` (u ~ U[lower, upper)) to each image, clipped to
    ``value_range``, as Keras 3.

    Args:
        factor: float in [-1, 1] (u in [-f, f]) or a pair.
        value_range: the images' range (default (0, 255)).
        seed: None or an int.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor, value_range=value_range, seed=seed, **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        delta = rng.uniform(self.factor[0], self.factor[1], size=(b, 1, 1, 1))
        return {"rgb_delta": delta * (self.value_range[1] - self.value_range[0])}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        out = images + _const(self, transformation["rgb_delta"], like=images)
        return O.clip(out, self.value_range[0], self.value_range[1])


class RandomGrayscale(_Augmentation):
    """Turns each image to grayscale with probability ``factor`` (kept 3 channels), as Keras.

    The transformation is Keras's boolean array ``should_apply`` of shape (batch, 1, 1, 1).

    Args:
        factor: probability in [0, 1] (default 0.5).
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
    """

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = check_number(factor, "factor", "RandomGrayscale", 0, 1)

    def get_random_transformation(self, images, training=True, seed=None):
        b = self._batch(images)
        rng = self._rng(seed)
        return (rng.uniform(0, 1, size=(b,)) < self.factor)[:, None, None, None]

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        gray = rgb_to_grayscale(self, images, self.data_format)
        return O.where(_const(self, transformation, dtype="bool"), gray, images)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "seed": self.seed})
        return config


class RandomHue(_ColorLayer):
    """Shifts the hue of each image by a random amount, as Keras 3.

    Each image draws a sign (±1, even odds) and u ~ U[lower, upper); its hue (HSV, in
    [0, 1]) moves by ``sign·u/2`` (wrapped into [0, 1]).

    Args:
        factor: float in [0, 1] (u in [0, f]) or a pair.
        value_range: the images' range (default (0, 255)).
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
    """

    _FACTOR_BOUNDS = (0, 1)
    _SORT_RANGE = False

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        invert = rng.uniform(0, 1, size=(b,))
        np = _backend.host_xp()
        invert = np.where(invert > 0.5, -1.0, 1.0)
        factor = rng.uniform(self.factor[0], self.factor[1], size=(b,))
        return {"factor": invert * factor * 0.5}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        ch = _axes(self.data_format)[2]
        x = _transform_value_range(images, self.value_range, (0, 1))
        adjust = _const(self, transformation["factor"], like=images)
        adjust = O.reshape(adjust, (-1, 1, 1))
        hsv = image.rgb_to_hsv(x, self.data_format)
        h, s, v = image.split3(hsv, ch)
        h = h + adjust
        h = O.where(h > 1.0, h - 1.0, h)
        h = O.where(h < 0.0, h + 1.0, h)
        x = image.hsv_to_rgb(O.stack([h, s, v], axis=ch), self.data_format)
        x = O.clip(x, 0, 1)
        return _transform_value_range(x, (0, 1), self.value_range)


class RandomSaturation(_ColorLayer):
    """Scales the saturation of each image by a random factor, as Keras 3.

    Each image draws u ~ U[lower, upper) and the HSV saturation is multiplied by
    ``u / (1 − u + ε)`` (0 → grayscale, 0.5 → unchanged, 1 → fully saturated) and clipped
    to ``value_range`` (Keras's formula: the image is not rescaled first).

    Args:
        factor: float in [-1, 1] or a pair in [0, 1].
        value_range: the images' range (default (0, 255)).
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        factor = rng.uniform(self.factor[0], self.factor[1], size=(b,))
        return {"factor": factor / (1 - factor + 1e-7)}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        ch = _axes(self.data_format)[2]
        adjust = O.reshape(_const(self, transformation["factor"], like=images), (-1, 1, 1))
        hsv = image.rgb_to_hsv(images, self.data_format)
        h, s, v = image.split3(hsv, ch)
        s = O.clip(s * adjust, self.value_range[0], self.value_range[1])
        return image.hsv_to_rgb(O.stack([h, s, v], axis=ch), self.data_format)


class RandomSharpness(_ColorLayer):
    """Sharpens (or blurs) each image by a random amount, as Keras 3.

    ``out = clip(x + (1 − 2u)·(smooth(x) − x), value_range)`` with u ~ U[lower, upper) and
    ``smooth`` the 3x3 kernel [[1,1,1],[1,5,1],[1,1,1]]/13 (zero 'same' padding).

    Args:
        factor: float in [0, 1] (u in [0, f]) or a pair.
        value_range: the images' range (default (0, 255)).
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
    """

    _FACTOR_BOUNDS = (0, 1)

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        return {"factor": self._rng(seed).uniform(self.factor[0], self.factor[1], size=(b,))}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        np = _backend.host_xp()
        a, b = 1.0 / 13.0, 5.0 / 13.0
        kernel = np.asarray([[a, a, a], [a, b, a], [a, a, a]])
        smooth = image.depthwise_same(images, kernel, self.data_format)
        f = np.reshape(np.asarray(transformation["factor"], dtype=np.float64) * 2, (-1, 1, 1, 1))
        out = images + O.multiply(_const(self, 1.0 - f, like=images), smooth - images)
        return O.clip(out, self.value_range[0], self.value_range[1])


class RandomColorDegeneration(_ColorLayer):
    """Blends each image toward its grayscale version by a random factor, as Keras 3:
    ``out = clip(x + u·(gray(x) − x), value_range)``, u ~ U[lower, upper) per image.

    Args:
        factor: float in [-1, 1] or a pair (Keras draws u in [max(-f, -1), f]).
        value_range: the images' range (default (0, 255)).
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        return {"factor": self._rng(seed).uniform(self.factor[0], self.factor[1],
                                                  size=(b, 1, 1, 1))}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        f = _const(self, transformation["factor"], like=images)
        gray = rgb_to_grayscale(self, images, self.data_format)
        return O.clip(images + O.multiply(f, gray - images), self.value_range[0],
                      self.value_range[1])


class RandomPosterization(_ColorLayer):
    """Keeps only the top ``k`` bits of every 8-bit pixel value (k drawn per image in
    [lower, upper) from ``factor``), as Keras 3: the images are mapped to [0, 255], truncated
    to integers, right- then left-shifted by ``8 − k``, and mapped back.

    Args:
        factor: int in [1, 8] (k in [1, f)) or a pair.
        value_range: the images' range (default (0, 255)).
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
    """

    _FACTOR_BOUNDS = (1, 8)

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        np = _backend.host_xp()
        lo, hi = int(self.factor[0]), int(self.factor[1])
        if lo != hi:
            bits = self._rng(seed).integers(lo, hi, size=(b,))
        else:
            bits = np.full((b,), lo)
        return {"shift_factor": np.astype(8 - bits, np.uint8)}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        np = _backend.host_xp()
        shift = np.asarray(transformation["shift_factor"], dtype=np.float64)
        q = _const(self, np.reshape(2.0 ** shift, (-1, 1, 1, 1)), like=images)
        x = _transform_value_range(images, self.value_range, (0, 255))
        x = O.floor(O.clip(x, 0, 255))
        x = O.floor(x / q) * q
        return _transform_value_range(x, (0, 255), self.value_range)


class RandomInvert(_ColorLayer):
    """Inverts each image (``max − x``) with a random probability, as Keras 3: each image
    draws p ~ U[lower, upper) and t ~ U[0, 1) and is inverted when t < p.

    Args:
        factor: float in [0, 1] (default 1.0: p in [0, 1)) or a pair.
        value_range: the images' range (default (0, 255)).
        seed: None or an int.
        data_format: "channels_last" (default) or "channels_first".
    """

    _FACTOR_BOUNDS = (0, 1)
    _SORT_RANGE = False

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(factor, value_range=value_range, seed=seed, data_format=data_format,
                         **kwargs)

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        p = rng.uniform(self.factor[0], self.factor[1], size=(b,))
        t = rng.uniform(0, 1, size=(b,))
        return {"apply_inversion": t < p}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        np = _backend.host_xp()
        apply = np.reshape(np.asarray(transformation["apply_inversion"], dtype=bool), (-1, 1, 1, 1))
        return O.where(_const(self, apply, dtype="bool"), self.value_range[1] - images, images)


class Solarization(_Augmentation):
    """Solarizes images, as Keras 3: in [0, 255], ``r = clip(x + a, 0, 255)``, then pixels
    at or above the threshold t become ``255 − r``; a ~ U[lo, hi·255), t ~ U[lo, hi·255)
    per image from ``addition_factor`` and ``threshold_factor``.

    Args:
        addition_factor: float in [0, 1] (a pair, or f -> (0, f)); default 0.
        threshold_factor: float in [0, 1] (the same forms); default 0.
        value_range: the images' range (default (0, 255)).
        seed: None or an int.
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = _strict_factor(addition_factor, "addition_factor", "Solarization",
                                              symmetric=False)
        self.threshold_factor = _strict_factor(threshold_factor, "threshold_factor",
                                               "Solarization", symmetric=False)
        self.value_range = _value_range(value_range, "Solarization")

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        return {"additions": _uniform(rng, self.addition_factor[0],
                                      self.addition_factor[1] * 255, (b, 1, 1, 1)),
                "thresholds": _uniform(rng, self.threshold_factor[0],
                                       self.threshold_factor[1] * 255, (b, 1, 1, 1))}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        x = _transform_value_range(images, self.value_range, (0, 255))
        r = O.clip(x + _const(self, transformation["additions"], like=images), 0, 255)
        r = O.where(r < _const(self, transformation["thresholds"], like=images), r, 255 - r)
        return _transform_value_range(r, (0, 255), self.value_range)

    def get_config(self):
        config = super().get_config()
        config.update({"value_range": list(self.value_range),
                       "addition_factor": list(self.addition_factor),
                       "threshold_factor": list(self.threshold_factor), "seed": self.seed})
        return config


def _uniform(rng, low, high, size):
    """Host U[low, high) (the constant low when the range is empty, as jax/numpy give)."""
    return rng.uniform(low, high, size=size)


class AutoContrast(_Augmentation):
    """Stretches each image channel to the full ``value_range`` (min -> low, max -> high),
    as Keras 3; applied in training and at inference. A constant channel is left unchanged.

    Args:
        value_range: the images' range (default (0, 255)).
    """

    _APPLY_AT_INFERENCE = True

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = _value_range(value_range, "AutoContrast")

    def transform_images(self, images, transformation=None, training=True):
        x = _transform_value_range(images, self.value_range, (0, 255))
        low = O.min(x, axis=(1, 2), keepdims=True)
        high = O.max(x, axis=(1, 2), keepdims=True)
        flat = high == low
        scale = 255.0 / O.where(flat, 1.0, high - low)
        y = O.clip(x * scale - low * scale, 0.0, 255.0)
        y = _transform_value_range(y, (0, 255), self.value_range)
        return O.where(flat, images, y)

    def get_config(self):
        config = super().get_config()
        config["value_range"] = list(self.value_range)
        return config


def _equalize_host(layer, x):
    """Keras's Equalization on one backend array (host NumPy math, one histogram per channel
    over the whole batch, as Keras)."""
    np = _backend.host_xp()
    backend = layer.backend
    host = np.asarray(backend.to_numpy(x))
    dtype = host.dtype
    bins = layer.bins
    lo, hi = layer.value_range
    ch_axis = 1 if layer.data_format == "channels_first" else 3
    out = []
    for i in range(host.shape[ch_axis]):
        channel = np.take(host, i, axis=ch_axis)
        scale = 255.0 / (hi - lo)
        channel = channel * scale + (0 - lo * scale)
        v = np.astype(channel, np.float32)
        scaled = (v - np.float32(0)) * np.float32(bins - 1) / np.float32(255)
        idx = np.clip(np.astype(scaled, np.int32), 0, bins - 1)
        hist = np.bincount(np.reshape(idx, (-1,)), minlength=bins)
        if np.count_nonzero(hist) <= 1:
            eq = channel
        else:
            cdf = np.cumsum(hist)
            cdf_min = cdf[np.nonzero(cdf)[0][0]]
            denom = cdf[-1] - cdf_min
            denom = 1 if denom == 0 else denom
            lut = np.clip(np.round((cdf - cdf_min) * 255 / denom), 0, 255)
            look = np.astype(np.clip(channel / 255.0 * (bins - 1), 0, bins - 1), np.int32)
            eq = np.astype(np.take(lut, look), dtype)
        back = (hi - lo) / 255.0
        out.append(eq * back + lo)
    return backend.from_numpy(np.astype(np.stack(out, axis=ch_axis), dtype))


class Equalization(_Augmentation):
    """Histogram equalization of every channel, as Keras 3 (in training).

    Keras builds one ``bins``-bin histogram per channel over the whole batch, maps values
    through the rounded normalized CDF, and leaves a channel with at most one occupied bin
    unchanged. Piecewise constant: no gradient flows through it.

    Args:
        value_range: the images' range (default (0, 255)).
        bins: int, the number of histogram bins (default 256).
        data_format: "channels_last" (default) or "channels_first".
    """

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.bins = check_positive_int(bins, "bins", "Equalization")
        self.value_range = _value_range(value_range, "Equalization")

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        self._prepare()
        return _piecewise(images, fn=_equalize_host, layer=self)

    def get_config(self):
        config = super().get_config()
        config.update({"bins": self.bins, "value_range": list(self.value_range)})
        return config


def _clahe_host(layer, x):
    """Keras's ContrastLimitedAdaptiveHistogramEqualization._clahe on host NumPy (float32)."""
    np = _backend.host_xp()
    backend = layer.backend
    images = np.asarray(backend.to_numpy(x))
    original = images.dtype
    if layer.data_format == "channels_first":
        images = np.permute_dims(images, (0, 2, 3, 1))
    vr = layer.value_range
    if not (vr[0] == 0 and vr[1] == 255):
        images = np.astype(images, np.float32)
        images = (images - np.float32(vr[0])) / np.float32(vr[1] - vr[0]) * np.float32(255)
    b, height, width, c = images.shape
    gh, gw = layer.tile_grid_size
    th, tw = (height + gh - 1) // gh, (width + gw - 1) // gw
    ph, pw = th * gh - height, tw * gw - width
    padded = images
    if ph or pw:
        padded = np.pad(images, [(0, 0), (0, ph), (0, pw), (0, 0)], mode="symmetric")
    tiled = np.reshape(padded, (b, gh, th, gw, tw, c))
    tiled = np.permute_dims(tiled, (0, 1, 3, 5, 2, 4))
    tiled = np.clip(np.astype(np.reshape(tiled, (b, gh, gw, c, th * tw)), np.int32), 0, 255)
    flat = np.reshape(tiled, (-1, th * tw))
    offsets = (np.arange(flat.shape[0]) * 256)[:, None]
    hists = np.reshape(np.bincount(np.reshape(flat + offsets, (-1,)),
                                   minlength=flat.shape[0] * 256),
                       (b, gh, gw, c, 256))
    hists = np.astype(hists, np.float32)
    if layer.clip_limit > 0:
        limit = np.float32(layer.clip_limit * (th * tw) / 256.0)
        clipped = np.clip(hists, 0, limit)
        excess = np.sum(hists - clipped, axis=-1, keepdims=True)
        hists = clipped + excess / np.float32(256.0)
    cdf = np.cumsum(hists, axis=-1)
    cdf_min = np.min(cdf, axis=-1, keepdims=True)
    num = (cdf - cdf_min) * np.float32(255.0)
    den = np.float32(th * tw) - cdf_min
    den = np.where(den == 0, np.ones_like(den), den)
    cdf = np.clip(num / den, 0, 255)
    cdf = np.concatenate([cdf[:, 0:1], cdf, cdf[:, -1:]], axis=1)
    cdf = np.concatenate([cdf[:, :, 0:1], cdf, cdf[:, :, -1:]], axis=2)

    def grid(n, t, g):
        r = (np.arange(n, dtype=np.float32) - np.float32(t / 2.0)) / np.float32(t) + np.float32(1.0)
        lo = np.floor(r)
        w = r - lo
        return (np.astype(np.clip(lo, 0, g + 1), np.int64),
                np.astype(np.clip(lo + 1, 0, g + 1), np.int64), w)
    y0, y1, wy = grid(th * gh, th, gh)
    x0, x1, wx = grid(tw * gw, tw, gw)
    pixels = np.astype(np.clip(padded, 0, 255), np.int64)
    bi = np.arange(b)[:, None, None, None]
    ci = np.arange(c)[None, None, None, :]

    def at(yy, xx):
        return cdf[bi, yy[None, :, None, None], xx[None, None, :, None], ci, pixels]
    wx_e, wy_e = wx[None, None, :, None], wy[None, :, None, None]
    top = at(y0, x0) * (1.0 - wx_e) + at(y0, x1) * wx_e
    bot = at(y1, x0) * (1.0 - wx_e) + at(y1, x1) * wx_e
    result = (top * (1.0 - wy_e) + bot * wy_e)[:, :height, :width, :]
    if not (vr[0] == 0 and vr[1] == 255):
        result = result / np.float32(255) * np.float32(vr[1] - vr[0]) + np.float32(vr[0])
    if layer.data_format == "channels_first":
        result = np.permute_dims(result, (0, 3, 1, 2))
    return backend.from_numpy(np.astype(result, original))


class ContrastLimitedAdaptiveHistogramEqualization(_Augmentation):
    """CLAHE, as Keras 3: per tile of a ``tile_grid_size`` grid, a 256-bin histogram clipped
    at ``clip_limit·pixels/256`` (the excess spread evenly), its CDF as a lookup table, and
    each pixel bilinearly interpolated between the four nearest tiles' tables. Computed in
    float32 on the host as Keras; applied in training and at inference; no gradient.

    Args:
        value_range: the images' range (default (0, 255)).
        clip_limit: float (default 4.0); 0 disables clipping.
        tile_grid_size: (rows, cols) of tiles (default (8, 8)).
        data_format: "channels_last" (default) or "channels_first".
    """

    _APPLY_AT_INFERENCE = True

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8),
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        owner = "ContrastLimitedAdaptiveHistogramEqualization"
        self.value_range = _value_range(value_range, owner, sort=False)
        self.clip_limit = check_number(clip_limit, "clip_limit", owner, 0)
        self.tile_grid_size = tuple(W.normalize_tuple(tile_grid_size, 2, "tile_grid_size", owner))

    def transform_images(self, images, transformation=None, training=True):
        self._prepare()
        return _piecewise(images, fn=_clahe_host, layer=self)

    def get_config(self):
        config = super().get_config()
        config.update({"value_range": list(self.value_range), "clip_limit": self.clip_limit,
                       "tile_grid_size": list(self.tile_grid_size)})
        return config


# ----------------------------------------------------------------------------- erase, blur
def _box_masks(np, shape, data_format, x0, x1, y0, y1):
    """Keras's ``_generate_batch_mask``: pixels with x0 <= col < x1 and y0 <= row < y1."""
    h_ax, w_ax, c_ax = _axes(data_format)
    h, w, c = shape[h_ax], shape[w_ax], shape[c_ax]
    gy = np.arange(h, dtype=np.float64)[None, :, None]
    gx = np.arange(w, dtype=np.float64)[None, None, :]
    m = ((gx >= x0[:, None, None]) & (gx < x1[:, None, None])
         & (gy >= y0[:, None, None]) & (gy < y1[:, None, None]))
    m = np.expand_dims(m, axis=c_ax)
    reps = [1, 1, 1, 1]
    reps[c_ax] = c
    return np.tile(m, tuple(reps))


def _crop_bounds(rng, batch, length, ratio):
    crop = ratio * length
    start = rng.uniform(0, 1, size=(batch,)) * (length - crop)
    return start, start + crop


class RandomErasing(_Augmentation):
    """Erases a random rectangle of each image (with probability drawn from ``factor``),
    as Keras 3: its sides are ``sqrt(u)·size`` with u ~ U[scale) per axis, its corner
    uniform, and its pixels become ``fill_value`` (default: Gaussian noise ``N(0,1)·max``),
    clipped to ``value_range``.

    Args:
        factor: float in [0, 1] (default 1.0) or a pair: p ~ U[lower, upper) per image, erased
            when t ~ U[0, 1) < p.
        scale: pair (default (0.02, 0.33)) or a number, the area fraction range.
        fill_value: None, a number or three numbers (one per channel).
        value_range: the images' range (default (0, 255)).
        seed: None or an int.
        data_format: "channels_last" (default) or "channels_first".
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _base_factor(factor, "factor", "RandomErasing", (0, 1))
        self.scale = _base_factor(scale, "scale", "RandomErasing", (0, 1))
        if fill_value is not None and not _is_num(fill_value) and not (
                isinstance(fill_value, (list, tuple)) and len(fill_value) == 3
                and all(_is_num(v) for v in fill_value)):
            raise ValueError(f"RandomErasing: fill_value={fill_value!r}; expected None, a number "
                             f"or a list of three numbers")
        self.fill_value = list(fill_value) if isinstance(fill_value, tuple) else fill_value
        self.value_range = _value_range(value_range, "RandomErasing", sort=False)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        np = _backend.host_xp()
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(images.shape)
        b = shape[0]
        h, w = self._hw(images)
        rng = self._rng(seed)
        weight = np.sqrt(rng.uniform(self.scale[0], self.scale[1], size=(b, 2)))
        x0, x1 = _crop_bounds(rng, b, w, weight[:, 0])
        y0, y1 = _crop_bounds(rng, b, h, weight[:, 1])
        masks = _box_masks(np, shape, self.data_format, x0, x1, y0, y1)
        p = rng.uniform(self.factor[0], self.factor[1], size=(b,))
        t = rng.uniform(0, 1, size=(b,))
        if self.fill_value is None:
            fill = rng.normal(size=shape) * self.value_range[1]
        elif isinstance(self.fill_value, list):
            c_ax = _axes(self.data_format)[2]
            rs = [1, 1, 1, 1]
            rs[c_ax] = 3
            fill = np.broadcast_to(np.reshape(np.asarray(self.fill_value, dtype=np.float64),
                                              tuple(rs)), shape)
        else:
            fill = np.full(shape, float(self.fill_value))
        fill = np.clip(fill, self.value_range[0], self.value_range[1])
        return {"apply_erasing": t < p, "batch_masks": masks, "fill_value": fill}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        np = _backend.host_xp()
        apply = np.reshape(np.asarray(transformation["apply_erasing"], dtype=bool), (-1, 1, 1, 1))
        mask = np.logical_and(np.asarray(transformation["batch_masks"], dtype=bool), apply)
        return O.where(_const(self, mask, dtype="bool"),
                       _const(self, transformation["fill_value"], like=images), images)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self.factor), "scale": list(self.scale),
                       "fill_value": self.fill_value, "value_range": list(self.value_range),
                       "seed": self.seed})
        return config


class RandomGaussianBlur(_Augmentation):
    """Blurs images with a Gaussian kernel (with probability drawn from ``factor``), as
    Keras 3: one σ pair ~ U[sigma) (+1e-6) per batch, the kernel ``outer(k_y, k_x)`` of sizes
    ``kernel_size``, zero 'same' padding, then clipped to ``value_range``.

    Args:
        factor: float in [0, 1] (default 1.0) or a pair (probability range).
        kernel_size: odd int (default 3) or a pair of odd ints (x size, y size).
        sigma: float in [0, 1] (default 1.0: σ in [0, 1)) or a pair.
        value_range: the images' range (default (0, 255)).
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _base_factor(factor, "factor", "RandomGaussianBlur", (0, 1))
        ks = kernel_size if isinstance(kernel_size, (list, tuple)) else (kernel_size, kernel_size)
        if (len(ks) != 2 or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0
                                    and k % 2 == 1 for k in ks)):
            raise ValueError(f"RandomGaussianBlur: kernel_size={kernel_size!r}; expected an odd "
                             f"positive int or a pair of them")
        self.kernel_size = (int(ks[0]), int(ks[1]))
        self.sigma = _base_factor(sigma, "sigma", "RandomGaussianBlur", (0, 1))
        self.value_range = _value_range(value_range, "RandomGaussianBlur", sort=False)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        p = rng.uniform(self.factor[0], self.factor[1], size=(b,))
        t = rng.uniform(0, 1, size=(b,))
        return {"should_apply_blur": t < p,
                "blur_factor": rng.uniform(self.sigma[0], self.sigma[1], size=(2,)) + 1e-6}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        np = _backend.host_xp()
        s = np.asarray(transformation["blur_factor"], dtype=np.float64)
        blurred = image.gaussian_blur(images, self.kernel_size, (s[0], s[1]), self.data_format)
        apply = np.reshape(np.asarray(transformation["should_apply_blur"], dtype=bool),
                           (-1, 1, 1, 1))
        out = O.where(_const(self, apply, dtype="bool"), blurred, images)
        return O.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self.factor), "kernel_size": list(self.kernel_size),
                       "sigma": list(self.sigma), "value_range": list(self.value_range),
                       "seed": self.seed})
        return config


# ----------------------------------------------------------------------------- warps
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


class RandomShear(_Augmentation):
    """Shears images by random amounts along x and y, as Keras 3: each image draws a sign
    (shared by both axes), ``sx ~ U[x_factor)`` and ``sy ~ U[y_factor)``; the output pixel
    (x, y) reads the input at ``(x + sx·y, sy·x + y)`` (``fill_mode`` outside).

    Args:
        x_factor: float in [0, 1] (sx in [-f, f]) or a pair in [0, 1]; default 0.
        y_factor: the same for y.
        interpolation: "bilinear" (default) or "nearest".
        fill_mode: "reflect" (default), "wrap", "constant" or "nearest".
        fill_value: float (default 0), the "constant" value.
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).
    """

    _MOVES_BOXES = True

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.x_factor = _strict_factor(x_factor, "x_factor", "RandomShear", symmetric=True)
        self.y_factor = _strict_factor(y_factor, "y_factor", "RandomShear", symmetric=True)
        self.fill_mode = check_one_of(fill_mode, "fill_mode", "RandomShear", _FILL_MODES)
        self.interpolation = check_one_of(interpolation, "interpolation", "RandomShear",
                                          _INTERPOLATIONS)
        self.fill_value = check_number(fill_value, "fill_value", "RandomShear")

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        np = _backend.host_xp()
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        invert = np.where(rng.uniform(0, 1, size=(b, 1)) > 0.5, -1.0, 1.0)
        sy = rng.uniform(self.y_factor[0], self.y_factor[1], size=(b, 1))
        sx = rng.uniform(self.x_factor[0], self.x_factor[1], size=(b, 1))
        return {"shear_factor": np.concat([sx, sy], axis=1) * invert,
                "input_shape": tuple(images.shape)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        np = _backend.host_xp()
        s = np.asarray(transformation["shear_factor"], dtype=np.float64)
        one, zero = np.ones((s.shape[0],)), np.zeros((s.shape[0],))
        m = np.stack([one, s[:, 0], zero, s[:, 1], one, zero, zero, zero], axis=1)
        return image.affine_transform(images, m, self.interpolation, self.fill_mode,
                                      self.fill_value, self.data_format)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` {"shear_factor": (batch, 2), "input_shape"}:
        the corners sheared (in rel_xyxy, as Keras), clipped."""
        if not training or transformation is None:
            return bounding_boxes
        self._require_box_format()
        return BB.shear_boxes(bounding_boxes, transformation, self.bounding_box_format,
                              self.data_format, self.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"x_factor": list(self.x_factor), "y_factor": list(self.y_factor),
                       "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                       "seed": self.seed, "fill_value": self.fill_value})
        return config


class RandomPerspective(_Augmentation):
    """Random perspective warps, as Keras 3: the four corners move by ``corner·u`` with
    u ~ U[-scale/2, scale/2) per coordinate, the output samples the input through the
    homography (constant ``fill_value`` outside); applied to each image with probability
    drawn from ``factor``.

    Args:
        factor: float in [0, 1] (default 1.0) or a pair (probability range).
        scale: float in [0, 1] (default 1.0), the distortion size.
        interpolation: "bilinear" (default) or "nearest".
        fill_value: float (default 0).
        seed: None or an int.
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: None (default) or the format of the boxes of dict inputs
            ``{"images", "bounding_boxes"}`` (see ``pn.utils.bounding_boxes``).
    """

    _MOVES_BOXES = True

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0,
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _base_factor(factor, "factor", "RandomPerspective", (0, 1))
        self.scale = check_number(scale, "scale", "RandomPerspective", 0, 1)
        self.interpolation = check_one_of(interpolation, "interpolation", "RandomPerspective",
                                          _INTERPOLATIONS)
        self.fill_value = check_number(fill_value, "fill_value", "RandomPerspective")

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        np = _backend.host_xp()
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        h, w = self._hw(images)
        rng = self._rng(seed)
        p = rng.uniform(self.factor[0], self.factor[1], size=(b,))
        t = rng.uniform(0, 1, size=(b,))
        u = rng.uniform(-0.5 * self.scale, 0.5 * self.scale, size=(b, 4, 2))
        start = np.asarray([[[0.0, 0.0], [w - 1, 0.0], [0.0, h - 1], [w - 1, h - 1]]])
        start = np.repeat(start, b, axis=0)
        return {"apply_perspective": t < p, "start_points": start, "end_points": start + start * u,
                "input_shape": tuple(images.shape)}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        np = _backend.host_xp()
        warped = image.perspective_transform(images, transformation["start_points"],
                                             transformation["end_points"], self.interpolation,
                                             self.fill_value, self.data_format)
        apply = np.reshape(np.asarray(transformation["apply_perspective"], dtype=bool),
                           (-1, 1, 1, 1))
        return O.where(_const(self, apply, dtype="bool"), warped, images)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Keras's boxes for ``transformation`` {"apply_perspective", "start_points",
        "end_points", "input_shape"}: the corners through the inverse homography, their
        enclosing box, clipped. (As Keras 3.15.1, returned in xyxy.)"""
        if not training or transformation is None:
            return bounding_boxes
        self._require_box_format()
        return BB.perspective_boxes(bounding_boxes, transformation, self.bounding_box_format,
                                    self.data_format, self.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self.factor), "scale": self.scale,
                       "interpolation": self.interpolation, "fill_value": self.fill_value,
                       "seed": self.seed})
        return config


class RandomElasticTransform(_GeometryNoBoxes, _Augmentation):
    """Random elastic distortion, as Keras 3: a displacement field of Gaussian noise
    (σ·N(0, 1) per pixel, two fields) smoothed by a Gaussian of σ = min(H, W)·0.05·d (kernel
    ``int(6σ) | 1``), scaled by α = max(H, W)·0.1·d (d ~ U[scale), one per batch), moves the
    sampling grid; applied to each image with probability drawn from ``factor``, clipped to
    ``value_range``.

    The transformation holds the unit-normal fields ``dx``, ``dy`` (B, H, W) that Keras draws
    inside its transform, so a given field gives Keras's output.

    Args:
        factor: float in [0, 1] (default 1.0) or a pair (probability range).
        scale: float in [0, 1] (default 1.0) or a pair, the distortion range.
        interpolation: "bilinear" (default) or "nearest".
        fill_mode: "reflect" (default), "mirror", "wrap", "constant" or "nearest".
        fill_value: float (default 0).
        value_range: the images' range (default (0, 255)).
        seed: None or an int.
        data_format: "channels_last" (default) or "channels_first".
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = "RandomElasticTransform"
        self.factor = _base_factor(factor, "factor", owner, (0, 1))
        self.scale = _base_factor(scale, "scale", owner, (0, 1))
        self.interpolation = check_one_of(interpolation, "interpolation", owner, _INTERPOLATIONS)
        self.fill_mode = check_one_of(fill_mode, "fill_mode", owner,
                                      ("constant", "nearest", "wrap", "mirror", "reflect"))
        self.fill_value = check_number(fill_value, "fill_value", owner)
        self.value_range = _value_range(value_range, owner, sort=False)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training or self.scale[1] == 0 or self.factor[1] == 0:
            return None
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        h, w = self._hw(images)
        rng = self._rng(seed)
        p = rng.uniform(self.factor[0], self.factor[1], size=(b,))
        t = rng.uniform(0, 1, size=(b,))
        d = _uniform(rng, self.scale[0], self.scale[1], ())
        return {"apply_transform": t < p, "distortion_factor": float(d),
                "dx": rng.normal(size=(b, h, w)), "dy": rng.normal(size=(b, h, w))}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        np = _backend.host_xp()
        h, w = self._hw(images)
        d = float(transformation["distortion_factor"])
        alpha, sigma = max(h, w) * 0.1 * d, min(h, w) * 0.05 * d
        warped = image.elastic_from_fields(images, transformation["dx"], transformation["dy"],
                                           alpha, sigma, self.interpolation, self.fill_mode,
                                           self.fill_value, self.data_format)
        apply = np.reshape(np.asarray(transformation["apply_transform"], dtype=bool),
                           (-1, 1, 1, 1))
        out = O.where(_const(self, apply, dtype="bool"), warped, images)
        return O.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self.factor), "scale": list(self.scale),
                       "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                       "fill_value": self.fill_value, "value_range": list(self.value_range),
                       "seed": self.seed})
        return config


# ----------------------------------------------------------------------------- mixing
def _permutation(layer, transformation):
    np = _backend.host_xp()
    order = np.asarray(transformation["permutation_order"], dtype=np.int64)
    return layer.backend.from_numpy(order)


class MixUp(_Augmentation):
    """MixUp, as Keras 3: each image (and label) becomes ``λ·x + (1 − λ)·x[perm]`` with
    λ ~ Beta(alpha, alpha) per image and one random permutation of the batch.

    Labels are mixed when the input is a dict ``{"images", "labels"}``.

    Args:
        alpha: positive float (default 0.2).
        data_format: "channels_last" (default) or "channels_first".
        seed: None or an int.
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.alpha = check_number(alpha, "alpha", "MixUp", 0, low_open=True)

    def get_random_transformation(self, data, training=True, seed=None):
        images = data["images"] if isinstance(data, dict) else data
        b = self._batch(images)
        rng = self._rng(seed)
        return {"mix_weight": rng.beta(self.alpha, self.alpha, size=(b,)),
                "permutation_order": rng.permutation(b)}

    def transform_images(self, images, transformation=None, training=True):
        if not training:
            return images
        np = _backend.host_xp()
        w = _const(self, np.reshape(np.asarray(transformation["mix_weight"]), (-1, 1, 1, 1)),
                   like=images)
        perm = _permutation(self, transformation)
        return O.multiply(w, images) + O.multiply(1.0 - w, O.take(images, perm, axis=0))

    def transform_labels(self, labels, transformation, training=True):
        if not training:
            return labels
        np = _backend.host_xp()
        labels = _float_images(self, labels)
        w = _const(self, np.reshape(np.asarray(transformation["mix_weight"]), (-1, 1)), like=labels)
        perm = _permutation(self, transformation)
        return O.multiply(w, labels) + O.multiply(1.0 - w, O.take(labels, perm, axis=0))

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        if not training:
            return bounding_boxes
        perm = _permutation(self, transformation)
        boxes = self.backend.asarray(bounding_boxes["boxes"])
        labels = self.backend.asarray(bounding_boxes["labels"])
        return {"boxes": O.concatenate([boxes, O.take(boxes, perm, axis=0)], axis=1),
                "labels": O.concatenate([labels, O.take(labels, perm, axis=0)], axis=0)}

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "seed": self.seed})
        return config


class CutMix(_Augmentation):
    """CutMix, as Keras 3: a rectangle of each image is replaced by the same rectangle of
    another image of the batch (one random permutation); labels mix with the kept area
    fraction. λ ~ Beta(a, a) with a ~ U[factor) + 1e-6 sets the rectangle's sides
    ``sqrt(1 − λ)·size``; its corner is uniform. One unbatched image is returned unchanged.

    Args:
        factor: float in [0, 1] (default 1.0) or a pair.
        seed: None or an int.
        data_format: "channels_last" (default) or "channels_first".
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _base_factor(factor, "factor", "CutMix", (0, 1))

    def call(self, inputs, training=None):
        if len(inputs.shape) == 3:
            return _float_images(self, inputs)
        return super().call(inputs, training=training)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        np = _backend.host_xp()
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(images.shape)
        b = shape[0]
        h, w = self._hw(images)
        rng = self._rng(seed)
        a = _uniform(rng, self.factor[0], self.factor[1], ()) + 1e-6
        lam = rng.beta(a, a, size=(b,))
        ratio = np.sqrt(1.0 - lam)
        x0, x1 = _crop_bounds(rng, b, w, ratio)
        y0, y1 = _crop_bounds(rng, b, h, ratio)
        masks = _box_masks(np, shape, self.data_format, x0, x1, y0, y1)
        mix = 1.0 - (x1 - x0) * (y1 - y0) / (w * h)
        return {"permutation_order": rng.permutation(b), "batch_masks": masks,
                "mix_weight": mix}

    def transform_images(self, images, transformation=None, training=True):
        if not training or transformation is None:
            return images
        np = _backend.host_xp()
        perm = _permutation(self, transformation)
        mask = _const(self, np.asarray(transformation["batch_masks"], dtype=bool), dtype="bool")
        return O.where(mask, O.take(images, perm, axis=0), images)

    def transform_labels(self, labels, transformation, training=True):
        if not training or transformation is None:
            return labels
        np = _backend.host_xp()
        labels = _float_images(self, labels)
        perm = _permutation(self, transformation)
        w = _const(self, np.reshape(np.asarray(transformation["mix_weight"]), (-1, 1)), like=labels)
        return O.multiply(w, labels) + O.multiply(1.0 - w, O.take(labels, perm, axis=0))

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        if not training:
            return bounding_boxes
        raise ValueError("CutMix: bounding_boxes are not supported (Keras's CutMix does not "
                         "support them either)")

    def get_config(self):
        config = super().get_config()
        config.update({"factor": list(self.factor), "seed": self.seed})
        return config


# ----------------------------------------------------------------------------- composites
class RandomColorJitter(_Augmentation):
    """Brightness, contrast, saturation and hue jitter in that order, as Keras 3 (each
    sub-layer built with this layer's ``value_range`` and ``seed``; None skips it).

    The transformation is ``{"brightness": ..., "contrast": ..., "saturation": ...,
    "hue": ...}``, the sub-layers' own transformations.

    Args:
        value_range: the images' range (default (0, 255)).
        brightness_factor, contrast_factor, saturation_factor, hue_factor: the sub-layers'
            ``factor`` (default None: not applied).
        seed: None or an int.
        data_format: "channels_last" (default) or "channels_first".
    """

    _PARTS = (("brightness", "brightness_factor", RandomBrightness),
              ("contrast", "contrast_factor", RandomContrast),
              ("saturation", "saturation_factor", RandomSaturation),
              ("hue", "hue_factor", RandomHue))

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, "RandomColorJitter", sort=False)
        self.brightness_factor = brightness_factor
        self.contrast_factor = contrast_factor
        self.saturation_factor = saturation_factor
        self.hue_factor = hue_factor
        self._parts = []
        for key, arg, cls in self._PARTS:
            f = getattr(self, arg)
            if f is not None:
                kw = {} if cls is RandomContrast or cls is RandomBrightness else {
                    "data_format": self.data_format}
                layer = cls(f, value_range=self.value_range, seed=seed, dtype=self.dtype, **kw)
                layer.data_format = self.data_format
                self._parts.append((key, layer))

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        return {key: layer.get_random_transformation(data, seed=seed or self._generator)
                for key, layer in self._parts}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        for key, layer in self._parts:
            layer.backend = self.backend
            images = layer.transform_images(images, transformation[key])
        return images

    def get_config(self):
        config = super().get_config()
        config.update({"value_range": list(self.value_range),
                       "brightness_factor": self.brightness_factor,
                       "contrast_factor": self.contrast_factor,
                       "saturation_factor": self.saturation_factor,
                       "hue_factor": self.hue_factor, "seed": self.seed})
        return config


class _AffineOp:
    """RandomTranslation / RandomRotation as sub-operations of AugMix and RandAugment
    (Keras's transformation-then-transform form over portanet's affine layers)."""

    def __init__(self, layer):
        self.layer = layer

    def get_random_transformation(self, images, seed=None):
        layer = self.layer
        h_ax, w_ax, _ = _axes(layer.data_format)
        gen = layer._generator
        if seed is not None:
            layer._generator = seed
        try:
            m = layer._matrices(images.shape[0], images.shape[h_ax], images.shape[w_ax])
        finally:
            layer._generator = gen
        return {"matrices": m}

    def transform_images(self, images, transformation, owner):
        layer = self.layer
        return image.affine_transform(images, transformation["matrices"], layer.interpolation,
                                      layer.fill_mode, layer.fill_value, layer.data_format)


class _Policy(_Augmentation):
    """The sub-layers of AugMix and RandAugment, built as Keras builds them."""

    def _build_ops(self, names):
        f = list(self.factor)
        vr = self.value_range
        seed, df, it = self.seed, self.data_format, self.interpolation
        make = {
            "random_shear": lambda: RandomShear(x_factor=f, y_factor=f, interpolation=it,
                                                seed=seed, data_format=df),
            "random_translation": lambda: _AffineOp(RandomTranslation(
                height_factor=f, width_factor=f, interpolation=it, seed=seed, data_format=df)),
            "random_rotation": lambda: _AffineOp(RandomRotation(
                factor=f, interpolation=it, seed=seed, data_format=df)),
            "random_posterization": lambda: RandomPosterization(
                factor=max(1, int(8 * f[1])), value_range=vr, seed=seed, data_format=df),
            "solarization": lambda: Solarization(addition_factor=f, threshold_factor=f,
                                                 value_range=vr, seed=seed, data_format=df),
            "auto_contrast": lambda: AutoContrast(value_range=vr, data_format=df),
            "equalization": lambda: Equalization(value_range=vr, data_format=df),
            "random_brightness": lambda: RandomBrightness(factor=f, value_range=vr, seed=seed,
                                                          data_format=df),
            "random_color_degeneration": lambda: RandomColorDegeneration(
                factor=f, value_range=vr, seed=seed, data_format=df),
            "random_contrast": lambda: RandomContrast(factor=f, value_range=vr, seed=seed,
                                                      data_format=df),
            "random_sharpness": lambda: RandomSharpness(factor=f, value_range=vr, seed=seed,
                                                        data_format=df),
        }
        self._ops = {name: make[name]() for name in names}

    def _op_transformation(self, name, images, seed):
        op = self._ops[name]
        if isinstance(op, _AffineOp):
            op.layer.backend = self.backend
            return op.get_random_transformation(images, seed=seed)
        op.backend = self.backend
        return op.get_random_transformation(images, training=True, seed=seed)

    def _op_apply(self, name, images, transformation):
        op = self._ops[name]
        if isinstance(op, _AffineOp):
            return op.transform_images(images, transformation, self)
        op.backend = self.backend
        return op.transform_images(images, transformation)


_AUGMIX_ALL = ("random_shear", "random_translation", "random_rotation", "random_posterization",
               "solarization", "auto_contrast", "equalization", "random_brightness",
               "random_color_degeneration", "random_contrast", "random_sharpness")
_AUGMIX_BASIC = _AUGMIX_ALL[:7]


class AugMix(_Policy):
    """AugMix, as Keras 3: ``num_chains`` chains of up to ``chain_depth`` random operations
    (each step picks one of the operations or none), mixed with Dirichlet(alpha) weights,
    then blended with the original by w ~ Beta(alpha, alpha) and clipped to ``value_range``.

    The transformation is ``{"chain_mixing_weights", "weight_sample", "chain_transforms"}``
    with each chain a list of ``{"layer_name", "transformation"}``, as Keras's.

    Args:
        value_range: the images' range (default (0, 255)).
        num_chains: int (default 3).
        chain_depth: int (default 3).
        factor: float in [0, 1] (default 0.3) or a pair, the operations' strength.
        alpha: positive float (default 1.0).
        all_ops: use the color operations too (default True).
        interpolation: "bilinear" (default) or "nearest".
        seed: None or an int.
        data_format: "channels_last" (default) or "channels_first".
    """

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0,
                 all_ops=True, interpolation="bilinear", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, "AugMix", sort=False)
        self.num_chains = check_positive_int(num_chains, "num_chains", "AugMix")
        self.chain_depth = check_positive_int(chain_depth, "chain_depth", "AugMix")
        self.factor = _base_factor(factor, "factor", "AugMix", (0, 1))
        self.alpha = check_number(alpha, "alpha", "AugMix", 0, low_open=True)
        self.all_ops = bool(all_ops)
        self.interpolation = check_one_of(interpolation, "interpolation", "AugMix",
                                          _INTERPOLATIONS)
        self._augment_layers = _AUGMIX_ALL if self.all_ops else _AUGMIX_BASIC
        self._build_ops(self._augment_layers)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        rng = self._rng(seed)
        g = rng.standard_gamma(self.alpha, size=(self.num_chains,))
        chains = []
        weight = rng.beta(self.alpha, self.alpha)
        choices = list(self._augment_layers) + [None]
        for _ in range(self.num_chains):
            depth = []
            for _ in range(self.chain_depth):
                name = choices[int(rng.integers(0, len(choices)))]
                if name is None:
                    continue
                sub = self._generator if seed is None else seed
                depth.append({"layer_name": name,
                              "transformation": self._op_transformation(name, images, sub)})
            chains.append(depth)
        return {"chain_mixing_weights": g / g.sum(), "weight_sample": float(weight),
                "chain_transforms": chains}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        weights = [float(w) for w in transformation["chain_mixing_weights"]]
        ws = float(transformation["weight_sample"])
        mixed = None
        for idx, chain in enumerate(transformation["chain_transforms"]):
            x = images
            for step in chain:
                x = self._op_apply(step["layer_name"], x, step["transformation"])
            mixed = x * weights[idx] if mixed is None else mixed + x * weights[idx]
        if mixed is None:
            mixed = images * 0.0
        out = ws * images + (1 - ws) * mixed
        return O.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        config = super().get_config()
        config.update({"value_range": list(self.value_range), "num_chains": self.num_chains,
                       "chain_depth": self.chain_depth, "factor": list(self.factor),
                       "alpha": self.alpha, "all_ops": self.all_ops,
                       "interpolation": self.interpolation, "seed": self.seed})
        return config


_RANDAUGMENT_OPS = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                    "random_color_degeneration", "random_contrast", "random_sharpness",
                    "random_posterization", "solarization", "auto_contrast", "equalization")


class RandAugment(_Policy):
    """RandAugment, as Keras 3: ``num_ops`` operations drawn uniformly (with repetition) from
    the 11 of Keras's list, each with its random transformation, applied in turn to the batch.

    The transformation is ``{"transforms": {name: transformation}, "layer_idxes": [...]}``.

    Args:
        value_range: the images' range (default (0, 255)).
        num_ops: int (default 2).
        factor: float in [0, 1] (default 0.5) or a pair, the operations' strength.
        interpolation: "bilinear" (default) or "nearest".
        seed: None or an int.
        data_format: "channels_last" (default) or "channels_first".
    """

    _AUGMENT_LAYERS = list(_RANDAUGMENT_OPS)

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, "RandAugment", sort=False)
        self.num_ops = check_positive_int(num_ops, "num_ops", "RandAugment")
        self.factor = _base_factor(factor, "factor", "RandAugment", (0, 1))
        self.interpolation = check_one_of(interpolation, "interpolation", "RandAugment",
                                          _INTERPOLATIONS)
        self._build_ops(_RANDAUGMENT_OPS)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        rng = self._rng(seed)
        idxes = [int(v) for v in rng.integers(0, len(_RANDAUGMENT_OPS), size=(self.num_ops,))]
        sub = self._generator if seed is None else seed
        transforms = {}
        for name in _RANDAUGMENT_OPS:
            transforms[name] = (self._op_transformation(name, images, sub)
                                if _RANDAUGMENT_OPS.index(name) in idxes else None)
        return {"transforms": transforms, "layer_idxes": idxes}

    def transform_images(self, images, transformation, training=True):
        if not training or transformation is None:
            return images
        for i in transformation["layer_idxes"][:self.num_ops]:
            name = _RANDAUGMENT_OPS[int(i)]
            images = self._op_apply(name, images, transformation["transforms"][name])
        return images

    def get_config(self):
        config = super().get_config()
        config.update({"value_range": list(self.value_range), "num_ops": self.num_ops,
                       "factor": list(self.factor), "interpolation": self.interpolation,
                       "seed": self.seed})
        return config


# ----------------------------------------------------------------------------- boxes
class MaxNumBoundingBoxes(_Augmentation):
    """Pads (with ``fill_value``) or truncates the bounding boxes of a dict input to
    ``max_number`` per image, as Keras 3; images and labels pass through.

    Input: ``{"images": (B, H, W, C), "bounding_boxes": {"boxes": (B, N, 4),
    "labels": (B, N)}}`` -> the same dict with N = ``max_number``. An array input (images
    alone) is returned unchanged.

    Args:
        max_number: int, the number of boxes per image.
        fill_value: int (default -1), the padding of boxes and labels.
    """

    _APPLY_AT_INFERENCE = True

    def __init__(self, max_number, fill_value=-1, **kwargs):
        super().__init__(**kwargs)
        self.max_number = check_positive_int(int(max_number) if _is_num(max_number) else max_number,
                                             "max_number", "MaxNumBoundingBoxes")
        self.fill_value = int(check_number(fill_value, "fill_value", "MaxNumBoundingBoxes"))

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        extra = set(bounding_boxes) - {"boxes", "labels"}
        if extra:
            raise KeyError(f"MaxNumBoundingBoxes: unsupported keys in bounding_boxes: "
                           f"{sorted(extra)}; only 'boxes' and 'labels' are supported")
        backend = self.backend
        boxes = backend.asarray(bounding_boxes["boxes"])
        labels = backend.asarray(bounding_boxes["labels"])
        n = boxes.shape[1]
        keep = min(n, self.max_number)
        boxes, labels = boxes[:, :keep, ...], labels[:, :keep]
        pad = max(self.max_number - n, 0)
        if pad:
            boxes = O.pad(boxes, [[0, 0], [0, pad], [0, 0]], constant_values=self.fill_value)
            labels = O.pad(labels, [[0, 0], [0, pad]], constant_values=self.fill_value)
        out = dict(bounding_boxes)
        out["boxes"], out["labels"] = boxes, labels
        return out

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict) and "bounding_boxes" in input_shape:
            boxes = list(input_shape["bounding_boxes"]["boxes"])
            labels = list(input_shape["bounding_boxes"]["labels"])
            boxes[1] = labels[1] = self.max_number
            input_shape = dict(input_shape)
            input_shape["bounding_boxes"] = {"boxes": tuple(boxes), "labels": tuple(labels)}
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_number": self.max_number, "fill_value": self.fill_value})
        return config
