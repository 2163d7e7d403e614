"""HDF5 files through h5py: the weights store of Keras 3's ``.keras`` and ``.weights.h5``
files and Keras 2's legacy ``.h5``.

Everything here that touches h5py or NumPy is host-side file work, so it lives in the
backend package (the only place NumPy may be imported). h5py is imported on first use, so
``import portanet`` does not load it; where it is missing the error names it.

Reading is defensive (``H5Reader``): before any data is read the whole file is walked once
and refused if it holds anything that could reach outside it or is not plain numeric data:
external links, soft links, external storage, virtual datasets, non-numeric datasets, more
than ``max_objects`` objects or groups nested deeper than ``max_depth``. Datasets are then
read one at a time, each checked against the shape and dtype the caller expects first.
"""

import io

import numpy as np

__all__ = ["H5Error", "H5Reader", "h5_bytes", "host_array", "require_h5py", "scalar"]

_NUMERIC_KINDS = "fiub"


class H5Error(ValueError):
    """An HDF5 file that is refused: not HDF5, damaged, or holding something unsafe."""


def require_h5py():
    """The h5py module, or an ImportError saying how to get it."""
    try:
        import h5py  # optional at import time: loaded only when an .h5/.keras file is used
    except ImportError as exc:  # pragma: no cover - h5py is a dependency; this is the fallback
        raise ImportError("reading or writing Keras's .keras, .weights.h5 and .h5 files needs the "
                          "'h5py' package (what Keras itself uses); install it with "
                          "`pip install h5py` (it is a dependency of portanet: reinstall portanet)"
                          ) from exc
    return h5py


