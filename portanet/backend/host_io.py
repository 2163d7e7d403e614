"""Host arrays in files: NumPy's .npy/.npz format for portanet's model files, and the file
listing and seeded shuffle of the directory datasets.

Saving builds and reads the archive; what it needs of NumPy itself (the .npy header, the
array reader with ``allow_pickle=False``, dtype objects, contiguous host copies, JSON
values of NumPy scalars) lives here, in the package that knows the array library.
``pn.utils.image_dataset_from_directory`` and ``text_dataset_from_directory`` list files and
shuffle them with Keras's order and seeds through ``list_files`` / ``seeded_shuffle``.
"""

import io
import os

import numpy as np

__all__ = ["contiguous", "dtype", "json_value", "npz_bytes", "read_npy", "read_npy_header", "list_files",
           "seeded_shuffle", "random_seed"]

_NOT_NUMPY = object()


def contiguous(a):
    """A C-contiguous host NumPy array of ``a`` (a host array or anything np.asarray takes);
    a 0-d array stays 0-d (np.ascontiguousarray would make it 1-d)."""
    a = np.asarray(a)
    return a if a.flags["C_CONTIGUOUS"] else np.ascontiguousarray(a)


def dtype(value):
    """NumPy's dtype object for a dtype name or object (``.kind``, ``.name``, ``.fields``)."""
    return np.dtype(value)


def json_value(obj, numeric_kinds="fiub"):
    """The JSON value of a NumPy scalar or numeric array, or ``None`` when ``obj`` is
    neither (the caller's JSON encoder then decides)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) and obj.dtype.kind in numeric_kinds:
        return obj.tolist()
    return _NOT_NUMPY


def is_json_value(value):
    return value is not _NOT_NUMPY


def npz_bytes(arrays):
    """The bytes of an uncompressed .npz holding ``arrays`` (a dict of host arrays)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_npy(f):
    """One array from an open .npy stream; pickled objects are refused."""
    return np.lib.format.read_array(f, allow_pickle=False)


def read_npy_header(f):
    """``(shape, dtype)`` from an open .npy stream's header, without reading the data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, kind = np.lib.format.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        shape, _, kind = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    return tuple(shape), kind


# ----------------------------------------------------------------------------- directories
def list_files(directory, extensions, follow_links=False):
    """Files under ``directory`` whose names end with one of ``extensions`` (case-insensitive),
    walked recursively in Keras's order (``dataset_utils.iter_valid_files``: folders sorted,
    then file names)."""
    found = []
    for root, _dirs, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda w: w[0]):
        for name in sorted(files):
            if name.lower().endswith(tuple(extensions)):
                found.append(os.path.join(root, name))
    return found


def seeded_shuffle(items, seed):
    """``items`` as a new list in the order ``np.random.RandomState(seed).shuffle`` gives, as
    Keras's ``index_directory`` (the same seed gives Keras's order)."""
    items = list(items)
    np.random.RandomState(seed).shuffle(items)
    return items


def random_seed():
    """A seed as Keras draws one when none is given: ``np.random.randint(1e6)``."""
    return int(np.random.randint(1000000))

