"""Model files: safe, atomic save and load.

A portanet file is one zip archive:

    metadata.json   {"format": "portanet.model", "format_version": 1, "kind": "model" or
                     "weights", "portanet_version", "backend" (saved on), "date_saved",
                     "weights": [{"key", "path", "shape", "dtype"}, ...]}
    config.json     {"class_name", "config", "build_input_shapes"}: the architecture
                     (model files only; Keras's get_config layout)
    compile.json    {"compile_config", "optimizer": {"class_name", "config"},
                     "optimizer_state": {"iterations", "variables", "slots", ...}} or null
    weights.npz     one array per entry of ``model.weights``, in that order ("w00000", ...)
    optimizer.npz   the optimizer's slot arrays ("s00000_momentum", ...)

Writing builds every byte in memory first, writes a temporary file in the target's folder,
flushes and fsyncs it, renames it over the target with ``os.replace`` (atomic) and fsyncs
the folder: a crash or kill at any moment leaves either the old file or the new one.

Loading never imports a module or evaluates anything named in the file: class names are
looked up in portanet's registries and in the classes the user registered
(``register_serializable``) or passed as ``custom_objects``. Arrays are read with
``allow_pickle=False`` after their headers are checked (numeric dtypes only, and the shape
and dtype the architecture expects), before any weight is assigned. Anything wrong with a
file (truncated, corrupted, bad JSON, unknown class, wrong shapes) raises one
``ValueError`` naming the file and the problem.
"""

import datetime
import io
import json
import os
import tempfile
import warnings
import zipfile
import zlib

import numpy as np

from .version import __version__
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from .backend.base import _np_dtype_name
from .layers.base import Layer
from .naming import CUSTOM_OBJECTS, custom_object_scope, register_serializable
from .serialization import deserialize_keras_object, serialize_keras_object

FORMAT_NAME = "portanet.model"
FORMAT_VERSION = 1
# JSON members are small; a larger one is a damaged or hostile file, not a model.
_MAX_JSON_BYTES = 256 * 1024 * 1024
_NUMERIC_KINDS = "fiub"

register_keras_serializable = register_serializable

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "restore_training_state",
           "register_serializable", "register_keras_serializable", "custom_object_scope",
           "get_custom_objects", "ModelFileError", "serialize_keras_object", "deserialize_keras_object"]


class ModelFileError(ValueError):
    """A model or weights file that cannot be read: truncated, corrupted or not portanet's."""


def get_custom_objects():
    """The dict of user-registered classes and functions (as keras.saving.get_custom_objects)."""
    return CUSTOM_OBJECTS


# ---------------------------------------------------------------------- writing
def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) and obj.dtype.kind in _NUMERIC_KINDS:
        return obj.tolist()
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
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _weight_dtype_name(variable):
    return _array_dtype_name(variable)


def _array_dtype_name(array):
    return _np_dtype_name(array.dtype)


def _collect_weights(model):
    arrays, manifest = {}, []
    for i, v in enumerate(model.weights):
        key = f"w{i:05d}"
        host = np.ascontiguousarray(v.numpy())
        arrays[key] = host
        manifest.append({"key": key, "path": v.path, "shape": list(host.shape), "dtype": host.dtype.name})
    return arrays, manifest


def _metadata(model, kind, manifest):
    backend = getattr(model, "backend", None)
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind,
            "portanet_version": __version__,
            "backend": getattr(backend, "name", None),
            "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "model_class": type(model).__name__, "weights": manifest,
            "layers": [{"name": layer.name, "count": len(layer.weights)} for layer in model.layers]}


