"""The Backend object: the one place that knows which array library is underneath.

Layers, losses, metrics and optimizers only ever see ``backend.xp`` (an Array API
namespace) and the services below, which the standard lacks. Each concrete backend
(numpy, array_api_strict, cupy) overrides only what it can do faster or must do
differently; the portable versions here are what the tests hold every backend to.
"""

import numpy as np
from .. import config

_FLOAT_NAMES = ("float16", "float32", "float64")


class Backend:
    """Array library + device + the services the Array API standard lacks.

    Attributes:
        name: "numpy", "array_api_strict" or "cupy".
        xp: the Array API namespace (``array_api_compat.array_namespace`` of a probe).
        device: the device arrays live on (the namespace's device object).
        to_host_calls: how many device-to-host transfers happened (tests use it to
            prove that a training step never synchronizes).
    """

    name = "abstract"

    def __init__(self, device=None):
        self.device = device
        self.to_host_calls = 0
        self._rng = np.random.default_rng()
        self.xp = self._make_namespace()

    # ------------------------------------------------------------------ setup
    def _make_namespace(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self):
        return f"<portanet backend {self.name} device={self.device!r}>"

    def reseed(self, seed):
        """Reset the training-time random stream (dropout masks, shuffles, noise)."""
        self._rng = np.random.default_rng(None if seed is None else [int(seed), 1])

    def begin_epoch(self):
        """Called by fit before each epoch's shuffle. Backends whose training stream lives on
        the device re-derive it here from the host stream, so the host stream's state (which
        BackupAndRestore saves) determines every later random number on every backend."""

    # ------------------------------------------------------------------ dtypes
    def dtype(self, name):
        """The namespace's dtype object for a dtype name ("float32", "int64", "bool"...)."""
        if not isinstance(name, str):
            return name
        try:
            return getattr(self.xp, name)
        except AttributeError:
            raise ValueError(f"dtype={name!r} is not a dtype of backend {self.name!r}") from None

    def floatx(self):
        return self.dtype(config.floatx())

    def is_float(self, x):
        return self.xp.isdtype(x.dtype, "real floating")

    # ------------------------------------------------------------------ Keras masks
    def attach_keras_mask(self, x, mask):
        """``x`` carrying Keras's ``_keras_mask`` attribute (the output mask of an eager
        layer call): ``x`` itself, or a view of it that takes attributes; None when the
        array type takes none (the layers then keep the mask in a table)."""
        try:
            x._keras_mask = mask
            return x
        except (AttributeError, TypeError):
            return None

    # ------------------------------------------------------------------ transfers
    def is_array(self, x):
        """True when x is an array of this backend's library (not a host copy)."""
        try:
            import array_api_compat
            return array_api_compat.array_namespace(x) is self.xp
        except TypeError:
            return False

    def from_numpy(self, a, dtype=None):
        """Host NumPy array (or anything np.asarray takes) -> device array."""
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(_np_dtype_name(dtype), copy=False)
        return self.xp.asarray(a, device=self.device)

    def asarray(self, x, dtype=None):
        """A backend array from a backend array, a host array or a Python scalar/list."""
        if self.is_array(x):
            if dtype is not None and x.dtype != self.dtype(dtype):
                x = self.xp.astype(x, self.dtype(dtype))
            return x
        return self.from_numpy(x, dtype)

    def to_numpy(self, x):
        """Device array -> host NumPy array (counted: this is a synchronization)."""
        self.to_host_calls += 1
        if isinstance(x, np.ndarray):
            return x
        return np.asarray(x)

    def to_float(self, x):
        """A scalar device array as a Python float (a synchronization)."""
        return float(self.to_numpy(x))

    def synchronize(self):
        """Wait until queued device work is done (no-op on synchronous CPU backends)."""

    def activate(self):
        """Make this backend's device the current one (CuPy: its GPU); no-op on the CPU."""

    # ------------------------------------------------------------------ random
    def random_normal(self, shape, mean=0.0, stddev=1.0, dtype=None):
        a = self._rng.normal(mean, stddev, size=tuple(shape))
        return self.from_numpy(a, dtype or self.floatx())

    def random_uniform(self, shape, minval=0.0, maxval=1.0, dtype=None):
        a = self._rng.uniform(minval, maxval, size=tuple(shape))
        return self.from_numpy(a, dtype or self.floatx())

    def dropout_mask(self, shape, rate, dtype=None):
        """Float mask with entries 0 (dropped, probability ``rate``) or 1/(1-rate)."""
        keep = self._rng.random(size=tuple(shape)) >= rate
        scale = 0.0 if rate >= 1.0 else 1.0 / (1.0 - rate)
        return self.from_numpy(keep * scale, dtype or self.floatx())

    def permutation(self, n):
        """A random permutation of range(n) as a device int64 array."""
        return self.from_numpy(self._rng.permutation(int(n)).astype(np.int64))

    # ------------------------------------------------------------------ services
    def scatter_add(self, target, indices, values):
        """target[indices[k]] += values[k] along axis 0, duplicates accumulating.

        The portable path builds a one-hot matrix and multiplies (O(n·rows) memory,
        fine for the table sizes of Embedding); backends override it with a true scatter.
        """
        xp = self.xp
        rows = target.shape[0]
        flat_idx = xp.reshape(indices, (-1,))
        vals = xp.reshape(values, (flat_idx.shape[0], -1))
        onehot = xp.astype(flat_idx[:, None] == xp.arange(rows, device=self.device)[None, :], vals.dtype)
        update = xp.matrix_transpose(onehot) @ vals
        return target + xp.reshape(update, target.shape)

    # From this many rows on, sum_rows is a ones-vector GEMM (None: never). Backends set it
    # where a tall reduction to few outputs is slower than BLAS reading the rows.
    sum_rows_gemm_min = None

    def sum_rows(self, a):
        """Sum of a 2-D array over its rows (axis 0): bias gradients."""
        if self.sum_rows_gemm_min is None or a.ndim != 2 or a.shape[0] < self.sum_rows_gemm_min:
            return self.xp.sum(a, axis=0)
        # The ones vector is kept per (rows, dtype): no allocation per training step.
        cache = self.__dict__.setdefault("_ones_rows", {})
        key = (a.shape[0], a.dtype)
        ones = cache.get(key)
        if ones is None:
            if len(cache) >= 8:
                cache.clear()
            ones = cache[key] = self._ones_row(a.shape[0], a.dtype)
        return self.xp.reshape(ones @ a, (a.shape[1],))

    def _ones_row(self, n, dtype):
        """A (1, n) array of ones on this backend's device."""
        return self.xp.ones((1, n), dtype=dtype, device=self.device)

    def take_rows(self, x, indices):
        """x[indices] along axis 0 (mini-batch gathering)."""
        return self.xp.take(x, indices, axis=0)

    # ------------------------------------------------------------------ fast paths
    def fused(self, name):
        """An optional fast kernel by name, or None (callers then use the portable path).

        Names: "adam" (``fn(weights, gradients, momentums, velocities, beta_1, beta_2,
        epsilon, alpha, cache)`` on lists of arrays, one entry per weight, and floats,
        ``alpha`` the step's bias-corrected rate; returns ``(new_weights, momentums,
        velocities)`` or None when it cannot take those arrays; ``cache`` is a dict the
        caller owns and passes back every step, for the kernel's buffers), "bias_activation" (``fn(z, bias, activation)``
        -> ``(y, backward)`` or None), "softmax_cross_entropy" (``fn(p, y, sparse, scale,
        sample_weight) -> dL/dz``), "sparse_ce_value" (``fn(p, labels)`` -> Keras's sparse
        cross-entropy of probabilities, batch mean, or None), "conv_windows" (``fn(x, kernel,
        strides, dilation, out)`` -> im2col ``(N, *out, K, C)`` of a channels_last array) and
        "slice_add" (``fn(dst, index, value)``: ``dst[index] += value`` in place, returns
        dst), the two of ``layers/_windows.py``. Each is kept only where bench/
        shows a gain, and
        tests compare it with the portable path. ``PORTANET_FUSED=none`` (or a comma list
        of the names to keep) and the ``fused_disabled()`` context turn them off.
        """
        table = self._fused_cache
        if table is None:
            table = self._fused_cache = self._select_fused()
        return table.get(name)

    def fused_paths(self):
        """The fast paths this backend provides: ``{name: callable}`` (before selection)."""
        return {"softmax_cross_entropy": softmax_cross_entropy_grad}

    _fused_cache = None
    _fused_override = None

    def _select_fused(self):
        import os
        table = dict(self.fused_paths())
        choice = self._fused_override
        if choice is None:
            choice = os.environ.get("PORTANET_FUSED", "all").strip().lower() or "all"
        if choice in ("none", "off", "0", "false"):
            return {}
        if choice not in ("all", "on", "1", "true"):
            keep = {c.strip() for c in choice.split(",")}
            table = {k: v for k, v in table.items() if k in keep}
        return table

    def set_fused(self, choice):
        """Select fast paths: "all", "none" or an iterable of names (None: $PORTANET_FUSED)."""
        if choice is not None and not isinstance(choice, str):
            choice = ",".join(choice)
        self._fused_override = choice
        self._fused_cache = None

    def fused_disabled(self):
        """Context manager running the portable path of everything (tests compare the two)."""
        import contextlib

        @contextlib.contextmanager
        def scope():
            previous = self._fused_override
            self.set_fused("none")
            try:
                yield self
            finally:
                self.set_fused(previous)
        return scope()

    # ------------------------------------------------------------------ random state
    def get_rng_state(self):
        """The training-time random stream's state (a JSON-serializable dict), e.g. for
        BackupAndRestore. Backends that draw on the device re-derive their stream from this
        host stream each epoch (``begin_epoch``), so it determines every later draw."""
        return self._rng.bit_generator.state

    def set_rng_state(self, state):
        """Restore a state returned by ``get_rng_state``."""
        self._rng.bit_generator.state = state


