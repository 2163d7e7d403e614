"""Which format a path gets, decided by its extension as Keras's ``saving_api`` decides it.

=====================  =====================================================  ===========
extension              format                                                 written by
=====================  =====================================================  ===========
``.keras``             Keras 3's zip (config.json, model.weights.h5, ...)      save
``.weights.h5``        Keras 3's weights-only HDF5                             save_weights
``.h5`` / ``.hdf5``    Keras 2's legacy HDF5 (full model or weights)           save
``.portanet``          portanet's own zip (config.json, weights.npz, ...)      both
=====================  =====================================================  ===========

Any other path is refused with a ValueError listing the choices, before anything is
written or read.
"""

import os
import warnings

from . import keras_format as _keras
from . import legacy_h5 as _legacy
from . import loading as _loading
from . import writing as _writing
from ._archive import _check_target, _is_model, _resolve_path

_MODEL_CHOICES = ("'.keras' (Keras 3's format, recommended), '.h5' (legacy Keras 2 HDF5) or "
                  "'.portanet' (portanet's own format)")
_WEIGHTS_CHOICES = ("'.weights.h5' (Keras 3's weights file), '.portanet' (portanet's own "
                    "format), or to load also '.keras' and legacy '.h5'")


def _path(filepath, what):
    path = _resolve_path(filepath, what)
    if not path:
        raise ValueError(f"{what}: filepath={filepath!r}; expected a path ending in an extension")
    return path


def _model_format(path, what):
    low = path.lower()
    if low.endswith(".portanet"):
        return "portanet"
    if low.endswith(".keras"):
        return "keras"
    if low.endswith((".h5", ".hdf5")):
        return "legacy"
    raise ValueError(f"{what}: filepath={path!r} has no model file extension portanet knows; "
                     f"expected one ending in {_MODEL_CHOICES}")


def _check_model(model, what):
    if not _is_model(model):
        raise TypeError(f"{what}: expected a portanet Model; got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"{what}: model {model.name!r} is not built yet; call it on data, "
                         "build(input_shape) it or give it a pn.Input first")


