"""``portanet.ops.image``: keras.ops.image over the Array API, differentiable through the tape.

Keras 3's functions with its signatures and defaults (keras/src/ops/image.py; numbers of its
JAX backend, float64): color conversions (``rgb_to_grayscale``, ``rgb_to_hsv``,
``hsv_to_rgb``), resampling (``resize``, ``scale_and_translate``, ``affine_transform``,
``perspective_transform``, ``map_coordinates``, ``elastic_transform``), filters
(``gaussian_blur``, ``sobel_edges``, ``ssim``), patches (``extract_patches``,
``extract_patches_3d``) and windows (``crop_images``, ``pad_images``). ``data_format=None``
means ``pn.config.image_data_format()``; images are ``(batch, H, W, C)`` or one ``(H, W, C)``
image (``channels_first``: C before H, W).

This module is the one home of portanet's image math: the image layers
(portanet/layers/image_*.py) call its functions and helpers. How the math is laid out:

- resizing is linear along each resized axis: a host weight matrix ``(in, out)``
  (``_weight_matrix``: half-pixel centers, the triangle / Keys cubic / Lanczos kernel,
  normalized; "nearest" picks ``floor((j + 0.5)·in/out)``) contracted with the image; its
  gradient contracts with the transpose (op ``image_resize``);
- sampling at arbitrary coordinates (affine, perspective, elastic, map_coordinates) is a
  host plan (``_sampling_plan``: the 1 or 2^d neighbours of each point with their weights,
  the indices outside mapped by ``fill_mode`` as jax.scipy.ndimage.map_coordinates does) and
  one gather op whose gradient is a scatter-add (op ``image_gather``);
- Gaussian blurs are separable: a banded (n, n) matrix per axis through the same op;
  Sobel, SSIM and patch extraction are convolutions (``ops.conv`` / ``ops.depthwise_conv``),
  the color conversions elementwise ops.

Gradients flow to the images (for ``ssim`` to both images, for ``map_coordinates`` to the
coordinates and for ``affine_transform`` to the transform too, as Keras's JAX backend);
perspective points, sizes and kernel parameters are constants (host values).
"""

import itertools
import operator
import math as _pymath

from .. import backend as _backend
from .. import config as _config
from .. import random as _random
from . import array as _A
from . import creation as _C
from . import math as _M
from . import nn as _N
from ._dispatch import as_array, primitive
from .tape import Tensor, VariableLike, namespace_of, value_of

__all__ = ["affine_transform", "crop_images", "elastic_transform", "extract_patches",
           "extract_patches_3d", "gaussian_blur", "hsv_to_rgb", "map_coordinates",
           "pad_images", "perspective_transform", "resize", "rgb_to_grayscale", "rgb_to_hsv",
           "scale_and_translate", "sobel_edges", "ssim"]

RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")
AFFINE_INTERPOLATIONS = {"nearest": 0, "bilinear": 1}
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
SCALE_AND_TRANSLATE_METHODS = ("linear", "bilinear", "trilinear", "cubic", "bicubic", "tricubic",
                               "lanczos3", "lanczos5")
_EPS = {"float16": 9.765625e-04, "float32": 1.1920928955078125e-07,
        "float64": 2.220446049250313e-16}


# ----------------------------------------------------------------------------- helpers
def _np():
    return _backend.host_xp()


def data_format_of(data_format, owner):
    """``data_format`` checked ("channels_last" / "channels_first"; None: the config's)."""
    if data_format is None:
        return _config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{owner}: data_format={data_format!r}; expected 'channels_last', "
                         f"'channels_first' or None")
    return data_format


def _check_rank(images, owner, ranks=(3, 4), name="images"):
    if len(images.shape) not in ranks:
        raise ValueError(f"{owner}: {name} of rank {' or '.join(map(str, ranks))} expected "
                         f"(3: one image, 4: a batch); got {name}.shape={tuple(images.shape)}")


def _check_choice(value, name, owner, choices):
    if value not in choices:
        raise ValueError(f"{owner}: {name}={value!r}; expected one of {tuple(choices)}")
    return value


def image_axes(ndim, data_format):
    """(height axis, width axis, channels axis) of a rank-3 or rank-4 image tensor."""
    if data_format == "channels_first":
        return ndim - 2, ndim - 1, ndim - 3
    return ndim - 3, ndim - 2, ndim - 1


def _dtype_name(x):
    text = str(value_of(x).dtype)
    for name in ("float16", "float32", "float64", "bool"):
        if name in text:
            return name
    return text.rsplit(".", 1)[-1]


def _is_float(x):
    return _dtype_name(x) in ("float16", "float32", "float64")


def _is_tensor(x):
    """Whether ``x`` is differentiated (a Tensor of the tape or a Variable)."""
    return isinstance(x, (Tensor, VariableLike))


def _float(x):
    """``x`` cast to the default float when it is not floating already."""
    return x if _is_float(x) else _C.cast(x, _config.floatx())


def const(like, host, dtype=None):
    """A host value (number, list, host array) as an array of ``like``'s namespace and
    device, in ``dtype`` (a name; default ``like``'s dtype)."""
    arr = value_of(like)
    xp = namespace_of(arr)
    dtype = arr.dtype if dtype is None else getattr(xp, dtype)
    return as_array(xp, host, like=arr, dtype=dtype)


def _host(x, dtype="float64"):
    """A tensor, Variable, list or number as a host NumPy array (constants of the ops)."""
    np = _np()
    v = value_of(x)
    if isinstance(v, (list, tuple)):
        v = [_host(e, None) for e in v]
    elif hasattr(v, "shape") and not hasattr(v, "__array_interface__"):
        v = _backend.current().to_numpy(v) if _backend.current().is_array(v) else v
    out = np.asarray(v)
    return out if dtype is None else np.astype(out, getattr(np, dtype))


def _to_last(x, data_format):
    return _A.transpose(x, (0, 2, 3, 1)) if data_format == "channels_first" else x


def _from_last(x, data_format):
    return _A.transpose(x, (0, 3, 1, 2)) if data_format == "channels_first" else x


