"""Batches from Python generators and other iterables, prefetched on a background thread.

As keras/src/trainers/data_adapters/generator_data_adapter.py: the source yields whole
batches, each ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a list of
length 2 or 3 counts as that tuple, as a PyTorch ``DataLoader`` yields it; ``x`` and
``y`` may be lists, tuples or dicts for several inputs/outputs). Elements may be arrays of
any backend or any object with ``__dlpack__`` or ``__array__`` (PyTorch tensors): they are
read through NumPy on the host, checked (numeric dtype, finite, the model's input shape,
labels that fit the loss; errors name the batch index) and moved to the device.

A background thread (``Prefetcher``) pulls the next batches into a bounded buffer while
the current step runs, as soon as reading a batch takes longer than ``SYNC_BELOW_S``
(0.1 ms, three reads in a row; a PyDataset with ``workers > 1`` always): batches sliced
from memory are read on the main thread, where they cost less than handing the GIL to and
from a thread. An
exception raised on the thread (in the user's generator or ``__getitem__``) is re-raised
in the main thread with its original traceback, after the thread has been stopped and
joined. The checks of each batch run on the main thread (``convert_on_thread``).
"""

import collections
import threading
import time
import warnings

from . import data_adapter as _data

RAN_OUT_WARNING = ("Your input ran out of data; interrupting training. Make sure that your "
                   "dataset or generator can generate at least `steps_per_epoch * epochs` "
                   "batches. You may need to use the `.repeat()` function when building "
                   "your dataset.")

_END = object()
_POLL_S = 0.1
# A source that returns a batch in less than this (seconds) is read on the main thread: a
# thread gains nothing there, and each hand-over of the GIL between it and the training step
# costs more than the read (bench/data_pipeline.py). A source slower than that for
# SLOW_READS reads in a row (one slow read can be the OS scheduling another process), or
# whose first batch took over THREAD_AT_ONCE_S, moves to the prefetch thread for the rest
# of the pass and for later passes.
SYNC_BELOW_S = 1e-4
SLOW_READS = 3
THREAD_AT_ONCE_S = 1e-3


class _Buffer:
    """A bounded FIFO between the prefetch thread and the main thread, with hysteresis:
    a producer blocked on a full buffer is woken only when it has drained to half, so the
    thread wakes (and takes the GIL from the training step) once per several batches, not
    once per batch as with ``queue.Queue`` (bench/data_pipeline.py measured that)."""

    def __init__(self, size):
        self.items = collections.deque()
        self.size = max(1, int(size))
        self.low = self.size // 2
        self.cond = threading.Condition(threading.Lock())
        self.producer_waiting = False
        self.consumer_waiting = False

    def put(self, item, stop):
        """Append ``item`` (waiting while full); False when ``stop`` was set meanwhile."""
        with self.cond:
            while len(self.items) >= self.size:
                if stop.is_set():
                    return False
                self.producer_waiting = True
                self.cond.wait(_POLL_S)
            self.producer_waiting = False
            self.items.append(item)
            if self.consumer_waiting:
                self.cond.notify_all()
            return True

    def get(self, alive):
        """The oldest item (waiting while empty); RuntimeError if ``alive()`` turns False
        with nothing left."""
        with self.cond:
            while not self.items:
                if not alive() and not self.items:
                    raise RuntimeError("the batch prefetch thread ended without a result")
                self.consumer_waiting = True
                self.cond.wait(_POLL_S)
            self.consumer_waiting = False
            item = self.items.popleft()
            if self.producer_waiting and len(self.items) <= self.low:
                self.cond.notify_all()
            return item

    def clear(self):
        with self.cond:
            self.items.clear()
            self.cond.notify_all()


def _produce(pairs, convert, out, stop, activate):
    """The prefetch thread: ``(index, raw batch)`` pairs -> converted batches in ``out``."""
    final = ("end", None)
    try:
        activate()
        for index, raw in pairs:
            if stop.is_set() or not out.put(("batch", convert(raw, index)), stop):
                break
    except BaseException as exc:  # re-raised in the main thread by Prefetcher.get
        final = ("error", exc)
    finally:
        close = getattr(pairs, "close", None)
        if close is not None:
            try:
                close()
            except BaseException as exc:  # an error while shutting a worker pool down
                if final[0] == "end":
                    final = ("error", exc)
    if not stop.is_set():
        out.put(final, stop)


