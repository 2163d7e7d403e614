"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D and the global poolings (Keras 3).

Windows are the strided slices of ``_windows`` (one per pool offset), reduced with
``maximum`` or summed. 'same' padding follows Keras: the conv rule with dilation 1, the extra
pad at the end; max pooling ignores the padding (it pads with -inf) and average pooling
divides by the number of real elements in each window (as Keras on NumPy/JAX/TF).
Max pooling routes the gradient to the first maximum of each window (row-major order),
so ties (e.g. windows of zeros after a relu) send it to exactly one input. For
non-overlapping windows (strides == pool_size) a backend may route it in one pass
("pool_first_max" of ``backend.fused``; NumPy does); the portable path is per offset.
Non-overlapping 2-D max pooling may run whole on the backend ("max_pool2d": NumPy with
numba, one compiled pass forward and one backward, the same values and gradients).
"""

__all__ = ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
           "GlobalAveragePooling2D", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
           "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalAvgPool1D", "GlobalAvgPool2D"]

from . import _windows as W
from .base import Layer
from .input_spec import InputSpec


def _prod(values):
    n = 1
    for v in values:
        n *= v
    return n


class _Pooling(Layer):
    """Shared body of the max and average poolings."""

    rank = None
    _mode = None

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        owner = type(self).__name__
        self.pool_size = W.normalize_tuple(pool_size, self.rank, "pool_size", owner)
        self.strides = (self.pool_size if strides is None
                        else W.normalize_tuple(strides, self.rank, "strides", owner))
        self.padding = W.normalize_padding(padding, owner)
        self.data_format = W.normalize_data_format(data_format, owner)

    def build(self, input_shape):
        W.check_rank(f"{type(self).__name__} {self.name!r}", input_shape, self.rank + 2)
        spatial = W.spatial_shape(self.compute_output_shape(input_shape), self.data_format)
        if any(n is not None and n <= 0 for n in spatial):
            raise ValueError(f"{type(self).__name__} {self.name!r}: input shape {tuple(input_shape)} "
                             f"is smaller than pool_size={self.pool_size} with padding 'valid'")
        self.built = True

    def compute_output_shape(self, input_shape):
        spatial = tuple(W.output_length(n, p, self.padding, s) for n, p, s in
                        zip(W.spatial_shape(input_shape, self.data_format), self.pool_size,
                            self.strides))
        return W.assemble_shape(input_shape[0], spatial,
                                W.channels_of(input_shape, self.data_format), self.data_format)

    def forward(self, x, training=False):
        xp = self.xp
        backend = self.backend
        channels_first = self.data_format == "channels_first"
        if channels_first:
            x = W.to_channels_last(xp, x)
        spatial = tuple(x.shape[1:-1])
        pads = [W.padding_amounts(n, p, self.padding, s)
                for n, p, s in zip(spatial, self.pool_size, self.strides)]
        out = tuple(W.output_length(n, p, self.padding, s)
                    for n, p, s in zip(spatial, self.pool_size, self.strides))
        ones = (1,) * self.rank
        is_max = self._mode == "max"
        xpad = W.pad(backend, x, pads, value=-float("inf") if is_max else 0.0)
        padded_shape = tuple(xpad.shape)
        tile = (slice(None),) + tuple(slice(0, o * p) for o, p in zip(out, self.pool_size)) \
            + (slice(None),)
        pooled = self._fused_max(xpad, tile, training) if is_max else None
        if pooled is not None:
            # Non-overlapping 2-D windows: the backend's compiled forward and backward
            # (NumPy with numba: backend/pool_numba.py), same values and gradients.
            y, tile_backward = pooled

            def fused_backward(dy):
                if channels_first:
                    dy = W.to_channels_last(xp, dy)
                dtile = tile_backward(dy)
                if tuple(dtile.shape) == padded_shape:
                    dx = dtile
                else:
                    dx = xp.zeros(padded_shape, dtype=dy.dtype, device=backend.device)
                    dx[tile] = dtile
                dx = W.crop(dx, pads)
                return W.to_channels_first(xp, dx) if channels_first else dx
            return (W.to_channels_first(xp, y) if channels_first else y), fused_backward
        slices = W.window_slices(xpad, self.pool_size, self.strides, ones, out)
        y = slices[0]
        for s in slices[1:]:
            y = xp.maximum(y, s) if is_max else y + s
        if not is_max:
            count = self._window_counts(spatial, pads, out, x.dtype)
            y = y / count

        def backward(dy):
            if channels_first:
                dy = W.to_channels_last(xp, dy)
            fast = (backend.fused("pool_first_max")
                    if is_max and W._use_fast and self.strides == self.pool_size else None)
            if fast is not None:
                # Non-overlapping windows: the backend routes dy to each window's first max
                # over the tiled part of the input in one pass.
                dtile = fast(xpad[tile], y, dy, self.pool_size)
                if tuple(dtile.shape) == padded_shape:
                    dx = dtile
                else:
                    dx = xp.zeros(padded_shape, dtype=dy.dtype, device=backend.device)
                    dx[tile] = dtile
                dx = W.crop(dx, pads)
                return W.to_channels_first(xp, dx) if channels_first else dx
            if is_max:
                # Offsets in row-major order each take what is left of the window's gradient
                # where they hold the max; after the first hit nothing is left (ties: first wins).
                parts = []
                left = dy
                for k, s in enumerate(slices):
                    part = xp.astype(s == y, left.dtype) * left
                    parts.append(part)
                    if k + 1 < len(slices):
                        left = left - part
            else:
                g = dy / count
                parts = [g] * len(slices)
            if self.strides == self.pool_size:
                # Windows do not overlap: each part is written to its own positions (no
                # accumulation); when the windows tile the padded input exactly no zero fill
                # is needed either.
                exact = all(o * p == n for o, p, n in zip(out, self.pool_size, padded_shape[1:-1]))
                make = xp.empty if exact else xp.zeros
                dx = make(padded_shape, dtype=dy.dtype, device=backend.device)
                for part, offset in zip(parts, W.window_offsets(self.pool_size)):
                    dx[W.window_index(offset, self.strides, ones, out)] = part
            else:
                dx = xp.zeros(padded_shape, dtype=dy.dtype, device=backend.device)
                for part, offset in zip(parts, W.window_offsets(self.pool_size)):
                    dx = W.add_into(backend, dx, W.window_index(offset, self.strides, ones, out),
                                    part)
            dx = W.crop(dx, pads)
            return W.to_channels_first(xp, dx) if channels_first else dx

        return (W.to_channels_first(xp, y) if channels_first else y), backward

    def _fused_max(self, xpad, tile, training):
        """``(y, backward)`` of the backend's "max_pool2d" over ``xpad[tile]`` (2-D,
        strides == pool_size), or None (the portable path). ``training``: the backend may
        keep what makes the backward fast (NumPy: each window's offset of its maximum)."""
        if self.rank != 2 or self.strides != self.pool_size or not W._use_fast:
            return None
        fast = self.backend.fused("max_pool2d")
        return fast(xpad[tile], self.pool_size, training=bool(training)) if fast is not None \
            else None

    def _window_counts(self, spatial, pads, out, dtype):
        """How many real (unpadded) elements each window holds: a constant, or a
        (1, *out, 1) array when 'same' padding leaves edge windows short."""
        if all(a == 0 and b == 0 for a, b in pads):
            return float(_prod(self.pool_size))
        xp = self.xp
        ones = xp.ones((1,) + spatial + (1,), dtype=dtype, device=self.backend.device)
        padded = W.pad(self.backend, ones, pads)
        total = None
        for s in W.window_slices(padded, self.pool_size, self.strides, (1,) * self.rank, out):
            total = s if total is None else total + s
        return total

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": list(self.pool_size), "strides": list(self.strides),
                       "padding": self.padding, "data_format": self.data_format})
        return config


