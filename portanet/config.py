"""Global numeric configuration, as Keras's ``keras.config``.

``floatx`` is the default float dtype of weights and inputs ("float32"; "float64" for
gradient checks). ``epsilon`` is Keras's fuzz factor (1e-7) used by losses and optimizers.
"""

_FLOATX = "float32"
_EPSILON = 1e-7
_VALID_FLOATX = ("float16", "float32", "float64")


def floatx():
    """Return the default float type as a string, e.g. ``"float32"``."""
    return _FLOATX


def set_floatx(value):
    """Set the default float type: one of "float16", "float32", "float64"."""
    global _FLOATX
    if value not in _VALID_FLOATX:
        raise ValueError(f"set_floatx: value={value!r} is not a float type; expected one of {_VALID_FLOATX}")
    _FLOATX = str(value)


def epsilon():
    """Return the fuzz factor (Keras's ``backend.epsilon()``), 1e-7 by default."""
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    value = float(value)
    if not value > 0:
        raise ValueError(f"set_epsilon: value={value!r}; expected a positive float")
    _EPSILON = value


_IMAGE_DATA_FORMAT = "channels_last"
_VALID_FORMATS = ("channels_last", "channels_first")


def image_data_format():
    """The default image layout of ops and layers given ``data_format=None``:
    "channels_last" (Keras's default) or "channels_first"."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    """Set the default image layout: "channels_last" or "channels_first"."""
    global _IMAGE_DATA_FORMAT
    if data_format not in _VALID_FORMATS:
        raise ValueError(f"set_image_data_format: data_format={data_format!r}; expected one of {_VALID_FORMATS}")
    _IMAGE_DATA_FORMAT = str(data_format)


_FLASH_ATTENTION = None


def enable_flash_attention():
    """Accepted for Keras compatibility: portanet's attention has one implementation, so this
    only records the preference (``is_flash_attention_enabled`` reads it back)."""
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = True


def disable_flash_attention():
    """Record that flash attention is not wanted (see ``enable_flash_attention``)."""
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = False


def is_flash_attention_enabled():
    """The recorded preference: None (not set, Keras's default), True or False."""
    return _FLASH_ATTENTION


_TRACEBACK_FILTERING = True


def enable_traceback_filtering():
    """Accepted for Keras compatibility; portanet does not rewrite tracebacks."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = True


def disable_traceback_filtering():
    """Accepted for Keras compatibility; portanet does not rewrite tracebacks."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = False


def is_traceback_filtering_enabled():
    """The recorded traceback-filtering flag (portanet's tracebacks are never filtered)."""
    return _TRACEBACK_FILTERING


# ----------------------------------------------------------------------------- debugging caps
# As Keras: set_max_epochs / set_max_steps_per_epoch cap every fit (steps: also evaluate and
# predict) for quick debugging runs; KERAS_MAX_EPOCHS / KERAS_MAX_STEPS_PER_EPOCH (or the
# PORTANET_ names) set them without touching a script.
def _env_int(*names):
    for name in names:
        value = _os.environ.get(name)
        if value:
            return int(value)
    return None


import os as _os  # noqa: E402

_MAX_EPOCHS = _env_int("PORTANET_MAX_EPOCHS", "KERAS_MAX_EPOCHS")
_MAX_STEPS_PER_EPOCH = _env_int("PORTANET_MAX_STEPS_PER_EPOCH", "KERAS_MAX_STEPS_PER_EPOCH")


def max_epochs():
    """The cap on ``fit``'s epochs (None: no cap)."""
    return _MAX_EPOCHS


def set_max_epochs(max_epochs):
    """Cap the epochs of every ``fit`` (a debugging aid; None removes the cap)."""
    global _MAX_EPOCHS
    _MAX_EPOCHS = _check_cap(max_epochs, "set_max_epochs", "max_epochs")


def max_steps_per_epoch():
    """The cap on the steps of one epoch of ``fit`` / ``evaluate`` / ``predict`` (None: no cap)."""
    return _MAX_STEPS_PER_EPOCH


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap the steps of each epoch of ``fit`` (and of ``evaluate``/``predict``); None removes it."""
    global _MAX_STEPS_PER_EPOCH
    _MAX_STEPS_PER_EPOCH = _check_cap(max_steps_per_epoch, "set_max_steps_per_epoch", "max_steps_per_epoch")


def _check_cap(value, owner, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r}; expected a positive int or None")
    return value


# ----------------------------------------------------------------------------- safe mode
_UNSAFE_REQUESTED = False


def enable_unsafe_deserialization():
    """Keras's switch that lets files carry Python bytecode (Lambda layers). portanet never
    runs code from a file, so this only records the request and warns; loading a Lambda that
    holds bytecode still fails, with a message saying to register the function instead
    (``pn.saving.register_keras_serializable``)."""
    global _UNSAFE_REQUESTED
    import warnings
    _UNSAFE_REQUESTED = True
    warnings.warn("enable_unsafe_deserialization: portanet never deserializes Python bytecode (lambdas); "
                  "register the functions your Lambda layers use with pn.saving.register_keras_serializable",
                  stacklevel=2)


# ----------------------------------------------------------------------------- backend name
# portanet.backend registers how to read and set the active backend (it sits above this module).
_backend_hooks = {"name": None, "set": None}


def backend():
    """The active backend's name ("numpy", "array_api_strict" or "cupy"), as keras.config.backend()."""
    get = _backend_hooks["name"]
    return "numpy" if get is None else get()


def set_backend(backend):  # noqa: F811 - Keras's argument name
    """Switch portanet's active backend (``pn.set_backend``)."""
    setter = _backend_hooks["set"]
    if setter is None:
        raise RuntimeError("set_backend: portanet.backend is not imported yet")
    return setter(backend)


def _register_backend_hooks(name, setter):
    _backend_hooks["name"], _backend_hooks["set"] = name, setter


# Interactive logging (progress bars vs. the "portanet" logger), as keras.config exports them.
from .progbar import (disable_interactive_logging, enable_interactive_logging,  # noqa: E402,F401
                      is_interactive_logging_enabled)


# The global dtype policy (keras.config.dtype_policy / set_dtype_policy). The policy classes
# live in portanet.dtype_policies, which imports this module (for floatx) and so cannot be
# imported from here; it registers its two functions below when it is imported (importing
# any part of portanet imports it).
_DTYPE_POLICY_FUNCTIONS = None


def _register_dtype_policy_functions(get_policy, set_policy):
    global _DTYPE_POLICY_FUNCTIONS
    _DTYPE_POLICY_FUNCTIONS = (get_policy, set_policy)


def _dtype_policy_functions():
    if _DTYPE_POLICY_FUNCTIONS is None:  # pragma: no cover - portanet/__init__ imports it
        raise RuntimeError("portanet.dtype_policies is not imported; `import portanet` first")
    return _DTYPE_POLICY_FUNCTIONS


def dtype_policy():
    """The global dtype policy (a ``DTypePolicy``): ``DTypePolicy(floatx())`` until
    ``set_dtype_policy`` is called. Layers created without ``dtype=`` take it."""
    return _dtype_policy_functions()[0]()


def set_dtype_policy(policy):
    """Set the global dtype policy: a name ("float32", "mixed_float16", "mixed_bfloat16")
    or a ``DTypePolicy``. Layers created afterwards without ``dtype=`` use it."""
    _dtype_policy_functions()[1](policy)