def softmax_cross_entropy_grad(p, y, sparse, scale, sample_weight=None):
    """dL/dz of cross-entropy on p = softmax(z), fused: ``(p·Σy - y)·scale`` (sparse labels:
    ``(p - onehot)·scale``), optionally times per-sample weights.

    This is the gradient of -Σ y·log softmax(z); it differs from differentiating Keras's
    clipped-probability form only where a probability is within 1e-7 of 0 or 1 (there the
    clip's gradient is 0), which is also what Keras on TensorFlow computes.
    """
    import array_api_compat
    xp = array_api_compat.array_namespace(p)
    if sparse:
        labels = y if xp.isdtype(y.dtype, "integral") else xp.astype(y, xp.int64)
        classes = xp.arange(p.shape[-1], dtype=labels.dtype, device=getattr(p, "device", None))
        dz = p - xp.astype(xp.expand_dims(labels, axis=-1) == classes, p.dtype)
    else:
        dz = p * xp.sum(y, axis=-1, keepdims=True) - y
    if sample_weight is not None:
        w = xp.astype(sample_weight, p.dtype)
        dz = dz * xp.reshape(w, (w.shape[0], 1))
    return dz * scale


def _np_dtype_name(dtype):
    if isinstance(dtype, str):
        return dtype
    # Namespace dtype objects (array_api_strict's among them) print as e.g. "float32".
    text = str(dtype)
    for part in ("float64", "float32", "float16", "int64", "int32", "int16", "int8",
                 "uint8", "bool"):
        if part in text:
            return part
    return np.dtype(dtype).name
