"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, UpSampling1D/2D,
ZeroPadding1D/2D, Cropping1D/2D (Keras 3 names, arguments and defaults).

Each is a pure data movement, so each backward pass is the matching inverse movement:
permute back, sum the repeats, crop the padding, pad the crop.
"""

__all__ = ["Flatten", "Reshape", "Permute", "RepeatVector", "UpSampling1D", "UpSampling2D",
           "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D"]

import operator

from . import _windows as W
from ..ops import image as _image
from ..validation import check_positive_int
from .base import Layer
from .input_spec import InputSpec


def _prod(shape):
    n = 1
    for s in shape:
        if s is None:
            return None
        n *= s
    return n


class Flatten(Layer):
    """Flattens every axis but the batch axis: (batch, d1, d2, ...) -> (batch, d1·d2·...).

    Args:
        data_format: "channels_last" (default) or "channels_first"; with channels_first the
            input is moved to channels_last order first, as Keras does.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(min_ndim=1)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"Flatten: data_format={data_format!r}; expected 'channels_last' or 'channels_first'")
        self.data_format = data_format or "channels_last"

    def forward(self, x, training=False):
        xp = self.xp
        shape = x.shape
        if self.data_format == "channels_first" and x.ndim > 2:
            perm = (0,) + tuple(range(2, x.ndim)) + (1,)
            xt = xp.permute_dims(x, perm)
            inv = [0] * x.ndim
            for i, p in enumerate(perm):
                inv[p] = i
            tshape = xt.shape

            def backward(dy):
                return xp.permute_dims(xp.reshape(dy, tshape), tuple(inv))
            return xp.reshape(xt, (shape[0], -1)), backward

        def backward(dy):
            return xp.reshape(dy, shape)
        return xp.reshape(x, (shape[0], -1)), backward

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _prod(input_shape[1:]))

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshapes the non-batch axes to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target_shape = tuple(int(s) for s in target_shape)
        except (TypeError, ValueError):
            raise TypeError(f"Reshape: target_shape={target_shape!r}; expected a tuple of ints") from None
        if sum(1 for s in target_shape if s == -1) > 1 or any(s == 0 or s < -1 for s in target_shape):
            raise ValueError(f"Reshape: target_shape={target_shape!r}; expected positive ints and at most one -1")
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        total = _prod(input_shape[1:])
        shape = list(self.target_shape)
        if -1 in shape:
            known = _prod([s for s in shape if s != -1])
            shape[shape.index(-1)] = None if total is None else total // known
        elif total is not None and _prod(shape) != total:
            raise ValueError(f"Reshape {self.name!r}: cannot reshape input of shape {tuple(input_shape)} "
                             f"({total} values per sample) to target_shape={self.target_shape}")
        return (input_shape[0],) + tuple(shape)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        shape = x.shape

        def backward(dy):
            return xp.reshape(dy, shape)
        return xp.reshape(x, (shape[0],) + self.target_shape), backward

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class Permute(Layer):
    """Permutes the non-batch axes: ``Permute((2, 1))`` swaps the two axes of (batch, a, b).

    Args:
        dims: a permutation of 1..rank-1 (the batch axis, 0, never moves), as Keras.

    Input shape: (batch, d1, ..., dn). Output shape: (batch, d_dims[0], ..., d_dims[n-1]).
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(operator.index(d) for d in dims)
        except TypeError:
            raise TypeError(f"Permute: dims={dims!r}; expected a tuple of ints") from None
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims={dims!r}; expected a permutation of "
                             f"{tuple(range(1, len(dims) + 1))} (axes are 1-indexed; the batch "
                             "axis is not included)")
        self.input_spec = InputSpec(ndim=len(dims) + 1)
        self.dims = dims

    def build(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute {self.name!r}: dims={self.dims} needs inputs of rank "
                             f"{len(self.dims) + 1}; got shape {tuple(input_shape)}")
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        perm = (0,) + self.dims
        inverse = [0] * len(perm)
        for i, p in enumerate(perm):
            inverse[p] = i

        def backward(dy):
            return xp.permute_dims(dy, tuple(inverse))
        return xp.permute_dims(x, perm), backward

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config


class RepeatVector(Layer):
    """Repeats a vector ``n`` times: (batch, features) -> (batch, n, features).

    Args:
        n: positive int, the number of repetitions.
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int(n, "n", "RepeatVector")
        self.input_spec = InputSpec(ndim=2)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"RepeatVector {self.name!r}: expected input of shape (batch, features); "
                             f"got {tuple(input_shape)}")
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp

        def backward(dy):
            return xp.sum(dy, axis=1)
        return xp.tile(x[:, None, :], (1, self.n, 1)), backward

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        config = super().get_config()
        config["n"] = self.n
        return config


