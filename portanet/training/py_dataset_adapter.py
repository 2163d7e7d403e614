"""``PyDataset`` (keras.utils.PyDataset) and its adapter.

As keras/src/trainers/data_adapters/py_dataset_adapter.py: a ``PyDataset`` returns whole
batches from ``__getitem__(index)`` and their count from ``__len__`` (or ``num_batches``;
None for an endless one). The adapter reads the batches of an epoch in order (shuffled
batch order when ``fit(shuffle=True)``, as Keras), on a background thread that keeps up to
``max_queue_size`` batches ready; with ``workers > 1`` a pool of that many threads calls
``__getitem__`` concurrently (still delivered in order). ``use_multiprocessing=True``
also uses threads here: a process pool would have to pickle the dataset and every batch,
and a thread pool overlaps what slow ``__getitem__`` methods do (file reads, decoding in
NumPy or PIL, ``time.sleep``), all of which release the GIL.
"""

import collections
import concurrent.futures
import itertools
import random
import warnings

from . import generator_data_adapter as _gen


class PyDataset:
    """Base class for a dataset whose batches Python code computes (Keras's PyDataset).

    Subclasses implement ``__getitem__(index)`` (one complete batch: ``x``, ``(x,)``,
    ``(x, y)`` or ``(x, y, sample_weight)``) and ``__len__`` (the number of batches), and
    may implement ``on_epoch_begin``/``on_epoch_end`` (e.g. to reshuffle).

    Args:
        workers: threads that call ``__getitem__`` concurrently (1: one background thread
            reads the batches in order while the model trains).
        use_multiprocessing: accepted for Keras compatibility; portanet uses threads
            either way (see the module docstring).
        max_queue_size: batches prepared ahead at most.

    Example:
        >>> class Batches(pn.utils.PyDataset):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return math.ceil(len(self.x) / self.batch_size)
        ...     def __getitem__(self, idx):
        ...         s = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
        >>> model.fit(Batches(x, y, 32, workers=2), epochs=3)
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        warn = False
        for name, default in (("_workers", 1), ("_use_multiprocessing", False), ("_max_queue_size", 10)):
            if not hasattr(self, name):
                setattr(self, name, default)
                warn = True
        if warn:
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                          "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                          "`max_queue_size`. Do not pass these arguments to `fit()`, as they will "
                          "be ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position ``index``."""
        del index
        raise NotImplementedError

    def __iter__(self):
        try:
            num_batches = self.num_batches
        except NotImplementedError:
            num_batches = None
        for index in (itertools.count() if num_batches is None else range(num_batches)):
            yield self[index]

    @property
    def num_batches(self):
        """The number of batches (``len(self)``), or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError("You need to implement the `num_batches` property:\n\n"
                                  "@property\ndef num_batches(self):\n  return ...")

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


def _check_settings(dataset):
    workers, queue_size = dataset.workers, dataset.max_queue_size
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"PyDataset: workers={workers!r}; expected a non-negative integer")
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"PyDataset: max_queue_size={queue_size!r}; expected a positive integer")
    return max(1, workers), queue_size


class PyDatasetAdapter(_gen.IterableDataAdapter):
    """Batches of a ``PyDataset``: one pass over its indices per epoch (see the module
    docstring); ``class_weight`` turns the targets of each batch into sample weights.

    Args:
        model, targets, steps: as ``IterableDataAdapter``.
        dataset: the PyDataset.
        shuffle: shuffle the batch order each epoch (seeded by the epoch, as Keras).
        class_weight: a dict {class: weight}, or None.
    """

    kind = "PyDataset"

    def __init__(self, model, dataset, targets=True, shuffle=False, class_weight=None, steps=None):
        self.workers, queue_size = _check_settings(dataset)
        super().__init__(model, dataset, kind="PyDataset", targets=targets,
                         max_queue_size=queue_size, steps=steps)
        self.shuffle = bool(shuffle)
        self.class_weight = class_weight
        self._epoch = 0

    def _count(self):
        try:
            return self.source.num_batches
        except NotImplementedError:
            return None

    def _peek(self):
        if self.num_batches == 0:
            raise ValueError("x: the PyDataset has length 0; expected at least one batch")
        return self.source[0]

    def _indices(self):
        n = getattr(self, "_unsharded_batches", self.num_batches)  # every batch, sharded or not
        if n is None:
            return itertools.count()
        indices = list(range(n))
        if self.shuffle:
            random.Random(self._epoch).shuffle(indices)
        return indices

    def _pairs(self):
        dataset = self.source
        indices = self._indices()
        fetch = dataset.__getitem__
        if self._shard is not None:
            # Data-parallel: this rank reads only its batches (see IterableDataAdapter.shard).
            indices, fetch = _shard_indices(indices, *self._shard), _fetch_shard(dataset)
        if self.workers == 1:
            for index in indices:
                yield _index(index), fetch(index)
            return
        pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="portanet-pydataset")
        pending = collections.deque()
        indices = iter(indices)
        try:
            for index in indices:
                pending.append((index, pool.submit(fetch, index)))
                if len(pending) >= self.max_queue_size:
                    break
            while pending:
                index, future = pending.popleft()
                batch = future.result()
                nxt = next(indices, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(fetch, nxt)))
                yield _index(index), batch
        finally:
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=True)

    def _split(self, raw, index):
        xs, ys, sws = super()._split(raw, index)
        if self.class_weight is not None and any(w is not None for w in sws):
            raise ValueError("You cannot specify `class_weight` and `sample_weight` at the same time.")
        return xs, ys, sws

    def _finish(self, item):
        batch = super()._finish(item)
        if self.class_weight is None or batch[1] is None:
            return batch
        ys = batch[1] if isinstance(batch[1], list) else [batch[1]]
        return batch[0], batch[1], self.model._class_weights(self.class_weight, ys)

    def on_epoch_begin(self):
        self.source.on_epoch_begin()

    def on_epoch_end(self):
        # A pass that would run on into the next epoch ends here, so that on_epoch_end's
        # changes (a reshuffle) apply to the next epoch's batches, as Keras.
        if self.steps is None and self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None
        self.source.on_epoch_end()
        self._epoch += 1


def _shard_indices(indices, rank, size):
    """Rank ``rank``'s batch indices: the group's ``rank``-th of each group of ``size``, or
    ``("empty", first index of the group)`` in a last group too short to have one."""
    if not isinstance(indices, list):  # endless (no __len__): every size-th index
        return itertools.islice(indices, rank, None, size)
    out = []
    for start in range(0, len(indices), size):
        group = indices[start:start + size]
        out.append(group[rank] if rank < len(group) else ("empty", group[0]))
    return out


def _fetch_shard(dataset):
    def fetch(index):
        if isinstance(index, tuple):
            return _gen.empty_batch(dataset[index[1]])
        return dataset[index]
    return fetch


def _index(index):
    return index[1] if isinstance(index, tuple) else index
