"""Optimizers by their Keras names: ``get("adam")``, ``serialize``, ``deserialize``."""

from ..utils.naming import NameRegistry
from .adagrad import Adagrad
from . import schedules
from .adam import Adam
from .base import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

_registry = NameRegistry("optimizer", Optimizer)


def register(cls, *names):
    """Register an Optimizer class under its class name and string aliases."""
    return _registry.register(cls, *names)


register(SGD, "sgd")
register(RMSprop, "rmsprop")
register(Adagrad, "adagrad")
register(Adam, "adam")


def get(identifier):
    """An Optimizer from a name ("adam"), a config dict or an instance."""
    if isinstance(identifier, str):
        cls = _registry.lookup(identifier.lower() if identifier.lower() in _registry.names() else identifier)
        return cls()
    obj = _registry.get(identifier)
    if not isinstance(obj, Optimizer):
        raise TypeError(f"optimizer={identifier!r} is not an Optimizer; expected a name (one of "
                        f"{', '.join(_registry.names())}), a config or an Optimizer")
    return obj


def serialize(optimizer):
    return _registry.serialize(optimizer)


def deserialize(config):
    return _registry.deserialize(config)


__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "get", "serialize", "deserialize"]