def _batched(images):
    """``(images as a batch, whether it was one image)``."""
    if len(images.shape) == 3:
        return _A.expand_dims(images, 0), True
    return images, False


# ----------------------------------------------------------------------------- colors
_GRAY = (0.2989, 0.5870, 0.1140)


def rgb_to_grayscale(images, data_format=None):
    """Grayscale ``0.2989·R + 0.587·G + 0.114·B`` (a channel axis of 1); one-channel images
    are returned as they are. Integer images are computed in float and cast back."""
    data_format = data_format_of(data_format, "rgb_to_grayscale")
    _check_rank(images, "rgb_to_grayscale")
    ch = image_axes(len(images.shape), data_format)[2]
    if images.shape[ch] == 1:
        return images
    if images.shape[ch] != 3:
        raise ValueError(f"rgb_to_grayscale: expected images with 3 (RGB) or 1 channels; got "
                         f"images.shape={tuple(images.shape)}")
    original = _dtype_name(images)
    x = _float(images)
    shape = [1] * len(images.shape)
    shape[ch] = 3
    w = const(x, _np().reshape(_np().asarray(_GRAY), tuple(shape)))
    y = _M.sum(x * w, axis=ch, keepdims=True)
    return y if original == _dtype_name(y) else _C.cast(y, original)


def split3(images, ch):
    return [_A.squeeze(p, axis=ch) for p in _A.split(images, 3, axis=ch)]


def _color_args(images, data_format, owner):
    data_format = data_format_of(data_format, owner)
    _check_rank(images, owner)
    if not _is_float(images):
        raise ValueError(f"{owner}: images of a float dtype expected; got "
                         f"images.dtype={_dtype_name(images)}")
    return image_axes(len(images.shape), data_format)[2]


def rgb_to_hsv(images, data_format=None):
    """RGB to HSV (hue, saturation, value in [0, 1]), as dm_pix and Keras."""
    ch = _color_args(images, data_format, "rgb_to_hsv")
    dtype = _dtype_name(images)
    images = _M.where(_M.abs(images) < _EPS.get(dtype, 0.0), 0.0, images)
    r, g, b = split3(images, ch)
    value = _M.maximum(_M.maximum(r, g), b)
    minimum = _M.minimum(_M.minimum(r, g), b)
    range_ = value - minimum
    safe_value = _M.where(value > 0, value, 1.0)
    safe_range = _M.where(range_ > 0, range_, 1.0)
    saturation = _M.where(value > 0, range_ / safe_value, 0.0)
    norm = 1.0 / (6.0 * safe_range)
    hue = _M.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = _M.where(value == r, norm * (g - b), hue)
    hue = _M.where(range_ > 0, hue, 0.0) + _C.cast(hue < 0.0, dtype)
    return _A.stack([hue, saturation, value], axis=ch)


def hsv_to_rgb(images, data_format=None):
    """HSV (all in [0, 1]) to RGB, as dm_pix and Keras."""
    ch = _color_args(images, data_format, "hsv_to_rgb")
    hue, saturation, value = split3(images, ch)
    dh = _M.mod(hue, 1.0) * 6.0
    dr = _M.clip(_M.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = _M.clip(2.0 - _M.abs(dh - 2.0), 0.0, 1.0)
    db = _M.clip(2.0 - _M.abs(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - saturation
    return _A.stack([value * (one_minus_s + saturation * dr),
                     value * (one_minus_s + saturation * dg),
                     value * (one_minus_s + saturation * db)], axis=ch)


# ----------------------------------------------------------------------------- resizing
def _triangle(np, x):
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _keys_cubic(np, x):
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius):
    def kernel(np, x):
        y = radius * np.sin(_pymath.pi * x) * np.sin(_pymath.pi * x / radius)
        out = np.where(x > 1e-3, y / np.where(x != 0, _pymath.pi ** 2 * x ** 2, 1.0), 1.0)
        return np.where(x > radius, 0.0, out)
    return kernel


_KERNELS = {"linear": _triangle, "bilinear": _triangle, "trilinear": _triangle,
            "cubic": _keys_cubic, "bicubic": _keys_cubic, "tricubic": _keys_cubic,
            "lanczos3": _lanczos(3.0), "lanczos5": _lanczos(5.0)}


def weight_matrix(in_size, out_size, method="bilinear", antialias=False, scale=None,
                  translation=0.0):
    """The ``(in_size, out_size)`` float64 host matrix of one resampled axis (Keras's
    ``_compute_weight_mat``: output ``j`` samples the input at ``(j + 0.5 − t)/s − 0.5``;
    ``scale`` s defaults to out/in); "nearest" picks ``floor((j + 0.5)·in/out)``
    (float32, as Keras)."""
    np = _np()
    if method == "nearest":
        offsets = (np.arange(out_size, dtype=np.float32) + 0.5) * in_size / out_size
        idx = np.astype(np.floor(offsets), np.int64)
        return np.astype(np.arange(in_size)[:, None] == idx[None, :], np.float64)
    kernel = _KERNELS[method]
    scale = out_size / in_size if scale is None else float(scale)
    inv_scale = 1.0 / scale
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    sample = ((np.arange(out_size, dtype=np.float64) + 0.5) * inv_scale
              - float(translation) * inv_scale - 0.5)
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


def _resize_impl(x, mats=()):
    xp = namespace_of(x)
    for axis, m in mats:
        x = _contract(xp, x, m, axis)
    return x


def _resize_vjp(g, out, x, mats=()):
    xp = namespace_of(g)
    for axis, m in reversed(mats):
        g = _contract(xp, g, xp.matrix_transpose(m), axis)
    return (g,)


# One op for every separable resampling: ``mats`` is ((axis, (in, out) matrix), ...).
resample_axes = primitive("image_resize", _resize_impl, _resize_vjp)


def resize_mats(x, axes, sizes, method, antialias=False, scales=None, translations=None):
    """The ``mats`` argument of ``resample_axes`` for the axes of ``x`` whose size changes
    (or all ``axes`` when ``scales`` are given), as arrays of ``x``'s namespace and dtype."""
    mats = []
    for k, (axis, size) in enumerate(zip(axes, sizes)):
        if scales is None and x.shape[axis] == size:
            continue
        host = weight_matrix(x.shape[axis], size, method, antialias,
                             None if scales is None else scales[k],
                             0.0 if translations is None else translations[k])
        mats.append((axis, const(x, host)))
    return tuple(mats)


def aspect_crop(height, width, target_h, target_w):
    """Keras's crop_to_aspect_ratio box: (h_start, w_start, crop_h, crop_w)."""
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def aspect_pad(height, width, target_h, target_w):
    """Keras's pad_to_aspect_ratio: rows padded above and below, columns left and right
    (one of the two is 0)."""
    pad_h = max(height, int(float(width * target_h) / target_w))
    pad_w = max(width, int(float(height * target_w) / target_h))
    hs, ws = int(float(pad_h - height) / 2), int(float(pad_w - width) / 2)
    return (hs, 0) if hs > 0 else (0, ws)


def window_index(ndim, axes, starts, sizes):
    index = [slice(None)] * ndim
    for a, s, n in zip(axes, starts, sizes):
        index[a] = slice(s, s + n)
    return tuple(index)


def _crop_impl(x, index=()):
    return x[index]


def _crop_vjp(g, out, x, index=()):
    xp = namespace_of(g)
    dx = xp.zeros(tuple(x.shape), dtype=g.dtype, device=getattr(g, "device", None))
    dx[index] = g
    return (dx,)


# A window ``x[index]`` (a tuple of slices); its gradient zero-fills around the window.
crop_window = primitive("image_crop", _crop_impl, _crop_vjp)


def _pad_impl(x, widths=(), value=0.0):
    xp = namespace_of(x)
    for axis, (before, after) in enumerate(widths):
        parts = []
        for n in (before, after):
            shape = list(x.shape)
            shape[axis] = n
            parts.append(xp.full(tuple(shape), value, dtype=x.dtype,
                                 device=getattr(x, "device", None)) if n else None)
        if parts[0] is not None or parts[1] is not None:
            x = xp.concat([p for p in (parts[0], x, parts[1]) if p is not None], axis=axis)
    return x


def _pad_vjp(g, out, x, widths=(), value=0.0):
    index = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape))
    return (g[index],)


