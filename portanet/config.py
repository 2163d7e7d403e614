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
