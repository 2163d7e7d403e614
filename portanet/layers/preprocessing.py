"""Preprocessing layers: Normalization (standardize features with statistics from ``adapt``).

The lecture's rule: standardize the inputs, and standardize new values the same way. A
``Normalization`` layer at the front of the model does both: ``adapt(x_train)`` measures
each feature's mean and variance once, the statistics are non-trainable weights (saved
with the model), and every later ``fit``, ``evaluate`` and ``predict`` applies them.
"""

from ..validation import check_positive_int
from .base import Layer
from .. import backend as _backend

__all__ = ["Normalization"]

# keras.backend.epsilon(): the floor of the standard deviation, so constant features map to 0.
EPSILON = 1e-7


class Normalization(Layer):
    """Shifts and scales inputs to zero mean and unit variance: ``(x - mean) / sqrt(var)``.

    The mean and variance are either given (``mean=``, ``variance=``) or measured from data
    by ``adapt(data)``. As in Keras, given statistics are constants kept in the config (the
    layer has no weights), while a layer to adapt has three non-trainable weights, ``mean``,
    ``variance`` and ``count`` (int32; Keras keeps it at 0, for older files only), so
    ``model.save`` keeps the adapted statistics and ``predict`` on new values standardizes
    them the same way. Once built, ``layer.mean`` and ``layer.variance`` are the statistics
    in the input's broadcast shape (Keras's attributes); the adapted weights are
    ``layer.adapt_mean`` and ``layer.adapt_variance``.

    Args:
        axis: the axis (or tuple of axes) that keeps separate statistics; -1 (default) gives
            one mean and variance per feature of the last axis. Every other axis is reduced.
            ``None`` gives one scalar mean and variance for all values.
        mean: the mean to use instead of ``adapt`` (a float, or an array broadcastable to the
            kept axes); must come with ``variance``.
        variance: the variance to use instead of ``adapt``.
        invert: apply the inverse, ``x * sqrt(var) + mean`` (to undo a standardization,
            e.g. of regression targets).

    Input shape: (batch, ..., features); any rank of at least 1, same dtype floats (integer
    inputs are cast to the layer's float dtype). Output shape: same as the input.

    The output is ``(x - mean) / max(sqrt(variance), 1e-7)``, as Keras.

    Example:
        >>> norm = pn.layers.Normalization()
        >>> norm.adapt(x_train)           # per-column mean and (biased) variance
        >>> model = pn.Sequential([pn.Input((13,)), norm, pn.layers.Dense(1)])
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axes = ()
        elif isinstance(axis, int) and not isinstance(axis, bool):
            axes = (axis,)
        elif isinstance(axis, (list, tuple)) and all(isinstance(a, int) and not isinstance(a, bool)
                                                     for a in axis):
            axes = tuple(axis)
        else:
            raise TypeError(f"Normalization: axis={axis!r}; expected an int, a tuple of ints or None")
        if len(set(axes)) != len(axes):
            raise ValueError(f"Normalization: axis={axis!r} names an axis twice")
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: give both mean and variance, or neither (and call "
                             f"adapt); got mean={mean!r}, variance={variance!r}")
        self.axis = axis if axis is None or isinstance(axis, int) else tuple(axis)
        self._axes = axes
        self.input_mean = _to_plain(mean)
        self.input_variance = _to_plain(variance)
        if mean is not None:
            # Keras 3's checks, made before any input is seen.
            m_shape, v_shape = _nested_shape(self.input_mean), _nested_shape(self.input_variance)
            if m_shape != v_shape:
                raise ValueError(f"Normalization: mean and variance must have the same shape; got "
                                 f"mean of shape {m_shape} and variance of shape {v_shape}")
            if len(m_shape) > len(axes):
                raise ValueError(f"Normalization: mean of shape {m_shape} has rank {len(m_shape)}; "
                                 f"expected at most the number of kept axes ({len(axes)}, "
                                 f"axis={axis!r})")
        self.adapt_mean = self.adapt_variance = self.count = None
        self._given = None
        if self.input_variance is not None and _any_negative(self.input_variance):
            raise ValueError(f"Normalization: variance={variance!r}; expected non-negative values")
        self.invert = bool(invert)
        self.supports_masking = True

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        ndim = len(input_shape)
        keep = []
        for a in self._axes:
            if not -ndim <= a < ndim:
                raise ValueError(f"Normalization {self.name!r}: axis={self.axis!r} is out of range "
                                 f"for inputs of rank {ndim} (shape {tuple(input_shape)})")
            keep.append(a % ndim)
        if 0 in keep:
            raise ValueError(f"Normalization {self.name!r}: axis={self.axis!r} includes the batch "
                             "axis 0; statistics are computed across the batch")
        for a in keep:
            if input_shape[a] is None:
                raise ValueError(f"Normalization {self.name!r}: axis {a} of the input shape "
                                 f"{tuple(input_shape)} must be known to hold statistics")
        self._keep = tuple(sorted(keep))
        self._ndim = ndim
        self._stat_shape = tuple(int(input_shape[a]) for a in self._keep)
        self._broadcast_shape = tuple(int(input_shape[d]) if d in self._keep else 1 for d in range(ndim))
        self._reduce_axes = tuple(d for d in range(ndim) if d not in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", self._stat_shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", self._stat_shape, "ones",
                                                  trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False, dtype="int32")
        else:
            if self.backend is None:
                self.backend = _backend.current()
            self._given = (self._broadcast_stat(self.input_mean, "mean"),
                           self._broadcast_stat(self.input_variance, "variance"))
        self.built = True

    def _statistics(self):
        """(mean, variance) in the statistics' shape: the constants or the adapted weights."""
        if self._given is not None:
            return self._given
        return self.adapt_mean.value, self.adapt_variance.value

    @property
    def mean(self):
        """The mean in the input's broadcast shape (Keras's ``layer.mean``); None until built."""
        return None if not self.built else self.xp.reshape(self._statistics()[0], self._broadcast_shape)

    @property
    def variance(self):
        """The variance in the input's broadcast shape; None until built."""
        return None if not self.built else self.xp.reshape(self._statistics()[1], self._broadcast_shape)

    def _broadcast_stat(self, value, name):
        xp = self.xp
        arr = self.backend.asarray(value, dtype=self.dtype)
        try:
            if arr.ndim > len(self._stat_shape):
                # Keras accepts statistics in the input's broadcast shape, e.g. (1, features).
                arr = xp.reshape(arr, self._stat_shape)
            return xp.broadcast_to(arr, self._stat_shape)
        except (ValueError, TypeError, RuntimeError):
            raise ValueError(f"Normalization {self.name!r}: {name} of shape {tuple(arr.shape)} does "
                             f"not broadcast to the statistics' shape {self._stat_shape} "
                             f"(axis={self.axis!r})") from None

    # ------------------------------------------------------------------ adapt
    def adapt(self, data, batch_size=None, steps=None):
        """Measure the mean and (biased) variance of ``data`` and store them.

        The statistics are computed on the device, batch by batch, and merged with Keras's
        formula (w = n_batch / n_total): mean' = mean(1-w) + mean_b w;
        var' = (var + (mean - mean')^2)(1-w) + (var_b + (mean_b - mean')^2) w.

        Args:
            data: a host NumPy array, an array of the active backend, a nested list, or an
                iterable of such batches (e.g. a generator).
            batch_size: rows per batch when ``data`` is an array; None reads it in one batch.
            steps: the most batches to read (None: all of them).
        """
        check_positive_int(batch_size, "batch_size", "Normalization.adapt", allow_none=True)
        check_positive_int(steps, "steps", "Normalization.adapt", allow_none=True)
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name!r}: adapt() measures the statistics of a layer "
                             "built without them; this one was given mean= and variance=")
        if self.backend is None:
            self.backend = _backend.current()
        xp = self.xp
        count = 0
        mean = var = None
        for i, batch in enumerate(self._batches(data, batch_size)):
            if steps is not None and i >= steps:
                break
            if batch.ndim == 0 or batch.shape[0] == 0:
                continue
            if not self.built:
                self._maybe_build((None,) + tuple(batch.shape[1:]))
            self._check_shape(batch)
            n_b = 1
            for d in self._reduce_axes:
                n_b *= int(batch.shape[d])
            b_mean = xp.reshape(xp.mean(batch, axis=self._reduce_axes), self._stat_shape)
            centered = batch - xp.reshape(b_mean, self._broadcast_shape)
            b_var = xp.reshape(xp.mean(centered * centered, axis=self._reduce_axes), self._stat_shape)
            if mean is None:
                mean, var, count = b_mean, b_var, n_b
                continue
            total = count + n_b
            w = n_b / total
            new_mean = mean * (1.0 - w) + b_mean * w
            var = ((var + (mean - new_mean) ** 2) * (1.0 - w)
                   + (b_var + (b_mean - new_mean) ** 2) * w)
            mean, count = new_mean, total
        if mean is None:
            raise ValueError("Normalization.adapt: data holds no samples; expected at least one row")
        self.adapt_mean.assign(mean)
        self.adapt_variance.assign(var)

    def _batches(self, data, batch_size):
        backend = self.backend
        if hasattr(data, "shape") or isinstance(data, (list, tuple)):
            arr = data if hasattr(data, "shape") else backend.asarray(data)
            n = int(arr.shape[0]) if len(arr.shape) else 0
            size = n if batch_size is None else batch_size
            for start in range(0, max(n, 1), max(size, 1)):
                yield self._to_float(arr[start:start + size, ...] if len(arr.shape) else arr)
            return
        try:
            iterator = iter(data)
        except TypeError:
            raise TypeError(f"Normalization.adapt: data of type {type(data).__name__} is not an array "
                            "or an iterable of batches") from None
        for batch in iterator:
            if isinstance(batch, tuple):
                batch = batch[0]  # (x, y) batches: statistics of the inputs
            yield self._to_float(batch)

    def _to_float(self, batch):
        # As Keras's adapt (np.mean / np.var of the array itself): float64 and integer data
        # give float64 statistics, rounded to the layer's dtype only when stored.
        arr = self.backend.asarray(batch)
        xp = self.xp
        wide = arr.dtype == self.backend.dtype("float64") or xp.isdtype(arr.dtype, "integral") \
            or arr.dtype == xp.bool
        target = self.backend.dtype("float64" if wide else self.dtype)
        if arr.dtype != target:
            arr = xp.astype(arr, target)
        return arr

    def _check_shape(self, x):
        if x.ndim != self._ndim or any(x.shape[a] != self._broadcast_shape[a] for a in self._keep):
            expected = tuple("?" if d not in self._keep else s
                             for d, s in enumerate(self._broadcast_shape))
            raise ValueError(f"Normalization {self.name!r}: data of shape {tuple(x.shape)} does not "
                             f"match the shape the layer was built for, {expected} ('?' is any size)")

    # ------------------------------------------------------------------ forward
    def forward(self, x, training=False):
        xp = self.xp
        if not xp.isdtype(x.dtype, "real floating"):
            x = xp.astype(x, self.backend.dtype(self.dtype))
        mean, variance = self._statistics()
        if mean.dtype != x.dtype:   # given statistics under a mixed policy: the compute dtype
            mean, variance = xp.astype(mean, x.dtype), xp.astype(variance, x.dtype)
        mean = xp.reshape(mean, self._broadcast_shape)
        std = xp.sqrt(xp.reshape(variance, self._broadcast_shape))
        std = xp.maximum(std, xp.asarray(EPSILON, dtype=std.dtype))
        if self.invert:
            y = x * std + mean

            def backward(dy):
                return dy * std
        else:
            y = (x - mean) / std

            def backward(dy):
                return dy / std
        return y, backward

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        axis = self.axis
        # Keras keeps the axis as a tuple and so writes a list ([-1] for the default -1).
        axis = list(axis) if isinstance(axis, (tuple, list)) else [axis] if isinstance(axis, int) else axis
        config.update({"axis": axis,
                       "mean": self.input_mean, "variance": self.input_variance,
                       "invert": self.invert})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("axis"), list):
            config["axis"] = tuple(config["axis"])
        return cls(**config)


def _to_plain(value):
    """Statistics given as arrays become nested lists (JSON-safe for the config)."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__array_namespace__") or hasattr(value, "__dlpack__"):
        return _backend.current().to_numpy(value).tolist()
    return value


def _nested_shape(value):
    """The shape of a number or a nested list of numbers (as NumPy would give it)."""
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _any_negative(value):
    if isinstance(value, (int, float)):
        return value < 0
    if isinstance(value, (list, tuple)):
        return any(_any_negative(v) for v in value)
    return False
