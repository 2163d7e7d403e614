"""``Lambda``: wraps a function written with ``pn.ops`` as a layer (Keras 3's signature).

The function runs as the layer's ``call()``, so it is differentiated by the tape like any
Keras-style layer (``layers.traced``). Serialization differs from Keras on purpose: Keras
stores a Python lambda's bytecode and runs it on load; portanet never does. ``get_config``
names the function (by the name it was registered under with
``pn.saving.register_serializable``, by its ``__name__``, or as a ``pn.ops`` function) and
refuses an anonymous lambda with a ValueError saying what to do; ``from_config`` looks the
name up in ``custom_objects`` scopes, the registered objects and ``pn.ops`` only.
"""

import inspect
import json

from .. import naming as _naming
from .. import ops as _ops
from .base import Layer

__all__ = ["Lambda"]

# How a function is named in a config (the shape of Keras's serialize_keras_object output).
_FUNCTION = "function"
_OPS_MODULE = "portanet.ops"


def _function_config(fn, what, owner):
    """``{"class_name": "function", "config": name, ...}`` for a named function; a
    ValueError for an anonymous lambda or a callable without a name."""
    name = getattr(fn, "__name__", None)
    if name is None or name == "<lambda>" or not inspect.isroutine(fn):
        kind = "an anonymous lambda" if name == "<lambda>" else f"{type(fn).__name__} {fn!r:.60}"
        raise ValueError(
            f"{owner}: cannot serialize {what}: it is {kind}. portanet never saves Python "
            "bytecode (Keras does, and loading it runs code). Define it with `def`, register it "
            "with @pn.saving.register_serializable() and pass that function; it is then saved by "
            "name and found again on load (or pass custom_objects={name: function}).")
    config = {"class_name": _FUNCTION, "config": name}
    registered = getattr(fn, "_registered_name", None)
    if registered is not None:
        config["registered_name"] = registered
    elif getattr(_ops, name, None) is fn:
        config["module"] = _OPS_MODULE
    return config


def _resolve_function(config, what, owner):
    """The function a config names, looked up (never imported or evaluated)."""
    if isinstance(config, str):
        config = {"class_name": _FUNCTION, "config": config}
    if not isinstance(config, dict):
        raise ValueError(f"{owner}: {what}={config!r}; expected a function name or "
                         "{'class_name': 'function', 'config': name}")
    if config.get("class_name") == "__lambda__":
        raise ValueError(
            f"{owner}: the config's {what} is a Python lambda saved as bytecode (a Keras file). "
            "portanet never runs saved bytecode: rebuild the layer with a registered function "
            "(@pn.saving.register_serializable()) or pass custom_objects={name: function} after "
            "replacing the config's function by its name.")
    if config.get("class_name") != _FUNCTION or not isinstance(config.get("config"), str):
        raise ValueError(f"{owner}: {what}={config!r}; expected {{'class_name': 'function', "
                         "'config': name}")
    name = config["config"]
    keys = [k for k in (config.get("registered_name"), name) if k]
    for scope in reversed(_naming._scoped_objects()):
        for key in keys:
            if key in scope:
                return scope[key]
    for key in keys:
        if key in _naming.CUSTOM_OBJECTS:
            return _naming.CUSTOM_OBJECTS[key]
    if config.get("module") == _OPS_MODULE and name in _ops.ALL:
        return getattr(_ops, name)
    raise ValueError(f"{owner}: unknown {what} {keys[0]!r}; register it with "
                     "@pn.saving.register_serializable() or pass custom_objects={"
                     f"{name!r}: function}}")


def _parameters(fn):
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # some builtins have no signature
        return set()


class Lambda(Layer):
    """Wraps a function of ``pn.ops`` as a layer, for Sequential and functional models.

    ``Lambda(fn)(x)`` is ``fn(x, **arguments)``; it is differentiated through the ops it
    calls (the tape of ``call()`` layers), so ``fn`` must use ``pn.ops`` (or the operators of
    tensors), not NumPy. For anything with weights or a config of its own, subclass
    ``Layer`` instead.

    Args:
        function: the function; takes the input (a tensor, or a list for several inputs)
            as its first argument, and ``mask`` / ``training`` if it names them.
        output_shape: the output shape, when it cannot be inferred by running the function
            on a probe input: a tuple without the batch axis (the input's batch size is
            prepended) or a function ``input_shape -> output_shape`` (batch included).
        mask: None (no mask passed on), a function ``(inputs, mask) -> mask``, or a fixed mask.
        arguments: dict of keyword arguments passed to ``function``.

    Saving: the function (and ``output_shape`` / ``mask`` functions) is stored by name, never
    as bytecode. Register it with ``@pn.saving.register_serializable()`` (or pass
    ``custom_objects`` when loading); ``pn.ops`` functions are found by name. ``get_config``
    on a layer holding an anonymous ``lambda`` raises a ValueError saying so.

    Input shape: whatever ``function`` takes. Output shape: what it returns.

    Example:
        >>> @pn.saving.register_serializable()
        ... def double(x):
        ...     return 2.0 * x
        >>> layer = pn.layers.Lambda(double)
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function={function!r}; expected a callable")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda: arguments={arguments!r}; expected a dict of keyword "
                            "arguments or None")
        if output_shape is not None and not callable(output_shape):
            try:
                output_shape = tuple(None if s is None else int(s) for s in output_shape)
            except (TypeError, ValueError):
                raise TypeError(f"Lambda: output_shape={output_shape!r}; expected a tuple of ints "
                                "(without the batch axis), a function or None") from None
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None
        self._output_shape = output_shape
        params = _parameters(function)
        self._fn_expects_training_arg = "training" in params
        self._fn_expects_mask_arg = "mask" in params

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._fn_expects_mask_arg:
            kwargs["mask"] = mask
        if self._fn_expects_training_arg:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        first = input_shape[0] if isinstance(input_shape, list) else input_shape
        return (first[0],) + tuple(self._output_shape)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self):
        owner = f"Lambda {self.name!r}"
        config = super().get_config()
        config["function"] = _function_config(self.function, "its function", owner)
        if self._output_shape is not None:
            config["output_shape"] = (_function_config(self._output_shape, "its output_shape", owner)
                                      if callable(self._output_shape) else list(self._output_shape))
        if self.mask is not None:
            if not callable(self.mask):
                raise ValueError(f"{owner}: cannot serialize a fixed mask array; pass mask as a "
                                 "registered function (inputs, mask) -> mask")
            config["mask"] = _function_config(self.mask, "its mask", owner)
        try:
            json.dumps(self.arguments)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: cannot serialize arguments={self.arguments!r}; expected "
                             "JSON values (numbers, strings, lists, dicts)") from None
        config["arguments"] = dict(self.arguments)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        owner = f"Lambda {config.get('name', '')!r}"
        with _naming.custom_object_scope(custom_objects or {}):
            config["function"] = _resolve_function(config.get("function"), "function", owner)
            shape = config.get("output_shape")
            if isinstance(shape, (dict, str)):
                config["output_shape"] = _resolve_function(shape, "output_shape", owner)
            elif isinstance(shape, list):
                config["output_shape"] = tuple(shape)
            if config.get("mask") is not None:
                config["mask"] = _resolve_function(config["mask"], "mask", owner)
        return cls(**config)