def _decode(value):
    """An HDF5 attribute as plain Python: str for strings, lists for arrays, numbers."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SOU":
            return [_decode(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class H5Reader:
    """A checked, read-only view of an HDF5 file (a path or bytes).

    Args:
        source: a file path, or the file's bytes.
        label: how the file is named in errors.
        max_objects: the most groups + datasets the file may hold.
        max_depth: the deepest group nesting accepted.
    """

    def __init__(self, source, label, max_objects=200_000, max_depth=64):
        h5py = require_h5py()
        self.label = label
        self._io = None
        try:
            if isinstance(source, (bytes, bytearray)):
                self._io = io.BytesIO(source)
                self.file = h5py.File(self._io, "r")
            else:
                self.file = h5py.File(source, "r")
        except (OSError, ValueError) as exc:
            raise H5Error(f"{label} is not a readable HDF5 file ({exc}); it is truncated, corrupted "
                          "or not an HDF5 file") from None
        try:
            self.paths = {}
            self._scan(h5py, max_objects, max_depth)
        except BaseException:
            self.close()
            raise

    def _scan(self, h5py, max_objects, max_depth):
        """Walk every link of the file (without following any) and refuse unsafe content."""
        stack = [("", self.file, 0)]
        count = 0
        while stack:
            prefix, group, depth = stack.pop()
            if depth > max_depth:
                raise H5Error(f"{self.label}: groups nested deeper than {max_depth} levels at {prefix!r}")
            try:
                names = list(group.keys())
            except (OSError, RuntimeError, KeyError) as exc:
                raise H5Error(f"{self.label}: group {prefix or '/'!r} cannot be read ({exc})") from None
            for name in names:
                path = f"{prefix}/{name}" if prefix else name
                count += 1
                if count > max_objects:
                    raise H5Error(f"{self.label}: holds more than {max_objects} objects; refused")
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise H5Error(f"{self.label}: {path!r} is an external link to "
                                  f"{link.filename!r}:{link.path!r}; links out of the file are refused")
                if isinstance(link, h5py.SoftLink):
                    raise H5Error(f"{self.label}: {path!r} is a soft link to {link.path!r}; links are "
                                  "refused (Keras never writes them)")
                if not isinstance(link, h5py.HardLink):
                    raise H5Error(f"{self.label}: {path!r} is a {type(link).__name__}; refused")
                try:
                    obj = group[name]
                except (OSError, KeyError, RuntimeError) as exc:
                    raise H5Error(f"{self.label}: object {path!r} cannot be read ({exc})") from None
                if isinstance(obj, h5py.Group):
                    self.paths[path] = "group"
                    stack.append((path, obj, depth + 1))
                elif isinstance(obj, h5py.Dataset):
                    self._check_dataset(path, obj)
                    self.paths[path] = "dataset"
                else:
                    raise H5Error(f"{self.label}: {path!r} is a {type(obj).__name__}; refused")

    def _check_dataset(self, path, ds):
        if ds.is_virtual:
            raise H5Error(f"{self.label}: dataset {path!r} is a virtual dataset (its data lives in "
                          "other files); refused")
        if ds.external:
            files = [e[0] for e in ds.external]
            raise H5Error(f"{self.label}: dataset {path!r} keeps its data in external file(s) "
                          f"{files[:3]}; refused")
        dt = ds.dtype
        if dt.hasobject or dt.kind not in _NUMERIC_KINDS or dt.fields or dt.subdtype:
            raise H5Error(f"{self.label}: dataset {path!r} has dtype {dt}; only numeric arrays are "
                          "accepted")

    # ------------------------------------------------------------------ queries
    def close(self):
        try:
            self.file.close()
        except Exception:  # noqa: BLE001 - closing a damaged file must not hide the first error
            pass
        if self._io is not None:
            self._io.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def is_group(self, path):
        return path == "" or self.paths.get(path) == "group"

    def is_dataset(self, path):
        return self.paths.get(path) == "dataset"

    def children(self, path):
        """The names directly under the group ``path`` ("" is the root), sorted as h5py sorts."""
        if not self.is_group(path):
            return []
        group = self.file if not path else self.file[path]
        return list(group.keys())

    def info(self, path):
        """``(shape, dtype name)`` of a dataset, without reading it."""
        ds = self.file[path]
        return tuple(ds.shape), ds.dtype.name

    def attrs(self, path=""):
        """The attributes of a group or dataset, decoded to plain Python values."""
        obj = self.file if not path else self.file[path]
        out = {}
        for key in obj.attrs.keys():
            try:
                out[key] = _decode(obj.attrs[key])
            except (OSError, TypeError, ValueError) as exc:
                raise H5Error(f"{self.label}: attribute {key!r} of {path or '/'!r} cannot be read "
                              f"({exc})") from None
        return out

    def read(self, path, shape=None, float_only=False):
        """A dataset as a host NumPy array, its shape checked against ``shape`` first."""
        if not self.is_dataset(path):
            raise H5Error(f"{self.label}: has no dataset {path!r}")
        got_shape, got_dtype = self.info(path)
        if shape is not None and tuple(got_shape) != tuple(shape):
            raise H5Error(f"{self.label}: dataset {path!r} has shape {got_shape}; expected {tuple(shape)}")
        if float_only and np.dtype(got_dtype).kind != "f":
            raise H5Error(f"{self.label}: dataset {path!r} has dtype {got_dtype}; expected floats")
        try:
            return np.asarray(self.file[path][()])
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            raise H5Error(f"{self.label}: dataset {path!r} cannot be read ({exc})") from None


def host_array(a):
    """A C-ordered host NumPy array of ``a``, keeping its shape (0-d stays 0-d)."""
    return np.asarray(a, order="C")


def scalar(value, dtype):
    """A 0-d host array of ``value`` as ``dtype`` (Keras's scalar optimizer variables)."""
    return np.asarray(value, dtype=dtype)


def h5_bytes(groups, root_attrs=None):
    """The bytes of an HDF5 file holding ``groups``.

    Args:
        groups: a list of ``(group path, attrs dict, [(dataset name, host array), ...])`` in
            the order to create them ("" is the root group).
        root_attrs: attributes of the root group (strings, numbers, lists of strings).
    """
    h5py = require_h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for key, value in (root_attrs or {}).items():
            f.attrs[key] = _attr_value(value)
        for path, attrs, datasets in groups:
            group = f if not path else (f[path] if path in f else f.create_group(path))
            for key, value in (attrs or {}).items():
                group.attrs[key] = _attr_value(value)
            for name, array in datasets:
                group.create_dataset(name, data=np.asarray(array))
    return buffer.getvalue()


def _attr_value(value):
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return np.array([v.encode("utf-8") for v in value], dtype="S") if value else np.array([], dtype="S1")
    return value
