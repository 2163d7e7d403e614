"""Host data: where NumPy arrays come in and go out (as DESIGN's data ingestion).

- Ingestion helpers the training package's data adapters call: host or device arrays ->
  validated device arrays (``as_host``, ``to_device``, ``check_finite``, ``check_lengths``,
  ``check_targets``, ``should_stream``...).
- Host data preparation that Keras keeps in ``keras.utils`` and returns as host arrays:
  ``pad_sequences`` (``keras.utils.pad_sequences``), ``to_categorical``, ``normalize``
  (``pn.utils`` re-exports them).

NumPy appears here because this is where host arrays come in; the array math of layers,
losses, metrics and optimizers uses the backend's namespace only (docs/ARCHITECTURE.md).
"""

import operator
import os

import array_api_compat
import numpy as np

from . import backend as _backend
from . import config


def as_list(x):
    """None -> [], array -> [array], list/tuple -> list."""
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def as_host_array(values):
    """Python data (nested lists, scalars) as a host NumPy array."""
    return np.asarray(values)


def is_text(a):
    """True for a host NumPy array of strings (str, bytes, or objects holding them): such
    inputs stay on the host for the string preprocessing layers."""
    if not isinstance(a, np.ndarray):
        return False
    if a.dtype.kind in "US":
        return True
    return a.dtype.kind == "O" and a.size > 0 and isinstance(a.reshape(-1)[0], (str, bytes))


def is_numpy(a):
    """True for a host NumPy array."""
    return isinstance(a, np.ndarray)