def _optimizer_payload(model):
    """(compile.json dict or None, optimizer arrays) for a compiled model."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None, {}
    opt = model.optimizer
    info = {"compile_config": model.get_compile_config(), "optimizer": _optimizers.serialize(opt),
            "optimizer_state": None}
    state = opt.get_state()
    index_of = {id(v): i for i, v in enumerate(model.weights)}
    variables = list(opt.variables)
    if any(id(v) not in index_of for v in variables):
        warnings.warn(f"save_model: the optimizer of {model.name!r} tracks variables that are not the "
                      "model's weights; its state (slots) is not saved, only its configuration",
                      stacklevel=3)
        return info, {}
    arrays = {}
    slot_names = []
    for i, slots in enumerate(state.get("slots", [])):
        names = sorted(slots)
        slot_names.append(names)
        for name in names:
            arrays[f"s{i:05d}_{name}"] = np.ascontiguousarray(np.asarray(slots[name]))
    extra = {k: v for k, v in state.items() if k not in ("slots", "iterations")}
    info["optimizer_state"] = {"iterations": int(state.get("iterations", 0)),
                               "variables": [index_of[id(v)] for v in variables],
                               "slots": slot_names, "extra": extra}
    return info, arrays


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


def _atomic_write(path, members):
    """Write ``{name: bytes}`` as a zip to ``path``: temp file, fsync, os.replace, fsync dir."""
    # Through a symbolic link, replace the file it points to, not the link.
    path = os.path.realpath(path)
    folder = os.path.dirname(path)
    mode = _file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, data in members.items():
                    compress = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
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


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Save architecture, weights, compile configuration and optimizer state to one file.

    Args:
        model: a built Sequential or functional model.
        filepath: the file to write (any extension; ".portanet" by convention).
        overwrite: replace an existing file (False raises FileExistsError).
        include_optimizer: also save the optimizer's slots and iteration count, so that a
            loaded model continues training exactly where this one stops.
    """
    if not _is_model(model):
        raise TypeError(f"save_model: expected a portanet Model; got {type(model).__name__}")
    path = _check_target(filepath, overwrite, "save_model")
    if not model.built:
        raise ValueError(f"save_model: model {model.name!r} is not built yet; call it on data, "
                         "build(input_shape) it or give it a pn.Input first")
    config = _layers.serialize(model)
    try:
        config["build_input_shapes"] = [list(s) for s in model.input_shapes]
    except (ValueError, NotImplementedError):
        config["build_input_shapes"] = None
    weights, manifest = _collect_weights(model)
    members = {"metadata.json": _dumps(_metadata(model, "model", manifest), "metadata", path),
               "config.json": _dumps(config, "model configuration", path)}
    opt_info, opt_arrays = (_optimizer_payload(model) if include_optimizer
                            else (None, {}))
    if opt_info is None and getattr(model, "compiled", False):
            opt_info = {"compile_config": model.get_compile_config(),
                    "optimizer": _optimizers.serialize(model.optimizer), "optimizer_state": None}
    members["compile.json"] = _dumps(opt_info, "compile configuration", path)
    members["weights.npz"] = _npz_bytes(weights)
    if opt_arrays:
        members["optimizer.npz"] = _npz_bytes(opt_arrays)
    _atomic_write(path, members)


def save_weights(model, filepath, overwrite=True):
    """Save only the weights (``model.weights`` order) to one file, atomically."""
    path = _check_target(filepath, overwrite, "save_weights")
    if not model.built:
        raise ValueError(f"save_weights: model {model.name!r} is not built yet; it has no weights")
    weights, manifest = _collect_weights(model)
    meta = _metadata(model, "weights", manifest)
    _atomic_write(path, {"metadata.json": _dumps(meta, "metadata", path),
                         "weights.npz": _npz_bytes(weights)})


