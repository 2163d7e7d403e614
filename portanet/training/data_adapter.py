"""Data ingestion: host or device arrays -> validated device arrays -> shuffled mini-batches.

Separation of concerns (as keras/src/trainers/data_adapters): a ``DataAdapter`` turns one
kind of user data into batches ``(x, y, sample_weight)`` for the trainer's step methods;
the trainer (``portanet.training.trainer``) owns the loop. ``ArrayDataAdapter`` serves
arrays; generators and other iterables of batches are served by
``generator_data_adapter``, ``PyDataset`` by ``py_dataset_adapter``, and
``adapter_selection`` picks the adapter for what the user passed.

The whole data set moves to the device once (``fit`` checks it before any state changes),
is shuffled each epoch with a device permutation, and batches are gathered on the device
with ``take``. Checks run once, before training: equal lengths, finite values, label
ranges. NumPy appears here because this is where host arrays come in (docs/ARCHITECTURE.md).
"""

import math
import os

import array_api_compat
import numpy as np


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


def check_finite(backend, a, name):
    """Raise if a float array holds NaN or Inf (one device read when on the device)."""
    if isinstance(a, np.ndarray):
        if a.dtype.kind != "f":
            return
        # One reduction, no boolean temporary the size of the data (fit runs this every
        # call); the exact check only when the sum is not finite (a NaN/Inf, or an overflow).
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.add.reduce(a, axis=None)
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
    """Labels must fit the loss and the model's output (before any training happens)."""
    kind = getattr(loss, "target_kind", "any")
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


def pack_batch(xs, ys, sws):
    """Lists of arrays -> Keras's batch tuple ``(x, y, sample_weight)``.

    A single input (target, weight) is the array itself, several are a list, as the
    ``data`` argument of Keras's ``train_step``; no targets give ``y=None``, no weights
    ``sample_weight=None``."""
    x = xs[0] if len(xs) == 1 else list(xs)
    if not ys:
        return x, None, None
    y = ys[0] if len(ys) == 1 else list(ys)
    if not sws or all(w is None for w in sws):
        return x, y, None
    return x, y, (sws[0] if len(sws) == 1 else list(sws))


def unpack_batch(data, num_outputs=1):
    """Keras's batch tuple -> ``(xs, ys, sws)`` lists (the inverse of ``pack_batch``).

    ``data`` may also be ``(x,)`` or ``(x, y)``, as Keras's ``unpack_x_y_sample_weight``."""
    if type(data) is not tuple:
        data = (data,)
    x = data[0]
    y = data[1] if len(data) > 1 else None
    sw = data[2] if len(data) > 2 else None
    xs = x if type(x) is list else [x]
    ys = [] if y is None else (y if type(y) is list else [y])
    sws = sw if type(sw) is list else [sw] * len(ys)
    return xs, ys, sws


class DataAdapter:
    """What the trainer needs from a source of batches (keras/src/trainers/data_adapters).

    Iterating over an adapter gives one epoch of batches, each Keras's tuple
    ``(x, y, sample_weight)`` of device arrays (lists for several inputs/outputs), ready
    for ``train_step``/``test_step``/``predict_step``.

    Attributes:
        size: the number of samples (None when unknown).
        batch_size: the rows of one batch.
        num_batches: batches per epoch (None when unknown).
        shard: ``(rank, size)`` for data-parallel training, or None; a distribution sets
            it (``Distribution.shard``) before the first epoch.
        order_sync: None, or ``f(order) -> order`` replacing this process's shuffle order
            (data-parallel training uses rank 0's everywhere).
    """

    size = None
    batch_size = None
    num_batches = None
    shard = None
    order_sync = None

    def __iter__(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self):
        """Release what the adapter holds between epochs (background threads); the
        trainer calls it when fit, evaluate or predict is done. Arrays: nothing."""