def as_host(a):
    """An element of a batch as a host NumPy array: NumPy as is, else through DLPack
    (``__dlpack__``) or ``__array__``; a device tensor with ``.cpu()`` is moved first."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "__dlpack__") and hasattr(a, "__dlpack_device__"):
        try:
            return np.from_dlpack(a)
        except Exception:
            if hasattr(a, "cpu") and callable(a.cpu):  # e.g. a CUDA torch tensor
                a = a.cpu()
                try:
                    return np.from_dlpack(a)
                except Exception:
                    pass
    if hasattr(a, "__array__"):
        return np.asarray(a)
    return np.asarray(a)  # Python numbers and lists; to_device rejects object arrays


def _is_host(a):
    return isinstance(a, np.ndarray) or not hasattr(a, "__array_namespace__") and not hasattr(a, "__cuda_array_interface__")


def host_or_device_shape(a):
    return tuple(getattr(a, "shape", np.shape(a)))


DEFAULT_DEVICE_DATA_LIMIT = 2 * 2**30


def device_data_limit():
    """Bytes of input data fit moves to the device at once: ``$PORTANET_DEVICE_DATA_LIMIT``
    (an integer number of bytes; default 2 GiB). Host inputs above it stay on the host
    and are copied one batch at a time, the next batch's copy issued before the current
    step runs."""
    text = os.environ.get("PORTANET_DEVICE_DATA_LIMIT", "").strip()
    if not text:
        return DEFAULT_DEVICE_DATA_LIMIT
    try:
        value = int(float(text))
    except ValueError:
        raise ValueError(f"PORTANET_DEVICE_DATA_LIMIT={text!r}; expected a number of bytes") from None
    if value < 0:
        raise ValueError(f"PORTANET_DEVICE_DATA_LIMIT={text!r}; expected a non-negative number of bytes")
    return value


def should_stream(backend, arrays):
    """True when host ``arrays`` together exceed ``device_data_limit()`` on a backend whose
    arrays live off the host (on NumPy the host is the device: nothing to stream)."""
    if backend.name == "numpy":
        return False
    total = sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    return total > 0 and total > device_data_limit()


def to_device(backend, a, name, floatx, keep_host=False):
    """Move one input array to the device: floats become floatx, ints stay ints.

    ``keep_host=True`` does the same checks and conversions but leaves a host array on
    the host (fit's streaming mode, see ``device_data_limit``)."""
    if backend.is_array(a):
        xp = backend.xp
        if xp.isdtype(a.dtype, "real floating") and a.dtype != backend.dtype(floatx):
            a = xp.astype(a, backend.dtype(floatx))
        return a
    if array_api_compat.is_array_api_obj(a) and not isinstance(a, np.ndarray):
        # An array of another library (e.g. a CuPy array given to the numpy backend).
        try:
            a = np.from_dlpack(a)
        except Exception:
            raise TypeError(f"{name}: got an array of {type(a).__module__}.{type(a).__name__}, which "
                            f"backend {backend.name!r} cannot read; pass a NumPy array or an array of "
                            f"the active backend") from None
    try:
        host = np.asarray(a)
    except Exception as exc:
        raise TypeError(f"{name}: could not read the data as an array ({exc}); expected a NumPy "
                        "array, a list of numbers or an array of the active backend") from None
    if is_text(host):
        # Strings stay on the host: the model's first layer (StringLookup,
        # TextVectorization, Hashing...) reads them there and hands integers to the device.
        return host
    if host.dtype == object:
        raise TypeError(f"{name}: got an array of Python objects (ragged or mixed data); expected "
                        "a numeric array")
    if host.dtype.kind == "f" or host.dtype.kind == "b":
        host = host.astype(floatx, copy=False)
    elif host.dtype.kind in "iu":
        host = host.astype(np.int64, copy=False)
    elif host.dtype.kind not in "f":
        raise TypeError(f"{name}: dtype {host.dtype} is not numeric; expected float or integer data")
    if keep_host:
        return host
    return backend.from_numpy(host)


# Above this many values a C-contiguous float32/float64 array is summed as rows of
# _FINITE_PROBE_COLS times a ones vector (BLAS gemv: it reads the data on NumPy's BLAS
# threads) and then the row sums: bench mlp-small's 25,600 x 784 float32, 2 threads,
# 5.5-6.7 ms instead of 12.9 for np.add.reduce (fit checks its data on every call; its epoch
# there is ~650 ms). A NaN or Inf anywhere makes its row's sum, and so the total, non-finite.
_FINITE_PROBE_MIN = 1 << 16
_FINITE_PROBE_COLS = 1024


def _finite_probe_sum(a):
    """The sum of all of ``a``'s values (finite exactly when no value is NaN or Inf and the
    sum does not overflow), by BLAS where that is faster."""
    if (a.size < _FINITE_PROBE_MIN or a.dtype not in (np.float32, np.float64)
            or not a.flags.c_contiguous):
        return np.add.reduce(a, axis=None)
    flat = a.reshape(-1)
    head = flat.size - flat.size % _FINITE_PROBE_COLS
    rows = flat[:head].reshape(-1, _FINITE_PROBE_COLS) @ np.ones(_FINITE_PROBE_COLS, a.dtype)
    return np.add.reduce(rows) + np.add.reduce(flat[head:])


def check_finite(backend, a, name):
    """Raise if a float array holds NaN or Inf (one device read when on the device)."""
    if isinstance(a, np.ndarray):
        if a.dtype.kind != "f":
            return
        # One reduction, no boolean temporary the size of the data (fit runs this every
        # call); the exact check only when the sum is not finite (a NaN/Inf, or an overflow).
        with np.errstate(over="ignore", invalid="ignore"):
            total = _finite_probe_sum(a)
        if not np.isfinite(total) and not np.isfinite(a).all():
            bad = int(np.size(a) - np.isfinite(a).sum())
            raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or Inf); expected "
                             "finite numbers: clean or impute the data first")
        return
    xp = backend.xp
    if xp.isdtype(a.dtype, "real floating"):
        finite = backend.to_numpy(xp.all(xp.isfinite(a)))
        if not bool(finite):
            raise ValueError(f"{name} contains non-finite values (NaN or Inf); expected finite numbers")


def check_lengths(named_arrays):
    """All arrays must have the same number of samples (axis 0)."""
    lengths = {n: host_or_device_shape(a)[0] if host_or_device_shape(a) else None
               for n, a in named_arrays}
    if any(v is None for v in lengths.values()):
        bad = [n for n, v in lengths.items() if v is None]
        raise ValueError(f"{', '.join(bad)}: got a scalar; expected arrays with a sample axis")
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{n} has {v}" for n, v in lengths.items())
        raise ValueError(f"x and y must have the same number of samples: {desc}")
    return next(iter(lengths.values())) if lengths else 0