class Prefetcher:
    """Runs an iterator of ``(index, raw batch)`` on a daemon thread into a bounded buffer.

    Args:
        pairs: the iterator (consumed only by the thread).
        convert: ``convert(raw, index)`` run on the thread for each batch.
        max_queue_size: batches held ready at most.
        activate: called first on the thread (CuPy: makes the model's GPU current).
    """

    def __init__(self, pairs, convert, max_queue_size=10, activate=lambda: None, name="batches"):
        self._buffer = _Buffer(max_queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_produce, daemon=True, name=f"portanet-prefetch-{name}",
                                        args=(pairs, convert, self._buffer, self._stop, activate))
        self._thread.start()

    def get(self):
        """The next converted batch, or ``_END``; re-raises an error of the thread."""
        kind, payload = self._buffer.get(self._thread.is_alive)
        if kind == "batch":
            return payload
        self.close()
        if kind == "error":
            if hasattr(payload, "add_note"):  # Python 3.11+
                payload.add_note("(raised in portanet's batch prefetch thread: the traceback's "
                                 "frames after Prefetcher.get ran there)")
            raise payload
        return _END

    def close(self, timeout=30.0):
        """Stop the thread and join it (it stops after the batch it is reading)."""
        self._stop.set()
        self._buffer.clear()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


class _SyncReader:
    """Reads ``(index, raw batch)`` pairs on the calling thread, timing each read."""

    def __init__(self, pairs, convert):
        self.pairs, self.convert = pairs, convert
        self.slow_reads = 0

    def get(self):
        start = time.perf_counter()
        try:
            index, raw = next(self.pairs)
        except StopIteration:
            return _END
        self.slow_reads = self.slow_reads + 1 if time.perf_counter() - start > SYNC_BELOW_S else 0
        return self.convert(raw, index)

    @property
    def slow(self):
        return self.slow_reads >= SLOW_READS

    def close(self):
        close = getattr(self.pairs, "close", None)
        if close is not None:
            close()


