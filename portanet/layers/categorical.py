"""Categorical preprocessing layers: CategoryEncoding, Discretization, Hashing, HashedCrossing.

Keras 3.15.1's names, arguments, defaults, output dtypes and configs
(keras/src/layers/preprocessing/). These layers have no weights and no gradient: their
``backward`` returns None (nothing flows back into integer or string inputs), so they sit
at the front of a model or run outside it (``x = layer(data)``).

``CategoryEncoding`` and ``Discretization`` compute on the device with the Array API.
``Hashing`` and ``HashedCrossing`` hash on the host (``portanet/backend/host_text.py``:
TensorFlow's FarmHash64 ``Fingerprint64``, SipHash-2-4 for a salt, ``FingerprintCat64``
for crosses, the functions Keras runs through TensorFlow on every backend) and hand the
int64 bins to the device. ``sparse=True`` is refused: portanet has no sparse tensors
(Keras itself allows it only on the TensorFlow backend).
"""

from .. import backend as _backend
from ..backend import host_text as _host
from ..validation import check_one_of, check_positive_int
from .base import Layer
from . import symbolic

__all__ = ["CategoryEncoding", "Discretization", "Hashing", "HashedCrossing"]


def _refuse_sparse(owner, sparse):
    if sparse:
        raise ValueError(f"{owner}: sparse={sparse!r}; portanet has no sparse tensors (Keras "
                         "supports them only on the TensorFlow backend); expected False")


def encode_categorical(backend, indices, output_mode, depth, dtype, count_weights=None):
    """Keras's ``numerical_utils.encode_categorical_inputs`` on device int arrays.

    "int": a cast; "one_hot": a trailing axis of size 1 is replaced by ``depth`` (else one is
    added); "multi_hot"/"count": one-hot summed (or maxed) over axis 1 (axis 0 for rank 1),
    as Keras. Indices outside [0, depth) encode to zeros (the mask of the lookup layers)."""
    xp = backend.xp
    dt = backend.dtype(dtype)
    if output_mode == "int":
        return xp.astype(indices, dt)
    if indices.ndim == 0:
        indices = xp.reshape(indices, (1,))
    classes = xp.arange(depth, dtype=indices.dtype, device=backend.device)
    if output_mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = xp.reshape(indices, tuple(indices.shape[:-1]))
        return xp.astype(indices[..., None] == classes, dt)
    hot = indices[..., None] == classes
    axis = 1 if indices.ndim > 1 else 0
    if output_mode == "multi_hot":
        return xp.astype(xp.any(hot, axis=axis), dt)
    counts = xp.astype(hot, dt)
    if count_weights is not None:
        counts = counts * count_weights[..., None]
    return xp.sum(counts, axis=axis)


class HostPreprocessingLayer(Layer):
    """Base of the preprocessing layers that take host data (strings, Python lists).

    Called on data (``layer(x)``), the input stays on the host when it holds strings; the
    layer's ``forward`` does the host work and returns a device array. Called on symbolic
    tensors it records a node like any layer (``output_dtype`` is its output's dtype). It
    has no gradient: ``backward`` returns None.
    """

    output_dtype = None
    _accepts_strings = True     # fit/predict leave string inputs on the host for it

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        if symbolic.is_symbolic(inputs) or (isinstance(inputs, (list, tuple)) and inputs
                                            and symbolic.is_symbolic(inputs[0])):
            if self._requires_strings() and not isinstance(inputs, (list, tuple)) \
                    and str(inputs.dtype) != "string":
                raise TypeError(f"{type(self).__name__} {self.name!r}: input of dtype "
                                f"{inputs.dtype!r}; expected strings (an Input with "
                                "dtype='string')")
            return super().__call__(inputs, training=training, mask=mask, **kwargs)
        if kwargs:
            raise TypeError(f"{self.name}: unexpected keyword argument(s) {sorted(kwargs)}")
        if self.backend is None:
            self.backend = _backend.current()
        if not self.built:
            self._maybe_build(self._data_shape(inputs))
        y, _ = self.forward(inputs, training=training)
        return y

    def _requires_strings(self):
        """True for layers that read only strings (StringLookup, TextVectorization)."""
        return False

    def _data_shape(self, inputs):
        if hasattr(inputs, "shape"):
            return tuple(inputs.shape)
        if _host.is_text_data(inputs):
            return tuple(_host.as_text_array(inputs).shape)
        return tuple(_host.host_array(inputs).shape)

    def _host(self, inputs):
        """The input as a host NumPy array (device arrays are copied back)."""
        backend = self.backend or _backend.current()
        if _host.is_text_data(inputs) and not _host.is_ndarray(inputs):
            return _host.as_text_array(inputs)
        return _host.to_host(backend, inputs)

    def _device_ints(self, inputs):
        backend = self.backend
        if backend.is_array(inputs):
            return inputs
        host = _host.host_array(inputs)
        if host.dtype.kind not in "iub":
            if host.dtype.kind == "f":
                return backend.from_numpy(host)
            raise TypeError(f"{type(self).__name__} {self.name!r}: inputs of dtype {host.dtype}; "
                            "expected integer (or float) data")
        return backend.from_numpy(host.astype("int64"))

    @staticmethod
    def _no_grad(dy):
        return None

    def compute_mask(self, inputs, mask=None):
        return None