# ``x`` padded with ``value``: ``widths`` = ((before, after), ...) per axis; gradient a slice.
pad_window = primitive("image_pad", _pad_impl, _pad_vjp)


def pad_widths(ndim, axis, before, after):
    widths = [(0, 0)] * ndim
    widths[axis] = (before, after)
    return tuple(widths)


def _size_pair(size):
    """``size`` as (height, width), two positive ints (NumPy ints and 1-D arrays accepted)."""
    try:
        pair = tuple(operator.index(s) for s in (size.tolist() if hasattr(size, "tolist")
                                                 else size))
    except TypeError:
        pair = ()
    if len(pair) != 2 or min(pair) <= 0 or any(isinstance(s, bool) for s in size):
        raise ValueError(f"resize: size={size!r}; expected (height, width), two positive ints")
    return pair


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resizes images to ``size = (height, width)`` (half-pixel centers, Keras's numbers).

    ``interpolation``: "bilinear", "nearest", "bicubic", "lanczos3" or "lanczos5";
    ``antialias`` widens the kernel when downsampling; ``crop_to_aspect_ratio`` first crops
    the largest central window of the target aspect ratio, ``pad_to_aspect_ratio`` pads the
    short side with ``fill_value`` instead (``fill_mode`` "constant" only, as Keras).
    Integer images are resized in float32, then rounded, clipped and cast back."""
    owner = "resize"
    data_format = data_format_of(data_format, owner)
    _check_choice(interpolation, "interpolation", owner, RESIZE_INTERPOLATIONS)
    if fill_mode != "constant":
        raise ValueError(f"resize: fill_mode={fill_mode!r}; only 'constant' is supported")
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError("resize: crop_to_aspect_ratio and pad_to_aspect_ratio are both True; "
                         "expected at most one")
    size = _size_pair(size)
    _check_rank(images, owner)
    original = _dtype_name(images)
    integer = not _is_float(images)
    x = _C.cast(images, "float32") if integer else images
    h_ax, w_ax, _ = image_axes(len(x.shape), data_format)
    h, w = x.shape[h_ax], x.shape[w_ax]
    if crop_to_aspect_ratio:
        hs, ws, ch, cw = aspect_crop(h, w, size[0], size[1])
        x = crop_window(x, index=window_index(len(x.shape), (h_ax, w_ax), (hs, ws), (ch, cw)))
    elif pad_to_aspect_ratio:
        hs, ws = aspect_pad(h, w, size[0], size[1])
        if hs or ws:
            axis, n = (h_ax, hs) if hs else (w_ax, ws)
            x = pad_window(x, widths=pad_widths(len(x.shape), axis, n, n),
                           value=float(fill_value))
    mats = resize_mats(x, (h_ax, w_ax), size, interpolation, antialias)
    y = resample_axes(x, mats=mats) if mats else x
    if integer:
        if interpolation != "nearest":
            y = _M.clip(_M.round(y), _M.min(x), _M.max(x))
        y = _C.cast(y, original)
    return y


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    """JAX's ``scale_and_translate``: each axis of ``spatial_dims`` resampled to
    ``output_shape`` with output ``j`` reading the input at ``(j + 0.5 − t)/s − 0.5``
    (``method``: "linear"/"bilinear"/"trilinear", "cubic"/"bicubic"/"tricubic", "lanczos3",
    "lanczos5"; ``antialias`` widens the kernel by 1/s when s < 1)."""
    _check_choice(method, "method", "scale_and_translate", SCALE_AND_TRANSLATE_METHODS)
    dims = tuple(int(d) % len(images.shape) for d in spatial_dims)
    s = [float(v) for v in _np().reshape(_host(scale), (-1,))]
    t = [float(v) for v in _np().reshape(_host(translation), (-1,))]
    if len(s) != len(dims) or len(t) != len(dims):
        raise ValueError(f"scale_and_translate: scale and translation need one value per spatial "
                         f"dim ({len(dims)}); got scale={s}, translation={t}")
    x = _float(images)
    if not dims:
        return x
    mats = resize_mats(x, dims, [output_shape[d] for d in dims], method, antialias, s, t)
    return resample_axes(x, mats=mats)


# ----------------------------------------------------------------------------- sampling
def fix_index(np, idx, n, fill_mode):
    """Integer indices (any values) -> (indices inside [0, n), valid mask or None), as
    jax.scipy.ndimage: "reflect" (d c b a | a b c d), "mirror" (c d c b | a b c d),
    "wrap", "nearest" (clamped), "constant" (clamped, with the mask of the inside ones)."""
    if fill_mode == "reflect":
        period = 2 * n
        m = idx % period
        return np.where(m >= n, period - 1 - m, m), None
    if fill_mode == "mirror":
        if n == 1:
            return np.zeros_like(idx), None
        period = 2 * (n - 1)
        m = idx % period
        return np.where(m >= n, period - m, m), None
    if fill_mode == "wrap":
        return idx % n, None
    clamped = np.clip(idx, 0, n - 1)
    if fill_mode == "nearest":
        return clamped, None
    return clamped, np.logical_and(idx >= 0, idx < n)


def sampling_plan(coords, shape, order, fill_mode, base=None, slopes=False):
    """Host plan of sampling an array of ``shape`` at float ``coords`` (one host array per
    axis, all of one shape S): flat gather indices (N·K,), weights (N, K) and the weight left
    to the fill value (N,) (N = prod(S); K = 1 for order 0, 2^d for order 1). ``base``: a
    flat offset added to every index (the batch row of an image), broadcast against S.
    ``slopes``: also the weights' derivatives by each coordinate (d, N, K) and which
    neighbours lie inside (N, K) (the gradient with respect to the coordinates)."""
    np = _np()
    nodes = []
    for c, n in zip(coords, shape):
        if order == 0:
            candidates = [(np.floor(c + 0.5), 1.0, 0.0)]
        else:
            lo = np.floor(c)
            frac = c - lo
            candidates = [(lo, 1 - frac, -1.0), (lo + 1, frac, 1.0)]
        nodes.append([fix_index(np, np.astype(i, np.int64), n, fill_mode) + (w, sign)
                      for i, w, sign in candidates])
    strides = [int(_pymath.prod(shape[k + 1:])) for k in range(len(shape))]
    target = coords[0].shape
    fill = np.zeros(target, dtype=np.float64)
    indices, weights, derivatives, inside = [], [], [], []
    for combo in itertools.product(*nodes):
        flat = np.zeros(target, dtype=np.int64) if base is None else base
        weight, valid = 1.0, None
        for (j, v, w, _), stride in zip(combo, strides):
            flat = flat + j * stride
            weight = weight * w
            if v is not None:
                valid = v if valid is None else np.logical_and(valid, v)
        if slopes:
            derivatives.append([np.broadcast_to(combo[d][3] * _pymath.prod(
                [node[2] for e, node in enumerate(combo) if e != d]), target)
                for d in range(len(combo))])
            inside.append(np.ones(target, dtype=bool) if valid is None else valid)
        weight = np.broadcast_to(np.asarray(weight, dtype=np.float64), target)
        if valid is not None:
            fill = fill + np.where(valid, 0.0, weight)
            weight = np.where(valid, weight, 0.0)
        indices.append(np.broadcast_to(flat, target))
        weights.append(weight)
    k = len(indices)
    plan = (np.reshape(np.stack(indices, axis=-1), (-1,)),
            np.reshape(np.stack(weights, axis=-1), (-1, k)), np.reshape(fill, (-1,)))
    if not slopes:
        return plan
    d = np.reshape(np.stack([np.stack(dk, axis=0) for dk in derivatives], axis=-1),
                   (len(shape), -1, k))
    return plan + (d, np.reshape(np.stack(inside, axis=-1), (-1, k)))


def _gather_impl(x, plan=None):
    idx, wts, fill = plan
    xp = namespace_of(x)
    n, k = wts.shape[0], wts.shape[1]
    vals = xp.reshape(xp.take(x, idx, axis=0), (n, k, x.shape[1]))
    y = xp.sum(vals * wts, axis=1)
    return y if fill is None else y + fill


def _gather_vjp(g, out, x, plan=None):
    idx, wts, _ = plan
    xp = namespace_of(g)
    n, k = wts.shape[0], wts.shape[1]
    spread = xp.reshape(g[:, None, :] * wts, (n * k, g.shape[1]))
    zeros = xp.zeros(tuple(x.shape), dtype=g.dtype, device=getattr(g, "device", None))
    return (_backend.current().scatter_add(zeros, idx, spread),)


# Rows of a (P, C) array mixed by a plan (indices (N·K,), weights (N, K, 1), fill (N, 1) or
# None) into (N, C); the gradient scatter-adds back.
gather_rows = primitive("image_gather", _gather_impl, _gather_vjp)


def _coords_impl(x, coords, plan=None):
    return _gather_impl(x, plan=plan[:3])


def _coords_vjp(g, out, x, coords, plan=None):
    idx, wts, _, slopes, inside, cval = plan
    xp = namespace_of(g)
    n, k = wts.shape[0], wts.shape[1]
    c = x.shape[1]
    vals = xp.reshape(xp.take(x, idx, axis=0), (n, k, c))
    vals = xp.where(inside[:, :, None], vals, xp.full((n, k, c), cval, dtype=vals.dtype,
                                                      device=getattr(vals, "device", None)))
    dc = xp.sum(slopes * xp.sum(vals * g[:, None, :], axis=2)[None, :, :], axis=2)
    return _gather_vjp(g, out, x, plan=plan[:3])[0], xp.astype(dc, coords.dtype)


# ``gather_rows`` whose plan depends on coordinates (d, N) being differentiated: the gradient
# also flows to the coordinates (order 1: the weights' slopes). The plan adds the slopes
# (d, N, K), the inside mask (N, K) and the fill value.
gather_at_coords = primitive("image_gather_coordinates", _coords_impl, _coords_vjp)


def device_plan(like, plan, fill_value):
    """A host ``sampling_plan`` as the arrays ``gather_rows`` takes (``like``'s dtype)."""
    idx, weights, fill = plan
    np = _np()
    fill_arr = None
    if fill_value != 0 and np.any(fill != 0):
        fill_arr = const(like, fill[:, None] * float(fill_value))
    return const(like, idx, "int64"), const(like, weights[..., None]), fill_arr


def image_plan(rows, cols, height, width, interpolation, fill_mode, slopes=False):
    """``sampling_plan`` of a batch of (height, width) images at host ``rows``, ``cols``
    (B, H', W'), indexing the (B·height·width) pixel rows of a channels_last batch."""
    np = _np()
    batch = rows.shape[0]
    base = np.reshape(np.arange(batch, dtype=np.int64) * (height * width), (batch, 1, 1))
    return sampling_plan((rows, cols), (height, width), AFFINE_INTERPOLATIONS[interpolation],
                         fill_mode, base=base, slopes=slopes)


def sample_images(images, rows, cols, interpolation="bilinear", fill_mode="constant",
                  fill_value=0.0, data_format="channels_last", traced_coords=None):
    """A 4D batch sampled at host coordinates ``rows``, ``cols`` (B, H', W'): (B, H', W', C)
    (channels_first: C first); differentiable in the images, and in ``traced_coords``
    (the same coordinates as a traced (2, B·H'·W') tensor) when given."""
    x = _to_last(images, data_format)
    b, h, w, c = x.shape
    flat = _A.reshape(x, (b * h * w, c))
    if traced_coords is None:
        plan = image_plan(rows, cols, h, w, interpolation, fill_mode)
        y = gather_rows(flat, plan=device_plan(x, plan, fill_value))
    else:
        plan = image_plan(rows, cols, h, w, interpolation, fill_mode, slopes=True)
        y = gather_at_coords(flat, traced_coords, plan=device_plan(x, plan[:3], fill_value) + (
            const(x, plan[3]), const(x, plan[4], "bool"), float(fill_value)))
    return _from_last(_A.reshape(y, tuple(rows.shape) + (c,)), data_format)


def _traced_affine_coords(transform, batch, height, width, like):
    """The affine sampling coordinates (2, B·H·W) as ops of a traced ``transform``."""
    np = _np()
    t = _A.reshape(transform, (-1, 8))
    if t.shape[0] != batch:
        t = t * const(like, np.ones((batch, 1)), _dtype_name(t))
    i = const(like, np.repeat(np.arange(height, dtype=np.float64), width)[None, :],
              _dtype_name(t))
    j = const(like, np.tile(np.arange(width, dtype=np.float64), height)[None, :], _dtype_name(t))
    a0, a1, a2, b0, b1, b2 = (t[:, k:k + 1] for k in range(6))
    rows, cols = b0 * j + b1 * i + b2, a0 * j + a1 * i + a2
    return _A.stack([_A.reshape(rows, (-1,)), _A.reshape(cols, (-1,))], axis=0)


def affine_coords(matrices, height, width):
    """Host (rows, cols) (B, height, width) where the affine ``matrices`` (B, 8) sample:
    output (x=col, y=row) reads the input at ``(a0·x + a1·y + a2, b0·x + b1·y + b2)``."""
    np = _np()
    m = np.asarray(matrices, dtype=np.float64)
    a0, a1, a2, b0, b1, b2 = (m[:, k][:, None, None] for k in range(6))
    i = np.astype(np.arange(height), np.float64)[None, :, None]
    j = np.astype(np.arange(width), np.float64)[None, None, :]
    return b0 * j + b1 * i + b2, a0 * j + a1 * i + a2


def _fill_mode_args(interpolation, fill_mode, owner):
    _check_choice(interpolation, "interpolation", owner, tuple(AFFINE_INTERPOLATIONS))
    _check_choice(fill_mode, "fill_mode", owner, FILL_MODES)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Samples each image through its transform ``[a0, a1, a2, b0, b1, b2, c0, c1]`` ((8,) or
    (B, 8)): output (x, y) reads the input at ``(a0·x + a1·y + a2, b0·x + b1·y + b2)``
    (Keras's backends add ``c0·k``, ``c1·k`` for channel k, reproduced here), with
    "nearest" / "bilinear" interpolation and ``fill_mode`` outside ("constant", "nearest",
    "wrap", "mirror", "reflect")."""
    owner = "affine_transform"
    data_format = data_format_of(data_format, owner)
    _fill_mode_args(interpolation, fill_mode, owner)
    _check_rank(images, owner)
    np = _np()
    m = _host(transform)
    if m.ndim not in (1, 2) or m.shape[-1] != 8:
        raise ValueError(f"affine_transform: transform of shape (8,) or (batch, 8) expected; got "
                         f"transform.shape={tuple(m.shape)}")
    x, unbatched = _batched(_float(images))
    x = _to_last(x, data_format)
    b, h, w, c = x.shape
    m = np.broadcast_to(np.reshape(m, (-1, 8)), (b, 8))
    rows, cols = affine_coords(m, h, w)
    if np.any(m[:, 6:] != 0):   # Keras's channel terms: per-channel coordinates
        k = np.astype(np.arange(c), np.float64)
        rows = rows[..., None] + m[:, 6][:, None, None, None] * k
        cols = cols[..., None] + m[:, 7][:, None, None, None] * k
        full = np.broadcast_to
        coords = [full(np.reshape(np.astype(np.arange(b), np.float64), (b, 1, 1, 1)), rows.shape),
                  rows, cols, full(k, rows.shape)]
        y = map_coordinates(x, coords, AFFINE_INTERPOLATIONS[interpolation], fill_mode, fill_value)
    else:
        traced = (_traced_affine_coords(transform, b, h, w, x) if _is_tensor(transform)
                  else None)
        y = sample_images(x, rows, cols, interpolation, fill_mode, fill_value,
                          traced_coords=traced)
    y = _from_last(y, data_format)
    return y[0, ...] if unbatched else y


def homography(start_points, end_points):
    """Host (B, 8) projective maps from ``end_points`` (output) to ``start_points`` (input),
    both (B, 4, 2) [x, y] (Keras's ``compute_homography_matrix``, float64)."""
    np = _np()
    s = np.asarray(start_points, dtype=np.float64)
    e = np.asarray(end_points, dtype=np.float64)
    rows, target = [], []
    for k in range(4):
        ex, ey, sx, sy = e[:, k, 0], e[:, k, 1], s[:, k, 0], s[:, k, 1]
        one, zero = np.ones_like(ex), np.zeros_like(ex)
        rows.append(np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1))
        rows.append(np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1))
        target += [sx, sy]
    a = np.stack(rows, axis=1)
    t = np.stack(target, axis=-1)[..., None]
    return np.reshape(np.linalg.solve(a, t), (-1, 8))


def perspective_coords(matrices, height, width):
    """Host (rows, cols) (B, height, width) of the projective ``matrices`` (B, 8)."""
    np = _np()
    y = np.astype(np.arange(height), np.float64)[None, :, None]
    x = np.astype(np.arange(width), np.float64)[None, None, :]
    a = [matrices[:, k][:, None, None] for k in range(8)]
    den = a[6] * x + a[7] * y + 1.0
    return (a[3] * x + a[4] * y + a[5]) / den, (a[0] * x + a[1] * y + a[2]) / den


def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    """Warps images so that ``start_points`` (the 4 corners [x, y], (4, 2) or (B, 4, 2))
    move to ``end_points``; outside pixels take ``fill_value``."""
    owner = "perspective_transform"
    data_format = data_format_of(data_format, owner)
    _check_choice(interpolation, "interpolation", owner, tuple(AFFINE_INTERPOLATIONS))
    _check_rank(images, owner)
    np = _np()
    s, e = _host(start_points), _host(end_points)
    for name, p in (("start_points", s), ("end_points", e)):
        if p.ndim not in (2, 3) or p.shape[-2:] != (4, 2):
            raise ValueError(f"perspective_transform: {name} of shape (4, 2) or (batch, 4, 2) "
                             f"expected; got {name}.shape={tuple(p.shape)}")
    if s.shape != e.shape:
        raise ValueError(f"perspective_transform: start_points.shape={tuple(s.shape)} and "
                         f"end_points.shape={tuple(e.shape)} differ; expected the same")
    x, unbatched = _batched(_float(images))
    x = _to_last(x, data_format)
    b, h, w, _ = x.shape
    m = homography(np.reshape(s, (-1, 4, 2)), np.reshape(e, (-1, 4, 2)))
    m = np.broadcast_to(m, (b, 8))
    rows, cols = perspective_coords(m, h, w)
    y = _from_last(sample_images(x, rows, cols, interpolation, "constant", fill_value),
                   data_format)
    return y[0, ...] if unbatched else y


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """``inputs`` sampled at ``coordinates`` (one coordinate array per input axis, shape
    ``(inputs.ndim, ...)`` or a list), with ``order`` 0 (nearest) or 1 (linear) and
    ``fill_mode`` outside; the output has the coordinates' shape."""
    owner = "map_coordinates"
    _check_choice(fill_mode, "fill_mode", owner, FILL_MODES)
    if order not in (0, 1):
        raise ValueError(f"map_coordinates: order={order!r}; expected 0 or 1")
    np = _np()
    traced = any(_is_tensor(c) for c in (
        coordinates if isinstance(coordinates, (list, tuple)) else [coordinates]))
    if isinstance(coordinates, (list, tuple)):
        coords = [_host(c) for c in coordinates]
    else:
        arr = _host(coordinates)
        if arr.ndim < 2:
            raise ValueError(f"map_coordinates: coordinates of rank >= 2 expected; got "
                             f"coordinates.shape={tuple(arr.shape)}")
        coords = [arr[k] for k in range(arr.shape[0])]
    if len(coords) != len(inputs.shape):
        raise ValueError(f"map_coordinates: {len(coords)} coordinate arrays for inputs of rank "
                         f"{len(inputs.shape)}; expected one per axis")
    coords = np.broadcast_arrays(*coords)
    original = _dtype_name(inputs)
    integer = not _is_float(inputs)
    x = _C.cast(inputs, _config.floatx()) if integer else inputs
    flat = _A.reshape(x, (-1, 1))
    if not traced:
        plan = sampling_plan(coords, tuple(inputs.shape), order, fill_mode)
        y = gather_rows(flat, plan=device_plan(x, plan, fill_value))
    else:
        plan = sampling_plan(coords, tuple(inputs.shape), order, fill_mode, slopes=True)
        extra = (const(x, plan[3]), const(x, plan[4], "bool"), float(fill_value))
        stacked = coordinates if not isinstance(coordinates, (list, tuple)) else _A.stack(
            [c if _is_tensor(c) else const(x, _host(c)) for c in coordinates], axis=0)
        y = gather_at_coords(flat, _A.reshape(stacked, (len(coords), -1)),
                             plan=device_plan(x, plan[:3], fill_value) + extra)
    y = _A.reshape(y, tuple(coords[0].shape))
    if integer:
        y = _C.cast(_M.sign(y) * _M.floor(_M.abs(y) + 0.5), original)
    return y


# ----------------------------------------------------------------------------- filters
def gaussian_kernel1d(size, sigma):
    """Keras's 1D Gaussian: exp(-x²/2σ²) at x = k − (size − 1)/2, normalized (host float64)."""
    np = _np()
    x = np.arange(int(size), dtype=np.float64) - (int(size) - 1) / 2
    k = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return k / np.sum(k)


def gaussian_kernel2d(size_x, size_y, sigma_x, sigma_y):
    """Keras's ``gaussian_blur`` kernel (size_y, size_x): outer(k_y, k_x) (host float64)."""
    return _np().linalg.outer(gaussian_kernel1d(size_y, sigma_y),
                              gaussian_kernel1d(size_x, sigma_x))


def band_matrix(n, kernel):
    """The (n, n) host matrix of a zero-padded 'same' 1D correlation with ``kernel``
    (``(k − 1) // 2`` zeros before, as XLA's SAME): ``y[j] = Σ_i x[i]·M[i, j]``."""
    np = _np()
    size = kernel.shape[0]
    d = np.arange(n)[:, None] - np.arange(n)[None, :] + (size - 1) // 2
    inside = np.logical_and(d >= 0, d < size)
    return np.where(inside, kernel[np.clip(d, 0, size - 1)], 0.0)


def separable_blur(x, axes, kernels):
    """``x`` correlated ('same', zero padding) along each of ``axes`` with the host 1D
    ``kernels``: the separable form of a 2D Gaussian blur, as the resampling op."""
    mats = tuple((axis, const(x, band_matrix(x.shape[axis], k))) for axis, k in zip(axes, kernels))
    return resample_axes(x, mats=mats)


def depthwise_same(images, kernel2d, data_format):
    """Zero-padded 'same' correlation of every channel of a 4D batch with a host 2D kernel."""
    np = _np()
    x = _to_last(images, data_format)
    c = x.shape[-1]
    k = np.asarray(kernel2d, dtype=np.float64)
    k = np.tile(np.reshape(k, (k.shape[0], k.shape[1], 1, 1)), (1, 1, c, 1))
    y = _N.depthwise_conv(x, const(x, k), strides=1, padding="same",
                          data_format="channels_last")
    return _from_last(y, data_format)


def _pair_of(value, name, owner):
    v = value_of(value)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v), float(v)
    host = _np().reshape(_host(v), (-1,))
    if host.shape[0] != 2:
        raise ValueError(f"{owner}: {name}={value!r}; expected a pair of numbers")
    return float(host[0]), float(host[1])


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Blurs each channel with the Gaussian kernel ``outer(k(kernel_size[1], sigma[1]),
    k(kernel_size[0], sigma[0]))`` (zero 'same' padding), as Keras."""
    owner = "gaussian_blur"
    data_format = data_format_of(data_format, owner)
    _check_rank(images, owner)
    ks = _pair_of(kernel_size, "kernel_size", owner)
    if not all(k == int(k) and k > 0 for k in ks):
        raise ValueError(f"gaussian_blur: kernel_size={kernel_size!r}; expected two positive ints")
    sx, sy = _pair_of(sigma, "sigma", owner)
    x = _float(images)
    h_ax, w_ax, _ = image_axes(len(x.shape), data_format)
    return separable_blur(x, (h_ax, w_ax), (gaussian_kernel1d(ks[1], sy),
                                            gaussian_kernel1d(ks[0], sx)))


def _sobel(images, data_format):
    np = _np()
    ky = np.asarray([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
    return [depthwise_same(images, k, data_format) for k in (ky, np.matrix_transpose(ky))]


def sobel_edges(images, data_format=None):
    """Sobel gradients of a 4D batch: (..., 2) with [dy, dx] last (zero 'same' padding,
    Keras's JAX/TensorFlow-style convolution)."""
    data_format = data_format_of(data_format, "sobel_edges")
    _check_rank(images, "sobel_edges", ranks=(4,))
    dy, dx = _sobel(_float(images), data_format)
    return _A.stack([dy, dx], axis=-1)


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    """Mean structural similarity per image (Gaussian window ``filter_size`` /
    ``filter_sigma``, 'valid'), averaged over channels: (batch,) or a scalar."""
    owner = "ssim"
    data_format = data_format_of(data_format, owner)
    _check_rank(image1, owner, name="image1")
    _check_rank(image2, owner, name="image2")
    if tuple(image1.shape) != tuple(image2.shape):
        raise ValueError(f"ssim: image1.shape={tuple(image1.shape)} and "
                         f"image2.shape={tuple(image2.shape)} differ; expected the same")
    a, unbatched = _batched(_float(image1))
    b, _ = _batched(_float(image2))
    a, b = _to_last(a, data_format), _to_last(b, data_format)
    n, h, w, c = a.shape
    kernel = gaussian_kernel2d(filter_size, filter_size, filter_sigma, filter_sigma)
    kernel = const(a, _np().reshape(kernel, (filter_size, filter_size, 1, 1)))

    def chans(x):
        return _A.reshape(_A.transpose(x, (0, 3, 1, 2)), (-1, h, w, 1))

    def blur(x):
        return _N.conv(x, kernel, strides=1, padding="valid", data_format="channels_last")

    a, b = chans(a), chans(b)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu1, mu2 = blur(a), blur(b)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = blur(a * a) - mu1_sq
    s2 = blur(b * b) - mu2_sq
    s12 = blur(a * b) - mu1_mu2
    ssim_map = ((2.0 * mu1_mu2 + c1) * (2.0 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    per = _M.mean(_A.reshape(_M.mean(ssim_map, axis=(1, 2, 3)), (n, c)), axis=-1)
    return per[0] if unbatched else per


# ----------------------------------------------------------------------------- elastic
def elastic_fields(dx, dy, alpha, sigma, like):
    """Host displacement (rows, cols) (B, H, W) of Keras's elastic transform from unit
    normal fields ``dx``, ``dy``: each ``blur(σ·field)`` (Gaussian, kernel int(6σ)|1) scaled
    by α and added to the pixel grid. ``like``: an array of the namespace to blur with."""
    np = _np()
    kernel = gaussian_kernel1d(int(6 * sigma) | 1, sigma)
    fields = np.stack([np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64)], axis=-1)
    blurred = _host(separable_blur(const(value_of(like), fields * sigma, "float64"), (1, 2),
                                   (kernel, kernel)))
    _, h, w = blurred.shape[:3]
    x = np.astype(np.arange(w), np.float64)[None, None, :]
    y = np.astype(np.arange(h), np.float64)[None, :, None]
    return y + alpha * blurred[..., 1], x + alpha * blurred[..., 0]


def elastic_from_fields(images, dx, dy, alpha, sigma, interpolation, fill_mode, fill_value,
                        data_format):
    """``elastic_transform`` of a 4D batch for given unit normal fields (B, H, W)."""
    rows, cols = elastic_fields(dx, dy, float(alpha), float(sigma), images)
    return sample_images(images, rows, cols, interpolation, fill_mode, fill_value, data_format)


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    """Elastic distortion: two unit normal fields (drawn from ``seed``: an int, a
    ``pn.random.SeedGenerator``, or None for the backend's stream; Keras's JAX backend uses one
    field for both, its NumPy backend two, as here) blurred by a Gaussian of σ = ``sigma`` (kernel int(6σ)|1), scaled
    by ``sigma`` and ``alpha``, displace the sampling grid (``fill_mode`` outside)."""
    owner = "elastic_transform"
    data_format = data_format_of(data_format, owner)
    _fill_mode_args(interpolation, fill_mode, owner)
    _check_rank(images, owner)
    x, unbatched = _batched(_float(images))
    h_ax, w_ax, _ = image_axes(4, data_format)
    shape = (x.shape[0], x.shape[h_ax], x.shape[w_ax])
    noise = _host(_random.normal((2,) + shape, dtype="float64", seed=seed))
    dx, dy = noise[0], noise[1]
    y = elastic_from_fields(x, dx, dy, _host(alpha), _host(sigma), interpolation, fill_mode,
                            fill_value, data_format)
    return y[0, ...] if unbatched else y


# ----------------------------------------------------------------------------- patches
def _identity_kernel(like, spatial, channels):
    np = _np()
    out = int(_pymath.prod(spatial)) * channels
    return const(like, np.reshape(np.eye(out), tuple(spatial) + (channels, out)))


def _patches(images, size, strides, dilation_rate, padding, data_format, rank, owner):
    data_format = data_format_of(data_format, owner)
    size = (size,) * rank if isinstance(size, int) else tuple(size)
    if len(size) != rank or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"{owner}: size={size!r}; expected an int or a tuple of {rank} "
                         f"positive ints")
    _check_rank(images, owner, ranks=(rank + 1, rank + 2))
    if not strides:
        strides = size
    x = _float(images)
    unbatched = len(x.shape) == rank + 1
    if unbatched:
        x = _A.expand_dims(x, 0)
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    kernel = _identity_kernel(x, size, channels)
    y = _N.conv(x, kernel, strides=strides, padding=padding, data_format=data_format,
                dilation_rate=dilation_rate)
    return y[0, ...] if unbatched else y


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    """Patches of ``size`` (an int or (h, w); a length-3 size extracts 3D patches) flattened
    into the channel axis: (batch, out_h, out_w, h·w·C) (channels_first: that axis first)."""
    if isinstance(size, (list, tuple)) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    return _patches(images, size, strides, dilation_rate, padding, data_format, 2,
                    "extract_patches")


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    """3D patches of ``size`` (an int or (d, h, w)) of 4D or 5D volumes, flattened into the
    channel axis."""
    return _patches(volumes, size, strides, dilation_rate, padding, data_format, 3,
                    "extract_patches_3d")


# ----------------------------------------------------------------------------- windows
def _non_negative(values, owner):
    for name, v in values.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{owner}: {name}={v!r}; expected a non-negative int or None")


def _two_of(a, b, target, names, owner):
    if [a, b, target].count(None) != 1:
        raise ValueError(f"{owner}: exactly two of {', '.join(names)} expected; got "
                         f"{names[0]}={a}, {names[1]}={b}, {names[2]}={target}")


def _margins(images, kind, values, data_format, owner):
    """Keras's pad/crop arguments ``values`` = (top, left, bottom, right, target_height,
    target_width) completed (two of each triple given; ``kind`` +1 pads, -1 crops:
    target = size ± (before + after)) and checked: (h axis, w axis, (top, bottom),
    (left, right))."""
    data_format = data_format_of(data_format, owner)
    _check_rank(images, owner)
    word = "padding" if kind > 0 else "cropping"
    names = [f"top_{word}", f"left_{word}", f"bottom_{word}", f"right_{word}", "target_height",
             "target_width"]
    h_ax, w_ax, _ = image_axes(len(images.shape), data_format)
    out = []
    for k, axis in enumerate((h_ax, w_ax)):
        before, after, target = values[k], values[k + 2], values[k + 4]
        if [before, after, target].count(None) != 1:
            raise ValueError(f"{owner}: exactly two of {names[k]}, {names[k + 2]}, "
                             f"{names[k + 4]} expected; got {names[k]}={before}, "
                             f"{names[k + 2]}={after}, {names[k + 4]}={target}")
        for name, v in ((names[k], before), (names[k + 2], after), (names[k + 4], target)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"{owner}: {name}={v!r}; expected a non-negative int or None")
        size = images.shape[axis]
        if before is None:
            before = kind * (target - size) - after
        elif after is None:
            after = kind * (target - size) - before
        for name, v in ((names[k], before), (names[k + 2], after),
                        (names[k + 4], size + kind * (before + after))):
            if v < 0:
                raise ValueError(f"{owner}: {name} would be {v} for images of "
                                 f"shape {tuple(images.shape)}; expected >= 0")
        out.append((before, after))
    return h_ax, w_ax, out[0], out[1]


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    """Zero-pads images: two of (top_padding, bottom_padding, target_height) and two of
    (left_padding, right_padding, target_width) given."""
    h_ax, w_ax, rows, cols = _margins(images, 1, (top_padding, left_padding, bottom_padding,
                                                  right_padding, target_height, target_width),
                                      data_format, "pad_images")
    widths = [(0, 0)] * len(images.shape)
    widths[h_ax], widths[w_ax] = rows, cols
    return pad_window(images, widths=tuple(widths), value=0.0)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    """Crops images: two of (top_cropping, bottom_cropping, target_height) and two of
    (left_cropping, right_cropping, target_width) given."""
    h_ax, w_ax, rows, cols = _margins(images, -1, (top_cropping, left_cropping, bottom_cropping,
                                                   right_cropping, target_height, target_width),
                                      data_format, "crop_images")
    sizes = (images.shape[h_ax] - sum(rows), images.shape[w_ax] - sum(cols))
    index = window_index(len(images.shape), (h_ax, w_ax), (rows[0], cols[0]), sizes)
    return crop_window(images, index=index)