_POOL_DOC = """{kind} pooling over {what}.

    Args:
        pool_size: int or tuple of {rank} int(s), the window size; default {default}.
        strides: int or tuple, the step between windows; None (default) means pool_size.
        padding: "valid" (default) or "same" (output ceil(size/strides); the extra pad goes
            at the end, as Keras). {padnote}
        data_format: "channels_last" (default) or "channels_first".

    Input shape: {inshape} (or channels_first).
    Output shape: {outshape}.
    """


class MaxPooling1D(_Pooling):
    rank, _mode = 1, "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class MaxPooling2D(_Pooling):
    rank, _mode = 2, "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling1D(_Pooling):
    rank, _mode = 1, "average"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


class AveragePooling2D(_Pooling):
    rank, _mode = 2, "average"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name=name, **kwargs)


_MAX_NOTE = "The padding never wins the max. The gradient goes to the first maximum of each window."
_AVG_NOTE = "Windows are divided by their count of real (unpadded) elements."
MaxPooling1D.__doc__ = _POOL_DOC.format(kind="Max", what="the steps of a sequence", rank=1,
                                        default=2, padnote=_MAX_NOTE,
                                        inshape="(batch, steps, channels)",
                                        outshape="(batch, pooled_steps, channels)")
MaxPooling2D.__doc__ = _POOL_DOC.format(kind="Max", what="image rows and columns", rank=2,
                                        default="(2, 2)", padnote=_MAX_NOTE,
                                        inshape="(batch, rows, cols, channels)",
                                        outshape="(batch, pooled_rows, pooled_cols, channels)")
AveragePooling1D.__doc__ = _POOL_DOC.format(kind="Average", what="the steps of a sequence",
                                            rank=1, default=2, padnote=_AVG_NOTE,
                                            inshape="(batch, steps, channels)",
                                            outshape="(batch, pooled_steps, channels)")
AveragePooling2D.__doc__ = _POOL_DOC.format(kind="Average", what="image rows and columns",
                                            rank=2, default="(2, 2)", padnote=_AVG_NOTE,
                                            inshape="(batch, rows, cols, channels)",
                                            outshape="(batch, pooled_rows, pooled_cols, channels)")


