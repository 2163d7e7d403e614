"""The checks every Keras-format file passes before anything in it is used.

- ``SafeZip``: a ``.keras`` zip whose members have relative, normalised names (no absolute
  paths, no ``..``, no backslashes or drive letters), whose sizes are bounded (each member,
  the total, and the compression ratio) so a decompression bomb is refused from the zip's
  directory before anything is inflated, and whose reads stop at the declared size.
- ``check_config``: a model or compile configuration is refused before it is deserialized
  when it names a class outside Keras's own modules that is not a registered custom
  object (portanet never imports a module named in a file: the route of CVE-2025-1550),
  a function outside Keras's activation and loss modules, anything that would switch off
  safe mode (``safe_mode`` keys, ``enable_unsafe_deserialization``: CVE-2025-9906's route),
  or a Python lambda stored as bytecode (Keras's ``__lambda__``), with the reason.

Class names are then resolved by ``deserialize_keras_object``, through portanet's
registries only.
"""

import json
import posixpath
import zipfile
import zlib

from ..naming import CUSTOM_OBJECTS, _scoped_objects


class ModelFileError(ValueError):
    """A model or weights file that cannot be read: truncated, corrupted or not portanet's."""

MAX_MEMBER_BYTES = 8 * 1024 ** 3        # one member, uncompressed
MAX_TOTAL_BYTES = 16 * 1024 ** 3        # all members, uncompressed
MAX_JSON_BYTES = 256 * 1024 ** 2        # config.json / metadata.json
MAX_RATIO = 200                         # uncompressed / compressed, for members over 1 MiB
MAX_MEMBERS = 100_000

# Modules a Keras 3 config may name: Keras's public and internal module paths of the kinds
# portanet resolves through its registries.
_KERAS_KINDS = ("layers", "models", "losses", "metrics", "optimizers", "initializers",
                "regularizers", "constraints", "activations", "dtype_policies",
                "ops")  # ops: functional operations (x + y), resolved among portanet.ops.ALL only
_REFUSED_FUNCTIONS = {"enable_unsafe_deserialization", "disable_safe_mode"}


def _error(path, what):
    return ModelFileError(f"cannot load {path!r}: {what}")