# ----------------------------------------------------------------------------- CategoryEncoding
class CategoryEncoding(HostPreprocessingLayer):
    """Encodes integer features as one-hot, multi-hot or count vectors (Keras's
    ``CategoryEncoding``).

    Args:
        num_tokens: the number of tokens; inputs must be in ``[0, num_tokens)``.
        output_mode: "multi_hot" (default; "binary" is accepted as Keras), "one_hot" or
            "count".
        sparse: must be False (no sparse tensors in portanet).

    Call with ``count_weights=`` (same shape as the inputs) in "count" mode to sum weights
    instead of counting. Output: floats of the layer's dtype; shape ``(..., num_tokens)``
    (one_hot: a last axis of size 1 is replaced, else one is added).
    """

    _accepts_strings = False

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        check_one_of(output_mode, "output_mode", "CategoryEncoding",
                     ("count", "one_hot", "multi_hot"))
        if num_tokens is None:
            raise ValueError("CategoryEncoding: num_tokens=None; num_tokens must be set to use "
                             "this layer (if the number of tokens is not known beforehand, use "
                             "IntegerLookup)")
        num_tokens = check_positive_int(num_tokens, "num_tokens", "CategoryEncoding")
        _refuse_sparse("CategoryEncoding", sparse)
        self.num_tokens = num_tokens
        self.output_mode = output_mode
        self.sparse = bool(sparse)

    @property
    def output_dtype(self):
        return self.dtype

    def __call__(self, inputs, training=False, mask=None, count_weights=None, **kwargs):
        if count_weights is None:
            return super().__call__(inputs, training=training, mask=mask, **kwargs)
        if self.output_mode != "count":
            raise ValueError("CategoryEncoding: count_weights is not used when output_mode is "
                             f"not 'count'; got output_mode={self.output_mode!r}")
        if self.backend is None:
            self.backend = _backend.current()
        self._maybe_build(self._data_shape(inputs))
        weights = self.backend.asarray(_host.host_array(count_weights)
                                       if not self.backend.is_array(count_weights)
                                       else count_weights, dtype=self.dtype)
        return self._encode(self._device_ints(inputs), weights)

    def _encode(self, x, count_weights=None):
        xp = self.xp
        if xp.isdtype(x.dtype, "real floating"):
            x = xp.astype(x, self.backend.dtype("int64"))
        return encode_categorical(self.backend, x, self.output_mode, self.num_tokens, self.dtype,
                                  count_weights)

    def forward(self, inputs, training=False):
        return self._encode(self._device_ints(inputs)), self._no_grad

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_tokens,)
        if self.output_mode == "one_hot":
            if input_shape[-1] != 1 or len(input_shape) == 1:
                return input_shape + (self.num_tokens,)
            return input_shape[:-1] + (self.num_tokens,)
        return input_shape[:-1] + (self.num_tokens,)

    def get_config(self):
        config = super().get_config()
        config.update({"num_tokens": self.num_tokens, "output_mode": self.output_mode})
        return config