# ---------------------------------------------------------------------- reading
class _Archive:
    """A validated view of a portanet zip: every failure becomes one ModelFileError."""

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path):
            raise ModelFileError(f"cannot load {path!r}: no such file")
        if os.path.isdir(path):
            raise ModelFileError(f"cannot load {path!r}: it is a directory, not a portanet model file")
        try:
            self.zip = zipfile.ZipFile(path, "r")
        except zipfile.BadZipFile as exc:
            raise self.error(f"not a valid zip archive ({exc}); the file is truncated, corrupted or "
                             "not a portanet model file") from None
        except OSError as exc:
            raise self.error(f"cannot be read ({exc})") from None
        self.names = set(self.zip.namelist())
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

    def close(self):
        self.zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self, name):
        if name not in self.names:
            raise self.error(f"it has no {name!r} (members: {sorted(self.names)})")
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise self.error(f"member {name!r} is corrupted ({exc})") from None

    def json(self, name):
        info = self.zip.getinfo(name) if name in self.names else None
        if info is not None and info.file_size > _MAX_JSON_BYTES:
            raise self.error(f"member {name!r} claims {info.file_size} bytes; too large for JSON")
        data = self.read(name)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise self.error(f"member {name!r} is not valid JSON ({exc})") from None

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
                self._check(name, key, label, header_shape, header_dtype, shape, dtype, exact_dtype)
            out = {}
            for key, (shape, dtype, label) in expected.items():
                try:
                    with inner.open(key + ".npy") as f:
                        arr = np.lib.format.read_array(f, allow_pickle=False)
                except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                    raise self.error(f"{name}: array {key!r} ({label}) cannot be read ({exc})") from None
                self._check(name, key, label, arr.shape, arr.dtype, shape, dtype, exact_dtype)
                out[key] = arr
            return out

    def _header(self, inner, name, key):
        try:
            with inner.open(key + ".npy") as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError) as exc:
            raise self.error(f"{name}: array {key!r} has an unreadable header ({exc})") from None
        return tuple(shape), dtype

    def _check(self, name, key, label, got_shape, got_dtype, shape, dtype, exact_dtype):
        got_dtype = np.dtype(got_dtype)
        if got_dtype.hasobject or got_dtype.kind not in _NUMERIC_KINDS or got_dtype.fields:
            raise self.error(f"{name}: array {key!r} ({label}) has dtype {got_dtype}; only numeric "
                             "arrays are accepted (pickled Python objects are refused)")
        if tuple(got_shape) != tuple(shape):
            raise self.error(f"{name}: array {key!r} ({label}) has shape {tuple(got_shape)}; the "
                             f"architecture expects {tuple(shape)}")
        if exact_dtype and dtype is not None and got_dtype.name != dtype:
            raise self.error(f"{name}: array {key!r} ({label}) has dtype {got_dtype.name}; the "
                             f"architecture expects {dtype}")
        if not exact_dtype and dtype is not None and np.dtype(dtype).kind == "f" and got_dtype.kind != "f":
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


def _expected_weights(model):
    return {f"w{i:05d}": (v.shape, _weight_dtype_name(v), f"weight {v.path!r}")
            for i, v in enumerate(model.weights)}


def _assign_all(model, arrays):
    """Assign after every array has passed its checks, so a bad file changes nothing."""
    for i, v in enumerate(model.weights):
        v.assign(arrays[f"w{i:05d}"])


def _build_model(archive, config):
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise archive.error("config.json must hold a dict with 'class_name' and 'config'")
    try:
        model = _layers.deserialize({"class_name": config["class_name"], "config": config.get("config")})
    except Exception as exc:  # any failure to rebuild means the file does not describe a valid model
        raise archive.error(f"config.json describes an architecture portanet cannot rebuild: {exc}") from exc
    if not _is_model(model):
        raise archive.error(f"config.json describes a {type(model).__name__}, not a model")
    shapes = config.get("build_input_shapes")
    if not model.built:
        if not shapes:
            raise archive.error("config.json holds an unbuilt model without build_input_shapes")
        try:
            shapes = [tuple(s) for s in shapes]
            model.build(shapes[0] if len(shapes) == 1 else shapes)
        except Exception as exc:
            raise archive.error(f"the architecture cannot be built for input shapes {shapes}: {exc}") from exc
    return model


