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
