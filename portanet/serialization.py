"""``serialize_keras_object`` / ``deserialize_keras_object`` (keras.saving), Keras 3's form.

An object serializes to ``{"module", "class_name", "config", "registered_name"}`` (layers
add ``"build_config"`` once built), as Keras 3's ``serialization_lib`` writes it; plain
values, lists and dicts pass through (their items serialized). A built-in function (an
activation, a loss function) serializes to ``{"module", "class_name": "function",
"config": name, "registered_name": "function"}``.

Deserializing never imports a module or evaluates anything named in the config: the
``module`` key only chooses which of portanet's registries (layers and models, losses,
metrics, optimizers, schedules, initializers, regularizers, constraints, activations)
resolves ``class_name``; classes the user registered (``register_serializable``) or passes as
``custom_objects`` resolve too. An unknown name raises that registry's ValueError (which
lists the known names).
"""

from . import activations as _activations
from . import constraints as _constraints
from . import initializers as _initializers
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from . import regularizers as _regularizers
from .layers.base import Layer
from .naming import CUSTOM_OBJECTS, custom_object_scope, keras_object_config, registered_name
from .optimizers import schedules as _schedules

# (Keras module, portanet module, base class): the order in which an object's kind is told.
_KINDS = (
    ("keras.layers", _layers, Layer),
    ("keras.losses", _losses, _losses.Loss),
    ("keras.metrics", _metrics, _metrics.Metric),
    ("keras.optimizers.schedules", _schedules, _schedules.LearningRateSchedule),
    ("keras.optimizers", _optimizers, _optimizers.Optimizer),
    ("keras.initializers", _initializers, _initializers.Initializer),
    ("keras.regularizers", _regularizers, _regularizers.Regularizer),
    ("keras.constraints", _constraints, _constraints.Constraint),
)
_JSON_SCALARS = (str, int, float, bool, type(None))


def _function_entry(fn):
    name = getattr(fn, "__name__", None)
    if not name or name == "<lambda>":
        raise TypeError(f"serialize_keras_object: cannot serialize the function {fn!r}: only named "
                        "built-in or registered functions can be written (not lambdas)")
    registered = getattr(fn, "_registered_name", None)
    if registered:
        return {"module": None, "class_name": "function", "config": registered,
                "registered_name": registered}
    for module, registry in (("keras.activations", _activations._registry), ("keras.losses", _losses._functions)):
        if registry._by_name.get(name) is fn:
            return {"module": module, "class_name": "function", "config": name,
                    "registered_name": "function"}
    raise TypeError(f"serialize_keras_object: function {name!r} is neither a portanet activation or "
                    "loss function nor registered with pn.saving.register_serializable")


def serialize_keras_object(obj):
    """Keras 3's serialized form of ``obj`` (a dict of plain JSON values).

    Args:
        obj: a layer or model, loss, metric, optimizer, learning-rate schedule, initializer,
            regularizer, constraint, a named built-in (or registered) function, or plain
            values / lists / dicts of those.

    Returns:
        ``{"module", "class_name", "config", "registered_name"}`` (layers also
        ``"build_config": {"input_shape": ...}`` when built), or the plain value.
    """
    if isinstance(obj, _JSON_SCALARS):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, Layer):
        return _layers.serialize(obj)      # adds build_config (and a model's compile_config)
    for module, pn_module, base in _KINDS[1:]:
        if isinstance(obj, base):
            return keras_object_config(obj, module)
    if callable(obj) and not isinstance(obj, type):
        return _function_entry(obj)
    if hasattr(obj, "get_config"):
        registered = registered_name(obj)
        if registered is None:
            raise TypeError(f"serialize_keras_object: {type(obj).__name__} is not a portanet object; "
                            "register it with pn.saving.register_serializable")
        return keras_object_config(obj, None)
    raise TypeError(f"serialize_keras_object: cannot serialize {obj!r} ({type(obj).__name__}); expected "
                    "a portanet object, a named function or plain values")


# The layers' serialize writes the objects a custom layer's get_config holds with this.
_layers.serialization._object_serializer[0] = serialize_keras_object