def _deserialize_spec(spec, module):
    """Compile specs from compile.json back to objects; a {"class_name", "config"} dict is
    one object, any other dict maps output names to specs."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        if "class_name" in spec and "config" in spec:
            return module.deserialize(spec)
        return {k: _deserialize_spec(v, module) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_deserialize_spec(v, module) for v in spec]
    raise ValueError(f"cannot read compile setting {spec!r}")


def _compile_from(archive, model, info):
    cc = info.get("compile_config") or {}
    if not isinstance(cc, dict):
        raise archive.error("compile.json: compile_config must be a dict")
    try:
        optimizer = _optimizers.deserialize(info.get("optimizer") or cc.get("optimizer"))
        model.compile(optimizer=optimizer,
                      loss=_deserialize_spec(cc.get("loss"), _losses),
                      loss_weights=cc.get("loss_weights"),
                      metrics=_deserialize_spec(cc.get("metrics"), _metrics),
                      weighted_metrics=_deserialize_spec(cc.get("weighted_metrics"), _metrics))
    except Exception as exc:
        raise archive.error(f"compile.json cannot be applied: {exc}") from exc


def _read_optimizer_state(archive, model, state):
    """Checked optimizer state for ``model.optimizer`` (host arrays), or None if the file has none."""
    if not state:
        return None
    if not isinstance(state, dict):
        raise archive.error("compile.json: optimizer_state must be a dict")
    weights = model.weights
    indices = state.get("variables", [])
    slot_names = state.get("slots", [])
    iterations = state.get("iterations", 0)
    if (not isinstance(indices, list) or not isinstance(slot_names, list) or len(indices) != len(slot_names)
            or not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0):
        raise archive.error("compile.json: optimizer_state is malformed")
    for i in indices:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(weights):
            raise archive.error(f"compile.json: optimizer variable index {i!r} is not a weight of the model")
    variables = [weights[i] for i in indices]
    result = {"iterations": iterations, "variables": variables, "slots": [], "extra": state.get("extra") or {}}
    if not variables:
        return result
    opt = model.optimizer
    # Fresh slots give the shapes and dtypes the file must match (without touching ``opt``,
    # which must stay as it is if the file is refused).
    make = getattr(opt, "_new_slots", None) or opt._make_slots
    expected = {}
    for i, (v, names) in enumerate(zip(variables, slot_names)):
        fresh = make(v)
        if not isinstance(names, list) or sorted(names) != sorted(fresh):
            raise archive.error(f"compile.json: the optimizer state of {v.path!r} has slots {names}; "
                                f"{type(opt).__name__} keeps {sorted(fresh)}")
        for name in names:
            expected[f"s{i:05d}_{name}"] = (tuple(fresh[name].shape), _array_dtype_name(fresh[name]),
                                           f"slot {name!r} of {v.path!r}")
    # Optimizers without slots (plain SGD) leave nothing to read.
    arrays = archive.arrays("optimizer.npz", expected) if expected else {}
    result["slots"] = [{name: arrays[f"s{i:05d}_{name}"] for name in names}
                       for i, names in enumerate(slot_names)]
    return result


def _apply_optimizer_state(model, state):
    if state is None:
        return
    opt = model.optimizer
    full = dict(state["extra"]) if isinstance(state["extra"], dict) else {}
    full.update({"iterations": state["iterations"], "slots": state["slots"]})
    if state["variables"]:
        opt.set_state(full, state["variables"])
    else:
        opt.iterations = state["iterations"]


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved by ``model.save``/``save_model``, on the active backend.

    Args:
        filepath: the file.
        custom_objects: ``{name: class or function}`` for user classes named in the file
            (besides those registered with ``register_serializable``).
        compile: recompile with the saved settings and restore the optimizer state, so
            training continues exactly as the saved model would have.
        safe_mode: accepted for Keras compatibility; loading is always safe (nothing named in
            the file is imported or evaluated).

    Returns:
        The model. Raises ValueError naming the file if it is missing, truncated, corrupted
        or inconsistent with its own architecture.
    """
    path = _resolve_path(filepath, "load_model")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: custom_objects={custom_objects!r}; expected a dict")
    with _Archive(path) as archive:
        _check_metadata(archive, ("model",))
        config = archive.json("config.json")
        info = archive.json("compile.json") if "compile.json" in archive.names else None
        if info is not None and not isinstance(info, dict):
            raise archive.error("compile.json must hold a dict or null")
        with custom_object_scope(custom_objects or {}):
            model = _build_model(archive, config)
            arrays = archive.arrays("weights.npz", _expected_weights(model))
            state = None
            if compile and info and info.get("compile_config") is not None:
                _compile_from(archive, model, info)
                state = _read_optimizer_state(archive, model, info.get("optimizer_state"))
        _assign_all(model, arrays)
        _apply_optimizer_state(model, state)
    return model