# --------------------------------------------------------------------------- spatial
def _spatial_axes(rank, data_format):
    return tuple(range(2, 2 + rank)) if data_format == "channels_first" else tuple(range(1, 1 + rank))


def _pad_axes(layer, x, axes, pads):
    """Zero-pad the given axes by (before, after): a zero array and one slice assignment."""
    xp = layer.xp
    shape = list(x.shape)
    index = [slice(None)] * x.ndim
    for axis, (a, b) in zip(axes, pads):
        index[axis] = slice(a, a + shape[axis])
        shape[axis] += a + b
    out = xp.zeros(tuple(shape), dtype=x.dtype, device=layer.backend.device)
    out[tuple(index)] = x
    return out


def _crop_axes(x, axes, crops):
    index = [slice(None)] * x.ndim
    for axis, (a, b) in zip(axes, crops):
        index[axis] = slice(a, x.shape[axis] - b)
    return x[tuple(index)]


def _pairs(value, rank, name, owner):
    """Keras's padding/cropping forms: int, tuple of ``rank`` ints (symmetric per axis), or
    tuple of ``rank`` (before, after) pairs; for rank 1 also a single (before, after) pair."""
    expected = (f"an int, a tuple of {rank} ints or a tuple of {rank} (before, after) pairs"
                if rank > 1 else "an int or a (before, after) pair of ints")

    def nonneg(v):
        if isinstance(v, bool):
            raise TypeError
        v = operator.index(v)
        if v < 0:
            raise ValueError
        return v
    try:
        if isinstance(value, bool):
            raise TypeError
        try:
            v = nonneg(value)
            return ((v, v),) * rank
        except TypeError:
            pass
        items = tuple(value)
        if rank == 1:
            if len(items) != 2:
                raise ValueError
            return ((nonneg(items[0]), nonneg(items[1])),)
        if len(items) != rank:
            raise ValueError
        pairs = []
        for item in items:
            try:
                v = nonneg(item)
                pairs.append((v, v))
            except TypeError:
                pair = tuple(item)
                if len(pair) != 2:
                    raise ValueError from None
                pairs.append((nonneg(pair[0]), nonneg(pair[1])))
        return tuple(pairs)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name}={value!r}; expected {expected} (non-negative)") from None


class _UpSampling(Layer):
    rank = None

    def __init__(self, size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.size = W.normalize_tuple(size, self.rank, "size", type(self).__name__)
        self.data_format = W.normalize_data_format(data_format, type(self).__name__)

    def build(self, input_shape):
        W.check_rank(f"{type(self).__name__} {self.name!r}", input_shape, self.rank + 2)
        self.built = True

    def forward(self, x, training=False):
        xp = self.xp
        axes = _spatial_axes(self.rank, self.data_format)
        # Nearest neighbour: insert a length-`size` axis after each spatial axis, broadcast,
        # then merge each pair; the backward sums the inserted axes.
        expanded = list(x.shape)
        for offset, axis in enumerate(axes):
            expanded.insert(axis + offset + 1, 1)
        wide = list(expanded)
        for offset, (axis, s) in enumerate(zip(axes, self.size)):
            wide[axis + offset + 1] = s
        out_shape = list(x.shape)
        for axis, s in zip(axes, self.size):
            out_shape[axis] *= s
        y = xp.reshape(xp.broadcast_to(xp.reshape(x, tuple(expanded)), tuple(wide)), tuple(out_shape))
        sum_axes = tuple(axis + offset + 1 for offset, axis in enumerate(axes))

        def backward(dy):
            return xp.reshape(xp.sum(xp.reshape(dy, tuple(wide)), axis=sum_axes), tuple(x.shape))
        return y, backward

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, s in zip(_spatial_axes(self.rank, self.data_format), self.size):
            shape[axis] = None if shape[axis] is None else shape[axis] * s
        return tuple(shape)


class UpSampling1D(_UpSampling):
    """Repeats each step ``size`` times: (batch, steps, features) -> (batch, steps*size, features).

    Args:
        size: positive int, the upsampling factor; default 2.
    """

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size[0]
        return config


class UpSampling2D(_UpSampling):
    """Upsampling of images by size[0] x size[1], as Keras 3: "nearest" repeats each pixel;
    "bilinear", "bicubic", "lanczos3", "lanczos5" resize as ``pn.ops.image.resize`` does
    (Keras's own route; the gradient is the resize's transpose).

    Args:
        size: int or tuple of 2 ints (rows, cols); default (2, 2).
        data_format: "channels_last" (default) or "channels_first".
        interpolation: "nearest" (default), "bilinear", "bicubic", "lanczos3" or "lanczos5".

    Input shape: (batch, rows, cols, channels). Output shape:
    (batch, rows*size[0], cols*size[1], channels) (or channels_first).
    """

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format=data_format, **kwargs)
        choices = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")
        if not isinstance(interpolation, str) or interpolation.lower() not in choices:
            raise ValueError(f"UpSampling2D: interpolation={interpolation!r}; expected one of {choices}")
        self.interpolation = interpolation.lower()

    def forward(self, x, training=False):
        if self.interpolation == "nearest":
            return super().forward(x, training=training)
        axes = _spatial_axes(self.rank, self.data_format)
        sizes = [x.shape[axis] * s for axis, s in zip(axes, self.size)]
        mats = _image.resize_mats(x, axes, sizes, self.interpolation)
        y = _image.resample_axes.impl(x, mats=mats)

        def backward(dy):
            return _image.resample_axes.vjp(dy, y, x, mats=mats)[0]
        return y, backward

    def get_config(self):
        config = super().get_config()
        config.update({"size": list(self.size), "data_format": self.data_format,
                       "interpolation": self.interpolation})
        return config


