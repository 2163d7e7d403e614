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
