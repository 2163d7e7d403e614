"""``keras.utils.timeseries_dataset_from_array`` and ``keras.utils.split_dataset``, returning
portanet datasets that ``fit``/``evaluate``/``predict`` accept (``PyDataset`` subclasses of
host-array batches) where Keras returns a ``tf.data.Dataset``.

The batches are host arrays taken from the given data (``portanet.data`` does the gathering,
so this module imports no NumPy); ``fit`` moves each batch to the device as it reads it.
"""

import math
import numbers
import os
import random

from ..backend import host_io as _host_io
from ..data import as_host, host_take
from ..training.py_dataset_adapter import PyDataset


def _check_batch_size(batch_size, owner):
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size <= 0):
        raise ValueError(f"{owner}: batch_size={batch_size!r}; expected a positive integer or None")


class ArrayDataset(PyDataset):
    """Rows of host arrays served in batches: what ``split_dataset`` returns.

    Iterating (or ``ds[i]``) gives batch ``i`` with the structure of the data: one array,
    or a tuple/list of arrays (``(x, y)`` trains with ``fit(ds)``). ``len(ds)`` is the
    number of batches; ``num_samples`` the number of rows; ``arrays`` all rows;
    ``batch(n)`` the same rows in batches of ``n`` (``None``: one row at a time, without a
    batch axis, as an unbatched ``tf.data.Dataset`` iterates).

    Args:
        arrays: an array, or a tuple/list of arrays with the same number of rows.
        batch_size: rows per batch (default 32, fit's default), or None.
    """

    def __init__(self, arrays, batch_size=32, **kwargs):
        super().__init__(**kwargs)
        _check_batch_size(batch_size, "ArrayDataset")
        self._structure = type(arrays) if isinstance(arrays, (tuple, list)) else None
        self._parts = [as_host(a) for a in arrays] if self._structure else [as_host(arrays)]
        lengths = {int(p.shape[0]) for p in self._parts}
        if len(lengths) != 1:
            raise ValueError(f"ArrayDataset: the arrays have different numbers of rows: "
                             f"{[int(p.shape[0]) for p in self._parts]}")
        self.num_samples = lengths.pop()
        self.batch_size = batch_size

    @property
    def arrays(self):
        """All rows, with the data's structure."""
        return self._pack(self._parts)

    def batch(self, batch_size):
        """The same rows in batches of ``batch_size`` (a new dataset)."""
        return ArrayDataset(self.arrays, batch_size=batch_size, workers=self._workers,
                            use_multiprocessing=self._use_multiprocessing,
                            max_queue_size=self._max_queue_size)

    def _pack(self, parts):
        return self._structure(parts) if self._structure else parts[0]

    def __len__(self):
        if self.batch_size is None:
            return self.num_samples
        return math.ceil(self.num_samples / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"ArrayDataset: batch index {index} out of range [0, {len(self)})")
        if self.batch_size is None:
            return self._pack([p[index] for p in self._parts])
        rows = list(range(index * self.batch_size, min((index + 1) * self.batch_size, self.num_samples)))
        return self._pack([host_take(p, rows) for p in self._parts])


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None,
                  preferred_backend=None):
    """Split rows into a left and a right ``ArrayDataset`` (e.g. train / test), as Keras.

    Args:
        dataset: an array, or a tuple/list of arrays with the same number of rows (an
            ``ArrayDataset`` is split by its rows too).
        left_size: an int (rows) or a float in (0, 1) (fraction, rounded); default: the
            complement of ``right_size``.
        right_size: likewise; default: the complement of ``left_size``. When both are given
            and do not add up to the length, the rows between them are left out.
        shuffle: shuffle the rows first, as Keras: Python's ``random`` seeded with ``seed``
            shuffles the list of rows, so the order is Keras's for the same seed.
        seed: the shuffle's seed (default a random one).
        preferred_backend: accepted for Keras compatibility; ignored.

    Returns:
        ``(left, right)``: two ``ArrayDataset`` (batches of 32 for ``fit``; ``.arrays`` gives
        the rows; ``.batch(n)`` rebatches).
    """
    del preferred_backend
    if isinstance(dataset, ArrayDataset):
        dataset = dataset.arrays
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    structure = type(dataset) if isinstance(dataset, (tuple, list)) else None
    parts = [as_host(a) for a in dataset] if structure else [as_host(dataset)]
    if not parts or any(getattr(p, "ndim", 0) == 0 for p in parts):
        raise TypeError(f"split_dataset: dataset must be an array or a tuple/list of arrays with a "
                        f"leading rows axis; got {type(dataset).__name__}")
    total = int(parts[0].shape[0])
    if any(int(p.shape[0]) != total for p in parts):
        raise ValueError(f"split_dataset: the arrays have different numbers of rows: "
                         f"{[int(p.shape[0]) for p in parts]}")
    left, right = _rescale_split_sizes(left_size, right_size, total)
    order = list(range(total))
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(order)
    left_rows, right_rows = order[:left], order[total - right:]

    def make(rows):
        taken = [host_take(p, rows) for p in parts]
        return ArrayDataset(structure(taken) if structure else taken[0])
    return make(left_rows), make(right_rows)