class IterableDataAdapter(_data.DataAdapter):
    """A generator or another iterable of batches, for fit, evaluate and predict.

    Args:
        model: the Model (built from the first batch's shapes if it is not built yet).
        source: the iterable. A one-shot iterator (a generator) is read on across
            epochs; another iterable gives a fresh iterator (``iter(source)``) per pass.
        kind: the name used in messages ("generator", "iterable", "PyDataset").
        targets: True for fit/evaluate (labels are checked against the losses).
        max_queue_size: batches prefetched at most.

    ``steps`` (``steps_per_epoch``/``validation_steps``/``steps``): batches per epoch;
    None reads one whole pass per epoch. A pass that ends before ``steps`` batches (or an
    epoch that gets no batch at all) warns as Keras does, ends the epoch and, in fit,
    stops training.
    """

    kind = "iterable"
    # The checks of a batch (~0.1 ms for 128 x 784) run on the main thread by default: on
    # the prefetch thread they contend for the GIL with the training step, which costs
    # more than they take (bench/data_pipeline.py).
    convert_on_thread = False

    def __init__(self, model, source, kind=None, targets=True, max_queue_size=10, steps=None):
        self.model = model
        self.source = source
        self.kind = kind or self.kind
        self.targets = targets
        self.max_queue_size = max_queue_size
        self.steps = steps
        self.batch_size = None
        self.size = None
        self.num_batches = self._count()
        self.stop_on_ran_out = False
        self.last_count = None  # batches served by the last epoch (0: the source ran out)
        self._prefetcher = None
        self._out_shapes = None
        self._losses = None
        self._first = None
        self._built = False
        self._slow = False  # read on the prefetch thread from the start of a pass
        self.workers = getattr(self, "workers", 1)

    _shard = None

    @property
    def shard(self):
        """``(rank, size)`` in data-parallel training, else None. Each group of ``size``
        consecutive batches is one global step: rank ``r`` trains on the group's batch
        ``r``; in a last group with fewer batches than ranks, the ranks left over get an
        empty batch (zero rows; they still join the gradient all-reduce). Every rank must
        see the same batches in the same order (the same generator code and seed, or the
        same PyDataset); ``num_batches`` becomes the number of groups."""
        return self._shard

    @shard.setter
    def shard(self, value):
        if value is not None:
            rank, size = tuple(value)
            if not 0 <= rank < size:
                raise ValueError(f"shard={value!r}; expected (rank, size) with 0 <= rank < size")
            value = (rank, size) if size > 1 else None
        if not hasattr(self, "_unsharded_batches"):
            self._unsharded_batches = self.num_batches
        total = self._unsharded_batches
        self.num_batches = total if value is None or total is None else -(-total // value[1])
        self._shard = value

    # ------------------------------------------------------------------ the source
    def _count(self):
        try:
            return len(self.source)
        except TypeError:
            return None

    def _peek(self):
        """The first raw batch (kept to be served first for a one-shot iterator)."""
        it = iter(self.source)
        try:
            raw = next(it)
        except StopIteration:
            raise ValueError(f"x: the {self.kind} yielded no batch; expected at least one "
                             "(x,), (x, y) or (x, y, sample_weight) batch") from None
        if it is self.source:  # one-shot: serve the peeked batch first
            self._first = raw
        return raw

    def _pairs(self):
        """A new pass: ``(index, raw batch)`` pairs (this rank's, when sharded)."""
        pairs = self._all_pairs()
        return pairs if self._shard is None else _take_shard(pairs, *self._shard)

    def _all_pairs(self):
        """Every ``(index, raw batch)`` pair of a new pass."""
        it = iter(self.source)
        first, self._first = self._first, None
        index = 0
        if first is not None:
            yield 0, first
            index = 1
        for raw in it:
            yield index, raw
            index += 1

    # ------------------------------------------------------------------ conversion
    def build(self):
        """Build the model from the first batch (if needed) and check that batch; returns
        its inputs as device arrays (for fit's standardization check)."""
        start = time.perf_counter()
        raw = self._peek()
        self._slow = time.perf_counter() - start > THREAD_AT_ONCE_S
        xs, ys, _ = self._split(raw, 0)
        model = self.model
        label = f"{self.kind} batch 0: x"
        xs_dev = model._prepare_inputs([_data.as_host(a) if not _is_backend(model, a) else a for a in xs],
                                       name=label)
        if self.targets:
            model._ensure_compiled_outputs()
            self._losses = model._compiled_outputs.losses
            self._out_shapes = model._output_shapes()
        self._built = True
        self._convert(raw, 0)  # every other check of batch 0, before training starts
        return xs_dev

    def _split(self, raw, index):
        """A raw batch -> lists (inputs, targets, sample weights) of raw elements."""
        if isinstance(raw, list):
            raw = tuple(raw)
        if not isinstance(raw, tuple):
            raw = (raw,)
        if len(raw) not in (1, 2, 3):
            raise ValueError(f"{self.kind} batch {index}: got a tuple of {len(raw)} elements; "
                             "expected (x,), (x, y) or (x, y, sample_weight)")
        model = self.model
        xs = model._standardize_inputs(raw[0], f"{self.kind} batch {index}: x")
        y = raw[1] if len(raw) > 1 else None
        ys = [] if y is None else model._standardize_targets(y, f"{self.kind} batch {index}: y")
        sw = raw[2] if len(raw) > 2 else None
        sws = [] if sw is None else (list(sw) if isinstance(sw, (list, tuple)) else [sw] * len(ys))
        return xs, ys, sws

    def _element(self, a, label):
        """One element -> a host array (or a backend array), dtype-checked and cast."""
        model = self.model
        backend = model.backend
        if backend.is_array(a) and not _data.is_numpy(a):
            return _data.to_device(backend, a, label, model.dtype)
        host = _data.as_host(a)
        if _data.is_text(host):
            _data.check_text_input(model, host, label)
            return host  # strings stay on the host for the model's string layer
        if host.dtype.kind not in "fbiu":
            what = "Python objects (ragged or mixed data)" if host.dtype == object else f"dtype {host.dtype}"
            raise TypeError(f"{label}: got {what}; expected float or integer data")
        host = _data.to_device(backend, host, label, model.dtype, keep_host=True)
        _data.check_finite(backend, host, label)
        return host

    def _convert(self, raw, index):
        """Checks of one batch (on the prefetch thread): ``(xs, ys, sws)`` lists of host
        (or backend) arrays. Errors are ValueError/TypeError naming ``index``."""
        model = self.model
        where = f"{self.kind} batch {index}"
        xs, ys, sws = self._split(raw, index)
        if not self.targets:
            ys, sws = [], []
        xs = [self._element(a, f"{where}: x" if len(xs) == 1 else f"{where}: x[{i}]")
              for i, a in enumerate(xs)]
        model._check_input_shapes([tuple(a.shape) for a in xs], f"{where}: x")
        if self.targets and not ys and any(loss is not None for loss in self._losses or ()):
            raise ValueError(f"{where}: got inputs only; expected (x, y) or (x, y, sample_weight) "
                             "batches to train or evaluate a model with a loss")
        ys = [self._element(a, f"{where}: y" if len(ys) == 1 else f"{where}: y[{i}]")
              for i, a in enumerate(ys)]
        sws = [None if w is None else self._element(w, f"{where}: sample_weight") for w in sws]
        named = [(f"{where}: x[{i}]", a) for i, a in enumerate(xs)]
        named += [(f"{where}: y[{i}]", a) for i, a in enumerate(ys)]
        named += [(f"{where}: sample_weight[{i}]", w) for i, w in enumerate(sws) if w is not None]
        _data.check_lengths(named)
        for i, y in enumerate(ys):
            loss = self._losses[i] if self._losses and i < len(self._losses) else None
            if loss is not None and _data.is_numpy(y):
                _data.check_targets(model.backend, y, loss, self._out_shapes[i],
                                    f"{where}: y" if len(ys) == 1 else f"{where}: y[{i}]")
        return xs, ys, sws

    def _finish(self, item):
        """Converted lists -> Keras's batch tuple of device arrays (on the main thread)."""
        xs, ys, sws = item
        backend = self.model.backend
        dev = (lambda a: a if a is None or backend.is_array(a) or _data.is_text(a)
               else backend.from_numpy(a))
        return _data.pack_batch([dev(a) for a in xs], [dev(a) for a in ys], [dev(w) for w in sws])

    # ------------------------------------------------------------------ epochs
    def _start_pass(self, pairs=None):
        """A reader of a new pass (or of the rest of ``pairs``): on the prefetch thread when
        the source is slow or has several workers, else on this thread."""
        pairs = self._pairs() if pairs is None else pairs
        if not (self._slow or self.workers > 1):
            return _SyncReader(pairs, _keep)
        convert = self._convert if self.convert_on_thread else _keep
        return Prefetcher(pairs, convert, self.max_queue_size,
                          activate=self.model.backend.activate, name=self.kind)

    def on_epoch_begin(self):
        """Called before each epoch's first batch (PyDataset: its ``on_epoch_begin``)."""

    def on_epoch_end(self):
        """Called after each epoch's last batch (PyDataset: its ``on_epoch_end``)."""

    def _ran_out(self):
        warnings.warn(RAN_OUT_WARNING, stacklevel=4)
        if self.stop_on_ran_out:
            self.model.stop_training = True

    def __iter__(self):
        if not self._built:
            self.build()
        self.on_epoch_begin()
        steps = self.steps
        count = 0
        outcome = "error"
        try:
            started = False
            while steps is None or count < steps:
                if self._prefetcher is None:
                    self._prefetcher = self._start_pass()
                    started = True
                item = self._prefetcher.get()
                if item is _END:
                    self._prefetcher = None
                    if steps is not None and count == 0 and not started:
                        continue  # the last pass ended with the last epoch: a new pass
                    if steps is not None or count == 0:
                        self._ran_out()
                    break
                reader = self._prefetcher
                if isinstance(reader, _SyncReader) and reader.slow:
                    self._slow = True  # the rest of this pass, and later passes, on a thread
                    self._prefetcher = self._start_pass(reader.pairs)
                count += 1
                yield self._finish(item if self.convert_on_thread else self._convert(*item))
            outcome = "done"
        except GeneratorExit:  # the loop stopped early (stop_training, an error in a step)
            outcome = "abandoned"
            raise
        finally:
            self.last_count = count
            if outcome != "done" and self._prefetcher is not None:
                self._prefetcher.close()
                self._prefetcher = None
            if outcome != "error":
                self.on_epoch_end()

    def close(self):
        """Stop prefetching (fit, evaluate and predict call this when they are done)."""
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None


def _keep(raw, index):
    return raw, index


def _is_backend(model, a):
    return model.backend is not None and model.backend.is_array(a)


def _take_shard(pairs, rank, size):
    """Rank ``rank``'s pairs: batch ``rank`` of each group of ``size``; an empty batch (the
    group's first, cut to zero rows) when a last, short group has none for it."""
    group = []
    for pair in pairs:
        group.append(pair)
        if len(group) == size:
            yield group[rank]
            group = []
    if group:
        yield group[rank] if rank < len(group) else (group[0][0], empty_batch(group[0][1]))


def empty_batch(raw):
    """``raw`` (a batch: an array, or a tuple/list/dict of them, None kept) with zero rows."""
    if raw is None:
        return None
    if isinstance(raw, (tuple, list)):
        return type(raw)(empty_batch(a) for a in raw)
    if isinstance(raw, dict):
        return {k: empty_batch(v) for k, v in raw.items()}
    return raw[0:0]