# --------------------------------------------------------------------------- global
class _GlobalPooling(Layer):
    """Shared body of the global poolings: reduce every spatial axis."""

    rank = None
    _mode = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 2)
        self.data_format = W.normalize_data_format(data_format, type(self).__name__)
        if keepdims not in (True, False):
            raise ValueError(f"{type(self).__name__}: keepdims={keepdims!r}; expected True or False")
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        W.check_rank(f"{type(self).__name__} {self.name!r}", input_shape, self.rank + 2)
        self.built = True

    def compute_output_shape(self, input_shape):
        channels = W.channels_of(input_shape, self.data_format)
        if self.keepdims:
            return W.assemble_shape(input_shape[0], (1,) * self.rank, channels, self.data_format)
        return (input_shape[0], channels)

    def _flat(self, x):
        """(N, S, C) with S = all spatial positions, and the permutation that undoes it."""
        xp = self.xp
        if self.data_format == "channels_first":
            x = W.to_channels_last(xp, x)
        return xp.reshape(x, (x.shape[0], -1, x.shape[-1])), tuple(x.shape)

    def _unflat(self, d3, cl_shape):
        xp = self.xp
        dx = xp.reshape(d3, cl_shape)
        return W.to_channels_first(xp, dx) if self.data_format == "channels_first" else dx

    def _shape_output(self, y2):
        """(N, C) -> the output layout."""
        if not self.keepdims:
            return y2
        xp = self.xp
        if self.data_format == "channels_first":
            return xp.reshape(y2, tuple(y2.shape) + (1,) * self.rank)
        return xp.reshape(y2, (y2.shape[0],) + (1,) * self.rank + (y2.shape[1],))

    def _dy2(self, dy):
        return self.xp.reshape(dy, (dy.shape[0], -1)) if self.keepdims else dy

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class _GlobalMax(_GlobalPooling):
    _mode = "max"

    def forward(self, x, training=False):
        xp = self.xp
        x3, cl_shape = self._flat(x)
        m = xp.max(x3, axis=1, keepdims=True)
        # The first maximum along the positions gets the gradient (count of hits so far == 1).
        hit = x3 == m
        first = xp.logical_and(hit, xp.cumulative_sum(xp.astype(hit, xp.int32), axis=1) == 1)

        def backward(dy):
            d = self._dy2(dy)
            return self._unflat(xp.astype(first, d.dtype) * d[:, None, :], cl_shape)
        return self._shape_output(m[:, 0, :]), backward


class _GlobalAverage(_GlobalPooling):
    _mode = "average"

    def forward(self, x, training=False):
        xp = self.xp
        x3, cl_shape = self._flat(x)
        positions = x3.shape[1]

        def backward(dy):
            d = self._dy2(dy) / positions
            return self._unflat(xp.broadcast_to(d[:, None, :], tuple(x3.shape)), cl_shape)
        return self._shape_output(xp.mean(x3, axis=1)), backward


_GLOBAL_DOC = """Global {kind} pooling: {op} over every {what}.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: keep the reduced axes with length 1 (default False).{extra}

    Input shape: {inshape} (or channels_first).
    Output shape: (batch, channels), or with keepdims {keepshape}.
    """


class GlobalMaxPooling1D(_GlobalMax):
    rank = 1


class GlobalMaxPooling2D(_GlobalMax):
    rank = 2


class GlobalAveragePooling1D(_GlobalAverage):
    rank = 1
    supports_masking = True

    def forward(self, x, training=False, mask=None):
        if mask is None:
            return super().forward(x, training=training)
        # Keras: a mask (batch, steps) from Embedding/Masking averages only the kept steps.
        xp = self.xp
        x3, cl_shape = self._flat(x)
        weights = xp.astype(mask, x3.dtype)[:, :, None]
        total = xp.sum(weights, axis=1)
        y = xp.sum(x3 * weights, axis=1) / total

        def backward(dy):
            d = self._dy2(dy) / total
            return self._unflat(weights * d[:, None, :], cl_shape)
        return self._shape_output(y), backward

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalAveragePooling2D(_GlobalAverage):
    rank = 2


GlobalMaxPooling1D.__doc__ = _GLOBAL_DOC.format(
    kind="max", op="the maximum", what="step", extra="", inshape="(batch, steps, channels)",
    keepshape="(batch, 1, channels)")
GlobalMaxPooling2D.__doc__ = _GLOBAL_DOC.format(
    kind="max", op="the maximum", what="row and column", extra="",
    inshape="(batch, rows, cols, channels)", keepshape="(batch, 1, 1, channels)")
GlobalAveragePooling1D.__doc__ = _GLOBAL_DOC.format(
    kind="average", op="the mean", what="step",
    extra="\n        A mask (batch, steps) (from Embedding(mask_zero=True) or Masking) "
          "averages only the unmasked steps.",
    inshape="(batch, steps, channels)", keepshape="(batch, 1, channels)")
GlobalAveragePooling2D.__doc__ = _GLOBAL_DOC.format(
    kind="average", op="the mean", what="row and column", extra="",
    inshape="(batch, rows, cols, channels)", keepshape="(batch, 1, 1, channels)")

# Keras's aliases.
MaxPool1D, MaxPool2D = MaxPooling1D, MaxPooling2D
AvgPool1D, AvgPool2D = AveragePooling1D, AveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