def _rescale_split_sizes(left_size, right_size, total_length):
    """Keras's ``_rescale_dataset_split_sizes``: the two sizes as ints, checked."""
    left_type, right_type = type(left_size), type(right_size)
    if left_size is not None and left_type not in (int, float):
        raise TypeError(f"Invalid `left_size` Type. Expected: int or float or None, Received: "
                        f"type(left_size)={left_type}.")
    if right_size is not None and right_type not in (int, float):
        raise TypeError(f"Invalid `right_size` Type. Expected: int or float or None, Received: "
                        f"type(right_size)={right_type}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the split "
                         "sizes must be non-zero.")
    if (left_type is int and (left_size <= 0 or left_size >= total_length)
            or left_type is float and (left_size <= 0 or left_size >= 1)):
        raise ValueError(f"`left_size` should be either a positive integer smaller than {total_length}, "
                         f"or a float within the range `[0, 1]`. Received: left_size={left_size}")
    if (right_type is int and (right_size <= 0 or right_size >= total_length)
            or right_type is float and (right_size <= 0 or right_size >= 1)):
        raise ValueError(f"`right_size` should be either a positive integer and smaller than "
                         f"{total_length} or a float within the range `[0, 1]`. Received: "
                         f"right_size={right_size}")
    if left_type is float and right_type is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must be "
                         "less than or equal to 1.")
    left = round(left_size * total_length) if left_type is float else left_size
    right = round(right_size * total_length) if right_type is float else right_size
    if left is None:
        left = total_length - right
    elif right is None:
        right = total_length - left
    if left + right > total_length:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total_length}. Received: left_size + right_size = {left + right}"
                         f"and total_length = {total_length}")
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(f"With `dataset` of length={total_length}, `left_size`={left} and "
                             f"`right_size`={right}.Resulting {side} side dataset split will be "
                             "empty. Adjust any of the aforementioned parameters")
    return int(left), int(right)


