"""Model files: Keras's own formats and portanet's, safe and atomic.

The extension decides the format, as in Keras's ``saving_api`` (``api.py``):

- ``.keras``: Keras 3's zip (``metadata.json``, ``config.json`` in Keras's serialized form
  with ``compile_config``, ``model.weights.h5`` laid out by Keras's ``_save_state`` walk,
  ``assets/``), read and written by ``keras_format.py``. Keras opens portanet's files and
  portanet opens Keras's, optimizer state included (iterations, learning rate, slots in
  the order each Keras optimizer's ``build()`` creates them).
- ``.weights.h5``: Keras 3's weights-only HDF5 (the same walk; a compiled model's file
  carries its optimizer too, as Keras's does).
- ``.h5`` / ``.hdf5``: Keras 2's legacy HDF5 (``legacy_h5.py``): read (full models and
  weights) and written as Keras 3's ``legacy_h5_format`` writes it.
- ``.portanet``: portanet's own zip (``writing.py``, ``loading.py``, ``_archive.py``):

    metadata.json   {"format": "portanet.model", "format_version": 1, "kind": "model" or
                     "weights", "portanet_version", "backend" (saved on), "date_saved",
                     "weights": [{"key", "path", "shape", "dtype"}, ...]}
    config.json     {"class_name", "config", "build_input_shapes"}: the architecture
    compile.json    {"compile_config", "optimizer", "optimizer_state"} or null
    weights.npz     one array per entry of ``model.weights``, in that order ("w00000", ...)
    optimizer.npz   the optimizer's slot arrays ("s00000_momentum", ...)

Any other extension is refused, with the choices, before anything is written or read.

Writing builds every byte in memory first, writes a temporary file in the target's folder,
flushes and fsyncs it, renames it over the target with ``os.replace`` (atomic) and fsyncs
the folder: a crash or kill at any moment leaves either the old file or the new one.

Loading never imports a module or evaluates anything named in a file (``safety.py``):
class names resolve only through portanet's registries and the classes the user
registered (``register_serializable``) or passes as ``custom_objects``; a configuration
naming a class or function outside Keras's modules, switching safe mode off, or holding a
Lambda's bytecode is refused; HDF5 external links, soft links, external storage, virtual
datasets and non-numeric datasets are refused (``backend/host_h5.py``); zip members with
absolute or ``..`` paths, oversized members and decompression bombs are refused before
anything is inflated; every array's shape and dtype is checked against the architecture
before the first weight is assigned. Anything wrong raises one ``ValueError``
(``ModelFileError``) naming the file and the problem. h5py (a dependency, as for Keras)
is imported on first use.
"""

from ..naming import CUSTOM_OBJECTS, custom_object_scope, register_serializable
from ..naming import _scoped_objects
from ..serialization import deserialize_keras_object, serialize_keras_object
from ._archive import FORMAT_NAME, FORMAT_VERSION, ModelFileError  # noqa: F401 - the format's name
from .api import load_model, load_weights, restore_training_state, save_model, save_weights
from .file_editor import KerasFileEditor

register_keras_serializable = register_serializable

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "restore_training_state",
           "register_serializable", "register_keras_serializable", "custom_object_scope",
           "get_custom_objects", "ModelFileError", "KerasFileEditor", "serialize_keras_object", "deserialize_keras_object"]


def get_custom_objects():
    """The dict of user-registered classes and functions (as keras.saving.get_custom_objects)."""
    return CUSTOM_OBJECTS


class CustomObjectScope:
    """``with CustomObjectScope({"name": obj}):`` makes the objects resolvable by name while
    deserializing inside the block (Keras's ``keras.saving.CustomObjectScope``; the same
    scope as ``custom_object_scope``). ``custom_objects`` may be None (an empty scope)."""

    def __init__(self, custom_objects):
        self.custom_objects = custom_objects or {}
        self._scope = None

    def __enter__(self):
        self._scope = custom_object_scope(self.custom_objects)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        scope, self._scope = self._scope, None
        return scope.__exit__(*exc)


def get_registered_name(obj):
    """The name ``obj`` was registered under (``"package>name"``) by
    ``register_keras_serializable``, else its ``__name__`` (as Keras)."""
    name = vars(obj).get("_registered_name") if hasattr(obj, "__dict__") else None
    return name if name is not None and CUSTOM_OBJECTS.get(name) is obj else obj.__name__


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered as ``name``, looked up as Keras does: the active
    ``custom_object_scope`` blocks (innermost first), the registered objects,
    ``custom_objects``, then ``module_objects``; None when none has it."""
    for scope in reversed(_scoped_objects()):
        if name in scope:
            return scope[name]
    if name in CUSTOM_OBJECTS:
        return CUSTOM_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


__all__ += ["CustomObjectScope", "get_registered_name", "get_registered_object"]
