"""The layer registry and ``serialize``/``deserialize``: class names in a config resolve
through this registry only (never by importing a module named in the config).

``portanet/layers/__init__.py`` registers every Layer subclass of the package here; models
and registered custom layers add theirs. Layers that nest other layers (RNN cells,
wrappers, models) serialize and deserialize them through this module, which imports
nothing but the base.

``serialize(layer)`` is Keras 3's ``serialize_keras_object(layer)``: ``{"module",
"class_name", "config", "registered_name"}`` plus ``"build_config"`` when the layer is
built (``layer.get_build_config()``) and, for models, ``"compile_config"``
(``model.get_compile_config()``). ``deserialize`` reads that form, Keras 2's
``{"class_name", "config"}`` and portanet's older configs alike.

How a layer class gives exactly Keras 3's config (tests/test_keras_config.py checks each
class against Keras's own output, tests/keras_reference/configs.json):

- ``get_config``: start from ``super().get_config()`` (name, trainable, ``dtype`` as
  Keras's DTypePolicy dict), add the constructor arguments under Keras's keys; weight
  options through ``self._weight_options_config("kernel_initializer", ...)`` (Keras's
  ``{"module", "class_name", "config", "registered_name"}``), activations through
  ``activations.serialize`` (a name), nested layers through ``serialize`` below. Keys Keras
  writes even at None: ``self._keras_config_always(config, "activity_regularizer",
  "quantization_config")``. Keras's LoRA/quantization arguments: accept them and call
  ``base.check_no_quantization``.
- ``from_config``: the default ``cls(**config)`` works: ``Layer.__init__`` takes a
  DTypePolicy dict or a dtype name, and the catalogues' ``get`` take either form.
- build_config: written by ``Layer.get_build_config`` once built, except for the classes
  Keras builds at construction (``base.KERAS_LAYERS_WITHOUT_BUILD_CONFIG``, or a class
  attribute ``_keras_build_config = False``). A layer whose Keras ``build`` takes named
  shapes overrides ``get_build_config`` (MultiHeadAttention's ``shapes_dict``).
- In a functional config, the kwargs Keras records in a node come from
  ``base.KERAS_NODE_KWARGS`` (or ``_keras_node_kwargs`` on the class); a class Keras
  exports under another name sets ``_keras_class_name``.
"""

from ..naming import NameRegistry, _class_key, keras_object_config
from .base import Layer

_registry = NameRegistry("layer", Layer, "keras.layers")

# Where Keras 3 puts the model classes (``keras.Sequential``, the functional model), and the
# registered name Keras writes for them.
MODEL_MODULES = {"Sequential": ("keras", None),
                 "Functional": ("keras.src.models.functional", "Functional")}


def register(cls):
    """Register a Layer class (the decorator for layers defined in this package)."""
    _registry.register(cls)
    return cls


def get(identifier):
    return _registry.get(identifier)


# ``serialize_keras_object`` (portanet/serialization.py, a level to the right) sets itself
# here when portanet is imported: it serializes the non-layer objects a custom layer's
# get_config may hold (an initializer, a regularizer, a function).
_object_serializer = [None]

_PLAIN = (str, int, float, bool, type(None))


def _serialize_value(value):
    """A config value as Keras's ``serialize_dict`` writes it: layers and other Keras
    objects (``get_config``, named functions) as their serialized dicts, inside lists and
    dicts too; plain values (and anything else) unchanged."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {k: _serialize_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_serialize_value(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    if isinstance(value, Layer):
        return serialize(value)
    hook = _object_serializer[0]
    if hook is not None and not isinstance(value, type) and (
            hasattr(value, "get_config") or callable(value)):
        try:
            return hook(value)
        except TypeError:
            # Not serializable by name (an unregistered function or class): left as it
            # is, for in-memory use (from_config, clone_model); saving it to a file fails
            # with its own message.
            return value
    return value


def serialize(layer):
    """Keras 3's serialized form of a layer or model (see the module docstring). Objects in
    a custom layer's ``get_config`` (sub-layers, regularizers...) are serialized too, as
    Keras's ``serialize_dict``."""
    if layer is None:
        return None
    name = type(layer).__name__
    entry = keras_object_config(layer, "keras.layers")
    if isinstance(entry["config"], dict):
        entry["config"] = _serialize_value(entry["config"])
    if entry["registered_name"] is None and name in MODEL_MODULES and \
            _registry._by_name.get(name) is type(layer):
        entry["module"], entry["registered_name"] = MODEL_MODULES[name]
    get_build = getattr(layer, "get_build_config", None)
    build = get_build() if callable(get_build) else None
    if build is not None:
        entry["build_config"] = _serialize_value(build)
    get_compile = getattr(layer, "get_compile_config", None)
    if callable(get_compile):
        compile_config = get_compile()
        if compile_config is not None:
            # A model overriding get_compile_config may return the objects themselves
            # (the optimizer, a loss function): Keras serializes them (serialize_dict).
            entry["compile_config"] = _serialize_value(compile_config)
    return entry


def deserialize(config):
    """A layer (or model) from ``serialize``'s form, Keras 3's or Keras 2's; a
    ``build_config`` builds it. A ``compile_config`` is not applied here (nested models
    and load_model(compile=False) stay uncompiled): ``deserialize_keras_object`` applies it."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"cannot deserialize a layer from {config!r}: expected a dict with "
                         "'class_name' and 'config'")
    cls = _registry.lookup(_class_key(config))
    inner = config.get("config")
    if inner is None:
        inner = {}
    if not isinstance(inner, dict):
        raise ValueError(f"cannot deserialize layer {config['class_name']!r}: its 'config' must be a "
                         f"dict; got {type(inner).__name__}")
    layer = cls.from_config(dict(inner))
    build = config.get("build_config")
    if isinstance(build, dict) and not layer.built:
        layer.build_from_config(build)
    return layer