class TimeseriesDataset(PyDataset):
    """Sliding windows over a host array, in batches: what
    ``timeseries_dataset_from_array`` returns. ``ds[i]`` is batch ``i``: ``windows`` of shape
    ``(batch, sequence_length) + data.shape[1:]``, or ``(windows, targets)``. ``len(ds)``
    is the number of batches; ``start_positions`` the windows' first rows (relative to
    ``start_index``), in serving order."""

    def __init__(self, data, targets, start_positions, start_index, sequence_length,
                 sampling_rate, batch_size, **kwargs):
        super().__init__(**kwargs)
        self._data, self._targets = data, targets
        self.start_positions = start_positions
        self._start_index = start_index
        self.sequence_length, self.sampling_rate = sequence_length, sampling_rate
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.start_positions)
        return math.ceil(len(self.start_positions) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"TimeseriesDataset: batch index {index} out of range [0, {len(self)})")
        size = 1 if self.batch_size is None else self.batch_size
        starts = [self._start_index + p for p in self.start_positions[index * size:(index + 1) * size]]
        rows = [s + k * self.sampling_rate for s in starts for k in range(self.sequence_length)]
        windows = host_take(self._data, rows).reshape(
            (len(starts), self.sequence_length) + tuple(self._data.shape[1:]))
        targets = None if self._targets is None else host_take(self._targets, starts)
        if self.batch_size is None:
            windows = windows[0]
            targets = None if targets is None else targets[0]
        return windows if targets is None else (windows, targets)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None, format="tf"):
    """Windows over a timeseries, in batches, as Keras 3.

    Window ``i`` holds rows ``start_index + p_i + k * sampling_rate`` for ``k`` in
    ``range(sequence_length)``, with ``p_i = i * sequence_stride``; its target is
    ``targets[start_index + p_i]``. The number of windows is
    ``end_index - start_index - (sequence_length - 1) * sampling_rate`` (at most
    ``len(targets)``) divided by the stride, rounded up.

    Args follow Keras: data (an array, rows = timesteps), targets (an array or None),
    sequence_length, sequence_stride, sampling_rate, batch_size (None: one window at a time,
    without a batch axis), shuffle (the windows' order, from Python's ``random`` seeded with
    ``seed``; Keras's order comes from TensorFlow's shuffle and so differs), seed,
    start_index, end_index (rows ``[start_index, end_index)`` are used; the checks and their
    messages are Keras's), format (accepted: "tf" or "grain", the result is the same).

    Returns:
        A ``TimeseriesDataset`` (a ``PyDataset``): ``fit(ds)`` trains on it; iterating gives
        ``(windows, targets)`` batches (``windows`` alone when ``targets`` is None).
    """
    data = as_host(data)
    if targets is not None:
        targets = as_host(targets)
    for name, value in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                        ("sampling_rate", sampling_rate)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"timeseries_dataset_from_array: {name}={value!r}; expected an integer")
    _check_batch_size(batch_size, "timeseries_dataset_from_array")
    if sequence_length <= 0:
        raise ValueError(f"`sequence_length` must be higher than 0. Received: "
                         f"sequence_length={sequence_length}")
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= len(data):
            raise ValueError(f"`start_index` must be lower than the length of the data. Received: "
                             f"start_index={start_index}, for data of length {len(data)}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index} ")
        if end_index >= len(data):
            raise ValueError(f"`end_index` must be lower than the length of the data. Received: "
                             f"end_index={end_index}, for data of length {len(data)}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be higher than 0. Received: sampling_rate={sampling_rate}")
    if sampling_rate >= len(data):
        raise ValueError(f"`sampling_rate` must be lower than the length of the data. Received: "
                         f"sampling_rate={sampling_rate}, for data of length {len(data)}")
    if sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be higher than 0. Received: "
                         f"sequence_stride={sequence_stride}")
    if sequence_stride >= len(data):
        raise ValueError(f"`sequence_stride` must be lower than the length of the data. Received: "
                         f"sequence_stride={sequence_stride}, for data of length {len(data)}")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    start_index = 0 if start_index is None else int(start_index)
    end_index = len(data) if end_index is None else int(end_index)
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    start_positions = list(range(0, max(num_seqs, 0), sequence_stride))
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(start_positions)
    return TimeseriesDataset(data, targets, start_positions, start_index, int(sequence_length),
                             int(sampling_rate), batch_size)


