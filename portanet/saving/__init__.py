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

The code: ``writing.py`` (save), ``loading.py`` (load, restore), ``_archive.py`` (what
both share). Loading never imports a module or evaluates anything named in the file: class names are
looked up in portanet's registries and in the classes the user registered
(``register_serializable``) or passed as ``custom_objects``. Arrays are read with
``allow_pickle=False`` after their headers are checked (numeric dtypes only, and the shape
and dtype the architecture expects), before any weight is assigned. Anything wrong with a
file (truncated, corrupted, bad JSON, unknown class, wrong shapes) raises one
``ValueError`` naming the file and the problem.
"""

from ..naming import CUSTOM_OBJECTS, custom_object_scope, register_serializable
from ..serialization import deserialize_keras_object, serialize_keras_object
from ._archive import FORMAT_NAME, FORMAT_VERSION, ModelFileError  # noqa: F401 - the format's name
from .api import load_model, load_weights, restore_training_state, save_model, save_weights

register_keras_serializable = register_serializable

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "restore_training_state",
           "register_serializable", "register_keras_serializable", "custom_object_scope",
           "get_custom_objects", "ModelFileError", "serialize_keras_object", "deserialize_keras_object"]


def get_custom_objects():
    """The dict of user-registered classes and functions (as keras.saving.get_custom_objects)."""
    return CUSTOM_OBJECTS