def check_member_name(name, path):
    """Refuse zip member names that could leave the archive's folder when extracted."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or \
            (len(name) > 1 and name[1] == ":"):
        raise _error(path, f"zip member {name!r} has an absolute or non-portable path; refused")
    parts = name.split("/")
    if any(p == ".." for p in parts) or posixpath.normpath(name).startswith(".."):
        raise _error(path, f"zip member {name!r} climbs out of the archive ('..'); refused")


class SafeZip:
    """A model zip (``.keras``, and ``.portanet`` through ``_archive._Archive``), checked as it
    is opened (see the module docstring)."""

    def __init__(self, path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path, "r")
        except FileNotFoundError:
            raise _error(path, "no such file") from None
        except IsADirectoryError:
            raise _error(path, "it is a directory, not a model file") from None
        except zipfile.BadZipFile as exc:
            raise _error(path, f"not a valid zip archive ({exc}); the file is truncated, corrupted "
                               "or not a model file") from None
        except OSError as exc:
            raise _error(path, f"cannot be read ({exc})") from None
        try:
            self._check()
        except BaseException:
            self.zip.close()
            raise

    def _check(self):
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _error(self.path, f"it has {len(infos)} members; more than {MAX_MEMBERS} is refused")
        total = 0
        self.infos = {}
        for info in infos:
            check_member_name(info.filename, self.path)
            if info.file_size > MAX_MEMBER_BYTES:
                raise _error(self.path, f"zip member {info.filename!r} claims {info.file_size} bytes "
                                        f"uncompressed (limit {MAX_MEMBER_BYTES}); refused before inflating")
            if info.file_size > 2 ** 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise _error(self.path, f"zip member {info.filename!r} inflates {info.compress_size} bytes "
                                        f"to {info.file_size} (ratio over {MAX_RATIO}): a decompression "
                                        "bomb; refused before inflating")
            total += info.file_size
            if info.filename in self.infos:
                raise _error(self.path, f"zip member {info.filename!r} appears twice; refused")
            self.infos[info.filename] = info
        if total > MAX_TOTAL_BYTES:
            raise _error(self.path, f"its members claim {total} bytes uncompressed (limit "
                                    f"{MAX_TOTAL_BYTES}); refused before inflating")
        self.names = set(self.infos)

    def close(self):
        self.zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self, name, limit=None):
        """A member's bytes; reading stops at the declared size (a lying header fails)."""
        if name not in self.names:
            raise _error(self.path, f"it has no {name!r} (members: {sorted(self.names)[:8]})")
        info = self.infos[name]
        size = info.file_size
        if limit is not None and size > limit:
            raise _error(self.path, f"member {name!r} claims {size} bytes; the limit is {limit}")
        try:
            with self.zip.open(info, "r") as f:
                data = f.read(size + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise _error(self.path, f"member {name!r} is corrupted ({exc})") from None
        if len(data) != size:
            raise _error(self.path, f"member {name!r} holds {len(data)} bytes, its header says {size}")
        return data

    def json(self, name):
        data = self.read(name, limit=MAX_JSON_BYTES)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise _error(self.path, f"member {name!r} is not valid JSON ({exc})") from None


def _custom_names():
    names = set(CUSTOM_OBJECTS)
    for scope in _scoped_objects():
        names.update(scope)
    return names


def _keras_module(module):
    if module in ("keras", "keras.models", "keras.src.models") or module is None:
        return True
    if not isinstance(module, str):
        return False
    for kind in _KERAS_KINDS:
        for prefix in (f"keras.{kind}", f"keras.src.{kind}", f"keras.src.legacy.{kind}"):
            if module == prefix or module.startswith(prefix + "."):
                return True
    return False


def _function_module(module):
    if module is None:
        return True
    return isinstance(module, str) and any(
        module == p or module.startswith(p + ".") for p in
        ("keras.activations", "keras.src.activations", "keras.losses", "keras.src.losses"))


def check_config(config, path, _depth=0):
    """Refuse a configuration that names code outside Keras's registries (see the module
    docstring). Walks every nested dict and list."""
    if _depth > 200:
        raise _error(path, "its configuration nests deeper than 200 levels; refused")
    if isinstance(config, list):
        for item in config:
            check_config(item, path, _depth + 1)
        return
    if not isinstance(config, dict):
        return
    for key in config:
        if key == "safe_mode":
            raise _error(path, "its configuration sets 'safe_mode'; a file cannot switch safe loading "
                               "off (refused)")
    class_name = config.get("class_name")
    if isinstance(class_name, str):
        module = config.get("module")
        registered = config.get("registered_name")
        custom = _custom_names()
        if class_name == "__lambda__":
            raise _error(path, "it holds a Python lambda saved as bytecode ('__lambda__'); loading it "
                               "would run code from the file, so it is refused. Rebuild the Lambda "
                               "layer with a function registered with "
                               "pn.saving.register_serializable and pass it as custom_objects")
        if class_name == "function":
            name = config.get("config")
            if name in _REFUSED_FUNCTIONS or registered in _REFUSED_FUNCTIONS:
                raise _error(path, f"its configuration calls {name!r}; a file cannot switch safe "
                                   "loading off (refused)")
            if not (_function_module(module) or registered in custom or name in custom):
                raise _error(path, f"it names the function {name!r} of module {module!r}; only Keras's "
                                   "activations and losses and registered custom functions are "
                                   "resolved (portanet never imports a module named in a file)")
        elif not _keras_module(module) and class_name not in custom and registered not in custom:
            raise _error(path, f"it names class {class_name!r} of module {module!r}, which is neither "
                               "a Keras class nor a registered custom object; portanet never imports "
                               "a module named in a file (register the class with "
                               "pn.saving.register_serializable or pass custom_objects)")
    for value in config.values():
        if isinstance(value, (dict, list)):
            check_config(value, path, _depth + 1)