# ----------------------------------------------------------------------------- directories
def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True):
    """Keras's ``dataset_utils.index_directory``: ``(file paths, labels, class names)`` of the
    files under ``directory`` ending with one of ``formats``, in Keras's order (class folders
    sorted, files sorted, then its seeded shuffle), printing "Found N files belonging to C
    classes." as Keras does. ``labels``: "inferred" (one class a sub-folder), None, or a list
    with one label per file."""
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError("The `class_names` passed did not match the names of the "
                                 f"subdirectories of the target directory. Expected: {subdirs} "
                                 f"(or a subset of it), but received: class_names={class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            if labels is None:
                raise ValueError("When `labels=None` (no labels), argument `class_names` cannot be "
                                 "specified.")
            raise ValueError("When argument `labels` is specified, argument `class_names` cannot be "
                             "specified (the `class_names` will be the sorted list of labels).")
    paths, found = [], []
    for index, sub in enumerate(subdirs):
        part = _host_io.list_files(os.path.join(directory, sub), formats, follow_links)
        paths += part
        found += [index] * len(part)
    if labels == "inferred":
        labels, class_names = found, subdirs
    elif labels is None:
        class_names = None
    else:
        labels = list(labels)
        if len(labels) != len(paths):
            raise ValueError("Expected the lengths of `labels` to match the number of files in the "
                             f"target directory. len(labels) is {len(labels)} while we found "
                             f"{len(paths)} files in directory {directory}.")
        class_names = [str(label) for label in sorted(set(labels))]
    if verbose:
        if labels is None:
            print(f"Found {len(paths)} files.")
        else:
            print(f"Found {len(paths)} files belonging to {len(class_names)} classes.")
    if shuffle:
        if seed is None:
            seed = _host_io.random_seed()
        paths = _host_io.seeded_shuffle(paths, seed)
        if labels is not None:
            labels = _host_io.seeded_shuffle(labels, seed)
    return paths, labels, class_names


def check_validation_split_arg(validation_split, subset, shuffle, seed, owner="dataset_from_directory"):
    """Keras's checks of ``validation_split`` / ``subset`` / ``seed`` (its messages, prefixed
    with ``owner``)."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"{owner}: `validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(f"{owner}: If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'{owner}: `subset` must be either "training", "validation" or "both", '
                         f"received: {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{owner}: If using `validation_split` and shuffling the data, you must provide a "
                         "`seed` argument, to make sure that there is no overlap between the training and "
                         "validation subset.")


def get_training_or_validation_split(samples, labels, validation_split, subset, verbose=True):
    """Keras's split of indexed files: the last ``int(validation_split * n)`` are the
    validation subset, the rest the training subset ("Using N files for ...")."""
    if not validation_split:
        return samples, labels
    n_val = int(validation_split * len(samples))
    if subset == "training":
        if verbose:
            print(f"Using {len(samples) - n_val} files for training.")
        return samples[:len(samples) - n_val], None if labels is None else labels[:len(labels) - n_val]
    if subset == "validation":
        if verbose:
            print(f"Using {n_val} files for validation.")
        return samples[len(samples) - n_val:], None if labels is None else labels[len(labels) - n_val:]
    raise ValueError(f'`subset` must be either "training" or "validation", received: {subset!r}')



class FileDataset(PyDataset):
    """The batches of a ``*_dataset_from_directory``: files in a seeded order, read a batch at
    a time (``_batch(rows)``: the subclass reads the files of those rows), reshuffled after each
    epoch with ``shuffle``; iterable and ``map``-able like a ``tf.data.Dataset``."""

    def __init__(self, file_paths, labels, batch_size, shuffle, seed, class_names):
        super().__init__()
        self.file_paths = list(file_paths)
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.class_names = class_names
        self._order = list(range(len(self.file_paths)))
        self._epoch = 0

    def __len__(self):
        return math.ceil(len(self.file_paths) / (self.batch_size or 1))

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__}: batch {index} of {len(self)}")
        size = self.batch_size or 1
        return self._batch(self._order[index * size:(index + 1) * size])

    def _batch(self, rows):  # pragma: no cover - every subclass reads its own files
        raise TypeError(f"{type(self).__name__} must define _batch(rows)")

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def on_epoch_end(self):
        if self.shuffle:
            self._epoch += 1
            self._order = _host_io.seeded_shuffle(range(len(self.file_paths)), (self.seed or 0) + self._epoch)

    def map(self, fn):
        """A dataset of ``fn(*batch)`` (``fn(batch)`` when batches are the inputs alone)."""
        return MappedDataset(self, fn)


class MappedDataset(PyDataset):
    """``source.map(fn)``: each batch of ``source`` through ``fn``."""

    def __init__(self, source, fn):
        super().__init__()
        self.source, self.fn = source, fn
        self.class_names = getattr(source, "class_names", None)

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        batch = self.source[index]
        return self.fn(*batch) if isinstance(batch, tuple) else self.fn(batch)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def on_epoch_end(self):
        self.source.on_epoch_end()

    def map(self, fn):
        return MappedDataset(self, fn)
