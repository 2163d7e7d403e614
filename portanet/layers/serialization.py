"""The layer registry and ``serialize``/``deserialize``: class names in a config resolve
through this registry only (never by importing a module named in the config).

``portanet/layers/__init__.py`` registers every Layer subclass of the package here; models
and registered custom layers add theirs. Layers that nest other layers (RNN cells,
wrappers) deserialize them through this module, which imports nothing but the base."""

from ..naming import NameRegistry
from .base import Layer

_registry = NameRegistry("layer", Layer)


def register(cls):
    """Register a Layer class (the decorator for layers defined in this package)."""
    _registry.register(cls)
    return cls


def get(identifier):
    return _registry.get(identifier)


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"cannot deserialize a layer from {config!r}: expected a dict with "
                         "'class_name' and 'config'")
    cls = _registry.lookup(config["class_name"])
    return cls.from_config(dict(config.get("config") or {}))
