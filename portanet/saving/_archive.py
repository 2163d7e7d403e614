"""What writing and reading a portanet file share: the format constants, the error type,
JSON and npz encoding, the atomic write and the checked zip reader (``_Archive``)."""

import io
import json
import os
import tempfile
import zipfile
import zlib

from ..backend import host_io as _host_io

from ..backend.base import _np_dtype_name
from ..layers.base import Layer
from .safety import ModelFileError, SafeZip


FORMAT_NAME = "portanet.model"
FORMAT_VERSION = 1
# JSON members are small; a larger one is a damaged or hostile file, not a model.
_NUMERIC_KINDS = "fiub"



def _json_default(obj):
    value = _host_io.json_value(obj, _NUMERIC_KINDS)
    if _host_io.is_json_value(value):
        return value
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} {obj!r} is not JSON-serializable")


def _dumps(obj, what, filepath):
    try:
        return json.dumps(obj, default=_json_default, indent=1).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save {filepath!r}: the {what} is not JSON-serializable ({exc}); "
                         "custom objects need get_config() returning plain values") from None


def _npz_bytes(arrays):
    return _host_io.npz_bytes(arrays)


def _weight_dtype_name(variable):
    return _array_dtype_name(variable)


def _array_dtype_name(array):
    return _np_dtype_name(array.dtype)



def _check_target(filepath, overwrite, what):
    path = os.fspath(filepath)
    if not isinstance(path, str) or not path:
        raise TypeError(f"{what}: filepath={filepath!r}; expected a path string")
    if os.path.isdir(path):
        raise ValueError(f"{what}: filepath={path!r} is a directory; expected a file path")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{what}: {path!r} exists and overwrite=False")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{what}: folder {folder!r} does not exist")
    return path


