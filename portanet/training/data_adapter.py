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
ranges. The host-array helpers it calls live in portanet/data.py (where NumPy comes in).
"""

import math

from ..data import (  # noqa: F401 - the adapters' host-data helpers (portanet/data.py)
    DEFAULT_DEVICE_DATA_LIMIT, as_host, as_host_array, as_list, check_finite, check_lengths,
    check_targets, device_data_limit, host_or_device_shape, host_take, is_numpy, is_text,
    should_stream, to_device)



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
        return self.backend.name != "numpy" and is_numpy(a)

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
        prefetch = getattr(self.backend, "prefetch", self.backend.from_numpy)

        def to_device(a):
            # String inputs stay on the host: the model's string preprocessing layer reads them.
            return a if is_text(a) else prefetch(a)

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
                pick_host = (lambda a, hidx=hidx: to_device(host_take(a, hidx)))
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


def accepts_text(model):
    """True when ``model`` reads string inputs: an input of dtype "string", or a layer that
    takes strings (``_accepts_strings``: TextVectorization, StringLookup, Hashing...)."""
    try:
        if any(str(getattr(t, "dtype", "")) == "string" for t in model.inputs):
            return True
    except (ValueError, AttributeError):
        pass
    return any(getattr(layer, "_accepts_strings", False) for layer in getattr(model, "layers", ()))


def check_text_input(model, a, name):
    """Strings given to a model that does not read them: a TypeError naming the input."""
    if is_text(a) and not accepts_text(model):
        raise TypeError(f"{name}: got dtype {a.dtype}; expected float or integer data (string "
                        "inputs need a model whose first layer reads strings, e.g. "
                        "TextVectorization, StringLookup or Hashing)")