def load_weights(model, filepath, skip_mismatch=False):
    """Load weights saved by ``save_weights`` (or taken from a model file) into ``model``.

    Weights are matched by position (``model.weights`` order) and must have the same shapes;
    float weights are cast to the model's dtype. With ``skip_mismatch=True`` (as Keras) the
    weights are matched layer by layer and a layer whose weights do not fit is left
    unchanged with a warning instead of raising.
    """
    path = _resolve_path(filepath, "load_weights")
    if not model.built:
        raise ValueError(f"load_weights: build model {model.name!r} first (call it on data or give it "
                         "a pn.Input) so its weights exist")
    with _Archive(path) as archive:
        meta = _check_metadata(archive, ("weights", "model"))
        manifest = meta.get("weights")
        if not isinstance(manifest, list) or not all(isinstance(m, dict) for m in manifest):
            raise archive.error("metadata.json has no valid weights manifest")
        weights = model.weights
        if not skip_mismatch:
            if len(manifest) != len(weights):
                raise archive.error(f"it holds {len(manifest)} weights; model {model.name!r} has "
                                    f"{len(weights)} (use skip_mismatch=True to load what fits)")
            expected = {f"w{i:05d}": (v.shape, _weight_dtype_name(v), f"weight {v.path!r}")
                        for i, v in enumerate(weights)}
            arrays = archive.arrays("weights.npz", expected, exact_dtype=False)
            _assign_all(model, arrays)
            return
        _load_matching(archive, model, manifest, meta.get("layers"))


def _load_matching(archive, model, manifest, layer_counts=None):
    """skip_mismatch: match the file's weights to the model's layer by layer, in order."""
    shapes = []
    for m in manifest:
        shape, key = m.get("shape"), m.get("key")
        if not isinstance(shape, list) or not isinstance(key, str):
            raise archive.error("metadata.json: malformed weights manifest entry")
        shapes.append((key, tuple(shape), m.get("dtype"), m.get("path", key)))
    # The file's weights grouped as its layers held them: by the saved per-layer counts, or
    # else by the "layer/..." prefixes of the weight paths.
    groups = []
    counts = None
    if isinstance(layer_counts, list) and all(isinstance(c, dict) and isinstance(c.get("count"), int)
                                              for c in layer_counts):
        counts = [(str(c.get("name")), c["count"]) for c in layer_counts if c["count"] > 0]
        if sum(n for _, n in counts) != len(shapes) or any(n < 0 for _, n in counts):
            counts = None
    if counts is not None:
        start = 0
        for layer, n in counts:
            groups.append((layer, shapes[start:start + n]))
            start += n
    else:
        for key, shape, dtype, wpath in shapes:
            layer = str(wpath).split("/")[0]
            if groups and groups[-1][0] == layer:
                groups[-1][1].append((key, shape, dtype, wpath))
            else:
                groups.append((layer, [(key, shape, dtype, wpath)]))
    targets = [layer for layer in model.layers if layer.weights]
    expected, pairs = {}, []
    for i, layer in enumerate(targets):
        if i >= len(groups):
            warnings.warn(f"load_weights: the file has no weights for layer {layer.name!r}; it is left "
                          "unchanged", stacklevel=3)
            continue
        _, group = groups[i]
        mine = layer.weights
        if len(group) != len(mine) or any(s != v.shape for (_, s, _, _), v in zip(group, mine)):
            warnings.warn(f"load_weights: skipping layer {layer.name!r}: the file has weights of shapes "
                          f"{[s for _, s, _, _ in group]}, the layer {[v.shape for v in mine]}", stacklevel=3)
            continue
        for (key, shape, _, wpath), v in zip(group, mine):
            expected[key] = (shape, _weight_dtype_name(v), f"weight {wpath!r}")
            pairs.append((key, v))
    if len(groups) > len(targets):
        warnings.warn(f"load_weights: the file has {len(groups) - len(targets)} more layer(s) with "
                      "weights than the model; they are ignored", stacklevel=3)
    if not expected:
        return
    # Read only the arrays that are used; the others need not be checked against the model.
    arrays = _read_subset(archive, expected)
    for key, v in pairs:
        v.assign(arrays[key])