class ArrayDataAdapter(DataAdapter):
    """Device-resident arrays cut into mini-batches.

    Args:
        backend: the model's Backend.
        xs, ys, sws: lists of device arrays (inputs, targets, sample weights or None).
        batch_size: rows per batch; the last partial batch is kept, as Keras.
        shuffle: True (a fresh permutation per epoch), False, or "batch" (shuffle
            the order of fixed chunks of batch_size rows).

    Distributed data parallelism sets ``shard = (rank, size)``: ``batch_size`` is then
    the per-rank batch, a global batch holds ``batch_size * size`` rows of the epoch's
    order, and this rank yields rows ``[rank*m//size, (rank+1)*m//size)`` of each global
    batch of ``m`` rows (a short last batch is split as evenly as possible, so a shard can
    be empty). Every rank must use the same order: ``order_sync`` (set by
    ``portanet.distributed``) replaces this rank's permutation with rank 0's.
    """

    def __init__(self, backend, xs, ys=(), sws=(), batch_size=32, shuffle=False):
        self.backend = backend
        self.xs, self.ys = list(xs), list(ys)
        # No weights at all: batches carry sample_weight=None without looking at each one.
        self.sws = list(sws) if any(w is not None for w in sws) else []
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.size = int(self.xs[0].shape[0]) if self.xs else 0
        self.order_sync = None
        self.shard = None

    @property
    def shard(self):
        return self._shard

    @shard.setter
    def shard(self, value):
        if value is not None:
            rank, size = (int(v) for v in value)
            if size < 1 or not 0 <= rank < size:
                raise ValueError(f"shard={value!r}; expected (rank, size) with 0 <= rank < size")
            value = (rank, size)
        self._shard = value
        self.global_batch_size = self.batch_size * (1 if value is None else value[1])
        self.num_batches = max(1, math.ceil(self.size / self.global_batch_size)) if self.size else 0

    def _order(self):
        if self.shuffle is True:
            return self.backend.permutation(self.size)
        if self.shuffle == "batch":
            xp = self.backend.xp
            chunk = self.global_batch_size
            chunks = self.backend.permutation(self.num_batches)
            offsets = xp.arange(chunk, dtype=chunks.dtype, device=self.backend.device)
            idx = xp.reshape(chunks[:, None] * chunk + offsets[None, :], (-1,))
            return idx[idx < self.size] if self.backend.name != "array_api_strict" else \
                xp.take(idx, xp.nonzero(idx < self.size)[0], axis=0)
        return None

    def _is_host(self, a):
        # Host NumPy arrays given to a non-NumPy backend: fit's streaming mode.
        return self.backend.name != "numpy" and isinstance(a, np.ndarray)

    def __iter__(self):
        order = self._order()
        if order is not None and self._shard is not None and self.order_sync is not None:
            order = self.order_sync(order)
        take = self.backend.take_rows
        rank, ranks = self._shard or (0, 1)
        streamed = [self._is_host(a) for a in self.xs]
        host_order = None
        if any(streamed) and order is not None:
            host_order = self.backend.to_numpy(order)  # once per epoch
        to_device = getattr(self.backend, "prefetch", self.backend.from_numpy)

        def batch(b):
            start = b * self.global_batch_size
            stop = min(start + self.global_batch_size, self.size)
            if ranks > 1:
                rows = stop - start
                start, stop = start + rows * rank // ranks, start + rows * (rank + 1) // ranks
            if order is None:
                pick = (lambda a: a[start:stop, ...])
                pick_host = (lambda a: to_device(a[start:stop, ...]))
            else:
                idx = order[start:stop]
                pick = (lambda a, idx=idx: take(a, idx))
                hidx = None if host_order is None else host_order[start:stop]
                pick_host = (lambda a, hidx=hidx: to_device(np.take(a, hidx, axis=0)))
            return pack_batch([pick_host(a) if s else pick(a) for a, s in zip(self.xs, streamed)],
                              [pick(a) for a in self.ys],
                              [None if w is None else pick(w) for w in self.sws])

        if not any(streamed):
            for b in range(self.num_batches):
                yield batch(b)
            return
        # Streaming: the next batch's copy is issued before the current one is used.
        upcoming = batch(0) if self.num_batches else None
        for b in range(self.num_batches):
            current = upcoming
            upcoming = batch(b + 1) if b + 1 < self.num_batches else None
            yield current