def _kind_for(module):
    """The (keras module, portanet module) a ``module`` key points to, or None if it names none."""
    if not isinstance(module, str):
        return None
    if module == "keras" or module.startswith("keras.src.models") or module.startswith("keras.models"):
        return _KINDS[0]
    for kind in _KINDS:
        if module == kind[0] or module.startswith(kind[0] + ".") or module.startswith(
                "keras.src." + kind[0].split(".", 1)[1]):
            return kind
    return None


def _deserialize_function(config, module):
    name = config.get("config")
    if not isinstance(name, str):
        raise ValueError(f"deserialize_keras_object: a function config needs its name as 'config'; got {name!r}")
    registered = config.get("registered_name")
    if isinstance(registered, str) and registered != "function":
        for scope_lookup in (_activations._registry, _losses._functions):
            try:
                return scope_lookup.lookup(registered)
            except ValueError:
                pass
    if isinstance(module, str) and "loss" in module:
        return _losses._functions.lookup(name)
    return _activations._registry.lookup(name)


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """Rebuild an object from ``serialize_keras_object``'s form (or Keras 3's).

    Args:
        config: a dict ``{"class_name", "config", ...}`` (``module`` and ``registered_name``
            optional), a list or plain value (returned with their items rebuilt).
        custom_objects: ``{name: class or function}`` for user classes named in the config.
        safe_mode: accepted for Keras compatibility; deserializing is always safe (nothing
            named in the config is imported or evaluated).

    Returns:
        The object; a layer with a ``build_config`` comes back built.

    Raises:
        ValueError: an unknown class name (the registry's message lists the known names),
            or a config that is not of this form.
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"deserialize_keras_object: custom_objects={custom_objects!r}; expected a dict")
    with custom_object_scope(custom_objects or {}):
        return _deserialize(config)


_DTYPE_POLICIES = ("DTypePolicy", "FloatDTypePolicy")


def _plain_dtypes(value):
    """Keras 3 writes a layer's dtype as a policy dict ({"class_name": "DTypePolicy",
    "config": {"name": "float32"}}); portanet's layers take the dtype name."""
    if isinstance(value, list):
        return [_plain_dtypes(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") in _DTYPE_POLICIES and isinstance(value.get("config"), dict):
        return value["config"].get("name")
    return {k: _plain_dtypes(v) for k, v in value.items()}


def _deserialize(config):
    if isinstance(config, _JSON_SCALARS):
        return config
    if isinstance(config, list):
        return [_deserialize(v) for v in config]
    if not isinstance(config, dict):
        raise TypeError(f"deserialize_keras_object: cannot read {config!r}; expected a dict with "
                        "'class_name' and 'config'")
    if "class_name" not in config:
        return {k: _deserialize(v) for k, v in config.items()}
    class_name = config["class_name"]
    module = config.get("module")
    if class_name == "function":
        return _deserialize_function(config, module)
    inner = {"class_name": class_name, "config": _plain_dtypes(config.get("config") or {})}
    registered = config.get("registered_name")
    if isinstance(registered, str) and registered in CUSTOM_OBJECTS and registered != class_name:
        inner["class_name"] = registered
    kind = _kind_for(module)
    kinds = [kind] if kind is not None else list(_KINDS)
    first_error = None
    for _, pn_module, _base in kinds:
        registry = pn_module._registry
        try:
            registry.lookup(inner["class_name"])
        except ValueError as exc:
            first_error = first_error or exc
            continue
        if pn_module is _layers:
            # build_config too; registered_name already resolved.
            obj = _layers.deserialize(dict(config, class_name=inner["class_name"], config=inner["config"],
                                           registered_name=None))
            compile_config = config.get("compile_config")
            if compile_config and callable(getattr(obj, "compile_from_config", None)):
                obj.compile_from_config(compile_config)     # as Keras's deserialize_keras_object
            return obj
        return pn_module.deserialize(inner)
    raise first_error


__all__ = ["serialize_keras_object", "deserialize_keras_object"]