def save_model(model, filepath, overwrite=True, include_optimizer=True, zipped=None, **kwargs):
    """Save a model; the extension picks the format (see the module docstring).

    Args:
        model: a built portanet model.
        filepath: ``*.keras``, ``*.h5`` / ``*.hdf5`` or ``*.portanet``.
        overwrite: replace an existing file (False raises FileExistsError).
        include_optimizer: also save the optimizer's state (iterations, learning rate,
            slots), so training resumes where it stopped.
        zipped: accepted for Keras compatibility; ``.keras`` files are always zipped.
    """
    if kwargs:
        raise TypeError(f"save_model: unexpected keyword argument(s) {sorted(kwargs)}")
    path = _path(filepath, "save_model")
    fmt = _model_format(path, "save_model")
    if zipped is False:
        raise ValueError("save_model: zipped=False (an unzipped folder) is not supported; "
                         "expected None or True")
    _check_model(model, "save_model")
    if fmt == "portanet":
        return _writing.save_model(model, path, overwrite=overwrite, include_optimizer=include_optimizer)
    path = _check_target(path, overwrite, "save_model")
    if fmt == "keras":
        return _keras.save_keras(model, path, include_optimizer=include_optimizer)
    warnings.warn("save_model: you are saving the model as a legacy HDF5 file (.h5); the '.keras' "
                  "format is recommended (as Keras says)", stacklevel=3)
    return _legacy.save_legacy(model, path, include_optimizer=include_optimizer)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model; the extension picks the format (``.keras``, ``.h5``, ``.portanet``).

    Args:
        filepath: the file.
        custom_objects: ``{name: class or function}`` for user classes named in the file
            (besides those registered with ``register_serializable``).
        compile: recompile with the saved settings and restore the optimizer state.
        safe_mode: must be True (the default). Loading is always safe: nothing named in the
            file is imported or run, and Lambda layers holding bytecode are refused; passing
            False raises instead of silently loading unsafely.

    Raises:
        ValueError (``ModelFileError``) naming the file and the problem.
    """
    if safe_mode is not True:
        raise ValueError(f"load_model: safe_mode={safe_mode!r}; portanet loads only in safe mode "
                         "(it never runs code stored in a file); expected True")
    path = _path(filepath, "load_model")
    fmt = _model_format(path, "load_model")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: custom_objects={custom_objects!r}; expected a dict")
    if fmt == "portanet":
        return _loading.load_model(path, custom_objects=custom_objects, compile=compile)
    if fmt == "keras":
        return _keras.load_keras(path, custom_objects=custom_objects, compile=compile)
    return _legacy.load_legacy(path, custom_objects=custom_objects, compile=compile)


def save_weights(model, filepath, overwrite=True, max_shard_size=None):
    """Save the weights alone: ``*.weights.h5`` (Keras 3's layout) or ``*.portanet``."""
    path = _path(filepath, "save_weights")
    low = path.lower()
    if max_shard_size is not None:
        raise ValueError(f"save_weights: max_shard_size={max_shard_size!r}; sharded weights files "
                         "are not supported, expected None")
    if low.endswith(".portanet"):
        return _writing.save_weights(model, path, overwrite=overwrite)
    if not low.endswith(".weights.h5"):
        raise ValueError(f"save_weights: filepath={path!r}; the filename must end in {_WEIGHTS_CHOICES}")
    if not getattr(model, "built", False):
        raise ValueError(f"save_weights: model {model.name!r} is not built yet; it has no weights")
    path = _check_target(path, overwrite, "save_weights")
    _keras.save_weights_h5(model, path)


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """Load weights into a built ``model`` from ``*.weights.h5``, ``*.keras``, legacy
    ``*.h5`` or ``*.portanet``; matched by Keras's walk of the model, never by names."""
    if kwargs:
        raise TypeError(f"load_weights: unexpected keyword argument(s) {sorted(kwargs)}")
    path = _path(filepath, "load_weights")
    low = path.lower()
    if not (low.endswith((".portanet", ".keras", ".h5", ".hdf5"))):
        raise ValueError(f"load_weights: filepath={path!r}; expected a file ending in {_WEIGHTS_CHOICES}")
    if not getattr(model, "built", False):
        raise ValueError(f"load_weights: build model {model.name!r} first (call it on data or give it "
                         "a pn.Input) so its weights exist")
    if low.endswith(".portanet"):
        return _loading.load_weights(model, path, skip_mismatch=skip_mismatch)
    if not os.path.exists(path):
        raise _keras._error(path, "no such file")
    if low.endswith((".keras", ".weights.h5")):
        warn = (lambda msg: warnings.warn(f"load_weights: {msg}", stacklevel=4)) if skip_mismatch else None
        return _keras.load_weights_h5(model, path, skip_mismatch=skip_mismatch, warn=warn)
    return _legacy.load_weights_legacy(model, path, skip_mismatch=skip_mismatch)


def restore_training_state(model, filepath):
    """Load weights and optimizer state (iterations, learning rate, slots) from a model
    file (``.portanet`` or Keras 3's ``.keras``) into an existing compiled model of the same
    architecture, e.g. to resume after a crash or to continue a Keras run.

    Returns the file's metadata dict. Raises ValueError naming the file if it does not fit.
    """
    path = _path(filepath, "restore_training_state")
    if not getattr(model, "compiled", False):
        raise ValueError(f"restore_training_state: compile model {model.name!r} first; the optimizer "
                         "state is restored into its optimizer")
    if not model.built:
        raise ValueError(f"restore_training_state: build model {model.name!r} first")
    if path.lower().endswith(".keras"):
        return _keras.restore_keras(model, path)
    return _loading.restore_training_state(model, path)