# ----------------------------------------------------------------------------- Discretization
class Discretization(HostPreprocessingLayer):
    """Buckets continuous features by ranges (Keras's ``Discretization``).

    Args:
        bin_boundaries: sorted boundaries; value ``x`` goes to bin ``i`` with
            ``b[i-1] <= x < b[i]`` (``np.digitize``), so there are ``len + 1`` bins.
        num_bins: the number of bins to learn with ``adapt`` (give this or bin_boundaries).
        epsilon: the error tolerance of the quantile summaries (default 0.01).
        output_mode: "int" (default; int32 bin indices), "one_hot", "multi_hot", "count".
        sparse: must be False.

    ``adapt(data)`` computes the boundaries from approximate quantiles exactly as Keras 3
    (summaries of each batch merged and compressed to ``epsilon``, then ``num_bins``
    equal-weight cuts), on the host in float32.
    """

    _accepts_strings = False

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, dtype=None, name=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        _refuse_sparse("Discretization", sparse)
        check_one_of(output_mode, "output_mode", "Discretization",
                     ("int", "one_hot", "multi_hot", "count"))
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(num_bins, int)
                                     or num_bins < 0):
            raise ValueError(f"Discretization: num_bins={num_bins!r}; expected an integer >= 0")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError("Discretization: both num_bins and bin_boundaries are set "
                             f"(num_bins={num_bins!r}, bin_boundaries={bin_boundaries!r}); "
                             "expected one of them")
        if num_bins is None and bin_boundaries is None:
            raise ValueError("Discretization: expected num_bins or bin_boundaries; got neither")
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) \
                or not 0 < epsilon <= 1:
            raise ValueError(f"Discretization: epsilon={epsilon!r}; expected a float in (0, 1]")
        if bin_boundaries is not None:
            bin_boundaries = [float(b) for b in bin_boundaries]
            if any(b > a for a, b in zip(bin_boundaries[1:], bin_boundaries[:-1])):
                raise ValueError(f"Discretization: bin_boundaries={bin_boundaries!r}; expected "
                                 "them sorted in increasing order")
        self.bin_boundaries = bin_boundaries
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = bool(sparse)
        self.summary = None if bin_boundaries else _host.empty_summary()

    @property
    def output_dtype(self):
        return "int32" if self.output_mode == "int" else self.dtype

    def adapt(self, data, steps=None):
        """Learn ``num_bins`` quantile boundaries from ``data`` (an array, a list, or an
        iterable of batches such as a generator or PyDataset; ``(x, y)`` batches use x)."""
        if self.num_bins is None:
            raise ValueError("Discretization.adapt: the layer was created with bin_boundaries; "
                             "create it with num_bins to adapt it")
        check_positive_int(steps, "steps", "Discretization.adapt", allow_none=True)
        backend = self.backend or _backend.current()
        self.summary = _host.empty_summary()
        for batch in _iterate_batches(data, steps):
            host = _host.to_host(backend, batch).astype("float32")
            self.summary = _host.merge_summaries(_host.summarize(host, self.epsilon),
                                                 self.summary, self.epsilon)
        self.bin_boundaries = _host.bin_boundaries(self.summary, self.num_bins)

    def forward(self, inputs, training=False):
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization {self.name!r}: pass bin_boundaries or call "
                             "adapt(data) before calling the layer")
        backend = self.backend
        xp = self.xp
        if backend.is_array(inputs):
            x = inputs
        else:
            x = backend.from_numpy(_host.host_array(inputs))
        if not xp.isdtype(x.dtype, "real floating"):
            x = xp.astype(x, backend.dtype(self.dtype if "float" in str(self.dtype)
                                           else "float32"))
        bounds = backend.from_numpy(_host.float_array(self.bin_boundaries), dtype=x.dtype) if self.bin_boundaries else None
        if bounds is None:
            idx = xp.zeros(x.shape, dtype=backend.dtype("int32"), device=backend.device)
        else:
            idx = xp.astype(xp.sum(xp.astype(x[..., None] >= bounds, backend.dtype("int32")),
                                   axis=-1), backend.dtype("int32"))
        depth = len(self.bin_boundaries) + 1
        out = encode_categorical(backend, idx, self.output_mode, depth, self.output_dtype)
        return out, self._no_grad

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = (len(self.bin_boundaries) + 1 if self.bin_boundaries is not None
                 else self.num_bins)
        if self.output_mode == "one_hot":
            if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        if input_shape and len(input_shape) >= 2:
            return (input_shape[0],) + input_shape[2:] + (depth,)
        return (depth,)

    def get_config(self):
        return {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode,
                "sparse": self.sparse, "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("trainable", "batch_input_shape"):
            config.pop(key, None)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            bounds = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = bounds
            return layer
        return cls(**config)


def _iterate_batches(data, steps):
    """Batches of ``adapt`` data: an array or list is one batch; any other iterable (a
    generator, a PyDataset, a list of batches from an iterator) is read batch by batch,
    taking ``x`` of ``(x, y)`` tuples; ``steps`` caps the batches."""
    if isinstance(data, (list, tuple, str, bytes)) or hasattr(data, "shape") \
            or hasattr(data, "__array__"):
        yield data
        return
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and hasattr(data, "on_epoch_end"):
        iterator = (data[i] for i in range(len(data)))   # a PyDataset
    else:
        try:
            iterator = iter(data)
        except TypeError:
            raise TypeError(f"adapt: data of type {type(data).__name__} is not an array, a list "
                            "or an iterable of batches") from None
    for i, batch in enumerate(iterator):
        if steps is not None and i >= steps:
            break
        if isinstance(batch, tuple):
            batch = batch[0]
        yield batch


# ----------------------------------------------------------------------------- Hashing
class Hashing(HostPreprocessingLayer):
    """Hashes and bins categorical features, strings or integers (Keras's ``Hashing``).

    Bins equal Keras 3's (which runs TensorFlow's kernels on every backend): a value's
    string form (integers in decimal, floats truncated to int64 first) is hashed with
    FarmHash64 (``Fingerprint64``), or SipHash-2-4 keyed by ``salt``, modulo ``num_bins``.

    Args:
        num_bins: number of bins, including the mask bin when ``mask_value`` is set.
        mask_value: inputs equal to it map to 0 and the others to 1..num_bins-1.
        salt: an int (used as ``[salt, salt]``) or two ints: SipHash64 instead of FarmHash64.
        output_mode: "int" (default, int64 bins), "one_hot", "multi_hot" or "count".
        sparse: must be False.

    Input: a string, a list of strings or ints, or an array; hashing runs on the host.
    """

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else None
        super().__init__(**kwargs)
        if num_bins is None or isinstance(num_bins, bool) or not isinstance(num_bins, int) \
                or num_bins <= 0:
            raise ValueError(f"Hashing: num_bins={num_bins!r}; expected a positive integer")
        check_one_of(output_mode, "output_mode", "Hashing", ("int", "one_hot", "multi_hot", "count"))
        if output_mode == "int" and self.dtype not in ("int32", "int64"):
            raise ValueError(f"Hashing: dtype={self.dtype!r} with output_mode='int'; expected "
                             "'int32' or 'int64'")
        _refuse_sparse("Hashing", sparse)
        self.num_bins = num_bins
        self.mask_value = mask_value
        self.strong_hash = salt is not None
        self.output_mode = output_mode
        self.sparse = bool(sparse)
        self.salt = None
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2 and \
                    all(isinstance(s, int) and not isinstance(s, bool) for s in salt):
                self.salt = list(salt)
            elif isinstance(salt, int) and not isinstance(salt, bool):
                self.salt = [salt, salt]
            else:
                raise ValueError(f"Hashing: salt={salt!r}; expected an integer or a tuple of 2 "
                                 "integers")

    @property
    def output_dtype(self):
        return self.dtype

    def forward(self, inputs, training=False):
        host = self._host(inputs)
        if self.output_mode == "one_hot" and host.ndim and host.shape[-1] == 1:
            host = host.reshape(host.shape[:-1])
        bins = _host.hash_to_bins(host, self.num_bins, salt=self.salt, mask_value=self.mask_value)
        idx = self.backend.from_numpy(bins)
        out = encode_categorical(self.backend, idx, self.output_mode, self.num_bins, self.dtype)
        return out, self._no_grad

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        if len(input_shape) == 0:
            return (self.num_bins,)
        return input_shape[:-1] + (self.num_bins,)

    def get_config(self):
        config = super().get_config()
        config.update({"num_bins": self.num_bins, "salt": self.salt,
                       "mask_value": self.mask_value, "output_mode": self.output_mode,
                       "sparse": self.sparse})
        return config


# ----------------------------------------------------------------------------- HashedCrossing
class HashedCrossing(HostPreprocessingLayer):
    """Crosses features by hashing the combination (Keras's ``HashedCrossing``): the bins of
    ``tf.sparse.cross_hashed`` (FingerprintCat64 over the features, key 0xDECAFCAFFE).

    Args:
        num_bins: number of hash bins.
        output_mode: "int" (default, int64) or "one_hot".
        sparse: must be False.

    Call on a list of at least two features, each of shape ``()``, ``(batch,)`` or
    ``(batch, 1)``, strings or integers.
    """

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None,
                 **kwargs):
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        super().__init__(name=name, dtype=dtype, **kwargs)
        check_positive_int(num_bins, "num_bins", "HashedCrossing")
        check_one_of(output_mode, "output_mode", "HashedCrossing", ("int", "one_hot"))
        _refuse_sparse("HashedCrossing", sparse)
        self.num_bins = num_bins
        self.output_mode = output_mode
        self.sparse = bool(sparse)

    @property
    def output_dtype(self):
        return self.dtype

    def _data_shape(self, inputs):
        self._check_inputs(inputs)
        return [super(HashedCrossing, self)._data_shape(x) for x in inputs]

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("HashedCrossing should be called on a list or tuple of inputs; got "
                             f"{type(inputs).__name__}")
        if len(inputs) < 2:
            raise ValueError(f"HashedCrossing should be called on at least two inputs; got "
                             f"{len(inputs)}")

    def forward(self, inputs, training=False):
        self._check_inputs(inputs)
        hosts = [self._host(x) for x in inputs]
        first = tuple(hosts[0].shape)
        rank = len(first)
        for h in hosts:
            shape = tuple(h.shape)
            if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
                raise ValueError("All HashedCrossing inputs should have shape (), (batch_size) or "
                                 f"(batch_size, 1); got shapes {[tuple(x.shape) for x in hosts]}")
            if shape != first:
                raise ValueError("All HashedCrossing inputs should have equal shape; got shapes "
                                 f"{[tuple(x.shape) for x in hosts]}")
        cols = [h.reshape(-1) for h in hosts]
        bins = _host.hashed_cross(cols, self.num_bins)
        bins = bins.reshape(first) if rank else bins.reshape(())
        idx = self.backend.from_numpy(bins)
        out = encode_categorical(self.backend, idx, self.output_mode, self.num_bins,
                                 self.dtype if self.output_mode != "int" else "int64")
        if self.output_mode == "int" and self.dtype != "int64":
            out = self.xp.astype(out, self.backend.dtype(self.dtype))
        return out, (lambda dy: [None] * len(inputs))

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or not isinstance(input_shape[0], tuple) or not isinstance(input_shape[1], tuple):
            raise ValueError(f"HashedCrossing: expected as input a list/tuple of 2 tensors; got "
                             f"input_shape={input_shape!r}")
        first = tuple(input_shape[0])
        if self.output_mode == "int":
            return first
        if first and first[-1] != 1:
            return first + (self.num_bins,)
        return first[:-1] + (self.num_bins,)

    def get_config(self):
        return {"num_bins": self.num_bins, "output_mode": self.output_mode,
                "sparse": self.sparse, "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("trainable", "batch_input_shape"):
            config.pop(key, None)
        return cls(**config)