def _read_subset(archive, expected):
    try:
        inner = zipfile.ZipFile(io.BytesIO(archive.read("weights.npz")), "r")
    except zipfile.BadZipFile as exc:
        raise archive.error(f"member 'weights.npz' is not a valid .npz archive ({exc})") from None
    with inner:
        out = {}
        present = {n[:-4] for n in inner.namelist() if n.endswith(".npy")}
        for key, (shape, dtype, label) in expected.items():
            if key not in present:
                raise archive.error(f"weights.npz lacks array {key!r} ({label})")
            hs, hd = archive._header(inner, "weights.npz", key)
            archive._check("weights.npz", key, label, hs, hd, shape, dtype, False)
            try:
                with inner.open(key + ".npy") as f:
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise archive.error(f"weights.npz: array {key!r} cannot be read ({exc})") from None
        return out


def restore_training_state(model, filepath):
    """Load weights and optimizer state (slots, iterations) from a model file into an
    existing compiled model of the same architecture, e.g. to resume after a crash.

    Returns the file's metadata dict. Raises ValueError naming the file if it does not
    fit the model (weight shapes, dtypes or optimizer slots).
    """
    path = _resolve_path(filepath, "restore_training_state")
    if not getattr(model, "compiled", False):
        raise ValueError(f"restore_training_state: compile model {model.name!r} first; the optimizer "
                         "state is restored into its optimizer")
    if not model.built:
        raise ValueError(f"restore_training_state: build model {model.name!r} first")
    with _Archive(path) as archive:
        meta = _check_metadata(archive, ("model",))
        info = archive.json("compile.json") if "compile.json" in archive.names else None
        arrays = archive.arrays("weights.npz", _expected_weights(model))
        state = None
        if isinstance(info, dict) and info.get("optimizer_state"):
            saved_class = (info.get("optimizer") or {}).get("class_name")
            if saved_class is not None and saved_class != type(model.optimizer).__name__:
                raise archive.error(f"its optimizer state is for {saved_class}; the model uses "
                                    f"{type(model.optimizer).__name__}")
            state = _read_optimizer_state(archive, model, info["optimizer_state"])
        _assign_all(model, arrays)
        _apply_optimizer_state(model, state)
        # A rate changed during training (ReduceLROnPlateau...) is optimizer state, as in Keras.
        saved_lr = _saved_learning_rate(info)
        if (state is not None and isinstance(saved_lr, (int, float)) and not isinstance(saved_lr, bool)
                and not callable(model.optimizer._learning_rate)):
            model.optimizer.learning_rate = float(saved_lr)
    return meta


def _saved_learning_rate(info):
    optimizer = info.get("optimizer") if isinstance(info, dict) else None
    config = optimizer.get("config") if isinstance(optimizer, dict) else None
    return config.get("learning_rate") if isinstance(config, dict) else None