def check_targets(backend, y, loss, output_shape, name):
    """Labels must fit the loss and the model's output (before any training happens).
    A user's loss (``target_kind`` "custom": a function, or a Loss with its own call) is
    not checked: as in Keras, it decides what its labels are."""
    kind = getattr(loss, "target_kind", "any")
    if kind == "custom":
        return
    yshape = host_or_device_shape(y)
    classes = output_shape[-1] if output_shape else None
    if kind == "sparse":
        if len(yshape) == len(output_shape) and yshape[-1] != 1:
            raise ValueError(f"{name}: sparse_categorical labels must be integer class ids of shape "
                             f"(N,) or (N, 1); got shape {yshape}. For one-hot labels use "
                             "loss='categorical_crossentropy'")
        host = y if isinstance(y, np.ndarray) else backend.to_numpy(y)
        if host.size:
            if host.dtype.kind == "f" and not np.all(np.floor(host) == host):
                raise ValueError(f"{name}: sparse_categorical labels must be whole numbers (class ids); "
                                 f"got non-integer values such as {host[np.floor(host) != host].ravel()[0]!r}")
            lo, hi = host.min(), host.max()
            ignore = getattr(loss, "ignore_class", None)
            if ignore is not None:
                valid = host[host != ignore]
                lo, hi = (valid.min(), valid.max()) if valid.size else (0, 0)
            if classes is not None and (lo < 0 or hi >= classes):
                raise ValueError(f"{name}: labels must be class ids in [0, {classes - 1}] for a model "
                                 f"with {classes} outputs; got values from {lo} to {hi}")
    elif kind == "one_hot":
        if classes is not None and yshape[-1] != classes:
            raise ValueError(f"{name}: one-hot labels have width {yshape[-1]} but the model outputs "
                             f"{classes} classes; expected shape (N, {classes}). For integer labels use "
                             "loss='sparse_categorical_crossentropy'")
    elif kind in ("binary", "any") and output_shape is not None:
        out = tuple(output_shape[1:])
        ys = tuple(yshape[1:])
        aligned = ys == out or ys + (1,) == out or (out + (1,) == ys)
        if not aligned and not _broadcastable(ys, out):
            raise ValueError(f"{name}: targets of shape {yshape} do not match the model output shape "
                             f"{tuple(output_shape)}")


def _broadcastable(a, b):
    for x, y in zip(reversed(a), reversed(b)):
        if x is not None and y is not None and x != y and x != 1 and y != 1:
            return False
    return len(a) == len(b)


def host_take(a, indices):
    """Rows ``indices`` of a host array (fit's streaming mode gathers host batches)."""
    return np.take(a, indices, axis=0)