class _ZeroPadding(Layer):
    rank = None

    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.padding = _pairs(padding, self.rank, "padding", type(self).__name__)
        self.data_format = W.normalize_data_format(data_format, type(self).__name__)

    def build(self, input_shape):
        W.check_rank(f"{type(self).__name__} {self.name!r}", input_shape, self.rank + 2)
        self.built = True

    def forward(self, x, training=False):
        axes = _spatial_axes(self.rank, self.data_format)

        def backward(dy):
            return _crop_axes(dy, axes, self.padding)
        return _pad_axes(self, x, axes, self.padding), backward

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, (a, b) in zip(_spatial_axes(self.rank, self.data_format), self.padding):
            shape[axis] = None if shape[axis] is None else shape[axis] + a + b
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": [list(p) for p in self.padding] if self.rank > 1
                       else list(self.padding[0]), "data_format": self.data_format})
        return config


class ZeroPadding1D(_ZeroPadding):
    """Zero-pads the steps of a sequence.

    Args:
        padding: int (the same at both ends) or (left, right); default 1.
        data_format: "channels_last" (default, (batch, steps, features)) or "channels_first".
    """

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(padding, data_format=data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Zero-pads the rows and columns of images.

    Args:
        padding: int (all four sides), (rows, cols) (symmetric per axis) or
            ((top, bottom), (left, right)); default (1, 1).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: (batch, rows, cols, channels). Output shape:
    (batch, top + rows + bottom, left + cols + right, channels) (or channels_first).
    """

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format=data_format, **kwargs)


class _Cropping(Layer):
    rank = None

    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.cropping = _pairs(cropping, self.rank, "cropping", type(self).__name__)
        self.data_format = W.normalize_data_format(data_format, type(self).__name__)

    def build(self, input_shape):
        W.check_rank(f"{type(self).__name__} {self.name!r}", input_shape, self.rank + 2)
        self.compute_output_shape(input_shape)
        self.built = True

    def forward(self, x, training=False):
        axes = _spatial_axes(self.rank, self.data_format)

        def backward(dy):
            return _pad_axes(self, dy, axes, self.cropping)
        return _crop_axes(x, axes, self.cropping), backward

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, (a, b) in zip(_spatial_axes(self.rank, self.data_format), self.cropping):
            if shape[axis] is None:
                continue
            if a + b >= shape[axis]:
                raise ValueError(f"{type(self).__name__} {self.name!r}: cropping={self.cropping} "
                                 f"removes all of axis {axis} (length {shape[axis]}) of input "
                                 f"shape {tuple(input_shape)}")
            shape[axis] -= a + b
        return tuple(shape)


class Cropping1D(_Cropping):
    """Crops steps from both ends of a sequence: (batch, steps, features).

    Args:
        cropping: int (the same at both ends) or (start, end); default (1, 1).
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["cropping"] = list(self.cropping[0])
        return config


class Cropping2D(_Cropping):
    """Crops rows and columns from the edges of images.

    Args:
        cropping: int (all four sides), (rows, cols) (symmetric per axis) or
            ((top, bottom), (left, right)); default ((0, 0), (0, 0)).
        data_format: "channels_last" (default) or "channels_first".

    Input shape: (batch, rows, cols, channels). Output shape:
    (batch, rows - top - bottom, cols - left - right, channels) (or channels_first).
    """

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format=data_format, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"cropping": [list(p) for p in self.cropping],
                       "data_format": self.data_format})
        return config
