"""Layers by their Keras names. Every Layer subclass defined in these modules is
registered, so ``serialize``/``deserialize`` resolve class names through this registry only."""

from ..naming import NameRegistry
from .base import Layer, Variable
from .core import Activation, Dense, Identity, Input, InputLayer
from .reshaping import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .merging import *  # noqa: F401,F403
from .preprocessing import *  # noqa: F401,F403
from .regularization import *  # noqa: F401,F403

_registry = NameRegistry("layer", Layer)


def register(cls):
    """Register a Layer class (the decorator for layers defined in this package)."""
    _registry.register(cls)
    return cls


def _register_module(namespace):
    for obj in list(namespace.values()):
        if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer:
            _registry.register(obj)


_register_module(dict(globals()))


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