# ------------------------------------------------------------------ sequences
__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads (and truncates) sequences to one length: a 2-D host NumPy array.

    ``num_timesteps`` is ``maxlen`` when given, else the length of the longest sequence.
    Shorter sequences are padded with ``value``, longer ones truncated, at the start
    ("pre", the default) or the end ("post"). Sequences may hold equal-shaped items
    (e.g. vectors): the output is then ``(num_samples, num_timesteps) + item_shape``.

    Args:
        sequences: list (anything with a length) of sequences.
        maxlen: None or a non-negative int, the length of every output row.
        dtype: dtype of the output ("int32"); ``object`` (or a NumPy string dtype) for
            strings.
        padding: "pre" or "post": pad before or after each sequence.
        truncating: "pre" or "post": drop values from the start or the end of sequences
            longer than ``maxlen``.
        value: the padding value (a float, or a string with ``dtype=object``), 0.0.

    Returns:
        NumPy array of shape ``(len(sequences), maxlen)`` (plus the item shape).

    Example:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
        array([[0, 0, 1],
               [0, 2, 3],
               [4, 5, 6]], dtype=int32)
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post")
        array([[1, 0],
               [2, 3],
               [5, 6]], dtype=int32)

    Unlike Keras, ``padding`` and ``truncating`` are checked before any work (Keras reads
    them only when a sequence needs them), ``maxlen=0`` gives empty rows, and an empty list
    without ``maxlen`` gets a clear error instead of NumPy's reduction error.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood; expected "pre" or "post"')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood; expected "pre" or '
                         f'"post"')
    if maxlen is not None:
        if isinstance(maxlen, bool) or not hasattr(maxlen, "__index__") \
                or operator.index(maxlen) < 0:
            raise ValueError(f"pad_sequences: maxlen={maxlen!r}; expected None or a "
                             f"non-negative integer")
        maxlen = operator.index(maxlen)
    num_samples = len(sequences)
    lengths = []
    sample_shape = ()
    flag = True
    # The item shape comes from the first non-empty sequence; the loop below checks the rest.
    for x in sequences:
        try:
            lengths.append(len(x))
            if flag and len(x):
                sample_shape = np.asarray(x).shape[1:]
                flag = False
        except TypeError as e:
            raise ValueError("`sequences` must be a list of iterables. "
                             f"Found non-iterable: {str(x)}") from e
    if maxlen is None:
        if not lengths:
            raise ValueError("pad_sequences: sequences=[] and maxlen=None; give maxlen to "
                             "pad an empty list")
        maxlen = int(np.max(lengths))
    is_dtype_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_dtype_str:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: "
                         f"{type(value)}\nYou should set `dtype=object` for variable length "
                         "strings.")
    x = np.full((num_samples, maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return x
    for idx, s in enumerate(sequences):
        if not len(s):
            continue  # an empty sequence is all padding
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position "
                             f"{idx} is different from expected shape {sample_shape}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x


# ------------------------------------------------------------------ labels and norms
__all__ = ["to_categorical", "normalize"]


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels; the class axis is placed last.

    As Keras: a trailing axis of size 1 is dropped first, so labels of shape ``(n,)`` or
    ``(n, 1)`` give ``(n, num_classes)`` and labels ``(a, b)`` give ``(a, b, num_classes)``.
    Float labels are truncated to integers (``np.array(x, dtype="int64")``).

    Args:
        x: array-like of class indices in ``[0, num_classes)`` (host data, or an array of
            the active backend, which stays on its device).
        num_classes: positive int, or None for ``max(x) + 1``.

    Returns:
        The one-hot array in ``pn.config.floatx()`` (Keras's NumPy path returns float64; the
        models' float type avoids a cast at ``fit``).

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    if num_classes is not None and (isinstance(num_classes, bool)
                                    or not hasattr(num_classes, "__index__")
                                    or operator.index(num_classes) < 1):
        raise ValueError(f"to_categorical: num_classes={num_classes!r}; expected None or a "
                         f"positive integer")
    b = _backend.current()
    on_device = b.is_array(x) and not isinstance(x, np.ndarray)
    labels = b.to_numpy(x) if on_device else x
    try:
        labels = np.array(labels, dtype="int64")
    except (TypeError, ValueError):
        raise ValueError(f"to_categorical: x={x!r}; expected integer class labels") from None
    input_shape = labels.shape
    if len(input_shape) > 1 and input_shape[-1] == 1:
        input_shape = input_shape[:-1]
    labels = labels.reshape(-1)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be non-negative; got {int(labels.min())}")
    n = operator.index(num_classes) if num_classes is not None else (
        int(labels.max()) + 1 if labels.size else 0)
    if labels.size and labels.max() >= n:
        raise ValueError(f"to_categorical: label {int(labels.max())} >= num_classes={n}")
    if on_device:
        xp = b.xp
        device_labels = xp.reshape(b.asarray(x, "int64"), input_shape + (1,))
        classes = xp.arange(n, dtype=xp.int64, device=b.device)
        return xp.astype(device_labels == classes, b.floatx())
    out = np.zeros((labels.size, n), dtype=config.floatx())
    out[np.arange(labels.size), labels] = 1.0
    return out.reshape(input_shape + (n,))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (a zero norm divides by 1).

    Args:
        x: host NumPy array (a NumPy array is returned) or an array of the active backend
            (an array of it is returned); other array-likes become backend arrays.
        axis: int, the axis to normalize along (-1).
        order: the norm order, as ``numpy.linalg.norm``'s ``ord`` (2: Euclidean).

    Returns:
        A normalized copy of ``x``, of the shape of ``x`` (Keras's NumPy path turns a 1-D
        input into shape ``(1, n)``; portanet keeps ``(n,)``).
    """
    if isinstance(axis, bool) or not hasattr(axis, "__index__"):
        raise ValueError(f"normalize: axis={axis!r}; expected an integer")
    if isinstance(x, np.ndarray):
        if not -max(x.ndim, 1) <= axis < max(x.ndim, 1):
            raise ValueError(f"normalize: axis={axis} is out of range for x of shape {x.shape}")
        norm = np.linalg.norm(x, order, axis, keepdims=True)
        norm[norm == 0] = 1
        return x / norm
    b = _backend.current()
    x = b.asarray(x)
    if not b.is_float(x):
        x = b.asarray(x, config.floatx())
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"normalize: axis={axis} is out of range for x of shape "
                         f"{tuple(x.shape)}")
    xp = b.xp
    norm = xp.linalg.vector_norm(x, axis=axis, keepdims=True, ord=order)
    return x / xp.where(norm == 0, xp.ones_like(norm), norm)