def _atomic_write(path, members, compress_json_only=True, raw=False):
    """Write ``{name: bytes}`` as a zip to ``path`` (or, with ``raw=True``, ``members`` as the
    file's bytes): temp file, fsync, os.replace, fsync dir."""
    # Through a symbolic link, replace the file it points to, not the link.
    path = os.path.realpath(path)
    folder = os.path.dirname(path)
    mode = _file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            if raw:
                f.write(members)
            else:
                with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                    for name, data in members.items():
                        deflate = name.endswith(".json") or not compress_json_only
                        compress = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
                        zf.writestr(name, data, compress_type=compress)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _file_mode(path):
    """The permissions the saved file gets: those of the file it replaces, else what a plain
    open() would give (mkstemp alone would make it owner-only)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        pass
    try:
        with open("/proc/self/status") as f:   # reading the umask without changing it (Linux)
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder):
    # Makes the rename itself durable; not possible on every platform (e.g. Windows).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _is_model(obj):
    """A portanet model, by duck typing: a Layer with the training API (saving sits left of
    models and never imports them; Sequential and Functional reach it through the layer
    registry, where portanet.models registers them)."""
    return isinstance(obj, Layer) and callable(getattr(obj, "fit", None)) \
        and callable(getattr(obj, "get_compile_config", None))



class _Archive(SafeZip):
    """A validated view of a portanet zip: the checks of every zip portanet reads (``SafeZip``:
    member names, sizes, decompression bombs), then portanet's own; every failure becomes one
    ModelFileError."""

    def __init__(self, path):
        if os.path.isdir(path):
            raise ModelFileError(f"cannot load {path!r}: it is a directory, not a portanet model file")
        super().__init__(path)
        # A portanet file starts with its first member. Cut short, the file can still end in
        # the central directory of the .npz stored inside it, which zipfile then reads as if
        # it were the whole archive, starting part-way into the file.
        infos = self.zip.infolist()
        if not infos or min(i.header_offset for i in infos) != 0:
            self.zip.close()
            raise self.error("not a valid zip archive of a portanet file (its directory is missing or "
                             "does not start at the beginning); the file is truncated, corrupted or "
                             "not a portanet model file")
        if "metadata.json" not in self.names:
            self.zip.close()
            raise self.error(f"it has no 'metadata.json' (members: {sorted(self.names)[:8]}); it is "
                             "not a portanet model file")

    def error(self, what):
        return ModelFileError(f"cannot load {self.path!r}: {what}")

    def arrays(self, name, expected, exact_dtype=True):
        """Read ``{key: (shape, dtype name, label)}`` from an .npz member, checking each header
        before reading any data; returns {key: host array}."""
        try:
            inner = zipfile.ZipFile(io.BytesIO(self.read(name)), "r")
        except zipfile.BadZipFile as exc:
            raise self.error(f"member {name!r} is not a valid .npz archive ({exc})") from None
        with inner:
            present = {n[:-4] for n in inner.namelist() if n.endswith(".npy")}
            missing = [k for k in expected if k not in present]
            if missing:
                label = expected[missing[0]][2]
                raise self.error(f"{name} lacks array {missing[0]!r} ({label}); it holds "
                                 f"{len(present)} arrays, the architecture needs {len(expected)}")
            extra = sorted(present - set(expected))
            if extra:
                raise self.error(f"{name} holds {len(present)} arrays; the architecture needs "
                                 f"{len(expected)} (unexpected: {extra[:5]})")
            for key, (shape, dtype, label) in expected.items():
                header_shape, header_dtype = self._header(inner, name, key)
                self._check_array(name, key, label, header_shape, header_dtype, shape, dtype, exact_dtype)
            out = {}
            for key, (shape, dtype, label) in expected.items():
                try:
                    with inner.open(key + ".npy") as f:
                        arr = _host_io.read_npy(f)
                except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                    raise self.error(f"{name}: array {key!r} ({label}) cannot be read ({exc})") from None
                self._check_array(name, key, label, arr.shape, arr.dtype, shape, dtype, exact_dtype)
                out[key] = arr
            return out

    def _header(self, inner, name, key):
        try:
            with inner.open(key + ".npy") as f:
                shape, dtype = _host_io.read_npy_header(f)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError) as exc:
            raise self.error(f"{name}: array {key!r} has an unreadable header ({exc})") from None
        return tuple(shape), dtype

    def _check_array(self, name, key, label, got_shape, got_dtype, shape, dtype, exact_dtype):
        got_dtype = _host_io.dtype(got_dtype)
        if got_dtype.hasobject or got_dtype.kind not in _NUMERIC_KINDS or got_dtype.fields:
            raise self.error(f"{name}: array {key!r} ({label}) has dtype {got_dtype}; only numeric "
                             "arrays are accepted (pickled Python objects are refused)")
        if tuple(got_shape) != tuple(shape):
            raise self.error(f"{name}: array {key!r} ({label}) has shape {tuple(got_shape)}; the "
                             f"architecture expects {tuple(shape)}")
        if exact_dtype and dtype is not None and got_dtype.name != dtype:
            raise self.error(f"{name}: array {key!r} ({label}) has dtype {got_dtype.name}; the "
                             f"architecture expects {dtype}")
        if not exact_dtype and dtype is not None and _host_io.dtype(dtype).kind == "f" and got_dtype.kind != "f":
            raise self.error(f"{name}: array {key!r} ({label}) has dtype {got_dtype.name}; expected floats")


def _check_metadata(archive, kinds):
    meta = archive.json("metadata.json")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise archive.error(f"metadata.json does not describe a {FORMAT_NAME!r} file")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise archive.error(f"format_version {version!r} is not supported by this portanet "
                            f"(it reads versions 1 to {FORMAT_VERSION}); upgrade portanet")
    if meta.get("kind") not in kinds:
        raise archive.error(f"it is a {meta.get('kind')!r} file; expected {' or '.join(kinds)}")
    return meta


def _resolve_path(filepath, what):
    try:
        path = os.fspath(filepath)
    except TypeError:
        raise TypeError(f"{what}: filepath={filepath!r}; expected a path string") from None
    if not isinstance(path, str):
        raise TypeError(f"{what}: filepath={filepath!r}; expected a path string")
    return path
